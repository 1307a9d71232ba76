//! What can stop an export. Problems that leave the rest of the export
//! useful (no weights, no font for the plots) are warnings in the
//! [`crate::Report`] and the README instead.

use std::path::PathBuf;
use thiserror::Error;

/// Why an export failed.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The search has no evaluation with a score, so nothing to export.
    #[error("search {0} has no scored candidate to export")]
    NoWinner(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A picture could not be drawn.
    #[error("{path}: cannot draw: {reason}")]
    Draw {
        /// The picture's file.
        path: PathBuf,
        /// The plotting library's error.
        reason: String,
    },
    /// No font for the text of the plots.
    #[error("no font for the plots' text: set NAS_FONT to a .ttf file, or install fonts-dejavu-core (tried {})", .tried.join(", "))]
    NoFont {
        /// The files looked for.
        tried: Vec<String>,
    },
}

impl ExportError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;
