//! The line protocol's output: core events as readable, timestamped lines.
//!
//! Every line goes through [`safe`] on its way out: whatever a user put in
//! a name, key, mask, topic, reason or message, no control character
//! reaches a telnet user's terminal (the core refuses them already; this is
//! the second wall), so no text can move the cursor, set the title or
//! forge a line.
//!
//! Pure: the time zone is an argument. A rendering depends only on the
//! event, never on who receives it, so the door caches it in the event's
//! envelope (slot [`SLOT`]) and a room of a thousand telnet users costs one
//! rendering per message.

use std::borrow::Cow;
use std::fmt::{Display, Write};

use bytes::Bytes;
use chrono::{DateTime, TimeZone};
use confab_core::event::mode_string;
use confab_core::input::is_invisible_format;
use confab_core::text::is_format_code;
use confab_core::{ChatError, Envelope, Event, Message, MsgKind, Target, Timestamp};

use super::parse::{COMMANDS, CommandHelp};

/// The line door's slot in [`Envelope`]'s rendering cache.
pub const SLOT: usize = 0;

/// Renders an envelope as one or more CRLF-terminated lines.
pub fn render<Tz: TimeZone<Offset: Display>>(env: &Envelope, tz: &Tz) -> Bytes {
    let mut out = String::new();
    let stamp = clock(env.time, tz);
    let mut line = |s: &str| {
        let _ = write!(out, "[{stamp}] {}\r\n", safe(s));
    };
    match &env.event {
        Event::Welcome { nick, online } => {
            let others = online.saturating_sub(1);
            let people = match others {
                0 => "nobody else is online yet".to_owned(),
                1 => "1 other person is online".to_owned(),
                n => format!("{n} other people are online"),
            };
            line(&format!(
                "*** Welcome, {nick}! {people}. Type /help for help."
            ));
        }
        Event::Message { msg, offline } => line(&message(msg, *offline, tz)),
        Event::Joined { room, nick } => line(&format!("*** {nick} joined {room}")),
        Event::Parted { room, nick, reason } => match reason {
            Some(r) => line(&format!("*** {nick} left {room} ({})", plain(r.as_str()))),
            None => line(&format!("*** {nick} left {room}")),
        },
        Event::Quit { nick, reason } => line(&format!("*** {nick} quit ({})", plain(reason))),
        Event::NickChanged { old, new } => line(&format!("*** {old} is now known as {new}")),
        Event::TopicChanged { room, by, topic } => match topic {
            Some(t) => line(&format!(
                "*** {by} set the topic of {room}: {}",
                plain(t.as_str())
            )),
            None => line(&format!("*** {by} cleared the topic of {room}")),
        },
        Event::TopicIs { room, topic } => match topic {
            Some(t) => line(&format!(
                "*** Topic of {room}: {} (set by {} on {})",
                plain(t.text.as_str()),
                t.by,
                date_time(t.time, tz)
            )),
            None => line(&format!("*** {room} has no topic; /topic TEXT sets one")),
        },
        Event::Rooms(rooms) => {
            if rooms.is_empty() {
                line("*** There are no rooms; /join #name creates one");
            } else {
                line(&format!("*** {}:", count(rooms.len(), "room", "rooms")));
                for r in rooms {
                    let members = count(r.members, "member", "members");
                    match &r.topic {
                        Some(t) => line(&format!(
                            "***   {} ({members}): {}",
                            r.name,
                            plain(t.as_str())
                        )),
                        None => line(&format!("***   {} ({members})", r.name)),
                    }
                }
            }
        }
        Event::ModeChanged { room, by, changes } => {
            let (flags, params) = mode_string(changes);
            line(&format!(
                "*** {by} set mode {flags}{}{} on {room}",
                if params.is_empty() { "" } else { " " },
                params.join(" ")
            ));
        }
        Event::Modes { room, modes, .. } => {
            let (flags, params) = modes.to_flags();
            line(format!("*** Modes of {room}: {flags} {}", params.join(" ")).trim_end());
        }
        Event::Bans { room, bans } => {
            if bans.is_empty() {
                line(&format!("*** Nobody is banned from {room}"));
            }
            for b in bans {
                line(&format!(
                    "*** Banned from {room}: {} (by {} on {})",
                    b.mask,
                    b.by,
                    date_time(b.time, tz)
                ));
            }
        }
        Event::Kicked {
            room,
            by,
            nick,
            reason,
        } => match reason {
            Some(r) => line(&format!(
                "*** {by} removed {nick} from {room} ({})",
                plain(r.as_str())
            )),
            None => line(&format!("*** {by} removed {nick} from {room}")),
        },
        Event::Invited { room, by, nick } => {
            line(&format!("*** {by} invited {nick} to {room} (/join {room})"))
        }
        Event::AwayChanged { nick, away } => match away {
            Some(a) => line(&format!("*** {nick} is away: {}", plain(a.as_str()))),
            None => line(&format!("*** {nick} is back")),
        },
        Event::IsAway { nick, away } => {
            line(&format!("*** {nick} is away: {}", plain(away.as_str())))
        }
        Event::AccountChanged { nick } => line(&format!("*** {nick} is now a registered user")),
        Event::RealnameChanged { nick, realname } => {
            line(&format!("*** {nick} is now called {}", plain(realname)))
        }
        Event::Whois { found, missing } => {
            for u in found {
                let who = &u.who;
                let account = if who.account { ", registered" } else { "" };
                let since = match u.last_seen {
                    None => format!("online since {}", date_time(u.signon, tz)),
                    Some(seen) => format!("offline, last seen {}", date_time(seen, tz)),
                };
                line(&format!(
                    "*** {} ({}){account}, {since}",
                    who.nick,
                    plain(&who.realname),
                ));
                // The host is a cloak; the address only to an operator.
                line(&format!("***   from {}", plain(&who.host)));
                if let Some(ip) = u.address {
                    line(&format!(
                        "***   actually from {ip} (you are a server operator)"
                    ));
                }
                if let Some(a) = &u.away {
                    line(&format!("***   away: {}", plain(a.as_str())));
                }
                if !u.rooms.is_empty() {
                    let rooms: Vec<String> = u
                        .rooms
                        .iter()
                        .map(|(r, st)| format!("{}{r}", if st.op { "@" } else { "" }))
                        .collect();
                    line(&format!("***   in {}", rooms.join(", ")));
                }
            }
            for n in missing {
                line(&format!("*** {n} is not online"));
            }
        }
        Event::Whowas { nick, entries } => {
            if entries.is_empty() {
                line(&format!("*** Nobody called {nick} left recently"));
            }
            for e in entries {
                line(&format!(
                    "*** {} ({}) left on {}",
                    e.who.nick,
                    plain(&e.who.realname),
                    date_time(e.time, tz)
                ));
            }
        }
        Event::Stats {
            users,
            invisible: _,
            sessions,
            opers,
            rooms,
            max_users,
        } => line(&format!(
            "*** {} online ({}, {}), {}; at most {max_users} at once",
            count(*users, "user", "users"),
            count(*sessions, "connection", "connections"),
            count(*opers, "operator", "operators"),
            count(*rooms, "room", "rooms"),
        )),
        Event::Conversations(list) => {
            for (target, time) in list {
                line(&format!(
                    "*** {target}: last message {}",
                    date_time(*time, tz)
                ));
            }
        }
        Event::Members { room, members, .. } => {
            let names: Vec<String> = members
                .iter()
                .map(|m| {
                    let away = if m.away { " (away)" } else { "" };
                    let op = if m.status.op { "@" } else { "" };
                    format!("{op}{}{away}", m.who.nick)
                })
                .collect();
            line(&format!(
                "*** In {room} ({}): {}",
                members.len(),
                names.join(", ")
            ));
        }
        Event::Users(users) => {
            let online = users.iter().filter(|u| u.online).count();
            line(&format!(
                "*** {}, {online} online:",
                count(users.len(), "user", "users")
            ));
            for u in users {
                match u.last_seen {
                    Some(seen) if !u.online => line(&format!(
                        "***   {} (offline, last seen {})",
                        u.nick,
                        date_time(seen, tz)
                    )),
                    _ => line(&format!("***   {} (online)", u.nick)),
                }
            }
        }
        Event::TargetChanged(target) => match target {
            Some(Target::Room(r)) => line(&format!("*** You are now talking in {r}")),
            Some(Target::User(n)) => line(&format!(
                "*** You are now talking privately with {n}; /stop ends it"
            )),
            None => line("*** You are in no room now; /join #room to talk"),
        },
        Event::IgnoreChanged { nick, ignoring } => {
            if *ignoring {
                line(&format!("*** You are now ignoring {nick}"));
            } else {
                line(&format!("*** You are no longer ignoring {nick}"));
            }
        }
        Event::Ignores(nicks) => {
            if nicks.is_empty() {
                line("*** You are ignoring nobody");
            } else {
                let names: Vec<&str> = nicks.iter().map(|n| n.as_str()).collect();
                line(&format!("*** You are ignoring: {}", names.join(", ")));
            }
        }
        Event::KeptForOffline { nick, guest: false } => line(&format!(
            "*** {nick} is offline; your message will be delivered when they return"
        )),
        Event::KeptForOffline { nick, guest: true } => line(&format!(
            "*** {nick} is offline and has no account: your message is kept for whoever next uses the name"
        )),
        Event::OfflineMessages { count: n } => line(&format!(
            "*** {} arrived while you were away:",
            count(*n, "private message", "private messages")
        )),
        Event::History { target, messages } => {
            if messages.is_empty() {
                line(&format!("*** No earlier messages with {target}"));
            } else {
                let n = count(messages.len(), "earlier message", "earlier messages");
                line(&format!("*** {n} with {target}:"));
                for m in messages {
                    line(&format!("(history) {}", dated(m, tz)));
                }
                line("*** End of history");
            }
        }
        Event::SearchResults { query, messages } if messages.is_empty() => {
            line(&format!("*** No messages match \"{}\"", plain(query)));
        }
        Event::SearchResults { query, messages } => {
            let n = count(messages.len(), "message matches", "messages match");
            line(&format!("*** {n} \"{}\":", plain(query)));
            for m in messages {
                line(&format!("(found) {}", dated(m, tz)));
            }
            line("*** End of search results");
        }
        Event::Registered { nick } => line(&format!(
            "*** The name {nick} is now registered to you; next time, /login {nick} PASSWORD"
        )),
        Event::Error(e) => line(&format!("*** Error: {}", said(e))),
        Event::ServerNotice(s) => line(&format!("*** Notice: {}", plain(s))),
        Event::OperDone(done) => line(&format!("*** Notice: {}", plain(&done.to_string()))),
        Event::Suspensions(list) if list.is_empty() => line("*** No suspended accounts"),
        Event::Suspensions(list) => {
            line(&format!("*** {} suspended accounts:", list.len()));
            for (name, reason) in list {
                line(&format!("***   {name} ({})", plain(reason)));
            }
        }
        Event::Announcement(s) => line(&format!("*** Announcement: {}", plain(s.as_str()))),
        Event::Klines(list) if list.is_empty() => line("*** No server bans"),
        Event::Klines(list) => {
            line(&format!("*** {} server bans:", list.len()));
            for k in list {
                let expires = match k.expires {
                    Some(t) => format!("until {}", clock(t, tz)),
                    None => "for good".to_owned(),
                };
                line(&format!(
                    "***   {} ({}) by {}, {expires}",
                    k.mask,
                    plain(&k.reason),
                    k.by
                ));
            }
        }
        Event::YoureOper { name } => line(&format!(
            "*** You are now a server operator ({}): /kill, /wallops, /kline",
            plain(name)
        )),
        Event::NoLongerOper => line("*** You are no longer a server operator"),
        Event::Wallops(s) => match &env.actor {
            Some(a) => line(&format!(
                "*** Wallops from {}: {}",
                a.nick,
                plain(s.as_str())
            )),
            None => line(&format!("*** Wallops: {}", plain(s.as_str()))),
        },
        Event::Resumed { messages, .. } => {
            for m in messages {
                line(&format!("(missed) {}", dated(m, tz)));
            }
        }
        // Typing is for clients that can show it without a line of text;
        // read markers for clients that count unread messages.
        // Client-only tags (a reaction) are for clients that know them.
        Event::Typing { .. }
        | Event::TagMsg { .. }
        | Event::ReadMarker { .. }
        | Event::ReadMarkers(_) => {}
        Event::Bye { reason } => line(&format!("*** Disconnected: {}", plain(reason))),
        // Written by the door as they are; nothing to show.
        // A read is answered in its place (`hub_task::Out::ready`).
        Event::Local(_) | Event::Fence(_) | Event::KeptPageEnd { .. } | Event::Read(_) => {}
    }
    Bytes::from(out)
}

/// A refusal in this door's words: the core's text, with the command that
/// gets the user out where there is one.
pub fn said(e: &ChatError) -> String {
    use ChatError as E;
    match e {
        E::AlreadyLoggedIn => "you already have a name; use /nick to change it".to_owned(),
        E::NoTarget => {
            "you are in no room and talk to nobody: /join #room or /start @nick first".to_owned()
        }
        E::TooManyRooms(n) => format!("you are in {n} rooms, the most allowed; /part one first"),
        E::NickRegistered(n) => {
            format!("the name {n} is registered; log in with /login {n} PASSWORD")
        }
        E::GuestsNotAllowed => {
            "this server is for registered users only; log in with /login NAME PASSWORD".to_owned()
        }
        E::NotAnAccount => {
            "only a registered account has a password; /register PASSWORD first".to_owned()
        }
        E::GuestsNoPrivateHistory => {
            "private history and search are for registered users; /register PASSWORD first"
                .to_owned()
        }
        e => e.to_string(),
    }
}

/// A line the door itself says (help, a usage error), stamped `time`.
pub fn notice<Tz: TimeZone<Offset: Display>>(time: Timestamp, tz: &Tz, text: &str) -> Bytes {
    notices(time, tz, [text])
}

/// Several such lines, all stamped `time`.
fn notices<Tz: TimeZone<Offset: Display>>(
    time: Timestamp,
    tz: &Tz,
    lines: impl IntoIterator<Item = impl AsRef<str>>,
) -> Bytes {
    let stamp = clock(time, tz);
    let mut out = String::new();
    for l in lines {
        let _ = write!(out, "[{stamp}] *** {}\r\n", safe(l.as_ref()));
    }
    Bytes::from(out)
}

/// A door-side error line.
pub fn error<Tz: TimeZone<Offset: Display>>(time: Timestamp, tz: &Tz, text: &str) -> Bytes {
    notice(time, tz, &format!("Error: {text}"))
}

/// The answer to `/time`.
pub fn time<Tz: TimeZone<Offset: Display>>(time: Timestamp, tz: &Tz) -> Bytes {
    let dt = at(time, tz);
    let text = format!("Server time: {}", dt.format("%Y-%m-%d %H:%M:%S %Z"));
    notice(time, tz, &text)
}

/// The answer to `/help`.
pub fn help<Tz: TimeZone<Offset: Display>>(
    now: Timestamp,
    tz: &Tz,
    cmd: Option<&CommandHelp>,
) -> Bytes {
    match cmd {
        Some(c) => notice(now, tz, &format!("{}: {}", c.usage, c.summary)),
        None => notices(
            now,
            tz,
            [
                "Type a message and press Enter to send it to your current room.",
                "Commands start with /; start a message with // to begin it with a slash.",
                "Rooms: /join #room, /part, /rooms, /list. People: /users, /msg @nick TEXT.",
                "Private talk: /start @nick ... /stop. More: /commands, /help COMMAND.",
            ],
        ),
    }
}

/// The answer to `/commands`.
pub fn commands<Tz: TimeZone<Offset: Display>>(now: Timestamp, tz: &Tz) -> Bytes {
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    let lines = COMMANDS
        .iter()
        .map(|c| format!("{:width$}  {}", c.usage, c.summary));
    notices(now, tz, lines)
}

fn message<Tz: TimeZone<Offset: Display>>(msg: &Message, offline: bool, tz: &Tz) -> String {
    let text = plain(msg.text.as_str());
    let from = &msg.from;
    let body = match msg.kind {
        MsgKind::Say => text,
        MsgKind::Action => format!("* {from} {text}"),
        MsgKind::Notice => format!("-{from}- {text}"),
    };
    match &msg.to {
        Target::Room(room) => match msg.kind {
            MsgKind::Say => format!("{room} <{from}> {body}"),
            _ => format!("{room} {body}"),
        },
        Target::User(to) => {
            let mark = if offline {
                format!("[private, sent {}]", date_time(msg.time, tz))
            } else {
                "[private]".to_owned()
            };
            format!("{mark} {from} -> {to}: {body}")
        }
    }
}

/// A stored message with its full date, for history and search.
fn dated<Tz: TimeZone<Offset: Display>>(msg: &Message, tz: &Tz) -> String {
    let when = date_time(msg.time, tz);
    let body = message(msg, false, tz);
    format!("[{when}] {body}")
}

/// What a client refused before it is served (at the connection limits)
/// reads; no time stamp, as no session has begun.
pub fn refusal(why: &str) -> Vec<u8> {
    format!("*** Error: {why}; try again later\r\n").into_bytes()
}

/// Text as a terminal shows it safely: IRC formatting codes removed (with
/// a colour code's digits).
pub fn plain(s: &str) -> String {
    if !s.chars().any(is_format_code) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x03' => {
                // \x03[fg[,bg]] with one or two digits each.
                let fg = skip_digits(&mut chars);
                let mut ahead = chars.clone();
                if fg && ahead.next() == Some(',') && ahead.peek().is_some_and(char::is_ascii_digit)
                {
                    chars.next();
                    skip_digits(&mut chars);
                }
            }
            '\x04' => {
                // \x04[RRGGBB[,RRGGBB]]
                for _ in 0..6 {
                    chars.next_if(char::is_ascii_hexdigit);
                }
                let mut ahead = chars.clone();
                if ahead.next() == Some(',') && ahead.peek().is_some_and(char::is_ascii_hexdigit) {
                    chars.next();
                    for _ in 0..6 {
                        chars.next_if(char::is_ascii_hexdigit);
                    }
                }
            }
            c if is_format_code(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// `s` made safe for one line of a terminal: IRC formatting codes removed
/// (as [`plain`]); C0 controls and DEL shown as their Unicode pictures
/// (`␛`, `␍`, `␊`, `␇`, `␡`), so an escape sequence or a forged line reads
/// as what it is; C1 controls as `�`; tabs and line or paragraph separators
/// as a space; invisible format characters (bidi overrides, zero-width
/// spaces) removed. The terminal client's `safe::sanitize` does the same.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in plain(s).chars() {
        match c {
            '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '\0'..='\x1f' => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'));
            }
            '\x7f' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' => out.push('\u{fffd}'),
            c if is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Skips up to two digits; whether there was one.
fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let first = chars.next_if(char::is_ascii_digit).is_some();
    if first {
        chars.next_if(char::is_ascii_digit);
    }
    first
}

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn at<Tz: TimeZone<Offset: Display>>(t: Timestamp, tz: &Tz) -> DateTime<Tz> {
    tz.timestamp_millis_opt(t.0)
        .earliest()
        .unwrap_or_else(|| tz.timestamp_millis_opt(0).earliest().expect("epoch exists"))
}

fn clock<Tz: TimeZone<Offset: Display>>(t: Timestamp, tz: &Tz) -> String {
    at(t, tz).format("%H:%M").to_string()
}

fn date_time<Tz: TimeZone<Offset: Display>>(t: Timestamp, tz: &Tz) -> String {
    at(t, tz).format("%Y-%m-%d %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use confab_core::{ChatError, MsgId, Nick, RoomInfo, RoomName, Text, Topic, UserInfo};

    use super::*;

    /// 2026-11-23 14:02:05 UTC.
    const T: Timestamp = Timestamp(1_795_442_525_000);

    fn r(event: Event) -> String {
        let b = render(&Envelope::new(T, event), &Utc);
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn member(n: &str, op: bool, away: bool) -> confab_core::Member {
        confab_core::Member {
            who: std::sync::Arc::new(confab_core::Actor {
                nick: nick(n),
                ident: n.into(),
                host: "h".into(),
                realname: n.into(),
                account: false,
            }),
            status: confab_core::Status { op, voice: false },
            away,
            oper: false,
        }
    }

    fn nick(s: &str) -> Nick {
        Nick::parse(s, 20).unwrap()
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s, 20).unwrap()
    }

    fn msg(to: Target, kind: MsgKind, text: &str) -> Event {
        Event::Message {
            msg: Message {
                id: MsgId(1),
                time: T,
                from: nick("alice"),
                to,
                kind,
                text: Text::parse(text, 100).unwrap(),
                tags: confab_core::ClientTags::default(),
            },
            offline: false,
        }
    }

    #[test]
    fn room_messages() {
        let general = || Target::Room(room("#general"));
        assert_eq!(
            r(msg(general(), MsgKind::Say, "hi")),
            "[14:02] #general <alice> hi\r\n"
        );
        assert_eq!(
            r(msg(general(), MsgKind::Action, "waves")),
            "[14:02] #general * alice waves\r\n"
        );
        assert_eq!(
            r(msg(general(), MsgKind::Notice, "psst")),
            "[14:02] #general -alice- psst\r\n"
        );
    }

    #[test]
    fn private_messages_are_marked() {
        let bob = || Target::User(nick("bob"));
        assert_eq!(
            r(msg(bob(), MsgKind::Say, "hi")),
            "[14:02] [private] alice -> bob: hi\r\n"
        );
        assert_eq!(
            r(msg(bob(), MsgKind::Action, "waves")),
            "[14:02] [private] alice -> bob: * alice waves\r\n"
        );
        let Event::Message { msg, .. } = msg(bob(), MsgKind::Say, "late") else {
            unreachable!()
        };
        assert_eq!(
            r(Event::Message { msg, offline: true }),
            "[14:02] [private, sent 2026-11-23 14:02] alice -> bob: late\r\n"
        );
    }

    #[test]
    fn announcements() {
        assert_eq!(
            r(Event::Joined {
                room: room("#rust"),
                nick: nick("bob")
            }),
            "[14:02] *** bob joined #rust\r\n"
        );
        assert_eq!(
            r(Event::Parted {
                room: room("#rust"),
                nick: nick("bob"),
                reason: Some(Text::parse("lunch", 10).unwrap())
            }),
            "[14:02] *** bob left #rust (lunch)\r\n"
        );
        assert_eq!(
            r(Event::Quit {
                nick: nick("bob"),
                reason: "SendQ exceeded".into()
            }),
            "[14:02] *** bob quit (SendQ exceeded)\r\n"
        );
        assert_eq!(
            r(Event::NickChanged {
                old: nick("bob"),
                new: nick("rob")
            }),
            "[14:02] *** bob is now known as rob\r\n"
        );
        assert_eq!(
            r(Event::TopicChanged {
                room: room("#rust"),
                by: nick("bob"),
                topic: Some(Text::parse("crabs", 10).unwrap())
            }),
            "[14:02] *** bob set the topic of #rust: crabs\r\n"
        );
    }

    #[test]
    fn listings() {
        let rooms = vec![
            RoomInfo {
                name: room("#a"),
                members: 1,
                topic: None,
            },
            RoomInfo {
                name: room("#b"),
                members: 3,
                topic: Some(Text::parse("bees", 10).unwrap()),
            },
        ];
        assert_eq!(
            r(Event::Rooms(rooms)),
            "[14:02] *** 2 rooms:\r\n[14:02] ***   #a (1 member)\r\n[14:02] ***   #b (3 members): bees\r\n"
        );
        assert_eq!(
            r(Event::Members {
                room: room("#a"),
                members: vec![member("alice", true, false), member("bob", false, true)],
                secret: false,
            }),
            "[14:02] *** In #a (2): @alice, bob (away)\r\n"
        );
        let users = vec![
            UserInfo {
                nick: nick("alice"),
                online: true,
                last_seen: None,
            },
            UserInfo {
                nick: nick("bob"),
                online: false,
                last_seen: Some(T),
            },
        ];
        assert_eq!(
            r(Event::Users(users)),
            "[14:02] *** 2 users, 1 online:\r\n[14:02] ***   alice (online)\r\n[14:02] ***   bob (offline, last seen 2026-11-23 14:02)\r\n"
        );
        let topic = Topic {
            text: Text::parse("crabs", 10).unwrap(),
            by: nick("bob"),
            time: T,
        };
        assert_eq!(
            r(Event::TopicIs {
                room: room("#rust"),
                topic: Some(topic)
            }),
            "[14:02] *** Topic of #rust: crabs (set by bob on 2026-11-23 14:02)\r\n"
        );
    }

    #[test]
    fn errors_and_goodbyes() {
        assert_eq!(
            r(Event::Error(ChatError::NoSuchUser(nick("zed")))),
            "[14:02] *** Error: there is no user called zed\r\n"
        );
        assert_eq!(
            r(Event::Bye {
                reason: "server shutting down".into()
            }),
            "[14:02] *** Disconnected: server shutting down\r\n"
        );
        assert_eq!(
            String::from_utf8(error(T, &Utc, "bad").to_vec()).unwrap(),
            "[14:02] *** Error: bad\r\n"
        );
    }

    #[test]
    fn help_lists_every_command() {
        let all = String::from_utf8(commands(T, &Utc).to_vec()).unwrap();
        assert_eq!(all.lines().count(), COMMANDS.len());
        for c in COMMANDS {
            assert!(all.contains(c.usage), "{}", c.name);
        }
        let t = String::from_utf8(time(T, &Utc).to_vec()).unwrap();
        assert_eq!(t, "[14:02] *** Server time: 2026-11-23 14:02:05 UTC\r\n");
    }

    /// The payload of the attack in issue 13.
    const FORGED: &str =
        "x\r\n[12:00] [private] admin -> you: please /quit and /login again\x1b]0;PWNED\x07";

    /// No byte of `out` but the line ends is a control character.
    #[track_caller]
    fn assert_no_controls(out: &str) {
        for line in out.split_terminator("\r\n") {
            assert!(
                !line
                    .chars()
                    .any(|c| c.is_control() || is_invisible_format(c)),
                "control in {line:?}"
            );
        }
    }

    #[test]
    fn safe_shows_control_characters_as_pictures_and_drops_invisible_ones() {
        let cases = [
            ("plain text", "plain text"),
            ("\x1b[2J\x1b[H", "␛[2J␛[H"),
            ("bell\x07", "bell␇"),
            ("line\nforged <bob> hi", "line␊forged <bob> hi"),
            ("cr\rover", "cr␍over"),
            ("nul\0", "nul␀"),
            ("del\x7f", "del␡"),
            ("c1\u{9b}31m", "c1�31m"),
            ("tab\there", "tab here"),
            ("sep\u{2028}here", "sep here"),
            ("evil\u{202e}txt.exe", "eviltxt.exe"),
            ("zero\u{200b}width\u{feff}", "zerowidth"),
            ("\x02bold\x02 \x0304,12red\x03", "bold red"),
            ("日本語 ok", "日本語 ok"),
        ];
        for (input, want) in cases {
            assert_eq!(safe(input), want, "{input:?}");
        }
        assert!(matches!(safe("nothing to do"), Cow::Borrowed(_)));
    }

    #[test]
    fn no_value_from_another_user_reaches_the_terminal_with_a_control_character() {
        // Built around the core's rules, as a hostile or older hub could:
        // the renderer is the second wall.
        let by = nick("mallory");
        let events = [
            Event::ModeChanged {
                room: room("#r"),
                by: by.clone(),
                changes: vec![
                    confab_core::ModeChange {
                        add: true,
                        mode: confab_core::RoomMode::Key(Some(FORGED.into())),
                    },
                    confab_core::ModeChange {
                        add: true,
                        mode: confab_core::RoomMode::Ban(FORGED.into()),
                    },
                ],
            },
            Event::Modes {
                room: room("#r"),
                modes: confab_core::RoomModes {
                    key: Some(FORGED.into()),
                    ..Default::default()
                },
                created: T,
            },
            Event::Bans {
                room: room("#r"),
                bans: vec![confab_core::Ban {
                    mask: FORGED.into(),
                    by: by.clone(),
                    time: T,
                }],
            },
            Event::Quit {
                nick: by.clone(),
                reason: FORGED.into(),
            },
            Event::RealnameChanged {
                nick: by.clone(),
                realname: FORGED.into(),
            },
            Event::ServerNotice(FORGED.into()),
            Event::Bye {
                reason: FORGED.into(),
            },
            Event::Error(ChatError::BadValue(FORGED.into())),
            Event::SearchResults {
                query: FORGED.into(),
                messages: vec![],
            },
        ];
        for e in events {
            let out = r(e);
            assert_no_controls(&out);
            assert!(!out.contains("\r\n[12:00]"), "forged line in {out:?}");
            assert_eq!(out.matches("\r\n").count(), out.lines().count());
        }
        let text = String::from_utf8(notice(T, &Utc, FORGED).to_vec()).unwrap();
        assert_no_controls(&text);
        assert_eq!(
            r(Event::Quit {
                nick: by,
                reason: "a\x1b]0;PWNED\x07".into()
            }),
            "[14:02] *** mallory quit (a␛]0;PWNED␇)\r\n"
        );
    }

    #[test]
    fn formatting_codes_are_stripped() {
        assert_eq!(
            plain("\x02bold\x02 \x0304,12red\x03 \x0312blue"),
            "bold red blue"
        );
        assert_eq!(plain("\x03,5 not a colour"), ",5 not a colour");
        assert_eq!(plain("\x04FF00FFhex\x0f!"), "hex!");
        assert_eq!(plain("no codes"), "no codes");
        assert_eq!(plain("\x0399,99x \x031,2"), "x ");
    }
}
