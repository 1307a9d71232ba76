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

mod bananas;
mod darts;
mod evolution;
mod ledger;
mod progressive;
mod random;
mod rl;
mod surrogate_local;

pub use bananas::{Acquisition, Bananas, BananasSettings, UCB_KAPPA};
pub use darts::{DartsPhase, DartsStrategy};
pub use evolution::RegularizedEvolution;
pub use ledger::{Ledger, Member};
pub use progressive::Progressive;
pub use random::RandomSearch;
pub use rl::RlStrategy;
pub use surrogate_local::SurrogateLocal;

pub use crate::rank::Scored;
use queue::wire::DartsSettings;
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
    /// pending proposal counts, except that a proposal that failed may
    /// still succeed later (its dead-lettered job was replayed): a repeated
    /// delivery, or a genotype this strategy never proposed, is ignored.
    fn observe(&mut self, genotype: &Genotype, outcome: Outcome);

    /// What has been proposed and observed so far, and the best result.
    fn ledger(&self) -> &Ledger;

    /// Budget spent (or space exhausted) and every proposal observed.
    fn is_done(&self) -> bool {
        self.ledger().is_done()
    }

    /// Candidates the strategy needs scored by the surrogate before it can
    /// propose more, with the results to fit it on; `None` when it needs
    /// nothing. Asked before every [`Strategy::propose`]; the same request
    /// comes back until [`Strategy::ranked`] answers it.
    fn ranking_request(&mut self) -> Option<RankingAsk> {
        None
    }

    /// The surrogate's scores (and their spreads) for the last request's
    /// candidates, in order.
    fn ranked(&mut self, _scored: &Scored) {}

    /// A DARTS supernet search the strategy needs run before it has a
    /// candidate, once: `Some` the first time it is asked, then `None`
    /// (the scheduler persists the request with the strategy's state).
    fn supernet_request(&mut self) -> Option<DartsSettings> {
        None
    }

    /// The supernet search's result: the derived cell and the supernet's
    /// validation accuracy, or `None` when the search failed.
    fn supernet_result(&mut self, _result: Option<(&Genotype, f64)>) {}
}

/// The `k` best-scored of `candidates`, best first (ties in candidate
/// order), each architecture once, with its score as its queue priority:
/// how a ranked strategy turns the surrogate's reply into proposals.
pub(crate) fn best_first(
    candidates: &[Genotype],
    scores: &[f64],
    k: usize,
) -> std::collections::VecDeque<(Genotype, f64)> {
    let mut order: Vec<usize> = (0..candidates.len().min(scores.len())).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .partial_cmp(&scores[a])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let mut taken = std::collections::HashSet::new();
    order
        .into_iter()
        .filter(|&i| taken.insert(candidates[i].hash().0))
        .take(k)
        .map(|i| (candidates[i].clone(), scores[i]))
        .collect()
}

/// What a strategy asks the surrogate (the scheduler turns it into the
/// surrogate service's wire `RankRequest`).
#[derive(Debug, Clone, PartialEq)]
pub struct RankingAsk {
    /// The candidates to score.
    pub candidates: Vec<Genotype>,
    /// Every result so far: (architecture, validation accuracy in percent).
    pub training: Vec<(Genotype, f64)>,
    /// The predictor the spec names ([`crate::rank::PREDICTORS`] or
    /// [`crate::rank::AUTO`]); `None`: the ranker's default.
    pub predictor: Option<String>,
}

impl RankingAsk {
    /// A request to score `candidates` with `predictor`, fitted on every
    /// result in `observed`.
    pub(crate) fn of(
        candidates: &[Genotype],
        observed: &[Member],
        predictor: Option<&str>,
    ) -> Self {
        Self {
            candidates: candidates.to_vec(),
            training: (observed.iter())
                .map(|m| (m.genotype.clone(), m.accuracy))
                .collect(),
            predictor: predictor.map(str::to_string),
        }
    }
}

/// The candidates a ranked strategy awaits scores for, taken if `scored`
/// answers them (one score and one spread each); a reply to another request
/// leaves them awaited, so the same request goes out again.
pub(crate) fn answered(
    awaiting: &mut Option<Vec<Genotype>>,
    scored: &Scored,
) -> Option<Vec<Genotype>> {
    match awaiting.take() {
        Some(candidates)
            if candidates.len() == scored.scores.len()
                && candidates.len() == scored.spreads.len() =>
        {
            Some(candidates)
        }
        other => {
            *awaiting = other;
            None
        }
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
    /// Progressive NAS with a surrogate.
    Pnas(Progressive),
    /// Surrogate-ranked local search.
    Surrogate(SurrogateLocal),
    /// Reinforcement learning with an LSTM controller (boxed: with its
    /// two generators and the controller it is the largest state by far).
    Rl(Box<RlStrategy>),
    /// DARTS: one supernet search, its derived cell the candidate.
    Darts(DartsStrategy),
    /// Predictor-guided search with an acquisition function.
    Bananas(Bananas),
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
            Self::Pnas(s) => s.space(),
            Self::Surrogate(s) => s.space(),
            Self::Rl(s) => s.space(),
            Self::Darts(s) => s.space(),
            Self::Bananas(s) => s.space(),
        }
    }
}

impl Strategy for StrategyState {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        match self {
            Self::Random(s) => s.propose(max),
            Self::Evolution(s) => s.propose(max),
            Self::Pnas(s) => s.propose(max),
            Self::Surrogate(s) => s.propose(max),
            Self::Rl(s) => s.propose(max),
            Self::Darts(s) => s.propose(max),
            Self::Bananas(s) => s.propose(max),
        }
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        match self {
            Self::Random(s) => s.observe(genotype, outcome),
            Self::Evolution(s) => s.observe(genotype, outcome),
            Self::Pnas(s) => s.observe(genotype, outcome),
            Self::Surrogate(s) => s.observe(genotype, outcome),
            Self::Rl(s) => s.observe(genotype, outcome),
            Self::Darts(s) => s.observe(genotype, outcome),
            Self::Bananas(s) => s.observe(genotype, outcome),
        }
    }

    fn ledger(&self) -> &Ledger {
        match self {
            Self::Random(s) => s.ledger(),
            Self::Evolution(s) => s.ledger(),
            Self::Pnas(s) => s.ledger(),
            Self::Surrogate(s) => s.ledger(),
            Self::Rl(s) => s.ledger(),
            Self::Darts(s) => s.ledger(),
            Self::Bananas(s) => s.ledger(),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Darts(s) => s.is_done(),
            other => other.ledger().is_done(),
        }
    }

    fn ranking_request(&mut self) -> Option<RankingAsk> {
        match self {
            Self::Pnas(s) => s.ranking_request(),
            Self::Surrogate(s) => s.ranking_request(),
            Self::Bananas(s) => s.ranking_request(),
            Self::Random(_) | Self::Evolution(_) | Self::Rl(_) | Self::Darts(_) => None,
        }
    }

    fn ranked(&mut self, scored: &Scored) {
        match self {
            Self::Pnas(s) => s.ranked(scored),
            Self::Surrogate(s) => s.ranked(scored),
            Self::Bananas(s) => s.ranked(scored),
            Self::Random(_) | Self::Evolution(_) | Self::Rl(_) | Self::Darts(_) => {}
        }
    }

    fn supernet_request(&mut self) -> Option<DartsSettings> {
        match self {
            Self::Darts(s) => s.supernet_request(),
            _ => None,
        }
    }

    fn supernet_result(&mut self, result: Option<(&Genotype, f64)>) {
        if let Self::Darts(s) = self {
            s.supernet_result(result)
        }
    }
}

/// Regularized evolution's default population P: the number of most recent
/// results that parents are drawn from.
pub const DEFAULT_POPULATION: usize = 20;

/// Regularized evolution's default tournament size S: how many population
/// members each parent is the best of.
pub const DEFAULT_SAMPLE: usize = 5;

/// The RL strategy's default learning rate: within the range (0.005 to
/// 0.05) where RL beats random search at a budget of 100 evaluations on
/// NAS-Bench-201 CIFAR-10, learning fast enough to matter and slowly
/// enough not to collapse onto its first good cells.
pub const DEFAULT_RL_LR: f64 = 0.01;

/// Which strategy a search uses, with its settings, as submitted.
///
/// In JSON: `{"strategy": "random"}` or
/// `{"strategy": "evolution", "population": 20, "sample": 5}`, where the
/// settings may be left out for the defaults.
// Not `Eq`: the RL settings are floats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Progressive NAS (Liu et al. 2018) over PNAS cells: all 1-block cells,
    /// then per level the surrogate's top K children of the cells trained.
    /// The paper uses K = 256 and B = 5 (the space's `blocks`); the default
    /// K = 16 suits a CPU.
    Pnas {
        /// K: children trained per level.
        #[serde(default = "default_beam")]
        beam: usize,
        /// The surrogate's predictor, by name ([`crate::rank::PREDICTORS`],
        /// or `auto` for the best one for the space); left out: the paper's
        /// LSTM.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predictor: Option<String>,
    },
    /// Surrogate-ranked local search for spaces without blocks: `init`
    /// random cells, then rounds of the surrogate's top `beam` among the
    /// neighbours of the best `parents` cells.
    Surrogate {
        /// Random cells before the first round.
        #[serde(default = "default_init")]
        init: usize,
        /// Candidates trained per round.
        #[serde(default = "default_round")]
        beam: usize,
        /// Cells whose neighbours each round ranks.
        #[serde(default = "default_parents")]
        parents: usize,
        /// The surrogate's predictor, as for `pnas`; left out: the LSTM.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        predictor: Option<String>,
    },
    /// Reinforcement learning (Zoph & Le 2017; Zoph et al. 2018): an LSTM
    /// controller samples architectures and learns from their accuracies
    /// by REINFORCE with a moving-average baseline.
    ///
    /// The defaults are the paper's controller (2 layers of 35 units, see
    /// [`controller::ControllerConfig`]) except the learning rate,
    /// [`DEFAULT_RL_LR`]: the paper's 0.0006 was tuned for 12,800 children
    /// and at a budget of about 100 learns too little to beat random
    /// search; 0.01 does, on NAS-Bench-201 CIFAR-10 (`tests/rl.rs`).
    Rl {
        /// Hidden units per LSTM layer.
        #[serde(default = "default_rl_hidden")]
        hidden: usize,
        /// LSTM layers.
        #[serde(default = "default_rl_layers")]
        layers: usize,
        /// Adam's learning rate, [`DEFAULT_RL_LR`] when left out.
        #[serde(default = "default_rl_lr")]
        lr: f64,
        /// Weight of the entropy bonus.
        #[serde(default = "default_rl_entropy_weight")]
        entropy_weight: f64,
        /// Decay of the reward baseline's moving average, in [0, 1).
        #[serde(default = "default_rl_baseline_decay")]
        baseline_decay: f64,
    },
    /// DARTS (Liu, Simonyan & Yang 2019): one supernet search over the
    /// `darts` or `nb201` cell space, run by a trainer as one job; its
    /// derived cell is the search's candidate, retrained by the `[final]`
    /// stage. The search's seed seeds the supernet search. In TOML:
    /// `[strategy] strategy = "darts"` and `[strategy.settings] epochs = 10`.
    Darts {
        /// How the supernet search runs (the paper's CIFAR-10 search by
        /// default; give CPU-sized epochs, channels and `train_subset`).
        #[serde(default)]
        settings: DartsSettings,
    },
    /// Predictor-guided search (BANANAS and predictor-guided evolution):
    /// `init` random cells, then candidates bred around the best results
    /// (neighbours, two-edit mutants, crossovers) plus random ones, scored
    /// by the surrogate's ensemble and proposed by `acquisition`, with a
    /// batch rule that keeps parallel trainers off near-identical cells.
    /// Runs on every space. In TOML: `strategy = "bananas"` with any of
    /// `init`, `acquisition` (`ei`, `ts`, `ucb`), `predictor`, `parents`,
    /// `random` beside it.
    Bananas(BananasSettings),
}

fn default_rl_hidden() -> usize {
    controller::ControllerConfig::default().hidden
}

fn default_rl_layers() -> usize {
    controller::ControllerConfig::default().layers
}

fn default_rl_lr() -> f64 {
    DEFAULT_RL_LR
}

fn default_rl_entropy_weight() -> f64 {
    controller::ControllerConfig::default().entropy_weight
}

fn default_rl_baseline_decay() -> f64 {
    controller::ControllerConfig::default().baseline_decay
}

fn default_beam() -> usize {
    16
}

fn default_init() -> usize {
    10
}

fn default_round() -> usize {
    5
}

fn default_parents() -> usize {
    3
}

fn default_population() -> usize {
    DEFAULT_POPULATION
}

fn default_sample() -> usize {
    DEFAULT_SAMPLE
}

/// The strategies by name, as `strategy = "..."` in a spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// Uniform random search.
    Random,
    /// Regularized evolution.
    Evolution,
    /// Progressive NAS.
    Pnas,
    /// Surrogate-ranked local search.
    Surrogate,
    /// The RL controller.
    Rl,
    /// DARTS.
    Darts,
    /// Predictor-guided search.
    Bananas,
}

impl StrategyKind {
    /// Every strategy.
    pub const ALL: [StrategyKind; 7] = [
        Self::Evolution,
        Self::Random,
        Self::Bananas,
        Self::Surrogate,
        Self::Pnas,
        Self::Rl,
        Self::Darts,
    ];

    /// The name in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Evolution => "evolution",
            Self::Pnas => "pnas",
            Self::Surrogate => "surrogate",
            Self::Rl => "rl",
            Self::Darts => "darts",
            Self::Bananas => "bananas",
        }
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl StrategySpec {
    /// Which strategy this is.
    pub fn kind(&self) -> StrategyKind {
        match self {
            Self::Random => StrategyKind::Random,
            Self::Evolution { .. } => StrategyKind::Evolution,
            Self::Pnas { .. } => StrategyKind::Pnas,
            Self::Surrogate { .. } => StrategyKind::Surrogate,
            Self::Rl { .. } => StrategyKind::Rl,
            Self::Darts { .. } => StrategyKind::Darts,
            Self::Bananas(_) => StrategyKind::Bananas,
        }
    }

    /// The strategy `kind` with its default settings.
    pub fn default_of(kind: StrategyKind) -> Self {
        serde_json::from_value(serde_json::json!({ "strategy": kind.name() }))
            .expect("every strategy has defaults for all its settings")
    }

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
    /// A setting out of range.
    #[error("{0}")]
    Setting(String),
    /// A persisted state that is not valid JSON of a strategy.
    #[error("strategy state: bad json: {0}")]
    State(serde_json::Error),
}

/// A spec's `predictor`, if any, checked against the space.
fn check_predictor(predictor: Option<&str>, space: &Space) -> Result<(), StrategyError> {
    match predictor {
        Some(p) => crate::rank::check_predictor(p, space.kind()).map_err(StrategyError::Setting),
        None => Ok(()),
    }
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
    Ok(match spec.clone() {
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
        StrategySpec::Pnas { beam, predictor } => {
            if !matches!(space, Space::Pnas { .. }) {
                return Err(StrategyError::Setting(format!(
                    "strategy pnas grows PNAS cells block by block; the space is {space} (use strategy \"surrogate\" there)"
                )));
            }
            if beam == 0 {
                return Err(StrategyError::Setting("beam: must be at least 1".into()));
            }
            check_predictor(predictor.as_deref(), &space)?;
            StrategyState::Pnas(Progressive::new(space, beam, budget, predictor))
        }
        StrategySpec::Surrogate {
            init,
            beam,
            parents,
            predictor,
        } => {
            if init == 0 || beam == 0 || parents == 0 {
                return Err(StrategyError::Setting(
                    "init, beam and parents must be at least 1".into(),
                ));
            }
            check_predictor(predictor.as_deref(), &space)?;
            StrategyState::Surrogate(SurrogateLocal::new(
                space, budget, init, beam, parents, seed, predictor,
            ))
        }
        StrategySpec::Rl {
            hidden,
            layers,
            lr,
            entropy_weight,
            baseline_decay,
        } => {
            let config = controller::ControllerConfig {
                hidden,
                layers,
                lr,
                entropy_weight,
                baseline_decay,
                ..controller::ControllerConfig::default()
            };
            let policy = controller::Controller::new(space, config, seed)
                .map_err(|e| StrategyError::Setting(e.to_string()))?;
            StrategyState::Rl(Box::new(RlStrategy::new(policy, budget, seed)))
        }
        StrategySpec::Darts { settings } => {
            settings
                .validate_for(&space)
                .map_err(|e| StrategyError::Setting(format!("strategy darts: {e}")))?;
            StrategyState::Darts(DartsStrategy::new(space, settings, seed))
        }
        StrategySpec::Bananas(settings) => {
            if settings.init == 0 || settings.parents == 0 {
                return Err(StrategyError::Setting(
                    "init and parents must be at least 1".into(),
                ));
            }
            check_predictor(Some(&settings.predictor), &space)?;
            StrategyState::Bananas(Bananas::new(space, budget, settings, seed))
        }
    })
}
