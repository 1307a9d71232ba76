//! `nas bench train`: training throughput of one genotype's network in tch
//! against the same network (scripts/reference_params.py) with the same
//! settings on the same data in PyTorch, measured in the same run on the
//! same threads. The last line prints the ratio tch / PyTorch.
//!
//! Both sides take `warmup` steps, then time `steps` steps: batch gather
//! and normalization, forward, cross-entropy, backward, gradient clipping,
//! SGD with momentum and weight decay under a cosine learning rate. Also
//! reported: the share of step time spent preparing batches, and the tch
//! side's start-up overhead (dataset load, split and network build), the
//! cost a trainer pays per job before its first step.

use queue::wire::TrainSettings;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct TrainBenchConfig {
    /// nb201 or darts (the spaces the PyTorch reference builds here).
    pub space: space::Space,
    /// The genotype's text form.
    pub genotype: String,
    /// An IDX dataset folder (Fashion-MNIST by default).
    pub data: PathBuf,
    /// Initial channels C.
    pub channels: i64,
    /// Cells (per stage for nb201).
    pub layers: i64,
    /// Images per step.
    pub batch_size: i64,
    /// Timed steps.
    pub steps: u64,
    /// Untimed steps first.
    pub warmup: u64,
    /// libtorch threads on both sides.
    pub threads: i32,
    /// The venv's python, with torch.
    pub python: PathBuf,
    /// scripts/bench_train.py.
    pub script: PathBuf,
}

/// What one side measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Side {
    /// Training images per second over the timed steps.
    pub images_per_s: f64,
    /// Share of the timed steps spent preparing batches.
    pub data_share: f64,
    /// Parameters of the network.
    pub params: i64,
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBenchReport {
    /// The settings.
    pub config: String,
    /// tch.
    pub tch: Side,
    /// PyTorch.
    pub pytorch: Side,
    /// tch start-up per job: load, split, build (seconds).
    pub setup_seconds: f64,
    /// Of which loading the dataset (seconds).
    pub load_seconds: f64,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrainBenchError {
    /// A setting or input is unusable.
    #[error("{0}")]
    Config(String),
    /// Training failed on the tch side.
    #[error("tch training: {0}")]
    Train(String),
    /// The PyTorch side failed.
    #[error("pytorch ({script}): {reason}")]
    Python {
        /// The script.
        script: String,
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Display for TrainBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "train benchmark: {}", self.config)?;
        writeln!(
            f,
            "  {:<8} {:>10} {:>12} {:>10}",
            "side", "images/s", "data share", "params"
        )?;
        for (name, s) in [("tch", self.tch), ("pytorch", self.pytorch)] {
            writeln!(
                f,
                "  {:<8} {:>10.1} {:>11.1}% {:>10}",
                name,
                s.images_per_s,
                100.0 * s.data_share,
                s.params
            )?;
        }
        writeln!(
            f,
            "  tch start-up per job: {:.2}s (dataset load {:.2}s, split and network build {:.2}s)",
            self.setup_seconds + self.load_seconds,
            self.load_seconds,
            self.setup_seconds
        )?;
        write!(
            f,
            "ratio tch/pytorch images/s: {:.3} ({:.1} / {:.1})",
            self.tch.images_per_s / self.pytorch.images_per_s,
            self.tch.images_per_s,
            self.pytorch.images_per_s
        )
    }
}

/// Run both sides.
pub fn run(config: &TrainBenchConfig) -> Result<TrainBenchReport, TrainBenchError> {
    if !matches!(config.space, space::Space::Nb201 | space::Space::Darts) {
        return Err(TrainBenchError::Config(format!(
            "--space {}: the PyTorch reference here builds nb201 and darts networks",
            config.space
        )));
    }
    if config.steps == 0 {
        return Err(TrainBenchError::Config("--steps must be at least 1".into()));
    }
    if !config.script.exists() {
        return Err(TrainBenchError::Config(format!(
            "{} not found: run from the repository root or pass --script",
            config.script.display()
        )));
    }
    let genotype = config
        .space
        .parse(&config.genotype)
        .map_err(|e| TrainBenchError::Config(format!("genotype: {e}")))?;
    tch::set_num_threads(config.threads);
    let t = Instant::now();
    let data_ref = queue::wire::DataRef::new(config.data.display().to_string());
    let dataset = trainer::train::load_dataset(&data_ref).map_err(TrainBenchError::Config)?;
    let load_seconds = t.elapsed().as_secs_f64();
    let settings = TrainSettings {
        epochs: 1e6,
        max_steps: Some(config.warmup + config.steps),
        batch_size: config.batch_size,
        lr: 0.1,
        channels: config.channels,
        layers: config.layers,
        val_fraction: 0.05,
        ..TrainSettings::default()
    };
    let tch = tch_side(&genotype, &dataset, &settings, config)?;
    let pytorch = python_side(config)?;
    Ok(TrainBenchReport {
        config: format!(
            "{} {} C={} L={} batch {} on {} ({}x{}x{}), {} steps after {} warm-up, {} threads",
            config.space,
            genotype.canonical_text(),
            config.channels,
            config.layers,
            config.batch_size,
            dataset.meta.name,
            dataset.meta.channels,
            dataset.meta.height,
            dataset.meta.width,
            config.steps,
            config.warmup,
            config.threads
        ),
        tch: tch.0,
        pytorch,
        setup_seconds: tch.1,
        load_seconds,
    })
}

fn tch_side(
    genotype: &space::Genotype,
    dataset: &data::Dataset,
    settings: &TrainSettings,
    config: &TrainBenchConfig,
) -> Result<(Side, f64), TrainBenchError> {
    let mut timed_from = None;
    let mut timed_to = None;
    let warmup = config.warmup;
    let run = trainer::train::TrainRun {
        genotype,
        dataset,
        settings,
        seed: 0,
        device: tch::Device::Cpu,
        checkpoint_dir: None,
        weights_out: None,
        rung: None,
    };
    let report = trainer::train::train(&run, &trainer::Cancel::default(), &mut |p| {
        if p.step == warmup {
            timed_from = Some(Instant::now());
        }
        if p.step == warmup + config.steps {
            timed_to = Some(Instant::now());
        }
    })
    .map_err(|e| TrainBenchError::Train(e.to_string()))?;
    let start = if warmup == 0 { None } else { timed_from };
    let (Some(end), true) = (timed_to, start.is_some() || warmup == 0) else {
        return Err(TrainBenchError::Train(
            "training stopped before the timed steps ended".into(),
        ));
    };
    let seconds = match start {
        Some(s) => (end - s).as_secs_f64(),
        None => report.train_seconds,
    };
    Ok((
        Side {
            images_per_s: (config.steps * config.batch_size as u64) as f64 / seconds,
            data_share: report.data_share,
            params: report.params,
        },
        report.setup_seconds,
    ))
}

fn python_side(config: &TrainBenchConfig) -> Result<Side, TrainBenchError> {
    let err = |reason: String| TrainBenchError::Python {
        script: config.script.display().to_string(),
        reason,
    };
    let out = Command::new(&config.python)
        .arg(&config.script)
        .args([
            "--space",
            config.space.kind().name(),
            "--genotype",
            &config.genotype,
        ])
        .arg("--data")
        .arg(&config.data)
        .args([
            "--channels",
            &config.channels.to_string(),
            "--layers",
            &config.layers.to_string(),
        ])
        .args([
            "--batch-size",
            &config.batch_size.to_string(),
            "--steps",
            &config.steps.to_string(),
        ])
        .args([
            "--warmup",
            &config.warmup.to_string(),
            "--threads",
            &config.threads.to_string(),
        ])
        .output()
        .map_err(|e| err(format!("cannot run {}: {e}", config.python.display())))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| err(format!("bad output {line:?}: {e}")))?;
    let num = |k: &str| {
        v[k].as_f64()
            .ok_or_else(|| err(format!("no {k} in {line}")))
    };
    Ok(Side {
        images_per_s: num("images_per_s")?,
        data_share: num("data_share")?,
        params: num("params")? as i64,
    })
}

/// The venv's python (`$NAS_VENV/bin/python`, default /var/cache/nas/venv).
pub fn default_python() -> PathBuf {
    let venv = std::env::var_os("NAS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/var/cache/nas/venv").to_path_buf());
    venv.join("bin").join("python")
}
