//! The checkpoint files training runs and DARTS searches share: a tensor
//! file named by its generation (the epoch it was saved after) and a JSON
//! record that names it. Each is written under a temporary name, synced and
//! renamed, the record last, so the record always names a complete tensor
//! file of the same generation, whatever moment a crash comes at. The record
//! carries a key naming what was being trained; a record with another key,
//! or one that cannot be read, is passed over with a warning (a fresh
//! start), never mistaken for this run's.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A checkpoint's files in one folder: `<stem>-<generation>.safetensors`
/// and `<stem>.json`.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    dir: PathBuf,
    stem: String,
}

/// A failed checkpoint write: the file and why.
pub(crate) type WriteError = (PathBuf, String);

/// The record on disk: the tensor file it goes with, and the run's own
/// record.
#[derive(Serialize, Deserialize)]
struct Record<M> {
    tensors: String,
    meta: M,
}

impl Files {
    /// The checkpoint named `stem` in `dir`.
    pub fn new(dir: &Path, stem: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            stem: stem.to_string(),
        }
    }

    pub fn record_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stem))
    }

    /// Tensor files of this checkpoint, of any generation.
    fn tensor_files(&self) -> Vec<PathBuf> {
        let prefix = format!("{}-", self.stem);
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".safetensors"))
            })
            .collect()
    }

    /// Write generation `generation`: the tensors with `write` (given the
    /// temporary path), then the record naming them; then drop older
    /// generations.
    pub fn save<M: Serialize>(
        &self,
        generation: u64,
        write: impl FnOnce(&Path) -> Result<(), String>,
        meta: &M,
    ) -> Result<(), WriteError> {
        let err = |p: &Path, e: String| (p.to_path_buf(), e);
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e.to_string()))?;
        let name = format!("{}-{generation}.safetensors", self.stem);
        let tensors = self.dir.join(&name);
        // The extension tells libtorch's savers which format to write.
        let tmp = self
            .dir
            .join(format!("{}-{generation}.tmp.safetensors", self.stem));
        write(&tmp).map_err(|e| err(&tmp, e))?;
        sync(&tmp).map_err(|e| err(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, &tensors).map_err(|e| err(&tensors, e.to_string()))?;
        let record = self.record_path();
        let tmp = record.with_extension("json.tmp");
        let text = serde_json::to_vec(&Record {
            tensors: name,
            meta,
        })
        .expect("a record serializes");
        std::fs::write(&tmp, text).map_err(|e| err(&tmp, e.to_string()))?;
        sync(&tmp).map_err(|e| err(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, &record).map_err(|e| err(&record, e.to_string()))?;
        sync(&self.dir).map_err(|e| err(&self.dir, e.to_string()))?;
        for old in self.tensor_files() {
            if old != tensors {
                let _ = std::fs::remove_file(old);
            }
        }
        Ok(())
    }

    /// The record and the path of its tensors, if there is a record with
    /// `key` (as `key_of` reads it) whose tensor file exists.
    pub fn load<M: DeserializeOwned>(
        &self,
        key: &str,
        key_of: impl Fn(&M) -> &str,
    ) -> Option<(M, PathBuf)> {
        let path = self.record_path();
        let text = std::fs::read(&path).ok()?;
        let record: Record<M> = match serde_json::from_slice(&text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable checkpoint; starting afresh");
                return None;
            }
        };
        if key_of(&record.meta) != key {
            tracing::warn!(dir = %self.dir.display(), "ignoring the checkpoint of another run; starting afresh");
            return None;
        }
        let tensors = self.dir.join(&record.tensors);
        if !tensors.is_file() {
            tracing::warn!(file = %tensors.display(), "the checkpoint's tensor file is missing; starting afresh");
            return None;
        }
        Some((record.meta, tensors))
    }

    /// Remove every file of the checkpoint (the run is over, or its state
    /// is unusable).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(self.record_path());
        for f in self.tensor_files() {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Flush a file's (or a folder's) contents to disk.
fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}
