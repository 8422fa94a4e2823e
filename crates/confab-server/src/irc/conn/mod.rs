//! One IRC connection: registration (CAP, PASS, NICK, USER, SASL), then
//! commands into core `Command`s and events back as IRC. This file is the
//! task and the dispatch of each line; the child modules are the rest,
//! by concern (see ARCHITECTURE.md).
//!
//! One task per connection owns all of its state and selects over the
//! socket, its outbound queue and its timers. Every command sent to the hub
//! is numbered and fenced ([`HubHandle::command_fenced`]), so the
//! connection knows which events answer which command (for numerics that
//! depend on the question, and for labeled-response). Replies the door
//! makes itself go through the hub's echo once the session exists, so they
//! keep their order with the hub's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use crate::flood::{Excess, Pacer};
use base64ct::{Base64, Encoding};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use confab_core::command::Window;
use confab_core::store::{Account, Bound, HistoryQuery};
use confab_core::{
    ChatError, ClientInfo, Command, Delivery, Event, ModeChange, MsgId, Nick, RoomKey, RoomMode,
    RoomName, SessionId, Target, Timestamp,
};
use confab_irc::{MAX_LINE, MAX_TAGS, Message as Irc, ParseError};
use tokio::io::AsyncWriteExt;

use crate::rewind::Io;
use tokio::time::Instant;

use super::commands::{INPUT_TOO_LONG, Kind, MAX_TARGETS, SERVICE, is_channel, safe};
use super::render::{self, CAPS, Caps, View};
use crate::auth;
use crate::closed::{ClosedBy, ConnLog, conn_event};
use crate::config::Config;
use crate::hub_task::{ConnOutbox, HubHandle, Leave, Ready, read_with, write_out};
use crate::park::{Door, Napping, Parked};
use crate::queue::Ended;
use crate::time::now;

mod chathistory;
mod commands;
mod mode;
mod registration;
mod replies;

/// Items taken from the outbound queue per write.
const WRITE_BATCH: usize = 64;
/// The token of the PING that follows a page of kept messages
/// (`PING :kept-42`); the client's PONG says it read the page.
const KEPT_PING: &str = "kept-";
/// Most messages one CHATHISTORY request returns.
const CHATHISTORY_MAX: usize = 100;
/// Longest SASL payload accepted, in bytes of base64.
const MAX_SASL: usize = 1600;
const VERSION: &str = concat!("confab-", env!("CARGO_PKG_VERSION"));

/// Serves one connection whose first bytes looked like IRC.
///
/// Not an `async fn`: one would keep its arguments beside the `run` future
/// it moved them into, for the connection's whole life.
pub fn serve<S: Io>(
    stream: S,
    peer: SocketAddr,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let sid = hub.new_session();
    run(stream, peer, sid, initial, hub, config)
}

impl Door for Conn {
    fn hub(&self) -> &HubHandle {
        &self.hub
    }

    fn resume(
        nap: Napping<Conn>,
        stream: crate::rewind::Rewind<tokio::net::TcpStream>,
    ) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send + 'static {
        drive(stream, nap, BytesMut::new())
    }
}

struct Pending {
    command: String,
    kind: Kind,
    label: Option<Box<str>>,
    /// Replies held back to wrap in a labeled response.
    held: Vec<Irc>,
}

/// SASL in progress.
enum Sasl {
    /// `AUTHENTICATE PLAIN` was accepted; the payload collects here.
    Plain(String),
}

/// What registration needs and an idle connection should not carry in
/// its task: boxed, and dropped once the client is registered and no SASL
/// exchange is under way (`Conn::registered_tidy`).
#[derive(Default)]
struct Registering {
    /// The nick asked for.
    wanted: Option<String>,
    /// `USER`'s real name.
    realname: Option<String>,
    pass: Option<String>,
    sasl: Option<Sasl>,
    /// When an unregistered connection is closed.
    register_by: Option<Instant>,
}

/// An IRC connection's state, apart from its stream and queue.
pub struct Conn {
    sid: SessionId,
    hub: HubHandle,
    config: Arc<Config>,
    /// (Boxed: read at a login and in log lines, it would be 24 bytes
    /// more of every idle connection's task, and of every parked one.)
    peer: Box<SocketAddr>,
    /// The client's host as everyone sees it: its cloak, the hub's rule.
    host: Arc<str>,
    /// The session's outbox until the hub gets it (end of registration).
    /// (Boxed, as `account`: what only registration needs should not size
    /// an idle connection's task.)
    outbox: Option<Box<ConnOutbox>>,
    /// The hub knows the session (from the end of registration on).
    connected: bool,
    registered: bool,
    caps: Caps,
    /// `CAP LS`/`REQ` before registration holds it until `CAP END`.
    cap_hold: bool,
    cap_302: bool,
    /// The current nick (`*` before registration).
    nick: String,
    /// What registration (and a SASL exchange) holds until it is done.
    reg: Option<Box<Registering>>,
    /// `USER`'s user name (shared with the hub's user).
    ident: Option<Arc<str>>,
    /// The account SASL logged in to, before registration.
    account: Option<Box<Account>>,
    logged_in: bool,
    /// The session is logged in to an account.
    is_account: bool,
    next_req: u64,
    pending: BTreeMap<u64, Pending>,
    /// The registration's login was sent (its answer may be in).
    login_sent: bool,
    channels: BTreeSet<RoomKey>,
    invisible: bool,
    /// A server operator (`OPER` succeeded): user mode `+o`.
    oper: bool,
    /// A PING went out at `since` and nothing was heard after it.
    pinged: bool,
    /// The flood limit: over it, the next line is read only when due.
    pacer: Pacer,
    /// Bytes ready for the socket.
    out: Vec<u8>,
    /// Set when the connection must end, with the reason.
    closing: Option<Box<str>>,
    /// Who ends it when `closing` is set: the server unless the client
    /// quit or a timer ran out.
    closed_by: ClosedBy,
    /// When the current wait began: the last line heard, or the PING
    /// sent since (`pinged`). One instant for both: 16 bytes of every idle
    /// connection's task.
    since: Instant,
    label: Option<Box<str>>,
    /// The request of the labeled line being handled, once the hub knows
    /// the session: every command and door-made reply of the line answers
    /// it, and one fence at the line's end releases them as one labeled
    /// response (several targets, several channels, a refusal among them).
    group: Option<NonZeroU64>,
    /// The input ended: the fence sent behind its last line, and whether
    /// it came back.
    /// (Boxed, being rare: every idle connection's task, and every parked
    /// one, would carry its 24 bytes.)
    end_fence: Option<Box<(u64, bool)>>,
}

/// Sets the connection up, then returns the loop that serves it.
///
/// Not an `async fn`: its arguments would stay in the task beside the
/// state made from them (the halves of the stream, `Conn`) for the
/// connection's whole life. Made here, that state is what the loop
/// captures, once.
fn run<S: Io>(
    stream: S,
    peer: SocketAddr,
    sid: SessionId,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let pacer = hub.flood().pacer(peer.ip(), sid);
    let (outbox, rx, _) = ConnOutbox::new(sid, config.limits.send_queue, &hub);
    let register_by = Instant::now() + Duration::from_millis(config.irc.registration_timeout_ms);
    // Should this task end abnormally (a panic), the hub still learns
    // that the session is gone.
    let leave = Leave::new(&hub, sid);
    let inbuf = BytesMut::from(&initial[..]);
    drop(initial);
    let host = hub.cloak_host(peer.ip());
    let conn = Conn {
        sid,
        hub,
        config,
        peer: Box::new(peer),
        host,
        outbox: Some(Box::new(outbox)),
        connected: false,
        registered: false,
        caps: Caps::default(),
        cap_hold: false,
        cap_302: false,
        nick: "*".into(),
        reg: Some(Box::new(Registering {
            register_by: Some(register_by),
            ..Registering::default()
        })),
        ident: None,
        account: None,
        logged_in: false,
        is_account: false,
        next_req: 1,
        pending: BTreeMap::new(),
        login_sent: false,
        channels: BTreeSet::new(),
        invisible: false,
        oper: false,
        pacer,
        out: Vec::new(),
        closing: None,
        closed_by: ClosedBy::Server,
        since: Instant::now(),
        pinged: false,
        label: None,
        group: None,
        end_fence: None,
    };
    conn_event!(info, conn.who(), "connected");
    let nap = Napping { conn, rx, leave };
    drive(stream, nap, inbuf)
}

/// The loop that serves a connection, from its start or from a park
/// (`park`): it returns the connection parked once it has been quiet a
/// while with nothing under way, if its socket can park.
fn drive<S: Io>(
    stream: S,
    nap: Napping<Conn>,
    inbuf: BytesMut,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    // One stream, not split halves: the loop writes and reads in turn,
    // never at once (a split is an `Arc` and a lock on every I/O).
    let mut stream = stream;
    let mut inbuf = inbuf;
    let (mut conn, mut rx, mut kill, mut leave) = nap.into_parts();
    async move {
        let mut discarding = false;
        let mut batch = Vec::new();
        // Parked once quiet; soon, for a new one.
        let mut quiet = crate::hub_task::Quiet::starting(!conn.registered);
        let mut napping = false;
        // Set when reading ended: how. (Boxed: the loop's state is the
        // idle connection's task, see `Conn::due`.)
        let mut eof: Option<Box<(ClosedBy, String)>> = None;
        // One timer for the connection's life, moved only when its deadline
        // does (a line heard, a PING sent), not armed anew on every wake.
        let timer = tokio::time::sleep_until(conn.due());
        tokio::pin!(timer);
        let ended = loop {
            // Every complete line in the buffer first.
            // While the registration's login is with the hub, later lines
            // wait (clients may send JOIN right behind USER).
            'lines: while conn.closing.is_none() && !conn.awaiting_login() {
                // (The match ends before any await: what it matched on
                // would otherwise be kept across it, in every idle
                // connection's task.)
                let line = 'next: {
                    match next_line(&mut inbuf, &mut discarding) {
                        Line::None => break 'lines,
                        Line::TooLong => {}
                        Line::Some(line) => break 'next line,
                    }
                    let m = conn.view().num("417", &[INPUT_TOO_LONG]);
                    // Boxed, being rare: a reply is a large future (~1 KB)
                    // that an idle connection's task should not be sized
                    // for. (Bound first: a temporary would live across
                    // the await.)
                    let replying = Box::pin(conn.reply(vec![m]));
                    replying.await;
                    continue 'lines;
                };
                conn.since = Instant::now();
                conn.pinged = false;
                // Boxed: pacing and handling a line is a large future (every
                // command's) that an idle connection should not carry; the
                // line goes into it. (Bound first: a temporary would live
                // across the await.)
                let handling = Box::pin(conn.paced_line(line));
                handling.await;
            }
            if let Err(e) = write_out(&mut stream, &mut conn.out, &mut kill).await
                && conn.closed_by != ClosedBy::Killed
            {
                break Some(e.closed());
            }
            // Nothing waiting: what a burst grew goes back, and once the
            // connection was quiet a while, what it kept too, so an idle
            // connection holds no buffers of its own.
            if let Some(keep) = quiet.give_back(&rx, &mut batch) {
                crate::hub_task::release(&mut conn.out, keep);
                // (Once quiet, even an empty buffer with no room left goes:
                // split from the lines it held, it still holds their
                // allocation.)
                if inbuf.is_empty() && (keep == 0 || inbuf.capacity() > keep) {
                    inbuf = BytesMut::new();
                }
                crate::hub_task::release_map(&mut conn.pending);
            }
            if let Some(why) = conn.closing.clone() {
                break Some((conn.closed_by, why.into()));
            }
            // Quiet a while with nothing under way: it parks.
            if std::mem::take(&mut napping)
                && eof.is_none()
                && !discarding
                && inbuf.is_empty()
                && conn.out.is_empty()
                && conn.can_nap()
                && crate::park::can_take(&stream)
            {
                break None;
            }
            // The client stopped sending (`printf … | nc` does at once):
            // it ends once every line it sent has been handled and
            // answered. A fence behind them comes back after their
            // replies, which wait for their commit.
            if eof.is_some() && !conn.awaiting_login() {
                match conn.end_fence.as_deref() {
                    _ if !conn.connected => break eof.take().map(|e| *e),
                    None => {
                        let req = conn.next_req;
                        conn.next_req += 1;
                        conn.end_fence = Some(Box::new((req, false)));
                        let fencing = Box::pin(conn.hub.fence(conn.sid, req));
                        if fencing.await.is_err() {
                            break eof.take().map(|e| *e);
                        }
                    }
                    Some((_, true)) => break eof.take().map(|e| *e),
                    Some((_, false)) => {}
                }
            }
            quiet.set_timer(timer.as_mut(), conn.due());
            tokio::select! {
                biased;
                got = rx.recv_many(&mut batch, WRITE_BATCH) => {
                    match got {
                        Ok(_) => {}
                        Err(Ended::Killed(why)) => {
                            // Its ERROR is written at the loop's top, which
                            // then ends it for this reason, whatever the
                            // write. (Not awaited here: what the select
                            // matched would live in every idle task.)
                            conn.out.clear();
                            conn.error_line(&why);
                            conn.closing = Some(why.to_string().into());
                            conn.closed_by = ClosedBy::Killed;
                            continue;
                        }
                        Err(Ended::Closed) => break Some((ClosedBy::Server, "closed".to_owned())),
                    }
                    quiet.busy();
                    if let Some(rest) = crate::hub_task::deliver_all(&mut batch, |item| conn.deliver(item)) {
                        rest.await;
                    }
                }
                read = read_with(&mut stream, |bytes| inbuf.extend_from_slice(bytes)),
                    if !conn.awaiting_login() && eof.is_none() => match read {
                    Ok(0) => {
                        // A last line without its line end is a line all
                        // the same (`printf … | nc`).
                        if !inbuf.is_empty() {
                            inbuf.extend_from_slice(b"\r\n");
                        }
                        eof = Some(Box::new((ClosedBy::Client, "Connection closed".to_owned())));
                    }
                    Err(e) => {
                        eof = Some(Box::new((ClosedBy::read_error(&e), format!("Read error: {e}"))));
                    }
                    Ok(_) => quiet.busy(),
                },
                () = &mut timer => {
                    let now = Instant::now();
                    // Quiet a while: the next give-back, above, keeps
                    // nothing, and the connection may park.
                    napping = quiet.due(now);
                    if now < conn.due() {
                        continue;
                    }
                    if conn.register_by().is_some_and(|by| now >= by) {
                        conn.error_line("Registration timed out");
                        conn.closing = Some("Registration timed out".into());
                        conn.closed_by = ClosedBy::Timeout;
                    } else if conn.pinged {
                        let why =
                            format!("Ping timeout: {} seconds", conn.ping_timeout().as_secs());
                        conn.error_line(&why);
                        conn.closing = Some(why.into());
                        conn.closed_by = ClosedBy::Timeout;
                    } else {
                        let ping = Irc::new("PING").with_param(conn.config.irc.server_name.clone());
                        ping.write_to(&mut conn.out);
                        conn.since = Instant::now();
                        conn.pinged = true;
                    }
                }
            }
        };
        let Some(ended) = ended else {
            let until = Some(conn.due());
            return crate::park::parked(stream, until, Napping { conn, rx, leave });
        };
        // (Boxed: kept across the last awaits, its 32 bytes would size
        // every connection's task.)
        let ended = Box::new(ended);
        leave.disarm();
        if conn.connected {
            // (Boxed: a request to the hub is a large future to keep.)
            let leaving = Box::pin(conn.hub.disconnect(conn.sid, ended.1.clone()));
            let _ = leaving.await;
            // What the hub still sends (the quit's goodbye) is dropped with
            // the queue.
        }
        let flushing = Box::pin(write_out(&mut stream, &mut conn.out, &mut kill));
        let _ = flushing.await;
        let _ = stream.shutdown().await;
        ended.0.log(&conn.who(), &ended.1);
        None
    }
}

enum Line {
    None,
    TooLong,
    Some(Bytes),
}

/// The next line of `buf` (without CR LF), if a whole one is there. A
/// line longer than the protocol allows is reported once and skipped.
fn next_line(buf: &mut BytesMut, discarding: &mut bool) -> Line {
    const MAX: usize = MAX_TAGS + MAX_LINE;
    loop {
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = buf.split_to(i + 1).freeze();
                if std::mem::take(discarding) {
                    continue;
                }
                let mut line = line.slice(..i);
                if line.ends_with(b"\r") {
                    line = line.slice(..line.len() - 1);
                }
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                return Line::Some(line);
            }
            None if buf.len() > MAX => {
                buf.clear();
                if !*discarding {
                    *discarding = true;
                    return Line::TooLong;
                }
                return Line::None;
            }
            None => return Line::None,
        }
    }
}

/// A CHATHISTORY reference: `msgid=…`, `timestamp=…` or `*`.
fn bound(s: &str) -> Option<Option<Bound>> {
    if s == "*" {
        return Some(None);
    }
    if let Some(id) = s.strip_prefix("msgid=") {
        return id.parse::<u64>().ok().map(|id| Some(Bound::Id(MsgId(id))));
    }
    let t = s.strip_prefix("timestamp=")?;
    let t = DateTime::parse_from_rfc3339(t).ok()?;
    Some(Some(Bound::Time(Timestamp(t.timestamp_millis()))))
}

fn bound_time(b: Option<Bound>) -> Option<Timestamp> {
    match b {
        Some(Bound::Time(t)) => Some(t),
        _ => None,
    }
}

impl Conn {
    /// Which connection this is, for its log lines.
    fn who(&self) -> ConnLog {
        ConnLog {
            door: "irc",
            sid: self.sid,
            peer: *self.peer,
        }
    }

    fn view(&self) -> View {
        View {
            server: self.config.irc.server_name.clone(),
            nick: self.nick.clone(),
            caps: self.caps,
        }
    }

    /// The registration's login was sent and not yet answered.
    /// Drops what registration held once the client is registered and no
    /// SASL exchange is under way: after each line, and at the welcome
    /// (an idle client sends no line after it).
    fn registered_tidy(&mut self) {
        if self.registered && self.reg.as_ref().is_some_and(|r| r.sasl.is_none()) {
            self.reg = None;
        }
    }

    /// What registration holds, made when first needed.
    fn reg(&mut self) -> &mut Registering {
        self.reg.get_or_insert_default()
    }

    /// When the connection's timer is due: its registration's end, the
    /// next ping or the ping's timeout. Asked again when the timer fires
    /// rather than kept across the wait: what the loop holds there sizes
    /// every idle connection's task (see ARCHITECTURE.md on the task's
    /// allocator class).
    fn due(&self) -> Instant {
        let wait = if self.pinged {
            self.ping_timeout()
        } else {
            self.ping_every()
        };
        let deadline = self.since + wait;
        match self.register_by() {
            Some(by) => deadline.min(by),
            None => deadline,
        }
    }

    /// When an unregistered connection is closed; none once registered.
    fn register_by(&self) -> Option<Instant> {
        if self.registered {
            return None;
        }
        self.reg.as_ref().and_then(|r| r.register_by)
    }

    /// How long the connection may be silent before it is pinged (a
    /// config value: an idle task should not carry a copy).
    fn ping_every(&self) -> Duration {
        Duration::from_millis(self.config.irc.ping_interval_ms)
    }

    /// How long a ping may go unanswered.
    fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.config.irc.ping_timeout_ms)
    }

    /// Nothing is under way that the loop must see through: registered,
    /// the hub has the session, no command awaits its answer, and the
    /// connection is not ending. It may park.
    fn can_nap(&self) -> bool {
        self.registered
            && self.connected
            && self.outbox.is_none()
            && self.reg.is_none()
            && self.pending.is_empty()
            && self.group.is_none()
            && self.label.is_none()
            && self.end_fence.is_none()
            && self.closing.is_none()
            && !self.awaiting_login()
    }

    fn awaiting_login(&self) -> bool {
        self.login_sent && !self.logged_in
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn ident(&self) -> &str {
        self.ident.as_deref().unwrap_or("*")
    }

    fn my_mask(&self) -> String {
        confab_core::event::mask(&self.nick, self.ident(), self.host())
    }

    fn error_line(&mut self, why: &str) {
        let host = self.host();
        Irc::new("ERROR")
            .with_param(format!("Closing Link: {host} ({why})"))
            .write_to_trailing(&mut self.out, true);
    }

    /// The door's own replies: straight out before the hub knows the
    /// session, through the hub's echo after (keeping their order with the
    /// hub's replies). Labeled when the command was.
    async fn reply(&mut self, msgs: Vec<Irc>) {
        if let Some(p) = self.group.and_then(|req| self.pending.get_mut(&req.get())) {
            // Held for the line's labeled response; still audited.
            let error = audited_error(&msgs);
            p.held.extend(msgs);
            if let Some(error) = error
                && self
                    .hub
                    .echo(self.sid, Bytes::new(), Some(error))
                    .await
                    .is_err()
            {
                self.closing = Some("Server shutting down".into());
            }
            return;
        }
        let msgs = match self.label.take() {
            Some(label) => self.labeled(&label, msgs),
            None => msgs,
        };
        if msgs.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        render::write(&msgs, &mut bytes);
        if self.connected {
            // Errors the door finds itself are audited like the hub's.
            let error = audited_error(&msgs);
            if self.hub.echo(self.sid, bytes.into(), error).await.is_err() {
                self.closing = Some("Server shutting down".into());
            }
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// A numeric (or other door-made error) for the current command, and
    /// audited as an error once the hub knows the session.
    async fn fail(&mut self, m: Irc) {
        self.reply(vec![m]).await;
    }

    async fn num(&mut self, code: &str, params: &[&str]) {
        let m = self.view().num(code, params);
        self.reply(vec![m]).await;
    }

    /// Wraps a labeled command's replies: one message gets the label, none
    /// gets an ACK, several go in a labeled-response batch.
    fn labeled(&mut self, label: &str, mut msgs: Vec<Irc>) -> Vec<Irc> {
        match msgs.len() {
            0 => vec![self.view().server_msg("ACK").with_tag("label", Some(label))],
            1 => {
                let m = msgs.pop().expect("one");
                vec![m.with_tag("label", Some(label))]
            }
            _ if !self.caps.batch => msgs,
            _ => {
                let id = format!("L{}", self.next_req);
                self.next_req += 1;
                let start = self
                    .view()
                    .server_msg("BATCH")
                    .with_param(format!("+{id}"))
                    .with_param("labeled-response")
                    .with_tag("label", Some(label));
                let end = self.view().server_msg("BATCH").with_param(format!("-{id}"));
                let mut out = vec![start];
                out.extend(msgs.into_iter().map(|m| m.with_tag("batch", Some(&id))));
                out.push(end);
                out
            }
        }
    }

    /// Sends `cmd` to the hub as a numbered request, remembering what it
    /// was, and fences it.
    async fn command(&mut self, cmd: Command, command: &str, kind: Kind) {
        if let Some(req) = self.group.map(NonZeroU64::get) {
            // Part of a labeled line: its fence comes at the line's end.
            if let Some(p) = self.pending.get_mut(&req) {
                p.command = command.to_owned();
                p.kind = kind;
            }
            if self.hub.command_req(self.sid, req, cmd).await.is_err() {
                self.closing = Some("Server shutting down".into());
            }
            return;
        }
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(
            req,
            Pending {
                command: command.to_owned(),
                kind,
                label: self.label.take(),
                held: Vec::new(),
            },
        );
        let sent = self.hub.command_fenced(self.sid, req, cmd).await.is_ok();
        if !sent {
            self.closing = Some("Server shutting down".into());
        }
    }

    /// One item of the outbound queue.
    fn deliver(&mut self, item: Ready) {
        match item {
            Ready::Raw(b) => self.out.extend_from_slice(&b),
            Ready::Event(d) => self.event(&d),
        }
    }

    /// All replies to `req` are in: release a labeled response.
    fn done(&mut self, req: u64) {
        if let Some((fence, back)) = self.end_fence.as_deref_mut()
            && *fence == req
        {
            *back = true;
            return;
        }
        let Some(p) = self.pending.remove(&req) else {
            return;
        };
        if let Some(label) = p.label {
            let msgs = self.labeled(&label, p.held);
            render::write(&msgs, &mut self.out);
        }
    }

    fn event(&mut self, d: &Delivery) {
        match &d.event {
            Event::Fence(req) => return self.done(*req),
            Event::Local(b) => return self.out.extend_from_slice(b),
            Event::KeptPageEnd { upto } => {
                // The client's PONG to this says it read the page.
                let ping = Irc::new("PING").with_param(format!("{KEPT_PING}{}", upto.0));
                return ping.write_to(&mut self.out);
            }
            _ => {}
        }
        // What this session sent comes back only with echo-message (its
        // other sessions see it as from elsewhere).
        if render::is_own_echo(d, self.sid, self.caps) {
            return;
        }
        self.shown(d, true);
        // To oneself with echo-message: the echo above, and the delivery,
        // never labeled.
        if render::is_echoed_delivery(d, self.sid, self.caps) {
            self.shown(d, false);
        }
    }

    /// A delivery as this client sees it: labeled when it answers a
    /// labeled line of the client's (`as_answer`), else straight out.
    fn shown(&mut self, d: &Delivery, as_answer: bool) {
        let req = d
            .origin()
            .filter(|o| as_answer && o.sid == self.sid)
            .map(|o| o.req)
            .filter(|r| self.pending.contains_key(r));
        let labeled = req.is_some_and(|r| self.pending[&r].label.is_some());
        // The hot path: a message, cached per variant.
        if let Event::Message { msg, .. } = &d.event {
            if !labeled && let Some(bytes) = render::cached_message(d, msg, self.caps) {
                self.out.extend_from_slice(bytes);
                return;
            }
        } else if !labeled
            && let Some(bytes) = render::cached_broadcast(d, self.caps, &self.nick, || self.view())
        {
            // A room's change, as every member sees it.
            self.out.extend_from_slice(bytes);
            return;
        }
        let (command, kind) = match req.map(|r| &self.pending[&r]) {
            Some(p) => (p.command.clone(), p.kind.clone()),
            None => (String::new(), Kind::Plain),
        };
        let msgs = self.render(d, &command, &kind);
        match req.filter(|_| labeled) {
            Some(r) => self.pending.get_mut(&r).expect("checked").held.extend(msgs),
            None => render::write(&msgs, &mut self.out),
        }
    }
}

/// The error among a door-made reply, as the audit log records it: its
/// numeric (or `FAIL`) and its text.
fn audited_error(msgs: &[Irc]) -> Option<String> {
    msgs.iter()
        .find(|m| m.command.starts_with(['4', '5']) || m.command == "FAIL")
        .map(|m| {
            let why = m.params.last().map_or("", |p| p.as_str());
            format!("{} {why}", m.command)
        })
}

/// Why a line could not be read as a message.
fn parse_error_text(e: &ParseError) -> &'static str {
    match e {
        ParseError::TagsTooLong | ParseError::LineTooLong => INPUT_TOO_LONG,
        ParseError::InvalidUtf8 => "Lines must be UTF-8",
        _ => "Malformed message",
    }
}

impl Conn {
    /// One line from the client, once the flood limit lets it through
    /// (fake lag: over the limit, the next line waits its turn).
    async fn paced_line(&mut self, line: Bytes) {
        if self.pacer.pace().await.is_err() {
            self.closing = Some(Excess::REASON.into());
            return;
        }
        self.line(&line).await;
    }

    /// One line from the client.
    async fn line(&mut self, line: &[u8]) {
        self.line_once(line).await;
        self.registered_tidy();
        if let Some(req) = self.group.take().map(NonZeroU64::get)
            && self.hub.fence(self.sid, req).await.is_err()
        {
            self.closing = Some("Server shutting down".into());
        }
    }

    /// One line, without the end of its labeled response.
    async fn line_once(&mut self, line: &[u8]) {
        // What a client may send of tags, all of them (IRCv3
        // message-tags): 4094 bytes between the `@` and the space, less
        // than the parser's limit for what a server sends.
        let tags = line
            .strip_prefix(b"@")
            .map_or(0, |t| t.iter().position(|&b| b == b' ').unwrap_or(t.len()));
        let parsed = if tags > confab_core::tags::MAX_CLIENT_TAG_BYTES {
            Err(ParseError::TagsTooLong)
        } else {
            Irc::parse(line)
        };
        let msg = match parsed {
            Ok(m) => m,
            Err(e @ (ParseError::TagsTooLong | ParseError::LineTooLong)) => {
                return self.num("417", &[parse_error_text(&e)]).await;
            }
            Err(ParseError::Empty) => return,
            Err(e) => {
                // A line that is not UTF-8 names its command when the rest
                // of it reads (`FAIL PRIVMSG INVALID_UTF8`).
                let command = (e == ParseError::InvalidUtf8)
                    .then(|| Irc::parse(String::from_utf8_lossy(line).as_bytes()).ok())
                    .flatten()
                    .map_or_else(|| "*".to_owned(), |m| m.command);
                let m = self
                    .view()
                    .server_msg("FAIL")
                    .with_param(command)
                    .with_param(if e == ParseError::InvalidUtf8 {
                        "INVALID_UTF8"
                    } else {
                        "MALFORMED"
                    })
                    .with_param(parse_error_text(&e));
                return self.fail(m).await;
            }
        };
        self.label = None;
        if self.caps.labeled_response
            && let Some(Some(label)) = msg.tag("label")
            && !label.is_empty()
            && label.len() <= 64
        {
            self.label = Some(label.into());
        }
        if self.connected
            && let Some(label) = self.label.take()
        {
            let req = self.next_req;
            self.next_req += 1;
            let pending = Pending {
                command: msg.command.clone(),
                kind: Kind::Plain,
                label: Some(label),
                held: Vec::new(),
            };
            self.pending.insert(req, pending);
            self.group = NonZeroU64::new(req);
        }
        self.run(&msg).await;
    }
}

fn iso_date(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.0)
        .unwrap_or_default()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}
