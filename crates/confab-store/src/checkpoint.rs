//! WAL checkpoints off the writer's path.
//!
//! Left to itself, SQLite checkpoints a WAL inside the commit that takes it
//! past 1,000 frames: that commit copies the frames' pages into the
//! database file and syncs both files before it returns, and every batch
//! behind it waits. Under a thousand commits a second (the private-message
//! benchmark) that made about one commit in two hundred take 3–9 ms instead
//! of 0.25, and the messages in and behind it waited as long.
//!
//! [`Checkpoints::start`] hands that work to a thread of its own, with a
//! connection of its own. The writer's WAL hook notes how long each commit
//! left the WAL; once [`SOFT`] frames have been written since what the
//! thread last copied, the writer wakes the thread, which runs a PASSIVE
//! checkpoint beside the commits going on (a checkpoint takes no writer's
//! lock). Commits go on meanwhile, so a checkpoint seldom ends with the
//! whole WAL copied; the thread runs another at once, on the few frames
//! added during the last, while that leaves fewer behind (at most
//! [`PASSES`]). The WAL starts over at the first commit after one that
//! left no frame behind: once the WAL is [`RESTART`] frames long and the
//! thread has left at most [`CAUGHT_UP`] behind, the writer copies those
//! itself between two commits, so that one does.
//!
//! (It once woke at every commit once the WAL was past [`SOFT`] frames in
//! all: about 300 checkpoints a second under the rooms benchmark, each
//! sorting the WAL's index and syncing the database file beside the
//! commits' own syncs.)
//!
//! Should the thread fall behind (a disk slower than the writes) or fail,
//! the writer's hook checkpoints by itself once the WAL passes [`HARD`]
//! frames, as SQLite would have at 1,000: the WAL stays bounded either
//! way. A failed checkpoint loses nothing (the frames stay in the WAL and
//! the next checkpoint copies them), so neither side reports one: the
//! commits themselves report a failing disk.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::{Connection, OpenFlags};

use confab_core::store::StoreError;

/// WAL frames (pages) written since the last checkpoint's copy past which
/// the thread checkpoints again: SQLite's own threshold.
pub(crate) const SOFT: c_int = 1_000;

/// Checkpoints the thread runs in a row at most, each on what the commits
/// added during the last.
const PASSES: usize = 4;

/// WAL frames past which the writer copies the last few frames itself
/// (at most [`CAUGHT_UP`]), between two commits, once the thread has
/// copied the rest: a checkpoint beside the commits seldom ends with the
/// whole WAL copied, and only such a one lets the WAL start over.
const RESTART: c_int = 4_000;

/// Frames left to copy for the writer to finish the thread's work: a
/// fraction of a millisecond's copying and a sync.
const CAUGHT_UP: c_int = 64;

/// WAL frames past which the writer checkpoints by itself (64 MiB of 4 KiB
/// pages).
pub(crate) const HARD: c_int = 16_000;

thread_local! {
    /// The WAL's length after the last commit on this thread by a
    /// connection whose hook is [`noted`].
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
    /// The same, as [`Checkpoints::after_commit`] last saw it.
    static LAST_FRAMES: Cell<c_int> = const { Cell::new(0) };
}

/// The writer's WAL hook, run at each of its commits.
fn noted(wal: &Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    if frames >= HARD {
        // A checkpoint that fails (or meets the thread's) leaves the WAL
        // as it is; the commit stands either way.
        let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
    }
    Ok(())
}

/// The writer's handle on its checkpoint thread. Dropping it stops the
/// thread once a checkpoint under way ends.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    due: Option<mpsc::SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The WAL's frames the thread's last checkpoint had copied into the
    /// database (all of them up to this one).
    copied: Arc<AtomicI32>,
}

impl Checkpoints {
    /// Starts the thread on a new connection to `path` (syncing as
    /// `synchronous` says) and hooks `writer` up to it.
    pub(crate) fn start(
        writer: &Connection,
        path: &Path,
        synchronous: &str,
    ) -> Result<Checkpoints, StoreError> {
        let failed = |what: String| {
            StoreError::Other(format!(
                "cannot start checkpoints of {}: {what}",
                path.display()
            ))
        };
        // No SQLITE_OPEN_URI, as for the writer; the file exists.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| failed(e.to_string()))?;
        conn.pragma_update(None, "synchronous", synchronous)
            .map_err(|e| failed(e.to_string()))?;
        let (due, wakes) = mpsc::sync_channel(1);
        let copied = Arc::new(AtomicI32::new(0));
        let thread = std::thread::Builder::new()
            .name("confab-checkpoint".into())
            .spawn({
                let copied = copied.clone();
                move || {
                    while wakes.recv().is_ok() {
                        checkpoint(&conn, &copied);
                    }
                }
            })
            .map_err(|e| failed(e.to_string()))?;
        // Replaces SQLite's own checkpoints on this connection.
        writer.wal_hook(Some(noted));
        WAL_FRAMES.set(0);
        LAST_FRAMES.set(0);
        Ok(Checkpoints {
            due: Some(due),
            thread: Some(thread),
            copied,
        })
    }

    /// After a commit on `writer`: wakes the thread once [`SOFT`] frames
    /// wait to be copied (costing nothing more while it is busy), or
    /// finishes its work for the WAL to start over.
    pub(crate) fn after_commit(&self, writer: &Connection) {
        let frames = WAL_FRAMES.replace(0);
        if frames == 0 {
            return;
        }
        // Shorter than after the last commit: the WAL started over, and
        // what the thread copied was of the old one.
        if frames < LAST_FRAMES.replace(frames) {
            self.copied.store(0, Ordering::Relaxed);
        }
        let copied = self.copied.load(Ordering::Relaxed);
        if frames >= RESTART && (0..=CAUGHT_UP).contains(&(frames - copied)) {
            // A checkpoint that fails, or meets the thread's, leaves the
            // WAL as it is; the next commit tries again.
            let _ = passive(writer);
        } else if due(frames, copied)
            && let Some(due) = &self.due
        {
            let _ = due.try_send(());
        }
    }
}

/// Whether a WAL of `frames` frames, of which the thread's last
/// checkpoint had copied `copied`, is due a checkpoint: [`SOFT`] frames
/// wait to be copied. A WAL shorter than what was copied has started over
/// since: all of it waits.
fn due(frames: c_int, copied: c_int) -> bool {
    let waiting = if frames < copied {
        frames
    } else {
        frames - copied
    };
    waiting >= SOFT
}

/// Runs PASSIVE checkpoints on `conn`, again while one leaves fewer
/// frames behind than the last (commits go on beside them), at most
/// [`PASSES`]; notes in `copied` what the last one had copied. A failed
/// one (the disk) is left to the next wake: its frames stay in the WAL.
fn checkpoint(conn: &Connection, copied: &AtomicI32) {
    let mut behind = c_int::MAX;
    for _ in 0..PASSES {
        let Ok((frames, done)) = passive(conn) else {
            return;
        };
        copied.store(done.max(0), Ordering::Relaxed);
        let left = frames - done;
        if left <= 0 || left >= behind {
            return;
        }
        behind = left;
    }
}

/// One PASSIVE checkpoint on `conn`: the WAL's frames, and how many of
/// them are now in the database.
fn passive(conn: &Connection) -> rusqlite::Result<(c_int, c_int)> {
    // (busy, frames in the WAL, frames copied into the database)
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.due = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_due_once_soft_frames_wait_past_what_was_copied() {
        assert!(!due(SOFT - 1, 0));
        assert!(due(SOFT, 0));
        // Copied up to 1,000: the next is due at 2,000, not at each commit.
        assert!(!due(SOFT + 500, SOFT));
        assert!(due(2 * SOFT, SOFT));
        // Started over since: the new WAL's frames all wait.
        assert!(!due(300, 5 * SOFT));
        assert!(due(SOFT + 200, 5 * SOFT));
    }

    /// A writer whose checkpoint thread is gone (or far behind) still
    /// keeps its WAL bounded: the hook copies the WAL into the database
    /// itself once a commit leaves it [`HARD`] frames long.
    #[test]
    fn the_writer_checkpoints_by_itself_past_hard_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "OFF").unwrap();
        conn.execute("CREATE TABLE t (b BLOB)", []).unwrap();
        // The hook replaces SQLite's own checkpoints, as `start` has it,
        // and no thread runs.
        conn.wal_hook(Some(noted));
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let page = 4096;
        // Commits of 1,000 rows of 3,000 bytes, a page each, until one
        // leaves the WAL past HARD frames; the next commit finds the WAL
        // started over only if that one's checkpoint copied all of it.
        let mut rows: i64 = 0;
        let mut insert = |n: usize| {
            let tx = conn.unchecked_transaction().unwrap();
            for _ in 0..n {
                tx.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                    .unwrap();
            }
            tx.commit().unwrap();
            rows += i64::try_from(n).unwrap();
            WAL_FRAMES.get()
        };
        let mut frames = 0;
        while frames < HARD {
            frames = insert(1_000);
            assert!(frames > 0, "the hook did not run");
        }
        assert!(
            len(&path) >= u64::try_from(HARD).unwrap() * page,
            "no checkpoint at {frames} frames: the database is {} bytes",
            len(&path)
        );
        let after = insert(1);
        assert!(after < 100, "the WAL did not start over: {after} frames");
        let count: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, rows);
    }
}
