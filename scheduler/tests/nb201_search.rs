//! Searches on the real NAS-Bench-201 CIFAR-10 table (converted by
//! `scripts/setup.sh`, which `scripts/test.sh` runs first): regularized
//! evolution must beat random search at a budget of 100 evaluations.

mod common;

use common::{mean_std, table_search};
use nb201::{default_dir, Dataset, Table};
use scheduler::strategy::StrategySpec;

const BUDGET: usize = 100;
const SEEDS: u64 = 20;

#[test]
fn regularized_evolution_beats_random_search_on_cifar10() {
    let table = Table::load_dataset(&default_dir(), Dataset::Cifar10)
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"));
    let (_, optimum) = table.optimum();
    let mut summary = Vec::new();
    for spec in [StrategySpec::Random, StrategySpec::evolution()] {
        let best: Vec<f64> = (0..SEEDS)
            .map(|s| table_search(&table, &spec, BUDGET, s))
            .collect();
        let (mean, std) = mean_std(&best);
        println!(
            "{spec:?}: best-found mean val_acc {mean:.3} +- {std:.3} over {SEEDS} seeds at budget {BUDGET} (optimum {optimum:.3})"
        );
        summary.push(mean);
    }
    let (random, evolution) = (summary[0], summary[1]);
    assert!(
        evolution > random,
        "regularized evolution ({evolution:.3}) must beat random search ({random:.3})"
    );
}
