//! What the server keeps is for its owner only: the data dir and every
//! file in it (database, its WAL, the audit log, the token key) are
//! created 0700/0600, whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Client, start_in};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_dir_and_its_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let s = start_in(&data, |_| {}).await;
    // Something to write: a message, so the database and audit log grow.
    let mut alice = Client::login(s.addr, "alice").await;
    alice.say("#general", "a secret").await;
    s.shutdown().await;

    assert_eq!(mode(&data), 0o700, "the data dir");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files += 1;
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // confab.db (and its -wal/-shm while open), audit.jsonl, token.key.
    assert!(files >= 3, "only {files} files in {}", data.display());
    assert!(data.join("token.key").exists());
}

#[tokio::test]
async fn the_audit_log_can_keep_private_texts_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |c| c.audit.private_texts = false).await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.send("/msg @bob our little secret").await;
    bob.expect("our little secret").await;
    alice.say("#general", "a public remark").await;
    s.shutdown().await;

    let log = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert!(!log.contains("our little secret"), "{log}");
    let private: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "private_message")
        .collect();
    assert_eq!(private.len(), 1, "{log}");
    assert_eq!(private[0]["from"], "alice");
    assert_eq!(private[0]["to"], "bob");
    assert!(private[0]["text"].is_null());
    assert!(log.contains("a public remark"), "room messages keep theirs");
}
