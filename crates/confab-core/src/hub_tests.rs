//! Unit tests for the hub's chat rules.
//!
//! Every test drives a [`Hub`] through a [`World`]: a fake clock, a set of
//! sessions whose [`TestOutbox`]es record what they were sent, and helpers
//! to log users in and run commands. Tests assert on the exact events each
//! session received, in order, and on who received nothing.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::*;
use crate::input::InputError;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// An [`Outbox`] that queues deliveries in memory, up to `capacity`, and
/// records the reasons it was closed with. Clones share the same queue.
#[derive(Clone)]
struct TestOutbox {
    queue: Rc<RefCell<Vec<Delivery>>>,
    capacity: usize,
    closed: Rc<RefCell<Vec<String>>>,
}

impl TestOutbox {
    fn with_capacity(capacity: usize) -> TestOutbox {
        TestOutbox {
            queue: Rc::default(),
            capacity,
            closed: Rc::default(),
        }
    }

    /// Drains the queued deliveries (freeing capacity, as a door would).
    fn take_deliveries(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.queue.borrow_mut())
    }

    /// Drains the queued events.
    fn take(&self) -> Vec<Event> {
        self.take_deliveries()
            .iter()
            .map(|d| d.event.clone())
            .collect()
    }

    fn closed(&self) -> Vec<String> {
        self.closed.borrow().clone()
    }
}

impl Outbox for TestOutbox {
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull> {
        let mut queue = self.queue.borrow_mut();
        if queue.len() >= self.capacity {
            return Err(QueueFull);
        }
        queue.push(delivery);
        Ok(())
    }

    fn close(&self, reason: &str) {
        self.closed.borrow_mut().push(reason.to_owned());
    }
}

/// Outbox capacity of an ordinary (fast) session.
const ROOMY: usize = 10_000;

/// A config with no default room and no practical rate limit, so that
/// tests only see the events they cause.
fn quiet_config() -> HubConfig {
    HubConfig {
        default_room: None,
        offline_queue: 100,
        max_rooms_per_user: 50,
        ..HubConfig::default()
    }
}

/// A hub, a fake clock and the outboxes of every session ever connected.
type W = World;

struct World {
    hub: Hub<TestOutbox>,
    now: Timestamp,
    next_sid: u64,
    outboxes: HashMap<SessionId, TestOutbox>,
}

impl World {
    /// A call with no session for the account `user` (REST).
    fn call(&mut self, user: &NickKey, cmd: Command) -> Result<Vec<Event>, ChatError> {
        self.hub.call(&Caller::Account(user.clone()), cmd, self.now)
    }

    /// A call as the REST admin.
    fn admin(&mut self, cmd: Command) -> Result<Vec<Event>, ChatError> {
        self.hub.call(&Caller::Admin, cmd, self.now)
    }

    /// The one reply of a call, which must be there.
    fn one(events: Vec<Event>) -> Event {
        match <[Event; 1]>::try_from(events) {
            Ok([event]) => event,
            Err(events) => panic!("one reply expected, got {events:?}"),
        }
    }

    /// A read a call answers, run as the server runs it (after the batch).
    fn read_messages(&mut self, events: Vec<Event>) -> Result<Vec<Message>, ChatError> {
        let answer = match W::one(events) {
            Event::Read(read) => self.hub.run_read(&read, self.now),
            other => Some(other),
        };
        crate::read::Read::messages(answer)
    }

    /// REST's rooms.
    fn api_rooms(&mut self, user: &NickKey) -> Result<Vec<RoomInfo>, ChatError> {
        match W::one(self.call(user, Command::Rooms)?) {
            Event::Rooms(rooms) => Ok(rooms),
            other => panic!("rooms expected, got {other:?}"),
        }
    }

    /// REST's users.
    fn api_users(&mut self, user: &NickKey) -> Result<Vec<UserInfo>, ChatError> {
        match W::one(self.call(user, Command::Users)?) {
            Event::Users(users) => Ok(users),
            other => panic!("users expected, got {other:?}"),
        }
    }

    /// REST history, read as the server reads it (run after the batch).
    fn api_history(
        &mut self,
        user: &NickKey,
        room: &RoomName,
        q: &HistoryQuery,
    ) -> Result<Vec<Message>, ChatError> {
        let cmd = Command::ChatHistory {
            target: Target::Room(room.clone()),
            window: crate::command::Window::Query(*q),
        };
        let events = self.call(user, cmd)?;
        self.read_messages(events)
    }

    /// REST search, read as the server reads it.
    fn api_search(
        &mut self,
        user: &NickKey,
        room: &RoomName,
        q: &str,
        limit: usize,
    ) -> Result<Vec<Message>, ChatError> {
        let cmd = Command::Search {
            text: text(q),
            room: Some(room.clone()),
            limit,
        };
        let events = self.call(user, cmd)?;
        self.read_messages(events)
    }

    /// A REST message: as stored, and whether it was kept for an offline
    /// guest (`Some(true)`) or account (`Some(false)`).
    fn api_send(
        &mut self,
        user: &NickKey,
        to: Target,
        kind: MsgKind,
        text: Text,
    ) -> Result<(Message, Option<bool>), ChatError> {
        let cmd = Command::Send {
            to: Some(to),
            kind,
            text,
            tags: crate::ClientTags::default(),
        };
        let events = self.call(user, cmd)?;
        let kept = events.iter().find_map(|e| match e {
            Event::KeptForOffline { guest, .. } => Some(*guest),
            _ => None,
        });
        let msg = events.into_iter().find_map(|e| match e {
            Event::Message { msg, .. } => Some(msg),
            _ => None,
        });
        Ok((msg.expect("a sent message is in the reply"), kept))
    }

    /// REST's read markers.
    fn api_read_markers(&mut self, user: &NickKey) -> Result<Vec<(Target, Marker)>, ChatError> {
        match W::one(self.call(user, Command::ReadMarkers)?) {
            Event::ReadMarkers(list) => Ok(list),
            other => panic!("read markers expected, got {other:?}"),
        }
    }

    /// REST's read marker of one conversation.
    fn api_read_marker(
        &mut self,
        user: &NickKey,
        target: Target,
    ) -> Result<(Target, Option<Marker>), ChatError> {
        match W::one(self.call(user, Command::GetReadMarker(target))?) {
            Event::ReadMarker { target, marker } => Ok((target, marker)),
            other => panic!("a read marker expected, got {other:?}"),
        }
    }

    fn new() -> World {
        World::with_config(quiet_config())
    }

    fn with_config(config: HubConfig) -> World {
        World {
            hub: Hub::new(config),
            now: Timestamp(1_700_000_000_000),
            next_sid: 1,
            outboxes: HashMap::new(),
        }
    }

    /// Moves the clock forward.
    fn advance(&mut self, ms: i64) {
        self.now = Timestamp(self.now.0 + ms);
    }

    /// Opens a session that has not logged in yet.
    fn connect(&mut self) -> SessionId {
        self.connect_with_capacity(ROOMY)
    }

    fn connect_with_capacity(&mut self, capacity: usize) -> SessionId {
        let sid = SessionId(self.next_sid);
        self.next_sid += 1;
        let outbox = TestOutbox::with_capacity(capacity);
        self.outboxes.insert(sid, outbox.clone());
        self.hub.connect(sid, outbox, self.now);
        sid
    }

    /// Connects and logs in as `name`, checks the welcome and drains the
    /// session's events.
    fn login(&mut self, name: &str) -> SessionId {
        let sid = self.connect();
        self.login_as(sid, name);
        sid
    }

    fn login_as(&mut self, sid: SessionId, name: &str) {
        self.cmd(sid, Command::Login(nick(name)));
        let events = self.events(sid);
        assert!(
            matches!(events.first(), Some(Event::Welcome { nick, .. }) if nick.as_str() == name),
            "login as {name} failed: {events:?}"
        );
    }

    fn cmd(&mut self, sid: SessionId, cmd: Command) {
        self.hub.handle(sid, cmd, self.now);
    }

    fn disconnect(&mut self, sid: SessionId, reason: &str) {
        self.hub.disconnect(sid, reason, self.now);
    }

    /// Drains the events `sid` received.
    /// Drains the events `sid` received; member lists are reduced to
    /// their names (see `members`).
    fn events(&self, sid: SessionId) -> Vec<Event> {
        let mut events = self.outboxes[&sid].take();
        for e in &mut events {
            if let Event::Members { members, .. } = e {
                for m in members.iter_mut() {
                    *m = plain_member(m.who.nick.as_str());
                }
            }
        }
        events
    }

    /// Drains the deliveries `sid` received (to check envelope times).
    fn deliveries(&self, sid: SessionId) -> Vec<Delivery> {
        self.outboxes[&sid].take_deliveries()
    }

    /// The reasons `sid`'s outbox was closed with.
    fn closed(&self, sid: SessionId) -> Vec<String> {
        self.outboxes[&sid].closed()
    }

    /// Drains every session's events.
    fn clear(&self) {
        for outbox in self.outboxes.values() {
            outbox.take();
        }
    }

    /// Makes each of `sids` join `room`, then drains everyone's events.
    fn in_room(&mut self, name: &str, sids: &[SessionId]) {
        for &sid in sids {
            self.cmd(sid, Command::join(room(name)));
        }
        self.clear();
    }

    /// Asserts that `sid` received nothing.
    #[track_caller]
    fn assert_silent(&self, sid: SessionId) {
        assert_eq!(self.events(sid), vec![]);
    }

    /// Runs `cmd` for `sid` and returns what `sid` received.
    fn ask(&mut self, sid: SessionId, cmd: Command) -> Vec<Event> {
        self.cmd(sid, cmd);
        self.events(sid)
    }

    /// The door of `sid` says its client took the page of kept messages
    /// ending with `upto`; what `sid` received then (the next page).
    fn take_kept(&mut self, sid: SessionId, upto: u64) -> Vec<Event> {
        self.hub.stage_kept_taken(sid, MsgId(upto), self.now);
        self.hub.finish(self.now);
        self.events(sid)
    }
}

/// The end of a page of kept messages, the last of them `upto`.
fn page_end(upto: u64) -> Event {
    Event::KeptPageEnd { upto: MsgId(upto) }
}

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

fn nick(s: &str) -> Nick {
    Nick::parse(s, 30).expect("valid nick")
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s, 50).expect("valid room")
}

fn text(s: &str) -> Text {
    Text::parse(s, 500).expect("valid text")
}

fn to_room(s: &str) -> Target {
    Target::Room(room(s))
}

fn to_user(s: &str) -> Target {
    Target::User(nick(s))
}

fn join(r: &str) -> Command {
    Command::join(room(r))
}

fn part(r: Option<&str>, reason: Option<&str>) -> Command {
    Command::Part {
        room: r.map(room),
        reason: reason.map(text),
    }
}

/// Says `t` to the session's current target.
fn say(t: &str) -> Command {
    Command::Send {
        to: None,
        kind: MsgKind::Say,
        text: text(t),
        tags: crate::ClientTags::default(),
    }
}

/// Says `t` to `target`.
fn say_to(target: Target, t: &str) -> Command {
    Command::Send {
        to: Some(target),
        kind: MsgKind::Say,
        text: text(t),
        tags: crate::ClientTags::default(),
    }
}

fn message(id: u64, time: Timestamp, from: &str, to: Target, kind: MsgKind, t: &str) -> Message {
    Message {
        id: MsgId(id),
        time,
        from: nick(from),
        to,
        kind,
        text: text(t),
        tags: crate::ClientTags::default(),
    }
}

/// The event of a live (not kept-for-offline) plain message.
fn said(id: u64, time: Timestamp, from: &str, to: Target, t: &str) -> Event {
    Event::Message {
        msg: message(id, time, from, to, MsgKind::Say, t),
        offline: false,
    }
}

/// The event of a plain message kept while the recipient was away.
fn said_offline(id: u64, time: Timestamp, from: &str, to: Target, t: &str) -> Event {
    Event::Message {
        msg: message(id, time, from, to, MsgKind::Say, t),
        offline: true,
    }
}

fn joined(r: &str, n: &str) -> Event {
    Event::Joined {
        room: room(r),
        nick: nick(n),
    }
}

fn parted(r: &str, n: &str, reason: Option<&str>) -> Event {
    Event::Parted {
        room: room(r),
        nick: nick(n),
        reason: reason.map(text),
    }
}

/// A member list row reduced to its name (`World::events` reduces them).
fn plain_member(n: &str) -> crate::event::Member {
    crate::event::Member {
        who: std::sync::Arc::new(crate::event::Actor {
            nick: nick(n),
            ident: n.into(),
            host: "".into(),
            realname: n.into(),
            account: false,
        }),
        status: Default::default(),
        away: false,
        oper: false,
    }
}

/// A room's read marker event when nothing was marked read there.
fn unread(r: &str) -> Event {
    Event::ReadMarker {
        target: to_room(r),
        marker: None,
    }
}

fn members(r: &str, nicks: &[&str]) -> Event {
    Event::Members {
        room: room(r),
        members: nicks.iter().map(|n| plain_member(n)).collect(),
        secret: false,
    }
}

fn quit(n: &str, reason: &str) -> Event {
    Event::Quit {
        nick: nick(n),
        reason: reason.to_owned(),
    }
}

fn bye(reason: &str) -> Event {
    Event::Bye {
        reason: reason.to_owned(),
    }
}

fn error(e: ChatError) -> Event {
    Event::Error(e)
}

fn target_changed(t: Option<Target>) -> Event {
    Event::TargetChanged(t)
}

fn room_info(r: &str, count: usize, topic: Option<&str>) -> RoomInfo {
    RoomInfo {
        name: room(r),
        members: count,
        topic: topic.map(text),
    }
}

fn online(n: &str) -> UserInfo {
    UserInfo {
        nick: nick(n),
        online: true,
        last_seen: None,
    }
}

fn offline(n: &str, last_seen: Timestamp) -> UserInfo {
    UserInfo {
        nick: nick(n),
        online: false,
        last_seen: Some(last_seen),
    }
}

// ---------------------------------------------------------------------------
// 1. Login
// ---------------------------------------------------------------------------

#[test]
fn login_welcomes_with_the_number_of_users_online() {
    let mut w = World::new();
    let alice = w.connect();
    assert_eq!(
        w.ask(alice, Command::Login(nick("alice"))),
        vec![Event::Welcome {
            nick: nick("alice"),
            online: 1
        }]
    );

    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::Login(nick("bob"))),
        vec![Event::Welcome {
            nick: nick("bob"),
            online: 2
        }]
    );
    // Without a shared room, nobody else hears of the login.
    w.assert_silent(alice);
}

#[test]
fn login_with_a_name_in_use_is_refused_case_insensitively_and_can_be_retried() {
    let mut w = World::new();
    let alice = w.login("alice");

    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::Login(nick("ALICE"))),
        vec![error(ChatError::NickInUse(nick("ALICE")))]
    );
    // The session stays unnamed…
    assert_eq!(
        w.ask(s, Command::Users),
        vec![error(ChatError::NotLoggedIn)]
    );
    // …and may try another name.
    assert_eq!(
        w.ask(s, Command::Login(nick("bob"))),
        vec![Event::Welcome {
            nick: nick("bob"),
            online: 2
        }]
    );
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice"), online("bob")])]
    );
}

#[test]
fn commands_before_login_are_refused() {
    let mut w = World::new();
    let bob = w.login("bob");
    w.in_room("#a", &[bob]);
    let s = w.connect();

    let commands = [
        Command::ChangeNick(nick("x")),
        join("#a"),
        part(Some("#a"), None),
        Command::Rooms,
        Command::Members(Some(room("#a"))),
        Command::Users,
        say_to(to_room("#a"), "hi"),
        say_to(to_user("bob"), "hi"),
        Command::Start(nick("bob")),
        Command::Stop,
        Command::GetTopic(Some(room("#a"))),
        Command::SetTopic {
            room: Some(room("#a")),
            topic: Some(text("t")),
        },
        Command::Ignore(nick("bob")),
        Command::Unignore(nick("bob")),
        Command::Ignores,
    ];
    for cmd in commands {
        let name = cmd.name();
        assert_eq!(w.ask(s, cmd), vec![error(ChatError::NotLoggedIn)], "{name}");
    }
    // Nothing reached anyone, and the session is still open.
    w.assert_silent(bob);
    assert_eq!(w.hub.session_count(), 2);
    // But leaving is never refused.
    assert_eq!(
        w.ask(s, Command::Quit(None)),
        vec![Event::Bye {
            reason: "Quit".into()
        }]
    );
    assert_eq!(w.hub.session_count(), 1);
    w.assert_silent(bob);
}

#[test]
fn second_login_is_refused_and_keeps_the_name() {
    let mut w = World::new();
    let alice = w.login("alice");
    assert_eq!(
        w.ask(alice, Command::Login(nick("other"))),
        vec![error(ChatError::AlreadyLoggedIn)]
    );
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice")])]
    );
}

#[test]
fn login_joins_the_default_room() {
    let mut w = World::with_config(HubConfig {
        default_room: Some(room("#general")),
        ..quiet_config()
    });
    let alice = w.connect();
    assert_eq!(
        w.ask(alice, Command::Login(nick("alice"))),
        vec![
            Event::Welcome {
                nick: nick("alice"),
                online: 1
            },
            joined("#general", "alice"),
            unread("#general"),
            members("#general", &["alice"]),
        ]
    );

    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::Login(nick("bob"))),
        vec![
            Event::Welcome {
                nick: nick("bob"),
                online: 2
            },
            joined("#general", "bob"),
            unread("#general"),
            members("#general", &["alice", "bob"]),
        ]
    );
    assert_eq!(w.events(alice), vec![joined("#general", "bob")]);

    // The default room is the current target.
    w.cmd(bob, say("hello"));
    let hello = said(1, w.now, "bob", to_room("#general"), "hello");
    assert_eq!(w.events(alice), vec![hello.clone()]);
    assert_eq!(w.events(bob), vec![hello]);
}

// ---------------------------------------------------------------------------
// 2. Nick changes
// ---------------------------------------------------------------------------

#[test]
fn nick_change_is_announced_once_to_everyone_sharing_a_room() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    let dave = w.login("dave");
    w.in_room("#a", &[alice, bob, carol]);
    w.in_room("#b", &[alice, bob]);
    w.in_room("#c", &[dave]);

    w.cmd(alice, Command::ChangeNick(nick("alicia")));
    let changed = Event::NickChanged {
        old: nick("alice"),
        new: nick("alicia"),
    };
    // Bob shares two rooms with her but hears it once.
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed.clone()]);
    assert_eq!(w.events(carol), vec![changed]);
    w.assert_silent(dave);

    assert_eq!(
        w.ask(bob, Command::Members(Some(room("#b")))),
        vec![members("#b", &["alicia", "bob"])]
    );
}

#[test]
fn nick_change_is_announced_to_the_user_even_in_no_room() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    assert_eq!(
        w.ask(alice, Command::ChangeNick(nick("alicia"))),
        vec![Event::NickChanged {
            old: nick("alice"),
            new: nick("alicia")
        }]
    );
    w.assert_silent(bob);
}

#[test]
fn nick_change_to_a_name_in_use_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);

    assert_eq!(
        w.ask(alice, Command::ChangeNick(nick("BOB"))),
        vec![error(ChatError::NickInUse(nick("BOB")))]
    );
    w.assert_silent(bob);
    assert_eq!(
        w.ask(alice, Command::Members(None)),
        vec![members("#a", &["alice", "bob"])]
    );
}

#[test]
fn nick_change_of_case_only_is_allowed_and_keeps_the_name_taken() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);

    w.cmd(alice, Command::ChangeNick(nick("Alice")));
    let changed = Event::NickChanged {
        old: nick("alice"),
        new: nick("Alice"),
    };
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);

    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::Login(nick("alice"))),
        vec![error(ChatError::NickInUse(nick("alice")))]
    );
}

#[test]
fn nick_change_to_the_same_name_does_nothing() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    assert_eq!(w.ask(alice, Command::ChangeNick(nick("alice"))), vec![]);
    w.assert_silent(bob);
}

#[test]
fn nick_change_frees_the_old_name() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.cmd(alice, Command::ChangeNick(nick("alicia")));
    w.clear();

    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::Login(nick("alice"))),
        vec![Event::Welcome {
            nick: nick("alice"),
            online: 2
        }]
    );
    assert_eq!(
        w.ask(s, Command::Users),
        vec![Event::Users(vec![online("alice"), online("alicia")])]
    );
}

#[test]
fn nick_change_to_an_offline_name_takes_it_with_its_kept_messages() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.disconnect(bob, "gone");
    let t = w.now;
    w.cmd(alice, say_to(to_user("bob"), "psst"));
    w.clear();

    w.advance(1_000);
    assert_eq!(
        w.ask(carol, Command::ChangeNick(nick("bob"))),
        vec![
            Event::NickChanged {
                old: nick("carol"),
                new: nick("bob")
            },
            Event::OfflineMessages { count: 1 },
            said_offline(1, t, "alice", to_user("bob"), "psst"),
            page_end(1),
        ]
    );
    assert_eq!(w.take_kept(carol, 1), vec![]);
    // The offline user is gone; carol's old name is free.
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice"), online("bob")])]
    );
}

#[test]
fn ignoring_a_name_follows_it_to_whoever_takes_it_by_nick_change() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.cmd(alice, Command::Ignore(nick("bob")));
    w.disconnect(bob, "gone");
    w.cmd(carol, Command::ChangeNick(nick("bob")));
    w.clear();
    assert_eq!(
        w.ask(alice, Command::Ignores),
        vec![Event::Ignores(vec![nick("bob")])]
    );
    w.cmd(carol, say_to(to_user("alice"), "hi"));
    assert_eq!(w.events(alice), vec![]);
}

// ---------------------------------------------------------------------------
// 3. Join and part
// ---------------------------------------------------------------------------

#[test]
fn join_announces_to_every_member_and_replies_with_the_members() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");

    assert_eq!(
        w.ask(alice, join("#a")),
        vec![
            joined("#a", "alice"),
            unread("#a"),
            members("#a", &["alice"])
        ]
    );
    assert_eq!(
        w.ask(bob, join("#a")),
        vec![
            joined("#a", "bob"),
            unread("#a"),
            members("#a", &["alice", "bob"])
        ]
    );
    assert_eq!(w.events(alice), vec![joined("#a", "bob")]);
    w.assert_silent(carol);
}

#[test]
fn join_matches_room_names_case_insensitively() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#Rust", &[alice]);

    // The room keeps the spelling of its creator.
    assert_eq!(
        w.ask(bob, join("#rUST")),
        vec![
            joined("#Rust", "bob"),
            unread("#Rust"),
            members("#Rust", &["alice", "bob"])
        ]
    );
    assert_eq!(w.events(alice), vec![joined("#Rust", "bob")]);
    assert_eq!(
        w.ask(bob, Command::Rooms),
        vec![Event::Rooms(vec![room_info("#Rust", 2, None)])]
    );
}

#[test]
fn last_joined_room_is_the_current_target() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[bob]);
    w.in_room("#b", &[carol]);
    w.in_room("#a", &[alice]);
    w.in_room("#b", &[alice]);

    w.cmd(alice, say("hi"));
    let hi = said(1, w.now, "alice", to_room("#b"), "hi");
    assert_eq!(w.events(alice), vec![hi.clone()]);
    assert_eq!(w.events(carol), vec![hi]);
    w.assert_silent(bob);
}

#[test]
fn joining_a_room_again_makes_it_current_without_announcing() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[alice]);

    assert_eq!(
        w.ask(alice, join("#a")),
        vec![target_changed(Some(to_room("#a")))]
    );
    w.assert_silent(bob);

    w.cmd(alice, say("back"));
    assert_eq!(
        w.events(bob),
        vec![said(1, w.now, "alice", to_room("#a"), "back")]
    );
}

#[test]
fn part_of_the_current_room_announces_and_falls_back_to_the_previous_room() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[alice, carol]);

    let left = parted("#b", "alice", Some("later"));
    assert_eq!(
        w.ask(alice, part(None, Some("later"))),
        vec![left.clone(), target_changed(Some(to_room("#a")))]
    );
    assert_eq!(w.events(carol), vec![left]);
    w.assert_silent(bob);

    w.cmd(alice, say("hi"));
    assert_eq!(
        w.events(bob),
        vec![said(1, w.now, "alice", to_room("#a"), "hi")]
    );
    w.assert_silent(carol);
}

#[test]
fn part_of_another_room_keeps_the_current_target() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[alice, carol]);

    let left = parted("#a", "alice", None);
    assert_eq!(w.ask(alice, part(Some("#a"), None)), vec![left.clone()]);
    assert_eq!(w.events(bob), vec![left]);

    w.cmd(alice, say("still here"));
    assert_eq!(
        w.events(carol),
        vec![said(1, w.now, "alice", to_room("#b"), "still here")]
    );
    w.assert_silent(bob);
}

#[test]
fn part_of_the_last_room_leaves_no_target() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);

    assert_eq!(
        w.ask(alice, part(None, None)),
        vec![parted("#a", "alice", None), target_changed(None)]
    );
    assert_eq!(
        w.ask(alice, say("anyone?")),
        vec![error(ChatError::NoTarget)]
    );
}

#[test]
fn part_of_a_room_one_is_not_in_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#b", &[bob]);

    assert_eq!(
        w.ask(alice, part(Some("#b"), None)),
        vec![error(ChatError::NotInRoom(room("#b")))]
    );
    assert_eq!(
        w.ask(alice, part(Some("#nowhere"), None)),
        vec![error(ChatError::NoSuchRoom(room("#nowhere")))]
    );
    assert_eq!(
        w.ask(alice, part(None, None)),
        vec![error(ChatError::NoRoom)]
    );
    w.assert_silent(bob);
}

#[test]
fn room_disappears_when_its_last_member_parts() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    w.in_room("#b", &[alice, bob]);

    assert_eq!(
        w.ask(bob, Command::Rooms),
        vec![Event::Rooms(vec![
            room_info("#a", 1, None),
            room_info("#b", 2, None),
        ])]
    );
    w.cmd(alice, part(Some("#a"), None));
    w.cmd(alice, part(Some("#b"), None));
    w.clear();
    assert_eq!(
        w.ask(bob, Command::Rooms),
        vec![Event::Rooms(vec![room_info("#b", 1, None)])]
    );
    assert_eq!(
        w.ask(bob, Command::Members(Some(room("#a")))),
        vec![error(ChatError::NoSuchRoom(room("#a")))]
    );
}

#[test]
fn joining_more_than_max_rooms_is_refused() {
    let mut w = World::with_config(HubConfig {
        max_rooms_per_user: 2,
        ..quiet_config()
    });
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    w.in_room("#b", &[alice]);

    assert_eq!(
        w.ask(alice, join("#c")),
        vec![error(ChatError::TooManyRooms(2))]
    );
    // The room was not created.
    assert_eq!(
        w.ask(alice, Command::Rooms),
        vec![Event::Rooms(vec![
            room_info("#a", 1, None),
            room_info("#b", 1, None),
        ])]
    );
    // Rejoining a room one is in is not a new room.
    assert_eq!(
        w.ask(alice, join("#a")),
        vec![target_changed(Some(to_room("#a")))]
    );
    // After parting one, there is room for another.
    w.cmd(alice, part(Some("#a"), None));
    w.clear();
    assert_eq!(
        w.ask(alice, join("#c")),
        vec![
            joined("#c", "alice"),
            unread("#c"),
            members("#c", &["alice"])
        ]
    );
}

#[test]
fn members_lists_any_existing_room_sorted() {
    let mut w = World::new();
    let carol = w.login("carol");
    let alice = w.login("Alice");
    let bob = w.login("bob");
    w.in_room("#a", &[carol, alice, bob]);
    let dave = w.login("dave");

    // Sorted case-insensitively; listing a room does not need membership.
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#a")))),
        vec![members("#a", &["Alice", "bob", "carol"])]
    );
    assert_eq!(
        w.ask(dave, Command::Members(None)),
        vec![error(ChatError::NoRoom)]
    );
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#zz")))),
        vec![error(ChatError::NoSuchRoom(room("#zz")))]
    );
}

#[test]
fn a_member_list_keeps_nick_order_through_joins_renames_and_parts() {
    let mut w = World::new();
    let zed = w.login("zed");
    let amy = w.login("Amy");
    let bob = w.login("bob");
    let dave = w.login("dave");
    w.in_room("#a", &[zed, amy, bob]);
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#a")))),
        vec![members("#a", &["Amy", "bob", "zed"])]
    );
    // A new name takes the member to its new place.
    w.cmd(amy, Command::ChangeNick(nick("carl")));
    w.cmd(zed, Command::ChangeNick(nick("Abe")));
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#a")))),
        vec![members("#a", &["Abe", "bob", "carl"])]
    );
    // Only the case changed: the same place.
    w.cmd(bob, Command::ChangeNick(nick("BOB")));
    w.cmd(bob, part(Some("#a"), None));
    w.cmd(dave, join("#a"));
    w.cmd(bob, join("#a"));
    w.clear();
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#a")))),
        vec![members("#a", &["Abe", "BOB", "carl", "dave"])]
    );
}

#[test]
fn a_member_list_loaded_from_the_store_is_in_nick_order() {
    let memory = Memory::default();
    let accounts = [account(1, "zed"), account(2, "Amy"), account(3, "bob")];
    memory.0.lock().unwrap().accounts = accounts.to_vec();
    let mut w = World::new();
    w.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    let sids: Vec<SessionId> = accounts.iter().map(|a| w.login_account(a)).collect();
    w.in_room("#a", &sids);
    // A restart loads the memberships in the accounts' order.
    let mut w = World::new();
    w.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    for a in &accounts {
        w.login_account(a);
    }
    let dave = w.login("dave");
    assert_eq!(
        w.ask(dave, Command::Members(Some(room("#a")))),
        vec![members("#a", &["Amy", "bob", "zed"])]
    );
}

// ---------------------------------------------------------------------------
// 4. Room messages
// ---------------------------------------------------------------------------

#[test]
fn room_message_reaches_only_that_rooms_members_and_echoes_to_the_sender() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[bob, carol]);

    w.cmd(alice, say_to(to_room("#a"), "hello a"));
    let to_a = said(1, w.now, "alice", to_room("#a"), "hello a");
    assert_eq!(w.events(alice), vec![to_a.clone()]);
    assert_eq!(w.events(bob), vec![to_a]);
    w.assert_silent(carol);

    w.cmd(carol, say_to(to_room("#b"), "hello b"));
    let to_b = said(2, w.now, "carol", to_room("#b"), "hello b");
    assert_eq!(w.events(bob), vec![to_b.clone()]);
    assert_eq!(w.events(carol), vec![to_b]);
    w.assert_silent(alice);
}

#[test]
fn room_message_keeps_its_kind_and_is_stamped_with_now() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    w.advance(42);

    w.cmd(
        alice,
        Command::Send {
            to: None,
            kind: MsgKind::Action,
            text: text("waves"),
            tags: crate::ClientTags::default(),
        },
    );
    let delivered = w.deliveries(bob);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].time, w.now);
    assert_eq!(
        delivered[0].event,
        Event::Message {
            msg: message(1, w.now, "alice", to_room("#a"), MsgKind::Action, "waves"),
            offline: false,
        }
    );
}

#[test]
fn sending_to_a_room_one_is_not_in_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    w.in_room("#b", &[bob]);

    assert_eq!(
        w.ask(alice, say_to(to_room("#b"), "let me in")),
        vec![error(ChatError::NotInRoom(room("#b")))]
    );
    assert_eq!(
        w.ask(alice, say_to(to_room("#nowhere"), "hello?")),
        vec![error(ChatError::NoSuchRoom(room("#nowhere")))]
    );
    w.assert_silent(bob);

    // Refused messages do not use up message ids.
    w.cmd(bob, say("first"));
    assert_eq!(
        w.events(bob),
        vec![said(1, w.now, "bob", to_room("#b"), "first")]
    );
}

#[test]
fn sending_with_no_room_and_no_conversation_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    assert_eq!(
        w.ask(alice, say("hello?")),
        vec![error(ChatError::NoTarget)]
    );
}

// ---------------------------------------------------------------------------
// 5. Private messages
// ---------------------------------------------------------------------------

#[test]
fn private_message_reaches_only_the_recipient_and_echoes_to_the_sender() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob, carol]);

    // Addressed in any case, the message names the recipient as they spell it.
    w.cmd(alice, say_to(to_user("BOB"), "psst"));
    let psst = said(1, w.now, "alice", to_user("bob"), "psst");
    assert_eq!(w.events(alice), vec![psst.clone()]);
    assert_eq!(w.events(bob), vec![psst]);
    w.assert_silent(carol);
}

#[test]
fn private_message_to_an_unknown_user_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    assert_eq!(
        w.ask(alice, say_to(to_user("nobody"), "hi")),
        vec![error(ChatError::NoSuchUser(nick("nobody")))]
    );
    assert_eq!(
        w.ask(alice, Command::Start(nick("nobody"))),
        vec![error(ChatError::NoSuchUser(nick("nobody")))]
    );
}

#[test]
fn start_makes_the_private_conversation_current_and_stop_reverts_to_the_room() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob, carol]);

    assert_eq!(
        w.ask(alice, Command::Start(nick("bob"))),
        vec![target_changed(Some(to_user("bob")))]
    );
    w.cmd(alice, say("just us"));
    let private = said(1, w.now, "alice", to_user("bob"), "just us");
    assert_eq!(w.events(alice), vec![private.clone()]);
    assert_eq!(w.events(bob), vec![private]);
    w.assert_silent(carol);

    assert_eq!(
        w.ask(alice, Command::Stop),
        vec![target_changed(Some(to_room("#a")))]
    );
    w.cmd(alice, say("everyone"));
    let public = said(2, w.now, "alice", to_room("#a"), "everyone");
    assert_eq!(w.events(alice), vec![public.clone()]);
    assert_eq!(w.events(bob), vec![public.clone()]);
    assert_eq!(w.events(carol), vec![public]);
}

#[test]
fn private_conversation_survives_parting_the_room() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    w.cmd(alice, Command::Start(nick("bob")));
    w.clear();

    // The target stays the conversation, so no TargetChanged.
    assert_eq!(
        w.ask(alice, part(None, None)),
        vec![parted("#a", "alice", None)]
    );
    w.cmd(alice, say("still talking"));
    let private = said(1, w.now, "alice", to_user("bob"), "still talking");
    assert_eq!(w.events(alice), vec![private.clone()]);
    assert_eq!(w.events(bob), vec![private]);
    // Ending it leaves no target: the room was parted.
    assert_eq!(w.ask(alice, Command::Stop), vec![target_changed(None)]);
}

#[test]
fn joining_a_room_ends_the_private_conversation() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.cmd(alice, Command::Start(nick("bob")));
    w.clear();

    w.cmd(alice, join("#a"));
    w.clear();
    w.cmd(alice, say("hi room"));
    assert_eq!(
        w.events(alice),
        vec![said(1, w.now, "alice", to_room("#a"), "hi room")]
    );
    w.assert_silent(bob);
}

// ---------------------------------------------------------------------------
// 6. Offline users
// ---------------------------------------------------------------------------

#[test]
fn users_lists_offline_users_with_when_they_were_last_seen() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.advance(5_000);
    let left_at = w.now;
    w.disconnect(bob, "Connection reset");
    w.advance(5_000);

    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice"), offline("bob", left_at)])]
    );
    // Back online, last_seen is hidden again.
    w.login("bob");
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice"), online("bob")])]
    );
}

#[test]
fn private_messages_to_an_offline_user_are_kept_and_delivered_in_order_on_login() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.disconnect(bob, "gone");

    let t1 = w.now;
    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "one")),
        vec![
            said(1, t1, "alice", to_user("bob"), "one"),
            Event::KeptForOffline {
                nick: nick("bob"),
                guest: true,
            },
        ]
    );
    w.advance(1_000);
    let t2 = w.now;
    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "two")),
        vec![
            said(2, t2, "alice", to_user("bob"), "two"),
            Event::KeptForOffline {
                nick: nick("bob"),
                guest: true,
            },
        ]
    );

    w.advance(60_000);
    let bob = w.connect();
    w.cmd(bob, Command::Login(nick("bob")));
    let delivered = w.deliveries(bob);
    let events: Vec<Event> = delivered.iter().map(|d| d.event.clone()).collect();
    assert_eq!(
        events,
        vec![
            Event::Welcome {
                nick: nick("bob"),
                online: 2
            },
            Event::OfflineMessages { count: 2 },
            said_offline(1, t1, "alice", to_user("bob"), "one"),
            said_offline(2, t2, "alice", to_user("bob"), "two"),
            page_end(2),
        ]
    );
    // Kept messages carry the time they were sent.
    assert_eq!(delivered[2].time, t1);
    assert_eq!(delivered[3].time, t2);

    // Once taken, they are delivered once.
    assert_eq!(w.take_kept(bob, 2), vec![]);
    w.disconnect(bob, "gone again");
    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::Login(nick("bob"))),
        vec![Event::Welcome {
            nick: nick("bob"),
            online: 2
        }]
    );
}

#[test]
fn offline_user_may_come_back_in_another_spelling() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.disconnect(bob, "gone");
    let t = w.now;
    w.cmd(alice, say_to(to_user("bob"), "hi"));
    w.clear();

    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::Login(nick("Bob"))),
        vec![
            Event::Welcome {
                nick: nick("Bob"),
                online: 2
            },
            Event::OfflineMessages { count: 1 },
            said_offline(1, t, "alice", to_user("bob"), "hi"),
            page_end(1),
        ]
    );
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice"), online("Bob")])]
    );
}

#[test]
fn offline_queue_limit_refuses_further_private_messages() {
    let mut w = World::with_config(HubConfig {
        offline_queue: 2,
        ..quiet_config()
    });
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.disconnect(bob, "gone");
    let t = w.now;
    w.cmd(alice, say_to(to_user("bob"), "one"));
    w.cmd(alice, say_to(to_user("bob"), "two"));
    w.clear();

    // Refused outright: no echo, nothing kept.
    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "three")),
        vec![error(ChatError::OfflineQueueFull(nick("bob")))]
    );

    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::Login(nick("bob"))),
        vec![
            Event::Welcome {
                nick: nick("bob"),
                online: 2
            },
            Event::OfflineMessages { count: 2 },
            said_offline(1, t, "alice", to_user("bob"), "one"),
            said_offline(2, t, "alice", to_user("bob"), "two"),
            page_end(2),
        ]
    );
}

// ---------------------------------------------------------------------------
// 7. Ignore
// ---------------------------------------------------------------------------

#[test]
fn ignored_users_room_messages_are_not_delivered_and_the_sender_is_not_told() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob, carol]);

    assert_eq!(
        w.ask(bob, Command::Ignore(nick("ALICE"))),
        vec![Event::IgnoreChanged {
            nick: nick("alice"),
            ignoring: true
        }]
    );
    w.cmd(alice, say("hello all"));
    let hello = said(1, w.now, "alice", to_room("#a"), "hello all");
    assert_eq!(w.events(alice), vec![hello.clone()]);
    assert_eq!(w.events(carol), vec![hello]);
    w.assert_silent(bob);

    // Ignoring is one way: alice still hears bob.
    w.cmd(bob, say("hi"));
    assert_eq!(
        w.events(alice),
        vec![said(2, w.now, "bob", to_room("#a"), "hi")]
    );
}

#[test]
fn ignored_users_private_messages_are_not_delivered_and_the_sender_is_not_told() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.cmd(bob, Command::Ignore(nick("alice")));
    w.clear();

    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "psst")),
        vec![said(1, w.now, "alice", to_user("bob"), "psst")]
    );
    w.assert_silent(bob);
}

#[test]
fn ignored_users_private_messages_are_not_kept_while_offline() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(account(1, "bob")));
    w.cmd(bob, Command::Ignore(nick("alice")));
    w.disconnect(bob, "gone");
    w.clear();

    // The sender sees the same as for a kept message.
    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "psst")),
        vec![
            said(1, w.now, "alice", to_user("bob"), "psst"),
            Event::KeptForOffline {
                nick: nick("bob"),
                guest: false,
            },
        ]
    );
    let bob = w.connect();
    assert_eq!(
        w.ask(bob, Command::LoginAccount(account(1, "bob"))),
        vec![Event::Welcome {
            nick: nick("bob"),
            online: 2
        }]
    );
}

#[test]
fn ignore_refuses_self_unknown_users_and_unignoring_non_ignored_users() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.login("bob");

    assert_eq!(
        w.ask(alice, Command::Ignore(nick("Alice"))),
        vec![error(ChatError::IgnoreSelf)]
    );
    assert_eq!(
        w.ask(alice, Command::Ignore(nick("nobody"))),
        vec![error(ChatError::NoSuchUser(nick("nobody")))]
    );
    // Ignores are by name, so unignoring an unknown name is just "not
    // ignoring".
    assert_eq!(
        w.ask(alice, Command::Unignore(nick("nobody"))),
        vec![error(ChatError::NotIgnoring(nick("nobody")))]
    );
    assert_eq!(
        w.ask(alice, Command::Unignore(nick("bob"))),
        vec![error(ChatError::NotIgnoring(nick("bob")))]
    );
    assert_eq!(w.ask(alice, Command::Ignores), vec![Event::Ignores(vec![])]);
}

#[test]
fn ignores_lists_ignored_users_sorted() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.login("dave");
    w.login("Carol");
    w.login("bob");
    for n in ["dave", "Carol", "bob"] {
        w.cmd(alice, Command::Ignore(nick(n)));
    }
    w.clear();

    assert_eq!(
        w.ask(alice, Command::Ignores),
        vec![Event::Ignores(vec![
            nick("bob"),
            nick("Carol"),
            nick("dave")
        ])]
    );
}

#[test]
fn unignore_restores_delivery() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    w.cmd(bob, Command::Ignore(nick("alice")));
    w.clear();

    assert_eq!(
        w.ask(bob, Command::Unignore(nick("alice"))),
        vec![Event::IgnoreChanged {
            nick: nick("alice"),
            ignoring: false
        }]
    );
    assert_eq!(w.ask(bob, Command::Ignores), vec![Event::Ignores(vec![])]);

    w.cmd(alice, say("can you hear me?"));
    w.cmd(alice, say_to(to_user("bob"), "and now?"));
    assert_eq!(
        w.events(bob),
        vec![
            said(1, w.now, "alice", to_room("#a"), "can you hear me?"),
            said(2, w.now, "alice", to_user("bob"), "and now?"),
        ]
    );
}

// ---------------------------------------------------------------------------
// 8. Topics
// ---------------------------------------------------------------------------

#[test]
fn set_topic_is_announced_to_the_rooms_members() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[carol]);

    w.cmd(
        alice,
        Command::SetTopic {
            room: None,
            topic: Some(text("all about rust")),
        },
    );
    let changed = Event::TopicChanged {
        room: room("#a"),
        by: nick("alice"),
        topic: Some(text("all about rust")),
    };
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
    w.assert_silent(carol);

    assert_eq!(
        w.ask(carol, Command::Rooms),
        vec![Event::Rooms(vec![
            room_info("#a", 2, Some("all about rust")),
            room_info("#b", 1, None),
        ])]
    );
}

#[test]
fn set_topic_of_a_room_one_is_not_in_is_refused() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#b", &[bob]);

    assert_eq!(
        w.ask(
            alice,
            Command::SetTopic {
                room: Some(room("#b")),
                topic: Some(text("hijack")),
            }
        ),
        vec![error(ChatError::NotInRoom(room("#b")))]
    );
    assert_eq!(
        w.ask(
            alice,
            Command::SetTopic {
                room: None,
                topic: Some(text("anything")),
            }
        ),
        vec![error(ChatError::NoRoom)]
    );
    w.assert_silent(bob);
    assert_eq!(
        w.ask(bob, Command::GetTopic(None)),
        vec![Event::TopicIs {
            room: room("#b"),
            topic: None
        }]
    );
}

#[test]
fn get_topic_tells_the_text_who_set_it_and_when() {
    let mut w = World::new();
    let alice = w.login("alice");
    let carol = w.login("carol");
    w.in_room("#a", &[alice]);
    w.advance(1_234);
    let set_at = w.now;
    w.cmd(
        alice,
        Command::SetTopic {
            room: None,
            topic: Some(text("rust")),
        },
    );
    w.clear();
    w.advance(10_000);

    let topic_is = Event::TopicIs {
        room: room("#a"),
        topic: Some(Topic {
            text: text("rust"),
            by: nick("alice"),
            time: set_at,
        }),
    };
    assert_eq!(
        w.ask(alice, Command::GetTopic(None)),
        vec![topic_is.clone()]
    );
    // Anyone may read the topic of an existing room.
    assert_eq!(
        w.ask(carol, Command::GetTopic(Some(room("#A")))),
        vec![topic_is]
    );
    assert_eq!(
        w.ask(carol, Command::GetTopic(None)),
        vec![error(ChatError::NoRoom)]
    );
    assert_eq!(
        w.ask(carol, Command::GetTopic(Some(room("#nope")))),
        vec![error(ChatError::NoSuchRoom(room("#nope")))]
    );
}

#[test]
fn joining_a_room_with_a_topic_shows_it() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    let set_at = w.now;
    w.cmd(
        alice,
        Command::SetTopic {
            room: None,
            topic: Some(text("rust")),
        },
    );
    w.clear();
    w.advance(500);

    assert_eq!(
        w.ask(bob, join("#a")),
        vec![
            joined("#a", "bob"),
            unread("#a"),
            Event::TopicIs {
                room: room("#a"),
                topic: Some(Topic {
                    text: text("rust"),
                    by: nick("alice"),
                    time: set_at,
                }),
            },
            members("#a", &["alice", "bob"]),
        ]
    );
}

#[test]
fn clearing_the_topic_is_announced_and_joiners_no_longer_see_one() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.cmd(
        alice,
        Command::SetTopic {
            room: None,
            topic: Some(text("rust")),
        },
    );
    w.clear();

    w.cmd(
        alice,
        Command::SetTopic {
            room: Some(room("#a")),
            topic: None,
        },
    );
    let cleared = Event::TopicChanged {
        room: room("#a"),
        by: nick("alice"),
        topic: None,
    };
    assert_eq!(w.events(alice), vec![cleared.clone()]);
    assert_eq!(w.events(bob), vec![cleared]);

    assert_eq!(
        w.ask(alice, Command::GetTopic(None)),
        vec![Event::TopicIs {
            room: room("#a"),
            topic: None
        }]
    );
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "bob", "carol"])
        ]
    );
}

// ---------------------------------------------------------------------------
// 10. Slow consumers
// ---------------------------------------------------------------------------

#[test]
fn slow_consumer_is_closed_when_its_outbox_overflows() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.connect_with_capacity(3);
    w.login_as(carol, "carol");
    let dave = w.login("dave");
    w.in_room("#a", &[alice, bob, carol]);

    // Carol does not read: her queue takes three messages, not a fourth.
    let t = w.now;
    for body in ["m1", "m2", "m3", "m4"] {
        w.cmd(alice, say(body));
    }
    let m = |id: u64, s: &str| said(id, t, "alice", to_room("#a"), s);

    assert_eq!(w.closed(carol), vec!["SendQ exceeded".to_owned()]);
    assert_eq!(w.events(carol), vec![m(1, "m1"), m(2, "m2"), m(3, "m3")]);
    assert_eq!(w.hub.session_count(), 3);
    // The others got every message, then the quit.
    let expected = vec![
        m(1, "m1"),
        m(2, "m2"),
        m(3, "m3"),
        m(4, "m4"),
        quit("carol", "SendQ exceeded"),
    ];
    assert_eq!(w.events(alice), expected);
    assert_eq!(w.events(bob), expected);
    w.assert_silent(dave);

    assert_eq!(
        w.ask(bob, Command::Members(None)),
        vec![members("#a", &["alice", "bob"])]
    );
    assert_eq!(
        w.ask(bob, Command::Users),
        vec![Event::Users(vec![
            online("alice"),
            online("bob"),
            offline("carol", t),
            online("dave"),
        ])]
    );
}

#[test]
fn slow_consumer_overflowing_on_a_reply_is_closed_too() {
    let mut w = World::new();
    let alice = w.connect_with_capacity(3);
    w.login_as(alice, "alice");
    let bob = w.login("bob");
    // Joined one at a time, draining alice's three-slot queue in between
    // (a join's replies: joined, read marker, members).
    w.in_room("#a", &[alice]);
    w.in_room("#a", &[bob]);

    w.cmd(alice, Command::Users);
    w.cmd(alice, Command::Rooms);
    w.cmd(alice, Command::Stats);
    assert_eq!(w.closed(alice), Vec::<String>::new());
    w.cmd(alice, Command::Ignores);
    assert_eq!(w.closed(alice), vec!["SendQ exceeded".to_owned()]);
    assert_eq!(w.events(bob), vec![quit("alice", "SendQ exceeded")]);
    assert_eq!(w.hub.session_count(), 1);
}

#[test]
fn quits_that_overflow_other_slow_consumers_close_them_too() {
    let mut w = World::new();
    let alice = w.login("alice");
    // Room for a join's three replies (joined, read marker, members).
    let carol = w.connect_with_capacity(3);
    w.login_as(carol, "carol");
    let dave = w.connect_with_capacity(3);
    w.login_as(dave, "dave");
    // Joined one at a time, draining the small queues in between.
    for sid in [alice, carol, dave] {
        w.in_room("#a", &[sid]);
    }
    // Leaves carol one free slot, dave two.
    w.cmd(carol, Command::Ignores);
    w.cmd(carol, Command::Ignores);
    w.cmd(dave, Command::Ignores);

    // m2 overflows carol; her quit then overflows dave.
    let t = w.now;
    w.cmd(alice, say("m1"));
    w.cmd(alice, say("m2"));
    let m1 = said(1, t, "alice", to_room("#a"), "m1");
    let m2 = said(2, t, "alice", to_room("#a"), "m2");

    assert_eq!(w.closed(carol), vec!["SendQ exceeded".to_owned()]);
    assert_eq!(w.closed(dave), vec!["SendQ exceeded".to_owned()]);
    assert_eq!(
        w.events(carol),
        vec![Event::Ignores(vec![]), Event::Ignores(vec![]), m1.clone()]
    );
    assert_eq!(
        w.events(dave),
        vec![Event::Ignores(vec![]), m1.clone(), m2.clone()]
    );
    assert_eq!(
        w.events(alice),
        vec![
            m1,
            m2,
            quit("carol", "SendQ exceeded"),
            quit("dave", "SendQ exceeded"),
        ]
    );
    assert_eq!(w.hub.session_count(), 1);
}

#[test]
fn quit_with_a_full_outbox_closes_it_instead_of_saying_bye() {
    let mut w = World::new();
    let alice = w.connect_with_capacity(3);
    w.login_as(alice, "alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    w.in_room("#a", &[bob]);
    // Three replies fill alice's three-slot queue.
    w.cmd(alice, Command::Ignores);
    w.cmd(alice, Command::Ignores);
    w.cmd(alice, Command::Ignores);

    w.cmd(alice, Command::Quit(None));
    // The goodbye does not fit, so the door must be told some other way.
    assert_eq!(w.closed(alice), vec!["Quit".to_owned()]);
    assert_eq!(w.events(alice), vec![Event::Ignores(vec![]); 3]);
    assert_eq!(w.events(bob), vec![quit("alice", "Quit")]);
    assert_eq!(w.hub.session_count(), 1);
}

// ---------------------------------------------------------------------------
// 11. Quit and disconnect
// ---------------------------------------------------------------------------

#[test]
fn quit_says_bye_and_tells_room_mates_once() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    let dave = w.login("dave");
    w.in_room("#a", &[alice, bob, carol]);
    w.in_room("#b", &[alice, bob]);
    w.in_room("#c", &[dave]);

    assert_eq!(
        w.ask(alice, Command::Quit(Some(text("see you")))),
        vec![bye("Quit: see you")]
    );
    let q = quit("alice", "Quit: see you");
    assert_eq!(w.events(bob), vec![q.clone()]);
    assert_eq!(w.events(carol), vec![q]);
    w.assert_silent(dave);
    assert_eq!(w.hub.session_count(), 3);
    assert_eq!(
        w.ask(bob, Command::Rooms),
        vec![Event::Rooms(vec![
            room_info("#a", 2, None),
            room_info("#b", 1, None),
            room_info("#c", 1, None),
        ])]
    );
}

#[test]
fn quit_without_a_reason_says_quit() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);

    assert_eq!(w.ask(alice, Command::Quit(None)), vec![bye("Quit")]);
    assert_eq!(w.events(bob), vec![quit("alice", "Quit")]);
}

#[test]
fn disconnect_tells_room_mates_the_reason_and_empties_rooms() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#solo", &[alice]);

    w.disconnect(alice, "Connection reset by peer");
    assert_eq!(
        w.events(bob),
        vec![quit("alice", "Connection reset by peer")]
    );
    w.assert_silent(carol);
    // The disconnected session is not told anything.
    w.assert_silent(alice);
    assert_eq!(w.hub.session_count(), 2);
    assert_eq!(
        w.ask(bob, Command::Rooms),
        vec![Event::Rooms(vec![room_info("#a", 1, None)])]
    );
}

#[test]
fn disconnect_of_an_unnamed_session_is_silent() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let s = w.connect();

    w.disconnect(s, "EOF");
    w.assert_silent(alice);
    assert_eq!(w.hub.session_count(), 1);
    // Disconnecting twice, or commands from a closed session, do nothing.
    w.disconnect(s, "EOF");
    w.cmd(s, Command::Login(nick("ghost")));
    w.assert_silent(s);
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![online("alice")])]
    );
}

// ---------------------------------------------------------------------------
// 12. Shutdown
// ---------------------------------------------------------------------------

#[test]
fn shutdown_says_bye_to_every_session() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let unnamed = w.connect();

    let now = w.now;
    w.hub.shutdown("Server shutting down", now);
    for sid in [alice, bob, unnamed] {
        assert_eq!(w.events(sid), vec![bye("Server shutting down")], "{sid:?}");
    }
    assert_eq!(w.hub.session_count(), 0);
}

// ---------------------------------------------------------------------------
// 13. A store that cannot commit (a full disk)
// ---------------------------------------------------------------------------

#[test]
fn a_message_that_cannot_be_stored_reaches_nobody_and_its_sender_is_told() {
    let mut w = World::new();
    let disk = Memory::default();
    disk.fill(true);
    w.hub = Hub::with_store(quiet_config(), Box::new(disk)).unwrap();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let storage_error = error(ChatError::Storage("the disk is full".into()));
    assert_eq!(w.ask(alice, say("lost?")), vec![storage_error.clone()]);
    assert_eq!(
        w.ask(alice, say_to(to_user("bob"), "psst")),
        vec![storage_error]
    );
    w.assert_silent(bob);
    // Several in one batch: every sender hears, once each, and nothing
    // of the batch is delivered.
    w.hub.stage(alice, say("one"), w.now);
    w.hub.stage(bob, say("two"), w.now);
    w.hub.stage(alice, say("three"), w.now);
    w.hub.finish(w.now);
    assert_eq!(
        w.events(alice),
        vec![error(ChatError::Storage("the disk is full".into()))]
    );
    assert_eq!(
        w.events(bob),
        vec![error(ChatError::Storage("the disk is full".into()))]
    );
}

// ---------------------------------------------------------------------------
// 14. Harness for rooms run by operators, user details, origins, accounts
// ---------------------------------------------------------------------------

use crate::event::{ModeChange, RoomMode, UserDetails};

/// An account as a door hands it over after checking the password.
fn account(id: i64, name: &str) -> Account {
    Account {
        id: AccountId(id),
        name: nick(name),
        password_hash: "$argon2id$test".into(),
        created: Timestamp(0),
        last_seen: Timestamp(0),
        tokens_after: Timestamp(0),
    }
}

/// A member list row reduced to its name, keeping its standing.
fn member_with(n: &str, status: Status) -> Member {
    Member {
        status,
        ..plain_member(n)
    }
}

/// A member list of a secret (`+s`) room.
fn secret_room(mut e: Event) -> Event {
    if let Event::Members { secret, .. } = &mut e {
        *secret = true;
    }
    e
}

fn members_with(r: &str, rows: &[(&str, Status)]) -> Event {
    Event::Members {
        room: room(r),
        members: rows.iter().map(|&(n, s)| member_with(n, s)).collect(),
        secret: false,
    }
}

const OP: Status = Status {
    op: true,
    voice: false,
};
const VOICE: Status = Status {
    op: false,
    voice: true,
};
const PLAIN: Status = Status {
    op: false,
    voice: false,
};

/// Reduces member rows to name, standing and away flag.
fn keep_status(e: &mut Event) {
    if let Event::Members { members, .. } = e {
        for m in members.iter_mut() {
            *m = Member {
                status: m.status,
                away: m.away,
                oper: m.oper,
                ..plain_member(m.who.nick.as_str())
            };
        }
    }
}

fn plus(mode: RoomMode) -> ModeChange {
    ModeChange { add: true, mode }
}

fn minus(mode: RoomMode) -> ModeChange {
    ModeChange { add: false, mode }
}

fn set_modes(r: &str, changes: Vec<ModeChange>) -> Command {
    Command::SetModes {
        room: room(r),
        changes,
    }
}

fn mode_changed(r: &str, by: &str, changes: Vec<ModeChange>) -> Event {
    Event::ModeChanged {
        room: room(r),
        by: nick(by),
        changes,
    }
}

fn modes_of(r: &str, modes: RoomModes, created: Timestamp) -> Event {
    Event::Modes {
        room: room(r),
        modes,
        created,
    }
}

/// The default modes of a new room: `+nt`.
fn nt() -> RoomModes {
    RoomModes {
        topic_ops_only: true,
        no_external: true,
        ..RoomModes::default()
    }
}

fn ban(mask: &str) -> RoomMode {
    RoomMode::Ban(mask.to_owned())
}

fn set_topic(t: &str) -> Command {
    Command::SetTopic {
        room: None,
        topic: Some(text(t)),
    }
}

fn topic_changed(r: &str, by: &str, t: &str) -> Event {
    Event::TopicChanged {
        room: room(r),
        by: nick(by),
        topic: Some(text(t)),
    }
}

fn kick(r: &str, n: &str, reason: Option<&str>) -> Command {
    Command::Kick {
        room: room(r),
        nick: nick(n),
        reason: reason.map(text),
    }
}

fn invite(n: &str, r: &str) -> Command {
    Command::Invite {
        nick: nick(n),
        room: room(r),
    }
}

fn invited(r: &str, by: &str, n: &str) -> Event {
    Event::Invited {
        room: room(r),
        by: nick(by),
        nick: nick(n),
    }
}

fn away_changed(n: &str, away: Option<&str>) -> Event {
    Event::AwayChanged {
        nick: nick(n),
        away: away.map(text),
    }
}

fn join_with_key(r: &str, key: Option<&str>) -> Command {
    Command::Join {
        room: room(r),
        key: key.map(str::to_owned),
    }
}

fn actor(n: &str, ident: &str, host: &str, realname: &str) -> Arc<Actor> {
    Arc::new(Actor {
        nick: nick(n),
        ident: ident.into(),
        host: host.into(),
        realname: realname.into(),
        account: false,
    })
}

fn client(ident: Option<&str>, host: &str) -> ClientInfo {
    ClientInfo {
        ident: ident.map(Into::into),
        host: host.into(),
        ..ClientInfo::default()
    }
}

impl World {
    /// A world whose hub has a store (in memory).
    fn with_store() -> World {
        let mut w = World::new();
        w.hub = Hub::with_store(quiet_config(), Box::new(Memory::default())).expect("loads");
        w
    }

    /// Opens a session with what a door knows of its client.
    fn connect_info(&mut self, info: ClientInfo) -> SessionId {
        let sid = SessionId(self.next_sid);
        self.next_sid += 1;
        let outbox = TestOutbox::with_capacity(ROOMY);
        self.outboxes.insert(sid, outbox.clone());
        self.hub.connect_with(sid, outbox, info, self.now);
        sid
    }

    /// Connects with `info`, logs in as `name` and drains the welcome.
    fn login_with(&mut self, name: &str, info: ClientInfo) -> SessionId {
        let sid = self.connect_info(info);
        self.login_as(sid, name);
        sid
    }

    /// Connects a session of `account` and drains what it was told.
    fn login_account(&mut self, account: &Account) -> SessionId {
        let sid = self.connect();
        self.cmd(sid, Command::LoginAccount(account.clone()));
        let events = self.events(sid);
        assert!(
            matches!(events.first(), Some(Event::Welcome { nick, .. }) if *nick == account.name),
            "login to {} failed: {events:?}",
            account.name
        );
        sid
    }

    /// Drains the events `sid` received, member rows keeping their
    /// standing (`@`, `+`) and away flag.
    fn events_with_status(&self, sid: SessionId) -> Vec<Event> {
        let mut events = self.outboxes[&sid].take();
        events.iter_mut().for_each(keep_status);
        events
    }

    /// Drains what `sid` received, each event with its origin.
    fn origins(&self, sid: SessionId) -> Vec<(Event, Option<Origin>)> {
        self.deliveries(sid)
            .iter()
            .map(|d| {
                let mut e = d.event.clone();
                keep_status(&mut e);
                (e, d.origin())
            })
            .collect()
    }

    /// Alice creates `#a` (so runs it), then bob joins; everyone drained.
    fn alice_runs_a(&mut self) -> (SessionId, SessionId) {
        let alice = self.login("alice");
        let bob = self.login("bob");
        self.in_room("#a", &[alice, bob]);
        (alice, bob)
    }
}

// ---------------------------------------------------------------------------
// 15. Operators and modes
// ---------------------------------------------------------------------------

#[test]
fn first_joiner_of_a_new_room_is_its_operator_and_later_joiners_are_not() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.cmd(alice, join("#a"));
    assert_eq!(
        w.events_with_status(alice),
        vec![
            joined("#a", "alice"),
            unread("#a"),
            members_with("#a", &[("alice", OP)])
        ]
    );
    w.cmd(bob, join("#a"));
    assert_eq!(
        w.events_with_status(bob),
        vec![
            joined("#a", "bob"),
            unread("#a"),
            members_with("#a", &[("alice", OP), ("bob", PLAIN)])
        ]
    );
}

#[test]
fn a_room_emptied_and_made_again_has_a_new_operator() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(alice, part(Some("#a"), None));
    w.cmd(bob, part(Some("#a"), None));
    w.clear();
    w.cmd(bob, join("#a"));
    assert_eq!(
        w.events_with_status(bob),
        vec![
            joined("#a", "bob"),
            unread("#a"),
            members_with("#a", &[("bob", OP)])
        ]
    );
}

#[test]
fn a_new_room_has_the_configured_default_modes() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    assert_eq!(
        w.ask(alice, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );

    let mut w = World::with_config(HubConfig {
        default_modes: RoomModes::from_flags("+mi").expect("flags"),
        ..quiet_config()
    });
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let mi = RoomModes {
        moderated: true,
        invite_only: true,
        ..RoomModes::default()
    };
    assert_eq!(
        w.ask(alice, Command::GetModes(room("#a"))),
        vec![modes_of("#a", mi, w.now)]
    );
}

#[test]
fn set_modes_by_a_member_who_is_not_operator_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(bob, set_modes("#a", vec![plus(RoomMode::Moderated)])),
        vec![error(ChatError::NotOperator(room("#a")))]
    );
    w.assert_silent(alice);
    assert_eq!(
        w.ask(bob, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn set_modes_by_a_non_member_is_refused_even_for_an_unknown_room() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    assert_eq!(
        w.ask(carol, set_modes("#a", vec![plus(RoomMode::Moderated)])),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    assert_eq!(
        w.ask(
            carol,
            set_modes("#nowhere", vec![plus(RoomMode::Moderated)])
        ),
        vec![error(ChatError::NoSuchRoom(room("#nowhere")))]
    );
    w.assert_silent(alice);
    w.assert_silent(bob);
}

#[test]
fn flag_modes_are_set_and_unset_and_told_to_every_member() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.in_room("#b", &[carol]);

    let on = vec![
        plus(RoomMode::Moderated),
        plus(RoomMode::InviteOnly),
        plus(RoomMode::Secret),
        minus(RoomMode::TopicOpsOnly),
        minus(RoomMode::NoExternal),
    ];
    w.cmd(alice, set_modes("#a", on.clone()));
    let changed = mode_changed("#a", "alice", on);
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
    w.assert_silent(carol);
    let mis = RoomModes {
        moderated: true,
        invite_only: true,
        secret: true,
        ..RoomModes::default()
    };
    assert_eq!(
        w.ask(bob, Command::GetModes(room("#a"))),
        vec![modes_of("#a", mis, w.now)]
    );

    let off = vec![
        minus(RoomMode::Moderated),
        minus(RoomMode::InviteOnly),
        minus(RoomMode::Secret),
        plus(RoomMode::TopicOpsOnly),
        plus(RoomMode::NoExternal),
    ];
    w.cmd(alice, set_modes("#a", off.clone()));
    let changed = mode_changed("#a", "alice", off);
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
    assert_eq!(
        w.ask(bob, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn mode_changes_that_change_nothing_are_left_out_of_the_announcement() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let noops = vec![
        plus(RoomMode::TopicOpsOnly),
        plus(RoomMode::NoExternal),
        minus(RoomMode::Moderated),
        minus(RoomMode::Key(None)),
        minus(RoomMode::Limit(None)),
        minus(RoomMode::Op(nick("bob"))),
        minus(RoomMode::Voice(nick("bob"))),
        plus(RoomMode::Op(nick("alice"))),
    ];
    w.cmd(alice, set_modes("#a", noops));
    w.assert_silent(alice);
    w.assert_silent(bob);

    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![
                plus(RoomMode::TopicOpsOnly),
                plus(RoomMode::Moderated),
                minus(RoomMode::InviteOnly),
            ],
        ),
    );
    let changed = mode_changed("#a", "alice", vec![plus(RoomMode::Moderated)]);
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
}

#[test]
fn op_or_voice_of_a_non_member_is_refused_while_the_other_changes_apply() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![
                plus(RoomMode::Op(nick("carol"))),
                plus(RoomMode::Voice(nick("bob"))),
                plus(RoomMode::Voice(nick("ghost"))),
                plus(RoomMode::Moderated),
            ],
        ),
    );
    let changed = mode_changed(
        "#a",
        "alice",
        vec![
            plus(RoomMode::Voice(nick("bob"))),
            plus(RoomMode::Moderated),
        ],
    );
    assert_eq!(
        w.events(alice),
        vec![
            error(ChatError::UserNotInRoom {
                nick: nick("carol"),
                room: room("#a")
            }),
            error(ChatError::NoSuchUser(nick("ghost"))),
            changed.clone(),
        ]
    );
    assert_eq!(w.events(bob), vec![changed]);
    w.assert_silent(carol);
}

#[test]
fn a_refused_change_alone_announces_nothing() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let _carol = w.login("carol");
    assert_eq!(
        w.ask(
            alice,
            set_modes("#a", vec![plus(RoomMode::Op(nick("carol")))])
        ),
        vec![error(ChatError::UserNotInRoom {
            nick: nick("carol"),
            room: room("#a")
        })]
    );
    w.assert_silent(bob);
}

#[test]
fn op_given_in_any_spelling_lets_a_member_run_the_room_until_taken_back() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Op(nick("BOB")))]),
    );
    // The hub says the name as it spells it.
    let opped = mode_changed("#a", "alice", vec![plus(RoomMode::Op(nick("bob")))]);
    assert_eq!(w.events(alice), vec![opped.clone()]);
    assert_eq!(w.events(bob), vec![opped]);
    w.cmd(bob, Command::Members(None));
    assert_eq!(
        w.events_with_status(bob),
        vec![members_with("#a", &[("alice", OP), ("bob", OP)])]
    );

    w.cmd(bob, set_modes("#a", vec![plus(RoomMode::Moderated)]));
    let moderated = mode_changed("#a", "bob", vec![plus(RoomMode::Moderated)]);
    assert_eq!(w.events(alice), vec![moderated.clone()]);
    assert_eq!(w.events(bob), vec![moderated]);

    w.cmd(
        alice,
        set_modes("#a", vec![minus(RoomMode::Op(nick("bob")))]),
    );
    w.clear();
    assert_eq!(
        w.ask(bob, set_modes("#a", vec![minus(RoomMode::Moderated)])),
        vec![error(ChatError::NotOperator(room("#a")))]
    );
}

#[test]
fn voice_shows_in_the_member_list() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Voice(nick("bob")))]),
    );
    w.clear();
    w.cmd(alice, Command::Members(None));
    assert_eq!(
        w.events_with_status(alice),
        vec![members_with("#a", &[("alice", OP), ("bob", VOICE)])]
    );
    w.assert_silent(bob);
}

#[test]
fn key_is_set_shown_only_to_members_and_unset() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    let set = vec![plus(RoomMode::Key(Some("sesame".into())))];
    w.cmd(alice, set_modes("#a", set.clone()));
    let changed = mode_changed("#a", "alice", set.clone());
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
    let keyed = |key: &str| RoomModes {
        key: Some(key.into()),
        ..nt()
    };
    assert_eq!(
        w.ask(bob, Command::GetModes(room("#a"))),
        vec![modes_of("#a", keyed("sesame"), w.now)]
    );
    assert_eq!(
        w.ask(carol, Command::GetModes(room("#a"))),
        vec![modes_of("#a", keyed("*"), w.now)]
    );

    // The same key again changes nothing.
    w.cmd(alice, set_modes("#a", set));
    w.assert_silent(alice);
    w.assert_silent(bob);

    // `-k` with whatever parameter removes it, announced without it.
    w.cmd(
        alice,
        set_modes("#a", vec![minus(RoomMode::Key(Some("guess".into())))]),
    );
    let removed = mode_changed("#a", "alice", vec![minus(RoomMode::Key(None))]);
    assert_eq!(w.events(alice), vec![removed.clone()]);
    assert_eq!(w.events(bob), vec![removed]);
    w.cmd(alice, set_modes("#a", vec![minus(RoomMode::Key(None))]));
    w.assert_silent(alice);
    assert_eq!(
        w.ask(carol, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn an_empty_key_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let empty = error(ChatError::BadValue("a key cannot be empty".into()));
    assert_eq!(
        w.ask(
            alice,
            set_modes("#a", vec![plus(RoomMode::Key(Some(String::new())))])
        ),
        vec![error(ChatError::BadModeParam {
            room: room("#a"),
            mode: 'k',
            error: InputError::Empty(Field::Key),
        })]
    );
    assert_eq!(
        w.ask(alice, set_modes("#a", vec![plus(RoomMode::Key(None))])),
        vec![empty]
    );
    w.assert_silent(bob);
    assert_eq!(
        w.ask(alice, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn limit_is_set_changed_and_unset_and_zero_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(alice, set_modes("#a", vec![plus(RoomMode::Limit(Some(0)))])),
        vec![error(ChatError::BadValue(
            "a limit must be a number above 0".into()
        ))]
    );
    w.assert_silent(bob);

    for (change, announced) in [
        (plus(RoomMode::Limit(Some(5))), true),
        (plus(RoomMode::Limit(Some(5))), false),
        (plus(RoomMode::Limit(Some(6))), true),
        (minus(RoomMode::Limit(None)), true),
        (minus(RoomMode::Limit(None)), false),
    ] {
        w.cmd(alice, set_modes("#a", vec![change.clone()]));
        let expected = if announced {
            vec![mode_changed("#a", "alice", vec![change])]
        } else {
            vec![]
        };
        assert_eq!(w.events(alice), expected);
        assert_eq!(w.events(bob), expected);
    }
    assert_eq!(
        w.ask(alice, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn ban_masks_are_completed_listed_and_removed() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let banned_at = w.now;
    w.cmd(alice, set_modes("#a", vec![plus(ban("bob"))]));
    let added = mode_changed("#a", "alice", vec![plus(ban("bob!*@*"))]);
    assert_eq!(w.events(alice), vec![added.clone()]);
    assert_eq!(w.events(bob), vec![added]);
    let list = Event::Bans {
        room: room("#a"),
        bans: vec![Ban {
            mask: "bob!*@*".into(),
            by: nick("alice"),
            time: banned_at,
        }],
    };
    w.advance(1_000);
    assert_eq!(w.ask(bob, Command::Bans(room("#a"))), vec![list.clone()]);

    // A mask already there (in any case) and a mask not there change
    // nothing.
    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![plus(ban("BOB!*@*")), plus(ban("bob")), minus(ban("carol"))],
        ),
    );
    w.assert_silent(alice);
    w.assert_silent(bob);
    assert_eq!(w.ask(bob, Command::Bans(room("#a"))), vec![list]);

    w.cmd(alice, set_modes("#a", vec![minus(ban("bob"))]));
    let removed = mode_changed("#a", "alice", vec![minus(ban("bob!*@*"))]);
    assert_eq!(w.events(alice), vec![removed.clone()]);
    assert_eq!(w.events(bob), vec![removed]);
    assert_eq!(
        w.ask(bob, Command::Bans(room("#a"))),
        vec![Event::Bans {
            room: room("#a"),
            bans: vec![]
        }]
    );
}

#[test]
fn ban_list_is_capped_and_the_rest_of_the_command_applies() {
    let mut w = World::with_config(HubConfig {
        max_bans: 2,
        ..quiet_config()
    });
    let (alice, bob) = w.alice_runs_a();
    w.cmd(
        alice,
        set_modes("#a", vec![plus(ban("x")), plus(ban("y")), plus(ban("z"))]),
    );
    let added = mode_changed("#a", "alice", vec![plus(ban("x!*@*")), plus(ban("y!*@*"))]);
    assert_eq!(
        w.events(alice),
        vec![error(ChatError::BanListFull(room("#a"))), added.clone()]
    );
    assert_eq!(w.events(bob), vec![added]);

    // Room made by removing one first.
    w.cmd(
        alice,
        set_modes("#a", vec![minus(ban("x")), plus(ban("z"))]),
    );
    let swapped = mode_changed("#a", "alice", vec![minus(ban("x!*@*")), plus(ban("z!*@*"))]);
    assert_eq!(w.events(alice), vec![swapped.clone()]);
    assert_eq!(w.events(bob), vec![swapped]);
}

// ---------------------------------------------------------------------------
// 16. Who may join
// ---------------------------------------------------------------------------

#[test]
fn bans_match_nick_ident_and_host_and_keep_the_banned_out() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let carol = w.login_with("carol", client(None, "evil.example"));
    let dave = w.login_with("dave", client(Some("rogue"), "localhost"));
    let erin = w.login("erin");
    let frank = w.login_with("frank", client(Some("frank"), "good.example"));
    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![
                plus(ban("*!*@evil.example")),
                plus(ban("*!rogue@*")),
                plus(ban("ERIN")),
            ],
        ),
    );
    w.clear();
    for (sid, _name) in [(carol, "carol"), (dave, "dave"), (erin, "erin")] {
        assert_eq!(
            w.ask(sid, join("#a")),
            vec![error(ChatError::Banned(room("#a")))]
        );
    }
    w.assert_silent(alice);
    assert_eq!(
        w.ask(frank, join("#a")),
        vec![
            joined("#a", "frank"),
            unread("#a"),
            members("#a", &["alice", "frank"])
        ]
    );
    assert_eq!(w.events(alice), vec![joined("#a", "frank")]);
}

#[test]
fn invite_only_room_needs_an_invitation_that_joining_uses_up() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let carol = w.login("carol");
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::InviteOnly)]));
    w.clear();
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![error(ChatError::InviteOnly(room("#a")))]
    );

    w.cmd(alice, invite("carol", "#a"));
    assert_eq!(w.events(alice), vec![invited("#a", "alice", "carol")]);
    assert_eq!(w.events(carol), vec![invited("#a", "alice", "carol")]);
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "carol"])
        ]
    );
    assert_eq!(w.events(alice), vec![joined("#a", "carol")]);

    w.cmd(carol, part(Some("#a"), None));
    w.clear();
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![error(ChatError::InviteOnly(room("#a")))]
    );
}

#[test]
fn keyed_room_needs_its_key() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let carol = w.login("carol");
    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Key(Some("sesame".into())))]),
    );
    w.clear();
    for key in [None, Some("wrong"), Some("SESAME")] {
        assert_eq!(
            w.ask(carol, join_with_key("#a", key)),
            vec![error(ChatError::BadKey(room("#a")))]
        );
    }
    w.assert_silent(alice);
    assert_eq!(
        w.ask(carol, join_with_key("#a", Some("sesame"))),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "carol"])
        ]
    );
}

#[test]
fn room_at_its_limit_refuses_joiners_until_someone_leaves() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::Limit(Some(2)))]));
    w.clear();
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![error(ChatError::RoomFull(room("#a")))]
    );
    w.assert_silent(alice);
    w.cmd(bob, part(Some("#a"), None));
    w.clear();
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "carol"])
        ]
    );
}

#[test]
fn room_limit_counts_only_the_members_online() {
    let mut w = World::with_store();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    // Dave's account stays a member while offline.
    let dave = w.login_account(&account(1, "dave"));
    w.in_room("#a", &[dave]);
    w.disconnect(dave, "gone");
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::Limit(Some(2)))]));
    w.clear();

    let carol = w.login("carol");
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "carol"])
        ]
    );
    let erin = w.login("erin");
    assert_eq!(
        w.ask(erin, join("#a")),
        vec![error(ChatError::RoomFull(room("#a")))]
    );
}

#[test]
fn an_invitation_lets_past_a_ban_and_the_limit_but_not_the_key() {
    let mut w = World::new();
    let (alice, _bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![plus(ban("carol")), plus(RoomMode::Limit(Some(2)))],
        ),
    );
    w.cmd(alice, invite("carol", "#a"));
    w.clear();
    assert_eq!(
        w.ask(carol, join("#a")),
        vec![
            joined("#a", "carol"),
            unread("#a"),
            members("#a", &["alice", "bob", "carol"])
        ]
    );

    let dave = w.login("dave");
    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Key(Some("sesame".into())))]),
    );
    w.cmd(alice, invite("dave", "#a"));
    w.clear();
    assert_eq!(
        w.ask(dave, join("#a")),
        vec![error(ChatError::BadKey(room("#a")))]
    );
}

// ---------------------------------------------------------------------------
// 17. Who may send and set the topic
// ---------------------------------------------------------------------------

#[test]
fn no_external_room_refuses_messages_from_non_members() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    assert_eq!(
        w.ask(carol, say_to(to_room("#a"), "hi")),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    w.assert_silent(alice);
    w.assert_silent(bob);
}

#[test]
fn room_without_no_external_takes_messages_from_outside_and_echoes_them() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(alice, set_modes("#a", vec![minus(RoomMode::NoExternal)]));
    w.clear();
    w.cmd(carol, say_to(to_room("#a"), "hi"));
    let hi = said(1, w.now, "carol", to_room("#a"), "hi");
    assert_eq!(w.events(carol), vec![hi.clone()]);
    assert_eq!(w.events(alice), vec![hi.clone()]);
    assert_eq!(w.events(bob), vec![hi]);
}

#[test]
fn moderated_room_lets_only_voiced_members_and_operators_speak() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::Moderated)]));
    w.clear();
    assert_eq!(
        w.ask(bob, say("may I?")),
        vec![error(ChatError::CannotSend(room("#a")))]
    );
    w.assert_silent(alice);

    w.cmd(alice, say("ops may"));
    let ops = said(1, w.now, "alice", to_room("#a"), "ops may");
    assert_eq!(w.events(alice), vec![ops.clone()]);
    assert_eq!(w.events(bob), vec![ops]);

    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Voice(nick("bob")))]),
    );
    w.clear();
    w.cmd(bob, say("now I may"));
    let voiced = said(2, w.now, "bob", to_room("#a"), "now I may");
    assert_eq!(w.events(alice), vec![voiced.clone()]);
    assert_eq!(w.events(bob), vec![voiced]);
}

#[test]
fn banned_member_stays_but_cannot_send_unless_voiced() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(alice, set_modes("#a", vec![plus(ban("bob"))]));
    w.clear();
    assert_eq!(
        w.ask(bob, say("hello?")),
        vec![error(ChatError::CannotSend(room("#a")))]
    );
    w.assert_silent(alice);
    assert_eq!(
        w.ask(bob, Command::Members(None)),
        vec![members("#a", &["alice", "bob"])]
    );

    w.cmd(
        alice,
        set_modes("#a", vec![plus(RoomMode::Voice(nick("bob")))]),
    );
    w.clear();
    w.cmd(bob, say("voiced"));
    assert_eq!(
        w.events(alice),
        vec![said(1, w.now, "bob", to_room("#a"), "voiced")]
    );
}

#[test]
fn topic_ops_only_room_refuses_the_topic_from_non_operators() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(bob, set_topic("mine")),
        vec![error(ChatError::NotOperator(room("#a")))]
    );
    w.assert_silent(alice);
    w.cmd(alice, set_topic("ours"));
    let changed = topic_changed("#a", "alice", "ours");
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
}

#[test]
fn without_topic_ops_only_any_member_sets_the_topic() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(alice, set_modes("#a", vec![minus(RoomMode::TopicOpsOnly)]));
    w.clear();
    w.cmd(bob, set_topic("mine"));
    let changed = topic_changed("#a", "bob", "mine");
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
}

// ---------------------------------------------------------------------------
// 18. Kick and invite
// ---------------------------------------------------------------------------

#[test]
fn kick_by_a_non_operator_or_non_member_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    assert_eq!(
        w.ask(bob, kick("#a", "alice", None)),
        vec![error(ChatError::NotOperator(room("#a")))]
    );
    assert_eq!(
        w.ask(carol, kick("#a", "bob", None)),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    w.assert_silent(alice);
    w.assert_silent(bob);
}

#[test]
fn kick_of_someone_not_in_the_room_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    assert_eq!(
        w.ask(alice, kick("#a", "carol", None)),
        vec![error(ChatError::UserNotInRoom {
            nick: nick("carol"),
            room: room("#a")
        })]
    );
    assert_eq!(
        w.ask(alice, kick("#a", "ghost", None)),
        vec![error(ChatError::NoSuchUser(nick("ghost")))]
    );
    w.assert_silent(bob);
    w.assert_silent(carol);
}

#[test]
fn kick_tells_every_member_and_the_kicked_who_is_then_out() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    let dave = w.login("dave");
    w.in_room("#b", &[bob, dave]);
    w.in_room("#a", &[alice, bob, carol]);

    w.cmd(alice, kick("#a", "bob", Some("spam")));
    let kicked = Event::Kicked {
        room: room("#a"),
        by: nick("alice"),
        nick: nick("bob"),
        reason: Some(text("spam")),
    };
    assert_eq!(w.events(alice), vec![kicked.clone()]);
    assert_eq!(w.events(carol), vec![kicked.clone()]);
    // Bob's current room falls back to the one he is still in.
    assert_eq!(
        w.events(bob),
        vec![kicked, target_changed(Some(to_room("#b")))]
    );
    w.assert_silent(dave);

    assert_eq!(
        w.ask(alice, Command::Members(None)),
        vec![members("#a", &["alice", "carol"])]
    );
    assert_eq!(
        w.ask(bob, say_to(to_room("#a"), "let me back")),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    w.assert_silent(alice);
}

#[test]
fn invite_from_a_non_member_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    let dave = w.login("dave");
    assert_eq!(
        w.ask(carol, invite("dave", "#a")),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    assert_eq!(
        w.ask(carol, invite("dave", "#nowhere")),
        vec![error(ChatError::NoSuchRoom(room("#nowhere")))]
    );
    assert_eq!(
        w.ask(alice, invite("ghost", "#a")),
        vec![error(ChatError::NoSuchUser(nick("ghost")))]
    );
    w.assert_silent(bob);
    w.assert_silent(dave);
}

#[test]
fn invite_to_an_invite_only_room_must_come_from_an_operator() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::InviteOnly)]));
    w.clear();
    assert_eq!(
        w.ask(bob, invite("carol", "#a")),
        vec![error(ChatError::NotOperator(room("#a")))]
    );
    w.assert_silent(alice);
    w.assert_silent(carol);
}

#[test]
fn invite_to_an_open_room_from_any_member_reaches_the_target_and_the_room() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    let dave = w.login("dave");
    w.cmd(bob, invite("CAROL", "#a"));
    let inv = invited("#a", "bob", "carol");
    assert_eq!(w.events(carol), vec![inv.clone()]);
    assert_eq!(w.events(alice), vec![inv.clone()]);
    assert_eq!(w.events(bob), vec![inv]);
    w.assert_silent(dave);
}

#[test]
fn invite_of_a_member_is_refused() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(alice, invite("bob", "#a")),
        vec![error(ChatError::AlreadyInRoom {
            nick: nick("bob"),
            room: room("#a")
        })]
    );
    w.assert_silent(bob);
}

#[test]
fn invite_of_an_offline_registered_user_is_refused() {
    let mut w = World::with_store();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let dave = w.login_account(&account(1, "dave"));
    w.disconnect(dave, "gone");
    assert_eq!(
        w.ask(alice, invite("dave", "#a")),
        vec![error(ChatError::NotOnline(nick("dave")))]
    );
}

// ---------------------------------------------------------------------------
// 19. Away, real names, WHOIS, WHOWAS, stats
// ---------------------------------------------------------------------------

#[test]
fn an_away_user_joining_is_announced_away_to_the_room_right_after_the_join() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    w.cmd(bob, Command::Away(Some(text("lunch"))));
    w.clear();
    w.cmd(bob, join("#a"));
    assert_eq!(
        w.events(alice),
        vec![joined("#a", "bob"), away_changed("bob", Some("lunch"))]
    );
    // The joiner is not told about itself.
    let own = w.events(bob);
    assert!(
        !own.contains(&away_changed("bob", Some("lunch"))),
        "{own:?}"
    );
    // Not away: nothing more than the join.
    let carol = w.login("carol");
    w.clear();
    w.cmd(carol, join("#a"));
    assert_eq!(w.events(alice), vec![joined("#a", "carol")]);
    // Those who share another room with bob (carol, in #a) were told
    // when he went away.
    w.in_room("#b", &[carol]);
    w.cmd(bob, join("#b"));
    assert_eq!(w.events(carol), vec![joined("#b", "bob")]);
}

#[test]
fn away_is_told_to_everyone_sharing_a_room_and_every_session_of_the_user() {
    let mut w = World::with_store();
    let alice_account = account(1, "alice");
    let a1 = w.login_account(&alice_account);
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[a1, bob]);
    w.in_room("#c", &[carol]);
    let a2 = w.login_account(&alice_account);
    w.clear();

    w.cmd(a1, Command::Away(Some(text("lunch"))));
    let away = away_changed("alice", Some("lunch"));
    assert_eq!(w.events(a1), vec![away.clone()]);
    assert_eq!(w.events(a2), vec![away.clone()]);
    assert_eq!(w.events(bob), vec![away]);
    w.assert_silent(carol);

    w.cmd(a2, Command::Away(None));
    let back = away_changed("alice", None);
    assert_eq!(w.events(a1), vec![back.clone()]);
    assert_eq!(w.events(a2), vec![back.clone()]);
    assert_eq!(w.events(bob), vec![back]);
    w.assert_silent(carol);
}

#[test]
fn private_message_to_an_away_user_tells_the_sender_except_for_notices() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.cmd(alice, Command::Away(Some(text("lunch"))));
    w.clear();

    w.cmd(bob, say_to(to_user("alice"), "there?"));
    let there = said(1, w.now, "bob", to_user("alice"), "there?");
    assert_eq!(
        w.events(bob),
        vec![
            there.clone(),
            Event::IsAway {
                nick: nick("alice"),
                away: text("lunch")
            }
        ]
    );
    assert_eq!(w.events(alice), vec![there]);

    w.cmd(
        bob,
        Command::Send {
            to: Some(to_user("alice")),
            kind: MsgKind::Notice,
            text: text("fyi"),
            tags: crate::ClientTags::default(),
        },
    );
    let fyi = Event::Message {
        msg: message(2, w.now, "bob", to_user("alice"), MsgKind::Notice, "fyi"),
        offline: false,
    };
    assert_eq!(w.events(bob), vec![fyi.clone()]);
    assert_eq!(w.events(alice), vec![fyi]);

    // Back: no more answers.
    w.cmd(alice, Command::Away(None));
    w.clear();
    w.cmd(bob, say_to(to_user("alice"), "back?"));
    assert_eq!(
        w.events(bob),
        vec![said(3, w.now, "bob", to_user("alice"), "back?")]
    );
}

#[test]
fn whois_tells_the_details_of_online_users_and_which_names_are_missing() {
    let mut w = World::new();
    let signon = w.now;
    let alice = w.login_with(
        "alice",
        ClientInfo {
            ident: Some("al".into()),
            host: "wonder.land".into(),
            realname: Some("Alice L".into()),
            ..ClientInfo::default()
        },
    );
    let bob = w.login("bob");
    let erin = w.login("erin");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[bob]);
    w.disconnect(erin, "gone");
    w.advance(5_000);
    let active = w.now;
    w.cmd(alice, say("hi"));
    w.cmd(bob, Command::Away(Some(text("brb"))));
    w.clear();
    w.advance(1_000);

    assert_eq!(
        w.ask(
            bob,
            Command::Whois(vec![
                nick("ALICE"),
                nick("ghost"),
                nick("erin"),
                nick("bob")
            ])
        ),
        vec![Event::Whois {
            found: vec![
                UserDetails {
                    who: actor("alice", "al", "wonder.land", "Alice L"),
                    away: None,
                    rooms: vec![(room("#a"), OP)],
                    signon,
                    last_active: active,
                    oper: false,
                    address: None,
                    last_seen: None,
                },
                UserDetails {
                    who: actor("bob", "bob", "localhost", "bob"),
                    away: Some(text("brb")),
                    rooms: vec![(room("#a"), PLAIN), (room("#b"), OP)],
                    signon,
                    last_active: signon,
                    oper: false,
                    address: None,
                    last_seen: None,
                },
            ],
            missing: vec![nick("ghost"), nick("erin")],
        }]
    );
}

#[test]
fn whois_finds_a_registered_user_who_is_offline_with_when_they_were_last_seen() {
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    let mut w = World::with_memory(&memory);
    let alice = w.login_account(&alice_acct);
    w.in_room("#a", &[alice]);
    let bob = w.login("bob");
    w.in_room("#a", &[bob]);
    w.advance(5_000);
    let left = w.now;
    w.disconnect(alice, "gone");
    // A guest who left holding kept messages is no user to WHOIS.
    let carol = w.login("carol");
    w.disconnect(carol, "gone");
    w.cmd(bob, say_to(to_user("carol"), "for later"));
    w.advance(5_000);
    w.clear();
    let whois = w.ask(bob, Command::Whois(vec![nick("alice"), nick("carol")]));
    let [Event::Whois { found, missing }] = &whois[..] else {
        panic!("not a whois: {whois:?}");
    };
    assert_eq!(missing, &[nick("carol")]);
    let [alice] = &found[..] else {
        panic!("alice alone: {found:?}");
    };
    assert_eq!(alice.who.nick, nick("alice"));
    assert!(alice.who.account);
    assert_eq!(alice.last_seen, Some(left));
    assert_eq!(alice.rooms, vec![(room("#a"), OP)]);
    assert!(!alice.oper);
}

#[test]
fn who_matches_masks_and_hides_the_invisible_from_strangers() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.cmd(bob, Command::SetInvisible(true));
    w.clear();
    let who = |w: &mut World, sid, mask: &str| -> Vec<String> {
        match &w.ask(sid, Command::Who(mask.into()))[..] {
            [Event::Whois { found, missing }] => {
                assert!(missing.is_empty());
                found.iter().map(|u| u.who.nick.to_string()).collect()
            }
            other => panic!("not a who: {other:?}"),
        }
    };
    // Alice shares #a with bob: she sees him; carol does not.
    assert_eq!(who(&mut w, alice, "*"), ["alice", "bob", "carol"]);
    assert_eq!(who(&mut w, carol, "*"), ["alice", "carol"]);
    assert_eq!(who(&mut w, carol, "B*"), Vec::<String>::new());
    assert_eq!(who(&mut w, bob, "b?b"), ["bob"]);
    // By nick!ident@host too.
    assert_eq!(
        who(&mut w, alice, "*!*@localhost"),
        ["alice", "bob", "carol"]
    );
    // A room's members: the invisible only to those inside.
    let members = |w: &mut World, sid| -> Vec<String> {
        match &w.ask(sid, Command::Members(Some(room("#a"))))[..] {
            [Event::Members { members, .. }] => {
                members.iter().map(|m| m.who.nick.to_string()).collect()
            }
            other => panic!("not members: {other:?}"),
        }
    };
    assert_eq!(members(&mut w, alice), ["alice", "bob"]);
    assert_eq!(members(&mut w, carol), ["alice"]);
    w.cmd(bob, Command::SetInvisible(false));
    assert_eq!(members(&mut w, carol), ["alice", "bob"]);
}

#[test]
fn set_realname_is_told_to_the_users_audience_and_shown_by_whois() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    w.cmd(alice, Command::SetRealname(text("Alice Liddell")));
    let changed = Event::RealnameChanged {
        nick: nick("alice"),
        realname: "Alice Liddell".into(),
    };
    assert_eq!(w.events(alice), vec![changed.clone()]);
    assert_eq!(w.events(bob), vec![changed]);
    w.assert_silent(carol);

    let whois = w.ask(carol, Command::Whois(vec![nick("alice")]));
    let [Event::Whois { found, missing }] = &whois[..] else {
        panic!("not a whois: {whois:?}");
    };
    assert!(missing.is_empty());
    assert_eq!(found.len(), 1);
    assert_eq!(&*found[0].who.realname, "Alice Liddell");
}

#[test]
fn whowas_tells_who_used_a_name_latest_first() {
    let mut w = World::new();
    let bob = w.login("bob");
    let first = w.login_with("alice", client(Some("one"), "first.example"));
    let t1 = w.now;
    w.cmd(first, Command::Quit(None));
    w.advance(1_000);
    let second = w.login_with("alice", client(Some("two"), "second.example"));
    w.advance(1_000);
    let t2 = w.now;
    w.disconnect(second, "gone");

    assert_eq!(
        w.ask(bob, Command::Whowas(nick("ALICE"))),
        vec![Event::Whowas {
            nick: nick("ALICE"),
            entries: vec![
                Departed {
                    who: actor("alice", "two", "second.example", "alice"),
                    time: t2,
                },
                Departed {
                    who: actor("alice", "one", "first.example", "alice"),
                    time: t1,
                },
            ],
        }]
    );
    assert_eq!(
        w.ask(bob, Command::Whowas(nick("ghost"))),
        vec![Event::Whowas {
            nick: nick("ghost"),
            entries: vec![],
        }]
    );
}

#[test]
fn whowas_remembers_only_the_latest_departures() {
    let mut w = World::with_config(HubConfig {
        whowas: 2,
        ..quiet_config()
    });
    let observer = w.login("zed");
    for name in ["alice", "bob", "carol"] {
        let sid = w.login(name);
        w.disconnect(sid, "gone");
    }
    let entries = |w: &mut World, n: &str| match &w.ask(observer, Command::Whowas(nick(n)))[..] {
        [Event::Whowas { entries, .. }] => entries.len(),
        other => panic!("not a whowas: {other:?}"),
    };
    assert_eq!(entries(&mut w, "alice"), 0);
    assert_eq!(entries(&mut w, "bob"), 1);
    assert_eq!(entries(&mut w, "carol"), 1);
}

#[test]
fn stats_count_users_logged_in_sessions_rooms_and_the_most_users_at_once() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[bob]);
    w.in_room("#c", &[carol]);
    w.disconnect(carol, "gone");
    let _unnamed = w.connect();
    assert_eq!(
        w.ask(alice, Command::Stats),
        vec![Event::Stats {
            users: 2,
            invisible: 0,
            sessions: 2,
            opers: 0,
            rooms: 2,
            max_users: 3,
        }]
    );
}

#[test]
fn stats_count_invisible_users_and_operators_as_they_come_and_go() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = account(3, "carol");
    let c1 = w.login_account(&carol);
    let counts = |w: &mut World| match w.ask(alice, Command::Stats).as_slice() {
        [
            ..,
            Event::Stats {
                users,
                invisible,
                sessions,
                opers,
                ..
            },
        ] => (*users, *invisible, *sessions, *opers),
        other => panic!("{other:?}"),
    };
    assert_eq!(counts(&mut w), (3, 0, 3, 0));
    w.cmd(bob, Command::SetInvisible(true));
    w.cmd(bob, Command::SetInvisible(true));
    w.cmd(c1, Command::SetInvisible(true));
    assert_eq!(counts(&mut w), (3, 2, 3, 0));
    w.cmd(bob, Command::SetInvisible(false));
    assert_eq!(counts(&mut w), (3, 1, 3, 0));
    w.cmd(alice, Command::Oper("admin".into()));
    w.cmd(alice, Command::Oper("admin".into()));
    // A second connection of carol's: one user, still invisible.
    let c2 = w.login_account(&carol);
    w.cmd(c2, Command::Oper("admin".into()));
    assert_eq!(counts(&mut w), (3, 1, 4, 2));
    w.disconnect(c2, "gone");
    assert_eq!(counts(&mut w), (3, 1, 3, 1));
    // The last connection gone, carol is not counted; when she comes back
    // her new connection starts visible.
    w.disconnect(c1, "gone");
    assert_eq!(counts(&mut w), (2, 0, 2, 1));
    let _c3 = w.login_account(&carol);
    assert_eq!(counts(&mut w), (3, 0, 3, 1));
    w.cmd(alice, Command::Deoper);
    assert_eq!(counts(&mut w), (3, 0, 3, 0));
}

// ---------------------------------------------------------------------------
// 20. Origins
// ---------------------------------------------------------------------------

#[test]
fn every_delivery_a_command_causes_carries_its_origin() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let carol = w.login("carol");
    let now = w.now;
    let o = |sid, req| Some(Origin { sid, req });
    w.hub.stage_req(alice, 7, say("hi"), now);
    w.hub.stage_req(bob, 9, set_topic("bob's"), now);
    w.hub.stage_req(alice, 8, set_topic("alice's"), now);
    w.hub.stage_req(
        alice,
        11,
        set_modes(
            "#a",
            vec![plus(RoomMode::Op(nick("carol"))), plus(RoomMode::Secret)],
        ),
        now,
    );
    w.hub.stage_req(carol, 3, join("#a"), now);
    w.hub.finish(now);

    let hi = said(1, now, "alice", to_room("#a"), "hi");
    let topic = topic_changed("#a", "alice", "alice's");
    let secret = mode_changed("#a", "alice", vec![plus(RoomMode::Secret)]);
    let carol_joined = joined("#a", "carol");
    assert_eq!(
        w.origins(alice),
        vec![
            (hi.clone(), o(alice, 7)),
            (topic.clone(), o(alice, 8)),
            (
                error(ChatError::UserNotInRoom {
                    nick: nick("carol"),
                    room: room("#a")
                }),
                o(alice, 11)
            ),
            (secret.clone(), o(alice, 11)),
            (carol_joined.clone(), o(carol, 3)),
        ]
    );
    assert_eq!(
        w.origins(bob),
        vec![
            (hi, o(alice, 7)),
            (error(ChatError::NotOperator(room("#a"))), o(bob, 9)),
            (topic, o(alice, 8)),
            (secret, o(alice, 11)),
            (carol_joined.clone(), o(carol, 3)),
        ]
    );
    assert_eq!(
        w.origins(carol),
        vec![
            (carol_joined, o(carol, 3)),
            (unread("#a"), o(carol, 3)),
            (
                Event::TopicIs {
                    room: room("#a"),
                    topic: Some(Topic {
                        text: text("alice's"),
                        by: nick("alice"),
                        time: now,
                    }),
                },
                o(carol, 3)
            ),
            (
                secret_room(members_with(
                    "#a",
                    &[("alice", OP), ("bob", PLAIN), ("carol", PLAIN)],
                )),
                o(carol, 3)
            ),
        ]
    );
}

#[test]
fn a_quit_staged_after_other_commands_of_its_session_carries_its_origin() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let now = w.now;
    w.hub.stage_req(alice, 1, say("bye all"), now);
    w.hub.stage_req(alice, 2, Command::Quit(None), now);
    w.hub.finish(now);
    assert_eq!(
        w.origins(bob),
        vec![
            (
                said(1, now, "alice", to_room("#a"), "bye all"),
                Some(Origin { sid: alice, req: 1 })
            ),
            (quit("alice", "Quit"), Some(Origin { sid: alice, req: 2 })),
        ]
    );
}

// ---------------------------------------------------------------------------
// 21. Identify, and what a door knows of its client
// ---------------------------------------------------------------------------

#[test]
fn a_guest_who_identifies_quits_as_the_guest_and_is_welcomed_as_the_account() {
    let mut w = World::with_store();
    let guest = w.login("guest1");
    let bob = w.login("bob");
    w.in_room("#a", &[guest, bob]);
    assert_eq!(
        w.ask(guest, Command::Identify(account(1, "alice"))),
        vec![Event::Welcome {
            nick: nick("alice"),
            online: 2
        }]
    );
    assert_eq!(w.events(bob), vec![quit("guest1", "Identified as alice")]);
    assert_eq!(w.hub.nick_of(guest), Some(&nick("alice")));
    assert_eq!(
        w.ask(bob, Command::Members(None)),
        vec![members("#a", &["bob"])]
    );
    // The guest name is free again.
    let other = w.login("guest1");
    w.assert_silent(other);
}

#[test]
fn identify_when_already_an_account_is_refused() {
    let mut w = World::with_store();
    let alice = w.login_account(&account(1, "alice"));
    assert_eq!(
        w.ask(alice, Command::Identify(account(2, "other"))),
        vec![error(ChatError::AlreadyIdentified(nick("alice")))]
    );
    assert_eq!(w.hub.nick_of(alice), Some(&nick("alice")));
}

#[test]
fn a_session_without_auto_join_does_not_join_the_default_room() {
    let mut w = World::with_config(HubConfig {
        default_room: Some(room("#general")),
        ..quiet_config()
    });
    let irc = w.connect_info(ClientInfo {
        auto_join: false,
        ..ClientInfo::default()
    });
    assert_eq!(
        w.ask(irc, Command::Login(nick("alice"))),
        vec![Event::Welcome {
            nick: nick("alice"),
            online: 1
        }]
    );
    let line = w.login("bob");
    assert_eq!(
        w.ask(line, Command::Members(None)),
        vec![members("#general", &["bob"])]
    );
    w.assert_silent(irc);
}

// ---------------------------------------------------------------------------
// Web doors: typing, resume, announcements, REST calls
// ---------------------------------------------------------------------------

fn typing(from: &str, to: Target, active: bool) -> Event {
    Event::Typing {
        from: nick(from),
        to,
        active,
    }
}

#[test]
fn typing_goes_to_the_others_in_the_room_and_is_not_kept() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#rust", &[alice, bob]);
    let t = Command::Typing {
        to: to_room("#rust"),
        active: true,
    };
    assert_eq!(w.ask(alice, t), vec![]);
    assert_eq!(w.events(bob), vec![typing("alice", to_room("#rust"), true)]);
    w.assert_silent(carol);
    // Someone outside a `+n` room cannot type into it.
    let t = Command::Typing {
        to: to_room("#rust"),
        active: true,
    };
    assert!(matches!(
        w.ask(carol, t).as_slice(),
        [Event::Error(ChatError::NotInRoom(_))]
    ));
    w.assert_silent(bob);
}

#[test]
fn tagmsg_goes_to_the_conversation_and_the_senders_sessions_and_is_not_kept() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#rust", &[alice, bob, carol]);
    w.cmd(carol, Command::Ignore(nick("alice")));
    w.clear();
    let react = crate::ClientTags::new([("+draft/react", "ok")]).unwrap();
    let cmd = |to| Command::TagMsg {
        to,
        tags: react.clone(),
    };
    let ev = |id, to| Event::TagMsg {
        id: MsgId(id),
        from: nick("alice"),
        to,
        tags: react.clone(),
    };
    assert_eq!(
        w.ask(alice, cmd(to_room("#RUST"))),
        vec![ev(1, to_room("#rust"))]
    );
    assert_eq!(w.events(bob), vec![ev(1, to_room("#rust"))]);
    w.assert_silent(carol);
    // Each has an id of its own, unique like a message's.
    assert_eq!(
        w.ask(alice, cmd(to_user("BOB"))),
        vec![ev(2, to_user("bob"))]
    );
    assert_eq!(w.events(bob), vec![ev(2, to_user("bob"))]);
    // Nothing stored, nothing counted as a message.
    assert_eq!(w.hub.counters().messages, 0);
    assert!(memory.0.lock().unwrap().messages.is_empty());
    // The rules of sending hold.
    let dave = w.login("dave");
    assert!(matches!(
        w.ask(dave, cmd(to_room("#rust"))).as_slice(),
        [Event::Error(ChatError::NotInRoom(_))]
    ));
}

#[test]
fn typing_in_private_respects_ignores() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let t = |active| Command::Typing {
        to: to_user("bob"),
        active,
    };
    w.cmd(alice, t(true));
    assert_eq!(w.events(bob), vec![typing("alice", to_user("bob"), true)]);
    w.cmd(bob, Command::Ignore(nick("alice")));
    w.clear();
    w.cmd(alice, t(false));
    w.assert_silent(bob);
    w.assert_silent(alice);
    assert!(matches!(
        w.ask(
            alice,
            Command::Typing {
                to: to_user("nobody"),
                active: true
            }
        )
        .as_slice(),
        [Event::Error(ChatError::NoSuchUser(_))]
    ));
}

#[test]
fn announcements_reach_every_session_even_before_login() {
    let mut w = World::new();
    let alice = w.login("alice");
    let lurker = w.connect();
    w.hub.announce(text("maintenance at noon"), w.now);
    w.hub.finish(w.now);
    let ev = Event::Announcement(text("maintenance at noon"));
    assert_eq!(w.events(alice), vec![ev.clone()]);
    assert_eq!(w.events(lurker), vec![ev]);
}

#[test]
fn resume_needs_a_store_and_answers_in_order() {
    let mut w = World::new();
    let alice = w.login("alice");
    let resume = Command::Resume {
        after: MsgId(0),
        limit: 10,
    };
    assert_eq!(
        w.ask(alice, resume.clone()),
        vec![Event::Error(ChatError::NoStorage)]
    );
    let mut w = World::with_store();
    let alice = w.login("alice");
    assert_eq!(
        w.ask(alice, resume),
        vec![Event::Resumed {
            messages: vec![],
            more: false
        }]
    );
}

#[test]
fn rest_calls_act_for_registered_users_only() {
    let mut w = World::with_store();
    let guest = w.login("guest");
    w.in_room("#open", &[guest]);
    let alice = account(1, "alice");
    let a = w.login_account(&alice);
    w.in_room("#open", &[a]);
    w.cmd(guest, join("#hidden"));
    w.cmd(
        guest,
        Command::SetModes {
            room: room("#hidden"),
            changes: vec![crate::event::ModeChange {
                add: true,
                mode: crate::event::RoomMode::Secret,
            }],
        },
    );
    w.clear();
    // A guest's name is no account.
    assert_eq!(
        w.api_rooms(&nick("guest").key()),
        Err(ChatError::NotLoggedIn)
    );
    assert_eq!(
        w.api_rooms(&nick("nobody").key()),
        Err(ChatError::NotLoggedIn)
    );
    // Alice sees the open room, not the secret one she is not in.
    let rooms = w.api_rooms(&nick("ALICE").key()).unwrap();
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["#open"]);
    let users = w.api_users(&nick("alice").key()).unwrap();
    let online: Vec<(&str, bool)> = users.iter().map(|u| (u.nick.as_str(), u.online)).collect();
    assert_eq!(online, [("alice", true), ("guest", true)]);
    // Reading a closed room reads as missing.
    let q = HistoryQuery::before(None, 10);
    assert_eq!(
        w.api_history(&nick("alice").key(), &room("#hidden"), &q),
        Err(ChatError::NoSuchRoom(room("#hidden")))
    );
    assert_eq!(
        w.api_history(&nick("alice").key(), &room("#open"), &q),
        Ok(vec![])
    );
}

#[test]
fn a_rest_message_goes_out_like_any_other_once_committed() {
    let mut w = World::with_store();
    let guest = w.login("guest");
    let alice = account(1, "alice");
    let a = w.login_account(&alice);
    w.in_room("#open", &[guest, a]);
    let (msg, kept) = w
        .api_send(
            &nick("alice").key(),
            to_room("#open"),
            MsgKind::Say,
            text("from the api"),
        )
        .unwrap();
    assert_eq!(kept, None);
    // Staged, not delivered, until the batch commits.
    w.assert_silent(guest);
    w.hub.finish(w.now);
    let ev = Event::Message {
        msg: msg.clone(),
        offline: false,
    };
    assert_eq!(w.events(guest), vec![ev.clone()]);
    assert_eq!(w.events(a), vec![ev]);
    assert_eq!(msg.from, nick("alice"));
    // Rules apply: not in the room of a `+n` room.
    assert_eq!(
        w.api_send(
            &nick("alice").key(),
            to_room("#elsewhere"),
            MsgKind::Say,
            text("x")
        )
        .map(|_| ()),
        Err(ChatError::NoSuchRoom(room("#elsewhere")))
    );
}

// ---------------------------------------------------------------------------
// 23. Read markers
// ---------------------------------------------------------------------------

use crate::event::Marker;
use crate::store::{AccountState, Bound, Snapshot};
use std::sync::{Arc as SyncArc, Mutex};

/// What a [`Memory`] store holds; shared, so that a second hub can load
/// what the first one committed (a restart).
#[derive(Default)]
struct Kept {
    accounts: Vec<Account>,
    messages: Vec<Message>,
    markers: Vec<(AccountId, Target, Marker)>,
    rooms: Vec<(AccountId, RoomName)>,
    settings: Vec<crate::store::RoomSettings>,
    /// Messages kept for offline users, by whom, in the order kept.
    pending: Vec<(KeptFor, MsgId)>,
    /// Login tokens voided one by one, with when they expire.
    revoked: Vec<(String, Timestamp)>,
    /// Server-wide bans.
    klines: Vec<crate::kline::Kline>,
    suspensions: Vec<(AccountId, String)>,
    lockdown: bool,
    /// Commits begun in the background report their end only once this
    /// is off again (a slow disk).
    hold: bool,
    /// Every commit fails (a full disk).
    full: bool,
}

impl Kept {
    /// Whether a write may happen: not on a full disk.
    fn writable(&self) -> Result<(), StoreError> {
        if self.full {
            return Err(StoreError::DiskFull);
        }
        Ok(())
    }
}

/// The hub tests' one store: accounts, their rooms, messages and read
/// markers in memory, with faults to inject (a full disk: [`Memory::fill`];
/// a slow one: [`Memory::hold`]). It reads history windows the way the
/// trait says. It stands for the SQLite store, whose own tests check it
/// against the same contract.
#[derive(Clone, Default)]
struct Memory(SyncArc<Mutex<Kept>>);

impl Memory {
    fn with_account(account: &Account) -> Memory {
        let m = Memory::default();
        m.0.lock().unwrap().accounts = vec![account.clone()];
        m
    }

    fn markers(&self) -> Vec<(AccountId, Target, Marker)> {
        self.0.lock().unwrap().markers.clone()
    }

    /// Holds (or lets go of) the end of commits begun in the background.
    fn hold(&self, on: bool) {
        self.0.lock().unwrap().hold = on;
    }

    /// Makes every commit fail as a full disk does (or succeed again).
    fn fill(&self, on: bool) {
        self.0.lock().unwrap().full = on;
    }
}

/// A commit [`Memory`] has done but reports done only once let go of
/// ([`Memory::hold`]); waiting for it lets go.
struct Held(Memory, Result<(), StoreError>);

impl crate::store::Commit for Held {
    fn poll(&mut self) -> Option<Result<(), StoreError>> {
        (!self.0.0.lock().unwrap().hold).then(|| self.1.clone())
    }
    fn wait(self: Box<Self>) -> Result<(), StoreError> {
        self.1
    }
}

fn in_window(m: &Message, q: &HistoryQuery) -> bool {
    let past = |b: &Bound| match b {
        Bound::Id(id) => m.id > *id,
        Bound::Time(t) => m.time > *t,
    };
    let short = |b: &Bound| match b {
        Bound::Id(id) => m.id < *id,
        Bound::Time(t) => m.time < *t,
    };
    q.after.as_ref().is_none_or(past) && q.before.as_ref().is_none_or(short)
}

/// Whether `who` may read `m`, as the store decides it.
fn seen_by(who: &Visibility, m: &Message) -> bool {
    match &m.to {
        Target::Room(r) => who.rooms.contains(&r.key()),
        Target::User(to) => {
            m.time >= who.private_since
                && who
                    .private
                    .as_ref()
                    .is_some_and(|me| *me == to.key() || *me == m.from.key())
        }
    }
}

impl crate::store::Store for Memory {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let kept = self.0.lock().unwrap();
        let accounts = kept
            .accounts
            .iter()
            .map(|a| AccountState {
                account: a.clone(),
                rooms: kept
                    .rooms
                    .iter()
                    .filter(|(id, _)| *id == a.id)
                    .map(|(_, r)| r.clone())
                    .collect(),
                statuses: Vec::new(),
                ignores: Vec::new(),
                markers: kept
                    .markers
                    .iter()
                    .filter(|(id, _, _)| *id == a.id)
                    .map(|(_, t, m)| (t.clone(), *m))
                    .collect(),
                kept: kept
                    .pending
                    .iter()
                    .filter(|(to, _)| *to == KeptFor::Account(a.id))
                    .count(),
            })
            .collect();
        let next_msg_id = kept.messages.iter().map(|m| m.id.0 + 1).max().unwrap_or(1);
        let mut guests: Vec<crate::store::KeptGuest> = Vec::new();
        for (to, id) in &kept.pending {
            let KeptFor::Guest(key) = to else { continue };
            let msg = kept.messages.iter().find(|m| m.id == *id).unwrap();
            let Target::User(name) = &msg.to else {
                continue;
            };
            match guests.iter_mut().find(|g| g.nick.key() == *key) {
                Some(g) => g.kept += 1,
                None => guests.push(crate::store::KeptGuest {
                    nick: name.clone(),
                    kept: 1,
                    since: msg.time,
                }),
            }
        }
        Ok(Snapshot {
            accounts,
            next_msg_id,
            rooms: kept.settings.clone(),
            guests,
            klines: kept.klines.clone(),
            suspensions: kept.suspensions.clone(),
            lockdown: kept.lockdown,
        })
    }
    fn begin_commit(&mut self, ops: Vec<Op>) -> Box<dyn crate::store::Commit> {
        let result = self.commit(&ops);
        Box::new(Held(self.clone(), result))
    }
    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.writable()?;
        for op in ops {
            match op {
                Op::Message(m) => kept.messages.push(m.clone()),
                Op::Join { account, room } => kept.rooms.push((*account, room.clone())),
                Op::Part { account, room } => kept
                    .rooms
                    .retain(|(a, r)| !(a == account && r.key() == *room)),
                Op::ReadMarker {
                    account,
                    target,
                    marker,
                } => {
                    let place = markers::Place::of(target);
                    kept.markers
                        .retain(|(a, t, _)| !(a == account && markers::Place::of(t) == place));
                    kept.markers.push((*account, target.clone(), *marker));
                }
                Op::Pending { to, msg } => kept.pending.push((to.clone(), *msg)),
                Op::Delivered { to, upto } => {
                    kept.pending.retain(|(t, id)| !(t == to && id <= upto));
                }
                Op::MoveKept { from, to } => {
                    for (t, _) in kept.pending.iter_mut() {
                        if t == from {
                            *t = to.clone();
                        }
                    }
                }
                Op::Kline(k) => {
                    kept.klines.retain(|x| x.mask != k.mask);
                    kept.klines.push(k.clone());
                }
                Op::Unkline(mask) => kept.klines.retain(|x| x.mask != *mask),
                Op::Suspension {
                    account, reason, ..
                } => {
                    kept.suspensions.retain(|(a, _)| a != account);
                    if let Some(r) = reason {
                        kept.suspensions.push((*account, r.clone()));
                    }
                }
                Op::Lockdown(on) => kept.lockdown = *on,
                _ => {}
            }
        }
        Ok(())
    }
    fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError> {
        let kept = self.0.lock().unwrap();
        Ok(kept
            .accounts
            .iter()
            .find(|a| a.name.key() == *name)
            .cloned())
    }
    fn create_account(
        &mut self,
        name: &Nick,
        hash: &str,
        now: Timestamp,
    ) -> Result<Account, StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.writable()?;
        if kept.accounts.iter().any(|a| a.name.key() == name.key()) {
            return Err(StoreError::NameTaken(name.clone()));
        }
        let id = i64::try_from(kept.accounts.len()).unwrap() + 1;
        let a = Account {
            id: AccountId(id),
            name: name.clone(),
            password_hash: hash.to_owned(),
            created: now,
            last_seen: now,
            tokens_after: Timestamp(0),
        };
        kept.accounts.push(a.clone());
        Ok(a)
    }
    fn set_password(
        &mut self,
        name: &NickKey,
        hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.writable()?;
        let a = kept.accounts.iter_mut().find(|a| a.name.key() == *name);
        let a = a.ok_or_else(|| StoreError::NoSuchAccount(name.as_str().to_owned()))?;
        a.password_hash = hash.to_owned();
        a.tokens_after = a.tokens_after.max(now);
        Ok(())
    }
    fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.writable()?;
        let a = kept.accounts.iter_mut().find(|a| a.name.key() == *name);
        let a = a.ok_or_else(|| StoreError::NoSuchAccount(name.as_str().to_owned()))?;
        a.tokens_after = a.tokens_after.max(before);
        Ok(())
    }
    fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.writable()?;
        kept.revoked.push((id.to_owned(), expires));
        Ok(())
    }
    fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let mut kept = self.0.lock().unwrap();
        kept.revoked.retain(|(_, expires)| *expires > now);
        Ok(kept.revoked.iter().map(|(id, _)| id.clone()).collect())
    }
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        Ok(self.0.lock().unwrap().accounts.clone())
    }
    fn topic(&mut self, _: &RoomKey) -> Result<Option<Topic>, StoreError> {
        Ok(None)
    }
    fn history(&mut self, c: &Conversation, q: &HistoryQuery) -> Result<Vec<Message>, StoreError> {
        let kept = self.0.lock().unwrap();
        let mut found: Vec<Message> = kept
            .messages
            .iter()
            .filter(|m| match (c, &m.to) {
                (Conversation::Room(k), Target::Room(r)) => r.key() == *k,
                (Conversation::Private(a, b), Target::User(to)) => {
                    let pair = [m.from.key(), to.key()];
                    pair == [a.clone(), b.clone()] || pair == [b.clone(), a.clone()]
                }
                _ => false,
            })
            .filter(|m| in_window(m, q))
            .cloned()
            .collect();
        found.sort_by_key(|m| m.id);
        if q.latest {
            let skip = found.len().saturating_sub(q.limit);
            found.drain(..skip);
        } else {
            found.truncate(q.limit);
        }
        Ok(found)
    }
    fn conversations(
        &mut self,
        _: &Visibility,
        _: Timestamp,
        _: Timestamp,
        _: usize,
    ) -> Result<Vec<(Conversation, Timestamp, Option<Nick>)>, StoreError> {
        Ok(Vec::new())
    }
    fn search(
        &mut self,
        who: &Visibility,
        q: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        // Newest last, like the store: the last `limit` that contain every word.
        let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
        let kept = self.0.lock().unwrap();
        let found: Vec<Message> = kept
            .messages
            .iter()
            .filter(|m| seen_by(who, m))
            .filter(|m| {
                let text = m.text.as_str().to_lowercase();
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .cloned()
            .collect();
        Ok(found[found.len().saturating_sub(limit)..].to_vec())
    }
    fn since(
        &mut self,
        who: &Visibility,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let kept = self.0.lock().unwrap();
        Ok(kept
            .messages
            .iter()
            .filter(|m| m.id > after && seen_by(who, m))
            .take(limit)
            .cloned()
            .collect())
    }
    fn pending(&mut self, to: &KeptFor, limit: usize) -> Result<Vec<Message>, StoreError> {
        let kept = self.0.lock().unwrap();
        let mut ids: Vec<MsgId> = kept
            .pending
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, id)| *id)
            .collect();
        ids.sort();
        ids.truncate(limit);
        Ok(ids
            .iter()
            .map(|id| kept.messages.iter().find(|m| m.id == *id).unwrap().clone())
            .collect())
    }
}

impl World {
    /// A world whose hub keeps what it commits in `memory`, and shows
    /// no history on joining (so joins read as in the other tests).
    fn with_memory(memory: &Memory) -> World {
        let mut w = World::new();
        let config = HubConfig {
            history_on_join: 0,
            ..quiet_config()
        };
        w.hub = Hub::with_store(config, Box::new(memory.clone())).expect("loads");
        w
    }
}

fn mark_at(target: Target, t: Timestamp) -> Command {
    Command::MarkRead {
        target,
        at: Bound::Time(t),
    }
}

fn mark_id(target: Target, id: u64) -> Command {
    Command::MarkRead {
        target,
        at: Bound::Id(MsgId(id)),
    }
}

fn marker(target: Target, time: Timestamp, msg: Option<u64>) -> Event {
    Event::ReadMarker {
        target,
        marker: Some(Marker {
            time,
            msg: msg.map(MsgId),
        }),
    }
}

#[test]
fn a_marker_only_moves_forward_and_an_older_one_is_answered_with_the_kept_one() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let (t1, t2) = (Timestamp(w.now.0 - 2_000), Timestamp(w.now.0 - 1_000));

    // Without a store there are no messages to point at: time only.
    let at_t2 = marker(to_room("#a"), t2, None);
    assert_eq!(
        w.ask(alice, mark_at(to_room("#A"), t2)),
        vec![at_t2.clone()]
    );
    assert_eq!(
        w.ask(alice, mark_at(to_room("#a"), t1)),
        vec![at_t2.clone()]
    );
    assert_eq!(
        w.ask(alice, mark_at(to_room("#a"), t2)),
        vec![at_t2.clone()]
    );
    // A marker is the user's own: nobody else hears of it.
    w.assert_silent(bob);
    assert_eq!(
        w.ask(bob, Command::GetReadMarker(to_room("#a"))),
        vec![unread("#a")]
    );
    assert_eq!(
        w.ask(alice, Command::GetReadMarker(to_room("#a"))),
        vec![at_t2]
    );
}

#[test]
fn a_marker_set_ahead_of_the_clock_stops_at_now() {
    let mut w = World::new();
    let alice = w.login("alice");
    let ahead = Timestamp(w.now.0 + 60_000);
    assert_eq!(
        w.ask(alice, mark_at(to_user("bob"), ahead)),
        vec![marker(to_user("bob"), w.now, None)]
    );
}

#[test]
fn every_session_of_an_account_is_told_when_its_marker_moves() {
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    let mut w = World::with_memory(&memory);
    let phone = w.login_account(&alice_acct);
    let laptop = w.login_account(&alice_acct);
    let bob = w.login("bob");
    w.in_room("#a", &[phone, bob]);
    let t = w.now;
    w.cmd(bob, say("one"));
    w.advance(10);
    w.cmd(bob, say("two"));
    w.clear();

    let read_one = marker(to_room("#a"), t, Some(1));
    w.cmd(phone, mark_id(to_room("#a"), 1));
    assert_eq!(w.events(phone), vec![read_one.clone()]);
    assert_eq!(w.events(laptop), vec![read_one.clone()]);
    w.assert_silent(bob);
    assert_eq!(
        memory.markers(),
        vec![(
            AccountId(1),
            to_room("#a"),
            Marker {
                time: t,
                msg: Some(MsgId(1))
            }
        )]
    );

    // Back to an earlier message: only the asker hears what is kept.
    w.cmd(laptop, mark_id(to_room("#a"), 1));
    assert_eq!(w.events(laptop), vec![read_one]);
    w.assert_silent(phone);

    let read_two = marker(to_room("#a"), Timestamp(t.0 + 10), Some(2));
    w.cmd(laptop, mark_id(to_room("#a"), 2));
    assert_eq!(w.events(phone), vec![read_two.clone()]);
    assert_eq!(w.events(laptop), vec![read_two]);
}

#[test]
fn marking_by_time_points_at_the_latest_message_at_or_before_it() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let t = w.now;
    w.cmd(bob, say("one"));
    w.advance(10);
    w.cmd(bob, say("two"));
    w.advance(10);
    w.clear();

    let cases = [
        (Timestamp(t.0 - 1), None),
        (t, Some(1)),
        (Timestamp(t.0 + 9), Some(1)),
        (Timestamp(t.0 + 10), Some(2)),
    ];
    for (at, msg) in cases {
        assert_eq!(
            w.ask(alice, mark_at(to_room("#a"), at)),
            vec![marker(to_room("#a"), at, msg)],
            "{at:?}"
        );
    }
    // Private conversations too, by the peer's name.
    w.cmd(bob, say_to(to_user("alice"), "psst"));
    w.clear();
    assert_eq!(
        w.ask(alice, mark_at(to_user("BOB"), w.now)),
        vec![marker(to_user("bob"), w.now, Some(3))]
    );
}

#[test]
fn marking_a_message_that_is_not_in_the_conversation_is_refused() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    w.in_room("#b", &[alice, bob]);
    w.cmd(bob, say_to(to_room("#b"), "in b"));
    w.clear();
    for (target, id) in [(to_room("#a"), 1), (to_room("#b"), 2), (to_user("bob"), 1)] {
        assert_eq!(
            w.ask(alice, mark_id(target.clone(), id)),
            vec![error(ChatError::NoSuchMessage {
                target,
                id: MsgId(id)
            })]
        );
    }
    // Without a store, messages cannot be found by id at all.
    let mut bare = World::new();
    let carol = bare.login("carol");
    assert_eq!(
        bare.ask(carol, mark_id(to_user("dave"), 1)),
        vec![error(ChatError::NoStorage)]
    );
}

#[test]
fn setting_a_room_marker_needs_membership_and_asking_does_not() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice]);
    assert_eq!(
        w.ask(bob, mark_at(to_room("#a"), w.now)),
        vec![error(ChatError::NotInRoom(room("#a")))]
    );
    assert_eq!(
        w.ask(bob, mark_at(to_room("#nowhere"), w.now)),
        vec![error(ChatError::NoSuchRoom(room("#nowhere")))]
    );
    assert_eq!(
        w.ask(bob, Command::GetReadMarker(to_room("#nowhere"))),
        vec![unread("#nowhere")]
    );
    assert_eq!(
        w.ask(bob, Command::ReadMarkers),
        vec![Event::ReadMarkers(vec![])]
    );
}

#[test]
fn joining_tells_every_session_of_the_user_where_reading_stopped() {
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    let mut w = World::with_memory(&memory);
    let phone = w.login_account(&alice_acct);
    let laptop = w.login_account(&alice_acct);
    w.in_room("#a", &[phone]);
    let t = w.now;
    w.cmd(phone, mark_at(to_room("#a"), t));
    w.cmd(phone, part(Some("#a"), None));
    w.clear();

    w.cmd(laptop, join("#a"));
    let kept = marker(to_room("#a"), t, None);
    assert_eq!(
        w.events(laptop),
        vec![
            joined("#a", "alice"),
            kept.clone(),
            members("#a", &["alice"])
        ]
    );
    // The other session saw the join, so it learns the marker too.
    assert_eq!(w.events(phone), vec![joined("#a", "alice"), kept]);
}

#[test]
fn a_guest_keeps_its_markers_while_connected_and_loses_them_with_its_session() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let t = w.now;
    w.cmd(alice, mark_at(to_room("#a"), t));
    w.cmd(alice, mark_at(to_user("bob"), t));
    w.cmd(alice, part(Some("#a"), None));
    w.clear();

    // Parting and joining again: the marker is still there.
    assert_eq!(
        w.ask(alice, join("#a")),
        vec![
            joined("#a", "alice"),
            marker(to_room("#a"), t, None),
            members("#a", &["alice"])
        ]
    );
    assert_eq!(
        w.ask(alice, Command::ReadMarkers),
        vec![Event::ReadMarkers(vec![
            (to_room("#a"), Marker { time: t, msg: None }),
            (to_user("bob"), Marker { time: t, msg: None }),
        ])]
    );

    // Whoever takes the name next starts with nothing.
    w.cmd(alice, Command::Quit(None));
    let again = w.login("alice");
    assert_eq!(
        w.ask(again, Command::ReadMarkers),
        vec![Event::ReadMarkers(vec![])]
    );
}

#[test]
fn registering_keeps_the_guests_markers_as_the_accounts() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let t = w.now;
    w.cmd(alice, mark_at(to_room("#a"), t));
    assert!(
        memory.markers().is_empty(),
        "a guest's marker is not stored"
    );
    w.cmd(
        alice,
        Command::Register {
            password_hash: "$argon2id$test".into(),
        },
    );
    assert_eq!(
        memory.markers(),
        vec![(AccountId(1), to_room("#a"), Marker { time: t, msg: None })]
    );
}

#[test]
fn an_account_finds_its_markers_after_a_restart() {
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    let mut w = World::with_memory(&memory);
    let alice = w.login_account(&alice_acct);
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let t = w.now;
    w.cmd(bob, say("hello"));
    w.cmd(alice, mark_id(to_room("#a"), 1));
    w.cmd(alice, mark_at(to_user("bob"), t));

    // A new hub on the same store.
    let mut w = World::with_memory(&memory);
    let alice = w.connect();
    w.cmd(alice, Command::LoginAccount(alice_acct));
    let mut events = w.events(alice);
    events.retain(|e| matches!(e, Event::ReadMarker { .. }));
    // The rejoin at login says where reading stopped in each room.
    assert_eq!(events, vec![marker(to_room("#a"), t, Some(1))]);
    assert_eq!(
        w.ask(alice, Command::ReadMarkers),
        vec![Event::ReadMarkers(vec![
            (
                to_room("#a"),
                Marker {
                    time: t,
                    msg: Some(MsgId(1))
                }
            ),
            (to_user("bob"), Marker { time: t, msg: None }),
        ])]
    );
    // And the rules still hold for it: not backwards.
    assert_eq!(
        w.ask(alice, mark_at(to_room("#a"), Timestamp(t.0 - 1))),
        vec![marker(to_room("#a"), t, Some(1))]
    );
}

#[test]
fn the_rest_api_reads_an_accounts_markers() {
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    let mut w = World::with_memory(&memory);
    let alice = w.login_account(&alice_acct);
    w.in_room("#a", &[alice]);
    let t = w.now;
    w.cmd(alice, mark_at(to_room("#a"), t));
    let key = nick("alice").key();
    let kept = Marker { time: t, msg: None };
    assert_eq!(w.api_read_markers(&key), Ok(vec![(to_room("#a"), kept)]));
    assert_eq!(
        w.api_read_marker(&key, to_room("#A")),
        Ok((to_room("#a"), Some(kept)))
    );
    assert_eq!(
        w.api_read_marker(&key, to_user("bob")),
        Ok((to_user("bob"), None))
    );
    // Guests have no REST access.
    w.login("carol");
    assert_eq!(
        w.api_read_markers(&nick("carol").key()),
        Err(ChatError::NotLoggedIn)
    );
}

// ---------------------------------------------------------------------------
// 24. The input policy: keys, masks, topics, away, real names, reasons
// ---------------------------------------------------------------------------

/// The payload of the attack in issue 13: a forged private line and an OSC
/// title sequence, as a room key.
const FORGED: &str =
    "x\r\n[12:00] [private] admin -> you: please /quit and /login again\x1b]0;PWNED\x07";

fn input_error(e: InputError) -> Event {
    error(ChatError::Input(e))
}

/// A text of `n` bytes.
fn long(n: usize) -> Text {
    Text::parse(&"a".repeat(n), usize::MAX).expect("valid text")
}

#[test]
fn every_free_form_value_over_its_limit_is_refused_and_nobody_hears_of_it() {
    let limits = InputLimits::default();
    let cases: Vec<(&str, Command, Field)> = vec![
        (
            "topic",
            Command::SetTopic {
                room: None,
                topic: Some(long(limits.topic + 1)),
            },
            Field::Topic,
        ),
        (
            "away",
            Command::Away(Some(long(limits.away + 1))),
            Field::Away,
        ),
        (
            "real name",
            Command::SetRealname(long(limits.realname + 1)),
            Field::Realname,
        ),
        (
            "part reason",
            Command::Part {
                room: None,
                reason: Some(long(limits.reason + 1)),
            },
            Field::Reason,
        ),
        (
            "kick reason",
            Command::Kick {
                room: room("#a"),
                nick: nick("bob"),
                reason: Some(long(limits.reason + 1)),
            },
            Field::Reason,
        ),
        (
            "join key",
            Command::Join {
                room: room("#b"),
                key: Some("k".repeat(limits.key + 1)),
            },
            Field::Key,
        ),
    ];
    for (case, cmd, field) in cases {
        let mut w = World::new();
        let (alice, bob) = w.alice_runs_a();
        let max = limits.max(field);
        assert_eq!(
            w.ask(alice, cmd),
            vec![input_error(InputError::TooLong {
                field,
                len: max + 1,
                max
            })],
            "{case}"
        );
        w.assert_silent(bob);
        // Nothing changed: alice is still in #a, bob too, no topic, no
        // room #b.
        assert_eq!(
            w.ask(bob, Command::Rooms),
            vec![Event::Rooms(vec![room_info("#a", 2, None)])],
            "{case}"
        );
    }
}

#[test]
fn an_empty_join_key_is_no_key() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.cmd(
        alice,
        Command::Join {
            room: room("#a"),
            key: Some(String::new()),
        },
    );
    let events = w.events(alice);
    assert!(
        matches!(events.first(), Some(Event::Joined { .. })),
        "{events:?}"
    );
}

#[test]
fn values_at_their_limit_are_accepted() {
    let limits = InputLimits::default();
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let topic = long(limits.topic);
    w.cmd(
        alice,
        Command::SetTopic {
            room: None,
            topic: Some(topic.clone()),
        },
    );
    let changed = Event::TopicChanged {
        room: room("#a"),
        by: nick("alice"),
        topic: Some(topic),
    };
    assert_eq!(w.events(bob), vec![changed]);
    w.cmd(alice, Command::Away(Some(long(limits.away))));
    w.cmd(alice, Command::SetRealname(long(limits.realname)));
    let key = "k".repeat(limits.key);
    w.cmd(alice, set_modes("#a", vec![plus(RoomMode::Key(Some(key)))]));
    let mask = format!("{}!*@*", "m".repeat(limits.ban_mask - 4));
    w.cmd(alice, set_modes("#a", vec![plus(ban(&mask))]));
    let events = w.events(alice);
    assert!(
        !events.iter().any(|e| matches!(e, Event::Error(_))),
        "{events:?}"
    );
}

#[test]
fn a_tab_in_a_text_kept_exactly_is_refused_as_a_control_character() {
    // IRC's door keeps texts as sent (`Text::parse_exact`), tabs included;
    // a topic is one line of text, so the hub refuses them.
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let tabbed = Text::parse_exact("a\tb", 100).expect("tabs pass Text");
    assert_eq!(
        w.ask(
            alice,
            Command::SetTopic {
                room: None,
                topic: Some(tabbed)
            }
        ),
        vec![input_error(InputError::Control {
            field: Field::Topic,
            code: 9
        })]
    );
    w.assert_silent(bob);
}

#[test]
fn a_key_that_forges_a_line_is_refused_and_the_room_stays_open() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(
            alice,
            set_modes("#a", vec![plus(RoomMode::Key(Some(FORGED.into())))])
        ),
        vec![error(ChatError::BadModeParam {
            room: room("#a"),
            mode: 'k',
            error: InputError::Control {
                field: Field::Key,
                code: 0x0d
            },
        })]
    );
    w.assert_silent(bob);
    assert_eq!(
        w.ask(alice, Command::GetModes(room("#a"))),
        vec![modes_of("#a", nt(), w.now)]
    );
}

#[test]
fn keys_and_masks_with_spaces_commas_or_a_leading_colon_are_refused() {
    let table = [
        ("a b", InputError::Space(Field::Key)),
        (
            "a,b",
            InputError::Forbidden {
                field: Field::Key,
                c: ',',
            },
        ),
        (
            ":ab",
            InputError::BadStart {
                field: Field::Key,
                c: ':',
            },
        ),
        (
            "a\u{202e}b",
            InputError::Invisible {
                field: Field::Key,
                code: 0x202e,
            },
        ),
    ];
    for (value, want) in table {
        let mut w = World::new();
        let (alice, bob) = w.alice_runs_a();
        let key = plus(RoomMode::Key(Some(value.into())));
        assert_eq!(
            w.ask(alice, set_modes("#a", vec![key])),
            vec![error(ChatError::BadModeParam {
                room: room("#a"),
                mode: 'k',
                error: want.clone(),
            })],
            "key {value:?}"
        );
        let mask_error = match want {
            InputError::Space(_) => InputError::Space(Field::BanMask),
            InputError::Forbidden { c, .. } => InputError::Forbidden {
                field: Field::BanMask,
                c,
            },
            InputError::BadStart { c, .. } => InputError::BadStart {
                field: Field::BanMask,
                c,
            },
            InputError::Invisible { code, .. } => InputError::Invisible {
                field: Field::BanMask,
                code,
            },
            other => other,
        };
        assert_eq!(
            w.ask(alice, set_modes("#a", vec![plus(ban(value))])),
            vec![error(ChatError::BadModeParam {
                room: room("#a"),
                mode: 'b',
                error: mask_error,
            })],
            "mask {value:?}"
        );
        w.assert_silent(bob);
    }
}

#[test]
fn a_ban_mask_of_64_kib_is_refused_and_the_ban_list_stays_empty() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let huge = "a".repeat(64 * 1024);
    let max = InputLimits::default().ban_mask;
    assert_eq!(
        w.ask(alice, set_modes("#a", vec![plus(ban(&huge))])),
        vec![error(ChatError::BadModeParam {
            room: room("#a"),
            mode: 'b',
            error: InputError::TooLong {
                field: Field::BanMask,
                len: 64 * 1024,
                max
            },
        })]
    );
    w.assert_silent(bob);
    assert_eq!(
        w.ask(alice, Command::Bans(room("#a"))),
        vec![Event::Bans {
            room: room("#a"),
            bans: vec![]
        }]
    );
}

#[test]
fn a_ban_mask_is_limited_as_completed() {
    // `nick` is kept as `nick!*@*`, four bytes longer.
    let mut w = World::new();
    let (alice, _bob) = w.alice_runs_a();
    let max = InputLimits::default().ban_mask;
    let nick_only = "n".repeat(max - 2);
    assert_eq!(
        w.ask(alice, set_modes("#a", vec![plus(ban(&nick_only))])),
        vec![error(ChatError::BadModeParam {
            room: room("#a"),
            mode: 'b',
            error: InputError::TooLong {
                field: Field::BanMask,
                len: max + 2,
                max
            },
        })]
    );
}

#[test]
fn a_refused_mode_parameter_does_not_stop_the_other_changes() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    w.cmd(
        alice,
        set_modes(
            "#a",
            vec![
                plus(RoomMode::Key(Some(FORGED.into()))),
                plus(RoomMode::Moderated),
            ],
        ),
    );
    let events = w.events(alice);
    assert!(
        matches!(
            &events[0],
            Event::Error(ChatError::BadModeParam { mode: 'k', .. })
        ),
        "{events:?}"
    );
    let done = mode_changed("#a", "alice", vec![plus(RoomMode::Moderated)]);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1], done);
    assert_eq!(w.events(bob), vec![done]);
}

#[test]
fn a_quit_reason_that_breaks_the_rules_is_dropped_and_the_user_still_leaves() {
    let mut w = World::new();
    let (alice, bob) = w.alice_runs_a();
    let max = InputLimits::default().reason;
    assert_eq!(
        w.ask(alice, Command::Quit(Some(long(max + 1)))),
        vec![
            input_error(InputError::TooLong {
                field: Field::Reason,
                len: max + 1,
                max
            }),
            bye("Quit"),
        ]
    );
    assert_eq!(w.events(bob), vec![quit("alice", "Quit")]);
}

#[test]
fn a_real_name_or_ident_from_a_door_that_breaks_the_rules_is_replaced_by_the_nick() {
    let mut w = World::new();
    let bad = [
        ("a\x1b]0;PWNED\x07", "~u b"),
        ("r".repeat(51).leak() as &str, "~u,b"),
    ];
    for (i, (realname, ident)) in bad.into_iter().enumerate() {
        let name = format!("user{i}");
        let info = ClientInfo {
            ident: Some(ident.into()),
            realname: Some(realname.into()),
            ..ClientInfo::default()
        };
        let sid = w.login_with(&name, info);
        let who = w.ask(sid, Command::Whois(vec![nick(&name)]));
        let Event::Whois { found, .. } = &who[0] else {
            panic!("{who:?}")
        };
        assert_eq!(&*found[0].who.realname, name.as_str());
        assert_eq!(&*found[0].who.ident, name.as_str());
    }
    let good = ClientInfo {
        ident: Some("~alice".into()),
        realname: Some("Alice \x02Liddell\x02".into()),
        ..ClientInfo::default()
    };
    let sid = w.login_with("alice", good);
    let who = w.ask(sid, Command::Whois(vec![nick("alice")]));
    let Event::Whois { found, .. } = &who[0] else {
        panic!("{who:?}")
    };
    assert_eq!(&*found[0].who.realname, "Alice \x02Liddell\x02");
    assert_eq!(&*found[0].who.ident, "~alice");
}

#[test]
fn limits_come_from_the_config() {
    let config = HubConfig {
        input: InputLimits {
            topic: 5,
            ..InputLimits::default()
        },
        ..quiet_config()
    };
    let mut w = World::with_config(config);
    let (alice, _bob) = w.alice_runs_a();
    assert_eq!(
        w.ask(alice, set_topic("sixsix")),
        vec![input_error(InputError::TooLong {
            field: Field::Topic,
            len: 6,
            max: 5
        })]
    );
}

#[test]
fn stored_keys_and_masks_that_break_the_rules_are_dropped_on_load() {
    // Stored by a server before the input rules: the room keeps its good
    // ban, loses the hostile one, and its hostile key is replaced by
    // invite-only, so it stays closed.
    let alice_acct = account(1, "alice");
    let memory = Memory::with_account(&alice_acct);
    {
        let mut kept = memory.0.lock().unwrap();
        kept.rooms.push((alice_acct.id, room("#locked")));
        let ban_of = |mask: &str| Ban {
            mask: mask.to_owned(),
            by: nick("alice"),
            time: Timestamp(1),
        };
        kept.settings.push(crate::store::RoomSettings {
            name: room("#locked"),
            modes: RoomModes {
                key: Some(FORGED.into()),
                ..nt()
            },
            bans: vec![ban_of("bob!*@*"), ban_of(&"a".repeat(64 * 1024))],
        });
    }
    let mut w = World::with_memory(&memory);
    let alice = w.login_account(&alice_acct);
    let Event::Modes { modes, .. } = &w.ask(alice, Command::GetModes(room("#locked")))[0] else {
        panic!("no modes")
    };
    assert_eq!(modes.key, None);
    assert!(modes.invite_only);
    let Event::Bans { bans, .. } = &w.ask(alice, Command::Bans(room("#locked")))[0] else {
        panic!("no bans")
    };
    let masks: Vec<&str> = bans.iter().map(|b| b.mask.as_str()).collect();
    assert_eq!(masks, ["bob!*@*"]);
}

// ---------------------------------------------------------------------------
// 25. Nothing lost for offline users
// ---------------------------------------------------------------------------

#[path = "hub_offline_tests.rs"]
mod offline_users;

// ---------------------------------------------------------------------------
// 26. Privacy
// ---------------------------------------------------------------------------

#[path = "hub_privacy_tests.rs"]
mod privacy;

// ---------------------------------------------------------------------------
// 27. Reads off the hub thread
// ---------------------------------------------------------------------------

/// The messages of an answer, by text.
fn texts_of(event: &Event) -> Vec<String> {
    let messages = match event {
        Event::History { messages, .. }
        | Event::SearchResults { messages, .. }
        | Event::Resumed { messages, .. } => messages,
        other => panic!("not an answer with messages: {other:?}"),
    };
    messages
        .iter()
        .map(|m| m.text.as_str().to_owned())
        .collect()
}

#[test]
fn an_offloaded_read_answers_as_the_hub_would_and_sees_nothing_newer() {
    let memory = Memory::default();
    let mut w = World::new();
    let config = HubConfig {
        history_on_join: 0,
        offload_reads: true,
        ..quiet_config()
    };
    w.hub = Hub::with_store(config, Box::new(memory.clone())).expect("loads");
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#a", &[alice, bob, carol]);
    w.cmd(alice, Command::Ignore(nick("carol")));
    w.cmd(bob, say("one apple"));
    w.cmd(carol, say("an ignored apple"));
    w.cmd(bob, say("two apples"));
    w.clear();

    let asks = [
        Command::History { limit: 10 },
        Command::search(text("apple")),
        Command::Resume {
            after: MsgId(0),
            limit: 10,
        },
    ];
    let mut readable = vec!["one apple".to_owned(), "two apples".to_owned()];
    for (i, ask) in asks.into_iter().enumerate() {
        let reads = w.ask(alice, ask.clone());
        let [Event::Read(read)] = reads.as_slice() else {
            panic!("{ask:?}: {reads:?}")
        };
        // A message sent after the ask comes live, not in the answer.
        let later = format!("later apple {i}");
        w.cmd(bob, say(&later));
        w.clear();
        let answer = read.run(&mut memory.clone()).expect("an answer");
        assert_eq!(
            texts_of(&answer),
            readable,
            "{ask:?}: what alice may read, up to the ask"
        );
        readable.push(later);
    }
    // Refusals are still the hub's, at once.
    let guest = w.connect();
    w.login_as(guest, "drifter");
    w.clear();
    assert_eq!(
        w.ask(guest, Command::History { limit: 10 }),
        vec![error(ChatError::NoTarget)]
    );
}

// ---------------------------------------------------------------------------
// 28. Server operators and moderation
// ---------------------------------------------------------------------------

#[path = "hub_oper_tests.rs"]
mod server_operators;

#[test]
fn the_online_count_follows_users_not_sessions_nor_offline_accounts() {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    assert_eq!(w.hub.online_users(), 0);
    let alice = w.login("alice");
    // An account with two sessions is one user online.
    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(account(1, "bob")));
    let bob2 = w.connect();
    w.cmd(bob2, Command::LoginAccount(account(1, "bob")));
    // A session still at the name prompt is no one.
    let _nobody = w.connect();
    assert_eq!(w.hub.online_users(), 2);
    assert_eq!(w.hub.session_count(), 4);
    assert_eq!(w.hub.room_count(), 0);
    w.cmd(alice, join("#a"));
    assert_eq!(w.hub.room_count(), 1);
    w.disconnect(bob, "one device");
    assert_eq!(w.hub.online_users(), 2);
    // The account stays a user while offline; it is not counted.
    w.disconnect(bob2, "the other");
    assert_eq!(w.hub.online_users(), 1);
    // A guest who identifies leaves as the guest and comes as the account.
    let carol = w.login("carol");
    assert_eq!(w.hub.online_users(), 2);
    w.cmd(carol, Command::Identify(account(1, "bob")));
    assert_eq!(w.hub.online_users(), 2);
    // The welcome says the same.
    w.clear();
    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(account(1, "bob")));
    assert!(
        matches!(
            w.events(bob).first(),
            Some(Event::Welcome { online: 2, .. })
        ),
        "one more session of bob"
    );
    w.disconnect(alice, "gone");
    w.cmd(bob, Command::Stats);
    assert!(
        matches!(w.events(bob).first(), Some(Event::Stats { users: 1, .. })),
        "LUSERS counts one user"
    );
    w.hub.shutdown("bye", w.now);
    assert_eq!(w.hub.online_users(), 0);
}

// ---------------------------------------------------------------------------
// 29. Pipelined commits: a batch goes out once its commit ends, in order
// ---------------------------------------------------------------------------

/// alice and bob in #a, on a store whose commits are held (a slow disk).
fn held_pair() -> (Memory, World, SessionId, SessionId) {
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    memory.hold(true);
    (memory, w, alice, bob)
}

#[test]
fn a_batch_goes_out_only_once_its_commit_ends() {
    let (memory, mut w, alice, bob) = held_pair();
    w.cmd(alice, say("one"));
    assert!(w.hub.committing());
    w.assert_silent(bob);
    assert!(!w.hub.poll_commit(w.now), "still committing");
    w.assert_silent(bob);
    memory.hold(false);
    assert!(w.hub.poll_commit(w.now));
    assert!(!w.hub.committing());
    let now = w.now;
    assert_eq!(
        w.events(bob),
        vec![said(1, now, "alice", to_room("#a"), "one")]
    );
}

#[test]
fn a_batch_sealed_while_one_commits_goes_out_after_it() {
    let (memory, mut w, alice, bob) = held_pair();
    let batch = w.hub.batch();
    w.cmd(alice, say("one"));
    assert_eq!(w.hub.released(), batch - 1);
    // Staged while "one" commits; sealing it settles "one" first.
    w.hub.stage(bob, say("two"), w.now);
    w.assert_silent(alice);
    w.hub.finish(w.now);
    assert_eq!(w.hub.released(), batch);
    let now = w.now;
    assert_eq!(
        w.events(alice),
        vec![said(1, now, "alice", to_room("#a"), "one")]
    );
    memory.hold(false);
    assert!(w.hub.poll_commit(w.now));
    assert_eq!(w.hub.released(), batch + 1);
    assert_eq!(
        w.events(alice),
        vec![said(2, now, "bob", to_room("#a"), "two")]
    );
}

#[test]
fn a_failed_background_commit_withholds_its_messages_and_tells_the_sender() {
    let (memory, mut w, alice, bob) = held_pair();
    memory.fill(true);
    w.cmd(alice, say("lost?"));
    w.assert_silent(alice);
    memory.hold(false);
    assert!(w.hub.poll_commit(w.now));
    assert_eq!(
        w.events(alice),
        vec![error(ChatError::Storage("the disk is full".into()))]
    );
    w.assert_silent(bob);
    assert_eq!(w.hub.take_failed(), vec![MsgId(1)]);
    assert_eq!(w.hub.take_failed(), vec![]);
}

#[test]
fn leaving_while_a_batch_commits_gets_the_batch_before_the_goodbye() {
    let (_held, mut w, alice, bob) = held_pair();
    w.cmd(alice, say("one"));
    w.cmd(bob, Command::Quit(None));
    let now = w.now;
    assert_eq!(
        w.events(bob),
        vec![said(1, now, "alice", to_room("#a"), "one"), bye("Quit")]
    );
}

/// Every online user has a `User` and every connection a `Session`, each
/// in an allocation of its own: at 128 bytes they take mimalloc's
/// 128-byte class, 32 bytes less per connection than its 160 (an idle
/// connection's memory, docs/performance.md). A field more belongs in
/// their `Rare` boxes.
#[test]
fn a_user_and_a_session_fit_the_allocators_128_byte_class() {
    use std::mem::size_of;
    assert!(size_of::<User>() <= 128, "User: {}", size_of::<User>());
    // The server's outbox is three pointers.
    let session = size_of::<Session<[Box<u8>; 3]>>();
    assert!(session <= 128, "Session: {session}");
}
