//! `nas data inspect`: what a dataset folder holds, as the trainers will
//! load it.

use anyhow::Context;
use clap::Subcommand;
use data::{Dataset, Format};
use std::process::ExitCode;

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

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Inspect { path, format, json } => {
            let format: Option<Format> = format.map(|f| f.parse()).transpose()?;
            let ds = Dataset::load(&path, format)
                .with_context(|| format!("cannot load the dataset in {}", path.display()))?;
            let classes = ds.meta.classes.len();
            let train = ds.train.class_counts(classes);
            let test = ds.test.class_counts(classes);
            if json {
                let mut doc = serde_json::to_value(&ds.meta)?;
                doc["train_counts"] = serde_json::json!(train);
                doc["test_counts"] = serde_json::json!(test);
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print_text(&ds, &train, &test);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(ds: &Dataset, train: &[usize], test: &[usize]) {
    let m = &ds.meta;
    println!("name         {}", m.name);
    println!("format       {}", m.format);
    println!(
        "shape        {}x{}x{} (channels x height x width)",
        m.channels, m.height, m.width
    );
    println!("train        {}", m.train_len);
    println!("test         {}", m.test_len);
    println!("fingerprint  {}", m.fingerprint);
    println!("classes      {}", m.classes.len());
    let width = m
        .classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    println!(
        "  {:>3}  {:<width$}  {:>8}  {:>8}",
        "#", "class", "train", "test"
    );
    for (i, name) in m.classes.iter().enumerate() {
        println!("  {i:>3}  {name:<width$}  {:>8}  {:>8}", train[i], test[i]);
    }
}
