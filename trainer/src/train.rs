//! Training one candidate with libtorch: split the training set (seeded),
//! build the network from the genotype, train it with SGD (momentum,
//! optional Nesterov, weight decay, cosine learning rate, label smoothing,
//! gradient clipping, DARTS auxiliary loss and drop path), checkpoint each
//! epoch, and score it on validation data (and the test set for final
//! evaluations). A NaN or infinite loss ends training as diverged.
//!
//! A multi-fidelity job ([`RungRun`]) stops at its rung, part way through
//! a schedule laid out over the settings' whole `epochs`, saves where it
//! stands (weights, momentum buffers, step) for the next rung, and a
//! promoted job continues from there. The data order is a function of the
//! seed and the epoch, and libtorch's generator (drop path) is reseeded at
//! the start of each epoch, so a run stopped at an epoch boundary and
//! continued takes exactly the steps of a run that never stopped.

use crate::cancel::Cancel;
use crate::device::device_name;
use crate::model::{self, NetConfig};
use crate::preprocess::{Preprocess, Target};
use crate::schedule::cosine;
use crate::sgd::{Sgd, SgdConfig};
use data::{Dataset, Loader, LoaderConfig, Normalize, Split};
use queue::wire::TrainSettings;
use serde::{Deserialize, Serialize};
use space::Genotype;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Kind, Reduction, Tensor};
use thiserror::Error;

/// Why training stopped without a score.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The network cannot be built for these settings and data.
    #[error("network: {0}")]
    Model(#[from] model::ModelError),
    /// The data cannot be batched with these settings.
    #[error("data: {0}")]
    Data(#[from] data::DataError),
    /// libtorch failed (out of memory, a shape error).
    #[error("libtorch: {0}")]
    Torch(String),
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What failed: the I/O or format error.
        reason: String,
    },
    /// The settings are invalid.
    #[error("settings: {0}")]
    Settings(String),
    /// Asked to stop (shutdown, lost lease).
    #[error("cancelled")]
    Cancelled,
}

impl From<tch::TchError> for TrainError {
    fn from(e: tch::TchError) -> Self {
        TrainError::Torch(e.to_string())
    }
}

/// What training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The search's objective on the validation part, higher is better:
    /// accuracy in percent for classification, 100 × R² for regression.
    pub val_acc: f64,
    /// Mean validation loss (regression: the mean squared error of the
    /// standardized target).
    pub val_loss: f64,
    /// The objective on the test set, when the settings ask for it.
    pub test_acc: Option<f64>,
    /// Regression: validation RMSE, in the target's units.
    pub val_rmse: Option<f64>,
    /// Regression: validation R².
    pub val_r2: Option<f64>,
    /// Regression: test RMSE, when the settings ask for the test set.
    pub test_rmse: Option<f64>,
    /// Regression: test R².
    pub test_r2: Option<f64>,
    /// The preprocessing fitted on the training part, saved beside the
    /// weights.
    pub preprocess: Preprocess,
    /// Parameters, without the auxiliary head.
    pub params: i64,
    /// Seconds spent training (steps only, not evaluation).
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
    /// Share of step time spent preparing batches.
    pub data_share: f64,
    /// Epochs trained (fractional when a step budget ends mid-epoch).
    pub epochs: f64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Where it ran.
    pub device: String,
    /// Seconds to prepare: split, move data, build the network.
    pub setup_seconds: f64,
    /// Set when the loss became NaN or infinite: what and when.
    pub diverged: Option<String>,
    /// A promoted rung: the epochs of the checkpoint it continued from.
    #[serde(default)]
    pub resumed_from: Option<f64>,
    /// Seconds spent loading that checkpoint.
    #[serde(default)]
    pub resume_seconds: Option<f64>,
}

/// Progress after each step, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Steps done.
    pub step: u64,
    /// Steps planned.
    pub total: u64,
    /// The last step's training loss.
    pub loss: f64,
}

/// The state saved at the end of each epoch so that a redelivered job
/// resumes: the weights (safetensors) and this record beside them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CheckpointMeta {
    /// What was being trained; a checkpoint of another job is ignored.
    key: String,
    /// Steps done.
    step: u64,
    /// Epochs done.
    epoch: u64,
    /// Training time so far.
    train_seconds: f64,
}

/// One training run: what to train, on what, how.
#[derive(Debug, Clone, Copy)]
pub struct TrainRun<'a> {
    /// The architecture.
    pub genotype: &'a Genotype,
    /// The data; the training split is divided into train and validation.
    pub dataset: &'a Dataset,
    /// How to train.
    pub settings: &'a TrainSettings,
    /// Seed of the split, the initialization and the batches.
    pub seed: u64,
    /// Where to train.
    pub device: Device,
    /// Receives a checkpoint each epoch, and is resumed from.
    pub checkpoint_dir: Option<&'a Path>,
    /// Where to save the trained weights (safetensors), if anywhere.
    pub weights_out: Option<&'a Path>,
    /// A multi-fidelity job: where it stops and what it continues from.
    pub rung: Option<RungRun<'a>>,
}

/// One rung of a multi-fidelity run: train to `epochs` of the schedule
/// (the settings' `epochs` are its whole length), save the state there for
/// the next rung, continue from a lower rung's state.
#[derive(Debug, Clone, Copy)]
pub struct RungRun<'a> {
    /// Epochs done when the rung ends.
    pub epochs: f64,
    /// Where to save the state at the end of the rung (the shared
    /// checkpoint folder), for a promotion; `None`: not saved.
    pub save_to: Option<&'a Path>,
    /// The lower rung's saved state to continue from. Missing or unusable,
    /// the rung trains from scratch, with a warning naming the file.
    pub resume_from: Option<&'a Path>,
}

/// Train as `run` says. Initialization draws from libtorch's global
/// generator, seeded here: two runs in the same process at the same time
/// share it, so only runs that do not overlap are bit-for-bit repeatable.
pub fn train(
    run: &TrainRun<'_>,
    cancel: &Cancel,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    let settings = run.settings;
    settings
        .validate()
        .map_err(|e| TrainError::Settings(e.to_string()))?;
    let setup = Instant::now();
    tch::manual_seed(run.seed as i64);
    let splits = Splits::prepare(run);
    let mut learner = Learner::build(run, &splits.preprocess)?;
    let loader = splits.loader(run)?;
    let per_epoch = loader.len().max(1) as u64;
    let mut total = (settings.epochs * per_epoch as f64).ceil().max(1.0) as u64;
    if let Some(max) = settings.max_steps {
        total = total.min(max);
    }
    let stop = match run.rung {
        Some(r) => ((r.epochs * per_epoch as f64).round() as u64).clamp(1, total),
        None => total,
    };
    let key = checkpoint_key(run);
    let mut at = Position::default();
    if let Some(dir) = run.checkpoint_dir {
        if let Some(ck) = load_checkpoint(dir, &key, &mut learner) {
            tracing::info!(step = ck.step, epoch = ck.epoch, dir = %dir.display(), "resuming from checkpoint");
            at = Position {
                step: ck.step.min(stop),
                epoch: ck.epoch,
                train_seconds: ck.train_seconds,
            };
        }
    }
    let (mut resumed_from, mut resume_seconds) = (None, None);
    if let (0, Some(from)) = (at.step, run.rung.and_then(|r| r.resume_from)) {
        let t = Instant::now();
        match load_checkpoint(from, &key, &mut learner) {
            Some(ck) if ck.step <= stop => {
                tracing::info!(step = ck.step, epoch = ck.epoch, dir = %from.display(), "promoted: continuing from the lower rung's checkpoint");
                at = Position {
                    step: ck.step,
                    epoch: ck.epoch,
                    train_seconds: 0.0,
                };
                resumed_from = Some(ck.step as f64 / per_epoch as f64);
                resume_seconds = Some(t.elapsed().as_secs_f64());
            }
            Some(ck) => {
                tracing::warn!(file = %checkpoint_files(from).record_path().display(), step = ck.step, stop, "the lower rung's checkpoint is past this rung; training this rung from scratch")
            }
            None => {
                tracing::warn!(file = %checkpoint_files(from).record_path().display(), "the lower rung's checkpoint is missing or unusable; training this rung from scratch")
            }
        }
    }
    let setup_seconds = setup.elapsed().as_secs_f64();
    let mut clock = StepClock::default();
    let diverged = learner.run_epochs(
        run,
        &loader,
        Span {
            per_epoch,
            stop,
            total,
        },
        &key,
        &mut at,
        &mut clock,
        cancel,
        progress,
    )?;
    if let (None, Some(dir), true) = (&diverged, run.rung.and_then(|r| r.save_to), at.step < total)
    {
        let meta = CheckpointMeta {
            key: key.clone(),
            step: at.step,
            epoch: at.epoch,
            train_seconds: at.train_seconds,
        };
        // Without it a promotion trains from scratch: slower, not wrong.
        if let Err(e) = save_checkpoint(dir, &learner, &meta) {
            tracing::warn!(error = %e, "could not save the rung's checkpoint; a promotion will train from scratch");
        }
    }
    let measured = at.train_seconds.max(1e-9);
    let report = TrainReport {
        val_acc: 0.0,
        val_loss: f64::NAN,
        test_acc: None,
        val_rmse: None,
        val_r2: None,
        test_rmse: None,
        test_r2: None,
        preprocess: splits.preprocess.clone(),
        params: learner.params,
        train_seconds: at.train_seconds,
        images_per_s: clock.images as f64 / measured,
        data_share: if clock.step_seconds + clock.data_seconds > 0.0 {
            clock.data_seconds / measured
        } else {
            0.0
        },
        epochs: at.step as f64 / per_epoch as f64,
        steps: at.step,
        device: device_name(run.device),
        setup_seconds,
        diverged,
        resumed_from,
        resume_seconds,
    };
    if report.diverged.is_some() {
        return Ok(report);
    }
    learner.finish(run, &splits, report)
}

/// A run's data: the training split divided into the part trained on
/// (a seeded subset for CPU proxies) and the validation part, with the
/// preprocessing fitted on the part trained on only, applied to both, on
/// the run's device.
struct Splits {
    train: Split,
    val: Split,
    preprocess: Preprocess,
    /// Images: the per-channel normalization the loader applies; other
    /// inputs come preprocessed.
    normalize: Normalize,
}

impl Splits {
    fn prepare(run: &TrainRun<'_>) -> Self {
        let (settings, meta) = (run.settings, &run.dataset.meta);
        let (train, val) =
            data::split_train_val(&run.dataset.train, settings.val_fraction, run.seed);
        let train = match settings.train_subset {
            Some(n) if n < train.len() => train.subset(n, run.seed),
            _ => train,
        };
        let preprocess = Preprocess::fit(meta, &train);
        let normalize = preprocess
            .normalize()
            .unwrap_or_else(|| Normalize::identity(meta.channels));
        Self {
            train: preprocess.apply(meta, &train).to_device(run.device),
            val: preprocess.apply(meta, &val).to_device(run.device),
            preprocess,
            normalize,
        }
    }

    /// Shuffled, augmented batches of the part trained on.
    fn loader(&self, run: &TrainRun<'_>) -> Result<Loader<'_>, TrainError> {
        let settings = run.settings;
        Ok(Loader::new(
            &self.train,
            &self.normalize,
            LoaderConfig {
                batch_size: settings.batch_size as usize,
                shuffle: true,
                drop_last: self.train.len() > settings.batch_size as usize,
                augment: match self.preprocess {
                    // Crops, flips and cutout are for images only.
                    Preprocess::Images { .. } => data::Augment {
                        crop_padding: settings.crop_padding,
                        flip_prob: if settings.flip { 0.5 } else { 0.0 },
                        cutout: settings.cutout,
                    },
                    _ => data::Augment::default(),
                },
                seed: run.seed,
            },
        )?)
    }
}

/// How far a run has got: what a checkpoint records.
#[derive(Debug, Default, Clone, Copy)]
struct Position {
    step: u64,
    epoch: u64,
    train_seconds: f64,
}

/// Where the step time went since the run (or its resumption) started.
#[derive(Debug, Default)]
struct StepClock {
    images: u64,
    data_seconds: f64,
    /// Step time of the epoch under way.
    step_seconds: f64,
}

/// The network being trained, its weights and its optimizer.
struct Learner {
    vs: nn::VarStore,
    net: model::Network,
    opt: Sgd,
    params: i64,
}

/// Where a run's steps go: `per_epoch` steps an epoch, the schedule over
/// `total`, this run stopping at `stop`.
#[derive(Debug, Clone, Copy)]
struct Span {
    per_epoch: u64,
    stop: u64,
    total: u64,
}

/// The seed of libtorch's generator for an epoch, so that an epoch draws
/// the same (drop path) whether or not the run stopped before it.
fn epoch_seed(seed: u64, epoch: u64) -> i64 {
    (seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as i64
}

impl Learner {
    /// The network of the run's genotype, shaped for its dataset as
    /// `preprocess` prepares it, freshly initialized from libtorch's
    /// generator, with SGD over its weights.
    fn build(run: &TrainRun<'_>, preprocess: &Preprocess) -> Result<Self, TrainError> {
        let (settings, meta) = (run.settings, &run.dataset.meta);
        check_input_kind(run)?;
        let mut cfg = NetConfig::for_space(run.genotype.kind());
        cfg.channels = settings.channels;
        cfg.layers = settings.layers;
        cfg.classes = preprocess.target(meta).outputs();
        cfg.in_channels = meta.channels as i64;
        cfg.input_size = match meta.input {
            space::InputKind::Images => meta.height.min(meta.width) as i64,
            _ => meta.width as i64,
        };
        cfg.table = preprocess.table_shape();
        cfg.auxiliary = settings.auxiliary_weight > 0.0;
        cfg.drop_path = 0.0;
        let vs = nn::VarStore::new(run.device);
        let net = model::build(&vs.root(), run.genotype, &cfg)?;
        let params = model::count_params(&vs, false);
        let opt = Sgd::new(
            &vs,
            SgdConfig {
                lr: settings.lr,
                momentum: settings.momentum,
                weight_decay: settings.weight_decay,
                nesterov: settings.nesterov && settings.momentum > 0.0,
            },
        );
        Ok(Self {
            vs,
            net,
            opt,
            params,
        })
    }

    /// Train from `at` until `span.stop` steps of a schedule over
    /// `span.total`, checkpointing after each epoch that does not end the
    /// run; `Some(why)` if the loss diverged.
    #[allow(clippy::too_many_arguments)]
    fn run_epochs(
        &mut self,
        run: &TrainRun<'_>,
        loader: &Loader,
        span: Span,
        key: &str,
        at: &mut Position,
        clock: &mut StepClock,
        cancel: &Cancel,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<String>, TrainError> {
        let Span {
            per_epoch,
            stop,
            total,
        } = span;
        while at.step < stop {
            let epoch = at.step / per_epoch;
            let done_in_epoch = at.step % per_epoch;
            if done_in_epoch == 0 {
                tch::manual_seed(epoch_seed(run.seed, epoch));
            }
            let mut batches = loader.epoch(epoch);
            // Continuing mid-epoch: the batches already trained on.
            for _ in 0..done_in_epoch {
                batches.next();
            }
            let epoch_end = ((epoch + 1) * per_epoch).min(stop);
            let before = at.step;
            while at.step < epoch_end {
                if cancel.is_cancelled() {
                    return Err(TrainError::Cancelled);
                }
                let t0 = Instant::now();
                let Some((xs, ys)) = batches.next() else {
                    break;
                };
                let t1 = Instant::now();
                let loss = self.step(run.settings, &xs, &ys, at.step, total)?;
                if !loss.is_finite() {
                    at.train_seconds += clock.step_seconds;
                    return Ok(Some(format!(
                        "loss became {loss} at step {} (epoch {epoch})",
                        at.step
                    )));
                }
                let t2 = Instant::now();
                clock.data_seconds += (t1 - t0).as_secs_f64();
                clock.step_seconds += (t2 - t0).as_secs_f64();
                clock.images += ys.size()[0] as u64;
                at.step += 1;
                progress(Progress {
                    step: at.step,
                    total: stop,
                    loss,
                });
            }
            if at.step == before {
                return Err(TrainError::Settings(format!(
                    "epoch {epoch} has no batch to train on"
                )));
            }
            at.epoch = at.step.div_ceil(per_epoch);
            at.train_seconds += clock.step_seconds;
            if let (Some(dir), true) = (run.checkpoint_dir, at.step < stop) {
                let meta = CheckpointMeta {
                    key: key.to_string(),
                    step: at.step,
                    epoch: at.epoch,
                    train_seconds: at.train_seconds,
                };
                save_checkpoint(dir, self, &meta)?;
            }
            clock.step_seconds = 0.0;
        }
        Ok(None)
    }

    /// One SGD step on a batch, as step `step` of `total` (the learning
    /// rate and drop-path schedules); the batch's loss. A loss that is not
    /// finite is returned without touching the weights.
    fn step(
        &mut self,
        settings: &TrainSettings,
        xs: &Tensor,
        ys: &Tensor,
        step: u64,
        total: u64,
    ) -> Result<f64, TrainError> {
        self.opt
            .set_lr(cosine(settings.lr, settings.lr_min, step, total));
        if settings.drop_path > 0.0 {
            self.net
                .set_drop_path(settings.drop_path * step as f64 / total as f64)?;
        }
        let out = self.net.forward_t(xs, true);
        let objective = |logits: &Tensor| {
            if ys.kind() == Kind::Float {
                // Regression: the standardized target's mean squared error.
                logits.squeeze_dim(1).f_mse_loss(ys, Reduction::Mean)
            } else {
                logits.f_cross_entropy_loss::<Tensor>(
                    ys,
                    None,
                    Reduction::Mean,
                    -100,
                    settings.label_smoothing,
                )
            }
        };
        let mut loss = objective(&out.logits)?;
        if let Some(aux) = &out.aux_logits {
            loss += objective(aux)? * settings.auxiliary_weight;
        }
        let value = loss.f_double_value(&[])?;
        if !value.is_finite() {
            return Ok(value);
        }
        self.opt.zero_grad();
        loss.f_backward()?;
        if let Some(max) = settings.grad_clip {
            self.opt.clip_grad_norm(max);
        }
        self.opt.step();
        Ok(value)
    }

    /// Score the trained network on the validation split (and the test
    /// set when asked), save its weights where asked, and drop the run's
    /// checkpoint, which a finished run no longer needs.
    fn finish(
        &self,
        run: &TrainRun<'_>,
        splits: &Splits,
        mut report: TrainReport,
    ) -> Result<TrainReport, TrainError> {
        let target = splits.preprocess.target(&run.dataset.meta);
        let val = evaluate(
            &self.net,
            &splits.val,
            &splits.normalize,
            run.settings,
            &target,
        )?;
        report.val_acc = val.objective;
        report.val_loss = val.loss;
        (report.val_rmse, report.val_r2) = (val.rmse, val.r2);
        if !val.loss.is_finite() {
            report.diverged = Some(format!(
                "validation loss is {} after {} steps",
                val.loss, report.steps
            ));
            return Ok(report);
        }
        if run.settings.test {
            let test = splits
                .preprocess
                .apply(&run.dataset.meta, &run.dataset.test)
                .to_device(run.device);
            let test = evaluate(&self.net, &test, &splits.normalize, run.settings, &target)?;
            report.test_acc = Some(test.objective);
            (report.test_rmse, report.test_r2) = (test.rmse, test.r2);
        }
        if let Some(path) = run.weights_out {
            save_weights(&self.vs, path)?;
            splits
                .preprocess
                .save_beside(path)
                .map_err(|e| TrainError::Checkpoint {
                    path: Preprocess::path_beside(path),
                    reason: e.to_string(),
                })?;
        }
        if let Some(dir) = run.checkpoint_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(report)
    }
}

/// What a checkpoint must match to be resumed from: the genotype, the
/// settings, the seed and the data.
fn checkpoint_key(run: &TrainRun<'_>) -> String {
    format!(
        "{}|{}|{}|{}",
        run.genotype.hash(),
        serde_json::to_string(run.settings).unwrap_or_default(),
        run.seed,
        run.dataset.meta.fingerprint
    )
}
/// How a network does on a split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// The objective, higher is better: accuracy in percent, or 100 × R².
    pub objective: f64,
    /// The mean loss (cross-entropy, or the standardized target's mean
    /// squared error).
    pub loss: f64,
    /// Regression: root mean squared error in the target's units.
    pub rmse: Option<f64>,
    /// Regression: the coefficient of determination.
    pub r2: Option<f64>,
}

/// How `net` does on `split` (already preprocessed; images are normalized
/// by `normalize` as they are batched), whose labels `target` describes.
pub fn evaluate(
    net: &model::Network,
    split: &Split,
    normalize: &Normalize,
    settings: &TrainSettings,
    target: &Target,
) -> Result<Eval, TrainError> {
    if split.is_empty() {
        return Err(TrainError::Settings("the evaluation split is empty".into()));
    }
    let loader = Loader::new(
        split,
        normalize,
        LoaderConfig {
            batch_size: (settings.batch_size as usize).max(256),
            shuffle: false,
            drop_last: false,
            augment: data::Augment::default(),
            seed: 0,
        },
    )?;
    let _guard = tch::no_grad_guard();
    if let Target::Regression { std, .. } = *target {
        // Standardized units: SSE and the targets' own spread (for R²).
        let (mut sse, mut sum, mut sq, mut n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (xs, ys) in loader.epoch(0) {
            let pred = net.forward_t(&xs, false).logits.squeeze_dim(1);
            let ys = ys.to_kind(Kind::Double);
            let err = pred.to_kind(Kind::Double) - &ys;
            sse += err.square().sum(Kind::Double).f_double_value(&[])?;
            sum += ys.sum(Kind::Double).f_double_value(&[])?;
            sq += ys.square().sum(Kind::Double).f_double_value(&[])?;
            n += ys.size()[0] as f64;
        }
        let sst = sq - sum * sum / n;
        let r2 = if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN };
        return Ok(Eval {
            objective: 100.0 * r2,
            loss: sse / n,
            rmse: Some((sse / n).sqrt() * std),
            r2: Some(r2),
        });
    }
    let (mut correct, mut loss_sum, mut n) = (0i64, 0.0f64, 0i64);
    for batch in loader.epoch(0) {
        let (xs, ys) = batch;
        let logits = net.forward_t(&xs, false).logits;
        let loss = logits.f_cross_entropy_loss::<Tensor>(&ys, None, Reduction::Sum, -100, 0.0)?;
        loss_sum += loss.f_double_value(&[])?;
        correct += logits
            .f_argmax(-1, false)?
            .f_eq_tensor(&ys)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        n += ys.size()[0];
    }
    Ok(Eval {
        objective: 100.0 * correct as f64 / n as f64,
        loss: loss_sum / n as f64,
        rmse: None,
        r2: None,
    })
}

/// A network of an image space trains on images, an mlp on a table, a
/// `seq` cell on time series; anything else is refused by name.
fn check_input_kind(run: &TrainRun<'_>) -> Result<(), TrainError> {
    let (space, data) = (run.genotype.kind(), run.dataset.meta.input);
    if space.input() == data {
        return Ok(());
    }
    let fits = match data {
        space::InputKind::Images => "macro, pnas, darts or nb201",
        space::InputKind::Table => "mlp",
        space::InputKind::Series => "seq",
    };
    Err(TrainError::Settings(format!(
        "the {space} space's networks read {}, and {} holds {}; search the {fits} space for it",
        space.input().name(),
        run.dataset.meta.name,
        data.name()
    )))
}

/// Save the weights as safetensors at `path`, atomically.
fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<(), TrainError> {
    let err = |e: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason: e,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let tmp = path.with_extension("tmp.safetensors");
    vs.save(&tmp).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

/// A training run's checkpoint files: `weights-<epoch>.safetensors` and
/// `weights.json`.
fn checkpoint_files(dir: &Path) -> crate::checkpoint::Files {
    crate::checkpoint::Files::new(dir, "weights")
}

fn save_checkpoint(dir: &Path, learner: &Learner, meta: &CheckpointMeta) -> Result<(), TrainError> {
    let mut tensors: Vec<(String, Tensor)> = learner.vs.variables().into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors.extend(learner.opt.state());
    checkpoint_files(dir)
        .save(
            meta.epoch,
            |tmp| Tensor::write_safetensors(&tensors, tmp).map_err(|e| e.to_string()),
            meta,
        )
        .map_err(|(path, reason)| TrainError::Checkpoint { path, reason })
}

/// Continue from the checkpoint in `dir` if it belongs to this training
/// run (same key) and holds every weight and momentum buffer; one that
/// cannot be read is passed over with a warning naming the file, and
/// nothing of it is taken.
fn load_checkpoint(dir: &Path, key: &str, learner: &mut Learner) -> Option<CheckpointMeta> {
    let (meta, path) = checkpoint_files(dir).load(key, |m: &CheckpointMeta| &m.key)?;
    let taken = Tensor::read_safetensors(&path)
        .map_err(|e| e.to_string())
        .and_then(|list| {
            let tensors: HashMap<String, Tensor> = list.into_iter().collect();
            let vars = learner.vs.variables();
            for (name, var) in &vars {
                match tensors.get(name) {
                    Some(t) if t.size() == var.size() => {}
                    Some(t) => {
                        return Err(format!(
                            "{name} has shape {:?}, the network's {:?}",
                            t.size(),
                            var.size()
                        ))
                    }
                    None => return Err(format!("no tensor {name}")),
                }
            }
            learner.opt.load_state(&tensors)?;
            let _guard = tch::no_grad_guard();
            for (name, mut var) in vars {
                var.f_copy_(&tensors[&name]).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
    match taken {
        Ok(()) => Some(meta),
        Err(reason) => {
            tracing::warn!(file = %path.display(), %reason, "ignoring an unusable checkpoint; starting afresh");
            None
        }
    }
}

/// How to read the dataset a job names.
pub fn load_options(data: &queue::wire::DataRef) -> Result<data::LoadOptions, String> {
    Ok(data::LoadOptions {
        format: (data.format.as_deref())
            .map(|f| f.parse::<data::Format>().map_err(|e| e.to_string()))
            .transpose()?,
        target: data.target.clone(),
        categorical: data.categorical.clone(),
        task: (data.task.as_deref())
            .map(|t| t.parse::<data::Task>().map_err(|e| e.to_string()))
            .transpose()?,
        pad: data.pad,
    })
}

/// Load the dataset a job names and check it against its fingerprint.
pub fn load_dataset(data: &queue::wire::DataRef) -> Result<Dataset, String> {
    let path = Path::new(&data.path);
    let ds = Dataset::load_with(path, &load_options(data)?).map_err(|e| e.to_string())?;
    if let Some(want) = data.fingerprint.as_deref() {
        if ds.meta.fingerprint != want {
            return Err(format!(
                "dataset fingerprint mismatch: the job expects {want}, this trainer's copy of {} is {}",
                path.display(),
                ds.meta.fingerprint
            ));
        }
    }
    Ok(ds)
}
