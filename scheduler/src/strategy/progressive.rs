//! Progressive NAS (Liu et al. 2018): train every 1-block cell, then level
//! by level expand the cells just trained into all their children with one
//! more block, let the surrogate rank the children, and train the best K,
//! until cells have B blocks.
//!
//! The strategy stays pure: when a level is done it asks for a ranking
//! ([`Strategy::ranking_request`]) and waits; the scheduler calls the
//! surrogate (in-process or the Redis service) and hands the scores back
//! ([`Strategy::ranked`]).

use super::{Ledger, Member, Outcome, Proposal, RankingAsk, Scored, Strategy};
use serde::{Deserialize, Serialize};
use space::{Genotype, PnasCell, Space};
use std::collections::{HashSet, VecDeque};

/// The PNAS search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progressive {
    /// `Space::Pnas { blocks: B }`: the level to stop at.
    space: Space,
    /// K: children trained per level.
    beam: usize,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
    /// The block count of the cells being trained now.
    level: usize,
    /// Cells of this level still to propose, best-ranked first, with their
    /// priorities.
    queue: VecDeque<(Genotype, f64)>,
    /// Cells of this level proposed so far.
    level_cells: Vec<Genotype>,
    /// Every result with an accuracy: the surrogate's training data.
    observed: Vec<Member>,
    /// Children waiting for their scores.
    awaiting: Option<Vec<Genotype>>,
    /// The predictor the spec names; `None`: the ranker's default (the
    /// paper's LSTM). Absent in states saved before the setting.
    #[serde(default)]
    predictor: Option<String>,
}

impl Progressive {
    /// Built through [`super::build`], which checks the settings.
    pub(crate) fn new(space: Space, beam: usize, budget: usize, predictor: Option<String>) -> Self {
        let queue = match PnasCell::enumerate(1) {
            Ok(cells) => cells.map(|c| (Genotype::Pnas(c), 0.0)).collect(),
            Err(_) => VecDeque::new(),
        };
        Self {
            space,
            beam,
            ledger: Ledger::new(budget),
            level: 1,
            queue,
            level_cells: Vec::new(),
            observed: Vec::new(),
            awaiting: None,
            predictor,
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The block count of the cells being trained now.
    pub fn level(&self) -> usize {
        self.level
    }

    fn max_blocks(&self) -> usize {
        match self.space {
            Space::Pnas { blocks } => blocks,
            _ => 1,
        }
    }

    /// Every proposal of this level has its result.
    fn level_done(&self) -> bool {
        self.queue.is_empty() && self.ledger.pending() == 0
    }

    /// The children of this level's trained cells, not proposed before.
    fn children(&self) -> Vec<Genotype> {
        let trained: HashSet<u64> = self
            .observed
            .iter()
            .filter(|m| self.level_cells.iter().any(|c| c == &m.genotype))
            .map(|m| m.genotype.hash().0)
            .collect();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for cell in &self.level_cells {
            let Genotype::Pnas(c) = cell else { continue };
            if !trained.contains(&cell.hash().0) {
                continue;
            }
            for child in c.expand() {
                let g = Genotype::Pnas(child);
                if !self.ledger.contains(&g) && seen.insert(g.hash().0) {
                    out.push(g);
                }
            }
        }
        out
    }
}

impl Strategy for Progressive {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        while out.len() < max && self.ledger.can_propose() {
            let Some((genotype, priority)) = self.queue.pop_front() else {
                break;
            };
            if !self.ledger.record(&genotype) {
                continue;
            }
            self.level_cells.push(genotype.clone());
            out.push(Proposal { genotype, priority });
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
        if !self.level_done() || !self.ledger.can_propose() {
            return None;
        }
        if self.awaiting.is_none() {
            let children = if self.level < self.max_blocks() {
                self.children()
            } else {
                Vec::new()
            };
            if children.is_empty() {
                // Level B reached (or nothing left to expand): the search is over.
                self.ledger.set_exhausted();
                return None;
            }
            self.awaiting = Some(children);
        }
        Some(RankingAsk::of(
            self.awaiting.as_deref()?,
            &self.observed,
            self.predictor.as_deref(),
        ))
    }

    fn ranked(&mut self, scored: &Scored) {
        let Some(children) = super::answered(&mut self.awaiting, scored) else {
            return;
        };
        let left = self.ledger.budget() - self.ledger.proposed();
        self.queue = super::best_first(&children, &scored.scores, self.beam.min(left));
        self.level += 1;
        self.level_cells.clear();
    }
}
