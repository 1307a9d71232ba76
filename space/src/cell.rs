//! Cells of the NAS-Bench-201 shape: 4 nodes, every node the sum of one
//! operation applied to each earlier node, so 6 edges with one operation
//! each. Generic over the operation vocabulary: the 2-D operations of
//! NAS-Bench-201 ([`crate::nb201`]) and the 1-D operations of the `seq`
//! space for time series ([`crate::seq`]).
//!
//! Text form, the benchmark's arch string: node by node, each node's edges
//! from the earlier nodes in order,
//! `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`.

use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;

/// An operation vocabulary a cell can use: a small closed enum (declared
/// with `op_enum!`) whose `ALL` order is the token order of encodings.
pub trait CellOp:
    Copy
    + Eq
    + Ord
    + Hash
    + fmt::Debug
    + fmt::Display
    + FromStr<Err = SpaceError>
    + serde::Serialize
    + for<'de> serde::Deserialize<'de>
    + 'static
{
    /// Every operation, in index order.
    fn all() -> &'static [Self];

    /// The operation's position in [`CellOp::all`].
    fn position(self) -> usize {
        Self::all()
            .iter()
            .position(|&o| o == self)
            .expect("every operation is in all()")
    }
}

/// The edges in arch-string order, as `(to, from)` node pairs.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// A cell: one operation per edge, in [`EDGES`] order.
///
/// Every value is a valid cell, so there is nothing to validate once built.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(bound(deserialize = "O: CellOp"))]
pub struct Cell<O: CellOp> {
    /// The operation on each edge, in [`EDGES`] order.
    pub edges: [O; 6],
}

impl<O: CellOp> Cell<O> {
    /// Number of cells: one operation of `n` per edge, `n^6`.
    pub fn size() -> usize {
        O::all().len().pow(6)
    }

    /// The operation on the edge `to <- from`, if that edge exists.
    pub fn op(&self, to: usize, from: usize) -> Option<O> {
        EDGES
            .iter()
            .position(|&e| e == (to, from))
            .map(|i| self.edges[i])
    }

    /// The cell's position in enumeration order: the number whose base-n
    /// digits are the edges' operation indices, first edge most significant.
    pub fn index(&self) -> usize {
        let n = O::all().len();
        self.edges.iter().fold(0, |acc, op| acc * n + op.position())
    }

    /// The cell at `index` in enumeration order.
    pub fn from_index(mut index: usize) -> Option<Self> {
        let ops = O::all();
        if index >= Self::size() {
            return None;
        }
        let mut edges = [ops[0]; 6];
        for slot in edges.iter_mut().rev() {
            *slot = ops[index % ops.len()];
            index /= ops.len();
        }
        Some(Self { edges })
    }

    /// A uniformly random cell.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Self::from_index(rng.random_range(0..Self::size())).expect("index below the size")
    }

    /// The same cell with one edge's operation changed to another one.
    pub fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let ops = O::all();
        let mut out = *self;
        let edge = rng.random_range(0..6);
        let shift = rng.random_range(1..ops.len());
        out.edges[edge] = ops[(self.edges[edge].position() + shift) % ops.len()];
        out
    }

    /// Every cell that differs from this one in exactly one edge.
    pub fn neighbours(&self) -> Vec<Self> {
        let ops = O::all();
        let mut out = Vec::with_capacity(6 * (ops.len() - 1));
        for edge in 0..6 {
            for &op in ops {
                if op != self.edges[edge] {
                    let mut n = *self;
                    n.edges[edge] = op;
                    out.push(n);
                }
            }
        }
        out
    }

    /// Uniform crossover: each edge's operation from `self` or `other`,
    /// with even odds.
    pub fn crossover<R: Rng + ?Sized>(&self, other: &Self, rng: &mut R) -> Self {
        let mut out = *self;
        for (slot, theirs) in out.edges.iter_mut().zip(other.edges) {
            if rng.random_bool(0.5) {
                *slot = theirs;
            }
        }
        out
    }

    /// How many edges carry a different operation: the number of one-edge
    /// mutations from one cell to the other.
    pub fn distance(&self, other: &Self) -> usize {
        (self.edges.iter().zip(&other.edges))
            .filter(|(a, b)| a != b)
            .count()
    }

    /// Every cell, in index order.
    pub fn enumerate() -> impl Iterator<Item = Self> {
        (0..Self::size()).map(|i| Self::from_index(i).expect("index below the size"))
    }
}

impl<O: CellOp> fmt::Display for Cell<O> {
    /// The arch string, e.g.
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

impl<O: CellOp> FromStr for Cell<O> {
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
        let mut edges = [O::all()[0]; 6];
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
                let op: O = op
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
