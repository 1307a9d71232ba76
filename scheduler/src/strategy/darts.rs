//! DARTS (Liu, Simonyan & Yang 2019) as a search strategy: one supernet
//! search, run by a trainer as a [`queue::JobKind::Darts`] job, whose
//! derived cell is the search's single candidate.
//!
//! The strategy asks for the supernet search once ([`Strategy::supernet_request`]);
//! the scheduler enqueues it, and when the job's result arrives tells the
//! strategy the derived genotype and the supernet's accuracy on the α half
//! ([`Strategy::supernet_result`]). That candidate is then a leader like any
//! other, so a `[final]` stage retrains it from scratch and scores it on the
//! test set, which is how the paper evaluates a DARTS cell.

use super::{Ledger, Outcome, Proposal, Strategy};
use queue::wire::DartsSettings;
use serde::{Deserialize, Serialize};
use space::{Genotype, Space};

/// Where a DARTS search is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DartsPhase {
    /// The supernet search has not been asked for yet.
    Start,
    /// Asked for; waiting for the trainer's result.
    Searching,
    /// The result arrived (a derived cell, or a failure).
    Done,
}

/// One supernet search over a cell space, and its derived cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DartsStrategy {
    space: Space,
    settings: DartsSettings,
    phase: DartsPhase,
    ledger: Ledger,
}

impl DartsStrategy {
    /// Built through [`super::build`], which checks the space and settings.
    /// The supernet search is seeded with the search's seed.
    pub(crate) fn new(space: Space, settings: DartsSettings, seed: u64) -> Self {
        Self {
            space,
            settings: DartsSettings { seed, ..settings },
            phase: DartsPhase::Start,
            ledger: Ledger::new(1),
        }
    }

    /// The space searched.
    pub fn space(&self) -> &Space {
        &self.space
    }

    /// The supernet search's settings, seeded.
    pub fn settings(&self) -> &DartsSettings {
        &self.settings
    }

    /// Where the search is.
    pub fn phase(&self) -> DartsPhase {
        self.phase
    }
}

impl Strategy for DartsStrategy {
    /// Nothing: the one candidate comes from the supernet search.
    fn propose(&mut self, _max: usize) -> Vec<Proposal> {
        Vec::new()
    }

    /// Results of proposals: there are none to observe.
    fn observe(&mut self, _genotype: &Genotype, _outcome: Outcome) {}

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn is_done(&self) -> bool {
        self.phase == DartsPhase::Done
    }

    fn supernet_request(&mut self) -> Option<DartsSettings> {
        if self.phase != DartsPhase::Start {
            return None;
        }
        self.phase = DartsPhase::Searching;
        Some(self.settings.clone())
    }

    fn supernet_result(&mut self, result: Option<(&Genotype, f64)>) {
        if self.phase != DartsPhase::Searching {
            return;
        }
        self.phase = DartsPhase::Done;
        match result {
            Some((genotype, accuracy)) => {
                self.ledger.record(genotype);
                self.ledger.settle(genotype, Outcome::Accuracy(accuracy));
            }
            None => {
                self.ledger.set_exhausted();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::{build, StrategySpec, StrategyState};

    fn darts() -> StrategyState {
        let spec = StrategySpec::Darts {
            settings: DartsSettings {
                epochs: 2,
                ..DartsSettings::default()
            },
        };
        build(&spec, Space::Darts, 1, 7).unwrap()
    }

    #[test]
    fn asks_for_one_supernet_search_and_takes_its_cell() {
        let mut s = darts();
        assert!(!s.is_done());
        assert!(s.propose(8).is_empty());
        let asked = s.supernet_request().expect("the supernet search");
        assert_eq!((asked.epochs, asked.seed), (2, 7));
        assert_eq!(s.supernet_request(), None, "asked once only");
        assert!(!s.is_done());
        // A persisted, reread state is waiting still.
        let mut s = StrategyState::from_json(&s.to_json()).unwrap();
        assert_eq!(s.supernet_request(), None);
        let cell = Space::Darts.parse("DARTS_V2").unwrap();
        s.supernet_result(Some((&cell, 61.5)));
        assert!(s.is_done());
        let best = s.ledger().best().unwrap();
        assert_eq!((&best.genotype, best.accuracy), (&cell, 61.5));
        // A second delivery changes nothing.
        let other = Space::Darts.parse("DARTS_V1").unwrap();
        s.supernet_result(Some((&other, 99.0)));
        assert_eq!(s.ledger().best().unwrap().genotype, cell);
    }

    #[test]
    fn a_failed_supernet_search_ends_the_search_without_a_cell() {
        let mut s = darts();
        s.supernet_request().unwrap();
        s.supernet_result(None);
        assert!(s.is_done());
        assert!(s.ledger().best().is_none());
    }

    #[test]
    fn only_cell_spaces_with_a_supernet_and_valid_settings_build() {
        let spec = StrategySpec::Darts {
            settings: DartsSettings::default(),
        };
        let err = build(&spec, Space::Pnas { blocks: 2 }, 1, 0).unwrap_err();
        assert!(err.to_string().contains("darts, nb201 and seq"), "{err}");
        assert!(build(&spec, Space::Nb201, 1, 0).is_ok());
        let bad = StrategySpec::Darts {
            settings: DartsSettings {
                arch_lr: -1.0,
                ..DartsSettings::default()
            },
        };
        let err = build(&bad, Space::Darts, 1, 0).unwrap_err();
        assert!(err.to_string().contains("arch_lr"), "{err}");
    }
}
