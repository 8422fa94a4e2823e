//! Lines that parse: what they parse to (msg-split style).

use super::{assert_round_trip, tags};
use crate::Message;

type Pairs = &'static [(&'static str, Option<&'static str>)];

struct Case {
    input: &'static [u8],
    tags: Pairs,
    source: Option<&'static str>,
    command: &'static str,
    params: &'static [&'static str],
}

const fn case(
    input: &'static [u8],
    tags: Pairs,
    source: Option<&'static str>,
    command: &'static str,
    params: &'static [&'static str],
) -> Case {
    Case {
        input,
        tags,
        source,
        command,
        params,
    }
}

const NO: Pairs = &[];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Plain commands and middle parameters.
    case(b"PING irc.example.net", NO, None, "PING", &["irc.example.net"]),
    case(b"QUIT", NO, None, "QUIT", &[]),
    case(b"quit", NO, None, "QUIT", &[]),
    case(b"PrivMsg #rust hi", NO, None, "PRIVMSG", &["#rust", "hi"]),
    case(b"MODE #room +ov al bo", NO, None, "MODE", &["#room", "+ov", "al", "bo"]),
    case(b"CMD a:b c::", NO, None, "CMD", &["a:b", "c::"]),
    // Trailing parameter forms.
    case(b"PRIVMSG #rust :hello there", NO, None, "PRIVMSG", &["#rust", "hello there"]),
    case(b"NOTICE * :", NO, None, "NOTICE", &["*", ""]),
    case(b"TOPIC #c ::-)", NO, None, "TOPIC", &["#c", ":-)"]),
    case(b"JOIN :#lobby", NO, None, "JOIN", &["#lobby"]),
    case(b"PING :", NO, None, "PING", &[""]),
    case(b"PRIVMSG x :  two  spaces  ", NO, None, "PRIVMSG", &["x", "  two  spaces  "]),
    case(b"PRIVMSG x :a :b :c", NO, None, "PRIVMSG", &["x", "a :b :c"]),
    case(b"PRIVMSG x ::", NO, None, "PRIVMSG", &["x", ":"]),
    case(b"PRIVMSG x :\x01ACTION waves\x01", NO, None, "PRIVMSG", &["x", "\x01ACTION waves\x01"]),
    case(b"PRIVMSG x :\x02bold\x0f \x0304red", NO, None, "PRIVMSG", &["x", "\x02bold\x0f \x0304red"]),
    case(b"PRIVMSG x :caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", NO, None, "PRIVMSG", &["x", "caf\u{e9} \u{65e5}\u{672c} \u{1f600}"]),
    case(b"PRIVMSG x\t:tab", NO, None, "PRIVMSG", &["x\t:tab"]),
    // Sources.
    case(b":alice!al@example.org PRIVMSG bob :hi :) ", NO, Some("alice!al@example.org"), "PRIVMSG", &["bob", "hi :) "]),
    case(b":irc.example.net 001 alice :Welcome", NO, Some("irc.example.net"), "001", &["alice", "Welcome"]),
    case(b":cool\tguy NICK x", NO, Some("cool\tguy"), "NICK", &["x"]),
    case(b":n!u@net\x035w\x03ork QUIT", NO, Some("n!u@net\x035w\x03ork"), "QUIT", &[]),
    case(b"::odd PING", NO, Some(":odd"), "PING", &[]),
    case(b": PING x", NO, None, "PING", &["x"]),
    case(b":   PING x", NO, None, "PING", &["x"]),
    case(b":src AWAY", NO, Some("src"), "AWAY", &[]),
    case(b":src AWAY ", NO, Some("src"), "AWAY", &[]),
    // Spaces: any number between parts, before the command, at the end.
    case(b":srv   433    *   bob   :Nickname is in use  ", NO, Some("srv"), "433", &["*", "bob", "Nickname is in use  "]),
    case(b"   PING x", NO, None, "PING", &["x"]),
    case(b"MODE #c +n ", NO, None, "MODE", &["#c", "+n"]),
    case(b"MODE #c +o bob   ", NO, None, "MODE", &["#c", "+o", "bob"]),
    case(b"MODE #c :+i", NO, None, "MODE", &["#c", "+i"]),
    // Line endings.
    case(b"PING x\r", NO, None, "PING", &["x"]),
    case(b"PING x\r\n", NO, None, "PING", &["x"]),
    case(b"PING x\n", NO, None, "PING", &["x"]),
    case(b"PING :a \r\n", NO, None, "PING", &["a "]),
    // Numerics.
    case(b":srv 005 al CHANTYPES=# NICKLEN=20 :are supported", NO, Some("srv"), "005", &["al", "CHANTYPES=#", "NICKLEN=20", "are supported"]),
    case(b"999", NO, None, "999", &[]),
    case(b"000 x", NO, None, "000", &["x"]),
    // Tags.
    case(b"@a CMD", &[("a", None)], None, "CMD", &[]),
    case(b"@a;b;c CMD", &[("a", None), ("b", None), ("c", None)], None, "CMD", &[]),
    case(b"@id=123;account=al;time=2024-01-02T03:04:05.678Z :al!a@h PRIVMSG #x :yo", &[("id", Some("123")), ("account", Some("al")), ("time", Some("2024-01-02T03:04:05.678Z"))], Some("al!a@h"), "PRIVMSG", &["#x", "yo"]),
    case(b"@k=;l=v CMD", &[("k", None), ("l", Some("v"))], None, "CMD", &[]),
    case(b"@a=b=c CMD", &[("a", Some("b=c"))], None, "CMD", &[]),
    case(b"@a=:x,y/z@w CMD", &[("a", Some(":x,y/z@w"))], None, "CMD", &[]),
    case(b"@a=\xc3\xbc;b=\xe6\x97\xa5 CMD", &[("a", Some("\u{fc}")), ("b", Some("\u{65e5}"))], None, "CMD", &[]),
    case(b"@a   :src   CMD  p", &[("a", None)], Some("src"), "CMD", &["p"]),
    case(b"@a=1 ping", &[("a", Some("1"))], None, "PING", &[]),
    // Any word of letters, digits and `_` is a command (unknown ones get
    // 421 from the door).
    case(b"nonexistent_command x", NO, None, "NONEXISTENT_COMMAND", &["x"]),
    case(b"PR1VMSG", NO, None, "PR1VMSG", &[]),
    // Escapes.
    case(br"@t=a\sb\:c\\d\re\nf CMD", &[("t", Some("a b;c\\d\re\nf"))], None, "CMD", &[]),
    case(br"@t=x\y CMD", &[("t", Some("xy"))], None, "CMD", &[]),
    case(br"@t=x\ CMD", &[("t", Some("x"))], None, "CMD", &[]),
    case(br"@t=\ CMD", &[("t", None)], None, "CMD", &[]),
    case(br"@t=\\ CMD", &[("t", Some("\\"))], None, "CMD", &[]),
    case(br"@t=\\n CMD", &[("t", Some("\\n"))], None, "CMD", &[]),
    case(br"@t=\\\\\:\\s\s\r\n CMD", &[("t", Some("\\\\;\\s \r\n"))], None, "CMD", &[]),
    case(b"@t=\\\xc3\xa9 CMD", &[("t", Some("\u{e9}"))], None, "CMD", &[]),
    case(br"@t=\;u=1 CMD", &[("t", None), ("u", Some("1"))], None, "CMD", &[]),
    // Duplicates: the last value wins, at the first place.
    case(b"@dup=1;other=x;dup=2 CMD", &[("dup", Some("2")), ("other", Some("x"))], None, "CMD", &[]),
    case(b"@dup=1;dup CMD", &[("dup", None)], None, "CMD", &[]),
    case(b"@dup;dup=3 CMD", &[("dup", Some("3"))], None, "CMD", &[]),
    // Vendors and client-only tags: all distinct keys.
    case(b"@example.com/foo=bar;foo=baz;+foo=qux;+example.com/foo CMD", &[("example.com/foo", Some("bar")), ("foo", Some("baz")), ("+foo", Some("qux")), ("+example.com/foo", None)], None, "CMD", &[]),
    case(b"@+draft/reply=abc;+typing=active TAGMSG #c", &[("+draft/reply", Some("abc")), ("+typing", Some("active"))], None, "TAGMSG", &["#c"]),
    case(b"@a-b.c/d-e-9=1 CMD", &[("a-b.c/d-e-9", Some("1"))], None, "CMD", &[]),
    case(b"@3=x;-=y CMD", &[("3", Some("x")), ("-", Some("y"))], None, "CMD", &[]),
    // 15 parameters: the 15th takes the rest.
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :15 x", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15 x"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15 16 17"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14   15  16  ", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15  16  "]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15::", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15::"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 ::15", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", ":15"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", ""]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14   ", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14"]),
    case(b"CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 :14 15 16", NO, None, "CMD", &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14 15 16"]),
];

#[test]
fn table() {
    for c in CASES {
        let got = Message::parse(c.input).unwrap_or_else(|e| {
            panic!(
                "{:?} did not parse: {e}",
                c.input.escape_ascii().to_string()
            )
        });
        let want = Message {
            tags: tags(c.tags),
            source: c.source.map(str::to_owned),
            command: c.command.to_owned(),
            params: c.params.iter().map(|&p| p.to_owned()).collect(),
        };
        assert_eq!(got, want, "{}", c.input.escape_ascii());
        assert_round_trip(c.input, &got);
    }
}

#[test]
fn tag_lookup() {
    let m = Message::parse(b"@a=1;b;+c/d=x\\sy;e= CMD").unwrap();
    assert_eq!(m.tag("a"), Some(Some("1")));
    assert_eq!(m.tag("b"), Some(None));
    assert_eq!(m.tag("+c/d"), Some(Some("x y")));
    assert_eq!(m.tag("e"), Some(None));
    assert_eq!(m.tag("f"), None);
    assert_eq!(m.tag("A"), None, "keys are case-sensitive");
}
