//! `nas scheduler` and `nas trainer`: wire flags to the services' configs,
//! connect, and run until SIGTERM or SIGINT.

use crate::cli::QueueArgs;
use anyhow::Context;
use queue::{Queue, QueueConfig, RedisQueue};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

impl QueueArgs {
    /// The queue settings these flags give.
    pub fn config(&self) -> anyhow::Result<QueueConfig> {
        anyhow::ensure!(
            self.lease_secs.is_finite() && self.lease_secs >= 0.05,
            "--lease-secs {} must be at least 0.05",
            self.lease_secs
        );
        anyhow::ensure!(self.max_attempts >= 1, "--max-attempts must be at least 1");
        Ok(QueueConfig {
            prefix: self.prefix.clone(),
            lease: Duration::from_secs_f64(self.lease_secs),
            max_attempts: self.max_attempts,
            backoff_base: Duration::from_millis(self.backoff_ms),
            ..QueueConfig::default()
        })
    }

    /// Connect, retrying with backoff (each failure logged) up to
    /// `--connect-timeout-secs`.
    pub async fn connect(&self) -> anyhow::Result<RedisQueue> {
        let give_up = Duration::from_secs_f64(self.connect_timeout_secs.max(0.0));
        let url = self.redis.clone().with_ca_file(self.redis_ca.clone());
        RedisQueue::connect_with_retry(&url, self.config()?, give_up)
            .await
            .with_context(|| format!("cannot reach redis at {}", self.redis))
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops this process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}

/// How often the scheduler samples the queue's global state into its
/// metrics (a few cheap reads, and one per active search).
const METRICS_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Start the metrics endpoint if `--metrics-addr` is given, with `role`'s
/// families at zero; true if it was. The port is bound before Redis is
/// reached, so a taken port fails at start-up and `/healthz` answers (503)
/// while Redis is still out of reach.
pub async fn start_metrics(addr: Option<SocketAddr>, role: metrics::Role) -> anyhow::Result<bool> {
    let Some(addr) = addr else {
        return Ok(false);
    };
    metrics::touch(role);
    let server = metrics::Server::bind(metrics::ServerConfig::new(addr))
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
    tracing::info!(addr = %server.local_addr()?, "metrics endpoint listening on /metrics and /healthz");
    server.spawn();
    Ok(true)
}

pub async fn scheduler(
    queue: QueueArgs,
    results_dir: PathBuf,
    surrogate: &str,
    surrogate_timeout_secs: f64,
    metrics_addr: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        surrogate_timeout_secs.is_finite() && surrogate_timeout_secs > 0.0,
        "--surrogate-timeout-secs must be positive"
    );
    let metered = start_metrics(metrics_addr, metrics::Role::Scheduler).await?;
    let q = queue.connect().await?;
    let instance = trainer::default_worker_id();
    let mut store: Arc<dyn scheduler::Store> = Arc::new(scheduler::RedisStore::new(
        &q,
        format!("scheduler-{instance}"),
    ));
    let mut shared: Arc<dyn Queue> = Arc::new(q.clone());
    if metered {
        tokio::spawn(metrics::sampler::run(
            q.clone(),
            store.clone(),
            METRICS_SAMPLE_EVERY,
        ));
        store = Arc::new(metrics::MeteredStore::new(store));
        shared = Arc::new(metrics::MeteredQueue::new(shared));
    }
    let ranker = match surrogate {
        "redis" => {
            let url = queue.redis.clone().with_ca_file(queue.redis_ca.clone());
            Some(
                super::ranker::redis(
                    &url,
                    &queue.prefix,
                    Duration::from_secs_f64(surrogate_timeout_secs),
                )
                .await?,
            )
        }
        "embedded" => Some(super::ranker::embedded()?),
        _ => None,
    };
    let config = scheduler::SchedulerConfig {
        ranker,
        results_dir,
        ..Default::default()
    };
    tracing::info!(redis = %q.url(), surrogate, "scheduler connected");
    scheduler::run(config, shared, store, shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// The trainer's evaluator flags.
pub struct EvaluatorArgs {
    pub nb201_dir: Option<PathBuf>,
    pub device: String,
    pub checkpoint_dir: Option<PathBuf>,
    pub artifacts_dir: Option<PathBuf>,
    pub cpu_threads: Option<i32>,
    pub fail_all: Option<String>,
}

pub async fn trainer(
    queue: QueueArgs,
    slots: usize,
    grace_secs: f64,
    worker_id: Option<String>,
    ev: EvaluatorArgs,
    metrics_addr: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(slots >= 1, "--slots must be at least 1");
    anyhow::ensure!(
        grace_secs.is_finite() && grace_secs >= 0.0,
        "--grace-secs must be >= 0"
    );
    let mut evaluators = trainer::EvaluatorConfig {
        fail_all: ev.fail_all,
        device: ev.device,
        checkpoint_dir: ev.checkpoint_dir,
        artifacts_dir: ev.artifacts_dir,
        cpu_threads: ev.cpu_threads,
        slots,
        ..Default::default()
    };
    let devices = evaluators
        .devices()
        .map_err(|e| anyhow::anyhow!("--device: {e}"))?;
    // Where this trainer's torch jobs train, for the slot gauges.
    let device = if devices.iter().any(|d| d.is_cuda()) {
        "gpu"
    } else {
        "cpu"
    };
    let metered = start_metrics(metrics_addr, metrics::Role::Trainer { device, slots }).await?;
    if let Some(dir) = ev.nb201_dir {
        evaluators.nb201_dir = dir;
    }
    let q = queue.connect().await?;
    tracing::info!(redis = %q.url(), "trainer connected");
    let config = trainer::TrainerConfig {
        worker_id: worker_id.unwrap_or_else(trainer::default_worker_id),
        slots,
        grace: Duration::from_secs_f64(grace_secs),
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
    Ok(ExitCode::SUCCESS)
}
