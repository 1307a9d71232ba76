//! The dataset formats we read, their names, and telling them apart by the
//! files a folder holds.

use crate::error::{DataError, Result};
use std::fmt;
use std::path::Path;
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
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [Self::Idx, Self::Cifar10, Self::Cifar100, Self::ImageFolder];

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Idx => "idx",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::ImageFolder => "image_folder",
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
    /// spellings people use (`mnist`, `cifar-10`, `folder`).
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

/// Tell the format of the folder `path` from the files it holds: any IDX
/// file, any CIFAR-10 or CIFAR-100 batch file, or else class subfolders.
/// Errors when none matches, or when files of several formats are present.
pub fn detect(path: &Path) -> Result<Format> {
    let err = |reason: String| DataError::Detect {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_dir() {
        return Err(err("it is not a folder".into()));
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
         CIFAR-100 binaries ({}) and class subfolders of images, and found none",
        IDX_FILES.join(", "),
        CIFAR10_FILES.join(", "),
        CIFAR100_FILES.join(", ")
    )))
}
