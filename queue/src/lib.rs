//! The `nas` job queue: at-least-once delivery with exactly-once effect.
//!
//! A producer (the scheduler) enqueues jobs per search, idempotently per
//! deduplication key and with a priority; workers (trainers) claim jobs under
//! a lease with a fencing token, renew it while they work, and complete,
//! fail or release it. Completing and failing are compare-and-set on the
//! token, so a worker whose lease expired and was reassigned cannot write.
//! Expired leases are reaped and redelivered; failures retry with capped
//! exponential backoff and jitter, then land in the dead-letter list.
//! Searches share workers round robin, so a large search cannot starve a
//! small one.
//!
//! Two backends implement [`Queue`]: [`RedisQueue`] (every multi-key
//! transition one function of the `nasq` Redis Functions library built
//! from `lua/`, which every client calls: the Python worker too) and
//! [`MemoryQueue`] for the
//! embedded single-process mode. One conformance suite (`tests/`) runs
//! against both.

mod clock;
pub mod functions;
mod memory;
mod redis_queue;

pub mod keys;
pub mod wire;

pub use clock::{now_ms, server_ms};
pub use memory::MemoryQueue;
pub use redis_queue::{Footprint, RedisQueue, RedisUrl};
pub use wire::{
    Envelope, JobKind, JobResult, LogEntry, Outcome, ResultPage, Scores, Undecodable, WireError,
};

use async_trait::async_trait;
use std::time::Duration;
use thiserror::Error;

/// Settings shared by every user of one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Key prefix in Redis.
    pub prefix: String,
    /// How long a claim holds a job before it may be redelivered; workers
    /// renew every third of it.
    pub lease: Duration,
    /// Deliveries before a failing job is dead-lettered.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_cap: Duration,
    /// Whether this client loads the queue functions when Redis lacks them
    /// (the scheduler, `nas submit`, the bench). Trainers leave it false
    /// and wait for a loader: the least trusted role never writes code into
    /// Redis that the other roles then run with their rights, and under
    /// the ACL deployment it is not allowed to.
    pub load_functions: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            prefix: "nas".into(),
            lease: Duration::from_secs(30),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            load_functions: true,
        }
    }
}

impl QueueConfig {
    /// The backoff before retrying after failed attempt `attempt` (from 1):
    /// base x 2^(attempt-1), capped, with jitter drawn uniformly from the
    /// upper half so that failing workers do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.backoff_cap);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// A job to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The search it belongs to.
    pub search_id: String,
    /// Enqueueing the same key twice in one search yields the same job
    /// (for candidates: the stage and the canonical genotype hash).
    pub dedupe_key: String,
    /// What to do.
    pub kind: JobKind,
    /// Higher is trained first within the search.
    pub priority: f64,
    /// The kind's payload.
    pub payload: serde_json::Value,
}

impl NewJob {
    /// The pool of trainers that may claim this job.
    pub fn pool(&self) -> wire::Pool {
        wire::Pool::of(self.kind, &self.payload)
    }
}

/// What enqueue did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id (the existing one if the key was already enqueued).
    pub job_id: String,
    /// False if the dedupe key was already in the search.
    pub created: bool,
}

/// A claimed job: the worker holds it until the deadline unless it renews.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// The job, with `attempt` set to this delivery.
    pub job: Envelope,
    /// Fencing token: every write about this job must present it.
    pub token: u64,
    /// Lease deadline, ms since the epoch by the queue's clock.
    pub deadline_ms: u64,
    /// Who holds it.
    pub worker: String,
}

/// Whether a failure may succeed on retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Retry after a backoff, up to the attempt limit.
    Retryable,
    /// Never retry (malformed payload, unknown genotype): dead-letter now.
    Permanent,
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again once the backoff ends.
    Retrying {
        /// When, ms since the epoch.
        at_ms: u64,
    },
    /// In the dead-letter list.
    Dead,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Held by a worker.
    Leased,
    /// Waiting out a retry backoff.
    Delayed,
    /// Finished, result recorded.
    Done,
    /// In the dead-letter list.
    Dead,
    /// Dropped with its search.
    Cancelled,
}

impl std::str::FromStr for JobState {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "leased" => Self::Leased,
            "delayed" => Self::Delayed,
            "done" => Self::Done,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            other => return Err(QueueError::Corrupt(format!("unknown job state {other:?}"))),
        })
    }
}

/// How many of a search's jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchCounts {
    /// Waiting for a worker.
    pub queued: u64,
    /// Held by workers.
    pub leased: u64,
    /// Waiting out a backoff.
    pub delayed: u64,
    /// Finished.
    pub done: u64,
    /// Dead-lettered.
    pub dead: u64,
    /// Dropped by cancel.
    pub cancelled: u64,
}

/// What [`Queue::sweep`] cleared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Retired searches whose index entries were cleared.
    pub searches: u64,
    /// Their dead letters dropped from the dead-letter list.
    pub dead_letters: u64,
    /// Their leftover lease and backoff entries dropped.
    pub entries: u64,
    /// Heartbeats of workers gone silent dropped.
    pub workers: u64,
}

/// A job in the dead-letter list.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The job.
    pub job_id: String,
    /// Its search.
    pub search_id: String,
    /// Deliveries made.
    pub attempt: u32,
    /// The last failure.
    pub reason: String,
    /// The job's envelope as enqueued (raw, since it may be malformed).
    pub envelope: String,
}

/// What went wrong, typed by what the caller should do next.
#[derive(Debug, Error)]
pub enum QueueError {
    /// The caller's lease is gone (expired and reaped, reassigned, or the job
    /// finished): stop working on the job and write nothing more about it.
    #[error(
        "lease on job {job_id} (token {token}) is no longer held: it expired or the job moved on"
    )]
    Stale {
        /// The job.
        job_id: String,
        /// The token the caller presented.
        token: u64,
    },
    /// Talking to Redis failed; retry with backoff.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis gave no answer in time (a partition drops packets rather than
    /// refusing them); retry with backoff.
    #[error("no answer from Redis within {0:?}")]
    NoAnswer(Duration),
    /// A message failed validation.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The search was cancelled: it takes no new jobs.
    #[error("search {0} is cancelled")]
    Cancelled(String),
    /// Stored state is not what this build expects.
    #[error("corrupt queue state: {0}")]
    Corrupt(String),
    /// Redis holds another version of the queue's functions library: two
    /// builds that disagree on the transitions must not share a queue.
    #[error("redis holds version {found} of the nasq queue functions, this build speaks version {expected}: stop the daemons of the other version, then run `nas migrate-keys` with this one to load its functions")]
    FunctionsVersion {
        /// The version in Redis.
        found: String,
        /// This build's.
        expected: String,
    },
    /// The library is not in Redis and this client does not load it (a
    /// trainer) or may not (an ACL user without FUNCTION LOAD).
    #[error("the nasq queue functions are not loaded in redis ({0}): start the scheduler, which loads them")]
    FunctionsMissing(String),
}

impl QueueError {
    /// True if retrying the same call later may succeed (connection trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
            }
            QueueError::NoAnswer(_) => true,
            _ => false,
        }
    }
}

/// Shorthand.
pub type Result<T, E = QueueError> = std::result::Result<T, E>;

/// The queue, whichever backend.
#[async_trait]
pub trait Queue: Send + Sync {
    /// The queue's settings.
    fn config(&self) -> &QueueConfig;

    /// Add jobs, idempotently per (search, dedupe key); ranked by priority
    /// within their search. Fails for a cancelled search.
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>>;

    /// Lease up to `max` jobs to `worker`: round robin across searches, best
    /// priority first within one. Jobs whose envelope fails to decode, or
    /// names another job or search than the one it is stored as, are
    /// dead-lettered on the spot under the search they are stored in, and
    /// not returned; when that fails, it is logged and the claim still
    /// returns its good leases.
    async fn claim(&self, worker: &str, max: usize) -> Result<Vec<Lease>> {
        self.claim_from(worker, max, &[wire::Pool::Builtin]).await
    }

    /// [`Queue::claim`] from `pools`, emptying each before the next (a
    /// Python trainer serves the python pool, and the builtin one too when
    /// told to).
    async fn claim_from(
        &self,
        worker: &str,
        max: usize,
        pools: &[wire::Pool],
    ) -> Result<Vec<Lease>>;

    /// Extend a lease by the configured length; returns the new deadline.
    async fn renew(&self, lease: &Lease) -> Result<u64>;

    /// Acknowledge the job and record its outcome, exactly once. A result
    /// over [`wire::MAX_RESULT_BYTES`] is refused (naming the job) and
    /// nothing is recorded: the lease still holds.
    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<()>;

    /// Record a failure: retry after backoff, or dead-letter. A reason over
    /// [`wire::MAX_REASON_BYTES`] is cut to that ([`wire::cut_reason`]).
    async fn fail(&self, lease: &Lease, reason: &str, kind: FailKind) -> Result<FailOutcome>;

    /// Hand a job back at once (shutdown); the attempt does not count. A
    /// job of a cancelled search is cancelled instead of queued again.
    async fn release(&self, lease: &Lease) -> Result<()>;

    /// Record how far a leased job has got: a JSON note of at most
    /// [`wire::MAX_PROGRESS_BYTES`] (a DARTS search's epoch, α and derived
    /// genotype), replacing the last one, for `nas status`. Refused with
    /// [`QueueError::Stale`] once the lease is lost.
    async fn progress(&self, lease: &Lease, note: &str) -> Result<()>;

    /// The last progress note of a job, if it exists and wrote one. The
    /// note outlives the lease: a finished job keeps its last one.
    async fn job_progress(&self, job_id: &str) -> Result<Option<String>>;

    /// Requeue jobs whose lease expired (or dead-letter them after the last
    /// attempt, or cancel them if their search was cancelled), and promote
    /// delayed jobs whose backoff ended. Returns (requeued, dead-lettered).
    async fn reap(&self) -> Result<(u64, u64)>;

    /// Note that this client can reach the queue: the Redis backend tells an
    /// outage from a dead trainer by silences between calls (see
    /// `lua/prelude.lua`), and the leading scheduler calls this every second
    /// so that a busy fleet is never silent. An in-process queue has no
    /// outages: nothing to note.
    async fn alive(&self) -> Result<()>;

    /// Check that the queue still runs this build's transitions: on Redis,
    /// that the functions library is still this build's version
    /// ([`QueueError::FunctionsVersion`] if `nas migrate-keys` of another
    /// build replaced it). Daemons call it periodically and stop on that
    /// error; the in-process queue has nothing to check.
    async fn check_functions(&self) -> Result<()> {
        Ok(())
    }

    /// Up to `max` entries of the search's result log in recording order,
    /// from index `from`. An entry that does not decode is set aside in
    /// the page ([`ResultPage::undecodable`]), never an error that would
    /// hide the others.
    async fn results(&self, search: &str, from: u64, max: usize) -> Result<ResultPage>;

    /// How many of the search's jobs are in each state.
    async fn counts(&self, search: &str) -> Result<SearchCounts>;

    /// Where a job is, if it exists.
    async fn job_state(&self, job_id: &str) -> Result<Option<JobState>>;

    /// Entries `from..from + max` of the dead-letter list, oldest first (a
    /// page at a time: the list is unbounded). An entry whose job is gone
    /// (its search retired, not yet swept) is left out, so a page may hold
    /// fewer; the next page still starts at `from + max`.
    async fn dead_letters(&self, from: usize, max: usize) -> Result<Vec<DeadLetter>>;

    /// How many entries the dead-letter list holds (those whose job is gone
    /// included): where paging through it ends.
    async fn dead_letter_count(&self) -> Result<usize>;

    /// Queue a dead job again with fresh attempts; false if it was not dead.
    async fn replay(&self, job_id: &str) -> Result<bool>;

    /// Cancel a search; returns how many queued jobs were dropped.
    async fn cancel(&self, search: &str) -> Result<u64>;

    /// Record that `worker` is alive.
    async fn heartbeat(&self, worker: &str) -> Result<()>;

    /// Workers seen within `within`.
    async fn workers(&self, within: std::time::Duration) -> Result<Vec<String>>;

    /// Publish a worker's card (with its heartbeat); it expires after
    /// `ttl` unless published again.
    async fn announce(&self, card: &wire::WorkerCard, ttl: Duration) -> Result<()>;

    /// Workers seen within `within`, most recently seen first, each with
    /// its card if it publishes one (a card that does not decode is left
    /// out, logged).
    async fn fleet(&self, within: Duration) -> Result<Vec<wire::WorkerSeen>>;

    /// Jobs redelivered after a lease expired, since the queue began.
    async fn redeliveries(&self) -> Result<u64>;

    /// Let a finished search's queue records (its jobs with their
    /// envelopes and progress notes, its result log, counts and dedupe
    /// keys) go once `keep` has passed; zero removes them now. Until then
    /// they read as before. Idempotent. What the shared indexes hold of the
    /// search (dead letters, the cancelled set) goes at the first
    /// [`Queue::sweep`] after.
    async fn retire(&self, search: &str, keep: Duration) -> Result<()>;

    /// Clear what the shared indexes hold of retired searches whose
    /// records are gone, and drop the heartbeats of workers not seen for
    /// `silent_for`.
    async fn sweep(&self, silent_for: Duration) -> Result<Swept>;
}

/// The envelope a new job is stored with: the id is filled in by the queue.
fn envelope_for(job: &NewJob) -> Result<Envelope> {
    wire::validate_search_id("job", &job.search_id)?;
    let env = Envelope {
        v: wire::SCHEMA_VERSION,
        job_id: keys::ID_PLACEHOLDER.into(),
        search_id: job.search_id.clone(),
        kind: job.kind,
        attempt: 0,
        created_ms: now_ms(),
        payload: job.payload.clone(),
    };
    env.validate()?;
    Ok(env)
}

/// The result record of a lease.
fn result_for(lease: &Lease, outcome: Outcome) -> JobResult {
    JobResult {
        v: wire::SCHEMA_VERSION,
        job_id: lease.job.job_id.clone(),
        search_id: lease.job.search_id.clone(),
        attempt: lease.job.attempt,
        worker: lease.worker.clone(),
        finished_ms: now_ms(),
        outcome,
    }
}
