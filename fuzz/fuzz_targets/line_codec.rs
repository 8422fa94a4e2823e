//! Feeds arbitrary bytes to the line door's decoder, split into chunks at
//! points the fuzzer chooses, then parses every decoded line as the door
//! does.
//!
//! Input layout: byte 0 picks the line limit (`max`: the byte itself,
//! 0..=249, or the default 4096 for 250..=255); the low 3 bits of byte 1
//! say how many chunk lengths follow (0..=7, one byte each); the rest is
//! what the client sent, fed in chunks of those lengths (the remainder as
//! a last chunk).
//!
//! Checked, whatever the bytes:
//! - the items are the same fed in one chunk, in the fuzzer's chunks and
//!   one byte at a time (the decoder keeps all its state between `feed`s,
//!   telnet commands included);
//! - a `Line` is at most `max` bytes and holds no CR, LF, backspace or
//!   DEL; it is a `String`, so valid UTF-8 (a NUL inside a line is kept:
//!   only CR NUL is a line end, and the parser refuses control characters);
//! - there are no more items than CR and LF bytes in the input;
//! - a decoded line sent again (with `\r\n` or `\n`) decodes to itself;
//! - on input without telnet's IAC, the items are those of a reference
//!   written differently (split at line ends first, then erase and limit);
//! - the command parser on every line, with the default limits and small
//!   ones: no panic, every name and text in a command within its limit and
//!   valid (`confab_fuzz::check_command`), errors bounded in size.

#![no_main]

use confab_fuzz::{Limits, MAX_ERROR_BYTES, check_command, check_nick};
use confab_server::line::codec::{Decoded, LineDecoder};
use confab_server::line::parse::{COMMANDS, Input, ParseLimits, parse};
use libfuzzer_sys::fuzz_target;

const DEFAULT_MAX: usize = 4096;

fn decode(max: usize, chunks: &[&[u8]]) -> Vec<Decoded> {
    let mut d = LineDecoder::new(max);
    let mut out = std::collections::VecDeque::new();
    for c in chunks {
        d.feed(c, &mut out);
    }
    out.into()
}

/// The decoder's rules for input without IAC, in another shape: cut the
/// input at line ends (CR LF, CR NUL, CR, LF) first, then apply backspace
/// and the limit to each line.
fn reference(max: usize, input: &[u8]) -> Vec<Decoded> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
            return out; // an unfinished line is no item
        };
        out.push(finish(max, &rest[..end]));
        let skip = match (rest[end], rest.get(end + 1)) {
            (b'\r', Some(b'\n' | 0)) => 2,
            _ => 1,
        };
        rest = &rest[end + skip..];
    }
}

fn finish(max: usize, raw: &[u8]) -> Decoded {
    let mut line = Vec::new();
    for &b in raw {
        if b == 0x08 || b == 0x7f {
            // Erase one character: its continuation bytes and its lead.
            while let Some(c) = line.pop() {
                if c & 0xC0 != 0x80 {
                    break;
                }
            }
        } else if line.len() == max {
            // Past the limit: nothing later on this line counts.
            return Decoded::TooLong;
        } else {
            line.push(b);
        }
    }
    match String::from_utf8(line) {
        Ok(s) => Decoded::Line(s),
        Err(_) => Decoded::InvalidUtf8,
    }
}

fn check_parse(line: &str, pl: ParseLimits) {
    let l = Limits {
        nick: pl.max_nick_len,
        room: pl.max_room_len,
        message: pl.max_message_bytes,
    };
    match parse(line, &pl) {
        Ok(Input::Nothing) => assert!(line.trim().is_empty(), "Nothing for {line:?}"),
        Ok(Input::Hub(c)) => check_command(&c, &l),
        Ok(Input::Help(h)) => {
            if let Some(h) = h {
                // By value: a `const` slice has no single address.
                assert!(COMMANDS.contains(h), "help for an unknown command");
            }
        }
        Ok(Input::Commands | Input::Time) => {}
        Ok(Input::Register(password)) => {
            assert!(!password.is_empty() && !password.contains(char::is_whitespace));
        }
        Ok(Input::Login { name, password }) => {
            check_nick(&name, &l);
            assert!(!password.is_empty() && !password.contains(char::is_whitespace));
        }
        Ok(Input::Passwd { old, new }) => {
            for pw in [&old, &new] {
                assert!(!pw.is_empty() && !pw.contains(char::is_whitespace));
            }
        }
        Ok(Input::Oper { name, password }) => {
            assert!(!name.is_empty() && !password.is_empty());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "an empty error");
            assert!(
                msg.len() <= MAX_ERROR_BYTES,
                "an error of {} bytes: {:?}",
                msg.len(),
                &msg[..msg.floor_char_boundary(100)]
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, ncuts, rest @ ..] = data else {
        return;
    };
    let max = match *sel {
        n @ 0..=249 => usize::from(n),
        _ => DEFAULT_MAX,
    };
    let ncuts = usize::from(ncuts & 7).min(rest.len());
    let (cuts, input) = rest.split_at(ncuts);

    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut left = input;
    for &len in cuts {
        let (chunk, more) = left.split_at(usize::from(len).min(left.len()));
        chunks.push(chunk);
        left = more;
    }
    chunks.push(left);

    let whole = decode(max, &[input]);
    assert_eq!(decode(max, &chunks), whole, "fuzzer's chunks");
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(decode(max, &bytes), whole, "byte by byte");

    let ends = input.iter().filter(|&&b| b == b'\r' || b == b'\n').count();
    assert!(
        whole.len() <= ends,
        "{} items from {ends} line ends",
        whole.len()
    );

    if !input.contains(&0xff) {
        assert_eq!(whole, reference(max, input), "reference decoder");
    }

    for item in &whole {
        let Decoded::Line(line) = item else {
            continue;
        };
        assert!(
            line.len() <= max,
            "a line of {} bytes over {max}",
            line.len()
        );
        assert!(
            !line
                .bytes()
                .any(|b| matches!(b, b'\r' | b'\n' | 0x08 | 0x7f)),
            "a line end or erase in {line:?}"
        );
        for end in ["\r\n", "\n"] {
            let again = decode(max, &[format!("{line}{end}").as_bytes()]);
            assert_eq!(again, [item.clone()], "a line sent again");
        }

        check_parse(
            line,
            ParseLimits {
                max_nick_len: 20,
                max_room_len: 50,
                max_message_bytes: 1024,
            },
        );
        check_parse(
            line,
            ParseLimits {
                max_nick_len: 9,
                max_room_len: 10,
                max_message_bytes: 20,
            },
        );
    }
});
