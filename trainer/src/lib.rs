//! The trainer daemon: N job slots that claim candidates from the queue,
//! evaluate each on a thread of its own (threads are reused from job to
//! job, see [`threads`]), renew the lease from the async side
//! every third of its length, and report the outcome. Shutdown (SIGTERM,
//! SIGINT, or the caller's future) stops claiming, lets running jobs finish
//! within a grace period (still renewing their leases and heartbeating, so
//! a grace longer than the lease loses nothing) and hands the rest back.
//!
//! Architecture invariant: evaluation never runs on the async runtime, so a
//! busy CPU or GPU never starves lease renewal, and a panic or libtorch
//! error in one evaluation fails that job only.

mod cancel;
mod checkpoint;
pub mod darts_search;
pub mod device;
pub mod evaluator;
pub mod model;
pub mod preprocess;
mod progress;
mod schedule;
mod sgd;
pub mod threads;
pub mod train;

pub use cancel::Cancel;
pub use evaluator::{EvalError, EvaluatorConfig, Evaluators};
pub use progress::ProgressSink;

use queue::{FailKind, Lease, Queue, QueueError};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

/// Settings of one trainer process.
#[derive(Debug, Clone)]
pub struct TrainerConfig {
    /// This worker's name in leases, logs and heartbeats.
    pub worker_id: String,
    /// Concurrent jobs (one per GPU by default; CPU trainers pick their own).
    pub slots: usize,
    /// How long running jobs may finish after shutdown is asked for (their
    /// leases renewed meanwhile); jobs still running then are handed back.
    pub grace: Duration,
    /// How often to requeue expired leases of other (dead) workers.
    pub reap_interval: Duration,
    /// How often to announce this worker is alive.
    pub heartbeat_interval: Duration,
    /// Longest wait between claims while the queue is empty; the waits
    /// start at [`MIN_IDLE_POLL`] and double up to this.
    pub max_idle_poll: Duration,
    /// The evaluators offered.
    pub evaluators: EvaluatorConfig,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            slots: 1,
            grace: Duration::ZERO,
            reap_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(2),
            max_idle_poll: Duration::from_millis(200),
            evaluators: EvaluatorConfig::default(),
        }
    }
}

/// The first wait after a claim found the queue empty. Work that arrives
/// just after (the scheduler's next candidate, a moment after the last
/// result) waits about this long, not the longest wait; an idle trainer
/// still polls only a few times before it reaches `max_idle_poll`.
pub const MIN_IDLE_POLL: Duration = Duration::from_millis(1);

/// Set libtorch's intra-op CPU threads for this process (for binaries that
/// do not depend on tch themselves).
pub fn set_cpu_threads(n: i32) {
    tch::set_num_threads(n);
}

/// `<hostname>-<pid>`.
pub fn default_worker_id() -> String {
    queue::wire::process_id()
}

/// The jobs this trainer holds, for its card.
type Holding = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

/// This trainer's card without its jobs (see [`queue::wire::WorkerCard`]):
/// what stays the same while it runs.
fn card(config: &TrainerConfig) -> queue::wire::WorkerCard {
    let mut devices: Vec<String> = config
        .evaluators
        .devices()
        .unwrap_or_default()
        .into_iter()
        .map(|d| match d {
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}").to_lowercase(),
        })
        .collect();
    devices.dedup();
    queue::wire::WorkerCard {
        id: config.worker_id.clone(),
        kind: "rust".into(),
        host: queue::wire::hostname(),
        device: if devices.is_empty() {
            "cpu".into()
        } else {
            devices.join(",")
        },
        slots: config.slots as u32,
        pools: vec!["builtin".into()],
        jobs: Vec::new(),
        started_ms: queue::now_ms(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Say this trainer is alive, and publish its card with the jobs it holds
/// now (the card lives a few heartbeats).
async fn beat(
    queue: &dyn Queue,
    config: &TrainerConfig,
    card: &queue::wire::WorkerCard,
    holding: &Holding,
) {
    if let Err(e) = queue.heartbeat(&config.worker_id).await {
        tracing::warn!(error = %e, "heartbeat failed");
        return;
    }
    let card = queue::wire::WorkerCard {
        jobs: holding
            .lock()
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default(),
        ..card.clone()
    };
    let ttl = (config.heartbeat_interval * 5).max(Duration::from_secs(10));
    if let Err(e) = queue.announce(&card, ttl).await {
        tracing::warn!(error = %e, "publishing this worker's card failed");
    }
}

/// What a trainer did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrainerReport {
    /// Jobs completed with a result.
    pub completed: u64,
    /// Jobs failed (retried later or dead-lettered).
    pub failed: u64,
    /// Jobs handed back at shutdown.
    pub released: u64,
    /// Jobs whose lease was lost (taken over after expiry); nothing written.
    pub stale: u64,
    /// The trainer stopped because the queue's functions in Redis were
    /// replaced by another version (`nas migrate-keys` of another build).
    pub functions_changed: bool,
}

/// How one job ended, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobEnd {
    Completed,
    Failed,
    Released,
    Stale,
}

/// Run a trainer until `shutdown` resolves. Queue errors are logged and
/// retried with backoff; they never end the daemon.
pub async fn run(
    config: TrainerConfig,
    queue: Arc<dyn Queue>,
    shutdown: impl Future<Output = ()>,
) -> TrainerReport {
    let slots = Arc::new(Semaphore::new(config.slots.max(1)));
    let evaluators = Arc::new(Evaluators::new(config.evaluators.clone()));
    let threads = threads::JobThreads::new(Duration::from_secs(10));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut jobs: JoinSet<JobEnd> = JoinSet::new();
    let mut report = TrainerReport::default();
    let mut reap = tokio::time::interval(config.reap_interval);
    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    let min_poll = MIN_IDLE_POLL.min(config.max_idle_poll);
    let mut idle = min_poll;
    let mut next_claim = Instant::now();
    let mut queue_down = false;
    let card = card(&config);
    let holding = Holding::default();
    tracing::info!(worker = %config.worker_id, slots = config.slots, "trainer started");
    tokio::pin!(shutdown);
    loop {
        let free = slots.available_permits();
        // A claim that is due now must not wait for the timer, whose 1 ms
        // resolution would otherwise pace every claim of a busy trainer.
        let due = next_claim;
        let claim_due = async move {
            if due > Instant::now() {
                sleep_until(due.into()).await;
            }
        };
        tokio::select! {
            // In order: jobs that ended are counted (and their slots freed)
            // before claiming, so that one claim fills every free slot.
            biased;
            _ = &mut shutdown => break,
            Some(end) = jobs.join_next() => {
                tally(&mut report, end);
                next_claim = Instant::now();
            }
            _ = reap.tick() => match queue.reap().await {
                Ok((0, 0)) => {}
                Ok((requeued, dead)) => tracing::info!(requeued, dead, "reaped expired leases"),
                Err(e) => tracing::warn!(error = %e, "reaping failed"),
            },
            _ = heartbeat.tick() => {
                beat(queue.as_ref(), &config, &card, &holding).await;
                // Two builds must never serve one queue: stop (draining as
                // on SIGTERM) once the functions are another version.
                if let Err(e @ QueueError::FunctionsVersion { .. }) = queue.check_functions().await {
                    tracing::error!(error = %e, "stopping");
                    report.functions_changed = true;
                    break;
                }
            }
            _ = claim_due, if free > 0 => {
                match queue.claim(&config.worker_id, free).await {
                    Ok(leases) if leases.is_empty() => {
                        next_claim = Instant::now() + idle;
                        idle = (idle * 2).min(config.max_idle_poll);
                    }
                    Ok(leases) => {
                        if queue_down {
                            tracing::info!("queue reachable again");
                            queue_down = false;
                        }
                        idle = min_poll;
                        for lease in leases {
                            let permit = slots.clone().try_acquire_owned().expect("claimed no more than the free slots");
                            let (q, ev, th, stop) = (queue.clone(), evaluators.clone(), threads.clone(), stop_rx.clone());
                            let grace = config.grace;
                            let (held, id) = (holding.clone(), lease.job.job_id.clone());
                            if let Ok(mut h) = held.lock() {
                                h.insert(id.clone());
                            }
                            jobs.spawn(async move {
                                let end = run_job(q, lease, ev, th, stop, grace).await;
                                if let Ok(mut h) = held.lock() {
                                    h.remove(&id);
                                }
                                drop(permit);
                                end
                            });
                        }
                    }
                    Err(e) => {
                        idle = (idle * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                        tracing::warn!(error = %e, retry_in_ms = idle.as_millis() as u64, "claim failed; retrying");
                        queue_down = true;
                        next_claim = Instant::now() + idle;
                    }
                }
            }
        }
    }
    let in_flight = jobs.len();
    tracing::info!(
        in_flight,
        grace_ms = config.grace.as_millis() as u64,
        "trainer stopping"
    );
    let _ = stop_tx.send(true);
    // While running jobs drain, this worker is still alive: keep announcing
    // it (each job keeps renewing its own lease).
    loop {
        tokio::select! {
            end = jobs.join_next() => match end {
                Some(end) => tally(&mut report, end),
                None => break,
            },
            _ = heartbeat.tick() => beat(queue.as_ref(), &config, &card, &holding).await,
        }
    }
    // Evaluations handed back were told to stop; wait until their threads
    // have let go of libtorch (they look at the flag every step), since a
    // process that exits under a running libtorch thread crashes on the way
    // out.
    let deadline = Instant::now() + THREAD_STOP_WAIT;
    while threads.busy() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if threads.busy() > 0 {
        tracing::warn!(
            threads = threads.busy(),
            "evaluations still running after the stop; exiting under them"
        );
    }
    tracing::info!(?report, "trainer stopped");
    report
}

fn tally(report: &mut TrainerReport, end: Result<JobEnd, tokio::task::JoinError>) {
    match end {
        Ok(JobEnd::Completed) => report.completed += 1,
        Ok(JobEnd::Failed) => report.failed += 1,
        Ok(JobEnd::Released) => report.released += 1,
        Ok(JobEnd::Stale) => report.stale += 1,
        Err(e) => tracing::error!(error = %e, "job task ended abnormally"),
    }
}

type Evaluation = std::thread::Result<Result<queue::Outcome, EvalError>>;

/// How long a stopping trainer waits for cancelled evaluations to return.
const THREAD_STOP_WAIT: Duration = Duration::from_secs(60);

/// How often a running job's latest progress note is recorded, at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Run one leased job to its end.
async fn run_job(
    queue: Arc<dyn Queue>,
    lease: Lease,
    evaluators: Arc<Evaluators>,
    threads: threads::JobThreads,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> JobEnd {
    let job_id = lease.job.job_id.clone();
    tracing::debug!(job = %job_id, attempt = lease.job.attempt, "job started");
    let cancel = Cancel::default();
    let (sink, notes) = ProgressSink::channel();
    let (tx, mut rx) = oneshot::channel::<Evaluation>();
    {
        let (cancel, kind, payload) = (cancel.clone(), lease.job.kind, lease.job.payload.clone());
        let id = job_id.clone();
        let search = lease.job.search_id.clone();
        let spawned = threads.spawn(Box::new(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                evaluators.evaluate(&id, &search, kind, &payload, &cancel, &sink)
            }));
            let _ = tx.send(r);
        }));
        if let Err(e) = spawned {
            return finish(
                &*queue,
                &lease,
                Ok(Err(EvalError::Retryable(format!(
                    "cannot start a job thread: {e}"
                )))),
            )
            .await;
        }
    }
    let period = queue.config().lease / 3;
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // When the lease was last known held: at the claim, then at each renewal.
    let mut held = Instant::now();
    // The latest progress note goes to the queue at most this often.
    let every = PROGRESS_EVERY.min(period);
    let mut publish = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut sent: Option<String> = None;
    // Set when shutdown is asked for: the job may finish until then, with
    // its lease renewed and its progress recorded as before, so that a
    // grace longer than the lease does not let another worker take it over.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let grace_over = async move {
            match drain_until {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // A result that is in wins over the end of the grace.
            biased;
            r = &mut rx => {
                // The last note (a DARTS search's final epoch) is recorded
                // before the result, so that it is never lost to the throttle.
                if let Err(e) = publish_note(&*queue, &lease, &notes, &mut sent).await {
                    tracing::warn!(job = %job_id, error = %e, "recording the last progress note failed");
                }
                return finish(&*queue, &lease, flatten(r)).await;
            }
            _ = publish.tick() => match publish_note(&*queue, &lease, &notes, &mut sent).await {
                Ok(()) => {}
                Err(e @ QueueError::Stale { .. }) => {
                    tracing::warn!(job = %job_id, error = %e, "lease lost; abandoning the job");
                    cancel.cancel();
                    return JobEnd::Stale;
                }
                Err(e) => tracing::warn!(job = %job_id, error = %e, "recording progress failed; the next tick will try again"),
            },
            // A renewal that gets no answer within a period (a partition:
            // packets dropped, nothing refused) counts as a failed one, so
            // that a trainer cut off from Redis stops its job once the lease
            // has lapsed instead of waiting on the connection.
            _ = renew.tick() => match renew_within(&*queue, &lease, period).await {
                Ok(_) => held = Instant::now(),
                Err(e @ QueueError::Stale { .. }) => {
                    tracing::warn!(job = %job_id, error = %e, "lease lost; abandoning the job");
                    cancel.cancel();
                    return JobEnd::Stale;
                }
                Err(e) if held.elapsed() > queue.config().lease => {
                    // Redis has been out of reach for longer than the lease:
                    // the job is handed out again when it comes back (the
                    // outage does not count as an attempt), and this
                    // result could not be recorded. Stop the work.
                    tracing::warn!(job = %job_id, error = %e, unreachable_secs = held.elapsed().as_secs_f64(), "lease lapsed while Redis was out of reach; stopping the job, which will be handed out again");
                    cancel.cancel();
                    return JobEnd::Stale;
                }
                Err(e) => tracing::warn!(job = %job_id, error = %e, "lease renewal failed; retrying next period"),
            },
            changed = stop.changed(), if drain_until.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    drain_until = Some(tokio::time::Instant::now() + grace);
                }
            }
            _ = grace_over => {
                cancel.cancel();
                return match retry(&job_id, "hand-back", || queue.release(&lease)).await {
                    Ok(()) => {
                        tracing::info!(job = %job_id, "handed the job back");
                        JobEnd::Released
                    }
                    Err(_) => JobEnd::Stale,
                };
            }
        }
    }
}

/// Renew `lease`, counting no answer within `within` as a connection error.
async fn renew_within(
    queue: &dyn Queue,
    lease: &Lease,
    within: Duration,
) -> Result<u64, QueueError> {
    match tokio::time::timeout(within, queue.renew(lease)).await {
        Ok(r) => r,
        Err(_) => Err(QueueError::NoAnswer(within)),
    }
}

/// Record the evaluation's latest progress note with the queue, if it is
/// not the one recorded last (`sent`).
async fn publish_note(
    queue: &dyn Queue,
    lease: &Lease,
    notes: &watch::Receiver<Option<String>>,
    sent: &mut Option<String>,
) -> Result<(), QueueError> {
    let note = notes.borrow().clone();
    let Some(note) = note else { return Ok(()) };
    if sent.as_deref() == Some(note.as_str()) {
        return Ok(());
    }
    queue.progress(lease, &note).await?;
    *sent = Some(note);
    Ok(())
}

fn flatten(r: Result<Evaluation, oneshot::error::RecvError>) -> Evaluation {
    r.unwrap_or_else(|_| {
        Ok(Err(EvalError::Retryable(
            "the job thread ended without a result".into(),
        )))
    })
}

/// Report an evaluation's end to the queue.
async fn finish(queue: &dyn Queue, lease: &Lease, r: Evaluation) -> JobEnd {
    let job_id = &lease.job.job_id;
    let (what, outcome) = match r {
        Ok(Ok(outcome)) => ("complete", Ok(outcome)),
        Ok(Err(EvalError::Cancelled)) => {
            return match retry(job_id, "hand-back", || queue.release(lease)).await {
                Ok(()) => JobEnd::Released,
                Err(_) => JobEnd::Stale,
            }
        }
        Ok(Err(EvalError::Permanent(m))) => ("fail", Err((m, FailKind::Permanent))),
        Ok(Err(EvalError::Retryable(m))) => ("fail", Err((m, FailKind::Retryable))),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            (
                "fail",
                Err((format!("evaluator panicked: {msg}"), FailKind::Retryable)),
            )
        }
    };
    match outcome {
        Ok(outcome) => match retry(job_id, what, || queue.complete(lease, outcome.clone())).await {
            Ok(()) => JobEnd::Completed,
            // A result the queue refuses (over its size cap) would be
            // refused on every attempt: fail the job for good instead of
            // leaving it to be delivered and trained again.
            Err(QueueError::Wire(e)) => {
                let reason = format!("the queue refused the result: {e}");
                tracing::warn!(job = %job_id, %reason, "job failed");
                match retry(job_id, "fail", || {
                    queue.fail(lease, &reason, FailKind::Permanent)
                })
                .await
                {
                    Ok(_) => JobEnd::Failed,
                    Err(_) => JobEnd::Stale,
                }
            }
            Err(_) => JobEnd::Stale,
        },
        Err((reason, kind)) => {
            tracing::warn!(job = %job_id, attempt = lease.job.attempt, %reason, "job failed");
            match retry(job_id, what, || queue.fail(lease, &reason, kind)).await {
                Ok(_) => JobEnd::Failed,
                Err(_) => JobEnd::Stale,
            }
        }
    }
}

/// Call `f` until it succeeds, retrying transient queue errors with capped
/// backoff (each logged). Gives up on a lost lease or another error, which
/// is logged and returned.
async fn retry<T, F, Fut>(job_id: &str, what: &str, mut f: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let mut delay = Duration::from_millis(100);
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && start.elapsed() < Duration::from_secs(600) => {
                tracing::warn!(job = %job_id, error = %e, retry_in_ms = delay.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                tracing::warn!(job = %job_id, error = %e, "{what} refused");
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{JobKind, JobState, MemoryQueue, NewJob, Outcome, QueueConfig};

    /// Issue 15, defect 8: the queue refuses a result over its cap. The
    /// trainer took the refusal for a lost lease and let the job be
    /// delivered again, to be trained and refused on every attempt; the
    /// job now fails for good at once, with the refusal as its reason.
    #[tokio::test]
    async fn a_result_too_large_to_record_fails_the_job_for_good() {
        let q = MemoryQueue::new(QueueConfig::default());
        q.enqueue(vec![NewJob {
            search_id: "s".into(),
            dedupe_key: "k".into(),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::Value::Null,
        }])
        .await
        .unwrap();
        let lease = q.claim("w", 1).await.unwrap().remove(0);
        let huge = Outcome::Diverged {
            reason: "x".repeat(100 * 1024),
        };
        assert_eq!(finish(&q, &lease, Ok(Ok(huge))).await, JobEnd::Failed);
        let id = &lease.job.job_id;
        assert_eq!(q.job_state(id).await.unwrap(), Some(JobState::Dead));
        let dead = q.dead_letters(0, 10).await.unwrap();
        assert!(dead[0].reason.contains(id.as_str()), "{}", dead[0].reason);
        assert!(dead[0].reason.contains("byte limit"), "{}", dead[0].reason);
    }
}
