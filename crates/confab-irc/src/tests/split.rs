//! `split_text` and `split_source` (userhost-split style).

use crate::{split_source, split_text};

#[test]
fn split_text_table() {
    let cases: &[(&str, usize, &[&str])] = &[
        ("", 4, &[]),
        ("", 400, &[]),
        ("abc", 4, &["abc"]),
        ("abcd", 4, &["abcd"]),
        ("abcdefgh", 4, &["abcd", "efgh"]),
        ("abcdefghi", 4, &["abcd", "efgh", "i"]),
        // A space in the last quarter: break after it.
        ("the quick brown fox", 12, &["the quick ", "brown fox"]),
        // A space, but earlier than the last quarter: cut hard.
        ("aaaa bbbbbbbbbbbb", 8, &["aaaa bbb", "bbbbbbbb", "b"]),
        // The space at the very end of the piece.
        ("abc defg", 4, &["abc ", "defg"]),
        // The last space of the window wins.
        ("ab c d efgh", 8, &["ab c d ", "efgh"]),
        // A space just past the cut does not help.
        ("abcdefgh ijk", 8, &["abcdefgh", " ijk"]),
        ("    ", 4, &["    "]),
        ("     ", 4, &["    ", " "]),
        // Multibyte characters are never cut.
        (
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            5,
            &["\u{e9}\u{e9}", "\u{e9}\u{e9}", "\u{e9}"],
        ),
        (
            "\u{65e5}\u{672c}\u{8a9e}",
            4,
            &["\u{65e5}", "\u{672c}", "\u{8a9e}"],
        ),
        (
            "\u{65e5}\u{672c}\u{8a9e}",
            6,
            &["\u{65e5}\u{672c}", "\u{8a9e}"],
        ),
        ("\u{1f600}\u{1f600}", 4, &["\u{1f600}", "\u{1f600}"]),
        ("\u{1f600}\u{1f600}", 7, &["\u{1f600}", "\u{1f600}"]),
        ("\u{1f600}\u{1f600}", 8, &["\u{1f600}\u{1f600}"]),
        ("a\u{65e5}\u{672c}", 4, &["a\u{65e5}", "\u{672c}"]),
        ("ab\u{65e5}", 4, &["ab", "\u{65e5}"]),
        ("x \u{1f600}\u{1f600}", 8, &["x \u{1f600}", "\u{1f600}"]),
        (
            "\u{e9}t\u{e9} \u{e0} la plage",
            10,
            &["\u{e9}t\u{e9} \u{e0} ", "la plage"],
        ),
    ];
    for &(text, max, want) in cases {
        let got = split_text(text, max);
        assert_eq!(got, want, "{text:?} at {max}");
        assert_eq!(got.concat(), text);
        assert!(got.iter().all(|p| !p.is_empty() && p.len() <= max));
    }
}

#[test]
fn split_text_long() {
    let text = "lorem ipsum dolor sit amet ".repeat(100);
    let pieces = split_text(&text, 400);
    assert_eq!(pieces.concat(), text);
    assert!(pieces.iter().all(|p| p.len() <= 400));
    let (_last, full) = pieces.split_last().unwrap();
    assert!(full.iter().all(|p| p.len() > 300 && p.ends_with(' ')));
}

#[test]
#[should_panic(expected = "at least 4")]
fn split_text_max_too_small() {
    let _ = split_text("abc", 3);
}

#[test]
fn split_source_table() {
    type Parts = (&'static str, Option<&'static str>, Option<&'static str>);
    let cases: &[(&str, Parts)] = &[
        (
            "alice!al@example.org",
            ("alice", Some("al"), Some("example.org")),
        ),
        ("bob!~b@10.0.0.1", ("bob", Some("~b"), Some("10.0.0.1"))),
        (
            "carol!c@2001:db8::1",
            ("carol", Some("c"), Some("2001:db8::1")),
        ),
        ("dave@host.example", ("dave", None, Some("host.example"))),
        ("erin!e", ("erin", Some("e"), None)),
        ("irc.example.net", ("irc.example.net", None, None)),
        ("frank", ("frank", None, None)),
        ("", ("", None, None)),
        ("gus!g!x@h", ("gus", Some("g!x"), Some("h"))),
        ("hal!u@h@x", ("hal", Some("u"), Some("h@x"))),
        ("ivy@h!x", ("ivy", None, Some("h!x"))),
        ("jo!@", ("jo", Some(""), Some(""))),
        ("kim!", ("kim", Some(""), None)),
        ("lee@", ("lee", None, Some(""))),
        ("!u@h", ("", Some("u"), Some("h"))),
        ("@h", ("", None, Some("h"))),
        (
            "n\u{e9}!\u{fc}@h\u{f6}st",
            ("n\u{e9}", Some("\u{fc}"), Some("h\u{f6}st")),
        ),
        (
            "mo!m@net\x035w\x03ork.admin",
            ("mo", Some("m"), Some("net\x035w\x03ork.admin")),
        ),
        (
            "ned!~n@n\x02et\x0305w\x0fork",
            ("ned", Some("~n"), Some("n\x02et\x0305w\x0fork")),
        ),
    ];
    for &(source, want) in cases {
        assert_eq!(split_source(source), want, "{source:?}");
    }
}
