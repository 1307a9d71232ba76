//! The 1-D building blocks of the `seq` space's networks and supernet:
//! bias-free convolutions over sequences `[batch, channels, length]`
//! followed by batch norm, depthwise-separable and dilated convolutions,
//! pooling, all keeping the length ("same" padding) at stride 1.

use super::ops::Op;
use space::SeqOp;
use tch::nn;
use tch::Tensor;

/// A 1-d batch norm as PyTorch initialises it (weight 1, bias 0), or
/// without scale and shift when `affine` is false (DARTS search cells).
pub fn bn1d(vs: &nn::Path, channels: i64, affine: bool) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        affine,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm1d(vs, channels, cfg)
}

/// A bias-free 1-d convolution of kernel `k`, stride `stride`, dilation
/// `dilation` and `groups` groups, padded so that at stride 1 the length is
/// kept (tch's default Kaiming-uniform weights).
pub fn conv1d(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    (k, stride, dilation): (i64, i64, i64),
    groups: i64,
) -> nn::Conv1D {
    let cfg = nn::ConvConfig {
        stride,
        padding: dilation * (k - 1) / 2,
        dilation,
        groups,
        bias: false,
        ..Default::default()
    };
    nn::conv1d(vs, c_in, c_out, k, cfg)
}

/// Conv then batch norm (paths `conv`, `bn`).
pub fn conv_bn1d(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    shape: (i64, i64, i64),
    affine: bool,
) -> nn::SequentialT {
    nn::seq_t()
        .add(conv1d(&vs.sub("conv"), c_in, c_out, shape, 1))
        .add(bn1d(&vs.sub("bn"), c_out, affine))
}

/// ReLU, conv, batch norm (paths `conv`, `bn`).
pub fn relu_conv_bn1d(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    shape: (i64, i64, i64),
    affine: bool,
) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv_bn1d(vs, c_in, c_out, shape, affine))
}

/// ReLU, a depthwise convolution of kernel `k`, a pointwise one, batch norm
/// (paths `dw`, `pw`, `bn`).
pub fn sep_conv1d(vs: &nn::Path, c: i64, k: i64, affine: bool) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv1d(&vs.sub("dw"), c, c, (k, 1, 1), c))
        .add(conv1d(&vs.sub("pw"), c, c, (1, 1, 1), 1))
        .add(bn1d(&vs.sub("bn"), c, affine))
}

/// Average pooling over 3 steps, padding 1 left out of each average.
pub fn avg_pool1d_3() -> nn::SequentialT {
    nn::seq_t().add_fn(|xs| xs.avg_pool1d([3], [1], [1], false, false))
}

/// Max pooling over 3 steps, padding 1.
pub fn max_pool1d_3() -> nn::SequentialT {
    nn::seq_t().add_fn(|xs| xs.max_pool1d([3], [1], [1], [1], false))
}

/// One `seq` operation at `c` channels (paths under `vs`), with affine
/// batch norms in a network and plain ones in a supernet.
pub fn seq_op(vs: &nn::Path, op: SeqOp, c: i64, affine: bool) -> Op {
    match op {
        SeqOp::None => Op::Zero { stride: 1 },
        SeqOp::SkipConnect => Op::Identity,
        SeqOp::AvgPool3 => Op::Layers(avg_pool1d_3()),
        SeqOp::MaxPool3 => Op::Layers(max_pool1d_3()),
        SeqOp::SepConv3 | SeqOp::SepConv5 => {
            let (k, _) = op.conv().expect("a separable convolution has a kernel");
            Op::Layers(sep_conv1d(vs, c, k, affine))
        }
        SeqOp::Conv3 | SeqOp::Conv5 | SeqOp::Conv7 | SeqOp::DilConv3 | SeqOp::DilConv5 => {
            let (k, d) = op.conv().expect("a convolution has a kernel");
            Op::Layers(relu_conv_bn1d(vs, c, c, (k, 1, d), affine))
        }
    }
}

/// Global average pooling of sequences to `[batch, channels]`.
pub fn global_pool1d(xs: &Tensor) -> Tensor {
    xs.mean_dim([2i64].as_slice(), false, None)
}
