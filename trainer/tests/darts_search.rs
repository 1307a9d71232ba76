//! Whole DARTS searches on a tiny synthetic dataset, on the CPU: first and
//! second order, both spaces, the per-epoch records and `darts.json`, a
//! `darts` job through the trainer's evaluator, and bad settings refused by
//! name.

use queue::wire::{DartsJob, DartsOrder, DartsSettings, DataRef};
use queue::{JobKind, Outcome};
use serde_json::json;
use space::{Genotype, SpaceKind};
use std::path::Path;
use tch::{Device, Kind, Tensor};
use trainer::darts_search::{search, DartsEpoch, DartsError, DartsRun};
use trainer::{Cancel, EvalError, EvaluatorConfig, Evaluators};

/// Every test here takes this lock: libtorch's global generator seeds each
/// search's initialization, so searches that overlap in one process would
/// not repeat exactly (the resume test compares two runs bit for bit).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Images whose class is written in their brightness (4 classes), 8x8.
fn images(n: i64, seed: i64) -> (Tensor, Tensor) {
    tch::manual_seed(seed);
    let labels = Tensor::randint(4, [n], (Kind::Int64, Device::Cpu));
    let base = (&labels * 60 + 20).to_kind(Kind::Float).view([n, 1, 1, 1]);
    let noise = Tensor::randn([n, 1, 8, 8], (Kind::Float, Device::Cpu)) * 12.0;
    let pixels = (base + noise).clamp(0.0, 255.0).to_kind(Kind::Uint8);
    (pixels, labels)
}

fn dataset() -> data::Dataset {
    let (ti, tl) = images(128, 1);
    let (xi, xl) = images(32, 2);
    data::Dataset {
        meta: data::Meta {
            name: "brightness".into(),
            format: data::Format::Idx,
            input: space::InputKind::Images,
            task: data::Task::Classification,
            columns: Vec::new(),
            target: None,
            classes: (0..4).map(|c| c.to_string()).collect(),
            channels: 1,
            height: 8,
            width: 8,
            train_len: 128,
            test_len: 32,
            fingerprint: "synthetic".into(),
        },
        train: data::Split::new(ti, tl).unwrap(),
        test: data::Split::new(xi, xl).unwrap(),
    }
}

/// A search that takes a second: C = 2, 3 cells (DARTS) or N = 1
/// (NAS-Bench-201), 4 steps of 16 images per epoch, 2 epochs.
fn settings(space: SpaceKind) -> DartsSettings {
    DartsSettings {
        epochs: 2,
        batch_size: 16,
        channels: 2,
        layers: Some(if space == SpaceKind::Darts { 3 } else { 1 }),
        arch_lr: 0.05,
        seed: 3,
        ..DartsSettings::default()
    }
}

fn run_search(
    space: SpaceKind,
    settings: &DartsSettings,
    output: Option<&Path>,
) -> (trainer::darts_search::DartsReport, Vec<DartsEpoch>) {
    tch::set_num_threads(1);
    let ds = dataset();
    let run = DartsRun {
        space,
        dataset: &ds,
        settings,
        device: Device::Cpu,
        output,
        checkpoint: None,
    };
    let mut seen = Vec::new();
    let report = search(&run, &Cancel::default(), &mut |e| seen.push(e.clone())).unwrap();
    (report, seen)
}

/// A search stopped after its first epoch (as a trainer stops when its
/// lease is lost) and started again with the same checkpoint folder goes
/// on from epoch 2 and ends exactly where an uninterrupted search ends:
/// weights, α, both optimizers and the α half's batch position come back.
#[test]
fn a_stopped_search_resumes_from_its_checkpoint_and_ends_the_same() {
    let _serial = serial();
    tch::set_num_threads(1);
    let ds = dataset();
    let s = DartsSettings {
        epochs: 3,
        ..settings(SpaceKind::Darts)
    };
    let whole = run_search(SpaceKind::Darts, &s, None).0;

    let dir = tempfile::tempdir().unwrap();
    let run = DartsRun {
        space: SpaceKind::Darts,
        dataset: &ds,
        settings: &s,
        device: Device::Cpu,
        output: None,
        checkpoint: Some(dir.path()),
    };
    let cancel = Cancel::default();
    let err = search(&run, &cancel, &mut |e| {
        if e.epoch == 1 {
            cancel.cancel();
        }
    })
    .unwrap_err();
    assert!(matches!(err, DartsError::Cancelled), "{err}");
    assert!(dir.path().join("darts-state.json").exists());

    // Another search's checkpoint (a copy of this one) is not taken up.
    let copy = tempfile::tempdir().unwrap();
    for f in ["darts-state.json", "darts-state-1.safetensors"] {
        std::fs::copy(dir.path().join(f), copy.path().join(f)).unwrap();
    }
    let other = DartsSettings {
        seed: 4,
        ..s.clone()
    };
    let mut epochs = Vec::new();
    let run_other = DartsRun {
        settings: &other,
        checkpoint: Some(copy.path()),
        ..run
    };
    search(&run_other, &Cancel::default(), &mut |e| {
        epochs.push(e.epoch)
    })
    .unwrap();
    assert_eq!(epochs, [1, 2, 3], "a fresh start");

    let mut epochs = Vec::new();
    let resumed = search(&run, &Cancel::default(), &mut |e| epochs.push(e.epoch)).unwrap();
    assert_eq!(epochs, [2, 3], "resumed after epoch 1");
    assert_eq!(resumed.history.len(), 3);
    assert_eq!(resumed.steps, whole.steps);
    assert_eq!(resumed.genotype, whole.genotype);
    assert_eq!(resumed.history[2].alphas, whole.history[2].alphas);
    assert_eq!(resumed.val_acc, whole.val_acc);
    assert!(
        !dir.path().join("darts-state.json").exists(),
        "the state is removed once the search is done"
    );

    // Damaged tensors (a disk fault) are refused with a warning and the
    // search starts afresh, rather than failing every delivery of the job.
    let cancel = Cancel::default();
    search(&run, &cancel, &mut |_| cancel.cancel()).unwrap_err();
    let tensors = dir.path().join("darts-state-1.safetensors");
    assert!(tensors.exists(), "generation 1 after epoch 1");
    std::fs::write(&tensors, b"not safetensors").unwrap();
    let mut epochs = Vec::new();
    let again = search(&run, &Cancel::default(), &mut |e| epochs.push(e.epoch)).unwrap();
    assert_eq!(epochs, [1, 2, 3]);
    assert_eq!(
        again.genotype, whole.genotype,
        "a fresh start ends the same"
    );
}

fn check_alphas(e: &DartsEpoch, names: &[&str], shape: (usize, usize)) {
    let keys: Vec<&str> = e.alphas.keys().map(String::as_str).collect();
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(keys, want);
    for rows in e.alphas.values() {
        assert_eq!(rows.len(), shape.0);
        for row in rows {
            assert_eq!(row.len(), shape.1);
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        }
    }
}

#[test]
fn first_order_darts_search_derives_a_genotype() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("job").join("darts.json");
    let s = settings(SpaceKind::Darts);
    let (report, seen) = run_search(SpaceKind::Darts, &s, Some(&out));
    assert_eq!(report.epochs, 2);
    // Stratified halves: each class split in two, rounded.
    let (w, a) = report.halves;
    assert_eq!(w + a, 128);
    assert!(w.abs_diff(a) <= 4, "{w} / {a}");
    assert_eq!(report.steps, 2 * (w as u64 / 16));
    assert!(report.diverged.is_none());
    assert!((0.0..=100.0).contains(&report.val_acc) && report.val_loss.is_finite());
    let g = Genotype::parse(SpaceKind::Darts, &report.genotype).unwrap();
    assert_eq!(g.canonical_text(), report.genotype);
    assert_eq!(
        Genotype::parse(SpaceKind::Darts, &report.derived)
            .unwrap()
            .canonical(),
        g
    );
    assert_eq!(seen.len(), 2);
    assert_eq!(seen, report.history);
    for (i, e) in seen.iter().enumerate() {
        assert_eq!((e.epoch, e.epochs), (i as u32 + 1, 2));
        assert!(e.train_loss.is_finite() && e.arch_loss.is_finite());
        check_alphas(e, &["normal", "reduce"], (14, 8));
    }
    assert_eq!(seen[1].genotype, report.genotype);
    // α moved away from its near-uniform start.
    let max = seen[1].alphas["normal"]
        .iter()
        .flatten()
        .fold(0.0f64, |m, &w| m.max((w - 0.125).abs()));
    assert!(max > 1e-3, "{max}");

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["space"], "darts");
    assert_eq!(doc["ops"][3], "skip_connect");
    assert_eq!(doc["edges"][2], "0->3");
    assert_eq!(doc["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(doc["result"]["genotype"], report.genotype.as_str());
    assert_eq!(doc["settings"]["order"], "first");
}

#[test]
fn second_order_nb201_search_derives_a_cell() {
    let _serial = serial();
    let s = DartsSettings {
        epochs: 1,
        order: DartsOrder::Second,
        ..settings(SpaceKind::Nb201)
    };
    let (report, seen) = run_search(SpaceKind::Nb201, &s, None);
    assert_eq!(report.epochs, 1);
    let g = Genotype::parse(SpaceKind::Nb201, &report.genotype).unwrap();
    assert_eq!(g.to_string(), report.genotype);
    check_alphas(&seen[0], &["cell"], (6, 5));
}

#[test]
fn second_order_darts_search_runs() {
    let _serial = serial();
    let s = DartsSettings {
        epochs: 1,
        order: DartsOrder::Second,
        ..settings(SpaceKind::Darts)
    };
    let (report, _) = run_search(SpaceKind::Darts, &s, None);
    assert!(report.diverged.is_none());
    Genotype::parse(SpaceKind::Darts, &report.genotype).unwrap();
}

#[test]
fn bad_settings_are_refused_by_name() {
    let _serial = serial();
    tch::set_num_threads(1);
    let ds = dataset();
    for (s, field) in [
        (
            DartsSettings {
                arch_lr: -1.0,
                ..DartsSettings::default()
            },
            "arch_lr",
        ),
        (
            DartsSettings {
                epochs: 0,
                ..DartsSettings::default()
            },
            "epochs",
        ),
        (
            DartsSettings {
                momentum: 1.0,
                ..DartsSettings::default()
            },
            "momentum",
        ),
        (
            DartsSettings {
                train_subset: Some(1),
                ..DartsSettings::default()
            },
            "train_subset",
        ),
    ] {
        let run = DartsRun {
            space: SpaceKind::Darts,
            dataset: &ds,
            settings: &s,
            device: Device::Cpu,
            output: None,
            checkpoint: None,
        };
        let err = search(&run, &Cancel::default(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, DartsError::Settings(_)), "{err}");
        assert!(
            err.to_string().starts_with(&format!("settings: {field}: ")),
            "{err}"
        );
    }
    // A supernet the data cannot feed: 5x5 images cannot be halved.
    let s = DartsSettings {
        layers: Some(3),
        ..settings(SpaceKind::Darts)
    };
    let mut small = dataset();
    small.train = data::Split::new(
        Tensor::zeros([8, 1, 6, 6], (Kind::Uint8, Device::Cpu)),
        Tensor::zeros([8], (Kind::Int64, Device::Cpu)),
    )
    .unwrap();
    small.meta.height = 6;
    small.meta.width = 6;
    let run = DartsRun {
        space: SpaceKind::Darts,
        dataset: &small,
        settings: &s,
        device: Device::Cpu,
        output: None,
        checkpoint: None,
    };
    let err = search(&run, &Cancel::default(), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("reduction cell 2"), "{err}");
}

/// Write `split` as IDX files (images idx3, labels idx1) named `prefix`.
fn write_idx(dir: &Path, prefix: &str, split: &data::Split) {
    let n = split.len() as u32;
    let [_, h, w] = split.image_shape();
    let mut images = Vec::new();
    for v in [0x0803u32, n, h as u32, w as u32] {
        images.extend_from_slice(&v.to_be_bytes());
    }
    images.extend(Vec::<u8>::try_from(split.inputs.reshape([-1])).unwrap());
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
    let mut labels = Vec::new();
    for v in [0x0801u32, n] {
        labels.extend_from_slice(&v.to_be_bytes());
    }
    labels.extend(split.labels_vec().iter().map(|&l| l as u8));
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
}

#[test]
fn darts_jobs_run_through_the_evaluator() {
    let _serial = serial();
    tch::set_num_threads(1);
    let data_dir = tempfile::tempdir().unwrap();
    let ds = dataset();
    write_idx(data_dir.path(), "train", &ds.train);
    write_idx(data_dir.path(), "t10k", &ds.test);
    let ck = tempfile::tempdir().unwrap();
    let ev = Evaluators::new(EvaluatorConfig {
        device: "cpu".into(),
        checkpoint_dir: Some(ck.path().to_path_buf()),
        cpu_threads: Some(1),
        ..EvaluatorConfig::default()
    });
    let job = DartsJob {
        space: space::Space::Nb201,
        data: DataRef::new(data_dir.path().display().to_string()),
        settings: DartsSettings {
            epochs: 1,
            ..settings(SpaceKind::Nb201)
        },
    };
    let payload = serde_json::to_value(&job).unwrap();
    let (sink, notes) = trainer::ProgressSink::channel();
    let out = ev
        .evaluate(
            "s1.0000000001",
            "s1",
            JobKind::Darts,
            &payload,
            &Cancel::default(),
            &sink,
        )
        .unwrap();
    // The epoch's note: α per edge over the space's ops, and its cell.
    let note: serde_json::Value =
        serde_json::from_str(notes.borrow().as_deref().expect("a progress note")).unwrap();
    assert_eq!(
        (note["kind"].as_str(), note["epoch"].as_u64()),
        (Some("darts"), Some(1))
    );
    assert_eq!(note["ops"].as_array().unwrap().len(), 5);
    assert_eq!(note["alphas"]["cell"].as_array().unwrap().len(), 6);
    let Outcome::Ok(m) = out else {
        panic!("a darts job succeeds: {out:?}")
    };
    let cell = m.genotype.expect("the derived cell");
    Genotype::parse(SpaceKind::Nb201, &cell).unwrap();
    assert_eq!(m.device.as_deref(), Some("cpu"));
    assert!(m.params.unwrap() > 0);
    let file = ck.path().join("s1.0000000001").join("darts.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(doc["result"]["genotype"], cell.as_str());

    // A job stopped after its first epoch (a trainer shutting down) and
    // enqueued again under another id (a resumed search) goes on from its
    // checkpoint: its first note is epoch 2.
    let job2 = DartsJob {
        settings: DartsSettings {
            epochs: 2,
            ..job.settings.clone()
        },
        ..job.clone()
    };
    let payload2 = serde_json::to_value(&job2).unwrap();
    let loaded = data::Dataset::load(data_dir.path(), None).unwrap();
    let dir = ev
        .checkpoint_dir("s1", &payload2)
        .unwrap()
        .expect("a checkpoint folder");
    let run = DartsRun {
        space: SpaceKind::Nb201,
        dataset: &loaded,
        settings: &job2.settings,
        device: Device::Cpu,
        output: None,
        checkpoint: Some(&dir),
    };
    let cancel = Cancel::default();
    let err = search(&run, &cancel, &mut |_| cancel.cancel()).unwrap_err();
    assert!(matches!(err, DartsError::Cancelled), "{err}");
    let (sink, notes) = trainer::ProgressSink::channel();
    let mut first = None;
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            ev.evaluate(
                "s1.0000000003",
                "s1",
                JobKind::Darts,
                &payload2,
                &Cancel::default(),
                &sink,
            )
        });
        while !run.is_finished() {
            if first.is_none() {
                first = notes.borrow().clone();
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(run.join().unwrap().is_ok());
    });
    let first: serde_json::Value = serde_json::from_str(&first.expect("a note")).unwrap();
    assert_eq!(first["epoch"], 2, "resumed after epoch 1");

    // Refused for good, naming what is wrong.
    let bad = |payload: serde_json::Value, what: &str| {
        let err = ev
            .evaluate(
                "s1.0000000002",
                "s1",
                JobKind::Darts,
                &payload,
                &Cancel::default(),
                &trainer::ProgressSink::default(),
            )
            .unwrap_err();
        assert!(
            matches!(&err, EvalError::Permanent(m) if m.contains(what)),
            "{what}: {err:?}"
        );
    };
    let mut p = payload.clone();
    p["settings"]["arch_weight_decay"] = json!(-1e-3);
    bad(p, "arch_weight_decay");
    let mut p = payload.clone();
    p["settings"]["grad_clip"] = json!(-5.0);
    bad(p, "grad_clip");
    let mut p = payload.clone();
    p["space"] = json!({ "kind": "pnas", "blocks": 2 });
    bad(p, "space");
    let mut p = payload.clone();
    p["settings"]["learning_rate"] = json!(0.1);
    bad(p, "learning_rate");
    let mut p = payload;
    p["fingerprint"] = json!("0000");
    bad(p, "fingerprint");
}

/// Issue 15, defect 9: the trainer builds checkpoint, artifacts and
/// `darts.json` paths from the envelope's ids. Ids that would leave those
/// folders (`..`, `a/b`) fail the job for good, naming the id, before any
/// file is read or written.
#[test]
fn path_like_ids_are_refused_before_any_file_is_touched() {
    let dirs = tempfile::tempdir().unwrap();
    let inner = dirs.path().join("checkpoints");
    std::fs::create_dir_all(&inner).unwrap();
    let ev = Evaluators::new(EvaluatorConfig {
        device: "cpu".into(),
        checkpoint_dir: Some(inner.clone()),
        artifacts_dir: Some(inner.clone()),
        cpu_threads: Some(1),
        ..EvaluatorConfig::default()
    });
    let job = DartsJob {
        space: space::Space::Nb201,
        data: DataRef::new(dirs.path().join("no-data").display().to_string()),
        settings: DartsSettings {
            epochs: 1,
            ..settings(SpaceKind::Nb201)
        },
    };
    let payload = serde_json::to_value(&job).unwrap();
    for (job_id, search_id) in [
        ("...0000000001", ".."),
        ("a/b.0000000001", "a/b"),
        ("s1/../...0000000001", "s1"),
    ] {
        let (sink, _) = trainer::ProgressSink::channel();
        let err = ev
            .evaluate(
                job_id,
                search_id,
                JobKind::Darts,
                &payload,
                &Cancel::default(),
                &sink,
            )
            .unwrap_err();
        let EvalError::Permanent(msg) = &err else {
            panic!("{job_id}: a permanent failure, not {err:?}")
        };
        assert!(
            msg.contains(&format!("{job_id:?}")) || msg.contains(&format!("{search_id:?}")),
            "{msg}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dirs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["checkpoints"], "nothing written beside the folder");

    // The path builders themselves refuse them.
    let cell = Genotype::parse(
        SpaceKind::Nb201,
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    )
    .unwrap();
    for bad in ["..", "a/b", ".", "Upper"] {
        let err = ev.checkpoint_dir(bad, &payload).unwrap_err().to_string();
        assert!(err.contains(&format!("search id {bad:?}")), "{err}");
        let err = ev.artifacts_path(bad, &cell).unwrap_err().to_string();
        assert!(err.contains(&format!("search id {bad:?}")), "{err}");
        let job = format!("{bad}.0000000001");
        let err = trainer::darts_search::job::output_path(&inner, &job)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("job id {job:?}")), "{err}");
    }
    let ok = ev.checkpoint_dir("s1", &payload).unwrap().unwrap();
    assert!(ok.starts_with(inner.join("s1")), "{}", ok.display());
    let ok = ev.artifacts_path("s1", &cell).unwrap().unwrap();
    assert_eq!(
        ok,
        inner
            .join("s1")
            .join(format!("{}.safetensors", cell.hash()))
    );
    let ok = trainer::darts_search::job::output_path(&inner, "s1.0000000001").unwrap();
    assert_eq!(ok, inner.join("s1.0000000001").join("darts.json"));
}
