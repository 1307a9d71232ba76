//! The wire boundary: every message that crosses Redis, in one place. Jobs
//! travel in a versioned [`Envelope`] ([`envelope`]) carrying a payload
//! ([`job`]: what to evaluate, on which data, with which [`settings`]);
//! results as [`JobResult`] ([`result`]); a running job's latest progress
//! as a [`ProgressNote`] ([`progress`]). Both sides validate: producers
//! encode only what passes validation, consumers decode through the
//! `decode` functions, which reject unknown versions, oversized and
//! malformed messages with a reason.

pub mod envelope;
pub mod id;
pub mod job;
pub mod progress;
pub mod result;
pub mod settings;
pub mod worker;

pub use envelope::{Envelope, JobKind, MAX_PAYLOAD_BYTES, SCHEMA_VERSION};
pub use id::{
    hostname, process_id, validate_id, validate_job_id, validate_search_id, JobId, JOB_SEQ_DIGITS,
    MAX_ID_LEN,
};
pub use job::{
    validate_entry, DartsJob, DataRef, EvalJob, EvaluatorSpec, Fidelity, Pool, MAX_ENTRY_LEN,
};
pub use progress::{DartsProgress, ProgressNote, TrainProgress, MAX_PROGRESS_BYTES};
pub use result::{
    cut_reason, JobResult, LogEntry, Outcome, ResultPage, Scores, Undecodable, MAX_REASON_BYTES,
    MAX_RESULT_BYTES,
};
pub use settings::{
    bounds, DartsOrder, DartsSettings, SettingError, TrainSettings, MAX_DARTS_EPOCHS,
};
pub use worker::{WorkerCard, WorkerSeen, MAX_CARD_BYTES};

use thiserror::Error;

/// Why a message was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WireError {
    /// The message says it is a version this build does not know.
    #[error("unknown schema version {found} (this build reads version {SCHEMA_VERSION})")]
    UnknownVersion {
        /// The version in the message.
        found: u64,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {bytes} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge {
        /// Size of the payload's JSON.
        bytes: usize,
    },
    /// The message is not well-formed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which kind of message.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A [`WireError::Malformed`] for a message of kind `what`.
pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> WireError {
    WireError::Malformed {
        what,
        reason: reason.into(),
    }
}
