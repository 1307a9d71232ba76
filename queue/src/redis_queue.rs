//! The Redis backend: every multi-key transition is one function of the
//! `nasq` Redis Functions library (`lua/`, see [`crate::functions`]),
//! called with `FCALL`; single-key reads are plain commands.

use crate::functions::{self, Function};
use crate::keys::Keys;
use crate::wire::{self, Envelope, Pool, ResultPage};
use crate::{
    envelope_for, result_for, DeadLetter, Enqueued, FailKind, FailOutcome, JobState, Lease, NewJob,
    Outcome, Queue, QueueConfig, QueueError, Result, SearchCounts, Swept,
};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A Redis URL (`redis://`, `rediss://`, with optional ACL user and
/// password) that never shows its password: `Display` and `Debug` print
/// `***` in its place, so it is safe in logs and errors.
///
/// For `rediss://` the server certificate is checked against the system's
/// trust store, or against the CA of [`RedisUrl::with_ca_file`] (a private
/// CA, as in the tests and most self-hosted deployments).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// The URL as given, password included: never printed.
    url: String,
    /// A PEM CA certificate to trust for `rediss://` (a private CA).
    ca_file: Option<std::path::PathBuf>,
}

impl RedisUrl {
    /// Parse and check the scheme.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let u = url::Url::parse(s).map_err(|e| format!("invalid redis url: {e}"))?;
        match u.scheme() {
            "redis" | "rediss" | "redis+unix" | "unix" => Ok(Self {
                url: s.to_string(),
                ca_file: None,
            }),
            other => Err(format!(
                "invalid redis url: scheme {other:?} is not redis or rediss"
            )),
        }
    }

    /// This URL with `password` in it, in place of any there (read from a
    /// file, so that no command line shows it); percent-encoded in the
    /// URL, decoded again by the client.
    pub fn with_password(mut self, password: &str) -> std::result::Result<Self, String> {
        let mut u = url::Url::parse(&self.url).map_err(|e| format!("invalid redis url: {e}"))?;
        // Every byte but the unreserved ones encoded: the url crate leaves
        // '%' as it is, which the client would then decode.
        let encoded: String = password
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        u.set_password(Some(&encoded))
            .map_err(|()| format!("the redis url {self} cannot hold a password"))?;
        self.url = u.into();
        Ok(self)
    }

    /// Trust the PEM CA certificate in `path` for `rediss://`.
    pub fn with_ca_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.ca_file = path;
        self
    }

    /// The URL with its secret, for the client only.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// A connection to this URL, with the timeouts every daemon uses.
    pub async fn connect(&self) -> Result<ConnectionManager> {
        let cm_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(30)))
            // Few retries inside the connection: our own loops retry with a
            // logged warning each time, so an outage is never silent.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        Ok(ConnectionManager::new_with_config(self.client()?, cm_config).await?)
    }

    /// [`RedisUrl::connect`], retried as [`RedisQueue::connect_with_retry`]
    /// does, for clients that do not use the queue's functions (the
    /// surrogate service).
    pub async fn connect_with_retry(&self, give_up_after: Duration) -> Result<ConnectionManager> {
        with_retry(self, give_up_after, || self.connect()).await
    }

    /// A client for this URL.
    fn client(&self) -> Result<redis::Client> {
        let Some(ca) = &self.ca_file else {
            return Ok(redis::Client::open(self.expose())?);
        };
        let pem = std::fs::read(ca).map_err(|e| {
            QueueError::Redis(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "cannot read the redis CA file",
                format!("{}: {e}", ca.display()),
            )))
        })?;
        // One crypto provider is compiled in (ring); make it the process
        // default so that rustls never has to guess.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(redis::Client::build_with_tls(
            self.expose(),
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            },
        )?)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                f.write_str(u.as_str())
            }
            Err(_) => f.write_str("<invalid url>"),
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s)
    }
}

/// The queue's single keys, and the kinds of its per-job and per-search
/// keys (`<p>:<kind>:<id>`), that the layout before `<p>:q:` kept directly
/// under the prefix.
const OLD_SINGLE_KEYS: [&str; 8] = [
    "rr", "rrseq", "leases", "delayed", "dlq", "token", "stats", "workers",
];
const OLD_PER_ID_KEYS: [&str; 4] = ["job", "ready", "log", "count"];

/// The transitions of the `nasq` functions library (crate::functions).
struct Scripts {
    enqueue: Function,
    claim: Function,
    renew: Function,
    complete: Function,
    fail: Function,
    release: Function,
    reap: Function,
    replay: Function,
    cancel: Function,
    progress: Function,
    retire: Function,
    sweep: Function,
    alive: Function,
}

impl Scripts {
    fn new(may_load: bool) -> Self {
        let f = |name| Function::new(name).loading(may_load);
        Self {
            enqueue: f("enqueue"),
            claim: f("claim"),
            renew: f("renew"),
            complete: f("complete"),
            fail: f("fail"),
            release: f("release"),
            reap: f("reap"),
            replay: f("replay"),
            cancel: f("cancel"),
            progress: f("progress"),
            retire: f("retire"),
            sweep: f("sweep"),
            alive: f("alive"),
        }
    }
}

/// Call `connect` until it works or `give_up_after` has passed, with capped
/// exponential backoff and a warning per failed try.
async fn with_retry<T, F, Fut>(url: &RedisUrl, give_up_after: Duration, mut connect: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match connect().await {
            Ok(v) => return Ok(v),
            Err(e @ QueueError::FunctionsVersion { .. }) => return Err(e),
            Err(e @ QueueError::FunctionsMissing(_)) if start.elapsed() + delay < give_up_after => {
                tracing::warn!(redis = %url, error = %e, retry_in_ms = delay.as_millis() as u64, "the queue functions are not loaded yet; retrying");
                tokio::time::sleep(delay).await;
                // Short steps: the loader is starting, not Redis failing.
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) if start.elapsed() + delay < give_up_after => {
                tracing::warn!(redis = %url, error = %e, retry_in_ms = delay.as_millis() as u64, "redis unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The round-robin sets of the pools other than builtin (sweep.lua's
/// trailing keys).
fn other_pools(k: &Keys) -> Vec<String> {
    Pool::ALL
        .into_iter()
        .filter(|&p| p != Pool::Builtin)
        .map(|p| k.rr_of(p))
        .collect()
}

/// An enqueue that would put one search's jobs in two pools: a trainer of
/// one pool would then pop the other's jobs from the search's ready set.
pub(crate) fn mixed_pools(search: &str) -> QueueError {
    QueueError::Corrupt(format!(
        "the jobs of search {search} are in more than one pool (builtin and python evaluators mixed)"
    ))
}

/// Most jobs one enqueue script call adds.
const ENQUEUE_CHUNK: usize = 256;

/// Keys and the memory they use in Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Footprint {
    /// Keys that exist.
    pub keys: u64,
    /// Bytes, as Redis' MEMORY USAGE counts them.
    pub bytes: u64,
}

impl std::ops::AddAssign for Footprint {
    fn add_assign(&mut self, o: Self) {
        self.keys += o.keys;
        self.bytes += o.bytes;
    }
}

/// Most retired searches one sweep script clears, so that one call stays
/// short; `sweep` calls it again until fewer come back.
const SWEEP_BATCH: u64 = 100;

/// The queue on a Redis server. Cloning shares the connection, which
/// reconnects by itself after Redis restarts; calls made while it is down
/// fail with a transient [`QueueError::Redis`].
#[derive(Clone)]
pub struct RedisQueue {
    con: ConnectionManager,
    keys: Keys,
    config: QueueConfig,
    scripts: Arc<Scripts>,
    url: RedisUrl,
}

impl fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisQueue")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish()
    }
}

impl RedisQueue {
    /// Connect once and make sure Redis holds this build's queue functions
    /// (loading them if missing and [`QueueConfig::load_functions`]); fails if Redis cannot be reached now or
    /// holds another version of the functions.
    pub async fn connect(url: &RedisUrl, config: QueueConfig) -> Result<Self> {
        let mut con = url.connect().await?;
        functions::ensure(&mut con, config.load_functions).await?;
        Ok(Self::unchecked(con, url, config))
    }

    /// Surrogate replicas seen within `within` (id, last seen ms), most
    /// recent first; the replicas announce themselves in
    /// [`Keys::surrogate_replicas`].
    pub async fn surrogate_replicas(&self, within: Duration) -> Result<Vec<(String, u64)>> {
        self.seen_since(&self.keys.surrogate_replicas(), within)
            .await
    }

    /// The members of the heartbeat set `key` scored within `within` of
    /// now, with their scores (ms), most recent first.
    async fn seen_since(&self, key: &str, within: Duration) -> Result<Vec<(String, u64)>> {
        let mut con = self.con.clone();
        let since = crate::now_ms().saturating_sub(within.as_millis() as u64);
        let seen: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(key)
            .arg(since)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut con)
            .await?;
        let mut out: Vec<(String, u64)> = seen.into_iter().map(|(id, t)| (id, t as u64)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// The queue over `con` without checking the functions in Redis: for
    /// `nas migrate-keys`, which replaces them and reads keys meanwhile.
    pub fn unchecked(con: ConnectionManager, url: &RedisUrl, config: QueueConfig) -> Self {
        Self {
            con,
            keys: Keys::new(config.prefix.clone()),
            scripts: Arc::new(Scripts::new(config.load_functions)),
            config,
            url: url.clone(),
        }
    }

    /// Connect, retrying with capped exponential backoff and a warning per
    /// failed try, until it works or `give_up_after` has passed. Another
    /// version of the functions in Redis is not retried: it will not go
    /// away by itself.
    pub async fn connect_with_retry(
        url: &RedisUrl,
        config: QueueConfig,
        give_up_after: Duration,
    ) -> Result<Self> {
        with_retry(url, give_up_after, || Self::connect(url, config.clone())).await
    }

    /// The URL (password hidden when printed).
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The key names in use.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A handle on the shared connection, for callers that keep their own
    /// keys next to the queue's (the scheduler's search records).
    pub fn connection(&self) -> ConnectionManager {
        self.con.clone()
    }

    /// The queue's keys under their names before they moved under `<p>:q:`
    /// (nas before the least-privilege layout), each with its new name.
    /// Empty on a deployment that never ran the old layout.
    pub async fn old_layout(&self) -> Result<Vec<(String, String)>> {
        let mut con = self.con.clone();
        let p = self.keys.prefix();
        let mut old = Vec::new();
        for name in OLD_SINGLE_KEYS {
            let key = format!("{p}:{name}");
            if con.exists(&key).await? {
                old.push(key);
            }
        }
        for kind in OLD_PER_ID_KEYS {
            old.extend(self.scan_keys(&format!("{p}:{kind}:*")).await?);
        }
        old.sort();
        old.dedup();
        let cut = p.len() + 1;
        Ok(old
            .into_iter()
            .map(|k| {
                let new = format!("{p}:q:{}", &k[cut..]);
                (k, new)
            })
            .collect())
    }

    /// Move the old layout's keys (see [`RedisQueue::old_layout`]) to their
    /// new names. Run with every daemon of the deployment stopped. A new
    /// key that exists already is kept where it holds live state (a job,
    /// a result log) and the move refused, naming it; the fencing counter
    /// keeps the larger of the two; counters and heartbeats written by a
    /// new daemon meanwhile give way to the old ones. Returns the moves made.
    pub async fn migrate_layout(&self) -> Result<Vec<(String, String)>> {
        let mut con = self.con.clone();
        let moves = self.old_layout().await?;
        let token = format!("{}:token", self.keys.prefix());
        for (old, new) in &moves {
            if *old == token {
                let (a, b): (Option<String>, Option<String>) = redis::pipe()
                    .get(old)
                    .get(new)
                    .query_async(&mut con)
                    .await?;
                let parse = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                let last = parse(a).max(parse(b));
                redis::pipe()
                    .set(new, last.to_string())
                    .del(old)
                    .query_async::<()>(&mut con)
                    .await?;
                continue;
            }
            let replaceable = [self.keys.stats(), self.keys.workers()].contains(new);
            let moved: bool = if replaceable {
                redis::cmd("RENAME")
                    .arg(old)
                    .arg(new)
                    .query_async::<()>(&mut con)
                    .await?;
                true
            } else {
                redis::cmd("RENAMENX")
                    .arg(old)
                    .arg(new)
                    .query_async(&mut con)
                    .await?
            };
            if !moved {
                return Err(QueueError::Corrupt(format!(
                    "cannot move {old} to {new}: {new} exists already (a daemon of this version ran on the old layout's data); nothing after it was moved"
                )));
            }
        }
        Ok(moves)
    }

    /// How many keys, and how much memory (Redis' MEMORY USAGE), the
    /// deployment holds under its prefix.
    pub async fn footprint(&self) -> Result<Footprint> {
        let keys = self.scan_keys(&format!("{}:*", self.keys.prefix())).await?;
        self.footprint_of(&keys).await
    }

    /// Every key matching the glob `pattern`, sorted, read with SCAN (a
    /// thousand at a time, never blocking Redis as KEYS would).
    pub async fn scan_keys(&self, pattern: &str) -> Result<Vec<String>> {
        let mut con = self.con.clone();
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut con)
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// How many of `keys` exist and how much memory they use.
    pub async fn footprint_of(&self, keys: &[String]) -> Result<Footprint> {
        let mut con = self.con.clone();
        let mut out = Footprint::default();
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.cmd("MEMORY").arg("USAGE").arg(k);
            }
            let sizes: Vec<Option<u64>> = pipe.query_async(&mut con).await?;
            for size in sizes.into_iter().flatten() {
                out.keys += 1;
                out.bytes += size;
            }
        }
        Ok(out)
    }

    /// The queue's keys of one search: its jobs and its ready set, result
    /// log, counts, dedupe keys and job counter (what `retire` lets go).
    pub async fn search_keys(&self, search: &str) -> Result<Vec<String>> {
        wire::validate_id("search", search)?;
        let k = &self.keys;
        let mut con = self.con.clone();
        let n: Option<u64> = con.get(k.jobseq(search)).await?;
        let mut keys: Vec<String> = (1..=n.unwrap_or(0))
            .map(|i| k.job(&wire::JobId::format(search, i)))
            .collect();
        keys.extend([
            k.ready(search),
            k.log(search),
            k.count(search),
            k.dedupe(search),
            k.jobseq(search),
        ]);
        Ok(keys)
    }

    fn stale(lease: &Lease) -> QueueError {
        QueueError::Stale {
            job_id: lease.job.job_id.clone(),
            token: lease.token,
        }
    }

    /// The fail transition, for a lease or for a job that could not even
    /// be decoded into one.
    async fn fail_raw(
        &self,
        job_id: &str,
        search_id: &str,
        token: u64,
        attempt: u32,
        reason: &str,
        kind: FailKind,
    ) -> Result<FailOutcome> {
        let k = &self.keys;
        let mut con = self.con.clone();
        let delay = self.config.backoff(attempt).as_millis() as u64;
        let r: Vec<i64> = self
            .scripts
            .fail
            .key(k.job(job_id))
            .key(k.leases())
            .key(k.delayed())
            .key(k.dlq())
            .key(k.log(search_id))
            .arg(k.prefix())
            .arg(job_id)
            .arg(token)
            .arg(wire::cut_reason(reason).as_ref())
            .arg(if kind == FailKind::Retryable {
                "1"
            } else {
                "0"
            })
            .arg(self.config.max_attempts)
            .arg(delay)
            .invoke_async(&mut con)
            .await?;
        match r.as_slice() {
            [-1] => Err(QueueError::Stale {
                job_id: job_id.into(),
                token,
            }),
            [0] => Ok(FailOutcome::Dead),
            [1, at] => Ok(FailOutcome::Retrying { at_ms: *at as u64 }),
            other => Err(QueueError::Corrupt(format!("fail.lua returned {other:?}"))),
        }
    }
}

#[async_trait]
impl Queue for RedisQueue {
    fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let mut by_search: Vec<(String, Pool, Vec<usize>)> = Vec::new();
        for (i, j) in jobs.iter().enumerate() {
            let pool = j.pool();
            match by_search.iter_mut().find(|(s, _, _)| *s == j.search_id) {
                Some((_, p, _)) if *p != pool => return Err(mixed_pools(&j.search_id)),
                Some((_, _, v)) => v.push(i),
                None => by_search.push((j.search_id.clone(), pool, vec![i])),
            }
        }
        let mut out = vec![None; jobs.len()];
        let mut con = self.con.clone();
        for (search, pool, idx) in by_search {
            // Keep one script call bounded in size.
            let chunks = idx.chunks(ENQUEUE_CHUNK).count();
            for (n, chunk) in idx.chunks(ENQUEUE_CHUNK).enumerate() {
                if n > 0 {
                    // Proven mid-enqueue: some of this call's jobs are in,
                    // the rest are not (the fault tests kill a paused
                    // scheduler here).
                    fail::fail_point!("enqueue-between-chunks", |_| {
                        tracing::warn!(search = %search, chunk = n, chunks, "failpoint enqueue-between-chunks: pausing until killed");
                        loop {
                            std::thread::park();
                        }
                    });
                }
                let mut inv = self.scripts.enqueue.prepare_invoke();
                inv.key(self.keys.dedupe(&search))
                    .key(self.keys.jobseq(&search))
                    .key(self.keys.cancelled())
                    .arg(self.keys.prefix())
                    .arg(&search)
                    .arg(pool.key_name());
                for &i in chunk {
                    let j = &jobs[i];
                    let env = envelope_for(j)?.encode()?;
                    inv.arg(&j.dedupe_key).arg(-j.priority).arg(env);
                }
                let r: std::result::Result<Vec<(String, u8)>, redis::RedisError> =
                    inv.invoke_async(&mut con).await;
                let r = match r {
                    Err(e) if e.to_string().contains("is cancelled") => {
                        return Err(QueueError::Cancelled(search))
                    }
                    other => other?,
                };
                for (&i, (job_id, created)) in chunk.iter().zip(r) {
                    out[i] = Some(Enqueued {
                        job_id,
                        created: created == 1,
                    });
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|e| e.expect("every job enqueued"))
            .collect())
    }

    async fn claim_from(&self, worker: &str, max: usize, pools: &[Pool]) -> Result<Vec<Lease>> {
        let k = &self.keys;
        let mut con = self.con.clone();
        let raw: Vec<(String, u64, u64, u32, String, String)> = self
            .scripts
            .claim
            .key(k.rrseq())
            .key(k.leases())
            .key(k.token())
            .key(pools.iter().map(|&p| k.rr_of(p)).collect::<Vec<_>>())
            .arg(k.prefix())
            .arg(worker)
            .arg(self.config.lease.as_millis() as u64)
            .arg(max)
            .invoke_async(&mut con)
            .await?;
        let mut out = Vec::with_capacity(raw.len());
        for (job_id, token, deadline_ms, attempt, env, sid) in raw {
            let reason = match Envelope::decode(&env) {
                Ok(mut job) if job.job_id == job_id && job.search_id == sid => {
                    job.attempt = attempt;
                    out.push(Lease {
                        job,
                        token,
                        deadline_ms,
                        worker: worker.to_string(),
                    });
                    continue;
                }
                Ok(job) => format!(
                    "envelope names job {} of search {} but is stored as {job_id} of search {sid}",
                    job.job_id, job.search_id
                ),
                Err(e) => e.to_string(),
            };
            // Under the search the job is stored in, never the one its
            // envelope names: that search's scheduler waits for the dead
            // event. A failure here must not lose this claim's other
            // leases, which would lapse unworked and burn an attempt; this
            // job's own lease lapses, and the reaper brings it back.
            tracing::warn!(job = %job_id, search = %sid, %reason, "dead-lettering malformed job");
            if let Err(e) = self
                .fail_raw(&job_id, &sid, token, attempt, &reason, FailKind::Permanent)
                .await
            {
                tracing::warn!(job = %job_id, search = %sid, error = %e, "dead-lettering the malformed job failed; its lease will lapse and the job come back");
            }
        }
        Ok(out)
    }

    async fn renew(&self, lease: &Lease) -> Result<u64> {
        let mut con = self.con.clone();
        let r: i64 = self
            .scripts
            .renew
            .key(self.keys.job(&lease.job.job_id))
            .key(self.keys.leases())
            .arg(&lease.job.job_id)
            .arg(lease.token)
            .arg(self.config.lease.as_millis() as u64)
            .arg(self.keys.prefix())
            .invoke_async(&mut con)
            .await?;
        if r < 0 {
            return Err(Self::stale(lease));
        }
        Ok(r as u64)
    }

    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<()> {
        let result = result_for(lease, outcome).encode()?;
        let mut con = self.con.clone();
        let r: i64 = self
            .scripts
            .complete
            .key(self.keys.job(&lease.job.job_id))
            .key(self.keys.leases())
            .key(self.keys.log(&lease.job.search_id))
            .arg(self.keys.prefix())
            .arg(&lease.job.job_id)
            .arg(lease.token)
            .arg(result)
            .invoke_async(&mut con)
            .await?;
        if r < 0 {
            return Err(Self::stale(lease));
        }
        Ok(())
    }

    async fn fail(&self, lease: &Lease, reason: &str, kind: FailKind) -> Result<FailOutcome> {
        let j = &lease.job;
        self.fail_raw(
            &j.job_id,
            &j.search_id,
            lease.token,
            j.attempt,
            reason,
            kind,
        )
        .await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let mut con = self.con.clone();
        let r: i64 = self
            .scripts
            .release
            .key(self.keys.job(&lease.job.job_id))
            .key(self.keys.leases())
            .arg(self.keys.prefix())
            .arg(&lease.job.job_id)
            .arg(lease.token)
            .invoke_async(&mut con)
            .await?;
        if r < 0 {
            return Err(Self::stale(lease));
        }
        Ok(())
    }

    async fn reap(&self) -> Result<(u64, u64)> {
        let mut con = self.con.clone();
        let (requeued, dead): (u64, u64) = self
            .scripts
            .reap
            .key(self.keys.leases())
            .key(self.keys.dlq())
            .key(self.keys.stats())
            .arg(self.keys.prefix())
            .arg(self.config.max_attempts)
            .arg(1000)
            .invoke_async(&mut con)
            .await?;
        Ok((requeued, dead))
    }

    async fn alive(&self) -> Result<()> {
        let mut con = self.con.clone();
        let _: i64 = self
            .scripts
            .alive
            .key(self.keys.stats())
            .arg(self.keys.prefix())
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn check_functions(&self) -> Result<()> {
        let mut con = self.con.clone();
        match functions::loaded_version(&mut con).await? {
            Some(found) if found != functions::FUNCTIONS_VERSION => {
                Err(QueueError::FunctionsVersion {
                    found,
                    expected: functions::FUNCTIONS_VERSION.into(),
                })
            }
            // Missing: the next call loads it again.
            _ => Ok(()),
        }
    }

    async fn results(&self, search: &str, from: u64, max: usize) -> Result<ResultPage> {
        if max == 0 {
            return Ok(ResultPage {
                from,
                ..ResultPage::default()
            });
        }
        let mut con = self.con.clone();
        let raw: Vec<String> = con
            .lrange(
                self.keys.log(search),
                from as isize,
                (from as isize) + max as isize - 1,
            )
            .await?;
        Ok(ResultPage::decode(from, raw))
    }

    async fn counts(&self, search: &str) -> Result<SearchCounts> {
        let mut con = self.con.clone();
        let m: HashMap<String, i64> = con.hgetall(self.keys.count(search)).await?;
        let get = |s: &str| m.get(s).copied().unwrap_or(0).max(0) as u64;
        Ok(SearchCounts {
            queued: get("queued"),
            leased: get("leased"),
            delayed: get("delayed"),
            done: get("done"),
            dead: get("dead"),
            cancelled: get("cancelled"),
        })
    }

    async fn progress(&self, lease: &Lease, note: &str) -> Result<()> {
        wire::ProgressNote::validate(note)?;
        let mut con = self.con.clone();
        let r: i64 = self
            .scripts
            .progress
            .key(self.keys.job(&lease.job.job_id))
            .arg(lease.token)
            .arg(note)
            .invoke_async(&mut con)
            .await?;
        if r < 0 {
            return Err(Self::stale(lease));
        }
        Ok(())
    }

    async fn job_progress(&self, job_id: &str) -> Result<Option<String>> {
        let mut con = self.con.clone();
        Ok(con.hget(self.keys.job(job_id), "progress").await?)
    }

    async fn job_state(&self, job_id: &str) -> Result<Option<JobState>> {
        let mut con = self.con.clone();
        let s: Option<String> = con.hget(self.keys.job(job_id), "state").await?;
        s.map(|s| s.parse()).transpose()
    }

    async fn dead_letter_count(&self) -> Result<usize> {
        let mut con = self.con.clone();
        Ok(con.llen(self.keys.dlq()).await?)
    }

    async fn dead_letters(&self, from: usize, max: usize) -> Result<Vec<DeadLetter>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut con = self.con.clone();
        let last = from.saturating_add(max - 1).min(isize::MAX as usize);
        let ids: Vec<String> = con
            .lrange(
                self.keys.dlq(),
                from.min(isize::MAX as usize) as isize,
                last as isize,
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for the page, not one per job.
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.job(id))
                .arg(&["sid", "attempt", "reason", "env"]);
        }
        type Fields = (Option<String>, Option<u32>, Option<String>, Option<String>);
        let rows: Vec<Fields> = pipe.query_async(&mut con).await?;
        Ok(ids
            .into_iter()
            .zip(rows)
            // A job of a retired search may be gone; the next sweep drops
            // its entry.
            .filter(|(_, (sid, _, _, env))| sid.is_some() || env.is_some())
            .map(|(id, (sid, attempt, reason, env))| DeadLetter {
                job_id: id,
                search_id: sid.unwrap_or_default(),
                attempt: attempt.unwrap_or(0),
                reason: reason.unwrap_or_default(),
                envelope: env.unwrap_or_default(),
            })
            .collect())
    }

    async fn replay(&self, job_id: &str) -> Result<bool> {
        let mut con = self.con.clone();
        let r: i64 = self
            .scripts
            .replay
            .key(self.keys.job(job_id))
            .key(self.keys.dlq())
            .key(self.keys.cancelled())
            .arg(self.keys.prefix())
            .arg(job_id)
            .invoke_async(&mut con)
            .await?;
        match r {
            1 => Ok(true),
            -1 => {
                let sid: Option<String> = con.hget(self.keys.job(job_id), "sid").await?;
                Err(QueueError::Cancelled(sid.unwrap_or_default()))
            }
            _ => Ok(false),
        }
    }

    async fn cancel(&self, search: &str) -> Result<u64> {
        wire::validate_search_id("search", search)?;
        let mut con = self.con.clone();
        let n: u64 = self
            .scripts
            .cancel
            .key(self.keys.cancelled())
            .key(self.keys.ready(search))
            .key(Pool::ALL.map(|p| self.keys.rr_of(p)).to_vec())
            .arg(self.keys.prefix())
            .arg(search)
            .invoke_async(&mut con)
            .await?;
        Ok(n)
    }

    async fn heartbeat(&self, worker: &str) -> Result<()> {
        let mut con = self.con.clone();
        let _: () = con
            .zadd(self.keys.workers(), worker, crate::now_ms())
            .await?;
        Ok(())
    }

    async fn workers(&self, within: Duration) -> Result<Vec<String>> {
        let mut con = self.con.clone();
        let since = crate::now_ms().saturating_sub(within.as_millis() as u64);
        Ok(con
            .zrangebyscore(self.keys.workers(), since, "+inf")
            .await?)
    }

    async fn announce(&self, card: &wire::WorkerCard, ttl: Duration) -> Result<()> {
        wire::validate_id("worker", &card.id)?;
        let text = card.encode()?;
        let mut con = self.con.clone();
        let _: () = redis::cmd("SET")
            .arg(self.keys.worker_card(&card.id))
            .arg(text)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut con)
            .await?;
        Ok(())
    }

    async fn fleet(&self, within: Duration) -> Result<Vec<wire::WorkerSeen>> {
        let seen = self.seen_since(&self.keys.workers(), within).await?;
        if seen.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for every card.
        let mut mget = redis::cmd("MGET");
        for (id, _) in &seen {
            mget.arg(self.keys.worker_card(id));
        }
        let mut con = self.con.clone();
        let cards: Vec<Option<String>> = mget.query_async(&mut con).await?;
        Ok(seen
            .into_iter()
            .zip(cards)
            .map(|((id, seen_ms), card)| {
                let card = card.and_then(|text| match wire::WorkerCard::decode(&text) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(worker = %id, error = %e, "worker card left out");
                        None
                    }
                });
                wire::WorkerSeen { id, seen_ms, card }
            })
            .collect())
    }

    async fn redeliveries(&self) -> Result<u64> {
        let mut con = self.con.clone();
        let n: Option<u64> = con.hget(self.keys.stats(), "redeliveries").await?;
        Ok(n.unwrap_or(0))
    }

    async fn retire(&self, search: &str, keep: Duration) -> Result<()> {
        wire::validate_id("search", search)?;
        let mut con = self.con.clone();
        let _: u64 = self
            .scripts
            .retire
            .key(self.keys.jobseq(search))
            .key(self.keys.retired())
            .arg(self.keys.prefix())
            .arg(search)
            .arg(keep.as_millis() as u64)
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn sweep(&self, silent_for: Duration) -> Result<Swept> {
        let k = &self.keys;
        let mut con = self.con.clone();
        let cutoff = crate::now_ms().saturating_sub(silent_for.as_millis() as u64);
        let mut total = Swept::default();
        loop {
            let [searches, dead_letters, entries, workers]: [u64; 4] = self
                .scripts
                .sweep
                .key(k.retired())
                .key(k.rr())
                .key(k.cancelled())
                .key(k.dlq())
                .key(k.leases())
                .key(k.delayed())
                .key(k.workers())
                .key(other_pools(k))
                .arg(cutoff)
                .arg(SWEEP_BATCH)
                .invoke_async(&mut con)
                .await?;
            total.searches += searches;
            total.dead_letters += dead_letters;
            total.entries += entries;
            total.workers += workers;
            if searches < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }
}
