//! The store on real files in temporary directories.

use std::path::{Path, PathBuf};

use confab_core::store::{
    Account, AccountId, AccountState, Bound, Conversation, HistoryQuery, KeptFor, KeptGuest, Op,
    RoomSettings, Store, StoreError, Visibility,
};
use confab_core::{Ban, Message, MsgId, MsgKind, Nick, NickKey, RoomKey, RoomName, Target, Text};
use confab_core::{Marker, RoomModes, Status, Timestamp, Topic};
use rusqlite::Connection;
use tempfile::TempDir;

use crate::schema::MIGRATIONS;
use crate::sqlite::{
    CONVERSATIONS, GUEST_PENDING, HISTORY_PRIVATE_EARLIEST, HISTORY_PRIVATE_LATEST,
    HISTORY_ROOM_EARLIEST, HISTORY_ROOM_LATEST, PENDING, SEARCH,
};
use crate::{SCHEMA_VERSION, SqliteOptions, SqliteStore, Synchronous};

// ---- helpers ----

fn nick(s: &str) -> Nick {
    Nick::parse(s, 64).unwrap()
}

fn nk(s: &str) -> NickKey {
    nick(s).key()
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s, 64).unwrap()
}

fn rk(s: &str) -> RoomKey {
    room(s).key()
}

fn text(s: &str) -> Text {
    Text::parse(s, 4096).unwrap()
}

fn to_room(id: u64, from: &str, to: &str, body: &str) -> Message {
    Message {
        id: MsgId(id),
        time: Timestamp(1_000 + id as i64),
        from: nick(from),
        to: Target::Room(room(to)),
        kind: MsgKind::Say,
        text: text(body),
        tags: confab_core::ClientTags::default(),
    }
}

fn to_user(id: u64, from: &str, to: &str, body: &str) -> Message {
    Message {
        id: MsgId(id),
        time: Timestamp(1_000 + id as i64),
        from: nick(from),
        to: Target::User(nick(to)),
        kind: MsgKind::Say,
        text: text(body),
        tags: confab_core::ClientTags::default(),
    }
}

const OP: Status = Status {
    op: true,
    voice: false,
};
const VOICE: Status = Status {
    op: false,
    voice: true,
};
const BOTH: Status = Status {
    op: true,
    voice: true,
};
const NONE: Status = Status {
    op: false,
    voice: false,
};

/// The one number `sql` selects.
fn number(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn ids(msgs: &[Message]) -> Vec<u64> {
    msgs.iter().map(|m| m.id.0).collect()
}

struct Db {
    _dir: TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.db");
        Db { _dir: dir, path }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path, SqliteOptions::default()).unwrap()
    }

    fn raw(&self) -> Connection {
        Connection::open(&self.path).unwrap()
    }
}

fn all(store: &mut SqliteStore, conv: &Conversation) -> Vec<Message> {
    store
        .history(conv, &HistoryQuery::before(None, usize::MAX))
        .unwrap()
}

fn private(a: &str, b: &str) -> Conversation {
    Conversation::Private(nk(a), nk(b))
}

fn sees(rooms: &[&str], private: Option<&str>) -> Visibility {
    Visibility {
        rooms: rooms.iter().map(|r| rk(r)).collect(),
        private: private.map(nk),
        private_since: Timestamp(0),
    }
}

// ---- opening ----

#[test]
fn open_creates_the_file_with_wal_and_pragmas() {
    let db = Db::new();
    assert!(!db.path.exists());
    let store = db.open();
    assert!(db.path.exists());
    let conn = store.conn();
    let get = |p: &str| -> String {
        conn.pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| match v {
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap()
    };
    assert_eq!(get("journal_mode"), "wal");
    assert_eq!(get("synchronous"), "2"); // FULL
    assert_eq!(get("foreign_keys"), "1");
    assert_eq!(get("busy_timeout"), "5000");
    assert_eq!(get("user_version"), SCHEMA_VERSION.to_string());
    assert_eq!(get("application_id"), 0x636f_6e66.to_string());
    drop(store);

    let normal = SqliteStore::open(
        &db.path,
        SqliteOptions {
            synchronous: Synchronous::Normal,
        },
    )
    .unwrap();
    let sync: i64 = normal
        .conn()
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1); // NORMAL
}

/// Storing a message builds no temporary b-tree (SQLite's way of checking
/// `x IN (a, b, c)`: it cost 13% of the store thread), and the kind is
/// still checked, in a file made new and in one upgraded.
#[test]
fn a_message_insert_builds_no_temporary_table_and_checks_its_kind() {
    let insert = "INSERT INTO messages (id, time_ms, from_nick, from_key, kind, target_kind, \
                  target_name, target_key, text) \
                  VALUES (?1, 1, 'a', 'a', ?2, 'user', 'b', 'b', 'hi')";
    let check = |conn: &rusqlite::Connection, id: i64| {
        let mut plan = conn.prepare(&format!("EXPLAIN {insert}")).unwrap();
        let ops: Vec<String> = plan
            .query_map(rusqlite::params![0, "say"], |r| r.get::<_, String>(1))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(ops.iter().any(|o| o == "Insert"), "{ops:?}");
        assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{ops:?}");
        conn.execute(insert, rusqlite::params![id, "action"])
            .unwrap();
        let refused = conn
            .execute(insert, rusqlite::params![id + 1, "shout"])
            .unwrap_err();
        assert!(refused.to_string().contains("CHECK"), "{refused}");
    };
    let db = Db::new();
    check(db.open().conn(), 1000);

    let old = Db::new();
    drop(v1_file(&old));
    let store = old.open();
    check(store.conn(), 1000);
    let verdict: String = store
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    // Another connection sees the edited definition too.
    check(&rusqlite::Connection::open(&old.path).unwrap(), 2000);
}

/// A statement with a bound `LIMIT` keeps its plan when the limit is
/// bound again, on the store's connections and the indexer's; on a plain
/// connection SQLite prepares it anew every time.
#[test]
fn a_bound_limit_does_not_reprepare_the_statement() {
    use rusqlite::StatementStatus::RePrepare;
    let reprepares = |conn: &rusqlite::Connection| {
        let mut stmt = conn
            .prepare_cached("SELECT id FROM messages ORDER BY id LIMIT ?1")
            .unwrap();
        for limit in [1, 2, 3] {
            let rows: Vec<i64> = stmt
                .query_map([limit], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(rows.len() <= 3);
        }
        stmt.get_status(RePrepare)
    };
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[Op::Message(to_room(1, "a", "#r", "x"))])
        .unwrap();
    assert_eq!(reprepares(store.conn()), 0);
    assert_eq!(reprepares(&crate::index::connect(&db.path).unwrap()), 0);
    let plain = rusqlite::Connection::open(&db.path).unwrap();
    assert!(reprepares(&plain) > 0);
}

#[test]
fn an_empty_store_loads_empty() {
    let db = Db::new();
    let mut store = db.open();
    let snap = store.load().unwrap();
    assert!(snap.accounts.is_empty());
    assert_eq!(snap.next_msg_id, 1);
    assert!(store.accounts().unwrap().is_empty());
    assert_eq!(store.topic(&rk("#x")).unwrap(), None);
    assert!(all(&mut store, &Conversation::Room(rk("#x"))).is_empty());
    assert!(
        store
            .pending(&KeptFor::Account(AccountId(1)), 100)
            .unwrap()
            .is_empty()
    );
    // Reopening a current file changes nothing.
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().next_msg_id, 1);
}

#[test]
fn too_new_schema_is_refused() {
    let db = Db::new();
    db.raw().pragma_update(None, "user_version", 99).unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert_eq!(
        err,
        StoreError::TooNew {
            found: 99,
            known: SCHEMA_VERSION
        }
    );

    // Also a real confab file that a newer version bumped.
    let db = Db::new();
    drop(db.open());
    db.raw()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert_eq!(
        err,
        StoreError::TooNew {
            found: SCHEMA_VERSION + 1,
            known: SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains("upgrade confab"), "{err}");
}

#[test]
fn garbage_file_is_corrupt() {
    let db = Db::new();
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db.path, &garbage).unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    match &err {
        StoreError::Corrupt(msg) => {
            assert!(msg.contains("not a database"), "{msg}");
            assert!(msg.contains("confab.db"), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The file was not touched.
    assert_eq!(std::fs::read(&db.path).unwrap(), garbage);

    // A short text file too.
    std::fs::write(&db.path, b"hello, I am a text file\n").unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[test]
fn another_programs_database_is_refused() {
    let db = Db::new();
    db.raw()
        .execute_batch("CREATE TABLE accounts (x); INSERT INTO accounts VALUES (1);")
        .unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("no confab schema version")),
        "{err:?}"
    );

    let db = Db::new();
    db.raw()
        .pragma_update(None, "application_id", 0x1234)
        .unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("another program")),
        "{err:?}"
    );
}

#[test]
fn unopenable_location_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A missing directory, and a "directory" that is a regular file (which
    // fails even for root).
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    for path in [
        dir.path().join("missing").join("confab.db"),
        file.join("confab.db"),
    ] {
        let err = SqliteStore::open(&path, SqliteOptions::default()).unwrap_err();
        match &err {
            StoreError::Other(msg) => {
                assert!(msg.contains(&path.display().to_string()), "{msg}")
            }
            other => panic!("expected Other, got {other:?}"),
        }
    }
    // A directory where the file should be.
    let err = SqliteStore::open(dir.path(), SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains(&dir.path().display().to_string())),
        "{err:?}"
    );
}

// ---- accounts ----

#[test]
fn accounts_round_trip() {
    let db = Db::new();
    let mut store = db.open();
    let alice = store
        .create_account(&nick("Alice"), "$argon2id$a", Timestamp(10))
        .unwrap();
    assert_eq!(alice.name.as_str(), "Alice");
    assert_eq!(alice.created, Timestamp(10));
    assert_eq!(alice.last_seen, Timestamp(10));
    let bob = store
        .create_account(&nick("bob"), "$argon2id$b", Timestamp(20))
        .unwrap();
    let under = store
        .create_account(&nick("[under]"), "$argon2id$u", Timestamp(30))
        .unwrap();
    assert_ne!(alice.id, bob.id);

    // Looked up in any case; the spelling is kept.
    assert_eq!(store.account(&nk("ALICE")).unwrap(), Some(alice.clone()));
    assert_eq!(store.account(&nk("bob")).unwrap(), Some(bob.clone()));
    assert_eq!(store.account(&nk("carol")).unwrap(), None);

    // By name key ("[" sorts before lowercase letters), not by spelling
    // (which would put "Alice" first).
    let names: Vec<_> = store
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| a.name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["[under]", "Alice", "bob"]);

    store
        .set_password(&nk("aLiCe"), "$argon2id$new", Timestamp(0))
        .unwrap();
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert_eq!(
        store.set_password(&nk("carol"), "x", Timestamp(0)),
        Err(StoreError::NoSuchAccount("carol".into()))
    );

    drop(store);
    let mut store = db.open();
    assert_eq!(
        store.accounts().unwrap(),
        vec![
            under,
            Account {
                password_hash: "$argon2id$new".into(),
                ..alice
            },
            bob,
        ]
    );
}

#[test]
fn name_taken_is_case_insensitive() {
    let db = Db::new();
    let mut store = db.open();
    store
        .create_account(&nick("Alice"), "h", Timestamp(1))
        .unwrap();
    for other in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_eq!(
            store.create_account(&nick(other), "h2", Timestamp(2)),
            Err(StoreError::NameTaken(nick(other)))
        );
    }
    assert_eq!(store.accounts().unwrap().len(), 1);
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().password_hash,
        "h"
    );
}

// ---- ops, load and durability ----

#[test]
fn every_op_round_trips_and_survives_reopen() {
    let db = Db::new();
    let mut store = db.open();
    let alice = store
        .create_account(&nick("Alice"), "ha", Timestamp(1))
        .unwrap();
    let bob = store
        .create_account(&nick("Bob"), "hb", Timestamp(2))
        .unwrap();

    let topic = Topic {
        text: text("Rust \x02talk\x02"),
        by: nick("Alice"),
        time: Timestamp(500),
    };
    let mut action = to_room(2, "Bob", "#Rust", "waves");
    action.kind = MsgKind::Action;
    let mut notice = to_user(4, "Bob", "Alice", "ping");
    notice.kind = MsgKind::Notice;
    let settings = RoomSettings {
        name: room("#Rust"),
        modes: RoomModes {
            topic_ops_only: true,
            no_external: true,
            key: Some("sesame".into()),
            limit: Some(50),
            ..RoomModes::default()
        },
        bans: vec![Ban {
            mask: "*!*@spam.example".into(),
            by: nick("Alice"),
            time: Timestamp(700),
        }],
    };
    let ops = vec![
        Op::Message(to_room(1, "Alice", "#Rust", "hello rustaceans")),
        Op::Message(action.clone()),
        Op::Message(to_user(3, "Bob", "Alice", "are you there?")),
        Op::Message(notice.clone()),
        Op::Pending {
            to: KeptFor::Account(alice.id),
            msg: MsgId(3),
        },
        Op::Pending {
            to: KeptFor::Account(alice.id),
            msg: MsgId(4),
        },
        Op::Topic {
            room: room("#Rust"),
            topic: Some(topic.clone()),
        },
        Op::Join {
            account: alice.id,
            room: room("#Rust"),
        },
        Op::Join {
            account: alice.id,
            room: room("#café"),
        },
        Op::Join {
            account: alice.id,
            room: room("#zed"),
        },
        Op::Part {
            account: alice.id,
            room: rk("#CAFÉ"),
        },
        Op::Join {
            account: bob.id,
            room: room("#Rust"),
        },
        Op::Ignore {
            account: alice.id,
            nick: nk("Troll"),
        },
        Op::Ignore {
            account: alice.id,
            nick: nk("spammer"),
        },
        Op::Ignore {
            account: alice.id,
            nick: nk("Mallory"),
        },
        Op::Unignore {
            account: alice.id,
            nick: nk("SPAMMER"),
        },
        Op::LastSeen {
            account: bob.id,
            time: Timestamp(999),
        },
        Op::Status {
            account: bob.id,
            room: rk("#rust"),
            status: Status {
                op: true,
                voice: false,
            },
        },
        Op::Settings(settings.clone()),
    ];
    store.commit(&ops).unwrap();

    let check = |store: &mut SqliteStore| {
        let snap = store.load().unwrap();
        assert_eq!(snap.next_msg_id, 5);
        assert_eq!(
            snap.accounts,
            vec![
                AccountState {
                    account: alice.clone(),
                    rooms: vec![room("#Rust"), room("#zed")],
                    statuses: vec![],
                    ignores: vec![nk("mallory"), nk("troll")],
                    markers: vec![],
                    kept: 2,
                },
                AccountState {
                    account: Account {
                        last_seen: Timestamp(999),
                        tokens_after: Timestamp(0),
                        ..bob.clone()
                    },
                    rooms: vec![room("#Rust")],
                    statuses: vec![(rk("#rust"), OP)],
                    ignores: vec![],
                    markers: vec![],
                    kept: 0,
                },
            ]
        );
        assert_eq!(snap.rooms, vec![settings.clone()]);
        assert_eq!(store.topic(&rk("#rust")).unwrap(), Some(topic.clone()));
        let hist = all(store, &Conversation::Room(rk("#RUST")));
        assert_eq!(
            hist,
            vec![
                to_room(1, "Alice", "#Rust", "hello rustaceans"),
                action.clone()
            ]
        );
        assert_eq!(
            store.pending(&KeptFor::Account(alice.id), 100).unwrap(),
            vec![to_user(3, "Bob", "Alice", "are you there?"), notice.clone()]
        );
        assert!(
            store
                .pending(&KeptFor::Account(bob.id), 100)
                .unwrap()
                .is_empty()
        );
    };
    check(&mut store);
    drop(store);
    let mut store = db.open();
    check(&mut store);

    // Delivered empties the account's pending list up to the id, durably.
    store
        .commit(&[Op::Delivered {
            to: KeptFor::Account(alice.id),
            upto: MsgId(4),
        }])
        .unwrap();
    assert!(
        store
            .pending(&KeptFor::Account(alice.id), 100)
            .unwrap()
            .is_empty()
    );
    // The messages themselves stay for history.
    assert_eq!(ids(&all(&mut store, &private("alice", "bob"))), [3, 4]);
    drop(store);
    let mut store = db.open();
    assert!(
        store
            .pending(&KeptFor::Account(alice.id), 100)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_message_keeps_its_client_tags_across_a_reopen_and_a_bad_one_is_corrupt() {
    let db = Db::new();
    let mut store = db.open();
    let tags = confab_core::ClientTags::new([("+draft/reply", "7"), ("+x", "a;b c")]).unwrap();
    let tagged = Message {
        tags: tags.clone(),
        ..to_room(8, "alice", "#a", "re")
    };
    store
        .commit(&[
            Op::Message(to_room(7, "bob", "#a", "q")),
            Op::Message(tagged.clone()),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let got = all(&mut store, &Conversation::Room(rk("#a")));
    assert_eq!(got, [to_room(7, "bob", "#a", "q"), tagged]);
    assert_eq!(got[1].tags, tags);
    assert!(got[0].tags.is_empty());
    // The file holds key=value pairs, NUL between them.
    let raw: Option<String> = db
        .raw()
        .query_row("SELECT tags FROM messages WHERE id = 8", [], |r| r.get(0))
        .unwrap();
    assert_eq!(raw.as_deref(), Some("+draft/reply=7\0+x=a;b c"));
    drop(store);
    db.raw()
        .execute("UPDATE messages SET tags = 'time=x' WHERE id = 8", [])
        .unwrap();
    let mut store = db.open();
    let history = store.history(
        &Conversation::Room(rk("#a")),
        &HistoryQuery::before(None, 10),
    );
    assert!(
        matches!(history, Err(StoreError::Corrupt(_))),
        "{history:?}"
    );
}

#[test]
fn joins_keep_order_and_ignore_repeats() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let join = |r: &str| Op::Join {
        account: a.id,
        room: room(r),
    };
    store
        .commit(&[join("#one"), join("#two"), join("#three"), join("#ONE")])
        .unwrap();
    let rooms = |store: &mut SqliteStore| store.load().unwrap().accounts[0].rooms.clone();
    assert_eq!(
        rooms(&mut store),
        [room("#one"), room("#two"), room("#three")]
    );
    // Leave and rejoin: now last.
    store
        .commit(&[
            Op::Part {
                account: a.id,
                room: rk("#one"),
            },
            join("#One"),
        ])
        .unwrap();
    assert_eq!(
        rooms(&mut store),
        [room("#two"), room("#three"), room("#One")]
    );
    // Parting a room one is not in, or unignoring someone not ignored, is
    // not an error.
    store
        .commit(&[
            Op::Part {
                account: a.id,
                room: rk("#nowhere"),
            },
            Op::Unignore {
                account: a.id,
                nick: nk("nobody"),
            },
            Op::Ignore {
                account: a.id,
                nick: nk("x"),
            },
            Op::Ignore {
                account: a.id,
                nick: nk("X"),
            },
        ])
        .unwrap();
    assert_eq!(store.load().unwrap().accounts[0].ignores, [nk("x")]);
}

#[test]
fn topics_are_set_replaced_and_cleared() {
    let db = Db::new();
    let mut store = db.open();
    let t = |s: &str, by: &str, time: i64| Topic {
        text: text(s),
        by: nick(by),
        time: Timestamp(time),
    };
    store
        .commit(&[Op::Topic {
            room: room("#Rust"),
            topic: Some(t("first", "a", 1)),
        }])
        .unwrap();
    store
        .commit(&[Op::Topic {
            room: room("#rust"),
            topic: Some(t("second", "b", 2)),
        }])
        .unwrap();
    assert_eq!(
        store.topic(&rk("#RUST")).unwrap(),
        Some(t("second", "b", 2))
    );
    assert_eq!(store.topic(&rk("#other")).unwrap(), None);
    store
        .commit(&[Op::Topic {
            room: room("#Rust"),
            topic: None,
        }])
        .unwrap();
    assert_eq!(store.topic(&rk("#rust")).unwrap(), None);
    // Clearing an unset topic is fine.
    store
        .commit(&[Op::Topic {
            room: room("#Rust"),
            topic: None,
        }])
        .unwrap();
}

#[test]
fn delivered_clears_only_that_account() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let b = store.create_account(&nick("b"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[
            Op::Message(to_user(1, "c", "a", "one")),
            Op::Message(to_user(2, "c", "b", "two")),
            Op::Message(to_user(3, "c", "a", "three")),
            // Ops may come in any order within a batch: the foreign keys
            // are checked at commit.
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(5),
            },
            Op::Message(to_user(5, "c", "a", "five")),
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(3),
            },
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(1),
            },
            Op::Pending {
                to: KeptFor::Account(b.id),
                msg: MsgId(2),
            },
            // Keeping the same message twice keeps it once.
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(1),
            },
        ])
        .unwrap();
    assert_eq!(
        ids(&store.pending(&KeptFor::Account(a.id), 100).unwrap()),
        [1, 3, 5]
    );
    store
        .commit(&[Op::Delivered {
            to: KeptFor::Account(a.id),
            upto: MsgId(5),
        }])
        .unwrap();
    assert!(
        store
            .pending(&KeptFor::Account(a.id), 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.pending(&KeptFor::Account(b.id), 100).unwrap()),
        [2]
    );
}

#[test]
fn delivered_clears_only_up_to_the_message_given_and_pages_read_oldest_first() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let to = KeptFor::Account(a.id);
    let mut ops = Vec::new();
    for id in 1..=7 {
        ops.push(Op::Message(to_user(id, "c", "a", "m")));
        ops.push(Op::Pending {
            to: to.clone(),
            msg: MsgId(id),
        });
    }
    store.commit(&ops).unwrap();
    assert_eq!(ids(&store.pending(&to, 3).unwrap()), [1, 2, 3]);
    store
        .commit(&[Op::Delivered {
            to: to.clone(),
            upto: MsgId(3),
        }])
        .unwrap();
    assert_eq!(ids(&store.pending(&to, 3).unwrap()), [4, 5, 6]);
    // What was not acknowledged survives a restart.
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().accounts[0].kept, 4);
    assert_eq!(ids(&store.pending(&to, 100).unwrap()), [4, 5, 6, 7]);
}

#[test]
fn messages_kept_for_a_guest_name_are_durable_and_move_with_the_name() {
    let db = Db::new();
    let mut store = db.open();
    let bob = KeptFor::Guest(nk("bob"));
    store
        .commit(&[
            Op::Message(to_user(1, "a", "bob", "one")),
            Op::Message(to_user(2, "a", "Bob", "two")),
            Op::Message(to_user(3, "a", "carol", "three")),
            Op::Pending {
                to: bob.clone(),
                msg: MsgId(1),
            },
            Op::Pending {
                to: bob.clone(),
                msg: MsgId(2),
            },
            Op::Pending {
                to: KeptFor::Guest(nk("carol")),
                msg: MsgId(3),
            },
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let snap = store.load().unwrap();
    // Spelled as the latest message to the name spells it.
    assert_eq!(
        snap.guests,
        [
            KeptGuest {
                nick: nick("Bob"),
                kept: 2,
                since: Timestamp(1_001),
            },
            KeptGuest {
                nick: nick("carol"),
                kept: 1,
                since: Timestamp(1_003),
            },
        ]
    );
    assert_eq!(ids(&store.pending(&bob, 10).unwrap()), [1, 2]);
    // An account takes the name over, and with it what was kept.
    let acct = store
        .create_account(&nick("bob"), "h", Timestamp(0))
        .unwrap();
    let to = KeptFor::Account(acct.id);
    store
        .commit(&[Op::MoveKept {
            from: bob.clone(),
            to: to.clone(),
        }])
        .unwrap();
    assert!(store.pending(&bob, 10).unwrap().is_empty());
    assert_eq!(ids(&store.pending(&to, 10).unwrap()), [1, 2]);
    // A guest changing its name takes its own along.
    let dave = KeptFor::Guest(nk("dave"));
    store
        .commit(&[Op::MoveKept {
            from: KeptFor::Guest(nk("carol")),
            to: dave.clone(),
        }])
        .unwrap();
    assert_eq!(ids(&store.pending(&dave, 10).unwrap()), [3]);
    let snap = store.load().unwrap();
    assert_eq!(snap.guests.len(), 1);
    assert_eq!(snap.guests[0].nick, nick("carol"));
    assert_eq!(snap.accounts[0].kept, 2);
    // Delivered to a guest name, up to an id.
    store
        .commit(&[Op::Delivered {
            to: dave.clone(),
            upto: MsgId(3),
        }])
        .unwrap();
    assert!(store.load().unwrap().guests.is_empty());
}

#[test]
fn message_kinds_names_and_texts_round_trip() {
    let db = Db::new();
    let mut store = db.open();
    let odd_room = RoomName::parse("#Café\"q\\ü", 64).unwrap();
    let mut msgs = Vec::new();
    for (i, kind) in [MsgKind::Say, MsgKind::Action, MsgKind::Notice]
        .into_iter()
        .enumerate()
    {
        msgs.push(Message {
            id: MsgId(i as u64 + 1),
            time: Timestamp(-5 + i as i64),
            from: nick("[w]\\e`ird^{x}|_-9"),
            to: Target::Room(odd_room.clone()),
            kind,
            text: text("\x02bold\x02 \x0304red\x03 héllo ✓ 🦀  spaced"),
            tags: confab_core::ClientTags::default(),
        });
    }
    let ops: Vec<_> = msgs.iter().cloned().map(Op::Message).collect();
    store.commit(&ops).unwrap();
    let key = RoomName::parse("#CAFÉ\"Q\\Ü", 64).unwrap().key();
    assert_eq!(all(&mut store, &Conversation::Room(key)), msgs);
}

#[test]
fn next_msg_id_is_one_past_the_highest() {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[
            Op::Message(to_room(7, "a", "#r", "x")),
            Op::Message(to_room(3, "a", "#r", "y")),
        ])
        .unwrap();
    drop(store);
    assert_eq!(db.open().load().unwrap().next_msg_id, 8);
}

// ---- atomicity ----

#[test]
fn a_failing_batch_leaves_nothing() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[Op::Message(to_room(1, "a", "#r", "before"))])
        .unwrap();
    let before = store.load().unwrap();

    let failing: Vec<Vec<Op>> = vec![
        // A duplicate message id midway.
        vec![
            Op::Message(to_room(2, "a", "#r", "new")),
            Op::Join {
                account: a.id,
                room: room("#r"),
            },
            Op::Topic {
                room: room("#r"),
                topic: Some(Topic {
                    text: text("t"),
                    by: nick("a"),
                    time: Timestamp(1),
                }),
            },
            Op::Message(to_room(1, "a", "#r", "duplicate")),
            Op::Ignore {
                account: a.id,
                nick: nk("z"),
            },
        ],
        // A foreign key that only fails at COMMIT (deferred).
        vec![
            Op::Message(to_room(2, "a", "#r", "new")),
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(42),
            },
        ],
        vec![
            Op::Message(to_room(2, "a", "#r", "new")),
            Op::Join {
                account: AccountId(777),
                room: room("#r"),
            },
        ],
        // An unknown account's last-seen time.
        vec![
            Op::Message(to_room(2, "a", "#r", "new")),
            Op::LastSeen {
                account: AccountId(777),
                time: Timestamp(5),
            },
        ],
        // An id SQLite cannot hold.
        vec![
            Op::Message(to_room(2, "a", "#r", "new")),
            Op::Message(to_room(u64::MAX, "a", "#r", "huge")),
        ],
    ];
    for batch in failing {
        let err = store.commit(&batch).unwrap_err();
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        assert_eq!(store.load().unwrap(), before, "after {err}");
        assert_eq!(ids(&all(&mut store, &Conversation::Room(rk("#r")))), [1]);
        assert_eq!(store.topic(&rk("#r")).unwrap(), None);
    }
    // The store is still usable, and the failed id is free.
    store
        .commit(&[Op::Message(to_room(2, "a", "#r", "after"))])
        .unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(ids(&all(&mut store, &Conversation::Room(rk("#r")))), [1, 2]);
    assert_eq!(
        ids(&store.search(&sees(&["#r"], None), "new", 10).unwrap()),
        Vec::<u64>::new(),
        "the full-text index rolled back too"
    );
}

#[test]
fn disk_full_is_reported_and_rolls_back() {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[Op::Message(to_room(1, "a", "#r", "small"))])
        .unwrap();
    let pages = number(store.conn(), "PRAGMA page_count");
    // SQLite reports SQLITE_FULL when the file would outgrow this.
    store
        .conn()
        .pragma_update(None, "max_page_count", pages + 2)
        .unwrap();
    let big = "lorem ipsum ".repeat(300);
    let batch: Vec<_> = (2..200)
        .map(|i| Op::Message(to_room(i, "a", "#r", &big)))
        .collect();
    assert_eq!(store.commit(&batch), Err(StoreError::DiskFull));
    assert_eq!(ids(&all(&mut store, &Conversation::Room(rk("#r")))), [1]);
    assert_eq!(store.load().unwrap().next_msg_id, 2);
}

// ---- history ----

#[test]
fn room_history_pages_backwards() {
    let db = Db::new();
    let mut store = db.open();
    // 1..=50: odd ids in #a (25 messages), even in #b.
    let ops: Vec<_> = (1..=50)
        .map(|i| {
            let r = if i % 2 == 1 { "#A" } else { "#b" };
            Op::Message(to_room(i, "x", r, &format!("message {i}")))
        })
        .collect();
    store.commit(&ops).unwrap();
    let a = Conversation::Room(rk("#a"));
    let page1 = store.history(&a, &HistoryQuery::before(None, 10)).unwrap();
    assert_eq!(ids(&page1), (31..=49).step_by(2).collect::<Vec<_>>());
    let page2 = store
        .history(&a, &HistoryQuery::before(Some(page1[0].id), 10))
        .unwrap();
    assert_eq!(ids(&page2), (11..=29).step_by(2).collect::<Vec<_>>());
    let page3 = store
        .history(&a, &HistoryQuery::before(Some(page2[0].id), 10))
        .unwrap();
    assert_eq!(ids(&page3), [1, 3, 5, 7, 9]);
    assert!(
        store
            .history(&a, &HistoryQuery::before(Some(MsgId(1)), 10))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .history(&a, &HistoryQuery::before(None, 0))
            .unwrap()
            .is_empty()
    );
    // `before` need not be an id of this room.
    assert_eq!(
        ids(&store
            .history(&a, &HistoryQuery::before(Some(MsgId(8)), 2))
            .unwrap()),
        [5, 7]
    );
    // A huge `before` means everything.
    assert_eq!(
        store
            .history(&a, &HistoryQuery::before(Some(MsgId(u64::MAX)), 100))
            .unwrap()
            .len(),
        25
    );
    assert!(all(&mut store, &Conversation::Room(rk("#c"))).is_empty());
}

#[test]
fn private_history_is_both_ways_and_only_that_pair() {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[
            Op::Message(to_user(1, "Alice", "Bob", "hi bob")),
            Op::Message(to_user(2, "bob", "alice", "hi alice")),
            Op::Message(to_user(3, "alice", "carol", "hi carol")),
            Op::Message(to_user(4, "carol", "bob", "psst bob")),
            Op::Message(to_room(5, "alice", "#bob", "a room called bob")),
            Op::Message(to_user(6, "ALICE", "BOB", "shouting")),
            Op::Message(to_user(7, "alice", "alice", "note to self")),
            Op::Message(to_user(8, "bobby", "alice", "not bob")),
        ])
        .unwrap();
    assert_eq!(ids(&all(&mut store, &private("alice", "bob"))), [1, 2, 6]);
    assert_eq!(ids(&all(&mut store, &private("BOB", "Alice"))), [1, 2, 6]);
    assert_eq!(ids(&all(&mut store, &private("carol", "alice"))), [3]);
    assert_eq!(ids(&all(&mut store, &private("bob", "carol"))), [4]);
    assert_eq!(ids(&all(&mut store, &private("alice", "alice"))), [7]);
    assert_eq!(ids(&all(&mut store, &private("alice", "bobby"))), [8]);
    assert!(all(&mut store, &private("bob", "bob")).is_empty());
    assert!(all(&mut store, &private("alice", "dave")).is_empty());
    assert_eq!(
        ids(&store
            .history(
                &private("bob", "alice"),
                &HistoryQuery::before(Some(MsgId(6)), 1)
            )
            .unwrap()),
        [2]
    );
    // The messages come back as sent.
    assert_eq!(
        all(&mut store, &private("alice", "bob"))[1],
        to_user(2, "bob", "alice", "hi alice")
    );
}

#[test]
fn history_queries_use_their_indexes() {
    let db = Db::new();
    let store = db.open();
    let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
        let mut stmt = store
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(params, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    };
    let (min, max) = (i64::MIN, i64::MAX);
    // (id_lo, id_hi, time_lo, time_hi) as `rows::window` makes them: an
    // after-bound, a before-bound, both, and time bounds only.
    let windows: [[i64; 4]; 4] = [
        [11, max, min, max],
        [min, 9, min, max],
        [11, 19, min, max],
        [min, max, 1_001, 1_999],
    ];
    for [id_lo, id_hi, t_lo, t_hi] in windows {
        for sql in [HISTORY_ROOM_EARLIEST, HISTORY_ROOM_LATEST] {
            let p = plan(sql, &[&"#r", &id_lo, &id_hi, &t_lo, &t_hi, &10]);
            // A range of the index, read in its order: no table scan, no sort.
            assert_eq!(
                p, "SEARCH m USING INDEX messages_room (target_key=? AND id>? AND id<?)",
                "{sql}"
            );
        }
        for sql in [HISTORY_PRIVATE_EARLIEST, HISTORY_PRIVATE_LATEST] {
            let p = plan(sql, &[&"a", &"b", &id_lo, &id_hi, &t_lo, &t_hi, &10]);
            assert_eq!(
                p,
                "SEARCH m USING INDEX messages_private (<expr>=? AND <expr>=? AND id>? AND id<?)",
                "{sql}"
            );
        }
    }
    let p = plan(
        CONVERSATIONS,
        &[&r##"["#a","#b"]"##, &"alice", &0, &max, &10, &0],
    );
    assert!(
        p.contains("SEARCH m USING INDEX messages_room (target_key=?)"),
        "{p}"
    );
    assert!(
        p.contains("SEARCH m USING INDEX messages_private (<expr>=?)"),
        "{p}"
    );
    assert!(
        p.contains("SEARCH m USING INDEX messages_private (<expr><?)"),
        "{p}"
    );
    assert!(!p.lines().any(|l| l.starts_with("SCAN m")), "{p}");
    for sql in [PENDING, GUEST_PENDING] {
        let p = plan(sql, &[&1, &10]);
        assert!(p.contains("SEARCH p USING PRIMARY KEY"), "{p}");
        assert!(!p.contains("USE TEMP B-TREE FOR ORDER BY"), "{p}");
    }
    // Searches run on a connection with the index attached.
    let mut store = store;
    let conn = store.search_conn();
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {SEARCH}"))
        .unwrap();
    let p = stmt
        .query_map(
            rusqlite::params!["\"x\"", "[]", None::<String>, 10, 0],
            |r| r.get::<_, String>(3),
        )
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("\n");
    assert!(p.contains("VIRTUAL TABLE INDEX"), "{p}");
    assert!(!p.contains("USE TEMP B-TREE FOR ORDER BY"), "{p}");
}

// ---- history windows ----

fn window(after: Option<Bound>, before: Option<Bound>, limit: usize, latest: bool) -> HistoryQuery {
    HistoryQuery {
        after,
        before,
        limit,
        latest,
    }
}

fn id(n: u64) -> Option<Bound> {
    Some(Bound::Id(MsgId(n)))
}

fn time(t: i64) -> Option<Bound> {
    Some(Bound::Time(Timestamp(t)))
}

/// A message with its time set apart from its id.
fn at(mut m: Message, t: i64) -> Message {
    m.time = Timestamp(t);
    m
}

/// 1..=40 at time 1000 + id: odd ids in #w (20 messages), even in #o.
fn window_fixture() -> (Db, SqliteStore, Conversation) {
    let db = Db::new();
    let mut store = db.open();
    let ops: Vec<_> = (1..=40)
        .map(|i| {
            let r = if i % 2 == 1 { "#W" } else { "#o" };
            Op::Message(to_room(i, "x", r, &format!("message {i}")))
        })
        .collect();
    store.commit(&ops).unwrap();
    (db, store, Conversation::Room(rk("#w")))
}

fn odd(from: u64, to: u64) -> Vec<u64> {
    (from..=to).filter(|i| i % 2 == 1).collect()
}

#[test]
fn history_after_reads_forwards() {
    let (_db, mut store, w) = window_fixture();
    let mut h = |q: HistoryQuery| ids(&store.history(&w, &q).unwrap());
    // The earliest after a bound, oldest first; strictly after.
    assert_eq!(h(window(id(10), None, 3, false)), [11, 13, 15]);
    assert_eq!(h(window(id(11), None, 3, false)), [13, 15, 17]);
    // Paging forwards from the last one seen reaches the end.
    assert_eq!(h(window(id(17), None, 100, false)), odd(19, 39));
    assert!(h(window(id(39), None, 10, false)).is_empty());
    // From the start.
    assert_eq!(h(window(None, None, 2, false)), [1, 3]);
    assert_eq!(h(window(id(0), None, 2, false)), [1, 3]);
}

#[test]
fn history_before_reads_the_latest() {
    let (_db, mut store, w) = window_fixture();
    let mut h = |q: HistoryQuery| ids(&store.history(&w, &q).unwrap());
    assert_eq!(h(window(None, id(10), 3, true)), [5, 7, 9]);
    assert_eq!(h(window(None, id(9), 3, true)), [3, 5, 7]);
    assert_eq!(h(HistoryQuery::before(Some(MsgId(9)), 3)), [3, 5, 7]);
    assert_eq!(h(window(None, None, 2, true)), [37, 39]);
    // The earliest before a bound.
    assert_eq!(h(window(None, id(10), 2, false)), [1, 3]);
    assert!(h(window(None, id(1), 10, true)).is_empty());
}

#[test]
fn history_between_two_bounds() {
    let (_db, mut store, w) = window_fixture();
    let mut h = |q: HistoryQuery| ids(&store.history(&w, &q).unwrap());
    for latest in [false, true] {
        assert_eq!(h(window(id(10), id(20), 100, latest)), odd(11, 19));
        // Both ends exclusive.
        assert_eq!(h(window(id(11), id(19), 100, latest)), [13, 15, 17]);
        // Nothing of #w lies strictly between 19 and 21.
        assert!(h(window(id(19), id(21), 100, latest)).is_empty());
        assert_eq!(h(window(id(18), id(20), 100, latest)), [19]);
    }
    // The earliest or the latest of the window, oldest first either way.
    assert_eq!(h(window(id(10), id(20), 2, false)), [11, 13]);
    assert_eq!(h(window(id(10), id(20), 2, true)), [17, 19]);
    // The newest after a bound: catching up on the last few.
    assert_eq!(h(window(id(30), None, 2, true)), [37, 39]);
    assert_eq!(h(window(id(30), None, 2, false)), [31, 33]);
}

#[test]
fn history_by_time() {
    let (_db, mut store, w) = window_fixture();
    // A message stored late with an early time (a clock step back): time
    // bounds go by its time, id bounds by its id.
    store
        .commit(&[Op::Message(at(to_room(41, "x", "#w", "late"), 1_015))])
        .unwrap();
    let mut h = |q: HistoryQuery| ids(&store.history(&w, &q).unwrap());
    // Times strictly between: 1011..=1019 are ids 11..=19, and 41 (1015).
    assert_eq!(
        h(window(time(1_010), time(1_020), 100, false)),
        [11, 13, 15, 17, 19, 41]
    );
    assert_eq!(
        h(window(time(1_011), time(1_019), 100, true)),
        [13, 15, 17, 41]
    );
    assert_eq!(h(window(time(1_010), time(1_020), 2, false)), [11, 13]);
    // In id order, so the latest two are 19 and 41.
    assert_eq!(h(window(time(1_010), time(1_020), 2, true)), [19, 41]);
    assert_eq!(h(window(id(40), None, 10, false)), [41]);
    assert!(h(window(time(1_020), None, 100, false)).contains(&39));
    assert!(!h(window(time(1_020), None, 100, false)).contains(&41));
    assert_eq!(h(window(None, time(1_004), 10, true)), [1, 3]);
    // Mixed kinds of bound.
    assert_eq!(h(window(time(1_010), id(16), 100, false)), [11, 13, 15]);
    assert_eq!(h(window(id(30), time(1_036), 100, false)), [31, 33, 35, 41]);
}

#[test]
fn history_edge_bounds_never_fail() {
    let (_db, mut store, w) = window_fixture();
    // The extreme times themselves are stored and found.
    store
        .commit(&[
            Op::Message(at(to_room(41, "x", "#w", "first"), i64::MIN)),
            Op::Message(at(to_room(42, "x", "#w", "last"), i64::MAX)),
        ])
        .unwrap();
    let mut all_w = odd(1, 39);
    all_w.extend([41, 42]);
    let mut h = |q: HistoryQuery| ids(&store.history(&w, &q).unwrap());
    let huge = i64::MAX as u64;
    for latest in [false, true] {
        let h = &mut h;
        let mut q = |after, before| h(window(after, before, usize::MAX, latest));
        assert_eq!(q(None, None), all_w);
        // Bounds that leave everything.
        assert_eq!(q(id(0), None), all_w);
        assert_eq!(q(None, id(u64::MAX)), all_w);
        assert_eq!(q(None, id(huge + 1)), all_w);
        assert_eq!(q(None, id(huge)), all_w);
        // Bounds that leave nothing.
        assert!(q(id(u64::MAX), None).is_empty());
        assert!(q(id(huge), None).is_empty());
        assert!(q(None, id(0)).is_empty());
        assert!(q(time(i64::MAX), None).is_empty());
        assert!(q(None, time(i64::MIN)).is_empty());
        // Only the message at an extreme time is outside.
        assert_eq!(q(time(i64::MIN), None), [odd(1, 39), vec![42]].concat());
        assert_eq!(q(None, time(i64::MAX)), [odd(1, 39), vec![41]].concat());
        // Reversed or empty windows.
        assert!(q(id(20), id(10)).is_empty());
        assert!(q(id(15), id(15)).is_empty());
        assert!(q(id(15), id(16)).is_empty());
        assert!(q(time(1_030), time(1_010)).is_empty());
        assert!(q(time(1_015), time(1_015)).is_empty());
        assert!(q(time(i64::MAX), time(i64::MIN)).is_empty());
        assert!(q(id(u64::MAX), id(0)).is_empty());
        assert!(q(time(1_030), id(10)).is_empty());
        // Limit 0 is nothing, whatever the window.
        for (after, before) in [
            (None, None),
            (id(10), None),
            (None, id(30)),
            (time(1), time(2_000)),
        ] {
            assert!(h(window(after, before, 0, latest)).is_empty());
        }
    }
    // The same through the private statements.
    let p = private("a", "b");
    assert!(
        store
            .history(&p, &window(id(u64::MAX), time(i64::MIN), usize::MAX, true))
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .history(&p, &window(None, None, 0, false))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn private_history_windows_both_ways() {
    let db = Db::new();
    let mut store = db.open();
    // 1..=30: alice and bob take turns writing to each other; every third
    // message is someone else's.
    let ops: Vec<_> = (1..=30)
        .map(|i| {
            Op::Message(match i % 3 {
                0 => to_user(i, "carol", "Alice", "not bob"),
                1 => to_user(i, "Alice", "Bob", "to bob"),
                _ => to_user(i, "bob", "alice", "to alice"),
            })
        })
        .collect();
    store.commit(&ops).unwrap();
    let pair: Vec<u64> = (1..=30).filter(|i| i % 3 != 0).collect();
    for conv in [private("alice", "bob"), private("BOB", "alice")] {
        let mut h = |q: HistoryQuery| ids(&store.history(&conv, &q).unwrap());
        assert_eq!(h(window(None, None, 100, false)), pair);
        assert_eq!(h(window(id(10), None, 3, false)), [11, 13, 14]);
        assert_eq!(h(window(None, id(10), 3, true)), [5, 7, 8]);
        assert_eq!(
            h(window(id(10), id(20), 100, true)),
            [11, 13, 14, 16, 17, 19]
        );
        assert_eq!(h(window(id(10), id(20), 2, true)), [17, 19]);
        assert_eq!(h(window(id(20), None, 2, true)), [28, 29]);
        assert_eq!(h(window(time(1_010), time(1_014), 10, false)), [11, 13]);
        assert!(h(window(id(20), id(10), 10, false)).is_empty());
        assert!(h(window(id(10), None, 0, true)).is_empty());
    }
    let mut h =
        |a: &str, b: &str, q: HistoryQuery| ids(&store.history(&private(a, b), &q).unwrap());
    assert_eq!(
        h("alice", "carol", window(id(10), None, 2, false)),
        [12, 15]
    );
    assert_eq!(h("carol", "alice", window(None, id(10), 2, true)), [6, 9]);
    assert!(h("bob", "carol", window(None, None, 10, false)).is_empty());
}

// ---- conversations ----

fn conversations_fixture() -> (Db, SqliteStore) {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[
            Op::Message(to_room(1, "bob", "#A", "one")),
            Op::Message(to_room(2, "bob", "#b", "two")),
            Op::Message(to_room(3, "bob", "#secret", "hush")),
            Op::Message(to_user(4, "alice", "bob", "hi bob")),
            Op::Message(to_room(5, "carol", "#a", "five")),
            // "alice" is the smaller key of this pair ...
            Op::Message(to_user(6, "carol", "alice", "hi alice")),
            Op::Message(to_user(7, "Bob", "Alice", "hi alice")),
            // ... and the larger of this one.
            Op::Message(to_user(8, "aaron", "alice", "hello")),
            Op::Message(to_room(9, "bob", "#secret", "hush hush")),
            Op::Message(to_user(10, "alice", "ALICE", "note to self")),
            Op::Message(to_user(11, "carol", "dave", "not alice's")),
            Op::Message(to_user(12, "BOB", "alice", "again")),
            Op::Message(to_room(13, "x", "#alice", "a room, not a person")),
            // A tie with alice and carol's latest (1006): rooms sort first.
            Op::Message(at(to_room(14, "x", "#d", "tie"), 1_006)),
        ])
        .unwrap();
    (db, store)
}

#[test]
fn conversations_by_time_of_latest_message() {
    let (_db, mut store) = conversations_fixture();
    let room = |r: &str| Conversation::Room(rk(r));
    let mut c = |v: &Visibility, after: i64, before: i64, limit: usize| {
        store
            .conversations(v, Timestamp(after), Timestamp(before), limit)
            .unwrap()
            .into_iter()
            .map(|(conv, t, _)| (conv, t.0))
            .collect::<Vec<_>>()
    };
    let alice = sees(&["#a", "#B", "#c", "#d", "#a"], Some("Alice"));
    let everything = vec![
        (room("#b"), 1_002),
        (room("#a"), 1_005),
        (room("#d"), 1_006),
        (private("alice", "carol"), 1_006),
        (private("alice", "aaron"), 1_008),
        (private("alice", "alice"), 1_010),
        (private("alice", "bob"), 1_012),
    ];
    // Rooms with messages (not #c, which has none, nor unlisted #secret
    // and #alice) and private conversations either way, each once, with
    // who asks first in the pair; ascending by time.
    assert_eq!(c(&alice, i64::MIN, i64::MAX, 100), everything);
    assert_eq!(c(&alice, 0, 2_000, usize::MAX), everything);
    // The earliest `limit`.
    assert_eq!(c(&alice, 0, 2_000, 2), everything[..2]);
    assert!(c(&alice, 0, 2_000, 0).is_empty());
    // Strictly between, by the latest message only: alice and bob wrote in
    // the window too, but last at 1012.
    assert_eq!(c(&alice, 1_002, 1_010, 100), everything[1..5]);
    assert_eq!(c(&alice, 1_001, 1_011, 100), everything[..6]);
    assert!(c(&alice, 1_005, 1_006, 100).is_empty());
    assert_eq!(c(&alice, 1_005, 1_007, 100), everything[2..4]);
    // Empty and reversed windows, extreme times.
    assert!(c(&alice, 1_006, 1_006, 100).is_empty());
    assert!(c(&alice, 1_007, 1_006, 100).is_empty());
    assert!(c(&alice, i64::MAX, i64::MIN, 100).is_empty());
    assert!(c(&alice, i64::MAX, i64::MAX, 100).is_empty());
    assert!(c(&alice, i64::MIN, i64::MIN, 100).is_empty());

    // A guest sees rooms only.
    assert_eq!(
        c(&sees(&["#a", "#b"], None), 0, 2_000, 100),
        [(room("#b"), 1_002), (room("#a"), 1_005)]
    );
    // Someone who sees #secret, and whose key sorts after all but one.
    assert_eq!(
        c(&sees(&["#secret"], Some("dave")), 0, 2_000, 100),
        [(room("#secret"), 1_009), (private("dave", "carol"), 1_011)]
    );
    // The other side of a pair sees it with their own key first.
    assert_eq!(
        c(&sees(&[], Some("BOB")), 0, 2_000, 100),
        [(private("bob", "alice"), 1_012)]
    );
    assert_eq!(
        c(&sees(&[], Some("carol")), 0, 2_000, 100),
        [
            (private("carol", "alice"), 1_006),
            (private("carol", "dave"), 1_011)
        ]
    );
    // Nobody, or nothing visible.
    assert!(c(&sees(&[], None), 0, 2_000, 100).is_empty());
    assert!(c(&sees(&["#nothing"], Some("zed")), 0, 2_000, 100).is_empty());
    // An account made at 1007: the private conversations whose latest
    // message is older were a guest's, and are left out before the limit
    // counts (rooms are not).
    let since = Visibility {
        private_since: Timestamp(1_007),
        ..alice.clone()
    };
    let after: Vec<_> = everything
        .iter()
        .filter(|(conv, t)| matches!(conv, Conversation::Room(_)) || *t >= 1_007)
        .cloned()
        .collect();
    assert_eq!(c(&since, 0, 2_000, 100), after);
    assert_eq!(c(&since, 0, 2_000, 4), after[..4]);
    // The other party as the latest message spells them; rooms unnamed
    // (the hub knows their names).
    let names: Vec<Option<String>> = store
        .conversations(&alice, Timestamp(0), Timestamp(2_000), 100)
        .unwrap()
        .into_iter()
        .map(|(_, _, name)| name.map(|n| n.to_string()))
        .collect();
    let some = |n: &str| Some(n.to_owned());
    assert_eq!(
        names,
        [
            None,
            None,
            None,
            some("carol"),
            some("aaron"),
            some("alice"),
            some("BOB")
        ]
    );
}

// ---- search ----

fn search_fixture() -> (Db, SqliteStore) {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[
            Op::Message(to_room(1, "alice", "#rust", "the borrow checker is great")),
            Op::Message(to_room(2, "bob", "#secret", "the borrow plan is secret")),
            Op::Message(to_user(3, "alice", "bob", "borrow my book")),
            Op::Message(to_user(4, "carol", "dave", "borrow nothing, private")),
            Op::Message(to_room(
                5,
                "carol",
                "#Rust",
                "Borrowing is not borrow-checking",
            )),
            Op::Message(to_user(6, "bob", "alice", "thanks for the borrow")),
            Op::Message(to_room(7, "dave", "#rust", "checker of the Borrow")),
            Op::Message(to_room(8, "eve", "#rust", "café crème")),
            Op::Message(to_room(
                9,
                "eve",
                "#rust",
                r#"he said "hi" (loudly) a*b NEAR end"#,
            )),
        ])
        .unwrap();
    (db, store)
}

#[test]
fn search_sees_only_visible_messages() {
    let (_db, mut store) = search_fixture();
    let mut s = |v: &Visibility, q: &str| ids(&store.search(v, q, 100).unwrap());
    // A guest in #rust: room messages only, no private ones.
    assert_eq!(s(&sees(&["#RUST"], None), "borrow"), [1, 5, 7]);
    // Alice in #rust: plus her private messages both ways, not carol's.
    assert_eq!(
        s(&sees(&["#rust"], Some("Alice")), "borrow"),
        [1, 3, 5, 6, 7]
    );
    // Bob in #secret only.
    assert_eq!(s(&sees(&["#secret"], Some("bob")), "borrow"), [2, 3, 6]);
    // Dave, in no room.
    assert_eq!(s(&sees(&[], Some("dave")), "borrow"), [4]);
    // Nobody.
    assert!(s(&sees(&[], None), "borrow").is_empty());
    // A room that is not listed leaks nothing even when named in the query.
    assert!(s(&sees(&["#rust"], None), "secret").is_empty());
    // Someone else's private words leak nothing.
    assert!(s(&sees(&["#rust", "#secret"], Some("eve")), "private").is_empty());
}

#[test]
fn search_returns_the_newest_oldest_first() {
    let (_db, mut store) = search_fixture();
    let v = sees(&["#rust", "#secret"], Some("alice"));
    assert_eq!(ids(&store.search(&v, "borrow", 2).unwrap()), [6, 7]);
    assert_eq!(ids(&store.search(&v, "borrow", 3).unwrap()), [5, 6, 7]);
    assert!(store.search(&v, "borrow", 0).unwrap().is_empty());
    let msgs = store.search(&v, "borrow", 1).unwrap();
    assert_eq!(
        msgs,
        vec![to_room(7, "dave", "#rust", "checker of the Borrow")]
    );
}

#[test]
fn search_matches_all_words_in_any_case_and_accent() {
    let (_db, mut store) = search_fixture();
    let v = sees(&["#rust", "#secret"], Some("alice"));
    let mut s = |q: &str| ids(&store.search(&v, q, 100).unwrap());
    assert_eq!(s("borrow checker"), [1, 7]);
    assert_eq!(s("CHECKER   BORROW"), [1, 7]);
    assert_eq!(s("borrow checker great"), [1]);
    assert!(s("borrow unicorn").is_empty());
    assert_eq!(s("checking"), [5]);
    assert_eq!(s("cafe"), [8]);
    assert_eq!(s("CRÈME"), [8]);
    // Whole words, not substrings.
    assert!(s("borr").is_empty());
}

#[test]
fn search_never_interprets_fts_syntax() {
    let (_db, mut store) = search_fixture();
    let v = sees(&["#rust"], Some("alice"));
    let hostile = [
        "\"",
        "\"\"",
        "\"\"\"",
        "*",
        "(",
        ")",
        ":",
        "'",
        "\\",
        "@#$%^&*",
        "a\"b",
        "\"hi",
        "a*",
        "*a",
        "borrow*",
        "(borrow",
        "borrow)",
        "NEAR",
        "NEAR(borrow checker)",
        "NEAR(borrow checker, 2)",
        "borrow OR secret",
        "borrow AND",
        "AND",
        "OR",
        "NOT",
        "NOT borrow",
        "-borrow",
        "+borrow",
        "text:borrow",
        "{text}: borrow",
        "^borrow",
        "borrow'); DROP TABLE messages; --",
        "a\\b",
        "a\u{0}",
        "x@#$%^&*",
    ];
    for q in hostile {
        // Found or not, but never an FTS5 error: a query without any word
        // is refused as such, in the user's terms.
        match store.search(&v, q, 10) {
            Ok(_) => {}
            Err(StoreError::BadQuery(why)) if !q.chars().any(char::is_alphanumeric) => {
                assert_eq!(why, "it has no words to search for")
            }
            Err(e) => panic!("{q:?}: {e:?}"),
        }
    }
    let mut s = |q: &str| ids(&store.search(&v, q, 100).unwrap());
    // The punctuation is dropped by the tokenizer, the words are searched.
    assert_eq!(s("\"hi\""), [9]);
    assert_eq!(s("(loudly)"), [9]);
    assert_eq!(s("NEAR"), [9]);
    assert_eq!(s("near(end"), [9]);
    assert_eq!(s("a*b"), [9]);
    // Operators are words: "OR" must appear in the message.
    assert!(s("borrow OR checker").is_empty());
    assert_eq!(s("NOT borrow"), [5]); // "Borrowing is not borrow-checking"
    assert_eq!(s("borrow)"), [1, 3, 5, 6, 7]);
    // A word without letters (no tokens) does not spoil the others.
    assert_eq!(s("borrow !!!"), [1, 3, 5, 6, 7]);
    assert_eq!(s("borrow \u{0} checker"), [1, 7]);
    assert_eq!(s("borrow\u{2}checker"), [1, 7]);
    // The table is still there.
    assert_eq!(s("borrow'); DROP TABLE messages; --").len(), 0);
    assert_eq!(s("borrow").len(), 5);
}

#[test]
fn empty_search_is_a_bad_query() {
    let (_db, mut store) = search_fixture();
    for q in ["", " ", "\t  \n", "\u{0}", "\x02\x03", "!!!", "* ( ) \"\""] {
        let err = store.search(&sees(&["#rust"], None), q, 10).unwrap_err();
        assert!(matches!(err, StoreError::BadQuery(_)), "{q:?}: {err:?}");
    }
}

// ---- corruption ----

#[test]
fn unparsable_rows_are_corrupt() {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[
            Op::Message(to_room(1, "a", "#r", "fine")),
            Op::Message(to_user(2, "a", "b", "fine")),
        ])
        .unwrap();
    let raw = db.raw();
    raw.execute_batch(
        "UPDATE messages SET from_nick = '1bad' WHERE id = 1;
         UPDATE messages SET text = 'a' || char(27) || '[2J' WHERE id = 2;",
    )
    .unwrap();
    let err = store
        .history(
            &Conversation::Room(rk("#r")),
            &HistoryQuery::before(None, 10),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("1bad")),
        "{err:?}"
    );
    let err = store
        .history(&private("a", "b"), &HistoryQuery::before(None, 10))
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    raw.execute_batch(
        "INSERT INTO accounts (name, name_key, password_hash, created_ms, last_seen_ms)
         VALUES ('no spaces', 'no spaces', 'h', 0, 0);",
    )
    .unwrap();
    assert!(matches!(store.load(), Err(StoreError::Corrupt(_))));
    assert!(matches!(store.accounts(), Err(StoreError::Corrupt(_))));
}

// ---- standing and room settings ----

fn status(account: AccountId, r: &str, status: Status) -> Op {
    Op::Status {
        account,
        room: rk(r),
        status,
    }
}

fn join(account: AccountId, r: &str) -> Op {
    Op::Join {
        account,
        room: room(r),
    }
}

fn part(account: AccountId, r: &str) -> Op {
    Op::Part {
        account,
        room: rk(r),
    }
}

fn settings(name: &str, modes: RoomModes, bans: Vec<Ban>) -> RoomSettings {
    RoomSettings {
        name: room(name),
        modes,
        bans,
    }
}

fn ban(mask: &str, by: &str, time: i64) -> Ban {
    Ban {
        mask: mask.into(),
        by: nick(by),
        time: Timestamp(time),
    }
}

fn statuses(store: &mut SqliteStore) -> Vec<Vec<(RoomKey, Status)>> {
    let snap = store.load().unwrap();
    snap.accounts.into_iter().map(|a| a.statuses).collect()
}

#[test]
fn statuses_round_trip_across_reopen() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let b = store.create_account(&nick("b"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[
            join(a.id, "#Zed"),
            join(a.id, "#alpha"),
            join(a.id, "#plain"),
            join(a.id, "#Mid"),
            join(b.id, "#zed"),
            status(a.id, "#zed", OP),
            status(a.id, "#alpha", VOICE),
            status(a.id, "#plain", NONE),
            status(a.id, "#mid", BOTH),
            status(b.id, "#ZED", VOICE),
        ])
        .unwrap();
    // Listed in join order; the default standing is no entry.
    let expected = vec![
        vec![(rk("#zed"), OP), (rk("#alpha"), VOICE), (rk("#mid"), BOTH)],
        vec![(rk("#zed"), VOICE)],
    ];
    assert_eq!(statuses(&mut store), expected);
    drop(store);
    let mut store = db.open();
    assert_eq!(statuses(&mut store), expected);

    // Changed, and back to the default, in a later batch.
    store
        .commit(&[
            status(a.id, "#zed", VOICE),
            status(a.id, "#alpha", NONE),
            status(a.id, "#Mid", OP),
            // Twice in one batch: the last one counts.
            status(b.id, "#zed", OP),
            status(b.id, "#zed", BOTH),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(
        statuses(&mut store),
        vec![
            vec![(rk("#zed"), VOICE), (rk("#mid"), OP)],
            vec![(rk("#zed"), BOTH)],
        ]
    );
    // Only the non-default standings have rows.
    let rows = number(&db.raw(), "SELECT count(*) FROM room_statuses");
    assert_eq!(rows, 3);
}

#[test]
fn part_clears_standing() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[
            join(a.id, "#r"),
            join(a.id, "#s"),
            status(a.id, "#r", OP),
            status(a.id, "#s", VOICE),
        ])
        .unwrap();
    store.commit(&[part(a.id, "#R")]).unwrap();
    assert_eq!(statuses(&mut store), [vec![(rk("#s"), VOICE)]]);
    // Rejoining does not bring it back.
    store.commit(&[join(a.id, "#r")]).unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(statuses(&mut store), [vec![(rk("#s"), VOICE)]]);

    // Within one batch: standing, leave, join again: no standing.
    store
        .commit(&[status(a.id, "#r", BOTH), part(a.id, "#r"), join(a.id, "#r")])
        .unwrap();
    assert_eq!(statuses(&mut store), [vec![(rk("#s"), VOICE)]]);
    // Leave, join and get a standing in one batch: it holds.
    store
        .commit(&[part(a.id, "#s"), join(a.id, "#s"), status(a.id, "#s", OP)])
        .unwrap();
    assert_eq!(statuses(&mut store), [vec![(rk("#s"), OP)]]);
    // Losing the account loses its standing (and memberships).
    db.raw()
        .execute_batch("PRAGMA foreign_keys = ON; DELETE FROM accounts;")
        .unwrap();
    let rows = number(&db.raw(), "SELECT count(*) FROM room_statuses");
    assert_eq!(rows, 0);
}

#[test]
fn status_before_or_after_join_in_one_batch() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[
            // After its join, as the hub sends it.
            join(a.id, "#after"),
            status(a.id, "#after", OP),
            // Before its join: the membership is checked at COMMIT.
            status(a.id, "#before", VOICE),
            join(a.id, "#before"),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let snap = store.load().unwrap();
    assert_eq!(snap.accounts[0].rooms, [room("#after"), room("#before")]);
    assert_eq!(
        snap.accounts[0].statuses,
        [(rk("#after"), OP), (rk("#before"), VOICE)]
    );
}

#[test]
fn status_without_membership_fails_the_batch() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    store.commit(&[join(a.id, "#r")]).unwrap();
    let before = store.load().unwrap();
    let failing = [
        // Never joined.
        vec![status(a.id, "#elsewhere", OP)],
        // Left before (in the same batch).
        vec![part(a.id, "#r"), status(a.id, "#r", OP)],
        // No such account.
        vec![status(AccountId(777), "#r", VOICE)],
    ];
    for batch in failing {
        let err = store.commit(&batch).unwrap_err();
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        assert_eq!(store.load().unwrap(), before, "after {err}");
    }
    // Clearing a standing one does not have is not an error.
    store
        .commit(&[status(a.id, "#nowhere", NONE), status(a.id, "#r", NONE)])
        .unwrap();
    assert_eq!(store.load().unwrap(), before);
}

#[test]
fn settings_upsert_replaces() {
    let db = Db::new();
    let mut store = db.open();
    let first = settings(
        "#Room",
        RoomModes {
            topic_ops_only: true,
            no_external: true,
            moderated: true,
            invite_only: true,
            secret: true,
            key: Some("k1".into()),
            limit: Some(10),
        },
        vec![
            ban("a!*@*", "op", 1),
            ban("b!*@*", "op", 2),
            ban("c!*@*", "op", 3),
        ],
    );
    let other = settings("#other", RoomModes::default(), vec![]);
    store
        .commit(&[Op::Settings(first.clone()), Op::Settings(other.clone())])
        .unwrap();
    assert_eq!(store.load().unwrap().rooms, [other.clone(), first.clone()]);

    // The same room in another spelling: everything is replaced, the
    // display name too, and the ban list shrinks.
    let second = settings(
        "#ROOM",
        RoomModes {
            no_external: true,
            ..RoomModes::default()
        },
        vec![ban("c!*@*", "Other", 30)],
    );
    store.commit(&[Op::Settings(second.clone())]).unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().rooms, [other.clone(), second.clone()]);

    // Several in one batch: the last one counts; an empty ban list empties.
    let third = settings("#room", RoomModes::default(), vec![]);
    store
        .commit(&[
            Op::Settings(first.clone()),
            Op::Settings(second.clone()),
            Op::Settings(third.clone()),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().rooms, [other, third]);
    let bans = number(&db.raw(), "SELECT count(*) FROM room_bans");
    assert_eq!(bans, 0);
}

#[test]
fn bans_with_odd_masks_round_trip() {
    let db = Db::new();
    let mut store = db.open();
    let long = "x".repeat(10_000);
    let masks = [
        "*!*@*",
        "",
        " ",
        "nul\0inside\0",
        "quote ' \" `back` \\ slash",
        "'); DROP TABLE room_bans; --",
        "like %_ and glob *?[a-z]",
        "line\r\nbreak\ttab\x1b[2J",
        "🦀 émoji ünïcode 日本語 \u{202e}rtl",
        "\u{feff}bom",
        "a!*@*",
        "A!*@*",
        // A duplicate stays a duplicate.
        "a!*@*",
        long.as_str(),
    ];
    let times = [i64::MIN, -1, 0, 1, i64::MAX];
    let bans: Vec<Ban> = masks
        .iter()
        .enumerate()
        .map(|(i, m)| ban(m, if i % 2 == 0 { "Op" } else { "other_op" }, times[i % 5]))
        .collect();
    let s = settings("#odd", RoomModes::default(), bans);
    store.commit(&[Op::Settings(s.clone())]).unwrap();
    drop(store);
    let mut store = db.open();
    let rooms = store.load().unwrap().rooms;
    assert_eq!(rooms, [s]);
    assert_eq!(rooms[0].bans[3].mask, "nul\0inside\0");
    assert_eq!(rooms[0].bans[13].mask.len(), 10_000);
}

#[test]
fn key_and_limit_none_or_some() {
    let db = Db::new();
    let mut store = db.open();
    let keys = [
        None,
        Some(""),
        Some("sesame"),
        Some("with space"),
        Some("NULL"),
        Some("nul\0key"),
    ];
    let limits = [None, Some(0), Some(1), Some(500), Some(i64::MAX as usize)];
    let mut all = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        for (j, limit) in limits.iter().enumerate() {
            all.push(settings(
                &format!("#r{i}{j}"),
                RoomModes {
                    secret: (i + j) % 2 == 0,
                    key: key.map(str::to_owned),
                    limit: *limit,
                    ..RoomModes::default()
                },
                vec![],
            ));
        }
    }
    let ops: Vec<Op> = all.iter().cloned().map(Op::Settings).collect();
    store.commit(&ops).unwrap();
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().rooms, all);
    // NULL is none, not a string or zero.
    let nulls = number(
        &db.raw(),
        "SELECT count(*) FROM room_settings WHERE join_key IS NULL",
    );
    assert_eq!(nulls, limits.len() as i64);

    // A limit SQLite cannot hold is stored as the largest it can: no room
    // gets near either.
    #[cfg(target_pointer_width = "64")]
    {
        let huge = settings(
            "#huge",
            RoomModes {
                limit: Some(usize::MAX),
                ..RoomModes::default()
            },
            vec![],
        );
        store.commit(&[Op::Settings(huge)]).unwrap();
        let snap = store.load().unwrap();
        let got = snap.rooms.iter().find(|r| r.name == room("#huge")).unwrap();
        assert_eq!(got.modes.limit, Some(i64::MAX as usize));
    }
}

#[test]
fn a_failing_batch_with_settings_and_status_leaves_nothing() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let kept = settings("#r", RoomModes::default(), vec![ban("kept", "a", 1)]);
    store
        .commit(&[
            Op::Message(to_room(1, "a", "#r", "before")),
            join(a.id, "#r"),
            status(a.id, "#r", VOICE),
            Op::Settings(kept),
        ])
        .unwrap();
    let before = store.load().unwrap();
    let changed = settings(
        "#R",
        RoomModes {
            moderated: true,
            key: Some("k".into()),
            limit: Some(3),
            ..RoomModes::default()
        },
        vec![ban("new", "a", 2), ban("newer", "a", 3)],
    );
    let failing = [
        // A duplicate message id after the new ops.
        vec![
            Op::Settings(changed.clone()),
            Op::Settings(settings(
                "#new",
                RoomModes::default(),
                vec![ban("x", "a", 4)],
            )),
            status(a.id, "#r", OP),
            join(a.id, "#s"),
            status(a.id, "#s", BOTH),
            Op::Message(to_room(1, "a", "#r", "duplicate")),
        ],
        // A standing without a membership, found only at COMMIT.
        vec![
            Op::Settings(changed.clone()),
            status(a.id, "#r", NONE),
            status(a.id, "#never", OP),
            Op::Message(to_room(2, "a", "#r", "new")),
        ],
        // A part that takes the standing along, then a failure.
        vec![
            part(a.id, "#r"),
            Op::Settings(changed),
            Op::LastSeen {
                account: AccountId(777),
                time: Timestamp(5),
            },
        ],
    ];
    for batch in failing {
        let err = store.commit(&batch).unwrap_err();
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");
        assert_eq!(store.load().unwrap(), before, "after {err}");
    }
    drop(store);
    let mut store = db.open();
    assert_eq!(store.load().unwrap(), before);
}

#[test]
fn unparsable_settings_rows_are_corrupt() {
    let db = Db::new();
    let mut store = db.open();
    store
        .commit(&[Op::Settings(settings(
            "#r",
            RoomModes::default(),
            vec![ban("m", "a", 1)],
        ))])
        .unwrap();
    db.raw()
        .execute("UPDATE room_bans SET set_by = '1bad'", [])
        .unwrap();
    assert!(matches!(store.load(), Err(StoreError::Corrupt(m)) if m.contains("1bad")),);
    db.raw()
        .execute_batch(
            "UPDATE room_bans SET set_by = 'a';
             UPDATE room_settings SET room_name = 'no hash'",
        )
        .unwrap();
    assert!(matches!(store.load(), Err(StoreError::Corrupt(_))));
}

// ---- read markers ----

fn mark(account: &Account, target: Target, time: i64, msg: Option<u64>) -> Op {
    Op::ReadMarker {
        account: account.id,
        target,
        marker: Marker {
            time: Timestamp(time),
            msg: msg.map(MsgId),
        },
    }
}

#[test]
fn read_markers_are_kept_per_account_and_conversation_and_survive_reopen() {
    let db = Db::new();
    let mut store = db.open();
    let alice = store
        .create_account(&nick("Alice"), "h", Timestamp(1))
        .unwrap();
    let bob = store
        .create_account(&nick("Bob"), "h", Timestamp(1))
        .unwrap();
    let rust = || Target::Room(room("#Rust"));
    store
        .commit(&[
            mark(&alice, rust(), 100, Some(7)),
            mark(&alice, Target::User(nick("Bob")), 50, None),
            mark(&bob, rust(), 10, Some(1)),
            // Another spelling of the same room replaces the marker (the
            // hub decides that it moves forward; the store keeps the last).
            mark(&alice, Target::Room(room("#rust")), 200, Some(9)),
            // A user named like a room's key is another conversation.
            mark(&bob, Target::User(nick("rust")), 20, None),
        ])
        .unwrap();
    let check = |store: &mut SqliteStore| {
        let snap = store.load().unwrap();
        let markers: Vec<_> = snap.accounts.iter().map(|a| a.markers.clone()).collect();
        let m = |time: i64, msg: Option<u64>| Marker {
            time: Timestamp(time),
            msg: msg.map(MsgId),
        };
        assert_eq!(
            markers,
            vec![
                vec![
                    (Target::Room(room("#rust")), m(200, Some(9))),
                    (Target::User(nick("Bob")), m(50, None)),
                ],
                vec![
                    (rust(), m(10, Some(1))),
                    (Target::User(nick("rust")), m(20, None)),
                ],
            ]
        );
    };
    check(&mut store);
    drop(store);
    let mut store = db.open();
    check(&mut store);
}

#[test]
fn a_marker_of_an_unknown_account_fails_the_batch() {
    let db = Db::new();
    let mut store = db.open();
    let ghost = Account {
        id: AccountId(42),
        name: nick("ghost"),
        password_hash: "h".into(),
        created: Timestamp(0),
        last_seen: Timestamp(0),
        tokens_after: Timestamp(0),
    };
    let err = store
        .commit(&[
            Op::Message(to_room(1, "a", "#r", "kept?")),
            mark(&ghost, Target::Room(room("#r")), 5, Some(1)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert!(all(&mut store, &Conversation::Room(rk("#r"))).is_empty());
}

// ---- server-wide bans ----

fn kline(mask: &str, expires: Option<i64>) -> confab_core::Kline {
    confab_core::Kline {
        mask: confab_core::KlineMask::parse(mask).unwrap(),
        reason: format!("no {mask}"),
        by: "oper".to_owned(),
        set: Timestamp(7),
        expires: expires.map(Timestamp),
    }
}

#[test]
fn klines_are_stored_replaced_by_mask_and_lifted() {
    let db = Db::new();
    let mut store = db.open();
    assert!(store.load().unwrap().klines.is_empty());
    store
        .commit(&[
            Op::Kline(kline("$a:alice", None)),
            Op::Kline(kline("*@bad.host", Some(99))),
            Op::Kline(kline("192.0.2.0/24", None)),
        ])
        .unwrap();
    let mut newer = kline("*!*@bad.host", None);
    newer.reason = "for good now".into();
    store
        .commit(&[
            Op::Kline(newer.clone()),
            Op::Unkline(confab_core::KlineMask::parse("192.0.2.0/24").unwrap()),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let got = store.load().unwrap().klines;
    assert_eq!(got, [kline("$a:alice", None), newer]);
}

#[test]
fn suspensions_and_lockdown_are_kept_and_lifted() {
    let db = Db::new();
    let mut store = db.open();
    let a = store
        .create_account(&nick("alice"), "h", Timestamp(1))
        .unwrap();
    let b = store
        .create_account(&nick("bob"), "h", Timestamp(1))
        .unwrap();
    let snap = store.load().unwrap();
    assert!(snap.suspensions.is_empty() && !snap.lockdown);
    let suspend = |id: AccountId, reason: Option<&str>| Op::Suspension {
        account: id,
        reason: reason.map(str::to_owned),
        by: "oper".into(),
    };
    store
        .commit(&[
            suspend(a.id, Some("spam")),
            suspend(b.id, Some("first")),
            suspend(b.id, Some("second")),
            Op::Lockdown(true),
            Op::Lockdown(true),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let snap = store.load().unwrap();
    assert_eq!(
        snap.suspensions,
        [(a.id, "spam".to_owned()), (b.id, "second".to_owned())]
    );
    assert!(snap.lockdown);
    store
        .commit(&[suspend(a.id, None), Op::Lockdown(false)])
        .unwrap();
    let snap = store.load().unwrap();
    assert_eq!(snap.suspensions, [(b.id, "second".to_owned())]);
    assert!(!snap.lockdown);
}

/// The length of a file, 0 if missing.
fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// `path` with `suffix` added.
fn plus(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[test]
fn search_finds_every_committed_message_from_an_index_in_a_file_of_its_own() {
    let db = Db::new();
    let mut store = db.open();
    let v = sees(&["#r"], None);
    let texts = ["kiwi one", "kiwi two", "kiwi three", "plum"];
    for (i, t) in texts.iter().enumerate() {
        store
            .commit(&[Op::Message(to_room(i as u64 + 1, "ann", "#r", t))])
            .unwrap();
    }
    // Not indexed yet: the search catches the index up first.
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [1, 2, 3]);
    let index = plus(&db.path, ".search");
    assert!(file_len(&index) > 0, "no index file at {}", index.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&index),
            mode(&db.path),
            "the index holds private words"
        );
    }
    assert_eq!(store.index_backlog(10).unwrap(), 0);
    // A chunk at a time, oldest first; the database's WAL gets nothing.
    for id in 5..=7 {
        store
            .commit(&[Op::Message(to_room(id, "ann", "#r", "kiwi more"))])
            .unwrap();
    }
    let wal = plus(&db.path, "-wal");
    let before = file_len(&wal);
    assert_eq!(store.index_backlog(2).unwrap(), 2);
    assert_eq!(store.index_backlog(10).unwrap(), 1);
    assert_eq!(store.index_backlog(10).unwrap(), 0);
    assert_eq!(
        file_len(&wal),
        before,
        "indexing wrote to the database's WAL"
    );
    // The mark is kept: nothing indexed twice after reopening.
    drop(store);
    let mut store = db.open();
    assert_eq!(store.index_backlog(10).unwrap(), 0);
    assert_eq!(
        ids(&store.search(&v, "kiwi", 10).unwrap()),
        [1, 2, 3, 5, 6, 7]
    );
    // The index does not wait for the disk; the messages still do.
    let sync: i64 = store
        .conn()
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2); // FULL
    let sync: i64 = store
        .search_conn()
        .pragma_query_value(Some("search"), "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 1); // NORMAL
    // Deleting and editing rows, indexed or not (8 is not), keeps the
    // index whole.
    store
        .commit(&[Op::Message(to_room(8, "ann", "#r", "kiwi eight"))])
        .unwrap();
    store
        .conn()
        .execute_batch(
            "DELETE FROM messages WHERE id IN (1, 8);
             UPDATE messages SET text = 'fig edited' WHERE id = 4;
             UPDATE messages SET text = 'kiwi again' WHERE id = 2;",
        )
        .unwrap();
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [2, 3, 5, 6, 7]);
    assert_eq!(ids(&store.search(&v, "edited", 10).unwrap()), [4]);
    assert_eq!(ids(&store.search(&v, "again", 10).unwrap()), [2]);
    assert!(store.search(&v, "two", 10).unwrap().is_empty());
    assert!(store.search(&v, "plum", 10).unwrap().is_empty());
    // The changes were applied once and their queue trimmed; the index
    // holds only the stored messages.
    assert_eq!(
        number(store.conn(), "SELECT count(*) FROM search_changes"),
        0
    );
    let conn = store.search_conn();
    assert_eq!(number(conn, "SELECT count(*) FROM search.messages_fts"), 6);
    conn.execute_batch(
        "INSERT INTO search.messages_fts (messages_fts) VALUES ('integrity-check');",
    )
    .unwrap();
}

#[test]
fn the_search_index_is_made_anew_when_missing_damaged_foreign_or_ahead() {
    let db = Db::new();
    let index = plus(&db.path, ".search");
    let remove_index = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(plus(&index, suffix));
        }
    };
    let v = sees(&["#r"], None);
    let mut store = db.open();
    for (id, t) in [(1, "kiwi one"), (2, "kiwi two")] {
        store
            .commit(&[Op::Message(to_room(id, "ann", "#r", t))])
            .unwrap();
    }
    let backup = db.path.with_extension("backup");
    store.backup_to(&backup).unwrap();
    store
        .commit(&[Op::Message(to_room(3, "ann", "#r", "kiwi three"))])
        .unwrap();
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [1, 2, 3]);
    drop(store);

    // Missing.
    remove_index();
    let mut store = db.open();
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [1, 2, 3]);
    drop(store);

    // Not a database.
    remove_index();
    std::fs::write(&index, "not an index at all ".repeat(400)).unwrap();
    let mut store = db.open();
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [1, 2, 3]);
    drop(store);

    // Ahead of the database: a backup put back in its place. Message 3
    // is said anew, in other words; the index must not find the old.
    std::fs::copy(&backup, &db.path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(plus(&db.path, suffix));
    }
    let mut store = db.open();
    let mut again = to_room(3, "ann", "#r", "plum three");
    again.time = Timestamp(9_999);
    store.commit(&[Op::Message(again)]).unwrap();
    assert_eq!(ids(&store.search(&v, "kiwi", 10).unwrap()), [1, 2]);
    assert_eq!(ids(&store.search(&v, "three", 10).unwrap()), [3]);
    drop(store);

    // Of another database with as many messages, put in its place.
    let other = Db::new();
    let mut store = other.open();
    for (id, t) in [(1, "fig one"), (2, "fig two"), (3, "fig three")] {
        store
            .commit(&[Op::Message(to_room(id, "ann", "#r", t))])
            .unwrap();
    }
    drop(store);
    std::fs::copy(&other.path, &db.path).unwrap();
    let mut store = db.open();
    assert!(store.search(&v, "kiwi", 10).unwrap().is_empty());
    assert!(store.search(&v, "plum", 10).unwrap().is_empty());
    assert_eq!(ids(&store.search(&v, "fig", 10).unwrap()), [1, 2, 3]);
}

#[test]
fn the_indexer_thread_feeds_the_index_without_a_search() {
    let db = Db::new();
    let mut store = db.open();
    store.index_in_background().unwrap();
    let mut id = 0;
    for _ in 0..3 {
        let batch: Vec<Op> = (0..100)
            .map(|_| {
                id += 1;
                Op::Message(to_room(id, "ann", "#r", &format!("kiwi n{id}")))
            })
            .collect();
        store.commit(&batch).unwrap();
    }
    // Read from the index's own file, by another connection: no search
    // has caught it up.
    let index = Connection::open(plus(&db.path, ".search")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let upto = number(&index, "SELECT upto FROM search_state");
        if upto == 300 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the indexer stopped at {upto} of 300"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        number(
            &index,
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'kiwi'"
        ),
        300
    );
    // Stopping the store stops the thread.
    drop(store);
}

// ---- migrations ----

/// A database file as confab with schema version 1 left it.
fn v1_file(db: &Db) -> Connection {
    let conn = db.raw();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         PRAGMA application_id = 1668247142;
         INSERT INTO accounts (id, name, name_key, password_hash, created_ms, last_seen_ms)
             VALUES (1, 'Alice', 'alice', 'hash-a', 10, 20),
                    (2, 'Bob', 'bob', 'hash-b', 11, 21);
         INSERT INTO messages (id, time_ms, from_nick, from_key, kind, target_kind,
                               target_name, target_key, text)
             VALUES (1, 100, 'Alice', 'alice', 'say', 'room', '#Rust', '#rust', 'old hello'),
                    (2, 101, 'Bob', 'bob', 'say', 'user', 'Alice', 'alice', 'old secret');
         INSERT INTO pending (account_id, msg_id) VALUES (1, 2);
         INSERT INTO topics (room_key, room_name, text, set_by, time_ms)
             VALUES ('#rust', '#Rust', 'old topic', 'Alice', 50);
         INSERT INTO memberships (account_id, room_key, room_name, position)
             VALUES (1, '#rust', '#Rust', 1), (1, '#zed', '#zed', 2), (2, '#rust', '#Rust', 1);
         INSERT INTO ignores (account_id, nick_key) VALUES (2, 'troll');",
    )
    .unwrap();
    conn
}

#[test]
fn a_v1_database_upgrades_keeping_its_data() {
    assert_eq!(SCHEMA_VERSION, 12);
    assert_eq!(MIGRATIONS.len(), 12);
    let db = Db::new();
    drop(v1_file(&db));

    let mut store = db.open();
    let version: i64 = store
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 12);
    let check = |store: &mut SqliteStore| {
        let snap = store.load().unwrap();
        assert_eq!(snap.next_msg_id, 3);
        let names: Vec<_> = snap
            .accounts
            .iter()
            .map(|a| a.account.name.clone())
            .collect();
        assert_eq!(names, [nick("Alice"), nick("Bob")]);
        assert_eq!(snap.accounts[0].account.password_hash, "hash-a");
        assert_eq!(snap.accounts[0].account.last_seen, Timestamp(20));
        assert_eq!(snap.accounts[0].account.tokens_after, Timestamp(0));
        assert_eq!(snap.accounts[0].rooms, [room("#Rust"), room("#zed")]);
        assert_eq!(snap.accounts[1].ignores, [nk("troll")]);
        assert_eq!(snap.accounts[0].kept, 1);
        assert_eq!(
            store.topic(&rk("#rust")).unwrap().unwrap().text.as_str(),
            "old topic"
        );
        assert_eq!(ids(&all(store, &Conversation::Room(rk("#rust")))), [1]);
        assert_eq!(
            ids(&store.pending(&KeptFor::Account(AccountId(1)), 100).unwrap()),
            [2]
        );
        assert_eq!(
            ids(&store.search(&sees(&[], Some("bob")), "secret", 10).unwrap()),
            [2]
        );
    };
    check(&mut store);
    assert!(store.load().unwrap().rooms.is_empty());
    assert!(
        store
            .load()
            .unwrap()
            .accounts
            .iter()
            .all(|a| a.statuses.is_empty())
    );

    // The new tables work on the old data.
    let s = settings(
        "#Rust",
        RoomModes::default(),
        vec![ban("*!*@x", "Alice", 1)],
    );
    store
        .commit(&[
            status(AccountId(1), "#zed", OP),
            status(AccountId(2), "#rust", VOICE),
            Op::Settings(s.clone()),
            Op::ReadMarker {
                account: AccountId(1),
                target: Target::Room(room("#Rust")),
                marker: Marker {
                    time: Timestamp(100),
                    msg: Some(MsgId(1)),
                },
            },
            // (As if a guest had the name before the account.)
            Op::Pending {
                to: KeptFor::Guest(nk("alice")),
                msg: MsgId(2),
            },
            Op::Kline(kline("$a:bob", None)),
            Op::Suspension {
                account: AccountId(2),
                reason: Some("old troll".into()),
                by: "oper".into(),
            },
            Op::Lockdown(true),
        ])
        .unwrap();
    drop(store);
    // Reopening the now current file keeps it all.
    let mut store = db.open();
    check(&mut store);
    let snap = store.load().unwrap();
    assert_eq!(
        snap.guests,
        [KeptGuest {
            nick: nick("Alice"),
            kept: 1,
            since: Timestamp(101),
        }]
    );
    assert_eq!(snap.accounts[0].statuses, [(rk("#zed"), OP)]);
    assert_eq!(snap.accounts[1].statuses, [(rk("#rust"), VOICE)]);
    assert_eq!(snap.klines, [kline("$a:bob", None)]);
    assert_eq!(snap.suspensions, [(AccountId(2), "old troll".to_owned())]);
    assert!(snap.lockdown);
    assert_eq!(snap.rooms, [s]);
    assert_eq!(
        snap.accounts[0].markers,
        [(
            Target::Room(room("#Rust")),
            Marker {
                time: Timestamp(100),
                msg: Some(MsgId(1))
            }
        )]
    );
}

#[test]
fn a_failed_upgrade_leaves_the_v1_file_as_it_was() {
    let db = Db::new();
    let conn = v1_file(&db);
    // Something in the way of the migration's second statement.
    conn.execute_batch("CREATE TABLE room_settings (x INTEGER)")
        .unwrap();
    drop(conn);
    let err = SqliteStore::open(&db.path, SqliteOptions::default()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains("room_settings")),
        "{err:?}"
    );
    let conn = db.raw();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    let statuses = number(
        &conn,
        "SELECT count(*) FROM sqlite_schema WHERE name = 'room_statuses'",
    );
    assert_eq!(statuses, 0, "the first statement rolled back too");

    // With the obstacle gone, the upgrade goes through.
    conn.execute_batch("DROP TABLE room_settings").unwrap();
    drop(conn);
    let mut store = db.open();
    assert_eq!(store.load().unwrap().accounts.len(), 2);
}

// ---- concurrency and backup ----

#[test]
fn a_second_connection_sees_commits() {
    // The CLI opens the file while the server holds it.
    let db = Db::new();
    let mut server = db.open();
    let mut cli = db.open();
    server
        .commit(&[Op::Message(to_room(1, "a", "#r", "from the server"))])
        .unwrap();
    assert_eq!(ids(&all(&mut cli, &Conversation::Room(rk("#r")))), [1]);
    cli.create_account(&nick("admin"), "h", Timestamp(0))
        .unwrap();
    assert_eq!(server.accounts().unwrap().len(), 1);
    server
        .commit(&[Op::Message(to_room(2, "a", "#r", "again"))])
        .unwrap();
    assert_eq!(cli.load().unwrap().next_msg_id, 3);
}

#[test]
fn backup_is_a_consistent_copy_while_open() {
    let db = Db::new();
    let mut store = db.open();
    let a = store
        .create_account(&nick("Alice"), "h", Timestamp(1))
        .unwrap();
    let ops: Vec<_> = (1..=100)
        .map(|i| Op::Message(to_room(i, "Alice", "#r", &format!("word{i} common"))))
        .chain([
            Op::Join {
                account: a.id,
                room: room("#r"),
            },
            Op::Topic {
                room: room("#r"),
                topic: Some(Topic {
                    text: text("backed up"),
                    by: nick("Alice"),
                    time: Timestamp(3),
                }),
            },
        ])
        .collect();
    store.commit(&ops).unwrap();

    let dest = db.dir().join("backup.db");
    store.backup_to(&dest).unwrap();

    // The source carries on.
    store
        .commit(&[Op::Message(to_room(101, "Alice", "#r", "after the backup"))])
        .unwrap();

    let mut copy = SqliteStore::open(&dest, SqliteOptions::default()).unwrap();
    let snap = copy.load().unwrap();
    assert_eq!(snap.next_msg_id, 101);
    assert_eq!(snap.accounts[0].rooms, [room("#r")]);
    assert_eq!(copy.accounts().unwrap(), vec![a]);
    assert_eq!(
        copy.topic(&rk("#r")).unwrap().unwrap().text.as_str(),
        "backed up"
    );
    assert_eq!(
        all(&mut copy, &Conversation::Room(rk("#r"))),
        all(&mut store, &Conversation::Room(rk("#r")))[..100]
    );
    // The copy's full-text index works (caught up, as a server does
    // when idle).
    assert_eq!(
        ids(&copy
            .search(&sees(&["#r"], None), "word42 common", 10)
            .unwrap()),
        [42]
    );

    // Never over an existing file, not even an empty one.
    let before = std::fs::read(&dest).unwrap();
    let err = store.backup_to(&dest).unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains("already exists") && m.contains("backup.db")),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&dest).unwrap(), before);
    let empty = db.dir().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(store.backup_to(&empty).is_err());

    // A destination that cannot be written names itself.
    let bad = db.dir().join("missing").join("b.db");
    let err = store.backup_to(&bad).unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(m) if m.contains("b.db")),
        "{err:?}"
    );
    assert!(!bad.exists());
}

#[test]
fn since_reads_what_a_reconnecting_user_missed() {
    let (_db, mut store) = search_fixture();
    let mut s = |v: &Visibility, after: u64, limit: usize| {
        ids(&store.since(v, MsgId(after), limit).unwrap())
    };
    // Alice in #rust: her rooms and her private messages, by id.
    assert_eq!(
        s(&sees(&["#rust"], Some("alice")), 0, 100),
        [1, 3, 5, 6, 7, 8, 9]
    );
    assert_eq!(s(&sees(&["#rust"], Some("alice")), 5, 100), [6, 7, 8, 9]);
    // The limit keeps the earliest, so asking again after the last one
    // continues without a gap.
    assert_eq!(s(&sees(&["#rust"], Some("alice")), 0, 3), [1, 3, 5]);
    assert_eq!(s(&sees(&["#rust"], Some("alice")), 5, 3), [6, 7, 8]);
    // A guest sees no private messages; nobody sees nothing.
    assert_eq!(s(&sees(&["#secret"], None), 0, 100), [2]);
    assert!(s(&sees(&[], None), 0, 100).is_empty());
    assert!(s(&sees(&["#rust"], Some("alice")), 9, 100).is_empty());
    assert!(s(&sees(&["#rust"], Some("alice")), u64::MAX, 100).is_empty());
    // Private messages from before the account are left out before the
    // limit counts.
    let alice = sees(&["#rust"], Some("alice"));
    let all = store.since(&alice, MsgId(0), 100).unwrap();
    let kept: Vec<u64> = all
        .iter()
        .filter(|m| matches!(m.to, Target::Room(_)) || m.time.0 >= 1_007)
        .map(|m| m.id.0)
        .collect();
    assert!(kept.len() < all.len(), "the fixture has older private ones");
    let since = Visibility {
        private_since: Timestamp(1_007),
        ..alice
    };
    assert_eq!(ids(&store.since(&since, MsgId(0), 100).unwrap()), kept);
    assert_eq!(ids(&store.since(&since, MsgId(0), 2).unwrap()), kept[..2]);
}

#[test]
fn a_room_named_before_invisible_characters_were_refused_still_loads() {
    // Room names refuse invisible format characters now; a database that
    // holds one from before must still load, as it was.
    let db = Db::new();
    let mut store = db.open();
    let alice = store
        .create_account(&nick("alice"), "$argon2id$a", Timestamp(1))
        .unwrap();
    let old = RoomName::parse_stored("#ru\u{200b}st", 64).unwrap();
    store
        .commit(&[
            Op::Join {
                account: alice.id,
                room: old.clone(),
            },
            Op::Message(Message {
                id: MsgId(1),
                time: Timestamp(2),
                from: nick("alice"),
                to: Target::Room(old.clone()),
                kind: MsgKind::Say,
                text: text("hi"),
                tags: confab_core::ClientTags::default(),
            }),
        ])
        .unwrap();
    drop(store);
    let mut store = db.open();
    let snap = store.load().unwrap();
    assert_eq!(snap.accounts[0].rooms, vec![old.clone()]);
    let msgs = all(&mut store, &Conversation::Room(old.key()));
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].to, Target::Room(old));
}

#[test]
fn tokens_are_voided_by_account_and_one_by_one_and_survive_a_reopen() {
    let db = Db::new();
    let mut store = db.open();
    store
        .create_account(&nick("alice"), "$argon2id$x", Timestamp(1))
        .unwrap();
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().tokens_after,
        Timestamp(0)
    );
    // Log out everywhere, then a password change: never backwards.
    store.revoke_tokens(&nk("ALICE"), Timestamp(50)).unwrap();
    store.revoke_tokens(&nk("alice"), Timestamp(40)).unwrap();
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().tokens_after,
        Timestamp(50)
    );
    store
        .set_password(&nk("alice"), "$argon2id$y", Timestamp(70))
        .unwrap();
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().tokens_after,
        Timestamp(70)
    );
    assert_eq!(
        store.revoke_tokens(&nk("nobody"), Timestamp(1)),
        Err(StoreError::NoSuchAccount("nobody".into()))
    );
    // One token at a time, forgotten once expired.
    store.revoke_token("aaaa", Timestamp(100)).unwrap();
    store.revoke_token("bbbb", Timestamp(200)).unwrap();
    store.revoke_token("aaaa", Timestamp(100)).unwrap();
    drop(store);
    let mut store = db.open();
    let mut ids = store.revoked_tokens(Timestamp(99)).unwrap();
    ids.sort();
    assert_eq!(ids, ["aaaa", "bbbb"]);
    assert_eq!(store.revoked_tokens(Timestamp(150)).unwrap(), ["bbbb"]);
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().tokens_after,
        Timestamp(70)
    );
}

#[test]
fn deleting_an_account_takes_its_own_rows_and_leaves_what_it_said() {
    let db = Db::new();
    let mut store = db.open();
    let a = store.create_account(&nick("a"), "h", Timestamp(0)).unwrap();
    let b = store.create_account(&nick("b"), "h", Timestamp(0)).unwrap();
    store
        .commit(&[
            Op::Join {
                account: a.id,
                room: room("#r"),
            },
            Op::Message(to_room(1, "a", "#r", "said in a room")),
            Op::Message(to_user(2, "b", "a", "kept for a")),
            Op::Message(to_user(3, "a", "b", "kept for b")),
            Op::Pending {
                to: KeptFor::Account(a.id),
                msg: MsgId(2),
            },
            Op::Pending {
                to: KeptFor::Account(b.id),
                msg: MsgId(3),
            },
        ])
        .unwrap();
    assert_eq!(store.delete_account(&nk("A")).unwrap(), 1);
    assert_eq!(store.account(&nk("a")).unwrap(), None);
    assert_eq!(
        store.delete_account(&nk("a")),
        Err(StoreError::NoSuchAccount("a".into()))
    );
    drop(store);
    let mut store = db.open();
    let snap = store.load().unwrap();
    let names: Vec<&str> = snap
        .accounts
        .iter()
        .map(|s| s.account.name.as_str())
        .collect();
    assert_eq!(names, ["b"]);
    assert_eq!(ids(&all(&mut store, &Conversation::Room(rk("#r")))), [1]);
    assert_eq!(
        ids(&store.pending(&KeptFor::Account(b.id), 100).unwrap()),
        [3]
    );
    // The name is free again.
    store
        .create_account(&nick("a"), "h2", Timestamp(9))
        .unwrap();
}

// ---- checkpoints ----

#[test]
fn a_long_wal_is_checkpointed_by_the_background_thread_while_the_writer_rests() {
    let db = Db::new();
    let mut store = db.open();
    store.checkpoint_in_background().unwrap();
    let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = db.path.with_extension("db-wal");
    let page = 4096;
    let before = len(&db.path);
    // Commits until the WAL passes the thread's threshold; a text of
    // 3,000 bytes takes at least a page of its own.
    let body = "kiwi ".repeat(600);
    let mut id = 0;
    while len(&wal) < (crate::checkpoint::SOFT as u64 + 50) * page {
        assert!(id < 20_000, "the WAL never grew: {} bytes", len(&wal));
        let batch: Vec<Op> = (0..4)
            .map(|_| {
                id += 1;
                Op::Message(to_room(id, "ann", "#r", &body))
            })
            .collect();
        store.commit(&batch).unwrap();
    }
    // The writer commits no more. Its own checkpoints would wait for
    // HARD frames, so the file grows only if the thread copies the
    // frames into it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while len(&db.path) <= before + 100 * page {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint: the database file stayed at {} bytes, the WAL at {}",
            len(&db.path),
            len(&wal)
        );
        std::thread::yield_now();
    }
    // What was copied reads back the same, through a new connection too.
    let stored = all(&mut store, &Conversation::Room(rk("#r")));
    assert_eq!(stored.len() as u64, id);
    drop(store);
    assert_eq!(
        all(&mut db.open(), &Conversation::Room(rk("#r"))).len() as u64,
        id
    );
}

#[test]
fn the_search_index_merges_a_little_with_each_chunk_and_stays_whole() {
    let db = Db::new();
    let mut store = db.open();
    let automerge = number(
        store.search_conn(),
        "SELECT v FROM search.messages_fts_config WHERE k = 'automerge'",
    );
    assert_eq!(automerge, 0, "FTS5 would merge in bursts of its own");
    let words = ["kiwi", "plum", "fig", "pear", "lime", "date", "yuzu"];
    let chunks = 60;
    let mut kiwis = 0;
    for c in 0..chunks {
        let batch: Vec<Op> = (0..64)
            .map(|i| {
                let id = c * 64 + i + 1;
                let body = format!("{} {} n{id}", words[id as usize % 7], words[c as usize % 7]);
                kiwis += usize::from(body.contains("kiwi"));
                Op::Message(to_room(id, "ann", "#r", &body))
            })
            .collect();
        store.commit(&batch).unwrap();
        assert_eq!(store.index_backlog(64).unwrap(), 64);
    }
    // One segment per chunk without merging (FTS5's crisis merge would
    // only fold level 0 at 16); the merges keep far fewer.
    let segments = number(
        store.search_conn(),
        "SELECT count(DISTINCT segid) FROM search.messages_fts_idx",
    );
    assert!(segments <= 8, "{segments} segments (15 without the merges)");
    store
        .search_conn()
        .execute(
            "INSERT INTO search.messages_fts (messages_fts) VALUES ('integrity-check')",
            [],
        )
        .unwrap();
    let v = sees(&["#r"], None);
    let found = store.search(&v, "n3840", 10).unwrap();
    assert_eq!(ids(&found), [3840]);
    assert_eq!(store.search(&v, "kiwi", 10_000).unwrap().len(), kiwis);
}
