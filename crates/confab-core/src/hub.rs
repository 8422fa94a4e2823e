//! The hub: every chat rule, in one transport-agnostic state machine.
//!
//! The hub owns users, sessions, rooms, topics, ignore lists and the
//! messages kept for offline users. Doors feed it [`Command`]s for a
//! [`SessionId`] and it answers by pushing [`Delivery`]s into each
//! session's [`Outbox`]. It never touches a socket, never reads the clock
//! (`now` is an argument) and never blocks: a full outbox means the session
//! is too slow, and it is closed rather than waited for.
//!
//! A *user* is a name with its state (rooms, ignores, messages waiting); a
//! *session* is one connection of that user. One user may have several
//! sessions (several devices); room membership belongs to the user, while
//! the current target (where plain text goes) belongs to each session.

use std::collections::{HashMap, HashSet};

use crate::command::Command;
use crate::error::ChatError;
use crate::event::{
    Delivery, Envelope, Event, Message, MsgId, MsgKind, RoomInfo, Target, Timestamp, Topic,
    UserInfo,
};
use crate::names::{Nick, NickKey, RoomKey, RoomName};
use crate::rate::TokenBucket;
use crate::text::Text;

/// Where the hub puts a session's events. The door side drains it.
pub trait Outbox {
    /// Queues a delivery without waiting; `Err` when the queue is full.
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull>;
    /// Ends the session at once, whatever is queued, telling the door why.
    /// Called when the queue is full, so it must not rely on the queue.
    fn close(&self, reason: &str);
}

/// The outbox is full: the session does not keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Identifies a session. Doors allocate them (unique per server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

type UserId = u64;

/// The hub's rules that are configurable.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The room every new session joins, if any.
    pub default_room: Option<RoomName>,
    /// Commands per second a session may send on average…
    pub rate_per_sec: f64,
    /// …and in one burst.
    pub rate_burst: u32,
    /// A session that hits the rate limit this many times in a row is
    /// disconnected ("Excess flood"); 0 never disconnects.
    pub flood_strikes: u32,
    /// Private messages kept per offline user.
    pub offline_queue: usize,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            default_room: Some(RoomName::parse("#general", 50).expect("valid")),
            rate_per_sec: 5.0,
            rate_burst: 20,
            flood_strikes: 50,
            offline_queue: 100,
            max_rooms_per_user: 50,
        }
    }
}

struct Session<O> {
    outbox: O,
    user: Option<UserId>,
    /// The current room: the last joined one that the user is still in.
    room: Option<RoomKey>,
    /// The private conversation started with `/start`, which takes
    /// precedence over the room while set.
    private: Option<UserId>,
    bucket: TokenBucket,
    /// Rate-limit hits in a row.
    strikes: u32,
}

struct User {
    nick: Nick,
    sessions: Vec<SessionId>,
    /// Rooms in join order; the last is the most recently joined.
    rooms: Vec<RoomKey>,
    ignores: HashSet<UserId>,
    last_seen: Timestamp,
    /// Private messages that arrived while the user had no session.
    pending: Vec<Message>,
}

struct Room {
    name: RoomName,
    topic: Option<Topic>,
    members: Vec<UserId>,
}

/// The chat state machine. `O` is the door-side outbox type.
pub struct Hub<O> {
    config: HubConfig,
    sessions: HashMap<SessionId, Session<O>>,
    users: HashMap<UserId, User>,
    by_nick: HashMap<NickKey, UserId>,
    rooms: HashMap<RoomKey, Room>,
    next_user: UserId,
    next_msg: u64,
    /// Sessions whose outbox overflowed during the current call; they are
    /// closed once the fan-out that found them is done.
    overflowed: Vec<SessionId>,
}

/// Pushes `d` to one session, noting it if its outbox is full. A free
/// function over the sessions map so that callers can hold borrows of the
/// users and rooms maps meanwhile.
fn push<O: Outbox>(
    sessions: &HashMap<SessionId, Session<O>>,
    overflowed: &mut Vec<SessionId>,
    sid: SessionId,
    d: &Delivery,
) {
    if let Some(s) = sessions.get(&sid)
        && s.outbox.push(d.clone()).is_err()
    {
        overflowed.push(sid);
    }
}

/// Pushes `d` to every session of `user`.
fn push_user<O: Outbox>(
    sessions: &HashMap<SessionId, Session<O>>,
    overflowed: &mut Vec<SessionId>,
    user: &User,
    d: &Delivery,
) {
    for &sid in &user.sessions {
        push(sessions, overflowed, sid, d);
    }
}

impl<O: Outbox> Hub<O> {
    pub fn new(config: HubConfig) -> Hub<O> {
        Hub {
            config,
            sessions: HashMap::new(),
            users: HashMap::new(),
            by_nick: HashMap::new(),
            rooms: HashMap::new(),
            next_user: 1,
            next_msg: 1,
            overflowed: Vec::new(),
        }
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A new connection. It can do nothing but [`Command::Login`] until it
    /// has a name.
    pub fn connect(&mut self, sid: SessionId, outbox: O, now: Timestamp) {
        let session = Session {
            outbox,
            user: None,
            room: None,
            private: None,
            bucket: TokenBucket::full(self.config.rate_burst, now),
            strikes: 0,
        };
        self.sessions.insert(sid, session);
    }

    /// The connection of `sid` ended (the door noticed EOF or an error).
    pub fn disconnect(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        self.remove_session(sid, reason, now);
        self.settle(now);
    }

    /// The server is stopping: every session is told and closed.
    pub fn shutdown(&mut self, reason: &str, now: Timestamp) {
        let bye = Envelope::new(
            now,
            Event::Bye {
                reason: reason.to_owned(),
            },
        );
        for (_, s) in self.sessions.drain() {
            // A full queue cannot take the goodbye: close it at once.
            if s.outbox.push(bye.clone()).is_err() {
                s.outbox.close(reason);
            }
            if let Some(uid) = s.user
                && let Some(u) = self.users.get_mut(&uid)
            {
                u.sessions.clear();
                u.last_seen = now;
            }
        }
    }

    /// Runs one command of session `sid`.
    pub fn handle(&mut self, sid: SessionId, cmd: Command, now: Timestamp) {
        let Some(session) = self.sessions.get_mut(&sid) else {
            return;
        };
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if !session.bucket.take(now, rate, burst) {
            session.strikes += 1;
            if self.config.flood_strikes > 0 && session.strikes >= self.config.flood_strikes {
                self.kick(sid, "Excess flood", now);
            } else {
                self.reply(sid, now, Event::Error(ChatError::TooFast));
            }
            self.settle(now);
            return;
        }
        session.strikes = 0;
        if let Err(e) = self.dispatch(sid, cmd, now) {
            self.reply(sid, now, Event::Error(e));
        }
        self.settle(now);
    }

    fn dispatch(&mut self, sid: SessionId, cmd: Command, now: Timestamp) -> Result<(), ChatError> {
        if let Command::Login(nick) = cmd {
            return self.login(sid, nick, now);
        }
        let uid = self.sessions[&sid].user.ok_or(ChatError::NotLoggedIn)?;
        match cmd {
            Command::Login(_) => unreachable!("handled above"),
            Command::ChangeNick(nick) => self.change_nick(uid, nick, now),
            Command::Join(room) => self.join(sid, uid, room, now),
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
            Command::Send { to, kind, text } => self.send(sid, uid, to, kind, text, now),
            Command::Start(nick) => {
                let tid = self.user_id(&nick)?;
                self.sessions.get_mut(&sid).expect("live").private = Some(tid);
                self.reply_target(sid, now);
                Ok(())
            }
            Command::Stop => {
                self.sessions.get_mut(&sid).expect("live").private = None;
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
                self.users.get_mut(&uid).expect("live").ignores.insert(tid);
                let nick = self.users[&tid].nick.clone();
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
                let tid = self.user_id(&nick)?;
                if !self.users.get_mut(&uid).expect("live").ignores.remove(&tid) {
                    return Err(ChatError::NotIgnoring(nick));
                }
                let nick = self.users[&tid].nick.clone();
                let ev = Event::IgnoreChanged {
                    nick,
                    ignoring: false,
                };
                self.reply(sid, now, ev);
                Ok(())
            }
            Command::Ignores => {
                let mut nicks: Vec<Nick> = self.users[&uid]
                    .ignores
                    .iter()
                    .filter_map(|id| self.users.get(id).map(|u| u.nick.clone()))
                    .collect();
                nicks.sort_by_key(Nick::key);
                self.reply(sid, now, Event::Ignores(nicks));
                Ok(())
            }
            Command::Quit(reason) => {
                let reason = match reason {
                    Some(r) => format!("Quit: {r}"),
                    None => "Quit".to_owned(),
                };
                self.kick(sid, &reason, now);
                Ok(())
            }
        }
    }

    // /nick NAME, as the first name of a session.
    fn login(&mut self, sid: SessionId, nick: Nick, now: Timestamp) -> Result<(), ChatError> {
        if self.sessions[&sid].user.is_some() {
            return Err(ChatError::AlreadyLoggedIn);
        }
        let key = nick.key();
        let uid = match self.by_nick.get(&key) {
            Some(&uid) if !self.users[&uid].sessions.is_empty() => {
                return Err(ChatError::NickInUse(nick));
            }
            Some(&uid) => {
                // A known name that is offline: this session takes it (and
                // the messages kept for it), in the spelling asked for.
                self.users.get_mut(&uid).expect("indexed").nick = nick.clone();
                uid
            }
            None => {
                let uid = self.next_user;
                self.next_user += 1;
                self.by_nick.insert(key, uid);
                self.users.insert(
                    uid,
                    User {
                        nick: nick.clone(),
                        sessions: Vec::new(),
                        rooms: Vec::new(),
                        ignores: HashSet::new(),
                        last_seen: now,
                        pending: Vec::new(),
                    },
                );
                uid
            }
        };
        self.users.get_mut(&uid).expect("live").sessions.push(sid);
        self.sessions.get_mut(&sid).expect("live").user = Some(uid);
        let online = self
            .users
            .values()
            .filter(|u| !u.sessions.is_empty())
            .count();
        self.reply(sid, now, Event::Welcome { nick, online });
        self.deliver_pending(uid, now);
        if let Some(room) = self.config.default_room.clone() {
            self.join(sid, uid, room, now)?;
        }
        Ok(())
    }

    /// Hands the messages kept for `uid` to its sessions.
    fn deliver_pending(&mut self, uid: UserId, now: Timestamp) {
        let user = self.users.get_mut(&uid).expect("live");
        if user.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut user.pending);
        let user = &self.users[&uid];
        let count = Envelope::new(
            now,
            Event::OfflineMessages {
                count: pending.len(),
            },
        );
        push_user(&self.sessions, &mut self.overflowed, user, &count);
        for msg in pending {
            let d = Envelope::new(msg.time, Event::Message { msg, offline: true });
            push_user(&self.sessions, &mut self.overflowed, user, &d);
        }
    }

    // /nick NAME
    fn change_nick(&mut self, uid: UserId, nick: Nick, now: Timestamp) -> Result<(), ChatError> {
        let old = self.users[&uid].nick.clone();
        if old == nick {
            return Ok(());
        }
        let (old_key, key) = (old.key(), nick.key());
        let mut inherited = Vec::new();
        if key != old_key {
            if let Some(&other) = self.by_nick.get(&key) {
                if !self.users[&other].sessions.is_empty() {
                    return Err(ChatError::NickInUse(nick));
                }
                // An offline name is free to take, with what was kept for
                // it; whoever ignored that name now ignores its new holder.
                let gone = self.users.remove(&other).expect("indexed");
                inherited = gone.pending;
                for u in self.users.values_mut() {
                    if u.ignores.remove(&other) {
                        u.ignores.insert(uid);
                    }
                }
            }
            self.by_nick.remove(&old_key);
            self.by_nick.insert(key, uid);
        }
        let user = self.users.get_mut(&uid).expect("live");
        user.nick = nick.clone();
        user.pending.extend(inherited);
        let d = Envelope::new(now, Event::NickChanged { old, new: nick });
        for id in self.audience(uid) {
            push_user(&self.sessions, &mut self.overflowed, &self.users[&id], &d);
        }
        self.deliver_pending(uid, now);
        Ok(())
    }

    /// `uid` and everyone who shares a room with them.
    fn audience(&self, uid: UserId) -> HashSet<UserId> {
        let mut ids = HashSet::from([uid]);
        for key in &self.users[&uid].rooms {
            ids.extend(self.rooms[key].members.iter().copied());
        }
        ids
    }

    // /join #room
    fn join(
        &mut self,
        sid: SessionId,
        uid: UserId,
        name: RoomName,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = name.key();
        let user = self.users.get_mut(&uid).expect("live");
        if user.rooms.contains(&key) {
            let session = self.sessions.get_mut(&sid).expect("live");
            session.room = Some(key);
            session.private = None;
            self.reply_target(sid, now);
            return Ok(());
        }
        if user.rooms.len() >= self.config.max_rooms_per_user {
            return Err(ChatError::TooManyRooms(user.rooms.len()));
        }
        user.rooms.push(key.clone());
        let room = self.rooms.entry(key.clone()).or_insert_with(|| Room {
            name,
            topic: None,
            members: Vec::new(),
        });
        room.members.push(uid);
        // Every session of the user now has a room to talk to; the one that
        // asked makes it its current target.
        for &s in &user.sessions {
            let session = self.sessions.get_mut(&s).expect("live");
            if s == sid {
                session.room = Some(key.clone());
                session.private = None;
            } else if session.room.is_none() {
                session.room = Some(key.clone());
            }
        }
        let joined = Envelope::new(
            now,
            Event::Joined {
                room: room.name.clone(),
                nick: user.nick.clone(),
            },
        );
        for id in &room.members {
            push_user(
                &self.sessions,
                &mut self.overflowed,
                &self.users[id],
                &joined,
            );
        }
        if room.topic.is_some() {
            let ev = Event::TopicIs {
                room: room.name.clone(),
                topic: room.topic.clone(),
            };
            self.reply(sid, now, ev);
        }
        self.members(sid, Some(self.rooms[&key].name.clone()), now)
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
        let room = self.rooms.get_mut(&key).expect("member of it");
        let user = self.users.get_mut(&uid).expect("live");
        let parted = Envelope::new(
            now,
            Event::Parted {
                room: room.name.clone(),
                nick: user.nick.clone(),
                reason,
            },
        );
        for id in &room.members {
            push_user(
                &self.sessions,
                &mut self.overflowed,
                &self.users[id],
                &parted,
            );
        }
        room.members.retain(|&m| m != uid);
        if room.members.is_empty() {
            self.rooms.remove(&key);
        }
        let user = self.users.get_mut(&uid).expect("live");
        user.rooms.retain(|k| *k != key);
        let fallback = user.rooms.last().cloned();
        let sessions = user.sessions.clone();
        for s in sessions {
            let session = self.sessions.get_mut(&s).expect("live");
            if session.room.as_ref() == Some(&key) {
                session.room = fallback.clone();
                if session.private.is_none() {
                    self.reply_target(s, now);
                }
            }
        }
        Ok(())
    }

    // /rooms
    fn rooms_list(&mut self, sid: SessionId, now: Timestamp) {
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .values()
            .map(|r| RoomInfo {
                name: r.name.clone(),
                members: r.members.len(),
                topic: r.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        rooms.sort_by_key(|r| r.name.key());
        self.reply(sid, now, Event::Rooms(rooms));
    }

    // /list [#room]
    fn members(
        &mut self,
        sid: SessionId,
        room: Option<RoomName>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.room_arg(sid, room)?;
        let room = &self.rooms[&key];
        let mut nicks: Vec<Nick> = room
            .members
            .iter()
            .map(|id| self.users[id].nick.clone())
            .collect();
        nicks.sort_by_key(Nick::key);
        let ev = Event::Members {
            room: room.name.clone(),
            nicks,
        };
        self.reply(sid, now, ev);
        Ok(())
    }

    // /users
    fn users_list(&mut self, sid: SessionId, now: Timestamp) {
        let mut users: Vec<UserInfo> = self
            .users
            .values()
            .map(|u| {
                let online = !u.sessions.is_empty();
                UserInfo {
                    nick: u.nick.clone(),
                    online,
                    last_seen: (!online).then_some(u.last_seen),
                }
            })
            .collect();
        users.sort_by_key(|u| u.nick.key());
        self.reply(sid, now, Event::Users(users));
    }

    // /msg [@nick|#room] text, /me text, plain text
    fn send(
        &mut self,
        sid: SessionId,
        uid: UserId,
        to: Option<Target>,
        kind: MsgKind,
        text: Text,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let target = match to {
            Some(t) => t,
            None => self.target_of(sid).ok_or(ChatError::NoTarget)?,
        };
        let from = self.users[&uid].nick.clone();
        let id = MsgId(self.next_msg);
        match target {
            Target::Room(name) => {
                let key = self.member_room_arg(sid, uid, Some(name))?;
                self.next_msg += 1;
                let room = &self.rooms[&key];
                let msg = Message {
                    id,
                    time: now,
                    from,
                    to: Target::Room(room.name.clone()),
                    kind,
                    text,
                };
                let d = Envelope::new(
                    now,
                    Event::Message {
                        msg,
                        offline: false,
                    },
                );
                for mid in &room.members {
                    let member = &self.users[mid];
                    if !member.ignores.contains(&uid) {
                        push_user(&self.sessions, &mut self.overflowed, member, &d);
                    }
                }
            }
            Target::User(nick) => {
                let tid = self.user_id(&nick)?;
                let recipient = &self.users[&tid];
                let msg = Message {
                    id,
                    time: now,
                    from,
                    to: Target::User(recipient.nick.clone()),
                    kind,
                    text,
                };
                let ignored = recipient.ignores.contains(&uid);
                let offline = recipient.sessions.is_empty();
                if offline && recipient.pending.len() >= self.config.offline_queue {
                    return Err(ChatError::OfflineQueueFull(recipient.nick.clone()));
                }
                self.next_msg += 1;
                let d = Envelope::new(
                    now,
                    Event::Message {
                        msg: msg.clone(),
                        offline: false,
                    },
                );
                if tid != uid {
                    // The sender's own sessions see what they sent.
                    push_user(&self.sessions, &mut self.overflowed, &self.users[&uid], &d);
                }
                let recipient_nick = recipient.nick.clone();
                // Someone ignoring the sender is not told, and the sender
                // cannot tell: the message seems delivered or kept.
                if offline {
                    if !ignored {
                        self.users.get_mut(&tid).expect("live").pending.push(msg);
                    }
                    let ev = Event::KeptForOffline {
                        nick: recipient_nick,
                    };
                    self.reply(sid, now, ev);
                } else if !ignored {
                    push_user(&self.sessions, &mut self.overflowed, &self.users[&tid], &d);
                }
            }
        }
        Ok(())
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
        let by = self.users[&uid].nick.clone();
        let room = self.rooms.get_mut(&key).expect("member of it");
        room.topic = topic.clone().map(|text| Topic {
            text,
            by: by.clone(),
            time: now,
        });
        let d = Envelope::new(
            now,
            Event::TopicChanged {
                room: room.name.clone(),
                by,
                topic,
            },
        );
        for id in &room.members {
            push_user(&self.sessions, &mut self.overflowed, &self.users[id], &d);
        }
        Ok(())
    }

    /// The session's current target: its private conversation, else its
    /// current room.
    fn target_of(&self, sid: SessionId) -> Option<Target> {
        let s = &self.sessions[&sid];
        if let Some(user) = s.private.and_then(|id| self.users.get(&id)) {
            return Some(Target::User(user.nick.clone()));
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

    /// The room named, or the session's current room; it must exist.
    fn room_arg(&self, sid: SessionId, room: Option<RoomName>) -> Result<RoomKey, ChatError> {
        match room {
            Some(name) => {
                let key = name.key();
                if self.rooms.contains_key(&key) {
                    Ok(key)
                } else {
                    Err(ChatError::NoSuchRoom(name))
                }
            }
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
        let d = Envelope::new(now, event);
        push(&self.sessions, &mut self.overflowed, sid, &d);
    }

    /// Says goodbye to `sid` and removes it.
    fn kick(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        let bye = Envelope::new(
            now,
            Event::Bye {
                reason: reason.to_owned(),
            },
        );
        // A full queue cannot take the goodbye, and `settle` will not find
        // the session once it is removed: close it here instead.
        if let Some(s) = self.sessions.get(&sid)
            && s.outbox.push(bye).is_err()
        {
            s.outbox.close(reason);
        }
        self.remove_session(sid, reason, now);
    }

    /// Removes a session; when it was its user's last, the user leaves
    /// every room and the rooms they shared hear that they quit.
    fn remove_session(&mut self, sid: SessionId, reason: &str, now: Timestamp) {
        let Some(session) = self.sessions.remove(&sid) else {
            return;
        };
        let Some(uid) = session.user else {
            return;
        };
        let user = self.users.get_mut(&uid).expect("live");
        user.sessions.retain(|&s| s != sid);
        if !user.sessions.is_empty() {
            return;
        }
        user.last_seen = now;
        let mut audience = self.audience(uid);
        audience.remove(&uid);
        let user = self.users.get_mut(&uid).expect("live");
        let rooms = std::mem::take(&mut user.rooms);
        let d = Envelope::new(
            now,
            Event::Quit {
                nick: user.nick.clone(),
                reason: reason.to_owned(),
            },
        );
        for id in audience {
            push_user(&self.sessions, &mut self.overflowed, &self.users[&id], &d);
        }
        for key in rooms {
            let room = self.rooms.get_mut(&key).expect("member of it");
            room.members.retain(|&m| m != uid);
            if room.members.is_empty() {
                self.rooms.remove(&key);
            }
        }
    }

    /// Closes the sessions whose outbox overflowed. Their quits may
    /// overflow others, hence the loop.
    fn settle(&mut self, now: Timestamp) {
        while let Some(sid) = self.overflowed.pop() {
            if let Some(s) = self.sessions.get(&sid) {
                s.outbox.close("SendQ exceeded");
                self.remove_session(sid, "SendQ exceeded", now);
            }
        }
    }
}

#[cfg(test)]
#[path = "hub_tests.rs"]
mod tests;
