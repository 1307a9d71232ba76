//! What the command line asks of a running system: submit a search, see
//! where searches stand, read results, cancel, replay dead-lettered jobs.

use crate::spec::SearchSpec;
use crate::state::{Evaluation, SearchState, Stage};
use crate::store::{Store, StoreError};
use queue::wire::ProgressNote;
use queue::{Queue, QueueError, SearchCounts};
use std::time::Duration;
use thiserror::Error;

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The spec cannot run.
    #[error("{0}")]
    Spec(String),
    /// No search with this id.
    #[error("no search {0}")]
    NoSuchSearch(String),
}

/// Submit a search; returns its id.
pub async fn submit(store: &dyn Store, spec: SearchSpec) -> Result<String, ClientError> {
    spec.validate()
        .map_err(|e| ClientError::Spec(e.to_string()))?;
    let id = spec.new_id();
    let state = SearchState::new(id.clone(), spec).map_err(|e| ClientError::Spec(e.to_string()))?;
    store.submit(&state).await?;
    Ok(id)
}

/// One search's standing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchStatus {
    /// The search's state.
    pub state: SearchState,
    /// Its jobs in the queue.
    pub counts: SearchCounts,
    /// Results per second since submission (or until it finished).
    pub rate: f64,
    /// Seconds to go at that rate, while running.
    pub eta_s: Option<f64>,
    /// The last progress notes of its unfinished jobs (a DARTS search's
    /// epoch, α and current cell; a training run's step), and of its DARTS
    /// supernet search once that has ended (α as it ended).
    pub notes: Vec<JobNote>,
}

/// The last progress note of one unfinished job.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobNote {
    /// The job.
    pub job_id: String,
    /// Which part of the search it belongs to.
    pub stage: Stage,
    /// The candidate's canonical text (empty for a supernet search).
    pub genotype: String,
    /// The note, as the trainer wrote it.
    pub note: ProgressNote,
}

/// The standing of one search, or of all when `id` is `None`, and the
/// trainers seen in the last 10 seconds.
pub async fn status(
    store: &dyn Store,
    queue: &dyn Queue,
    id: Option<&str>,
) -> Result<(Vec<SearchStatus>, Vec<String>), ClientError> {
    let states = match id {
        Some(id) => vec![store
            .load(id)
            .await?
            .ok_or_else(|| ClientError::NoSuchSearch(id.into()))?],
        None => store.searches().await?,
    };
    let mut out = Vec::with_capacity(states.len());
    for state in states {
        let counts = queue.counts(&state.id).await?;
        let end = state.finished_ms.unwrap_or_else(queue::now_ms);
        let secs = (end.saturating_sub(state.created_ms) as f64 / 1000.0).max(1e-3);
        let done = state.finished() as f64;
        let rate = done / secs;
        let left = state.spec.budget as f64 - done;
        let eta_s = (!state.status.is_terminal() && rate > 0.0).then(|| left.max(0.0) / rate);
        let mut jobs: Vec<(String, Stage, String)> = Vec::new();
        if let Some(e) = (state.best.as_ref()).filter(|e| e.stage == Stage::Supernet) {
            jobs.push((e.job_id.clone(), e.stage, e.genotype.clone()));
        }
        if !state.status.is_terminal() {
            let pending = state.pending.values();
            jobs.extend(
                pending.filter_map(|p| Some((p.job_id.clone()?, p.stage, p.genotype.clone()))),
            );
        }
        let mut notes = Vec::new();
        for (job_id, stage, genotype) in jobs {
            let Some(note) = queue.job_progress(&job_id).await? else {
                continue;
            };
            notes.push(JobNote {
                job_id,
                stage,
                genotype,
                note: ProgressNote::decode(&note)
                    .unwrap_or(ProgressNote::Other(serde_json::Value::String(note))),
            });
        }
        out.push(SearchStatus {
            state,
            counts,
            rate,
            eta_s,
            notes,
        });
    }
    let workers = queue.workers(Duration::from_secs(10)).await?;
    Ok((out, workers))
}

/// Every evaluation of a search, in order.
pub async fn results(store: &dyn Store, id: &str) -> Result<Vec<Evaluation>, ClientError> {
    if store.load(id).await?.is_none() {
        return Err(ClientError::NoSuchSearch(id.into()));
    }
    let mut out = Vec::new();
    loop {
        let page = store.evaluations(id, out.len() as u64, 1000).await?;
        if page.is_empty() {
            return Ok(out);
        }
        out.extend(page);
    }
}

/// Cancel a search: its queued jobs are dropped now, and the scheduler
/// marks it cancelled at its next step.
pub async fn cancel(store: &dyn Store, queue: &dyn Queue, id: &str) -> Result<u64, ClientError> {
    if !store.request_cancel(id).await? {
        return Err(ClientError::NoSuchSearch(id.into()));
    }
    Ok(queue.cancel(id).await?)
}

/// How many dead letters [`all_dead_letters`] reads at once.
pub const DEAD_LETTERS_PAGE: usize = 10_000;

/// Every dead letter, oldest first, read a page at a time to the end of
/// the list (a page may hold fewer than asked for, even none, when its
/// jobs' searches were retired and not yet swept: see
/// [`Queue::dead_letters`]).
pub async fn all_dead_letters(queue: &dyn Queue) -> Result<Vec<queue::DeadLetter>, QueueError> {
    dead_letters_in_pages(queue, DEAD_LETTERS_PAGE).await
}

/// [`all_dead_letters`], reading `page` entries at a time.
pub async fn dead_letters_in_pages(
    queue: &dyn Queue,
    page: usize,
) -> Result<Vec<queue::DeadLetter>, QueueError> {
    let end = queue.dead_letter_count().await?;
    let mut all = Vec::new();
    let mut from = 0;
    while from < end {
        all.extend(queue.dead_letters(from, page.max(1)).await?);
        from += page.max(1);
    }
    Ok(all)
}

/// What [`replay`] did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// Queued again with fresh attempts: its search runs and will take its
    /// result (or `force` was given, or no search of that id is recorded).
    Queued {
        /// The job's search.
        search: String,
    },
    /// Refused: its search has ended, so nothing would read the result;
    /// `force` replays it anyway.
    SearchEnded {
        /// The job's search.
        search: String,
        /// How it ended: done, cancelled or failed.
        status: &'static str,
    },
    /// Not in the dead-letter list.
    NotDead,
}

/// Queue dead-lettered jobs again with fresh attempts (`nas dlq replay`).
/// A job's search is the one its envelope names (whose result log its
/// result goes to), or the one it is stored under if the envelope does not
/// decode. A job whose search is running is replayed, and the search takes
/// its result as the candidate's (see [`crate::SearchState::dead`]); a job
/// of a search that has ended (done, cancelled, failed) is refused unless
/// `force`, and a cancelled search's is refused by the queue whatever
/// `force` says.
pub async fn replay(
    store: &dyn Store,
    queue: &dyn Queue,
    job_ids: &[String],
    force: bool,
) -> Result<Vec<(String, Replayed)>, ClientError> {
    let dead = all_dead_letters(queue).await?;
    let mut out = Vec::with_capacity(job_ids.len());
    for id in job_ids {
        let Some(d) = dead.iter().find(|d| d.job_id == *id) else {
            out.push((id.clone(), Replayed::NotDead));
            continue;
        };
        let search = queue::Envelope::decode(&d.envelope)
            .map(|e| e.search_id)
            .unwrap_or_else(|_| d.search_id.clone());
        let ended = store.load(&search).await?.map(|s| s.status);
        let outcome = match ended {
            Some(status) if status.is_terminal() && !force => Replayed::SearchEnded {
                search,
                status: status.word(),
            },
            _ => match queue.replay(id).await {
                Ok(true) => Replayed::Queued { search },
                Ok(false) => Replayed::NotDead,
                Err(QueueError::Cancelled(_)) => Replayed::SearchEnded {
                    search,
                    status: "cancelled",
                },
                Err(e) => return Err(e.into()),
            },
        };
        out.push((id.clone(), outcome));
    }
    Ok(out)
}
