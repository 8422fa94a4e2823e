//! The store thread: the one owner of the store's writing connection.
//!
//! The hub thread hands it each batch's ops ([`Store::begin_commit`]) and
//! goes on staging the next batch while this thread commits (pipelined
//! group commit); the batch's events go out once its commit is done, which
//! this thread signals on [`Committed`]. Everything else the hub asks of
//! the store (an account, a page of kept messages, a topic) is a call
//! that waits, run here in order behind the commits before it, so it sees
//! them. The full-text index is fed by a thread of the store's own
//! (`SqliteStore::index_in_background`), never here.
//!
//! One read is answered on the hub's own thread, from a connection of its
//! own: whether a name is an account, which every guest login asks (an
//! account may be made by `confab user add` while the server runs).
//! Accounts are made and changed only by calls that wait, so what is in
//! flight never holds one, and the lookup need not wait behind a commit.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use confab_core::store::{
    Account, Commit, Conversation, HistoryQuery, KeptFor, Op, Snapshot, Store, StoreError,
    Visibility,
};
use confab_core::{Message, MsgId, Nick, NickKey, RoomKey, Timestamp, Topic};

/// Signalled each time a commit begun with [`Store::begin_commit`] ends.
pub type Committed = Arc<tokio::sync::Notify>;

/// Work for the store thread.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// The hub's store: every call runs on the store thread, in order.
pub struct StoreThread {
    jobs: mpsc::Sender<Job>,
    committed: Committed,
    /// Where accounts are looked up (none: on the thread).
    accounts: Option<Box<dyn Store>>,
    /// Joined on drop, once the calls before have run: the writing
    /// connection (and the store's own threads) must close before the
    /// process ends, or SQLite leaves the WAL beside the database.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StoreThread {
    fn drop(&mut self) {
        close_and_join(&mut self.jobs, self.thread.take());
    }
}

/// Ends threads that serve `jobs` until it has no sender (the store
/// thread, the read pool's): drops the sender, then waits for them all;
/// what they return (their connections, for the read pool) comes back to
/// be dropped here, one after another. SQLite folds the WAL into the
/// database and removes it only from the last connection to close: two
/// closing at the same moment can each leave it to the other.
pub(crate) fn close_and_join<T, R>(
    jobs: &mut mpsc::Sender<T>,
    threads: impl IntoIterator<Item = std::thread::JoinHandle<R>>,
) -> Vec<R> {
    drop(std::mem::replace(jobs, mpsc::channel().0));
    threads
        .into_iter()
        .filter_map(|thread| thread.join().ok())
        .collect()
}

/// Starts the store thread on `store`; `accounts`, another connection to
/// the same database, answers account lookups on the caller's thread.
/// The thread ends once the returned handle is dropped and the calls
/// before have run.
pub fn spawn(
    store: Box<dyn Store>,
    accounts: Option<Box<dyn Store>>,
) -> std::io::Result<(StoreThread, Committed)> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let committed = Committed::default();
    let mut worker = Worker {
        store,
        commit_seconds: metrics::histogram!(crate::metrics::STORE_COMMIT_SECONDS),
    };
    let thread = std::thread::Builder::new()
        .name("confab-store".into())
        .spawn(move || worker.run(&queue))?;
    let handle = StoreThread {
        jobs,
        committed: committed.clone(),
        accounts,
        thread: Some(thread),
    };
    Ok((handle, committed))
}

/// The store thread's state.
struct Worker {
    store: Box<dyn Store>,
    /// How long each commit takes, for the metrics.
    commit_seconds: metrics::Histogram,
}

impl Worker {
    fn run(&mut self, queue: &mpsc::Receiver<Job>) {
        while let Ok(job) = queue.recv() {
            job(self);
        }
    }

    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let start = Instant::now();
        let result = self.store.commit(ops);
        self.commit_seconds.record(start.elapsed());
        result
    }
}

/// The store thread ended (it panicked): every later call fails.
fn gone() -> StoreError {
    StoreError::Other("the store thread stopped".to_owned())
}

impl StoreThread {
    /// Runs `f` on the store thread and waits for its result.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |w| {
            let _ = tx.send(f(w));
        });
        self.jobs.send(job).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// A commit running on the store thread.
struct Pending {
    result: mpsc::Receiver<Result<(), StoreError>>,
    known: Option<Result<(), StoreError>>,
}

impl Commit for Pending {
    fn poll(&mut self) -> Option<Result<(), StoreError>> {
        if self.known.is_none() {
            self.known = match self.result.try_recv() {
                Ok(result) => Some(result),
                Err(mpsc::TryRecvError::Empty) => None,
                Err(mpsc::TryRecvError::Disconnected) => Some(Err(gone())),
            };
        }
        self.known.clone()
    }

    fn wait(self: Box<Self>) -> Result<(), StoreError> {
        match self.known {
            Some(result) => result,
            None => self.result.recv().unwrap_or_else(|_| Err(gone())),
        }
    }
}

impl Store for StoreThread {
    fn begin_commit(&mut self, ops: Vec<Op>) -> Box<dyn Commit> {
        let (tx, rx) = mpsc::sync_channel(1);
        let committed = self.committed.clone();
        let job: Job = Box::new(move |w| {
            let _ = tx.send(w.commit(&ops));
            committed.notify_one();
        });
        let known = self.jobs.send(job).err().map(|_| Err(gone()));
        Box::new(Pending { result: rx, known })
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.call(|w| w.store.load())
    }
    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let ops = ops.to_vec();
        self.call(move |w| w.commit(&ops))
    }
    fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError> {
        if let Some(accounts) = &mut self.accounts {
            return accounts.account(name);
        }
        let name = name.clone();
        self.call(move |w| w.store.account(&name))
    }
    fn create_account(
        &mut self,
        name: &Nick,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Account, StoreError> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.call(move |w| w.store.create_account(&name, &hash, now))
    }
    fn set_password(
        &mut self,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (name, hash) = (name.clone(), password_hash.to_owned());
        self.call(move |w| w.store.set_password(&name, &hash, now))
    }
    fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError> {
        let name = name.clone();
        self.call(move |w| w.store.revoke_tokens(&name, before))
    }
    fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.call(move |w| w.store.revoke_token(&id, expires))
    }
    fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.call(move |w| w.store.revoked_tokens(now))
    }
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        self.call(|w| w.store.accounts())
    }
    fn topic(&mut self, room: &RoomKey) -> Result<Option<Topic>, StoreError> {
        let room = room.clone();
        self.call(move |w| w.store.topic(&room))
    }
    fn history(
        &mut self,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let (conversation, query) = (conversation.clone(), *query);
        self.call(move |w| w.store.history(&conversation, &query))
    }
    fn conversations(
        &mut self,
        who: &Visibility,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Conversation, Timestamp, Option<Nick>)>, StoreError> {
        let who = who.clone();
        self.call(move |w| w.store.conversations(&who, after, before, limit))
    }
    fn search(
        &mut self,
        who: &Visibility,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let (who, query) = (who.clone(), query.to_owned());
        self.call(move |w| w.store.search(&who, &query, limit))
    }
    fn since(
        &mut self,
        who: &Visibility,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let who = who.clone();
        self.call(move |w| w.store.since(&who, after, limit))
    }
    fn pending(&mut self, to: &KeptFor, limit: usize) -> Result<Vec<Message>, StoreError> {
        let to = to.clone();
        self.call(move |w| w.store.pending(&to, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::{MsgKind, RoomName, Target, Text};
    use confab_store::{SqliteOptions, SqliteStore, Synchronous};

    fn message(id: u64, room: &RoomName) -> Message {
        Message {
            id: MsgId(id),
            time: Timestamp(1_700_000_000_000 + id as i64),
            from: Nick::parse("alice", 30).unwrap(),
            to: Target::Room(room.clone()),
            kind: MsgKind::Say,
            text: Text::parse(&format!("message {id}"), 400).unwrap(),
            tags: confab_core::ClientTags::default(),
        }
    }

    /// A commit begun in the background ends with a signal, and every call
    /// after it, which waits, sees it: the commits, and a search finds them.
    #[test]
    fn calls_see_the_commits_begun_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteOptions {
            synchronous: Synchronous::Full,
        };
        let path = dir.path().join("confab.db");
        let sqlite = SqliteStore::open(&path, opts).unwrap();
        let reader = SqliteStore::open(&path, opts).unwrap();
        let (mut store, committed) = spawn(Box::new(sqlite), Some(Box::new(reader))).unwrap();
        store.load().unwrap();
        // An account made through the thread is found on the caller's
        // own connection at once.
        let bob = Nick::parse("bob", 30).unwrap();
        assert_eq!(store.account(&bob.key()).unwrap(), None);
        store.create_account(&bob, "hash", Timestamp(1)).unwrap();
        let found = store.account(&bob.key()).unwrap().expect("made");
        assert_eq!(found.name, bob);
        let room = RoomName::parse("#a", 50).unwrap();
        let mut commits: Vec<_> = (1..=100)
            .map(|id| store.begin_commit(vec![Op::Message(message(id, &room))]))
            .collect();
        // Straight behind the commits: all of them, in order.
        let history = store
            .history(
                &Conversation::Room(room.key()),
                &HistoryQuery::before(None, 1000),
            )
            .unwrap();
        let ids: Vec<u64> = history.iter().map(|m| m.id.0).collect();
        assert_eq!(ids, (1..=100).collect::<Vec<_>>());
        for commit in &mut commits {
            assert_eq!(commit.poll(), Some(Ok(())));
        }
        // Signalled (a permit is kept for a waiter that comes late).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), committed.notified())
                .await
                .expect("signalled");
        });
        // A search finds every message committed before it: it indexes
        // them first.
        let who = Visibility {
            rooms: vec![room.key()],
            private: None,
            private_since: confab_core::Timestamp::default(),
        };
        let found = store.search(&who, "message", 1000).unwrap();
        assert_eq!(found.len(), 100);
    }
}
