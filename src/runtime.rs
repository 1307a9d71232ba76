//! How the subcommands run: the async runtime, the shutdown signal and the
//! metrics endpoint of the daemons. A leaf, like `args`.

use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Run `f` to completion on a multi-threaded runtime.
pub fn block_on<F: Future<Output = anyhow::Result<ExitCode>>>(f: F) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?
        .block_on(f)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops this process");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Start the metrics endpoint if `--metrics-addr` is given, with `role`'s
/// families at zero; true if it was. The port is bound before Redis is
/// reached, so a taken port fails at start-up and `/healthz` answers (503)
/// while Redis is still out of reach.
pub async fn start_metrics(addr: Option<SocketAddr>, role: metrics::Role) -> anyhow::Result<bool> {
    let Some(addr) = addr else {
        return Ok(false);
    };
    metrics::touch(role);
    let server = metrics::Server::bind(metrics::ServerConfig::new(addr))
        .await
        .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
    tracing::info!(addr = %server.local_addr()?, "metrics endpoint listening on /metrics and /healthz");
    server.spawn();
    Ok(true)
}
