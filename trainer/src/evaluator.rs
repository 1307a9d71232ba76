//! Evaluators: what a trainer does with one job's payload. Each runs on its
//! own thread, off the async runtime, and watches a cancel flag.

use queue::wire::{EvalJob, EvaluatorSpec};
use queue::{JobKind, Metrics, Outcome};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A flag an evaluation polls to stop early.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Ask the evaluation to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Has it been asked to stop?
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleep for `d`, waking early when cancelled; false if cancelled.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.is_cancelled() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
        !self.is_cancelled()
    }
}

/// Settings for the evaluators a trainer offers.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    /// Where the converted NAS-Bench-201 tables are.
    pub nb201_dir: PathBuf,
    /// Fail every evaluation with this message (for poison-job tests and
    /// drills); `None` in normal operation.
    pub fail_all: Option<String>,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            nb201_dir: nb201::default_dir(),
            fail_all: None,
        }
    }
}

/// Evaluates jobs; shared by all slots of a trainer.
#[derive(Debug)]
pub struct Evaluators {
    config: EvaluatorConfig,
    tables: Mutex<HashMap<nb201::Dataset, Arc<nb201::Table>>>,
}

impl Evaluators {
    /// Evaluators with `config`; tables load on first use.
    pub fn new(config: EvaluatorConfig) -> Self {
        Self {
            config,
            tables: Mutex::default(),
        }
    }

    /// Evaluate one job (blocking: call from a dedicated thread).
    pub fn evaluate(
        &self,
        kind: JobKind,
        payload: &serde_json::Value,
        cancel: &Cancel,
    ) -> Result<Outcome, EvalError> {
        if let Some(msg) = &self.config.fail_all {
            return Err(EvalError::Retryable(msg.clone()));
        }
        match kind {
            JobKind::Noop => Ok(Outcome::Ok(Metrics {
                device: Some("none".into()),
                ..Metrics::default()
            })),
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
                }
            }
        }
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
        Ok(Outcome::Ok(Metrics {
            val_acc: table.val_acc(cell, seed),
            params: Some((entry.model_size_m * 1e6).round() as u64),
            train_seconds,
            device: Some("table".into()),
            ..Metrics::default()
        }))
    }
}
