//! The text every benchmark message carries, and finding it again in
//! whatever line or frame a door delivers it in.
//!
//! A message's text is `[PAD ]cfb RUN PHASE SENDER SEQ NS`: a marker, the
//! run's random id (so messages of an earlier run, replayed as history,
//! are not counted), the phase (a step of a ramp), the sender's index,
//! its sequence number within the phase and the send time in nanoseconds
//! since the run's clock started. Every door puts the text at or near the
//! end of what it delivers (IRC and the line protocol at the very end,
//! the WebSocket JSON a few fields before), so the receiver searches for
//! the marker from the end: the hot path touches only the last bytes of
//! each line, and needs no parser for any door.

/// What a benchmark message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub run: u64,
    pub phase: u64,
    pub sender: u64,
    pub seq: u64,
    /// Send time, nanoseconds since the run's clock started.
    pub ns: u64,
}

const MARKER: &[u8] = b"cfb ";

impl Payload {
    /// Appends the message text (without any line ending) to `out`.
    pub fn write(&self, pad: usize, out: &mut String) {
        use std::fmt::Write;
        for _ in 0..pad {
            out.push('x');
        }
        if pad > 0 {
            out.push(' ');
        }
        let _ = write!(
            out,
            "cfb {} {} {} {} {}",
            self.run, self.phase, self.sender, self.seq, self.ns
        );
    }

    /// Finds the last benchmark text in `line`, if any.
    pub fn find(line: &[u8]) -> Option<Payload> {
        let at = rfind(line, MARKER)?;
        let mut rest = &line[at + MARKER.len()..];
        let mut fields = [0u64; 5];
        for (i, field) in fields.iter_mut().enumerate() {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 20 {
                return None;
            }
            let mut v: u64 = 0;
            for &b in &rest[..digits] {
                v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            }
            *field = v;
            rest = &rest[digits..];
            if i < 4 {
                rest = rest.strip_prefix(b" ")?;
            }
        }
        let [run, phase, sender, seq, ns] = fields;
        Some(Payload {
            run,
            phase,
            sender,
            seq,
            ns,
        })
    }
}

/// The start of the last occurrence of `needle` in `hay`.
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| hay[i..].starts_with(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        Payload {
            run: 77,
            phase: 2,
            sender: 9,
            seq: 12345,
            ns: 987_654_321,
        }
    }

    fn text(pad: usize) -> String {
        let mut s = String::new();
        sample().write(pad, &mut s);
        s
    }

    #[test]
    fn found_at_the_end_of_an_irc_line() {
        let line = format!(":b1!b1@x.confab PRIVMSG #bench :{}\r\n", text(0));
        assert_eq!(Payload::find(line.as_bytes()), Some(sample()));
    }

    #[test]
    fn found_in_a_line_door_line_with_padding() {
        let line = format!("[14:02] #bench <b1> {}", text(30));
        assert_eq!(Payload::find(line.as_bytes()), Some(sample()));
    }

    #[test]
    fn found_inside_websocket_json() {
        let line = format!(
            r##"{{"type":"message","message":{{"id":5,"from":"b1","target":"#bench","kind":"say","text":"{}"}},"time":"2026-12-04T00:00:00.000Z"}}"##,
            text(0)
        );
        assert_eq!(Payload::find(line.as_bytes()), Some(sample()));
    }

    #[test]
    fn other_lines_have_none() {
        for line in [
            "",
            "cfb",
            "cfb 1 2 3 4",
            "cfb 1 2 3 4 x",
            ":s 001 b1 :Welcome",
            "cfb 1 2 3 4 99999999999999999999999",
        ] {
            assert_eq!(Payload::find(line.as_bytes()), None, "{line:?}");
        }
    }
}
