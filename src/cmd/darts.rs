//! `nas darts`: one DARTS search on this machine, outside any queue. Prints
//! a progress line per epoch (losses, α summarized per op, the derived
//! genotype) and the result; `--out` keeps `darts.json` with α per epoch.
//! The defaults are sized for a CPU; `--paper` takes the paper's network.

use anyhow::Context;
use clap::Args;
use queue::wire::{DartsOrder, DartsSettings};
use space::{Nb201Cell, SpaceKind};
use std::path::PathBuf;
use std::process::ExitCode;
use trainer::darts_search::{op_names, search, DartsEpoch, DartsReport, DartsRun};

/// Flags of `nas darts`.
#[derive(Debug, Clone, Args)]
pub struct DartsArgs {
    /// The dataset: a folder of images, or time series (.ts) for the seq
    /// space; its training split is divided into the two halves.
    #[arg(long)]
    pub data: PathBuf,
    /// How to read it.
    #[command(flatten)]
    pub read: crate::args::ReadArgs,
    /// The cell space: darts or nb201.
    #[arg(long, default_value = "darts", value_parser = parse_darts_space)]
    pub space: SpaceKind,
    /// The α gradient: first or second order.
    #[arg(long, default_value = "first")]
    pub order: DartsOrder,
    /// Epochs.
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// Images per step in each half.
    #[arg(long, default_value_t = 64)]
    pub batch_size: i64,
    /// Initial channels C [default: 8, 16 with --paper].
    #[arg(long)]
    pub channels: Option<i64>,
    /// darts: cells L [default: 5, 8 with --paper]; nb201: cells per stage
    /// N [default: 1, 5 with --paper].
    #[arg(long)]
    pub layers: Option<i64>,
    /// The paper's network and data: C=16 with L=8 (darts) or N=5 (nb201),
    /// the whole training set (--channels and --layers still apply).
    #[arg(long)]
    pub paper: bool,
    /// Weights: initial learning rate (cosine by epoch).
    #[arg(long, default_value_t = 0.025)]
    pub lr: f64,
    /// Weights: final learning rate.
    #[arg(long, default_value_t = 0.001)]
    pub lr_min: f64,
    /// Weights: SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Weights: weight decay.
    #[arg(long, default_value_t = 3e-4)]
    pub weight_decay: f64,
    /// α: Adam learning rate.
    #[arg(long, default_value_t = 3e-4)]
    pub arch_lr: f64,
    /// α: Adam weight decay.
    #[arg(long, default_value_t = 1e-3)]
    pub arch_weight_decay: f64,
    /// Weights: clip the gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 5.0)]
    pub grad_clip: f64,
    /// Search on a seeded subset of this many training images (0: all).
    #[arg(long, default_value_t = 4000)]
    pub train_subset: usize,
    /// Random-crop padding (0: none).
    #[arg(long, default_value_t = 0)]
    pub crop_padding: i64,
    /// Random horizontal flips.
    #[arg(long)]
    pub flip: bool,
    /// Seed of the halves, the initialization and the batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch threads on the CPU (default: libtorch's choice). On a busy
    /// machine 1 can be many times faster than more.
    #[arg(long)]
    pub threads: Option<i32>,
    /// Write α per epoch and the result here (JSON), as trainers write
    /// `darts.json` for darts jobs.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Save the search's state in this folder after every epoch, and resume
    /// from it when started again with the same settings and data.
    #[arg(long)]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Print the report as JSON (the progress lines still go to stderr).
    #[arg(long)]
    pub json: bool,
    /// nb201: look the derived cell up in the NAS-Bench-201 tables here.
    #[arg(long, env = "NAS_NB201_DIR")]
    pub nb201_dir: Option<PathBuf>,
}

fn parse_darts_space(s: &str) -> Result<SpaceKind, String> {
    match s.parse::<SpaceKind>().map_err(|e| e.reason)? {
        k @ (SpaceKind::Darts | SpaceKind::Nb201 | SpaceKind::Seq) => Ok(k),
        k => Err(format!(
            "DARTS searches the darts, nb201 and seq cell spaces, not {k}"
        )),
    }
}

impl DartsArgs {
    /// The search settings the flags ask for.
    pub fn settings(&self) -> anyhow::Result<DartsSettings> {
        let s = DartsSettings {
            epochs: self.epochs,
            batch_size: self.batch_size,
            channels: self.channels.unwrap_or(if self.paper { 16 } else { 8 }),
            layers: Some(self.layers.unwrap_or(match (self.paper, self.space) {
                (true, SpaceKind::Nb201) => 5,
                (true, _) => 8,
                (false, SpaceKind::Nb201) => 1,
                (false, _) => 5,
            })),
            lr: self.lr,
            lr_min: self.lr_min,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            arch_lr: self.arch_lr,
            arch_weight_decay: self.arch_weight_decay,
            order: self.order,
            grad_clip: (self.grad_clip > 0.0).then_some(self.grad_clip),
            train_subset: (self.train_subset > 0 && !self.paper).then_some(self.train_subset),
            crop_padding: self.crop_padding,
            flip: self.flip,
            seed: self.seed,
        };
        s.validate().context("DARTS settings")?;
        Ok(s)
    }
}

/// Run the search the flags ask for; exit code 3 when it diverged.
pub fn run(args: DartsArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let device = trainer::device::parse_device(&args.device).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(n) = args.threads {
        anyhow::ensure!(n >= 1, "--threads {n}: at least 1");
        trainer::set_cpu_threads(n);
    }
    let t = std::time::Instant::now();
    let dataset = args.read.load(&args.data)?;
    eprintln!(
        "data: {} ({} train images, {} classes, {}x{}x{}) loaded in {:.2}s",
        dataset.meta.name,
        dataset.meta.train_len,
        dataset.meta.classes.len(),
        dataset.meta.channels,
        dataset.meta.height,
        dataset.meta.width,
        t.elapsed().as_secs_f64()
    );
    eprintln!(
        "darts: {} space, {} order, C={} layers={}, {} epochs, batch {}, {}",
        args.space,
        settings.order,
        settings.channels,
        settings.layers.unwrap_or_default(),
        settings.epochs,
        settings.batch_size,
        match settings.train_subset {
            Some(n) => format!("a subset of {n} training images"),
            None => "every training image".into(),
        }
    );
    let run = DartsRun {
        space: args.space,
        dataset: &dataset,
        settings: &settings,
        device,
        output: args.out.as_deref(),
        checkpoint: args.checkpoint.as_deref(),
    };
    let ops = op_names(args.space);
    let mut progress = |e: &DartsEpoch| eprint!("{}", epoch_lines(e, &ops));
    let report = search(&run, &trainer::Cancel::default(), &mut progress)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &args);
    }
    Ok(if report.diverged.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The progress lines of one epoch: losses, then per α the mean softmax
/// weight of each op over the edges (and, for a NAS-Bench-201 cell, each
/// edge's strongest op), then the derived genotype.
fn epoch_lines(e: &DartsEpoch, ops: &[&str]) -> String {
    let mut out = format!(
        "epoch {}/{}  lr {:.4}  train loss {:.4} acc {:.1}%  α-half loss {:.4}  {:.1}s\n",
        e.epoch, e.epochs, e.lr, e.train_loss, e.train_acc, e.arch_loss, e.seconds
    );
    for (name, rows) in &e.alphas {
        let n = rows.len().max(1) as f64;
        let means: Vec<String> = ops
            .iter()
            .enumerate()
            .map(|(o, op)| {
                let m = rows.iter().map(|r| r[o]).sum::<f64>() / n;
                format!("{op} {m:.3}")
            })
            .collect();
        out += &format!("  {name:<7} mean α-weight: {}\n", means.join("  "));
        if name == "cell" {
            let edges: Vec<String> = rows
                .iter()
                .zip(space::nb201::EDGES)
                .map(|(r, (to, from))| {
                    let (o, w) =
                        r.iter()
                            .enumerate()
                            .fold((0, f64::MIN), |b, (i, &w)| if w > b.1 { (i, w) } else { b });
                    format!("{from}->{to} {} {w:.3}", ops[o])
                })
                .collect();
            out += &format!("  {:<7} strongest: {}\n", "", edges.join("  "));
        }
    }
    out += &format!("  genotype {}\n", e.genotype);
    out
}

fn print_report(r: &DartsReport, args: &DartsArgs) {
    println!("genotype      {}", r.genotype);
    if r.derived != r.genotype {
        println!("as derived    {}", r.derived);
    }
    if let Some(d) = &r.diverged {
        println!("diverged      {d}");
    }
    println!(
        "supernet      {} weights; {:.2}% accuracy (loss {:.4}) on the α half ({} images)",
        r.params, r.val_acc, r.val_loss, r.halves.1
    );
    println!(
        "searched      {} epochs, {} steps in {:.1}s on {} ({:.0} images/s; setup {:.1}s)",
        r.epochs, r.steps, r.search_seconds, r.device, r.images_per_s, r.setup_seconds
    );
    if r.space == SpaceKind::Nb201 {
        if let Ok(cell) = r.genotype.parse::<Nb201Cell>() {
            print_nb201(&cell, args);
        }
    }
}

/// The derived cell in the NAS-Bench-201 tables, where they are installed.
fn print_nb201(cell: &Nb201Cell, args: &DartsArgs) {
    let dir = args.nb201_dir.clone().unwrap_or_else(nb201::default_dir);
    for dataset in nb201::Dataset::ALL {
        match nb201::Table::load_dataset(&dir, dataset) {
            Ok(table) => {
                let (_, best) = table.optimum();
                println!(
                    "nb201 {:<8} {:.2}% mean validation accuracy (optimum {:.2}%, regret {:.2})",
                    dataset.name(),
                    table.mean_val_acc(cell),
                    best,
                    table.regret(cell)
                );
            }
            Err(e) => {
                eprintln!("nb201 table: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: DartsArgs,
    }

    fn settings(flags: &[&str]) -> anyhow::Result<DartsSettings> {
        let mut argv = vec!["nas", "--data", "d"];
        argv.extend(flags);
        Cli::try_parse_from(argv)?.args.settings()
    }

    #[test]
    fn cpu_defaults_paper_sizes_and_bad_flags() {
        let s = settings(&[]).unwrap();
        assert_eq!((s.channels, s.layers, s.epochs), (8, Some(5), 2));
        assert_eq!(s.train_subset, Some(4000));
        assert_eq!((s.arch_lr, s.order), (3e-4, DartsOrder::First));
        let s = settings(&["--space", "nb201"]).unwrap();
        assert_eq!(s.layers, Some(1));
        let s = settings(&["--paper", "--space", "nb201", "--order", "second"]).unwrap();
        assert_eq!((s.channels, s.layers, s.train_subset), (16, Some(5), None));
        assert_eq!(s.order, DartsOrder::Second);
        let s = settings(&["--paper", "--channels", "8", "--grad-clip", "0"]).unwrap();
        assert_eq!((s.channels, s.layers, s.grad_clip), (8, Some(8), None));
        let err = settings(&["--arch-lr=-1"]).unwrap_err();
        assert!(format!("{err:#}").contains("arch_lr"), "{err:#}");
        assert!(settings(&["--space", "pnas"]).is_err());
        assert!(settings(&["--order", "third"]).is_err());
    }
}
