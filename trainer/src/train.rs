//! Training one candidate with libtorch: split the training set (seeded),
//! build the network from the genotype, train it with SGD (momentum,
//! optional Nesterov, weight decay, cosine learning rate, label smoothing,
//! gradient clipping, DARTS auxiliary loss and drop path), checkpoint each
//! epoch, and score it on validation data (and the test set for final
//! evaluations). A NaN or infinite loss ends training as diverged.

use crate::evaluator::Cancel;
use crate::model::{self, NetConfig};
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
        /// Why.
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

/// Where to train: `auto` (the first GPU if any, else the CPU), `cpu`,
/// `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("device {s:?} is not auto, cpu, cuda or cuda:N")),
    }
}

/// The name a device is reported by.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
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
    let TrainRun {
        genotype,
        dataset,
        settings,
        seed,
        device,
        checkpoint_dir,
        weights_out,
    } = *run;
    settings.validate().map_err(TrainError::Settings)?;
    let setup = Instant::now();
    tch::manual_seed(seed as i64);
    let meta = &dataset.meta;
    let (train_split, val_split) =
        data::split_train_val(&dataset.train, settings.val_fraction, seed);
    let train_split = match settings.train_subset {
        Some(n) if n < train_split.len() => train_split.subset(n, seed),
        _ => train_split,
    };
    let normalize = Normalize::from_split(&train_split);
    let train_split = train_split.to_device(device);
    let val_split = val_split.to_device(device);

    let mut cfg = NetConfig::for_space(genotype.kind());
    cfg.channels = settings.channels;
    cfg.layers = settings.layers;
    cfg.classes = meta.classes.len() as i64;
    cfg.in_channels = meta.channels as i64;
    cfg.input_size = meta.height.min(meta.width) as i64;
    cfg.auxiliary = settings.auxiliary_weight > 0.0;
    cfg.drop_path = 0.0;
    let mut vs = nn::VarStore::new(device);
    let net = model::build(&vs.root(), genotype, &cfg)?;
    let params = model::count_params(&vs, false);
    let mut opt = nn::Sgd {
        momentum: settings.momentum,
        dampening: 0.0,
        wd: settings.weight_decay,
        nesterov: settings.nesterov && settings.momentum > 0.0,
    }
    .build(&vs, settings.lr)?;

    let loader = Loader::new(
        &train_split,
        &normalize,
        LoaderConfig {
            batch_size: settings.batch_size as usize,
            shuffle: true,
            drop_last: train_split.len() > settings.batch_size as usize,
            augment: data::Augment {
                crop_padding: settings.crop_padding,
                flip_prob: if settings.flip { 0.5 } else { 0.0 },
                cutout: settings.cutout,
            },
            seed,
        },
    )?;
    let per_epoch = loader.len().max(1) as u64;
    let mut total = (settings.epochs * per_epoch as f64).ceil().max(1.0) as u64;
    if let Some(max) = settings.max_steps {
        total = total.min(max);
    }

    let key = format!(
        "{}|{}|{seed}|{}",
        genotype.hash(),
        serde_json::to_string(settings).unwrap_or_default(),
        meta.fingerprint
    );
    let (mut step, mut epoch, mut train_seconds) = (0u64, 0u64, 0.0f64);
    if let Some(dir) = checkpoint_dir {
        if let Some(ck) = load_checkpoint(dir, &key, &mut vs)? {
            tracing::info!(step = ck.step, epoch = ck.epoch, dir = %dir.display(), "resuming from checkpoint");
            (step, epoch, train_seconds) = (ck.step, ck.epoch, ck.train_seconds);
        }
    }
    let setup_seconds = setup.elapsed().as_secs_f64();

    let (mut images, mut data_seconds, mut step_seconds) = (0u64, 0.0f64, 0.0f64);
    let mut diverged = None;
    'epochs: while step < total {
        let mut batches = loader.epoch(epoch);
        loop {
            if step >= total {
                break;
            }
            if cancel.is_cancelled() {
                return Err(TrainError::Cancelled);
            }
            let t0 = Instant::now();
            let Some(batch) = batches.next() else { break };
            let (xs, ys) = batch;
            let t1 = Instant::now();
            let lr = cosine(settings.lr, settings.lr_min, step, total);
            opt.set_lr(lr);
            if settings.drop_path > 0.0 {
                net.set_drop_path(settings.drop_path * step as f64 / total as f64)?;
            }
            let out = net.forward_t(&xs, true);
            let mut loss = out.logits.f_cross_entropy_loss::<Tensor>(
                &ys,
                None,
                Reduction::Mean,
                -100,
                settings.label_smoothing,
            )?;
            if let Some(aux) = &out.aux_logits {
                let aux_loss = aux.f_cross_entropy_loss::<Tensor>(
                    &ys,
                    None,
                    Reduction::Mean,
                    -100,
                    settings.label_smoothing,
                )?;
                loss += aux_loss * settings.auxiliary_weight;
            }
            let value = loss.f_double_value(&[])?;
            if !value.is_finite() {
                diverged = Some(format!(
                    "loss became {value} at step {step} (epoch {epoch})"
                ));
                break 'epochs;
            }
            opt.zero_grad();
            loss.f_backward()?;
            if let Some(max) = settings.grad_clip {
                opt.clip_grad_norm(max);
            }
            opt.step();
            let t2 = Instant::now();
            data_seconds += (t1 - t0).as_secs_f64();
            step_seconds += (t2 - t0).as_secs_f64();
            images += ys.size()[0] as u64;
            step += 1;
            progress(Progress {
                step,
                total,
                loss: value,
            });
        }
        epoch += 1;
        train_seconds += step_seconds;
        if let Some(dir) = checkpoint_dir {
            if step < total {
                save_checkpoint(
                    dir,
                    &vs,
                    &CheckpointMeta {
                        key: key.clone(),
                        step,
                        epoch,
                        train_seconds,
                    },
                )?;
            }
        }
        step_seconds = 0.0;
    }
    train_seconds += step_seconds;
    let measured = train_seconds.max(1e-9);
    let epochs_done = step as f64 / per_epoch as f64;
    let mut report = TrainReport {
        val_acc: 0.0,
        val_loss: f64::NAN,
        test_acc: None,
        params,
        train_seconds,
        images_per_s: images as f64 / measured,
        data_share: if step_seconds + data_seconds > 0.0 {
            data_seconds / measured
        } else {
            0.0
        },
        epochs: epochs_done,
        steps: step,
        device: device_name(device),
        setup_seconds,
        diverged,
    };
    if report.diverged.is_some() {
        return Ok(report);
    }
    let (acc, loss) = evaluate(&net, &val_split, &normalize, settings)?;
    report.val_acc = acc;
    report.val_loss = loss;
    if !loss.is_finite() {
        report.diverged = Some(format!("validation loss is {loss} after {step} steps"));
        return Ok(report);
    }
    if settings.test {
        let test = dataset.test.to_device(device);
        report.test_acc = Some(evaluate(&net, &test, &normalize, settings)?.0);
    }
    if let Some(path) = weights_out {
        save_weights(&vs, path)?;
    }
    if let Some(dir) = checkpoint_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(report)
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

/// Cosine annealing from `lr` to `lr_min` over `total` steps.
pub fn cosine(lr: f64, lr_min: f64, step: u64, total: u64) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    lr_min + 0.5 * (lr - lr_min) * (1.0 + (std::f64::consts::PI * t).cos())
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
