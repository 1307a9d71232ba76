//! `nas arch validate | show | params`: one architecture, given on the command line.

use crate::cli::{ArchCommand, ParamsArgs, SpaceArgs};
use anyhow::Context;
use space::{Genotype, Space};
use std::io::Read;
use std::process::ExitCode;

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
