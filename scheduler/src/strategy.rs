//! Search strategies as pure ask/tell state machines: [`Strategy::propose`]
//! asks for candidates to enqueue, [`Strategy::observe`] tells a result.
//!
//! A strategy does no I/O, runs no tasks and reads no clock; every random
//! choice goes through its own [`space::SpaceRng`], seeded at [`build`], so
//! the same seed and the same results give the same proposals. Its whole
//! state is plain data: the scheduler persists [`StrategyState`] as JSON
//! after every step ([`StrategyState::to_json`]) and a restarted scheduler
//! resumes exactly where it stopped.
//!
//! Architecture invariant: a strategy never proposes the same architecture
//! twice. The key is [`space::Genotype::hash`], the deduplication key of the
//! whole system.

mod evolution;
mod ledger;
mod random;
mod rng;

pub use evolution::RegularizedEvolution;
pub use ledger::{Ledger, Member};
pub use random::RandomSearch;

use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceError};
use thiserror::Error;

/// A candidate to enqueue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The architecture to train.
    pub genotype: Genotype,
    /// Higher is trained first within the search (the queue's ordering).
    /// Random search gives every proposal 0; evolution gives a child its
    /// parent's accuracy, so that children of good parents train first.
    pub priority: f64,
}

/// What came of training a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Validation accuracy in percent. A value that is not finite is taken
    /// as [`Outcome::Failed`].
    Accuracy(f64),
    /// Diverged or dead-lettered: no accuracy.
    Failed,
}

/// A search strategy: asked for candidates, told their results.
pub trait Strategy {
    /// Up to `max` new candidates to enqueue now, none of them proposed
    /// before (by [`Genotype::hash`]). May return fewer or none: while it
    /// waits for results, once the budget is spent, or when the space has
    /// no architecture left that it has not proposed.
    fn propose(&mut self, max: usize) -> Vec<Proposal>;

    /// A result arrived for `genotype`. Results may come in any order and
    /// while other proposals are outstanding. Only the first result for a
    /// pending proposal counts: a repeated delivery, or a genotype this
    /// strategy never proposed, is ignored.
    fn observe(&mut self, genotype: &Genotype, outcome: Outcome);

    /// What has been proposed and observed so far, and the best result.
    fn ledger(&self) -> &Ledger;

    /// Budget spent (or space exhausted) and every proposal observed.
    fn is_done(&self) -> bool {
        self.ledger().is_done()
    }
}

/// Every strategy's state, persisted as JSON by the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum StrategyState {
    /// Uniform random search.
    Random(RandomSearch),
    /// Regularized evolution.
    Evolution(RegularizedEvolution),
}

impl StrategyState {
    /// The state as JSON. Floats are written so that [`Self::from_json`]
    /// reads back the same bits, which exact resumption needs.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a strategy state is always serializable")
    }

    /// Read a state written by [`Self::to_json`], and check its space.
    pub fn from_json(json: &str) -> Result<Self, StrategyError> {
        let state: Self = serde_json::from_str(json).map_err(StrategyError::State)?;
        state.space().validate().map_err(StrategyError::Space)?;
        Ok(state)
    }

    /// The space the strategy searches.
    pub fn space(&self) -> &Space {
        match self {
            Self::Random(s) => s.space(),
            Self::Evolution(s) => s.space(),
        }
    }
}

impl Strategy for StrategyState {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        match self {
            Self::Random(s) => s.propose(max),
            Self::Evolution(s) => s.propose(max),
        }
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        match self {
            Self::Random(s) => s.observe(genotype, outcome),
            Self::Evolution(s) => s.observe(genotype, outcome),
        }
    }

    fn ledger(&self) -> &Ledger {
        match self {
            Self::Random(s) => s.ledger(),
            Self::Evolution(s) => s.ledger(),
        }
    }
}

/// Regularized evolution's default population P: the number of most recent
/// results that parents are drawn from.
pub const DEFAULT_POPULATION: usize = 20;

/// Regularized evolution's default tournament size S: how many population
/// members each parent is the best of.
pub const DEFAULT_SAMPLE: usize = 5;

/// Which strategy a search uses, with its settings, as submitted.
///
/// In JSON: `{"strategy": "random"}` or
/// `{"strategy": "evolution", "population": 20, "sample": 5}`, where the
/// settings may be left out for the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategySpec {
    /// Uniform random search.
    Random,
    /// Regularized evolution (Real et al. 2019), asynchronous.
    ///
    /// The defaults, P = [`DEFAULT_POPULATION`] and S = [`DEFAULT_SAMPLE`],
    /// suit a budget of about 100 evaluations: the first 20 are random, the
    /// other 80 are mutants of the best of 5 among the last 20 results, a
    /// selection pressure strong enough to climb and weak enough to keep
    /// exploring. On NAS-Bench-201 CIFAR-10 at that budget they beat random
    /// search (`tests/nb201_search.rs`).
    Evolution {
        /// Population size P: results older than the last P leave it.
        #[serde(default = "default_population")]
        population: usize,
        /// Tournament size S, at most P.
        #[serde(default = "default_sample")]
        sample: usize,
    },
}

fn default_population() -> usize {
    DEFAULT_POPULATION
}

fn default_sample() -> usize {
    DEFAULT_SAMPLE
}

impl StrategySpec {
    /// Regularized evolution with the default settings.
    pub fn evolution() -> Self {
        Self::Evolution {
            population: DEFAULT_POPULATION,
            sample: DEFAULT_SAMPLE,
        }
    }
}

/// Settings a strategy cannot run with, or a state that cannot be read.
#[derive(Debug, Error)]
pub enum StrategyError {
    /// The space's settings are invalid.
    #[error("space: {0}")]
    Space(SpaceError),
    /// A budget of 0.
    #[error("budget: must be at least 1 evaluation")]
    Budget,
    /// A population of 0.
    #[error("population: must be at least 1")]
    Population,
    /// A tournament size of 0 or above the population size.
    #[error("sample: {sample} must be between 1 and the population size {population}")]
    Sample {
        /// The tournament size given.
        sample: usize,
        /// The population size given.
        population: usize,
    },
    /// A persisted state that is not valid JSON of a strategy.
    #[error("strategy state: bad json: {0}")]
    State(serde_json::Error),
}

/// A fresh strategy for `spec` over `space`: at most `budget` proposals,
/// every random choice drawn from `space::rng(seed)`.
pub fn build(
    spec: &StrategySpec,
    space: Space,
    budget: usize,
    seed: u64,
) -> Result<StrategyState, StrategyError> {
    space.validate().map_err(StrategyError::Space)?;
    if budget == 0 {
        return Err(StrategyError::Budget);
    }
    Ok(match *spec {
        StrategySpec::Random => StrategyState::Random(RandomSearch::new(space, budget, seed)),
        StrategySpec::Evolution { population, sample } => {
            if population == 0 {
                return Err(StrategyError::Population);
            }
            if sample == 0 || sample > population {
                return Err(StrategyError::Sample { sample, population });
            }
            StrategyState::Evolution(RegularizedEvolution::new(
                space, budget, population, sample, seed,
            ))
        }
    })
}
