//! PNAS and the surrogate-ranked local search, driven as the scheduler
//! drives them: propose, observe, answer ranking requests. The scores here
//! come from a known function (the "surrogate" is exact), so the tests check
//! the strategies' own logic: levels, expansion, top-K selection, rounds.

use scheduler::strategy::{build, Outcome, Strategy, StrategySpec, StrategyState};
use space::{Genotype, PnasOp, Space};

/// A synthetic accuracy: separable convolutions are good, pooling is bad.
fn pnas_acc(g: &Genotype) -> f64 {
    let Genotype::Pnas(c) = g else { panic!("pnas") };
    let mut acc = 50.0;
    for b in c.blocks() {
        for op in [b.op1, b.op2] {
            acc += match op {
                PnasOp::Sep3x3 | PnasOp::Sep5x5 => 5.0,
                PnasOp::AvgPool3x3 | PnasOp::MaxPool3x3 => -5.0,
                _ => 0.0,
            };
        }
        acc += b.in1 as f64 * 0.1 + b.in2 as f64 * 0.01;
    }
    acc
}

fn drain(s: &mut StrategyState, acc: &dyn Fn(&Genotype) -> f64) -> Vec<Genotype> {
    let mut all = Vec::new();
    loop {
        if let Some(req) = s.ranking_request() {
            let scores: Vec<f64> = req.candidates.iter().map(acc).collect();
            s.ranked(&scores);
        }
        let props = s.propose(1000);
        if props.is_empty() {
            break;
        }
        for p in props {
            s.observe(&p.genotype, Outcome::Accuracy(acc(&p.genotype)));
            all.push(p.genotype);
        }
    }
    all
}

#[test]
fn pnas_trains_every_one_block_cell_then_the_top_k_children_per_level() {
    let space = Space::Pnas { blocks: 3 };
    let mut s = build(&StrategySpec::Pnas { beam: 4 }, space, 1000, 1).unwrap();
    // Level 1: all 136 canonical one-block cells, and no ranking yet.
    assert!(s.ranking_request().is_none());
    let first = s.propose(1000);
    assert_eq!(first.len(), 136);
    assert!(
        s.ranking_request().is_none(),
        "no ranking while level 1 trains"
    );
    for p in &first {
        s.observe(&p.genotype, Outcome::Accuracy(pnas_acc(&p.genotype)));
    }
    // Level 2: every child of the 136 cells is ranked, trained on 136 results.
    let req = s.ranking_request().expect("a ranking request");
    assert_eq!(req.candidates.len(), 136 * 300);
    assert_eq!(req.training.len(), 136);
    assert_eq!(
        s.ranking_request().unwrap().candidates.len(),
        136 * 300,
        "the same request until answered"
    );
    let scores: Vec<f64> = req.candidates.iter().map(pnas_acc).collect();
    let mut best = scores.clone();
    best.sort_by(|a, b| b.partial_cmp(a).unwrap());
    s.ranked(&scores);
    let second = s.propose(1000);
    assert_eq!(second.len(), 4, "the top K");
    for p in &second {
        assert_eq!(p.genotype.kind(), space::SpaceKind::Pnas);
        let Genotype::Pnas(c) = &p.genotype else {
            unreachable!()
        };
        assert_eq!(c.len(), 2);
        assert!(
            p.priority >= best[3] - 1e-9,
            "ranked best first: {} vs {}",
            p.priority,
            best[3]
        );
        s.observe(&p.genotype, Outcome::Accuracy(pnas_acc(&p.genotype)));
    }
    // Level 3 from the 4 trained 2-block cells; then the search ends.
    let req = s.ranking_request().unwrap();
    assert_eq!(req.candidates.len(), 4 * 528);
    let scores: Vec<f64> = req.candidates.iter().map(pnas_acc).collect();
    s.ranked(&scores);
    let third = s.propose(1000);
    assert_eq!(third.len(), 4);
    for p in &third {
        s.observe(&p.genotype, Outcome::Accuracy(pnas_acc(&p.genotype)));
    }
    assert!(s.ranking_request().is_none());
    assert!(s.propose(10).is_empty());
    assert!(s.is_done());
    assert_eq!(s.ledger().proposed(), 136 + 4 + 4);
    // With an exact surrogate the best 3-block cell is all separable convs.
    let best = s.ledger().best().unwrap();
    assert!(best.accuracy >= 50.0 + 6.0 * 5.0, "{best:?}");
}

#[test]
fn pnas_resumes_from_json_mid_level_and_respects_its_budget() {
    let space = Space::Pnas { blocks: 5 };
    let mut a = build(&StrategySpec::Pnas { beam: 8 }, space, 150, 1).unwrap();
    let first = a.propose(100);
    for p in &first {
        a.observe(&p.genotype, Outcome::Accuracy(pnas_acc(&p.genotype)));
    }
    let mut b = StrategyState::from_json(&a.to_json()).unwrap();
    let ga = drain(&mut a, &pnas_acc);
    let gb = drain(&mut b, &pnas_acc);
    assert_eq!(ga, gb, "a resumed strategy continues identically");
    assert_eq!(
        a.ledger().proposed(),
        150,
        "136 cells, then 8 + 6 within the budget"
    );
    assert!(a.is_done());
}

#[test]
fn pnas_only_runs_on_pnas_cells() {
    let err = build(&StrategySpec::Pnas { beam: 4 }, Space::Nb201, 10, 0).unwrap_err();
    assert!(
        err.to_string().contains("use strategy \"surrogate\""),
        "{err}"
    );
}

#[test]
fn surrogate_local_search_with_an_exact_surrogate_finds_the_nb201_optimum_quickly() {
    let table = nb201::Table::load_dataset(&nb201::default_dir(), nb201::Dataset::Cifar10).unwrap();
    let acc = |g: &Genotype| match g {
        Genotype::Nb201(c) => table.mean_val_acc(c),
        _ => panic!("nb201"),
    };
    let (opt_cell, opt) = table.optimum();
    let spec = StrategySpec::Surrogate {
        init: 10,
        beam: 5,
        parents: 3,
    };
    let mut found = 0;
    for seed in 0..5 {
        let mut s = build(&spec, Space::Nb201, 100, seed).unwrap();
        let seen = drain(&mut s, &acc);
        assert_eq!(seen.len(), 100);
        let unique: std::collections::HashSet<_> = seen.iter().map(|g| g.hash()).collect();
        assert_eq!(unique.len(), 100);
        if (s.ledger().best().unwrap().accuracy - opt).abs() < 1e-9 {
            found += 1;
        }
        assert!(
            seen.iter().any(|g| g == &Genotype::Nb201(opt_cell))
                || s.ledger().best().unwrap().accuracy > opt - 0.6
        );
    }
    assert!(
        found >= 3,
        "an exact surrogate leads to the optimum in most runs: {found}/5"
    );
}
