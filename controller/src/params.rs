//! The controller's parameters as plain data: named `f32` tensors that
//! serialize exactly (little-endian bytes in base64), the layout a space and
//! a config call for, and their initialization.
//!
//! The weights live here, not in libtorch, so that a controller is a value
//! like any other strategy state: it clones, compares and persists without
//! touching torch, and torch only computes with it (see `net`).

use crate::policy::{heads, HeadKind};
use crate::{ControllerConfig, ControllerError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::Rng;
use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use space::{Space, SpaceRng};
use std::collections::BTreeMap;

/// Weights are drawn uniformly from [-INIT_RANGE, INIT_RANGE], as in NAS-RL
/// ("initialized uniformly between -0.08 and 0.08").
pub(crate) const INIT_RANGE: f64 = 0.08;

/// A flat `f32` buffer, serialized as base64 of its little-endian bytes: a
/// third larger than the raw bytes, and every value reads back bit for bit
/// (decimal floats in JSON would need care to round-trip).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Floats(pub(crate) Vec<f32>);

impl Serialize for Floats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|x| x.to_le_bytes()).collect();
        s.serialize_str(&STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for Floats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD
            .decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("float buffer: bad base64: {e}")))?;
        if bytes.len() % 4 != 0 {
            return Err(D::Error::custom(format!(
                "float buffer: {} bytes is not a whole number of f32s",
                bytes.len()
            )));
        }
        Ok(Floats(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }
}

/// One named tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Param {
    /// Its shape, outermost first.
    pub(crate) shape: Vec<usize>,
    /// Its values, row-major.
    pub(crate) values: Floats,
}

/// Every parameter by name; the names are stable paths
/// (`lstm.0.w_ih`, `head.op.weight`, `attention.v`, ...).
pub(crate) type Params = BTreeMap<String, Param>;

/// The parameters a space and config call for, in a fixed order (the order
/// they are initialized in): name and shape.
///
/// - `embed.go` `[1, H]`: the first input.
/// - per LSTM layer `l`: `lstm.l.w_ih` `[4H, H]`, `lstm.l.w_hh` `[4H, H]`,
///   `lstm.l.b_ih` `[4H]`, `lstm.l.b_hh` `[4H]` (gates in PyTorch's order
///   i, f, g, o). Embeddings are H wide, so every layer's input is H wide.
/// - per decision head `k` with n choices: `head.k.weight` `[n, H]`,
///   `head.k.bias` `[n]` (the softmax classifier) and `embed.k` `[n, H]`
///   (the chosen token, fed to the next step).
/// - macro and mlp spaces only: `attention.w_prev` `[H, H]`,
///   `attention.w_curr` `[H, H]`, `attention.v` `[H]`, the anchor-point
///   sigmoids.
pub(crate) fn layout(space: &Space, config: &ControllerConfig) -> Vec<(String, Vec<usize>)> {
    let h = config.hidden;
    let mut out = vec![("embed.go".to_string(), vec![1, h])];
    for l in 0..config.layers {
        out.push((format!("lstm.{l}.w_ih"), vec![4 * h, h]));
        out.push((format!("lstm.{l}.w_hh"), vec![4 * h, h]));
        out.push((format!("lstm.{l}.b_ih"), vec![4 * h]));
        out.push((format!("lstm.{l}.b_hh"), vec![4 * h]));
    }
    for (kind, n) in heads(space) {
        let k = kind.name();
        out.push((format!("head.{k}.weight"), vec![n, h]));
        out.push((format!("head.{k}.bias"), vec![n]));
        out.push((format!("embed.{k}"), vec![n, h]));
    }
    if matches!(space, Space::Macro { .. } | Space::Mlp { .. }) {
        out.push(("attention.w_prev".to_string(), vec![h, h]));
        out.push(("attention.w_curr".to_string(), vec![h, h]));
        out.push(("attention.v".to_string(), vec![h]));
    }
    out
}

/// Fresh parameters: uniform in [-INIT_RANGE, INIT_RANGE], drawn from `rng`
/// in [`layout`] order.
pub(crate) fn init(space: &Space, config: &ControllerConfig, rng: &mut SpaceRng) -> Params {
    layout(space, config)
        .into_iter()
        .map(|(name, shape)| {
            let n = shape.iter().product();
            let values = (0..n)
                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * INIT_RANGE) as f32)
                .collect();
            (
                name,
                Param {
                    shape,
                    values: Floats(values),
                },
            )
        })
        .collect()
}

/// Check that `params` is exactly what `space` and `config` call for: the
/// same names, shapes, and values to fill them, all finite.
pub(crate) fn check(
    params: &Params,
    space: &Space,
    config: &ControllerConfig,
) -> Result<(), ControllerError> {
    let expected = layout(space, config);
    for (name, shape) in &expected {
        let bad = |reason: String| ControllerError::State {
            name: name.clone(),
            reason,
        };
        let p = params
            .get(name)
            .ok_or_else(|| bad(format!("missing (the {space} space calls for it)")))?;
        if &p.shape != shape {
            return Err(bad(format!(
                "shape {:?}, expected {shape:?} for hidden = {}",
                p.shape, config.hidden
            )));
        }
        let n: usize = shape.iter().product();
        if p.values.0.len() != n {
            return Err(bad(format!(
                "{} values for shape {shape:?} ({n})",
                p.values.0.len()
            )));
        }
        if p.values.0.iter().any(|x| !x.is_finite()) {
            return Err(bad("a value is not finite".into()));
        }
    }
    if let Some(extra) = params
        .keys()
        .find(|k| !expected.iter().any(|(name, _)| name == *k))
    {
        return Err(ControllerError::State {
            name: extra.clone(),
            reason: format!(
                "not a parameter of a controller over the {space} space with {} layers",
                config.layers
            ),
        });
    }
    Ok(())
}

/// The name of a head's parameters, for `net`.
pub(crate) fn head_names(kind: HeadKind) -> (String, String, String) {
    let k = kind.name();
    (
        format!("head.{k}.weight"),
        format!("head.{k}.bias"),
        format!("embed.{k}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let xs = Floats(vec![
            0.1,
            -0.0,
            f32::MIN_POSITIVE,
            1.0e-45,
            f32::MAX,
            std::f32::consts::PI,
        ]);
        let json = serde_json::to_string(&xs).unwrap();
        let back: Floats = serde_json::from_str(&json).unwrap();
        let bits = |f: &Floats| f.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&xs));
        for bad in [r#""!!!""#, r#""AAA=""#] {
            let err = serde_json::from_str::<Floats>(bad).unwrap_err().to_string();
            assert!(err.contains("float buffer"), "{err}");
        }
    }

    #[test]
    fn the_layout_has_attention_only_for_the_macro_space() {
        let config = ControllerConfig::default();
        let names = |space: Space| -> Vec<String> {
            layout(&space, &config)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert!(names(Space::Macro { layers: 3 }).contains(&"attention.v".to_string()));
        for space in [Space::Nb201, Space::Darts, Space::Pnas { blocks: 2 }] {
            assert!(!names(space).iter().any(|n| n.starts_with("attention")));
        }
        let lstm = names(Space::Nb201)
            .iter()
            .filter(|n| n.starts_with("lstm."))
            .count();
        assert_eq!(lstm, 4 * config.layers);
    }
}
