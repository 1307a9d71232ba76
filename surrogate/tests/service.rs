//! The ranking service end to end over a real Redis (REDIS_URL, which
//! scripts/test.sh exports): replicas run in-process, clients push requests
//! as the scheduler would. Each test uses its own key prefix.

use queue::keys::Keys;
use queue::RedisUrl;
use rand::Rng;
use redis::AsyncCommands;
use space::{Genotype, PnasOp, Space};
use std::time::Duration;
use surrogate::wire::{RankReply, RankRequest, ReplyBody, TrainingPair, SURROGATE_SCHEMA_VERSION};
use surrogate::{
    client, EngineConfig, FitConfig, InProcessRanker, PredictorKind, RankOptions, Ranker,
    RedisRanker, ServiceConfig, ServiceReport, SurrogateError,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn redis_url() -> RedisUrl {
    let url = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set: run the tests through scripts/test.sh, which starts a private redis-server",
    );
    RedisUrl::parse(&url).unwrap()
}

fn prefix(test: &str) -> String {
    format!("test:surrogate:{test}:{}", std::process::id())
}

async fn connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url().expose())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn engine() -> EngineConfig {
    EngineConfig {
        fit: FitConfig {
            embedding: 16,
            hidden: 16,
            members: 3,
            epochs: 20,
            learning_rate: 0.01,
            ..FitConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// A replica running in this process, stopped by dropping or sending on `stop`.
struct Replica {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<ServiceReport, SurrogateError>>,
}

impl Replica {
    fn start(prefix: &str, edit: impl FnOnce(&mut ServiceConfig)) -> Self {
        let mut config = ServiceConfig {
            prefix: prefix.to_string(),
            engine: engine(),
            poll: Duration::from_millis(200),
            drain: Duration::from_secs(10),
            ..ServiceConfig::new(redis_url())
        };
        edit(&mut config);
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(surrogate::run(config, async {
            let _ = rx.await;
        }));
        Self { stop, task }
    }

    async fn stop(self) -> ServiceReport {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap()
    }
}

fn pnas_acc(g: &Genotype) -> f64 {
    let Genotype::Pnas(c) = g else { panic!("pnas") };
    c.blocks()
        .iter()
        .flat_map(|b| [b.op1, b.op2])
        .map(|op| match op {
            PnasOp::Sep3x3 | PnasOp::Sep5x5 => 3.0,
            PnasOp::MaxPool3x3 | PnasOp::AvgPool3x3 => -3.0,
            _ => 0.0,
        })
        .sum::<f64>()
        + 80.0
}

fn pnas(n: usize, blocks: usize, seed: u64) -> Vec<Genotype> {
    let mut rng = space::rng(seed);
    (0..n)
        .map(|_| {
            Space::Pnas {
                blocks: rng.random_range(1..=blocks),
            }
            .sample(&mut rng)
            .unwrap()
        })
        .collect()
}

fn training(n: usize, seed: u64) -> Vec<(Genotype, f64)> {
    pnas(n, 2, seed)
        .into_iter()
        .map(|g| {
            let a = pnas_acc(&g);
            (g, a)
        })
        .collect()
}

const SPACE: Space = Space::Pnas { blocks: 3 };

fn request(keys: &Keys, id: &str, candidates: usize) -> RankRequest {
    RankRequest {
        deadline_ms: None,
        v: SURROGATE_SCHEMA_VERSION,
        request_id: id.into(),
        reply_key: keys.surrogate_reply(id),
        search_id: "s1".into(),
        space: SPACE,
        predictor: PredictorKind::Lstm,
        seed: 1,
        training: training(40, 1)
            .iter()
            .map(|(g, a)| TrainingPair {
                genotype: g.to_string(),
                accuracy: *a,
                fidelity: None,
            })
            .collect(),
        candidates: pnas(candidates, 3, 2)
            .iter()
            .map(|g| g.to_string())
            .collect(),
    }
}

/// Push `raw` as a request and pop the reply to `id`.
async fn exchange(
    con: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    id: &str,
    raw: &[u8],
) -> RankReply {
    let _: () = con.rpush(keys.surrogate_requests(), raw).await.unwrap();
    let (_, reply): (String, Vec<u8>) = con.blpop(keys.surrogate_reply(id), 30.0).await.unwrap();
    RankReply::decode(&reply).unwrap()
}

/// A replica's and the in-process ranker's scores for one request agree.
fn assert_same_scores(a: &surrogate::Ranking, b: &surrogate::Ranking, what: &str) {
    assert_eq!(a.scores.len(), b.scores.len(), "{what}");
    for (x, y) in a.scores.iter().zip(&b.scores) {
        assert!((x - y).abs() < 1e-6, "{what}, same scores: {x} vs {y}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_ranks_as_the_in_process_ranker_does() {
    let p = prefix("end_to_end");
    let replica = Replica::start(&p, |_| {});
    let options = RankOptions {
        predictor: PredictorKind::Mlp,
        seed: 4,
    };
    let remote = RedisRanker::connect(&redis_url(), &p, options, Duration::from_secs(30))
        .await
        .unwrap();
    let local = InProcessRanker::new(engine(), options, 1).unwrap();
    let train = training(60, 3);
    let candidates = pnas(300, 3, 4);
    let a = remote
        .rank("s1", SPACE, None, &train, &[], &candidates)
        .await
        .unwrap();
    let b = local
        .rank("s1", SPACE, None, &train, &[], &candidates)
        .await
        .unwrap();
    assert_eq!(a.version, 60);
    assert_eq!(a.scores.len(), 300);
    assert!(
        a.spreads.iter().all(|s| *s > 0.0),
        "an ensemble's members disagree"
    );
    assert_same_scores(&a, &b, "same request");
    // The same search asking again with the same results reuses the model.
    let again = remote
        .rank("s1", SPACE, None, &train, &[], &candidates)
        .await
        .unwrap();
    assert_eq!(again, a);
    // A search may name another predictor than the ranker's default: both
    // rankers fit that one, alike.
    let onehot = Some(PredictorKind::OneHot);
    let c = remote
        .rank("s1", SPACE, onehot, &train, &[], &candidates)
        .await
        .unwrap();
    let d = local
        .rank("s1", SPACE, onehot, &train, &[], &candidates)
        .await
        .unwrap();
    assert_ne!(c.scores, a.scores, "another predictor, other scores");
    assert_same_scores(&c, &d, "onehot");
    // Results of a multi-fidelity search's lower rungs travel with their
    // fidelity: both rankers fit the same model, another than without.
    let fidelity: Vec<f64> = (0..train.len())
        .map(|i| if i % 3 == 0 { 1.0 } else { 1.0 / 9.0 })
        .collect();
    let e = remote
        .rank("s1", SPACE, None, &train, &fidelity, &candidates)
        .await
        .unwrap();
    let f = local
        .rank("s1", SPACE, None, &train, &fidelity, &candidates)
        .await
        .unwrap();
    assert_ne!(e.scores, a.scores, "the fidelities change the fit");
    assert_same_scores(&e, &f, "fidelity");
    // New results: a new version.
    let more = training(80, 3);
    assert_eq!(
        remote
            .rank("s1", SPACE, None, &more, &[], &candidates)
            .await
            .unwrap()
            .version,
        80
    );
    // The reply keys expire.
    let mut con = connection().await;
    let keys: Vec<String> = con.keys(format!("{p}:surrogate:reply:*")).await.unwrap();
    assert!(keys.is_empty(), "replies are popped: {keys:?}");
    let report = replica.stop().await;
    assert_eq!(
        report,
        ServiceReport {
            ranked: 5,
            ..Default::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replica_the_client_times_out_after_one_retry() {
    let p = prefix("timeout");
    let keys = Keys::new(&p);
    let mut con = connection().await;
    let r = request(&keys, "r1", 3);
    let started = std::time::Instant::now();
    let err = client::rank(&mut con, &p, &r, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(
        matches!(&err, SurrogateError::Timeout { request_id, attempts: 2, timeout_ms: 300 } if request_id == "r1"),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("is a `nas surrogate` replica running?"));
    // Both copies were taken back unanswered: nothing piles up.
    let waiting: usize = con.llen(keys.surrogate_requests()).await.unwrap();
    assert_eq!(waiting, 0, "unanswered requests are taken back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_popped_after_its_deadline_is_dropped_unanswered() {
    let p = prefix("deadline");
    let keys = Keys::new(&p);
    let mut con = connection().await;
    let now = queue::server_ms(&mut con).await.unwrap();
    let mut late = request(&keys, "late", 3);
    late.deadline_ms = Some(now - 1);
    let mut timely = request(&keys, "timely", 3);
    timely.deadline_ms = Some(now + 60_000);
    let _: () = con
        .rpush(keys.surrogate_requests(), late.encode(&keys, 100).unwrap())
        .await
        .unwrap();
    let replica = Replica::start(&p, |_| {});
    let reply = exchange(
        &mut con,
        &keys,
        "timely",
        &timely.encode(&keys, 100).unwrap(),
    )
    .await;
    assert!(matches!(reply.body, ReplyBody::Ok { .. }), "{reply:?}");
    let late_reply: bool = con.exists(keys.surrogate_reply("late")).await.unwrap();
    assert!(!late_reply, "no reply to a request past its deadline");
    let report = replica.stop().await;
    assert_eq!((report.ranked, report.expired), (1, 1), "{report:?}");
    let waiting: usize = con.llen(keys.surrogate_requests()).await.unwrap();
    assert_eq!(waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_lost_with_its_replica_is_answered_after_the_retry() {
    let p = prefix("lost");
    let keys = Keys::new(&p);
    // A "replica" that pops the first copy and dies with it.
    let mut thief = connection().await;
    let requests = keys.surrogate_requests();
    let stolen = tokio::spawn(async move {
        let popped: Option<(String, Vec<u8>)> = thief.blpop(&requests, 10.0).await.unwrap();
        popped.is_some()
    });
    let r = request(&keys, "r2", 5);
    let mut con = connection().await;
    let client = tokio::spawn({
        let p = p.clone();
        async move { client::rank(&mut con, &p, &r, Duration::from_millis(1500)).await }
    });
    assert!(stolen.await.unwrap(), "the first copy was taken");
    let replica = Replica::start(&p, |_| {});
    let ranking = client.await.unwrap().unwrap();
    assert_eq!((ranking.scores.len(), ranking.version), (5, 40));
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_get_error_replies_and_the_replica_lives_on() {
    let p = prefix("malformed");
    let keys = Keys::new(&p);
    let replica = Replica::start(&p, |c| c.max_candidates = 10);
    let mut con = connection().await;

    // A candidate that is not a PNAS cell: the reply names it.
    let mut bad = request(&keys, "bad1", 3);
    bad.candidates[1] = "(0,sep_3x3,7,identity)".into();
    let reply = exchange(&mut con, &keys, "bad1", &serde_json::to_vec(&bad).unwrap()).await;
    let ReplyBody::Error { reason } = reply.body else {
        panic!("an error reply")
    };
    assert!(
        reason.starts_with("candidate 1: block 1: input 7"),
        "{reason}"
    );

    // Unknown schema version.
    let mut future = request(&keys, "bad2", 3);
    future.v = 2;
    let reply = exchange(
        &mut con,
        &keys,
        "bad2",
        &serde_json::to_vec(&future).unwrap(),
    )
    .await;
    assert!(
        matches!(&reply.body, ReplyBody::Error { reason } if reason.contains("unknown schema version 2")),
        "{reply:?}"
    );

    // More candidates than this replica takes.
    let many = request(&keys, "bad3", 11);
    let reply = exchange(&mut con, &keys, "bad3", &serde_json::to_vec(&many).unwrap()).await;
    assert!(
        matches!(&reply.body, ReplyBody::Error { reason } if reason.contains("11 candidates is over the limit of 10")),
        "{reply:?}"
    );

    // Over 4 MiB: refused by the client before it is sent, and by the
    // replica when someone sends it anyway.
    let mut huge = request(&keys, "bad4", 1);
    huge.candidates[0] = "x".repeat(surrogate::wire::MAX_REQUEST_BYTES);
    let err = huge.encode(&keys, 10).unwrap_err();
    assert!(
        err.to_string().contains("over the 4194304-byte limit"),
        "{err}"
    );
    let reply = exchange(&mut con, &keys, "bad4", &serde_json::to_vec(&huge).unwrap()).await;
    assert!(
        matches!(&reply.body, ReplyBody::Error { reason } if reason.contains("over the 4194304-byte limit")),
        "{reply:?}"
    );

    // Not JSON, and a reply key that is not ours: dropped, not answered.
    let _: () = con
        .rpush(keys.surrogate_requests(), "not json")
        .await
        .unwrap();
    let foreign = br#"{"request_id":"bad5","reply_key":"elsewhere"}"#;
    let _: () = con
        .rpush(keys.surrogate_requests(), &foreign[..])
        .await
        .unwrap();

    // No training results: an error reply, not a crash.
    let mut empty = request(&keys, "bad6", 2);
    empty.training.clear();
    let reply = exchange(
        &mut con,
        &keys,
        "bad6",
        &serde_json::to_vec(&empty).unwrap(),
    )
    .await;
    assert!(
        matches!(&reply.body, ReplyBody::Error { reason } if reason == "no training results to fit the surrogate on"),
        "{reply:?}"
    );

    // And it still serves.
    let good = request(&keys, "good", 4);
    let reply = exchange(&mut con, &keys, "good", &serde_json::to_vec(&good).unwrap()).await;
    assert!(
        matches!(&reply.body, ReplyBody::Ok { scores, .. } if scores.len() == 4),
        "{reply:?}"
    );
    let ttl: i64 = con.ttl(keys.surrogate_reply("never")).await.unwrap();
    assert_eq!(ttl, -2);
    let report = replica.stop().await;
    assert_eq!(
        report,
        ServiceReport {
            ranked: 1,
            refused: 5,
            dropped: 2,
            expired: 0,
            abandoned: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_error_reaches_the_client_by_name() {
    let p = prefix("remote_error");
    let replica = Replica::start(&p, |_| {});
    let ranker = RedisRanker::connect(
        &redis_url(),
        &p,
        RankOptions::default(),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let err = ranker
        .rank("s1", SPACE, None, &[], &[], &pnas(2, 1, 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SurrogateError::Remote { reason, .. } if reason == "no training results to fit the surrogate on"),
        "{err}"
    );
    replica.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_requests() {
    let p = prefix("two");
    let a = Replica::start(&p, |c| c.max_concurrent_fits = 1);
    let b = Replica::start(&p, |c| c.max_concurrent_fits = 1);
    let ranker = std::sync::Arc::new(
        RedisRanker::connect(
            &redis_url(),
            &p,
            RankOptions::default(),
            Duration::from_secs(60),
        )
        .await
        .unwrap(),
    );
    let mut calls = Vec::new();
    for search in 0..6 {
        let ranker = ranker.clone();
        calls.push(tokio::spawn(async move {
            let train = training(150, search);
            ranker
                .rank(
                    &format!("s{search}"),
                    SPACE,
                    None,
                    &train,
                    &[],
                    &pnas(50, 3, search),
                )
                .await
        }));
    }
    for call in calls {
        let ranking = call.await.unwrap().unwrap();
        assert_eq!((ranking.scores.len(), ranking.version), (50, 150));
    }
    let (ra, rb) = (a.stop().await, b.stop().await);
    assert_eq!(ra.ranked + rb.ranked, 6);
    assert!(
        ra.ranked > 0 && rb.ranked > 0,
        "both replicas served: {ra:?} {rb:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_rankings_are_split_into_requests_within_the_limits() {
    let p = prefix("split");
    let replica = Replica::start(&p, |c| c.max_candidates = 100);
    let options = RankOptions::default();
    let ranker = RedisRanker::connect(&redis_url(), &p, options, Duration::from_secs(30))
        .await
        .unwrap()
        .with_max_candidates(100);
    let train = training(30, 5);
    let candidates = pnas(250, 3, 6);
    assert_eq!(
        ranker
            .requests("s1", SPACE, None, &train, &[], &candidates)
            .unwrap()
            .len(),
        3
    );
    let remote = ranker
        .rank("s1", SPACE, None, &train, &[], &candidates)
        .await
        .unwrap();
    let local = InProcessRanker::new(engine(), options, 1).unwrap();
    let whole = local
        .rank("s1", SPACE, None, &train, &[], &candidates)
        .await
        .unwrap();
    assert_eq!(remote.scores.len(), 250);
    assert_same_scores(&remote, &whole, "split in chunks");
    let report = replica.stop().await;
    assert_eq!(report.ranked, 3, "one fit, two cache hits: {report:?}");
}
