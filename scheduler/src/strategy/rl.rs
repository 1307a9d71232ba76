//! Reinforcement learning (Zoph & Le 2017; Zoph et al. 2018): the
//! [`controller::Controller`] samples architectures and learns from their
//! validation accuracies by REINFORCE, one update per result, in whatever
//! order results arrive.
//!
//! The controller (weights, Adam state, reward baseline, generator) is part
//! of the strategy's state, so a restarted scheduler resumes the policy
//! where it left off.

use super::random::sample_new;
use super::{Ledger, Outcome, Proposal, Strategy};
use controller::Controller;
use serde::{Deserialize, Serialize};
use space::{Genotype, Space, SpaceRng};

/// How many samples to draw from the controller for one proposal before
/// giving way to a uniform sample: a converged policy keeps emitting the
/// architectures it already proposed, and the system never trains one
/// twice.
const RESAMPLES: usize = 32;

/// The RL search over a space, up to a budget of proposals.
///
/// Each proposal is a controller sample not proposed before (up to 32
/// draws), else a uniform one. Each accuracy result is a reward
/// `accuracy / 100` for [`Controller::update`], uniform proposals included:
/// they are off the policy, but their rewards still say which decisions
/// pay.
///
/// Failures (diverged or dead-lettered) update nothing: a dead letter may
/// be a fault of the cluster rather than of the architecture, and a reward
/// of 0 against a baseline near 0.9 would be the largest step the
/// controller ever takes, on the least information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RlStrategy {
    /// The policy, with its own generator for its samples; its space is
    /// the one searched.
    controller: Controller,
    /// The uniform fallback's draws; persisted, so a resumed search draws on.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
    /// Proposals that came from the uniform fallback.
    fallbacks: usize,
}

impl RlStrategy {
    /// Built through [`super::build`], which checks the settings: the
    /// controller seeded with `seed`, the fallback with `seed` on another
    /// stream.
    pub(crate) fn new(controller: Controller, budget: usize, seed: u64) -> Self {
        let mut rng = space::rng(seed);
        rng.set_stream(1);
        Self {
            controller,
            rng,
            ledger: Ledger::new(budget),
            fallbacks: 0,
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        self.controller.space()
    }

    /// The controller, as trained so far.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// How many proposals were uniform samples because the controller kept
    /// emitting architectures proposed before.
    pub fn fallbacks(&self) -> usize {
        self.fallbacks
    }

    /// A controller sample not proposed before, else a uniform one.
    fn next(&mut self) -> Option<Genotype> {
        for _ in 0..RESAMPLES {
            let genotype = self.controller.sample();
            if !self.ledger.contains(&genotype) {
                return Some(genotype);
            }
        }
        let genotype = sample_new(self.controller.space(), &mut self.rng, &self.ledger)?;
        self.fallbacks += 1;
        Some(genotype)
    }
}

impl Strategy for RlStrategy {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        while out.len() < max && self.ledger.can_propose() {
            let Some(genotype) = self.next() else {
                self.ledger.set_exhausted();
                break;
            };
            self.ledger.record(&genotype);
            out.push(Proposal {
                genotype,
                priority: 0.0,
            });
        }
        out
    }

    fn observe(&mut self, genotype: &Genotype, outcome: Outcome) {
        if let Some(accuracy) = self.ledger.settle(genotype, outcome) {
            // Every proposal is in the space and, for PNAS, of exactly
            // `blocks` blocks (the controller's and the fallback's), so the
            // controller can score it; a reward is finite by `settle`.
            // Should either ever fail, the update is skipped and the search
            // goes on with the policy as it was.
            let _ = self.controller.update(genotype, accuracy / 100.0);
        }
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}
