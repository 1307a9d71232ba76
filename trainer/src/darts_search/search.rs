//! One DARTS search, as the reference `train_search.py`: split the training
//! data into halves (seeded, stratified), then per step take an α step on a
//! batch of the α half (Adam) and a weight step on a batch of the weight
//! half (SGD, cosine learning rate by epoch, gradient clipping). After each
//! epoch, α (softmax per edge) and the derived genotype go to the progress
//! callback and to `darts.json`; at the end the supernet is scored on the
//! α half.

use super::bilevel::{self, ArchAdam, Batch, WeightSgd};
use super::supernet::{edge_labels, op_names, Supernet, SupernetConfig};
use super::DartsError;
use crate::cancel::Cancel;
use crate::device::device_name;
use crate::schedule::cosine;
use data::{Dataset, Loader, LoaderConfig, Normalize, Split};
use queue::wire::{DartsOrder, DartsSettings};
use serde::{Deserialize, Serialize};
use space::SpaceKind;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};

/// One search: where, on what, how.
#[derive(Debug, Clone, Copy)]
pub struct DartsRun<'a> {
    /// The cell space: `Darts` or `Nb201`.
    pub space: SpaceKind,
    /// The data; its training split is divided into the two halves.
    pub dataset: &'a Dataset,
    /// How to search.
    pub settings: &'a DartsSettings,
    /// Where to train.
    pub device: Device,
    /// Where to write `darts.json` after every epoch, if anywhere.
    pub output: Option<&'a Path>,
    /// A folder for the search's state after every epoch (weights, α, both
    /// optimizers, the data position); a search started again with the
    /// same folder, settings and data resumes after the last saved epoch.
    pub checkpoint: Option<&'a Path>,
}

/// What one epoch ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DartsEpoch {
    /// Epochs done, from 1.
    pub epoch: u32,
    /// Epochs planned.
    pub epochs: u32,
    /// The weights' learning rate during the epoch (also ξ, second order).
    pub lr: f64,
    /// Mean training loss of the weight steps.
    pub train_loss: f64,
    /// Training accuracy of the weight steps, percent.
    pub train_acc: f64,
    /// Mean validation loss seen by the α steps.
    pub arch_loss: f64,
    /// Seconds the epoch took.
    pub seconds: f64,
    /// The genotype derived from α now, canonical text.
    pub genotype: String,
    /// softmax(α) per edge, `[edges][ops]`, by α name (`normal`, `reduce`;
    /// `cell`).
    pub alphas: BTreeMap<String, Vec<Vec<f64>>>,
}

/// What a search produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DartsReport {
    /// The space searched.
    pub space: SpaceKind,
    /// The derived genotype, canonical text.
    pub genotype: String,
    /// The derived genotype as derived (DARTS: each node's stronger edge
    /// first).
    pub derived: String,
    /// The supernet's accuracy on the α half, percent (evaluation mode).
    pub val_acc: f64,
    /// Its mean loss there.
    pub val_loss: f64,
    /// Weight parameters of the supernet (α and running statistics left
    /// out).
    pub params: i64,
    /// Images in the weights' half and in the α half.
    pub halves: (usize, usize),
    /// Seconds spent in search steps.
    pub search_seconds: f64,
    /// Weight-half images per second of search.
    pub images_per_s: f64,
    /// Seconds to prepare: split, move data, build the supernet.
    pub setup_seconds: f64,
    /// Epochs done.
    pub epochs: u32,
    /// Steps taken (each one α step and one weight step).
    pub steps: u64,
    /// Where it ran.
    pub device: String,
    /// Set when a loss became NaN or infinite: what and when.
    pub diverged: Option<String>,
    /// Every epoch's record.
    pub history: Vec<DartsEpoch>,
}

/// The supernet's settings for `run`: the settings' C and layers (the
/// space's default layers when unset), the data's classes and shape.
pub fn supernet_config(run: &DartsRun<'_>) -> SupernetConfig {
    let meta = &run.dataset.meta;
    let base = SupernetConfig::for_space(run.space);
    SupernetConfig {
        channels: run.settings.channels,
        layers: run.settings.layers.unwrap_or(base.layers),
        classes: meta.classes.len() as i64,
        in_channels: meta.channels as i64,
        input_size: match meta.input {
            space::InputKind::Series => meta.width as i64,
            _ => meta.height.min(meta.width) as i64,
        },
    }
}

/// Run the search. `progress` receives every epoch's record. Initialization
/// draws from libtorch's global generator, seeded here, so only searches
/// that do not overlap in one process are bit-for-bit repeatable.
pub fn search(
    run: &DartsRun<'_>,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&DartsEpoch),
) -> Result<DartsReport, DartsError> {
    let s = run.settings;
    s.validate()?;
    if !matches!(
        run.space,
        SpaceKind::Darts | SpaceKind::Nb201 | SpaceKind::Seq
    ) {
        return Err(DartsError::Space(run.space));
    }
    let meta = &run.dataset.meta;
    if run.space.input() != meta.input || meta.task != data::Task::Classification {
        return Err(DartsError::Settings(queue::wire::SettingError::new(
            "data",
            format!(
                "a DARTS search over {} cells classifies {}; {} is a {} of {}",
                run.space,
                run.space.input().name(),
                meta.name,
                meta.task,
                meta.input.name()
            ),
        )));
    }
    let setup = Instant::now();
    tch::manual_seed(s.seed as i64);
    let mut state = SearchState::prepare(run)?;
    let w_loader = half_loader(&state.w_half, &state.normalize, s, state.augment, s.seed)?;
    let a_loader = half_loader(
        &state.a_half,
        &state.normalize,
        s,
        state.augment,
        s.seed.wrapping_add(1),
    )?;
    let mut report = state.empty_report(run, setup);
    let key = checkpoint_key(run);
    let (first, mut at, mut images) = resume(run, &key, &state.net, &mut state.opt, &mut report)?;
    let mut a_batches = a_loader.epoch(at.a_epoch);
    for _ in 0..at.a_taken {
        a_batches.next();
    }
    for epoch in first..s.epochs {
        let t0 = Instant::now();
        let lr = cosine(s.lr, s.lr_min, u64::from(epoch), u64::from(s.epochs));
        let mut sums = Sums::default();
        for (xs, ys) in w_loader.epoch(u64::from(epoch)) {
            if cancel.is_cancelled() {
                return Err(DartsError::Cancelled);
            }
            let (vx, vy) = match a_batches.next() {
                Some(b) => b,
                None => {
                    at.a_epoch += 1;
                    at.a_taken = 0;
                    a_batches = a_loader.epoch(at.a_epoch);
                    a_batches.next().expect("the α half yields a batch")
                }
            };
            at.a_taken += 1;
            let train = Batch { xs: &xs, ys: &ys };
            let val = Batch { xs: &vx, ys: &vy };
            match step(&state.net, &state.params, &mut state.opt, s, lr, train, val)? {
                Step::Done(stats) => sums.add(&stats),
                Step::Diverged(what) => {
                    report.diverged = Some(format!(
                        "{what} at step {} (epoch {})",
                        report.steps,
                        epoch + 1
                    ));
                    break;
                }
            }
            images += ys.size()[0] as u64;
            report.steps += 1;
        }
        let seconds = t0.elapsed().as_secs_f64();
        report.search_seconds += seconds;
        if report.diverged.is_some() {
            break;
        }
        state.end_epoch(
            run,
            &key,
            epoch,
            (lr, &sums, seconds),
            at,
            images,
            &mut report,
            progress,
        )?;
    }
    report.images_per_s = images as f64 / report.search_seconds.max(1e-9);
    finish(&state.net, &state.a_half, &state.normalize, s, &mut report)?;
    if let Some(dir) = run.checkpoint {
        // Done: the state is not needed again.
        checkpoint_files(dir).remove();
    }
    if let Some(path) = run.output {
        write_output(path, run, &report, true)?;
    }
    Ok(report)
}

/// What a search works on: its two halves of the data (on the device),
/// their normalization and augmentation, the supernet and its optimizers.
struct SearchState {
    w_half: Split,
    a_half: Split,
    normalize: Normalize,
    augment: data::Augment,
    net: Supernet,
    params: Vec<Tensor>,
    opt: Optimizers,
}

impl SearchState {
    /// Split the data into halves and build the supernet (from libtorch's
    /// generator, seeded by the caller) and its optimizers.
    fn prepare(run: &DartsRun<'_>) -> Result<Self, DartsError> {
        let s = run.settings;
        let (w_half, a_half) = halves(&run.dataset.train, s)?;
        // Fitted on the weights' half, the one the supernet trains on;
        // series come standardized, images are normalized batch by batch.
        let meta = &run.dataset.meta;
        let preprocess = crate::preprocess::Preprocess::fit(meta, &w_half);
        let normalize = preprocess
            .normalize()
            .unwrap_or_else(|| Normalize::identity(meta.channels));
        let (w_half, a_half) = (
            preprocess.apply(meta, &w_half).to_device(run.device),
            preprocess.apply(meta, &a_half).to_device(run.device),
        );
        let net = Supernet::new(run.space, &supernet_config(run), run.device)?;
        let mut shape = vec![1];
        shape.extend(w_half.sample_shape());
        net.check_input(&Tensor::zeros(shape, (Kind::Float, run.device)))?;
        let params = net.params();
        let opt = Optimizers {
            sgd: WeightSgd::new(&params, s.momentum, s.weight_decay),
            adam: ArchAdam::new(net.alphas(), s.arch_lr, s.arch_weight_decay),
        };
        let augment = if w_half.is_images() {
            data::Augment {
                crop_padding: s.crop_padding,
                flip_prob: if s.flip { 0.5 } else { 0.0 },
                cutout: 0,
            }
        } else {
            data::Augment::default()
        };
        Ok(Self {
            w_half,
            a_half,
            normalize,
            augment,
            net,
            params,
            opt,
        })
    }

    /// The report of a search that has not run an epoch yet.
    fn empty_report(&self, run: &DartsRun<'_>, setup: Instant) -> DartsReport {
        DartsReport {
            space: run.space,
            genotype: String::new(),
            derived: String::new(),
            val_acc: 0.0,
            val_loss: f64::NAN,
            params: self.net.param_count(),
            halves: (self.w_half.len(), self.a_half.len()),
            search_seconds: 0.0,
            images_per_s: 0.0,
            setup_seconds: setup.elapsed().as_secs_f64(),
            epochs: 0,
            steps: 0,
            device: device_name(run.device),
            diverged: None,
            history: Vec::new(),
        }
    }

    /// After epoch `epoch` (from 0): its record to `progress` and the
    /// report, `darts.json` rewritten, and a checkpoint unless it was the
    /// last epoch.
    #[allow(clippy::too_many_arguments)]
    fn end_epoch(
        &self,
        run: &DartsRun<'_>,
        key: &str,
        epoch: u32,
        (lr, sums, seconds): (f64, &Sums, f64),
        at: DataPosition,
        images: u64,
        report: &mut DartsReport,
        progress: &mut dyn FnMut(&DartsEpoch),
    ) -> Result<(), DartsError> {
        let s = run.settings;
        let record = epoch_record(&self.net, epoch + 1, s.epochs, lr, sums, seconds)?;
        progress(&record);
        report.history.push(record);
        report.epochs = epoch + 1;
        if let Some(path) = run.output {
            write_output(path, run, report, false)?;
        }
        if let (Some(dir), true) = (run.checkpoint, epoch + 1 < s.epochs) {
            let meta = CheckpointMeta {
                key: key.to_string(),
                epochs_done: epoch + 1,
                at,
                images,
                steps: report.steps,
                search_seconds: report.search_seconds,
                adam_steps: self.opt.adam.t,
                history: report.history.clone(),
            };
            save_checkpoint(dir, &self.net, &self.opt, &meta)?;
        }
        Ok(())
    }
}

/// Take up the state of the run's checkpoint, if it holds this search:
/// the first epoch to run, the α half's position and the images seen;
/// the report gets the epochs already done.
fn resume(
    run: &DartsRun<'_>,
    key: &str,
    net: &Supernet,
    opt: &mut Optimizers,
    report: &mut DartsReport,
) -> Result<(u32, DataPosition, u64), DartsError> {
    let Some(dir) = run.checkpoint else {
        return Ok((0, DataPosition::default(), 0));
    };
    let Some(meta) = load_checkpoint(dir, key, net, opt)? else {
        return Ok((0, DataPosition::default(), 0));
    };
    tracing::info!(dir = %dir.display(), epochs_done = meta.epochs_done, "resuming the DARTS search from its checkpoint");
    report.steps = meta.steps;
    report.search_seconds = meta.search_seconds;
    report.epochs = meta.epochs_done;
    report.history = meta.history;
    Ok((meta.epochs_done, meta.at, meta.images))
}

/// The optimizers of a search: SGD for the weights, Adam for α.
struct Optimizers {
    sgd: WeightSgd,
    adam: ArchAdam,
}

/// Where the α half's batches are: its epoch, and batches taken from it.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct DataPosition {
    a_epoch: u64,
    a_taken: u64,
}

/// A checkpoint's record beside its tensors (`darts-state.safetensors`).
#[derive(Debug, Serialize, Deserialize)]
struct CheckpointMeta {
    /// What was being searched; a checkpoint of another search is ignored.
    key: String,
    epochs_done: u32,
    at: DataPosition,
    images: u64,
    steps: u64,
    search_seconds: f64,
    adam_steps: u64,
    history: Vec<DartsEpoch>,
}

/// What a checkpoint must match to be resumed: the space, the settings,
/// the data and the supernet built from them.
fn checkpoint_key(run: &DartsRun<'_>) -> String {
    serde_json::json!({
        "space": run.space,
        "settings": run.settings,
        "fingerprint": run.dataset.meta.fingerprint,
        "supernet": format!("{:?}", supernet_config(run)),
    })
    .to_string()
}

/// A search's checkpoint files: `darts-state-<epoch>.safetensors` and
/// `darts-state.json`.
fn checkpoint_files(dir: &Path) -> crate::checkpoint::Files {
    crate::checkpoint::Files::new(dir, "darts-state")
}

/// Save the search's state after an epoch.
fn save_checkpoint(
    dir: &Path,
    net: &Supernet,
    opt: &Optimizers,
    meta: &CheckpointMeta,
) -> Result<(), DartsError> {
    let mut named: Vec<(String, Tensor)> = net
        .weights()
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("w/{name}"), t))
        .collect();
    let lists = [
        ("alpha", net.alphas()),
        ("sgd", opt.sgd.buffers()),
        ("adam_m", &opt.adam.m[..]),
        ("adam_v", &opt.adam.v[..]),
    ];
    for (prefix, list) in lists {
        named.extend(
            list.iter()
                .enumerate()
                .map(|(i, t)| (format!("{prefix}/{i}"), t.detach())),
        );
    }
    checkpoint_files(dir)
        .save(
            u64::from(meta.epochs_done),
            |tmp| Tensor::write_safetensors(&named, tmp).map_err(|e| e.to_string()),
            meta,
        )
        .map_err(|(path, reason)| DartsError::Output { path, reason })
}

/// Restore the state saved in `dir` if it belongs to this search (same
/// key); `None` when there is none, it is another search's, or its tensors
/// cannot be read or do not fit this supernet (each said in a warning that
/// names the file; the search then starts afresh). Every tensor is checked
/// before any is copied, so a refused checkpoint changes nothing.
fn load_checkpoint(
    dir: &Path,
    key: &str,
    net: &Supernet,
    opt: &mut Optimizers,
) -> Result<Option<CheckpointMeta>, DartsError> {
    let files = checkpoint_files(dir);
    let Some((meta, tensors)) = files.load(key, |m: &CheckpointMeta| &m.key) else {
        return Ok(None);
    };
    let restored = match read_state(&tensors, net, opt) {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(file = %tensors.display(), %reason, "unusable DARTS checkpoint; starting afresh");
            files.remove();
            return Ok(None);
        }
    };
    let _guard = tch::no_grad_guard();
    for (mut target, t) in restored.copies {
        target.f_copy_(&t)?;
    }
    opt.sgd.set_buffers(restored.sgd);
    opt.adam.m = restored.adam_m;
    opt.adam.v = restored.adam_v;
    opt.adam.t = meta.adam_steps;
    Ok(Some(meta))
}

/// A checkpoint's tensors, checked against the search: values to copy into
/// the weights and α, and the optimizers' buffers.
struct Restored {
    copies: Vec<(Tensor, Tensor)>,
    sgd: Vec<Tensor>,
    adam_m: Vec<Tensor>,
    adam_v: Vec<Tensor>,
}

/// Read and check every tensor of a checkpoint; the error says what is
/// wrong.
fn read_state(path: &Path, net: &Supernet, opt: &Optimizers) -> Result<Restored, String> {
    let mut saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let mut take = |name: String, like: &Tensor| -> Result<Tensor, String> {
        let t = saved
            .remove(&name)
            .ok_or_else(|| format!("it holds no tensor {name}"))?;
        if t.size() != like.size() {
            return Err(format!(
                "tensor {name} has shape {:?}, the search needs {:?}",
                t.size(),
                like.size()
            ));
        }
        Ok(t.to_device(like.device()).to_kind(like.kind()))
    };
    let mut copies = Vec::new();
    for (name, var) in net.weights().variables() {
        let t = take(format!("w/{name}"), &var)?;
        copies.push((var, t));
    }
    for (i, a) in net.alphas().iter().enumerate() {
        let t = take(format!("alpha/{i}"), a)?;
        copies.push((a.shallow_clone(), t));
    }
    let mut list = |prefix: &str, like: &[Tensor]| -> Result<Vec<Tensor>, String> {
        (like.iter().enumerate())
            .map(|(i, t)| take(format!("{prefix}/{i}"), t))
            .collect()
    };
    Ok(Restored {
        copies,
        sgd: list("sgd", opt.sgd.buffers())?,
        adam_m: list("adam_m", &opt.adam.m)?,
        adam_v: list("adam_v", &opt.adam.v)?,
    })
}

/// How one step ended.
enum Step {
    /// Both steps taken.
    Done(StepStats),
    /// A loss was NaN or infinite: which.
    Diverged(String),
}

/// What one step measured.
struct StepStats {
    loss: f64,
    arch_loss: f64,
    correct: i64,
    batch: i64,
}

/// One step of Algorithm 1 of the paper: α on the validation batch (first
/// or second order), then the weights on the training batch.
fn step(
    net: &Supernet,
    params: &[Tensor],
    opt: &mut Optimizers,
    s: &DartsSettings,
    lr: f64,
    train: Batch<'_>,
    val: Batch<'_>,
) -> Result<Step, DartsError> {
    let arch = match s.order {
        DartsOrder::First => bilevel::first_order(net, val)?,
        DartsOrder::Second => bilevel::second_order(net, &opt.sgd, lr, train, val)?,
    };
    if !arch.val_loss.is_finite() {
        return Ok(Step::Diverged(format!(
            "the α-step loss became {}",
            arch.val_loss
        )));
    }
    opt.adam.step(net.alphas(), &arch.grads)?;

    let logits = net.forward_t(train.xs, true);
    let l = logits.f_cross_entropy_loss::<Tensor>(train.ys, None, Reduction::Mean, -100, 0.0)?;
    let loss = l.f_double_value(&[])?;
    if !loss.is_finite() {
        return Ok(Step::Diverged(format!("the training loss became {loss}")));
    }
    let mut g = bilevel::grads(&l, params)?;
    if let Some(max) = s.grad_clip {
        bilevel::clip_grad_norm(&mut g, max)?;
    }
    opt.sgd.step(params, &g, lr)?;
    let correct = logits
        .f_argmax(-1, false)?
        .f_eq_tensor(train.ys)?
        .f_sum(Kind::Int64)?
        .f_int64_value(&[])?;
    Ok(Step::Done(StepStats {
        loss,
        arch_loss: arch.val_loss,
        correct,
        batch: train.ys.size()[0],
    }))
}

/// Derive the genotype and score the supernet on the α half. After a
/// divergence α may hold NaN: the genotype is then left empty.
fn finish(
    net: &Supernet,
    a_half: &Split,
    normalize: &Normalize,
    s: &DartsSettings,
    report: &mut DartsReport,
) -> Result<(), DartsError> {
    match net.derive() {
        Ok(g) => {
            report.derived = g.to_string();
            report.genotype = g.canonical_text();
        }
        Err(_) if report.diverged.is_some() => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    if report.diverged.is_some() {
        return Ok(());
    }
    let (acc, loss) = evaluate(net, a_half, normalize, s.batch_size)?;
    report.val_acc = acc;
    report.val_loss = loss;
    if !loss.is_finite() {
        report.diverged = Some(format!(
            "validation loss is {loss} after {} steps",
            report.steps
        ));
    }
    Ok(())
}

/// The seeded, stratified halves (weights, α) of the training split, or of
/// its seeded subset.
fn halves(train: &Split, s: &DartsSettings) -> Result<(Split, Split), DartsError> {
    let sub;
    let split = match s.train_subset {
        Some(n) if n < train.len() => {
            sub = train.subset(n, s.seed);
            &sub
        }
        _ => train,
    };
    let (w, a) = data::split_train_val(split, 0.5, s.seed);
    if w.is_empty() || a.is_empty() {
        return Err(DartsError::Settings(queue::wire::SettingError {
            field: "train_subset",
            reason: format!(
                "{} training images leave a half empty ({} and {})",
                split.len(),
                w.len(),
                a.len()
            ),
        }));
    }
    Ok((w, a))
}

/// Shuffled batches of one half, the last batch dropped when smaller (a
/// batch of one cannot be normalized in training mode).
fn half_loader<'a>(
    split: &'a Split,
    normalize: &Normalize,
    s: &DartsSettings,
    augment: data::Augment,
    seed: u64,
) -> Result<Loader<'a>, DartsError> {
    let batch_size = s.batch_size as usize;
    Ok(Loader::new(
        split,
        normalize,
        LoaderConfig {
            batch_size,
            shuffle: true,
            drop_last: split.len() > batch_size,
            augment,
            seed,
        },
    )?)
}

/// Running sums of one epoch's steps.
#[derive(Debug, Default)]
struct Sums {
    loss: f64,
    arch_loss: f64,
    correct: i64,
    seen: i64,
    steps: u64,
}

impl Sums {
    fn add(&mut self, step: &StepStats) {
        self.loss += step.loss;
        self.arch_loss += step.arch_loss;
        self.correct += step.correct;
        self.seen += step.batch;
        self.steps += 1;
    }
}

fn epoch_record(
    net: &Supernet,
    epoch: u32,
    epochs: u32,
    lr: f64,
    sums: &Sums,
    seconds: f64,
) -> Result<DartsEpoch, DartsError> {
    let steps = sums.steps.max(1) as f64;
    let alphas = net
        .alpha_names()
        .iter()
        .zip(net.softmax_alphas())
        .map(|(name, rows)| (name.to_string(), rows))
        .collect();
    Ok(DartsEpoch {
        epoch,
        epochs,
        lr,
        train_loss: sums.loss / steps,
        train_acc: 100.0 * sums.correct as f64 / sums.seen.max(1) as f64,
        arch_loss: sums.arch_loss / steps,
        seconds,
        genotype: net.derive()?.canonical_text(),
        alphas,
    })
}

/// Accuracy (percent) and mean loss of the supernet on `split`, in
/// evaluation mode (running statistics), as the reference's `infer`.
fn evaluate(
    net: &Supernet,
    split: &Split,
    normalize: &Normalize,
    batch_size: i64,
) -> Result<(f64, f64), DartsError> {
    let loader = Loader::new(
        split,
        normalize,
        LoaderConfig {
            batch_size: (batch_size as usize).max(256),
            shuffle: false,
            drop_last: false,
            augment: data::Augment::default(),
            seed: 0,
        },
    )?;
    let _guard = tch::no_grad_guard();
    let (mut correct, mut loss_sum, mut n) = (0i64, 0.0f64, 0i64);
    for (xs, ys) in loader.epoch(0) {
        let logits = net.forward_t(&xs, false);
        let loss = logits.f_cross_entropy_loss::<Tensor>(&ys, None, Reduction::Sum, -100, 0.0)?;
        loss_sum += loss.f_double_value(&[])?;
        correct += logits
            .f_argmax(-1, false)?
            .f_eq_tensor(&ys)?
            .f_sum(Kind::Int64)?
            .f_int64_value(&[])?;
        n += ys.size()[0];
    }
    let n = n.max(1) as f64;
    Ok((100.0 * correct as f64 / n, loss_sum / n))
}

/// `darts.json`: what was searched and how, the ops and edges α's tables
/// are indexed by, every epoch so far, and the result once there is one.
/// Written to a temporary file and renamed, so readers never see half.
fn write_output(
    path: &Path,
    run: &DartsRun<'_>,
    report: &DartsReport,
    finished: bool,
) -> Result<(), DartsError> {
    let err = |e: String| DartsError::Output {
        path: path.to_path_buf(),
        reason: e,
    };
    let doc = serde_json::json!({
        "space": run.space,
        "dataset": run.dataset.meta.name,
        "fingerprint": run.dataset.meta.fingerprint,
        "settings": run.settings,
        "ops": op_names(run.space),
        "edges": edge_labels(run.space),
        "params": report.params,
        "epochs": report.history,
        "result": finished.then(|| serde_json::json!({
            "genotype": report.genotype,
            "derived": report.derived,
            "val_acc": report.val_acc,
            "val_loss": report.val_loss,
            "search_seconds": report.search_seconds,
            "diverged": report.diverged,
        })),
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(&doc).map_err(|e| err(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
