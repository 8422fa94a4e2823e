//! IRCv3 draft/read-marker: `MARKREAD` to set (by time, forward only) and
//! to ask, `MARKREAD` after every JOIN before the end of NAMES, to every
//! session of the user that took the capability, kept for accounts across
//! reconnects, the FAIL replies; and one marker across doors (set on the
//! WebSocket door, seen over IRC, and back).

use serde_json::{Value, json};

use crate::client::*;
use crate::support::{TestServer, start};
use crate::ws_client::{self, Ws};

const CAP: &str = "draft/read-marker";
const PASSWORD: &str = "password123";

/// The one MARKREAD among `msgs`, as `[target, timestamp]`.
#[track_caller]
fn markread(case: &str, msgs: &[Message]) -> Vec<String> {
    let found = all(msgs, "MARKREAD");
    assert_eq!(found.len(), 1, "[{case}] one MARKREAD in:\n{}", dump(msgs));
    assert_from_server(case, found[0]);
    found[0].params.clone()
}

/// A server and alice (a guest with the capability) in #test.
async fn alice_in_test() -> (TestServer, Irc) {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", &[CAP]).await;
    alice.join("#test").await;
    (s, alice)
}

#[tokio::test]
async fn asking_where_nothing_was_marked_answers_star() {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", &[CAP]).await;
    // (case, target): a channel nobody made, one alice is not in, a user.
    let mut bob = register(s.addr, "bob").await;
    bob.join("#bobs").await;
    for (case, target) in [
        ("no such channel", "#nosuchtarget"),
        ("not a member", "#bobs"),
        ("a user", "bob"),
    ] {
        let r = alice.ask(&format!("MARKREAD {target}")).await;
        assert_eq!(markread(case, &r), [target, "*"], "[{case}]");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_set_marker_is_echoed_and_read_back_exactly() {
    let (s, mut alice) = alice_in_test().await;
    let ts = "timestamp=2019-01-04T14:33:26.123Z";
    let r = alice.ask(&format!("MARKREAD #test {ts}")).await;
    assert_eq!(markread("set", &r), ["#test", ts]);
    // Any spelling of the channel.
    let r = alice.ask("MARKREAD #TEST").await;
    assert_eq!(markread("get", &r), ["#test", ts]);
    s.shutdown().await;
}

#[tokio::test]
async fn a_marker_never_moves_back() {
    let (s, mut alice) = alice_in_test().await;
    let newer = "timestamp=2019-06-01T12:00:00.000Z";
    alice.ask(&format!("MARKREAD #test {newer}")).await;
    // (case, timestamp sent): older, the same; each answered with the kept one.
    for (case, ts) in [
        ("older", "timestamp=2019-01-01T00:00:00.000Z"),
        ("equal", newer),
    ] {
        let r = alice.ask(&format!("MARKREAD #test {ts}")).await;
        assert_eq!(markread(case, &r), ["#test", newer], "[{case}]");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn join_sends_markread_before_the_end_of_names() {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", &[CAP]).await;
    let r = alice.join("#test").await;
    let (Some(at), Some(end)) = (index(&r, "MARKREAD"), index(&r, "366")) else {
        panic!("JOIN needs MARKREAD and 366:\n{}", dump(&r));
    };
    assert!(at < end, "MARKREAD must come before 366:\n{}", dump(&r));
    assert!(index(&r, "JOIN").is_some_and(|j| j < at), "{}", dump(&r));
    assert_eq!(markread("join", &r), ["#test", "*"]);

    // Parted and back: the marker is still there.
    let ts = "timestamp=2020-03-15T10:00:00.000Z";
    alice.ask(&format!("MARKREAD #test {ts}")).await;
    alice.ask("PART #test").await;
    let r = alice.join("#test").await;
    assert_eq!(markread("rejoin", &r), ["#test", ts]);

    // Without the capability, a JOIN has no MARKREAD.
    let mut bob = register(s.addr, "bob").await;
    let r = bob.join("#test").await;
    must_not("without the capability", &r, "MARKREAD");
    s.shutdown().await;
}

#[tokio::test]
async fn a_private_conversation_has_its_marker_too() {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", &[CAP]).await;
    let _bob = register(s.addr, "bob").await;
    let ts = "timestamp=2023-07-04T00:00:00.000Z";
    let r = alice.ask(&format!("MARKREAD bob {ts}")).await;
    assert_eq!(markread("set", &r), ["bob", ts]);
    let r = alice.ask("MARKREAD BOB").await;
    assert_eq!(markread("get", &r), ["bob", ts]);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_markread_commands_fail_with_standard_replies() {
    let (s, mut alice) = alice_in_test().await;
    // (case, line, FAIL code)
    let cases = [
        ("no parameters", "MARKREAD", "NEED_MORE_PARAMS"),
        (
            "not a timestamp",
            "MARKREAD #test timestamp=not-a-timestamp",
            "INVALID_PARAMS",
        ),
        ("a star from a client", "MARKREAD #test *", "INVALID_PARAMS"),
        ("a msgid", "MARKREAD #test msgid=1", "INVALID_PARAMS"),
        (
            "not a target",
            "MARKREAD 1bad timestamp=2020-01-01T00:00:00.000Z",
            "INVALID_PARAMS",
        ),
        (
            "not a member",
            "MARKREAD #elsewhere timestamp=2020-01-01T00:00:00.000Z",
            "INVALID_PARAMS",
        ),
    ];
    for (case, line, code) in cases {
        let r = alice.ask(line).await;
        let fail = must(case, &r, "FAIL");
        assert_eq!(
            fail.params[..2],
            ["MARKREAD".to_owned(), code.to_owned()],
            "[{case}] {fail}"
        );
        must_not(case, &r, "MARKREAD");
    }
    // Nothing was set by any of them.
    let r = alice.ask("MARKREAD #test").await;
    assert_eq!(markread("after the failures", &r), ["#test", "*"]);
    s.shutdown().await;
}

#[tokio::test]
async fn an_accounts_marker_comes_back_on_the_next_connection() {
    let s = start(|_| {}).await;
    let mut first = create_account(s.addr, "mira", PASSWORD, &[CAP]).await;
    first.join("#test").await;
    let ts = "timestamp=2021-05-20T08:30:00.000Z";
    first.ask(&format!("MARKREAD #test {ts}")).await;
    first.quit().await;

    // The account rejoins its channels on logging in, each with MARKREAD.
    let mut again = register_sasl(s.addr, "mira", "mira", PASSWORD, &[CAP]).await;
    let r = again.sync().await;
    assert!(has(&r, "JOIN"), "the rejoin:\n{}", dump(&r));
    assert_eq!(markread("reconnect", &r), ["#test", ts]);
    s.shutdown().await;
}

#[tokio::test]
async fn every_session_of_the_user_with_the_capability_hears_of_a_change() {
    let s = start(|_| {}).await;
    let mut s1 = create_account(s.addr, "nell", PASSWORD, &[CAP]).await;
    s1.join("#test").await;
    let mut s2 = register_sasl(s.addr, "nell", "nell", PASSWORD, &[CAP]).await;
    let mut plain = register_sasl(s.addr, "nell", "nell", PASSWORD, &[]).await;
    let mut other = register_with_caps(s.addr, "olga", &[CAP]).await;
    other.join("#test").await;
    drain(&mut [&mut s1, &mut s2, &mut plain, &mut other]).await;

    let ts = "timestamp=2022-11-11T11:11:11.111Z";
    let r = s1.ask(&format!("MARKREAD #test {ts}")).await;
    assert_eq!(markread("the setter", &r), ["#test", ts]);
    let r = s2.sync().await;
    assert_eq!(markread("another session", &r), ["#test", ts]);
    must_not(
        "a session without the capability",
        &plain.sync().await,
        "MARKREAD",
    );
    must_not("another user", &other.sync().await, "MARKREAD");

    // Not moved: only the asker hears.
    s2.ask(&format!("MARKREAD #test {ts}")).await;
    must_not("nothing moved", &s1.sync().await, "MARKREAD");
    s.shutdown().await;
}

/// The JSON of the next `read_marker` event on `ws`.
async fn next_marker(ws: &mut Ws) -> Value {
    ws.expect_where("read_marker", |m| m["type"] == "read_marker")
        .await
        .1
}

#[tokio::test]
async fn one_marker_across_the_websocket_and_irc_doors() {
    let s = start(|_| {}).await;
    let mut irc = create_account(s.addr, "pia", PASSWORD, &[CAP]).await;
    irc.join("#x").await;
    let login = json!({"type": "hello", "v": 1, "name": "pia", "password": PASSWORD});
    let (mut web, _) = ws_client::hello(s.addr, "web", login).await;
    let (mut bob, _) = ws_client::guest(s.addr, "bob").await;
    bob.ok(json!({"type": "join", "room": "#x"})).await;
    let mut sent = Vec::new();
    for text in ["one", "two"] {
        let (_, ack) = bob
            .ok(json!({"type": "send", "to": "#x", "text": text}))
            .await;
        sent.push(ack["message"].clone());
    }
    drain(&mut [&mut irc]).await;
    web.sync().await;

    // Set on the web by id: IRC hears the message's time.
    web.ok(json!({"type": "mark_read", "to": "#x", "msg": sent[0]["id"]}))
        .await;
    let r = irc.sync().await;
    let stamp = |m: &Value| format!("timestamp={}", m["time"].as_str().expect("time"));
    assert_eq!(
        markread("web to IRC", &r),
        ["#x".to_owned(), stamp(&sent[0])]
    );

    // Set over IRC by time: the web hears the message at that time.
    let r = irc.ask(&format!("MARKREAD #x {}", stamp(&sent[1]))).await;
    assert_eq!(
        markread("IRC's own", &r),
        ["#x".to_owned(), stamp(&sent[1])]
    );
    let m = next_marker(&mut web).await;
    assert_eq!(
        (&m["target"], &m["msg"], &m["marker_time"]),
        (&json!("#x"), &sent[1]["id"], &sent[1]["time"])
    );
    // And the web cannot move it back.
    let (replies, _) = web
        .ok(json!({"type": "mark_read", "to": "#x", "msg": sent[0]["id"]}))
        .await;
    assert!(
        replies
            .iter()
            .any(|m| m["type"] == "read_marker" && m["msg"] == sent[1]["id"]),
        "{replies:?}"
    );
    must_not("nothing moved", &irc.sync().await, "MARKREAD");
    s.shutdown().await;
}
