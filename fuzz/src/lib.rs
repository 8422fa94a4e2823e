//! What the fuzz targets share: the checks that a door's parser only
//! hands the hub well-formed commands ("nothing malformed reaches the
//! hub", ARCHITECTURE.md), whatever the client sent.

use confab_core::event::{ModeChange, RoomMode};
use confab_core::store::{Bound, HistoryQuery};
use confab_core::{Command, Nick, RoomName, Target, Text, Window};

/// The limits a parser was given (the line and WebSocket doors each have
/// their own `ParseLimits` with these fields).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub nick: usize,
    pub room: usize,
    pub message: usize,
}

/// The longest error text a parser may produce, in bytes. Errors quote
/// the input only in bounded pieces (a name's bad character, a command or
/// type name truncated to a few dozen characters), so an error is never
/// an echo of an arbitrarily long input.
pub const MAX_ERROR_BYTES: usize = 1024;

/// A nick within the limit that parses back to itself.
pub fn check_nick(n: &Nick, l: &Limits) {
    let s = n.as_str();
    assert!(
        !s.is_empty() && s.len() <= l.nick,
        "nick {n:?} over {}",
        l.nick
    );
    assert_eq!(Nick::parse(s, l.nick).as_ref(), Ok(n), "nick re-parses");
}

/// A room name within the limit, with its `#`, that parses back to itself.
pub fn check_room(r: &RoomName, l: &Limits) {
    let s = r.as_str();
    assert!(s.starts_with('#') && s.len() >= 2, "room {r:?}");
    assert!(s.len() <= l.room, "room {r:?} over {}", l.room);
    assert_eq!(RoomName::parse(s, l.room).as_ref(), Ok(r), "room re-parses");
}

/// A text within the limit, not blank, without control characters (but
/// IRC's formatting codes), tabs or trailing whitespace: `Text::parse`
/// of it gives it back.
pub fn check_text(t: &Text, l: &Limits) {
    let s = t.as_str();
    assert!(
        s.len() <= l.message,
        "text of {} bytes over {}",
        s.len(),
        l.message
    );
    assert!(!s.trim().is_empty(), "blank text");
    assert!(!s.contains('\t'), "a tab in a text");
    assert_eq!(s.trim_end(), s, "trailing whitespace in a text");
    assert!(
        !s.chars()
            .any(|c| c.is_control() && !confab_core::text::is_format_code(c)),
        "a control character in {s:?}"
    );
    assert_eq!(Text::parse(s, l.message).as_ref(), Ok(t), "text re-parses");
}

pub fn check_target(t: &Target, l: &Limits) {
    match t {
        Target::Room(r) => check_room(r, l),
        Target::User(n) => check_nick(n, l),
    }
}

fn check_opt_text(t: &Option<Text>, l: &Limits) {
    if let Some(t) = t {
        check_text(t, l);
    }
}

fn check_opt_room(r: &Option<RoomName>, l: &Limits) {
    if let Some(r) = r {
        check_room(r, l);
    }
}

fn check_query(q: &HistoryQuery) {
    assert!(q.limit >= 1, "a history window of 0 messages");
    for b in [q.after, q.before].into_iter().flatten() {
        assert!(matches!(b, Bound::Id(_)), "doors page by id: {b:?}");
    }
}

fn check_mode(c: &ModeChange, l: &Limits) {
    match &c.mode {
        RoomMode::TopicOpsOnly
        | RoomMode::NoExternal
        | RoomMode::Moderated
        | RoomMode::InviteOnly
        | RoomMode::Secret => {}
        RoomMode::Key(k) => assert_eq!(k.is_some(), c.add, "+k has a key, -k none"),
        RoomMode::Limit(n) => assert_eq!(n.is_some(), c.add, "+l has a limit, -l none"),
        RoomMode::Op(n) | RoomMode::Voice(n) => check_nick(n, l),
        // Ban masks and keys are strings the hub takes as they are (see
        // docs/fuzzing.md: not checked here).
        RoomMode::Ban(_) => {}
    }
}

/// Checks every name and text in a command a door's parser produced.
/// The commands only the hub's own doors build after checking a
/// password (`Login*`, `Identify`, `Register` and `SetPassword` with a
/// hash, `Oper`) must never come out of a parser: a client cannot forge
/// them.
pub fn check_command(c: &Command, l: &Limits) {
    match c {
        Command::Login(_)
        | Command::LoginAccount(_)
        | Command::Identify(_)
        | Command::Register { .. }
        | Command::SetPassword { .. }
        | Command::Oper(_) => panic!("a parser produced {}", c.name()),
        Command::ChangeNick(n)
        | Command::Start(n)
        | Command::Ignore(n)
        | Command::Unignore(n)
        | Command::Whowas(n) => check_nick(n, l),
        Command::Join { room, key: _ } => check_room(room, l),
        Command::Part { room, reason } => {
            check_opt_room(room, l);
            check_opt_text(reason, l);
        }
        Command::Rooms
        | Command::Users
        | Command::Stop
        | Command::Ignores
        | Command::Stats
        | Command::ReadMarkers
        | Command::Deoper => {}
        Command::Members(r) | Command::GetTopic(r) => check_opt_room(r, l),
        Command::Send { to, kind: _, text } => {
            if let Some(to) = to {
                check_target(to, l);
            }
            check_text(text, l);
        }
        Command::SetTopic { room, topic } => {
            check_opt_room(room, l);
            check_opt_text(topic, l);
        }
        Command::History { limit } => assert!(*limit >= 1, "history of 0 messages"),
        Command::Search(t) => check_text(t, l),
        Command::Quit(t) | Command::Away(t) => check_opt_text(t, l),
        Command::GetModes(r) | Command::Bans(r) => check_room(r, l),
        Command::SetModes { room, changes } => {
            check_room(room, l);
            for change in changes {
                check_mode(change, l);
            }
        }
        Command::Kick { room, nick, reason } => {
            check_room(room, l);
            check_nick(nick, l);
            check_opt_text(reason, l);
        }
        Command::Invite { nick, room } => {
            check_nick(nick, l);
            check_room(room, l);
        }
        Command::SetRealname(_) => panic!("no door's parser here sets a real name"),
        Command::Kill { nick, reason } | Command::Suspend { name: nick, reason } => {
            check_nick(nick, l);
            check_opt_text(reason, l);
        }
        Command::Unsuspend(n) => check_nick(n, l),
        Command::Wallops(t) => check_text(t, l),
        // Masks are checked by the hub (`kline::KlineMask`), like room keys.
        Command::Kline {
            mask: _,
            minutes: _,
            reason,
        } => check_opt_text(reason, l),
        Command::Unkline(_) | Command::Klines | Command::Lockdown(_) => {}
        Command::Whois(nicks) => {
            assert!(!nicks.is_empty(), "whois nobody");
            for n in nicks {
                check_nick(n, l);
            }
        }
        Command::ChatHistory { target, window } => {
            check_target(target, l);
            match window {
                Window::Query(q) => check_query(q),
                Window::Around { .. } => panic!("no parser here reads around a point"),
            }
        }
        Command::Conversations { .. } => panic!("no parser here lists conversations"),
        Command::Typing { to, active: _ } => check_target(to, l),
        Command::Resume { after: _, limit } => assert!(*limit >= 1, "resume of 0 messages"),
        Command::MarkRead { target, at } => {
            check_target(target, l);
            assert!(matches!(at, Bound::Id(_)), "mark_read by id: {at:?}");
        }
        Command::GetReadMarker(t) => check_target(t, l),
    }
}
