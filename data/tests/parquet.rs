//! Parquet tables, written here with the arrow writer: the same semantics
//! as CSV (kinds, missing values, target, task, holdout), nulls as missing,
//! unsupported column types and broken files named.

mod common;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use common::*;
use data::{ColumnKind, Dataset, Format, LoadOptions, Task};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Write `columns` as a Parquet file (Snappy when `snappy`).
fn write(dir: &Path, name: &str, columns: Vec<(&str, ArrayRef)>, snappy: bool) -> PathBuf {
    let path = dir.join(name);
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let compression = if snappy {
        Compression::SNAPPY
    } else {
        Compression::UNCOMPRESSED
    };
    let props = WriterProperties::builder()
        .set_compression(compression)
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

/// The rows of both splits, train first.
fn rows(ds: &Dataset) -> Vec<Vec<f32>> {
    let mut all = floats(&ds.train.inputs);
    all.extend(floats(&ds.test.inputs));
    all.chunks(ds.meta.width).map(|c| c.to_vec()).collect()
}

#[test]
fn typed_columns_read_like_the_same_csv() {
    let dir = tempfile::tempdir().unwrap();
    let color: DictionaryArray<Int32Type> = vec![Some("red"), Some("blue"), None, Some("red")]
        .into_iter()
        .collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4]))),
        (
            "x",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(-2.0),
                Some(f64::NAN),
            ])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        ("color", Arc::new(color)),
        (
            "name",
            Arc::new(StringArray::from(vec![
                Some("b"),
                Some("a"),
                Some("NA"),
                None,
            ])),
        ),
        (
            "label",
            Arc::new(StringArray::from(vec!["yes", "no", "yes", "no"])),
        ),
    ];
    let path = write(dir.path(), "typed.parquet", columns, true);
    assert_eq!(data::detect(&path).unwrap(), Format::Parquet);
    let ds = Dataset::load(&path, None).unwrap();
    let m = &ds.meta;
    assert_eq!(
        (m.format, m.input, m.task),
        (
            Format::Parquet,
            space::InputKind::Table,
            Task::Classification
        )
    );
    assert_eq!(m.name, "typed");
    assert_eq!(m.target.as_deref(), Some("label"));
    assert_eq!(m.classes, ["no", "yes"]);
    let kinds: Vec<ColumnKind> = m.columns.iter().map(|c| c.kind).collect();
    use ColumnKind::*;
    assert_eq!(kinds, [Numeric, Numeric, Boolean, Categorical, Categorical]);
    let missing: Vec<usize> = m.columns.iter().map(|c| c.missing).collect();
    // NaN in a float column is missing too; the text "NA" is a value.
    assert_eq!(missing, [0, 2, 1, 1, 1]);
    assert_eq!(m.columns[3].categories, ["blue", "red"]);
    assert_eq!(m.columns[4].categories, ["NA", "a", "b"]);

    // The same table as CSV: the same values, kinds and labels.
    let csv = write_text(
        dir.path(),
        "typed.csv",
        "id,x,flag,color,name,label\n1,1.5,true,red,b,yes\n2,,false,blue,a,no\n\
         3,-2,,,NA_,yes\n4,nan,true,red,,no\n",
    );
    let c = Dataset::load(&csv, None).unwrap();
    let kinds_csv: Vec<ColumnKind> = c.meta.columns.iter().map(|c| c.kind).collect();
    assert_eq!(kinds_csv, kinds);
    assert_eq!(c.meta.classes, m.classes);
    let (p, q) = (rows(&ds), rows(&c));
    for (a, b) in p.iter().zip(&q) {
        // All but the name column, whose "NA" is missing in CSV.
        assert!(same_floats(&a[..4], &b[..4]), "{a:?} != {b:?}");
    }
    assert_eq!(ints(&ds.train.labels), ints(&c.train.labels));
}

#[test]
fn numeric_targets_regression_and_the_holdout() {
    let dir = tempfile::tempdir().unwrap();
    let n = 50;
    let ids: Vec<i32> = (0..n).collect();
    let y: Vec<f64> = (0..n).map(|i| f64::from(i) * 0.25).collect();
    let k: Vec<i64> = (0..n).map(|i| i64::from(i % 2)).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int32Array::from(ids))),
        ("y", Arc::new(Float64Array::from(y))),
        ("k", Arc::new(Int64Array::from(k))),
    ];
    let path = write(dir.path(), "reg.parquet", columns, false);
    let ds = Dataset::load(&path, None).unwrap();
    // `y` is the default target by name: fractional, so regression.
    assert_eq!(ds.meta.target.as_deref(), Some("y"));
    assert_eq!(ds.meta.task, Task::Regression);
    assert_eq!((ds.meta.train_len, ds.meta.test_len), (40, 10));
    let ids_train: Vec<f32> = rows(&ds).iter().take(40).map(|r| r[0]).collect();
    let y_train = ds.train.targets_vec();
    for (id, y) in ids_train.iter().zip(&y_train) {
        assert_eq!(*y, id * 0.25);
    }
    // Choosing the integer column `k` as target: two classes, stratified.
    let opts = LoadOptions {
        target: Some("k".into()),
        ..LoadOptions::default()
    };
    let ds = Dataset::load_with(&path, &opts).unwrap();
    assert_eq!(ds.meta.task, Task::Classification);
    assert_eq!(ds.meta.classes, ["0", "1"]);
    assert_eq!(ds.test.class_counts(2), [5, 5]);
    let again = Dataset::load_with(&path, &opts).unwrap();
    assert_eq!(again.meta.fingerprint, ds.meta.fingerprint);
}

#[test]
fn bad_parquet_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("x", Arc::new(Int64Array::from(vec![1, 2, 3]))),
        (
            "target",
            Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])),
        ),
    ];
    let path = write(dir.path(), "null_target.parquet", columns, false);
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("null_target.parquet: row 2, column \"target\": the target is missing"),
        "{err}"
    );

    let columns: Vec<(&str, ArrayRef)> = vec![
        ("day", Arc::new(Date32Array::from(vec![1, 2]))),
        ("target", Arc::new(StringArray::from(vec!["a", "b"]))),
    ];
    let path = write(dir.path(), "dates.parquet", columns, false);
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("dates.parquet, column \"day\": columns of type Date32"),
        "{err}"
    );

    let columns: Vec<(&str, ArrayRef)> = vec![
        ("x", Arc::new(Int64Array::from(Vec::<i64>::new()))),
        ("target", Arc::new(StringArray::from(Vec::<&str>::new()))),
    ];
    let path = write(dir.path(), "empty.parquet", columns, false);
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("empty.parquet: columns but no data rows"),
        "{err}"
    );

    let path = write_text(dir.path(), "fake.parquet", "a,b\n1,2\n");
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("fake.parquet: not a readable Parquet file"),
        "{err}"
    );
}
