//! Preprocessing is part of the model and sees the training part only: the
//! statistics a training run fits (and saves beside its weights) are those
//! of the rows it trains on, never of its validation part or the test set;
//! categories that appear only outside the training part are "unseen".

use data::{Column, ColumnKind, Dataset, Meta, Split, Task};
use queue::wire::TrainSettings;
use space::{Genotype, InputKind, SpaceKind};
use tch::{Device, Kind, Tensor};
use trainer::preprocess::{Preprocess, Target};
use trainer::train::{train, TrainRun};

/// A table of `n` rows: `a` numeric (offset by `shift`), `c` categorical
/// codes from `codes`, `b` boolean, and a regression target.
fn rows(n: i64, shift: f64, codes: &[f32]) -> Split {
    let a = Tensor::arange(n, (Kind::Float, Device::Cpu)) / n as f64 + shift;
    let c: Vec<f32> = (0..n as usize).map(|i| codes[i % codes.len()]).collect();
    let b = Tensor::arange(n, (Kind::Int64, Device::Cpu))
        .remainder(2)
        .to_kind(Kind::Float);
    let inputs = Tensor::stack(&[a.shallow_clone(), Tensor::from_slice(&c), b], 1);
    let labels = a * 3.0 + 1.0;
    Split::new(inputs, labels).unwrap()
}

fn table() -> Dataset {
    let categories: Vec<String> = ["p", "q", "r"].iter().map(|s| s.to_string()).collect();
    Dataset {
        meta: Meta {
            name: "leak".into(),
            format: data::Format::Csv,
            input: InputKind::Table,
            task: Task::Regression,
            classes: Vec::new(),
            channels: 1,
            height: 1,
            width: 3,
            columns: vec![
                Column {
                    name: "a".into(),
                    kind: ColumnKind::Numeric,
                    categories: Vec::new(),
                    missing: 0,
                },
                Column {
                    name: "c".into(),
                    kind: ColumnKind::Categorical,
                    categories,
                    missing: 0,
                },
                Column {
                    name: "b".into(),
                    kind: ColumnKind::Boolean,
                    categories: vec!["false".into(), "true".into()],
                    missing: 0,
                },
            ],
            target: Some("y".into()),
            train_len: 200,
            test_len: 50,
            fingerprint: "synthetic".into(),
        },
        // Categories p and q in training; r only in the test set, whose
        // values are far off.
        train: rows(200, 0.0, &[0.0, 1.0]),
        test: rows(50, 1000.0, &[2.0]),
    }
}

fn mean(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).mean(Kind::Double).double_value(&[])
}

#[test]
fn a_run_fits_its_preprocessing_on_its_training_part_only() {
    tch::set_num_threads(1);
    let ds = table();
    let settings = TrainSettings {
        epochs: 1.0,
        batch_size: 32,
        val_fraction: 0.5,
        test: true,
        ..TrainSettings::default()
    };
    let genotype = Genotype::parse(SpaceKind::Mlp, "16:relu:none:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    let run = TrainRun {
        genotype: &genotype,
        dataset: &ds,
        settings: &settings,
        seed: 3,
        device: Device::Cpu,
        checkpoint_dir: None,
        weights_out: Some(&weights),
        rung: None,
    };
    let report = train(&run, &trainer::Cancel::default(), &mut |_| {}).unwrap();

    // The rows the run trained on, as it chose them.
    let (part, val) = data::split_train_val(&ds.train, 0.5, 3);
    let (want_a, val_a) = (
        mean(&part.inputs.select(1, 0)),
        mean(&val.inputs.select(1, 0)),
    );
    assert!(
        (want_a - val_a).abs() > 1e-3,
        "the parts must differ for the test to mean anything"
    );
    let Preprocess::Table { columns, target } = &report.preprocess else {
        panic!("a table's preprocessing: {:?}", report.preprocess)
    };
    assert!(
        (columns[0].mean - want_a).abs() < 1e-9,
        "{} vs {want_a}",
        columns[0].mean
    );
    assert_eq!(columns[1].seen, vec!["p".to_string(), "q".to_string()]);
    let Target::Regression { mean: y_mean, .. } = target else {
        panic!("a regression target: {target:?}")
    };
    assert!((y_mean - mean(&part.labels)).abs() < 1e-6);
    // The test set (values near 1000, category r) was scored, not fitted.
    assert!(report.test_rmse.is_some());

    // Saved beside the weights, as the export reads it.
    let saved: Preprocess =
        serde_json::from_str(&std::fs::read_to_string(Preprocess::path_beside(&weights)).unwrap())
            .unwrap();
    assert_eq!(saved, report.preprocess);

    // Applied: standardized numbers, unseen category coded as unknown (2).
    let applied = saved.apply(&ds.meta, &ds.test);
    let codes = Vec::<f32>::try_from(applied.inputs.select(1, 2)).unwrap();
    assert!(codes.iter().all(|&c| c == 2.0), "{codes:?}");
    assert_eq!(saved.table_shape().categorical, vec![2]);
    assert_eq!(saved.table_shape().numeric, 2);
}
