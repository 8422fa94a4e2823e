//! [`SqliteStore`]: opening, backup and the [`Store`] implementation.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use confab_core::store::{
    Account, AccountId, AccountState, Conversation, HistoryQuery, KeptFor, KeptGuest, Op,
    RoomSettings, Snapshot, Store, StoreError, Visibility,
};
use confab_core::{
    Ban, Kline, KlineMask, Marker, Message, MsgId, Nick, NickKey, RoomKey, RoomModes, Status,
    Timestamp, Topic,
};

use crate::checkpoint::Checkpoints;
use crate::error::{at, corrupt, db, is_unique_violation};
use crate::index::{self, Indexer};
use crate::query::{fts_query, json_strings};
use crate::rows::{self, account_columns, message_columns};
use crate::schema;

/// How long a statement waits for another connection's lock (the CLI may
/// open the database while the server runs) before failing with "database
/// is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many prepared statements a connection keeps: more than this crate
/// has, so none is ever prepared twice.
const STATEMENT_CACHE: usize = 64;

/// The messages of a room in a window, in id order: `ASC` for the earliest
/// of the window, `DESC` for the latest. `?1` is the room key; the window
/// is inclusive on both ends, ids in `?2..=?3` and times in `?4..=?5` (see
/// `rows::window`); `?6` is the limit. The id bounds are the range of
/// the index `messages_room`; the time bounds filter the rows of that
/// range (no index has the time), read in id order until `?6` match.
macro_rules! history_room {
    ($order:literal) => {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.target_kind = 'room' AND m.target_key = ?1 \
             AND m.id >= ?2 AND m.id <= ?3 AND m.time_ms >= ?4 AND m.time_ms <= ?5 \
             ORDER BY m.id ",
            $order,
            " LIMIT ?6"
        )
    };
}

/// The private messages between two keys (`?1` <= `?2`) in a window, in
/// id order; otherwise as `history_room!`, each parameter one later. The
/// WHERE terms repeat the expressions of the index `messages_private`
/// exactly, so the planner uses it.
macro_rules! history_private {
    ($order:literal) => {
        concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages m WHERE m.target_kind = 'user' \
             AND min(m.from_key, m.target_key) = ?1 \
             AND max(m.from_key, m.target_key) = ?2 \
             AND m.id >= ?3 AND m.id <= ?4 AND m.time_ms >= ?5 AND m.time_ms <= ?6 \
             ORDER BY m.id ",
            $order,
            " LIMIT ?7"
        )
    };
}

/// The earliest messages of a room in a window, oldest first.
pub(crate) const HISTORY_ROOM_EARLIEST: &str = history_room!("ASC");
/// The latest messages of a room in a window, newest first.
pub(crate) const HISTORY_ROOM_LATEST: &str = history_room!("DESC");
/// The earliest private messages between two keys in a window, oldest
/// first.
pub(crate) const HISTORY_PRIVATE_EARLIEST: &str = history_private!("ASC");
/// The latest private messages between two keys in a window, newest first.
pub(crate) const HISTORY_PRIVATE_LATEST: &str = history_private!("DESC");

/// The conversations of someone who sees the rooms of a JSON array of keys
/// (`?1`) and the private messages to and from a key (`?2`, NULL for
/// none), each with the time of its latest message, for those whose latest
/// message lies strictly between `?3` and `?4` (a private one's at `?6`
/// or later: `Visibility::private_since`); the `?5` earliest by that time
/// (then by kind and key, so ties come in a stable order).
///
/// Columns: `'room'` and the room key, or `'user'` and the key of the
/// other party; then the time; then, for a private one, the other party's
/// name as the latest message spells it (a bare column of the `max`
/// aggregate: SQLite takes it from the row of the maximum). Every message
/// of the conversations is read (no index has the time), through the
/// indexes: `messages_room` for each
/// listed room, and `messages_private` twice, since its pairs are
/// unordered: where `?2` is the smaller key of the pair (an equality on
/// the index's first column, the other party its second), and where it is
/// the larger (a range on the first column, checked against the second;
/// the other party is the smaller key). The two are disjoint, so each
/// groups by its own column.
pub(crate) const CONVERSATIONS: &str = "\
SELECT 'room' AS kind, m.target_key AS other, max(m.time_ms) AS t, NULL FROM messages m \
 WHERE m.target_kind = 'room' AND m.target_key IN (SELECT value FROM json_each(?1)) \
 GROUP BY m.target_key HAVING t > ?3 AND t < ?4 \
UNION ALL \
SELECT 'user', max(m.from_key, m.target_key), max(m.time_ms) AS t, \
 CASE WHEN m.from_key = max(m.from_key, m.target_key) THEN m.from_nick ELSE m.target_name END \
 FROM messages m \
 WHERE m.target_kind = 'user' AND min(m.from_key, m.target_key) = ?2 \
 GROUP BY max(m.from_key, m.target_key) HAVING t > ?3 AND t < ?4 AND t >= ?6 \
UNION ALL \
SELECT 'user', min(m.from_key, m.target_key), max(m.time_ms) AS t, \
 CASE WHEN m.from_key = min(m.from_key, m.target_key) THEN m.from_nick ELSE m.target_name END \
 FROM messages m \
 WHERE m.target_kind = 'user' AND min(m.from_key, m.target_key) < ?2 \
   AND max(m.from_key, m.target_key) = ?2 \
 GROUP BY min(m.from_key, m.target_key) HAVING t > ?3 AND t < ?4 AND t >= ?6 \
ORDER BY t, kind, other LIMIT ?5";

/// The newest messages matching an FTS5 query (`?1`) in the rooms of a
/// JSON array of keys (`?2`) or private to or from a key (`?3`, NULL for
/// none) sent at `?5` or later. The full-text index yields matches newest
/// first and each is checked against the visibility until `?4` are found.
pub(crate) const SEARCH: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM search.messages_fts f JOIN main.messages m ON m.id = f.rowid \
     WHERE f.messages_fts MATCH ?1 AND ( \
       (m.target_kind = 'room' AND m.target_key IN (SELECT value FROM json_each(?2))) \
       OR (m.target_kind = 'user' AND (m.from_key = ?3 OR m.target_key = ?3) \
           AND m.time_ms >= ?5) \
     ) ORDER BY f.rowid DESC LIMIT ?4"
);

/// The messages after an id (`?1`), oldest first, in the rooms of a JSON
/// array of keys (`?2`) or private to or from a key (`?3`, NULL for none)
/// sent at `?5` or later, at most `?4`: what a reconnecting client missed. Walks the primary key
/// from the id, so it costs what it returns plus what others said.
pub(crate) const SINCE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.id > ?1 AND ( \
       (m.target_kind = 'room' AND m.target_key IN (SELECT value FROM json_each(?2))) \
       OR (m.target_kind = 'user' AND (m.from_key = ?3 OR m.target_key = ?3) \
           AND m.time_ms >= ?5) \
     ) ORDER BY m.id LIMIT ?4"
);

/// The `?2` oldest messages kept for an account (`?1`), oldest first.
pub(crate) const PENDING: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM pending p JOIN messages m ON m.id = p.msg_id \
     WHERE p.account_id = ?1 ORDER BY p.msg_id LIMIT ?2"
);

/// The `?2` oldest messages kept for a guest name's key (`?1`), oldest
/// first.
pub(crate) const GUEST_PENDING: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM guest_pending p JOIN messages m ON m.id = p.msg_id \
     WHERE p.guest_key = ?1 ORDER BY p.msg_id LIMIT ?2"
);

/// The table and key column that hold what is kept for `to`, and its key.
fn kept_where(to: &KeptFor) -> (&'static str, &'static str, rusqlite::types::Value) {
    match to {
        KeptFor::Account(id) => ("pending", "account_id", id.0.into()),
        KeptFor::Guest(key) => ("guest_pending", "guest_key", key.as_str().to_owned().into()),
    }
}

/// When a commit is on disk (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit is synced to disk before it returns: a committed batch
    /// survives a power cut. The [`Store`] contract asks for this.
    #[default]
    Full,
    /// Commits are synced at checkpoints only: a power cut (not a crash of
    /// the process) may lose the last commits, but never corrupts the file.
    /// Much faster per commit.
    Normal,
}

/// How [`SqliteStore::open`] sets up the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
}

/// The [`Store`] on one SQLite file. See the crate docs for the schema.
#[derive(Debug)]
pub struct SqliteStore {
    /// Before `conn`, so that its thread has stopped when `conn` closes.
    checkpoints: Option<Checkpoints>,
    /// The thread feeding the search index, if this connection started it.
    indexer: Option<Indexer>,
    conn: Connection,
    /// A connection with the search index attached, opened at the first
    /// search: `conn` never opens the index's file (see `index.rs`).
    searcher: Option<Connection>,
    /// `PRAGMA synchronous` as configured.
    synchronous: &'static str,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it is missing
    /// (not its directory), and brings its schema up to
    /// [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// Errors: [`StoreError::TooNew`] if a newer confab wrote the file,
    /// [`StoreError::Corrupt`] if it is not a (confab) database, and
    /// [`StoreError::Other`] naming the path if it cannot be opened or
    /// written.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<SqliteStore, StoreError> {
        // No SQLITE_OPEN_URI: a path is a path, even if it starts "file:".
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::Other(format!(
                "cannot open the database {}: {e}; check that its directory exists and is writable",
                path.display()
            ))
        })?;
        let err = at(path);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
        stable_plans(&conn).map_err(&err)?;
        // The first read of the file: a file that is not a database fails
        // here with SQLITE_NOTADB.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "{}: cannot use write-ahead logging (journal mode stays {mode})",
                path.display()
            )));
        }
        let sync = match opts.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(&err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(&err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::migrate(&mut conn).map_err(|e| match e {
            StoreError::Other(msg) => StoreError::Other(format!("{}: {msg}", path.display())),
            StoreError::Corrupt(msg) => StoreError::Corrupt(format!("{}: {msg}", path.display())),
            other => other,
        })?;
        Ok(SqliteStore {
            checkpoints: None,
            indexer: None,
            conn,
            searcher: None,
            synchronous: sync,
        })
    }

    /// Checkpoints the WAL on a thread of its own from now on, beside this
    /// connection's commits instead of inside one of them (see
    /// `checkpoint.rs`). For the one connection that writes all the time:
    /// the server's.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        if self.checkpoints.is_none() {
            let path = self.conn.path().unwrap_or_default().to_owned();
            let started = Checkpoints::start(&self.conn, Path::new(&path), self.synchronous)?;
            self.checkpoints = Some(started);
        }
        Ok(())
    }

    /// Feeds the search index on a thread of its own from now on, and
    /// makes its file anew first where it must be (see `index.rs`). For
    /// the connection that stores the messages: the server's.
    pub fn index_in_background(&mut self) -> Result<(), StoreError> {
        if self.indexer.is_none() {
            let path = self.conn.path().unwrap_or_default().to_owned();
            self.indexer = Some(Indexer::start(Path::new(&path))?);
        }
        Ok(())
    }

    /// Feeds up to `max` stored messages not yet in the search index into
    /// it, oldest first, in one transaction; how many. What the indexer
    /// thread does, for a store without one.
    pub fn index_backlog(&mut self, max: usize) -> Result<usize, StoreError> {
        index::index_chunk(self.searcher()?, max)
    }

    /// The connection with the search index attached, opened (and the
    /// index made) at the first call.
    fn searcher(&mut self) -> Result<&Connection, StoreError> {
        if self.searcher.is_none() {
            let path = self.conn.path().unwrap_or_default().to_owned();
            self.searcher = Some(index::connect(Path::new(&path))?);
        }
        Ok(self.searcher.as_ref().expect("opened above"))
    }

    /// After each commit of this connection.
    fn committed(&self) {
        if let Some(c) = &self.checkpoints {
            c.after_commit(&self.conn);
        }
    }

    /// Deletes the account `name` and what was only its own: its rooms and
    /// standing in them, its ignores, read markers and suspension, and the
    /// private messages kept for it (they had no other reader). What it
    /// said stays in the history of its rooms and conversations, under its
    /// name. Returns how many kept messages went with it. Not for a store a
    /// running hub holds: the hub keeps accounts in memory (`confab user
    /// del` takes the data dir's lock first).
    pub fn delete_account(&mut self, name: &NickKey) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM accounts WHERE name_key = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(id) = id else {
            return Err(StoreError::NoSuchAccount(name.as_str().to_owned()));
        };
        let kept: i64 = tx
            .query_row(
                "SELECT count(*) FROM pending WHERE account_id = ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(db)?;
        // The rest goes by the foreign keys' ON DELETE CASCADE.
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(usize::try_from(kept).unwrap_or(0))
    }

    /// Writes a consistent copy of the database to `dest` while the store
    /// stays open (`VACUUM INTO`: a compacted snapshot as of one moment),
    /// and syncs it to disk. Refuses to overwrite an existing file.
    pub fn backup_to(&mut self, dest: &Path) -> Result<(), StoreError> {
        let other = |what: &str| StoreError::Other(format!("backup to {}: {what}", dest.display()));
        match dest.try_exists() {
            Ok(false) => {}
            Ok(true) => return Err(other("the file already exists; choose a new name")),
            Err(e) => return Err(other(&e.to_string())),
        }
        let dest_str = dest
            .to_str()
            .ok_or_else(|| other("the path is not valid UTF-8"))?;
        if let Err(e) = self.conn.execute("VACUUM INTO ?1", [dest_str]) {
            // Do not leave a partial copy that looks like a backup. (If
            // another process created `dest` in the meantime, SQLite refused
            // to touch it and reports so; leave that file alone.)
            let msg = e.to_string();
            if !msg.contains("already exists") {
                let _ = std::fs::remove_file(dest);
            }
            return Err(match db(e) {
                StoreError::DiskFull => StoreError::DiskFull,
                _ => other(&msg),
            });
        }
        // SQLite does not sync the output of VACUUM INTO.
        sync_file_and_dir(dest).map_err(|e| other(&e.to_string()))
    }

    /// The SQLite connection, for tests that need to reach behind the API.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The connection with the search index attached, for tests.
    #[cfg(test)]
    pub(crate) fn search_conn(&mut self) -> &Connection {
        self.searcher().expect("the search index opens")
    }
}

fn sync_file_and_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Runs a message query on `conn` and collects the rows in the order it
/// returns them.
fn messages_in_order(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Message>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(rows::message(row)?);
    }
    Ok(out)
}

/// Runs a message query on `conn` that reads newest first (to apply its
/// limit) and collects the rows oldest first.
fn messages_oldest_first(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Message>, StoreError> {
    let mut out = messages_in_order(conn, sql, params)?;
    out.reverse();
    Ok(out)
}

/// Runs one statement (cached, so each is compiled once per connection).
fn exec(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Plans made once per statement. SQLite prepares a statement again
/// whenever a value its planner looked at is bound anew, and it looks at a
/// bound `LIMIT ?` (to use it as a constant): every page of history and
/// every chunk the search indexer took was parsed again (5.5% of the
/// indexer's time). Its query planner stability guarantee plans without
/// bound values; confab's queries need none (no `LIKE`, no statistics).
pub(crate) fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

/// A transaction begun on the connection: rolled back when dropped unless
/// it committed (an op failed, COMMIT did on a deferred foreign key, or a
/// panic), so that the next one starts clean.
struct Open<'a>(&'a Connection);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

/// Applies one op inside the commit's transaction.
fn apply(tx: &Connection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Message(m) => {
            let id = rows::msg_id(m.id)?;
            let (target_kind, target_name, target_key) = rows::target_columns(&m.to);
            exec(
                tx,
                "INSERT INTO messages (id, time_ms, from_nick, from_key, kind, target_kind, \
                 target_name, target_key, text, tags) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    id,
                    m.time.0,
                    m.from.as_str(),
                    m.from.key().as_str(),
                    rows::kind_str(m.kind),
                    target_kind,
                    target_name,
                    target_key,
                    m.text.as_str(),
                    (!m.tags.is_empty()).then(|| m.tags.encode()),
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Other(format!("message {} is already stored", m.id.0))
                } else {
                    db(e)
                }
            })?;
        }
        Op::Pending { to, msg } => {
            let msg = rows::msg_id(*msg)?;
            let (table, column, key) = kept_where(to);
            let sql = format!(
                "INSERT INTO {table} ({column}, msg_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
            );
            exec(tx, &sql, params![key, msg]).map_err(db)?;
        }
        Op::Delivered { to, upto } => {
            let upto = rows::msg_id(*upto)?;
            let (table, column, key) = kept_where(to);
            let sql = format!("DELETE FROM {table} WHERE {column} = ?1 AND msg_id <= ?2");
            exec(tx, &sql, params![key, upto]).map_err(db)?;
        }
        Op::MoveKept { from, to } => {
            let (from_table, from_column, from_key) = kept_where(from);
            let (to_table, to_column, to_key) = kept_where(to);
            let copy = format!(
                "INSERT INTO {to_table} ({to_column}, msg_id) \
                 SELECT ?2, msg_id FROM {from_table} WHERE {from_column} = ?1 AND true \
                 ON CONFLICT DO NOTHING"
            );
            exec(tx, &copy, params![from_key, to_key]).map_err(db)?;
            let delete = format!("DELETE FROM {from_table} WHERE {from_column} = ?1");
            exec(tx, &delete, [from_key]).map_err(db)?;
        }
        Op::Topic { room, topic: None } => {
            exec(
                tx,
                "DELETE FROM topics WHERE room_key = ?1",
                [room.key().as_str()],
            )
            .map_err(db)?;
        }
        Op::Topic {
            room,
            topic: Some(t),
        } => {
            exec(
                tx,
                "INSERT INTO topics (room_key, room_name, text, set_by, time_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (room_key) DO UPDATE SET room_name = excluded.room_name, \
                 text = excluded.text, set_by = excluded.set_by, time_ms = excluded.time_ms",
                params![
                    room.key().as_str(),
                    room.as_str(),
                    t.text.as_str(),
                    t.by.as_str(),
                    t.time.0,
                ],
            )
            .map_err(db)?;
        }
        Op::Join { account, room } => {
            // `WHERE true` lets the parser tell ON CONFLICT from a join.
            exec(
                tx,
                "INSERT INTO memberships (account_id, room_key, room_name, position) \
                 SELECT ?1, ?2, ?3, coalesce(max(position), 0) + 1 \
                 FROM memberships WHERE account_id = ?1 AND true \
                 ON CONFLICT (account_id, room_key) DO NOTHING",
                params![account.0, room.key().as_str(), room.as_str()],
            )
            .map_err(db)?;
        }
        Op::Part { account, room } => {
            exec(
                tx,
                "DELETE FROM memberships WHERE account_id = ?1 AND room_key = ?2",
                params![account.0, room.as_str()],
            )
            .map_err(db)?;
        }
        Op::Ignore { account, nick } => {
            exec(
                tx,
                "INSERT INTO ignores (account_id, nick_key) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                params![account.0, nick.as_str()],
            )
            .map_err(db)?;
        }
        Op::Unignore { account, nick } => {
            exec(
                tx,
                "DELETE FROM ignores WHERE account_id = ?1 AND nick_key = ?2",
                params![account.0, nick.as_str()],
            )
            .map_err(db)?;
        }
        Op::LastSeen { account, time } => {
            let changed = exec(
                tx,
                "UPDATE accounts SET last_seen_ms = ?2 WHERE id = ?1",
                params![account.0, time.0],
            )
            .map_err(db)?;
            if changed == 0 {
                return Err(StoreError::Other(format!(
                    "there is no account with id {}",
                    account.0
                )));
            }
        }
        Op::Status {
            account,
            room,
            status,
        } => {
            if *status == Status::default() {
                exec(
                    tx,
                    "DELETE FROM room_statuses WHERE account_id = ?1 AND room_key = ?2",
                    params![account.0, room.as_str()],
                )
                .map_err(db)?;
            } else {
                // The membership may come later in the batch: the foreign
                // key is checked at COMMIT.
                exec(
                    tx,
                    "INSERT INTO room_statuses (account_id, room_key, op, voice) \
                     VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (account_id, room_key) DO UPDATE SET op = excluded.op, \
                     voice = excluded.voice",
                    params![account.0, room.as_str(), status.op, status.voice],
                )
                .map_err(db)?;
            }
        }
        Op::Settings(settings) => {
            let key = settings.name.key();
            let m = &settings.modes;
            exec(
                tx,
                "INSERT INTO room_settings (room_key, room_name, topic_ops_only, no_external, \
                 moderated, invite_only, secret, join_key, member_limit) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (room_key) DO UPDATE SET room_name = excluded.room_name, \
                 topic_ops_only = excluded.topic_ops_only, no_external = excluded.no_external, \
                 moderated = excluded.moderated, invite_only = excluded.invite_only, \
                 secret = excluded.secret, join_key = excluded.join_key, \
                 member_limit = excluded.member_limit",
                params![
                    key.as_str(),
                    settings.name.as_str(),
                    m.topic_ops_only,
                    m.no_external,
                    m.moderated,
                    m.invite_only,
                    m.secret,
                    m.key.as_deref(),
                    // A limit beyond what SQLite holds is stored as the
                    // largest it does: no room gets near either, and a
                    // batch must not fail over a user's MODE +l.
                    m.limit.map(rows::limit),
                ],
            )
            .map_err(db)?;
            exec(
                tx,
                "DELETE FROM room_bans WHERE room_key = ?1",
                [key.as_str()],
            )
            .map_err(db)?;
            for (position, ban) in settings.bans.iter().enumerate() {
                exec(
                    tx,
                    "INSERT INTO room_bans (room_key, position, mask, set_by, time_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.as_str(),
                        rows::limit(position),
                        ban.mask.as_str(),
                        ban.by.as_str(),
                        ban.time.0,
                    ],
                )
                .map_err(db)?;
            }
        }
        Op::Kline(k) => {
            exec(
                tx,
                "INSERT INTO klines (mask, reason, set_by, set_ms, expires_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (mask) DO UPDATE SET reason = excluded.reason, \
                 set_by = excluded.set_by, set_ms = excluded.set_ms, \
                 expires_ms = excluded.expires_ms",
                params![
                    k.mask.to_string(),
                    k.reason,
                    k.by,
                    k.set.0,
                    k.expires.map(|t| t.0)
                ],
            )
            .map_err(db)?;
        }
        Op::Suspension {
            account,
            reason,
            by,
        } => match reason {
            Some(reason) => {
                exec(
                    tx,
                    "INSERT INTO suspensions (account_id, reason, set_by) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (account_id) DO UPDATE SET reason = excluded.reason, \
                     set_by = excluded.set_by",
                    params![account.0, reason, by],
                )
                .map_err(db)?;
            }
            None => {
                exec(
                    tx,
                    "DELETE FROM suspensions WHERE account_id = ?1",
                    [account.0],
                )
                .map_err(db)?;
            }
        },
        Op::Lockdown(on) => {
            let sql = if *on {
                "INSERT OR IGNORE INTO server_flags (name) VALUES ('lockdown')"
            } else {
                "DELETE FROM server_flags WHERE name = 'lockdown'"
            };
            exec(tx, sql, []).map_err(db)?;
        }
        Op::Unkline(mask) => {
            exec(tx, "DELETE FROM klines WHERE mask = ?1", [mask.to_string()]).map_err(db)?;
        }
        Op::ReadMarker {
            account,
            target,
            marker,
        } => {
            let (kind, name, key) = rows::target_columns(target);
            let msg = marker.msg.map(rows::msg_id).transpose()?;
            exec(
                tx,
                "INSERT INTO read_markers (account_id, target_kind, target_key, target_name, \
                 time_ms, msg_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (account_id, target_kind, target_key) DO UPDATE SET \
                 target_name = excluded.target_name, time_ms = excluded.time_ms, \
                 msg_id = excluded.msg_id",
                params![account.0, kind, key, name, marker.time.0, msg],
            )
            .map_err(db)?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Runs a message query and collects the rows in the order it returns
    /// them.
    fn messages_in_order(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Message>, StoreError> {
        messages_in_order(&self.conn, sql, params)
    }

    /// Runs a message query that reads newest first (to apply its limit)
    /// and collects the rows oldest first.
    fn messages(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Message>, StoreError> {
        messages_oldest_first(&self.conn, sql, params)
    }
}

/// Runs `sql` (no parameters) in `tx` and hands each row to `f`.
fn each_row(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query([]).map_err(db)?;
    while let Some(row) = rows.next().map_err(db)? {
        f(row)?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        // One read transaction, so the parts agree with each other.
        let tx = self.conn.transaction().map_err(db)?;
        let mut accounts = Vec::new();
        let mut index = HashMap::new();
        let accounts_sql = concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts ORDER BY name_key"
        );
        each_row(&tx, accounts_sql, |row| {
            let account = rows::account(row)?;
            index.insert(account.id, accounts.len());
            accounts.push(AccountState {
                account,
                rooms: Vec::new(),
                statuses: Vec::new(),
                ignores: Vec::new(),
                markers: Vec::new(),
                kept: 0,
            });
            Ok(())
        })?;
        // Rows of accounts' state name their account by id.
        let at_id = |row: &rusqlite::Row<'_>| -> Result<usize, StoreError> {
            Ok(index[&AccountId(row.get(0).map_err(db)?)])
        };
        each_row(
            &tx,
            "SELECT account_id, room_name FROM memberships ORDER BY account_id, position",
            |row| {
                let room: String = row.get(1).map_err(db)?;
                accounts[at_id(row)?].rooms.push(rows::room(&room)?);
                Ok(())
            },
        )?;
        each_row(
            &tx,
            "SELECT account_id, nick_key FROM ignores ORDER BY account_id, nick_key",
            |row| {
                let nick: String = row.get(1).map_err(db)?;
                accounts[at_id(row)?].ignores.push(rows::nick_key(&nick)?);
                Ok(())
            },
        )?;
        // In the join order of the rooms.
        each_row(
            &tx,
            "SELECT s.account_id, s.room_key, s.op, s.voice FROM room_statuses s \
             JOIN memberships m USING (account_id, room_key) \
             ORDER BY s.account_id, m.position",
            |row| {
                let room: String = row.get(1).map_err(db)?;
                let status = Status {
                    op: row.get(2).map_err(db)?,
                    voice: row.get(3).map_err(db)?,
                };
                accounts[at_id(row)?]
                    .statuses
                    .push((rows::room_key(&room)?, status));
                Ok(())
            },
        )?;
        each_row(
            &tx,
            "SELECT account_id, target_kind, target_name, time_ms, msg_id FROM read_markers \
             ORDER BY account_id, target_kind, target_key",
            |row| {
                let kind: String = row.get(1).map_err(db)?;
                let name: String = row.get(2).map_err(db)?;
                let msg: Option<i64> = row.get(4).map_err(db)?;
                let marker = Marker {
                    time: Timestamp(row.get(3).map_err(db)?),
                    msg: msg.map(rows::stored_msg_id).transpose()?,
                };
                let target = rows::target(&kind, &name)?;
                accounts[at_id(row)?].markers.push((target, marker));
                Ok(())
            },
        )?;
        each_row(
            &tx,
            "SELECT account_id, count(*) FROM pending GROUP BY account_id ORDER BY account_id",
            |row| {
                let n: i64 = row.get(1).map_err(db)?;
                accounts[at_id(row)?].kept = usize::try_from(n).unwrap_or(0);
                Ok(())
            },
        )?;
        let mut guests = Vec::new();
        each_row(
            &tx,
            "SELECT count(*), min(m.time_ms), \
             (SELECT m2.target_name FROM guest_pending g2 JOIN messages m2 ON m2.id = g2.msg_id \
              WHERE g2.guest_key = g.guest_key ORDER BY g2.msg_id DESC LIMIT 1) \
             FROM guest_pending g JOIN messages m ON m.id = g.msg_id \
             GROUP BY g.guest_key ORDER BY g.guest_key",
            |row| {
                let n: i64 = row.get(0).map_err(db)?;
                let name: String = row.get(2).map_err(db)?;
                guests.push(KeptGuest {
                    nick: rows::nick(&name)?,
                    kept: usize::try_from(n).unwrap_or(0),
                    since: Timestamp(row.get(1).map_err(db)?),
                });
                Ok(())
            },
        )?;
        let mut rooms = Vec::new();
        let mut room_index = HashMap::new();
        each_row(
            &tx,
            "SELECT room_key, room_name, topic_ops_only, no_external, moderated, \
             invite_only, secret, join_key, member_limit FROM room_settings \
             ORDER BY room_key",
            |row| {
                let key: String = row.get(0).map_err(db)?;
                let name: String = row.get(1).map_err(db)?;
                let limit: Option<i64> = row.get(8).map_err(db)?;
                let limit = limit
                    .map(|n| {
                        usize::try_from(n)
                            .map_err(|_| corrupt("room limit", &n.to_string(), "out of range"))
                    })
                    .transpose()?;
                room_index.insert(key, rooms.len());
                rooms.push(RoomSettings {
                    name: rows::room(&name)?,
                    modes: RoomModes {
                        topic_ops_only: row.get(2).map_err(db)?,
                        no_external: row.get(3).map_err(db)?,
                        moderated: row.get(4).map_err(db)?,
                        invite_only: row.get(5).map_err(db)?,
                        secret: row.get(6).map_err(db)?,
                        key: row.get(7).map_err(db)?,
                        limit,
                    },
                    bans: Vec::new(),
                });
                Ok(())
            },
        )?;
        each_row(
            &tx,
            "SELECT room_key, mask, set_by, time_ms FROM room_bans ORDER BY room_key, position",
            |row| {
                let key: String = row.get(0).map_err(db)?;
                let by: String = row.get(2).map_err(db)?;
                let Some(&i) = room_index.get(&key) else {
                    return Err(corrupt("ban list", &key, "its room has no settings"));
                };
                rooms[i].bans.push(Ban {
                    mask: row.get(1).map_err(db)?,
                    by: rows::nick(&by)?,
                    time: Timestamp(row.get(3).map_err(db)?),
                });
                Ok(())
            },
        )?;
        let mut klines = Vec::new();
        each_row(
            &tx,
            "SELECT mask, reason, set_by, set_ms, expires_ms FROM klines ORDER BY set_ms, mask",
            |row| {
                let mask: String = row.get(0).map_err(db)?;
                let expires: Option<i64> = row.get(4).map_err(db)?;
                klines.push(Kline {
                    mask: KlineMask::parse(&mask)
                        .map_err(|_| corrupt("K-line", &mask, "not a mask"))?,
                    reason: row.get(1).map_err(db)?,
                    by: row.get(2).map_err(db)?,
                    set: Timestamp(row.get(3).map_err(db)?),
                    expires: expires.map(Timestamp),
                });
                Ok(())
            },
        )?;
        let mut suspensions = Vec::new();
        each_row(
            &tx,
            "SELECT account_id, reason FROM suspensions ORDER BY account_id",
            |row| {
                suspensions.push((AccountId(row.get(0).map_err(db)?), row.get(1).map_err(db)?));
                Ok(())
            },
        )?;
        let lockdown: i64 = tx
            .prepare_cached("SELECT count(*) FROM server_flags WHERE name = 'lockdown'")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)?;
        let max: i64 = tx
            .prepare_cached("SELECT coalesce(max(id), 0) FROM messages")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(db)?;
        tx.finish().map_err(db)?;
        let max = u64::try_from(max)
            .map_err(|_| StoreError::Corrupt(format!("a message has the negative id {max}")))?;
        Ok(Snapshot {
            accounts,
            next_msg_id: max + 1,
            rooms,
            guests,
            klines,
            suspensions,
            lockdown: lockdown > 0,
        })
    }

    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        // IMMEDIATE: take the write lock now (waiting up to the busy
        // timeout), not at the first write, where a lock conflict could no
        // longer be waited out. BEGIN and COMMIT are cached statements,
        // parsed once rather than for every batch (3% of the store
        // thread's time).
        exec(&self.conn, "BEGIN IMMEDIATE", []).map_err(db)?;
        let open = Open(&self.conn);
        for op in ops {
            apply(open.0, op)?;
        }
        exec(open.0, "COMMIT", []).map_err(db)?;
        drop(open);
        self.committed();
        if let Some(indexer) = &self.indexer {
            indexer.stored(ops.iter().filter(|o| matches!(o, Op::Message(_))).count());
        }
        Ok(())
    }

    fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                account_columns!(),
                " FROM accounts WHERE name_key = ?1"
            ))
            .map_err(db)?;
        let mut rows = stmt.query([name.as_str()]).map_err(db)?;
        match rows.next().map_err(db)? {
            Some(row) => rows::account(row).map(Some),
            None => Ok(None),
        }
    }

    fn create_account(
        &mut self,
        name: &Nick,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Account, StoreError> {
        let id = self
            .conn
            .prepare_cached(
                "INSERT INTO accounts (name, name_key, password_hash, created_ms, last_seen_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![name.as_str(), name.key().as_str(), password_hash, now.0],
                    |r| r.get(0),
                )
            })
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::NameTaken(name.clone())
                } else {
                    db(e)
                }
            })?;
        Ok(Account {
            id: AccountId(id),
            name: name.clone(),
            password_hash: password_hash.to_owned(),
            created: now,
            last_seen: now,
            tokens_after: Timestamp(0),
        })
    }

    fn set_password(
        &mut self,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE accounts SET password_hash = ?2, \
                 tokens_after_ms = max(tokens_after_ms, ?3) WHERE name_key = ?1",
            )
            .and_then(|mut s| s.execute(params![name.as_str(), password_hash, now.0]))
            .map_err(db)?;
        if changed == 0 {
            return Err(StoreError::NoSuchAccount(name.as_str().to_owned()));
        }
        Ok(())
    }

    fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE accounts SET tokens_after_ms = max(tokens_after_ms, ?2) \
                 WHERE name_key = ?1",
            )
            .and_then(|mut s| s.execute(params![name.as_str(), before.0]))
            .map_err(db)?;
        if changed == 0 {
            return Err(StoreError::NoSuchAccount(name.as_str().to_owned()));
        }
        Ok(())
    }

    fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO revoked_tokens (id, expires_ms) VALUES (?1, ?2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![id, expires.0]))
            .map_err(db)?;
        Ok(())
    }

    fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.conn
            .prepare_cached("DELETE FROM revoked_tokens WHERE expires_ms <= ?1")
            .and_then(|mut s| s.execute([now.0]))
            .map_err(db)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM revoked_tokens")
            .map_err(db)?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(db)?;
        Ok(ids)
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                account_columns!(),
                " FROM accounts ORDER BY name_key"
            ))
            .map_err(db)?;
        let mut rows = stmt.query([]).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            out.push(rows::account(row)?);
        }
        Ok(out)
    }

    fn topic(&mut self, room: &RoomKey) -> Result<Option<Topic>, StoreError> {
        let row: Option<(String, String, i64)> = self
            .conn
            .prepare_cached("SELECT text, set_by, time_ms FROM topics WHERE room_key = ?1")
            .and_then(|mut s| {
                s.query_row([room.as_str()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(db)?;
        row.map(|(text, by, time)| {
            Ok(Topic {
                text: rows::text(&text)?,
                by: rows::nick(&by)?,
                time: Timestamp(time),
            })
        })
        .transpose()
    }

    fn history(
        &mut self,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let Some(w) = rows::window(query.after, query.before) else {
            return Ok(Vec::new());
        };
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let limit = rows::limit(query.limit);
        // The latest of the window read newest first, the earliest oldest
        // first; either way the result is oldest first.
        let read = if query.latest {
            Self::messages
        } else {
            Self::messages_in_order
        };
        match conversation {
            Conversation::Room(room) => {
                let sql = if query.latest {
                    HISTORY_ROOM_LATEST
                } else {
                    HISTORY_ROOM_EARLIEST
                };
                read(
                    self,
                    sql,
                    params![room.as_str(), w.id_lo, w.id_hi, w.time_lo, w.time_hi, limit],
                )
            }
            Conversation::Private(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let sql = if query.latest {
                    HISTORY_PRIVATE_LATEST
                } else {
                    HISTORY_PRIVATE_EARLIEST
                };
                read(
                    self,
                    sql,
                    params![
                        lo.as_str(),
                        hi.as_str(),
                        w.id_lo,
                        w.id_hi,
                        w.time_lo,
                        w.time_hi,
                        limit
                    ],
                )
            }
        }
    }

    fn conversations(
        &mut self,
        who: &Visibility,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Conversation, Timestamp, Option<Nick>)>, StoreError> {
        // Nothing lies strictly between `after` and `before`.
        if limit == 0 || after.0.checked_add(1).is_none_or(|lo| lo >= before.0) {
            return Ok(Vec::new());
        }
        if who.rooms.is_empty() && who.private.is_none() {
            return Ok(Vec::new());
        }
        let rooms = json_strings(who.rooms.iter().map(RoomKey::as_str));
        let private = who.private.as_ref().map(NickKey::as_str);
        let mut stmt = self.conn.prepare_cached(CONVERSATIONS).map_err(db)?;
        let mut rows = stmt
            .query(params![
                rooms,
                private,
                after.0,
                before.0,
                rows::limit(limit),
                who.private_since.0
            ])
            .map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            let kind: String = row.get(0).map_err(db)?;
            let other: String = row.get(1).map_err(db)?;
            let time: i64 = row.get(2).map_err(db)?;
            let name: Option<String> = row.get(3).map_err(db)?;
            let conversation = match (kind.as_str(), &who.private) {
                ("room", _) => Conversation::Room(rows::room_key(&other)?),
                ("user", Some(me)) => Conversation::Private(me.clone(), rows::nick_key(&other)?),
                _ => return Err(StoreError::Other(format!("unexpected conversation {kind}"))),
            };
            let name = name.map(|n| rows::nick(&n)).transpose()?;
            out.push((conversation, Timestamp(time), name));
        }
        Ok(out)
    }

    fn search(
        &mut self,
        who: &Visibility,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let matcher = fts_query(query)?;
        if limit == 0 || (who.rooms.is_empty() && who.private.is_none()) {
            return Ok(Vec::new());
        }
        let rooms = json_strings(who.rooms.iter().map(RoomKey::as_str));
        let private = who.private.as_ref().map(NickKey::as_str);
        // Every message committed before the search is found (unless the
        // index is being made anew: then those indexed so far).
        let conn = self.searcher()?;
        index::catch_up(conn)?;
        // The full-text index yields matches newest first; each is checked
        // against what `who` may see until `limit` are found.
        let since = who.private_since.0;
        messages_oldest_first(
            conn,
            SEARCH,
            params![matcher, rooms, private, rows::limit(limit), since],
        )
        .map_err(|e| match e {
            // Quoting makes every query valid FTS5; should one still be
            // refused, say so in the user's terms.
            StoreError::Other(msg) if msg.contains("fts5") => StoreError::BadQuery(msg),
            other => other,
        })
    }

    fn since(
        &mut self,
        who: &Visibility,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 || (who.rooms.is_empty() && who.private.is_none()) {
            return Ok(Vec::new());
        }
        let rooms = json_strings(who.rooms.iter().map(RoomKey::as_str));
        let private = who.private.as_ref().map(NickKey::as_str);
        let after = i64::try_from(after.0).unwrap_or(i64::MAX);
        let since = who.private_since.0;
        self.messages_in_order(
            SINCE,
            params![after, rooms, private, rows::limit(limit), since],
        )
    }

    fn pending(&mut self, to: &KeptFor, limit: usize) -> Result<Vec<Message>, StoreError> {
        let limit = rows::limit(limit);
        match to {
            KeptFor::Account(id) => self.messages_in_order(PENDING, params![id.0, limit]),
            KeptFor::Guest(key) => {
                self.messages_in_order(GUEST_PENDING, params![key.as_str(), limit])
            }
        }
    }
}
