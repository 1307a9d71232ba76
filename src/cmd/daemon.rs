//! `nas scheduler` and `nas trainer`: their flags, wired to the services'
//! configs; connect, and run until SIGTERM or SIGINT.

use crate::args::QueueArgs;
use crate::runtime::{shutdown_signal, start_metrics};
use clap::{Args, ValueEnum};
use queue::Queue;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Where strategies that rank candidates get their surrogate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SurrogateChoice {
    /// The `nas surrogate` service, over Redis.
    Redis,
    /// In this process.
    Embedded,
    /// None: ranked strategies cannot run.
    None,
}

/// Flags of `nas scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Folder for each search's evaluations.jsonl, and the archive of
    /// finished searches (state.json beside it; `nas export --results`).
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// Days a finished search's records stay in Redis once archived into
    /// the results folder (fractions allowed; 0 removes them at once).
    #[arg(long, default_value_t = 7.0, value_parser = retention_days)]
    pub retention_days: f64,
    /// Where strategies that rank candidates (pnas, surrogate) get their
    /// surrogate: `redis` (the `nas surrogate` service), `embedded` (in
    /// this process) or `none`.
    #[arg(long, value_enum, default_value_t = SurrogateChoice::Redis)]
    pub surrogate: SurrogateChoice,
    /// Seconds to wait for a surrogate reply before asking again.
    #[arg(long, default_value_t = 60.0)]
    pub surrogate_timeout_secs: f64,
    /// Serve Prometheus metrics (/metrics) and a health check
    /// (/healthz) on this address, e.g. 0.0.0.0:9100 (default: off).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
}

fn retention_days(s: &str) -> Result<f64, String> {
    let d: f64 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a number of days: {e}"))?;
    if !(0.0..=3650.0).contains(&d) {
        return Err(format!("{d} days is outside 0..=3650"));
    }
    Ok(d)
}

/// How a trainer evaluates: the flags that become its
/// [`trainer::EvaluatorConfig`].
#[derive(Debug, Clone, Args)]
pub struct EvaluatorFlags {
    /// Folder of the converted NAS-Bench-201 tables.
    #[arg(long, env = "NAS_NB201_DIR")]
    pub nb201_dir: Option<PathBuf>,
    /// Where torch jobs train: auto (every GPU, else the CPU), cpu, cuda,
    /// cuda:N, or a comma-separated list; jobs go to the least busy.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Checkpoint torch and darts jobs each epoch under this folder
    /// (`<dir>/<search>/<payload digest>/`); a redelivered job resumes
    /// from its checkpoint. Multi-fidelity rungs leave their state in
    /// `<dir>/<search>/rungs/` for promoted jobs, which any trainer may
    /// take: every trainer of such searches needs the same shared folder.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Save the weights of final evaluations under this folder
    /// (`<dir>/<search>/<hash>.safetensors`; share it with the scheduler
    /// host for `nas export`).
    #[arg(long, env = "NAS_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// libtorch threads per job on the CPU (default: cores / slots).
    #[arg(long)]
    pub cpu_threads: Option<i32>,
    /// Fail every job with this message (drills and poison-job tests).
    #[arg(long, hide = true)]
    pub fail_all: Option<String>,
}

impl EvaluatorFlags {
    /// The evaluators' settings for a trainer of `slots` slots.
    pub fn config(self, slots: usize) -> trainer::EvaluatorConfig {
        let defaults = trainer::EvaluatorConfig::default();
        trainer::EvaluatorConfig {
            nb201_dir: self.nb201_dir.unwrap_or(defaults.nb201_dir),
            fail_all: self.fail_all,
            device: self.device,
            checkpoint_dir: self.checkpoint_dir,
            artifacts_dir: self.artifacts_dir,
            cpu_threads: self.cpu_threads,
            slots,
        }
    }
}

/// Flags of `nas trainer`.
#[derive(Debug, Args)]
pub struct TrainerArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Concurrent jobs.
    #[arg(long, default_value_t = 1)]
    pub slots: usize,
    /// Seconds running jobs may finish after SIGTERM/SIGINT before they
    /// are handed back.
    #[arg(long, default_value_t = 0.0)]
    pub grace_secs: f64,
    /// This worker's name (default: hostname-pid).
    #[arg(long)]
    pub worker_id: Option<String>,
    /// How jobs are evaluated.
    #[command(flatten)]
    pub evaluator: EvaluatorFlags,
    /// Serve Prometheus metrics (/metrics) and a health check
    /// (/healthz) on this address, e.g. 0.0.0.0:9100 (default: off).
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
}

/// How often the scheduler samples the queue's global state into its
/// metrics (a few cheap reads, and one per active search).
const METRICS_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// `nas scheduler`.
pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.surrogate_timeout_secs.is_finite() && args.surrogate_timeout_secs > 0.0,
        "--surrogate-timeout-secs must be positive"
    );
    let metered = start_metrics(args.metrics_addr, metrics::Role::Scheduler).await?;
    let q = args.queue.connect().await?;
    // Jobs under the layout before <p>:q: would never reach this version's
    // trainers, and its searches would wait for them forever.
    let old = q.old_layout().await?;
    if let Some((key, _)) = old.first() {
        anyhow::bail!(
            "this Redis holds {} queue keys of the layout before {}:q: (such as {key}); stop every nas daemon of this deployment and run `nas migrate-keys` (same --redis and --prefix) to move them, then start again",
            old.len(),
            args.queue.redis.prefix
        );
    }
    let instance = trainer::default_worker_id();
    let mut store: Arc<dyn scheduler::Store> = Arc::new(scheduler::RedisStore::new(
        &q,
        format!("scheduler-{instance}"),
    ));
    let mut shared: Arc<dyn Queue> = Arc::new(q.clone());
    if metered {
        tokio::spawn(crate::metered::sample_queue(
            q.clone(),
            store.clone(),
            METRICS_SAMPLE_EVERY,
        ));
        store = Arc::new(crate::metered::MeteredStore::new(store));
        shared = Arc::new(metrics::MeteredQueue::new(shared));
    }
    let ranker = match args.surrogate {
        SurrogateChoice::Redis => {
            let url = args.queue.redis.url()?;
            let timeout = Duration::from_secs_f64(args.surrogate_timeout_secs);
            Some(super::ranker::redis(&url, &args.queue.redis.prefix, timeout).await?)
        }
        SurrogateChoice::Embedded => Some(super::ranker::embedded()?),
        SurrogateChoice::None => None,
    };
    let config = scheduler::SchedulerConfig {
        ranker,
        results_dir: args.results_dir,
        retention: Duration::from_secs_f64(args.retention_days * 86_400.0),
        ..Default::default()
    };
    tracing::info!(redis = %q.url(), surrogate = ?args.surrogate, "scheduler connected");
    match scheduler::run(config, shared, store, shutdown_signal()).await {
        scheduler::Stopped::Shutdown => Ok(ExitCode::SUCCESS),
        scheduler::Stopped::FunctionsChanged(reason) => {
            eprintln!("scheduler: stopped: {reason}");
            Ok(ExitCode::from(2))
        }
    }
}

/// `nas trainer`.
pub async fn trainer(args: TrainerArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.slots >= 1, "--slots must be at least 1");
    anyhow::ensure!(
        args.grace_secs.is_finite() && args.grace_secs >= 0.0,
        "--grace-secs must be >= 0"
    );
    let evaluators = args.evaluator.config(args.slots);
    let devices = evaluators
        .devices()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    // Where this trainer's torch jobs train, for the slot gauges.
    let device = if devices.iter().any(|d| d.is_cuda()) {
        "gpu"
    } else {
        "cpu"
    };
    let role = metrics::Role::Trainer {
        device,
        slots: args.slots,
    };
    let metered = start_metrics(args.metrics_addr, role).await?;
    let q = args.queue.connect_trainer().await?;
    tracing::info!(redis = %q.url(), "trainer connected");
    let config = trainer::TrainerConfig {
        worker_id: args.worker_id.unwrap_or_else(trainer::default_worker_id),
        slots: args.slots,
        grace: Duration::from_secs_f64(args.grace_secs),
        evaluators,
        ..Default::default()
    };
    let shared: Arc<dyn Queue> = if metered {
        Arc::new(metrics::MeteredQueue::trainer(Arc::new(q), device))
    } else {
        Arc::new(q)
    };
    let report = trainer::run(config, shared, shutdown_signal()).await;
    eprintln!(
        "trainer: completed {} failed {} handed back {} lost {}",
        report.completed, report.failed, report.released, report.stale
    );
    if report.functions_changed {
        eprintln!(
            "trainer: stopped: the queue functions in Redis are another version than this build's"
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
