//! A DARTS search driven by the scheduler's `Run` over the in-process
//! queue, with the test in the trainer's place: one `darts` job carrying the
//! supernet settings, its derived cell retrained by the final stage, and
//! the ways a supernet search can fail.

use queue::wire::{DartsJob, DartsSettings, DataRef, EvalJob, EvaluatorSpec, TrainSettings};
use queue::{JobKind, MemoryQueue, Outcome, Queue, QueueConfig, Scores};
use scheduler::run::Run;
use scheduler::spec::FinalSpec;
use scheduler::state::Stage;
use scheduler::strategy::StrategySpec;
use scheduler::{FileStore, SearchSpec, SearchState, Status, Store};

fn spec() -> SearchSpec {
    SearchSpec {
        name: Some("darts".into()),
        space: space::Space::Darts,
        strategy: StrategySpec::Darts {
            settings: DartsSettings {
                epochs: 2,
                channels: 4,
                ..DartsSettings::default()
            },
        },
        evaluator: EvaluatorSpec::Torch {
            data: DataRef {
                format: Some("idx".into()),
                fingerprint: Some("abc".into()),
                ..DataRef::new("/data/fm")
            },
            settings: Box::default(),
        },
        budget: 1,
        seed: 11,
        parallel: 4,
        final_stage: Some(FinalSpec {
            top_k: 1,
            settings: TrainSettings {
                epochs: 3.0,
                ..TrainSettings::default()
            },
        }),
        fidelity: None,
    }
}

struct Fixture {
    queue: MemoryQueue,
    store: FileStore,
    run: Run,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let spec = spec();
    spec.validate().unwrap();
    let state = SearchState::new("darts-1".into(), spec).unwrap();
    store.submit(&state).await.unwrap();
    let run = Run::open(state, dir.path()).unwrap();
    Fixture {
        queue: MemoryQueue::new(QueueConfig::default()),
        store,
        run,
        _dir: dir,
    }
}

/// The derived cell the "trainer" returns.
const CELL: &str = "DARTS_V2";

#[tokio::test]
async fn one_supernet_job_then_its_cell_is_retrained_and_tested() {
    let mut f = fixture().await;
    let r = f.run.step(&f.queue, &f.store, None).await.unwrap();
    assert_eq!(r.enqueued, 1);
    // Stepping again asks for nothing more.
    let r = f.run.step(&f.queue, &f.store, None).await.unwrap();
    assert_eq!(r.enqueued, 0);
    let mut leases = f.queue.claim("w", 10).await.unwrap();
    assert_eq!(leases.len(), 1, "one supernet search, no candidates");
    let lease = leases.remove(0);
    assert_eq!(lease.job.kind, JobKind::Darts);
    let job: DartsJob = serde_json::from_value(lease.job.payload.clone()).unwrap();
    assert_eq!(job.space, space::Space::Darts);
    assert_eq!(
        (
            job.data.path.as_str(),
            job.data.format.as_deref(),
            job.data.fingerprint.as_deref()
        ),
        ("/data/fm", Some("idx"), Some("abc"))
    );
    assert_eq!((job.settings.epochs, job.settings.channels), (2, 4));
    assert_eq!(job.settings.seed, 11, "seeded with the search's seed");

    // The job's id is stored at once, for `nas status` to find its
    // progress; a restarted scheduler (state read back) re-enqueues the
    // same job.
    let state = f.store.load("darts-1").await.unwrap().unwrap();
    assert_eq!(state.pending.len(), 1);
    let stored = state.pending.values().next().unwrap();
    assert_eq!(stored.job_id.as_deref(), Some(lease.job.job_id.as_str()));
    let mut again = Run::open(state, f._dir.path()).unwrap();
    let r = again.step(&f.queue, &f.store, None).await.unwrap();
    assert_eq!(r.enqueued, 1, "re-enqueued idempotently");
    assert!(f.queue.claim("w", 10).await.unwrap().is_empty());

    let derived = space::Space::Darts.parse(CELL).unwrap();
    f.queue
        .complete(
            &lease,
            Outcome::Ok(Scores {
                val_acc: 61.5,
                genotype: Some(derived.canonical_text()),
                ..Scores::default()
            }),
        )
        .await
        .unwrap();
    let r = again.step(&f.queue, &f.store, None).await.unwrap();
    assert_eq!((r.results, r.enqueued), (1, 1));
    let s = &again.state;
    let best = s.best.as_ref().unwrap();
    assert_eq!(best.stage, Stage::Supernet);
    assert_eq!(best.genotype, derived.canonical_text());
    assert_eq!(best.hash, derived.hash().to_string());
    assert_eq!(s.evaluated, 1);

    // The final stage: the derived cell, trained with the final settings,
    // test set scored; its job id stored at once too.
    let lease = f.queue.claim("w", 10).await.unwrap().remove(0);
    let state = f.store.load("darts-1").await.unwrap().unwrap();
    let stored = state.pending.values().next().unwrap();
    assert_eq!(stored.stage, Stage::Final);
    assert_eq!(stored.job_id.as_deref(), Some(lease.job.job_id.as_str()));
    assert_eq!(lease.job.kind, JobKind::Evaluate);
    let job: EvalJob = serde_json::from_value(lease.job.payload.clone()).unwrap();
    assert_eq!(
        job.genotype().unwrap().canonical_text(),
        derived.canonical_text()
    );
    let EvaluatorSpec::Torch { settings, .. } = &job.evaluator else {
        panic!("{:?}", job.evaluator)
    };
    assert!(settings.test);
    assert_eq!(settings.epochs, 3.0);
    f.queue
        .complete(
            &lease,
            Outcome::Ok(Scores {
                val_acc: 90.0,
                test_acc: Some(89.5),
                ..Scores::default()
            }),
        )
        .await
        .unwrap();
    again.step(&f.queue, &f.store, None).await.unwrap();
    let s = f.store.load("darts-1").await.unwrap().unwrap();
    assert_eq!(s.status, Status::Done);
    let w = s.winner().unwrap();
    assert_eq!(
        (w.stage, w.genotype.as_str()),
        (Stage::Final, derived.canonical_text().as_str())
    );
    let evals = f.store.evaluations("darts-1", 0, 10).await.unwrap();
    let stages: Vec<Stage> = evals.iter().map(|e| e.stage).collect();
    assert_eq!(stages, [Stage::Supernet, Stage::Final]);
}

/// How a supernet search can end without a usable cell.
async fn fails_with(outcome: Outcome) -> (SearchState, Vec<scheduler::Evaluation>) {
    let mut f = fixture().await;
    f.run.step(&f.queue, &f.store, None).await.unwrap();
    let lease = f.queue.claim("w", 10).await.unwrap().remove(0);
    f.queue.complete(&lease, outcome).await.unwrap();
    let r = f.run.step(&f.queue, &f.store, None).await.unwrap();
    assert_eq!(
        (r.results, r.enqueued),
        (1, 0),
        "no final stage without a cell"
    );
    let s = f.store.load("darts-1").await.unwrap().unwrap();
    let evals = f.store.evaluations("darts-1", 0, 10).await.unwrap();
    (s, evals)
}

#[tokio::test]
async fn a_failed_or_cell_less_supernet_search_ends_the_search_with_the_reason() {
    let (s, evals) = fails_with(Outcome::Diverged {
        reason: "the α-step loss became NaN".into(),
    })
    .await;
    assert_eq!(
        (s.status.clone(), s.failed, s.evaluated),
        (Status::Done, 1, 0)
    );
    assert!(s.winner().is_none());
    assert_eq!(evals.len(), 1);

    for (genotype, why) in [
        (None, "names no derived genotype"),
        (
            Some("(0,conv_9x9,0,skip)".to_string()),
            "not a darts genotype",
        ),
    ] {
        let (s, evals) = fails_with(Outcome::Ok(Scores {
            val_acc: 50.0,
            genotype,
            ..Scores::default()
        }))
        .await;
        assert_eq!((s.status.clone(), s.failed), (Status::Done, 1));
        let Outcome::Dead { reason } = &evals[0].outcome else {
            panic!("{:?}", evals[0].outcome)
        };
        assert!(reason.contains(why), "{reason}");
    }
}
