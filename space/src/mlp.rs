//! The `mlp` space for tables: the NAS-RL macro idea (Zoph & Le 2017)
//! applied to dense layers. A network is 1 to N dense layers; each layer
//! picks its width, activation, normalization and dropout, and an anchor
//! point: the set of earlier outputs concatenated to its input beside the
//! previous layer's (the input features `x`, or layers before the previous
//! one), as skip connections. When the table has categorical columns, the
//! genotype also picks how they are encoded: one-hot, or a learned
//! embedding per column.
//!
//! Text form: the encoding, then one `WIDTH:ACT:NORM:DROPOUT` token per
//! layer, followed by `<a,b` when the layer has anchors (`x` for the input
//! features, `k` for layer k's output), layers numbered from 0:
//! `onehot 256:relu:batch:0.1 128:gelu:none:0<x 64:silu:layer:0.2<x,0`.
//! On input the encoding may be left out (one-hot).

use crate::ops::op_enum;
use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// Layer widths the search may choose.
pub const WIDTHS: [usize; 6] = [16, 32, 64, 128, 256, 512];
/// Dropout rates the search may choose, in tenths (0.0, 0.1, 0.2, 0.3, 0.5).
pub const DROPOUT_TENTHS: [u8; 5] = [0, 1, 2, 3, 5];
/// The most layers a genotype may have.
pub const MAX_LAYERS: usize = 16;

op_enum! {
    /// The activation after a layer's linear map and normalization.
    Activation {
        /// max(0, x).
        Relu => "relu",
        /// Gaussian error linear unit.
        Gelu => "gelu",
        /// tanh.
        Tanh => "tanh",
        /// x * sigmoid(x).
        Silu => "silu",
    }
}

op_enum! {
    /// The normalization between a layer's linear map and its activation.
    Norm {
        /// None.
        None => "none",
        /// Batch normalization.
        Batch => "batch",
        /// Layer normalization.
        Layer => "layer",
    }
}

op_enum! {
    /// How categorical columns enter the network.
    Encoding {
        /// One indicator per category (and one for a missing value).
        OneHot => "onehot",
        /// A learned embedding per column.
        Embed => "embed",
    }
}

/// Something a layer can read besides the previous layer: the input
/// features, or an earlier layer's output.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The input features.
    Input,
    /// The output of layer k.
    Layer(usize),
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input => f.write_str("x"),
            Self::Layer(k) => write!(f, "{k}"),
        }
    }
}

/// One dense layer.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MlpLayer {
    /// Output width, one of [`WIDTHS`].
    pub width: usize,
    /// Activation.
    pub activation: Activation,
    /// Normalization.
    pub norm: Norm,
    /// Dropout after the activation, in tenths, one of [`DROPOUT_TENTHS`].
    pub dropout_tenths: u8,
    /// Earlier outputs concatenated to the previous layer's output to form
    /// this layer's input, sorted; never the previous layer itself.
    #[serde(default)]
    pub anchors: Vec<Anchor>,
}

impl MlpLayer {
    /// The dropout probability.
    pub fn dropout(&self) -> f64 {
        f64::from(self.dropout_tenths) / 10.0
    }
}

/// A dense network for a table: always valid, anchors sorted.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "RawMlp", into = "RawMlp")]
pub struct MlpGenotype {
    encoding: Encoding,
    layers: Vec<MlpLayer>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RawMlp {
    #[serde(default = "one_hot")]
    encoding: Encoding,
    layers: Vec<MlpLayer>,
}

fn one_hot() -> Encoding {
    Encoding::OneHot
}

impl TryFrom<RawMlp> for MlpGenotype {
    type Error = SpaceError;
    fn try_from(raw: RawMlp) -> Result<Self> {
        Self::new(raw.encoding, raw.layers)
    }
}

impl From<MlpGenotype> for RawMlp {
    fn from(g: MlpGenotype) -> Self {
        Self {
            encoding: g.encoding,
            layers: g.layers,
        }
    }
}

/// The anchors layer `i` may have: the input features (from layer 1 on)
/// and layers `0..i-1` (the previous layer is read anyway).
fn candidates(i: usize) -> Vec<Anchor> {
    if i == 0 {
        return Vec::new();
    }
    std::iter::once(Anchor::Input)
        .chain((0..i - 1).map(Anchor::Layer))
        .collect()
}

impl MlpGenotype {
    /// Check `layers` and sort every anchor set.
    pub fn new(encoding: Encoding, mut layers: Vec<MlpLayer>) -> Result<Self> {
        if layers.is_empty() || layers.len() > MAX_LAYERS {
            return Err(SpaceError::new(
                "layers",
                format!(
                    "{} is not a layer count between 1 and {MAX_LAYERS}",
                    layers.len()
                ),
            ));
        }
        for (i, layer) in layers.iter_mut().enumerate() {
            if !WIDTHS.contains(&layer.width) {
                return Err(SpaceError::new(
                    format!("layer {i} width"),
                    format!("{} is not one of 16, 32, 64, 128, 256, 512", layer.width),
                ));
            }
            if !DROPOUT_TENTHS.contains(&layer.dropout_tenths) {
                return Err(SpaceError::new(
                    format!("layer {i} dropout"),
                    format!("{} is not one of 0, 0.1, 0.2, 0.3, 0.5", layer.dropout()),
                ));
            }
            layer.anchors.sort_unstable();
            if let Some(w) = layer.anchors.windows(2).find(|w| w[0] == w[1]) {
                return Err(SpaceError::new(
                    format!("layer {i} anchors"),
                    format!("{} is listed twice", w[0]),
                ));
            }
            let allowed = candidates(i);
            if let Some(bad) = layer.anchors.iter().find(|a| !allowed.contains(a)) {
                let may = if i == 0 {
                    "layer 0 reads the input features and has no anchors".to_string()
                } else {
                    let names: Vec<String> = allowed.iter().map(Anchor::to_string).collect();
                    format!("layer {i} may also read {}", names.join(", "))
                };
                return Err(SpaceError::new(
                    format!("layer {i} anchors"),
                    format!("{bad} is not an earlier output it may read: {may}"),
                ));
            }
        }
        Ok(Self { encoding, layers })
    }

    /// How categorical columns are encoded.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[MlpLayer] {
        &self.layers
    }

    /// A uniformly random genotype of 1 to `max_layers` layers (each depth
    /// equally likely); the encoding is chosen only when `categorical`.
    pub fn sample<R: Rng + ?Sized>(max_layers: usize, categorical: bool, rng: &mut R) -> Self {
        let depth = rng.random_range(1..=max_layers.clamp(1, MAX_LAYERS));
        let layers = (0..depth)
            .map(|i| MlpLayer {
                width: WIDTHS[rng.random_range(0..WIDTHS.len())],
                activation: Activation::ALL[rng.random_range(0..Activation::ALL.len())],
                norm: Norm::ALL[rng.random_range(0..Norm::ALL.len())],
                dropout_tenths: DROPOUT_TENTHS[rng.random_range(0..DROPOUT_TENTHS.len())],
                anchors: candidates(i)
                    .into_iter()
                    .filter(|_| rng.random_bool(0.5))
                    .collect(),
            })
            .collect();
        let encoding = if categorical && rng.random_bool(0.5) {
            Encoding::Embed
        } else {
            Encoding::OneHot
        };
        Self::new(encoding, layers).expect("samples are valid")
    }

    /// The same network with one choice changed: a layer's width,
    /// activation, normalization or dropout, one anchor added or removed, a
    /// layer added at the end or the last one removed (within
    /// 1..=`max_layers`), or, when `categorical`, the encoding.
    pub fn mutate<R: Rng + ?Sized>(
        &self,
        max_layers: usize,
        categorical: bool,
        rng: &mut R,
    ) -> Self {
        let mut edits = vec![Edit::Width, Edit::Activation, Edit::Norm, Edit::Dropout];
        if self.layers.len() > 1 {
            edits.push(Edit::Anchor);
            edits.push(Edit::Shrink);
        }
        if self.layers.len() < max_layers.min(MAX_LAYERS) {
            edits.push(Edit::Grow);
        }
        if categorical {
            edits.push(Edit::Encoding);
        }
        let mut out = self.clone();
        let i = rng.random_range(0..out.layers.len());
        let other = |n: usize, now: usize, rng: &mut R| (now + rng.random_range(1..n)) % n;
        match edits[rng.random_range(0..edits.len())] {
            Edit::Width => {
                let at = WIDTHS
                    .iter()
                    .position(|&w| w == out.layers[i].width)
                    .unwrap_or(0);
                out.layers[i].width = WIDTHS[other(WIDTHS.len(), at, rng)];
            }
            Edit::Activation => {
                let at = out.layers[i].activation.index();
                out.layers[i].activation = Activation::ALL[other(Activation::ALL.len(), at, rng)];
            }
            Edit::Norm => {
                let at = out.layers[i].norm.index();
                out.layers[i].norm = Norm::ALL[other(Norm::ALL.len(), at, rng)];
            }
            Edit::Dropout => {
                let now = out.layers[i].dropout_tenths;
                let at = DROPOUT_TENTHS.iter().position(|&d| d == now).unwrap_or(0);
                out.layers[i].dropout_tenths = DROPOUT_TENTHS[other(DROPOUT_TENTHS.len(), at, rng)];
            }
            Edit::Anchor => {
                let layer = rng.random_range(1..out.layers.len());
                let all = candidates(layer);
                let a = all[rng.random_range(0..all.len())];
                let anchors = &mut out.layers[layer].anchors;
                match anchors.iter().position(|&b| b == a) {
                    Some(p) => {
                        anchors.remove(p);
                    }
                    None => anchors.push(a),
                }
            }
            Edit::Grow => {
                let n = out.layers.len();
                out.layers.push(MlpLayer {
                    width: WIDTHS[rng.random_range(0..WIDTHS.len())],
                    activation: Activation::ALL[rng.random_range(0..Activation::ALL.len())],
                    norm: Norm::ALL[rng.random_range(0..Norm::ALL.len())],
                    dropout_tenths: DROPOUT_TENTHS[rng.random_range(0..DROPOUT_TENTHS.len())],
                    anchors: candidates(n)
                        .into_iter()
                        .filter(|_| rng.random_bool(0.5))
                        .collect(),
                });
            }
            Edit::Shrink => {
                out.layers.pop();
            }
            Edit::Encoding => {
                out.encoding = match out.encoding {
                    Encoding::OneHot => Encoding::Embed,
                    Encoding::Embed => Encoding::OneHot,
                };
            }
        }
        Self::new(out.encoding, out.layers).expect("one edit keeps a genotype valid")
    }

    /// Number of genotypes with 1 to `max_layers` layers: per depth d,
    /// (choices per layer)^d times 2^(d(d-1)/2) anchor sets, times 2 when
    /// the encoding is chosen; `None` if it does not fit in a u128.
    pub fn count(max_layers: usize, categorical: bool) -> Option<u128> {
        let per_layer =
            (WIDTHS.len() * Activation::ALL.len() * Norm::ALL.len() * DROPOUT_TENTHS.len()) as u128;
        let mut total: u128 = 0;
        for d in 1..=max_layers.min(MAX_LAYERS) as u32 {
            let anchors = 1u128.checked_shl(d * (d - 1) / 2)?;
            total = total.checked_add(per_layer.checked_pow(d)?.checked_mul(anchors)?)?;
        }
        total.checked_mul(if categorical { 2 } else { 1 })
    }
}

/// The kinds of one-choice edits.
#[derive(Debug, Clone, Copy)]
enum Edit {
    Width,
    Activation,
    Norm,
    Dropout,
    Anchor,
    Grow,
    Shrink,
    Encoding,
}

impl fmt::Display for MlpGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoding.name())?;
        for layer in &self.layers {
            let dropout = if layer.dropout_tenths == 0 {
                "0".to_string()
            } else {
                format!("0.{}", layer.dropout_tenths)
            };
            write!(
                f,
                " {}:{}:{}:{dropout}",
                layer.width, layer.activation, layer.norm
            )?;
            if !layer.anchors.is_empty() {
                let names: Vec<String> = layer.anchors.iter().map(Anchor::to_string).collect();
                write!(f, "<{}", names.join(","))?;
            }
        }
        Ok(())
    }
}

impl FromStr for MlpGenotype {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self> {
        let mut tokens = s.split_whitespace().peekable();
        let encoding = match tokens.peek() {
            Some(&t) if !t.contains(':') => {
                tokens.next();
                t.parse::<Encoding>()
                    .map_err(|e| SpaceError::new("encoding", e.reason))?
            }
            _ => Encoding::OneHot,
        };
        let layers = tokens
            .enumerate()
            .map(|(i, token)| parse_layer(i, token))
            .collect::<Result<Vec<_>>>()?;
        Self::new(encoding, layers)
    }
}

fn parse_layer(i: usize, token: &str) -> Result<MlpLayer> {
    let field = format!("layer {i}");
    let (body, anchors) = match token.split_once('<') {
        Some((b, a)) => (b, Some(a)),
        None => (token, None),
    };
    let parts: Vec<&str> = body.split(':').collect();
    let [width, activation, norm, dropout] = parts[..] else {
        return Err(SpaceError::new(
            &field,
            format!("{token:?} is not WIDTH:ACTIVATION:NORM:DROPOUT"),
        ));
    };
    let width = width.parse().map_err(|_| {
        SpaceError::new(
            format!("{field} width"),
            format!("{width:?} is not a number"),
        )
    })?;
    let activation = activation
        .parse()
        .map_err(|e: SpaceError| SpaceError::new(format!("{field} activation"), e.reason))?;
    let norm = norm
        .parse()
        .map_err(|e: SpaceError| SpaceError::new(format!("{field} norm"), e.reason))?;
    let dropout_tenths = match dropout.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) && ((p * 10.0).round() - p * 10.0).abs() < 1e-9 => {
            (p * 10.0).round() as u8
        }
        _ => {
            return Err(SpaceError::new(
                format!("{field} dropout"),
                format!("{dropout:?} is not one of 0, 0.1, 0.2, 0.3, 0.5"),
            ))
        }
    };
    let anchors = match anchors {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|a| match a.trim() {
                "x" => Ok(Anchor::Input),
                k => k.parse().map(Anchor::Layer).map_err(|_| {
                    SpaceError::new(
                        format!("{field} anchors"),
                        format!("{k:?} is not x or a layer number"),
                    )
                }),
            })
            .collect::<Result<_>>()?,
    };
    Ok(MlpLayer {
        width,
        activation,
        norm,
        dropout_tenths,
        anchors,
    })
}
