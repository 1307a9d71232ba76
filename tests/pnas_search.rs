//! The ranked strategies end to end with real processes over Redis: a `nas
//! surrogate` replica, a `nas scheduler` that asks it to rank candidates
//! before enqueueing them, and `nas trainer` processes: Progressive NAS
//! training every candidate (tiny settings) on a small IDX dataset, and the
//! predictor-guided search on the NAS-Bench-201 table.

mod common;

use common::{arg, write_dataset, System};
use std::time::Duration;

/// A `nas surrogate` replica, and a `nas scheduler` that asks it to rank.
fn start_surrogate_and_scheduler(sys: &mut System) {
    let results = sys.path("results");
    sys.spawn(&["surrogate"], "surrogate.log");
    sys.spawn(
        &[
            "scheduler",
            "--results-dir",
            arg(&results),
            "--surrogate",
            "redis",
        ],
        "scheduler.log",
    );
}

#[test]
fn pnas_trains_all_one_block_cells_then_the_surrogates_top_k() {
    let mut sys = System::new("pnas");
    let data = sys.path("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    start_surrogate_and_scheduler(&mut sys);
    for i in 0..2 {
        let worker = format!("t{i}");
        sys.spawn(
            &[
                "trainer",
                "--cpu-threads",
                "1",
                "--device",
                "cpu",
                "--worker-id",
                &worker,
            ],
            &format!("{worker}.log"),
        );
    }
    let id = sys.submit(&format!(
        "name = \"pnas\"\nbudget = 500\nseed = 3\nparallel = 8\n[space]\nkind = \"pnas\"\nblocks = 2\n\
         [strategy]\nstrategy = \"pnas\"\nbeam = 3\n[evaluator.torch]\ndata = \"{}\"\n\
         [evaluator.torch.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 2\nlayers = 1\ntrain_subset = 64\n",
        data.display()
    ));
    let doc = sys.wait_done(&id, Duration::from_secs(400));
    let state = &doc["searches"][0]["state"];
    assert_eq!(state["status"], "done", "{state}");
    assert_eq!(
        state["evaluated"].as_u64().unwrap() + state["failed"].as_u64().unwrap(),
        136 + 3
    );
    let evals = sys.results(&id);
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
    let sched = sys.log("scheduler.log");
    assert!(
        sched.contains("surrogate ranked candidates") && sched.contains("candidates=40800"),
        "{sched}"
    );
    let surr = sys.log("surrogate.log");
    assert!(!surr.contains("panicked"), "{surr}");
}

#[test]
fn bananas_ranks_with_the_surrogate_service_and_its_own_predictor() {
    let mut sys = System::new("bananas");
    start_surrogate_and_scheduler(&mut sys);
    sys.spawn(&["trainer", "--slots", "4"], "trainer.log");
    let id = sys.submit(
        "name = \"bananas\"\nbudget = 30\nseed = 5\nparallel = 4\n[space]\nkind = \"nb201\"\n\
         [strategy]\nstrategy = \"bananas\"\ninit = 6\n[evaluator.nb201]\ndataset = \"cifar10\"\n",
    );
    let doc = sys.wait_done(&id, Duration::from_secs(300));
    let state = &doc["searches"][0]["state"];
    assert_eq!(state["status"], "done", "{state}");
    assert_eq!(state["evaluated"].as_u64().unwrap(), 30);
    let evals = sys.results(&id);
    let unique: std::collections::HashSet<&str> = (evals.iter())
        .map(|e| e["hash"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 30, "no cell twice");
    let sched = sys.log("scheduler.log");
    let rankings = sched.matches("surrogate ranked candidates").count();
    assert!(
        (3..=24).contains(&rankings),
        "refits once half the batch is back: {rankings}\n{sched}"
    );
    let surr = sys.log("surrogate.log");
    assert!(
        surr.contains("predictor=path"),
        "auto is the path encoding on nb201: {surr}"
    );
    assert!(!surr.contains("panicked"), "{surr}");
}
