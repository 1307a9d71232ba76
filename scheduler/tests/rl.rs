//! The `rl` strategy: its spec and defaults, budgets and deduplication over
//! every space, exact resumption of the controller from the persisted JSON,
//! and a comparison with random search on the real NAS-Bench-201 CIFAR-10
//! table (converted by `scripts/setup.sh`, which `scripts/test.sh` runs
//! first).

use nb201::{default_dir, Dataset, Table};
use rand::Rng;
use scheduler::strategy::{
    build, Outcome, Proposal, Strategy, StrategySpec, StrategyState, DEFAULT_RL_LR,
};
use scheduler::SearchSpec;
use space::{Genotype, Space};
use std::collections::HashSet;

fn setup() {
    tch::set_num_threads(1);
}

fn rl() -> StrategySpec {
    serde_json::from_str(r#"{"strategy": "rl"}"#).unwrap()
}

fn rl_lr(lr: f64) -> StrategySpec {
    let StrategySpec::Rl {
        hidden,
        layers,
        entropy_weight,
        baseline_decay,
        ..
    } = rl()
    else {
        panic!("not rl")
    };
    StrategySpec::Rl {
        hidden,
        layers,
        lr,
        entropy_weight,
        baseline_decay,
    }
}

/// A deterministic stand-in for training, as in `tests/strategy.rs`: an
/// accuracy from the genotype's hash, a failure for one in seven.
fn evaluate(g: &Genotype) -> Outcome {
    let h = g.hash().0;
    if h % 7 == 0 {
        Outcome::Failed
    } else {
        Outcome::Accuracy(10.0 + (h >> 11) as f64 / (1u64 << 53) as f64 * 85.0)
    }
}

/// Drive `s` until done, asking for 0 to 4 proposals at a time and
/// observing outstanding ones in a random order, as trainers would.
fn drive(s: &mut StrategyState, order_seed: u64) -> Vec<Proposal> {
    let mut order = space::rng(order_seed);
    let mut all = Vec::new();
    let mut outstanding: Vec<Genotype> = Vec::new();
    for _ in 0..100_000 {
        if s.is_done() {
            assert!(outstanding.is_empty(), "done with results outstanding");
            return all;
        }
        let got = s.propose(order.random_range(0..5));
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

fn hashes(ps: &[Proposal]) -> HashSet<u64> {
    ps.iter().map(|p| p.genotype.hash().0).collect()
}

fn controller_updates(s: &StrategyState) -> u64 {
    match s {
        StrategyState::Rl(r) => r.controller().updates(),
        other => panic!("not rl: {other:?}"),
    }
}

#[test]
fn the_spec_defaults_to_the_papers_controller_with_a_faster_learning_rate() {
    let config = controller::ControllerConfig::default();
    assert_eq!(
        rl(),
        StrategySpec::Rl {
            hidden: 35,
            layers: 2,
            lr: DEFAULT_RL_LR,
            entropy_weight: config.entropy_weight,
            baseline_decay: config.baseline_decay,
        }
    );
    let toml = r#"
budget = 50
[space]
kind = "nb201"
[strategy]
strategy = "rl"
hidden = 20
lr = 0.01
[evaluator.nb201]
dataset = "cifar10"
"#;
    let spec = SearchSpec::parse(toml, false).unwrap();
    assert!(matches!(
        spec.strategy,
        StrategySpec::Rl { hidden: 20, layers: 2, lr, .. } if lr == 0.01
    ));
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(SearchSpec::parse(&json, true).unwrap(), spec);
}

#[test]
fn bad_settings_are_refused_by_name() {
    let err = |json: &str| {
        let spec: StrategySpec = serde_json::from_str(json).unwrap();
        build(&spec, Space::Nb201, 10, 0).unwrap_err().to_string()
    };
    assert!(err(r#"{"strategy":"rl","lr":0}"#).contains("lr"));
    assert!(err(r#"{"strategy":"rl","hidden":0}"#).contains("hidden"));
    assert!(err(r#"{"strategy":"rl","baseline_decay":1.5}"#).contains("baseline_decay"));
    let unknown = serde_json::from_str::<StrategySpec>(r#"{"strategy":"rl","temprature":2}"#);
    assert!(unknown.unwrap_err().to_string().contains("temprature"));
}

#[test]
fn budgets_are_spent_exactly_and_nothing_is_proposed_twice() {
    setup();
    for space in [
        Space::Nb201,
        Space::Pnas { blocks: 3 },
        Space::Darts,
        Space::Macro { layers: 6 },
        Space::Macro { layers: 1 },
    ] {
        let mut s = build(&rl_lr(0.01), space, 40, 3).unwrap();
        let all = drive(&mut s, 11);
        assert_eq!(all.len(), 40, "{space}");
        assert_eq!(hashes(&all).len(), 40, "{space}: a duplicate proposal");
        for p in &all {
            space.check(&p.genotype).unwrap();
        }
        assert!(s.propose(5).is_empty(), "{space}: proposed past the budget");
        let failed = all
            .iter()
            .filter(|p| evaluate(&p.genotype) == Outcome::Failed)
            .count();
        assert_eq!(s.ledger().failed(), failed);
        // One update per accuracy; failures update nothing.
        assert_eq!(controller_updates(&s), (40 - failed) as u64, "{space}");
    }
}

#[test]
fn a_small_space_is_exhausted_through_the_uniform_fallback() {
    setup();
    // 136 canonical one-block PNAS cells, budget 500; a fast learner soon
    // keeps sampling cells it proposed, and the fallback finds the rest.
    let mut s = build(&rl_lr(0.05), Space::Pnas { blocks: 1 }, 500, 5).unwrap();
    let all = drive(&mut s, 2);
    assert_eq!(all.len(), 136);
    assert_eq!(hashes(&all).len(), 136);
    assert!(s.ledger().exhausted() && s.is_done());
    let StrategyState::Rl(r) = &s else {
        panic!("not rl")
    };
    assert!(r.fallbacks() > 0);
}

#[test]
fn a_state_read_back_mid_run_continues_identically() {
    setup();
    for space in [
        Space::Nb201,
        Space::Pnas { blocks: 2 },
        Space::Macro { layers: 3 },
    ] {
        let mut a = build(&rl_lr(0.01), space, 30, 21).unwrap();
        let mut b = a.clone();
        let (mut order_a, mut order_b) = (space::rng(4), space::rng(4));
        let (mut out_a, mut out_b) = (Vec::<Genotype>::new(), Vec::<Genotype>::new());
        for step in 0..150 {
            if step % 7 == 3 {
                let json = b.to_json();
                b = StrategyState::from_json(&json).unwrap();
                assert_eq!(a, b, "{space}: step {step}");
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
            assert_eq!(out_a, out_b, "{space}: step {step}");
        }
        assert!(a.is_done() && b.is_done(), "{space}");
        assert!(controller_updates(&a) > 20);
        assert_eq!(a.to_json(), b.to_json());
    }
}

const BUDGET: usize = 100;

/// One synchronous search: propose 1, look its accuracy up (evaluation `i`
/// of run `seed` reads training seed `seed + i`), observe. Returns the
/// seed-mean accuracy of the best-observed architecture.
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

/// RL with its defaults against random search, 20 seeds each. Measured:
/// random 90.955 +- 0.235, RL 91.366 +- 0.307; for reference, RL at the
/// paper's lr 0.0006 reached 91.008 +- 0.347 (no better than random at
/// this budget) and regularized evolution 91.470 +- 0.134
/// (`nb201_search.rs`). Learning rates from 0.002 to 0.05 all reached
/// 91.26 to 91.34 over 30 seeds, so the margin is not one lucky setting.
#[test]
fn rl_beats_random_search_on_cifar10() {
    setup();
    let table = Table::load_dataset(&default_dir(), Dataset::Cifar10)
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"));
    let (_, optimum) = table.optimum();
    let seeds = 20;
    let mut means = Vec::new();
    for (name, spec) in [("random", StrategySpec::Random), ("rl", rl())] {
        let best: Vec<f64> = (0..seeds).map(|s| search(&table, &spec, s)).collect();
        let (mean, std) = mean_std(&best);
        println!(
            "{name}: best-found mean val_acc {mean:.3} +- {std:.3} over {seeds} seeds at budget {BUDGET} (optimum {optimum:.3})"
        );
        means.push(mean);
    }
    let (random, rl) = (means[0], means[1]);
    assert!(
        rl > random,
        "rl ({rl:.3}) must beat random search ({random:.3})"
    );
}
