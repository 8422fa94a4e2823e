//! The IRC door's output: core events and errors as IRC messages.
//!
//! Pure: everything a rendering depends on is in [`View`] (the server's
//! name, the client's nick and capabilities). Room messages, the hot path,
//! depend only on which tags the client takes, so the writer caches them
//! in the event's envelope ([`SLOT_PLAIN`], [`SLOT_TAGGED`]).

use confab_core::event::mode_string;
use confab_core::{Actor, ChatError, Envelope, Event, Field, Message, MsgKind, Target, Timestamp};
use confab_irc::{Message as Irc, split_text};

use crate::time::rfc3339;

/// Envelope cache slot for messages rendered without tags.
pub const SLOT_PLAIN: usize = 1;
/// Envelope cache slot for messages with every tag (time, msgid, account).
pub const SLOT_TAGGED: usize = 2;

/// The capabilities a client has enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub message_tags: bool,
    pub server_time: bool,
    pub account_tag: bool,
    pub echo_message: bool,
    pub extended_join: bool,
    pub multi_prefix: bool,
    pub userhost_in_names: bool,
    pub away_notify: bool,
    pub account_notify: bool,
    pub chghost: bool,
    pub setname: bool,
    pub invite_notify: bool,
    pub batch: bool,
    pub labeled_response: bool,
    pub cap_notify: bool,
    pub chathistory: bool,
    pub read_marker: bool,
    pub sasl: bool,
}

/// Every capability the door offers, with its value for `CAP LS 302`.
pub const CAPS: &[(&str, &str)] = &[
    ("account-notify", ""),
    ("account-tag", ""),
    ("away-notify", ""),
    ("batch", ""),
    ("cap-notify", ""),
    ("chghost", ""),
    ("draft/chathistory", ""),
    ("draft/read-marker", ""),
    ("echo-message", ""),
    ("extended-join", ""),
    ("invite-notify", ""),
    ("labeled-response", ""),
    ("message-tags", ""),
    ("multi-prefix", ""),
    ("sasl", "PLAIN"),
    ("server-time", ""),
    ("setname", ""),
    ("userhost-in-names", ""),
];

impl Caps {
    /// The flag of capability `name`, if the door offers it.
    pub fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "account-notify" => &mut self.account_notify,
            "account-tag" => &mut self.account_tag,
            "away-notify" => &mut self.away_notify,
            "batch" => &mut self.batch,
            "cap-notify" => &mut self.cap_notify,
            "chghost" => &mut self.chghost,
            "draft/chathistory" | "chathistory" => &mut self.chathistory,
            "draft/read-marker" => &mut self.read_marker,
            "echo-message" => &mut self.echo_message,
            "extended-join" => &mut self.extended_join,
            "invite-notify" => &mut self.invite_notify,
            "labeled-response" => &mut self.labeled_response,
            "message-tags" => &mut self.message_tags,
            "multi-prefix" => &mut self.multi_prefix,
            "sasl" => &mut self.sasl,
            "server-time" => &mut self.server_time,
            "setname" => &mut self.setname,
            "userhost-in-names" => &mut self.userhost_in_names,
            _ => return None,
        })
    }

    /// The names of the enabled capabilities.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut copy = *self;
        CAPS.iter()
            .map(|(name, _)| *name)
            .filter(|name| copy.flag(name).is_some_and(|f| *f))
            .collect()
    }

    /// Whether any tag can reach this client.
    pub fn tags(&self) -> bool {
        self.message_tags || self.server_time || self.account_tag
    }

    /// Whether the client takes exactly the tags of [`SLOT_TAGGED`].
    fn all_message_tags(&self) -> bool {
        self.message_tags && self.server_time && self.account_tag
    }
}

/// What a rendering depends on.
#[derive(Debug, Clone)]
pub struct View {
    pub server: String,
    /// The client's nick (`*` before it has one).
    pub nick: String,
    pub caps: Caps,
}

impl View {
    /// A numeric reply to the client: `:server NNN nick params…`.
    pub fn num(&self, code: &str, params: &[&str]) -> Irc {
        let mut m = Irc::new(code)
            .with_source(self.server.as_str())
            .with_param(self.nick.as_str());
        for p in params {
            m = m.with_param(*p);
        }
        m
    }

    /// A message from the server itself.
    pub fn server_msg(&self, command: &str) -> Irc {
        Irc::new(command).with_source(self.server.as_str())
    }
}

/// The source for an event by `nick`: its actor's full mask when the
/// envelope has the actor, else the bare nick.
fn source(env: &Envelope, nick: &str) -> String {
    match &env.actor {
        Some(a) if a.nick.as_str() == nick => a.mask(),
        _ => nick.to_owned(),
    }
}

/// Adds the tags an event's envelope carries to `m`, as `caps` allow.
fn tag(mut m: Irc, caps: Caps, time: Timestamp, env: Option<&Envelope>) -> Irc {
    if caps.server_time {
        m = m.with_tag("time", Some(&rfc3339(time)));
    }
    if caps.account_tag
        && let Some(a) = env.and_then(|e| e.actor.as_ref())
        && a.account
    {
        m = m.with_tag("account", Some(a.nick.as_str()));
    }
    m
}

/// Adds a message's client-only tags to `m` (for a client that takes
/// message tags).
fn client_tags(mut m: Irc, tags: &confab_core::ClientTags) -> Irc {
    for (key, value) in tags.iter() {
        m = m.with_tag(key, Some(value));
    }
    m
}

/// The bytes one PRIVMSG/NOTICE line of a chat message takes, tags left
/// out: `:source command target :text` and CR LF, with the CTCP wrapping
/// of an action.
pub fn message_line_len(
    source: usize,
    command: &str,
    target: usize,
    action: bool,
    text: usize,
) -> usize {
    let ctcp = if action { "\x01ACTION \x01".len() } else { 0 };
    1 + source + 1 + command.len() + 1 + target + 2 + ctcp + text + 2
}

/// A chat message as PRIVMSG/NOTICE lines, split so that each fits in 512
/// bytes. Tags by `caps`; `actor` gives the full source when known.
pub fn message_lines(msg: &Message, actor: Option<&Actor>, caps: Caps) -> Vec<Irc> {
    let from = match actor {
        Some(a) if a.nick == msg.from => a.mask(),
        _ => msg.from.to_string(),
    };
    let target = msg.to.to_string();
    let command = if msg.kind == MsgKind::Notice {
        "NOTICE"
    } else {
        "PRIVMSG"
    };
    let action = msg.kind == MsgKind::Action;
    let overhead = message_line_len(from.len(), command, target.len(), action, 0);
    let room = confab_irc::MAX_LINE.saturating_sub(overhead).max(16);
    let mut out = Vec::new();
    for piece in split_text(msg.text.as_str(), room) {
        let text = if action {
            format!("\x01ACTION {piece}\x01")
        } else {
            piece.to_owned()
        };
        let mut m = Irc::new(command)
            .with_source(from.clone())
            .with_param(target.clone())
            .with_param(text);
        if caps.server_time {
            m = m.with_tag("time", Some(&rfc3339(msg.time)));
        }
        if caps.message_tags {
            m = m.with_tag("msgid", Some(&msg.id.0.to_string()));
            m = client_tags(m, &msg.tags);
        }
        if caps.account_tag
            && let Some(a) = actor
            && a.account
            && a.nick == msg.from
        {
            m = m.with_tag("account", Some(a.nick.as_str()));
        }
        out.push(m);
    }
    out
}

/// What a client refused before it is served (at the connection limits)
/// reads: `ERROR :Closing Link: * (why; try again later)`.
pub fn refusal(why: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let error = Irc::new("ERROR").with_param(format!("Closing Link: * ({why}; try again later)"));
    write(&[error], &mut out);
    out
}

/// Serialises messages. The last parameter of those that end in free
/// text (messages, numerics' explanations, reasons) always comes after a
/// `:`, as clients expect.
pub fn write(msgs: &[Irc], out: &mut Vec<u8>) {
    for m in msgs {
        let text = matches!(
            m.command.as_str(),
            "PRIVMSG"
                | "NOTICE"
                | "TOPIC"
                | "PART"
                | "QUIT"
                | "KICK"
                | "AWAY"
                | "SETNAME"
                | "ERROR"
                | "FAIL"
                | "WARN"
                | "NOTE"
        ) || (m.command.len() == 3 && m.command.bytes().all(|b| b.is_ascii_digit()));
        if m.params[..m.params.len().saturating_sub(1)]
            .iter()
            .any(|p| !middle_ok(p))
        {
            // A client's word echoed where only one word fits: mend it
            // rather than send an ambiguous line.
            let mut m = m.clone();
            let last = m.params.len() - 1;
            for p in &mut m.params[..last] {
                if !middle_ok(p) {
                    *p = mend(p);
                }
            }
            m.write_to_trailing(out, text && m.params.len() > 1);
            continue;
        }
        m.write_to_trailing(out, text && m.params.len() > 1);
    }
}

fn middle_ok(p: &str) -> bool {
    !p.is_empty() && !p.starts_with(':') && !p.contains(' ')
}

fn mend(p: &str) -> String {
    let p: String = p.chars().filter(|c| *c != ' ').collect();
    let p = p.trim_start_matches(':');
    if p.is_empty() {
        "*".to_owned()
    } else {
        p.to_owned()
    }
}

/// A room or private message as bytes for a client with `caps`, from the
/// envelope's cache when the caps match a cached variant.
pub fn cached_message<'e>(
    env: &'e Envelope,
    msg: &Message,
    caps: Caps,
) -> Option<&'e bytes::Bytes> {
    let slot = if !caps.tags() {
        SLOT_PLAIN
    } else if caps.all_message_tags() {
        SLOT_TAGGED
    } else {
        return None;
    };
    Some(env.rendered(slot, |e| {
        let mut out = Vec::new();
        write(
            &message_lines(msg, e.actor.as_deref(), slot_caps(slot)),
            &mut out,
        );
        out.into()
    }))
}

/// The capabilities a cached rendering in `slot` is made for: none, or
/// every tag (and extended-join, which only a join's rendering reads).
fn slot_caps(slot: usize) -> Caps {
    if slot == SLOT_PLAIN {
        Caps::default()
    } else {
        Caps {
            message_tags: true,
            server_time: true,
            account_tag: true,
            extended_join: true,
            ..Caps::default()
        }
    }
}

/// A change every member of a room sees alike (a join, part, quit, nick
/// change, kick, topic or mode), rendered once per variant and shared like
/// [`cached_message`]: it depends only on the tags the client takes (and,
/// for a join, extended-join), not on who reads it. `None` for a change of
/// the viewer's own (its door updates its state on the way) and for a
/// client with another mix of tags. `me` is the viewer's nick; `view`
/// is called for the first rendering only.
pub fn cached_broadcast<'e>(
    env: &'e Envelope,
    caps: Caps,
    me: &str,
    view: impl FnOnce() -> View,
) -> Option<&'e bytes::Bytes> {
    let mine = |n: &confab_core::Nick| n.as_str().eq_ignore_ascii_case(me);
    let joined = match &env.event {
        Event::Joined { nick, .. } | Event::Parted { nick, .. } | Event::Kicked { nick, .. }
            if mine(nick) =>
        {
            return None;
        }
        Event::NickChanged { old, .. } if mine(old) => return None,
        Event::Joined { .. } => true,
        Event::Parted { .. }
        | Event::Kicked { .. }
        | Event::NickChanged { .. }
        | Event::Quit { .. }
        | Event::TopicChanged { .. }
        | Event::ModeChanged { .. } => false,
        _ => return None,
    };
    // A join's rendering differs with extended-join, other changes' not.
    let extended = joined && caps.extended_join;
    let slot = if !(caps.tags() || extended) {
        SLOT_PLAIN
    } else if caps.all_message_tags() && (!joined || caps.extended_join) {
        SLOT_TAGGED
    } else {
        return None;
    };
    Some(env.rendered(slot, |e| {
        let view = View {
            caps: slot_caps(slot),
            ..view()
        };
        let mut out = Vec::new();
        write(&broadcast(e, &view), &mut out);
        out.into()
    }))
}

/// The prefixes of a member's standing (`@`, `+`; both with multi-prefix).
pub fn prefix(status: confab_core::Status, multi: bool) -> String {
    let mut p = String::new();
    if status.op {
        p.push('@');
    }
    if status.voice && (multi || !status.op) {
        p.push('+');
    }
    p
}

/// A broadcast event (joins, parts, quits, nick, topic, modes, kicks,
/// invitations, away, setname) for this client; empty when the client
/// does not take it. Replies to the client's own commands are rendered by
/// the connection, which knows what it asked.
pub fn broadcast(env: &Envelope, view: &View) -> Vec<Irc> {
    let caps = view.caps;
    let t = env.time;
    let m = |cmd: &str, nick: &str| {
        tag(
            Irc::new(cmd).with_source(source(env, nick)),
            caps,
            t,
            Some(env),
        )
    };
    match &env.event {
        Event::Joined { room, nick } => {
            let mut msg = m("JOIN", nick.as_str()).with_param(room.as_str());
            if caps.extended_join
                && let Some(a) = &env.actor
            {
                let account = if a.account { a.nick.as_str() } else { "*" };
                msg = msg.with_param(account).with_param(a.realname.to_string());
            }
            vec![msg]
        }
        Event::Parted { room, nick, reason } => {
            let mut msg = m("PART", nick.as_str()).with_param(room.as_str());
            if let Some(r) = reason {
                msg = msg.with_param(r.as_str());
            }
            vec![msg]
        }
        Event::Quit { nick, reason } => vec![m("QUIT", nick.as_str()).with_param(reason.clone())],
        Event::NickChanged { old, new } => vec![m("NICK", old.as_str()).with_param(new.as_str())],
        Event::TopicChanged { room, by, topic } => vec![
            m("TOPIC", by.as_str())
                .with_param(room.as_str())
                .with_param(topic.as_ref().map_or("", |t| t.as_str())),
        ],
        Event::ModeChanged { room, by, changes } => {
            let (flags, params) = mode_string(changes);
            let mut msg = m("MODE", by.as_str())
                .with_param(room.as_str())
                .with_param(flags);
            for p in params {
                msg = msg.with_param(p);
            }
            vec![msg]
        }
        Event::Kicked {
            room,
            by,
            nick,
            reason,
        } => vec![
            m("KICK", by.as_str())
                .with_param(room.as_str())
                .with_param(nick.as_str())
                .with_param(reason.as_ref().map_or(by.as_str(), |r| r.as_str())),
        ],
        Event::Invited { room, by, nick } => {
            if nick.as_str().eq_ignore_ascii_case(&view.nick) || caps.invite_notify {
                vec![
                    m("INVITE", by.as_str())
                        .with_param(nick.as_str())
                        .with_param(room.as_str()),
                ]
            } else {
                Vec::new()
            }
        }
        Event::AwayChanged { nick, away } if caps.away_notify => {
            let mut msg = m("AWAY", nick.as_str());
            if let Some(a) = away {
                msg = msg.with_param(a.as_str());
            }
            vec![msg]
        }
        Event::AccountChanged { nick } if caps.account_notify => {
            vec![m("ACCOUNT", nick.as_str()).with_param(nick.as_str())]
        }
        Event::RealnameChanged { nick, realname } if caps.setname => {
            vec![m("SETNAME", nick.as_str()).with_param(realname.clone())]
        }
        // From an operator, or from the server (the REST admin).
        Event::Wallops(text) => {
            let msg = match &env.actor {
                Some(a) => m("WALLOPS", a.nick.as_str()),
                None => tag(
                    Irc::new("WALLOPS").with_source(view.server.clone()),
                    caps,
                    t,
                    Some(env),
                ),
            };
            vec![msg.with_param(text.as_str())]
        }
        // IRCv3's typing client tag, for clients that take tags.
        Event::TagMsg { id, from, to, tags } if caps.message_tags => {
            let m = m("TAGMSG", from.as_str()).with_tag("msgid", Some(&id.0.to_string()));
            vec![client_tags(m, tags).with_param(to.to_string())]
        }
        Event::Typing { from, to, active } if caps.message_tags => {
            let state = if *active { "active" } else { "done" };
            let target = match to {
                Target::Room(r) => r.as_str().to_owned(),
                Target::User(_) => view.nick.clone(),
            };
            vec![
                m("TAGMSG", from.as_str())
                    .with_tag("+typing", Some(state))
                    .with_param(target),
            ]
        }
        // Without the capability that shows them.
        Event::AwayChanged { .. }
        | Event::AccountChanged { .. }
        | Event::RealnameChanged { .. }
        | Event::Typing { .. }
        | Event::TagMsg { .. } => Vec::new(),
        // Rendered by the connection (`Conn::render`), or nothing on
        // IRC; named one by one so that a new event cannot pass unseen.
        Event::Welcome { .. }
        | Event::Message { .. }
        | Event::TopicIs { .. }
        | Event::Rooms(_)
        | Event::Members { .. }
        | Event::Users(_)
        | Event::TargetChanged(_)
        | Event::IgnoreChanged { .. }
        | Event::Ignores(_)
        | Event::KeptForOffline { .. }
        | Event::OfflineMessages { .. }
        | Event::KeptPageEnd { .. }
        | Event::Error(_)
        | Event::History { .. }
        | Event::SearchResults { .. }
        | Event::Registered { .. }
        | Event::ServerNotice(_)
        | Event::Bye { .. }
        | Event::Modes { .. }
        | Event::Bans { .. }
        | Event::IsAway { .. }
        | Event::Whois { .. }
        | Event::Whowas { .. }
        | Event::Stats { .. }
        | Event::Local(_)
        | Event::Fence(_)
        | Event::Conversations(_)
        | Event::Resumed { .. }
        | Event::Read(_)
        | Event::Announcement(_)
        | Event::ReadMarker { .. }
        | Event::ReadMarkers(_)
        | Event::YoureOper { .. }
        | Event::NoLongerOper
        | Event::Klines(_)
        | Event::Suspensions(_)
        | Event::OperDone(_) => Vec::new(),
    }
}

/// The numeric (or standard reply) for an error of the hub, for a client
/// whose command was `command`.
pub fn error(e: &ChatError, command: &str, view: &View) -> Irc {
    let text = e.to_string();
    let n = |code: &str, params: &[&str]| {
        let mut p: Vec<&str> = params.to_vec();
        p.push(&text);
        view.num(code, &p)
    };
    match e {
        ChatError::NotLoggedIn => n("451", &[]),
        ChatError::NickInUse(nick) => {
            view.num("433", &[nick.as_str(), "Nickname is already in use"])
        }
        ChatError::NickReserved(nick) => {
            view.num("432", &[nick.as_str(), "Erroneous nickname (reserved)"])
        }
        ChatError::NickRegistered(nick) => view.num(
            "433",
            &[nick.as_str(), "Nickname is reserved by a different account"],
        ),
        ChatError::NoSuchUser(nick) | ChatError::NotOnline(nick) => {
            view.num("401", &[nick.as_str(), "No such nick/channel"])
        }
        ChatError::NoSuchRoom(r) => view.num("403", &[r.as_str(), "No such channel"]),
        ChatError::NotInRoom(r) if matches!(command, "PRIVMSG" | "NOTICE") => {
            view.num("404", &[r.as_str(), "Cannot send to channel"])
        }
        ChatError::NotInRoom(r) => view.num("442", &[r.as_str(), "You're not on that channel"]),
        ChatError::CannotSend(r) => view.num("404", &[r.as_str(), "Cannot send to channel"]),
        ChatError::TooManyRooms(_) => view.num("405", &["*", "You have joined too many channels"]),
        ChatError::NotOperator(r) => view.num("482", &[r.as_str(), "You're not channel operator"]),
        ChatError::NotServerOper => {
            view.num("481", &["Permission Denied- You're not an IRC operator"])
        }
        ChatError::Suspended { .. } => view.num("465", &[&text]),
        // A nick change into a K-lined name: the nick is refused, the
        // connection stays.
        ChatError::ServerBanned(_) if command == "NICK" => view.num(
            "432",
            &["*", "Erroneous nickname (banned from this server)"],
        ),
        ChatError::ServerBanned(reason) => view.num(
            "465",
            &[&format!("You are banned from this server- {reason}")],
        ),
        ChatError::Banned(r) => view.num("474", &[r.as_str(), "Cannot join channel (+b)"]),
        ChatError::InviteOnly(r) => view.num("473", &[r.as_str(), "Cannot join channel (+i)"]),
        ChatError::BadKey(r) => view.num("475", &[r.as_str(), "Cannot join channel (+k)"]),
        ChatError::RoomFull(r) => view.num("471", &[r.as_str(), "Cannot join channel (+l)"]),
        ChatError::UserNotInRoom { nick, room } => view.num(
            "441",
            &[nick.as_str(), room.as_str(), "They aren't on that channel"],
        ),
        ChatError::AlreadyInRoom { nick, room } => view.num(
            "443",
            &[nick.as_str(), room.as_str(), "is already on channel"],
        ),
        ChatError::BanListFull(r) => {
            view.num("478", &[r.as_str(), "b", "Channel ban list is full"])
        }
        ChatError::AccountNameFixed(_) => view
            .server_msg("FAIL")
            .with_param("NICK")
            .with_param("ACCOUNT_NAME_FIXED")
            .with_param(text),
        // A key or mask that breaks the input rules: ERR_INVALIDMODEPARAM,
        // without echoing the value (it may be anything, 64 KiB long).
        ChatError::BadModeParam { room, mode, .. } => {
            let mode = mode.to_string();
            n("696", &[room.as_str(), &mode, "*"])
        }
        ChatError::Input(e) => {
            let code = match e.field() {
                Field::Realname => "INVALID_REALNAME",
                Field::Key => "INVALID_KEY",
                Field::BanMask => "INVALID_MODEPARAM",
                Field::Topic | Field::Away | Field::Reason => "INVALID_TEXT",
            };
            view.server_msg("FAIL")
                .with_param(if command.is_empty() { "*" } else { command })
                .with_param(code)
                .with_param(text)
        }
        ChatError::OfflineQueueFull(nick) | ChatError::GuestNotKept(nick) => view
            .server_msg("FAIL")
            .with_param(if command.is_empty() { "*" } else { command })
            .with_param(if matches!(e, ChatError::OfflineQueueFull(_)) {
                "TARGET_QUEUE_FULL"
            } else {
                "GUEST_NOT_KEPT"
            })
            .with_param(nick.as_str())
            .with_param(text),
        ChatError::NoStorage | ChatError::GuestsNoPrivateHistory if command == "CHATHISTORY" => {
            view.server_msg("FAIL")
                .with_param("CHATHISTORY")
                .with_param("MESSAGE_ERROR")
                .with_param(text)
        }
        // Every other refusal: a standard FAIL with the core's text.
        ChatError::AlreadyLoggedIn
        | ChatError::NoTarget
        | ChatError::NoRoom
        | ChatError::IgnoreSelf
        | ChatError::NotIgnoring(_)
        | ChatError::GuestsNotAllowed
        | ChatError::AlreadyRegistered(_)
        | ChatError::AlreadyIdentified(_)
        | ChatError::NotAnAccount
        | ChatError::NoStorage
        | ChatError::GuestsNoPrivateHistory
        | ChatError::Storage(_)
        | ChatError::BadQuery(_)
        | ChatError::NoSuchKline(_)
        | ChatError::NotSuspended(_)
        | ChatError::Lockdown
        | ChatError::BadValue(_)
        | ChatError::NoSuchMessage { .. } => view
            .server_msg("FAIL")
            .with_param(if command.is_empty() { "*" } else { command })
            .with_param("REFUSED")
            .with_param(text),
    }
}

/// Whether an event is something a client sent that it should not get
/// back: a message or a TAGMSG from this very session, without
/// echo-message. One to oneself always comes back: it is delivered.
pub fn is_own_echo(env: &Envelope, me: confab_core::SessionId, caps: Caps) -> bool {
    let sent = matches!(
        env.event,
        Event::Message { offline: false, .. } | Event::TagMsg { .. }
    );
    sent && !to_oneself(&env.event)
        && !caps.echo_message
        && env.origin().is_some_and(|o| o.sid == me)
}

/// Whether the session that sent this should get it twice: a message or
/// TAGMSG to oneself with echo-message is both the echo (labeled, if the
/// line was) and the delivery.
pub fn is_echoed_delivery(env: &Envelope, me: confab_core::SessionId, caps: Caps) -> bool {
    caps.echo_message && to_oneself(&env.event) && env.origin().is_some_and(|o| o.sid == me)
}

/// A message or TAGMSG someone sent to themselves (live, not kept).
fn to_oneself(event: &Event) -> bool {
    match event {
        Event::Message {
            msg,
            offline: false,
        } => matches!(&msg.to, Target::User(n) if n == &msg.from),
        Event::TagMsg { from, to, .. } => matches!(to, Target::User(n) if n == from),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::{MsgId, Nick, RoomName, Text};
    use std::sync::Arc;

    fn actor(n: &str, account: bool) -> Arc<Actor> {
        Arc::new(Actor {
            nick: Nick::parse(n, 20).unwrap(),
            ident: "~u".into(),
            host: "127.0.0.1".into(),
            realname: "Real Name".into(),
            account,
        })
    }

    fn msg(text: &str, kind: MsgKind) -> Message {
        Message {
            id: MsgId(42),
            time: Timestamp(1_700_000_000_123),
            from: Nick::parse("alice", 20).unwrap(),
            to: Target::Room(RoomName::parse("#r", 50).unwrap()),
            kind,
            text: Text::parse(text, 4096).unwrap(),
            tags: confab_core::ClientTags::default(),
        }
    }

    fn wire(msgs: &[Irc]) -> String {
        let mut out = Vec::new();
        write(msgs, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_rooms_change_renders_once_per_variant_as_it_would_each_time() {
        let room = RoomName::parse("#r", 50).unwrap();
        let joined = Envelope::by(
            Timestamp(1_700_000_000_123),
            Event::Joined {
                room,
                nick: Nick::parse("alice", 20).unwrap(),
            },
            &actor("alice", true),
        );
        let view = |nick: &str, caps: Caps| View {
            server: "srv".into(),
            nick: nick.into(),
            caps,
        };
        let tagged = Caps {
            message_tags: true,
            server_time: true,
            account_tag: true,
            extended_join: true,
            ..Caps::default()
        };
        for caps in [Caps::default(), tagged] {
            let v = view("bob", caps);
            let cached = cached_broadcast(&joined, caps, "bob", || v.clone()).unwrap();
            assert_eq!(
                String::from_utf8_lossy(cached),
                wire(&broadcast(&joined, &v))
            );
            // Another member with the same tags gets the same bytes.
            let again = cached_broadcast(&joined, caps, "carol", || panic!("rendered twice"));
            assert_eq!(again.unwrap(), cached);
        }
        assert!(
            wire(&broadcast(&joined, &view("bob", tagged))).contains("alice :Real Name"),
            "extended-join's account and real name"
        );
        // Alice's own join goes the long way (her door notes the channel),
        // and so does a client with another mix of tags.
        assert!(cached_broadcast(&joined, Caps::default(), "ALICE", || unreachable!()).is_none());
        let time_only = Caps {
            server_time: true,
            ..Caps::default()
        };
        assert!(cached_broadcast(&joined, time_only, "bob", || unreachable!()).is_none());
        let no_extended_join = Caps {
            extended_join: false,
            ..tagged
        };
        assert!(cached_broadcast(&joined, no_extended_join, "bob", || unreachable!()).is_none());
    }

    #[test]
    fn messages_carry_the_tags_the_client_took() {
        let a = actor("alice", true);
        let m = msg("hi there", MsgKind::Say);
        assert_eq!(
            wire(&message_lines(&m, Some(&a), Caps::default())),
            ":alice!~u@127.0.0.1 PRIVMSG #r :hi there\r\n"
        );
        let caps = Caps {
            message_tags: true,
            server_time: true,
            account_tag: true,
            ..Caps::default()
        };
        assert_eq!(
            wire(&message_lines(&m, Some(&a), caps)),
            "@time=2023-11-14T22:13:20.123Z;msgid=42;account=alice :alice!~u@127.0.0.1 PRIVMSG #r :hi there\r\n"
        );
        let act = msg("waves", MsgKind::Action);
        assert_eq!(
            wire(&message_lines(&act, None, Caps::default())),
            ":alice PRIVMSG #r :\x01ACTION waves\x01\r\n"
        );
    }

    #[test]
    fn input_refusals_get_their_numerics_without_echoing_the_value() {
        use confab_core::InputError;
        let view = View {
            server: "srv".into(),
            nick: "alice".into(),
            caps: Caps::default(),
        };
        let room = RoomName::parse("#r", 50).unwrap();
        let key = ChatError::BadModeParam {
            room,
            mode: 'k',
            error: InputError::Control {
                field: Field::Key,
                code: 0x0d,
            },
        };
        assert_eq!(
            String::from_utf8(error(&key, "MODE", &view).to_bytes().to_vec()).unwrap(),
            ":srv 696 alice #r k * :the room key contains a control character (U+000D), \
             which is not allowed; mode k of #r was not changed\r\n"
        );
        let cases = [
            (Field::Topic, "TOPIC", "INVALID_TEXT"),
            (Field::Away, "AWAY", "INVALID_TEXT"),
            (Field::Reason, "KICK", "INVALID_TEXT"),
            (Field::Realname, "SETNAME", "INVALID_REALNAME"),
            (Field::Key, "JOIN", "INVALID_KEY"),
        ];
        for (field, command, code) in cases {
            let e = ChatError::Input(InputError::TooLong {
                field,
                len: 500,
                max: 390,
            });
            let m = error(&e, command, &view);
            assert_eq!(m.command, "FAIL");
            assert_eq!(m.params[..2], [command, code], "{field}");
            assert_eq!(
                m.params[2],
                format!("the {field} is 500 bytes long; the limit is 390")
            );
        }
    }

    #[test]
    fn long_messages_split_into_lines_that_fit() {
        let text = "word ".repeat(200);
        let m = msg(&text, MsgKind::Say);
        let lines = message_lines(&m, Some(&actor("alice", false)), Caps::default());
        assert!(lines.len() >= 2);
        let mut joined = String::new();
        for l in &lines {
            assert!(l.to_bytes().len() <= 512, "{}", l.to_bytes().len());
            joined.push_str(l.params.last().unwrap());
        }
        assert_eq!(joined, text.trim_end());
    }

    #[test]
    fn prefixes_follow_multi_prefix() {
        let both = confab_core::Status {
            op: true,
            voice: true,
        };
        assert_eq!(prefix(both, false), "@");
        assert_eq!(prefix(both, true), "@+");
        assert_eq!(
            prefix(
                confab_core::Status {
                    op: false,
                    voice: true
                },
                false
            ),
            "+"
        );
    }
}
