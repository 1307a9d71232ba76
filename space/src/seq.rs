//! The `seq` space for time series: cells of the NAS-Bench-201 shape (4
//! nodes, 6 edges; [`Cell`]) over 1-D operations on sequences of shape
//! `[channels, length]`: convolutions of several kernel sizes and
//! dilations, depthwise-separable convolutions, pooling, identity and
//! zero. A network stacks such cells in stages, halving the length between
//! stages, and ends in global average pooling (the trainer builds it).
//! DARTS relaxes the same cell into a 1-D supernet.

use crate::cell::{Cell, CellOp};
use crate::ops::op_enum;

op_enum! {
    /// The 1-D operations of a `seq` cell. Convolutions are ReLU-Conv-BN
    /// with "same" padding, so every operation keeps the length.
    SeqOp {
        /// Zero: the edge is absent.
        None => "none",
        /// Identity.
        SkipConnect => "skip_connect",
        /// Convolution, kernel 3.
        Conv3 => "conv_3",
        /// Convolution, kernel 5.
        Conv5 => "conv_5",
        /// Convolution, kernel 7.
        Conv7 => "conv_7",
        /// Dilated convolution, kernel 3, dilation 2 (receptive field 5).
        DilConv3 => "dil_conv_3",
        /// Dilated convolution, kernel 5, dilation 2 (receptive field 9).
        DilConv5 => "dil_conv_5",
        /// Depthwise-separable convolution, kernel 3.
        SepConv3 => "sep_conv_3",
        /// Depthwise-separable convolution, kernel 5.
        SepConv5 => "sep_conv_5",
        /// Average pooling, window 3.
        AvgPool3 => "avg_pool_3",
        /// Max pooling, window 3.
        MaxPool3 => "max_pool_3",
    }
}

impl CellOp for SeqOp {
    fn all() -> &'static [Self] {
        Self::ALL
    }
}

impl SeqOp {
    /// Kernel size and dilation of a convolution (separable or not); `None`
    /// for the other operations.
    pub fn conv(self) -> Option<(i64, i64)> {
        match self {
            Self::Conv3 | Self::SepConv3 => Some((3, 1)),
            Self::Conv5 | Self::SepConv5 => Some((5, 1)),
            Self::Conv7 => Some((7, 1)),
            Self::DilConv3 => Some((3, 2)),
            Self::DilConv5 => Some((5, 2)),
            _ => None,
        }
    }

    /// Whether the operation has weights.
    pub fn is_parametric(self) -> bool {
        self.conv().is_some()
    }
}

/// A `seq` cell: one [`SeqOp`] per edge, in [`crate::cell::EDGES`] order.
pub type SeqCell = Cell<SeqOp>;

/// Number of cells in the space: 11^6.
pub const SIZE: usize = 1_771_561;
