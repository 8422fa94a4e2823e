//! One IRC connection: registration (CAP, PASS, NICK, USER, SASL), then
//! commands into core `Command`s and events back as IRC.
//!
//! One task per connection owns all of its state and selects over the
//! socket, its outbound queue and its timers. Every command sent to the hub
//! is numbered and followed by a fence ([`HubHandle::fence`]), so the
//! connection knows which events answer which command (for numerics that
//! depend on the question, and for labeled-response). Replies the door
//! makes itself go through the hub's echo once the session exists, so they
//! keep their order with the hub's.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::flood::{Excess, Pacer};
use base64ct::{Base64, Encoding};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use confab_core::command::Window;
use confab_core::store::{Account, Bound, HistoryQuery};
use confab_core::{
    ChatError, ClientInfo, Command, Delivery, Event, Field, ModeChange, MsgId, MsgKind, Nick,
    RoomKey, RoomMode, RoomName, SessionId, Target, Text, Timestamp,
};
use confab_irc::{MAX_LINE, MAX_TAGS, Message as Irc, ParseError};
use tokio::io::WriteHalf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::rewind::Io;
use tokio::time::Instant;
use tracing::{Instrument, info};

use super::render::{self, CAPS, Caps, View};
use crate::auth;
use crate::closed::ClosedBy;
use crate::config::Config;
use crate::hub_task::{ConnOutbox, HubHandle, KillSwitch, Leave, Ready};
use crate::time::now;

/// Items taken from the outbound queue per write.
const WRITE_BATCH: usize = 64;
/// The token of the PING that follows a page of kept messages
/// (`PING :kept-42`); the client's PONG says it read the page.
const KEPT_PING: &str = "kept-";
/// Most targets of one PRIVMSG/NOTICE (ISUPPORT `TARGMAX`).
const MAX_TARGETS: usize = 4;
/// Most messages one CHATHISTORY request returns.
const CHATHISTORY_MAX: usize = 100;
/// Longest SASL payload accepted, in bytes of base64.
const MAX_SASL: usize = 1600;
const SERVICE: &str = "NickServ";
const VERSION: &str = concat!("confab-", env!("CARGO_PKG_VERSION"));

/// Serves one connection whose first bytes looked like IRC.
pub async fn serve<S: Io>(
    stream: S,
    peer: SocketAddr,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) {
    let sid = hub.new_session();
    let span = tracing::info_span!("irc", sid = sid.0, %peer);
    run(stream, peer, sid, initial, hub, config)
        .instrument(span)
        .await;
}

/// What a numbered command was, to read its replies by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Plain,
    Login,
    Identify,
    NickServ,
    Names,
    Who(String),
    WhoNick(String),
    /// `MODE nick` for another nick: 502 if it exists, else 401.
    UserMode(String),
    Ison,
    Userhost,
    Topic,
    /// The channels asked for (all when empty).
    List(Vec<String>),
    /// CHATHISTORY's subcommand and target, as asked.
    History(String, String),
    Targets,
    /// MARKREAD's target, as asked.
    MarkRead(String),
}

struct Pending {
    command: String,
    kind: Kind,
    label: Option<String>,
    /// Replies held back to wrap in a labeled response.
    held: Vec<Irc>,
}

/// SASL in progress.
enum Sasl {
    /// `AUTHENTICATE PLAIN` was accepted; the payload collects here.
    Plain(String),
}

struct Conn {
    sid: SessionId,
    hub: HubHandle,
    config: Arc<Config>,
    peer: SocketAddr,
    /// The session's outbox until the hub gets it (end of registration).
    outbox: Option<ConnOutbox>,
    /// The hub knows the session (from the end of registration on).
    connected: bool,
    registered: bool,
    caps: Caps,
    /// `CAP LS`/`REQ` before registration holds it until `CAP END`.
    cap_hold: bool,
    cap_302: bool,
    /// The current nick (`*` before registration).
    nick: String,
    /// The nick asked for during registration.
    wanted: Option<String>,
    /// `USER`'s user name and real name.
    user: Option<(String, String)>,
    pass: Option<String>,
    /// The account SASL logged in to, before registration.
    account: Option<Account>,
    logged_in: bool,
    /// The session is logged in to an account.
    is_account: bool,
    sasl: Option<Sasl>,
    next_req: u64,
    pending: HashMap<u64, Pending>,
    /// The registration login in flight.
    login_req: Option<u64>,
    channels: HashSet<RoomKey>,
    invisible: bool,
    /// A server operator (`OPER` succeeded): user mode `+o`.
    oper: bool,
    /// The flood limit: over it, the next line is read only when due.
    pacer: Pacer,
    /// Bytes ready for the socket.
    out: Vec<u8>,
    /// Set when the connection must end, with the reason.
    closing: Option<String>,
    /// Who ends it when `closing` is set: the server unless the client
    /// quit or a timer ran out.
    closed_by: ClosedBy,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    label: Option<String>,
}

async fn run<S: Io>(
    stream: S,
    peer: SocketAddr,
    sid: SessionId,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) {
    info!("connected");
    let (mut reader, mut writer) = tokio::io::split(stream);
    let pacer = hub.flood().pacer(peer.ip());
    let (outbox, mut rx, mut kill) = ConnOutbox::new(config.limits.send_queue, &pacer, &hub);
    let mut conn = Conn {
        sid,
        hub: hub.clone(),
        config: config.clone(),
        peer,
        outbox: Some(outbox),
        connected: false,
        registered: false,
        caps: Caps::default(),
        cap_hold: false,
        cap_302: false,
        nick: "*".into(),
        wanted: None,
        user: None,
        pass: None,
        account: None,
        logged_in: false,
        is_account: false,
        sasl: None,
        next_req: 1,
        pending: HashMap::new(),
        login_req: None,
        channels: HashSet::new(),
        invisible: false,
        oper: false,
        pacer,
        out: Vec::new(),
        closing: None,
        closed_by: ClosedBy::Server,
        last_heard: Instant::now(),
        ping_sent: None,
        label: None,
    };
    // Should this task end abnormally (a panic), the hub still learns
    // that the session is gone.
    let mut leave = Leave::new(&hub, sid);
    let mut inbuf = BytesMut::from(&initial[..]);
    drop(initial);
    let mut discarding = false;
    let mut batch = Vec::new();
    let ping_every = Duration::from_millis(config.irc.ping_interval_ms);
    let ping_timeout = Duration::from_millis(config.irc.ping_timeout_ms);
    let register_by = Instant::now() + Duration::from_millis(config.irc.registration_timeout_ms);
    // Set when reading ended: how.
    let mut eof = None;
    let (closed_by, reason) = loop {
        // Every complete line in the buffer first.
        // While the registration's login is with the hub, later lines
        // wait (clients may send JOIN right behind USER).
        while conn.closing.is_none() && !conn.awaiting_login() {
            let line = match next_line(&mut inbuf, &mut discarding) {
                Line::None => break,
                Line::TooLong => {
                    let m = conn.view().num("417", &["Input line was too long"]);
                    conn.reply(vec![m]).await;
                    continue;
                }
                Line::Some(line) => line,
            };
            conn.last_heard = Instant::now();
            conn.ping_sent = None;
            // Fake lag: over the limit, the next line waits its turn.
            if conn.pacer.pace().await.is_err() {
                conn.closing = Some(Excess::REASON.into());
                continue;
            }
            // Boxed: handling a line is a large future (every command's)
            // that an idle connection should not carry.
            // (Bound first: a temporary would live across the await.)
            let handling = Box::pin(conn.line(&line));
            handling.await;
        }
        if !conn.out.is_empty() && !flush(&mut writer, &mut conn.out, &mut kill).await {
            break (ClosedBy::WriteError, "write error".to_owned());
        }
        // Nothing waiting: what a burst grew goes back, so an idle
        // connection holds no buffers of its own.
        if rx.is_empty() {
            crate::hub_task::release(&mut conn.out);
            crate::hub_task::release(&mut batch);
            if inbuf.is_empty() && inbuf.capacity() > crate::hub_task::KEEP_BYTES {
                inbuf = BytesMut::new();
            }
            if conn.pending.is_empty() && conn.pending.capacity() > 0 {
                conn.pending = HashMap::new();
            }
        }
        if let Some(why) = conn.closing.clone() {
            break (conn.closed_by, why);
        }
        if let Some(eof) = eof {
            break eof;
        }
        let deadline = match conn.ping_sent {
            Some(sent) => sent + ping_timeout,
            None => conn.last_heard + ping_every,
        };
        let deadline = if conn.registered {
            deadline
        } else {
            deadline.min(register_by)
        };
        tokio::select! {
            biased;
            why = kill.fired() => {
                conn.out.clear();
                conn.error_line(&why);
                let _ = flush(&mut writer, &mut conn.out, &mut kill).await;
                break (ClosedBy::Killed, why.to_string());
            }
            n = rx.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    break (ClosedBy::Server, "closed".to_owned());
                }
                for item in batch.drain(..) {
                    conn.deliver(item.ready().await);
                }
            }
            read = reader.read_buf(&mut inbuf), if !conn.awaiting_login() => match read {
                Ok(0) => eof = Some((ClosedBy::Client, "Connection closed".to_owned())),
                Err(e) => eof = Some((ClosedBy::read_error(&e), format!("Read error: {e}"))),
                Ok(_) => {}
            },
            () = tokio::time::sleep_until(deadline) => {
                if !conn.registered && Instant::now() >= register_by {
                    conn.error_line("Registration timed out");
                    conn.closing = Some("Registration timed out".into());
                    conn.closed_by = ClosedBy::Timeout;
                } else if conn.ping_sent.is_some() {
                    let why = format!("Ping timeout: {} seconds", ping_timeout.as_secs());
                    conn.error_line(&why);
                    conn.closing = Some(why);
                    conn.closed_by = ClosedBy::Timeout;
                } else {
                    let ping = Irc::new("PING").with_param(conn.config.irc.server_name.clone());
                    ping.write_to(&mut conn.out);
                    conn.ping_sent = Some(Instant::now());
                }
            }
        }
    };
    leave.disarm();
    if conn.connected {
        // (Boxed: a request to the hub is a large future to keep.)
        let leaving = Box::pin(hub.disconnect(sid, reason.clone()));
        let _ = leaving.await;
        // What the hub still sends (the quit's goodbye) is dropped with
        // the queue.
    }
    let _ = flush(&mut writer, &mut conn.out, &mut kill).await;
    let _ = writer.shutdown().await;
    closed_by.log(&reason);
}

/// Writes `out` unless the connection is killed meanwhile; false on error.
async fn flush<S: Io>(w: &mut WriteHalf<S>, out: &mut Vec<u8>, kill: &mut KillSwitch) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = tokio::select! {
        biased;
        _ = kill.fired() => false,
        r = w.write_all(out) => r.is_ok(),
    };
    out.clear();
    ok
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

/// Splits a comma list, dropping empty items.
fn list(s: &str) -> Vec<&str> {
    s.split(',').filter(|x| !x.is_empty()).collect()
}

fn is_channel(s: &str) -> bool {
    s.starts_with('#')
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
    fn view(&self) -> View {
        View {
            server: self.config.irc.server_name.clone(),
            nick: self.nick.clone(),
            caps: self.caps,
        }
    }

    /// The registration's login was sent and not yet answered.
    fn awaiting_login(&self) -> bool {
        self.login_req.is_some() && !self.logged_in
    }

    /// The client's host as everyone sees it: its cloak, the hub's rule.
    fn host(&self) -> String {
        self.hub.cloak().host(self.peer.ip())
    }

    fn ident(&self) -> String {
        self.user.as_ref().map_or("*".into(), |u| u.0.clone())
    }

    fn my_mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.ident(), self.host())
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
            let error = msgs
                .iter()
                .find(|m| m.command.starts_with(['4', '5']) || m.command == "FAIL")
                .map(|m| {
                    let why = m.params.last().map_or("", |p| p.as_str());
                    format!("{} {why}", m.command)
                });
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
        let req = d
            .origin()
            .filter(|o| o.sid == self.sid)
            .map(|o| o.req)
            .filter(|r| self.pending.contains_key(r));
        let labeled = req.is_some_and(|r| self.pending[&r].label.is_some());
        // The hot path: a message, cached per variant.
        if let Event::Message { msg, .. } = &d.event {
            if render::is_own_echo(d, msg, self.sid, self.caps) {
                return;
            }
            if !labeled && let Some(bytes) = render::cached_message(d, msg, self.caps) {
                self.out.extend_from_slice(&bytes);
                return;
            }
        } else if !labeled
            && let Some(bytes) = render::cached_broadcast(d, self.caps, &self.nick, || self.view())
        {
            // A room's change, as every member sees it.
            self.out.extend_from_slice(&bytes);
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

    /// An event for this client, read in the light of the command it
    /// answers (if it answers one of this connection's).
    fn render(&mut self, d: &Delivery, command: &str, kind: &Kind) -> Vec<Irc> {
        let view = self.view();
        let me = self.nick.clone();
        let is_me = |n: &Nick| n.as_str().eq_ignore_ascii_case(&me);
        match &d.event {
            Event::Welcome { nick, online } => {
                let old = std::mem::replace(&mut self.nick, nick.to_string());
                self.logged_in = true;
                if *kind == Kind::Identify || self.account.is_some() {
                    self.is_account = true;
                }
                if !self.registered {
                    self.registered = true;
                    return self.burst(*online);
                }
                // NickServ IDENTIFY: the guest left its channels.
                let source = format!("{old}!{}@{}", self.ident(), self.host());
                let mut out: Vec<Irc> = self
                    .channels
                    .drain()
                    .map(|c| {
                        Irc::new("PART")
                            .with_source(source.clone())
                            .with_param(c.as_str())
                            .with_param("Identified")
                    })
                    .collect();
                if old != self.nick {
                    out.push(
                        Irc::new("NICK")
                            .with_source(format!("{old}!{}@{}", self.ident(), self.host()))
                            .with_param(self.nick.clone()),
                    );
                }
                if command == "NICKSERV" {
                    let text = format!("You are now identified as {}", self.nick);
                    out.push(self.service_notice(&text));
                }
                out.push(self.view().num(
                    "900",
                    &[&self.my_mask(), &self.nick, "You are now logged in"],
                ));
                out
            }
            Event::Message { msg, .. } => render::message_lines(msg, d.actor.as_deref(), self.caps),
            Event::Joined { room, nick } => {
                if is_me(nick) {
                    self.channels.insert(room.key());
                }
                render::broadcast(d, &view)
            }
            Event::Parted { room, nick, .. } => {
                if is_me(nick) {
                    self.channels.remove(&room.key());
                }
                render::broadcast(d, &view)
            }
            Event::Kicked { room, nick, .. } => {
                if is_me(nick) {
                    self.channels.remove(&room.key());
                }
                render::broadcast(d, &view)
            }
            Event::NickChanged { old, new } => {
                let out = render::broadcast(d, &view);
                if is_me(old) {
                    self.nick = new.to_string();
                }
                out
            }
            Event::Invited { room, nick, .. } if !command.is_empty() && !is_me(nick) => {
                vec![view.num("341", &[nick.as_str(), room.as_str()])]
            }
            Event::AwayChanged { nick, away } if is_me(nick) => {
                if command.is_empty() {
                    return Vec::new();
                }
                match away {
                    Some(_) => vec![view.num("306", &["You have been marked as being away"])],
                    None => vec![view.num("305", &["You are no longer marked as being away"])],
                }
            }
            Event::RealnameChanged { nick, .. } if is_me(nick) && !self.caps.setname => Vec::new(),
            Event::TopicIs { room, topic } => match topic {
                Some(t) => vec![
                    view.num("332", &[room.as_str(), t.text.as_str()]),
                    view.num(
                        "333",
                        &[room.as_str(), t.by.as_str(), &(t.time.0 / 1000).to_string()],
                    ),
                ],
                None if *kind == Kind::Topic => {
                    vec![view.num("331", &[room.as_str(), "No topic is set"])]
                }
                None => Vec::new(),
            },
            Event::Members { room, members } => match kind {
                Kind::Who(mask) => {
                    let mut out: Vec<Irc> = members
                        .iter()
                        .map(|m| self.who_line(room.as_str(), &m.who, m.away, m.status))
                        .collect();
                    out.push(view.num("315", &[mask, "End of WHO list"]));
                    out
                }
                _ => {
                    let mut names = Vec::new();
                    for m in members {
                        let p = render::prefix(m.status, self.caps.multi_prefix);
                        if self.caps.userhost_in_names {
                            names.push(format!("{p}{}", render::mask(&m.who)));
                        } else {
                            names.push(format!("{p}{}", m.who.nick));
                        }
                    }
                    let mut out = Vec::new();
                    // 353 lines that fit in 512 bytes.
                    let overhead = view.server.len() + self.nick.len() + room.as_str().len() + 20;
                    let mut line = String::new();
                    for n in names {
                        if !line.is_empty() && line.len() + n.len() + 1 + overhead > MAX_LINE {
                            out.push(view.num("353", &["=", room.as_str(), &line]));
                            line.clear();
                        }
                        if !line.is_empty() {
                            line.push(' ');
                        }
                        line.push_str(&n);
                    }
                    if !line.is_empty() {
                        out.push(view.num("353", &["=", room.as_str(), &line]));
                    }
                    out.push(view.num("366", &[room.as_str(), "End of /NAMES list"]));
                    out
                }
            },
            Event::Rooms(rooms) => {
                let mut out = vec![view.num("321", &["Channel", "Users  Name"])];
                let asked = match kind {
                    Kind::List(asked) => asked.clone(),
                    _ => Vec::new(),
                };
                for r in rooms {
                    if !asked.is_empty() && !asked.iter().any(|a| *a == r.name.key().as_str()) {
                        continue;
                    }
                    let topic = r.topic.as_ref().map_or("", |t| t.as_str());
                    out.push(view.num("322", &[r.name.as_str(), &r.members.to_string(), topic]));
                }
                out.push(view.num("323", &["End of /LIST"]));
                out
            }
            Event::Modes {
                room,
                modes,
                created,
            } => {
                let (flags, params) = modes.to_flags();
                let mut p = vec![room.as_str().to_owned(), flags];
                p.extend(params);
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                vec![
                    view.num("324", &p),
                    view.num("329", &[room.as_str(), &(created.0 / 1000).to_string()]),
                ]
            }
            Event::Bans { room, bans } => {
                let mut out: Vec<Irc> = bans
                    .iter()
                    .map(|b| {
                        view.num(
                            "367",
                            &[
                                room.as_str(),
                                &b.mask,
                                b.by.as_str(),
                                &(b.time.0 / 1000).to_string(),
                            ],
                        )
                    })
                    .collect();
                out.push(view.num("368", &[room.as_str(), "End of channel ban list"]));
                out
            }
            Event::IsAway { nick, away } => {
                vec![view.num("301", &[nick.as_str(), away.as_str()])]
            }
            Event::Whois { found, missing } => self.whois_reply(kind, found, missing),
            Event::Whowas { nick, entries } => {
                let mut out = Vec::new();
                if entries.is_empty() {
                    out.push(view.num("406", &[nick.as_str(), "There was no such nickname"]));
                }
                for e in entries {
                    let w = &e.who;
                    out.push(view.num(
                        "314",
                        &[w.nick.as_str(), &w.ident, &w.host, "*", &w.realname],
                    ));
                    out.push(view.num("312", &[w.nick.as_str(), &view.server, &iso_date(e.time)]));
                }
                out.push(view.num("369", &[nick.as_str(), "End of WHOWAS"]));
                out
            }
            Event::Stats {
                users,
                sessions: _,
                rooms,
                max_users,
            } => self.lusers(*users, Some(*rooms), *max_users),
            Event::History { messages, .. } => match kind {
                Kind::History(_, name) => self.history_batch(name, messages),
                // History on joining: clients fetch it with CHATHISTORY.
                _ => Vec::new(),
            },
            Event::Conversations(list) => {
                let mut inner = Vec::new();
                for (target, time) in list {
                    inner.push(
                        view.server_msg("CHATHISTORY")
                            .with_param("TARGETS")
                            .with_param(target.to_string())
                            .with_param(format!("timestamp={}", crate::time::rfc3339(*time))),
                    );
                }
                self.batch("draft/chathistory-targets", &[], inner)
            }
            Event::KeptForOffline { nick, guest: false } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!(
                        "{nick} is offline; they will get your message when they return"
                    )),
            ],
            Event::KeptForOffline { nick, guest: true } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!(
                        "{nick} is offline and has no account: your message is kept for whoever next uses the name"
                    )),
            ],
            Event::OfflineMessages { count } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!("{count} messages arrived while you were away")),
            ],
            Event::Registered { nick } => {
                self.is_account = true;
                let mut out = vec![self.service_notice(&format!(
                    "Account {nick} registered; log in with SASL or /msg NickServ IDENTIFY next time"
                ))];
                out.push(view.num(
                    "900",
                    &[
                        &self.my_mask(),
                        nick.as_str(),
                        &format!("You are now logged in as {nick}"),
                    ],
                ));
                out
            }
            Event::ServerNotice(text) => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(text.clone()),
            ],
            Event::Announcement(text) => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!("[Announcement] {text}")),
            ],
            Event::Klines(list) => {
                let mut out: Vec<Irc> = list
                    .iter()
                    .map(|k| {
                        let expires = k.expires.map_or("never".to_owned(), |t| {
                            crate::time::rfc3339(t)
                        });
                        view.num(
                            "216",
                            &[
                                "K",
                                &k.mask.to_string(),
                                &format!("{} (by {}, expires {expires})", k.reason, k.by),
                            ],
                        )
                    })
                    .collect();
                out.push(view.num("219", &["K", "End of /STATS report"]));
                out
            }
            Event::YoureOper { .. } => {
                self.oper = true;
                vec![
                    view.num("381", &["You are now an IRC operator"]),
                    Irc::new("MODE")
                        .with_source(self.nick.clone())
                        .with_param(self.nick.clone())
                        .with_param("+o"),
                ]
            }
            Event::NoLongerOper => {
                self.oper = false;
                vec![
                    Irc::new("MODE")
                        .with_source(self.nick.clone())
                        .with_param(self.nick.clone())
                        .with_param("-o"),
                ]
            }
            Event::Bye { reason } => {
                self.closing = Some(reason.clone());
                let host = self.host();
                vec![Irc::new("ERROR").with_param(format!("Closing Link: {host} ({reason})"))]
            }
            Event::Error(e) => self.error(e, command, kind),
            // The asker always hears; other sessions (and joins) with the
            // capability.
            Event::ReadMarker { target, marker }
                if self.caps.read_marker || command == "MARKREAD" =>
            {
                let stamp = match marker {
                    Some(m) => format!("timestamp={}", crate::time::rfc3339(m.time)),
                    None => "*".to_owned(),
                };
                vec![
                    view.server_msg("MARKREAD")
                        .with_param(target.to_string())
                        .with_param(stamp),
                ]
            }
            Event::ReadMarker { .. } | Event::ReadMarkers(_) => Vec::new(),
            Event::IgnoreChanged { .. }
            | Event::Ignores(_)
            | Event::Users(_)
            | Event::TargetChanged(_)
            | Event::SearchResults { .. } => Vec::new(),
            _ => render::broadcast(d, &view),
        }
    }

    fn error(&mut self, e: &ChatError, command: &str, kind: &Kind) -> Vec<Irc> {
        if command == "NOTICE" {
            // A NOTICE is never answered automatically, errors included.
            return Vec::new();
        }
        if let (Kind::Names, ChatError::NoSuchRoom(r)) = (kind, e) {
            return vec![self.view().num("366", &[r.as_str(), "End of /NAMES list"])];
        }
        // A missing channel (or a secret one the client is not in) has
        // nobody to list.
        if let (Kind::Who(mask), ChatError::NoSuchRoom(_)) = (kind, e) {
            return vec![self.view().num("315", &[mask, "End of WHO list"])];
        }
        match kind {
            Kind::Login => {
                // The nick was refused at registration: ask for another.
                self.login_req = None;
                let view = self.view();
                match e {
                    ChatError::NickInUse(_)
                    | ChatError::NickRegistered(_)
                    | ChatError::NickReserved(_) => vec![render::error(e, command, &view)],
                    // ERR_YOUREBANNEDCREEP; the goodbye follows.
                    // 465, whatever command carried the login (NICK too).
                    ChatError::ServerBanned(_) | ChatError::Suspended { .. } => {
                        self.closing = Some(e.to_string());
                        vec![render::error(e, "", &view)]
                    }
                    _ => {
                        self.closing = Some(e.to_string());
                        vec![
                            view.server_msg("FAIL")
                                .with_param("*")
                                .with_param("ACCOUNT_REQUIRED")
                                .with_param(e.to_string()),
                        ]
                    }
                }
            }
            Kind::Identify | Kind::NickServ => vec![self.service_notice(&e.to_string())],
            Kind::MarkRead(target) => {
                let code = match e {
                    ChatError::NotInRoom(_)
                    | ChatError::NoSuchRoom(_)
                    | ChatError::NoSuchUser(_)
                    | ChatError::NoSuchMessage { .. } => "INVALID_PARAMS",
                    _ => "INTERNAL_ERROR",
                };
                vec![
                    self.view()
                        .server_msg("FAIL")
                        .with_param("MARKREAD")
                        .with_param(code)
                        .with_param(safe(target))
                        .with_param(e.to_string()),
                ]
            }
            Kind::History(..) | Kind::Targets => {
                let view = self.view();
                let code = match e {
                    ChatError::NotInRoom(_)
                    | ChatError::NoSuchRoom(_)
                    | ChatError::Banned(_)
                    | ChatError::GuestsNoPrivateHistory => "INVALID_TARGET",
                    _ => "MESSAGE_ERROR",
                };
                let mut m = view
                    .server_msg("FAIL")
                    .with_param("CHATHISTORY")
                    .with_param(code);
                match kind {
                    Kind::History(sub, target) => {
                        m = m.with_param(sub.clone()).with_param(safe(target));
                    }
                    _ => m = m.with_param("TARGETS"),
                }
                vec![m.with_param(e.to_string())]
            }
            _ => vec![render::error(e, command, &self.view())],
        }
    }

    fn service_notice(&self, text: &str) -> Irc {
        Irc::new("NOTICE")
            .with_source(format!(
                "{SERVICE}!{SERVICE}@services.{}",
                self.config.irc.server_name
            ))
            .with_param(self.nick.clone())
            .with_param(text.to_owned())
    }

    fn batch(&mut self, kind: &str, params: &[&str], inner: Vec<Irc>) -> Vec<Irc> {
        if !self.caps.batch {
            return inner;
        }
        let id = format!("B{}", self.next_req);
        self.next_req += 1;
        let mut start = self
            .view()
            .server_msg("BATCH")
            .with_param(format!("+{id}"))
            .with_param(kind.to_owned());
        for p in params {
            start = start.with_param(*p);
        }
        let mut out = vec![start];
        out.extend(inner.into_iter().map(|m| m.with_tag("batch", Some(&id))));
        out.push(self.view().server_msg("BATCH").with_param(format!("-{id}")));
        out
    }

    fn history_batch(&mut self, name: &str, messages: &[confab_core::Message]) -> Vec<Irc> {
        let caps = Caps {
            server_time: true,
            message_tags: true,
            account_tag: self.caps.account_tag,
            ..Caps::default()
        };
        let mut inner = Vec::new();
        for m in messages {
            inner.extend(render::message_lines(m, None, caps));
        }
        self.batch("chathistory", &[name], inner)
    }

    fn who_line(
        &self,
        channel: &str,
        who: &confab_core::Actor,
        away: bool,
        status: confab_core::Status,
    ) -> Irc {
        let mut flags = String::from(if away { "G" } else { "H" });
        flags.push_str(&render::prefix(status, self.caps.multi_prefix));
        self.view().num(
            "352",
            &[
                channel,
                &who.ident,
                &who.host,
                &self.config.irc.server_name,
                who.nick.as_str(),
                &flags,
                &format!("0 {}", who.realname),
            ],
        )
    }

    fn whois_reply(
        &self,
        kind: &Kind,
        found: &[confab_core::UserDetails],
        missing: &[Nick],
    ) -> Vec<Irc> {
        let view = self.view();
        let mut out = Vec::new();
        match kind {
            Kind::Ison => {
                let names: Vec<&str> = found.iter().map(|u| u.who.nick.as_str()).collect();
                out.push(view.num("303", &[&names.join(" ")]));
            }
            Kind::Userhost => {
                let items: Vec<String> = found
                    .iter()
                    .map(|u| {
                        let away = if u.away.is_some() { '-' } else { '+' };
                        format!("{}={away}{}@{}", u.who.nick, u.who.ident, u.who.host)
                    })
                    .collect();
                out.push(view.num("302", &[&items.join(" ")]));
            }
            Kind::UserMode(asked) => {
                if found.is_empty() {
                    out.push(view.num("401", &[asked, "No such nick/channel"]));
                } else {
                    out.push(view.num("502", &["Can't change mode for other users"]));
                }
            }
            Kind::WhoNick(mask) => {
                for u in found {
                    let channel = u.rooms.first().map_or("*".to_owned(), |r| r.0.to_string());
                    let status = u.rooms.first().map(|r| r.1).unwrap_or_default();
                    out.push(self.who_line(&channel, &u.who, u.away.is_some(), status));
                }
                out.push(view.num("315", &[mask, "End of WHO list"]));
            }
            _ => {
                for u in found {
                    let w = &u.who;
                    let n = w.nick.as_str();
                    out.push(view.num("311", &[n, &w.ident, &w.host, "*", &w.realname]));
                    if !u.rooms.is_empty() {
                        let rooms: Vec<String> = u
                            .rooms
                            .iter()
                            .map(|(r, st)| {
                                format!("{}{r}", render::prefix(*st, self.caps.multi_prefix))
                            })
                            .collect();
                        out.push(view.num("319", &[n, &rooms.join(" ")]));
                    }
                    out.push(view.num("312", &[n, &view.server, "confab"]));
                    if let Some(a) = &u.away {
                        out.push(view.num("301", &[n, a.as_str()]));
                    }
                    if u.oper {
                        out.push(view.num("313", &[n, "is an IRC operator"]));
                    }
                    // RPL_WHOISACTUALLY: the real address, to an operator.
                    if let Some(ip) = u.address {
                        let ip = ip.to_string();
                        out.push(view.num("338", &[n, &ip, "actually using host"]));
                    }
                    if w.account {
                        out.push(view.num("330", &[n, n, "is logged in as"]));
                    }
                    let idle = ((now().0 - u.last_active.0) / 1000).max(0).to_string();
                    let signon = (u.signon.0 / 1000).to_string();
                    out.push(view.num("317", &[n, &idle, &signon, "seconds idle, signon time"]));
                    out.push(view.num("318", &[n, "End of /WHOIS list"]));
                }
                for n in missing {
                    out.push(view.num("401", &[n.as_str(), "No such nick/channel"]));
                    out.push(view.num("318", &[n.as_str(), "End of /WHOIS list"]));
                }
            }
        }
        out
    }

    /// 001–005, LUSERS and MOTD.
    fn burst(&mut self, online: usize) -> Vec<Irc> {
        let irc = &self.config.irc;
        let view = self.view();
        let mut out = vec![
            view.num(
                "001",
                &[&format!(
                    "Welcome to the {} IRC Network {}",
                    irc.network,
                    self.my_mask()
                )],
            ),
            view.num(
                "002",
                &[&format!(
                    "Your host is {}, running version {VERSION}",
                    irc.server_name
                )],
            ),
            view.num("003", &["This server was created at start-up"]),
            view.num(
                "004",
                &[&irc.server_name, VERSION, "iw", "biklmnostv", "bklov"],
            ),
        ];
        out.extend(self.isupport());
        out.extend(self.lusers(online, None, online));
        out.extend(self.motd());
        out
    }

    fn isupport(&self) -> Vec<Irc> {
        let l = &self.config.limits;
        let tokens = [
            format!("AWAYLEN={}", l.max_away_bytes),
            "CASEMAPPING=ascii".to_owned(),
            format!("CHANLIMIT=#:{}", l.max_rooms_per_user),
            "CHANMODES=b,k,l,imnst".to_owned(),
            format!("CHANNELLEN={}", l.max_room_len),
            "CHANTYPES=#".to_owned(),
            format!("CHATHISTORY={CHATHISTORY_MAX}"),
            "ELIST=".to_owned(),
            "HOSTLEN=64".to_owned(),
            format!("KEYLEN={}", l.max_key_bytes),
            format!("KICKLEN={}", l.max_reason_bytes),
            format!("MAXLIST=b:{}", self.config.chat.max_bans),
            "MODES=4".to_owned(),
            "MSGREFTYPES=msgid,timestamp".to_owned(),
            format!("NETWORK={}", self.config.irc.network),
            format!("NICKLEN={}", l.max_nick_len),
            "PREFIX=(ov)@+".to_owned(),
            format!(
                "TARGMAX=NAMES:1,LIST:1,KICK:1,WHOIS:1,PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:"
            ),
            format!("TOPICLEN={}", l.max_topic_bytes),
            "USERLEN=16".to_owned(),
            "UTF8ONLY".to_owned(),
        ];
        let view = self.view();
        tokens
            .chunks(12)
            .map(|chunk| {
                let mut p: Vec<&str> = chunk.iter().map(String::as_str).collect();
                p.push("are supported by this server");
                view.num("005", &p)
            })
            .collect()
    }

    fn lusers(&self, users: usize, rooms: Option<usize>, max: usize) -> Vec<Irc> {
        let view = self.view();
        let u = users.to_string();
        let mut out = vec![view.num(
            "251",
            &[&format!(
                "There are {users} users and 0 invisible on 1 servers"
            )],
        )];
        out.push(view.num("252", &["0", "operator(s) online"]));
        if let Some(r) = rooms {
            out.push(view.num("254", &[&r.to_string(), "channels formed"]));
        }
        out.push(view.num("255", &[&format!("I have {users} clients and 0 servers")]));
        out.push(view.num(
            "265",
            &[
                &u,
                &max.to_string(),
                &format!("Current local users {users}, max {max}"),
            ],
        ));
        out.push(view.num(
            "266",
            &[
                &u,
                &max.to_string(),
                &format!("Current global users {users}, max {max}"),
            ],
        ));
        out
    }

    fn motd(&self) -> Vec<Irc> {
        let view = self.view();
        let motd = &self.config.irc.motd;
        if motd.trim().is_empty() {
            return vec![view.num("422", &["MOTD File is missing"])];
        }
        let mut out = vec![view.num(
            "375",
            &[&format!("- {} Message of the day - ", view.server)],
        )];
        for line in motd.lines() {
            for piece in confab_irc::split_text(if line.is_empty() { " " } else { line }, 400) {
                out.push(view.num("372", &[&format!("- {piece}")]));
            }
        }
        out.push(view.num("376", &["End of /MOTD command."]));
        out
    }
}

/// Why a line could not be read as a message.
fn parse_error_text(e: &ParseError) -> &'static str {
    match e {
        ParseError::TagsTooLong | ParseError::LineTooLong => "Input line was too long",
        ParseError::InvalidUtf8 => "Lines must be UTF-8",
        _ => "Malformed message",
    }
}

impl Conn {
    /// One line from the client.
    async fn line(&mut self, line: &[u8]) {
        let msg = match Irc::parse(line) {
            Ok(m) => m,
            Err(ParseError::TagsTooLong | ParseError::LineTooLong) => {
                return self.num("417", &["Input line was too long"]).await;
            }
            Err(ParseError::Empty) => return,
            Err(e) => {
                let m = self
                    .view()
                    .server_msg("FAIL")
                    .with_param("*")
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
            self.label = Some(label.to_owned());
        }
        let cmd = msg.command.as_str();
        let p = &msg.params;
        let need = |n: usize| p.len() >= n;
        match cmd {
            "CAP" => return self.cap(&msg).await,
            "PING" => {
                let Some(token) = p.first() else {
                    return self.num("409", &["No origin specified"]).await;
                };
                let m = self
                    .view()
                    .server_msg("PONG")
                    .with_param(self.config.irc.server_name.clone())
                    .with_param(token.clone());
                return self.reply(vec![m]).await;
            }
            "PONG" => {
                // The answer to a page of kept messages: taken.
                let upto = p.iter().rev().find_map(|t| t.strip_prefix(KEPT_PING));
                if let Some(upto) = upto.and_then(|u| u.parse().ok())
                    && self.connected
                    && self.hub.kept_taken(self.sid, MsgId(upto)).await.is_err()
                {
                    self.closing = Some("Server shutting down".into());
                }
                return;
            }
            "QUIT" => {
                // Leaving is never refused: a reason that is not a text is
                // dropped here, one over the limit by the hub.
                let reason = self.reason(p.first().map(String::as_str)).ok().flatten();
                self.closed_by = ClosedBy::Client;
                if self.connected {
                    self.command(Command::Quit(reason), "QUIT", Kind::Plain)
                        .await;
                } else {
                    self.error_line("Quit");
                    self.closing = Some("Quit".into());
                }
                return;
            }
            "AUTHENTICATE" => return self.authenticate(&msg).await,
            "PASS" if !self.registered => {
                if !need(1) {
                    return self.num("461", &["PASS", "Not enough parameters"]).await;
                }
                self.pass = Some(p[0].clone());
                return;
            }
            "NICK" if !self.registered => {
                let Some(n) = p.first().filter(|n| !n.is_empty()) else {
                    return self.num("431", &["No nickname given"]).await;
                };
                match Nick::parse(n, self.config.limits.max_nick_len) {
                    Ok(nick) => self.wanted = Some(nick.to_string()),
                    Err(_) => return self.num("432", &[n, "Erroneous nickname"]).await,
                }
                return self.try_register().await;
            }
            "USER" if !self.registered => {
                if p.len() < 4 || p[0].is_empty() || p[3].is_empty() {
                    return self.num("461", &["USER", "Not enough parameters"]).await;
                }
                let ident: String = p[0]
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                    .take(15)
                    .collect();
                let ident = if ident.is_empty() {
                    "user".into()
                } else {
                    ident
                };
                // The core's rule for real names; one that breaks it is
                // refused (the nick stands in for it) but does not stop
                // the registration.
                let realname = match self.config.limits.input().check(Field::Realname, &p[3]) {
                    Ok(()) => p[3].to_owned(),
                    Err(e) => {
                        let m = self
                            .view()
                            .server_msg("FAIL")
                            .with_param("USER")
                            .with_param("INVALID_REALNAME")
                            .with_param(e.to_string());
                        self.fail(m).await;
                        String::new()
                    }
                };
                self.user = Some((format!("~{ident}"), realname));
                return self.try_register().await;
            }
            "PASS" | "USER" => {
                return self.num("462", &["You may not reregister"]).await;
            }
            _ => {}
        }
        if !self.logged_in {
            return self.num("451", &["You have not registered"]).await;
        }
        self.registered_command(&msg).await;
    }

    /// Registration completes once there is a nick, a user and no CAP
    /// negotiation in progress.
    async fn try_register(&mut self) {
        if self.cap_hold || self.login_req.is_some() || self.logged_in {
            return;
        }
        let (Some(wanted), Some((ident, realname))) = (self.wanted.clone(), self.user.clone())
        else {
            return;
        };
        let Ok(nick) = Nick::parse(&wanted, usize::MAX) else {
            return;
        };
        // A server password (PASS) logs in to the account of the nick.
        if self.account.is_none()
            && let Some(pass) = self.pass.take()
        {
            match auth::log_in(&self.hub, "irc", &nick, pass, self.peer.ip()).await {
                Ok(Ok(account)) => self.account = Some(account),
                Ok(Err(e)) => {
                    let view = self.view();
                    let m = view.num("464", &[&format!("Password incorrect: {e}")]);
                    self.reply(vec![m]).await;
                }
                Err(_) => {
                    self.closing = Some("Server shutting down".into());
                    return;
                }
            }
        }
        if let Some(outbox) = self.outbox.take() {
            let info = ClientInfo {
                ident: Some(ident),
                // The hub thread sets the host (the same cloak).
                realname: Some(realname).filter(|r| !r.is_empty()),
                auto_join: false,
                ..ClientInfo::default()
            };
            if self
                .hub
                .connect(self.sid, outbox, self.peer, "irc", info)
                .await
                .is_err()
            {
                self.closing = Some("Server shutting down".into());
                return;
            }
            self.connected = true;
        }
        let cmd = match self.account.clone() {
            Some(account) => Command::LoginAccount(account),
            None => Command::Login(nick),
        };
        let label = self.label.take();
        self.command(cmd, "NICK", Kind::Login).await;
        self.label = label;
        self.login_req = Some(self.next_req - 1);
    }

    async fn cap(&mut self, msg: &Irc) {
        let p = &msg.params;
        let Some(sub) = p.first() else {
            return self.num("461", &["CAP", "Not enough parameters"]).await;
        };
        let sub = sub.to_ascii_uppercase();
        let nick = self.nick.clone();
        let server = self.config.irc.server_name.clone();
        let cap = |params: &[&str]| {
            let mut m = Irc::new("CAP")
                .with_source(server.clone())
                .with_param(nick.clone());
            for x in params {
                m = m.with_param(*x);
            }
            m
        };
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_hold = true;
                }
                let v302 = p
                    .get(1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| v >= 302);
                if v302 {
                    self.cap_302 = true;
                    self.caps.cap_notify = true;
                }
                let items: Vec<String> = CAPS
                    .iter()
                    .map(|(name, value)| {
                        if self.cap_302 && !value.is_empty() {
                            format!("{name}={value}")
                        } else {
                            (*name).to_owned()
                        }
                    })
                    .collect();
                self.reply(vec![cap(&["LS", &items.join(" ")])]).await;
            }
            "LIST" => {
                let enabled = self.caps.enabled().join(" ");
                self.reply(vec![cap(&["LIST", &enabled])]).await;
            }
            "REQ" => {
                if !self.registered {
                    self.cap_hold = true;
                }
                let asked = p.get(1).cloned().unwrap_or_default();
                let mut caps = self.caps;
                let mut ok = !asked.trim().is_empty();
                for item in asked.split_whitespace() {
                    let (off, name) = match item.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, item),
                    };
                    match caps.flag(name) {
                        Some(f) => *f = !off,
                        None => ok = false,
                    }
                }
                // cap-notify cannot be turned off once CAP LS 302 enabled it.
                if self.cap_302 {
                    caps.cap_notify = true;
                }
                if ok {
                    self.caps = caps;
                    self.reply(vec![cap(&["ACK", &asked])]).await;
                } else {
                    self.reply(vec![cap(&["NAK", &asked])]).await;
                }
            }
            "END" => {
                if !self.registered {
                    self.cap_hold = false;
                    self.try_register().await;
                }
            }
            _ => {
                self.num("410", &[&sub, "Invalid CAP command"]).await;
            }
        }
    }

    async fn authenticate(&mut self, msg: &Irc) {
        let Some(arg) = msg.params.first() else {
            return self
                .num("461", &["AUTHENTICATE", "Not enough parameters"])
                .await;
        };
        if self.account.is_some() || self.is_account {
            return self
                .num("907", &["You have already authenticated using SASL"])
                .await;
        }
        if arg == "*" {
            self.sasl = None;
            return self.num("906", &["SASL authentication aborted"]).await;
        }
        let Some(Sasl::Plain(buf)) = &mut self.sasl else {
            if arg.eq_ignore_ascii_case("PLAIN") {
                self.sasl = Some(Sasl::Plain(String::new()));
                let m = Irc::new("AUTHENTICATE").with_param("+");
                return self.reply(vec![m]).await;
            }
            self.num("908", &["PLAIN", "are available SASL mechanisms"])
                .await;
            return self.num("904", &["SASL authentication failed"]).await;
        };
        if arg != "+" {
            buf.push_str(arg);
        }
        if arg.len() > 400 || buf.len() > MAX_SASL {
            self.sasl = None;
            return self.num("905", &["SASL message too long"]).await;
        }
        if arg.len() == 400 {
            return; // more to come
        }
        let payload = std::mem::take(buf);
        self.sasl = None;
        let decoded = Base64::decode_vec(&payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(decoded) = decoded else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        let mut parts = decoded.split('\0');
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        let name = if authc.is_empty() { authz } else { authc };
        let Ok(nick) = Nick::parse(name, usize::MAX) else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(name) {
            return self.num("904", &["SASL authentication failed"]).await;
        }
        match auth::log_in(&self.hub, "irc", &nick, pass.to_owned(), self.peer.ip()).await {
            Ok(Ok(account)) => {
                let name = account.name.to_string();
                let mask = format!("{}!{}@{}", self.nick, self.ident(), self.host());
                if self.logged_in {
                    // After registration: the guest session becomes the account's.
                    self.command(Command::Identify(account), "AUTHENTICATE", Kind::Identify)
                        .await;
                } else {
                    self.account = Some(account);
                }
                let view = self.view();
                let msgs = vec![
                    view.num(
                        "900",
                        &[&mask, &name, &format!("You are now logged in as {name}")],
                    ),
                    view.num("903", &["SASL authentication successful"]),
                ];
                self.reply(msgs).await;
            }
            Ok(Err(e @ auth::LoginError::Limited(_))) => {
                self.num("904", &[&format!("SASL authentication failed: {e}")])
                    .await;
            }
            Ok(Err(_)) => self.num("904", &["SASL authentication failed"]).await,
            Err(_) => self.closing = Some("Server shutting down".into()),
        }
    }
}

fn iso_date(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.0)
        .unwrap_or_default()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}

impl Conn {
    fn text(&self, s: &str) -> Result<Text, String> {
        Text::parse_exact(s, self.config.limits.max_message_bytes).map_err(|e| e.to_string())
    }

    /// A kick, part or quit reason: none when blank; its limit is the
    /// hub's to check.
    fn reason(&self, s: Option<&str>) -> Result<Option<Text>, String> {
        match s {
            Some(r) if !r.trim().is_empty() => self.field(Field::Reason, r).map(Some),
            _ => Ok(None),
        }
    }

    /// A topic, away message, real name or reason: a text whose errors
    /// name what it is; its own limit is the hub's to check.
    fn field(&self, what: Field, s: &str) -> Result<Text, String> {
        what.text(s, self.config.limits.max_message_bytes)
            .map_err(|e| e.to_string())
    }

    fn room(&self, s: &str) -> Option<RoomName> {
        if !is_channel(s) {
            return None;
        }
        RoomName::parse(s, self.config.limits.max_room_len).ok()
    }

    async fn no_such_channel(&mut self, name: &str) {
        self.num("403", &[name, "No such channel"]).await;
    }

    async fn need_more(&mut self, cmd: &str) {
        self.num("461", &[cmd, "Not enough parameters"]).await;
    }

    /// A command of a registered client.
    async fn registered_command(&mut self, msg: &Irc) {
        let cmd = msg.command.as_str();
        let p: Vec<&str> = msg.params.iter().map(String::as_str).collect();
        match cmd {
            "NICK" => {
                let Some(n) = p.first().filter(|n| !n.is_empty()) else {
                    return self.num("431", &["No nickname given"]).await;
                };
                match Nick::parse(n, self.config.limits.max_nick_len) {
                    Ok(nick) if nick.as_str() == self.nick => {}
                    Ok(nick) => {
                        self.command(Command::ChangeNick(nick), cmd, Kind::Plain)
                            .await
                    }
                    Err(_) => self.num("432", &[n, "Erroneous nickname"]).await,
                }
            }
            "JOIN" => {
                let Some(first) = p.first() else {
                    return self.need_more(cmd).await;
                };
                if *first == "0" {
                    let rooms: Vec<RoomKey> = self.channels.iter().cloned().collect();
                    for key in rooms {
                        if let Some(room) = self.room(key.as_str()) {
                            let part = Command::Part {
                                room: Some(room),
                                reason: None,
                            };
                            self.command(part, "PART", Kind::Plain).await;
                        }
                    }
                    return;
                }
                let keys = p.get(1).map(|k| list(k)).unwrap_or_default();
                for (i, name) in list(first).into_iter().enumerate() {
                    let Some(room) = self.room(name) else {
                        self.no_such_channel(name).await;
                        continue;
                    };
                    if self.channels.contains(&room.key()) {
                        continue;
                    }
                    let key = keys.get(i).map(|k| (*k).to_owned());
                    self.command(Command::Join { room, key }, cmd, Kind::Plain)
                        .await;
                }
            }
            "PART" => {
                let Some(first) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let reason = match self.reason(p.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                for name in list(first) {
                    match self.room(name) {
                        Some(room) => {
                            let part = Command::Part {
                                room: Some(room),
                                reason: reason.clone(),
                            };
                            self.command(part, cmd, Kind::Plain).await;
                        }
                        None => self.no_such_channel(name).await,
                    }
                }
            }
            "PRIVMSG" | "NOTICE" => self.privmsg(cmd, &p).await,
            // Client tags are not relayed, except IRCv3's typing
            // notification, which every door understands.
            "TAGMSG" => {
                let Some(target) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let active = match msg.tag("+typing") {
                    Some(Some("active" | "paused")) => true,
                    Some(Some("done")) => false,
                    _ => return,
                };
                let to = if is_channel(target) {
                    self.room(target).map(Target::Room)
                } else {
                    Nick::parse(target, usize::MAX).ok().map(Target::User)
                };
                match to {
                    Some(to) => {
                        let typing = Command::Typing { to, active };
                        self.command(typing, cmd, Kind::Plain).await;
                    }
                    None => {
                        self.num("401", &[&safe(target), "No such nick/channel"])
                            .await
                    }
                }
            }
            "TOPIC" => {
                let Some(name) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let Some(room) = self.room(name) else {
                    return self.no_such_channel(name).await;
                };
                match p.get(1) {
                    None => {
                        self.command(Command::GetTopic(Some(room)), cmd, Kind::Topic)
                            .await
                    }
                    Some(t) if t.trim().is_empty() => {
                        let set = Command::SetTopic {
                            room: Some(room),
                            topic: None,
                        };
                        self.command(set, cmd, Kind::Plain).await;
                    }
                    Some(t) => match self.field(Field::Topic, t) {
                        Ok(text) => {
                            let set = Command::SetTopic {
                                room: Some(room),
                                topic: Some(text),
                            };
                            self.command(set, cmd, Kind::Plain).await;
                        }
                        Err(e) => self.fail_text(cmd, &e).await,
                    },
                }
            }
            "NAMES" => match p.first().and_then(|n| list(n).first().copied()) {
                Some(name) => match self.room(name) {
                    Some(room) => {
                        self.command(Command::Members(Some(room)), cmd, Kind::Names)
                            .await
                    }
                    None => self.num("366", &[name, "End of /NAMES list"]).await,
                },
                None => self.num("366", &["*", "End of /NAMES list"]).await,
            },
            "LIST" => {
                let asked = p
                    .first()
                    .filter(|a| is_channel(a))
                    .map(|a| {
                        list(a)
                            .into_iter()
                            .map(|c| c.to_ascii_lowercase())
                            .collect()
                    })
                    .unwrap_or_default();
                self.command(Command::Rooms, cmd, Kind::List(asked)).await;
            }
            "WHO" => {
                let mask = p.first().copied().unwrap_or("*");
                if let Some(room) = self.room(mask) {
                    self.command(
                        Command::Members(Some(room)),
                        cmd,
                        Kind::Who(mask.to_owned()),
                    )
                    .await;
                } else if let Ok(nick) = Nick::parse(mask, usize::MAX) {
                    let kind = Kind::WhoNick(mask.to_owned());
                    self.command(Command::Whois(vec![nick]), cmd, kind).await;
                } else {
                    self.num("315", &[mask, "End of WHO list"]).await;
                }
            }
            "WHOIS" => {
                let Some(target) = p.last().filter(|t| !t.is_empty()) else {
                    return self.num("431", &["No nickname given"]).await;
                };
                let names = list(target);
                let nicks: Vec<Nick> = names
                    .iter()
                    .filter_map(|n| Nick::parse(n, usize::MAX).ok())
                    .collect();
                if nicks.is_empty() {
                    self.num("401", &[target, "No such nick/channel"]).await;
                    return self.num("318", &[target, "End of /WHOIS list"]).await;
                }
                self.command(Command::Whois(nicks), cmd, Kind::Plain).await;
            }
            "WHOWAS" => {
                let Some(n) = p.first() else {
                    return self.num("431", &["No nickname given"]).await;
                };
                match Nick::parse(n, usize::MAX) {
                    Ok(nick) => self.command(Command::Whowas(nick), cmd, Kind::Plain).await,
                    Err(_) => {
                        self.num("406", &[n, "There was no such nickname"]).await;
                        self.num("369", &[n, "End of WHOWAS"]).await;
                    }
                }
            }
            "ISON" | "USERHOST" => {
                if p.is_empty() {
                    return self.need_more(cmd).await;
                }
                let nicks: Vec<Nick> = p
                    .iter()
                    .flat_map(|s| s.split_whitespace())
                    .take(if cmd == "ISON" { 100 } else { 5 })
                    .filter_map(|n| Nick::parse(n, usize::MAX).ok())
                    .collect();
                let kind = if cmd == "ISON" {
                    Kind::Ison
                } else {
                    Kind::Userhost
                };
                self.command(Command::Whois(nicks), cmd, kind).await;
            }
            "AWAY" => {
                let away = match p.first().filter(|a| !a.trim().is_empty()) {
                    Some(a) => match self.field(Field::Away, a) {
                        Ok(t) => Some(t),
                        Err(e) => return self.fail_text(cmd, &e).await,
                    },
                    None => None,
                };
                self.command(Command::Away(away), cmd, Kind::Plain).await;
            }
            "SETNAME" => {
                let Some(name) = p.first().filter(|n| !n.trim().is_empty()) else {
                    return self.need_more(cmd).await;
                };
                // The hub checks it against the input rules; a refusal
                // comes back as FAIL SETNAME INVALID_REALNAME.
                match self.field(Field::Realname, name) {
                    Ok(name) => {
                        self.command(Command::SetRealname(name), cmd, Kind::Plain)
                            .await
                    }
                    Err(e) => {
                        let m = self
                            .view()
                            .server_msg("FAIL")
                            .with_param("SETNAME")
                            .with_param("INVALID_REALNAME")
                            .with_param(e);
                        self.fail(m).await;
                    }
                }
            }
            "MODE" => self.mode(&p).await,
            "KICK" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Some(room) = self.room(p[0]) else {
                    return self.no_such_channel(p[0]).await;
                };
                let reason = match self.reason(p.get(2).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                for n in list(p[1]) {
                    match Nick::parse(n, usize::MAX) {
                        Ok(nick) => {
                            let kick = Command::Kick {
                                room: room.clone(),
                                nick,
                                reason: reason.clone(),
                            };
                            self.command(kick, cmd, Kind::Plain).await;
                        }
                        Err(_) => self.num("401", &[n, "No such nick/channel"]).await,
                    }
                }
            }
            "INVITE" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
                    return self.num("401", &[p[0], "No such nick/channel"]).await;
                };
                let Some(room) = self.room(p[1]) else {
                    return self.no_such_channel(p[1]).await;
                };
                self.command(Command::Invite { nick, room }, cmd, Kind::Plain)
                    .await;
            }
            "LUSERS" => self.command(Command::Stats, cmd, Kind::Plain).await,
            "MOTD" => {
                let m = self.motd();
                self.reply(m).await;
            }
            "VERSION" => {
                let view = self.view();
                let mut msgs =
                    vec![view.num("351", &[VERSION, &view.server, "IRCv3 capable chat server"])];
                msgs.extend(self.isupport());
                self.reply(msgs).await;
            }
            "TIME" => {
                let t = Utc::now().to_rfc2822();
                let server = self.config.irc.server_name.clone();
                self.num("391", &[&server, &t]).await;
            }
            "INFO" => {
                let view = self.view();
                let msgs = vec![
                    view.num(
                        "371",
                        &[&format!(
                            "{VERSION}: one server for telnet, IRC and the web"
                        )],
                    ),
                    view.num("374", &["End of INFO list"]),
                ];
                self.reply(msgs).await;
            }
            "ADMIN" => {
                let view = self.view();
                let msgs = vec![
                    view.num("256", &[&view.server, "Administrative info"]),
                    view.num("257", &["confab"]),
                    view.num("258", &["Run with confab serve"]),
                    view.num("259", &["root@localhost"]),
                ];
                self.reply(msgs).await;
            }
            "OPER" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let opers = self.config.opers.clone();
                let ip = self.peer.ip();
                match auth::oper(&self.hub, &opers, p[0], p[1].to_owned(), ip).await {
                    Ok(Ok(name)) => self.command(Command::Oper(name), cmd, Kind::Plain).await,
                    Ok(Err(auth::OperError::NoSuchOper)) => {
                        self.num("491", &["No O-lines for your host"]).await
                    }
                    Ok(Err(auth::OperError::Wrong)) => {
                        self.num("464", &["Password incorrect"]).await
                    }
                    Ok(Err(e @ auth::OperError::Limited(_))) => {
                        self.num("464", &[&e.to_string()]).await
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "KILL" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
                    return self
                        .num("401", &[&safe(p[0]), "No such nick/channel"])
                        .await;
                };
                let reason = match self.reason(p.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                self.command(Command::Kill { nick, reason }, cmd, Kind::Plain)
                    .await;
            }
            "WALLOPS" => {
                let Some(text) = p.first().filter(|t| !t.is_empty()) else {
                    return self.need_more(cmd).await;
                };
                match self.text(text) {
                    Ok(text) => self.command(Command::Wallops(text), cmd, Kind::Plain).await,
                    Err(e) => self.fail_text(cmd, &e).await,
                }
            }
            // Solanum's syntax: KLINE [minutes] mask [:reason].
            "KLINE" => {
                let (minutes, rest) = match p.first().map(|m| m.parse::<u64>()) {
                    Some(Ok(m)) => (Some(m), &p[1..]),
                    _ => (None, &p[..]),
                };
                let Some(mask) = rest.first() else {
                    return self.need_more(cmd).await;
                };
                let reason = match self.reason(rest.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                let kline = Command::Kline {
                    mask: (*mask).to_owned(),
                    minutes,
                    reason,
                };
                self.command(kline, cmd, Kind::Plain).await;
            }
            "UNKLINE" => {
                let Some(mask) = p.first() else {
                    return self.need_more(cmd).await;
                };
                self.command(Command::Unkline((*mask).to_owned()), cmd, Kind::Plain)
                    .await;
            }
            "STATS" => match p.first().copied() {
                Some("k" | "K") => self.command(Command::Klines, cmd, Kind::Plain).await,
                Some(q) => {
                    let q = safe(q);
                    self.num("219", &[&q, "End of /STATS report"]).await
                }
                None => self.need_more(cmd).await,
            },
            "SUSPEND" | "UNSUSPEND" => {
                let Some(name) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let Ok(name) = Nick::parse(name, usize::MAX) else {
                    return self
                        .num("401", &[&safe(name), "No such nick/channel"])
                        .await;
                };
                let c = if cmd == "SUSPEND" {
                    let reason = match self.reason(p.get(1).copied()) {
                        Ok(reason) => reason,
                        Err(e) => return self.fail_text(cmd, &e).await,
                    };
                    Command::Suspend { name, reason }
                } else {
                    Command::Unsuspend(name)
                };
                self.command(c, cmd, Kind::Plain).await;
            }
            "LOCKDOWN" => {
                let on = match p.first().map(|s| s.to_ascii_uppercase()) {
                    None => None,
                    Some(s) if s == "ON" => Some(true),
                    Some(s) if s == "OFF" => Some(false),
                    Some(_) => {
                        return self
                            .fail_text(cmd, "LOCKDOWN takes ON, OFF or nothing")
                            .await;
                    }
                };
                self.command(Command::Lockdown(on), cmd, Kind::Plain).await;
            }
            "DIE" | "RESTART" | "SQUIT" | "CONNECT" | "REHASH" => {
                self.num("481", &["Permission Denied- You're not an IRC operator"])
                    .await;
            }
            "CHATHISTORY" => self.chathistory(&p).await,
            "MARKREAD" => self.markread(&p).await,
            "NICKSERV" | "NS" => {
                let text = p.join(" ");
                self.nickserv(&text).await;
            }
            _ => {
                let c = msg.command.clone();
                self.num("421", &[&c, "Unknown command"]).await;
            }
        }
    }

    async fn fail_text(&mut self, cmd: &str, why: &str) {
        let m = self
            .view()
            .server_msg("FAIL")
            .with_param(cmd.to_owned())
            .with_param("INVALID_TEXT")
            .with_param(why.to_owned());
        self.fail(m).await;
    }

    async fn privmsg(&mut self, cmd: &str, p: &[&str]) {
        let notice = cmd == "NOTICE";
        let Some(targets) = p.first().filter(|t| !t.is_empty()) else {
            if notice {
                return;
            }
            return self
                .num("411", &[&format!("No recipient given ({cmd})")])
                .await;
        };
        let Some(raw) = p.get(1).filter(|t| !t.is_empty()) else {
            if notice {
                return;
            }
            return self.num("412", &["No text to send"]).await;
        };
        let (kind, body) = if notice {
            (MsgKind::Notice, *raw)
        } else if let Some(action) = raw.strip_prefix("\x01ACTION ") {
            (MsgKind::Action, action.trim_end_matches('\x01'))
        } else {
            (MsgKind::Say, *raw)
        };
        let text = match self.text(body) {
            Ok(t) => t,
            Err(e) => {
                if notice {
                    return;
                }
                return self.fail_text(cmd, &e).await;
            }
        };
        let targets = list(targets);
        if targets.len() > MAX_TARGETS {
            return self.num("407", &[targets[0], "Too many targets"]).await;
        }
        for t in targets {
            if t.eq_ignore_ascii_case(SERVICE) {
                self.nickserv(text.as_str()).await;
                continue;
            }
            let to = if is_channel(t) {
                match self.room(t) {
                    Some(r) => Target::Room(r),
                    None => {
                        if !notice {
                            self.num("403", &[t, "No such channel"]).await;
                        }
                        continue;
                    }
                }
            } else {
                match Nick::parse(t, usize::MAX) {
                    Ok(n) => Target::User(n),
                    Err(_) => {
                        if !notice {
                            self.num("401", &[t, "No such nick/channel"]).await;
                        }
                        continue;
                    }
                }
            };
            let send = Command::Send {
                to: Some(to),
                kind,
                text: text.clone(),
            };
            self.command(send, cmd, Kind::Plain).await;
        }
    }

    async fn mode(&mut self, p: &[&str]) {
        let Some(target) = p.first() else {
            return self.need_more("MODE").await;
        };
        if !is_channel(target) {
            // User modes: only our own, kept by the door.
            if !target.eq_ignore_ascii_case(&self.nick) {
                if let Ok(nick) = Nick::parse(target, usize::MAX) {
                    let kind = Kind::UserMode((*target).to_owned());
                    return self.command(Command::Whois(vec![nick]), "MODE", kind).await;
                }
                return self
                    .num("401", &[&safe(target), "No such nick/channel"])
                    .await;
            }
            let Some(modes) = p.get(1) else {
                let m = format!(
                    "+{}{}",
                    if self.invisible { "i" } else { "" },
                    if self.oper { "o" } else { "" }
                );
                return self.num("221", &[&m]).await;
            };
            let mut add = true;
            let mut changed = String::new();
            let mut unknown = false;
            let mut deoper = false;
            for c in modes.chars() {
                match c {
                    '+' => add = true,
                    '-' => add = false,
                    'i' => {
                        if self.invisible != add {
                            self.invisible = add;
                            changed.push(if add { '+' } else { '-' });
                            changed.push('i');
                        }
                    }
                    // Operator status comes only from OPER, and goes.
                    'o' | 'O' if !add && self.oper => deoper = true,
                    'w' | 'o' | 'O' => {}
                    _ => unknown = true,
                }
            }
            if unknown {
                self.num("501", &["Unknown MODE flag"]).await;
            }
            if !changed.is_empty() {
                let m = Irc::new("MODE")
                    .with_source(self.my_mask())
                    .with_param(self.nick.clone())
                    .with_param(changed);
                self.reply(vec![m]).await;
            }
            if deoper {
                // The hub's answer is the `MODE -o` the client sees.
                self.command(Command::Deoper, "MODE", Kind::Plain).await;
            }
            return;
        }
        let Some(room) = self.room(target) else {
            return self.no_such_channel(target).await;
        };
        let Some(modes) = p.get(1) else {
            return self
                .command(Command::GetModes(room), "MODE", Kind::Plain)
                .await;
        };
        let mut args = p[2..].iter();
        let mut add = true;
        let mut changes = Vec::new();
        for c in modes.chars() {
            let mode = match c {
                '+' => {
                    add = true;
                    continue;
                }
                '-' => {
                    add = false;
                    continue;
                }
                't' => RoomMode::TopicOpsOnly,
                'n' => RoomMode::NoExternal,
                'm' => RoomMode::Moderated,
                'i' => RoomMode::InviteOnly,
                's' => RoomMode::Secret,
                'k' => {
                    let key = args.next().map(|k| (*k).to_owned());
                    if add && key.is_none() {
                        self.num(
                            "696",
                            &[
                                target,
                                "k",
                                "*",
                                "You must specify a parameter for the key mode",
                            ],
                        )
                        .await;
                        continue;
                    }
                    RoomMode::Key(if add { key } else { None })
                }
                'l' => {
                    if add {
                        let Some(n) = args.next() else {
                            self.num(
                                "696",
                                &[
                                    target,
                                    "l",
                                    "*",
                                    "You must specify a parameter for the limit mode",
                                ],
                            )
                            .await;
                            continue;
                        };
                        match n.parse::<usize>() {
                            Ok(n) if n > 0 => RoomMode::Limit(Some(n)),
                            _ => {
                                self.num("696", &[target, "l", n, "Invalid limit"]).await;
                                continue;
                            }
                        }
                    } else {
                        RoomMode::Limit(None)
                    }
                }
                'o' | 'v' => {
                    let Some(n) = args.next() else {
                        continue;
                    };
                    let Ok(nick) = Nick::parse(n, usize::MAX) else {
                        self.num("401", &[n, "No such nick/channel"]).await;
                        continue;
                    };
                    if c == 'o' {
                        RoomMode::Op(nick)
                    } else {
                        RoomMode::Voice(nick)
                    }
                }
                'b' => match args.next() {
                    Some(mask) => RoomMode::Ban((*mask).to_owned()),
                    None => {
                        self.command(Command::Bans(room.clone()), "MODE", Kind::Plain)
                            .await;
                        continue;
                    }
                },
                other => {
                    let c = other.to_string();
                    self.num("472", &[&c, "is unknown mode char to me"]).await;
                    continue;
                }
            };
            changes.push(ModeChange { add, mode });
        }
        if !changes.is_empty() {
            self.command(Command::SetModes { room, changes }, "MODE", Kind::Plain)
                .await;
        }
    }

    async fn chathistory(&mut self, p: &[&str]) {
        let fail = |code: &str, why: &str, sub: &str| {
            Irc::new("FAIL")
                .with_param("CHATHISTORY")
                .with_param(code.to_owned())
                .with_param(sub.to_owned())
                .with_param(why.to_owned())
        };
        let Some(sub) = p.first().map(|s| safe(&s.to_ascii_uppercase())) else {
            let m = fail("NEED_MORE_PARAMS", "Missing parameters", "*");
            return self
                .fail(m.with_source(self.config.irc.server_name.clone()))
                .await;
        };
        let known = ["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS"];
        if !known.contains(&sub.as_str()) {
            let m = fail("UNKNOWN_COMMAND", "Unknown subcommand", &sub);
            return self.fail(m).await;
        }
        let wanted = if sub == "BETWEEN" { 5 } else { 4 };
        if p.len() < wanted {
            let m = fail("NEED_MORE_PARAMS", "Missing parameters", &sub);
            return self.fail(m).await;
        }
        let bad = |why: &str| fail("INVALID_PARAMS", why, &sub);
        let limit = |s: Option<&&str>| {
            s.and_then(|l| l.parse::<usize>().ok())
                .map(|l| l.min(CHATHISTORY_MAX))
        };
        if sub == "TARGETS" {
            let (Some(Some(Some(a))), Some(Some(Some(b))), Some(n)) = (
                p.get(1).map(|s| bound(s)),
                p.get(2).map(|s| bound(s)),
                limit(p.get(3)),
            ) else {
                return self.fail(bad("Bad TARGETS parameters")).await;
            };
            let (Some(a), Some(b)) = (bound_time(Some(a)), bound_time(Some(b))) else {
                return self.fail(bad("TARGETS takes timestamps")).await;
            };
            let (after, before) = if a <= b { (a, b) } else { (b, a) };
            let cmd = Command::Conversations {
                after: Timestamp(after.0 - 1),
                before: Timestamp(before.0 + 1),
                limit: n,
            };
            return self.command(cmd, "CHATHISTORY", Kind::Targets).await;
        }
        let Some(name) = p.get(1) else {
            return self.fail(bad("Missing target")).await;
        };
        let target = if is_channel(name) {
            self.room(name).map(Target::Room)
        } else {
            Nick::parse(name, usize::MAX).ok().map(Target::User)
        };
        let Some(target) = target else {
            return self
                .fail(fail("INVALID_TARGET", "Invalid target", &sub))
                .await;
        };
        let window = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" => {
                let (Some(Some(b)), Some(n)) = (p.get(2).map(|s| bound(s)), limit(p.get(3))) else {
                    return self.fail(bad("Bad message reference or limit")).await;
                };
                match (sub.as_str(), b) {
                    ("LATEST", b) => Window::Query(HistoryQuery {
                        after: b,
                        before: None,
                        limit: n,
                        latest: true,
                    }),
                    ("BEFORE", Some(b)) => Window::Query(HistoryQuery {
                        after: None,
                        before: Some(b),
                        limit: n,
                        latest: true,
                    }),
                    ("AFTER", Some(b)) => Window::Query(HistoryQuery {
                        after: Some(b),
                        before: None,
                        limit: n,
                        latest: false,
                    }),
                    ("AROUND", Some(b)) => Window::Around { at: b, limit: n },
                    _ => return self.fail(bad("A message reference is needed")).await,
                }
            }
            "BETWEEN" => {
                let (Some(Some(Some(a))), Some(Some(Some(b))), Some(n)) = (
                    p.get(2).map(|s| bound(s)),
                    p.get(3).map(|s| bound(s)),
                    limit(p.get(4)),
                ) else {
                    return self.fail(bad("Bad BETWEEN parameters")).await;
                };
                // From the first reference towards the second.
                let forward = match (a, b) {
                    (Bound::Id(x), Bound::Id(y)) => x <= y,
                    (Bound::Time(x), Bound::Time(y)) => x <= y,
                    _ => true,
                };
                if forward {
                    Window::Query(HistoryQuery {
                        after: Some(a),
                        before: Some(b),
                        limit: n,
                        latest: false,
                    })
                } else {
                    Window::Query(HistoryQuery {
                        after: Some(b),
                        before: Some(a),
                        limit: n,
                        latest: true,
                    })
                }
            }
            _ => {
                let m = fail("INVALID_PARAMS", "Unknown subcommand", &sub);
                return self.fail(m).await;
            }
        };
        let kind = Kind::History(sub.clone(), (*name).to_owned());
        self.command(Command::ChatHistory { target, window }, "CHATHISTORY", kind)
            .await;
    }

    // MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]
    // (IRCv3 draft/read-marker): sets the read marker by time, or asks.
    async fn markread(&mut self, p: &[&str]) {
        let fail = |code: &str, param: &str, why: &str| {
            self.view()
                .server_msg("FAIL")
                .with_param("MARKREAD")
                .with_param(code.to_owned())
                .with_param(safe(param))
                .with_param(why.to_owned())
        };
        let Some(name) = p.first().copied().filter(|n| !n.is_empty()) else {
            let m = self
                .view()
                .server_msg("FAIL")
                .with_param("MARKREAD")
                .with_param("NEED_MORE_PARAMS")
                .with_param("Missing parameters");
            return self.fail(m).await;
        };
        let target = if is_channel(name) {
            self.room(name).map(Target::Room)
        } else {
            Nick::parse(name, self.config.limits.max_nick_len)
                .ok()
                .map(Target::User)
        };
        let Some(target) = target else {
            let m = fail("INVALID_PARAMS", name, "Invalid target");
            return self.fail(m).await;
        };
        let cmd = match p.get(1) {
            None => Command::GetReadMarker(target),
            // A client sets a time, never `*`.
            Some(stamp) => match bound(stamp) {
                Some(Some(at @ Bound::Time(_))) => Command::MarkRead { target, at },
                _ => {
                    let m = fail("INVALID_PARAMS", stamp, "Invalid timestamp");
                    return self.fail(m).await;
                }
            },
        };
        self.command(cmd, "MARKREAD", Kind::MarkRead(name.to_owned()))
            .await;
    }

    async fn nickserv(&mut self, text: &str) {
        let mut words = text.split_whitespace();
        let sub = words.next().unwrap_or("HELP").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        match sub.as_str() {
            "IDENTIFY" | "LOGIN" => {
                let (name, pass) = match args.as_slice() {
                    [pass] => (self.nick.clone(), *pass),
                    [name, pass, ..] => ((*name).to_owned(), *pass),
                    [] => {
                        let n = self.service_notice("Usage: IDENTIFY [account] password");
                        return self.reply(vec![n]).await;
                    }
                };
                let Ok(nick) = Nick::parse(&name, usize::MAX) else {
                    let n = self.service_notice("Wrong name or password");
                    return self.reply(vec![n]).await;
                };
                match auth::log_in(&self.hub, "irc", &nick, pass.to_owned(), self.peer.ip()).await {
                    // "You are now identified" once the hub agrees.
                    Ok(Ok(account)) => {
                        self.command(Command::Identify(account), "NICKSERV", Kind::Identify)
                            .await;
                    }
                    Ok(Err(e)) => {
                        let n = self.service_notice(&e.to_string());
                        self.reply(vec![n]).await;
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "PASSWD" => {
                let [old, new] = args.as_slice() else {
                    let n = self.service_notice("Usage: PASSWD <current password> <new password>");
                    return self.reply(vec![n]).await;
                };
                let min = self.config.accounts.min_password_len;
                let (hub, ip) = (self.hub.clone(), self.peer.ip());
                let (old, new) = ((*old).to_owned(), (*new).to_owned());
                match auth::change_own_password(&hub, "irc", &self.pacer, old, new, min, ip).await {
                    Ok(Ok(cmd)) => self.command(cmd, "NICKSERV", Kind::NickServ).await,
                    Ok(Err(why)) => {
                        let n = self.service_notice(&why.to_string());
                        self.reply(vec![n]).await;
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "REGISTER" => {
                let Some(pass) = args.first() else {
                    let n = self.service_notice("Usage: REGISTER password");
                    return self.reply(vec![n]).await;
                };
                let min = self.config.accounts.min_password_len;
                match auth::register_hash(&self.hub, (*pass).to_owned(), min, self.peer.ip()).await
                {
                    Ok(password_hash) => {
                        self.command(
                            Command::Register { password_hash },
                            "NICKSERV",
                            Kind::NickServ,
                        )
                        .await;
                    }
                    Err(e) => {
                        let n = self.service_notice(&e);
                        self.reply(vec![n]).await;
                    }
                }
            }
            _ => {
                let lines = [
                    "NickServ keeps accounts: the same ones SASL and the other doors use.",
                    "REGISTER password - register your current nick as an account",
                    "IDENTIFY [account] password - log in to an account",
                ];
                let msgs = lines.iter().map(|l| self.service_notice(l)).collect();
                self.reply(msgs).await;
            }
        }
    }
}

/// A client's word made safe to echo as a middle parameter: no spaces, not
/// empty, no leading `:`.
fn safe(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.trim_start_matches(':');
    if s.is_empty() {
        "*".to_owned()
    } else {
        s.to_owned()
    }
}
