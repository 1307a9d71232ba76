//! UCR/UEA `.ts` files: univariate and multivariate, missing values,
//! regression, `_TRAIN`/`_TEST` pairing and the lone-file holdout, unequal
//! lengths refused or padded, and every header that disagrees with its data
//! named by file and line.

mod common;

use common::*;
use data::{Dataset, Format, LoadOptions, Task};
use std::path::Path;

/// A univariate two-class header with `extra` lines before `@data`.
fn header(extra: &str) -> String {
    format!(
        "# A comment, as UCR files open with.\n\
         @problemName Toy\n@timeStamps false\n@missing true\n@univariate true\n\
         @equalLength true\n@seriesLength 4\n{extra}@classLabel true up down\n@data\n"
    )
}

const TRAIN: &str = "1,2,3,4:up\n4,3,2,1:down\n1,?,3,NaN:up\n# between\n\n5,4,3,2:down\n";
const TEST: &str = "0,1,2,3:up\n3,2,1,0:down\n";

fn opts(f: impl FnOnce(&mut LoadOptions)) -> LoadOptions {
    let mut o = LoadOptions::default();
    f(&mut o);
    o
}

fn pair(dir: &Path) {
    write_text(dir, "Toy_TRAIN.ts", &(header("") + TRAIN));
    write_text(dir, "Toy_TEST.ts", &(header("") + TEST));
}

#[test]
fn univariate_pair_reads_by_file_or_folder() {
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path());
    assert_eq!(data::detect(dir.path()).unwrap(), Format::Ts);
    let train_file = dir.path().join("Toy_TRAIN.ts");
    assert_eq!(data::detect(&train_file).unwrap(), Format::Ts);
    let ds = Dataset::load(&train_file, None).unwrap();
    let m = &ds.meta;
    assert_eq!(
        (m.format, m.input, m.task),
        (Format::Ts, space::InputKind::Series, Task::Classification)
    );
    assert_eq!(m.name, "Toy");
    // @classLabel's order, not sorted.
    assert_eq!(m.classes, ["up", "down"]);
    assert_eq!((m.channels, m.height, m.width), (1, 1, 4));
    assert_eq!((m.train_len, m.test_len), (4, 2));
    assert_eq!(ds.train.inputs.size(), [4, 1, 4]);
    assert_eq!(ds.train.sample_shape(), [1, 4]);
    let want = [
        1.,
        2.,
        3.,
        4.,
        4.,
        3.,
        2.,
        1.,
        1.,
        f32::NAN,
        3.,
        f32::NAN,
        5.,
        4.,
        3.,
        2.,
    ];
    assert!(same_floats(&floats(&ds.train.inputs), &want));
    assert_eq!(ds.train.labels_vec(), [0, 1, 0, 1]);
    assert_eq!(floats(&ds.test.inputs), [0., 1., 2., 3., 3., 2., 1., 0.]);
    assert_eq!(ds.test.labels_vec(), [0, 1]);
    assert!(m.columns.is_empty() && m.target.is_none());

    let by_folder = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(by_folder.meta.fingerprint, m.fingerprint);
    assert_eq!(
        by_folder.meta.name,
        dir.path().file_name().unwrap().to_string_lossy()
    );
}

#[test]
fn multivariate_series_keep_their_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let head = "@problemName Multi\n@timeStamps false\n@missing false\n@univariate false\n\
                @dimensions 2\n@equalLength true\n@seriesLength 3\n@classLabel true a b c\n@data\n";
    let body = "1,2,3:10,20,30:a\n4,5,6:40,50,60:b\n7,8,9:70,80,90:c\n";
    let path = write_text(dir.path(), "Multi_TRAIN.ts", &format!("{head}{body}"));
    write_text(
        dir.path(),
        "Multi_TEST.ts",
        &format!("{head}0,0,0:1,1,1:b\n"),
    );
    let ds = Dataset::load(&path, None).unwrap();
    assert_eq!(ds.train.inputs.size(), [3, 2, 3]);
    assert_eq!((ds.meta.channels, ds.meta.width), (2, 3));
    assert_eq!(&floats(&ds.train.inputs)[..6], [1., 2., 3., 10., 20., 30.]);
    assert_eq!(ds.test.labels_vec(), [1]);
    assert_eq!(ds.train.class_counts(3), [1, 1, 1]);
}

#[test]
fn target_label_files_are_regression() {
    let dir = tempfile::tempdir().unwrap();
    let head = "@problemName Reg\n@timeStamps false\n@univariate true\n@equalLength true\n\
                @seriesLength 2\n@classLabel false\n@targetLabel true\n@data\n";
    let mut body = String::new();
    for i in 0..10 {
        body.push_str(&format!("{i},{}:{}\n", i + 1, i * 2));
    }
    let path = write_text(dir.path(), "Reg.ts", &format!("{head}{body}"));
    let ds = Dataset::load(&path, None).unwrap();
    // Integer targets, but @targetLabel says regression.
    assert_eq!(ds.meta.task, Task::Regression);
    assert_eq!(ds.train.labels.kind(), tch::Kind::Float);
    assert!(ds.meta.classes.is_empty());
    // A lone file that is not a _TRAIN file: the 20 % holdout.
    assert_eq!((ds.meta.train_len, ds.meta.test_len), (8, 2));
    for (s, t) in [
        (&ds.train, ds.train.targets_vec()),
        (&ds.test, ds.test.targets_vec()),
    ] {
        let x = floats(&s.inputs);
        for (row, y) in x.chunks(2).zip(t) {
            assert_eq!(y, row[0] * 2.0);
        }
    }
    let bad = write_text(dir.path(), "Bad.ts", &format!("{head}1,2:heavy\n"));
    let err = load_err(&bad, &LoadOptions::default());
    assert!(
        err.contains("Bad.ts: line 9: target \"heavy\" is not a number"),
        "{err}"
    );
}

#[test]
fn headers_that_disagree_with_the_data_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, String, &str); 6] = [
        (
            "Short.ts",
            header("") + "1,2,3,4:up\n1,2,3:down\n",
            "Short.ts: line 11: @seriesLength 4 (line 7), but this series has 3 values",
        ),
        (
            "Dims.ts",
            header("@dimensions 1\n") + "1,2,3,4:1,2,3,4:up\n",
            "Dims.ts: line 11: @dimensions 1 (line 8), but this series has 2 dimensions",
        ),
        (
            "Uni.ts",
            header("") + "1,2,3,4:1,2,3,4:up\n",
            "Uni.ts: line 10: @univariate true (line 5), but this series has 2 dimensions",
        ),
        (
            "Label.ts",
            header("") + "1,2,3,4:up\n1,2,3,4:sideways\n",
            "Label.ts: line 11: label \"sideways\" is not one of @classLabel up down",
        ),
        (
            "Stamps.ts",
            "@timeStamps true\n@classLabel true a b\n@data\n".into(),
            "Stamps.ts: line 1: @timeStamps true is not supported",
        ),
        (
            "Value.ts",
            header("") + "1,2,x,4:up\n",
            "Value.ts: line 10: dimension 1, value 3: not a number: \"x\"",
        ),
    ];
    for (name, text, want) in cases {
        let err = load_err(
            &write_text(dir.path(), name, &text),
            &LoadOptions::default(),
        );
        assert!(err.contains(want), "{name}: {err}");
    }
    let no_labels = "@problemName N\n@classLabel false\n@data\n1,2:x\n";
    let err = load_err(
        &write_text(dir.path(), "N.ts", no_labels),
        &LoadOptions::default(),
    );
    assert!(
        err.contains("N.ts: line 3: no @classLabel true or @targetLabel true"),
        "{err}"
    );
    let err = load_err(&write_text(dir.path(), "E.ts", ""), &LoadOptions::default());
    assert!(err.contains("E.ts: empty file"), "{err}");
    let err = load_err(
        &write_text(dir.path(), "D.ts", &header("")),
        &LoadOptions::default(),
    );
    assert!(err.contains("D.ts: no series after @data"), "{err}");
}

#[test]
fn unequal_lengths_are_refused_unless_padded() {
    let dir = tempfile::tempdir().unwrap();
    let head =
        "@problemName U\n@univariate true\n@equalLength false\n@classLabel true a b\n@data\n";
    let body = "1,2,3:a\n4,5:b\n6,7,8,9:a\n1,1,1:b\n";
    let path = write_text(dir.path(), "U.ts", &format!("{head}{body}"));
    let err = load_err(&path, &LoadOptions::default());
    assert!(
        err.contains("U.ts: line 7: this series has 2 values, but the first series has 3"),
        "{err}"
    );
    assert!(err.contains("pad"), "{err}");
    let ds = Dataset::load_with(&path, &opts(|o| o.pad = true)).unwrap();
    assert_eq!(ds.meta.width, 4);
    let all = floats(&ds.train.inputs);
    let nan = f32::NAN;
    assert!(same_floats(
        &all[..12],
        &[1., 2., 3., nan, 4., 5., nan, nan, 6., 7., 8., 9.]
    ));
    // A file that claims equal lengths but is not is refused the same way.
    let liar = format!(
        "{}{body}",
        head.replace("@equalLength false", "@equalLength true")
    );
    let err = load_err(
        &write_text(dir.path(), "L.ts", &liar),
        &LoadOptions::default(),
    );
    assert!(
        err.contains("L.ts: line 7: this series has 2 values"),
        "{err}"
    );
}

#[test]
fn train_and_test_pairing() {
    let dir = tempfile::tempdir().unwrap();
    pair(dir.path());
    let test_file = dir.path().join("Toy_TEST.ts");
    let err = load_err(&test_file, &LoadOptions::default());
    assert!(err.contains("Toy_TEST.ts: this is a test split"), "{err}");

    // A lone training file: stratified 20 % holdout, deterministic.
    let lone = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&format!(
            "{i},0,0,0:{}\n",
            ["up", "down"][usize::from(i % 4 == 0)]
        ));
    }
    let path = write_text(lone.path(), "Lone_TRAIN.ts", &(header("") + &body));
    let ds = Dataset::load(&path, None).unwrap();
    assert_eq!((ds.meta.train_len, ds.meta.test_len), (16, 4));
    // 15 up, 5 down: 3 and 1 to test.
    assert_eq!(ds.test.class_counts(2), [3, 1]);
    let again = Dataset::load(&path, None).unwrap();
    assert_eq!(ints(&again.test.inputs), ints(&ds.test.inputs));
    assert_eq!(again.meta.fingerprint, ds.meta.fingerprint);

    // A test file that disagrees with its training file.
    let other = tempfile::tempdir().unwrap();
    write_text(other.path(), "X_TRAIN.ts", &(header("") + TRAIN));
    let test = header("").replace("up down", "left right") + "1,2,3,4:left\n1,2,3,4:right\n";
    write_text(other.path(), "X_TEST.ts", &test);
    let err = load_err(other.path(), &LoadOptions::default());
    assert!(
        err.contains("X_TEST.ts: @classLabel lists left right"),
        "{err}"
    );
    let test = header("").replace("@univariate true\n", "") + "1,2,3,4:1,2,3,4:up\n";
    write_text(other.path(), "X_TEST.ts", &test);
    let err = load_err(other.path(), &LoadOptions::default());
    assert!(
        err.contains(
            "X_TEST.ts: line 9: this series has 2 dimensions, but the training file's have 1"
        ),
        "{err}"
    );
}

#[test]
fn task_override_and_one_class() {
    let dir = tempfile::tempdir().unwrap();
    let text = header("").replace("up down", "1 2") + "1,2,3,4:1\n4,3,2,1:2\n";
    let path = write_text(dir.path(), "N.ts", &text);
    let ds = Dataset::load_with(&path, &opts(|o| o.task = Some(Task::Regression))).unwrap();
    assert_eq!(ds.train.targets_vec(), [1.0, 2.0]);
    let one = header("") + "1,2,3,4:up\n4,3,2,1:up\n";
    let err = load_err(
        &write_text(dir.path(), "O.ts", &one),
        &LoadOptions::default(),
    );
    assert!(
        err.contains("O.ts: the target has one class (\"up\"): nothing to learn"),
        "{err}"
    );
}

#[test]
fn crlf_line_ends_and_case_insensitive_headers() {
    let dir = tempfile::tempdir().unwrap();
    let text = "@PROBLEMNAME W\r\n@TimeStamps False\r\n@CLASSLABEL True a b\r\n@DATA\r\n1,2:a\r\n3,4:b\r\n";
    let ds = Dataset::load(&write_text(dir.path(), "W.ts", text), None).unwrap();
    assert_eq!(ds.meta.classes, ["a", "b"]);
    assert_eq!(floats(&ds.train.inputs), [1., 2., 3., 4.]);
}
