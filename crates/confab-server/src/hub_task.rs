//! The hub thread: the one owner of the [`Hub`], fed by a bounded channel.
//!
//! Doors never touch the hub directly. They hold a [`HubHandle`] and send
//! it requests. The hub runs on a dedicated OS thread, because it calls the
//! store synchronously (an account, a page of kept messages): it takes a
//! batch of requests off the channel, stages each against the hub, then
//! hands the batch's changes to the store thread ([`crate::store_thread`])
//! to commit in one transaction (group commit). While that commit runs it
//! stages the requests that arrive next; once it ends it hands the batch's
//! events to the connections' queues and seals the next batch. The hub
//! pushes into each [`ConnOutbox`] without waiting, so the thread never
//! blocks on a client. The request channel is bounded: a door that floods
//! it waits, which slows that door's reader and nobody else.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use confab_core::hub::{Caller, Counters, Journal};
use confab_core::store::{Account, StoreError};
use confab_core::{
    ChatError, ClientInfo, Command, Delivery, Envelope, Event, Hub, MsgId, NickKey, Outbox,
    QueueFull, SessionId, Text, Timestamp,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::audit::AuditLog;
use crate::auth::Guard;
use crate::cloak::Cloak;
use crate::flood::Gate;
use crate::queue;
use crate::reads::Readers;
use crate::store_thread::Committed;
use crate::time::now;

/// Requests queued for the hub before senders wait.
const REQUEST_QUEUE: usize = 4096;
/// Requests the hub takes off the channel in one go.
const REQUEST_BATCH: usize = 128;
/// Requests staged while a commit runs past which the hub waits for it:
/// a batch holds at most this many, so that its release does not pour
/// thousands of events at once into the queue of a client who sent them
/// (a burst a connection's queue can take, as before pipelining).
const STAGED_MAX: usize = REQUEST_BATCH;

/// One item of a connection's outbound queue: an event from the hub, or
/// bytes its own door wrote (help text, a usage error, a prompt), queued
/// behind the events so that the order the user sees is the order things
/// happened.
#[derive(Debug)]
pub enum Out {
    Event(Delivery),
    Raw(bytes::Bytes),
    /// An `Event::Read` being run by the read pool: the door waits for its
    /// answer here, in the queue's order ([`Out::ready`]).
    Pending(Delivery, oneshot::Receiver<Option<Event>>),
}

/// An item of the queue as a door renders it.
pub enum Ready {
    Event(Delivery),
    Raw(bytes::Bytes),
}

impl Out {
    /// The item as the door renders it: a pending read's answer once the
    /// pool has it (in the read's place, with its time and origin).
    async fn ready(self) -> Ready {
        match self.now() {
            Ok(ready) => ready,
            Err((read, answer)) => Out::answered(read, answer).await,
        }
    }

    /// The item at once, unless it is a read the pool is still running.
    fn now(self) -> Result<Ready, (Delivery, oneshot::Receiver<Option<Event>>)> {
        match self {
            Out::Event(d) => Ok(Ready::Event(d)),
            Out::Raw(b) => Ok(Ready::Raw(b)),
            Out::Pending(read, answer) => Err((read, answer)),
        }
    }

    async fn answered(read: Delivery, answer: oneshot::Receiver<Option<Event>>) -> Ready {
        // Nothing to say (history on joining an empty room).
        let Some(event) = crate::reads::answer(answer).await else {
            return Ready::Raw(bytes::Bytes::new());
        };
        let d = Envelope::new(read.time, event);
        if let Some(origin) = read.origin() {
            d.set_origin(origin);
        }
        Ready::Event(d)
    }
}

/// Hands the items of `batch` to `deliver` in order, emptying it: the
/// doors' one way of taking a batch off the queue. At a read the pool is
/// still running it stops and returns the rest, boxed, for the door to
/// await: few batches wait, and a wait in place would size every
/// connection's task.
#[must_use = "the rest of the batch is delivered only when awaited"]
pub fn deliver_all<'a>(
    batch: &'a mut Vec<Out>,
    mut deliver: impl FnMut(Ready) + Send + 'a,
) -> Option<std::pin::Pin<Box<impl std::future::Future<Output = ()> + Send + 'a>>> {
    let mut items = batch.drain(..);
    while let Some(item) = items.next() {
        match item.now() {
            Ok(ready) => deliver(ready),
            Err((read, answer)) => {
                return Some(Box::pin(async move {
                    deliver(Out::answered(read, answer).await);
                    for item in items {
                        deliver(item.ready().await);
                    }
                }));
            }
        }
    }
    None
}

/// The most one read takes off a socket ([`read_with`]).
const READ_SCRATCH: usize = 4096;

thread_local! {
    /// Where [`read_with`] reads, one per worker thread.
    static SCRATCH: std::cell::RefCell<[u8; READ_SCRATCH]> =
        const { std::cell::RefCell::new([0; READ_SCRATCH]) };
}

/// Reads what the socket has and hands it to `take`; how many bytes (0 at
/// the end of the stream). It reads into a scratch buffer of the worker
/// thread's, so a connection waiting for input holds no buffer at all:
/// `read_buf` reserves 64 bytes in an empty one before it waits, on every
/// idle connection.
pub fn read_with<'a, R: tokio::io::AsyncRead + Unpin>(
    r: &'a mut R,
    mut take: impl FnMut(&[u8]) + 'a,
) -> impl std::future::Future<Output = std::io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| poll_read_with(r, cx, &mut take))
}

/// [`read_with`] as a poll function.
pub fn poll_read_with<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    cx: &mut std::task::Context<'_>,
    take: impl FnOnce(&[u8]),
) -> std::task::Poll<std::io::Result<usize>> {
    SCRATCH.with_borrow_mut(|scratch| {
        let mut read = tokio::io::ReadBuf::new(scratch);
        std::task::ready!(std::pin::Pin::new(&mut *r).poll_read(cx, &mut read))?;
        take(read.filled());
        std::task::Poll::Ready(Ok(read.filled().len()))
    })
}

/// What a connection's buffer may keep between bursts.
pub const KEEP_BYTES: usize = 512;

/// Empties a buffer and gives back what it holds beyond `keep` bytes:
/// doors call it when their queue is empty with [`KEEP_BYTES`], so a busy
/// connection keeps a little room and a burst's growth goes back, and
/// with 0 once the connection is [`Quiet`].
pub fn release<T>(v: &mut Vec<T>, keep: usize) {
    v.clear();
    if v.capacity() * std::mem::size_of::<T>().max(1) > keep {
        *v = Vec::new();
    }
}

/// Drops an emptied map's first node (a B-tree keeps it when its last
/// entry goes): for the doors' maps of requests in flight, empty between
/// requests. (A B-tree, not a hash map: half the size in the task.)
pub fn release_map<K, V>(m: &mut std::collections::BTreeMap<K, V>) {
    if m.is_empty() {
        *m = std::collections::BTreeMap::new();
    }
}

/// The doors' one rule for giving buffers back ([`Quiet::give_back`]):
/// when the queue is empty, what a burst grew; once the connection has
/// been quiet a while, everything. A busy connection allocates nothing per
/// message, an idle one holds nothing. The door looks at its own timer's
/// wake-up ([`Quiet::set_timer`]), at most once per [`Quiet::AFTER`]
/// while busy.
#[derive(Default)]
pub struct Quiet {
    /// When to look next; none while nothing may be held.
    check: Option<tokio::time::Instant>,
    /// Something happened since the last look.
    busy: bool,
    /// A quiet spell was seen: the next give-back keeps nothing.
    spent: bool,
    /// Looks left at [`Quiet::SOON`]'s pace, not [`Quiet::AFTER`]'s.
    eager: u8,
}

impl Quiet {
    /// How long without a read or a delivery before buffers go back.
    pub const AFTER: std::time::Duration = std::time::Duration::from_secs(1);
    /// The quiet spell of a new connection, for its first second: one
    /// that went quiet once logged in parks soon (`park`), so that a
    /// burst of connections (every client back after a restart) does not
    /// hold a task each for long: the pages their tasks freed stay with
    /// the allocator (10,000 idle IRC clients: 1,700 bytes each at 10 ms,
    /// 2,000–2,100 at 50 ms, 2,400 at a second).
    pub const SOON: std::time::Duration = std::time::Duration::from_millis(10);

    /// How many of a new connection's looks come at [`Quiet::SOON`]'s
    /// pace: its first second.
    const EAGER_LOOKS: u8 = 100;

    /// A new connection's: quiet spells of [`Quiet::SOON`] for its first
    /// second.
    pub fn eager() -> Quiet {
        Quiet {
            eager: Self::EAGER_LOOKS,
            ..Quiet::default()
        }
    }

    /// A door's at the start of its loop: [`Quiet::eager`] for a new
    /// connection, and looking after a while either way (a resumed one
    /// parks again once quiet).
    pub fn starting(new: bool) -> Quiet {
        let mut quiet = if new {
            Quiet::eager()
        } else {
            Quiet::default()
        };
        quiet.busy();
        quiet
    }

    /// How long the next quiet spell is.
    fn spell(&mut self) -> std::time::Duration {
        if self.eager > 0 {
            self.eager -= 1;
            Self::SOON
        } else {
            Self::AFTER
        }
    }

    /// Something was read or delivered (buffers may be held).
    pub fn busy(&mut self) {
        self.busy = true;
        if self.check.is_none() {
            self.check = Some(tokio::time::Instant::now() + self.spell());
        }
    }

    /// When the door's timer should wake to look, if before its own
    /// deadline.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.check
    }

    /// Moves the door's timer to `due` (the door's own deadline) or to an
    /// earlier look, unless it is there already.
    pub fn set_timer(
        &self,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        due: tokio::time::Instant,
    ) {
        let wake = self.check.map_or(due, |at| at.min(due));
        if timer.deadline() != wake {
            timer.reset(wake);
        }
    }

    /// At a wake-up of the door's timer: true when the connection has been
    /// quiet since the last look (the next [`Quiet::give_back`] then keeps
    /// nothing); otherwise looks again later.
    pub fn due(&mut self, now: tokio::time::Instant) -> bool {
        match self.check {
            Some(at) if now >= at => {
                if std::mem::take(&mut self.busy) {
                    self.check = Some(now + self.spell());
                    false
                } else {
                    self.check = None;
                    self.spent = true;
                    true
                }
            }
            _ => false,
        }
    }

    /// Once the door's queue is empty: empties `batch`, giving back what
    /// a burst grew or, after a quiet spell, everything (the queue's room
    /// too). How many bytes the door's own buffers may keep; none while
    /// deliveries wait.
    pub fn give_back(
        &mut self,
        rx: &crate::queue::Receiver<Out>,
        batch: &mut Vec<Out>,
    ) -> Option<usize> {
        if !rx.is_empty() {
            return None;
        }
        let keep = if std::mem::take(&mut self.spent) {
            0
        } else {
            KEEP_BYTES
        };
        release(batch, keep);
        if keep == 0 {
            rx.shrink();
        }
        Some(keep)
    }
}

/// Tells the hub a session is gone when dropped armed: a connection task
/// that ends abnormally (a panic) leaves no session behind. Every door
/// holds one while its session lives and disarms it to say goodbye itself.
pub struct Leave {
    /// None once disarmed. (No flag beside it: every door's task holds
    /// one, and a few bytes decide the task's allocator class, see
    /// ARCHITECTURE.md.)
    hub: Option<HubHandle>,
    sid: SessionId,
}

impl Leave {
    pub fn new(hub: &HubHandle, sid: SessionId) -> Leave {
        Leave {
            hub: Some(hub.clone()),
            sid,
        }
    }

    /// The door ends the session itself.
    pub fn disarm(&mut self) {
        self.hub = None;
    }
}

impl Drop for Leave {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.take() {
            let sid = self.sid;
            tokio::spawn(async move {
                let _ = hub.disconnect(sid, "Connection error".into()).await;
            });
        }
    }
}

/// The hub's side of a connection's bounded outbound queue. Pushing never
/// waits; a full queue is reported to the hub, which then calls
/// [`Outbox::close`].
pub struct ConnOutbox {
    tx: queue::Sender<Out>,
    sid: SessionId,
    /// Where its reads run, and where its account is told (the session's
    /// pacer asks the gate). Shared by every outbox: nothing of its own.
    shared: Arc<ConnShared>,
}

/// What every connection's outbox reaches, one per server.
struct ConnShared {
    /// The flood limit, told which account each session is.
    flood: Arc<Gate>,
    /// The read pool (none: the hub reads itself).
    readers: Option<Arc<Readers>>,
}

impl ConnOutbox {
    /// An outbox with room for `capacity` items, the receiving end for the
    /// door, and the switch it watches to stop at once.
    pub fn new(
        sid: SessionId,
        capacity: usize,
        hub: &HubHandle,
    ) -> (ConnOutbox, queue::Receiver<Out>, KillSwitch) {
        let (tx, rx) = queue::queue(capacity);
        let kill = rx.kill_switch();
        // Until the hub has it: see `LoggingIn`.
        hub.0.logging_in.add(sid, tx.downgrade());
        let outbox = ConnOutbox {
            tx,
            sid,
            shared: hub.0.shared.clone(),
        };
        (outbox, rx, kill)
    }
}

impl Drop for ConnOutbox {
    /// The session is gone: the gate forgets its account.
    fn drop(&mut self) {
        self.shared.flood.set_account(self.sid, None);
    }
}

impl Outbox for ConnOutbox {
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull> {
        let out = match (&delivery.event, &self.shared.readers) {
            (Event::Read(read), Some(readers)) => {
                let answer = readers.submit((**read).clone());
                Out::Pending(delivery, answer)
            }
            _ => Out::Event(delivery),
        };
        match self.tx.try_send(out) {
            Ok(()) => Ok(()),
            Err(queue::TrySendError::Full(_)) => Err(QueueFull),
            // The door is gone: the connection is closing anyway.
            Err(queue::TrySendError::Closed(_)) => Ok(()),
        }
    }

    fn close(&self, reason: &str) {
        self.tx.kill(reason);
    }

    fn account(&self, account: Option<&NickKey>) {
        self.shared.flood.set_account(self.sid, account);
    }
}

/// Fires when the hub closes a connection without the queue (it is full).
pub type KillSwitch = queue::KillSwitch<Out>;

/// Why a door's output did not go out.
#[derive(Debug)]
pub enum Unwritten {
    /// The write failed (the client went away).
    Failed(std::io::Error),
    /// The hub closed the connection while the write waited (a client
    /// that does not read).
    Killed(crate::queue::Reason),
}

impl Unwritten {
    /// Who ended the connection, and why, as its log line says.
    pub fn closed(self) -> (crate::closed::ClosedBy, String) {
        use crate::closed::ClosedBy;
        match self {
            Unwritten::Failed(e) => (ClosedBy::WriteError, format!("Write error: {e}")),
            Unwritten::Killed(why) => (ClosedBy::Killed, why.to_string()),
        }
    }
}

/// Writes `out` and empties it, unless the connection is killed while the
/// write waits: the IRC and line doors' way of putting a batch on the
/// socket. (A plain poll loop: its future is a few words in every
/// connection's task.)
pub fn write_out<'a, W: tokio::io::AsyncWrite + Unpin>(
    w: &'a mut W,
    out: &'a mut Vec<u8>,
    kill: &'a mut KillSwitch,
) -> impl std::future::Future<Output = Result<(), Unwritten>> + 'a {
    let mut written = 0;
    std::future::poll_fn(move |cx| {
        let writing = poll_write_all(w, cx, out, &mut written);
        let result = std::task::ready!(unless_killed(writing, kill, cx));
        out.clear();
        std::task::Poll::Ready(result)
    })
}

/// Writes `buf[*written..]` to `w`, keeping its place in `written`
/// between polls: the one write loop of the doors' poll functions.
pub fn poll_write_all<W: tokio::io::AsyncWrite + Unpin>(
    w: &mut W,
    cx: &mut std::task::Context<'_>,
    buf: &[u8],
    written: &mut usize,
) -> std::task::Poll<std::io::Result<()>> {
    use std::task::Poll;
    while *written < buf.len() {
        match std::task::ready!(std::pin::Pin::new(&mut *w).poll_write(cx, &buf[*written..])) {
            Ok(0) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => *written += n,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

/// A door's write as it ends: done or failed, or, while it waits (a
/// client that does not read), killed once the hub fires `kill`.
pub fn unless_killed(
    writing: std::task::Poll<std::io::Result<()>>,
    kill: &mut KillSwitch,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Result<(), Unwritten>> {
    match writing {
        std::task::Poll::Ready(r) => std::task::Poll::Ready(r.map_err(Unwritten::Failed)),
        std::task::Poll::Pending => kill.poll_fired(cx).map(|why| Err(Unwritten::Killed(why))),
    }
}

/// An account looked up for a login (`None`: there is no such account).
#[derive(Debug)]
pub struct AccountLookup {
    pub account: Option<Account>,
}

enum Request {
    Connect {
        sid: SessionId,
        outbox: ConnOutbox,
        peer: SocketAddr,
        door: &'static str,
        info: ClientInfo,
    },
    Command {
        sid: SessionId,
        req: u64,
        cmd: Command,
        /// The last command of request `req`: fence it (see
        /// [`HubHandle::command_fenced`]).
        fence: bool,
    },
    Disconnect {
        sid: SessionId,
        reason: String,
    },
    Echo {
        sid: SessionId,
        bytes: bytes::Bytes,
        /// The door refused a line of this session: audit why.
        error: Option<String>,
    },
    Fence {
        sid: SessionId,
        req: u64,
    },
    KeptTaken {
        sid: SessionId,
        upto: MsgId,
    },
    Account {
        name: NickKey,
        reply: oneshot::Sender<Result<AccountLookup, StoreError>>,
    },
    /// Token revocation and password changes for callers with no
    /// session (REST), straight to the store.
    Tokens {
        op: TokenOp,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    AuthResult {
        name: NickKey,
        ok: bool,
    },
    Shutdown {
        reason: String,
        done: oneshot::Sender<()>,
    },
    /// A command of a caller with no session (REST), or with none only
    /// its standing checked.
    Call {
        caller: Caller,
        cmd: Option<Command>,
        reply: oneshot::Sender<Result<Vec<Event>, ChatError>>,
    },
    Announce {
        text: Text,
        reply: oneshot::Sender<usize>,
    },
    /// A record for the audit log from a door (a refused OPER).
    Audit {
        kind: &'static str,
        fields: serde_json::Value,
    },
    /// A way to wait until the audit log has everything so far on disk.
    AuditSync {
        reply: oneshot::Sender<Option<std::sync::mpsc::Receiver<()>>>,
    },
}

/// A call's answer held for the commit of its batch: the batch, where it
/// goes, what it is.
type Held = (
    u64,
    oneshot::Sender<Result<Vec<Event>, ChatError>>,
    Result<Vec<Event>, ChatError>,
);

/// The hub has stopped (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the server is shutting down")]
pub struct HubGone;

/// What a session-less caller asks of the store about tokens.
enum TokenOp {
    RevokeAll { name: NickKey, before: Timestamp },
    RevokeOne { id: String, expires: Timestamp },
    SetPassword { name: NickKey, hash: String },
}

/// A door's way to the hub. Cheap to clone: one count, and one pointer
/// in each connection's task (and in its `Leave`).
#[derive(Clone)]
pub struct HubHandle(Arc<HandleParts>);

struct HandleParts {
    tx: mpsc::Sender<Request>,
    next_sid: AtomicU64,
    guard: Arc<Guard>,
    cloak: Arc<Cloak>,
    /// The flood gate and the read pool.
    shared: Arc<ConnShared>,
    /// Connections whose session the hub does not know yet.
    logging_in: LoggingIn,
    /// Set once the server stops: HTTP connections end after the request
    /// under way.
    stopping: tokio::sync::watch::Sender<bool>,
    /// This server's connections parked now (`park`).
    parked: crate::hub_task::ParkedCount,
}

/// The queues of connections still logging in (an IRC client before
/// `USER`, a WebSocket before `hello`), which the hub cannot tell when the
/// server shuts down: [`HubHandle::close_unattached`] says goodbye on them instead, so
/// that shutdown need not wait out its grace for them. An entry goes at
/// the connection's `connect`; one whose connection ended first, at the
/// next sweep of the dead (the table never holds more than about twice
/// the connections logging in).
#[derive(Default)]
struct LoggingIn(std::sync::Mutex<Logins>);

#[derive(Default)]
struct Logins {
    queues: HashMap<SessionId, queue::WeakSender<Out>>,
    /// The length at which the dead are swept next (at least
    /// [`LoggingIn::SWEEP_FROM`]).
    sweep_at: usize,
}

impl LoggingIn {
    /// Fewest entries before the dead are swept.
    const SWEEP_FROM: usize = 64;

    fn lock(&self) -> std::sync::MutexGuard<'_, Logins> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, sid: SessionId, queue: queue::WeakSender<Out>) {
        let mut logins = self.lock();
        if logins.queues.len() >= logins.sweep_at.max(Self::SWEEP_FROM) {
            logins.queues.retain(|_, q| q.alive());
            logins.sweep_at = 2 * logins.queues.len();
        }
        logins.queues.insert(sid, queue);
    }

    fn remove(&self, sid: SessionId) {
        self.lock().queues.remove(&sid);
    }

    /// Says goodbye on each queue, as the hub does to its sessions: the
    /// door says so in its protocol and closes. A full queue is killed.
    fn close_all(&self, reason: &str) {
        let queues = std::mem::take(&mut self.lock().queues);
        let bye = Envelope::new(
            crate::time::now(),
            Event::Bye {
                reason: reason.to_owned(),
            },
        );
        for queue in queues.values() {
            if let Err(queue::TrySendError::Full(_)) = queue.try_send(Out::Event(bye.clone())) {
                queue.kill(reason);
            }
        }
    }
}

impl HubHandle {
    /// A fresh session id, unique for the life of the server.
    pub fn new_session(&self) -> SessionId {
        SessionId(self.0.next_sid.fetch_add(1, Ordering::Relaxed))
    }

    /// This server's connections parked now (`park`).
    pub fn parked(&self) -> &crate::hub_task::ParkedCount {
        &self.0.parked
    }

    /// The flood limit every door applies.
    pub fn flood(&self) -> &Arc<Gate> {
        &self.0.shared.flood
    }

    /// The limits on logins, registrations and password hashing.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.0.guard
    }

    /// The host a client at `ip` has: the cloak of its address (the one
    /// rule, [`Cloak`]), computed once per connection by its door (not on
    /// the hub thread), which may keep it too (IRC's own mask).
    pub fn cloak_host(&self, ip: std::net::IpAddr) -> Arc<str> {
        self.0.cloak.host(ip).into()
    }

    /// Connects session `sid`, at `peer`, by `door`. `info.host` is the
    /// cloak of `peer` ([`HubHandle::cloak_host`]); the hub thread adds
    /// the address and the door.
    pub async fn connect(
        &self,
        sid: SessionId,
        outbox: ConnOutbox,
        peer: SocketAddr,
        door: &'static str,
        info: ClientInfo,
    ) -> Result<(), HubGone> {
        debug_assert_eq!(&*info.host, &*self.cloak_host(peer.ip()), "a cloak");
        let sent = self
            .send(Request::Connect {
                sid,
                outbox,
                peer,
                door,
                info,
            })
            .await;
        // Now the hub's to close (or gone).
        self.0.logging_in.remove(sid);
        sent
    }

    pub async fn command(&self, sid: SessionId, cmd: Command) -> Result<(), HubGone> {
        self.command_req(sid, 0, cmd).await
    }

    /// Like [`HubHandle::command`], numbered: the events it causes carry
    /// `req` in their origin.
    pub async fn command_req(&self, sid: SessionId, req: u64, cmd: Command) -> Result<(), HubGone> {
        self.send(Request::Command {
            sid,
            req,
            cmd,
            fence: false,
        })
        .await
    }

    /// [`HubHandle::command_req`] then [`HubHandle::fence`], in one
    /// request: the hub's channel carries one item per command, not two.
    pub async fn command_fenced(
        &self,
        sid: SessionId,
        req: u64,
        cmd: Command,
    ) -> Result<(), HubGone> {
        self.send(Request::Command {
            sid,
            req,
            cmd,
            fence: true,
        })
        .await
    }

    /// Closes the connections the hub cannot tell at its shutdown: those
    /// still logging in, with `reason`, and HTTP connections once the
    /// request under way is answered (an idle keep-alive at once).
    pub fn close_unattached(&self, reason: &str) {
        self.0.stopping.send_replace(true);
        self.0.logging_in.close_all(reason);
    }

    /// Turns true when the server stops (see [`HubHandle::close_unattached`]).
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.stopping.subscribe()
    }

    pub async fn disconnect(&self, sid: SessionId, reason: String) -> Result<(), HubGone> {
        self.send(Request::Disconnect { sid, reason }).await
    }

    /// Queues a door's own output (help, a usage error) for session `sid`
    /// in order with the hub's replies to the commands sent before it;
    /// `error` is audited as a refusal.
    pub async fn echo(
        &self,
        sid: SessionId,
        bytes: bytes::Bytes,
        error: Option<String>,
    ) -> Result<(), HubGone> {
        self.send(Request::Echo { sid, bytes, error }).await
    }

    /// Queues `Event::Fence(req)` for the session behind everything its
    /// earlier commands caused: the end of request `req`'s replies. Part
    /// of the batch, so it costs no commit of its own.
    pub async fn fence(&self, sid: SessionId, req: u64) -> Result<(), HubGone> {
        self.send(Request::Fence { sid, req }).await
    }

    /// The client of session `sid` has taken the page of kept messages
    /// that ended with `upto` ([`confab_core::Event::KeptPageEnd`]): the
    /// hub marks them delivered and hands out the next page. Not a
    /// command of the user's (no rate limit, nothing audited).
    pub async fn kept_taken(&self, sid: SessionId, upto: MsgId) -> Result<(), HubGone> {
        self.send(Request::KeptTaken { sid, upto }).await
    }

    /// The account called `name`, for checking a password.
    pub async fn account(
        &self,
        name: NickKey,
    ) -> Result<Result<AccountLookup, StoreError>, HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Account { name, reply }).await?;
        answer.await.map_err(|_| HubGone)
    }

    /// Voids `name`'s login tokens issued before `before`.
    pub async fn revoke_tokens(
        &self,
        name: NickKey,
        before: Timestamp,
    ) -> Result<Result<(), StoreError>, HubGone> {
        self.tokens(TokenOp::RevokeAll { name, before }).await
    }

    /// Voids login token `id` (until `expires`).
    pub async fn revoke_token(
        &self,
        id: String,
        expires: Timestamp,
    ) -> Result<Result<(), StoreError>, HubGone> {
        self.tokens(TokenOp::RevokeOne { id, expires }).await
    }

    /// Sets account `name`'s password hash (voiding its older tokens).
    pub async fn set_password(
        &self,
        name: NickKey,
        hash: String,
    ) -> Result<Result<(), StoreError>, HubGone> {
        self.tokens(TokenOp::SetPassword { name, hash }).await
    }

    async fn tokens(&self, op: TokenOp) -> Result<Result<(), StoreError>, HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Tokens { op, reply }).await?;
        answer.await.map_err(|_| HubGone)
    }

    /// Tells the hub whether a password for `name` was right, so that
    /// repeated failures slow further attempts down.
    pub async fn auth_result(&self, name: NickKey, ok: bool) -> Result<(), HubGone> {
        self.send(Request::AuthResult { name, ok }).await
    }

    /// Tells every session goodbye and stops the hub once they have all
    /// been told and the store has everything.
    pub async fn shutdown(&self, reason: String) -> Result<(), HubGone> {
        let (done, wait) = oneshot::channel();
        self.send(Request::Shutdown { reason, done }).await?;
        wait.await.map_err(|_| HubGone)
    }

    /// Runs `cmd` for a caller with no session (REST: an account, or the
    /// admin), as a session's command runs: the events a session would
    /// have been told in reply, or the refusal. The answer comes once the
    /// batch it was part of is committed, so a message it sent is stored
    /// when the caller hears of it; a read it asked for is run (on the
    /// read pool, if there is one) and its answer is among the events.
    pub async fn call(
        &self,
        caller: Caller,
        cmd: Command,
    ) -> Result<Result<Vec<Event>, ChatError>, HubGone> {
        let events = match self.ask(caller, Some(cmd)).await? {
            Ok(events) => events,
            Err(e) => return Ok(Err(e)),
        };
        let mut answer = Vec::with_capacity(events.len());
        for event in events {
            let event = match (event, &self.0.shared.readers) {
                (Event::Read(read), Some(readers)) => {
                    crate::reads::answer(readers.submit(*read)).await
                }
                (event, _) => Some(event),
            };
            match event {
                Some(Event::Error(e)) => return Ok(Err(e)),
                Some(event) => answer.push(event),
                None => {}
            }
        }
        Ok(Ok(answer))
    }

    /// Whether `caller` may act now (see [`Hub::standing`]): a REST login
    /// asks before it issues a token.
    pub async fn standing(&self, caller: Caller) -> Result<Result<(), ChatError>, HubGone> {
        Ok(self.ask(caller, None).await?.map(drop))
    }

    async fn ask(
        &self,
        caller: Caller,
        cmd: Option<Command>,
    ) -> Result<Result<Vec<Event>, ChatError>, HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Call { caller, cmd, reply }).await?;
        answer.await.map_err(|_| HubGone)
    }

    /// Announces `text` to every session on every door; how many sessions
    /// it went to.
    pub async fn announce(&self, text: Text) -> Result<usize, HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Announce { text, reply }).await?;
        answer.await.map_err(|_| HubGone)
    }

    /// Records `fields` as a `kind` entry of the audit log.
    pub async fn audit(
        &self,
        kind: &'static str,
        fields: serde_json::Value,
    ) -> Result<(), HubGone> {
        self.send(Request::Audit { kind, fields }).await
    }

    /// Waits until everything recorded in the audit log so far is on disk
    /// (its writer runs behind the hub).
    pub async fn audit_synced(&self) -> Result<(), HubGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::AuditSync { reply }).await?;
        if let Some(wait) = answer.await.map_err(|_| HubGone)? {
            let _ = tokio::task::spawn_blocking(move || wait.recv()).await;
        }
        Ok(())
    }

    async fn send(&self, req: Request) -> Result<(), HubGone> {
        self.0.tx.send(req).await.map_err(|_| HubGone)
    }
}

/// How many of a server's connections are parked now (`park`).
#[derive(Clone, Default)]
pub struct ParkedCount(Arc<std::sync::atomic::AtomicUsize>);

impl ParkedCount {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// One more parked (the process's gauge too).
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
        crate::metrics::parked().increment(1.0);
    }

    /// One woken.
    pub(crate) fn sub(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        crate::metrics::parked().decrement(1.0);
    }
}

/// What every door reaches through the hub's handle, beside the hub.
pub struct ForDoors {
    /// The flood limit.
    pub flood: Arc<Gate>,
    /// The limits on logins, registrations and password hashing.
    pub guard: Arc<Guard>,
    /// The hosts users see.
    pub cloak: Arc<Cloak>,
    /// Where reads run (none: on the hub thread).
    pub readers: Option<Arc<Readers>>,
    /// The count of the server's parked connections.
    pub parked: crate::hub_task::ParkedCount,
}

/// Starts the hub thread on `hub`. `committed` is signalled when a
/// commit its store runs in the background ends (none: the store commits
/// at once).
pub fn spawn_hub(
    hub: Hub<ConnOutbox>,
    committed: Option<Committed>,
    audit: Option<AuditLog>,
    doors: ForDoors,
) -> (HubHandle, std::thread::JoinHandle<()>) {
    let ForDoors {
        flood,
        guard,
        cloak,
        readers,
        parked,
    } = doors;
    let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
    guard.set_lockdown(hub.lockdown());
    let handle = HubHandle(Arc::new(HandleParts {
        tx,
        next_sid: AtomicU64::new(1),
        guard: guard.clone(),
        cloak,
        shared: Arc::new(ConnShared { flood, readers }),
        logging_in: LoggingIn::default(),
        stopping: tokio::sync::watch::Sender::new(false),
        parked,
    }));
    let mut runner = Runner {
        counted: hub.counters(),
        metrics: HubMetrics::new(),
        answers: VecDeque::new(),
        failed: std::collections::HashSet::new(),
        hub,
        audit,
        guard,
    };
    let committed = committed.unwrap_or_default();
    let thread = std::thread::Builder::new()
        .name("confab-hub".into())
        .spawn(move || {
            // The thread's own loop, to wait on requests and commits at
            // once; the hub's work in it never awaits.
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("the hub thread's event loop");
            rt.block_on(runner.run(rx, committed));
        })
        .expect("spawning the hub thread");
    (handle, thread)
}

/// The hub thread's metric handles, registered once.
struct HubMetrics {
    deliveries: metrics::Counter,
    message_deliveries: metrics::Counter,
    sendq_disconnects: metrics::Counter,
    commit_failures: metrics::Counter,
    users_online: metrics::Gauge,
    sessions: metrics::Gauge,
    rooms: metrics::Gauge,
}

impl HubMetrics {
    fn new() -> HubMetrics {
        use crate::metrics as m;
        m::handle();
        HubMetrics {
            deliveries: metrics::counter!(m::DELIVERIES),
            message_deliveries: metrics::counter!(m::MESSAGE_DELIVERIES),
            sendq_disconnects: metrics::counter!(m::SENDQ_DISCONNECTS),
            commit_failures: metrics::counter!(m::STORE_COMMIT_FAILURES),
            users_online: metrics::gauge!(m::USERS_ONLINE),
            sessions: metrics::gauge!(m::SESSIONS),
            rooms: metrics::gauge!(m::ROOMS),
        }
    }
}

/// The hub thread's state: the hub, and what the thread keeps beside it
/// (metrics, the audit log, calls held for commit). Nothing per session:
/// a session's door and address are the hub's (`Hub::session_door`,
/// `Hub::session_address`).
struct Runner {
    hub: Hub<ConnOutbox>,
    metrics: HubMetrics,
    audit: Option<AuditLog>,
    /// The hub's counters as last reported to the metrics.
    counted: Counters,
    /// Calls' answers held until their batch commits.
    answers: VecDeque<Held>,
    /// Messages whose commit failed, while answers wait (a REST message
    /// among them is an error after all).
    failed: std::collections::HashSet<MsgId>,
    /// Told of the lockdown switch after every batch.
    guard: Arc<Guard>,
}

impl Runner {
    /// Takes requests in batches and stages them. A batch is sealed and
    /// its commit begun as soon as no commit runs; while one runs, the
    /// requests that arrive are staged for the next (pipelined group
    /// commit), which is sealed when that commit ends.
    async fn run(&mut self, mut rx: mpsc::Receiver<Request>, committed: Committed) {
        self.count();
        let mut batch = Vec::with_capacity(REQUEST_BATCH);
        let mut staged = 0;
        loop {
            let first = if self.hub.committing() {
                tokio::select! {
                    biased;
                    () = committed.notified() => {
                        let now = now();
                        if self.hub.poll_commit(now) {
                            if self.hub.has_staged() {
                                self.hub.finish(now);
                            }
                            staged = 0;
                            self.after();
                        }
                        continue;
                    }
                    req = rx.recv() => req,
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else {
                break;
            };
            batch.push(first);
            while batch.len() < REQUEST_BATCH {
                match rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            let now = now();
            staged += batch.len();
            for req in batch.drain(..) {
                if let Some(done) = self.request(req, now) {
                    self.after();
                    // Everything on disk before the server says it stopped.
                    drop(self.audit.take());
                    let _ = done.send(());
                    return;
                }
            }
            if !self.hub.committing() || staged >= STAGED_MAX {
                self.hub.finish(now);
                staged = 0;
            }
            self.after();
        }
        let now = now();
        self.hub.finish(now);
        self.hub.settle(now);
        self.after();
    }

    /// What follows staging or delivering: the audit log gets the journal,
    /// REST callers the answers of the batches delivered, the metrics
    /// what changed.
    fn after(&mut self) {
        self.audit_journal();
        if let Some(a) = &mut self.audit {
            a.flush();
        }
        self.guard.set_lockdown(self.hub.lockdown());
        self.answer();
        self.count();
    }

    /// Sends the REST answers of the batches delivered, now that they are
    /// committed (answers are held in batch order); a message whose commit
    /// failed is an error after all.
    fn answer(&mut self) {
        self.failed.extend(self.hub.take_failed());
        let released = self.hub.released();
        while self
            .answers
            .front()
            .is_some_and(|(batch, ..)| *batch <= released)
        {
            let (_, reply, answer) = self.answers.pop_front().expect("due");
            let unsaved = |e: &Event| matches!(e, Event::Message { msg, .. } if self.failed.contains(&msg.id));
            let answer = match answer {
                Ok(events) if events.iter().any(unsaved) => Err(ChatError::Storage(
                    "the message could not be stored".to_owned(),
                )),
                other => other,
            };
            let _ = reply.send(answer);
        }
        if self.answers.is_empty() {
            self.failed.clear();
        }
    }

    /// Reports what the hub did since the last call to the metrics, and
    /// how many users, sessions and rooms there are (counts the hub
    /// keeps: nothing here grows with the users).
    fn count(&mut self) {
        let now = self.hub.counters();
        let then = std::mem::replace(&mut self.counted, now);
        let m = &self.metrics;
        m.deliveries.increment(now.deliveries - then.deliveries);
        m.message_deliveries
            .increment(now.message_deliveries - then.message_deliveries);
        m.sendq_disconnects
            .increment(now.queue_drops - then.queue_drops);
        m.commit_failures
            .increment(now.commit_failures - then.commit_failures);
        m.users_online.set(self.hub.online_users() as f64);
        m.sessions.set(self.hub.session_count() as f64);
        m.rooms.set(self.hub.room_count() as f64);
    }

    /// Runs one request; `Some` when it was the shutdown.
    fn request(&mut self, req: Request, now: Timestamp) -> Option<oneshot::Sender<()>> {
        match req {
            Request::Connect {
                sid,
                outbox,
                peer,
                door,
                mut info,
            } => {
                // The audit log keeps the real address; users see a cloak.
                self.audit(
                    now,
                    "connect",
                    json!({"sid": sid.0, "peer": peer.to_string(), "door": door}),
                );
                info.addr = Some(peer.ip());
                info.door = crate::metrics::door_number(door);
                self.hub.connect_with(sid, outbox, info, now);
            }
            Request::Command {
                sid,
                req,
                cmd,
                fence,
            } => {
                tracing::debug!(sid = sid.0, command = cmd.name(), "command");
                if let Some(a) = &mut self.audit {
                    a.command(now, sid, self.hub.nick_of(sid).cloned(), cmd.name());
                }
                let login = match &cmd {
                    Command::Login(nick) => Some((nick.to_string(), false)),
                    Command::LoginAccount(a) | Command::Identify(a) => {
                        Some((a.name.to_string(), true))
                    }
                    _ => None,
                };
                // (Asked before the command runs: a refused login may end
                // the session.)
                let ip = login.as_ref().and_then(|_| self.hub.session_address(sid));
                let login_door = login.as_ref().and_then(|_| self.door_of(sid));
                let (messages, journal) = (self.hub.counters().messages, self.hub.journal().len());
                self.hub.stage_req(sid, req, cmd, now);
                if fence {
                    self.hub.stage_fence(sid, req, now);
                }
                let sent = self.hub.counters().messages - messages;
                // The common case: nothing to count or log.
                if sent == 0 && login.is_none() {
                    return None;
                }
                if sent > 0
                    && let Some(door) = login_door.or_else(|| self.door_of(sid))
                {
                    door.messages.increment(sent);
                }
                if let (Some((name, account)), Some(door), Some(ip)) = (login, login_door, ip) {
                    // Refused: the journal says why.
                    let refused = self.hub.journal()[journal..].iter().find_map(|j| match j {
                        Journal::Refused { sid: s, error } if *s == sid => Some(error.to_string()),
                        _ => None,
                    });
                    crate::auth::log_login(
                        door,
                        Some(&name),
                        ip,
                        account,
                        refused.as_deref().map_or(Ok(()), Err),
                    );
                }
            }
            Request::Disconnect { sid, reason } => {
                // Audited from the journal, whoever ended the session.
                self.hub.stage_disconnect(sid, &reason, now);
            }
            Request::Echo { sid, bytes, error } => {
                if let Some(error) = error {
                    let nick = self.hub.nick_of(sid).map(|n| n.to_string());
                    let fields = json!({"sid": sid.0, "nick": nick, "error": error});
                    self.audit(now, "error", fields);
                }
                // Staged behind what the hub has for this session, and
                // part of the batch: no commit of its own.
                self.hub.stage_local(sid, bytes, now);
            }
            Request::Fence { sid, req } => self.hub.stage_fence(sid, req, now),
            Request::KeptTaken { sid, upto } => self.hub.stage_kept_taken(sid, upto, now),
            Request::Account { name, reply } => {
                let lookup = self
                    .hub
                    .account(&name)
                    .map(|account| AccountLookup { account });
                let _ = reply.send(lookup);
            }
            Request::Tokens { op, reply } => {
                let (what, done) = match op {
                    TokenOp::RevokeAll { name, before } => {
                        let done = self.hub.revoke_tokens(&name, before);
                        ("logout-everywhere", done.map(|()| Some(name)))
                    }
                    TokenOp::RevokeOne { id, expires } => {
                        ("logout", self.hub.revoke_token(&id, expires).map(|()| None))
                    }
                    TokenOp::SetPassword { name, hash } => {
                        let done = self.hub.set_account_password(&name, &hash, now);
                        ("password", done.map(|()| Some(name)))
                    }
                };
                if let Ok(Some(name)) = &done {
                    self.audit(now, what, json!({"name": name.as_str()}));
                }
                let _ = reply.send(done.map(drop));
            }
            Request::AuthResult { name, ok } => {
                self.audit(now, "login", json!({"name": name.as_str(), "ok": ok}));
            }
            Request::Call { caller, cmd, reply } => {
                let answer = self.call(&caller, cmd, now);
                self.answers.push_back((self.hub.batch(), reply, answer));
            }
            Request::Announce { text, reply } => {
                self.audit(now, "announce", json!({"text": text.as_str()}));
                let _ = reply.send(self.hub.session_count());
                self.hub.announce(text, now);
            }
            Request::Audit { kind, fields } => self.audit(now, kind, fields),
            Request::AuditSync { reply } => {
                let _ = reply.send(self.audit.as_mut().and_then(AuditLog::sync));
            }
            Request::Shutdown { reason, done } => {
                self.hub.finish(now);
                self.hub.shutdown(&reason, now);
                self.audit_journal();
                self.audit(now, "shutdown", json!({"reason": reason}));
                return Some(done);
            }
        }
        None
    }

    /// Runs a call with no session (see [`HubHandle::call`]); audited
    /// like a session's command, by the caller's name.
    fn call(
        &mut self,
        caller: &Caller,
        cmd: Option<Command>,
        now: Timestamp,
    ) -> Result<Vec<Event>, ChatError> {
        let Some(cmd) = cmd else {
            return self.hub.standing(caller, now).map(|()| Vec::new());
        };
        let name = match caller {
            Caller::Account(name) => name.as_str(),
            Caller::Admin => "admin",
        };
        tracing::debug!(caller = name, command = cmd.name(), "call");
        let fields = json!({"nick": name, "command": cmd.name(), "door": "rest"});
        self.audit(now, "command", fields);
        let messages = self.hub.counters().messages;
        let answer = self.hub.call(caller, cmd, now);
        let sent = self.hub.counters().messages - messages;
        if sent > 0 {
            crate::metrics::door("rest").messages.increment(sent);
        }
        answer
    }

    /// The metrics of the door session `sid` came by, while connected.
    fn door_of(&self, sid: SessionId) -> Option<&'static crate::metrics::Door> {
        let number = self.hub.session_door(sid)?;
        Some(crate::metrics::door_at(number))
    }

    fn audit(&mut self, now: Timestamp, kind: &'static str, fields: serde_json::Value) {
        if let Some(a) = &mut self.audit {
            a.record(now, kind, fields);
        }
    }

    fn audit_journal(&mut self) {
        let journal = self.hub.take_journal();
        let Some(a) = &mut self.audit else {
            return;
        };
        for entry in journal {
            match entry {
                Journal::Message(msg) => a.message(msg),
                Journal::Refused { sid, error } => {
                    let nick = self.hub.nick_of(sid).map(|n| n.to_string());
                    a.record(
                        now(),
                        "error",
                        json!({"sid": sid.0, "nick": nick, "error": error.to_string()}),
                    );
                }
                Journal::Oper { by, action, detail } => {
                    a.record(
                        now(),
                        "oper",
                        json!({"nick": by, "action": action, "detail": detail}),
                    );
                }
                Journal::Left { sid, nick, reason } => {
                    let nick = nick.map(|n| n.to_string());
                    a.record(
                        now(),
                        "disconnect",
                        json!({"sid": sid.0, "nick": nick, "reason": reason}),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Quiet;
    use std::time::Duration;

    #[test]
    fn buffers_go_back_after_a_quiet_spell_not_while_busy() {
        let mut quiet = Quiet::default();
        assert_eq!(quiet.deadline(), None, "nothing held, nothing to look at");
        quiet.busy();
        let first = quiet.deadline().expect("a look is due");
        assert!(!quiet.due(first - Duration::from_millis(1)), "not yet");
        assert!(!quiet.due(first), "busy since: look again later");
        let second = quiet.deadline().expect("looks again");
        assert_eq!(second, first + Quiet::AFTER);
        quiet.busy();
        quiet.busy();
        assert_eq!(
            quiet.deadline(),
            Some(second),
            "traffic does not move the look"
        );
        assert!(!quiet.due(second));
        let third = quiet.deadline().expect("looks again");
        assert!(quiet.due(third), "a whole spell without traffic");
        assert_eq!(quiet.deadline(), None);
    }

    #[tokio::test]
    async fn logins_are_told_goodbye_at_shutdown_and_the_table_forgets_the_gone() {
        use super::{Event, LoggingIn, Out, SessionId};
        use crate::queue;
        let table = LoggingIn::default();
        // Connections that ended without logging in leave dead entries,
        // swept as the table grows.
        for i in 0..1_000 {
            let (tx, _rx) = queue::queue::<Out>(4);
            table.add(SessionId(i), tx.downgrade());
        }
        let held = table.lock().queues.len();
        assert!(held <= LoggingIn::SWEEP_FROM, "{held} entries");
        // A live one hears goodbye; a full one is killed; a connected one
        // (the hub's to tell) neither.
        let (tx, mut rx) = queue::queue::<Out>(4);
        table.add(SessionId(5_000), tx.downgrade());
        let (full_tx, full_rx) = queue::queue::<Out>(1);
        full_tx.try_send(Out::Raw("queued".into())).ok().unwrap();
        let mut full = full_rx.kill_switch();
        table.add(SessionId(5_001), full_tx.downgrade());
        let (tx2, mut rx2) = queue::queue::<Out>(4);
        table.add(SessionId(5_002), tx2.downgrade());
        table.remove(SessionId(5_002));
        table.close_all("the server is shutting down");
        let mut got = Vec::new();
        rx.recv_many(&mut got, 8).await.unwrap();
        assert!(
            matches!(&got[..], [Out::Event(d)] if matches!(&d.event, Event::Bye { reason } if reason == "the server is shutting down")),
            "no goodbye"
        );
        assert_eq!(&*full.fired().await, "the server is shutting down");
        drop(tx2);
        assert_eq!(
            rx2.recv_many(&mut got, 8).await,
            Err(queue::Ended::Closed),
            "the connected one heard nothing"
        );
        drop((tx, full_tx));
    }
}
