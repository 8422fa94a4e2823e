//! Plain line mode, for pipes and scripts (`confab connect host < script`):
//! each input line is parsed with `commands` and sent, one at a time (the
//! next line is read only once the last one is acknowledged, so a
//! script's order holds and replies can be waited for); each server event
//! is printed as one line of text. At the end of input it waits for the
//! last answer, says `quit` and exits.
//!
//! Output, one line per event, times local:
//!
//! ```text
//! [14:02] #general <bob> hi
//! [14:02] #general * bob waves
//! [14:02] [private] bob -> alice: psst
//! [14:03] *** carol joined #general
//! !!! there is no room called #nope
//! ```
//!
//! Text from the server (names, messages, topics, reasons) goes through
//! [`crate::safe::sanitize`] before printing, as on the full screen: IRC
//! formatting and invisible format characters removed, control characters
//! shown as their visible pictures (`␛`), so nothing another user types
//! can move the cursor or change the terminal.
//!
//! Exit codes ([`Exit`]): 0 after the input ends or `/quit`; 1 when the
//! server cannot be reached, or is gone for longer than the session waits;
//! 2 for bad usage (the binary's); 3 when the server refuses the login
//! (name taken or registered, wrong password).

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::io::Write;

use chrono::Local;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

use crate::commands::{self, Action, help_lines};
use crate::model::ConnState;
use crate::proto::{
    Message, ModeChange, MsgId, MsgKind, Request, ServerEvent, Time, is_room, key_of, reason_suffix,
};
use crate::session::{Fatal, SessionEvent, SessionHandle, Ticket};

/// How a client run ends, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The input ended, or `/quit`.
    Ok = 0,
    /// The server could not be reached, or went away for good.
    Failure = 1,
    /// Bad command-line usage (reported by the binary).
    Usage = 2,
    /// The server refused the login.
    LoginRefused = 3,
}

impl Exit {
    /// The exit code for a session's fatal end.
    pub fn of(fatal: &Fatal) -> Exit {
        match fatal {
            Fatal::LoginRefused { .. } => Exit::LoginRefused,
            Fatal::Unreachable { .. } | Fatal::Gone { .. } => Exit::Failure,
        }
    }
}

pub use crate::safe::sanitize;

fn hhmm(t: Time) -> String {
    t.with_timezone(&Local).format("%H:%M").to_string()
}

/// What line mode knows: enough to pick the current target and not print
/// a message twice.
struct Lines<W> {
    out: W,
    me: String,
    /// Rooms we are in, by key.
    rooms: BTreeSet<String>,
    /// Where plain text goes (a room, or a person after `/query`).
    current: Option<String>,
    /// Message ids printed (bounded), so history, resume and live
    /// messages never print one twice.
    printed: HashSet<MsgId>,
    printed_order: VecDeque<MsgId>,
    online: bool,
    /// The connection was lost since the last time it was online.
    was_lost: bool,
}

impl<W: Write> Lines<W> {
    fn line(&mut self, text: &str) {
        // A closed stdout ends nothing: the session's answers still come.
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    fn info(&mut self, time: Time, text: &str) {
        let line = format!("[{}] *** {}", hhmm(time), sanitize(text));
        self.line(&line);
    }

    fn error(&mut self, text: &str) {
        let line = format!("!!! {}", sanitize(text));
        self.line(&line);
    }

    fn message(&mut self, m: &Message) {
        if !self.printed.insert(m.id) {
            return;
        }
        self.printed_order.push_back(m.id);
        if self.printed_order.len() > 10_000
            && let Some(old) = self.printed_order.pop_front()
        {
            self.printed.remove(&old);
        }
        let (from, to, text) = (sanitize(&m.from), sanitize(&m.target), sanitize(&m.text));
        let body = match (is_room(&m.target), m.kind) {
            (true, MsgKind::Action) => format!("{to} * {from} {text}"),
            (true, MsgKind::Notice) => format!("{to} -{from}- {text}"),
            (true, MsgKind::Say) => format!("{to} <{from}> {text}"),
            (false, MsgKind::Action) => format!("[private] * {from} {text}"),
            (false, _) => format!("[private] {from} -> {to}: {text}"),
        };
        let line = format!("[{}] {body}", hhmm(m.time));
        self.line(&line);
    }

    fn is_me(&self, nick: &str) -> bool {
        key_of(nick) == key_of(&self.me)
    }

    fn event(&mut self, ev: &crate::proto::Incoming) {
        let t = ev.time;
        match &ev.event {
            ServerEvent::Welcome { name, online, .. } => {
                self.me = name.clone();
                if !self.was_lost {
                    self.info(t, &format!("Welcome, {name}! ({online} online)"));
                }
            }
            ServerEvent::Message { message, .. } => self.message(message),
            ServerEvent::Resumed { messages, .. } | ServerEvent::History { messages, .. } => {
                for m in messages {
                    self.message(m);
                }
            }
            ServerEvent::Error { message, .. } => self.error(message),
            ServerEvent::Offline { count } => {
                self.info(t, &format!("{count} private messages were kept for you"))
            }
            ServerEvent::Joined { room, nick } => {
                if self.is_me(nick) {
                    let known = !self.rooms.insert(key_of(room));
                    if self.current.is_none() {
                        self.current = Some(room.clone());
                    }
                    // A rejoin after a reconnect is not news.
                    if known {
                        return;
                    }
                }
                self.info(t, &format!("{nick} joined {room}"));
            }
            ServerEvent::Parted { room, nick, reason } => {
                if self.is_me(nick) {
                    self.left(room);
                }
                let why = reason_suffix(reason.as_deref());
                self.info(t, &format!("{nick} left {room}{why}"));
            }
            ServerEvent::Kicked {
                room,
                by,
                nick,
                reason,
            } => {
                if self.is_me(nick) {
                    self.left(room);
                }
                let why = reason_suffix(reason.as_deref());
                self.info(t, &format!("{by} removed {nick} from {room}{why}"));
            }
            ServerEvent::Quit { nick, reason } => self.info(t, &format!("{nick} quit ({reason})")),
            ServerEvent::Nick { old, new } => {
                if self.is_me(old) {
                    self.me = new.clone();
                }
                self.info(t, &format!("{old} is now known as {new}"));
            }
            ServerEvent::Topic { room, topic, by } => match topic {
                Some(x) => self.info(t, &format!("{by} set the topic of {room}: {x}")),
                None => self.info(t, &format!("{by} cleared the topic of {room}")),
            },
            ServerEvent::TopicInfo {
                room, topic, by, ..
            } => match (topic, by) {
                (Some(x), Some(by)) => self.info(t, &format!("Topic of {room}: {x} (set by {by})")),
                (Some(x), None) => self.info(t, &format!("Topic of {room}: {x}")),
                (None, _) => self.info(t, &format!("{room} has no topic")),
            },
            ServerEvent::Members { room, members } => {
                let names: Vec<String> = members
                    .iter()
                    .map(|m| {
                        let away = if m.away { " (away)" } else { "" };
                        format!("{}{}{away}", m.sigil(), m.nick)
                    })
                    .collect();
                self.info(
                    t,
                    &format!("In {room} ({}): {}", names.len(), names.join(", ")),
                );
            }
            ServerEvent::Users { users } => {
                let online = users.iter().filter(|u| u.online).count();
                self.info(t, &format!("{} users, {online} online:", users.len()));
                for u in users {
                    let state = match (u.online, u.last_seen) {
                        (true, _) => "online".to_owned(),
                        (false, Some(seen)) => format!(
                            "offline, last seen {}",
                            seen.with_timezone(&Local).format("%Y-%m-%d %H:%M")
                        ),
                        (false, None) => "offline".to_owned(),
                    };
                    self.info(t, &format!("  {} ({state})", u.nick));
                }
            }
            ServerEvent::Rooms { rooms } => {
                self.info(t, &format!("{} rooms:", rooms.len()));
                for r in rooms {
                    let topic = r
                        .topic
                        .as_deref()
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default();
                    self.info(t, &format!("  {} ({} members){topic}", r.name, r.members));
                }
            }
            ServerEvent::Search { query, messages } => {
                let query = sanitize(query);
                let said = match messages.len() {
                    0 => format!("No messages match \"{query}\""),
                    1 => format!("1 message matches \"{query}\":"),
                    n => format!("{n} messages match \"{query}\":"),
                };
                self.info(t, &said);
                for m in messages {
                    let line = format!(
                        "[{}] (found) {} <{}> {}",
                        hhmm(m.time),
                        sanitize(&m.target),
                        sanitize(&m.from),
                        sanitize(&m.text)
                    );
                    self.line(&line);
                }
            }
            ServerEvent::Typing { .. }
            | ServerEvent::ReadMarker { .. }
            | ServerEvent::ReadMarkers { .. }
            | ServerEvent::Ack { .. }
            | ServerEvent::Pong
            | ServerEvent::Account { .. }
            | ServerEvent::Realname { .. }
            | ServerEvent::Modes { .. }
            | ServerEvent::Unknown => {}
            ServerEvent::Away { nick, away } => match away {
                Some(a) => self.info(t, &format!("{nick} is away: {a}")),
                None => self.info(t, &format!("{nick} is back")),
            },
            ServerEvent::Mode { room, by, changes } => {
                let desc = ModeChange::describe(changes);
                self.info(t, &format!("{by} set {room} {}", desc));
            }
            ServerEvent::Invited { room, by, nick } => {
                self.info(t, &format!("{by} invited {nick} to {room}"))
            }
            ServerEvent::Announcement { text } => self.info(t, &format!("Announcement: {text}")),
            ServerEvent::Notice { text } => self.info(t, text),
            ServerEvent::Kept { nick, guest: false } => self.info(
                t,
                &format!("{nick} is offline; they will get it when they are back"),
            ),
            ServerEvent::Kept { nick, guest: true } => self.info(
                t,
                &format!(
                    "{nick} is offline and has no account: whoever next uses the name will read it"
                ),
            ),
            ServerEvent::IsAway { nick, away } => self.info(t, &format!("{nick} is away: {away}")),
            ServerEvent::Whois { users, missing } => {
                for u in users {
                    let rooms: Vec<String> = u
                        .rooms
                        .iter()
                        .map(|r| format!("{}{}", if r.op { "@" } else { "" }, r.room))
                        .collect();
                    let account = if u.account { ", registered" } else { "" };
                    let offline = if u.last_seen.is_some() {
                        ", offline"
                    } else {
                        ""
                    };
                    self.info(
                        t,
                        &format!(
                            "{} ({}){account}{offline} from {}",
                            u.nick, u.realname, u.host
                        ),
                    );
                    if let Some(a) = &u.away {
                        self.info(t, &format!("  away: {a}"));
                    }
                    if !rooms.is_empty() {
                        self.info(t, &format!("  in {}", rooms.join(" ")));
                    }
                }
                for n in missing {
                    self.info(t, &format!("{n} is not online"));
                }
            }
            ServerEvent::Registered { nick } => {
                self.info(t, &format!("The name {nick} is now registered to you"))
            }
            ServerEvent::Ignores { nicks } if nicks.is_empty() => {
                self.info(t, "You are ignoring nobody")
            }
            ServerEvent::Ignores { nicks } => {
                self.info(t, &format!("You are ignoring: {}", nicks.join(", ")))
            }
            ServerEvent::Ignore { nick, ignoring } => {
                let text = if *ignoring {
                    format!("You are now ignoring {nick}")
                } else {
                    format!("You are no longer ignoring {nick}")
                };
                self.info(t, &text);
            }
            ServerEvent::Bye { reason } => self.info(t, &format!("Disconnected: {reason}")),
        }
    }

    fn left(&mut self, room: &str) {
        self.rooms.remove(&key_of(room));
        if self.current.as_deref().map(key_of) == Some(key_of(room)) {
            self.current = self.rooms.iter().next().cloned();
        }
    }

    fn state(&mut self, s: &ConnState) {
        let now = chrono::Utc::now();
        match s {
            ConnState::Online { .. } => {
                if self.was_lost && !self.online {
                    self.info(now, "Reconnected");
                }
                self.online = true;
            }
            ConnState::Offline { why, retry_at } => {
                if self.online || !self.was_lost {
                    let secs = (*retry_at - now).num_milliseconds().max(0) as f64 / 1000.0;
                    self.info(
                        now,
                        &format!("Connection lost ({why}); reconnecting in {secs:.1} s"),
                    );
                }
                self.online = false;
                self.was_lost = true;
            }
            ConnState::Connecting => {}
            ConnState::Stopped { .. } => self.online = false,
        }
    }
}

/// What to do with one line of input.
enum Step {
    /// Send these requests, in order.
    Send(Vec<Request>),
    /// Quit now.
    Quit(Option<String>),
    /// Nothing more (printed already).
    Done,
}

fn step<W: Write>(lines: &mut Lines<W>, line: &str) -> Step {
    let action = match commands::parse(line) {
        Ok(Some(a)) => a,
        Ok(None) => return Step::Done,
        Err(e) => {
            lines.error(&e.to_string());
            return Step::Done;
        }
    };
    let now = chrono::Utc::now();
    match &action {
        Action::Query { nick } => {
            lines.current = Some(nick.clone());
            lines.info(
                now,
                &format!("You are now talking privately with {nick}; /stop ends it"),
            );
            return Step::Done;
        }
        Action::Stop => {
            lines.current = lines.rooms.iter().next().cloned();
            match lines.current.clone() {
                Some(r) => lines.info(now, &format!("You are now talking in {r}")),
                None => lines.info(now, "You are in no room"),
            }
            return Step::Done;
        }
        Action::Help { command } => {
            for l in help_lines(command.as_deref()) {
                lines.info(now, &l);
            }
            return Step::Done;
        }
        Action::Time => {
            let t = Local::now().format("%Y-%m-%d %H:%M:%S %:z");
            lines.info(now, &format!("The time is {t}"));
            return Step::Done;
        }
        Action::Upload { .. } => {
            lines.error("/upload is for the full-screen client");
            return Step::Done;
        }
        Action::Quit { reason } => return Step::Quit(reason.clone()),
        Action::Join { room, .. } => lines.current = Some(room.clone()),
        _ => {}
    }
    match action.requests(lines.current.as_deref()) {
        Ok(reqs) => Step::Send(reqs),
        Err(e) => {
            lines.error(&e.to_string());
            Step::Done
        }
    }
}

/// Runs line mode until the input ends (then quits), `/quit`, or the
/// session fails. `input` is stdin in the binary; `out` stdout.
pub async fn run<R, W>(
    handle: SessionHandle,
    mut events: mpsc::Receiver<SessionEvent>,
    input: R,
    out: W,
) -> Exit
where
    R: AsyncBufRead + Unpin,
    W: Write,
{
    let mut lines = Lines {
        out,
        me: String::new(),
        rooms: BTreeSet::new(),
        current: None,
        printed: HashSet::new(),
        printed_order: VecDeque::new(),
        online: false,
        was_lost: false,
    };
    let mut input = input.lines();
    let mut eof = false;
    // Requests of the current line not yet sent, and the one in flight.
    let mut queue: VecDeque<Request> = VecDeque::new();
    let mut in_flight: Option<(Request, Ticket)> = None;
    loop {
        // Send the next request of the line once online and nothing is
        // waiting for its answer.
        if in_flight.is_none()
            && lines.online
            && let Some(req) = queue.pop_front()
        {
            let ticket = handle.request(req.clone());
            in_flight = Some((req, ticket));
        }
        if eof && queue.is_empty() && in_flight.is_none() && lines.online {
            handle.quit(None).await;
            drain(&mut events, &mut lines).await;
            return Exit::Ok;
        }
        let reading = !eof && queue.is_empty() && in_flight.is_none() && lines.online;
        tokio::select! {
            // Events first: what the server said before an ack prints
            // before the next line is read.
            biased;
            ev = events.recv() => match ev {
                None => return Exit::Failure,
                Some(SessionEvent::Event(ev)) => lines.event(&ev),
                Some(SessionEvent::State(s)) => {
                    lines.state(&s);
                    if let ConnState::Stopped { .. } = s {
                        return Exit::Ok;
                    }
                }
                Some(SessionEvent::Fatal(f)) => {
                    lines.error(&f.to_string());
                    return Exit::of(&f);
                }
            },
            answer = async { (&mut in_flight.as_mut().expect("guarded").1).await }, if in_flight.is_some() => {
                let (req, _) = in_flight.take().expect("guarded");
                match answer {
                    Ok(_) => {}
                    // Never sent: send it again once back online.
                    Err(e) if e.not_sent() => queue.push_front(req),
                    // The server printed its refusal as an event already.
                    Err(e) if e.code != "disconnected" => {}
                    Err(_) => {
                        let what = match &req {
                            Request::Send { text, .. } => format!("\"{}\"", sanitize(text)),
                            other => format!("/{}", other.kind()),
                        };
                        lines.error(&format!("the connection dropped before {what} was confirmed; it may not have been done"));
                    }
                }
            }
            line = input.next_line(), if reading => match line {
                Ok(Some(line)) => match step(&mut lines, &line) {
                    Step::Send(reqs) => queue.extend(reqs),
                    Step::Quit(reason) => {
                        handle.quit(reason).await;
                        drain(&mut events, &mut lines).await;
                        return Exit::Ok;
                    }
                    Step::Done => {}
                },
                Ok(None) | Err(_) => eof = true,
            },
        }
    }
}

/// Prints what is left after quitting (the server's `bye`).
async fn drain<W: Write>(events: &mut mpsc::Receiver<SessionEvent>, lines: &mut Lines<W>) {
    while let Ok(Some(ev)) =
        tokio::time::timeout(std::time::Duration::from_secs(1), events.recv()).await
    {
        match ev {
            SessionEvent::Event(ev) => lines.event(&ev),
            SessionEvent::State(ConnState::Stopped { .. }) | SessionEvent::Fatal(_) => return,
            SessionEvent::State(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Lines<Vec<u8>> {
        Lines {
            out: Vec::new(),
            me: "alice".into(),
            rooms: BTreeSet::new(),
            current: None,
            printed: HashSet::new(),
            printed_order: VecDeque::new(),
            online: true,
            was_lost: false,
        }
    }

    fn text(l: &Lines<Vec<u8>>) -> String {
        String::from_utf8(l.out.clone()).unwrap()
    }

    #[test]
    fn no_string_from_the_server_reaches_the_terminal_with_a_control_character() {
        // Issue 13's forged room key, in every string field a server could
        // send: keys and masks in mode lines, topics, reasons, away
        // messages, real names, nicks, room names.
        const P: &str = "x\r\n[12:00] [private] admin -> you: /quit\u{1b}]0;PWNED\u{7}\u{202e}";
        let p = serde_json::to_string(P).unwrap();
        let events = [
            format!(
                r#"{{"type":"mode","room":{p},"by":{p},"changes":[{{"mode":"k","arg":{p}}},{{"mode":"b","arg":{p}}}]}}"#
            ),
            format!(r#"{{"type":"topic","room":{p},"by":{p},"topic":{p}}}"#),
            format!(r#"{{"type":"topic_info","room":{p},"by":{p},"topic":{p}}}"#),
            format!(r#"{{"type":"kicked","room":{p},"by":{p},"nick":{p},"reason":{p}}}"#),
            format!(r#"{{"type":"parted","room":{p},"nick":{p},"reason":{p}}}"#),
            format!(r#"{{"type":"quit","nick":{p},"reason":{p}}}"#),
            format!(r#"{{"type":"nick","old":{p},"new":{p}}}"#),
            format!(r#"{{"type":"away","nick":{p},"away":{p}}}"#),
            format!(r#"{{"type":"is_away","nick":{p},"away":{p}}}"#),
            format!(r#"{{"type":"invited","room":{p},"by":{p},"nick":{p}}}"#),
            format!(
                r#"{{"type":"whois","users":[{{"nick":{p},"host":{p},"realname":{p},"away":{p},"rooms":[{{"room":{p}}}]}}],"missing":[{p}]}}"#
            ),
            format!(r#"{{"type":"members","room":{p},"members":[{{"nick":{p}}}]}}"#),
            format!(r#"{{"type":"rooms","rooms":[{{"name":{p},"members":1,"topic":{p}}}]}}"#),
            format!(r#"{{"type":"announcement","text":{p}}}"#),
            format!(r#"{{"type":"notice","text":{p}}}"#),
            format!(r#"{{"type":"bye","reason":{p}}}"#),
            format!(r#"{{"type":"error","code":"x","message":{p}}}"#),
            format!(r#"{{"type":"joined","room":{p},"nick":{p}}}"#),
            format!(r#"{{"type":"kept","nick":{p}}}"#),
            format!(r#"{{"type":"ignores","nicks":[{p}]}}"#),
            format!(
                r#"{{"type":"search","query":{p},"messages":[{{"id":1,"time":"2026-01-01T00:00:00Z","from":{p},"target":{p},"text":{p}}}]}}"#
            ),
        ];
        for json in events {
            let ev = crate::proto::Incoming::parse(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert!(
                !matches!(ev.event, ServerEvent::Unknown),
                "not understood: {json}"
            );
            let mut l = lines();
            l.event(&ev);
            let out = text(&l);
            assert!(!out.is_empty(), "nothing printed for {json}");
            for line in out.lines() {
                assert!(
                    !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
                    "control character in {line:?} from {json}"
                );
                assert!(!line.starts_with("[12:00]"), "forged line from {json}");
            }
        }
    }

    #[test]
    fn events_print_as_one_line_each_and_a_message_only_once() {
        use crate::proto::Incoming;
        let mut l = lines();
        let m = |id, from: &str, target: &str, text: &str, kind| Message {
            id,
            time: Time::default(),
            from: from.into(),
            target: target.into(),
            kind,
            text: text.into(),
        };
        let evs = [
            ServerEvent::Joined {
                room: "#a".into(),
                nick: "alice".into(),
            },
            ServerEvent::Message {
                message: m(1, "bob", "#a", "hi \u{1b}[31mred", MsgKind::Say),
                offline: false,
            },
            ServerEvent::Resumed {
                messages: vec![
                    m(1, "bob", "#a", "hi", MsgKind::Say),
                    m(2, "bob", "#a", "waves", MsgKind::Action),
                ],
                more: false,
            },
            ServerEvent::Message {
                message: m(3, "bob", "alice", "psst", MsgKind::Say),
                offline: false,
            },
            ServerEvent::Error {
                code: "x".into(),
                message: "no\u{7}pe".into(),
                field: None,
            },
        ];
        for e in evs {
            l.event(&Incoming::new(Time::default(), e));
        }
        let out = text(&l);
        let got: Vec<&str> = out
            .lines()
            .map(|s| s.split_once("] ").map_or(s, |(_, r)| r))
            .collect();
        assert_eq!(
            got,
            [
                "*** alice joined #a",
                "#a <bob> hi ␛[31mred",
                "#a * bob waves",
                "[private] bob -> alice: psst",
                "!!! no␇pe",
            ]
        );
        assert_eq!(l.current.as_deref(), Some("#a"));
    }

    #[test]
    fn input_lines_become_requests_to_the_current_target() {
        let mut l = lines();
        l.current = Some("#a".into());
        l.rooms.insert("#a".into());
        let sent = |l: &mut Lines<Vec<u8>>, line: &str| match step(l, line) {
            Step::Send(r) => r,
            Step::Quit(_) => panic!("quit"),
            Step::Done => vec![],
        };
        assert!(matches!(&sent(&mut l, "hello")[..], [Request::Send { to, .. }] if to == "#a"));
        assert!(sent(&mut l, "/query bob").is_empty());
        assert!(matches!(&sent(&mut l, "hi")[..], [Request::Send { to, .. }] if to == "bob"));
        assert!(sent(&mut l, "/stop").is_empty());
        assert!(
            matches!(&sent(&mut l, "/join #b")[..], [Request::Join { room, .. }] if room == "#b")
        );
        assert!(matches!(&sent(&mut l, "x")[..], [Request::Send { to, .. }] if to == "#b"));
        assert!(sent(&mut l, "/bogus").is_empty());
        assert!(matches!(step(&mut l, "/quit bye"), Step::Quit(Some(r)) if r == "bye"));
        assert!(text(&l).contains("!!! unknown command /bogus; /help lists them"));
    }
}
