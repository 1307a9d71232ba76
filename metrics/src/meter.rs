//! A decorator that counts what passes through a [`Queue`] and otherwise
//! delegates every call unchanged: the daemons hand it to `trainer::run`
//! and `scheduler::run`, which stay unaware of metrics. (The search
//! store's decorator lives where the scheduler daemon is wired, in the
//! binary, so that this crate depends on the queue alone.)
//!
//! A trainer's busy slots are the leases it holds: a slot is taken before a
//! claim and freed when its job completes, fails, is handed back or its
//! lease is lost, which are exactly the calls counted here.

use async_trait::async_trait;
use prometheus::IntGauge;
use queue::{
    DeadLetter, Enqueued, FailKind, FailOutcome, JobState, Lease, NewJob, Outcome, Queue,
    QueueConfig, QueueError, ResultPage, SearchCounts,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type QResult<T> = Result<T, QueueError>;

/// A queue that counts jobs, leases, redeliveries and dead letters into
/// [`crate::trainer`] and [`crate::scheduler`], and records each successful
/// call in [`crate::health`].
pub struct MeteredQueue {
    inner: Arc<dyn Queue>,
    /// Leases held through this queue: job id -> fencing token. Its size
    /// is the busy-slot gauge; keyed so that a lease ended twice (a retried
    /// hand-back) is counted once.
    held: Mutex<HashMap<String, u64>>,
    /// `nas_trainer_slots_busy{device}`, for a trainer's queue.
    busy: Option<IntGauge>,
}

impl MeteredQueue {
    /// Count what passes through `inner` for a scheduler (jobs enqueued,
    /// results consumed).
    pub fn new(inner: Arc<dyn Queue>) -> Self {
        Self {
            inner,
            held: Mutex::new(HashMap::new()),
            busy: None,
        }
    }

    /// Count what passes through `inner` for a trainer whose torch jobs
    /// train on `device` (`gpu` or `cpu`): busy slots, how jobs end,
    /// redeliveries and dead letters.
    pub fn trainer(inner: Arc<dyn Queue>, device: &str) -> Self {
        Self {
            busy: Some(crate::trainer().slots_busy.with_label_values(&[device])),
            ..Self::new(inner)
        }
    }

    fn ok<T>(&self, r: QResult<T>) -> QResult<T> {
        if r.is_ok() {
            crate::health().redis_ok();
        }
        r
    }

    fn set_busy(&self, held: usize) {
        if let Some(busy) = &self.busy {
            busy.set(held as i64);
        }
    }

    fn hold(&self, leases: &[Lease]) {
        if self.busy.is_none() {
            return;
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        for l in leases {
            held.insert(l.job.job_id.clone(), l.token);
        }
        self.set_busy(held.len());
    }

    /// The lease ended with `outcome`: counted once per lease held through
    /// this queue; false if it was not (already ended, or not a trainer's).
    fn end(&self, lease: &Lease, outcome: &str) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let was_held = held.get(&lease.job.job_id) == Some(&lease.token);
        if was_held {
            held.remove(&lease.job.job_id);
            crate::trainer().jobs.with_label_values(&[outcome]).inc();
        }
        self.set_busy(held.len());
        was_held
    }

    /// End the lease as stale if `r` says it was lost.
    fn stale_if_lost<T>(&self, lease: &Lease, r: &QResult<T>) {
        if matches!(r, Err(QueueError::Stale { .. })) {
            self.end(lease, "stale");
        }
    }
}

#[async_trait]
impl Queue for MeteredQueue {
    fn config(&self) -> &QueueConfig {
        self.inner.config()
    }

    async fn enqueue(&self, jobs: Vec<NewJob>) -> QResult<Vec<Enqueued>> {
        let r = self.ok(self.inner.enqueue(jobs).await);
        if let Ok(done) = &r {
            let created = done.iter().filter(|e| e.created).count();
            crate::scheduler().enqueued.inc_by(created as u64);
        }
        r
    }

    async fn claim_from(
        &self,
        worker: &str,
        max: usize,
        pools: &[queue::wire::Pool],
    ) -> QResult<Vec<Lease>> {
        let r = self.ok(self.inner.claim_from(worker, max, pools).await);
        if let Ok(leases) = &r {
            self.hold(leases);
        }
        r
    }

    async fn renew(&self, lease: &Lease) -> QResult<u64> {
        let r = self.ok(self.inner.renew(lease).await);
        self.stale_if_lost(lease, &r);
        r
    }

    async fn complete(&self, lease: &Lease, outcome: Outcome) -> QResult<()> {
        let r = self.ok(self.inner.complete(lease, outcome).await);
        if r.is_ok() {
            self.end(lease, "completed");
        }
        self.stale_if_lost(lease, &r);
        r
    }

    async fn fail(&self, lease: &Lease, reason: &str, kind: FailKind) -> QResult<FailOutcome> {
        let r = self.ok(self.inner.fail(lease, reason, kind).await);
        match &r {
            Ok(outcome) => {
                if self.end(lease, "failed") && *outcome == FailOutcome::Dead {
                    let t = crate::trainer();
                    t.dead_lettered.with_label_values(&["fail"]).inc();
                }
            }
            Err(_) => self.stale_if_lost(lease, &r),
        }
        r
    }

    async fn release(&self, lease: &Lease) -> QResult<()> {
        let r = self.ok(self.inner.release(lease).await);
        if r.is_ok() {
            self.end(lease, "released");
        }
        self.stale_if_lost(lease, &r);
        r
    }

    async fn progress(&self, lease: &Lease, note: &str) -> QResult<()> {
        let r = self.ok(self.inner.progress(lease, note).await);
        self.stale_if_lost(lease, &r);
        r
    }

    async fn job_progress(&self, job_id: &str) -> QResult<Option<String>> {
        self.ok(self.inner.job_progress(job_id).await)
    }

    async fn reap(&self) -> QResult<(u64, u64)> {
        let r = self.ok(self.inner.reap().await);
        if let (Ok((requeued, dead)), Some(_)) = (r.as_ref(), &self.busy) {
            let t = crate::trainer();
            t.redelivered.inc_by(*requeued);
            t.dead_lettered.with_label_values(&["reap"]).inc_by(*dead);
        }
        r
    }

    async fn alive(&self) -> QResult<()> {
        self.ok(self.inner.alive().await)
    }

    async fn check_functions(&self) -> QResult<()> {
        self.ok(self.inner.check_functions().await)
    }

    async fn results(&self, search: &str, from: u64, max: usize) -> QResult<ResultPage> {
        let r = self.ok(self.inner.results(search, from, max).await);
        if let Ok(page) = &r {
            crate::scheduler().results.inc_by(page.len() as u64);
        }
        r
    }

    async fn counts(&self, search: &str) -> QResult<SearchCounts> {
        self.ok(self.inner.counts(search).await)
    }

    async fn job_state(&self, job_id: &str) -> QResult<Option<JobState>> {
        self.ok(self.inner.job_state(job_id).await)
    }

    async fn dead_letters(&self, from: usize, max: usize) -> QResult<Vec<DeadLetter>> {
        self.ok(self.inner.dead_letters(from, max).await)
    }

    async fn dead_letter_count(&self) -> QResult<usize> {
        self.ok(self.inner.dead_letter_count().await)
    }

    async fn replay(&self, job_id: &str) -> QResult<bool> {
        self.ok(self.inner.replay(job_id).await)
    }

    async fn cancel(&self, search: &str) -> QResult<u64> {
        self.ok(self.inner.cancel(search).await)
    }

    async fn heartbeat(&self, worker: &str) -> QResult<()> {
        self.ok(self.inner.heartbeat(worker).await)
    }

    async fn workers(&self, within: Duration) -> QResult<Vec<String>> {
        self.ok(self.inner.workers(within).await)
    }

    async fn announce(&self, card: &queue::wire::WorkerCard, ttl: Duration) -> QResult<()> {
        self.ok(self.inner.announce(card, ttl).await)
    }

    async fn fleet(&self, within: Duration) -> QResult<Vec<queue::wire::WorkerSeen>> {
        self.ok(self.inner.fleet(within).await)
    }

    async fn redeliveries(&self) -> QResult<u64> {
        self.ok(self.inner.redeliveries().await)
    }

    async fn retire(&self, search: &str, keep: Duration) -> QResult<()> {
        self.ok(self.inner.retire(search, keep).await)
    }

    async fn sweep(&self, silent_for: Duration) -> QResult<queue::Swept> {
        self.ok(self.inner.sweep(silent_for).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::{JobKind, MemoryQueue};

    fn job(search: &str, key: &str) -> NewJob {
        NewJob {
            search_id: search.into(),
            dedupe_key: key.into(),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::Value::Null,
        }
    }

    fn value(outcome: &str) -> u64 {
        crate::trainer().jobs.with_label_values(&[outcome]).get()
    }

    /// Busy slots follow the leases held, and each way a job ends is
    /// counted once, on the in-process queue.
    #[tokio::test]
    async fn counts_leases_and_outcomes() {
        let q = MeteredQueue::trainer(
            Arc::new(MemoryQueue::new(QueueConfig::default())),
            "meter-test",
        );
        let before: Vec<u64> = crate::JOB_OUTCOMES.iter().map(|o| value(o)).collect();
        let created = q
            .enqueue((0..4).map(|i| job("s1", &i.to_string())).collect())
            .await
            .unwrap();
        assert_eq!(created.len(), 4);
        let leases = q.claim("w", 4).await.unwrap();
        assert_eq!(leases.len(), 4);
        assert_eq!(q.busy.as_ref().unwrap().get(), 4);
        q.complete(&leases[0], Outcome::Ok(Default::default()))
            .await
            .unwrap();
        q.fail(&leases[1], "boom", FailKind::Permanent)
            .await
            .unwrap();
        q.release(&leases[2]).await.unwrap();
        // A second hand-back of the same lease is refused and not counted.
        assert!(q.release(&leases[2]).await.is_err());
        assert_eq!(q.busy.as_ref().unwrap().get(), 1);
        q.complete(&leases[3], Outcome::Ok(Default::default()))
            .await
            .unwrap();
        assert_eq!(q.busy.as_ref().unwrap().get(), 0);
        let after: Vec<u64> = crate::JOB_OUTCOMES.iter().map(|o| value(o)).collect();
        let delta: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        assert_eq!(delta, vec![2, 1, 1, 0]);
        let text = crate::render();
        assert!(text.contains("nas_trainer_slots_busy{device=\"meter-test\"} 0"));
        assert!(crate::health().redis_age_secs().is_some());
    }
}
