//! `nas space list | enumerate | sample`.

use crate::args::SpaceArgs;
use anyhow::bail;
use clap::Subcommand;
use space::SpaceKind;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// `nas space ...`
#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// List the search spaces with their sizes.
    List,
    /// Print every genotype of a finite space, one canonical form per line.
    Enumerate {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
    },
    /// Print seeded uniformly random genotypes, one per line.
    Sample {
        /// The space.
        #[command(flatten)]
        space: SpaceArgs,
        /// Seed of the generator; the same seed prints the same genotypes.
        #[arg(long)]
        seed: u64,
        /// How many genotypes to print.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: SpaceCommand) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match cmd {
        SpaceCommand::List => {
            for kind in SpaceKind::ALL {
                let space = kind.default_space();
                writeln!(out, "{:<6} {}", kind.name(), kind.description())?;
                writeln!(out, "       default {space}: {} genotypes", space.size()?)?;
            }
        }
        SpaceCommand::Enumerate { space } => {
            let space = space.to_space()?;
            let Some(all) = space.enumerate() else {
                bail!(
                    "the {space} space holds {} genotypes, too many to list; enumerate lists nb201 and pnas",
                    space.size()?
                );
            };
            for g in all {
                writeln!(out, "{g}")?;
            }
        }
        SpaceCommand::Sample {
            space,
            seed,
            count,
            json,
        } => {
            let space = space.to_space()?;
            let mut rng = ::space::rng(seed);
            for _ in 0..count {
                let g = space.sample(&mut rng)?;
                if json {
                    serde_json::to_writer(&mut out, &g)?;
                    writeln!(out)?;
                } else {
                    writeln!(out, "{g}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
