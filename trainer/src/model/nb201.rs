//! The NAS-Bench-201 network (Dong & Yang 2020), as xautodl's `TinyNetwork`
//! with `InferCell`s: a 3x3 conv stem to C channels, three stages of N cells
//! at C, 2C and 4C channels joined by stride-2 ResNet basic blocks, then
//! batch norm, ReLU, global average pooling and a linear classifier. The
//! same skeleton in one dimension carries the `seq` space's cells over
//! sequences ([`Dims::One`]: kernels of 3 along the length, lengths halved
//! rounding up).
//!
//! Paths: `stem.{conv,bn}`; `cells.<k>` for the 3N + 2 cells and blocks in
//! order, a cell's edges at `cells.<k>.node<j>.from<i>`, a block's layers at
//! `cells.<k>.{conv_a,conv_b,downsample}`; `lastact.bn`; `classifier`.

use super::ops::{avg_pool_3x3, bn, conv, conv_bn, halve, relu_conv_bn, ConvSpec, Op};
use super::ops1d::{bn1d, conv1d, conv_bn1d, global_pool1d, relu_conv_bn1d, seq_op};
use super::{global_pool, Body, ModelError, NetConfig, Output};
use space::cell::{Cell, CellOp};
use space::{Nb201Cell, Nb201Op, SeqCell};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Whether a skeleton runs over images (2-d) or sequences (1-d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dims {
    /// Images `[batch, channels, height, width]`.
    Two,
    /// Sequences `[batch, channels, length]`.
    One,
}

/// Nodes of a cell after the input node 0; node 3 is the output.
const NODES: usize = 3;

/// A cell: node j sums one op on every earlier node i.
#[derive(Debug)]
struct InferCell {
    /// For node j = 1..=3, its edges (from node i, op).
    nodes: Vec<Vec<(usize, Op)>>,
}

impl InferCell {
    /// The cell at `c` channels, each op built by `make_op(path, op, c)`.
    fn new<O: CellOp>(
        vs: &nn::Path,
        cell: &Cell<O>,
        c: i64,
        make_op: impl Fn(&nn::Path, O, i64) -> Op,
    ) -> Self {
        let nodes = (1..=NODES)
            .map(|j| {
                (0..j)
                    .map(|i| {
                        let op = cell.op(j, i).expect("every i < j is an edge");
                        let path = vs.sub(format!("node{j}")).sub(format!("from{i}"));
                        (i, make_op(&path, op, c))
                    })
                    .collect()
            })
            .collect();
        Self { nodes }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut states = vec![xs.shallow_clone()];
        for edges in &self.nodes {
            let sum = edges
                .iter()
                .map(|(i, op)| op.forward_t(&states[*i], train))
                .reduce(|a, b| a + b)
                .expect("a node has at least one edge");
            states.push(sum);
        }
        states.pop().expect("the output node")
    }
}

/// One NAS-Bench-201 op at `c` channels and stride 1 (the only stride a
/// cell uses): ReLU-Conv-BN for the convolutions.
fn nb201_op(vs: &nn::Path, op: Nb201Op, c: i64) -> Op {
    match op {
        Nb201Op::None => Op::Zero { stride: 1 },
        Nb201Op::SkipConnect => Op::Identity,
        Nb201Op::NorConv1x1 => Op::Layers(relu_conv_bn(vs, c, c, ConvSpec::default())),
        Nb201Op::NorConv3x3 => Op::Layers(relu_conv_bn(vs, c, c, ConvSpec::square(3, 1, 1))),
        Nb201Op::AvgPool3x3 => Op::Layers(avg_pool_3x3(1)),
    }
}

/// `ResNetBasicblock` at stride 2: ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN,
/// plus a shortcut of 2x2 average pooling and a 1x1 conv. The DARTS
/// supernet over NAS-Bench-201 cells reduces with it too. In one dimension
/// the pooling rounds the length up, as the stride-2 convolution does.
#[derive(Debug)]
pub(crate) struct ResBlock {
    conv_a: nn::SequentialT,
    conv_b: nn::SequentialT,
    downsample: nn::SequentialT,
}

impl ResBlock {
    /// The block from `c_in` to `c_out` channels (paths `conv_a`, `conv_b`,
    /// `downsample.conv`).
    pub(crate) fn new(vs: &nn::Path, c_in: i64, c_out: i64, dims: Dims) -> Self {
        let down = vs.sub("downsample").sub("conv");
        match dims {
            Dims::Two => Self {
                conv_a: relu_conv_bn(&vs.sub("conv_a"), c_in, c_out, ConvSpec::square(3, 2, 1)),
                conv_b: relu_conv_bn(&vs.sub("conv_b"), c_out, c_out, ConvSpec::square(3, 1, 1)),
                downsample: nn::seq_t()
                    .add_fn(|xs| xs.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None))
                    .add(conv(&down, c_in, c_out, ConvSpec::default())),
            },
            Dims::One => Self {
                conv_a: relu_conv_bn1d(&vs.sub("conv_a"), c_in, c_out, (3, 2, 1), true),
                conv_b: relu_conv_bn1d(&vs.sub("conv_b"), c_out, c_out, (3, 1, 1), true),
                downsample: nn::seq_t()
                    .add_fn(|xs| xs.avg_pool1d([2], [2], [0], true, false))
                    .add(conv1d(&down, c_in, c_out, (1, 1, 1), 1)),
            },
        }
    }

    /// The block's output: half the height and width, `c_out` channels.
    pub(crate) fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply_t(&self.downsample, train)
            + xs.apply_t(&self.conv_a, train).apply_t(&self.conv_b, train)
    }
}

/// A cell or a reduction block.
#[derive(Debug)]
enum Layer<C> {
    Cell(C),
    Block(ResBlock),
}

/// The NAS-Bench-201 skeleton around cells of any kind (the network's
/// `InferCell`s, the DARTS supernet's search cells): a 3x3 conv stem to C
/// channels, three stages of N cells at C, 2C and 4C channels joined by
/// stride-2 [`ResBlock`]s, batch norm, ReLU, global pooling, a linear
/// classifier. Paths as in the module docs.
#[derive(Debug)]
pub(crate) struct Skeleton<C> {
    dims: Dims,
    stem: nn::SequentialT,
    layers: Vec<Layer<C>>,
    lastact: nn::BatchNorm,
    classifier: nn::Linear,
}

impl<C> Skeleton<C> {
    /// Build with C = `channels`, N = `layers`, each cell made by
    /// `make_cell(path, its channels)`; `input_size` is the image's height
    /// and width, or the sequence's length.
    pub(crate) fn new(
        vs: &nn::Path,
        dims: Dims,
        in_channels: i64,
        (channels, layers): (i64, i64),
        input_size: i64,
        classes: i64,
        mut make_cell: impl FnMut(&nn::Path, i64) -> C,
    ) -> Result<Self, ModelError> {
        let stem = match dims {
            Dims::Two => conv_bn(
                &vs.sub("stem"),
                in_channels,
                channels,
                ConvSpec::square(3, 1, 1),
            ),
            Dims::One => conv_bn1d(&vs.sub("stem"), in_channels, channels, (3, 1, 1), true),
        };
        let cells = vs.sub("cells");
        let mut all = Vec::new();
        let (mut c_prev, mut size) = (channels, input_size);
        for stage in 0..3 {
            let c_cur = channels << stage;
            if stage > 0 {
                let k = all.len();
                let at = format!("residual block cells.{k}");
                size = match dims {
                    Dims::Two => halve(size, input_size, &at)?,
                    Dims::One if size >= 2 => (size + 1) / 2,
                    Dims::One => {
                        return Err(ModelError::InputSize {
                            input: input_size,
                            reason: format!("the sequence at {at} has length {size}; a stride-2 reduction needs at least 2"),
                        })
                    }
                };
                all.push(Layer::Block(ResBlock::new(
                    &cells.sub(k),
                    c_prev,
                    c_cur,
                    dims,
                )));
            }
            for _ in 0..layers {
                let k = all.len();
                all.push(Layer::Cell(make_cell(&cells.sub(k), c_cur)));
            }
            c_prev = c_cur;
        }
        let lastact = match dims {
            Dims::Two => bn(&vs.sub("lastact").sub("bn"), c_prev),
            Dims::One => bn1d(&vs.sub("lastact").sub("bn"), c_prev, true),
        };
        Ok(Self {
            dims,
            stem,
            layers: all,
            lastact,
            classifier: nn::linear(vs.sub("classifier"), c_prev, classes, Default::default()),
        })
    }

    /// Logits, each cell run by `cell(cell, input)`.
    pub(crate) fn forward(
        &self,
        xs: &Tensor,
        train: bool,
        cell: impl Fn(&C, &Tensor) -> Tensor,
    ) -> Tensor {
        let mut h = xs.apply_t(&self.stem, train);
        for layer in &self.layers {
            h = match layer {
                Layer::Cell(c) => cell(c, &h),
                Layer::Block(block) => block.forward(&h, train),
            };
        }
        let h = h.apply_t(&self.lastact, train).relu();
        let pooled = match self.dims {
            Dims::Two => global_pool(&h),
            Dims::One => global_pool1d(&h),
        };
        pooled.apply(&self.classifier)
    }
}

/// The NAS-Bench-201 network of one cell.
#[derive(Debug)]
pub(super) struct TinyNetwork(Skeleton<InferCell>);

impl TinyNetwork {
    /// Build the network of `cell` with C = `cfg.channels`, N = `cfg.layers`.
    pub(super) fn new(
        vs: &nn::Path,
        cell: &Nb201Cell,
        cfg: &NetConfig,
    ) -> Result<Self, ModelError> {
        Skeleton::new(
            vs,
            Dims::Two,
            cfg.in_channels,
            (cfg.channels, cfg.layers),
            cfg.input_size,
            cfg.classes,
            |path, c| InferCell::new(path, cell, c, nb201_op),
        )
        .map(Self)
    }

    /// Build the network of a `seq` cell over sequences of `cfg.input_size`
    /// steps and `cfg.in_channels` channels, with C = `cfg.channels`,
    /// N = `cfg.layers`.
    pub(super) fn seq(vs: &nn::Path, cell: &SeqCell, cfg: &NetConfig) -> Result<Self, ModelError> {
        Skeleton::new(
            vs,
            Dims::One,
            cfg.in_channels,
            (cfg.channels, cfg.layers),
            cfg.input_size,
            cfg.classes,
            |path, c| InferCell::new(path, cell, c, |p, op, c| seq_op(p, op, c, true)),
        )
        .map(Self)
    }
}

impl Body for TinyNetwork {
    fn forward(&self, xs: &Tensor, train: bool) -> Output {
        Output {
            logits: self.0.forward(xs, train, |cell, h| cell.forward(h, train)),
            aux_logits: None,
        }
    }
}
