//! PNAS, the surrogate-ranked local search and the predictor-guided search,
//! driven as the scheduler drives them: propose, observe, answer ranking
//! requests. The scores here come from a known function (the "surrogate" is
//! exact), so the tests check the strategies' own logic: levels, expansion,
//! top-K selection, rounds, refits, acquisition and the batch rule.

use scheduler::strategy::{
    build, Acquisition, BananasSettings, Outcome, Scored, Strategy, StrategySpec, StrategyState,
};
use space::{Genotype, PnasOp, Space};
use std::collections::VecDeque;

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
            s.ranked(&Scored::of(scores));
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
    let mut s = build(
        &StrategySpec::Pnas {
            beam: 4,
            predictor: None,
        },
        space,
        1000,
        1,
    )
    .unwrap();
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
    s.ranked(&Scored::of(scores));
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
    s.ranked(&Scored::of(scores));
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
    let mut a = build(
        &StrategySpec::Pnas {
            beam: 8,
            predictor: None,
        },
        space,
        150,
        1,
    )
    .unwrap();
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
    let err = build(
        &StrategySpec::Pnas {
            beam: 4,
            predictor: None,
        },
        Space::Nb201,
        10,
        0,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("use strategy \"surrogate\""),
        "{err}"
    );
}

#[test]
fn surrogate_local_search_with_an_exact_surrogate_finds_the_nb201_optimum_quickly() {
    let table = nb201_table();
    let acc = exact(&table);
    let (opt_cell, opt) = table.optimum();
    let spec = StrategySpec::Surrogate {
        init: 10,
        beam: 5,
        parents: 3,
        predictor: None,
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

/// An exact surrogate: a cell's seed-averaged accuracy in `table`.
fn exact(table: &nb201::Table) -> impl Fn(&Genotype) -> f64 + '_ {
    |g| match g {
        Genotype::Nb201(c) => table.mean_val_acc(c),
        _ => panic!("nb201"),
    }
}

fn nb201_table() -> nb201::Table {
    nb201::Table::load_dataset(&nb201::default_dir(), nb201::Dataset::Cifar10).unwrap()
}

fn bananas(acquisition: Acquisition) -> StrategySpec {
    StrategySpec::Bananas(BananasSettings {
        acquisition,
        ..BananasSettings::default()
    })
}

/// Drive `s` with `parallel` proposals in flight, results coming back
/// oldest first, every ranking answered by `acc` with a spread of 0.5;
/// returns the proposals in order and how many rankings were asked.
fn drain_parallel(
    s: &mut StrategyState,
    acc: &dyn Fn(&Genotype) -> f64,
    parallel: usize,
) -> (Vec<Genotype>, usize) {
    let mut all = Vec::new();
    let mut flight = VecDeque::new();
    let mut rankings = 0;
    loop {
        if let Some(req) = s.ranking_request() {
            rankings += 1;
            let scores: Vec<f64> = req.candidates.iter().map(acc).collect();
            let spreads = vec![0.5; scores.len()];
            s.ranked(&Scored { scores, spreads });
        }
        let props = s.propose(parallel - flight.len());
        for p in props {
            all.push(p.genotype.clone());
            flight.push_back(p.genotype);
        }
        let Some(g) = flight.pop_front() else { break };
        s.observe(&g, Outcome::Accuracy(acc(&g)));
    }
    (all, rankings)
}

#[test]
fn bananas_with_an_exact_surrogate_finds_the_nb201_optimum_with_every_acquisition() {
    let table = nb201_table();
    let acc = exact(&table);
    let opt = table.optimum().1;
    for acquisition in Acquisition::ALL {
        let mut found = 0;
        for seed in 0..4 {
            let mut s = build(&bananas(acquisition), Space::Nb201, 60, seed).unwrap();
            let (seen, rankings) = drain_parallel(&mut s, &acc, 8);
            assert_eq!(seen.len(), 60);
            let unique: std::collections::HashSet<_> = seen.iter().map(|g| g.hash()).collect();
            assert_eq!(unique.len(), 60, "never the same cell twice");
            assert!(
                (5..=20).contains(&rankings),
                "{acquisition:?}: refits once about half a batch is back: {rankings}"
            );
            if s.ledger().best().unwrap().accuracy > opt - 0.3 {
                found += 1;
            }
        }
        assert!(
            found >= 3,
            "{acquisition:?}: an exact surrogate gets within 0.3 of the optimum: {found}/4"
        );
    }
}

#[test]
fn bananas_asks_with_its_predictor_and_keeps_a_batch_apart() {
    let table = nb201_table();
    let acc = exact(&table);
    let mut s = build(&bananas(Acquisition::Ucb), Space::Nb201, 100, 7).unwrap();
    let init = s.propose(100);
    assert_eq!(init.len(), 10, "init random cells, then it waits for a fit");
    assert!(s.ranking_request().is_none(), "no results yet");
    for p in &init[..4] {
        s.observe(&p.genotype, Outcome::Accuracy(acc(&p.genotype)));
    }
    assert!(s.ranking_request().is_none(), "4 of 10 back: not yet");
    s.observe(&init[4].genotype, Outcome::Accuracy(acc(&init[4].genotype)));
    let req = s.ranking_request().expect("half of the picks are back");
    assert_eq!(req.predictor.as_deref(), Some("auto"));
    assert_eq!(req.training.len(), 5);
    assert!(req.candidates.len() >= 100, "{}", req.candidates.len());
    // Every candidate scored alike: only the batch rule orders them, and a
    // batch of 8 has no two cells one edit apart, nor one edit from the 5
    // still in flight.
    let n = req.candidates.len();
    s.ranked(&Scored {
        scores: vec![90.0; n],
        spreads: vec![0.0; n],
    });
    let batch = s.propose(8);
    assert_eq!(batch.len(), 8);
    let flight: Vec<&Genotype> = init[5..].iter().map(|p| &p.genotype).collect();
    for (i, a) in batch.iter().enumerate() {
        for b in &batch[..i] {
            assert!(a.genotype.cell_distance(&b.genotype).unwrap() > 1);
        }
        for b in &flight {
            assert!(a.genotype.cell_distance(b).unwrap() > 1);
        }
    }
    // A wrong-sized reply is not taken: the same request goes out again.
    for p in init[5..].iter().chain(&batch) {
        s.observe(&p.genotype, Outcome::Accuracy(acc(&p.genotype)));
    }
    let again = s.ranking_request().unwrap();
    s.ranked(&Scored::of(vec![1.0; 3]));
    assert_eq!(s.ranking_request().unwrap(), again);
}

#[test]
fn bananas_resumes_from_json_and_restarts_when_everything_failed() {
    let table = nb201_table();
    let acc = exact(&table);
    let mut a = build(&bananas(Acquisition::Ts), Space::Nb201, 80, 3).unwrap();
    let first = a.propose(10);
    for p in &first[..6] {
        a.observe(&p.genotype, Outcome::Accuracy(acc(&p.genotype)));
    }
    let mut b = StrategyState::from_json(&a.to_json()).unwrap();
    assert_eq!(a, b);
    for s in [&mut a, &mut b] {
        for p in &first[6..] {
            s.observe(&p.genotype, Outcome::Accuracy(acc(&p.genotype)));
        }
    }
    let (ga, _) = drain_parallel(&mut a, &acc, 4);
    let (gb, _) = drain_parallel(&mut b, &acc, 4);
    assert_eq!(ga, gb, "a resumed search continues identically");
    assert!(a.is_done());

    // Every result failed and none is pending: random cells again, not a
    // wait for results that cannot come.
    let mut f = build(&bananas(Acquisition::Ei), Space::Nb201, 30, 1).unwrap();
    for p in f.propose(10) {
        f.observe(&p.genotype, Outcome::Failed);
    }
    assert!(f.ranking_request().is_none(), "nothing to fit on");
    assert_eq!(f.propose(5).len(), 5);
}

#[test]
fn bananas_runs_on_every_space_and_checks_its_predictor() {
    for kind in space::SpaceKind::ALL {
        let space = kind.default_space();
        let mut s = build(&bananas(Acquisition::Ts), space, 30, 2).unwrap();
        let score = |g: &Genotype| (g.hash().0 % 1000) as f64 / 10.0;
        let (seen, rankings) = drain_parallel(&mut s, &score, 4);
        assert_eq!(seen.len(), 30, "{kind}");
        assert!(rankings >= 2, "{kind}: {rankings}");
    }
    let spec = |predictor: &str| {
        StrategySpec::Bananas(BananasSettings {
            predictor: predictor.into(),
            ..BananasSettings::default()
        })
    };
    let err = build(&spec("path"), Space::Darts, 10, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("darts") && err.contains("onehot"), "{err}");
    let err = build(&spec("gin"), Space::Nb201, 10, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"gin\""), "{err}");
    let pnas_path = StrategySpec::Pnas {
        beam: 4,
        predictor: Some("path".into()),
    };
    let err = build(&pnas_path, Space::Pnas { blocks: 2 }, 10, 0).unwrap_err();
    assert!(err.to_string().contains("pnas"), "{err}");
    let pnas_onehot = StrategySpec::Pnas {
        beam: 4,
        predictor: Some("onehot".into()),
    };
    let mut p = build(&pnas_onehot, Space::Pnas { blocks: 2 }, 200, 0).unwrap();
    for q in p.propose(1000) {
        p.observe(&q.genotype, Outcome::Accuracy(pnas_acc(&q.genotype)));
    }
    let req = p.ranking_request().unwrap();
    assert_eq!(req.predictor.as_deref(), Some("onehot"));
    let parsed: StrategySpec = serde_json::from_str(r#"{"strategy": "bananas"}"#).unwrap();
    assert_eq!(parsed, spec("auto"));
    let err = serde_json::from_str::<StrategySpec>(r#"{"strategy": "bananas", "beam": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("beam"), "{err}");
}
