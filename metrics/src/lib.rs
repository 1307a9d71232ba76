//! Prometheus metrics of the `nas` daemons (`nas scheduler`, `nas trainer`,
//! `nas surrogate`): one registry per process, the metric families each
//! daemon records, a decorator that counts what passes through the queue
//! ([`MeteredQueue`]), a sampler of the queue's global state ([`sampler`]),
//! and the HTTP endpoint that serves `/metrics` in the text exposition
//! format and `/healthz` ([`server`]).
//!
//! Architecture invariant: of the workspace's crates, metrics depends on
//! `queue` alone, so every service can record into it without depending
//! on another service (`tests/layering.rs` checks it).
//!
//! Architecture invariant: recording a metric never does I/O and never
//! fails; the services stay unaware of metrics, except the surrogate
//! replica, which counts its requests in one place. A family appears in
//! `/metrics` once its group is first touched, so each daemon exposes only
//! its own families (`touch` at start-up shows them at zero).

pub mod meter;
pub mod sampler;
pub mod server;

pub use meter::MeteredQueue;
pub use server::{Server, ServerConfig};

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The process's registry: every family below registers here.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);
    &REGISTRY
}

fn counter(name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid metric name");
    registry()
        .register(Box::new(c.clone()))
        .expect("each family is registered once");
    c
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric name");
    registry()
        .register(Box::new(c.clone()))
        .expect("each family is registered once");
    c
}

fn gauge(name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric name");
    registry()
        .register(Box::new(g.clone()))
        .expect("each family is registered once");
    g
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric name");
    registry()
        .register(Box::new(g.clone()))
        .expect("each family is registered once");
    g
}

/// How a trainer's jobs end (the `outcome` label of `nas_trainer_jobs_total`).
pub const JOB_OUTCOMES: [&str; 4] = ["completed", "failed", "released", "stale"];

/// What a trainer records: its slots, how many are busy, how its jobs end.
#[derive(Debug)]
pub struct TrainerMetrics {
    /// `nas_trainer_slots{device}`: job slots of this trainer; `device` is
    /// `gpu` or `cpu`, where its torch jobs train.
    pub slots: IntGaugeVec,
    /// `nas_trainer_slots_busy{device}`: slots running a job (leases held).
    pub slots_busy: IntGaugeVec,
    /// `nas_trainer_jobs_total{outcome}`: jobs that ended, by outcome
    /// (completed, failed, released, stale); the rate of `completed` is
    /// this trainer's jobs per second.
    pub jobs: IntCounterVec,
    /// `nas_queue_redelivered_total`: jobs this process requeued after their
    /// lease expired (reaping is shared by every trainer).
    pub redelivered: IntCounter,
    /// `nas_queue_dead_lettered_total{by}`: jobs this process moved to the
    /// dead-letter list, by a failure (`fail`) or an expired last lease (`reap`).
    pub dead_lettered: IntCounterVec,
}

/// The trainer's families, registered on first use.
pub fn trainer() -> &'static TrainerMetrics {
    static M: LazyLock<TrainerMetrics> = LazyLock::new(|| {
        TrainerMetrics {
        slots: gauge_vec(
            "nas_trainer_slots",
            "Job slots of this trainer, by the device its torch jobs train on.",
            &["device"],
        ),
        slots_busy: gauge_vec(
            "nas_trainer_slots_busy",
            "Job slots running a job (leases held), by device.",
            &["device"],
        ),
        jobs: counter_vec(
            "nas_trainer_jobs_total",
            "Jobs this trainer finished, by outcome: completed, failed, released (handed back), stale (lease lost).",
            &["outcome"],
        ),
        redelivered: counter(
            "nas_queue_redelivered_total",
            "Jobs this process requeued after their lease expired.",
        ),
        dead_lettered: counter_vec(
            "nas_queue_dead_lettered_total",
            "Jobs this process dead-lettered, by what did it: fail or reap.",
            &["by"],
        ),
    }
    });
    &M
}

/// What a scheduler records about the searches it drives.
#[derive(Debug)]
pub struct SchedulerMetrics {
    /// `nas_scheduler_leader`: 1 while this scheduler holds the leader lock.
    pub leader: IntGauge,
    /// `nas_searches_active`: searches submitted and not yet finished.
    pub searches_active: IntGauge,
    /// `nas_searches_finished_total{status}`: searches this scheduler
    /// finished, by status (done, cancelled, failed).
    pub searches_finished: IntCounterVec,
    /// `nas_scheduler_jobs_enqueued_total`: candidate jobs created.
    pub enqueued: IntCounter,
    /// `nas_scheduler_results_total`: job results consumed; its rate is the
    /// whole system's jobs per second.
    pub results: IntCounter,
}

/// The scheduler's families, registered on first use.
pub fn scheduler() -> &'static SchedulerMetrics {
    static M: LazyLock<SchedulerMetrics> = LazyLock::new(|| SchedulerMetrics {
        leader: gauge(
            "nas_scheduler_leader",
            "1 while this scheduler holds the leader lock and drives searches.",
        ),
        searches_active: gauge(
            "nas_searches_active",
            "Searches submitted and not yet finished.",
        ),
        searches_finished: counter_vec(
            "nas_searches_finished_total",
            "Searches this scheduler finished, by status.",
            &["status"],
        ),
        enqueued: counter(
            "nas_scheduler_jobs_enqueued_total",
            "Candidate jobs this scheduler created on the queue.",
        ),
        results: counter(
            "nas_scheduler_results_total",
            "Job results this scheduler consumed (the system's completed jobs).",
        ),
    });
    &M
}

/// The job states of `nas_queue_jobs{state}`, as `Queue::counts` names them.
pub const JOB_STATES: [&str; 6] = ["queued", "leased", "delayed", "done", "dead", "cancelled"];

/// The queue's global state, sampled by the scheduler (see [`sampler`]).
#[derive(Debug)]
pub struct QueueMetrics {
    /// `nas_queue_jobs{state}`: jobs of the active searches in each state.
    pub jobs: IntGaugeVec,
    /// `nas_queue_leases`: leases held, over every search.
    pub leases: IntGauge,
    /// `nas_queue_delayed`: jobs waiting out a retry backoff.
    pub delayed: IntGauge,
    /// `nas_queue_dead_letters`: jobs in the dead-letter list.
    pub dead_letters: IntGauge,
    /// `nas_queue_redeliveries_total`: jobs redelivered after a lease
    /// expired, since the queue began (mirrors the queue's own counter).
    pub redeliveries: IntCounter,
    /// `nas_trainers_alive`: trainers that sent a heartbeat in the last 10 s.
    pub trainers_alive: IntGauge,
    /// `nas_surrogate_requests_queued`: ranking requests no replica has popped.
    pub surrogate_backlog: IntGauge,
}

/// The sampled queue families, registered on first use.
pub fn queue() -> &'static QueueMetrics {
    static M: LazyLock<QueueMetrics> = LazyLock::new(|| QueueMetrics {
        jobs: gauge_vec(
            "nas_queue_jobs",
            "Jobs of the active searches, by state.",
            &["state"],
        ),
        leases: gauge(
            "nas_queue_leases",
            "Leases held by trainers, over every search.",
        ),
        delayed: gauge("nas_queue_delayed", "Jobs waiting out a retry backoff."),
        dead_letters: gauge("nas_queue_dead_letters", "Jobs in the dead-letter list."),
        redeliveries: counter(
            "nas_queue_redeliveries_total",
            "Jobs redelivered after their lease expired, since the queue began.",
        ),
        trainers_alive: gauge(
            "nas_trainers_alive",
            "Trainers that sent a heartbeat in the last 10 seconds.",
        ),
        surrogate_backlog: gauge(
            "nas_surrogate_requests_queued",
            "Ranking requests waiting for a surrogate replica.",
        ),
    });
    &M
}

/// How a surrogate request ends (the `outcome` label of
/// `nas_surrogate_requests_total`).
pub const SURROGATE_OUTCOMES: [&str; 5] = ["ranked", "refused", "dropped", "expired", "abandoned"];

/// What a surrogate replica records.
#[derive(Debug)]
pub struct SurrogateMetrics {
    /// `nas_surrogate_requests_total{outcome}`: requests served, by outcome
    /// (ranked, refused, dropped, abandoned).
    pub requests: IntCounterVec,
}

/// The surrogate's families, registered on first use.
pub fn surrogate() -> &'static SurrogateMetrics {
    static M: LazyLock<SurrogateMetrics> = LazyLock::new(|| {
        SurrogateMetrics {
        requests: counter_vec(
            "nas_surrogate_requests_total",
            "Ranking requests this replica served, by outcome: ranked, refused (error reply), dropped (no usable reply key), abandoned (at shutdown).",
            &["outcome"],
        ),
    }
    });
    &M
}

/// When this process last heard from Redis, for `/healthz`.
#[derive(Debug, Default)]
pub struct Health {
    /// Milliseconds since the epoch of the last successful Redis call; 0
    /// before the first.
    last_ok_ms: AtomicU64,
}

impl Health {
    /// Record a successful Redis call now.
    pub fn redis_ok(&self) {
        self.last_ok_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Seconds since the last successful Redis call; `None` before the first.
    pub fn redis_age_secs(&self) -> Option<f64> {
        match self.last_ok_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(now_ms().saturating_sub(t) as f64 / 1000.0),
        }
    }
}

/// The process's health record.
pub fn health() -> &'static Health {
    static H: LazyLock<Health> = LazyLock::new(Health::default);
    &H
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Which daemon this process is, for `nas_info` and to show its families
/// at zero from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `nas scheduler`.
    Scheduler,
    /// `nas trainer`, whose torch jobs train on `device` (`gpu` or `cpu`)
    /// with this many slots.
    Trainer {
        /// `gpu` or `cpu`.
        device: &'static str,
        /// Job slots.
        slots: usize,
    },
    /// `nas surrogate`.
    Surrogate,
}

impl Role {
    /// The role's name in `nas_info{role}`.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Scheduler => "scheduler",
            Role::Trainer { .. } => "trainer",
            Role::Surrogate => "surrogate",
        }
    }
}

/// Register `role`'s families with every labelled series at zero, and set
/// `nas_info{role, version} 1`, so that dashboards and alerts see the
/// series before the first event.
pub fn touch(role: Role) {
    static INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
        gauge_vec(
            "nas_info",
            "Always 1: which daemon this process is and its version.",
            &["role", "version"],
        )
    });
    INFO.with_label_values(&[role.name(), env!("CARGO_PKG_VERSION")])
        .set(1);
    match role {
        Role::Scheduler => {
            let s = scheduler();
            for status in ["done", "cancelled", "failed"] {
                s.searches_finished.with_label_values(&[status]);
            }
            let q = queue();
            for state in JOB_STATES {
                q.jobs.with_label_values(&[state]);
            }
        }
        Role::Trainer { device, slots } => {
            let t = trainer();
            t.slots.with_label_values(&[device]).set(slots as i64);
            t.slots_busy.with_label_values(&[device]);
            for outcome in JOB_OUTCOMES {
                t.jobs.with_label_values(&[outcome]);
            }
            for by in ["fail", "reap"] {
                t.dead_lettered.with_label_values(&[by]);
            }
        }
        Role::Surrogate => {
            for outcome in SURROGATE_OUTCOMES {
                surrogate().requests.with_label_values(&[outcome]);
            }
        }
    }
}

/// The registry in the text exposition format (version 0.0.4).
pub fn render() -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry().gather(), &mut out)
        .expect("text encoding writes to memory and cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}
