//! A WebSocket (RFC 6455) as the web doors use it, after the upgrade
//! (`http::upgrade`): [`Socket`] reads the client's frames itself
//! (unmasking, reassembly, limits, answering pings and closes), with
//! tungstenite's frame header parser, and the door frames what it sends
//! itself, into a buffer of its own ([`Frames`]), written in one piece.
//!
//! Why not tungstenite's (or tokio-tungstenite's) stream: it copies each
//! message into a write buffer of its own and writes whenever that passes
//! a size, so a batch of deliveries took one `send` per few KiB; and
//! every connection held its read buffer, two `Arc`s of wakers and its
//! state for life, about 500 bytes of an idle connection's 3.9 KB
//! (heaptrack, 2026-12-05, docs/performance.md). A [`Socket`] reads into
//! the worker thread's scratch buffer as the IRC door does, keeps only
//! the part of a frame that has not all come, and holds nothing while
//! idle once [`Socket::release`]d.
//!
//! Replies the socket owes the client (a pong, the answer to a close) go
//! out before the door's next frames, or while it reads, never inside a
//! frame of the door's: [`Socket::poll_write`] writes them first.

use std::io::Cursor;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{FrameHeader, Utf8Bytes};

use crate::rewind::Rewind;

pub use tokio_tungstenite::tungstenite::{Error, Message};

/// Close codes (RFC 6455 section 7.4.1) the doors send.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL: u16 = 1002;
    pub const INVALID: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const SIZE: u16 = 1009;
}

/// The longest payload of a control frame (ping, pong, close).
const MAX_CONTROL: usize = 125;

/// What a WebSocket accepts from its client.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of a message (and so of a frame), reassembled.
    pub max_message: usize,
}

/// A message whose frames are still coming.
struct Partial {
    text: bool,
    data: BytesMut,
}

/// What a WebSocket runs over: the plain TCP socket under hyper's
/// upgraded connection when it is one (so that an idle connection can
/// park, `park`), else the upgraded connection (TLS).
pub enum WsIo {
    Tcp(Rewind<TcpStream>),
    Other(Box<dyn crate::rewind::Io>),
}

impl WsIo {
    /// The upgraded connection's own stream when it is plain TCP (the
    /// HTTP door's, with nothing left to rewind), with what hyper read
    /// past the handshake before it.
    fn of(io: Upgraded) -> WsIo {
        type Plain = TokioIo<Rewind<Rewind<TcpStream>>>;
        let parts = match io.downcast::<Plain>() {
            Ok(parts) => parts,
            Err(io) => return WsIo::Other(Box::new(TokioIo::new(io))),
        };
        let read = parts.read_buf;
        // (Both rewound prefixes are read by then: hyper read the request
        // whole, and what came before it.)
        match parts.io.into_inner().into_plain() {
            Ok(inner) => match inner.into_plain() {
                Ok(tcp) => WsIo::Tcp(Rewind::new(read, tcp)),
                Err(inner) => WsIo::Other(Box::new(Rewind::new(read, inner))),
            },
            Err(outer) => WsIo::Other(Box::new(Rewind::new(read, outer))),
        }
    }
}

impl WsIo {
    /// The stream under it, whichever it is.
    fn io(self: Pin<&mut Self>) -> Pin<&mut dyn crate::rewind::Io> {
        match self.get_mut() {
            WsIo::Tcp(s) => Pin::new(s),
            WsIo::Other(s) => Pin::new(&mut **s),
        }
    }
}

impl AsyncRead for WsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.io().poll_read(cx, buf)
    }
}

impl AsyncWrite for WsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io().poll_shutdown(cx)
    }
}

/// An upgraded connection, the server's end (over hyper's upgraded
/// connection; over any stream in tests).
pub struct Socket<S = WsIo> {
    io: S,
    /// Read and not yet taken: the start of a frame whose end has not
    /// come. Empty, and without room once released, while idle.
    inbuf: BytesMut,
    /// The frames of a fragmented message so far. (Boxed: rare.)
    partial: Option<Box<Partial>>,
    /// Control frames being written to the client, and how much of them.
    owed: Vec<u8>,
    owed_written: usize,
    /// The payload of the last ping not yet answered (RFC 6455 5.5.3: a
    /// pong for the latest is enough).
    pong: Option<Bytes>,
    /// The client's close frame, to send back once what is owed is out.
    close_reply: Option<Bytes>,
    limits: Limits,
    /// Bytes still to come of a message refused as too big, skipped so
    /// that what follows it (the client's close) can be read.
    skip: u64,
    /// Our close frame went out.
    sent_close: bool,
    /// The client's close frame came: nothing more is read.
    got_close: bool,
}

impl Socket {
    pub fn new(io: Upgraded, limits: Limits) -> Socket {
        Socket::over(WsIo::of(io), limits)
    }

    /// A parked connection's socket again (`park`).
    pub fn resumed(io: Rewind<TcpStream>, limits: Limits) -> Socket {
        Socket::over(WsIo::Tcp(io), limits)
    }

    /// Whether it holds nothing but its stream, a plain TCP one that can
    /// park: no frame half read, nothing owed, not closing.
    pub fn can_park(&self) -> bool {
        matches!(&self.io, WsIo::Tcp(s) if s.is_plain())
            && self.inbuf.is_empty()
            && self.partial.is_none()
            && self.owed.is_empty()
            && self.pong.is_none()
            && self.close_reply.is_none()
            && self.skip == 0
            && !self.sent_close
            && !self.got_close
    }

    /// Its TCP socket, to park (once [`Socket::can_park`]).
    pub fn into_tcp(self) -> Option<Rewind<TcpStream>> {
        match self.io {
            WsIo::Tcp(s) => Some(s),
            WsIo::Other(_) => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    fn over(io: S, limits: Limits) -> Socket<S> {
        Socket {
            io,
            inbuf: BytesMut::new(),
            partial: None,
            owed: Vec::new(),
            owed_written: 0,
            pong: None,
            close_reply: None,
            limits,
            skip: 0,
            sent_close: false,
            got_close: false,
        }
    }

    /// The client's next message; `None` once the connection is closed
    /// (after the client's close frame, answered). Pings are answered
    /// here and returned too. Cancel-safe: what was read stays for the
    /// next call.
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message, Error>>> + '_ {
        std::future::poll_fn(move |cx| self.poll_recv(cx))
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            // What is owed goes out as it can; reading goes on meanwhile
            // (a client that does not read still gets read).
            match self.poll_owed(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Error::Io(e)))),
                Poll::Pending if self.got_close => return Poll::Pending,
                Poll::Ready(Ok(())) if self.got_close => return Poll::Ready(None),
                _ => {}
            }
            match self.next_message() {
                Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            let inbuf = &mut self.inbuf;
            let read = crate::hub_task::poll_read_with(&mut self.io, cx, |b| {
                inbuf.extend_from_slice(b);
            });
            match ready!(read) {
                Ok(0) => {
                    let e = ProtocolError::ResetWithoutClosingHandshake;
                    return Poll::Ready(Some(Err(Error::Protocol(e))));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(Error::Io(e)))),
            }
        }
    }

    /// The next whole message in what was read, answering the control
    /// frames on the way; `None` until more comes.
    fn next_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let Some((header, payload)) = self.next_frame()? else {
                return Ok(None);
            };
            match header.opcode {
                OpCode::Control(Control::Ping) => {
                    self.pong = Some(payload.clone());
                    return Ok(Some(Message::Ping(payload)));
                }
                OpCode::Control(Control::Pong) => return Ok(Some(Message::Pong(payload))),
                OpCode::Control(Control::Close) => return self.closed(payload).map(Some),
                OpCode::Control(Control::Reserved(op)) => {
                    return Err(Error::Protocol(ProtocolError::UnknownControlFrameType(op)));
                }
                OpCode::Data(Data::Reserved(op)) => {
                    return Err(Error::Protocol(ProtocolError::UnknownDataFrameType(op)));
                }
                OpCode::Data(Data::Continue) => {
                    let Some(partial) = self.partial.as_mut() else {
                        return Err(Error::Protocol(ProtocolError::UnexpectedContinueFrame));
                    };
                    partial.data.extend_from_slice(&payload);
                    if header.is_final {
                        let Partial { text, data } = *self.partial.take().expect("checked");
                        return message(text, data.freeze()).map(Some);
                    }
                }
                OpCode::Data(kind) => {
                    if self.partial.is_some() {
                        return Err(Error::Protocol(ProtocolError::ExpectedFragment(kind)));
                    }
                    let text = kind == Data::Text;
                    if header.is_final {
                        return message(text, payload).map(Some);
                    }
                    self.partial = Some(Box::new(Partial {
                        text,
                        data: BytesMut::from(&payload[..]),
                    }));
                }
            }
        }
    }

    /// The next whole frame read, checked and unmasked; `None` until the
    /// rest of it comes.
    fn next_frame(&mut self) -> Result<Option<(FrameHeader, Bytes)>, Error> {
        if self.skip > 0 {
            let n =
                usize::try_from(self.skip).map_or(self.inbuf.len(), |s| s.min(self.inbuf.len()));
            self.inbuf.advance(n);
            self.skip -= n as u64;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        let mut cursor = Cursor::new(&self.inbuf[..]);
        let Some((header, len)) = FrameHeader::parse(&mut cursor)? else {
            return Ok(None);
        };
        let protocol = |e| Err(Error::Protocol(e));
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return protocol(ProtocolError::NonZeroReservedBits);
        }
        let Some(mask) = header.mask else {
            // RFC 6455 5.1: a server closes on an unmasked client frame.
            return protocol(ProtocolError::UnmaskedFrameFromClient);
        };
        if let OpCode::Control(_) = header.opcode {
            if !header.is_final {
                return protocol(ProtocolError::FragmentedControlFrame);
            }
            if len > MAX_CONTROL as u64 {
                return protocol(ProtocolError::ControlFrameTooBig);
            }
        }
        // The limit is checked on the header, before the payload comes.
        let so_far = match (&header.opcode, &self.partial) {
            (OpCode::Data(_), Some(p)) => p.data.len() as u64,
            _ => 0,
        };
        let size = so_far.saturating_add(len);
        if size > self.limits.max_message as u64 {
            // The message is dropped whole: its frames so far, and this
            // frame as it comes.
            self.partial = None;
            let at = cursor.position() as usize;
            self.inbuf.advance(at);
            self.skip = len;
            return Err(Error::Capacity(CapacityError::MessageTooLong {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max_size: self.limits.max_message,
            }));
        }
        let at = cursor.position() as usize;
        let len = len as usize;
        if self.inbuf.len() < at + len {
            self.inbuf.reserve(at + len - self.inbuf.len());
            return Ok(None);
        }
        self.inbuf.advance(at);
        let mut payload = self.inbuf.split_to(len);
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i & 3];
        }
        Ok(Some((header, payload.freeze())))
    }

    /// The client's close frame: answered with the same code (a code no
    /// endpoint may send is answered as a protocol error), unless ours
    /// went first.
    fn closed(&mut self, payload: Bytes) -> Result<Message, Error> {
        self.got_close = true;
        let frame = match payload.len() {
            0 => None,
            1 => return Err(Error::Protocol(ProtocolError::InvalidCloseSequence)),
            _ => Some(CloseFrame {
                code: CloseCode::from(u16::from_be_bytes([payload[0], payload[1]])),
                reason: Utf8Bytes::try_from(payload.slice(2..))?,
            }),
        };
        if !self.sent_close {
            self.close_reply = Some(match &frame {
                Some(f) if !f.code.is_allowed() => close_payload(close_code::PROTOCOL, ""),
                _ => payload,
            });
        }
        Ok(Message::Close(frame))
    }

    /// Writes the control frames owed: the last ping's pong, then the
    /// answer to a close.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            if self.owed_written < self.owed.len() {
                let written = &mut self.owed_written;
                ready!(crate::hub_task::poll_write_all(
                    &mut self.io,
                    cx,
                    &self.owed,
                    written
                ))?;
                ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            }
            self.owed.clear();
            self.owed_written = 0;
            if let Some(payload) = self.pong.take() {
                push(&mut self.owed, OpCode::Control(Control::Pong), &payload);
            } else if let Some(payload) = self.close_reply.take() {
                push(&mut self.owed, OpCode::Control(Control::Close), &payload);
                self.sent_close = true;
            } else {
                // Nothing owed: no room kept for it either.
                if self.owed.capacity() > 0 {
                    self.owed = Vec::new();
                }
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Gives back the read buffer's room beyond `keep` bytes when it
    /// holds nothing, as the doors do with their own buffers (see
    /// `hub_task::Quiet`).
    pub fn release(&mut self, keep: usize) {
        if self.inbuf.is_empty() && (keep == 0 || self.inbuf.capacity() > keep) {
            self.inbuf = BytesMut::new();
        }
    }

    /// Writes `frames` whole after what the socket owes, and empties
    /// them (keeping their room: the door decides what it gives back).
    /// Dropped while it waits (a killed connection), it may leave a frame
    /// half written: the connection must then end.
    pub fn write<'a>(
        &'a mut self,
        frames: &'a mut Frames,
    ) -> impl Future<Output = Result<(), Error>> + 'a {
        let mut written = 0;
        std::future::poll_fn(move |cx| self.poll_write(cx, frames, &mut written))
    }

    /// [`Socket::write`] as a poll function, whose caller keeps `written`
    /// (0 at first) between polls: a door's loop awaits it in every
    /// connection's task, where an `async fn`'s state would take room.
    pub fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        frames: &mut Frames,
        written: &mut usize,
    ) -> Poll<Result<(), Error>> {
        if *written == 0 {
            ready!(self.poll_owed(cx)).map_err(Error::Io)?;
        }
        let io = &mut self.io;
        ready!(crate::hub_task::poll_write_all(io, cx, &frames.0, written)).map_err(Error::Io)?;
        ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(Error::Io)?;
        frames.0.clear();
        *written = 0;
        Poll::Ready(Ok(()))
    }

    /// Sends a close frame with `code` and `reason` (which must fit a
    /// control frame: at most 123 bytes), after what is owed.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_owed(cx)).await?;
        if self.sent_close {
            return Ok(());
        }
        let mut frames = Frames::default();
        frames.push(
            OpCode::Control(Control::Close),
            &close_payload(code, reason),
        );
        self.sent_close = true;
        self.write(&mut frames).await
    }
}

/// A whole message from its payload; a text one must be UTF-8.
fn message(text: bool, payload: Bytes) -> Result<Message, Error> {
    if text {
        Ok(Message::Text(Utf8Bytes::try_from(payload)?))
    } else {
        Ok(Message::Binary(payload))
    }
}

/// A close frame's payload: the code, then the reason.
fn close_payload(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload.truncate(MAX_CONTROL);
    Bytes::from(payload)
}

/// Appends one unmasked frame (a server's) to `buf`.
fn push(buf: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    header
        .format(payload.len() as u64, buf)
        .expect("writing to a Vec cannot fail");
    buf.extend_from_slice(payload);
}

/// Whether a read failed because a frame or message from the client was
/// over the size limit.
pub fn too_big(e: &Error) -> bool {
    matches!(e, Error::Capacity(_))
}

/// Frames to send, encoded (server frames are not masked), in order.
#[derive(Default)]
pub struct Frames(Vec<u8>);

impl Frames {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The encoded frames.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A text message.
    pub fn text(&mut self, text: &str) {
        self.push(OpCode::Data(Data::Text), text.as_bytes());
    }

    /// A text message from bytes the caller made from a `String` (a
    /// shared rendering), so UTF-8 already: not checked again on every
    /// delivery.
    pub fn text_rendered(&mut self, utf8: &[u8]) {
        debug_assert!(std::str::from_utf8(utf8).is_ok(), "a rendering is UTF-8");
        self.push(OpCode::Data(Data::Text), utf8);
    }

    /// A binary message.
    pub fn binary(&mut self, data: &[u8]) {
        self.push(OpCode::Data(Data::Binary), data);
    }

    /// A ping; its payload is cut to what a control frame holds.
    pub fn ping(&mut self, payload: &[u8]) {
        let cut = payload.len().min(MAX_CONTROL);
        self.push(OpCode::Control(Control::Ping), &payload[..cut]);
    }

    fn push(&mut self, opcode: OpCode, payload: &[u8]) {
        push(&mut self.0, opcode, payload);
    }

    /// Gives back room beyond `keep` bytes (see `hub_task::Quiet`).
    pub fn release(&mut self, keep: usize) {
        crate::hub_task::release(&mut self.0, keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `buf`'s frames back with tungstenite's own parser.
    fn parse(buf: &[u8]) -> Vec<(OpCode, Vec<u8>)> {
        let mut cursor = std::io::Cursor::new(buf);
        let mut frames = Vec::new();
        while (cursor.position() as usize) < buf.len() {
            let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final);
            assert_eq!(header.mask, None, "a server's frames are not masked");
            let at = cursor.position() as usize;
            let payload = buf[at..at + len as usize].to_vec();
            cursor.set_position((at + len as usize) as u64);
            frames.push((header.opcode, payload));
        }
        frames
    }

    #[test]
    fn frames_of_every_length_read_back() {
        let mut f = Frames::default();
        let long = "é".repeat(40_000);
        f.text("hi");
        f.text(&"x".repeat(125));
        f.text(&"x".repeat(126));
        f.binary(&[0, 255, 10]);
        f.text(&long);
        f.ping(&[7u8; 300]);
        let got = parse(&f.0);
        let text = OpCode::Data(Data::Text);
        assert_eq!(got[0], (text, b"hi".to_vec()));
        assert_eq!(got[1].1.len(), 125);
        assert_eq!(got[2].1.len(), 126);
        assert_eq!(got[3], (OpCode::Data(Data::Binary), vec![0, 255, 10]));
        assert_eq!(got[4], (text, long.into_bytes()));
        assert_eq!(got[5], (OpCode::Control(Control::Ping), vec![7u8; 125]));
        assert_eq!(got.len(), 6);
    }

    // ---- the reader ----

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client's frame: masked, as RFC 6455 requires of clients.
    fn client_frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            is_final,
            opcode,
            mask: Some(MASK),
            ..FrameHeader::default()
        };
        let mut out = Vec::new();
        header.format(payload.len() as u64, &mut out).unwrap();
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i & 3]));
        out
    }

    fn close_frame(payload: &[u8]) -> Vec<u8> {
        client_frame(OpCode::Control(Control::Close), true, payload)
    }

    fn text_frame(is_final: bool, payload: &str) -> Vec<u8> {
        client_frame(OpCode::Data(Data::Text), is_final, payload.as_bytes())
    }

    /// A socket and the client's end of its stream.
    fn pair(max_message: usize) -> (Socket<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(1 << 20);
        (Socket::over(server, Limits { max_message }), client)
    }

    async fn next(socket: &mut Socket<DuplexStream>) -> Result<Message, Error> {
        socket
            .recv()
            .await
            .expect("a message or an error, not the end")
    }

    /// Reads the server's frames that have come so far.
    async fn server_frames(client: &mut DuplexStream) -> Vec<(OpCode, Vec<u8>)> {
        let mut buf = vec![0; 4096];
        let n = client.read(&mut buf).await.unwrap();
        parse(&buf[..n])
    }

    #[tokio::test]
    async fn messages_come_whole_from_frames_in_any_pieces() {
        let (mut socket, mut client) = pair(1000);
        let mut bytes = text_frame(true, "hello");
        bytes.extend(client_frame(OpCode::Data(Data::Binary), true, &[0, 1, 2]));
        // A text in three frames, a ping among them, and "é" cut between
        // two of them: UTF-8 is checked on the whole message.
        let e = "é".as_bytes();
        bytes.extend(client_frame(OpCode::Data(Data::Text), false, &[b'c', e[0]]));
        bytes.extend(client_frame(OpCode::Control(Control::Ping), true, b"p1"));
        bytes.extend(client_frame(
            OpCode::Data(Data::Continue),
            false,
            &[e[1], b'!'],
        ));
        bytes.extend(client_frame(OpCode::Data(Data::Continue), true, b""));
        // A byte at a time: nothing is lost between reads.
        tokio::spawn(async move {
            for b in bytes {
                client.write_all(&[b]).await.unwrap();
                tokio::task::yield_now().await;
            }
            client
        });
        assert_eq!(next(&mut socket).await.unwrap(), Message::text("hello"));
        assert_eq!(
            next(&mut socket).await.unwrap(),
            Message::Binary(Bytes::from_static(&[0, 1, 2]))
        );
        assert_eq!(
            next(&mut socket).await.unwrap(),
            Message::Ping(Bytes::from_static(b"p1"))
        );
        assert_eq!(next(&mut socket).await.unwrap(), Message::text("cé!"));
        // Nothing held once it is all taken.
        socket.release(0);
        assert_eq!(socket.inbuf.capacity(), 0);
    }

    #[tokio::test]
    async fn pings_are_answered_and_closes_echoed() {
        let (mut socket, mut client) = pair(1000);
        client
            .write_all(&client_frame(
                OpCode::Control(Control::Ping),
                true,
                b"are you there",
            ))
            .await
            .unwrap();
        assert!(matches!(next(&mut socket).await.unwrap(), Message::Ping(_)));
        // The pong goes out with the door's next frames, before them.
        let mut frames = Frames::default();
        frames.text("news");
        socket.write(&mut frames).await.unwrap();
        let got = server_frames(&mut client).await;
        assert_eq!(
            got[0],
            (OpCode::Control(Control::Pong), b"are you there".to_vec())
        );
        assert_eq!(got[1], (OpCode::Data(Data::Text), b"news".to_vec()));
        // A close: taken, answered with the same code, then the end.
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        client.write_all(&close_frame(&payload)).await.unwrap();
        let Message::Close(Some(frame)) = next(&mut socket).await.unwrap() else {
            panic!("not a close");
        };
        assert_eq!(u16::from(frame.code), 1000);
        assert_eq!(frame.reason.as_str(), "bye");
        assert!(socket.recv().await.is_none());
        let got = server_frames(&mut client).await;
        assert_eq!(got, [(OpCode::Control(Control::Close), payload)]);
    }

    #[tokio::test]
    async fn a_close_with_a_code_no_one_may_send_is_answered_as_a_protocol_error() {
        let (mut socket, mut client) = pair(1000);
        let payload = 1005u16.to_be_bytes();
        client.write_all(&close_frame(&payload)).await.unwrap();
        assert!(matches!(
            next(&mut socket).await.unwrap(),
            Message::Close(_)
        ));
        assert!(socket.recv().await.is_none());
        let got = server_frames(&mut client).await;
        assert_eq!(
            got,
            [(
                OpCode::Control(Control::Close),
                1002u16.to_be_bytes().to_vec()
            )]
        );
    }

    #[tokio::test]
    async fn our_close_then_theirs_ends_the_socket() {
        let (mut socket, mut client) = pair(1000);
        socket
            .close(close_code::POLICY, "login timeout")
            .await
            .unwrap();
        let got = server_frames(&mut client).await;
        let mut payload = 1008u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"login timeout");
        assert_eq!(got, [(OpCode::Control(Control::Close), payload)]);
        // What the client still sends is read up to its close, which is
        // not answered again.
        client.write_all(&text_frame(true, "late")).await.unwrap();
        client.write_all(&close_frame(b"")).await.unwrap();
        assert_eq!(next(&mut socket).await.unwrap(), Message::text("late"));
        assert_eq!(next(&mut socket).await.unwrap(), Message::Close(None));
        assert!(socket.recv().await.is_none());
        drop(socket);
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "answered twice: {rest:?}");
    }

    #[tokio::test]
    async fn what_breaks_the_protocol_is_an_error() {
        let unmasked = {
            let mut f = Frames::default();
            f.text("hi");
            f.0
        };
        let mut reserved = text_frame(true, "hi");
        reserved[0] |= 0x40;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (unmasked, "unmasked"),
            (reserved, "reserved bits"),
            (
                client_frame(OpCode::Data(Data::Continue), true, b"x"),
                "continue frame",
            ),
            (
                [text_frame(false, "a"), text_frame(true, "b")].concat(),
                "fragments",
            ),
            (
                client_frame(OpCode::Control(Control::Ping), false, b"x"),
                "fragmented",
            ),
            (
                client_frame(OpCode::Control(Control::Ping), true, &[0; 126]),
                "control frame",
            ),
            (
                client_frame(OpCode::Data(Data::Reserved(3)), true, b"x"),
                "opcode",
            ),
            (
                client_frame(OpCode::Control(Control::Close), true, &[3]),
                "close",
            ),
            (
                client_frame(OpCode::Data(Data::Text), true, &[0xff, 0xfe]),
                "utf",
            ),
        ];
        for (bytes, what) in cases {
            let (mut socket, mut client) = pair(1000);
            client.write_all(&bytes).await.unwrap();
            let e = next(&mut socket).await.expect_err(what);
            assert!(!too_big(&e), "{what}: {e}");
            assert!(e.to_string().to_lowercase().contains(what), "{what}: {e}");
        }
    }

    #[tokio::test]
    async fn a_message_over_the_limit_is_refused_by_its_header() {
        let (mut socket, mut client) = pair(100);
        // The header alone: the payload never has to come.
        let frame = text_frame(true, &"x".repeat(101));
        client.write_all(&frame[..8]).await.unwrap();
        assert!(too_big(&next(&mut socket).await.unwrap_err()));
        // Across fragments too.
        let (mut socket, mut client) = pair(100);
        client
            .write_all(&text_frame(false, &"x".repeat(60)))
            .await
            .unwrap();
        let frame = client_frame(OpCode::Data(Data::Continue), true, &[b'x'; 60]);
        client.write_all(&frame[..8]).await.unwrap();
        assert!(too_big(&next(&mut socket).await.unwrap_err()));
        // The rest of it is skipped as it comes: what follows is read.
        client.write_all(&frame[8..]).await.unwrap();
        client.write_all(&text_frame(true, "after")).await.unwrap();
        assert_eq!(next(&mut socket).await.unwrap(), Message::text("after"));
    }

    #[tokio::test]
    async fn the_end_without_a_close_is_a_reset() {
        let (mut socket, client) = pair(100);
        drop(client);
        let e = next(&mut socket).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            ),
            "{e}"
        );
    }
}
