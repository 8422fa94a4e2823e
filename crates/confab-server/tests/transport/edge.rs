//! The server's edge over real sockets: refusals at the connection limits
//! in the client's own protocol, and the real client's address behind a
//! trusted proxy (the PROXY protocol v1 and v2, `X-Forwarded-For`,
//! `Forwarded`) reaching the per-address limit and the audit log, while
//! the same words from anyone else are ignored or refused.

use std::net::SocketAddr;
use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use confab_server::Config;
use confab_server::config::{ListenerConfig, Protocol};

use super::{DEADLINE, Lines, start};

/// Everything a connection says until the server closes it.
async fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    timeout(DEADLINE, s.read_to_end(&mut out))
        .await
        .expect("the server closes within the deadline")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the audit log in `data` has a line containing `needle`.
async fn audit_shows(data: &Path, needle: &str) {
    let path = data.join(Config::default().audit.path);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.lines().any(|l| l.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the audit log:\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A line door login that opens with `header` (a PROXY protocol header).
async fn line_behind_proxy(addr: SocketAddr, header: &[u8], name: &str) -> Lines<TcpStream> {
    let mut c = Lines::new(TcpStream::connect(addr).await.unwrap(), name);
    c.send_raw(header).await;
    c.login(name).await;
    c
}

/// A PROXY protocol v2 header naming `client` (to a server address of
/// the same family).
fn v2_header(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    let server: SocketAddr = if client.is_ipv4() {
        "127.0.0.1:7001".parse().unwrap()
    } else {
        "[::1]:7001".parse().unwrap()
    };
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (client, server),
    )
    .build()
    .unwrap()
}

/// A listener that expects the PROXY protocol, detecting the protocol
/// behind it.
fn proxy_listener() -> ListenerConfig {
    ListenerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        protocol: Protocol::Auto,
        tls: false,
        proxy_protocol: true,
    }
}

#[tokio::test]
async fn refusals_at_the_connection_limit_speak_the_clients_protocol() {
    let s = start(|c, _| c.limits.max_connections_per_ip = 1).await;
    let mut first = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "first");
    first.login("first").await;

    // HTTP: 503, the REST error shape, Retry-After.
    let mut http = TcpStream::connect(s.addr()).await.unwrap();
    http.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(http).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole response");
    assert!(head.starts_with("HTTP/1.1 503 "), "{answer}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\nretry-after: "), "{answer}");
    assert!(
        head.contains("\r\ncontent-type: application/json"),
        "{answer}"
    );
    let body: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many connections from your address"),
        "{body}"
    );

    // IRC: ERROR.
    let mut irc = TcpStream::connect(s.addr()).await.unwrap();
    irc.write_all(b"CAP LS 302\r\nNICK bob\r\nUSER bob 0 * :Bob\r\n")
        .await
        .unwrap();
    let answer = read_all(irc).await;
    assert!(
        answer.starts_with(
            "ERROR :Closing Link: * (too many connections from your address; try again later)\r\n"
        ),
        "{answer:?}"
    );

    // The line protocol (a silent telnet user): its text.
    let answer = read_all(TcpStream::connect(s.addr()).await.unwrap()).await;
    assert_eq!(
        answer,
        "*** Error: too many connections from your address; try again later\r\n"
    );

    drop(first);
    s.shutdown().await;
}

#[tokio::test]
async fn refusals_in_tls_are_a_tls_alert_without_a_handshake() {
    let s = start(|c, _| {
        c.tls.self_signed = true;
        c.limits.max_connections_per_ip = 1;
    })
    .await;
    let mut first = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "first");
    first.login("first").await;
    let connector = super::connector(&[&s.self_signed_pem()]);
    let err = super::try_tls(s.addr(), &connector)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("InternalError"), "{err}");
    drop(first);
    s.shutdown().await;
}

#[tokio::test]
async fn proxy_protocol_from_a_trusted_proxy_names_the_client() {
    let s = start(|c, _| {
        c.proxy.trusted = vec!["127.0.0.1".into()];
        c.listeners = vec![proxy_listener()];
        c.limits.max_connections_per_ip = 1;
    })
    .await;
    let proxied = s.addrs[1];

    // v1 and v2: the audit log has the client's address, not the proxy's.
    let v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 4711 7001\r\n";
    let alice = line_behind_proxy(proxied, v1, "alice").await;
    audit_shows(&s.data, "\"peer\":\"203.0.113.7:4711\"").await;
    let bob = line_behind_proxy(proxied, &v2_header("198.51.100.9:5000"), "bob").await;
    audit_shows(&s.data, "\"peer\":\"198.51.100.9:5000\"").await;

    // IRC behind it too, in the same segment as the header.
    let mut irc = Lines::new(TcpStream::connect(proxied).await.unwrap(), "irc");
    let mut first = v2_header("[2001:db8::5]:6000");
    first.extend_from_slice(b"NICK carol\r\nUSER carol 0 * :Carol\r\n");
    irc.send_raw(&first).await;
    irc.expect(" 001 carol ").await;
    audit_shows(&s.data, "\"peer\":\"[2001:db8::5]:6000\"").await;

    // The per-address limit counts the client, not the proxy: all of
    // these came from 127.0.0.1, and only a second alice is one too many.
    let mut again = TcpStream::connect(proxied).await.unwrap();
    again
        .write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 4712 7001\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_all(again).await,
        "*** Error: too many connections from your address; try again later\r\n"
    );

    drop((alice, bob, irc));
    s.shutdown().await;
}

#[tokio::test]
async fn proxy_protocol_is_refused_from_untrusted_sources_and_where_not_expected() {
    // A PROXY listener whose trusted proxy is elsewhere: 127.0.0.1 may
    // not say who it is.
    let s = start(|c, _| {
        c.proxy.trusted = vec!["192.0.2.1".into()];
        c.listeners = vec![proxy_listener()];
    })
    .await;
    let (plain, proxied) = (s.addrs[0], s.addrs[1]);
    let mut c = TcpStream::connect(proxied).await.unwrap();
    c.write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 4711 7001\r\nalice\r\n")
        .await
        .unwrap();
    assert_eq!(read_all(c).await, "", "closed without a word");

    // A PROXY header on a listener that does not expect one is refused
    // too, rather than taken for a telnet user called PROXY.
    let mut c = TcpStream::connect(plain).await.unwrap();
    c.write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 4711 7001\r\nalice\r\n")
        .await
        .unwrap();
    assert_eq!(read_all(c).await, "");
    s.shutdown().await;

    // From the trusted proxy, a connection without a header is refused.
    let s = start(|c, _| {
        c.proxy.trusted = vec!["127.0.0.1".into()];
        c.listeners = vec![proxy_listener()];
    })
    .await;
    let mut c = TcpStream::connect(s.addrs[1]).await.unwrap();
    c.write_all(b"alice\r\n").await.unwrap();
    assert_eq!(read_all(c).await, "");
    // Nor is silence taken for a telnet user.
    assert_eq!(
        read_all(TcpStream::connect(s.addrs[1]).await.unwrap()).await,
        ""
    );
    s.shutdown().await;
}

/// A JSON-protocol WebSocket whose upgrade request carries `headers`;
/// the refusal's status, `Retry-After` and body if it is refused.
async fn ws_with(
    addr: SocketAddr,
    headers: &[(&'static str, &str)],
) -> Result<WebSocketStream<TcpStream>, (u16, Option<String>, Value)> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .append(*k, HeaderValue::from_str(v).unwrap());
    }
    let tcp = TcpStream::connect(addr).await.unwrap();
    match timeout(DEADLINE, tokio_tungstenite::client_async(req, tcp))
        .await
        .expect("an answer within the deadline")
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = serde_json::from_slice(resp.body().as_deref().unwrap_or(b"null"))
                .unwrap_or(Value::Null);
            Err((resp.status().as_u16(), retry, body))
        }
        Err(e) => panic!("WebSocket handshake: {e}"),
    }
}

/// Says hello as guest `name` and waits for the welcome.
async fn hello(ws: &mut WebSocketStream<TcpStream>, name: &str) {
    let hello = json!({"type": "hello", "v": 1, "name": name, "auto_join": false});
    ws.send(WsMessage::text(hello.to_string())).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a welcome within the deadline")
            .expect("open")
            .expect("a message");
        if let WsMessage::Text(t) = msg
            && t.contains("\"welcome\"")
        {
            return;
        }
    }
}

#[tokio::test]
async fn forwarded_headers_count_from_trusted_proxies_only() {
    let s = start(|c, _| {
        c.proxy.trusted = vec!["127.0.0.1".into()];
        c.limits.max_connections_per_ip = 1;
    })
    .await;
    let xff = |v| [("x-forwarded-for", v)];

    // The client a trusted proxy names is the one the audit log sees ...
    let mut a = ws_with(s.addr(), &xff("198.51.100.1, 203.0.113.7"))
        .await
        .expect("admitted");
    hello(&mut a, "alice").await;
    audit_shows(&s.data, "\"peer\":\"203.0.113.7:0\"").await;
    // ... and the one the per-address limit counts: the proxy's own
    // connections are many, its clients one each.
    let (status, retry, body) = ws_with(s.addr(), &xff("203.0.113.7"))
        .await
        .expect_err("over the limit for 203.0.113.7");
    assert_eq!(status, 503);
    assert!(retry.is_some(), "Retry-After");
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    let mut b = ws_with(s.addr(), &[("forwarded", "for=\"[2001:db8::9]:4711\"")])
        .await
        .expect("another client");
    hello(&mut b, "bob").await;
    audit_shows(&s.data, "\"peer\":\"[2001:db8::9]:4711\"").await;
    drop((a, b));
    s.shutdown().await;

    // No trusted proxy: the same headers are the client's own words.
    let s = start(|c, _| c.limits.max_connections_per_ip = 2).await;
    let mut c = ws_with(s.addr(), &xff("203.0.113.7"))
        .await
        .expect("admitted");
    hello(&mut c, "carol").await;
    audit_shows(&s.data, "\"peer\":\"127.0.0.1:").await;
    let log = std::fs::read_to_string(s.data.join(Config::default().audit.path)).unwrap();
    assert!(!log.contains("203.0.113.7"), "{log}");
    drop(c);
    s.shutdown().await;
}

/// A connection from `source` (another loopback address) to `addr`.
async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn a_browsers_idle_connection_is_not_taken_for_telnet() {
    let s = start(|c, _| c.limits.browser_sniff_timeout_ms = 10_000).await;
    // An address that has not spoken HTTP: silence is a telnet user.
    let mut telnet = Lines::new(connect_from("127.0.0.2", s.addr()).await, "telnet");
    telnet.expect("Welcome to confab").await;

    // One that just did (a browser) may open a connection and leave it
    // idle past limits.sniff_timeout_ms (100 ms here) before using it.
    let (status, _) = super::http_get(connect_from("127.0.0.3", s.addr()).await, "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let idle = connect_from("127.0.0.3", s.addr()).await;
    // The silence under test, five sniff timeouts long: no telnet
    // greeting comes meanwhile (a read that stays pending the whole time).
    let mut byte = [0u8; 1];
    let heard = timeout(std::time::Duration::from_millis(500), idle.peek(&mut byte)).await;
    assert!(heard.is_err(), "the idle connection was greeted: {heard:?}");
    let (status, body) = super::http_get(idle, "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body.trim(), "ok");
    drop(telnet);
    s.shutdown().await;
}
