//! `nas data inspect`: what a dataset (a folder of images, a table or a set
//! of series) holds, as the trainers will load it.

use anyhow::Context;
use clap::Subcommand;

use std::process::ExitCode;

/// `nas data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print a dataset's format, kind, task, shape, sizes and fingerprint;
    /// tables: each column's kind, categories and missing values;
    /// classification: per-split class counts; regression: per-split target
    /// statistics.
    Inspect {
        /// The dataset folder, or a .csv, .parquet or .ts file.
        path: std::path::PathBuf,
        /// How to read it.
        #[command(flatten)]
        read: crate::args::ReadArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Inspect { path, read, json } => {
            let ds = read
                .load(&path)
                .with_context(|| format!("cannot load the dataset at {}", path.display()))?;
            let description = data::describe(&ds);
            if json {
                println!("{}", serde_json::to_string_pretty(&description)?);
            } else {
                print!("{description}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
