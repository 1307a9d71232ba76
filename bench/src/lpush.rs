//! The reference for queue throughput: `redis-benchmark -t lpush -P 1 -q -n
//! N` against the same server and database, the rate at which that server
//! takes its simplest write one round trip at a time (from redis-benchmark's
//! default 50 clients). The password, if any, reaches redis-benchmark on its
//! command line (`-a`), as it reads it from nowhere else.

use crate::{BenchError, Result};
use queue::RedisUrl;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, ConnectionAddr};
use std::time::Duration;

/// The key redis-benchmark's lpush test pushes to.
pub const LIST_KEY: &str = "mylist";

/// The requests the figure is measured over, as the issue states it.
pub const DEFAULT_REQUESTS: u64 = 100_000;

/// How long redis-benchmark may run.
const LIMIT: Duration = Duration::from_secs(120);

/// redis-benchmark's arguments for `url`: where to connect, then the test.
pub fn arguments(url: &RedisUrl, requests: u64) -> Result<Vec<String>> {
    let client = redis::Client::open(url.expose())?;
    let info = client.get_connection_info();
    let mut args: Vec<String> = Vec::new();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            args.extend(["-h".into(), host.clone(), "-p".into(), port.to_string()]);
        }
        ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } => {
            args.extend(["-h".into(), host.clone(), "-p".into(), port.to_string()]);
            args.push("--tls".into());
            if *insecure {
                args.push("--insecure".into());
            }
        }
        ConnectionAddr::Unix(path) => {
            args.extend(["-s".into(), path.display().to_string()]);
        }
        other => {
            return Err(BenchError::RedisBenchmark(format!(
                "cannot point redis-benchmark at {other:?} ({url})"
            )))
        }
    }
    let settings = info.redis_settings();
    if settings.db() != 0 {
        args.extend(["--dbnum".into(), settings.db().to_string()]);
    }
    if let Some(user) = settings.username() {
        args.extend(["--user".into(), user.to_string()]);
    }
    if let Some(password) = settings.password() {
        args.extend(["-a".into(), password.to_string()]);
    }
    args.extend(
        ["-t", "lpush", "-P", "1", "-q", "-n"]
            .into_iter()
            .map(String::from),
    );
    args.push(requests.to_string());
    Ok(args)
}

/// The final figure in redis-benchmark's quiet output, whose progress
/// lines end in `\r`: `LPUSH: 88731.15 requests per second, p50=0.255 msec`.
pub fn parse_ops_per_s(output: &str) -> Option<f64> {
    output
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains("requests per second"))
        .filter_map(|l| l.strip_prefix("LPUSH:"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .rfind(|v| v.is_finite() && *v > 0.0)
}

/// Run the reference on the server `con` is connected to (the server and
/// database `url` names) and return its operations per second. Refuses to
/// run if the server holds a [`LIST_KEY`] already, since the test would
/// push to it and cleaning up would delete it; deletes the list after.
pub async fn ops_per_s(url: &RedisUrl, con: &mut ConnectionManager, requests: u64) -> Result<f64> {
    let exists: bool = con.exists(LIST_KEY).await?;
    if exists {
        return Err(BenchError::RedisBenchmark(format!(
            "the server holds a key {LIST_KEY:?}, which the lpush test would push to; \
             delete it or point --redis at another database"
        )));
    }
    let args = arguments(url, requests)?;
    let child = tokio::process::Command::new("redis-benchmark")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            BenchError::RedisBenchmark(if e.kind() == std::io::ErrorKind::NotFound {
                "not found on PATH (Debian package redis-tools; scripts/setup.sh installs it)"
                    .into()
            } else {
                format!("cannot start it: {e}")
            })
        })?;
    let output = tokio::time::timeout(LIMIT, child.wait_with_output()).await;
    // The list goes whatever happened to the run.
    let _: i64 = con.del(LIST_KEY).await?;
    let output = output
        .map_err(|_| BenchError::Timeout {
            what: "redis-benchmark".into(),
            limit: LIMIT,
        })?
        .map_err(|e| BenchError::RedisBenchmark(format!("waiting for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(BenchError::RedisBenchmark(format!(
            "exited with {}: {}",
            output.status,
            tail(&format!("{stdout}{stderr}"))
        )));
    }
    parse_ops_per_s(&stdout).ok_or_else(|| {
        BenchError::RedisBenchmark(format!(
            "printed no LPUSH figure: {}",
            tail(&format!("{stdout}{stderr}"))
        ))
    })
}

/// The last few hundred characters of a program's output, for errors.
pub(crate) fn tail(s: &str) -> String {
    let s = s.trim();
    let start = s.len().saturating_sub(400);
    let start = (start..=s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    s[start..].replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_figure_is_read_past_the_progress_lines() {
        let out = "\rLPUSH: rps=53440.2 (overall: 53234.6) avg_msec=0.606 (overall: 0.606)\r   \
                   \rLPUSH: 88731.15 requests per second, p50=0.255 msec\n\n";
        assert_eq!(parse_ops_per_s(out), Some(88731.15));
        // Older redis-benchmark prints no percentile.
        assert_eq!(
            parse_ops_per_s("LPUSH: 120048.02 requests per second\n"),
            Some(120048.02)
        );
        assert_eq!(parse_ops_per_s("LPUSH: rps=5.0 (overall: 5.0)\r"), None);
        assert_eq!(parse_ops_per_s("Could not connect to Redis"), None);
    }

    #[test]
    fn arguments_carry_host_port_database_and_credentials() {
        let url = RedisUrl::parse("redis://bench:s3cret@10.0.0.5:6390/2").unwrap();
        let args = arguments(&url, 1000).unwrap();
        assert_eq!(
            args,
            [
                "-h", "10.0.0.5", "-p", "6390", "--dbnum", "2", "--user", "bench", "-a", "s3cret",
                "-t", "lpush", "-P", "1", "-q", "-n", "1000"
            ]
        );
        let url = RedisUrl::parse("redis://127.0.0.1/").unwrap();
        let args = arguments(&url, 5).unwrap();
        assert_eq!(args[..4], ["-h", "127.0.0.1", "-p", "6379"]);
    }
}
