//! `results.csv`: every evaluation of the search, one line each, with the
//! columns of `nas results --format csv`.

use queue::Outcome;
use scheduler::Evaluation;

/// The header line, as `nas results --format csv` prints it.
pub const HEADER: &str = "index,stage,rung,epochs,job_id,hash,outcome,val_acc,test_acc,params,train_seconds,attempt,worker,elapsed_ms,genotype";

/// One evaluation as a CSV line (without the newline), per RFC 4180: a
/// field holding a comma, a quote or a line break is quoted, its quotes
/// doubled; the genotype is always quoted, as it often holds commas.
pub fn line(e: &Evaluation) -> String {
    let (kind, m) = match &e.outcome {
        Outcome::Ok(m) => ("ok", Some(m)),
        Outcome::Diverged { .. } => ("diverged", None),
        Outcome::Dead { .. } => ("dead", None),
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        e.index,
        field(e.stage.word()),
        opt(e.rung.map(|r| r.to_string())),
        opt(m.and_then(|m| m.epochs).map(|v| v.to_string())),
        field(&e.job_id),
        field(&e.hash),
        kind,
        opt(m.map(|m| m.val_acc.to_string())),
        opt(m.and_then(|m| m.test_acc).map(|v| v.to_string())),
        opt(m.and_then(|m| m.params).map(|v| v.to_string())),
        opt(m.map(|m| m.train_seconds.to_string())),
        e.attempt,
        field(&e.worker),
        e.elapsed_ms,
        quoted(&e.genotype)
    )
}

/// `text` as a CSV field: as it is, or quoted when it holds a comma, a
/// quote or a line break.
pub fn field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(quoted(text))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// `text` quoted, its quotes doubled.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
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

#[cfg(test)]
mod tests {
    use super::*;
    use queue::Scores;
    use scheduler::state::Stage;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Issue 15, defect 9: stored strings went into results.csv unquoted.
    /// Whatever they hold, Python's csv module reads every field back.
    #[test]
    fn stored_strings_round_trip_through_results_csv() {
        let odd = Evaluation {
            index: 3,
            stage: Stage::Search,
            job_id: "s.0000000004".into(),
            hash: "ab,\"c".into(),
            genotype: "g, \"x\"\r\nnext".into(),
            outcome: Outcome::Ok(Scores {
                val_acc: 50.5,
                ..Default::default()
            }),
            attempt: 2,
            worker: "host,1 \"w\"\nline".into(),
            finished_ms: 9,
            elapsed_ms: 7,
            queued_ms: 0,
            consumed_ms: 0,
            rung: None,
        };
        let text = csv(&[odd.clone(), odd.clone()]);
        let read = "import csv, io, json, sys\n\
                    text = sys.stdin.buffer.read().decode('utf-8')\n\
                    print(json.dumps(list(csv.DictReader(io.StringIO(text, newline='')))))\n";
        let mut child = Command::new("python3")
            .args(["-c", read])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{text}");
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), 2, "{text}");
        for row in rows {
            assert_eq!(row["hash"], odd.hash.as_str(), "{text}");
            assert_eq!(row["genotype"], odd.genotype.as_str());
            assert_eq!(row["worker"], odd.worker.as_str());
            assert_eq!(row["job_id"], "s.0000000004");
            assert_eq!(row["val_acc"], "50.5");
            assert_eq!(row["elapsed_ms"], "7");
        }
    }
}
