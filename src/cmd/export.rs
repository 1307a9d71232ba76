//! `nas export ID --out DIR`: read a search from a results folder (`nas
//! search`'s FileStore, the default) or from Redis (`--redis`), and hand it
//! to the `export` crate, which writes the winner's genotype, weights,
//! model.py, the results CSV and the pictures. `nas search` calls
//! [`after_search`] when a search finishes.

use anyhow::Context;
use clap::Args;
use queue::{QueueConfig, RedisQueue, RedisUrl};
use scheduler::{FileStore, RedisStore, SearchState, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `nas export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The search.
    pub id: String,
    /// The folder to write into (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// The results folder of `nas search` that holds the search.
    #[arg(long, default_value = "results", conflicts_with_all = ["redis", "redis_url_file"])]
    pub results: PathBuf,
    /// Read the search from this Redis instead (redis://, or rediss:// for
    /// TLS), where `nas submit` put it. `ps` shows a password given here
    /// to every user: give it with --redis-password-file instead.
    #[arg(long)]
    pub redis: Option<RedisUrl>,
    /// Read the search from the Redis whose URL is in this file (a secret)
    /// instead of --redis.
    #[arg(long, conflicts_with = "redis")]
    pub redis_url_file: Option<PathBuf>,
    /// With --redis or --redis-url-file: a file holding the Redis password,
    /// put into the URL.
    #[arg(long, env = "NAS_REDIS_PASSWORD_FILE")]
    pub redis_password_file: Option<PathBuf>,
    /// PEM CA certificate of the Redis server's TLS certificate.
    #[arg(long, env = "NAS_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
    /// Key prefix of the deployment in Redis.
    #[arg(long, env = "NAS_PREFIX", default_value = "nas")]
    pub prefix: String,
    /// With --redis: the trainers' artifacts folder (`nas trainer
    /// --artifacts-dir`), where the weights are looked for when the path
    /// they were recorded under is not on this machine.
    #[arg(long, env = "NAS_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,
}

/// Run `nas export`.
pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(export(args))
}

async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    // The id names folders (the search's, its weights' under
    // --artifacts-dir): refuse one that would leave them.
    queue::wire::validate_search_id("search", &args.id)?;
    // A password file applies to a Redis given here, not to the default.
    let redis = match (&args.redis, &args.redis_url_file) {
        (None, None) => None,
        (url, file) => crate::args::redis_url(
            url.as_ref(),
            file.as_deref(),
            args.redis_password_file.as_deref(),
        )?,
    };
    let report = match &redis {
        Some(url) => {
            let url = url.clone().with_ca_file(args.redis_ca.clone());
            let config = QueueConfig {
                prefix: args.prefix.clone(),
                ..QueueConfig::default()
            };
            let queue = RedisQueue::connect_with_retry(&url, config, Duration::from_secs(30))
                .await
                .with_context(|| format!("cannot reach redis at {url}"))?;
            let store = RedisStore::new(&queue, "export");
            let dir = args.artifacts_dir.as_ref().map(|d| d.join(&args.id));
            from_store(&store, &args.id, dir, &args.out).await?
        }
        None => {
            let store = FileStore::new(&args.results);
            let dir = store.search_dir(&args.id)?;
            anyhow::ensure!(
                dir.join("state.json").is_file(),
                "no search {} in {} (no {})",
                args.id,
                args.results.display(),
                dir.join("state.json").display()
            );
            from_store(&store, &args.id, Some(dir), &args.out).await?
        }
    };
    print_report(&report);
    Ok(ExitCode::SUCCESS)
}

/// Export the search `id` of `store` into `out`; `dir` is the folder of its
/// files, where weights are looked for by name.
pub async fn from_store(
    store: &dyn Store,
    id: &str,
    dir: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<export::Report> {
    let state: SearchState = store
        .load(id)
        .await?
        .with_context(|| format!("no search {id}"))?;
    let evaluations = scheduler::client::results(store, id).await?;
    let out = out.to_path_buf();
    // Export builds a tch network and reads files: off the async runtime.
    let report = tokio::task::spawn_blocking(move || {
        export::export(
            &export::Search {
                state: &state,
                evaluations: &evaluations,
                dir: dir.as_deref(),
            },
            &out,
        )
    })
    .await
    .context("the export thread failed")??;
    Ok(report)
}

fn print_report(r: &export::Report) {
    println!("exported to {}: {}", r.dir.display(), r.files.join(" "));
    if let export::Weights::Absent(why) = &r.weights {
        println!("no weights: {why}");
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
}

/// What `nas search` does when a search has finished: export it into
/// `<results>/<id>/export` and print the folder. A failed export is a
/// warning; the search's results stand either way.
pub async fn after_search(store: &FileStore, state: &SearchState) {
    if state.winner().is_none() {
        return;
    }
    let dir = match store.search_dir(&state.id) {
        Ok(dir) => dir,
        Err(e) => return eprintln!("warning: exporting search {}: {e}", state.id),
    };
    match from_store(store, &state.id, Some(dir.clone()), &dir.join("export")).await {
        Ok(report) => print_report(&report),
        Err(e) => eprintln!("warning: exporting search {}: {e:#}", state.id),
    }
}
