//! `describe`: the text and JSON `nas data inspect` prints, for images (as
//! before), tables and series.

mod common;

use common::*;
use data::{describe, Dataset, LoadOptions, Task};

#[test]
fn images_print_what_they_always_did() {
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), false);
    let ds = Dataset::load(dir.path(), None).unwrap();
    let d = describe(&ds);
    let text = d.to_string();
    for line in [
        "format       idx\n",
        "input        images\n",
        "task         classification\n",
        "shape        1x28x28 (channels x height x width)\n",
        "train        30\n",
        "test         12\n",
        &format!("fingerprint  {}\n", ds.meta.fingerprint),
        "classes      10\n",
        "    #  class     train      test\n",
        "    0  0             3         2\n",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    assert!(!text.contains("missing"), "{text}");
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["format"], "idx");
    assert_eq!(json["train_counts"], serde_json::json!(vec![3; 10]));
    assert_eq!(json["sample_shape"], serde_json::json!([1, 28, 28]));
    assert_eq!(json["fingerprint"], ds.meta.fingerprint);
}

#[test]
fn tables_list_columns_and_regression_prints_target_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("size,color,price\n");
    for i in 0..10 {
        let color = if i % 3 == 0 {
            "NA"
        } else {
            ["red", "blue"][i % 2]
        };
        text.push_str(&format!("{i},{color},{}.5\n", i * 2));
    }
    let path = write_text(dir.path(), "prices.csv", &text);
    let ds = Dataset::load(&path, None).unwrap();
    assert_eq!(ds.meta.task, Task::Regression);
    let d = describe(&ds);
    let out = d.to_string();
    for line in [
        "input        tables\n",
        "task         regression\n",
        "shape        2 features\n",
        "target       price\n",
        "missing      4 input values\n",
        "columns      2\n",
        "    0  size    numeric               0         0\n",
        "    1  color   categorical           2         4\n",
        "  split           min           max          mean           std\n",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    let train = d.train_target.unwrap();
    let all: Vec<f32> = ds.train.targets_vec();
    assert_eq!(
        train.min,
        f64::from(all.iter().copied().fold(f32::INFINITY, f32::min))
    );
    let mean = all.iter().map(|&v| f64::from(v)).sum::<f64>() / all.len() as f64;
    assert!((train.mean - mean).abs() < 1e-9);
    assert!(d.train_counts.is_empty());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["columns"][1]["kind"], "categorical");
    assert_eq!(json["task"], "regression");
    assert_eq!(json["input"], "table");
}

#[test]
fn series_print_channels_and_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(dir.path(), "s.csv", "a,b,c,y\n1,2,3,u\n4,,6,v\n");
    let options = LoadOptions::format(Some(data::Format::SeriesCsv));
    let ds = Dataset::load_with(&path, &options).unwrap();
    let out = describe(&ds).to_string();
    assert!(
        out.contains("shape        1x3 (channels x length)\n"),
        "{out}"
    );
    assert!(out.contains("missing      1 input values\n"), "{out}");
    assert!(out.contains("input        time series\n"), "{out}");
}
