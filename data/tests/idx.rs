//! IDX reader: raw and gzip files read back exactly, the same fingerprint
//! either way, and corrupt files rejected with the file and byte offset.

mod common;

use common::*;
use data::{DataError, Dataset, Format};
use std::path::Path;
use tch::Tensor;

fn bytes(t: &Tensor) -> Vec<u8> {
    Vec::<u8>::try_from(&t.reshape([-1])).unwrap()
}

fn labels(t: &Tensor) -> Vec<u8> {
    Vec::<i64>::try_from(t)
        .unwrap()
        .into_iter()
        .map(|l| l as u8)
        .collect()
}

/// Write the dataset, break one file with `edit`, and return the error.
fn broken(
    name: &str,
    gz: bool,
    edit: impl FnOnce(&mut Vec<u8>),
) -> (DataError, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mnist");
    IdxData::new().write(&root, false);
    let path = root.join(name);
    let mut content = std::fs::read(&path).unwrap();
    edit(&mut content);
    if gz {
        std::fs::remove_file(&path).unwrap();
        let path = root.join(format!("{name}.gz"));
        std::fs::write(&path, gzip(&content)).unwrap();
        let err = Dataset::load(&root, Some(Format::Idx)).unwrap_err();
        return (err, path);
    }
    std::fs::write(&path, content).unwrap();
    (Dataset::load(&root, Some(Format::Idx)).unwrap_err(), path)
}

fn assert_corrupt(err: &DataError, path: &Path, offset: u64, text: &str) {
    match err {
        DataError::Corrupt {
            path: p,
            offset: o,
            reason,
            ..
        } => {
            assert_eq!(p, path, "{err}");
            assert_eq!(*o, offset, "{err}");
            assert!(reason.contains(text), "{err}");
        }
        other => panic!("expected a corrupt-file error, got {other}"),
    }
    let shown = err.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.contains(&format!("byte {offset}")), "{shown}");
}

#[test]
fn raw_files_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mnist");
    let d = IdxData::new();
    d.write(&root, false);
    let ds = Dataset::load(&root, None).unwrap();
    assert_eq!(ds.meta.format, Format::Idx);
    assert_eq!(ds.meta.name, "mnist");
    assert_eq!(
        ds.meta.classes,
        (0..10).map(|c| c.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(
        (ds.meta.channels, ds.meta.height, ds.meta.width),
        (1, 28, 28)
    );
    assert_eq!((ds.meta.train_len, ds.meta.test_len), (IDX_TRAIN, IDX_TEST));
    assert_eq!(ds.train.inputs.size(), [IDX_TRAIN as i64, 1, 28, 28]);
    assert_eq!(ds.train.inputs.kind(), tch::Kind::Uint8);
    assert_eq!(ds.train.labels.kind(), tch::Kind::Int64);
    assert_eq!(bytes(&ds.train.inputs), d.train_pixels);
    assert_eq!(labels(&ds.train.labels), d.train_labels);
    assert_eq!(bytes(&ds.test.inputs), d.test_pixels);
    assert_eq!(labels(&ds.test.labels), d.test_labels);
    assert_eq!(ds.meta.fingerprint.len(), 64);
}

#[test]
fn gzip_reads_the_same_and_fingerprints_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = IdxData::new();
    d.write(&dir.path().join("raw"), false);
    d.write(&dir.path().join("fashion-gz"), true);
    let raw = Dataset::load(&dir.path().join("raw"), None).unwrap();
    let gz = Dataset::load(&dir.path().join("fashion-gz"), None).unwrap();
    assert_eq!(bytes(&gz.train.inputs), d.train_pixels);
    assert_eq!(labels(&gz.test.labels), d.test_labels);
    assert_eq!(raw.meta.fingerprint, gz.meta.fingerprint);
    // The folder name picks the class names, which the fingerprint ignores.
    assert_eq!(gz.meta.classes[0], "T-shirt/top");
    assert_eq!(gz.meta.classes[9], "Ankle boot");
}

#[test]
fn gzip_is_told_by_its_magic_bytes_not_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mnist");
    let d = IdxData::new();
    d.write(&root, false);
    let path = root.join("train-images-idx3-ubyte");
    let content = std::fs::read(&path).unwrap();
    std::fs::write(&path, gzip(&content)).unwrap();
    let ds = Dataset::load(&root, None).unwrap();
    assert_eq!(bytes(&ds.train.inputs), d.train_pixels);
}

#[test]
fn fingerprint_is_stable_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), false);
    let a = Dataset::load(dir.path(), None).unwrap().meta.fingerprint;
    let b = Dataset::load(dir.path(), None).unwrap().meta.fingerprint;
    assert_eq!(a, b);
    // Golden value, computed outside Rust (Python hashlib over the byte
    // layout documented in raw.rs); changing it breaks stored fingerprints.
    assert_eq!(a, GOLDEN);
}

const GOLDEN: &str = "636319912c6fb3ffcc12c4b4372404209eb7adfc651fbfb868243cc53197562e";

#[test]
fn fingerprint_changes_with_one_pixel_or_label() {
    let dir = tempfile::tempdir().unwrap();
    let d = IdxData::new();
    d.write(&dir.path().join("a"), false);
    let mut px = d.train_pixels.clone();
    px[100] ^= 1;
    IdxData {
        train_pixels: px,
        ..IdxData::new()
    }
    .write(&dir.path().join("b"), false);
    let mut lb = d.test_labels.clone();
    lb[0] = (lb[0] + 1) % 10;
    IdxData {
        test_labels: lb,
        ..IdxData::new()
    }
    .write(&dir.path().join("c"), false);
    let f = |n: &str| {
        Dataset::load(&dir.path().join(n), None)
            .unwrap()
            .meta
            .fingerprint
    };
    assert_ne!(f("a"), f("b"));
    assert_ne!(f("a"), f("c"));
}

#[test]
fn wrong_magic_names_the_file_and_offset_0() {
    let (err, path) = broken("train-images-idx3-ubyte", false, |c| c[3] = 0x01);
    assert_corrupt(&err, &path, 0, "magic number 0x00000801");
    let (err, path) = broken("t10k-labels-idx1-ubyte", false, |c| c[2] = 0x09);
    assert_corrupt(&err, &path, 0, "magic number 0x00000901");
}

#[test]
fn truncated_body_names_where_the_file_ends() {
    let body = 16 + IDX_TRAIN * 28 * 28;
    let (err, path) = broken("train-images-idx3-ubyte", false, |c| c.truncate(body - 5));
    assert_corrupt(&err, &path, (body - 5) as u64, "pixels starting at byte 16");
    let (err, path) = broken("train-images-idx3-ubyte", true, |c| c.truncate(body - 5));
    assert_corrupt(&err, &path, (body - 5) as u64, "file ends here");
    assert!(err.to_string().contains("(decompressed)"), "{err}");
    let (err, path) = broken("t10k-labels-idx1-ubyte", false, |c| c.truncate(6));
    assert_corrupt(&err, &path, 6, "label count");
}

#[test]
fn truncated_gzip_stream_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    let content = std::fs::read(&path).unwrap();
    std::fs::write(&path, &content[..content.len() / 2]).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Corrupt {
                decompressed: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn trailing_data_is_an_error() {
    let end = 16 + IDX_TEST * 28 * 28;
    let (err, path) = broken("t10k-images-idx3-ubyte", false, |c| c.push(7));
    assert_corrupt(&err, &path, end as u64, "unexpected data after the pixels");
}

#[test]
fn label_count_mismatch_points_at_the_count() {
    let (err, path) = broken("train-labels-idx1-ubyte", false, |c| c[7] -= 1);
    assert_corrupt(
        &err,
        &path,
        4,
        "but train-images-idx3-ubyte holds 30 images",
    );
}

#[test]
fn bad_label_value_points_at_the_label() {
    let (err, path) = broken("train-labels-idx1-ubyte", false, |c| c[8 + 13] = 10);
    assert_corrupt(&err, &path, 21, "label 10 is not a class (0..=9)");
}

#[test]
fn zero_dimension_and_test_size_mismatch_are_errors() {
    let (err, path) = broken("train-images-idx3-ubyte", false, |c| c[11] = 0);
    assert_corrupt(&err, &path, 8, "height is 0");
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), false);
    let path = dir.path().join("t10k-images-idx3-ubyte");
    let px = pixels(IDX_TEST, 14 * 14);
    std::fs::write(&path, idx_images(IDX_TEST, 14, 14, &px)).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert_corrupt(
        &err,
        &path,
        8,
        "images are 14x14, the training images 28x28",
    );
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("missing t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz)"),
        "{err}"
    );
}

#[test]
fn huge_header_sizes_fail_without_allocating_them() {
    let (err, path) = broken("train-images-idx3-ubyte", false, |c| c[4..16].fill(0xff));
    assert_corrupt(&err, &path, 4, "do not fit in memory");
    // 2^31 images of 28x28 claimed, 30 present: truncated, reported where
    // the file ends.
    let end = 16 + IDX_TRAIN * 28 * 28;
    let (err, path) = broken("train-images-idx3-ubyte", true, |c| c[4] = 0x80);
    assert_corrupt(&err, &path, end as u64, "file ends here");
}
