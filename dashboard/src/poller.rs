//! The one shared poller: every `poll` it reads the deployment's searches,
//! their queue counts, running jobs' progress notes, the fleet and the
//! dead letters, and publishes one [`Snapshot`] on a watch channel. Every
//! open page (through `/api/events`) and every API call reads that
//! snapshot, so Redis sees one poller however many pages are open.

use queue::wire::{DartsProgress, ProgressNote, WorkerSeen};
use queue::{DeadLetter, Queue, SearchCounts};
use scheduler::{SearchState, Store};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Workers whose last heartbeat is older are not shown.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(10);

/// Most dead letters a snapshot carries (the count is always exact).
pub const DEAD_LETTERS_SHOWN: usize = 200;

/// One search's row on the searches page.
#[derive(Debug, Clone, Serialize)]
pub struct SearchRow {
    /// The search id.
    pub id: String,
    /// The spec's name: the owner's tag.
    pub name: Option<String>,
    /// running, done, cancelled or failed.
    pub status: &'static str,
    /// Why it failed.
    pub reason: Option<String>,
    /// The strategy's name.
    pub strategy: &'static str,
    /// The space's name.
    pub space: &'static str,
    /// Candidates the search evaluates.
    pub budget: usize,
    /// Candidates evaluated.
    pub evaluated: u64,
    /// Candidates that failed.
    pub failed: u64,
    /// Its jobs in the queue.
    pub counts: SearchCounts,
    /// The best validation score so far.
    pub best: Option<f64>,
    /// The best candidate.
    pub best_genotype: Option<String>,
    /// Results per second since submission (or until it ended).
    pub rate: f64,
    /// Seconds to go at that rate, while running.
    pub eta_s: Option<f64>,
    /// Submission time (ms).
    pub created_ms: u64,
    /// Last change (ms).
    pub updated_ms: u64,
    /// When it ended (ms).
    pub finished_ms: Option<u64>,
}

impl SearchRow {
    fn of(state: &SearchState, counts: SearchCounts) -> Self {
        let end = state.finished_ms.unwrap_or_else(queue::now_ms);
        let secs = (end.saturating_sub(state.created_ms) as f64 / 1000.0).max(1e-3);
        let done = state.finished() as f64;
        let rate = done / secs;
        let left = (state.spec.budget as f64 - done).max(0.0);
        let reason = match &state.status {
            scheduler::Status::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        Self {
            id: state.id.clone(),
            name: state.spec.name.clone(),
            status: state.status.word(),
            reason,
            strategy: state.spec.strategy.kind().name(),
            space: state.spec.space.kind().name(),
            budget: state.spec.budget,
            evaluated: state.evaluated,
            failed: state.failed,
            counts,
            best: state.best.as_ref().and_then(|b| b.val_acc()),
            best_genotype: state.best.as_ref().map(|b| b.genotype.clone()),
            rate,
            eta_s: (!state.status.is_terminal() && rate > 0.0).then(|| left / rate),
            created_ms: state.created_ms,
            updated_ms: state.updated_ms,
            finished_ms: state.finished_ms,
        }
    }
}

/// A job a worker holds, with its last progress note.
#[derive(Debug, Clone, Serialize)]
pub struct HeldJob {
    /// The job id.
    pub job_id: String,
    /// Its search (from the id).
    pub search_id: String,
    /// Its last note, decoded.
    pub note: Option<ProgressNote>,
}

/// A worker on the fleet page.
#[derive(Debug, Clone, Serialize)]
pub struct FleetWorker {
    /// Its id, heartbeat and card.
    #[serde(flatten)]
    pub seen: WorkerSeen,
    /// Seconds since its last heartbeat.
    pub age_s: f64,
    /// The jobs its card says it holds.
    pub jobs: Vec<HeldJob>,
}

/// The fleet: workers alive, queue depths, dead letters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fleet {
    /// Workers seen within [`ALIVE_WITHIN`], most recent first.
    pub workers: Vec<FleetWorker>,
    /// Dead letters, oldest first (at most [`DEAD_LETTERS_SHOWN`]).
    pub dead_letters: Vec<DeadLetterRow>,
    /// How many dead letters there are.
    pub dead_letter_count: usize,
    /// Surrogate replicas seen within [`ALIVE_WITHIN`], most recent first.
    pub surrogates: Vec<Replica>,
    /// Jobs queued over every running search.
    pub queued: u64,
    /// Jobs waiting out a backoff.
    pub delayed: u64,
    /// Jobs held by workers.
    pub leased: u64,
}

/// A surrogate replica.
#[derive(Debug, Clone, Serialize)]
pub struct Replica {
    /// Its id.
    pub id: String,
    /// Seconds since it last said it was alive.
    pub age_s: f64,
}

/// A dead letter as the fleet page shows it (no envelope).
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterRow {
    /// The job.
    pub job_id: String,
    /// Its search.
    pub search_id: String,
    /// Deliveries made.
    pub attempt: u32,
    /// The last failure.
    pub reason: String,
}

impl From<DeadLetter> for DeadLetterRow {
    fn from(d: DeadLetter) -> Self {
        Self {
            job_id: d.job_id,
            search_id: d.search_id,
            attempt: d.attempt,
            reason: d.reason,
        }
    }
}

/// What the poller last saw.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Counts up with each poll that saw a change.
    pub version: u64,
    /// When it was taken (ms).
    pub taken_ms: u64,
    /// Every search, newest first.
    pub rows: Vec<SearchRow>,
    /// The full states, by id.
    pub states: HashMap<String, Arc<SearchState>>,
    /// The running jobs' notes, by search.
    pub notes: HashMap<String, Vec<JobNote>>,
    /// DARTS α over epochs, by supernet job id (what this dashboard saw
    /// while the job ran).
    pub alphas: HashMap<String, Vec<DartsProgress>>,
    /// The fleet.
    pub fleet: Fleet,
    /// The last poll's error, if it failed (the rest is the last good
    /// poll's).
    pub error: Option<String>,
}

/// The last note of one unfinished job of a search.
#[derive(Debug, Clone, Serialize)]
pub struct JobNote {
    /// The job.
    pub job_id: String,
    /// search, final or supernet.
    pub stage: &'static str,
    /// Its candidate (empty for a supernet search).
    pub genotype: String,
    /// The note.
    pub note: ProgressNote,
}

/// Where the poller reads: the deployment's store and queue (Redis), or
/// the embedded search's.
#[derive(Clone)]
pub struct Source {
    /// The searches' records.
    pub store: Arc<dyn Store>,
    /// The queue.
    pub queue: Arc<dyn Queue>,
    /// The deployment's Redis, for what only Redis holds (the surrogate
    /// replicas' heartbeats); `None` in the embedded mode.
    pub redis: Option<queue::RedisQueue>,
}

/// Poll until `stop` says so, publishing each snapshot on `tx`.
pub(crate) async fn run(
    source: Source,
    every: Duration,
    tx: watch::Sender<Arc<Snapshot>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tx.borrow().clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let next = match poll(&source, &last).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard poll failed; showing the last good one");
                Snapshot {
                    error: Some(e),
                    version: last.version + u64::from(last.error.is_none()),
                    ..(*last).clone()
                }
            }
        };
        let changed = next.version != last.version;
        let next = Arc::new(next);
        last = next.clone();
        // Pages hear of a poll only when it changed something.
        tx.send_if_modified(|s| {
            *s = next;
            changed || s.version == 0
        });
    }
}

/// Take one snapshot; `last` gives the version and the α history.
pub(crate) async fn poll(source: &Source, last: &Snapshot) -> Result<Snapshot, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut states = source.store.searches().await.map_err(|e| err(&e))?;
    states.sort_by(|a, b| {
        b.created_ms
            .cmp(&a.created_ms)
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut rows = Vec::with_capacity(states.len());
    let mut notes: HashMap<String, Vec<JobNote>> = HashMap::new();
    let mut alphas = last.alphas.clone();
    let (mut queued, mut delayed, mut leased) = (0, 0, 0);
    for state in &states {
        // A search that ended and did not change since keeps its counts.
        let unchanged = last
            .states
            .get(&state.id)
            .filter(|s| s.status.is_terminal() && s.updated_ms == state.updated_ms);
        let counts = match (unchanged, last.rows.iter().find(|r| r.id == state.id)) {
            (Some(_), Some(row)) => row.counts,
            _ => source.queue.counts(&state.id).await.map_err(|e| err(&e))?,
        };
        if !state.status.is_terminal() {
            queued += counts.queued;
            delayed += counts.delayed;
            leased += counts.leased;
            let mut these = Vec::new();
            for p in state.pending.values() {
                let Some(job_id) = &p.job_id else { continue };
                let Some(text) = source
                    .queue
                    .job_progress(job_id)
                    .await
                    .map_err(|e| err(&e))?
                else {
                    continue;
                };
                let note = ProgressNote::decode(&text)
                    .unwrap_or(ProgressNote::Other(serde_json::Value::String(text)));
                if let ProgressNote::Darts(d) = &note {
                    let seen = alphas.entry(job_id.clone()).or_default();
                    if seen.last().is_none_or(|l| l.epoch != d.epoch) {
                        seen.push(d.clone());
                    }
                }
                these.push(JobNote {
                    job_id: job_id.clone(),
                    stage: p.stage.word(),
                    genotype: p.genotype.clone(),
                    note,
                });
            }
            notes.insert(state.id.clone(), these);
        }
        rows.push(SearchRow::of(state, counts));
    }
    let fleet = fleet(source, queued, delayed, leased).await?;
    let states: HashMap<String, Arc<SearchState>> = states
        .into_iter()
        .map(|s| (s.id.clone(), Arc::new(s)))
        .collect();
    // Forget α of searches gone from the store.
    let live: Vec<&str> = states.keys().map(String::as_str).collect();
    alphas.retain(|job, _| live.iter().any(|s| job.starts_with(&format!("{s}."))));
    let changed = last.error.is_some()
        || serde_json::to_string(&rows).ok() != serde_json::to_string(&last.rows).ok()
        || serde_json::to_string(&fleet).ok() != serde_json::to_string(&last.fleet).ok()
        || serde_json::to_string(&notes).ok() != serde_json::to_string(&last.notes).ok();
    Ok(Snapshot {
        version: last.version + u64::from(changed),
        taken_ms: queue::now_ms(),
        rows,
        states,
        notes,
        alphas,
        fleet,
        error: None,
    })
}

async fn fleet(source: &Source, queued: u64, delayed: u64, leased: u64) -> Result<Fleet, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let now = queue::now_ms();
    let seen = source
        .queue
        .fleet(ALIVE_WITHIN)
        .await
        .map_err(|e| err(&e))?;
    let mut workers = Vec::with_capacity(seen.len());
    for w in seen {
        let mut jobs = Vec::new();
        for job_id in w.card.as_ref().map(|c| c.jobs.clone()).unwrap_or_default() {
            let note = source
                .queue
                .job_progress(&job_id)
                .await
                .map_err(|e| err(&e))?;
            let search_id = queue::wire::JobId::parse(&job_id)
                .map(|j| j.search.to_string())
                .unwrap_or_default();
            jobs.push(HeldJob {
                job_id,
                search_id,
                note: note.map(|t| {
                    ProgressNote::decode(&t)
                        .unwrap_or(ProgressNote::Other(serde_json::Value::String(t)))
                }),
            });
        }
        workers.push(FleetWorker {
            age_s: now.saturating_sub(w.seen_ms) as f64 / 1000.0,
            seen: w,
            jobs,
        });
    }
    let surrogates = match &source.redis {
        Some(r) => (r
            .surrogate_replicas(ALIVE_WITHIN)
            .await
            .map_err(|e| err(&e))?)
        .into_iter()
        .map(|(id, at)| Replica {
            id,
            age_s: now.saturating_sub(at) as f64 / 1000.0,
        })
        .collect(),
        None => Vec::new(),
    };
    let count = source
        .queue
        .dead_letter_count()
        .await
        .map_err(|e| err(&e))?;
    let dead = source
        .queue
        .dead_letters(0, DEAD_LETTERS_SHOWN)
        .await
        .map_err(|e| err(&e))?;
    Ok(Fleet {
        workers,
        dead_letters: dead.into_iter().map(DeadLetterRow::from).collect(),
        dead_letter_count: count,
        surrogates,
        queued,
        delayed,
        leased,
    })
}

/// The searches' rows with `status`, or all of them.
pub fn filter<'a>(rows: &'a [SearchRow], status: Option<&str>) -> Vec<&'a SearchRow> {
    rows.iter()
        .filter(|r| status.is_none_or(|s| s.is_empty() || s == "all" || r.status == s))
        .collect()
}

/// The α history of one search, by job.
pub fn alphas_of<'a>(snap: &'a Snapshot, search: &str) -> BTreeMap<&'a str, &'a [DartsProgress]> {
    snap.alphas
        .iter()
        .filter(|(job, _)| job.starts_with(&format!("{search}.")))
        .map(|(j, v)| (j.as_str(), v.as_slice()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use queue::wire::DartsProgress;
    use queue::{JobKind, MemoryQueue, NewJob, QueueConfig};
    use scheduler::state::{Pending, Stage};

    fn note(epoch: u32) -> String {
        ProgressNote::Darts(DartsProgress {
            epoch,
            epochs: 3,
            train_loss: 1.0,
            train_acc: 40.0,
            arch_loss: 1.2,
            genotype: "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|".into(),
            ops: vec!["none".into(), "skip_connect".into()],
            edges: vec!["1<-0".into()],
            alphas: [(
                "cell".to_string(),
                vec![vec![0.4, 0.6 + f64::from(epoch) / 100.0]],
            )]
            .into(),
        })
        .encode()
        .unwrap()
    }

    /// A DARTS supernet job's notes, one per epoch, become the α history
    /// of its search; the fleet shows the worker's card and the job it
    /// holds with its note; a poll that saw a change bumps the version.
    #[tokio::test]
    async fn polls_keep_darts_alpha_per_epoch_and_show_the_fleet() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(scheduler::FileStore::new(dir.path()));
        let queue = Arc::new(MemoryQueue::new(QueueConfig::default()));
        let spec = scheduler::SearchSpec::parse(
            "name = \"d\"\nbudget = 1\n[space]\nkind = \"nb201\"\n[strategy]\nstrategy = \"random\"\n[evaluator.nb201]\ndataset = \"cifar10\"\n",
            false,
        )
        .unwrap();
        let id = scheduler::client::submit(store.as_ref(), spec)
            .await
            .unwrap();
        let job = NewJob {
            search_id: id.clone(),
            dedupe_key: "supernet".into(),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::Value::Null,
        };
        let job_id = queue.enqueue(vec![job]).await.unwrap().remove(0).job_id;
        let mut state = store.load(&id).await.unwrap().unwrap();
        state.pending.insert(
            "supernet".into(),
            Pending {
                stage: Stage::Supernet,
                genotype: String::new(),
                priority: 0.0,
                job_id: Some(job_id.clone()),
                proposed_ms: 0,
                rung: None,
            },
        );
        store.checkpoint(&state, &[]).await.unwrap();
        let lease = queue.claim("w1", 1).await.unwrap().remove(0);
        queue.heartbeat("w1").await.unwrap();
        let card = queue::wire::WorkerCard {
            id: "w1".into(),
            kind: "rust".into(),
            slots: 1,
            jobs: vec![job_id.clone()],
            ..Default::default()
        };
        queue
            .announce(&card, Duration::from_secs(10))
            .await
            .unwrap();
        let source = Source {
            store: store.clone(),
            queue: queue.clone(),
            redis: None,
        };

        queue.progress(&lease, &note(1)).await.unwrap();
        let first = poll(&source, &Snapshot::default()).await.unwrap();
        queue.progress(&lease, &note(2)).await.unwrap();
        let second = poll(&source, &first).await.unwrap();
        // The same epoch seen twice is kept once.
        let third = poll(&source, &second).await.unwrap();
        assert!(first.version >= 1 && second.version > first.version);
        let seen = alphas_of(&third, &id);
        let epochs: Vec<u32> = seen[job_id.as_str()].iter().map(|d| d.epoch).collect();
        assert_eq!(epochs, [1, 2]);
        assert_eq!(third.notes[&id].len(), 1);
        assert_eq!(third.notes[&id][0].stage, "supernet");
        let w = &third.fleet.workers[0];
        assert_eq!(w.seen.id, "w1");
        assert_eq!(w.jobs[0].search_id, id);
        assert!(matches!(w.jobs[0].note, Some(ProgressNote::Darts(_))));
        assert_eq!(third.fleet.leased, 1);
        assert_eq!(filter(&third.rows, Some("running")).len(), 1);
        assert!(filter(&third.rows, Some("done")).is_empty());
    }
}
