//! Privacy: other users see a cloak, never an address; secret rooms are
//! not revealed to whoever is not in them; a user whom a room's ban
//! matches reads none of its history, on any door. Each test is named as
//! the rule it checks.

use std::net::IpAddr;

use crate::command::Window;

use super::*;

const CLOAK: &str = "k3xq7m2a9fpw4ztc.confab";

fn addr() -> IpAddr {
    "203.0.113.9".parse().unwrap()
}

/// What the server's cloak makes of a client at `addr()`.
fn cloaked(ident: Option<&str>) -> ClientInfo {
    ClientInfo {
        ident: ident.map(Into::into),
        host: CLOAK.into(),
        addr: Some(addr()),
        ..ClientInfo::default()
    }
}

/// `+s` for `r`, set by `sid` (an operator of it).
fn make_secret(w: &mut World, sid: SessionId, r: &str) {
    w.cmd(sid, set_modes(r, vec![plus(RoomMode::Secret)]));
    w.clear();
}

/// The rooms WHOIS `target` shows to `asker`.
fn whois_rooms(w: &mut World, asker: SessionId, target: &str) -> Vec<String> {
    let events = w.ask(asker, Command::Whois(vec![nick(target)]));
    let [Event::Whois { found, .. }] = &events[..] else {
        panic!("no whois: {events:?}")
    };
    found[0]
        .rooms
        .iter()
        .map(|(r, _)| r.as_str().to_owned())
        .collect()
}

fn room_names(events: &[Event]) -> Vec<String> {
    let [Event::Rooms(rooms)] = events else {
        panic!("no room list: {events:?}")
    };
    rooms.iter().map(|r| r.name.as_str().to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Cloaked hosts
// ---------------------------------------------------------------------------

#[test]
fn others_see_the_cloak_and_the_real_address_stays_with_the_hub() {
    let mut w = World::new();
    let alice = w.login_with("alice", cloaked(Some("al")));
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let events = w.ask(bob, Command::Whois(vec![nick("alice")]));
    let [Event::Whois { found, .. }] = &events[..] else {
        panic!("no whois: {events:?}")
    };
    assert_eq!(&*found[0].who.host, CLOAK);
    assert!(!format!("{events:?}").contains("203.0.113.9"), "{events:?}");
    // Nor in what the room sees of her.
    w.cmd(alice, say_to(to_room("#a"), "hi"));
    let seen = w.deliveries(bob);
    assert!(
        seen.iter()
            .all(|d| d.actor.as_ref().is_none_or(|a| &*a.host == CLOAK))
    );
    assert!(!format!("{seen:?}").contains("203.0.113.9"));
    // The hub keeps the address, for server operators.
    assert_eq!(w.hub.real_address(&nick("ALICE")), Some(addr()));
    assert_eq!(w.hub.real_address(&nick("bob")), None);
    w.disconnect(alice, "bye");
    assert_eq!(w.hub.real_address(&nick("alice")), None);
}

#[test]
fn ban_masks_match_the_cloak_users_see_not_the_address() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let bob = w.login_with("bob", cloaked(None));
    // A mask of the address matches nothing: nobody can see it.
    w.cmd(alice, set_modes("#a", vec![plus(ban("*!*@203.0.113.*"))]));
    w.clear();
    assert_eq!(w.ask(bob, join("#a"))[0], joined("#a", "bob"));
    w.cmd(bob, part(Some("#a"), None));
    // A mask of the cloak does.
    w.cmd(
        alice,
        set_modes("#a", vec![plus(ban(&format!("*!*@{CLOAK}")))]),
    );
    w.clear();
    assert_eq!(
        w.ask(bob, join("#a")),
        vec![error(ChatError::Banned(room("#a")))]
    );
}

// ---------------------------------------------------------------------------
// Secret rooms
// ---------------------------------------------------------------------------

#[test]
fn secret_rooms_are_listed_to_their_members_only() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#open", &[alice]);
    w.in_room("#hush", &[alice]);
    make_secret(&mut w, alice, "#hush");
    assert_eq!(room_names(&w.ask(bob, Command::Rooms)), ["#open"]);
    assert_eq!(
        room_names(&w.ask(alice, Command::Rooms)),
        ["#hush", "#open"]
    );
}

#[test]
fn whois_shows_secret_rooms_only_to_those_in_them_and_to_the_user() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.in_room("#open", &[alice]);
    w.in_room("#hush", &[alice, carol]);
    make_secret(&mut w, alice, "#hush");
    assert_eq!(whois_rooms(&mut w, bob, "alice"), ["#open"]);
    assert_eq!(whois_rooms(&mut w, carol, "alice"), ["#open", "#hush"]);
    assert_eq!(whois_rooms(&mut w, alice, "alice"), ["#open", "#hush"]);
}

#[test]
fn a_secret_room_reads_as_missing_to_non_members() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#hush", &[alice]);
    w.cmd(
        alice,
        Command::SetTopic {
            room: Some(room("#hush")),
            topic: Some(text("plans")),
        },
    );
    make_secret(&mut w, alice, "#hush");
    let missing = vec![error(ChatError::NoSuchRoom(room("#hush")))];
    for cmd in [
        Command::Members(Some(room("#hush"))),
        Command::GetTopic(Some(room("#hush"))),
        Command::GetModes(room("#hush")),
        Command::Bans(room("#hush")),
        say_to(to_room("#hush"), "anyone?"),
    ] {
        let name = cmd.name();
        assert_eq!(w.ask(bob, cmd), missing, "{name}");
    }
    w.assert_silent(alice);
    // Its members see it as ever.
    assert_eq!(
        w.ask(alice, Command::Members(Some(room("#hush")))),
        vec![secret_room(members("#hush", &["alice"]))]
    );
    // And a room that is not secret is still there for everyone.
    w.in_room("#open", &[alice]);
    assert_eq!(
        w.ask(bob, Command::Members(Some(room("#open")))),
        vec![members("#open", &["alice"])]
    );
}

// ---------------------------------------------------------------------------
// Banned users read no history
// ---------------------------------------------------------------------------

/// A hub with a store holding accounts alice (1), bob (2) and carol (3);
/// alice runs `#a` with bob in it and two messages said.
fn banned_world() -> (World, SessionId, SessionId, SessionId) {
    let memory = Memory::default();
    memory.0.lock().unwrap().accounts =
        vec![account(1, "alice"), account(2, "bob"), account(3, "carol")];
    let mut w = World::with_memory(&memory);
    let alice = w.login_account(&account(1, "alice"));
    let bob = w.login_account(&account(2, "bob"));
    let carol = w.login_account(&account(3, "carol"));
    w.in_room("#a", &[alice, bob]);
    w.cmd(alice, say_to(to_room("#a"), "one"));
    w.cmd(bob, say_to(to_room("#a"), "two"));
    w.clear();
    (w, alice, bob, carol)
}

fn latest(r: &str) -> Command {
    Command::ChatHistory {
        target: to_room(r),
        window: Window::Query(HistoryQuery::before(None, 10)),
    }
}

fn texts(events: &[Event]) -> Vec<String> {
    match events {
        [Event::History { messages, .. }] => messages
            .iter()
            .map(|m| m.text.as_str().to_owned())
            .collect(),
        other => panic!("no history: {other:?}"),
    }
}

#[test]
fn a_member_whom_a_ban_matches_reads_no_history_on_any_door() {
    let (mut w, alice, bob, _) = banned_world();
    let q = HistoryQuery::before(None, 10);
    let bob_key = nick("bob").key();
    // Before the ban, bob reads it everywhere.
    assert_eq!(texts(&w.ask(bob, latest("#a"))), ["one", "two"]);
    assert_eq!(w.api_history(&bob_key, &room("#a"), &q).unwrap().len(), 2);
    w.cmd(alice, set_modes("#a", vec![plus(ban("bob!*@*"))]));
    w.clear();
    let banned = ChatError::Banned(room("#a"));
    // CHATHISTORY and the WebSocket's history.
    assert_eq!(w.ask(bob, latest("#a")), vec![error(banned.clone())]);
    // /history of the current room.
    assert_eq!(
        w.ask(bob, Command::History { limit: 10 }),
        vec![error(banned.clone())]
    );
    // REST history and search.
    assert_eq!(
        w.api_history(&bob_key, &room("#a"), &q),
        Err(banned.clone())
    );
    assert_eq!(w.api_search(&bob_key, &room("#a"), "one", 10), Err(banned));
    // Search over every room and resume leave the room out.
    let bob_id = w.hub.by_nick[&nick("bob").key()];
    assert!(w.hub.visibility(bob_id).rooms.is_empty());
    // Lifting the ban gives it back.
    w.cmd(alice, set_modes("#a", vec![minus(ban("bob!*@*"))]));
    w.clear();
    assert_eq!(texts(&w.ask(bob, latest("#a"))), ["one", "two"]);
    assert_eq!(w.hub.visibility(bob_id).rooms, vec![room("#a").key()]);
}

#[test]
fn a_banned_outsider_cannot_read_an_open_room_over_rest() {
    let (mut w, alice, _, _) = banned_world();
    let q = HistoryQuery::before(None, 10);
    let carol = nick("carol").key();
    // An open room reads over REST for anyone with an account...
    assert_eq!(w.api_history(&carol, &room("#a"), &q).unwrap().len(), 2);
    // ...but one whom its bans match.
    w.cmd(alice, set_modes("#a", vec![plus(ban("carol!*@*"))]));
    w.clear();
    assert_eq!(
        w.api_history(&carol, &room("#a"), &q),
        Err(ChatError::Banned(room("#a")))
    );
}

#[test]
fn a_rooms_operators_are_never_locked_out_of_its_history() {
    let (mut w, alice, _, _) = banned_world();
    w.cmd(alice, set_modes("#a", vec![plus(ban("*!*@*"))]));
    w.clear();
    assert_eq!(texts(&w.ask(alice, latest("#a"))), ["one", "two"]);
}

#[test]
fn a_secret_rooms_history_reads_as_missing_to_outsiders_over_rest() {
    let (mut w, alice, _, _) = banned_world();
    make_secret(&mut w, alice, "#a");
    let q = HistoryQuery::before(None, 10);
    assert_eq!(
        w.api_history(&nick("carol").key(), &room("#a"), &q),
        Err(ChatError::NoSuchRoom(room("#a")))
    );
    assert_eq!(w.api_rooms(&nick("carol").key()).unwrap(), vec![]);
}

#[test]
fn a_banned_member_rejoining_at_login_is_shown_no_history() {
    let memory = Memory::default();
    memory.0.lock().unwrap().accounts = vec![account(1, "alice"), account(2, "bob")];
    let mut w = World::new();
    let config = HubConfig {
        history_on_join: 5,
        ..quiet_config()
    };
    w.hub = Hub::with_store(config, Box::new(memory.clone())).expect("loads");
    let alice = w.login_account(&account(1, "alice"));
    let bob = w.login_account(&account(2, "bob"));
    w.in_room("#a", &[alice, bob]);
    w.cmd(alice, say_to(to_room("#a"), "one"));
    w.disconnect(bob, "gone");
    let has_history = |events: &[Event]| events.iter().any(|e| matches!(e, Event::History { .. }));
    w.cmd(alice, set_modes("#a", vec![plus(ban("bob!*@*"))]));
    w.clear();
    // Banned while away: bob is still a member, and rejoins at login...
    let sid = w.connect();
    w.cmd(sid, Command::LoginAccount(account(2, "bob")));
    let events = w.events(sid);
    assert!(
        events.iter().any(|e| matches!(e, Event::Joined { .. })),
        "still a member: {events:?}"
    );
    // ...without its history.
    assert!(!has_history(&events), "{events:?}");
    // Without the ban the rejoin shows it.
    w.cmd(alice, set_modes("#a", vec![minus(ban("bob!*@*"))]));
    w.disconnect(sid, "gone");
    let sid = w.connect();
    w.cmd(sid, Command::LoginAccount(account(2, "bob")));
    assert!(has_history(&w.events(sid)));
}

#[test]
fn a_window_of_private_history_that_starts_before_the_account_is_not_cut_short() {
    // bob wrote to the guest "alice"; then alice registered the name and
    // bob wrote again. The earliest two alice may read are the later ones.
    let memory = Memory::default();
    let mut w = World::with_memory(&memory);
    let alice = w.login("alice");
    let bob = w.login("bob");
    for t in ["old 1", "old 2", "old 3"] {
        w.cmd(bob, say_to(to_user("alice"), t));
    }
    // The guest alice saw "old 1" live, and may page on from its id.
    let old_1 = w
        .events(alice)
        .into_iter()
        .find_map(|e| match e {
            Event::Message { msg, .. } if msg.text.as_str() == "old 1" => Some(msg.id),
            _ => None,
        })
        .expect("old 1 delivered");
    w.advance(1_000);
    w.cmd(
        alice,
        Command::Register {
            password_hash: "$argon2id$test".into(),
        },
    );
    w.advance(1_000);
    for t in ["new 1", "new 2", "new 3"] {
        w.cmd(bob, say_to(to_user("alice"), t));
    }
    w.clear();
    let earliest = |after| Command::ChatHistory {
        target: to_user("bob"),
        window: Window::Query(HistoryQuery {
            after,
            before: None,
            limit: 2,
            latest: false,
        }),
    };
    assert_eq!(texts(&w.ask(alice, earliest(None))), ["new 1", "new 2"]);
    let long_ago = Some(Bound::Time(Timestamp(0)));
    assert_eq!(texts(&w.ask(alice, earliest(long_ago))), ["new 1", "new 2"]);
    let after_old = Some(Bound::Id(old_1));
    assert_eq!(
        texts(&w.ask(alice, earliest(after_old))),
        ["new 1", "new 2"]
    );
    // Around an old message: what may be read after it.
    let around = Command::ChatHistory {
        target: to_user("bob"),
        window: Window::Around {
            at: Bound::Id(old_1),
            limit: 4,
        },
    };
    assert_eq!(texts(&w.ask(alice, around)), ["new 1", "new 2"]);
    // The latest are the latest either way.
    let latest = Command::ChatHistory {
        target: to_user("bob"),
        window: Window::Query(HistoryQuery::before(None, 2)),
    };
    assert_eq!(texts(&w.ask(alice, latest)), ["new 2", "new 3"]);
}
