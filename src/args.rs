//! Flags more than one subcommand takes: where the queue is
//! ([`QueueArgs`]) and which search space ([`SpaceArgs`]). A leaf: the
//! subcommands use it, it uses none of them.

use anyhow::{bail, Context};
use clap::Args;
use queue::{QueueConfig, RedisQueue};
use space::{Space, SpaceKind};
use std::time::Duration;

/// Where Redis is: the `--redis`, `--redis-ca`, `--prefix` and
/// `--connect-timeout-secs` of every command that talks to it.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL: redis://[user:password@]host:port/db or rediss:// for TLS.
    #[arg(
        long = "redis",
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379/"
    )]
    pub url: queue::RedisUrl,
    /// PEM CA certificate that signed the Redis server's TLS certificate
    /// (for rediss:// with a private CA; default: the system trust store).
    #[arg(long, env = "NAS_REDIS_CA")]
    pub redis_ca: Option<std::path::PathBuf>,
    /// Key prefix, so deployments can share one Redis.
    #[arg(long, env = "NAS_PREFIX", default_value = "nas")]
    pub prefix: String,
    /// Give up connecting to Redis after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout_secs: f64,
}

impl RedisArgs {
    /// The Redis URL, with the CA file of `--redis-ca` when given.
    pub fn url(&self) -> queue::RedisUrl {
        self.url.clone().with_ca_file(self.redis_ca.clone())
    }

    /// How long to keep trying to connect.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout_secs.max(0.0))
    }
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
    /// `--connect-timeout-secs`.
    pub async fn connect(&self) -> anyhow::Result<RedisQueue> {
        let give_up = self.redis.connect_timeout();
        RedisQueue::connect_with_retry(&self.redis.url(), self.config()?, give_up)
            .await
            .with_context(|| format!("cannot reach redis at {}", self.redis.url))
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
