//! Datasets for `nas`, loaded whole into memory as tensors:
//! - images: IDX (MNIST, Fashion-MNIST), the CIFAR-10/100 binaries and
//!   folders of class subfolders of PNG/JPEG images, as u8 `[N, C, H, W]`;
//! - tables: CSV and Parquet files, as f32 `[N, F]` (numbers as they are,
//!   booleans 0/1, categories as their index; NaN where missing);
//! - time series: UCR/UEA `.ts` files and series CSV files, as f32
//!   `[N, C, L]` (NaN where missing or padded);
//!
//! with class (i64) or regression (f32) labels; seeded subsets and
//! train/validation splits; and batches of images for training with tch.
//!
//! Train and test: image formats and `.ts` pairs (`X_TRAIN.ts`, `X_TEST.ts`)
//! come split. A single table, series CSV or `.ts` file is split by a seeded
//! holdout: [`HOLDOUT_FRACTION`] (20 %) of the rows, of each class for
//! classification, chosen with the fixed seed [`HOLDOUT_SEED`], become the
//! test split, both keeping the file's order. It is the same on every
//! machine and run, bit for bit.
//!
//! Architecture invariant: loading is deterministic and the [`Meta`]
//! fingerprint depends only on the decoded content, so a trainer can check
//! that its copy of a dataset equals the scheduler's. Every random choice
//! (holdout, splits, shuffles, augmentation) goes through [`space::rng`],
//! never through libtorch's global generator. Bad input gives a
//! [`DataError`] naming the file and the byte offset, line or row and
//! column, never a panic.
//!
//! Fingerprint: SHA-256 (hex). Images hash the format, the number of
//! classes and per split the shape, labels and pixels (unchanged since the
//! first version). Tables and series hash the format, input kind, task,
//! number of classes, the feature columns' kinds and category counts, and
//! per split the shape, the labels and the values as little-endian bytes.
//! Names (of classes, columns, categories, files) are never hashed.

mod cells;
mod cifar;
mod csv_file;
mod error;
mod folder;
mod format;
mod idx;
mod input;
pub mod inspect;
mod loader;
mod meta;
mod parquet_file;
mod raw;
mod series;
mod split;
mod table;
mod target;
mod ts;
mod values;

pub use error::{DataError, Position, Result};
pub use format::{detect, Format};
pub use inspect::{describe, Description, TargetStats};
pub use loader::{Augment, Batches, Loader, LoaderConfig, Normalize};
pub use meta::{Column, ColumnKind, LoadOptions, Meta, Task};
pub use split::{permutation, split_train_val, Split};
pub use values::{HOLDOUT_FRACTION, HOLDOUT_SEED};

use space::InputKind;
use std::path::Path;

/// A whole dataset in memory, on the CPU.
#[derive(Debug)]
pub struct Dataset {
    /// Name, format, task, classes, shape, columns, sizes and fingerprint.
    pub meta: Meta,
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

impl Dataset {
    /// Load the dataset at `path` (a folder, or a table or series file), in
    /// `format`, or the format [`detect`] finds; the rest as
    /// [`LoadOptions::default`].
    pub fn load(path: &Path, format: Option<Format>) -> Result<Dataset> {
        Self::load_with(path, &LoadOptions::format(format))
    }

    /// Load the dataset at `path` as `options` say. Options that do not
    /// apply to the format (a target for images, pad for a table) are an
    /// error rather than ignored.
    pub fn load_with(path: &Path, options: &LoadOptions) -> Result<Dataset> {
        let format = match options.format {
            Some(f) => f,
            None => detect(path)?,
        };
        options.check_for(format)?;
        if format.input() == InputKind::Images {
            Self::load_images(path, format)
        } else {
            Self::load_values(path, format, options)
        }
    }

    fn load_images(path: &Path, format: Format) -> Result<Dataset> {
        let (classes, train, test) = match format {
            Format::Idx => idx::read(path)?,
            Format::Cifar10 => cifar::read10(path)?,
            Format::Cifar100 => cifar::read100(path)?,
            _ => folder::read(path)?,
        };
        let fingerprint = raw::fingerprint(format, classes.len(), &train, &test);
        let meta = Meta {
            name: name(path, format),
            format,
            input: InputKind::Images,
            task: Task::Classification,
            classes,
            channels: train.channels,
            height: train.height,
            width: train.width,
            columns: Vec::new(),
            target: None,
            train_len: train.len(),
            test_len: test.len(),
            fingerprint,
        };
        Ok(Dataset {
            meta,
            train: train.into_split()?,
            test: test.into_split()?,
        })
    }

    fn load_values(path: &Path, format: Format, options: &LoadOptions) -> Result<Dataset> {
        let l = values::load(path, format, options)?;
        let fingerprint =
            raw::fingerprint_values(format, l.classes.len(), &l.columns, &l.train, &l.test);
        let (channels, height, width) = match l.train.shape[..] {
            [c, len] => (c, 1, len),
            [f] => (1, 1, f),
            _ => (0, 0, 0),
        };
        let meta = Meta {
            name: name(path, format),
            format,
            input: format.input(),
            task: l.train.labels.task(),
            classes: l.classes,
            channels,
            height,
            width,
            columns: l.columns,
            target: l.target,
            train_len: l.train.len(),
            test_len: l.test.len(),
            fingerprint,
        };
        Ok(Dataset {
            meta,
            train: l.train.into_split()?,
            test: l.test.into_split()?,
        })
    }
}

/// The dataset's name: a folder's name (any path, for images); a file's
/// name without its extension (and without `_TRAIN` for a `.ts` file).
fn name(path: &Path, format: Format) -> String {
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(file_name) = full.file_name() else {
        return full.display().to_string();
    };
    if format.input() == InputKind::Images || full.is_dir() {
        return file_name.to_string_lossy().into_owned();
    }
    let stem = full
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let cut = stem.len().saturating_sub("_train".len());
    if format == Format::Ts
        && stem.is_char_boundary(cut)
        && stem[cut..].eq_ignore_ascii_case("_train")
    {
        stem[..cut].to_string()
    } else {
        stem
    }
}
