//! Uploaded files, whatever door they are sent or referenced from: where
//! they live and are served, what an id looks like, the JSON sidecar
//! beside each, the link a message carries ([`attach`]), and the index.
//! The web door's handlers (`http/uploads.rs`) store and serve them.
//!
//! The index: what the uploads' limits need to know without touching the disk: every
//! upload's owner and size, each account's stored and in-flight bytes
//! (the quota) and when its recent uploads started (the rate). Loaded
//! from the sidecars when the server starts (which also removes what a
//! crash left half-written), then kept up to date by create and delete,
//! so no request rescans the directory.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The uploads' directory, inside the data dir.
pub const DIR: &str = "uploads";
/// Where uploads are served.
pub const PATH: &str = "/api/v1/uploads";

/// Where upload `id` is served.
pub fn url(config: &crate::Config, id: &str) -> String {
    let base = config.http.public_url.trim_end_matches('/');
    format!("{base}{PATH}/{id}")
}

/// Why a message could not take an upload's link.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No such upload (or it cannot be read).
    #[error("there is no upload with the id {0:?}")]
    NoSuchUpload(String),
    /// The text with the link is too long.
    #[error(transparent)]
    Text(confab_core::TextError),
}

impl AttachError {
    /// The error's code on the web doors.
    pub fn code(&self) -> &'static str {
        match self {
            AttachError::NoSuchUpload(_) => "unknown_upload",
            AttachError::Text(_) => "bad_request",
        }
    }
}

/// `text` with the link of upload `id` appended: how a message on any
/// door references a file (REST and WebSocket sends take an `upload`).
/// The index knows every upload kept: no disk read per message.
pub fn attach(
    index: &Index,
    config: &crate::Config,
    text: &confab_core::Text,
    id: &str,
) -> Result<confab_core::Text, AttachError> {
    if !valid_id(id) || index.owner(id).is_none() {
        return Err(AttachError::NoSuchUpload(id.to_owned()));
    }
    let with_link = format!("{} {}", text.as_str(), url(config, id));
    confab_core::Text::parse(&with_link, config.limits.max_message_bytes).map_err(AttachError::Text)
}

/// The rate window: uploads per hour.
pub const HOUR_MS: i64 = 3_600_000;

/// The limits an upload is checked against (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub quota_bytes: u64,
    pub per_hour: u32,
}

/// Why an upload may not go on.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the uploads per hour: the wait until a slot frees.
    Rate(Duration),
    /// Over the quota: the bytes stored (and in flight) and the quota.
    Quota { used: u64, quota: u64 },
}

/// Why an upload could not be taken out of the index.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// There is no such upload.
    Missing,
    /// The caller may not delete it.
    Forbidden,
}

/// What is kept beside an upload's bytes (`ID.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sidecar {
    pub name: String,
    pub content_type: String,
    pub inline: bool,
    pub size: u64,
    /// The uploader's account (its case-folded key).
    pub uploader: String,
    /// When it was stored (RFC 3339).
    pub time: String,
}

/// The index of the uploads directory.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Upload id → (uploader, size).
    files: HashMap<String, (String, u64)>,
    /// Uploader → usage.
    users: HashMap<String, Usage>,
}

#[derive(Debug, Default)]
struct Usage {
    /// Bytes of the uploads kept.
    stored: u64,
    /// Bytes received by uploads still in progress.
    pending: u64,
    /// When the uploads of the last hour started (ms since the epoch),
    /// oldest first.
    recent: VecDeque<i64>,
}

impl Usage {
    fn used(&self) -> u64 {
        self.stored.saturating_add(self.pending)
    }
}

/// Whether `id` is one this server could have made (32 hex digits).
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Bytes available to this process on the filesystem holding `dir`.
pub fn free_space(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

impl Index {
    /// Reads every sidecar of `dir` (created owner-only if missing).
    /// Temporary files, and files whose sidecar was never written (a crash
    /// mid-upload), are removed; uploads are counted against their
    /// uploader, and those of the last hour against the rate.
    pub fn open(dir: &Path, now_ms: i64) -> io::Result<Index> {
        crate::files::make_private_dir(dir)?;
        let mut inner = Inner::default();
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        let mut sidecars = std::collections::HashSet::new();
        for name in &names {
            if name.ends_with(".tmp") {
                remove_quietly(&dir.join(name));
                continue;
            }
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if !valid_id(id) {
                continue;
            }
            sidecars.insert(id.to_owned());
            let path = dir.join(name);
            let sidecar = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Sidecar>(&bytes).ok());
            let Some(sidecar) = sidecar else {
                tracing::warn!(path = %path.display(), "unreadable upload sidecar; not counted");
                continue;
            };
            let started = chrono::DateTime::parse_from_rfc3339(&sidecar.time)
                .map_or(0, |t| t.timestamp_millis());
            let usage = inner.users.entry(sidecar.uploader.clone()).or_default();
            usage.stored = usage.stored.saturating_add(sidecar.size);
            if now_ms - started < HOUR_MS {
                usage.recent.push_back(started);
            }
            inner
                .files
                .insert(id.to_owned(), (sidecar.uploader, sidecar.size));
        }
        for name in &names {
            if valid_id(name) && !sidecars.contains(name.as_str()) {
                tracing::warn!(id = %name, "removing an upload whose sidecar was never written");
                remove_quietly(&dir.join(name));
            } else if !name.ends_with(".tmp") {
                // Files stored by older versions become owner-only too.
                make_private(&dir.join(name));
            }
        }
        for usage in inner.users.values_mut() {
            usage.recent.make_contiguous().sort_unstable();
        }
        Ok(Index {
            dir: dir.to_owned(),
            inner: Mutex::new(inner),
        })
    }

    /// The uploads directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an upload by `user` at `now_ms` of `declared` bytes (if the
    /// client said): refused over the rate or when it would not fit the
    /// quota. Once admitted it counts against the rate, finished or not.
    pub fn admit(
        &self,
        user: &str,
        now_ms: i64,
        declared: Option<u64>,
        rule: Rule,
    ) -> Result<(), Refusal> {
        let mut inner = self.lock();
        let usage = inner.users.entry(user.to_owned()).or_default();
        while usage.recent.front().is_some_and(|&t| now_ms - t >= HOUR_MS) {
            usage.recent.pop_front();
        }
        if usage.recent.len() >= rule.per_hour as usize {
            let oldest = usage.recent.front().copied().unwrap_or(now_ms);
            let wait = (oldest + HOUR_MS - now_ms).max(1000);
            return Err(Refusal::Rate(Duration::from_millis(wait as u64)));
        }
        let used = usage.used();
        if used.saturating_add(declared.unwrap_or(0)) > rule.quota_bytes {
            return Err(Refusal::Quota {
                used,
                quota: rule.quota_bytes,
            });
        }
        usage.recent.push_back(now_ms);
        Ok(())
    }

    /// Counts `n` more bytes received for an upload by `user` in progress,
    /// if they fit the quota.
    pub fn reserve(&self, user: &str, n: u64, rule: Rule) -> Result<(), Refusal> {
        let mut inner = self.lock();
        let usage = inner.users.entry(user.to_owned()).or_default();
        let used = usage.used();
        if used.saturating_add(n) > rule.quota_bytes {
            return Err(Refusal::Quota {
                used,
                quota: rule.quota_bytes,
            });
        }
        usage.pending += n;
        Ok(())
    }

    /// Forgets `n` bytes of an upload by `user` that did not complete.
    pub fn release(&self, user: &str, n: u64) {
        let mut inner = self.lock();
        if let Some(usage) = inner.users.get_mut(user) {
            usage.pending = usage.pending.saturating_sub(n);
        }
    }

    /// An upload of `size` bytes (all reserved) is complete and kept.
    pub fn commit(&self, id: &str, user: &str, size: u64) {
        let mut inner = self.lock();
        let usage = inner.users.entry(user.to_owned()).or_default();
        usage.pending = usage.pending.saturating_sub(size);
        usage.stored = usage.stored.saturating_add(size);
        inner.files.insert(id.to_owned(), (user.to_owned(), size));
    }

    /// Who uploaded `id`, if it is kept.
    pub fn owner(&self, id: &str) -> Option<String> {
        self.lock().files.get(id).map(|(user, _)| user.clone())
    }

    /// Takes upload `id` out (to delete it) if `may` allows its uploader:
    /// its bytes no longer count. Returns the uploader and the size.
    pub fn take(&self, id: &str, may: impl FnOnce(&str) -> bool) -> Result<(String, u64), Take> {
        let mut inner = self.lock();
        let (user, _) = inner.files.get(id).ok_or(Take::Missing)?;
        if !may(user) {
            return Err(Take::Forbidden);
        }
        let (user, size) = inner.files.remove(id).ok_or(Take::Missing)?;
        if let Some(usage) = inner.users.get_mut(&user) {
            usage.stored = usage.stored.saturating_sub(size);
        }
        Ok((user, size))
    }

    /// Puts back an upload taken out whose deletion failed.
    pub fn restore(&self, id: &str, user: &str, size: u64) {
        let mut inner = self.lock();
        let usage = inner.users.entry(user.to_owned()).or_default();
        usage.stored = usage.stored.saturating_add(size);
        inner.files.insert(id.to_owned(), (user.to_owned(), size));
    }

    /// `user`'s stored bytes and in-flight bytes.
    pub fn usage(&self, user: &str) -> (u64, u64) {
        self.lock()
            .users
            .get(user)
            .map_or((0, 0), |u| (u.stored, u.pending))
    }
}

/// Makes a file owner-only (0600) if it is not.
fn make_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            let private = std::fs::Permissions::from_mode(0o600);
            if let Err(e) = std::fs::set_permissions(path, private) {
                tracing::warn!(path = %path.display(), error = %e, "cannot make an upload owner-only");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover upload file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        quota_bytes: 100,
        per_hour: 3,
    };

    #[test]
    fn rate_is_a_sliding_hour() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("uploads"), 0).unwrap();
        for t in [0, 10, 20] {
            index.admit("alice", t, None, RULE).unwrap();
        }
        assert_eq!(
            index.admit("alice", 1000, None, RULE),
            Err(Refusal::Rate(Duration::from_millis(HOUR_MS as u64 - 1000)))
        );
        // Someone else is not held up.
        index.admit("bob", 1000, None, RULE).unwrap();
        // An hour after the first, one slot is free again.
        index.admit("alice", HOUR_MS, None, RULE).unwrap();
        assert!(index.admit("alice", HOUR_MS, None, RULE).is_err());
    }

    #[test]
    fn quota_counts_stored_and_in_flight_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("uploads"), 0).unwrap();
        assert_eq!(
            index.admit("alice", 0, Some(101), RULE),
            Err(Refusal::Quota {
                used: 0,
                quota: 100
            })
        );
        index.reserve("alice", 60, RULE).unwrap();
        index.commit("a", "alice", 60);
        // Two uploads at once cannot share the last 40 bytes twice.
        index.reserve("alice", 30, RULE).unwrap();
        assert!(index.reserve("alice", 20, RULE).is_err());
        index.release("alice", 30);
        assert_eq!(index.usage("alice"), (60, 0));
        assert_eq!(index.owner("a").as_deref(), Some("alice"));
        assert_eq!(index.take("a", |u| u == "bob"), Err(Take::Forbidden));
        assert_eq!(index.usage("alice"), (60, 0));
        assert_eq!(
            index.take("a", |u| u == "alice"),
            Ok(("alice".to_owned(), 60))
        );
        assert_eq!(index.usage("alice"), (0, 0));
        assert_eq!(index.owner("a"), None);
        assert_eq!(index.take("a", |_| true), Err(Take::Missing));
        index.restore("a", "alice", 60);
        assert_eq!(index.usage("alice"), (60, 0));
        assert_eq!(index.owner("a").as_deref(), Some("alice"));
    }

    #[test]
    fn opening_counts_sidecars_and_clears_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let up = dir.path().join("uploads");
        std::fs::create_dir(&up).unwrap();
        #[cfg(unix)]
        {
            // As an older version left them: readable by anyone.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let id = "0123456789abcdef0123456789abcdef";
        let orphan = "fedcba9876543210fedcba9876543210";
        std::fs::write(up.join(id), b"12345").unwrap();
        let time = crate::time::rfc3339(confab_core::Timestamp(HOUR_MS));
        let sidecar = serde_json::json!({"name": "x", "content_type": "text/plain",
            "inline": false, "size": 5, "uploader": "alice", "time": time});
        std::fs::write(up.join(format!("{id}.json")), sidecar.to_string()).unwrap();
        #[cfg(unix)]
        for name in [id.to_owned(), format!("{id}.json")] {
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(up.join(name), open).unwrap();
        }
        std::fs::write(up.join(orphan), b"half").unwrap();
        std::fs::write(up.join(format!("{orphan}.tmp")), b"half").unwrap();
        let index = Index::open(&up, HOUR_MS + 10).unwrap();
        assert_eq!(index.usage("alice"), (5, 0));
        assert_eq!(index.owner(id).as_deref(), Some("alice"));
        let mut left: Vec<_> = std::fs::read_dir(&up)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, [id.to_owned(), format!("{id}.json")]);
        // That upload, from 10 ms ago, counts against the rate.
        let one = Rule {
            quota_bytes: 100,
            per_hour: 1,
        };
        assert!(matches!(
            index.admit("alice", HOUR_MS + 20, None, one),
            Err(Refusal::Rate(_))
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&up), 0o700);
            for name in &left {
                assert_eq!(mode(&up.join(name)), 0o600, "{name}");
            }
        }
    }
}
