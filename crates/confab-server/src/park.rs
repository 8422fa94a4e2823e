//! Idle connections without a task of their own.
//!
//! A chat connection is a task, and tokio keeps a registration for its
//! socket: about 1,150 bytes of every connection (the task's 896-byte
//! cell, the registration's 256), most of what an idle one costs. A
//! plain TCP connection that has been quiet a while (`Quiet`) and
//! is waiting for nothing but its client, its queue and its timer *parks*
//! instead: its door's loop ends and hands over its state (a [`Napping`]),
//! which waits here in a box, and its socket, which leaves tokio for the
//! epoll set of the process's parking thread. The first of a byte from
//! the client (or its close), an item or the kill in the connection's
//! queue, or the door's deadline (its next PING) wakes it: the thread
//! takes the socket back to tokio and spawns the door's loop again
//! ([`Door::resume`]), where the connection goes on as if it had waited in
//! its task all along.
//!
//! One thread for the process, started at the first park: a parked
//! connection costs its state's box, a slot (and a timer, if its door
//! has one: the line door has none) here, and an `Arc` the size of its
//! token for its queue's waker.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tracing::warn;

use crate::hub_task::{HubHandle, KillSwitch, Leave, Out, ParkedCount};
use crate::queue;
use crate::rewind::Rewind;

/// A door's state of a connection (its `Conn`), as it parks.
pub trait Door: Send + Sized + 'static {
    /// The hub, which has the server's count of parked connections.
    fn hub(&self) -> &HubHandle;

    /// The door's loop again, on the socket given back.
    fn resume(
        nap: Napping<Self>,
        stream: Rewind<tokio::net::TcpStream>,
    ) -> impl Future<Output = Option<Parked<Self>>> + Send + 'static;
}

/// A parked connection: all it keeps but its socket.
pub struct Napping<C> {
    /// Its door's state.
    pub conn: C,
    /// Its queue, which wakes it.
    pub rx: queue::Receiver<Out>,
    /// Its session's guard.
    pub leave: Leave,
}

impl<C> Napping<C> {
    /// Its parts, for the door's loop: the state, the queue and its kill
    /// switch (made again from the queue: a parked connection keeps one
    /// pointer less), the guard.
    pub fn into_parts(self) -> (C, queue::Receiver<Out>, KillSwitch, Leave) {
        let kill = self.rx.kill_switch();
        (self.conn, self.rx, kill, self.leave)
    }
}

/// What a door's loop returns when it parks: its socket, when its timer
/// is next due (none: it has no timer), and the rest.
pub struct Parked<C> {
    pub stream: TcpStream,
    pub until: Option<tokio::time::Instant>,
    pub state: Napping<C>,
}

/// The connection `state` parked on `stream`'s socket, its timer due
/// `until` (none: it has no timer). `None` when the socket is not one
/// that parks ([`can_take`]), or could not leave tokio's reactor: then it
/// is closed, and the state dropped ends the session (its `leave`).
pub fn parked<S: 'static, C>(
    stream: S,
    until: Option<tokio::time::Instant>,
    state: Napping<C>,
) -> Option<Parked<C>> {
    let stream = take(stream)?;
    Some(Parked {
        stream,
        until,
        state,
    })
}

/// Whether `stream` is a plain TCP socket with nothing rewound, which can
/// park (TLS and the IRC-over-WebSocket pipe have state beyond the socket).
pub fn can_take<S: 'static>(stream: &S) -> bool {
    (stream as &dyn std::any::Any)
        .downcast_ref::<Rewind<tokio::net::TcpStream>>()
        .is_some_and(Rewind::is_plain)
}

/// The socket of `stream`, out of tokio, if [`can_take`] and it could
/// leave tokio's reactor (else `None`, and it is closed).
fn take<S: 'static>(stream: S) -> Option<TcpStream> {
    let mut slot = Some(stream);
    let tcp = (&mut slot as &mut dyn std::any::Any)
        .downcast_mut::<Option<Rewind<tokio::net::TcpStream>>>()?
        .take()?;
    tcp.into_plain().ok()?.into_std().ok()
}

/// Runs a door's loop in a task of its own, and parks it whenever it
/// returns [`Parked`]; `guards` (its place in the limits, its gauge) live
/// as long as the connection, in the task or parked with it.
pub fn spawn<C: Door, G: Send + 'static>(
    guards: G,
    serving: impl Future<Output = Option<Parked<C>>> + Send + 'static,
) {
    // Not `async move { serving.await }`: an async block keeps the
    // future it captured and the future it awaits in two slots, which
    // doubled every connection's task (4.3 KB for IRC). `map` holds it
    // once.
    tokio::spawn(serving.map(move |parked| {
        if let Some(parked) = parked {
            park(parked, guards);
        }
    }));
}

/// A parked connection with its guards.
struct Sleeping<C, G> {
    state: Napping<C>,
    guards: G,
}

/// [`Sleeping`], whatever its door.
trait Sleeper: Send {
    fn count(&self) -> &ParkedCount;
    fn wait(&mut self, waker: &Waker) -> bool;
    fn wake(self: Box<Self>, stream: Rewind<tokio::net::TcpStream>);
}

impl<C: Door, G: Send + 'static> Sleeper for Sleeping<C, G> {
    fn count(&self) -> &ParkedCount {
        self.state.conn.hub().parked()
    }

    /// Leaves `waker` with the connection's queue, to be woken by its
    /// next item, its kill or its end; false if one is there already.
    fn wait(&mut self, waker: &Waker) -> bool {
        self.state.rx.park(waker)
    }

    fn wake(self: Box<Self>, stream: Rewind<tokio::net::TcpStream>) {
        let Sleeping { state, guards } = *self;
        spawn(guards, C::resume(state, stream));
    }
}

/// A parked connection.
struct Slot {
    sleeper: Box<dyn Sleeper>,
    stream: TcpStream,
    /// Its token's upper half: a token of a slot since reused wakes
    /// nothing.
    generation: u32,
    until: Option<Instant>,
    /// Where it runs again.
    runtime: tokio::runtime::Handle,
}

#[derive(Default)]
struct State {
    slots: slab::Slab<Slot>,
    generation: u32,
    /// Every slot's deadline, earliest first.
    timers: BTreeSet<(Instant, u64)>,
    /// Tokens whose queue woke them.
    woken: Vec<u64>,
}

impl State {
    /// Takes the slot of `token` out of the set, if it is still there.
    fn take(&mut self, registry: &mio::Registry, token: u64) -> Option<Slot> {
        let key = (token & u64::from(u32::MAX)) as usize;
        let generation = (token >> 32) as u32;
        if self.slots.get(key)?.generation != generation {
            return None;
        }
        let slot = self.slots.remove(key);
        slot.sleeper.count().sub();
        if let Some(until) = slot.until {
            self.timers.remove(&(until, token));
        }
        // (It is closed if this fails, which it does not: the socket is
        // in the set.)
        let _ = registry.deregister(&mut SourceFd(&slot.stream.as_raw_fd()));
        Some(slot)
    }
}

struct Parking {
    registry: mio::Registry,
    /// Wakes the thread: a queue woke a slot, or a new slot's deadline is
    /// earlier than those it waits for.
    waker: mio::Waker,
    state: Mutex<State>,
    /// The thread's, until it takes it.
    poll: Mutex<Option<Poll>>,
}

impl Parking {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn woke(&self, token: u64) {
        self.lock().woken.push(token);
        let _ = self.waker.wake();
    }
}

const WAKE: Token = Token(usize::MAX);

static PARKING: OnceLock<Option<Parking>> = OnceLock::new();

/// The parking thread's set, started at the first call; `None` if the
/// system gave no epoll set or thread (connections then stay in tasks).
fn parking() -> Option<&'static Parking> {
    PARKING
        .get_or_init(|| {
            let made = (|| -> std::io::Result<Parking> {
                let poll = Poll::new()?;
                let registry = poll.registry().try_clone()?;
                let waker = mio::Waker::new(poll.registry(), WAKE)?;
                std::thread::Builder::new()
                    .name("confab-park".into())
                    .spawn(run)?;
                Ok(Parking {
                    registry,
                    waker,
                    state: Mutex::default(),
                    poll: Mutex::new(Some(poll)),
                })
            })();
            made.map_err(|e| warn!(error = %e, "idle connections cannot park"))
                .ok()
        })
        .as_ref()
}

/// A slot's waker for its connection's queue.
struct SlotWaker(u64);

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(Some(parking)) = PARKING.get() {
            parking.woke(self.0);
        }
    }
}

/// Parks a connection (see the module's comment); one whose queue has
/// something already wakes at once.
fn park<C: Door, G: Send + 'static>(parked: Parked<C>, guards: G) {
    let Parked {
        stream,
        until,
        state,
    } = parked;
    let sleeper: Box<dyn Sleeper> = Box::new(Sleeping { state, guards });
    let Some(parking) = parking() else {
        return wake(sleeper, stream);
    };
    let until = until.map(tokio::time::Instant::into_std);
    let mut s = parking.lock();
    // (31 bits: no token is `WAKE`'s.)
    let generation = s.generation & 0x7fff_ffff;
    s.generation = generation.wrapping_add(1);
    let Ok(key) = u32::try_from(s.slots.vacant_key()) else {
        drop(s);
        return wake(sleeper, stream);
    };
    let token = u64::from(generation) << 32 | u64::from(key);
    if let Err(e) = parking.registry.register(
        &mut SourceFd(&stream.as_raw_fd()),
        Token(token as usize),
        Interest::READABLE,
    ) {
        drop(s);
        warn!(error = %e, "a connection could not park");
        return wake(sleeper, stream);
    }
    let mut slot = Slot {
        sleeper,
        stream,
        generation,
        until,
        runtime: tokio::runtime::Handle::current(),
    };
    // Under the set's lock: a wake from the queue waits for the slot.
    let waiting = slot.sleeper.wait(&Waker::from(Arc::new(SlotWaker(token))));
    slot.sleeper.count().add();
    s.slots.insert(slot);
    let mut earliest = false;
    if let Some(until) = until {
        earliest = s.timers.first().is_none_or(|&(at, _)| until < at);
        s.timers.insert((until, token));
    }
    if !waiting {
        s.woken.push(token);
    }
    drop(s);
    if !waiting || earliest {
        let _ = parking.waker.wake();
    }
}

/// Runs a parked connection's loop again, its socket back in tokio's
/// reactor (the caller is in the runtime). Should that fail, the
/// connection ends: its state is dropped, whose session's guard tells the
/// hub.
fn wake(sleeper: Box<dyn Sleeper>, stream: TcpStream) {
    match tokio::net::TcpStream::from_std(stream) {
        Ok(stream) => sleeper.wake(Rewind::new(bytes::Bytes::new(), stream)),
        Err(e) => warn!(error = %e, "a parked connection could not go back to tokio"),
    }
}

/// The parking thread: waits for the set's sockets, wakes and deadlines,
/// and resumes each connection concerned.
fn run() {
    let Some(parking) = PARKING.wait() else {
        return;
    };
    let Some(mut poll) = parking.poll.lock().ok().and_then(|mut p| p.take()) else {
        return;
    };
    let mut events = Events::with_capacity(1024);
    let mut due = Vec::new();
    loop {
        let timeout = parking
            .lock()
            .timers
            .first()
            .map(|&(at, _)| at.saturating_duration_since(Instant::now()));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                warn!(error = %e, "the parking thread's wait failed");
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        {
            let mut s = parking.lock();
            for event in &events {
                if event.token() != WAKE {
                    due.extend(s.take(&parking.registry, event.token().0 as u64));
                }
            }
            for token in std::mem::take(&mut s.woken) {
                due.extend(s.take(&parking.registry, token));
            }
            let now = Instant::now();
            while let Some(&(at, token)) = s.timers.first()
                && at <= now
            {
                match s.take(&parking.registry, token) {
                    Some(slot) => due.push(slot),
                    None => {
                        s.timers.pop_first();
                    }
                }
            }
        }
        for slot in due.drain(..) {
            let Slot {
                sleeper,
                stream,
                runtime,
                ..
            } = slot;
            // (Entered: going back to the reactor and spawning need the
            // runtime, and so does dropping the state if that fails: its
            // session's guard tells the hub from a task.)
            let _entered = runtime.enter();
            // (A panic here would leave every parked connection asleep:
            // it ends this one only.)
            let woke = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                wake(sleeper, stream);
            }));
            if woke.is_err() {
                tracing::error!("waking a parked connection panicked; it is closed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Sleeping;

    /// What a chat door's connection holds beside its state
    /// (`server::spawn_door`).
    type Guards = (Option<crate::http::Hold>, crate::metrics::ConnGauge);

    /// A WebSocket's (`http::ws_upgrade`).
    type WsGuards = (crate::http::Hold, crate::metrics::ConnGauge);

    #[test]
    fn a_parked_connection_fits_mimallocs_384_byte_class() {
        let irc = size_of::<Sleeping<crate::irc::conn::Conn, Guards>>();
        let line = size_of::<Sleeping<crate::line::conn::Conn, Guards>>();
        let ws = size_of::<Sleeping<crate::ws::Conn, WsGuards>>();
        assert!(irc <= 384, "a parked IRC connection is {irc} bytes");
        assert!(line <= 384, "a parked line connection is {line} bytes");
        assert!(ws <= 384, "a parked WebSocket connection is {ws} bytes");
    }
}
