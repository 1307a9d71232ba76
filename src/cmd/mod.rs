//! Dispatch from parsed flags to the subcommands.

mod arch;
mod space;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Run one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c),
    }
}
