//! The `mlp` space's network for tables: an encoder that turns a row into a
//! vector (numeric features as they come, already standardized; each
//! categorical column one-hot or through a learned embedding), then the
//! genotype's dense layers, each reading the previous layer's output
//! concatenated with its anchors (the encoded input, earlier layers), then
//! a linear head.
//!
//! Input: `[batch, numeric + categorical]` f32, the numeric features first,
//! then one category code per categorical column (0..cardinality, where the
//! code `cardinality` stands for missing or unseen), as the trainer's
//! preprocessing writes them.
//!
//! Paths: `encoder.embed<j>` (embeddings), `layers.<i>.linear`,
//! `layers.<i>.norm`, `head`.

use super::{Body, ModelError, NetConfig, Output};
use space::mlp::{Activation, Anchor, Encoding, Norm};
use space::MlpGenotype;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The width of column `j`'s embedding: a rule of thumb that grows slowly
/// with the cardinality (fastai's, capped at 16), counting the
/// missing/unseen code.
pub fn embedding_width(cardinality: i64) -> i64 {
    let n = (cardinality + 1) as f64;
    (1.6 * n.powf(0.56)).round().clamp(1.0, 16.0) as i64
}

/// A table's input layout: numeric features, then categorical codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableShape {
    /// Numeric (and boolean) features, standardized.
    pub numeric: i64,
    /// The cardinality of each categorical column (codes `0..=card`, `card`
    /// meaning missing or unseen).
    pub categorical: Vec<i64>,
}

impl TableShape {
    /// Columns of the input tensor.
    pub fn columns(&self) -> i64 {
        self.numeric + self.categorical.len() as i64
    }
}

/// Turns a row into a vector.
#[derive(Debug)]
struct Encoder {
    numeric: i64,
    categorical: Vec<i64>,
    encoding: Encoding,
    embeds: Vec<nn::Embedding>,
    width: i64,
}

impl Encoder {
    fn new(vs: &nn::Path, shape: &TableShape, encoding: Encoding) -> Self {
        let mut width = shape.numeric;
        let mut embeds = Vec::new();
        for (j, &card) in shape.categorical.iter().enumerate() {
            match encoding {
                Encoding::OneHot => width += card + 1,
                Encoding::Embed => {
                    let dim = embedding_width(card);
                    let cfg = nn::EmbeddingConfig {
                        ws_init: nn::Init::Randn {
                            mean: 0.0,
                            stdev: 1.0,
                        },
                        ..Default::default()
                    };
                    embeds.push(nn::embedding(
                        vs.sub(format!("embed{j}")),
                        card + 1,
                        dim,
                        cfg,
                    ));
                    width += dim;
                }
            }
        }
        Self {
            numeric: shape.numeric,
            categorical: shape.categorical.clone(),
            encoding,
            embeds,
            width,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        let mut parts = Vec::with_capacity(1 + self.categorical.len());
        if self.numeric > 0 {
            parts.push(xs.narrow(1, 0, self.numeric));
        }
        for (j, &card) in self.categorical.iter().enumerate() {
            let codes = xs
                .select(1, self.numeric + j as i64)
                .to_kind(Kind::Int64)
                .clamp(0, card);
            parts.push(match self.encoding {
                Encoding::OneHot => codes.one_hot(card + 1).to_kind(xs.kind()),
                Encoding::Embed => self.embeds[j].forward(&codes),
            });
        }
        Tensor::cat(&parts, 1)
    }
}

/// One dense layer: linear, normalization, activation, dropout.
#[derive(Debug)]
struct Dense {
    linear: nn::Linear,
    norm: Option<Normalization>,
    activation: Activation,
    dropout: f64,
    anchors: Vec<Anchor>,
}

#[derive(Debug)]
enum Normalization {
    Batch(nn::BatchNorm),
    Layer(nn::LayerNorm),
}

impl Dense {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut h = xs.apply(&self.linear);
        h = match &self.norm {
            Some(Normalization::Batch(bn)) => h.apply_t(bn, train),
            Some(Normalization::Layer(ln)) => h.apply(ln),
            None => h,
        };
        h = match self.activation {
            Activation::Relu => h.relu(),
            Activation::Gelu => h.gelu("none"),
            Activation::Tanh => h.tanh(),
            Activation::Silu => h.silu(),
        };
        if self.dropout > 0.0 {
            h = h.dropout(self.dropout, train);
        }
        h
    }
}

/// The network of an `mlp` genotype.
#[derive(Debug)]
pub(super) struct MlpNet {
    encoder: Encoder,
    layers: Vec<Dense>,
    head: nn::Linear,
}

impl MlpNet {
    /// Build for `cfg.table`'s columns and `cfg.classes` outputs (1 for
    /// regression).
    pub(super) fn new(vs: &nn::Path, g: &MlpGenotype, cfg: &NetConfig) -> Result<Self, ModelError> {
        if cfg.table.columns() < 1 {
            return Err(ModelError::Config {
                field: "table",
                reason: "a table network needs at least one feature column".into(),
            });
        }
        let encoder = Encoder::new(&vs.sub("encoder"), &cfg.table, g.encoding());
        let mut widths = Vec::with_capacity(g.layers().len());
        let mut layers = Vec::with_capacity(g.layers().len());
        let mut prev = encoder.width;
        for (i, l) in g.layers().iter().enumerate() {
            let width_of = |a: &Anchor| match a {
                Anchor::Input => encoder.width,
                Anchor::Layer(k) => widths[*k],
            };
            let input = prev + l.anchors.iter().map(width_of).sum::<i64>();
            let out = l.width as i64;
            let path = vs.sub("layers").sub(i as i64);
            let norm = match l.norm {
                Norm::None => None,
                Norm::Batch => Some(Normalization::Batch(nn::batch_norm1d(
                    path.sub("norm"),
                    out,
                    nn::BatchNormConfig {
                        ws_init: nn::Init::Const(1.0),
                        bs_init: nn::Init::Const(0.0),
                        ..Default::default()
                    },
                ))),
                Norm::Layer => Some(Normalization::Layer(nn::layer_norm(
                    path.sub("norm"),
                    vec![out],
                    Default::default(),
                ))),
            };
            layers.push(Dense {
                linear: nn::linear(path.sub("linear"), input, out, Default::default()),
                norm,
                activation: l.activation,
                dropout: l.dropout(),
                anchors: l.anchors.clone(),
            });
            widths.push(out);
            prev = out;
        }
        let head = nn::linear(vs.sub("head"), prev, cfg.classes, Default::default());
        Ok(Self {
            encoder,
            layers,
            head,
        })
    }
}

impl Body for MlpNet {
    fn forward(&self, xs: &Tensor, train: bool) -> Output {
        let x = self.encoder.forward(xs);
        let mut outputs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let prev = outputs.last().unwrap_or(&x);
            let mut parts = vec![prev.shallow_clone()];
            parts.extend(layer.anchors.iter().map(|a| match a {
                Anchor::Input => x.shallow_clone(),
                Anchor::Layer(k) => outputs[*k].shallow_clone(),
            }));
            let input = if parts.len() == 1 {
                parts.pop().expect("one part")
            } else {
                Tensor::cat(&parts, 1)
            };
            outputs.push(layer.forward(&input, train));
        }
        let last = outputs.last().expect("a network has at least one layer");
        Output {
            logits: last.apply(&self.head),
            aux_logits: None,
        }
    }
}
