//! The web door against other sites' pages: a WebSocket or API call from a
//! browser on another origin is refused; the server's own page, listed
//! origins and non-browser clients (no `Origin`) pass.

use std::net::SocketAddr;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{get, post};
use crate::support::{DEADLINE, start};

/// A WebSocket handshake to `/ws` with `origin`; the status line's code.
async fn ws_handshake(addr: SocketAddr, origin: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(DEADLINE, async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the response head");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a response within the deadline");
    let head = String::from_utf8_lossy(&buf);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn another_sites_page_cannot_open_a_websocket_or_call_the_api() {
    let s = start(|c| c.http.allowed_origins = vec!["https://app.example.net".into()]).await;
    let own = format!("http://{}", s.addr);

    // The attack: a page on evil.example opens the visitor's socket.
    assert_eq!(
        ws_handshake(s.addr, Some("https://evil.example")).await,
        403
    );
    assert_eq!(ws_handshake(s.addr, Some("null")).await, 403);
    let r = post(s.addr, "/api/v1/login")
        .header("Origin", "https://evil.example")
        .json(&json!({"name": "alice", "password": "whatever-it-is"}))
        .send()
        .await;
    assert_eq!(r.assert_error(403), "origin_not_allowed");
    assert!(r.text().contains("http.allowed_origins"), "{}", r.text());
    let r = get(s.addr, "/api/v1/rooms")
        .header("Origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(r.assert_error(403), "origin_not_allowed");

    // The server's own page, a listed origin, and clients that are not
    // browsers are served.
    assert_eq!(ws_handshake(s.addr, Some(&own)).await, 101);
    assert_eq!(
        ws_handshake(s.addr, Some("https://app.example.net")).await,
        101
    );
    assert_eq!(ws_handshake(s.addr, None).await, 101);
    let r = get(s.addr, "/healthz").header("Origin", &own).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    s.shutdown().await;
}

#[tokio::test]
async fn metrics_are_for_listed_addresses_or_the_admin_token() {
    const ADMIN: &str = "metrics-admin-token";
    // Loopback is listed by default.
    let s = start(|_| {}).await;
    assert_eq!(get(s.addr, "/metrics").send().await.status, 200);
    s.shutdown().await;

    let s = start(|c| {
        c.http.metrics_from = Vec::new();
        c.http.admin_token = ADMIN.to_owned();
    })
    .await;
    let r = get(s.addr, "/metrics").send().await;
    assert_eq!(r.assert_error(403), "metrics_forbidden");
    let r = get(s.addr, "/metrics").bearer("not-the-token").send().await;
    assert_eq!(r.assert_error(403), "metrics_forbidden");
    let r = get(s.addr, "/metrics").bearer(ADMIN).send().await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("confab_"), "{}", r.text());
    s.shutdown().await;
}
