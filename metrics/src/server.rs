//! The HTTP endpoint of a daemon (`--metrics-addr`), on axum:
//!
//! - `GET /metrics`: the registry in Prometheus's text exposition format.
//! - `GET /healthz`: `200 ok` while the daemon has reached Redis within
//!   `stale_after`; `503` with the reason before the first successful call
//!   or after a longer silence. Orchestrators use it for readiness;
//!   `/metrics` answering at all shows the process and its runtime live.
//!
//! The listener is bound before the server starts, so a taken port fails
//! the daemon at start-up rather than later in a task.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::Gauge;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The content type of the text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Settings of the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// `/healthz` fails once the last successful Redis call is older.
    pub stale_after: Duration,
}

impl ServerConfig {
    /// Listen on `addr`; unhealthy after 60 s without Redis.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stale_after: Duration::from_secs(60),
        }
    }
}

/// A bound, not yet serving, endpoint.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    stale_after: Duration,
}

impl Server {
    /// Bind the listener now.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.addr).await?;
        Ok(Self {
            listener,
            stale_after: config.stale_after,
        })
    }

    /// The address it listens on (the port chosen, if 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state(self.stale_after);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Serve on a task of the current runtime until the process ends; an
    /// error is logged.
    pub fn spawn(self) -> JoinHandle<()> {
        let addr = self.local_addr().ok();
        tokio::spawn(async move {
            if let Err(e) = self.run(std::future::pending()).await {
                tracing::error!(?addr, error = %e, "the metrics endpoint stopped");
            }
        })
    }
}

/// `nas_redis_last_ok_age_seconds`, refreshed at each scrape.
static REDIS_AGE: LazyLock<Gauge> = LazyLock::new(|| {
    let g = Gauge::new(
        "nas_redis_last_ok_age_seconds",
        "Seconds since this process last reached Redis (-1 before the first time).",
    )
    .expect("a valid metric name");
    crate::registry()
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
});

async fn metrics() -> impl IntoResponse {
    REDIS_AGE.set(crate::health().redis_age_secs().unwrap_or(-1.0));
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], crate::render())
}

async fn healthz(State(stale_after): State<Duration>) -> impl IntoResponse {
    verdict(crate::health().redis_age_secs(), stale_after)
}

/// The answer of `/healthz` when Redis was last reached `age` seconds ago.
fn verdict(age: Option<f64>, stale_after: Duration) -> (StatusCode, String) {
    match age {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "redis not reached yet\n".to_string(),
        ),
        Some(age) if age > stale_after.as_secs_f64() => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("redis last reached {age:.0} s ago\n"),
        ),
        Some(_) => (StatusCode::OK, "ok\n".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Both routes answer over real HTTP, /healthz following the health
    /// record, and unknown paths are 404.
    #[tokio::test]
    async fn serves_metrics_and_health() {
        let server = Server::bind(ServerConfig::new("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        crate::touch(crate::Role::Surrogate);
        crate::surrogate()
            .requests
            .with_label_values(&["ranked"])
            .inc();
        let m = get(addr, "/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(m.contains(TEXT_FORMAT), "{m}");
        assert!(
            m.contains("# TYPE nas_surrogate_requests_total counter"),
            "{m}"
        );
        assert!(
            m.contains("nas_surrogate_requests_total{outcome=\"refused\"} 0"),
            "{m}"
        );
        assert!(
            m.contains("nas_info{role=\"surrogate\",version=\"0.1.0\"} 1"),
            "{m}"
        );
        assert!(m.contains("nas_redis_last_ok_age_seconds"), "{m}");
        crate::health().redis_ok();
        let h = get(addr, "/healthz").await;
        assert!(h.starts_with("HTTP/1.1 200"), "{h}");
        assert!(h.ends_with("ok\n"), "{h}");
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    /// Unhealthy before Redis is reached and after `stale_after` without
    /// it, with the reason.
    #[test]
    fn health_verdicts() {
        let window = Duration::from_secs(60);
        let (code, body) = verdict(None, window);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "redis not reached yet\n");
        let (code, body) = verdict(Some(61.2), window);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "redis last reached 61 s ago\n");
        assert_eq!(verdict(Some(59.0), window), (StatusCode::OK, "ok\n".into()));
    }
}
