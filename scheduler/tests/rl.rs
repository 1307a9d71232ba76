//! The `rl` strategy: its spec and defaults, budgets and deduplication over
//! every space, exact resumption of the controller from the persisted JSON,
//! and a comparison with random search on the real NAS-Bench-201 CIFAR-10
//! table (converted by `scripts/setup.sh`, which `scripts/test.sh` runs
//! first).

mod common;

use common::{drive, evaluate, hashes, mean_std};
use nb201::{default_dir, Dataset, Table};
use scheduler::strategy::{build, Outcome, Strategy, StrategySpec, StrategyState, DEFAULT_RL_LR};
use scheduler::SearchSpec;
use space::Space;

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
        let a = build(&rl_lr(0.01), space, 30, 21).unwrap();
        let a = common::resume_twin(a, 150, &space.to_string());
        assert!(controller_updates(&a) > 20);
    }
}

const BUDGET: usize = 100;

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
        let best: Vec<f64> = (0..seeds)
            .map(|s| common::table_search(&table, &spec, BUDGET, s))
            .collect();
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
