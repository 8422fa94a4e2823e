//! A WebSocket (RFC 6455) as the web doors use it, after the upgrade
//! (`http::upgrade`): tungstenite reads the client's frames (unmasking,
//! reassembly, limits, answering pings and closes), and the door frames
//! what it sends itself, into a buffer of its own ([`Frames`]), written
//! in one piece.
//!
//! Why not tungstenite's writes: it copies each message into a write
//! buffer of its own and writes whenever that passes a size, so a batch of
//! deliveries took one `send` per few KiB, and a larger buffer is kept for
//! the connection's life once grown. A door's [`Frames`] go out with one
//! write per batch and are given back when the connection is quiet, as the
//! IRC door's lines are.
//!
//! The two writers never interleave: [`Socket::write`] first lets
//! tungstenite finish what it holds (a pong, a close), and tungstenite is
//! polled again only after the door's frames are written whole.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWrite;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{FrameHeader, Utf8Bytes};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

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

/// The settings of every WebSocket: `max_message` bytes per message (and
/// per frame) from the client, and a read buffer of `read_buffer` bytes.
/// tungstenite allocates the read buffer whole when the socket opens and
/// keeps it, so it is small; a larger frame gets room for itself when its
/// header says so.
pub fn config(max_message: usize, read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        // What tungstenite itself writes (pongs, closes) is small.
        .write_buffer_size(0)
}

/// An upgraded connection, the server's end.
pub struct Socket {
    ws: WebSocketStream<TokioIo<Upgraded>>,
}

impl Socket {
    pub async fn new(io: Upgraded, config: WebSocketConfig) -> Socket {
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(io),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            Some(config),
        )
        .await;
        Socket { ws }
    }

    /// The client's next message; `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.ws.next().await
    }

    /// Writes `frames` whole after what tungstenite holds, and empties
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
        ready!(self.ws.poll_flush_unpin(cx))?;
        let io = self.ws.get_mut();
        ready!(crate::hub_task::poll_write_all(io, cx, &frames.0, written)).map_err(Error::Io)?;
        ready!(Pin::new(&mut *io).poll_flush(cx)).map_err(Error::Io)?;
        frames.0.clear();
        *written = 0;
        Poll::Ready(Ok(()))
    }

    /// Sends a close frame with `code` and `reason` (which must fit a
    /// control frame: at most 123 bytes).
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame {
            code: code.into(),
            reason: Utf8Bytes::from(reason),
        };
        self.ws.send(Message::Close(Some(frame))).await
    }
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
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        header
            .format(payload.len() as u64, &mut self.0)
            .expect("writing to a Vec cannot fail");
        self.0.extend_from_slice(payload);
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
}
