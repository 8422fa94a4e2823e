//! Nothing lost for offline users: private messages kept while a user is
//! away go out a page at a time and count as delivered only once the
//! door says its client took the page; one cap for accounts and guests,
//! enforced at send time; guest names told apart; departed guests who
//! hold nothing forgotten. Each test is named as the rule it checks.

use super::*;

impl World {
    /// A world whose hub keeps what it commits in `memory`, with `config`.
    fn with_memory_config(memory: &Memory, config: HubConfig) -> World {
        let mut w = World::new();
        let config = HubConfig {
            history_on_join: 0,
            ..config
        };
        w.hub = Hub::with_store(config, Box::new(memory.clone())).expect("loads");
        w
    }
}

/// Pages of three, and room for ten kept messages per user.
fn paged() -> HubConfig {
    HubConfig {
        offline_page: 3,
        offline_queue: 10,
        ..quiet_config()
    }
}

/// A store holding the accounts alice (1) and bob (2).
fn alice_and_bob() -> (Memory, Account, Account) {
    let (a, b) = (account(1, "alice"), account(2, "bob"));
    let memory = Memory::default();
    memory.0.lock().unwrap().accounts = vec![a.clone(), b.clone()];
    (memory, a, b)
}

/// `alice` sends `n` private messages to bob ("m1", "m2", …).
fn send_many(w: &mut World, alice: SessionId, n: u64) {
    for i in 1..=n {
        w.cmd(alice, say_to(to_user("bob"), &format!("m{i}")));
    }
    w.clear();
}

/// The ids of the kept messages among `events`, and the page end if any.
fn kept_ids(events: &[Event]) -> (Vec<u64>, Option<u64>) {
    let ids = events
        .iter()
        .filter_map(|e| match e {
            Event::Message { msg, offline: true } => Some(msg.id.0),
            _ => None,
        })
        .collect();
    let end = events.iter().find_map(|e| match e {
        Event::KeptPageEnd { upto } => Some(upto.0),
        _ => None,
    });
    (ids, end)
}

/// What the store still keeps for `to`.
fn stored(memory: &Memory, to: &KeptFor) -> Vec<u64> {
    let kept = memory.0.lock().unwrap();
    let mut ids: Vec<u64> = kept
        .pending
        .iter()
        .filter(|(t, _)| t == to)
        .map(|(_, id)| id.0)
        .collect();
    ids.sort();
    ids
}

#[test]
fn kept_messages_go_out_a_page_at_a_time_each_once_the_last_was_taken() {
    let (memory, a, b) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    send_many(&mut w, alice, 7);

    let bob = w.connect();
    let events = w.ask(bob, Command::LoginAccount(b.clone()));
    assert_eq!(events[1], Event::OfflineMessages { count: 7 });
    assert_eq!(kept_ids(&events), (vec![1, 2, 3], Some(3)));
    // Nothing more until the door says the page was taken.
    w.cmd(bob, Command::Users);
    assert_eq!(kept_ids(&w.events(bob)), (vec![], None));
    assert_eq!(kept_ids(&w.take_kept(bob, 3)), (vec![4, 5, 6], Some(6)));
    // Marked delivered up to what was taken, no further.
    assert_eq!(stored(&memory, &KeptFor::Account(b.id)), [4, 5, 6, 7]);
    assert_eq!(kept_ids(&w.take_kept(bob, 6)), (vec![7], Some(7)));
    assert_eq!(w.take_kept(bob, 7), vec![]);
    assert_eq!(stored(&memory, &KeptFor::Account(b.id)), Vec::<u64>::new());

    // Delivered once: the next login has nothing kept.
    w.disconnect(bob, "bye");
    let bob = w.connect();
    let events = w.ask(bob, Command::LoginAccount(b));
    assert_eq!(kept_ids(&events), (vec![], None));
    assert!(!events.contains(&Event::OfflineMessages { count: 0 }));
}

#[test]
fn a_session_that_ends_mid_delivery_leaves_the_rest_kept_for_the_next_login() {
    let (memory, a, b) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    send_many(&mut w, alice, 7);

    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(b.clone()));
    w.take_kept(bob, 3);
    // The second page is out but not taken when the connection drops.
    w.disconnect(bob, "Connection reset");
    assert_eq!(stored(&memory, &KeptFor::Account(b.id)), [4, 5, 6, 7]);

    let bob = w.connect();
    let events = w.ask(bob, Command::LoginAccount(b.clone()));
    assert_eq!(events[1], Event::OfflineMessages { count: 4 });
    assert_eq!(kept_ids(&events), (vec![4, 5, 6], Some(6)));
    // Too late for the old session's page: nothing changes.
    assert_eq!(w.take_kept(bob, 3), vec![]);
    assert_eq!(kept_ids(&w.take_kept(bob, 6)), (vec![7], Some(7)));
}

#[test]
fn a_session_that_overflows_mid_delivery_leaves_the_rest_kept() {
    let (memory, a, b) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    send_many(&mut w, alice, 5);
    // Room for the welcome and the count only: the page overflows it.
    let bob = w.connect_with_capacity(3);
    w.cmd(bob, Command::LoginAccount(b.clone()));
    assert_eq!(w.closed(bob), ["SendQ exceeded"]);
    assert_eq!(stored(&memory, &KeptFor::Account(b.id)), [1, 2, 3, 4, 5]);
    let bob = w.connect();
    let events = w.ask(bob, Command::LoginAccount(b));
    assert_eq!(kept_ids(&events), (vec![1, 2, 3], Some(3)));
}

#[test]
fn only_the_session_handed_a_page_can_say_it_was_taken() {
    let (memory, a, b) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    send_many(&mut w, alice, 4);
    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(b.clone()));
    w.clear();
    let phone = w.login_account(&b);
    // Another session of the account, a wrong id, alice: nothing.
    assert_eq!(w.take_kept(phone, 3), vec![]);
    assert_eq!(w.take_kept(bob, 2), vec![]);
    assert_eq!(w.take_kept(alice, 3), vec![]);
    assert_eq!(stored(&memory, &KeptFor::Account(b.id)), [1, 2, 3, 4]);
    // The first session leaves with its page out: the other gets it.
    w.disconnect(bob, "closed");
    assert_eq!(kept_ids(&w.events(phone)), (vec![1, 2, 3], Some(3)));
    assert_eq!(kept_ids(&w.take_kept(phone, 3)), (vec![4], Some(4)));
}

#[test]
fn kept_messages_survive_a_restart_until_taken_for_accounts_and_guest_names() {
    let (memory, a, b) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    let carol = w.login("carol");
    w.disconnect(carol, "gone");
    send_many(&mut w, alice, 2);
    w.cmd(alice, say_to(to_user("carol"), "for carol"));
    drop(w);

    // A new hub on the same store: bob and the guest name still wait.
    let mut w = World::with_memory_config(&memory, paged());
    assert_eq!(w.hub.kept_count(&nick("bob")), Some(2));
    assert_eq!(w.hub.kept_count(&nick("carol")), Some(1));
    let bob = w.connect();
    let events = w.ask(bob, Command::LoginAccount(b));
    assert_eq!(kept_ids(&events), (vec![1, 2], Some(2)));
    let carol = w.connect();
    let events = w.ask(carol, Command::Login(nick("carol")));
    assert_eq!(kept_ids(&events), (vec![3], Some(3)));
    w.take_kept(carol, 3);
    assert_eq!(
        stored(&memory, &KeptFor::Guest(nick("carol").key())),
        Vec::<u64>::new()
    );
}

#[test]
fn the_cap_on_kept_messages_is_the_same_for_accounts_and_guests_and_refuses_at_send_time() {
    let (memory, a, b) = alice_and_bob();
    let config = HubConfig {
        offline_queue: 2,
        ..paged()
    };
    let mut w = World::with_memory_config(&memory, config);
    let alice = w.login_account(&a);
    let carol = w.login("carol");
    w.disconnect(carol, "gone");
    for to in ["bob", "carol"] {
        w.cmd(alice, say_to(to_user(to), "one"));
        w.cmd(alice, say_to(to_user(to), "two"));
        w.clear();
        // Refused outright, with the reason: nothing kept, nothing lost.
        assert_eq!(
            w.ask(alice, say_to(to_user(to), "three")),
            vec![error(ChatError::OfflineQueueFull(nick(to)))]
        );
        assert_eq!(
            ChatError::OfflineQueueFull(nick(to)).to_string(),
            format!("{to} has too many unread messages; try again when they have read them")
        );
    }
    assert_eq!(
        w.api_send(&a.name.key(), to_user("bob"), MsgKind::Say, text("by rest")),
        Err(ChatError::OfflineQueueFull(nick("bob")))
    );
    // Once bob has taken them, there is room again.
    let bob = w.connect();
    w.cmd(bob, Command::LoginAccount(b));
    // (Messages 1 and 2 were bob's, 3 and 4 carol's.)
    w.take_kept(bob, 2);
    w.disconnect(bob, "gone");
    w.clear();
    let events = w.ask(alice, say_to(to_user("bob"), "three"));
    assert!(
        events.contains(&Event::KeptForOffline {
            nick: nick("bob"),
            guest: false
        }),
        "{events:?}"
    );
}

#[test]
fn a_message_kept_for_a_guest_name_tells_the_sender_whoever_next_uses_it_reads_it() {
    let (memory, a, _) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    let carol = w.login("carol");
    w.disconnect(carol, "gone");
    let events = w.ask(alice, say_to(to_user("carol"), "hi"));
    assert_eq!(
        events.last(),
        Some(&Event::KeptForOffline {
            nick: nick("carol"),
            guest: true
        })
    );
    // Over REST too.
    let sent = w.api_send(
        &a.name.key(),
        to_user("carol"),
        MsgKind::Say,
        text("hi again"),
    );
    assert_eq!(sent.map(|(_, kept)| kept), Ok(Some(true)));
    // Kept durably, by the name.
    w.hub.finish(w.now);
    assert_eq!(
        stored(&memory, &KeptFor::Guest(nick("carol").key())),
        [1, 2]
    );
}

#[test]
fn with_keep_for_guests_off_a_message_to_an_offline_guest_is_refused_and_nothing_kept() {
    let (memory, a, _) = alice_and_bob();
    let config = HubConfig {
        keep_for_guests: false,
        ..paged()
    };
    let mut w = World::with_memory_config(&memory, config);
    let alice = w.login_account(&a);
    let carol = w.login("carol");
    // Online, a guest gets messages as ever.
    let events = w.ask(alice, say_to(to_user("carol"), "live"));
    assert_eq!(events.len(), 1, "{events:?}");
    w.disconnect(carol, "gone");
    w.clear();
    assert_eq!(
        w.ask(alice, say_to(to_user("carol"), "kept?")),
        vec![error(ChatError::GuestNotKept(nick("carol")))]
    );
    assert_eq!(w.hub.kept_count(&nick("carol")), None);
    // An offline account still gets its messages kept.
    let events = w.ask(alice, say_to(to_user("bob"), "kept"));
    assert!(
        events.contains(&Event::KeptForOffline {
            nick: nick("bob"),
            guest: false
        }),
        "{events:?}"
    );
}

#[test]
fn a_guest_who_leaves_holding_nothing_is_forgotten_and_listed_only_while_whowas_remembers() {
    let mut w = World::with_config(HubConfig {
        whowas: 2,
        ..quiet_config()
    });
    let alice = w.login("alice");
    for name in ["g1", "g2", "g3"] {
        let g = w.login(name);
        w.advance(1_000);
        w.disconnect(g, "gone");
    }
    for name in ["g1", "g2", "g3"] {
        assert_eq!(w.hub.kept_count(&nick(name)), None, "{name} is forgotten");
    }
    // The latest two departures are listed offline; g1 is gone for good.
    let t = w.now;
    assert_eq!(
        w.ask(alice, Command::Users),
        vec![Event::Users(vec![
            online("alice"),
            offline("g2", Timestamp(t.0 - 1_000)),
            offline("g3", t),
        ])]
    );
    assert_eq!(
        w.ask(alice, say_to(to_user("g1"), "hello?")),
        vec![error(ChatError::NoSuchUser(nick("g1")))]
    );
    // A name still remembered takes a message, and is known again until
    // whoever takes the name reads it.
    w.cmd(alice, say_to(to_user("g3"), "for g3"));
    assert_eq!(w.hub.kept_count(&nick("g3")), Some(1));
    let g3 = w.connect();
    let events = w.ask(g3, Command::Login(nick("g3")));
    assert_eq!(kept_ids(&events), (vec![1], Some(1)));
    w.take_kept(g3, 1);
    w.disconnect(g3, "gone");
    assert_eq!(w.hub.kept_count(&nick("g3")), None);
}

#[test]
fn a_guest_holding_kept_messages_is_remembered_until_they_are_taken() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.disconnect(bob, "gone");
    w.cmd(alice, say_to(to_user("bob"), "psst"));
    assert_eq!(w.hub.kept_count(&nick("bob")), Some(1));
    // Logging in and leaving before taking the page keeps it.
    let bob = w.connect();
    w.cmd(bob, Command::Login(nick("bob")));
    w.disconnect(bob, "gone");
    assert_eq!(w.hub.kept_count(&nick("bob")), Some(1));
    let bob = w.connect();
    let events = w.ask(bob, Command::Login(nick("bob")));
    assert_eq!(kept_ids(&events), (vec![1], Some(1)));
    w.take_kept(bob, 1);
    w.disconnect(bob, "gone");
    assert_eq!(w.hub.kept_count(&nick("bob")), None);
}

#[test]
fn a_private_conversation_with_a_guest_who_left_stays_private() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.in_room("#a", &[alice]);
    let bob = w.login("bob");
    w.cmd(alice, Command::Start(nick("bob")));
    w.disconnect(bob, "gone");
    w.clear();
    // Plain text still goes to bob (kept), never to the room.
    let events = w.ask(alice, say("still private"));
    assert_eq!(
        events,
        vec![
            said(1, w.now, "alice", to_user("bob"), "still private"),
            Event::KeptForOffline {
                nick: nick("bob"),
                guest: true
            },
        ]
    );
}

#[test]
fn registering_a_guest_name_hands_its_kept_messages_to_the_account() {
    let (memory, a, _) = alice_and_bob();
    let mut w = World::with_memory_config(&memory, paged());
    let alice = w.login_account(&a);
    let dave = w.login("dave");
    w.disconnect(dave, "gone");
    w.cmd(alice, say_to(to_user("dave"), "one"));
    let guest = KeptFor::Guest(nick("dave").key());
    w.hub.finish(w.now);
    assert_eq!(stored(&memory, &guest), [1]);
    // Dave returns and registers with the page still out.
    let dave = w.connect();
    w.cmd(dave, Command::Login(nick("dave")));
    w.cmd(
        dave,
        Command::Register {
            password_hash: "$argon2id$x".into(),
        },
    );
    let id = memory.0.lock().unwrap().accounts.last().unwrap().id;
    assert_eq!(stored(&memory, &guest), Vec::<u64>::new());
    assert_eq!(stored(&memory, &KeptFor::Account(id)), [1]);
    w.take_kept(dave, 1);
    assert_eq!(stored(&memory, &KeptFor::Account(id)), Vec::<u64>::new());
}
