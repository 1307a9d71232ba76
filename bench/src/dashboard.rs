//! `nas bench dashboard`: how fast the dashboard serves a large search. A
//! finished NAS-Bench-201 search of N evaluations (20,000 by default) is
//! written to Redis through the scheduler's store; the dashboard runs in
//! this process on a loopback port, and each of its requests a page load
//! makes is timed: the search's detail (cold, filling the evaluations
//! cache, then warm), a sorted table page, the HTML shell, and the CSV.
//! The reference, measured in the same run, is reading every evaluation
//! from the store once, which any reader of the search must do.

use crate::stats::percentile;
use crate::BenchError;
use queue::{Outcome, Queue, RedisQueue, Scores};
use rand::{Rng, SeedableRng};
use scheduler::state::Stage;
use scheduler::{Evaluation, RedisStore, SearchSpec, Status, Store};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to measure.
#[derive(Debug, Clone)]
pub struct DashboardBench {
    /// Evaluations in the search.
    pub evaluations: usize,
    /// Timed repeats of each warm request (the median is reported).
    pub repeats: usize,
    /// Seed of the genotypes and scores.
    pub seed: u64,
    /// Leave the search in Redis afterwards (its prefix is in the report),
    /// to open it in a browser with `nas dashboard --prefix`.
    pub keep: bool,
}

/// The figures, in milliseconds.
#[derive(Debug, Clone)]
pub struct DashboardReport {
    /// Evaluations in the search.
    pub evaluations: usize,
    /// Reference: every evaluation read from the store once.
    pub reference_ms: f64,
    /// The search's detail, first request (reads every evaluation).
    pub cold_ms: f64,
    /// The same, cached (median).
    pub warm_ms: f64,
    /// Points the detail's plot carries (downsampled).
    pub points: usize,
    /// Bytes of the detail's JSON.
    pub detail_bytes: usize,
    /// A table page sorted by score, best first (median).
    pub table_ms: f64,
    /// The page's HTML shell (median).
    pub shell_ms: f64,
    /// The CSV of every evaluation.
    pub csv_ms: f64,
    /// Where the search was left, with `keep`: (prefix, search id).
    pub kept: Option<(String, String)>,
}

impl DashboardReport {
    /// What a first page load waits for on the server: shell, detail
    /// (cold) and the first table page.
    pub fn first_load_ms(&self) -> f64 {
        self.shell_ms + self.cold_ms + self.table_ms
    }
}

impl fmt::Display for DashboardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.reference_ms.max(1e-9);
        writeln!(
            f,
            "dashboard over a search of {} evaluations (Redis)",
            self.evaluations
        )?;
        writeln!(
            f,
            "  reference: read every evaluation from the store  {:>9.1} ms",
            self.reference_ms
        )?;
        writeln!(
            f,
            "  detail, cold (fills the cache)                     {:>9.1} ms  {:>6.2}x reference",
            self.cold_ms,
            self.cold_ms / r
        )?;
        writeln!(
            f,
            "  detail, warm (median)                              {:>9.1} ms  {:>6.2}x reference",
            self.warm_ms,
            self.warm_ms / r
        )?;
        writeln!(
            f,
            "    plot points {} of {}, {} KiB of JSON",
            self.points,
            self.evaluations,
            self.detail_bytes / 1024
        )?;
        writeln!(
            f,
            "  table page sorted by score (median)                {:>9.1} ms  {:>6.2}x reference",
            self.table_ms,
            self.table_ms / r
        )?;
        writeln!(
            f,
            "  HTML shell (median)                                {:>9.1} ms  {:>6.2}x reference",
            self.shell_ms,
            self.shell_ms / r
        )?;
        writeln!(
            f,
            "  CSV of every evaluation                            {:>9.1} ms  {:>6.2}x reference",
            self.csv_ms,
            self.csv_ms / r
        )?;
        write!(
            f,
            "  first page load on the server (shell + cold detail + table): {:.1} ms, {:.2}x reference",
            self.first_load_ms(),
            self.first_load_ms() / r
        )?;
        if let Some((prefix, id)) = &self.kept {
            write!(
                f,
                "\n  kept: search {id} under prefix {prefix} (nas dashboard --prefix {prefix}; nas gc --prefix {prefix} removes it)"
            )?;
        }
        Ok(())
    }
}

/// A GET over a fresh connection: (milliseconds, body bytes).
async fn get(addr: SocketAddr, path: &str) -> Result<(f64, Vec<u8>), BenchError> {
    let io = |e: std::io::Error| BenchError::Io {
        what: format!("GET http://{addr}{path}"),
        source: e,
    };
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .map_err(io)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.map_err(io)?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let status = raw
        .get(9..12)
        .map(|s| String::from_utf8_lossy(s).to_string());
    if status.as_deref() != Some("200") {
        return Err(BenchError::Config(format!(
            "GET {path}: {}",
            String::from_utf8_lossy(&raw[..raw.len().min(300)])
        )));
    }
    Ok((ms, raw))
}

/// Run the benchmark under a fresh prefix of `target`'s server, deleting
/// its keys afterwards.
pub async fn run(
    target: &crate::Target,
    config: &DashboardBench,
) -> Result<DashboardReport, BenchError> {
    let ws = crate::Workspace::open(target, "dashboard").await?;
    let queue = ws.queue().clone();
    let body = crate::workspace::within(
        "the dashboard benchmark",
        Duration::from_secs(600),
        measure(queue, config),
    );
    if config.keep {
        let mut report = body.await?;
        if let Some((prefix, _)) = report.kept.as_mut() {
            *prefix = ws.prefix().to_string();
        }
        return Ok(report);
    }
    ws.run(body).await
}

/// Write the search, serve the dashboard, time its requests.
async fn measure(
    queue: RedisQueue,
    config: &DashboardBench,
) -> Result<DashboardReport, BenchError> {
    if config.evaluations == 0 || config.repeats == 0 {
        return Err(BenchError::Config(
            "--evaluations and --repeats must be at least 1".into(),
        ));
    }
    let store = Arc::new(RedisStore::new(&queue, "bench-dashboard"));
    let spec = SearchSpec::parse(
        &format!(
            "name = \"bench-dashboard\"\nbudget = {}\n[space]\nkind = \"nb201\"\n[strategy]\nstrategy = \"random\"\n[evaluator.nb201]\ndataset = \"cifar10\"\n",
            config.evaluations
        ),
        false,
    )
    .map_err(BenchError::Config)?;
    let space = spec.space;
    let id = scheduler::client::submit(store.as_ref(), spec).await?;
    if !store.lead(Duration::from_secs(600)).await? {
        return Err(BenchError::Config(
            "another scheduler leads this prefix: use a prefix of the bench's own".into(),
        ));
    }
    let mut state = store
        .load(&id)
        .await?
        .ok_or_else(|| BenchError::Config(format!("search {id} vanished")))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let t0 = queue::now_ms();
    let mut evals = Vec::with_capacity(config.evaluations);
    for i in 0..config.evaluations {
        let g = space
            .sample(&mut rng)
            .map_err(|e| BenchError::Config(e.to_string()))?;
        let scores = Scores {
            val_acc: rng.random_range(10.0..94.0),
            params: Some(rng.random_range(70_000..1_600_000)),
            train_seconds: rng.random_range(100.0..2000.0),
            ..Scores::default()
        };
        evals.push(Evaluation {
            index: i as u64,
            stage: Stage::Search,
            job_id: format!("{id}.{:010}", i + 1),
            hash: g.hash().to_string(),
            genotype: g.to_string(),
            outcome: Outcome::Ok(scores),
            attempt: 1,
            worker: format!("trainer{}", i % 8),
            finished_ms: t0 + i as u64 * 50,
            elapsed_ms: i as u64 * 50,
            queued_ms: t0,
            consumed_ms: t0 + i as u64 * 50,
            rung: None,
        });
    }
    state.evaluated = config.evaluations as u64;
    state.best = evals
        .iter()
        .max_by(|a, b| {
            a.val_acc()
                .unwrap_or(0.0)
                .total_cmp(&b.val_acc().unwrap_or(0.0))
        })
        .cloned();
    for chunk in evals.chunks(1000) {
        store.checkpoint(&state, chunk).await?;
    }
    state.status = Status::Done;
    state.finished_ms = Some(t0 + config.evaluations as u64 * 50);
    store.checkpoint(&state, &[]).await?;
    drop(evals);

    // The reference: every evaluation read once.
    let start = Instant::now();
    let all = scheduler::client::results(store.as_ref(), &id).await?;
    let reference_ms = start.elapsed().as_secs_f64() * 1000.0;
    if all.len() != config.evaluations {
        return Err(BenchError::Config(format!(
            "read {} evaluations of {}",
            all.len(),
            config.evaluations
        )));
    }

    let listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let bound = dashboard::bind(dashboard::DashboardConfig::new(listen))
        .await
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let addr = bound.local_addr().map_err(|e| BenchError::Io {
        what: "the dashboard's address".into(),
        source: e,
    })?;
    let source = dashboard::Source {
        store: store.clone(),
        queue: Arc::new(queue.clone()) as Arc<dyn Queue>,
        redis: Some(queue.clone()),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dashboard::run(bound, source, async move {
        let _ = stop_rx.await;
    }));
    // Wait for the first poll, so that every figure is of a served page.
    let end = Instant::now() + Duration::from_secs(30);
    while get(addr, "/healthz").await.is_err() {
        if Instant::now() > end {
            return Err(BenchError::Config(
                "the dashboard did not answer within 30 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = format!("/api/searches/{id}");
    let (cold_ms, body) = get(addr, &detail).await?;
    let text = String::from_utf8_lossy(&body);
    let json = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let doc: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let points = doc["series"]["points"].as_array().map_or(0, Vec::len);
    let median = |v: &[f64]| percentile(v, 50.0).unwrap_or(f64::NAN);
    let mut warm = Vec::new();
    let mut table = Vec::new();
    let mut shell = Vec::new();
    for _ in 0..config.repeats {
        warm.push(get(addr, &detail).await?.0);
        table.push(
            get(
                addr,
                &format!("{detail}/evaluations?sort=val_acc&order=desc&limit=50"),
            )
            .await?
            .0,
        );
        shell.push(get(addr, &format!("/searches/{id}")).await?.0);
    }
    let (csv_ms, _) = get(addr, &format!("{detail}/evaluations.csv")).await?;
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(DashboardReport {
        evaluations: config.evaluations,
        reference_ms,
        cold_ms,
        warm_ms: median(&warm),
        points,
        detail_bytes: json.len(),
        table_ms: median(&table),
        shell_ms: median(&shell),
        csv_ms,
        kept: config.keep.then(|| (String::new(), id.clone())),
    })
}
