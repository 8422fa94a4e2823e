//! What the web door does to the other doors: an administrator's
//! announcement over REST reaches a WebSocket client, an IRC client and a
//! telnet client on the same port; typing crosses between web and IRC.
//! `abuse/` is the abuse suite: attacks on every door, shown harmless;
//! `ops/metrics.rs` reads `/metrics` after traffic on every door.

mod abuse;
#[path = "support/http.rs"]
mod http;
#[path = "irc/client.rs"]
mod irc_client;
#[path = "ops/metrics.rs"]
mod metrics;
mod support;
#[path = "ws/client.rs"]
mod ws_client;

use serde_json::json;
use support::{Client, start};

const ADMIN: &str = "admin-token-for-tests";

#[tokio::test]
async fn an_admin_announcement_reaches_every_door() {
    let s = start(|c| c.http.admin_token = ADMIN.to_owned()).await;
    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    let mut irc = irc_client::register(s.addr, "ircy").await;
    let mut telnet = Client::login(s.addr, "telly").await;
    // Someone still at the name prompt is told too.
    let mut lurker = Client::connect(s.addr, "lurker").await;
    lurker.expect("name").await;

    let r = http::post(s.addr, "/api/v1/admin/announcements")
        .bearer(ADMIN)
        .json(&json!({"text": "Maintenance at noon"}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.json()["sessions"].as_u64().unwrap() >= 4, "{}", r.text());

    let a = web.expect("announcement").await;
    assert_eq!(a["text"], "Maintenance at noon", "{a}");
    assert!(a["time"].is_string(), "{a}");
    let n = irc.expect("NOTICE").await;
    assert_eq!(irc_client::param(&n, 0), "ircy", "{n}");
    assert!(irc_client::last(&n).contains("Maintenance at noon"), "{n}");
    telnet.expect("*** Announcement: Maintenance at noon").await;
    lurker.expect("*** Announcement: Maintenance at noon").await;

    // A wrong admin token announces nothing, to anyone.
    let r = http::post(s.addr, "/api/v1/admin/announcements")
        .bearer("guess")
        .json(&json!({"text": "pwned"}))
        .send()
        .await;
    r.assert_error(401);
    // Every door is still answering, and saw nothing more: a barrier each.
    let got = irc.sync().await;
    assert!(!irc_client::has(&got, "NOTICE"), "{got:?}");
    telnet.send("/time").await;
    telnet.expect_without("***", "pwned").await;
    let seen = web.sync().await;
    assert!(
        !seen.iter().any(|m| m["type"] == "announcement"),
        "{seen:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn typing_crosses_between_web_and_irc() {
    let s = start(|_| {}).await;
    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    web.ok(json!({"type": "join", "room": "#c"})).await;
    let mut irc = irc_client::register_with_caps(s.addr, "ircy", &["message-tags"]).await;
    irc.join("#c").await;
    web.sync().await;

    web.ok(json!({"type": "typing", "to": "#c", "active": true}))
        .await;
    let t = irc.expect("TAGMSG").await;
    assert_eq!(irc_client::tag(&t, "+typing"), Some("active"), "{t}");
    assert_eq!(irc_client::nick_of(&t), "webby", "{t}");

    irc.send("@+typing=done TAGMSG #c").await;
    let t = web.expect("typing").await;
    assert_eq!(t["from"], "ircy", "{t}");
    assert_eq!(t["active"], false, "{t}");
    s.shutdown().await;
}

#[tokio::test]
async fn websockets_count_against_the_connection_limits_while_they_live() {
    let s = start(|c| c.limits.max_connections_per_ip = 2).await;
    // Both upgraded: their HTTP exchanges are over, the connections not.
    let (mut a, _) = ws_client::guest(s.addr, "a").await;
    let (_b, _) = ws_client::guest(s.addr, "b").await;
    let mut c = Client::connect(s.addr, "c").await;
    c.expect("*** Error: too many connections from your address; try again later")
        .await;
    c.expect_closed().await;
    a.send(json!({"type": "quit"})).await;
    a.expect_closed().await;
    // The slot frees once the server has finished with the WebSocket.
    support::login_once_admitted(s.addr, "d").await;
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_on_websockets_too() {
    let s = start(|_| {}).await;
    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    let mut telnet = Client::login(s.addr, "telly").await;
    s.shutdown().await;
    let (rest, _) = web.expect_closed().await;
    assert!(rest.iter().any(|m| m["type"] == "bye"), "{rest:?}");
    telnet.expect("*** Disconnected").await;
}

/// The hub tells its sessions goodbye at shutdown; connections it does not
/// know yet (an IRC client before `USER`, a WebSocket before `hello`) are
/// told too, and idle HTTP connections closed, so shutdown need not wait
/// out its grace for them (a minute here, past the test's deadline).
#[tokio::test]
async fn shutdown_closes_logins_and_idle_http_without_waiting_out_the_grace() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(|c| c.limits.shutdown_grace_ms = 60_000).await;
    // Logging in, answered: the door is running.
    let mut irc = irc_client::connect(s.addr, "halfway").await;
    irc.send("NICK halfway").await;
    irc.send("PING :here").await;
    irc.expect("PONG").await;
    let mut web = ws_client::Ws::connect(s.addr, "no-hello").await;
    web.send(json!({"type": "ping", "id": "p"})).await;
    web.expect("pong").await;
    // A keep-alive connection, idle after its answer.
    let mut keep = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    keep.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout(support::DEADLINE, keep.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    s.shutdown().await;
    let rest = irc.expect_closed().await;
    let error = rest.iter().find(|m| m.command == "ERROR");
    assert!(
        error.is_some_and(|m| irc_client::last(m).contains("the server is shutting down")),
        "{rest:?}"
    );
    let (rest, _) = web.expect_closed().await;
    assert!(rest.iter().any(|m| m["type"] == "bye"), "{rest:?}");
    // The HTTP connection ends (after what was left of its answer).
    let closed = tokio::time::timeout(support::DEADLINE, async {
        while keep.read(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await;
    assert!(closed.is_ok(), "the idle HTTP connection stayed open");
}

#[tokio::test]
async fn a_web_message_can_carry_an_upload_link_to_every_door() {
    let s = start(|_| {}).await;
    let mut telnet = Client::login(s.addr, "telly").await;
    telnet.send("/register correct-horse").await;
    telnet
        .expect("*** The name telly is now registered to you")
        .await;
    let r = http::post(s.addr, "/api/v1/login")
        .json(&json!({"name": "telly", "password": "correct-horse"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = http::post(s.addr, "/api/v1/uploads?name=notes.txt")
        .bearer(&token)
        .header("Content-Type", "text/plain")
        .body(b"plain words".to_vec())
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();

    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    web.ok(json!({"type": "join", "room": "#general"})).await;
    let (_, ack) = web
        .ok(json!({"type": "send", "to": "#general", "text": "see", "upload": id}))
        .await;
    let text = format!("see /api/v1/uploads/{id}");
    assert_eq!(ack["message"]["text"], text.as_str(), "{ack}");
    telnet.expect(&format!("<webby> {text}")).await;

    // An upload that does not exist is refused, tied to the request.
    let e = web
        .refused(json!({"type": "send", "to": "#general", "text": "x", "upload": "0123"}))
        .await;
    assert_eq!(e["code"], "unknown_upload", "{e}");
    assert_eq!(e["field"], "upload", "{e}");
    s.shutdown().await;
}
