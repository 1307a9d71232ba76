//! Image folders of PNGs and JPEGs: both layouts, grayscale kept as one
//! channel, the seeded holdout, and unreadable or mismatched images named.

mod common;

use common::*;
use data::{DataError, Dataset, Format};
use std::path::{Path, PathBuf};
use tch::Tensor;

fn sample(t: &Tensor, i: i64) -> Vec<u8> {
    Vec::<u8>::try_from(&t.get(i).reshape([-1])).unwrap()
}

fn labels(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t).unwrap()
}

fn save_rgb(path: &Path, seed: usize) -> image::RgbImage {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = rgb_image(8, 6, seed);
    img.save(path).unwrap();
    img
}

#[test]
fn train_and_test_folders_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a0 = save_rgb(&root.join("train/cat/a.png"), 1);
    let a1 = save_rgb(&root.join("train/cat/b.png"), 2);
    let b0 = save_rgb(&root.join("train/ant/x.png"), 3);
    let jpeg = root.join("train/ant/y.jpg");
    save_rgb(&jpeg, 4);
    let t0 = save_rgb(&root.join("test/cat/t.png"), 5);
    std::fs::write(root.join("train/cat/notes.txt"), "ignored").unwrap();
    let ds = Dataset::load(root, None).unwrap();
    assert_eq!(ds.meta.format, Format::ImageFolder);
    assert_eq!(ds.meta.classes, ["ant", "cat"]);
    assert_eq!((ds.meta.channels, ds.meta.height, ds.meta.width), (3, 6, 8));
    assert_eq!(ds.train.inputs.size(), [4, 3, 6, 8]);
    // Sorted by class, then by file name.
    assert_eq!(labels(&ds.train.labels), [0, 0, 1, 1]);
    assert_eq!(sample(&ds.train.inputs, 0), chw(&b0));
    let decoded = image::open(&jpeg).unwrap().to_rgb8();
    assert_eq!(sample(&ds.train.inputs, 1), chw(&decoded));
    assert_eq!(sample(&ds.train.inputs, 2), chw(&a0));
    assert_eq!(sample(&ds.train.inputs, 3), chw(&a1));
    assert_eq!(labels(&ds.test.labels), [1]);
    assert_eq!(sample(&ds.test.inputs, 0), chw(&t0));
}

/// `classes` folders of `per_class` grayscale PNGs under `root`.
fn gray_folder(root: &Path, classes: usize, per_class: usize) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    for c in 0..classes {
        for i in 0..per_class {
            let path = root.join(format!("class{c}/{i:03}.png"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let img = gray_image(5, 4, c * 100 + i);
            img.save(&path).unwrap();
            all.push((path, img.into_raw()));
        }
    }
    all
}

#[test]
fn flat_folder_holds_out_one_in_six_per_class_and_keeps_gray() {
    let dir = tempfile::tempdir().unwrap();
    let all = gray_folder(dir.path(), 2, 13);
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.meta.channels, 1);
    assert_eq!(ds.train.inputs.size(), [22, 1, 4, 5]);
    assert_eq!(ds.test.class_counts(2), [2, 2]);
    assert_eq!(ds.train.class_counts(2), [11, 11]);
    // Every image is in exactly one split.
    let mut seen: Vec<Vec<u8>> = (0..22).map(|i| sample(&ds.train.inputs, i)).collect();
    seen.extend((0..4).map(|i| sample(&ds.test.inputs, i)));
    seen.sort();
    let mut want: Vec<Vec<u8>> = all.into_iter().map(|(_, px)| px).collect();
    want.sort();
    assert_eq!(seen, want);
    // The holdout is seeded: the same on every load.
    let again = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.meta.fingerprint, again.meta.fingerprint);
}

#[test]
fn one_color_image_makes_everything_rgb() {
    let dir = tempfile::tempdir().unwrap();
    let gray = gray_folder(dir.path(), 1, 2);
    let color = image::RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8, y as u8, 200]));
    std::fs::create_dir_all(dir.path().join("class1")).unwrap();
    color.save(dir.path().join("class1/c.png")).unwrap();
    let ds = Dataset::load(dir.path(), None).unwrap();
    assert_eq!(ds.meta.channels, 3);
    let first = sample(&ds.train.inputs, 0);
    let plane = &gray[0].1;
    assert_eq!(first, [plane.as_slice(), plane, plane].concat());
    let last = sample(&ds.train.inputs, 2);
    assert_eq!(last, chw(&color));
}

#[test]
fn unreadable_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    gray_folder(dir.path(), 2, 3);
    let bad = dir.path().join("class1/001.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, DataError::Image { path, .. } if *path == bad),
        "{err}"
    );
    assert!(err.to_string().contains("cannot decode the image"), "{err}");
}

#[test]
fn mixed_sizes_name_the_first_odd_file() {
    let dir = tempfile::tempdir().unwrap();
    gray_folder(dir.path(), 2, 3);
    let odd = dir.path().join("class0/001.png");
    gray_image(7, 7, 0).save(&odd).unwrap();
    gray_image(9, 9, 0)
        .save(dir.path().join("class1/002.png"))
        .unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        matches!(&err, DataError::Image { path, .. } if *path == odd),
        "{err}"
    );
    assert!(err.to_string().contains("image is 7x7, but"), "{err}");
    assert!(err.to_string().contains("000.png is 5x4"), "{err}");
}

#[test]
fn empty_class_and_unknown_test_class_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    gray_folder(dir.path(), 2, 3);
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("empty: no .png, .jpg or .jpeg images"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    gray_folder(&dir.path().join("train"), 2, 3);
    gray_folder(&dir.path().join("test"), 3, 1);
    let err = Dataset::load(dir.path(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("class2: this class has no folder under train/"),
        "{err}"
    );
}
