//! The in-process backend for the embedded single-process mode: the same
//! transitions as the Lua scripts, under one mutex, with this process's
//! clock standing in for the Redis server's.

use crate::wire::{self, Envelope, JobId, JobResult, Pool, ResultPage};
use crate::{
    envelope_for, result_for, DeadLetter, Enqueued, FailKind, FailOutcome, JobState, Lease, NewJob,
    Outcome, Queue, QueueConfig, QueueError, Result, SearchCounts, Swept,
};
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A ready-set entry: -priority (ordered totally), then the job id (FIFO).
#[derive(Debug, Clone, PartialEq)]
struct Ready(f64, String);
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| self.1.cmp(&other.1))
    }
}

#[derive(Debug)]
struct Job {
    env: String,
    sid: String,
    state: JobState,
    attempt: u32,
    token: u64,
    worker: String,
    deadline: u64,
    score: f64,
    reason: String,
    progress: Option<String>,
}

/// An entry of a search's result log.
// Nearly every entry is a result: boxing it would buy an allocation per
// result and nothing else.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Logged {
    /// What the transitions record.
    Result(JobResult),
    /// Text put there by [`MemoryQueue::push_raw_result`], as a broken or
    /// newer producer could on Redis.
    Raw(String),
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<String, Job>,
    ready: HashMap<String, BTreeSet<Ready>>,
    rr: BTreeSet<(u64, String)>,
    rr_pos: HashMap<String, u64>,
    /// Each search's pool (every job of a search is in one).
    pools: HashMap<String, Pool>,
    rrseq: u64,
    leases: BTreeSet<(u64, String)>,
    delayed: BTreeSet<(u64, String)>,
    dlq: Vec<String>,
    dedupe: HashMap<(String, String), String>,
    jobseq: HashMap<String, u64>,
    log: HashMap<String, Vec<Logged>>,
    counts: HashMap<String, SearchCounts>,
    cancelled: HashSet<String>,
    workers: HashMap<String, u64>,
    /// Worker cards with the time they expire (ms).
    cards: HashMap<String, (wire::WorkerCard, u64)>,
    token: u64,
    redeliveries: u64,
    /// Retired searches by the time their records go (ms); the records go
    /// at the first sweep after (at once when retired with no time to keep).
    retired: HashMap<String, u64>,
}

fn slot(c: &mut SearchCounts, s: JobState) -> &mut u64 {
    match s {
        JobState::Queued => &mut c.queued,
        JobState::Leased => &mut c.leased,
        JobState::Delayed => &mut c.delayed,
        JobState::Done => &mut c.done,
        JobState::Dead => &mut c.dead,
        JobState::Cancelled => &mut c.cancelled,
    }
}

impl Inner {
    /// Move job `id` to state `to`, keeping the per-search counts.
    fn set_state(&mut self, id: &str, to: JobState) {
        let job = self.jobs.get_mut(id).expect("job exists");
        let from = job.state;
        job.state = to;
        let c = self.counts.entry(job.sid.clone()).or_default();
        *slot(c, from) = slot(c, from).saturating_sub(1);
        *slot(c, to) += 1;
    }

    fn make_ready(&mut self, id: &str) {
        let job = &self.jobs[id];
        let sid = job.sid.clone();
        self.ready
            .entry(sid.clone())
            .or_default()
            .insert(Ready(job.score, id.to_string()));
        if !self.rr_pos.contains_key(&sid) {
            self.rr_pos.insert(sid.clone(), self.rrseq);
            self.rr.insert((self.rrseq, sid));
        }
    }

    fn rr_remove(&mut self, sid: &str) {
        if let Some(pos) = self.rr_pos.remove(sid) {
            self.rr.remove(&(pos, sid.to_string()));
        }
    }

    /// Drop a retired search's records: its jobs, ready set, result log,
    /// counts and dedupe keys (what Redis lets expire).
    fn drop_records(&mut self, sid: &str) {
        self.jobs.retain(|_, j| j.sid != sid);
        self.ready.remove(sid);
        self.dedupe.retain(|(s, _), _| s != sid);
        self.jobseq.remove(sid);
        self.log.remove(sid);
        self.counts.remove(sid);
        self.pools.remove(sid);
    }

    /// Clear what the shared indexes hold of a search whose records are
    /// gone. Returns (dead letters, lease and backoff entries) dropped.
    fn clear_indexes(&mut self, sid: &str) -> (u64, u64) {
        let of = |id: &String| JobId::parse(id).is_some_and(|j| j.search == sid);
        self.rr_remove(sid);
        self.cancelled.remove(sid);
        let before = self.dlq.len();
        self.dlq.retain(|id| !of(id));
        let dead = (before - self.dlq.len()) as u64;
        let before = self.leases.len() + self.delayed.len();
        self.leases.retain(|(_, id)| !of(id));
        self.delayed.retain(|(_, id)| !of(id));
        let entries = (before - self.leases.len() - self.delayed.len()) as u64;
        (dead, entries)
    }

    fn promote_delayed(&mut self, now: u64) {
        while let Some((at, id)) = self.delayed.first().cloned() {
            if at > now {
                break;
            }
            self.delayed.remove(&(at, id.clone()));
            self.requeue(&id);
        }
    }

    /// Put job `id` back on its search's ready set, or cancel it if its
    /// search was cancelled: no job of a cancelled search becomes ready
    /// again, whichever way it comes back (backoff over, lease reaped,
    /// handed back). True if it was requeued.
    fn requeue(&mut self, id: &str) -> bool {
        // A retired search's jobs are gone: nothing to queue again.
        let Some(job) = self.jobs.get_mut(id) else {
            return false;
        };
        job.token = 0;
        if self.cancelled.contains(&job.sid) {
            self.set_state(id, JobState::Cancelled);
            return false;
        }
        self.set_state(id, JobState::Queued);
        self.make_ready(id);
        true
    }

    fn dead_letter(&mut self, id: &str, reason: String, now: u64) {
        self.set_state(id, JobState::Dead);
        let job = self.jobs.get_mut(id).expect("job exists");
        job.reason = reason.clone();
        let event = JobResult {
            v: wire::SCHEMA_VERSION,
            job_id: id.to_string(),
            search_id: job.sid.clone(),
            attempt: job.attempt,
            worker: job.worker.clone(),
            finished_ms: now,
            outcome: Outcome::Dead { reason },
        };
        self.log
            .entry(job.sid.clone())
            .or_default()
            .push(Logged::Result(event));
        self.dlq.push(id.to_string());
    }

    /// The job if `token` still holds its lease.
    fn held(&self, id: &str, token: u64) -> bool {
        matches!(self.jobs.get(id), Some(j) if j.state == JobState::Leased && j.token == token)
    }
}

/// The in-process queue. Clones share the same queue.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    inner: Arc<Mutex<Inner>>,
    config: QueueConfig,
}

impl MemoryQueue {
    /// An empty queue.
    pub fn new(config: QueueConfig) -> Self {
        Self {
            inner: Arc::default(),
            config,
        }
    }

    /// Number the search's next jobs after `last`: a search resumed on a
    /// fresh in-process queue (`nas search --resume`) must not give its new
    /// jobs the ids of the jobs its results already name.
    pub fn continue_numbering(&self, search: &str, last: u64) {
        let mut q = self.lock();
        let n = q.jobseq.entry(search.to_string()).or_default();
        *n = (*n).max(last);
    }

    /// Append `text` as it is to the search's result log, as a broken or
    /// newer producer could on Redis (for tests of how readers cope).
    pub fn push_raw_result(&self, search: &str, text: &str) {
        self.lock()
            .log
            .entry(search.to_string())
            .or_default()
            .push(Logged::Raw(text.to_string()));
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-done transition
        // visible to callers that would act on it wrongly: every transition
        // checks state first, so keep going with the data as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stale(lease: &Lease) -> QueueError {
        QueueError::Stale {
            job_id: lease.job.job_id.clone(),
            token: lease.token,
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn config(&self) -> &QueueConfig {
        &self.config
    }

    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>> {
        let envs = jobs.iter().map(envelope_for).collect::<Result<Vec<_>>>()?;
        let mut q = self.lock();
        if let Some(j) = jobs.iter().find(|j| q.cancelled.contains(&j.search_id)) {
            return Err(QueueError::Cancelled(j.search_id.clone()));
        }
        for j in &jobs {
            let known = q.pools.get(&j.search_id).copied();
            let same_batch = jobs
                .iter()
                .find(|o| o.search_id == j.search_id)
                .map(NewJob::pool);
            if known.or(same_batch).is_some_and(|p| p != j.pool()) {
                return Err(crate::redis_queue::mixed_pools(&j.search_id));
            }
        }
        let mut out = Vec::with_capacity(jobs.len());
        for (job, mut env) in jobs.into_iter().zip(envs) {
            q.pools.insert(job.search_id.clone(), job.pool());
            let key = (job.search_id.clone(), job.dedupe_key.clone());
            if let Some(id) = q.dedupe.get(&key) {
                out.push(Enqueued {
                    job_id: id.clone(),
                    created: false,
                });
                continue;
            }
            let n = q.jobseq.entry(job.search_id.clone()).or_default();
            *n += 1;
            let id = wire::JobId::format(&job.search_id, *n);
            env.job_id = id.clone();
            let text =
                serde_json::to_string(&env).map_err(|e| QueueError::Corrupt(e.to_string()))?;
            q.dedupe.insert(key, id.clone());
            q.jobs.insert(
                id.clone(),
                Job {
                    env: text,
                    sid: job.search_id.clone(),
                    state: JobState::Queued,
                    attempt: 0,
                    token: 0,
                    worker: String::new(),
                    deadline: 0,
                    score: -job.priority,
                    reason: String::new(),
                    progress: None,
                },
            );
            q.counts.entry(job.search_id.clone()).or_default().queued += 1;
            q.make_ready(&id);
            out.push(Enqueued {
                job_id: id,
                created: true,
            });
        }
        Ok(out)
    }

    async fn claim_from(&self, worker: &str, max: usize, pools: &[Pool]) -> Result<Vec<Lease>> {
        let now = crate::now_ms();
        let lease_ms = self.config.lease.as_millis() as u64;
        let mut q = self.lock();
        q.promote_delayed(now);
        let mut out = Vec::new();
        while out.len() < max {
            // The first search in the round robin of the first pool that
            // has one, as claim.lua serves them.
            let next = pools.iter().find_map(|p| {
                q.rr.iter()
                    .find(|(_, sid)| q.pools.get(sid).copied().unwrap_or(Pool::Builtin) == *p)
                    .cloned()
            });
            let Some((pos, sid)) = next else {
                break;
            };
            let popped = q.ready.get_mut(&sid).and_then(|r| r.pop_first());
            let Some(Ready(_, id)) = popped else {
                q.rr_remove(&sid);
                continue;
            };
            q.token += 1;
            let token = q.token;
            q.set_state(&id, JobState::Leased);
            let job = q.jobs.get_mut(&id).expect("job exists");
            job.attempt += 1;
            job.token = token;
            job.worker = worker.to_string();
            job.deadline = now + lease_ms;
            let (attempt, env) = (job.attempt, job.env.clone());
            q.leases.insert((now + lease_ms, id.clone()));
            q.rr.remove(&(pos, sid.clone()));
            q.rr_pos.remove(&sid);
            if q.ready.get(&sid).is_some_and(|r| !r.is_empty()) {
                q.rrseq += 1;
                let seq = q.rrseq;
                q.rr_pos.insert(sid.clone(), seq);
                q.rr.insert((seq, sid));
            }
            match Envelope::decode(&env) {
                Ok(mut job) => {
                    job.attempt = attempt;
                    out.push(Lease {
                        job,
                        token,
                        deadline_ms: now + lease_ms,
                        worker: worker.to_string(),
                    });
                }
                Err(e) => {
                    q.leases.remove(&(now + lease_ms, id.clone()));
                    q.dead_letter(&id, e.to_string(), now);
                }
            }
        }
        Ok(out)
    }

    async fn renew(&self, lease: &Lease) -> Result<u64> {
        let now = crate::now_ms();
        let mut q = self.lock();
        let id = &lease.job.job_id;
        if !q.held(id, lease.token) {
            return Err(Self::stale(lease));
        }
        let deadline = now + self.config.lease.as_millis() as u64;
        let job = q.jobs.get_mut(id).expect("held");
        let old = std::mem::replace(&mut job.deadline, deadline);
        q.leases.remove(&(old, id.clone()));
        q.leases.insert((deadline, id.clone()));
        Ok(deadline)
    }

    async fn progress(&self, lease: &Lease, note: &str) -> Result<()> {
        wire::ProgressNote::validate(note)?;
        let mut q = self.lock();
        if !q.held(&lease.job.job_id, lease.token) {
            return Err(Self::stale(lease));
        }
        q.jobs.get_mut(&lease.job.job_id).expect("held").progress = Some(note.to_string());
        Ok(())
    }

    async fn job_progress(&self, job_id: &str) -> Result<Option<String>> {
        Ok(self
            .lock()
            .jobs
            .get(job_id)
            .and_then(|j| j.progress.clone()))
    }

    async fn complete(&self, lease: &Lease, outcome: Outcome) -> Result<()> {
        // As the Redis backend: a result it could not record changes nothing.
        let result = result_for(lease, outcome);
        result.encode()?;
        let mut q = self.lock();
        let id = &lease.job.job_id;
        if !q.held(id, lease.token) {
            return Err(Self::stale(lease));
        }
        let deadline = q.jobs[id].deadline;
        q.leases.remove(&(deadline, id.clone()));
        q.set_state(id, JobState::Done);
        q.log
            .entry(lease.job.search_id.clone())
            .or_default()
            .push(Logged::Result(result));
        Ok(())
    }

    async fn fail(&self, lease: &Lease, reason: &str, kind: FailKind) -> Result<FailOutcome> {
        let cut = wire::cut_reason(reason);
        let reason = cut.as_ref();
        let now = crate::now_ms();
        let mut q = self.lock();
        let id = &lease.job.job_id;
        if !q.held(id, lease.token) {
            return Err(Self::stale(lease));
        }
        let job = q.jobs.get_mut(id).expect("held");
        job.reason = reason.to_string();
        let (deadline, attempt) = (job.deadline, job.attempt);
        q.leases.remove(&(deadline, id.clone()));
        if kind == FailKind::Permanent || attempt >= self.config.max_attempts {
            q.dead_letter(id, reason.to_string(), now);
            return Ok(FailOutcome::Dead);
        }
        let at = now + self.config.backoff(attempt).as_millis() as u64;
        q.set_state(id, JobState::Delayed);
        q.delayed.insert((at, id.clone()));
        Ok(FailOutcome::Retrying { at_ms: at })
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let mut q = self.lock();
        let id = &lease.job.job_id;
        if !q.held(id, lease.token) {
            return Err(Self::stale(lease));
        }
        let job = q.jobs.get_mut(id).expect("held");
        job.attempt = job.attempt.saturating_sub(1);
        let deadline = job.deadline;
        q.leases.remove(&(deadline, id.clone()));
        q.requeue(id);
        Ok(())
    }

    async fn reap(&self) -> Result<(u64, u64)> {
        let now = crate::now_ms();
        let mut q = self.lock();
        q.promote_delayed(now);
        let (mut requeued, mut dead) = (0, 0);
        while let Some((deadline, id)) = q.leases.first().cloned() {
            if deadline > now {
                break;
            }
            q.leases.remove(&(deadline, id.clone()));
            // A retired search's job may be gone before its entry is swept.
            let Some(job) = q.jobs.get(&id) else {
                continue;
            };
            if job.state != JobState::Leased {
                continue;
            }
            // A cancelled search's job is cancelled, never dead-lettered
            // (it could not be replayed) nor requeued.
            if job.attempt >= self.config.max_attempts && !q.cancelled.contains(&job.sid) {
                let reason = format!(
                    "lease expired on attempt {} of {} (worker {})",
                    job.attempt, self.config.max_attempts, job.worker
                );
                q.dead_letter(&id, reason, now);
                dead += 1;
            } else if q.requeue(&id) {
                q.redeliveries += 1;
                requeued += 1;
            }
        }
        Ok((requeued, dead))
    }

    async fn alive(&self) -> Result<()> {
        Ok(())
    }

    async fn results(&self, search: &str, from: u64, max: usize) -> Result<ResultPage> {
        let q = self.lock();
        let mut page = ResultPage {
            from,
            ..ResultPage::default()
        };
        let entries = q.log.get(search).map(Vec::as_slice).unwrap_or_default();
        for (i, entry) in entries.iter().enumerate().skip(from as usize).take(max) {
            match entry {
                Logged::Result(r) => page.results.push(r.clone()),
                Logged::Raw(text) => {
                    let one = ResultPage::decode(i as u64, [text]);
                    page.results.extend(one.results);
                    page.undecodable.extend(one.undecodable);
                }
            }
        }
        Ok(page)
    }

    async fn counts(&self, search: &str) -> Result<SearchCounts> {
        Ok(self.lock().counts.get(search).copied().unwrap_or_default())
    }

    async fn job_state(&self, job_id: &str) -> Result<Option<JobState>> {
        Ok(self.lock().jobs.get(job_id).map(|j| j.state))
    }

    async fn dead_letter_count(&self) -> Result<usize> {
        Ok(self.lock().dlq.len())
    }

    async fn dead_letters(&self, from: usize, max: usize) -> Result<Vec<DeadLetter>> {
        let q = self.lock();
        Ok(q.dlq
            .iter()
            .skip(from)
            .take(max)
            // A retired search's job may be gone before its entry is swept.
            .filter_map(|id| q.jobs.get(id).map(|j| (id, j)))
            .map(|(id, j)| DeadLetter {
                job_id: id.clone(),
                search_id: j.sid.clone(),
                attempt: j.attempt,
                reason: j.reason.clone(),
                envelope: j.env.clone(),
            })
            .collect())
    }

    async fn replay(&self, job_id: &str) -> Result<bool> {
        let mut q = self.lock();
        let Some(job) = q.jobs.get(job_id) else {
            return Ok(false);
        };
        if job.state != JobState::Dead {
            return Ok(false);
        }
        if q.cancelled.contains(&job.sid) {
            return Err(QueueError::Cancelled(job.sid.clone()));
        }
        q.dlq.retain(|id| id != job_id);
        let job = q.jobs.get_mut(job_id).expect("exists");
        job.attempt = 0;
        job.token = 0;
        job.reason.clear();
        q.set_state(job_id, JobState::Queued);
        q.make_ready(job_id);
        Ok(true)
    }

    async fn cancel(&self, search: &str) -> Result<u64> {
        wire::validate_search_id("search", search)?;
        let mut q = self.lock();
        q.cancelled.insert(search.to_string());
        let ready = q.ready.remove(search).unwrap_or_default();
        for Ready(_, id) in &ready {
            q.set_state(id, JobState::Cancelled);
        }
        q.rr_remove(search);
        Ok(ready.len() as u64)
    }

    async fn heartbeat(&self, worker: &str) -> Result<()> {
        self.lock()
            .workers
            .insert(worker.to_string(), crate::now_ms());
        Ok(())
    }

    async fn announce(&self, card: &wire::WorkerCard, ttl: Duration) -> Result<()> {
        wire::validate_id("worker", &card.id)?;
        card.encode()?;
        let until = crate::now_ms() + ttl.as_millis() as u64;
        self.lock()
            .cards
            .insert(card.id.clone(), (card.clone(), until));
        Ok(())
    }

    async fn fleet(&self, within: Duration) -> Result<Vec<wire::WorkerSeen>> {
        let now = crate::now_ms();
        let since = now.saturating_sub(within.as_millis() as u64);
        let mut q = self.lock();
        q.cards.retain(|_, (_, until)| *until > now);
        let mut out: Vec<wire::WorkerSeen> = (q.workers.iter())
            .filter(|(_, &t)| t >= since)
            .map(|(id, &t)| wire::WorkerSeen {
                id: id.clone(),
                seen_ms: t,
                card: q.cards.get(id).map(|(c, _)| c.clone()),
            })
            .collect();
        out.sort_by(|a, b| b.seen_ms.cmp(&a.seen_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    async fn workers(&self, within: Duration) -> Result<Vec<String>> {
        let since = crate::now_ms().saturating_sub(within.as_millis() as u64);
        let q = self.lock();
        let mut w: Vec<String> = q
            .workers
            .iter()
            .filter(|(_, &t)| t >= since)
            .map(|(k, _)| k.clone())
            .collect();
        w.sort();
        Ok(w)
    }

    async fn redeliveries(&self) -> Result<u64> {
        Ok(self.lock().redeliveries)
    }

    async fn retire(&self, search: &str, keep: Duration) -> Result<()> {
        wire::validate_id("search", search)?;
        let mut q = self.lock();
        if keep.is_zero() {
            q.drop_records(search);
        }
        let at = crate::now_ms() + keep.as_millis() as u64;
        q.retired.insert(search.to_string(), at);
        Ok(())
    }

    async fn sweep(&self, silent_for: Duration) -> Result<Swept> {
        let now = crate::now_ms();
        let cutoff = now.saturating_sub(silent_for.as_millis() as u64);
        let mut q = self.lock();
        let due: Vec<String> = q
            .retired
            .iter()
            .filter(|(_, &at)| at <= now)
            .map(|(s, _)| s.clone())
            .collect();
        let mut swept = Swept::default();
        for sid in due {
            q.retired.remove(&sid);
            q.drop_records(&sid);
            let (dead, entries) = q.clear_indexes(&sid);
            swept.searches += 1;
            swept.dead_letters += dead;
            swept.entries += entries;
        }
        let before = q.workers.len();
        q.workers.retain(|_, &mut seen| seen >= cutoff);
        swept.workers = (before - q.workers.len()) as u64;
        Ok(swept)
    }
}
