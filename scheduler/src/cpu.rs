//! The newcomer's search: a spec per strategy sized for a 2-core CPU, which
//! `nas search --data DIR` runs when no spec file is given. The figures
//! below were measured on the 2-core development VM (README, "On a fresh
//! machine").

use crate::spec::{FinalSpec, SearchSpec};
use crate::strategy::{StrategyKind, StrategySpec};
use queue::wire::{DartsSettings, DataRef, EvaluatorSpec, TrainSettings};
use space::Space;

/// Candidates of the CPU-sized default search (evolution, random,
/// surrogate, RL over NAS-Bench-201 cells). With the proxy and final
/// settings below, the whole search takes about 7 to 10 minutes on 2 cores.
pub const CPU_BUDGET: usize = 32;

/// The CPU-sized proxy settings candidates train with during the search.
pub fn proxy_settings() -> TrainSettings {
    TrainSettings {
        epochs: 1.0,
        batch_size: 64,
        lr: 0.1,
        channels: 8,
        layers: 1,
        train_subset: Some(8000),
        val_fraction: 0.1,
        ..TrainSettings::default()
    }
}

/// The settings the winner is retrained with.
pub fn final_settings() -> TrainSettings {
    TrainSettings {
        epochs: 8.0,
        batch_size: 128,
        lr: 0.1,
        channels: 16,
        layers: 1,
        val_fraction: 0.1,
        test: true,
        ..TrainSettings::default()
    }
}

/// The CPU-sized DARTS search: first order, a supernet of 5 cells with 8
/// initial channels, 3 epochs over halves of a 4,000-image subset, and α's
/// learning rate 10 times the paper's (which is meant for ~20,000 steps and
/// leaves α near uniform in these ~90).
pub fn darts_settings() -> DartsSettings {
    DartsSettings {
        epochs: 3,
        channels: 8,
        layers: Some(5),
        train_subset: Some(4000),
        arch_lr: 3e-3,
        ..DartsSettings::default()
    }
}

impl SearchSpec {
    /// The CPU-sized search of `strategy` on `data`: the space, strategy
    /// settings, budget, proxy and final settings that suit a 2-core
    /// machine. `name` names the search; `budget` overrides the strategy's
    /// default budget.
    pub fn cpu_default(
        strategy: StrategyKind,
        data: DataRef,
        name: String,
        budget: Option<usize>,
        seed: u64,
        parallel: usize,
    ) -> Self {
        let (space, spec, default_budget) = match strategy {
            StrategyKind::Evolution => (
                Space::Nb201,
                StrategySpec::Evolution {
                    population: 8,
                    sample: 3,
                },
                CPU_BUDGET,
            ),
            StrategyKind::Surrogate => (
                Space::Nb201,
                StrategySpec::Surrogate {
                    init: 8,
                    beam: 4,
                    parents: 2,
                },
                CPU_BUDGET,
            ),
            StrategyKind::Pnas => (
                Space::Pnas { blocks: 2 },
                StrategySpec::Pnas { beam: 8 },
                144,
            ),
            StrategyKind::Darts => (
                Space::Darts,
                StrategySpec::Darts {
                    settings: darts_settings(),
                },
                1,
            ),
            StrategyKind::Random | StrategyKind::Rl => {
                (Space::Nb201, StrategySpec::default_of(strategy), CPU_BUDGET)
            }
        };
        let mut proxy = proxy_settings();
        let mut last = final_settings();
        if matches!(space, Space::Pnas { .. }) {
            // PNAS trains all 136 one-block cells: keep each proxy short.
            proxy.train_subset = Some(2000);
            proxy.channels = 6;
            last.channels = 12;
            last.epochs = 3.0;
        }
        if space == Space::Darts {
            // The derived cell is retrained as a DARTS network of 5 cells, for
            // 2 epochs (about 10 minutes on 2 cores).
            last.layers = 5;
            last.epochs = 2.0;
        }
        SearchSpec {
            name: Some(name),
            space,
            strategy: spec,
            evaluator: EvaluatorSpec::Torch {
                data,
                settings: Box::new(proxy),
            },
            budget: budget.unwrap_or(default_budget),
            seed,
            parallel: parallel.max(1),
            final_stage: Some(FinalSpec {
                top_k: 1,
                settings: last,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_has_a_cpu_default_that_validates() {
        for kind in StrategyKind::ALL {
            let spec = SearchSpec::cpu_default(
                kind,
                DataRef::new("/data/fashion-mnist"),
                format!("{kind} test"),
                None,
                1,
                1,
            );
            assert_eq!(spec.strategy.kind(), kind);
            spec.validate().unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        let evolution = SearchSpec::cpu_default(
            StrategyKind::Evolution,
            DataRef::new("d"),
            "e".into(),
            Some(5),
            1,
            2,
        );
        assert_eq!((evolution.budget, evolution.parallel), (5, 2));
    }
}
