//! One line-protocol connection: a reader loop and a writer task.
//!
//! The reader decodes lines, asks for a name until it has one, then parses
//! commands and sends them to the hub. The writer drains the connection's
//! bounded queue, renders events (once per event for all line clients, via
//! the envelope cache) and writes them in batches. The hub never waits for
//! either: when the queue is full it fires the kill switch and the writer
//! drops the connection.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::Local;
use confab_core::{ClientInfo, Command, Event, MsgId, Nick, SessionId};
use tokio::io::WriteHalf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::rewind::Io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until, timeout};

use super::codec::{Decoded, LineDecoder};
use super::parse::{Input, ParseLimits, parse};
use super::render;
use crate::auth;
use crate::closed::{ClosedBy, ConnLog, conn_event};
use crate::config::{Config, Limits};
use crate::flood::{Excess, Pacer};
use crate::hub_task::{ConnOutbox, HubHandle, KillSwitch, Leave, Out, Ready};
use crate::queue;
use crate::queue::Ended;
use crate::time::now;

/// Deliveries the writer takes off the queue per write.
const WRITE_BATCH: usize = 256;
/// Bytes a read may take while a burst fills the buffer.
const READ_CHUNK: usize = 4096;

/// How the writer ended.
#[derive(Debug)]
enum WriterEnd {
    /// The hub said goodbye (quit, flood, shutdown) and it was written;
    /// why.
    Bye(String),
    /// Every sender is gone: the connection is closing from our side.
    Drained,
    /// The hub closed the connection at once (its queue was full).
    Killed(Arc<str>),
    /// Writing failed (the client went away).
    Failed(std::io::Error),
}

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
) -> impl std::future::Future<Output = ()> + Send {
    let sid = hub.new_session();
    run(stream, peer, sid, initial, hub, config)
}

/// Which connection this is, for its log lines.
fn who(sid: SessionId, peer: SocketAddr) -> ConnLog {
    ConnLog {
        door: "line",
        sid,
        peer,
    }
}

async fn run<S: Io>(
    stream: S,
    peer: SocketAddr,
    sid: SessionId,
    initial: Bytes,
    hub: HubHandle,
    config: Arc<Config>,
) {
    let limits = &config.limits;
    conn_event!(info, who(sid, peer), "connected");
    let (mut reader, writer) = tokio::io::split(stream);
    let pacer = hub.flood().pacer(peer.ip());
    let (outbox, rx, kill) = ConnOutbox::new(limits.send_queue, &pacer, &hub);
    let local = outbox.local();
    let told = Arc::new(Told::default());
    let taker = Taker {
        hub: hub.clone(),
        who: who(sid, peer),
        told: told.clone(),
    };
    let mut writer = tokio::spawn(write_loop(writer, rx, kill, taker));
    let t = now();
    let greeting = [
        render::notice(t, &Local, "Welcome to confab. Type /help for help."),
        name_prompt(limits),
    ]
    .concat();
    // The hub thread gives the session its host (a cloak of `peer`).
    let info = ClientInfo::default();
    // (Boxed and freed, like every rare await here: an idle connection's
    // task should not carry it.)
    let connected = {
        let connecting = Box::pin(async {
            local.send(Out::Raw(greeting.into())).await.is_ok()
                && hub.connect(sid, outbox, peer, "line", info).await.is_ok()
        });
        connecting.await
    };
    if !connected {
        writer.abort();
        return;
    }
    let mut conn = Conn {
        sid,
        hub: hub.clone(),
        quitting: false,
        local,
        told,
        nick: None,
        peer,
        pacer,
        acked: 0,
        parse_limits: ParseLimits {
            max_nick_len: limits.max_nick_len,
            max_room_len: limits.max_room_len,
            max_message_bytes: limits.max_message_bytes,
        },
        config: config.clone(),
    };
    // Should this task end abnormally (a panic), the hub still learns
    // that the session is gone.
    let mut leave = Leave::new(&hub, sid);
    let mut decoder = LineDecoder::new(limits.max_line_bytes);
    let mut items = Vec::new();
    decoder.feed(&initial, &mut items);
    drop(initial);
    let login_deadline = Instant::now() + limits.login_timeout();
    // Empty while idle: a read takes a little, more while a burst fills it.
    let mut buf = BytesMut::new();
    let mut writer_end = None;
    let (closed_by, reason): (ClosedBy, String) = 'conn: loop {
        for item in items.drain(..) {
            // Boxed: handling a line is a large future that an idle
            // connection should not carry.
            // (Bound first: a temporary would live across the await.)
            let handling = Box::pin(conn.item(item));
            match handling.await {
                Flow::Go => {}
                Flow::Stop(by, reason) => break 'conn (by, reason),
            }
        }
        // Lines come seldom: their list keeps no room between them.
        crate::hub_task::release(&mut items, 0);
        tokio::select! {
            biased;
            end = &mut writer => {
                let closed = match &end {
                    Ok(WriterEnd::Bye(why)) if conn.quitting => (ClosedBy::Client, why.clone()),
                    Ok(WriterEnd::Bye(why)) => (ClosedBy::Server, why.clone()),
                    Ok(WriterEnd::Killed(why)) => (ClosedBy::Killed, why.to_string()),
                    Ok(WriterEnd::Failed(e)) => (ClosedBy::WriteError, format!("Write error: {e}")),
                    Ok(WriterEnd::Drained) => (ClosedBy::Server, "closed".to_owned()),
                    Err(e) => (ClosedBy::Server, format!("writer task failed: {e}")),
                };
                writer_end = Some(end);
                break closed;
            }
            () = sleep_until(login_deadline), if conn.nick.is_none() => {
                let secs = limits.login_timeout().as_secs_f64();
                let text = format!("no name chosen within {secs} seconds; goodbye");
                // Boxed, as below: rare, and large for an idle task to carry.
                let saying = Box::pin(conn.say(render::error(now(), &Local, &text)));
                saying.await;
                break (ClosedBy::Timeout, "login timeout".to_owned());
            }
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break (ClosedBy::Client, "Connection closed".to_owned()),
                Ok(_) => {
                    decoder.feed(&buf, &mut items);
                    // A full buffer means more is waiting: read it in
                    // bigger chunks. Otherwise give back what it grew.
                    let full = buf.len() == buf.capacity();
                    buf.clear();
                    if full {
                        buf.reserve(READ_CHUNK);
                    } else if buf.capacity() > crate::hub_task::KEEP_BYTES {
                        buf = BytesMut::new();
                    }
                }
                Err(e) => break (ClosedBy::read_error(&e), format!("Read error: {e}")),
            },
        }
    };
    // Boxed: awaited once, at the end, and twice the size of the idle
    // loop's other awaits. (Bound first: a temporary would live across
    // the await.)
    let acking = Box::pin(conn.ack_written());
    acking.await;
    leave.disarm();
    let Conn { hub, local, .. } = conn;
    // The hub drops its end of the queue; with ours dropped too, the writer
    // drains what is left and ends.
    let leaving = Box::pin(hub.disconnect(sid, reason.clone()));
    let _ = leaving.await;
    drop(local);
    // What was left to write goes out first (or the writer ends it).
    if writer_end.is_none() && timeout(limits.shutdown_grace(), &mut writer).await.is_err() {
        writer.abort();
        conn_event!(debug, who(sid, peer), "output not flushed in time");
    }
    closed_by.log(&who(sid, peer), &reason);
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

/// The reader side's state.
struct Conn {
    sid: SessionId,
    hub: HubHandle,
    /// The user asked to quit: the hub's goodbye that follows is theirs.
    quitting: bool,
    local: queue::Sender<Out>,
    /// What the writer tells: the answers to logins, and the pages of
    /// kept messages written (see [`Conn::ack_written`]).
    told: Arc<Told>,
    nick: Option<Nick>,
    peer: SocketAddr,
    pacer: Pacer,
    /// The last page of kept messages the reader told the hub of.
    acked: u64,
    parse_limits: ParseLimits,
    config: Arc<Config>,
}

impl Conn {
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
        // Over the flood limit the reader waits here, reading nothing
        // more, so a paste arrives whole at the allowed pace.
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
                conn_event!(debug, who(self.sid, self.peer), error = %e, "bad input");
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

    /// Sends a login command and waits for the hub's verdict, so that the
    /// next line is read in the right state.
    async fn enter(&mut self, nick: Nick, cmd: Command) -> Flow {
        let answered = self.told.answers.load(SeqCst);
        if let Flow::Stop(by, r) = self.command(cmd).await {
            return Flow::Stop(by, r);
        }
        // The writer sees the hub's answer first and passes it on.
        let told = self.told.clone();
        if !told.wait(|t| t.answers.load(SeqCst) != answered).await {
            return Flow::Stop(ClosedBy::Server, "closed while logging in".to_owned());
        }
        if told.welcomed.load(SeqCst) {
            // The hub thread logs the login (`auth::log_login`).
            self.nick = Some(nick);
        }
        Flow::Go
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

    /// Tells the hub of a page of kept messages the writer has written,
    /// before anything the client says next (a `/quit` written after
    /// reading the page must not overtake the writer's word that it was
    /// written, or the page would come again). The writer tells the hub
    /// too; the hub ignores the second word.
    /// A page the writer is still writing is waited for (the client may
    /// have read it already: the write's end and the client's next line
    /// can race), up to the shutdown grace.
    async fn ack_written(&mut self) {
        let grace = self.config.limits.shutdown_grace();
        let done = |t: &Told| t.written.load(SeqCst) >= t.writing.load(SeqCst);
        let _ = timeout(grace, self.told.wait(done)).await;
        let upto = self.told.written.load(SeqCst);
        if upto != 0 && upto != self.acked {
            self.acked = upto;
            let _ = self.hub.kept_taken(self.sid, MsgId(upto)).await;
        }
    }

    async fn command(&mut self, cmd: Command) -> Flow {
        self.ack_written().await;
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

    /// Queues the door's own output. Once logged in, it goes by way of the
    /// hub thread, so that it comes after the replies to earlier commands.
    /// Before that, straight into the queue, waiting when it is full: that
    /// slows this client's own input, nobody else's.
    async fn say(&mut self, bytes: Bytes) -> Flow {
        self.say_audited(bytes, None).await
    }

    async fn say_audited(&mut self, bytes: Bytes, error: Option<String>) -> Flow {
        let sent = if self.nick.is_some() {
            self.hub.echo(self.sid, bytes, error).await.is_ok()
        } else {
            self.local.send(Out::Raw(bytes)).await.is_ok()
        };
        if sent {
            Flow::Go
        } else {
            Flow::Stop(ClosedBy::Server, "closed".to_owned())
        }
    }
}

/// How the writer tells the hub that a page of kept messages was taken.
struct Taker {
    hub: HubHandle,
    /// The connection, for the session's id and the log lines.
    who: ConnLog,
    /// What the reader is told; dropped with the writer, which tells the
    /// reader that nothing more will come.
    told: Arc<Told>,
}

impl Drop for Taker {
    fn drop(&mut self) {
        self.told.tell(|t| t.ended.store(true, SeqCst));
    }
}

/// What the writer tells the reader: the hub's answers to logins (the
/// writer sees them first) and the pages of kept messages it wrote. One
/// small shared object: a tokio `watch` channel holds eight `Notify`s,
/// and two of them were 700 bytes of every line connection.
#[derive(Default)]
struct Told {
    /// Answers to logins so far.
    answers: AtomicU32,
    /// The last answer let the user in.
    welcomed: AtomicBool,
    /// The last kept message of the page being written, and of the last
    /// page written (0 for none).
    writing: AtomicU64,
    written: AtomicU64,
    /// The writer has ended: nothing more will be told.
    ended: AtomicBool,
    changed: Notify,
}

impl Told {
    fn tell(&self, what: impl FnOnce(&Told)) {
        what(self);
        self.changed.notify_waiters();
    }

    /// The hub answered a login: `welcomed`, or the name was refused.
    fn answered(&self, welcomed: bool) {
        self.tell(|t| {
            t.welcomed.store(welcomed, SeqCst);
            t.answers.fetch_add(1, SeqCst);
        });
    }

    /// Waits until `ready` holds; false if the writer ended first.
    async fn wait(&self, ready: impl Fn(&Told) -> bool) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before looking, so a change in between wakes it.
            notified.as_mut().enable();
            if ready(self) {
                return true;
            }
            if self.ended.load(SeqCst) {
                return false;
            }
            notified.await;
        }
    }
}

/// Drains the queue into the socket until goodbye, the kill switch or an
/// error. A page of kept messages counts as taken once written: a telnet
/// client has no way to say it read it, and a client that does not read
/// stops the writer (the socket fills up) before it gets that far.
async fn write_loop<S: Io>(
    mut w: WriteHalf<S>,
    mut rx: queue::Receiver<Out>,
    mut kill: KillSwitch,
    taker: Taker,
) -> WriterEnd {
    let mut batch = Vec::new();
    let mut buf = Vec::new();
    let mut logged_in = false;
    // The give-back rule of every door (`hub_task::Quiet`). The line door
    // has no heartbeat: its timer wakes only to look for a quiet spell.
    let mut quiet = crate::hub_task::Quiet::default();
    let never = Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
    let timer = tokio::time::sleep_until(never);
    tokio::pin!(timer);
    loop {
        // Nothing waiting: what a burst grew goes back, and after a quiet
        // spell everything, so an idle connection holds no buffers of its
        // own.
        if let Some(keep) = quiet.give_back(&rx, &mut batch) {
            crate::hub_task::release(&mut buf, keep);
        }
        quiet.set_timer(timer.as_mut(), never);
        let got = tokio::select! {
            biased;
            got = rx.recv_many(&mut batch, WRITE_BATCH) => got,
            () = &mut timer => {
                quiet.due(Instant::now());
                continue;
            }
        };
        match got {
            Ok(_) => {}
            Err(Ended::Killed(why)) => return WriterEnd::Killed(why),
            Err(Ended::Closed) => {
                let _ = w.shutdown().await;
                return WriterEnd::Drained;
            }
        }
        quiet.busy();
        buf.clear();
        let mut bye = None;
        let mut taken = None;
        let mut kept = 0;
        for item in batch.drain(..) {
            let d = match item.ready().await {
                Ready::Raw(b) => {
                    buf.extend_from_slice(&b);
                    continue;
                }
                Ready::Event(d) => d,
            };
            if let Event::Local(b) = &d.event {
                buf.extend_from_slice(b);
                continue;
            }
            buf.extend_from_slice(&d.rendered(render::SLOT, |e| render::render(e, &Local)));
            match &d.event {
                Event::Welcome { .. } => {
                    logged_in = true;
                    taker.told.answered(true);
                }
                // Before a name is taken, an error answers the login.
                Event::Error(e) if !logged_in => {
                    conn_event!(debug, taker.who, error = %e, "name refused");
                    buf.extend_from_slice(&render::notice(now(), &Local, "Choose another name:"));
                    taker.told.answered(false);
                }
                Event::Bye { reason } => {
                    bye = Some(reason.clone());
                    break;
                }
                Event::KeptPageEnd { upto } => taken = Some(*upto),
                // A page's messages may go out in an earlier write than
                // its end: the reader waits for the end all the same.
                Event::Message { msg, offline: true } => kept = kept.max(msg.id.0),
                Event::Error(e) => conn_event!(debug, taker.who, error = %e, "command refused"),
                _ => {}
            }
        }
        let writing = kept.max(taken.map_or(0, |t| t.0));
        if writing > 0 {
            taker.told.tell(|t| {
                t.writing.fetch_max(writing, SeqCst);
            });
        }
        // The kill, while the write waits (a client that does not read).
        let written = tokio::select! {
            biased;
            r = w.write_all(&buf) => r,
            why = kill.fired() => return WriterEnd::Killed(why),
        };
        if let Err(e) = written {
            return WriterEnd::Failed(e);
        }
        if let Some(upto) = taken {
            taker.told.tell(|t| t.written.store(upto.0, SeqCst));
            // The hub may be gone (shutting down): then nothing is taken.
            // (Boxed: a request to the hub is a large future for a task
            // that idles, and this one is rare.)
            let telling = Box::pin(taker.hub.kept_taken(taker.who.sid, upto));
            let _ = telling.await;
        }
        if let Some(reason) = bye {
            let _ = w.shutdown().await;
            return WriterEnd::Bye(reason);
        }
    }
}
