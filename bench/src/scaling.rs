//! `nas bench scaling`: jobs of a fixed length through 1, 4, 16 and 64
//! trainer slots, spread over several `nas trainer` processes, against the
//! ideal throughput slots / duration.
//!
//! The jobs are no-op jobs whose payload asks the trainer to sleep a fixed
//! time (`{"sleep_ms": 50}`), enqueued directly by the benchmark: the
//! scheduler is not in this path (`nas bench queue` measures it), so what
//! scales here is the queue and the trainers. Each level starts its own
//! processes, waits until every one has announced itself, warms up with
//! one job per slot, then times `rounds` jobs per slot from the enqueue to
//! the last result recorded.

use crate::lpush::tail;
use crate::noop::{collect, enqueue_noops};
use crate::{BenchError, Result, Target, Workspace};
use queue::{Queue, RedisQueue};
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a trainer process may take to start and announce itself.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// How long a trainer process may take to stop after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct ScalingConfig {
    /// The `nas` executable whose `trainer` subcommand is started.
    pub trainer_exe: PathBuf,
    /// Total slots per level, in order.
    pub levels: Vec<usize>,
    /// The most trainer processes a level's slots are spread over.
    pub trainers: usize,
    /// Each job's length.
    pub job_ms: u64,
    /// Jobs per slot in each level's timed batch.
    pub rounds: usize,
    /// The whole run must end within this.
    pub limit: Duration,
}

/// What one level measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Slots of each trainer process.
    pub processes: Vec<usize>,
    /// Jobs timed.
    pub jobs: usize,
    /// From the first enqueue to the last result recorded.
    pub seconds: f64,
    /// `jobs / seconds`.
    pub jobs_per_s: f64,
    /// slots / job length.
    pub ideal_per_s: f64,
}

impl Level {
    /// Total slots.
    pub fn slots(&self) -> usize {
        self.processes.iter().sum()
    }

    /// Measured over ideal throughput.
    pub fn efficiency(&self) -> f64 {
        self.jobs_per_s / self.ideal_per_s
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingReport {
    /// The run's key prefix (deleted at the end).
    pub prefix: String,
    /// Each job's length.
    pub job_ms: u64,
    /// Jobs per slot timed.
    pub rounds: usize,
    /// One per level, in order.
    pub levels: Vec<Level>,
}

impl fmt::Display for ScalingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scaling benchmark: no-op jobs of {} ms (trainer sleeps sleep_ms), {} per slot, enqueued directly (no scheduler in this path)",
            self.job_ms, self.rounds
        )?;
        writeln!(
            f,
            "  driven by: `nas trainer --slots k` processes started from this executable, key prefix {}",
            self.prefix
        )?;
        writeln!(
            f,
            "  {:>5}  {:<10}  {:>6}  {:>8}  {:>8}  {:>8}  {:>10}",
            "slots", "processes", "jobs", "seconds", "jobs/s", "ideal/s", "efficiency"
        )?;
        for l in &self.levels {
            writeln!(
                f,
                "  {:>5}  {:<10}  {:>6}  {:>8.3}  {:>8.1}  {:>8.1}  {:>10.3}",
                l.slots(),
                describe(&l.processes),
                l.jobs,
                l.seconds,
                l.jobs_per_s,
                l.ideal_per_s,
                l.efficiency()
            )?;
        }
        match self.levels.last() {
            Some(l) => write!(
                f,
                "efficiency at {} slots (measured jobs/s / ideal slots/duration): {:.3} ({:.1} / {:.1})",
                l.slots(),
                l.efficiency(),
                l.jobs_per_s,
                l.ideal_per_s
            ),
            None => write!(f, "no levels measured"),
        }
    }
}

/// `4x16` for four processes of 16 slots; `2x3+2x2` when they differ.
fn describe(processes: &[usize]) -> String {
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &p in processes {
        match groups.last_mut() {
            Some((n, s)) if *s == p => *n += 1,
            _ => groups.push((1, p)),
        }
    }
    groups
        .iter()
        .map(|(n, s)| format!("{n}x{s}"))
        .collect::<Vec<_>>()
        .join("+")
}

/// `slots` spread over at most `trainers` processes, as evenly as possible.
pub fn spread(slots: usize, trainers: usize) -> Vec<usize> {
    let n = trainers.clamp(1, slots.max(1));
    (0..n)
        .map(|i| slots / n + usize::from(i < slots % n))
        .collect()
}

impl ScalingConfig {
    fn check(&self) -> Result<()> {
        let bad = |s: &str| Err(BenchError::Config(s.into()));
        if self.levels.is_empty() || self.levels.contains(&0) {
            return bad("--levels must list slot counts of at least 1");
        }
        if self.trainers == 0 {
            return bad("--trainers must be at least 1");
        }
        if self.job_ms == 0 || self.job_ms > trainer::evaluator::MAX_NOOP_SLEEP_MS {
            return bad("--job-ms must be between 1 and 3600000");
        }
        if self.rounds == 0 {
            return bad("--rounds must be at least 1");
        }
        Ok(())
    }
}

/// Run the benchmark under a fresh prefix on `target`.
pub async fn run(target: &Target, config: &ScalingConfig) -> Result<ScalingReport> {
    config.check()?;
    let ws = Workspace::open(target, "scaling").await?;
    let deadline = tokio::time::Instant::now() + config.limit;
    let body = async {
        let mut levels = Vec::with_capacity(config.levels.len());
        for &slots in &config.levels {
            levels.push(level(&ws, config, slots, deadline).await?);
        }
        Ok(ScalingReport {
            prefix: ws.prefix().into(),
            job_ms: config.job_ms,
            rounds: config.rounds,
            levels,
        })
    };
    ws.run(body).await
}

/// One level: start the processes, warm up, time, stop them (also when
/// the level failed or ran past `deadline`, so that none outlives it).
async fn level(
    ws: &Workspace,
    config: &ScalingConfig,
    slots: usize,
    deadline: tokio::time::Instant,
) -> Result<Level> {
    let processes = spread(slots, config.trainers);
    let mut trainers = Vec::with_capacity(processes.len());
    let mut spawned = Ok(());
    for (i, &k) in processes.iter().enumerate() {
        let worker = format!("{}-s{slots}-t{i}", ws.prefix());
        match TrainerProcess::spawn(ws, &config.trainer_exe, &worker, k) {
            Ok(t) => trainers.push(t),
            Err(e) => {
                spawned = Err(e);
                break;
            }
        }
    }
    let timed = async {
        spawned?;
        wait_ready(ws.queue(), &mut trainers).await?;
        let q = ws.queue();
        let warm = format!("warmup-{slots}");
        enqueue_noops(q, &warm, slots, config.job_ms).await?;
        collect(q, &warm, slots).await?;

        let id = format!("slots-{slots}");
        let jobs = slots * config.rounds;
        let start_ms = queue::now_ms();
        enqueue_noops(q, &id, jobs, config.job_ms).await?;
        let end_ms = collect(q, &id, jobs).await?;
        let seconds = end_ms.saturating_sub(start_ms).max(1) as f64 / 1000.0;
        Ok(Level {
            processes: processes.clone(),
            jobs,
            seconds,
            jobs_per_s: jobs as f64 / seconds,
            ideal_per_s: slots as f64 * 1000.0 / config.job_ms as f64,
        })
    };
    let out = tokio::time::timeout_at(deadline, timed)
        .await
        .unwrap_or_else(|_| {
            Err(BenchError::Timeout {
                what: "the scaling benchmark".into(),
                limit: config.limit,
            })
        });
    let mut stopped = Ok(());
    for t in trainers {
        let r = t.stop().await;
        if stopped.is_ok() {
            stopped = r;
        }
    }
    let level = out?;
    stopped?;
    Ok(level)
}

/// Wait until every trainer has sent its first heartbeat.
async fn wait_ready(q: &RedisQueue, trainers: &mut [TrainerProcess]) -> Result<()> {
    let start = Instant::now();
    loop {
        let alive = q.workers(Duration::from_secs(60)).await?;
        if trainers.iter().all(|t| alive.contains(&t.worker)) {
            return Ok(());
        }
        for t in trainers.iter_mut() {
            if let Ok(Some(status)) = t.child.try_wait() {
                let log = t.log().await;
                return Err(BenchError::Trainer {
                    worker: t.worker.clone(),
                    reason: format!("exited with {status} before it was ready: {log}"),
                });
            }
        }
        if start.elapsed() > READY_LIMIT {
            let t = trainers
                .iter()
                .find(|t| !alive.contains(&t.worker))
                .expect("one trainer is not ready");
            return Err(BenchError::Trainer {
                worker: t.worker.clone(),
                reason: format!("sent no heartbeat within {} s", READY_LIMIT.as_secs()),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One `nas trainer` child process.
struct TrainerProcess {
    worker: String,
    child: Child,
    /// Collects the tail of its stderr, for errors.
    stderr: Option<JoinHandle<String>>,
}

impl TrainerProcess {
    /// Start `exe trainer --slots k` on the workspace's Redis and prefix.
    /// The URL and prefix go by environment, so the password stays off the
    /// process list.
    fn spawn(ws: &Workspace, exe: &std::path::Path, worker: &str, slots: usize) -> Result<Self> {
        let c = ws.config();
        let mut child = Command::new(exe)
            .arg("trainer")
            .args(["--slots", &slots.to_string()])
            .args(["--worker-id", worker])
            .args(["--lease-secs", &c.lease.as_secs_f64().to_string()])
            .args(["--max-attempts", &c.max_attempts.to_string()])
            .args(["--backoff-ms", &c.backoff_base.as_millis().to_string()])
            .env("REDIS_URL", ws.url().expose())
            .env("NAS_PREFIX", ws.prefix())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(BenchError::io(format!(
                "starting {} trainer --slots {slots}",
                exe.display()
            )))?;
        let stderr = child.stderr.take().map(|mut pipe| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf).await;
                tail(&String::from_utf8_lossy(&buf))
            })
        });
        Ok(Self {
            worker: worker.into(),
            child,
            stderr,
        })
    }

    /// The tail of its stderr, once it has exited.
    async fn log(&mut self) -> String {
        match self.stderr.take() {
            Some(h) => tokio::time::timeout(Duration::from_secs(2), h)
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    /// SIGTERM (through kill(1); this crate has no unsafe code to send it
    /// itself), wait for a clean exit, and SIGKILL if it does not come.
    async fn stop(mut self) -> Result<()> {
        let termed = match self.child.id() {
            Some(pid) => std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success()),
            None => false,
        };
        if !termed {
            let _ = self.child.start_kill();
        }
        match tokio::time::timeout(STOP_LIMIT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() || !termed => Ok(()),
            Ok(Ok(status)) => {
                let log = self.log().await;
                Err(BenchError::Trainer {
                    worker: self.worker.clone(),
                    reason: format!("exited with {status}: {log}"),
                })
            }
            Ok(Err(e)) => Err(BenchError::Trainer {
                worker: self.worker.clone(),
                reason: format!("cannot wait for it: {e}"),
            }),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(BenchError::Trainer {
                    worker: self.worker.clone(),
                    reason: format!(
                        "still running {} s after SIGTERM; killed",
                        STOP_LIMIT.as_secs()
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spread_evenly_over_processes() {
        assert_eq!(spread(1, 4), [1]);
        assert_eq!(spread(4, 4), [1, 1, 1, 1]);
        assert_eq!(spread(64, 4), [16; 4]);
        assert_eq!(spread(10, 4), [3, 3, 2, 2]);
        assert_eq!(describe(&spread(64, 4)), "4x16");
        assert_eq!(describe(&spread(10, 4)), "2x3+2x2");
    }

    #[test]
    fn efficiency_is_measured_over_ideal_and_ends_the_report() {
        let level = Level {
            processes: vec![16; 4],
            jobs: 2560,
            seconds: 2.1,
            jobs_per_s: 2560.0 / 2.1,
            ideal_per_s: 64.0 / 0.05,
        };
        assert!((level.efficiency() - 0.952).abs() < 1e-3);
        let report = ScalingReport {
            prefix: "p".into(),
            job_ms: 50,
            rounds: 40,
            levels: vec![level],
        };
        let text = report.to_string();
        assert_eq!(
            text.lines().last().unwrap(),
            "efficiency at 64 slots (measured jobs/s / ideal slots/duration): 0.952 (1219.0 / 1280.0)"
        );
    }
}
