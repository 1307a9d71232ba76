//! One split of a dataset as two tensors, and the seeded ways to cut it:
//! subsets for small proxy runs and a stratified train/validation split.

use crate::error::{DataError, Result};
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

/// Images and labels of one split.
///
/// Invariant: `images` is `Kind::Uint8` of shape `[N, C, H, W]`, `labels`
/// is `Kind::Int64` of shape `[N]`, both on the same device ([`Split::new`]
/// checks this; the fields are public for reading).
#[derive(Debug)]
pub struct Split {
    /// Pixels, `u8` `[N, C, H, W]`.
    pub images: Tensor,
    /// Class indices, `i64` `[N]`.
    pub labels: Tensor,
}

impl Split {
    /// A split from its tensors, checking kinds, shapes and devices.
    pub fn new(images: Tensor, labels: Tensor) -> Result<Split> {
        let bad = |reason: String| Err(DataError::Config(reason));
        if images.kind() != Kind::Uint8 || images.dim() != 4 {
            return bad(format!(
                "images must be u8 [N, C, H, W], got {:?} {:?}",
                images.kind(),
                images.size()
            ));
        }
        if labels.kind() != Kind::Int64 || labels.size() != [images.size()[0]] {
            return bad(format!(
                "labels must be i64 [{}], got {:?} {:?}",
                images.size()[0],
                labels.kind(),
                labels.size()
            ));
        }
        if images.device() != labels.device() {
            return bad("images and labels are on different devices".into());
        }
        Ok(Split { images, labels })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `[C, H, W]` of each image.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }

    /// The device the tensors are on.
    pub fn device(&self) -> Device {
        self.images.device()
    }

    /// A second handle on the same tensors (no copy).
    pub fn shallow_clone(&self) -> Split {
        Split {
            images: self.images.shallow_clone(),
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
            images: self.images.index_select(0, &index),
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
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
        }
    }

    /// The labels, on the CPU.
    pub fn labels_vec(&self) -> Vec<i64> {
        let labels = self.labels.to_device(Device::Cpu);
        Vec::<i64>::try_from(&labels).unwrap_or_default()
    }

    /// How many samples each of `classes` classes has; labels outside
    /// `0..classes` are not counted.
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

/// Split `train` into (train, validation), seeded and stratified: of each
/// class, `round(count * val_fraction)` samples, chosen by a seeded shuffle,
/// go to validation. Both parts keep the original order. `val_fraction` is
/// clamped to `[0, 1]` (NaN counts as 0).
pub fn split_train_val(train: &Split, val_fraction: f64, seed: u64) -> (Split, Split) {
    let fraction = if val_fraction.is_nan() {
        0.0
    } else {
        val_fraction.clamp(0.0, 1.0)
    };
    let labels = train.labels_vec();
    let mut by_class: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i as i64);
    }
    let mut rng = space::rng(seed);
    let mut is_val = vec![false; labels.len()];
    for members in by_class.values_mut() {
        members.shuffle(&mut rng);
        let take = (members.len() as f64 * fraction).round() as usize;
        for &i in &members[..take.min(members.len())] {
            is_val[i as usize] = true;
        }
    }
    let (mut keep, mut val) = (Vec::new(), Vec::new());
    for (i, v) in is_val.into_iter().enumerate() {
        if v { &mut val } else { &mut keep }.push(i as i64);
    }
    (train.select(&keep), train.select(&val))
}
