//! Surrogate-ranked local search, PNAS's idea for spaces without blocks
//! (NAS-Bench-201, DARTS, macro): after a few random cells, each round
//! takes the one-edit neighbours of the best cells found so far, lets the
//! surrogate rank them, and trains the best K.

use super::random::sample_new;
use super::{Ledger, Member, Outcome, Proposal, RankingAsk, Scored, Strategy};
use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceRng};
use std::collections::{HashSet, VecDeque};

/// Mutants drawn per parent in spaces whose neighbours are not listed.
const MUTANTS_PER_PARENT: usize = 64;

/// The surrogate-ranked local search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurrogateLocal {
    /// What it searches.
    space: Space,
    /// Random cells before the first round.
    init: usize,
    /// K: candidates trained per round.
    beam: usize,
    /// How many of the best cells' neighbourhoods each round ranks.
    parents: usize,
    /// Every random choice; persisted.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
    /// Ranked candidates still to propose, best first.
    queue: VecDeque<(Genotype, f64)>,
    /// Every result with an accuracy.
    observed: Vec<Member>,
    /// Candidates waiting for their scores.
    awaiting: Option<Vec<Genotype>>,
    /// The predictor the spec names; `None`: the ranker's default. Absent
    /// in states saved before the setting.
    #[serde(default)]
    predictor: Option<String>,
}

impl SurrogateLocal {
    /// Built through [`super::build`], which checks the settings.
    pub(crate) fn new(
        space: Space,
        budget: usize,
        init: usize,
        beam: usize,
        parents: usize,
        seed: u64,
        predictor: Option<String>,
    ) -> Self {
        Self {
            space,
            init,
            beam,
            parents,
            rng: space::rng(seed),
            ledger: Ledger::new(budget),
            queue: VecDeque::new(),
            observed: Vec::new(),
            awaiting: None,
            predictor,
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The neighbours of the best `parents` cells, not proposed before.
    fn candidates(&mut self) -> Vec<Genotype> {
        let mut best: Vec<&Member> = self.observed.iter().collect();
        best.sort_by(|a, b| {
            b.accuracy
                .partial_cmp(&a.accuracy)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let parents: Vec<Genotype> = best
            .iter()
            .take(self.parents)
            .map(|m| m.genotype.clone())
            .collect();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p in &parents {
            let near: Vec<Genotype> = match p {
                Genotype::Nb201(c) => c.neighbours().into_iter().map(Genotype::Nb201).collect(),
                _ => (0..MUTANTS_PER_PARENT)
                    .filter_map(|_| self.space.mutate(p, &mut self.rng).ok())
                    .collect(),
            };
            for g in near {
                if !self.ledger.contains(&g) && seen.insert(g.hash().0) {
                    out.push(g);
                }
            }
        }
        out
    }
}

impl Strategy for SurrogateLocal {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        while out.len() < max && self.ledger.can_propose() {
            let next = if let Some(q) = self.queue.pop_front() {
                Some(q)
            } else if self.ledger.proposed() < self.init {
                sample_new(&self.space, &mut self.rng, &self.ledger).map(|g| (g, 0.0))
            } else {
                break;
            };
            let Some((genotype, priority)) = next else {
                self.ledger.set_exhausted();
                break;
            };
            if self.ledger.record(&genotype) {
                out.push(Proposal { genotype, priority });
            }
        }
        out
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        self.ledger
            .settle_into(genotype, outcome, &mut self.observed);
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn ranking_request(&mut self) -> Option<RankingAsk> {
        // Rounds are synchronous: rank once the last round's results are in.
        let round_over = self.queue.is_empty()
            && self.ledger.pending() == 0
            && self.ledger.proposed() >= self.init;
        if !round_over || !self.ledger.can_propose() {
            return None;
        }
        if self.awaiting.is_none() {
            let mut candidates = self.candidates();
            if candidates.is_empty() {
                // Every neighbour was tried (or all results failed): restart
                // from random cells.
                candidates = (0..self.beam)
                    .filter_map(|_| sample_new(&self.space, &mut self.rng, &self.ledger))
                    .collect();
                if candidates.is_empty() {
                    self.ledger.set_exhausted();
                    return None;
                }
            }
            self.awaiting = Some(candidates);
        }
        Some(RankingAsk::of(
            self.awaiting.as_deref()?,
            &self.observed,
            self.predictor.as_deref(),
        ))
    }

    fn ranked(&mut self, scored: &Scored) {
        let Some(candidates) = super::answered(&mut self.awaiting, scored) else {
            return;
        };
        self.queue = super::best_first(&candidates, &scored.scores, self.beam);
    }
}
