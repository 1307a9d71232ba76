//! `nas bench queue`: no-op candidates through the whole path. Random
//! searches over NAS-Bench-201, evaluated by table lookup with no simulated
//! training (`time_scale` 0, a microsecond each), are submitted to an
//! in-process scheduler; it enqueues candidates, an in-process trainer
//! claims and evaluates them and records results, and the scheduler
//! consumes them and proposes the next. What is measured is therefore the
//! system's own cost per candidate.
//!
//! Reported: jobs per second from the first submission to the last search
//! finished; the per-job overhead, a candidate's time from its proposal and
//! enqueue to its result being consumed by the scheduler (p50 and p99),
//! under that load (where it is mostly time spent waiting in the queue) and
//! for one candidate at a time; the same trainer's jobs per second without
//! the scheduler; and the headline ratio of jobs per second to
//! `redis-benchmark`'s lpush operations per second on the same server
//! ([`crate::lpush`]).

use crate::noop::{collect, enqueue_noops};
use crate::services::{ServiceConfig, Services};
use crate::stats::percentile;
use crate::workspace::within;
use crate::{lpush, BenchError, Result, Target, Workspace};
use queue::wire::EvaluatorSpec;
use scheduler::strategy::StrategySpec;
use scheduler::{SearchSpec, SearchState};
use space::Space;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Candidates of the warm-up search, which loads the table into the
/// trainer and the Lua scripts into Redis before the clock starts.
const WARMUP: usize = 200;

/// The most candidates one search may have: the cells of NAS-Bench-201.
const MAX_BUDGET: usize = space::nb201::SIZE;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct QueueBenchConfig {
    /// Candidates to measure, over all searches.
    pub jobs: usize,
    /// The trainer's job slots.
    pub slots: usize,
    /// Searches run at once; the jobs are split evenly between them.
    pub searches: usize,
    /// Candidates each search keeps queued or running (its `parallel`).
    pub parallel: usize,
    /// Candidates of the one-at-a-time latency search (0: skip it).
    pub latency_jobs: usize,
    /// Where the converted NAS-Bench-201 tables are.
    pub nb201_dir: PathBuf,
    /// Requests of the redis-benchmark reference.
    pub lpush_requests: u64,
    /// The whole run, reference included, must end within this.
    pub limit: Duration,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueReport {
    /// The run's key prefix (deleted at the end).
    pub prefix: String,
    /// Candidates measured.
    pub jobs: usize,
    /// Trainer slots.
    pub slots: usize,
    /// Searches at once.
    pub searches: usize,
    /// Candidates in flight per search.
    pub parallel: usize,
    /// From the first submission to the last search finished.
    pub seconds: f64,
    /// `jobs / seconds`.
    pub jobs_per_s: f64,
    /// Time from a candidate's enqueue to its result consumed, under load.
    pub overhead: Overhead,
    /// Candidates of the latency search.
    pub latency_jobs: usize,
    /// The same for one candidate at a time (one search with `parallel`
    /// 1), if it ran.
    pub latency: Option<Overhead>,
    /// CPU seconds redis-server spent during the timed searches (all its
    /// clients), from its `INFO cpu`.
    pub redis_cpu_s: f64,
    /// CPU seconds this process (scheduler and trainer) spent during the
    /// timed searches, if the platform tells (Linux `/proc/self/stat`).
    pub process_cpu_s: Option<f64>,
    /// Jobs per second of the same trainer without the scheduler: as many
    /// no-op jobs enqueued at once, straight onto the queue.
    pub direct_jobs_per_s: f64,
    /// Requests of the reference.
    pub lpush_requests: u64,
    /// The reference: redis-benchmark's lpush operations per second.
    pub lpush_ops_per_s: f64,
}

/// Percentiles of the time from a candidate's enqueue to its result being
/// consumed by the scheduler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overhead {
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

impl Overhead {
    fn of(ms: &[f64]) -> Self {
        Self {
            p50_ms: percentile(ms, 50.0).unwrap_or(0.0),
            p99_ms: percentile(ms, 99.0).unwrap_or(0.0),
        }
    }
}

impl QueueReport {
    /// The headline: jobs per second over lpush operations per second.
    pub fn ratio(&self) -> f64 {
        self.jobs_per_s / self.lpush_ops_per_s
    }
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "queue benchmark: {} candidates through submit -> scheduler -> queue -> trainer -> scheduler",
            self.jobs
        )?;
        writeln!(
            f,
            "  driven by: scheduler::run and trainer::run in this process (one tokio runtime, a Redis connection each), key prefix {}",
            self.prefix
        )?;
        writeln!(
            f,
            "  workload: {} random searches over nb201, {} candidates in flight each, evaluated by table lookup (time_scale 0); {} trainer slots",
            self.searches, self.parallel, self.slots
        )?;
        writeln!(
            f,
            "  time: {:.3} s from the first submission to the last search finished",
            self.seconds
        )?;
        writeln!(f, "  throughput: {:.0} jobs/s", self.jobs_per_s)?;
        writeln!(
            f,
            "  overhead per job, enqueue to result consumed by the scheduler: p50 {:.0} ms, p99 {:.0} ms under this load ({} in flight for {} slots)",
            self.overhead.p50_ms,
            self.overhead.p99_ms,
            self.searches * self.parallel,
            self.slots
        )?;
        let per_job = |s: f64| s * 1e6 / self.jobs as f64;
        write!(
            f,
            "  CPU per job while timed: redis-server {:.0} us",
            per_job(self.redis_cpu_s)
        )?;
        match self.process_cpu_s {
            Some(p) => writeln!(
                f,
                ", this process (scheduler + trainer) {:.0} us",
                per_job(p)
            )?,
            None => writeln!(f)?,
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "  overhead per job one at a time (a search of {} with 1 in flight): p50 {:.0} ms, p99 {:.0} ms",
                self.latency_jobs, l.p50_ms, l.p99_ms
            )?;
        }
        writeln!(
            f,
            "  without the scheduler ({} no-op jobs enqueued at once, same trainer): {:.0} jobs/s",
            self.jobs, self.direct_jobs_per_s
        )?;
        writeln!(
            f,
            "  reference: redis-benchmark -t lpush -P 1 -q -n {} on the same server: {:.0} ops/s",
            self.lpush_requests, self.lpush_ops_per_s
        )?;
        write!(
            f,
            "ratio jobs/s / lpush ops/s: {:.4} ({:.0} / {:.0})",
            self.ratio(),
            self.jobs_per_s,
            self.lpush_ops_per_s
        )
    }
}

impl QueueBenchConfig {
    /// Check the settings; returns each search's budget.
    pub fn budgets(&self) -> Result<Vec<usize>> {
        let bad = |s: String| Err(BenchError::Config(s));
        if self.jobs == 0 {
            return bad("--jobs must be at least 1".into());
        }
        if self.searches == 0 || self.searches > self.jobs {
            return bad(format!(
                "--searches {} must be between 1 and --jobs {}",
                self.searches, self.jobs
            ));
        }
        if self.parallel == 0 {
            return bad("--parallel must be at least 1".into());
        }
        let (each, extra) = (self.jobs / self.searches, self.jobs % self.searches);
        let budgets: Vec<usize> = (0..self.searches)
            .map(|i| each + usize::from(i < extra))
            .collect();
        if budgets[0] > MAX_BUDGET {
            return bad(format!(
                "--jobs {} over --searches {} gives {} candidates per search, more than the {MAX_BUDGET} cells of nb201; raise --searches",
                self.jobs, self.searches, budgets[0]
            ));
        }
        Ok(budgets)
    }
}

/// A random search over NAS-Bench-201 evaluated by table lookup.
pub(crate) fn random_search(name: String, budget: usize, seed: u64, parallel: usize) -> SearchSpec {
    SearchSpec {
        name: Some(name),
        space: Space::Nb201,
        strategy: StrategySpec::Random,
        evaluator: EvaluatorSpec::Nb201 {
            dataset: nb201::Dataset::Cifar10.name().into(),
            time_scale: 0.0,
        },
        budget,
        seed,
        parallel,
        final_stage: None,
        fidelity: None,
    }
}

/// The file the trainer will load, checked up front so that a missing
/// table is one clear error rather than dead-lettered jobs.
pub(crate) fn check_table(dir: &std::path::Path, dataset: nb201::Dataset) -> Result<()> {
    let path = dir.join(dataset.file_name());
    if path.is_file() {
        Ok(())
    } else {
        Err(BenchError::Config(format!(
            "NAS-Bench-201 table {} not found (scripts/setup.sh converts it; --nb201-dir or NAS_NB201_DIR point elsewhere)",
            path.display()
        )))
    }
}

/// Run the benchmark under a fresh prefix on `target`.
pub async fn run(target: &Target, config: &QueueBenchConfig) -> Result<QueueReport> {
    let budgets = config.budgets()?;
    check_table(&config.nb201_dir, nb201::Dataset::Cifar10)?;
    let ws = Workspace::open(target, "queue").await?;
    ws.run(async {
        let services = Services::start(
            &ws,
            &ServiceConfig {
                slots: config.slots,
                nb201_dir: config.nb201_dir.clone(),
                ranker: None,
            },
        )
        .await?;
        let measured = within(
            "the queue benchmark",
            config.limit,
            measure(&ws, &services, config, budgets),
        )
        .await;
        // Stopped before the reference runs, and before the cleanup even
        // when the measurement failed, so that nothing writes afterwards.
        let stopped = services.stop().await;
        let mut report = measured?;
        stopped?;
        report.lpush_ops_per_s = lpush::ops_per_s(
            ws.url(),
            &mut ws.queue().connection(),
            config.lpush_requests,
        )
        .await?;
        Ok(report)
    })
    .await
}

/// Everything but the reference, whose figure is left at 0.
async fn measure(
    ws: &Workspace,
    services: &Services,
    config: &QueueBenchConfig,
    budgets: Vec<usize>,
) -> Result<QueueReport> {
    services
        .search_all(vec![random_search(
            "bench queue warmup".into(),
            WARMUP.min(config.jobs),
            u64::MAX,
            config.parallel,
        )])
        .await?;

    let specs = budgets
        .iter()
        .enumerate()
        .map(|(i, &b)| random_search(format!("bench queue {i}"), b, i as u64, config.parallel))
        .collect();
    let mut con = ws.queue().connection();
    let (redis_cpu0, process_cpu0) = (redis_cpu_seconds(&mut con).await?, process_cpu_seconds());
    let states = services.search_all(specs).await?;
    let redis_cpu_s = redis_cpu_seconds(&mut con).await? - redis_cpu0;
    let process_cpu_s = process_cpu_seconds().zip(process_cpu0).map(|(b, a)| b - a);
    let seconds = span_seconds(&states);
    let overheads = overheads_of(services, &states).await?;
    let jobs = overheads.len();

    let latency = if config.latency_jobs > 0 {
        let spec = random_search("bench queue latency".into(), config.latency_jobs, 1, 1);
        let states = services.search_all(vec![spec]).await?;
        Some(Overhead::of(&overheads_of(services, &states).await?))
    } else {
        None
    };

    let start_ms = queue::now_ms();
    enqueue_noops(ws.queue(), "direct", jobs, 0).await?;
    let end_ms = collect(ws.queue(), "direct", jobs).await?;
    let direct_seconds = end_ms.saturating_sub(start_ms).max(1) as f64 / 1000.0;
    Ok(QueueReport {
        prefix: ws.prefix().into(),
        jobs,
        slots: config.slots,
        searches: config.searches,
        parallel: config.parallel,
        seconds,
        jobs_per_s: jobs as f64 / seconds,
        overhead: Overhead::of(&overheads),
        latency_jobs: config.latency_jobs,
        latency,
        redis_cpu_s,
        process_cpu_s,
        direct_jobs_per_s: jobs as f64 / direct_seconds,
        lpush_requests: config.lpush_requests,
        lpush_ops_per_s: 0.0,
    })
}

/// Each candidate's time from its enqueue to its result consumed, in ms,
/// over finished searches; a search with a candidate missing or failed is
/// an error.
async fn overheads_of(services: &Services, states: &[SearchState]) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for state in states {
        let evals = scheduler::client::results(services.store(), &state.id).await?;
        if evals.len() != state.spec.budget || state.failed > 0 {
            return Err(BenchError::Incomplete(format!(
                "search {}: {} of {} candidates evaluated, {} failed",
                state.id, state.evaluated, state.spec.budget, state.failed
            )));
        }
        out.extend(
            evals
                .iter()
                .map(|e| e.consumed_ms.saturating_sub(e.queued_ms) as f64),
        );
    }
    Ok(out)
}

/// CPU time redis-server has used since it started (user + system), from
/// `INFO cpu`.
async fn redis_cpu_seconds(con: &mut redis::aio::ConnectionManager) -> Result<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(con).await?;
    parse_redis_cpu(&info).ok_or_else(|| {
        BenchError::Incomplete("redis INFO cpu has no used_cpu_user and used_cpu_sys".into())
    })
}

fn parse_redis_cpu(info: &str) -> Option<f64> {
    let field = |name: &str| {
        info.lines().find_map(|l| {
            l.trim()
                .strip_prefix(name)?
                .strip_prefix(':')?
                .parse::<f64>()
                .ok()
        })
    };
    Some(field("used_cpu_user")? + field("used_cpu_sys")?)
}

/// CPU time this process has used (user + system, all threads), from
/// `/proc/self/stat` in Linux's fixed 100 ticks per second; `None` where
/// there is no such file.
fn process_cpu_seconds() -> Option<f64> {
    parse_proc_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn parse_proc_stat(stat: &str) -> Option<f64> {
    // Fields 14 and 15 (utime, stime); the command name before them, in
    // parentheses, may hold spaces, so count from its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Seconds from the first search's submission to the last one's end (at
/// least a millisecond, the clocks' resolution).
fn span_seconds(states: &[SearchState]) -> f64 {
    let start = states.iter().map(|s| s.created_ms).min().unwrap_or(0);
    let end = states
        .iter()
        .filter_map(|s| s.finished_ms)
        .max()
        .unwrap_or(start);
    (end.saturating_sub(start).max(1)) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(jobs: usize, searches: usize) -> QueueBenchConfig {
        QueueBenchConfig {
            jobs,
            slots: 4,
            searches,
            parallel: 8,
            latency_jobs: 10,
            nb201_dir: PathBuf::from("/nonexistent"),
            lpush_requests: 1000,
            limit: Duration::from_secs(10),
        }
    }

    #[test]
    fn jobs_are_split_evenly_and_fit_the_space() {
        assert_eq!(config(10, 3).budgets().unwrap(), [4, 3, 3]);
        assert_eq!(config(20_000, 8).budgets().unwrap(), [2500; 8]);
        let err = config(20_000, 1).budgets().unwrap_err().to_string();
        assert!(err.contains("20000 candidates per search"), "{err}");
        assert!(config(3, 4).budgets().is_err());
        assert!(config(0, 1).budgets().is_err());
        random_search("x".into(), 4, 1, 8).validate().unwrap();
    }

    #[test]
    fn the_last_line_is_the_ratio() {
        let report = QueueReport {
            prefix: "nas-bench-queue-1".into(),
            jobs: 1000,
            slots: 4,
            searches: 2,
            parallel: 8,
            seconds: 0.5,
            jobs_per_s: 2000.0,
            overhead: Overhead {
                p50_ms: 3.0,
                p99_ms: 9.0,
            },
            latency_jobs: 100,
            redis_cpu_s: 0.06,
            process_cpu_s: Some(0.12),
            latency: Some(Overhead {
                p50_ms: 2.0,
                p99_ms: 4.0,
            }),
            direct_jobs_per_s: 5000.0,
            lpush_requests: 100_000,
            lpush_ops_per_s: 80_000.0,
        };
        let text = report.to_string();
        assert_eq!(
            text.lines().last().unwrap(),
            "ratio jobs/s / lpush ops/s: 0.0250 (2000 / 80000)"
        );
        assert!(
            text.contains("p50 3 ms, p99 9 ms under this load (16 in flight for 4 slots)"),
            "{text}"
        );
        assert!(text.contains("1 in flight): p50 2 ms, p99 4 ms"), "{text}");
        assert!(
            text.contains("redis-server 60 us, this process (scheduler + trainer) 120 us"),
            "{text}"
        );
    }

    #[test]
    fn cpu_times_are_read_from_redis_and_proc() {
        let info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:0.0\r\n";
        assert_eq!(parse_redis_cpu(info), Some(3.75));
        assert_eq!(parse_redis_cpu("# CPU\r\n"), None);
        let stat = "4242 (nas (bench) x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9";
        assert_eq!(parse_proc_stat(stat), Some(3.0));
        assert!(process_cpu_seconds().is_some_and(|s| s > 0.0));
    }

    #[test]
    fn a_missing_table_is_named() {
        let err = check_table(
            std::path::Path::new("/nonexistent"),
            nb201::Dataset::Cifar10,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/cifar10.json"), "{err}");
    }
}
