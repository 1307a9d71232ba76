//! `nas submit | status | results | cancel | dlq | gc`: talk to a running
//! system.

use crate::args::QueueArgs;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use queue::wire::ProgressNote;
use queue::Queue;
use scheduler::client;
use scheduler::{RedisStore, SearchSpec};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `nas submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// The spec file.
    pub spec: std::path::PathBuf,
}

/// Flags of `nas status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// One search (default: all).
    pub id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Redraw in place every --interval seconds until Ctrl-C, or until
    /// every search shown is done, cancelled or failed.
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// Seconds between redraws with --watch.
    #[arg(long, default_value_t = 2.0, requires = "watch")]
    pub interval: f64,
}

/// How `nas results` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultsFormat {
    /// One evaluation per line, as JSON.
    Json,
    /// A CSV table with a header row.
    Csv,
}

/// Flags of `nas results`.
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// The search.
    pub id: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ResultsFormat::Json)]
    pub format: ResultsFormat,
}

/// Flags of `nas cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// The search.
    pub id: String,
}

/// Flags of `nas dlq`.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// What to do with it.
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// `nas dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead jobs with their reasons, oldest first, a page at a time;
    /// the command says how to get the next page.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// Most dead jobs to print.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=MAX_PAGE))]
        limit: u32,
        /// Skip this many dead jobs first (the next page's offset).
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Queue dead jobs again with fresh attempts; a running search takes
    /// their results. Jobs of a search that has ended are refused.
    Replay {
        /// Job ids to replay.
        #[arg(required_unless_present = "all")]
        job_ids: Vec<String>,
        /// Replay every dead job.
        #[arg(long)]
        all: bool,
        /// Replay jobs of searches that have ended too (done, cancelled
        /// or failed), although nothing will read their results.
        #[arg(long)]
        force: bool,
    },
}

/// Flags of `nas gc`.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove finished searches the scheduler has not archived into its
    /// results folder yet, too (their records are then lost).
    #[arg(long)]
    pub force: bool,
}

/// Flags of `nas migrate-keys`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Redis and queue settings.
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Say what would be moved, and move nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `nas migrate-keys`: move the queue's keys of the layout before
/// `<prefix>:q:` to their names under it.
pub async fn migrate_keys(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    use queue::functions::{self, FUNCTIONS_VERSION};
    let url = args.queue.redis.url()?;
    let mut con = url
        .connect_with_retry(args.queue.redis.connect_timeout())
        .await
        .with_context(|| format!("cannot reach redis at {url}"))?;
    let found = functions::loaded_version(&mut con).await?;
    let mut out = std::io::stdout().lock();
    if found.as_deref() != Some(FUNCTIONS_VERSION) {
        let was = found.as_deref().unwrap_or("none");
        if args.dry_run {
            writeln!(
                out,
                "would load the queue functions version {FUNCTIONS_VERSION} (loaded: {was})"
            )?;
        } else {
            functions::load(&mut con, true).await?;
            writeln!(
                out,
                "loaded the queue functions version {FUNCTIONS_VERSION} (was: {was})"
            )?;
        }
    }
    let q = queue::RedisQueue::unchecked(con, &url, args.queue.config()?);
    let moves = if args.dry_run {
        q.old_layout().await?
    } else {
        q.migrate_layout().await?
    };
    let verb = if args.dry_run { "would move" } else { "moved" };
    for (old, new) in &moves {
        writeln!(out, "{verb} {old} -> {new}")?;
    }
    writeln!(out, "{verb} {} keys", moves.len())?;
    Ok(ExitCode::SUCCESS)
}

async fn connect(args: &QueueArgs) -> anyhow::Result<(queue::RedisQueue, RedisStore)> {
    let q = args.connect().await?;
    let store = RedisStore::new(&q, "client");
    Ok((q, store))
}

/// `nas submit`.
pub async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let mut spec = SearchSpec::from_file(&args.spec)?;
    pin_dataset(&mut spec)?;
    let (_, store) = connect(&args.queue).await?;
    let id = client::submit(&store, spec).await?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Record the fingerprint of a torch search's dataset, as this machine
/// reads it, so that every trainer can check its own copy against it.
pub fn pin_dataset(spec: &mut SearchSpec) -> anyhow::Result<()> {
    if let queue::wire::EvaluatorSpec::Torch { data, .. } = &mut spec.evaluator {
        let path = &data.path;
        let unpinned = queue::wire::DataRef {
            fingerprint: None,
            ..data.clone()
        };
        let ds = trainer::train::load_dataset(&unpinned)
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| format!("evaluator torch: reading the dataset {path}"))?;
        if let Some(want) = data.fingerprint.as_deref() {
            anyhow::ensure!(
                want == ds.meta.fingerprint,
                "evaluator torch: the spec pins fingerprint {want}, but {path} here is {}",
                ds.meta.fingerprint
            );
        }
        data.fingerprint = Some(ds.meta.fingerprint);
    }
    Ok(())
}

/// A running job's progress note as lines of the status table: a DARTS
/// search's epoch, losses and current cell, then per cell type the
/// strongest op of each edge with its softmax(α) weight; a training run's
/// step and loss; any other note as its JSON.
fn note_lines(n: &client::JobNote) -> Vec<String> {
    match &n.note {
        ProgressNote::Darts(d) => {
            let mut lines = vec![format!(
                "{} {}: epoch {}/{}, train loss {:.3} ({:.1}% correct), α loss {:.3}; cell now {}",
                n.stage.word(),
                n.job_id,
                d.epoch,
                d.epochs,
                d.train_loss,
                d.train_acc,
                d.arch_loss,
                d.genotype
            )];
            for (name, rows) in &d.alphas {
                let cells: Vec<String> = (rows.iter().enumerate())
                    .map(|(i, w)| {
                        let best = (0..w.len())
                            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
                            .unwrap_or(0);
                        format!(
                            "{} {} {:.3}",
                            d.edges.get(i).map_or("?", String::as_str),
                            d.ops.get(best).map_or("?", String::as_str),
                            w.get(best).copied().unwrap_or(f64::NAN)
                        )
                    })
                    .collect();
                lines.push(format!("  α {name}: {}", cells.join(" | ")));
            }
            lines
        }
        ProgressNote::Train(t) => vec![format!(
            "{} {} {}: step {}/{}, loss {:.3}",
            n.stage.word(),
            n.job_id,
            n.genotype,
            t.step,
            t.steps,
            t.loss
        )],
        ProgressNote::Other(v) => vec![format!("{} {}: {v}", n.stage.word(), n.job_id)],
    }
}

/// The status table: a row per search with its best, final results and
/// running jobs' progress, then the trainers alive.
fn table(
    out: &mut impl Write,
    rows: &[client::SearchStatus],
    workers: &[String],
    redis: &queue::Footprint,
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
            match b.rung {
                Some(r) => writeln!(out, "  best {} (rung {r})", b.genotype)?,
                None => writeln!(out, "  best {}", b.genotype)?,
            }
        }
        if let Some(rungs) = &s.rungs {
            for line in rungs.history_lines(5) {
                writeln!(out, "  {line}")?;
            }
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
        if s.undecodable > 0 {
            writeln!(
                out,
                "  {} result(s) did not decode: set aside in {}/undecodable.jsonl",
                s.undecodable, s.id
            )?;
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
    writeln!(
        out,
        "redis: {} in {} keys under this deployment's prefix",
        bytes(redis.bytes),
        redis.keys
    )?;
    Ok(())
}

/// A byte count for people: B, KiB, MiB or GiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `nas status`: the table (or JSON) once, or with `watch` (seconds between
/// redraws) redrawn in place until Ctrl-C or every search shown is terminal.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let StatusArgs {
        queue,
        id,
        json,
        watch,
        interval,
    } = args;
    let watch = watch.then_some(interval);
    let (q, store) = connect(&queue).await?;
    let Some(every) = watch else {
        let (rows, workers) = client::status(&store, &q, id.as_deref()).await?;
        let redis = q.footprint().await?;
        let mut out = std::io::stdout().lock();
        if json {
            let doc = serde_json::json!({ "searches": rows, "trainers": workers, "redis": redis });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        } else {
            table(&mut out, &rows, &workers, &redis)?;
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
        let redis = q.footprint().await?;
        // Draw the frame whole, then show it at once: no flicker.
        let mut frame = Vec::new();
        table(&mut frame, &rows, &workers, &redis)?;
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

/// `nas results`.
pub async fn results(args: ResultsArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = connect(&args.queue).await?;
    let evals = client::results(&store, &args.id).await?;
    let mut out = std::io::stdout().lock();
    if args.format == ResultsFormat::Csv {
        write!(out, "{}", export::results::csv(&evals))?;
    } else {
        for e in &evals {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `nas cancel`.
pub async fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let id = &args.id;
    let (q, store) = connect(&args.queue).await?;
    let dropped = client::cancel(&store, &q, id).await?;
    println!("cancelled {id}: {dropped} queued jobs dropped");
    Ok(ExitCode::SUCCESS)
}

/// The most dead jobs `nas dlq list` prints at once.
const MAX_PAGE: i64 = 10_000;

/// `text` on one line, for a table: control characters (newlines, tabs,
/// terminal escapes) written as escapes, so that a stored reason cannot
/// forge lines or columns.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `nas dlq`.
pub async fn dlq(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let q = args.queue.connect().await?;
    match args.command {
        DlqCommand::List {
            json,
            limit,
            offset,
        } => {
            let limit = limit as usize;
            let page = q.dead_letters(offset, limit).await?;
            // Whether there is a next page: by the list's length, since a
            // page may hold fewer than `limit` (see Queue::dead_letters).
            let next = offset.saturating_add(limit);
            let more = next < q.dead_letter_count().await?;
            let mut out = std::io::stdout().lock();
            for d in page {
                if json {
                    let doc = serde_json::json!({
                        "job_id": d.job_id, "search_id": d.search_id, "attempt": d.attempt,
                        "reason": d.reason, "envelope": d.envelope,
                    });
                    writeln!(out, "{doc}")?;
                } else {
                    let reason = one_line(&d.reason);
                    writeln!(out, "{}\tattempt {}\t{reason}", d.job_id, d.attempt)?;
                }
            }
            if more {
                let json = if json { " --json" } else { "" };
                eprintln!("more dead jobs: nas dlq list --offset {next} --limit {limit}{json}");
            }
        }
        DlqCommand::Replay {
            job_ids,
            all,
            force,
        } => {
            let ids = if all {
                client::all_dead_letters(&q)
                    .await?
                    .into_iter()
                    .map(|d| d.job_id)
                    .collect()
            } else {
                job_ids
            };
            let store = RedisStore::new(&q, "client");
            let mut missing = Vec::new();
            let mut refused = Vec::new();
            for (id, done) in client::replay(&store, &q, &ids, force).await? {
                match done {
                    client::Replayed::Queued { .. } => println!("replayed {id}"),
                    client::Replayed::SearchEnded { search, status } => refused.push(format!(
                        "{id} (search {search} is {status}: nothing would read its result)"
                    )),
                    client::Replayed::NotDead => missing.push(id),
                }
            }
            anyhow::ensure!(
                refused.is_empty(),
                "not replayed: {}; --force replays the jobs of ended searches anyway",
                refused.join(", ")
            );
            anyhow::ensure!(
                missing.is_empty(),
                "not in the dead-letter list: {}",
                missing.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `nas gc`: remove now what finished and cancelled searches left in Redis
/// (records, jobs, result logs, dead letters), the heartbeats of workers
/// silent for a day and surrogate requests past their deadline.
pub async fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    use scheduler::retention;
    let (q, store) = connect(&args.queue).await?;
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let now = queue::now_ms();
    let (mut freed, mut searches, mut skipped) = (queue::Footprint::default(), 0, 0);
    for left in retention::leftovers(&store).await? {
        let s = &left.state;
        if !left.archived && !args.force {
            println!(
                "kept {}: the scheduler has not archived it into its results folder yet (--force removes it anyway)",
                s.id
            );
            skipped += 1;
            continue;
        }
        let mut keys = q.search_keys(&s.id).await?;
        keys.extend([q.keys().search(&s.id), q.keys().evals(&s.id)]);
        let size = q.footprint_of(&keys).await?;
        let age = s
            .finished_ms
            .map(|f| format!(", finished {} ago", ago(now.saturating_sub(f))))
            .unwrap_or_default();
        println!(
            "{verb} {} ({}{age}): {} keys, {}",
            s.id,
            s.status.word(),
            size.keys,
            bytes(size.bytes)
        );
        if !args.dry_run {
            retention::remove_now(&s.id, &q, &store)
                .await
                .with_context(|| format!("removing search {}", s.id))?;
        }
        freed += size;
        searches += 1;
    }
    let mut con = q.connection();
    let requests =
        surrogate::client::drop_expired(&mut con, q.keys().prefix(), args.dry_run).await?;
    let workers = if args.dry_run {
        let all = q
            .workers(Duration::from_secs(100 * 365 * 86_400))
            .await?
            .len();
        let live = q.workers(retention::SILENT_WORKERS).await?.len();
        (all - live.min(all)) as u64
    } else {
        let (swept, _) = retention::sweep(&q, &store).await?;
        swept.workers
    };
    println!(
        "{verb} {searches} finished searches ({} keys, {}), {workers} heartbeats of workers silent for a day, {requests} surrogate requests past their deadline{}",
        freed.keys,
        bytes(freed.bytes),
        if skipped > 0 { format!("; kept {skipped} not yet archived") } else { String::new() }
    );
    Ok(ExitCode::SUCCESS)
}

/// A duration for people: seconds, minutes, hours or days.
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}
