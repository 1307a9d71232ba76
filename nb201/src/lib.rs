//! The NAS-Bench-201 table (Dong & Yang 2020) as `nas` uses it: the
//! validation accuracy, training time, latency and size of every one of the
//! 15,625 cells of [`space::nb201`], per training seed, on CIFAR-10,
//! CIFAR-100 and ImageNet16-120.
//!
//! `scripts/setup.sh` converts the table to one JSON file per dataset under
//! [`default_dir`] (format in `scripts/convert_nb201.py`); [`Table::load`]
//! reads and checks one, after which every lookup is an index into a vector.
//! A search on the table stands in for training: same strategies, results
//! in microseconds, and a known optimum to measure regret against.

mod dataset;
mod error;
mod table;

pub use dataset::{Dataset, DatasetError};
pub use error::TableError;
pub use table::{Entry, Table, OPS};

use std::path::PathBuf;

/// Where `scripts/setup.sh` puts the converted tables when `NAS_NB201_DIR`
/// is not set (see `scripts/env.sh`).
pub const DEFAULT_DIR: &str = "/var/cache/nas/nasbench201";

/// The folder holding `{cifar10,cifar100,imagenet}.json`: `$NAS_NB201_DIR`
/// if set and not empty, else [`DEFAULT_DIR`].
pub fn default_dir() -> PathBuf {
    match std::env::var_os("NAS_NB201_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_DIR),
    }
}
