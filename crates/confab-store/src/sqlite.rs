//! [`SqliteStore`]: opening, backup and the [`Store`] implementation.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use confab_core::store::{
    Account, AccountId, AccountState, Conversation, Op, Snapshot, Store, StoreError, Visibility,
};
use confab_core::{Message, MsgId, Nick, NickKey, RoomKey, Target, Timestamp, Topic};

use crate::error::{at, db, is_unique_violation};
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

/// The latest messages of a room below an id, newest first.
pub(crate) const HISTORY_ROOM: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.target_kind = 'room' AND m.target_key = ?1 \
     AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
);

/// The latest private messages between two keys (`?1` <= `?2`) below an
/// id, newest first. The WHERE terms repeat the expressions of the index
/// `messages_private` exactly, so the planner uses it.
pub(crate) const HISTORY_PRIVATE: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m WHERE m.target_kind = 'user' \
     AND min(m.from_key, m.target_key) = ?1 \
     AND max(m.from_key, m.target_key) = ?2 \
     AND m.id < ?3 ORDER BY m.id DESC LIMIT ?4"
);

/// The newest messages matching an FTS5 query (`?1`) in the rooms of a
/// JSON array of keys (`?2`) or private to or from a key (`?3`, NULL for
/// none). The full-text index yields matches newest first and each is
/// checked against the visibility until `?4` are found.
pub(crate) const SEARCH: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages_fts f JOIN messages m ON m.id = f.rowid \
     WHERE messages_fts MATCH ?1 AND ( \
       (m.target_kind = 'room' AND m.target_key IN (SELECT value FROM json_each(?2))) \
       OR (m.target_kind = 'user' AND (m.from_key = ?3 OR m.target_key = ?3)) \
     ) ORDER BY f.rowid DESC LIMIT ?4"
);

/// The messages kept for an account, newest first.
pub(crate) const PENDING: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM pending p JOIN messages m ON m.id = p.msg_id \
     WHERE p.account_id = ?1 ORDER BY p.msg_id DESC"
);

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
    conn: Connection,
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
        Ok(SqliteStore { conn })
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

/// Runs one statement (cached, so each is compiled once per connection).
fn exec(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Applies one op inside the commit's transaction.
fn apply(tx: &Connection, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Message(m) => {
            let id = rows::msg_id(m.id)?;
            let (target_kind, target_name, target_key) = match &m.to {
                Target::Room(r) => ("room", r.as_str(), r.key().as_str().to_owned()),
                Target::User(n) => ("user", n.as_str(), n.key().as_str().to_owned()),
            };
            exec(
                tx,
                "INSERT INTO messages (id, time_ms, from_nick, from_key, kind, target_kind, \
                 target_name, target_key, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
        Op::Pending { account, msg } => {
            let msg = rows::msg_id(*msg)?;
            exec(
                tx,
                "INSERT INTO pending (account_id, msg_id) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                params![account.0, msg],
            )
            .map_err(db)?;
        }
        Op::Delivered { account } => {
            exec(tx, "DELETE FROM pending WHERE account_id = ?1", [account.0]).map_err(db)?;
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
    }
    Ok(())
}

impl SqliteStore {
    /// Runs a message query and collects the rows, oldest first (the
    /// queries read newest first to apply their limit).
    fn messages(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Message>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db)?;
        let mut rows = stmt.query(params).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            out.push(rows::message(row)?);
        }
        out.reverse();
        Ok(out)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        // One read transaction, so the parts agree with each other.
        let tx = self.conn.transaction().map_err(db)?;
        let mut accounts = Vec::new();
        let mut index = HashMap::new();
        {
            let mut stmt = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM accounts ORDER BY name_key"
                ))
                .map_err(db)?;
            let mut rows = stmt.query([]).map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                let account = rows::account(row)?;
                index.insert(account.id, accounts.len());
                accounts.push(AccountState {
                    account,
                    rooms: Vec::new(),
                    ignores: Vec::new(),
                });
            }
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT account_id, room_name FROM memberships \
                     ORDER BY account_id, position",
                )
                .map_err(db)?;
            let mut rows = stmt.query([]).map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                let id = AccountId(row.get(0).map_err(db)?);
                let room: String = row.get(1).map_err(db)?;
                let i = index[&id];
                accounts[i].rooms.push(rows::room(&room)?);
            }
        }
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT account_id, nick_key FROM ignores ORDER BY account_id, nick_key",
                )
                .map_err(db)?;
            let mut rows = stmt.query([]).map_err(db)?;
            while let Some(row) = rows.next().map_err(db)? {
                let id = AccountId(row.get(0).map_err(db)?);
                let nick: String = row.get(1).map_err(db)?;
                let i = index[&id];
                accounts[i].ignores.push(rows::nick_key(&nick)?);
            }
        }
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
        })
    }

    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        // IMMEDIATE: take the write lock now (waiting up to the busy
        // timeout), not at the first write, where a lock conflict could no
        // longer be waited out.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        for op in ops {
            apply(&tx, op)?;
        }
        // Dropping `tx` on an error above, or after a failed COMMIT (a
        // deferred foreign key), rolls everything back.
        tx.commit().map_err(db)
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
        })
    }

    fn set_password(&mut self, name: &NickKey, password_hash: &str) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached("UPDATE accounts SET password_hash = ?2 WHERE name_key = ?1")
            .and_then(|mut s| s.execute(params![name.as_str(), password_hash]))
            .map_err(db)?;
        if changed == 0 {
            return Err(StoreError::NoSuchAccount(name.as_str().to_owned()));
        }
        Ok(())
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
        before: Option<MsgId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let before = rows::before_bound(before);
        let limit = rows::limit(limit);
        match conversation {
            Conversation::Room(room) => {
                self.messages(HISTORY_ROOM, params![room.as_str(), before, limit])
            }
            Conversation::Private(a, b) => {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                self.messages(
                    HISTORY_PRIVATE,
                    params![lo.as_str(), hi.as_str(), before, limit],
                )
            }
        }
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
        // The full-text index yields matches newest first; each is checked
        // against what `who` may see until `limit` are found.
        self.messages(SEARCH, params![matcher, rooms, private, rows::limit(limit)])
            .map_err(|e| match e {
                // Quoting makes every query valid FTS5; should one still be
                // refused, say so in the user's terms.
                StoreError::Other(msg) if msg.contains("fts5") => StoreError::BadQuery(msg),
                other => other,
            })
    }

    fn pending(&mut self, account: AccountId) -> Result<Vec<Message>, StoreError> {
        self.messages(PENDING, [account.0])
    }
}
