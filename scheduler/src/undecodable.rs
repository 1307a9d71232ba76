//! `undecodable.jsonl`: the entries of a search's result log that did not
//! decode, kept as they were for inspection while the search goes on
//! without them (issue 15).

use crate::run::{append_synced, StepError};
use queue::Undecodable;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The append-only `<results>/<search>/undecodable.jsonl` of one search, one
/// [`Undecodable`] a line, deduplicated by log index so that rereading the
/// log after a crash writes no line twice.
#[derive(Debug)]
pub(crate) struct UndecodableLog {
    /// The file.
    path: PathBuf,
    /// Log indices already in it.
    seen: HashSet<u64>,
}

impl UndecodableLog {
    /// The file of `search` under `dir` (created on the first append).
    pub(crate) fn open(dir: &Path, search: &str) -> Result<Self, StepError> {
        let path = dir.join(search).join("undecodable.jsonl");
        let mut seen = HashSet::new();
        if let Ok(f) = std::fs::File::open(&path) {
            for line in std::io::BufReader::new(f).lines() {
                let line = line.map_err(|source| StepError::Log {
                    path: path.clone(),
                    source,
                })?;
                // A torn last line is written again when it is reread.
                if let Ok(u) = serde_json::from_str::<Undecodable>(&line) {
                    seen.insert(u.index);
                }
            }
        }
        Ok(Self { path, seen })
    }

    /// Keep `u`, unless it is already kept.
    pub(crate) fn append(&mut self, u: &Undecodable) -> Result<(), StepError> {
        if self.seen.contains(&u.index) {
            return Ok(());
        }
        let mut text = serde_json::to_string(u).expect("serializable");
        text.push('\n');
        append_synced(&self.path, &text)?;
        self.seen.insert(u.index);
        Ok(())
    }
}
