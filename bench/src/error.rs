//! The one error type of the benchmarks, naming what failed.

use std::time::Duration;
use thiserror::Error;

/// Why a benchmark could not produce its figures.
#[derive(Debug, Error)]
pub enum BenchError {
    /// The settings cannot run.
    #[error("{0}")]
    Config(String),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] queue::QueueError),
    /// The scheduler's search records failed.
    #[error("search store: {0}")]
    Store(#[from] scheduler::StoreError),
    /// Submitting or reading a search failed.
    #[error("search client: {0}")]
    Client(#[from] scheduler::client::ClientError),
    /// A direct Redis call (key cleanup, the lpush reference) failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The NAS-Bench-201 table could not be read.
    #[error("{0} (scripts/setup.sh converts the tables)")]
    Table(#[from] nb201::TableError),
    /// A file or process could not be handled.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file or program.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `redis-benchmark`, the reference, failed or printed no figure.
    #[error("redis-benchmark: {0}")]
    RedisBenchmark(String),
    /// A `nas trainer` process failed.
    #[error("trainer process {worker}: {reason}")]
    Trainer {
        /// Its worker id.
        worker: String,
        /// What happened, with the tail of its stderr.
        reason: String,
    },
    /// A search or job ended other than with a result.
    #[error("{0}")]
    Incomplete(String),
    /// A phase ran past its time limit.
    #[error("{what} did not finish within {:.0} s", limit.as_secs_f64())]
    Timeout {
        /// The phase.
        what: String,
        /// Its limit.
        limit: Duration,
    },
}

impl BenchError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
