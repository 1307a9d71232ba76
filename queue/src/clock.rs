//! This machine's wall clock, for timestamps in messages (creation and
//! finishing times). Leases never use it: their deadlines come from the
//! Redis server's clock.

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The Redis server's clock, ms since the epoch: the one clock every
/// process of a deployment agrees on (leases are timed by it too).
pub async fn server_ms<C: redis::aio::ConnectionLike + Send>(
    con: &mut C,
) -> redis::RedisResult<u64> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(con).await?;
    Ok(secs * 1000 + micros / 1000)
}
