//! [`Store`]: the storage interface the hub persists through.
//!
//! The hub owns the live state; the store keeps what must survive a
//! restart: accounts, messages (for history, search and offline delivery),
//! room topics, and the rooms, ignore lists and read markers of
//! registered users. The hub calls it synchronously from the one thread
//! that owns the hub, so an implementation needs no locking of its own.
//!
//! Writes come in batches: the hub collects the [`Op`]s of every command
//! in one batch of requests and hands them to [`Store::commit`], which must
//! apply all of them in one transaction and make them durable before it
//! returns (group commit). Only then does the hub deliver the batch's
//! events, so a message anyone has seen is on disk.
//!
//! SQLite is the embedded implementation (crate `confab-store`); a
//! PostgreSQL one can be added behind the same trait.

use crate::event::{Ban, Marker, Message, MsgId, RoomModes, Status, Target, Timestamp, Topic};
use crate::kline::{Kline, KlineMask};
use crate::names::{Nick, NickKey, RoomKey, RoomName};

/// A registered account's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// The account's name, which is also its nick. Unique, compared by
    /// [`NickKey`].
    pub name: Nick,
    /// The password hash in PHC string format (argon2id).
    pub password_hash: String,
    pub created: Timestamp,
    /// When the account was last connected (its creation if never).
    pub last_seen: Timestamp,
    /// Login tokens issued before this are void (a password change, "log
    /// out everywhere"); 0 for none.
    pub tokens_after: Timestamp,
}

/// What a registered account carries across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub account: Account,
    /// Rooms in join order.
    pub rooms: Vec<RoomName>,
    /// The account's standing in those of its rooms where it has one
    /// (operator, voice); rooms not listed mean no standing.
    pub statuses: Vec<(RoomKey, Status)>,
    pub ignores: Vec<NickKey>,
    /// Where the account stopped reading each conversation it marked.
    pub markers: Vec<(Target, Marker)>,
    /// How many private messages are kept for the account.
    pub kept: usize,
}

/// Whom private messages are kept for while they are offline: an
/// account, or a guest name (whoever next uses the name reads them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeptFor {
    Account(AccountId),
    Guest(NickKey),
}

/// A guest name that has private messages kept for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptGuest {
    /// The name as the latest message to it spells it.
    pub nick: Nick,
    /// How many messages are kept for it.
    pub kept: usize,
    /// When the oldest of them was sent (the guest was gone by then).
    pub since: Timestamp,
}

/// A room's modes and ban list, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    pub name: RoomName,
    pub modes: RoomModes,
    pub bans: Vec<Ban>,
}

/// Everything the hub loads at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts: Vec<AccountState>,
    /// The id the next message gets (one past the highest stored).
    pub next_msg_id: u64,
    /// Every stored room's settings.
    pub rooms: Vec<RoomSettings>,
    /// Guest names with messages kept for them, by name.
    pub guests: Vec<KeptGuest>,
    /// Server-wide bans, expired ones included (the hub skips them).
    pub klines: Vec<Kline>,
    /// Suspended accounts, with why.
    pub suspensions: Vec<(AccountId, String)>,
    /// Whether the server is in lockdown (no new guests or registrations).
    pub lockdown: bool,
}

/// One change to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A room or private message, to keep for history and search.
    Message(Message),
    /// Keep message `msg` for `to`, who is offline.
    Pending {
        to: KeptFor,
        msg: MsgId,
    },
    /// What was kept for `to` up to message `upto` (included) was
    /// delivered; later messages stay kept.
    Delivered {
        to: KeptFor,
        upto: MsgId,
    },
    /// What is kept for `from` is now kept for `to` (an account took over
    /// a guest name, a guest changed its name).
    MoveKept {
        from: KeptFor,
        to: KeptFor,
    },
    /// The topic of a room was set or cleared.
    Topic {
        room: RoomName,
        topic: Option<Topic>,
    },
    /// A registered account joined a room.
    Join {
        account: AccountId,
        room: RoomName,
    },
    /// A registered account left a room.
    Part {
        account: AccountId,
        room: RoomKey,
    },
    Ignore {
        account: AccountId,
        nick: NickKey,
    },
    Unignore {
        account: AccountId,
        nick: NickKey,
    },
    /// A registered account was last connected at `time`.
    LastSeen {
        account: AccountId,
        time: Timestamp,
    },
    /// A registered member's standing in a room changed (the account is
    /// a member: `Join` came first).
    Status {
        account: AccountId,
        room: RoomKey,
        status: Status,
    },
    /// A room's modes or bans changed, or the room was created anew:
    /// replaces what is stored for it.
    Settings(RoomSettings),
    /// A registered account's read marker of `target` moved (replaces
    /// what is stored for that conversation; the hub only moves it
    /// forward).
    ReadMarker {
        account: AccountId,
        target: Target,
        marker: Marker,
    },
    /// A server-wide ban was set (replaces one with the same mask).
    Kline(Kline),
    /// The server-wide ban with this mask was lifted (or lapsed).
    Unkline(KlineMask),
    /// The account was suspended (`Some(reason)`) or let back (`None`).
    Suspension {
        account: AccountId,
        reason: Option<String>,
        by: String,
    },
    /// Lockdown was turned on or off.
    Lockdown(bool),
}

/// Whose messages a history query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversation {
    Room(RoomKey),
    /// The private messages between two names, either way.
    Private(NickKey, NickKey),
}

/// A point in a conversation: a message id, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Id(MsgId),
    Time(Timestamp),
}

/// A window of a conversation's messages: those strictly after `after` and
/// strictly before `before` (unbounded where `None`); of them, the `limit`
/// latest when `latest`, else the `limit` earliest. Always returned oldest
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    pub after: Option<Bound>,
    pub before: Option<Bound>,
    pub limit: usize,
    pub latest: bool,
}

impl HistoryQuery {
    /// The `limit` latest messages before `before` (all if `None`).
    pub fn before(before: Option<MsgId>, limit: usize) -> HistoryQuery {
        HistoryQuery {
            after: None,
            before: before.map(Bound::Id),
            limit,
            latest: true,
        }
    }
}

/// What a search may see: messages in these rooms, and private messages
/// to or from this name (registered users only; `None` for guests) from
/// `private_since` on (older ones were a guest's who used the name before
/// the account existed). The store applies both before it counts to a
/// limit, so a page is never short for what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    pub rooms: Vec<RoomKey>,
    pub private: Option<NickKey>,
    pub private_since: Timestamp,
}

/// Why the store failed. The `Display` text may be shown to users and
/// operators, so it says what went wrong in their terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the name {0} is already registered")]
    NameTaken(Nick),
    #[error("there is no account called {0}")]
    NoSuchAccount(String),
    #[error("the search query is not valid: {0}")]
    BadQuery(String),
    #[error("the disk is full")]
    DiskFull,
    #[error(
        "the database was written by a newer confab (schema version {found}, this one knows up to {known}); upgrade confab"
    )]
    TooNew { found: i64, known: i64 },
    #[error("the database file is corrupt or not a confab database: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Other(String),
}

/// A commit begun with [`Store::begin_commit`].
pub trait Commit: Send {
    /// Its result once it is known; never waits.
    fn poll(&mut self) -> Option<Result<(), StoreError>>;

    /// Waits for its result.
    fn wait(self: Box<Self>) -> Result<(), StoreError>;
}

/// A commit already done.
struct Committed(Option<Result<(), StoreError>>);

impl Commit for Committed {
    fn poll(&mut self) -> Option<Result<(), StoreError>> {
        self.0.clone()
    }

    fn wait(self: Box<Self>) -> Result<(), StoreError> {
        self.0.unwrap_or(Ok(()))
    }
}

/// The storage interface. See the module docs for the contract.
pub trait Store: Send + 'static {
    /// The state to start from.
    fn load(&mut self) -> Result<Snapshot, StoreError>;

    /// Applies `ops` in one durable transaction: all or nothing.
    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError>;

    /// Starts committing `ops` as [`Store::commit`] does, in the
    /// background where the store can: the hub stages the next batch
    /// meanwhile. Whatever is asked of the store afterwards sees `ops`
    /// committed (or failed). A store that cannot commits now.
    fn begin_commit(&mut self, ops: Vec<Op>) -> Box<dyn Commit> {
        Box::new(Committed(Some(self.commit(&ops))))
    }

    /// The account called `name` (any case).
    fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError>;

    /// Registers `name`; [`StoreError::NameTaken`] if it exists.
    fn create_account(
        &mut self,
        name: &Nick,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Account, StoreError>;

    /// Replaces an account's password hash, and voids its login tokens
    /// issued before `now`.
    fn set_password(
        &mut self,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Voids `name`'s login tokens issued before `before`.
    fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError>;

    /// Voids the one token `id` (until it expires anyway, at `expires`).
    fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError>;

    /// The ids of the tokens voided one by one that have not expired by
    /// `now` (the expired are forgotten).
    fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError>;

    /// Every account, by name.
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError>;

    /// The stored topic of a room, if any.
    fn topic(&mut self, room: &RoomKey) -> Result<Option<Topic>, StoreError>;

    /// Messages of a conversation in the window of `query`, oldest first.
    fn history(
        &mut self,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError>;

    /// The conversations `who` took part in, each with the time of its
    /// latest message, for those whose latest message lies strictly between
    /// `after` and `before`; the `limit` earliest of them, by that time.
    /// A private one comes with the other party's name as that latest
    /// message spells it (its key is lowercase).
    fn conversations(
        &mut self,
        who: &Visibility,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Conversation, Timestamp, Option<Nick>)>, StoreError>;

    /// Up to `limit` messages matching the words of `query` that `who` may
    /// see, newest last: every message committed before it (an index
    /// being made anew may find only what it has indexed so far).
    fn search(
        &mut self,
        who: &Visibility,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// The messages `who` may see with ids after `after`, oldest first, at
    /// most `limit`.
    fn since(
        &mut self,
        who: &Visibility,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;

    /// The `limit` oldest messages kept for `to`, oldest first.
    fn pending(&mut self, to: &KeptFor, limit: usize) -> Result<Vec<Message>, StoreError>;
}
