//! The building blocks every family shares: convolutions and batch norm
//! initialised as PyTorch does, ReLU-Conv-BN, separable and dilated
//! convolutions, factorized reduce, pooling, drop path, spatial-size
//! arithmetic, and the two-input cell of DARTS and PNAS.
//!
//! Every convolution is bias-free and followed by an affine batch norm, as in
//! the reference code of DARTS (`cnn/operations.py`) and NAS-Bench-201.

use super::ModelError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A batch norm as PyTorch initialises it (weight 1, bias 0, momentum 0.1,
/// eps 1e-5); tch's own default draws the weight uniformly from [0, 1).
pub fn bn(vs: &nn::Path, channels: i64) -> nn::BatchNorm {
    bn_with(vs, channels, true)
}

/// [`bn`], or without the learnable scale and shift when `affine` is false
/// (PyTorch's `affine=False`), as in the cells of a DARTS supernet, where
/// an affine batch norm would let each op rescale itself against α.
pub fn bn_with(vs: &nn::Path, channels: i64, affine: bool) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        affine,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(vs, channels, cfg)
}

/// The shape of one bias-free 2-d convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Kernel height and width.
    pub kernel: [i64; 2],
    /// Stride along height and width.
    pub stride: [i64; 2],
    /// Zero padding along height and width.
    pub padding: [i64; 2],
    /// Dilation along height and width.
    pub dilation: i64,
    /// Channel groups (the input channel count for a depthwise convolution).
    pub groups: i64,
}

impl Default for ConvSpec {
    /// A 1x1 convolution, stride 1.
    fn default() -> Self {
        Self {
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: 1,
            groups: 1,
        }
    }
}

impl ConvSpec {
    /// A square `k`x`k` convolution with padding `pad` and stride `stride`.
    pub fn square(k: i64, stride: i64, pad: i64) -> Self {
        Self {
            kernel: [k, k],
            stride: [stride, stride],
            padding: [pad, pad],
            ..Self::default()
        }
    }

    /// The same convolution applied to each channel on its own.
    pub fn depthwise(self, channels: i64) -> Self {
        Self {
            groups: channels,
            ..self
        }
    }

    /// The same convolution with dilation `d`.
    pub fn dilated(self, d: i64) -> Self {
        Self {
            dilation: d,
            ..self
        }
    }

    /// Output height or width (`axis` 0 or 1) for an input of `size`.
    pub fn out_size(&self, size: i64, axis: usize) -> i64 {
        let span = self.dilation * (self.kernel[axis] - 1) + 1;
        (size + 2 * self.padding[axis] - span).div_euclid(self.stride[axis]) + 1
    }
}

/// A bias-free convolution, weights initialised as tch's default (Kaiming
/// uniform).
pub fn conv(vs: &nn::Path, c_in: i64, c_out: i64, spec: ConvSpec) -> nn::Conv2D {
    let cfg = nn::ConvConfigND::<[i64; 2]> {
        stride: spec.stride,
        padding: spec.padding,
        dilation: [spec.dilation, spec.dilation],
        groups: spec.groups,
        bias: false,
        ..Default::default()
    };
    nn::conv(vs, c_in, c_out, spec.kernel, cfg)
}

/// Conv then batch norm (paths `conv`, `bn`).
pub fn conv_bn(vs: &nn::Path, c_in: i64, c_out: i64, spec: ConvSpec) -> nn::SequentialT {
    conv_bn_with(vs, c_in, c_out, spec, true)
}

/// [`conv_bn`] with an affine or a plain batch norm (see [`bn_with`]).
pub fn conv_bn_with(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    spec: ConvSpec,
    affine: bool,
) -> nn::SequentialT {
    nn::seq_t()
        .add(conv(&vs.sub("conv"), c_in, c_out, spec))
        .add(bn_with(&vs.sub("bn"), c_out, affine))
}

/// ReLU, conv, batch norm (paths `conv`, `bn`).
pub fn relu_conv_bn(vs: &nn::Path, c_in: i64, c_out: i64, spec: ConvSpec) -> nn::SequentialT {
    relu_conv_bn_with(vs, c_in, c_out, spec, true)
}

/// [`relu_conv_bn`] with an affine or a plain batch norm (see [`bn_with`]).
pub fn relu_conv_bn_with(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    spec: ConvSpec,
    affine: bool,
) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv_bn_with(vs, c_in, c_out, spec, affine))
}

/// DARTS `SepConv`: twice ReLU, depthwise `k`x`k`, pointwise, batch norm;
/// only the first depthwise convolution has the stride (paths `dw1`, `pw1`,
/// `bn1`, `dw2`, `pw2`, `bn2`).
pub fn sep_conv(vs: &nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::SequentialT {
    sep_conv_with(vs, c_in, c_out, k, stride, true)
}

/// [`sep_conv`] with affine or plain batch norms (see [`bn_with`]).
pub fn sep_conv_with(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    stride: i64,
    affine: bool,
) -> nn::SequentialT {
    let pad = k / 2;
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv(
            &vs.sub("dw1"),
            c_in,
            c_in,
            ConvSpec::square(k, stride, pad).depthwise(c_in),
        ))
        .add(conv(&vs.sub("pw1"), c_in, c_in, ConvSpec::default()))
        .add(bn_with(&vs.sub("bn1"), c_in, affine))
        .add_fn(|xs| xs.relu())
        .add(conv(
            &vs.sub("dw2"),
            c_in,
            c_in,
            ConvSpec::square(k, 1, pad).depthwise(c_in),
        ))
        .add(conv(&vs.sub("pw2"), c_in, c_out, ConvSpec::default()))
        .add(bn_with(&vs.sub("bn2"), c_out, affine))
}

/// DARTS `DilConv`: ReLU, depthwise `k`x`k` with dilation 2, pointwise,
/// batch norm (paths `dw`, `pw`, `bn`).
pub fn dil_conv(vs: &nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::SequentialT {
    dil_conv_with(vs, c_in, c_out, k, stride, true)
}

/// [`dil_conv`] with an affine or a plain batch norm (see [`bn_with`]).
pub fn dil_conv_with(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    stride: i64,
    affine: bool,
) -> nn::SequentialT {
    let spec = ConvSpec::square(k, stride, k - 1)
        .depthwise(c_in)
        .dilated(2);
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv(&vs.sub("dw"), c_in, c_in, spec))
        .add(conv(&vs.sub("pw"), c_in, c_out, ConvSpec::default()))
        .add(bn_with(&vs.sub("bn"), c_out, affine))
}

/// ReLU, 1x7 conv, 7x1 conv, batch norm; the stride applies along the
/// axis each convolution spans (paths `conv1x7`, `conv7x1`, `bn`).
pub fn conv_1x7_7x1(vs: &nn::Path, c: i64, stride: i64) -> nn::SequentialT {
    let wide = ConvSpec {
        kernel: [1, 7],
        stride: [1, stride],
        padding: [0, 3],
        ..ConvSpec::default()
    };
    let tall = ConvSpec {
        kernel: [7, 1],
        stride: [stride, 1],
        padding: [3, 0],
        ..ConvSpec::default()
    };
    nn::seq_t()
        .add_fn(|xs| xs.relu())
        .add(conv(&vs.sub("conv1x7"), c, c, wide))
        .add(conv(&vs.sub("conv7x1"), c, c, tall))
        .add(bn(&vs.sub("bn"), c))
}

/// 3x3 average pooling, padding 1, the padding left out of each average
/// (`count_include_pad=False`).
pub fn avg_pool_3x3(stride: i64) -> nn::SequentialT {
    nn::seq_t()
        .add_fn(move |xs| xs.avg_pool2d([3, 3], [stride, stride], [1, 1], false, false, None))
}

/// 3x3 max pooling, padding 1.
pub fn max_pool_3x3(stride: i64) -> nn::SequentialT {
    nn::seq_t().add_fn(move |xs| xs.max_pool2d([3, 3], [stride, stride], [1, 1], [1, 1], false))
}

/// Halves height and width without losing half the pixels: ReLU, then two
/// 1x1 stride-2 convolutions to `c_out / 2` channels each, the second on the
/// input shifted by one pixel, concatenated, then batch norm (paths `conv1`,
/// `conv2`, `bn`).
#[derive(Debug)]
pub struct FactorizedReduce {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    bn: nn::BatchNorm,
}

/// A [`FactorizedReduce`] op; `at` names it in the error when `c_out` is odd.
pub fn factorized_reduce(vs: &nn::Path, c_in: i64, c_out: i64, at: &str) -> Result<Op, ModelError> {
    factorized_reduce_with(vs, c_in, c_out, at, true)
}

/// [`factorized_reduce`] with an affine or a plain batch norm (see
/// [`bn_with`]).
pub fn factorized_reduce_with(
    vs: &nn::Path,
    c_in: i64,
    c_out: i64,
    at: &str,
    affine: bool,
) -> Result<Op, ModelError> {
    if c_out % 2 != 0 {
        return Err(ModelError::OddChannels {
            at: at.to_string(),
            channels: c_out,
        });
    }
    let half = ConvSpec::square(1, 2, 0);
    Ok(Op::Reduce(Box::new(FactorizedReduce {
        conv1: conv(&vs.sub("conv1"), c_in, c_out / 2, half),
        conv2: conv(&vs.sub("conv2"), c_in, c_out / 2, half),
        bn: bn_with(&vs.sub("bn"), c_out, affine),
    })))
}

impl ModuleT for FactorizedReduce {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let xs = xs.relu();
        let shifted = xs
            .narrow(2, 1, xs.size()[2] - 1)
            .narrow(3, 1, xs.size()[3] - 1);
        let ys = Tensor::cat(&[xs.apply(&self.conv1), shifted.apply(&self.conv2)], 1);
        ys.apply_t(&self.bn, train)
    }
}

/// One operation on one edge of a cell.
#[derive(Debug)]
pub enum Op {
    /// The input as it is; drop path never applies to it.
    Identity,
    /// Zeros shaped like the (strided) input.
    Zero {
        /// Stride along height and width.
        stride: i64,
    },
    /// Factorized reduce (identity at stride 2).
    Reduce(Box<FactorizedReduce>),
    /// Any other layer sequence.
    Layers(nn::SequentialT),
}

impl Op {
    /// Is this the identity, which drop path leaves alone?
    pub fn is_identity(&self) -> bool {
        matches!(self, Op::Identity)
    }
}

impl ModuleT for Op {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Op::Identity => xs.shallow_clone(),
            Op::Zero { stride: 1 } => xs.zeros_like(),
            Op::Zero { stride } => xs
                .slice(2, 0, None, *stride)
                .slice(3, 0, None, *stride)
                .zeros_like(),
            Op::Reduce(fr) => fr.forward_t(xs, train),
            Op::Layers(seq) => seq.forward_t(xs, train),
        }
    }
}

/// The drop-path probability a network's cells read at every training step;
/// cloning shares it, so training can raise it epoch by epoch.
#[derive(Debug, Clone, Default)]
pub struct DropPath(Arc<AtomicU64>);

impl DropPath {
    /// The current probability.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Set the probability; the caller has checked it lies in [0, 1).
    pub fn set(&self, p: f64) {
        self.0.store(p.to_bits(), Ordering::Relaxed)
    }

    /// Zero each sample of `xs` with probability p and scale the rest by
    /// 1 / (1 - p), as the DARTS reference's `drop_path`.
    pub fn apply(&self, xs: Tensor) -> Tensor {
        let p = self.get();
        if p <= 0.0 {
            return xs;
        }
        let keep = 1.0 - p;
        let mask =
            Tensor::empty([xs.size()[0], 1, 1, 1], (xs.kind(), xs.device())).bernoulli_p(keep);
        xs / keep * mask
    }
}

/// Check that a reduction may halve a `size`x`size` feature map and return
/// the halved size. Factorized reduce (and the ResNet block's 2x2 average
/// pooling) need an even size so that every branch of the reduction agrees.
pub fn halve(size: i64, input: i64, at: &str) -> Result<i64, ModelError> {
    if size < 2 || size % 2 != 0 {
        return Err(ModelError::InputSize {
            input,
            reason: format!(
                "the feature map at {at} is {size}x{size}; a stride-2 reduction needs an even size of at least 2"
            ),
        });
    }
    Ok(size / 2)
}

/// A cell with two inputs (h[c-2] and h[c-1]), each brought to the cell's
/// channel count, and nodes that each sum two operations on earlier states;
/// the output concatenates chosen states along channels. DARTS and PNAS
/// cells are both of this shape.
#[derive(Debug)]
pub struct TwoInputCell {
    /// Brings h[c-2] to the cell's channels (and size, after a reduction).
    pub pre0: Op,
    /// Brings h[c-1] to the cell's channels.
    pub pre1: Op,
    /// Per node, its two (input state, operation) edges; states 0 and 1 are
    /// the preprocessed inputs, state k + 2 is node k.
    pub nodes: Vec<[(usize, Op); 2]>,
    /// The states concatenated into the output, in order.
    pub concat: Vec<usize>,
    /// Drop path on non-identity edges while training.
    pub drop_path: DropPath,
}

impl TwoInputCell {
    /// The cell's output for inputs h[c-2] = `s0` and h[c-1] = `s1`.
    pub fn forward_t(&self, s0: &Tensor, s1: &Tensor, train: bool) -> Tensor {
        let mut states = vec![
            self.pre0.forward_t(s0, train),
            self.pre1.forward_t(s1, train),
        ];
        for [(in0, op0), (in1, op1)] in &self.nodes {
            let h0 = self.edge(op0, &states[*in0], train);
            let h1 = self.edge(op1, &states[*in1], train);
            states.push(h0 + h1);
        }
        let outs: Vec<&Tensor> = self.concat.iter().map(|&i| &states[i]).collect();
        Tensor::cat(&outs, 1)
    }

    /// One edge: the op, then drop path while training unless it is the
    /// identity (as in the reference, which skips `Identity` ops).
    fn edge(&self, op: &Op, xs: &Tensor, train: bool) -> Tensor {
        let h = op.forward_t(xs, train);
        if train && !op.is_identity() {
            self.drop_path.apply(h)
        } else {
            h
        }
    }
}
