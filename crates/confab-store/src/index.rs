//! The full-text index, in a file of its own beside the database.
//!
//! The index is made from the messages and can be made again, so it does
//! not share the messages' file: its pages never enter the WAL that every
//! message's commit syncs and every checkpoint copies, its commits never
//! wait for the disk (`synchronous = NORMAL`: a power cut may lose the
//! last chunks, which are indexed again), and its transactions never hold
//! up a commit of the messages. In the same file it had cost a quarter of
//! the server's CPU at 5,000 private messages a second, and half a
//! millisecond of p99, mostly in those pages (docs/performance.md,
//! 2026-12-05).
//!
//! - **The file** is the database's path with `.search` added
//!   ([`path_of`]), created with the database file's permissions (it
//!   holds the words of private messages). It holds `messages_fts`, an
//!   FTS5 table without content of its own (`content = ''`, with
//!   `contentless_delete = 1`, rowid = message id), and `search_state`:
//!   the key of the database it was made from and `upto`, the last
//!   message id in it.
//! - **Who writes it.** The server's writing connection never opens the
//!   file (a `BEGIN IMMEDIATE` on a connection takes the write lock of
//!   every file attached to it). [`Indexer`], a thread with a connection
//!   of its own, feeds the index in chunks, and a search first catches it
//!   up on its own connection ([`catch_up`]), so that it finds every
//!   message committed before it. Their transactions lock the index's
//!   file and only read the database.
//! - **Deletions and edits.** A trigger cannot write to another file:
//!   triggers in the database queue the ids of deleted and edited messages
//!   in `search_changes`, and the next chunk takes them out of the index
//!   and puts edited ones back. The queue is trimmed after that chunk's
//!   commit; a crash between the two applies the changes again, which
//!   changes nothing.
//! - **Made anew** ([`attach`]) when the file is missing or damaged, of
//!   another version, made from another database (its key differs from
//!   `search_link`'s, as when another file was put in the database's
//!   place), or of other messages: the last message it indexed is gone
//!   or not the same (time and sender), as after a backup was put back
//!   and messages said since. Until the indexer has caught up, a search
//!   finds only what it has indexed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use confab_core::store::StoreError;

use crate::error::{at, db};
use crate::rows;
use crate::sqlite::BUSY_TIMEOUT;

/// The index file's own schema version (`PRAGMA user_version` in it). A
/// file of another version is made anew.
const VERSION: i64 = 1;

/// Messages the indexer feeds into the index in one transaction. Off the
/// commits' path, so larger than a commit would allow: each transaction's
/// fixed cost (a new segment, the index's structure record, a commit) is
/// shared by more messages.
pub(crate) const CHUNK: usize = 256;

/// Pages of the index's segments merged with each chunk indexed: a
/// quarter of a page per message of a chunk. Enough to keep up (a chunk
/// writes a segment of a few pages, and each page is merged once per
/// level), few enough that no chunk takes long.
const MERGE_PAGES: i64 = CHUNK as i64 / 4;

/// Messages a search indexes itself before it runs; a longer backlog (an
/// index being made anew) is the indexer's, and the search finds what is
/// indexed so far.
pub(crate) const CATCH_UP: usize = 4 * CHUNK;

/// Longest a few messages wait for the indexer.
const EVERY: Duration = Duration::from_secs(1);

/// The index file of the database at `db`: its path with `.search` added.
pub(crate) fn path_of(db: &Path) -> PathBuf {
    with_suffix(db, ".search")
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes the index's tables anew, empty, for the database whose key is
/// `?1`.
const MAKE: &str = "
DROP TABLE IF EXISTS search.messages_fts;
DROP TABLE IF EXISTS search.search_state;
CREATE VIRTUAL TABLE search.messages_fts USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Merged a few pages with each chunk (`MERGE_PAGES`), not in FTS5's own
-- bursts of hundreds of pages.
INSERT INTO search.messages_fts (messages_fts, rank) VALUES ('automerge', 0);
-- Messages with ids up to `upto` are in messages_fts; `key` is the
-- database's (`search_link`) that they came from; `upto_time` and
-- `upto_from` are the time and sender's key of message `upto`, by which
-- the index knows the database holds the same messages it indexed.
CREATE TABLE search.search_state (
    id        INTEGER PRIMARY KEY CHECK (id = 0),
    key       TEXT    NOT NULL,
    upto      INTEGER NOT NULL,
    upto_time INTEGER,
    upto_from TEXT
) STRICT;
";

/// Opens a connection to the database at `db` (already migrated) with
/// its index attached as `search`, making the index file anew where it
/// must be (see the module's docs).
pub(crate) fn connect(db: &Path) -> Result<Connection, StoreError> {
    // No SQLITE_OPEN_URI, as for the writer; the file exists.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags).map_err(at(db))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(at(db))?;
    crate::sqlite::stable_plans(&conn).map_err(at(db))?;
    conn.set_prepared_statement_cache_capacity(16);
    let file = path_of(db);
    match attach(&conn, db, &file) {
        Err(StoreError::Corrupt(_)) => {
            // Not a database, or a damaged one: what it held is made again
            // from the messages.
            let _ = conn.execute_batch("DETACH DATABASE search");
            for suffix in ["", "-wal", "-shm"] {
                match std::fs::remove_file(with_suffix(&file, suffix)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(StoreError::Other(format!(
                            "{}: the search index is damaged and cannot be removed: {e}",
                            file.display()
                        )));
                    }
                    _ => {}
                }
            }
            attach(&conn, db, &file)?;
        }
        other => other?,
    }
    Ok(conn)
}

/// Attaches `file` to `conn` and brings it up to date.
fn attach(conn: &Connection, db: &Path, file: &Path) -> Result<(), StoreError> {
    let err = at(file);
    if !file.exists() {
        create_like(db, file).map_err(|e| {
            StoreError::Other(format!(
                "cannot create the search index {}: {e}",
                file.display()
            ))
        })?;
    }
    let name = file.to_str().ok_or_else(|| {
        StoreError::Other(format!("{}: the path is not valid UTF-8", file.display()))
    })?;
    conn.execute("ATTACH DATABASE ?1 AS search", [name])
        .map_err(&err)?;
    // The first read of the file: one that is not a database fails here.
    let mode: String = conn
        .pragma_update_and_check(Some("search"), "journal_mode", "wal", |r| r.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Other(format!(
            "{}: cannot use write-ahead logging (journal mode stays {mode})",
            file.display()
        )));
    }
    conn.pragma_update(Some("search"), "synchronous", "NORMAL")
        .map_err(&err)?;
    if current(conn).map_err(&err)? {
        return Ok(());
    }
    // Under the write locks (the database's too, for a moment: only
    // the file of a missing or stale index, or one server's first start,
    // gets here), a second look: another connection may have made it
    // meanwhile.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(&err)?;
    if current(&tx).map_err(&err)? {
        return Ok(());
    }
    tx.execute_batch(MAKE).map_err(&err)?;
    tx.execute(
        "INSERT INTO search.search_state (id, key, upto) \
         SELECT 0, key, 0 FROM main.search_link WHERE id = 0",
        [],
    )
    .map_err(&err)?;
    tx.pragma_update(Some("search"), "user_version", VERSION)
        .map_err(&err)?;
    tx.commit().map_err(&err)
}

/// Whether the attached index is of this version, made from this
/// database, and of the same messages: the last it indexed is there, as
/// it was (not so after a backup was put back, and messages said since).
fn current(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(Some("search"), "user_version", |r| r.get(0))?;
    if version != VERSION {
        return Ok(false);
    }
    let ok: Option<bool> = conn
        .query_row(
            "SELECT s.key = l.key AND (s.upto = 0 OR EXISTS (SELECT 1 FROM main.messages m \
               WHERE m.id = s.upto AND m.time_ms = s.upto_time AND m.from_key = s.upto_from)) \
             FROM search.search_state s, main.search_link l WHERE s.id = 0 AND l.id = 0",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(ok == Some(true))
}

/// Creates an empty file at `file` with the permissions of `like`.
fn create_like(like: &Path, file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mode = std::fs::metadata(like)?.permissions().mode() & 0o777;
        options.mode(mode);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        // Made by another connection meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether messages or changes wait to be indexed.
fn behind(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT (SELECT upto FROM search.search_state WHERE id = 0) \
                < coalesce((SELECT max(id) FROM main.messages), 0) \
            OR EXISTS (SELECT 1 FROM main.search_changes)",
    )?
    .query_row([], |r| r.get(0))
}

/// Feeds up to `max` messages not yet in the index into it, oldest first,
/// after the deletions and edits queued; how many messages. One
/// transaction of the index's file; the database is only read, but for
/// trimming the queue of changes after the commit.
pub(crate) fn index_chunk(conn: &Connection, max: usize) -> Result<usize, StoreError> {
    if max == 0 || !behind(conn).map_err(db)? {
        return Ok(0);
    }
    let tx = conn.unchecked_transaction().map_err(db)?;
    // The index's write lock before anything is read, so that no other
    // indexer commits between what this one reads and what it writes.
    tx.prepare_cached("UPDATE search.search_state SET upto = upto WHERE id = 0")
        .and_then(|mut s| s.execute([]))
        .map_err(db)?;
    let (from, to, changes): (i64, Option<i64>, Option<i64>) = tx
        .prepare_cached(
            "SELECT s.upto, (SELECT max(id) FROM \
               (SELECT id FROM main.messages WHERE id > s.upto ORDER BY id LIMIT ?1)), \
             (SELECT max(seq) FROM main.search_changes) \
             FROM search.search_state s WHERE s.id = 0",
        )
        .and_then(|mut s| {
            s.query_row([rows::limit(max)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .map_err(db)?;
    if let Some(seq) = changes {
        // Only messages indexed already: later ones are read as they are
        // now when their turn comes.
        tx.prepare_cached(
            "DELETE FROM search.messages_fts WHERE rowid IN \
             (SELECT msg_id FROM main.search_changes WHERE seq <= ?1 AND msg_id <= ?2)",
        )
        .and_then(|mut s| s.execute(params![seq, from]))
        .map_err(db)?;
        tx.prepare_cached(
            "INSERT INTO search.messages_fts (rowid, text) \
             SELECT id, text FROM main.messages WHERE id IN \
             (SELECT msg_id FROM main.search_changes WHERE seq <= ?1 AND msg_id <= ?2)",
        )
        .and_then(|mut s| s.execute(params![seq, from]))
        .map_err(db)?;
    }
    let mut n = 0;
    if let Some(to) = to {
        n = tx
            .prepare_cached(
                "INSERT INTO search.messages_fts (rowid, text) \
                 SELECT id, text FROM main.messages WHERE id > ?1 AND id <= ?2 ORDER BY id",
            )
            .and_then(|mut s| s.execute([from, to]))
            .map_err(db)?;
        tx.prepare_cached(
            "UPDATE search.search_state SET upto = m.id, upto_time = m.time_ms, \
             upto_from = m.from_key FROM main.messages m WHERE m.id = ?1 AND search_state.id = 0",
        )
        .and_then(|mut s| s.execute([to]))
        .map_err(db)?;
    }
    // FTS5 merges its segments only when told: a few pages with each
    // chunk. It merges only where a level holds enough segments.
    tx.prepare_cached("INSERT INTO search.messages_fts (messages_fts, rank) VALUES ('merge', ?1)")
        .and_then(|mut s| s.execute([MERGE_PAGES]))
        .map_err(db)?;
    tx.commit().map_err(db)?;
    if let Some(seq) = changes {
        conn.prepare_cached("DELETE FROM main.search_changes WHERE seq <= ?1")
            .and_then(|mut s| s.execute([seq]))
            .map_err(db)?;
    }
    Ok(n)
}

/// Indexes what waits, in chunks, unless more than [`CATCH_UP`] messages
/// wait (the indexer's work, under way); what a search runs first, so
/// that it finds every message committed before it.
pub(crate) fn catch_up(conn: &Connection) -> Result<(), StoreError> {
    let waiting: i64 = conn
        .prepare_cached(
            "SELECT coalesce((SELECT max(id) FROM main.messages), 0) \
                    - (SELECT upto FROM search.search_state WHERE id = 0)",
        )
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db)?;
    if usize::try_from(waiting).is_ok_and(|w| w > CATCH_UP) {
        return Ok(());
    }
    while index_chunk(conn, CHUNK)? == CHUNK {}
    Ok(())
}

/// The index fed on a thread of its own, with a connection of its own.
/// The writer tells it how many messages each commit stored; it indexes
/// once a chunk's worth waits, or [`EVERY`] second. Dropping it stops the
/// thread after the chunk under way.
#[derive(Debug)]
pub(crate) struct Indexer {
    wake: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Messages stored since the thread was last woken.
    waiting: Arc<AtomicU64>,
}

impl Indexer {
    /// Opens the index of the database at `db` (making it anew where it
    /// must be) and starts the thread, which first indexes whatever waits.
    pub(crate) fn start(db: &Path) -> Result<Indexer, StoreError> {
        let conn = connect(db)?;
        let (wake, wakes) = mpsc::sync_channel(1);
        let waiting = Arc::new(AtomicU64::new(0));
        let file = path_of(db);
        let thread = std::thread::Builder::new()
            .name("confab-index".into())
            .spawn({
                let waiting = waiting.clone();
                move || run(&conn, &file, &wakes, &waiting)
            })
            .map_err(|e| StoreError::Other(format!("cannot start the search indexer: {e}")))?;
        Ok(Indexer {
            wake: Some(wake),
            thread: Some(thread),
            waiting,
        })
    }

    /// After a commit that stored `messages` messages.
    pub(crate) fn stored(&self, messages: usize) {
        if messages == 0 {
            return;
        }
        let before = self.waiting.fetch_add(messages as u64, Ordering::Relaxed);
        if before + messages as u64 >= CHUNK as u64
            && let Some(wake) = &self.wake
        {
            let _ = wake.try_send(());
        }
    }
}

/// The indexer's loop: everything that waits, at each wake or [`EVERY`].
fn run(conn: &Connection, file: &Path, wakes: &mpsc::Receiver<()>, waiting: &AtomicU64) {
    let mut failing = false;
    loop {
        waiting.store(0, Ordering::Relaxed);
        let indexed = loop {
            match index_chunk(conn, CHUNK) {
                // More waits (an index made anew may take long): unless
                // the store is closing.
                Ok(n) if n == CHUNK => {
                    if let Err(mpsc::TryRecvError::Disconnected) = wakes.try_recv() {
                        return;
                    }
                }
                Ok(_) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        match indexed {
            Ok(()) => failing = false,
            // Said once; tried again at the next wake. Searches meanwhile
            // miss the messages not yet indexed.
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(error = %e, index = %file.display(), "could not index messages for search");
            }
            Err(_) => {}
        }
        match wakes.recv_timeout(EVERY) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
