//! The WebSocket JSON protocol over real sockets: the web door with the
//! IRC and line doors on one port, accounts and tokens, acknowledgements,
//! history, resume, heartbeats, and every kind of bad input.

mod support;

#[path = "irc/client.rs"]
mod irc_client;
#[path = "ws/client.rs"]
mod ws_client;

use serde_json::{Value, json};
use support::{Client, start, start_in};
use tokio_tungstenite::tungstenite::Message as Frame;
use ws_client::{Ws, guest, hello, ids};

const PW: &str = "correct-horse";

async fn join(ws: &mut Ws, room: &str) {
    ws.ok(json!({"type": "join", "room": room})).await;
}

/// Sends `text` to `to`, acknowledged; the stored message.
async fn say(ws: &mut Ws, to: &str, text: &str) -> Value {
    let (_, ack) = ws.ok(json!({"type": "send", "to": to, "text": text})).await;
    ack["message"].clone()
}

/// Reads until the message with this text; its JSON.
async fn expect_text(ws: &mut Ws, text: &str) -> Value {
    let (_, m) = ws
        .expect_where(text, |m| {
            m["type"] == "message" && m["message"]["text"] == text
        })
        .await;
    m["message"].clone()
}

/// A guest says hello, registers its name, and leaves.
async fn make_account(addr: std::net::SocketAddr, name: &str) {
    let (mut ws, _) = guest(addr, name).await;
    let (replies, _) = ws.ok(json!({"type": "register", "password": PW})).await;
    assert!(
        replies
            .iter()
            .any(|m| m["type"] == "registered" && m["nick"] == name),
        "{replies:?}"
    );
    ws.send(json!({"type": "quit", "id": "q"})).await;
    let (rest, code) = ws.expect_closed().await;
    assert!(rest.iter().any(|m| m["type"] == "bye"), "{rest:?}");
    assert_eq!(code, Some(1000));
}

/// `POST /api/v1/login` over a plain socket; the token.
async fn rest_login(addr: std::net::SocketAddr, name: &str, password: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = json!({"name": name, "password": password}).to_string();
    let request = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(ws_client::DEADLINE, tcp.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let response = String::from_utf8(response).expect("UTF-8");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (_, body) = response.split_once("\r\n\r\n").expect("a body");
    let v: Value = serde_json::from_str(body).expect("JSON");
    v["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn web_irc_and_telnet_share_a_room() {
    let s = start(|_| {}).await;
    let (mut web, welcome) = guest(s.addr, "wendy").await;
    assert_eq!(welcome["v"], 1);
    assert_eq!(welcome["name"], "wendy");
    assert_eq!(welcome["server"], "confab");
    assert_eq!(welcome["account"], false);
    join(&mut web, "#lobby").await;

    let mut irc = irc_client::register(s.addr, "ivan").await;
    irc.join("#lobby").await;
    let joined = web
        .expect_where("ivan joins", |m| {
            m["type"] == "joined" && m["nick"] == "ivan"
        })
        .await
        .1;
    assert_eq!(joined["room"], "#lobby");

    let mut tom = Client::login(s.addr, "tom").await;
    tom.send("/join #lobby").await;
    tom.expect("*** tom joined #lobby").await;
    web.expect_where("tom joins", |m| m["type"] == "joined" && m["nick"] == "tom")
        .await;
    irc.expect_msg("tom's JOIN", |m| {
        m.command == "JOIN" && irc_client::nick_of(m) == "tom"
    })
    .await;

    // Web to the others.
    let sent = say(&mut web, "#lobby", "hello from the web").await;
    tom.expect("#lobby <wendy> hello from the web").await;
    let m = irc
        .expect_msg("wendy's PRIVMSG", |m| m.command == "PRIVMSG")
        .await
        .1;
    assert_eq!(irc_client::nick_of(&m), "wendy");
    assert_eq!(irc_client::last(&m), "hello from the web");
    assert!(sent["id"].as_u64().is_some());

    // IRC and telnet to the web.
    irc.send("PRIVMSG #lobby :hello from irc").await;
    let m = expect_text(&mut web, "hello from irc").await;
    assert_eq!(
        (m["from"].clone(), m["target"].clone()),
        (json!("ivan"), json!("#lobby"))
    );
    tom.say("#lobby", "hello from telnet").await;
    let m = expect_text(&mut web, "hello from telnet").await;
    assert_eq!(m["from"], "tom");
    assert_eq!(m["kind"], "say");

    // The web sets the topic; the others see it.
    web.ok(json!({"type": "topic", "room": "#lobby", "topic": "three doors"}))
        .await;
    tom.expect("*** wendy set the topic of #lobby: three doors")
        .await;
    let t = irc.expect("TOPIC").await;
    assert_eq!(irc_client::last(&t), "three doors");
    // The web makes the IRC user an operator, who changes the topic.
    let (before, _) = web
        .ok(json!({"type": "mode", "room": "#lobby", "changes": [{"mode": "o", "arg": "ivan"}]}))
        .await;
    let m = before.iter().find(|m| m["type"] == "mode").expect("mode");
    assert_eq!(
        m["changes"],
        json!([{"mode": "o", "add": true, "arg": "ivan"}])
    );
    let m = irc.expect("MODE").await;
    assert_eq!(irc_client::param(&m, 1), "+o");
    irc.send("TOPIC #lobby :one room").await;
    let (_, t) = web
        .expect_where("topic", |m| m["type"] == "topic" && m["by"] == "ivan")
        .await;
    assert_eq!(t["topic"], "one room");
    assert_eq!(t["room"], "#lobby");

    // Telnet leaves; the web and IRC see it.
    tom.send("/part").await;
    let (_, p) = web
        .expect_where("tom parts", |m| m["type"] == "parted" && m["nick"] == "tom")
        .await;
    assert_eq!(p["room"], "#lobby");
    irc.expect_msg("tom's PART", |m| {
        m.command == "PART" && irc_client::nick_of(m) == "tom"
    })
    .await;

    // The web leaves.
    web.ok(json!({"type": "part", "room": "#lobby"})).await;
    irc.expect_msg("wendy's PART", |m| {
        m.command == "PART" && irc_client::nick_of(m) == "wendy"
    })
    .await;
    s.shutdown().await;
}

#[tokio::test]
async fn requests_are_acknowledged_and_errors_name_their_request() {
    let s = start(|_| {}).await;
    let mut ws = Ws::connect(s.addr, "ann").await;
    // Before hello.
    let e = ws.refused(json!({"type": "join", "room": "#a"})).await;
    assert_eq!(e["code"], "not_logged_in");
    let (_, hi) = ws
        .ok(json!({"type": "hello", "v": 1, "name": "ann", "auto_join": false}))
        .await;
    assert!(hi.get("message").is_none());
    let e = ws
        .refused(json!({"type": "hello", "v": 1, "name": "ann"}))
        .await;
    assert_eq!(e["code"], "already_logged_in");

    // Door-side: a bad room name, named by field.
    let e = ws
        .refused(json!({"type": "join", "room": "#no,commas"}))
        .await;
    assert_eq!(
        (e["code"].clone(), e["field"].clone()),
        (json!("bad_request"), json!("room"))
    );
    // Hub-side: sending to a room one is not in, a user who does not exist.
    let (mut bob, _) = guest(s.addr, "bob").await;
    join(&mut bob, "#closed").await;
    bob.ok(json!({"type": "mode", "room": "#closed", "changes": [{"mode": "n"}]}))
        .await;
    let e = ws
        .refused(json!({"type": "send", "to": "#closed", "text": "hi"}))
        .await;
    assert!(
        e["code"] == "cannot_send" || e["code"] == "not_in_room",
        "{e}"
    );
    let e = ws
        .refused(json!({"type": "send", "to": "nobody", "text": "hi"}))
        .await;
    assert_eq!(e["code"], "no_such_user");
    let e = ws
        .refused(json!({"type": "part", "room": "#nowhere"}))
        .await;
    assert!(
        e["code"] == "not_in_room" || e["code"] == "no_such_room",
        "{e}"
    );

    // A send is acknowledged with the message as stored, after the
    // message itself came back, and the other member got the same id.
    join(&mut ws, "#closed").await;
    let (before, ack) = ws
        .ok(json!({"type": "send", "to": "#closed", "text": "stored", "kind": "action"}))
        .await;
    let m = &ack["message"];
    assert_eq!(m["text"], "stored");
    assert_eq!(m["kind"], "action");
    assert_eq!(m["from"], "ann");
    assert_eq!(m["target"], "#closed");
    assert!(m["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{m}");
    assert!(
        before
            .iter()
            .any(|e| e["type"] == "message" && e["message"] == *m),
        "{before:?}"
    );
    let got = expect_text(&mut bob, "stored").await;
    assert_eq!(got, *m);

    // Private messages: to the recipient, and back to the sender.
    let pm = say(&mut ws, "bob", "psst").await;
    let got = expect_text(&mut bob, "psst").await;
    assert_eq!(got, pm);
    assert_eq!(got["target"], "bob");

    // Replies carry the request id.
    let (replies, _) = ws.ok(json!({"type": "members", "room": "#closed"})).await;
    let members = replies
        .iter()
        .find(|m| m["type"] == "members")
        .expect("members");
    assert!(members["re"].is_string());
    let nicks: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nick"].as_str().unwrap())
        .collect();
    assert_eq!(nicks.len(), 2, "{members}");
    let (replies, _) = ws.ok(json!({"type": "users"})).await;
    let users = replies
        .iter()
        .find(|m| m["type"] == "users")
        .expect("users");
    assert!(
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["nick"] == "bob" && u["online"] == true)
    );
    let (replies, _) = ws.ok(json!({"type": "rooms"})).await;
    assert!(replies.iter().any(|m| m["type"] == "rooms"));
    let (replies, _) = ws.ok(json!({"type": "topic", "room": "#closed"})).await;
    assert!(
        replies
            .iter()
            .any(|m| m["type"] == "topic_info" && m["topic"].is_null()),
        "{replies:?}"
    );
    let (replies, _) = ws.ok(json!({"type": "whois", "nick": "bob"})).await;
    assert!(replies.iter().any(|m| m["type"] == "whois"), "{replies:?}");

    // Away is presence: the others are told.
    ws.ok(json!({"type": "away", "message": "lunch"})).await;
    let (_, a) = bob
        .expect_where("away", |m| m["type"] == "away" && m["nick"] == "ann")
        .await;
    assert_eq!(a["away"], "lunch");
    s.shutdown().await;
}

#[tokio::test]
async fn accounts_by_password_and_by_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |_| {}).await;
    make_account(s.addr, "carol").await;

    // Name and password.
    let (mut c, welcome) = hello(
        s.addr,
        "carol",
        json!({"type": "hello", "v": 1, "name": "carol", "password": PW, "auto_join": false}),
    )
    .await;
    assert_eq!(welcome["account"], true);
    assert_eq!(welcome["name"], "carol");
    join(&mut c, "#acct").await;

    // A wrong password is an error; the connection stays and may try again.
    let mut w = Ws::connect(s.addr, "wrong").await;
    let e = w
        .refused(json!({"type": "hello", "v": 1, "name": "carol", "password": "nope-nope"}))
        .await;
    assert_eq!(e["code"], "bad_login");
    // The name without a password: registered, said in this door's terms
    // (no telnet command to type).
    let e = w
        .refused(json!({"type": "hello", "v": 1, "name": "carol"}))
        .await;
    assert_eq!(e["code"], "nick_registered", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(!message.contains('/'), "{message}");
    assert!(message.contains("carol is registered"), "{message}");
    w.ok(json!({"type": "hello", "v": 1, "name": "carol", "password": PW, "auto_join": false}))
        .await;

    // A token signed with the server's key (what POST /api/v1/login hands
    // out) logs in to the account, as a second device.
    let tokens = confab_server::tokens::Tokens::load_or_create(&data).expect("token key");
    let nick = confab_core::Nick::parse("carol", 16).unwrap();
    // Issued now: a token older than its account opens nothing.
    let token = tokens.issue(&nick, confab_server::time::now().0, i64::MAX);
    let (mut phone, welcome) = hello(
        s.addr,
        "phone",
        json!({"type": "hello", "v": 1, "token": token}),
    )
    .await;
    assert_eq!(welcome["account"], true);
    assert_eq!(welcome["name"], "carol");
    // The account is in #acct on every device.
    say(&mut phone, "#acct", "from the phone").await;
    expect_text(&mut c, "from the phone").await;

    // A token from the REST API's login works the same.
    let token = rest_login(s.addr, "carol", PW).await;
    let (_, welcome) = hello(
        s.addr,
        "tablet",
        json!({"type": "hello", "v": 1, "token": token, "auto_join": false}),
    )
    .await;
    assert_eq!(
        (welcome["name"].clone(), welcome["account"].clone()),
        (json!("carol"), json!(true))
    );

    // A wrong token: an error, then the server closes.
    let mut bad = Ws::connect(s.addr, "bad").await;
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    bad.send(json!({"type": "hello", "v": 1, "id": 1, "token": forged}))
        .await;
    let e = bad.expect("error").await;
    assert_eq!(
        (e["code"].clone(), e["re"].clone()),
        (json!("bad_token"), json!(1))
    );
    let (_, code) = bad.expect_closed().await;
    assert_eq!(code, Some(1008));
    let expired = tokens.issue(&nick, 0, 1);
    let mut old = Ws::connect(s.addr, "old").await;
    old.send(json!({"type": "hello", "v": 1, "token": expired}))
        .await;
    let e = old.expect("error").await;
    assert_eq!(e["code"], "bad_token");
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");
    s.shutdown().await;
}

#[tokio::test]
async fn history_pages_by_id_and_search_finds() {
    let s = start(|_| {}).await;
    let (mut a, _) = guest(s.addr, "hana").await;
    join(&mut a, "#hist").await;
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(
            say(&mut a, "#hist", &format!("line {i}")).await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let (replies, _) = a
        .ok(json!({"type": "history", "to": "#hist", "before": sent[6], "limit": 3}))
        .await;
    let h = replies
        .iter()
        .find(|m| m["type"] == "history")
        .expect("history");
    assert_eq!(h["target"], "#hist");
    assert!(h["re"].is_string());
    assert_eq!(ids(&h["messages"]), sent[3..6].to_vec());
    let (replies, _) = a
        .ok(json!({"type": "history", "to": "#hist", "after": sent[6], "limit": 2}))
        .await;
    let h = replies
        .iter()
        .find(|m| m["type"] == "history")
        .expect("history");
    assert_eq!(ids(&h["messages"]), sent[7..9].to_vec());
    let (replies, _) = a
        .ok(json!({"type": "history", "to": "#hist", "after": sent[1], "before": sent[4]}))
        .await;
    let h = replies
        .iter()
        .find(|m| m["type"] == "history")
        .expect("history");
    assert_eq!(ids(&h["messages"]), sent[2..4].to_vec());
    let (replies, _) = a
        .ok(json!({"type": "history", "to": "#hist", "limit": 2}))
        .await;
    let h = replies
        .iter()
        .find(|m| m["type"] == "history")
        .expect("history");
    assert_eq!(ids(&h["messages"]), sent[8..10].to_vec());

    let e = a
        .refused(json!({"type": "history", "to": "#elsewhere"}))
        .await;
    assert!(
        e["code"] == "not_in_room" || e["code"] == "no_such_room",
        "{e}"
    );

    say(&mut a, "#hist", "the zebra crossing").await;
    let (replies, _) = a.ok(json!({"type": "search", "text": "zebra"})).await;
    let r = replies
        .iter()
        .find(|m| m["type"] == "search")
        .expect("search");
    let found = r["messages"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["text"], "the zebra crossing");
    s.shutdown().await;
}

#[tokio::test]
async fn typing_reaches_the_others_and_ignore_silences() {
    let s = start(|_| {}).await;
    let (mut a, _) = guest(s.addr, "tia").await;
    let (mut b, _) = guest(s.addr, "uma").await;
    join(&mut a, "#t").await;
    join(&mut b, "#t").await;
    let (replies, _) = a
        .ok(json!({"type": "typing", "to": "#t", "active": true}))
        .await;
    assert!(
        !replies.iter().any(|m| m["type"] == "typing"),
        "{replies:?}"
    );
    let (_, t) = b.expect_where("typing", |m| m["type"] == "typing").await;
    assert_eq!(
        (t["from"].clone(), t["to"].clone(), t["active"].clone()),
        (json!("tia"), json!("#t"), json!(true))
    );
    assert!(!a.sync().await.iter().any(|m| m["type"] == "typing"));
    // Typing to a user.
    a.ok(json!({"type": "typing", "to": "uma", "active": false}))
        .await;
    let (_, t) = b.expect_where("typing", |m| m["type"] == "typing").await;
    assert_eq!(
        (t["to"].clone(), t["active"].clone()),
        (json!("uma"), json!(false))
    );

    // uma ignores tia: no messages, no typing.
    let (replies, _) = b.ok(json!({"type": "ignore", "nick": "tia"})).await;
    assert!(
        replies
            .iter()
            .any(|m| m["type"] == "ignore" && m["ignoring"] == true),
        "{replies:?}"
    );
    say(&mut a, "#t", "can you hear me").await;
    a.ok(json!({"type": "typing", "to": "#t"})).await;
    let seen = b.sync().await;
    assert!(
        !seen
            .iter()
            .any(|m| m["type"] == "message" || m["type"] == "typing"),
        "{seen:?}"
    );
    let (replies, _) = b.ok(json!({"type": "ignores"})).await;
    assert!(
        replies
            .iter()
            .any(|m| m["type"] == "ignores" && m["nicks"] == json!(["tia"])),
        "{replies:?}"
    );
    b.ok(json!({"type": "unignore", "nick": "tia"})).await;
    say(&mut a, "#t", "and now").await;
    expect_text(&mut b, "and now").await;
    s.shutdown().await;
}

/// Reads the `message` events up to a sync point: their ids, asserting
/// that none repeats.
async fn message_ids_until_sync(ws: &mut Ws) -> Vec<u64> {
    let seen = ws.sync().await;
    seen.iter()
        .filter(|m| m["type"] == "message")
        .map(|m| m["message"]["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn resume_after_a_drop_loses_nothing_and_repeats_nothing() {
    let s = start(|_| {}).await;
    make_account(s.addr, "rita").await;
    let login = |resume: Option<u64>| {
        let mut h =
            json!({"type": "hello", "v": 1, "name": "rita", "password": PW, "auto_join": false});
        if let Some(n) = resume {
            h["resume_after"] = json!(n);
        }
        h
    };
    let (mut rita, _) = hello(s.addr, "rita", login(None)).await;
    join(&mut rita, "#r").await;
    let (mut sam, _) = guest(s.addr, "sam").await;
    join(&mut sam, "#r").await;
    let mut last_seen = 0;
    for i in 0..3 {
        let m = say(&mut sam, "#r", &format!("before {i}")).await;
        last_seen = expect_text(&mut rita, &format!("before {i}")).await["id"]
            .as_u64()
            .unwrap();
        assert_eq!(m["id"].as_u64(), Some(last_seen));
    }
    // The connection drops (no close frame); sam talks on.
    rita.drop_connection();
    sam.expect_where("rita quits", |m| m["type"] == "quit" && m["nick"] == "rita")
        .await;
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            say(&mut sam, "#r", &format!("missed {i}")).await["id"]
                .as_u64()
                .unwrap(),
        );
    }

    // Back, resuming after the last message seen: exactly the missed ones.
    let mut rita = Ws::connect(s.addr, "rita").await;
    let (before, _) = rita.ok(login(Some(last_seen))).await;
    let resumed: Vec<&Value> = before.iter().filter(|m| m["type"] == "resumed").collect();
    assert_eq!(resumed.len(), 1, "{before:?}");
    assert_eq!(ids(&resumed[0]["messages"]), missed);
    assert_eq!(resumed[0]["more"], false);
    // History shown on rejoining stops where the resume starts.
    for h in before.iter().filter(|m| m["type"] == "history") {
        assert!(ids(&h["messages"]).iter().all(|&id| id <= last_seen), "{h}");
    }
    assert!(!before.iter().any(|m| m["type"] == "message"), "{before:?}");
    // Live from here on, each once.
    let live = say(&mut sam, "#r", "live").await["id"].as_u64().unwrap();
    let got = message_ids_until_sync(&mut rita).await;
    assert_eq!(got, vec![live]);

    // More than a resume takes: `more`, then the rest.
    rita.drop_connection();
    sam.expect_where("rita quits", |m| m["type"] == "quit" && m["nick"] == "rita")
        .await;
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            say(&mut sam, "#r", &format!("again {i}")).await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let (mut rita, _) = hello(s.addr, "rita", login(None)).await;
    let (before, _) = rita
        .ok(json!({"type": "resume", "after": live, "limit": 3}))
        .await;
    let r = before
        .iter()
        .find(|m| m["type"] == "resumed")
        .expect("resumed");
    assert_eq!(ids(&r["messages"]), missed[..3].to_vec());
    assert_eq!(r["more"], true);
    let (before, _) = rita
        .ok(json!({"type": "resume", "after": missed[2], "limit": 3}))
        .await;
    let r = before
        .iter()
        .find(|m| m["type"] == "resumed")
        .expect("resumed");
    assert_eq!(ids(&r["messages"]), missed[3..].to_vec());
    assert_eq!(r["more"], false);
    // Resuming again over what this connection already has gives nothing
    // twice.
    let late = say(&mut sam, "#r", "late").await["id"].as_u64().unwrap();
    assert_eq!(message_ids_until_sync(&mut rita).await, vec![late]);
    let (before, _) = rita.ok(json!({"type": "resume", "after": live})).await;
    let r = before
        .iter()
        .find(|m| m["type"] == "resumed")
        .expect("resumed");
    assert_eq!(ids(&r["messages"]), Vec::<u64>::new(), "{r}");
    s.shutdown().await;
}

#[tokio::test]
async fn guests_resume_after_joining_again() {
    let s = start(|_| {}).await;
    let (mut gus, _) = guest(s.addr, "gus").await;
    join(&mut gus, "#g").await;
    let (mut sam, _) = guest(s.addr, "sam").await;
    join(&mut sam, "#g").await;
    let seen = say(&mut sam, "#g", "seen").await["id"].as_u64().unwrap();
    expect_text(&mut gus, "seen").await;
    gus.drop_connection();
    sam.expect_where("gus quits", |m| m["type"] == "quit").await;
    let missed = say(&mut sam, "#g", "missed").await["id"].as_u64().unwrap();
    let mut gus = Ws::connect(s.addr, "gus").await;
    gus.ok(
        json!({"type": "hello", "v": 1, "name": "gus", "auto_join": false, "resume_after": seen}),
    )
    .await;
    let (before, _) = gus.ok(json!({"type": "join", "room": "#g"})).await;
    for h in before.iter().filter(|m| m["type"] == "history") {
        assert!(ids(&h["messages"]).iter().all(|&id| id <= seen), "{h}");
    }
    let (before, _) = gus.ok(json!({"type": "resume", "after": seen})).await;
    let r = before
        .iter()
        .find(|m| m["type"] == "resumed")
        .expect("resumed");
    assert_eq!(ids(&r["messages"]), vec![missed]);
    s.shutdown().await;
}

#[tokio::test]
async fn heartbeats_both_ways() {
    let s = start(|c| c.http.ws_ping_interval_ms = 200).await;
    let (mut a, _) = guest(s.addr, "hal").await;
    // JSON ping, with and without an id.
    a.send(json!({"type": "ping", "id": 17})).await;
    let p = a.expect("pong").await;
    assert_eq!(p["re"], 17);
    a.send(json!({"type": "ping"})).await;
    let p = a.expect("pong").await;
    assert!(p.get("re").is_none());
    // A WebSocket ping is answered with a pong.
    a.send_frame(Frame::Ping(b"are you there".to_vec().into()))
        .await;
    let deadline = tokio::time::Instant::now() + ws_client::DEADLINE;
    let mut server_pinged = false;
    loop {
        match a.next_frame_by(deadline).await.expect("open") {
            Frame::Pong(p) if &p[..] == b"are you there".as_slice() => break,
            Frame::Ping(_) => server_pinged = true,
            _ => {}
        }
    }
    // The server pings a quiet client (and the client's codec answers).
    while !server_pinged {
        if let Frame::Ping(_) = a.next_frame_by(deadline).await.expect("open") {
            server_pinged = true;
        }
    }
    // Answered pings keep the connection open past several intervals.
    let mut pings = 0;
    while pings < 3 {
        if let Frame::Ping(_) = a.next_frame_by(deadline).await.expect("still open") {
            pings += 1;
        }
    }
    a.sync().await;

    // A client that never answers is dropped: it does not read, so its
    // codec never sends the pongs.
    let (mut mute, _) = guest(s.addr, "mute").await;
    join(&mut mute, "#h").await;
    join(&mut a, "#h").await;
    let (_, q) = a
        .expect_where("mute quits", |m| m["type"] == "quit" && m["nick"] == "mute")
        .await;
    assert_eq!(q["reason"], "Ping timeout");
    drop(mute);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_typed_errors_and_changes_nothing() {
    let s = start(|c| c.http.max_ws_message_bytes = 4096).await;
    let (mut a, _) = guest(s.addr, "bea").await;
    join(&mut a, "#b").await;
    let (mut other, _) = guest(s.addr, "obs").await;
    join(&mut other, "#b").await;

    a.send_text("{this is not json").await;
    assert_eq!(a.expect("error").await["code"], "bad_json");
    a.send_text("[1, 2, 3]").await;
    assert_eq!(a.expect("error").await["code"], "bad_json");
    a.send(json!({"type": "teleport", "id": "u1"})).await;
    let e = a.expect("error").await;
    assert_eq!(
        (e["code"].clone(), e["re"].clone()),
        (json!("unknown_type"), json!("u1"))
    );
    a.send(json!({"type": "send", "id": "m1", "to": "#b"}))
        .await;
    let e = a.expect("error").await;
    assert_eq!(
        (e["code"].clone(), e["field"].clone(), e["re"].clone()),
        (json!("bad_request"), json!("text"), json!("m1"))
    );
    a.send(json!({"id": 5})).await;
    let e = a.expect("error").await;
    assert_eq!(
        (e["code"].clone(), e["field"].clone()),
        (json!("bad_request"), json!("type"))
    );
    a.send_frame(Frame::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(a.expect("error").await["code"], "binary_not_supported");
    // Still in the chat, nothing sent by any of it.
    say(&mut a, "#b", "still here").await;
    let seen = other.sync().await;
    let texts: Vec<&Value> = seen.iter().filter(|m| m["type"] == "message").collect();
    assert_eq!(texts.len(), 1, "{seen:?}");
    assert_eq!(texts[0]["message"]["text"], "still here");

    // An unknown version: an error, then closed.
    let mut v2 = Ws::connect(s.addr, "v2").await;
    v2.send(json!({"type": "hello", "v": 2, "name": "v2"}))
        .await;
    assert_eq!(v2.expect("error").await["code"], "bad_version");
    assert_eq!(v2.expect_closed().await.1, Some(1002));

    // An oversized message: an error, closed with 1009; the others go on.
    let mut big = Ws::connect(s.addr, "big").await;
    big.send(json!({"type": "hello", "v": 1, "name": "big", "auto_join": false}))
        .await;
    big.expect("welcome").await;
    let text = "x".repeat(10_000);
    big.send(json!({"type": "send", "to": "#b", "text": text}))
        .await;
    let (rest, code) = big.expect_closed().await;
    assert!(
        rest.iter().any(|m| m["code"] == "message_too_big"),
        "{rest:?}"
    );
    assert_eq!(code, Some(1009));
    say(&mut a, "#b", "after the big one").await;
    expect_text(&mut other, "after the big one").await;

    s.shutdown().await;
}

#[tokio::test]
async fn a_client_silent_before_hello_is_closed() {
    let s = start(|c| c.limits.login_timeout_ms = 300).await;
    let mut silent = Ws::connect(s.addr, "silent").await;
    let (rest, code) = silent.expect_closed().await;
    assert!(
        rest.iter().any(|m| m["code"] == "login_timeout"),
        "{rest:?}"
    );
    assert_eq!(code, Some(1008));
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_alone() {
    let s = start(|c| c.limits.send_queue = 32).await;
    let (mut talker, _) = guest(s.addr, "talker").await;
    join(&mut talker, "#flood").await;
    let (mut reader, _) = guest(s.addr, "reader").await;
    join(&mut reader, "#flood").await;
    let mut stuck = Ws::connect_small_buffer(s.addr, "stuck").await;
    stuck
        .ok(json!({"type": "hello", "v": 1, "name": "stuck", "auto_join": false}))
        .await;
    stuck.ok(json!({"type": "join", "room": "#flood"})).await;
    // From here on `stuck` never reads. The talker and the reader read
    // as they go, a round at a time, so only `stuck` falls behind.
    let line = "y".repeat(400);
    let mut dropped = false;
    let mut rounds = 0;
    while !dropped {
        rounds += 1;
        assert!(rounds < 2000, "stuck was never dropped");
        for _ in 0..8 {
            talker
                .ok(json!({"type": "send", "to": "#flood", "text": line}))
                .await;
        }
        let seen = reader.sync().await;
        if let Some(q) = seen
            .iter()
            .find(|m| m["type"] == "quit" && m["nick"] == "stuck")
        {
            assert_eq!(q["reason"], "SendQ exceeded", "{q}");
            dropped = true;
        }
    }
    // The others carry on.
    say(&mut talker, "#flood", "after the drop").await;
    expect_text(&mut reader, "after the drop").await;
    drop(stuck);
    s.shutdown().await;
}

#[tokio::test]
async fn a_read_marker_set_on_one_device_reaches_the_others_and_the_next_login() {
    let s = start(|_| {}).await;
    make_account(s.addr, "rosa").await;
    let login =
        json!({"type": "hello", "v": 1, "name": "rosa", "password": PW, "auto_join": false});
    let (mut laptop, _) = hello(s.addr, "laptop", login.clone()).await;
    let (mut phone, _) = hello(s.addr, "phone", login.clone()).await;
    let (mut bob, _) = guest(s.addr, "bob").await;

    // Joining tells every device where reading stopped: nowhere yet.
    let (replies, _) = laptop.ok(json!({"type": "join", "room": "#mark"})).await;
    let first = replies
        .iter()
        .find(|m| m["type"] == "read_marker")
        .unwrap_or_else(|| panic!("no read_marker on joining: {replies:?}"));
    assert_eq!(
        (&first["target"], &first["msg"], &first["marker_time"]),
        (&json!("#mark"), &Value::Null, &Value::Null)
    );
    let (_, on_phone) = phone
        .expect_where("the join's marker", |m| m["type"] == "read_marker")
        .await;
    assert_eq!(on_phone["msg"], Value::Null);
    join(&mut bob, "#mark").await;
    let one = say(&mut bob, "#mark", "one").await;
    let two = say(&mut bob, "#mark", "two").await;
    expect_text(&mut laptop, "two").await;
    expect_text(&mut phone, "two").await;

    // Marked read on the laptop: the phone hears, bob does not.
    let (replies, _) = laptop
        .ok(json!({"type": "mark_read", "to": "#MARK", "msg": two["id"]}))
        .await;
    let mine = replies
        .iter()
        .find(|m| m["type"] == "read_marker")
        .unwrap_or_else(|| panic!("no read_marker: {replies:?}"))
        .clone();
    assert_eq!(
        (&mine["target"], &mine["msg"], &mine["marker_time"]),
        (&json!("#mark"), &two["id"], &two["time"])
    );
    let (_, theirs) = phone
        .expect_where("the marker", |m| m["type"] == "read_marker")
        .await;
    assert_eq!(
        (&theirs["msg"], &theirs["marker_time"]),
        (&two["id"], &two["time"])
    );
    assert!(
        bob.sync().await.iter().all(|m| m["type"] != "read_marker"),
        "a marker is nobody else's business"
    );

    // An older message changes nothing; the asker learns the kept marker.
    let (replies, _) = phone
        .ok(json!({"type": "mark_read", "to": "#mark", "msg": one["id"]}))
        .await;
    let kept: Vec<&Value> = replies
        .iter()
        .filter(|m| m["type"] == "read_marker")
        .collect();
    assert_eq!(kept.len(), 1, "{replies:?}");
    assert_eq!(kept[0]["msg"], two["id"]);
    assert!(
        laptop
            .sync()
            .await
            .iter()
            .all(|m| m["type"] != "read_marker"),
        "nothing moved, so the laptop hears nothing"
    );

    // A message of another conversation cannot be marked.
    let e = laptop
        .refused(json!({"type": "mark_read", "to": "bob", "msg": two["id"]}))
        .await;
    assert_eq!(e["code"], "no_such_message");

    // The list, and a fresh page (a new login): the rejoin says it too.
    let (replies, _) = phone.ok(json!({"type": "read_markers"})).await;
    let list = replies
        .iter()
        .find(|m| m["type"] == "read_markers")
        .expect("read_markers");
    assert_eq!(
        list["markers"],
        json!([{"target": "#mark", "msg": two["id"], "marker_time": two["time"]}])
    );
    let mut tablet = Ws::connect(s.addr, "tablet").await;
    let (replies, _) = tablet.ok(login).await;
    let at_login = replies
        .iter()
        .find(|m| m["type"] == "read_marker" && m["target"] == "#mark")
        .unwrap_or_else(|| panic!("no marker on logging in: {replies:?}"));
    assert_eq!(at_login["msg"], two["id"]);
    s.shutdown().await;
}

#[tokio::test]
async fn a_guests_read_markers_last_as_long_as_its_session() {
    let s = start(|_| {}).await;
    let (mut g, _) = guest(s.addr, "gus").await;
    join(&mut g, "#g").await;
    let hi = say(&mut g, "#g", "hi").await;
    g.ok(json!({"type": "mark_read", "to": "#g", "msg": hi["id"]}))
        .await;
    let (replies, _) = g.ok(json!({"type": "read_marker", "to": "#g"})).await;
    let m = replies
        .iter()
        .find(|m| m["type"] == "read_marker")
        .expect("read_marker");
    assert_eq!(m["msg"], hi["id"]);
    g.send(json!({"type": "quit"})).await;
    g.expect_closed().await;

    // The name again, another session: nothing kept.
    let (mut again, _) = guest(s.addr, "gus").await;
    let (replies, _) = again.ok(json!({"type": "read_markers"})).await;
    let list = replies
        .iter()
        .find(|m| m["type"] == "read_markers")
        .expect("read_markers");
    assert_eq!(list["markers"], json!([]));
    s.shutdown().await;
}
