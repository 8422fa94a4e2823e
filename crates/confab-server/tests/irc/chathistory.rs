//! IRCv3 draft/chathistory: LATEST, BEFORE, AFTER, AROUND, BETWEEN and
//! TARGETS, by msgid and by timestamp, and the FAIL replies.

use std::net::SocketAddr;
use std::time::Duration;

use crate::client::*;
use crate::support::{TestServer, start};

const PASSWORD: &str = "password123";
const CAPS: &[&str] = &["batch", "server-time", "message-tags", "draft/chathistory"];

/// One message sent: its text, msgid and time as the echo gave them.
#[derive(Debug, Clone)]
struct Sent {
    text: String,
    msgid: String,
    time: String,
}

/// A server where `histo` (an account) said m1…m5 in #h and sent one
/// private message to `pal` (an account too); `histo` is reconnected with
/// SASL and the history caps, in #h.
struct World {
    s: TestServer,
    histo: Irc,
    sent: Vec<Sent>,
    private: Sent,
}

async fn world() -> World {
    let s = start(|_| {}).await;
    let mut caps = vec!["echo-message"];
    caps.extend_from_slice(CAPS);
    let mut histo = create_account(s.addr, "histo", PASSWORD, &caps).await;
    let mut pal = create_account(s.addr, "pal", PASSWORD, &[]).await;
    histo.join("#h").await;
    let mut sent = Vec::new();
    for i in 1..=5 {
        // Distinct clock readings, so that timestamp bounds are exact.
        if let Some(last) = sent.last() {
            clock_passes(last).await;
        }
        sent.push(say(&mut histo, "#h", &format!("m{i}")).await);
    }
    clock_passes(sent.last().expect("five")).await;
    let private = say(&mut histo, "pal", "private hello").await;
    pal.sync().await;
    histo.quit().await;
    let mut histo = register_sasl(s.addr, "histo", "histo", PASSWORD, CAPS).await;
    histo.join("#h").await;
    World {
        s,
        histo,
        sent,
        private,
    }
}

/// Waits (with a deadline) until the wall clock is past the millisecond
/// `after` was stamped with.
async fn clock_passes(after: &Sent) {
    let stamp = chrono::DateTime::parse_from_rfc3339(&after.time)
        .expect("server-time")
        .timestamp_millis();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while chrono::Utc::now().timestamp_millis() <= stamp {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        tokio::task::yield_now().await;
    }
}

/// Sends a PRIVMSG and reads its echo's msgid and time.
async fn say(c: &mut Irc, target: &str, text: &str) -> Sent {
    let r = c.ask(&format!("PRIVMSG {target} :{text}")).await;
    let echo = must(text, &r, "PRIVMSG");
    Sent {
        text: text.to_owned(),
        msgid: tag(echo, "msgid")
            .unwrap_or_else(|| panic!("msgid on {echo}"))
            .to_owned(),
        time: tag(echo, "time")
            .unwrap_or_else(|| panic!("time on {echo}"))
            .to_owned(),
    }
}

/// Sends a CHATHISTORY line; returns the batch's type params (after the
/// id) and the messages in it. Panics unless exactly one batch came.
async fn batch(c: &mut Irc, case: &str, line: &str) -> (Vec<String>, Vec<Message>) {
    let r = c.ask(line).await;
    let open = r
        .iter()
        .position(|m| m.command == "BATCH" && param(m, 0).starts_with('+'))
        .unwrap_or_else(|| panic!("[{case}] {line}: no BATCH +id:\n{}", dump(&r)));
    let id = param(&r[open], 0)[1..].to_owned();
    let close = r
        .iter()
        .position(|m| m.command == "BATCH" && param(m, 0) == format!("-{id}"))
        .unwrap_or_else(|| panic!("[{case}] {line}: no BATCH -{id}:\n{}", dump(&r)));
    assert!(open < close, "[{case}]");
    assert_from_server(case, &r[open]);
    let inner: Vec<Message> = r[open + 1..close].to_vec();
    for m in &inner {
        assert_eq!(
            tag(m, "batch"),
            Some(id.as_str()),
            "[{case}] in the batch: {m}"
        );
    }
    must_not(case, &r, "FAIL");
    (r[open].params[1..].to_vec(), inner)
}

fn texts(msgs: &[Message]) -> Vec<&str> {
    msgs.iter()
        .filter(|m| m.command == "PRIVMSG")
        .map(last)
        .collect()
}

#[tokio::test]
async fn isupport_advertises_chathistory() {
    let s = start(|_| {}).await;
    let c = register(s.addr, "tok").await;
    let t = isupport(&c.burst);
    let v = t
        .get("CHATHISTORY")
        .unwrap_or_else(|| panic!("CHATHISTORY in ISUPPORT: {t:?}"));
    assert!(
        v.as_deref().and_then(|v| v.parse::<u32>().ok()).is_some(),
        "CHATHISTORY=<max messages>: {v:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn channel_history_by_every_subcommand() {
    let World {
        s, mut histo, sent, ..
    } = world().await;
    let id = |i: usize| format!("msgid={}", sent[i - 1].msgid);
    let ts = |i: usize| format!("timestamp={}", sent[i - 1].time);
    // (case, request, texts expected in order)
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "LATEST *",
            "LATEST #h * 10".into(),
            &["m1", "m2", "m3", "m4", "m5"],
        ),
        ("LATEST * limited", "LATEST #h * 2".into(), &["m4", "m5"]),
        (
            "LATEST over the max",
            "LATEST #h * 1000".into(),
            &["m1", "m2", "m3", "m4", "m5"],
        ),
        (
            "LATEST after a msgid",
            format!("LATEST #h {} 10", id(3)),
            &["m4", "m5"],
        ),
        (
            "LATEST after a timestamp",
            format!("LATEST #h {} 10", ts(3)),
            &["m4", "m5"],
        ),
        (
            "BEFORE msgid",
            format!("BEFORE #h {} 10", id(4)),
            &["m1", "m2", "m3"],
        ),
        (
            "BEFORE msgid limited",
            format!("BEFORE #h {} 2", id(4)),
            &["m2", "m3"],
        ),
        (
            "BEFORE timestamp",
            format!("BEFORE #h {} 10", ts(4)),
            &["m1", "m2", "m3"],
        ),
        ("BEFORE the first", format!("BEFORE #h {} 10", id(1)), &[]),
        (
            "AFTER msgid",
            format!("AFTER #h {} 10", id(2)),
            &["m3", "m4", "m5"],
        ),
        (
            "AFTER msgid limited",
            format!("AFTER #h {} 1", id(2)),
            &["m3"],
        ),
        (
            "AFTER timestamp",
            format!("AFTER #h {} 10", ts(2)),
            &["m3", "m4", "m5"],
        ),
        ("AFTER the last", format!("AFTER #h {} 10", id(5)), &[]),
        (
            "BETWEEN msgids",
            format!("BETWEEN #h {} {} 10", id(1), id(5)),
            &["m2", "m3", "m4"],
        ),
        (
            "BETWEEN msgids backwards",
            format!("BETWEEN #h {} {} 10", id(5), id(1)),
            &["m2", "m3", "m4"],
        ),
        (
            "BETWEEN timestamps",
            format!("BETWEEN #h {} {} 10", ts(1), ts(5)),
            &["m2", "m3", "m4"],
        ),
        (
            "BETWEEN mixed",
            format!("BETWEEN #h {} {} 10", id(2), ts(5)),
            &["m3", "m4"],
        ),
        (
            "lowercase subcommand",
            "latest #h * 10".into(),
            &["m1", "m2", "m3", "m4", "m5"],
        ),
        (
            "channel in another case",
            "LATEST #H * 10".into(),
            &["m1", "m2", "m3", "m4", "m5"],
        ),
    ];
    for (case, req, want) in &cases {
        let line = format!("CHATHISTORY {req}");
        let (kind, inner) = batch(&mut histo, case, &line).await;
        assert_eq!(
            kind.first().map(String::as_str),
            Some("chathistory"),
            "[{case}] batch type: {kind:?}"
        );
        assert!(
            kind.get(1).is_some_and(|t| t.eq_ignore_ascii_case("#h")),
            "[{case}] batch target: {kind:?}"
        );
        assert_eq!(texts(&inner), *want, "[{case}] {line}:\n{}", dump(&inner));
        for m in &inner {
            assert_eq!(nick_of(m), "histo", "[{case}] {m}");
            assert_eq!(param(m, 0).to_ascii_lowercase(), "#h", "[{case}] {m}");
            let t = tag(m, "time").unwrap_or_else(|| panic!("[{case}] time tag: {m}"));
            assert!(is_iso_time(t), "[{case}] {m}");
            let msgid = tag(m, "msgid").unwrap_or_else(|| panic!("[{case}] msgid tag: {m}"));
            let orig = sent.iter().find(|x| x.text == last(m)).unwrap();
            assert_eq!(msgid, orig.msgid, "[{case}] the msgid as first sent: {m}");
            assert_eq!(t, orig.time, "[{case}] the time as first sent: {m}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn around_returns_a_window_holding_the_message() {
    let World {
        s, mut histo, sent, ..
    } = world().await;
    let all_texts = ["m1", "m2", "m3", "m4", "m5"];
    for (case, reference, limit) in [
        ("msgid, 3", format!("msgid={}", sent[2].msgid), 3usize),
        ("msgid, 5", format!("msgid={}", sent[2].msgid), 5),
        ("timestamp, 3", format!("timestamp={}", sent[2].time), 3),
    ] {
        let line = format!("CHATHISTORY AROUND #h {reference} {limit}");
        let (_, inner) = batch(&mut histo, case, &line).await;
        let got = texts(&inner);
        assert!(!got.is_empty() && got.len() <= limit, "[{case}] {got:?}");
        let at: Vec<usize> = got
            .iter()
            .map(|t| all_texts.iter().position(|x| x == t).unwrap())
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "[{case}] in order: {got:?}"
        );
        // The window spans m3 (index 2), whether or not it includes it.
        assert!(
            at[0] <= 2 && *at.last().unwrap() >= 2,
            "[{case}] around m3: {got:?}"
        );
        if limit == 5 {
            assert!(
                got.len() >= 4,
                "[{case}] a window of up to 5 holds the rest: {got:?}"
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn private_history_and_targets() {
    let World {
        s,
        mut histo,
        sent,
        private,
    } = world().await;
    let (kind, inner) = batch(&mut histo, "private", "CHATHISTORY LATEST pal * 10").await;
    assert!(
        kind.get(1).is_some_and(|t| t.eq_ignore_ascii_case("pal")),
        "{kind:?}"
    );
    assert_eq!(texts(&inner), ["private hello"]);
    assert_eq!(tag(&inner[0], "msgid"), Some(private.msgid.as_str()));
    // TARGETS: both conversations, each with its latest time.
    let line = "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10";
    let (kind, inner) = batch(&mut histo, "TARGETS", line).await;
    assert_eq!(
        kind.first().map(String::as_str),
        Some("draft/chathistory-targets"),
        "{kind:?}"
    );
    for (target, time) in [("#h", &sent[4].time), ("pal", &private.time)] {
        let m = inner
            .iter()
            .find(|m| m.command == "CHATHISTORY" && param(m, 1).eq_ignore_ascii_case(target))
            .unwrap_or_else(|| panic!("[TARGETS] {target}:\n{}", dump(&inner)));
        assert_eq!(param(m, 0), "TARGETS", "{m}");
        assert_eq!(param(m, 2), time.as_str(), "[TARGETS] {target}: {m}");
    }
    // A window before everything: no targets.
    let line = "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2000-01-02T00:00:00.000Z 10";
    let (_, inner) = batch(&mut histo, "TARGETS, empty window", line).await;
    assert!(inner.is_empty(), "{}", dump(&inner));
    // Ordered by latest message, earliest first; a limit keeps the
    // earliest; both bounds are exclusive, and a target counts only by
    // its latest message (#h's earlier ones are inside the last window).
    let (h, pal) = (&sent[4].time, &private.time);
    let (lo, hi) = ("2000-01-01T00:00:00.000Z", "2100-01-01T00:00:00.000Z");
    for (case, a, b, limit, want) in [
        ("all", lo, hi, 10, &["#h", "pal"][..]),
        ("limit 1", lo, hi, 1, &["#h"][..]),
        ("reversed bounds", hi, lo, 10, &["#h", "pal"][..]),
        ("after #h's latest", h, hi, 10, &["pal"][..]),
        ("before pal's latest", lo, pal, 10, &["#h"][..]),
        ("between the two", h, pal, 10, &[][..]),
        ("before #h's latest", lo, h, 10, &[][..]),
    ] {
        let line = format!("CHATHISTORY TARGETS timestamp={a} timestamp={b} {limit}");
        let (_, inner) = batch(&mut histo, case, &line).await;
        let got: Vec<String> = inner
            .iter()
            .filter(|m| m.command == "CHATHISTORY")
            .map(|m| param(m, 1).to_ascii_lowercase())
            .collect();
        assert_eq!(got, want, "[TARGETS {case}] {line}:\n{}", dump(&inner));
    }
    s.shutdown().await;
}

#[tokio::test]
async fn messages_to_oneself_have_a_history_and_are_a_target() {
    let World { s, mut histo, .. } = world().await;
    let r = histo.ask("PRIVMSG histo :note to self").await;
    must_not("to oneself", &r, "FAIL");
    let (_, inner) = batch(&mut histo, "self", "CHATHISTORY LATEST histo * 10").await;
    assert_eq!(texts(&inner), ["note to self"], "{}", dump(&inner));
    let line = "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10";
    let (_, inner) = batch(&mut histo, "TARGETS", line).await;
    assert!(
        inner
            .iter()
            .any(|m| m.command == "CHATHISTORY" && param(m, 1).eq_ignore_ascii_case("histo")),
        "[TARGETS] oneself:\n{}",
        dump(&inner)
    );
    s.shutdown().await;
}

async fn other_channel(addr: SocketAddr) -> Irc {
    let mut carol = register(addr, "carol").await;
    carol.join("#other").await;
    carol.ask("PRIVMSG #other :secret").await;
    carol
}

#[tokio::test]
async fn history_of_a_channel_one_is_not_in_is_refused() {
    let World { s, mut histo, .. } = world().await;
    let _carol = other_channel(s.addr).await;
    for (case, sub, target) in [
        ("a channel with others", "LATEST", "#other"),
        ("no such channel", "LATEST", "#nowhere"),
        ("BEFORE on it", "BEFORE", "#other"),
    ] {
        let reference = if sub == "LATEST" {
            "*"
        } else {
            "timestamp=2100-01-01T00:00:00.000Z"
        };
        let r = histo
            .ask(&format!("CHATHISTORY {sub} {target} {reference} 10"))
            .await;
        let fail = must(case, &r, "FAIL");
        // FAIL CHATHISTORY INVALID_TARGET <subcommand> <target> :<text>
        assert_eq!(param(fail, 0), "CHATHISTORY", "[{case}] {fail}");
        assert_eq!(param(fail, 1), "INVALID_TARGET", "[{case}] {fail}");
        assert_eq!(param(fail, 2), sub, "[{case}] names the subcommand: {fail}");
        assert!(
            param(fail, 3).eq_ignore_ascii_case(target),
            "[{case}] names the target: {fail}"
        );
        assert!(
            !r.iter()
                .flat_map(|m| m.params.iter())
                .any(|p| p == "secret"),
            "[{case}] nothing leaked:\n{}",
            dump(&r)
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn bad_chathistory_requests_fail_with_standard_replies() {
    let World { s, mut histo, .. } = world().await;
    // (case, line, the FAIL code, the subcommand it names)
    let cases = [
        (
            "limit not a number",
            "CHATHISTORY LATEST #h * lots",
            "INVALID_PARAMS",
            "LATEST",
        ),
        (
            "negative limit",
            "CHATHISTORY LATEST #h * -5",
            "INVALID_PARAMS",
            "LATEST",
        ),
        (
            "* for BEFORE",
            "CHATHISTORY BEFORE #h * 10",
            "INVALID_PARAMS",
            "BEFORE",
        ),
        (
            "garbage reference",
            "CHATHISTORY BEFORE #h garbage 10",
            "INVALID_PARAMS",
            "BEFORE",
        ),
        (
            "bad timestamp",
            "CHATHISTORY AFTER #h timestamp=yesterday 10",
            "INVALID_PARAMS",
            "AFTER",
        ),
        (
            "BETWEEN with *",
            "CHATHISTORY BETWEEN #h * * 10",
            "INVALID_PARAMS",
            "BETWEEN",
        ),
        (
            "TARGETS with msgids",
            "CHATHISTORY TARGETS msgid=1 msgid=2 10",
            "INVALID_PARAMS",
            "TARGETS",
        ),
        (
            "missing limit",
            "CHATHISTORY LATEST #h *",
            "NEED_MORE_PARAMS",
            "LATEST",
        ),
        (
            "missing everything",
            "CHATHISTORY LATEST",
            "NEED_MORE_PARAMS",
            "LATEST",
        ),
        (
            "unknown subcommand",
            "CHATHISTORY SIDEWAYS #h * 10",
            "UNKNOWN_COMMAND",
            "SIDEWAYS",
        ),
    ];
    for (case, line, code, sub) in cases {
        let r = histo.ask(line).await;
        let fail = must(case, &r, "FAIL");
        assert_eq!(param(fail, 0), "CHATHISTORY", "[{case}] {fail}");
        assert_eq!(param(fail, 1), code, "[{case}] {fail}");
        assert!(
            param(fail, 2).eq_ignore_ascii_case(sub),
            "[{case}] names the subcommand: {fail}"
        );
        must_not(case, &r, "BATCH");
    }
    let r = histo.ask("CHATHISTORY").await;
    let fail = must("no params", &r, "FAIL");
    assert_eq!(
        &fail.params[..2],
        ["CHATHISTORY", "NEED_MORE_PARAMS"],
        "{fail}"
    );
    s.shutdown().await;
}
