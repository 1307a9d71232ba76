//! `nas dashboard`: the web dashboard of a deployment (the `dashboard`
//! crate), reading its Redis; and the flags `nas search --dashboard` shares.

use crate::args::QueueArgs;
use crate::runtime::shutdown_signal;
use anyhow::Context;
use clap::Args;
use scheduler::RedisStore;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `nas dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Redis and queue settings (the dashboard reads with the scheduler's
    /// ACL user, or admin).
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Where to serve the pages.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Who may do what on the dashboard.
#[derive(Debug, Clone, Args)]
pub struct AccessArgs {
    /// A file holding the admin token (at least 16 characters) that allows
    /// cancelling searches and replaying dead letters; without it the
    /// dashboard is read-only. (A file, never a flag: `ps` shows flags.)
    #[arg(long, env = "NAS_DASHBOARD_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Serve a non-loopback address without a token, read-only to anyone
    /// who can reach it.
    #[arg(long)]
    pub read_only_public: bool,
    /// Seconds between the shared poller's reads.
    #[arg(long, default_value_t = 1.0)]
    pub poll_secs: f64,
}

impl AccessArgs {
    /// The dashboard's settings for `listen`, labelled `label`.
    pub fn config(
        &self,
        listen: SocketAddr,
        label: String,
    ) -> anyhow::Result<dashboard::DashboardConfig> {
        anyhow::ensure!(
            self.poll_secs.is_finite() && self.poll_secs >= 0.1,
            "--poll-secs {} must be at least 0.1",
            self.poll_secs
        );
        let admin_token = match &self.admin_token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the admin token file {}", path.display())
                })?;
                let token = text.trim().to_string();
                anyhow::ensure!(
                    !token.is_empty(),
                    "the admin token file {} is empty",
                    path.display()
                );
                Some(token)
            }
            None => None,
        };
        Ok(dashboard::DashboardConfig {
            listen,
            admin_token,
            read_only_public: self.read_only_public,
            poll: std::time::Duration::from_secs_f64(self.poll_secs),
            label,
        })
    }
}

/// Bind the dashboard now (a refused address or a taken port fails here)
/// and say where it is.
pub async fn bind(config: dashboard::DashboardConfig) -> anyhow::Result<dashboard::Bound> {
    let bound = dashboard::bind(config).await?;
    let addr = bound.local_addr()?;
    eprintln!("dashboard: http://{addr}/");
    Ok(bound)
}

/// `nas dashboard`.
pub async fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let url = args.queue.redis.url()?;
    let config = args.access.config(
        args.listen,
        format!("{url} prefix {}", args.queue.redis.prefix),
    )?;
    let bound = bind(config).await?;
    let q = args.queue.connect().await?;
    let store = RedisStore::new(&q, "dashboard");
    let source = dashboard::Source {
        store: Arc::new(store),
        queue: Arc::new(q.clone()),
        redis: Some(q),
    };
    dashboard::run(bound, source, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
