//! Regularized evolution (Real, Aggarwal, Huang & Le 2019), in its
//! asynchronous form: tournament selection among the most recent results,
//! one-edit mutation, and aging instead of killing the worst.

use super::random::sample_new;
use super::{Ledger, Member, Outcome, Proposal, Strategy};
use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceRng};
use std::collections::VecDeque;

/// How many mutants of one parent to draw before giving up on its
/// neighbourhood (a NAS-Bench-201 cell has 24 neighbours).
const MUTATION_TRIES: usize = 64;

/// Regularized evolution over a space, up to a budget of proposals.
///
/// The first P proposals are uniform samples. After that, each proposal is
/// a mutant of a parent: the best of S members drawn without replacement
/// from the population (all of them if it has fewer than S). Each result
/// joins the population, and beyond P members the oldest leaves (aging);
/// failures do not join. A parent whose mutants were all proposed before
/// gives way to a uniform sample.
///
/// With an empty population after the first P proposals, evolution waits
/// for results while any are pending. If none are (every result so far
/// failed), it proposes uniform samples again rather than wait forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegularizedEvolution {
    /// What it evolves.
    space: Space,
    /// P: the population holds the last P successful results.
    population_size: usize,
    /// S: the tournament size.
    sample_size: usize,
    /// Every random choice; persisted, so a resumed search draws on.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
    /// The population, oldest first.
    population: VecDeque<Member>,
}

impl RegularizedEvolution {
    /// Built through [`super::build`], which checks the settings.
    pub(crate) fn new(
        space: Space,
        budget: usize,
        population_size: usize,
        sample_size: usize,
        seed: u64,
    ) -> Self {
        Self {
            space,
            population_size,
            sample_size,
            rng: space::rng(seed),
            ledger: Ledger::new(budget),
            population: VecDeque::with_capacity(population_size + 1),
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// P, the population size.
    pub fn population_size(&self) -> usize {
        self.population_size
    }

    /// S, the tournament size.
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// The population, oldest first.
    pub fn population(&self) -> impl ExactSizeIterator<Item = &Member> {
        self.population.iter()
    }

    /// A uniform sample not proposed before.
    fn random(&mut self) -> Option<Proposal> {
        sample_new(&self.space, &mut self.rng, &self.ledger).map(|genotype| Proposal {
            genotype,
            priority: 0.0,
        })
    }

    /// A mutant of the tournament winner, not proposed before. The
    /// population must not be empty.
    fn child(&mut self) -> Option<Proposal> {
        let n = self.population.len();
        let picks = rand::seq::index::sample(&mut self.rng, n, self.sample_size.min(n));
        let winner = picks
            .iter()
            .map(|i| &self.population[i])
            .reduce(|best, m| if m.accuracy > best.accuracy { m } else { best })?
            .clone();
        for _ in 0..MUTATION_TRIES {
            let genotype = self.space.mutate(&winner.genotype, &mut self.rng).ok()?;
            if !self.ledger.contains(&genotype) {
                return Some(Proposal {
                    genotype,
                    priority: winner.accuracy,
                });
            }
        }
        self.random()
    }
}

impl Strategy for RegularizedEvolution {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        // Every result so far failed and none is pending: start over with
        // uniform samples instead of waiting for results that cannot come.
        let restart = self.ledger.proposed() >= self.population_size
            && self.population.is_empty()
            && self.ledger.pending() == 0;
        while out.len() < max && self.ledger.can_propose() {
            let next = if restart || self.ledger.proposed() < self.population_size {
                self.random()
            } else if self.population.is_empty() {
                break;
            } else {
                self.child()
            };
            let Some(proposal) = next else {
                self.ledger.set_exhausted();
                break;
            };
            self.ledger.record(&proposal.genotype);
            out.push(proposal);
        }
        out
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        if let Some(accuracy) = self.ledger.settle(genotype, outcome) {
            self.population.push_back(Member {
                genotype: genotype.clone(),
                accuracy,
            });
            while self.population.len() > self.population_size {
                self.population.pop_front();
            }
        }
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}
