//! The strategies as state machines, driven by a fake evaluator over every
//! space: budgets, deduplication, determinism, exact resumption from JSON,
//! aging, waiting, and refused settings.

mod common;

use common::{drive, evaluate, hashes};
use scheduler::strategy::{
    build, Outcome, Strategy, StrategyError, StrategySpec, StrategyState, DEFAULT_POPULATION,
    DEFAULT_SAMPLE,
};
use space::{Genotype, Space};

fn spaces() -> [Space; 5] {
    [
        Space::Nb201,
        Space::Pnas { blocks: 3 },
        Space::Darts,
        Space::Macro { layers: 6 },
        Space::Macro { layers: 1 },
    ]
}

fn specs() -> [StrategySpec; 2] {
    [
        StrategySpec::Random,
        StrategySpec::Evolution {
            population: 10,
            sample: 3,
        },
    ]
}

fn evolution(state: &StrategyState) -> &scheduler::strategy::RegularizedEvolution {
    match state {
        StrategyState::Evolution(e) => e,
        other => panic!("not evolution: {other:?}"),
    }
}

fn nb201_edits(a: &Genotype, b: &Genotype) -> usize {
    match (a, b) {
        (Genotype::Nb201(a), Genotype::Nb201(b)) => a
            .edges
            .iter()
            .zip(b.edges)
            .filter(|(x, y)| **x != *y)
            .count(),
        _ => panic!("not nb201 cells"),
    }
}

#[test]
fn budgets_are_spent_exactly_and_nothing_is_proposed_twice() {
    for space in spaces() {
        for spec in specs() {
            let mut s = build(&spec, space, 60, 3).unwrap();
            let all = drive(&mut s, 11);
            let what = format!("{spec:?} on {space}");
            assert_eq!(all.len(), 60, "{what}");
            assert_eq!(hashes(&all).len(), 60, "{what}: a duplicate proposal");
            for p in &all {
                space.check(&p.genotype).unwrap();
            }
            assert!(s.propose(10).is_empty(), "{what}: proposed past the budget");
            let ledger = s.ledger();
            assert_eq!((ledger.proposed(), ledger.pending()), (60, 0), "{what}");
            assert_eq!(ledger.observed(), 60);
            let outcomes: Vec<Outcome> = all.iter().map(|p| evaluate(&p.genotype)).collect();
            let failed = outcomes.iter().filter(|o| **o == Outcome::Failed).count();
            assert_eq!(ledger.failed(), failed, "{what}");
            let best = outcomes
                .iter()
                .filter_map(|o| match o {
                    Outcome::Accuracy(a) => Some(*a),
                    Outcome::Failed => None,
                })
                .fold(f64::MIN, f64::max);
            assert_eq!(ledger.best().unwrap().accuracy, best, "{what}");
            assert!(!ledger.exhausted());
        }
    }
}

#[test]
fn a_search_is_not_done_while_results_are_outstanding() {
    let mut s = build(&StrategySpec::Random, Space::Nb201, 3, 1).unwrap();
    let ps = s.propose(10);
    assert_eq!(ps.len(), 3);
    assert!(!s.is_done());
    s.observe(&ps[0].genotype, Outcome::Accuracy(50.0));
    s.observe(&ps[1].genotype, Outcome::Failed);
    assert!(!s.is_done());
    s.observe(&ps[2].genotype, Outcome::Accuracy(60.0));
    assert!(s.is_done());
    assert_eq!(s.ledger().best().unwrap().genotype, ps[2].genotype);
}

#[test]
fn exhausting_a_small_space_stops_short_of_the_budget() {
    // 136 canonical one-block PNAS cells, budget 500.
    for spec in specs() {
        let mut s = build(&spec, Space::Pnas { blocks: 1 }, 500, 5).unwrap();
        let all = drive(&mut s, 2);
        assert_eq!(all.len(), 136, "{spec:?}");
        assert_eq!(hashes(&all).len(), 136, "{spec:?}");
        assert!(s.ledger().exhausted() && s.is_done(), "{spec:?}");
        assert!(s.propose(1).is_empty());
    }
}

#[test]
fn the_same_seed_gives_the_same_search() {
    for space in spaces() {
        for spec in specs() {
            let run = |seed| drive(&mut build(&spec, space, 40, seed).unwrap(), 9);
            assert_eq!(run(7), run(7), "{spec:?} on {space}");
            assert_ne!(hashes(&run(7)), hashes(&run(8)), "{spec:?} on {space}");
        }
    }
}

#[test]
fn a_state_read_back_mid_run_continues_identically() {
    for space in [Space::Nb201, Space::Pnas { blocks: 2 }, Space::Darts] {
        for spec in specs() {
            let a = build(&spec, space, 80, 21).unwrap();
            common::resume_twin(a, 400, &format!("{spec:?} on {space}"));
        }
    }
}

#[test]
fn aging_keeps_the_last_p_successful_results() {
    let spec = StrategySpec::Evolution {
        population: 5,
        sample: 2,
    };
    let mut s = build(&spec, Space::Nb201, 100, 8).unwrap();
    let mut joined: Vec<(Genotype, f64)> = Vec::new();
    let mut failures = 0;
    while !s.is_done() {
        for p in s.propose(1) {
            let outcome = evaluate(&p.genotype);
            s.observe(&p.genotype, outcome);
            match outcome {
                Outcome::Accuracy(a) => joined.push((p.genotype, a)),
                Outcome::Failed => failures += 1,
            }
            let population: Vec<(Genotype, f64)> = evolution(&s)
                .population()
                .map(|m| (m.genotype.clone(), m.accuracy))
                .collect();
            assert!(population.len() <= 5);
            let last = &joined[joined.len().saturating_sub(5)..];
            assert_eq!(
                population, last,
                "the population is the last 5 results, oldest first"
            );
        }
    }
    assert!(failures > 0, "the fake evaluator should fail some");
    assert_eq!(joined.len() + failures, 100);
}

#[test]
fn evolution_waits_for_a_result_then_mutates_it() {
    let spec = StrategySpec::Evolution {
        population: 4,
        sample: 2,
    };
    let mut s = build(&spec, Space::Nb201, 50, 2).unwrap();
    let first = s.propose(10);
    assert_eq!(first.len(), 4, "the first P proposals, then wait");
    assert!(first.iter().all(|p| p.priority == 0.0));
    assert!(s.propose(3).is_empty(), "nothing to mutate yet");
    s.observe(&first[2].genotype, Outcome::Failed);
    assert!(
        s.propose(3).is_empty(),
        "a failure does not join the population"
    );
    assert_eq!(evolution(&s).population().len(), 0);
    s.observe(&first[1].genotype, Outcome::Accuracy(71.5));
    let children = s.propose(3);
    assert_eq!(children.len(), 3);
    for c in &children {
        assert_eq!(c.priority, 71.5, "a child carries its parent's accuracy");
        assert_eq!(nb201_edits(&c.genotype, &first[1].genotype), 1);
    }
}

#[test]
fn evolution_starts_over_when_every_result_failed() {
    let spec = StrategySpec::Evolution {
        population: 3,
        sample: 2,
    };
    let mut s = build(&spec, Space::Nb201, 10, 2).unwrap();
    let first = s.propose(5);
    assert_eq!(first.len(), 3);
    for p in &first {
        s.observe(&p.genotype, Outcome::Failed);
    }
    assert!(!s.is_done());
    let again = s.propose(2);
    assert_eq!(again.len(), 2, "no results can come, so it must not wait");
    assert!(again.iter().all(|p| p.priority == 0.0));
}

#[test]
fn the_tournament_winner_is_the_parent() {
    // S = P: every tournament sees the whole population.
    let spec = StrategySpec::Evolution {
        population: 5,
        sample: 5,
    };
    let mut s = build(&spec, Space::Nb201, 60, 4).unwrap();
    let first = s.propose(5);
    for (p, acc) in first.iter().zip([60.0, 80.0, 70.0, 80.0, 75.0]) {
        s.observe(&p.genotype, Outcome::Accuracy(acc));
    }
    // The first of the two 80s observed is the winner on ties in
    // whichever order the tournament drew them; both are parents at 80.
    let parents = [&first[1].genotype, &first[3].genotype];
    let children = s.propose(10);
    assert_eq!(children.len(), 10);
    for c in &children {
        assert_eq!(c.priority, 80.0);
        assert!(parents.iter().any(|p| nb201_edits(&c.genotype, p) == 1));
    }
    // 48 neighbours at most: past them, children give way to uniform
    // samples, still never a repeat.
    let more = s.propose(45);
    let mut all = children;
    all.extend(more);
    assert_eq!(hashes(&all).len(), all.len());
    assert!(all.iter().filter(|p| p.priority == 80.0).count() <= 48);
}

#[test]
fn repeated_and_unknown_results_are_ignored() {
    for spec in specs() {
        let mut s = build(&spec, Space::Nb201, 5, 1).unwrap();
        let ps = s.propose(2);
        s.observe(&ps[0].genotype, Outcome::Accuracy(40.0));
        let before = s.clone();
        s.observe(&ps[0].genotype, Outcome::Accuracy(99.0));
        s.observe(&ps[0].genotype, Outcome::Failed);
        let stranger: Genotype = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
            .parse::<space::Nb201Cell>()
            .map(Genotype::Nb201)
            .unwrap();
        if !s.ledger().contains(&stranger) {
            s.observe(&stranger, Outcome::Accuracy(99.0));
        }
        assert_eq!(s, before, "{spec:?}");
        assert_eq!(s.ledger().best().unwrap().accuracy, 40.0);
        // A result that is not a number counts as a failure.
        s.observe(&ps[1].genotype, Outcome::Accuracy(f64::NAN));
        assert_eq!(s.ledger().failed(), 1);
        assert_eq!(s.ledger().pending(), 0);
    }
}

/// Issue 15, defect 2: a proposal that failed (its job dead-lettered) may
/// succeed later, when the job is replayed; it then counts as a success,
/// once, and a second failure of it changes nothing.
#[test]
fn a_failed_proposal_may_succeed_once_after_a_replay() {
    for spec in specs() {
        let mut s = build(&spec, Space::Nb201, 5, 1).unwrap();
        let ps = s.propose(2);
        s.observe(&ps[0].genotype, Outcome::Accuracy(40.0));
        s.observe(&ps[1].genotype, Outcome::Failed);
        assert_eq!(s.ledger().failed(), 1);
        let before = s.clone();
        s.observe(&ps[1].genotype, Outcome::Failed);
        assert_eq!(s, before, "{spec:?}: a repeated failure is ignored");
        s.observe(&ps[1].genotype, Outcome::Accuracy(70.0));
        assert_eq!(s.ledger().failed(), 0, "{spec:?}");
        assert_eq!(s.ledger().best().unwrap().accuracy, 70.0);
        assert_eq!(s.ledger().best().unwrap().genotype, ps[1].genotype);
        let after = s.clone();
        s.observe(&ps[1].genotype, Outcome::Accuracy(99.0));
        s.observe(&ps[1].genotype, Outcome::Failed);
        assert_eq!(s, after, "{spec:?}: only the first success counts");
        // The state, with what failed, survives a round trip through JSON.
        let back = scheduler::strategy::StrategyState::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
    }
    // Evolution's population takes the late success in.
    let spec = StrategySpec::Evolution {
        population: 3,
        sample: 2,
    };
    let mut s = build(&spec, Space::Nb201, 10, 2).unwrap();
    let first = s.propose(3);
    s.observe(&first[0].genotype, Outcome::Failed);
    s.observe(&first[0].genotype, Outcome::Accuracy(55.0));
    assert_eq!(evolution(&s).population().len(), 1);
}

#[test]
fn build_refuses_settings_it_cannot_run() {
    let err = |spec: StrategySpec, space: Space, budget: usize| {
        build(&spec, space, budget, 0).unwrap_err().to_string()
    };
    let evo = |population, sample| StrategySpec::Evolution { population, sample };
    assert_eq!(
        err(StrategySpec::Random, Space::Nb201, 0),
        "budget: must be at least 1 evaluation"
    );
    assert_eq!(
        err(evo(0, 0), Space::Nb201, 10),
        "population: must be at least 1"
    );
    assert_eq!(
        err(evo(10, 0), Space::Nb201, 10),
        "sample: 0 must be between 1 and the population size 10"
    );
    assert_eq!(
        err(evo(3, 5), Space::Nb201, 10),
        "sample: 5 must be between 1 and the population size 3"
    );
    let msg = err(StrategySpec::Random, Space::Macro { layers: 0 }, 10);
    assert!(
        msg.starts_with("space: layers: 0 is not a layer count"),
        "{msg}"
    );
    assert!(build(&evo(1, 1), Space::Darts, 1, 0).is_ok());
}

#[test]
fn specs_read_from_json_with_documented_defaults() {
    let read = |json: &str| serde_json::from_str::<StrategySpec>(json);
    assert_eq!(
        read(r#"{"strategy":"random"}"#).unwrap(),
        StrategySpec::Random
    );
    assert_eq!(
        read(r#"{"strategy":"evolution"}"#).unwrap(),
        StrategySpec::Evolution {
            population: DEFAULT_POPULATION,
            sample: DEFAULT_SAMPLE
        }
    );
    assert_eq!(
        StrategySpec::evolution(),
        read(r#"{"strategy":"evolution"}"#).unwrap()
    );
    assert_eq!((DEFAULT_POPULATION, DEFAULT_SAMPLE), (20, 5));
    let spec = read(r#"{"strategy":"evolution","population":10,"sample":3}"#).unwrap();
    assert_eq!(read(&serde_json::to_string(&spec).unwrap()).unwrap(), spec);
    assert!(read(r#"{"strategy":"evolution","pop":3}"#).is_err());
    assert!(read(r#"{"strategy":"annealing"}"#).is_err());
}

#[test]
fn a_state_that_is_not_a_strategy_is_refused() {
    let err = StrategyState::from_json("{}").unwrap_err();
    assert!(matches!(err, StrategyError::State(_)));
    assert!(
        err.to_string().starts_with("strategy state: bad json:"),
        "{err}"
    );
    let good = build(&StrategySpec::Random, Space::Macro { layers: 6 }, 5, 0)
        .unwrap()
        .to_json();
    assert!(good.contains(r#""layers":6"#), "{good}");
    let bad = good.replace(r#""layers":6"#, r#""layers":0"#);
    let err = StrategyState::from_json(&bad).unwrap_err();
    assert!(err.to_string().starts_with("space: layers:"), "{err}");
}
