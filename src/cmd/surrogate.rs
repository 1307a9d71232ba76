//! `nas surrogate`: one replica of the ranking service (flags wired to
//! `surrogate::ServiceConfig`, running until SIGTERM or SIGINT), and
//! `nas surrogate bench`: how well the surrogate ranks NAS-Bench-201 cells
//! it was not fitted on (`surrogate::bench`).

use crate::args::RedisArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use space::SpaceKind;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use surrogate::bench::BenchConfig;
use surrogate::{PredictorKind, ServiceConfig};

/// `nas surrogate [bench]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SurrogateArgs {
    /// Measure instead of serving.
    #[command(subcommand)]
    pub command: Option<SurrogateCommand>,
    /// Where Redis is.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// The most candidates one request may carry (at most 20,000).
    #[arg(long, default_value_t = 20_000)]
    pub max_candidates: usize,
    /// Requests fitted or scored at once; a request is popped only when one
    /// of these is free.
    #[arg(long, default_value_t = 2)]
    pub max_concurrent_fits: usize,
    /// Seconds a reply waits on its key for the client.
    #[arg(long, default_value_t = 120)]
    pub reply_ttl_secs: u64,
    /// Warm-start a search's refit from its cached model: faster, but the
    /// scores then depend on which replica served the search before.
    #[arg(long)]
    pub warm_start: bool,
    /// Seconds the requests in hand may finish after SIGTERM/SIGINT.
    #[arg(long, default_value_t = 30.0)]
    pub drain_secs: f64,
    /// Serve Prometheus metrics (/metrics) and a health check (/healthz)
    /// on this address, e.g. 0.0.0.0:9100 (default: off).
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `nas surrogate ...`
#[derive(Debug, Subcommand)]
pub enum SurrogateCommand {
    /// Fit on N random NAS-Bench-201 cells (seed-mean val_acc), print
    /// Kendall tau-b and Spearman rho on 1,000 held-out cells, mean over
    /// seeds, for N = 50, 100, 200, 400 unless --train is given; then the
    /// time to rank 10,000 candidates beside the fit's.
    Bench(BenchArgs),
}

/// `nas surrogate bench` flags.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The search space (only nb201 has a table of true accuracies).
    #[arg(long, default_value = "nb201", value_parser = |s: &str| s.parse::<SpaceKind>().map_err(|e| e.reason))]
    pub space: SpaceKind,
    /// cifar10, cifar100 or imagenet.
    #[arg(long, default_value = "cifar10")]
    pub dataset: String,
    /// Training-set sizes, comma-separated [default: 50,100,200,400].
    #[arg(long, value_delimiter = ',')]
    pub train: Vec<usize>,
    /// Fits per size, seeds 0..K.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Predictors to compare on the same splits, comma-separated: lstm,
    /// mlp (5 MLPs over token embeddings), onehot (5 dense networks over the
    /// adjacency and op one-hot), path (the same over the path encoding).
    #[arg(long, value_delimiter = ',', default_value = "lstm,mlp,onehot,path")]
    pub predictors: Vec<String>,
    /// Held-out cells per fit.
    #[arg(long, default_value_t = 1000)]
    pub holdout: usize,
    /// Candidates in the timed ranking.
    #[arg(long, default_value_t = 10_000)]
    pub rank_candidates: usize,
    /// Folder of the converted NAS-Bench-201 tables.
    #[arg(long, env = "NAS_NB201_DIR")]
    pub nb201_dir: Option<PathBuf>,
}

/// Serve, or measure.
pub fn run(args: SurrogateArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(SurrogateCommand::Bench(b)) => bench(b),
        None => crate::runtime::block_on(serve(args)),
    }
}

async fn serve(args: SurrogateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (1..=surrogate::wire::MAX_CANDIDATES).contains(&args.max_candidates),
        "--max-candidates must be between 1 and {}",
        surrogate::wire::MAX_CANDIDATES
    );
    anyhow::ensure!(
        args.max_concurrent_fits >= 1,
        "--max-concurrent-fits must be at least 1"
    );
    anyhow::ensure!(
        args.drain_secs.is_finite() && args.drain_secs >= 0.0,
        "--drain-secs must be >= 0"
    );
    let q = &args.redis;
    let config = ServiceConfig {
        prefix: q.prefix.clone(),
        max_candidates: args.max_candidates,
        max_concurrent_fits: args.max_concurrent_fits,
        reply_ttl: Duration::from_secs(args.reply_ttl_secs.max(1)),
        engine: surrogate::EngineConfig {
            warm_start: args.warm_start,
            ..Default::default()
        },
        drain: Duration::from_secs_f64(args.drain_secs),
        connect_timeout: q.connect_timeout(),
        ..ServiceConfig::new(q.url()?)
    };
    crate::runtime::start_metrics(args.metrics_addr, metrics::Role::Surrogate).await?;
    let report = surrogate::run(config, crate::runtime::shutdown_signal())
        .await
        .context("surrogate replica")?;
    eprintln!(
        "surrogate: ranked {} refused {} dropped {} abandoned {}",
        report.ranked, report.refused, report.dropped, report.abandoned
    );
    Ok(ExitCode::SUCCESS)
}

pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    surrogate::bench::check_space(args.space)?;
    let defaults = BenchConfig::default();
    let config = BenchConfig {
        nb201_dir: args.nb201_dir.unwrap_or(defaults.nb201_dir),
        dataset: args.dataset.parse().context("--dataset")?,
        train: if args.train.is_empty() {
            defaults.train
        } else {
            args.train
        },
        seeds: args.seeds,
        predictors: args
            .predictors
            .iter()
            .map(|p| p.parse::<PredictorKind>().context("--predictors"))
            .collect::<anyhow::Result<Vec<_>>>()?,
        holdout: args.holdout,
        rank_candidates: args.rank_candidates,
        fit: defaults.fit,
    };
    let report = surrogate::bench::run(&config)?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
