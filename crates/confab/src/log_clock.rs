//! The log lines' clock. It writes the time as tracing-subscriber's
//! default does (RFC 3339, UTC, microseconds: `2026-12-06T06:39:46.576344Z`),
//! but makes the date and the time of day once a second per thread rather
//! than once a line: formatting the time was a quarter of what a log line
//! cost its caller, and logins write three or four lines each
//! (docs/performance.md).

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The timer every log line is stamped with (`fmt().with_timer`).
pub struct LogClock;

impl FormatTime for LogClock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        write_stamp(w, now)
    }
}

/// Writes `since_epoch` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`; the part up to
/// the seconds is kept per thread and made again when the second changes.
fn write_stamp(w: &mut impl Write, since_epoch: Duration) -> fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let secs = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(made_for, text)| {
        if *made_for != secs {
            let at = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            text.clear();
            write!(text, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            *made_for = secs;
        }
        write!(w, "{text}.{:06}Z", since_epoch.subsec_micros())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(since_epoch: Duration) -> String {
        let mut s = String::new();
        write_stamp(&mut s, since_epoch).expect("a String takes any text");
        s
    }

    /// The same text as chrono's RFC 3339 with microseconds, whichever
    /// second was made last: the same one again, the next, an earlier one.
    #[test]
    fn a_stamp_is_rfc3339_in_microseconds_whatever_came_before() {
        let instants = [
            Duration::new(1_796_539_186, 576_344_999),
            Duration::new(1_796_539_186, 999_999_999),
            Duration::new(1_796_539_187, 0),
            Duration::new(1_796_539_186, 1_000),
            Duration::new(0, 0),
            Duration::new(951_782_399, 500_000_000), // 2000-02-28T23:59:59
            Duration::new(951_782_400, 7_000),       // 2000-02-29
            Duration::new(4_102_444_800, 123_456_000),
        ];
        for at in instants {
            let expected = chrono::DateTime::from_timestamp(
                i64::try_from(at.as_secs()).expect("small"),
                at.subsec_nanos(),
            )
            .expect("in range")
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(stamp(at), expected);
        }
        assert_eq!(
            stamp(Duration::new(1_796_539_186, 576_344_999)),
            "2026-12-06T06:39:46.576344Z"
        );
    }

    /// The shape tracing-subscriber's own timer writes, so that readers of
    /// the log (and its JSON's `timestamp`) see no change.
    #[test]
    fn the_stamp_has_the_default_timers_shape() {
        let mut ours = String::new();
        let mut theirs = String::new();
        LogClock
            .format_time(&mut Writer::new(&mut ours))
            .expect("formats");
        tracing_subscriber::fmt::time::SystemTime
            .format_time(&mut Writer::new(&mut theirs))
            .expect("formats");
        let shape = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_digit() { '0' } else { c })
                .collect::<String>()
        };
        assert_eq!(shape(&ours), shape(&theirs), "{ours} against {theirs}");
    }
}
