//! A connection's outbound queue: bounded, many senders and one receiver,
//! and lazily allocated. It holds no memory while empty: the first item
//! allocates, and a receiver that empties it gives back what a burst grew
//! (beyond [`KEEP`] items). tokio's `mpsc` allocates a block of slots per
//! channel up front and keeps its blocks, which for a server of idle
//! connections is most of what each one costs.
//!
//! The hub pushes without waiting ([`Sender::try_send`]), and nothing else
//! pushes: a door writes its own output itself. The receiver sees the end
//! ([`Ended::Closed`]) once every sender is gone and the queue is empty;
//! senders see [`TrySendError::Closed`] once the receiver is gone.
//!
//! The queue also carries the connection's kill switch: the hub ends a
//! session whose queue is full with [`Sender::kill`]. A door waiting on
//! its queue hears it from `recv_many` itself, ahead of what is queued (so
//! the wait costs one registration, not two); a door stuck writing hears
//! it through [`KillSwitch::fired`].
//!
//! The receiving side is one task (the door's), so it waits by leaving its
//! waker in the queue's state, under the lock every push takes: no
//! `Notify` waiter lives in the door's future while it waits (a `Notified`
//! is 64 bytes of every idle connection's task, twice over).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Items a queue keeps room for between bursts.
const KEEP: usize = 16;

/// Why a connection must end at once: shared with whoever is told, one
/// pointer wide (every connection's queue has room for one).
pub type Reason = Arc<String>;

/// (Counts are `u32` and the reason a thin pointer: the state, the lock
/// and the `Arc`'s counts are 96 bytes, one allocator class below 112.)
struct State<T> {
    items: VecDeque<T>,
    capacity: u32,
    senders: u32,
    receiver: bool,
    /// Why the connection must end at once, once it must.
    killed: Option<Reason>,
    /// The receiving task, while it waits for an item, the end or the
    /// kill: taken and woken by the first of them.
    waker: Option<Waker>,
}

impl<T> State<T> {
    /// Leaves `cx`'s waker to be woken (the receiving task's, every time).
    fn wait(&mut self, cx: &Context<'_>) {
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves a consistent queue (every
        // change is a single call): go on with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wakes the receiving task, if it waits (outside the lock: a wake may
/// run anything).
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

/// Why [`Receiver::recv_many`] has nothing more to give.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every sender is gone and the queue is empty.
    Closed,
    /// The kill switch fired, with this reason (what is queued stays
    /// unread).
    Killed(Reason),
}

/// Why [`Sender::try_send`] failed; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

/// A queue of at most `capacity` items (at least one).
pub fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity: u32::try_from(capacity).unwrap_or(u32::MAX).max(1),
            senders: 1,
            receiver: true,
            killed: None,
            waker: None,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` unless the queue is full or its receiver gone.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        Sender::send_shared(&self.shared, item)
    }

    fn send_shared(shared: &Shared<T>, item: T) -> Result<(), TrySendError<T>> {
        let mut s = shared.lock();
        if !s.receiver {
            return Err(TrySendError::Closed(item));
        }
        if s.items.len() >= s.capacity as usize {
            return Err(TrySendError::Full(item));
        }
        let was_empty = s.items.is_empty();
        s.items.push_back(item);
        // The receiver only waits on an empty queue.
        let waiting = if was_empty { s.waker.take() } else { None };
        drop(s);
        wake(waiting);
        Ok(())
    }

    /// Fires the kill switch with `reason` (the first reason stays).
    pub fn kill(&self, reason: &str) {
        Sender::kill_shared(&self.shared, reason);
    }

    fn kill_shared(shared: &Shared<T>, reason: &str) {
        let waiting = {
            let mut s = shared.lock();
            if s.killed.is_some() {
                return;
            }
            s.killed = Some(Arc::new(reason.to_owned()));
            s.waker.take()
        };
        // The receiver, waiting on its queue or stuck writing to its
        // socket; else it sees the kill the next time it looks.
        wake(waiting);
    }

    /// A handle that can send to the queue or fire its kill switch
    /// without keeping the queue (nor counting as a sender).
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// [`Sender::downgrade`]: sends to the queue, or kills it, while it lives.
pub struct WeakSender<T> {
    shared: std::sync::Weak<Shared<T>>,
}

impl<T> WeakSender<T> {
    /// Whether the queue still exists (its receiver or a sender does).
    pub fn alive(&self) -> bool {
        self.shared.strong_count() > 0
    }

    /// [`Sender::try_send`], if the queue still exists (else `Closed`).
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        match self.shared.upgrade() {
            Some(shared) => Sender::send_shared(&shared, item),
            None => Err(TrySendError::Closed(item)),
        }
    }

    /// [`Sender::kill`], if the queue still exists.
    pub fn kill(&self, reason: &str) {
        if let Some(shared) = self.shared.upgrade() {
            Sender::kill_shared(&shared, reason);
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiting = {
            let mut s = self.shared.lock();
            s.senders -= 1;
            if s.senders == 0 { s.waker.take() } else { None }
        };
        wake(waiting);
    }
}

/// The receiving end. It and its [`KillSwitch`] are waited on by one task
/// (they leave one waker in the queue), the door's.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Moves up to `limit` items (at least one) into `buf`, waiting while
    /// the queue is empty; how many. `Ended` once the kill switch has fired
    /// (whatever is queued), or once the queue is empty and every sender is
    /// gone. Cancel-safe: an item is taken only by the call that returns it.
    pub fn recv_many<'a>(
        &'a mut self,
        buf: &'a mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, Ended>> + 'a {
        let limit = limit.max(1);
        std::future::poll_fn(move |cx| self.poll_recv_many(cx, buf, limit))
    }

    fn poll_recv_many(
        &mut self,
        cx: &Context<'_>,
        buf: &mut Vec<T>,
        limit: usize,
    ) -> Poll<Result<usize, Ended>> {
        let mut s = self.shared.lock();
        if let Some(why) = &s.killed {
            return Poll::Ready(Err(Ended::Killed(why.clone())));
        }
        if s.items.is_empty() {
            if s.senders == 0 {
                return Poll::Ready(Err(Ended::Closed));
            }
            // Under the lock every push takes: no wake-up is lost.
            s.wait(cx);
            return Poll::Pending;
        }
        let n = limit.min(s.items.len());
        buf.extend(s.items.drain(..n));
        if s.items.is_empty() && s.items.capacity() > KEEP {
            s.items = VecDeque::new();
        }
        Poll::Ready(Ok(n))
    }

    /// Leaves `waker` to be woken by the next item, the kill or the end,
    /// for a parked connection (`park`); false, leaving nothing, if one
    /// of them is there already.
    pub fn park(&self, waker: &Waker) -> bool {
        let mut s = self.shared.lock();
        if s.killed.is_some() || !s.items.is_empty() || s.senders == 0 {
            return false;
        }
        s.waker = Some(waker.clone());
        true
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.shared.lock().items.is_empty()
    }

    /// Gives back the room kept between bursts, if nothing is queued (a
    /// quiet connection's door calls it).
    pub fn shrink(&self) {
        let mut s = self.shared.lock();
        if s.items.is_empty() {
            s.items = VecDeque::new();
        }
    }

    /// The queue's kill switch, for the door to wait on.
    pub fn kill_switch(&self) -> KillSwitch<T> {
        KillSwitch {
            shared: self.shared.clone(),
        }
    }
}

/// Fires when a sender ends the connection without the queue
/// ([`Sender::kill`]): the hub does so when the queue is full. For a door
/// blocked on something else, its socket above all: put it after that in
/// a `biased` select, so a write that goes through at once never
/// registers here.
pub struct KillSwitch<T> {
    shared: Arc<Shared<T>>,
}

impl<T> KillSwitch<T> {
    /// Waits until the switch fires; the reason. Pending forever if it
    /// never does (the door ends by its queue then).
    pub fn fired(&mut self) -> impl Future<Output = Reason> + '_ {
        std::future::poll_fn(|cx| self.poll_fired(cx))
    }

    /// [`KillSwitch::fired`] for a door's own poll loop.
    pub fn poll_fired(&mut self, cx: &Context<'_>) -> Poll<Reason> {
        let mut s = self.shared.lock();
        match &s.killed {
            Some(reason) => Poll::Ready(reason.clone()),
            None => {
                s.wait(cx);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (items, waker) = {
            let mut s = self.shared.lock();
            s.receiver = false;
            (std::mem::take(&mut s.items), s.waker.take())
        };
        // Dropped outside the lock: an item's drop may do anything. (The
        // waker too: it holds the receiving task.)
        drop(items);
        drop(waker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_come_out_in_order_a_batch_at_a_time() {
        let (tx, mut rx) = queue(10);
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 3).await, Ok(3));
        assert_eq!(rx.recv_many(&mut got, 3).await, Ok(2));
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn an_emptied_queue_keeps_a_little_room_until_shrunk() {
        let (tx, mut rx) = queue(10);
        let room = |rx: &Receiver<i32>| rx.shared.lock().items.capacity();
        assert_eq!(room(&rx), 0, "nothing allocated before the first item");
        tx.try_send(1).unwrap();
        let mut got = Vec::new();
        rx.recv_many(&mut got, 10).await.unwrap();
        assert!(room(&rx) > 0, "a small queue keeps its room between bursts");
        tx.try_send(2).unwrap();
        rx.shrink();
        assert!(room(&rx) > 0, "what is queued stays");
        rx.recv_many(&mut got, 10).await.unwrap();
        rx.shrink();
        assert_eq!(room(&rx), 0);
        assert_eq!(got, [1, 2]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_an_emptied_one_takes_again() {
        let (tx, mut rx) = queue(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        let mut got = Vec::new();
        rx.recv_many(&mut got, 10).await.unwrap();
        tx.try_send(3).unwrap();
    }

    #[tokio::test]
    async fn the_receiver_sees_the_end_after_the_last_item() {
        let (tx, mut rx) = queue(4);
        let tx2 = tx.clone();
        tx.try_send(1).unwrap();
        drop(tx);
        tx2.try_send(2).unwrap();
        drop(tx2);
        let mut got = Vec::new();
        assert_eq!(rx.recv_many(&mut got, 10).await, Ok(2));
        assert_eq!(rx.recv_many(&mut got, 10).await, Err(Ended::Closed));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_an_item_and_for_the_end() {
        let (tx, mut rx) = queue(4);
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            let first = rx.recv_many(&mut got, 10).await;
            let second = rx.recv_many(&mut got, 10).await;
            (first, second, got)
        });
        tokio::task::yield_now().await;
        tx.try_send(5).unwrap();
        drop(tx);
        assert_eq!(waiting.await.unwrap(), (Ok(1), Err(Ended::Closed), vec![5]));
    }

    #[tokio::test]
    async fn senders_learn_the_receiver_is_gone() {
        let (tx, rx) = queue(1);
        tx.try_send(1).unwrap();
        drop(rx);
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    }

    #[tokio::test]
    async fn an_emptied_queue_gives_back_what_a_burst_grew() {
        let (tx, mut rx) = queue(1000);
        for i in 0..500 {
            tx.try_send(i).unwrap();
        }
        let mut got = Vec::new();
        while rx.recv_many(&mut got, 64).await.is_ok() && got.len() < 500 {}
        assert_eq!(got.len(), 500);
        assert_eq!(rx.shared.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn the_kill_switch_fires_for_a_waiter_and_after_the_fact() {
        let (tx, rx) = queue::<u8>(1);
        let mut switch = rx.kill_switch();
        let waiting = tokio::spawn(async move { switch.fired().await });
        tokio::task::yield_now().await;
        tx.kill("SendQ exceeded");
        tx.kill("a later reason");
        assert_eq!(&*waiting.await.unwrap(), "SendQ exceeded");
        assert_eq!(&*rx.kill_switch().fired().await, "SendQ exceeded");
    }

    #[tokio::test]
    async fn the_receiver_hears_the_kill_ahead_of_what_is_queued() {
        let (tx, mut rx) = queue(4);
        let waiting = tokio::spawn(async move {
            let mut got = Vec::new();
            let first = rx.recv_many(&mut got, 10).await;
            (first, rx)
        });
        tokio::task::yield_now().await;
        tx.kill("SendQ exceeded");
        let (first, mut rx) = waiting.await.unwrap();
        assert_eq!(first, Err(Ended::Killed(Arc::new("SendQ exceeded".into()))));
        // Killed with items queued: the kill, not the items.
        let (tx, mut full) = queue(1);
        tx.try_send(1).unwrap();
        tx.kill("SendQ exceeded");
        let mut got = Vec::new();
        assert!(matches!(
            full.recv_many(&mut got, 10).await,
            Err(Ended::Killed(_))
        ));
        assert!(got.is_empty());
        // And again, for a door that asks twice.
        assert!(matches!(
            rx.recv_many(&mut got, 10).await,
            Err(Ended::Killed(_))
        ));
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_nothing() {
        let (tx, mut rx) = queue(4);
        let mut got = Vec::new();
        // Cancelled while waiting on an empty queue.
        tokio::select! {
            biased;
            _ = rx.recv_many(&mut got, 4) => panic!("nothing was queued"),
            () = std::future::ready(()) => {}
        }
        tx.try_send(7).unwrap();
        assert_eq!(rx.recv_many(&mut got, 4).await, Ok(1));
        assert_eq!(got, [7]);
    }
}
