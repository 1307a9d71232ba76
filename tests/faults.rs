//! The fault matrix beyond clean restarts: Redis killed without a flush,
//! the scheduler killed at a point proven to be mid-enqueue, an outage
//! longer than the lease, a partitioned trainer. Real processes against a
//! redis-server each test owns; every test ends with every candidate
//! recorded exactly once (0 lost, 0 duplicates).

#[path = "common/world.rs"]
mod world;

use queue::Queue;
use std::time::Duration;
use world::{finished, spec, until, Netns, OwnRedis, World};

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

/// Redis out of reach for four times the lease (stopped, then started on
/// the same data) while trainers hold leases. Every lease expires during
/// the outage; none of those expiries is the job's fault, so none may burn
/// an attempt: with `--max-attempts 1` each would otherwise be
/// dead-lettered at once. The trainers stop the jobs they can no longer
/// renew, and the search finishes with every candidate evaluated once and
/// nothing dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_lease_burns_no_attempt() {
    let mut redis = OwnRedis::start();
    let mut w = World::on("outage", redis.url());
    w.lease_secs = 2.0;
    let once = ["--max-attempts", "1"];
    w.spawn("scheduler", &["scheduler", "--max-attempts", "1"]);
    w.trainer("t1", &["--slots", "3", once[0], once[1]]);
    w.trainer("t2", &["--slots", "3", once[0], once[1]]);
    // Evaluations of 1.4 to 8.6 s (4.5 s at the median): most outlive the
    // lease, so that the outage finds them running.
    let budget = 30;
    let id = w.submit(&spec("outage", budget, 6, 0.0025));
    let q = w.queue().await;
    let held = until(
        "leases held mid-search",
        Duration::from_secs(60),
        || async {
            let c = q.counts(&id).await.ok()?;
            (c.done >= 6 && c.leased >= 3).then_some(c.leased)
        },
    )
    .await;
    redis.stop("TERM");
    tokio::time::sleep(Duration::from_secs(8)).await;
    redis.restart();
    let evals = finished(&w, &id, budget, Duration::from_secs(180)).await;
    let dead: Vec<&str> = evals
        .iter()
        .filter(|e| matches!(e.outcome, queue::Outcome::Dead { .. }))
        .map(|e| e.job_id.as_str())
        .collect();
    assert!(
        dead.is_empty(),
        "jobs dead-lettered by the outage: {dead:?}"
    );
    // A connection made before the restart would report the broken pipe once.
    let q = w.queue().await;
    assert!(q.dead_letters(0, 10).await.unwrap().is_empty());
    let mut con = q.connection();
    let requeued: Option<u64> =
        redis::AsyncCommands::hget(&mut con, format!("{}:stats", w.prefix), "outage_requeues")
            .await
            .unwrap();
    assert!(
        requeued.unwrap_or(0) >= 1,
        "{held} leases were held when Redis went away; none came back as an outage's"
    );
    let lapsed = w.log("t1") + &w.log("t2");
    assert!(
        lapsed.contains("lease lapsed while Redis was out of reach"),
        "the trainers stop jobs they can no longer renew"
    );
    w.assert_no_panics();
    eprintln!(
        "{held} leases held through an 8 s outage (lease 2 s), {} handed back without an attempt",
        requeued.unwrap_or(0)
    );
}

/// A partition between one trainer and Redis, made with a network
/// namespace and a veth pair: the trainer in the namespace reaches Redis
/// at the pair's link-local address, the scheduler and a second trainer at
/// 127.0.0.1. The pair goes down while the far trainer holds leases
/// (packets dropped, nothing refused) and comes back after three times the
/// lease. Its leases expire and are taken over by the near trainer; the
/// results it finished meanwhile reach Redis after the heal and are
/// refused by fencing; every candidate is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_trainer_s_late_results_are_refused_and_recorded_once() {
    let ns = Netns::create();
    let redis = OwnRedis::start_also_on(&[&ns.host_addr]);
    let mut w = World::on("partition", redis.url());
    w.lease_secs = 2.0;
    w.spawn("scheduler", &["scheduler"]);
    let far_url = format!("redis://{}:{}/", ns.host_addr, redis.port);
    w.spawn_wrapped(
        "far",
        &ns.exec(),
        &["trainer", "--worker-id", "far", "--slots", "3"],
        &[("REDIS_URL", &far_url)],
    );
    let budget = 40;
    let id = w.submit(&spec("partition", budget, 3, 0.0003));
    let q = w.queue().await;
    until(
        "the far trainer to hold leases",
        Duration::from_secs(60),
        || async {
            let c = q.counts(&id).await.ok()?;
            (c.done >= 3 && c.leased == 3).then_some(())
        },
    )
    .await;
    ns.partition();
    w.trainer("near", &["--slots", "3"]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    ns.heal();
    finished(&w, &id, budget, Duration::from_secs(180)).await;
    let far = w.log("far");
    let refused = far
        .lines()
        .filter(|l| l.contains("complete refused") && l.contains("no longer held"))
        .count();
    assert!(
        refused >= 1,
        "the far trainer's late results are refused by fencing:\n{far}"
    );
    w.assert_no_panics();
    eprintln!(
        "{refused} late results of the partitioned trainer refused; every candidate recorded once"
    );
}
