//! The DARTS supernet, layer for layer the authors' `Network` in
//! `cnn/model_search.py`: a stem (3x3 conv to 3C channels, batch norm),
//! L search cells with reduction cells at L/3 and 2L/3 (channels doubling
//! there), global average pooling and a linear classifier.
//!
//! A search cell preprocesses h[c-2] (factorized reduce after a reduction
//! cell, else ReLU-Conv1x1-BN) and h[c-1] (ReLU-Conv1x1-BN), then computes
//! 4 nodes, each the sum of a [`MixedOp`] on every earlier state: 14 edges,
//! numbered node by node and, within a node, by input state (edge 0 is
//! 0→2, edge 1 is 1→2, edge 2 is 0→3, ...). Edges from the cell inputs have
//! stride 2 in a reduction cell. Every batch norm inside a cell is plain
//! (`affine=False`). The output concatenates the 4 nodes.
//!
//! Paths: `stem.{conv,bn}`; `cells.<i>.preprocess{0,1}`;
//! `cells.<i>.edges.<e>.<op name>`; `classifier`.

use super::mixed::MixedOp;
use super::SupernetConfig;
use crate::model::darts::reduction_cells;
use crate::model::ops::{conv_bn, factorized_reduce_with, halve, relu_conv_bn_with, ConvSpec, Op};
use crate::model::{global_pool, ModelError};
use space::darts::{CELL_INPUTS, NODES};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Edges of a DARTS search cell: node k (0-based) has k + 2 inputs.
pub const DARTS_EDGES: usize = 14;

/// The (input state, node state) of each edge, in α's row order.
pub fn darts_edges() -> Vec<(usize, usize)> {
    (0..NODES)
        .flat_map(|n| (0..n + CELL_INPUTS).map(move |j| (j, n + CELL_INPUTS)))
        .collect()
}

/// One search cell.
#[derive(Debug)]
struct SearchCell {
    pre0: Op,
    pre1: Op,
    /// The 14 mixed edges in α's row order.
    edges: Vec<MixedOp>,
    /// Which α it reads: the reduction one or the normal one.
    reduction: bool,
}

impl SearchCell {
    /// `weights`: softmax(α) of this cell's type, `[14, ops]`.
    fn forward(&self, s0: &Tensor, s1: &Tensor, weights: &Tensor, train: bool) -> Tensor {
        let mut states = vec![
            self.pre0.forward_t(s0, train),
            self.pre1.forward_t(s1, train),
        ];
        let mut e = 0;
        for _ in 0..NODES {
            let node = states
                .iter()
                .map(|h| {
                    let y = self.edges[e].forward(h, &weights.get(e as i64), train);
                    e += 1;
                    y
                })
                .reduce(|a, b| a + b)
                .expect("a node has inputs");
            states.push(node);
        }
        Tensor::cat(&states[CELL_INPUTS..], 1)
    }
}

/// The DARTS supernet's layers (α lives in [`super::Supernet`]).
#[derive(Debug)]
pub(super) struct DartsSupernet {
    stem: nn::SequentialT,
    cells: Vec<SearchCell>,
    classifier: nn::Linear,
}

impl DartsSupernet {
    /// Build under `vs` (see the module docs).
    pub(super) fn new(vs: &nn::Path, cfg: &SupernetConfig) -> Result<Self, ModelError> {
        let c = cfg.channels;
        let stem = conv_bn(
            &vs.sub("stem"),
            cfg.in_channels,
            3 * c,
            ConvSpec::square(3, 1, 1),
        );
        let (mut c_pp, mut c_p, mut c_cur) = (3 * c, 3 * c, c);
        let (mut size, mut reduction_prev) = (cfg.input_size, false);
        let mut cells = Vec::new();
        let reductions = reduction_cells(cfg.layers);
        for i in 0..cfg.layers {
            let reduction = reductions.contains(&i);
            if reduction {
                c_cur *= 2;
                size = halve(size, cfg.input_size, &format!("reduction cell {i}"))?;
            }
            let path = vs.sub("cells").sub(i);
            let pre0 = if reduction_prev {
                let at = format!("cells.{i}.preprocess0");
                factorized_reduce_with(&path.sub("preprocess0"), c_pp, c_cur, &at, false)?
            } else {
                Op::Layers(relu_conv_bn_with(
                    &path.sub("preprocess0"),
                    c_pp,
                    c_cur,
                    ConvSpec::default(),
                    false,
                ))
            };
            let pre1 = Op::Layers(relu_conv_bn_with(
                &path.sub("preprocess1"),
                c_p,
                c_cur,
                ConvSpec::default(),
                false,
            ));
            let mut edges = Vec::with_capacity(DARTS_EDGES);
            for (e, (input, node)) in darts_edges().into_iter().enumerate() {
                let stride = if reduction && input < CELL_INPUTS {
                    2
                } else {
                    1
                };
                let at = format!("cells.{i}.edges.{e} ({input}->{node})");
                edges.push(MixedOp::darts(
                    &path.sub("edges").sub(e as i64),
                    c_cur,
                    stride,
                    &at,
                )?);
            }
            cells.push(SearchCell {
                pre0,
                pre1,
                edges,
                reduction,
            });
            (c_pp, c_p, reduction_prev) = (c_p, NODES as i64 * c_cur, reduction);
        }
        let classifier = nn::linear(vs.sub("classifier"), c_p, cfg.classes, Default::default());
        Ok(Self {
            stem,
            cells,
            classifier,
        })
    }

    /// Logits; `weights` is `[softmax(α_normal), softmax(α_reduce)]`.
    pub(super) fn forward(&self, xs: &Tensor, weights: &[Tensor], train: bool) -> Tensor {
        let s = xs.apply_t(&self.stem, train);
        let (mut s0, mut s1) = (s.shallow_clone(), s);
        for cell in &self.cells {
            let w = &weights[usize::from(cell.reduction)];
            let s2 = cell.forward(&s0, &s1, w, train);
            (s0, s1) = (s1, s2);
        }
        global_pool(&s1).apply(&self.classifier)
    }
}
