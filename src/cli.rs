//! Flags: the low-level arguments of every subcommand, turned into configs
//! by the modules under `cmd/`.

use clap::{Args, Parser, Subcommand};
use space::SpaceKind;

/// Neural architecture search on a job queue.
#[derive(Debug, Parser)]
#[command(name = "nas", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: human or json (level from RUST_LOG, default info).
    #[arg(long, global = true, env = "NAS_LOG_FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search spaces: list them, enumerate or sample genotypes.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// One architecture: validate it, show its canonical form and hash.
    #[command(subcommand)]
    Arch(ArchCommand),
    /// Run the scheduler daemon: drives submitted searches over the queue.
    Scheduler {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Folder for each search's evaluations.jsonl.
        #[arg(long, default_value = "results")]
        results_dir: std::path::PathBuf,
    },
    /// Run a trainer daemon: N job slots that evaluate candidates.
    Trainer {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Concurrent jobs.
        #[arg(long, default_value_t = 1)]
        slots: usize,
        /// Seconds running jobs may finish after SIGTERM/SIGINT before they
        /// are handed back.
        #[arg(long, default_value_t = 0.0)]
        grace_secs: f64,
        /// This worker's name (default: hostname-pid).
        #[arg(long)]
        worker_id: Option<String>,
        /// Folder of the converted NAS-Bench-201 tables.
        #[arg(long, env = "NAS_NB201_DIR")]
        nb201_dir: Option<std::path::PathBuf>,
        /// Fail every job with this message (drills and poison-job tests).
        #[arg(long, hide = true)]
        fail_all: Option<String>,
    },
    /// Submit a search spec (TOML, or JSON for *.json); prints the search id.
    Submit {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// The spec file.
        spec: std::path::PathBuf,
    },
    /// Show searches: evaluated / queued / leased / failed, best, rate, ETA;
    /// and the trainers alive.
    Status {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// One search (default: all).
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a search's evaluations.
    Results {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// The search.
        id: String,
        /// Output format.
        #[arg(long, default_value = "json", value_parser = ["json", "csv"])]
        format: String,
    },
    /// Cancel a search: its queued jobs are dropped.
    Cancel {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// The search.
        id: String,
    },
    /// The dead-letter list.
    Dlq {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// What to do with it.
        #[command(subcommand)]
        command: DlqCommand,
    },
}

/// `nas dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead jobs with their reasons.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Queue dead jobs again with fresh attempts.
    Replay {
        /// Job ids to replay.
        #[arg(required_unless_present = "all")]
        job_ids: Vec<String>,
        /// Replay every dead job.
        #[arg(long)]
        all: bool,
    },
}

/// Where the queue is and how it behaves.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Redis URL: redis://[user:password@]host:port/db or rediss:// for TLS.
    #[arg(
        long = "redis",
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379/"
    )]
    pub redis: queue::RedisUrl,
    /// PEM CA certificate that signed the Redis server's TLS certificate
    /// (for rediss:// with a private CA; default: the system trust store).
    #[arg(long, env = "NAS_REDIS_CA")]
    pub redis_ca: Option<std::path::PathBuf>,
    /// Key prefix, so deployments can share one Redis.
    #[arg(long, env = "NAS_PREFIX", default_value = "nas")]
    pub prefix: String,
    /// Lease length in seconds; trainers renew every third of it.
    #[arg(long, default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Deliveries before a failing job is dead-lettered.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Backoff before the first retry, milliseconds (doubles per attempt).
    #[arg(long, default_value_t = 500)]
    pub backoff_ms: u64,
    /// Give up connecting to Redis after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout_secs: f64,
}

/// `nas space ...`
#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// List the search spaces with their sizes.
    List,
    /// Print every genotype of a finite space, one canonical form per line.
    Enumerate {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
    },
    /// Print seeded uniformly random genotypes, one per line.
    Sample {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// Seed of the generator; the same seed prints the same genotypes.
        #[arg(long)]
        seed: u64,
        /// How many genotypes to print.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `nas arch ...`
#[derive(Debug, Subcommand)]
pub enum ArchCommand {
    /// Exit 0 if GENOTYPE is in the space, else non-zero with the reason on stderr.
    Validate {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// The genotype's text form (JSON also accepted), or - to read stdin.
        genotype: String,
    },
    /// Print the canonical form and the stable hash of GENOTYPE.
    Show {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// The genotype's text form (JSON also accepted), or - to read stdin.
        genotype: String,
        /// Print JSON (space, text, canonical form, hash, genotype).
        #[arg(long)]
        json: bool,
    },
}

/// Which space, with its settings.
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// The search space: macro, pnas, darts or nb201.
    #[arg(long, value_parser = parse_space_kind)]
    pub space: SpaceKind,
    /// PNAS: number of blocks per cell (enumerate, sample: exactly B; arch: at most B).
    #[arg(long)]
    pub blocks: Option<usize>,
    /// Macro: number of conv layers N.
    #[arg(long)]
    pub layers: Option<usize>,
}

fn parse_space_kind(s: &str) -> Result<SpaceKind, String> {
    s.parse().map_err(|e: space::SpaceError| e.reason)
}
