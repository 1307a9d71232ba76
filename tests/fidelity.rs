//! Issue 19 through the batch system: a multi-fidelity (ASHA) torch search
//! submitted with `nas submit`, run by a `nas scheduler` and two `nas
//! trainer` processes that share one checkpoint folder over Redis. Promoted
//! rungs continue from the lower rung's checkpoint whichever trainer saved
//! it; one trainer is killed with SIGKILL in the middle of a promoted job,
//! whose redelivery still gives exactly one result for its (candidate,
//! rung); `nas status` shows the rungs and `nas results` one row per
//! (candidate, rung).

mod common;

use common::{arg, write_dataset_of, System};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

#[test]
fn an_asha_search_promotes_across_trainers_and_survives_a_trainer_killed_mid_promotion() {
    let mut sys = System::new("fidelity");
    let data = sys.path("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset_of(&data, 3000);
    let results = sys.path("results");
    let checkpoints = sys.path("checkpoints");
    let lease = ["--lease-secs", "2"];
    sys.spawn(
        &[&["scheduler", "--results-dir", arg(&results)][..], &lease].concat(),
        "scheduler.log",
    );
    let trainer = |name: &str| -> Vec<String> {
        let mut a: Vec<String> = ["trainer", "--cpu-threads", "1", "--device", "cpu"]
            .map(String::from)
            .to_vec();
        a.extend(["--worker-id".into(), name.into()]);
        a.extend(["--checkpoint-dir".into(), arg(&checkpoints).into()]);
        a.extend(lease.map(String::from));
        a
    };
    let pid1 = sys.spawn_pid(&refs(&trainer("t1")), "t1.log");
    let pid2 = sys.spawn_pid(&refs(&trainer("t2")), "t2.log");
    let settings = "batch_size = 32\nchannels = 4\nlayers = 1\nlr = 0.05\n";
    let id = sys.submit(&format!(
        "name = \"asha\"\nbudget = 9\nseed = 2\nparallel = 3\n[space]\nkind = \"nb201\"\n\
         [strategy]\nstrategy = \"evolution\"\npopulation = 4\nsample = 2\n\
         [evaluator.torch]\ndata = \"{}\"\n[evaluator.torch.settings]\nepochs = 1\n{settings}\
         [fidelity]\nmin = 1\nmax = 9\neta = 3\nscheduler = \"asha\"\n\
         [final]\ntop_k = 1\n[final.settings]\nepochs = 1\ntest = true\n{settings}",
        data.display()
    ));

    // Kill whichever trainer first continues a promoted rung, while it
    // trains, and start a third in its place.
    let end = Instant::now() + Duration::from_secs(240);
    let killed = loop {
        let seen = [("t1.log", pid1), ("t2.log", pid2)]
            .into_iter()
            .find(|(log, _)| {
                sys.log(log)
                    .contains("promoted: continuing from the lower rung")
            });
        if let Some((log, pid)) = seen {
            std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap();
            break log;
        }
        assert!(
            Instant::now() < end,
            "no promotion within 240 s:\n{}",
            sys.log("scheduler.log")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    sys.spawn(&refs(&trainer("t3")), "t3.log");

    let doc = sys.wait_done(&id, Duration::from_secs(600));
    let state = &doc["searches"][0]["state"];
    assert_eq!(state["status"], "done", "{state}");
    assert_eq!(state["evaluated"], 9, "9 candidates");

    // One result per (candidate, rung), every rung reached, promotions
    // continued from checkpoints.
    let evals = sys.results(&id);
    let rung_evals: Vec<&serde_json::Value> =
        evals.iter().filter(|e| e["stage"] == "search").collect();
    let mut per_rung: BTreeMap<u64, usize> = BTreeMap::new();
    let mut keys = HashSet::new();
    for e in &rung_evals {
        let rung = e["rung"]
            .as_u64()
            .expect("every search result has its rung");
        *per_rung.entry(rung).or_default() += 1;
        assert!(
            keys.insert((e["hash"].to_string(), rung)),
            "a second result for {e}"
        );
        assert!(e["outcome"]["ok"].is_object(), "{e}");
    }
    assert_eq!(per_rung[&0], 9);
    assert!(per_rung[&1] >= 3 && per_rung[&2] >= 1, "{per_rung:?}");
    let resumed: Vec<&&serde_json::Value> = (rung_evals.iter())
        .filter(|e| e["outcome"]["ok"]["resumed_from"].is_number())
        .collect();
    assert!(
        resumed.len() >= per_rung[&1] + per_rung[&2] - 1,
        "promoted rungs continue from checkpoints: {} of {}",
        resumed.len(),
        per_rung[&1] + per_rung[&2]
    );
    for e in &resumed {
        let rung = e["rung"].as_u64().unwrap();
        let from = e["outcome"]["ok"]["resumed_from"].as_f64().unwrap();
        assert_eq!(from, [1.0, 3.0][rung as usize - 1], "{e}");
    }
    // The killed trainer's promoted job was delivered again and counted once.
    let redelivered = rung_evals
        .iter()
        .filter(|e| e["attempt"].as_u64() > Some(1))
        .count();
    assert!(redelivered >= 1, "the killed job came back: {killed}");
    // The rungs of every trainer went to the one shared folder.
    assert!(checkpoints.join(&id).join("rungs").is_dir());
    let logs = sys.log("t1.log") + &sys.log("t2.log") + &sys.log("t3.log");
    assert!(logs.contains("promoted: continuing from the lower rung's checkpoint"));

    // The best is of the top rung reached; status and results show rungs.
    let top = *per_rung.keys().max().unwrap();
    assert_eq!(state["best"]["rung"].as_u64(), Some(top));
    let out = sys.nas(&["status", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rungs (asha, eta 3): 1e 9, 3e"), "{text}");
    assert!(text.contains(" -> 3e "), "a climb is shown: {text}");
    let out = sys
        .nas(&["results", &id, "--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("index,stage,rung,epochs,"));
    assert_eq!(csv.lines().count(), 1 + rung_evals.len() + 1, "{csv}");
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
