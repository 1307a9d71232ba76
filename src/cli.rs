//! The command line: the subcommands, each with the flags its module under
//! `cmd/` declares, and the dispatch from a parsed command line to them.
//! Dependencies run one way: `main` → `cli` → `cmd::*` → `args`,
//! `runtime` (leaves); no module under `cmd/` names `cli`.

use crate::cmd::{
    arch, bench, client, daemon, darts, dashboard, data, export, search, space, surrogate, train,
};
use crate::runtime::block_on;
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// How logs are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object per line.
    Json,
}

/// Neural architecture search on a job queue.
#[derive(Debug, Parser)]
#[command(name = "nas", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: human or json (level from RUST_LOG, default info).
    #[arg(long, global = true, env = "NAS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search spaces: list them, enumerate or sample genotypes.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// One architecture: validate it, show its canonical form and hash.
    #[command(subcommand)]
    Arch(arch::ArchCommand),
    /// Datasets: inspect what a folder holds.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Run a whole search on this machine, without Redis: in-process queue,
    /// trainer slots and surrogate; state and results in --results.
    Search(Box<search::SearchArgs>),
    /// Export a search's best architecture: genotype (text, JSON), weights,
    /// a standalone PyTorch model.py, all results as CSV, a picture of the
    /// cell and plots of the search's progress.
    Export(Box<export::ExportArgs>),
    /// Train one architecture on a dataset outside any search and print its scores.
    Train(Box<train::TrainArgs>),
    /// Run one DARTS search on this machine (a supernet over the darts or
    /// nb201 cell space, bilevel optimization of weights and α): α and the
    /// derived genotype every epoch, then the result.
    Darts(Box<darts::DartsArgs>),
    /// Run a surrogate replica: ranks candidates for surrogate-driven
    /// strategies over Redis (`nas surrogate bench`: its ranking quality).
    Surrogate(Box<surrogate::SurrogateArgs>),
    /// Serve the web dashboard of a deployment: searches, each search's
    /// progress and evaluations, the fleet; and its JSON API.
    Dashboard(Box<dashboard::DashboardArgs>),
    /// Run the scheduler daemon: drives submitted searches over the queue.
    Scheduler(Box<daemon::SchedulerArgs>),
    /// Run a trainer daemon: N job slots that evaluate candidates.
    Trainer(Box<daemon::TrainerArgs>),
    /// Submit a search spec (TOML, or JSON for *.json); prints the search id.
    Submit(client::SubmitArgs),
    /// Show searches: evaluated / queued / leased / failed, best, rate, ETA;
    /// and the trainers alive.
    Status(client::StatusArgs),
    /// Print a search's evaluations.
    Results(client::ResultsArgs),
    /// Cancel a search: its queued jobs are dropped.
    Cancel(client::CancelArgs),
    /// Benchmarks: queue throughput, trainer scaling, search quality
    /// (docs/BENCHMARKS.md has the commands and figures).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The dead-letter list.
    Dlq(client::DlqArgs),
    /// Remove now what finished and cancelled searches left in Redis (the
    /// scheduler lets it expire after --retention-days by itself).
    Gc(client::GcArgs),
    /// Move the queue's keys from the layout before `<prefix>:q:` to their
    /// names under it (with every daemon stopped; the scheduler refuses to
    /// start until it is done).
    MigrateKeys(client::MigrateArgs),
}

/// Run one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c),
        Command::Data(c) => data::run(c),
        Command::Train(args) => train::run(*args),
        Command::Darts(args) => darts::run(*args),
        Command::Search(args) => search::run(*args),
        Command::Export(args) => export::run(*args),
        Command::Surrogate(args) => surrogate::run(*args),
        Command::Dashboard(args) => block_on(dashboard::run(*args)),
        Command::Scheduler(args) => block_on(daemon::scheduler(*args)),
        Command::Trainer(args) => block_on(daemon::trainer(*args)),
        Command::Submit(args) => block_on(client::submit(args)),
        Command::Status(args) => block_on(client::status(args)),
        Command::Results(args) => block_on(client::results(args)),
        Command::Cancel(args) => block_on(client::cancel(args)),
        Command::Dlq(args) => block_on(client::dlq(args)),
        Command::Gc(args) => block_on(client::gc(args)),
        Command::MigrateKeys(args) => block_on(client::migrate_keys(args)),
        Command::Bench(bench::BenchCommand::Surrogate(args)) => surrogate::bench(args),
        Command::Bench(c) => block_on(bench::run(c)),
    }
}
