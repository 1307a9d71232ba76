//! Stochastic gradient descent with momentum, Nesterov and weight decay,
//! the update PyTorch's `torch.optim.SGD` makes (dampening 0), over a
//! VarStore's trainable variables, with its momentum buffers in the open:
//! a checkpoint saves them with the weights, so that a run continued from
//! it (a redelivered job, a promoted rung) takes exactly the steps the run
//! that saved it would have taken. tch's optimizer keeps its state inside
//! libtorch, out of reach of a checkpoint.

use std::collections::HashMap;
use tch::{nn, Kind, Tensor};

/// Prefix of the momentum buffers' names in a checkpoint's tensor file.
const MOMENTUM: &str = "sgd.momentum/";

/// Settings of the update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

/// The optimizer: each trainable variable by name, with its momentum
/// buffer (zeros until the first step, which makes the first step's
/// buffer the gradient itself, as in PyTorch).
pub(crate) struct Sgd {
    config: SgdConfig,
    params: Vec<(String, Tensor, Tensor)>,
}

impl Sgd {
    /// SGD over the trainable variables of `vs`.
    pub fn new(vs: &nn::VarStore, config: SgdConfig) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, t)| {
                let buf = t.zeros_like().detach();
                (name, t, buf)
            })
            .collect();
        Self { config, params }
    }

    /// The learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Clear the gradients before a backward pass.
    pub fn zero_grad(&mut self) {
        for (_, p, _) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_();
                let _ = g.zero_();
            }
        }
    }

    /// Scale the gradients so that their joint L2 norm is at most `max`.
    pub fn clip_grad_norm(&mut self, max: f64) {
        let _guard = tch::no_grad_guard();
        let grads: Vec<Tensor> = (self.params.iter())
            .map(|(_, p, _)| p.grad())
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return;
        }
        let total = grads
            .iter()
            .map(|g| g.norm().to_kind(Kind::Double).square())
            .fold(
                Tensor::zeros([], (Kind::Double, tch::Device::Cpu)),
                |a, b| a + b.to_device(tch::Device::Cpu),
            )
            .sqrt()
            .double_value(&[]);
        let coef = max / (total + 1e-6);
        if coef < 1.0 {
            for mut g in grads {
                let _ = g.g_mul_scalar_(coef);
            }
        }
    }

    /// One update of every variable that has a gradient.
    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        let c = self.config;
        for (_, p, buf) in &mut self.params {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let mut d = if c.weight_decay != 0.0 {
                &g + &*p * c.weight_decay
            } else {
                g
            };
            if c.momentum != 0.0 {
                let _ = buf.g_mul_scalar_(c.momentum);
                let _ = buf.g_add_(&d);
                d = if c.nesterov {
                    d + &*buf * c.momentum
                } else {
                    buf.shallow_clone()
                };
            }
            let _ = p.g_sub_(&(d * c.lr));
        }
    }

    /// The momentum buffers by their checkpoint names.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        (self.params.iter())
            .map(|(name, _, buf)| (format!("{MOMENTUM}{name}"), buf.shallow_clone()))
            .collect()
    }

    /// Take the momentum buffers from a checkpoint's tensors; every one
    /// must be there with its variable's shape, or none is taken.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>) -> Result<(), String> {
        let mut found = Vec::with_capacity(self.params.len());
        for (name, _, buf) in &self.params {
            let key = format!("{MOMENTUM}{name}");
            let src = tensors
                .get(&key)
                .ok_or_else(|| format!("no momentum buffer {key}"))?;
            if src.size() != buf.size() {
                return Err(format!(
                    "momentum buffer {key} has shape {:?}, the variable {:?}",
                    src.size(),
                    buf.size()
                ));
            }
            found.push(src);
        }
        let _guard = tch::no_grad_guard();
        for ((_, _, buf), src) in self.params.iter_mut().zip(found) {
            buf.f_copy_(src).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
