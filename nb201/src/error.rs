//! The error type of the nb201 crate: which table file, and what is wrong
//! with it.

use crate::Dataset;
use std::path::PathBuf;
use thiserror::Error;

/// A table file that cannot be used. Every message names the file and, where
/// it applies, the cell key, the field and the seed position.
#[derive(Debug, Error)]
pub enum TableError {
    /// The file does not exist.
    #[error("nas-bench-201 table {} does not exist; scripts/setup.sh converts it", .path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("nas-bench-201 table {}: cannot read it: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape; serde's message carries
    /// the line and column.
    #[error("nas-bench-201 table {}: bad json: {source}", .path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said, with line and column.
        source: serde_json::Error,
    },
    /// The file holds `NaN`, `Infinity` or `-Infinity`, which Python's json
    /// writes but JSON does not allow.
    #[error(
        "nas-bench-201 table {}: {token} at line {line} column {column} is not a finite number",
        .path.display()
    )]
    NonFiniteJson {
        /// The file.
        path: PathBuf,
        /// The token found.
        token: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The `dataset` field names no dataset of the benchmark.
    #[error(
        "nas-bench-201 table {}: unknown dataset {found:?}; expected cifar10, cifar100 or imagenet",
        .path.display()
    )]
    UnknownDataset {
        /// The file.
        path: PathBuf,
        /// The name found.
        found: String,
    },
    /// The file holds another dataset than the one asked for.
    #[error("nas-bench-201 table {}: holds {found}, expected {expected}", .path.display())]
    WrongDataset {
        /// The file.
        path: PathBuf,
        /// The dataset asked for.
        expected: Dataset,
        /// The dataset the file holds.
        found: Dataset,
    },
    /// The `ops` list is not the benchmark's 5 operations in index order, so
    /// the key digits would mean other operations.
    #[error("nas-bench-201 table {}: ops are {found:?}, expected {:?}", .path.display(), crate::OPS)]
    Ops {
        /// The file.
        path: PathBuf,
        /// The list found.
        found: Vec<String>,
    },
    /// A cell key that is not 6 digits 0 to 4.
    #[error("nas-bench-201 table {}: bad cell key {key:?} ({source})", .path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// The key found.
        key: String,
        /// What is wrong with it.
        source: space::SpaceError,
    },
    /// Some of the 15,625 cells are absent.
    #[error(
        "nas-bench-201 table {}: holds {found} of the 15625 cells; cell {first_missing} is missing",
        .path.display()
    )]
    MissingCells {
        /// The file.
        path: PathBuf,
        /// How many cells it holds.
        found: usize,
        /// The key of the first absent cell, in key order.
        first_missing: String,
    },
    /// A per-seed list without values.
    #[error(
        "nas-bench-201 table {}: cell {key}: {field} is empty; it needs one value per training seed",
        .path.display()
    )]
    EmptySeeds {
        /// The file.
        path: PathBuf,
        /// The cell key.
        key: String,
        /// The list: `val_acc`, `train_time`, `latency` or `model_size`.
        field: &'static str,
    },
    /// Per-seed lists of one cell with different lengths.
    #[error(
        "nas-bench-201 table {}: cell {key}: {field} has {found} values but val_acc has {expected}; the lists run over the same seeds",
        .path.display()
    )]
    SeedCount {
        /// The file.
        path: PathBuf,
        /// The cell key.
        key: String,
        /// The list whose length differs.
        field: &'static str,
        /// Its length.
        found: usize,
        /// The length of `val_acc`.
        expected: usize,
    },
    /// A number that is not finite or out of its range.
    #[error(
        "nas-bench-201 table {}: cell {key}: {field}[{seed}] = {value} {reason}",
        .path.display()
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The cell key.
        key: String,
        /// The list.
        field: &'static str,
        /// The position in the list.
        seed: usize,
        /// The value.
        value: f64,
        /// Why it cannot be: `is not finite`, `is negative`, `is not a
        /// percentage`.
        reason: &'static str,
    },
}
