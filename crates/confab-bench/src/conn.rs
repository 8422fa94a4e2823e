//! One benchmark client's socket: connecting from a chosen loopback
//! source address, logging in, joining, then a reader and a writer half.
//!
//! The reader hands over every complete line (IRC, line protocol) or text
//! frame (WebSocket) of one read at a time, with one clock reading for the
//! lot, so a receiver takes the time once per read, not once per line.
//! Every wait here has a deadline.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::proto::{Proto, Seen};

/// A WebSocket client's read buffer: frames of chat are small.
const WS_READ_BUFFER: usize = 8 * 1024;

type Ws = WebSocketStream<TcpStream>;

/// The largest line or frame a reader keeps before giving up on it.
const MAX_LINE: usize = 1 << 20;
/// Most WebSocket frames one read hands over beyond the first.
const WS_BATCH: usize = 255;

pub struct Reader {
    kind: ReaderKind,
}

enum ReaderKind {
    Tcp {
        sock: OwnedReadHalf,
        buf: Vec<u8>,
        /// Bytes of `buf` already handed out.
        used: usize,
    },
    Ws(futures_util::stream::SplitStream<Ws>),
}

pub enum Writer {
    Tcp(OwnedWriteHalf),
    Ws(futures_util::stream::SplitSink<Ws, Message>),
}

/// A logged-in client.
pub struct Conn {
    pub proto: Proto,
    pub nick: String,
    pub reader: Reader,
    pub writer: Writer,
}

/// The source address of client `i` when clients are spread over
/// `sources` addresses 127.0.0.1, 127.0.0.2, … (IPv4 loopback targets
/// only; otherwise the system picks).
pub fn source_for(target: SocketAddr, i: usize, sources: usize) -> Option<IpAddr> {
    match target.ip() {
        IpAddr::V4(_) if sources > 1 => {
            let n = (i % sources) as u32 + 1;
            Some(IpAddr::from([
                127,
                (n >> 16) as u8,
                (n >> 8) as u8,
                n as u8,
            ]))
        }
        _ => None,
    }
}

async fn connect_tcp(target: SocketAddr, source: Option<IpAddr>) -> anyhow::Result<TcpStream> {
    let sock = if target.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding the source address {ip}"))?;
    }
    let stream = sock
        .connect(target)
        .await
        .with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Conn {
    /// Connects and logs in as the guest `nick`, by `deadline`.
    pub async fn login(
        proto: Proto,
        target: SocketAddr,
        source: Option<IpAddr>,
        nick: &str,
        deadline: Instant,
    ) -> anyhow::Result<Conn> {
        let work = async {
            let stream = connect_tcp(target, source).await?;
            let mut conn = match proto {
                Proto::Ws => {
                    let url = format!("ws://{target}/ws");
                    // tungstenite zeroes its whole read buffer before each
                    // read (128 KiB by default): half the generator's CPU.
                    let config =
                        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                            .read_buffer_size(WS_READ_BUFFER);
                    let (ws, _) =
                        tokio_tungstenite::client_async_with_config(url, stream, Some(config))
                            .await
                            .context("WebSocket handshake")?;
                    let (w, r) = ws.split();
                    Conn {
                        proto,
                        nick: nick.to_owned(),
                        reader: Reader {
                            kind: ReaderKind::Ws(r),
                        },
                        writer: Writer::Ws(w),
                    }
                }
                Proto::Irc | Proto::Line => {
                    let (r, w) = stream.into_split();
                    Conn {
                        proto,
                        nick: nick.to_owned(),
                        reader: Reader {
                            kind: ReaderKind::Tcp {
                                sock: r,
                                buf: Vec::with_capacity(4096),
                                used: 0,
                            },
                        },
                        writer: Writer::Tcp(w),
                    }
                }
            };
            let lines = proto.login(nick);
            conn.writer.send_each(proto, &lines).await?;
            conn.wait_for(Seen::LoggedIn).await?;
            anyhow::Ok(conn)
        };
        timeout_at(deadline, work)
            .await
            .map_err(|_| anyhow!("{nick}: no login before the deadline"))?
            .with_context(|| format!("{nick} logging in"))
    }

    /// Joins `room` and waits until the join is complete.
    pub async fn join(&mut self, room: &str, deadline: Instant) -> anyhow::Result<()> {
        let line = self.proto.join(room);
        let work = async {
            self.writer.send_each(self.proto, &[line]).await?;
            self.wait_for(Seen::Joined).await
        };
        timeout_at(deadline, work)
            .await
            .map_err(|_| anyhow!("{}: not in {room} before the deadline", self.nick))?
            .with_context(|| format!("{} joining {room}", self.nick))
    }

    /// Reads until `want`, answering pings; a refusal or the end of the
    /// stream is an error.
    async fn wait_for(&mut self, want: Seen) -> anyhow::Result<()> {
        let proto = self.proto;
        loop {
            let mut outcome: Option<anyhow::Result<()>> = None;
            let mut pongs = Vec::new();
            let open = self
                .reader
                .read_some(|line, _| {
                    if outcome.is_some() {
                        return;
                    }
                    let text = String::from_utf8_lossy(line);
                    match proto.classify(&text) {
                        s if s == want => outcome = Some(Ok(())),
                        Seen::Refused(why) => outcome = Some(Err(anyhow!("refused: {why}"))),
                        Seen::Ping(pong) => pongs.push(pong),
                        _ => {}
                    }
                })
                .await?;
            if !pongs.is_empty() {
                self.writer.send_each(proto, &pongs).await?;
            }
            if let Some(outcome) = outcome {
                return outcome;
            }
            if !open {
                bail!("the server closed the connection");
            }
        }
    }
}

impl Reader {
    /// Waits for data, then calls `each` with every complete line (without
    /// its line ending) or text frame, and the time the read returned.
    /// Returns false at the end of the stream. Cancel-safe: nothing is
    /// lost if the future is dropped while waiting.
    pub async fn read_some(
        &mut self,
        mut each: impl FnMut(&[u8], Instant),
    ) -> anyhow::Result<bool> {
        match &mut self.kind {
            ReaderKind::Tcp { sock, buf, used } => {
                // Drop what was handed out last time, keep a partial line.
                buf.drain(..*used);
                *used = 0;
                if buf.capacity() - buf.len() < 2048 {
                    buf.reserve(buf.capacity().max(4096));
                }
                let n = match sock.read_buf(buf).await {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                    Err(e) => return Err(e.into()),
                };
                let now = Instant::now();
                if n == 0 {
                    return Ok(false);
                }
                let mut start = 0;
                while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                    let mut line = &buf[start..start + nl];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    each(line, now);
                    start += nl + 1;
                }
                *used = start;
                if buf.len() - start > MAX_LINE {
                    bail!("a line longer than {MAX_LINE} bytes");
                }
                Ok(true)
            }
            ReaderKind::Ws(stream) => loop {
                match stream.next().await {
                    None => return Ok(false),
                    Some(Err(e)) => {
                        use tokio_tungstenite::tungstenite::Error;
                        return match e {
                            Error::ConnectionClosed | Error::AlreadyClosed => Ok(false),
                            Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => {
                                Ok(false)
                            }
                            e => Err(e.into()),
                        };
                    }
                    Some(Ok(Message::Text(t))) => {
                        let now = Instant::now();
                        each(t.as_bytes(), now);
                        // Take the frames already here with the same clock
                        // reading, as a TCP read takes all its lines.
                        for _ in 0..WS_BATCH {
                            match stream.next().now_or_never() {
                                Some(Some(Ok(Message::Text(t)))) => each(t.as_bytes(), now),
                                Some(Some(Ok(_))) => {}
                                // Nothing ready, or an error or the end: the
                                // stream has ended, and the next call says so.
                                _ => break,
                            }
                        }
                        return Ok(true);
                    }
                    Some(Ok(Message::Close(_))) => return Ok(false),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

impl Writer {
    /// Sends each of `items` as a line (IRC, line protocol: CR LF added)
    /// or a text frame (WebSocket).
    pub async fn send_each(&mut self, proto: Proto, items: &[String]) -> anyhow::Result<()> {
        match self {
            Writer::Tcp(w) => {
                let mut out = String::new();
                for item in items {
                    out.push_str(item);
                    out.push_str("\r\n");
                }
                w.write_all(out.as_bytes()).await?;
            }
            Writer::Ws(w) => {
                let _ = proto;
                for item in items {
                    w.feed(Message::text(item.as_str())).await?;
                }
                w.flush().await?;
            }
        }
        Ok(())
    }

    /// Sends bytes already framed by `Proto::say`: for TCP one write of
    /// many lines; for WebSocket one frame per item of `frames`.
    pub async fn send_batch(&mut self, lines: &str, frames: &[String]) -> anyhow::Result<()> {
        match self {
            Writer::Tcp(w) => w.write_all(lines.as_bytes()).await?,
            Writer::Ws(w) => {
                for f in frames {
                    w.feed(Message::text(f.as_str())).await?;
                }
                w.flush().await?;
            }
        }
        Ok(())
    }

    /// Closes politely, within `wait`.
    pub async fn close(&mut self, wait: Duration) {
        let _ = tokio::time::timeout(wait, async {
            match self {
                Writer::Tcp(w) => {
                    let _ = w.shutdown().await;
                }
                Writer::Ws(w) => {
                    let _ = w.close().await;
                }
            }
        })
        .await;
    }
}
