//! What the hub sends to sessions: [`Event`]s, wrapped in a shared
//! [`Envelope`] that caches each door's rendering of it.
//!
//! Fan-out is the hot path: one room message goes to every member's
//! sessions. The hub builds the [`Envelope`] once and hands every recipient
//! an `Arc` to it ([`Delivery`]); the first writer of each door renders it
//! into a slot of the cache and every later recipient on that door reuses
//! the bytes. So rendering costs once per message and door variant, never
//! once per recipient.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::error::ChatError;
use crate::names::{Nick, RoomName};
use crate::tags::ClientTags;
use crate::text::Text;

/// Milliseconds since the Unix epoch. The hub never reads the clock: every
/// call into it carries `now`, so its behaviour is deterministic in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A message id, unique per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

/// Identifies a session. Doors allocate them (unique per server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The command an event answers: which session sent it, and the door's
/// own id for the request (0 when the door does not number them). Doors
/// use it for IRC's labeled-response and echo-message and for the
/// WebSocket protocol's request ids and acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    pub sid: SessionId,
    pub req: u64,
}

/// Who a user is, as IRC shows it (`nick!ident@host`) and more: the
/// acting user of an event. Shared: the hub keeps one per user and
/// replaces it when any part changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub nick: Nick,
    /// The user name of IRC's `USER` (the nick for other doors).
    pub ident: Arc<str>,
    /// Where the user connects from, as shown to others.
    pub host: Arc<str>,
    /// The "real name" of IRC's `USER` / `SETNAME`.
    pub realname: Arc<str>,
    /// Whether the name is a registered account (the account is the name).
    pub account: bool,
}

impl Actor {
    /// `nick!ident@host`: IRC's source of the actor's events, and what
    /// ban masks and WHO masks match.
    pub fn mask(&self) -> String {
        mask(self.nick.as_str(), &self.ident, &self.host)
    }
}

/// `nick!ident@host`, the one shape of an IRC source and of what masks
/// match. Not `format!`: every message rendered for IRC makes one, and
/// the formatting machinery was 3% of the runtime's samples under private
/// messages (docs/performance.md).
pub fn mask(nick: &str, ident: &str, host: &str) -> String {
    let mut mask = String::with_capacity(nick.len() + ident.len() + host.len() + 2);
    mask.push_str(nick);
    mask.push('!');
    mask.push_str(ident);
    mask.push('@');
    mask.push_str(host);
    mask
}

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// A room operator: may kick, invite, change modes and topic.
    pub op: bool,
    /// May speak in a moderated room.
    pub voice: bool,
}

/// One row of a room's member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub who: Arc<Actor>,
    pub status: Status,
    pub away: bool,
    /// One of the user's sessions is a server operator.
    pub oper: bool,
}

/// What there is to know about an online user (IRC's WHOIS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDetails {
    pub who: Arc<Actor>,
    pub away: Option<Text>,
    /// The rooms the user is in, with their standing there.
    pub rooms: Vec<(RoomName, Status)>,
    /// When the user's first current session logged in.
    pub signon: Timestamp,
    /// When the user last sent a message.
    pub last_active: Timestamp,
    /// Whether one of the user's sessions is a server operator.
    pub oper: bool,
    /// The user's real address, only when a server operator asks (everyone
    /// else sees the cloak in `who.host`).
    pub address: Option<std::net::IpAddr>,
    /// When a registered user who is offline was last connected (`None`:
    /// online now). An account stays known, and in its rooms, while
    /// offline; a guest who left is not found.
    pub last_seen: Option<Timestamp>,
}

/// A user who went away, as they were (IRC's WHOWAS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    pub who: Arc<Actor>,
    pub time: Timestamp,
}

/// A room's settings (IRC channel modes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomModes {
    /// `t`: only operators set the topic.
    pub topic_ops_only: bool,
    /// `n`: only members may send to the room.
    pub no_external: bool,
    /// `m`: only operators and voiced members may speak.
    pub moderated: bool,
    /// `i`: joining needs an invitation.
    pub invite_only: bool,
    /// `s`: the room is not listed to non-members.
    pub secret: bool,
    /// `k`: joining needs this key.
    pub key: Option<String>,
    /// `l`: at most this many members.
    pub limit: Option<usize>,
}

impl RoomModes {
    /// Parses flag letters such as `"nt"` (config's default modes); only
    /// the flags without parameters (`t n m i s`).
    pub fn from_flags(flags: &str) -> Result<RoomModes, char> {
        let mut modes = RoomModes::default();
        for c in flags.trim_start_matches('+').chars() {
            match c {
                't' => modes.topic_ops_only = true,
                'n' => modes.no_external = true,
                'm' => modes.moderated = true,
                'i' => modes.invite_only = true,
                's' => modes.secret = true,
                other => return Err(other),
            }
        }
        Ok(modes)
    }
}

impl RoomModes {
    /// The modes as IRC writes them: `+ntk` and the parameters (`key`
    /// shown as given, so callers hide it where needed).
    pub fn to_flags(&self) -> (String, Vec<String>) {
        let mut flags = String::from("+");
        let mut params = Vec::new();
        for (on, c) in [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops_only, 't'),
        ] {
            if on {
                flags.push(c);
            }
        }
        if let Some(k) = &self.key {
            flags.push('k');
            params.push(k.clone());
        }
        if let Some(l) = self.limit {
            flags.push('l');
            params.push(l.to_string());
        }
        (flags, params)
    }
}

impl RoomMode {
    /// IRC's letter for the mode.
    pub fn letter(&self) -> char {
        match self {
            RoomMode::TopicOpsOnly => 't',
            RoomMode::NoExternal => 'n',
            RoomMode::Moderated => 'm',
            RoomMode::InviteOnly => 'i',
            RoomMode::Secret => 's',
            RoomMode::Key(_) => 'k',
            RoomMode::Limit(_) => 'l',
            RoomMode::Op(_) => 'o',
            RoomMode::Voice(_) => 'v',
            RoomMode::Ban(_) => 'b',
        }
    }

    /// The mode's parameter, if it has one (`*` for a removed key).
    pub fn param(&self) -> Option<String> {
        match self {
            RoomMode::Key(k) => Some(k.clone().unwrap_or_else(|| "*".into())),
            RoomMode::Limit(l) => l.map(|l| l.to_string()),
            RoomMode::Op(n) | RoomMode::Voice(n) => Some(n.to_string()),
            RoomMode::Ban(m) => Some(m.clone()),
            _ => None,
        }
    }
}

/// Mode changes as IRC writes them: `+o-v` and the parameters.
pub fn mode_string(changes: &[ModeChange]) -> (String, Vec<String>) {
    let mut flags = String::new();
    let mut params = Vec::new();
    let mut sign = None;
    for c in changes {
        if sign != Some(c.add) {
            flags.push(if c.add { '+' } else { '-' });
            sign = Some(c.add);
        }
        flags.push(c.mode.letter());
        params.extend(c.mode.param());
    }
    (flags, params)
}

/// One mode to set or unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomMode {
    TopicOpsOnly,
    NoExternal,
    Moderated,
    InviteOnly,
    Secret,
    /// `+k key` / `-k`.
    Key(Option<String>),
    /// `+l n` / `-l`.
    Limit(Option<usize>),
    Op(Nick),
    Voice(Nick),
    /// A `nick!ident@host` mask with `*` and `?` wildcards.
    Ban(String),
}

/// A mode change, asked for or done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    pub add: bool,
    pub mode: RoomMode,
}

/// An entry of a room's ban list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub mask: String,
    pub by: Nick,
    pub time: Timestamp,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Room(RoomName),
    User(Nick),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Room(r) => write!(f, "{r}"),
            Target::User(n) => write!(f, "{n}"),
        }
    }
}

/// How a message reads: said, acted (`/me`), or a notice (never answered
/// automatically, as IRC has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgKind {
    Say,
    Action,
    Notice,
}

/// A chat message, to a room or to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MsgId,
    pub time: Timestamp,
    pub from: Nick,
    pub to: Target,
    pub kind: MsgKind,
    pub text: Text,
    /// Client-only tags the sender gave it (a reply to, …), passed on and
    /// kept as they are.
    pub tags: ClientTags,
}

/// One row of a room listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub name: RoomName,
    pub members: usize,
    pub topic: Option<Text>,
}

/// One row of a user listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub nick: Nick,
    pub online: bool,
    /// When the user was last connected; `None` while online.
    pub last_seen: Option<Timestamp>,
}

/// A room's topic with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: Text,
    pub by: Nick,
    pub time: Timestamp,
}

/// Everything a session can be told. Broadcasts (messages, joins, …) and
/// replies to one session's command are both events; doors render them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The session is logged in as `nick`.
    Welcome { nick: Nick, online: usize },
    /// A room or private message. `offline` marks a private message that
    /// was kept while the recipient was away and is delivered now.
    Message { msg: Message, offline: bool },
    /// `nick` joined `room` (sent to every member, the joiner included).
    Joined { room: RoomName, nick: Nick },
    /// `nick` left `room`.
    Parted {
        room: RoomName,
        nick: Nick,
        reason: Option<Text>,
    },
    /// `nick` disconnected; sent once to everyone sharing a room with them.
    Quit { nick: Nick, reason: String },
    /// `old` is now known as `new`.
    NickChanged { old: Nick, new: Nick },
    /// The topic of `room` was set (`Some`) or cleared (`None`) by `by`.
    TopicChanged {
        room: RoomName,
        by: Nick,
        topic: Option<Text>,
    },
    /// Reply: the topic of `room`.
    TopicIs {
        room: RoomName,
        topic: Option<Topic>,
    },
    /// Reply: the rooms that exist.
    Rooms(Vec<RoomInfo>),
    /// Reply: who is in `room` (online members).
    Members {
        room: RoomName,
        members: Vec<Member>,
        /// The room is secret (`+s`): IRC's NAMES marks it `@`.
        secret: bool,
    },
    /// Reply: every known user.
    Users(Vec<UserInfo>),
    /// Reply: the session's current target (where plain text goes) changed.
    TargetChanged(Option<Target>),
    /// Reply: `nick` is now ignored (`true`) or no longer (`false`).
    IgnoreChanged { nick: Nick, ignoring: bool },
    /// Reply: the users this user ignores.
    Ignores(Vec<Nick>),
    /// Reply: the private message to `nick` was kept for delivery when they
    /// next connect. `guest`: the name has no account, so whoever next
    /// uses it reads the message.
    KeptForOffline { nick: Nick, guest: bool },
    /// `count` private messages arrived while the user was away; they
    /// follow, a page at a time.
    OfflineMessages { count: usize },
    /// The end of a page of kept messages, the last of them `upto`. Not
    /// for the user: the door makes sure its client has taken everything
    /// before it (IRC: a PING answered; WebSocket: a ping frame answered;
    /// line: written to the socket), then tells the hub with
    /// `Hub::kept_taken`, which marks the page delivered and sends the
    /// next one.
    KeptPageEnd { upto: MsgId },
    /// Reply: the command failed; nothing changed.
    Error(ChatError),
    /// Reply: earlier messages of a conversation, oldest first.
    History {
        target: Target,
        messages: Vec<Message>,
    },
    /// Reply: the messages that match a search, oldest first.
    SearchResults {
        query: String,
        messages: Vec<Message>,
    },
    /// Reply: the user's name is now a registered account.
    Registered { nick: Nick },
    /// A notice from the server itself (shutdown, announcements).
    ServerNotice(String),
    /// The last event of a session: the server closes it, saying why.
    Bye { reason: String },
    /// `by` changed the modes of `room`.
    ModeChanged {
        room: RoomName,
        by: Nick,
        changes: Vec<ModeChange>,
    },
    /// Reply: the modes of `room`; the key only shows to members.
    Modes {
        room: RoomName,
        modes: RoomModes,
        created: Timestamp,
    },
    /// Reply: the ban list of `room`.
    Bans { room: RoomName, bans: Vec<Ban> },
    /// `by` removed `nick` from `room`.
    Kicked {
        room: RoomName,
        by: Nick,
        nick: Nick,
        reason: Option<Text>,
    },
    /// `by` invited `nick` to `room` (sent to `nick` and to the room).
    Invited {
        room: RoomName,
        by: Nick,
        nick: Nick,
    },
    /// `nick` went away (`Some`) or came back (`None`).
    AwayChanged { nick: Nick, away: Option<Text> },
    /// Reply to a private message: its recipient is away.
    IsAway { nick: Nick, away: Text },
    /// `nick` logged in to an account (registered its name).
    AccountChanged { nick: Nick },
    /// `nick` changed their real name.
    RealnameChanged { nick: Nick, realname: String },
    /// Reply: what is known of the names asked about; `missing` are not
    /// online.
    Whois {
        found: Vec<UserDetails>,
        missing: Vec<Nick>,
    },
    /// Reply: who recently used `nick`, latest first.
    Whowas { nick: Nick, entries: Vec<Departed> },
    /// Reply: how big the server is: users online (`invisible` of them
    /// `+i`), their connections (`opers` of them operators), rooms, and
    /// the most users online at once.
    Stats {
        users: usize,
        invisible: usize,
        sessions: usize,
        opers: usize,
        rooms: usize,
        max_users: usize,
    },
    /// Output a door made itself for this session (help, a usage error,
    /// IRC's PONG), already in its wire format and queued in order with the
    /// hub's events (see [`crate::Hub::stage_local`]).
    Local(Bytes),
    /// Not shown: every reply to the door's request with this number
    /// came before it
    /// (see [`crate::Hub::stage_fence`]).
    Fence(u64),
    /// Reply: the conversations with messages in a time window, each with
    /// the time of its latest message.
    Conversations(Vec<(Target, Timestamp)>),
    /// `from` is typing in `to` (`active`), or stopped.
    Typing {
        from: Nick,
        to: Target,
        active: bool,
    },
    /// Client-only tags from `from` to `to`, with no message (IRC's
    /// `TAGMSG`: a reaction, …); never stored. The sender's sessions get
    /// it too. `id` is unique like a message's (one replies or reacts to
    /// it by that id), though no history holds it.
    TagMsg {
        id: MsgId,
        from: Nick,
        to: Target,
        tags: ClientTags,
    },
    /// Reply to `Resume`: the messages missed, oldest first; `more` when
    /// the limit cut them short (ask again after the last one).
    Resumed { messages: Vec<Message>, more: bool },
    /// A read of the store to run, whose answer (history, search results,
    /// resumed) the session gets in this event's place; only with
    /// `HubConfig::offload_reads` (see [`crate::read`]).
    Read(Box<crate::read::Read>),
    /// An announcement by the server's administrators, to everyone.
    Announcement(Text),
    /// Where the user stopped reading `target` (`None`: nowhere yet).
    /// Sent to every session of the user when it moves, to the session
    /// that asked, and after the user's own join of a room.
    ReadMarker {
        target: Target,
        marker: Option<Marker>,
    },
    /// Reply: every read marker of the user, by target.
    ReadMarkers(Vec<(Target, Marker)>),
    /// Reply: the session is now a server operator, as `name`.
    YoureOper { name: String },
    /// Reply: the session is no longer a server operator.
    NoLongerOper,
    /// A server operator's notice to every server operator (IRC's
    /// WALLOPS); the actor says who sent it.
    Wallops(Text),
    /// Reply: the server-wide bans in force.
    Klines(Vec<crate::kline::Kline>),
    /// Reply: the suspended accounts by name, with why.
    Suspensions(Vec<(Nick, String)>),
    /// Reply: a server operator's action is done, and what it did.
    OperDone(OperDone),
}

/// What a server operator's action did ([`Event::OperDone`]). Every door
/// words it the same way (its `Display`); the REST admin reads the
/// figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperDone {
    /// Every session of the user was disconnected.
    Killed(Nick),
    /// A wallops went to this many operator sessions.
    WallopsSent(usize),
    /// A K-line is set on this (canonical) mask; it ended this many
    /// sessions.
    Klined { mask: String, disconnected: usize },
    /// The K-line on this (canonical) mask is lifted.
    Unklined(String),
    /// The account is suspended; this many of its sessions ended.
    Suspended { name: Nick, disconnected: usize },
    /// The account may log in again.
    Unsuspended(Nick),
    /// Whether lockdown is on now.
    Lockdown(bool),
}

impl std::fmt::Display for OperDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperDone::Killed(nick) => write!(f, "{nick} was killed"),
            OperDone::WallopsSent(n) => write!(f, "Wallops sent to {n} operator sessions"),
            OperDone::Klined { mask, disconnected } => {
                write!(
                    f,
                    "K-line set on {mask}; {disconnected} sessions disconnected"
                )
            }
            OperDone::Unklined(mask) => write!(f, "K-line on {mask} lifted"),
            OperDone::Suspended { name, disconnected } => {
                write!(
                    f,
                    "{name} is suspended; {disconnected} sessions disconnected"
                )
            }
            OperDone::Unsuspended(name) => write!(f, "{name} is no longer suspended"),
            OperDone::Lockdown(true) => {
                f.write_str("Lockdown is on: no new guests or registrations")
            }
            OperDone::Lockdown(false) => f.write_str("Lockdown is off"),
        }
    }
}

/// A read marker: the user has read a conversation up to `time`, and so
/// up to `msg`, the latest message at or before it (`None` when there was
/// none, or the hub keeps no messages). Markers compare by time, then by
/// message (none before any), and only ever move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    pub time: Timestamp,
    pub msg: Option<MsgId>,
}

/// How many per-door renderings an [`Envelope`] caches. Doors pick their
/// slot numbers (a door with protocol variants uses one slot per variant).
pub const RENDER_SLOTS: usize = 4;

/// An event with the time it happened, who did it, the command it
/// answers, and a cache of its renderings.
#[derive(Debug)]
pub struct Envelope {
    pub time: Timestamp,
    pub event: Event,
    /// The user who did it, when a user did.
    pub actor: Option<Arc<Actor>>,
    origin: OnceLock<Origin>,
    rendered: [OnceLock<Bytes>; RENDER_SLOTS],
}

/// A shared, immutable event as it sits in session queues.
pub type Delivery = Arc<Envelope>;

impl Envelope {
    pub fn new(time: Timestamp, event: Event) -> Delivery {
        Arc::new(Envelope {
            time,
            event,
            actor: None,
            origin: OnceLock::new(),
            rendered: Default::default(),
        })
    }

    /// An event done by `actor`.
    pub fn by(time: Timestamp, event: Event, actor: &Arc<Actor>) -> Delivery {
        Arc::new(Envelope {
            time,
            event,
            actor: Some(actor.clone()),
            origin: OnceLock::new(),
            rendered: Default::default(),
        })
    }

    /// The command this event answers, if it answers one.
    pub fn origin(&self) -> Option<Origin> {
        self.origin.get().copied()
    }

    /// Marks the event as answering `origin` (the first mark stays).
    pub fn set_origin(&self, origin: Origin) {
        let _ = self.origin.set(origin);
    }

    /// The rendering of this event in `slot`, made by `render` the first
    /// time any recipient asks and shared by all later ones. Lent, not
    /// cloned: a door copies it into its buffer (a clone and its drop
    /// were two atomic operations per delivery).
    pub fn rendered(&self, slot: usize, render: impl FnOnce(&Envelope) -> Bytes) -> &Bytes {
        self.rendered[slot].get_or_init(|| render(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_is_nick_ident_and_host() {
        let actor = Actor {
            nick: Nick::parse("Alice", 30).unwrap(),
            ident: "al".into(),
            host: "203.0.113.7".into(),
            realname: "Alice A.".into(),
            account: false,
        };
        assert_eq!(actor.mask(), "Alice!al@203.0.113.7");
    }

    #[test]
    fn renders_once_per_slot() {
        let env = Envelope::new(Timestamp(0), Event::ServerNotice("hi".into()));
        let mut calls = 0;
        for _ in 0..3 {
            let b = env.rendered(0, |_| {
                calls += 1;
                Bytes::from_static(b"x")
            });
            assert_eq!(&b[..], b"x");
        }
        let other = env.rendered(1, |_| Bytes::from_static(b"y"));
        assert_eq!(&other[..], b"y");
        assert_eq!(calls, 1);
    }
}
