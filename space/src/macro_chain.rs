//! The macro chain space of NAS-RL (Zoph & Le 2017): a network of N
//! convolution layers; each layer picks its filter height and width, its
//! filter count, and an anchor point, the set of earlier layers whose outputs
//! are concatenated along depth to form its input (padded where sizes
//! differ). A layer with an empty anchor set reads the image, as in the
//! paper; layers no one reads are concatenated into the classifier.
//!
//! Text form: one `HxW:F` token per layer, followed by `<a,b,...` when the
//! layer has anchors, layers separated by single spaces and numbered from 0:
//! `3x3:24 5x5:36<0 3x7:48<0,1`.

use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

/// Filter heights and widths the controller may choose.
pub const FILTER_SIZES: [usize; 4] = [1, 3, 5, 7];
/// Filter counts the controller may choose.
pub const FILTER_COUNTS: [usize; 4] = [24, 36, 48, 64];
/// The most layers a genotype may have.
pub const MAX_LAYERS: usize = 64;

/// One convolution layer.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MacroLayer {
    /// Filter height, one of [`FILTER_SIZES`].
    pub height: usize,
    /// Filter width, one of [`FILTER_SIZES`].
    pub width: usize,
    /// Number of filters, one of [`FILTER_COUNTS`].
    pub filters: usize,
    /// Earlier layers concatenated into this one's input, ascending; empty
    /// means the image.
    #[serde(default)]
    pub anchors: Vec<usize>,
}

/// A macro network: always valid, anchors sorted.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "RawMacro", into = "RawMacro")]
pub struct MacroGenotype {
    layers: Vec<MacroLayer>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RawMacro {
    layers: Vec<MacroLayer>,
}

impl TryFrom<RawMacro> for MacroGenotype {
    type Error = SpaceError;
    fn try_from(raw: RawMacro) -> Result<Self> {
        Self::new(raw.layers)
    }
}

impl From<MacroGenotype> for RawMacro {
    fn from(g: MacroGenotype) -> Self {
        Self { layers: g.layers }
    }
}

fn check_layer_count(n: usize) -> Result<()> {
    if n == 0 || n > MAX_LAYERS {
        return Err(SpaceError::new(
            "layers",
            format!("{n} is not a layer count between 1 and {MAX_LAYERS}"),
        ));
    }
    Ok(())
}

fn check_choice(field: String, value: usize, allowed: &[usize]) -> Result<()> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(usize::to_string).collect();
    Err(SpaceError::new(
        field,
        format!("{value} is not one of {}", list.join(", ")),
    ))
}

impl MacroGenotype {
    /// Check `layers` and sort every anchor set.
    pub fn new(mut layers: Vec<MacroLayer>) -> Result<Self> {
        check_layer_count(layers.len())?;
        for (i, layer) in layers.iter_mut().enumerate() {
            check_choice(
                format!("layer {i} filter height"),
                layer.height,
                &FILTER_SIZES,
            )?;
            check_choice(
                format!("layer {i} filter width"),
                layer.width,
                &FILTER_SIZES,
            )?;
            check_choice(format!("layer {i} filters"), layer.filters, &FILTER_COUNTS)?;
            layer.anchors.sort_unstable();
            for pair in layer.anchors.windows(2) {
                if pair[0] == pair[1] {
                    return Err(SpaceError::new(
                        format!("layer {i} anchors"),
                        format!("layer {} is listed twice", pair[0]),
                    ));
                }
            }
            if let Some(&bad) = layer.anchors.iter().find(|&&a| a >= i) {
                let may = if i == 0 {
                    "layer 0 reads the image and has no anchors".to_string()
                } else {
                    format!("layer {i} may connect layers 0..={}", i - 1)
                };
                return Err(SpaceError::new(
                    format!("layer {i} anchors"),
                    format!("{bad} is not an earlier layer ({may})"),
                ));
            }
        }
        Ok(Self { layers })
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[MacroLayer] {
        &self.layers
    }

    /// A uniformly random network of `layers` layers.
    pub fn sample<R: Rng + ?Sized>(layers: usize, rng: &mut R) -> Result<Self> {
        check_layer_count(layers)?;
        let pick = |rng: &mut R, from: &[usize]| from[rng.random_range(0..from.len())];
        let layers = (0..layers)
            .map(|i| MacroLayer {
                height: pick(rng, &FILTER_SIZES),
                width: pick(rng, &FILTER_SIZES),
                filters: pick(rng, &FILTER_COUNTS),
                anchors: (0..i).filter(|_| rng.random_bool(0.5)).collect(),
            })
            .collect();
        Ok(Self { layers })
    }

    /// The same network with one layer's height, width or filter count
    /// changed, or one anchor toggled; always differs from `self`.
    pub fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut layers = self.layers.clone();
        let i = rng.random_range(0..layers.len());
        let layer = &mut layers[i];
        let kinds = if i == 0 { 3 } else { 4 };
        let other = |rng: &mut R, current: usize, from: &[usize]| {
            let at = from.iter().position(|&v| v == current).unwrap_or(0);
            from[(at + rng.random_range(1..from.len())) % from.len()]
        };
        match rng.random_range(0..kinds) {
            0 => layer.height = other(rng, layer.height, &FILTER_SIZES),
            1 => layer.width = other(rng, layer.width, &FILTER_SIZES),
            2 => layer.filters = other(rng, layer.filters, &FILTER_COUNTS),
            _ => {
                let a = rng.random_range(0..i);
                match layer.anchors.binary_search(&a) {
                    Ok(at) => {
                        layer.anchors.remove(at);
                    }
                    Err(at) => layer.anchors.insert(at, a),
                }
            }
        }
        Self { layers }
    }

    /// Number of networks of `layers` layers, `None` past `u128`:
    /// 64^N x 2^(N(N-1)/2).
    pub fn count(layers: usize) -> Result<Option<u128>> {
        check_layer_count(layers)?;
        let per_layer = (FILTER_SIZES.len() * FILTER_SIZES.len() * FILTER_COUNTS.len()) as u128;
        let anchor_bits = (layers * (layers - 1) / 2) as u32;
        Ok(per_layer.checked_pow(layers as u32).and_then(|c| {
            2u128
                .checked_pow(anchor_bits)
                .and_then(|a| c.checked_mul(a))
        }))
    }
}

impl fmt::Display for MacroGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}x{}:{}", l.height, l.width, l.filters)?;
            for (k, a) in l.anchors.iter().enumerate() {
                f.write_str(if k == 0 { "<" } else { "," })?;
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for MacroGenotype {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self> {
        let mut layers = Vec::new();
        for (i, token) in s.split_whitespace().enumerate() {
            let bad = |what: &str| {
                SpaceError::new(
                    format!("layer {i}"),
                    format!("{token:?} is not HxW:F[<a,b,...]: {what}"),
                )
            };
            let (shape, anchors) = match token.split_once('<') {
                Some((shape, anchors)) => (shape, Some(anchors)),
                None => (token, None),
            };
            let (size, filters) = shape.split_once(':').ok_or_else(|| bad("missing ':'"))?;
            let (h, w) = size.split_once('x').ok_or_else(|| bad("missing 'x'"))?;
            let num = |t: &str, what: &str| t.parse::<usize>().map_err(|_| bad(what));
            let anchors = match anchors {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(|a| num(a, "an anchor is not a layer number"))
                    .collect::<Result<_>>()?,
            };
            layers.push(MacroLayer {
                height: num(h, "bad filter height")?,
                width: num(w, "bad filter width")?,
                filters: num(filters, "bad filter count")?,
                anchors,
            });
        }
        Self::new(layers)
    }
}
