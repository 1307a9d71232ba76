//! The predictors on CPU with fixed seeds: they learn a known ranking,
//! predict for every space, ignore padding, reproduce a fit from its seed,
//! refit warm, and refuse what they cannot use.

use rand::Rng;
use space::{Genotype, PnasOp, Space, SpaceKind};
use surrogate::rank_corr::kendall_tau_b;
use surrogate::{FitConfig, PredictorKind, Surrogate, SurrogateError};

/// A synthetic accuracy: separable convolutions help, pooling hurts, and
/// reading an earlier block helps a little; about 50 to 95.
fn pnas_acc(g: &Genotype) -> f64 {
    let Genotype::Pnas(c) = g else {
        panic!("a pnas genotype")
    };
    let mut acc = 70.0;
    for b in c.blocks() {
        for op in [b.op1, b.op2] {
            acc += match op {
                PnasOp::Sep3x3 | PnasOp::Sep5x5 | PnasOp::Sep7x7 => 2.5,
                PnasOp::AvgPool3x3 | PnasOp::MaxPool3x3 => -2.5,
                PnasOp::Identity => -1.0,
                _ => 0.5,
            };
        }
        acc += if b.in1.max(b.in2) >= 2 { 1.0 } else { 0.0 };
    }
    acc
}

/// PNAS cells of 1 to 3 blocks (so batches mix lengths), with their
/// synthetic accuracies.
fn pnas_pairs(n: usize, seed: u64) -> Vec<(Genotype, f64)> {
    let mut rng = space::rng(seed);
    (0..n)
        .map(|_| {
            let blocks = rng.random_range(1..=3);
            let g = Space::Pnas { blocks }.sample(&mut rng).unwrap();
            let acc = pnas_acc(&g);
            (g, acc)
        })
        .collect()
}

/// Small and quick, for the tests.
fn quick() -> FitConfig {
    FitConfig {
        embedding: 16,
        hidden: 16,
        members: 3,
        epochs: 60,
        batch_size: 32,
        learning_rate: 0.01,
        patience: 10,
        ..FitConfig::default()
    }
}

fn tau(model: &Surrogate, held: &[(Genotype, f64)]) -> f64 {
    let g: Vec<Genotype> = held.iter().map(|(g, _)| g.clone()).collect();
    let truth: Vec<f64> = held.iter().map(|(_, a)| *a).collect();
    let pred: Vec<f64> = model.predict(&g).unwrap().iter().map(|s| s.mean).collect();
    kendall_tau_b(&pred, &truth).unwrap()
}

#[test]
fn every_pnas_predictor_learns_a_known_ranking_of_cells_it_never_saw() {
    let train = pnas_pairs(300, 1);
    let held = pnas_pairs(300, 2);
    for kind in [
        PredictorKind::Lstm,
        PredictorKind::Mlp,
        PredictorKind::OneHot,
    ] {
        let model = Surrogate::fit(kind, SpaceKind::Pnas, &train, &quick(), 7).unwrap();
        let t = tau(&model, &held);
        eprintln!(
            "{kind}: held-out tau {t:.3}, epochs {:?}",
            model.epochs_run()
        );
        assert!(
            t > 0.6,
            "{kind}: held-out tau {t:.3} (epochs {:?})",
            model.epochs_run()
        );
        assert_eq!(model.version(), 300);
    }
}

#[test]
fn every_space_fits_and_scores_in_range() {
    let config = FitConfig {
        epochs: 3,
        dense_epochs: 3,
        embedding: 8,
        hidden: 8,
        ..quick()
    };
    let spaces = [
        Space::Macro { layers: 4 },
        Space::Pnas { blocks: 5 },
        Space::Darts,
        Space::Nb201,
        Space::Seq,
        Space::Mlp {
            layers: 4,
            categorical: true,
        },
    ];
    for space in spaces {
        let mut rng = space::rng(11);
        let pairs: Vec<(Genotype, f64)> = (0..40)
            .map(|i| (space.sample(&mut rng).unwrap(), 60.0 + (i % 7) as f64))
            .collect();
        let candidates: Vec<Genotype> = (0..25).map(|_| space.sample(&mut rng).unwrap()).collect();
        for kind in PredictorKind::ALL {
            if !kind.supports(space.kind()) {
                let err = Surrogate::fit(kind, space.kind(), &pairs, &config, 3).unwrap_err();
                assert!(
                    err.to_string().contains("use onehot"),
                    "{space} {kind}: {err}"
                );
                continue;
            }
            let model = Surrogate::fit(kind, space.kind(), &pairs, &config, 3).unwrap();
            let scores = model.predict(&candidates).unwrap();
            assert_eq!(scores.len(), 25, "{space} {kind}");
            for s in &scores {
                assert!(s.mean > 0.0 && s.mean < 100.0, "{space} {kind}: {s:?}");
                assert!(
                    s.spread.is_finite() && s.spread >= 0.0,
                    "{space} {kind}: {s:?}"
                );
            }
            let spread: f64 = scores.iter().map(|s| s.spread).sum();
            match kind {
                PredictorKind::Lstm => assert_eq!(spread, 0.0, "{space}: one network"),
                _ => assert!(spread > 0.0, "{space} {kind}: members disagree"),
            }
        }
    }
}

#[test]
fn padding_and_batching_do_not_change_a_score() {
    let train = pnas_pairs(60, 3);
    let config = FitConfig {
        epochs: 5,
        dense_epochs: 5,
        ..quick()
    };
    let short = Space::Pnas { blocks: 1 }
        .parse("(0,sep_3x3,1,identity)")
        .unwrap();
    let long: Vec<Genotype> = pnas_pairs(500, 4).into_iter().map(|(g, _)| g).collect();
    for kind in [
        PredictorKind::Lstm,
        PredictorKind::Mlp,
        PredictorKind::OneHot,
    ] {
        let model = Surrogate::fit(kind, SpaceKind::Pnas, &train, &config, 5).unwrap();
        let alone = model.predict(std::slice::from_ref(&short)).unwrap()[0];
        let mut mixed = long.clone();
        mixed.insert(250, short.clone());
        let among = model.predict(&mixed).unwrap()[250];
        assert!(
            (alone.mean - among.mean).abs() < 1e-4,
            "{kind}: {alone:?} vs {among:?}"
        );
        assert!((alone.spread - among.spread).abs() < 1e-4, "{kind}");
        // Each genotype alone scores as it does in the batch.
        let batch = model.predict(&long[..20]).unwrap();
        for (g, s) in long[..20].iter().zip(&batch) {
            let one = model.predict(std::slice::from_ref(g)).unwrap()[0];
            assert!((one.mean - s.mean).abs() < 1e-4, "{kind}: {g}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_model_and_another_seed_another() {
    let train = pnas_pairs(80, 5);
    let held: Vec<Genotype> = pnas_pairs(30, 6).into_iter().map(|(g, _)| g).collect();
    let config = FitConfig {
        epochs: 8,
        dense_epochs: 8,
        ..quick()
    };
    for kind in [
        PredictorKind::Lstm,
        PredictorKind::Mlp,
        PredictorKind::OneHot,
    ] {
        let fit = |seed| {
            Surrogate::fit(kind, SpaceKind::Pnas, &train, &config, seed)
                .unwrap()
                .predict(&held)
                .unwrap()
        };
        // Two fits at once in one process must not disturb each other.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| fit(1));
            let b = s.spawn(|| fit(1));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a, b, "{kind}");
        assert_ne!(a, fit(2), "{kind}");
    }
}

#[test]
fn a_warm_refit_on_more_results_moves_the_version_and_is_reproducible() {
    let all = pnas_pairs(200, 7);
    let held = pnas_pairs(200, 8);
    let config = quick();
    let first =
        Surrogate::fit(PredictorKind::Lstm, SpaceKind::Pnas, &all[..50], &config, 1).unwrap();
    let refit = first.refit(&all, &config).unwrap();
    assert_eq!(first.version(), 50);
    assert_eq!(refit.version(), 200);
    assert!(refit.epochs_run()[0] <= config.refit_epochs);
    let again = first.refit(&all, &config).unwrap();
    let g: Vec<Genotype> = held.iter().map(|(g, _)| g.clone()).collect();
    assert_eq!(refit.predict(&g).unwrap(), again.predict(&g).unwrap());
    assert!(
        tau(&refit, &held) > 0.5,
        "warm refit tau {:.3}",
        tau(&refit, &held)
    );
}

/// The lower rungs of a multi-fidelity search are training data: 40 cells
/// reached full fidelity, 260 more stopped at a ninth of it, where every
/// cell scores 15 points lower. Each predictor fitted with the fidelities
/// ranks held-out cells better than on the 40 full results alone, and
/// predicts a low-rung cell's full-fidelity accuracy, not its low one.
#[test]
fn low_fidelity_results_teach_the_predictors_what_full_fidelity_ranks() {
    let full = pnas_pairs(40, 1);
    let low: Vec<(Genotype, f64)> = (pnas_pairs(260, 3).into_iter())
        .map(|(g, a)| (g, a - 15.0))
        .collect();
    let held = pnas_pairs(300, 2);
    let all: Vec<(Genotype, f64)> = full.iter().chain(&low).cloned().collect();
    let fidelity: Vec<f64> = (0..all.len())
        .map(|i| if i < full.len() { 1.0 } else { 1.0 / 9.0 })
        .collect();
    let config = quick();
    for kind in [
        PredictorKind::Lstm,
        PredictorKind::Mlp,
        PredictorKind::OneHot,
    ] {
        let only_full = Surrogate::fit(kind, SpaceKind::Pnas, &full, &config, 7).unwrap();
        let every_rung =
            Surrogate::fit_at(kind, SpaceKind::Pnas, &all, &fidelity, &config, 7).unwrap();
        let (before, after) = (tau(&only_full, &held), tau(&every_rung, &held));
        eprintln!("{kind}: tau {before:.3} on the 40 full results, {after:.3} on every rung");
        assert!(
            after > before + 0.05,
            "{kind}: tau {before:.3} on the full results, {after:.3} on every rung"
        );
        let cells: Vec<Genotype> = low.iter().map(|(g, _)| g.clone()).collect();
        let predicted = every_rung.predict(&cells).unwrap();
        let gap = (cells.iter().zip(&predicted))
            .map(|(g, p)| pnas_acc(g) - p.mean)
            .sum::<f64>()
            / cells.len() as f64;
        assert!(
            gap.abs() < 6.0,
            "{kind}: low-rung cells predicted {gap:.2} points under their full-fidelity accuracy"
        );
    }
}

/// A fit whose results are all at full fidelity is the fit without
/// fidelities, bit for bit; fidelities out of (0, 1] are refused by index.
#[test]
fn full_fidelity_everywhere_is_the_plain_fit() {
    let pairs = pnas_pairs(60, 4);
    let held: Vec<Genotype> = pnas_pairs(50, 5).into_iter().map(|(g, _)| g).collect();
    let config = FitConfig {
        epochs: 10,
        ..quick()
    };
    for kind in [PredictorKind::Lstm, PredictorKind::OneHot] {
        let plain = Surrogate::fit(kind, SpaceKind::Pnas, &pairs, &config, 3).unwrap();
        let ones = vec![1.0; pairs.len()];
        let at = Surrogate::fit_at(kind, SpaceKind::Pnas, &pairs, &ones, &config, 3).unwrap();
        assert_eq!(plain.predict(&held).unwrap(), at.predict(&held).unwrap());
    }
    let mut bad = vec![0.5; pairs.len()];
    bad[2] = 0.0;
    let err = Surrogate::fit_at(
        PredictorKind::Lstm,
        SpaceKind::Pnas,
        &pairs,
        &bad,
        &config,
        3,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "training result 2: fidelity 0 is not a share of full fidelity in (0, 1]"
    );
    let err = Surrogate::fit_at(
        PredictorKind::Lstm,
        SpaceKind::Pnas,
        &pairs,
        &[0.5],
        &config,
        3,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("1 fidelities for 60 training results"),
        "{err}"
    );
}

#[test]
fn unusable_inputs_are_refused_by_name() {
    let config = quick();
    let err = Surrogate::fit(PredictorKind::Lstm, SpaceKind::Pnas, &[], &config, 0).unwrap_err();
    assert!(matches!(err, SurrogateError::NoTrainingData), "{err}");
    let mut pairs = pnas_pairs(5, 9);
    pairs[3].1 = f64::NAN;
    let err = Surrogate::fit(PredictorKind::Lstm, SpaceKind::Pnas, &pairs, &config, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "training result 3: accuracy NaN is not a percentage between 0 and 100"
    );
    pairs[3].1 = 80.0;
    let nb = Genotype::Nb201(space::Nb201Cell::from_index(7).unwrap());
    pairs[1].0 = nb.clone();
    let err = Surrogate::fit(PredictorKind::Mlp, SpaceKind::Pnas, &pairs, &config, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "training result 1: a nb201 genotype in a pnas fit"
    );
    let model = Surrogate::fit(
        PredictorKind::Lstm,
        SpaceKind::Pnas,
        &pnas_pairs(5, 9),
        &FitConfig {
            epochs: 1,
            ..config.clone()
        },
        0,
    )
    .unwrap();
    let err = model
        .predict(&[pnas_pairs(1, 1)[0].0.clone(), nb])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "candidate 1: a nb201 genotype for a pnas surrogate"
    );
    let err = FitConfig {
        learning_rate: -1.0,
        ..config
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "surrogate config: learning_rate must be a positive number"
    );
}
