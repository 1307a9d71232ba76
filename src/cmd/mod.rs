//! Dispatch from parsed flags to the subcommands.

mod arch;
mod bench;
mod client;
mod daemon;
pub mod darts;
mod data;
pub mod export;
mod ranker;
pub mod search;
mod space;
pub mod surrogate;
pub mod train;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

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
        Command::Scheduler {
            queue,
            results_dir,
            surrogate,
            surrogate_timeout_secs,
            metrics_addr,
        } => block_on(daemon::scheduler(
            queue,
            results_dir,
            &surrogate,
            surrogate_timeout_secs,
            metrics_addr,
        )),
        Command::Trainer {
            queue,
            slots,
            grace_secs,
            worker_id,
            nb201_dir,
            device,
            checkpoint_dir,
            artifacts_dir,
            cpu_threads,
            fail_all,
            metrics_addr,
        } => block_on(daemon::trainer(
            queue,
            slots,
            grace_secs,
            worker_id,
            daemon::EvaluatorArgs {
                nb201_dir,
                device,
                checkpoint_dir,
                artifacts_dir,
                cpu_threads,
                fail_all,
            },
            metrics_addr,
        )),
        Command::Submit { queue, spec } => block_on(client::submit(queue, &spec)),
        Command::Status {
            queue,
            id,
            json,
            watch,
            interval,
        } => block_on(client::status(queue, id, json, watch.then_some(interval))),
        Command::Results { queue, id, format } => block_on(client::results(queue, &id, &format)),
        Command::Cancel { queue, id } => block_on(client::cancel(queue, &id)),
        Command::Dlq { queue, command } => block_on(client::dlq(queue, command)),
        Command::Bench(crate::cli::BenchCommand::Surrogate(args)) => surrogate::bench(args),
        Command::Bench(c) => block_on(bench::run(c)),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    f: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?
        .block_on(f)
}
