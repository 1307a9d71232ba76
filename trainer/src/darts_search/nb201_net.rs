//! The DARTS supernet over NAS-Bench-201 cells (and, in one dimension, over
//! `seq` cells with the `seq` space's ops), as xautodl's
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
use crate::model::nb201::{Dims, Skeleton};
use crate::model::ModelError;
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
    fn new(vs: &nn::Path, c: i64, dims: Dims) -> Self {
        let edges = (0..EDGES.len())
            .map(|e| {
                let path = vs.sub("edges").sub(e as i64);
                match dims {
                    Dims::Two => MixedOp::nb201(&path, c),
                    Dims::One => MixedOp::seq(&path, c),
                }
            })
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

/// The NAS-Bench-201 supernet's layers (α lives in [`super::Supernet`]).
#[derive(Debug)]
pub(super) struct Nb201Supernet(Skeleton<SearchCell>);

impl Nb201Supernet {
    /// Build with C = `cfg.channels`, N = `cfg.layers` (see the module
    /// docs): over images with NAS-Bench-201's ops (`Dims::Two`), or over
    /// sequences with the `seq` space's (`Dims::One`).
    pub(super) fn new(vs: &nn::Path, cfg: &SupernetConfig, dims: Dims) -> Result<Self, ModelError> {
        Skeleton::new(
            vs,
            dims,
            cfg.in_channels,
            (cfg.channels, cfg.layers),
            cfg.input_size,
            cfg.classes,
            |path, c| SearchCell::new(path, c, dims),
        )
        .map(Self)
    }

    /// Logits; `weights` is `[softmax(α)]`.
    pub(super) fn forward(&self, xs: &Tensor, weights: &[Tensor], train: bool) -> Tensor {
        self.0
            .forward(xs, train, |cell, h| cell.forward(h, &weights[0], train))
    }
}
