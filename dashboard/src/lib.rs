//! The web dashboard of `nas` (`nas dashboard`, and `nas search
//! --dashboard` for the embedded mode): pages for the searches, one
//! search, and the fleet, over a JSON API that scripts and Grafana read
//! too.
//!
//! - One shared poller ([`poller`]) reads Redis (or the embedded search's
//!   queue and store) once per `poll` and publishes a snapshot; pages
//!   follow it through server-sent events (`/api/events`), so Redis sees
//!   one reader however many pages are open.
//! - A search's evaluations are cached and read past the cache only
//!   ([`evals`]), so a search of 20,000 evaluations pages and plots fast.
//! - Actions (cancel a search, replay a dead letter) need the admin token,
//!   sent as `Authorization: Bearer` by the page after its login form;
//!   without a token configured the dashboard is read-only. A non-loopback
//!   address is refused without a token unless `read_only_public`.
//!
//! The front end is plain HTML, CSS and JavaScript in `assets/`, compiled
//! into the binary: nothing is fetched from elsewhere at run time.

pub mod api;
pub mod evals;
mod pages;
pub mod poller;

pub use poller::{Snapshot, Source};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Why the dashboard cannot start or stopped.
#[derive(Debug, Error)]
pub enum DashboardError {
    /// The settings are refused (a public address without a token, ...).
    #[error("{0}")]
    Config(String),
    /// The listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving the dashboard: {0}")]
    Serve(std::io::Error),
}

/// How the dashboard runs.
#[derive(Clone)]
pub struct DashboardConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The token that allows actions; `None`: read-only.
    pub admin_token: Option<String>,
    /// Allow a non-loopback address without a token (read-only to all).
    pub read_only_public: bool,
    /// How often the shared poller reads the source.
    pub poll: Duration,
    /// What the pages call this deployment (the Redis address without its
    /// password, or "embedded").
    pub label: String,
}

impl std::fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("DashboardConfig")
            .field("listen", &self.listen)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("read_only_public", &self.read_only_public)
            .field("poll", &self.poll)
            .field("label", &self.label)
            .finish()
    }
}

impl DashboardConfig {
    /// Listen on `listen`, read-only, polling every second.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            admin_token: None,
            read_only_public: false,
            poll: Duration::from_secs(1),
            label: String::new(),
        }
    }

    /// Check the settings: a non-loopback address needs a token or
    /// `read_only_public`; a token must be long enough to resist guessing.
    pub fn validate(&self) -> Result<(), DashboardError> {
        if let Some(t) = &self.admin_token {
            if t.len() < 16 {
                return Err(DashboardError::Config(
                    "the admin token must be at least 16 characters".into(),
                ));
            }
        }
        if !self.listen.ip().is_loopback() && self.admin_token.is_none() && !self.read_only_public {
            return Err(DashboardError::Config(format!(
                "refusing to serve {} (not a loopback address) without an admin token: set --admin-token-file, or pass --read-only-public to serve it read-only to anyone who can reach it",
                self.listen
            )));
        }
        if self.poll < Duration::from_millis(100) {
            return Err(DashboardError::Config(
                "the poll interval must be at least 100 ms".into(),
            ));
        }
        Ok(())
    }
}

/// What the handlers share.
pub(crate) struct AppState {
    pub source: Source,
    pub config: DashboardConfig,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub evals: evals::Cache,
}

/// A bound dashboard, not yet serving.
pub struct Bound {
    listener: TcpListener,
    config: DashboardConfig,
}

impl Bound {
    /// The address it listens on (the port the system chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// Validate the settings and bind the listener now, so that a bad address
/// or a taken port fails at start-up.
pub async fn bind(config: DashboardConfig) -> Result<Bound, DashboardError> {
    config.validate()?;
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| DashboardError::Listen {
                addr: config.listen,
                source,
            })?;
    Ok(Bound { listener, config })
}

/// Serve until `shutdown` resolves.
pub async fn run(
    bound: Bound,
    source: Source,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DashboardError> {
    let Bound { listener, config } = bound;
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let poller = tokio::spawn(poller::run(source.clone(), config.poll, tx, stop_rx));
    let state = Arc::new(AppState {
        source,
        evals: evals::Cache::default(),
        config,
        snapshot: rx,
    });
    let app = api::router(state.clone()).merge(pages::router(state));
    let addr = listener.local_addr().map_err(DashboardError::Serve)?;
    tracing::info!(%addr, "dashboard serving");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    poller.abort();
    served.map_err(DashboardError::Serve)
}
