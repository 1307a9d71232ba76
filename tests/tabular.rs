//! Tables and time series end to end, as a newcomer runs them: `nas search
//! --data FILE.csv --target COL` and `nas search --data FILE.ts` search,
//! retrain the winner, score the test split and export it; the exported
//! `model.py` predicts new rows in plain PyTorch, its preprocessing and
//! network agreeing with nas's own to float precision, and reproduces the
//! recorded test accuracy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tch::{nn, Device, Kind, Tensor};

#[path = "common/venv.rs"]
mod venv;

fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nas")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn python() -> PathBuf {
    venv::venv_bin("python")
}

fn run_python(args: &[&str], dir: &Path) -> Output {
    Command::new(python())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run python")
}

/// Run `nas search` on `data` with extra flags; the search's export folder.
fn search(data: &Path, results: &Path, extra: &[&str]) -> (PathBuf, String) {
    let mut args = vec![
        "search",
        "--data",
        data.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--budget",
        "3",
    ];
    args.extend(extra);
    let o = nas(&args);
    let stdout = text(&o.stdout);
    assert!(
        o.status.success(),
        "nas search: {}\n{stdout}",
        text(&o.stderr)
    );
    let dir = std::fs::read_dir(results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("export/model.py").is_file())
        .expect("an export");
    (dir.join("export"), stdout)
}

/// A table a small network can learn: `x` and `z` numeric (some missing),
/// `color` categorical, `flag` boolean; the class follows x + color.
fn write_table(path: &Path, rows: usize, seed: u64) {
    let mut s = seed;
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 10_000) as f64 / 10_000.0
    };
    let mut csv = String::from("x,z,color,flag,label\n");
    for i in 0..rows {
        let x = rand() * 4.0 - 2.0;
        let color = ["red", "green", "blue"][i % 3];
        let bump = match color {
            "red" => 1.0,
            "green" => -1.0,
            _ => 0.0,
        };
        let label = if x + bump > 0.0 { "up" } else { "down" };
        let z = if i % 11 == 0 {
            String::new()
        } else {
            format!("{:.4}", rand())
        };
        let flag = if i % 2 == 0 { "yes" } else { "no" };
        csv.push_str(&format!("{x:.4},{z},{color},{flag},{label}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn a_table_search_exports_a_model_that_predicts_new_rows_in_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes.csv");
    write_table(&data, 400, 9);
    let (export, stdout) = search(&data, &dir.path().join("results"), &["--target", "label"]);
    assert!(stdout.contains("test accuracy:"), "{stdout}");
    assert!(stdout.contains("best architecture (mlp"), "{stdout}");
    for f in [
        "weights.safetensors",
        "preprocess.json",
        "model.py",
        "cell.svg",
    ] {
        assert!(export.join(f).is_file(), "{f} is missing");
    }
    let pre: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("preprocess.json")).unwrap()).unwrap();
    assert_eq!(pre["input"], "table");
    assert_eq!(pre["target"]["column"], "label");

    // New rows: a missing number, an unseen and a missing category, the
    // other spellings of a boolean.
    let new = dir.path().join("new.csv");
    std::fs::write(
        &new,
        "x,z,color,flag\n1.5,0.2,red,y\n-1.2,,green,n\n0.1,0.9,purple,TRUE\n-0.3,NA,,false\n",
    )
    .unwrap();
    let o = run_python(&["model.py", "predict", new.to_str().unwrap()], &export);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let predictions: Vec<String> = text(&o.stdout).lines().map(String::from).collect();
    assert_eq!(predictions.len(), 4, "{predictions:?}");
    assert!(
        predictions.iter().all(|p| p == "up" || p == "down"),
        "{predictions:?}"
    );

    // The same rows through nas's own preprocessing and tch network give
    // the same logits as model.py's prepare() and PyTorch network.
    let script = r#"
import sys, json, torch
sys.path.insert(0, ".")
from model import load, prepare, read_csv_rows
with torch.no_grad():
    logits, _ = load()(prepare(read_csv_rows(sys.argv[1])))
print(json.dumps(logits.double().tolist()))
"#;
    let o = run_python(&["-c", script, new.to_str().unwrap()], &export);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pytorch: Vec<Vec<f64>> = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    let rust = tch_logits(&export, &data, &new);
    for (p, r) in pytorch.iter().zip(&rust) {
        for (a, b) in p.iter().zip(r) {
            assert!((a - b).abs() < 1e-4, "PyTorch {p:?} vs nas {r:?}");
        }
    }
}

/// The logits nas computes for the rows of `new` (a CSV with the training
/// file's columns but the target), with the exported preprocessing and
/// weights, in tch.
fn tch_logits(export: &Path, train_file: &Path, new: &Path) -> Vec<Vec<f64>> {
    let pre: trainer::preprocess::Preprocess =
        serde_json::from_slice(&std::fs::read(export.join("preprocess.json")).unwrap()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("genotype.json")).unwrap()).unwrap();
    let genotype =
        space::Genotype::parse(space::SpaceKind::Mlp, json["text"].as_str().unwrap()).unwrap();
    // The training file's metadata: its category lists give the file codes.
    let meta = data::Dataset::load_with(
        train_file,
        &data::LoadOptions {
            target: Some("label".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .meta;
    let text = std::fs::read_to_string(new).unwrap();
    let mut raw = Vec::new();
    let mut n = 0i64;
    for line in text.lines().skip(1) {
        n += 1;
        for (j, cell) in line.split(',').enumerate() {
            let col = &meta.columns[j];
            let missing = cell.is_empty() || cell == "NA";
            let v = match col.kind {
                _ if missing => f32::NAN,
                data::ColumnKind::Numeric => cell.parse().unwrap(),
                data::ColumnKind::Boolean => {
                    f32::from(["y", "yes", "true", "t"].contains(&cell.to_lowercase().as_str()))
                }
                data::ColumnKind::Categorical => col
                    .categories
                    .iter()
                    .position(|c| c == cell)
                    .map_or(f32::NAN, |p| p as f32),
            };
            raw.push(v);
        }
    }
    let inputs = Tensor::from_slice(&raw).reshape([n, meta.columns.len() as i64]);
    let split = data::Split::new(inputs, Tensor::zeros([n], (Kind::Int64, Device::Cpu))).unwrap();
    let x = pre.apply(&meta, &split).inputs;
    let cfg = trainer::model::NetConfig {
        classes: pre.target(&meta).outputs(),
        table: pre.table_shape(),
        ..trainer::model::NetConfig::for_space(space::SpaceKind::Mlp)
    };
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = trainer::model::build(&vs.root(), &genotype, &cfg).unwrap();
    vs.load(export.join("weights.safetensors")).unwrap();
    let logits = tch::no_grad(|| net.forward_t(&x, false).logits).to_kind(Kind::Double);
    (0..n)
        .map(|i| Vec::<f64>::try_from(logits.get(i)).unwrap())
        .collect()
}

/// A univariate UCR/UEA .ts pair whose two classes differ in shape.
fn write_series(dir: &Path) -> PathBuf {
    let mut s = 77u64;
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 10_000) as f64 / 10_000.0 - 0.5
    };
    let mut write = |name: &str, n: usize| {
        let mut ts = String::from(
            "@problemName Bumps\n@timeStamps false\n@univariate true\n@equalLength true\n@seriesLength 32\n@classLabel true bump dip\n@data\n",
        );
        for i in 0..n {
            let class = if i % 2 == 0 { "bump" } else { "dip" };
            let sign = if class == "bump" { 1.0 } else { -1.0 };
            let values: Vec<String> = (0..32)
                .map(|t| {
                    let d = (t as f64 - 16.0) / 4.0;
                    format!("{:.4}", sign * (-d * d).exp() + 0.2 * rand())
                })
                .collect();
            ts.push_str(&format!("{}:{class}\n", values.join(",")));
        }
        let path = dir.join(format!("Bumps_{name}.ts"));
        std::fs::write(&path, ts).unwrap();
        path
    };
    let train = write("TRAIN", 60);
    write("TEST", 40);
    train
}

#[test]
fn a_series_search_exports_a_model_that_reproduces_its_test_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let train = write_series(dir.path());
    let (export, stdout) = search(&train, &dir.path().join("results"), &[]);
    assert!(stdout.contains("best architecture (seq)"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("genotype.json")).unwrap()).unwrap();
    let recorded = json["metrics"]["test_acc"].as_f64().unwrap();
    let test = dir.path().join("Bumps_TEST.ts");
    let o = run_python(&["model.py", "predict", test.to_str().unwrap()], &export);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let predictions: Vec<String> = text(&o.stdout).lines().map(String::from).collect();
    let labels: Vec<String> = std::fs::read_to_string(&test)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('@') && !l.is_empty())
        .map(|l| l.rsplit(':').next().unwrap().to_string())
        .collect();
    assert_eq!(predictions.len(), labels.len());
    let right = predictions
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    let pytorch = 100.0 * right as f64 / labels.len() as f64;
    assert!(
        (pytorch - recorded).abs() < 1e-9,
        "plain PyTorch scores {pytorch}% on the test file, the search recorded {recorded}%"
    );
}

#[test]
fn strategies_that_do_not_fit_the_data_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("t.csv");
    write_table(&data, 50, 3);
    for strategy in ["pnas", "darts"] {
        let o = nas(&[
            "search",
            "--data",
            data.to_str().unwrap(),
            "--strategy",
            strategy,
            "--results",
            dir.path().join("r").to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains(&format!("strategy {strategy}:")),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A bad table names the file, the line and the column.
    std::fs::write(&data, "a,b,label\n1,2,x\n3,oops,y\n4,5\n").unwrap();
    let o = nas(&["data", "inspect", data.to_str().unwrap()]);
    assert!(!o.status.success());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("t.csv") && stderr.contains("line 4"),
        "{stderr}"
    );
}
