//! The continuous relaxation of one edge: a [`MixedOp`] holds every
//! primitive of a space and outputs their sum weighted by softmax(α) of the
//! edge. The primitives are the discrete networks' ops (`model::ops`) with
//! plain batch norms (PyTorch's `affine=False`), as in the reference
//! `cnn/model_search.py` and xautodl's search cells.

use crate::model::ops::{
    avg_pool_3x3, bn_with, dil_conv_with, factorized_reduce_with, max_pool_3x3, relu_conv_bn_with,
    sep_conv_with, ConvSpec, Op,
};
use crate::model::ModelError;
use space::{DartsOp, Nb201Op, SeqOp};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Every primitive of one edge, in the space's op order; `None` where the
/// primitive is `none`, whose output (zeros) adds nothing to the sum and
/// whose weight receives no gradient through it, so it is not computed.
#[derive(Debug)]
pub(super) struct MixedOp {
    ops: Vec<Option<Op>>,
}

impl MixedOp {
    /// The DARTS primitives at `c` channels and stride `stride` (paths
    /// `<op name>.<op's own paths>`; pooling is followed by a plain batch
    /// norm at `<pool>.bn`, as `MixedOp` in the reference).
    pub(super) fn darts(vs: &nn::Path, c: i64, stride: i64, at: &str) -> Result<Self, ModelError> {
        let mut ops = Vec::with_capacity(DartsOp::ALL.len());
        for &op in DartsOp::ALL {
            let vs = vs.sub(op.name());
            let pool_bn =
                |pool: nn::SequentialT| Op::Layers(pool.add(bn_with(&vs.sub("bn"), c, false)));
            ops.push(match op {
                DartsOp::None => None,
                DartsOp::MaxPool3x3 => Some(pool_bn(max_pool_3x3(stride))),
                DartsOp::AvgPool3x3 => Some(pool_bn(avg_pool_3x3(stride))),
                DartsOp::SkipConnect if stride == 1 => Some(Op::Identity),
                DartsOp::SkipConnect => Some(factorized_reduce_with(
                    &vs,
                    c,
                    c,
                    &format!("{at}.{op}"),
                    false,
                )?),
                DartsOp::SepConv3x3 => Some(Op::Layers(sep_conv_with(&vs, c, c, 3, stride, false))),
                DartsOp::SepConv5x5 => Some(Op::Layers(sep_conv_with(&vs, c, c, 5, stride, false))),
                DartsOp::DilConv3x3 => Some(Op::Layers(dil_conv_with(&vs, c, c, 3, stride, false))),
                DartsOp::DilConv5x5 => Some(Op::Layers(dil_conv_with(&vs, c, c, 5, stride, false))),
            });
        }
        Ok(Self { ops })
    }

    /// The NAS-Bench-201 primitives at `c` channels, stride 1 (xautodl's
    /// `OPS` with `affine=False`: ReLU-Conv-BN for the convolutions, average
    /// pooling without a batch norm).
    pub(super) fn nb201(vs: &nn::Path, c: i64) -> Self {
        let ops = Nb201Op::ALL
            .iter()
            .map(|&op| {
                let vs = vs.sub(op.name());
                match op {
                    Nb201Op::None => None,
                    Nb201Op::SkipConnect => Some(Op::Identity),
                    Nb201Op::NorConv1x1 => Some(Op::Layers(relu_conv_bn_with(
                        &vs,
                        c,
                        c,
                        ConvSpec::default(),
                        false,
                    ))),
                    Nb201Op::NorConv3x3 => Some(Op::Layers(relu_conv_bn_with(
                        &vs,
                        c,
                        c,
                        ConvSpec::square(3, 1, 1),
                        false,
                    ))),
                    Nb201Op::AvgPool3x3 => Some(Op::Layers(avg_pool_3x3(1))),
                }
            })
            .collect();
        Self { ops }
    }

    /// The `seq` primitives at `c` channels, stride 1, with plain batch
    /// norms (see [`crate::model::ops1d::seq_op`]).
    pub(super) fn seq(vs: &nn::Path, c: i64) -> Self {
        let ops = SeqOp::ALL
            .iter()
            .map(|&op| {
                (op != SeqOp::None)
                    .then(|| crate::model::ops1d::seq_op(&vs.sub(op.name()), op, c, false))
            })
            .collect();
        Self { ops }
    }

    /// Σ_o weights[o] · op_o(xs), `weights` the edge's softmax(α) row.
    pub(super) fn forward(&self, xs: &Tensor, weights: &Tensor, train: bool) -> Tensor {
        self.ops
            .iter()
            .enumerate()
            .filter_map(|(o, op)| {
                op.as_ref()
                    .map(|op| op.forward_t(xs, train) * weights.get(o as i64))
            })
            .reduce(|a, b| a + b)
            .expect("every space has ops other than none")
    }
}
