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
    /// Datasets: inspect what a folder holds.
    #[command(subcommand)]
    Data(DataCommand),
    /// Run a whole search on this machine, without Redis: in-process queue,
    /// trainer slots and surrogate; state and results in --results.
    Search(Box<crate::cmd::search::SearchArgs>),
    /// Export a search's best architecture: genotype (text, JSON), weights,
    /// a standalone PyTorch model.py, all results as CSV, a picture of the
    /// cell and plots of the search's progress.
    Export(Box<crate::cmd::export::ExportArgs>),
    /// Train one architecture on a dataset outside any search and print its scores.
    Train(Box<crate::cmd::train::TrainArgs>),
    /// Run one DARTS search on this machine (a supernet over the darts or
    /// nb201 cell space, bilevel optimization of weights and α): α and the
    /// derived genotype every epoch, then the result.
    Darts(Box<crate::cmd::darts::DartsArgs>),
    /// Run a surrogate replica: ranks candidates for surrogate-driven
    /// strategies over Redis (`nas surrogate bench`: its ranking quality).
    Surrogate(Box<crate::cmd::surrogate::SurrogateArgs>),
    /// Run the scheduler daemon: drives submitted searches over the queue.
    Scheduler {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Folder for each search's evaluations.jsonl.
        #[arg(long, default_value = "results")]
        results_dir: std::path::PathBuf,
        /// Where strategies that rank candidates (pnas, surrogate) get their
        /// surrogate: `redis` (the `nas surrogate` service), `embedded` (in
        /// this process) or `none`.
        #[arg(long, default_value = "redis", value_parser = ["redis", "embedded", "none"])]
        surrogate: String,
        /// Seconds to wait for a surrogate reply before asking again.
        #[arg(long, default_value_t = 60.0)]
        surrogate_timeout_secs: f64,
        /// Serve Prometheus metrics (/metrics) and a health check
        /// (/healthz) on this address, e.g. 0.0.0.0:9100 (default: off).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
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
        /// Where torch jobs train: auto (every GPU, else the CPU), cpu, cuda,
        /// cuda:N, or a comma-separated list; jobs go to the least busy.
        #[arg(long, default_value = "auto")]
        device: String,
        /// Checkpoint torch and darts jobs each epoch under this folder
        /// (`<dir>/<search>/<payload digest>/`); a redelivered job resumes
        /// from its checkpoint.
        #[arg(long)]
        checkpoint_dir: Option<std::path::PathBuf>,
        /// Save the weights of final evaluations under this folder
        /// (`<dir>/<search>/<hash>.safetensors`; share it with the scheduler
        /// host for `nas export`).
        #[arg(long, env = "NAS_ARTIFACTS_DIR")]
        artifacts_dir: Option<std::path::PathBuf>,
        /// libtorch threads per job on the CPU (default: cores / slots).
        #[arg(long)]
        cpu_threads: Option<i32>,
        /// Fail every job with this message (drills and poison-job tests).
        #[arg(long, hide = true)]
        fail_all: Option<String>,
        /// Serve Prometheus metrics (/metrics) and a health check
        /// (/healthz) on this address, e.g. 0.0.0.0:9100 (default: off).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
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
        /// Redraw in place every --interval seconds until Ctrl-C, or until
        /// every search shown is done, cancelled or failed.
        #[arg(long, conflicts_with = "json")]
        watch: bool,
        /// Seconds between redraws with --watch.
        #[arg(long, default_value_t = 2.0, requires = "watch")]
        interval: f64,
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
    /// Benchmarks: queue throughput, trainer scaling, search quality
    /// (docs/BENCHMARKS.md has the commands and figures).
    #[command(subcommand)]
    Bench(BenchCommand),
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

/// `nas bench ...`: each runs under a fresh key prefix on --redis, stops by
/// itself within --timeout-secs and deletes its keys.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// No-op candidates through submit, scheduler, queue, trainer and back;
    /// prints jobs/s, overhead p50/p99 and, last, the ratio to
    /// redis-benchmark's lpush ops/s on the same server.
    Queue {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Candidates to measure, over all searches.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Trainer slots.
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Random searches run at once; the jobs are split between them.
        #[arg(long, default_value_t = 8)]
        searches: usize,
        /// Candidates each search keeps queued or running.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        /// Candidates of a search run one at a time afterwards, for the
        /// unloaded overhead per job (0: skip it).
        #[arg(long, default_value_t = 500)]
        latency_jobs: usize,
        /// Requests of the redis-benchmark reference.
        #[arg(long, default_value_t = 100_000)]
        lpush_requests: u64,
        /// Folder of the converted NAS-Bench-201 tables.
        #[arg(long, env = "NAS_NB201_DIR")]
        nb201_dir: Option<std::path::PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Fixed-length jobs through 1, 4, 16 and 64 slots of `nas trainer`
    /// processes; prints throughput efficiency against slots / duration.
    Scaling {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Total trainer slots of each level.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
        levels: Vec<usize>,
        /// The most trainer processes a level's slots are spread over.
        #[arg(long, default_value_t = 4)]
        trainers: usize,
        /// Length of each job, milliseconds.
        #[arg(long, default_value_t = 50)]
        job_ms: u64,
        /// Jobs per slot timed at each level.
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Each strategy on the NAS-Bench-201 table through the queue, seeds
    /// 0..N: best architecture's seed-averaged val_acc, mean and std,
    /// beside the optimum and random search.
    Search {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// The search space (the table evaluator needs nb201).
        #[arg(long, value_parser = parse_space_kind, default_value = "nb201")]
        space: SpaceKind,
        /// cifar10, cifar100 or imagenet.
        #[arg(long, default_value = "cifar10")]
        dataset: String,
        /// Candidates per search.
        #[arg(long, default_value_t = 100)]
        budget: usize,
        /// Searches per strategy, seeds 0..N.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Strategies by spec name; random is the baseline.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "random,evolution,surrogate,rl"
        )]
        strategies: Vec<String>,
        /// Count the evaluations each search needs to come within this many
        /// points of the table's optimum.
        #[arg(long, default_value_t = 0.3)]
        regret: f64,
        /// Candidates each search keeps queued or running.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Trainer slots.
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Folder of the converted NAS-Bench-201 tables.
        #[arg(long, env = "NAS_NB201_DIR")]
        nb201_dir: Option<std::path::PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
    },
    /// Training images/s of a genotype's network in tch against the same
    /// network and settings in PyTorch, measured in the same run; the last
    /// line prints the ratio tch/PyTorch.
    Train {
        /// nb201 or darts.
        #[arg(long, value_parser = parse_space_kind, default_value = "nb201")]
        space: SpaceKind,
        /// The genotype (default: the best NAS-Bench-201 CIFAR-10 cell).
        #[arg(
            long,
            default_value = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        )]
        genotype: String,
        /// An IDX dataset folder.
        #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
        data: std::path::PathBuf,
        /// Initial channels C.
        #[arg(long, default_value_t = 16)]
        channels: i64,
        /// Cells (per stage for nb201).
        #[arg(long, default_value_t = 1)]
        layers: i64,
        /// Images per step.
        #[arg(long, default_value_t = 128)]
        batch_size: i64,
        /// Timed steps.
        #[arg(long, default_value_t = 50)]
        steps: u64,
        /// Untimed steps first.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// libtorch threads on both sides.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// scripts/bench_train.py.
        #[arg(long, default_value = "scripts/bench_train.py")]
        script: std::path::PathBuf,
    },
    /// The surrogate's ranking quality on NAS-Bench-201 (Kendall tau,
    /// Spearman rho) and its ranking speed; the same as `nas surrogate bench`.
    Surrogate(crate::cmd::surrogate::BenchArgs),
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
    /// Print the parameter count of GENOTYPE's network, counted as the
    /// DARTS reference counts it: without the auxiliary head unless
    /// --auxiliary. Defaults: darts C=36 L=20 (with --imagenet C=48 L=14,
    /// 1000 classes, 224x224 inputs); nb201 C=16 N=5; pnas F=48 N=3; macro
    /// takes its filters from the genotype. All: 10 classes, 3x32x32 inputs.
    Params(ParamsArgs),
}

/// `nas arch params`: the genotype and the network's settings.
#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// The search space: macro, pnas, darts or nb201.
    #[arg(long, value_parser = parse_space_kind)]
    pub space: SpaceKind,
    /// The genotype's text form (JSON also accepted), or - to read stdin;
    /// none with --supernet.
    #[arg(required_unless_present = "supernet", conflicts_with = "supernet")]
    pub genotype: Option<String>,
    /// darts, nb201: count the DARTS search supernet (every op on every
    /// edge) as the DARTS reference does (weights only: not α, not running
    /// statistics); defaults darts C=16 L=8, nb201 C=16 N=5.
    #[arg(long, conflicts_with_all = ["auxiliary", "imagenet"])]
    pub supernet: bool,
    /// darts: initial channels C; nb201: C; pnas: filters F (not for macro).
    #[arg(long)]
    pub channels: Option<i64>,
    /// darts: cells L; nb201 and pnas: cells per stage N (not for macro).
    #[arg(long)]
    pub layers: Option<i64>,
    /// Output classes [default: 10, or 1000 with --imagenet].
    #[arg(long)]
    pub classes: Option<i64>,
    /// darts: build the auxiliary head and count it too.
    #[arg(long)]
    pub auxiliary: bool,
    /// Input height and width [default: 32, or 224 with --imagenet].
    #[arg(long)]
    pub input_size: Option<i64>,
    /// Input channels.
    #[arg(long, default_value_t = 3)]
    pub in_channels: i64,
    /// darts: the ImageNet network (NetworkImageNet) instead of CIFAR's.
    #[arg(long)]
    pub imagenet: bool,
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

/// `nas data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print a dataset's format, shape, classes with per-split counts, and
    /// the fingerprint of its content.
    Inspect {
        /// The dataset folder.
        path: std::path::PathBuf,
        /// idx, cifar10, cifar100 or image_folder (default: detected from
        /// the files present).
        #[arg(long)]
        format: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
