//! Adam (Kingma & Ba 2015) over the plain parameters, with global
//! gradient-norm clipping before it, as `torch.optim.Adam` and
//! `clip_grad_norm_` do.
//!
//! Written out rather than taken from libtorch so that the optimizer's
//! state, the step count and both moments, is data the controller owns and
//! persists: a resumed search takes the next step exactly as the one it
//! continues would have.

use crate::params::{Floats, Params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Adam's decay rate of the first moment.
const BETA1: f64 = 0.9;
/// Adam's decay rate of the second moment.
const BETA2: f64 = 0.999;
/// Added to the root of the second moment, against division by zero.
const EPS: f64 = 1e-8;

/// Adam's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Adam {
    /// Steps taken.
    pub(crate) step: u64,
    /// First moment per parameter (absent until its first step).
    pub(crate) m: BTreeMap<String, Floats>,
    /// Second moment per parameter.
    pub(crate) v: BTreeMap<String, Floats>,
}

/// The global L2 norm of `grads`, in `f64`.
pub(crate) fn norm(grads: &BTreeMap<String, Vec<f32>>) -> f64 {
    grads
        .values()
        .flatten()
        .map(|&g| f64::from(g) * f64::from(g))
        .sum::<f64>()
        .sqrt()
}

/// Scale `grads` so that their global norm is at most `max`, as
/// `clip_grad_norm_` does; returns the norm before clipping.
pub(crate) fn clip(grads: &mut BTreeMap<String, Vec<f32>>, max: f64) -> f64 {
    let total = norm(grads);
    if total > max {
        let scale = (max / (total + 1e-6)) as f32;
        for g in grads.values_mut().flatten() {
            *g *= scale;
        }
    }
    total
}

impl Adam {
    /// One step of learning rate `lr` on every parameter with a gradient.
    pub(crate) fn step(
        &mut self,
        params: &mut Params,
        grads: &BTreeMap<String, Vec<f32>>,
        lr: f64,
    ) {
        self.step += 1;
        let t = self.step as i32;
        let correction1 = 1.0 - BETA1.powi(t);
        let correction2 = 1.0 - BETA2.powi(t);
        for (name, g) in grads {
            let Some(p) = params.get_mut(name) else {
                continue;
            };
            let m = self
                .m
                .entry(name.clone())
                .or_insert_with(|| Floats(vec![0.0; g.len()]));
            let v = self
                .v
                .entry(name.clone())
                .or_insert_with(|| Floats(vec![0.0; g.len()]));
            for (((x, &g), m), v) in p
                .values
                .0
                .iter_mut()
                .zip(g)
                .zip(m.0.iter_mut())
                .zip(v.0.iter_mut())
            {
                let g = f64::from(g);
                let m1 = BETA1 * f64::from(*m) + (1.0 - BETA1) * g;
                let v1 = BETA2 * f64::from(*v) + (1.0 - BETA2) * g * g;
                *m = m1 as f32;
                *v = v1 as f32;
                let update = lr * (m1 / correction1) / ((v1 / correction2).sqrt() + EPS);
                *x = (f64::from(*x) - update) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Param;

    #[test]
    fn a_first_step_moves_each_weight_by_lr_against_its_gradient() {
        let mut params = Params::new();
        params.insert(
            "w".into(),
            Param {
                shape: vec![3],
                values: Floats(vec![1.0, 1.0, 1.0]),
            },
        );
        let grads = BTreeMap::from([("w".to_string(), vec![2.0f32, -0.5, 0.0])]);
        let mut adam = Adam::default();
        adam.step(&mut params, &grads, 0.1);
        let w = &params["w"].values.0;
        assert!((w[0] - 0.9).abs() < 1e-6, "{w:?}");
        assert!((w[1] - 1.1).abs() < 1e-6, "{w:?}");
        assert_eq!(w[2], 1.0);
        assert_eq!(adam.step, 1);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let mut grads = BTreeMap::from([
            ("a".to_string(), vec![3.0f32]),
            ("b".to_string(), vec![4.0f32]),
        ]);
        assert_eq!(clip(&mut grads, 10.0), 5.0);
        assert_eq!(grads["a"], vec![3.0]);
        assert_eq!(clip(&mut grads, 1.0), 5.0);
        assert!((norm(&grads) - 1.0).abs() < 1e-5);
    }
}
