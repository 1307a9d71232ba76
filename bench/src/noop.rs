//! No-op jobs enqueued straight onto the queue, with no scheduler: the
//! trainer's `Noop` evaluator returns at once or after the `sleep_ms` its
//! payload asks for. The scaling benchmark and the queue benchmark's
//! scheduler-less figure use them.

use crate::{BenchError, Result};
use queue::{JobKind, NewJob, Outcome, Queue, RedisQueue};
use std::time::Duration;

/// How often to look for new results.
const POLL: Duration = Duration::from_millis(2);

/// Enqueue `n` jobs that sleep `job_ms` each under search `search`.
pub async fn enqueue_noops(q: &RedisQueue, search: &str, n: usize, job_ms: u64) -> Result<()> {
    let jobs = (0..n)
        .map(|i| NewJob {
            search_id: search.into(),
            dedupe_key: i.to_string(),
            kind: JobKind::Noop,
            priority: 0.0,
            payload: serde_json::json!({ "sleep_ms": job_ms }),
        })
        .collect();
    q.enqueue(jobs).await?;
    Ok(())
}

/// Wait for `n` results of `search`; returns when the last was recorded
/// (ms since the epoch). A job that did not succeed is an error.
pub async fn collect(q: &RedisQueue, search: &str, n: usize) -> Result<u64> {
    let mut seen = 0usize;
    let mut last_ms = 0u64;
    while seen < n {
        let page = q.results(search, seen as u64, 1000).await?;
        if page.is_empty() {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if let Some(u) = page.undecodable.first() {
            return Err(BenchError::Incomplete(format!(
                "entry {} of the result log does not decode: {}",
                u.index, u.reason
            )));
        }
        for r in &page.results {
            if !matches!(r.outcome, Outcome::Ok(_)) {
                return Err(BenchError::Incomplete(format!(
                    "job {} ended {:?} instead of succeeding",
                    r.job_id, r.outcome
                )));
            }
            last_ms = last_ms.max(r.finished_ms);
        }
        seen += page.len();
    }
    Ok(last_ms)
}
