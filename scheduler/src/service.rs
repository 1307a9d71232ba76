//! The scheduler daemon: takes the leader lock, picks up every active
//! search (new ones and, after a restart, the ones it was driving), and
//! steps each until it finishes.

use crate::run::Run;
use crate::state::Status;
use crate::store::Store;
use queue::Queue;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Settings of one scheduler process.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// The surrogate that strategies like PNAS rank candidates with; a
    /// search whose strategy needs one fails without it.
    pub ranker: Option<Arc<dyn crate::rank::Ranker>>,
    /// Folder with one subfolder per search (`evaluations.jsonl`).
    pub results_dir: PathBuf,
    /// Leader-lock lifetime; renewed every tick, so a crashed leader is
    /// replaced within it.
    pub lead_ttl: Duration,
    /// Longest pause between rounds while nothing happens. Rounds with
    /// progress follow each other at once; after one without, the pause
    /// starts at [`MIN_IDLE_PAUSE`] and doubles up to this.
    pub idle_tick: Duration,
    /// How long a finished search's records stay in Redis once it is
    /// archived into `results_dir` (see [`crate::retention`]); zero removes
    /// them at once.
    pub retention: Duration,
}

/// The first pause after a round without progress. Results that land just
/// after an empty round wait about this long, not a whole `idle_tick`;
/// a search waiting on long jobs still costs only a few rounds per tick.
pub const MIN_IDLE_PAUSE: Duration = Duration::from_millis(1);

impl std::fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("ranker", &self.ranker.is_some())
            .field("results_dir", &self.results_dir)
            .field("lead_ttl", &self.lead_ttl)
            .field("idle_tick", &self.idle_tick)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            ranker: None,
            results_dir: PathBuf::from("results"),
            lead_ttl: Duration::from_secs(3),
            idle_tick: Duration::from_millis(50),
            retention: crate::retention::DEFAULT_RETENTION,
        }
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown future resolved.
    Shutdown,
    /// The queue's functions in Redis became another version (`nas
    /// migrate-keys` of another build): two builds must never serve one
    /// queue, so this one stops.
    FunctionsChanged(String),
}

/// Drive searches until `shutdown` resolves. Redis trouble is logged and
/// retried with backoff; a search whose state is unusable is marked failed,
/// and the others go on.
pub async fn run(
    config: SchedulerConfig,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    let mut leading = false;
    let mut last_tidy: Option<std::time::Instant> = None;
    // Leadership is renewed by a task of its own, every third of its
    // lifetime, so that a long round (many searches, a slow surrogate fit)
    // never lets the lock lapse under a scheduler that is still working.
    // The same task notes which run of the server it talks to.
    let (lead_tx, lead_rx) = tokio::sync::watch::channel((false, None::<String>));
    // Set by the keeper when the queue's functions became another version.
    let (changed_tx, mut changed_rx) = tokio::sync::watch::channel(None::<String>);
    // The leader also tells the queue every period that Redis can be
    // reached, so that a fleet of busy trainers (renewing once a third of a
    // long lease) is never taken for an outage (a silence is how the queue
    // tells an outage from a dead trainer). It does not reap: how many
    // attempts a job gets is the trainers' setting (--max-attempts).
    let keeper = {
        let (store, queue, ttl) = (store.clone(), queue.clone(), config.lead_ttl);
        tokio::spawn(async move {
            loop {
                let lead = async {
                    Ok::<_, crate::store::StoreError>((
                        store.lead(ttl).await?,
                        store.server_run().await?,
                    ))
                };
                match lead.await {
                    Ok(now) => {
                        if now.0 {
                            if let Err(e) = queue.alive().await {
                                tracing::warn!(error = %e, "noting that Redis is reachable failed; retrying next period");
                            }
                        }
                        let _ = lead_tx.send(now);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "renewing the leader lock failed; retrying")
                    }
                }
                if let Err(e @ queue::QueueError::FunctionsVersion { .. }) =
                    queue.check_functions().await
                {
                    tracing::error!(error = %e, "stopping");
                    let _ = changed_tx.send(Some(e.to_string()));
                    break;
                }
                tokio::time::sleep(ttl / 3).await;
            }
        })
    };
    // The pause before the next round: none after progress; after a round
    // without, from MIN_IDLE_PAUSE doubling up to idle_tick; after Redis
    // trouble, from 100 ms doubling up to 5 s.
    let min_idle = MIN_IDLE_PAUSE.min(config.idle_tick);
    let mut idle = min_idle;
    let mut trouble = Duration::ZERO;
    let backoff = |d: Duration| (d * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
    tokio::pin!(shutdown);
    tracing::info!(results = %config.results_dir.display(), "scheduler started");
    let mut server_run: Option<String> = None;
    loop {
        let (leads, run) = lead_rx.borrow().clone();
        if let Some(run) = run {
            if server_run.as_ref().is_some_and(|known| *known != run) && !runs.is_empty() {
                // A restarted Redis may have come back without its last
                // second of writes: jobs enqueued, results and checkpoints
                // this scheduler holds in memory may be gone. Take every
                // search up again from what is stored; resuming enqueues
                // every pending candidate again (idempotent).
                tracing::warn!(
                    searches = runs.len(),
                    "Redis restarted; taking every search up again from the store, since a restart may lose its last second of writes"
                );
                runs.clear();
            }
            server_run = Some(run);
        }
        let pause = match round(
            &config,
            &*queue,
            &*store,
            &mut runs,
            &mut leading,
            leads,
            &mut last_tidy,
        )
        .await
        {
            Ok((true, false)) => {
                (idle, trouble) = (min_idle, Duration::ZERO);
                Duration::ZERO
            }
            Ok((false, false)) => {
                let pause = idle;
                (idle, trouble) = ((idle * 2).min(config.idle_tick), Duration::ZERO);
                pause
            }
            Ok((progressed, true)) => {
                trouble = backoff(trouble);
                if progressed {
                    Duration::ZERO
                } else {
                    trouble
                }
            }
            Err(e) => {
                trouble = backoff(trouble);
                tracing::warn!(error = %e, retry_in_ms = trouble.as_millis() as u64, "scheduler round failed; retrying");
                trouble
            }
        };
        if pause.is_zero() {
            // Straight on, but not past a shutdown; not through the timer,
            // whose 1 ms resolution would pace every busy round.
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = changed_rx.changed() => break,
                _ = tokio::task::yield_now() => {}
            }
        } else {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = changed_rx.changed() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
    keeper.abort();
    tracing::info!(searches = runs.len(), "scheduler stopped");
    let changed = changed_rx.borrow().clone();
    match changed {
        Some(reason) => Stopped::FunctionsChanged(reason),
        None => Stopped::Shutdown,
    }
}

/// One pass over every active search: (any progress, any transient trouble).
/// A search that finished, or [`crate::retention::TIDY_EVERY`] passed since
/// the last time, makes the round archive and retire finished searches too.
async fn round(
    config: &SchedulerConfig,
    queue: &dyn Queue,
    store: &dyn Store,
    runs: &mut BTreeMap<String, Run>,
    leading: &mut bool,
    leads: bool,
    last_tidy: &mut Option<std::time::Instant>,
) -> Result<(bool, bool), crate::store::StoreError> {
    if !leads {
        if *leading {
            tracing::warn!("lost the leader lock; another scheduler drives the searches now");
            runs.clear();
        } else if runs.is_empty() {
            tracing::debug!("waiting for the leader lock");
        }
        *leading = false;
        return Ok((false, false));
    }
    if !*leading {
        tracing::info!("leading: driving searches");
        *leading = true;
    }
    for id in store.active().await? {
        if runs.contains_key(&id) {
            continue;
        }
        // The id names the search's results folder: one that is not a
        // search id (written to Redis by hand) is left alone, not followed.
        if let Err(e) = queue::wire::validate_search_id("search", &id) {
            tracing::warn!(error = %e, "not taking up a search whose id is not one");
            continue;
        }
        let Some(state) = store.load(&id).await? else {
            continue;
        };
        if state.id != id {
            tracing::warn!(search = %id, stored = %state.id, "not taking up a search whose state names another id");
            continue;
        }
        let resumed = state.cursor > 0 || !state.pending.is_empty();
        match Run::open(state, &config.results_dir) {
            Ok(run) => {
                tracing::info!(search = %id, resumed, "search taken up");
                runs.insert(id, run);
            }
            Err(e) => {
                tracing::warn!(search = %id, error = %e, "cannot take the search up; will retry")
            }
        }
    }
    let (mut progressed, mut trouble) = (false, false);
    let mut finished = Vec::new();
    let mut reload = Vec::new();
    for (id, run) in runs.iter_mut() {
        match run.step(queue, store, config.ranker.as_deref()).await {
            Ok(r) => progressed |= r.results > 0 || r.enqueued > 0,
            Err(e) if e.is_transient() => {
                // The step may have moved the in-memory state past the last
                // checkpoint (results consumed, proposals made) before it
                // failed; drop it and take the search up again from what
                // was persisted, which the resume path makes whole.
                tracing::warn!(search = %id, error = %e, "step failed; reloading the search from its last checkpoint");
                trouble = true;
                reload.push(id.clone());
            }
            Err(e) => {
                tracing::error!(search = %id, error = %e, "search failed");
                run.state.status = Status::Failed {
                    reason: e.to_string(),
                };
                run.state.finished_ms = Some(queue::now_ms());
                store.checkpoint(&run.state, &[]).await?;
            }
        }
        if run.state.status.is_terminal() {
            finished.push(id.clone());
        }
    }
    for id in reload {
        runs.remove(&id);
    }
    let due = last_tidy.is_none_or(|t| t.elapsed() >= crate::retention::TIDY_EVERY);
    if due || !finished.is_empty() {
        match crate::retention::tidy(&config.results_dir, config.retention, queue, store).await {
            Ok(_) => *last_tidy = Some(std::time::Instant::now()),
            Err(e) => {
                tracing::warn!(error = %e, "archiving and retiring finished searches failed; retrying next round");
                trouble = true;
            }
        }
    }
    for id in finished {
        if let Some(run) = runs.remove(&id) {
            let s = &run.state;
            let best = s.best.as_ref();
            tracing::info!(
                search = %id,
                status = s.status.word(),
                evaluated = s.evaluated,
                failed = s.failed,
                best_acc = best.and_then(|b| b.val_acc()),
                best = best.map(|b| b.genotype.as_str()),
                "search finished"
            );
        }
    }
    Ok((progressed, trouble))
}
