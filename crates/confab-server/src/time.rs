//! Time as the server reads and writes it: the hub's clock, and the one
//! text form every door and log uses.

use std::time::{SystemTime, UNIX_EPOCH};

use confab_core::Timestamp;

/// The wall clock as the hub counts it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// A time as every door and log writes it: RFC 3339 in UTC with
/// milliseconds (`2026-11-23T20:00:00.123Z`; IRCv3's `time` tag too).
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t.0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
