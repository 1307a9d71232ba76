//! Random search: uniform samples from the space, never the same one twice.

use super::{Ledger, Outcome, Proposal, Strategy};
use rand::Rng;
use serde::{Deserialize, Serialize};
use space::{Genotype, Size, Space, SpaceRng};

/// How many samples to draw before concluding that rejection sampling will
/// not find an unproposed architecture.
const SAMPLE_TRIES: usize = 1_000;

/// Spaces up to this size are listed to find the last unproposed
/// architectures once rejection sampling stalls (NAS-Bench-201 and 1- or
/// 2-block PNAS cells).
const ENUMERATE_LIMIT: u128 = 200_000;

/// Uniform random search over a space, up to a budget of proposals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomSearch {
    /// What it samples from.
    space: Space,
    /// Every random choice; persisted, so a resumed search draws on.
    #[serde(with = "space::rng_serde")]
    rng: SpaceRng,
    /// Proposals, results, dedupe set.
    ledger: Ledger,
}

impl RandomSearch {
    /// Built through [`super::build`], which checks the settings.
    pub(crate) fn new(space: Space, budget: usize, seed: u64) -> Self {
        Self {
            space,
            rng: space::rng(seed),
            ledger: Ledger::new(budget),
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }
}

impl Strategy for RandomSearch {
    fn propose(&mut self, max: usize) -> Vec<Proposal> {
        let mut out = Vec::new();
        while out.len() < max && self.ledger.can_propose() {
            let Some(genotype) = sample_new(&self.space, &mut self.rng, &self.ledger) else {
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
        self.ledger.settle(genotype, outcome);
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

/// A uniformly random architecture not in `ledger`, or None when the space
/// has none left (or, for a space too large to list, when 1,000 samples in a
/// row were all proposed before, which means it is all but used up).
pub(crate) fn sample_new(space: &Space, rng: &mut SpaceRng, ledger: &Ledger) -> Option<Genotype> {
    // The space was validated when the strategy was built or read back.
    let size = space.size().ok()?;
    if matches!(size, Size::Exact(n) if ledger.proposed() as u128 >= n) {
        return None;
    }
    for _ in 0..SAMPLE_TRIES {
        let genotype = space.sample(rng).ok()?;
        if !ledger.contains(&genotype) {
            return Some(genotype);
        }
    }
    // Rejection sampling stalls only when nearly everything was proposed;
    // where the space can be listed, draw uniformly from what is left.
    match size {
        Size::Exact(n) if n <= ENUMERATE_LIMIT => {
            let mut left: Vec<Genotype> =
                space.enumerate()?.filter(|g| !ledger.contains(g)).collect();
            if left.is_empty() {
                return None;
            }
            let i = rng.random_range(0..left.len());
            Some(left.swap_remove(i))
        }
        _ => None,
    }
}
