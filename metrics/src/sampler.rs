//! The queue's global state as gauges, sampled by the scheduler every few
//! seconds: jobs of the active searches per state (`Queue::counts`), and a
//! few cheap global figures read in one pipeline (leases held, delayed
//! jobs, dead letters, the surrogate's backlog), the redelivery counter and
//! the trainers alive.
//!
//! Sampling runs beside the scheduler's loop, never in it; a failed sample
//! is logged at debug level (the scheduler already warns about Redis
//! trouble) and the gauges keep their last values.

use queue::{Queue, RedisQueue};
use std::time::Duration;

/// Heartbeats younger than this count as a trainer alive, as `nas status`
/// counts them.
const ALIVE_WITHIN: Duration = Duration::from_secs(10);

/// Why a sample failed.
#[derive(Debug)]
pub struct SampleError(String);

impl std::fmt::Display for SampleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SampleError {}

fn failed(what: &str, e: impl std::fmt::Display) -> SampleError {
    SampleError(format!("sampling {what}: {e}"))
}

/// Take one sample of `queue` into [`crate::queue`] and
/// `nas_searches_active`; `active` are the ids of the searches running now
/// (the scheduler's store knows them).
pub async fn sample(queue: &RedisQueue, active: &[String]) -> Result<(), SampleError> {
    let m = crate::queue();
    let mut totals = [0u64; crate::JOB_STATES.len()];
    for id in active {
        let c = queue
            .counts(id)
            .await
            .map_err(|e| failed("job counts", e))?;
        for (t, n) in
            totals
                .iter_mut()
                .zip([c.queued, c.leased, c.delayed, c.done, c.dead, c.cancelled])
        {
            *t += n;
        }
    }
    let keys = queue.keys();
    let mut con = queue.connection();
    let (leases, delayed, dead, backlog): (i64, i64, i64, i64) = redis::pipe()
        .zcard(keys.leases())
        .zcard(keys.delayed())
        .llen(keys.dlq())
        .llen(keys.surrogate_requests())
        .query_async(&mut con)
        .await
        .map_err(|e| failed("queue sizes", e))?;
    let redeliveries = queue
        .redeliveries()
        .await
        .map_err(|e| failed("redeliveries", e))?;
    let alive = queue
        .workers(ALIVE_WITHIN)
        .await
        .map_err(|e| failed("trainers", e))?;

    crate::scheduler().searches_active.set(active.len() as i64);
    for (state, n) in crate::JOB_STATES.iter().zip(totals) {
        m.jobs.with_label_values(&[state]).set(n as i64);
    }
    m.leases.set(leases);
    m.delayed.set(delayed);
    m.dead_letters.set(dead);
    m.surrogate_backlog.set(backlog);
    m.trainers_alive.set(alive.len() as i64);
    // Mirror the queue's counter: add what it grew by since the last sample
    // (a counter never goes down, even if Redis was flushed).
    let seen = m.redeliveries.get();
    if redeliveries > seen {
        m.redeliveries.inc_by(redeliveries - seen);
    }
    crate::health().redis_ok();
    Ok(())
}
