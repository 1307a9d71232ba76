//! `results.csv`: every evaluation of the search, one line each, with the
//! columns of `nas results --format csv`.

use queue::Outcome;
use scheduler::Evaluation;

/// The header line, as `nas results --format csv` prints it.
pub const HEADER: &str = "index,stage,job_id,hash,outcome,val_acc,test_acc,params,train_seconds,attempt,worker,elapsed_ms,genotype";

/// One evaluation as a CSV line (without the newline); the genotype is
/// always quoted, as it may hold commas.
pub fn line(e: &Evaluation) -> String {
    let (kind, m) = match &e.outcome {
        Outcome::Ok(m) => ("ok", Some(m)),
        Outcome::Diverged { .. } => ("diverged", None),
        Outcome::Dead { .. } => ("dead", None),
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
        e.index,
        e.stage.word(),
        e.job_id,
        e.hash,
        kind,
        opt(m.map(|m| m.val_acc.to_string())),
        opt(m.and_then(|m| m.test_acc).map(|v| v.to_string())),
        opt(m.and_then(|m| m.params).map(|v| v.to_string())),
        opt(m.map(|m| m.train_seconds.to_string())),
        e.attempt,
        e.worker,
        e.elapsed_ms,
        e.genotype.replace('"', "\"\"")
    )
}

/// The whole file: the header and one line per evaluation.
pub fn csv(evaluations: &[Evaluation]) -> String {
    let mut out = String::with_capacity(64 * (evaluations.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for e in evaluations {
        out.push_str(&line(e));
        out.push('\n');
    }
    out
}
