//! The two steps of DARTS' bilevel optimization: the weights' SGD step on
//! the training half, and the α gradient on the validation half, first or
//! second order (the reference `architect.py`).
//!
//! Second order: w' = w − ξ(∇w L_train(w, α) + μ·m + λ·w), m the weights'
//! momentum buffer (what SGD would step with next), then
//! ∇α L_val(w', α) − ξ · [∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)] / 2ε with
//! w± = w ± ε ∇w' L_val(w', α) and ε = 0.01 / ‖∇w' L_val(w', α)‖: the
//! paper's finite-difference Hessian-vector product (equation 8).
//!
//! That radius (0.01 in weight space, [`FD_RADIUS`]) is coarse: in a ReLU
//! network the gradient in α jumps wherever a unit changes sign, and on the
//! tiny supernets of the tests a radius of 0.01 puts the product off the
//! exact one (double backpropagation) by 1 to 60 times its size, where
//! 1e-5 in float64 agrees to 1e-8. Searches keep the paper's radius;
//! [`second_order_at`] takes another.
//!
//! Gradients are taken with `torch.autograd.grad` semantics (tch's
//! `run_backward` on the tensors named), so no step leaves gradients behind
//! in another's parameters. Weights are moved in place and restored
//! exactly from a copy.

use super::supernet::Supernet;
use tch::{Reduction, TchError, Tensor};

/// The mean cross-entropy of the supernet's logits on `(xs, ys)`, in
/// training mode (batch statistics), as the search trains.
pub fn loss(net: &Supernet, xs: &Tensor, ys: &Tensor) -> Result<Tensor, TchError> {
    net.forward_t(xs, true)
        .f_cross_entropy_loss::<Tensor>(ys, None, Reduction::Mean, -100, 0.0)
}

/// The gradients of `loss` with respect to `inputs`, zeros for inputs it
/// does not depend on.
pub fn grads(loss: &Tensor, inputs: &[Tensor]) -> Result<Vec<Tensor>, TchError> {
    let gs = Tensor::f_run_backward(&[loss], inputs, false, false)?;
    Ok(gs
        .into_iter()
        .zip(inputs)
        .map(|(g, x)| if g.defined() { g } else { x.zeros_like() })
        .collect())
}

/// The global L2 norm of `ts`.
pub fn global_norm(ts: &[Tensor]) -> Result<f64, TchError> {
    let mut sum = 0.0;
    for t in ts {
        let n = t.f_norm()?.f_double_value(&[])?;
        sum += n * n;
    }
    Ok(sum.sqrt())
}

/// Scale `grads` so that their global norm is at most `max`, as PyTorch's
/// `clip_grad_norm_` (factor max / (norm + 1e-6) when that is below 1);
/// returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [Tensor], max: f64) -> Result<f64, TchError> {
    let norm = global_norm(grads)?;
    let coef = max / (norm + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            *g = g.f_mul_scalar(coef)?;
        }
    }
    Ok(norm)
}

/// SGD with momentum and L2 weight decay, step for step `torch.optim.SGD`
/// (no dampening, no Nesterov), kept here rather than in libtorch because
/// the second-order α step reads its momentum buffers.
#[derive(Debug)]
pub struct WeightSgd {
    momentum: f64,
    weight_decay: f64,
    /// One buffer per parameter, zero before the first step (which then
    /// equals PyTorch's first step, whose buffer starts as the gradient).
    buffers: Vec<Tensor>,
}

impl WeightSgd {
    /// An optimizer for `params`.
    pub fn new(params: &[Tensor], momentum: f64, weight_decay: f64) -> Self {
        Self {
            momentum,
            weight_decay,
            buffers: params.iter().map(|p| p.zeros_like().detach()).collect(),
        }
    }

    /// μ·m + g + λ·w per parameter: the step SGD takes next (times the
    /// learning rate) given gradients `grads`.
    pub fn direction(&self, params: &[Tensor], grads: &[Tensor]) -> Result<Vec<Tensor>, TchError> {
        tch::no_grad(|| {
            params
                .iter()
                .zip(grads)
                .zip(&self.buffers)
                .map(|((p, g), m)| {
                    let d = g.f_add(&p.f_mul_scalar(self.weight_decay)?)?;
                    d.f_add(&m.f_mul_scalar(self.momentum)?)
                })
                .collect()
        })
    }

    /// The momentum buffers, one per parameter.
    pub fn buffers(&self) -> &[Tensor] {
        &self.buffers
    }

    /// Replace the momentum buffers (from a checkpoint).
    pub fn set_buffers(&mut self, buffers: Vec<Tensor>) {
        self.buffers = buffers;
    }

    /// One step: m ← μ·m + g + λ·w, w ← w − lr·m.
    pub fn step(&mut self, params: &[Tensor], grads: &[Tensor], lr: f64) -> Result<(), TchError> {
        let dirs = self.direction(params, grads)?;
        tch::no_grad(|| {
            for ((p, m), d) in params.iter().zip(&mut self.buffers).zip(dirs) {
                let _ = p.shallow_clone().f_sub_(&d.f_mul_scalar(lr)?)?;
                *m = d;
            }
            Ok(())
        })
    }
}

/// Copies of `params`' values.
fn snapshot(params: &[Tensor]) -> Vec<Tensor> {
    params.iter().map(|p| p.detach().copy()).collect()
}

/// Set each parameter to `base + scale · dir` (or to `base` without `dir`).
fn assign(
    params: &[Tensor],
    base: &[Tensor],
    dir: Option<(&[Tensor], f64)>,
) -> Result<(), TchError> {
    tch::no_grad(|| {
        for (i, p) in params.iter().enumerate() {
            let v = match dir {
                Some((d, scale)) => base[i].f_add(&d[i].f_mul_scalar(scale)?)?,
                None => base[i].shallow_clone(),
            };
            p.shallow_clone().f_copy_(&v)?;
        }
        Ok(())
    })
}

/// A labelled batch.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Images, `[B, C, H, W]`.
    pub xs: &'a Tensor,
    /// Class indices, `[B]`.
    pub ys: &'a Tensor,
}

/// The α gradient of one step, with the validation loss it came from.
#[derive(Debug)]
pub struct ArchGrad {
    /// One gradient per α tensor.
    pub grads: Vec<Tensor>,
    /// L_val at the weights the gradient was taken at (w, or w' for the
    /// second order).
    pub val_loss: f64,
}

/// First order: ∇α L_val(w, α).
pub fn first_order(net: &Supernet, val: Batch<'_>) -> Result<ArchGrad, TchError> {
    let l = loss(net, val.xs, val.ys)?;
    let val_loss = l.f_double_value(&[])?;
    Ok(ArchGrad {
        grads: grads(&l, net.alphas())?,
        val_loss,
    })
}

/// The radius in weight space of the finite-difference Hessian-vector
/// product: ε = FD_RADIUS / ‖∇w' L_val(w', α)‖, the paper's 0.01.
pub const FD_RADIUS: f64 = 0.01;

/// Second order at step size `xi` (the reference uses the weights' current
/// learning rate), reading the momentum buffers of `sgd` (see the module
/// docs), with the paper's finite-difference radius [`FD_RADIUS`]. The
/// weights are back to their values when it returns; the running
/// statistics are left as the reference leaves them, updated by the passes
/// on the training batch at w and w± but not by the pass at w' (which the
/// reference runs on a copy of the model).
pub fn second_order(
    net: &Supernet,
    sgd: &WeightSgd,
    xi: f64,
    train: Batch<'_>,
    val: Batch<'_>,
) -> Result<ArchGrad, TchError> {
    second_order_at(net, sgd, xi, FD_RADIUS, train, val)
}

/// [`second_order`] with ε = `radius` / ‖∇w' L_val(w', α)‖.
pub fn second_order_at(
    net: &Supernet,
    sgd: &WeightSgd,
    xi: f64,
    radius: f64,
    train: Batch<'_>,
    val: Batch<'_>,
) -> Result<ArchGrad, TchError> {
    let params = net.params();
    let alphas = net.alphas();
    let w = snapshot(&params);
    let step = Unroll { xi, radius };
    let result = unrolled(net, sgd, step, train, val, &params, alphas, &w);
    // Restore the weights whatever happened, so that an error mid-way
    // leaves the supernet as it was.
    assign(&params, &w, None)?;
    result
}

/// The unrolled step's size ξ and the finite-difference radius.
#[derive(Debug, Clone, Copy)]
struct Unroll {
    xi: f64,
    radius: f64,
}

#[allow(clippy::too_many_arguments)]
fn unrolled(
    net: &Supernet,
    sgd: &WeightSgd,
    Unroll { xi, radius }: Unroll,
    train: Batch<'_>,
    val: Batch<'_>,
    params: &[Tensor],
    alphas: &[Tensor],
    w: &[Tensor],
) -> Result<ArchGrad, TchError> {
    // w' = w − ξ (∇w L_train + μ m + λ w).
    let g_train = grads(&loss(net, train.xs, train.ys)?, params)?;
    let dir = sgd.direction(params, &g_train)?;
    assign(params, w, Some((&dir, -xi)))?;

    // ∇α L_val(w', α) and v = ∇w' L_val(w', α), at w' with the running
    // statistics put back afterwards.
    let buffers = net.buffers();
    let saved = snapshot(&buffers);
    let l_val = loss(net, val.xs, val.ys)?;
    let val_loss = l_val.f_double_value(&[])?;
    let inputs: Vec<Tensor> = alphas
        .iter()
        .chain(params)
        .map(|t| t.shallow_clone())
        .collect();
    let mut all = grads(&l_val, &inputs)?;
    assign(&buffers, &saved, None)?;
    let v = all.split_off(alphas.len());
    let mut d_alpha = all;

    let norm = global_norm(&v)?;
    if norm > 0.0 {
        let eps = radius / norm;
        assign(params, w, Some((&v, eps)))?;
        let g_plus = grads(&loss(net, train.xs, train.ys)?, alphas)?;
        assign(params, w, Some((&v, -eps)))?;
        let g_minus = grads(&loss(net, train.xs, train.ys)?, alphas)?;
        for ((d, p), m) in d_alpha.iter_mut().zip(g_plus).zip(g_minus) {
            let hvp = p.f_sub(&m)?.f_mul_scalar(1.0 / (2.0 * eps))?;
            *d = d.f_sub(&hvp.f_mul_scalar(xi)?)?;
        }
    }
    Ok(ArchGrad {
        grads: d_alpha,
        val_loss,
    })
}

/// Adam for α, as the reference's `torch.optim.Adam(α, lr, betas=(0.5,
/// 0.999), weight_decay=λ)`: with g ← g + λ·α, m ← β1·m + (1−β1)·g,
/// v ← β2·v + (1−β2)·g², α ← α − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
/// Its moments are plain tensors, so a checkpoint can hold them.
#[derive(Debug)]
pub struct ArchAdam {
    lr: f64,
    weight_decay: f64,
    /// Steps taken.
    pub t: u64,
    /// First moments, one per α tensor.
    pub m: Vec<Tensor>,
    /// Second moments, one per α tensor.
    pub v: Vec<Tensor>,
}

/// β1 of α's Adam (the reference's 0.5).
pub const ARCH_BETA1: f64 = 0.5;
/// β2 of α's Adam.
pub const ARCH_BETA2: f64 = 0.999;
const ARCH_EPS: f64 = 1e-8;

impl ArchAdam {
    /// Adam for `alphas`, moments zero.
    pub fn new(alphas: &[Tensor], lr: f64, weight_decay: f64) -> Self {
        let zeros = || alphas.iter().map(|a| a.zeros_like().detach()).collect();
        Self {
            lr,
            weight_decay,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One step of every α tensor along its gradient in `grads`.
    pub fn step(&mut self, alphas: &[Tensor], grads: &[Tensor]) -> Result<(), TchError> {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - ARCH_BETA1.powi(t);
        let bc2 = (1.0 - ARCH_BETA2.powi(t)).sqrt();
        tch::no_grad(|| {
            for (((a, g), m), v) in alphas.iter().zip(grads).zip(&mut self.m).zip(&mut self.v) {
                let g = g.f_add(&a.f_mul_scalar(self.weight_decay)?)?;
                *m = m
                    .f_mul_scalar(ARCH_BETA1)?
                    .f_add(&g.f_mul_scalar(1.0 - ARCH_BETA1)?)?;
                *v = v
                    .f_mul_scalar(ARCH_BETA2)?
                    .f_add(&g.f_mul(&g)?.f_mul_scalar(1.0 - ARCH_BETA2)?)?;
                let denom = v.f_sqrt()?.f_div_scalar(bc2)?.f_add_scalar(ARCH_EPS)?;
                let _ = a
                    .shallow_clone()
                    .f_sub_(&m.f_div(&denom)?.f_mul_scalar(self.lr / bc1)?)?;
            }
            Ok(())
        })
    }
}
