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
//! left the WAL; past [`SOFT`] frames the writer wakes the thread, which
//! runs a PASSIVE checkpoint beside the commits going on (a checkpoint
//! takes no writer's lock). The WAL starts over at the first commit after
//! a checkpoint that left no frame behind; one that did is followed by
//! another at the next commit still past [`SOFT`].
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
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::hooks::{CheckpointMode, Wal};
use rusqlite::{Connection, OpenFlags};

use confab_core::store::StoreError;

/// WAL frames (pages) past which the thread checkpoints: SQLite's own
/// threshold.
pub(crate) const SOFT: c_int = 1_000;

/// WAL frames past which the writer checkpoints by itself (64 MiB of 4 KiB
/// pages).
pub(crate) const HARD: c_int = 16_000;

thread_local! {
    /// The WAL's length after the last commit on this thread by a
    /// connection whose hook is [`noted`].
    static WAL_FRAMES: Cell<c_int> = const { Cell::new(0) };
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
        let thread = std::thread::Builder::new()
            .name("confab-checkpoint".into())
            .spawn(move || {
                while wakes.recv().is_ok() {
                    // Frames committed meanwhile wait for the next wake.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| failed(e.to_string()))?;
        // Replaces SQLite's own checkpoints on this connection.
        writer.wal_hook(Some(noted));
        WAL_FRAMES.set(0);
        Ok(Checkpoints {
            due: Some(due),
            thread: Some(thread),
        })
    }

    /// After a commit on the writer: wakes the thread if the WAL is long.
    /// Costs nothing more while the thread is busy.
    pub(crate) fn after_commit(&self) {
        if WAL_FRAMES.replace(0) >= SOFT
            && let Some(due) = &self.due
        {
            let _ = due.try_send(());
        }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.due = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
