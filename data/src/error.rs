//! The one error type of the crate: every failure names the file (and, for a
//! corrupt file, the byte offset) or the setting that is wrong.

use std::path::PathBuf;

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
    /// The format of a folder could not be told from the files in it.
    #[error("cannot tell the dataset format of {}: {reason}", path.display())]
    Detect {
        /// The folder.
        path: PathBuf,
        /// What was found and what was looked for.
        reason: String,
    },
    /// A format name that is not one of ours.
    #[error("unknown dataset format {name:?}: expected idx, cifar10, cifar100 or image_folder")]
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

    /// An [`DataError::Invalid`] for `path`.
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
