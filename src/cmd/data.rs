//! `nas data inspect`: what a dataset (a folder of images, a table or a set
//! of series) holds, as the trainers will load it.

use anyhow::Context;
use clap::Subcommand;
use data::{Dataset, Format, LoadOptions, Task};
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
        /// idx, cifar10, cifar100, image_folder, csv, parquet, ts or
        /// series_csv (default: detected from the path; a .csv file is a
        /// table unless series_csv is given).
        #[arg(long)]
        format: Option<String>,
        /// Tables and series CSV: the target column (default: a column
        /// named target, class, label or y, else the last).
        #[arg(long)]
        target: Option<String>,
        /// Tables: a column to treat as categorical (repeatable, or
        /// comma-separated).
        #[arg(long, value_delimiter = ',')]
        categorical: Vec<String>,
        /// classification or regression, instead of the inferred task.
        #[arg(long)]
        task: Option<String>,
        /// Time series: pad series of unequal length with NaN at the end.
        #[arg(long)]
        pad: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Inspect {
            path,
            format,
            target,
            categorical,
            task,
            pad,
            json,
        } => {
            let options = LoadOptions {
                format: format.map(|f| f.parse::<Format>()).transpose()?,
                target,
                categorical,
                task: task.map(|t| t.parse::<Task>()).transpose()?,
                pad,
            };
            let ds = Dataset::load_with(&path, &options)
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
