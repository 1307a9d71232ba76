//! DARTS end to end with real processes over Redis: `nas submit` of a
//! `strategy = "darts"` spec, a `nas scheduler` that turns it into one
//! `darts` job, a `nas trainer` that runs the supernet search (tiny
//! settings, a small IDX dataset) and then retrains the derived cell in the
//! final stage; `nas status` shows α and the cell of the supernet search.

mod common;

use common::{arg, write_dataset, System};
use std::time::Duration;

#[test]
fn a_darts_search_runs_its_supernet_job_then_retrains_the_derived_cell() {
    let mut sys = System::new("darts");
    let data = sys.path("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let results = sys.path("results");
    sys.spawn(
        &["scheduler", "--results-dir", arg(&results)],
        "scheduler.log",
    );
    sys.spawn(
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
    );
    let id = sys.submit(&format!(
        "name = \"darts\"\nbudget = 1\nseed = 5\n[space]\nkind = \"darts\"\n\
         [strategy]\nstrategy = \"darts\"\n\
         [strategy.settings]\nepochs = 2\nbatch_size = 16\nchannels = 2\nlayers = 2\ntrain_subset = 64\n\
         [evaluator.torch]\ndata = \"{}\"\n\
         [final]\ntop_k = 1\n\
         [final.settings]\nepochs = 1\nmax_steps = 2\nbatch_size = 16\nchannels = 2\nlayers = 2\ntrain_subset = 64\n",
        data.display()
    ));
    let doc = sys.wait_done(&id, Duration::from_secs(300));
    let state = &doc["searches"][0]["state"];
    assert_eq!(state["status"], "done", "{state}");

    // Two evaluations: the supernet search's derived cell, then that cell
    // retrained from scratch with its test accuracy.
    let evals = sys.results(&id);
    assert_eq!(evals.len(), 2, "{evals:?}");
    assert_eq!(evals[0]["stage"], "supernet");
    assert_eq!(evals[1]["stage"], "final");
    let cell = evals[0]["genotype"].as_str().unwrap();
    assert!(!cell.is_empty());
    assert_eq!(evals[1]["genotype"], cell);
    let supernet = &evals[0]["outcome"]["ok"];
    assert_eq!(supernet["genotype"], cell);
    assert!((0.0..=100.0).contains(&supernet["val_acc"].as_f64().unwrap()));
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
    let out = sys.nas(&["status", &id]).output().unwrap();
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
