//! How log lines are written, made cheaper without changing a byte of
//! them: logins write three or four lines each, and formatting a line cost
//! its caller more than the rest of some logins' steps (docs/performance.md).
//!
//! - [`LogClock`] writes the time as tracing-subscriber's default timer
//!   does (RFC 3339, UTC, microseconds: `2026-12-06T06:39:46.576344Z`),
//!   but makes the date and the time of day once a second per thread
//!   rather than once a line (a quarter of a line's cost).
//! - [`LogFields`] writes the text format's fields as tracing-subscriber's
//!   default does (`name=value`, a string quoted as Rust's `Debug` quotes
//!   it), the common cases directly: a string with nothing to escape, a
//!   number, a bool. Everything else (the message, `%` and `?` values,
//!   errors, colours on a terminal) goes to tracing-subscriber's own
//!   visitor.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
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

/// The text format's field formatter (`fmt().fmt_fields`).
pub struct LogFields;

impl<'w> MakeVisitor<Writer<'w>> for LogFields {
    type Visitor = FieldWriter<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> FieldWriter<'w> {
        FieldWriter {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// One line's (or span's) fields, `name=value` with spaces between.
pub struct FieldWriter<'w> {
    writer: Writer<'w>,
    /// Nothing written yet (no space before the next field).
    is_empty: bool,
    result: fmt::Result,
}

impl FieldWriter<'_> {
    /// Whether `field` may be written here rather than by the default
    /// visitor: not the message (written bare, escaped its own way), not
    /// a raw identifier (`r#type`, written without its `r#`), no colours.
    fn direct(&self, field: &Field) -> bool {
        self.result.is_ok()
            && !self.writer.has_ansi_escapes()
            && field.name() != "message"
            && !field.name().starts_with("r#")
    }

    /// Writes `name=` after a space when a field came before.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    /// Writes `field` as `name=` and the parts of `value` when it may be
    /// written here, else hands it to the default visitor.
    fn write_or(
        &mut self,
        field: &Field,
        value: Option<&[&str]>,
        default: impl FnOnce(&mut DefaultVisitor<'_>),
    ) {
        match value {
            Some(parts) if self.direct(field) => {
                self.result = self
                    .name(field)
                    .and_then(|()| parts.iter().try_for_each(|p| self.writer.write_str(p)));
            }
            _ => self.default(default),
        }
    }

    /// Hands one field to tracing-subscriber's own visitor.
    fn default(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        if self.result.is_err() {
            return;
        }
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        self.is_empty = false;
    }
}

/// Whether `Debug` writes `s` as itself between quotes: printable ASCII
/// only, neither `"` nor `\`. (One pass without an early exit, which the
/// compiler vectorises.)
fn quotable(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| {
        ok & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    })
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let quoted = ["\"", value, "\""];
        let direct = quotable(value).then_some(&quoted[..]);
        self.write_or(field, direct, |v| v.record_str(field, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let mut digits = itoa::Buffer::new();
        let direct = [digits.format(value)];
        self.write_or(field, Some(&direct), |v| v.record_u64(field, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        let mut digits = itoa::Buffer::new();
        let direct = [digits.format(value)];
        self.write_or(field, Some(&direct), |v| v.record_i64(field, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let direct = [if value { "true" } else { "false" }];
        self.write_or(field, Some(&direct), |v| v.record_bool(field, value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.default(|v| v.record_f64(field, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.default(|v| v.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.default(|v| v.record_debug(field, value));
    }
}

impl VisitOutput<fmt::Result> for FieldWriter<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for FieldWriter<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
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

    /// A writer into a shared buffer, for a subscriber under test.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// Lines with every kind of field: strings to quote as they are and
    /// strings to escape, numbers, bools, floats, `%` and `?` values, an
    /// error with a source, a raw identifier, span fields, the message.
    fn log_everything() {
        let span = tracing::info_span!("conn", sid = 7u64, peer = %"127.0.0.1:5");
        let _entered = span.enter();
        tracing::info!(door = "irc", name = "h582", ip = %std::net::Ipv4Addr::LOCALHOST,
            account = false, ok = true, "login");
        tracing::info!(
            sid = 3u64,
            n = -4i64,
            big = u64::MAX,
            r = 0.5f64,
            "numbers {}",
            42
        );
        tracing::info!(
            quote = "say \"hi\"",
            slash = "a\\b",
            tab = "a\tb",
            utf = "naïve",
            ctl = "\u{1b}[31mred",
            empty = "",
            tilde = "~ ",
            "strings"
        );
        tracing::info!(r#type = "raw", list = ?vec![1, 2], "raw and debug");
        let err = std::io::Error::other(std::io::Error::other("disk full"));
        tracing::warn!(error = &err as &dyn std::error::Error, "errors");
        tracing::info!(message = "a message field", after = "x");
        tracing::info!(only = "fields", n = 1u64);
        tracing::info!("{} and \u{1b}[1m escapes", "a message only");
    }

    fn lines(ours: bool, ansi: bool) -> String {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(ansi)
            .without_time();
        if ours {
            let subscriber = builder.fmt_fields(LogFields).finish();
            tracing::subscriber::with_default(subscriber, log_everything);
        } else {
            tracing::subscriber::with_default(builder.finish(), log_everything);
        }
        let bytes = buffer.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    /// Byte for byte what tracing-subscriber's own field formatter writes,
    /// plain and in colour.
    #[test]
    fn fields_read_as_the_default_formatters_do() {
        let plain = lines(true, false);
        assert_eq!(plain, lines(false, false));
        assert_eq!(lines(true, true), lines(false, true));
        for written in [
            r#"door="irc" name="h582" ip=127.0.0.1 account=false ok=true"#,
            r#"sid=3 n=-4 big=18446744073709551615 r=0.5"#,
            r#"quote="say \"hi\"" slash="a\\b" tab="a\tb" utf="naïve""#,
            r#"empty="" tilde="~ ""#,
            r#"only="fields" n=1"#,
        ] {
            assert!(plain.contains(written), "{written} not in:\n{plain}");
        }
    }
}
