//! Search records in a folder, for the embedded single-process mode (`nas
//! search`): `<dir>/<search>/state.json`, written atomically at every
//! checkpoint, next to the `evaluations.jsonl` the run appends to. A search
//! stopped by Ctrl-C (or a crash) resumes from these files.

use crate::state::{Evaluation, SearchState};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Search records under one folder. One process drives them: it always leads.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Records under `dir` (created as needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder of one search; an id that is not a search id (`..`,
    /// `a/b`) is refused, as it would name a folder outside `dir`.
    pub fn search_dir(&self, id: &str) -> Result<PathBuf, StoreError> {
        queue::wire::validate_search_id("search", id).map_err(StoreError::InvalidId)?;
        Ok(self.dir.join(id))
    }

    fn state_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.search_dir(id)?.join("state.json"))
    }

    fn io(path: &Path, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            id: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Write `state` as the search's `state.json` (atomically): how the
    /// scheduler archives a finished search of a Redis deployment into its
    /// results folder, in the layout `nas export --results` reads.
    pub fn write_state(&self, state: &SearchState) -> Result<(), StoreError> {
        let dir = self.search_dir(&state.id)?;
        std::fs::create_dir_all(&dir).map_err(|e| Self::io(&dir, e))?;
        let path = dir.join("state.json");
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(state).expect("state serializes");
        std::fs::write(&tmp, json).map_err(|e| Self::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Self::io(&path, e))
    }

    fn ids(&self) -> Result<Vec<String>, StoreError> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("state.json").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            // Folders that are not named by a search id are not searches.
            .filter(|id| queue::wire::validate_search_id("search", id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl Store for FileStore {
    async fn submit(&self, state: &SearchState) -> Result<(), StoreError> {
        if self.state_path(&state.id)?.exists() {
            return Err(StoreError::Exists(state.id.clone()));
        }
        self.write_state(state)
    }

    async fn active(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Some(s) = self.load(&id).await? {
                if !s.status.is_terminal() {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    async fn load(&self, id: &str) -> Result<Option<SearchState>, StoreError> {
        let path = self.state_path(id)?;
        let Ok(text) = std::fs::read(&path) else {
            return Ok(None);
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                id: id.to_string(),
                reason: format!("{}: {e}", path.display()),
            })
    }

    async fn checkpoint(
        &self,
        state: &SearchState,
        _evals: &[Evaluation],
    ) -> Result<(), StoreError> {
        // The run has appended the evaluations to evaluations.jsonl already.
        self.write_state(state)
    }

    async fn cancel_requested(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.search_dir(id)?.join("cancel").exists())
    }

    async fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        if !self.state_path(id)?.exists() {
            return Ok(false);
        }
        let path = self.search_dir(id)?.join("cancel");
        std::fs::write(&path, b"").map_err(|e| Self::io(&path, e))?;
        Ok(true)
    }

    async fn evaluations(
        &self,
        id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Evaluation>, StoreError> {
        let path = self.search_dir(id)?.join("evaluations.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(Vec::new());
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<Evaluation>(l).ok())
            .skip(from as usize)
            .take(max)
            .collect())
    }

    async fn searches(&self) -> Result<Vec<SearchState>, StoreError> {
        let mut out = Vec::new();
        for id in self.ids()? {
            if let Some(s) = self.load(&id).await? {
                out.push(s);
            }
        }
        out.sort_by_key(|s| s.created_ms);
        Ok(out)
    }

    async fn lead(&self, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn server_run(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    // The folder is the archive: a finished search stays in it until its
    // owner deletes it, so nothing is ever retiring.
    async fn retiring(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    async fn retire(&self, _id: &str, _keep: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, defect 9: a search's folder is named by its id; ids that
    /// would name a folder outside the store's are refused, naming the id.
    #[test]
    fn search_folders_refuse_ids_that_leave_the_store() {
        let store = FileStore::new("/srv/results");
        for bad in ["..", "a/b", "../x", ".", "Upper"] {
            let err = store.search_dir(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("search id {bad:?}")), "{err}");
        }
        assert_eq!(
            store.search_dir("s-1").unwrap(),
            Path::new("/srv/results/s-1")
        );
    }
}
