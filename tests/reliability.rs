//! Black-box reliability tests: real `nas trainer` and `nas scheduler`
//! processes against a real Redis (REDIS_URL from scripts/test.sh, or a
//! redis-server the test starts itself when it must restart it), killed,
//! stopped and signalled while they work.

use queue::wire::{EvalJob, EvaluatorSpec};
use queue::{JobKind, JobState, NewJob, Queue, RedisQueue};
use scheduler::{RedisStore, Store};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/world.rs"]
mod world;

use world::{finished, free_port, spec, until, wait_for_port, World};

/// A job in flight: the first leased job of a search.
async fn leased_job(q: &RedisQueue, search: &str) -> String {
    until("a job to be leased", Duration::from_secs(20), || async {
        (q.counts(search).await.unwrap().leased > 0).then_some(())
    })
    .await;
    let mut con = q.connection();
    let ids: Vec<String> = redis::AsyncCommands::zrange(&mut con, q.keys().leases(), 0, -1)
        .await
        .unwrap();
    ids.into_iter().find(|i| i.starts_with(search)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_kill_9_a_trainer_mid_job_and_the_job_is_redelivered() {
    let mut w = World::new("kill9");
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("doomed", &[]);
    let id = w.submit(&spec("kill9", 4, 1, 0.002));
    let q = w.queue().await;
    let job = leased_job(&q, &id).await;
    w.signal("doomed", "KILL");
    let killed_at = Instant::now();
    w.trainer("rescuer", &[]);
    let evals = finished(&w, &id, 4, Duration::from_secs(90)).await;
    let redone = evals.iter().find(|e| e.job_id == job).unwrap();
    assert_eq!(
        redone.attempt, 2,
        "the killed job's second delivery produced its one result"
    );
    assert_eq!(redone.worker, "rescuer");
    assert!(q.redeliveries().await.unwrap() >= 1);
    // Redelivered within lease + reaper interval (1 s + 1 s), plus the
    // evaluation itself: the rescuer took it up promptly.
    assert!(killed_at.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_a_stopped_trainer_loses_its_lease_and_its_writes_are_refused() {
    let mut w = World::new("sigstop");
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("sleepy", &[]);
    let id = w.submit(&spec("sigstop", 2, 1, 0.002));
    let q = w.queue().await;
    let job = leased_job(&q, &id).await;
    w.signal("sleepy", "STOP");
    // Past the lease (1 s) and a reaper round: another trainer takes it.
    w.trainer("awake", &[]);
    until(
        "the job to be reassigned",
        Duration::from_secs(30),
        || async {
            let mut con = q.connection();
            let worker: Option<String> =
                redis::AsyncCommands::hget(&mut con, q.keys().job(&job), "worker")
                    .await
                    .unwrap();
            (worker.as_deref() == Some("awake")).then_some(())
        },
    )
    .await;
    w.signal("sleepy", "CONT");
    let evals = finished(&w, &id, 2, Duration::from_secs(90)).await;
    let e = evals.iter().find(|e| e.job_id == job).unwrap();
    assert_eq!(e.worker, "awake");
    // The stale worker woke up, found its lease gone, and wrote nothing.
    until(
        "the stale trainer to notice",
        Duration::from_secs(20),
        || async {
            let log = w.log("sleepy");
            (log.contains("lease lost") || log.contains("refused")).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t3_kill_9_the_scheduler_while_it_enqueues_and_restart_it() {
    let mut w = World::new("schedkill");
    w.trainer("t1", &["--slots", "4"]);
    w.trainer("t2", &["--slots", "4"]);
    let id = w.submit(&spec("schedkill", 200, 40, 0.0001));
    // Kill it at several points while it enqueues batches, restart each time.
    for (i, ms) in [30u64, 120, 250].into_iter().enumerate() {
        let name = format!("scheduler{i}");
        w.spawn(&name, &["scheduler"]);
        std::thread::sleep(Duration::from_millis(400 + ms));
        w.signal(&name, "KILL");
        w.wait(&name, Duration::from_secs(5));
    }
    w.spawn("scheduler-final", &["scheduler"]);
    finished(&w, &id, 200, Duration::from_secs(120)).await;
    let log = w.log("scheduler-final");
    assert!(
        log.contains("search taken up") && log.contains("resumed=true"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_restart_redis_under_load_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start_redis = || {
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
            ])
            .args([
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--dir",
                dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut redis = start_redis();
    wait_for_port(port);
    let mut w = World::on("redisrestart", format!("redis://127.0.0.1:{port}/"));
    w.lease_secs = 5.0;
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("t1", &["--slots", "3"]);
    w.trainer("t2", &["--slots", "3"]);
    let id = w.submit(&spec("redisrestart", 150, 12, 0.00002));
    let q = w.queue().await;
    until("load", Duration::from_secs(30), || async {
        (q.counts(&id).await.ok()?.done >= 20).then_some(())
    })
    .await;
    // A clean restart: SIGTERM makes Redis flush its append-only file.
    Command::new("kill")
        .args(["-TERM", &redis.id().to_string()])
        .status()
        .unwrap();
    redis.wait().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    redis = start_redis();
    wait_for_port(port);
    let evals = finished(&w, &id, 150, Duration::from_secs(120)).await;
    assert_eq!(evals.len(), 150);
    for name in ["t1", "t2", "scheduler"] {
        let log = w.log(name);
        assert!(!log.contains("panicked"), "{name}: {log}");
    }
    let trainer_logs = w.log("t1") + &w.log("t2");
    assert!(
        trainer_logs.contains("retrying"),
        "the trainers saw Redis go away and retried"
    );
    let _ = redis.kill();
    let _ = redis.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5_poison_and_malformed_jobs_go_to_the_dead_letter_list() {
    let mut w = World::new("poison");
    // This trainer's table folder has cifar10 only: imagenet jobs fail on
    // every attempt.
    let tables = w.dir.path().join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    let src = nb201::default_dir().join("cifar10.json");
    std::fs::copy(&src, tables.join("cifar10.json")).unwrap();
    let q = w.queue().await;
    let job = |key: &str, dataset: &str, seed: u64| {
        let g = space::Space::Nb201.sample(&mut space::rng(seed)).unwrap();
        let ev = EvaluatorSpec::Nb201 {
            dataset: dataset.into(),
            time_scale: 0.0,
        };
        NewJob {
            search_id: "mixed".into(),
            dedupe_key: key.into(),
            kind: JobKind::Evaluate,
            priority: 0.0,
            payload: serde_json::to_value(EvalJob::new(space::Space::Nb201, &g, ev, seed)).unwrap(),
        }
    };
    let mut jobs: Vec<NewJob> = (0..5)
        .map(|i| job(&format!("good{i}"), "cifar10", i))
        .collect();
    jobs.push(job("poison", "imagenet", 99));
    jobs.push(NewJob {
        payload: serde_json::json!({ "genotype": 42 }),
        ..job("malformed", "cifar10", 100)
    });
    let ids = q.enqueue(jobs).await.unwrap();
    w.trainer(
        "t",
        &[
            "--slots",
            "2",
            "--nb201-dir",
            tables.to_str().unwrap(),
            "--max-attempts",
            "3",
        ],
    );
    let dead = until("two dead letters", Duration::from_secs(60), || async {
        let d = q.dead_letters(0, 10).await.unwrap();
        (d.len() == 2).then_some(d)
    })
    .await;
    let poison = dead.iter().find(|d| d.job_id == ids[5].job_id).unwrap();
    assert_eq!(poison.attempt, 3, "dead after N attempts");
    assert!(poison.reason.contains("imagenet"), "{}", poison.reason);
    let malformed = dead.iter().find(|d| d.job_id == ids[6].job_id).unwrap();
    assert_eq!(malformed.attempt, 1, "a malformed payload is never retried");
    assert!(
        malformed.reason.contains("malformed evaluate payload"),
        "{}",
        malformed.reason
    );
    let counts = q.counts("mixed").await.unwrap();
    assert_eq!((counts.done, counts.dead), (5, 2), "the rest is unaffected");
    // `nas dlq list` shows them; replay puts one back (with the trainer
    // stopped, so that it stays queued for the check).
    w.signal("t", "TERM");
    w.wait("t", Duration::from_secs(10));
    let out = w.nas(&["dlq", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&ids[5].job_id) && text.contains("imagenet"),
        "{text}"
    );
    let out = w.nas(&["dlq", "replay", &ids[6].job_id]).output().unwrap();
    assert!(out.status.success());
    assert_ne!(
        q.job_state(&ids[6].job_id).await.unwrap(),
        Some(JobState::Dead)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_sigterm_during_a_job_hands_it_back_at_once() {
    let mut w = World::new("sigterm");
    w.lease_secs = 30.0;
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("leaving", &[]);
    let id = w.submit(&spec("sigterm", 1, 1, 0.01));
    let q = w.queue().await;
    let job = leased_job(&q, &id).await;
    let t = Instant::now();
    w.signal("leaving", "TERM");
    let status = w.wait("leaving", Duration::from_secs(10));
    assert!(status.success(), "{}", w.log("leaving"));
    // Back in the queue long before the 30 s lease would have expired.
    assert_eq!(q.job_state(&job).await.unwrap(), Some(JobState::Queued));
    assert!(t.elapsed() < Duration::from_secs(10));
    let mut con = q.connection();
    let attempt: u32 = redis::AsyncCommands::hget(&mut con, q.keys().job(&job), "attempt")
        .await
        .unwrap();
    assert_eq!(attempt, 0, "a hand-back uses up no attempt");
    assert!(w.log("leaving").contains("handed the job back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t7_two_searches_share_the_fleet_and_cancelling_one_spares_the_other() {
    let mut w = World::new("twosearch");
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("t1", &["--slots", "2"]);
    let a = w.submit(&spec("search a", 40, 4, 0.00005));
    let b = w.submit(&spec("search b", 40, 4, 0.00005));
    let q = w.queue().await;
    let store = RedisStore::new(&q, "test");
    until(
        "both searches to progress",
        Duration::from_secs(60),
        || async {
            let sa = store.load(&a).await.unwrap()?;
            let sb = store.load(&b).await.unwrap()?;
            (sa.evaluated >= 3 && sb.evaluated >= 3).then_some(())
        },
    )
    .await;
    let out = w.nas(&["cancel", &a]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    finished(&w, &b, 40, Duration::from_secs(120)).await;
    let sa = until(
        "a to be marked cancelled",
        Duration::from_secs(20),
        || async {
            let s = store.load(&a).await.unwrap()?;
            (s.status == scheduler::Status::Cancelled).then_some(s)
        },
    )
    .await;
    assert!(sa.evaluated < 40);
    assert_eq!(q.counts(&a).await.unwrap().queued, 0);
    let out = w.nas(&["status", "--json"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["searches"].as_array().unwrap().len(), 2);
}

/// Issue 15, defect 3: a draining trainer (SIGTERM, `--grace-secs`) keeps
/// renewing its jobs' leases and heartbeating while it waits, so a job that
/// finishes within the grace is recorded once, from its first delivery,
/// even when the grace is far longer than the lease and another trainer
/// stands by to take over lapsed leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t9_a_draining_trainer_keeps_its_lease_and_finishes_within_the_grace() {
    let mut w = World::new("drain");
    w.lease_secs = 1.0;
    let q = w.queue().await;
    w.trainer("draining", &["--grace-secs", "10"]);
    let ids = q
        .enqueue(vec![NewJob {
            search_id: "drain".into(),
            dedupe_key: "slow".into(),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::json!({ "sleep_ms": 4000 }),
        }])
        .await
        .unwrap();
    let job = &ids[0].job_id;
    assert_eq!(&leased_job(&q, "drain").await, job);
    // A second trainer reaps lapsed leases and would take the job over.
    w.trainer("standby", &[]);
    let term_ms = queue::now_ms();
    w.signal("draining", "TERM");
    let status = w.wait("draining", Duration::from_secs(12));
    assert!(status.success(), "{}", w.log("draining"));
    let results = q.results("drain", 0, 10).await.unwrap().results;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(
        (results[0].worker.as_str(), results[0].attempt),
        ("draining", 1),
        "finished by the draining trainer on its first delivery"
    );
    assert!(matches!(results[0].outcome, queue::Outcome::Ok(_)));
    assert_eq!(q.job_state(job).await.unwrap(), Some(JobState::Done));
    assert_eq!(q.redeliveries().await.unwrap(), 0, "never redelivered");
    // It announced itself while it drained (every 2 s; the job ran about
    // 4 s past the signal).
    let mut con = q.connection();
    let seen: Option<f64> = redis::AsyncCommands::zscore(&mut con, q.keys().workers(), "draining")
        .await
        .unwrap();
    assert!(
        seen.unwrap_or(0.0) >= (term_ms + 1000) as f64,
        "no heartbeat during the drain: last {seen:?}, signal at {term_ms}"
    );
    let log = w.log("draining");
    assert!(
        !log.contains("lease lost") && !log.contains("refused"),
        "{log}"
    );
}

/// Issue 15, defect 2: `nas dlq replay` replays the jobs of a running
/// search, and refuses those of an ended search (it would never read the
/// result) unless `--force` is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_dlq_replay_refuses_the_jobs_of_an_ended_search_unless_forced() {
    let w = World::new("replayended");
    let q = w.queue().await;
    let store = RedisStore::new(&q, "test");
    let mut dead = Vec::new();
    for (name, status) in [
        ("ended", scheduler::Status::Done),
        ("running", scheduler::Status::Running),
    ] {
        let spec = scheduler::SearchSpec::parse(&spec(name, 2, 1, 0.0), false).unwrap();
        let mut state = scheduler::SearchState::new(name.into(), spec).unwrap();
        state.status = status;
        store.submit(&state).await.unwrap();
        let e = q
            .enqueue(vec![NewJob {
                search_id: name.into(),
                dedupe_key: "g".into(),
                kind: JobKind::Noop,
                priority: 0.0,
                payload: serde_json::json!({}),
            }])
            .await
            .unwrap();
        let lease = q.claim("w", 1).await.unwrap().remove(0);
        assert_eq!(lease.job.job_id, e[0].job_id);
        q.fail(&lease, "boom", queue::FailKind::Permanent)
            .await
            .unwrap();
        dead.push(e[0].job_id.clone());
    }
    let (ended, running) = (&dead[0], &dead[1]);
    let out = w.nas(&["dlq", "replay", ended, running]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("search ended is done") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(q.job_state(ended).await.unwrap(), Some(JobState::Dead));
    assert_eq!(
        q.job_state(running).await.unwrap(),
        Some(JobState::Queued),
        "the running search's job is replayed"
    );
    let out = w
        .nas(&["dlq", "replay", "--force", ended])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(q.job_state(ended).await.unwrap(), Some(JobState::Queued));
}

#[test]
fn t8_redis_unreachable_at_start_is_a_clear_error_after_retries() {
    let port = free_port();
    let url = format!("redis://trainer:hunter2@127.0.0.1:{port}/");
    let out = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["trainer", "--redis", &url, "--connect-timeout-secs", "2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("redis unreachable; retrying"), "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach redis at redis://trainer:***@127.0.0.1:{port}/"
        )),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Upgrading a deployment whose queue still has the layout before
/// `<p>:q:` (issue 15, defect 7 moved the queue's keys): the scheduler
/// refuses to start, naming `nas migrate-keys`; the migration moves every
/// key (jobs, ready sets, logs, counts, leases, the fencing counter, ...);
/// the search then finishes with every candidate recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_an_old_key_layout_is_refused_then_migrated() {
    let mut w = World::new("migrate");
    let budget = 12;
    let id = w.submit(&spec("migrate", budget, 4, 0.0));
    w.spawn("first", &["scheduler"]);
    let q = w.queue().await;
    until("jobs queued", Duration::from_secs(30), || async {
        (q.counts(&id).await.ok()?.queued == 4).then_some(())
    })
    .await;
    w.kill("first");
    // What an older nas left: the same keys, directly under the prefix.
    let mut con = q.connection();
    let queue_keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:q:*", w.prefix))
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(queue_keys.len() >= 6, "{queue_keys:?}");
    for k in &queue_keys {
        let old = k.replacen(":q:", ":", 1);
        let _: () = redis::cmd("RENAME")
            .arg(k)
            .arg(&old)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    w.spawn("refused", &["scheduler"]);
    assert!(!w.wait("refused", Duration::from_secs(30)).success());
    let said = w.log("refused");
    assert!(said.contains("nas migrate-keys"), "{said}");
    let dry = w.nas(&["migrate-keys", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8_lossy(&dry.stdout).to_string();
    assert!(
        dry.contains(&format!("would move {} keys", queue_keys.len())),
        "{dry}"
    );
    let out = w.nas(&["migrate-keys"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(q.old_layout().await.unwrap().is_empty());
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("t1", &["--slots", "2"]);
    finished(&w, &id, budget, Duration::from_secs(120)).await;
    w.assert_no_panics();
}
