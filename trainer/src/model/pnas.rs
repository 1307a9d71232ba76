//! PNAS networks (Liu et al. 2018), stacked NASNet-style from one cell: a
//! 3x3 conv stem to 3F channels, then three stages of N normal cells at F,
//! 2F and 4F filters with a reduction cell (the same cell at stride 2,
//! filters doubled) between stages, then ReLU, global average pooling and a
//! linear classifier.
//!
//! A cell brings h[c-1] and h[c-2] to its F filters by ReLU-Conv1x1-BN, or
//! h[c-2] by factorized reduce when it is twice the size of h[c-1] (after a
//! reduction). Each block adds its two ops; in a reduction cell ops reading
//! the cell inputs have stride 2, and identity there is a factorized reduce.
//! The output concatenates the blocks no other block reads. Every op runs at
//! F channels in and out, since both inputs are brought to F first, so the
//! pooling ops never need the 1x1 projection NASNet adds where channels
//! differ. Drop path acts on non-identity ops while training, as in DARTS.
//!
//! Paths: `stem.{conv,bn}`; `cells.<k>` for the 3N + 2 cells in order, with
//! `preprocess{0,1}` and `block<b>.op<1,2>` (b from 1); `classifier`.

use super::ops::{
    avg_pool_3x3, conv_1x7_7x1, conv_bn, dil_conv, factorized_reduce, halve, max_pool_3x3,
    relu_conv_bn, sep_conv, ConvSpec, DropPath, Op, TwoInputCell,
};
use super::{global_pool, Body, ModelError, NetConfig, Output};
use space::{PnasCell, PnasOp};
use tch::nn;
use tch::Tensor;

/// The states (2 = block 1, ...) that no block reads, concatenated into a
/// cell's output.
pub fn unused_blocks(cell: &PnasCell) -> Vec<usize> {
    let blocks = cell.blocks();
    (2..blocks.len() + 2)
        .filter(|&s| !blocks.iter().any(|b| b.in1 == s || b.in2 == s))
        .collect()
}

/// A PNAS network.
#[derive(Debug)]
pub(super) struct PnasNet {
    stem: nn::SequentialT,
    cells: Vec<TwoInputCell>,
    classifier: nn::Linear,
}

impl PnasNet {
    /// Build the network of `cell` with F = `cfg.channels`, N = `cfg.layers`.
    pub(super) fn new(
        vs: &nn::Path,
        cell: &PnasCell,
        cfg: &NetConfig,
        drop_path: &DropPath,
    ) -> Result<Self, ModelError> {
        let (f, input) = (cfg.channels, cfg.input_size);
        let stem = conv_bn(
            &vs.sub("stem"),
            cfg.in_channels,
            3 * f,
            ConvSpec::square(3, 1, 1),
        );
        let concat = unused_blocks(cell);
        let (mut c_pp, mut c_p, mut size_p) = (3 * f, 3 * f, input);
        let mut reduction_prev = false;
        let mut cells = Vec::new();
        for stage in 0..3 {
            let f_cur = f << stage;
            let reductions = usize::from(stage > 0);
            for r in 0..reductions + cfg.layers as usize {
                let reduction = r < reductions;
                let k = cells.len();
                let size = if reduction {
                    halve(size_p, input, &format!("reduction cell cells.{k}"))?
                } else {
                    size_p
                };
                let spec = CellSpec {
                    path: vs.sub("cells").sub(k),
                    c_pp,
                    c_p,
                    f: f_cur,
                    reduction,
                    reduction_prev,
                };
                cells.push(spec.build(cell, &concat, drop_path)?);
                (c_pp, c_p, size_p) = (c_p, concat.len() as i64 * f_cur, size);
                reduction_prev = reduction;
            }
        }
        let classifier = nn::linear(vs.sub("classifier"), c_p, cfg.classes, Default::default());
        Ok(Self {
            stem,
            cells,
            classifier,
        })
    }
}

/// Where one cell sits: its path, input channels and filters.
struct CellSpec<'a> {
    path: nn::Path<'a>,
    c_pp: i64,
    c_p: i64,
    f: i64,
    reduction: bool,
    reduction_prev: bool,
}

impl CellSpec<'_> {
    fn build(
        &self,
        cell: &PnasCell,
        concat: &[usize],
        drop_path: &DropPath,
    ) -> Result<TwoInputCell, ModelError> {
        let (path, f) = (&self.path, self.f);
        let at =
            |what: String| format!("{}.{what}", path.components().collect::<Vec<_>>().join("."));
        let pre0 = if self.reduction_prev {
            let vs = path.sub("preprocess0");
            factorized_reduce(&vs, self.c_pp, f, &at("preprocess0".into()))?
        } else {
            Op::Layers(relu_conv_bn(
                &path.sub("preprocess0"),
                self.c_pp,
                f,
                ConvSpec::default(),
            ))
        };
        let pre1 = Op::Layers(relu_conv_bn(
            &path.sub("preprocess1"),
            self.c_p,
            f,
            ConvSpec::default(),
        ));
        let mut nodes = Vec::with_capacity(cell.len());
        for (b, block) in cell.blocks().iter().enumerate() {
            let edge = |k: usize, input: usize, op: PnasOp| {
                let stride = if self.reduction && input < 2 { 2 } else { 1 };
                let name = format!("block{}", b + 1);
                let vs = path.sub(&name).sub(format!("op{k}"));
                pnas_op(&vs, op, f, stride, &at(format!("{name}.op{k}"))).map(|op| (input, op))
            };
            nodes.push([
                edge(1, block.in1, block.op1)?,
                edge(2, block.in2, block.op2)?,
            ]);
        }
        Ok(TwoInputCell {
            pre0,
            pre1,
            nodes,
            concat: concat.to_vec(),
            drop_path: drop_path.clone(),
        })
    }
}

/// One PNAS op at `f` channels in and out.
fn pnas_op(vs: &nn::Path, op: PnasOp, f: i64, stride: i64, at: &str) -> Result<Op, ModelError> {
    Ok(match op {
        PnasOp::Sep3x3 => Op::Layers(sep_conv(vs, f, f, 3, stride)),
        PnasOp::Sep5x5 => Op::Layers(sep_conv(vs, f, f, 5, stride)),
        PnasOp::Sep7x7 => Op::Layers(sep_conv(vs, f, f, 7, stride)),
        PnasOp::Conv1x7_7x1 => Op::Layers(conv_1x7_7x1(vs, f, stride)),
        PnasOp::Identity if stride == 1 => Op::Identity,
        PnasOp::Identity => factorized_reduce(vs, f, f, at)?,
        PnasOp::AvgPool3x3 => Op::Layers(avg_pool_3x3(stride)),
        PnasOp::MaxPool3x3 => Op::Layers(max_pool_3x3(stride)),
        PnasOp::DilConv3x3 => Op::Layers(dil_conv(vs, f, f, 3, stride)),
    })
}

impl Body for PnasNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Output {
        let s = xs.apply_t(&self.stem, train);
        let (mut s0, mut s1) = (s.shallow_clone(), s);
        for cell in &self.cells {
            let s2 = cell.forward_t(&s0, &s1, train);
            (s0, s1) = (s1, s2);
        }
        Output {
            logits: global_pool(&s1.relu()).apply(&self.classifier),
            aux_logits: None,
        }
    }
}
