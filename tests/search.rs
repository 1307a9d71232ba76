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

/// `nas search ARGS --results RESULTS --device cpu`, which must succeed;
/// returns its stdout.
fn search_ok(args: &[&str], results: &std::path::Path) -> String {
    let out = nas()
        .arg("search")
        .args(args)
        .args(["--results", results.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of a search folder's `evaluations.jsonl` (those complete).
fn evaluations(folder: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(folder.join("evaluations.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
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
    let stdout = search_ok(
        &[
            "--data",
            data.to_str().unwrap(),
            "--strategy",
            "random",
            "--budget",
            "3",
        ],
        &results,
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
    assert_eq!(evaluations(&folder).len(), 4);
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

/// The predictor-guided search embedded: real training of every candidate,
/// the in-process surrogate fitting its default predictor for the space.
#[test]
fn an_embedded_bananas_search_fits_the_path_predictor_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let results = dir.path().join("results");
    let out = nas()
        .env("RUST_LOG", "warn,surrogate=info,scheduler=info")
        .args(["search", "--data", data.to_str().unwrap()])
        .args(["--strategy", "bananas", "--budget", "12", "--slots", "2"])
        .args(["--results", results.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("best architecture (nb201): |"), "{stdout}");
    let folder = results.join(search_id(&results));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["status"], "done");
    assert_eq!(state["evaluated"], 12);
    assert!(stderr.contains("surrogate ranked candidates"), "{stderr}");
    assert!(stderr.contains("predictor=path"), "{stderr}");
}

/// Ctrl-C (SIGINT) stops `nas search` with its state saved and exit status
/// 130; `--resume` finishes the same search: no evaluation lost or done
/// twice, the evaluations before the stop kept as they were.
#[test]
fn ctrl_c_saves_the_search_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let results = dir.path().join("results");
    let budget = 12;
    let spec = format!(
        "name = \"stop and go\"\nbudget = {budget}\nseed = 2\nparallel = 1\n[space]\nkind = \"nb201\"\n\
         [strategy]\nstrategy = \"random\"\n[evaluator.torch]\ndata = \"{}\"\n\
         [evaluator.torch.settings]\nepochs = 10\nbatch_size = 16\nchannels = 4\nlayers = 1\ntrain_subset = 64\n\
         [final]\ntop_k = 1\n[final.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 4\nlayers = 1\n",
        data.display()
    );
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let mut child = nas()
        .args(["search", "--config", spec_path.to_str().unwrap()])
        .args(["--results", results.to_str().unwrap(), "--device", "cpu"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it once two candidates are in.
    let lines = |id: &str| evaluations(&results.join(id));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let id = loop {
        let ids: Vec<String> = std::fs::read_dir(&results)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("state.json").exists())
                    .map(|e| e.file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(id) = ids.first() {
            if lines(id).len() >= 2 {
                break id.clone();
            }
        }
        assert!(std::time::Instant::now() < end, "no progress");
        assert!(child.try_wait().unwrap().is_none(), "ended before the stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!("--resume {id}")),
        "names how to resume: {stderr}"
    );
    let before = lines(&id);
    assert!(before.len() < budget, "stopped early: {}", before.len());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join(&id).join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["status"], "running");

    let mut child = nas()
        .args(["search", "--resume", &id])
        .args(["--results", results.to_str().unwrap(), "--device", "cpu"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > end {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the resumed search did not finish: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = lines(&id);
    assert_eq!(&after[..before.len()], &before[..], "kept as they were");
    let search: Vec<&serde_json::Value> = after.iter().filter(|e| e["stage"] == "search").collect();
    assert_eq!(search.len(), budget, "every candidate once");
    let hashes: std::collections::HashSet<&str> =
        search.iter().map(|e| e["hash"].as_str().unwrap()).collect();
    assert_eq!(hashes.len(), budget, "none twice");
    let finals: Vec<&serde_json::Value> = after.iter().filter(|e| e["stage"] == "final").collect();
    assert_eq!(finals.len(), 1);
    assert!(finals[0]["outcome"]["ok"]["test_acc"].as_f64().is_some());
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join(&id).join("state.json")).unwrap())
            .unwrap();
    assert_eq!(state["status"], "done");
}

/// A DARTS search embedded: the supernet job runs on the in-process
/// trainer, its derived cell is retrained and tested, and the export holds
/// that cell with its weights and a model.py for it.
#[test]
fn an_embedded_darts_search_exports_its_derived_cell() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let results = dir.path().join("results");
    let spec = format!(
        "budget = 1\nseed = 4\n[space]\nkind = \"darts\"\n[strategy]\nstrategy = \"darts\"\n\
         [strategy.settings]\nepochs = 1\nbatch_size = 16\nchannels = 2\nlayers = 2\ntrain_subset = 64\n\
         [evaluator.torch]\ndata = \"{}\"\n\
         [final]\ntop_k = 1\n[final.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 2\nlayers = 2\n",
        data.display()
    );
    let spec_path = dir.path().join("darts.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let stdout = search_ok(&["--config", spec_path.to_str().unwrap()], &results);
    assert!(
        stdout.contains("best architecture (darts): Genotype("),
        "{stdout}"
    );
    assert!(stdout.contains("test accuracy:"), "{stdout}");
    let folder = results.join(search_id(&results));
    let evals = evaluations(&folder);
    let stages: Vec<&str> = evals.iter().map(|e| e["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["supernet", "final"]);
    let cell = std::fs::read_to_string(folder.join("export").join("genotype.txt")).unwrap();
    assert_eq!(cell.trim(), evals[0]["genotype"].as_str().unwrap());
    for f in ["weights.safetensors", "model.py", "cell.svg"] {
        assert!(folder.join("export").join(f).exists(), "export/{f} missing");
    }
}
