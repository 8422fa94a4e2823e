//! PRIVMSG and NOTICE: delivery, errors, CTCP, sizes, and what bad input
//! does to a connection (never more than an error reply).

use crate::client::*;
use crate::support::start;

#[tokio::test]
async fn privmsg_and_notice_reach_channels_and_nicks() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    // (case, line alice sends, expected command, expected target)
    let cases = [
        (
            "PRIVMSG to a channel",
            "PRIVMSG #c :hello channel",
            "PRIVMSG",
            "#c",
            "hello channel",
        ),
        (
            "NOTICE to a channel",
            "NOTICE #c :notice channel",
            "NOTICE",
            "#c",
            "notice channel",
        ),
        (
            "PRIVMSG to a nick",
            "PRIVMSG bob :hello bob",
            "PRIVMSG",
            "bob",
            "hello bob",
        ),
        (
            "NOTICE to a nick",
            "NOTICE bob :notice bob",
            "NOTICE",
            "bob",
            "notice bob",
        ),
        (
            "nick in another case",
            "PRIVMSG BOB :shouting",
            "PRIVMSG",
            "bob",
            "shouting",
        ),
        (
            "channel in another case",
            "PRIVMSG #C :upper",
            "PRIVMSG",
            "#c",
            "upper",
        ),
        (
            "one-word text without colon",
            "PRIVMSG #c word",
            "PRIVMSG",
            "#c",
            "word",
        ),
        (
            "text with leading colon",
            "PRIVMSG #c ::-)",
            "PRIVMSG",
            "#c",
            ":-)",
        ),
        (
            "text with inner spaces",
            "PRIVMSG #c :a  b   c",
            "PRIVMSG",
            "#c",
            "a  b   c",
        ),
        (
            "UTF-8 text",
            "PRIVMSG #c :héllo wörld ✓ 日本語",
            "PRIVMSG",
            "#c",
            "héllo wörld ✓ 日本語",
        ),
    ];
    for (case, line, command, target, text) in cases {
        let own = alice.ask(line).await;
        assert!(
            !own.iter().any(|m| m.command == command),
            "[{case}] no echo without echo-message:\n{}",
            dump(&own)
        );
        let got = bob.sync().await;
        let m = must(case, &got, command);
        assert_from_user(case, m, "alice");
        assert!(
            param(m, 0).eq_ignore_ascii_case(target),
            "[{case}] target: {m}"
        );
        assert_eq!(param(m, 1), text, "[{case}] text: {m}");
        assert_eq!(m.params.len(), 2, "[{case}] {m}");
        // carol is in neither.
        let none = carol.sync().await;
        must_not(case, &none, command);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn message_text_is_relayed_byte_for_byte() {
    let (s, mut alice, mut bob, _carol) = three().await;
    // The trailing parameter is opaque to the server: kept as sent.
    let cases = [
        ("bold", "\x02bold\x02 text"),
        ("colour", "\x0304,12red on blue\x03 plain"),
        (
            "italics, underline, reset",
            "\x1ditalic\x1d \x1funder\x1f \x0freset",
        ),
        ("reverse", "\x16reversed\x16"),
        ("leading spaces", "  indented"),
        ("trailing space", "a b "),
        ("tab", "a\tb"),
    ];
    for (case, text) in cases {
        let r = alice.ask(&format!("PRIVMSG #c :{text}")).await;
        must_not(case, &r, "FAIL");
        let got = bob.sync().await;
        let m = must(case, &got, "PRIVMSG");
        assert_eq!(param(m, 1), text, "[{case}] {m}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn parameters_with_spaces_in_error_replies_never_break_the_connection() {
    let s = start(|_| {}).await;
    // Each line makes the server answer with an error that names a
    // parameter the client sent as a trailing one, with a space in it; the
    // reply must still be a well-formed line and the connection must live.
    let cases = [
        "NICK :a b",
        "WHOIS :a b",
        "WHOWAS :a b",
        "MODE :a b",
        "JOIN :#a b",
        "PART :#a b",
        "TOPIC :#a b",
        "NAMES :#a b",
        "KICK #c :a b",
        "INVITE x :#a b",
        "CAP :FOO BAR",
        "CHATHISTORY :LATEST X",
        "CHATHISTORY LATEST :#a b",
    ];
    let mut broken = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut c = register(s.addr, &format!("spacey{i}")).await;
        c.join("#c").await;
        c.send(case).await;
        match c.sync_or_closed().await {
            Some(r) if !has(&r, "ERROR") => {
                c.quit().await;
            }
            _ => broken.push(*case),
        }
    }
    // Every one of those connections is closed now; none may linger in the
    // server as a ghost holding its nick.
    let mut checker = register(s.addr, "checker").await;
    let nicks: Vec<String> = (0..cases.len()).map(|i| format!("spacey{i}")).collect();
    let r = checker.ask(&format!("ISON {}", nicks.join(" "))).await;
    let ghosts = last(must("ghosts", &r, "303")).to_owned();
    assert!(
        broken.is_empty() && ghosts.is_empty(),
        "these lines cost the client its connection: {broken:#?}\n\
         and these nicks are still online after their connections closed: {ghosts:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_message_to_yourself_comes_back() {
    let (s, mut alice, _bob, _carol) = three().await;
    let got = alice.ask("PRIVMSG alice :note to self").await;
    let m = must("self", &got, "PRIVMSG");
    assert_from_user("self", m, "alice");
    assert_eq!(m.params, ["alice", "note to self"]);
    s.shutdown().await;
}

#[tokio::test]
async fn privmsg_errors_get_their_numerics() {
    let (s, mut alice, _bob, mut carol) = three().await;
    // (case, sender is carol (not in #c), line, accepted numerics, param 1)
    let cases: &[(&str, bool, &str, &[&str], Option<&str>)] = &[
        ("no recipient", false, "PRIVMSG", &["411", "461"], None),
        ("empty recipient", false, "PRIVMSG :", &["411", "461"], None),
        ("no text", false, "PRIVMSG #c", &["412", "461"], None),
        ("empty text", false, "PRIVMSG #c :", &["412"], None),
        (
            "unknown nick",
            false,
            "PRIVMSG nobody :hi",
            &["401"],
            Some("nobody"),
        ),
        (
            "unknown channel",
            false,
            "PRIVMSG #nochan :hi",
            &["403", "401"],
            Some("#nochan"),
        ),
        (
            "not a member of +n",
            true,
            "PRIVMSG #c :let me in",
            &["404"],
            Some("#c"),
        ),
        (
            "too many targets",
            false,
            "PRIVMSG bob,carol,alice,bob,carol :x",
            &["407"],
            None,
        ),
    ];
    for (case, as_carol, line, codes, p1) in cases {
        let (c, me) = if *as_carol {
            (&mut carol, "carol")
        } else {
            (&mut alice, "alice")
        };
        let replies = c.ask(line).await;
        let err = replies
            .iter()
            .find(|m| codes.contains(&m.command.as_str()))
            .unwrap_or_else(|| {
                panic!(
                    "[{case}] expected one of {codes:?}, got:\n{}",
                    dump(&replies)
                )
            });
        assert_from_server(case, err);
        assert_eq!(param(err, 0), me, "[{case}] {err}");
        if let Some(p1) = p1 {
            assert!(param(err, 1).eq_ignore_ascii_case(p1), "[{case}] {err}");
        }
        if err.command == "411" {
            assert!(
                last(err).contains("PRIVMSG"),
                "[{case}] 411 names the command: {err}"
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn notice_errors_are_never_answered() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    // NOTICE must not trigger automatic replies, errors included.
    let cases: &[(&str, bool, &str)] = &[
        ("no recipient", false, "NOTICE"),
        ("no text", false, "NOTICE #c"),
        ("empty text", false, "NOTICE #c :"),
        ("unknown nick", false, "NOTICE nobody :hi"),
        ("unknown channel", false, "NOTICE #nochan :hi"),
        ("not a member of +n", true, "NOTICE #c :let me in"),
    ];
    for (case, as_carol, line) in cases {
        let c = if *as_carol { &mut carol } else { &mut alice };
        let replies = c.ask(line).await;
        assert!(
            replies.is_empty(),
            "[{case}] NOTICE errors get no reply, got:\n{}",
            dump(&replies)
        );
    }
    let leaked = bob.sync().await;
    must_not("bob", &leaked, "NOTICE");
    s.shutdown().await;
}

#[tokio::test]
async fn multiple_targets_each_get_the_message() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    // (case, line, what bob sees as target, what carol sees as target)
    let cases = [
        (
            "channel and nick",
            "PRIVMSG #c,carol :to both",
            Some("#c"),
            Some("carol"),
        ),
        (
            "two nicks",
            "PRIVMSG bob,carol :to you two",
            Some("bob"),
            Some("carol"),
        ),
        (
            "notice to two nicks",
            "NOTICE bob,carol :noticed",
            Some("bob"),
            Some("carol"),
        ),
        (
            "an unknown one among them",
            "PRIVMSG nobody,carol :just carol",
            None,
            Some("carol"),
        ),
    ];
    for (case, line, to_bob, to_carol) in cases {
        let command = line.split(' ').next().unwrap();
        let text = line.split_once(" :").unwrap().1;
        let replies = alice.ask(line).await;
        if to_bob.is_none() {
            must(case, &replies, "401");
        }
        for (who, c, want) in [("bob", &mut bob, to_bob), ("carol", &mut carol, to_carol)] {
            let got = c.sync().await;
            match want {
                Some(target) => {
                    let m = must(case, &got, command);
                    assert_eq!(m.params, [target, text], "[{case}] {who}: {m}");
                    assert_eq!(
                        all(&got, command).len(),
                        1,
                        "[{case}] {who} once:\n{}",
                        dump(&got)
                    );
                }
                None => must_not(case, &got, command),
            }
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn ctcp_passes_through_intact() {
    let (s, mut alice, mut bob, _carol) = three().await;
    let cases = [
        ("ACTION to a channel", "#c", "\x01ACTION waves\x01"),
        ("ACTION to a nick", "bob", "\x01ACTION winks\x01"),
        ("ACTION with UTF-8", "#c", "\x01ACTION says ✓\x01"),
        ("VERSION request", "bob", "\x01VERSION\x01"),
        ("PING request", "bob", "\x01PING 12345\x01"),
    ];
    for (case, target, text) in cases {
        alice.ask(&format!("PRIVMSG {target} :{text}")).await;
        let got = bob.sync().await;
        let m = must(case, &got, "PRIVMSG");
        assert_from_user(case, m, "alice");
        assert_eq!(m.params, [target, text], "[{case}] {m}");
    }
    // A CTCP reply travels as a NOTICE.
    bob.ask("NOTICE alice :\x01VERSION confab-test 1.0\x01")
        .await;
    let got = alice.sync().await;
    let m = must("CTCP reply", &got, "NOTICE");
    assert_eq!(m.params, ["alice", "\x01VERSION confab-test 1.0\x01"]);
    s.shutdown().await;
}

#[tokio::test]
async fn messages_up_to_the_line_limit_arrive_intact() {
    let (s, mut alice, mut bob, _carol) = three().await;
    for len in [1usize, 100, 400, 450] {
        let case = format!("{len} bytes");
        let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        alice.ask(&format!("PRIVMSG #c :{text}")).await;
        let got = bob.sync().await;
        let lines = all(&got, "PRIVMSG");
        let joined: String = lines.iter().map(|m| last(m)).collect();
        assert_eq!(joined, text, "[{case}] text intact:\n{}", dump(&got));
        if len <= 400 {
            assert_eq!(lines.len(), 1, "[{case}] one line:\n{}", dump(&got));
        }
    }
    s.shutdown().await;
}

/// Every PRIVMSG reaches its recipient as one line of at most 512 bytes,
/// its text intact, or is refused whole with 417: whatever the sender's
/// write pattern, with or without the colon, ASCII or a multi-byte
/// character at the end, around the limit (irctest's buffering cases).
#[tokio::test]
async fn a_privmsg_arrives_in_one_line_or_is_refused_whole() {
    let (s, mut alice, mut bob, _carol) = three().await;
    type Write = fn(&str) -> Vec<Vec<u8>>;
    let whole: Write = |l| vec![l.as_bytes().to_vec()];
    let by_char: Write = |l| l.chars().map(|c| c.to_string().into_bytes()).collect();
    let by_byte: Write = |l| l.bytes().map(|b| vec![b]).collect();
    for (how, write) in [("whole", whole), ("by char", by_char), ("by byte", by_byte)] {
        for colon in ["", ":"] {
            let head = format!("PRIVMSG bob {colon}");
            // What a relayed line adds: ":source " before, and the colon
            // if the sender left it out.
            alice.ask(&format!("{head}a")).await;
            let got = bob.sync().await;
            let source = must("one byte", &got, "PRIVMSG").source.clone().unwrap();
            let overhead = 1 + source.len() + 1 + usize::from(colon.is_empty());
            let room = 512 - head.len() - 2;
            let e = "😃";
            let a = |n: usize| "a".repeat(n);
            for payload in [
                a(1),
                e.to_owned(),
                a(room),
                a(room - e.len()) + e,
                a(room - overhead),
                a(room - e.len() - overhead) + e,
                a(room - overhead + 1),
                a(room - e.len() - overhead + 1) + e,
            ] {
                let line = format!("{head}{payload}\r\n");
                let case = format!("{how}, colon {colon:?}, {} bytes", payload.len());
                for chunk in write(&line) {
                    alice.send_raw(&chunk).await;
                }
                let replies = alice.sync().await;
                let got = bob.sync().await;
                let fits = line.len() + overhead <= 512;
                if fits {
                    must_not(&case, &replies, "417");
                    let lines = all(&got, "PRIVMSG");
                    assert_eq!(lines.len(), 1, "[{case}] one line:\n{}", dump(&got));
                    assert_eq!(last(lines[0]), payload, "[{case}] intact");
                } else {
                    must(&case, &replies, "417");
                    must_not(&case, &got, "PRIVMSG");
                }
            }
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn lines_over_512_bytes_get_417_and_the_connection_lives() {
    let (s, mut alice, mut bob, _carol) = three().await;
    let prefix = "PRIVMSG #c :";
    // (case, bytes of the line without CR LF, read?)
    let cases = [
        ("510 bytes: the most read", 510usize, true),
        ("511 bytes", 511, false),
        ("600 bytes", 600, false),
        ("2000 bytes", 2000, false),
    ];
    for (case, len, read) in cases {
        let line = format!("{prefix}{}", "x".repeat(len - prefix.len()));
        assert_eq!(line.len(), len);
        let replies = alice.ask(&line).await;
        let got = bob.sync().await;
        let err = must(case, &replies, "417");
        assert_eq!(param(err, 0), "alice", "[{case}] {err}");
        // A line read whole is refused as a message too long to relay
        // with alice's address before it.
        assert_eq!(last(err).contains("once relayed"), read, "[{case}] {err}");
        must_not(case, &got, "PRIVMSG");
    }
    // Tags do not count towards the 512 bytes.
    let tags = format!("@+draft/x={} ", "t".repeat(3000));
    let replies = alice.ask(&format!("{tags}PRIVMSG #c :tagged")).await;
    must_not("long tags", &replies, "417");
    let got = bob.sync().await;
    assert_eq!(last(must("long tags", &got, "PRIVMSG")), "tagged");
    // But all the tags a client sends, its own and others, take at most
    // 4094 bytes between the `@` and the space (IRCv3 message-tags).
    for (n, ok) in [(4081, true), (4082, false)] {
        let case = format!("{} bytes of tags", "foo=bar;+baz=".len() + n);
        let line = format!("@foo=bar;+baz={} PRIVMSG #c :t{n}", "a".repeat(n));
        let replies = alice.ask(&line).await;
        let got = bob.sync().await;
        if ok {
            must_not(&case, &replies, "417");
            must(&case, &got, "PRIVMSG");
        } else {
            must(&case, &replies, "417");
            must_not(&case, &got, "PRIVMSG");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn junk_input_never_disconnects() {
    let (s, mut alice, mut bob, _carol) = three().await;
    let cases: &[(&str, &[u8])] = &[
        ("empty line", b"\r\n"),
        ("spaces only", b"    \r\n"),
        ("bare LF", b"\n"),
        ("tags only", b"@tag=1\r\n"),
        ("lone @", b"@\r\n"),
        ("source only", b":someone\r\n"),
        ("tags and source only", b"@a=b :someone\r\n"),
        ("NUL and high bytes", b"\x00\xff\xfe\xfd\r\n"),
        (
            "invalid UTF-8 in a PRIVMSG",
            b"PRIVMSG #c :caf\xc3\x28 \xff\r\n",
        ),
        ("control bytes", b"\x01\x02\x03\r\n"),
        ("NUL inside a command", b"PRIV\x00MSG #c :x\r\n"),
        ("four-digit command", b"1234 foo\r\n"),
        ("punctuation command", b"!!! ???\r\n"),
        ("bad tag key", b"@=x PING :t\r\n"),
    ];
    for (case, bytes) in cases {
        let replies = alice.ask_raw(bytes).await;
        if let Some(e) = find(&replies, "ERROR") {
            panic!("[{case}] the server hung up: {e}");
        }
    }
    // The invalid UTF-8 never reached bob (the client would have refused
    // it); nothing else did either.
    let got = bob.sync().await;
    must_not("junk", &got, "PRIVMSG");
    // alice still works.
    alice.ask("PRIVMSG #c :still here").await;
    let got = bob.sync().await;
    assert_eq!(last(must("after junk", &got, "PRIVMSG")), "still here");
    s.shutdown().await;
}

/// A line that is not UTF-8 gets `FAIL <its command> INVALID_UTF8` (or
/// `*` when not even its command reads), and nothing is relayed.
#[tokio::test]
async fn a_line_that_is_not_utf8_fails_naming_its_command() {
    let (s, mut alice, mut bob, _carol) = three().await;
    for (case, line, command) in [
        ("a PRIVMSG", &b"PRIVMSG bob hi\xaa\r\n"[..], "PRIVMSG"),
        ("a lowercase TOPIC", b"topic #c :caf\xe9\r\n", "TOPIC"),
        ("no command", b"\xff\xfe\r\n", "*"),
    ] {
        let replies = alice.ask_raw(line).await;
        let fail = must(case, &replies, "FAIL");
        assert_eq!(param(fail, 0), command, "[{case}] {fail}");
        assert_eq!(param(fail, 1), "INVALID_UTF8", "[{case}] {fail}");
        must_not(case, &bob.sync().await, "PRIVMSG");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_commands_get_421_naming_them() {
    let (s, mut alice, _bob, _carol) = three().await;
    for (case, line, name) in [
        ("plain", "FOOBAR", "FOOBAR"),
        ("with params", "FOOBAR x y :z", "FOOBAR"),
        ("lowercase", "xyzzy", "XYZZY"),
        ("numeric-looking", "999", "999"),
        (
            "with an underscore",
            "NONEXISTENT_COMMAND",
            "NONEXISTENT_COMMAND",
        ),
        ("with a digit", "PR1VMSG #c :x", "PR1VMSG"),
    ] {
        let replies = alice.ask(line).await;
        let err = must(case, &replies, "421");
        assert_from_server(case, err);
        assert_eq!(param(err, 0), "alice", "[{case}] {err}");
        assert!(
            param(err, 1).eq_ignore_ascii_case(name),
            "[{case}] 421 names the command: {err}"
        );
    }
    s.shutdown().await;
}
