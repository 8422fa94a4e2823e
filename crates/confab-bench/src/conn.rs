//! One benchmark client's socket: connecting from a chosen loopback
//! source address, logging in, joining, then a reader and a writer half.
//!
//! The reader hands over every complete line (IRC, line protocol) or text
//! frame (WebSocket) of one read at a time, with one clock reading for the
//! lot, so a receiver takes the time once per read, not once per line.
//! Every wait here has a deadline.
//!
//! After the WebSocket handshake (tungstenite's) the client reads and
//! writes frames on the TCP socket itself, with tungstenite's frame
//! header parser and encoder: tungstenite's own reader zeroed its read
//! buffer before every read and shared the socket between the halves
//! through a lock, which made the generator the limit of a WebSocket
//! fan-out.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};

use crate::proto::{Proto, Seen};

/// The largest line or frame a reader keeps before giving up on it.
const MAX_LINE: usize = 1 << 20;

pub struct Reader {
    sock: OwnedReadHalf,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    used: usize,
    /// WebSocket frames rather than lines.
    ws: bool,
    /// The payloads of the server's WebSocket pings, to answer
    /// ([`Writer::answer`]).
    pings: Vec<Vec<u8>>,
}

pub struct Writer {
    sock: OwnedWriteHalf,
    /// For WebSocket, the state of the masks every client frame carries
    /// (RFC 6455 section 5.3); `None` for lines.
    ws: Option<u64>,
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
            let mut stream = connect_tcp(target, source).await?;
            let ws = proto == Proto::Ws;
            if ws {
                let url = format!("ws://{target}/ws");
                let (socket, _) = tokio_tungstenite::client_async(url, stream)
                    .await
                    .context("WebSocket handshake")?;
                // (Nothing is lost with tungstenite: the server says
                // nothing before the client's hello.)
                stream = socket.into_inner();
            }
            let (r, w) = stream.into_split();
            // Masks only have to vary from frame to frame (they protect
            // proxies, and there is none on loopback): seeded by the nick.
            let seed = nick.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            });
            let mut conn = Conn {
                proto,
                nick: nick.to_owned(),
                reader: Reader {
                    sock: r,
                    buf: Vec::with_capacity(4096),
                    used: 0,
                    ws,
                    pings: Vec::new(),
                },
                writer: Writer {
                    sock: w,
                    ws: ws.then_some(seed | 1),
                },
            };
            let lines = proto.login(nick);
            conn.writer.send_each(&lines).await?;
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
            self.writer.send_each(&[line]).await?;
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
            self.writer.answer(&pongs, &mut self.reader).await?;
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
        // Drop what was handed out last time, keep a partial line or frame.
        let buf = &mut self.buf;
        buf.drain(..self.used);
        self.used = 0;
        if buf.capacity() - buf.len() < 2048 {
            buf.reserve(buf.capacity().max(4096));
        }
        let n = match self.sock.read_buf(buf).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        if n == 0 {
            return Ok(false);
        }
        let mut open = true;
        let start = if self.ws {
            let (used, closed) = frames(buf, &mut self.pings, |text| each(text, now))?;
            open = !closed;
            used
        } else {
            let mut start = 0;
            while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
                let mut line = &buf[start..start + nl];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                each(line, now);
                start += nl + 1;
            }
            start
        };
        self.used = start;
        if buf.len() - start > MAX_LINE {
            bail!("a line or frame longer than {MAX_LINE} bytes");
        }
        Ok(open)
    }
}

impl Reader {
    /// Whether WebSocket pings wait for an answer.
    pub fn has_pings(&self) -> bool {
        !self.pings.is_empty()
    }
}

/// Hands each whole text frame at the start of `buf` to `each` and keeps
/// the pings' payloads; how many bytes were whole frames, and whether the
/// server closed.
fn frames(
    buf: &[u8],
    pings: &mut Vec<Vec<u8>>,
    mut each: impl FnMut(&[u8]),
) -> anyhow::Result<(usize, bool)> {
    let mut at = 0;
    while at < buf.len() {
        let mut cursor = std::io::Cursor::new(&buf[at..]);
        let Some((header, len)) = FrameHeader::parse(&mut cursor)? else {
            break;
        };
        let body = at + cursor.position() as usize;
        let Some(end) = usize::try_from(len).ok().and_then(|l| body.checked_add(l)) else {
            bail!("a frame of {len} bytes");
        };
        if end > buf.len() {
            break;
        }
        if !header.is_final || header.mask.is_some() {
            bail!("a fragmented or masked frame from the server: {header:?}");
        }
        let payload = &buf[body..end];
        at = end;
        match header.opcode {
            OpCode::Data(Data::Text) => each(payload),
            OpCode::Control(Control::Ping) => pings.push(payload.to_vec()),
            OpCode::Control(Control::Close) => return Ok((at, true)),
            _ => {}
        }
    }
    Ok((at, false))
}

impl Writer {
    /// Sends each of `items` as a line (IRC, line protocol: CR LF added)
    /// or a text frame (WebSocket), in one write.
    pub async fn send_each(&mut self, items: &[String]) -> anyhow::Result<()> {
        let mut out = Vec::new();
        for item in items {
            self.put(&mut out, OpCode::Data(Data::Text), item.as_bytes());
        }
        self.sock.write_all(&out).await?;
        Ok(())
    }

    /// Sends bytes already framed by `Proto::say`: for TCP one write of
    /// many lines; for WebSocket one frame per item of `frames`.
    pub async fn send_batch(&mut self, lines: &str, frames: &[String]) -> anyhow::Result<()> {
        if self.ws.is_none() {
            self.sock.write_all(lines.as_bytes()).await?;
            return Ok(());
        }
        self.send_each(frames).await
    }

    /// Answers pings: IRC's (`pongs`, lines) and the WebSocket pings
    /// `reader` kept.
    pub async fn answer(&mut self, pongs: &[String], reader: &mut Reader) -> anyhow::Result<()> {
        let mut out = Vec::new();
        for pong in pongs {
            self.put(&mut out, OpCode::Data(Data::Text), pong.as_bytes());
        }
        for ping in std::mem::take(&mut reader.pings) {
            self.put(&mut out, OpCode::Control(Control::Pong), &ping);
        }
        if !out.is_empty() {
            self.sock.write_all(&out).await?;
        }
        Ok(())
    }

    /// Appends `payload` to `out`: a line, or a masked frame.
    fn put(&mut self, out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
        let Some(state) = &mut self.ws else {
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
            return;
        };
        // xorshift64: masks that change from frame to frame.
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        let header = FrameHeader {
            opcode,
            mask: Some((*state as u32).to_be_bytes()),
            ..FrameHeader::default()
        };
        Frame::from_payload(header, Bytes::copy_from_slice(payload))
            .format(out)
            .expect("writing to a Vec cannot fail");
    }

    /// Closes politely, within `wait`.
    pub async fn close(&mut self, wait: Duration) {
        let _ = tokio::time::timeout(wait, async {
            if self.ws.is_some() {
                let mut out = Vec::new();
                self.put(
                    &mut out,
                    OpCode::Control(Control::Close),
                    &1000u16.to_be_bytes(),
                );
                let _ = self.sock.write_all(&out).await;
            }
            let _ = self.sock.shutdown().await;
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        Frame::from_payload(header, Bytes::copy_from_slice(payload))
            .format(out)
            .unwrap();
    }

    #[test]
    fn whole_frames_are_handed_over_and_a_partial_one_kept() {
        let mut buf = Vec::new();
        let text = OpCode::Data(Data::Text);
        frame(text, b"one", &mut buf);
        frame(OpCode::Control(Control::Ping), b"confab", &mut buf);
        frame(text, &[b'x'; 300], &mut buf);
        let whole = buf.len();
        frame(text, b"half", &mut buf);
        buf.truncate(buf.len() - 2);
        let (mut got, mut pings) = (Vec::new(), Vec::new());
        let (used, closed) = frames(&buf, &mut pings, |t| got.push(t.to_vec())).unwrap();
        assert_eq!((used, closed), (whole, false));
        assert_eq!(got, [b"one".to_vec(), vec![b'x'; 300]]);
        assert_eq!(pings, [b"confab".to_vec()]);
        // A close ends it; a masked frame is not the server's.
        let mut buf = Vec::new();
        frame(
            OpCode::Control(Control::Close),
            &1000u16.to_be_bytes(),
            &mut buf,
        );
        assert!(frames(&buf, &mut pings, |_| {}).unwrap().1);
        let mut masked = Vec::new();
        let header = FrameHeader {
            opcode: text,
            mask: Some([1, 2, 3, 4]),
            ..FrameHeader::default()
        };
        Frame::from_payload(header, Bytes::from_static(b"hi"))
            .format(&mut masked)
            .unwrap();
        assert!(frames(&masked, &mut pings, |_| {}).is_err());
    }
}
