//! One connection of the JSON protocol: a single task selecting over the
//! socket, the connection's bounded queue, the heartbeat and the login
//! timer.
//!
//! Every client request is numbered (`HubHandle::command_req`) and
//! followed by a fence (`HubHandle::fence`), so the connection knows which
//! events answer which request: replies get the client's id as `"re"`, a
//! sent message is remembered for its acknowledgement, and when the fence
//! comes (after the batch's commit) the request gets its `ack`. The hub
//! never waits for this task: when the queue is full it fires the kill
//! switch and the connection ends ("SendQ exceeded").

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use confab_core::{ClientInfo, Command, Delivery, Event, Message, MsgId, Nick, SessionId};
use tokio::time::{Instant, timeout};

use super::protocol::{self, Auth, BadInput, Hello, ParseLimits, ReqId, Request, SLOT};
use crate::auth::{self, LoginError};
use crate::closed::{ClosedBy, ConnLog, conn_event};
use crate::flood::{Excess, Pacer};
use crate::hub_task::{ConnOutbox, KillSwitch, Leave, Ready, Unwritten};
use crate::park::{Door, Napping, Parked};
use crate::queue::Ended;
use crate::shared::Shared;
use crate::time::now;
use crate::websocket::{Frames, Message as WsMessage, Socket, close_code, too_big};

/// Deliveries taken off the queue at a time.
const WRITE_BATCH: usize = 256;
/// Message ids remembered as delivered on one connection, so that a
/// `resumed` reply never repeats one (the oldest are forgotten first):
/// at most 80 KB, and only for a while ([`REMEMBER`]).
const DELIVERED_MEMORY: usize = 10_000;
/// How long a connection remembers the ids it delivers: from `hello`,
/// and from the answer to each resume, until this long after (and while
/// a resume is under way). Clients resume right after `hello`, or after
/// joining their rooms; a connection that stays on keeps no list.
const REMEMBER: Duration = Duration::from_secs(60);
/// The longest a close reason may be (the frame holds 123 bytes).
const CLOSE_REASON_BYTES: usize = 120;
/// How long a closing connection waits for its last writes and the
/// client's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// The payload of the ping frame that follows a page of kept messages
/// (`kept:42`); the client's pong (its WebSocket layer answers by
/// itself) says it read the page.
const KEPT_PING: &str = "kept:";

/// Serves one WebSocket connection speaking the JSON protocol.
///
/// Not an `async fn`: one would keep its arguments beside the `run` future
/// it moved them into, for the connection's whole life.
pub fn serve(
    socket: Socket,
    peer: SocketAddr,
    state: Shared,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let sid = state.hub.new_session();
    run(socket, peer, sid, state)
}

/// (Parked, a WebSocket keeps nothing of its socket but the stream,
/// `Socket::can_park`.)
impl Door for Conn {
    fn hub(&self) -> &crate::hub_task::HubHandle {
        &self.state.hub
    }

    fn resume(
        nap: Napping<Conn>,
        stream: crate::rewind::Rewind<tokio::net::TcpStream>,
    ) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send + 'static {
        let max_message = nap.conn.state.config.http.max_ws_message_bytes;
        let limits = crate::websocket::Limits { max_message };
        drive(Socket::resumed(stream, limits), nap)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a `hello` (or another one, after a refused login).
    Hello,
    /// A login is with the hub; later requests queue behind it.
    LoggingIn,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello { account: bool },
    Ping,
    Send,
    History,
    Other,
}

/// A request sent to the hub whose fence has not come back yet.
struct Pending {
    id: Option<ReqId>,
    kind: Kind,
    /// It holds a resume.
    resume: bool,
    /// An error answered it (then no `ack`).
    errored: bool,
    /// The message it sent, as stored.
    sent: Option<Message>,
}

/// Why the reader stops.
enum Flow {
    Go,
    /// The connection ends: who ended it, and why.
    Stop(ClosedBy, String),
}

/// A WebSocket connection's state, apart from its socket and queue.
pub struct Conn {
    /// The flood limit, applied before each request is read.
    pacer: Pacer,
    /// The client asked to quit: the hub's goodbye that follows is theirs.
    quitting: bool,
    sid: SessionId,
    peer: SocketAddr,
    state: Shared,
    phase: Phase,
    /// The hub's end of the queue until the session is connected (at the
    /// first `hello` that gets past authentication). (Boxed, as the
    /// other rare parts below: what the loop holds is every idle
    /// connection's task, see `Conn::due`.)
    outbox: Option<Box<ConnOutbox>>,
    next_req: u64,
    pending: BTreeMap<u64, Pending>,
    /// Ids of the messages delivered on this connection.
    delivered: Delivered,
    /// When a frame was last heard.
    heard: Instant,
    /// When the unanswered ping went out.
    ping_sent: Option<Instant>,
    /// When a connection that has not said `hello` is closed.
    login_by: Instant,
    /// The `resume_after` of the `hello`: history shown on joining stops
    /// there, as what follows comes in `resumed`.
    resume_floor: Option<MsgId>,
    nick: Option<Nick>,
    /// Frames to write.
    out: Frames,
    /// Close the connection with this code and reason once `out` is
    /// written.
    closing: Option<Box<(u16, String)>>,
}

/// Sets the connection up, then returns the loop that serves it. (Not an
/// `async fn`, for the reason given at `irc::conn::run`.)
fn run(
    socket: Socket,
    peer: SocketAddr,
    sid: SessionId,
    state: Shared,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let config = state.config.clone();
    let pacer = state.hub.flood().pacer(peer.ip(), sid);
    let (outbox, rx, _) = ConnOutbox::new(sid, config.limits.send_queue, &state.hub);
    // Should this task end abnormally (a panic), the hub still learns
    // that the session is gone (if it had begun).
    let leave = Leave::new(&state.hub, sid);
    let conn = Conn {
        sid,
        peer,
        pacer,
        quitting: false,
        state,
        phase: Phase::Hello,
        outbox: Some(Box::new(outbox)),
        next_req: 1,
        pending: BTreeMap::new(),
        delivered: Delivered::default(),
        heard: Instant::now(),
        ping_sent: None,
        login_by: Instant::now() + config.limits.login_timeout(),
        resume_floor: None,
        nick: None,
        out: Frames::default(),
        closing: None,
    };
    conn_event!(info, conn.who(), "connected");
    drive(socket, Napping { conn, rx, leave })
}

/// The loop that serves a connection, from its start or from a park
/// (`park`): it returns the connection parked once it is logged in and
/// has been quiet a while with nothing under way, if its socket can park.
fn drive(
    socket: Socket,
    nap: Napping<Conn>,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let mut socket = socket;
    let (mut conn, mut rx, mut kill, mut leave) = nap.into_parts();
    let config = conn.state.config.clone();
    async move {
        let mut batch = Vec::new();
        // Parked once quiet; soon, for a new one.
        let mut quiet = crate::hub_task::Quiet::starting(conn.phase != Phase::Ready);
        let mut napping = false;
        // Set when the login timer ran out (the close is then written).
        let mut timed_out = false;
        // One heartbeat timer for the connection's life, moved only when its
        // deadline does (a frame heard, a ping sent). In the task: since the
        // socket reads frames itself it is small enough that the timer fits
        // beside it, in a task of 896 bytes (boxed, it cost 137 bytes more
        // per idle connection, 2026-12-05).
        let timer = tokio::time::sleep_until(conn.due());
        tokio::pin!(timer);
        let ended = 'conn: loop {
            if let Err(e) = conn.write(&mut socket, &mut kill).await {
                break Some(e.closed());
            }
            if let Some(closing) = conn.closing.take() {
                // (Boxed, like every rare await here: an idle connection's
                // task should not carry it, nor what it holds.)
                let why = Box::pin(close(&mut socket, *closing)).await;
                let by = if timed_out {
                    ClosedBy::Timeout
                } else if conn.quitting {
                    ClosedBy::Client
                } else {
                    ClosedBy::Server
                };
                break Some((by, why));
            }
            // Nothing waiting: what a burst grew goes back (everything,
            // after a quiet spell).
            if let Some(keep) = quiet.give_back(&rx, &mut batch) {
                conn.out.release(keep);
                socket.release(keep);
                crate::hub_task::release_map(&mut conn.pending);
            }
            // Quiet a while with nothing under way: it parks.
            if std::mem::take(&mut napping) && conn.can_nap() && socket.can_park() {
                break None;
            }
            quiet.set_timer(timer.as_mut(), conn.due());
            // Nothing is awaited inside the select: what it woke with
            // (a frame's worth) would then be kept in every idle
            // connection's task. A frame comes out of it; deliveries wait
            // in `batch`.
            let frame = 'woke: {
                tokio::select! {
                    biased;
                    got = rx.recv_many(&mut batch, WRITE_BATCH) => {
                        match got {
                            Ok(_) => {}
                            Err(Ended::Killed(why)) => break 'conn Some((ClosedBy::Killed, why.to_string())),
                            Err(Ended::Closed) => break 'conn Some((ClosedBy::Server, "closed".to_owned())),
                        }
                        quiet.busy();
                    }
                    frame = socket.recv() => {
                        conn.heard = Instant::now();
                        quiet.busy();
                        conn.ping_sent = None;
                        match frame {
                            None => break 'conn Some((ClosedBy::Client, "Connection closed".to_owned())),
                            Some(Ok(frame)) => break 'woke frame,
                            Some(Err(e)) => {
                                if too_big(&e) {
                                    let max = config.http.max_ws_message_bytes;
                                    let msg = format!("a message may be at most {max} bytes; closing");
                                    conn.fatal(None, "message_too_big", &msg, close_code::SIZE, "message too big");
                                } else {
                                    break 'conn Some((ClosedBy::ReadError, format!("WebSocket error: {e}")));
                                }
                            }
                        }
                    }
                    () = &mut timer => {
                        let now = Instant::now();
                        // Quiet a while: the next give-back, above, keeps
                        // nothing, and the connection may park.
                        napping = quiet.due(now);
                        conn.delivered.expire(now);
                        if conn.phase != Phase::Ready && now >= conn.login_by {
                            let secs = config.limits.login_timeout().as_secs_f64();
                            let msg = format!("no hello within {secs} seconds; goodbye");
                            conn.fatal(None, "login_timeout", &msg, close_code::POLICY, "login timeout");
                            timed_out = true;
                            continue 'conn;
                        }
                        if now < conn.beat() {
                            continue 'conn;
                        }
                        if conn.ping_sent.is_some() {
                            break 'conn Some((ClosedBy::Timeout, "Ping timeout".to_owned()));
                        }
                        conn.ping_sent = Some(Instant::now());
                        conn.out.ping(b"confab");
                    }
                }
                // What the queue gave (nothing after another wake-up).
                if let Some(rest) =
                    crate::hub_task::deliver_all(&mut batch, |item| conn.deliver(item))
                {
                    rest.await;
                }
                continue 'conn;
            };
            // Boxed: the handling of a frame is a large future that an idle
            // connection should not carry; the frame goes into it.
            // (Bound first: a temporary would live across the await.)
            let handling = Box::pin(conn.frame(frame));
            if let Flow::Stop(by, why) = handling.await {
                break Some((by, why));
            }
        };
        let Some(ended) = ended else {
            let until = Some(conn.wake_by());
            let stream = socket.into_tcp()?;
            return crate::park::parked(stream, until, Napping { conn, rx, leave });
        };
        // (Boxed: kept across the last await, its 32 bytes would size every
        // connection's task.)
        let ended = Box::new(ended);
        leave.disarm();
        if conn.outbox.is_none() {
            // Connected: the hub says goodbye to the others (it already has,
            // when it was the one that closed the session).
            let leaving = Box::pin(conn.state.hub.disconnect(conn.sid, ended.1.clone()));
            let _ = leaving.await;
        }
        ended.0.log(&conn.who(), &ended.1);
        None
    }
}

/// The ids of the messages delivered on a connection while it remembers
/// them ([`REMEMBER`]; the highest [`DELIVERED_MEMORY`] of them), in
/// order. Live messages come in id order, so recording one is a push at
/// the back, with no search (a `BTreeSet` here was 3% of the server's CPU
/// in a fan-out); a resumed page's older ids are placed by a binary
/// search. Boxed, and gone when not remembering: a connection remembers
/// for a minute after its `hello` and while it resumes, and an idle
/// connection's task should not carry the rest of the time.
#[derive(Default)]
struct Delivered(Option<Box<Remembering>>);

struct Remembering {
    ids: VecDeque<u64>,
    /// Ids are remembered until then.
    until: Instant,
    /// Resumes sent whose fence has not come back: remembering goes on
    /// while there are any.
    resuming: usize,
}

impl Delivered {
    /// Records `id` (while remembering); false if it was already recorded.
    fn first(&mut self, id: u64) -> bool {
        let Some(r) = &mut self.0 else {
            return true;
        };
        let ids = &mut r.ids;
        match ids.back() {
            Some(&last) if id <= last => match ids.binary_search(&id) {
                Ok(_) => return false,
                Err(at) => ids.insert(at, id),
            },
            _ => ids.push_back(id),
        }
        if ids.len() > DELIVERED_MEMORY {
            ids.pop_front();
        }
        true
    }

    /// Remembers from now until [`REMEMBER`] after `now`.
    fn remember(&mut self, now: Instant) -> &mut Remembering {
        let until = now + REMEMBER;
        let r = self.0.get_or_insert_with(|| {
            Box::new(Remembering {
                ids: VecDeque::new(),
                until,
                resuming: 0,
            })
        });
        r.until = until;
        r
    }

    /// A resume was sent.
    fn resume_sent(&mut self, now: Instant) {
        self.remember(now).resuming += 1;
    }

    /// A resume was answered (its fence came back).
    fn resume_done(&mut self, now: Instant) {
        let r = self.remember(now);
        r.resuming = r.resuming.saturating_sub(1);
    }

    /// Forgets every id once the time to remember them is over.
    fn expire(&mut self, now: Instant) {
        if self
            .0
            .as_ref()
            .is_some_and(|r| r.resuming == 0 && now >= r.until)
        {
            self.0 = None;
        }
    }
}

impl Conn {
    /// Logged in, and nothing is under way that the loop must see
    /// through: it may park.
    fn can_nap(&self) -> bool {
        self.phase == Phase::Ready
            && self.connected()
            && self.pending.is_empty()
            && self.closing.is_none()
            && !self.quitting
            && self.out.is_empty()
    }

    /// When a parked connection must wake: its timer, or the end of the
    /// time it remembers what it delivered.
    fn wake_by(&self) -> Instant {
        match &self.delivered.0 {
            Some(r) if r.resuming == 0 => self.due().min(r.until),
            _ => self.due(),
        }
    }

    /// When the connection's timer is due: the next heartbeat, or its
    /// timeout, and until the login the login's deadline. Asked again
    /// when the timer fires rather than kept across the wait: what the
    /// loop holds there sizes every idle connection's task (ARCHITECTURE.md:
    /// it fits mimalloc's 1,024-byte class).
    fn due(&self) -> Instant {
        if self.phase == Phase::Ready {
            self.beat()
        } else {
            self.beat().min(self.login_by)
        }
    }

    /// The next heartbeat: a ping after a quiet interval, or the close
    /// when the ping went unanswered as long.
    fn beat(&self) -> Instant {
        let interval = Duration::from_millis(self.state.config.http.ws_ping_interval_ms.max(1));
        self.ping_sent.unwrap_or(self.heard) + interval
    }

    /// What a request may hold (the config's limits).
    fn parse_limits(&self) -> ParseLimits {
        let limits = &self.state.config.limits;
        ParseLimits {
            max_nick_len: limits.max_nick_len,
            max_room_len: limits.max_room_len,
            max_message_bytes: limits.max_message_bytes,
        }
    }

    /// Which connection this is, for its log lines.
    fn who(&self) -> ConnLog {
        ConnLog {
            door: "ws",
            sid: self.sid,
            peer: self.peer,
        }
    }

    /// Writes the queued frames in one piece; stops early when the hub
    /// closes the session (a client that does not read blocks here until
    /// then).
    ///
    /// A plain poll function, as the other doors' `write_out`: every idle
    /// connection's task holds its future.
    fn write<'a>(
        &'a mut self,
        socket: &'a mut Socket,
        kill: &'a mut KillSwitch,
    ) -> impl std::future::Future<Output = Result<(), Unwritten>> + 'a {
        let mut written = 0;
        std::future::poll_fn(move |cx| {
            if self.out.is_empty() {
                return std::task::Poll::Ready(Ok(()));
            }
            let writing = socket
                .poll_write(cx, &mut self.out, &mut written)
                .map_err(std::io::Error::other);
            crate::hub_task::unless_killed(writing, kill, cx)
        })
    }

    fn push(&mut self, text: String) {
        self.out.text(&text);
    }

    /// The event's rendering shared by every WebSocket it goes to (made
    /// from a `String`: not checked for UTF-8 again on each delivery).
    fn push_shared(&mut self, d: &Delivery) {
        let text = d.rendered(SLOT, render_cached);
        if !text.is_empty() {
            self.out.text_rendered(text);
        }
    }

    /// Bytes from elsewhere (the hub's `Local`, a read's answer): sent as
    /// text if they are UTF-8.
    fn push_bytes(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match std::str::from_utf8(bytes) {
            Ok(t) => self.out.text(t),
            Err(e) => {
                conn_event!(warn, self.who(), error = %e, "dropped a rendering that is not UTF-8")
            }
        }
    }

    fn connected(&self) -> bool {
        self.outbox.is_none()
    }

    // ---- from the client ----

    async fn frame(&mut self, frame: WsMessage) -> Flow {
        // Over the flood limit the next message is read only when due
        // (the client's own socket buffer holds the rest): none dropped.
        if matches!(frame, WsMessage::Text(_) | WsMessage::Binary(_))
            && self.pacer.pace().await.is_err()
        {
            let msg = "too many requests at once from this account or address; closing";
            let why = Excess::REASON;
            self.fatal(None, "excess_flood", msg, close_code::POLICY, why);
            return Flow::Go;
        }
        match frame {
            WsMessage::Text(text) => self.text(text.as_str()).await,
            WsMessage::Binary(_) => {
                let msg = "this protocol takes text frames of JSON; binary frames are dropped";
                self.door_error(None, "binary_not_supported", None, msg)
                    .await
            }
            // The answer to the ping after a page of kept messages: taken.
            WsMessage::Pong(payload) if payload.starts_with(KEPT_PING.as_bytes()) => {
                let upto = std::str::from_utf8(&payload[KEPT_PING.len()..])
                    .ok()
                    .and_then(|u| u.parse().ok());
                match upto {
                    Some(upto) if self.connected() => {
                        match self.state.hub.kept_taken(self.sid, MsgId(upto)).await {
                            Ok(()) => Flow::Go,
                            Err(_) => {
                                Flow::Stop(ClosedBy::Server, "server shutting down".to_owned())
                            }
                        }
                    }
                    _ => Flow::Go,
                }
            }
            // Pings are answered by the WebSocket layer; any frame counts
            // as a sign of life.
            WsMessage::Ping(_) | WsMessage::Pong(_) => Flow::Go,
            WsMessage::Close(_) => Flow::Stop(ClosedBy::Client, "Connection closed".to_owned()),
            // (Never read: tungstenite reads whole messages.)
            WsMessage::Frame(_) => Flow::Go,
        }
    }

    async fn text(&mut self, text: &str) -> Flow {
        let incoming = match protocol::parse(text, &self.parse_limits()) {
            Ok(i) => i,
            Err(bad) => {
                conn_event!(debug, self.who(), code = bad.code, "bad input");
                if bad.code == "bad_version" {
                    self.push(bad.render(now()));
                    self.closing = Some(Box::new((
                        close_code::PROTOCOL,
                        "unsupported version".to_owned(),
                    )));
                    return Flow::Go;
                }
                return self.bad_input(&bad).await;
            }
        };
        let id = incoming.id;
        match (self.phase, incoming.request) {
            (Phase::Hello, Request::Hello(hello)) => self.hello(id, hello).await,
            (_, Request::Hello(_)) => {
                let msg = "this connection has already said hello";
                self.door_error(id.as_ref(), "already_logged_in", None, msg)
                    .await
            }
            (_, Request::Ping) if !self.connected() => {
                self.push(protocol::pong(id.as_ref(), now()));
                Flow::Go
            }
            (Phase::Hello, _) => {
                let msg = "send {\"type\": \"hello\", \"v\": 1, …} first";
                self.door_error(id.as_ref(), "not_logged_in", None, msg)
                    .await
            }
            (_, Request::Ping) => self.request(id, Kind::Ping, Vec::new()).await,
            (_, Request::Passwd { old, new }) => {
                let min = self.state.config.accounts.min_password_len;
                let hub = self.state.hub.clone();
                let ip = self.peer.ip();
                match auth::change_own_password(&hub, "ws", &self.pacer, old, new, min, ip).await {
                    Ok(Ok(cmd)) => self.request(id, Kind::Other, vec![cmd]).await,
                    Ok(Err(why)) => {
                        self.door_error(id.as_ref(), "bad_password", None, &why.to_string())
                            .await
                    }
                    Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
                }
            }
            (_, Request::Register { password }) => {
                let min = self.state.config.accounts.min_password_len;
                match auth::register_hash(&self.state.hub, password, min, self.peer.ip()).await {
                    Ok(password_hash) => {
                        let cmd = Command::Register { password_hash };
                        self.request(id, Kind::Other, vec![cmd]).await
                    }
                    Err(e) => {
                        self.door_error(id.as_ref(), "bad_request", Some("password"), &e)
                            .await
                    }
                }
            }
            (_, Request::Oper { name, password }) => {
                let opers = self.state.config.opers.clone();
                match auth::oper(&self.state.hub, &opers, &name, password, self.peer.ip()).await {
                    Ok(Ok(name)) => {
                        self.request(id, Kind::Other, vec![Command::Oper(name)])
                            .await
                    }
                    Ok(Err(e)) => {
                        let code = match e {
                            auth::OperError::NoSuchOper => "no_such_oper",
                            auth::OperError::Wrong => "wrong_password",
                            auth::OperError::Limited(_) => "rate_limited",
                        };
                        self.door_error(id.as_ref(), code, None, &e.to_string())
                            .await
                    }
                    Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
                }
            }
            (
                _,
                Request::SendUpload {
                    to,
                    kind,
                    text,
                    tags,
                    upload,
                },
            ) => {
                use crate::uploads::{AttachError, attach};
                let state = &self.state;
                let linked = attach(&state.uploads, &state.config, &text, &upload).map_err(|e| {
                    let field = match e {
                        AttachError::NoSuchUpload(_) => "upload",
                        AttachError::Text(_) => "text",
                    };
                    (e.code(), field, e.to_string())
                });
                match linked {
                    Ok(text) => {
                        let cmd = Command::Send {
                            to: Some(to),
                            kind,
                            text,
                            tags,
                        };
                        self.request(id, Kind::Send, vec![cmd]).await
                    }
                    Err((code, field, message)) => {
                        self.door_error(id.as_ref(), code, Some(field), &message)
                            .await
                    }
                }
            }
            (_, Request::Hub(cmd)) => {
                let kind = match cmd {
                    Command::Send { .. } => Kind::Send,
                    Command::ChatHistory { .. } => Kind::History,
                    _ => Kind::Other,
                };
                self.request(id, kind, vec![cmd]).await
            }
        }
    }

    /// `hello`: authenticates, connects the session to the hub if it is
    /// not yet, and logs in (then resumes, if asked).
    async fn hello(&mut self, id: Option<ReqId>, hello: Hello) -> Flow {
        let hub = self.state.hub.clone();
        let (cmd, account) = match hello.auth {
            Auth::Guest(nick) => (Command::Login(nick), false),
            Auth::Password { name, password } => {
                match auth::log_in(&hub, "ws", &name, password, self.peer.ip()).await {
                    Ok(Ok(account)) => (Command::LoginAccount(account), true),
                    Ok(Err(LoginError::Wrong)) => {
                        let msg = "wrong name or password";
                        return self.door_error(id.as_ref(), "bad_login", None, msg).await;
                    }
                    Ok(Err(e @ LoginError::Limited(_))) => {
                        let msg = e.to_string();
                        return self
                            .door_error(id.as_ref(), "too_many_failures", None, &msg)
                            .await;
                    }
                    Ok(Err(e)) => {
                        return self
                            .door_error(id.as_ref(), "storage", None, &e.to_string())
                            .await;
                    }
                    Err(_) => {
                        return Flow::Stop(ClosedBy::Server, "server shutting down".to_owned());
                    }
                }
            }
            Auth::Token(token) => {
                use crate::tokens::{Refused, check};
                match check(&self.state.tokens, &hub, &token).await {
                    Ok((_, account)) => (Command::LoginAccount(account), true),
                    Err(e @ (Refused::Token(_) | Refused::NoAccount)) => {
                        return self.bad_token(id.as_ref(), &e.to_string()).await;
                    }
                    Err(Refused::Store(e)) => {
                        return self.door_error(id.as_ref(), "storage", None, &e).await;
                    }
                    Err(Refused::Gone) => {
                        return Flow::Stop(ClosedBy::Server, "server shutting down".to_owned());
                    }
                }
            }
        };
        // What is delivered from now on is remembered a while, for a
        // resume.
        self.delivered.remember(Instant::now());
        if let Some(outbox) = self.outbox.take() {
            let info = ClientInfo {
                host: hub.cloak_host(self.peer.ip()),
                auto_join: hello.auto_join,
                ..ClientInfo::default()
            };
            if hub
                .connect(self.sid, *outbox, self.peer, "ws", info)
                .await
                .is_err()
            {
                return Flow::Stop(ClosedBy::Server, "server shutting down".to_owned());
            }
        }
        self.phase = Phase::LoggingIn;
        self.resume_floor = hello.resume_after;
        let mut cmds = vec![cmd];
        if let Some(after) = hello.resume_after {
            cmds.push(Command::Resume {
                after,
                limit: protocol::DEFAULT_RESUME,
            });
        }
        self.request(id, Kind::Hello { account }, cmds).await
    }

    /// Sends `cmds` to the hub as one numbered request, then its fence.
    async fn request(&mut self, id: Option<ReqId>, kind: Kind, cmds: Vec<Command>) -> Flow {
        self.quitting |= cmds.iter().any(|c| matches!(c, Command::Quit(_)));
        let req = self.next_req;
        self.next_req += 1;
        let resume = cmds.iter().any(|c| matches!(c, Command::Resume { .. }));
        if resume {
            self.delivered.resume_sent(Instant::now());
        }
        self.pending.insert(
            req,
            Pending {
                id,
                kind,
                resume,
                errored: false,
                sent: None,
            },
        );
        let hub = &self.state.hub;
        let last = cmds.len().checked_sub(1);
        for (i, cmd) in cmds.into_iter().enumerate() {
            let sent = if Some(i) == last {
                hub.command_fenced(self.sid, req, cmd).await
            } else {
                hub.command_req(self.sid, req, cmd).await
            };
            if sent.is_err() {
                return Flow::Stop(ClosedBy::Server, "server shutting down".to_owned());
            }
        }
        if last.is_none() && hub.fence(self.sid, req).await.is_err() {
            return Flow::Stop(ClosedBy::Server, "server shutting down".to_owned());
        }
        Flow::Go
    }

    async fn bad_token(&mut self, id: Option<&ReqId>, why: &str) -> Flow {
        let door = crate::metrics::door("ws");
        auth::log_login(door, None, self.peer.ip(), true, Err(why));
        self.fatal(id, "bad_token", why, close_code::POLICY, "bad token");
        Flow::Go
    }

    /// An error that ends the connection: written straight away (not by
    /// way of the hub), then the close frame.
    fn fatal(&mut self, id: Option<&ReqId>, code: &str, message: &str, close: u16, reason: &str) {
        self.push(protocol::error(id, code, None, message, now()));
        self.closing = Some(Box::new((close, reason.to_owned())));
    }

    async fn bad_input(&mut self, bad: &BadInput) -> Flow {
        let text = bad.render(now());
        self.say(text, Some(bad.message.clone())).await
    }

    /// An error found by the door itself.
    async fn door_error(
        &mut self,
        id: Option<&ReqId>,
        code: &str,
        field: Option<&str>,
        message: &str,
    ) -> Flow {
        let text = protocol::error(id, code, field, message, now());
        self.say(text, Some(message.to_owned())).await
    }

    /// Queues the door's own output. Once the session is with the hub, by
    /// way of the hub (audited when it is an error), so that it comes after
    /// the replies to earlier requests.
    async fn say(&mut self, text: String, error: Option<String>) -> Flow {
        if !self.connected() {
            self.push(text);
            return Flow::Go;
        }
        match self.state.hub.echo(self.sid, text.into(), error).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    // ---- from the hub ----

    fn deliver(&mut self, item: Ready) {
        match item {
            Ready::Raw(b) => self.push_bytes(&b),
            Ready::Event(d) => self.event(&d),
        }
    }

    /// Marks a message id delivered; false if it already was.
    fn first_delivery(&mut self, id: MsgId) -> bool {
        self.delivered.first(id.0)
    }

    fn event(&mut self, d: &Delivery) {
        let req = d
            .origin()
            .filter(|o| o.sid == self.sid)
            .map(|o| o.req)
            .filter(|r| self.pending.contains_key(r));
        let re = req.and_then(|r| self.pending[&r].id.clone());
        let kind = req.map(|r| self.pending[&r].kind);
        match &d.event {
            Event::Fence(r) => self.done(*r),
            Event::Local(b) => self.push_bytes(b),
            // A ping follows the page; its pong says the client read it.
            Event::KeptPageEnd { upto } => {
                self.out.ping(format!("{KEPT_PING}{}", upto.0).as_bytes())
            }
            Event::Message { msg, .. } => {
                if let Some(p) = req.and_then(|r| self.pending.get_mut(&r))
                    && p.kind == Kind::Send
                    && p.sent.is_none()
                {
                    p.sent = Some(msg.clone());
                }
                if self.first_delivery(msg.id) {
                    self.push_shared(d);
                }
            }
            Event::Welcome { nick, online } => {
                let account = match kind {
                    Some(Kind::Hello { account }) => account,
                    _ => false,
                };
                self.phase = Phase::Ready;
                // The hub thread logs the login (`auth::log_login`).
                self.nick = Some(nick.clone());
                let text =
                    protocol::welcome(re.as_ref(), nick, account, self.sid.0, *online, d.time);
                self.push(text);
            }
            Event::Error(e) => {
                if let Some(p) = req.and_then(|r| self.pending.get_mut(&r)) {
                    let first = !p.errored;
                    p.errored = true;
                    if let Kind::Hello { .. } = p.kind {
                        if !first {
                            // The resume behind a refused login.
                            return;
                        }
                        if self.phase == Phase::LoggingIn {
                            self.phase = Phase::Hello;
                            self.resume_floor = None;
                        }
                    }
                }
                conn_event!(debug, self.who(), error = %e, "command refused");
                if let Some(text) = protocol::render(d, re.as_ref()) {
                    self.push(text);
                }
            }
            Event::Resumed { messages, more } => {
                let fresh: Vec<Message> = messages
                    .iter()
                    .filter(|m| self.first_delivery(m.id))
                    .cloned()
                    .collect();
                self.push(protocol::resumed(re.as_ref(), &fresh, *more, d.time));
            }
            Event::History { target, messages } if kind != Some(Kind::History) => {
                // Shown on joining: up to where a resume takes over.
                let floor = self.resume_floor.unwrap_or(MsgId(u64::MAX));
                let shown: Vec<Message> =
                    messages.iter().filter(|m| m.id <= floor).cloned().collect();
                if !shown.is_empty() {
                    self.push(protocol::history(re.as_ref(), target, &shown, d.time));
                }
            }
            Event::Bye { reason } => {
                if let Some(text) = protocol::render(d, None) {
                    self.push(text);
                }
                self.closing = Some(Box::new((close_code::NORMAL, reason.clone())));
            }
            ev if protocol::is_broadcast(ev) => self.push_shared(d),
            _ => {
                if let Some(text) = protocol::render(d, re.as_ref()) {
                    self.push(text);
                }
            }
        }
    }

    /// Every reply to request `req` is in (and committed).
    fn done(&mut self, req: u64) {
        let Some(p) = self.pending.remove(&req) else {
            return;
        };
        if p.resume {
            self.delivered.resume_done(Instant::now());
        }
        match (p.kind, p.id) {
            (Kind::Ping, id) => self.push(protocol::pong(id.as_ref(), now())),
            (_, Some(id)) if !p.errored => {
                self.push(protocol::ack(&id, p.sent.as_ref(), now()));
            }
            _ => {}
        }
    }
}

/// Sends a close frame with `code` and `why` (cut to fit the frame) and
/// waits, a while, for the client's; returns `why`.
async fn close(socket: &mut Socket, (code, why): (u16, String)) -> String {
    let reason = clip(&why, CLOSE_REASON_BYTES);
    let _ = timeout(CLOSE_GRACE, async {
        socket.close(code, &reason).await?;
        drain(socket).await;
        Ok::<(), crate::websocket::Error>(())
    })
    .await;
    why
}

/// After our close frame: reads (and drops) what the client still sends,
/// up to its close frame, so that closing the socket with unread input
/// does not reset the connection and lose what was written last. (After
/// a read error the stream is finished and this returns at once.)
async fn drain(socket: &mut Socket) {
    while let Some(frame) = socket.recv().await {
        match frame {
            Ok(WsMessage::Close(_)) => return,
            Ok(_) => {}
            Err(e) if too_big(&e) => {}
            Err(_) => return,
        }
    }
}

/// The message's JSON, shared by every WebSocket it goes to: made from a
/// `String`, so UTF-8 (`Frames::text_rendered`); empty if it has none.
fn render_cached(env: &confab_core::Envelope) -> Bytes {
    protocol::render(env, None).map_or_else(Bytes::new, Bytes::from)
}

/// `s` cut to at most `max` bytes at a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_ids_are_recorded_once_in_any_order_and_the_lowest_forgotten_first() {
        let remembering = || {
            let mut d = Delivered::default();
            d.remember(Instant::now());
            d
        };
        let mut d = remembering();
        // Live, in order; then a resumed page's older ids among them.
        assert!([10, 20, 30].into_iter().all(|id| d.first(id)));
        assert!(!d.first(20));
        assert!(d.first(15));
        assert!(!d.first(15));
        assert!(d.first(5));
        assert!(!d.first(30));
        assert!(d.first(31));
        assert_eq!(ids(&d), [5, 10, 15, 20, 30, 31]);
        // Full: the lowest goes.
        let mut d = remembering();
        for id in 1..=DELIVERED_MEMORY as u64 + 1 {
            assert!(d.first(id));
        }
        assert_eq!(ids(&d).len(), DELIVERED_MEMORY);
        assert_eq!(ids(&d).first(), Some(&2));
        assert!(!d.first(2));
        // Older than all it keeps: delivered, not remembered.
        assert!(d.first(1));
        assert_eq!(ids(&d).first(), Some(&2));
    }

    fn ids(d: &Delivered) -> Vec<u64> {
        d.0.as_ref()
            .map(|r| Vec::from(r.ids.clone()))
            .unwrap_or_default()
    }

    #[test]
    fn ids_are_remembered_from_hello_and_during_resumes_then_forgotten() {
        let start = Instant::now();
        let mut d = Delivered::default();
        // Before hello, and so after the time to remember: not recorded.
        assert!(d.first(1) && d.first(1));
        d.remember(start);
        assert!(d.first(2) && !d.first(2));
        // A resume under way keeps the ids past the minute.
        d.resume_sent(start);
        let late = start + REMEMBER * 3;
        d.expire(late);
        assert!(!d.first(2));
        // Its answer: a minute more.
        d.resume_done(late);
        d.expire(late + REMEMBER / 2);
        assert!(!d.first(2));
        d.expire(late + REMEMBER);
        assert!(d.0.is_none(), "forgotten: nothing held");
        assert!(d.first(2) && d.first(2));
    }
}
