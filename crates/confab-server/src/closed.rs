//! A connection's log lines: which connection each is about
//! ([`ConnLog`], [`conn_event!`]), and who ended it, as every door logs it:
//! one `disconnected` line with `closed_by` and the reason, so an operator
//! can tell a client that left from a server that sent it away.

use std::net::SocketAddr;

use confab_core::SessionId;

/// Which connection a log line is about: its door, session and peer,
/// written as fields of each of its lines by [`conn_event!`]. A connection
/// holds no `tracing` span: one keeps ~300 bytes for as long as the
/// connection lives, and costs an enter and an exit on every wake.
#[derive(Debug, Clone, Copy)]
pub struct ConnLog {
    pub door: &'static str,
    pub sid: SessionId,
    pub peer: SocketAddr,
}

/// `conn_event!(level, who, fields…, "message")`: a `tracing` event at
/// `level` (`info`, `debug`, …) with `who`'s ([`ConnLog`]) door, sid and
/// peer first.
macro_rules! conn_event {
    ($level:ident, $who:expr, $($rest:tt)+) => {{
        let who: &$crate::closed::ConnLog = &$who;
        tracing::$level!(door = who.door, sid = who.sid.0, peer = %who.peer, $($rest)+)
    }};
}
pub(crate) use conn_event;

/// Who (or what) ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The client closed the socket, sent a close frame, or quit.
    Client,
    /// The server ended it: a kill, a K-line, flood, bad input, a bad
    /// token, shutdown (the reason says which).
    Server,
    /// The hub dropped it at once because its outbound queue was full
    /// (SendQ exceeded): a client too slow to read.
    Killed,
    /// A timer ran out: login, registration or ping.
    Timeout,
    /// Reading from the socket failed.
    ReadError,
    /// Writing to the socket failed.
    WriteError,
}

impl ClosedBy {
    /// A failed read: the client's doing when it reset the connection
    /// (closed with data unread, or its process ended).
    pub fn read_error(e: &std::io::Error) -> ClosedBy {
        match e.kind() {
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                ClosedBy::Client
            }
            _ => ClosedBy::ReadError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::Killed => "killed",
            ClosedBy::Timeout => "timeout",
            ClosedBy::ReadError => "read_error",
            ClosedBy::WriteError => "write_error",
        }
    }

    /// Logs the end of `who`'s connection. A kill is a warning: it means a
    /// client could not keep up.
    pub fn log(self, who: &ConnLog, reason: &str) {
        let closed_by = self.as_str();
        if self == ClosedBy::Killed {
            conn_event!(warn, who, closed_by, reason, "disconnected");
        } else {
            conn_event!(info, who, closed_by, reason, "disconnected");
        }
    }
}
