//! `nas search`: a whole search on one machine, without Redis: the
//! in-process queue, the scheduler and trainer services on one runtime, the
//! surrogate in-process, state in the results folder. Ctrl-C stops it with
//! its state saved; `--resume ID` takes it up again.

use anyhow::{bail, Context};
use clap::Args;
use queue::wire::{EvaluatorSpec, TrainSettings};
use queue::{MemoryQueue, QueueConfig};
use scheduler::strategy::StrategySpec;
use scheduler::{FileStore, SearchSpec, Store};
use space::Space;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `nas search`.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The dataset folder (IDX, CIFAR binary, or class subfolders of images).
    #[arg(long, required_unless_present_any = ["config", "resume"])]
    pub data: Option<PathBuf>,
    /// Dataset format: idx, cifar10, cifar100, folder (default: detected).
    #[arg(long)]
    pub format: Option<String>,
    /// Search strategy: evolution, random, pnas, surrogate, rl, darts.
    #[arg(long, default_value = "evolution")]
    pub strategy: String,
    /// Candidates to evaluate (default: the strategy's CPU-sized budget).
    #[arg(long)]
    pub budget: Option<usize>,
    /// A full search spec (TOML or JSON) instead of the defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where each search keeps its state, evaluations and export.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
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
}

/// Candidates of the CPU-sized default search (evolution, random,
/// surrogate, RL over NAS-Bench-201 cells). With the proxy and final
/// settings below, the whole search takes about 10 minutes on 2 cores.
pub const DEFAULT_BUDGET: usize = 32;

/// The CPU-sized proxy settings candidates train with during the search.
pub fn proxy_settings() -> TrainSettings {
    TrainSettings {
        epochs: 1.0,
        batch_size: 64,
        lr: 0.1,
        channels: 8,
        layers: 1,
        train_subset: Some(8000),
        val_fraction: 0.1,
        ..TrainSettings::default()
    }
}

/// The settings the winner is retrained with.
pub fn final_settings() -> TrainSettings {
    TrainSettings {
        epochs: 8.0,
        batch_size: 128,
        lr: 0.1,
        channels: 16,
        layers: 1,
        val_fraction: 0.1,
        test: true,
        ..TrainSettings::default()
    }
}

/// The CPU-sized DARTS search: first order, a supernet of 5 cells with 8
/// initial channels, 3 epochs over halves of a 4,000-image subset, and α's
/// learning rate 10 times the paper's (which is meant for ~20,000 steps and
/// leaves α near uniform in these ~90).
pub fn darts_strategy() -> StrategySpec {
    StrategySpec::Darts {
        settings: queue::wire::DartsSettings {
            epochs: 3,
            channels: 8,
            layers: Some(5),
            train_subset: Some(4000),
            arch_lr: 3e-3,
            ..queue::wire::DartsSettings::default()
        },
    }
}

/// The default spec of a strategy on `data`, sized for a 2-core CPU.
pub fn default_spec(args: &SearchArgs, data: &std::path::Path) -> anyhow::Result<SearchSpec> {
    let (space, strategy, budget) = match args.strategy.as_str() {
        "evolution" => (
            Space::Nb201,
            StrategySpec::Evolution {
                population: 8,
                sample: 3,
            },
            DEFAULT_BUDGET,
        ),
        "random" => (Space::Nb201, StrategySpec::Random, DEFAULT_BUDGET),
        "surrogate" => (
            Space::Nb201,
            StrategySpec::Surrogate {
                init: 8,
                beam: 4,
                parents: 2,
            },
            DEFAULT_BUDGET,
        ),
        "pnas" => (
            Space::Pnas { blocks: 2 },
            StrategySpec::Pnas { beam: 8 },
            144,
        ),
        "darts" => (Space::Darts, darts_strategy(), 1),
        other => {
            match serde_json::from_value::<StrategySpec>(serde_json::json!({ "strategy": other })) {
                Ok(spec) => (Space::Nb201, spec, DEFAULT_BUDGET),
                Err(_) => bail!(
                    "unknown strategy {other:?}: expected evolution, random, surrogate, pnas, rl or darts"
                ),
            }
        }
    };
    let mut proxy = proxy_settings();
    let mut last = final_settings();
    if matches!(space, Space::Pnas { .. }) {
        // PNAS trains all 136 one-block cells: keep each proxy short.
        proxy.train_subset = Some(2000);
        proxy.channels = 6;
        last.channels = 12;
        last.epochs = 3.0;
    }
    if space == Space::Darts {
        // The derived cell is retrained as a DARTS network of 5 cells, for
        // 2 epochs (about 10 minutes on 2 cores).
        last.layers = 5;
        last.epochs = 2.0;
    }
    Ok(SearchSpec {
        name: Some(format!(
            "{} on {}",
            args.strategy,
            data.file_name().and_then(|n| n.to_str()).unwrap_or("data")
        )),
        space,
        strategy,
        evaluator: EvaluatorSpec::Torch {
            data: data
                .to_str()
                .context("the data path is not UTF-8")?
                .to_string(),
            format: args.format.clone(),
            fingerprint: None,
            settings: Box::new(proxy),
        },
        budget: args.budget.unwrap_or(budget),
        seed: args.seed,
        parallel: args.slots.max(1),
        final_stage: Some(scheduler::spec::FinalSpec {
            top_k: 1,
            settings: last,
        }),
    })
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
    let id = match &args.resume {
        Some(id) => {
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
            id.clone()
        }
        None => {
            let mut spec = match &args.config {
                Some(path) => SearchSpec::from_file(path)?,
                None => default_spec(&args, args.data.as_deref().expect("clap requires --data"))?,
            };
            super::client::pin_dataset(&mut spec)?;
            spec.validate()?;
            scheduler::client::submit(&*store, spec).await?
        }
    };
    let mut state = store.load(&id).await?.context("the search vanished")?;
    let memory = MemoryQueue::new(QueueConfig {
        lease: Duration::from_secs(3600),
        max_attempts: 2,
        ..QueueConfig::default()
    });
    if args.resume.is_some() {
        // The in-process queue starts empty: its result log is read from the
        // start again, the pending candidates are enqueued anew (the
        // scheduler does that on taking a search up), and their new jobs are
        // numbered after every job the search has seen.
        let mut last = 0;
        let evals = scheduler::client::results(&*store, &id).await?;
        let ids = (evals.iter().map(|e| e.job_id.as_str()))
            .chain(state.pending.values().filter_map(|p| p.job_id.as_deref()));
        for job_id in ids {
            let n = job_id
                .rsplit('.')
                .next()
                .and_then(|n| n.parse::<u64>().ok());
            last = last.max(n.unwrap_or(0));
        }
        memory.continue_numbering(&id, last);
        state.cursor = 0;
        store.checkpoint(&state, &[]).await?;
    }
    eprintln!(
        "search {id}: {} over {}, budget {}; results in {}",
        strategy_name(&state.spec.strategy),
        state.spec.space,
        state.spec.budget,
        store.search_dir(&id).display()
    );

    let queue: Arc<dyn queue::Queue> = Arc::new(memory);
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
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
    let scheduler = tokio::spawn(scheduler::run(
        sched_config,
        queue.clone(),
        store.clone(),
        stopped(&stop_tx),
    ));
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
    let trainer = tokio::spawn(trainer::run(
        trainer_config,
        queue.clone(),
        stopped(&stop_tx),
    ));

    let bar = indicatif::ProgressBar::new(state.spec.budget as u64);
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
        let (mut rows, _) = scheduler::client::status(&*store, &*queue, Some(&id)).await?;
        let Some(row) = rows.pop() else { continue };
        let s = &row.state;
        bar.set_position(s.finished().min(s.spec.budget as u64));
        let best = s
            .best
            .as_ref()
            .and_then(|b| b.val_acc())
            .map(|a| format!("best {a:.2}%"))
            .unwrap_or_default();
        let stage = if s.final_started {
            "  retraining the winner"
        } else {
            ""
        };
        // The long jobs' progress: a DARTS supernet search's epoch, the
        // final retraining's step.
        let long: String = (row.notes.iter())
            .filter(|n| n.stage != scheduler::state::Stage::Search)
            .filter_map(|n| {
                let v = &n.note;
                match v["kind"].as_str()? {
                    "darts" => Some(format!("  supernet epoch {}/{}", v["epoch"], v["epochs"])),
                    "train" => Some(format!("  step {}/{}", v["step"], v["steps"])),
                    _ => None,
                }
            })
            .collect();
        bar.set_message(format!("{best}{stage}{long}"));
        if s.status.is_terminal() {
            break false;
        }
    };
    bar.finish_and_clear();
    let _ = stop_tx.send(());
    let _ = scheduler.await;
    let _ = trainer.await;
    let s = store.load(&id).await?.context("the search vanished")?;
    if interrupted {
        eprintln!("stopped: {} of {} candidates evaluated; state saved. Resume with: nas search --results {} --resume {id}", s.finished(), s.spec.budget, args.results.display());
        return Ok(ExitCode::from(130));
    }
    super::export::after_search(&store, &s).await;
    report(&s, &store.search_dir(&id))
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

fn strategy_name(s: &StrategySpec) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v["strategy"].as_str().map(String::from))
        .unwrap_or_default()
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
