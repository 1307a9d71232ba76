//! The bookkeeping every strategy shares: what it proposed, what is still
//! out, what failed, and the best result.

use super::Outcome;
use serde::{Deserialize, Serialize};
use space::Genotype;
use std::collections::BTreeSet;

/// An architecture with its observed accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The architecture.
    pub genotype: Genotype,
    /// Its validation accuracy in percent.
    pub accuracy: f64,
}

/// Proposals and results of one strategy, keyed by [`Genotype::hash`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// The most proposals the strategy may make.
    budget: usize,
    /// Hashes of every genotype proposed: the deduplication set.
    proposed: BTreeSet<u64>,
    /// Hashes of the proposals without a result yet.
    pending: BTreeSet<u64>,
    /// How many proposals failed (and did not succeed later).
    failed: usize,
    /// Hashes of the proposals whose result was a failure: one of them may
    /// still succeed, when its dead-lettered job is replayed. (Empty in
    /// states saved before the field: their failures stay failures.)
    #[serde(default)]
    failures: BTreeSet<u64>,
    /// The best accuracy observed (the first one on ties).
    best: Option<Member>,
    /// Set when the space has no unproposed architecture left to find, so
    /// the strategy stops short of its budget.
    exhausted: bool,
}

impl Ledger {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            proposed: BTreeSet::new(),
            pending: BTreeSet::new(),
            failed: 0,
            failures: BTreeSet::new(),
            best: None,
            exhausted: false,
        }
    }

    /// The most proposals the strategy may make.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// How many candidates were proposed.
    pub fn proposed(&self) -> usize {
        self.proposed.len()
    }

    /// How many proposals await their result.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// How many results arrived, failures included.
    pub fn observed(&self) -> usize {
        self.proposed.len() - self.pending.len()
    }

    /// How many proposals failed (and did not succeed later).
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// The best result so far.
    pub fn best(&self) -> Option<&Member> {
        self.best.as_ref()
    }

    /// Whether the strategy found no unproposed architecture left in the
    /// space and stopped short of its budget.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Whether `genotype` (or an equal architecture) was proposed.
    pub fn contains(&self, genotype: &Genotype) -> bool {
        self.proposed.contains(&genotype.hash().0)
    }

    /// Budget spent (or space exhausted) and every proposal observed.
    pub fn is_done(&self) -> bool {
        !self.can_propose() && self.pending.is_empty()
    }

    /// Whether more proposals are allowed.
    pub(crate) fn can_propose(&self) -> bool {
        self.proposed.len() < self.budget && !self.exhausted
    }

    pub(crate) fn set_exhausted(&mut self) {
        self.exhausted = true;
    }

    /// Record a proposal; false if it was proposed before.
    pub(crate) fn record(&mut self, genotype: &Genotype) -> bool {
        let hash = genotype.hash().0;
        let new = self.proposed.insert(hash);
        if new {
            self.pending.insert(hash);
        }
        new
    }

    /// Record a result like [`Ledger::settle`], and keep a successful one in
    /// `observed` (what a ranked strategy fits the surrogate on).
    pub(crate) fn settle_into(
        &mut self,
        genotype: &Genotype,
        outcome: Outcome,
        observed: &mut Vec<Member>,
    ) {
        if let Some(accuracy) = self.settle(genotype, outcome) {
            observed.push(Member {
                genotype: genotype.clone(),
                accuracy,
            });
        }
    }

    /// Record a result. Returns the accuracy if it is a finite accuracy and
    /// either the first result of a pending proposal or a late success of
    /// a proposal that failed (its job was replayed from the dead-letter
    /// list), None otherwise (a failure, a repeat, or a genotype never
    /// proposed).
    pub(crate) fn settle(&mut self, genotype: &Genotype, outcome: Outcome) -> Option<f64> {
        let hash = genotype.hash().0;
        let accuracy = match outcome {
            Outcome::Accuracy(a) if a.is_finite() => Some(a),
            _ => None,
        };
        if self.pending.remove(&hash) {
            if accuracy.is_none() {
                self.failed += 1;
                self.failures.insert(hash);
            }
        } else if accuracy.is_some() && self.failures.remove(&hash) {
            self.failed -= 1;
        } else {
            return None;
        }
        let accuracy = accuracy?;
        if self.best.as_ref().is_none_or(|b| accuracy > b.accuracy) {
            self.best = Some(Member {
                genotype: genotype.clone(),
                accuracy,
            });
        }
        Some(accuracy)
    }
}
