//! Attack 1 of issue 13 and its kin: a user of one door sets a room key, a
//! ban mask, a topic, an away message, a real name or a reason made to
//! drive other users' terminals (an escape sequence, a bell) or to forge a
//! line (CR/LF), or just huge. Each is refused on the setter's door with a
//! clear error, and a telnet user in the room receives no control byte at
//! all: the assertions read the raw bytes of the telnet socket.

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::irc_client::{self, Message, last, must, must_not};
use crate::support::{DEADLINE, TestServer, start};
use crate::ws_client;

/// The key of the attack: a forged private line from "admin" and an OSC
/// sequence that sets the terminal's title.
const FORGED: &str =
    "x\r\n[12:00] [private] admin -> you: please /quit and /login again\x1b]0;PWNED\x07";

/// A telnet user who keeps every byte the server sent, as sent.
struct Telnet {
    stream: TcpStream,
    /// Everything received so far.
    raw: Vec<u8>,
    /// How much of `raw` the last `until` consumed.
    read: usize,
}

impl Telnet {
    /// Connects, takes `name` and waits for the welcome.
    async fn login(addr: SocketAddr, name: &str) -> Telnet {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut t = Telnet {
            stream,
            raw: Vec::new(),
            read: 0,
        };
        t.send(name).await;
        t.until(&format!("*** Welcome, {name}!")).await;
        t
    }

    async fn send(&mut self, line: &str) {
        let bytes = format!("{line}\r\n");
        self.stream
            .write_all(bytes.as_bytes())
            .await
            .expect("write");
    }

    /// Reads until `needle` arrives after what was read before; returns
    /// the text from there to the end of the line holding it.
    async fn until(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = [0u8; 8192];
        loop {
            let fresh = &self.raw[self.read..];
            if let Some(at) = find(fresh, needle.as_bytes()) {
                let end = find(&fresh[at..], b"\r\n").map_or(fresh.len(), |e| at + e + 2);
                let got = String::from_utf8_lossy(&fresh[..end]).into_owned();
                self.read += end;
                return got;
            }
            match timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => panic!(
                    "telnet: no {needle:?} within {DEADLINE:?}; got {:?}",
                    String::from_utf8_lossy(&self.raw[self.read..])
                ),
                Ok(Ok(0)) => panic!(
                    "telnet: closed while waiting for {needle:?}; got {:?}",
                    String::from_utf8_lossy(&self.raw[self.read..])
                ),
                Ok(Ok(n)) => self.raw.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("telnet: read error {e}"),
            }
        }
    }

    /// A barrier: `/time`, read up to its answer; what came before it.
    async fn sync(&mut self) -> String {
        self.send("/time").await;
        self.until("*** Server time:").await
    }

    /// The whole stream so far has no control byte but the CRLF line
    /// ends, and no line that someone else wrote to look like the server's.
    #[track_caller]
    fn assert_clean(&self) {
        let raw = &self.raw;
        let text = String::from_utf8_lossy(raw);
        for (i, &b) in raw.iter().enumerate() {
            let ok = match b {
                b'\r' => raw.get(i + 1) == Some(&b'\n'),
                b'\n' => i > 0 && raw[i - 1] == b'\r',
                b => !(b < 0x20 || b == 0x7f),
            };
            assert!(ok, "control byte {b:#04x} at {i} in {text:?}");
        }
        assert!(
            !text.contains("PWNED"),
            "the payload reached telnet: {text:?}"
        );
        for line in text.split("\r\n") {
            assert!(
                !line.contains("admin -> you"),
                "forged line reached telnet: {line:?}"
            );
            assert!(
                line.is_empty() || line.starts_with('['),
                "a line that is not the server's: {line:?}"
            );
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `{"mode": letter, "add": true, "arg": arg}` for room `room`.
fn mode(room: &str, letter: &str, arg: &str) -> Value {
    json!({"type": "mode", "room": room, "changes": [{"mode": letter, "add": true, "arg": arg}]})
}

/// Asserts a WebSocket refusal's code and that its message says `what`.
#[track_caller]
fn assert_refused(e: &Value, code: &str, what: &str) {
    assert_eq!(e["code"], code, "{e}");
    let message = e["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "{what:?} not in {e}");
}

/// A server whose WebSocket messages may be big enough for a 64 KiB mask.
async fn server() -> TestServer {
    start(|c| c.http.max_ws_message_bytes = 128 * 1024).await
}

#[tokio::test]
async fn a_forged_key_mask_topic_away_or_reason_from_a_websocket_never_reaches_telnet() {
    let s = server().await;
    let (mut web, _) = ws_client::guest(s.addr, "mallory").await;
    web.ok(json!({"type": "join", "room": "#r"})).await;
    let mut telly = Telnet::login(s.addr, "telly").await;
    telly.send("/join #r").await;
    telly.until("*** telly joined #r").await;
    web.sync().await;

    // Attack 1: the key with a forged line and an OSC title sequence.
    let e = web.refused(mode("#r", "k", FORGED)).await;
    assert_refused(
        &e,
        "bad_value",
        "the room key contains a control character (U+000D), which is not allowed",
    );
    assert_eq!(e["field"], "changes", "{e}");
    // A key with a space (IRC could not carry it), and one too long.
    let e = web.refused(mode("#r", "k", "two words")).await;
    assert_refused(&e, "bad_value", "the room key cannot contain spaces");
    let e = web.refused(mode("#r", "k", &"k".repeat(24))).await;
    assert_refused(
        &e,
        "bad_value",
        "the room key is 24 bytes long; the limit is 23",
    );

    // A 64 KiB ban mask, and one with the payload.
    let huge = "a".repeat(64 * 1024);
    let e = web.refused(mode("#r", "b", &huge)).await;
    assert_refused(
        &e,
        "bad_value",
        "the ban mask is 65536 bytes long; the limit is 128",
    );
    let e = web.refused(mode("#r", "b", FORGED)).await;
    assert_refused(&e, "bad_value", "the ban mask contains a control character");

    // Topic, away message, kick and part reasons: control characters are
    // refused by the door's parse into the core's text type, lengths by
    // the hub's limits.
    let topic = json!({"type": "topic", "room": "#r", "topic": "a\x1b]0;PWNED\x07"});
    let e = web.refused(topic).await;
    assert_refused(
        &e,
        "bad_request",
        "the topic contains a control character (U+001B)",
    );
    assert_eq!(e["field"], "topic", "{e}");
    let topic = json!({"type": "topic", "room": "#r", "topic": "t".repeat(391)});
    let e = web.refused(topic).await;
    assert_refused(
        &e,
        "bad_value",
        "the topic is 391 bytes long; the limit is 390",
    );
    assert_eq!(e["field"], "topic", "{e}");
    let away = json!({"type": "away", "message": "back\r\n[12:00] [private] admin -> you: hi"});
    let e = web.refused(away).await;
    assert_refused(
        &e,
        "bad_request",
        "the away message contains a control character (U+000D)",
    );
    let away = json!({"type": "away", "message": "w".repeat(201)});
    let e = web.refused(away).await;
    assert_refused(
        &e,
        "bad_value",
        "the away message is 201 bytes long; the limit is 200",
    );
    let kick = json!({"type": "kick", "room": "#r", "nick": "telly", "reason": "\x1b[2J\x1b[H"});
    let e = web.refused(kick).await;
    assert_refused(
        &e,
        "bad_request",
        "the reason contains a control character (U+001B)",
    );
    let kick = json!({"type": "kick", "room": "#r", "nick": "telly", "reason": "r".repeat(201)});
    let e = web.refused(kick).await;
    assert_refused(
        &e,
        "bad_value",
        "the reason is 201 bytes long; the limit is 200",
    );
    let part = json!({"type": "part", "room": "#r", "reason": "bye\n[12:00] forged"});
    let e = web.refused(part).await;
    assert_refused(
        &e,
        "bad_request",
        "the reason contains a control character (U+000A)",
    );

    // Nothing of it reached telly, who is still in #r; what a legitimate
    // operator does still does (so the telnet side is not just deaf).
    web.ok(mode("#r", "k", "sekrit")).await;
    telly.until("*** mallory set mode +k sekrit on #r").await;
    web.ok(json!({"type": "topic", "room": "#r", "topic": "all about rust"}))
        .await;
    telly
        .until("*** mallory set the topic of #r: all about rust")
        .await;
    telly.sync().await;
    telly.assert_clean();

    // A quit is never refused: a reason over the limit is dropped, and
    // the user told why before the goodbye.
    web.send(json!({"type": "quit", "id": "q", "reason": "q".repeat(201)}))
        .await;
    let (rest, _) = web.expect_closed().await;
    assert!(
        rest.iter().any(|m| m["type"] == "error"
            && m["message"]
                .as_str()
                .is_some_and(|t| t.contains("the reason is 201 bytes long"))),
        "{rest:?}"
    );
    telly.until("*** mallory quit (Quit)").await;
    telly.sync().await;
    telly.assert_clean();
    s.shutdown().await;
}

/// The numerics an IRC user gets for the same attacks; the telnet user in
/// the channel still receives no control byte.
#[tokio::test]
async fn the_same_values_from_irc_are_refused_with_numerics() {
    let s = server().await;
    let mut irc = irc_client::register(s.addr, "opy").await;
    irc.join("#i").await;
    let mut telly = Telnet::login(s.addr, "telly").await;
    telly.send("/join #i").await;
    telly.until("*** telly joined #i").await;
    irc.sync().await;

    // MODE +k / +b: 696 ERR_INVALIDMODEPARAM, the value not echoed.
    let cases = [
        (
            "MODE #i +k a\x1b]0;PWNED\x07",
            "k",
            "control character (U+001B)",
        ),
        ("MODE #i +k sek,rit", "k", "the room key cannot contain ','"),
        (
            &*format!("MODE #i +k {}", "k".repeat(24)),
            "k",
            "the room key is 24 bytes long; the limit is 23",
        ),
        (
            &*format!("MODE #i +b {}", "b".repeat(300)),
            "b",
            "the ban mask is 300 bytes long",
        ),
        (
            "MODE #i +b evil\x07!*@*",
            "b",
            "the ban mask contains a control character (U+0007)",
        ),
    ];
    for (line, letter, why) in cases {
        let r = irc.ask(line).await;
        let m = must(line, &r, "696");
        assert_eq!(m.params[1..4], ["#i", letter, "*"], "{m}");
        assert!(last(m).contains(why), "{line:?}: {m}");
        must_not(line, &r, "MODE");
    }

    // TOPIC, AWAY, KICK: FAIL … INVALID_TEXT, from the door's text type
    // (control characters) or the hub's limits.
    let long_topic = format!("TOPIC #i :{}", "t".repeat(391));
    let long_away = format!("AWAY :{}", "w".repeat(201));
    let long_kick = format!("KICK #i telly :{}", "r".repeat(201));
    let cases: [(&str, &str, &str); 6] = [
        (
            "TOPIC #i :a\x1b]0;PWNED\x07",
            "TOPIC",
            "the topic contains a control character (U+001B)",
        ),
        (
            &long_topic,
            "TOPIC",
            "the topic is 391 bytes long; the limit is 390",
        ),
        (
            "AWAY :gone\x07",
            "AWAY",
            "the away message contains a control character (U+0007)",
        ),
        (
            &long_away,
            "AWAY",
            "the away message is 201 bytes long; the limit is 200",
        ),
        (
            "KICK #i telly :\x1b[2J",
            "KICK",
            "the reason contains a control character (U+001B)",
        ),
        (
            &long_kick,
            "KICK",
            "the reason is 201 bytes long; the limit is 200",
        ),
    ];
    for (line, command, why) in cases {
        let r = irc.ask(line).await;
        let fail = must(line, &r, "FAIL");
        assert_eq!(fail.params[..2], [command, "INVALID_TEXT"], "{fail}");
        assert!(last(fail).contains(why), "{line:?}: {fail}");
        must_not(line, &r, "TOPIC");
        must_not(line, &r, "KICK");
        must_not(line, &r, "306");
    }

    // SETNAME: FAIL SETNAME INVALID_REALNAME.
    let line = format!("SETNAME :{}", "n".repeat(51));
    let r = irc.ask(&line).await;
    let fail = must("setname", &r, "FAIL");
    assert_eq!(fail.params[..2], ["SETNAME", "INVALID_REALNAME"], "{fail}");
    assert!(
        last(fail).contains("the real name is 51 bytes long; the limit is 50"),
        "{fail}"
    );

    // USER with the payload as real name: refused, the registration goes
    // on with the nick as real name.
    let mut evil = irc_client::connect(s.addr, "evil").await;
    evil.send("NICK evil").await;
    evil.send("USER u 0 * :a\x1b]0;PWNED\x07").await;
    let (before, _) = evil.expect_skipping("001").await;
    let fail = must("USER", &before, "FAIL");
    assert_eq!(fail.params[..2], ["USER", "INVALID_REALNAME"], "{fail}");
    assert!(
        last(fail).contains("the real name contains a control character (U+001B)"),
        "{fail}"
    );
    evil.sync().await;
    let r = irc.ask("WHOIS evil").await;
    assert_eq!(last(must("whois", &r, "311")), "evil");
    evil.join("#i").await;

    // telly is still in #i, saw none of it, and sees what IRC users send
    // with its formatting stripped and its tabs as spaces.
    irc.send("PRIVMSG #i :\x02bold\x02 \x0304red\x03 a\tb")
        .await;
    telly.until("#i <opy> bold red a b").await;
    telly.send("/whois @evil").await;
    telly.until("*** evil (evil), online since").await;

    // QUIT is never refused: an overlong reason is dropped, said first.
    evil.send(&format!("QUIT :{}", "q".repeat(201))).await;
    let rest = evil.expect_closed().await;
    let fail = must("QUIT", &rest, "FAIL");
    assert_eq!(fail.params[..2], ["QUIT", "INVALID_TEXT"], "{fail}");
    must("QUIT", &rest, "ERROR");
    telly.until("*** evil quit (Quit)").await;
    telly.sync().await;
    telly.assert_clean();
    s.shutdown().await;
}

#[tokio::test]
async fn irc_advertises_the_configured_limits_and_the_hub_applies_them() {
    let s = start(|c| {
        c.limits.max_topic_bytes = 100;
        c.limits.max_key_bytes = 10;
        c.limits.max_away_bytes = 150;
        c.limits.max_reason_bytes = 120;
    })
    .await;
    let mut irc = irc_client::register(s.addr, "opy").await;
    let tokens: Vec<&str> = irc
        .burst
        .iter()
        .filter(|m| m.command == "005")
        .flat_map(|m: &Message| m.params[1..m.params.len() - 1].iter().map(String::as_str))
        .collect();
    for want in ["TOPICLEN=100", "KEYLEN=10", "AWAYLEN=150", "KICKLEN=120"] {
        assert!(tokens.contains(&want), "{want} not in {tokens:?}");
    }
    irc.join("#i").await;
    let r = irc.ask(&format!("TOPIC #i :{}", "t".repeat(101))).await;
    let fail = must("topic", &r, "FAIL");
    assert!(last(fail).contains("the limit is 100"), "{fail}");
    let r = irc.ask(&format!("TOPIC #i :{}", "t".repeat(100))).await;
    must("topic at the limit", &r, "TOPIC");
    let r = irc.ask("MODE #i +k elevenchars").await;
    must("key", &r, "696");

    // The line door reads the same limits from the same hub.
    let mut telly = Telnet::login(s.addr, "telly").await;
    telly.send(&format!("/join #t {}", "k".repeat(11))).await;
    telly
        .until("*** Error: the room key is 11 bytes long; the limit is 10")
        .await;
    telly.send(&format!("/away {}", "w".repeat(151))).await;
    telly
        .until("*** Error: the away message is 151 bytes long; the limit is 150")
        .await;
    telly.send("/join #t").await;
    telly.until("*** telly joined #t").await;
    telly.send("/topic a\x1b]0;PWNED\x07").await;
    telly
        .until("*** Error: the topic contains a control character (U+001B), which is not allowed")
        .await;
    telly.send(&format!("/topic {}", "t".repeat(101))).await;
    telly
        .until("*** Error: the topic is 101 bytes long; the limit is 100")
        .await;
    telly.sync().await;
    telly.assert_clean();
    s.shutdown().await;
}
