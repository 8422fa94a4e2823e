//! Writing messages (msg-join style), builders and the writer's defences.

use crate::{Message, Tag};

#[test]
fn join_table() {
    let cases: &[(Message, &str)] = &[
        (Message::new("PING"), "PING"),
        (Message::new("PING").with_param("x"), "PING x"),
        (
            Message::new("PRIVMSG")
                .with_param("#c")
                .with_param("hello world"),
            "PRIVMSG #c :hello world",
        ),
        (
            Message::new("PRIVMSG")
                .with_source("n!u@h")
                .with_param("#c")
                .with_param("hi"),
            ":n!u@h PRIVMSG #c hi",
        ),
        (
            Message::new("NOTICE").with_param("*").with_param(""),
            "NOTICE * :",
        ),
        (
            Message::new("TOPIC").with_param("#c").with_param(":-)"),
            "TOPIC #c ::-)",
        ),
        (Message::new("CMD").with_param("a:b"), "CMD a:b"),
        (
            Message::new("001")
                .with_source("irc.example.net")
                .with_param("alice")
                .with_param("Welcome to confab"),
            ":irc.example.net 001 alice :Welcome to confab",
        ),
        (Message::new("CMD").with_tag("a", None), "@a CMD"),
        (Message::new("CMD").with_tag("a", Some("")), "@a CMD"),
        (
            Message::new("CMD")
                .with_tag("a", Some("1"))
                .with_tag("+ex.com/b", Some("two")),
            "@a=1;+ex.com/b=two CMD",
        ),
        (
            Message::new("CMD").with_tag("k", Some("a;b c\\d\re\nf")),
            r"@k=a\:b\sc\\d\re\nf CMD",
        ),
        (
            Message::new("CMD").with_tag("k", Some("\u{e9}=:@")),
            "@k=\u{e9}=:@ CMD",
        ),
        // with_tag replaces, in place.
        (
            Message::new("CMD")
                .with_tag("a", Some("1"))
                .with_tag("b", None)
                .with_tag("a", Some("2")),
            "@a=2;b CMD",
        ),
        (
            Message::new("CMD")
                .with_tag("a", Some("x"))
                .with_source("s")
                .with_param("p q"),
            "@a=x :s CMD :p q",
        ),
        // An empty source is no source.
        (Message::new("CMD").with_source(""), "CMD"),
    ];
    for (m, want) in cases {
        assert_eq!(m.to_string(), *want);
        assert_eq!(m.to_bytes(), format!("{want}\r\n").into_bytes());
        let mut out = b"prefix".to_vec();
        m.write_to(&mut out);
        assert_eq!(out, format!("prefix{want}\r\n").into_bytes(), "appends");
    }
}

#[test]
fn forced_trailing() {
    let cases: &[(Message, &str)] = &[
        (
            Message::new("PRIVMSG").with_param("#c").with_param("hi"),
            "PRIVMSG #c :hi\r\n",
        ),
        (
            Message::new("PRIVMSG").with_param("#c").with_param("a b"),
            "PRIVMSG #c :a b\r\n",
        ),
        (
            Message::new("PRIVMSG").with_param("#c").with_param(""),
            "PRIVMSG #c :\r\n",
        ),
        (Message::new("PING").with_param("x"), "PING :x\r\n"),
        (Message::new("PING"), "PING\r\n"),
    ];
    for (m, want) in cases {
        let mut out = Vec::new();
        m.write_to_trailing(&mut out, true);
        assert_eq!(String::from_utf8(out).unwrap(), *want);
        // Same message either way.
        let mut plain = Vec::new();
        m.write_to_trailing(&mut plain, false);
        assert_eq!(Message::parse(want.as_bytes()), Message::parse(&plain));
    }
}

#[test]
fn tag_accessor_on_built_messages() {
    let m = Message::new("CMD")
        .with_tag("a", Some("1"))
        .with_tag("b", Some(""));
    assert_eq!(m.tag("a"), Some(Some("1")));
    assert_eq!(m.tag("b"), Some(None));
    assert_eq!(m.tags[1].value, None, "Some(\"\") is stored as None");
    // Duplicates put in by hand: the last counts, as on parse.
    let mut m = Message::new("CMD");
    m.tags = vec![
        Tag {
            key: "k".into(),
            value: Some("1".into()),
        },
        Tag {
            key: "k".into(),
            value: Some(String::new()),
        },
    ];
    assert_eq!(m.tag("k"), Some(None));
    assert_eq!(
        Message::parse(&m.to_bytes()).unwrap().tags,
        [Tag {
            key: "k".into(),
            value: None
        }]
    );
}

/// No field can smuggle a second line in, nor break the line's structure.
#[test]
fn writer_drops_nul_cr_lf() {
    let m = Message::new("PRIVMSG")
        .with_tag("t", Some("a\0b\r\nc"))
        .with_source("n!u@h\r\n")
        .with_param("#c")
        .with_param("hi\r\nQUIT :bye\0");
    let out = m.to_bytes();
    assert_eq!(out, b"@t=ab\\r\\nc :n!u@h PRIVMSG #c :hiQUIT :bye\r\n");
    // A last parameter that is only CR LF becomes empty, and gets its `:`.
    let m = Message::new("PRIVMSG").with_param("#c").with_param("\r\n");
    assert_eq!(m.to_bytes(), b"PRIVMSG #c :\r\n");
}

/// Wherever in a long field the bad byte sits (the scan goes in blocks,
/// then byte by byte at the end), it is found: dropped from a parameter
/// or a source, and a space anywhere in the last parameter gets its `:`.
#[test]
fn bad_bytes_are_found_at_every_position() {
    for len in [1, 15, 16, 17, 31, 32, 33, 64, 100] {
        for at in 0..len {
            let mut text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let clean = String::from_utf8(text.clone()).unwrap();
            for bad in [b'\0', b'\r', b'\n'] {
                text[at] = bad;
                let field = String::from_utf8(text.clone()).unwrap();
                let mut expected = clean.clone();
                expected.remove(at);
                let m = Message::new("PRIVMSG").with_param("#c").with_param(&field);
                let trailing = if expected.is_empty() { ":" } else { "" };
                assert_eq!(
                    String::from_utf8(m.to_bytes()).unwrap(),
                    format!("PRIVMSG #c {trailing}{expected}\r\n"),
                    "byte {bad} at {at} of {len}"
                );
                let m = Message::new("NOTICE").with_source(&field).with_param("x");
                assert_eq!(
                    String::from_utf8(m.to_bytes()).unwrap(),
                    if expected.is_empty() {
                        "NOTICE x\r\n".to_owned()
                    } else {
                        format!(":{expected} NOTICE x\r\n")
                    },
                    "byte {bad} at {at} of {len} in the source"
                );
            }
            text[at] = b' ';
            let spaced = String::from_utf8(text.clone()).unwrap();
            let m = Message::new("PRIVMSG").with_param("#c").with_param(&spaced);
            assert_eq!(
                String::from_utf8(m.to_bytes()).unwrap(),
                format!("PRIVMSG #c :{spaced}\r\n"),
                "space at {at} of {len}"
            );
            text[at] = b'a' + (at % 26) as u8;
        }
    }
}

fn bad_middle() -> Message {
    Message::new("CMD").with_param("a b").with_param("c")
}

#[cfg(debug_assertions)]
mod debug {
    use super::bad_middle;
    use crate::Message;

    #[test]
    #[should_panic(expected = "cannot be a middle parameter")]
    fn middle_with_space() {
        let _ = bad_middle().to_bytes();
    }

    #[test]
    #[should_panic(expected = "cannot be a middle parameter")]
    fn empty_middle() {
        let _ = Message::new("CMD")
            .with_param("")
            .with_param("c")
            .to_bytes();
    }

    #[test]
    #[should_panic(expected = "malformed tag key")]
    fn bad_tag_key() {
        let _ = Message::new("CMD").with_tag("a b", None).to_bytes();
    }

    #[test]
    #[should_panic(expected = "malformed command")]
    fn bad_command() {
        let _ = Message::new("PRIV MSG").to_bytes();
    }

    #[test]
    #[should_panic(expected = "space in source")]
    fn source_with_space() {
        let _ = Message::new("CMD").with_source("a b").to_bytes();
    }

    #[test]
    #[should_panic(expected = "at most 15")]
    fn too_many_params() {
        let mut m = Message::new("CMD");
        m.params = vec!["p".to_owned(); 16];
        let _ = m.to_bytes();
    }
}

/// What release builds write for messages a debug build panics on: still
/// one unambiguous line.
#[cfg(not(debug_assertions))]
mod release {
    use super::bad_middle;
    use crate::Message;

    #[test]
    fn bad_middle_becomes_trailing() {
        assert_eq!(bad_middle().to_bytes(), b"CMD :a b\r\n");
        let m = Message::new("CMD").with_param("").with_param("c");
        assert_eq!(m.to_bytes(), b"CMD :\r\n");
        let m = Message::new("CMD").with_param(":x").with_param("c");
        assert_eq!(m.to_bytes(), b"CMD ::x\r\n");
    }

    #[test]
    fn bad_tag_key_skipped() {
        let m = Message::new("CMD")
            .with_tag("a b", None)
            .with_tag("c", Some("1"));
        assert_eq!(m.to_bytes(), b"@c=1 CMD\r\n");
    }

    #[test]
    fn spaces_dropped_from_source_and_command() {
        let m = Message::new("PRIV MSG").with_source("a b").with_param("x");
        assert_eq!(m.to_bytes(), b":ab PRIVMSG x\r\n");
    }
}
