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
use crate::text::Text;

/// Milliseconds since the Unix epoch. The hub never reads the clock: every
/// call into it carries `now`, so its behaviour is deterministic in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// A message id, unique per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

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
    /// Reply: who is in `room`.
    Members { room: RoomName, nicks: Vec<Nick> },
    /// Reply: every known user.
    Users(Vec<UserInfo>),
    /// Reply: the session's current target (where plain text goes) changed.
    TargetChanged(Option<Target>),
    /// Reply: `nick` is now ignored (`true`) or no longer (`false`).
    IgnoreChanged { nick: Nick, ignoring: bool },
    /// Reply: the users this user ignores.
    Ignores(Vec<Nick>),
    /// Reply: the private message to `nick` was kept for delivery when they
    /// next connect.
    KeptForOffline { nick: Nick },
    /// `count` private messages arrived while the user was away; they follow.
    OfflineMessages { count: usize },
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
}

/// How many per-door renderings an [`Envelope`] caches. Doors pick their
/// slot numbers (a door with protocol variants uses one slot per variant).
pub const RENDER_SLOTS: usize = 4;

/// An event with the time it happened and a cache of its renderings.
#[derive(Debug)]
pub struct Envelope {
    pub time: Timestamp,
    pub event: Event,
    rendered: [OnceLock<Bytes>; RENDER_SLOTS],
}

/// A shared, immutable event as it sits in session queues.
pub type Delivery = Arc<Envelope>;

impl Envelope {
    pub fn new(time: Timestamp, event: Event) -> Delivery {
        Arc::new(Envelope {
            time,
            event,
            rendered: Default::default(),
        })
    }

    /// The rendering of this event in `slot`, made by `render` the first
    /// time any recipient asks and shared by all later ones.
    pub fn rendered(&self, slot: usize, render: impl FnOnce(&Envelope) -> Bytes) -> Bytes {
        self.rendered[slot].get_or_init(|| render(self)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
