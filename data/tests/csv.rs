//! CSV tables: RFC 4180 quoting, delimiter detection, column kinds, missing
//! values, the target and the task, the seeded holdout, and every bad input
//! named by file, line and column.

mod common;

use common::*;
use data::{ColumnKind, Dataset, Format, LoadOptions, Task};
use std::path::Path;

fn load(path: &Path) -> Dataset {
    Dataset::load(path, None).unwrap()
}

fn with(f: impl FnOnce(&mut LoadOptions)) -> LoadOptions {
    let mut o = LoadOptions::default();
    f(&mut o);
    o
}

/// Both splits' rows, train first, as vectors of f32.
fn rows(ds: &Dataset) -> Vec<Vec<f32>> {
    let f = ds.meta.width;
    let mut all = floats(&ds.train.inputs);
    all.extend(floats(&ds.test.inputs));
    all.chunks(f).map(|c| c.to_vec()).collect()
}

/// `n` rows `id,x,target` with classes a (60 %) and b, numbered by id.
fn numbered(n: usize) -> String {
    let mut s = String::from("id,x,target\n");
    for i in 0..n {
        let class = if i % 5 < 3 { "a" } else { "b" };
        s.push_str(&format!("{i},{}.5,{class}\n", i * 2));
    }
    s
}

#[test]
fn quoted_fields_hold_commas_quotes_and_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name,\"note, with comma\",target\n\
                \"Smith, J\",\"line1\nline2\",a\n\
                \"O\"\"Brien\",plain,b\n\
                x,\"\",a\n\
                y,plain,b\n";
    let path = write_text(dir.path(), "people.csv", text);
    let ds = Dataset::load_with(&path, &LoadOptions::default()).unwrap();
    let m = &ds.meta;
    assert_eq!(
        (m.format, m.input, m.task),
        (Format::Csv, space::InputKind::Table, Task::Classification)
    );
    assert_eq!(m.name, "people");
    assert_eq!(m.columns[0].categories, ["O\"Brien", "Smith, J", "x", "y"]);
    assert_eq!(m.columns[1].name, "note, with comma");
    assert_eq!(m.columns[1].categories, ["line1\nline2", "plain"]);
    assert_eq!(m.columns[1].missing, 1);
    assert_eq!(m.train_len + m.test_len, 4);

    // A ragged row after the two-line record is on line 6 of the file.
    let bad = format!("{text}z,plain\n");
    let path = write_text(dir.path(), "ragged.csv", &bad);
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("ragged.csv: line 7: 2 fields, but the header has 3"),
        "{err}"
    );
}

#[test]
fn semicolons_and_tabs_are_detected_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let comma = numbered(20);
    let a = load(&write_text(dir.path(), "a.csv", &comma));
    let b = load(&write_text(dir.path(), "b.csv", &comma.replace(',', ";")));
    let c = load(&write_text(dir.path(), "c.csv", &comma.replace(',', "\t")));
    assert_eq!(a.meta.width, 2);
    assert_eq!(a.meta.fingerprint, b.meta.fingerprint);
    assert_eq!(a.meta.fingerprint, c.meta.fingerprint);
    // Decimal commas inside `;` fields are text, not a delimiter.
    let d = load(&write_text(
        dir.path(),
        "d.csv",
        "x;y;target\n1,5;2;a\n3,5;4;b\n",
    ));
    assert_eq!(d.meta.columns[0].kind, ColumnKind::Categorical);
    assert_eq!(d.meta.columns[1].kind, ColumnKind::Numeric);
}

#[test]
fn kinds_are_inferred_and_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let text = "num,flag,zero_one,color,target\n\
                1.5,yes,0,red,a\n\
                -2,No,1,blue,b\n\
                NA,Y,1,red,a\n\
                1e3,,0,?,b\n";
    let ds = load(&write_text(dir.path(), "kinds.csv", text));
    let kinds: Vec<ColumnKind> = ds.meta.columns.iter().map(|c| c.kind).collect();
    use ColumnKind::*;
    assert_eq!(kinds, [Numeric, Boolean, Numeric, Categorical]);
    let cols = &ds.meta.columns;
    assert_eq!(cols[1].categories, ["false", "true"]);
    assert_eq!(cols[3].categories, ["blue", "red"]);
    let missing: Vec<usize> = cols.iter().map(|c| c.missing).collect();
    assert_eq!(missing, [1, 1, 0, 1]);
    assert_eq!(ds.train.inputs.kind(), tch::Kind::Float);
    assert_eq!(ds.train.inputs.size()[1], 4);
    // Small: the holdout takes round(2 * 0.2) = 0 of each class, so all
    // rows are in training, in file order.
    assert_eq!(ds.meta.test_len, 0);
    let r = rows(&ds);
    let want: [[f32; 4]; 4] = [
        [1.5, 1.0, 0.0, 1.0],
        [-2.0, 0.0, 1.0, 0.0],
        [f32::NAN, 1.0, 1.0, 1.0],
        [1000.0, f32::NAN, 0.0, f32::NAN],
    ];
    for (got, want) in r.iter().zip(want) {
        assert!(same_floats(got, &want), "{got:?} != {want:?}");
    }
}

#[test]
fn every_missing_token_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("x,target\n");
    for (i, token) in ["", "NA", "n/a", "NaN", "nan", "NULL", "?", " ", "1"]
        .iter()
        .enumerate()
    {
        text.push_str(&format!("{token},{}\n", ["a", "b"][i % 2]));
    }
    let ds = load(&write_text(dir.path(), "m.csv", &text));
    assert_eq!(ds.meta.columns[0].kind, ColumnKind::Numeric);
    assert_eq!(ds.meta.columns[0].missing, 8);
}

#[test]
fn categorical_option_forces_the_kind_and_unknown_names_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(
        dir.path(),
        "zip.csv",
        "zip,flag,target\n10,t,a\n9,f,b\n10,t,a\n",
    );
    let ds = Dataset::load_with(
        &path,
        &with(|o| o.categorical = vec!["zip".into(), "flag".into()]),
    )
    .unwrap();
    let zip = &ds.meta.columns[0];
    assert_eq!(
        (zip.kind, zip.categories.clone()),
        (ColumnKind::Categorical, vec!["9".into(), "10".into()])
    );
    assert_eq!(ds.meta.columns[1].kind, ColumnKind::Categorical);
    assert_eq!(ds.meta.columns[1].categories, ["f", "t"]);
    assert_eq!(&rows(&ds)[0], &[1.0, 1.0]);

    let err = load_err(&path, &with(|o| o.categorical = vec!["zipcode".into()]));
    assert!(
        err.contains("zip.csv, column \"zipcode\": listed as categorical"),
        "{err}"
    );
    assert!(err.contains("\"zip\", \"flag\", \"target\""), "{err}");
}

#[test]
fn target_defaults_to_a_named_column_then_the_last_and_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let named = write_text(dir.path(), "named.csv", "a,Class,b\n1,x,2\n3,y,4\n");
    let ds = load(&named);
    assert_eq!(ds.meta.target.as_deref(), Some("Class"));
    let names: Vec<&str> = ds.meta.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(ds.meta.classes, ["x", "y"]);

    let last = write_text(dir.path(), "last.csv", "a,b,kind\n1,2,x\n3,4,y\n");
    assert_eq!(load(&last).meta.target.as_deref(), Some("kind"));

    let chosen = Dataset::load_with(&last, &with(|o| o.target = Some("a".into()))).unwrap();
    assert_eq!(chosen.meta.target.as_deref(), Some("a"));
    assert_eq!(chosen.meta.classes, ["1", "3"]);

    let err = load_err(&last, &with(|o| o.target = Some("nope".into())));
    assert!(
        err.contains("last.csv, column \"nope\": no such target column"),
        "{err}"
    );
    assert!(err.contains("\"a\", \"b\", \"kind\""), "{err}");
}

#[test]
fn task_is_inferred_from_the_target_and_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    // Integer labels 0..2: classes, named by the number, sorted by value.
    let mut ints = String::from("x,y\n");
    for i in 0..12 {
        ints.push_str(&format!("{i},{}\n", [10, 2, 0][i % 3]));
    }
    let path = write_text(dir.path(), "ints.csv", &ints);
    let ds = load(&path);
    assert_eq!(ds.meta.task, Task::Classification);
    assert_eq!(ds.meta.classes, ["0", "2", "10"]);
    assert_eq!(ds.train.labels.kind(), tch::Kind::Int64);

    // The same file as regression: f32 targets, no classes.
    let ds = Dataset::load_with(&path, &with(|o| o.task = Some(Task::Regression))).unwrap();
    assert_eq!(ds.meta.task, Task::Regression);
    assert!(ds.meta.classes.is_empty());
    assert_eq!(ds.train.labels.kind(), tch::Kind::Float);
    let mut targets = ds.train.targets_vec();
    targets.extend(ds.test.targets_vec());
    targets.sort_by(f32::total_cmp);
    assert_eq!(targets.first(), Some(&0.0));
    assert_eq!(targets.last(), Some(&10.0));
    assert_eq!(targets.len(), 12);
    assert!(ds.train.labels_vec().is_empty());

    // Fractional targets are regression; forced classification names them.
    let floats_path = write_text(dir.path(), "f.csv", "x,y\n1,0.5\n2,1.5\n3,0.5\n");
    assert_eq!(load(&floats_path).meta.task, Task::Regression);
    let ds =
        Dataset::load_with(&floats_path, &with(|o| o.task = Some(Task::Classification))).unwrap();
    assert_eq!(ds.meta.classes, ["0.5", "1.5"]);

    // Many distinct integers in few rows: regression.
    let mut ages = String::from("x,age\n");
    for i in 0..40 {
        ages.push_str(&format!("{i},{}\n", 20 + i % 30));
    }
    assert_eq!(
        load(&write_text(dir.path(), "ages.csv", &ages)).meta.task,
        Task::Regression
    );

    // Regression on text: an error naming the column and the first bad row.
    let text = write_text(dir.path(), "t.csv", "x,y\n1,2.5\n2,big\n3,small\n");
    let err = load_err(&text, &with(|o| o.task = Some(Task::Regression)));
    assert!(
        err.contains("t.csv: line 3, column \"y\": the target \"big\" is not a number"),
        "{err}"
    );
}

#[test]
fn holdout_is_stratified_deterministic_and_keeps_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(dir.path(), "n.csv", &numbered(100));
    let ds = load(&path);
    assert_eq!((ds.meta.train_len, ds.meta.test_len), (80, 20));
    // 60 a and 40 b: 12 and 8 to test.
    assert_eq!(ds.test.class_counts(2), [12, 8]);
    assert_eq!(ds.train.class_counts(2), [48, 32]);
    let ids = |s: &data::Split| -> Vec<i64> {
        floats(&s.inputs).chunks(2).map(|r| r[0] as i64).collect()
    };
    let (train, test) = (ids(&ds.train), ids(&ds.test));
    assert!(train.windows(2).all(|w| w[0] < w[1]) && test.windows(2).all(|w| w[0] < w[1]));
    let mut all: Vec<i64> = train.iter().chain(&test).copied().collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    // Labels follow their rows: id % 5 < 3 is class a.
    let want: Vec<i64> = test.iter().map(|i| i64::from(i % 5 >= 3)).collect();
    assert_eq!(ds.test.labels_vec(), want);
    // The same file, loaded again or copied elsewhere, splits the same.
    let other = tempfile::tempdir().unwrap();
    let again = load(&write_text(other.path(), "copy.csv", &numbered(100)));
    assert_eq!(ids(&again.test), test);
    assert_eq!(again.meta.fingerprint, ds.meta.fingerprint);
    // Pinned: the holdout is part of the fingerprint, and must not drift.
    assert_eq!(
        &test[..6],
        [1, 9, 10, 13, 15, 23],
        "holdout changed: {test:?}"
    );
}

#[test]
fn fingerprint_ignores_names_but_not_values_or_task() {
    let dir = tempfile::tempdir().unwrap();
    let base = load(&write_text(dir.path(), "a.csv", &numbered(30)));
    let renamed = numbered(30).replacen("id,x,target", "key,value,target", 1);
    let renamed = load(&write_text(dir.path(), "b.csv", &renamed));
    assert_eq!(base.meta.fingerprint, renamed.meta.fingerprint);
    let changed = numbered(30).replacen("4.5", "4.25", 1);
    let changed = load(&write_text(dir.path(), "c.csv", &changed));
    assert_ne!(base.meta.fingerprint, changed.meta.fingerprint);
    let mut ints = String::from("x,y\n");
    for i in 0..30 {
        ints.push_str(&format!("{i},{}\n", i % 3));
    }
    let path = write_text(dir.path(), "d.csv", &ints);
    let class = load(&path).meta.fingerprint;
    let reg = Dataset::load_with(&path, &with(|o| o.task = Some(Task::Regression))).unwrap();
    assert_ne!(class, reg.meta.fingerprint);
    assert_eq!(base.meta.fingerprint.len(), 64);
}

#[test]
fn bad_files_are_named_with_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 7] = [
        ("empty.csv", "", "empty.csv: empty file"),
        (
            "header.csv",
            "a,b,target\n",
            "header.csv: a header but no data rows",
        ),
        (
            "ragged.csv",
            "a,b\n1,x\n2,y,3\n",
            "ragged.csv: line 3: 3 fields, but the header has 2",
        ),
        (
            "missing.csv",
            "a,target\n1,x\n2,y\n3,\n",
            "missing.csv: line 4, column \"target\": the target is missing",
        ),
        (
            "one.csv",
            "a,target\n1,x\n2,x\n",
            "one.csv, column \"target\": the target has one class (\"x\"): nothing to learn",
        ),
        (
            "only.csv",
            "target\nx\ny\n",
            "only.csv, column \"target\": the only column is the target",
        ),
        (
            "dup.csv",
            "a,a,target\n1,2,x\n3,4,y\n",
            "dup.csv, column \"a\": two columns have this name",
        ),
    ];
    for (name, text, want) in cases {
        let err = load_err(&write_text(dir.path(), name, text), &LoadOptions::default());
        assert!(err.contains(want), "{name}: {err}");
    }
    let bytes = b"a,target\n1,x\n\xff\xfe,y\n";
    let path = dir.path().join("latin1.csv");
    std::fs::write(&path, bytes).unwrap();
    let err = load_err(&path, &LoadOptions::default());
    assert!(err.contains("latin1.csv: line 3: not UTF-8 text"), "{err}");
}

#[test]
fn options_that_do_not_apply_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(dir.path(), "a.csv", &numbered(10));
    let err = load_err(&path, &with(|o| o.pad = true));
    assert!(err.contains("pad (time series only)"), "{err}");
    let images = tempfile::tempdir().unwrap();
    IdxData::new().write(images.path(), false);
    let err = load_err(images.path(), &with(|o| o.target = Some("y".into())));
    assert!(err.contains("target (tables and series CSV only)"), "{err}");
}

#[test]
fn fingerprint_matches_the_documented_layout() {
    let dir = tempfile::tempdir().unwrap();
    let text = "x,flag,color,target\n1.5,yes,red,a\n-2,no,blue,b\n,y,red,a\n";
    let ds = load(&write_text(dir.path(), "golden.csv", text));
    // Computed outside Rust (Python hashlib and struct) over the bytes that
    // raw.rs documents: tag, header lines, i64 labels, f32 values with NaN
    // as 0x7fc00000. Changing it breaks stored fingerprints.
    assert_eq!(
        ds.meta.fingerprint,
        "0dd9d38d1bd0564a72e7b837325a4c68e1eeec92c45f3fedc502710c7bf41ba4"
    );
}

#[test]
fn byte_order_marks_and_crlf_line_ends_are_read_as_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}Target,x\r\na,1\r\nb,2\r\n";
    let ds = load(&write_text(dir.path(), "excel.csv", text));
    assert_eq!(ds.meta.target.as_deref(), Some("Target"));
    assert_eq!(ds.meta.columns[0].name, "x");
    assert_eq!(ds.meta.columns[0].kind, ColumnKind::Numeric);
}
