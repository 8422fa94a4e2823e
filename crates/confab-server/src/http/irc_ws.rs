//! IRC over WebSocket (the IRCv3 WebSocket transport,
//! <https://ircv3.net/specs/extensions/websocket>): one IRC line per
//! WebSocket message, without its CR LF, so web IRC clients can connect.
//!
//! The IRC door is the same as on TCP: it runs over one end of an
//! in-memory pipe, and this bridge moves lines between the other end and
//! the WebSocket. Incoming messages become lines (CR LF appended); the
//! door's output is split at its line ends, each line one message: text
//! frames for `text.ircv3.net` (invalid UTF-8 replaced by U+FFFD, as text
//! frames must be UTF-8), binary frames for `binary.ircv3.net`.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tracing::{debug, info};

use super::Shared;
use crate::metrics::ConnGauge;
use crate::websocket::{Frames, Message, Socket, close_code};

/// Bytes buffered in the pipe each way.
const PIPE: usize = 64 * 1024;
/// How long a closing client's last lines may take to reach the door.
const FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves the IRC door over `socket`: one IRC line per WebSocket message,
/// as text (`text.ircv3.net`) or binary (`binary.ircv3.net`) frames.
pub async fn serve(socket: Socket, binary: bool, peer: SocketAddr, state: Shared) {
    let _gauge = ConnGauge::new("irc-ws");
    let (door_end, bridge_end) = tokio::io::duplex(PIPE);
    let door = tokio::spawn(crate::irc::conn::serve(
        door_end,
        peer,
        Bytes::new(),
        state.hub.clone(),
        state.config.clone(),
    ));
    let max_line = state.config.http.max_ws_message_bytes;
    bridge(socket, bridge_end, binary, max_line, peer).await;
    // The pipe is closed: the door sees the end of its input (or cannot
    // write any more) and ends the session as a TCP client's would.
    let _ = door.await;
}

/// Why an incoming message is refused.
fn check_incoming(line: &[u8]) -> Result<(), &'static str> {
    if line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err("one IRC line per message, without CR, LF or NUL");
    }
    Ok(())
}

/// The next complete line of the door's output in `buf` (without its line
/// end), or everything when it holds more than `max` bytes with no line
/// end (the door never writes such a line).
fn next_line(buf: &mut BytesMut, max: usize) -> Option<Bytes> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            Some(line.freeze())
        }
        None if buf.len() > max => Some(buf.split().freeze()),
        None => None,
    }
}

/// One line of the door's output as a WebSocket message.
fn frame(frames: &mut Frames, line: &[u8], binary: bool) {
    if binary {
        frames.binary(line);
    } else {
        frames.text(&String::from_utf8_lossy(line));
    }
}

/// Moves lines both ways until either side ends. Lines for the door wait
/// in `to_door` (at most about `max_line` bytes of it, so a client cannot
/// grow it), while the door's output keeps being read: neither direction
/// can block the other.
/// (Its log lines name the bridge and `peer`; the door's own lines, its
/// session.)
async fn bridge(
    mut socket: Socket,
    pipe: DuplexStream,
    binary: bool,
    max_line: usize,
    peer: SocketAddr,
) {
    let (mut from_door, mut to_door_w) = tokio::io::split(pipe);
    let mut out = BytesMut::with_capacity(4096);
    let mut frames = Frames::default();
    let mut to_door = BytesMut::new();
    loop {
        tokio::select! {
            msg = socket.recv(), if to_door.len() < max_line => {
                let data: Bytes = match msg {
                    Some(Ok(Message::Text(t))) => Bytes::copy_from_slice(t.as_bytes()),
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => {
                        debug!(door = "irc-ws", %peer, binary, "client closed the WebSocket");
                        // Its last lines (a QUIT and its reason) still
                        // reach the door, unless the door stopped reading.
                        let flush = to_door_w.write_all(&to_door);
                        let _ = tokio::time::timeout(FLUSH, flush).await;
                        return;
                    }
                    Some(Err(e)) => {
                        debug!(door = "irc-ws", %peer, binary, error = %e, "WebSocket error");
                        return;
                    }
                };
                if let Err(why) = check_incoming(&data) {
                    info!(door = "irc-ws", %peer, binary, why, "refused a WebSocket message");
                    let _ = socket.close(close_code::INVALID, why).await;
                    return;
                }
                if !data.is_empty() {
                    to_door.extend_from_slice(&data);
                    to_door.extend_from_slice(b"\r\n");
                }
            }
            written = to_door_w.write_buf(&mut to_door), if !to_door.is_empty() => {
                if written.is_err() {
                    // The door has ended; its last words are still to read.
                    to_door.clear();
                }
            }
            read = from_door.read_buf(&mut out) => {
                let n = read.unwrap_or(0);
                // Every whole line read, in one write.
                while let Some(line) = next_line(&mut out, PIPE) {
                    frame(&mut frames, &line, binary);
                }
                if n == 0 && !out.is_empty() {
                    frame(&mut frames, &out.split(), binary);
                }
                if socket.write(&mut frames).await.is_err() {
                    return;
                }
                frames.release(crate::hub_task::KEEP_BYTES);
                socket.release(crate::hub_task::KEEP_BYTES);
                if n == 0 {
                    let _ = socket.close(close_code::NORMAL, "").await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_ends() {
        let mut buf = BytesMut::from(&b"PING :a\r\n:s 001 n :hi\nhalf"[..]);
        assert_eq!(next_line(&mut buf, 100).unwrap(), &b"PING :a"[..]);
        assert_eq!(next_line(&mut buf, 100).unwrap(), &b":s 001 n :hi"[..]);
        assert_eq!(next_line(&mut buf, 100), None);
        assert_eq!(next_line(&mut buf, 3).unwrap(), &b"half"[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn text_frames_are_always_utf8() {
        let mut text = Frames::default();
        frame(&mut text, b"PRIVMSG #a :caf\xe9", false);
        let mut want = Frames::default();
        want.text("PRIVMSG #a :caf\u{fffd}");
        assert_eq!(text.as_bytes(), want.as_bytes());
        let mut binary = Frames::default();
        frame(&mut binary, b"caf\xe9", true);
        assert_eq!(binary.as_bytes(), b"\x82\x04caf\xe9");
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(check_incoming(b"NICK a").is_ok());
        for bad in [&b"NICK a\r\n"[..], b"NICK a\nUSER", b"NICK \0"] {
            assert!(check_incoming(bad).is_err(), "{bad:?}");
        }
    }
}
