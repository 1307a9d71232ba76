//! `nas space list | enumerate | sample`.

use crate::cli::{SpaceArgs, SpaceCommand};
use anyhow::{bail, Context};
use space::{Space, SpaceKind};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

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

impl SpaceArgs {
    /// The space these flags name, with defaults for unset settings.
    pub fn to_space(&self) -> anyhow::Result<Space> {
        let mut space = self.space.default_space();
        match (&mut space, self.blocks, self.layers) {
            (Space::Pnas { blocks }, Some(b), None) => *blocks = b,
            (Space::Macro { layers }, None, Some(n)) => *layers = n,
            (_, None, None) => {}
            (_, Some(_), _) if self.space != SpaceKind::Pnas => {
                bail!("--blocks applies to the pnas space, not {}", self.space)
            }
            (_, _, Some(_)) if self.space != SpaceKind::Macro => {
                bail!("--layers applies to the macro space, not {}", self.space)
            }
            _ => bail!(
                "the {} space takes at most one of --blocks, --layers",
                self.space
            ),
        }
        space
            .validate()
            .with_context(|| format!("bad settings for the {} space", self.space))?;
        Ok(space)
    }
}
