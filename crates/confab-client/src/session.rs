//! The connection task: connects to a confab server's `/ws` (plain or
//! TLS), logs in, numbers requests and matches their answers, pings to
//! measure lag and notice a dead network, and reconnects with backoff and
//! jitter after a drop or a server restart, resuming so that nothing is
//! lost or shown twice. The only module that does network I/O.
//!
//! # How a UI uses it
//!
//! ```text
//! let (handle, mut events) = Session::start(opts);      // inside a tokio runtime
//! let mut model = Model::new(handle.ids());
//! loop {
//!     select! {
//!         ev = events.recv() => match ev {
//!             Some(SessionEvent::Event(e)) => effects = model.apply(&e, now),
//!             Some(SessionEvent::State(s)) => model.set_conn(s),
//!             Some(SessionEvent::Fatal(f)) | None => exit,
//!         },
//!         key = terminal => effects = model.act(commands::parse(line)?, now),
//!         _ = tick => effects = model.tick(now),
//!     }
//!     for e in effects { Effect::Request(out) => { handle.send(out); } … }
//! }
//! ```
//!
//! Every server message reaches `events`, answers to requests included, in
//! the order the server sent them; a [`Ticket`] additionally resolves with
//! the request's final answer (`ack`, `pong` or `bye`) or its
//! [`RequestError`], for callers that wait (line mode, `/upload`).
//! Requests made while not online fail at once with the code
//! `disconnected`: input that was not sent is the UI's to keep.
//!
//! On a reconnect the session says `hello` with `resume_after` (the largest
//! message id it has passed on) for an account; a guest, whose rooms do
//! not survive a disconnect, says `hello` without joining the default
//! room, joins its rooms again, then sends `resume`. The server never
//! repeats an id on one connection, and the session drops any message id
//! it has already passed on, so the model sees each message once.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::model::ConnState;
use crate::proto::{IdSource, Incoming, Outgoing, ReqId, Request, Secret};

/// How often the session pings (JSON `ping`) while online.
pub const PING_EVERY: Duration = Duration::from_secs(25);
/// How long a ping may go unanswered before the connection counts as lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// Reconnect delays, before jitter (±25 %); the last one repeats.
pub const BACKOFF: [Duration; 7] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
    Duration::from_secs(30),
];
/// The port confab servers listen on by default.
pub const DEFAULT_PORT: u16 = 7777;

/// How to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// A guest name (free, and not an account's).
    Guest { name: String },
    /// An account's name and password.
    Password { name: String, password: Secret },
    /// A login token from `POST /api/v1/login`.
    Token(Secret),
}

impl Login {
    /// The name asked for, when there is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Login::Guest { name } | Login::Password { name, .. } => Some(name),
            Login::Token(_) => None,
        }
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port` (a port is required; see [`with_default_port`]).
    pub server: String,
    /// Speak TLS (`wss://`).
    pub tls: bool,
    /// With `tls`: accept any certificate (self-signed test servers).
    /// Says so on stderr; the connection is then not authenticated.
    pub insecure: bool,
    pub login: Login,
    /// Join the server's default room when in no room (first login only).
    pub auto_join: bool,
    /// Give up (a [`Fatal::Gone`]) after being offline this long; `None`
    /// retries for ever.
    pub give_up_after: Option<Duration>,
}

impl ConnectOptions {
    /// Defaults: plain, the default room, retry for ever.
    pub fn new(server: impl Into<String>, login: Login) -> ConnectOptions {
        ConnectOptions {
            server: server.into(),
            tls: false,
            insecure: false,
            login,
            auto_join: true,
            give_up_after: None,
        }
    }
}

/// `host` → `host:7777`; `host:port` and `[v6]:port` as they are.
pub fn with_default_port(server: &str) -> String {
    let has_port = match server.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        server.to_owned()
    } else if server.contains(':') && !server.starts_with('[') {
        format!("[{server}]:{DEFAULT_PORT}")
    } else {
        format!("{server}:{DEFAULT_PORT}")
    }
}

/// Why the session stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    /// The server refused the login (`nick_in_use`, `nick_registered`,
    /// `bad_login`, `bad_token`, `guests_not_allowed`, a bad name …).
    #[error("{message}")]
    LoginRefused { code: String, message: String },
    /// The first connection failed: nothing answers there, or it is not
    /// a confab server.
    #[error("cannot connect to {server}: {why}")]
    Unreachable { server: String, why: String },
    /// Offline for longer than `give_up_after`.
    #[error("the server at {server} is gone: {why}")]
    Gone { server: String, why: String },
}

/// What the session tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// A server message (broadcasts and answers alike), in order.
    Event(Incoming),
    /// The connection's state changed.
    State(ConnState),
    /// The session has stopped for good; nothing more follows.
    Fatal(Fatal),
}

/// A refused or unanswered request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The server's code, or `disconnected` when the connection was not
    /// there or dropped before the answer.
    pub code: String,
    pub message: String,
    /// The offending field, for `bad_request`.
    pub field: Option<String>,
}

impl RequestError {
    fn disconnected(message: &str) -> RequestError {
        RequestError {
            code: "disconnected".into(),
            message: message.into(),
            field: None,
        }
    }
}

/// The answer to one request, to await (or drop: the answer still reaches
/// the event stream).
#[derive(Debug)]
pub struct Ticket {
    /// The request's id (its answers' `re`).
    pub id: ReqId,
    rx: oneshot::Receiver<Result<Incoming, RequestError>>,
}

impl std::future::Future for Ticket {
    /// The final answer (`ack`, `pong` or `bye`), or why there is none.
    type Output = Result<Incoming, RequestError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| Err(RequestError::disconnected("the session has stopped")))
        })
    }
}

/// What the handle asks of the session task.
#[derive(Debug)]
enum Cmd {
    Send {
        out: Outgoing,
        reply: oneshot::Sender<Result<Incoming, RequestError>>,
    },
    Quit {
        reason: Option<String>,
        done: oneshot::Sender<()>,
    },
}

/// The UI's side of a running session. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    ids: IdSource,
}

impl SessionHandle {
    /// The request id sequence, for [`Model::new`](crate::model::Model::new).
    pub fn ids(&self) -> IdSource {
        self.ids.clone()
    }

    /// Sends a request that already has its id (the model's). Without an
    /// id it gets one.
    pub fn send(&self, mut out: Outgoing) -> Ticket {
        let id = *out.id.get_or_insert_with(|| self.ids.next());
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Cmd::Send { reply, .. })) =
            self.tx.send(Cmd::Send { out, reply })
        {
            let _ = reply.send(Err(RequestError::disconnected("the session has stopped")));
        }
        Ticket { id, rx }
    }

    /// Sends a request with the next id.
    pub fn request(&self, request: Request) -> Ticket {
        self.send(self.ids.outgoing(request))
    }

    /// Says `quit` (when online), waits for the server's `bye` or the
    /// close (a few seconds at most), and stops the session.
    pub async fn quit(&self, reason: Option<String>) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Cmd::Quit { reason, done }).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The session task's entry point.
pub struct Session;

impl Session {
    /// Starts the session task (call inside a tokio runtime). Events come
    /// on the receiver until a [`SessionEvent::Fatal`] or a quit; dropping
    /// every handle also stops the session.
    pub fn start(opts: ConnectOptions) -> (SessionHandle, mpsc::Receiver<SessionEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let ids = IdSource::default();
        tokio::spawn(run(opts, rx, ev_tx, ids.clone()));
        (SessionHandle { tx, ids }, ev_rx)
    }
}

async fn run(
    opts: ConnectOptions,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::Sender<SessionEvent>,
    _ids: IdSource,
) {
    // The connection loop lands in the next commit; until then the
    // session says plainly that it cannot connect, and refuses requests.
    let _ = events
        .send(SessionEvent::Fatal(Fatal::Unreachable {
            server: opts.server,
            why: "the session is not written yet".into(),
        }))
        .await;
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            Cmd::Send { out, reply } => {
                let why = format!("not connected: {} not sent", out.request.kind());
                let _ = reply.send(Err(RequestError::disconnected(&why)));
            }
            Cmd::Quit { reason, done } => {
                drop(reason);
                let _ = done.send(());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_get_the_default_port_when_they_name_none() {
        let cases = [
            ("example.org", "example.org:7777"),
            ("example.org:80", "example.org:80"),
            ("127.0.0.1", "127.0.0.1:7777"),
            ("127.0.0.1:9", "127.0.0.1:9"),
            ("[::1]:9", "[::1]:9"),
            ("::1", "[::1]:7777"),
            ("[::1]", "[::1]:7777"),
        ];
        for (given, want) in cases {
            assert_eq!(with_default_port(given), want, "{given}");
        }
    }
}
