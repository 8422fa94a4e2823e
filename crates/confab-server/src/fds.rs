//! The open-file limit, and how many connections fit under it.
//!
//! Every connection is a file descriptor. Many systems start a process
//! with a soft limit of 1,024 files and a much higher hard limit, so a
//! server left at the soft limit fails its `accept` calls (`EMFILE`) long
//! before `limits.max_connections`, and the clients past it hang in the
//! listen backlog instead of being told the server is full. The server
//! therefore raises its soft limit to the hard one at start, and caps the
//! connections it admits to what the limit leaves room for.

use tracing::warn;

/// Files the server keeps open besides its connections: listeners, the
/// SQLite connections' database, WAL and shared-memory files, the audit
/// log, the runtime's epoll and wake-up descriptors, uploads being
/// written, with room to spare.
pub const RESERVED: u64 = 256;

/// Raises the soft open-file limit to the hard one (or as near as the
/// system allows) and returns the soft limit now in force, `None` when
/// there is none.
pub fn raise_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_some() && now.current != now.maximum {
        let raised = Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            // An unlimited or very high hard limit may be refused (the
            // kernel's `nr_open`); the soft limit in force stays.
            warn!(%error, soft = ?now.current, hard = ?now.maximum, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// How many connections the server admits: `limits.max_connections`, or
/// fewer when the open-file limit `files` leaves room for fewer, after
/// the server's own files and the refused connections being told so
/// (`limits.max_pending_refusals`). Never below one.
pub fn connection_cap(max_connections: usize, files: Option<u64>, refusing: usize) -> usize {
    let Some(files) = files else {
        return max_connections;
    };
    let room = files.saturating_sub(RESERVED + refusing as u64).max(1);
    max_connections.min(usize::try_from(room).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_the_servers_own_files_and_refusals() {
        assert_eq!(connection_cap(10_000, Some(1_024), 64), 1_024 - 256 - 64);
        assert_eq!(connection_cap(10_000, Some(1_048_576), 64), 10_000);
        assert_eq!(connection_cap(10_000, None, 64), 10_000);
        assert_eq!(connection_cap(10_000, Some(100), 64), 1);
    }

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let soft = raise_limit();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(soft, now.current);
        // An unlimited hard limit may be refused; any other is reached.
        if now.maximum.is_some() {
            assert_eq!(now.current, now.maximum);
        }
    }
}
