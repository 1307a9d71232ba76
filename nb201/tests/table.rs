//! Tables generated in the real format, written to a temporary folder: the
//! happy path, and each way a file can be wrong, refused with a message that
//! names the file and the problem.

use nb201::{Dataset, Table, TableError};
use serde_json::{json, Value};
use space::Nb201Cell;
use std::path::PathBuf;
use tempfile::TempDir;

/// The key of the planted optimum (the real CIFAR-10 table's best cell).
const BEST: &str = "333132";

/// A complete table: every cell's accuracy is a function of its index,
/// every seventh cell has 2 seeds instead of 3, and [`BEST`] is best.
fn table(dataset: &str) -> Value {
    let mut cells = serde_json::Map::new();
    for cell in Nb201Cell::enumerate() {
        let i = cell.index();
        let base = 10.0 + (i % 1000) as f64 * 0.08;
        let seeds = if i % 7 == 0 { 2 } else { 3 };
        let mut acc = vec![base, base + 0.5, base - 0.5];
        if cell.table_key() == BEST {
            acc = vec![95.0, 94.0, 96.0];
        }
        let size = vec![0.1 + i as f64 * 1e-5; 3];
        let take = |v: Vec<f64>| Value::from(v[..seeds].to_vec());
        cells.insert(
            cell.table_key(),
            json!({
                "val_acc": take(acc),
                "train_time": take(vec![600.0 + i as f64; 3]),
                "latency": take(vec![0.01; 3]),
                "model_size": take(size),
            }),
        );
    }
    json!({
        "dataset": dataset,
        "source": "generated for tests",
        "ops": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"],
        "cells": cells,
    })
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Load `doc` after `edit`, expecting an error; returns it and its message.
fn refuse(edit: impl FnOnce(&mut Value)) -> (TableError, String, PathBuf) {
    let dir = TempDir::new().unwrap();
    let mut doc = table("cifar10");
    edit(&mut doc);
    let path = write(&dir, "cifar10.json", &doc.to_string());
    let err = Table::load(&path).expect_err("the table should be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "{msg:?} should name the file"
    );
    (err, msg, path)
}

fn cell<'a>(doc: &'a mut Value, key: &str) -> &'a mut Value {
    &mut doc["cells"][key]
}

fn key_cell(key: &str) -> Nb201Cell {
    Nb201Cell::from_table_key(key).unwrap()
}

#[test]
fn a_complete_table_loads_and_answers_lookups() {
    let dir = TempDir::new().unwrap();
    write(&dir, "cifar100.json", &table("cifar100").to_string());
    let t = Table::load_dataset(dir.path(), Dataset::Cifar100).unwrap();
    assert_eq!(t.dataset(), Dataset::Cifar100);
    assert_eq!(t.source(), "generated for tests");
    assert_eq!(t.iter().count(), 15_625);

    let (best, acc) = t.optimum();
    assert_eq!(best.table_key(), BEST);
    assert_eq!(acc, 95.0);
    assert_eq!(t.regret(&best), 0.0);

    // Cell index 8 has 3 seeds: 10.64, 11.14, 10.14.
    let c = Nb201Cell::from_index(8).unwrap();
    let e = t.get(&c);
    assert_eq!(e.val_acc.len(), 3);
    assert!((e.mean_val_acc() - 10.64).abs() < 1e-9);
    assert!((t.mean_val_acc(&c) - 10.64).abs() < 1e-9);
    assert!((t.regret(&c) - (95.0 - 10.64)).abs() < 1e-9);
    assert_eq!(t.val_acc(&c, 0), e.val_acc[0]);
    assert_eq!(t.val_acc(&c, 4), e.val_acc[1]);
    assert_eq!(t.val_acc(&c, u64::MAX), e.val_acc[(u64::MAX % 3) as usize]);
    assert_eq!(e.train_time, vec![608.0; 3]);
    assert!((e.model_size_m - (0.1 + 8e-5)).abs() < 1e-12);

    // Cell index 7 has 2 seeds, so seed 2 wraps to the first.
    let c = Nb201Cell::from_index(7).unwrap();
    assert_eq!(t.get(&c).val_acc.len(), 2);
    assert_eq!(t.val_acc(&c, 2), t.val_acc(&c, 0));

    // Lookups go by cell, and the cell's key is the file's key.
    for (cell, entry) in t.iter().step_by(997) {
        assert_eq!(t.get(&cell), entry);
        assert_eq!(entry.train_time[0], 600.0 + cell.index() as f64);
    }
}

#[test]
fn model_size_is_the_mean_over_seeds() {
    let dir = TempDir::new().unwrap();
    let mut doc = table("cifar10");
    cell(&mut doc, "021210")["model_size"] = json!([0.1, 0.13, 0.1]);
    let path = write(&dir, "cifar10.json", &doc.to_string());
    let t = Table::load(&path).unwrap();
    assert!((t.get(&key_cell("021210")).model_size_m - 0.11).abs() < 1e-12);
}

#[test]
fn a_missing_file_says_how_to_make_it() {
    let dir = TempDir::new().unwrap();
    let err = Table::load_dataset(dir.path(), Dataset::Imagenet).unwrap_err();
    assert!(matches!(err, TableError::Missing { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("imagenet.json") && msg.contains("does not exist"));
    assert!(msg.contains("scripts/setup.sh"), "{msg}");
}

#[test]
fn a_file_for_another_dataset_is_refused() {
    let dir = TempDir::new().unwrap();
    write(&dir, "imagenet.json", &table("cifar10").to_string());
    let err = Table::load_dataset(dir.path(), Dataset::Imagenet).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("imagenet.json: holds cifar10, expected imagenet"),
        "{err}"
    );
}

#[test]
fn an_unknown_dataset_is_refused() {
    let (err, msg, _) = refuse(|d| d["dataset"] = json!("mnist"));
    assert!(matches!(err, TableError::UnknownDataset { .. }));
    assert!(msg.contains("unknown dataset \"mnist\""), "{msg}");
}

#[test]
fn bad_json_gives_line_and_column() {
    let dir = TempDir::new().unwrap();
    let text = table("cifar10").to_string();
    let path = write(&dir, "cifar10.json", &text[..text.len() / 2]);
    let err = Table::load(&path).unwrap_err();
    assert!(matches!(err, TableError::Json { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("bad json") && msg.contains("line 1 column"),
        "{msg}"
    );

    let path = write(
        &dir,
        "pretty.json",
        "{\n  \"dataset\": \"cifar10\",\n  oops\n}",
    );
    let msg = Table::load(&path).unwrap_err().to_string();
    assert!(msg.contains("line 3 column 3"), "{msg}");
}

#[test]
fn a_missing_field_is_named() {
    let (err, msg, _) = refuse(|d| {
        cell(d, "012340").as_object_mut().unwrap().remove("latency");
    });
    assert!(matches!(err, TableError::Json { .. }));
    assert!(msg.contains("missing field `latency`"), "{msg}");
}

#[test]
fn python_nan_and_infinity_are_named() {
    for (token, expect) in [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ] {
        let dir = TempDir::new().unwrap();
        let text = table("cifar10").to_string().replacen(
            "\"latency\":[0.01,",
            &format!("\"latency\":[{token},"),
            1,
        );
        let path = write(&dir, "cifar10.json", &text);
        let err = Table::load(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TableError::NonFiniteJson { .. }), "{msg}");
        assert!(
            msg.contains(&format!("{expect} at line 1 column ")),
            "{msg}"
        );
        assert!(msg.ends_with("is not a finite number"), "{msg}");
    }
}

#[test]
fn another_ops_list_is_refused() {
    let (err, msg, _) = refuse(|d| {
        d["ops"] = json!([
            "none",
            "skip_connect",
            "nor_conv_3x3",
            "nor_conv_1x1",
            "avg_pool_3x3"
        ])
    });
    assert!(matches!(err, TableError::Ops { .. }));
    assert!(
        msg.contains("ops are [\"none\", \"skip_connect\", \"nor_conv_3x3\""),
        "{msg}"
    );
    let (_, msg, _) = refuse(|d| d["ops"] = json!(["none"]));
    assert!(msg.contains("expected [\"none\", \"skip_connect\", \"nor_conv_1x1\", \"nor_conv_3x3\", \"avg_pool_3x3\"]"), "{msg}");
}

#[test]
fn keys_that_are_not_six_digits_0_to_4_are_refused() {
    for (key, why) in [
        ("12345", "is not 6 digits"),
        ("1234567", "is not 6 digits"),
        ("000050", "table key digit 5: '5' is not an op index 0..=4"),
        ("00x000", "table key digit 3: 'x' is not an op index 0..=4"),
    ] {
        let (err, msg, _) = refuse(|d| {
            d["cells"][key] = d["cells"]["000000"].clone();
        });
        assert!(matches!(err, TableError::Key { .. }), "{msg}");
        assert!(msg.contains(&format!("bad cell key {key:?}")), "{msg}");
        assert!(msg.contains(why), "{msg}");
    }
}

#[test]
fn a_missing_cell_is_named() {
    let (err, msg, _) = refuse(|d| {
        d["cells"].as_object_mut().unwrap().remove("204013");
    });
    assert!(matches!(
        err,
        TableError::MissingCells { found: 15_624, .. }
    ));
    assert!(
        msg.ends_with("holds 15624 of the 15625 cells; cell 204013 is missing"),
        "{msg}"
    );
    let (_, msg, _) = refuse(|d| d["cells"] = json!({}));
    assert!(
        msg.ends_with("holds 0 of the 15625 cells; cell 000000 is missing"),
        "{msg}"
    );
}

#[test]
fn empty_and_ragged_seed_lists_are_refused() {
    let (err, msg, _) = refuse(|d| cell(d, "000001")["val_acc"] = json!([]));
    assert!(matches!(err, TableError::EmptySeeds { .. }));
    assert!(msg.contains("cell 000001: val_acc is empty"), "{msg}");
    let (_, msg, _) = refuse(|d| cell(d, "000001")["model_size"] = json!([]));
    assert!(msg.contains("cell 000001: model_size is empty"), "{msg}");
    let (err, msg, _) = refuse(|d| cell(d, "000001")["train_time"] = json!([1.0, 2.0]));
    assert!(matches!(err, TableError::SeedCount { .. }));
    assert!(
        msg.contains("cell 000001: train_time has 2 values but val_acc has 3"),
        "{msg}"
    );
}

#[test]
fn numbers_out_of_range_are_refused() {
    let (err, msg, _) = refuse(|d| cell(d, "000002")["val_acc"] = json!([50.0, 100.5, 50.0]));
    assert!(matches!(err, TableError::BadValue { seed: 1, .. }));
    assert!(
        msg.ends_with("cell 000002: val_acc[1] = 100.5 is not a percentage"),
        "{msg}"
    );
    let (_, msg, _) = refuse(|d| cell(d, "000002")["latency"] = json!([0.01, 0.01, -1.0]));
    assert!(
        msg.ends_with("cell 000002: latency[2] = -1 is negative"),
        "{msg}"
    );
    let (err, msg, _) = refuse(|d| cell(d, "000002")["train_time"] = json!(["x"]));
    assert!(matches!(err, TableError::Json { .. }), "{msg}");
    assert!(
        msg.contains("invalid type: string \"x\", expected f64"),
        "{msg}"
    );
    // 1e400 does not fit an f64; serde refuses it as out of range.
    let dir = TempDir::new().unwrap();
    let text =
        table("cifar10")
            .to_string()
            .replacen("\"latency\":[0.01,", "\"latency\":[1e400,", 1);
    let err = Table::load(&write(&dir, "big.json", &text)).unwrap_err();
    assert!(
        err.to_string().contains("number out of range at line 1"),
        "{err}"
    );
}

#[test]
fn a_folder_in_place_of_the_file_is_a_read_error() {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir(dir.path().join("cifar10.json")).unwrap();
    let err = Table::load_dataset(dir.path(), Dataset::Cifar10).unwrap_err();
    assert!(matches!(err, TableError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot read it"), "{err}");
}
