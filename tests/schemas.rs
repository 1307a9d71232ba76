//! Issue 16: the protocol's JSON Schemas (docs/schemas) against the Rust
//! wire types. Every valid example decodes with the Rust type it
//! describes, and the JSON the Rust types write for every variant (each
//! space, evaluator, job kind, outcome and progress kind) passes its schema
//! (scripts/check_schemas.py, in the torch venv, which has jsonschema).

use queue::wire::{
    DartsJob, DartsProgress, DartsSettings, DataRef, EvalJob, EvaluatorSpec, ProgressNote,
    TrainProgress, TrainSettings,
};
use queue::{Envelope, JobKind, JobResult, Outcome, Scores};
use serde_json::json;
use std::path::Path;

#[path = "common/venv.rs"]
mod venv;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Decode an example with the Rust type its schema describes.
fn decode(schema: &str, text: &str) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    match schema {
        "envelope" => {
            // At enqueue the id is a placeholder the queue fills in.
            let doc: serde_json::Value = serde_json::from_str(text).map_err(|x| e(&x))?;
            let sid = doc["search_id"].as_str().unwrap_or_default();
            let text = text.replace("@@ID@@", &format!("{sid}.0000000001"));
            let env = Envelope::decode(&text).map_err(|x| e(&x))?;
            match env.kind {
                JobKind::Evaluate => decode("eval-job", &env.payload.to_string()),
                JobKind::Darts => decode("darts-job", &env.payload.to_string()),
                JobKind::Noop => Ok(()),
            }
        }
        "eval-job" => {
            let job: EvalJob = serde_json::from_str(text).map_err(|x| e(&x))?;
            job.genotype().map(|_| ()).map_err(|x| e(&x))
        }
        "darts-job" => {
            let job: DartsJob = serde_json::from_str(text).map_err(|x| e(&x))?;
            job.validate().map_err(|x| e(&x))
        }
        "result" => JobResult::decode(text).map(|_| ()).map_err(|x| e(&x)),
        "progress" => ProgressNote::decode(text).map(|_| ()).map_err(|x| e(&x)),
        "worker-card" => queue::wire::WorkerCard::decode(text)
            .map(|_| ())
            .map_err(|x| e(&x)),
        other => Err(format!("no schema named {other}")),
    }
}

#[test]
fn every_valid_example_decodes_with_the_rust_types() {
    let dir = root().join("docs/schemas/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let schema = name.split('.').next().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        decode(schema, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert!(n >= 20, "only {n} examples");
}

/// One value of every variant the Rust side writes, named by its schema.
fn rust_documents() -> Vec<(String, serde_json::Value)> {
    let mut docs = Vec::new();
    let spaces = [
        space::Space::Nb201,
        space::Space::Darts,
        space::Space::Pnas { blocks: 3 },
        space::Space::Macro { layers: 5 },
        space::Space::Seq,
        space::Space::Mlp {
            layers: 3,
            categorical: true,
        },
    ];
    let mut data = DataRef::new("/data/fashion-mnist");
    data.format = Some("idx".into());
    data.fingerprint = Some("00ff".repeat(8));
    let mut table = DataRef::new("/data/letter.csv");
    table.target = Some("class".into());
    table.categorical = vec!["a".into()];
    table.task = Some("classification".into());
    table.pad = true;
    let evaluators = [
        EvaluatorSpec::Nb201 {
            dataset: "cifar100".into(),
            time_scale: 0.5,
        },
        EvaluatorSpec::Torch {
            data: data.clone(),
            settings: Box::default(),
        },
        EvaluatorSpec::Torch {
            data: table,
            settings: Box::new(TrainSettings {
                epochs: 2.5,
                max_steps: Some(100),
                ..TrainSettings::default()
            }),
        },
        EvaluatorSpec::Python {
            entry: "mypkg.train:evaluate".into(),
            settings: json!({"epochs": 3, "aug": {"flip": true}})
                .as_object()
                .cloned()
                .unwrap(),
        },
        EvaluatorSpec::Python {
            entry: "m:f".into(),
            settings: serde_json::Map::new(),
        },
    ];
    for (i, sp) in spaces.iter().enumerate() {
        let g = sp.sample(&mut space::rng(i as u64)).unwrap();
        for (j, ev) in evaluators.iter().enumerate() {
            // A spec pairs the table evaluator with its own space only
            // (scheduler::SearchSpec::validate), and so does the schema.
            if matches!(ev, EvaluatorSpec::Nb201 { .. }) && *sp != space::Space::Nb201 {
                continue;
            }
            let mut job = EvalJob::new(*sp, &g, ev.clone(), (i * 10 + j) as u64);
            docs.push((
                format!("eval-job.{i}-{j}"),
                serde_json::to_value(&job).unwrap(),
            ));
            // A promoted rung of a multi-fidelity search.
            job.fidelity = Some(queue::wire::Fidelity {
                rung: 2,
                epochs: 9.0,
                resume_from: Some(3.0),
            });
            docs.push((
                format!("eval-job.{i}-{j}-rung"),
                serde_json::to_value(&job).unwrap(),
            ));
        }
    }
    for (i, sp) in [space::Space::Darts, space::Space::Nb201, space::Space::Seq]
        .into_iter()
        .enumerate()
    {
        let job = DartsJob {
            space: sp,
            data: data.clone(),
            settings: DartsSettings::default(),
        };
        docs.push((
            format!("darts-job.{i}"),
            serde_json::to_value(&job).unwrap(),
        ));
    }
    let g = space::Space::Nb201.sample(&mut space::rng(1)).unwrap();
    let payloads = [
        (
            JobKind::Evaluate,
            serde_json::to_value(EvalJob::new(
                space::Space::Nb201,
                &g,
                evaluators[3].clone(),
                1,
            ))
            .unwrap(),
        ),
        (JobKind::Noop, serde_json::Value::Null),
        (JobKind::Noop, json!({"sleep_ms": 50})),
        (
            JobKind::Darts,
            serde_json::to_value(DartsJob {
                space: space::Space::Darts,
                data: data.clone(),
                settings: DartsSettings::default(),
            })
            .unwrap(),
        ),
    ];
    for (i, (kind, payload)) in payloads.into_iter().enumerate() {
        let env = Envelope {
            v: queue::wire::SCHEMA_VERSION,
            job_id: "my-search.0000000042".into(),
            search_id: "my-search".into(),
            kind,
            attempt: 2,
            created_ms: 1_700_000_000_000,
            payload,
        };
        let text = env.encode().unwrap();
        docs.push((
            format!("envelope.{i}"),
            serde_json::from_str(&text).unwrap(),
        ));
    }
    let full = Scores {
        val_acc: 91.5,
        val_loss: Some(0.3),
        test_acc: Some(90.1),
        val_rmse: Some(1.5),
        val_r2: Some(0.7),
        test_rmse: Some(1.6),
        test_r2: Some(0.69),
        params: Some(123_456),
        train_seconds: 12.5,
        images_per_s: Some(5000.0),
        epochs: Some(3.0),
        resumed_from: Some(1.0),
        resume_seconds: Some(0.02),
        device: Some("cuda:0".into()),
        weights: Some("/r/s/final.safetensors".into()),
        genotype: Some(g.canonical_text()),
    };
    let outcomes = [
        Outcome::Ok(full),
        Outcome::Ok(Scores::default()),
        Outcome::Diverged {
            reason: "loss is nan at step 3".into(),
        },
        Outcome::Dead {
            reason: "lease expired on attempt 3 of 3 (worker w)".into(),
        },
    ];
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let r = JobResult {
            v: queue::wire::SCHEMA_VERSION,
            job_id: "s.0000000001".into(),
            search_id: "s".into(),
            attempt: 1,
            worker: "host-12".into(),
            finished_ms: 1_700_000_000_000,
            outcome,
        };
        let text = r.encode().unwrap();
        docs.push((format!("result.{i}"), serde_json::from_str(&text).unwrap()));
    }
    let notes = [
        ProgressNote::Train(TrainProgress {
            step: 10,
            steps: 100,
            loss: 0.5,
        }),
        ProgressNote::Train(TrainProgress {
            step: 3,
            steps: 100,
            loss: f64::NAN,
        }),
        ProgressNote::Darts(DartsProgress {
            epoch: 1,
            epochs: 2,
            train_loss: 1.0,
            train_acc: 50.0,
            arch_loss: 1.1,
            genotype: g.canonical_text(),
            ops: vec!["none".into(), "skip_connect".into()],
            edges: vec!["1<-0".into()],
            alphas: [("cell".to_string(), vec![vec![0.4, 0.6]])].into(),
        }),
        ProgressNote::Other(json!({"kind": "python", "epoch": 1})),
    ];
    for (i, note) in notes.into_iter().enumerate() {
        let text = note.encode().unwrap();
        docs.push((
            format!("progress.{i}"),
            serde_json::from_str(&text).unwrap(),
        ));
    }
    let cards = [
        queue::wire::WorkerCard {
            id: "host-12".into(),
            kind: "rust".into(),
            host: "host".into(),
            device: "cuda:0,cuda:1".into(),
            slots: 2,
            pools: vec!["builtin".into()],
            jobs: vec!["s.0000000001".into()],
            started_ms: 1_700_000_000_000,
            version: "0.1.0".into(),
        },
        queue::wire::WorkerCard {
            id: "w".into(),
            kind: "python".into(),
            ..Default::default()
        },
    ];
    for (i, card) in cards.into_iter().enumerate() {
        let text = card.encode().unwrap();
        docs.push((
            format!("worker-card.{i}"),
            serde_json::from_str(&text).unwrap(),
        ));
    }
    docs
}

#[test]
fn what_the_rust_types_write_passes_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let docs = rust_documents();
    let mut paths = Vec::new();
    for (name, doc) in &docs {
        // Each document also decodes again: the schema and the types agree
        // in both directions on what the Rust side writes.
        let schema = name.split('.').next().unwrap();
        decode(schema, &doc.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, doc.to_string()).unwrap();
        paths.push(path);
    }
    let out = Command::new(venv::venv_bin("python"))
        .arg(root().join("scripts/check_schemas.py"))
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "documents the Rust types wrote fail their schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(docs.len() >= 40, "{}", docs.len());
}
