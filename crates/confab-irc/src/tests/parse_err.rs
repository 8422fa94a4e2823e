//! Lines that do not parse, and the size limits.

use super::assert_round_trip;
use crate::{MAX_LINE, MAX_TAGS, Message, ParseError};

const CASES: &[(&[u8], ParseError)] = &[
    // Empty.
    (b"", ParseError::Empty),
    (b"   ", ParseError::Empty),
    (b"\r\n", ParseError::Empty),
    (b"\n", ParseError::Empty),
    (b"  \r", ParseError::Empty),
    // No command.
    (b"@a=b", ParseError::NoCommand),
    (b"@a=b   ", ParseError::NoCommand),
    (b":src", ParseError::NoCommand),
    (b":src   ", ParseError::NoCommand),
    (b":", ParseError::NoCommand),
    (b": ", ParseError::NoCommand),
    (b"@a :src", ParseError::NoCommand),
    (b"@a :src \r\n", ParseError::NoCommand),
    // Bad command.
    (b"12", ParseError::BadCommand),
    (b"1234", ParseError::BadCommand),
    (b"1_2", ParseError::BadCommand),
    (b"PING:x", ParseError::BadCommand),
    (b"PRIV-MSG", ParseError::BadCommand),
    (b"\xc3\x84RGER x", ParseError::BadCommand),
    (b"\x01PING", ParseError::BadCommand),
    (b"CMD\t", ParseError::BadCommand),
    (b"  @a CMD", ParseError::BadCommand),
    (b"@a :src :x CMD", ParseError::BadCommand),
    // Not UTF-8, anywhere.
    (b"PRIVMSG #c :\xff", ParseError::InvalidUtf8),
    (b"PRIVMSG #c :caf\xe9", ParseError::InvalidUtf8),
    (b"PRIVMSG #c :\xe6\x97", ParseError::InvalidUtf8),
    (b"PRIVMSG #c :\xc0\xaf", ParseError::InvalidUtf8),
    (b"PRIVMSG #c :\xed\xa0\x80", ParseError::InvalidUtf8),
    (b"@a=\xc3 CMD", ParseError::InvalidUtf8),
    (b":\xe2\x82 CMD", ParseError::InvalidUtf8),
    (b"\xff", ParseError::InvalidUtf8),
    // NUL, CR, LF inside.
    (b"PRIVMSG #c :a\0b", ParseError::ContainsNul),
    (b"\0", ParseError::ContainsNul),
    (b"CMD\rX", ParseError::ContainsNul),
    (b"CMD a\nb", ParseError::ContainsNul),
    (b"CMD\r\r", ParseError::ContainsNul),
    (b"CMD\n\n", ParseError::ContainsNul),
    (b"CMD\n\r", ParseError::ContainsNul),
    (b"@a=\0 CMD", ParseError::ContainsNul),
    (b"@a=\r CMD", ParseError::ContainsNul),
    (b":a\nb CMD", ParseError::ContainsNul),
    (b"CMD \xff\0", ParseError::ContainsNul),
    // Bad tags.
    (b"@ CMD", ParseError::BadTag),
    (b"@", ParseError::BadTag),
    (b"@;a CMD", ParseError::BadTag),
    (b"@a; CMD", ParseError::BadTag),
    (b"@a;;b CMD", ParseError::BadTag),
    (b"@=v CMD", ParseError::BadTag),
    (b"@=v", ParseError::BadTag),
    (b"@k_ey CMD", ParseError::BadTag),
    (b"@k:ey CMD", ParseError::BadTag),
    (b"@/k CMD", ParseError::BadTag),
    (b"@v/ CMD", ParseError::BadTag),
    (b"@+ CMD", ParseError::BadTag),
    (b"@++a CMD", ParseError::BadTag),
    (b"@a+ CMD", ParseError::BadTag),
    (b"@a/b/c CMD", ParseError::BadTag),
    (b"@v_x/k CMD", ParseError::BadTag),
    (b"@\xc3\xa4=1 CMD", ParseError::BadTag),
    (b"@a\t CMD", ParseError::BadTag),
    (b"@good;b@d CMD", ParseError::BadTag),
];

#[test]
fn table() {
    for (input, want) in CASES {
        assert_eq!(
            Message::parse(input).as_ref(),
            Err(want),
            "{}",
            input.escape_ascii()
        );
    }
}

#[test]
fn display_and_error() {
    let all = [
        ParseError::Empty,
        ParseError::TagsTooLong,
        ParseError::LineTooLong,
        ParseError::NoCommand,
        ParseError::BadCommand,
        ParseError::InvalidUtf8,
        ParseError::BadTag,
        ParseError::ContainsNul,
    ];
    let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
    for (i, t) in texts.iter().enumerate() {
        assert!(!t.is_empty());
        assert!(!texts[..i].contains(t), "{t} twice");
    }
    let boxed: Box<dyn std::error::Error> = Box::new(ParseError::LineTooLong);
    assert_eq!(boxed.to_string(), "line too long");
}

/// The rest of a line (source, command, params) of exactly `len` bytes.
fn rest_of(len: usize) -> Vec<u8> {
    let mut line = b":n!u@h PRIVMSG #c :".to_vec();
    line.resize(len, b'x');
    line
}

/// A tag section (`@` through its one space) of exactly `len` bytes.
fn tags_of(len: usize) -> Vec<u8> {
    let mut tags = b"@k=".to_vec();
    tags.resize(len - 1, b'v');
    tags.push(b' ');
    tags
}

fn ok(line: &[u8]) -> Message {
    let m = Message::parse(line).unwrap_or_else(|e| panic!("{} bytes: {e}", line.len()));
    assert_round_trip(line, &m);
    m
}

#[test]
fn line_limit() {
    let max = MAX_LINE - 2;
    assert_eq!(max, 510);
    ok(&rest_of(max));
    assert_eq!(
        Message::parse(&rest_of(max + 1)),
        Err(ParseError::LineTooLong)
    );
    // The line ending is not counted.
    ok(&[rest_of(max), b"\r\n".to_vec()].concat());
    ok(&[rest_of(max), b"\n".to_vec()].concat());
    assert_eq!(
        Message::parse(&[rest_of(max + 1), b"\r\n".to_vec()].concat()),
        Err(ParseError::LineTooLong)
    );
    // Spaces count: they are bytes of the line.
    let mut spaced = rest_of(max);
    spaced.insert(0, b' ');
    assert_eq!(Message::parse(&spaced), Err(ParseError::LineTooLong));
    let mut spaced = rest_of(max);
    spaced.push(b' ');
    assert_eq!(Message::parse(&spaced), Err(ParseError::LineTooLong));
    // Bytes, not characters: 12 + 249 * 2 = 510.
    let mut wide = b"PRIVMSG #c :".to_vec();
    wide.extend("\u{e9}".repeat(249).as_bytes());
    assert_eq!(wide.len(), max);
    ok(&wide);
    wide.extend("\u{e9}".as_bytes());
    assert_eq!(Message::parse(&wide), Err(ParseError::LineTooLong));
    // The limit is checked before anything else.
    let mut bad = rest_of(max + 1);
    bad[30] = 0xff;
    bad[40] = 0;
    assert_eq!(Message::parse(&bad), Err(ParseError::LineTooLong));
    assert_eq!(Message::parse(&[b'X'; 4096]), Err(ParseError::LineTooLong));
}

#[test]
fn tag_limit() {
    let max = MAX_TAGS;
    assert_eq!(max, 8191);
    let m = ok(&[tags_of(max), b"CMD".to_vec()].concat());
    assert_eq!(m.tags[0].value.as_ref().unwrap().len(), max - 4);
    assert_eq!(
        Message::parse(&[tags_of(max + 1), b"CMD".to_vec()].concat()),
        Err(ParseError::TagsTooLong)
    );
    // Both sections at their limits at once.
    ok(&[tags_of(max), rest_of(MAX_LINE - 2)].concat());
    assert_eq!(
        Message::parse(&[tags_of(max), rest_of(MAX_LINE - 1)].concat()),
        Err(ParseError::LineTooLong)
    );
    // The spaces after the tags belong to the tag section.
    let two_spaces = [tags_of(max), b" CMD".to_vec()].concat();
    assert_eq!(Message::parse(&two_spaces), Err(ParseError::TagsTooLong));
    let two_spaces = [tags_of(max - 1), b" CMD".to_vec()].concat();
    ok(&two_spaces);
    // A line of tags alone: no command, or too long.
    let mut alone = tags_of(max);
    alone.pop();
    assert_eq!(alone.len(), max - 1);
    assert_eq!(Message::parse(&alone), Err(ParseError::NoCommand));
    alone.push(b'v');
    assert_eq!(Message::parse(&alone), Err(ParseError::NoCommand));
    alone.push(b'v');
    assert_eq!(Message::parse(&alone), Err(ParseError::TagsTooLong));
    // The limit is checked before anything else.
    let mut bad = [tags_of(max + 1), b"CMD".to_vec()].concat();
    bad[10] = 0xff;
    bad[11] = 0;
    assert_eq!(Message::parse(&bad), Err(ParseError::TagsTooLong));
    assert_eq!(
        Message::parse(&[b'@'; 100_000]),
        Err(ParseError::TagsTooLong)
    );
}

/// A 15th parameter taken without `:` but holding a space is written back
/// with a `:`. A line at the limit whose written form would be one byte
/// over is refused.
#[test]
fn spilled_fifteenth_param_at_the_limit() {
    let fourteen = b"CMD a b c d e f g h i j k l m n ";
    let line = |len: usize| {
        let mut l = fourteen.to_vec();
        l.extend_from_slice(b"x y");
        l.resize(len, b'z');
        l
    };
    let m = ok(&line(509));
    assert_eq!(m.params.len(), 15);
    assert_eq!(m.to_bytes().len(), 510 + 2);
    assert_eq!(Message::parse(&line(510)), Err(ParseError::LineTooLong));
    // Without a space in it, the 15th needs no `:` and may fill the line.
    let mut plain = fourteen.to_vec();
    plain.resize(510, b'z');
    assert_eq!(ok(&plain).params.len(), 15);
    // With its `:` there already, it may fill the line too.
    let mut colon = fourteen.to_vec();
    colon.extend_from_slice(b":x y");
    colon.resize(510, b'z');
    assert_eq!(ok(&colon).params[14].len(), 510 - fourteen.len() - 1);
}
