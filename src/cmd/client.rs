//! `nas submit | status | results | cancel | dlq`: talk to a running system.

use crate::cli::{DlqCommand, QueueArgs};
use anyhow::Context;
use queue::Queue;
use scheduler::client;
use scheduler::{RedisStore, SearchSpec};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

async fn connect(args: &QueueArgs) -> anyhow::Result<(queue::RedisQueue, RedisStore)> {
    let q = args.connect().await?;
    let store = RedisStore::new(&q, "client");
    Ok((q, store))
}

pub async fn submit(args: QueueArgs, spec: &Path) -> anyhow::Result<ExitCode> {
    let mut spec = SearchSpec::from_file(spec)?;
    pin_dataset(&mut spec)?;
    let (_, store) = connect(&args).await?;
    let id = client::submit(&store, spec).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Record the fingerprint of a torch search's dataset, as this machine
/// reads it, so that every trainer can check its own copy against it.
pub fn pin_dataset(spec: &mut SearchSpec) -> anyhow::Result<()> {
    if let queue::wire::EvaluatorSpec::Torch {
        data,
        format,
        fingerprint,
        ..
    } = &mut spec.evaluator
    {
        let format = format
            .as_deref()
            .map(|f| f.parse::<data::Format>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("evaluator torch: format: {e}"))?;
        let ds = data::Dataset::load(Path::new(data.as_str()), format)
            .with_context(|| format!("evaluator torch: reading the dataset {data}"))?;
        if let Some(want) = fingerprint.as_deref() {
            anyhow::ensure!(
                want == ds.meta.fingerprint,
                "evaluator torch: the spec pins fingerprint {want}, but {data} here is {}",
                ds.meta.fingerprint
            );
        }
        *fingerprint = Some(ds.meta.fingerprint);
    }
    Ok(())
}

/// A running job's progress note as lines of the status table: a DARTS
/// search's epoch, losses and current cell, then per cell type the
/// strongest op of each edge with its softmax(α) weight; a training run's
/// step and loss.
fn note_lines(n: &client::JobNote) -> Vec<String> {
    let v = &n.note;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    match v["kind"].as_str() {
        Some("darts") => {
            let mut lines = vec![format!(
                "{} {}: epoch {}/{}, train loss {:.3} ({:.1}% correct), α loss {:.3}; cell now {}",
                n.stage.word(),
                n.job_id,
                v["epoch"],
                v["epochs"],
                f("train_loss"),
                f("train_acc"),
                f("arch_loss"),
                v["genotype"].as_str().unwrap_or("?")
            )];
            let ops: Vec<&str> = (v["ops"].as_array().into_iter().flatten())
                .map(|o| o.as_str().unwrap_or("?"))
                .collect();
            let edges: Vec<&str> = (v["edges"].as_array().into_iter().flatten())
                .map(|e| e.as_str().unwrap_or("?"))
                .collect();
            for (name, rows) in v["alphas"].as_object().into_iter().flatten() {
                let cells: Vec<String> = (rows.as_array().into_iter().flatten())
                    .enumerate()
                    .map(|(i, row)| {
                        let w: Vec<f64> = (row.as_array().into_iter().flatten())
                            .map(|x| x.as_f64().unwrap_or(f64::NAN))
                            .collect();
                        let best = (0..w.len())
                            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
                            .unwrap_or(0);
                        format!(
                            "{} {} {:.3}",
                            edges.get(i).copied().unwrap_or("?"),
                            ops.get(best).copied().unwrap_or("?"),
                            w.get(best).copied().unwrap_or(f64::NAN)
                        )
                    })
                    .collect();
                lines.push(format!("  α {name}: {}", cells.join(" | ")));
            }
            lines
        }
        Some("train") => vec![format!(
            "{} {} {}: step {}/{}, loss {:.3}",
            n.stage.word(),
            n.job_id,
            n.genotype,
            v["step"],
            v["steps"],
            f("loss")
        )],
        _ => vec![format!("{} {}: {}", n.stage.word(), n.job_id, v)],
    }
}

/// `nas status`: the table (or JSON) once, or with `watch` (seconds between
/// redraws) redrawn in place until Ctrl-C or every search shown is terminal.
pub async fn status(
    args: QueueArgs,
    id: Option<String>,
    json: bool,
    watch: Option<f64>,
) -> anyhow::Result<ExitCode> {
    fn table(
        out: &mut impl Write,
        rows: &[client::SearchStatus],
        workers: &[String],
    ) -> std::io::Result<()> {
        writeln!(
            out,
            "{:<34} {:<9} {:>6} {:>9} {:>6} {:>6} {:>6} {:>8} {:>8} {:>7}",
            "SEARCH",
            "STATUS",
            "BUDGET",
            "EVALUATED",
            "QUEUED",
            "LEASED",
            "FAILED",
            "BEST",
            "RATE/S",
            "ETA"
        )?;
        for r in rows {
            let s = &r.state;
            let best = s
                .best
                .as_ref()
                .and_then(|b| b.val_acc())
                .map(|a| format!("{a:.2}"))
                .unwrap_or("-".into());
            let eta = r.eta_s.map(|e| format!("{e:.0}s")).unwrap_or("-".into());
            writeln!(
                out,
                "{:<34} {:<9} {:>6} {:>9} {:>6} {:>6} {:>6} {:>8} {:>8.2} {:>7}",
                s.id,
                s.status.word(),
                s.spec.budget,
                s.evaluated,
                r.counts.queued + r.counts.delayed,
                r.counts.leased,
                s.failed,
                best,
                r.rate,
                eta
            )?;
            if let Some(b) = &s.best {
                writeln!(out, "  best {}", b.genotype)?;
            }
            for f in &s.finals {
                match &f.outcome {
                    queue::Outcome::Ok(m) => writeln!(
                        out,
                        "  final {}: val {:.2}%, test {}",
                        f.genotype,
                        m.val_acc,
                        m.test_acc.map(|t| format!("{t:.2}%")).unwrap_or("-".into())
                    )?,
                    other => writeln!(out, "  final {}: {other:?}", f.genotype)?,
                }
            }
            for n in &r.notes {
                for line in note_lines(n) {
                    writeln!(out, "  {line}")?;
                }
            }
            if let scheduler::Status::Failed { reason } = &s.status {
                writeln!(out, "  failed: {reason}")?;
            }
        }
        writeln!(
            out,
            "trainers alive: {}",
            if workers.is_empty() {
                "none".into()
            } else {
                workers.join(", ")
            }
        )?;
        Ok(())
    }

    let (q, store) = connect(&args).await?;
    let Some(every) = watch else {
        let (rows, workers) = client::status(&store, &q, id.as_deref()).await?;
        let mut out = std::io::stdout().lock();
        if json {
            let doc = serde_json::json!({ "searches": rows, "trainers": workers });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        } else {
            table(&mut out, &rows, &workers)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    anyhow::ensure!(
        every.is_finite() && (0.1..=86_400.0).contains(&every),
        "--interval {every} must be between 0.1 and 86400 seconds"
    );
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let (rows, workers) = client::status(&store, &q, id.as_deref()).await?;
        // Draw the frame whole, then show it at once: no flicker.
        let mut frame = Vec::new();
        table(&mut frame, &rows, &workers)?;
        let done = !rows.is_empty() && rows.iter().all(|r| r.state.status.is_terminal());
        let mut out = std::io::stdout().lock();
        if tty {
            // Home the cursor, clear the screen below it, draw.
            write!(out, "{}\x1b[H\x1b[J", if first { "\x1b[2J" } else { "" })?;
        } else if !first {
            writeln!(out)?;
        }
        out.write_all(&frame)?;
        if !done {
            writeln!(out, "every {every}s until all are finished; Ctrl-C to stop")?;
        }
        out.flush()?;
        drop(out);
        first = false;
        if done {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(std::time::Duration::from_secs_f64(every)) => {}
        }
    }
}

pub async fn results(args: QueueArgs, id: &str, format: &str) -> anyhow::Result<ExitCode> {
    let (_, store) = connect(&args).await?;
    let evals = client::results(&store, id).await?;
    let mut out = std::io::stdout().lock();
    if format == "csv" {
        write!(out, "{}", export::results::csv(&evals))?;
    } else {
        for e in &evals {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: QueueArgs, id: &str) -> anyhow::Result<ExitCode> {
    let (q, store) = connect(&args).await?;
    let dropped = client::cancel(&store, &q, id).await?;
    println!("cancelled {id}: {dropped} queued jobs dropped");
    Ok(ExitCode::SUCCESS)
}

pub async fn dlq(args: QueueArgs, command: DlqCommand) -> anyhow::Result<ExitCode> {
    let q = args.connect().await?;
    match command {
        DlqCommand::List { json } => {
            let mut out = std::io::stdout().lock();
            for d in q.dead_letters(100_000).await? {
                if json {
                    let doc = serde_json::json!({
                        "job_id": d.job_id, "search_id": d.search_id, "attempt": d.attempt,
                        "reason": d.reason, "envelope": d.envelope,
                    });
                    writeln!(out, "{doc}")?;
                } else {
                    writeln!(out, "{}\tattempt {}\t{}", d.job_id, d.attempt, d.reason)?;
                }
            }
        }
        DlqCommand::Replay { job_ids, all } => {
            let ids = if all {
                q.dead_letters(100_000)
                    .await?
                    .into_iter()
                    .map(|d| d.job_id)
                    .collect()
            } else {
                job_ids
            };
            let mut missing = Vec::new();
            for id in &ids {
                if q.replay(id)
                    .await
                    .with_context(|| format!("replaying {id}"))?
                {
                    println!("replayed {id}");
                } else {
                    missing.push(id.clone());
                }
            }
            anyhow::ensure!(
                missing.is_empty(),
                "not in the dead-letter list: {}",
                missing.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
