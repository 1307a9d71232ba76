//! The `nas` command line: parses flags into configs and calls the libraries.
//! Every subcommand lives in its own module under `cmd/`.

mod args;
mod cli;
mod cmd;
mod metered;
mod runtime;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    init_tracing(args.log_format);
    // Failpoints armed by FAILPOINTS=name=action;... (the fault tests); none
    // otherwise.
    let _failpoints = fail::FailScenario::setup();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`nas space enumerate ... | head`) is not an error.
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr, human-readable or as JSON lines; RUST_LOG sets the
/// level (default info).
fn init_tracing(format: cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == cli::LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}
