//! Image datasets for `nas`: readers for IDX (MNIST, Fashion-MNIST), the
//! CIFAR-10/100 binaries and folders of class subfolders of PNG/JPEG images,
//! which load a whole dataset into memory as u8 tensors; seeded subsets and
//! train/validation splits; and batches for training with tch.
//!
//! Architecture invariant: loading is deterministic and the [`Meta`]
//! fingerprint depends only on the decoded content, so a trainer can check
//! that its copy of a dataset equals the scheduler's. Every random choice
//! (holdout, splits, shuffles, augmentation) goes through [`space::rng`],
//! never through libtorch's global generator. Corrupt files give a
//! [`DataError`] naming the file and the byte offset, never a panic.

mod cifar;
mod error;
mod folder;
mod format;
mod idx;
mod input;
mod loader;
mod raw;
mod split;

pub use error::{DataError, Result};
pub use format::{detect, Format};
pub use loader::{Augment, Batches, Loader, LoaderConfig, Normalize};
pub use split::{permutation, split_train_val, Split};

use std::path::Path;

/// What a dataset is, without its pixels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Meta {
    /// The dataset folder's name.
    pub name: String,
    /// The format it was read as.
    pub format: Format,
    /// Class names; a label is an index into this.
    pub classes: Vec<String>,
    /// Channels per image (1 or 3).
    pub channels: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Training samples.
    pub train_len: usize,
    /// Test samples.
    pub test_len: usize,
    /// SHA-256 (hex) of the decoded content: format, number of classes, and
    /// each split's shape, labels and pixels; not class or file names.
    pub fingerprint: String,
}

/// A whole dataset in memory, on the CPU.
#[derive(Debug)]
pub struct Dataset {
    /// Name, format, classes, shape, sizes and fingerprint.
    pub meta: Meta,
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

impl Dataset {
    /// Load the dataset in the folder `path`, in `format`, or the format
    /// [`detect`] finds.
    pub fn load(path: &Path, format: Option<Format>) -> Result<Dataset> {
        let format = match format {
            Some(f) => f,
            None => detect(path)?,
        };
        let (classes, train, test) = match format {
            Format::Idx => idx::read(path)?,
            Format::Cifar10 => cifar::read10(path)?,
            Format::Cifar100 => cifar::read100(path)?,
            Format::ImageFolder => folder::read(path)?,
        };
        let fingerprint = raw::fingerprint(format, classes.len(), &train, &test);
        let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let meta = Meta {
            name: full.file_name().map_or_else(
                || full.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            format,
            classes,
            channels: train.channels,
            height: train.height,
            width: train.width,
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
}
