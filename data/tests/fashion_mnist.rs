//! The real Fashion-MNIST, installed by `scripts/setup.sh` from the Debian
//! package at `/usr/share/datasets/fashion-mnist` (or `$NAS_FASHION_MNIST`).

use data::{split_train_val, Dataset, Format};
use std::path::PathBuf;

#[test]
fn fashion_mnist_loads_completely() {
    let path = std::env::var_os("NAS_FASHION_MNIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(
        path.is_dir(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    let ds = Dataset::load(&path, None).unwrap();
    let m = &ds.meta;
    assert_eq!(m.format, Format::Idx);
    assert_eq!((m.train_len, m.test_len), (60_000, 10_000));
    assert_eq!((m.channels, m.height, m.width), (1, 28, 28));
    assert_eq!(m.classes.len(), 10);
    assert_eq!(m.classes[0], "T-shirt/top");
    assert_eq!(ds.train.inputs.size(), [60_000, 1, 28, 28]);
    assert_eq!(ds.train.class_counts(10), [6_000; 10]);
    assert_eq!(ds.test.class_counts(10), [1_000; 10]);
    let (train, val) = split_train_val(&ds.train, 0.1, 0);
    assert_eq!((train.len(), val.len()), (54_000, 6_000));
    assert_eq!(val.class_counts(10), [600; 10]);
}
