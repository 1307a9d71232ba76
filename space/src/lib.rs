//! Search spaces and genotypes for `nas`: what an architecture is, how it is
//! written down, checked, sampled, mutated, expanded, enumerated and hashed.
//!
//! Six spaces: for images, the NAS-RL macro chain ([`macro_chain`]), PNAS
//! cells ([`pnas`]), DARTS cells ([`darts`]) and NAS-Bench-201 cells
//! ([`nb201`]); for tables, dense networks ([`mlp`]); for time series, cells
//! of 1-D operations ([`seq`]). NAS-Bench-201 and `seq` cells share one
//! generic cell ([`cell`]).
//! [`Space`] is a space with its settings, [`Genotype`] a member of any of
//! them; both are plain data that cross process boundaries as JSON.
//!
//! Architecture invariant: this crate is pure. It does no I/O, depends on no
//! tokio, redis or tch, reads no clock and no environment, and is
//! deterministic: the same seed gives the same samples and mutations on every
//! machine (the generator is ChaCha8, see [`rng`]).

pub mod cell;
pub mod darts;
mod error;
mod hash;
pub mod macro_chain;
pub mod mlp;
pub mod nb201;
mod ops;
pub mod pnas;
pub mod rng_serde;
pub mod seq;

pub use darts::{DartsGenotype, DartsOp};
pub use error::{Result, SpaceError};
pub use hash::GenotypeHash;
pub use macro_chain::{MacroGenotype, MacroLayer};
pub use mlp::{MlpGenotype, MlpLayer};
pub use nb201::{Nb201Cell, Nb201Op};
pub use pnas::{PnasBlock, PnasCell, PnasOp};
pub use seq::{SeqCell, SeqOp};

use rand::{Rng, SeedableRng};
use std::fmt;
use std::str::FromStr;

/// The random generator every seeded operation of the system uses.
pub type SpaceRng = rand_chacha::ChaCha8Rng;

/// A generator seeded with `seed`; the same seed gives the same stream on
/// every platform.
pub fn rng(seed: u64) -> SpaceRng {
    SpaceRng::seed_from_u64(seed)
}

/// Which space, without settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    /// NAS-RL macro chain.
    Macro,
    /// PNAS cells.
    Pnas,
    /// DARTS cells.
    Darts,
    /// NAS-Bench-201 cells.
    Nb201,
    /// Dense networks for tables.
    Mlp,
    /// Cells of 1-D operations for time series.
    Seq,
}

impl SpaceKind {
    /// Every space.
    pub const ALL: [SpaceKind; 6] = [
        Self::Macro,
        Self::Pnas,
        Self::Darts,
        Self::Nb201,
        Self::Mlp,
        Self::Seq,
    ];

    /// The short name used on the command line, in JSON and in hashes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Macro => "macro",
            Self::Pnas => "pnas",
            Self::Darts => "darts",
            Self::Nb201 => "nb201",
            Self::Mlp => "mlp",
            Self::Seq => "seq",
        }
    }

    /// One line on what the space is.
    pub fn description(self) -> &'static str {
        match self {
            Self::Macro => "NAS-RL macro chain: N conv layers (filter HxW in {1,3,5,7}, filters in {24,36,48,64}) with anchor-point skip connections (Zoph & Le 2017)",
            Self::Pnas => "PNAS cells: up to 5 blocks of (input1, op1, input2, op2) over 8 ops (Liu et al. 2018)",
            Self::Darts => "DARTS cells: normal and reduction cells, 4 nodes of 2 edges over 7 ops (Liu, Simonyan & Yang 2019)",
            Self::Nb201 => "NAS-Bench-201 cells: 4 nodes, 6 edges, 5 ops, 15,625 cells (Dong & Yang 2020)",
            Self::Mlp => "dense networks for tables: 1 to N layers (width, activation, normalization, dropout) with anchor-point skip connections, and the encoding of categorical columns",
            Self::Seq => "cells of 1-D ops for time series: 4 nodes, 6 edges, 11 ops (convolutions of several kernels and dilations, separable convolutions, pooling, skip, none)",
        }
    }

    /// The space with its default settings.
    pub fn default_space(self) -> Space {
        match self {
            Self::Macro => Space::Macro { layers: 6 },
            Self::Pnas => Space::Pnas {
                blocks: pnas::MAX_BLOCKS,
            },
            Self::Darts => Space::Darts,
            Self::Nb201 => Space::Nb201,
            Self::Mlp => Space::Mlp {
                layers: 4,
                categorical: false,
            },
            Self::Seq => Space::Seq,
        }
    }

    /// Whether the space's networks take images, table rows or sequences.
    pub fn input(self) -> InputKind {
        match self {
            Self::Macro | Self::Pnas | Self::Darts | Self::Nb201 => InputKind::Images,
            Self::Mlp => InputKind::Table,
            Self::Seq => InputKind::Series,
        }
    }
}

/// What a space's networks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// Images, `[channels, height, width]`.
    Images,
    /// Table rows, a vector of features.
    Table,
    /// Sequences, `[channels, length]`.
    Series,
}

impl InputKind {
    /// The name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Images => "images",
            Self::Table => "tables",
            Self::Series => "time series",
        }
    }
}

impl fmt::Display for SpaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SpaceKind {
    type Err = SpaceError;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                SpaceError::new(
                    "space",
                    format!(
                        "unknown space {s:?}; expected one of macro, pnas, darts, nb201, mlp, seq"
                    ),
                )
            })
    }
}

/// A space with its settings: what a search explores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Space {
    /// Macro chains of exactly `layers` layers.
    Macro {
        /// Number of conv layers N.
        layers: usize,
    },
    /// PNAS cells of 1 to `blocks` blocks.
    Pnas {
        /// The largest cell, B (at most 5).
        blocks: usize,
    },
    /// DARTS genotypes.
    Darts,
    /// NAS-Bench-201 cells.
    Nb201,
    /// Dense networks of 1 to `layers` layers.
    Mlp {
        /// The most layers, N (at most 16).
        layers: usize,
        /// The table has categorical columns, so the search also chooses
        /// their encoding (one-hot or embedding).
        #[serde(default)]
        categorical: bool,
    },
    /// `seq` cells.
    Seq,
}

/// How many genotypes a space holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many.
    Exact(u128),
    /// More than `u128` holds; about 10^log10.
    Huge {
        /// Base-10 logarithm of the size.
        log10: u32,
    },
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Exact(n) => write!(f, "{n}"),
            Size::Huge { log10 } => write!(f, "about 10^{log10}"),
        }
    }
}

impl Space {
    /// Which space this is.
    pub fn kind(&self) -> SpaceKind {
        match self {
            Space::Macro { .. } => SpaceKind::Macro,
            Space::Pnas { .. } => SpaceKind::Pnas,
            Space::Darts => SpaceKind::Darts,
            Space::Nb201 => SpaceKind::Nb201,
            Space::Mlp { .. } => SpaceKind::Mlp,
            Space::Seq => SpaceKind::Seq,
        }
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Space::Macro { layers } => MacroGenotype::count(layers).map(|_| ()),
            Space::Pnas { blocks } => PnasCell::count(blocks).map(|_| ()),
            Space::Mlp { layers, .. } if layers == 0 || layers > mlp::MAX_LAYERS => {
                Err(SpaceError::new(
                    "layers",
                    format!(
                        "{layers} is not a layer count between 1 and {}",
                        mlp::MAX_LAYERS
                    ),
                ))
            }
            Space::Mlp { .. } | Space::Darts | Space::Nb201 | Space::Seq => Ok(()),
        }
    }

    /// Check that `g` belongs to this space with these settings.
    pub fn check(&self, g: &Genotype) -> Result<()> {
        if g.kind() != self.kind() {
            return Err(SpaceError::new(
                "space",
                format!(
                    "a {} genotype is not in the {} space",
                    g.kind(),
                    self.kind()
                ),
            ));
        }
        match (*self, g) {
            (Space::Macro { layers }, Genotype::Macro(m)) if m.layers().len() != layers => {
                Err(SpaceError::new(
                    "layers",
                    format!(
                        "the genotype has {} layers, the space {layers}",
                        m.layers().len()
                    ),
                ))
            }
            (Space::Pnas { blocks }, Genotype::Pnas(c)) if c.len() > blocks => {
                Err(SpaceError::new(
                    "blocks",
                    format!(
                        "the cell has {} blocks, the space at most {blocks}",
                        c.len()
                    ),
                ))
            }
            (Space::Mlp { layers, .. }, Genotype::Mlp(m)) if m.layers().len() > layers => {
                Err(SpaceError::new(
                    "layers",
                    format!(
                        "the network has {} layers, the space at most {layers}",
                        m.layers().len()
                    ),
                ))
            }
            (Space::Mlp { categorical, .. }, Genotype::Mlp(m))
                if !categorical && m.encoding() != mlp::Encoding::OneHot =>
            {
                Err(SpaceError::new(
                    "encoding",
                    "the space's data has no categorical columns, so its networks use onehot",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Parse a genotype's text form and check it belongs to this space.
    pub fn parse(&self, text: &str) -> Result<Genotype> {
        let g = Genotype::parse(self.kind(), text)?;
        self.check(&g)?;
        Ok(g)
    }

    /// A uniformly random genotype (PNAS: of exactly `blocks` blocks).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Genotype> {
        Ok(match *self {
            Space::Macro { layers } => Genotype::Macro(MacroGenotype::sample(layers, rng)?),
            Space::Pnas { blocks } => Genotype::Pnas(PnasCell::sample(blocks, rng)?),
            Space::Darts => Genotype::Darts(DartsGenotype::sample(rng)),
            Space::Nb201 => Genotype::Nb201(Nb201Cell::sample(rng)),
            Space::Mlp {
                layers,
                categorical,
            } => Genotype::Mlp(MlpGenotype::sample(layers, categorical, rng)),
            Space::Seq => Genotype::Seq(SeqCell::sample(rng)),
        })
    }

    /// A one-edit neighbour of `g`, in this space and different from it.
    pub fn mutate<R: Rng + ?Sized>(&self, g: &Genotype, rng: &mut R) -> Result<Genotype> {
        self.check(g)?;
        Ok(match g {
            Genotype::Macro(m) => Genotype::Macro(m.mutate(rng)),
            Genotype::Pnas(c) => Genotype::Pnas(c.mutate(rng)),
            Genotype::Darts(d) => Genotype::Darts(d.mutate(rng)),
            Genotype::Nb201(c) => Genotype::Nb201(c.mutate(rng)),
            Genotype::Mlp(m) => {
                let Space::Mlp {
                    layers,
                    categorical,
                } = *self
                else {
                    unreachable!("checked above: an mlp genotype is in an mlp space")
                };
                Genotype::Mlp(m.mutate(layers, categorical, rng))
            }
            Genotype::Seq(c) => Genotype::Seq(c.mutate(rng)),
        })
    }

    /// Every genotype, where listing them is practical: all NAS-Bench-201
    /// or `seq` cells, or the PNAS cells of exactly `blocks` blocks. `None`
    /// for the macro, DARTS and mlp spaces, whose sizes are astronomical.
    pub fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Genotype>>> {
        match *self {
            Space::Nb201 => Some(Box::new(Nb201Cell::enumerate().map(Genotype::Nb201))),
            Space::Seq => Some(Box::new(SeqCell::enumerate().map(Genotype::Seq))),
            Space::Pnas { blocks } => PnasCell::enumerate(blocks)
                .ok()
                .map(|it| Box::new(it.map(Genotype::Pnas)) as Box<dyn Iterator<Item = Genotype>>),
            Space::Macro { .. } | Space::Darts | Space::Mlp { .. } => None,
        }
    }

    /// The number of canonical genotypes (PNAS: of exactly `blocks` blocks).
    pub fn size(&self) -> Result<Size> {
        Ok(match *self {
            Space::Macro { layers } => match MacroGenotype::count(layers)? {
                Some(n) => Size::Exact(n),
                None => {
                    let bits = 6.0 * layers as f64 + (layers * (layers - 1) / 2) as f64;
                    Size::Huge {
                        log10: (bits * 2f64.log10()).floor() as u32,
                    }
                }
            },
            Space::Pnas { blocks } => Size::Exact(PnasCell::count(blocks)?),
            Space::Darts => Size::Exact(DartsGenotype::count()),
            Space::Nb201 => Size::Exact(nb201::SIZE as u128),
            Space::Seq => Size::Exact(seq::SIZE as u128),
            Space::Mlp {
                layers,
                categorical,
            } => match MlpGenotype::count(layers, categorical) {
                Some(n) => Size::Exact(n),
                None => {
                    let per_layer = (mlp::WIDTHS.len() * 4 * 3 * mlp::DROPOUT_TENTHS.len()) as f64;
                    let bits = layers as f64 * per_layer.log2()
                        + (layers * (layers - 1) / 2) as f64
                        + f64::from(u8::from(categorical));
                    Size::Huge {
                        log10: (bits * 2f64.log10()).floor() as u32,
                    }
                }
            },
        })
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Macro { layers } => write!(f, "macro (layers = {layers})"),
            Space::Pnas { blocks } => write!(f, "pnas (blocks <= {blocks})"),
            Space::Darts => f.write_str("darts"),
            Space::Nb201 => f.write_str("nb201"),
            Space::Mlp {
                layers,
                categorical: false,
            } => write!(f, "mlp (layers <= {layers})"),
            Space::Mlp { layers, .. } => write!(f, "mlp (layers <= {layers}, categorical)"),
            Space::Seq => f.write_str("seq"),
        }
    }
}

/// A genotype of any space.
// A DARTS genotype is 256 bytes inline; populations hold thousands at most,
// so boxing it would buy nothing but an allocation per genotype.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "space", content = "genotype", rename_all = "snake_case")]
pub enum Genotype {
    /// A NAS-RL macro network.
    Macro(MacroGenotype),
    /// A PNAS cell.
    Pnas(PnasCell),
    /// A DARTS genotype.
    Darts(DartsGenotype),
    /// A NAS-Bench-201 cell.
    Nb201(Nb201Cell),
    /// A dense network.
    Mlp(MlpGenotype),
    /// A `seq` cell.
    Seq(SeqCell),
}

impl Genotype {
    /// Parse the text form of a genotype of space `kind`.
    pub fn parse(kind: SpaceKind, text: &str) -> Result<Self> {
        Ok(match kind {
            SpaceKind::Macro => Genotype::Macro(text.parse()?),
            SpaceKind::Pnas => Genotype::Pnas(text.parse()?),
            SpaceKind::Darts => Genotype::Darts(text.parse()?),
            SpaceKind::Nb201 => Genotype::Nb201(text.parse()?),
            SpaceKind::Mlp => Genotype::Mlp(text.parse()?),
            SpaceKind::Seq => Genotype::Seq(text.parse()?),
        })
    }

    /// Which space the genotype belongs to.
    pub fn kind(&self) -> SpaceKind {
        match self {
            Genotype::Macro(_) => SpaceKind::Macro,
            Genotype::Pnas(_) => SpaceKind::Pnas,
            Genotype::Darts(_) => SpaceKind::Darts,
            Genotype::Nb201(_) => SpaceKind::Nb201,
            Genotype::Mlp(_) => SpaceKind::Mlp,
            Genotype::Seq(_) => SpaceKind::Seq,
        }
    }

    /// The canonical genotype: equal architectures give equal values.
    pub fn canonical(&self) -> Self {
        match self {
            Genotype::Darts(d) => Genotype::Darts(d.canonical()),
            other => other.clone(),
        }
    }

    /// The text form of the canonical genotype.
    pub fn canonical_text(&self) -> String {
        self.canonical().to_string()
    }

    /// The number of one-edge edits between two cells of the same cell
    /// space (nb201, seq); `None` for genotypes of other spaces, which have
    /// no fixed set of edges to compare.
    pub fn cell_distance(&self, other: &Genotype) -> Option<usize> {
        match (self, other) {
            (Genotype::Nb201(a), Genotype::Nb201(b)) => Some(a.distance(b)),
            (Genotype::Seq(a), Genotype::Seq(b)) => Some(a.distance(b)),
            _ => None,
        }
    }

    /// Every cell one edge away, for a cell of a cell space (nb201, seq);
    /// `None` for other genotypes, whose neighbours are not listed.
    pub fn cell_neighbours(&self) -> Option<Vec<Genotype>> {
        match self {
            Genotype::Nb201(c) => Some(c.neighbours().into_iter().map(Genotype::Nb201).collect()),
            Genotype::Seq(c) => Some(c.neighbours().into_iter().map(Genotype::Seq).collect()),
            _ => None,
        }
    }

    /// A uniform crossover of two cells of the same cell space (each edge's
    /// operation from either parent); `None` for other genotypes.
    pub fn cell_crossover<R: Rng + ?Sized>(&self, other: &Genotype, rng: &mut R) -> Option<Self> {
        match (self, other) {
            (Genotype::Nb201(a), Genotype::Nb201(b)) => Some(Genotype::Nb201(a.crossover(b, rng))),
            (Genotype::Seq(a), Genotype::Seq(b)) => Some(Genotype::Seq(a.crossover(b, rng))),
            _ => None,
        }
    }

    /// The stable hash of the canonical form (see [`GenotypeHash`]).
    pub fn hash(&self) -> GenotypeHash {
        GenotypeHash::of(self.kind().name(), &self.canonical_text())
    }
}

impl fmt::Display for Genotype {
    /// The space's text form (for DARTS, in the edge order given).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Genotype::Macro(g) => g.fmt(f),
            Genotype::Pnas(g) => g.fmt(f),
            Genotype::Darts(g) => g.fmt(f),
            Genotype::Nb201(g) => g.fmt(f),
            Genotype::Mlp(g) => g.fmt(f),
            Genotype::Seq(g) => g.fmt(f),
        }
    }
}
