//! The hub task: the one owner of the [`Hub`], fed by a bounded channel.
//!
//! Doors never touch the hub directly. They hold a [`HubHandle`] and send
//! it requests; the task runs them one at a time against the hub, reading
//! the clock for each. The hub pushes events into each session's
//! [`ConnOutbox`] without waiting, so the task never blocks on a client.
//! The request channel is bounded: a door that floods it waits, which
//! slows that door's reader and nobody else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use confab_core::{Command, Delivery, Hub, HubConfig, Outbox, QueueFull, SessionId, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Requests queued for the hub task before senders wait.
const REQUEST_QUEUE: usize = 4096;
/// Requests the task takes off the channel per wake-up.
const REQUEST_BATCH: usize = 128;

/// The wall clock as the hub counts it.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

/// One item of a connection's outbound queue: an event from the hub, or
/// bytes its own door wrote (help text, a usage error, a prompt), queued
/// behind the events so that the order the user sees is the order things
/// happened.
#[derive(Debug)]
pub enum Out {
    Event(Delivery),
    Raw(bytes::Bytes),
}

/// The hub's side of a connection's bounded outbound queue. Pushing never
/// waits; a full queue is reported to the hub, which then calls
/// [`Outbox::close`].
pub struct ConnOutbox {
    tx: mpsc::Sender<Out>,
    kill: watch::Sender<Option<Arc<str>>>,
}

impl ConnOutbox {
    /// An outbox with room for `capacity` items, the receiving end for the
    /// door's writer, and the switch its writer watches to stop at once.
    pub fn new(capacity: usize) -> (ConnOutbox, mpsc::Receiver<Out>, KillSwitch) {
        let (tx, rx) = mpsc::channel(capacity);
        let (kill, kill_rx) = watch::channel(None);
        (ConnOutbox { tx, kill }, rx, KillSwitch(kill_rx))
    }

    /// A sender for the door's own output, into the same queue.
    pub fn local(&self) -> mpsc::Sender<Out> {
        self.tx.clone()
    }
}

impl Outbox for ConnOutbox {
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull> {
        match self.tx.try_send(Out::Event(delivery)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(QueueFull),
            // The writer is gone: the connection is closing anyway.
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
        }
    }

    fn close(&self, reason: &str) {
        self.kill.send_replace(Some(reason.into()));
    }
}

/// Fires when the hub closes a connection without the queue (it is full).
#[derive(Clone)]
pub struct KillSwitch(watch::Receiver<Option<Arc<str>>>);

impl KillSwitch {
    /// Waits until the connection is closed; the reason. Pending forever if
    /// the outbox is dropped without closing (the writer ends by its queue).
    pub async fn fired(&mut self) -> Arc<str> {
        let fired = self
            .0
            .wait_for(Option::is_some)
            .await
            .map(|r| r.clone().expect("waited for Some"));
        match fired {
            Ok(reason) => reason,
            Err(_) => std::future::pending().await,
        }
    }
}

enum Request {
    Connect {
        sid: SessionId,
        outbox: ConnOutbox,
    },
    Command {
        sid: SessionId,
        cmd: Command,
    },
    Disconnect {
        sid: SessionId,
        reason: String,
    },
    Echo {
        to: mpsc::Sender<Out>,
        bytes: bytes::Bytes,
    },
    Shutdown {
        reason: String,
        done: oneshot::Sender<()>,
    },
}

/// The hub task has stopped (the server is shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the server is shutting down")]
pub struct HubGone;

/// A door's way to the hub. Cheap to clone.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::Sender<Request>,
    next_sid: Arc<AtomicU64>,
}

impl HubHandle {
    /// A fresh session id, unique for the life of the server.
    pub fn new_session(&self) -> SessionId {
        SessionId(self.next_sid.fetch_add(1, Ordering::Relaxed))
    }

    pub async fn connect(&self, sid: SessionId, outbox: ConnOutbox) -> Result<(), HubGone> {
        self.send(Request::Connect { sid, outbox }).await
    }

    pub async fn command(&self, sid: SessionId, cmd: Command) -> Result<(), HubGone> {
        self.send(Request::Command { sid, cmd }).await
    }

    pub async fn disconnect(&self, sid: SessionId, reason: String) -> Result<(), HubGone> {
        self.send(Request::Disconnect { sid, reason }).await
    }

    /// Queues a door's own output (help, a usage error) for its connection
    /// in order with the hub's replies to the commands sent before it.
    pub async fn echo(&self, to: &mpsc::Sender<Out>, bytes: bytes::Bytes) -> Result<(), HubGone> {
        let to = to.clone();
        self.send(Request::Echo { to, bytes }).await
    }

    /// Tells every session goodbye and stops the hub task once they have
    /// all been told.
    pub async fn shutdown(&self, reason: String) -> Result<(), HubGone> {
        let (done, wait) = oneshot::channel();
        self.send(Request::Shutdown { reason, done }).await?;
        wait.await.map_err(|_| HubGone)
    }

    async fn send(&self, req: Request) -> Result<(), HubGone> {
        self.tx.send(req).await.map_err(|_| HubGone)
    }
}

/// Starts the hub task.
pub fn spawn_hub(config: HubConfig) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
    let handle = HubHandle {
        tx,
        next_sid: Arc::new(AtomicU64::new(1)),
    };
    let task = tokio::spawn(run(Hub::new(config), rx));
    (handle, task)
}

async fn run(mut hub: Hub<ConnOutbox>, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(REQUEST_BATCH);
    while rx.recv_many(&mut batch, REQUEST_BATCH).await > 0 {
        let now = now();
        for req in batch.drain(..) {
            match req {
                Request::Connect { sid, outbox } => hub.connect(sid, outbox, now),
                Request::Command { sid, cmd } => {
                    tracing::info!(sid = sid.0, command = cmd.name(), "command");
                    hub.handle(sid, cmd, now);
                }
                Request::Disconnect { sid, reason } => hub.disconnect(sid, &reason, now),
                Request::Echo { to, bytes } => {
                    // Never wait: a connection whose queue is full is too
                    // slow and is being dropped anyway.
                    let _ = to.try_send(Out::Raw(bytes));
                }
                Request::Shutdown { reason, done } => {
                    hub.shutdown(&reason, now);
                    let _ = done.send(());
                    return;
                }
            }
        }
    }
}
