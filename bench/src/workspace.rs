//! Where a benchmark runs: the [`Target`] a user names (a Redis server and
//! the queue settings), and one run's [`Workspace`] on it, a fresh key
//! prefix whose keys are all deleted when the run ends.

use crate::{BenchError, Result};
use queue::{QueueConfig, RedisQueue, RedisUrl};
use std::future::Future;
use std::time::Duration;

/// The Redis server and queue settings a benchmark is pointed at.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server.
    pub url: RedisUrl,
    /// Queue settings; `prefix` is the base of each run's fresh prefix.
    pub queue: QueueConfig,
    /// Give up connecting after this long.
    pub connect_timeout: Duration,
}

/// One benchmark run's corner of the server: every key it creates is under
/// a prefix no other run uses, `<base>-bench-<what>-<time>-<random>`.
#[derive(Debug)]
pub struct Workspace {
    url: RedisUrl,
    config: QueueConfig,
    connect_timeout: Duration,
    /// The benchmark's own connection (submitting, polling, cleaning up);
    /// services get their own through [`Workspace::connect`].
    client: RedisQueue,
}

impl Workspace {
    /// Connect and pick a fresh prefix for a run of benchmark `what`.
    pub async fn open(target: &Target, what: &str) -> Result<Self> {
        use rand::Rng;
        let prefix = format!(
            "{}-bench-{what}-{:x}-{:04x}",
            target.queue.prefix,
            queue::now_ms(),
            rand::rng().random::<u16>()
        );
        let config = QueueConfig {
            prefix,
            ..target.queue.clone()
        };
        let client =
            RedisQueue::connect_with_retry(&target.url, config.clone(), target.connect_timeout)
                .await
                .map_err(|e| {
                    BenchError::Config(format!("cannot reach redis at {}: {e}", target.url))
                })?;
        Ok(Self {
            url: target.url.clone(),
            config,
            connect_timeout: target.connect_timeout,
            client,
        })
    }

    /// The run's key prefix.
    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// The server.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// The queue settings, with the run's prefix.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The benchmark's own connection.
    pub fn queue(&self) -> &RedisQueue {
        &self.client
    }

    /// A new connection under the run's prefix, for one service, so that
    /// in-process services talk to Redis over separate connections as
    /// separate processes would.
    pub async fn connect(&self) -> Result<RedisQueue> {
        Ok(
            RedisQueue::connect_with_retry(&self.url, self.config.clone(), self.connect_timeout)
                .await?,
        )
    }

    /// Delete every key under the run's prefix; returns how many.
    pub async fn clean(&self) -> Result<u64> {
        let mut con = self.client.connection();
        let pattern = format!("{}:*", glob_escape(self.prefix()));
        let mut deleted = 0u64;
        for chunk in self.client.scan_keys(&pattern).await?.chunks(1000) {
            let n: u64 = redis::cmd("UNLINK")
                .arg(chunk)
                .query_async(&mut con)
                .await?;
            deleted += n;
        }
        Ok(deleted)
    }

    /// Run `body`, then delete the run's keys whatever came of it. A body
    /// that fails is the error reported; a failed cleanup is reported only
    /// after a body that succeeded. The body bounds its own time ([`within`])
    /// and stops what it started before it returns, so that nothing writes
    /// under the prefix after the cleanup.
    pub async fn run<T>(&self, body: impl Future<Output = Result<T>>) -> Result<T> {
        let out = body.await;
        let cleaned = self.clean().await;
        match (out, cleaned) {
            (Ok(v), Ok(n)) => {
                tracing::debug!(prefix = self.prefix(), keys = n, "benchmark keys deleted");
                Ok(v)
            }
            (Ok(_), Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Err(e), Err(c)) => {
                tracing::warn!(prefix = self.prefix(), error = %c, "cannot delete the benchmark's keys");
                Err(e)
            }
        }
    }
}

/// `body`, or a [`BenchError::Timeout`] naming `what` if it has not ended
/// within `limit`.
pub async fn within<T>(
    what: &str,
    limit: Duration,
    body: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, body).await.unwrap_or_else(|_| {
        Err(BenchError::Timeout {
            what: what.into(),
            limit,
        })
    })
}

/// `s` with Redis glob characters escaped, to match it literally in SCAN.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(glob_escape("nas-bench-1"), "nas-bench-1");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
