//! The fault matrix beyond clean restarts: Redis killed without a flush,
//! the scheduler killed at a point proven to be mid-enqueue, an outage
//! longer than the lease, a partitioned trainer. Real processes against a
//! redis-server each test owns; every test ends with every candidate
//! recorded exactly once (0 lost, 0 duplicates).

#[path = "common/world.rs"]
mod world;

use queue::Queue;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
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
        redis::AsyncCommands::hget(&mut con, q.keys().stats(), "outage_requeues")
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

/// What a finished search left in its archive, once its archived state
/// says done: (evaluations logged, distinct candidates among them, the
/// state's own count of results taken: evaluated + failed + retaken).
/// The log drops a repeat of the same outcome, so the state's count is what
/// shows a result taken twice.
fn archived(w: &World, id: &str) -> Option<(usize, usize, u64)> {
    let dir = w.results_dir().join(id);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).ok()?).ok()?;
    if state["status"] != "done" {
        return None;
    }
    let taken = ["evaluated", "failed", "retaken"]
        .iter()
        .map(|k| state[*k].as_u64().unwrap_or(0))
        .sum();
    let log = std::fs::read_to_string(dir.join("evaluations.jsonl")).ok()?;
    let mut seen = BTreeSet::new();
    let mut lines = 0;
    for line in log.lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("an evaluation per line");
        seen.insert((e["stage"].to_string(), e["hash"].to_string()));
        lines += 1;
    }
    Some((lines, seen.len(), taken))
}

/// Every key under the world's prefix.
async fn keys_under(w: &World) -> Option<BTreeSet<String>> {
    let q = w.queue().await;
    let mut con = q.connection();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", w.prefix))
        .query_async(&mut con)
        .await
        .ok()?;
    // Running workers' cards expire with them (queue::keys::worker_card).
    Some(
        keys.into_iter()
            .filter(|k| !k.contains(":q:worker:"))
            .collect(),
    )
}

/// The soak: 10,000 table jobs over four searches (NAS_SOAK_JOBS to
/// change), two trainers and a scheduler keeping no finished search
/// (retention 0), while a seeded schedule (NAS_SOAK_SEED) SIGKILLs a
/// trainer, the scheduler or Redis every 8 to 20 s (Redis losing the
/// writes of its last 0.8 s, as a power cut under `appendfsync everysec`
/// does), each restarted at once. It ends with every candidate of every
/// search recorded exactly once in its archive and Redis holding only the
/// deployment's own keys. Prints the summary line docs/BENCHMARKS.md quotes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_ten_thousand_jobs_through_seeded_kills_of_every_part() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (total, seed) = (
        env("NAS_SOAK_JOBS", 10_000) as usize,
        env("NAS_SOAK_SEED", 15),
    );
    let searches = 4;
    let budget = total / searches;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let started = Instant::now();
    let mut redis = OwnRedis::start();
    let mut w = World::on("soak", redis.url());
    w.lease_secs = 2.0;
    let mut generation = 0;
    let mut fresh = |what: &str| {
        generation += 1;
        format!("{what}-{generation}")
    };
    let scheduler_args = ["scheduler", "--retention-days", "0"];
    let mut scheduler = fresh("scheduler");
    w.spawn(&scheduler, &scheduler_args);
    let mut trainers = [fresh("trainer"), fresh("trainer")];
    for t in &trainers {
        w.trainer(t, &["--slots", "4"]);
    }
    // Evaluations of about 0.2 s (the table's time x 0.00012): eight slots
    // take about five minutes over 10,000 of them.
    let ids: Vec<String> = (0..searches)
        .map(|i| w.submit(&spec(&format!("soak{i}"), budget, 32, 0.00012)))
        .collect();
    let q = w.queue().await;
    let done_in_redis = || async {
        let mut done = 0;
        for id in &ids {
            done += q.counts(id).await.ok()?.done;
        }
        Some(done)
    };
    let (mut kills, mut lost_acks) = ([0usize; 3], 0u64);
    let mut next = Instant::now() + Duration::from_secs(rng.random_range(8..=20));
    let limit = Duration::from_secs(20 * 60);
    loop {
        if ids.iter().all(|id| archived(&w, id).is_some()) {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "the soak did not finish within {limit:?} (kills {kills:?})"
        );
        if Instant::now() >= next {
            let kind = rng.random_range(0..3usize);
            match kind {
                0 => {
                    let i = rng.random_range(0..trainers.len());
                    w.kill(&trainers[i]);
                    trainers[i] = fresh("trainer");
                    w.trainer(&trainers[i], &["--slots", "4"]);
                }
                1 => {
                    w.kill(&scheduler);
                    scheduler = fresh("scheduler");
                    w.spawn(&scheduler, &scheduler_args);
                }
                _ => {
                    let synced = redis.written();
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    let before = done_in_redis().await.unwrap_or(0);
                    redis.kill_losing_writes_after(synced);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    redis.restart();
                    let after = until("redis back", Duration::from_secs(30), done_in_redis).await;
                    lost_acks += before.saturating_sub(after);
                }
            }
            kills[kind] += 1;
            next = Instant::now() + Duration::from_secs(rng.random_range(8..=20));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut lost, mut duplicates, mut recorded) = (0, 0, 0);
    for id in &ids {
        let (lines, distinct, taken) = archived(&w, id).unwrap();
        recorded += distinct;
        lost += budget - distinct.min(budget);
        duplicates += (lines - distinct) + (taken as usize).saturating_sub(distinct);
    }
    // Retention 0: finished searches leave only the deployment's own keys
    // (the sweep of shared indexes runs every minute).
    let global = BTreeSet::from(q.keys().deployment_keys());
    let left = until(
        "only the deployment's keys",
        Duration::from_secs(150),
        || async {
            let keys = keys_under(&w).await?;
            keys.is_subset(&global).then_some(keys.len())
        },
    )
    .await;
    w.assert_no_panics();
    let summary = format!(
        "soak: {recorded} jobs over {searches} searches, kills: trainer {}, scheduler {}, redis {} \
         ({lost_acks} acknowledged results lost with Redis and run again), lost {lost}, \
         duplicates {duplicates}, {left} keys left, wall {:.0} s (seed {seed})",
        kills[0],
        kills[1],
        kills[2],
        started.elapsed().as_secs_f64()
    );
    eprintln!("{summary}");
    assert_eq!((lost, duplicates), (0, 0), "{summary}");
    assert_eq!(recorded, budget * searches, "{summary}");
    assert!(
        kills.iter().all(|&k| k > 0),
        "every part was killed: {summary}"
    );
}
