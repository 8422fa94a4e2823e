//! Server operators and moderation: who is an operator, what only an
//! operator may do (kill, wallops), and that every action is journaled
//! for the audit log. Each test is named as the rule it checks.

use super::*;
use crate::OperDone;

impl World {
    /// Makes `sid` a server operator named `name` (the door checked the
    /// password) and drains its reply.
    fn oper(&mut self, sid: SessionId, name: &str) {
        let got = self.ask(sid, Command::Oper(name.to_owned()));
        assert_eq!(
            got,
            vec![Event::YoureOper {
                name: name.to_owned()
            }]
        );
    }
}

fn kill(n: &str, reason: Option<&str>) -> Command {
    Command::Operator(OperCommand::Kill {
        nick: nick(n),
        reason: reason.map(text),
    })
}

fn oper_journal(w: &mut World) -> Vec<(String, &'static str, String)> {
    w.hub
        .take_journal()
        .into_iter()
        .filter_map(|j| match j {
            Journal::Oper { by, action, detail } => Some((by, action, detail)),
            _ => None,
        })
        .collect()
}

#[test]
fn oper_makes_only_that_session_a_server_operator() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    assert!(!w.hub.is_oper(alice));
    w.oper(alice, "operuser");
    assert!(w.hub.is_oper(alice));
    assert!(!w.hub.is_oper(bob));
    assert_eq!(
        oper_journal(&mut w),
        vec![("alice".to_owned(), "oper", "operuser".to_owned())]
    );
}

#[test]
fn whois_says_who_is_a_server_operator() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.oper(alice, "operuser");
    let got = w.ask(bob, Command::Whois(vec![nick("alice"), nick("bob")]));
    let Event::Whois { found, .. } = &got[0] else {
        panic!("{got:?}")
    };
    let opers: Vec<(&str, bool)> = found
        .iter()
        .map(|d| (d.who.nick.as_str(), d.oper))
        .collect();
    assert_eq!(opers, [("alice", true), ("bob", false)]);
}

#[test]
fn only_a_server_operator_sees_real_addresses_in_whois() {
    let mut w = World::new();
    let alice = w.connect_info(from_ip("203.0.113.7"));
    w.login_as(alice, "alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.oper(carol, "operuser");
    w.clear();
    let address = |w: &mut World, asker| {
        let got = w.ask(asker, Command::Whois(vec![nick("alice")]));
        let Event::Whois { found, .. } = &got[0] else {
            panic!("{got:?}")
        };
        found[0].address
    };
    assert_eq!(address(&mut w, bob), None);
    assert_eq!(address(&mut w, carol), Some("203.0.113.7".parse().unwrap()));
}

#[test]
fn operator_status_ends_with_the_session() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.oper(alice, "operuser");
    w.disconnect(alice, "gone");
    let again = w.login("alice");
    assert!(!w.hub.is_oper(again));
    let got = w.ask(again, kill("alice", None));
    assert_eq!(got, vec![Event::Error(ChatError::NotServerOper)]);
}

#[test]
fn an_operator_can_drop_the_status_and_it_is_journaled() {
    let mut w = World::new();
    let alice = w.login("alice");
    w.oper(alice, "operuser");
    oper_journal(&mut w);
    assert_eq!(w.ask(alice, Command::Deoper), vec![Event::NoLongerOper]);
    assert!(!w.hub.is_oper(alice));
    assert_eq!(
        oper_journal(&mut w),
        vec![("alice".to_owned(), "deoper", "operuser".to_owned())]
    );
    assert_eq!(
        w.ask(alice, Command::Deoper),
        vec![Event::Error(ChatError::NotServerOper)]
    );
}

#[test]
fn kill_and_wallops_are_refused_to_users_who_are_not_operators() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    assert_eq!(
        w.ask(alice, kill("bob", Some("bye"))),
        vec![Event::Error(ChatError::NotServerOper)]
    );
    assert_eq!(
        w.ask(
            alice,
            Command::Operator(OperCommand::Wallops(text("hello")))
        ),
        vec![Event::Error(ChatError::NotServerOper)]
    );
    assert!(w.closed(bob).is_empty());
    assert_silent_after(&w, bob);
    assert_eq!(oper_journal(&mut w), vec![]);
}

fn assert_silent_after(w: &World, sid: SessionId) {
    assert_eq!(w.events(sid), vec![]);
}

#[test]
fn kill_disconnects_every_session_of_the_user_and_others_see_why() {
    let mut w = World::new();
    let (memory, a, _) = {
        let (a, b) = (account(1, "alice"), account(2, "bob"));
        let memory = Memory::default();
        memory.0.lock().unwrap().accounts = vec![a.clone(), b.clone()];
        (memory, a, b)
    };
    w.hub = Hub::with_store(quiet_config(), Box::new(memory)).expect("loads");
    let phone = w.login_account(&a);
    let laptop = w.login_account(&a);
    let oper = w.login("carol");
    let dave = w.login("dave");
    w.in_room("#a", &[phone, laptop, oper, dave]);
    w.oper(oper, "operuser");
    oper_journal(&mut w);

    let got = w.ask(oper, kill("ALICE", Some("spam")));
    assert_eq!(
        got,
        vec![
            Event::Quit {
                nick: nick("alice"),
                reason: "Killed (carol (spam))".into()
            },
            Event::OperDone(OperDone::Killed(nick("alice"))),
        ]
    );
    for sid in [phone, laptop] {
        assert_eq!(
            w.events(sid),
            vec![Event::Bye {
                reason: "Killed (carol (spam))".into()
            }]
        );
        assert!(!w.hub.sessions.contains_key(&sid));
    }
    assert_eq!(
        w.events(dave),
        vec![Event::Quit {
            nick: nick("alice"),
            reason: "Killed (carol (spam))".into()
        }]
    );
    assert_eq!(
        oper_journal(&mut w),
        vec![("carol".to_owned(), "kill", "alice (spam)".to_owned())]
    );
}

#[test]
fn kill_of_a_name_nobody_uses_is_refused() {
    let mut w = World::new();
    let oper = w.login("carol");
    w.oper(oper, "operuser");
    assert_eq!(
        w.ask(oper, kill("ghost", None)),
        vec![Event::Error(ChatError::NoSuchUser(nick("ghost")))]
    );
}

#[test]
fn kill_reason_follows_the_input_rules() {
    let mut w = World::new();
    let oper = w.login("carol");
    let bob = w.login("bob");
    w.oper(oper, "operuser");
    let bad = Command::Operator(OperCommand::Kill {
        nick: nick("bob"),
        reason: Some(text(&"x".repeat(201))),
    });
    let got = w.ask(oper, bad);
    assert!(
        matches!(got[..], [Event::Error(ChatError::Input(_))]),
        "{got:?}"
    );
    assert!(w.hub.sessions.contains_key(&bob));
}

#[test]
fn wallops_reach_every_operator_and_nobody_else() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    let carol = w.login("carol");
    w.oper(alice, "one");
    w.oper(bob, "two");
    w.cmd(
        alice,
        Command::Operator(OperCommand::Wallops(text("split incoming"))),
    );
    for sid in [alice, bob] {
        let got = w.deliveries(sid);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].event, Event::Wallops(text("split incoming")));
        assert_eq!(
            got[0].actor.as_ref().map(|a| a.nick.as_str()),
            Some("alice")
        );
    }
    assert_silent_after(&w, carol);
    assert_eq!(
        oper_journal(&mut w),
        vec![
            ("alice".to_owned(), "oper", "one".to_owned()),
            ("bob".to_owned(), "oper", "two".to_owned()),
            ("alice".to_owned(), "wallops", "split incoming".to_owned()),
        ]
    );
}

#[test]
fn every_door_words_an_operators_outcome_the_same() {
    let said = [
        (OperDone::Killed(nick("alice")), "alice was killed"),
        (
            OperDone::WallopsSent(2),
            "Wallops sent to 2 operator sessions",
        ),
        (
            OperDone::Klined {
                mask: "$a:alice".into(),
                disconnected: 1,
            },
            "K-line set on $a:alice; 1 sessions disconnected",
        ),
        (
            OperDone::Unklined("dave!*@*".into()),
            "K-line on dave!*@* lifted",
        ),
        (
            OperDone::Suspended {
                name: nick("ALICE"),
                disconnected: 1,
            },
            "ALICE is suspended; 1 sessions disconnected",
        ),
        (
            OperDone::Unsuspended(nick("alice")),
            "alice is no longer suspended",
        ),
        (
            OperDone::Lockdown(true),
            "Lockdown is on: no new guests or registrations",
        ),
        (OperDone::Lockdown(false), "Lockdown is off"),
    ];
    for (done, text) in said {
        assert_eq!(done.to_string(), text);
    }
}

#[test]
fn the_admin_kills_and_sends_wallops_without_a_session() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.oper(alice, "operuser");
    let told = w.admin(Command::Operator(OperCommand::Wallops(text("maintenance"))));
    w.hub.finish(w.now);
    assert_eq!(told, Ok(vec![Event::OperDone(OperDone::WallopsSent(1))]));
    let got = w.deliveries(alice);
    assert_eq!(got[0].event, Event::Wallops(text("maintenance")));
    assert!(got[0].actor.is_none());
    let kill = Command::Operator(OperCommand::Kill {
        nick: nick("bob"),
        reason: None,
    });
    w.admin(kill.clone()).expect("kills");
    w.hub.finish(w.now);
    assert_eq!(
        w.events(bob),
        vec![Event::Bye {
            reason: "Killed (admin (no reason given))".into()
        }]
    );
    assert_eq!(w.admin(kill), Err(ChatError::NoSuchUser(nick("bob"))));
}

#[test]
fn the_admin_runs_operator_commands_only_and_leaves_no_session_behind() {
    let alice = account(1, "alice");
    let memory = Memory::with_account(&alice);
    let (mut w, oper) = with_oper(&memory);
    let phone = w.login_account(&alice);
    let sessions = w.hub.session_count();
    let suspend = Command::Operator(OperCommand::Suspend {
        name: nick("alice"),
        reason: Some(text("abuse")),
    });
    assert_eq!(
        w.admin(suspend),
        Ok(vec![Event::OperDone(OperDone::Suspended {
            name: nick("alice"),
            disconnected: 1
        })])
    );
    w.hub.finish(w.now);
    assert_eq!(
        w.events(phone),
        vec![Event::Bye {
            reason: "Suspended (abuse)".into()
        }]
    );
    // The same list for an operator's session and for the admin.
    let list = vec![Event::Suspensions(vec![(nick("alice"), "abuse".into())])];
    assert_eq!(
        w.admin(Command::Operator(OperCommand::Suspensions)),
        Ok(list.clone())
    );
    assert_eq!(
        w.ask(oper, Command::Operator(OperCommand::Suspensions)),
        list
    );
    assert_eq!(
        oper_journal(&mut w),
        [("admin".to_owned(), "suspend", "alice (abuse)".to_owned())]
    );
    // Nothing but operator commands: the admin is no user.
    assert_eq!(w.admin(Command::Rooms), Err(ChatError::NotLoggedIn));
    // An account's call is no operator's (alice's, once she may again).
    w.admin(Command::Operator(OperCommand::Unsuspend(nick("alice"))))
        .expect("lifts");
    assert_eq!(
        w.call(
            &nick("alice").key(),
            Command::Operator(OperCommand::Suspensions)
        ),
        Err(ChatError::NotServerOper)
    );
    // A call is no session: none is left, and nothing reaches it later.
    assert_eq!(w.hub.session_count(), sessions - 1);
    w.hub.announce(text("hello"), w.now);
    w.hub.finish(w.now);
    assert_eq!(w.events(oper), vec![Event::Announcement(text("hello"))]);
}

fn kline(mask: &str, minutes: Option<u64>, reason: &str) -> Command {
    Command::Operator(OperCommand::Kline {
        mask: mask.to_owned(),
        minutes,
        reason: Some(text(reason)),
    })
}

fn from_ip(ip: &str) -> ClientInfo {
    ClientInfo {
        ident: Some("id".into()),
        host: "host.example".into(),
        addr: Some(ip.parse().unwrap()),
        ..ClientInfo::default()
    }
}

/// A world with a store holding the account alice (1), and an operator.
fn with_oper(memory: &Memory) -> (World, SessionId) {
    let mut w = World::new();
    w.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    let oper = w.login("carol");
    w.oper(oper, "operuser");
    w.hub.take_journal();
    (w, oper)
}

#[test]
fn kline_on_an_account_disconnects_its_sessions_and_refuses_its_logins() {
    let memory = Memory::with_account(&account(1, "alice"));
    let (mut w, oper) = with_oper(&memory);
    let alice = w.login_account(&account(1, "alice"));
    let got = w.ask(oper, kline("$a:ALICE", None, "spam"));
    assert_eq!(
        got,
        vec![Event::OperDone(OperDone::Klined {
            mask: "$a:alice".into(),
            disconnected: 1
        })]
    );
    assert_eq!(
        w.events(alice),
        vec![Event::Bye {
            reason: "K-lined (spam)".into()
        }]
    );
    let again = w.connect();
    let got = w.ask(again, Command::LoginAccount(account(1, "alice")));
    assert_eq!(
        got,
        vec![
            Event::Error(ChatError::ServerBanned("spam".into())),
            Event::Bye {
                reason: "K-lined (spam)".into()
            }
        ]
    );
    assert!(!w.hub.sessions.contains_key(&again));
    assert_eq!(
        oper_journal(&mut w),
        vec![("carol".to_owned(), "kline", "$a:alice (spam)".to_owned())]
    );
}

#[test]
fn kline_on_a_mask_or_an_address_refuses_matching_guests_only() {
    let memory = Memory::default();
    let (mut w, oper) = with_oper(&memory);
    w.cmd(oper, kline("*!*@host.example", None, "bad host"));
    w.cmd(oper, kline("203.0.113.0/24", None, "bad net"));
    w.clear();
    let s = w.connect_info(from_ip("198.51.100.1"));
    assert_eq!(
        w.ask(s, Command::Login(nick("eve")))[0],
        Event::Error(ChatError::ServerBanned("bad host".into()))
    );
    let s = w.connect_info(ClientInfo {
        host: "elsewhere".into(),
        ..from_ip("203.0.113.77")
    });
    assert_eq!(
        w.ask(s, Command::Login(nick("eve")))[0],
        Event::Error(ChatError::ServerBanned("bad net".into()))
    );
    let s = w.connect_info(ClientInfo {
        host: "elsewhere".into(),
        ..from_ip("198.51.100.1")
    });
    assert!(matches!(
        w.ask(s, Command::Login(nick("eve")))[0],
        Event::Welcome { .. }
    ));
}

#[test]
fn kline_with_a_duration_lapses_and_unkline_lifts_one_at_once() {
    let memory = Memory::default();
    let (mut w, oper) = with_oper(&memory);
    w.cmd(oper, kline("bob!*@*", Some(10), "cool off"));
    w.cmd(oper, kline("dave!*@*", None, "for good"));
    w.clear();
    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::Login(nick("bob")))[0],
        Event::Error(ChatError::ServerBanned("cool off".into()))
    );
    // Nor can another name become it.
    let other = w.login("notbob");
    assert_eq!(
        w.ask(other, Command::ChangeNick(nick("Bob"))),
        vec![Event::Error(ChatError::ServerBanned("cool off".into()))]
    );
    w.advance(10 * 60_000);
    w.login("bob");
    let got = w.ask(oper, Command::Operator(OperCommand::Klines));
    let Event::Klines(list) = &got[0] else {
        panic!("{got:?}")
    };
    let masks: Vec<String> = list.iter().map(|k| k.mask.to_string()).collect();
    assert_eq!(masks, ["dave!*@*"]);
    assert_eq!(
        w.ask(
            oper,
            Command::Operator(OperCommand::Unkline("DAVE!*@*".into()))
        ),
        vec![Event::OperDone(OperDone::Unklined("dave!*@*".into()))]
    );
    w.login("dave");
    assert_eq!(
        w.ask(
            oper,
            Command::Operator(OperCommand::Unkline("dave!*@*".into()))
        ),
        vec![Event::Error(ChatError::NoSuchKline("dave!*@*".into()))]
    );
}

#[test]
fn klines_survive_a_restart() {
    let memory = Memory::default();
    let (mut w, oper) = with_oper(&memory);
    w.cmd(oper, kline("192.0.2.1", None, "persisted"));
    let mut w = World::new();
    w.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    let s = w.connect_info(from_ip("192.0.2.1"));
    assert_eq!(
        w.ask(s, Command::Login(nick("eve")))[0],
        Event::Error(ChatError::ServerBanned("persisted".into()))
    );
}

#[test]
fn klines_are_for_operators_and_bad_masks_are_refused() {
    let memory = Memory::default();
    let (mut w, oper) = with_oper(&memory);
    let bob = w.login("bob");
    for cmd in [
        kline("eve!*@*", None, "x"),
        Command::Operator(OperCommand::Unkline("eve!*@*".into())),
        Command::Operator(OperCommand::Klines),
    ] {
        assert_eq!(
            w.ask(bob, cmd),
            vec![Event::Error(ChatError::NotServerOper)]
        );
    }
    for bad in ["*!*@*", "nonsense", "10.0.0.0/2"] {
        let got = w.ask(oper, kline(bad, None, "x"));
        assert!(
            matches!(got[..], [Event::Error(ChatError::BadValue(_))]),
            "{bad}: {got:?}"
        );
    }
    assert!(w.hub.sessions.contains_key(&bob));
}

#[test]
fn a_suspended_account_loses_its_sessions_and_cannot_log_in_until_unsuspended() {
    let alice = account(1, "alice");
    let memory = Memory::with_account(&alice);
    let (mut w, oper) = with_oper(&memory);
    let phone = w.login_account(&alice);
    let got = w.ask(
        oper,
        Command::Operator(OperCommand::Suspend {
            name: nick("ALICE"),
            reason: Some(text("abuse")),
        }),
    );
    assert_eq!(
        got,
        vec![Event::OperDone(OperDone::Suspended {
            name: nick("ALICE"),
            disconnected: 1
        })]
    );
    assert_eq!(
        w.events(phone),
        vec![Event::Bye {
            reason: "Suspended (abuse)".into()
        }]
    );
    let suspended = ChatError::Suspended {
        name: nick("alice"),
        reason: "abuse".into(),
    };
    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::LoginAccount(alice.clone())),
        vec![Event::Error(suspended.clone())]
    );
    // A guest cannot identify into it either.
    let guest = w.login("guest");
    assert_eq!(
        w.ask(guest, Command::Identify(alice.clone())),
        vec![Event::Error(suspended.clone())]
    );
    assert_eq!(
        w.hub.account_suspended(&nick("alice").key()),
        Some("abuse".into())
    );

    // It holds across a restart, and lifts.
    let mut w2 = World::new();
    w2.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    let s = w2.connect();
    assert_eq!(
        w2.ask(s, Command::LoginAccount(alice.clone())),
        vec![Event::Error(suspended)]
    );
    w.cmd(
        oper,
        Command::Operator(OperCommand::Unsuspend(nick("alice"))),
    );
    assert_eq!(
        w.events(oper),
        vec![Event::OperDone(OperDone::Unsuspended(nick("alice")))]
    );
    w.login_account(&alice);
    assert_eq!(
        w.ask(
            oper,
            Command::Operator(OperCommand::Unsuspend(nick("alice")))
        ),
        vec![Event::Error(ChatError::NotSuspended(nick("alice")))]
    );
    assert_eq!(
        w.ask(
            oper,
            Command::Operator(OperCommand::Suspend {
                name: nick("nobody"),
                reason: None
            })
        ),
        vec![Event::Error(ChatError::NoSuchUser(nick("nobody")))]
    );
    let actions: Vec<&str> = oper_journal(&mut w).into_iter().map(|j| j.1).collect();
    assert_eq!(actions, ["suspend", "unsuspend"]);
}

#[test]
fn lockdown_refuses_new_guests_and_registrations_but_not_accounts() {
    let alice = account(1, "alice");
    let memory = Memory::with_account(&alice);
    let (mut w, oper) = with_oper(&memory);
    let guest = w.login("guest");
    assert_eq!(
        w.ask(oper, Command::Operator(OperCommand::Lockdown(Some(true)))),
        vec![Event::OperDone(OperDone::Lockdown(true))]
    );
    let s = w.connect();
    assert_eq!(
        w.ask(s, Command::Login(nick("newbie"))),
        vec![Event::Error(ChatError::Lockdown)]
    );
    assert_eq!(
        w.ask(
            guest,
            Command::Register {
                password_hash: "$argon2id$x".into()
            }
        ),
        vec![Event::Error(ChatError::Lockdown)]
    );
    w.login_account(&alice);
    // Those already here stay.
    assert!(w.hub.sessions.contains_key(&guest));
    // It holds across a restart, and lifts.
    let mut w2 = World::new();
    w2.hub = Hub::with_store(quiet_config(), Box::new(memory.clone())).expect("loads");
    assert!(w2.hub.lockdown());
    w.cmd(oper, Command::Operator(OperCommand::Lockdown(Some(false))));
    w.clear();
    assert_eq!(
        w.ask(oper, Command::Operator(OperCommand::Lockdown(None))),
        vec![Event::OperDone(OperDone::Lockdown(false))]
    );
    w.login("newbie");
    let bob = w.login("bob");
    assert_eq!(
        w.ask(bob, Command::Operator(OperCommand::Lockdown(Some(true)))),
        vec![Event::Error(ChatError::NotServerOper)]
    );
}

#[test]
fn service_names_and_configured_names_are_reserved_for_nicks_and_registration() {
    let mut w = World::with_config(HubConfig {
        reserved: vec![nick("confab").key()],
        ..quiet_config()
    });
    for name in ["NickServ", "chanserv", "OPERSERV", "Global", "Confab"] {
        let s = w.connect();
        assert_eq!(
            w.ask(s, Command::Login(nick(name))),
            vec![Event::Error(ChatError::NickReserved(nick(name)))],
            "{name}"
        );
    }
    let bob = w.login("bob");
    assert_eq!(
        w.ask(bob, Command::ChangeNick(nick("nickserv"))),
        vec![Event::Error(ChatError::NickReserved(nick("nickserv")))]
    );
    // Names that only look alike are fine.
    w.cmd(bob, Command::ChangeNick(nick("NickServer")));
    assert_eq!(
        w.events(bob),
        vec![Event::NickChanged {
            old: nick("bob"),
            new: nick("NickServer")
        }]
    );
}

#[test]
fn a_member_list_marks_server_operators_while_they_are() {
    let mut w = World::new();
    let alice = w.login("alice");
    let bob = w.login("bob");
    w.in_room("#a", &[alice, bob]);
    let opers = |w: &mut World| {
        w.clear();
        w.cmd(alice, Command::Members(Some(room("#a"))));
        w.outboxes[&alice]
            .take()
            .into_iter()
            .find_map(|e| match e {
                Event::Members { members, .. } => Some(
                    members
                        .iter()
                        .map(|m| (m.who.nick.to_string(), m.oper))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .expect("a member list")
    };
    let none = vec![("alice".to_owned(), false), ("bob".to_owned(), false)];
    assert_eq!(opers(&mut w), none);
    w.oper(bob, "operuser");
    assert_eq!(
        opers(&mut w),
        vec![("alice".to_owned(), false), ("bob".to_owned(), true)]
    );
    assert_eq!(w.ask(bob, Command::Deoper), vec![Event::NoLongerOper]);
    assert_eq!(opers(&mut w), none);
}
