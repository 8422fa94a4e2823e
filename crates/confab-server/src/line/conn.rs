//! One line-protocol connection: one task that reads, writes and talks to
//! the hub.
//!
//! The loop decodes lines, asks for a name until it has one, then parses
//! commands and sends them to the hub. Between reads it drains the
//! connection's bounded queue, renders events (once per event for all line
//! clients, via the envelope cache) and writes them in batches. The hub
//! never waits for it: when the queue is full it fires the kill switch and
//! the connection is dropped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Local;
use confab_core::{ClientInfo, Command, Event, MsgId, Nick, SessionId};
use tokio::io::AsyncWriteExt;

use crate::rewind::Io;
use tokio::time::{Instant, sleep_until, timeout};

use super::codec::{Decoded, LineDecoder};
use super::parse::{Input, ParseLimits, parse};
use super::render;
use crate::auth;
use crate::closed::{ClosedBy, ConnLog, conn_event};
use crate::config::{Config, Limits};
use crate::flood::{Excess, Pacer};
use crate::hub_task::{ConnOutbox, HubHandle, Leave, Ready, read_with, write_out};
use crate::park::{Door, Napping, Parked};
use crate::queue::Ended;
use crate::time::now;

/// Deliveries taken off the queue per write.
const WRITE_BATCH: usize = 256;

/// Serves one connection in the line protocol. `initial` holds what the
/// client sent before the protocol was decided.
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
        drive(stream, nap, VecDeque::new(), None, Instant::now())
    }
}

/// How the loop ended: who ended it, why, and whether what the hub still
/// holds for the client (a goodbye said through it) should go out.
struct End {
    by: ClosedBy,
    reason: String,
    drain: bool,
}

impl End {
    fn new(by: ClosedBy, reason: impl Into<String>, drain: bool) -> End {
        End {
            by,
            reason: reason.into(),
            drain,
        }
    }
}

/// Not an `async fn`, for the reason `serve` gives: the state made here is
/// what the loop captures, once.
fn run<S: Io>(
    stream: S,
    peer: SocketAddr,
    sid: SessionId,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    let limits = &config.limits;
    let pacer = hub.flood().pacer(peer.ip(), sid);
    let (outbox, rx, _) = ConnOutbox::new(sid, limits.send_queue, &hub);
    // Boxed until the hub takes it: what the loop captures stays in the
    // task for the connection's life.
    let outbox = Box::new(outbox);
    let login_by = Instant::now() + limits.login_timeout();
    let mut decoder = LineDecoder::new(limits.max_line_bytes);
    let mut items = VecDeque::new();
    decoder.feed(&initial, &mut items);
    drop(initial);
    // Should this task end abnormally (a panic), the hub still learns
    // that the session is gone.
    let leave = Leave::new(&hub, sid);
    let conn = Conn {
        sid,
        quitting: false,
        nick: None,
        entering: None,
        page_open: false,
        taken: None,
        end_fence: None,
        bye: None,
        out: Vec::new(),
        peer,
        pacer,
        parse_limits: ParseLimits {
            max_nick_len: limits.max_nick_len,
            max_room_len: limits.max_room_len,
            max_message_bytes: limits.max_message_bytes,
        },
        hub,
        config,
        decoder,
    };
    let nap = Napping { conn, rx, leave };
    drive(stream, nap, items, Some(outbox), login_by)
}

/// The loop that serves a connection: from its start, when it has the
/// session's `outbox` to hand the hub, or from a park (`park`). It
/// returns the connection parked once it has been named and quiet a
/// while with nothing under way, if its socket can park.
fn drive<S: Io>(
    stream: S,
    nap: Napping<Conn>,
    items: VecDeque<Decoded>,
    outbox: Option<Box<ConnOutbox>>,
    login_by: Instant,
) -> impl std::future::Future<Output = Option<Parked<Conn>>> + Send {
    // One stream, not split halves: the loop writes and reads in turn.
    let mut stream = stream;
    let mut items = items;
    let (mut conn, mut rx, mut kill, mut leave) = nap.into_parts();
    async move {
        let fresh = outbox.is_some();
        if let Some(outbox) = outbox {
            conn_event!(info, conn.who(), "connected");
            let t = now();
            conn.out.extend_from_slice(&render::notice(
                t,
                &Local,
                "Welcome to confab. Type /help for help.",
            ));
            conn.out
                .extend_from_slice(&name_prompt(&conn.config.limits));
            let info = ClientInfo {
                host: conn.hub.cloak_host(conn.peer.ip()),
                ..ClientInfo::default()
            };
            // (Boxed and freed, like every rare await here: an idle
            // connection's task should not carry it.)
            let connecting = Box::pin(conn.hub.connect(conn.sid, *outbox, conn.peer, "line", info));
            if connecting.await.is_err() {
                leave.disarm();
                return None;
            }
        }
        let mut batch = Vec::new();
        // The give-back rule of every door (`hub_task::Quiet`); parked
        // once quiet; soon, for a new one.
        let mut quiet = crate::hub_task::Quiet::starting(fresh);
        let mut napping = false;
        // The line door has no heartbeat: once named, the timer wakes only
        // to look for a quiet spell.
        let timer = sleep_until(login_by);
        tokio::pin!(timer);
        // Set when reading ended: how.
        // (Boxed, as how the loop ended: kept across every await, each
        // would size every idle connection's task.)
        let mut eof: Option<Box<End>> = None;
        let end = 'conn: loop {
            // Every decoded line first, unless a login's answer or the end
            // of a page of kept messages is still to come: then they wait,
            // so each is read in the state its sender saw.
            while !conn.holding()
                && let Some(item) = items.pop_front()
            {
                // Boxed: handling a line is a large future that an idle
                // connection should not carry.
                // (Bound first: a temporary would live across the await.)
                let handling = Box::pin(conn.item(item));
                if let Flow::Stop(by, reason) = handling.await {
                    break 'conn Some(End::new(by, reason, true));
                }
            }
            // Lines come seldom: their list keeps no room between them.
            if items.is_empty() && items.capacity() > 0 {
                items = VecDeque::new();
            }
            if let Err(e) = write_out(&mut stream, &mut conn.out, &mut kill).await {
                let (by, why) = e.closed();
                break Some(End::new(by, why, false));
            }
            // A page of kept messages counts as taken once written: a
            // telnet client has no way to say it read it, and a client
            // that does not read stops the loop (the socket fills up)
            // before it gets this far. The hub may be gone (shutting
            // down): then nothing is taken.
            if let Some(upto) = conn.taken.take() {
                let telling = Box::pin(conn.hub.kept_taken(conn.sid, upto));
                let _ = telling.await;
            }
            if let Some(why) = conn.bye.take() {
                let _ = stream.shutdown().await;
                let by = if conn.quitting {
                    ClosedBy::Client
                } else {
                    ClosedBy::Server
                };
                break Some(End::new(by, why, false));
            }
            // Nothing waiting: what a burst grew goes back, and after a
            // quiet spell everything, so an idle connection holds no
            // buffers of its own.
            if let Some(keep) = quiet.give_back(&rx, &mut batch) {
                crate::hub_task::release(&mut conn.out, keep);
            }
            // Quiet a while with nothing under way: it parks.
            if std::mem::take(&mut napping)
                && items.is_empty()
                && eof.is_none()
                && conn.out.is_empty()
                && conn.can_nap()
                && crate::park::can_take(&stream)
            {
                break None;
            }
            // The client stopped sending (`printf … | nc` does at once): it
            // ends once every line it sent has been handled and answered.
            // A fence behind them comes back after their replies, which
            // wait for their commit.
            if items.is_empty() && !conn.holding() && eof.is_some() {
                match conn.end_fence {
                    None => {
                        conn.end_fence = Some(false);
                        let fencing = Box::pin(conn.hub.fence(conn.sid, 0));
                        if fencing.await.is_err() {
                            break eof.take().map(|e| *e);
                        }
                    }
                    Some(true) => break eof.take().map(|e| *e),
                    Some(false) => {}
                }
            }
            // (Named, the timer only looks for a quiet spell: `never` is a
            // year on, the same instant each time, so the timer is not
            // reset on every pass.)
            let never = login_by + std::time::Duration::from_secs(365 * 24 * 3600);
            let due = if conn.nick.is_none() { login_by } else { never };
            quiet.set_timer(timer.as_mut(), due);
            tokio::select! {
                biased;
                got = rx.recv_many(&mut batch, WRITE_BATCH) => {
                    match got {
                        Ok(_) => {}
                        Err(Ended::Killed(why)) => break Some(End::new(ClosedBy::Killed, &*why, false)),
                        Err(Ended::Closed) => {
                            let _ = stream.shutdown().await;
                            break Some(End::new(ClosedBy::Server, "closed", false));
                        }
                    }
                    quiet.busy();
                    if let Some(rest) = crate::hub_task::deliver_all(&mut batch, |item| conn.deliver(item)) {
                        rest.await;
                    }
                }
                read = read_with(&mut stream, |bytes| conn.decoder.feed(bytes, &mut items)),
                    if !conn.holding() && eof.is_none() => match read {
                    Ok(0) => {
                        conn.decoder.finish(&mut items);
                        eof = Some(Box::new(End::new(ClosedBy::Client, "Connection closed", true)));
                    }
                    Ok(_) => quiet.busy(),
                    Err(e) => {
                        eof = Some(Box::new(End::new(ClosedBy::read_error(&e), format!("Read error: {e}"), true)));
                    }
                },
                () = &mut timer => {
                    let at = Instant::now();
                    napping = quiet.due(at);
                    if conn.nick.is_some() || at < login_by {
                        continue;
                    }
                    let secs = conn.config.limits.login_timeout().as_secs_f64();
                    let text = format!("no name chosen within {secs} seconds; goodbye");
                    conn.out.extend_from_slice(&render::error(now(), &Local, &text));
                    break Some(End::new(ClosedBy::Timeout, "login timeout", true));
                }
            }
        };
        let Some(end) = end else {
            // (No timer: named, a line connection has no heartbeat.)
            return crate::park::parked(stream, None, Napping { conn, rx, leave });
        };
        // (Boxed, as how the loop ended: kept across the last awaits, it
        // would size every idle connection's task.)
        let end = Box::new(end);
        leave.disarm();
        // (Boxed: a request to the hub is a large future to keep.)
        let leaving = Box::pin(conn.hub.disconnect(conn.sid, end.reason.clone()));
        let _ = leaving.await;
        if end.drain {
            // The hub has dropped its end of the queue: what it still
            // holds for the client goes out, then the stream closes, all
            // within the shutdown grace (a client that does not read).
            let grace = conn.config.limits.shutdown_grace();
            let finishing = Box::pin(async {
                while rx.recv_many(&mut batch, WRITE_BATCH).await.is_ok() {
                    if let Some(rest) =
                        crate::hub_task::deliver_all(&mut batch, |item| conn.deliver(item))
                    {
                        rest.await;
                    }
                }
                if write_out(&mut stream, &mut conn.out, &mut kill)
                    .await
                    .is_ok()
                {
                    let _ = stream.shutdown().await;
                }
            });
            if timeout(grace, finishing).await.is_err() {
                conn_event!(debug, conn.who(), "output not flushed in time");
            }
        }
        end.by.log(&conn.who(), &end.reason);
        None
    }
}

fn name_prompt(limits: &Limits) -> Bytes {
    let text = format!(
        "Choose a name (up to {} letters, digits and - _ [ ] {{ }} \\ ` ^ |):",
        limits.max_nick_len
    );
    render::notice(now(), &Local, &text)
}

enum Flow {
    Go,
    /// The connection ends: who ended it, and why.
    Stop(ClosedBy, String),
}

/// The connection's state, apart from its stream and queue.
pub struct Conn {
    sid: SessionId,
    hub: HubHandle,
    /// The user asked to quit: the hub's goodbye that follows is theirs.
    quitting: bool,
    nick: Option<Nick>,
    /// The name a login asked the hub for, until its answer: later lines
    /// wait for it.
    entering: Option<Nick>,
    /// Kept messages were rendered whose page has not ended yet: later
    /// lines wait for the end, so that a line sent after reading the page
    /// (a `/quit`) comes after the word that it was taken.
    page_open: bool,
    /// The end of a page of kept messages rendered, not yet written.
    taken: Option<MsgId>,
    /// The input ended: a fence was sent behind its last line, and
    /// whether it came back.
    end_fence: Option<bool>,
    /// The hub's goodbye was rendered: once written, the connection ends.
    bye: Option<String>,
    /// Output not yet written.
    out: Vec<u8>,
    peer: SocketAddr,
    pacer: Pacer,
    parse_limits: ParseLimits,
    config: Arc<Config>,
    /// The client's bytes into lines (a line begun stays while parked).
    decoder: LineDecoder,
}

impl Conn {
    /// Named, and nothing is under way that the loop must see through: it
    /// may park.
    fn can_nap(&self) -> bool {
        self.nick.is_some()
            && !self.holding()
            && self.taken.is_none()
            && self.end_fence.is_none()
            && self.bye.is_none()
            && !self.quitting
    }

    /// Which connection this is, for its log lines.
    fn who(&self) -> ConnLog {
        ConnLog {
            door: "line",
            sid: self.sid,
            peer: self.peer,
        }
    }

    async fn item(&mut self, item: Decoded) -> Flow {
        let line = match item {
            Decoded::Line(line) => line,
            Decoded::TooLong => {
                let text = format!(
                    "that line was longer than {} bytes and was dropped",
                    self.config.limits.max_line_bytes
                );
                return self.error(&text).await;
            }
            Decoded::InvalidUtf8 => {
                return self
                    .error("that line was not valid UTF-8 and was dropped")
                    .await;
            }
        };
        // Over the flood limit the loop waits here, reading nothing more,
        // so a paste arrives whole at the allowed pace.
        if !line.trim().is_empty() && self.pacer.pace().await.is_err() {
            let bye = format!("Disconnected: {}", Excess::REASON);
            self.say(render::notice(now(), &Local, &bye)).await;
            return Flow::Stop(ClosedBy::Server, Excess::REASON.to_owned());
        }
        let parsed = parse(&line, &self.parse_limits);
        if self.nick.is_none() {
            return self.naming(&line, parsed).await;
        }
        match parsed {
            Ok(Input::Nothing) => Flow::Go,
            Ok(Input::Hub(cmd)) => self.command(cmd).await,
            Ok(Input::Register(password)) => self.register(password).await,
            Ok(Input::Passwd { old, new }) => self.passwd(old, new).await,
            // As NickServ IDENTIFY on IRC: the guest becomes the account.
            Ok(Input::Login { name, password }) => self.identify(name, password).await,
            Ok(Input::Oper { name, password }) => self.oper(name, password).await,
            Ok(local) => self.local(local).await,
            Err(e) => {
                conn_event!(debug, self.who(), error = %e, "bad input");
                self.error(&e.to_string()).await
            }
        }
    }

    /// A line before the user has a name: the name, or one of the commands
    /// that make sense without one.
    async fn naming(
        &mut self,
        line: &str,
        parsed: Result<Input, super::parse::ParseError>,
    ) -> Flow {
        let candidate = if line.trim_start().starts_with('/') {
            match parsed {
                Ok(Input::Hub(Command::ChangeNick(nick))) => Ok(nick),
                Ok(Input::Hub(Command::Quit(_))) => {
                    self.say(render::notice(now(), &Local, "Goodbye.")).await;
                    return Flow::Stop(ClosedBy::Client, "Quit".to_owned());
                }
                Ok(Input::Nothing) => return Flow::Go,
                Ok(Input::Login { name, password }) => return self.log_in(name, password).await,
                Ok(
                    Input::Hub(_) | Input::Register(_) | Input::Passwd { .. } | Input::Oper { .. },
                ) => Err("choose a name first".to_owned()),
                Ok(local) => return self.local(local).await,
                Err(e) => Err(e.to_string()),
            }
        } else if line.trim().is_empty() {
            return self.prompt().await;
        } else {
            Nick::parse(line.trim(), self.config.limits.max_nick_len).map_err(|e| e.to_string())
        };
        let nick = match candidate {
            Ok(nick) => nick,
            Err(e) => {
                self.say(render::error(now(), &Local, &e)).await;
                return self.prompt().await;
            }
        };
        self.enter(nick.clone(), Command::Login(nick)).await
    }

    /// Sends a login command; the lines after it wait for the hub's
    /// verdict ([`Conn::deliver`]), so that each is read in the right
    /// state.
    async fn enter(&mut self, nick: Nick, cmd: Command) -> Flow {
        let flow = self.command(cmd).await;
        if let Flow::Go = flow {
            self.entering = Some(nick);
        }
        flow
    }

    /// `/login NAME PASSWORD` before a name is chosen.
    async fn log_in(&mut self, name: Nick, password: String) -> Flow {
        match auth::log_in(&self.hub, "line", &name, password, self.peer.ip()).await {
            Ok(Ok(account)) => {
                let nick = account.name.clone();
                self.enter(nick, Command::LoginAccount(account)).await
            }
            Ok(Err(e)) => {
                self.error(&e.to_string()).await;
                self.prompt().await
            }
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    /// `/login NAME PASSWORD` while chatting: the session leaves its guest
    /// name and comes back as the account (the hub refuses when it is an
    /// account already).
    async fn identify(&mut self, name: Nick, password: String) -> Flow {
        match auth::log_in(&self.hub, "line", &name, password, self.peer.ip()).await {
            Ok(Ok(account)) => self.command(Command::Identify(account)).await,
            Ok(Err(e)) => self.error(&e.to_string()).await,
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    /// `/passwd OLD NEW` as an account.
    async fn passwd(&mut self, old: String, new: String) -> Flow {
        let min = self.config.accounts.min_password_len;
        let ip = self.peer.ip();
        match auth::change_own_password(&self.hub, "line", &self.pacer, old, new, min, ip).await {
            Ok(Ok(cmd)) => self.command(cmd).await,
            Ok(Err(auth::OwnPasswordError::NotAnAccount(e))) => self.error(&render::said(&e)).await,
            Ok(Err(why)) => self.error(&why.to_string()).await,
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    /// `/oper NAME PASSWORD`: checked against the config's `[[opers]]`.
    async fn oper(&mut self, name: String, password: String) -> Flow {
        let opers = self.config.opers.clone();
        match auth::oper(&self.hub, &opers, &name, password, self.peer.ip()).await {
            Ok(Ok(name)) => self.command(Command::Oper(name)).await,
            Ok(Err(e)) => self.error(&e.to_string()).await,
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    /// `/register PASSWORD` as a guest.
    async fn register(&mut self, password: String) -> Flow {
        let min = self.config.accounts.min_password_len;
        match auth::register_hash(&self.hub, password, min, self.peer.ip()).await {
            Ok(password_hash) => self.command(Command::Register { password_hash }).await,
            Err(e) => self.error(&e).await,
        }
    }

    async fn prompt(&mut self) -> Flow {
        let p = name_prompt(&self.config.limits);
        self.say(p).await
    }

    async fn command(&mut self, cmd: Command) -> Flow {
        self.quitting |= matches!(cmd, Command::Quit(_));
        match self.hub.command(self.sid, cmd).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::Stop(ClosedBy::Server, "server shutting down".to_owned()),
        }
    }

    async fn local(&mut self, input: Input) -> Flow {
        let t = now();
        let out = match input {
            Input::Help(cmd) => render::help(t, &Local, cmd),
            Input::Commands => render::commands(t, &Local),
            Input::Time => render::time(t, &Local),
            Input::Nothing
            | Input::Hub(_)
            | Input::Register(_)
            | Input::Login { .. }
            | Input::Passwd { .. }
            | Input::Oper { .. } => {
                return Flow::Go;
            }
        };
        self.say(out).await
    }

    /// A door-side error line, also written to the audit log.
    async fn error(&mut self, text: &str) -> Flow {
        let line = render::error(now(), &Local, text);
        self.say_audited(line, Some(text.to_owned())).await
    }

    /// The door's own output. Once logged in, it goes by way of the hub
    /// thread, so that it comes after the replies to earlier commands.
    /// Before that, straight out with the next write.
    async fn say(&mut self, bytes: Bytes) -> Flow {
        self.say_audited(bytes, None).await
    }

    async fn say_audited(&mut self, bytes: Bytes, error: Option<String>) -> Flow {
        if self.nick.is_none() {
            self.out.extend_from_slice(&bytes);
            return Flow::Go;
        }
        match self.hub.echo(self.sid, bytes, error).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::Stop(ClosedBy::Server, "closed".to_owned()),
        }
    }

    /// Lines wait: for a login's answer, or for the end of a page.
    fn holding(&self) -> bool {
        self.entering.is_some() || self.page_open
    }

    /// One item of the queue, rendered into the output; notes what the
    /// loop acts on (a login's answer, a page's end, the goodbye).
    fn deliver(&mut self, item: Ready) {
        // Nothing follows the goodbye.
        if self.bye.is_some() {
            return;
        }
        let d = match item {
            Ready::Raw(b) => return self.out.extend_from_slice(&b),
            Ready::Event(d) => d,
        };
        match &d.event {
            Event::Local(b) => return self.out.extend_from_slice(b),
            Event::Fence(_) => {
                self.end_fence = Some(true);
                return;
            }
            _ => {}
        }
        self.out
            .extend_from_slice(d.rendered(render::SLOT, |e| render::render(e, &Local)));
        match &d.event {
            // The hub thread logs the login (`auth::log_login`).
            Event::Welcome { .. } => {
                if let Some(nick) = self.entering.take() {
                    self.nick = Some(nick);
                }
            }
            // Before a name is taken, an error answers the login.
            Event::Error(e) if self.nick.is_none() => {
                conn_event!(debug, self.who(), error = %e, "name refused");
                self.out
                    .extend_from_slice(&render::notice(now(), &Local, "Choose another name:"));
                self.entering = None;
            }
            Event::Error(e) => {
                conn_event!(debug, self.who(), error = %e, "command refused")
            }
            Event::Bye { reason } => self.bye = Some(reason.clone()),
            Event::KeptPageEnd { upto } => {
                self.taken = Some(*upto);
                self.page_open = false;
            }
            Event::Message { offline: true, .. } => self.page_open = true,
            _ => {}
        }
    }
}
