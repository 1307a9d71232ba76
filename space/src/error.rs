//! The one error type of the space crate: what was wrong, and where.

use thiserror::Error;

/// A genotype or space setting that is not in the space.
///
/// `field` names the part of the genotype that is wrong (`"node 3 edge 1"`,
/// `"block 3 input 2"`, `"layer 4 filters"`, `"text at byte 17"`), `reason`
/// says why in lowercase words, so the message reads
/// `block 3 input 2: 5 refers to a block that does not exist`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct SpaceError {
    /// The part of the genotype or setting that is wrong.
    pub field: String,
    /// Why it is wrong.
    pub reason: String,
}

impl SpaceError {
    /// An error about `field`, for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = SpaceError> = std::result::Result<T, E>;
