//! Flags more than one subcommand takes: where Redis is ([`RedisArgs`],
//! with the password read from a file so that `ps` never shows it), where
//! the queue is ([`QueueArgs`]) and which search space ([`SpaceArgs`]). A
//! leaf: the subcommands use it, it uses none of them.

use anyhow::{bail, Context};
use clap::Args;
use queue::{QueueConfig, RedisQueue};
use space::{Space, SpaceKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Redis is: the `--redis`, `--redis-url-file`,
/// `--redis-password-file`, `--redis-ca`, `--prefix` and
/// `--connect-timeout-secs` of every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL: redis://[user[:password]@]host:port/db or rediss:// for
    /// TLS (default redis://127.0.0.1:6379/). `ps` shows a password given
    /// here to every user: give it with --redis-password-file instead.
    #[arg(long = "redis", env = "REDIS_URL", hide_env_values = true)]
    pub url: Option<queue::RedisUrl>,
    /// A file holding the whole Redis URL, instead of --redis (a Docker or
    /// Kubernetes secret).
    #[arg(long = "redis-url-file", env = "REDIS_URL_FILE")]
    pub url_file: Option<PathBuf>,
    /// A file holding the Redis password (surrounding white space trimmed),
    /// put into the URL in place of any password there. Keep it private
    /// (chmod 600): the command warns if others may read it.
    #[arg(long = "redis-password-file", env = "NAS_REDIS_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// PEM CA certificate that signed the Redis server's TLS certificate
    /// (for rediss:// with a private CA; default: the system trust store).
    #[arg(long, env = "NAS_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
    /// Key prefix, so deployments can share one Redis.
    #[arg(long, env = "NAS_PREFIX", default_value = "nas")]
    pub prefix: String,
    /// Give up connecting to Redis after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout_secs: f64,
}

/// Where Redis is when neither --redis nor --redis-url-file says.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";

impl RedisArgs {
    /// The Redis URL: from --redis or the file of --redis-url-file (or the
    /// default), with the password of --redis-password-file and the CA
    /// file of --redis-ca when given.
    pub fn url(&self) -> anyhow::Result<queue::RedisUrl> {
        let url = redis_url(
            self.url.as_ref(),
            self.url_file.as_deref(),
            self.password_file.as_deref(),
        )?;
        let url = match url {
            Some(url) => url,
            None => queue::RedisUrl::parse(DEFAULT_REDIS_URL).map_err(anyhow::Error::msg)?,
        };
        Ok(url.with_ca_file(self.redis_ca.clone()))
    }

    /// How long to keep trying to connect.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout_secs.max(0.0))
    }
}

/// The Redis URL that `url` (--redis), `url_file` (--redis-url-file) and
/// `password_file` (--redis-password-file) give, if either of the first two
/// is given; a password file alone applies to the default URL, so it is
/// returned as that. The files are read as [`read_secret`] reads them.
pub fn redis_url(
    url: Option<&queue::RedisUrl>,
    url_file: Option<&Path>,
    password_file: Option<&Path>,
) -> anyhow::Result<Option<queue::RedisUrl>> {
    let url = match (url, url_file) {
        (Some(_), Some(file)) => bail!(
            "both --redis (or REDIS_URL) and --redis-url-file (or REDIS_URL_FILE, {}) give the Redis URL; give one",
            file.display()
        ),
        (Some(url), None) => Some(url.clone()),
        (None, Some(file)) => {
            let text = read_secret("Redis URL file", file)?;
            let url = queue::RedisUrl::parse(&text)
                .map_err(|e| anyhow::anyhow!("the Redis URL file {}: {e}", file.display()))?;
            Some(url)
        }
        (None, None) => None,
    };
    let Some(file) = password_file else {
        return Ok(url);
    };
    let url = match url {
        Some(url) => url,
        None => queue::RedisUrl::parse(DEFAULT_REDIS_URL).map_err(anyhow::Error::msg)?,
    };
    let password = read_secret("Redis password file", file)?;
    let url = url
        .with_password(&password)
        .map_err(|e| anyhow::anyhow!("--redis-password-file {}: {e}", file.display()))?;
    Ok(Some(url))
}

/// The text of a secret file (a password, a URL with one), trimmed. A file
/// that cannot be read or holds only white space is an error naming it;
/// one that every user may read draws a warning. A file its group may read
/// does not: a Kubernetes secret volume is mounted 0440 with `fsGroup` so
/// that a process that does not own it can read it.
pub fn read_secret(what: &str, path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))?;
    let secret = text.trim();
    anyhow::ensure!(!secret.is_empty(), "the {what} {} is empty", path.display());
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = %format!("{mode:03o}"),
                "the {what} is readable by every user; chmod 600 it"
            );
        }
    }
    Ok(secret.to_string())
}

/// Where the queue is and how it behaves.
#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Where Redis is.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Lease length in seconds; trainers renew every third of it.
    #[arg(long, default_value_t = 30.0)]
    pub lease_secs: f64,
    /// Deliveries before a failing job is dead-lettered.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Backoff before the first retry, milliseconds (doubles per attempt).
    #[arg(long, default_value_t = 500)]
    pub backoff_ms: u64,
}

impl QueueArgs {
    /// The queue settings these flags give.
    pub fn config(&self) -> anyhow::Result<QueueConfig> {
        anyhow::ensure!(
            self.lease_secs.is_finite() && self.lease_secs >= 0.05,
            "--lease-secs {} must be at least 0.05",
            self.lease_secs
        );
        anyhow::ensure!(self.max_attempts >= 1, "--max-attempts must be at least 1");
        Ok(QueueConfig {
            prefix: self.redis.prefix.clone(),
            lease: Duration::from_secs_f64(self.lease_secs),
            max_attempts: self.max_attempts,
            backoff_base: Duration::from_millis(self.backoff_ms),
            ..QueueConfig::default()
        })
    }

    /// Connect, retrying with backoff (each failure logged) up to
    /// `--connect-timeout-secs`; loads the queue functions if they are
    /// missing.
    pub async fn connect(&self) -> anyhow::Result<RedisQueue> {
        self.connect_with(self.config()?).await
    }

    /// Connect as a trainer: never load the queue functions, wait (up to
    /// `--connect-timeout-secs`) for the scheduler to load them.
    pub async fn connect_trainer(&self) -> anyhow::Result<RedisQueue> {
        let config = QueueConfig {
            load_functions: false,
            ..self.config()?
        };
        self.connect_with(config).await
    }

    async fn connect_with(&self, config: QueueConfig) -> anyhow::Result<RedisQueue> {
        let give_up = self.redis.connect_timeout();
        let url = self.redis.url()?;
        RedisQueue::connect_with_retry(&url, config, give_up)
            .await
            .with_context(|| format!("cannot reach redis at {url}"))
    }
}

/// Which space, with its settings.
#[derive(Debug, Clone, Args)]
pub struct SpaceArgs {
    /// The search space: macro, pnas, darts or nb201.
    #[arg(long, value_parser = parse_space_kind)]
    pub space: SpaceKind,
    /// PNAS: number of blocks per cell (enumerate, sample: exactly B; arch: at most B).
    #[arg(long)]
    pub blocks: Option<usize>,
    /// Macro: number of conv layers N; mlp: the most layers.
    #[arg(long)]
    pub layers: Option<usize>,
}

/// A space kind by name, for clap.
pub fn parse_space_kind(s: &str) -> Result<SpaceKind, String> {
    s.parse().map_err(|e: space::SpaceError| e.reason)
}

impl SpaceArgs {
    /// The space these flags name, with defaults for unset settings.
    pub fn to_space(&self) -> anyhow::Result<Space> {
        let mut space = self.space.default_space();
        // On the command line an mlp genotype may encode categories either
        // way; a search's space knows whether its table has any.
        if let Space::Mlp { categorical, .. } = &mut space {
            *categorical = true;
        }
        match (&mut space, self.blocks, self.layers) {
            (Space::Pnas { blocks }, Some(b), None) => *blocks = b,
            (Space::Macro { layers } | Space::Mlp { layers, .. }, None, Some(n)) => *layers = n,
            (_, None, None) => {}
            (_, Some(_), _) if self.space != SpaceKind::Pnas => {
                bail!("--blocks applies to the pnas space, not {}", self.space)
            }
            (_, _, Some(_)) if !matches!(self.space, SpaceKind::Macro | SpaceKind::Mlp) => {
                bail!(
                    "--layers applies to the macro and mlp spaces, not {}",
                    self.space
                )
            }
            _ => bail!(
                "the {} space takes at most one of --blocks, --layers",
                self.space
            ),
        }
        space
            .validate()
            .with_context(|| format!("bad settings for the {} space", self.space))?;
        Ok(space)
    }
}

/// How to read a dataset: the flags `nas data inspect`, `train`, `darts`
/// and `search` share. They travel with a search's jobs, so that every
/// trainer reads the data as the submitter did.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// idx, cifar10, cifar100, image_folder, csv, parquet, ts or
    /// series_csv (default: detected from the path; a .csv file is a table
    /// unless series_csv is given).
    #[arg(long)]
    pub format: Option<String>,
    /// Tables and series CSV: the target column (default: a column named
    /// target, class, label or y, else the last).
    #[arg(long)]
    pub target: Option<String>,
    /// Tables: a column to treat as categorical (repeatable, or
    /// comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// classification or regression, instead of the task inferred from the
    /// target.
    #[arg(long)]
    pub task: Option<String>,
    /// Time series of unequal lengths: pad them with NaN at the end to the
    /// longest (refused otherwise).
    #[arg(long)]
    pub pad: bool,
}

impl ReadArgs {
    /// The dataset at `path`, read as these flags say.
    pub fn data_ref(&self, path: &std::path::Path) -> anyhow::Result<queue::wire::DataRef> {
        let path = path
            .to_str()
            .with_context(|| format!("the data path {} is not UTF-8", path.display()))?;
        Ok(queue::wire::DataRef {
            format: self.format.clone(),
            target: self.target.clone(),
            categorical: self.categorical.clone(),
            task: self.task.clone(),
            pad: self.pad,
            ..queue::wire::DataRef::new(path)
        })
    }

    /// Load the dataset at `path` as these flags say.
    pub fn load(&self, path: &std::path::Path) -> anyhow::Result<data::Dataset> {
        trainer::train::load_dataset(&self.data_ref(path)?).map_err(|e| anyhow::anyhow!(e))
    }
}
