//! A DARTS search as a queue job ([`queue::JobKind::Darts`]): the
//! evaluator hands over the payload, the dataset and a device; this runs
//! the search and turns its report into the job's outcome, and its errors
//! into what the queue should do next.

use super::search::{search, DartsEpoch, DartsRun};
use super::DartsError;
use crate::evaluator::{Cancel, EvalError};
use queue::wire::DartsJob;
use queue::{Metrics, Outcome};
use std::path::{Path, PathBuf};
use tch::Device;

/// The progress note of an epoch, for `nas status`: the epoch, its losses,
/// the cell α stands for now, and softmax(α) per edge with the op and edge
/// names.
pub fn progress_note(space: space::SpaceKind, e: &DartsEpoch) -> serde_json::Value {
    serde_json::json!({
        "kind": "darts",
        "epoch": e.epoch,
        "epochs": e.epochs,
        "train_loss": e.train_loss,
        "train_acc": e.train_acc,
        "arch_loss": e.arch_loss,
        "genotype": e.genotype,
        "ops": super::op_names(space),
        "edges": super::edge_labels(space),
        "alphas": e.alphas,
    })
}

/// Where a job's `darts.json` goes: `<dir>/<job id>/darts.json`.
pub fn output_path(dir: &Path, job_id: &str) -> PathBuf {
    dir.join(job_id).join("darts.json")
}

/// Run the search `job` asks for on `dataset` (already checked against the
/// job's fingerprint) on `device`, resuming from `checkpoint` when the
/// folder holds this search's state (a redelivered job). `Ok`: the supernet's accuracy on the α
/// half and the derived genotype; `Diverged` when a loss became NaN or
/// infinite.
pub fn run_job(
    job: &DartsJob,
    dataset: &data::Dataset,
    device: Device,
    output: Option<&Path>,
    checkpoint: Option<&Path>,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&DartsEpoch),
) -> Result<Outcome, EvalError> {
    job.validate()
        .map_err(|e| EvalError::Permanent(format!("darts job: {e}")))?;
    let run = DartsRun {
        space: job.space.kind(),
        dataset,
        settings: &job.settings,
        device,
        output,
        checkpoint,
    };
    let report = match search(&run, cancel, progress) {
        Ok(r) => r,
        Err(DartsError::Cancelled) => return Err(EvalError::Cancelled),
        Err(
            e @ (DartsError::Settings(_)
            | DartsError::Space(_)
            | DartsError::Model(_)
            | DartsError::Data(_)
            | DartsError::Derive(_)),
        ) => return Err(EvalError::Permanent(format!("darts job: {e}"))),
        Err(e @ (DartsError::Torch(_) | DartsError::Output { .. })) => {
            return Err(EvalError::Retryable(format!("darts job: {e}")))
        }
    };
    if let Some(reason) = report.diverged {
        return Ok(Outcome::Diverged { reason });
    }
    Ok(Outcome::Ok(Metrics {
        val_acc: report.val_acc,
        val_loss: Some(report.val_loss),
        params: Some(report.params as u64),
        train_seconds: report.search_seconds,
        images_per_s: Some(report.images_per_s),
        epochs: Some(f64::from(report.epochs)),
        device: Some(report.device),
        genotype: Some(report.genotype),
        ..Metrics::default()
    }))
}
