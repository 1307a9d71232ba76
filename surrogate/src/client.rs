//! The ranking service's client: push a request, wait for its reply, and
//! send it once more if none comes in time (the replica that popped it may
//! have died; requests are self-contained, so any replica can answer the
//! second copy). Each copy carries its deadline; an unanswered copy still
//! on the list is taken back, and one popped late is dropped by the
//! replica, so requests never pile up in Redis.
//!
//! The client polls the reply key with LPOP instead of blocking on it: a
//! BLPOP would stall every other command on a multiplexed connection, and
//! one cut short by the connection's response timeout (500 ms by default in
//! redis-rs) could pop the reply into the void. Polling backs off from 5 ms
//! to 100 ms, which is small beside a fit.

use crate::wire::{RankReply, RankRequest, ReplyBody, MAX_CANDIDATES};
use crate::{Ranking, SurrogateError};
use queue::keys::Keys;
use redis::aio::ConnectionLike;
use redis::AsyncCommands;
use std::time::{Duration, Instant};

/// The first and the longest pause between two polls of the reply key.
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(100);

/// Ask the service under `prefix` to rank `request`'s candidates; wait up to
/// `timeout` for the reply, then push the request again and wait once more.
///
/// `con` may be shared: the wait polls and never blocks the connection. A
/// reply to another request on the same key is skipped.
pub async fn rank<C: ConnectionLike + Send + Sync>(
    con: &mut C,
    prefix: &str,
    request: &RankRequest,
    timeout: Duration,
) -> Result<Ranking, SurrogateError> {
    let keys = Keys::new(prefix);
    let requests = keys.surrogate_requests();
    const ATTEMPTS: u32 = 2;
    for attempt in 1..=ATTEMPTS {
        // Each copy carries the moment this wait ends, by the server's
        // clock: a replica that pops it later drops it unanswered.
        let now = queue::server_ms(con)
            .await
            .map_err(SurrogateError::redis(&requests))?;
        let mut copy = request.clone();
        copy.deadline_ms = Some(now + timeout.as_millis() as u64);
        let bytes = copy.encode(&keys, MAX_CANDIDATES)?;
        let _: () = con
            .rpush(&requests, &bytes)
            .await
            .map_err(SurrogateError::redis(&requests))?;
        if let Some(reply) = wait(con, request, timeout).await? {
            return ranking(reply, request);
        }
        // Unanswered: take the copy back if no replica has popped it, so
        // that requests nobody serves do not pile up.
        let _: i64 = con
            .lrem(&requests, 1, &bytes)
            .await
            .map_err(SurrogateError::redis(&requests))?;
        if attempt < ATTEMPTS {
            tracing::warn!(request = %request.request_id, timeout_ms = timeout.as_millis() as u64, "no surrogate reply in time; sending the request again");
        }
    }
    Err(SurrogateError::Timeout {
        request_id: request.request_id.clone(),
        attempts: ATTEMPTS,
        timeout_ms: timeout.as_millis() as u64,
    })
}

/// Remove the requests under `prefix` whose deadline has passed (their
/// clients stopped waiting; a replica would drop them anyway) and those
/// that do not decode as JSON; returns how many (with `dry_run`, how many
/// it would remove). What `nas gc` calls.
pub async fn drop_expired<C: ConnectionLike + Send + Sync>(
    con: &mut C,
    prefix: &str,
    dry_run: bool,
) -> Result<u64, SurrogateError> {
    let requests = Keys::new(prefix).surrogate_requests();
    let now = queue::server_ms(con)
        .await
        .map_err(SurrogateError::redis(&requests))?;
    let waiting: Vec<Vec<u8>> = con
        .lrange(&requests, 0, -1)
        .await
        .map_err(SurrogateError::redis(&requests))?;
    let mut dropped = 0;
    for raw in waiting {
        let deadline = serde_json::from_slice::<serde_json::Value>(&raw)
            .map(|v| v.get("deadline_ms").and_then(|d| d.as_u64()));
        if matches!(deadline, Ok(Some(d)) if d >= now) || matches!(deadline, Ok(None)) {
            continue;
        }
        if dry_run {
            dropped += 1;
            continue;
        }
        let n: u64 = con
            .lrem(&requests, 1, &raw)
            .await
            .map_err(SurrogateError::redis(&requests))?;
        dropped += n;
    }
    Ok(dropped)
}

/// The reply to `request`, or `None` once `timeout` has passed.
async fn wait<C: ConnectionLike + Send + Sync>(
    con: &mut C,
    request: &RankRequest,
    timeout: Duration,
) -> Result<Option<RankReply>, SurrogateError> {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_POLL;
    loop {
        let popped: Option<Vec<u8>> = con
            .lpop(&request.reply_key, None)
            .await
            .map_err(SurrogateError::redis(&request.reply_key))?;
        if let Some(raw) = popped {
            let reply = RankReply::decode(&raw)?;
            if reply.request_id == request.request_id {
                return Ok(Some(reply));
            }
            tracing::debug!(key = %request.reply_key, stale = %reply.request_id, "skipping a reply to another request");
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

fn ranking(reply: RankReply, request: &RankRequest) -> Result<Ranking, SurrogateError> {
    match reply.body {
        ReplyBody::Error { reason } => Err(SurrogateError::Remote {
            request_id: request.request_id.clone(),
            reason,
        }),
        ReplyBody::Ok {
            scores,
            spreads,
            version,
        } => {
            let n = request.candidates.len();
            if scores.len() != n || spreads.len() != n {
                return Err(SurrogateError::Remote {
                    request_id: request.request_id.clone(),
                    reason: format!(
                        "the reply has {} scores and {} spreads for {n} candidates",
                        scores.len(),
                        spreads.len()
                    ),
                });
            }
            Ok(Ranking {
                scores,
                spreads,
                version,
            })
        }
    }
}
