//! The NAS-Bench-201 cell space (Dong & Yang 2020): a cell of 4 nodes where
//! every node sums one operation applied to each earlier node, 6 edges, 5
//! operations, 15,625 cells.

use crate::ops::op_enum;
use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

op_enum! {
    /// The 5 operations of NAS-Bench-201, in the benchmark's index order
    /// (the digits of its table keys).
    Nb201Op {
        /// Zero: the edge is absent.
        None => "none",
        /// Identity.
        SkipConnect => "skip_connect",
        /// ReLU-Conv1x1-BN.
        NorConv1x1 => "nor_conv_1x1",
        /// ReLU-Conv3x3-BN.
        NorConv3x3 => "nor_conv_3x3",
        /// 3x3 average pooling.
        AvgPool3x3 => "avg_pool_3x3",
    }
}

/// The edges in arch-string order, as `(to, from)` node pairs.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// Number of cells in the space: 5^6.
pub const SIZE: usize = 15_625;

/// A NAS-Bench-201 cell: one operation per edge, in [`EDGES`] order.
///
/// Every value is a valid cell, so there is nothing to validate once built.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Nb201Cell {
    /// The operation on each edge, in [`EDGES`] order.
    pub edges: [Nb201Op; 6],
}

impl Nb201Cell {
    /// The operation on the edge `to <- from`, if that edge exists.
    pub fn op(&self, to: usize, from: usize) -> Option<Nb201Op> {
        EDGES
            .iter()
            .position(|&e| e == (to, from))
            .map(|i| self.edges[i])
    }

    /// The cell's position in enumeration order: the base-5 number whose
    /// digits are the edges' operation indices, first edge most significant.
    pub fn index(&self) -> usize {
        self.edges.iter().fold(0, |acc, op| acc * 5 + op.index())
    }

    /// The cell at `index` in enumeration order.
    pub fn from_index(mut index: usize) -> Option<Self> {
        if index >= SIZE {
            return None;
        }
        let mut edges = [Nb201Op::None; 6];
        for slot in edges.iter_mut().rev() {
            *slot = Nb201Op::from_index(index % 5)?;
            index /= 5;
        }
        Some(Self { edges })
    }

    /// The key of this cell in the NAS-Bench-201 table: 6 digits, one per
    /// edge in [`EDGES`] order, each an index into [`Nb201Op::ALL`].
    pub fn table_key(&self) -> String {
        self.edges
            .iter()
            .map(|op| char::from(b'0' + op.index() as u8))
            .collect()
    }

    /// Parse a table key (see [`Self::table_key`]).
    pub fn from_table_key(key: &str) -> Result<Self> {
        let digits: Vec<char> = key.chars().collect();
        if digits.len() != 6 {
            return Err(SpaceError::new(
                "table key",
                format!("{key:?} is not 6 digits"),
            ));
        }
        let mut edges = [Nb201Op::None; 6];
        for (i, (slot, c)) in edges.iter_mut().zip(digits).enumerate() {
            *slot = c
                .to_digit(10)
                .and_then(|d| Nb201Op::from_index(d as usize))
                .ok_or_else(|| {
                    SpaceError::new(
                        format!("table key digit {}", i + 1),
                        format!("{c:?} is not an op index 0..=4"),
                    )
                })?;
        }
        Ok(Self { edges })
    }

    /// A uniformly random cell.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self::from_index(rng.random_range(0..SIZE)).expect("index below SIZE")
    }

    /// The same cell with one edge's operation changed to another one.
    pub fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut out = *self;
        let edge = rng.random_range(0..6);
        let shift = rng.random_range(1..Nb201Op::ALL.len());
        let op = (self.edges[edge].index() + shift) % Nb201Op::ALL.len();
        out.edges[edge] = Nb201Op::ALL[op];
        out
    }

    /// Every cell that differs from this one in exactly one edge (24 cells).
    pub fn neighbours(&self) -> Vec<Self> {
        let mut out = Vec::with_capacity(24);
        for edge in 0..6 {
            for &op in Nb201Op::ALL {
                if op != self.edges[edge] {
                    let mut n = *self;
                    n.edges[edge] = op;
                    out.push(n);
                }
            }
        }
        out
    }

    /// All 15,625 cells, in index order.
    pub fn enumerate() -> impl Iterator<Item = Self> {
        (0..SIZE).map(|i| Self::from_index(i).expect("index below SIZE"))
    }
}

impl fmt::Display for Nb201Cell {
    /// The benchmark's arch string,
    /// `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for to in 1..4 {
            if to > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..to {
                let op = self.op(to, from).expect("edge exists");
                write!(f, "{op}~{from}|")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Nb201Cell {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let nodes: Vec<&str> = s.split('+').collect();
        if nodes.len() != 3 {
            return Err(SpaceError::new(
                "arch string",
                format!(
                    "expected 3 nodes separated by '+', found {} in {s:?}",
                    nodes.len()
                ),
            ));
        }
        let mut edges = [Nb201Op::None; 6];
        let mut k = 0;
        for (i, node) in nodes.iter().enumerate() {
            let to = i + 1;
            let field = format!("node {to}");
            let inner = node
                .strip_prefix('|')
                .and_then(|n| n.strip_suffix('|'))
                .ok_or_else(|| {
                    SpaceError::new(&field, format!("{node:?} must start and end with '|'"))
                })?;
            let parts: Vec<&str> = inner.split('|').collect();
            if parts.len() != to {
                return Err(SpaceError::new(
                    &field,
                    format!("expected {to} incoming edges, found {}", parts.len()),
                ));
            }
            for (from, part) in parts.iter().enumerate() {
                let field = format!("node {to} edge {}", from + 1);
                let (op, input) = part
                    .split_once('~')
                    .ok_or_else(|| SpaceError::new(&field, format!("{part:?} is not op~input")))?;
                let op: Nb201Op = op
                    .parse()
                    .map_err(|e: SpaceError| SpaceError::new(&field, e.reason))?;
                if input != from.to_string() {
                    return Err(SpaceError::new(
                        &field,
                        format!("input {input:?} should be {from}: edges list the earlier nodes in order"),
                    ));
                }
                edges[k] = op;
                k += 1;
            }
        }
        Ok(Self { edges })
    }
}
