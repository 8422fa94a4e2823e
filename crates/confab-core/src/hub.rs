//! The hub: every chat rule, in one transport-agnostic state machine.
//!
//! The hub owns users, sessions, rooms, topics, ignore lists and the
//! messages kept for offline users. Doors feed it [`Command`]s for a
//! [`SessionId`] and it answers with [`Delivery`]s into each session's
//! [`Outbox`]. It never touches a socket, never reads the clock (`now` is
//! an argument) and never waits: a full outbox means the session is too
//! slow, and it is closed rather than waited for.
//!
//! A *user* is a name with its state (rooms, ignores, messages waiting); a
//! *session* is one connection of that user. A registered user (one with
//! an account) may have several sessions at once (several devices), keeps
//! its rooms while offline, and its state lives on in the [`Store`]. A
//! guest is a name taken for as long as it is connected.
//!
//! # Batches and durability
//!
//! Commands are *staged* ([`Hub::stage`]): their state changes apply at
//! once, while the changes to persist collect as [`Op`]s and the events as
//! staged deliveries. [`Hub::finish`] commits every op of the batch in one
//! store transaction (group commit) and only then hands the deliveries to
//! the outboxes, so a message that anyone received is on disk. If the
//! commit fails, the batch's messages are withheld and their senders told.
//! [`Hub::handle`] is a batch of one. A store that commits in the
//! background ([`Store::begin_commit`]) lets the caller stage the next
//! batch while one commits: its deliveries go out at
//! [`Hub::poll_commit`], and batches go out in order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use crate::command::{Command, OperCommand};
use crate::error::ChatError;
pub use crate::event::SessionId;
use crate::event::{
    Actor, Ban, Delivery, Departed, Envelope, Event, Marker, Member, Message, MsgId, MsgKind,
    Origin, RoomInfo, RoomModes, Status, Target, Timestamp, Topic, UserInfo,
};
use crate::input::{Field, InputError, InputLimits};
use crate::names::{Nick, NickKey, RoomKey, RoomName};
use crate::read::{Answer, Read, ReadQuery};
use crate::store::{
    Account, AccountId, Commit, Conversation, HistoryQuery, KeptFor, Op, RoomSettings, Store,
    StoreError, Visibility,
};
use crate::tags::ClientTags;
use crate::text::Text;

/// Where the hub puts a session's events. The door side drains it.
pub trait Outbox {
    /// Queues a delivery without waiting; `Err` when the queue is full.
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull>;
    /// Ends the session at once, whatever is queued, telling the door why.
    /// Called when the queue is full, so it must not rely on the queue.
    fn close(&self, reason: &str);
    /// The session's user is now `account` (or a guest): its door paces
    /// it by the account's flood bucket rather than its address's.
    fn account(&self, _account: Option<&NickKey>) {}
}

/// The outbox is full: the session does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A user's id in the hub (never 0: an `Option<UserId>` is 8 bytes).
type UserId = std::num::NonZeroU64;

/// The hub's rules that are configurable.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The room every new session joins, if any.
    pub default_room: Option<RoomName>,
    /// Private messages kept for one offline user, account or guest; a
    /// message beyond that is refused to its sender, never dropped.
    pub offline_queue: usize,
    /// Kept messages handed to a session at once: the next page waits
    /// until the door says its client took this one (`kept_taken`).
    pub offline_page: usize,
    /// Whether private messages to an offline guest name are kept for
    /// whoever next uses the name (else they are refused).
    pub keep_for_guests: bool,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: usize,
    /// Messages of history shown on joining a room (with a store).
    pub history_on_join: usize,
    /// Most messages one `/history` or search shows.
    pub max_history: usize,
    /// Whether unregistered names may chat.
    pub allow_guests: bool,
    /// The modes of a new room.
    pub default_modes: RoomModes,
    /// Most entries in one room's ban list.
    pub max_bans: usize,
    /// Departed users remembered for WHOWAS.
    pub whowas: usize,
    /// Whether history, search and resume are handed to the session as
    /// [`Event::Read`] for the server to run off the hub thread, rather
    /// than read here (see [`crate::read`]).
    pub offload_reads: bool,
    /// The longest key, ban mask, topic, away message, real name and
    /// reason (`input`).
    pub input: InputLimits,
    /// Names reserved besides `names::RESERVED_NICKS` (the network's
    /// name, `chat.reserved_names`): nobody takes them as a nick.
    pub reserved: Vec<NickKey>,
}

/// The longest ident (IRC's user name) the hub takes from a door.
const IDENT_LEN: usize = 16;

/// What a door knows of a new session's client.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// IRC's user name; the nick when `None`. (The texts are shared with
    /// the user the session attaches to, not copied.)
    pub ident: Option<Arc<str>>,
    /// Where it connects from, as shown to others: a cloak of the
    /// address (the server computes it), never the address itself.
    pub host: Arc<str>,
    /// The real address, kept with the user and shown to nobody (for
    /// server operators to come); `None` when the door knows none.
    pub addr: Option<IpAddr>,
    /// IRC's real name; the nick when `None`.
    pub realname: Option<Arc<str>>,
    /// Whether logging in with no rooms joins the default room (what a
    /// human on a line door expects; IRC clients choose their channels).
    pub auto_join: bool,
    /// Which door the session came by, in the server's numbering, for its
    /// counts per door ([`Hub::session_door`]); the hub does not look at
    /// it. (A byte where `ClientInfo` had padding: the server keeps no
    /// table of its own beside the hub's.)
    pub door: u8,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo {
            ident: None,
            host: "localhost".into(),
            addr: None,
            realname: None,
            auto_join: true,
            door: 0,
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            default_room: Some(RoomName::parse("#general", 50).expect("valid")),
            offline_queue: 1000,
            offline_page: 50,
            keep_for_guests: true,
            max_rooms_per_user: 50,
            history_on_join: 20,
            max_history: 200,
            allow_guests: true,
            default_modes: RoomModes {
                topic_ops_only: true,
                no_external: true,
                ..RoomModes::default()
            },
            max_bans: 100,
            whowas: 100,
            offload_reads: false,
            input: InputLimits::default(),
            reserved: Vec::new(),
        }
    }
}

/// What the hub did that an audit log records: messages sent and commands
/// refused. Taken with [`Hub::take_journal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Journal {
    Message(Message),
    Refused {
        sid: SessionId,
        error: ChatError,
    },
    /// A session ended, for whatever reason (quit, flood, too slow, the
    /// connection closed, shutdown).
    Left {
        sid: SessionId,
        nick: Option<Nick>,
        reason: String,
    },
    /// A server operator's action (or the REST admin's: `by` is
    /// `"admin"`), for the audit trail: `action` is its name (`oper`,
    /// `kill`, `wallops`, ...), `detail` what it was about.
    Oper {
        by: String,
        action: &'static str,
        detail: String,
    },
}

struct Session<O> {
    /// Where its events go; none for a caller with no session of its own
    /// ([`Hub::call`]), whose replies are collected instead.
    outbox: Option<O>,
    info: ClientInfo,
    user: Option<UserId>,
    /// The current room: the last joined one that the user is still in.
    room: Option<RoomKey>,
    /// What few sessions have (see [`SessionRare`]); none while empty.
    rare: Option<Box<SessionRare>>,
}

/// The parts of a [`Session`] that most sessions leave empty, boxed apart:
/// as fields they would put every session over mimalloc's 128-byte class.
#[derive(Default)]
struct SessionRare {
    /// The private conversation started with `/start`, which takes
    /// precedence over the room while set: the user, and its name when
    /// started (still the target should a guest leave and be forgotten).
    private: Option<(UserId, Nick)>,
    /// The oper name this session is a server operator under (`OPER`),
    /// if it is one. Per session: another device of the same account is
    /// not an operator until it says so too.
    oper: Option<Arc<str>>,
}

/// A message as sent, before the hub gives it an id and a target.
struct Draft {
    kind: MsgKind,
    text: Text,
    tags: ClientTags,
}

impl SessionRare {
    fn is_empty(&self) -> bool {
        self.private.is_none() && self.oper.is_none()
    }
}

impl<O> Session<O> {
    fn private(&self) -> Option<&(UserId, Nick)> {
        self.rare.as_ref().and_then(|r| r.private.as_ref())
    }

    fn is_oper(&self) -> bool {
        self.rare.as_ref().is_some_and(|r| r.oper.is_some())
    }

    /// Changes the rare parts, boxed while any is set. (No box is made
    /// to clear what is not set: a join clears the conversation.)
    fn set_rare(&mut self, change: impl FnOnce(&mut SessionRare)) {
        match &mut self.rare {
            Some(rare) => {
                change(rare);
                if rare.is_empty() {
                    self.rare = None;
                }
            }
            None => {
                let mut rare = SessionRare::default();
                change(&mut rare);
                if !rare.is_empty() {
                    self.rare = Some(Box::new(rare));
                }
            }
        }
    }

    fn set_private(&mut self, private: Option<(UserId, Nick)>) {
        self.set_rare(|r| r.private = private);
    }

    /// Sets the oper name; the one it replaces, if any.
    fn set_oper(&mut self, oper: Option<Arc<str>>) -> Option<Arc<str>> {
        let mut was = None;
        self.set_rare(|r| was = std::mem::replace(&mut r.oper, oper));
        was
    }
}

impl<O: Outbox> Session<O> {
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull> {
        self.outbox.as_ref().map_or(Ok(()), |o| o.push(delivery))
    }

    fn close(&self, reason: &str) {
        if let Some(o) = &self.outbox {
            o.close(reason);
        }
    }

    fn account(&self, account: Option<&NickKey>) {
        if let Some(o) = &self.outbox {
            o.account(account);
        }
    }
}

struct User {
    /// Who the user is to others: its nick, ident, cloaked host and real
    /// name, read through [`User::nick`] and the like (kept once: every
    /// user is in memory, and each copy was 16 bytes), replaced by
    /// [`User::set`] when a part changes.
    actor: Arc<Actor>,
    signon: Timestamp,
    last_active: Timestamp,
    account: Option<AccountId>,
    /// When the account was created: private messages older than that
    /// belong to whoever used the name as a guest before, and stay hidden.
    account_since: Timestamp,
    sessions: Vec<SessionId>,
    /// Rooms in join order; the last is the most recently joined.
    /// Registered users keep theirs while offline.
    rooms: Vec<RoomKey>,
    /// Left out of WHO and of a room's member list for those who share no
    /// room with the user (IRC's user mode `+i`).
    invisible: bool,
    last_seen: Timestamp,
    /// How many private messages are kept for the user (they arrived while
    /// it was offline) and not yet taken by one of its sessions.
    kept: usize,
    /// What few users have (see [`Rare`]); none while all of it is empty.
    rare: Option<Box<Rare>>,
}

/// The parts of a [`User`] that most users leave empty, boxed apart: as
/// fields of every `User` their empty tables took 160 of its 376 bytes.
/// (The away message is among them: inline, it would put every `User`
/// over mimalloc's 128-byte class.)
#[derive(Default)]
struct Rare {
    away: Option<Text>,
    /// Names whose messages this user does not see.
    ignores: HashSet<NickKey>,
    /// The messages kept for the user when the hub has no store; with one
    /// they are there.
    kept_mem: VecDeque<Message>,
    /// The page of kept messages handed to a session and not yet taken.
    page: Option<Page>,
    /// Where the user stopped reading, per conversation (see
    /// `hub_markers.rs`). A guest's end with its last session.
    markers: HashMap<markers::Place, (Target, Marker)>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.away.is_none()
            && self.ignores.is_empty()
            && self.kept_mem.is_empty()
            && self.page.is_none()
            && self.markers.is_empty()
    }
}

/// What a user without a [`Rare`] box has: nothing.
static NO_RARE: std::sync::LazyLock<Rare> = std::sync::LazyLock::new(Rare::default);

impl User {
    fn new(nick: Nick, account: Option<AccountId>, now: Timestamp) -> User {
        let name: Arc<str> = nick.as_str().into();
        let actor = Arc::new(Actor {
            nick,
            ident: name.clone(),
            host: "localhost".into(),
            realname: name,
            account: account.is_some(),
        });
        User {
            actor,
            signon: now,
            last_active: now,
            account,
            account_since: now,
            sessions: Vec::new(),
            rooms: Vec::new(),
            invisible: false,
            last_seen: now,
            kept: 0,
            rare: None,
        }
    }

    fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// The rare parts, boxed on first use; [`User::tidy`] drops the box
    /// once they are empty again.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_default()
    }

    fn tidy(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }

    /// The user does not see messages from `from`.
    fn ignores(&self, from: &NickKey) -> bool {
        self.rare.as_ref().is_some_and(|r| r.ignores.contains(from))
    }

    /// The away message, if the user is away.
    fn away(&self) -> Option<&Text> {
        self.rare.as_ref().and_then(|r| r.away.as_ref())
    }

    fn set_away(&mut self, away: Option<Text>) {
        if away.is_some() || self.rare.is_some() {
            self.rare_mut().away = away;
            self.tidy();
        }
    }

    /// The page of kept messages out, if any.
    fn page(&self) -> Option<Page> {
        self.rare.as_ref().and_then(|r| r.page)
    }

    fn online(&self) -> bool {
        !self.sessions.is_empty()
    }

    /// Whom the store keeps this user's messages for.
    fn kept_for(&self) -> KeptFor {
        match self.account {
            Some(id) => KeptFor::Account(id),
            None => KeptFor::Guest(self.nick().key()),
        }
    }

    fn nick(&self) -> &Nick {
        &self.actor.nick
    }

    /// The cloaked host others see.
    fn host(&self) -> &Arc<str> {
        &self.actor.host
    }

    fn realname(&self) -> &Arc<str> {
        &self.actor.realname
    }

    fn mask(&self) -> String {
        self.actor.mask()
    }

    /// Changes parts of who the user is, in a new `actor` (events already
    /// made keep the old one).
    fn set(&mut self, change: impl FnOnce(&mut Actor)) {
        let mut actor = (*self.actor).clone();
        change(&mut actor);
        actor.account = self.account.is_some();
        self.actor = Arc::new(actor);
    }

    /// A new `actor` after the account changed.
    fn refresh(&mut self) {
        self.set(|_| {});
    }
}

/// A page of kept messages out to a session, up to message `upto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    sid: SessionId,
    upto: MsgId,
    count: usize,
}

struct Room {
    name: RoomName,
    topic: Option<Topic>,
    /// Members, online or (registered and) offline, in the order of
    /// their nicks' keys ([`Nick::cmp_key`]): a member list goes out
    /// without a sort, which in a room of thousands cost more than the
    /// rest of a join (kept by [`Room::add_member`] and
    /// [`Hub::resort_member`]).
    members: Vec<UserId>,
    created: Timestamp,
    modes: RoomModes,
    ops: IdSet<UserId>,
    voiced: IdSet<UserId>,
    bans: Vec<Ban>,
    /// Users invited since they last joined.
    invited: IdSet<UserId>,
}

impl Room {
    fn new(name: RoomName, topic: Option<Topic>, modes: RoomModes, now: Timestamp) -> Room {
        Room {
            name,
            topic,
            members: Vec::new(),
            created: now,
            modes,
            ops: IdSet::default(),
            voiced: IdSet::default(),
            bans: Vec::new(),
            invited: IdSet::default(),
        }
    }

    /// Whether `uid` may know the room exists: a secret room (`+s`) is
    /// hidden from whoever is not in it, as if it did not exist.
    fn seen_by(&self, uid: Option<UserId>) -> bool {
        !self.modes.secret || uid.is_some_and(|u| self.members.contains(&u))
    }

    /// Whether anyone may read it from outside (REST): not secret,
    /// invite-only or keyed.
    fn is_open(&self) -> bool {
        !(self.modes.secret || self.modes.invite_only || self.modes.key.is_some())
    }

    fn status(&self, uid: UserId) -> Status {
        Status {
            op: self.ops.contains(&uid),
            voice: self.voiced.contains(&uid),
        }
    }

    /// Puts `uid` in the member list in its nick's place (`users` must
    /// hold it and every member).
    fn add_member(&mut self, uid: UserId, users: &IdMap<UserId, Box<User>>) {
        let nick = users[&uid].nick();
        let at = self
            .members
            .partition_point(|id| users[id].nick().cmp_key(nick).is_lt());
        self.members.insert(at, uid);
    }

    /// Drops `uid` from the member list and every per-member set.
    fn remove_member(&mut self, uid: UserId) {
        self.members.retain(|&m| m != uid);
        self.ops.remove(&uid);
        self.voiced.remove(&uid);
    }
}

/// A table keyed by ids the hub hands out, not by what clients choose: a
/// seeded fast hash, where SipHash cost ~2% of the server's CPU in a
/// fan-out (two lookups a delivery: the member, then its session).
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A set of such ids, likewise (a room's operators, or everyone who hears
/// of a user's quit: as many ids as members).
type IdSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// The chat state machine. `O` is the door-side outbox type.
pub struct Hub<O> {
    config: HubConfig,
    /// Boxed, like `users` (a `Session` is ~220 bytes).
    sessions: IdMap<SessionId, Box<Session<O>>>,
    /// Boxed: a `User` is ~380 bytes, and a table that doubles holds up
    /// to twice as many slots as entries, each the size of its value
    /// (inline, 8,000 users took 16,384 slots: 800 bytes a user).
    users: IdMap<UserId, Box<User>>,
    by_nick: HashMap<NickKey, UserId>,
    rooms: HashMap<RoomKey, Room>,
    next_user: UserId,
    next_msg: u64,
    store: Option<Box<dyn Store>>,
    /// Changes to persist, committed by `finish`.
    ops: Vec<Op>,
    /// Deliveries waiting for the batch's commit.
    staged: Staged,
    /// Messages of the batch not yet committed, with their senders.
    unsaved: Vec<(MsgId, Origin)>,
    journal: Vec<Journal>,
    /// Users who left, latest last, for WHOWAS.
    departed: VecDeque<Departed>,
    /// The most users online at once.
    max_users: usize,
    /// Users online now (with a session): counted as they come and go,
    /// so that nobody counts `users` (offline accounts too) to know.
    online: usize,
    /// Of those, how many are invisible (`+i`).
    invisible: usize,
    /// Sessions bound to a user, and how many of them are operators.
    attached: usize,
    opers: usize,
    counters: Counters,
    /// Server-wide bans (expired ones go when next listed).
    klines: Vec<crate::kline::Kline>,
    /// Suspended accounts, with why.
    suspended: HashMap<AccountId, String>,
    /// No new guests or registrations while on.
    lockdown: bool,
    /// The sealed batch whose commit is running, if any: its deliveries
    /// wait for it ([`Hub::poll_commit`]).
    inflight: Option<InFlight>,
    /// Batches sealed so far; the one being staged is the next.
    sealed: u64,
    /// The latest batch whose deliveries went out (or were withheld).
    released: u64,
    /// Messages whose commit failed, until [`Hub::take_failed`].
    failed: Vec<MsgId>,
}

/// A sealed batch: its commit (none when it had nothing to store), then
/// its deliveries.
struct InFlight {
    commit: Option<Box<dyn Commit>>,
    items: Vec<(SessionId, Delivery)>,
    /// Its messages, with their senders (told if the commit fails).
    unsaved: Vec<(MsgId, Origin)>,
    batch: u64,
}

/// Running totals of what the hub did, for the server's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events handed to session queues.
    pub deliveries: u64,
    /// Of those, room and private messages.
    pub message_deliveries: u64,
    /// Sessions closed because their queue was full.
    pub queue_drops: u64,
    /// Store commits that failed.
    pub commit_failures: u64,
    /// Room and private messages accepted (staged for the store).
    pub messages: u64,
}

/// Deliveries waiting for the batch's commit, in order. While a command
/// is staged, everything it stages is marked as answering it.
#[derive(Default)]
struct Staged {
    items: Vec<(SessionId, Delivery)>,
    /// The command being staged.
    origin: Option<Origin>,
}

impl Staged {
    fn push(&mut self, sid: SessionId, d: Delivery) {
        if let Some(origin) = self.origin {
            d.set_origin(origin);
        }
        self.items.push((sid, d));
    }

    /// Stages `d` for every session of `user`.
    fn user(&mut self, user: &User, d: &Delivery) {
        for &sid in &user.sessions {
            self.push(sid, d.clone());
        }
    }
}

impl<O: Outbox> Hub<O> {
    /// A hub that keeps nothing: guests only, no history.
    pub fn new(config: HubConfig) -> Hub<O> {
        Hub {
            config,
            sessions: IdMap::default(),
            users: IdMap::default(),
            by_nick: HashMap::new(),
            rooms: HashMap::new(),
            next_user: UserId::MIN,
            next_msg: 1,
            store: None,
            ops: Vec::new(),
            staged: Staged::default(),
            unsaved: Vec::new(),
            journal: Vec::new(),
            departed: VecDeque::new(),
            max_users: 0,
            online: 0,
            invisible: 0,
            attached: 0,
            opers: 0,
            counters: Counters::default(),
            klines: Vec::new(),
            suspended: HashMap::new(),
            lockdown: false,
            inflight: None,
            sealed: 0,
            released: 0,
            failed: Vec::new(),
        }
    }

    /// A hub that persists through `store`, starting from what it holds.
    pub fn with_store(config: HubConfig, mut store: Box<dyn Store>) -> Result<Hub<O>, StoreError> {
        let snapshot = store.load()?;
        let mut hub = Hub::new(config);
        hub.next_msg = snapshot.next_msg_id.max(1);
        hub.klines = snapshot.klines;
        hub.suspended = snapshot.suspensions.into_iter().collect();
        hub.lockdown = snapshot.lockdown;
        for state in snapshot.accounts {
            let uid = hub.take_user_id();
            let mut rooms = Vec::new();
            for name in state.rooms {
                let key = name.key();
                if rooms.contains(&key) {
                    continue;
                }
                if !hub.rooms.contains_key(&key) {
                    let topic = store.topic(&key)?;
                    let modes = hub.config.default_modes.clone();
                    let created = topic.as_ref().map(|t| t.time).unwrap_or_default();
                    let room = Room::new(name, topic, modes, created);
                    hub.rooms.insert(key.clone(), room);
                }
                hub.rooms.get_mut(&key).expect("inserted").members.push(uid);
                rooms.push(key);
            }
            hub.by_nick.insert(state.account.name.key(), uid);
            for (key, status) in &state.statuses {
                if let Some(room) = hub.rooms.get_mut(key) {
                    if status.op {
                        room.ops.insert(uid);
                    }
                    if status.voice {
                        room.voiced.insert(uid);
                    }
                }
            }
            let mut user = User::new(
                state.account.name,
                Some(state.account.id),
                state.account.last_seen,
            );
            user.account_since = state.account.created;
            user.kept = state.kept;
            user.rooms = rooms;
            let rare = user.rare_mut();
            rare.ignores = state.ignores.into_iter().collect();
            rare.markers = state
                .markers
                .into_iter()
                .map(|(target, m)| (markers::Place::of(&target), (target, m)))
                .collect();
            user.tidy();
            hub.users.insert(uid, Box::new(user));
        }
        // Members in their nicks' order (pushed in the accounts' order).
        let users = &hub.users;
        for room in hub.rooms.values_mut() {
            room.members
                .sort_unstable_by(|a, b| users[a].nick().cmp_key(users[b].nick()));
        }
        let limits = hub.config.input;
        for settings in snapshot.rooms {
            if let Some(room) = hub.rooms.get_mut(&settings.name.key()) {
                room.modes = settings.modes;
                room.bans = settings.bans;
                // Stored before the input rules (or with other limits): a
                // key or mask that breaks them now is dropped. A room whose
                // key goes becomes invite-only, so it stays closed.
                if let Some(k) = &room.modes.key
                    && limits.check(Field::Key, k).is_err()
                {
                    room.modes.key = None;
                    room.modes.invite_only = true;
                }
                room.bans
                    .retain(|b| limits.check(Field::BanMask, &b.mask).is_ok());
            }
        }
        // Guest names with messages kept for them wait offline; a name
        // registered since then takes them, as when an account takes over
        // an offline guest's name.
        let mut moves = Vec::new();
        for guest in snapshot.guests {
            let key = guest.nick.key();
            match hub.by_nick.get(&key) {
                Some(&uid) => {
                    let user = hub.users.get_mut(&uid).expect("indexed");
                    user.kept += guest.kept;
                    moves.push(Op::MoveKept {
                        from: KeptFor::Guest(key),
                        to: user.kept_for(),
                    });
                }
                None => {
                    let uid = hub.new_user(guest.nick, None, guest.since);
                    hub.users.get_mut(&uid).expect("new").kept = guest.kept;
                }
            }
        }
        if !moves.is_empty() {
            store.commit(&moves)?;
        }
        hub.store = Some(store);
        Ok(hub)
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of users online (with at least one session); O(1).
    pub fn online_users(&self) -> usize {
        self.online
    }

    /// Number of rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The account called `name`, for a door checking a password.
    pub fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError> {
        match &mut self.store {
            Some(store) => store.account(name),
            None => Ok(None),
        }
    }

    /// Voids `name`'s login tokens issued before `before` ("log out
    /// everywhere"). Without a store there are no accounts.
    pub fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError> {
        match &mut self.store {
            Some(store) => store.revoke_tokens(name, before),
            None => Err(StoreError::NoSuchAccount(name.as_str().to_owned())),
        }
    }

    /// Sets account `name`'s password hash for a caller with no session
    /// (REST), voiding its older tokens.
    pub fn set_account_password(
        &mut self,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        match &mut self.store {
            Some(store) => store.set_password(name, password_hash, now),
            None => Err(StoreError::NoSuchAccount(name.as_str().to_owned())),
        }
    }

    /// Voids the one login token `id` until it expires (a logout).
    pub fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError> {
        match &mut self.store {
            Some(store) => store.revoke_token(id, expires),
            None => Ok(()),
        }
    }

    /// The login tokens voided one by one that are still unexpired.
    pub fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        match &mut self.store {
            Some(store) => store.revoked_tokens(now),
            None => Ok(Vec::new()),
        }
    }

    /// The name of the user behind `sid`, if it has one.
    pub fn nick_of(&self, sid: SessionId) -> Option<&Nick> {
        let uid = self.sessions.get(&sid)?.user?;
        self.users.get(&uid).map(|u| u.nick())
    }

    /// The address a session connected from, if the hub knows it.
    pub fn session_address(&self, sid: SessionId) -> Option<IpAddr> {
        self.sessions.get(&sid)?.info.addr
    }

    /// The door session `sid` came by ([`ClientInfo::door`]), if it is
    /// connected.
    pub fn session_door(&self, sid: SessionId) -> Option<u8> {
        Some(self.sessions.get(&sid)?.info.door)
    }

    /// The real address of the online user `nick`, which the hub shows to
    /// no one but server operators (WHOIS): hosts are cloaks.
    pub fn real_address(&self, nick: &Nick) -> Option<IpAddr> {
        let uid = self.by_nick.get(&nick.key())?;
        self.user_address(&self.users[uid])
    }

    /// The real address of the user's oldest session, if online. (Not kept
    /// in `User`: its sessions have it.)
    fn user_address(&self, user: &User) -> Option<IpAddr> {
        let first = user.sessions.first()?;
        self.sessions.get(first)?.info.addr
    }

    /// What the hub has done so far, in totals.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// What the journal holds since it was last taken.
    pub fn journal(&self) -> &[Journal] {
        &self.journal
    }

    pub fn take_journal(&mut self) -> Vec<Journal> {
        std::mem::take(&mut self.journal)
    }

    /// A new connection of a line-door-like client. It can do nothing but
    /// log in until it has a name.
    pub fn connect(&mut self, sid: SessionId, outbox: O, now: Timestamp) {
        self.connect_with(sid, outbox, ClientInfo::default(), now);
    }

    /// A new connection, with what its door knows of the client.
    pub fn connect_with(&mut self, sid: SessionId, outbox: O, info: ClientInfo, _now: Timestamp) {
        let session = Session {
            outbox: Some(outbox),
            info,
            user: None,
            room: None,
            rare: None,
        };
        self.sessions.insert(sid, Box::new(session));
    }

    /// Runs one command and delivers its effects: a batch of one.
    pub fn handle(&mut self, sid: SessionId, cmd: Command, now: Timestamp) {
        self.stage(sid, cmd, now);
        self.finish(now);
    }

    /// The connection of `sid` ended (the door noticed EOF or an error).
    pub fn disconnect(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        self.stage_disconnect(sid, reason, now);
        self.finish(now);
    }

    /// Like [`Hub::disconnect`], as part of a batch.
    pub fn stage_disconnect(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        self.remove_session(sid, reason, now);
    }

    /// Runs one command of session `sid` as part of a batch; its events
    /// wait for [`Hub::finish`].
    pub fn stage(&mut self, sid: SessionId, cmd: Command, now: Timestamp) {
        self.stage_req(sid, 0, cmd, now);
    }

    /// Like [`Hub::stage`], for the door's request `req`: the events the
    /// command causes carry it as their [`Origin`].
    pub fn stage_req(&mut self, sid: SessionId, req: u64, cmd: Command, now: Timestamp) {
        self.staged.origin = Some(Origin { sid, req });
        self.stage_command(sid, cmd, now);
        self.staged.origin = None;
    }

    /// Stages a door's own output for `sid` ([`Event::Local`]), behind
    /// everything staged for it so far.
    pub fn stage_local(&mut self, sid: SessionId, bytes: bytes::Bytes, now: Timestamp) {
        if self.sessions.contains_key(&sid) {
            self.staged
                .push(sid, Envelope::new(now, Event::Local(bytes)));
        }
    }

    /// Stages [`Event::Fence`]`(req)` for `sid`: it reaches the session
    /// after everything staged for it so far, once the batch is committed.
    pub fn stage_fence(&mut self, sid: SessionId, req: u64, now: Timestamp) {
        if self.sessions.contains_key(&sid) {
            self.staged.push(sid, Envelope::new(now, Event::Fence(req)));
        }
    }

    fn stage_command(&mut self, sid: SessionId, cmd: Command, now: Timestamp) {
        if !self.sessions.contains_key(&sid) {
            return;
        }
        if let Err(e) = self.dispatch(sid, cmd, now) {
            self.refuse(sid, now, e);
        }
    }

    /// Ends the batch: starts committing its changes, and delivers its
    /// events once they are committed; closes the sessions whose outbox
    /// overflowed (whose quits make a new round). With a store that
    /// commits in the background ([`Store::begin_commit`]) the events wait
    /// for [`Hub::poll_commit`] or the next batch; the batch before is
    /// settled first, so batches go out in order.
    pub fn finish(&mut self, now: Timestamp) {
        self.settle(now);
        loop {
            let mut batch = self.seal();
            let result = match &mut batch.commit {
                None => Some(Ok(())),
                Some(commit) => commit.poll(),
            };
            match result {
                None => {
                    self.inflight = Some(batch);
                    return;
                }
                Some(result) => {
                    if !self.release(batch, result, now) {
                        return;
                    }
                }
            }
        }
    }

    /// Whether a batch's commit is still running.
    pub fn committing(&self) -> bool {
        self.inflight.is_some()
    }

    /// Whether anything is staged for the next [`Hub::finish`].
    pub fn has_staged(&self) -> bool {
        !self.staged.items.is_empty() || !self.ops.is_empty()
    }

    /// The number of the batch being staged: what is staged now goes out
    /// once [`Hub::released`] reaches it.
    pub fn batch(&self) -> u64 {
        self.sealed + 1
    }

    /// The latest batch whose events went out.
    pub fn released(&self) -> u64 {
        self.released
    }

    /// The messages whose commit failed since the last call (withheld from
    /// everyone; their senders were told).
    pub fn take_failed(&mut self) -> Vec<MsgId> {
        std::mem::take(&mut self.failed)
    }

    /// Delivers the running batch if its commit has finished; whether it
    /// did. Its overflowed sessions' quits wait for the next batch.
    pub fn poll_commit(&mut self, now: Timestamp) -> bool {
        let Some(batch) = &mut self.inflight else {
            return false;
        };
        let Some(result) = batch.commit.as_mut().and_then(|c| c.poll()) else {
            return false;
        };
        let batch = self.inflight.take().expect("running");
        self.release(batch, result, now);
        true
    }

    /// Waits for the running batch's commit, then delivers it.
    pub fn settle(&mut self, now: Timestamp) {
        if let Some(mut batch) = self.inflight.take() {
            let result = batch.commit.take().map_or(Ok(()), |c| c.wait());
            self.release(batch, result, now);
        }
    }

    /// Takes what is staged as a batch and begins its commit.
    fn seal(&mut self) -> InFlight {
        self.sealed += 1;
        let ops = std::mem::take(&mut self.ops);
        let commit = match &mut self.store {
            Some(store) if !ops.is_empty() => Some(store.begin_commit(ops)),
            _ => None,
        };
        InFlight {
            commit,
            items: std::mem::take(&mut self.staged.items),
            unsaved: std::mem::take(&mut self.unsaved),
            batch: self.sealed,
        }
    }

    /// Delivers a batch whose commit ended with `result` (withholding its
    /// messages if that failed); closes the sessions whose outbox
    /// overflowed. Whether any did.
    fn release(&mut self, batch: InFlight, result: Result<(), StoreError>, now: Timestamp) -> bool {
        let InFlight {
            mut items,
            unsaved,
            batch,
            ..
        } = batch;
        self.released = batch;
        if let Err(e) = result {
            self.withhold(&mut items, unsaved, &e, now);
        }
        let mut overflowed = Vec::new();
        for (sid, d) in items {
            let Some(s) = self.sessions.get(&sid) else {
                continue;
            };
            self.counters.deliveries += 1;
            if let Event::Message { .. } = d.event {
                self.counters.message_deliveries += 1;
            }
            if s.push(d).is_err() && !overflowed.contains(&sid) {
                overflowed.push(sid);
            }
        }
        self.counters.queue_drops += overflowed.len() as u64;
        let any = !overflowed.is_empty();
        for sid in overflowed {
            if let Some(s) = self.sessions.get(&sid) {
                s.close("SendQ exceeded");
                self.remove_session(sid, "SendQ exceeded", now);
            }
        }
        any
    }

    /// The server is stopping: every session is told and closed.
    pub fn shutdown(&mut self, reason: &str, now: Timestamp) {
        self.finish(now);
        self.settle(now);
        let bye = Envelope::new(
            now,
            Event::Bye {
                reason: reason.to_owned(),
            },
        );
        for (sid, s) in self.sessions.drain() {
            let nick = s.user.map(|uid| self.users[&uid].nick().clone());
            self.journal.push(Journal::Left {
                sid,
                nick,
                reason: reason.to_owned(),
            });
            // A full queue cannot take the goodbye: close it at once.
            if s.push(bye.clone()).is_err() {
                s.close(reason);
            }
        }
        let mut seen = Vec::new();
        self.online = 0;
        self.invisible = 0;
        self.attached = 0;
        self.opers = 0;
        for u in self.users.values_mut() {
            if u.online() {
                u.sessions.clear();
                u.last_seen = now;
                if let Some(account) = u.account {
                    seen.push(Op::LastSeen { account, time: now });
                }
            }
        }
        if self.store.is_some() {
            self.ops.extend(seen);
        }
        self.commit_ops(now);
    }

    /// Commits the ops staged so far, now, after the running batch (whose
    /// events go out first). On failure, the batch's unsaved messages are
    /// withheld from everyone and their senders are told why.
    fn commit_ops(&mut self, now: Timestamp) {
        self.settle(now);
        let Some(store) = &mut self.store else {
            self.ops.clear();
            self.unsaved.clear();
            return;
        };
        if self.ops.is_empty() {
            self.unsaved.clear();
            return;
        }
        let result = store.commit(&self.ops);
        self.ops.clear();
        let unsaved = std::mem::take(&mut self.unsaved);
        if let Err(e) = result {
            let mut items = std::mem::take(&mut self.staged.items);
            self.withhold(&mut items, unsaved, &e, now);
            self.staged.items = items;
        }
    }

    /// A commit failed: its messages (`unsaved`) are taken out of `items`
    /// and each sender is told why, in `items`.
    fn withhold(
        &mut self,
        items: &mut Vec<(SessionId, Delivery)>,
        unsaved: Vec<(MsgId, Origin)>,
        e: &StoreError,
        now: Timestamp,
    ) {
        self.counters.commit_failures += 1;
        let failed: HashSet<MsgId> = unsaved.iter().map(|(id, _)| *id).collect();
        items.retain(|(_, d)| match &d.event {
            Event::Message { msg, .. } => !failed.contains(&msg.id),
            _ => true,
        });
        self.failed.extend(failed);
        let mut told = HashSet::new();
        for (_, origin) in unsaved {
            if told.insert(origin) {
                let ev = Envelope::new(now, Event::Error(ChatError::from(e.clone())));
                ev.set_origin(origin);
                self.journal.push(Journal::Refused {
                    sid: origin.sid,
                    error: ChatError::from(e.clone()),
                });
                items.push((origin.sid, ev));
            }
        }
    }

    fn op(&mut self, op: Op) {
        if self.store.is_some() {
            self.ops.push(op);
        }
    }

    fn store(&mut self) -> Result<&mut Box<dyn Store>, ChatError> {
        self.store.as_mut().ok_or(ChatError::NoStorage)
    }

    fn dispatch(&mut self, sid: SessionId, cmd: Command, now: Timestamp) -> Result<(), ChatError> {
        match cmd {
            Command::Login(nick) => {
                if let Some(reason) = self.klined(sid, None, &nick, now) {
                    return self.refuse_klined(sid, reason, now);
                }
                if self.lockdown && !self.is_registered(&nick.key())? {
                    return Err(ChatError::Lockdown);
                }
                return self.login(sid, nick, now);
            }
            Command::LoginAccount(account) => {
                if let Some(reason) = self.klined(sid, Some(&account.name), &account.name, now) {
                    return self.refuse_klined(sid, reason, now);
                }
                self.check_suspended(&account)?;
                return self.login_account(sid, account, now);
            }
            Command::Identify(account) => {
                if let Some(reason) = self.klined(sid, Some(&account.name), &account.name, now) {
                    return self.refuse_klined(sid, reason, now);
                }
                self.check_suspended(&account)?;
                return self.identify(sid, account, now);
            }
            // Leaving is never refused, even before a name was taken (an
            // IRC client whose nick was refused).
            Command::Quit(_) if self.sessions[&sid].user.is_none() => {
                self.kick(sid, "Quit", now);
                return Ok(());
            }
            _ => {}
        }
        let Some(uid) = self.sessions[&sid].user else {
            // The REST admin: an operator with no user, for operator
            // commands only.
            return match cmd {
                Command::Operator(op) if self.is_oper(sid) => {
                    self.check_oper_input(&op).map_err(ChatError::Input)?;
                    self.oper_command(sid, None, op, now)
                }
                _ => Err(ChatError::NotLoggedIn),
            };
        };
        self.check_input(&cmd)?;
        match cmd {
            Command::Login(_) | Command::LoginAccount(_) | Command::Identify(_) => {
                unreachable!("handled above")
            }
            Command::Register { .. } if self.lockdown => Err(ChatError::Lockdown),
            Command::Register { password_hash } => self.register(sid, uid, &password_hash, now),
            Command::SetPassword {
                name,
                password_hash,
            } => self.set_password(sid, uid, &name, &password_hash, now),
            Command::ChangeNick(nick) => {
                // A nick K-line holds for a name taken later too.
                if let Some(reason) = self.klined(sid, None, &nick, now) {
                    return Err(ChatError::ServerBanned(reason));
                }
                self.change_nick(uid, nick, now)
            }
            Command::Join { room, key } => self.join(sid, uid, room, key, now),
            Command::Part { room, reason } => self.part(sid, uid, room, reason, now),
            Command::Rooms => {
                self.rooms_list(sid, now);
                Ok(())
            }
            Command::Members(room) => self.members(sid, room, now),
            Command::Users => {
                self.users_list(sid, now);
                Ok(())
            }
            Command::Send {
                to,
                kind,
                text,
                tags,
            } => self.send(sid, uid, to, Draft { kind, text, tags }, now),
            Command::TagMsg { to, tags } => self.tag_msg(uid, to, tags, now),
            Command::Start(nick) => {
                let tid = self.user_id(&nick)?;
                let name = self.users[&tid].nick().clone();
                self.sessions
                    .get_mut(&sid)
                    .expect("live")
                    .set_private(Some((tid, name)));
                self.reply_target(sid, now);
                Ok(())
            }
            Command::Stop => {
                self.sessions.get_mut(&sid).expect("live").set_private(None);
                self.reply_target(sid, now);
                Ok(())
            }
            Command::GetTopic(room) => {
                let key = self.room_arg(sid, room)?;
                let room = self.rooms.get(&key).expect("room_arg checks");
                let ev = Event::TopicIs {
                    room: room.name.clone(),
                    topic: room.topic.clone(),
                };
                self.reply(sid, now, ev);
                Ok(())
            }
            Command::SetTopic { room, topic } => self.set_topic(sid, uid, room, topic, now),
            Command::Ignore(nick) => {
                let tid = self.user_id(&nick)?;
                if tid == uid {
                    return Err(ChatError::IgnoreSelf);
                }
                let key = nick.key();
                let user = self.users.get_mut(&uid).expect("live");
                user.rare_mut().ignores.insert(key.clone());
                if let Some(account) = user.account {
                    self.op(Op::Ignore { account, nick: key });
                }
                let nick = self.users[&tid].nick().clone();
                self.reply(
                    sid,
                    now,
                    Event::IgnoreChanged {
                        nick,
                        ignoring: true,
                    },
                );
                Ok(())
            }
            Command::Unignore(nick) => {
                let key = nick.key();
                let user = self.users.get_mut(&uid).expect("live");
                if !user.rare.as_mut().is_some_and(|r| r.ignores.remove(&key)) {
                    return Err(ChatError::NotIgnoring(nick));
                }
                user.tidy();
                if let Some(account) = user.account {
                    self.op(Op::Unignore { account, nick: key });
                }
                let nick = self.display(&nick);
                let ev = Event::IgnoreChanged {
                    nick,
                    ignoring: false,
                };
                self.reply(sid, now, ev);
                Ok(())
            }
            Command::Ignores => {
                let mut keys: Vec<&NickKey> = self.users[&uid].rare().ignores.iter().collect();
                keys.sort();
                let nicks = keys
                    .into_iter()
                    .filter_map(|k| match self.by_nick.get(k) {
                        Some(id) => Some(self.users[id].nick().clone()),
                        None => Nick::parse(k.as_str(), usize::MAX).ok(),
                    })
                    .collect();
                self.reply(sid, now, Event::Ignores(nicks));
                Ok(())
            }
            Command::History { limit } => self.history(sid, uid, limit, now),
            Command::Search { text, room, limit } => self.search(sid, uid, text, room, limit, now),
            Command::GetModes(room) => self.get_modes(sid, uid, room, now),
            Command::SetModes { room, changes } => self.set_modes(uid, room, changes, now),
            Command::Bans(room) => self.bans(sid, room, now),
            Command::Kick { room, nick, reason } => self.kick_member(uid, room, nick, reason, now),
            Command::Invite { nick, room } => self.invite(uid, nick, room, now),
            Command::Away(away) => {
                self.set_away(uid, away, now);
                Ok(())
            }
            Command::SetRealname(name) => {
                self.set_realname(uid, name, now);
                Ok(())
            }
            Command::Whois(nicks) => {
                self.whois(sid, nicks, now);
                Ok(())
            }
            Command::Who(mask) => {
                self.who(sid, uid, &mask, now);
                Ok(())
            }
            Command::SetInvisible(on) => {
                let user = self.users.get_mut(&uid).expect("live");
                if user.invisible != on {
                    user.invisible = on;
                    if on {
                        self.invisible += 1;
                    } else {
                        self.invisible -= 1;
                    }
                }
                Ok(())
            }
            Command::Whowas(nick) => {
                self.whowas(sid, nick, now);
                Ok(())
            }
            Command::Stats => {
                self.stats(sid, now);
                Ok(())
            }
            Command::ChatHistory { target, window } => {
                self.chat_history(sid, uid, target, window, now)
            }
            Command::Typing { to, active } => self.typing(uid, to, active, now),
            Command::Resume { after, limit } => self.resume(sid, uid, after, limit, now),
            Command::MarkRead { target, at } => self.mark_read(sid, uid, target, at, now),
            Command::GetReadMarker(target) => self.get_read_marker(sid, uid, target, now),
            Command::ReadMarkers => {
                self.read_markers(sid, uid, now);
                Ok(())
            }
            Command::Oper(name) => {
                self.oper_up(sid, uid, name, now);
                Ok(())
            }
            Command::Deoper => self.oper_down(sid, now),
            Command::Operator(op) => self.oper_command(sid, Some(uid), op, now),
            Command::Conversations {
                after,
                before,
                limit,
            } => self.conversations(sid, uid, after, before, limit, now),
            Command::Quit(reason) => {
                // Leaving is never refused: a reason that breaks the rules
                // is dropped, and the user told why before the goodbye.
                let reason =
                    reason.filter(
                        |r| match self.config.input.check(Field::Reason, r.as_str()) {
                            Ok(()) => true,
                            Err(e) => {
                                self.refuse(sid, now, ChatError::Input(e));
                                false
                            }
                        },
                    );
                let reason = match reason {
                    Some(r) => format!("Quit: {r}"),
                    None => "Quit".to_owned(),
                };
                self.kick(sid, &reason, now);
                Ok(())
            }
        }
    }

    /// Checks the free-form values of `cmd` against the input rules
    /// (`input::InputLimits`), before anything changes. Mode parameters
    /// are checked one change at a time (`apply_mode`); a quit reason by
    /// `Quit`, which is never refused.
    fn check_input(&self, cmd: &Command) -> Result<(), ChatError> {
        let limits = &self.config.input;
        let text = |field, t: &Option<Text>| optional_text(limits, field, t);
        match cmd {
            // An empty key is no key (IRC's `JOIN #a,#b ,k2`).
            Command::Join { key: Some(k), .. } if !k.is_empty() => limits.check(Field::Key, k),
            Command::Part { reason, .. } | Command::Kick { reason, .. } => {
                text(Field::Reason, reason)
            }
            Command::SetTopic { topic, .. } => text(Field::Topic, topic),
            Command::Away(away) => text(Field::Away, away),
            Command::SetRealname(name) => limits.check(Field::Realname, name.as_str()),
            Command::Operator(op) => self.check_oper_input(op),
            // Nothing of these is checked here: no values, values the
            // parsers made valid (names, texts), or checked where they
            // apply (mode parameters, one change at a time). Named one by
            // one so that a new command is looked at.
            Command::Login(_)
            | Command::LoginAccount(_)
            | Command::Identify(_)
            | Command::Register { .. }
            | Command::ChangeNick(_)
            | Command::SetPassword { .. }
            | Command::Join { .. }
            | Command::Rooms
            | Command::Members(_)
            | Command::Users
            | Command::Send { .. }
            | Command::TagMsg { .. }
            | Command::Start(_)
            | Command::Stop
            | Command::GetTopic(_)
            | Command::Ignore(_)
            | Command::Unignore(_)
            | Command::Ignores
            | Command::History { .. }
            | Command::Search { .. }
            | Command::Quit(_)
            | Command::GetModes(_)
            | Command::SetModes { .. }
            | Command::Bans(_)
            | Command::Invite { .. }
            | Command::Whois(_)
            | Command::Who(_)
            | Command::SetInvisible(_)
            | Command::Whowas(_)
            | Command::Stats
            | Command::ChatHistory { .. }
            | Command::Conversations { .. }
            | Command::Typing { .. }
            | Command::Resume { .. }
            | Command::MarkRead { .. }
            | Command::GetReadMarker(_)
            | Command::ReadMarkers
            | Command::Oper(_)
            | Command::Deoper => Ok(()),
        }
        .map_err(ChatError::Input)
    }

    /// [`Hub::check_input`] for an operator's command.
    fn check_oper_input(&self, op: &OperCommand) -> Result<(), InputError> {
        let limits = &self.config.input;
        let text = |field, t: &Option<Text>| optional_text(limits, field, t);
        match op {
            OperCommand::Kill { reason, .. } | OperCommand::Suspend { reason, .. } => {
                text(Field::Reason, reason)
            }
            OperCommand::Kline { mask, reason, .. } => limits
                .check(Field::BanMask, mask)
                .and_then(|()| text(Field::Reason, reason)),
            OperCommand::Unkline(mask) => limits.check(Field::BanMask, mask),
            OperCommand::Wallops(_)
            | OperCommand::Klines
            | OperCommand::Unsuspend(_)
            | OperCommand::Suspensions
            | OperCommand::Lockdown(_) => Ok(()),
        }
    }

    /// A name as the hub spells it now, or as given if unknown.
    fn display(&self, nick: &Nick) -> Nick {
        match self.by_nick.get(&nick.key()) {
            Some(id) => self.users[id].nick().clone(),
            None => nick.clone(),
        }
    }

    /// Whether `key` is a registered account's name.
    fn is_registered(&mut self, key: &NickKey) -> Result<bool, ChatError> {
        if let Some(id) = self.by_nick.get(key)
            && self.users[id].account.is_some()
        {
            return Ok(true);
        }
        match &mut self.store {
            Some(store) => Ok(store.account(key).map_err(ChatError::from)?.is_some()),
            None => Ok(false),
        }
    }

    fn take_user_id(&mut self) -> UserId {
        let uid = self.next_user;
        self.next_user = uid.checked_add(1).expect("fewer than 2^64 users");
        uid
    }

    fn new_user(&mut self, nick: Nick, account: Option<AccountId>, now: Timestamp) -> UserId {
        let uid = self.take_user_id();
        self.by_nick.insert(nick.key(), uid);
        self.users
            .insert(uid, Box::new(User::new(nick, account, now)));
        uid
    }

    /// Refuses a name reserved for the server.
    fn check_reserved(&self, nick: &Nick) -> Result<(), ChatError> {
        if crate::names::is_reserved(nick) || self.config.reserved.contains(&nick.key()) {
            return Err(ChatError::NickReserved(nick.clone()));
        }
        Ok(())
    }

    // The first name of a session, as a guest.
    fn login(&mut self, sid: SessionId, nick: Nick, now: Timestamp) -> Result<(), ChatError> {
        if self.sessions[&sid].user.is_some() {
            return Err(ChatError::AlreadyLoggedIn);
        }
        self.check_reserved(&nick)?;
        let key = nick.key();
        if self.is_registered(&key)? {
            return Err(ChatError::NickRegistered(nick));
        }
        if !self.config.allow_guests {
            return Err(ChatError::GuestsNotAllowed);
        }
        let uid = match self.by_nick.get(&key) {
            Some(&uid) if self.users[&uid].online() => return Err(ChatError::NickInUse(nick)),
            Some(&uid) => {
                // A guest name that is offline: this session takes it (and
                // the messages kept for it), in the spelling asked for.
                let user = self.users.get_mut(&uid).expect("indexed");
                user.set(|a| a.nick = nick);
                uid
            }
            None => self.new_user(nick, None, now),
        };
        self.attach(sid, uid, now)
    }

    // A session of a registered account; the door checked the password.
    fn login_account(
        &mut self,
        sid: SessionId,
        account: Account,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        if self.sessions[&sid].user.is_some() {
            return Err(ChatError::AlreadyLoggedIn);
        }
        let uid = match self.by_nick.get(&account.name.key()) {
            Some(&uid) if self.users[&uid].account == Some(account.id) => uid,
            None => {
                let uid = self.new_user(account.name.clone(), Some(account.id), now);
                self.users.get_mut(&uid).expect("new").account_since = account.created;
                uid
            }
            Some(&uid) if self.users[&uid].online() => {
                // A guest who had the name before it was registered.
                return Err(ChatError::NickInUse(account.name));
            }
            Some(&uid) => {
                // An offline guest of that name: the account takes it over.
                let user = self.users.get_mut(&uid).expect("indexed");
                user.set(|a| a.nick = account.name.clone());
                self.make_registered(uid, &account);
                uid
            }
        };
        self.attach(sid, uid, now)
    }

    // A guest session logs in to an account (IRC's NickServ IDENTIFY):
    // the guest leaves, the account arrives.
    fn identify(
        &mut self,
        sid: SessionId,
        account: Account,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let Some(uid) = self.sessions[&sid].user else {
            return self.login_account(sid, account, now);
        };
        let user = &self.users[&uid];
        if user.account.is_some() {
            return Err(ChatError::AlreadyIdentified(user.nick().clone()));
        }
        if let Some(&other) = self.by_nick.get(&account.name.key())
            && other != uid
            && self.users[&other].account != Some(account.id)
            && self.users[&other].online()
        {
            return Err(ChatError::NickInUse(account.name));
        }
        self.sessions.get_mut(&sid).expect("live").user = None;
        // The guest name is free again (forgotten unless it holds kept
        // messages).
        self.detach(sid, uid, &format!("Identified as {}", account.name), now);
        let session = self.sessions.get_mut(&sid).expect("live");
        session.room = None;
        session.set_private(None);
        self.login_account(sid, account, now)
    }

    /// Binds session `sid` to user `uid`: welcome, messages kept, and the
    /// user's rooms (or the default room).
    fn attach(&mut self, sid: SessionId, uid: UserId, now: Timestamp) -> Result<(), ChatError> {
        let session = self.sessions.get_mut(&sid).expect("live");
        session.user = Some(uid);
        let info = session.info.clone();
        let user = self.users.get_mut(&uid).expect("live");
        let coming_online = !user.online();
        if coming_online {
            self.online += 1;
            // The first session says who the user is to others.
            // What the door says of the client passes the input rules,
            // or the nick stands in for it.
            let limits = &self.config.input;
            let ident = info
                .ident
                .filter(|i| limits.check(Field::Key, i).is_ok() && i.len() <= IDENT_LEN);
            let realname = info
                .realname
                .filter(|r| limits.check(Field::Realname, r).is_ok());
            user.set(|a| {
                a.ident = ident.unwrap_or_else(|| a.nick.as_str().into());
                a.realname = realname.unwrap_or_else(|| a.nick.as_str().into());
                a.host = info.host;
            });
            user.signon = now;
            user.last_active = now;
            user.set_away(None);
            // User modes are the connection's: a new one starts visible.
            user.invisible = false;
        }
        // Room for one: most users have one session (a Vec's first growth
        // makes room for four).
        if user.sessions.capacity() == 0 {
            user.sessions.reserve_exact(1);
        }
        user.sessions.push(sid);
        self.attached += 1;
        let account = user.account.map(|_| user.nick().key());
        self.sessions[&sid].account(account.as_ref());
        let nick = user.nick().clone();
        let rooms = user.rooms.clone();
        let actor = user.actor.clone();
        let online = self.online;
        self.max_users = self.max_users.max(online);
        self.reply(
            sid,
            now,
            Event::Welcome {
                nick: nick.clone(),
                online,
            },
        );
        if coming_online {
            self.start_kept(uid, now)?;
        }
        if rooms.is_empty() {
            if let Some(room) = self.config.default_room.clone()
                && info.auto_join
            {
                self.join(sid, uid, room, None, now)?;
            }
            return Ok(());
        }
        // A registered user back in the rooms they never left.
        for key in &rooms {
            let room = &self.rooms[key];
            let joined = Envelope::by(
                now,
                Event::Joined {
                    room: room.name.clone(),
                    nick: nick.clone(),
                },
                &actor,
            );
            if coming_online {
                for id in &room.members {
                    self.staged.user(&self.users[id], &joined);
                }
            } else {
                self.staged.push(sid, joined);
            }
            let marker = self.marker_event(uid, Target::Room(room.name.clone()));
            self.reply(sid, now, marker);
            self.room_intro(sid, key.clone(), now)?;
        }
        self.sessions.get_mut(&sid).expect("live").room = rooms.last().cloned();
        Ok(())
    }

    /// What a session is shown on entering a room: topic, members, history.
    fn room_intro(
        &mut self,
        sid: SessionId,
        key: RoomKey,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let room = &self.rooms[&key];
        if room.topic.is_some() {
            let ev = Event::TopicIs {
                room: room.name.clone(),
                topic: room.topic.clone(),
            };
            self.reply(sid, now, ev);
        }
        let name = self.rooms[&key].name.clone();
        self.members(sid, Some(name.clone()), now)?;
        let n = self.config.history_on_join;
        // A member whom a ban matches (rejoining at login) reads no history.
        let banned = self.sessions[&sid]
            .user
            .is_some_and(|u| self.bans_reader(&self.rooms[&key], u));
        let uid = self.sessions[&sid].user;
        if let Some(uid) = uid.filter(|_| n > 0 && self.store.is_some() && !banned) {
            let query = ReadQuery::Window(Conversation::Room(key), HistoryQuery::before(None, n));
            let answer = Answer::JoinHistory(Target::Room(name));
            self.read(sid, uid, query, answer, now)?;
        }
        Ok(())
    }

    /// Tells a user coming online how many messages were kept for it,
    /// and hands it the first page of them.
    fn start_kept(&mut self, uid: UserId, now: Timestamp) -> Result<(), ChatError> {
        let user = &self.users[&uid];
        if user.kept > 0
            && let Some(&sid) = user.sessions.first()
        {
            let count = user.kept;
            self.reply(sid, now, Event::OfflineMessages { count });
        }
        self.next_page(uid, now)
    }

    /// Hands the next page of the messages kept for `uid` to one of its
    /// sessions, unless a page is out (the next waits until the door says
    /// that one was taken: [`Hub::stage_kept_taken`]) or nothing is kept.
    /// The page stays kept (in the store) until then, so a session that
    /// ends mid-delivery leaves it for the next.
    fn next_page(&mut self, uid: UserId, now: Timestamp) -> Result<(), ChatError> {
        let user = &self.users[&uid];
        if user.kept == 0 || user.page().is_some() {
            return Ok(());
        }
        let Some(&sid) = user.sessions.first() else {
            return Ok(());
        };
        let limit = self.config.offline_page.max(1);
        let page: Vec<Message> = if self.store.is_some() {
            let to = user.kept_for();
            self.commit_ops(now);
            self.store()?.pending(&to, limit).map_err(ChatError::from)?
        } else {
            user.rare().kept_mem.iter().take(limit).cloned().collect()
        };
        let user = self.users.get_mut(&uid).expect("live");
        let Some(upto) = page.last().map(|m| m.id) else {
            // The count was off: nothing is kept after all.
            user.kept = 0;
            return Ok(());
        };
        user.rare_mut().page = Some(Page {
            sid,
            upto,
            count: page.len(),
        });
        for msg in page {
            let d = Envelope::new(msg.time, Event::Message { msg, offline: true });
            self.staged.push(sid, d);
        }
        self.reply(sid, now, Event::KeptPageEnd { upto });
        Ok(())
    }

    /// The door of `sid` says its client took the page of kept messages
    /// that ends with `upto` ([`Event::KeptPageEnd`]): they are delivered
    /// (in the store as part of the batch) and the next page goes out. A
    /// stale or unknown page is ignored.
    pub fn stage_kept_taken(&mut self, sid: SessionId, upto: MsgId, now: Timestamp) {
        let Some(uid) = self.sessions.get(&sid).and_then(|s| s.user) else {
            return;
        };
        let user = self.users.get_mut(&uid).expect("live");
        let Some(page) = user.page().filter(|p| p.sid == sid && p.upto == upto) else {
            return;
        };
        user.kept = user.kept.saturating_sub(page.count);
        let rare = user.rare_mut();
        rare.page = None;
        rare.kept_mem.retain(|m| m.id > upto);
        user.tidy();
        let to = user.kept_for();
        self.op(Op::Delivered { to, upto });
        if let Err(e) = self.next_page(uid, now) {
            self.refuse(sid, now, e);
        }
    }

    /// How many messages are kept for the user called `nick`, if it is
    /// known (for tests and operators).
    pub fn kept_count(&self, nick: &Nick) -> Option<usize> {
        let uid = self.by_nick.get(&nick.key())?;
        Some(self.users[uid].kept)
    }

    // /passwd, NickServ PASSWD, WebSocket passwd: the door checked the
    // old password of `name` and hashed the new one.
    fn set_password(
        &mut self,
        sid: SessionId,
        uid: UserId,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let user = &self.users[&uid];
        if user.account.is_none() || user.nick().key() != *name {
            return Err(ChatError::NotAnAccount);
        }
        self.store()?
            .set_password(name, password_hash, now)
            .map_err(ChatError::from)?;
        let text = "your password is changed; every login token issued before now is revoked";
        self.reply(sid, now, Event::ServerNotice(text.into()));
        Ok(())
    }

    // /register PASSWORD
    fn register(
        &mut self,
        sid: SessionId,
        uid: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let user = &self.users[&uid];
        if user.account.is_some() {
            return Err(ChatError::AlreadyRegistered(user.nick().clone()));
        }
        let nick = user.nick().clone();
        // A guest could hold a name reserved since it logged in.
        self.check_reserved(&nick)?;
        self.commit_ops(now);
        let account = match self.store()?.create_account(&nick, password_hash, now) {
            Ok(a) => a,
            Err(StoreError::NameTaken(n)) => return Err(ChatError::NickRegistered(n)),
            Err(e) => return Err(ChatError::from(e)),
        };
        self.make_registered(uid, &account);
        self.reply(sid, now, Event::Registered { nick: nick.clone() });
        let d = Envelope::by(now, Event::AccountChanged { nick }, &self.users[&uid].actor);
        let mut audience = self.audience(uid);
        audience.remove(&uid);
        for id in audience {
            self.staged.user(&self.users[&id], &d);
        }
        Ok(())
    }

    /// Binds user `uid` to `account` and persists what the user already
    /// has (rooms, ignores) as the account's.
    fn make_registered(&mut self, uid: UserId, account: &Account) {
        let user = self.users.get_mut(&uid).expect("live");
        let was = user.kept_for();
        user.account = Some(account.id);
        user.account_since = account.created;
        user.refresh();
        if user.kept > 0 {
            // What was kept for the guest name is the account's now (a
            // page out stays valid: these are all the account has).
            let to = user.kept_for();
            self.op(Op::MoveKept { from: was, to });
        }
        let user = &self.users[&uid];
        let key = user.nick().key();
        for sid in &user.sessions {
            self.sessions[sid].account(Some(&key));
        }
        let rooms: Vec<RoomName> = user
            .rooms
            .iter()
            .map(|k| self.rooms[k].name.clone())
            .collect();
        let ignores: Vec<NickKey> = user.rare().ignores.iter().cloned().collect();
        let markers: Vec<(Target, Marker)> = user.rare().markers.values().cloned().collect();
        for (target, marker) in markers {
            self.op(Op::ReadMarker {
                account: account.id,
                target,
                marker,
            });
        }
        for room in rooms {
            let key = room.key();
            self.op(Op::Join {
                account: account.id,
                room,
            });
            let status = self.rooms[&key].status(uid);
            if status != Status::default() {
                self.op(Op::Status {
                    account: account.id,
                    room: key,
                    status,
                });
            }
        }
        for nick in ignores {
            self.op(Op::Ignore {
                account: account.id,
                nick,
            });
        }
    }

    // /nick NAME
    fn change_nick(&mut self, uid: UserId, nick: Nick, now: Timestamp) -> Result<(), ChatError> {
        let user = &self.users[&uid];
        let old = user.nick().clone();
        if user.account.is_some() {
            return Err(ChatError::AccountNameFixed(old));
        }
        if old == nick {
            return Ok(());
        }
        let (old_key, key) = (old.key(), nick.key());
        let renamed = key != old_key;
        let mut inherited = None;
        if renamed {
            self.check_reserved(&nick)?;
            if self.is_registered(&key)? {
                return Err(ChatError::NickRegistered(nick));
            }
            if let Some(&other) = self.by_nick.get(&key) {
                if self.users[&other].online() {
                    return Err(ChatError::NickInUse(nick));
                }
                // An offline guest name is free to take, with what was kept
                // for it.
                let gone = self.users.remove(&other).expect("indexed");
                inherited = Some((gone.kept, gone.rare.map(|r| r.kept_mem)));
            }
            self.by_nick.remove(&old_key);
            self.by_nick.insert(key.clone(), uid);
            if self.users[&uid].kept > 0 {
                // Still taking its own: they follow the name.
                self.op(Op::MoveKept {
                    from: KeptFor::Guest(old_key),
                    to: KeptFor::Guest(key),
                });
            }
        }
        let user = self.users.get_mut(&uid).expect("live");
        let before = user.actor.clone();
        user.set(|a| a.nick = nick.clone());
        if renamed {
            self.resort_member(uid);
        }
        let d = Envelope::by(now, Event::NickChanged { old, new: nick }, &before);
        for id in self.audience(uid) {
            self.staged.user(&self.users[&id], &d);
        }
        match inherited {
            Some((count, mem)) if count > 0 => {
                let user = self.users.get_mut(&uid).expect("live");
                user.kept += count;
                let rare = user.rare_mut();
                rare.kept_mem.extend(mem.into_iter().flatten());
                rare.kept_mem.make_contiguous().sort_by_key(|m| m.id);
                // A page out may now end past messages not in it: it is
                // handed out again from the oldest.
                rare.page = None;
                user.tidy();
                if let Some(&sid) = user.sessions.first() {
                    self.reply(sid, now, Event::OfflineMessages { count });
                }
                self.next_page(uid, now)
            }
            _ => Ok(()),
        }
    }

    /// Moves `uid` to its new nick's place in each of its rooms' member
    /// lists.
    fn resort_member(&mut self, uid: UserId) {
        for key in &self.users[&uid].rooms {
            if let Some(room) = self.rooms.get_mut(key) {
                room.members.retain(|&m| m != uid);
                room.add_member(uid, &self.users);
            }
        }
    }

    /// `uid` and everyone who shares a room with them.
    fn audience(&self, uid: UserId) -> IdSet<UserId> {
        let mut ids = IdSet::default();
        ids.insert(uid);
        for key in &self.users[&uid].rooms {
            ids.extend(self.rooms[key].members.iter().copied());
        }
        ids
    }

    // /join #room [key]
    fn join(
        &mut self,
        sid: SessionId,
        uid: UserId,
        name: RoomName,
        key_given: Option<String>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = name.key();
        let user = self.users.get_mut(&uid).expect("live");
        if user.rooms.contains(&key) {
            let session = self.sessions.get_mut(&sid).expect("live");
            session.room = Some(key);
            session.set_private(None);
            self.reply_target(sid, now);
            return Ok(());
        }
        if user.rooms.len() >= self.config.max_rooms_per_user {
            return Err(ChatError::TooManyRooms(user.rooms.len()));
        }
        let account = user.account;
        if self.rooms.contains_key(&key) {
            self.may_join(uid, &key, key_given.as_deref())?;
        } else {
            let topic = match &mut self.store {
                Some(store) => store.topic(&key).map_err(ChatError::from)?,
                None => None,
            };
            let modes = self.config.default_modes.clone();
            let room = Room::new(name, topic, modes, now);
            self.rooms.insert(key.clone(), room);
        }
        self.users
            .get_mut(&uid)
            .expect("live")
            .rooms
            .push(key.clone());
        let user = &self.users[&uid];
        let room = self.rooms.get_mut(&key).expect("inserted");
        room.add_member(uid, &self.users);
        room.invited.remove(&uid);
        // The first one in a room runs it.
        if room.members.len() == 1 {
            room.ops.insert(uid);
        }
        // Every session of the user now has a room to talk to; the one that
        // asked makes it its current target.
        for &s in &user.sessions {
            let session = self.sessions.get_mut(&s).expect("live");
            if s == sid {
                session.room = Some(key.clone());
                session.set_private(None);
            } else if session.room.is_none() {
                session.room = Some(key.clone());
            }
        }
        let joined = Envelope::by(
            now,
            Event::Joined {
                room: room.name.clone(),
                nick: user.nick().clone(),
            },
            &user.actor,
        );
        for id in &room.members {
            self.staged.user(&self.users[id], &joined);
        }
        // An away user's new company learns it right after the join
        // (IRCv3 away-notify: AWAY after JOIN); those who share another
        // room with the user were told when it went away.
        let user = &self.users[&uid];
        if let Some(away) = user.away() {
            let ev = Event::AwayChanged {
                nick: user.nick().clone(),
                away: Some(away.clone()),
            };
            let away = Envelope::by(now, ev, &user.actor);
            let shared_before = |other: &User| {
                let mut rooms = other.rooms.iter().filter(|&r| *r != key);
                rooms.any(|r| user.rooms.contains(r))
            };
            for id in room.members.iter().filter(|&&id| id != uid) {
                let member = &self.users[id];
                if !shared_before(member) {
                    self.staged.user(member, &away);
                }
            }
        }
        // Each session that saw the join learns where reading stopped.
        let name = room.name.clone();
        let marker = self.marker_event(uid, Target::Room(name));
        let marker = Envelope::new(now, marker);
        self.staged.user(&self.users[&uid], &marker);
        let creator = self.rooms[&key].members.len() == 1;
        if creator {
            // A room made anew: what was stored of an earlier one is gone.
            let settings = self.settings(&key);
            self.op(Op::Settings(settings));
        }
        if let Some(account) = account {
            let room = self.rooms[&key].name.clone();
            self.op(Op::Join { account, room });
            if creator {
                let status = self.rooms[&key].status(uid);
                self.op(Op::Status {
                    account,
                    room: key.clone(),
                    status,
                });
            }
        }
        self.room_intro(sid, key, now)
    }

    /// Whether `uid` may enter an existing room: not banned, invited if
    /// it is invite-only, with the key if it has one, room to spare.
    fn may_join(&self, uid: UserId, key: &RoomKey, given: Option<&str>) -> Result<(), ChatError> {
        let room = &self.rooms[key];
        let invited = room.invited.contains(&uid);
        let name = || room.name.clone();
        if !invited && self.is_banned(room, uid) {
            return Err(ChatError::Banned(name()));
        }
        if room.modes.invite_only && !invited {
            return Err(ChatError::InviteOnly(name()));
        }
        if let Some(k) = &room.modes.key
            && given != Some(k.as_str())
        {
            return Err(ChatError::BadKey(name()));
        }
        if let Some(limit) = room.modes.limit
            && self.online_members(room) >= limit
            && !invited
        {
            return Err(ChatError::RoomFull(name()));
        }
        Ok(())
    }

    // /part [#room] [reason]
    fn part(
        &mut self,
        sid: SessionId,
        uid: UserId,
        room: Option<RoomName>,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.member_room_arg(sid, uid, room)?;
        let room = &self.rooms[&key];
        let user = &self.users[&uid];
        let parted = Envelope::by(
            now,
            Event::Parted {
                room: room.name.clone(),
                nick: user.nick().clone(),
                reason,
            },
            &user.actor,
        );
        for id in &room.members {
            self.staged.user(&self.users[id], &parted);
        }
        self.leave_room(uid, &key, now);
        Ok(())
    }

    /// Takes `uid` out of room `key` (after the room was told): the
    /// membership, its persistence, and the sessions' current room.
    fn leave_room(&mut self, uid: UserId, key: &RoomKey, now: Timestamp) {
        let room = self.rooms.get_mut(key).expect("member of it");
        room.remove_member(uid);
        if room.members.is_empty() {
            self.rooms.remove(key);
        }
        let user = self.users.get_mut(&uid).expect("live");
        user.rooms.retain(|k| k != key);
        let fallback = user.rooms.last().cloned();
        let sessions = user.sessions.clone();
        if let Some(account) = user.account {
            self.op(Op::Part {
                account,
                room: key.clone(),
            });
        }
        for s in sessions {
            let session = self.sessions.get_mut(&s).expect("live");
            if session.room.as_ref() == Some(key) {
                session.room = fallback.clone();
                if session.private().is_none() {
                    self.reply_target(s, now);
                }
            }
        }
    }

    /// Members of a room who are online.
    fn online_members(&self, room: &Room) -> usize {
        room.members
            .iter()
            .filter(|id| self.users[id].online())
            .count()
    }

    // /rooms, LIST: secret rooms only to their members.
    fn rooms_list(&mut self, sid: SessionId, now: Timestamp) {
        let me = self.sessions[&sid].user;
        let rooms = self.room_infos(|r| r.seen_by(me));
        self.reply(sid, now, Event::Rooms(rooms));
    }

    /// The rooms that pass `show`, by name, with their online members.
    fn room_infos(&self, show: impl Fn(&Room) -> bool) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .values()
            .filter(|r| show(r))
            .map(|r| RoomInfo {
                name: r.name.clone(),
                members: self.online_members(r),
                topic: r.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        rooms.sort_by_cached_key(|r| r.name.key());
        rooms
    }

    // /list [#room]: who is there now.
    fn members(
        &mut self,
        sid: SessionId,
        room: Option<RoomName>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.room_arg(sid, room)?;
        let room = &self.rooms[&key];
        // Invisible members only to those in the room.
        let inside = self.sessions[&sid]
            .user
            .is_some_and(|me| room.members.contains(&me));
        let members: Vec<Member> = room
            .members
            .iter()
            .map(|id| (id, &self.users[id]))
            .filter(|(_, u)| u.online() && (inside || !u.invisible))
            .map(|(id, u)| Member {
                who: u.actor.clone(),
                status: room.status(*id),
                away: u.away().is_some(),
                oper: self.is_oper_user(u),
            })
            .collect();
        debug_assert!(
            members.is_sorted_by(|a, b| a.who.nick.cmp_key(&b.who.nick).is_le()),
            "a member list out of order"
        );
        let ev = Event::Members {
            room: room.name.clone(),
            members,
            secret: room.modes.secret,
        };
        self.reply(sid, now, ev);
        Ok(())
    }

    // /users
    fn users_list(&mut self, sid: SessionId, now: Timestamp) {
        let users = self.user_infos();
        self.reply(sid, now, Event::Users(users));
    }

    /// Every known user, online or not, by name: the users, and the
    /// guests who left recently (as many as WHOWAS remembers).
    fn user_infos(&self) -> Vec<UserInfo> {
        let mut users: Vec<UserInfo> = self
            .users
            .values()
            .map(|u| UserInfo {
                nick: u.nick().clone(),
                online: u.online(),
                last_seen: (!u.online()).then_some(u.last_seen),
            })
            .collect();
        let mut gone = HashSet::new();
        for d in self.departed.iter().rev() {
            let key = d.who.nick.key();
            if !d.who.account && !self.by_nick.contains_key(&key) && gone.insert(key) {
                users.push(UserInfo {
                    nick: d.who.nick.clone(),
                    online: false,
                    last_seen: Some(d.time),
                });
            }
        }
        users.sort_by(|a, b| a.nick.cmp_key(&b.nick));
        users
    }

    // /msg [@nick|#room] text, /me text, plain text
    fn send(
        &mut self,
        sid: SessionId,
        uid: UserId,
        to: Option<Target>,
        draft: Draft,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let Draft { kind, text, tags } = draft;
        let target = match to {
            Some(t) => t,
            None => self.target_of(sid).ok_or(ChatError::NoTarget)?,
        };
        let sender = self.users.get_mut(&uid).expect("live");
        sender.last_active = now;
        let from = sender.nick().clone();
        let actor = sender.actor.clone();
        let from_key = from.key();
        let id = MsgId(self.next_msg);
        // A recipient who is offline gets it kept in the store.
        let mut keep_for = None;
        let msg = match target {
            Target::Room(name) => {
                let key = self.sendable_room(uid, name)?;
                self.next_msg += 1;
                let room = &self.rooms[&key];
                let msg = Message {
                    id,
                    time: now,
                    from,
                    to: Target::Room(room.name.clone()),
                    kind,
                    text,
                    tags,
                };
                let d = Envelope::by(
                    now,
                    Event::Message {
                        msg: msg.clone(),
                        offline: false,
                    },
                    &actor,
                );
                self.stage_to_room(&key, uid, &from_key, &d);
                msg
            }
            Target::User(nick) => {
                let tid = self.recipient_id(&nick)?;
                let recipient = &self.users[&tid];
                let msg = Message {
                    id,
                    time: now,
                    from,
                    to: Target::User(recipient.nick().clone()),
                    kind,
                    text,
                    tags,
                };
                let ignored = recipient.ignores(&from_key);
                let offline = !recipient.online();
                let guest = recipient.account.is_none();
                if offline && guest && !self.config.keep_for_guests {
                    return Err(ChatError::GuestNotKept(recipient.nick().clone()));
                }
                if offline && recipient.kept >= self.config.offline_queue {
                    return Err(ChatError::OfflineQueueFull(recipient.nick().clone()));
                }
                self.next_msg += 1;
                let d = Envelope::by(
                    now,
                    Event::Message {
                        msg: msg.clone(),
                        offline: false,
                    },
                    &actor,
                );
                if tid != uid {
                    // The sender's own sessions see what they sent.
                    self.staged.user(&self.users[&uid], &d);
                }
                let recipient_nick = recipient.nick().clone();
                // Someone ignoring the sender is not told, and the sender
                // cannot tell: the message seems delivered or kept.
                if offline {
                    if !ignored {
                        let r = self.users.get_mut(&tid).expect("live");
                        r.kept += 1;
                        if self.store.is_some() {
                            keep_for = Some(r.kept_for());
                        } else {
                            r.rare_mut().kept_mem.push_back(msg.clone());
                        }
                    }
                    let ev = Event::KeptForOffline {
                        nick: recipient_nick,
                        guest,
                    };
                    self.reply(sid, now, ev);
                } else {
                    if !ignored {
                        self.staged.user(&self.users[&tid], &d);
                    }
                    if let Some(away) = self.users[&tid].away().cloned()
                        && kind != MsgKind::Notice
                    {
                        self.reply(
                            sid,
                            now,
                            Event::IsAway {
                                nick: recipient_nick,
                                away,
                            },
                        );
                    }
                }
                msg
            }
        };
        if self.store.is_some() {
            self.ops.push(Op::Message(msg.clone()));
            if let Some(to) = keep_for {
                self.ops.push(Op::Pending { to, msg: id });
            }
            let origin = self.staged.origin.unwrap_or(Origin { sid, req: 0 });
            self.unsaved.push((id, origin));
        }
        if self.sessionless(sid) {
            // A caller with no session of the user's reads what it sent
            // in its reply (as the user's sessions do).
            let ev = Event::Message {
                msg: msg.clone(),
                offline: false,
            };
            self.reply(sid, now, ev);
        }
        self.counters.messages += 1;
        self.journal.push(Journal::Message(msg));
        Ok(())
    }

    /// Stages `d`, from `uid` (whose name's key is `from`), for the room
    /// `key`: every member but those ignoring the sender, and the
    /// sender's sessions when it is not in the room (sending from outside
    /// a room without `+n`).
    fn stage_to_room(&mut self, key: &RoomKey, uid: UserId, from: &NickKey, d: &Delivery) {
        let room = &self.rooms[key];
        for mid in &room.members {
            let member = &self.users[mid];
            if !member.ignores(from) {
                self.staged.user(member, d);
            }
        }
        if !room.members.contains(&uid) {
            self.staged.user(&self.users[&uid], d);
        }
    }

    // /history [n]: earlier messages of the current target.
    fn history(
        &mut self,
        sid: SessionId,
        uid: UserId,
        limit: usize,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        self.store()?;
        let target = self.target_of(sid).ok_or(ChatError::NoTarget)?;
        let conversation = match &target {
            Target::Room(name) => Conversation::Room(self.history_room(uid, name, false)?),
            Target::User(nick) => {
                let me = &self.users[&uid];
                if me.account.is_none() {
                    return Err(ChatError::GuestsNoPrivateHistory);
                }
                Conversation::Private(me.nick().key(), nick.key())
            }
        };
        let limit = limit.clamp(1, self.config.max_history);
        let query = ReadQuery::Window(conversation, HistoryQuery::before(None, limit));
        self.read(sid, uid, query, Answer::History(target), now)
    }

    /// Answers `sid` with a read of the store on behalf of `uid`: here and
    /// now, or, with [`HubConfig::offload_reads`], as an [`Event::Read`]
    /// for the server to run after the batch commits.
    pub(super) fn read(
        &mut self,
        sid: SessionId,
        uid: UserId,
        query: ReadQuery,
        answer: Answer,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let read = self.describe_read(uid, query, answer)?;
        if self.config.offload_reads {
            // Run by the pool once the batch commits: it sees the batch.
            self.reply(sid, now, Event::Read(Box::new(read)));
            return Ok(());
        }
        // What this batch staged must be readable: the answer then holds
        // everything up to this point, and later messages come live.
        self.commit_ops(now);
        match read.run(self.store()?.as_mut()) {
            Some(Event::Error(e)) => return Err(e),
            Some(event) => self.reply(sid, now, event),
            None => {}
        }
        Ok(())
    }

    /// `query` as `uid` may read it now, to run here or elsewhere.
    pub(super) fn describe_read(
        &mut self,
        uid: UserId,
        query: ReadQuery,
        answer: Answer,
    ) -> Result<Read, ChatError> {
        self.store()?;
        let me = &self.users[&uid];
        Ok(Read {
            query,
            upto: MsgId(self.next_msg.saturating_sub(1)),
            ignores: me.rare().ignores.iter().cloned().collect(),
            private_since: me.account_since,
            answer,
        })
    }

    /// Runs `read` on the hub's own store, after committing the batch so
    /// far (for callers without a read pool).
    pub fn run_read(&mut self, read: &Read, now: Timestamp) -> Option<Event> {
        self.commit_ops(now);
        match self.store() {
            Ok(store) => read.run(store.as_mut()),
            Err(e) => Some(Event::Error(e)),
        }
    }

    // /search words: what this user may see (of one room, when given).
    fn search(
        &mut self,
        sid: SessionId,
        uid: UserId,
        query: Text,
        room: Option<RoomName>,
        limit: usize,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let who = match room {
            None => self.visibility(uid),
            Some(room) => Visibility {
                rooms: vec![self.history_room(uid, &room, self.sessionless(sid))?],
                private: None,
                private_since: Timestamp::default(),
            },
        };
        let query = ReadQuery::Search {
            who,
            text: query.as_str().to_owned(),
            limit: limit.clamp(1, self.config.max_history),
        };
        self.read(sid, uid, query, Answer::Search, now)
    }

    /// What `uid` may read of the store: its rooms' messages (but for
    /// rooms that ban it: [`Hub::history_room`]), and its private ones if
    /// it is registered.
    fn visibility(&self, uid: UserId) -> Visibility {
        let me = &self.users[&uid];
        Visibility {
            rooms: me
                .rooms
                .iter()
                .filter(|k| self.rooms.get(k).is_none_or(|r| !self.bans_reader(r, uid)))
                .cloned()
                .collect(),
            private: me.account.map(|_| me.nick().key()),
            private_since: me.account_since,
        }
    }

    /// Of stored messages, those `uid` may see: not from names they
    /// ignore, and no private ones from before their account existed.
    fn visible(&self, uid: UserId, messages: Vec<Message>) -> Vec<Message> {
        let me = &self.users[&uid];
        messages
            .into_iter()
            .filter(|m| !me.ignores(&m.from.key()))
            .filter(|m| matches!(m.to, Target::Room(_)) || m.time >= me.account_since)
            .collect()
    }

    // /topic [text]
    fn set_topic(
        &mut self,
        sid: SessionId,
        uid: UserId,
        room: Option<RoomName>,
        topic: Option<Text>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.member_room_arg(sid, uid, room)?;
        let by = self.users[&uid].nick().clone();
        let actor = self.users[&uid].actor.clone();
        let room = self.rooms.get_mut(&key).expect("member of it");
        if room.modes.topic_ops_only && !room.ops.contains(&uid) {
            return Err(ChatError::NotOperator(room.name.clone()));
        }
        room.topic = topic.clone().map(|text| Topic {
            text,
            by: by.clone(),
            time: now,
        });
        let d = Envelope::by(
            now,
            Event::TopicChanged {
                room: room.name.clone(),
                by,
                topic,
            },
            &actor,
        );
        for id in &room.members {
            self.staged.user(&self.users[id], &d);
        }
        let op = Op::Topic {
            room: room.name.clone(),
            topic: room.topic.clone(),
        };
        self.op(op);
        Ok(())
    }

    /// The session's current target: its private conversation, else its
    /// current room.
    fn target_of(&self, sid: SessionId) -> Option<Target> {
        let s = &self.sessions[&sid];
        if let Some((id, nick)) = s.private() {
            let nick = self.users.get(id).map_or(nick, |u| u.nick());
            return Some(Target::User(nick.clone()));
        }
        s.room
            .as_ref()
            .and_then(|k| self.rooms.get(k))
            .map(|r| Target::Room(r.name.clone()))
    }

    fn reply_target(&mut self, sid: SessionId, now: Timestamp) {
        let target = self.target_of(sid);
        self.reply(sid, now, Event::TargetChanged(target));
    }

    fn user_id(&self, nick: &Nick) -> Result<UserId, ChatError> {
        self.by_nick
            .get(&nick.key())
            .copied()
            .ok_or_else(|| ChatError::NoSuchUser(nick.clone()))
    }

    /// The user a private message to `nick` goes to. A guest who left
    /// holding nothing was forgotten but for WHOWAS; when the name is
    /// still remembered there, it is known again (offline, for messages
    /// to be kept for whoever next uses the name) unless guests get
    /// nothing kept.
    fn recipient_id(&mut self, nick: &Nick) -> Result<UserId, ChatError> {
        let key = nick.key();
        if let Some(&uid) = self.by_nick.get(&key) {
            return Ok(uid);
        }
        if let Some(uid) = self.adopt_account(&key)? {
            return Ok(uid);
        }
        let Some((name, left)) = self.departed_guest(&key) else {
            return Err(ChatError::NoSuchUser(nick.clone()));
        };
        if !self.config.keep_for_guests {
            return Err(ChatError::GuestNotKept(name));
        }
        if self.is_registered(&key)? {
            return Err(ChatError::NoSuchUser(nick.clone()));
        }
        Ok(self.new_user(name, None, left))
    }

    /// The user of account `key`, which the hub may not know yet: an
    /// account made while the server runs (`confab user add`, straight
    /// into the store) is looked up and known from then on. `None` when
    /// there is no such account, or an online guest holds the name.
    pub fn adopt_account(&mut self, key: &NickKey) -> Result<Option<UserId>, ChatError> {
        let known = self.by_nick.get(key).copied();
        if let Some(uid) = known
            && (self.users[&uid].account.is_some() || self.users[&uid].online())
        {
            return Ok(self.users[&uid].account.map(|_| uid));
        }
        let Some(store) = self.store.as_mut() else {
            return Ok(None);
        };
        let Some(account) = store.account(key).map_err(ChatError::from)? else {
            return Ok(None);
        };
        let uid = match known {
            // Never seen online: as of its creation.
            None => self.new_user(account.name.clone(), Some(account.id), account.created),
            Some(uid) => {
                // An offline guest of that name: the account takes it over.
                let user = self.users.get_mut(&uid).expect("indexed");
                user.set(|a| a.nick = account.name.clone());
                uid
            }
        };
        self.make_registered(uid, &account);
        Ok(Some(uid))
    }

    /// The latest guest who went by `key` and left, if WHOWAS remembers
    /// one: its name and when it left.
    fn departed_guest(&self, key: &NickKey) -> Option<(Nick, Timestamp)> {
        self.departed
            .iter()
            .rev()
            .find(|d| !d.who.account && d.who.nick.key() == *key)
            .map(|d| (d.who.nick.clone(), d.time))
    }

    /// The room named, or the session's current room; it must exist.
    fn room_arg(&self, sid: SessionId, room: Option<RoomName>) -> Result<RoomKey, ChatError> {
        match room {
            Some(name) => self.existing_room(self.sessions[&sid].user, name),
            None => self.sessions[&sid].room.clone().ok_or(ChatError::NoRoom),
        }
    }

    /// Like [`Hub::room_arg`], and the user must be a member.
    fn member_room_arg(
        &self,
        sid: SessionId,
        uid: UserId,
        room: Option<RoomName>,
    ) -> Result<RoomKey, ChatError> {
        let named = room.clone();
        let key = self.room_arg(sid, room)?;
        if self.users[&uid].rooms.contains(&key) {
            Ok(key)
        } else {
            let name = named.unwrap_or_else(|| self.rooms[&key].name.clone());
            Err(ChatError::NotInRoom(name))
        }
    }

    fn reply(&mut self, sid: SessionId, now: Timestamp, event: Event) {
        self.staged.push(sid, Envelope::new(now, event));
    }

    fn refuse(&mut self, sid: SessionId, now: Timestamp, error: ChatError) {
        self.journal.push(Journal::Refused {
            sid,
            error: error.clone(),
        });
        self.reply(sid, now, Event::Error(error));
    }

    /// Says goodbye to `sid` and removes it. What is staged for it goes
    /// out first (after a commit, so that it is durable), then the
    /// goodbye; a queue too full for them is closed instead.
    fn kick(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        self.commit_ops(now);
        let bye = Envelope::new(
            now,
            Event::Bye {
                reason: reason.to_owned(),
            },
        );
        let mut mine = Vec::new();
        self.staged.items.retain(|(s, d)| {
            if *s == sid {
                mine.push(d.clone());
                false
            } else {
                true
            }
        });
        mine.push(bye);
        if let Some(s) = self.sessions.get(&sid)
            && mine.into_iter().any(|d| s.push(d).is_err())
        {
            s.close(reason);
        }
        self.remove_session(sid, reason, now);
    }

    /// Removes a session. When it was its user's last, the rooms they
    /// share hear that they quit; a guest leaves every room, a registered
    /// user stays a member while away.
    fn remove_session(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        let Some(session) = self.sessions.remove(&sid) else {
            return;
        };
        let nick = session.user.map(|uid| self.users[&uid].nick().clone());
        self.journal.push(Journal::Left {
            sid,
            nick,
            reason: reason.to_owned(),
        });
        if session.is_oper() {
            self.opers -= 1;
        }
        if let Some(uid) = session.user {
            self.detach(sid, uid, reason, now);
        }
    }

    /// Unbinds session `sid` from user `uid`. When it was the user's last,
    /// the rooms they share hear that they quit; a guest leaves every
    /// room, a registered user stays a member while away.
    fn detach(&mut self, sid: SessionId, uid: UserId, reason: &str, now: Timestamp) {
        let user = self.users.get_mut(&uid).expect("live");
        let before = user.sessions.len();
        user.sessions.retain(|&s| s != sid);
        if user.sessions.is_empty() {
            // An account stays in memory offline: it holds no room.
            user.sessions = Vec::new();
        }
        self.attached -= before - user.sessions.len();
        if user.page().is_some_and(|p| p.sid == sid) {
            // A page the session did not take stays kept: for another
            // session of the user, or the next login.
            user.rare_mut().page = None;
            user.tidy();
            if user.online() {
                let _ = self.next_page(uid, now);
            }
        }
        let user = &self.users[&uid];
        if user.online() {
            return;
        }
        self.online -= 1;
        let user = self.users.get_mut(&uid).expect("live");
        if user.invisible {
            self.invisible -= 1;
        }
        user.last_seen = now;
        let account = user.account;
        let actor = user.actor.clone();
        self.departed.push_back(Departed {
            who: actor.clone(),
            time: now,
        });
        while self.departed.len() > self.config.whowas {
            self.departed.pop_front();
        }
        let mut audience = self.audience(uid);
        audience.remove(&uid);
        let user = &self.users[&uid];
        let d = Envelope::by(
            now,
            Event::Quit {
                nick: user.nick().clone(),
                reason: reason.to_owned(),
            },
            &actor,
        );
        for id in audience {
            self.staged.user(&self.users[&id], &d);
        }
        if let Some(account) = account {
            self.op(Op::LastSeen { account, time: now });
            return;
        }
        let user = self.users.get_mut(&uid).expect("live");
        if let Some(rare) = &mut user.rare {
            rare.markers.clear();
        }
        user.tidy();
        let rooms = std::mem::take(&mut user.rooms);
        for key in rooms {
            let room = self.rooms.get_mut(&key).expect("member of it");
            room.remove_member(uid);
            room.invited.remove(&uid);
            if room.members.is_empty() {
                self.rooms.remove(&key);
            }
        }
        // A guest who holds nothing is forgotten (WHOWAS remembers the
        // name for a while); one with messages kept waits for whoever
        // next takes the name.
        if self.users[&uid].kept == 0 {
            let user = self.users.remove(&uid).expect("live");
            if self.by_nick.get(&user.nick().key()) == Some(&uid) {
                self.by_nick.remove(&user.nick().key());
            }
        }
    }
}

#[path = "hub_rooms.rs"]
mod rooms;
pub(crate) use rooms::glob_match;

#[path = "hub_web.rs"]
mod web;

#[path = "hub_markers.rs"]
mod markers;

#[path = "hub_oper.rs"]
mod oper;
pub use web::{CALL_SESSION, Caller};

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;

/// An optional free-form value against its input rule (none passes).
fn optional_text(limits: &InputLimits, field: Field, t: &Option<Text>) -> Result<(), InputError> {
    t.as_ref()
        .map_or(Ok(()), |t| limits.check(field, t.as_str()))
}
