//! Issue 19 at the level of the scheduler's `Run`, with the test in the
//! trainers' place: multi-fidelity searches (ASHA, synchronous successive
//! halving, Hyperband) over a strategy enqueue one job per (candidate,
//! rung), promoted jobs continue from the rung below, a scheduler restarted
//! mid-search enqueues nothing twice, the best is the best of the top rung,
//! and the final stage retrains candidates of the top rung; a ranked
//! strategy's surrogate is fitted on every rung's results, each at its
//! fidelity.

use queue::wire::{DataRef, EvalJob, EvaluatorSpec, TrainSettings};
use queue::{Lease, MemoryQueue, Outcome, Queue, QueueConfig, Scores};
use scheduler::fidelity::{FidelitySpec, RungScheduler};
use scheduler::rank::{Ranker, Scored};
use scheduler::run::Run;
use scheduler::spec::FinalSpec;
use scheduler::strategy::StrategySpec;
use scheduler::{FileStore, SearchSpec, SearchState, Status, Store};
use std::collections::{BTreeMap, HashSet};

fn spec(scheduler: RungScheduler, strategy: StrategySpec) -> SearchSpec {
    SearchSpec {
        name: Some("rungs".into()),
        space: space::Space::Nb201,
        strategy,
        evaluator: EvaluatorSpec::Torch {
            data: DataRef::new("/data/fashion-mnist"),
            settings: Box::new(TrainSettings {
                epochs: 1.0,
                ..TrainSettings::default()
            }),
        },
        budget: 27,
        seed: 3,
        parallel: 4,
        final_stage: Some(FinalSpec {
            top_k: 2,
            settings: TrainSettings::default(),
        }),
        fidelity: Some(FidelitySpec::new(scheduler, 1.0, 9.0)),
    }
}

/// A candidate's accuracy after `epochs`: its own quality (from its hash)
/// plus what training longer gives, so rungs agree on the order.
fn accuracy(hash: &str, epochs: f64) -> f64 {
    let base = (u64::from_str_radix(hash, 16).unwrap() % 1000) as f64 / 20.0;
    base + 10.0 * epochs.ln()
}

/// What the fake trainers saw.
#[derive(Default)]
struct Seen {
    /// (hash, rung) -> jobs.
    jobs: BTreeMap<(String, u32), usize>,
    finals: Vec<String>,
    by_rung: BTreeMap<u32, usize>,
    /// Rung jobs that continue from a lower rung.
    resumed: usize,
}

/// Complete every job on the queue as a trainer would, checking each
/// rung job's fidelity against its rung.
async fn train_all(q: &dyn Queue, seen: &mut Seen, levels: &[f64]) {
    for l in q.claim("w", 100).await.unwrap() {
        let job: EvalJob = serde_json::from_value(l.job.payload.clone()).unwrap();
        let EvaluatorSpec::Torch { settings, .. } = &job.evaluator else {
            panic!("torch jobs only");
        };
        let epochs = match job.fidelity {
            None => {
                assert!(settings.test, "only final jobs have no rung");
                seen.finals.push(job.hash.clone());
                settings.epochs
            }
            Some(f) => {
                assert_eq!(settings.epochs, 9.0, "the schedule is the top rung's");
                assert_eq!(f.epochs, levels[f.rung as usize]);
                if let Some(from) = f.resume_from {
                    seen.resumed += 1;
                    assert_eq!(
                        from,
                        levels[f.rung as usize - 1],
                        "continues from the rung below"
                    );
                }
                *seen.jobs.entry((job.hash.clone(), f.rung)).or_default() += 1;
                *seen.by_rung.entry(f.rung).or_default() += 1;
                f.epochs
            }
        };
        complete(q, &l, accuracy(&job.hash, epochs)).await;
    }
}

async fn complete(q: &dyn Queue, l: &Lease, acc: f64) {
    let outcome = Outcome::Ok(Scores {
        val_acc: acc,
        ..Scores::default()
    });
    q.complete(l, outcome).await.unwrap();
}

/// Run a search to its end, the scheduler restarted (a new `Run` from the
/// stored state) every few steps; what the trainers saw, and the state.
async fn search(
    spec: SearchSpec,
    ranker: Option<&dyn Ranker>,
) -> (Seen, SearchState, Vec<scheduler::Evaluation>) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let q = MemoryQueue::new(QueueConfig::default());
    spec.validate().unwrap();
    let levels = spec.fidelity.as_ref().unwrap().levels();
    let state = SearchState::new("rungs-1".into(), spec).unwrap();
    store.submit(&state).await.unwrap();
    let mut run = Run::open(state, dir.path()).unwrap();
    let mut seen = Seen::default();
    for round in 0..400 {
        run.step(&q, &store, ranker).await.unwrap();
        if run.state.status.is_terminal() {
            break;
        }
        if round % 5 == 4 {
            // A restarted scheduler takes up the stored state.
            let stored = store.load("rungs-1").await.unwrap().unwrap();
            run = Run::open(stored, dir.path()).unwrap();
            run.step(&q, &store, ranker).await.unwrap();
        }
        train_all(&q, &mut seen, &levels).await;
    }
    let state = store.load("rungs-1").await.unwrap().unwrap();
    assert_eq!(state.status, Status::Done, "the search ends");
    let evals = store.evaluations("rungs-1", 0, 1000).await.unwrap();
    (seen, state, evals)
}

fn check_common(seen: &Seen, state: &SearchState, evals: &[scheduler::Evaluation]) {
    assert!(
        seen.jobs.values().all(|&n| n == 1),
        "one job per (candidate, rung): {:?}",
        seen.jobs.iter().filter(|(_, &n)| n > 1).collect::<Vec<_>>()
    );
    let rung_evals = evals.iter().filter(|e| e.rung.is_some()).count();
    assert_eq!(rung_evals, seen.jobs.len(), "one evaluation per rung job");
    let keys: HashSet<(String, Option<u32>)> = (evals.iter())
        .filter(|e| e.rung.is_some())
        .map(|e| (e.hash.clone(), e.rung))
        .collect();
    assert_eq!(keys.len(), rung_evals);
    // The best is the best of the top rung reached, and the final stage
    // retrained the leaders of that rung.
    let best = state.best.as_ref().unwrap();
    let top = seen.by_rung.keys().max().copied();
    assert_eq!(best.rung, top);
    let best_at_top = (evals.iter())
        .filter(|e| e.rung == top)
        .map(|e| e.val_acc().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!(best.val_acc(), Some(best_at_top));
    assert_eq!(seen.finals.len(), 2);
    assert!(seen.finals.contains(&best.hash));
    assert_eq!(state.evaluated + state.failed, 27, "27 candidates");
    assert_eq!(state.promoted as usize, seen.jobs.len() - 27);
    let indices: HashSet<u64> = evals.iter().map(|e| e.index).collect();
    assert_eq!(indices.len(), evals.len(), "every evaluation its own index");
}

#[tokio::test]
async fn asha_over_evolution_promotes_the_top_third_of_each_rung() {
    let evolution = StrategySpec::Evolution {
        population: 10,
        sample: 3,
    };
    let (seen, state, evals) = search(spec(RungScheduler::Asha, evolution), None).await;
    check_common(&seen, &state, &evals);
    // 27 candidates at 1 epoch; ASHA promotes the top third of each rung
    // as it goes: at least 9 at 3 epochs and 3 at 9 (more when an early
    // promotion later falls out of the top third: ASHA never waits).
    let (r1, r2) = (seen.by_rung[&1], seen.by_rung[&2]);
    assert_eq!(seen.by_rung[&0], 27);
    assert!(
        (9..=15).contains(&r1) && (3..=r1 / 2).contains(&r2),
        "{r1} {r2}"
    );
    // The best candidate of all (by its own quality) made it to the top.
    let top_rung: Vec<&String> = (seen.jobs.keys())
        .filter(|(_, r)| *r == 2)
        .map(|(h, _)| h)
        .collect();
    let best_base = (seen.jobs.keys())
        .map(|(h, _)| h)
        .max_by(|a, b| accuracy(a, 1.0).total_cmp(&accuracy(b, 1.0)))
        .unwrap();
    assert!(top_rung.contains(&best_base));
    let rungs = state.rungs.as_ref().unwrap();
    assert_eq!(
        rungs.epochs_spent(),
        27.0 + r1 as f64 * 2.0 + r2 as f64 * 6.0
    );
}

#[tokio::test]
async fn synchronous_successive_halving_over_random_search() {
    let (seen, state, evals) = search(spec(RungScheduler::Sh, StrategySpec::Random), None).await;
    check_common(&seen, &state, &evals);
    // Three brackets of 9: 3 of each at 3 epochs, 1 of each at 9.
    assert_eq!(seen.by_rung, BTreeMap::from([(0, 27), (1, 9), (2, 3)]));
}

#[tokio::test]
async fn hyperband_starts_brackets_at_every_rung() {
    let (seen, state, evals) =
        search(spec(RungScheduler::Hyperband, StrategySpec::Random), None).await;
    check_common(&seen, &state, &evals);
    // Brackets of 9 from rung 0, 5 from rung 1, 3 from rung 2, then 9 from
    // rung 0 and the last 1 from rung 1 (closed when the budget was spent).
    let first: BTreeMap<u32, usize> = (state.rungs.as_ref().unwrap().tracks().values())
        .filter_map(|t| t.results.keys().next().copied())
        .fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r).or_default() += 1;
            m
        });
    assert_eq!(first, BTreeMap::from([(0, 18), (1, 6), (2, 3)]));
}

/// A surrogate that records what it was fitted on and scores candidates
/// by the fake trainers' truth at the top rung.
#[derive(Debug, Default)]
struct Recording(std::sync::Mutex<Vec<(usize, Vec<f64>)>>);

#[async_trait::async_trait]
impl Ranker for Recording {
    async fn rank(
        &self,
        _search: &str,
        _space: space::Space,
        _predictor: Option<&str>,
        training: &[(space::Genotype, f64)],
        fidelity: &[f64],
        candidates: &[space::Genotype],
    ) -> Result<Scored, String> {
        self.0
            .lock()
            .unwrap()
            .push((training.len(), fidelity.to_vec()));
        let truth = |g: &space::Genotype| accuracy(&g.hash().to_string(), 9.0);
        Ok(Scored::of(candidates.iter().map(truth).collect()))
    }
}

#[tokio::test]
async fn a_ranked_strategys_surrogate_learns_from_every_rung() {
    let local = StrategySpec::Surrogate {
        init: 9,
        beam: 6,
        parents: 3,
        predictor: None,
    };
    let ranker = Recording::default();
    let (seen, state, evals) = search(spec(RungScheduler::Asha, local), Some(&ranker)).await;
    check_common(&seen, &state, &evals);
    let asked = ranker.0.lock().unwrap();
    assert!(asked.len() >= 2, "rounds after the random cells: {asked:?}");
    for (n, fidelity) in asked.iter() {
        assert_eq!(fidelity.len(), *n, "a fidelity per result");
        assert!(
            (fidelity.iter()).all(|f| [1.0 / 9.0, 3.0 / 9.0, 1.0].contains(f)),
            "each result at its rung's share of the top rung's epochs: {fidelity:?}"
        );
    }
    // Results above the first rung are training data as well: the fits
    // saw more results than the strategy was told (one per candidate).
    let (n, fidelity) = asked.last().unwrap();
    let first_rungs = fidelity.iter().filter(|&&f| f == 1.0 / 9.0).count();
    assert!(
        *n > first_rungs && first_rungs >= 9,
        "{n} results, {first_rungs} at the first rung"
    );
}

#[test]
fn fidelity_specs_name_what_is_wrong() {
    let mut s = spec(RungScheduler::Asha, StrategySpec::Random);
    s.evaluator = EvaluatorSpec::Nb201 {
        dataset: "cifar10".into(),
        time_scale: 0.0,
    };
    let err = s.validate().unwrap_err().to_string();
    assert!(
        err.contains("fidelity: rungs train with the torch evaluator"),
        "{err}"
    );
    let text = r#"
        budget = 4
        [space]
        kind = "nb201"
        [strategy]
        strategy = "random"
        [evaluator.torch]
        data = "/d"
        [fidelity]
        min = 1
        max = 27
        eta = 3
        scheduler = "bohb"
    "#;
    let err = SearchSpec::parse(text, false).unwrap_err();
    assert!(err.contains("bohb"), "{err}");
    let ok = SearchSpec::parse(&text.replace("bohb", "asha"), false).unwrap();
    let f = ok.fidelity.unwrap();
    assert_eq!(f.levels(), [1.0, 3.0, 9.0, 27.0]);
    assert_eq!(
        (f.resource.as_str(), f.scheduler),
        ("epochs", RungScheduler::Asha)
    );
}
