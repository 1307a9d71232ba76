//! The one error type of the crate: every failure names the file (and, for a
//! corrupt file, the byte offset; for a text or table file, the line or row
//! and the column) or the setting that is wrong.

use std::fmt;
use std::path::PathBuf;

/// Where in a text or columnar file a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The whole file.
    File,
    /// A line of a text file, counting from 1 (a CSV header is line 1; a
    /// quoted field spanning lines is at the line where its record starts).
    Line(usize),
    /// A data row of a Parquet file, counting from 1.
    Row(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => Ok(()),
            Self::Line(n) => write!(f, ": line {n}"),
            Self::Row(n) => write!(f, ": row {n}"),
        }
    }
}

/// What went wrong while reading a dataset or setting up batches.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be opened or read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// A file's bytes are not what its format requires. For a gzip file the
    /// offset counts bytes of the decompressed stream.
    #[error(
        "{}: byte {offset}{}: {reason}",
        path.display(),
        if *decompressed { " (decompressed)" } else { "" }
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where in the file the problem is.
        offset: u64,
        /// Whether `offset` counts decompressed bytes of a gzip file.
        decompressed: bool,
        /// What is wrong there.
        reason: String,
    },
    /// An image file cannot be decoded or does not match the others.
    #[error("{}: {reason}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The dataset's folder is inconsistent: a missing file, an empty class.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A value, row or header of a text or table file is not what the format
    /// requires: a ragged row, a non-number where numbers are needed, a
    /// missing target, a `.ts` header that disagrees with its data.
    #[error(
        "{}{position}{}: {reason}",
        path.display(),
        column.as_ref().map(|c| format!(", column {c:?}")).unwrap_or_default()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line or row, if the problem has one.
        position: Position,
        /// The column's name, if the problem is in one column.
        column: Option<String>,
        /// What is wrong there.
        reason: String,
    },
    /// The format of a folder could not be told from the files in it.
    #[error("cannot tell the dataset format of {}: {reason}", path.display())]
    Detect {
        /// The folder.
        path: PathBuf,
        /// What was found and what was looked for.
        reason: String,
    },
    /// A format name that is not one of ours.
    #[error(
        "unknown dataset format {name:?}: expected idx, cifar10, cifar100, image_folder, \
         csv, parquet, ts or series_csv"
    )]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A loader setting out of range, or tensors that do not form a split.
    #[error("invalid argument: {0}")]
    Config(String),
    /// libtorch failed (out of memory, or a device that is not there).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            error,
        }
    }

    /// A [`DataError::Parse`] in `path` at `position`, in `column` if given.
    pub(crate) fn parse(
        path: impl Into<PathBuf>,
        position: Position,
        column: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        Self::Parse {
            path: path.into(),
            position,
            column: column.map(str::to_string),
            reason: reason.into(),
        }
    }

    /// An [`DataError::Invalid`] for `path`.
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
