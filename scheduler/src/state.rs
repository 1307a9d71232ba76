//! A search's persisted state: its spec, its strategy's state, the results
//! consumed so far, and the candidates proposed but not yet evaluated.

use crate::spec::SearchSpec;
use crate::strategy::StrategyState;
use queue::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a search is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Proposing, waiting for results.
    Running,
    /// Budget spent, every candidate evaluated.
    Done,
    /// Cancelled by a user.
    Cancelled,
    /// Stopped by an error it cannot recover from.
    Failed {
        /// The error that stopped it, for `nas status`.
        reason: String,
    },
}

impl Status {
    /// Done, cancelled or failed: the scheduler drives it no more.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Status::Running)
    }

    /// One word.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Done => "done",
            Status::Cancelled => "cancelled",
            Status::Failed { .. } => "failed",
        }
    }
}

/// Which part of a search a job belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Evaluating candidates for the strategy (proxy settings).
    #[default]
    Search,
    /// Retraining the best candidates with the final settings and scoring
    /// them on the test set.
    Final,
    /// A DARTS supernet search (a [`queue::JobKind::Darts`] job); its
    /// evaluation carries the derived cell and the supernet's accuracy.
    Supernet,
}

/// The key of a search's supernet job in the pending map and the queue.
pub const SUPERNET_KEY: &str = "supernet";

impl Stage {
    /// The key of a search job at `rung` of a multi-fidelity search, in
    /// the pending map and as the queue's dedupe key: `<hash>@r<rung>`, so
    /// that each (candidate, rung) is one job.
    pub fn rung_key(hash: &str, rung: u32) -> String {
        format!("{hash}@r{rung}")
    }

    /// The key of a genotype's job of this stage, in the pending map and
    /// as the queue's dedupe key: the hash for search jobs, `final:<hash>`
    /// for final ones.
    pub fn key(self, hash: &str) -> String {
        match self {
            Stage::Search => hash.to_string(),
            Stage::Final => format!("final:{hash}"),
            Stage::Supernet => SUPERNET_KEY.to_string(),
        }
    }

    /// One word, for tables and CSV.
    pub fn word(self) -> &'static str {
        match self {
            Stage::Search => "search",
            Stage::Final => "final",
            Stage::Supernet => "supernet",
        }
    }

    /// The hash inside a key made by [`Stage::key`] or [`Stage::rung_key`].
    pub fn hash_of(key: &str) -> &str {
        let key = key.strip_prefix("final:").unwrap_or(key);
        key.split_once("@r").map_or(key, |(hash, _)| hash)
    }
}

/// A candidate proposed and not yet evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// Search, final retraining, or a supernet search.
    #[serde(default)]
    pub stage: Stage,
    /// Canonical text (empty for a supernet search, whose cell is not
    /// known until it ends).
    pub genotype: String,
    /// Queue priority.
    pub priority: f64,
    /// The queue's job id, once enqueued.
    pub job_id: Option<String>,
    /// When the strategy proposed it.
    pub proposed_ms: u64,
    /// Multi-fidelity searches: the rung it trains at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u32>,
}

/// One evaluated candidate: a line of `evaluations.jsonl` and of the
/// search's evaluation list in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Position in the search's evaluations, from 0 (the result of a
    /// replayed dead-lettered job has its own, after its dead record's).
    pub index: u64,
    /// Search, final retraining, or a supernet search.
    #[serde(default)]
    pub stage: Stage,
    /// The job.
    pub job_id: String,
    /// Canonical genotype hash (of the derived cell for a supernet search;
    /// empty if that search failed).
    pub hash: String,
    /// Canonical genotype text (likewise).
    pub genotype: String,
    /// How it ended, with its metrics.
    pub outcome: Outcome,
    /// Deliveries it took.
    pub attempt: u32,
    /// Who evaluated it.
    pub worker: String,
    /// When the result was recorded.
    pub finished_ms: u64,
    /// Milliseconds since the search was submitted.
    pub elapsed_ms: u64,
    /// When the strategy proposed the candidate, just before it was
    /// enqueued (ms since the epoch; 0 in records older than the field).
    #[serde(default)]
    pub queued_ms: u64,
    /// When the scheduler consumed the result (ms since the epoch; 0 in
    /// records older than the field). `consumed_ms - queued_ms` is the
    /// candidate's time in the system, which `nas bench queue` reports.
    #[serde(default)]
    pub consumed_ms: u64,
    /// Multi-fidelity searches: the rung of this result (its epochs are
    /// the scores' `epochs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u32>,
}

impl Evaluation {
    /// Validation accuracy, if it was evaluated.
    pub fn val_acc(&self) -> Option<f64> {
        match &self.outcome {
            Outcome::Ok(m) if m.val_acc.is_finite() => Some(m.val_acc),
            _ => None,
        }
    }
}

/// Everything the scheduler persists about a search after each step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchState {
    /// The search id.
    pub id: String,
    /// As submitted.
    pub spec: SearchSpec,
    /// Where it is.
    pub status: Status,
    /// The strategy, mid-search.
    pub strategy: StrategyState,
    /// Results consumed from the queue's result log.
    pub cursor: u64,
    /// Proposed, not yet evaluated, by genotype hash.
    pub pending: BTreeMap<String, Pending>,
    /// Candidates whose job was dead-lettered (search and final stage), by
    /// the same key as `pending`, with their job ids. If such a job is
    /// replayed (`nas dlq replay`) while the search runs, its result is
    /// still taken as the candidate's: recorded as an evaluation whose
    /// `attempt` is the replayed job's, told to the strategy, the best and
    /// the leaders updated, and the counts corrected (`failed` - 1 and
    /// `evaluated` + 1 when it succeeded). The evaluations log then holds
    /// both records of the job, in the order they came: the dead one, then
    /// the replayed result, each with its own index. A supernet search's
    /// job is not kept: its failure ended the DARTS strategy. A search
    /// candidate that succeeds after the final stage began is not
    /// retrained.
    #[serde(default)]
    pub dead: BTreeMap<String, Pending>,
    /// Results of replayed search candidates taken (see `dead`): each is
    /// a line of the evaluations log besides the one per candidate that
    /// `evaluated + failed` counts, so evaluation indices count them too.
    #[serde(default)]
    pub retaken: u64,
    /// Candidates evaluated (with an accuracy).
    pub evaluated: u64,
    /// Candidates that diverged or were dead-lettered (and not evaluated
    /// after a replay).
    pub failed: u64,
    /// Entries of the search's result log that did not decode, set aside
    /// (kept in `<results>/<search>/undecodable.jsonl`); a pending
    /// candidate such an entry names is recorded as failed.
    #[serde(default)]
    pub undecodable: u64,
    /// The best evaluation so far.
    pub best: Option<Evaluation>,
    /// The best search evaluations, best first, as many as the final stage
    /// retrains.
    #[serde(default)]
    pub leaders: Vec<Evaluation>,
    /// Whether the final stage has begun.
    #[serde(default)]
    pub final_started: bool,
    /// Final retraining results.
    #[serde(default)]
    pub finals: Vec<Evaluation>,
    /// Submission time.
    pub created_ms: u64,
    /// Last step that changed something.
    pub updated_ms: u64,
    /// When it reached a terminal status.
    #[serde(default)]
    pub finished_ms: Option<u64>,
    /// Multi-fidelity searches: the rungs, every candidate's climb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rungs: Option<crate::fidelity::Rungs>,
    /// Multi-fidelity searches: results of promoted rungs (beyond each
    /// candidate's first, which `evaluated + failed` counts).
    #[serde(default)]
    pub promoted: u64,
}

impl SearchState {
    /// A new search from a checked spec.
    pub fn new(id: String, spec: SearchSpec) -> Result<Self, crate::strategy::StrategyError> {
        let strategy = crate::strategy::build(&spec.strategy, spec.space, spec.budget, spec.seed)?;
        let spec_rungs = (spec.fidelity.clone()).map(crate::fidelity::Rungs::new);
        let now = queue::now_ms();
        Ok(Self {
            id,
            spec,
            status: Status::Running,
            strategy,
            cursor: 0,
            pending: BTreeMap::new(),
            dead: BTreeMap::new(),
            retaken: 0,
            undecodable: 0,
            evaluated: 0,
            failed: 0,
            best: None,
            leaders: Vec::new(),
            final_started: false,
            finals: Vec::new(),
            created_ms: now,
            updated_ms: now,
            finished_ms: None,
            rungs: spec_rungs,
            promoted: 0,
        })
    }

    /// Results seen, of either kind.
    pub fn finished(&self) -> u64 {
        self.evaluated + self.failed
    }

    /// The search's answer: the final retraining with the best validation
    /// accuracy if the search has a final stage, else the best search
    /// evaluation.
    pub fn winner(&self) -> Option<&Evaluation> {
        let best_final = self
            .finals
            .iter()
            .filter(|e| e.val_acc().is_some())
            .max_by(|a, b| {
                a.val_acc()
                    .partial_cmp(&b.val_acc())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        best_final.or(self.best.as_ref())
    }
}
