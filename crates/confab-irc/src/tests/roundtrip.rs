//! Round trips over many generated lines and messages (a cheap, seeded
//! property test; the fuzz target in `fuzz/` goes further).

use super::assert_round_trip;
use crate::{MAX_PARAMS, Message, Tag, split_text};

/// xorshift64*: deterministic, good enough to pick fragments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const FRAGMENTS: &[&[u8]] = &[
    b"@",
    b"a",
    b"b",
    b"=",
    b";",
    b" ",
    b"  ",
    b":",
    b"\\",
    b"\\s",
    b"\\:",
    b"s",
    b"+",
    b"/",
    b".",
    b"-",
    b"x",
    b"1",
    b"\xc3\xa9",
    b"\xe6\x97\xa5",
    b"PRIVMSG",
    b"ping",
    b"001",
    b"\t",
    b"!",
    b"#c",
    b"\x01",
    b"\x03",
];
/// Bytes that make a line fail: picked rarely.
const BAD_FRAGMENTS: &[&[u8]] = &[b"\r", b"\n", b"\0", b"\xff", b"\xc3", b"\xe6\x97"];

const TAG_FRAGMENTS: &[&[u8]] = &[
    b"a",
    b"b",
    b"=",
    b";",
    b"\\",
    b"\\s",
    b"\\:",
    b"+",
    b"/",
    b".",
    b"-",
    b"x=y",
    b"\xc3\xa9",
];

#[test]
fn generated_lines() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..60_000 {
        let mut line = Vec::new();
        let structured = rng.below(4) != 0;
        if rng.below(3) == 0 {
            line.extend_from_slice(b"@");
            if structured {
                for _ in 0..rng.below(8) {
                    line.extend_from_slice(rng.pick(TAG_FRAGMENTS));
                }
                line.push(b' ');
            }
        }
        if structured {
            if rng.below(2) == 0 {
                line.extend_from_slice(b":n!u@h ");
            }
            line.extend_from_slice(rng.pick(&[&b"PRIVMSG "[..], b"ping", b"001 ", b"Cmd"]));
        }
        for _ in 0..rng.below(40) {
            let fragments = if rng.below(100) == 0 {
                BAD_FRAGMENTS
            } else {
                FRAGMENTS
            };
            line.extend_from_slice(rng.pick(fragments));
        }
        if let Ok(m) = Message::parse(&line) {
            parsed += 1;
            assert_round_trip(&line, &m);
        }
    }
    assert!(
        parsed > 10_000,
        "only {parsed} lines parsed: the generator is off"
    );
}

const WORDS: &[&str] = &[
    "a",
    "#room",
    "alice",
    "x:y",
    "+o",
    "*",
    "\u{e9}t\u{e9}",
    "\u{1f600}",
    "=",
    "@",
    "!",
    "\\",
];
const TEXTS: &[&str] = &[
    "",
    " ",
    ":",
    "::",
    "hello world",
    " lead",
    "trail ",
    ":-)",
    "a;b",
    "\u{65e5}\u{672c} \u{8a9e}",
    "\\s",
    "x",
];
const VALUES: &[Option<&str>] = &[
    None,
    Some("v"),
    Some("a b"),
    Some("a;b"),
    Some("\\"),
    Some("\\s"),
    Some("\r\n"),
    Some("=:@!"),
    Some("\u{e9}"),
    Some("trailing\\"),
];
const KEYS: &[&str] = &["a", "b-c", "+d", "ex.com/e", "+ex.com/f", "9"];

/// Messages built from valid parts survive the trip, forced `:` or not.
#[test]
fn built_messages() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let mut m = Message::new(rng.pick(&["PRIVMSG", "NOTICE", "001", "TAGMSG", "PING"]));
        if rng.below(2) == 0 {
            m = m.with_source(rng.pick(&["n!u@h", "irc.example.net", ":odd"]));
        }
        for _ in 0..rng.below(4) {
            m = m.with_tag(rng.pick(KEYS), rng.pick(VALUES));
        }
        let n = rng.below(MAX_PARAMS + 1);
        for i in 0..n {
            m = if i + 1 == n {
                m.with_param(rng.pick(TEXTS))
            } else {
                m.with_param(rng.pick(WORDS))
            };
        }
        for force in [false, true] {
            let mut out = Vec::new();
            m.write_to_trailing(&mut out, force);
            let back = Message::parse(&out).unwrap_or_else(|e| panic!("{m:?} -> {out:?}: {e}"));
            assert_eq!(back, m, "{}", out.escape_ascii());
        }
    }
}

/// `split_text` keeps its promises on generated text.
#[test]
fn split_text_generated() {
    let chars = ['a', ' ', '\u{e9}', '\u{65e5}', '\u{1f600}', 'z', ' '];
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let text: String = (0..rng.below(200)).map(|_| rng.pick(&chars)).collect();
        let max = 4 + rng.below(60);
        let pieces = split_text(&text, max);
        assert_eq!(pieces.concat(), text);
        for p in &pieces {
            assert!(!p.is_empty() && p.len() <= max, "{p:?} (max {max})");
        }
        // Every piece but the last is as long as it can be, or ends at a
        // space in its last quarter.
        for (i, p) in pieces
            .iter()
            .enumerate()
            .take(pieces.len().saturating_sub(1))
        {
            let next = pieces[i + 1].chars().next().unwrap();
            let full = p.len() + next.len_utf8() > max;
            assert!(full || p.ends_with(' '), "{p:?} then {next:?} (max {max})");
        }
    }
}

#[test]
fn tags_are_kept_in_order() {
    let m = Message::parse(b"@z=1;y;x=3 CMD").unwrap();
    let keys: Vec<&str> = m.tags.iter().map(|t: &Tag| t.key.as_str()).collect();
    assert_eq!(keys, ["z", "y", "x"]);
}
