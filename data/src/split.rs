//! One split of a dataset as two tensors (images, series or a table, with
//! class or regression labels), and the seeded ways to cut it: subsets for
//! small proxy runs and a train/validation split, stratified by class.

use crate::error::{DataError, Result};
use crate::meta::Task;
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

/// Inputs and labels of one split.
///
/// Invariant: `inputs` is one of
/// - images: `Kind::Uint8` `[N, C, H, W]`;
/// - series: `Kind::Float` `[N, C, L]`, NaN for a missing value or padding;
/// - a table: `Kind::Float` `[N, F]`, NaN for a missing value;
///
/// and `labels` is `Kind::Int64` `[N]` (class indices) or `Kind::Float`
/// `[N]` (regression targets), both on the same device ([`Split::new`]
/// checks this; the fields are public for reading).
#[derive(Debug)]
pub struct Split {
    /// Pixels `u8 [N, C, H, W]`, series `f32 [N, C, L]` or a table
    /// `f32 [N, F]`.
    pub inputs: Tensor,
    /// Class indices `i64 [N]`, or regression targets `f32 [N]`.
    pub labels: Tensor,
}

impl Split {
    /// A split from its tensors, checking kinds, shapes and devices.
    pub fn new(inputs: Tensor, labels: Tensor) -> Result<Split> {
        let bad = |reason: String| Err(DataError::Config(reason));
        let (kind, dim) = (inputs.kind(), inputs.dim());
        let layout_ok = match dim {
            4 => kind == Kind::Uint8,
            2 | 3 => kind == Kind::Float,
            _ => false,
        };
        if !layout_ok {
            let what = if dim == 4 {
                "images must be u8 [N, C, H, W]"
            } else {
                "inputs must be images u8 [N, C, H, W], series f32 [N, C, L] or a table f32 [N, F]"
            };
            return bad(format!("{what}, got {kind:?} {:?}", inputs.size()));
        }
        let n = inputs.size()[0];
        if !matches!(labels.kind(), Kind::Int64 | Kind::Float) || labels.size() != [n] {
            return bad(format!(
                "labels must be i64 [{n}] (classes) or f32 [{n}] (regression targets), got {:?} {:?}",
                labels.kind(),
                labels.size()
            ));
        }
        if inputs.device() != labels.device() {
            return bad("inputs and labels are on different devices".into());
        }
        Ok(Split { inputs, labels })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[C, H, W]` of each image. Series map to `[C, 1, L]` and a table to
    /// `[1, 1, F]`, as in [`crate::Meta`].
    pub fn image_shape(&self) -> [i64; 3] {
        match self.inputs.size()[..] {
            [_, c, h, w] => [c, h, w],
            [_, c, l] => [c, 1, l],
            [_, f] => [1, 1, f],
            _ => [0, 0, 0],
        }
    }

    /// The shape of one sample: `[C, H, W]`, `[C, L]` or `[F]`.
    pub fn sample_shape(&self) -> Vec<i64> {
        self.inputs.size().split_off(1)
    }

    /// Whether the inputs are images (u8 `[N, C, H, W]`).
    pub fn is_images(&self) -> bool {
        self.inputs.kind() == Kind::Uint8
    }

    /// Classification for class-index labels, regression for f32 targets.
    pub fn task(&self) -> Task {
        if self.labels.kind() == Kind::Float {
            Task::Regression
        } else {
            Task::Classification
        }
    }

    /// The device the tensors are on.
    pub fn device(&self) -> Device {
        self.inputs.device()
    }

    /// A second handle on the same tensors (no copy).
    pub fn shallow_clone(&self) -> Split {
        Split {
            inputs: self.inputs.shallow_clone(),
            labels: self.labels.shallow_clone(),
        }
    }

    /// The samples at `indices`, in that order (a copy).
    ///
    /// # Panics
    /// If an index is out of range, or libtorch fails (out of memory).
    pub fn select(&self, indices: &[i64]) -> Split {
        let index = Tensor::from_slice(indices).to_device(self.device());
        Split {
            inputs: self.inputs.index_select(0, &index),
            labels: self.labels.index_select(0, &index),
        }
    }

    /// A seeded random subset of `min(n, len)` samples, kept in their
    /// original order: for proxy runs on a CPU.
    pub fn subset(&self, n: usize, seed: u64) -> Split {
        let mut order = permutation(self.len(), seed);
        order.truncate(n);
        order.sort_unstable();
        self.select(&order)
    }

    /// A copy on `device` (the same tensors if already there).
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            inputs: self.inputs.to_device(device),
            labels: self.labels.to_device(device),
        }
    }

    /// The class labels, on the CPU; empty for regression targets.
    pub fn labels_vec(&self) -> Vec<i64> {
        if self.task() != Task::Classification {
            return Vec::new();
        }
        let labels = self.labels.to_device(Device::Cpu);
        Vec::<i64>::try_from(&labels).unwrap_or_default()
    }

    /// The regression targets, on the CPU; empty for class labels.
    pub fn targets_vec(&self) -> Vec<f32> {
        if self.task() != Task::Regression {
            return Vec::new();
        }
        let labels = self.labels.to_device(Device::Cpu);
        Vec::<f32>::try_from(&labels).unwrap_or_default()
    }

    /// How many samples each of `classes` classes has; labels outside
    /// `0..classes` are not counted (and regression targets not at all).
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for label in self.labels_vec() {
            if let Some(c) = usize::try_from(label).ok().and_then(|l| counts.get_mut(l)) {
                *c += 1;
            }
        }
        counts
    }
}

/// A seeded permutation of `0..n` (Fisher-Yates with [`space::rng`]), the
/// same on every machine.
pub fn permutation(n: usize, seed: u64) -> Vec<i64> {
    let mut order: Vec<i64> = (0..n as i64).collect();
    order.shuffle(&mut space::rng(seed));
    order
}

/// Split `train` into (train, validation), seeded. Classification is
/// stratified: of each class, `round(count * val_fraction)` samples, chosen
/// by a seeded shuffle, go to validation. Regression: `round(len *
/// val_fraction)` samples chosen by one seeded shuffle. Both parts keep the
/// original order. `val_fraction` is clamped to `[0, 1]` (NaN counts as 0).
pub fn split_train_val(train: &Split, val_fraction: f64, seed: u64) -> (Split, Split) {
    let strata = match train.task() {
        Task::Classification => train.labels_vec(),
        Task::Regression => vec![0; train.len()],
    };
    let is_val = holdout_mask(&strata, val_fraction, seed);
    let (mut keep, mut val) = (Vec::new(), Vec::new());
    for (i, v) in is_val.into_iter().enumerate() {
        if v { &mut val } else { &mut keep }.push(i as i64);
    }
    (train.select(&keep), train.select(&val))
}

/// Which samples a seeded, stratified holdout takes: grouping the samples
/// by `strata` (in ascending order of the group), each group is shuffled in
/// turn by one [`space::rng`] stream and its first `round(len * fraction)`
/// members are taken. `fraction` is clamped to `[0, 1]` (NaN counts as 0).
pub(crate) fn holdout_mask(strata: &[i64], fraction: f64, seed: u64) -> Vec<bool> {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let mut by_class: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (i, &label) in strata.iter().enumerate() {
        by_class.entry(label).or_default().push(i as i64);
    }
    let mut rng = space::rng(seed);
    let mut taken = vec![false; strata.len()];
    for members in by_class.values_mut() {
        members.shuffle(&mut rng);
        let take = (members.len() as f64 * fraction).round() as usize;
        for &i in &members[..take.min(members.len())] {
            taken[i as usize] = true;
        }
    }
    taken
}
