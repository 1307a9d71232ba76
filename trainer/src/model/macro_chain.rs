//! NAS-RL macro networks (Zoph & Le 2017): layer i is a stride-1 HxW
//! convolution with "same" padding, batch norm and ReLU, applied to the
//! depth concatenation of its anchors' outputs (the image when it has none).
//! Inputs of different sizes are zero-padded to the largest; at stride 1 all
//! sizes agree, but the rule is kept so that the chain stays valid if
//! strides are added. The outputs no later layer reads are concatenated,
//! pooled globally and classified by a linear layer.
//!
//! Paths: `layers.<i>.{conv,bn}`; `classifier`.

use super::ops::{bn, conv, ConvSpec};
use super::{global_pool, Body, ModelError, NetConfig, Output};
use space::MacroGenotype;
use tch::nn;
use tch::Tensor;

/// One layer: what it reads and its conv-BN.
#[derive(Debug)]
struct Layer {
    /// Earlier layers concatenated into the input; empty for the image.
    anchors: Vec<usize>,
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

/// A macro network.
#[derive(Debug)]
pub(super) struct MacroNet {
    layers: Vec<Layer>,
    /// The layers no later layer reads, concatenated for the classifier.
    outputs: Vec<usize>,
    classifier: nn::Linear,
}

/// The layers of `g` that no later layer reads, in order.
pub fn unread_layers(g: &MacroGenotype) -> Vec<usize> {
    let layers = g.layers();
    (0..layers.len())
        .filter(|&i| !layers.iter().any(|l| l.anchors.contains(&i)))
        .collect()
}

impl MacroNet {
    /// Build the network of `g`; `cfg.channels` and `cfg.layers` are unused.
    pub(super) fn new(
        vs: &nn::Path,
        g: &MacroGenotype,
        cfg: &NetConfig,
    ) -> Result<Self, ModelError> {
        let mut out_channels: Vec<i64> = Vec::with_capacity(g.layers().len());
        let mut layers = Vec::with_capacity(g.layers().len());
        for (i, layer) in g.layers().iter().enumerate() {
            let c_in = if layer.anchors.is_empty() {
                cfg.in_channels
            } else {
                layer.anchors.iter().map(|&a| out_channels[a]).sum()
            };
            let (h, w, f) = (
                layer.height as i64,
                layer.width as i64,
                layer.filters as i64,
            );
            let spec = ConvSpec {
                kernel: [h, w],
                padding: [h / 2, w / 2],
                ..ConvSpec::default()
            };
            let path = vs.sub("layers").sub(i);
            layers.push(Layer {
                anchors: layer.anchors.clone(),
                conv: conv(&path.sub("conv"), c_in, f, spec),
                bn: bn(&path.sub("bn"), f),
            });
            out_channels.push(f);
        }
        let outputs = unread_layers(g);
        let c_out = outputs.iter().map(|&i| out_channels[i]).sum();
        let classifier = nn::linear(vs.sub("classifier"), c_out, cfg.classes, Default::default());
        Ok(Self {
            layers,
            outputs,
            classifier,
        })
    }
}

/// Concatenate feature maps along depth, zero-padding each (bottom and
/// right) to the largest height and width among them.
fn concat_padded(maps: &[&Tensor]) -> Tensor {
    let h = maps.iter().map(|t| t.size()[2]).max().unwrap_or(0);
    let w = maps.iter().map(|t| t.size()[3]).max().unwrap_or(0);
    let padded: Vec<Tensor> = maps
        .iter()
        .map(|t| {
            let (th, tw) = (t.size()[2], t.size()[3]);
            if (th, tw) == (h, w) {
                t.shallow_clone()
            } else {
                t.constant_pad_nd([0, w - tw, 0, h - th])
            }
        })
        .collect();
    Tensor::cat(&padded, 1)
}

impl Body for MacroNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Output {
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let input = if layer.anchors.is_empty() {
                xs.shallow_clone()
            } else {
                concat_padded(&layer.anchors.iter().map(|&a| &outs[a]).collect::<Vec<_>>())
            };
            let h = input.apply(&layer.conv).apply_t(&layer.bn, train).relu();
            outs.push(h);
        }
        let last = concat_padded(&self.outputs.iter().map(|&i| &outs[i]).collect::<Vec<_>>());
        Output {
            logits: global_pool(&last).apply(&self.classifier),
            aux_logits: None,
        }
    }
}
