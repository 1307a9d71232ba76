//! Rerunnable benchmarks of `nas`, the library behind `nas bench`.
//!
//! Every benchmark runs against a real Redis under a fresh key prefix
//! ([`Workspace`]), is bounded in time, deletes its keys when it ends (also
//! when it fails), and quotes its figure as a ratio against a reference
//! measured in the same run, so that numbers from different machines and
//! days compare:
//!
//! - [`throughput`]: jobs per second through the whole path (submit,
//!   scheduler, queue, trainer, result consumed by the scheduler), and the
//!   per-job overhead, against `redis-benchmark -t lpush -P 1` ([`lpush`]).
//! - [`scaling`]: fixed-length jobs through 1 to 64 trainer slots spread
//!   over `nas trainer` processes, against the ideal slots / duration.
//! - [`search`]: the quality of the architecture each strategy finds on the
//!   NAS-Bench-201 table, against random search and the table's optimum.
//! - [`datasets`]: `nas search` on tables and time series against
//!   scikit-learn's and aeon's baselines on the same split.
//! - [`fidelity`]: ASHA over evolution against plain evolution at full
//!   fidelity, on real data, at about the same trainer time.
//!
//! Each benchmark returns a report whose `Display` is what `nas bench`
//! prints; its last line is the headline ratio.

pub mod dashboard;
pub mod datasets;
pub mod error;
pub mod fidelity;
pub mod lpush;
pub mod noop;
pub mod python;
pub mod scaling;
pub mod search;
pub mod services;
pub mod stats;
pub mod throughput;
pub mod train;
pub mod workspace;

pub use error::BenchError;
pub use workspace::{Target, Workspace};

/// Shorthand.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;
