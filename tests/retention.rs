//! Retention with real processes: a finished search is archived into the
//! scheduler's results folder and then leaves Redis; `nas gc` removes what
//! finished searches, silent workers and unanswered surrogate requests left.

mod common;

use common::{arg, System};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn spec(name: &str, budget: usize) -> String {
    format!(
        r#"
name = "{name}"
budget = {budget}
seed = 3
parallel = 2
[space]
kind = "nb201"
[strategy]
strategy = "random"
[evaluator.nb201]
dataset = "cifar10"
time_scale = 0.0
"#
    )
}

/// Every key under the system's prefix.
fn keys(sys: &System) -> BTreeSet<String> {
    let mut con = sys.redis();
    redis::cmd("KEYS")
        .arg(format!("{}:*", sys.prefix()))
        .query::<Vec<String>>(&mut con)
        .unwrap()
        .into_iter()
        // Running workers' cards expire with them (queue::keys::worker_card).
        .filter(|k: &String| !k.contains(":q:worker:"))
        .collect()
}

/// The keys a deployment keeps whatever its searches: counters, the
/// worker list and the leader lock.
fn global_keys(sys: &System) -> BTreeSet<String> {
    BTreeSet::from(queue::keys::Keys::new(sys.prefix()).deployment_keys())
}

fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(sys: &mut System, retention_days: &str) -> std::path::PathBuf {
    let results = sys.path("results");
    sys.spawn(
        &[
            "scheduler",
            "--results-dir",
            arg(&results),
            "--retention-days",
            retention_days,
        ],
        "scheduler.log",
    );
    sys.spawn(&["trainer", "--worker-id", "t1"], "trainer.log");
    results
}

fn run(sys: &System, args: &[&str]) -> String {
    let out = sys.nas(args).output().unwrap();
    assert!(
        out.status.success(),
        "nas {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_finished_search_is_archived_then_leaves_nothing_in_redis() {
    let mut sys = System::new("retire");
    let results = start(&mut sys, "0");
    let id = sys.submit(&spec("retire", 6));
    let archive = results.join(&id).join("state.json");
    until("the archived state", Duration::from_secs(60), || {
        std::fs::read(&archive)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| s["status"] == "done")
    });
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&archive).unwrap()).unwrap();
    assert_eq!(state["evaluated"], 6);
    let jsonl = std::fs::read_to_string(results.join(&id).join("evaluations.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 6);
    // Retention 0: the records go in the same round as the archive.
    let global = global_keys(&sys);
    until("the search's keys to go", Duration::from_secs(10), || {
        keys(&sys).is_subset(&global)
    });
    // The archive is what `nas export` reads.
    let out = sys.path("export");
    run(
        &sys,
        &[
            "export",
            &id,
            "--results",
            arg(&results),
            "--out",
            arg(&out),
        ],
    );
    assert!(out.join("results.csv").is_file());
    // `nas status` no longer knows the search, and says what Redis holds.
    let status = run(&sys, &["status"]);
    assert!(!status.contains(&id), "{status}");
    assert!(
        status.contains(" keys under this deployment's prefix"),
        "{status}"
    );
}

#[test]
fn gc_removes_what_finished_searches_silent_workers_and_late_requests_left() {
    let mut sys = System::new("gc");
    start(&mut sys, "7");
    let done = sys.submit(&spec("gc-done", 4));
    sys.wait_done(&done, Duration::from_secs(60));
    let pending = sys.submit(&spec("gc-unarchived", 2));
    sys.wait_done(&pending, Duration::from_secs(60));
    let p = sys.prefix().to_string();
    let mut con = sys.redis();
    // The scheduler archives at once; mark one as not archived yet, as if
    // it had died first. A worker gone for two days; a surrogate request
    // whose client stopped waiting long ago.
    until("both archived", Duration::from_secs(20), || {
        redis::cmd("SCARD")
            .arg(format!("{p}:retiring"))
            .query::<u64>(&mut con)
            .unwrap()
            == 0
    });
    let _: () = redis::cmd("SADD")
        .arg(format!("{p}:retiring"))
        .arg(&pending)
        .query(&mut con)
        .unwrap();
    let two_days_ago = queue::now_ms() - 2 * 86_400_000;
    let _: () = redis::cmd("ZADD")
        .arg(format!("{p}:q:workers"))
        .arg(two_days_ago)
        .arg("ghost")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(format!("{p}:surrogate:requests"))
        .arg(r#"{"v":1,"request_id":"old","deadline_ms":1}"#)
        .query(&mut con)
        .unwrap();
    let before = keys(&sys);
    assert!(before.iter().any(|k| k.contains(&done)));

    let dry = run(&sys, &["gc", "--dry-run"]);
    assert!(dry.contains(&format!("would remove {done} (done")), "{dry}");
    assert!(
        dry.contains(&format!(
            "kept {pending}: the scheduler has not archived it"
        )),
        "{dry}"
    );
    assert!(
        dry.contains("1 heartbeats of workers silent for a day, 1 surrogate requests"),
        "{dry}"
    );
    assert_eq!(keys(&sys), before, "a dry run removes nothing");

    let gc = run(&sys, &["gc"]);
    assert!(gc.contains(&format!("removed {done} (done")), "{gc}");
    let after = keys(&sys);
    assert!(after.iter().all(|k| !k.contains(&done)), "{after:?}");
    assert!(
        after.iter().any(|k| k.contains(&pending)),
        "the unarchived one stays"
    );
    let workers: Vec<String> = redis::cmd("ZRANGE")
        .arg(format!("{p}:q:workers"))
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(workers, ["t1"]);
    let requests: u64 = redis::cmd("LLEN")
        .arg(format!("{p}:surrogate:requests"))
        .query(&mut con)
        .unwrap();
    assert_eq!(requests, 0);

    let forced = run(&sys, &["gc", "--force"]);
    assert!(
        forced.contains(&format!("removed {pending} (done")),
        "{forced}"
    );
    let left = keys(&sys);
    assert!(left.is_subset(&global_keys(&sys)), "{left:?}");
}
