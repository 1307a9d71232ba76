//! Evaluators: what a trainer does with one job's payload. Each runs on its
//! own thread, off the async runtime, and watches a cancel flag.

use crate::cancel::Cancel;
use crate::darts_search::DartsError;
use crate::progress::ProgressSink;
use crate::train::TrainError;
use queue::wire::{DartsJob, DataRef, EvalJob, EvaluatorSpec, ProgressNote, TrainProgress};
use queue::{JobKind, Outcome, Scores};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why an evaluation did not produce an outcome.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EvalError {
    /// It can never succeed (malformed payload, genotype not in its space,
    /// dataset mismatch): dead-letter at once.
    #[error("{0}")]
    Permanent(String),
    /// It may succeed on another attempt (a missing file, out of memory).
    #[error("{0}")]
    Retryable(String),
    /// The trainer is shutting down or lost the lease: no outcome.
    #[error("cancelled")]
    Cancelled,
}

/// How often a training run builds a progress note, at most.
const NOTE_EVERY: Duration = Duration::from_millis(200);

/// The longest `sleep_ms` a no-op job may ask for: one hour.
pub const MAX_NOOP_SLEEP_MS: u64 = 3_600_000;

/// A no-op job: success at once, or after `sleep_ms` milliseconds when the
/// payload asks for it (`{"sleep_ms": 50}`), which benchmarks use to stand
/// in for training of a fixed length. Other payload fields are ignored.
fn noop(payload: &serde_json::Value, cancel: &Cancel) -> Result<Outcome, EvalError> {
    let sleep_ms = match payload.get("sleep_ms") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|ms| *ms <= MAX_NOOP_SLEEP_MS)
            .ok_or_else(|| {
                EvalError::Permanent(format!(
                    "noop payload: sleep_ms {v} must be a whole number of milliseconds from 0 to {MAX_NOOP_SLEEP_MS}"
                ))
            })?,
    };
    if sleep_ms > 0 && !cancel.sleep(Duration::from_millis(sleep_ms)) {
        return Err(EvalError::Cancelled);
    }
    Ok(Outcome::Ok(Scores {
        train_seconds: sleep_ms as f64 / 1000.0,
        device: Some("none".into()),
        ..Scores::default()
    }))
}

/// Check that a search id may be a folder name under a trainer's
/// checkpoint or artifacts folder; one that is not fails the job for good.
fn path_part(what: &'static str, search: &str) -> Result<(), EvalError> {
    queue::wire::validate_search_id(what, search).map_err(|e| EvalError::Permanent(e.to_string()))
}

/// Settings for the evaluators a trainer offers.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    /// Where the converted NAS-Bench-201 tables are.
    pub nb201_dir: PathBuf,
    /// Fail every evaluation with this message (for poison-job tests and
    /// drills); `None` in normal operation.
    pub fail_all: Option<String>,
    /// Where torch jobs train: `auto` (every GPU, else the CPU), `cpu`,
    /// `cuda`, `cuda:N`, or a comma-separated list.
    pub device: String,
    /// Each torch or darts job checkpoints every epoch to
    /// `<dir>/<search>/<digest of the payload>/`, and a redelivered job (or
    /// the same job enqueued again, under a new id, by a resumed search)
    /// resumes from there. `None`: no checkpoints.
    pub checkpoint_dir: Option<PathBuf>,
    /// Final evaluations (those that score the test set) save their trained
    /// weights as `<dir>/<search>/<genotype hash>.safetensors`.
    pub artifacts_dir: Option<PathBuf>,
    /// libtorch threads per job on the CPU (`None`: the cores divided by
    /// the slots, so that slots do not oversubscribe the machine).
    pub cpu_threads: Option<i32>,
    /// Concurrent jobs of this trainer, for the CPU thread share.
    pub slots: usize,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            nb201_dir: nb201::default_dir(),
            fail_all: None,
            device: "auto".into(),
            checkpoint_dir: None,
            artifacts_dir: None,
            cpu_threads: None,
            slots: 1,
        }
    }
}

impl EvaluatorConfig {
    /// The devices torch jobs may use; `auto` is every CUDA device, or the
    /// CPU when there is none.
    pub fn devices(&self) -> Result<Vec<tch::Device>, String> {
        crate::device::parse_devices(&self.device)
    }
}

/// What a torch job asks for.
struct TorchJob<'a> {
    search: &'a str,
    data: &'a DataRef,
    settings: &'a queue::wire::TrainSettings,
    seed: u64,
    /// Where to checkpoint, if anywhere.
    checkpoint: Option<PathBuf>,
    /// A multi-fidelity job's rung.
    fidelity: Option<queue::wire::Fidelity>,
}

/// Datasets as loaded, keyed by how the job names them (without the
/// fingerprint). A tensor is not `Sync`, so
/// each dataset sits behind a mutex, held only to take a shallow copy
/// (shared storage) for one job.
type DatasetCache = HashMap<DataRef, Arc<Mutex<data::Dataset>>>;

/// A second handle on the same tensors.
fn shallow(ds: &data::Dataset) -> data::Dataset {
    data::Dataset {
        meta: ds.meta.clone(),
        train: ds.train.shallow_clone(),
        test: ds.test.shallow_clone(),
    }
}

/// Evaluates jobs; shared by all slots of a trainer.
#[derive(Debug)]
pub struct Evaluators {
    config: EvaluatorConfig,
    tables: Mutex<HashMap<nb201::Dataset, Arc<nb201::Table>>>,
    datasets: Mutex<DatasetCache>,
    /// Jobs running on each device, to place a new job on the least busy.
    device_load: Mutex<Vec<(tch::Device, usize)>>,
}

impl Evaluators {
    /// Evaluators with `config`; tables and datasets load on first use.
    pub fn new(config: EvaluatorConfig) -> Self {
        let devices = config.devices().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "bad device setting; training on the CPU");
            vec![tch::Device::Cpu]
        });
        Self {
            config,
            tables: Mutex::default(),
            datasets: Mutex::default(),
            device_load: Mutex::new(devices.into_iter().map(|d| (d, 0)).collect()),
        }
    }

    /// Evaluate job `job_id` of search `search_id` (blocking: call from a
    /// dedicated thread), reporting progress to `progress`: a DARTS search
    /// its epochs (α and the derived cell), a training run its steps.
    pub fn evaluate(
        &self,
        job_id: &str,
        search_id: &str,
        kind: JobKind,
        payload: &serde_json::Value,
        cancel: &Cancel,
        progress: &ProgressSink,
    ) -> Result<Outcome, EvalError> {
        if let Some(msg) = &self.config.fail_all {
            return Err(EvalError::Retryable(msg.clone()));
        }
        match kind {
            JobKind::Noop => noop(payload, cancel),
            JobKind::Darts => {
                let job: DartsJob = serde_json::from_value(payload.clone())
                    .map_err(|e| EvalError::Permanent(format!("malformed darts payload: {e}")))?;
                let checkpoint = self.checkpoint_dir(search_id, payload)?;
                self.darts(job_id, &job, checkpoint.as_deref(), cancel, progress)
            }
            JobKind::Evaluate => {
                let job: EvalJob = serde_json::from_value(payload.clone()).map_err(|e| {
                    EvalError::Permanent(format!("malformed evaluate payload: {e}"))
                })?;
                let genotype = job
                    .genotype()
                    .map_err(|e| EvalError::Permanent(e.to_string()))?;
                match &job.evaluator {
                    EvaluatorSpec::Nb201 {
                        dataset,
                        time_scale,
                    } => self.nb201(&genotype, dataset, *time_scale, job.seed, cancel),
                    EvaluatorSpec::Torch { data, settings } => self.torch(
                        &genotype,
                        TorchJob {
                            search: search_id,
                            data,
                            settings,
                            seed: job.seed,
                            checkpoint: self.checkpoint_dir(search_id, payload)?,
                            fidelity: job.fidelity,
                        },
                        cancel,
                        progress,
                    ),
                    // The python pool keeps these from Rust trainers; one
                    // that reaches here anyway fails rather than guesses.
                    EvaluatorSpec::Python { entry, .. } => Err(EvalError::Permanent(format!(
                        "job {job_id} names the python evaluator {entry:?}: only Python trainers (nas-worker) run it"
                    ))),
                }
            }
        }
    }

    /// The dataset a job names, loaded once per trainer and checked
    /// against the job's fingerprint.
    fn dataset(&self, data: &DataRef) -> Result<data::Dataset, EvalError> {
        let path = data.path.as_str();
        // Read once per way of reading it; the fingerprint is checked below.
        let key = DataRef {
            fingerprint: None,
            ..data.clone()
        };
        let mut cache = self.datasets.lock().unwrap_or_else(|e| e.into_inner());
        let ds = match cache.get(&key) {
            Some(ds) => shallow(&ds.lock().unwrap_or_else(|e| e.into_inner())),
            None => {
                let ds = crate::train::load_dataset(&key)
                    .map_err(|e| EvalError::Retryable(format!("loading dataset {path}: {e}")))?;
                let copy = shallow(&ds);
                cache.insert(key, Arc::new(Mutex::new(ds)));
                copy
            }
        };
        if let Some(want) = data.fingerprint.as_deref() {
            if ds.meta.fingerprint != want {
                return Err(EvalError::Permanent(format!(
                    "dataset fingerprint mismatch: the job expects {want}, this trainer's copy of {path} is {}",
                    ds.meta.fingerprint
                )));
            }
        }
        Ok(ds)
    }

    /// Train the candidate with libtorch on the least busy device.
    fn torch(
        &self,
        genotype: &space::Genotype,
        job: TorchJob<'_>,
        cancel: &Cancel,
        progress: &ProgressSink,
    ) -> Result<Outcome, EvalError> {
        job.settings
            .validate()
            .map_err(|e| EvalError::Permanent(format!("torch evaluator: settings: {e}")))?;
        let weights = match job.settings.test {
            true => self.artifacts_path(job.search, genotype)?,
            false => None,
        };
        let rung_dirs = match job.fidelity {
            Some(f) => {
                f.validate(job.settings.epochs)
                    .map_err(|e| EvalError::Permanent(format!("torch evaluator: {e}")))?;
                let save = self.rung_dir(job.search, genotype, f.epochs)?;
                let from = match f.resume_from {
                    Some(e) => self.rung_dir(job.search, genotype, e)?,
                    None => None,
                };
                if f.resume_from.is_some() && from.is_none() {
                    tracing::warn!(rung = f.rung, "this trainer has no checkpoint folder (--checkpoint-dir): the promoted rung trains from scratch");
                }
                Some((f, save, from))
            }
            None => None,
        };
        let ds = self.dataset(job.data)?;
        let device = self.take_device();
        let checkpoint = job.checkpoint.as_deref();
        let run = crate::train::TrainRun {
            genotype,
            dataset: &ds,
            settings: job.settings,
            seed: job.seed,
            device,
            checkpoint_dir: checkpoint,
            weights_out: weights.as_deref(),
            rung: rung_dirs
                .as_ref()
                .map(|(f, save, from)| crate::train::RungRun {
                    epochs: f.epochs,
                    save_to: save.as_deref(),
                    resume_from: from.as_deref(),
                }),
        };
        // A note every step would cost a JSON encoding per step for the
        // queue's once-a-second pickup: build one every 200 ms, and the last.
        let mut noted = Instant::now();
        let result = crate::train::train(&run, cancel, &mut |p| {
            if noted.elapsed() >= NOTE_EVERY || p.step == p.total {
                noted = Instant::now();
                progress.report(&ProgressNote::Train(TrainProgress {
                    step: p.step,
                    steps: p.total,
                    loss: p.loss,
                }))
            }
        });
        self.give_back_device(device);
        let report = match result {
            Ok(r) => r,
            Err(TrainError::Cancelled) => return Err(EvalError::Cancelled),
            Err(e @ (TrainError::Model(_) | TrainError::Settings(_) | TrainError::Data(_))) => {
                return Err(EvalError::Permanent(e.to_string()))
            }
            Err(e @ (TrainError::Torch(_) | TrainError::Checkpoint { .. })) => {
                return Err(EvalError::Retryable(e.to_string()))
            }
        };
        if let Some(reason) = report.diverged {
            return Ok(Outcome::Diverged { reason });
        }
        Ok(Outcome::Ok(Scores {
            val_acc: report.val_acc,
            val_loss: Some(report.val_loss),
            test_acc: report.test_acc,
            val_rmse: report.val_rmse,
            val_r2: report.val_r2,
            test_rmse: report.test_rmse,
            test_r2: report.test_r2,
            params: Some(report.params as u64),
            train_seconds: report.train_seconds,
            images_per_s: Some(report.images_per_s),
            epochs: Some(report.epochs),
            resumed_from: report.resumed_from,
            resume_seconds: report.resume_seconds,
            device: Some(report.device),
            weights: weights.map(|p| p.display().to_string()),
            genotype: None,
        }))
    }

    /// Where a job of `search` with `payload` keeps its checkpoint
    /// (`None`: this trainer keeps none): named by what the job is, not by
    /// its id, so that the same work enqueued again under a new id finds it.
    /// A search id that is not one (`..`, `a/b`) fails the job for good.
    pub fn checkpoint_dir(
        &self,
        search: &str,
        payload: &serde_json::Value,
    ) -> Result<Option<PathBuf>, EvalError> {
        use sha2::Digest;
        let Some(dir) = self.config.checkpoint_dir.as_ref() else {
            return Ok(None);
        };
        path_part("checkpoint path", search)?;
        let digest = sha2::Sha256::digest(payload.to_string().as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(dir.join(search).join(name)))
    }

    /// Where a multi-fidelity job of `search` leaves `genotype`'s state
    /// after `epochs` epochs for the next rung, and a promoted job finds it:
    /// `<checkpoint dir>/<search>/rungs/<genotype hash>/e<epochs>/`, a
    /// folder every trainer must see (the shared checkpoint volume).
    /// `None`: this trainer keeps no checkpoints.
    pub fn rung_dir(
        &self,
        search: &str,
        genotype: &space::Genotype,
        epochs: f64,
    ) -> Result<Option<PathBuf>, EvalError> {
        let Some(dir) = self.config.checkpoint_dir.as_ref() else {
            return Ok(None);
        };
        path_part("checkpoint path", search)?;
        Ok(Some(
            dir.join(search)
                .join("rungs")
                .join(genotype.hash().to_string())
                .join(format!("e{epochs}")),
        ))
    }

    /// Where a final evaluation of `search` saves the trained weights of
    /// `genotype`, `<artifacts dir>/<search>/<genotype hash>.safetensors`
    /// (`None`: this trainer keeps none). A search id that is not one fails
    /// the job for good.
    pub fn artifacts_path(
        &self,
        search: &str,
        genotype: &space::Genotype,
    ) -> Result<Option<PathBuf>, EvalError> {
        let Some(dir) = self.config.artifacts_dir.as_ref() else {
            return Ok(None);
        };
        path_part("artifacts path", search)?;
        Ok(Some(
            dir.join(search)
                .join(format!("{}.safetensors", genotype.hash())),
        ))
    }

    /// The least busy device, counted as busy until [`Self::give_back_device`];
    /// on the CPU, libtorch's threads are set to this job's share.
    fn take_device(&self) -> tch::Device {
        let device = {
            let mut load = self.device_load.lock().unwrap_or_else(|e| e.into_inner());
            let slot = load
                .iter_mut()
                .min_by_key(|(_, n)| *n)
                .expect("at least one device");
            slot.1 += 1;
            slot.0
        };
        if device == tch::Device::Cpu {
            let cores = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            let threads = self
                .config
                .cpu_threads
                .unwrap_or((cores / self.config.slots.max(1)).max(1) as i32);
            tch::set_num_threads(threads);
        }
        device
    }

    /// A job on `device` has ended.
    fn give_back_device(&self, device: tch::Device) {
        let mut load = self.device_load.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = load.iter_mut().find(|(d, _)| *d == device) {
            slot.1 = slot.1.saturating_sub(1);
        }
    }

    /// Run a DARTS search on the least busy device; α and the derived
    /// genotype go to `<checkpoint or artifacts dir>/<job id>/darts.json`
    /// and to the log after every epoch.
    fn darts(
        &self,
        job_id: &str,
        job: &DartsJob,
        checkpoint: Option<&std::path::Path>,
        cancel: &Cancel,
        sink: &ProgressSink,
    ) -> Result<Outcome, EvalError> {
        job.validate()
            .map_err(|e| EvalError::Permanent(format!("darts job: {e}")))?;
        let output = (self.config.checkpoint_dir.as_ref())
            .or(self.config.artifacts_dir.as_ref())
            .map(|dir| crate::darts_search::job::output_path(dir, job_id))
            .transpose()
            .map_err(|e| EvalError::Permanent(format!("darts job: {e}")))?;
        let ds = self.dataset(&job.data)?;
        let device = self.take_device();
        let mut progress = |e: &crate::darts_search::DartsEpoch| {
            tracing::info!(
                job = %job_id,
                epoch = e.epoch,
                epochs = e.epochs,
                train_loss = e.train_loss,
                arch_loss = e.arch_loss,
                genotype = %e.genotype,
                alphas = %serde_json::to_string(&e.alphas).unwrap_or_default(),
                "darts epoch"
            );
            sink.report(&crate::darts_search::job::progress_note(
                job.space.kind(),
                e,
            ));
        };
        let result = crate::darts_search::job::run_job(
            job,
            &ds,
            device,
            output.as_deref(),
            checkpoint,
            cancel,
            &mut progress,
        );
        self.give_back_device(device);
        result.map_err(|e| match e {
            DartsError::Cancelled => EvalError::Cancelled,
            DartsError::Settings(_)
            | DartsError::Space(_)
            | DartsError::Model(_)
            | DartsError::Data(_)
            | DartsError::Derive(_) => EvalError::Permanent(format!("darts job: {e}")),
            DartsError::Torch(_) | DartsError::Output { .. } => {
                EvalError::Retryable(format!("darts job: {e}"))
            }
        })
    }

    fn table(&self, dataset: nb201::Dataset) -> Result<Arc<nb201::Table>, EvalError> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&dataset) {
            return Ok(t.clone());
        }
        let t = nb201::Table::load_dataset(&self.config.nb201_dir, dataset)
            .map_err(|e| EvalError::Retryable(format!("loading the NAS-Bench-201 table: {e}")))?;
        let t = Arc::new(t);
        tables.insert(dataset, t.clone());
        Ok(t)
    }

    /// Look the cell up: the validation accuracy of the run the seed picks,
    /// after sleeping the table's training time x `time_scale`.
    fn nb201(
        &self,
        g: &space::Genotype,
        dataset: &str,
        time_scale: f64,
        seed: u64,
        cancel: &Cancel,
    ) -> Result<Outcome, EvalError> {
        let space::Genotype::Nb201(cell) = g else {
            return Err(EvalError::Permanent(format!(
                "the nb201 evaluator takes nb201 cells, not {} genotypes",
                g.kind()
            )));
        };
        let dataset: nb201::Dataset = dataset
            .parse()
            .map_err(|e| EvalError::Permanent(format!("nb201 evaluator: {e}")))?;
        if !(time_scale.is_finite() && time_scale >= 0.0) {
            return Err(EvalError::Permanent(format!(
                "nb201 evaluator: time_scale {time_scale} must be a finite number >= 0"
            )));
        }
        let table = self.table(dataset)?;
        let entry = table.get(cell);
        let run = (seed % entry.train_time.len() as u64) as usize;
        let train_seconds = entry.train_time[run];
        if time_scale > 0.0 && !cancel.sleep(Duration::from_secs_f64(train_seconds * time_scale)) {
            return Err(EvalError::Cancelled);
        }
        Ok(Outcome::Ok(Scores {
            val_acc: table.val_acc(cell, seed),
            params: Some((entry.model_size_m * 1e6).round() as u64),
            train_seconds,
            device: Some("table".into()),
            ..Scores::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evaluators() -> Evaluators {
        Evaluators::new(EvaluatorConfig::default())
    }

    #[test]
    fn noop_jobs_sleep_as_long_as_their_payload_asks() {
        let ev = evaluators();
        let start = Instant::now();
        let out = ev
            .evaluate(
                "test-job",
                "test-search",
                JobKind::Noop,
                &json!({ "sleep_ms": 30 }),
                &Cancel::default(),
                &ProgressSink::default(),
            )
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        let Outcome::Ok(m) = out else {
            panic!("a noop job succeeds: {out:?}")
        };
        assert_eq!(m.train_seconds, 0.03);
        // No sleep_ms, or a payload that is not an object: done at once.
        for payload in [json!({ "key": "a" }), json!(null), json!([1, 2])] {
            let start = Instant::now();
            ev.evaluate(
                "test-job",
                "test-search",
                JobKind::Noop,
                &payload,
                &Cancel::default(),
                &ProgressSink::default(),
            )
            .unwrap();
            assert!(start.elapsed() < Duration::from_millis(20), "{payload}");
        }
    }

    #[test]
    fn noop_jobs_refuse_bad_sleeps_and_stop_when_cancelled() {
        let ev = evaluators();
        for bad in [
            json!(-1),
            json!(1.5),
            json!("50"),
            json!(MAX_NOOP_SLEEP_MS + 1),
        ] {
            let err = ev
                .evaluate(
                    "test-job",
                    "test-search",
                    JobKind::Noop,
                    &json!({ "sleep_ms": bad }),
                    &Cancel::default(),
                    &ProgressSink::default(),
                )
                .unwrap_err();
            assert!(
                matches!(&err, EvalError::Permanent(m) if m.contains("sleep_ms")),
                "{bad}: {err:?}"
            );
        }
        let cancel = Cancel::default();
        cancel.cancel();
        let err = ev
            .evaluate(
                "test-job",
                "test-search",
                JobKind::Noop,
                &json!({ "sleep_ms": 60_000 }),
                &cancel,
                &ProgressSink::default(),
            )
            .unwrap_err();
        assert_eq!(err, EvalError::Cancelled);
    }
}
