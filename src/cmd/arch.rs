//! `nas arch validate | show | params`: one architecture, given on the command line.

use crate::args::SpaceArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use space::SpaceKind;
use space::{Genotype, Space};
use std::io::Read;
use std::process::ExitCode;

/// `nas arch ...`
#[derive(Debug, Subcommand)]
pub enum ArchCommand {
    /// Exit 0 if GENOTYPE is in the space, else non-zero with the reason on stderr.
    Validate {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// The genotype's text form (JSON also accepted), or - to read stdin.
        genotype: String,
    },
    /// Print the canonical form and the stable hash of GENOTYPE.
    Show {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// The genotype's text form (JSON also accepted), or - to read stdin.
        genotype: String,
        /// Print JSON (space, text, canonical form, hash, genotype).
        #[arg(long)]
        json: bool,
    },
    /// Print the parameter count of GENOTYPE's network, counted as the
    /// DARTS reference counts it: without the auxiliary head unless
    /// --auxiliary. Defaults: darts C=36 L=20 (with --imagenet C=48 L=14,
    /// 1000 classes, 224x224 inputs); nb201 C=16 N=5; pnas F=48 N=3; macro
    /// takes its filters from the genotype. All: 10 classes, 3x32x32 inputs.
    Params(ParamsArgs),
}

/// `nas arch params`: the genotype and the network's settings.
#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// The search space: macro, pnas, darts or nb201.
    #[arg(long, value_parser = crate::args::parse_space_kind)]
    pub space: SpaceKind,
    /// The genotype's text form (JSON also accepted), or - to read stdin;
    /// none with --supernet.
    #[arg(required_unless_present = "supernet", conflicts_with = "supernet")]
    pub genotype: Option<String>,
    /// darts, nb201: count the DARTS search supernet (every op on every
    /// edge) as the DARTS reference does (weights only: not α, not running
    /// statistics); defaults darts C=16 L=8, nb201 C=16 N=5.
    #[arg(long, conflicts_with_all = ["auxiliary", "imagenet"])]
    pub supernet: bool,
    /// darts: initial channels C; nb201: C; pnas: filters F (not for macro).
    #[arg(long)]
    pub channels: Option<i64>,
    /// darts: cells L; nb201 and pnas: cells per stage N (not for macro).
    #[arg(long)]
    pub layers: Option<i64>,
    /// Output classes [default: 10, or 1000 with --imagenet].
    #[arg(long)]
    pub classes: Option<i64>,
    /// darts: build the auxiliary head and count it too.
    #[arg(long)]
    pub auxiliary: bool,
    /// Input height and width [default: 32, or 224 with --imagenet].
    #[arg(long)]
    pub input_size: Option<i64>,
    /// Input channels.
    #[arg(long, default_value_t = 3)]
    pub in_channels: i64,
    /// darts: the ImageNet network (NetworkImageNet) instead of CIFAR's.
    #[arg(long)]
    pub imagenet: bool,
}

pub fn run(cmd: ArchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ArchCommand::Validate { space, genotype } => {
            let (_, g) = read_genotype(&space, &genotype)?;
            println!("ok {} {}", g.hash(), g.canonical_text());
        }
        ArchCommand::Show {
            space,
            genotype,
            json,
        } => {
            let (space, g) = read_genotype(&space, &genotype)?;
            if json {
                let doc = serde_json::json!({
                    "space": space,
                    "text": g.to_string(),
                    "canonical": g.canonical_text(),
                    "hash": g.hash().to_string(),
                    "genotype": g,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("{}", g.canonical_text());
                println!("hash {}", g.hash());
            }
        }
        ArchCommand::Params(args) => params(&args)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Build the network on the CPU and print its parameter count.
fn params(args: &ParamsArgs) -> anyhow::Result<()> {
    use space::SpaceKind;
    use trainer::model::{self, NetConfig};
    if args.supernet {
        return supernet_params(args);
    }
    let space_args = SpaceArgs {
        space: args.space,
        blocks: None,
        layers: None,
    };
    let genotype = args
        .genotype
        .as_deref()
        .context("a genotype is needed (or --supernet)")?;
    let (_, g) = read_genotype(&space_args, genotype)?;
    if args.space == SpaceKind::Macro {
        for (flag, set) in [("--channels", args.channels), ("--layers", args.layers)] {
            anyhow::ensure!(
                set.is_none(),
                "{flag} does not apply to the macro space: the genotype fixes every layer"
            );
        }
    }
    let base = if args.imagenet && args.space == SpaceKind::Darts {
        NetConfig::darts_imagenet()
    } else {
        NetConfig::for_space(args.space)
    };
    let cfg = NetConfig {
        channels: args.channels.unwrap_or(base.channels),
        layers: args.layers.unwrap_or(base.layers),
        classes: args.classes.unwrap_or(base.classes),
        in_channels: args.in_channels,
        input_size: args.input_size.unwrap_or(base.input_size),
        auxiliary: args.auxiliary,
        imagenet: args.imagenet,
        ..base
    };
    let n = model::params_of(&g, &cfg, args.auxiliary)
        .with_context(|| format!("cannot build the {} network", args.space))?;
    println!("{n}");
    Ok(())
}

/// Build the DARTS search supernet of `--space` on the CPU and print its
/// weight count.
fn supernet_params(args: &ParamsArgs) -> anyhow::Result<()> {
    use trainer::darts_search::{supernet_params as count, SupernetConfig};
    let base = SupernetConfig::for_space(args.space);
    let cfg = SupernetConfig {
        channels: args.channels.unwrap_or(base.channels),
        layers: args.layers.unwrap_or(base.layers),
        classes: args.classes.unwrap_or(base.classes),
        in_channels: args.in_channels,
        input_size: args.input_size.unwrap_or(base.input_size),
    };
    let n = count(args.space, &cfg)
        .with_context(|| format!("cannot build the {} supernet", args.space))?;
    println!("{n}");
    Ok(())
}

/// The space the flags name and the genotype `arg` (text, JSON, or `-` for
/// stdin), checked against it. For the macro space without `--layers`, the
/// genotype's own layer count is taken.
pub fn read_genotype(args: &SpaceArgs, arg: &str) -> anyhow::Result<(Space, Genotype)> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the genotype from stdin")?;
        s
    } else {
        arg.to_string()
    };
    let text = text.trim();
    let g = if text.starts_with('{') {
        let g: Genotype = serde_json::from_str(text)
            .with_context(|| format!("invalid {} genotype JSON", args.space))?;
        anyhow::ensure!(
            g.kind() == args.space,
            "the JSON holds a {} genotype, not {}",
            g.kind(),
            args.space
        );
        g
    } else {
        Genotype::parse(args.space, text)
            .with_context(|| format!("invalid {} genotype", args.space))?
    };
    let mut space = args.to_space()?;
    if let (Space::Macro { layers }, Genotype::Macro(m), None) = (&mut space, &g, args.layers) {
        *layers = m.layers().len();
    }
    space
        .check(&g)
        .with_context(|| format!("genotype not in the {space} space"))?;
    Ok((space, g))
}
