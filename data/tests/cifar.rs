//! CIFAR-10 and CIFAR-100 binaries: read back exactly, fine labels for
//! CIFAR-100, and corrupt records rejected with the file and byte offset.

mod common;

use common::*;
use data::{DataError, Dataset, Format};
use std::path::Path;
use tch::Tensor;

fn bytes(t: &Tensor) -> Vec<u8> {
    Vec::<u8>::try_from(&t.reshape([-1])).unwrap()
}

fn labels(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t).unwrap()
}

const CIFAR10_NAMES: &str =
    "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";

/// CIFAR-10 with 3, 2, 2, 2, 1 training records and 4 test records.
/// Returns the train pixels, train labels, test pixels and test labels.
fn write_cifar10(dir: &Path) -> (Vec<u8>, Vec<i64>, Vec<u8>, Vec<i64>) {
    std::fs::create_dir_all(dir).unwrap();
    let (mut train_px, mut train_lb) = (Vec::new(), Vec::new());
    let mut seed = 0;
    for (k, n) in [3, 2, 2, 2, 1].into_iter().enumerate() {
        let lb: Vec<u8> = (0..n).map(|i| ((seed + i) * 3 % 10) as u8).collect();
        let (file, px) = cifar_records(&lb.iter().map(|&l| vec![l]).collect::<Vec<_>>(), seed);
        std::fs::write(dir.join(format!("data_batch_{}.bin", k + 1)), file).unwrap();
        train_px.extend(px);
        train_lb.extend(lb.iter().map(|&l| l as i64));
        seed += n;
    }
    let lb: Vec<u8> = vec![9, 0, 4, 4];
    let (file, test_px) = cifar_records(&lb.iter().map(|&l| vec![l]).collect::<Vec<_>>(), 100);
    std::fs::write(dir.join("test_batch.bin"), file).unwrap();
    std::fs::write(dir.join("batches.meta.txt"), CIFAR10_NAMES).unwrap();
    (
        train_px,
        train_lb,
        test_px,
        lb.into_iter().map(i64::from).collect(),
    )
}

/// CIFAR-100 with 5 training and 3 test records of (coarse, fine) labels.
fn write_cifar100(dir: &Path) -> (Vec<u8>, Vec<i64>, Vec<u8>, Vec<i64>) {
    std::fs::create_dir_all(dir).unwrap();
    let train: Vec<Vec<u8>> = vec![
        vec![0, 99],
        vec![19, 3],
        vec![4, 50],
        vec![7, 0],
        vec![1, 42],
    ];
    let test: Vec<Vec<u8>> = vec![vec![2, 17], vec![3, 98], vec![0, 1]];
    let (file, train_px) = cifar_records(&train, 0);
    std::fs::write(dir.join("train.bin"), file).unwrap();
    let (file, test_px) = cifar_records(&test, 50);
    std::fs::write(dir.join("test.bin"), file).unwrap();
    let names: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), names).unwrap();
    let coarse: String = (0..20).map(|i| format!("coarse{i}\n")).collect();
    std::fs::write(dir.join("coarse_label_names.txt"), coarse).unwrap();
    let fine = |v: &[Vec<u8>]| v.iter().map(|l| l[1] as i64).collect();
    (train_px, fine(&train), test_px, fine(&test))
}

#[test]
fn cifar10_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (train_px, train_lb, test_px, test_lb) = write_cifar10(dir.path());
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.meta.format, Format::Cifar10);
    assert_eq!(ds.meta.classes[0], "airplane");
    assert_eq!(ds.meta.classes.len(), 10);
    assert_eq!(
        (ds.meta.channels, ds.meta.height, ds.meta.width),
        (3, 32, 32)
    );
    assert_eq!(ds.train.inputs.size(), [10, 3, 32, 32]);
    assert_eq!(bytes(&ds.train.inputs), train_px);
    assert_eq!(labels(&ds.train.labels), train_lb);
    assert_eq!(bytes(&ds.test.inputs), test_px);
    assert_eq!(labels(&ds.test.labels), test_lb);
    // Channel-major: red plane first, so sample 0, channel 1, pixel 0 is
    // record byte 1 + 1024.
    let green0 = ds.train.inputs.int64_value(&[0, 1, 0, 0]);
    assert_eq!(green0, pixel(0, 1024) as i64);
}

#[test]
fn cifar100_uses_the_fine_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (train_px, train_lb, test_px, test_lb) = write_cifar100(dir.path());
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.meta.format, Format::Cifar100);
    assert_eq!(ds.meta.classes.len(), 100);
    assert_eq!(ds.meta.classes[99], "fine99");
    assert_eq!(labels(&ds.train.labels), train_lb);
    assert_eq!(labels(&ds.test.labels), test_lb);
    assert_eq!(bytes(&ds.train.inputs), train_px);
    assert_eq!(bytes(&ds.test.inputs), test_px);
}

#[test]
fn without_a_names_file_classes_are_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    std::fs::remove_file(dir.path().join("batches.meta.txt")).unwrap();
    let ds = Dataset::load(dir.path(), Some(Format::Cifar10)).unwrap();
    assert_eq!(
        ds.meta.classes,
        (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
    );
}

fn assert_corrupt(err: &DataError, path: &Path, offset: u64, text: &str) {
    match err {
        DataError::Corrupt {
            path: p,
            offset: o,
            reason,
            ..
        } => {
            assert_eq!((p.as_path(), *o), (path, offset), "{err}");
            assert!(reason.contains(text), "{err}");
        }
        other => panic!("expected a corrupt-file error, got {other}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn truncated_record_names_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let path = dir.path().join("data_batch_2.bin");
    let mut c = std::fs::read(&path).unwrap();
    c.truncate(3073 + 100);
    std::fs::write(&path, c).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(&err, &path, 3073, "truncated record: 100 of its 3073 bytes");
}

#[test]
fn empty_batch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let path = dir.path().join("test.bin");
    std::fs::write(&path, b"").unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(&err, &path, 0, "no records");
}

#[test]
fn bad_labels_point_at_the_label_byte() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let path = dir.path().join("test_batch.bin");
    let mut c = std::fs::read(&path).unwrap();
    c[2 * 3073] = 10;
    std::fs::write(&path, c).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(&err, &path, 2 * 3073, "label 10 is not a class (0..=9)");

    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let path = dir.path().join("train.bin");
    let mut c = std::fs::read(&path).unwrap();
    c[3074 + 1] = 100;
    std::fs::write(&path, &c).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(&err, &path, 3075, "label 100 is not a class (0..=99)");
    c[3074 + 1] = 5;
    c[4 * 3074] = 20;
    std::fs::write(&path, &c).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(
        &err,
        &path,
        4 * 3074,
        "coarse label 20 is not a class (0..=19)",
    );
}

#[test]
fn missing_batch_and_wrong_names_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    std::fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        err.to_string().ends_with("missing data_batch_4.bin"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let names = dir.path().join("batches.meta.txt");
    std::fs::write(&names, "cat\ndog\n").unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, DataError::Invalid { path, .. } if *path == names),
        "{err}"
    );
    assert!(
        err.to_string().contains("2 class names, expected 10"),
        "{err}"
    );
}
