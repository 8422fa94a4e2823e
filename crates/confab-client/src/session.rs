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
//! Requests made while not online fail at once with the code `offline`
//! (nothing was sent): input that was not sent is the UI's to keep.
//!
//! On a reconnect the session says `hello` with `resume_after` (the largest
//! message id it has passed on) for an account; a guest, whose rooms do
//! not survive a disconnect, says `hello` without joining the default
//! room, joins its rooms again, then sends `resume`. The server never
//! repeats an id on one connection, and the session drops any message id
//! it has already passed on, so the model sees each message once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::model::ConnState;
use crate::proto::{
    IdSource, Incoming, MsgId, Outgoing, ReqId, Request, SUBPROTOCOL, Secret, ServerEvent, VERSION,
    key_of,
};

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
    /// With `tls`: accept any certificate (self-signed test servers). The
    /// connection is then not authenticated: the binary warns.
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
    /// The server's code; or `offline` when the request was not sent (not
    /// connected, or still logging in: safe to send again later), or
    /// `disconnected` when it was sent but the connection dropped before
    /// the answer (it may or may not have been done).
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

    fn offline(message: &str) -> RequestError {
        RequestError {
            code: "offline".into(),
            message: message.into(),
            field: None,
        }
    }

    /// Whether the request never left: sending it again cannot double it.
    pub fn not_sent(&self) -> bool {
        self.code == "offline"
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
            let _ = reply.send(Err(RequestError::offline("the session has stopped")));
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

/// Whether a confab server answers at `server` (`host:port`, plain): a
/// WebSocket to `/ws` and a `ping` answered by `pong`, all within
/// `within`. `confab chat` uses it to decide between joining and hosting.
pub async fn probe(server: &str, within: Duration) -> bool {
    let opts = ConnectOptions::new(
        server,
        Login::Guest {
            name: String::new(),
        },
    );
    let work = async {
        let mut ws = connect(&opts).await.ok()?;
        let ping = Outgoing {
            id: Some(1),
            request: Request::Ping,
        };
        write(&mut ws, &ping).await.ok()?;
        loop {
            let ev = next(&mut ws).await.ok()?;
            if ev.re == Some(1) && ev.event == ServerEvent::Pong {
                let _ = ws.close(None).await;
                return Some(());
            }
        }
    };
    matches!(tokio::time::timeout(within, work).await, Ok(Some(())))
}

/// A stream the WebSocket runs over: TCP, or TLS over TCP.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

/// How long connecting (TCP, TLS and the WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `quit` waits for the server's `bye`.
const QUIT_WAIT: Duration = Duration::from_secs(3);
/// Message ids remembered to drop repeats (as many as the server keeps).
const REMEMBERED_IDS: usize = 10_000;
/// Messages asked per `resume` page.
const RESUME_PAGE: u32 = 200;

/// Connects the socket: TCP, TLS when asked, the WebSocket handshake with
/// the `confab.v1` subprotocol.
async fn connect(opts: &ConnectOptions) -> Result<Ws, String> {
    let work = async {
        let tcp = TcpStream::connect(&opts.server)
            .await
            .map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if opts.tls {
            Box::new(tls::connect(tcp, &opts.server, opts.insecure).await?)
        } else {
            Box::new(tcp)
        };
        let scheme = if opts.tls { "wss" } else { "ws" };
        let mut req = format!("{scheme}://{}/ws", opts.server)
            .into_client_request()
            .map_err(|e| format!("bad server address: {e}"))?;
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        let (ws, _) = tokio_tungstenite::client_async(req, stream)
            .await
            .map_err(|e| match e {
                WsError::Http(r) => format!(
                    "not a confab server (the WebSocket upgrade got HTTP {})",
                    r.status()
                ),
                other => format!("the WebSocket handshake failed: {other}"),
            })?;
        Ok(ws)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err("no answer (timed out)".into()))
}

/// What the session remembers across connections.
struct State {
    opts: ConnectOptions,
    ids: IdSource,
    events: mpsc::Sender<SessionEvent>,
    /// Our name as the server last said it.
    me: Option<String>,
    /// Logged in at least once: later refusals may be transient.
    logged_in: bool,
    /// An account's rooms survive a disconnect; a guest's do not.
    account: bool,
    /// The rooms we are in (by key → name), to rejoin as a guest.
    rooms: BTreeMap<String, String>,
    /// Largest message id passed on: where a reconnect resumes.
    max_seen: MsgId,
    /// Message ids passed on, to drop repeats (bounded).
    seen: HashSet<MsgId>,
    seen_order: VecDeque<MsgId>,
}

/// How a connection ended.
enum End {
    /// Dropped: retry (with why).
    Dropped(String),
    /// Stopped for good (quit, fatal, or nobody listens any more).
    Stop,
}

impl State {
    async fn emit(&self, ev: SessionEvent) -> bool {
        self.events.send(ev).await.is_ok()
    }

    fn remember(&mut self, id: MsgId) -> bool {
        self.max_seen = self.max_seen.max(id);
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > REMEMBERED_IDS
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Updates what the session tracks from an event, and drops messages
    /// already passed on. `None`: nothing to pass on.
    fn observe(&mut self, mut ev: Incoming) -> Option<Incoming> {
        let me = self.me.as_deref().map(key_of);
        let is_me = |n: &str| me.as_deref() == Some(key_of(n).as_str());
        match &mut ev.event {
            ServerEvent::Welcome { name, account, .. } => {
                self.me = Some(name.clone());
                self.account = *account;
            }
            ServerEvent::Registered { .. } => self.account = true,
            ServerEvent::Nick { old, new } if is_me(old) => self.me = Some(new.clone()),
            ServerEvent::Joined { room, nick } if is_me(nick) => {
                self.rooms.insert(key_of(room), room.clone());
            }
            ServerEvent::Parted { room, nick, .. } | ServerEvent::Kicked { room, nick, .. }
                if is_me(nick) =>
            {
                self.rooms.remove(&key_of(room));
            }
            ServerEvent::Message { message, .. } if !self.remember(message.id) => return None,
            ServerEvent::Resumed { messages, .. } => {
                messages.retain(|m| !self.seen.contains(&m.id));
                for m in messages.iter() {
                    self.remember(m.id);
                }
            }
            ServerEvent::History { messages, .. } => {
                for m in messages.iter() {
                    self.remember(m.id);
                }
            }
            _ => {}
        }
        Some(ev)
    }

    fn hello(&self, resume_after: Option<MsgId>) -> Request {
        let reconnect = self.logged_in;
        let (name, password, token) = match &self.opts.login {
            Login::Guest { name } => (
                Some(self.me.clone().unwrap_or_else(|| name.clone())),
                None,
                None,
            ),
            Login::Password { name, password } => {
                (Some(name.clone()), Some(password.clone()), None)
            }
            Login::Token(t) => (None, None, Some(t.clone())),
        };
        Request::Hello {
            v: VERSION,
            name,
            password,
            token,
            // A guest coming back rejoins its own rooms, not the default.
            auto_join: if reconnect {
                Some(false)
            } else {
                Some(self.opts.auto_join)
            }
            .filter(|a| !a),
            resume_after,
        }
    }
}

/// What the server's refusal of a `hello` means to a person.
fn refusal(code: &str, message: &str, login: &Login) -> String {
    let name = login.name().unwrap_or("that name");
    match code {
        "nick_in_use" => {
            format!("Someone is already chatting as \"{name}\". Pick another name (--name).")
        }
        "nick_registered" => format!(
            "The name \"{name}\" belongs to an account. Log in with its password (--login), or pick another name."
        ),
        "bad_login" => "That name and password do not match an account.".into(),
        "bad_token" => "The login token is not valid (expired, or its account is gone).".into(),
        "guests_not_allowed" => "This server only lets accounts in: log in with --login.".into(),
        _ => message.to_owned(),
    }
}

/// The outcome of logging in on a fresh connection.
enum LoginOutcome {
    Ok,
    Refused { code: String, message: String },
    Dropped(String),
    Stop,
}

async fn run(
    opts: ConnectOptions,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    events: mpsc::Sender<SessionEvent>,
    ids: IdSource,
) {
    let mut st = State {
        opts,
        ids,
        events,
        me: None,
        logged_in: false,
        account: false,
        rooms: BTreeMap::new(),
        max_seen: 0,
        seen: HashSet::new(),
        seen_order: VecDeque::new(),
    };
    let mut attempt = 0usize;
    let mut offline_since: Option<Instant> = None;
    loop {
        if !st.emit(SessionEvent::State(ConnState::Connecting)).await {
            return;
        }
        let why = match connect(&st.opts).await {
            Err(why) if !st.logged_in => {
                let server = st.opts.server.clone();
                st.emit(SessionEvent::Fatal(Fatal::Unreachable { server, why }))
                    .await;
                return;
            }
            Err(why) => why,
            Ok(mut ws) => match log_in(&mut st, &mut ws, &mut cmds).await {
                LoginOutcome::Ok => {
                    attempt = 0;
                    offline_since = None;
                    match online(&mut st, ws, &mut cmds).await {
                        End::Dropped(why) => why,
                        End::Stop => return,
                    }
                }
                LoginOutcome::Refused { code, message } => {
                    // Our old connection may not have timed out yet: its
                    // name comes free soon.
                    if st.logged_in && code == "nick_in_use" {
                        "your name is still held by the old connection".to_owned()
                    } else {
                        let message = refusal(&code, &message, &st.opts.login);
                        st.emit(SessionEvent::Fatal(Fatal::LoginRefused { code, message }))
                            .await;
                        return;
                    }
                }
                LoginOutcome::Dropped(why) => why,
                LoginOutcome::Stop => return,
            },
        };
        let since = *offline_since.get_or_insert_with(Instant::now);
        if let Some(limit) = st.opts.give_up_after
            && since.elapsed() >= limit
        {
            let server = st.opts.server.clone();
            st.emit(SessionEvent::Fatal(Fatal::Gone { server, why }))
                .await;
            return;
        }
        let delay = BACKOFF[attempt.min(BACKOFF.len() - 1)];
        attempt += 1;
        // Spread reconnects after a server restart so clients do not all
        // arrive at once.
        let delay = delay.mul_f64(0.75 + fastrand::f64() * 0.5);
        let retry_at = chrono::Utc::now() + delay;
        if !st
            .emit(SessionEvent::State(ConnState::Offline { why, retry_at }))
            .await
        {
            return;
        }
        let wake = tokio::time::sleep(delay);
        tokio::pin!(wake);
        loop {
            tokio::select! {
                _ = &mut wake => break,
                cmd = cmds.recv() => match cmd {
                    None => return,
                    Some(Cmd::Send { reply, .. }) => {
                        let _ = reply.send(Err(RequestError::offline("not connected to the server")));
                    }
                    Some(Cmd::Quit { done, .. }) => {
                        st.emit(SessionEvent::State(ConnState::Stopped { why: "quit".into() })).await;
                        let _ = done.send(());
                        return;
                    }
                },
            }
        }
    }
}

/// Reads the next server message, or why the connection ended.
async fn next(ws: &mut Ws) -> Result<Incoming, String> {
    loop {
        match ws.next().await {
            None => return Err("the connection closed".into()),
            Some(Err(e)) => return Err(format!("connection lost: {e}")),
            Some(Ok(WsMessage::Text(text))) => match Incoming::parse(&text) {
                Ok(ev) => return Ok(ev),
                // Not ours to understand (a malformed event): skip it
                // rather than lose the connection.
                Err(_) => continue,
            },
            Some(Ok(WsMessage::Close(frame))) => {
                return Err(match frame {
                    Some(f) if !f.reason.is_empty() => f.reason.to_string(),
                    _ => "the server closed the connection".into(),
                });
            }
            Some(Ok(_)) => continue,
        }
    }
}

async fn write(ws: &mut Ws, out: &Outgoing) -> Result<(), String> {
    ws.send(WsMessage::text(out.to_json()))
        .await
        .map_err(|e| format!("connection lost: {e}"))
}

/// Says `hello` (and for a returning guest, rejoins and resumes) before
/// the connection counts as online. Events are passed on as they come;
/// requests from the UI wait for `online` (refused as `disconnected`).
async fn log_in(
    st: &mut State,
    ws: &mut Ws,
    cmds: &mut mpsc::UnboundedReceiver<Cmd>,
) -> LoginOutcome {
    let guest_back = st.logged_in && !st.account;
    let resume_from = st.max_seen;
    let resume_after = (st.logged_in && st.account && resume_from > 0).then_some(resume_from);
    let mut steps: VecDeque<Request> = VecDeque::new();
    steps.push_back(st.hello(resume_after));
    if guest_back {
        for room in st.rooms.values() {
            steps.push_back(Request::Join {
                room: room.clone(),
                key: None,
            });
        }
        if resume_from > 0 {
            steps.push_back(Request::Resume {
                after: resume_from,
                limit: Some(RESUME_PAGE),
            });
        }
    }
    let mut first = true;
    while let Some(req) = steps.pop_front() {
        let is_hello = first;
        first = false;
        let out = st.ids.outgoing(req);
        let id = out.id;
        if let Err(why) = write(ws, &out).await {
            return LoginOutcome::Dropped(why);
        }
        loop {
            let ev = tokio::select! {
                ev = next(ws) => match ev {
                    Ok(ev) => ev,
                    Err(why) => return LoginOutcome::Dropped(why),
                },
                cmd = cmds.recv() => {
                    match cmd {
                        None => return LoginOutcome::Stop,
                        Some(Cmd::Send { reply, .. }) => {
                            let _ = reply.send(Err(RequestError::offline("still logging in")));
                        }
                        Some(Cmd::Quit { done, .. }) => {
                            let _ = ws.close(None).await;
                            st.emit(SessionEvent::State(ConnState::Stopped { why: "quit".into() })).await;
                            let _ = done.send(());
                            return LoginOutcome::Stop;
                        }
                    }
                    continue;
                }
            };
            let answers = ev.re.is_some() && ev.re == id;
            // A refused hello ends the login; a room that cannot be
            // rejoined (now invite-only …) is reported and the rest go on.
            if answers
                && is_hello
                && let ServerEvent::Error { code, message, .. } = &ev.event
            {
                return LoginOutcome::Refused {
                    code: code.clone(),
                    message: message.clone(),
                };
            }
            let more = match &ev.event {
                // A page cut short (of a `resume`, or of an account's
                // `hello` with `resume_after`): ask for the next.
                ServerEvent::Resumed { more, messages } if answers => {
                    messages.last().map(|m| m.id).filter(|_| *more)
                }
                _ => None,
            };
            let done = answers && ev.event.is_final();
            let ServerEvent::Resumed { .. } = ev.event else {
                if let Some(ev) = st.observe(ev)
                    && !st.emit(SessionEvent::Event(ev)).await
                {
                    return LoginOutcome::Stop;
                }
                if done {
                    break;
                }
                continue;
            };
            if let Some(after) = more {
                steps.push_front(Request::Resume {
                    after,
                    limit: Some(RESUME_PAGE),
                });
            }
            if let Some(ev) = st.observe(ev)
                && !st.emit(SessionEvent::Event(ev)).await
            {
                return LoginOutcome::Stop;
            }
        }
    }
    st.logged_in = true;
    LoginOutcome::Ok
}

/// The connection while logged in: requests out, events in, pings.
async fn online(st: &mut State, mut ws: Ws, cmds: &mut mpsc::UnboundedReceiver<Cmd>) -> End {
    let mut pending: HashMap<ReqId, oneshot::Sender<Result<Incoming, RequestError>>> =
        HashMap::new();
    let mut lag = None;
    if !st
        .emit(SessionEvent::State(ConnState::Online { lag }))
        .await
    {
        return End::Stop;
    }
    // The ping in flight: its id and when it went.
    let mut ping: Option<(ReqId, Instant)> = None;
    let mut ping_at = tokio::time::Instant::now() + PING_EVERY;
    let mut quitting: Option<oneshot::Sender<()>> = None;
    let end = loop {
        let deadline = match ping {
            Some((_, sent)) => tokio::time::Instant::from_std(sent + PING_TIMEOUT),
            None => ping_at,
        };
        tokio::select! {
            ev = next(&mut ws) => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(why) => break End::Dropped(why),
                };
                if let (Some(re), ServerEvent::Pong) = (ev.re, &ev.event)
                    && ping.is_some_and(|(id, _)| id == re)
                {
                    let (_, sent) = ping.take().expect("checked");
                    lag = Some(sent.elapsed());
                    ping_at = tokio::time::Instant::now() + PING_EVERY;
                    if !st.emit(SessionEvent::State(ConnState::Online { lag })).await {
                        break End::Stop;
                    }
                    continue;
                }
                if ev.event.is_final()
                    && let Some(re) = ev.re
                    && let Some(reply) = pending.remove(&re)
                {
                    let answer = match &ev.event {
                        ServerEvent::Error { code, message, field } => Err(RequestError {
                            code: code.clone(),
                            message: message.clone(),
                            field: field.clone(),
                        }),
                        _ => Ok(ev.clone()),
                    };
                    let _ = reply.send(answer);
                }
                let bye = match &ev.event {
                    ServerEvent::Bye { reason } => Some(reason.clone()),
                    _ => None,
                };
                if let Some(ev) = st.observe(ev)
                    && !st.emit(SessionEvent::Event(ev)).await
                {
                    break End::Stop;
                }
                if let Some(reason) = bye {
                    if quitting.is_some() {
                        break End::Stop;
                    }
                    break End::Dropped(if reason.is_empty() { "the server said goodbye".into() } else { reason });
                }
            }
            cmd = cmds.recv(), if quitting.is_none() => match cmd {
                None => {
                    let _ = ws.close(None).await;
                    break End::Stop;
                }
                Some(Cmd::Send { out, reply }) => {
                    if let Err(why) = write(&mut ws, &out).await {
                        let _ = reply.send(Err(RequestError::disconnected(&why)));
                        break End::Dropped(why);
                    }
                    match out.id {
                        Some(id) => {
                            pending.insert(id, reply);
                        }
                        None => drop(reply),
                    }
                }
                Some(Cmd::Quit { reason, done }) => {
                    let out = st.ids.outgoing(Request::Quit { reason });
                    if write(&mut ws, &out).await.is_err() {
                        let _ = done.send(());
                        break End::Stop;
                    }
                    quitting = Some(done);
                    ping = None;
                    ping_at = tokio::time::Instant::now() + QUIT_WAIT;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                if quitting.is_some() {
                    break End::Stop;
                }
                if ping.is_some() {
                    break End::Dropped("the server stopped answering".into());
                }
                let out = st.ids.outgoing(Request::Ping);
                ping = Some((out.id.expect("ids given"), Instant::now()));
                if let Err(why) = write(&mut ws, &out).await {
                    break End::Dropped(why);
                }
            }
        }
    };
    for (_, reply) in pending.drain() {
        let _ = reply.send(Err(RequestError::disconnected(
            "the connection dropped before the server answered",
        )));
    }
    if let Some(done) = quitting {
        let _ = ws.close(None).await;
        st.emit(SessionEvent::State(ConnState::Stopped {
            why: "quit".into(),
        }))
        .await;
        let _ = done.send(());
        return End::Stop;
    }
    end
}

/// TLS for `--tls`: webpki roots, or with `--insecure` any certificate.
mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, ring};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;

    /// The host part of `host:port` or `[v6]:port`.
    fn host(server: &str) -> &str {
        let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    pub async fn connect(
        tcp: TcpStream,
        server: &str,
        insecure: bool,
    ) -> Result<TlsStream<TcpStream>, String> {
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
                .with_no_client_auth()
        } else {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let name = ServerName::try_from(host(server).to_owned())
            .map_err(|e| format!("{server} is not a name TLS can check: {e}"))?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS failed: {e}"))
    }

    /// `--insecure`: any certificate is accepted (the handshake's
    /// signatures are still checked, so the peer holds the key of the
    /// certificate it shows, but nobody vouches for that certificate).
    #[derive(Debug)]
    struct AnyCert(Arc<CryptoProvider>);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_host_is_the_address_without_its_port() {
            assert_eq!(super::host("example.org:7777"), "example.org");
            assert_eq!(super::host("[::1]:7777"), "::1");
            assert_eq!(super::host("127.0.0.1:1"), "127.0.0.1");
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
