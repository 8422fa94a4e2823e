//! Who ended a connection, as every door logs it: one `disconnected`
//! line with `closed_by` and the reason, so an operator can tell a client
//! that left from a server that sent it away.

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

    /// Logs the end of a connection (in the connection's span, which has
    /// its session id and address). A kill is a warning: it means a
    /// client could not keep up.
    pub fn log(self, reason: &str) {
        let closed_by = self.as_str();
        if self == ClosedBy::Killed {
            tracing::warn!(closed_by, reason, "disconnected");
        } else {
            tracing::info!(closed_by, reason, "disconnected");
        }
    }
}
