//! A real search that trains its candidates: `nas submit` of a torch search
//! (random strategy, NAS-Bench-201 cells, a small IDX dataset written here)
//! run by a `nas scheduler` and a `nas trainer` process over Redis, ending
//! with the final stage that retrains the best candidate and scores it on
//! the test set.

mod common;

use common::{arg, write_dataset, System};
use std::time::Duration;

#[test]
fn a_torch_search_trains_candidates_and_retrains_the_winner() {
    let mut sys = System::new("torchsearch");
    let data = sys.path("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data);
    let settings = "epochs = 1\nbatch_size = 32\nchannels = 4\nlayers = 1\nlr = 0.05\n";
    let results = sys.path("results");
    sys.spawn(
        &["scheduler", "--results-dir", arg(&results)],
        "scheduler.log",
    );
    sys.spawn(
        &["trainer", "--cpu-threads", "1", "--device", "cpu"],
        "trainer.log",
    );
    let id = sys.submit(&format!(
        "name = \"torch search\"\nbudget = 3\nseed = 1\nparallel = 2\n[space]\nkind = \"nb201\"\n[strategy]\nstrategy = \"random\"\n\
         [evaluator.torch]\ndata = \"{}\"\n[evaluator.torch.settings]\n{settings}[final]\ntop_k = 1\n[final.settings]\n{settings}",
        data.display()
    ));
    let doc = sys.wait_done(&id, Duration::from_secs(300));
    let status = &doc["searches"][0]["state"];
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["evaluated"], 3);
    // The spec was pinned to the dataset's fingerprint at submit.
    let fp = status["spec"]["evaluator"]["torch"]["fingerprint"]
        .as_str()
        .unwrap();
    assert_eq!(fp.len(), 64);
    let finals = status["finals"].as_array().unwrap();
    assert_eq!(finals.len(), 1);
    let m = &finals[0]["outcome"]["ok"];
    assert!(m["test_acc"].as_f64().unwrap() > 40.0, "{m}");
    assert_eq!(
        finals[0]["hash"], status["leaders"][0]["hash"],
        "the best candidate is the one retrained"
    );

    let out = sys
        .nas(&["results", &id, "--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert_eq!(csv.lines().next(), Some(export::results::HEADER));
    assert_eq!(csv.lines().filter(|l| l.contains(",final,")).count(), 1);
    let jsonl = std::fs::read_to_string(results.join(&id).join("evaluations.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 4);
    let out = sys.nas(&["status", &id]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("final |"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A table through the batch system: the spec names the CSV and its target
/// column; `nas submit` pins the table's fingerprint (read with those
/// options), the trainer reads the table the same way, and the final stage
/// scores the holdout test split.
#[test]
fn a_table_search_runs_on_the_trainers_with_its_read_options() {
    let mut sys = System::new("tablesearch");
    let data = sys.path("table.csv");
    let mut csv = String::from("a,b,color,kind\n");
    for i in 0..300 {
        let a = (i % 17) as f64 / 17.0;
        let color = ["red", "blue"][i % 2];
        let kind = if a > 0.5 || color == "red" { "x" } else { "y" };
        csv.push_str(&format!(
            "{a:.3},{},{color},{kind}\n",
            (i * 7 % 13) as f64 / 13.0
        ));
    }
    std::fs::write(&data, csv).unwrap();
    let results = sys.path("results");
    sys.spawn(
        &["scheduler", "--results-dir", arg(&results)],
        "scheduler.log",
    );
    sys.spawn(
        &["trainer", "--cpu-threads", "1", "--device", "cpu"],
        "trainer.log",
    );
    let settings = "epochs = 5\nbatch_size = 32\nlr = 0.05\n";
    let id = sys.submit(&format!(
        "name = \"table search\"\nbudget = 3\nseed = 1\nparallel = 2\n[space]\nkind = \"mlp\"\nlayers = 2\ncategorical = true\n\
         [strategy]\nstrategy = \"random\"\n[evaluator.torch]\ndata = \"{}\"\ntarget = \"kind\"\ncategorical = [\"color\"]\n\
         [evaluator.torch.settings]\n{settings}[final]\ntop_k = 1\n[final.settings]\n{settings}",
        data.display()
    ));
    let doc = sys.wait_done(&id, Duration::from_secs(300));
    let status = &doc["searches"][0]["state"];
    assert_eq!(status["status"], "done", "{status}");
    let torch = &status["spec"]["evaluator"]["torch"];
    assert_eq!(torch["target"], "kind");
    assert_eq!(torch["fingerprint"].as_str().unwrap().len(), 64);
    let finals = status["finals"].as_array().unwrap();
    let m = &finals[0]["outcome"]["ok"];
    assert!(m["test_acc"].as_f64().unwrap() > 60.0, "{m}");
}
