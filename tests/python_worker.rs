//! Issue 16: the Python trainer (`nas-worker`, python/nas_worker) as a
//! worker of the queue, with real processes against the test Redis: the
//! cases of the queue's conformance suite that concern a worker (claim,
//! renew, complete, fail with retry, dead letter, progress, fencing after
//! SIGSTOP, redelivery after SIGKILL, SIGTERM drain, cancel), the python
//! pool that keeps Rust trainers off python jobs, a search served by a Rust
//! and a Python trainer together, and the functions library's versions on
//! a Redis of the test's own.

use queue::wire::{EvalJob, EvaluatorSpec, Pool};
use queue::{JobKind, JobState, NewJob, Outcome, Queue, RedisQueue, RedisUrl, Scores};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

#[path = "common/world.rs"]
mod world;

use world::{finished, spec, until, OwnRedis, World};

/// A python-pool job of `search` that runs `scripted` with `settings`.
fn python_job(search: &str, n: u64, settings: serde_json::Value) -> NewJob {
    let space = space::Space::Nb201;
    let g = space.sample(&mut space::rng(n)).unwrap();
    let ev = EvaluatorSpec::Python {
        entry: "nas_test_entries:scripted".into(),
        settings: settings.as_object().cloned().unwrap_or_default(),
    };
    NewJob {
        search_id: search.into(),
        dedupe_key: format!("k{n}"),
        kind: JobKind::Evaluate,
        priority: 0.0,
        payload: serde_json::to_value(EvalJob::new(space, &g, ev, n)).unwrap(),
    }
}

async fn enqueue(q: &RedisQueue, jobs: Vec<NewJob>) -> Vec<String> {
    q.enqueue(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.job_id)
        .collect()
}

/// The results of `search` once there are `n`.
async fn results(q: &RedisQueue, search: &str, n: usize) -> Vec<queue::JobResult> {
    until(
        &format!("{n} results of {search}"),
        Duration::from_secs(60),
        || async {
            let page = q.results(search, 0, 1000).await.ok()?;
            (page.results.len() >= n).then_some(page.results)
        },
    )
    .await
}

async fn state(q: &RedisQueue, job: &str) -> Option<JobState> {
    q.job_state(job).await.unwrap()
}

fn scores(r: &queue::JobResult) -> &Scores {
    match &r.outcome {
        Outcome::Ok(s) => s,
        other => panic!("job {} did not succeed: {other:?}", r.job_id),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_jobs_go_to_python_workers_only_and_complete_once() {
    let mut w = World::new("py-claim");
    let q = w.queue().await;
    let ids = enqueue(
        &q,
        (1..=3).map(|n| python_job("pys", n, json!({}))).collect(),
    )
    .await;
    let noop = NewJob {
        search_id: "rusts".into(),
        dedupe_key: "n".into(),
        kind: JobKind::Noop,
        priority: 0.0,
        payload: serde_json::Value::Null,
    };
    enqueue(&q, vec![noop]).await;
    // A Rust trainer's claim (builtin pool) sees the no-op job only.
    let taken = q.claim("rust-1", 10).await.unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].job.kind, JobKind::Noop);
    assert_eq!(q.claim("rust-1", 10).await.unwrap().len(), 0);
    // One search's jobs stay in one pool.
    let mut mixed = python_job("pys", 9, json!({}));
    mixed.kind = JobKind::Noop;
    let err = q
        .enqueue(vec![python_job("pys", 8, json!({})), mixed])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than one pool"), "{err}");

    w.python_worker("py-1", "nas_test_entries:scripted", &["--slots", "2"]);
    let done = results(&q, "pys", 3).await;
    let got: HashSet<&str> = done.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect());
    for r in &done {
        assert_eq!(r.worker, "py-1");
        assert_eq!(r.attempt, 1);
        let s = scores(r);
        assert_eq!(s.val_acc, 51.0);
        assert_eq!(s.device.as_deref(), Some("python"));
    }
    let counts = q.counts("pys").await.unwrap();
    assert_eq!((counts.done, counts.queued, counts.leased), (3, 0, 0));
    // The worker announces itself.
    let workers = q.workers(Duration::from_secs(10)).await.unwrap();
    assert!(workers.contains(&"py-1".to_string()), "{workers:?}");
    // With its card, as the dashboard's fleet page reads it.
    let fleet = q.fleet(Duration::from_secs(10)).await.unwrap();
    let card = fleet
        .iter()
        .find(|s| s.id == "py-1")
        .and_then(|s| s.card.clone())
        .unwrap_or_else(|| panic!("no card of py-1 in {fleet:?}"));
    assert_eq!((card.kind.as_str(), card.slots), ("python", 2));
    assert_eq!(card.pools, ["python"]);
    assert_eq!(card.device, "cpu");
    w.signal("py-1", "TERM");
    assert!(w.wait("py-1", Duration::from_secs(10)).success());
}

#[tokio::test(flavor = "multi_thread")]
async fn leases_are_renewed_and_progress_is_recorded_while_a_job_runs() {
    let mut w = World::new("py-renew");
    w.lease_secs = 2.0;
    let q = w.queue().await;
    let ids = enqueue(
        &q,
        vec![python_job(
            "pyr",
            1,
            json!({"sleep_s": 6.0, "report": true}),
        )],
    )
    .await;
    w.python_worker("py-r", "nas_test_entries:scripted", &[]);
    let note = until("a progress note", Duration::from_secs(20), || async {
        q.job_progress(&ids[0]).await.ok()?
    })
    .await;
    let note: serde_json::Value = serde_json::from_str(&note).unwrap();
    assert_eq!(note["kind"], "python", "{note}");
    assert_eq!(note["steps"], 120, "{note}");
    // Three times the lease, reaped all along, still held, then completed
    // on the first attempt.
    let done = until("the job to finish", Duration::from_secs(60), || async {
        q.reap().await.ok()?;
        let page = q.results("pyr", 0, 10).await.ok()?;
        (!page.results.is_empty()).then_some(page.results)
    })
    .await;
    assert_eq!(done[0].attempt, 1);
    assert_eq!(q.redeliveries().await.unwrap(), 0);
    assert!(scores(&done[0]).train_seconds >= 5.9);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_retry_dead_letter_and_diverge_as_the_rust_trainer_does() {
    let mut w = World::new("py-fail");
    let q = w.queue().await;
    let cases = [
        json!({"fail_attempts": 1}),
        json!({"permanent": true}),
        json!({"fail_attempts": 99}),
        json!({"bad_metric": true}),
        json!({"huge": true}),
        json!({"diverge": true}),
    ];
    let ids = enqueue(
        &q,
        cases
            .iter()
            .enumerate()
            .map(|(i, s)| python_job("pyf", i as u64 + 1, s.clone()))
            .collect(),
    )
    .await;
    w.python_worker(
        "py-f",
        "nas_test_entries:scripted",
        &["--slots", "3", "--max-attempts", "2"],
    );
    let done = results(&q, "pyf", 6).await;
    let of = |id: &str| done.iter().find(|r| r.job_id == id).unwrap();
    // Retried after the first failure, then recorded.
    assert_eq!(of(&ids[0]).attempt, 2);
    assert_eq!(scores(of(&ids[0])).val_acc, 52.0);
    let dead = |id: &str| match &of(id).outcome {
        Outcome::Dead { reason } => reason.clone(),
        other => panic!("{id}: {other:?}"),
    };
    // Permanent: dead on the first attempt, with the function's message.
    assert_eq!(of(&ids[1]).attempt, 1);
    assert!(
        dead(&ids[1]).contains("scripted permanent failure"),
        "{}",
        dead(&ids[1])
    );
    // Retryable every time: dead after --max-attempts.
    assert_eq!(of(&ids[2]).attempt, 2);
    assert!(
        dead(&ids[2]).contains("RuntimeError: scripted failure on attempt 2"),
        "{}",
        dead(&ids[2])
    );
    // An unknown metric and a result over the cap fail for good, named.
    assert_eq!(of(&ids[3]).attempt, 1);
    assert!(
        dead(&ids[3]).contains("unknown metrics ['f1']"),
        "{}",
        dead(&ids[3])
    );
    assert_eq!(of(&ids[4]).attempt, 1);
    assert!(
        dead(&ids[4]).contains("over the 65536-byte limit"),
        "{}",
        dead(&ids[4])
    );
    match &of(&ids[5]).outcome {
        Outcome::Diverged { reason } => assert!(reason.contains("loss is nan"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let letters = q.dead_letters(0, 100).await.unwrap();
    let letters: HashSet<&str> = letters.iter().map(|d| d.job_id.as_str()).collect();
    for id in [&ids[1], &ids[2], &ids[3], &ids[4]] {
        assert!(
            letters.contains(id.as_str()),
            "{id} not in the dead-letter list"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_worker_is_fenced_out_after_its_lease_lapses() {
    let mut w = World::new("py-stop");
    w.lease_secs = 1.0;
    let q = w.queue().await;
    let ids = enqueue(&q, vec![python_job("pyx", 1, json!({"sleep_s": 4.0}))]).await;
    w.python_worker("py-x", "nas_test_entries:scripted", &[]);
    until("the job to be leased", Duration::from_secs(20), || async {
        (state(&q, &ids[0]).await == Some(JobState::Leased)).then_some(())
    })
    .await;
    w.signal("py-x", "STOP");
    // Past the lease: the reaper hands the job out again, to a Rust claim
    // of the python pool standing in for another worker.
    let thief = until(
        "the lapsed job to be taken over",
        Duration::from_secs(20),
        || async {
            q.reap().await.ok()?;
            q.claim_from("thief", 1, &[Pool::Python]).await.ok()?.pop()
        },
    )
    .await;
    assert_eq!(thief.job.attempt, 2);
    w.signal("py-x", "CONT");
    q.complete(
        &thief,
        Outcome::Ok(Scores {
            val_acc: 1.0,
            ..Scores::default()
        }),
    )
    .await
    .unwrap();
    // The stopped worker wakes up holding a lease that is no longer its:
    // whatever it tries to write is refused.
    let done = results(&q, "pyx", 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = q.results("pyx", 0, 100).await.unwrap().results;
    assert_eq!(all.len(), 1, "one result only: {all:?}");
    assert_eq!(done[0].worker, "thief");
    let log = w.log("py-x");
    assert!(
        log.contains("lease lost") || log.contains("complete refused"),
        "the worker says it lost the lease:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_s_job_is_delivered_again_and_recorded_once() {
    let mut w = World::new("py-kill");
    w.lease_secs = 1.0;
    let q = w.queue().await;
    let marker = w.dir.path().join("started");
    let m = marker.to_str().unwrap();
    enqueue(
        &q,
        vec![python_job("pyk", 1, json!({"sleep_s": 3.0, "marker": m}))],
    )
    .await;
    w.python_worker("py-k1", "nas_test_entries:scripted", &[]);
    until(
        "the first attempt to start",
        Duration::from_secs(20),
        || async {
            std::fs::read_to_string(&marker)
                .ok()
                .filter(|s| !s.is_empty())
                .map(|_| ())
        },
    )
    .await;
    w.kill("py-k1");
    w.python_worker("py-k2", "nas_test_entries:scripted", &[]);
    // The test reaps too, so that Redis never goes silent for long while
    // py-k2 starts (a silence would hand the lease back without counting
    // the attempt, as after an outage).
    let done = until(
        "the job to be run again",
        Duration::from_secs(60),
        || async {
            q.reap().await.ok()?;
            let page = q.results("pyk", 0, 10).await.ok()?;
            (!page.results.is_empty()).then_some(page.results)
        },
    )
    .await;
    assert_eq!(done[0].worker, "py-k2");
    assert_eq!(done[0].attempt, 2);
    let started = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(started.lines().count(), 2, "{started}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.results("pyk", 0, 100).await.unwrap().results.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_jobs_finish_within_the_grace_and_hands_back_the_rest() {
    let mut w = World::new("py-term");
    let q = w.queue().await;
    // A grace long enough: the running job finishes and is recorded.
    let a = enqueue(&q, vec![python_job("pyta", 1, json!({"sleep_s": 3.0}))]).await;
    w.python_worker("py-ta", "nas_test_entries:scripted", &["--grace-s", "10"]);
    until("job a to be leased", Duration::from_secs(20), || async {
        (state(&q, &a[0]).await == Some(JobState::Leased)).then_some(())
    })
    .await;
    w.signal("py-ta", "TERM");
    assert!(w.wait("py-ta", Duration::from_secs(15)).success());
    assert_eq!(state(&q, &a[0]).await, Some(JobState::Done));
    assert_eq!(results(&q, "pyta", 1).await[0].worker, "py-ta");
    assert!(
        w.log("py-ta").contains("worker stopping: 1 jobs running"),
        "the job was running when the stop came: {}",
        w.log("py-ta")
    );

    // A short grace: the job is handed back, and the attempt not counted.
    let b = enqueue(&q, vec![python_job("pytb", 1, json!({"sleep_s": 30.0}))]).await;
    w.python_worker("py-tb", "nas_test_entries:scripted", &["--grace-s", "0.3"]);
    until("job b to be leased", Duration::from_secs(20), || async {
        (state(&q, &b[0]).await == Some(JobState::Leased)).then_some(())
    })
    .await;
    let t = std::time::Instant::now();
    w.signal("py-tb", "TERM");
    assert!(w.wait("py-tb", Duration::from_secs(10)).success());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(state(&q, &b[0]).await, Some(JobState::Queued));
    let again = q.claim_from("next", 1, &[Pool::Python]).await.unwrap();
    assert_eq!(again[0].job.attempt, 1, "a hand-back costs no attempt");
    assert!(
        w.log("py-tb").contains("handed the job back"),
        "{}",
        w.log("py-tb")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_search_gives_its_worker_no_more_jobs() {
    let mut w = World::new("py-cancel");
    let q = w.queue().await;
    let ids = enqueue(
        &q,
        (1..=3)
            .map(|n| python_job("pyc", n, json!({"sleep_s": 3.0})))
            .collect(),
    )
    .await;
    w.python_worker("py-c", "nas_test_entries:scripted", &[]);
    let running = until("a job to be leased", Duration::from_secs(20), || async {
        for id in &ids {
            if state(&q, id).await == Some(JobState::Leased) {
                return Some(id.clone());
            }
        }
        None
    })
    .await;
    assert_eq!(q.cancel("pyc").await.unwrap(), 2);
    // The running job may finish; the other two never start.
    let done = results(&q, "pyc", 1).await;
    assert_eq!(done[0].job_id, running);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = q.counts("pyc").await.unwrap();
    assert_eq!(
        (counts.done, counts.cancelled, counts.queued),
        (1, 2, 0),
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_served_by_a_rust_and_a_python_trainer_records_every_candidate_once() {
    let mut w = World::new("py-mixed");
    w.lease_secs = 5.0;
    let budget = 40;
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("rust-t", &["--slots", "2"]);
    w.python_worker(
        "py-t",
        "nas_worker.nb201:evaluate",
        &["--builtin", "--slots", "2"],
    );
    let q = w.queue().await;
    until(
        "both trainers' heartbeats",
        Duration::from_secs(30),
        || async {
            let alive = q.workers(Duration::from_secs(10)).await.ok()?;
            (alive.contains(&"py-t".to_string()) && alive.contains(&"rust-t".to_string()))
                .then_some(())
        },
    )
    .await;
    let id = w.submit(&spec("mixed", budget, 4, 0.0002));
    let evals = finished(&w, &id, budget, Duration::from_secs(120)).await;
    let workers: HashSet<&str> = evals.iter().map(|e| e.worker.as_str()).collect();
    assert_eq!(
        workers,
        HashSet::from(["rust-t", "py-t"]),
        "both trainers served the search"
    );
    // The Python trainer's lookups agree with the table.
    let table = nb201::Table::load_dataset(&nb201::default_dir(), nb201::Dataset::Cifar10).unwrap();
    for e in &evals {
        let g: space::Nb201Cell = e.genotype.parse().unwrap();
        let acc = e.val_acc().unwrap();
        assert!(
            table.get(&g).val_acc.iter().any(|v| (v - acc).abs() < 1e-9),
            "{} from {}: {acc} is not in the table",
            e.genotype,
            e.worker
        );
    }
    w.assert_no_panics();
}

/// The functions library on a Redis of the test's own (it is global to a
/// server): a worker waits until a Rust daemon loads it, and every client
/// refuses another version until `nas migrate-keys` replaces it.
#[tokio::test(flavor = "multi_thread")]
async fn the_functions_library_is_loaded_once_and_other_versions_are_refused() {
    let redis_server = OwnRedis::start();
    let mut w = World::on("py-fn", redis_server.url());
    // Nothing loaded yet: the worker waits, saying why.
    w.python_worker(
        "py-wait",
        "nas_test_entries:scripted",
        &["--connect-timeout-s", "30"],
    );
    // So does a Rust trainer: workers of no language load the library.
    w.trainer("rust-t", &[]);
    for name in ["py-wait", "rust-t"] {
        until(
            "the workers to say they wait",
            Duration::from_secs(20),
            || async { w.log(name).contains("not loaded yet").then_some(()) },
        )
        .await;
    }
    let client = redis::Client::open(redis_server.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let libraries: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(libraries.is_empty(), "a worker loaded: {libraries:?}");
    // A loader (here the test's queue client, as `nas submit` would) loads
    // it; the workers then serve.
    let q = w.queue().await;
    enqueue(&q, vec![python_job("pyw", 1, json!({}))]).await;
    assert_eq!(results(&q, "pyw", 1).await[0].worker, "py-wait");

    // The scheduler of this build, running beside them.
    w.spawn("scheduler", &["scheduler"]);
    until(
        "the Rust trainer's heartbeat",
        Duration::from_secs(30),
        || async {
            let alive = q.workers(Duration::from_secs(10)).await.ok()?;
            alive.contains(&"rust-t".to_string()).then_some(())
        },
    )
    .await;
    until("the scheduler to lead", Duration::from_secs(30), || async {
        w.log("scheduler").contains("leading").then_some(())
    })
    .await;

    // Another version in Redis.
    let other = queue::functions::LIBRARY.replace("return '2' end", "return '99' end");
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(&other)
        .query_async(&mut con)
        .await
        .unwrap();
    // Every running daemon notices within a few seconds, stops and exits
    // with status 2, saying why: two builds never serve one queue.
    for name in ["py-wait", "rust-t", "scheduler"] {
        let status = w.wait(name, Duration::from_secs(30));
        assert_eq!(status.code(), Some(2), "{name}: {}", w.log(name));
        assert!(
            w.log(name).contains("version 99"),
            "{name}: {}",
            w.log(name)
        );
    }
    let url = RedisUrl::parse(&redis_server.url()).unwrap();
    let err = RedisQueue::connect(&url, w.queue_config())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("version 99"), "{err}");
    let out = std::process::Command::new(world::venv_bin("nas-worker"))
        .args([
            "--redis",
            &redis_server.url(),
            "--entry",
            "nas_test_entries:scripted",
        ])
        .env(
            "PYTHONPATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("version 99") && stderr.contains("speaks version 2"),
        "{stderr}"
    );
    // nas migrate-keys puts this build's version in place.
    let out = w.nas(&["migrate-keys"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("loaded the queue functions version 2 (was: 99)"),
        "{said}"
    );
    RedisQueue::connect(&url, w.queue_config()).await.unwrap();
}

/// One job per space whose function builds the candidate with
/// `nas_worker.networks`, trains it two steps and reports its parameters:
/// the same counts as the Rust networks of the same genotypes and settings.
#[tokio::test(flavor = "multi_thread")]
async fn python_trainers_build_networks_with_the_rust_parameter_counts_in_every_space() {
    use tch::nn;
    use trainer::model::{build, count_params, NetConfig, TableShape};
    let mut w = World::new("py-params");
    w.lease_secs = 30.0;
    let q = w.queue().await;
    let table = TableShape {
        numeric: 5,
        categorical: vec![3, 7],
    };
    // (space, input channels, input size, input shape of a batch row)
    let spaces: [(space::Space, i64, i64, Vec<i64>); 6] = [
        (space::Space::Nb201, 3, 16, vec![3, 16, 16]),
        (space::Space::Darts, 3, 16, vec![3, 16, 16]),
        (space::Space::Pnas { blocks: 3 }, 1, 16, vec![1, 16, 16]),
        (space::Space::Macro { layers: 4 }, 1, 12, vec![1, 12, 12]),
        (space::Space::Seq, 2, 24, vec![2, 24]),
        (
            space::Space::Mlp {
                layers: 3,
                categorical: true,
            },
            0,
            0,
            vec![7],
        ),
    ];
    let mut jobs = Vec::new();
    let mut want = Vec::new();
    for (i, (sp, in_channels, input_size, shape)) in spaces.iter().enumerate() {
        let g = sp.sample(&mut space::rng(i as u64 + 3)).unwrap();
        let cfg = NetConfig {
            channels: 16,
            layers: 2,
            classes: 10,
            in_channels: *in_channels,
            input_size: *input_size,
            table: if sp.kind() == space::SpaceKind::Mlp {
                table.clone()
            } else {
                TableShape::default()
            },
            ..NetConfig::for_space(sp.kind())
        };
        let vs = nn::VarStore::new(tch::Device::Cpu);
        build(&vs.root(), &g, &cfg).unwrap();
        want.push((g.canonical_text(), count_params(&vs, false)));
        let mut build_args =
            json!({"classes": 10, "in_channels": in_channels, "channels": 16, "layers": 2});
        if sp.kind() == space::SpaceKind::Mlp {
            build_args["table"] = json!({"numeric": 5, "categorical": [3, 7]});
        }
        let ev = EvaluatorSpec::Python {
            entry: "nas_test_entries:tiny_train".into(),
            settings: json!({"build": build_args, "input": shape})
                .as_object()
                .cloned()
                .unwrap(),
        };
        jobs.push(NewJob {
            search_id: "pyp".into(),
            dedupe_key: format!("k{i}"),
            kind: JobKind::Evaluate,
            priority: -(i as f64),
            payload: serde_json::to_value(EvalJob::new(*sp, &g, ev, 1)).unwrap(),
        });
    }
    let ids = enqueue(&q, jobs).await;
    w.python_worker("py-p", "nas_test_entries:tiny_train", &["--slots", "2"]);
    let done = results(&q, "pyp", ids.len()).await;
    for (id, (genotype, params)) in ids.iter().zip(&want) {
        let r = done.iter().find(|r| &r.job_id == id).unwrap();
        assert_eq!(scores(r).params, Some(*params as u64), "{genotype}");
    }
}

/// The example of examples/python-trainer: the user's own training loop on
/// Fashion-MNIST, on a Python trainer of a running stack, gives the search
/// its results (a small budget and training subset).
#[tokio::test(flavor = "multi_thread")]
async fn the_example_python_trainer_runs_a_search_on_fashion_mnist() {
    let mut w = World::new("py-example");
    w.lease_secs = 10.0;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python-trainer");
    let spec = std::fs::read_to_string(format!("{example}/search.toml"))
        .unwrap()
        .replace("budget = 24", "budget = 2")
        .replace("train_limit = 2000", "train_limit = 256")
        .replace("val_limit = 1000", "val_limit = 128");
    let data = std::env::var("NAS_FASHION_MNIST")
        .unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into());
    let spec = spec.replace(
        "\"/usr/share/datasets/fashion-mnist\"",
        &format!("{data:?}"),
    );
    w.spawn("scheduler", &["scheduler"]);
    w.env.push((
        "PYTHONPATH".into(),
        format!(
            "{example}:{}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python")
        ),
    ));
    w.python_worker("py-e", "fmnist_trainer.train:evaluate", &[]);
    let id = w.submit(&spec);
    let evals = finished(&w, &id, 2, Duration::from_secs(300)).await;
    for e in &evals {
        assert_eq!(e.worker, "py-e");
        let acc = e.val_acc().unwrap();
        assert!(acc > 10.0 && acc <= 100.0, "{acc}");
    }
}
