//! The learning-rate schedule of training runs and DARTS searches.

/// Cosine annealing from `lr` to `lr_min` over `total` steps.
pub fn cosine(lr: f64, lr_min: f64, step: u64, total: u64) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    lr_min + 0.5 * (lr - lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
}
