//! The checkpoint files training runs and DARTS searches share: a tensor
//! file and a JSON record beside it, each written under a temporary name
//! and renamed, so a reader never sees half of one. The record carries a
//! key naming what was being trained; a record with another key, or one
//! that cannot be read, is passed over with a warning (a fresh start), never
//! mistaken for this run's.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A checkpoint's two files in one folder.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    dir: PathBuf,
    /// The tensors (safetensors).
    pub tensors: PathBuf,
    /// The record (JSON).
    pub record: PathBuf,
}

/// A failed checkpoint write: the file and why.
pub(crate) type WriteError = (PathBuf, String);

impl Files {
    /// `<dir>/<stem>.safetensors` and `<dir>/<record>`.
    pub fn new(dir: &Path, tensors: &str, record: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            tensors: dir.join(tensors),
            record: dir.join(record),
        }
    }

    /// Write the tensors with `write` (given the temporary path), then the
    /// record.
    pub fn save<M: Serialize>(
        &self,
        write: impl FnOnce(&Path) -> Result<(), String>,
        record: &M,
    ) -> Result<(), WriteError> {
        let err = |p: &Path, e: String| (p.to_path_buf(), e);
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e.to_string()))?;
        let tmp = self.tensors.with_extension("tmp.safetensors");
        write(&tmp).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, &self.tensors).map_err(|e| err(&self.tensors, e.to_string()))?;
        let tmp = self.record.with_extension("tmp.json");
        std::fs::write(
            &tmp,
            serde_json::to_vec(record).expect("a record serializes"),
        )
        .map_err(|e| err(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, &self.record).map_err(|e| err(&self.record, e.to_string()))
    }

    /// The record, if there is one with `key` (as `key_of` reads it).
    pub fn record<M: DeserializeOwned>(&self, key: &str, key_of: impl Fn(&M) -> &str) -> Option<M> {
        let text = std::fs::read(&self.record).ok()?;
        let record: M = match serde_json::from_slice(&text) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(file = %self.record.display(), error = %e, "ignoring an unreadable checkpoint");
                return None;
            }
        };
        if key_of(&record) != key {
            tracing::warn!(dir = %self.dir.display(), "ignoring the checkpoint of another run");
            return None;
        }
        Some(record)
    }

    /// Remove both files (the run is over).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.record);
        let _ = std::fs::remove_file(&self.tensors);
    }
}
