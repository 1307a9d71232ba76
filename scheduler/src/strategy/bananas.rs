//! Predictor-guided search in the family of BANANAS (White, Neiswanger &
//! Savani 2021) and predictor-guided evolution: after a few random cells,
//! candidates are bred around the best results so far (every one-edit
//! neighbour, two-edit mutants, crossovers) and mixed with random ones; the
//! surrogate's ensemble scores them with a spread, an acquisition function
//! turns mean and spread into one value, and the best are proposed.
//!
//! Batches: the surrogate is refitted once the results that came in since
//! the last fit are at least half of the most proposals in flight since
//! then (every result when one trains at a time, every fourth with eight
//! in flight), so parallel trainers are fed from the last ranking while the
//! next one waits for data. Within a batch, a candidate one edit away from a proposal still
//! in flight is passed over while others are left, so that parallel
//! trainers do not all get near-identical cells.

use super::random::sample_new;
use super::{Ledger, Member, Outcome, Proposal, RankingAsk, Scored, Strategy};
use rand::Rng;
use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceRng};
use std::collections::HashSet;

/// How many of the best results breed candidates, by default.
pub const DEFAULT_PARENTS: usize = 10;
/// Random cells among each round's candidates, by default: on
/// NAS-Bench-201 CIFAR-10 (seeds 100..109, budget 100) 1,000 took the
/// median evaluations to within 0.3 of the optimum from 29.5 to 19.5
/// against 100, at no loss in the final pick (docs/BENCHMARKS.md).
pub const DEFAULT_RANDOM: usize = 1000;
/// Two-edit mutants per parent.
const DOUBLE_MUTANTS: usize = 10;
/// One-edit mutants per parent where the neighbours are not listed.
const MUTANTS: usize = 32;
/// Crossovers of two parents per round (cell spaces).
const CROSSOVERS: usize = 40;

/// UCB's weight on the spread: mean + κ·spread.
pub const UCB_KAPPA: f64 = 1.0;

/// How the ensemble's mean and spread rank a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acquisition {
    /// Upper confidence bound, mean + [`UCB_KAPPA`] × spread.
    Ucb,
    /// Expected improvement over the best result so far, under a normal
    /// with the ensemble's mean and spread: the default, chosen by
    /// measurement (`nas bench search`, docs/BENCHMARKS.md): on
    /// NAS-Bench-201 CIFAR-10 it was the only one of the three to come
    /// within 0.3 of the optimum in all of 10 searches.
    #[default]
    Ei,
    /// Independent Thompson sampling (BANANAS's choice): one draw per
    /// candidate from that normal.
    Ts,
}

impl Acquisition {
    /// Every acquisition function.
    pub const ALL: [Acquisition; 3] = [Self::Ucb, Self::Ei, Self::Ts];

    /// The name in specs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ucb => "ucb",
            Self::Ei => "ei",
            Self::Ts => "ts",
        }
    }

    /// The value of a candidate predicted at `mean` ± `spread` when the
    /// best result so far is `best` (all in percent).
    fn value(self, mean: f64, spread: f64, best: f64, rng: &mut SpaceRng) -> f64 {
        let spread = if spread.is_finite() {
            spread.max(0.0)
        } else {
            0.0
        };
        match self {
            Self::Ucb => mean + UCB_KAPPA * spread,
            Self::Ei => {
                if spread < 1e-9 {
                    return (mean - best).max(0.0);
                }
                let z = (mean - best) / spread;
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
                let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
                (mean - best) * cdf + spread * pdf
            }
            Self::Ts => {
                let draw: f64 = rng.sample(rand_distr::StandardNormal);
                mean + spread * draw
            }
        }
    }
}

/// The predictor-guided search's settings, as a spec gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BananasSettings {
    /// Random cells before the first fit.
    pub init: usize,
    /// How the ensemble's mean and spread rank a candidate.
    pub acquisition: Acquisition,
    /// The surrogate's predictor by name (`auto`: its best for the space,
    /// the path encoding on cells, one-hot elsewhere).
    pub predictor: String,
    /// How many of the best results breed candidates.
    pub parents: usize,
    /// Random cells among each ranking's candidates.
    pub random: usize,
}

impl Default for BananasSettings {
    fn default() -> Self {
        Self {
            init: 10,
            acquisition: Acquisition::default(),
            predictor: crate::rank::AUTO.into(),
            parents: DEFAULT_PARENTS,
            random: DEFAULT_RANDOM,
        }
    }
}

/// A scored candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Candidate {
    genotype: Genotype,
    /// Its acquisition value.
    value: f64,
}

/// The predictor-guided search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bananas {
    /// What it searches.
    space: Space,
    /// Its settings.
    settings: BananasSettings,
    /// Every random choice; persisted.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
    /// Every result with an accuracy: the surrogate's training data.
    observed: Vec<Member>,
    /// Proposals without a result, for the batch rule.
    pending: Vec<Genotype>,
    /// The last ranking's candidates not proposed yet, best value first.
    pool: Vec<Candidate>,
    /// Candidates waiting for their scores.
    awaiting: Option<Vec<Genotype>>,
    /// Results (failures included) when the last ranking came back.
    results_at_fit: usize,
    /// The most proposals in flight at once since the last ranking came
    /// back (the random ones before the first).
    flight: usize,
}

impl Bananas {
    /// Built through [`super::build`], which checks the settings.
    pub(crate) fn new(space: Space, budget: usize, settings: BananasSettings, seed: u64) -> Self {
        Self {
            space,
            settings,
            rng: space::rng(seed),
            ledger: Ledger::new(budget),
            observed: Vec::new(),
            pending: Vec::new(),
            pool: Vec::new(),
            awaiting: None,
            results_at_fit: 0,
            flight: 0,
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// Its settings.
    pub fn settings(&self) -> &BananasSettings {
        &self.settings
    }

    /// Whether the surrogate should be refitted now: some results came in
    /// since the last fit and they are at least half of the most proposals
    /// in flight since (or, after the first fit, nothing is left to
    /// propose from the last ranking).
    fn refit_due(&self) -> bool {
        let new = self.ledger.observed() - self.results_at_fit;
        let drained = self.pool.is_empty() && self.results_at_fit > 0;
        new >= 1 && (2 * new >= self.flight || drained)
    }

    /// Candidates for the next ranking: every one-edit neighbour (or
    /// mutants, where neighbours are not listed) and two-edit mutants of
    /// the best results, crossovers among them, and random cells; none
    /// proposed before, each architecture once.
    fn candidates(&mut self) -> Vec<Genotype> {
        let mut best: Vec<&Member> = self.observed.iter().collect();
        best.sort_by(|a, b| b.accuracy.total_cmp(&a.accuracy));
        let parents: Vec<Genotype> = (best.iter().take(self.settings.parents))
            .map(|m| m.genotype.clone())
            .collect();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let ledger = &self.ledger;
        let mut push = |g: Genotype, out: &mut Vec<Genotype>| {
            if !ledger.contains(&g) && seen.insert(g.hash().0) {
                out.push(g);
            }
        };
        for p in &parents {
            match p.cell_neighbours() {
                Some(near) => near.into_iter().for_each(|g| push(g, &mut out)),
                None => {
                    for _ in 0..MUTANTS {
                        if let Ok(g) = self.space.mutate(p, &mut self.rng) {
                            push(g, &mut out);
                        }
                    }
                }
            }
            for _ in 0..DOUBLE_MUTANTS {
                let twice = (self.space.mutate(p, &mut self.rng))
                    .and_then(|g| self.space.mutate(&g, &mut self.rng));
                if let Ok(g) = twice {
                    push(g, &mut out);
                }
            }
        }
        if parents.len() >= 2 {
            for _ in 0..CROSSOVERS {
                let a = self.rng.random_range(0..parents.len());
                let b = (a + self.rng.random_range(1..parents.len())) % parents.len();
                if let Some(g) = parents[a].cell_crossover(&parents[b], &mut self.rng) {
                    push(g, &mut out);
                }
            }
        }
        for _ in 0..self.settings.random {
            // Drawn against the ledger only: a repeat within `out` is
            // dropped by `push`.
            match sample_new(&self.space, &mut self.rng, &self.ledger) {
                Some(g) => push(g, &mut out),
                None => break,
            }
        }
        out
    }

    /// The best-valued candidate of the pool, preferring one that is not
    /// within one edit of a proposal in flight. (The pool holds only
    /// unproposed cells: a ranking's candidates are, and only this takes
    /// from it; a cell a restart drew meanwhile is refused by the ledger.)
    fn pick(&mut self) -> Option<(Genotype, f64)> {
        let pending = &self.pending;
        let i = (self.pool.iter())
            .position(|c| !pending.iter().any(|p| near(p, &c.genotype)))
            .or(if self.pool.is_empty() { None } else { Some(0) })?;
        let c = self.pool.remove(i);
        Some((c.genotype, c.value))
    }
}

/// Whether two genotypes are at most one edit apart: one edge in a cell
/// space; elsewhere, canonical texts with the same tokens but one.
fn near(a: &Genotype, b: &Genotype) -> bool {
    if let Some(d) = a.cell_distance(b) {
        return d <= 1;
    }
    let (a, b) = (a.canonical_text(), b.canonical_text());
    let tokens = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (ta, tb) = (tokens(&a), tokens(&b));
    ta.len() == tb.len() && ta.iter().zip(&tb).filter(|(x, y)| x != y).count() <= 1
}

impl Strategy for Bananas {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        // Every result so far failed and none is pending: nothing to fit
        // on and nothing to wait for, so draw random cells again.
        let restart = self.ledger.proposed() >= self.settings.init
            && self.observed.is_empty()
            && self.ledger.pending() == 0;
        while out.len() < max && self.ledger.can_propose() {
            let next = if restart || self.ledger.proposed() < self.settings.init {
                let Some(g) = sample_new(&self.space, &mut self.rng, &self.ledger) else {
                    self.ledger.set_exhausted();
                    break;
                };
                (g, 0.0)
            } else if self.awaiting.is_some() {
                break;
            } else {
                match self.pick() {
                    Some(next) => next,
                    None => break,
                }
            };
            let (genotype, priority) = next;
            if self.ledger.record(&genotype) {
                self.pending.push(genotype.clone());
                self.flight = self.flight.max(self.ledger.pending());
                out.push(Proposal { genotype, priority });
            }
        }
        out
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        let hash = genotype.hash();
        self.pending.retain(|p| p.hash() != hash);
        self.ledger
            .settle_into(genotype, outcome, &mut self.observed);
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn ranking_request(&mut self) -> Option<RankingAsk> {
        if !self.ledger.can_propose()
            || self.ledger.proposed() < self.settings.init
            || self.observed.is_empty()
        {
            return None;
        }
        if self.awaiting.is_none() {
            if !self.refit_due() {
                return None;
            }
            let candidates = self.candidates();
            if candidates.is_empty() {
                self.ledger.set_exhausted();
                return None;
            }
            self.awaiting = Some(candidates);
        }
        Some(RankingAsk::of(
            self.awaiting.as_deref()?,
            &self.observed,
            Some(&self.settings.predictor),
        ))
    }

    fn ranked(&mut self, scored: &Scored) {
        let Some(candidates) = super::answered(&mut self.awaiting, scored) else {
            return;
        };
        let best = (self.observed.iter())
            .map(|m| m.accuracy)
            .fold(f64::NEG_INFINITY, f64::max);
        let mut pool: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for ((genotype, &mean), &spread) in candidates
            .into_iter()
            .zip(&scored.scores)
            .zip(&scored.spreads)
        {
            let value = if mean.is_finite() {
                self.settings
                    .acquisition
                    .value(mean, spread, best, &mut self.rng)
            } else {
                f64::NEG_INFINITY
            };
            pool.push(Candidate { genotype, value });
        }
        // Stable: ties keep the candidates' order.
        pool.sort_by(|a, b| b.value.total_cmp(&a.value));
        self.pool = pool;
        self.results_at_fit = self.ledger.observed();
        self.flight = self.ledger.pending();
    }
}
