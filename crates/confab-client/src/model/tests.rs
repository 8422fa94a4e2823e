//! The model's rules, as sequences: server events (and the user's actions)
//! in, state and effects out. Each test's name says the rule.

use super::*;
use crate::proto::{Incoming, MemberInfo, MsgKind};
use chrono::TimeZone;

fn t(secs: i64) -> Time {
    Utc.timestamp_opt(1_795_464_000 + secs, 0).unwrap()
}

use chrono::Utc;

fn msg(id: MsgId, from: &str, target: &str, text: &str) -> Message {
    Message {
        id,
        time: t(id as i64),
        from: from.into(),
        target: target.into(),
        kind: MsgKind::Say,
        text: text.into(),
    }
}

/// A model logged in as alice, online, with `#a` joined and open.
fn alice() -> Model {
    let mut m = Model::new(IdSource::default());
    m.set_conn(ConnState::Online { lag: None });
    ev(
        &mut m,
        ServerEvent::Welcome {
            v: 1,
            server: "confab".into(),
            name: "alice".into(),
            account: true,
            session: 1,
            online: 1,
        },
    );
    ev(&mut m, joined("#a", "alice"));
    // The presence asked on coming online has gone (tested on its own).
    assert_eq!(users_requests(&m.tick(t(0))), 1);
    m
}

fn ev(m: &mut Model, e: ServerEvent) -> Vec<Effect> {
    m.apply(&Incoming::new(t(0), e), t(0))
}

fn reply(m: &mut Model, re: ReqId, e: ServerEvent) -> Vec<Effect> {
    m.apply(
        &Incoming {
            re: Some(re),
            time: t(0),
            event: e,
        },
        t(0),
    )
}

fn joined(room: &str, nick: &str) -> ServerEvent {
    ServerEvent::Joined {
        room: room.into(),
        nick: nick.into(),
    }
}

fn say(m: &mut Model, id: MsgId, from: &str, target: &str, text: &str) -> Vec<Effect> {
    m.apply(
        &Incoming::new(
            t(id as i64),
            ServerEvent::Message {
                message: msg(id, from, target, text),
                offline: false,
            },
        ),
        t(id as i64),
    )
}

fn ids(b: &Buffer) -> Vec<MsgId> {
    b.items.iter().filter_map(Item::msg_id).collect()
}

fn texts(b: &Buffer) -> Vec<String> {
    b.items
        .iter()
        .map(|i| match i {
            Item::Message { msg, .. } => msg.text.clone(),
            Item::Event { text, .. } => text.clone(),
        })
        .collect()
}

fn requests(effects: &[Effect]) -> Vec<Request> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Request(o) => Some(o.request.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn joining_opens_the_room_and_others_joining_show_as_events() {
    let mut m = alice();
    assert_eq!(m.current_name(), Some("#a"));
    assert!(m.buffer("#A").unwrap().joined);
    ev(&mut m, joined("#a", "bob"));
    let b = m.buffer("#a").unwrap();
    assert_eq!(texts(b), ["bob joined"]);
    assert!(b.members.contains_key("bob"));
    assert!(is_compactable(&b.items[0]));
}

#[test]
fn a_message_in_the_open_followed_buffer_is_read_and_marked_once_per_burst() {
    let mut m = alice();
    assert!(say(&mut m, 1, "bob", "#a", "hi").is_empty());
    say(&mut m, 2, "bob", "#a", "there");
    let b = m.buffer("#a").unwrap();
    assert_eq!((b.unread, b.read_up_to), (0, 2));
    assert!(m.tick(t(1)).is_empty(), "not before the delay");
    let fx = m.tick(t(2));
    assert_eq!(
        requests(&fx),
        [Request::MarkRead {
            to: "#a".into(),
            msg: 2
        }]
    );
    assert!(m.tick(t(3)).is_empty(), "one per burst");
}

#[test]
fn marks_wait_while_offline_and_go_once_online() {
    let mut m = alice();
    say(&mut m, 1, "bob", "#a", "hi");
    m.set_conn(ConnState::Connecting);
    assert!(m.tick(t(9)).is_empty());
    m.set_conn(ConnState::Online { lag: None });
    let fx = m.tick(t(10));
    let marks = requests(&fx)
        .iter()
        .filter(|r| matches!(r, Request::MarkRead { .. }))
        .count();
    assert_eq!(marks, 1);
    // (Back online, presence is asked again too.)
    assert_eq!(users_requests(&fx), 1);
}

#[test]
fn messages_elsewhere_count_as_unread_and_mentions_highlight_and_notify() {
    let mut m = alice();
    ev(&mut m, joined("#b", "alice"));
    assert!(say(&mut m, 1, "bob", "#b", "plain").is_empty());
    let fx = say(&mut m, 2, "bob", "#b", "hey Alice: look");
    assert_eq!(
        fx,
        [Effect::Notify {
            title: "bob in #b".into(),
            body: "hey Alice: look".into()
        }]
    );
    let b = m.buffer("#b").unwrap();
    assert_eq!((b.unread, b.highlight), (2, true));
    // "alicex" is not a mention of alice.
    assert!(say(&mut m, 3, "bob", "#b", "alicex").is_empty());
}

#[test]
fn a_private_message_is_a_highlight_in_the_other_persons_buffer() {
    let mut m = alice();
    let fx = say(&mut m, 1, "Bob", "alice", "psst");
    assert_eq!(fx.len(), 1);
    let b = m.buffer("bob").unwrap();
    assert_eq!(
        (b.kind, b.unread, b.highlight),
        (BufferKind::Private, 1, true)
    );
    // Our reply goes to the same buffer, and is read.
    say(&mut m, 2, "alice", "bob", "yes?");
    let b = m.buffer("BOB").unwrap();
    assert_eq!(ids(b), [1, 2]);
    assert_eq!((b.unread, b.read_up_to), (0, 2));
}

#[test]
fn an_unfocused_terminal_notifies_even_for_the_open_buffer_and_leaves_it_unread() {
    let mut m = alice();
    m.set_focus(false);
    let fx = say(&mut m, 1, "bob", "#a", "alice?");
    assert_eq!(fx.len(), 1);
    assert_eq!(m.buffer("#a").unwrap().unread, 1);
    m.seen_latest(t(5));
    assert_eq!(
        m.buffer("#a").unwrap().unread,
        1,
        "not seen while unfocused"
    );
    m.set_focus(true);
    m.seen_latest(t(5));
    assert_eq!(m.buffer("#a").unwrap().unread, 0);
}

#[test]
fn a_scrolled_back_view_keeps_messages_unread_until_seen() {
    let mut m = alice();
    m.set_following(false);
    let fx = say(&mut m, 1, "bob", "#a", "hi");
    assert!(fx.is_empty(), "no notification for the open buffer");
    assert_eq!(m.buffer("#a").unwrap().unread, 1);
    m.seen_latest(t(2));
    assert_eq!(m.buffer("#a").unwrap().unread, 0);
}

#[test]
fn a_message_id_is_never_in_a_buffer_twice_and_resumed_ones_fall_into_place() {
    let mut m = alice();
    say(&mut m, 5, "bob", "#a", "five");
    say(&mut m, 5, "bob", "#a", "five again");
    ev(
        &mut m,
        ServerEvent::Resumed {
            messages: vec![
                msg(3, "bob", "#a", "three"),
                msg(5, "bob", "#a", "x"),
                msg(7, "bob", "#a", "seven"),
            ],
            more: false,
        },
    );
    assert_eq!(ids(m.buffer("#a").unwrap()), [3, 5, 7]);
    assert_eq!(m.max_seen, 7);
}

#[test]
fn join_history_merges_by_id_and_counts_as_read_when_nothing_was_marked() {
    let mut m = alice();
    ev(
        &mut m,
        ServerEvent::ReadMarker {
            target: "#a".into(),
            msg: None,
            marker_time: None,
        },
    );
    ev(
        &mut m,
        ServerEvent::History {
            target: "#a".into(),
            messages: vec![msg(1, "bob", "#a", "a"), msg(2, "bob", "#a", "b")],
        },
    );
    let b = m.buffer("#a").unwrap();
    assert_eq!(
        (ids(b), b.unread, b.read_up_to, b.has_older),
        (vec![1, 2], 0, 2, true)
    );
}

#[test]
fn a_read_marker_from_another_session_clears_unread() {
    let mut m = alice();
    ev(&mut m, joined("#b", "alice"));
    for id in 1..=3 {
        say(&mut m, id, "bob", "#b", "x");
    }
    assert_eq!(m.buffer("#b").unwrap().unread, 3);
    ev(
        &mut m,
        ServerEvent::ReadMarker {
            target: "#b".into(),
            msg: Some(2),
            marker_time: None,
        },
    );
    assert_eq!(m.buffer("#b").unwrap().unread, 1);
    ev(
        &mut m,
        ServerEvent::ReadMarkers {
            markers: vec![crate::proto::MarkerInfo {
                target: "#B".into(),
                msg: Some(1),
                marker_time: None,
            }],
        },
    );
    assert_eq!(
        m.buffer("#b").unwrap().read_up_to,
        2,
        "markers only move forward"
    );
}

#[test]
fn paging_back_asks_before_the_first_id_and_merges_the_answer() {
    let mut m = alice();
    say(&mut m, 200, "bob", "#a", "latest");
    let out = m.older_request("#a").unwrap();
    assert_eq!(
        out.request,
        Request::History {
            to: "#a".into(),
            before: Some(200),
            after: None,
            limit: Some(PAGE)
        }
    );
    assert!(m.buffer("#a").unwrap().loading);
    assert!(m.older_request("#a").is_none(), "one page at a time");
    let page: Vec<Message> = (100..200).map(|i| msg(i, "bob", "#a", "old")).collect();
    reply(
        &mut m,
        out.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: page,
        },
    );
    let b = m.buffer("#a").unwrap();
    assert_eq!(b.items.len(), 101);
    assert_eq!(
        (b.first_id(), b.last_id(), b.loading, b.has_older),
        (100, 200, false, true)
    );
    let short = m.older_request("#a").unwrap();
    reply(
        &mut m,
        short.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: vec![msg(99, "bob", "#a", "oldest"), msg(100, "bob", "#a", "dup")],
        },
    );
    let b = m.buffer("#a").unwrap();
    assert_eq!((b.items.len(), b.has_older), (102, false));
    assert!(m.older_request("#a").is_none(), "nothing older");
}

#[test]
fn paging_back_past_the_cap_drops_the_newest_and_stops_following_until_paged_forward() {
    let mut m = alice();
    let top = SCROLLBACK as u64 + 1000;
    for id in (top - SCROLLBACK as u64 + 1)..=top {
        say(&mut m, id, "bob", "#a", "x");
    }
    assert_eq!(m.buffer("#a").unwrap().items.len(), SCROLLBACK);
    let out = m.older_request("#a").unwrap();
    let first = m.buffer("#a").unwrap().first_id();
    let page: Vec<Message> = (first - 100..first)
        .map(|i| msg(i, "bob", "#a", "old"))
        .collect();
    reply(
        &mut m,
        out.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: page,
        },
    );
    let b = m.buffer("#a").unwrap();
    assert_eq!(b.items.len(), SCROLLBACK);
    assert!(!b.at_latest);
    assert_eq!(b.last_id(), top - 100);
    // A live message is counted, not shown.
    m.set_following(false);
    say(&mut m, top + 1, "bob", "#a", "live");
    let b = m.buffer("#a").unwrap();
    assert!(!b.has(top + 1));
    assert_eq!(b.unread, 1);
    // Paging forward reaches the present again.
    let fwd = m.newer_request("#a").unwrap();
    assert!(
        matches!(fwd.request, Request::History { after: Some(a), before: None, .. } if a == top - 100)
    );
    let page: Vec<Message> = (top - 99..=top).map(|i| msg(i, "bob", "#a", "x")).collect();
    reply(
        &mut m,
        fwd.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: page,
        },
    );
    assert!(
        !m.buffer("#a").unwrap().at_latest,
        "a full page: maybe more"
    );
    let fwd = m.newer_request("#a").unwrap();
    let rest = vec![msg(top + 1, "bob", "#a", "live")];
    reply(
        &mut m,
        fwd.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: rest,
        },
    );
    let b = m.buffer("#a").unwrap();
    assert!(b.at_latest);
    assert_eq!(b.last_id(), top + 1);
    assert_eq!(b.items.len(), SCROLLBACK);
}

#[test]
fn a_dropped_connection_stops_pages_loading() {
    let mut m = alice();
    say(&mut m, 10, "bob", "#a", "x");
    let out = m.older_request("#a").unwrap();
    m.set_conn(ConnState::Offline {
        why: "gone".into(),
        retry_at: t(1),
    });
    assert!(!m.buffer("#a").unwrap().loading);
    assert!(m.older_request("#a").is_none(), "not while offline");
    // A late answer to the old request is join history, merged by id.
    reply(
        &mut m,
        out.id.unwrap(),
        ServerEvent::History {
            target: "#a".into(),
            messages: vec![msg(9, "bob", "#a", "y")],
        },
    );
    assert_eq!(ids(m.buffer("#a").unwrap()), [9, 10]);
}

#[test]
fn the_sidebar_lists_rooms_then_people_highlighted_then_unread_then_by_name() {
    let mut m = alice();
    for r in ["#c", "#b", "#d"] {
        ev(&mut m, joined(r, "alice"));
    }
    say(&mut m, 1, "bob", "#d", "plain");
    say(&mut m, 2, "bob", "#c", "alice!");
    say(&mut m, 3, "zed", "alice", "hi");
    m.act(Action::Query { nick: "amy".into() }, t(0)).unwrap();
    let order: Vec<&str> = m.sorted().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, ["#c", "#d", "#a", "#b", "zed", "amy"]);
    assert_eq!(m.current_name(), Some("amy"));
}

#[test]
fn alt_a_goes_to_mentions_first_then_unread_and_select_clears_the_highlight() {
    let mut m = alice();
    for r in ["#b", "#c"] {
        ev(&mut m, joined(r, "alice"));
    }
    say(&mut m, 1, "bob", "#b", "plain");
    say(&mut m, 2, "bob", "#c", "alice?");
    m.next_unread();
    assert_eq!(m.current_name(), Some("#c"));
    let c = m.buffer("#c").unwrap();
    assert!(!c.highlight);
    assert_eq!(c.new_since, Some(0));
    m.seen_latest(t(9));
    m.next_unread();
    assert_eq!(m.current_name(), Some("#b"));
    m.seen_latest(t(9));
    m.next_unread();
    assert_eq!(m.current_name(), Some("#b"), "nothing left: stays");
}

#[test]
fn select_and_cycle_follow_the_sidebar_and_wrap() {
    let mut m = alice();
    ev(&mut m, joined("#b", "alice"));
    m.select(1);
    assert_eq!(m.current_name(), Some("#b"));
    m.cycle(1);
    assert_eq!(m.current_name(), Some("#a"));
    m.cycle(-1);
    assert_eq!(m.current_name(), Some("#b"));
    assert!(m.select(9).is_empty());
    assert_eq!(m.current_name(), Some("#b"));
}

#[test]
fn opening_an_accounts_empty_private_buffer_pages_its_history() {
    let mut m = alice();
    let fx = m.act(Action::Query { nick: "bob".into() }, t(0)).unwrap();
    assert!(
        matches!(&requests(&fx)[..], [Request::History { to, before: None, .. }] if to == "bob")
    );
}

#[test]
fn a_guest_without_private_history_gets_no_error_shown() {
    let mut m = alice();
    m.account = false;
    m.act(Action::Query { nick: "bob".into() }, t(0)).unwrap();
    let out = m.older_request("bob").unwrap();
    reply(
        &mut m,
        out.id.unwrap(),
        ServerEvent::Error {
            code: "guests_no_private_history".into(),
            message: "x".into(),
            field: None,
        },
    );
    let b = m.buffer("bob").unwrap();
    assert!(b.items.is_empty() && !b.loading && !b.has_older);
}

#[test]
fn parting_closes_the_buffer_and_opens_another() {
    let mut m = alice();
    ev(&mut m, joined("#b", "alice"));
    m.select_name("#b");
    ev(
        &mut m,
        ServerEvent::Parted {
            room: "#b".into(),
            nick: "alice".into(),
            reason: None,
        },
    );
    assert!(m.buffer("#b").is_none());
    assert_eq!(m.current_name(), Some("#a"));
}

#[test]
fn being_kicked_keeps_the_buffer_but_not_the_membership() {
    let mut m = alice();
    ev(&mut m, joined("#a", "bob"));
    ev(
        &mut m,
        ServerEvent::Kicked {
            room: "#a".into(),
            by: "bob".into(),
            nick: "alice".into(),
            reason: Some("spam".into()),
        },
    );
    let b = m.buffer("#a").unwrap();
    assert!(!b.joined && b.members.is_empty());
    assert_eq!(texts(b).last().unwrap(), "bob removed you from #a (spam)");
}

#[test]
fn members_topics_modes_and_away_update_the_room() {
    let mut m = alice();
    let member = |nick: &str, op| MemberInfo {
        nick: nick.into(),
        account: false,
        op,
        voice: false,
        away: false,
    };
    ev(
        &mut m,
        ServerEvent::Members {
            room: "#a".into(),
            members: vec![
                member("alice", true),
                member("bob", false),
                member("amy", false),
            ],
        },
    );
    ev(
        &mut m,
        ServerEvent::Mode {
            room: "#a".into(),
            by: "alice".into(),
            changes: vec![crate::proto::ModeChange {
                mode: "v".into(),
                add: true,
                arg: Some("Bob".into()),
            }],
        },
    );
    ev(
        &mut m,
        ServerEvent::Away {
            nick: "amy".into(),
            away: Some("lunch".into()),
        },
    );
    ev(
        &mut m,
        ServerEvent::Topic {
            room: "#a".into(),
            topic: Some("crabs".into()),
            by: "alice".into(),
        },
    );
    let b = m.buffer("#a").unwrap();
    let order: Vec<(&str, bool, bool, bool)> = b
        .members_sorted()
        .iter()
        .map(|m| (m.nick.as_str(), m.op, m.voice, m.away))
        .collect();
    assert_eq!(
        order,
        [
            ("alice", true, false, false),
            ("bob", false, true, false),
            ("amy", false, false, true)
        ]
    );
    assert_eq!(b.topic.as_ref().unwrap().text, "crabs");
    assert_eq!(texts(b), ["alice set +v Bob", "alice set the topic: crabs"]);
}

#[test]
fn a_nick_change_renames_members_private_buffers_and_ourselves() {
    let mut m = alice();
    ev(&mut m, joined("#a", "bob"));
    say(&mut m, 1, "bob", "alice", "hi");
    m.select_name("bob");
    ev(
        &mut m,
        ServerEvent::Nick {
            old: "bob".into(),
            new: "rob".into(),
        },
    );
    assert!(m.buffer("bob").is_none());
    assert_eq!(m.current_name(), Some("rob"));
    assert!(m.buffer("#a").unwrap().members.contains_key("rob"));
    ev(
        &mut m,
        ServerEvent::Nick {
            old: "alice".into(),
            new: "alicia".into(),
        },
    );
    assert_eq!(m.me, "alicia");
    assert_eq!(
        texts(m.buffer("#a").unwrap()).last().unwrap(),
        "alice is now known as alicia"
    );
}

#[test]
fn typing_shows_until_it_expires_or_a_message_arrives() {
    let mut m = alice();
    let typing = |from: &str| ServerEvent::Typing {
        from: from.into(),
        to: "#a".into(),
        active: true,
    };
    m.apply(&Incoming::new(t(0), typing("bob")), t(0));
    m.apply(&Incoming::new(t(0), typing("amy")), t(3));
    assert_eq!(m.buffer("#a").unwrap().typing(), ["amy", "bob"]);
    assert_eq!(m.next_deadline(), Some(t(0) + TYPING_SHOWN));
    m.tick(t(7));
    assert_eq!(m.buffer("#a").unwrap().typing(), ["amy"]);
    say(&mut m, 8, "amy", "#a", "done");
    assert!(m.buffer("#a").unwrap().typing().is_empty());
}

#[test]
fn asked_questions_show_their_answers_but_join_answers_do_not() {
    let mut m = alice();
    let fx = m.act(Action::Rooms, t(0)).unwrap();
    let Effect::Request(out) = &fx[0] else {
        panic!()
    };
    reply(
        &mut m,
        out.id.unwrap(),
        ServerEvent::Rooms {
            rooms: vec![crate::proto::RoomInfo {
                name: "#a".into(),
                members: 2,
                topic: None,
            }],
        },
    );
    reply(&mut m, out.id.unwrap(), ServerEvent::Ack { message: None });
    // A members list that comes with a join (another re) is not shown.
    reply(
        &mut m,
        999,
        ServerEvent::Members {
            room: "#a".into(),
            members: vec![],
        },
    );
    assert_eq!(texts(m.buffer("#a").unwrap()), ["Rooms: #a (2)"]);
    let fx = m
        .act(
            Action::Away {
                message: Some("lunch".into()),
            },
            t(0),
        )
        .unwrap();
    let Effect::Request(out) = &fx[0] else {
        panic!()
    };
    reply(&mut m, out.id.unwrap(), ServerEvent::Ack { message: None });
    assert_eq!(
        texts(m.buffer("#a").unwrap()).last().unwrap(),
        "You are away: lunch"
    );
}

#[test]
fn errors_and_notices_go_to_the_open_buffer_or_the_log() {
    let mut m = Model::new(IdSource::default());
    ev(
        &mut m,
        ServerEvent::Notice {
            text: "hello".into(),
        },
    );
    assert_eq!(m.log.len(), 1);
    let mut m = alice();
    ev(
        &mut m,
        ServerEvent::Error {
            code: "no_such_room".into(),
            message: "there is no room called #x".into(),
            field: None,
        },
    );
    assert!(matches!(
        m.buffer("#a").unwrap().items.back(),
        Some(Item::Event {
            kind: EventKind::Error,
            ..
        })
    ));
}

#[test]
fn actions_send_to_the_open_buffer_and_local_ones_change_only_the_model() {
    let mut m = alice();
    let fx = m
        .act(crate::commands::parse("hi all").unwrap().unwrap(), t(0))
        .unwrap();
    assert!(matches!(&requests(&fx)[..], [Request::Send { to, .. }] if to == "#a"));
    let fx = m
        .act(
            crate::commands::parse("/msg @bob psst").unwrap().unwrap(),
            t(0),
        )
        .unwrap();
    assert!(matches!(&requests(&fx)[..], [Request::Send { to, .. }] if to == "bob"));
    assert!(m.buffer("bob").is_some(), "a private buffer opens for it");
    m.act(Action::Query { nick: "bob".into() }, t(0)).unwrap();
    m.act(Action::Stop, t(0)).unwrap();
    assert_eq!(m.current_name(), Some("#a"));
    m.act(Action::Query { nick: "bob".into() }, t(0)).unwrap();
    let fx = m
        .act(
            Action::Part {
                room: None,
                reason: None,
            },
            t(0),
        )
        .unwrap();
    assert!(fx.is_empty());
    assert!(m.buffer("bob").is_none(), "/part closes a private buffer");
    assert_eq!(
        m.act(Action::Quit { reason: None }, t(0)).unwrap(),
        [Effect::Quit { reason: None }]
    );
    m.act(
        Action::Help {
            command: Some("join".into()),
        },
        t(0),
    )
    .unwrap();
    assert!(
        texts(m.buffer("#a").unwrap())
            .last()
            .unwrap()
            .starts_with("/join")
    );
    let err = m.act(Action::Topic(TopicArg::Show), t(0));
    assert!(err.is_ok());
}

#[test]
fn every_buffer_keeps_at_most_the_cap_of_live_items() {
    let mut m = alice();
    for id in 1..=(SCROLLBACK as u64 + 50) {
        say(&mut m, id, "bob", "#a", "x");
    }
    let b = m.buffer("#a").unwrap();
    assert_eq!(
        (b.items.len(), b.first_id(), b.has_older),
        (SCROLLBACK, 51, true)
    );
}

#[test]
fn mentions_match_whole_words_in_any_case() {
    let cases = [
        ("alice: hi", true),
        ("hi ALICE", true),
        ("(alice)", true),
        ("alice_x", false),
        ("malice", false),
        ("alice-bot", false),
        ("", false),
    ];
    for (text, want) in cases {
        assert_eq!(mentions(text, "alice"), want, "{text}");
    }
}

fn users(list: &[(&str, bool)]) -> ServerEvent {
    ServerEvent::Users {
        users: list
            .iter()
            .map(|(nick, online)| crate::proto::UserInfo {
                nick: (*nick).into(),
                online: *online,
                last_seen: None,
            })
            .collect(),
    }
}

fn users_requests(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Request(o) if matches!(o.request, Request::Users)))
        .count()
}

#[test]
fn presence_is_asked_once_online_and_again_after_someone_leaves_at_most_every_few_seconds() {
    let mut m = Model::new(IdSource::default());
    assert_eq!(users_requests(&m.tick(t(0))), 0, "not before online");
    m.set_conn(ConnState::Online { lag: None });
    assert_eq!(users_requests(&m.tick(t(1))), 1, "asked on coming online");
    assert_eq!(users_requests(&m.tick(t(2))), 0, "once");
    ev(
        &mut m,
        ServerEvent::Quit {
            nick: "bob".into(),
            reason: String::new(),
        },
    );
    assert_eq!(
        users_requests(&m.tick(t(3))),
        0,
        "not within PRESENCE_EVERY"
    );
    assert_eq!(users_requests(&m.tick(t(6))), 1, "then asked again");
    // Offline: nothing is asked; back online, it is.
    m.set_conn(ConnState::Offline {
        why: "gone".into(),
        retry_at: t(7),
    });
    assert_eq!(users_requests(&m.tick(t(20))), 0);
    m.set_conn(ConnState::Online { lag: None });
    assert_eq!(users_requests(&m.tick(t(21))), 1);
}

#[test]
fn offline_regulars_are_senders_in_the_window_who_are_not_members_and_not_connected() {
    let mut m = alice();
    ev(&mut m, joined("#a", "carol"));
    say(&mut m, 1, "Bob", "#a", "hi");
    say(&mut m, 2, "carol", "#a", "hello");
    say(&mut m, 3, "dave", "#a", "hey");
    say(&mut m, 4, "bob", "#a", "again");
    say(&mut m, 5, "eve", "#a", "a guest, never listed");
    // Silent (no /users asked): nothing shows in the buffer, but the
    // model learns who is offline.
    let before = m.buffer("#a").unwrap().items.len();
    ev(
        &mut m,
        users(&[("bob", false), ("carol", false), ("dave", true)]),
    );
    let b = m.buffer("#a").unwrap();
    assert_eq!(b.items.len(), before);
    // carol is a member (listed offline by a stale answer: members win),
    // dave is online elsewhere, eve is unknown: only Bob, once, as he
    // first wrote his name.
    assert_eq!(m.offline_regulars(b), vec!["Bob".to_owned()]);
    // Bob comes back: a member again, not offline.
    ev(&mut m, joined("#a", "bob"));
    let b = m.buffer("#a").unwrap();
    assert!(m.offline_regulars(b).is_empty());
}
