//! The newcomer's search: a spec per strategy sized for a 2-core CPU, which
//! `nas search --data DIR` runs when no spec file is given. The figures
//! below were measured on the 2-core development VM (README, "On a fresh
//! machine").

use crate::fidelity::{FidelitySpec, RungScheduler};
use crate::spec::{FinalSpec, SearchSpec, SpecError};
use crate::strategy::{BananasSettings, StrategyKind, StrategySpec};
use queue::wire::{DartsSettings, DataRef, EvaluatorSpec, TrainSettings};
use space::{InputKind, Space};

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

/// What the defaults need to know of a dataset: what its samples are, and
/// whether a table has categorical columns (whose encoding is then part of
/// the search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    /// Images, a table or time series.
    pub input: InputKind,
    /// A table with categorical columns.
    pub categorical: bool,
    /// Training samples.
    pub train_len: usize,
}

/// Candidates of the CPU-sized search of a table or a set of series: each
/// trains in seconds, so the search affords more of them.
pub const CPU_BUDGET_SMALL: usize = 48;

/// The proxy settings of a dense network on a table: 20 epochs (a few
/// seconds for 16,000 rows on 2 cores), batches of 128.
pub fn table_proxy_settings(rows: usize) -> TrainSettings {
    TrainSettings {
        epochs: 20.0,
        batch_size: 128,
        lr: 0.05,
        weight_decay: 1e-4,
        val_fraction: if rows < 2000 { 0.2 } else { 0.1 },
        ..TrainSettings::default()
    }
}

/// The proxy settings of a seq network on a set of series: 40 epochs at 8
/// channels, one cell per stage.
pub fn series_proxy_settings(rows: usize) -> TrainSettings {
    TrainSettings {
        epochs: 40.0,
        batch_size: 32,
        lr: 0.05,
        channels: 8,
        layers: 1,
        val_fraction: if rows < 2000 { 0.2 } else { 0.1 },
        ..TrainSettings::default()
    }
}

/// The CPU-sized ladder over a proxy of `epochs`: from a third of it to
/// three times it, η = 3 (thirds, the proxy, three proxies).
pub fn cpu_fidelity(scheduler: RungScheduler, epochs: f64) -> FidelitySpec {
    FidelitySpec::new(scheduler, epochs / 3.0, epochs * 3.0)
}

/// How many more candidates a multi-fidelity search evaluates than a plain
/// one for about the same trainer time. With the ladder of
/// [`cpu_fidelity`], ASHA trains each candidate a third of the proxy, a
/// third of them on to the proxy's length and a ninth to three times it:
/// (1/3 + 1/3·2/3 + 1/9·2) ≈ 0.78 proxies per candidate.
pub const FIDELITY_BUDGET_FACTOR: f64 = 1.25;

impl SearchSpec {
    /// The same search with rungs: `scheduler` over [`cpu_fidelity`] of
    /// the evaluator's epochs, and, when `budget` was not given, the budget
    /// scaled so that the trainer time stays about the same.
    pub fn with_cpu_fidelity(
        mut self,
        scheduler: RungScheduler,
        budget_given: bool,
    ) -> Result<Self, SpecError> {
        let EvaluatorSpec::Torch { settings, .. } = &self.evaluator else {
            return Err(SpecError::Invalid(
                "--fidelity: rungs train with the torch evaluator; this search uses another".into(),
            ));
        };
        self.fidelity = Some(cpu_fidelity(scheduler, settings.epochs));
        if !budget_given {
            self.budget = (self.budget as f64 * FIDELITY_BUDGET_FACTOR).round() as usize;
        }
        self.validate()?;
        Ok(self)
    }

    /// The CPU-sized search of `strategy` on `data`, whose samples `shape`
    /// describes: the space (image cells, dense networks for a table, 1-D
    /// cells for series), strategy settings, budget, proxy and final
    /// settings that suit a 2-core machine. `name` names the search;
    /// `budget` overrides the strategy's default budget. A strategy the
    /// data's space cannot run (PNAS for a table, DARTS for a table) is
    /// refused by name.
    pub fn cpu_default(
        strategy: StrategyKind,
        data: DataRef,
        shape: DataShape,
        name: String,
        budget: Option<usize>,
        seed: u64,
        parallel: usize,
    ) -> Result<Self, SpecError> {
        if shape.input != InputKind::Images {
            return Self::small_default(strategy, data, shape, name, budget, seed, parallel);
        }
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
                    predictor: None,
                },
                CPU_BUDGET,
            ),
            StrategyKind::Bananas => (
                Space::Nb201,
                StrategySpec::Bananas(BananasSettings {
                    init: 8,
                    ..BananasSettings::default()
                }),
                CPU_BUDGET,
            ),
            StrategyKind::Pnas => (
                Space::Pnas { blocks: 2 },
                StrategySpec::Pnas {
                    beam: 8,
                    predictor: None,
                },
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
        Ok(SearchSpec {
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
            fidelity: None,
        })
    }

    /// [`SearchSpec::cpu_default`] for a table (the mlp space) or a set of
    /// series (the seq space).
    fn small_default(
        strategy: StrategyKind,
        data: DataRef,
        shape: DataShape,
        name: String,
        budget: Option<usize>,
        seed: u64,
        parallel: usize,
    ) -> Result<Self, SpecError> {
        let table = shape.input == InputKind::Table;
        let space = if table {
            Space::Mlp {
                layers: 4,
                categorical: shape.categorical,
            }
        } else {
            Space::Seq
        };
        let refuse = |why: &str| {
            Err(SpecError::Invalid(format!(
                "strategy {strategy}: {why}; for {} use evolution, random, bananas, surrogate or rl",
                shape.input.name()
            )))
        };
        let (spec, default_budget) = match strategy {
            StrategyKind::Pnas => {
                return refuse("PNAS grows cells of blocks, which only image cells have")
            }
            StrategyKind::Darts if table => {
                return refuse("DARTS relaxes cells, and a dense network has none")
            }
            StrategyKind::Darts => (
                StrategySpec::Darts {
                    settings: DartsSettings {
                        epochs: 30,
                        batch_size: 32,
                        channels: 8,
                        layers: Some(1),
                        arch_lr: 3e-3,
                        ..DartsSettings::default()
                    },
                },
                1,
            ),
            StrategyKind::Evolution => (
                StrategySpec::Evolution {
                    population: 12,
                    sample: 3,
                },
                CPU_BUDGET_SMALL,
            ),
            StrategyKind::Surrogate => (
                StrategySpec::Surrogate {
                    init: 12,
                    beam: 6,
                    parents: 2,
                    predictor: None,
                },
                CPU_BUDGET_SMALL,
            ),
            StrategyKind::Bananas => (
                StrategySpec::Bananas(BananasSettings {
                    init: 12,
                    ..BananasSettings::default()
                }),
                CPU_BUDGET_SMALL,
            ),
            StrategyKind::Random | StrategyKind::Rl => {
                (StrategySpec::default_of(strategy), CPU_BUDGET_SMALL)
            }
        };
        let proxy = if table {
            table_proxy_settings(shape.train_len)
        } else {
            series_proxy_settings(shape.train_len)
        };
        // The winner trains three times as long, on the whole training
        // split less the validation part, and is scored on the test set.
        let last = TrainSettings {
            epochs: proxy.epochs * 3.0,
            test: true,
            ..proxy.clone()
        };
        Ok(SearchSpec {
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
            fidelity: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(input: InputKind) -> DataShape {
        DataShape {
            input,
            categorical: true,
            train_len: 1000,
        }
    }

    #[test]
    fn every_strategy_has_a_cpu_default_that_validates() {
        for input in [InputKind::Images, InputKind::Table, InputKind::Series] {
            for kind in StrategyKind::ALL {
                let spec = SearchSpec::cpu_default(
                    kind,
                    DataRef::new("/data/x"),
                    shape(input),
                    format!("{kind} test"),
                    None,
                    1,
                    1,
                );
                let refused = matches!(
                    (input, kind),
                    (InputKind::Table, StrategyKind::Pnas | StrategyKind::Darts)
                        | (InputKind::Series, StrategyKind::Pnas)
                );
                match spec {
                    Ok(spec) => {
                        assert!(!refused, "{input:?} {kind}");
                        assert_eq!(spec.strategy.kind(), kind);
                        assert_eq!(spec.space.kind().input(), input);
                        spec.validate().unwrap_or_else(|e| panic!("{kind}: {e}"));
                    }
                    Err(e) => {
                        assert!(refused, "{input:?} {kind}: {e}");
                        assert!(e.to_string().contains(&format!("strategy {kind}")), "{e}");
                    }
                }
            }
        }
        let evolution = SearchSpec::cpu_default(
            StrategyKind::Evolution,
            DataRef::new("d"),
            shape(InputKind::Images),
            "e".into(),
            Some(5),
            1,
            2,
        )
        .unwrap();
        assert_eq!((evolution.budget, evolution.parallel), (5, 2));
    }
}
