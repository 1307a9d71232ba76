//! Batches for training: per epoch a seeded permutation, then per batch one
//! `index_select` on the split's u8 tensor (on its device), optional
//! augmentation as whole-batch tensor ops, conversion to f32 and per-channel
//! normalization. No per-sample allocation, no loop over pixels. Tables and
//! series come preprocessed (f32) and are batched as they are.

use crate::error::{DataError, Result};
use crate::split::Split;
use rand::seq::SliceRandom;
use rand::Rng;
use space::SpaceRng;
use tch::{Device, Kind, Tensor};

/// Per-channel mean and standard deviation of pixels scaled to `[0, 1]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalize {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Standard deviation per channel (never 0: constant channels get 1).
    pub std: Vec<f64>,
}

impl Normalize {
    /// The statistics of `split` (population std over all pixels), exact:
    /// from a 256-bin histogram of each channel's u8 values. For series and
    /// tables, the mean and std of each channel ([`Split::image_shape`]'s
    /// first entry) over its non-NaN values, unscaled.
    pub fn from_split(split: &Split) -> Normalize {
        if !split.is_images() {
            return Self::from_values(split);
        }
        let channels = split.image_shape()[0];
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in 0..channels {
            let values = split.inputs.select(1, c).reshape([-1]);
            let hist = values.bincount(None::<Tensor>, 256).to_device(Device::Cpu);
            let hist = Vec::<i64>::try_from(&hist).unwrap_or_default();
            let count = hist.iter().sum::<i64>().max(1) as f64;
            let moment = |k: i32| -> f64 {
                let sum: f64 = hist
                    .iter()
                    .enumerate()
                    .map(|(v, &n)| n as f64 * (v as f64 / 255.0).powi(k))
                    .sum();
                sum / count
            };
            let m = moment(1);
            let sd = (moment(2) - m * m).max(0.0).sqrt();
            mean.push(m);
            std.push(if sd > 1e-12 { sd } else { 1.0 });
        }
        Normalize { mean, std }
    }

    /// Mean and std per channel of f32 series `[N, C, L]` (a table `[N, F]`
    /// is one channel) over the values that are not NaN.
    fn from_values(split: &Split) -> Normalize {
        let channels = split.image_shape()[0];
        let x = split
            .inputs
            .to_device(Device::Cpu)
            .to_kind(Kind::Double)
            .reshape([split.len() as i64, channels, -1]);
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in 0..channels {
            let values = x.select(1, c).reshape([-1]);
            let values = Vec::<f64>::try_from(&values).unwrap_or_default();
            let finite: Vec<f64> = values.into_iter().filter(|v| !v.is_nan()).collect();
            let count = finite.len().max(1) as f64;
            let m = finite.iter().sum::<f64>() / count;
            let var = finite.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / count;
            let sd = var.max(0.0).sqrt();
            mean.push(m);
            std.push(if sd > 1e-12 { sd } else { 1.0 });
        }
        Normalize { mean, std }
    }

    /// No normalization beyond scaling to `[0, 1]`.
    pub fn identity(channels: usize) -> Normalize {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }
}

/// Augmentation of training batches. The default does nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Random crop after padding each side by this many black (0) pixels,
    /// before normalization, as torchvision's `RandomCrop` (0: off).
    pub crop_padding: i64,
    /// Probability of mirroring a sample left-right.
    pub flip_prob: f64,
    /// Side of a square set to 0 after normalization, centred at a random
    /// pixel and clipped at the border (DeVries & Taylor 2017; 0: off).
    pub cutout: i64,
}

impl Augment {
    /// The CIFAR recipe: pad 4 and crop, flip half the samples.
    pub fn standard() -> Augment {
        Augment {
            crop_padding: 4,
            flip_prob: 0.5,
            cutout: 0,
        }
    }
}

/// How a [`Loader`] batches a split.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch (seeded); off: the split's order.
    pub shuffle: bool,
    /// Drop the last batch if it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Augmentation applied to each batch.
    pub augment: Augment,
    /// Seed of the shuffles and the augmentation.
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: false,
            augment: Augment::default(),
            seed: 0,
        }
    }
}

/// Batches of one split, epoch after epoch.
#[derive(Debug)]
pub struct Loader<'a> {
    split: &'a Split,
    config: LoaderConfig,
    /// Images: `1 / (255 std)`, shape `[1, C, 1, 1]`, on the split's
    /// device; `None` for preprocessed tables and series.
    scale: Option<Tensor>,
    /// Images: `mean / std`, shape `[1, C, 1, 1]`; `None` otherwise.
    shift: Option<Tensor>,
}

impl<'a> Loader<'a> {
    /// A loader over `split` (images only, for now), normalizing with
    /// `normalize`.
    pub fn new(
        split: &'a Split,
        normalize: &Normalize,
        config: LoaderConfig,
    ) -> Result<Loader<'a>> {
        let c = split.image_shape()[0];
        let a = &config.augment;
        let bad = |reason: String| Err(DataError::Config(reason));
        if config.batch_size == 0 {
            return bad("batch size 0".into());
        }
        if !split.is_images() {
            // Tables and series come preprocessed (f32): batched as they are.
            if *a != Augment::default() {
                return bad(format!(
                    "crops, flips and cutout are for images; these inputs are {:?}",
                    split.inputs.size()
                ));
            }
            return Ok(Loader {
                split,
                config,
                scale: None,
                shift: None,
            });
        }
        if normalize.mean.len() != c as usize || normalize.std.len() != c as usize {
            return bad(format!(
                "normalization has {} means and {} stds for {c} channels",
                normalize.mean.len(),
                normalize.std.len()
            ));
        }
        if normalize.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return bad(format!(
                "normalization std {:?} must be positive",
                normalize.std
            ));
        }
        if !(0.0..=1.0).contains(&a.flip_prob) {
            return bad(format!("flip probability {} is not in [0, 1]", a.flip_prob));
        }
        if a.crop_padding < 0 || a.cutout < 0 {
            return bad(format!(
                "crop padding {} and cutout {} must not be negative",
                a.crop_padding, a.cutout
            ));
        }
        let per_channel = |v: Vec<f64>| -> Result<Tensor> {
            Ok(Tensor::f_from_slice(&v)?
                .f_to_kind(Kind::Float)?
                .f_view([1, c, 1, 1])?
                .f_to_device(split.device())?)
        };
        let scale = per_channel(normalize.std.iter().map(|s| 1.0 / (255.0 * s)).collect())?;
        let shift = per_channel(
            normalize
                .mean
                .iter()
                .zip(&normalize.std)
                .map(|(m, s)| m / s)
                .collect(),
        )?;
        Ok(Loader {
            split,
            config,
            scale: Some(scale),
            shift: Some(shift),
        })
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.split.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of epoch `epoch`: the same seed and epoch give the same
    /// batches (and augmentation) on every run.
    pub fn epoch(&self, epoch: u64) -> Batches<'_> {
        let mut rng = space::rng(self.config.seed);
        rng.set_stream(epoch);
        let n = self.split.len();
        let mut order: Vec<i64> = (0..n as i64).collect();
        if self.config.shuffle {
            order.shuffle(&mut rng);
        }
        Batches {
            loader: self,
            order: Tensor::from_slice(&order).to_device(self.split.device()),
            next: 0,
            left: self.len(),
            rng,
        }
    }
}

/// One epoch's batches: `(images, labels)`, images `f32 [B, C, H, W]`
/// normalized, labels `i64 [B]`, on the split's device.
///
/// # Panics
/// Only where libtorch fails (out of device memory), like tch's own ops.
#[derive(Debug)]
pub struct Batches<'a> {
    loader: &'a Loader<'a>,
    /// The epoch's sample order, on the split's device.
    order: Tensor,
    /// Position in `order` of the next batch.
    next: i64,
    /// Batches still to yield.
    left: usize,
    /// Draws the augmentation, after the shuffle.
    rng: SpaceRng,
}

impl Iterator for Batches<'_> {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let loader = self.loader;
        let n = loader.split.len() as i64;
        let b = (loader.config.batch_size as i64).min(n - self.next);
        let index = self.order.narrow(0, self.next, b);
        self.next += b;
        let mut x = loader.split.inputs.index_select(0, &index);
        let labels = loader.split.labels.index_select(0, &index);
        let aug = loader.config.augment;
        if aug.crop_padding > 0 {
            x = crop(&x, aug.crop_padding, &mut self.rng);
        }
        if aug.flip_prob > 0.0 {
            x = flip(&x, aug.flip_prob, &mut self.rng);
        }
        let mut x = match (&loader.scale, &loader.shift) {
            (Some(scale), Some(shift)) => x.to_kind(Kind::Float) * scale - shift,
            _ => x,
        };
        if aug.cutout > 0 {
            x = cutout(&x, aug.cutout, &mut self.rng);
        }
        Some((x, labels))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Batches<'_> {}

/// `len` values drawn from `0..=max`, as an i64 tensor on `device`.
fn offsets(len: i64, max: i64, rng: &mut SpaceRng, device: Device) -> Tensor {
    let v: Vec<i64> = (0..len).map(|_| rng.random_range(0..=max)).collect();
    Tensor::from_slice(&v).to_device(device)
}

/// Zero-pad by `pad` on each side, then take an `H x W` window at a random
/// offset per sample: two gathers with per-sample row and column indices.
pub(crate) fn crop(x: &Tensor, pad: i64, rng: &mut SpaceRng) -> Tensor {
    let (b, c, h, w) = x.size4().unwrap_or_default();
    let dev = x.device();
    let padded = x.constant_pad_nd([pad, pad, pad, pad]);
    let dy = offsets(b, 2 * pad, rng, dev).view([b, 1]);
    let dx = offsets(b, 2 * pad, rng, dev).view([b, 1]);
    let rows = dy + Tensor::arange(h, (Kind::Int64, dev)).view([1, h]);
    let cols = dx + Tensor::arange(w, (Kind::Int64, dev)).view([1, w]);
    let rows = rows
        .view([b, 1, h, 1])
        .expand([b, c, h, w + 2 * pad], false);
    let cols = cols.view([b, 1, 1, w]).expand([b, c, h, w], false);
    padded.gather(2, &rows, false).gather(3, &cols, false)
}

/// Mirror each sample left-right with probability `p`.
pub(crate) fn flip(x: &Tensor, p: f64, rng: &mut SpaceRng) -> Tensor {
    let b = x.size()[0];
    let mask: Vec<bool> = (0..b).map(|_| rng.random_bool(p)).collect();
    let mask = Tensor::from_slice(&mask)
        .to_device(x.device())
        .view([b, 1, 1, 1]);
    x.flip([3]).where_self(&mask, x)
}

/// Zero a `side x side` square per sample, centred at a random pixel.
pub(crate) fn cutout(x: &Tensor, side: i64, rng: &mut SpaceRng) -> Tensor {
    let (b, _, h, w) = x.size4().unwrap_or_default();
    let dev = x.device();
    let inside = |len: i64, rng: &mut SpaceRng| {
        let lo = offsets(b, len - 1, rng, dev).view([b, 1]) - side / 2;
        let at = Tensor::arange(len, (Kind::Int64, dev)).view([1, len]);
        at.ge_tensor(&lo).logical_and(&at.lt_tensor(&(lo + side)))
    };
    let rows = inside(h, rng).view([b, 1, h, 1]);
    let cols = inside(w, rng).view([b, 1, 1, w]);
    x.masked_fill(&rows.logical_and(&cols), 0.0)
}
