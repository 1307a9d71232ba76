//! Regression tests of issue 15 ("reliability hardening") at the level of
//! the scheduler's `Run`, with the test in the trainer's place: the result
//! of a dead-lettered job replayed while its search runs is taken by the
//! search (defect 2), and an entry of the result log that does not decode
//! is set aside without stopping the search (defect 4).

use queue::wire::EvaluatorSpec;
use queue::{FailKind, Lease, MemoryQueue, Outcome, Queue, QueueConfig, Scores};
use scheduler::run::Run;
use scheduler::strategy::{Strategy, StrategySpec};
use scheduler::{FileStore, SearchSpec, SearchState, Status, Store};

fn spec(budget: usize, parallel: usize) -> SearchSpec {
    SearchSpec {
        name: Some("issue15".into()),
        space: space::Space::Nb201,
        strategy: StrategySpec::Random,
        evaluator: EvaluatorSpec::Nb201 {
            dataset: "cifar10".into(),
            time_scale: 0.0,
        },
        budget,
        seed: 5,
        parallel,
        final_stage: None,
        fidelity: None,
    }
}

/// A submitted search, its run, and the folder of its records.
async fn open(id: &str, budget: usize, parallel: usize) -> (FileStore, Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let spec = spec(budget, parallel);
    spec.validate().unwrap();
    let state = SearchState::new(id.into(), spec).unwrap();
    store.submit(&state).await.unwrap();
    let run = Run::open(state, dir.path()).unwrap();
    (store, run, dir)
}

fn ok(acc: f64) -> Outcome {
    Outcome::Ok(Scores {
        val_acc: acc,
        ..Scores::default()
    })
}

async fn claim_all(q: &dyn Queue) -> Vec<Lease> {
    q.claim("w", 100).await.unwrap()
}

/// Issue 15, defect 2: a candidate whose job was dead-lettered, and whose
/// job is replayed (`nas dlq replay`) while the search runs, is evaluated
/// after all: the search records the replayed result, tells the strategy,
/// updates the best and corrects its counts.
#[tokio::test]
async fn issue15_a_replayed_dead_job_s_result_is_taken_by_its_running_search() {
    let q = MemoryQueue::new(QueueConfig::default());
    let (store, mut run, _dir) = open("replay-1", 5, 2).await;
    run.step(&q, &store, None).await.unwrap();
    let first = claim_all(&q).await;
    assert_eq!(first.len(), 2);
    let (doomed, fine) = (&first[0], &first[1]);
    q.fail(doomed, "cuda error: out of memory", FailKind::Permanent)
        .await
        .unwrap();
    q.complete(fine, ok(50.0)).await.unwrap();
    run.step(&q, &store, None).await.unwrap();
    assert_eq!((run.state.evaluated, run.state.failed), (1, 1));
    assert_eq!(run.state.strategy.ledger().failed(), 1);

    // The operator replays it; it runs again and succeeds, the best so far.
    assert!(q.replay(&doomed.job.job_id).await.unwrap());
    let second = claim_all(&q).await;
    let again = second
        .iter()
        .find(|l| l.job.job_id == doomed.job.job_id)
        .expect("the replayed job is delivered again");
    assert_eq!(again.job.attempt, 1);
    q.complete(again, ok(93.0)).await.unwrap();
    let r = run.step(&q, &store, None).await.unwrap();
    assert_eq!(r.results, 1);
    let s = &run.state;
    assert_eq!(
        (s.evaluated, s.failed),
        (2, 0),
        "the failure became an evaluation"
    );
    let best = s.best.as_ref().unwrap();
    assert_eq!(
        (best.job_id.as_str(), best.val_acc()),
        (doomed.job.job_id.as_str(), Some(93.0))
    );
    assert_eq!(s.strategy.ledger().failed(), 0, "the strategy was told");
    assert_eq!(s.strategy.ledger().best().unwrap().accuracy, 93.0);

    // The rest of the search runs to its end.
    for l in second.iter().filter(|l| l.job.job_id != doomed.job.job_id) {
        q.complete(l, ok(60.0)).await.unwrap();
    }
    for _ in 0..10 {
        run.step(&q, &store, None).await.unwrap();
        for l in claim_all(&q).await {
            q.complete(&l, ok(40.0)).await.unwrap();
        }
    }
    let s = store.load("replay-1").await.unwrap().unwrap();
    assert_eq!(s.status, Status::Done);
    assert_eq!((s.evaluated, s.failed), (5, 0));
    assert_eq!(s.best.as_ref().unwrap().job_id, doomed.job.job_id);

    // The evaluations log holds both records of the replayed job, the dead
    // one first, each line with its own index.
    let evals = store.evaluations("replay-1", 0, 100).await.unwrap();
    assert_eq!(evals.len(), 6, "five candidates, one of them twice");
    let of_job: Vec<&scheduler::Evaluation> = evals
        .iter()
        .filter(|e| e.job_id == doomed.job.job_id)
        .collect();
    assert_eq!(of_job.len(), 2);
    assert!(matches!(of_job[0].outcome, Outcome::Dead { .. }));
    assert_eq!((of_job[1].val_acc(), of_job[1].attempt), (Some(93.0), 1));
    assert_eq!(of_job[0].hash, of_job[1].hash);
    let indices: Vec<u64> = evals.iter().map(|e| e.index).collect();
    assert_eq!(indices, (0..6).collect::<Vec<u64>>());
}

/// Issue 15, defect 4: an entry of a search's result log that does not
/// decode (written by a broken or newer producer) is set aside: the search
/// goes on and finishes, the candidate it names is recorded as failed, and
/// the raw entry is kept in `undecodable.jsonl`.
#[tokio::test]
async fn issue15_an_undecodable_result_is_set_aside_and_the_search_finishes() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL: run through scripts/test.sh");
    let config = QueueConfig {
        prefix: format!("test:issue15-undecodable:{}", std::process::id()),
        ..QueueConfig::default()
    };
    let q = queue::RedisQueue::connect(&queue::RedisUrl::parse(&url).unwrap(), config)
        .await
        .unwrap();
    let id = "undecodable-1";
    let (store, mut run, dir) = open(id, 3, 3).await;
    run.step(&q, &store, None).await.unwrap();
    let leases = claim_all(&q).await;
    assert_eq!(leases.len(), 3);
    q.complete(&leases[0], ok(70.0)).await.unwrap();
    // The third job's result arrives in a shape this build cannot read, and
    // so does an entry that names no job at all.
    let broken = format!(
        r#"{{"v":1,"job_id":"{}","search_id":"{id}","outcome":{{"exploded":true}}}}"#,
        leases[2].job.job_id
    );
    let mut con = q.connection();
    for raw in [broken.as_str(), "not json at all"] {
        let _: () = redis::AsyncCommands::rpush(&mut con, q.keys().log(id), raw)
            .await
            .unwrap();
    }
    q.complete(&leases[1], ok(80.0)).await.unwrap();
    for _ in 0..3 {
        run.step(&q, &store, None)
            .await
            .expect("an undecodable result does not fail the search");
    }
    let s = store.load(id).await.unwrap().unwrap();
    assert_eq!(s.status, Status::Done);
    assert_eq!((s.evaluated, s.failed), (2, 1));
    let evals = store.evaluations(id, 0, 100).await.unwrap();
    assert_eq!(evals.len(), 3);
    let failed = evals
        .iter()
        .find(|e| e.job_id == leases[2].job.job_id)
        .unwrap();
    let Outcome::Dead { reason } = &failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert!(reason.contains("does not decode"), "{reason}");
    let kept = std::fs::read_to_string(dir.path().join(id).join("undecodable.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = kept
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{kept}");
    assert_eq!(lines[0]["raw"], broken.as_str());
    assert_eq!(lines[0]["job_id"], leases[2].job.job_id.as_str());
    assert_eq!(lines[1]["raw"], "not json at all");
    assert!(lines[1]["job_id"].is_null());
}

/// Paging through the dead letters goes to the end of the list: a page
/// whose jobs' search was retired (its entries not yet swept) reads as
/// empty, and reading stopped there, so `nas dlq replay --all` missed every
/// dead job after it.
#[tokio::test]
async fn paging_through_dead_letters_passes_pages_of_retired_searches() {
    let q = MemoryQueue::new(QueueConfig::default());
    let job = |search: &str, key: &str| queue::NewJob {
        search_id: search.into(),
        dedupe_key: key.into(),
        kind: queue::JobKind::Noop,
        priority: 0.0,
        payload: serde_json::Value::Null,
    };
    for (search, keys) in [("gone", ["a", "b"].as_slice()), ("kept", ["c"].as_slice())] {
        q.enqueue(keys.iter().map(|k| job(search, k)).collect())
            .await
            .unwrap();
        for lease in q.claim("w", 10).await.unwrap() {
            q.fail(&lease, "broken", FailKind::Permanent).await.unwrap();
        }
    }
    q.retire("gone", std::time::Duration::ZERO).await.unwrap();
    assert_eq!(q.dead_letter_count().await.unwrap(), 3, "not swept yet");
    assert!(q.dead_letters(0, 2).await.unwrap().is_empty());
    let all = scheduler::client::dead_letters_in_pages(&q, 2)
        .await
        .unwrap();
    let searches: Vec<&str> = all.iter().map(|d| d.search_id.as_str()).collect();
    assert_eq!(searches, ["kept"]);
}
