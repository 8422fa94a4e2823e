//! The REST API over real sockets against a real server on real SQLite
//! files: logging in, rooms and users, sending as a token's user (seen on
//! telnet), history paging and search, admin announcements and the audit
//! log, uploads, read markers, operations endpoints, the OpenAPI document
//! and the docs page, and every kind of bad input.

#[path = "support/http.rs"]
mod http;
mod support;
#[path = "ws/client.rs"]
mod ws_client;

use std::net::SocketAddr;

use http::{get, post, raw};
use serde_json::{Value, json};
use support::{Client, TestServer, start, start_in};

const PW: &str = "correct-horse";
const ADMIN: &str = "admin-s3cret-token";

/// Logs in as a guest on the line door and registers the name.
async fn register(addr: SocketAddr, name: &str) -> Client {
    let mut c = Client::login(addr, name).await;
    c.send(&format!("/register {PW}")).await;
    c.expect(&format!("*** The name {name} is now registered to you"))
        .await;
    c
}

/// A login token for `name`.
async fn token(addr: SocketAddr, name: &str) -> String {
    let r = post(addr, "/api/v1/login")
        .json(&json!({"name": name, "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

async fn server() -> TestServer {
    start(|c| c.http.admin_token = ADMIN.to_owned()).await
}

#[tokio::test]
async fn login_gives_a_token_and_refuses_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |_| {}).await;
    let _alice = register(s.addr, "alice").await;

    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "ALICE", "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "alice", "the account's own spelling");
    let token = v["token"].as_str().unwrap().to_owned();
    let expires = v["expires_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires).unwrap() > chrono::Utc::now(),
        "{expires}"
    );
    let r = get(s.addr, "/api/v1/rooms").bearer(&token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Wrong password, unknown account, impossible name: all the same 401.
    for (name, pw) in [("alice", "wrong-horse"), ("nobody", PW), ("no body!", PW)] {
        let r = post(s.addr, "/api/v1/login")
            .json(&json!({"name": name, "password": pw}))
            .send()
            .await;
        assert_eq!(r.assert_error(401), "wrong_login");
    }
    // Missing field, wrong type: 422. Malformed JSON: 400. Not JSON: 415.
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "alice"}))
        .send()
        .await;
    assert_eq!(r.assert_error(422), "invalid_body");
    assert!(r.text().contains("password"), "{}", r.text());
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": 5, "password": PW}))
        .send()
        .await;
    r.assert_error(422);
    let r = post(s.addr, "/api/v1/login")
        .header("Content-Type", "application/json")
        .body(r#"{"name": "alice", "password": "#)
        .send()
        .await;
    assert_eq!(r.assert_error(400), "malformed_json");
    let r = post(s.addr, "/api/v1/login")
        .header("Content-Type", "text/plain")
        .body(format!(r#"{{"name":"alice","password":"{PW}"}}"#))
        .send()
        .await;
    assert_eq!(r.assert_error(415), "unsupported_media_type");
    let r = post(s.addr, "/api/v1/login").send().await;
    r.assert_error(415);
    // A body over http.max_body_bytes: 413, declared or not.
    let big = json!({"name": "alice", "password": "x".repeat(70 * 1024)});
    let r = post(s.addr, "/api/v1/login").json(&big).send().await;
    assert_eq!(r.assert_error(413), "too_large");
    let body = big.to_string();
    let chunked = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    raw(s.addr, chunked.as_bytes()).await.assert_error(413);

    // Tokens: missing, garbage, tampered, another scheme, expired.
    let r = get(s.addr, "/api/v1/rooms").send().await;
    assert_eq!(r.assert_error(401), "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for bad in [
        "garbage".to_owned(),
        format!("{token}x"),
        token.replace("alice", "bobby"),
    ] {
        get(s.addr, "/api/v1/rooms")
            .bearer(&bad)
            .send()
            .await
            .assert_error(401);
    }
    get(s.addr, "/api/v1/rooms")
        .header("Authorization", &format!("Basic {token}"))
        .send()
        .await
        .assert_error(401);
    let keys = confab_server::tokens::Tokens::load_or_create(&data).unwrap();
    let alice = confab_core::Nick::parse("alice", 20).unwrap();
    let expired = keys.issue(&alice, 0, chrono::Utc::now().timestamp_millis() - 1000);
    let r = get(s.addr, "/api/v1/users").bearer(&expired).send().await;
    r.assert_error(401);
    assert!(r.text().contains("expired"), "{}", r.text());
    // A genuine token for an account that does not exist.
    let ghost = keys.issue(
        &confab_core::Nick::parse("ghost", 20).unwrap(),
        0,
        chrono::Utc::now().timestamp_millis() + 60_000,
    );
    get(s.addr, "/api/v1/rooms")
        .bearer(&ghost)
        .send()
        .await
        .assert_error(401);
    // Nothing above broke anything.
    let r = get(s.addr, "/api/v1/rooms").bearer(&token).send().await;
    assert_eq!(r.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn rooms_and_users_with_presence() {
    let s = server().await;
    let mut alice = register(s.addr, "alice").await;
    alice.send("/join #rust").await;
    alice.expect("*** alice joined #rust").await;
    alice.send("/topic Borrowing and lending").await;
    alice.expect("Borrowing and lending").await;
    let mut bob = register(s.addr, "bob").await;
    bob.send("/quit").await;
    bob.expect_closed().await;
    let _carol = Client::login(s.addr, "carol").await;
    let t = token(s.addr, "alice").await;

    let r = get(s.addr, "/api/v1/rooms").bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rooms = r.json();
    let find = |name: &str| {
        rooms
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {rooms}"))
    };
    assert_eq!(find("#general")["members"], 2, "{rooms}");
    assert_eq!(find("#rust")["members"], 1);
    assert_eq!(find("#rust")["topic"], "Borrowing and lending");

    // An offline account can use the API too.
    let tb = token(s.addr, "bob").await;
    let r = get(s.addr, "/api/v1/users").bearer(&tb).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let users = r.json();
    let user = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {users}"))
    };
    assert_eq!(user("alice")["online"], true, "{users}");
    assert_eq!(user("alice")["last_seen"], Value::Null);
    assert_eq!(user("carol")["online"], true);
    assert_eq!(user("bob")["online"], false);
    let seen = user("bob")["last_seen"].as_str().unwrap().to_owned();
    let seen = chrono::DateTime::parse_from_rfc3339(&seen).unwrap();
    let age = chrono::Utc::now().signed_duration_since(seen);
    assert!(age.num_seconds().abs() < 60, "{seen}");
    s.shutdown().await;
}

#[tokio::test]
async fn messages_sent_over_rest_reach_telnet() {
    let s = server().await;
    let _alice = register(s.addr, "alice").await;
    let mut carol = Client::login(s.addr, "carol").await;
    let t = token(s.addr, "alice").await;

    let r = post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&t)
        .json(&json!({"text": "hello from the web"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let m = r.json();
    assert_eq!(m["from"], "alice");
    assert_eq!(m["target"], "#general");
    assert_eq!(m["kind"], "say");
    assert_eq!(m["text"], "hello from the web");
    assert!(m["id"].as_u64().is_some(), "{m}");
    assert!(m["time"].as_str().unwrap().ends_with('Z'), "{m}");
    carol.expect("#general <alice> hello from the web").await;

    let r = post(s.addr, "/api/v1/rooms/%23general/messages")
        .bearer(&t)
        .json(&json!({"text": "waves", "kind": "action"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    carol.expect("alice waves").await;

    let r = post(s.addr, "/api/v1/users/carol/messages")
        .bearer(&t)
        .json(&json!({"text": "psst"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["target"], "carol");
    carol.expect("[private] alice -> carol: psst").await;

    // Refusals, each with its status.
    let addr = s.addr;
    let send = |path: &'static str, body: Value| {
        let t = t.clone();
        async move { post(addr, path).bearer(&t).json(&body).send().await }
    };
    send("/api/v1/rooms/nowhere/messages", json!({"text": "x"}))
        .await
        .assert_error(404);
    send("/api/v1/rooms/bad%20room/messages", json!({"text": "x"}))
        .await
        .assert_error(404);
    send("/api/v1/users/nobody/messages", json!({"text": "x"}))
        .await
        .assert_error(404);
    send("/api/v1/rooms/general/messages", json!({"text": "   "}))
        .await
        .assert_error(422);
    for text in ["a\u{1b}[2Jb", "two\nlines", "trailing newline\n", "\u{85}"] {
        send("/api/v1/rooms/general/messages", json!({ "text": text }))
            .await
            .assert_error(422);
    }
    send("/api/v1/rooms/general/messages", json!({"kind": "say"}))
        .await
        .assert_error(422);
    send(
        "/api/v1/rooms/general/messages",
        json!({"text": "x", "kind": "shout"}),
    )
    .await
    .assert_error(422);
    send(
        "/api/v1/rooms/general/messages",
        json!({"text": "x".repeat(5000)}),
    )
    .await
    .assert_error(422);
    // A room alice is not in.
    carol.send("/join #quiet").await;
    carol.expect("*** carol joined #quiet").await;
    let code = send("/api/v1/rooms/quiet/messages", json!({"text": "x"}))
        .await
        .assert_error(403);
    assert_eq!(code, "not_in_room");
    // Carol saw none of the refused ones.
    let r = post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&t)
        .json(&json!({"text": "still here"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    carol
        .expect_without("#general <alice> still here", "<alice> x")
        .await;
    s.shutdown().await;
}

#[tokio::test]
async fn history_pages_both_ways_and_search_finds_words() {
    let s = server().await;
    let _alice = register(s.addr, "alice").await;
    let t = token(s.addr, "alice").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let word = if i % 5 == 0 { " zebra" } else { "" };
        let r = post(s.addr, "/api/v1/rooms/general/messages")
            .bearer(&t)
            .json(&json!({"text": format!("message {i}{word}")}))
            .send()
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["id"].as_u64().unwrap());
    }
    let addr = s.addr;
    let page = |query: String| {
        let t = t.clone();
        async move {
            let r = get(addr, &format!("/api/v1/rooms/general/messages{query}"))
                .bearer(&t)
                .send()
                .await;
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            let v = r.json();
            let got: Vec<u64> = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_u64().unwrap())
                .collect();
            (got, v["has_more"].as_bool().unwrap())
        }
    };
    // Back from the latest, ten at a time.
    let (p1, more1) = page("?limit=10".into()).await;
    assert_eq!(p1, ids[15..25], "latest ten, oldest first");
    assert!(more1);
    let (p2, more2) = page(format!("?limit=10&before={}", p1[0])).await;
    assert_eq!(p2, ids[5..15]);
    assert!(more2);
    let (p3, more3) = page(format!("?limit=10&before={}", p2[0])).await;
    assert_eq!(p3, ids[0..5]);
    assert!(!more3);
    let mut all: Vec<u64> = [p3, p2, p1].concat();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "no duplicates");
    assert_eq!(all, ids, "no gaps, in order");
    // Forward from an id.
    let (f1, fmore1) = page(format!("?after={}&limit=10", ids[4])).await;
    assert_eq!(f1, ids[5..15]);
    assert!(fmore1);
    let (f2, fmore2) = page(format!("?after={}&limit=10", f1[9])).await;
    assert_eq!(f2, ids[15..25]);
    assert!(!fmore2);
    // Between two ids; the default page; the room with its '#'.
    let (b, _) = page(format!("?after={}&before={}", ids[10], ids[13])).await;
    assert_eq!(b, ids[11..13]);
    let r = get(s.addr, "/api/v1/rooms/%23general/messages")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.json()["messages"].as_array().unwrap().len(), 25);
    // The texts are there.
    let r = get(
        s.addr,
        &format!("/api/v1/rooms/general/messages?after={}&limit=1", ids[6]),
    )
    .bearer(&t)
    .send()
    .await;
    assert_eq!(r.json()["messages"][0]["text"], "message 7");

    // Search.
    let r = get(s.addr, "/api/v1/rooms/general/search?q=ZEBRA")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let found: Vec<String> = r.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found.len(), 5, "{found:?}");
    assert!(found.iter().all(|t| t.contains("zebra")), "{found:?}");
    assert!(found.contains(&"message 20 zebra".to_owned()), "{found:?}");
    let r = get(s.addr, "/api/v1/rooms/general/search?q=message%2015")
        .bearer(&t)
        .send()
        .await;
    let v = r.json();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    let r = get(s.addr, "/api/v1/rooms/general/search?q=zebra&limit=2")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.json()["messages"].as_array().unwrap().len(), 2);
    // A query without words finds nothing; punctuation is not syntax.
    for q in ["%21%21%21", "%22", "a*%20OR%20(b", "NEAR"] {
        let r = get(s.addr, &format!("/api/v1/rooms/general/search?q={q}"))
            .bearer(&t)
            .send()
            .await;
        assert_eq!(r.status, 200, "{q}: {}", r.text());
    }

    // Bad queries and rooms.
    for bad in [
        "/api/v1/rooms/general/messages?limit=0",
        "/api/v1/rooms/general/messages?limit=101",
        "/api/v1/rooms/general/messages?limit=ten",
        "/api/v1/rooms/general/messages?before=-1",
        "/api/v1/rooms/general/messages?before=9223372036854775808",
        "/api/v1/rooms/general/search",
        "/api/v1/rooms/general/search?q=x&limit=0",
        "/api/v1/rooms/%ff/messages",
    ] {
        let r = get(s.addr, bad).bearer(&t).send().await;
        r.assert_error(400);
    }
    get(s.addr, "/api/v1/rooms/nowhere/messages")
        .bearer(&t)
        .send()
        .await
        .assert_error(404);
    get(s.addr, "/api/v1/rooms/nowhere/search?q=x")
        .bearer(&t)
        .send()
        .await
        .assert_error(404);
    get(s.addr, "/api/v1/rooms/general/messages")
        .send()
        .await
        .assert_error(401);
    s.shutdown().await;
}

#[tokio::test]
async fn admin_announces_and_queries_the_audit_log() {
    let s = server().await;
    let _alice = register(s.addr, "alice").await;
    let mut carol = Client::login(s.addr, "carol").await;
    let t = token(s.addr, "alice").await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    let r = post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&t)
        .json(&json!({"text": "for the record"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    carol.expect("<alice> for the record").await;

    let addr = s.addr;
    let announce = |token: Option<&'static str>| async move {
        let mut req =
            post(addr, "/api/v1/admin/announcements").json(&json!({"text": "Maintenance at noon"}));
        if let Some(tok) = token {
            req = req.bearer(tok);
        }
        req.send().await
    };
    announce(None).await.assert_error(401);
    announce(Some("not-the-token")).await.assert_error(401);
    // A user's token is not the admin's.
    post(s.addr, "/api/v1/admin/announcements")
        .bearer(&t)
        .json(&json!({"text": "x"}))
        .send()
        .await
        .assert_error(401);
    post(s.addr, "/api/v1/admin/announcements")
        .bearer(ADMIN)
        .json(&json!({"text": ""}))
        .send()
        .await
        .assert_error(422);
    let r = announce(Some(ADMIN)).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.json()["sessions"].as_u64().unwrap() >= 2, "{}", r.text());
    carol
        .expect_without("*** Announcement: Maintenance at noon", "<alice> x")
        .await;

    let audit = |query: String| async move {
        let r = get(addr, &format!("/api/v1/admin/audit{query}"))
            .bearer(ADMIN)
            .send()
            .await;
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        r.json()
    };
    let v = audit("?kind=message&user=ALICE".into()).await;
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["text"], "for the record");
    assert_eq!(entries[0]["from"], "alice");
    let v = audit("?kind=login&user=alice".into()).await;
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "alice" && e["ok"] == true),
        "{v}"
    );
    let v = audit("?kind=announce".into()).await;
    assert_eq!(v["entries"][0]["text"], "Maintenance at noon", "{v}");
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let later = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let v = audit(format!("?kind=message&since={since}&until={later}")).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1, "{v}");
    let v = audit(format!("?since={later}")).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 0, "{v}");
    let v = audit(format!("?until={}", since.replace('+', "%2B"))).await;
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "message"),
        "{v}"
    );
    let v = audit("?limit=2".into()).await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["truncated"], true);
    for bad in ["?since=yesterday", "?limit=0", "?limit=1001", "?limit=x"] {
        get(s.addr, &format!("/api/v1/admin/audit{bad}"))
            .bearer(ADMIN)
            .send()
            .await
            .assert_error(400);
    }
    get(s.addr, "/api/v1/admin/audit")
        .bearer(&t)
        .send()
        .await
        .assert_error(401);
    s.shutdown().await;

    // Without an admin token configured, the endpoints are disabled.
    let s = start(|_| {}).await;
    let r = post(s.addr, "/api/v1/admin/announcements")
        .bearer("")
        .json(&json!({"text": "x"}))
        .send()
        .await;
    assert_eq!(r.assert_error(403), "admin_disabled");
    get(s.addr, "/api/v1/admin/audit")
        .bearer("anything")
        .send()
        .await
        .assert_error(403);
    s.shutdown().await;
}

/// The smallest PNG: 1x1, transparent.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[tokio::test]
async fn uploads_round_trip_safely() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |c| {
        c.http.max_upload_bytes = 4096;
        c.http.public_url = "https://chat.example.org/".into();
    })
    .await;
    let _alice = register(s.addr, "alice").await;
    let mut carol = Client::login(s.addr, "carol").await;
    let t = token(s.addr, "alice").await;
    let addr = s.addr;
    let upload = |name: &'static str, ctype: &'static str, body: Vec<u8>| {
        let t = t.clone();
        async move {
            post(addr, &format!("/api/v1/uploads?name={name}"))
                .bearer(&t)
                .header("Content-Type", ctype)
                .body(body)
                .send()
                .await
        }
    };

    // A PNG, whatever the client says it is: served as a PNG, inline.
    let r = upload("dot.png", "application/x-whatever", PNG.to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let info = r.json();
    assert_eq!(info["content_type"], "image/png");
    assert_eq!(info["name"], "dot.png");
    assert_eq!(info["size"], PNG.len());
    let id = info["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(
        info["url"],
        format!("https://chat.example.org/api/v1/uploads/{id}")
    );
    let r = get(s.addr, &format!("/api/v1/uploads/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, PNG);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("inline; filename=\"dot.png\""),
        "{:?}",
        r.headers
    );

    // HTML and SVG never come back as such, and never inline.
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    for (name, ctype, body) in [
        ("page.html", "text/html", html.clone()),
        ("pic.png", "image/png", html),
        ("pic.svg", "image/svg+xml", svg),
    ] {
        let r = upload(name, ctype, body.clone()).await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(
            r.json()["content_type"],
            "application/octet-stream",
            "{name}"
        );
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let r = get(s.addr, &format!("/api/v1/uploads/{id}")).send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, body);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(
            r.header("content-security-policy"),
            Some("default-src 'none'; sandbox")
        );
        assert!(
            r.header("content-disposition")
                .unwrap()
                .starts_with("attachment; "),
            "{name}: {:?}",
            r.headers
        );
    }
    // Plain text keeps its type, as an attachment.
    let r = upload(
        "notes.txt",
        "text/plain; charset=utf-8",
        b"just text".to_vec(),
    )
    .await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let r = get(s.addr, &format!("/api/v1/uploads/{id}")).send().await;
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );

    // Names are reduced to safe base names; files stay in the uploads dir.
    let r = upload("..%2F..%2Fetc%2Fpasswd", "text/plain", b"root:x".to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["name"], "passwd");
    let r = upload("..%5C..%5Cevil%0D%0A.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!(r.json()["name"], "evil.txt");
    let r = upload("..", "text/plain", b"x".to_vec()).await;
    assert_eq!(r.json()["name"], "upload");
    assert!(!dir.path().join("etc").exists());
    let stored: Vec<String> = std::fs::read_dir(data.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        stored.iter().all(|n| {
            let id = n.strip_suffix(".json").unwrap_or(n);
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
        }),
        "{stored:?}"
    );
    assert_eq!(stored.len(), 2 * 8, "{stored:?}");

    // Too big: 413, declared or chunked; nothing stored.
    let r = upload("big.bin", "application/octet-stream", vec![7u8; 5000]).await;
    assert_eq!(r.assert_error(413), "too_large");
    let body = vec![b'a'; 5000];
    let mut req = format!(
        "POST /api/v1/uploads?name=big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    raw(s.addr, &req).await.assert_error(413);
    assert_eq!(std::fs::read_dir(data.join("uploads")).unwrap().count(), 16);
    // Exactly the limit is fine.
    let r = upload("edge.bin", "application/octet-stream", vec![1u8; 4096]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // No token, no upload.
    post(s.addr, "/api/v1/uploads")
        .body(PNG.to_vec())
        .send()
        .await
        .assert_error(401);

    // Ids that are not ours: 404, whatever they try.
    for path in [
        "/api/v1/uploads/../../etc/passwd",
        "/api/v1/uploads/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/uploads/%2e%2e",
        "/api/v1/uploads/0123456789abcdef0123456789abcdef",
        "/api/v1/uploads/0123456789ABCDEF0123456789ABCDEF",
        "/api/v1/uploads/x",
    ] {
        let r = raw(
            s.addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        r.assert_error(404);
    }

    // A message can carry an upload: every door sees its link.
    let r = post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&t)
        .json(&json!({"text": "look", "upload": id}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let link = format!("https://chat.example.org/api/v1/uploads/{id}");
    assert_eq!(r.json()["text"], format!("look {link}"));
    carol.expect(&format!("<alice> look {link}")).await;
    // The text is still required; an id that is not an upload is not found.
    let r = post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&t)
        .json(&json!({"text": "", "upload": id}))
        .send()
        .await;
    assert_eq!(r.assert_error(422), "bad_text");
    for bad in ["0123456789abcdef0123456789abcdef", "../token.key"] {
        let r = post(s.addr, "/api/v1/rooms/general/messages")
            .bearer(&t)
            .json(&json!({"text": "look", "upload": bad}))
            .send()
            .await;
        assert_eq!(r.assert_error(404), "unknown_upload");
    }
    // An empty body is no upload.
    let r = post(s.addr, "/api/v1/uploads?name=empty")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.assert_error(400), "empty_upload");
    s.shutdown().await;
}

/// `DELETE path` with `token`.
async fn delete(addr: SocketAddr, path: &str, token: Option<&str>) -> http::Response {
    let r = http::Request::new(addr, "DELETE", path);
    match token {
        Some(t) => r.bearer(t),
        None => r,
    }
    .send()
    .await
}

/// The names in the uploads dir, sorted.
fn stored(data: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// An upload of `body` as `token`'s user, with its length declared.
async fn upload(addr: SocketAddr, token: &str, body: Vec<u8>) -> http::Response {
    post(addr, "/api/v1/uploads?name=f.bin")
        .bearer(token)
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .send()
        .await
}

/// An upload of `body` as one chunk of a chunked body (no length declared).
async fn upload_chunked(addr: SocketAddr, token: &str, body: &[u8]) -> http::Response {
    let mut req = format!(
        "POST /api/v1/uploads?name=c.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    raw(addr, &req).await
}

#[tokio::test]
async fn uploads_have_a_quota_a_rate_and_are_deleted_by_their_uploader_or_the_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tweak = |c: &mut confab_server::Config| {
        c.http.admin_token = ADMIN.to_owned();
        c.http.max_upload_bytes = 4096;
        c.http.upload_quota_bytes = 10_000;
        c.http.uploads_per_hour = 5;
    };
    let s = start_in(&data, tweak).await;
    let _alice = register(s.addr, "alice").await;
    let _bob = register(s.addr, "bob").await;
    let alice = token(s.addr, "alice").await;
    let bob = token(s.addr, "bob").await;

    // The quota: 4000 + 4000 fit in 10 000; 4000 more do not, whether
    // declared (refused before reading) or chunked (cut while streaming).
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = upload(s.addr, &alice, vec![1u8; 4000]).await;
        assert_eq!(r.status, 201, "{}", r.text());
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let r = upload(s.addr, &alice, vec![2u8; 4000]).await;
    assert_eq!(r.assert_error(413), "quota_exceeded");
    assert!(r.text().contains("10000"), "{}", r.text());
    let r = upload_chunked(s.addr, &alice, &[3u8; 3000]).await;
    assert_eq!(r.assert_error(413), "quota_exceeded");
    assert_eq!(stored(&data).len(), 4, "nothing kept of refused uploads");
    // Someone else's quota is their own.
    let r = upload(s.addr, &bob, vec![4u8; 4000]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let bobs = r.json()["id"].as_str().unwrap().to_owned();

    // Delete: not by someone else, nor without a token; unknown is 404.
    let path = format!("/api/v1/uploads/{}", ids[0]);
    assert_eq!(
        delete(s.addr, &path, Some(&bob)).await.assert_error(403),
        "forbidden"
    );
    delete(s.addr, &path, None).await.assert_error(401);
    delete(s.addr, &path, Some("not-a-token"))
        .await
        .assert_error(401);
    let unknown = "/api/v1/uploads/0123456789abcdef0123456789abcdef";
    assert_eq!(
        delete(s.addr, unknown, Some(&alice))
            .await
            .assert_error(404),
        "no_such_upload"
    );
    delete(s.addr, "/api/v1/uploads/..%2Ftoken.key", Some(ADMIN))
        .await
        .assert_error(404);
    assert_eq!(get(s.addr, &path).send().await.status, 200);
    // By its uploader: gone, and its bytes no longer count.
    let r = delete(s.addr, &path, Some(&alice)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(r.body.is_empty());
    get(s.addr, &path).send().await.assert_error(404);
    delete(s.addr, &path, Some(&alice)).await.assert_error(404);
    assert!(!stored(&data).iter().any(|n| n.starts_with(&ids[0])));
    let r = upload(s.addr, &alice, vec![5u8; 4000]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // By the admin: anyone's.
    let r = delete(s.addr, &format!("/api/v1/uploads/{bobs}"), Some(ADMIN)).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(stored(&data).len(), 4, "alice's two uploads");

    // The rate: alice started 5 uploads this hour (refused before reading
    // does not count, cut while streaming does); the 6th waits.
    let r = upload(s.addr, &alice, b"five".to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = upload(s.addr, &alice, b"six".to_vec()).await;
    assert_eq!(r.assert_error(429), "too_many_uploads");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&wait), "{wait}");
    // Bob is not held up by alice.
    let r = upload(s.addr, &bob, b"bob".to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    s.shutdown().await;

    // After a restart, usage is counted again from the sidecars: alice
    // keeps 8004 bytes (1996 left) and started 3 of her kept uploads
    // this hour.
    let s = start_in(&data, tweak).await;
    let alice = token(s.addr, "alice").await;
    let r = upload(s.addr, &alice, vec![6u8; 2000]).await;
    assert_eq!(r.assert_error(413), "quota_exceeded");
    let r = upload(s.addr, &alice, vec![6u8; 1995]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = upload(s.addr, &alice, b"x".to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = upload(s.addr, &alice, b"y".to_vec()).await;
    assert_eq!(r.assert_error(429), "too_many_uploads");
    s.shutdown().await;
}

#[tokio::test]
async fn uploads_stop_above_the_free_disk_floor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A floor larger than any disk's free space.
    let s = start_in(&data, |c| c.http.upload_min_free_bytes = u64::MAX / 2).await;
    let _alice = register(s.addr, "alice").await;
    let t = token(s.addr, "alice").await;
    let r = upload(s.addr, &t, PNG.to_vec()).await;
    assert_eq!(r.assert_error(507), "disk_full");
    let r = upload_chunked(s.addr, &t, PNG).await;
    assert_eq!(r.assert_error(507), "disk_full");
    assert!(stored(&data).is_empty(), "{:?}", stored(&data));
    s.shutdown().await;

    // With a floor the disk clears, the same upload is stored.
    let s = start_in(&data, |c| c.http.upload_min_free_bytes = 1024).await;
    let t = token(s.addr, "alice").await;
    let r = upload(s.addr, &t, PNG.to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    s.shutdown().await;
}

/// Polls `check` until it holds, for up to the deadline.
async fn eventually(what: &str, check: impl FnMut() -> bool) {
    assert!(
        support::poll_until(http::DEADLINE, check).await,
        "never: {what}"
    );
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_nothing_and_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |c| {
        c.http.max_upload_bytes = 200_000;
        c.http.upload_quota_bytes = 200_000;
    })
    .await;
    let _alice = register(s.addr, "alice").await;
    let t = token(s.addr, "alice").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data.join("uploads")), 0o700);

    // Half of a declared 200 000 bytes, then the client goes away.
    let mut sock = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/uploads?name=half.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Content-Length: 200000\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&[9u8; 100_000]).await.unwrap();
    // What arrived is on disk already, in a temporary file only its owner
    // may read.
    let uploads = data.join("uploads");
    eventually("the first half written to a temporary file", || {
        stored(&data).iter().any(|n| {
            n.ends_with(".tmp")
                && std::fs::metadata(uploads.join(n)).is_ok_and(|m| m.len() == 100_000)
        })
    })
    .await;
    let tmp = stored(&data).pop().unwrap();
    assert_eq!(mode(&uploads.join(&tmp)), 0o600, "{tmp}");
    drop(sock);
    eventually("nothing left of the cut upload", || {
        stored(&data).is_empty()
    })
    .await;

    // Its bytes were given back: the whole quota is there for one upload.
    let r = upload(s.addr, &t, vec![7u8; 200_000]).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(stored(&data), [id.clone(), format!("{id}.json")]);
    for name in stored(&data) {
        assert_eq!(mode(&uploads.join(&name)), 0o600, "{name}");
    }
    assert_eq!(mode(&uploads), 0o700);
    let r = get(s.addr, &format!("/api/v1/uploads/{id}")).send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("200000"));
    assert_eq!(r.body, vec![7u8; 200_000]);
    s.shutdown().await;
}

#[tokio::test]
async fn uploads_serve_byte_ranges() {
    let s = start(|_| {}).await;
    let _alice = register(s.addr, "alice").await;
    let t = token(s.addr, "alice").await;
    let body: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let r = upload(s.addr, &t, body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/uploads/{id}");
    let etag = format!("\"{id}\"");

    let r = get(s.addr, &path).send().await;
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    for (range, first, last) in [
        ("bytes=0-9", 0, 9),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=500-5000", 500, 999),
    ] {
        let r = get(s.addr, &path).header("Range", range).send().await;
        assert_eq!(r.status, 206, "{range}: {}", r.text());
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/1000").as_str())
        );
        assert_eq!(r.body, &body[first..=last], "{range}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // With a matching If-Range the range holds; with another, the whole file.
    let r = get(s.addr, &path)
        .header("Range", "bytes=1-2")
        .header("If-Range", &etag)
        .send()
        .await;
    assert_eq!((r.status, r.body.as_slice()), (206, &body[1..=2]));
    let r = get(s.addr, &path)
        .header("Range", "bytes=1-2")
        .header("If-Range", "\"something-else\"")
        .send()
        .await;
    assert_eq!((r.status, r.body.len()), (200, 1000));
    // Several ranges, or nonsense: the whole file.
    for range in ["bytes=0-1,5-6", "bytes=abc", "pages=1-2"] {
        let r = get(s.addr, &path).header("Range", range).send().await;
        assert_eq!((r.status, r.body.len()), (200, 1000), "{range}");
    }
    // Past the end: 416, with the length.
    let r = get(s.addr, &path)
        .header("Range", "bytes=1000-")
        .send()
        .await;
    assert_eq!(r.assert_error(416), "range_not_satisfiable");
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    s.shutdown().await;
}

#[tokio::test]
async fn operations_endpoints_spec_and_docs() {
    let s = server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.say("#general", "counted").await;

    let r = get(s.addr, "/healthz").send().await;
    assert_eq!((r.status, r.text().trim()), (200, "ok"));
    let r = get(s.addr, "/readyz").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ready");

    let r = get(s.addr, "/metrics").send().await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    use confab_server::metrics as m;
    for name in [
        m::CONNECTIONS_OPEN,
        m::CONNECTIONS_TOTAL,
        m::MESSAGES,
        m::MESSAGE_DELIVERIES,
        m::DELIVERIES,
        m::STORE_COMMIT_SECONDS,
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(text.contains(r#"door="line""#), "{text}");

    // The OpenAPI document.
    let r = get(s.addr, "/api/openapi.json").send().await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/login",
        "/api/v1/rooms",
        "/api/v1/rooms/{room}/messages",
        "/api/v1/rooms/{room}/search",
        "/api/v1/users",
        "/api/v1/users/{name}/messages",
        "/api/v1/uploads",
        "/api/v1/uploads/{id}",
        "/api/v1/admin/announcements",
        "/api/v1/admin/audit",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} not in {:?}", paths.keys());
    }
    assert!(paths["/api/v1/rooms/{room}/messages"]["post"].is_object());
    assert!(paths["/api/v1/rooms/{room}/messages"]["get"].is_object());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["token"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["admin"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["ErrorResponse"].is_object());

    // The docs page and every asset it loads come from this server.
    let r = get(s.addr, "/docs").send().await;
    assert!(matches!(r.status, 301..=308), "{}", r.status);
    assert_eq!(r.header("location"), Some("/docs/"));
    let r = get(s.addr, "/docs/").send().await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(
        html.contains("<html") || html.contains("<!DOCTYPE"),
        "{html}"
    );
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(
                !url.starts_with("http:") && !url.starts_with("https:") && !url.starts_with("//"),
                "remote asset {url}"
            );
            assets.push(url.trim_start_matches("./").to_owned());
        }
    }
    assert!(!assets.is_empty(), "{html}");
    for asset in &assets {
        let r = get(s.addr, &format!("/docs/{asset}")).send().await;
        assert_eq!(r.status, 200, "/docs/{asset}");
        let text = r.text();
        assert!(
            !text.contains("https://unpkg.com"),
            "{asset} loads from a CDN"
        );
    }
    let r = get(s.addr, "/docs/swagger-initializer.js").send().await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("/api/openapi.json"), "{}", r.text());

    // Errors elsewhere are JSON too.
    get(s.addr, "/nowhere").send().await.assert_error(404);
    get(s.addr, "/api/v1/nowhere")
        .send()
        .await
        .assert_error(404);
    let r = http::Request::new(s.addr, "DELETE", "/api/v1/rooms")
        .send()
        .await;
    assert_eq!(r.assert_error(405), "method_not_allowed");
    s.shutdown().await;
}

#[tokio::test]
async fn read_markers_set_on_a_websocket_are_read_over_rest() {
    let s = server().await;
    let mut alice = register(s.addr, "alice").await;
    alice.send("/join #Marks").await;
    alice.expect("*** alice joined #Marks").await;
    let t = token(s.addr, "alice").await;

    // Nothing marked yet.
    let r = get(s.addr, "/api/v1/read-markers").bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([]));
    let r = get(s.addr, "/api/v1/read-markers/%23marks")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"target": "#Marks", "msg": null, "marker_time": null})
    );

    let r = post(s.addr, "/api/v1/rooms/Marks/messages")
        .bearer(&t)
        .json(&json!({"text": "read me"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sent = r.json();
    let (mut web, _) = ws_client::hello(
        s.addr,
        "web",
        json!({"type": "hello", "v": 1, "name": "alice", "password": PW, "auto_join": false}),
    )
    .await;
    web.ok(json!({"type": "mark_read", "to": "#marks", "msg": sent["id"]}))
        .await;
    let marked = json!({"target": "#Marks", "msg": sent["id"], "marker_time": sent["time"]});
    let r = get(s.addr, "/api/v1/read-markers").bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([marked]));
    let r = get(s.addr, "/api/v1/read-markers/%23MARKS")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.json(), marked);
    // The private conversation with bob: nothing marked there.
    let r = get(s.addr, "/api/v1/read-markers/Bob")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"target": "Bob", "msg": null, "marker_time": null})
    );

    // Not a name at all; no token.
    for bad in ["%23a%20b", "1nick", "%40%40"] {
        let r = get(s.addr, &format!("/api/v1/read-markers/{bad}"))
            .bearer(&t)
            .send()
            .await;
        assert_eq!(r.assert_error(404), "no_such_target", "{bad}");
    }
    let r = get(s.addr, "/api/v1/read-markers").send().await;
    r.assert_error(401);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_explained_in_plain_words() {
    let s = server().await;
    let _alice = register(s.addr, "alice").await;
    let token = token(s.addr, "alice").await;
    let cases = [
        (
            "/api/v1/rooms/%23general/messages?limit=ten",
            "the query parameter limit must be a number",
        ),
        (
            "/api/v1/rooms/%23general/messages?limit=99999999999999999999999",
            "the query parameter limit is too large",
        ),
        (
            "/api/v1/rooms/%23general/search",
            "the query parameter q is missing",
        ),
    ];
    for (path, said) in cases {
        let r = get(s.addr, path).bearer(&token).send().await;
        assert_eq!(r.assert_error(400), "bad_query", "{path}");
        assert_eq!(r.json()["error"]["message"], said, "{path}");
    }
    let r = post(s.addr, "/api/v1/rooms/%23general/messages")
        .bearer(&token)
        .json(&json!({"text": 5}))
        .send()
        .await;
    assert_eq!(r.assert_error(422), "invalid_body");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(message, "the field text must be a string, not integer `5`");
    s.shutdown().await;
}

#[tokio::test]
async fn websocket_handshakes_are_checked_and_refused_in_json() {
    let s = server().await;
    // A browser (or curl) asking for the page that is a socket.
    let r = get(s.addr, "/ws").send().await;
    assert_eq!(r.assert_error(426), "not_websocket");
    assert_eq!(r.header("upgrade"), Some("websocket"));
    let handshake = |version: &'static str| {
        get(s.addr, "/ws")
            .header("Connection", "keep-alive, Upgrade")
            .header("Upgrade", "WebSocket")
            .header("Sec-WebSocket-Version", version)
    };
    let r = handshake("8")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await;
    assert_eq!(r.assert_error(426), "bad_websocket_version");
    assert_eq!(r.header("sec-websocket-version"), Some("13"));
    let r = handshake("13").send().await;
    assert_eq!(r.assert_error(400), "bad_request");
    // The handshake of RFC 6455's example, answered with its accept key
    // and the first protocol offered that the server speaks.
    let mut raw_ws = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = handshake("13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header(
            "Sec-WebSocket-Protocol",
            "chat.example, confab.v1, text.ircv3.net",
        )
        .to_bytes();
    tokio::io::AsyncWriteExt::write_all(&mut raw_ws, &req)
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(http::DEADLINE, async {
            tokio::io::AsyncReadExt::read(&mut raw_ws, &mut byte).await
        })
        .await
        .expect("an answer within the deadline")
        .unwrap();
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let r = http::parse(&head);
    assert_eq!(r.status, 101, "{}", String::from_utf8_lossy(&head));
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(r.header("sec-websocket-protocol"), Some("confab.v1"));
    drop(raw_ws);
    s.shutdown().await;
}
