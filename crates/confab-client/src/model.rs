//! The chat as the user sees it: who we are, the connection's state, and
//! the buffers (rooms and private conversations) with a capped scrollback,
//! members, topics, unread counts, highlights, read markers and typing.
//! Pure: server events and the user's actions in, [`Effect`]s out, `now`
//! passed in; no I/O and no clock.
//!
//! The rules are the browser client's (`web/client/js/chat.js`), ported:
//!
//! - Each buffer keeps at most [`SCROLLBACK`] items. Paging back past that
//!   drops the newest items and the buffer stops following live messages
//!   (`at_latest` is false; they are counted as unread) until it pages
//!   forward again or jumps back to the latest. So memory is bounded
//!   however long the client runs.
//! - A message is unread when it is not ours and its id is past the
//!   buffer's `read_up_to` (the server's read marker). A highlight is a
//!   private message or a mention of our nick as a word.
//! - Reading the newest message of the open buffer moves the read marker
//!   forward: one `mark_read` per buffer per burst of reading
//!   ([`MARK_DELAY`]), sent from [`Model::tick`], never backwards.
//! - `history` answers merge by id: an id is never in a buffer twice.
//! - Presence: members are here or away (`away`); a room's regulars who
//!   are not connected ([`Model::offline_regulars`]: senders in its
//!   window whom the last `users` answer lists offline) show below them.
//!   `users` is asked silently from `tick` on coming online and after
//!   someone leaves, at most every [`PRESENCE_EVERY`].
//!
//! # How the UI uses it
//!
//! The UI owns one `Model` (made with the session's [`IdSource`]), feeds it
//! every `SessionEvent` (`apply` for server events, `set_conn` for state
//! changes), calls `tick` about every 100 ms (or at `next_deadline`), and
//! carries out the returned [`Effect`]s: requests go to
//! `SessionHandle::send`, notifications to the terminal. Input lines go
//! through `commands::parse` and then [`Model::act`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{Local, TimeDelta};

use crate::commands::{Action, CommandError, TopicArg, help_lines};
use crate::proto::{
    IdSource, Message, ModeChange, MsgId, MsgKind, Outgoing, ReqId, Request, ServerEvent, Time,
    is_room, key_of, reason_suffix,
};

/// Most items a buffer keeps at once.
pub const SCROLLBACK: usize = 2_000;
/// Messages asked for per page of history.
pub const PAGE: u32 = 100;
/// How long a typing notification shows without a follow-up.
pub const TYPING_SHOWN: TimeDelta = TimeDelta::seconds(6);
/// How long reading may go on before the server hears of it.
pub const MARK_DELAY: TimeDelta = TimeDelta::milliseconds(400);
/// Most items kept in [`Model::log`] (notes with no buffer to go to).
pub const LOG_CAP: usize = 200;
/// The most often the model asks the server who is online (`users`), to
/// show a room's offline regulars.
pub const PRESENCE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// The most offline regulars a member list shows.
pub const OFFLINE_SHOWN: usize = 20;

/// The connection as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Connecting or logging in.
    Connecting,
    /// Logged in; `lag` is the last JSON ping's round trip.
    Online { lag: Option<Duration> },
    /// Lost; the session retries at `retry_at`.
    Offline { why: String, retry_at: Time },
    /// Stopped for good (quit, or a refusal retrying cannot fix).
    Stopped { why: String },
}

impl ConnState {
    pub fn is_online(&self) -> bool {
        matches!(self, ConnState::Online { .. })
    }
}

/// A room or a private conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BufferKind {
    Room,
    Private,
}

/// What a non-message line of a buffer is about (for its look, and for
/// compacting runs of joins and parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Join,
    Part,
    Quit,
    Nick,
    Topic,
    Mode,
    Kick,
    Info,
    Error,
    Announce,
}

/// One line of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A chat message; `self_sent` when we sent it, `highlight` when it
    /// is a private message or mentions us.
    Message {
        msg: Message,
        self_sent: bool,
        highlight: bool,
    },
    /// Something that happened. `nick` is who joined, parted, quit or
    /// changed name, so a view can compact runs of them.
    Event {
        time: Time,
        kind: EventKind,
        text: String,
        nick: Option<String>,
    },
}

impl Item {
    pub fn time(&self) -> Time {
        match self {
            Item::Message { msg, .. } => msg.time,
            Item::Event { time, .. } => *time,
        }
    }

    /// The message id, for a message.
    pub fn msg_id(&self) -> Option<MsgId> {
        match self {
            Item::Message { msg, .. } => Some(msg.id),
            Item::Event { .. } => None,
        }
    }
}

/// Whether a run of items is only joins, parts and quits (which a view may
/// show as one line, e.g. "bob, carol joined; dave left").
pub fn is_compactable(item: &Item) -> bool {
    matches!(
        item,
        Item::Event {
            kind: EventKind::Join | EventKind::Part | EventKind::Quit,
            ..
        }
    )
}

/// A room member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub nick: String,
    pub op: bool,
    pub voice: bool,
    pub account: bool,
    pub away: bool,
}

/// A room's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    pub by: Option<String>,
    pub set_at: Option<Time>,
}

/// A room or a private conversation, with a window of its history.
#[derive(Debug, Clone)]
pub struct Buffer {
    /// The room's or the other person's name, as last seen.
    pub name: String,
    /// `key_of(name)`: how buffers are looked up.
    pub key: String,
    pub kind: BufferKind,
    /// Oldest first, at most [`SCROLLBACK`].
    pub items: VecDeque<Item>,
    /// Older history may exist on the server.
    pub has_older: bool,
    /// The window reaches the newest message, so live ones append.
    pub at_latest: bool,
    /// The view shows the newest items (set by the UI with
    /// [`Model::set_following`]); otherwise the window keeps its place.
    pub following: bool,
    /// A page of history is on its way.
    pub loading: bool,
    pub topic: Option<Topic>,
    /// Room members by `key_of(nick)`.
    pub members: BTreeMap<String, Member>,
    /// We are in the room (always true for a private conversation).
    pub joined: bool,
    /// Unread messages (not ours, after `read_up_to`).
    pub unread: usize,
    /// Unread messages exist before the window's start too.
    pub unread_more: bool,
    /// Something unread mentions us, or is a private message.
    pub highlight: bool,
    /// The read marker: messages up to this id are read.
    pub read_up_to: MsgId,
    /// Where the "new messages" line goes while the buffer is open:
    /// after this id (set when the buffer is selected with unread).
    pub new_since: Option<MsgId>,
    /// When something last happened here.
    pub last_activity: Option<Time>,
    /// Joined with no read marker: the history that comes with the join
    /// counts as read.
    unmarked: bool,
    /// Who is typing: key → (nick, shown until).
    typing: BTreeMap<String, (String, Time)>,
}

impl Buffer {
    fn new(name: &str) -> Buffer {
        let kind = if is_room(name) {
            BufferKind::Room
        } else {
            BufferKind::Private
        };
        Buffer {
            name: name.to_owned(),
            key: key_of(name),
            kind,
            items: VecDeque::new(),
            has_older: true,
            at_latest: true,
            following: true,
            loading: false,
            topic: None,
            members: BTreeMap::new(),
            joined: kind == BufferKind::Private,
            unread: 0,
            unread_more: false,
            highlight: false,
            read_up_to: 0,
            new_since: None,
            last_activity: None,
            unmarked: false,
            typing: BTreeMap::new(),
        }
    }

    /// The id of the newest message in the window, or 0.
    pub fn last_id(&self) -> MsgId {
        self.items.iter().rev().find_map(Item::msg_id).unwrap_or(0)
    }

    /// The id of the oldest message in the window, or 0.
    pub fn first_id(&self) -> MsgId {
        self.items.iter().find_map(Item::msg_id).unwrap_or(0)
    }

    /// Whether message `id` is in the window.
    pub fn has(&self, id: MsgId) -> bool {
        self.items.iter().any(|it| it.msg_id() == Some(id))
    }

    /// Who is typing here, by name.
    pub fn typing(&self) -> Vec<&str> {
        self.typing.values().map(|(n, _)| n.as_str()).collect()
    }

    /// Members in the member list's order: operators, voiced, the rest,
    /// each alphabetical.
    pub fn members_sorted(&self) -> Vec<&Member> {
        let mut list: Vec<&Member> = self.members.values().collect();
        list.sort_by_key(|m| (!m.op, !m.voice, key_of(&m.nick)));
        list
    }

    /// Inserts a message where it belongs: live messages arrive in id
    /// order, a resumed one may be older than what is shown.
    fn insert(&mut self, item: Item) {
        let (id, time) = (item.msg_id().unwrap_or(0), item.time());
        let mut at = self.items.len();
        while at > 0 {
            match &self.items[at - 1] {
                Item::Message { msg, .. } if msg.id < id => break,
                Item::Event { time: t, .. } if *t <= time => break,
                _ => at -= 1,
            }
        }
        self.items.insert(at, item);
    }

    /// Keeps the window at [`SCROLLBACK`] items, dropping from one end.
    fn trim(&mut self, end: End) {
        let extra = self.items.len().saturating_sub(SCROLLBACK);
        if extra == 0 {
            return;
        }
        match end {
            End::Oldest => {
                self.items.drain(..extra);
                self.has_older = true;
            }
            End::Newest => {
                self.items.truncate(SCROLLBACK);
                self.at_latest = false;
            }
        }
    }

    fn add_event(&mut self, kind: EventKind, text: String, time: Time, nick: Option<&str>) {
        // A window showing older history is not where new lines go.
        if !self.at_latest {
            return;
        }
        self.items.push_back(Item::Event {
            time,
            kind,
            text,
            nick: nick.map(str::to_owned),
        });
        self.trim(End::Oldest);
    }
}

#[derive(Debug, Clone, Copy)]
enum End {
    Oldest,
    Newest,
}

/// What the UI (and through it the session) must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Ring the bell / send an OSC 777 notification: a private message or
    /// a mention the user is not looking at.
    Notify { title: String, body: String },
    /// Send this request (`SessionHandle::send`). Its answers come back as
    /// events; the model recognises the ones it waits for by id.
    Request(Outgoing),
    /// `/upload`: upload the file over REST, then send its link to `to`.
    Upload { path: PathBuf, to: String },
    /// `/quit`: `SessionHandle::quit`, then leave.
    Quit { reason: Option<String> },
}

/// What an answer to a request of ours means to the model.
#[derive(Debug, Clone)]
enum Pending {
    /// A page of older history for a buffer (by key).
    Older(String),
    /// A page of newer history.
    Newer(String),
    /// The user asked (`/rooms`, `/whois` …): show the answer.
    Show,
    /// Show this note when the request is acknowledged.
    OnAck(String),
}

/// The whole client state. See the module docs.
#[derive(Debug)]
pub struct Model {
    /// Our name (from `welcome`, and `nick` changes).
    pub me: String,
    /// Whether we are logged in to an account.
    pub account: bool,
    pub conn: ConnState,
    /// Largest message id seen: where a reconnect resumes.
    pub max_seen: MsgId,
    /// The last announcement: text and time.
    pub announcement: Option<(String, Time)>,
    /// Whether the terminal has focus (set by the UI; true until told).
    pub focused: bool,
    /// Notes that came when there was no buffer to show them in.
    pub log: VecDeque<Item>,
    buffers: HashMap<String, Buffer>,
    current: Option<String>,
    ids: IdSource,
    pending: HashMap<ReqId, Pending>,
    /// Buffers (keys) read further than the server knows.
    unsent_marks: BTreeSet<String>,
    marks_due: Option<Time>,
    /// Known users (keys) who are not connected, from the last `users`
    /// answer: the member lists show the room's regulars among them.
    offline: BTreeSet<String>,
    /// Presence may have changed (we came online, someone left): ask
    /// `users` again at the next tick, at most every [`PRESENCE_EVERY`].
    presence_due: bool,
    presence_asked: Option<Time>,
}

impl Model {
    /// An empty model; `ids` is the session's (`SessionHandle::ids`), so
    /// the model's requests never share an id with anyone else's.
    pub fn new(ids: IdSource) -> Model {
        Model {
            me: String::new(),
            account: false,
            conn: ConnState::Connecting,
            max_seen: 0,
            announcement: None,
            focused: true,
            log: VecDeque::new(),
            buffers: HashMap::new(),
            current: None,
            ids,
            pending: HashMap::new(),
            unsent_marks: BTreeSet::new(),
            marks_due: None,
            offline: BTreeSet::new(),
            presence_due: false,
            presence_asked: None,
        }
    }

    // ---- reading --------------------------------------------------------

    /// A room's regulars who are not connected: the senders of the
    /// messages in its window who are not members and whom the last
    /// `users` answer listed offline (as the browser's member list
    /// does). Sorted, at most [`OFFLINE_SHOWN`].
    pub fn offline_regulars(&self, b: &Buffer) -> Vec<String> {
        let mut names = BTreeMap::new();
        for item in &b.items {
            if let Item::Message { msg, .. } = item {
                let k = key_of(&msg.from);
                if !b.members.contains_key(&k) && self.offline.contains(&k) {
                    names.entry(k).or_insert_with(|| msg.from.clone());
                }
            }
        }
        let mut list: Vec<String> = names.into_values().collect();
        list.sort_by_key(|n| n.to_lowercase());
        list.truncate(OFFLINE_SHOWN);
        list
    }

    /// The buffer called `name` (any case).
    pub fn buffer(&self, name: &str) -> Option<&Buffer> {
        self.buffers.get(&key_of(name))
    }

    /// The open buffer.
    pub fn current(&self) -> Option<&Buffer> {
        self.current.as_ref().and_then(|k| self.buffers.get(k))
    }

    /// The open buffer's name.
    pub fn current_name(&self) -> Option<&str> {
        self.current().map(|b| b.name.as_str())
    }

    /// Every buffer, in no particular order.
    pub fn buffers(&self) -> impl Iterator<Item = &Buffer> {
        self.buffers.values()
    }

    /// Buffers in sidebar order: rooms, then people; within each, those
    /// that mention us first, then those with unread messages, then the
    /// rest, each group alphabetical.
    pub fn sorted(&self) -> Vec<&Buffer> {
        let rank = |b: &Buffer| {
            let kind = if b.kind == BufferKind::Room { 0 } else { 3 };
            kind + if b.highlight {
                0
            } else if b.unread > 0 {
                1
            } else {
                2
            }
        };
        let mut list: Vec<&Buffer> = self.buffers.values().collect();
        list.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.key.cmp(&b.key)));
        list
    }

    /// Unread messages in every buffer.
    pub fn total_unread(&self) -> usize {
        self.buffers.values().map(|b| b.unread).sum()
    }

    /// Nicks worth completing: the open room's members, then everyone
    /// with a private buffer; sorted, no duplicates.
    pub fn nicks(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .current()
            .map(|b| b.members.values().map(|m| m.nick.clone()).collect())
            .unwrap_or_default();
        out.extend(
            self.buffers
                .values()
                .filter(|b| b.kind == BufferKind::Private)
                .map(|b| b.name.clone()),
        );
        out.sort_by_key(|n| key_of(n));
        out.dedup_by_key(|n| key_of(n));
        out
    }

    /// When `tick` next has something to do (a read marker to send, a
    /// typing notice to expire).
    pub fn next_deadline(&self) -> Option<Time> {
        let typing = self
            .buffers
            .values()
            .flat_map(|b| b.typing.values().map(|(_, t)| *t))
            .min();
        match (self.marks_due, typing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- the UI's calls ---------------------------------------------------

    /// Opens the `i`th buffer of [`sorted`](Model::sorted) (Alt-1..9).
    pub fn select(&mut self, i: usize) -> Vec<Effect> {
        match self.sorted().get(i).map(|b| b.key.clone()) {
            Some(key) => self.select_key(&key),
            None => vec![],
        }
    }

    /// Opens the buffer called `name`, if there is one.
    pub fn select_name(&mut self, name: &str) -> Vec<Effect> {
        self.select_key(&key_of(name))
    }

    fn select_key(&mut self, key: &str) -> Vec<Effect> {
        let account = self.account;
        let Some(b) = self.buffers.get_mut(key) else {
            return vec![];
        };
        self.current = Some(key.to_owned());
        b.highlight = false;
        b.new_since = (b.unread > 0).then_some(b.read_up_to);
        // An account's private history is on the server: show it.
        if b.kind == BufferKind::Private && b.items.is_empty() && account {
            let name = b.name.clone();
            return self
                .older_request(&name)
                .map(Effect::Request)
                .into_iter()
                .collect();
        }
        vec![]
    }

    /// Moves `step` buffers along the sidebar (Ctrl-N/Ctrl-P), wrapping.
    pub fn cycle(&mut self, step: isize) -> Vec<Effect> {
        let list: Vec<String> = self.sorted().iter().map(|b| b.key.clone()).collect();
        if list.is_empty() {
            return vec![];
        }
        let at = self
            .current
            .as_ref()
            .and_then(|c| list.iter().position(|k| k == c))
            .map_or(-1, |i| i as isize);
        let n = list.len() as isize;
        let next = (at + step).rem_euclid(n) as usize;
        self.select_key(&list[next].clone())
    }

    /// Opens the next buffer with activity after the open one, mentions
    /// first (Alt-A). Nothing happens when there is none.
    pub fn next_unread(&mut self) -> Vec<Effect> {
        let list: Vec<(String, bool, usize)> = self
            .sorted()
            .iter()
            .map(|b| (b.key.clone(), b.highlight, b.unread))
            .collect();
        let at = self
            .current
            .as_ref()
            .and_then(|c| list.iter().position(|(k, ..)| k == c))
            .map_or(0, |i| i + 1);
        let order: Vec<&(String, bool, usize)> =
            list[at..].iter().chain(list[..at].iter()).collect();
        let not_open = |k: &String| Some(k) != self.current.as_ref();
        let hit = order
            .iter()
            .find(|(k, hl, _)| *hl && not_open(k))
            .or_else(|| order.iter().find(|(k, _, n)| *n > 0 && not_open(k)))
            .map(|(k, ..)| k.clone());
        match hit {
            Some(k) => self.select_key(&k),
            None => vec![],
        }
    }

    /// The UI tells whether the open buffer's view is at its bottom
    /// (following live messages) or scrolled back.
    pub fn set_following(&mut self, following: bool) {
        if let Some(b) = self.current.as_ref().and_then(|k| self.buffers.get_mut(k)) {
            b.following = following;
        }
    }

    /// The UI tells whether the terminal has focus (focus events).
    pub fn set_focus(&mut self, focused: bool) {
        self.focused = focused;
    }

    /// The open buffer is on screen at its newest message: it is read.
    /// Call it after drawing when the view is at the bottom.
    pub fn seen_latest(&mut self, now: Time) {
        if !self.focused {
            return;
        }
        let Some(key) = self.current.clone() else {
            return;
        };
        let Some(b) = self.buffers.get_mut(&key) else {
            return;
        };
        if !b.at_latest {
            return;
        }
        let last = b.last_id();
        if last > 0 {
            self.mark_read(&key, last, now);
        } else {
            b.unread = 0;
        }
    }

    /// The connection's state changed. Requests in flight when it dropped
    /// will not be answered: their pages are no longer loading.
    pub fn set_conn(&mut self, state: ConnState) {
        if state.is_online() && !self.conn.is_online() {
            self.presence_due = true;
        }
        if !state.is_online() {
            self.pending.clear();
            for b in self.buffers.values_mut() {
                b.loading = false;
            }
        }
        self.conn = state;
    }

    /// Time passes: sends the read markers of a burst of reading and
    /// expires typing notices.
    pub fn tick(&mut self, now: Time) -> Vec<Effect> {
        for b in self.buffers.values_mut() {
            b.typing.retain(|_, (_, until)| *until > now);
        }
        let mut out = vec![];
        if self.conn.is_online()
            && self.presence_due
            && self
                .presence_asked
                .is_none_or(|at| now - at >= PRESENCE_EVERY)
        {
            self.presence_due = false;
            self.presence_asked = Some(now);
            out.push(Effect::Request(self.ids.outgoing(Request::Users)));
        }
        // Marks wait while offline rather than fail: the next burst, or
        // the next tick once online, sends them.
        if self.conn.is_online() && self.marks_due.is_some_and(|due| due <= now) {
            self.marks_due = None;
            for key in std::mem::take(&mut self.unsent_marks) {
                if let Some(b) = self.buffers.get(&key) {
                    let req = Request::MarkRead {
                        to: b.name.clone(),
                        msg: b.read_up_to,
                    };
                    out.push(Effect::Request(self.ids.outgoing(req)));
                }
            }
        }
        out
    }

    /// A page of older history for a buffer: the request to send (and the
    /// buffer is `loading`), or `None` when it is loading already, has no
    /// older history, or we are offline. The answer merges by id.
    pub fn older_request(&mut self, name: &str) -> Option<Outgoing> {
        let online = self.conn.is_online();
        let b = self.buffers.get_mut(&key_of(name))?;
        if b.loading || !b.has_older || !online {
            return None;
        }
        b.loading = true;
        let first = b.first_id();
        let out = self.ids.outgoing(Request::History {
            to: b.name.clone(),
            before: (first > 0).then_some(first),
            after: None,
            limit: Some(PAGE),
        });
        self.pending
            .insert(out.id.expect("ids given"), Pending::Older(b.key.clone()));
        Some(out)
    }

    /// A page of newer history, when the window stopped short of the
    /// newest message (after paging back past [`SCROLLBACK`]).
    pub fn newer_request(&mut self, name: &str) -> Option<Outgoing> {
        let online = self.conn.is_online();
        let b = self.buffers.get_mut(&key_of(name))?;
        if b.loading || b.at_latest || !online {
            return None;
        }
        b.loading = true;
        let out = self.ids.outgoing(Request::History {
            to: b.name.clone(),
            before: None,
            after: Some(b.last_id()),
            limit: Some(PAGE),
        });
        self.pending
            .insert(out.id.expect("ids given"), Pending::Newer(b.key.clone()));
        Some(out)
    }

    /// Back to the newest messages (End): drops the paged-back window and
    /// asks for the latest page.
    pub fn latest_request(&mut self, name: &str) -> Option<Outgoing> {
        let b = self.buffers.get_mut(&key_of(name))?;
        if b.at_latest {
            return None;
        }
        b.items.clear();
        b.has_older = true;
        b.at_latest = true;
        b.following = true;
        self.older_request(name)
    }

    /// Adds a note (info or error) to the open buffer, or the log.
    pub fn note(&mut self, kind: EventKind, text: impl Into<String>, now: Time) {
        let text = text.into();
        match self.here() {
            Some(key) => {
                if let Some(b) = self.buffers.get_mut(&key) {
                    b.add_event(kind, text, now, None);
                }
            }
            None => {
                self.log.push_back(Item::Event {
                    time: now,
                    kind,
                    text,
                    nick: None,
                });
                if self.log.len() > LOG_CAP {
                    self.log.pop_front();
                }
            }
        }
    }

    /// Does what a line of input asked: the requests to send (each
    /// remembered, so its answer is shown), or a change here (`/query`,
    /// `/stop`, `/help`, `/time`). An error is for the user to read; the
    /// UI keeps the input line then.
    pub fn act(&mut self, action: Action, now: Time) -> Result<Vec<Effect>, CommandError> {
        let current = self.current_name().map(str::to_owned);
        match &action {
            Action::Query { nick } => {
                let key = self.buffer_mut(nick).key.clone();
                return Ok(self.select_key(&key));
            }
            Action::Stop => {
                if self
                    .current()
                    .is_some_and(|b| b.kind == BufferKind::Private)
                    && let Some(room) = self
                        .sorted()
                        .iter()
                        .find(|b| b.kind == BufferKind::Room)
                        .map(|b| b.key.clone())
                {
                    return Ok(self.select_key(&room));
                }
                return Ok(vec![]);
            }
            Action::Time => {
                let t = now.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z");
                self.note(EventKind::Info, format!("The time is {t}"), now);
                return Ok(vec![]);
            }
            Action::Help { command } => {
                for line in help_lines(command.as_deref()) {
                    self.note(EventKind::Info, line, now);
                }
                return Ok(vec![]);
            }
            Action::Upload { path } => {
                let to = current
                    .ok_or_else(|| CommandError("open a room or a conversation first".into()))?;
                return Ok(vec![Effect::Upload {
                    path: path.clone(),
                    to,
                }]);
            }
            Action::Quit { reason } => {
                return Ok(vec![Effect::Quit {
                    reason: reason.clone(),
                }]);
            }
            Action::Part { room: None, .. } => {
                // Leaving a private conversation, or a room we are no
                // longer in, only closes its buffer.
                if let Some(b) = self.current()
                    && (b.kind == BufferKind::Private || !b.joined)
                {
                    let key = b.key.clone();
                    self.close(&key);
                    return Ok(vec![]);
                }
            }
            Action::Say { to: Some(to), .. } if !is_room(to) => {
                self.buffer_mut(to);
            }
            _ => {}
        }
        let requests = action.requests(current.as_deref())?;
        let show = match &action {
            Action::Away { message: Some(m) } => Some(Pending::OnAck(format!("You are away: {m}"))),
            Action::Away { message: None } => Some(Pending::OnAck("You are back".into())),
            Action::Ignore { nick: Some(n) } => Some(Pending::OnAck(format!("Ignoring {n}"))),
            Action::Unignore { nick } => Some(Pending::OnAck(format!("No longer ignoring {nick}"))),
            Action::Topic(TopicArg::Show)
            | Action::Rooms
            | Action::List { .. }
            | Action::Users
            | Action::Whois { .. }
            | Action::Ignore { nick: None }
            | Action::Search { .. } => Some(Pending::Show),
            _ => None,
        };
        Ok(requests
            .into_iter()
            .map(|r| {
                let out = self.ids.outgoing(r);
                if let (Some(id), Some(p)) = (out.id, &show) {
                    self.pending.insert(id, p.clone());
                }
                Effect::Request(out)
            })
            .collect())
    }

    // ---- server events ------------------------------------------------------

    /// One server message. Returns what to do about it.
    pub fn apply(&mut self, ev: &crate::proto::Incoming, now: Time) -> Vec<Effect> {
        let time = ev.time;
        let pending = ev.re.and_then(|re| {
            if ev.event.is_final() {
                self.pending.remove(&re)
            } else {
                self.pending.get(&re).cloned()
            }
        });
        let show = matches!(pending, Some(Pending::Show));
        let mut out = vec![];
        if let ServerEvent::Users { users } = &ev.event {
            self.offline = users
                .iter()
                .filter(|u| !u.online)
                .map(|u| key_of(&u.nick))
                .collect();
        }
        if matches!(
            ev.event,
            ServerEvent::Parted { .. } | ServerEvent::Quit { .. } | ServerEvent::Kicked { .. }
        ) {
            self.presence_due = true;
        }
        match &ev.event {
            ServerEvent::Welcome { name, account, .. } => {
                // Before the hello's ack: the joins that logging in brings
                // need our name.
                self.me = name.clone();
                self.account = *account;
            }
            ServerEvent::Ack { .. } => {
                if let Some(Pending::OnAck(text)) = pending {
                    self.note(EventKind::Info, text, time);
                }
            }
            ServerEvent::Error { code, message, .. } => match pending {
                Some(Pending::Older(key) | Pending::Newer(key)) => {
                    if let Some(b) = self.buffers.get_mut(&key) {
                        b.loading = false;
                        b.has_older = false;
                    }
                    if code != "guests_no_private_history" {
                        self.note(EventKind::Error, message.clone(), time);
                    }
                }
                _ => self.note(EventKind::Error, message.clone(), time),
            },
            ServerEvent::Message { message, .. } => {
                out.extend(self.add_message(message, now));
            }
            ServerEvent::Resumed { messages, .. } => {
                for m in messages {
                    out.extend(self.add_message(m, now));
                }
            }
            ServerEvent::History { target, messages } => match pending {
                Some(Pending::Older(key)) => self.merge_older(&key, messages),
                Some(Pending::Newer(key)) => self.merge_newer(&key, messages),
                _ if show => self.show_messages(messages, time),
                _ => self.merge_latest(target, messages),
            },
            ServerEvent::Offline { count } => {
                let s = if *count == 1 { " was" } else { "s were" };
                self.note(
                    EventKind::Info,
                    format!("{count} private message{s} kept for you while you were away."),
                    time,
                );
            }
            ServerEvent::Joined { room, nick } => {
                let me = same(nick, &self.me);
                let b = self.buffer_mut(room);
                if me {
                    b.joined = true;
                    let key = b.key.clone();
                    if self.current.is_none() {
                        self.current = Some(key);
                    }
                } else {
                    b.members.insert(
                        key_of(nick),
                        Member {
                            nick: nick.clone(),
                            op: false,
                            voice: false,
                            account: false,
                            away: false,
                        },
                    );
                    b.add_event(EventKind::Join, format!("{nick} joined"), time, Some(nick));
                }
            }
            ServerEvent::Parted { room, nick, reason } => {
                let me = same(nick, &self.me);
                let key = key_of(room);
                if me {
                    self.close(&key);
                } else if let Some(b) = self.buffers.get_mut(&key) {
                    b.members.remove(&key_of(nick));
                    let why = reason_suffix(reason.as_deref());
                    b.add_event(
                        EventKind::Part,
                        format!("{nick} left{why}"),
                        time,
                        Some(nick),
                    );
                }
            }
            ServerEvent::Kicked {
                room,
                by,
                nick,
                reason,
            } => {
                let me = same(nick, &self.me);
                if let Some(b) = self.buffers.get_mut(&key_of(room)) {
                    let why = reason_suffix(reason.as_deref());
                    if me {
                        b.joined = false;
                        b.members.clear();
                        b.add_event(
                            EventKind::Kick,
                            format!("{by} removed you from {room}{why}"),
                            time,
                            None,
                        );
                    } else {
                        b.members.remove(&key_of(nick));
                        b.add_event(
                            EventKind::Kick,
                            format!("{by} removed {nick}{why}"),
                            time,
                            None,
                        );
                    }
                }
            }
            ServerEvent::Quit { nick, reason } => {
                let k = key_of(nick);
                for b in self.buffers.values_mut() {
                    if b.members.remove(&k).is_some()
                        || (b.kind == BufferKind::Private && b.key == k)
                    {
                        let why = if reason.is_empty() {
                            String::new()
                        } else {
                            format!(" ({reason})")
                        };
                        b.add_event(
                            EventKind::Quit,
                            format!("{nick} quit{why}"),
                            time,
                            Some(nick),
                        );
                    }
                }
            }
            ServerEvent::Nick { old, new } => self.renamed(old, new, time),
            ServerEvent::Topic { room, topic, by } => {
                let b = self.buffer_mut(room);
                b.topic = topic.as_ref().map(|t| Topic {
                    text: t.clone(),
                    by: Some(by.clone()),
                    set_at: Some(time),
                });
                let text = match topic {
                    Some(t) => format!("{by} set the topic: {t}"),
                    None => format!("{by} cleared the topic"),
                };
                b.add_event(EventKind::Topic, text, time, None);
            }
            ServerEvent::TopicInfo {
                room,
                topic,
                by,
                set_at,
            } => {
                let b = self.buffer_mut(room);
                b.topic = topic.as_ref().map(|t| Topic {
                    text: t.clone(),
                    by: by.clone(),
                    set_at: *set_at,
                });
                if show {
                    let text = match (topic, by) {
                        (Some(t), Some(by)) => format!("Topic of {room}: {t} (set by {by})"),
                        (Some(t), None) => format!("Topic of {room}: {t}"),
                        (None, _) => format!("{room} has no topic"),
                    };
                    self.note(EventKind::Info, text, time);
                }
            }
            ServerEvent::Members { room, members } => {
                if let Some(b) = self.buffers.get_mut(&key_of(room)) {
                    b.members = members
                        .iter()
                        .map(|m| {
                            let member = Member {
                                nick: m.nick.clone(),
                                op: m.op,
                                voice: m.voice,
                                account: m.account,
                                away: m.away,
                            };
                            (key_of(&m.nick), member)
                        })
                        .collect();
                }
                if show {
                    let names: Vec<String> = members
                        .iter()
                        .map(|m| format!("{}{}", m.sigil(), m.nick))
                        .collect();
                    let text = format!("In {room} ({}): {}", names.len(), names.join(", "));
                    self.note(EventKind::Info, text, time);
                }
            }
            ServerEvent::Away { nick, away } => {
                let k = key_of(nick);
                for b in self.buffers.values_mut() {
                    if let Some(m) = b.members.get_mut(&k) {
                        m.away = away.is_some();
                    }
                }
            }
            ServerEvent::Account { nick } => {
                let k = key_of(nick);
                for b in self.buffers.values_mut() {
                    if let Some(m) = b.members.get_mut(&k) {
                        m.account = true;
                    }
                }
            }
            ServerEvent::Mode { room, by, changes } => {
                if let Some(b) = self.buffers.get_mut(&key_of(room)) {
                    for c in changes {
                        let member = c.arg.as_deref().and_then(|a| b.members.get_mut(&key_of(a)));
                        if let Some(m) = member {
                            match c.mode.as_str() {
                                "o" => m.op = c.add,
                                "v" => m.voice = c.add,
                                _ => {}
                            }
                        }
                    }
                    let desc = ModeChange::describe(changes);
                    b.add_event(EventKind::Mode, format!("{by} set {}", desc), time, None);
                }
            }
            ServerEvent::Invited { room, by, nick } => {
                let who = if same(nick, &self.me) {
                    "you"
                } else {
                    nick.as_str()
                };
                self.note(
                    EventKind::Info,
                    format!("{by} invited {who} to {room}"),
                    time,
                );
            }
            ServerEvent::Typing { from, to, active } => {
                let key = if is_room(to) {
                    key_of(to)
                } else {
                    key_of(from)
                };
                if let Some(b) = self.buffers.get_mut(&key) {
                    if *active {
                        b.typing
                            .insert(key_of(from), (from.clone(), now + TYPING_SHOWN));
                    } else {
                        b.typing.remove(&key_of(from));
                    }
                }
            }
            ServerEvent::ReadMarker { target, msg, .. } => match msg {
                None if is_room(target) => {
                    // Nothing marked in a room just joined: its past is
                    // not news.
                    if let Some(b) = self.buffers.get_mut(&key_of(target))
                        && b.read_up_to == 0
                    {
                        b.unmarked = true;
                    }
                }
                None => {}
                Some(id) => self.set_marker(target, *id),
            },
            ServerEvent::ReadMarkers { markers } => {
                for m in markers {
                    if let Some(id) = m.msg {
                        self.set_marker(&m.target, id);
                    }
                }
            }
            ServerEvent::Announcement { text } => {
                self.announcement = Some((text.clone(), time));
                self.note(EventKind::Announce, format!("Announcement: {text}"), time);
            }
            ServerEvent::Notice { text } => self.note(EventKind::Info, text.clone(), time),
            ServerEvent::Kept { nick, guest } => {
                let text = if *guest {
                    format!(
                        "{nick} is offline and has no account: whoever next uses the name will read it."
                    )
                } else {
                    format!("{nick} is offline; they will get it when they are back.")
                };
                self.note(EventKind::Info, text, time);
            }
            ServerEvent::IsAway { nick, away } => {
                self.note(EventKind::Info, format!("{nick} is away: {away}"), time);
            }
            ServerEvent::Registered { nick } => {
                self.account = true;
                self.note(
                    EventKind::Info,
                    format!("{nick} is now your account. Log in with it next time."),
                    time,
                );
            }
            ServerEvent::Rooms { rooms } if show => {
                let text = if rooms.is_empty() {
                    "There are no rooms.".to_owned()
                } else {
                    let list: Vec<String> = rooms
                        .iter()
                        .map(|r| format!("{} ({})", r.name, r.members))
                        .collect();
                    format!("Rooms: {}", list.join(", "))
                };
                self.note(EventKind::Info, text, time);
            }
            ServerEvent::Users { users } if show => {
                let (on, off): (Vec<_>, Vec<_>) = users.iter().partition(|u| u.online);
                let names = |l: &[&crate::proto::UserInfo]| {
                    if l.is_empty() {
                        "nobody".to_owned()
                    } else {
                        l.iter()
                            .map(|u| u.nick.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                let text = format!(
                    "Online ({}): {}. Offline ({}): {}.",
                    on.len(),
                    names(&on),
                    off.len(),
                    names(&off)
                );
                self.note(EventKind::Info, text, time);
            }
            ServerEvent::Whois { users, missing } if show => {
                for u in users {
                    let rooms: Vec<String> = u
                        .rooms
                        .iter()
                        .map(|r| format!("{}{}", if r.op { "@" } else { "" }, r.room))
                        .collect();
                    let mut text = u.nick.clone();
                    if u.account {
                        text.push_str(" (account)");
                    }
                    text.push_str(&format!(" from {}", u.host));
                    if u.last_seen.is_some() {
                        text.push_str(", offline");
                    }
                    if let Some(a) = &u.away {
                        text.push_str(&format!(", away: {a}"));
                    }
                    if !rooms.is_empty() {
                        text.push_str(&format!(", in {}", rooms.join(" ")));
                    }
                    self.note(EventKind::Info, text, time);
                }
                for n in missing {
                    self.note(EventKind::Info, format!("{n} is not online"), time);
                }
            }
            ServerEvent::Ignores { nicks } if show => {
                let text = if nicks.is_empty() {
                    "You ignore nobody".to_owned()
                } else {
                    format!("Ignoring: {}", nicks.join(", "))
                };
                self.note(EventKind::Info, text, time);
            }
            ServerEvent::Search { query, messages } if show => {
                let n = messages.len();
                let text = match n {
                    0 => format!("No message matches “{query}”."),
                    1 => format!("1 message matches “{query}”:"),
                    n => format!("{n} messages match “{query}”:"),
                };
                self.note(EventKind::Info, text, time);
                self.show_messages(messages, time);
            }
            ServerEvent::Bye { reason } if !reason.is_empty() => {
                self.note(EventKind::Info, format!("Server: {reason}"), time);
            }
            _ => {}
        }
        out
    }

    // ---- internals --------------------------------------------------------

    /// The buffer for `name`, made if needed.
    fn buffer_mut(&mut self, name: &str) -> &mut Buffer {
        self.buffers
            .entry(key_of(name))
            .or_insert_with(|| Buffer::new(name))
    }

    /// Where notes without a conversation go: the open buffer, else the
    /// first one.
    fn here(&self) -> Option<String> {
        self.current
            .clone()
            .filter(|k| self.buffers.contains_key(k))
            .or_else(|| self.sorted().first().map(|b| b.key.clone()))
    }

    fn close(&mut self, key: &str) {
        self.buffers.remove(key);
        self.unsent_marks.remove(key);
        if self.current.as_deref() == Some(key) {
            self.current = self.sorted().first().map(|b| b.key.clone());
        }
    }

    fn item(&mut self, m: &Message) -> Item {
        self.max_seen = self.max_seen.max(m.id);
        let self_sent = same(&m.from, &self.me);
        Item::Message {
            msg: m.clone(),
            self_sent,
            highlight: !self_sent && (!is_room(&m.target) || mentions(&m.text, &self.me)),
        }
    }

    /// A message from the server, live or resumed.
    fn add_message(&mut self, m: &Message, now: Time) -> Vec<Effect> {
        let item = self.item(m);
        let (self_sent, highlight) = match &item {
            Item::Message {
                self_sent,
                highlight,
                ..
            } => (*self_sent, *highlight),
            Item::Event { .. } => unreachable!(),
        };
        let conv = m.conversation(&self.me).to_owned();
        let is_current = self.current.as_deref() == Some(key_of(&conv).as_str());
        let focused = self.focused;
        let b = self.buffer_mut(&conv);
        if b.has(m.id) {
            return vec![];
        }
        b.last_activity = Some(now);
        b.typing.remove(&key_of(&m.from));
        if !b.at_latest {
            // The window shows older history: the message is counted, and
            // shown when the user comes back to the present.
            if !self_sent && m.id > b.read_up_to {
                b.unread += 1;
            }
            return vec![];
        }
        b.insert(item);
        let following = b.following;
        let key = b.key.clone();
        let mut out = vec![];
        if self_sent {
            self.mark_read(&key, m.id, now);
        } else if m.id > b.read_up_to {
            if is_current && following && focused {
                self.mark_read(&key, m.id, now);
            } else {
                let b = self.buffers.get_mut(&key).expect("just made");
                b.unread += 1;
                if highlight {
                    b.highlight = !is_current;
                }
            }
            if highlight && (!is_current || !focused) {
                let title = if is_room(&m.target) {
                    format!("{} in {}", m.from, m.target)
                } else {
                    m.from.clone()
                };
                let body = match m.kind {
                    MsgKind::Action => format!("* {} {}", m.from, m.text),
                    _ => m.text.clone(),
                };
                out.push(Effect::Notify { title, body });
            }
        }
        let b = self.buffers.get_mut(&key).expect("just made");
        b.trim(if b.following || !is_current {
            End::Oldest
        } else {
            End::Newest
        });
        out
    }

    /// History that comes with a join (or an account's rejoin): the
    /// room's latest messages.
    fn merge_latest(&mut self, target: &str, messages: &[crate::proto::Message]) {
        let items: Vec<Item> = messages.iter().map(|m| self.item(m)).collect();
        let current = self.current.clone();
        let b = self.buffer_mut(target);
        for it in items {
            if !b.has(it.msg_id().unwrap_or(0)) {
                b.insert(it);
            }
        }
        b.has_older = !messages.is_empty();
        if b.unmarked {
            b.unmarked = false;
            b.read_up_to = b.read_up_to.max(b.last_id());
        }
        count_unread(b, current.as_deref());
        b.trim(End::Oldest);
    }

    fn merge_older(&mut self, key: &str, messages: &[crate::proto::Message]) {
        let items: Vec<Item> = messages.iter().map(|m| self.item(m)).collect();
        let current = self.current.clone();
        let Some(b) = self.buffers.get_mut(key) else {
            return;
        };
        b.loading = false;
        let first = b.first_id();
        b.has_older = messages.len() >= PAGE as usize;
        for it in items.into_iter().rev() {
            if !b.has(it.msg_id().unwrap_or(0)) {
                b.items.push_front(it);
            }
        }
        if first == 0 {
            count_unread(b, current.as_deref());
        }
        b.trim(End::Newest);
    }

    fn merge_newer(&mut self, key: &str, messages: &[crate::proto::Message]) {
        let items: Vec<Item> = messages.iter().map(|m| self.item(m)).collect();
        let Some(b) = self.buffers.get_mut(key) else {
            return;
        };
        b.loading = false;
        for it in items {
            if !b.has(it.msg_id().unwrap_or(0)) {
                b.items.push_back(it);
            }
        }
        if messages.len() < PAGE as usize {
            b.at_latest = true;
        }
        b.trim(End::Oldest);
    }

    /// Search results and the like: shown as notes, not merged.
    fn show_messages(&mut self, messages: &[crate::proto::Message], time: Time) {
        for m in messages {
            let text = match m.kind {
                MsgKind::Action => format!("{} * {} {}", m.target, m.from, m.text),
                _ => format!("{} <{}> {}", m.target, m.from, m.text),
            };
            self.note(EventKind::Info, text, time);
        }
    }

    /// Marks a buffer read up to `id`, here and (after [`MARK_DELAY`]) on
    /// the server, which tells our other sessions.
    fn mark_read(&mut self, key: &str, id: MsgId, now: Time) {
        let current = self.current.clone();
        let Some(b) = self.buffers.get_mut(key) else {
            return;
        };
        if id <= b.read_up_to {
            if b.unread > 0 {
                count_unread(b, current.as_deref());
            }
            return;
        }
        b.read_up_to = id;
        count_unread(b, current.as_deref());
        self.unsent_marks.insert(key.to_owned());
        // One request per conversation for a burst of reading.
        if self.marks_due.is_none() {
            self.marks_due = Some(now + MARK_DELAY);
        }
    }

    /// The server says where reading stopped (another session read on).
    fn set_marker(&mut self, target: &str, id: MsgId) {
        let current = self.current.clone();
        if let Some(b) = self.buffers.get_mut(&key_of(target))
            && id > b.read_up_to
        {
            b.read_up_to = id;
            count_unread(b, current.as_deref());
        }
    }

    fn renamed(&mut self, old: &str, new: &str, time: Time) {
        let me = same(old, &self.me);
        if me {
            self.me = new.to_owned();
        }
        let (ko, kn) = (key_of(old), key_of(new));
        let text = format!("{old} is now known as {new}");
        for b in self.buffers.values_mut() {
            let member = b.members.remove(&ko);
            let had = member.is_some();
            if let Some(mut m) = member {
                m.nick = new.to_owned();
                b.members.insert(kn.clone(), m);
            }
            if had || me || (b.kind == BufferKind::Private && b.key == ko) {
                b.add_event(EventKind::Nick, text.clone(), time, Some(old));
            }
        }
        // A private conversation follows the person to their new name.
        if self
            .buffers
            .get(&ko)
            .is_some_and(|b| b.kind == BufferKind::Private)
            && let Some(mut b) = self.buffers.remove(&ko)
        {
            b.name = new.to_owned();
            b.key = kn.clone();
            if self.current.as_deref() == Some(ko.as_str()) {
                self.current = Some(kn.clone());
            }
            self.buffers.insert(kn, b);
        }
    }
}

/// Recounts a buffer's unread messages and highlight from its window.
fn count_unread(b: &mut Buffer, current: Option<&str>) {
    let mut n = 0;
    let mut hl = false;
    for it in &b.items {
        if let Item::Message {
            msg,
            self_sent: false,
            highlight,
        } = it
            && msg.id > b.read_up_to
        {
            n += 1;
            hl |= highlight;
        }
    }
    b.unread = n;
    b.unread_more = n > 0 && b.has_older && b.first_id() > b.read_up_to && b.read_up_to > 0;
    b.highlight = hl && current != Some(b.key.as_str());
}

fn same(a: &str, b: &str) -> bool {
    key_of(a) == key_of(b)
}

fn is_nick_char(c: char) -> bool {
    c.is_alphanumeric() || "_-[]\\`^{}|".contains(c)
}

/// Whether `text` mentions `nick` as a word (any case).
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let t = text.to_lowercase();
    let n = nick.to_lowercase();
    t.match_indices(&n).any(|(at, _)| {
        let before = t[..at].chars().next_back();
        let after = t[at + n.len()..].chars().next();
        !before.is_some_and(is_nick_char) && !after.is_some_and(is_nick_char)
    })
}

#[cfg(test)]
mod tests;
