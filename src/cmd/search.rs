//! `nas search`: a whole search on one machine, without Redis: the
//! in-process queue, the scheduler and trainer services on one runtime, the
//! surrogate in-process, state in the results folder. Ctrl-C stops it with
//! its state saved; `--resume ID` takes it up again.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use queue::wire::{JobId, ProgressNote};
use queue::{MemoryQueue, QueueConfig};
use scheduler::cpu::DataShape;
use scheduler::fidelity::RungScheduler;
use scheduler::strategy::StrategyKind;
use scheduler::{FileStore, SearchSpec, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `nas search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The dataset: a folder of images (IDX, CIFAR binary, class
    /// subfolders), a table (.csv, .parquet; with --target) or time series
    /// (.ts); the space follows from it.
    #[arg(long, required_unless_present_any = ["config", "resume"])]
    pub data: Option<PathBuf>,
    /// How to read it.
    #[command(flatten)]
    pub read: crate::args::ReadArgs,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = StrategyChoice::Evolution)]
    pub strategy: StrategyChoice,
    /// Candidates to evaluate (default: the strategy's CPU-sized budget).
    #[arg(long)]
    pub budget: Option<usize>,
    /// A full search spec (TOML or JSON) instead of the defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where each search keeps its state, evaluations and export.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Serve the web dashboard while the search runs, on ADDR (default
    /// 127.0.0.1:8080).
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub dashboard: Option<std::net::SocketAddr>,
    /// Who may do what on the dashboard.
    #[command(flatten)]
    pub access: super::dashboard::AccessArgs,
    /// Candidates trained at once.
    #[arg(long, default_value_t = 1)]
    pub slots: usize,
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Take up a stopped search again by its id.
    #[arg(long)]
    pub resume: Option<String>,
    /// Multi-fidelity: candidates train a third of the proxy first, and
    /// only the best go on to the proxy's length and to three times it,
    /// continuing from their checkpoints (the budget grows by a quarter
    /// unless given, for about the same trainer time).
    #[arg(long, value_enum)]
    pub fidelity: Option<FidelityChoice>,
}

/// The rung schedulers `nas search --fidelity` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FidelityChoice {
    /// Asynchronous successive halving: promote as soon as a rung allows.
    Asha,
    /// Synchronous successive halving, in brackets.
    Sh,
    /// Hyperband: brackets starting at every rung in turn.
    Hyperband,
}

impl From<FidelityChoice> for RungScheduler {
    fn from(c: FidelityChoice) -> Self {
        match c {
            FidelityChoice::Asha => RungScheduler::Asha,
            FidelityChoice::Sh => RungScheduler::Sh,
            FidelityChoice::Hyperband => RungScheduler::Hyperband,
        }
    }
}

/// The strategies `nas search` offers, each with its CPU-sized defaults
/// ([`SearchSpec::cpu_default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyChoice {
    /// Regularized evolution over NAS-Bench-201 cells.
    Evolution,
    /// Random search over NAS-Bench-201 cells.
    Random,
    /// Predictor-guided search (BANANAS-style) over NAS-Bench-201 cells.
    Bananas,
    /// Surrogate-ranked local search over NAS-Bench-201 cells.
    Surrogate,
    /// Progressive NAS over 2-block PNAS cells.
    Pnas,
    /// The RL controller over NAS-Bench-201 cells.
    Rl,
    /// One DARTS supernet search over DARTS cells.
    Darts,
}

impl From<StrategyChoice> for StrategyKind {
    fn from(c: StrategyChoice) -> Self {
        match c {
            StrategyChoice::Evolution => StrategyKind::Evolution,
            StrategyChoice::Random => StrategyKind::Random,
            StrategyChoice::Bananas => StrategyKind::Bananas,
            StrategyChoice::Surrogate => StrategyKind::Surrogate,
            StrategyChoice::Pnas => StrategyKind::Pnas,
            StrategyChoice::Rl => StrategyKind::Rl,
            StrategyChoice::Darts => StrategyKind::Darts,
        }
    }
}

/// The default spec of a strategy on `data`, sized for a 2-core CPU: the
/// dataset is read once here to tell images, a table or time series apart.
fn default_spec(args: &SearchArgs, path: &std::path::Path) -> anyhow::Result<SearchSpec> {
    let strategy = StrategyKind::from(args.strategy);
    let ds = args
        .read
        .load(path)
        .with_context(|| format!("reading the dataset {}", path.display()))?;
    let shape = DataShape {
        input: ds.meta.input,
        categorical: (ds.meta.columns.iter()).any(|c| c.kind == data::ColumnKind::Categorical),
        train_len: ds.meta.train_len,
    };
    let name = format!("{strategy} on {}", ds.meta.name);
    Ok(SearchSpec::cpu_default(
        strategy,
        args.read.data_ref(path)?,
        shape,
        name,
        args.budget,
        args.seed,
        args.slots,
    )?)
}

pub fn run(args: SearchArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(search(args))
}

async fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.slots >= 1, "--slots must be at least 1");
    // Listen for Ctrl-C (and SIGTERM) from the start: a signal that comes
    // while the search is being set up is kept and stops it at the first
    // look, rather than killing the process mid-write.
    let mut interrupt = Interrupt::listen()?;
    let store = Arc::new(FileStore::new(&args.results));
    let id = open_search(&args, &store).await?;
    let queue = in_process_queue(&store, &id, args.resume.is_some()).await?;
    let state = store.load(&id).await?.context("the search vanished")?;
    let dir = store.search_dir(&id)?;
    eprintln!(
        "search {id}: {} over {}, budget {}; results in {}",
        state.spec.strategy.kind(),
        state.spec.space,
        state.spec.budget,
        dir.display()
    );
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let board = match args.dashboard {
        Some(addr) => {
            let config = args
                .access
                .config(addr, format!("embedded: {}", args.results.display()))?;
            let bound = super::dashboard::bind(config).await?;
            let source = dashboard::Source {
                store: store.clone(),
                queue: queue.clone(),
                redis: None,
            };
            let mut rx = stop_tx.subscribe();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = rx.recv().await;
                };
                if let Err(e) = dashboard::run(bound, source, stopped).await {
                    tracing::error!(error = %e, "the dashboard stopped");
                }
            }))
        }
        None => None,
    };
    let services = start_services(&args, queue.clone(), store.clone(), &stop_tx)?;
    let interrupted = watch(&store, &*queue, &id, state.spec.budget, &mut interrupt).await?;
    let _ = stop_tx.send(());
    for service in services.into_iter().chain(board) {
        let _ = service.await;
    }
    let s = store.load(&id).await?.context("the search vanished")?;
    if interrupted {
        eprintln!("stopped: {} of {} candidates evaluated; state saved. Resume with: nas search --results {} --resume {id}", s.finished(), s.spec.budget, args.results.display());
        return Ok(ExitCode::from(130));
    }
    super::export::after_search(&store, &s).await;
    report(&s, &dir)
}

/// The search to run: the one `--resume` names, if it can still run, or a
/// new one from `--config` or the CPU-sized defaults, submitted to `store`
/// with its dataset pinned.
async fn open_search(args: &SearchArgs, store: &FileStore) -> anyhow::Result<String> {
    if let Some(id) = &args.resume {
        let state = store
            .load(id)
            .await?
            .with_context(|| format!("no search {id} in {}", args.results.display()))?;
        if state.status.is_terminal() {
            bail!("search {id} is {} already", state.status.word());
        }
        eprintln!(
            "resuming {id}: {} of {} candidates evaluated",
            state.finished(),
            state.spec.budget
        );
        return Ok(id.clone());
    }
    let mut spec = match &args.config {
        Some(path) => SearchSpec::from_file(path)?,
        None => default_spec(args, args.data.as_deref().expect("clap requires --data"))?,
    };
    if let Some(f) = args.fidelity {
        if args.config.is_some() && spec.fidelity.is_some() {
            bail!("--fidelity: the spec has its own [fidelity] section; change it there");
        }
        let given = args.budget.is_some() || args.config.is_some();
        spec = spec.with_cpu_fidelity(f.into(), given)?;
    }
    super::client::pin_dataset(&mut spec)?;
    spec.validate()?;
    if let queue::wire::EvaluatorSpec::Python { entry, .. } = &spec.evaluator {
        anyhow::bail!(
            "evaluator python ({entry}): the user's function runs on Python trainers (nas-worker), which join a queue on Redis; `nas search` runs everything in this process. Start a stack (scripts/cluster.sh start), run `nas-worker --entry {entry}` against it and `nas submit` the spec (docs/PROTOCOL.md, examples/python-trainer)"
        );
    }
    Ok(scheduler::client::submit(store, spec).await?)
}

/// The in-process queue of search `id`. On `resume` it starts empty: its
/// result log is read from the start again, the pending candidates are
/// enqueued anew (the scheduler does that on taking a search up), and
/// their new jobs are numbered after every job the search has seen.
async fn in_process_queue(
    store: &FileStore,
    id: &str,
    resume: bool,
) -> anyhow::Result<Arc<dyn queue::Queue>> {
    let memory = MemoryQueue::new(QueueConfig {
        lease: Duration::from_secs(3600),
        max_attempts: 2,
        ..QueueConfig::default()
    });
    if resume {
        let mut state = store.load(id).await?.context("the search vanished")?;
        let evals = scheduler::client::results(store, id).await?;
        let ids = (evals.iter().map(|e| e.job_id.as_str()))
            .chain(state.pending.values().filter_map(|p| p.job_id.as_deref()));
        let last = ids
            .filter_map(|job_id| JobId::parse(job_id).map(|j| j.seq))
            .max()
            .unwrap_or(0);
        memory.continue_numbering(id, last);
        state.cursor = 0;
        store.checkpoint(&state, &[]).await?;
    }
    Ok(Arc::new(memory))
}

/// The scheduler and a trainer of `--slots` slots on this runtime, until
/// `stop` fires.
fn start_services(
    args: &SearchArgs,
    queue: Arc<dyn queue::Queue>,
    store: Arc<FileStore>,
    stop: &tokio::sync::broadcast::Sender<()>,
) -> anyhow::Result<[tokio::task::JoinHandle<()>; 2]> {
    let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let sched_config = scheduler::SchedulerConfig {
        ranker: Some(super::ranker::embedded()?),
        results_dir: args.results.clone(),
        idle_tick: Duration::from_millis(100),
        ..Default::default()
    };
    let trainer_config = trainer::TrainerConfig {
        worker_id: "local".into(),
        slots: args.slots,
        evaluators: trainer::EvaluatorConfig {
            device: args.device.clone(),
            slots: args.slots,
            artifacts_dir: Some(args.results.clone()),
            // Long jobs (a DARTS supernet search, the final retraining)
            // save their state every epoch, so a resumed search goes on
            // from the last epoch rather than from the start.
            checkpoint_dir: Some(args.results.join(".checkpoints")),
            ..Default::default()
        },
        ..Default::default()
    };
    trainer_config
        .evaluators
        .devices()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    // In process, the queue is the in-memory one: its functions never
    // change under the scheduler, so how it stopped needs no look.
    let (scheduler_queue, scheduler_stop) = (queue.clone(), stopped(stop));
    let scheduler = tokio::spawn(async move {
        scheduler::run(sched_config, scheduler_queue, store, scheduler_stop).await;
    });
    let trainer_stop = stopped(stop);
    let trainer = tokio::spawn(async move {
        trainer::run(trainer_config, queue, trainer_stop).await;
    });
    Ok([scheduler, trainer])
}

/// Show the search's progress on a bar until it ends (false) or a signal
/// comes (true).
async fn watch(
    store: &FileStore,
    queue: &dyn queue::Queue,
    id: &str,
    budget: usize,
    interrupt: &mut Interrupt,
) -> anyhow::Result<bool> {
    let bar = indicatif::ProgressBar::new(budget as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} candidates  {msg}  {elapsed_precise} eta {eta}",
        )
        .expect("valid template"),
    );
    let interrupted = loop {
        tokio::select! {
            _ = interrupt.recv() => break true,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let (mut rows, _) = scheduler::client::status(store, queue, Some(id)).await?;
        let Some(row) = rows.pop() else { continue };
        let s = &row.state;
        bar.set_position(s.finished().min(s.spec.budget as u64));
        bar.set_message(bar_message(&row));
        if s.status.is_terminal() {
            break false;
        }
    };
    bar.finish_and_clear();
    Ok(interrupted)
}

/// The bar's message: the best so far, the stage, and the long jobs'
/// progress (a DARTS supernet search's epoch, the final retraining's step).
fn bar_message(row: &scheduler::client::SearchStatus) -> String {
    let s = &row.state;
    let best = (s.best.as_ref())
        .and_then(|b| b.val_acc())
        .map(|a| format!("best {a:.2}%"))
        .unwrap_or_default();
    let stage = if s.final_started {
        "  retraining the winner"
    } else {
        ""
    };
    let long: String = (row.notes.iter())
        .filter(|n| n.stage != scheduler::state::Stage::Search)
        .filter_map(|n| match &n.note {
            ProgressNote::Darts(d) => Some(format!("  supernet epoch {}/{}", d.epoch, d.epochs)),
            ProgressNote::Train(t) => Some(format!("  step {}/{}", t.step, t.steps)),
            ProgressNote::Other(_) => None,
        })
        .collect();
    format!("{best}{stage}{long}")
}

/// SIGINT (Ctrl-C) and SIGTERM, each kept until read.
struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
        })
    }

    /// The next signal.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Print the search's answer.
fn report(s: &scheduler::SearchState, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    if let scheduler::Status::Failed { reason } = &s.status {
        bail!("search {} failed: {reason}", s.id);
    }
    println!(
        "search {}: {} ({} evaluated, {} failed) in {:.0}s",
        s.id,
        s.status.word(),
        s.evaluated,
        s.failed,
        (s.finished_ms
            .unwrap_or(s.updated_ms)
            .saturating_sub(s.created_ms)) as f64
            / 1000.0
    );
    let Some(w) = s.winner() else {
        println!("no candidate produced a score");
        return Ok(ExitCode::FAILURE);
    };
    println!("best architecture ({}): {}", s.spec.space, w.genotype);
    if let queue::Outcome::Ok(m) = &w.outcome {
        println!("validation accuracy: {:.2}%", m.val_acc);
        if let Some(t) = m.test_acc {
            println!("test accuracy: {t:.2}%");
        }
        if let Some(p) = m.params {
            println!("parameters: {p}");
        }
    }
    println!("results: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
