//! The scheduler and a trainer as in-process services on the caller's tokio
//! runtime, each with its own Redis connection under a [`Workspace`]'s
//! prefix: the same `scheduler::run` and `trainer::run` that `nas
//! scheduler` and `nas trainer` call, without the process boundary.

use crate::{BenchError, Result, Workspace};
use scheduler::{RedisStore, SearchSpec, SearchState, Status, Store};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use trainer::TrainerReport;

/// How long stopped services may take to wind down.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// How often to look whether submitted searches have finished.
const POLL: Duration = Duration::from_millis(2);

/// What the in-process services run with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The trainer's job slots.
    pub slots: usize,
    /// Where the converted NAS-Bench-201 tables are.
    pub nb201_dir: PathBuf,
    /// The surrogate that ranking strategies (pnas, surrogate) ask.
    pub ranker: Option<Arc<dyn scheduler::rank::Ranker>>,
}

/// A running scheduler and trainer.
pub struct Services {
    /// Set to true to stop both.
    stop: watch::Sender<bool>,
    scheduler: JoinHandle<scheduler::Stopped>,
    trainer: JoinHandle<TrainerReport>,
    /// The scheduler's `evaluations.jsonl` files; deleted when dropped.
    _results_dir: tempfile::TempDir,
    /// Submits searches and reads their state, over the workspace's
    /// client connection.
    store: RedisStore,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("results_dir", &self._results_dir.path())
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Start a scheduler and a trainer under `ws`'s prefix.
    pub async fn start(ws: &Workspace, config: &ServiceConfig) -> Result<Self> {
        if config.slots == 0 {
            return Err(BenchError::Config("--slots must be at least 1".into()));
        }
        let results_dir = tempfile::Builder::new()
            .prefix("nas-bench-results-")
            .tempdir()
            .map_err(BenchError::io("creating a folder for evaluation logs"))?;
        let (stop, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };

        let sched_queue = ws.connect().await?;
        let sched_store = Arc::new(RedisStore::new(
            &sched_queue,
            format!("{}-scheduler", ws.prefix()),
        ));
        let sched_config = scheduler::SchedulerConfig {
            ranker: config.ranker.clone(),
            results_dir: results_dir.path().to_path_buf(),
            ..Default::default()
        };
        let scheduler = tokio::spawn(scheduler::run(
            sched_config,
            Arc::new(sched_queue),
            sched_store,
            stopped(),
        ));

        let trainer_queue = ws.connect().await?;
        let trainer_config = trainer::TrainerConfig {
            worker_id: format!("{}-trainer", ws.prefix()),
            slots: config.slots,
            evaluators: trainer::EvaluatorConfig {
                nb201_dir: config.nb201_dir.clone(),
                slots: config.slots,
                ..Default::default()
            },
            ..Default::default()
        };
        let trainer = tokio::spawn(trainer::run(
            trainer_config,
            Arc::new(trainer_queue),
            stopped(),
        ));

        Ok(Self {
            stop,
            scheduler,
            trainer,
            _results_dir: results_dir,
            store: RedisStore::new(ws.queue(), format!("{}-client", ws.prefix())),
        })
    }

    /// Every evaluation of search `id`, in the order the scheduler
    /// consumed them.
    pub async fn evaluations(&self, id: &str) -> Result<Vec<scheduler::Evaluation>> {
        scheduler::client::results(&self.store, id)
            .await
            .map_err(|e| BenchError::Incomplete(format!("reading the evaluations of {id}: {e}")))
    }

    /// Submit `specs` and wait until every one of them has finished;
    /// returns their final states in the order given. A search that ends
    /// other than done is an error naming it.
    pub async fn search_all(&self, specs: Vec<SearchSpec>) -> Result<Vec<SearchState>> {
        let mut ids = Vec::with_capacity(specs.len());
        for spec in specs {
            ids.push(scheduler::client::submit(&self.store, spec).await?);
        }
        let mut waiting: HashSet<&str> = ids.iter().map(String::as_str).collect();
        while !waiting.is_empty() {
            tokio::time::sleep(POLL).await;
            let active: HashSet<String> = self.store.active().await?.into_iter().collect();
            waiting.retain(|id| active.contains(*id));
        }
        let mut states = Vec::with_capacity(ids.len());
        for id in &ids {
            let state = self
                .store
                .load(id)
                .await?
                .ok_or_else(|| BenchError::Incomplete(format!("search {id} has no record")))?;
            match &state.status {
                Status::Done => {}
                Status::Failed { reason } => {
                    return Err(BenchError::Incomplete(format!(
                        "search {id} failed: {reason}"
                    )))
                }
                other => {
                    return Err(BenchError::Incomplete(format!(
                        "search {id} ended {}",
                        other.word()
                    )))
                }
            }
            states.push(state);
        }
        Ok(states)
    }

    /// The store searches are submitted to.
    pub fn store(&self) -> &RedisStore {
        &self.store
    }

    /// Stop both services and wait for them; returns the trainer's report.
    pub async fn stop(mut self) -> Result<TrainerReport> {
        let _ = self.stop.send(true);
        let joined = tokio::time::timeout(STOP_LIMIT, async {
            let scheduler = (&mut self.scheduler).await;
            let trainer = (&mut self.trainer).await;
            (scheduler, trainer)
        })
        .await
        .map_err(|_| BenchError::Timeout {
            what: "stopping the in-process scheduler and trainer".into(),
            limit: STOP_LIMIT,
        })?;
        match joined {
            (Ok(scheduler::Stopped::Shutdown), Ok(report)) => Ok(report),
            (Ok(scheduler::Stopped::FunctionsChanged(reason)), _) => Err(BenchError::Incomplete(
                format!("the scheduler stopped: {reason}"),
            )),
            (Err(e), _) => Err(BenchError::Incomplete(format!(
                "the scheduler task ended abnormally: {e}"
            ))),
            (_, Err(e)) => Err(BenchError::Incomplete(format!(
                "the trainer task ended abnormally: {e}"
            ))),
        }
    }
}

impl Drop for Services {
    /// Services dropped without [`Services::stop`] (a benchmark that failed
    /// or ran out of time) are still told to stop, and end by themselves.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
