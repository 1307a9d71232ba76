//! The DARTS supernet over NAS-Bench-201 cells, as xautodl's
//! `TinyNetworkDarts` (the benchmark's DARTS baseline): the NAS-Bench-201
//! skeleton (a 3x3 conv stem to C channels, three stages of N cells at C,
//! 2C and 4C channels joined by stride-2 ResNet blocks, batch norm, ReLU,
//! global pooling, a linear classifier) with every cell a search cell: its
//! 6 edges ([`space::nb201::EDGES`] order) each a [`MixedOp`] over the 5
//! NAS-Bench-201 ops with plain batch norms, all cells sharing one α.
//!
//! Paths: `stem.{conv,bn}`; `cells.<k>` for the 3N + 2 cells and blocks in
//! order, a search cell's edges at `cells.<k>.edges.<e>.<op name>`, a
//! block's at `cells.<k>.{conv_a,conv_b,downsample}`; `lastact.bn`;
//! `classifier`.

use super::mixed::MixedOp;
use super::SupernetConfig;
use crate::model::nb201::ResBlock;
use crate::model::ops::{bn, conv_bn, halve, ConvSpec};
use crate::model::{global_pool, ModelError};
use space::nb201::EDGES;
use tch::nn;
use tch::Tensor;

/// A search cell: node j sums the mixed edges from every earlier node i.
#[derive(Debug)]
struct SearchCell {
    /// The 6 mixed edges, in [`EDGES`] order (α's row order).
    edges: Vec<MixedOp>,
}

impl SearchCell {
    fn new(vs: &nn::Path, c: i64) -> Self {
        let edges = (0..EDGES.len())
            .map(|e| MixedOp::nb201(&vs.sub("edges").sub(e as i64), c))
            .collect();
        Self { edges }
    }

    /// `weights`: softmax(α), `[6, 5]`.
    fn forward(&self, xs: &Tensor, weights: &Tensor, train: bool) -> Tensor {
        let mut nodes = vec![xs.shallow_clone()];
        for to in 1..=3 {
            let node = EDGES
                .iter()
                .enumerate()
                .filter(|(_, &(j, _))| j == to)
                .map(|(e, &(_, from))| {
                    self.edges[e].forward(&nodes[from], &weights.get(e as i64), train)
                })
                .reduce(|a, b| a + b)
                .expect("every node has inputs");
            nodes.push(node);
        }
        nodes.pop().expect("the output node")
    }
}

/// A search cell or a reduction block.
#[derive(Debug)]
enum Layer {
    Cell(SearchCell),
    Block(ResBlock),
}

/// The NAS-Bench-201 supernet's layers (α lives in [`super::Supernet`]).
#[derive(Debug)]
pub(super) struct Nb201Supernet {
    stem: nn::SequentialT,
    layers: Vec<Layer>,
    lastact: nn::BatchNorm,
    classifier: nn::Linear,
}

impl Nb201Supernet {
    /// Build with C = `cfg.channels`, N = `cfg.layers` (see the module docs).
    pub(super) fn new(vs: &nn::Path, cfg: &SupernetConfig) -> Result<Self, ModelError> {
        let (c, n) = (cfg.channels, cfg.layers);
        let stem = conv_bn(
            &vs.sub("stem"),
            cfg.in_channels,
            c,
            ConvSpec::square(3, 1, 1),
        );
        let cells = vs.sub("cells");
        let mut layers = Vec::new();
        let (mut c_prev, mut size) = (c, cfg.input_size);
        for stage in 0..3 {
            let c_cur = c << stage;
            if stage > 0 {
                let k = layers.len();
                size = halve(size, cfg.input_size, &format!("residual block cells.{k}"))?;
                layers.push(Layer::Block(ResBlock::new(&cells.sub(k), c_prev, c_cur)));
            }
            for _ in 0..n {
                let k = layers.len();
                layers.push(Layer::Cell(SearchCell::new(&cells.sub(k), c_cur)));
            }
            c_prev = c_cur;
        }
        Ok(Self {
            stem,
            layers,
            lastact: bn(&vs.sub("lastact").sub("bn"), c_prev),
            classifier: nn::linear(
                vs.sub("classifier"),
                c_prev,
                cfg.classes,
                Default::default(),
            ),
        })
    }

    /// Logits; `weights` is `[softmax(α)]`.
    pub(super) fn forward(&self, xs: &Tensor, weights: &[Tensor], train: bool) -> Tensor {
        let mut h = xs.apply_t(&self.stem, train);
        for layer in &self.layers {
            h = match layer {
                Layer::Cell(cell) => cell.forward(&h, &weights[0], train),
                Layer::Block(block) => block.forward(&h, train),
            };
        }
        let h = h.apply_t(&self.lastact, train).relu();
        global_pool(&h).apply(&self.classifier)
    }
}
