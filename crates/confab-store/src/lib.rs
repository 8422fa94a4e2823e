//! confab's embedded storage: [`confab_core::store::Store`] on one SQLite
//! file ([`SqliteStore`]).
//!
//! # Design
//!
//! - **A [`SqliteStore`] is one connection, used from one thread at a
//!   time**: no pool and no locking here. The server holds several (the
//!   writer on its store thread, one for account lookups, a read pool);
//!   other processes (the CLI) may open the same file at the same time.
//!   The database runs in WAL mode (readers never block the writer) with
//!   a 5 s busy timeout for the moments two writers meet.
//! - **Group commit.** [`Store::commit`](confab_core::store::Store::commit)
//!   applies a whole batch of [`Op`](confab_core::store::Op)s in one
//!   `BEGIN IMMEDIATE` transaction, so the cost of syncing to disk is paid
//!   once per batch, not once per message. With
//!   [`Synchronous::Full`] (the default) a commit is on disk when it
//!   returns; [`Synchronous::Normal`] trades the last commits before a
//!   power cut for speed. Every statement is prepared once and cached.
//! - **Checkpoints beside the commits.** SQLite would copy a long WAL
//!   into the database file inside the commit that made it long, and the
//!   commits behind it would wait. The server's writing connection calls
//!   [`SqliteStore::checkpoint_in_background`]: a thread of its own, on a
//!   connection of its own, checkpoints (PASSIVE) once 1,000 frames wait
//!   past what it last copied; the writer checkpoints by itself only past
//!   16,000, should the thread fall behind. Other connections (the CLI,
//!   tests) keep SQLite's own checkpoints.
//! - **All or nothing.** An op that fails (a duplicate message id, an
//!   unknown account) rolls back the whole batch. Foreign keys are
//!   deferred to the commit, so the ops of a batch may come in any order
//!   (a `Pending` before its `Message`).
//! - **Names keep their spelling, keys do the matching.** Every name is
//!   stored twice: as displayed (`Alice`, `#Rust`) and as its case-folded
//!   key ([`NickKey`](confab_core::NickKey),
//!   [`RoomKey`](confab_core::RoomKey)), which all lookups, uniqueness and
//!   indexes use. Names and texts were validated on the way in; reading
//!   them back parses them again without length limits, and a row that
//!   does not parse is reported as [`StoreError::Corrupt`].
//! - **The search index is a file of its own** (`confab.db.search` beside
//!   `confab.db`): FTS5 over the messages' text, fed in chunks by a thread
//!   of its own ([`SqliteStore::index_in_background`]), without syncing,
//!   and made anew from the messages whenever it is missing, damaged or
//!   not theirs. Its pages never go through the messages' WAL; a search
//!   indexes what waits first, so it finds every message committed
//!   before it.
//! - **Search never parses user input as FTS5 syntax.** Each word of a
//!   query becomes a quoted FTS5 string and the strings are AND-ed, so
//!   `"`, `*`, `(`, `NEAR` or `OR` are searched for, never interpreted.
//! - **Errors in the user's terms**: a full disk is [`StoreError::DiskFull`]
//!   wherever it happens; a file that is not a confab database is
//!   [`StoreError::Corrupt`]; a file from a newer confab is
//!   [`StoreError::TooNew`]; anything else is [`StoreError::Other`] with
//!   SQLite's message (naming the file when opening).
//!
//! # Schema (version 11)
//!
//! | table | columns | notes |
//! |---|---|---|
//! | `accounts` | `id` INTEGER PK, `name`, `name_key` UNIQUE, `password_hash`, `created_ms`, `last_seen_ms`, `tokens_after_ms` | `name_key` is [`Nick::key`](confab_core::Nick::key) (ASCII lowercase); login tokens issued before `tokens_after_ms` are void (v5) |
//! | `revoked_tokens` | `id` PK, `expires_ms` | login tokens voided one by one (logout), forgotten once expired (v5) |
//! | `messages` | `id` INTEGER PK, `time_ms`, `from_nick`, `from_key`, `kind` (`say`/`action`/`notice`), `target_kind` (`room`/`user`), `target_name`, `target_key`, `text` | `id` is the hub's [`MsgId`](confab_core::MsgId), never assigned by SQLite |
//! | `search_link` | one row: `key`, random | names this database to its search index (v11), which is in a file of its own: see `index.rs` |
//! | `search_changes` | `seq` PK, `msg_id` | ids of messages deleted or edited since the index last looked, queued by triggers (v11) |
//! | `pending` | (`account_id`, `msg_id`) PK | private messages kept for an offline account, until delivered (`Op::Delivered` removes them up to an id, as pages are taken) |
//! | `guest_pending` | (`guest_key`, `msg_id`) PK | the same for an offline guest name (v4), read by whoever next uses the name |
//! | `topics` | `room_key` PK, `room_name`, `text`, `set_by`, `time_ms` | a cleared topic is no row |
//! | `memberships` | (`account_id`, `room_key`) PK, `room_name`, `position` | rooms of an account, `position` in join order |
//! | `ignores` | (`account_id`, `nick_key`) PK | |
//! | `room_statuses` | (`account_id`, `room_key`) PK, `op`, `voice` (0/1) | standing in a room; only non-default ones (`CHECK (op = 1 OR voice = 1)`); belongs to the membership (foreign key on both columns), so a part removes it |
//! | `room_settings` | `room_key` PK, `room_name`, `topic_ops_only`, `no_external`, `moderated`, `invite_only`, `secret` (0/1), `join_key`, `member_limit` | a missing key or limit is NULL; a limit above `i64::MAX` is stored as `i64::MAX` |
//! | `room_bans` | (`room_key`, `position`) PK, `mask`, `set_by`, `time_ms` | a room's ban list in order; replaced whole with its settings |
//! | `klines` | `mask` PK, `reason`, `set_by`, `set_ms`, `expires_ms` | server-wide bans by canonical mask (v6); no expiry is NULL |
//! | `suspensions` | `account_id` PK, `reason`, `set_by` | accounts that may not log in (v7) |
//! | `server_flags` | `name` PK | server-wide switches, a row meaning on: `lockdown` (v7) |
//!
//! Indexes: `messages_room (target_key, id) WHERE target_kind = 'room'` for
//! room history; `messages_private (min(from_key, target_key),
//! max(from_key, target_key), id) WHERE target_kind = 'user'` for the
//! private conversation of an unordered pair of names; `pending_msg
//! (msg_id)` and `guest_pending_msg (msg_id)` for the foreign keys. All tables are `STRICT`; the child
//! tables reference `accounts` / `messages` / `memberships` /
//! `room_settings` with `ON DELETE CASCADE`, every foreign key deferred to
//! the commit (so a batch may set a standing before the join it needs).
//!
//! The next message id is one past the highest stored, so the table must
//! keep its newest message (a future retention policy deletes old ones
//! only).
//!
//! # Migrations
//!
//! The schema version is `PRAGMA user_version` ([`SCHEMA_VERSION`]); a
//! confab file also carries `PRAGMA application_id` `0x636f6e66`
//! ("conf"). Opening applies the missing migrations in one transaction. A
//! file with a higher version is refused ([`StoreError::TooNew`]) rather
//! than misread; a file of another program (another application id, or
//! tables but no version) is refused as [`StoreError::Corrupt`].
//!
//! [`StoreError::Corrupt`]: confab_core::store::StoreError::Corrupt
//! [`StoreError::DiskFull`]: confab_core::store::StoreError::DiskFull
//! [`StoreError::TooNew`]: confab_core::store::StoreError::TooNew
//! [`StoreError::Other`]: confab_core::store::StoreError::Other

mod checkpoint;
mod error;
mod index;
mod query;
mod rows;
mod schema;
mod sqlite;

pub use schema::SCHEMA_VERSION;
pub use sqlite::{BUSY_TIMEOUT, SqliteOptions, SqliteStore, Synchronous};

#[cfg(test)]
mod tests;
