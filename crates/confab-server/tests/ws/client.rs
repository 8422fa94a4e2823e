//! A WebSocket test client over a real TCP socket: the HTTP upgrade by
//! hand, then tungstenite's frame codec (`WebSocketContext`, sans-IO) fed
//! from the socket. Every wait has a deadline; nothing sleeps.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketContext};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

/// How long anything expected may take to arrive.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The bytes between the socket and the codec.
#[derive(Default)]
struct Pipe {
    input: VecDeque<u8>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.input.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct Ws {
    pub name: String,
    tcp: TcpStream,
    ctx: WebSocketContext,
    pipe: Pipe,
    /// Every JSON message received, for failure messages.
    pub seen: Vec<Value>,
    /// The server's close frame, once it came.
    pub close: Option<Option<CloseFrame>>,
    next_id: u64,
}

impl Ws {
    /// Connects and upgrades to WebSocket at `/ws` (no subprotocol).
    pub async fn connect(addr: SocketAddr, name: &str) -> Ws {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Ws::upgrade(tcp, addr, name).await
    }

    /// Like [`Ws::connect`] with a small receive buffer, for a client that
    /// stops reading.
    pub async fn connect_small_buffer(addr: SocketAddr, name: &str) -> Ws {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let tcp = socket.connect(addr).await.expect("connect");
        Ws::upgrade(tcp, addr, name).await
    }

    async fn upgrade(mut tcp: TcpStream, addr: SocketAddr, name: &str) -> Ws {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("write");
        let deadline = Instant::now() + DEADLINE;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let end = loop {
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = timeout_at(deadline, tcp.read(&mut buf))
                .await
                .expect("upgrade answered in time")
                .expect("read");
            assert!(n > 0, "{name}: closed during the upgrade");
            head.extend_from_slice(&buf[..n]);
        };
        let response = String::from_utf8_lossy(&head[..end]).to_string();
        assert!(
            response.starts_with("HTTP/1.1 101"),
            "{name}: upgrade refused: {response}"
        );
        let ctx = WebSocketContext::from_partially_read(head[end..].to_vec(), Role::Client, None);
        Ws {
            name: name.to_owned(),
            tcp,
            ctx,
            pipe: Pipe::default(),
            seen: Vec::new(),
            close: None,
            next_id: 0,
        }
    }

    /// Writes whatever the codec has queued (frames, pongs, close replies).
    async fn flush(&mut self) {
        let _ = self.ctx.flush(&mut self.pipe);
        if !self.pipe.output.is_empty() {
            let out = std::mem::take(&mut self.pipe.output);
            let _ = self.tcp.write_all(&out).await;
        }
    }

    pub async fn send_frame(&mut self, frame: Frame) {
        self.ctx
            .write(&mut self.pipe, frame)
            .expect("frame written");
        self.flush().await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(Frame::text(text)).await;
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next frame; `None` once the connection is closed. Panics after
    /// `deadline`.
    pub async fn next_frame_by(&mut self, deadline: Instant) -> Option<Frame> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.ctx.read(&mut self.pipe) {
                Ok(frame) => {
                    self.flush().await;
                    if let Frame::Close(c) = &frame {
                        self.close = Some(c.clone());
                    }
                    return Some(frame);
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush().await;
                }
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return None,
                Err(e) => panic!("{}: WebSocket error {e}", self.name),
            }
            let read = timeout_at(deadline, self.tcp.read(&mut buf)).await;
            match read {
                Err(_) => panic!(
                    "{}: nothing within {DEADLINE:?}; saw {:#?}",
                    self.name,
                    self.recent()
                ),
                Ok(Ok(0)) => return None,
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => return None,
                Ok(Err(e)) => panic!("{}: read error {e}", self.name),
                Ok(Ok(n)) => self.pipe.input.extend(&buf[..n]),
            }
        }
    }

    /// The next JSON message; `None` once the connection is closed.
    pub async fn try_next(&mut self) -> Option<Value> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.next_frame_by(deadline).await? {
                Frame::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str())
                        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {t}", self.name));
                    assert!(v["type"].is_string(), "{}: untyped: {v}", self.name);
                    assert!(v["time"].is_string(), "{}: no time: {v}", self.name);
                    self.seen.push(v.clone());
                    return Some(v);
                }
                Frame::Binary(_) => panic!("{}: the server sent a binary frame", self.name),
                Frame::Close(_) => {
                    // Read on to the end of the stream.
                }
                Frame::Ping(_) | Frame::Pong(_) | Frame::Frame(_) => {}
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        match self.try_next().await {
            Some(v) => v,
            None => panic!("{}: closed; saw {}", self.name, self.recent()),
        }
    }

    /// Reads until a message matching `pred`; returns those skipped and it.
    pub async fn expect_where(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> (Vec<Value>, Value) {
        let mut before = Vec::new();
        loop {
            match self.try_next().await {
                Some(v) if pred(&v) => return (before, v),
                Some(v) => before.push(v),
                None => panic!(
                    "{}: closed while waiting for {what}; saw {}",
                    self.name,
                    self.recent()
                ),
            }
        }
    }

    /// Reads until a message of type `ty`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_where(ty, |v| v["type"] == ty).await.1
    }

    /// A fresh request id.
    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.name, self.next_id)
    }

    /// Sends `v` with a fresh id and reads up to its `ack` or `error`:
    /// everything before it, and it.
    pub async fn request(&mut self, mut v: Value) -> (Vec<Value>, Value) {
        let id = self.id();
        v["id"] = json!(id);
        self.send(v).await;
        self.expect_where(&format!("the answer to {id}"), |m| {
            m["re"] == json!(id) && (m["type"] == "ack" || m["type"] == "error")
        })
        .await
    }

    /// Like [`Ws::request`]; panics unless it is acknowledged.
    pub async fn ok(&mut self, v: Value) -> (Vec<Value>, Value) {
        let what = v.to_string();
        let (before, end) = self.request(v).await;
        assert_eq!(end["type"], "ack", "{}: {what} refused: {end}", self.name);
        (before, end)
    }

    /// Like [`Ws::request`]; the error it must end with.
    pub async fn refused(&mut self, v: Value) -> Value {
        let what = v.to_string();
        let (_, end) = self.request(v).await;
        assert_eq!(
            end["type"], "error",
            "{}: {what} accepted: {end}",
            self.name
        );
        end
    }

    /// A JSON `ping`, read up to its `pong`: everything the server sent
    /// before it (the server answers in order with earlier replies).
    pub async fn sync(&mut self) -> Vec<Value> {
        let id = self.id();
        self.send(json!({"type": "ping", "id": id})).await;
        let (before, _) = self
            .expect_where("pong", |m| m["type"] == "pong" && m["re"] == json!(id))
            .await;
        before
    }

    /// Reads to the end of the stream; what came, and the close code.
    pub async fn expect_closed(&mut self) -> (Vec<Value>, Option<u16>) {
        let mut rest = Vec::new();
        while let Some(v) = self.try_next().await {
            rest.push(v);
        }
        let code = self.close.clone().flatten().map(|c| u16::from(c.code));
        (rest, code)
    }

    /// Drops the connection without a close frame (a network failure).
    pub fn drop_connection(self) {
        drop(self);
    }

    pub fn recent(&self) -> String {
        let from = self.seen.len().saturating_sub(30);
        self.seen[from..]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Connects and says hello as a guest, without joining the default room;
/// the welcome.
pub async fn guest(addr: SocketAddr, name: &str) -> (Ws, Value) {
    hello(
        addr,
        name,
        json!({"type": "hello", "v": 1, "name": name, "auto_join": false}),
    )
    .await
}

/// Connects and sends `hello`; panics unless it is welcomed and
/// acknowledged. The welcome.
pub async fn hello(addr: SocketAddr, name: &str, hello: Value) -> (Ws, Value) {
    let mut ws = Ws::connect(addr, name).await;
    let (before, _) = ws.ok(hello).await;
    let welcome = before
        .iter()
        .find(|m| m["type"] == "welcome")
        .unwrap_or_else(|| panic!("{name}: no welcome in {before:?}"))
        .clone();
    (ws, welcome)
}

/// The message ids in a list of messages.
pub fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["id"].as_u64().expect("an id"))
        .collect()
}
