//! One conformance suite, run against both backends: the in-process queue
//! and a real Redis (REDIS_URL, which scripts/test.sh exports). Each Redis
//! test uses its own key prefix, so tests run in parallel on one server.

use queue::{
    FailKind, FailOutcome, JobKind, JobState, MemoryQueue, NewJob, Outcome, Queue, QueueConfig,
    RedisQueue, RedisUrl,
};
use std::collections::HashSet;
use std::time::Duration;

fn config(prefix: &str) -> QueueConfig {
    QueueConfig {
        prefix: prefix.to_string(),
        lease: Duration::from_millis(400),
        max_attempts: 3,
        backoff_base: Duration::from_millis(40),
        backoff_cap: Duration::from_millis(200),
        load_functions: true,
    }
}

fn redis_url() -> RedisUrl {
    let url = std::env::var("REDIS_URL")
        .expect("REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server");
    RedisUrl::parse(&url).unwrap()
}

async fn redis_queue(test: &str) -> RedisQueue {
    let prefix = format!("test:{test}:{}", std::process::id());
    RedisQueue::connect(&redis_url(), config(&prefix))
        .await
        .expect("connect to REDIS_URL")
}

fn job(search: &str, key: &str, priority: f64) -> NewJob {
    NewJob {
        search_id: search.into(),
        dedupe_key: key.into(),
        kind: JobKind::Noop,
        priority,
        payload: serde_json::json!({ "key": key }),
    }
}

fn ok(acc: f64) -> Outcome {
    Outcome::Ok(queue::Scores {
        val_acc: acc,
        ..Default::default()
    })
}

fn key_of(l: &queue::Lease) -> String {
    l.job.payload["key"].as_str().unwrap().to_string()
}

async fn enqueue_is_idempotent_per_search_and_key(q: &dyn Queue) {
    let a = q
        .enqueue(vec![job("s1", "g1", 0.0), job("s1", "g2", 0.0)])
        .await
        .unwrap();
    assert!(a.iter().all(|e| e.created));
    let b = q
        .enqueue(vec![job("s1", "g1", 5.0), job("s2", "g1", 0.0)])
        .await
        .unwrap();
    assert_eq!(b[0].job_id, a[0].job_id);
    assert!(!b[0].created);
    assert!(
        b[1].created,
        "the same key in another search is another job"
    );
    assert_eq!(q.counts("s1").await.unwrap().queued, 2);
    assert_eq!(q.counts("s2").await.unwrap().queued, 1);
    assert_eq!(
        q.job_state(&a[0].job_id).await.unwrap(),
        Some(JobState::Queued)
    );
    assert_eq!(q.job_state("s1.9999999999").await.unwrap(), None);
}

async fn claims_best_priority_first_and_fifo_on_ties(q: &dyn Queue) {
    q.enqueue(vec![
        job("s", "low", 1.0),
        job("s", "high", 9.0),
        job("s", "mid1", 5.0),
        job("s", "mid2", 5.0),
    ])
    .await
    .unwrap();
    let leases = q.claim("w", 10).await.unwrap();
    let order: Vec<String> = leases.iter().map(key_of).collect();
    assert_eq!(order, ["high", "mid1", "mid2", "low"]);
    assert!(leases.iter().all(|l| l.job.attempt == 1 && l.worker == "w"));
    let tokens: HashSet<u64> = leases.iter().map(|l| l.token).collect();
    assert_eq!(tokens.len(), 4, "every lease has its own fencing token");
    assert!(q.claim("w", 10).await.unwrap().is_empty());
}

async fn searches_share_workers_round_robin(q: &dyn Queue) {
    let big: Vec<NewJob> = (0..100)
        .map(|i| job("big", &format!("b{i}"), 0.0))
        .collect();
    q.enqueue(big).await.unwrap();
    let small: Vec<NewJob> = (0..5)
        .map(|i| job("small", &format!("s{i}"), 0.0))
        .collect();
    q.enqueue(small).await.unwrap();
    let mut first = Vec::new();
    for _ in 0..10 {
        first.extend(q.claim("w", 1).await.unwrap());
    }
    let small_served = first.iter().filter(|l| l.job.search_id == "small").count();
    assert_eq!(small_served, 5, "the small search got every other slot");
}

async fn expired_leases_are_redelivered_and_the_stale_worker_is_refused(q: &dyn Queue) {
    q.enqueue(vec![job("s", "g", 0.0)]).await.unwrap();
    let first = q.claim("w1", 1).await.unwrap().remove(0);
    // Renewing keeps it; then let it lapse.
    let d = q.renew(&first).await.unwrap();
    assert!(d >= first.deadline_ms);
    assert_eq!(q.reap().await.unwrap(), (0, 0));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.reap().await.unwrap(), (1, 0));
    assert_eq!(q.redeliveries().await.unwrap(), 1);
    let second = q.claim("w2", 1).await.unwrap().remove(0);
    assert_eq!(second.job.job_id, first.job.job_id);
    assert_eq!(second.job.attempt, 2);
    assert_ne!(second.token, first.token);
    // The first worker wakes up: every write it tries is refused.
    assert!(matches!(
        q.renew(&first).await,
        Err(queue::QueueError::Stale { .. })
    ));
    assert!(matches!(
        q.complete(&first, ok(1.0)).await,
        Err(queue::QueueError::Stale { .. })
    ));
    assert!(matches!(
        q.fail(&first, "x", FailKind::Retryable).await,
        Err(queue::QueueError::Stale { .. })
    ));
    assert!(matches!(
        q.release(&first).await,
        Err(queue::QueueError::Stale { .. })
    ));
    q.complete(&second, ok(90.0)).await.unwrap();
    // Completing twice is refused too: exactly one result.
    assert!(q.complete(&second, ok(91.0)).await.is_err());
    let results = q.results("s", 0, 100).await.unwrap().results;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].attempt, 2);
    assert_eq!(results[0].worker, "w2");
    assert_eq!(results[0].outcome, ok(90.0));
    let c = q.counts("s").await.unwrap();
    assert_eq!((c.done, c.leased, c.queued), (1, 0, 0));
}

async fn failures_back_off_then_dead_letter_with_the_reason(q: &dyn Queue) {
    q.enqueue(vec![job("s", "poison", 0.0), job("s", "fine", 0.0)])
        .await
        .unwrap();
    let mut attempts = 0;
    let mut dead_id = None;
    for _ in 0..50 {
        q.reap().await.unwrap();
        for l in q.claim("w", 10).await.unwrap() {
            if key_of(&l) == "fine" {
                q.complete(&l, ok(50.0)).await.unwrap();
                continue;
            }
            attempts += 1;
            assert_eq!(l.job.attempt, attempts);
            match q
                .fail(&l, &format!("boom {attempts}"), FailKind::Retryable)
                .await
                .unwrap()
            {
                FailOutcome::Retrying { .. } => {
                    assert_eq!(
                        q.job_state(&l.job.job_id).await.unwrap(),
                        Some(JobState::Delayed)
                    );
                }
                FailOutcome::Dead => dead_id = Some(l.job.job_id.clone()),
            }
        }
        if dead_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(attempts, 3, "dead after max_attempts deliveries");
    let dead_id = dead_id.unwrap();
    let dl = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].job_id, dead_id);
    assert_eq!(dl[0].reason, "boom 3");
    assert_eq!(dl[0].attempt, 3);
    let results = q.results("s", 0, 10).await.unwrap().results;
    assert_eq!(results.len(), 2, "the rest of the search is unaffected");
    assert!(results.iter().any(|r| r.outcome
        == Outcome::Dead {
            reason: "boom 3".into()
        }));
    // Replay gives it fresh attempts.
    assert!(q.replay(&dead_id).await.unwrap());
    assert!(!q.replay(&dead_id).await.unwrap(), "only dead jobs replay");
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
    let again = q.claim("w", 1).await.unwrap().remove(0);
    assert_eq!(again.job.attempt, 1);
}

async fn permanent_failures_dead_letter_at_once(q: &dyn Queue) {
    q.enqueue(vec![job("s", "bad", 0.0)]).await.unwrap();
    let l = q.claim("w", 1).await.unwrap().remove(0);
    assert_eq!(
        q.fail(&l, "malformed payload", FailKind::Permanent)
            .await
            .unwrap(),
        FailOutcome::Dead
    );
    let dl = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(
        (dl[0].attempt, dl[0].reason.as_str()),
        (1, "malformed payload")
    );
    assert_eq!(q.counts("s").await.unwrap().dead, 1);
}

async fn release_hands_the_job_back_at_once(q: &dyn Queue) {
    q.enqueue(vec![job("s", "g", 0.0)]).await.unwrap();
    let l = q.claim("w1", 1).await.unwrap().remove(0);
    q.release(&l).await.unwrap();
    assert!(
        q.complete(&l, ok(1.0)).await.is_err(),
        "a released lease is gone"
    );
    let again = q.claim("w2", 1).await.unwrap().remove(0);
    assert_eq!(again.job.job_id, l.job.job_id);
    assert_eq!(
        again.job.attempt, 1,
        "a hand-back does not use up an attempt"
    );
}

async fn cancel_drops_one_search_and_leaves_the_other(q: &dyn Queue) {
    q.enqueue((0..5).map(|i| job("a", &format!("{i}"), 0.0)).collect())
        .await
        .unwrap();
    q.enqueue((0..5).map(|i| job("b", &format!("{i}"), 0.0)).collect())
        .await
        .unwrap();
    let held = q.claim("w", 1).await.unwrap().remove(0);
    let search = held.job.search_id.clone();
    let other = if search == "a" { "b" } else { "a" };
    assert_eq!(q.cancel(&search).await.unwrap(), 4);
    assert!(matches!(
        q.enqueue(vec![job(&search, "new", 0.0)]).await,
        Err(queue::QueueError::Cancelled(_))
    ));
    let rest = q.claim("w", 100).await.unwrap();
    assert_eq!(rest.len(), 5);
    assert!(rest.iter().all(|l| l.job.search_id == other));
    // The job in flight may still finish.
    q.complete(&held, ok(10.0)).await.unwrap();
    let c = q.counts(&search).await.unwrap();
    assert_eq!((c.cancelled, c.done, c.queued), (4, 1, 0));
}

/// Issue 15, defect 1: a leased job of a cancelled search whose lease
/// lapses (its trainer died) is cancelled by the reaper, never queued
/// again.
async fn a_cancelled_search_s_reaped_job_is_cancelled_not_requeued(q: &dyn Queue) {
    q.enqueue(vec![job("s", "held", 1.0), job("s", "queued", 0.0)])
        .await
        .unwrap();
    let held = q.claim("w1", 1).await.unwrap().remove(0);
    assert_eq!(q.cancel("s").await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.reap().await.unwrap(), (0, 0), "neither requeued nor dead");
    assert_eq!(
        q.job_state(&held.job.job_id).await.unwrap(),
        Some(JobState::Cancelled)
    );
    assert!(
        q.claim("w2", 10).await.unwrap().is_empty(),
        "it never reruns"
    );
    let c = q.counts("s").await.unwrap();
    assert_eq!((c.cancelled, c.leased, c.queued, c.dead), (2, 0, 0, 0));
    assert_eq!(q.redeliveries().await.unwrap(), 0);
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
}

/// Issue 15, defect 1: a cancelled search's leased job handed back at
/// shutdown is cancelled, never queued again.
async fn a_cancelled_search_s_released_job_is_cancelled_not_requeued(q: &dyn Queue) {
    q.enqueue(vec![job("s", "held", 0.0)]).await.unwrap();
    let held = q.claim("w1", 1).await.unwrap().remove(0);
    assert_eq!(q.cancel("s").await.unwrap(), 0);
    q.release(&held).await.unwrap();
    assert_eq!(
        q.job_state(&held.job.job_id).await.unwrap(),
        Some(JobState::Cancelled)
    );
    assert!(
        q.claim("w2", 10).await.unwrap().is_empty(),
        "it never reruns"
    );
    let c = q.counts("s").await.unwrap();
    assert_eq!((c.cancelled, c.leased, c.queued), (1, 0, 0));
    assert!(
        q.release(&held).await.is_err(),
        "the hand-back ended the lease"
    );
}

async fn results_page_in_recording_order(q: &dyn Queue) {
    q.enqueue(
        (0..7)
            .map(|i| job("s", &format!("{i}"), -(i as f64)))
            .collect(),
    )
    .await
    .unwrap();
    for l in q.claim("w", 7).await.unwrap() {
        let acc = key_of(&l).parse::<f64>().unwrap();
        q.complete(&l, ok(acc)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut from = 0;
    loop {
        let page = q.results("s", from, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        from += page.len() as u64;
        seen.extend(page.results.into_iter().map(|r| match r.outcome {
            Outcome::Ok(m) => m.val_acc as i64,
            other => panic!("{other:?}"),
        }));
    }
    assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6]);
}

async fn heartbeats_list_live_workers(q: &dyn Queue) {
    q.heartbeat("trainer-a").await.unwrap();
    q.heartbeat("trainer-b").await.unwrap();
    let w = q.workers(Duration::from_secs(10)).await.unwrap();
    assert_eq!(w, ["trainer-a", "trainer-b"]);
}

async fn the_fleet_is_the_live_workers_with_their_cards(q: &dyn Queue) {
    use queue::wire::WorkerCard;
    q.heartbeat("carded").await.unwrap();
    q.heartbeat("plain").await.unwrap();
    let card = WorkerCard {
        id: "carded".into(),
        kind: "rust".into(),
        slots: 2,
        jobs: vec!["s.0000000001".into()],
        ..WorkerCard::default()
    };
    q.announce(&card, Duration::from_secs(10)).await.unwrap();
    // A card whose worker is silent is not shown, and one that expired is
    // gone.
    let silent = WorkerCard {
        id: "silent".into(),
        ..card.clone()
    };
    q.announce(&silent, Duration::from_millis(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let fleet = q.fleet(Duration::from_secs(10)).await.unwrap();
    let ids: Vec<&str> = fleet.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{fleet:?}");
    assert!(ids.contains(&"carded") && ids.contains(&"plain"));
    let carded = fleet.iter().find(|w| w.id == "carded").unwrap();
    assert_eq!(carded.card.as_ref(), Some(&card));
    assert!(carded.seen_ms > 0);
    assert!(fleet
        .iter()
        .find(|w| w.id == "plain")
        .unwrap()
        .card
        .is_none());
    // A bad id is refused, naming it.
    let bad = WorkerCard {
        id: String::new(),
        ..card
    };
    let err = q.announce(&bad, Duration::from_secs(1)).await.unwrap_err();
    assert!(err.to_string().contains("worker"), "{err}");
}

async fn oversized_and_badly_named_jobs_are_refused(q: &dyn Queue) {
    let mut big = job("s", "big", 0.0);
    big.payload = serde_json::json!({ "x": "a".repeat(70_000) });
    let err = q.enqueue(vec![big]).await.unwrap_err().to_string();
    assert!(err.contains("over the 65536-byte limit"), "{err}");
    let err = q
        .enqueue(vec![job("bad search", "k", 0.0)])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"bad search\""), "{err}");
    assert_eq!(q.counts("s").await.unwrap().queued, 0);
}

async fn progress_notes_are_fenced_by_the_lease_and_outlive_it(q: &dyn Queue) {
    q.enqueue(vec![job("s", "g", 0.0)]).await.unwrap();
    let first = q.claim("w1", 1).await.unwrap().remove(0);
    let id = first.job.job_id.clone();
    assert_eq!(q.job_progress(&id).await.unwrap(), None);
    q.progress(&first, r#"{"epoch":1}"#).await.unwrap();
    q.progress(&first, r#"{"epoch":2}"#).await.unwrap();
    assert_eq!(
        q.job_progress(&id).await.unwrap().as_deref(),
        Some(r#"{"epoch":2}"#)
    );
    // Not JSON, or too long: refused, naming the note; the last one stays.
    let err = q.progress(&first, "epoch 3").await.unwrap_err().to_string();
    assert!(
        err.contains("progress note") && err.contains("not JSON"),
        "{err}"
    );
    let long = format!(
        r#"{{"x":"{}"}}"#,
        "a".repeat(queue::wire::MAX_PROGRESS_BYTES)
    );
    let err = q.progress(&first, &long).await.unwrap_err().to_string();
    assert!(err.contains("limit"), "{err}");
    // The lease lapses and the job goes to another worker: the first one's
    // notes are refused, the second one's recorded.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.reap().await.unwrap(), (1, 0));
    let second = q.claim("w2", 1).await.unwrap().remove(0);
    assert!(matches!(
        q.progress(&first, r#"{"epoch":9}"#).await,
        Err(queue::QueueError::Stale { .. })
    ));
    q.progress(&second, r#"{"epoch":3}"#).await.unwrap();
    q.complete(&second, ok(90.0)).await.unwrap();
    assert_eq!(
        q.job_progress(&id).await.unwrap().as_deref(),
        Some(r#"{"epoch":3}"#)
    );
    assert_eq!(q.job_progress("s.0000000099").await.unwrap(), None);
}

/// Issue 15, defect 8: a result had no size cap. An oversized one is
/// refused, naming the job, and nothing is recorded: the lease still holds
/// and a result that fits completes the job.
async fn oversized_results_are_refused_naming_the_job(q: &dyn Queue) {
    q.enqueue(vec![job("s", "g", 0.0)]).await.unwrap();
    let l = q.claim("w", 1).await.unwrap().remove(0);
    let huge = Outcome::Diverged {
        reason: "x".repeat(70 * 1024),
    };
    let err = q.complete(&l, huge).await.unwrap_err().to_string();
    assert!(err.contains(&l.job.job_id), "{err}");
    assert!(err.contains("over the 65536-byte limit"), "{err}");
    assert!(q.results("s", 0, 10).await.unwrap().is_empty());
    assert_eq!(q.counts("s").await.unwrap().leased, 1);
    q.complete(&l, ok(50.0)).await.unwrap();
    assert_eq!(q.results("s", 0, 10).await.unwrap().len(), 1);
}

/// Issue 15, defect 8: a failure's reason becomes a dead job's result; a
/// long one is cut so that the result stays readable.
async fn long_failure_reasons_are_cut_to_fit_a_result(q: &dyn Queue) {
    q.enqueue(vec![job("s", "g", 0.0)]).await.unwrap();
    let l = q.claim("w", 1).await.unwrap().remove(0);
    let reason = format!("boom: {}", "é".repeat(50 * 1024));
    let out = q.fail(&l, &reason, FailKind::Permanent).await.unwrap();
    assert_eq!(out, FailOutcome::Dead);
    let results = q.results("s", 0, 10).await.unwrap().results;
    let Outcome::Dead { reason: kept } = &results[0].outcome else {
        panic!("a dead result: {results:?}")
    };
    assert!(kept.starts_with("boom: é"), "{kept:.40}");
    assert!(kept.len() <= 8 * 1024, "{} bytes kept", kept.len());
    let dl = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(&dl[0].reason, kept);
}

/// Issue 15, defect 8: the dead-letter list is read a page at a time.
async fn dead_letters_page_from_an_offset(q: &dyn Queue) {
    let jobs = (0..5).map(|i| job("s", &format!("k{i}"), 0.0)).collect();
    q.enqueue(jobs).await.unwrap();
    let mut ids = Vec::new();
    for l in q.claim("w", 5).await.unwrap() {
        q.fail(&l, "boom", FailKind::Permanent).await.unwrap();
        ids.push(l.job.job_id);
    }
    let page = |from, max| async move {
        q.dead_letters(from, max)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.job_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(0, 2).await, ids[..2]);
    assert_eq!(page(2, 2).await, ids[2..4]);
    assert_eq!(page(4, 2).await, ids[4..]);
    assert!(page(5, 2).await.is_empty());
    assert!(page(0, 0).await.is_empty());
    assert_eq!(page(1, usize::MAX).await, ids[1..]);
    assert_eq!(page(usize::MAX, usize::MAX).await, Vec::<String>::new());
}

/// Two searches, `gone` and `kept`; `gone` has a finished job, a
/// dead-lettered one and one still leased when it is cancelled.
async fn two_searches_one_finished(q: &dyn Queue) -> Vec<String> {
    let ids: Vec<String> = q
        .enqueue(vec![
            job("gone", "a", 3.0),
            job("gone", "b", 2.0),
            job("gone", "c", 1.0),
        ])
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.job_id)
        .collect();
    q.enqueue(vec![job("kept", "k", 0.0)]).await.unwrap();
    let mut leases = q.claim("w", 2).await.unwrap();
    leases.extend(q.claim("w", 2).await.unwrap());
    let gone: Vec<_> = leases
        .into_iter()
        .filter(|l| l.job.search_id == "gone")
        .collect();
    assert_eq!(gone.len(), 3);
    q.complete(&gone[0], ok(0.5)).await.unwrap();
    q.fail(&gone[1], "bad genotype", FailKind::Permanent)
        .await
        .unwrap();
    q.cancel("gone").await.unwrap();
    ids
}

async fn retired_searches_go_and_sweep_clears_what_indexes_held(q: &dyn Queue) {
    let ids = two_searches_one_finished(q).await;
    q.heartbeat("w").await.unwrap();
    q.retire("gone", Duration::ZERO).await.unwrap();
    let swept = q.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!((swept.searches, swept.dead_letters), (1, 1), "{swept:?}");
    assert_eq!(swept.entries, 1, "the leased job's lease entry: {swept:?}");
    assert_eq!(swept.workers, 0, "a live worker stays");
    for id in &ids {
        assert_eq!(q.job_state(id).await.unwrap(), None, "{id}");
        assert_eq!(q.job_progress(id).await.unwrap(), None, "{id}");
    }
    assert_eq!(
        q.counts("gone").await.unwrap(),
        queue::SearchCounts::default()
    );
    assert!(q.results("gone", 0, 10).await.unwrap().is_empty());
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
    // The other search is untouched, and the retired id can be used again
    // (its dedupe keys and cancellation went with it).
    assert_eq!(
        q.counts("kept").await.unwrap().queued + q.counts("kept").await.unwrap().leased,
        1
    );
    let again = q.enqueue(vec![job("gone", "a", 0.0)]).await.unwrap();
    assert!(again[0].created);
    assert_eq!(
        q.sweep(Duration::from_secs(3600)).await.unwrap(),
        queue::Swept::default()
    );
}

async fn retired_searches_read_as_before_until_their_time(q: &dyn Queue) {
    let ids = two_searches_one_finished(q).await;
    q.retire("gone", Duration::from_millis(600)).await.unwrap();
    assert_eq!(
        q.sweep(Duration::from_secs(3600)).await.unwrap().searches,
        0
    );
    assert_eq!(q.job_state(&ids[0]).await.unwrap(), Some(JobState::Done));
    assert_eq!(q.results("gone", 0, 10).await.unwrap().len(), 2);
    assert_eq!(q.dead_letters(0, 10).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        q.sweep(Duration::from_secs(3600)).await.unwrap().searches,
        1
    );
    assert_eq!(q.job_state(&ids[0]).await.unwrap(), None);
    assert!(q.results("gone", 0, 10).await.unwrap().is_empty());
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
}

async fn sweep_drops_heartbeats_of_silent_workers(q: &dyn Queue) {
    q.heartbeat("old").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    q.heartbeat("new").await.unwrap();
    let swept = q.sweep(Duration::from_millis(150)).await.unwrap();
    assert_eq!(swept.workers, 1);
    assert_eq!(q.workers(Duration::from_secs(3600)).await.unwrap(), ["new"]);
}

/// How a test puts text that is not a job result into a search's result
/// log, as a broken or newer producer could.
#[async_trait::async_trait]
trait RawLog: Queue {
    async fn push_raw(&self, search: &str, text: &str);
}

#[async_trait::async_trait]
impl RawLog for MemoryQueue {
    async fn push_raw(&self, search: &str, text: &str) {
        self.push_raw_result(search, text);
    }
}

#[async_trait::async_trait]
impl RawLog for RedisQueue {
    async fn push_raw(&self, search: &str, text: &str) {
        let mut con = self.connection();
        let _: () = ::redis::AsyncCommands::rpush(&mut con, self.keys().log(search), text)
            .await
            .unwrap();
    }
}

/// Issue 15, defect 4: an entry of a search's result log that does not
/// decode is set aside (its index, its text, the job it names if it can be
/// read) and hides none of the others.
async fn an_undecodable_result_is_set_aside_and_hides_no_other(q: &dyn RawLog) {
    q.enqueue(vec![job("s", "a", 1.0), job("s", "b", 0.0)])
        .await
        .unwrap();
    let ls = q.claim("w", 2).await.unwrap();
    q.complete(&ls[0], ok(5.0)).await.unwrap();
    let newer = format!(
        r#"{{"v":9,"job_id":"{}","search_id":"s","attempt":1,"worker":"w","finished_ms":1,"outcome":{{"ok":{{"val_acc":6.0}}}}}}"#,
        ls[1].job.job_id
    );
    q.push_raw("s", &newer).await;
    q.push_raw("s", "not json").await;
    q.complete(&ls[1], ok(6.0)).await.unwrap();
    let page = q.results("s", 0, 10).await.expect("the log still reads");
    assert_eq!(page.len(), 4);
    let accs: Vec<Outcome> = page.results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(accs, [ok(5.0), ok(6.0)]);
    let bad = &page.undecodable;
    assert_eq!(bad.len(), 2);
    assert_eq!(
        (bad[0].index, bad[0].job_id.as_deref(), bad[0].raw.as_str()),
        (1, Some(ls[1].job.job_id.as_str()), newer.as_str())
    );
    assert!(bad[0].reason.contains("version 9"), "{}", bad[0].reason);
    assert_eq!((bad[1].index, bad[1].job_id.as_deref()), (2, None));
    // Paging from past them, and into their middle, works too.
    let tail = q.results("s", 2, 10).await.unwrap();
    assert_eq!(
        (tail.from, tail.len(), tail.undecodable[0].index),
        (2, 2, 2)
    );
    let order: Vec<bool> = page
        .entries()
        .map(|e| matches!(e, queue::LogEntry::Result(_)))
        .collect();
    assert_eq!(order, [true, false, false, true]);
}

#[tokio::test]
async fn memory_an_undecodable_result_is_set_aside_and_hides_no_other() {
    let q = MemoryQueue::new(config("mem"));
    an_undecodable_result_is_set_aside_and_hides_no_other(&q).await;
}

#[tokio::test]
async fn redis_an_undecodable_result_is_set_aside_and_hides_no_other() {
    let q = redis_queue("undecodable").await;
    an_undecodable_result_is_set_aside_and_hides_no_other(&q).await;
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let q = super::MemoryQueue::new(super::config("mem"));
                    super::$name(&q).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let q = super::redis_queue(stringify!($name)).await;
                    super::$name(&q).await;
                }
            )*
        }
    };
}

conformance!(
    enqueue_is_idempotent_per_search_and_key,
    claims_best_priority_first_and_fifo_on_ties,
    searches_share_workers_round_robin,
    expired_leases_are_redelivered_and_the_stale_worker_is_refused,
    failures_back_off_then_dead_letter_with_the_reason,
    permanent_failures_dead_letter_at_once,
    release_hands_the_job_back_at_once,
    cancel_drops_one_search_and_leaves_the_other,
    a_cancelled_search_s_reaped_job_is_cancelled_not_requeued,
    a_cancelled_search_s_released_job_is_cancelled_not_requeued,
    results_page_in_recording_order,
    heartbeats_list_live_workers,
    the_fleet_is_the_live_workers_with_their_cards,
    oversized_and_badly_named_jobs_are_refused,
    progress_notes_are_fenced_by_the_lease_and_outlive_it,
    oversized_results_are_refused_naming_the_job,
    long_failure_reasons_are_cut_to_fit_a_result,
    dead_letters_page_from_an_offset,
    retired_searches_go_and_sweep_clears_what_indexes_held,
    retired_searches_read_as_before_until_their_time,
    sweep_drops_heartbeats_of_silent_workers,
);

/// After a retired search is swept, Redis holds nothing that names it.
#[tokio::test]
async fn redis_retired_search_leaves_no_key_and_no_index_entry() {
    let q = redis_queue("retired_nothing_left").await;
    two_searches_one_finished(&q).await;
    q.retire("gone", Duration::ZERO).await.unwrap();
    q.sweep(Duration::from_secs(3600)).await.unwrap();
    let mut con = q.connection();
    let pattern = format!("{}:*", q.keys().prefix());
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(!key.contains("gone"), "{key} is left");
        let members: Vec<String> = match ::redis::cmd("TYPE")
            .arg(key)
            .query_async::<String>(&mut con)
            .await
            .unwrap()
            .as_str()
        {
            "zset" => ::redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .unwrap(),
            "set" => ::redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut con)
                .await
                .unwrap(),
            "list" => ::redis::cmd("LRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .unwrap(),
            _ => Vec::new(),
        };
        assert!(
            members.iter().all(|m| !m.starts_with("gone")),
            "{key} holds {members:?}"
        );
    }
}

/// A job whose stored envelope cannot be decoded (written by a broken or
/// newer producer) is dead-lettered by the claim with zero retries.
#[tokio::test]
async fn redis_malformed_envelope_is_dead_lettered_on_claim() {
    let q = redis_queue("malformed").await;
    let e = q
        .enqueue(vec![job("s", "g", 0.0), job("s", "h", 0.0)])
        .await
        .unwrap();
    let mut con = q.connection();
    let _: () =
        ::redis::AsyncCommands::hset(&mut con, q.keys().job(&e[0].job_id), "env", "{\"v\":7}")
            .await
            .unwrap();
    let leases = q.claim("w", 10).await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(key_of(&leases[0]), "h");
    let dl = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].attempt, 1);
    assert!(
        dl[0].reason.contains("unknown schema version 7"),
        "{}",
        dl[0].reason
    );
}

/// Redis killed under `appendfsync everysec` can come back without its last
/// second of writes, the token counter among them. A token handed out after
/// that must still be greater than every token handed out before, or a
/// stale worker's token could match a new lease.
#[tokio::test]
async fn redis_fencing_tokens_never_go_back_after_lost_writes() {
    let q = redis_queue("tokens").await;
    q.enqueue(vec![job("s", "a", 0.0), job("s", "b", 0.0)])
        .await
        .unwrap();
    let first = q.claim("w", 1).await.unwrap().remove(0);
    // The counter as a restart that lost the last second may leave it.
    let mut con = q.connection();
    let _: () = ::redis::AsyncCommands::set(&mut con, q.keys().token(), 0)
        .await
        .unwrap();
    let second = q.claim("w", 1).await.unwrap().remove(0);
    assert!(
        second.token > first.token,
        "token went back: {} after {}",
        second.token,
        first.token
    );
    // Stored as the integer the worker holds, so the compare-and-set holds.
    let stored: String =
        ::redis::AsyncCommands::hget(&mut con, q.keys().job(&second.job.job_id), "token")
            .await
            .unwrap();
    assert_eq!(stored, second.token.to_string());
    q.complete(&second, ok(0.5)).await.unwrap();
    q.complete(&first, ok(0.5)).await.unwrap();
}

/// Issue 15, defect 5a: when dead-lettering a malformed job fails, the
/// claim still returns the good leases it took in the same batch (they
/// would otherwise expire unworked and burn an attempt).
#[tokio::test]
async fn redis_a_failed_dead_lettering_keeps_the_claim_s_good_leases() {
    let q = redis_queue("claimfail").await;
    let e = q
        .enqueue(vec![
            job("s", "first", 2.0),
            job("s", "malformed", 1.0),
            job("s", "last", 0.0),
        ])
        .await
        .unwrap();
    let mut con = q.connection();
    let _: () =
        ::redis::AsyncCommands::hset(&mut con, q.keys().job(&e[1].job_id), "env", "{\"v\":7}")
            .await
            .unwrap();
    // The dead-letter list is not a list: dead-lettering fails.
    let _: () = ::redis::AsyncCommands::set(&mut con, q.keys().dlq(), "not a list")
        .await
        .unwrap();
    let leases = q.claim("w", 10).await.expect("the good leases come back");
    let keys: Vec<String> = leases.iter().map(key_of).collect();
    assert_eq!(keys, ["first", "last"]);
    // Nothing of the failed dead-lettering was kept: the malformed job is
    // still leased (the reaper takes it back), not dead and unlisted.
    assert_eq!(
        q.job_state(&e[1].job_id).await.unwrap(),
        Some(JobState::Leased)
    );
    assert_eq!(q.counts("s").await.unwrap().leased, 3);
    for l in &leases {
        q.complete(l, ok(1.0)).await.unwrap();
    }
}

/// A ready entry whose job hash is gone (its search retired under it) is
/// passed over: claim leases the others, and makes no hash of its own for
/// the missing job (one with no envelope and no search would have failed
/// the whole batch, and every reap after it).
#[tokio::test]
async fn redis_a_ready_entry_without_its_job_is_passed_over() {
    let q = redis_queue("gonejob").await;
    let e = q
        .enqueue(vec![job("s", "gone", 2.0), job("s", "kept", 1.0)])
        .await
        .unwrap();
    let mut con = q.connection();
    let gone = q.keys().job(&e[0].job_id);
    let _: () = ::redis::AsyncCommands::del(&mut con, &gone).await.unwrap();
    let leases = q.claim("w", 10).await.unwrap();
    let keys: Vec<String> = leases.iter().map(key_of).collect();
    assert_eq!(keys, ["kept"]);
    let exists: bool = ::redis::AsyncCommands::exists(&mut con, &gone)
        .await
        .unwrap();
    assert!(!exists, "claim made a hash for the missing job");
    assert_eq!(q.reap().await.unwrap(), (0, 0));
}

/// Issue 15, defect 5b: a job whose stored envelope names another job (and
/// another search) is dead-lettered under the search it is stored in, so
/// that search sees the dead event instead of waiting for it forever.
#[tokio::test]
async fn redis_a_job_naming_another_job_is_dead_lettered_under_its_stored_search() {
    let q = redis_queue("mismatch").await;
    let e = q.enqueue(vec![job("real", "g", 0.0)]).await.unwrap();
    let id = &e[0].job_id;
    let mut con = q.connection();
    let env: String = ::redis::AsyncCommands::hget(&mut con, q.keys().job(id), "env")
        .await
        .unwrap();
    let forged = env.replace("real", "other");
    assert_ne!(forged, env);
    let _: () = ::redis::AsyncCommands::hset(&mut con, q.keys().job(id), "env", forged)
        .await
        .unwrap();
    assert!(q.claim("w", 10).await.unwrap().is_empty());
    let dl = q.dead_letters(0, 10).await.unwrap();
    assert_eq!((dl.len(), dl[0].search_id.as_str()), (1, "real"));
    assert!(
        dl[0].reason.contains("names job other."),
        "{}",
        dl[0].reason
    );
    let events = q.results("real", 0, 10).await.unwrap().results;
    assert_eq!(events.len(), 1, "the real search hears of it");
    assert_eq!(events[0].job_id, *id);
    assert!(matches!(events[0].outcome, Outcome::Dead { .. }));
    assert!(q.results("other", 0, 10).await.unwrap().is_empty());
    let c = q.counts("real").await.unwrap();
    assert_eq!((c.dead, c.leased), (1, 0));
}

#[test]
fn redis_urls_never_print_their_password() {
    let u = RedisUrl::parse("redis://trainer:s3cret@redis.internal:6380/2").unwrap();
    assert_eq!(u.to_string(), "redis://trainer:***@redis.internal:6380/2");
    assert!(!format!("{u:?}").contains("s3cret"));
    assert_eq!(u.expose(), "redis://trainer:s3cret@redis.internal:6380/2");
    assert!(RedisUrl::parse("http://x")
        .unwrap_err()
        .contains("scheme \"http\""));
    assert!(RedisUrl::parse("rediss://u:p@h:1/0").is_ok());
    // A password from a file goes in percent-encoded, replacing any there,
    // and is hidden like any other.
    let u = RedisUrl::parse("redis://trainer@redis.internal:6380/2")
        .unwrap()
        .with_password("p@ss:w/rd%")
        .unwrap();
    assert_eq!(
        u.expose(),
        "redis://trainer:p%40ss%3Aw%2Frd%25@redis.internal:6380/2"
    );
    assert_eq!(u.to_string(), "redis://trainer:***@redis.internal:6380/2");
    let u = RedisUrl::parse("redis://:old@h:1/")
        .unwrap()
        .with_password("new")
        .unwrap();
    assert_eq!(u.expose(), "redis://:new@h:1/");
}
