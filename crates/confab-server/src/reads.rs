//! The read pool: history, search and resume run here, on their own
//! read-only SQLite connections, never on the hub thread. The hub hands a
//! session an `Event::Read` (the core decided what the user may read);
//! the connection's outbox submits it here as the hub pushes it, and the
//! door's writer waits for the answer in the queue's place, so the answer
//! keeps its order among the connection's events while the hub goes on.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use confab_core::read::Read;
use confab_core::{ChatError, Event};
use confab_store::SqliteStore;
use tokio::sync::oneshot;
use tracing::warn;

use crate::config::Config;

type Job = (Read, oneshot::Sender<Option<Event>>);

/// Threads with a database connection each, taking reads from one queue.
pub struct Readers {
    /// Submitting takes no lock: the hub thread pushes reads here.
    jobs: std_mpsc::Sender<Job>,
    /// Joined on drop: a reader's connection must close before the
    /// process ends, or SQLite leaves the WAL beside the database. Each
    /// hands its connection back, to be closed in turn.
    threads: Vec<std::thread::JoinHandle<SqliteStore>>,
}

impl Readers {
    /// Starts `config.storage.read_connections` readers on the database
    /// (`None` when that is 0: the hub reads itself).
    pub fn start(config: &Config) -> Result<Option<Arc<Readers>>, confab_core::store::StoreError> {
        let n = config.storage.read_connections;
        if n == 0 {
            return Ok(None);
        }
        let (tx, rx) = std_mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let path = config.database_path();
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            // Open now, so a problem shows at start rather than at a read.
            let store = open(&path)?;
            let rx = rx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("confab-read-{i}"))
                .spawn(move || serve(store, &rx))
                .expect("spawning a reader thread");
            threads.push(thread);
        }
        Ok(Some(Arc::new(Readers { jobs: tx, threads })))
    }

    /// Queues `read`; its answer (if it has one) comes on the receiver.
    pub fn submit(&self, read: Read) -> oneshot::Receiver<Option<Event>> {
        let (tx, rx) = oneshot::channel();
        // Every reader gone (they stop when `Readers` is dropped): the
        // dropped sender tells the waiting door.
        let _ = self.jobs.send((read, tx));
        rx
    }
}

impl Drop for Readers {
    /// Ends the readers once the reads under way are answered, and closes
    /// their connections one after another (`close_and_join`).
    fn drop(&mut self) {
        drop(crate::store_thread::close_and_join(
            &mut self.jobs,
            self.threads.drain(..),
        ));
    }
}

/// A submitted read's answer, once the pool has it; a read lost with its
/// reader is a refusal the user can act on.
pub async fn answer(rx: oneshot::Receiver<Option<Event>>) -> Option<Event> {
    rx.await.unwrap_or_else(|_| {
        Some(Event::Error(ChatError::Storage(
            "the read was lost; try again".into(),
        )))
    })
}

fn open(path: &Path) -> Result<SqliteStore, confab_core::store::StoreError> {
    // Reads only: synchronous does not matter, and the schema is current
    // (the server migrated it before starting these).
    SqliteStore::open(path, confab_store::SqliteOptions::default())
}

/// Answers reads until the pool ends; hands its connection back.
fn serve(mut store: SqliteStore, jobs: &Mutex<std_mpsc::Receiver<Job>>) -> SqliteStore {
    loop {
        let next = jobs.lock().expect("read queue").recv();
        let Ok((read, answer)) = next else {
            return store;
        };
        let event = read.run(&mut store);
        if let Some(Event::Error(ChatError::Storage(e))) = &event {
            warn!(error = %e, "a read failed");
        }
        let _ = answer.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection to a WAL database that closes tries to fold the
    /// WAL in and remove it, and only the last one can: readers closing
    /// at the same moment could each see the others still open and all
    /// leave it. They close one after another.
    #[test]
    fn the_last_reader_to_close_removes_the_wal() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let mut config = Config {
                data_dir: dir.path().to_owned(),
                ..Config::default()
            };
            config.storage.read_connections = 8;
            let path = config.database_path();
            drop(open(&path).unwrap());
            let readers = Readers::start(&config).unwrap().expect("readers");
            let wal = dir.path().join("confab.db-wal");
            assert!(wal.exists(), "the readers have the database open");
            drop(readers);
            assert!(!wal.exists(), "round {round}: the WAL was left");
        }
    }
}
