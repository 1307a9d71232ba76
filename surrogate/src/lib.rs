//! The PNAS surrogate (Liu et al. 2018): predictors of a candidate's
//! accuracy from its genotype, and the service that ranks candidates with
//! them before a search spends training on them.
//!
//! - [`encode`]: every space's genotypes as token sequences.
//! - [`Surrogate`]: an LSTM or an MLP ensemble over those tokens, fitted
//!   with Adam on the scaled accuracy ([`Surrogate::fit`], [`Surrogate::refit`])
//!   and scoring candidates in batches ([`Surrogate::predict`]).
//! - [`rank_corr`]: Kendall's tau-b and Spearman's rho; [`mod@bench`]: how well
//!   the predictors rank NAS-Bench-201 cells they were not fitted on.
//! - [`run`]: the ranking service, replicas that pop [`wire::RankRequest`]s
//!   from Redis and push [`wire::RankReply`]s; [`client::rank`] is its
//!   client, and [`Ranker`] the one interface a strategy uses, in process
//!   ([`InProcessRanker`]) or over Redis ([`RedisRanker`]).
//!
//! Architecture invariant: libtorch never runs on the async runtime. Fits and
//! predictions run on blocking threads, so a long fit cannot stall the
//! service's Redis traffic; a libtorch error or panic fails one request.
//! Fits draw every random number from `space::rng` with the caller's seed,
//! never from libtorch's global generator: the same request gives the same
//! scores on every replica.

pub mod bench;
pub mod client;
pub mod encode;
mod engine;
pub mod features;
mod model;
mod predictor;
pub mod rank_corr;
mod ranker;
mod service;
pub mod wire;

pub use engine::EngineConfig;
pub use features::Encoding;
pub use predictor::{FitConfig, PredictorKind, Score, Surrogate};
pub use ranker::{InProcessRanker, RankOptions, Ranker, RedisRanker};
pub use service::{run, ServiceConfig, ServiceReport};

use thiserror::Error;

/// Scores for a list of candidates, in their order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ranking {
    /// Predicted accuracy in percent, one per candidate.
    pub scores: Vec<f64>,
    /// The ensemble's spread in points, one per candidate (0 for the LSTM).
    pub spreads: Vec<f64>,
    /// The number of results the model was fitted on.
    pub version: usize,
}

impl Ranking {
    /// Candidate indices, best predicted first (ties by index).
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.scores.len()).collect();
        order.sort_by(|&a, &b| self.scores[b].total_cmp(&self.scores[a]).then(a.cmp(&b)));
        order
    }
}

/// Everything that can go wrong in this crate, naming the thing.
#[derive(Debug, Error)]
pub enum SurrogateError {
    /// A fit was asked for with no results to fit on.
    #[error("no training results to fit the surrogate on")]
    NoTrainingData,
    /// A training pair that cannot be used.
    #[error("training result {index}: {reason}")]
    Training {
        /// Its position.
        index: usize,
        /// What is wrong with it (a genotype of another space, a
        /// non-finite accuracy).
        reason: String,
    },
    /// A candidate that cannot be scored.
    #[error("candidate {index}: {reason}")]
    Candidate {
        /// Its position.
        index: usize,
        /// What is wrong with it (a genotype of another space).
        reason: String,
    },
    /// A setting out of range.
    #[error("surrogate config: {0}")]
    Config(String),
    /// The training loss became NaN or infinite.
    #[error("the fit diverged in epoch {epoch}")]
    Diverged {
        /// The epoch it happened in.
        epoch: usize,
    },
    /// libtorch refused an operation.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A fit or prediction panicked (a bug); only its request fails.
    #[error("the {what} panicked: {message}")]
    Panicked {
        /// `fit` or `prediction`.
        what: &'static str,
        /// The panic's message.
        message: String,
    },
    /// A request that the service would refuse, or a reply that cannot be read.
    #[error(transparent)]
    Request(#[from] wire::RequestError),
    /// The service answered with an error.
    #[error("surrogate request {request_id}: {reason}")]
    Remote {
        /// The request.
        request_id: String,
        /// The service's reason.
        reason: String,
    },
    /// No reply came, even after the retry.
    #[error("surrogate request {request_id}: no reply after {attempts} tries of {timeout_ms} ms (is a `nas surrogate` replica running?)")]
    Timeout {
        /// The request.
        request_id: String,
        /// How many times it was sent.
        attempts: u32,
        /// How long each try waited.
        timeout_ms: u64,
    },
    /// Redis failed a command.
    #[error("redis ({key}): {source}")]
    Redis {
        /// The key the command was about.
        key: String,
        /// The error.
        source: redis::RedisError,
    },
    /// Redis could not be reached.
    #[error("cannot reach redis at {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The error.
        source: queue::QueueError,
    },
    /// The NAS-Bench-201 table could not be read.
    #[error(transparent)]
    Table(#[from] nb201::TableError),
}

impl SurrogateError {
    pub(crate) fn redis(key: &str) -> impl FnOnce(redis::RedisError) -> Self + '_ {
        move |source| SurrogateError::Redis {
            key: key.to_string(),
            source,
        }
    }
}
