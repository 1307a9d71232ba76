//! Series CSV files (one univariate series per row, a target column) and
//! the real-format `.ts` sets: the committed GunPoint-shaped fixture always,
//! and UCR GunPoint itself where the cache holds it.

mod common;

use common::*;
use data::{Dataset, Format, LoadOptions, Task};
use std::path::Path;

fn series_csv(f: impl FnOnce(&mut LoadOptions)) -> LoadOptions {
    let mut o = LoadOptions::format(Some(Format::SeriesCsv));
    f(&mut o);
    o
}

#[test]
fn rows_are_series_and_the_target_is_found_as_for_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(
        dir.path(),
        "waves.csv",
        "t1,t2,t3,t4,kind\n1,2,3,4,rise\n4,3,,1,fall\n0,1,2,3,rise\n3,2,1,NA,fall\n",
    );
    // Without the format, a CSV file is a table.
    assert_eq!(Dataset::load(&path, None).unwrap().meta.format, Format::Csv);
    let ds = Dataset::load_with(&path, &series_csv(|_| {})).unwrap();
    let m = &ds.meta;
    assert_eq!(
        (m.input, m.task),
        (space::InputKind::Series, Task::Classification)
    );
    assert_eq!((m.channels, m.height, m.width), (1, 1, 4));
    assert_eq!(m.target.as_deref(), Some("kind"));
    assert_eq!(m.classes, ["fall", "rise"]);
    assert!(m.columns.is_empty());
    assert_eq!(ds.train.inputs.size(), [4, 1, 4]);
    let nan = f32::NAN;
    let want = [
        1., 2., 3., 4., 4., 3., nan, 1., 0., 1., 2., 3., 3., 2., 1., nan,
    ];
    assert!(same_floats(&floats(&ds.train.inputs), &want));
    assert_eq!(ds.train.labels_vec(), [1, 0, 1, 0]);

    // A column named `class` is the target wherever it is.
    let first = write_text(dir.path(), "first.csv", "class,a,b\nx,1,2\ny,3,4\n");
    let ds = Dataset::load_with(&first, &series_csv(|_| {})).unwrap();
    assert_eq!(ds.meta.target.as_deref(), Some("class"));
    assert_eq!(floats(&ds.train.inputs), [1., 2., 3., 4.]);
}

#[test]
fn golden_fingerprint_of_a_regression_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_text(dir.path(), "r.csv", "t1,t2,t3,y\n1,2,,0.5\n4,5,6,2\n");
    let ds = Dataset::load_with(&path, &series_csv(|_| {})).unwrap();
    assert_eq!(ds.meta.task, Task::Regression);
    assert_eq!(ds.train.targets_vec(), [0.5, 2.0]);
    // Computed outside Rust over the layout documented in raw.rs.
    assert_eq!(
        ds.meta.fingerprint,
        "fd96415c6ece96a1ecb32faaaa04d0ec5e6fac706ac5411706f81e98d82aa77a"
    );
}

#[test]
fn bad_steps_and_short_rows_are_named_and_pad_accepts_short_rows() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_text(dir.path(), "bad.csv", "t1,t2,y\n1,2,a\n3,x,b\n");
    let err = load_err(&bad, &series_csv(|_| {}));
    assert!(
        err.contains("bad.csv: line 3, column \"t2\": not a number: \"x\""),
        "{err}"
    );

    let short = write_text(
        dir.path(),
        "short.csv",
        "t1,t2,t3,y\n1,2,3,a\n4,5,b\n6,7,8,a\n1,1,1,b\n",
    );
    let err = load_err(&short, &series_csv(|_| {}));
    assert!(
        err.contains("short.csv: line 3: 3 fields, but the header has 4"),
        "{err}"
    );
    assert!(err.contains("pass pad"), "{err}");
    let ds = Dataset::load_with(&short, &series_csv(|o| o.pad = true)).unwrap();
    let all = floats(&ds.train.inputs);
    assert!(same_floats(&all[3..6], &[4., 5., f32::NAN]), "{all:?}");
    assert_eq!(ds.train.labels_vec(), [0, 1, 0, 1]);

    // Padding needs the target last: elsewhere a short row is ambiguous.
    let first = write_text(dir.path(), "first.csv", "y,t1,t2\na,1,2\nb,3\n");
    let err = load_err(&first, &series_csv(|o| o.pad = true));
    assert!(
        err.contains("first.csv: line 3: 2 fields, but the header has 3"),
        "{err}"
    );
}

/// Where another tool puts the UCR archive's GunPoint files, if it ran.
const GUNPOINT: &str = "/var/cache/nas/datasets/ucr/GunPoint_TRAIN.ts";

#[test]
fn real_format_ucr_files_load() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/GunPointMini_TRAIN.ts");
    let ds = Dataset::load(&fixture, None).unwrap();
    let m = &ds.meta;
    assert_eq!((m.name.as_str(), m.format), ("GunPointMini", Format::Ts));
    assert_eq!(
        (m.train_len, m.test_len, m.channels, m.width),
        (6, 4, 1, 24)
    );
    assert_eq!(m.classes, ["1", "2"]);
    assert_eq!(ds.train.labels_vec(), [0, 1, 0, 1, 0, 1]);
    assert_eq!(ds.test.class_counts(2), [2, 2]);
    assert_eq!(floats(&ds.train.inputs)[0], -1.01785);

    let gunpoint = Path::new(GUNPOINT);
    if gunpoint.exists() {
        let ds = Dataset::load(gunpoint, None).unwrap();
        let m = &ds.meta;
        assert_eq!((m.train_len, m.test_len), (50, 150));
        assert_eq!((m.channels, m.height, m.width), (1, 1, 150));
        assert_eq!(m.classes.len(), 2);
        assert_eq!(ds.train.inputs.size(), [50, 1, 150]);
    }
}
