//! How a job trains: [`TrainSettings`] for one candidate (the proxy
//! settings of a search, or the final settings its winners are retrained
//! with) and [`DartsSettings`] for a DARTS supernet search. Both validate
//! through one vocabulary of checks ([`Check`]) into one error type,
//! [`SettingError`], which names the field.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A setting that is out of range, named.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{field}: {reason}")]
pub struct SettingError {
    /// The setting (`arch_lr`, `space`, ...).
    pub field: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

impl SettingError {
    /// `field` is wrong because of `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Upper bounds of the settings both kinds share: far above any published
/// training recipe, so that a typo or a hostile spec fails at submit with
/// the field's name instead of exhausting every trainer's memory in turn.
/// The network's own bounds (channels, layers) are the trainer's model
/// limits (`trainer::model::LIMITS`, which a test there checks against
/// these).
pub mod bounds {
    /// Epochs of a training run or a DARTS search.
    pub const EPOCHS: u32 = 10_000;
    /// Optimizer steps of a training run.
    pub const STEPS: u64 = 100_000_000;
    /// Images (rows, series) per step.
    pub const BATCH_SIZE: i64 = 65_536;
    /// Initial channels (filters) of a network.
    pub const CHANNELS: i64 = 4096;
    /// Cells (layers) of a network.
    pub const LAYERS: i64 = 1024;
    /// Crop padding and cutout side, in pixels.
    pub const PIXELS: i64 = 1024;
    /// Images of a training subset.
    pub const TRAIN_SUBSET: usize = 100_000_000;
    /// Learning rates (of the weights, of α): far past divergence, but a
    /// typo of a few orders of magnitude more still fails at submit.
    pub const LR: f64 = 1e6;
    /// Weight decays (of the weights, of α).
    pub const WEIGHT_DECAY: f64 = 1.0;
    /// The auxiliary head's loss weight.
    pub const LOSS_WEIGHT: f64 = 10.0;
    /// A gradient clipping norm.
    pub const GRAD_CLIP: f64 = 1e6;
}

/// The checks every kind of settings is made of; each names the field
/// and says what values it takes.
struct Check;

impl Check {
    /// A finite number above 0, at most `max`.
    fn positive(field: &'static str, v: f64, max: f64) -> Result<(), SettingError> {
        if v.is_finite() && v > 0.0 && v <= max {
            return Ok(());
        }
        Err(SettingError::new(
            field,
            format!("{v} must be a positive number up to {max}"),
        ))
    }

    /// A finite number from 0 to `max`.
    fn non_negative(field: &'static str, v: f64, max: f64) -> Result<(), SettingError> {
        if v.is_finite() && (0.0..=max).contains(&v) {
            return Ok(());
        }
        Err(SettingError::new(
            field,
            format!("{v} must be a number from 0 to {max}"),
        ))
    }

    /// A share in [0, 1).
    fn fraction(field: &'static str, v: f64) -> Result<(), SettingError> {
        if v.is_finite() && (0.0..1.0).contains(&v) {
            return Ok(());
        }
        Err(SettingError::new(field, format!("{v} must be in [0, 1)")))
    }

    /// A share in (0, 1).
    fn open_fraction(field: &'static str, v: f64) -> Result<(), SettingError> {
        if v > 0.0 && v < 1.0 {
            return Ok(());
        }
        Err(SettingError::new(field, format!("{v} must be in (0, 1)")))
    }

    /// A whole number in `min..=max`.
    fn between(field: &'static str, v: i64, min: i64, max: i64) -> Result<(), SettingError> {
        if (min..=max).contains(&v) {
            return Ok(());
        }
        Err(SettingError::new(
            field,
            format!("{v} is not between {min} and {max}"),
        ))
    }

    /// A count in `min..=max` (counts are unsigned on the wire).
    fn count(field: &'static str, v: u64, min: u64, max: u64) -> Result<(), SettingError> {
        if (min..=max).contains(&v) {
            return Ok(());
        }
        Err(SettingError::new(
            field,
            format!("{v} is not between {min} and {max}"),
        ))
    }

    /// No clipping, or a positive norm.
    fn grad_clip(clip: Option<f64>) -> Result<(), SettingError> {
        clip.map_or(Ok(()), |c| {
            Self::positive("grad_clip", c, bounds::GRAD_CLIP)
        })
    }

    /// No subset, or one of `min` images or more.
    fn train_subset(subset: Option<usize>, min: u64) -> Result<(), SettingError> {
        subset.map_or(Ok(()), |n| {
            Self::count("train_subset", n as u64, min, bounds::TRAIN_SUBSET as u64)
        })
    }
}

/// How one candidate is trained: the proxy settings of a search, or the
/// final settings its winners are retrained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Training budget in epochs (fractions allowed).
    pub epochs: f64,
    /// Optional budget in optimizer steps; training stops at whichever
    /// budget ends first.
    pub max_steps: Option<u64>,
    /// Images per step.
    pub batch_size: i64,
    /// Initial learning rate of SGD.
    pub lr: f64,
    /// Learning rate at the end of the cosine schedule.
    pub lr_min: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Label smoothing of the cross-entropy loss (0: none).
    pub label_smoothing: f64,
    /// Clip the global gradient norm to this (none: no clipping).
    pub grad_clip: Option<f64>,
    /// Initial channels C (DARTS, NB201) or filters F (PNAS).
    pub channels: i64,
    /// Cells (DARTS), cells per stage N (NB201, PNAS).
    pub layers: i64,
    /// Weight of the auxiliary head's loss (0: no auxiliary head).
    pub auxiliary_weight: f64,
    /// Drop-path probability at the end of training (DARTS), ramped linearly.
    pub drop_path: f64,
    /// Random-crop padding in pixels (0: no cropping).
    pub crop_padding: i64,
    /// Random horizontal flips.
    pub flip: bool,
    /// Cutout square side in pixels (0: none).
    pub cutout: i64,
    /// Train on a seeded subset of this many training images (CPU proxies).
    pub train_subset: Option<usize>,
    /// Share of the training set held out for validation.
    pub val_fraction: f64,
    /// Also score the test set (final evaluations).
    pub test: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 1.0,
            max_steps: None,
            batch_size: 64,
            lr: 0.05,
            lr_min: 0.0,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
            label_smoothing: 0.0,
            grad_clip: Some(5.0),
            channels: 16,
            layers: 2,
            auxiliary_weight: 0.0,
            drop_path: 0.0,
            crop_padding: 0,
            flip: false,
            cutout: 0,
            train_subset: None,
            val_fraction: 0.1,
            test: false,
        }
    }
}

impl TrainSettings {
    /// Check every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), SettingError> {
        Check::positive("epochs", self.epochs, f64::from(bounds::EPOCHS))?;
        if let Some(steps) = self.max_steps {
            Check::count("max_steps", steps, 1, bounds::STEPS)?;
        }
        Check::between("batch_size", self.batch_size, 1, bounds::BATCH_SIZE)?;
        for (field, v, max) in [
            ("lr", self.lr, bounds::LR),
            ("lr_min", self.lr_min, bounds::LR),
            ("weight_decay", self.weight_decay, bounds::WEIGHT_DECAY),
            (
                "auxiliary_weight",
                self.auxiliary_weight,
                bounds::LOSS_WEIGHT,
            ),
        ] {
            Check::non_negative(field, v, max)?;
        }
        for (field, v) in [
            ("momentum", self.momentum),
            ("label_smoothing", self.label_smoothing),
            ("drop_path", self.drop_path),
        ] {
            Check::fraction(field, v)?;
        }
        Check::open_fraction("val_fraction", self.val_fraction)?;
        Check::grad_clip(self.grad_clip)?;
        Check::between("channels", self.channels, 1, bounds::CHANNELS)?;
        Check::between("layers", self.layers, 1, bounds::LAYERS)?;
        Check::between("crop_padding", self.crop_padding, 0, bounds::PIXELS)?;
        Check::between("cutout", self.cutout, 0, bounds::PIXELS)?;
        Check::train_subset(self.train_subset, 1)?;
        Ok(())
    }
}

/// How DARTS computes the gradient of the validation loss with respect to α.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DartsOrder {
    /// At the current weights, ignoring how a weight step would respond to
    /// α (the paper's ξ = 0; the reference `train_search.py`'s default).
    #[default]
    First,
    /// Through one unrolled weight step w' = w - ξ ∇w L_train, with the
    /// Hessian-vector product taken by finite differences (the paper's ξ > 0).
    Second,
}

impl DartsOrder {
    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Second => "second",
        }
    }
}

impl std::fmt::Display for DartsOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DartsOrder {
    type Err = SettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "first" | "1" => Ok(Self::First),
            "second" | "2" => Ok(Self::Second),
            _ => Err(SettingError::new(
                "order",
                format!("{s:?} is not first or second"),
            )),
        }
    }
}

/// How a DARTS search runs. The defaults are the paper's CIFAR-10 search
/// (Liu, Simonyan & Yang 2019, section 3.1.1 and the reference
/// `train_search.py`), with the first-order α step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DartsSettings {
    /// Epochs over the weights' half of the training data.
    pub epochs: u32,
    /// Images per step, in each half.
    pub batch_size: i64,
    /// Initial channels C of the supernet.
    pub channels: i64,
    /// DARTS: cells L; NAS-Bench-201: cells per stage N. None: the space's
    /// search default (DARTS 8, NAS-Bench-201 5).
    pub layers: Option<i64>,
    /// Initial learning rate of the weights' SGD (cosine schedule by epoch).
    pub lr: f64,
    /// Learning rate of the weights at the end of the cosine schedule.
    pub lr_min: f64,
    /// SGD momentum of the weights.
    pub momentum: f64,
    /// L2 weight decay of the weights.
    pub weight_decay: f64,
    /// Adam learning rate of α.
    pub arch_lr: f64,
    /// Adam L2 weight decay of α.
    pub arch_weight_decay: f64,
    /// First or second order α gradient.
    pub order: DartsOrder,
    /// Clip the weights' gradient norm to this (none: no clipping).
    pub grad_clip: Option<f64>,
    /// Search on a seeded subset of this many training images, split in
    /// halves like the whole set (CPU-sized searches).
    pub train_subset: Option<usize>,
    /// Random-crop padding in pixels of both halves' batches (0: none).
    pub crop_padding: i64,
    /// Random horizontal flips of both halves' batches.
    pub flip: bool,
    /// Seed of the halves, the initialization (weights and α) and the batches.
    pub seed: u64,
}

impl Default for DartsSettings {
    fn default() -> Self {
        Self {
            epochs: 50,
            batch_size: 64,
            channels: 16,
            layers: None,
            lr: 0.025,
            lr_min: 0.001,
            momentum: 0.9,
            weight_decay: 3e-4,
            arch_lr: 3e-4,
            arch_weight_decay: 1e-3,
            order: DartsOrder::First,
            grad_clip: Some(5.0),
            train_subset: None,
            crop_padding: 0,
            flip: false,
            seed: 0,
        }
    }
}

/// The largest number of epochs a DARTS job may ask for.
pub const MAX_DARTS_EPOCHS: u32 = bounds::EPOCHS;

impl DartsSettings {
    /// Check every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), SettingError> {
        Check::between(
            "epochs",
            i64::from(self.epochs),
            1,
            i64::from(MAX_DARTS_EPOCHS),
        )?;
        Check::between("batch_size", self.batch_size, 1, bounds::BATCH_SIZE)?;
        Check::between("channels", self.channels, 1, bounds::CHANNELS)?;
        Check::between("layers", self.layers.unwrap_or(1), 1, bounds::LAYERS)?;
        Check::between("crop_padding", self.crop_padding, 0, bounds::PIXELS)?;
        for (field, v, max) in [
            ("lr", self.lr, bounds::LR),
            ("lr_min", self.lr_min, bounds::LR),
            ("weight_decay", self.weight_decay, bounds::WEIGHT_DECAY),
            ("arch_lr", self.arch_lr, bounds::LR),
            (
                "arch_weight_decay",
                self.arch_weight_decay,
                bounds::WEIGHT_DECAY,
            ),
        ] {
            Check::non_negative(field, v, max)?;
        }
        Check::fraction("momentum", self.momentum)?;
        Check::grad_clip(self.grad_clip)?;
        if let Some(n @ 0..2) = self.train_subset {
            return Err(SettingError::new(
                "train_subset",
                format!("{n} images cannot be split into two halves; ask for at least 2"),
            ));
        }
        Check::train_subset(self.train_subset, 2)?;
        Ok(())
    }

    /// Check the settings for a search of `space`: DARTS searches cover the
    /// `darts` and `nb201` cell spaces.
    pub fn validate_for(&self, space: &space::Space) -> Result<(), SettingError> {
        match space {
            space::Space::Darts | space::Space::Nb201 | space::Space::Seq => self.validate(),
            other => Err(SettingError::new(
                "space",
                format!(
                    "a DARTS search covers the darts, nb201 and seq cell spaces, not {}",
                    other.kind()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_settings_name_the_field_out_of_range() {
        TrainSettings::default().validate().unwrap();
        for (field, edit) in [
            (
                "epochs",
                (|s: &mut TrainSettings| s.epochs = 0.0) as fn(&mut TrainSettings),
            ),
            ("max_steps", |s| s.max_steps = Some(0)),
            ("batch_size", |s| s.batch_size = 0),
            ("lr", |s| s.lr = f64::NAN),
            ("momentum", |s| s.momentum = 1.0),
            ("val_fraction", |s| s.val_fraction = 1.0),
            ("grad_clip", |s| s.grad_clip = Some(0.0)),
            ("channels", |s| s.channels = 0),
            ("cutout", |s| s.cutout = -1),
            ("train_subset", |s| s.train_subset = Some(0)),
        ] {
            let mut s = TrainSettings::default();
            edit(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().starts_with(&format!("{field}: ")));
        }
    }

    /// Issue 15, defect 8: the settings had no upper bounds, so a spec with
    /// a million channels exhausted every trainer's memory in turn.
    #[test]
    fn train_settings_have_upper_bounds() {
        for (field, edit) in [
            (
                "epochs",
                (|s: &mut TrainSettings| s.epochs = 1e9) as fn(&mut TrainSettings),
            ),
            ("max_steps", |s| s.max_steps = Some(u64::MAX)),
            ("batch_size", |s| s.batch_size = 10_000_000),
            ("lr", |s| s.lr = 1e7),
            ("lr_min", |s| s.lr_min = 1e7),
            ("weight_decay", |s| s.weight_decay = 1e6),
            ("auxiliary_weight", |s| s.auxiliary_weight = 1e6),
            ("grad_clip", |s| s.grad_clip = Some(1e300)),
            ("channels", |s| s.channels = 1_000_000),
            ("layers", |s| s.layers = 1_000_000),
            ("crop_padding", |s| s.crop_padding = 1_000_000),
            ("cutout", |s| s.cutout = 1_000_000),
            ("train_subset", |s| s.train_subset = Some(usize::MAX)),
        ] {
            let mut s = TrainSettings::default();
            edit(&mut s);
            let err = s.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().starts_with(&format!("{field}: ")));
        }
    }

    #[test]
    fn darts_settings_have_upper_bounds() {
        for (field, edit) in [
            (
                "lr",
                (|s: &mut DartsSettings| s.lr = 1e7) as fn(&mut DartsSettings),
            ),
            ("lr_min", |s| s.lr_min = 1e7),
            ("weight_decay", |s| s.weight_decay = 1e6),
            ("arch_lr", |s| s.arch_lr = 1e7),
            ("arch_weight_decay", |s| s.arch_weight_decay = 1e6),
            ("grad_clip", |s| s.grad_clip = Some(1e300)),
            ("train_subset", |s| s.train_subset = Some(usize::MAX)),
            ("channels", |s| s.channels = 1_000_000),
        ] {
            let mut s = DartsSettings::default();
            edit(&mut s);
            let err = s.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn darts_settings_name_the_field_out_of_range() {
        assert_eq!(
            DartsSettings::default()
                .validate_for(&space::Space::Pnas { blocks: 2 })
                .unwrap_err()
                .field,
            "space"
        );
        DartsSettings::default()
            .validate_for(&space::Space::Nb201)
            .unwrap();
        for (field, edit) in [
            (
                "epochs",
                (|s: &mut DartsSettings| s.epochs = 0) as fn(&mut DartsSettings),
            ),
            ("batch_size", |s| s.batch_size = 0),
            ("layers", |s| s.layers = Some(0)),
            ("arch_lr", |s| s.arch_lr = f64::NAN),
            ("arch_weight_decay", |s| s.arch_weight_decay = -1.0),
            ("momentum", |s| s.momentum = 1.0),
            ("grad_clip", |s| s.grad_clip = Some(0.0)),
            ("train_subset", |s| s.train_subset = Some(1)),
            ("crop_padding", |s| s.crop_padding = -1),
        ] {
            let mut s = DartsSettings::default();
            edit(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().starts_with(&format!("{field}: ")));
        }
        assert_eq!("second".parse::<DartsOrder>(), Ok(DartsOrder::Second));
        assert_eq!("third".parse::<DartsOrder>().unwrap_err().field, "order");
    }
}
