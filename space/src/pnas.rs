//! The PNAS cell space (Liu et al. 2018): a cell is a sequence of up to 5
//! blocks; a block applies one operation to each of two inputs and adds the
//! results. Inputs are the cell's inputs h[c-2], h[c-1] and earlier blocks.
//!
//! Inputs are numbered as in the NASNet and DARTS reference code: 0 is
//! h[c-2], 1 is h[c-1], and k + 1 is block k (blocks count from 1).
//!
//! A block's two (input, op) pairs are unordered, since addition commutes:
//! `(a, x, b, y)` and `(b, y, a, x)` are the same block. The canonical form
//! puts the smaller pair first in every block, so there are 256 one-block
//! cells but 136 canonical ones.

use crate::ops::op_enum;
use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

op_enum! {
    /// The 8 operations of PNAS, in the paper's order.
    PnasOp {
        /// 3x3 depthwise-separable convolution.
        Sep3x3 => "sep_3x3",
        /// 5x5 depthwise-separable convolution.
        Sep5x5 => "sep_5x5",
        /// 7x7 depthwise-separable convolution.
        Sep7x7 => "sep_7x7",
        /// 1x7 convolution followed by a 7x1 convolution.
        Conv1x7_7x1 => "conv_1x7_7x1",
        /// Identity.
        Identity => "identity",
        /// 3x3 average pooling.
        AvgPool3x3 => "avg_pool_3x3",
        /// 3x3 max pooling.
        MaxPool3x3 => "max_pool_3x3",
        /// 3x3 dilated convolution (dilation 2).
        DilConv3x3 => "dil_conv_3x3",
    }
}

/// The most blocks a PNAS cell has (B in the paper).
pub const MAX_BLOCKS: usize = 5;

/// The number of cell inputs (h[c-2], h[c-1]) before the blocks.
pub const CELL_INPUTS: usize = 2;

/// One block: `op1(input1) + op2(input2)`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PnasBlock {
    /// First input: 0 = h[c-2], 1 = h[c-1], k + 1 = block k.
    pub in1: usize,
    /// Operation on the first input.
    pub op1: PnasOp,
    /// Second input, numbered like `in1`.
    pub in2: usize,
    /// Operation on the second input.
    pub op2: PnasOp,
}

impl PnasBlock {
    /// The block with its pairs in canonical order (smaller pair first).
    pub fn canonical(self) -> Self {
        if (self.in1, self.op1) <= (self.in2, self.op2) {
            self
        } else {
            Self {
                in1: self.in2,
                op1: self.op2,
                in2: self.in1,
                op2: self.op1,
            }
        }
    }

    /// Number of canonical blocks at position `index` (0-based), which may use
    /// `CELL_INPUTS + index` inputs: n (n + 1) / 2 for n = inputs x ops.
    pub fn choices(index: usize) -> usize {
        let n = (CELL_INPUTS + index) * PnasOp::ALL.len();
        n * (n + 1) / 2
    }

    /// The `k`-th canonical block at position `index` (0-based), for `k` below
    /// [`Self::choices`]; pairs (input, op) are ordered input-major.
    fn nth(index: usize, mut k: usize) -> Self {
        let ops = PnasOp::ALL.len();
        let n = (CELL_INPUTS + index) * ops;
        let mut i = 0;
        while k >= n - i {
            k -= n - i;
            i += 1;
        }
        let j = i + k;
        let pair = |p: usize| (p / ops, PnasOp::ALL[p % ops]);
        let ((in1, op1), (in2, op2)) = (pair(i), pair(j));
        Self { in1, op1, in2, op2 }
    }
}

/// A PNAS cell: 1 to [`MAX_BLOCKS`] blocks, always valid and canonical.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "RawCell", into = "RawCell")]
pub struct PnasCell {
    blocks: Vec<PnasBlock>,
}

/// The serialized shape of a cell, checked on the way in.
#[derive(serde::Serialize, serde::Deserialize)]
struct RawCell {
    blocks: Vec<PnasBlock>,
}

impl TryFrom<RawCell> for PnasCell {
    type Error = SpaceError;
    fn try_from(raw: RawCell) -> Result<Self> {
        Self::new(raw.blocks)
    }
}

impl From<PnasCell> for RawCell {
    fn from(cell: PnasCell) -> Self {
        Self {
            blocks: cell.blocks,
        }
    }
}

impl PnasCell {
    /// Check `blocks` and put every block in canonical order.
    pub fn new(blocks: Vec<PnasBlock>) -> Result<Self> {
        if blocks.is_empty() {
            return Err(SpaceError::new("blocks", "a cell has at least 1 block"));
        }
        if blocks.len() > MAX_BLOCKS {
            return Err(SpaceError::new(
                "blocks",
                format!(
                    "{} blocks is more than the {MAX_BLOCKS} a PNAS cell may have",
                    blocks.len()
                ),
            ));
        }
        for (i, b) in blocks.iter().enumerate() {
            for input in [b.in1, b.in2] {
                check_input(i, input, blocks.len())?;
            }
        }
        Ok(Self {
            blocks: blocks.into_iter().map(PnasBlock::canonical).collect(),
        })
    }

    /// The blocks, in order.
    pub fn blocks(&self) -> &[PnasBlock] {
        &self.blocks
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a cell has at least one block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// A cell of `blocks` blocks, uniform over canonical cells.
    pub fn sample<R: Rng + ?Sized>(blocks: usize, rng: &mut R) -> Result<Self> {
        check_block_count(blocks)?;
        let blocks = (0..blocks)
            .map(|i| PnasBlock::nth(i, rng.random_range(0..PnasBlock::choices(i))))
            .collect();
        Ok(Self { blocks })
    }

    /// The same cell with one input or one operation of one block changed.
    /// The result always differs from `self`.
    pub fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut blocks = self.blocks.clone();
        let i = rng.random_range(0..blocks.len());
        let b = &mut blocks[i];
        let (input, op) = if rng.random_bool(0.5) {
            (&mut b.in1, &mut b.op1)
        } else {
            (&mut b.in2, &mut b.op2)
        };
        if rng.random_bool(0.5) {
            let n = CELL_INPUTS + i;
            *input = (*input + rng.random_range(1..n)) % n;
        } else {
            let n = PnasOp::ALL.len();
            *op = PnasOp::ALL[(op.index() + rng.random_range(1..n)) % n];
        }
        blocks[i] = blocks[i].canonical();
        Self { blocks }
    }

    /// Every child of this cell with one more block, in a fixed order; empty
    /// when the cell already has [`MAX_BLOCKS`] blocks.
    pub fn expand(&self) -> Vec<Self> {
        let index = self.blocks.len();
        if index >= MAX_BLOCKS {
            return Vec::new();
        }
        (0..PnasBlock::choices(index))
            .map(|k| {
                let mut blocks = Vec::with_capacity(index + 1);
                blocks.extend_from_slice(&self.blocks);
                blocks.push(PnasBlock::nth(index, k));
                Self { blocks }
            })
            .collect()
    }

    /// Every canonical cell of exactly `blocks` blocks, in a fixed order.
    pub fn enumerate(blocks: usize) -> Result<Box<dyn Iterator<Item = Self>>> {
        check_block_count(blocks)?;
        let first = (0..PnasBlock::choices(0)).map(|k| Self {
            blocks: vec![PnasBlock::nth(0, k)],
        });
        let mut it: Box<dyn Iterator<Item = Self>> = Box::new(first);
        for _ in 1..blocks {
            it = Box::new(it.flat_map(|c| c.expand()));
        }
        Ok(it)
    }

    /// The number of canonical cells of exactly `blocks` blocks.
    pub fn count(blocks: usize) -> Result<u128> {
        check_block_count(blocks)?;
        Ok((0..blocks).map(|i| PnasBlock::choices(i) as u128).product())
    }
}

fn check_block_count(blocks: usize) -> Result<()> {
    if blocks == 0 || blocks > MAX_BLOCKS {
        return Err(SpaceError::new(
            "blocks",
            format!("{blocks} is not a block count between 1 and {MAX_BLOCKS}"),
        ));
    }
    Ok(())
}

/// Check that block `index` (0-based) of a cell of `len` blocks may read `input`.
fn check_input(index: usize, input: usize, len: usize) -> Result<()> {
    let block = index + 1;
    if input < CELL_INPUTS + index {
        return Ok(());
    }
    let target = input + 1 - CELL_INPUTS;
    let why = if target > len {
        "refers to a block that does not exist"
    } else if target == block {
        "refers to the block itself"
    } else {
        "refers to a later block"
    };
    Err(SpaceError::new(
        format!("block {block}"),
        format!(
            "input {input} {why} (block {block} may use inputs 0..={}: 0 = h[c-2], 1 = h[c-1], k+1 = block k)",
            CELL_INPUTS + index - 1
        ),
    ))
}

impl fmt::Display for PnasCell {
    /// `(1,sep_3x3,0,max_pool_3x3)(2,identity,1,avg_pool_3x3)`: one
    /// `(input1,op1,input2,op2)` tuple per block, as in the paper.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.blocks {
            write!(f, "({},{},{},{})", b.in1, b.op1, b.in2, b.op2)?;
        }
        Ok(())
    }
}

impl FromStr for PnasCell {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self> {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let inner = compact
            .strip_prefix('(')
            .and_then(|c| c.strip_suffix(')'))
            .ok_or_else(|| {
                SpaceError::new(
                    "cell",
                    format!("{s:?} is not a list of (input1,op1,input2,op2) blocks"),
                )
            })?;
        let mut blocks = Vec::new();
        for (i, tuple) in inner.split(")(").enumerate() {
            let block = i + 1;
            let fields: Vec<&str> = tuple.split(',').collect();
            if fields.len() != 4 {
                return Err(SpaceError::new(
                    format!("block {block}"),
                    format!(
                        "expected 4 fields (input1,op1,input2,op2), found {} in {tuple:?}",
                        fields.len()
                    ),
                ));
            }
            let input = |k: usize, text: &str| -> Result<usize> {
                text.parse().map_err(|_| {
                    SpaceError::new(
                        format!("block {block} input {k}"),
                        format!("{text:?} is not an input number"),
                    )
                })
            };
            let op = |k: usize, text: &str| -> Result<PnasOp> {
                text.parse().map_err(|e: SpaceError| {
                    SpaceError::new(format!("block {block} op {k}"), e.reason)
                })
            };
            blocks.push(PnasBlock {
                in1: input(1, fields[0])?,
                op1: op(1, fields[1])?,
                in2: input(2, fields[2])?,
                op2: op(2, fields[3])?,
            });
        }
        Self::new(blocks)
    }
}
