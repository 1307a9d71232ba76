//! A DARTS search as a queue job ([`queue::JobKind::Darts`]): the
//! evaluator hands over the payload, the dataset and a device; this runs
//! the search and turns its report into the job's outcome. Its errors stay
//! [`DartsError`]s; the evaluator decides what the queue does with them.

use super::search::{search, DartsEpoch, DartsRun};
use super::DartsError;
use crate::cancel::Cancel;
use queue::wire::{DartsJob, DartsProgress, ProgressNote};
use queue::{Outcome, Scores};
use std::path::{Path, PathBuf};
use tch::Device;

/// The progress note of an epoch, for `nas status`: the epoch, its losses,
/// the cell α stands for now, and softmax(α) per edge with the op and edge
/// names.
pub fn progress_note(space: space::SpaceKind, e: &DartsEpoch) -> ProgressNote {
    ProgressNote::Darts(DartsProgress {
        epoch: e.epoch,
        epochs: e.epochs,
        train_loss: e.train_loss,
        train_acc: e.train_acc,
        arch_loss: e.arch_loss,
        genotype: e.genotype.clone(),
        ops: super::op_names(space)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        edges: super::edge_labels(space),
        alphas: e.alphas.clone(),
    })
}

/// Where a job's `darts.json` goes: `<dir>/<job id>/darts.json`; a job id
/// not of the shape `<search id>.<10 digits>` (`..`, `a/b.0000000001`) is
/// refused.
pub fn output_path(dir: &Path, job_id: &str) -> Result<PathBuf, queue::WireError> {
    queue::wire::validate_job_id("darts output path", job_id)?;
    Ok(dir.join(job_id).join("darts.json"))
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
) -> Result<Outcome, DartsError> {
    job.validate()?;
    let run = DartsRun {
        space: job.space.kind(),
        dataset,
        settings: &job.settings,
        device,
        output,
        checkpoint,
    };
    let report = search(&run, cancel, progress)?;
    if let Some(reason) = report.diverged {
        return Ok(Outcome::Diverged { reason });
    }
    Ok(Outcome::Ok(Scores {
        val_acc: report.val_acc,
        val_loss: Some(report.val_loss),
        params: Some(report.params as u64),
        train_seconds: report.search_seconds,
        images_per_s: Some(report.images_per_s),
        epochs: Some(f64::from(report.epochs)),
        device: Some(report.device),
        genotype: Some(report.genotype),
        ..Scores::default()
    }))
}
