//! What the strategy tests share: a deterministic stand-in for training,
//! drivers that play a pool of trainers, and synchronous searches on the
//! NAS-Bench-201 table.

#![allow(dead_code)]

use nb201::Table;
use rand::Rng;
use scheduler::strategy::{build, Outcome, Proposal, Strategy, StrategySpec, StrategyState};
use space::{Genotype, Space};
use std::collections::HashSet;

/// A deterministic stand-in for training: an accuracy with full f64
/// precision from the genotype's hash, and a failure for one in seven.
pub fn evaluate(g: &Genotype) -> Outcome {
    let h = g.hash().0;
    if h % 7 == 0 {
        Outcome::Failed
    } else {
        Outcome::Accuracy(10.0 + (h >> 11) as f64 / (1u64 << 53) as f64 * 85.0)
    }
}

/// Drive `s` asynchronously until done: ask for 0 to 4 proposals at a time
/// and observe one or two outstanding ones in a random order, as a pool of
/// trainers would. Returns every proposal in order.
pub fn drive(s: &mut StrategyState, order_seed: u64) -> Vec<Proposal> {
    let mut order = space::rng(order_seed);
    let mut all = Vec::new();
    let mut outstanding: Vec<Genotype> = Vec::new();
    for _ in 0..100_000 {
        if s.is_done() {
            assert!(outstanding.is_empty(), "done with results outstanding");
            return all;
        }
        let max = order.random_range(0..5);
        let got = s.propose(max);
        assert!(got.len() <= max);
        outstanding.extend(got.iter().map(|p| p.genotype.clone()));
        all.extend(got);
        for _ in 0..order.random_range(1..3) {
            if !outstanding.is_empty() {
                let g = outstanding.swap_remove(order.random_range(0..outstanding.len()));
                s.observe(&g, evaluate(&g));
            }
        }
    }
    panic!("the search did not finish");
}

/// The hashes of the proposals' genotypes.
pub fn hashes(ps: &[Proposal]) -> HashSet<u64> {
    ps.iter().map(|p| p.genotype.hash().0).collect()
}

/// Drive `a` and a copy of it side by side in the same random order, the
/// copy written to JSON and read back every 7 steps: both must propose the
/// same and end in the same state. Returns `a` at the end.
pub fn resume_twin(mut a: StrategyState, steps: usize, what: &str) -> StrategyState {
    let mut b = a.clone();
    let (mut order_a, mut order_b) = (space::rng(4), space::rng(4));
    let (mut out_a, mut out_b) = (Vec::<Genotype>::new(), Vec::<Genotype>::new());
    for step in 0..steps {
        if step % 7 == 3 {
            let json = b.to_json();
            b = StrategyState::from_json(&json).unwrap();
            assert_eq!(a, b, "{what}: step {step}");
            assert_eq!(b.to_json(), json);
        }
        for (s, order, out) in [
            (&mut a, &mut order_a, &mut out_a),
            (&mut b, &mut order_b, &mut out_b),
        ] {
            let ps = s.propose(order.random_range(0..4));
            out.extend(ps.into_iter().map(|p| p.genotype));
            if !out.is_empty() {
                let g = out.swap_remove(order.random_range(0..out.len()));
                s.observe(&g, evaluate(&g));
            }
        }
        assert_eq!(out_a, out_b, "{what}: step {step}");
    }
    assert!(a.is_done() && b.is_done(), "{what}");
    assert_eq!(a.to_json(), b.to_json());
    a
}

/// One synchronous search on the table: propose 1, look its accuracy up
/// (evaluation `i` of run `seed` reads training seed `seed + i`, as if
/// every candidate were trained once with its own seed), observe. Returns
/// the seed-mean accuracy of the architecture the search would report: the
/// one with the best observed accuracy.
pub fn table_search(table: &Table, spec: &StrategySpec, budget: usize, seed: u64) -> f64 {
    let mut strategy = build(spec, Space::Nb201, budget, seed).unwrap();
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
    assert_eq!(evaluations as usize, budget);
    let best = strategy.ledger().best().expect("results were observed");
    let Genotype::Nb201(cell) = &best.genotype else {
        panic!("not an nb201 cell");
    };
    table.mean_val_acc(cell)
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    (mean, var.sqrt())
}
