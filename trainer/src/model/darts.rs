//! DARTS evaluation networks (Liu, Simonyan & Yang 2019), layer for layer
//! the authors' `NetworkCIFAR` and `NetworkImageNet` (`cnn/model.py`,
//! `cnn/operations.py`): a stem, L cells with reduction cells at L/3 and
//! 2L/3 (channels doubling there), an optional auxiliary head after cell
//! 2L/3, global average pooling and a linear classifier.
//!
//! Two deliberate generalisations, both identical to the reference at its
//! input sizes (32 for CIFAR, 224 for ImageNet): the final pooling is
//! adaptive (the ImageNet reference pools with a fixed 7x7 window), and the
//! auxiliary head pools its last feature map to 1x1 before its classifier.
//!
//! Paths: `stem.{conv,bn}` (CIFAR) or `stem0.{conv1,bn1,conv2,bn2}` and
//! `stem1.{conv,bn}` (ImageNet); `cells.<i>.preprocess{0,1}`,
//! `cells.<i>.node<2..5>.edge<0,1>`; `auxiliary_head.{conv1,bn1,conv2,bn2,classifier}`;
//! `classifier`.

use super::ops::{
    avg_pool_3x3, bn, conv, conv_bn, dil_conv, factorized_reduce, halve, max_pool_3x3,
    relu_conv_bn, sep_conv, ConvSpec, DropPath, Op, TwoInputCell,
};
use super::{global_pool, Body, ModelError, NetConfig, Output};
use space::darts::{DartsCell, NODES};
use space::{DartsGenotype, DartsOp};
use tch::nn;
use tch::Tensor;

/// The cells of an L-cell network that reduce: L/3 and 2L/3 (one cell when
/// they coincide).
pub fn reduction_cells(layers: i64) -> Vec<i64> {
    let mut cells = vec![layers / 3, 2 * layers / 3];
    cells.dedup();
    cells
}

/// The cell after which the auxiliary head reads: 2L/3.
pub fn auxiliary_cell(layers: i64) -> i64 {
    2 * layers / 3
}

/// The stem: one conv for CIFAR, two stride-8 stages for ImageNet.
#[derive(Debug)]
enum Stem {
    Cifar(nn::SequentialT),
    ImageNet {
        stem0: nn::SequentialT,
        stem1: nn::SequentialT,
    },
}

/// The auxiliary head: features, then a linear classifier.
#[derive(Debug)]
struct AuxHead {
    features: nn::SequentialT,
    classifier: nn::Linear,
}

impl AuxHead {
    /// `AuxiliaryHeadCIFAR` (pool stride 3, batch norm after the 768-channel
    /// conv) or `AuxiliaryHeadImageNet` (pool stride 2, that batch norm
    /// left out as in the reference).
    fn new(vs: &nn::Path, c: i64, classes: i64, imagenet: bool) -> Self {
        let stride = if imagenet { 2 } else { 3 };
        let mut features = nn::seq_t()
            .add_fn(|xs| xs.relu())
            .add_fn(move |xs| xs.avg_pool2d([5, 5], [stride, stride], [0, 0], false, false, None))
            .add(conv(&vs.sub("conv1"), c, 128, ConvSpec::default()))
            .add(bn(&vs.sub("bn1"), 128))
            .add_fn(|xs| xs.relu())
            .add(conv(&vs.sub("conv2"), 128, 768, ConvSpec::square(2, 1, 0)));
        if !imagenet {
            features = features.add(bn(&vs.sub("bn2"), 768));
        }
        Self {
            features: features.add_fn(|xs| xs.relu()),
            classifier: nn::linear(vs.sub("classifier"), 768, classes, Default::default()),
        }
    }

    /// The smallest feature map the head accepts: the pooled map must be at
    /// least 2x2 for the 2x2 convolution.
    fn min_size(imagenet: bool) -> i64 {
        if imagenet {
            7
        } else {
            8
        }
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        global_pool(&xs.apply_t(&self.features, train)).apply(&self.classifier)
    }
}

/// A DARTS network.
#[derive(Debug)]
pub(super) struct DartsNet {
    stem: Stem,
    cells: Vec<TwoInputCell>,
    /// The head and the index of the cell it reads.
    auxiliary: Option<(usize, AuxHead)>,
    classifier: nn::Linear,
}

/// While building: the channels of h[c-2] and h[c-1], the size of h[c-1],
/// and whether h[c-1] came from a reduction cell.
struct Walk {
    c_pp: i64,
    c_p: i64,
    size_p: i64,
    reduction_prev: bool,
}

impl DartsNet {
    /// Build the network of `g` (see the module docs).
    pub(super) fn new(
        vs: &nn::Path,
        g: &DartsGenotype,
        cfg: &NetConfig,
        drop_path: &DropPath,
    ) -> Result<Self, ModelError> {
        let (c, input) = (cfg.channels, cfg.input_size);
        let (stem, mut walk) = if cfg.imagenet {
            imagenet_stem(vs, cfg)?
        } else {
            let stem = conv_bn(
                &vs.sub("stem"),
                cfg.in_channels,
                3 * c,
                ConvSpec::square(3, 1, 1),
            );
            let walk = Walk {
                c_pp: 3 * c,
                c_p: 3 * c,
                size_p: input,
                reduction_prev: false,
            };
            (Stem::Cifar(stem), walk)
        };
        let reductions = reduction_cells(cfg.layers);
        let mut c_cur = c;
        let mut cells = Vec::new();
        let mut aux_at = None;
        for i in 0..cfg.layers {
            let reduction = reductions.contains(&i);
            let size = if reduction {
                c_cur *= 2;
                halve(walk.size_p, input, &format!("reduction cell {i}"))?
            } else {
                walk.size_p
            };
            let genes = if reduction { &g.reduce } else { &g.normal };
            let path = vs.sub("cells").sub(i);
            cells.push(cell(&path, genes, &walk, c_cur, reduction, drop_path, i)?);
            walk = Walk {
                c_pp: walk.c_p,
                c_p: NODES as i64 * c_cur,
                size_p: size,
                reduction_prev: reduction,
            };
            if i == auxiliary_cell(cfg.layers) {
                aux_at = Some((i as usize, walk.c_p, size));
            }
        }
        let auxiliary = match aux_at {
            Some((i, c_aux, size)) if cfg.auxiliary => {
                let min = AuxHead::min_size(cfg.imagenet);
                if size < min {
                    return Err(ModelError::InputSize {
                        input,
                        reason: format!(
                            "the auxiliary head after cell {i} gets a {size}x{size} feature map; it needs at least {min}x{min}"
                        ),
                    });
                }
                let head =
                    AuxHead::new(&vs.sub("auxiliary_head"), c_aux, cfg.classes, cfg.imagenet);
                Some((i, head))
            }
            _ => None,
        };
        let classifier = nn::linear(
            vs.sub("classifier"),
            walk.c_p,
            cfg.classes,
            Default::default(),
        );
        Ok(Self {
            stem,
            cells,
            auxiliary,
            classifier,
        })
    }
}

/// `stem0` (two stride-2 convs to C/2 then C) and `stem1` (one more), as
/// `NetworkImageNet`; the first cell factorized-reduces stem0's output, so
/// that must have an even size.
fn imagenet_stem(vs: &nn::Path, cfg: &NetConfig) -> Result<(Stem, Walk), ModelError> {
    let c = cfg.channels;
    let s2 = ConvSpec::square(3, 2, 1);
    let p0 = vs.sub("stem0");
    let stem0 = nn::seq_t()
        .add(conv(&p0.sub("conv1"), cfg.in_channels, c / 2, s2))
        .add(bn(&p0.sub("bn1"), c / 2))
        .add_fn(|xs| xs.relu())
        .add(conv(&p0.sub("conv2"), c / 2, c, s2))
        .add(bn(&p0.sub("bn2"), c));
    let stem1 = relu_conv_bn(&vs.sub("stem1"), c, c, s2);
    let size0 = s2.out_size(s2.out_size(cfg.input_size, 0), 0);
    let size1 = halve(size0, cfg.input_size, "stem1")?;
    let walk = Walk {
        c_pp: c,
        c_p: c,
        size_p: size1,
        reduction_prev: true,
    };
    Ok((Stem::ImageNet { stem0, stem1 }, walk))
}

/// One cell, as the reference `Cell`: preprocess both inputs to `c`
/// channels (factorized reduce for h[c-2] after a reduction), then the
/// genotype's edges, stride 2 on the cell inputs in a reduction cell.
fn cell(
    path: &nn::Path,
    genes: &DartsCell,
    walk: &Walk,
    c: i64,
    reduction: bool,
    drop_path: &DropPath,
    i: i64,
) -> Result<TwoInputCell, ModelError> {
    let pre0 = if walk.reduction_prev {
        let at = format!("cells.{i}.preprocess0");
        factorized_reduce(&path.sub("preprocess0"), walk.c_pp, c, &at)?
    } else {
        Op::Layers(relu_conv_bn(
            &path.sub("preprocess0"),
            walk.c_pp,
            c,
            ConvSpec::default(),
        ))
    };
    let pre1 = Op::Layers(relu_conv_bn(
        &path.sub("preprocess1"),
        walk.c_p,
        c,
        ConvSpec::default(),
    ));
    let mut nodes = Vec::with_capacity(NODES);
    for n in 0..NODES {
        let state = n + 2;
        let [(op0, in0), (op1, in1)] = genes.node(n);
        let edge = |k: usize, op: DartsOp, input: usize| {
            let stride = if reduction && input < 2 { 2 } else { 1 };
            let at = format!("cells.{i}.node{state}.edge{k}");
            let vs = path.sub(format!("node{state}")).sub(format!("edge{k}"));
            darts_op(&vs, op, c, stride, &at).map(|op| (input, op))
        };
        nodes.push([edge(0, op0, in0)?, edge(1, op1, in1)?]);
    }
    Ok(TwoInputCell {
        pre0,
        pre1,
        nodes,
        concat: space::darts::CONCAT.to_vec(),
        drop_path: drop_path.clone(),
    })
}

/// One DARTS primitive at `c` channels, as the reference `OPS` table.
pub fn darts_op(
    vs: &nn::Path,
    op: DartsOp,
    c: i64,
    stride: i64,
    at: &str,
) -> Result<Op, ModelError> {
    Ok(match op {
        DartsOp::None => Op::Zero { stride },
        DartsOp::AvgPool3x3 => Op::Layers(avg_pool_3x3(stride)),
        DartsOp::MaxPool3x3 => Op::Layers(max_pool_3x3(stride)),
        DartsOp::SkipConnect if stride == 1 => Op::Identity,
        DartsOp::SkipConnect => factorized_reduce(vs, c, c, at)?,
        DartsOp::SepConv3x3 => Op::Layers(sep_conv(vs, c, c, 3, stride)),
        DartsOp::SepConv5x5 => Op::Layers(sep_conv(vs, c, c, 5, stride)),
        DartsOp::DilConv3x3 => Op::Layers(dil_conv(vs, c, c, 3, stride)),
        DartsOp::DilConv5x5 => Op::Layers(dil_conv(vs, c, c, 5, stride)),
    })
}

impl Body for DartsNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Output {
        let (mut s0, mut s1) = match &self.stem {
            Stem::Cifar(stem) => {
                let s = xs.apply_t(stem, train);
                (s.shallow_clone(), s)
            }
            Stem::ImageNet { stem0, stem1 } => {
                let s0 = xs.apply_t(stem0, train);
                let s1 = s0.apply_t(stem1, train);
                (s0, s1)
            }
        };
        let mut aux_logits = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let s2 = cell.forward_t(&s0, &s1, train);
            (s0, s1) = (s1, s2);
            match &self.auxiliary {
                Some((at, head)) if *at == i && train => {
                    aux_logits = Some(head.forward(&s1, train))
                }
                _ => {}
            }
        }
        let logits = global_pool(&s1).apply(&self.classifier);
        Output { logits, aux_logits }
    }
}
