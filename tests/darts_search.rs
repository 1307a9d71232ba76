//! DARTS end to end with real processes over Redis: `nas submit` of a
//! `strategy = "darts"` spec, a `nas scheduler` that turns it into one
//! `darts` job, a `nas trainer` that runs the supernet search (tiny
//! settings, a small IDX dataset) and then retrains the derived cell in the
//! final stage; `nas status` shows α and the cell of the supernet search.

mod common;

use common::{write_dataset, Procs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_darts_search_runs_its_supernet_job_then_retrains_the_derived_cell() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL: run through scripts/test.sh");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let spec = format!(
        "name = \"darts\"\nbudget = 1\nseed = 5\n[space]\nkind = \"darts\"\n\
         [strategy]\nstrategy = \"darts\"\n\
         [strategy.settings]\nepochs = 2\nbatch_size = 16\nchannels = 2\nlayers = 2\ntrain_subset = 64\n\
         [evaluator.torch]\ndata = \"{}\"\n\
         [final]\ntop_k = 1\n\
         [final.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 2\nlayers = 2\ntrain_subset = 64\n",
        data.display()
    );
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let prefix = format!("darts-{}", std::process::id());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let nas = |args: &[&str], log: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nas"));
        c.args(args)
            .env("REDIS_URL", &url)
            .env("NAS_PREFIX", &prefix)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        if !log.is_empty() {
            let f = std::fs::File::create(logs.join(log)).unwrap();
            c.stderr(f.try_clone().unwrap()).stdout(f);
        }
        c
    };
    let results = dir.path().join("results");
    let mut procs = Procs(Vec::new());
    procs.0.push(
        nas(
            &["scheduler", "--results-dir", results.to_str().unwrap()],
            "scheduler.log",
        )
        .spawn()
        .unwrap(),
    );
    procs.0.push(
        nas(
            &[
                "trainer",
                "--cpu-threads",
                "1",
                "--device",
                "cpu",
                "--worker-id",
                "t0",
            ],
            "t0.log",
        )
        .spawn()
        .unwrap(),
    );
    let out = nas(&["submit", spec_path.to_str().unwrap()], "")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let end = Instant::now() + Duration::from_secs(300);
    let doc = loop {
        let out = nas(&["status", &id, "--json"], "").output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if doc["searches"][0]["state"]["status"] != "running" {
            break doc;
        }
        if Instant::now() > end {
            for f in ["scheduler.log", "t0.log"] {
                eprintln!(
                    "--- {f}\n{}",
                    std::fs::read_to_string(logs.join(f)).unwrap_or_default()
                );
            }
            panic!("the search did not finish: {doc}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let state = &doc["searches"][0]["state"];
    assert_eq!(state["status"], "done", "{state}");

    // Two evaluations: the supernet search's derived cell, then that cell
    // retrained from scratch with its test accuracy.
    let out = nas(&["results", &id], "").output().unwrap();
    let evals: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evals.len(), 2, "{evals:?}");
    assert_eq!(evals[0]["stage"], "supernet");
    assert_eq!(evals[1]["stage"], "final");
    let cell = evals[0]["genotype"].as_str().unwrap();
    assert!(!cell.is_empty());
    assert_eq!(evals[1]["genotype"], cell);
    let supernet = &evals[0]["outcome"]["ok"];
    assert_eq!(supernet["genotype"], cell);
    assert!(supernet["val_acc"].as_f64().unwrap() >= 0.0);
    let last = &evals[1]["outcome"]["ok"];
    assert!(last["test_acc"].as_f64().is_some(), "{last}");

    // α and the cell of the supernet search's last epoch, in `nas status`.
    let notes = doc["searches"][0]["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = &notes[0]["note"];
    assert_eq!(note["kind"], "darts");
    assert_eq!(
        (note["epoch"].as_u64(), note["epochs"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(note["genotype"], cell);
    assert_eq!(note["alphas"]["normal"].as_array().unwrap().len(), 14);
    let out = nas(&["status", &id], "").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("supernet ") && text.contains("epoch 2/2"),
        "{text}"
    );
    assert!(
        text.contains("α normal:") && text.contains("α reduce:"),
        "{text}"
    );
}
