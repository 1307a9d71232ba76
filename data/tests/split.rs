//! Seeded subsets and train/validation splits: deterministic, disjoint,
//! stratified.

use data::{permutation, split_train_val, Split};
use std::collections::BTreeSet;
use tch::{Device, Tensor};

/// `n` samples of 1x2x2 whose first two pixels encode the sample index,
/// labelled `i % 3`.
fn numbered(n: usize) -> Split {
    let px: Vec<u8> = (0..n)
        .flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 7, 9])
        .collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let images = Tensor::from_slice(&px).view([n as i64, 1, 2, 2]);
    Split::new(images, Tensor::from_slice(&labels)).unwrap()
}

/// The sample indices a split holds, in order.
fn ids(s: &Split) -> Vec<usize> {
    let px = Vec::<u8>::try_from(&s.inputs.reshape([-1])).unwrap();
    px.chunks(4)
        .map(|c| c[0] as usize + 256 * c[1] as usize)
        .collect()
}

#[test]
fn train_val_split_is_deterministic_disjoint_and_stratified() {
    let all = numbered(1000);
    let (train, val) = split_train_val(&all, 0.2, 7);
    let (t, v) = (ids(&train), ids(&val));
    assert_eq!(t.len() + v.len(), 1000);
    let ts: BTreeSet<_> = t.iter().collect();
    assert!(v.iter().all(|i| !ts.contains(i)));
    // Both keep the original order, and the labels follow the images.
    assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
    let want: Vec<i64> = v.iter().map(|&i| i as i64 % 3).collect();
    assert_eq!(val.labels_vec(), want);
    // Classes of 334, 333, 333 samples: 67, 67, 67 to validation.
    assert_eq!(val.class_counts(3), [67, 67, 67]);
    let (_, again) = split_train_val(&all, 0.2, 7);
    assert_eq!(ids(&again), v);
    let (_, other) = split_train_val(&all, 0.2, 8);
    assert_ne!(ids(&other), v);
}

#[test]
fn extreme_fractions_are_clamped() {
    let all = numbered(30);
    let (train, val) = split_train_val(&all, 0.0, 1);
    assert_eq!((train.len(), val.len()), (30, 0));
    let (train, val) = split_train_val(&all, 1.5, 1);
    assert_eq!((train.len(), val.len()), (0, 30));
    let (train, val) = split_train_val(&all, f64::NAN, 1);
    assert_eq!((train.len(), val.len()), (30, 0));
}

#[test]
fn subset_is_seeded_sorted_and_bounded() {
    let all = numbered(500);
    let a = ids(&all.subset(50, 3));
    assert_eq!(a.len(), 50);
    assert!(a.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids(&all.subset(50, 3)), a);
    assert_ne!(ids(&all.subset(50, 4)), a);
    assert_eq!(all.subset(10_000, 3).len(), 500);
    assert_eq!(
        all.subset(50, 3).labels_vec(),
        a.iter().map(|&i| i as i64 % 3).collect::<Vec<_>>()
    );
}

#[test]
fn permutation_is_a_seeded_permutation() {
    let p = permutation(100, 5);
    let mut sorted = p.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<i64>>());
    assert_eq!(permutation(100, 5), p);
    assert_ne!(permutation(100, 6), p);
}

#[test]
fn new_checks_kinds_and_shapes_and_to_device_keeps_data() {
    let images = Tensor::zeros([4, 1, 2, 2], (tch::Kind::Float, Device::Cpu));
    let err = Split::new(images, Tensor::zeros([4], (tch::Kind::Int64, Device::Cpu))).unwrap_err();
    assert!(err.to_string().contains("images must be u8"), "{err}");
    let images = Tensor::zeros([4, 1, 2, 2], (tch::Kind::Uint8, Device::Cpu));
    let err = Split::new(images, Tensor::zeros([3], (tch::Kind::Int64, Device::Cpu))).unwrap_err();
    assert!(err.to_string().contains("labels must be i64 [4]"), "{err}");
    let s = numbered(10);
    let moved = s.to_device(Device::cuda_if_available());
    assert_eq!(moved.device(), Device::cuda_if_available());
    assert_eq!(ids(&moved.to_device(Device::Cpu)), ids(&s));
    assert_eq!(s.image_shape(), [1, 2, 2]);
    assert_eq!(s.class_counts(3), [4, 3, 3]);
}

#[test]
fn series_and_tables_with_class_or_regression_labels() {
    let f = |shape: &[i64]| Tensor::zeros(shape, (tch::Kind::Float, Device::Cpu));
    let classes = Tensor::from_slice(&[0i64, 1, 0]);
    let targets = Tensor::from_slice(&[0.5f32, 1.5, 2.5]);
    let series = Split::new(f(&[3, 2, 7]), classes.shallow_clone()).unwrap();
    assert_eq!(series.sample_shape(), [2, 7]);
    assert_eq!(series.image_shape(), [2, 1, 7]);
    assert!(!series.is_images());
    let table = Split::new(f(&[3, 5]), targets.shallow_clone()).unwrap();
    assert_eq!(table.sample_shape(), [5]);
    assert_eq!(table.image_shape(), [1, 1, 5]);
    assert_eq!(table.task(), data::Task::Regression);
    assert!(table.labels_vec().is_empty());
    assert_eq!(table.targets_vec(), [0.5, 1.5, 2.5]);
    assert_eq!(table.class_counts(2), [0, 0]);
    assert_eq!(numbered(4).sample_shape(), [1, 2, 2]);
    // Wrong layouts: f64 tables, 1-D or 5-D inputs, i32 labels.
    let d = Tensor::zeros([3, 5], (tch::Kind::Double, Device::Cpu));
    let err = Split::new(d, classes.shallow_clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "inputs must be images u8 [N, C, H, W], series f32 [N, C, L] or a table f32 [N, F]"
        ),
        "{err}"
    );
    assert!(Split::new(f(&[3]), classes.shallow_clone()).is_err());
    assert!(Split::new(f(&[3, 1, 1, 1, 1]), classes.shallow_clone()).is_err());
    let err = Split::new(f(&[3, 5]), classes.to_kind(tch::Kind::Int)).unwrap_err();
    assert!(
        err.to_string()
            .contains("labels must be i64 [3] (classes) or f32 [3]"),
        "{err}"
    );
}

#[test]
fn regression_train_val_split_is_plain_and_seeded() {
    let n = 50;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| i as f32 * 10.0).collect();
    let s = Split::new(
        Tensor::from_slice(&x).view([n as i64, 1]),
        Tensor::from_slice(&y),
    )
    .unwrap();
    let (train, val) = split_train_val(&s, 0.2, 3);
    assert_eq!((train.len(), val.len()), (40, 10));
    let ids = |s: &Split| Vec::<f32>::try_from(&s.inputs.reshape([-1])).unwrap();
    let v = ids(&val);
    assert!(v.windows(2).all(|w| w[0] < w[1]));
    let want: Vec<f32> = v.iter().map(|i| i * 10.0).collect();
    assert_eq!(val.targets_vec(), want);
    let (_, again) = split_train_val(&s, 0.2, 3);
    assert_eq!(ids(&again), v);
    let (_, other) = split_train_val(&s, 0.2, 4);
    assert_ne!(ids(&other), v);
}
