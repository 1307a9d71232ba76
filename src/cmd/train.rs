//! `nas train`: train one architecture outside any search, with a progress
//! bar, and print its scores.

use crate::args::SpaceArgs;
use anyhow::Context;
use clap::Args;
use queue::wire::TrainSettings;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `nas train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The space.
    #[command(flatten)]
    pub space: SpaceArgs,
    /// The genotype's text form (JSON also accepted), or - to read stdin.
    pub genotype: String,
    /// The dataset: a folder of images (IDX, CIFAR binary, class
    /// subfolders), a table (.csv, .parquet) or time series (.ts).
    #[arg(long)]
    pub data: PathBuf,
    /// How to read it.
    #[command(flatten)]
    pub read: crate::args::ReadArgs,
    /// Training settings as a TOML or JSON file (flags below override it).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Images per step.
    #[arg(long)]
    pub batch_size: Option<i64>,
    /// Initial learning rate (cosine schedule).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Label smoothing.
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Initial channels C (DARTS, NB201) or filters F (PNAS).
    #[arg(long)]
    pub channels: Option<i64>,
    /// Cells (DARTS) or cells per stage (NB201, PNAS).
    #[arg(long)]
    pub cells: Option<i64>,
    /// Auxiliary-head loss weight (DARTS; 0 = no head).
    #[arg(long)]
    pub auxiliary_weight: Option<f64>,
    /// Final drop-path probability (DARTS, PNAS).
    #[arg(long)]
    pub drop_path: Option<f64>,
    /// Random-crop padding.
    #[arg(long)]
    pub crop_padding: Option<i64>,
    /// Random horizontal flips.
    #[arg(long)]
    pub flip: bool,
    /// Cutout square side.
    #[arg(long)]
    pub cutout: Option<i64>,
    /// Train on a seeded subset of this many images.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Share of the training set held out for validation.
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Also score the test set.
    #[arg(long)]
    pub test: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Checkpoint each epoch here and resume from it.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Save the trained weights here (safetensors).
    #[arg(long)]
    pub save_weights: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl TrainArgs {
    /// The settings file, then the flags over it.
    pub fn settings(&self) -> anyhow::Result<TrainSettings> {
        let mut s = match &self.settings {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if path.extension().is_some_and(|e| e == "json") {
                    serde_json::from_str::<TrainSettings>(&text)
                        .with_context(|| format!("settings {}", path.display()))?
                } else {
                    toml::from_str::<TrainSettings>(&text)
                        .with_context(|| format!("settings {}", path.display()))?
                }
            }
            None => TrainSettings::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { s.$f = v; } )* };
        }
        over!(
            epochs,
            batch_size,
            lr,
            weight_decay,
            label_smoothing,
            channels,
            auxiliary_weight,
            drop_path,
            crop_padding,
            cutout,
            val_fraction
        );
        if let Some(v) = self.cells {
            s.layers = v;
        }
        if self.max_steps.is_some() {
            s.max_steps = self.max_steps;
        }
        if self.train_subset.is_some() {
            s.train_subset = self.train_subset;
        }
        s.nesterov |= self.nesterov;
        s.flip |= self.flip;
        s.test |= self.test;
        s.validate()
            .map_err(|e| anyhow::anyhow!("training settings: {e}"))?;
        Ok(s)
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let (_, genotype) = super::arch::read_genotype(&args.space, &args.genotype)?;
    let settings = args.settings()?;
    let device = trainer::device::parse_device(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    let t = std::time::Instant::now();
    let dataset = args.read.load(&args.data)?;
    let m = &dataset.meta;
    let task = match m.task {
        data::Task::Classification => format!("{} classes", m.classes.len()),
        data::Task::Regression => format!(
            "regression of {}",
            m.target.as_deref().unwrap_or("the target")
        ),
    };
    eprintln!(
        "data: {} ({}, {} of {}, {task}, {}x{}x{}, {} train / {} test) loaded in {:.2}s",
        m.name,
        m.format,
        m.input.name(),
        m.task,
        m.channels,
        m.height,
        m.width,
        m.train_len,
        m.test_len,
        t.elapsed().as_secs_f64()
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  loss {msg}  {elapsed_precise} eta {eta}",
        )
        .expect("valid template"),
    );
    let mut progress = |p: trainer::train::Progress| {
        bar.set_length(p.total);
        bar.set_position(p.step);
        bar.set_message(format!("{:.4}", p.loss));
    };
    let cancel = trainer::Cancel::default();
    let run = trainer::train::TrainRun {
        genotype: &genotype,
        dataset: &dataset,
        settings: &settings,
        seed: args.seed,
        device,
        checkpoint_dir: args.checkpoint_dir.as_deref(),
        weights_out: args.save_weights.as_deref(),
        rung: None,
    };
    let report = trainer::train::train(&run, &cancel, &mut progress)?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("genotype      {}", genotype.canonical_text());
        println!("params        {}", report.params);
        if let Some(d) = &report.diverged {
            println!("diverged      {d}");
        }
        match (report.val_rmse, report.val_r2) {
            (Some(rmse), Some(r2)) => {
                println!("val_rmse      {rmse:.4}  (R² {r2:.4})");
                if let (Some(rmse), Some(r2)) = (report.test_rmse, report.test_r2) {
                    println!("test_rmse     {rmse:.4}  (R² {r2:.4})");
                }
            }
            _ => {
                println!(
                    "val_acc       {:.2}%  (loss {:.4})",
                    report.val_acc, report.val_loss
                );
                if let Some(t) = report.test_acc {
                    println!("test_acc      {t:.2}%");
                }
            }
        }
        println!(
            "trained       {:.2} epochs, {} steps in {:.1}s on {} ({:.0} images/s, {:.0}% of step time in data)",
            report.epochs,
            report.steps,
            report.train_seconds,
            report.device,
            report.images_per_s,
            100.0 * report.data_share
        );
    }
    Ok(if report.diverged.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
