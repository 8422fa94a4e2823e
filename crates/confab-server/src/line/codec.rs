//! [`LineDecoder`]: bytes from a telnet or `nc` client into lines.
//!
//! Sans-IO: it is fed whatever the socket read and hands back complete
//! items. It understands what real clients send:
//!
//! - line ends as CR LF, CR NUL (telnet's bare CR), a lone CR or a lone LF;
//! - telnet commands (`IAC …`, option negotiation `IAC WILL/WONT/DO/DONT x`
//!   and subnegotiation `IAC SB … IAC SE`), which are dropped; `IAC IAC` is
//!   a literal 0xFF byte;
//! - backspace and DEL, which erase the last character (telnet in character
//!   mode, or a terminal that sends them raw).
//!
//! A line longer than the limit is discarded up to its end and reported
//! once; memory stays bounded by the limit whatever the client sends.

use std::collections::VecDeque;

/// What the decoder makes of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Line(String),
    /// A line went past the limit and was dropped.
    TooLong,
    /// A line was not valid UTF-8 and was dropped.
    InvalidUtf8,
}

const IAC: u8 = 255;
const DONT: u8 = 254;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const BS: u8 = 0x08;
const DEL: u8 = 0x7f;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// After CR: a LF or NUL that follows belongs to the same line end.
    AfterCr,
    /// After IAC.
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte.
    Option,
    /// Inside IAC SB … IAC SE.
    Sub,
    /// After IAC inside a subnegotiation.
    SubIac,
}

#[derive(Debug)]
pub struct LineDecoder {
    max: usize,
    line: Vec<u8>,
    /// The current line went past `max`; it is being skipped.
    overlong: bool,
    state: State,
}

impl LineDecoder {
    /// A decoder for lines of at most `max` bytes.
    pub fn new(max: usize) -> LineDecoder {
        LineDecoder {
            max,
            line: Vec::new(),
            overlong: false,
            state: State::Text,
        }
    }

    /// Feeds `input`, appending every complete item to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut VecDeque<Decoded>) {
        for &b in input {
            self.state = match self.state {
                State::AfterCr if b == b'\n' || b == 0 => State::Text,
                State::Text | State::AfterCr => self.text(b, out),
                State::Iac => match b {
                    IAC => {
                        self.push(IAC);
                        State::Text
                    }
                    WILL..=DONT => State::Option,
                    SB => State::Sub,
                    _ => State::Text,
                },
                State::Option => State::Text,
                State::Sub => match b {
                    IAC => State::SubIac,
                    _ => State::Sub,
                },
                State::SubIac => match b {
                    SE => State::Text,
                    _ => State::Sub,
                },
            };
        }
    }

    /// The input has ended: a last line without its line end is a line
    /// all the same (`printf 'alice\n/users' | nc`).
    pub fn finish(&mut self, out: &mut VecDeque<Decoded>) {
        if !self.line.is_empty() || self.overlong {
            self.end(out);
        }
        self.state = State::Text;
    }

    fn text(&mut self, b: u8, out: &mut VecDeque<Decoded>) -> State {
        match b {
            b'\r' => {
                self.end(out);
                State::AfterCr
            }
            b'\n' => {
                self.end(out);
                State::Text
            }
            IAC => State::Iac,
            BS | DEL => {
                self.erase();
                State::Text
            }
            _ => {
                self.push(b);
                State::Text
            }
        }
    }

    fn push(&mut self, b: u8) {
        if self.overlong {
            return;
        }
        if self.line.len() == self.max {
            self.overlong = true;
            self.line.clear();
            return;
        }
        self.line.push(b);
    }

    /// Erases the last character: one byte, plus the UTF-8 continuation
    /// bytes before it.
    fn erase(&mut self) {
        while let Some(b) = self.line.pop() {
            if b & 0xC0 != 0x80 {
                break;
            }
        }
    }

    fn end(&mut self, out: &mut VecDeque<Decoded>) {
        let line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.overlong) {
            out.push_back(Decoded::TooLong);
            return;
        }
        match String::from_utf8(line) {
            Ok(s) => out.push_back(Decoded::Line(s)),
            Err(_) => out.push_back(Decoded::InvalidUtf8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(max: usize, chunks: &[&[u8]]) -> Vec<Decoded> {
        let mut d = LineDecoder::new(max);
        let mut out = VecDeque::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        out.into()
    }

    fn line(s: &str) -> Decoded {
        Decoded::Line(s.to_owned())
    }

    #[test]
    fn line_ends() {
        let got = decode(100, &[b"a\r\nb\nc\r\0d\re\r", b"\nf"]);
        assert_eq!(got, [line("a"), line("b"), line("c"), line("d"), line("e")]);
    }

    #[test]
    fn empty_lines_are_lines() {
        assert_eq!(decode(100, &[b"\r\n\n"]), [line(""), line("")]);
    }

    #[test]
    fn split_anywhere() {
        let input = "héllo wörld\r\n".as_bytes();
        for cut in 0..input.len() {
            let got = decode(100, &[&input[..cut], &input[cut..]]);
            assert_eq!(got, [line("héllo wörld")], "cut at {cut}");
        }
    }

    #[test]
    fn telnet_negotiation_is_dropped() {
        // IAC DO ECHO, IAC WILL NAWS, IAC SB NAWS 0 80 0 24 IAC SE, IAC NOP
        let input =
            b"\xff\xfd\x01hi\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0 there\xff\xf1\r\n";
        assert_eq!(decode(100, &[input]), [line("hi there")]);
        // IAC IAC inside a subnegotiation does not end it.
        assert_eq!(
            decode(100, &[b"\xff\xfa\x18\xff\xff\x01\xff\xf0ok\n"]),
            [line("ok")]
        );
        // A split IAC sequence.
        assert_eq!(decode(100, &[b"a\xff", b"\xfd", b"\x03b\n"]), [line("ab")]);
    }

    #[test]
    fn escaped_iac_is_a_byte() {
        assert_eq!(decode(100, &[b"a\xff\xffb\n"]), [Decoded::InvalidUtf8]);
    }

    #[test]
    fn backspace_erases_characters() {
        assert_eq!(decode(100, &[b"helo\x08\x08llo\n"]), [line("hello")]);
        assert_eq!(decode(100, &["aé\x7f!\n".as_bytes()]), [line("a!")]);
        assert_eq!(decode(100, &[b"\x08\x08x\n"]), [line("x")]);
    }

    #[test]
    fn invalid_utf8_is_reported_per_line() {
        let got = decode(100, &[b"ok\n\xc3\x28\nfine\n"]);
        assert_eq!(got, [line("ok"), Decoded::InvalidUtf8, line("fine")]);
    }

    #[test]
    fn overlong_lines_are_skipped_once() {
        let got = decode(4, &[b"abcd\nabcde", b"fghij\nok\n"]);
        assert_eq!(got, [line("abcd"), Decoded::TooLong, line("ok")]);
    }

    #[test]
    fn the_end_of_input_ends_the_last_line() {
        let mut d = LineDecoder::new(4);
        let mut out = VecDeque::new();
        d.feed(b"ab\ncd", &mut out);
        d.finish(&mut out);
        assert_eq!(out, [line("ab"), line("cd")]);
        // Nothing pending, nothing more; an overlong last line is reported.
        d.finish(&mut out);
        d.feed(b"abcdefg", &mut out);
        d.finish(&mut out);
        assert_eq!(out, [line("ab"), line("cd"), Decoded::TooLong]);
    }

    #[test]
    fn overlong_without_newline_stays_bounded() {
        let mut d = LineDecoder::new(8);
        let mut out = VecDeque::new();
        for _ in 0..1000 {
            d.feed(&[b'x'; 1024], &mut out);
        }
        assert!(out.is_empty());
        assert!(d.line.capacity() <= 64);
        d.feed(b"\n", &mut out);
        assert_eq!(out, [Decoded::TooLong]);
    }
}
