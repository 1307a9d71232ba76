//! The ranking service: one replica of `nas surrogate`. It takes a fit
//! permit, then pops one request from `<prefix>:surrogate:requests`
//! (BLPOP on a connection of its own), checks it, fits or reuses a model on
//! a blocking thread, and pushes the reply on the request's reply key with
//! a TTL, in one MULTI. Any number of replicas share the list.
//!
//! Bounded everywhere: a permit of `max_concurrent_fits` is held from
//! before the pop until the reply is pushed, so a replica never holds more
//! requests than it can fit at once; requests are capped in bytes and
//! candidates; a malformed request is answered with an error reply (or, with
//! no usable reply key, logged and dropped), never a crash.
//!
//! Shutdown stops popping (a pop in flight is never abandoned, so no request
//! is lost by it), lets the requests in hand finish within `drain`, and
//! logs those it had to abandon; their clients retry.

use crate::engine::{Engine, EngineConfig, Job};
use crate::wire::{RankReply, RankRequest, ReplyAddress, MAX_CANDIDATES};
use crate::SurrogateError;
use queue::keys::Keys;
use queue::RedisUrl;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// A replica's settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where Redis is.
    pub redis: RedisUrl,
    /// Key prefix.
    pub prefix: String,
    /// The most candidates one request may carry (at most 20,000).
    pub max_candidates: usize,
    /// Requests fitted or scored at once.
    pub max_concurrent_fits: usize,
    /// How long a reply stays on its key for the client to pop.
    pub reply_ttl: Duration,
    /// Fitting and caching.
    pub engine: EngineConfig,
    /// The longest single BLPOP (at most 10 s, below the connection's
    /// 30 s response timeout); shutdown is noticed within it.
    pub poll: Duration,
    /// How long requests in hand may finish after shutdown.
    pub drain: Duration,
    /// Give up connecting to Redis after this long.
    pub connect_timeout: Duration,
    /// This replica's name on the dashboard's fleet page.
    pub replica_id: String,
}

impl ServiceConfig {
    /// Defaults for the replica of Redis at `redis`.
    pub fn new(redis: RedisUrl) -> Self {
        Self {
            redis,
            prefix: "nas".into(),
            max_candidates: MAX_CANDIDATES,
            max_concurrent_fits: 2,
            reply_ttl: Duration::from_secs(120),
            engine: EngineConfig::default(),
            poll: Duration::from_secs(1),
            drain: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            replica_id: queue::wire::process_id(),
        }
    }
}

/// What a replica did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceReport {
    /// Requests answered with scores.
    pub ranked: u64,
    /// Requests answered with an error reply.
    pub refused: u64,
    /// Requests with no usable reply key, dropped.
    pub dropped: u64,
    /// Requests popped after their deadline, dropped unanswered (their
    /// client had stopped waiting).
    pub expired: u64,
    /// Requests in hand abandoned at shutdown.
    pub abandoned: u64,
}

/// How one request ended.
enum Outcome {
    Ranked,
    Refused,
    Dropped,
    Expired,
}

/// What every request task shares.
struct Shared {
    keys: Keys,
    engine: Engine,
    /// Pushes replies; the pop connection is kept for BLPOP alone.
    con: ConnectionManager,
    max_candidates: usize,
    reply_ttl: Duration,
}

/// How often a replica says it is alive (the dashboard shows replicas seen
/// in the last 10 s).
const REPLICA_BEAT: Duration = Duration::from_secs(2);

/// Entries of replicas silent for longer are dropped by the others.
const REPLICA_FORGET: Duration = Duration::from_secs(24 * 3600);

/// Say this replica is alive (`ZADD <p>:surrogate:replicas`), and drop the
/// entries of replicas silent for a day. A failure is logged only: the
/// requests' own calls say when Redis is away.
async fn beat(shared: &Shared, replica: &str) {
    let now = queue::now_ms();
    let key = shared.keys.surrogate_replicas();
    let mut con = shared.con.clone();
    let r: redis::RedisResult<()> = redis::pipe()
        .zadd(&key, replica, now)
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(format!(
            "({}",
            now.saturating_sub(REPLICA_FORGET.as_millis() as u64)
        ))
        .ignore()
        .query_async(&mut con)
        .await;
    if let Err(e) = r {
        tracing::warn!(key = %key, error = %e, "cannot record this replica's heartbeat");
    }
}

/// A connection of its own to `url` (with the CA of the URL, if any).
pub(crate) async fn connect(
    url: &RedisUrl,
    give_up: Duration,
) -> Result<ConnectionManager, SurrogateError> {
    url.connect_with_retry(give_up)
        .await
        .map_err(|source| SurrogateError::Connect {
            url: url.to_string(),
            source,
        })
}

/// Run one replica until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<ServiceReport, SurrogateError> {
    if config.max_concurrent_fits == 0 || config.max_candidates == 0 {
        return Err(SurrogateError::Config(
            "max_concurrent_fits and max_candidates must be at least 1".into(),
        ));
    }
    let engine = Engine::new(config.engine.clone())?;
    let mut pop = connect(&config.redis, config.connect_timeout).await?;
    let push = connect(&config.redis, config.connect_timeout).await?;
    let keys = Keys::new(config.prefix.clone());
    let requests = keys.surrogate_requests();
    let shared = Arc::new(Shared {
        keys,
        engine,
        con: push,
        max_candidates: config.max_candidates.min(MAX_CANDIDATES),
        reply_ttl: config.reply_ttl,
    });
    tracing::info!(
        redis = %config.redis,
        requests = %requests,
        max_concurrent_fits = config.max_concurrent_fits,
        "surrogate replica ready"
    );
    let permits = Arc::new(Semaphore::new(config.max_concurrent_fits));
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut report = ServiceReport::default();
    let mut backoff = Duration::from_millis(100);
    let mut next_beat = std::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        while let Some(done) = tasks.try_join_next() {
            count(&mut report, done);
        }
        if std::time::Instant::now() >= next_beat {
            next_beat = std::time::Instant::now() + REPLICA_BEAT;
            beat(&shared, &config.replica_id).await;
        }
        // A permit before popping: no free fit slot, no new request.
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                count(&mut report, done);
                continue;
            }
        };
        // Never cancel a BLPOP in flight: its element would be lost. Check
        // for shutdown between pops instead.
        if is_ready(&mut shutdown).await {
            break;
        }
        let popped: redis::RedisResult<Option<(String, Vec<u8>)>> = pop
            .blpop(&requests, config.poll.as_secs_f64().clamp(0.01, 10.0))
            .await;
        if popped.is_ok() {
            metrics::health().redis_ok();
        }
        match popped {
            Ok(Some((_, raw))) => {
                backoff = Duration::from_millis(100);
                tasks.spawn(handle(shared.clone(), raw, permit));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(key = %requests, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot pop surrogate requests; retrying");
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(jitter(backoff)) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::info!(in_hand = tasks.len(), "surrogate replica stopping");
    let drained = tokio::time::timeout(config.drain, async {
        let mut outcomes = Vec::new();
        while let Some(done) = tasks.join_next().await {
            outcomes.push(done);
        }
        outcomes
    });
    match drained.await {
        Ok(outcomes) => outcomes.into_iter().for_each(|o| count(&mut report, o)),
        Err(_) => {
            report.abandoned = tasks.len() as u64;
            let abandoned = metrics::surrogate()
                .requests
                .with_label_values(&["abandoned"]);
            abandoned.inc_by(report.abandoned);
            tracing::warn!(
                abandoned = tasks.len(),
                "requests still in hand after the drain period; their clients will retry"
            );
            tasks.abort_all();
        }
    }
    tracing::info!(?report, "surrogate replica stopped");
    Ok(report)
}

async fn is_ready(shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
    tokio::select! {
        biased;
        _ = shutdown => true,
        _ = std::future::ready(()) => false,
    }
}

fn count(report: &mut ServiceReport, done: Result<Outcome, tokio::task::JoinError>) {
    let label = match &done {
        Ok(Outcome::Ranked) => "ranked",
        Ok(Outcome::Refused) => "refused",
        Ok(Outcome::Dropped) => "dropped",
        Ok(Outcome::Expired) => "expired",
        Err(_) => "abandoned",
    };
    metrics::surrogate()
        .requests
        .with_label_values(&[label])
        .inc();
    match done {
        Ok(Outcome::Ranked) => report.ranked += 1,
        Ok(Outcome::Refused) => report.refused += 1,
        Ok(Outcome::Dropped) => report.dropped += 1,
        Ok(Outcome::Expired) => report.expired += 1,
        Err(e) => {
            report.abandoned += 1;
            tracing::error!(error = %e, "a surrogate request task failed");
        }
    }
}

fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    d.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Answer one popped request; the permit is released when it returns.
async fn handle(shared: Arc<Shared>, raw: Vec<u8>, _permit: OwnedSemaphorePermit) -> Outcome {
    let (request_id, reply_key, reply) = match RankRequest::decode(
        &raw,
        &shared.keys,
        shared.max_candidates,
    ) {
        Err(e) => match ReplyAddress::of(&raw, &shared.keys) {
            Some((id, key)) => {
                tracing::warn!(request = %id, error = %e, "refusing a surrogate request");
                let reply = RankReply::error(&id, e.to_string());
                (id, key, reply)
            }
            None => {
                tracing::warn!(bytes = raw.len(), error = %e, "dropping a surrogate request with no usable reply key");
                return Outcome::Dropped;
            }
        },
        Ok(checked) => {
            let r = checked.request;
            if let Some(deadline) = r.deadline_ms {
                let mut con = shared.con.clone();
                match queue::server_ms(&mut con).await {
                    Ok(now) if now > deadline => {
                        tracing::warn!(request = %r.request_id, search = %r.search_id, late_ms = now - deadline, "dropping a surrogate request popped after its deadline: its client stopped waiting");
                        return Outcome::Expired;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(request = %r.request_id, error = %e, "cannot read the server's clock; answering the request anyway")
                    }
                }
            }
            let job = Job {
                search: r.search_id.clone(),
                space: r.space,
                predictor: r.predictor,
                seed: r.seed,
                training: checked.training,
                fidelity: checked.fidelity,
                candidates: checked.candidates,
            };
            let reply = match shared.engine.rank(job).await {
                Ok(ranking) => RankReply::ok(&r.request_id, ranking),
                Err(e) => {
                    tracing::warn!(request = %r.request_id, search = %r.search_id, error = %e, "surrogate request failed");
                    RankReply::error(&r.request_id, e.to_string())
                }
            };
            (r.request_id, r.reply_key, reply)
        }
    };
    let outcome = match reply.body {
        crate::wire::ReplyBody::Ok { .. } => Outcome::Ranked,
        crate::wire::ReplyBody::Error { .. } => Outcome::Refused,
    };
    let (json, outcome) = match reply.encode() {
        Ok(json) => (json, outcome),
        Err(e) => {
            // An error reply always fits: its reason is cut.
            tracing::error!(request = %request_id, error = %e, "cannot encode a surrogate reply");
            match RankReply::error(&request_id, e.to_string()).encode() {
                Ok(json) => (json, Outcome::Refused),
                Err(_) => return Outcome::Dropped,
            }
        }
    };
    let ttl = shared.reply_ttl.as_secs().max(1) as i64;
    let mut con = shared.con.clone();
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=3 {
        let pushed: redis::RedisResult<()> = redis::pipe()
            .atomic()
            .rpush(&reply_key, &json)
            .ignore()
            .expire(&reply_key, ttl)
            .ignore()
            .query_async(&mut con)
            .await;
        match pushed {
            Ok(()) => return outcome,
            Err(e) => {
                tracing::warn!(request = %request_id, key = %reply_key, attempt, error = %e, "cannot push a surrogate reply");
                tokio::time::sleep(jitter(delay)).await;
                delay *= 2;
            }
        }
    }
    Outcome::Dropped
}
