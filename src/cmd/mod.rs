//! Dispatch from parsed flags to the subcommands.

mod arch;
mod client;
mod daemon;
mod space;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Run one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c),
        Command::Scheduler { queue, results_dir } => {
            block_on(daemon::scheduler(queue, results_dir))
        }
        Command::Trainer {
            queue,
            slots,
            grace_secs,
            worker_id,
            nb201_dir,
            fail_all,
        } => block_on(daemon::trainer(
            queue, slots, grace_secs, worker_id, nb201_dir, fail_all,
        )),
        Command::Submit { queue, spec } => block_on(client::submit(queue, &spec)),
        Command::Status { queue, id, json } => block_on(client::status(queue, id, json)),
        Command::Results { queue, id, format } => block_on(client::results(queue, &id, &format)),
        Command::Cancel { queue, id } => block_on(client::cancel(queue, &id)),
        Command::Dlq { queue, command } => block_on(client::dlq(queue, command)),
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
