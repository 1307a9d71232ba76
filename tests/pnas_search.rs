//! Progressive NAS end to end with real processes over Redis: a `nas
//! surrogate` replica, a `nas scheduler` that asks it to rank expansions
//! before enqueueing them, and two `nas trainer` processes training every
//! candidate (tiny settings) on a small IDX dataset.

mod common;

use common::{write_dataset, Procs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn pnas_trains_all_one_block_cells_then_the_surrogates_top_k() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL: run through scripts/test.sh");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let spec = format!(
        "name = \"pnas\"\nbudget = 500\nseed = 3\nparallel = 8\n[space]\nkind = \"pnas\"\nblocks = 2\n\
         [strategy]\nstrategy = \"pnas\"\nbeam = 3\n[evaluator.torch]\ndata = \"{}\"\n\
         [evaluator.torch.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 2\nlayers = 1\ntrain_subset = 64\n",
        data.display()
    );
    let spec_path = dir.path().join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let prefix = format!("pnas-{}", std::process::id());
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
    procs
        .0
        .push(nas(&["surrogate"], "surrogate.log").spawn().unwrap());
    procs.0.push(
        nas(
            &[
                "scheduler",
                "--results-dir",
                results.to_str().unwrap(),
                "--surrogate",
                "redis",
            ],
            "scheduler.log",
        )
        .spawn()
        .unwrap(),
    );
    for i in 0..2 {
        procs.0.push(
            nas(
                &[
                    "trainer",
                    "--cpu-threads",
                    "1",
                    "--device",
                    "cpu",
                    "--worker-id",
                    &format!("t{i}"),
                ],
                &format!("t{i}.log"),
            )
            .spawn()
            .unwrap(),
        );
    }
    let out = nas(&["submit", spec_path.to_str().unwrap()], "")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let end = Instant::now() + Duration::from_secs(400);
    let state = loop {
        let out = nas(&["status", &id, "--json"], "").output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let state = doc["searches"][0]["state"].clone();
        if state["status"] != "running" {
            break state;
        }
        if Instant::now() > end {
            for f in ["scheduler.log", "surrogate.log", "t0.log"] {
                eprintln!(
                    "--- {f}\n{}",
                    std::fs::read_to_string(logs.join(f)).unwrap_or_default()
                );
            }
            panic!("the search did not finish: {state}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(state["status"], "done", "{state}");
    assert_eq!(
        state["evaluated"].as_u64().unwrap() + state["failed"].as_u64().unwrap(),
        136 + 3
    );
    let out = nas(&["results", &id], "").output().unwrap();
    let evals: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evals.len(), 139);
    let blocks = |e: &serde_json::Value| e["genotype"].as_str().unwrap().matches('(').count();
    assert_eq!(
        evals.iter().filter(|e| blocks(e) == 1).count(),
        136,
        "every canonical 1-block cell"
    );
    assert_eq!(
        evals.iter().filter(|e| blocks(e) == 2).count(),
        3,
        "the surrogate's top K of their children"
    );
    let sched = std::fs::read_to_string(logs.join("scheduler.log")).unwrap();
    assert!(
        sched.contains("surrogate ranked candidates") && sched.contains("candidates=40800"),
        "{sched}"
    );
    let surr = std::fs::read_to_string(logs.join("surrogate.log")).unwrap();
    assert!(!surr.contains("panicked"), "{surr}");
}
