//! Driving one search: consume its results from the queue, tell the
//! strategy, persist, ask for new candidates, persist (write-ahead), enqueue.
//!
//! Crash safety comes from the order of these steps: proposals are
//! persisted before they are enqueued and enqueueing is idempotent, so a
//! restarted scheduler re-enqueues every pending candidate and gets the
//! same jobs back; results are consumed by a cursor persisted together with
//! the strategy state, so none is observed twice.

use crate::rank::Ranker;
use crate::state::{Evaluation, Pending, SearchState, Stage, Status, SUPERNET_KEY};
use crate::store::{Store, StoreError};
use crate::strategy::{self, Strategy};
use crate::undecodable::UndecodableLog;
use queue::wire::{DartsJob, EvalJob, EvaluatorSpec};
use queue::{JobKind, JobResult, LogEntry, NewJob, Outcome, Queue, QueueError, Undecodable};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a step failed.
#[derive(Debug, Error)]
pub enum StepError {
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The surrogate could not rank (service down, timed out); retried.
    #[error("surrogate: {0}")]
    Rank(String),
    /// The evaluation log (or the log of undecodable results) could not be
    /// written.
    #[error("evaluation log {path}: {source}")]
    Log {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The search's own state is inconsistent.
    #[error("search {id}: {reason}")]
    Invalid {
        /// The search.
        id: String,
        /// Which part of the state disagrees with which.
        reason: String,
    },
}

impl StepError {
    /// True if trying again later may work (Redis down), false if the search
    /// cannot go on.
    pub fn is_transient(&self) -> bool {
        match self {
            StepError::Queue(e) => e.is_transient(),
            StepError::Store(StoreError::Redis(_)) => true,
            StepError::Store(StoreError::NotLeader | StoreError::Behind(_)) => true,
            StepError::Log { .. } => true,
            StepError::Rank(_) => true,
            _ => false,
        }
    }
}

/// The append-only `evaluations.jsonl` of one search, deduplicated so that
/// a replay after a crash writes no line twice. An evaluation is known by
/// its stage, candidate and kind of outcome, not by its job id: when Redis
/// loses its last second of writes a candidate can come back under another
/// job number (and a number for another candidate); a dead-lettered job's
/// replayed result is a second line for its candidate.
#[derive(Debug)]
struct EvalLog {
    path: PathBuf,
    seen: HashSet<EvalKey>,
}

/// What makes an evaluation line unique: (stage, genotype hash, rung,
/// outcome).
type EvalKey = (Stage, String, Option<u32>, &'static str);

fn eval_key(e: &Evaluation) -> EvalKey {
    let outcome = match e.outcome {
        Outcome::Ok(_) => "ok",
        Outcome::Diverged { .. } => "diverged",
        Outcome::Dead { .. } => "dead",
    };
    (e.stage, e.hash.clone(), e.rung, outcome)
}

impl EvalLog {
    fn open(dir: &Path, search: &str) -> Result<Self, StepError> {
        // The id names a folder under `dir`: never `..` or `a/b`.
        queue::wire::validate_search_id("search", search).map_err(StoreError::InvalidId)?;
        let dir = dir.join(search);
        let path = dir.join("evaluations.jsonl");
        let err = |source| StepError::Log {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let mut seen = HashSet::new();
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(err)?;
                // A torn last line (crash mid-write) is skipped here and
                // written again when its result is replayed.
                if let Ok(e) = serde_json::from_str::<Evaluation>(&line) {
                    seen.insert(eval_key(&e));
                }
            }
        }
        Ok(Self { path, seen })
    }

    fn append(&mut self, evals: &[Evaluation]) -> Result<(), StepError> {
        let fresh: Vec<&Evaluation> = evals
            .iter()
            .filter(|e| !self.seen.contains(&eval_key(e)))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for e in &fresh {
            text.push_str(&serde_json::to_string(e).expect("evaluation serializes"));
            text.push('\n');
        }
        append_synced(&self.path, &text)?;
        self.seen.extend(fresh.into_iter().map(eval_key));
        Ok(())
    }
}

/// Append `text` to the file at `path` (created if missing) and wait until
/// it is on disk: the append-only logs a crash must not lose.
pub(crate) fn append_synced(path: &Path, text: &str) -> Result<(), StepError> {
    let err = |source| StepError::Log {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_data().map_err(err)
}

/// The seed of one candidate's evaluation: the search seed mixed with the
/// genotype hash, so reruns of a search evaluate the same way.
pub fn job_seed(search_seed: u64, hash: &str) -> u64 {
    let h = u64::from_str_radix(hash, 16).unwrap_or(0);
    search_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ h
}

/// One search being driven.
#[derive(Debug)]
pub struct Run {
    /// The state, as last persisted or about to be.
    pub state: SearchState,
    log: EvalLog,
    /// Where result log entries that do not decode are kept.
    aside: UndecodableLog,
    resumed: bool,
}

/// What a step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Results consumed.
    pub results: usize,
    /// Candidates enqueued.
    pub enqueued: usize,
}

impl Run {
    /// Take up a search (new or after a restart); `results_dir` holds one
    /// folder per search with its `evaluations.jsonl` (and
    /// `undecodable.jsonl`, if a result did not decode).
    pub fn open(state: SearchState, results_dir: &Path) -> Result<Self, StepError> {
        let log = EvalLog::open(results_dir, &state.id)?;
        let aside = UndecodableLog::open(results_dir, &state.id)?;
        Ok(Self {
            state,
            log,
            aside,
            resumed: false,
        })
    }

    /// One round; see the module docs for the order and why.
    pub async fn step(
        &mut self,
        queue: &dyn Queue,
        store: &dyn Store,
        ranker: Option<&dyn Ranker>,
    ) -> Result<StepReport, StepError> {
        let mut report = StepReport::default();
        if self.state.status.is_terminal() {
            return Ok(report);
        }
        let long_before = self.long_jobs_known();
        if !self.resumed {
            report.enqueued += self.enqueue_again(queue).await?;
        }
        if store.cancel_requested(&self.state.id).await? {
            queue.cancel(&self.state.id).await?;
            return self.finish(store, Status::Cancelled).await.map(|_| report);
        }
        let cursor = self.state.cursor;
        let evals = self.consume(queue).await?;
        report.results = evals.len();
        self.rank(ranker).await?;
        self.propose_and_persist(store, &evals, self.state.cursor != cursor)
            .await?;
        // The job ids that enqueueing assigns are persisted with the next
        // checkpoint rather than by one of their own: a restarted scheduler
        // enqueues every pending candidate again and gets the same ids back
        // (see above), so they need no write-ahead, and a second write of
        // the whole state per step would double the cost of a step. The
        // exception is the few long jobs (a supernet search, the final
        // retrainings): `nas status` finds their progress notes by the job
        // ids in the stored state, and no result may come for hours.
        report.enqueued += self.enqueue_pending(queue).await?;
        if self.advance_stage(queue, store, &mut report).await? {
            return Ok(report);
        }
        if !self.long_jobs_known().is_subset(&long_before) {
            store.checkpoint(&self.state, &[]).await?;
        }
        Ok(report)
    }

    /// After a restart, every candidate with no result is enqueued again:
    /// jobs that exist come back unchanged (idempotent), ones lost before
    /// they reached the queue are created. Their results, already in the
    /// log past the cursor, are then matched by job id as usual.
    async fn enqueue_again(&mut self, queue: &dyn Queue) -> Result<usize, StepError> {
        for p in self.state.pending.values_mut() {
            p.job_id = None;
        }
        let enqueued = self.enqueue_pending(queue).await?;
        self.resumed = true;
        Ok(enqueued)
    }

    /// If the strategy waits for the surrogate's scores, ask for them and
    /// hand them over.
    async fn rank(&mut self, ranker: Option<&dyn Ranker>) -> Result<(), StepError> {
        let Some(request) = self.state.strategy.ranking_request() else {
            return Ok(());
        };
        let Some(ranker) = ranker else {
            return Err(StepError::Invalid {
                id: self.state.id.clone(),
                reason: "its strategy ranks candidates with the surrogate, and this scheduler has none (run `nas surrogate` and give the scheduler --surrogate redis, or search embedded)".into(),
            });
        };
        // Multi-fidelity: the strategy was told its candidates' first rungs;
        // the surrogate learns from every rung, each result at its share
        // of the top rung's epochs.
        let (training, fidelity) = match &self.state.rungs {
            Some(rungs) => {
                let space = self.state.spec.space;
                let mut training = Vec::new();
                let mut fidelity = Vec::new();
                for (text, acc, f) in rungs.observations() {
                    let g = space.parse(text).map_err(|e| StepError::Invalid {
                        id: self.state.id.clone(),
                        reason: format!("rung result of {text}: {e}"),
                    })?;
                    training.push((g, acc));
                    fidelity.push(f);
                }
                (training, fidelity)
            }
            None => (request.training, Vec::new()),
        };
        let t = std::time::Instant::now();
        let scored = ranker
            .rank(
                &self.state.id,
                self.state.spec.space,
                request.predictor.as_deref(),
                &training,
                &fidelity,
                &request.candidates,
            )
            .await
            .map_err(StepError::Rank)?;
        tracing::info!(
            search = %self.state.id,
            candidates = request.candidates.len(),
            fitted_on = training.len(),
            below_top_rung = fidelity.iter().filter(|&&f| f < 1.0).count(),
            ms = t.elapsed().as_millis() as u64,
            "surrogate ranked candidates"
        );
        self.state.strategy.ranked(&scored);
        Ok(())
    }

    /// Ask the strategy for as many candidates as there is room for (and a
    /// DARTS search for its supernet job), record them as pending, and
    /// persist them with the round's evaluations before any is enqueued.
    async fn propose_and_persist(
        &mut self,
        store: &dyn Store,
        evals: &[Evaluation],
        consumed: bool,
    ) -> Result<(), StepError> {
        let mut room = (self.state.spec.parallel).saturating_sub(self.state.pending.len());
        let now = queue::now_ms();
        // Multi-fidelity: promotions go first; once the strategy proposes
        // no more, brackets that will not fill promote from what they have.
        let mut promotions = Vec::new();
        if let Some(rungs) = self.state.rungs.as_mut() {
            let ledger = self.state.strategy.ledger();
            if ledger.proposed() >= ledger.budget() || ledger.exhausted() {
                rungs.close();
            }
            promotions = rungs.promotions(room);
            room -= promotions.len();
        }
        for j in &promotions {
            tracing::info!(search = %self.state.id, candidate = %j.hash, rung = j.rung, from_acc = j.from_acc, "promoted to the next rung");
            self.state.pending.insert(
                Stage::rung_key(&j.hash, j.rung),
                Pending {
                    stage: Stage::Search,
                    genotype: j.genotype.clone(),
                    // Higher rungs first: they decide the search.
                    priority: 1e6 * j.rung as f64 + j.from_acc,
                    job_id: None,
                    proposed_ms: now,
                    rung: Some(j.rung),
                },
            );
        }
        let proposals = if room > 0 {
            self.state.strategy.propose(room)
        } else {
            Vec::new()
        };
        // A DARTS search asks once for its supernet search, a job of its
        // own, persisted like a proposal before it is enqueued.
        let asked = self.state.strategy.supernet_request().is_some();
        if asked {
            self.state.pending.insert(
                SUPERNET_KEY.to_string(),
                Pending {
                    stage: Stage::Supernet,
                    genotype: String::new(),
                    priority: 0.0,
                    job_id: None,
                    proposed_ms: now,
                    rung: None,
                },
            );
        }
        for p in &proposals {
            let (hash, text) = (p.genotype.hash().to_string(), p.genotype.canonical_text());
            let rung = (self.state.rungs.as_mut()).map(|r| r.admit(&hash, &text));
            let key = match rung {
                Some(r) => Stage::rung_key(&hash, r),
                None => hash,
            };
            self.state.pending.insert(
                key,
                Pending {
                    stage: Stage::Search,
                    genotype: text,
                    priority: p.priority,
                    job_id: None,
                    proposed_ms: now,
                    rung,
                },
            );
        }
        let changed = !proposals.is_empty() || !promotions.is_empty();
        if consumed || !evals.is_empty() || changed || asked {
            self.log.append(evals)?;
            self.state.updated_ms = now;
            store.checkpoint(&self.state, evals).await?;
        }
        Ok(())
    }

    /// Once the strategy is done and its last candidates are in, start the
    /// final stage, or end the search when there is none (or it is over);
    /// true when the search ended.
    async fn advance_stage(
        &mut self,
        queue: &dyn Queue,
        store: &dyn Store,
        report: &mut StepReport,
    ) -> Result<bool, StepError> {
        let searching = (self.state.pending.values()).any(|p| p.stage == Stage::Search);
        if !self.state.strategy.is_done() || searching {
            return Ok(false);
        }
        if self.begin_final_stage() {
            store.checkpoint(&self.state, &[]).await?;
            report.enqueued += self.enqueue_pending(queue).await?;
        } else if self.state.pending.is_empty() {
            self.finish(store, Status::Done).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The job ids of the pending supernet and final jobs.
    fn long_jobs_known(&self) -> HashSet<String> {
        (self.state.pending.values())
            .filter(|p| p.stage != Stage::Search)
            .filter_map(|p| p.job_id.clone())
            .collect()
    }

    /// Queue the leaders for retraining with the final settings, once,
    /// when the spec has a final stage; true if it began now.
    fn begin_final_stage(&mut self) -> bool {
        if self.state.final_started || self.state.spec.final_stage.is_none() {
            return false;
        }
        self.state.final_started = true;
        if self.state.leaders.is_empty() {
            // Nothing succeeded: nothing to retrain, the search is over.
            return false;
        }
        let now = queue::now_ms();
        for (rank, e) in self.state.leaders.iter().enumerate() {
            self.state.pending.insert(
                Stage::Final.key(&e.hash),
                Pending {
                    stage: Stage::Final,
                    genotype: e.genotype.clone(),
                    // Train the best first.
                    priority: 1e9 - rank as f64,
                    job_id: None,
                    proposed_ms: now,
                    rung: None,
                },
            );
        }
        tracing::info!(search = %self.state.id, candidates = self.state.leaders.len(), "final stage: retraining the best candidates");
        true
    }

    /// Keep the `top_k` best search evaluations, best first, one per
    /// candidate (its highest rung's, in a multi-fidelity search).
    fn update_leaders(&mut self, e: &Evaluation) {
        let k = self.state.spec.final_stage.as_ref().map_or(0, |f| f.top_k);
        if k == 0 || e.val_acc().is_none() {
            return;
        }
        let leaders = &mut self.state.leaders;
        if let Some(i) = leaders.iter().position(|l| l.hash == e.hash) {
            if e.rung <= leaders[i].rung {
                return;
            }
            leaders.remove(i);
        }
        leaders.push(e.clone());
        leaders.sort_by(|a, b| {
            rank_order(b)
                .partial_cmp(&rank_order(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        leaders.truncate(k);
    }

    /// Read new results, tell the strategy, and build their evaluations;
    /// set aside the entries that do not decode.
    async fn consume(&mut self, queue: &dyn Queue) -> Result<Vec<Evaluation>, StepError> {
        let page = queue
            .results(&self.state.id, self.state.cursor, 1000)
            .await?;
        let consumed_ms = queue::now_ms();
        let mut evals = Vec::with_capacity(page.len());
        for entry in page.entries() {
            self.state.cursor += 1;
            let e = match entry {
                LogEntry::Result(r) => self.take(r, consumed_ms)?,
                LogEntry::Undecodable(u) => self.set_aside(u, consumed_ms)?,
            };
            evals.extend(e);
        }
        Ok(evals)
    }

    /// An entry of the result log that does not decode: counted, kept in
    /// `undecodable.jsonl`, and, if it names the job of a pending
    /// candidate, that candidate's result: a failure with the reason, so
    /// that the search goes on rather than waiting for it forever.
    fn set_aside(
        &mut self,
        u: &Undecodable,
        consumed_ms: u64,
    ) -> Result<Option<Evaluation>, StepError> {
        self.state.undecodable += 1;
        let job = u.job_id.as_deref().unwrap_or("(none readable)");
        tracing::warn!(search = %self.state.id, job, index = u.index, reason = %u.reason, "a result that does not decode; set aside in undecodable.jsonl");
        self.aside.append(u)?;
        let Some(job_id) = u.job_id.as_deref() else {
            return Ok(None);
        };
        if key_of(&self.state.pending, job_id).is_none() {
            return Ok(None);
        }
        // What can be read of the entry, so that rereading it after a crash
        // builds the same evaluation (the evaluations log dedupes on it).
        let v: serde_json::Value = serde_json::from_str(&u.raw).unwrap_or_default();
        let number = |field: &str| v.get(field).and_then(serde_json::Value::as_u64);
        let r = JobResult {
            v: queue::wire::SCHEMA_VERSION,
            job_id: job_id.to_string(),
            search_id: self.state.id.clone(),
            attempt: number("attempt").map_or(0, |a| a.min(u32::MAX.into()) as u32),
            worker: v
                .get("worker")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            finished_ms: number("finished_ms").unwrap_or(0),
            outcome: Outcome::Dead {
                reason: format!(
                    "its result does not decode ({}); kept in undecodable.jsonl",
                    u.reason
                ),
            },
        };
        self.take(&r, consumed_ms)
    }

    /// Take one result: the first of a pending candidate, or a later one of
    /// a dead-lettered candidate whose job was replayed; None for a job
    /// this search does not wait for.
    fn take(
        &mut self,
        r: &queue::JobResult,
        consumed_ms: u64,
    ) -> Result<Option<Evaluation>, StepError> {
        if let Some(key) = key_of(&self.state.pending, &r.job_id) {
            let pending = self.state.pending.remove(&key).expect("found");
            let e = self.first_result(&key, &pending, r, consumed_ms)?;
            // Its job may yet be replayed (see `SearchState::dead`).
            if matches!(r.outcome, Outcome::Dead { .. }) && pending.stage != Stage::Supernet {
                self.state.dead.insert(key, pending);
            }
            return Ok(Some(e));
        }
        if let Some(key) = key_of(&self.state.dead, &r.job_id) {
            return self.replayed_result(&key, r, consumed_ms).map(Some);
        }
        tracing::warn!(search = %self.state.id, job = %r.job_id, "result for a job this search is not waiting for; ignored");
        Ok(None)
    }

    /// The first result of pending candidate `key`: told to the strategy
    /// and counted (a search candidate or the supernet search), or kept
    /// with the final results.
    fn first_result(
        &mut self,
        key: &str,
        pending: &Pending,
        r: &queue::JobResult,
        consumed_ms: u64,
    ) -> Result<Evaluation, StepError> {
        if pending.stage == Stage::Supernet {
            return Ok(self.supernet_result(r, pending, consumed_ms));
        }
        let genotype = self.parse(pending)?;
        let named = (Stage::hash_of(key).to_string(), pending.genotype.clone());
        let e = self.evaluation(r, pending, named, r.outcome.clone(), consumed_ms);
        if pending.stage == Stage::Final {
            self.state.finals.push(e.clone());
            return Ok(e);
        }
        if !self.first_rung(&e) {
            self.state.promoted += 1;
            self.tally_best(&e);
            return Ok(e);
        }
        self.state.strategy.observe(&genotype, observed(&r.outcome));
        self.tally(&e);
        Ok(e)
    }

    /// Record a multi-fidelity result with the rungs; true if it is the
    /// candidate's first (or the search has no rungs): what the strategy
    /// is told and the counts count.
    fn first_rung(&mut self, e: &Evaluation) -> bool {
        match (e.rung, self.state.rungs.as_mut()) {
            (Some(rung), Some(rungs)) => rungs.record(&e.hash, rung, e.val_acc()),
            _ => true,
        }
    }

    /// A result of dead-lettered candidate `key` whose job was replayed,
    /// taken as the candidate's (see `SearchState::dead`).
    fn replayed_result(
        &mut self,
        key: &str,
        r: &queue::JobResult,
        consumed_ms: u64,
    ) -> Result<Evaluation, StepError> {
        let pending = self.state.dead[key].clone();
        let genotype = self.parse(&pending)?;
        let named = (Stage::hash_of(key).to_string(), pending.genotype.clone());
        let e = self.evaluation(r, &pending, named, r.outcome.clone(), consumed_ms);
        tracing::info!(search = %self.state.id, job = %r.job_id, attempt = r.attempt, "result of a replayed dead-lettered job taken");
        if !matches!(r.outcome, Outcome::Dead { .. }) {
            self.state.dead.remove(key);
        }
        if pending.stage == Stage::Final {
            self.state.finals.push(e.clone());
            return Ok(e);
        }
        self.state.retaken += 1;
        if !self.first_rung(&e) {
            self.tally_best(&e);
            return Ok(e);
        }
        self.state.strategy.observe(&genotype, observed(&r.outcome));
        if e.val_acc().is_some() {
            // It was counted as failed: it is evaluated after all.
            self.state.failed = self.state.failed.saturating_sub(1);
            self.tally(&e);
        }
        Ok(e)
    }

    /// The genotype of a pending candidate.
    fn parse(&self, pending: &Pending) -> Result<space::Genotype, StepError> {
        self.state
            .spec
            .space
            .parse(&pending.genotype)
            .map_err(|e| StepError::Invalid {
                id: self.state.id.clone(),
                reason: format!("pending genotype {}: {e}", pending.genotype),
            })
    }

    /// Take in the result of the supernet search: tell the strategy the
    /// derived cell (or the failure), and record it as an evaluation of
    /// that cell, so that it leads into the final stage.
    fn supernet_result(
        &mut self,
        r: &queue::JobResult,
        pending: &Pending,
        consumed_ms: u64,
    ) -> Evaluation {
        let space = self.state.spec.space;
        let mut outcome = r.outcome.clone();
        let derived = match &r.outcome {
            Outcome::Ok(m) => match m.genotype.as_deref().map(|t| space.parse(t)) {
                Some(Ok(g)) => Some((g, m.val_acc)),
                Some(Err(e)) => {
                    outcome = Outcome::Dead {
                        reason: format!(
                            "the darts job derived a cell that is not a {space} genotype: {e}"
                        ),
                    };
                    None
                }
                None => {
                    outcome = Outcome::Dead {
                        reason: "the darts job's result names no derived genotype".into(),
                    };
                    None
                }
            },
            Outcome::Diverged { .. } | Outcome::Dead { .. } => None,
        };
        if let Outcome::Dead { reason } = &outcome {
            tracing::warn!(search = %self.state.id, job = %r.job_id, %reason, "the supernet search failed");
        }
        self.state
            .strategy
            .supernet_result(derived.as_ref().map(|(g, acc)| (g, *acc)));
        let named = derived
            .as_ref()
            .map(|(g, _)| (g.hash().to_string(), g.canonical_text()))
            .unwrap_or_default();
        let e = self.evaluation(r, pending, named, outcome, consumed_ms);
        self.tally(&e);
        e
    }

    /// The evaluation record of result `r` of `pending`, for the candidate
    /// `(hash, genotype)`, numbered after every result so far.
    fn evaluation(
        &self,
        r: &queue::JobResult,
        pending: &Pending,
        (hash, genotype): (String, String),
        outcome: Outcome,
        consumed_ms: u64,
    ) -> Evaluation {
        Evaluation {
            index: self.state.finished()
                + self.state.finals.len() as u64
                + self.state.retaken
                + self.state.promoted,
            stage: pending.stage,
            job_id: r.job_id.clone(),
            hash,
            genotype,
            outcome,
            attempt: r.attempt,
            worker: r.worker.clone(),
            finished_ms: r.finished_ms,
            elapsed_ms: r.finished_ms.saturating_sub(self.state.created_ms),
            queued_ms: pending.proposed_ms,
            consumed_ms,
            rung: pending.rung,
        }
    }

    /// Count a search or supernet evaluation, and keep the leaders and the
    /// best up to date.
    fn tally(&mut self, e: &Evaluation) {
        match e.val_acc() {
            Some(_) => self.state.evaluated += 1,
            None => self.state.failed += 1,
        }
        self.tally_best(e);
    }

    /// Keep the leaders and the best up to date: the best is the best
    /// accuracy at the highest rung reached.
    fn tally_best(&mut self, e: &Evaluation) {
        self.update_leaders(e);
        if e.val_acc().is_none() {
            return;
        }
        let better = match self.state.best.as_ref() {
            Some(b) if b.val_acc().is_some() => rank_order(e) > rank_order(b),
            _ => true,
        };
        if better {
            self.state.best = Some(e.clone());
        }
    }

    /// The job of a pending candidate: an evaluation with the evaluator's
    /// settings (the final stage's for a final retraining), or the supernet
    /// search.
    fn job_for(&self, key: &str, p: &Pending) -> Result<(JobKind, serde_json::Value), StepError> {
        let spec = &self.state.spec;
        let invalid = |reason: String| StepError::Invalid {
            id: self.state.id.clone(),
            reason,
        };
        if p.stage == Stage::Supernet {
            let (crate::strategy::StrategyState::Darts(darts), Some(data)) =
                (&self.state.strategy, spec.evaluator.data())
            else {
                return Err(invalid("a supernet search is pending, and the search is not a DARTS search with the torch evaluator".into()));
            };
            let job = DartsJob {
                space: spec.space,
                data: data.clone(),
                settings: darts.settings().clone(),
            };
            return Ok((
                JobKind::Darts,
                serde_json::to_value(job).expect("payload serializes"),
            ));
        }
        let genotype = spec
            .space
            .parse(&p.genotype)
            .map_err(|e| invalid(format!("pending genotype {}: {e}", p.genotype)))?;
        let evaluator = match (p.stage, &spec.evaluator, &spec.final_stage) {
            (Stage::Final, EvaluatorSpec::Torch { data, .. }, Some(f)) => EvaluatorSpec::Torch {
                data: data.clone(),
                settings: Box::new(queue::wire::TrainSettings {
                    test: true,
                    ..f.settings.clone()
                }),
            },
            _ => spec.evaluator.clone(),
        };
        let mut payload = EvalJob::new(
            spec.space,
            &genotype,
            evaluator,
            job_seed(spec.seed, Stage::hash_of(key)),
        );
        if let (Some(rung), Some(rungs)) = (p.rung, &self.state.rungs) {
            let levels = rungs.levels();
            let Some(&epochs) = levels.get(rung as usize) else {
                return Err(invalid(format!(
                    "{key} trains at rung {rung}; the ladder has {}",
                    levels.len()
                )));
            };
            // The schedule runs over the top rung's epochs.
            if let EvaluatorSpec::Torch { settings, .. } = &mut payload.evaluator {
                settings.epochs = levels[levels.len() - 1];
            }
            payload.fidelity = Some(queue::wire::Fidelity {
                rung,
                epochs,
                resume_from: rungs.resume_from(Stage::hash_of(key), rung),
            });
        }
        Ok((
            JobKind::Evaluate,
            serde_json::to_value(payload).expect("payload serializes"),
        ))
    }

    async fn enqueue_pending(&mut self, queue: &dyn Queue) -> Result<usize, StepError> {
        let mut hashes = Vec::new();
        let mut jobs = Vec::new();
        for (hash, p) in self
            .state
            .pending
            .iter()
            .filter(|(_, p)| p.job_id.is_none())
        {
            let (kind, payload) = self.job_for(hash, p)?;
            jobs.push(NewJob {
                search_id: self.state.id.clone(),
                dedupe_key: hash.clone(),
                kind,
                priority: p.priority,
                payload,
            });
            hashes.push(hash.clone());
        }
        if jobs.is_empty() {
            return Ok(0);
        }
        let n = jobs.len();
        let enqueued = match queue.enqueue(jobs).await {
            Err(QueueError::Cancelled(_)) => {
                self.state.status = Status::Cancelled;
                return Ok(0);
            }
            other => other?,
        };
        for (hash, e) in hashes.iter().zip(enqueued) {
            if let Some(p) = self.state.pending.get_mut(hash) {
                p.job_id = Some(e.job_id);
            }
        }
        Ok(n)
    }

    async fn finish(&mut self, store: &dyn Store, status: Status) -> Result<(), StepError> {
        let now = queue::now_ms();
        self.state.status = status;
        self.state.finished_ms = Some(now);
        self.state.updated_ms = now;
        store.checkpoint(&self.state, &[]).await?;
        Ok(())
    }
}

/// The key of the candidate in `map` whose job is `job_id`.
fn key_of(map: &BTreeMap<String, Pending>, job_id: &str) -> Option<String> {
    map.iter()
        .find(|(_, p)| p.job_id.as_deref() == Some(job_id))
        .map(|(k, _)| k.clone())
}

/// How evaluations compare for the best and the leaders: the rung first
/// (a result at a higher rung trained longer), then the accuracy.
fn rank_order(e: &Evaluation) -> (u32, f64) {
    (
        e.rung.unwrap_or(0),
        e.val_acc().unwrap_or(f64::NEG_INFINITY),
    )
}

/// What the strategy is told of a job's outcome.
fn observed(outcome: &Outcome) -> strategy::Outcome {
    match outcome {
        Outcome::Ok(m) => strategy::Outcome::Accuracy(m.val_acc),
        Outcome::Diverged { .. } | Outcome::Dead { .. } => strategy::Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, defect 9: the evaluation log's folder is named by the
    /// search id; one that would leave the results folder is refused,
    /// naming it, and nothing is created.
    #[test]
    fn evaluation_logs_refuse_ids_that_leave_the_results_folder() {
        let dir = tempfile::tempdir().unwrap();
        let results = dir.path().join("results");
        for bad in ["..", "a/b", "../x", "."] {
            let err = EvalLog::open(&results, bad).unwrap_err().to_string();
            assert!(err.contains(&format!("search id {bad:?}")), "{err}");
        }
        assert!(!results.exists() && !dir.path().join("x").exists());
        let log = EvalLog::open(&results, "s-1").unwrap();
        assert_eq!(log.path, results.join("s-1").join("evaluations.jsonl"));
    }
}
