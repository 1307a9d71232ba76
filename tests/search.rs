//! `nas search`, the embedded mode, end to end on a small IDX dataset: a
//! whole search in one process without Redis, its results folder and
//! export.

mod common;

use common::write_dataset;
use std::process::{Command, Stdio};

fn nas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
    c.env("RUST_LOG", "warn")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null());
    c
}

fn search_id(results: &std::path::Path) -> String {
    let mut ids: Vec<String> = std::fs::read_dir(results)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").exists())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids.remove(0)
}

#[test]
fn a_whole_search_runs_in_one_process_and_exports_its_winner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let results = dir.path().join("results");
    let out = nas()
        .args([
            "search",
            "--data",
            data.to_str().unwrap(),
            "--strategy",
            "random",
            "--budget",
            "3",
        ])
        .args(["--results", results.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("best architecture (nb201): |"), "{stdout}");
    assert!(stdout.contains("test accuracy:"), "{stdout}");
    let id = search_id(&results);
    let folder = results.join(&id);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["status"], "done");
    assert_eq!(state["evaluated"], 3);
    assert_eq!(state["finals"].as_array().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_to_string(folder.join("evaluations.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    for f in [
        "genotype.txt",
        "genotype.json",
        "weights.safetensors",
        "model.py",
        "results.csv",
        "cell.svg",
    ] {
        assert!(folder.join("export").join(f).exists(), "export/{f} missing");
    }
}
