//! The schema and its migrations.
//!
//! `MIGRATIONS[i]` takes a database from schema version `i` to `i + 1`;
//! the version is kept in `PRAGMA user_version`. A migration is only ever
//! appended, never edited once released: files in the field went through
//! the old text.

use rusqlite::{Connection, TransactionBehavior};

use confab_core::store::StoreError;

use crate::error::db;

/// `PRAGMA application_id` of a confab database ("conf" in ASCII), so that
/// another program's SQLite file is recognised as such.
pub(crate) const APPLICATION_ID: i64 = 0x636f_6e66;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first schema.
    r#"
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    time_ms     INTEGER NOT NULL,
    from_nick   TEXT    NOT NULL,
    from_key    TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('say', 'action', 'notice')),
    target_kind TEXT    NOT NULL CHECK (target_kind IN ('room', 'user')),
    target_name TEXT    NOT NULL,
    target_key  TEXT    NOT NULL,
    text        TEXT    NOT NULL
) STRICT;

-- Room history: the messages of one room by id.
CREATE INDEX messages_room ON messages (target_key, id)
    WHERE target_kind = 'room';

-- Private history: the messages between two names, either way, by id.
-- The pair is unordered: (min, max) of the two keys.
CREATE INDEX messages_private
    ON messages (min(from_key, target_key), max(from_key, target_key), id)
    WHERE target_kind = 'user';

-- Full-text index over message text, external content (the text is stored
-- once, in messages), rowid = message id. Triggers keep it in sync.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF id, text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

-- Private messages kept for an offline account.
CREATE TABLE pending (
    account_id INTEGER NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    msg_id     INTEGER NOT NULL
        REFERENCES messages (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (account_id, msg_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX pending_msg ON pending (msg_id);

CREATE TABLE topics (
    room_key  TEXT    NOT NULL PRIMARY KEY,
    room_name TEXT    NOT NULL,
    text      TEXT    NOT NULL,
    set_by    TEXT    NOT NULL,
    time_ms   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The rooms of registered accounts; position orders them by join.
CREATE TABLE memberships (
    account_id INTEGER NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    room_key   TEXT    NOT NULL,
    room_name  TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (account_id, room_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE ignores (
    account_id INTEGER NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    nick_key   TEXT    NOT NULL,
    PRIMARY KEY (account_id, nick_key)
) STRICT, WITHOUT ROWID;
"#,
    // 1 -> 2: standing in rooms, room settings and bans.
    r#"
-- The standing (operator, voice) of registered accounts in their rooms;
-- only non-default standings have a row. It belongs to a membership, so
-- leaving the room (or losing the account) removes it. The key is
-- deferred like the others, so a batch may set a standing before the
-- join that makes it valid.
CREATE TABLE room_statuses (
    account_id INTEGER NOT NULL,
    room_key   TEXT    NOT NULL,
    op         INTEGER NOT NULL CHECK (op IN (0, 1)),
    voice      INTEGER NOT NULL CHECK (voice IN (0, 1)),
    PRIMARY KEY (account_id, room_key),
    FOREIGN KEY (account_id, room_key) REFERENCES memberships (account_id, room_key)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CHECK (op = 1 OR voice = 1)
) STRICT, WITHOUT ROWID;

-- Every stored room's modes; a missing key or limit is NULL.
CREATE TABLE room_settings (
    room_key       TEXT    NOT NULL PRIMARY KEY,
    room_name      TEXT    NOT NULL,
    topic_ops_only INTEGER NOT NULL CHECK (topic_ops_only IN (0, 1)),
    no_external    INTEGER NOT NULL CHECK (no_external IN (0, 1)),
    moderated      INTEGER NOT NULL CHECK (moderated IN (0, 1)),
    invite_only    INTEGER NOT NULL CHECK (invite_only IN (0, 1)),
    secret         INTEGER NOT NULL CHECK (secret IN (0, 1)),
    join_key       TEXT,
    member_limit   INTEGER CHECK (member_limit >= 0)
) STRICT, WITHOUT ROWID;

-- The ban list of a room; position keeps the list's order.
CREATE TABLE room_bans (
    room_key TEXT    NOT NULL
        REFERENCES room_settings (room_key) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    position INTEGER NOT NULL,
    mask     TEXT    NOT NULL,
    set_by   TEXT    NOT NULL,
    time_ms  INTEGER NOT NULL,
    PRIMARY KEY (room_key, position)
) STRICT, WITHOUT ROWID;
"#,
    // 2 -> 3: read markers.
    r#"
-- Where a registered account stopped reading each conversation it marked:
-- a room, or the private messages with another name. The time is the
-- marker (it only moves forward, as the hub decides); msg_id the latest
-- message at or before it, when there was one. Not a foreign key to
-- messages: a marker outlives what it points at.
CREATE TABLE read_markers (
    account_id  INTEGER NOT NULL
        REFERENCES accounts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    target_kind TEXT    NOT NULL CHECK (target_kind IN ('room', 'user')),
    target_key  TEXT    NOT NULL,
    target_name TEXT    NOT NULL,
    time_ms     INTEGER NOT NULL,
    msg_id      INTEGER CHECK (msg_id > 0),
    PRIMARY KEY (account_id, target_kind, target_key)
) STRICT, WITHOUT ROWID;
"#,
    // 3 -> 4: private messages kept for guest names.
    r#"
-- Private messages kept for a guest name that was offline: whoever next
-- uses the name reads them. Like `pending`, by the name's key instead of
-- an account.
CREATE TABLE guest_pending (
    guest_key TEXT    NOT NULL,
    msg_id    INTEGER NOT NULL
        REFERENCES messages (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (guest_key, msg_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX guest_pending_msg ON guest_pending (msg_id);
"#,
    // 4 -> 5: login tokens can be revoked: all of an account's issued
    // before a time (log out everywhere, a new password), or one by id.
    r#"
ALTER TABLE accounts ADD COLUMN tokens_after_ms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE revoked_tokens (
    id         TEXT    PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"#,
    // 5 -> 6: server-wide bans (K-lines).
    r#"
-- Server-wide bans, by their canonical mask: `$a:name` (an account),
-- `nick!ident@host` (a lowercase glob) or an address or CIDR block. Set
-- by an operator (or `admin`), with an optional expiry.
CREATE TABLE klines (
    mask       TEXT    PRIMARY KEY,
    reason     TEXT    NOT NULL,
    set_by     TEXT    NOT NULL,
    set_ms     INTEGER NOT NULL,
    expires_ms INTEGER
) STRICT, WITHOUT ROWID;
"#,
    // 6 -> 7: suspended accounts and server-wide switches (lockdown).
    r#"
-- Accounts that may not log in, with why and who said so.
CREATE TABLE suspensions (
    account_id INTEGER PRIMARY KEY
        REFERENCES accounts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    reason     TEXT    NOT NULL,
    set_by     TEXT    NOT NULL
) STRICT;

-- Server-wide switches by name; a row means on (`lockdown`).
CREATE TABLE server_flags (
    name TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;
"#,
    // 7 -> 8: the full-text index is fed in bulk, off the path of every
    // message (`Store::index_backlog`), rather than by a trigger per row.
    r#"
-- Messages with ids up to `upto` are in messages_fts; later ones wait.
CREATE TABLE fts_state (
    id   INTEGER PRIMARY KEY CHECK (id = 0),
    upto INTEGER NOT NULL
) STRICT;
INSERT INTO fts_state (id, upto)
    VALUES (0, coalesce((SELECT max(id) FROM messages), 0));

DROP TRIGGER messages_fts_insert;

-- Only an indexed row has index entries to take out (an FTS5 'delete' of
-- a row never indexed would corrupt the index).
DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    WHEN old.id <= (SELECT upto FROM fts_state) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
END;

DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF id, text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.id, old.text
        WHERE old.id <= (SELECT upto FROM fts_state);
    INSERT INTO messages_fts (rowid, text)
        SELECT new.id, new.text
        WHERE new.id <= (SELECT upto FROM fts_state);
END;
"#,
    // 8 -> 9: a message keeps the client-only tags its sender gave it
    // (IRCv3 `+draft/reply=…`): `key=value` pairs joined by NUL
    // (`ClientTags::encode`); NULL for none.
    r#"
ALTER TABLE messages ADD COLUMN tags TEXT;
"#,
    // 9 -> 10: the full-text index merges its segments only when told to,
    // a few pages with each chunk indexed (`index_backlog`). FTS5's own
    // merging came in bursts of hundreds of pages inside one chunk (up to
    // 15 ms), and every commit arriving meanwhile waited behind it.
    r#"
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 0);
"#,
    // 10 -> 11: the full-text index moves to a file of its own (see
    // `index.rs`): its pages no longer go through this file's WAL. It is
    // made there anew from the messages.
    r#"
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
DROP TABLE fts_state;

-- Names this database to its index file, which keeps the same key: an
-- index made from another database is made anew.
CREATE TABLE search_link (
    id  INTEGER PRIMARY KEY CHECK (id = 0),
    key TEXT    NOT NULL
) STRICT;
INSERT INTO search_link (id, key) VALUES (0, lower(hex(randomblob(16))));

-- Messages deleted or edited since the index last looked: it takes them
-- out (and puts edited ones back), then trims what it applied.
CREATE TABLE search_changes (
    seq    INTEGER PRIMARY KEY,
    msg_id INTEGER NOT NULL
) STRICT;

CREATE TRIGGER search_changes_delete AFTER DELETE ON messages BEGIN
    INSERT INTO search_changes (msg_id) VALUES (old.id);
END;

CREATE TRIGGER search_changes_update AFTER UPDATE OF id, text ON messages BEGIN
    INSERT INTO search_changes (msg_id) VALUES (old.id);
    INSERT INTO search_changes (msg_id) SELECT new.id WHERE new.id <> old.id;
END;
"#,
    // 11 -> 12: a message's kind is checked by equalities. SQLite checks
    // `kind IN ('say', 'action', 'notice')` (three or more values) by
    // building a temporary b-tree of them for every row inserted: 13% of
    // the store thread's time under private messages. The same rule as
    // ORed equalities costs nothing. SQLite cannot alter a CHECK; the table
    // is not rebuilt (other tables' keys point at it, and it is the
    // biggest), its definition is edited in place as SQLite documents for
    // changes that leave what is on disk as it is ("making other kinds of
    // table schema changes": `writable_schema`, then the schema cookie
    // moved on, which `migrate` does after every migration).
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
    SET sql = replace(sql, 'CHECK (kind IN (''say'', ''action'', ''notice''))',
                      'CHECK (kind = ''say'' OR kind = ''action'' OR kind = ''notice'')')
    WHERE type = 'table' AND name = 'messages';
PRAGMA writable_schema = OFF;
"#,
];

/// The schema version this code writes and the newest it reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], refusing files of a newer
/// confab or of another program.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // The common case (already current) takes no write lock, so a CLI can
    // open the database while the server runs.
    if check(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    // Read again under the write lock: another process may have migrated.
    let found = check(&tx)?;
    let from = usize::try_from(found).expect("checked non-negative");
    for migration in &MIGRATIONS[from..] {
        tx.execute_batch(migration).map_err(db)?;
    }
    // Migration 12 edited a definition's text: check that it found it.
    if from < 12 {
        let sql: String = tx
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'messages'",
                [],
                |r| r.get(0),
            )
            .map_err(db)?;
        if !sql.contains("CHECK (kind = 'say' OR kind = 'action' OR kind = 'notice')") {
            return Err(StoreError::Corrupt(
                "the messages table is not as confab made it (its kind check)".into(),
            ));
        }
    }
    // Other connections read the schema again (and see an edited
    // definition: the last migration's).
    let cookie: i64 = tx
        .pragma_query_value(None, "schema_version", |r| r.get(0))
        .map_err(db)?;
    tx.pragma_update(None, "schema_version", cookie + 1)
        .map_err(db)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(db)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(db)?;
    tx.commit().map_err(db)?;
    // This connection reads it again too.
    conn.pragma_update(None, "writable_schema", "RESET")
        .map_err(db)
}

/// The schema version of the file, after checking that this code can
/// read it.
fn check(conn: &Connection) -> Result<i64, StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "the schema version is {found}"
        )));
    }
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(db)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(StoreError::Corrupt(format!(
            "it belongs to another program (application id {app:#x})"
        )));
    }
    if found == 0 {
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(db)?;
        if objects > 0 {
            return Err(StoreError::Corrupt(
                "it has tables but no confab schema version".into(),
            ));
        }
    }
    Ok(found)
}
