//! Nothing lost for offline users. The attack: one account posts
//! private messages over REST to an offline account, many more than a
//! connection's send queue holds. At the recipient's next login the
//! server used to push them all into the queue at once and cut the
//! connection (SendQ exceeded), and at the login after that they were
//! gone: marked delivered, never seen. Now they go out a page at a time,
//! each page delivered only once its client took it; the sender is
//! refused past a cap, and told when a name has no account.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{Response, post};
use crate::irc_client;
use crate::support::{Client, TestServer, start, start_in};
use crate::ws_client;

const PW: &str = "correct-horse";

/// Small limits, so that a few hundred messages are far more than a
/// connection's queue: 32 events queued, pages of 8.
fn small(c: &mut confab_server::Config) {
    c.limits.send_queue = 32;
    c.limits.offline_page = 8;
    c.limits.offline_queue = 1000;
}

/// Logs in as a guest on the line door and registers the name; the
/// connection stays.
async fn register(addr: SocketAddr, name: &str) -> Client {
    let mut c = Client::login(addr, name).await;
    c.send(&format!("/register {PW}")).await;
    c.expect(&format!("*** The name {name} is now registered to you"))
        .await;
    c
}

/// Registers `name` and leaves: an offline account.
async fn offline_account(addr: SocketAddr, name: &str) {
    let mut c = register(addr, name).await;
    c.send("/quit").await;
    c.expect_closed().await;
}

/// A guest that was here and left.
async fn departed_guest(addr: SocketAddr, name: &str) {
    let mut c = Client::login(addr, name).await;
    c.send("/quit").await;
    c.expect_closed().await;
}

async fn token(addr: SocketAddr, name: &str) -> String {
    let r = post(addr, "/api/v1/login")
        .json(&json!({"name": name, "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

/// A private message over REST.
async fn rest_send(addr: SocketAddr, token: &str, to: &str, text: &str) -> Response {
    post(addr, &format!("/api/v1/users/{to}/messages"))
        .bearer(token)
        .json(&json!({"text": text}))
        .send()
        .await
}

/// Posts "kept 1" … "kept n" to `to` over REST, each stored (201) and
/// kept for an offline account.
async fn flood(addr: SocketAddr, token: &str, to: &str, n: usize) {
    for i in 1..=n {
        let r = rest_send(addr, token, to, &format!("kept {i}")).await;
        assert_eq!(r.status, 201, "message {i}: {}", r.text());
        if i == 1 {
            let kept = &r.json()["kept"];
            assert_eq!(kept["guest"], false, "{}", r.text());
        }
    }
}

/// The number in a message text "kept N", if it is one.
fn kept_number(text: &str) -> Option<usize> {
    text.rsplit("kept ").next()?.trim().parse().ok()
}

/// Logs in to `name` on the line door with `/login`.
async fn line_login(addr: SocketAddr, name: &str) -> Client {
    let mut c = Client::connect(addr, name).await;
    c.expect("Choose a name").await;
    c.send(&format!("/login {name} {PW}")).await;
    c
}

/// Asserts that nothing is kept for the account `name` any more: a new
/// login on the line door announces no kept messages.
async fn assert_nothing_kept(addr: SocketAddr, name: &str) {
    let mut c = line_login(addr, name).await;
    c.expect(&format!("*** Welcome, {name}!")).await;
    c.send("/ignore").await;
    c.expect_without("You are ignoring nobody", "arrived while you were away")
        .await;
    c.send("/quit").await;
    c.expect_closed().await;
}

#[tokio::test]
async fn thousands_of_kept_messages_reach_a_slow_telnet_reader_in_pages_and_only_once() {
    const N: usize = 200;
    let s = start(small).await;
    let _alice = register(s.addr, "alice").await;
    offline_account(s.addr, "bob").await;
    let alice = token(s.addr, "alice").await;
    flood(s.addr, &alice, "bob", N).await;

    // Bob logs in and reads slowly: more than six times the queue, and the
    // connection stays.
    let mut bob = line_login(s.addr, "bob").await;
    bob.expect(&format!(
        "*** {N} private messages arrived while you were away:"
    ))
    .await;
    for i in 1..=N {
        let line = bob.expect("alice -> bob: kept ").await;
        assert_eq!(kept_number(&line), Some(i), "{line}");
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    bob.send("/ignore").await;
    let (between, _) = bob.expect_skipping("You are ignoring nobody").await;
    assert!(
        !between.iter().any(|l| l.contains("kept ")),
        "no message twice: {between:#?}"
    );
    assert!(
        !bob.seen.iter().any(|l| l.contains("SendQ")),
        "{:#?}",
        bob.seen
    );
    bob.send("/quit").await;
    bob.expect_closed().await;

    // The login after that: nothing again, nothing lost.
    assert_nothing_kept(s.addr, "bob").await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_cut_off_mid_delivery_leaves_the_rest_kept_and_the_next_login_gets_each_once() {
    const N: usize = 60;
    let s = start(small).await;
    let _alice = register(s.addr, "alice").await;
    offline_account(s.addr, "bob").await;
    let alice = token(s.addr, "alice").await;
    flood(s.addr, &alice, "bob", N).await;

    // On IRC a page counts as taken when the client answers the PING that
    // follows it. Bob takes two pages, reads three messages of the third
    // and is cut off.
    let mut irc = irc_client::register_sasl(s.addr, "bob", "bob", PW, &[]).await;
    let mut taken = Vec::new();
    let mut pages = 0;
    let cut_after = loop {
        let m = irc.next().await;
        match m.command.as_str() {
            "PRIVMSG" => {
                let n = kept_number(irc_client::last(&m)).expect("a kept message");
                if pages < 2 {
                    taken.push(n);
                } else if n == 2 * 8 + 3 {
                    break n;
                }
            }
            "PING" if irc_client::last(&m).starts_with("kept-") => {
                let token = irc_client::last(&m).to_owned();
                irc.send(&format!("PONG :{token}")).await;
                pages += 1;
            }
            _ => {}
        }
    };
    assert_eq!(taken, (1..=16).collect::<Vec<_>>());
    assert_eq!(cut_after, 19);
    irc.shutdown_write().await;
    drop(irc);

    // Next login, on the WebSocket: the rest, each once, from where the
    // taken pages ended (the page cut off comes again whole). A WebSocket
    // takes a page when it answers the ping frame after it, which the
    // client library does as it reads.
    let token = token(s.addr, "bob").await;
    let mut ws = ws_client::Ws::connect(s.addr, "bob").await;
    let hello = json!({"type": "hello", "v": 1, "token": token, "auto_join": false});
    let (mut received, _) = ws.ok(hello).await;
    let kept = |v: &Value| v["type"] == "message" && v["offline"] == true;
    while !received
        .last()
        .is_some_and(|v| kept(v) && v["message"]["text"] == format!("kept {N}"))
    {
        received.push(ws.next().await);
    }
    let rest: Vec<usize> = received
        .iter()
        .filter(|v| kept(v))
        .map(|v| kept_number(v["message"]["text"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(rest, (17..=N).collect::<Vec<_>>());
    // Read past the last page's ping (answered), then make sure the
    // answer was handled before leaving.
    ws.sync().await;
    ws.sync().await;
    drop(ws);

    assert_nothing_kept(s.addr, "bob").await;
    s.shutdown().await;
}

#[tokio::test]
async fn past_the_cap_every_door_refuses_with_a_clear_error_and_nothing_is_lost() {
    const CAP: usize = 5;
    let s = start(|c| {
        small(c);
        c.limits.offline_queue = CAP;
    })
    .await;
    let _alice = register(s.addr, "alice").await;
    offline_account(s.addr, "bob").await;
    let alice = token(s.addr, "alice").await;
    flood(s.addr, &alice, "bob", CAP).await;

    let why = "bob has too many unread messages";
    // REST: a 4xx with a code, not a silent 201.
    let r = rest_send(s.addr, &alice, "bob", "one too many").await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        r.json()["error"]["code"],
        "offline_queue_full",
        "{}",
        r.text()
    );
    assert!(r.text().contains(why), "{}", r.text());
    // Telnet.
    let mut carol = Client::login(s.addr, "carol").await;
    carol.send("/msg @bob hello?").await;
    carol.expect(&format!("*** Error: {why}")).await;
    // IRC: a standard reply naming the nick.
    let mut dave = irc_client::register(s.addr, "dave").await;
    dave.send("PRIVMSG bob :hello?").await;
    let fail = dave.expect("FAIL").await;
    assert_eq!(fail.params[..3], ["PRIVMSG", "TARGET_QUEUE_FULL", "bob"]);
    assert!(irc_client::last(&fail).contains(why), "{fail:?}");
    // WebSocket.
    let (mut erin, _) = ws_client::guest(s.addr, "erin").await;
    let refused = erin
        .refused(json!({"type": "send", "to": "bob", "text": "hello?"}))
        .await;
    assert_eq!(refused["code"], "offline_queue_full", "{refused}");

    // Nothing was lost: bob reads exactly the five, then there is room.
    let mut bob = line_login(s.addr, "bob").await;
    bob.expect(&format!(
        "*** {CAP} private messages arrived while you were away:"
    ))
    .await;
    for i in 1..=CAP {
        let line = bob.expect("-> bob: ").await;
        assert_eq!(kept_number(&line), Some(i), "{line}");
    }
    bob.send("/quit").await;
    bob.expect_closed().await;
    let r = rest_send(s.addr, &alice, "bob", "room again").await;
    assert_eq!(r.status, 201, "{}", r.text());
    s.shutdown().await;
}

/// A server on `data` that keeps (or not) messages for guests.
async fn guests_server(data: &std::path::Path, keep: bool) -> TestServer {
    start_in(data, |c| {
        small(c);
        c.chat.keep_for_guests = keep;
    })
    .await
}

#[tokio::test]
async fn messages_for_a_guest_name_are_kept_durably_and_the_sender_is_told_it_has_no_account() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = guests_server(&data, true).await;
    let _alice = register(s.addr, "alice").await;
    departed_guest(s.addr, "carol").await;
    let alice = token(s.addr, "alice").await;

    let r = rest_send(s.addr, &alice, "carol", "kept 1").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v: Value = r.json();
    assert_eq!(v["kept"]["guest"], true, "{v}");
    assert!(
        v["kept"]["notice"]
            .as_str()
            .unwrap()
            .contains("has no account"),
        "{v}"
    );
    let mut dave = Client::login(s.addr, "dave").await;
    dave.send("/msg @carol kept 2").await;
    dave.expect(
        "*** carol is offline and has no account: your message is kept for whoever next uses the name",
    )
    .await;
    // Durable: a restart keeps them for the name.
    s.shutdown().await;
    let s = guests_server(&data, true).await;
    let mut carol = Client::login(s.addr, "carol").await;
    carol
        .expect("*** 2 private messages arrived while you were away:")
        .await;
    assert_eq!(kept_number(&carol.expect("-> carol: ").await), Some(1));
    assert_eq!(kept_number(&carol.expect("-> carol: ").await), Some(2));
    carol.send("/quit").await;
    carol.expect_closed().await;
    // Read once: the name is free and holds nothing.
    let mut again = Client::login(s.addr, "carol").await;
    again.send("/ignore").await;
    again
        .expect_without("You are ignoring nobody", "arrived while you were away")
        .await;
    s.shutdown().await;
}

#[tokio::test]
async fn with_keep_for_guests_off_a_message_to_an_offline_guest_is_refused_on_every_door() {
    let dir = tempfile::tempdir().unwrap();
    let s = guests_server(&dir.path().join("data"), false).await;
    let _alice = register(s.addr, "alice").await;
    departed_guest(s.addr, "carol").await;
    let alice = token(s.addr, "alice").await;

    let why = "carol is offline and has no account, and this server keeps no messages for guests";
    let r = rest_send(s.addr, &alice, "carol", "hello?").await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "guest_not_kept", "{}", r.text());
    assert!(r.text().contains(why), "{}", r.text());
    let mut dave = Client::login(s.addr, "dave").await;
    dave.send("/msg @carol hello?").await;
    dave.expect(&format!("*** Error: {why}")).await;
    let mut erin = irc_client::register(s.addr, "erin").await;
    erin.send("PRIVMSG carol :hello?").await;
    let fail = erin.expect("FAIL").await;
    assert_eq!(fail.params[..3], ["PRIVMSG", "GUEST_NOT_KEPT", "carol"]);
    let (mut fay, _) = ws_client::guest(s.addr, "fay").await;
    let refused = fay
        .refused(json!({"type": "send", "to": "carol", "text": "hello?"}))
        .await;
    assert_eq!(refused["code"], "guest_not_kept", "{refused}");
    // Offline accounts still get theirs kept.
    offline_account(s.addr, "bob").await;
    let r = rest_send(s.addr, &alice, "bob", "kept").await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["kept"]["guest"], false, "{}", r.text());
    s.shutdown().await;
}
