//! Searches on the real NAS-Bench-201 CIFAR-10 table (converted by
//! `scripts/setup.sh`, which `scripts/test.sh` runs first): regularized
//! evolution must beat random search at a budget of 100 evaluations.

use nb201::{default_dir, Dataset, Table};
use scheduler::strategy::{build, Outcome, Strategy, StrategySpec};
use space::{Genotype, Space};

const BUDGET: usize = 100;
const SEEDS: u64 = 20;

/// Run one search synchronously: propose 1, look its accuracy up, observe.
/// Evaluation `i` of run `seed` reads training seed `seed + i`, as if every
/// candidate were trained once with its own seed. Returns the seed-mean
/// accuracy of the architecture the search would report: the one with the
/// best observed accuracy.
fn search(table: &Table, spec: &StrategySpec, seed: u64) -> f64 {
    let mut strategy = build(spec, Space::Nb201, BUDGET, seed).unwrap();
    let mut evaluations = 0u64;
    while !strategy.is_done() {
        let proposals = strategy.propose(1);
        assert_eq!(proposals.len(), 1, "a synchronous search never waits");
        let Genotype::Nb201(cell) = &proposals[0].genotype else {
            panic!("not an nb201 cell");
        };
        let acc = table.val_acc(cell, seed + evaluations);
        strategy.observe(&proposals[0].genotype, Outcome::Accuracy(acc));
        evaluations += 1;
    }
    assert_eq!(evaluations as usize, BUDGET);
    let best = strategy.ledger().best().expect("results were observed");
    let Genotype::Nb201(cell) = &best.genotype else {
        panic!("not an nb201 cell");
    };
    table.mean_val_acc(cell)
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    (mean, var.sqrt())
}

#[test]
fn regularized_evolution_beats_random_search_on_cifar10() {
    let table = Table::load_dataset(&default_dir(), Dataset::Cifar10)
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"));
    let (_, optimum) = table.optimum();
    let mut summary = Vec::new();
    for spec in [StrategySpec::Random, StrategySpec::evolution()] {
        let best: Vec<f64> = (0..SEEDS).map(|s| search(&table, &spec, s)).collect();
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
