//! Retention: nothing stays in Redis for good. A search that finishes joins
//! the store's retiring list (in the same step as its last checkpoint); the
//! scheduler then archives its state into the results folder (next to the
//! `evaluations.jsonl` the run wrote), and lets its records in the store and
//! the queue expire after the retention time (7 days by default). A sweep
//! every minute clears what shared indexes held of expired searches and the
//! heartbeats of workers silent for a day. `nas gc` removes what finished
//! searches left at once.
//!
//! Crash safety: a search leaves the retiring list last, after its archive
//! is written and its expiries set; a scheduler that dies in between does
//! it all again (each step is idempotent).

use crate::file_store::FileStore;
use crate::state::SearchState;
use crate::store::{Store, StoreError};
use queue::{Queue, QueueError, Swept};
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// How long a finished search's records stay in Redis by default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Workers not heard from for this long are dropped from the worker list.
pub const SILENT_WORKERS: Duration = Duration::from_secs(24 * 3600);

/// How often the scheduler retires finished searches and sweeps.
pub const TIDY_EVERY: Duration = Duration::from_secs(60);

/// Why tidying failed; the scheduler retries at the next round.
#[derive(Debug, Error)]
pub enum TidyError {
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The store failed, or the archive could not be written.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What one tidy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tidied {
    /// Searches archived and set to expire.
    pub retired: Vec<String>,
    /// What the queue's sweep cleared.
    pub swept: Swept,
    /// Expired searches dropped from the list of searches.
    pub forgotten: u64,
}

/// Archive and retire every finished search on the store's retiring list,
/// keeping its records for `keep`; then sweep the queue and the store.
pub async fn tidy(
    results_dir: &Path,
    keep: Duration,
    queue: &dyn Queue,
    store: &dyn Store,
) -> Result<Tidied, TidyError> {
    let archive = FileStore::new(results_dir);
    let mut out = Tidied::default();
    for id in store.retiring().await? {
        // A search id names its archive folder; one that is not an id
        // (written to Redis by hand) is retired without an archive.
        let dir = match archive.search_dir(&id) {
            Ok(dir) => Some(dir),
            Err(e) => {
                tracing::warn!(search = %id, error = %e, "not archiving a search whose id is not one");
                None
            }
        };
        if let (Some(_), Some(state)) = (&dir, store.load(&id).await?) {
            archive.write_state(&state)?;
        }
        queue.retire(&id, keep).await?;
        store.retire(&id, keep).await?;
        tracing::info!(
            search = %id,
            archive = %dir.as_deref().map_or("none".into(), |d| d.display().to_string()),
            keep_hours = keep.as_secs_f64() / 3600.0,
            "search archived; its records in Redis expire after the retention time"
        );
        out.retired.push(id);
    }
    out.swept = queue.sweep(SILENT_WORKERS).await?;
    out.forgotten = store.sweep().await?;
    if out.swept != Swept::default() || out.forgotten > 0 {
        tracing::info!(swept = ?out.swept, forgotten = out.forgotten, "swept what expired searches and silent workers left");
    }
    Ok(out)
}

/// One finished search as `nas gc` sees it.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// The search's state.
    pub state: SearchState,
    /// False while the scheduler has not archived it yet: `nas gc` leaves
    /// it alone unless forced.
    pub archived: bool,
}

/// The finished and cancelled searches whose records are still in the
/// store, oldest first.
pub async fn leftovers(store: &dyn Store) -> Result<Vec<Leftover>, StoreError> {
    let retiring = store.retiring().await?;
    Ok(store
        .searches()
        .await?
        .into_iter()
        .filter(|s| s.status.is_terminal())
        .map(|state| Leftover {
            archived: !retiring.contains(&state.id),
            state,
        })
        .collect())
}

/// Remove a finished search's records from the store and the queue now,
/// and sweep what shared indexes held of it.
pub async fn remove_now(id: &str, queue: &dyn Queue, store: &dyn Store) -> Result<(), TidyError> {
    queue.retire(id, Duration::ZERO).await?;
    store.retire(id, Duration::ZERO).await?;
    Ok(())
}

/// Sweep the queue and the store (after [`remove_now`]).
pub async fn sweep(queue: &dyn Queue, store: &dyn Store) -> Result<(Swept, u64), TidyError> {
    Ok((queue.sweep(SILENT_WORKERS).await?, store.sweep().await?))
}
