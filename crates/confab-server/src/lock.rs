//! [`DataDirLock`]: one server per data dir.
//!
//! Two servers on one data dir would each load the same state into their
//! own hub and then write over each other's (memberships, kept messages,
//! the audit log). So the server holds an exclusive lock on a file in the
//! data dir (`confab.lock`, with its process id for the error message)
//! for as long as it runs, and a second one is refused naming the dir.
//! The lock is the operating system's (`flock` on Unix, through std's
//! `File::try_lock`), so it goes with the process however it ends: a
//! `kill -9` leaves no stale lock behind.
//!
//! The admin commands that only add to or read the database (`user add`,
//! `user passwd`, `user list`, `admin backup`) do not take it: they work
//! beside a running server, sharing SQLite in WAL mode. `user del` does,
//! as a running hub holds the account in memory.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "confab.lock";

/// The data dir's lock, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Why the data dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the data dir {} is in use by another confab server{}",
        dir.display(),
        pid.as_deref().map(|p| format!(" (process {p})")).unwrap_or_default()
    )]
    Held { dir: PathBuf, pid: Option<String> },
    #[error("cannot lock the data dir {}: {error}", dir.display())]
    Io { dir: PathBuf, error: io::Error },
}

impl DataDirLock {
    /// Takes the lock of the data dir `dir` (which must exist), or says
    /// who holds it. Never waits.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io_error = |error| LockError::Io {
            dir: dir.to_owned(),
            error,
        };
        let mut file = crate::files::private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io_error)?;
        let locked = file.try_lock();
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                let pid = (!pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
                    .then(|| pid.to_owned());
                return Err(LockError::Held {
                    dir: dir.to_owned(),
                    pid,
                });
            }
            Err(TryLockError::Error(error)) => return Err(io_error(error)),
        }
        // Ours now: say who holds it, for whoever is refused next.
        file.set_len(0).map_err(io_error)?;
        file.rewind().map_err(io_error)?;
        writeln!(file, "{}", std::process::id()).map_err(io_error)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_dir_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        let pid = format!("(process {})", std::process::id());
        assert!(text.contains("in use by another confab server"), "{text}");
        assert!(text.contains(&pid), "{text}");
        drop(first);
        let _again = DataDirLock::acquire(dir.path()).unwrap();
    }
}
