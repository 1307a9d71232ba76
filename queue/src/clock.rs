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
