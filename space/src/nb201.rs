//! The NAS-Bench-201 cell space (Dong & Yang 2020): a cell of 4 nodes where
//! every node sums one operation applied to each earlier node, 6 edges, 5
//! operations, 15,625 cells. The cell itself is the generic [`Cell`]; this
//! module adds the benchmark's operations and table keys.

use crate::cell::{Cell, CellOp};
use crate::ops::op_enum;
use crate::{Result, SpaceError};

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

impl CellOp for Nb201Op {
    fn all() -> &'static [Self] {
        Self::ALL
    }
}

pub use crate::cell::EDGES;

/// Number of cells in the space: 5^6.
pub const SIZE: usize = 15_625;

/// A NAS-Bench-201 cell: one operation per edge, in [`EDGES`] order.
pub type Nb201Cell = Cell<Nb201Op>;

impl Cell<Nb201Op> {
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
}
