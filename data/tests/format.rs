//! Format names and detection by the files a folder holds.

mod common;

use common::*;
use data::{detect, DataError, Format};

#[test]
fn names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>().unwrap(), f);
        assert_eq!(f.to_string(), f.name());
    }
    assert_eq!("CIFAR-10".parse::<Format>().unwrap(), Format::Cifar10);
    assert_eq!("mnist".parse::<Format>().unwrap(), Format::Idx);
    assert_eq!("folder".parse::<Format>().unwrap(), Format::ImageFolder);
    let err = "svhn".parse::<Format>().unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }));
    assert!(err.to_string().contains("\"svhn\""), "{err}");
}

#[test]
fn detects_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    IdxData::new().write(&idx, true);
    assert_eq!(detect(&idx).unwrap(), Format::Idx);
    let c10 = dir.path().join("c10");
    std::fs::create_dir(&c10).unwrap();
    std::fs::write(c10.join("test_batch.bin"), b"").unwrap();
    assert_eq!(detect(&c10).unwrap(), Format::Cifar10);
    let c100 = dir.path().join("c100");
    std::fs::create_dir(&c100).unwrap();
    std::fs::write(c100.join("train.bin"), b"").unwrap();
    assert_eq!(detect(&c100).unwrap(), Format::Cifar100);
    let folder = dir.path().join("folder");
    std::fs::create_dir_all(folder.join("cats")).unwrap();
    assert_eq!(detect(&folder).unwrap(), Format::ImageFolder);
}

#[test]
fn ambiguous_and_unknown_folders_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    IdxData::new().write(dir.path(), false);
    std::fs::write(dir.path().join("data_batch_1.bin"), b"").unwrap();
    let err = detect(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("several formats (idx, cifar10)"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("readme.txt"), b"hi").unwrap();
    let err = detect(empty.path()).unwrap_err().to_string();
    for looked_for in [
        "train-images-idx3-ubyte",
        "data_batch_1.bin",
        "train.bin",
        "class subfolders",
    ] {
        assert!(err.contains(looked_for), "{err}");
    }
    let err = detect(&empty.path().join("readme.txt")).unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
    let err = detect(&empty.path().join("nope")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}
