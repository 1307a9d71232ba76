//! DARTS (Liu, Simonyan & Yang 2019): differentiable architecture search by
//! continuous relaxation and bilevel optimization, over the DARTS cell
//! space or the NAS-Bench-201 cell space.
//!
//! A [`Supernet`] puts every op of the space on every edge of its cells,
//! mixed by softmax(α) (module `mixed`); α is kept apart from the weights w.
//! [`search()`] alternates α steps on one half of the training data (Adam on
//! the first- or second-order gradient of [`bilevel`]) with weight steps on
//! the other (SGD), and [`mod@derive`] turns α into a genotype of the space.
//! [`job`] runs a search as a queue job for the trainer's evaluator.
//!
//! Module map: `darts_net` (the DARTS supernet, the reference's
//! `cnn/model_search.py`), `nb201_net` (NAS-Bench-201's `TinyNetworkDarts`),
//! `mixed` (one mixed edge), `supernet` (w and α together), `bilevel`,
//! `derive`, `search`, `job`.

pub mod bilevel;
mod darts_net;
pub mod derive;
pub mod job;
mod mixed;
mod nb201_net;
pub mod search;
mod supernet;

pub use darts_net::{darts_edges, DARTS_EDGES};
pub use derive::DeriveError;
pub use search::{search, DartsEpoch, DartsReport, DartsRun};
pub use supernet::{
    alpha_shape, edge_labels, op_names, supernet_params, Supernet, SupernetConfig, ALPHA_INIT_STD,
};

use crate::model::ModelError;
use queue::wire::SettingError;
use space::SpaceKind;
use std::path::PathBuf;
use thiserror::Error;

/// Why a DARTS search stopped without a result.
#[derive(Debug, Error)]
pub enum DartsError {
    /// A setting is out of range; the error names it.
    #[error("settings: {0}")]
    Settings(#[from] SettingError),
    /// The space has no supernet.
    #[error(
        "the {0} space has no DARTS supernet; DARTS searches the darts, nb201 and seq cell spaces"
    )]
    Space(SpaceKind),
    /// The supernet cannot be built for these settings and data.
    #[error("supernet: {0}")]
    Model(#[from] ModelError),
    /// The data cannot be batched with these settings.
    #[error("data: {0}")]
    Data(#[from] data::DataError),
    /// α does not stand for an architecture (NaN, wrong shape).
    #[error("derivation: {0}")]
    Derive(#[from] DeriveError),
    /// libtorch failed (out of memory, a shape error).
    #[error("libtorch: {0}")]
    Torch(String),
    /// `darts.json` could not be written.
    #[error("writing {path}: {reason}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The I/O error, as the OS words it.
        reason: String,
    },
    /// Asked to stop (shutdown, lost lease).
    #[error("cancelled")]
    Cancelled,
}

impl From<tch::TchError> for DartsError {
    fn from(e: tch::TchError) -> Self {
        DartsError::Torch(e.to_string())
    }
}
