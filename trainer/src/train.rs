//! Training one candidate with libtorch: split the training set (seeded),
//! build the network from the genotype, train it with SGD (momentum,
//! optional Nesterov, weight decay, cosine learning rate, label smoothing,
//! gradient clipping, DARTS auxiliary loss and drop path), checkpoint each
//! epoch, and score it on validation data (and the test set for final
//! evaluations). A NaN or infinite loss ends training as diverged.

use crate::cancel::Cancel;
use crate::device::device_name;
use crate::model::{self, NetConfig};
use crate::schedule::cosine;
use data::{Dataset, Loader, LoaderConfig, Normalize, Split};
use queue::wire::TrainSettings;
use serde::{Deserialize, Serialize};
use space::Genotype;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Reduction, Tensor};
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
    /// Validation accuracy, percent.
    pub val_acc: f64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Test accuracy, percent, when the settings ask for it.
    pub test_acc: Option<f64>,
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
    let mut learner = Learner::build(run)?;
    let loader = splits.loader(run)?;
    let per_epoch = loader.len().max(1) as u64;
    let mut total = (settings.epochs * per_epoch as f64).ceil().max(1.0) as u64;
    if let Some(max) = settings.max_steps {
        total = total.min(max);
    }
    let key = checkpoint_key(run);
    let mut at = Position::default();
    if let Some(dir) = run.checkpoint_dir {
        if let Some(ck) = load_checkpoint(dir, &key, &mut learner.vs)? {
            tracing::info!(step = ck.step, epoch = ck.epoch, dir = %dir.display(), "resuming from checkpoint");
            at = Position {
                step: ck.step,
                epoch: ck.epoch,
                train_seconds: ck.train_seconds,
            };
        }
    }
    let setup_seconds = setup.elapsed().as_secs_f64();
    let mut clock = StepClock::default();
    let diverged = learner.run_epochs(
        run, &loader, total, &key, &mut at, &mut clock, cancel, progress,
    )?;
    let measured = at.train_seconds.max(1e-9);
    let report = TrainReport {
        val_acc: 0.0,
        val_loss: f64::NAN,
        test_acc: None,
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
    };
    if report.diverged.is_some() {
        return Ok(report);
    }
    learner.finish(run, &splits, report)
}

/// A run's data: the training split divided into the part trained on
/// (a seeded subset for CPU proxies) and the validation part, on the
/// run's device, with the normalization of the part trained on.
struct Splits {
    train: Split,
    val: Split,
    normalize: Normalize,
}

impl Splits {
    fn prepare(run: &TrainRun<'_>) -> Self {
        let settings = run.settings;
        let (train, val) =
            data::split_train_val(&run.dataset.train, settings.val_fraction, run.seed);
        let train = match settings.train_subset {
            Some(n) if n < train.len() => train.subset(n, run.seed),
            _ => train,
        };
        let normalize = Normalize::from_split(&train);
        Self {
            train: train.to_device(run.device),
            val: val.to_device(run.device),
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
                augment: data::Augment {
                    crop_padding: settings.crop_padding,
                    flip_prob: if settings.flip { 0.5 } else { 0.0 },
                    cutout: settings.cutout,
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
    opt: nn::Optimizer,
    params: i64,
}

impl Learner {
    /// The network of the run's genotype, shaped for its dataset, freshly
    /// initialized from libtorch's generator, with SGD over its weights.
    fn build(run: &TrainRun<'_>) -> Result<Self, TrainError> {
        let (settings, meta) = (run.settings, &run.dataset.meta);
        let mut cfg = NetConfig::for_space(run.genotype.kind());
        cfg.channels = settings.channels;
        cfg.layers = settings.layers;
        cfg.classes = meta.classes.len() as i64;
        cfg.in_channels = meta.channels as i64;
        cfg.input_size = meta.height.min(meta.width) as i64;
        cfg.auxiliary = settings.auxiliary_weight > 0.0;
        cfg.drop_path = 0.0;
        let vs = nn::VarStore::new(run.device);
        let net = model::build(&vs.root(), run.genotype, &cfg)?;
        let params = model::count_params(&vs, false);
        let opt = nn::Sgd {
            momentum: settings.momentum,
            dampening: 0.0,
            wd: settings.weight_decay,
            nesterov: settings.nesterov && settings.momentum > 0.0,
        }
        .build(&vs, settings.lr)?;
        Ok(Self {
            vs,
            net,
            opt,
            params,
        })
    }

    /// Train from `at` until `total` steps, checkpointing after each epoch
    /// that does not end the run; `Some(why)` if the loss diverged.
    #[allow(clippy::too_many_arguments)]
    fn run_epochs(
        &mut self,
        run: &TrainRun<'_>,
        loader: &Loader,
        total: u64,
        key: &str,
        at: &mut Position,
        clock: &mut StepClock,
        cancel: &Cancel,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Option<String>, TrainError> {
        while at.step < total {
            let mut batches = loader.epoch(at.epoch);
            while at.step < total {
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
                        "loss became {loss} at step {} (epoch {})",
                        at.step, at.epoch
                    )));
                }
                let t2 = Instant::now();
                clock.data_seconds += (t1 - t0).as_secs_f64();
                clock.step_seconds += (t2 - t0).as_secs_f64();
                clock.images += ys.size()[0] as u64;
                at.step += 1;
                progress(Progress {
                    step: at.step,
                    total,
                    loss,
                });
            }
            at.epoch += 1;
            at.train_seconds += clock.step_seconds;
            if let (Some(dir), true) = (run.checkpoint_dir, at.step < total) {
                let meta = CheckpointMeta {
                    key: key.to_string(),
                    step: at.step,
                    epoch: at.epoch,
                    train_seconds: at.train_seconds,
                };
                save_checkpoint(dir, &self.vs, &meta)?;
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
        let ce = |logits: &Tensor| {
            logits.f_cross_entropy_loss::<Tensor>(
                ys,
                None,
                Reduction::Mean,
                -100,
                settings.label_smoothing,
            )
        };
        let mut loss = ce(&out.logits)?;
        if let Some(aux) = &out.aux_logits {
            loss += ce(aux)? * settings.auxiliary_weight;
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
        let (acc, loss) = evaluate(&self.net, &splits.val, &splits.normalize, run.settings)?;
        report.val_acc = acc;
        report.val_loss = loss;
        if !loss.is_finite() {
            report.diverged = Some(format!(
                "validation loss is {loss} after {} steps",
                report.steps
            ));
            return Ok(report);
        }
        if run.settings.test {
            let test = run.dataset.test.to_device(run.device);
            report.test_acc = Some(evaluate(&self.net, &test, &splits.normalize, run.settings)?.0);
        }
        if let Some(path) = run.weights_out {
            save_weights(&self.vs, path)?;
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
/// Accuracy (percent) and mean loss of `net` on `split`.
pub fn evaluate(
    net: &model::Network,
    split: &Split,
    normalize: &Normalize,
    settings: &TrainSettings,
) -> Result<(f64, f64), TrainError> {
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
    Ok((100.0 * correct as f64 / n as f64, loss_sum / n as f64))
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

fn save_checkpoint(dir: &Path, vs: &nn::VarStore, meta: &CheckpointMeta) -> Result<(), TrainError> {
    checkpoint_files(dir)
        .save(
            meta.epoch,
            |tmp| vs.save(tmp).map_err(|e| e.to_string()),
            meta,
        )
        .map_err(|(path, reason)| TrainError::Checkpoint { path, reason })
}

/// The checkpoint in `dir` if it belongs to this training run (same key).
fn load_checkpoint(
    dir: &Path,
    key: &str,
    vs: &mut nn::VarStore,
) -> Result<Option<CheckpointMeta>, TrainError> {
    let Some((meta, tensors)) = checkpoint_files(dir).load(key, |m: &CheckpointMeta| &m.key) else {
        return Ok(None);
    };
    vs.load(&tensors).map_err(|e| TrainError::Checkpoint {
        path: tensors.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(meta))
}

/// Load the dataset at `path` and check it against the job's fingerprint.
pub fn load_dataset(
    path: &Path,
    format: Option<&str>,
    fingerprint: Option<&str>,
) -> Result<Dataset, String> {
    let format = format
        .map(|f| f.parse::<data::Format>().map_err(|e| e.to_string()))
        .transpose()?;
    let ds = Dataset::load(path, format).map_err(|e| e.to_string())?;
    if let Some(want) = fingerprint {
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
