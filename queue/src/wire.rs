//! The wire boundary: every message that crosses Redis, in one place. Jobs
//! travel in a versioned [`Envelope`]; results as [`JobResult`]. Both sides
//! validate: producers encode only what passes [`Envelope::validate`],
//! consumers decode through [`Envelope::decode`], which rejects unknown
//! versions, oversized and malformed messages with a reason.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest payload a job may carry, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The largest progress note a job may record ([`crate::Queue::progress`]).
pub const MAX_PROGRESS_BYTES: usize = 16 * 1024;

/// Check a progress note: JSON, at most [`MAX_PROGRESS_BYTES`].
pub fn validate_progress(note: &str) -> Result<(), WireError> {
    let bad = |reason: String| WireError::Malformed {
        what: "progress note",
        reason,
    };
    if note.len() > MAX_PROGRESS_BYTES {
        return Err(bad(format!(
            "{} bytes is over the {MAX_PROGRESS_BYTES}-byte limit",
            note.len()
        )));
    }
    serde_json::from_str::<serde_json::Value>(note)
        .map(|_| ())
        .map_err(|e| bad(format!("not JSON: {e}")))
}

/// The longest id (search or job) accepted.
pub const MAX_ID_LEN: usize = 96;

/// Why a message was rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WireError {
    /// The message says it is a version this build does not know.
    #[error("unknown schema version {found} (this build reads version {SCHEMA_VERSION})")]
    UnknownVersion {
        /// The version in the message.
        found: u64,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {bytes} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")]
    TooLarge {
        /// Size of the payload's JSON.
        bytes: usize,
    },
    /// The message is not well-formed.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which kind of message.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn malformed(what: &'static str, reason: impl Into<String>) -> WireError {
    WireError::Malformed {
        what,
        reason: reason.into(),
    }
}

/// Check an id: 1 to [`MAX_ID_LEN`] characters of `[A-Za-z0-9_.-]`, so it
/// can sit inside a Redis key and a file name.
pub fn validate_id(what: &'static str, id: &str) -> Result<(), WireError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(malformed(
            what,
            format!("id {id:?} must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(malformed(
            what,
            format!("id {id:?} has the character {c:?}; ids use letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// What a job asks a trainer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Evaluate one candidate architecture ([`EvalJob`] payload).
    Evaluate,
    /// Do nothing and report success; measures the queue itself.
    Noop,
    /// Run one DARTS search: train a supernet and derive a genotype
    /// ([`DartsJob`] payload).
    Darts,
}

/// Every job on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Schema version, [`SCHEMA_VERSION`].
    pub v: u32,
    /// The job's id, assigned by the queue at enqueue.
    pub job_id: String,
    /// The search the job belongs to.
    pub search_id: String,
    /// What to do.
    pub kind: JobKind,
    /// Which delivery this is, from 1; set by the queue at claim.
    pub attempt: u32,
    /// When the job was first enqueued, ms since the Unix epoch.
    pub created_ms: u64,
    /// The kind's payload.
    pub payload: serde_json::Value,
}

impl Envelope {
    /// Check ids and the payload size.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.v != SCHEMA_VERSION {
            return Err(WireError::UnknownVersion {
                found: self.v.into(),
            });
        }
        // The queue fills in the job id at enqueue; a placeholder is fine before that.
        if self.job_id != crate::keys::ID_PLACEHOLDER {
            validate_id("job envelope", &self.job_id)?;
        }
        validate_id("job envelope", &self.search_id)?;
        let bytes = serde_json::to_vec(&self.payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if bytes > MAX_PAYLOAD_BYTES {
            return Err(WireError::TooLarge { bytes });
        }
        Ok(())
    }

    /// Encode, after validating.
    pub fn encode(&self) -> Result<String, WireError> {
        self.validate()?;
        serde_json::to_string(self).map_err(|e| malformed("job envelope", e.to_string()))
    }

    /// Decode and validate. The version is checked before the shape, so a
    /// message from a newer schema is named as such.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        if text.len() > MAX_PAYLOAD_BYTES + 4096 {
            return Err(WireError::TooLarge { bytes: text.len() });
        }
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| malformed("job envelope", e.to_string()))?;
        match raw.get("v").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => return Err(WireError::UnknownVersion { found: v }),
            None => return Err(malformed("job envelope", "no schema version field \"v\"")),
        }
        let env: Envelope =
            serde_json::from_value(raw).map_err(|e| malformed("job envelope", e.to_string()))?;
        env.validate()?;
        Ok(env)
    }

    /// The payload as the type `T`, or why it is not one.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, WireError> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| malformed("job payload", format!("{:?} payload: {e}", self.kind)))
    }
}

/// How a trainer evaluates a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EvaluatorSpec {
    /// Look the cell up in the NAS-Bench-201 table.
    Nb201 {
        /// cifar10, cifar100 or imagenet.
        dataset: String,
        /// Sleep the table's train_time times this factor (0: no sleep).
        #[serde(default)]
        time_scale: f64,
    },
    /// Build the network with libtorch and train it on the user's data.
    Torch {
        /// The dataset's path, as trainers see it (the same mount on every host).
        data: String,
        /// idx, cifar10, cifar100 or folder; detected when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        /// The dataset's fingerprint; a trainer whose copy differs refuses the job.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
        /// How to train.
        #[serde(default)]
        settings: Box<TrainSettings>,
    },
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
    /// Check every setting; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |field: &str, why: String| Err(format!("{field}: {why}"));
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !(self.epochs.is_finite() && self.epochs > 0.0) {
            return bad(
                "epochs",
                format!("{} must be a positive number", self.epochs),
            );
        }
        if self.max_steps == Some(0) {
            return bad("max_steps", "must be at least 1".into());
        }
        if self.batch_size < 1 {
            return bad(
                "batch_size",
                format!("{} must be at least 1", self.batch_size),
            );
        }
        for (field, v) in [
            ("lr", self.lr),
            ("lr_min", self.lr_min),
            ("weight_decay", self.weight_decay),
            ("auxiliary_weight", self.auxiliary_weight),
        ] {
            if !finite_nonneg(v) {
                return bad(field, format!("{v} must be a finite number >= 0"));
            }
        }
        for (field, v) in [
            ("momentum", self.momentum),
            ("label_smoothing", self.label_smoothing),
            ("drop_path", self.drop_path),
        ] {
            if !(finite_nonneg(v) && v < 1.0) {
                return bad(field, format!("{v} must be in [0, 1)"));
            }
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return bad(
                "val_fraction",
                format!("{} must be in (0, 1)", self.val_fraction),
            );
        }
        if let Some(c) = self.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return bad("grad_clip", format!("{c} must be a positive number"));
            }
        }
        if self.channels < 1 || self.layers < 1 {
            return bad("channels/layers", "must be at least 1".into());
        }
        if self.crop_padding < 0 || self.cutout < 0 {
            return bad("crop_padding/cutout", "must be >= 0".into());
        }
        if self.train_subset == Some(0) {
            return bad("train_subset", "must be at least 1".into());
        }
        Ok(())
    }
}

/// Payload of an [`JobKind::Evaluate`] job: one candidate architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalJob {
    /// The space, with its settings.
    pub space: space::Space,
    /// The genotype's canonical text.
    pub genotype: String,
    /// Its stable hash; checked against `genotype` by the trainer.
    pub hash: String,
    /// How to evaluate it.
    pub evaluator: EvaluatorSpec,
    /// Seed of the evaluation (training seed; table: which run).
    pub seed: u64,
}

impl EvalJob {
    /// The job for `genotype`, with its hash filled in.
    pub fn new(
        space: space::Space,
        genotype: &space::Genotype,
        evaluator: EvaluatorSpec,
        seed: u64,
    ) -> Self {
        Self {
            space,
            genotype: genotype.canonical_text(),
            hash: genotype.hash().to_string(),
            evaluator,
            seed,
        }
    }

    /// Parse and check the genotype: it must be in the space and match the hash.
    pub fn genotype(&self) -> Result<space::Genotype, WireError> {
        let g = self
            .space
            .parse(&self.genotype)
            .map_err(|e| malformed("job payload", format!("genotype {:?}: {e}", self.genotype)))?;
        if g.hash().to_string() != self.hash {
            return Err(malformed(
                "job payload",
                format!(
                    "hash {} does not match genotype {} (hash {})",
                    self.hash,
                    self.genotype,
                    g.hash()
                ),
            ));
        }
        Ok(g)
    }
}

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
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
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
pub const MAX_DARTS_EPOCHS: u32 = 10_000;

impl DartsSettings {
    /// Check every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |field, reason: String| Err(SettingError::new(field, reason));
        if !(1..=MAX_DARTS_EPOCHS).contains(&self.epochs) {
            return bad(
                "epochs",
                format!("{} is not between 1 and {MAX_DARTS_EPOCHS}", self.epochs),
            );
        }
        for (field, v, max) in [
            ("batch_size", self.batch_size, 65_536),
            ("channels", self.channels, 4096),
            ("layers", self.layers.unwrap_or(1), 1024),
            ("crop_padding", self.crop_padding, 1024),
        ] {
            let min = i64::from(field != "crop_padding");
            if !(min..=max).contains(&v) {
                return bad(field, format!("{v} is not between {min} and {max}"));
            }
        }
        for (field, v) in [
            ("lr", self.lr),
            ("lr_min", self.lr_min),
            ("weight_decay", self.weight_decay),
            ("arch_lr", self.arch_lr),
            ("arch_weight_decay", self.arch_weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("{v} must be a finite number >= 0"));
            }
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return bad("momentum", format!("{} must be in [0, 1)", self.momentum));
        }
        if let Some(c) = self.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return bad("grad_clip", format!("{c} must be a positive number"));
            }
        }
        if let Some(n) = self.train_subset {
            if n < 2 {
                return bad(
                    "train_subset",
                    format!("{n} images cannot be split into two halves; ask for at least 2"),
                );
            }
        }
        Ok(())
    }
}

/// Payload of a [`JobKind::Darts`] job: one DARTS search on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsJob {
    /// The cell space searched: `darts` or `nb201`.
    pub space: space::Space,
    /// The dataset's path, as trainers see it; its training split is what
    /// the search divides into halves.
    pub data: String,
    /// idx, cifar10, cifar100 or folder; detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The dataset's fingerprint; a trainer whose copy differs refuses the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How to search.
    #[serde(default)]
    pub settings: DartsSettings,
}

impl DartsJob {
    /// Check the space (DARTS searches cover the `darts` and `nb201` cell
    /// spaces) and the settings.
    pub fn validate(&self) -> Result<(), SettingError> {
        match self.space {
            space::Space::Darts | space::Space::Nb201 => {}
            other => {
                return Err(SettingError::new(
                    "space",
                    format!(
                        "a DARTS search covers the darts and nb201 cell spaces, not {}",
                        other.kind()
                    ),
                ))
            }
        }
        self.settings.validate()
    }
}

/// Scores of an evaluated candidate.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Validation accuracy, percent.
    pub val_acc: f64,
    /// Validation loss, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Test accuracy, percent, for final evaluations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_acc: Option<f64>,
    /// Parameter count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<u64>,
    /// Training time in seconds (simulated for table lookups).
    #[serde(default)]
    pub train_seconds: f64,
    /// Training throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_s: Option<f64>,
    /// Epochs trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<f64>,
    /// Where it ran (cpu, cuda:0, table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where the trained weights were saved (safetensors), for final
    /// evaluations on trainers with an artifacts folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
    /// The architecture a search derived, as canonical text in its space
    /// (DARTS jobs: the genotype derived from α at the end of the search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genotype: Option<String>,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Evaluated.
    Ok(Metrics),
    /// Training diverged (NaN or infinite loss): a result, not a retry.
    Diverged {
        /// What diverged, and when.
        reason: String,
    },
    /// Gave up: the job is in the dead-letter list.
    Dead {
        /// The last failure.
        reason: String,
    },
}

/// A job's result, as recorded by the queue and read by the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// Schema version.
    pub v: u32,
    /// The job.
    pub job_id: String,
    /// Its search.
    pub search_id: String,
    /// The attempt that produced this result.
    pub attempt: u32,
    /// The worker that produced it (empty for reaped jobs of unknown worker).
    pub worker: String,
    /// When it was recorded, ms since the Unix epoch.
    pub finished_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl JobResult {
    /// Decode and validate.
    pub fn decode(text: &str) -> Result<Self, WireError> {
        let r: JobResult =
            serde_json::from_str(text).map_err(|e| malformed("job result", e.to_string()))?;
        if r.v != SCHEMA_VERSION {
            return Err(WireError::UnknownVersion { found: r.v.into() });
        }
        validate_id("job result", &r.job_id)?;
        validate_id("job result", &r.search_id)?;
        Ok(r)
    }
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Envelope {
        Envelope {
            v: SCHEMA_VERSION,
            job_id: "s1.0000000001".into(),
            search_id: "s1".into(),
            kind: JobKind::Noop,
            attempt: 1,
            created_ms: 5,
            payload: serde_json::json!({}),
        }
    }

    #[test]
    fn envelopes_round_trip_and_bad_ones_are_named() {
        let e = env();
        assert_eq!(Envelope::decode(&e.encode().unwrap()).unwrap(), e);
        let newer = e.encode().unwrap().replace("\"v\":1", "\"v\":2");
        assert_eq!(
            Envelope::decode(&newer),
            Err(WireError::UnknownVersion { found: 2 })
        );
        let err = Envelope::decode("{\"v\":1,\"job_id\":3}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("malformed job envelope:"), "{err}");
        let err = Envelope::decode("not json").unwrap_err().to_string();
        assert!(err.starts_with("malformed job envelope:"), "{err}");
        let kind = e.encode().unwrap().replace("\"noop\"", "\"mine_bitcoin\"");
        assert!(Envelope::decode(&kind)
            .unwrap_err()
            .to_string()
            .contains("mine_bitcoin"));
        let mut big = env();
        big.payload = serde_json::json!({ "x": "a".repeat(MAX_PAYLOAD_BYTES) });
        assert!(matches!(big.encode(), Err(WireError::TooLarge { .. })));
        let mut bad = env();
        bad.search_id = "a b".into();
        assert!(bad.encode().unwrap_err().to_string().contains("' '"));
    }

    #[test]
    fn eval_jobs_check_their_genotype_and_hash() {
        let space = space::Space::Nb201;
        let g = space.sample(&mut space::rng(1)).unwrap();
        let ev = EvaluatorSpec::Nb201 {
            dataset: "cifar10".into(),
            time_scale: 0.0,
        };
        let job = EvalJob::new(space, &g, ev, 3);
        assert_eq!(job.genotype().unwrap(), g);
        let mut wrong = job.clone();
        wrong.hash = "0000000000000000".into();
        assert!(wrong
            .genotype()
            .unwrap_err()
            .to_string()
            .contains("does not match"));
        let mut bad = job;
        bad.genotype = "|x~0|".into();
        assert!(bad
            .genotype()
            .unwrap_err()
            .to_string()
            .contains("genotype \"|x~0|\""));
    }

    #[test]
    fn results_serialize_as_the_lua_dead_event_does() {
        // reap.lua and fail.lua write dead events with cjson in this shape.
        let lua = r#"{"v":1,"job_id":"s.0000000001","search_id":"s","attempt":3,"worker":"w","finished_ms":1764403200123,"outcome":{"dead":{"reason":"boom"}}}"#;
        let r = JobResult::decode(lua).unwrap();
        assert_eq!(
            r.outcome,
            Outcome::Dead {
                reason: "boom".into()
            }
        );
        let ok = JobResult {
            outcome: Outcome::Ok(Metrics {
                val_acc: 91.5,
                ..Default::default()
            }),
            ..r
        };
        let back = JobResult::decode(&serde_json::to_string(&ok).unwrap()).unwrap();
        assert_eq!(back, ok);
    }

    #[test]
    fn darts_jobs_round_trip_with_defaults_and_name_bad_settings() {
        let job: DartsJob =
            serde_json::from_str(r#"{"space":{"kind":"darts"},"data":"/data/cifar10"}"#).unwrap();
        assert_eq!(job.settings, DartsSettings::default());
        assert_eq!(job.settings.order, DartsOrder::First);
        job.validate().unwrap();
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<DartsJob>(&text).unwrap(), job);
        let second: DartsJob = serde_json::from_str(
            r#"{"space":{"kind":"nb201"},"data":"d","settings":{"order":"second","epochs":3,"layers":2}}"#,
        )
        .unwrap();
        assert_eq!(second.settings.order, DartsOrder::Second);
        assert_eq!(second.settings.layers, Some(2));
        assert_eq!(second.settings.arch_lr, 3e-4);
        let unknown = serde_json::from_str::<DartsJob>(
            r#"{"space":{"kind":"darts"},"data":"d","settings":{"arch_learning_rate":1}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("arch_learning_rate"), "{unknown}");
        let mut bad = job.clone();
        bad.space = space::Space::Pnas { blocks: 2 };
        assert_eq!(bad.validate().unwrap_err().field, "space");
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

    #[test]
    fn metrics_carry_a_derived_genotype_only_when_there_is_one() {
        let old = r#"{"val_acc":50.0,"train_seconds":1.0}"#;
        let m: Metrics = serde_json::from_str(old).unwrap();
        assert_eq!(m.genotype, None);
        assert!(!serde_json::to_string(&m).unwrap().contains("genotype"));
        let with = Metrics {
            genotype: Some("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|".into()),
            ..m
        };
        let back: Metrics = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}
