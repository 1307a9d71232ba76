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
    assert_eq!("Series-CSV".parse::<Format>().unwrap(), Format::SeriesCsv);
    assert_eq!("ucr".parse::<Format>().unwrap(), Format::Ts);
    let err = "svhn".parse::<Format>().unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }));
    assert!(err.to_string().contains("\"svhn\""), "{err}");
    assert!(
        err.to_string()
            .ends_with("idx, cifar10, cifar100, image_folder, csv, parquet, ts or series_csv"),
        "{err}"
    );
    let json: Vec<String> = Format::ALL
        .iter()
        .map(|f| serde_json::to_string(f).unwrap())
        .collect();
    let names: Vec<String> = Format::ALL.iter().map(|f| format!("\"{f}\"")).collect();
    assert_eq!(json, names);
}

#[test]
fn each_format_names_its_input_kind() {
    use space::InputKind::*;
    let kinds: Vec<space::InputKind> = Format::ALL.iter().map(|f| f.input()).collect();
    assert_eq!(
        kinds,
        [Images, Images, Images, Images, Table, Table, Series, Series]
    );
    assert_eq!(
        "Regression".parse::<data::Task>().unwrap(),
        data::Task::Regression
    );
    assert_eq!(data::Task::Classification.to_string(), "classification");
    assert!("clustering".parse::<data::Task>().is_err());
}

#[test]
fn files_are_told_by_extension_and_ts_folders_by_their_train_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, want) in [
        ("t.csv", Format::Csv),
        ("t.CSV", Format::Csv),
        ("t.parquet", Format::Parquet),
        ("t.ts", Format::Ts),
    ] {
        let path = write_text(dir.path(), name, "");
        assert_eq!(detect(&path).unwrap(), want, "{name}");
    }
    let ucr = dir.path().join("ucr");
    std::fs::create_dir(&ucr).unwrap();
    write_text(&ucr, "Coffee_TRAIN.ts", "");
    assert_eq!(detect(&ucr).unwrap(), Format::Ts);
    write_text(&ucr, "t10k-images-idx3-ubyte", "");
    let err = detect(&ucr).unwrap_err();
    assert!(
        err.to_string().contains("several formats (idx, ts)"),
        "{err}"
    );
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
        "_TRAIN.ts",
        "class subfolders",
    ] {
        assert!(err.contains(looked_for), "{err}");
    }
    let err = detect(&empty.path().join("readme.txt")).unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
    let err = detect(&empty.path().join("nope")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}
