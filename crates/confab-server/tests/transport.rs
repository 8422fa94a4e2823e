//! Transports over real sockets: TLS on the shared port (self-signed and
//! from PEM files, with reloads), every door inside TLS, IRC over
//! WebSocket (text and binary), clients that stall, and dedicated
//! single-protocol listeners; the server's edge (`edge.rs`: refusals at
//! the connection limits, trusted proxies). Every wait has a deadline;
//! nothing sleeps.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use confab_server::config::{ListenerConfig, Protocol};
use confab_server::tls::{SELF_SIGNED_CERT, Tls};
use confab_server::{Config, Server};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[path = "transport/edge.rs"]
mod edge;
#[path = "transport/park.rs"]
mod park;

/// How long anything expected may take.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------
// The server

struct Srv {
    addrs: Vec<SocketAddr>,
    tls: Option<Tls>,
    data: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// Its connections parked now.
    parked: confab_server::hub_task::ParkedCount,
    _dir: tempfile::TempDir,
}

/// A server on 127.0.0.1:0 with a fresh data dir; `tweak` gets the config
/// and the temp dir (for certificate files).
async fn start(tweak: impl FnOnce(&mut Config, &Path)) -> Srv {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        data_dir: data.clone(),
        ..Config::default()
    };
    config.limits.sniff_timeout_ms = 100;
    config.limits.rate_per_sec = 10_000.0;
    config.limits.rate_burst = 10_000;
    config.limits.shutdown_grace_ms = 1_000;
    tweak(&mut config, dir.path());
    let server = Server::bind(config).await.expect("bind");
    let addrs = server.local_addrs();
    let tls = server.tls_reloader();
    let parked = server.parked();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    Srv {
        addrs,
        tls,
        data,
        stop: Some(stop),
        task,
        parked,
        _dir: dir,
    }
}

impl Srv {
    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The self-signed certificate the server wrote to its data dir.
    fn self_signed_pem(&self) -> Vec<u8> {
        std::fs::read(self.data.join(SELF_SIGNED_CERT)).expect("self-signed PEM in the data dir")
    }

    async fn shutdown(mut self) {
        self.stop.take().expect("once").send(()).unwrap();
        timeout(DEADLINE, &mut self.task)
            .await
            .expect("server stops within the deadline")
            .expect("server task did not panic");
    }
}

// ---------------------------------------------------------------------
// TLS client side

/// A connector trusting the certificates in `pems` (and nothing else).
fn connector(pems: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for pem in pems {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(cert.expect("PEM certificate"))
                .expect("trusted root");
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr` for the name "localhost".
async fn try_tls(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap().to_owned();
    timeout(DEADLINE, connector.connect(name, tcp))
        .await
        .expect("TLS handshake within the deadline")
}

async fn tls(addr: SocketAddr, connector: &TlsConnector) -> TlsStream<TcpStream> {
    try_tls(addr, connector).await.expect("TLS handshake")
}

/// The end-entity certificate the server showed.
fn peer_cert(s: &TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

/// A certificate for "localhost" and its key, as PEM.
fn make_cert() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    (c.cert.pem(), c.key_pair.serialize_pem())
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

// ---------------------------------------------------------------------
// A line-oriented client over any stream (TCP or TLS)

struct Lines<S> {
    name: String,
    reader: BufReader<ReadHalf<S>>,
    writer: WriteHalf<S>,
    seen: Vec<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Lines<S> {
    fn new(stream: S, name: &str) -> Lines<S> {
        let (r, w) = tokio::io::split(stream);
        Lines {
            name: name.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    /// The next line, or `None` at the end of the stream (or a reset).
    async fn next_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let read = timeout_at(
            Instant::now() + DEADLINE,
            self.reader.read_until(b'\n', &mut buf),
        );
        match read.await {
            Err(_) => panic!(
                "{}: no line within {DEADLINE:?}; saw {:#?}",
                self.name, self.seen
            ),
            Ok(Err(_)) | Ok(Ok(0)) => None,
            Ok(Ok(_)) => {
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                self.seen.push(line.clone());
                Some(line)
            }
        }
    }

    /// Reads until a line containing `needle`.
    async fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.next_line().await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!(
                    "{}: closed while waiting for {needle:?}; saw {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Reads to the end of the stream; panics if it stays open.
    async fn expect_closed(&mut self) {
        while self.next_line().await.is_some() {}
    }

    /// IRC registration, up to 001.
    async fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :{nick}")).await;
        self.expect(&format!(" 001 {nick} ")).await;
    }

    /// The line door: takes `name`.
    async fn login(&mut self, name: &str) {
        self.send(name).await;
        self.expect(&format!("*** Welcome, {name}!")).await;
    }
}

/// `GET path` over a fresh HTTP/1.1 connection (closed after): the status
/// line and the body.
async fn http_get<S: AsyncRead + AsyncWrite + Unpin>(stream: S, path: &str) -> (String, String) {
    let mut c = Lines::new(stream, "http");
    c.send_raw(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    let status = c.next_line().await.expect("a status line");
    let mut in_body = false;
    let mut body = String::new();
    while let Some(l) = c.next_line().await {
        if in_body {
            body.push_str(&l);
            body.push('\n');
        } else if l.is_empty() {
            in_body = true;
        }
    }
    (status, body)
}

// ---------------------------------------------------------------------
// An IRC client over WebSocket

struct WsIrc<S> {
    name: String,
    ws: WebSocketStream<S>,
    binary: bool,
    seen: Vec<String>,
}

/// Opens `/ws` on `stream` asking for the IRCv3 subprotocol, text or
/// binary.
async fn ws_irc<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    url: &str,
    binary: bool,
    name: &str,
) -> WsIrc<S> {
    let protocol = if binary {
        "binary.ircv3.net"
    } else {
        "text.ircv3.net"
    };
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    let (ws, resp) = timeout(DEADLINE, tokio_tungstenite::client_async(req, stream))
        .await
        .expect("WebSocket handshake within the deadline")
        .expect("WebSocket handshake");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some(protocol)
    );
    WsIrc {
        name: name.to_owned(),
        ws,
        binary,
        seen: Vec::new(),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsIrc<S> {
    async fn send(&mut self, line: &str) {
        let msg = if self.binary {
            WsMessage::binary(line.as_bytes().to_vec())
        } else {
            WsMessage::text(line)
        };
        self.ws.send(msg).await.expect("send");
    }

    /// The next IRC line: one per message, of the negotiated frame type,
    /// with no CR or LF. `None` when the server closes.
    async fn next_line(&mut self) -> Option<String> {
        loop {
            let msg = timeout(DEADLINE, self.ws.next()).await.unwrap_or_else(|_| {
                panic!(
                    "{}: nothing within {DEADLINE:?}; saw {:#?}",
                    self.name, self.seen
                )
            });
            let line = match msg {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return None,
                Some(Ok(WsMessage::Text(t))) => {
                    assert!(!self.binary, "{}: text frame in binary mode", self.name);
                    t.as_str().to_owned()
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    assert!(self.binary, "{}: binary frame in text mode", self.name);
                    String::from_utf8(b.to_vec()).expect("UTF-8")
                }
                Some(Ok(_)) => continue,
            };
            assert!(
                !line.contains(['\r', '\n']) && !line.is_empty(),
                "{}: not one line per message: {line:?}",
                self.name
            );
            self.seen.push(line.clone());
            return Some(line);
        }
    }

    async fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.next_line().await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!(
                    "{}: closed while waiting for {needle:?}; saw {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    async fn register(&mut self, nick: &str) {
        self.send(&format!("NICK {nick}")).await;
        self.send(&format!("USER {nick} 0 * :{nick}")).await;
        self.expect(&format!(" 001 {nick} ")).await;
    }

    async fn join(&mut self, room: &str) {
        self.send(&format!("JOIN {room}")).await;
        self.expect(&format!(" 366 {} {room} ", self.name)).await;
    }
}

// ---------------------------------------------------------------------
// 1. TLS on the shared port, self-signed; plain TCP still works

#[tokio::test]
async fn every_door_over_self_signed_tls_and_plain_on_one_port() {
    let s = start(|c, _| c.tls.self_signed = true).await;
    let pem = s.self_signed_pem();
    let tc = connector(&[&pem]);

    // Line protocol inside TLS: silence gets the greeting, then chat.
    let mut ann = Lines::new(tls(s.addr(), &tc).await, "ann");
    ann.expect("Welcome to confab").await;
    ann.login("ann").await;
    // …and a client that speaks first is detected inside TLS too.
    let mut bea = Lines::new(tls(s.addr(), &tc).await, "bea");
    bea.login("bea").await;
    ann.send("/join #tls").await;
    ann.expect("*** In #tls (1)").await;
    bea.send("/join #tls").await;
    ann.expect("*** bea joined #tls").await;
    bea.send("over TLS").await;
    ann.expect("#tls <bea> over TLS").await;

    // IRC inside TLS.
    let mut ivy = Lines::new(tls(s.addr(), &tc).await, "ivy");
    ivy.register("ivy").await;
    ivy.send("JOIN #tls").await;
    ivy.expect(" 366 ivy #tls ").await;
    bea.send("hello ivy").await;
    ivy.expect("PRIVMSG #tls :hello ivy").await;
    ivy.send("PRIVMSG #tls :hello bea").await;
    bea.expect("#tls <ivy> hello bea").await;

    // HTTP inside TLS.
    let (status, body) = http_get(tls(s.addr(), &tc).await, "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body.trim(), "ok");

    // WebSocket inside TLS (wss), IRC text subprotocol.
    let stream = tls(s.addr(), &tc).await;
    let mut web = ws_irc(stream, "wss://localhost/ws", false, "web").await;
    web.register("web").await;
    web.join("#tls").await;
    bea.send("hello web").await;
    web.expect("PRIVMSG #tls :hello web").await;

    // Plain TCP on the same port: line, IRC, HTTP, WebSocket.
    let mut tom = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "tom");
    tom.expect("Welcome to confab").await;
    tom.login("tom").await;
    let mut pat = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "pat");
    pat.register("pat").await;
    let (status, body) = http_get(TcpStream::connect(s.addr()).await.unwrap(), "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body.trim(), "ok");
    let stream = TcpStream::connect(s.addr()).await.unwrap();
    let mut pws = ws_irc(stream, "ws://localhost/ws", false, "pws").await;
    pws.register("pws").await;
    pws.join("#tls").await;
    tom.send("/join #tls").await;
    tom.expect("*** In #tls").await;
    tom.send("plain and TLS together").await;
    for c in [&mut ann, &mut bea] {
        c.expect("#tls <tom> plain and TLS together").await;
    }
    ivy.expect("PRIVMSG #tls :plain and TLS together").await;
    web.expect("PRIVMSG #tls :plain and TLS together").await;
    pws.expect("PRIVMSG #tls :plain and TLS together").await;

    drop((ann, bea, ivy, web, tom, pat, pws));
    s.shutdown().await;
}

// ---------------------------------------------------------------------
// 2. IRC over WebSocket, text and binary, with a telnet user

#[tokio::test]
async fn irc_over_websocket_text_and_binary_talk_with_telnet() {
    let s = start(|_, _| {}).await;
    let url = "ws://localhost/ws";
    let mut txt = ws_irc(
        TcpStream::connect(s.addr()).await.unwrap(),
        url,
        false,
        "txt",
    )
    .await;
    let mut bin = ws_irc(
        TcpStream::connect(s.addr()).await.unwrap(),
        url,
        true,
        "bin",
    )
    .await;
    txt.register("txt").await;
    bin.register("bin").await;
    txt.join("#web").await;
    bin.join("#web").await;
    txt.expect(":bin!").await;
    let mut tom = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "tom");
    tom.login("tom").await;
    tom.send("/join #web").await;
    tom.expect("*** In #web (3)").await;

    tom.send("hi web people").await;
    for c in [&mut txt, &mut bin] {
        let l = c.expect("PRIVMSG #web :hi web people").await;
        assert!(l.starts_with(":tom!"), "{l}");
    }
    txt.send("PRIVMSG #web :from text").await;
    tom.expect("#web <txt> from text").await;
    bin.expect(":txt!").await;
    bin.send("PRIVMSG #web :from binary, café ✓").await;
    tom.expect("#web <bin> from binary, café ✓").await;
    txt.expect("PRIVMSG #web :from binary, café ✓").await;
    // Private messages cross too.
    tom.send("/msg @bin psst").await;
    tom.expect("psst").await;
    bin.expect("PRIVMSG bin :psst").await;

    // IRC PING over WebSocket is answered like on TCP.
    txt.send("PING :still-there").await;
    txt.expect("PONG").await;

    // A message holding two lines is refused: the connection closes.
    bin.send("PRIVMSG #web :one\r\nPRIVMSG #web :two").await;
    while bin.next_line().await.is_some() {}
    // …and the others see bin leave, without the smuggled lines.
    let quit = tom.expect("*** bin quit").await;
    assert!(!tom.seen.iter().any(|l| l.contains("<bin> one")), "{quit}");

    // QUIT ends the WebSocket after the door's ERROR.
    txt.send("QUIT :bye").await;
    txt.expect("ERROR").await;
    assert_eq!(txt.next_line().await, None);
    let quit = tom.expect("*** txt quit").await;
    assert!(quit.contains("bye"), "{quit}");
    // A client that sends QUIT and closes at once still gets its reason
    // across.
    let mut hasty = ws_irc(
        TcpStream::connect(s.addr()).await.unwrap(),
        url,
        false,
        "hasty",
    )
    .await;
    hasty.register("hasty").await;
    hasty.join("#web").await;
    tom.expect("*** hasty joined #web").await;
    hasty.send("QUIT :in a hurry").await;
    hasty.ws.close(None).await.expect("close");
    let quit = tom.expect("*** hasty quit").await;
    assert!(quit.contains("in a hurry"), "{quit}");
    drop((txt, bin, tom, hasty));
    s.shutdown().await;
}

// ---------------------------------------------------------------------
// 3. Certificate from PEM files, reloaded; a broken file keeps the old one

#[tokio::test]
async fn pem_certificate_reloads_and_a_broken_file_keeps_the_old_one() {
    let (cert1, key1) = make_cert();
    let (cert2, key2) = make_cert();
    let paths = std::sync::Mutex::new(None);
    let s = start(|c, dir| {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &cert1).unwrap();
        std::fs::write(&key, &key1).unwrap();
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key.clone());
        *paths.lock().unwrap() = Some((cert, key));
    })
    .await;
    let (cert_path, key_path) = paths.into_inner().unwrap().unwrap();
    let reloader = s.tls.clone().expect("TLS is on");
    assert!(
        !s.data.join(SELF_SIGNED_CERT).exists(),
        "no self-signed certificate when files are given"
    );
    let both = connector(&[cert1.as_bytes(), cert2.as_bytes()]);
    let only1 = connector(&[cert1.as_bytes()]);

    let stream = tls(s.addr(), &both).await;
    assert_eq!(peer_cert(&stream), der_of(&cert1));
    let mut before = Lines::new(stream, "before");
    before.login("before").await;

    // New files, reload: new connections see the new certificate.
    std::fs::write(&cert_path, &cert2).unwrap();
    std::fs::write(&key_path, &key2).unwrap();
    reloader.reload().expect("reload");
    let after = tls(s.addr(), &both).await;
    assert_eq!(peer_cert(&after), der_of(&cert2));
    assert!(
        try_tls(s.addr(), &only1).await.is_err(),
        "a client trusting only the old certificate is refused"
    );
    // The connection made before the reload goes on.
    before.send("/time").await;
    before.next_line().await.expect("still connected");

    // A broken certificate file: the reload fails, cert2 stays.
    std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let err = reloader.reload().expect_err("a broken file is refused");
    assert!(err.to_string().contains("cert.pem"), "{err}");
    assert_eq!(peer_cert(&tls(s.addr(), &both).await), der_of(&cert2));
    // A key that does not match the certificate: refused too.
    std::fs::write(&cert_path, &cert1).unwrap();
    let err = reloader.reload().expect_err("a mismatched key is refused");
    assert!(err.to_string().contains("do not work together"), "{err}");
    let stream = tls(s.addr(), &both).await;
    assert_eq!(peer_cert(&stream), der_of(&cert2));
    let mut still = Lines::new(stream, "still");
    still.login("still").await;

    drop((before, after, still));
    s.shutdown().await;
}

// ---------------------------------------------------------------------
// 4. Clients that stall are dropped

#[tokio::test]
async fn stalled_tls_handshake_and_http_head_are_dropped() {
    let s = start(|c, _| {
        c.tls.self_signed = true;
        c.tls.handshake_timeout_ms = 200;
        c.http.header_timeout_ms = 200;
    })
    .await;
    // A partial ClientHello (record header and the first handshake bytes),
    // then nothing.
    let mut hello = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "hello");
    hello
        .send_raw(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
        .await;
    let t = Instant::now();
    hello.expect_closed().await;
    assert!(t.elapsed() < DEADLINE);

    // A partial request head, then nothing.
    let mut head = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "head");
    head.send_raw(b"GET /healthz HTTP/1.1\r\nHost: local").await;
    head.expect_closed().await;

    // The same inside TLS.
    let tc = connector(&[&s.self_signed_pem()]);
    let mut inner = Lines::new(tls(s.addr(), &tc).await, "inner");
    inner.send_raw(b"GET /healthz HTTP/1.1\r\n").await;
    inner.expect_closed().await;

    // A ClientHello to a server without TLS is refused, not taken for a
    // telnet user.
    let plain = start(|_, _| {}).await;
    let e = try_tls(plain.addr(), &tc).await;
    assert!(e.is_err(), "no TLS without a certificate");

    drop((hello, head, inner));
    s.shutdown().await;
    plain.shutdown().await;
}

// ---------------------------------------------------------------------
// 5. Dedicated listeners

#[tokio::test]
async fn dedicated_listeners_serve_one_protocol() {
    let s = start(|c, _| {
        c.tls.self_signed = true;
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = |protocol, tls| ListenerConfig {
            addr: any,
            protocol,
            tls,
            proxy_protocol: false,
        };
        c.listen.clear();
        c.listeners = vec![
            listener(Protocol::Irc, false),
            listener(Protocol::Http, false),
            listener(Protocol::Irc, true),
            listener(Protocol::Line, false),
            listener(Protocol::Auto, true),
        ];
    })
    .await;
    assert_eq!(s.addrs.len(), 5);
    let (irc, http, ircs, line, auto_tls) =
        (s.addrs[0], s.addrs[1], s.addrs[2], s.addrs[3], s.addrs[4]);
    let tc = connector(&[&s.self_signed_pem()]);

    // IRC only: what a telnet user would type first gets an IRC answer,
    // not the line door's greeting.
    let mut c = Lines::new(TcpStream::connect(irc).await.unwrap(), "irc");
    c.send("alice").await;
    let first = c.next_line().await.expect("an answer");
    assert!(
        first.starts_with(':'),
        "an IRC reply, not a greeting: {first}"
    );
    c.register("alice").await;

    // HTTP only: answers HTTP, and IRC there is a bad request.
    let (status, body) = http_get(TcpStream::connect(http).await.unwrap(), "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body.trim(), "ok");
    let mut bad = Lines::new(TcpStream::connect(http).await.unwrap(), "bad");
    bad.send("NICK bob").await;
    let status = bad.next_line().await.expect("an HTTP error");
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");

    // IRC over TLS only (like port 6697): a plain client gets nothing.
    let mut ircs_client = Lines::new(tls(ircs, &tc).await, "ircs");
    ircs_client.register("carol").await;
    let mut plain = Lines::new(TcpStream::connect(ircs).await.unwrap(), "plain");
    plain.send("NICK dave").await;
    plain.expect_closed().await;

    // Line only: greeted at once as a telnet user.
    let mut tel = Lines::new(TcpStream::connect(line).await.unwrap(), "tel");
    tel.expect("Welcome to confab").await;
    tel.login("erin").await;

    // Auto detection inside TLS only.
    let (status, _) = http_get(tls(auto_tls, &tc).await, "/healthz").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    drop((c, bad, ircs_client, plain, tel));
    s.shutdown().await;
}
