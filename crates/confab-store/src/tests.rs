//! The store on real files in temporary directories.

use std::path::{Path, PathBuf};

use confab_core::store::{
    Account, AccountId, AccountState, Conversation, Op, Store, StoreError, Visibility,
};
use confab_core::{Message, MsgId, MsgKind, Nick, NickKey, RoomKey, RoomName, Target, Text};
use confab_core::{Timestamp, Topic};
use rusqlite::Connection;
use tempfile::TempDir;

use crate::sqlite::{HISTORY_PRIVATE, HISTORY_ROOM, PENDING, SEARCH};
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
    }
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
    store.history(conv, None, usize::MAX).unwrap()
}

fn private(a: &str, b: &str) -> Conversation {
    Conversation::Private(nk(a), nk(b))
}

fn sees(rooms: &[&str], private: Option<&str>) -> Visibility {
    Visibility {
        rooms: rooms.iter().map(|r| rk(r)).collect(),
        private: private.map(nk),
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
    assert!(store.pending(AccountId(1)).unwrap().is_empty());
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

    store.set_password(&nk("aLiCe"), "$argon2id$new").unwrap();
    assert_eq!(
        store.account(&nk("alice")).unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert_eq!(
        store.set_password(&nk("carol"), "x"),
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
    let ops = vec![
        Op::Message(to_room(1, "Alice", "#Rust", "hello rustaceans")),
        Op::Message(action.clone()),
        Op::Message(to_user(3, "Bob", "Alice", "are you there?")),
        Op::Message(notice.clone()),
        Op::Pending {
            account: alice.id,
            msg: MsgId(3),
        },
        Op::Pending {
            account: alice.id,
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
                    ignores: vec![nk("mallory"), nk("troll")],
                },
                AccountState {
                    account: Account {
                        last_seen: Timestamp(999),
                        ..bob.clone()
                    },
                    rooms: vec![room("#Rust")],
                    ignores: vec![],
                },
            ]
        );
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
            store.pending(alice.id).unwrap(),
            vec![to_user(3, "Bob", "Alice", "are you there?"), notice.clone()]
        );
        assert!(store.pending(bob.id).unwrap().is_empty());
    };
    check(&mut store);
    drop(store);
    let mut store = db.open();
    check(&mut store);

    // Delivered empties the account's pending list, durably.
    store
        .commit(&[Op::Delivered { account: alice.id }])
        .unwrap();
    assert!(store.pending(alice.id).unwrap().is_empty());
    // The messages themselves stay for history.
    assert_eq!(ids(&all(&mut store, &private("alice", "bob"))), [3, 4]);
    drop(store);
    let mut store = db.open();
    assert!(store.pending(alice.id).unwrap().is_empty());
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
                account: a.id,
                msg: MsgId(5),
            },
            Op::Message(to_user(5, "c", "a", "five")),
            Op::Pending {
                account: a.id,
                msg: MsgId(3),
            },
            Op::Pending {
                account: a.id,
                msg: MsgId(1),
            },
            Op::Pending {
                account: b.id,
                msg: MsgId(2),
            },
            // Keeping the same message twice keeps it once.
            Op::Pending {
                account: a.id,
                msg: MsgId(1),
            },
        ])
        .unwrap();
    assert_eq!(ids(&store.pending(a.id).unwrap()), [1, 3, 5]);
    store.commit(&[Op::Delivered { account: a.id }]).unwrap();
    assert!(store.pending(a.id).unwrap().is_empty());
    assert_eq!(ids(&store.pending(b.id).unwrap()), [2]);
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
                account: a.id,
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
    let pages: i64 = store
        .conn()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
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
    let page1 = store.history(&a, None, 10).unwrap();
    assert_eq!(ids(&page1), (31..=49).step_by(2).collect::<Vec<_>>());
    let page2 = store.history(&a, Some(page1[0].id), 10).unwrap();
    assert_eq!(ids(&page2), (11..=29).step_by(2).collect::<Vec<_>>());
    let page3 = store.history(&a, Some(page2[0].id), 10).unwrap();
    assert_eq!(ids(&page3), [1, 3, 5, 7, 9]);
    assert!(store.history(&a, Some(MsgId(1)), 10).unwrap().is_empty());
    assert!(store.history(&a, None, 0).unwrap().is_empty());
    // `before` need not be an id of this room.
    assert_eq!(ids(&store.history(&a, Some(MsgId(8)), 2).unwrap()), [5, 7]);
    // A huge `before` means everything.
    assert_eq!(
        store.history(&a, Some(MsgId(u64::MAX)), 100).unwrap().len(),
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
            .history(&private("bob", "alice"), Some(MsgId(6)), 1)
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
    let p = plan(HISTORY_ROOM, &[&"#r", &10, &10]);
    assert!(p.contains("USING INDEX messages_room"), "{p}");
    let p = plan(HISTORY_PRIVATE, &[&"a", &"b", &10, &10]);
    assert!(p.contains("USING INDEX messages_private"), "{p}");
    let p = plan(PENDING, &[&1]);
    assert!(p.contains("SEARCH p USING PRIMARY KEY"), "{p}");
    let p = plan(SEARCH, &[&"\"x\"", &"[]", &None::<String>, &10]);
    assert!(p.contains("VIRTUAL TABLE INDEX"), "{p}");
    assert!(!p.contains("USE TEMP B-TREE FOR ORDER BY"), "{p}");
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
        .history(&Conversation::Room(rk("#r")), None, 10)
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("1bad")),
        "{err:?}"
    );
    let err = store.history(&private("a", "b"), None, 10).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    raw.execute_batch(
        "INSERT INTO accounts (name, name_key, password_hash, created_ms, last_seen_ms)
         VALUES ('no spaces', 'no spaces', 'h', 0, 0);",
    )
    .unwrap();
    assert!(matches!(store.load(), Err(StoreError::Corrupt(_))));
    assert!(matches!(store.accounts(), Err(StoreError::Corrupt(_))));
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
    // The copy's full-text index works.
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
