//! `nas bench queue --trainer python`: the Python trainer's cost per job on
//! the no-op path against the Rust trainer's, in the same run on the same
//! Redis. No-op jobs are enqueued at once, straight onto the queue, and
//! drained first by the Rust trainer (in this process, as the queue
//! benchmark runs it) and then by one `nas-worker --builtin` process with
//! as many slots (which runs no-op jobs itself: what is measured is its
//! claim, renewal bookkeeping, completion and thread hand-offs). Each side
//! gets a warm-up of its own before the clock starts.

use crate::noop::{collect, enqueue_noops};
use crate::services::{ServiceConfig, Services};
use crate::workspace::within;
use crate::{BenchError, Result, Target, Workspace};
use std::fmt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Jobs each side drains before its timed run.
const WARMUP: usize = 200;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct PythonBenchConfig {
    /// No-op jobs timed on each side.
    pub jobs: usize,
    /// Slots of each trainer.
    pub slots: usize,
    /// The `nas-worker` program.
    pub worker: PathBuf,
    /// Where the converted NAS-Bench-201 tables are (the Rust services load
    /// nothing from them here, but check them as the queue benchmark does).
    pub nb201_dir: PathBuf,
    /// The whole run must end within this.
    pub limit: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonReport {
    /// The run's key prefix (deleted at the end).
    pub prefix: String,
    /// Jobs timed on each side.
    pub jobs: usize,
    /// Slots of each trainer.
    pub slots: usize,
    /// The Rust trainer's no-op jobs per second.
    pub rust_jobs_per_s: f64,
    /// The Python trainer's.
    pub python_jobs_per_s: f64,
}

impl PythonReport {
    /// The headline: the Python trainer's time per job over the Rust one's.
    pub fn ratio(&self) -> f64 {
        self.rust_jobs_per_s / self.python_jobs_per_s
    }
}

impl fmt::Display for PythonReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "python trainer benchmark: {} no-op jobs enqueued at once, drained by each trainer with {} slots (key prefix {})",
            self.jobs, self.slots, self.prefix
        )?;
        writeln!(
            f,
            "  rust trainer (in process): {:.0} jobs/s, {:.3} ms per job",
            self.rust_jobs_per_s,
            1000.0 / self.rust_jobs_per_s
        )?;
        writeln!(
            f,
            "  python trainer (nas-worker --builtin): {:.0} jobs/s, {:.3} ms per job",
            self.python_jobs_per_s,
            1000.0 / self.python_jobs_per_s
        )?;
        write!(
            f,
            "ratio: python time per job / rust time per job = {:.2}",
            self.ratio()
        )
    }
}

/// Run the benchmark under a fresh prefix on `target`.
pub async fn run(target: &Target, config: &PythonBenchConfig) -> Result<PythonReport> {
    if config.jobs == 0 || config.slots == 0 {
        return Err(BenchError::Config(
            "--jobs and --slots must be at least 1".into(),
        ));
    }
    if !config.worker.is_file() {
        return Err(BenchError::Config(format!(
            "{} not found: scripts/setup.sh installs nas-worker into the venv (pip install ./python)",
            config.worker.display()
        )));
    }
    crate::throughput::check_table(&config.nb201_dir, nb201::Dataset::Cifar10)?;
    let ws = Workspace::open(target, "python").await?;
    ws.run(within(
        "the python trainer benchmark",
        config.limit,
        measure(&ws, config),
    ))
    .await
}

/// Seconds to drain `jobs` no-op jobs enqueued at once under `search`.
async fn drain(ws: &Workspace, search: &str, jobs: usize) -> Result<f64> {
    let start_ms = queue::now_ms();
    enqueue_noops(ws.queue(), search, jobs, 0).await?;
    let end_ms = collect(ws.queue(), search, jobs).await?;
    Ok(end_ms.saturating_sub(start_ms).max(1) as f64 / 1000.0)
}

async fn measure(ws: &Workspace, config: &PythonBenchConfig) -> Result<PythonReport> {
    let services = Services::start(
        ws,
        &ServiceConfig {
            slots: config.slots,
            nb201_dir: config.nb201_dir.clone(),
            ranker: None,
        },
    )
    .await?;
    let rust = async {
        drain(ws, "rust-warmup", WARMUP).await?;
        drain(ws, "rust", config.jobs).await
    }
    .await;
    let stopped = services.stop().await;
    let rust_seconds = rust?;
    stopped?;

    let mut worker = Worker::spawn(ws, config)?;
    let python = async {
        drain(ws, "python-warmup", WARMUP).await?;
        drain(ws, "python", config.jobs).await
    }
    .await;
    worker.stop().await?;
    let python_seconds = python?;
    Ok(PythonReport {
        prefix: ws.prefix().to_string(),
        jobs: config.jobs,
        slots: config.slots,
        rust_jobs_per_s: config.jobs as f64 / rust_seconds,
        python_jobs_per_s: config.jobs as f64 / python_seconds,
    })
}

/// The `nas-worker` process, killed if the run ends without stopping it.
struct Worker(Option<Child>);

impl Worker {
    fn spawn(ws: &Workspace, config: &PythonBenchConfig) -> Result<Self> {
        let child = Command::new(&config.worker)
            .args([
                "--prefix",
                ws.prefix(),
                "--builtin",
                "--worker-id",
                "bench-python",
            ])
            .args(["--slots", &config.slots.to_string()])
            .args([
                "--entry",
                "nas_worker.nb201:evaluate",
                "--log-level",
                "warning",
            ])
            // In the environment, not on the command line: the URL may hold
            // a password.
            .env("NAS_REDIS_URL", ws.url().expose())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|source| BenchError::Io {
                what: format!("starting {}", config.worker.display()),
                source,
            })?;
        Ok(Self(Some(child)))
    }

    /// SIGTERM, and wait for it to drain and exit.
    async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.0.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|e| BenchError::Config(format!("waiting for nas-worker: {e}")))?
            .map_err(|source| BenchError::Io {
                what: "waiting for nas-worker".into(),
                source,
            })?;
        Ok(())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
