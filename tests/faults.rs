//! The fault matrix beyond clean restarts: Redis killed without a flush,
//! the scheduler killed at a point proven to be mid-enqueue, an outage
//! longer than the lease, a partitioned trainer. Real processes against a
//! redis-server each test owns; every test ends with every candidate
//! recorded exactly once (0 lost, 0 duplicates).

#[path = "common/world.rs"]
mod world;

use queue::Queue;
use std::time::Duration;
use world::{finished, spec, until, OwnRedis, World};

/// Redis killed under `appendfsync everysec` by a power cut loses at most
/// the last second of acknowledged writes: finished jobs come back leased
/// or queued, results and checkpoints vanish, the fencing counter restarts
/// lower. (A SIGKILL of the process alone loses nothing: its writes are in
/// the kernel's page cache.) The test kills Redis and cuts its append-only
/// file back to where it stood most of a second earlier, twice, and shows
/// that acknowledged results were lost and the search still records every
/// candidate exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_losing_its_last_second_records_every_candidate_once() {
    let mut redis = OwnRedis::start();
    let mut w = World::on("rediskill", redis.url());
    w.lease_secs = 2.0;
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("t1", &["--slots", "3"]);
    w.trainer("t2", &["--slots", "3"]);
    let budget = 160;
    let id = w.submit(&spec("rediskill", budget, 12, 0.00004));
    let q = w.queue().await;
    let mut lost = 0;
    for at in [25u64, 80] {
        until("progress", Duration::from_secs(60), || async {
            (q.counts(&id).await.ok()?.done >= at).then_some(())
        })
        .await;
        let synced = redis.written();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let before = q.counts(&id).await.unwrap().done;
        redis.kill_losing_writes_after(synced);
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.restart();
        let after = until("redis back", Duration::from_secs(20), || async {
            q.counts(&id).await.ok().map(|c| c.done)
        })
        .await;
        assert!(
            after < before,
            "the cut lost acknowledged results ({before} done before, {after} after)"
        );
        lost += before - after;
    }
    let evals = finished(&w, &id, budget, Duration::from_secs(180)).await;
    assert_eq!(evals.len(), budget);
    w.assert_no_panics();
    eprintln!(
        "lost {lost} acknowledged results over two cuts; all were run again and recorded once"
    );
}

/// The scheduler killed with SIGKILL while one enqueue call is half done:
/// the failpoint pauses it after the first chunk of 256 jobs is in Redis
/// and before the rest are; the test proves the point (256 queued of 300)
/// and kills it there. A restarted scheduler completes the search with no
/// candidate lost or run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_sigkill_mid_enqueue_loses_and_doubles_nothing() {
    let redis = OwnRedis::start();
    let mut w = World::on("midenqueue", redis.url());
    let budget = 400;
    let id = w.submit(&spec("midenqueue", budget, 300, 0.00001));
    w.spawn_with(
        "paused",
        &["scheduler"],
        &[("FAILPOINTS", "enqueue-between-chunks=return")],
    );
    let q = w.queue().await;
    until(
        "the scheduler to pause mid-enqueue",
        Duration::from_secs(60),
        || async {
            w.log("paused")
                .contains("failpoint enqueue-between-chunks")
                .then_some(())
        },
    )
    .await;
    let counts = q.counts(&id).await.unwrap();
    assert_eq!(
        counts.queued, 256,
        "paused with the first chunk in and the rest out: {counts:?}"
    );
    w.kill("paused");
    w.spawn("scheduler", &["scheduler"]);
    w.trainer("t1", &["--slots", "4"]);
    w.trainer("t2", &["--slots", "4"]);
    finished(&w, &id, budget, Duration::from_secs(240)).await;
    w.assert_no_panics();
    assert!(
        w.log("scheduler").contains("resumed=true"),
        "{}",
        w.log("scheduler")
    );
}
