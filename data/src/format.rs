//! The dataset formats we read, their names, what kind of input each holds,
//! and telling them apart: a file by its extension, a folder by the files
//! it holds.

use crate::error::{DataError, Result};
use space::InputKind;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A dataset format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// IDX files (MNIST, Fashion-MNIST): `train-images-idx3-ubyte` and its
    /// three siblings, raw or gzip.
    Idx,
    /// The CIFAR-10 binary version: `data_batch_1.bin` .. `data_batch_5.bin`,
    /// `test_batch.bin`.
    Cifar10,
    /// The CIFAR-100 binary version: `train.bin`, `test.bin` (fine labels).
    Cifar100,
    /// One subfolder of PNG/JPEG images per class, optionally under `train/`
    /// and `test/`.
    ImageFolder,
    /// A table in a CSV file with a header row (RFC 4180).
    Csv,
    /// A table in a Parquet file.
    Parquet,
    /// Time series in the UCR/UEA `.ts` format: `X_TRAIN.ts` and
    /// `X_TEST.ts`, or one `.ts` file.
    Ts,
    /// Time series in a CSV file: one univariate series per row, its time
    /// steps in columns, plus a target column. Never detected: a CSV file is
    /// a table unless this format is asked for.
    SeriesCsv,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 8] = [
        Self::Idx,
        Self::Cifar10,
        Self::Cifar100,
        Self::ImageFolder,
        Self::Csv,
        Self::Parquet,
        Self::Ts,
        Self::SeriesCsv,
    ];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Idx => "idx",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::ImageFolder => "image_folder",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
            Self::Ts => "ts",
            Self::SeriesCsv => "series_csv",
        }
    }

    /// What the format holds: images, a table or time series.
    pub fn input(self) -> InputKind {
        match self {
            Self::Idx | Self::Cifar10 | Self::Cifar100 | Self::ImageFolder => InputKind::Images,
            Self::Csv | Self::Parquet => InputKind::Table,
            Self::Ts | Self::SeriesCsv => InputKind::Series,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = DataError;

    /// Accepts the names of [`Format::name`], case-insensitively, and a few
    /// spellings people use (`mnist`, `cifar-10`, `folder`, `ucr`).
    fn from_str(s: &str) -> Result<Self> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .collect();
        match norm.as_str() {
            "idx" | "mnist" | "fashionmnist" => Ok(Self::Idx),
            "cifar10" => Ok(Self::Cifar10),
            "cifar100" => Ok(Self::Cifar100),
            "imagefolder" | "folder" => Ok(Self::ImageFolder),
            "csv" => Ok(Self::Csv),
            "parquet" | "pq" => Ok(Self::Parquet),
            "ts" | "ucr" | "uea" => Ok(Self::Ts),
            "seriescsv" => Ok(Self::SeriesCsv),
            _ => Err(DataError::UnknownFormat {
                name: s.to_string(),
            }),
        }
    }
}

/// The IDX files, without the optional `.gz`.
pub(crate) const IDX_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];
/// The CIFAR-10 binary files.
pub(crate) const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
/// The CIFAR-100 binary files.
pub(crate) const CIFAR100_FILES: [&str; 2] = ["train.bin", "test.bin"];

/// The suffix of a UCR/UEA training file, compared case-insensitively.
pub(crate) const TS_TRAIN_SUFFIX: &str = "_train.ts";
/// The suffix of a UCR/UEA test file, compared case-insensitively.
pub(crate) const TS_TEST_SUFFIX: &str = "_test.ts";

/// Tell the format of `path`. A file by its extension: `.csv` is a table
/// ([`Format::Csv`]; series CSV is never detected), `.parquet` a table,
/// `.ts` time series. A folder by the files it holds: any IDX file, any
/// CIFAR-10 or CIFAR-100 batch file, a `<Name>_TRAIN.ts`, or else class
/// subfolders. Errors when none matches, or when files of several formats
/// are present.
pub fn detect(path: &Path) -> Result<Format> {
    let err = |reason: String| DataError::Detect {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_dir() {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        return match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            Some("ts") => Ok(Format::Ts),
            _ => Err(err(
                "it is not a folder, and a file needs the extension .csv, .parquet or .ts".into(),
            )),
        };
    }
    let has = |name: &str| path.join(name).is_file();
    let mut found = Vec::new();
    if IDX_FILES.iter().any(|f| has(f) || has(&format!("{f}.gz"))) {
        found.push(Format::Idx);
    }
    if CIFAR10_FILES.iter().any(|f| has(f)) {
        found.push(Format::Cifar10);
    }
    if CIFAR100_FILES.iter().any(|f| has(f)) {
        found.push(Format::Cifar100);
    }
    if !ts_train_files(path)?.is_empty() {
        found.push(Format::Ts);
    }
    match found.as_slice() {
        [one] => return Ok(*one),
        [] => {}
        many => {
            let names: Vec<&str> = many.iter().map(|f| f.name()).collect();
            return Err(err(format!(
                "it holds files of several formats ({}); pass the format explicitly",
                names.join(", ")
            )));
        }
    }
    let has_subfolder = std::fs::read_dir(path)
        .map_err(|e| DataError::io(path, e))?
        .filter_map(|e| e.ok())
        .any(|e| e.path().is_dir());
    if has_subfolder {
        return Ok(Format::ImageFolder);
    }
    Err(err(format!(
        "looked for IDX files ({}, optionally .gz), CIFAR-10 binaries ({}), \
         CIFAR-100 binaries ({}), UCR/UEA series (<Name>_TRAIN.ts) and class \
         subfolders of images, and found none",
        IDX_FILES.join(", "),
        CIFAR10_FILES.join(", "),
        CIFAR100_FILES.join(", ")
    )))
}

/// The `*_TRAIN.ts` files directly in the folder `dir`, sorted.
pub(crate) fn ts_train_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(TS_TRAIN_SUFFIX) && path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
