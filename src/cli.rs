//! Flags: the low-level arguments of every subcommand, turned into configs
//! by the modules under `cmd/`.

use clap::{Args, Parser, Subcommand};
use space::SpaceKind;

/// Neural architecture search on a job queue.
#[derive(Debug, Parser)]
#[command(name = "nas", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Search spaces: list them, enumerate or sample genotypes.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// One architecture: validate it, show its canonical form and hash.
    #[command(subcommand)]
    Arch(ArchCommand),
}

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
}

/// Which space, with its settings.
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// The search space: macro, pnas, darts or nb201.
    #[arg(long, value_parser = parse_space_kind)]
    pub space: SpaceKind,
    /// PNAS: number of blocks per cell (enumerate, sample: exactly B; arch: at most B).
    #[arg(long)]
    pub blocks: Option<usize>,
    /// Macro: number of conv layers N.
    #[arg(long)]
    pub layers: Option<usize>,
}

fn parse_space_kind(s: &str) -> Result<SpaceKind, String> {
    s.parse().map_err(|e: space::SpaceError| e.reason)
}
