//! The IRC door's command table: every command a client may send, with
//! when it may be sent, how many parameters it needs, its help line, and
//! its translation into what the door does ([`Step`]s: core `Command`s
//! for the hub, numerics, or a door action that needs the connection).
//!
//! Pure: no sockets, no hub, no clock; the connection (`conn/`) runs the
//! steps in order. Adding a command is a row in [`COMMANDS`] and, unless
//! it only asks the hub, its translation function below; the unit tests
//! at the end drive each translation like `line/parse.rs`'s do.

use std::collections::BTreeSet;

use confab_core::{
    ClientTags, Command, Field, MsgKind, Nick, OperCommand, RoomKey, RoomName, Target, Text,
};
use confab_irc::Message as Irc;

use super::render;

/// Most targets of one PRIVMSG/NOTICE (ISUPPORT `TARGMAX`).
pub const MAX_TARGETS: usize = 4;
/// 417's text: a line, its tags, or a message once relayed, too long.
pub const INPUT_TOO_LONG: &str = "Input line was too long";

/// The services pseudo-user: messages to it are NickServ commands.
pub const SERVICE: &str = "NickServ";

/// What a numbered command was, to read its replies by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Login,
    Identify,
    NickServ,
    Names,
    Who(String),
    WhoNick(String),
    /// `MODE nick` for another nick: 502 if it exists, else 401.
    UserMode(String),
    Ison,
    Userhost,
    Topic,
    /// The channels asked for (all when empty).
    List(Vec<String>),
    /// CHATHISTORY's subcommand and target, as asked.
    History(String, String),
    Targets,
    /// MARKREAD's target, as asked.
    MarkRead(String),
    /// WHOWAS with a count: at most that many entries.
    Whowas(usize),
}

/// One thing the door does for a command, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask the hub; its replies are read as `kind` says.
    Hub(Command, Kind),
    /// Ask the hub as if the client had sent another command (`JOIN 0`
    /// parts each channel, answered as `PART`).
    HubAs(&'static str, Command, Kind),
    /// A numeric: its code and parameters (after the client's nick).
    Num(&'static str, Vec<String>),
    /// `FAIL <this command> <code> :<text>`.
    Fail(&'static str, String),
    /// Something only the connection can do.
    Door(Door),
}

/// The steps that need the connection: its state, the hub's answers to
/// passwords, or the server's own details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    /// Capability negotiation (the whole message).
    Cap,
    /// A SASL step (the whole message).
    Authenticate,
    /// A PING: answer PONG with this token.
    Ping(String),
    /// The client's PONG (its parameters): one may say that a page of kept
    /// messages was read.
    Pong(Vec<String>),
    /// Leave, with a reason if it is a valid text.
    Quit(Option<Text>),
    /// Registration: the password, the nick, the user name and real name.
    Pass(String),
    Nick(Nick),
    User {
        ident: String,
        realname: String,
    },
    Mode(Vec<String>),
    ChatHistory(Vec<String>),
    MarkRead(Vec<String>),
    /// `OPER name password`: checked like a login password.
    Oper {
        name: String,
        password: String,
    },
    /// A NickServ command line.
    NickServ(String),
    Motd,
    Version,
    Time,
    Info,
    Admin,
    /// `HELP [command]`.
    Help(Option<String>),
}

/// When a command may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Any time (registration, keepalive, leaving).
    Always,
    /// Only during registration (after it: 462).
    Registering,
    /// Only once registered (before: 451).
    Registered,
}

/// What a translation may look at besides the message.
pub struct Ctx<'a> {
    pub limits: &'a crate::config::Limits,
    /// The current nick (`*` before registration).
    pub nick: &'a str,
    /// The length of the client's `nick!user@host` as others see it.
    pub source_len: usize,
    /// The channels the client is in.
    pub channels: &'a BTreeSet<RoomKey>,
    /// Registration is over (the hub has the session).
    pub registered: bool,
}

/// One row of the table.
pub struct Spec {
    pub name: &'static str,
    pub when: When,
    /// Fewer parameters than this is 461 (a command whose missing
    /// parameter has a numeric of its own says so itself).
    pub min: usize,
    /// `SYNTAX: what it does`, for `HELP`.
    pub help: &'static str,
    pub translate: fn(&Irc, &[&str], &Ctx) -> Vec<Step>,
}

macro_rules! table {
    ($($name:literal, $when:ident, $min:literal, $help:literal, $f:expr;)*) => {
        /// Every command, by name.
        pub const COMMANDS: &[Spec] = &[
            $(Spec { name: $name, when: When::$when, min: $min, help: $help, translate: $f },)*
        ];
    };
}

table! {
    "CAP", Always, 0, "CAP LS|REQ|END|LIST: negotiate capabilities", |_, _, _| door(Door::Cap);
    "AUTHENTICATE", Always, 0, "AUTHENTICATE PLAIN: log in with SASL", |_, _, _| door(Door::Authenticate);
    "PASS", Registering, 1, "PASS password: an account's password, for registration", pass;
    "NICK", Always, 0, "NICK nick: take or change your nick", nick;
    "USER", Registering, 4, "USER name 0 * :real name: end registration", user;
    "PING", Always, 0, "PING token: the server answers PONG", ping;
    "PONG", Always, 0, "PONG token: answer the server's PING", |_, p, _| door(Door::Pong(owned(p)));
    "QUIT", Always, 0, "QUIT [:reason]: leave", quit;
    "JOIN", Registered, 1, "JOIN #a,#b [key,key]: join channels (JOIN 0 leaves them all)", join;
    "PART", Registered, 1, "PART #a,#b [:reason]: leave channels", part;
    "PRIVMSG", Registered, 0, "PRIVMSG target[,target] :text: send a message", privmsg;
    "NOTICE", Registered, 0, "NOTICE target[,target] :text: send a notice (never answered)", privmsg;
    "TAGMSG", Registered, 1, "TAGMSG target: client-only tags with no message (@+draft/react=...); +typing reaches every door", tagmsg;
    "TOPIC", Registered, 1, "TOPIC #a [:topic]: show or set a channel's topic", topic;
    "NAMES", Registered, 0, "NAMES #a: who is in a channel", names;
    "LIST", Registered, 0, "LIST [#a,#b]: channels and their topics", list_cmd;
    "WHO", Registered, 0, "WHO #a|nick: who is there", who;
    "WHOIS", Registered, 0, "WHOIS nick[,nick]: about users", whois;
    "WHOWAS", Registered, 0, "WHOWAS nick [count]: who used a nick", whowas;
    "ISON", Registered, 1, "ISON nick nick...: which are online", ison;
    "USERHOST", Registered, 1, "USERHOST nick nick...: their user@host", ison;
    "AWAY", Registered, 0, "AWAY [:message]: mark yourself away, or back", away;
    "SETNAME", Registered, 0, "SETNAME :real name: change your real name", setname;
    "MODE", Registered, 0, "MODE #a|nick [changes]: show or change modes", |_, p, _| door(Door::Mode(owned(p)));
    "KICK", Registered, 2, "KICK #a nick[,nick] [:reason]: remove from a channel (operators)", kick;
    "INVITE", Registered, 2, "INVITE nick #a: invite to a channel", invite;
    "LUSERS", Registered, 0, "LUSERS: how big the server is", |_, _, _| hub(Command::Stats, Kind::Plain);
    "MOTD", Registered, 0, "MOTD: the message of the day", |_, _, _| door(Door::Motd);
    "VERSION", Registered, 0, "VERSION: the server's version and features", |_, _, _| door(Door::Version);
    "TIME", Registered, 0, "TIME: the server's time", |_, _, _| door(Door::Time);
    "INFO", Registered, 0, "INFO: about the server", |_, _, _| door(Door::Info);
    "ADMIN", Registered, 0, "ADMIN: who runs the server", |_, _, _| door(Door::Admin);
    "HELP", Registered, 0, "HELP [command]: the commands, or one", |_, p, _| door(Door::Help(p.first().map(|s| s.to_ascii_uppercase())));
    "OPER", Registered, 2, "OPER name password: become a server operator", |_, p, _| door(Door::Oper { name: p[0].to_owned(), password: p[1].to_owned() });
    "KILL", Registered, 2, "KILL nick :reason: disconnect a user (operators)", kill;
    "WALLOPS", Registered, 0, "WALLOPS :text: a notice to every operator (operators)", wallops;
    "KLINE", Registered, 0, "KLINE [minutes] mask [:reason]: ban from the server (operators)", kline;
    "UNKLINE", Registered, 1, "UNKLINE mask: lift a server ban (operators)", |_, p, _| hub(Command::Operator(OperCommand::Unkline(p[0].to_owned())), Kind::Plain);
    "STATS", Registered, 1, "STATS k: the server bans (operators)", stats;
    "SUSPEND", Registered, 1, "SUSPEND account [:reason]: suspend an account (operators)", suspend;
    "UNSUSPEND", Registered, 1, "UNSUSPEND account: lift a suspension (operators)", suspend;
    "SUSPENSIONS", Registered, 0, "SUSPENSIONS: the suspended accounts (operators)", |_, _, _| hub(Command::Operator(OperCommand::Suspensions), Kind::Plain);
    "LOCKDOWN", Registered, 0, "LOCKDOWN [ON|OFF]: refuse new guests and registrations (operators)", lockdown;
    "DIE", Registered, 0, "DIE: not here", not_oper;
    "RESTART", Registered, 0, "RESTART: not here", not_oper;
    "SQUIT", Registered, 0, "SQUIT: not here", not_oper;
    "CONNECT", Registered, 0, "CONNECT: not here", not_oper;
    "REHASH", Registered, 0, "REHASH: not here", not_oper;
    "CHATHISTORY", Registered, 0, "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS ...: read history", |_, p, _| door(Door::ChatHistory(owned(p)));
    "MARKREAD", Registered, 0, "MARKREAD target [timestamp=...]: where you stopped reading", |_, p, _| door(Door::MarkRead(owned(p)));
    "NICKSERV", Registered, 0, "NICKSERV REGISTER|IDENTIFY ...: accounts", nickserv;
    "NS", Registered, 0, "NS ...: NICKSERV", nickserv;
}

/// The row of `command` (as the client spelt it, any case).
pub fn find(command: &str) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(command))
}

/// What the door does for `msg`: refusals of when it came or of too few
/// parameters, else its translation. An unknown command is 451 before
/// registration and 421 after.
pub fn steps(msg: &Irc, ctx: &Ctx) -> Vec<Step> {
    let p: Vec<&str> = msg.params.iter().map(String::as_str).collect();
    let Some(spec) = find(&msg.command) else {
        return if ctx.registered {
            num("421", &[&msg.command, "Unknown command"])
        } else {
            num("451", &["You have not registered"])
        };
    };
    match spec.when {
        When::Registering if ctx.registered => return num("462", &["You may not reregister"]),
        When::Registered if !ctx.registered => return num("451", &["You have not registered"]),
        _ => {}
    }
    if p.len() < spec.min {
        return num("461", &[spec.name, "Not enough parameters"]);
    }
    (spec.translate)(msg, &p, ctx)
}

fn hub(cmd: Command, kind: Kind) -> Vec<Step> {
    vec![Step::Hub(cmd, kind)]
}

fn door(d: Door) -> Vec<Step> {
    vec![Step::Door(d)]
}

fn num(code: &'static str, params: &[&str]) -> Vec<Step> {
    vec![num1(code, params)]
}

fn num1(code: &'static str, params: &[&str]) -> Step {
    Step::Num(code, params.iter().map(|s| (*s).to_owned()).collect())
}

fn owned(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| (*s).to_owned()).collect()
}

/// A comma-separated list, empty items left out.
pub fn list(s: &str) -> Vec<&str> {
    s.split(',').filter(|x| !x.is_empty()).collect()
}

/// A channel name: rooms start with `#` (the only `CHANTYPES`).
pub fn is_channel(s: &str) -> bool {
    s.starts_with('#')
}

/// A client's word made safe to echo as a middle parameter: no spaces, not
/// empty, no leading `:`.
pub fn safe(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.trim_start_matches(':');
    if s.is_empty() {
        "*".to_owned()
    } else {
        s.to_owned()
    }
}

impl Ctx<'_> {
    pub fn room(&self, s: &str) -> Option<RoomName> {
        if !is_channel(s) {
            return None;
        }
        RoomName::parse(s, self.limits.max_room_len).ok()
    }

    /// A message text, as sent.
    pub fn text(&self, s: &str) -> Result<Text, String> {
        Text::parse_exact(s, self.limits.max_message_bytes).map_err(|e| e.to_string())
    }

    /// A topic, away message, real name or reason: a text whose errors
    /// name what it is; its own limit is the hub's to check.
    pub fn field(&self, what: Field, s: &str) -> Result<Text, String> {
        what.text(s, self.limits.max_message_bytes)
            .map_err(|e| e.to_string())
    }

    /// A kick, part or quit reason: none when blank.
    pub fn reason(&self, s: Option<&str>) -> Result<Option<Text>, String> {
        match s {
            Some(r) if !r.trim().is_empty() => self.field(Field::Reason, r).map(Some),
            _ => Ok(None),
        }
    }
}

fn invalid_text(why: String) -> Vec<Step> {
    vec![Step::Fail("INVALID_TEXT", why)]
}

fn no_such_channel(name: &str) -> Step {
    num1("403", &[name, "No such channel"])
}

fn pass(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    door(Door::Pass(p[0].to_owned()))
}

fn nick(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Some(n) = p.first().filter(|n| !n.is_empty()) else {
        return num("431", &["No nickname given"]);
    };
    match Nick::parse(n, ctx.limits.max_nick_len) {
        Ok(nick) if !ctx.registered => door(Door::Nick(nick)),
        Ok(nick) if nick.as_str() == ctx.nick => Vec::new(),
        Ok(nick) => hub(Command::ChangeNick(nick), Kind::Plain),
        Err(_) => num("432", &[n, "Erroneous nickname"]),
    }
}

fn user(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    if p[0].is_empty() || p[3].is_empty() {
        return num("461", &["USER", "Not enough parameters"]);
    }
    let ident: String = p[0]
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(15)
        .collect();
    let ident = if ident.is_empty() {
        "user".into()
    } else {
        ident
    };
    // The core's rule for real names; one that breaks it is refused (the
    // nick stands in for it) but does not stop the registration.
    let (mut steps, realname) = match ctx.limits.input().check(Field::Realname, p[3]) {
        Ok(()) => (Vec::new(), p[3].to_owned()),
        Err(e) => (
            vec![Step::Fail("INVALID_REALNAME", e.to_string())],
            String::new(),
        ),
    };
    steps.push(Step::Door(Door::User {
        ident: format!("~{ident}"),
        realname,
    }));
    steps
}

fn ping(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    match p.first() {
        Some(token) => door(Door::Ping((*token).to_owned())),
        None => num("409", &["No origin specified"]),
    }
}

fn quit(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    // Leaving is never refused: a reason that is not a text is dropped
    // here, one over the limit by the hub.
    door(Door::Quit(ctx.reason(p.first().copied()).ok().flatten()))
}

fn join(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    if p[0] == "0" {
        // (In order: the set is sorted.)
        return ctx
            .channels
            .iter()
            .filter_map(|key| ctx.room(key.as_str()))
            .map(|room| {
                let part = Command::Part {
                    room: Some(room),
                    reason: None,
                };
                Step::HubAs("PART", part, Kind::Plain)
            })
            .collect();
    }
    let keys = p.get(1).map(|k| list(k)).unwrap_or_default();
    let mut steps = Vec::new();
    for (i, name) in list(p[0]).into_iter().enumerate() {
        let Some(room) = ctx.room(name) else {
            steps.push(no_such_channel(name));
            continue;
        };
        if ctx.channels.contains(&room.key()) {
            continue;
        }
        let key = keys.get(i).map(|k| (*k).to_owned());
        steps.push(Step::Hub(Command::Join { room, key }, Kind::Plain));
    }
    steps
}

fn part(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let reason = match ctx.reason(p.get(1).copied()) {
        Ok(reason) => reason,
        Err(e) => return invalid_text(e),
    };
    list(p[0])
        .into_iter()
        .map(|name| match ctx.room(name) {
            Some(room) => {
                let part = Command::Part {
                    room: Some(room),
                    reason: reason.clone(),
                };
                Step::Hub(part, Kind::Plain)
            }
            None => no_such_channel(name),
        })
        .collect()
}

fn privmsg(msg: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let cmd = msg.command.to_ascii_uppercase();
    let notice = cmd == "NOTICE";
    // A notice is never answered, not even with an error.
    let refuse = |steps: Vec<Step>| if notice { Vec::new() } else { steps };
    let Some(targets) = p.first().filter(|t| !t.is_empty()) else {
        return refuse(num("411", &[&format!("No recipient given ({cmd})")]));
    };
    let Some(raw) = p.get(1).filter(|t| !t.is_empty()) else {
        return refuse(num("412", &["No text to send"]));
    };
    let (kind, body) = if notice {
        (MsgKind::Notice, *raw)
    } else if let Some(action) = raw.strip_prefix("\x01ACTION ") {
        (MsgKind::Action, action.trim_end_matches('\x01'))
    } else {
        (MsgKind::Say, *raw)
    };
    let text = match ctx.text(body) {
        Ok(t) => t,
        Err(e) => return refuse(invalid_text(e)),
    };
    let tags = match client_tags(msg) {
        Ok(tags) => tags,
        Err(steps) => return steps,
    };
    let targets = list(targets);
    if targets.len() > MAX_TARGETS {
        return num("407", &[targets[0], "Too many targets"]);
    }
    let mut steps = Vec::new();
    for t in targets {
        if t.eq_ignore_ascii_case(SERVICE) {
            steps.push(Step::Door(Door::NickServ(text.as_str().to_owned())));
            continue;
        }
        let to = if is_channel(t) {
            match ctx.room(t) {
                Some(r) => Target::Room(r),
                None => {
                    steps.extend(refuse(vec![num1("403", &[t, "No such channel"])]));
                    continue;
                }
            }
        } else {
            match Nick::parse(t, usize::MAX) {
                Ok(n) => Target::User(n),
                Err(_) => {
                    steps.extend(refuse(vec![num1("401", &[t, "No such nick/channel"])]));
                    continue;
                }
            }
        };
        // A PRIVMSG that would not fit in one line once relayed with the
        // sender's address is refused whole, rather than cut or split
        // (clients read one line per message). A NOTICE cannot be
        // answered, so one is split instead; so is a long message from
        // another door, which knows no such limit.
        let action = kind == MsgKind::Action;
        let len =
            render::message_line_len(ctx.source_len, &cmd, t.len(), action, text.as_str().len());
        if !notice && len > confab_irc::MAX_LINE {
            let over = len - confab_irc::MAX_LINE;
            let unit = if over == 1 { "byte" } else { "bytes" };
            let why =
                format!("{INPUT_TOO_LONG}: {over} {unit} over 512 once relayed; send it in parts");
            steps.push(num1("417", &[&why]));
            continue;
        }
        let send = Command::Send {
            to: Some(to),
            kind,
            text: text.clone(),
            tags: tags.clone(),
        };
        steps.push(Step::Hub(send, Kind::Plain));
    }
    steps
}

/// The client-only tags of `msg` (`+…`), as the core keeps them; a tags
/// section over the limit is refused with 417, a tag whose name is not
/// one is left out.
fn client_tags(msg: &Irc) -> Result<ClientTags, Vec<Step>> {
    let pairs = msg
        .tags
        .iter()
        .filter(|t| confab_core::tags::is_client_tag(&t.key))
        .map(|t| (t.key.as_str(), t.value.as_deref().unwrap_or("")));
    ClientTags::new(pairs).map_err(|_| num("417", &[INPUT_TOO_LONG]))
}

// TAGMSG: client-only tags to a channel or a user. IRCv3's typing
// notification becomes the core's, which every door understands; the
// other tags go to those whose client takes tags.
fn tagmsg(msg: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let tags = match client_tags(msg) {
        Ok(tags) => tags,
        Err(steps) => return steps,
    };
    let typing = match tags.get("+typing") {
        Some("active" | "paused") => Some(true),
        Some("done") => Some(false),
        _ => None,
    };
    let others = tags.without("+typing");
    if typing.is_none() && others.is_empty() {
        return Vec::new();
    }
    let target = p[0];
    let to = if is_channel(target) {
        ctx.room(target).map(Target::Room)
    } else {
        Nick::parse(target, usize::MAX).ok().map(Target::User)
    };
    let Some(to) = to else {
        return num("401", &[&safe(target), "No such nick/channel"]);
    };
    let mut steps = Vec::new();
    if let Some(active) = typing {
        let typing = Command::Typing {
            to: to.clone(),
            active,
        };
        steps.push(Step::Hub(typing, Kind::Plain));
    }
    if !others.is_empty() {
        let tagmsg = Command::TagMsg { to, tags: others };
        steps.push(Step::Hub(tagmsg, Kind::Plain));
    }
    steps
}

fn topic(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Some(room) = ctx.room(p[0]) else {
        return vec![no_such_channel(p[0])];
    };
    match p.get(1) {
        None => hub(Command::GetTopic(Some(room)), Kind::Topic),
        Some(t) if t.trim().is_empty() => {
            let set = Command::SetTopic {
                room: Some(room),
                topic: None,
            };
            hub(set, Kind::Plain)
        }
        Some(t) => match ctx.field(Field::Topic, t) {
            Ok(text) => {
                let set = Command::SetTopic {
                    room: Some(room),
                    topic: Some(text),
                };
                hub(set, Kind::Plain)
            }
            Err(e) => invalid_text(e),
        },
    }
}

fn names(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    match p.first().and_then(|n| list(n).first().copied()) {
        Some(name) => match ctx.room(name) {
            Some(room) => hub(Command::Members(Some(room)), Kind::Names),
            None => num("366", &[name, "End of /NAMES list"]),
        },
        None => num("366", &["*", "End of /NAMES list"]),
    }
}

fn list_cmd(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    let asked = p
        .first()
        .filter(|a| is_channel(a))
        .map(|a| {
            list(a)
                .into_iter()
                .map(|c| c.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    hub(Command::Rooms, Kind::List(asked))
}

// WHO #channel, WHO nick, or WHO mask (a glob on nick, nick!user@host,
// host or real name; `*` or none: everyone one may see).
fn who(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let mask = p.first().copied().unwrap_or("*");
    if let Some(room) = ctx.room(mask) {
        hub(Command::Members(Some(room)), Kind::Who(mask.to_owned()))
    } else if let Ok(nick) = Nick::parse(mask, usize::MAX) {
        hub(Command::Whois(vec![nick]), Kind::WhoNick(mask.to_owned()))
    } else if is_channel(mask) || mask.chars().any(char::is_whitespace) {
        num("315", &[&safe(mask), "End of WHO list"])
    } else {
        hub(
            Command::Who(mask.to_owned()),
            Kind::WhoNick(mask.to_owned()),
        )
    }
}

fn whois(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    let Some(target) = p.last().filter(|t| !t.is_empty()) else {
        return num("431", &["No nickname given"]);
    };
    let nicks: Vec<Nick> = list(target)
        .iter()
        .filter_map(|n| Nick::parse(n, usize::MAX).ok())
        .collect();
    if nicks.is_empty() {
        return vec![
            num1("401", &[target, "No such nick/channel"]),
            num1("318", &[target, "End of /WHOIS list"]),
        ];
    }
    hub(Command::Whois(nicks), Kind::Plain)
}

fn whowas(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    let Some(n) = p.first() else {
        return num("431", &["No nickname given"]);
    };
    // A count that is not a positive number asks for every entry (RFC
    // 2812 3.6.3).
    let count = p.get(1).and_then(|c| c.trim().parse::<usize>().ok());
    let kind = count.filter(|&c| c > 0).map_or(Kind::Plain, Kind::Whowas);
    match Nick::parse(n, usize::MAX) {
        Ok(nick) => hub(Command::Whowas(nick), kind),
        Err(_) => vec![
            num1("406", &[n, "There was no such nickname"]),
            num1("369", &[n, "End of WHOWAS"]),
        ],
    }
}

fn ison(msg: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    let ison = msg.command.eq_ignore_ascii_case("ISON");
    let nicks: Vec<Nick> = p
        .iter()
        .flat_map(|s| s.split_whitespace())
        .take(if ison { 100 } else { 5 })
        .filter_map(|n| Nick::parse(n, usize::MAX).ok())
        .collect();
    let kind = if ison { Kind::Ison } else { Kind::Userhost };
    hub(Command::Whois(nicks), kind)
}

fn away(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let away = match p.first().filter(|a| !a.trim().is_empty()) {
        Some(a) => match ctx.field(Field::Away, a) {
            Ok(t) => Some(t),
            Err(e) => return invalid_text(e),
        },
        None => None,
    };
    hub(Command::Away(away), Kind::Plain)
}

fn setname(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Some(name) = p.first().filter(|n| !n.trim().is_empty()) else {
        return num("461", &["SETNAME", "Not enough parameters"]);
    };
    // The hub checks it against the input rules; a refusal comes back as
    // FAIL SETNAME INVALID_REALNAME.
    match ctx.field(Field::Realname, name) {
        Ok(name) => hub(Command::SetRealname(name), Kind::Plain),
        Err(e) => vec![Step::Fail("INVALID_REALNAME", e)],
    }
}

fn kick(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Some(room) = ctx.room(p[0]) else {
        return vec![no_such_channel(p[0])];
    };
    let reason = match ctx.reason(p.get(2).copied()) {
        Ok(reason) => reason,
        Err(e) => return invalid_text(e),
    };
    list(p[1])
        .into_iter()
        .map(|n| match Nick::parse(n, usize::MAX) {
            Ok(nick) => {
                let kick = Command::Kick {
                    room: room.clone(),
                    nick,
                    reason: reason.clone(),
                };
                Step::Hub(kick, Kind::Plain)
            }
            Err(_) => num1("401", &[n, "No such nick/channel"]),
        })
        .collect()
}

fn invite(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
        return num("401", &[p[0], "No such nick/channel"]);
    };
    let Some(room) = ctx.room(p[1]) else {
        return vec![no_such_channel(p[1])];
    };
    hub(Command::Invite { nick, room }, Kind::Plain)
}

fn kill(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
        return num("401", &[&safe(p[0]), "No such nick/channel"]);
    };
    match ctx.reason(p.get(1).copied()) {
        Ok(reason) => hub(
            Command::Operator(OperCommand::Kill { nick, reason }),
            Kind::Plain,
        ),
        Err(e) => invalid_text(e),
    }
}

fn wallops(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Some(text) = p.first().filter(|t| !t.is_empty()) else {
        return num("461", &["WALLOPS", "Not enough parameters"]);
    };
    match ctx.text(text) {
        Ok(text) => hub(Command::Operator(OperCommand::Wallops(text)), Kind::Plain),
        Err(e) => invalid_text(e),
    }
}

// Solanum's syntax: KLINE [minutes] mask [:reason].
fn kline(_: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let (minutes, rest) = match p.first().map(|m| m.parse::<u64>()) {
        Some(Ok(m)) => (Some(m), &p[1..]),
        _ => (None, p),
    };
    let Some(mask) = rest.first() else {
        return num("461", &["KLINE", "Not enough parameters"]);
    };
    let reason = match ctx.reason(rest.get(1).copied()) {
        Ok(reason) => reason,
        Err(e) => return invalid_text(e),
    };
    let kline = Command::Operator(OperCommand::Kline {
        mask: (*mask).to_owned(),
        minutes,
        reason,
    });
    hub(kline, Kind::Plain)
}

fn stats(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    match p[0] {
        "k" | "K" => hub(Command::Operator(OperCommand::Klines), Kind::Plain),
        q => num("219", &[&safe(q), "End of /STATS report"]),
    }
}

fn suspend(msg: &Irc, p: &[&str], ctx: &Ctx) -> Vec<Step> {
    let Ok(name) = Nick::parse(p[0], usize::MAX) else {
        return num("401", &[&safe(p[0]), "No such nick/channel"]);
    };
    if !msg.command.eq_ignore_ascii_case("SUSPEND") {
        return hub(Command::Operator(OperCommand::Unsuspend(name)), Kind::Plain);
    }
    match ctx.reason(p.get(1).copied()) {
        Ok(reason) => hub(
            Command::Operator(OperCommand::Suspend { name, reason }),
            Kind::Plain,
        ),
        Err(e) => invalid_text(e),
    }
}

fn lockdown(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    let on = match p.first().map(|s| s.to_ascii_uppercase()) {
        None => None,
        Some(s) if s == "ON" => Some(true),
        Some(s) if s == "OFF" => Some(false),
        Some(_) => return invalid_text("LOCKDOWN takes ON, OFF or nothing".to_owned()),
    };
    hub(Command::Operator(OperCommand::Lockdown(on)), Kind::Plain)
}

fn not_oper(_: &Irc, _: &[&str], _: &Ctx) -> Vec<Step> {
    num("481", &["Permission Denied- You're not an IRC operator"])
}

fn nickserv(_: &Irc, p: &[&str], _: &Ctx) -> Vec<Step> {
    door(Door::NickServ(p.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> crate::config::Limits {
        crate::config::Config::default().limits
    }

    /// How others see the registered client.
    const SOURCE: &str = "me!~me@abcdefghijklmnop.confab";

    /// The steps for `line` from a registered client in `#in`.
    fn registered(line: &str) -> Vec<Step> {
        let limits = limits();
        let channels: BTreeSet<RoomKey> = [room("#in").key()].into();
        let ctx = Ctx {
            limits: &limits,
            nick: "me",
            source_len: SOURCE.len(),
            channels: &channels,
            registered: true,
        };
        steps(&Irc::parse(line.as_bytes()).unwrap(), &ctx)
    }

    fn registering(line: &str) -> Vec<Step> {
        let limits = limits();
        let channels = BTreeSet::new();
        let ctx = Ctx {
            limits: &limits,
            nick: "*",
            source_len: 0,
            channels: &channels,
            registered: false,
        };
        steps(&Irc::parse(line.as_bytes()).unwrap(), &ctx)
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s, 50).unwrap()
    }

    fn nick(s: &str) -> Nick {
        Nick::parse(s, 30).unwrap()
    }

    fn text(s: &str) -> Text {
        Text::parse(s, 400).unwrap()
    }

    fn n(code: &'static str, params: &[&str]) -> Step {
        num1(code, params)
    }

    fn say(to: Target, s: &str) -> Step {
        let send = Command::Send {
            to: Some(to),
            kind: MsgKind::Say,
            text: text(s),
            tags: ClientTags::default(),
        };
        Step::Hub(send, Kind::Plain)
    }

    #[test]
    fn every_name_is_in_the_table_once_with_a_help_line() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert!(
                COMMANDS[i + 1..].iter().all(|s| s.name != spec.name),
                "{} twice",
                spec.name
            );
            assert!(
                spec.help.starts_with(spec.name) && spec.help.contains(": "),
                "{}",
                spec.help
            );
        }
        assert!(find("privmsg").is_some());
    }

    #[test]
    fn when_a_command_comes_and_how_many_parameters_it_has_are_checked_first() {
        assert_eq!(
            registering("JOIN #a"),
            [n("451", &["You have not registered"])]
        );
        assert_eq!(
            registering("FROB"),
            [n("451", &["You have not registered"])]
        );
        assert_eq!(
            registered("FROB x"),
            [n("421", &["FROB", "Unknown command"])]
        );
        assert_eq!(
            registered("USER a 0 * :b"),
            [n("462", &["You may not reregister"])]
        );
        assert_eq!(
            registered("PASS x"),
            [n("462", &["You may not reregister"])]
        );
        assert_eq!(
            registered("KICK #in"),
            [n("461", &["KICK", "Not enough parameters"])]
        );
        assert_eq!(
            registering("PASS"),
            [n("461", &["PASS", "Not enough parameters"])]
        );
    }

    #[test]
    fn registration_takes_the_nick_the_user_and_a_real_name_that_breaks_no_rule() {
        assert_eq!(
            registering("NICK alice"),
            [Step::Door(Door::Nick(nick("alice")))]
        );
        assert_eq!(registering("NICK"), [n("431", &["No nickname given"])]);
        assert_eq!(
            registering("NICK 1x"),
            [n("432", &["1x", "Erroneous nickname"])]
        );
        assert_eq!(
            registering("USER a$b 0 * :Alice A"),
            [Step::Door(Door::User {
                ident: "~ab".into(),
                realname: "Alice A".into()
            })]
        );
        assert_eq!(registering("USER  0 * :x").len(), 1);
        let bad = registering("USER a 0 * :\u{7}bell");
        assert!(
            matches!(&bad[0], Step::Fail("INVALID_REALNAME", _)),
            "{bad:?}"
        );
        assert_eq!(
            bad[1],
            Step::Door(Door::User {
                ident: "~a".into(),
                realname: String::new()
            })
        );
    }

    #[test]
    fn join_skips_channels_already_joined_and_refuses_bad_names_in_place() {
        assert_eq!(
            registered("JOIN #a,bad,#in,#b k1,k2,k3,k4"),
            [
                Step::Hub(
                    Command::Join {
                        room: room("#a"),
                        key: Some("k1".into())
                    },
                    Kind::Plain
                ),
                n("403", &["bad", "No such channel"]),
                Step::Hub(
                    Command::Join {
                        room: room("#b"),
                        key: Some("k4".into())
                    },
                    Kind::Plain
                ),
            ]
        );
        assert_eq!(
            registered("JOIN 0"),
            [Step::HubAs(
                "PART",
                Command::Part {
                    room: Some(room("#in")),
                    reason: None
                },
                Kind::Plain
            )]
        );
    }

    #[test]
    fn a_privmsg_too_long_to_relay_in_one_line_is_refused_whole() {
        // What fits: 512 bytes with ":" SOURCE " PRIVMSG #in :" and CR LF.
        let fits = 512 - (1 + SOURCE.len() + " PRIVMSG #in :".len() + 2);
        let send = |kind, s: &str| {
            let send = Command::Send {
                to: Some(Target::Room(room("#in"))),
                kind,
                text: Text::parse(s, 4096).unwrap(),
                tags: ClientTags::default(),
            };
            Step::Hub(send, Kind::Plain)
        };
        let most = "x".repeat(fits);
        let over = "x".repeat(fits + 1);
        assert_eq!(
            registered(&format!("PRIVMSG #in :{most}")),
            [send(MsgKind::Say, &most)]
        );
        let refused = registered(&format!("PRIVMSG #in,# :{over}"));
        assert!(
            matches!(&refused[..], [Step::Num("417", p), Step::Num("403", _)]
                if p[0].contains("1 byte over 512")),
            "{refused:?}"
        );
        // An action's CTCP wrapping counts.
        let action = "x".repeat(fits - 9);
        assert_eq!(
            registered(&format!("PRIVMSG #in :\x01ACTION {action}\x01")),
            [send(MsgKind::Action, &action)]
        );
        let refused = registered(&format!("PRIVMSG #in :\x01ACTION {action}x\x01"));
        assert!(matches!(&refused[..], [Step::Num("417", _)]), "{refused:?}");
        // A notice is never answered: it goes, to be split.
        assert_eq!(
            registered(&format!("NOTICE #in :{over}")),
            [send(MsgKind::Notice, &over)]
        );
    }

    #[test]
    fn privmsg_goes_to_each_target_and_a_notice_is_never_answered() {
        assert_eq!(
            registered("PRIVMSG #in,bob,#,nickserv :hi there"),
            [
                say(Target::Room(room("#in")), "hi there"),
                say(Target::User(nick("bob")), "hi there"),
                n("403", &["#", "No such channel"]),
                Step::Door(Door::NickServ("hi there".into())),
            ]
        );
        assert_eq!(
            registered("PRIVMSG #in :\x01ACTION waves\x01"),
            [Step::Hub(
                Command::Send {
                    to: Some(Target::Room(room("#in"))),
                    kind: MsgKind::Action,
                    text: text("waves"),
                    tags: ClientTags::default(),
                },
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("PRIVMSG"),
            [n("411", &["No recipient given (PRIVMSG)"])]
        );
        assert_eq!(registered("PRIVMSG #in"), [n("412", &["No text to send"])]);
        assert_eq!(registered("NOTICE #in"), []);
        assert_eq!(registered("NOTICE # :x"), []);
        assert_eq!(
            registered("PRIVMSG a,b,c,d,e :x"),
            [n("407", &["a", "Too many targets"])]
        );
        // Client-only tags go with the message; server tags do not.
        assert_eq!(
            registered("@+draft/reply=5;msgid=x PRIVMSG #in :yes"),
            [Step::Hub(
                Command::Send {
                    to: Some(Target::Room(room("#in"))),
                    kind: MsgKind::Say,
                    text: text("yes"),
                    tags: ClientTags::new([("+draft/reply", "5")]).unwrap()
                },
                Kind::Plain
            )]
        );
        let bad = registered("PRIVMSG #in :\u{7}x");
        assert!(
            matches!(&bad[..], [Step::Fail("INVALID_TEXT", _)]),
            "{bad:?}"
        );
    }

    #[test]
    fn tagmsg_passes_client_tags_on_and_typing_becomes_the_cores() {
        assert_eq!(
            registered("@+typing=active TAGMSG #in"),
            [Step::Hub(
                Command::Typing {
                    to: Target::Room(room("#in")),
                    active: true
                },
                Kind::Plain
            )]
        );
        assert_eq!(registered("@+typing=done TAGMSG bob").len(), 1);
        let react = ClientTags::new([("+draft/react", "👍"), ("+draft/reply", "7")]).unwrap();
        assert_eq!(
            registered("@+draft/react=👍;+draft/reply=7;time=x TAGMSG #in"),
            [Step::Hub(
                Command::TagMsg {
                    to: Target::Room(room("#in")),
                    tags: react
                },
                Kind::Plain
            )]
        );
        // Typing and another tag: both, the typing as the core's.
        let both = registered("@+typing=active;+x=1 TAGMSG bob");
        assert!(
            matches!(
                &both[..],
                [
                    Step::Hub(Command::Typing { .. }, _),
                    Step::Hub(Command::TagMsg { .. }, _)
                ]
            ),
            "{both:?}"
        );
        // No client tag: nothing to pass on.
        assert_eq!(registered("@time=x TAGMSG #in"), []);
        assert_eq!(registered("TAGMSG #in"), []);
        let long = format!("@+x={} TAGMSG #in", "y".repeat(5000));
        assert_eq!(registered(&long), [n("417", &["Input line was too long"])]);
        assert_eq!(
            registered("@+typing=active TAGMSG :a b"),
            [n("401", &["ab", "No such nick/channel"])]
        );
    }

    #[test]
    fn queries_read_their_replies_by_kind() {
        assert_eq!(
            registered("TOPIC #in"),
            [Step::Hub(Command::GetTopic(Some(room("#in"))), Kind::Topic)]
        );
        assert_eq!(
            registered("TOPIC #in :"),
            [Step::Hub(
                Command::SetTopic {
                    room: Some(room("#in")),
                    topic: None
                },
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("NAMES #in,#b"),
            [Step::Hub(Command::Members(Some(room("#in"))), Kind::Names)]
        );
        assert_eq!(
            registered("NAMES"),
            [n("366", &["*", "End of /NAMES list"])]
        );
        assert_eq!(
            registered("LIST #A,#b"),
            [Step::Hub(
                Command::Rooms,
                Kind::List(vec!["#a".into(), "#b".into()])
            )]
        );
        assert_eq!(
            registered("WHO bob"),
            [Step::Hub(
                Command::Whois(vec![nick("bob")]),
                Kind::WhoNick("bob".into())
            )]
        );
        assert_eq!(
            registered("WHO *.x"),
            [Step::Hub(
                Command::Who("*.x".into()),
                Kind::WhoNick("*.x".into())
            )]
        );
        assert_eq!(
            registered("WHO"),
            [Step::Hub(
                Command::Who("*".into()),
                Kind::WhoNick("*".into())
            )]
        );
        assert_eq!(registered("WHO #"), [n("315", &["#", "End of WHO list"])]);
        assert_eq!(
            registered("WHOIS srv a,b"),
            [Step::Hub(
                Command::Whois(vec![nick("a"), nick("b")]),
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("WHOWAS bob 1"),
            [Step::Hub(Command::Whowas(nick("bob")), Kind::Whowas(1))]
        );
        assert_eq!(
            registered("WHOWAS bob x"),
            [Step::Hub(Command::Whowas(nick("bob")), Kind::Plain)]
        );
        assert_eq!(
            registered("ISON a b"),
            [Step::Hub(
                Command::Whois(vec![nick("a"), nick("b")]),
                Kind::Ison
            )]
        );
    }

    #[test]
    fn values_are_checked_against_the_input_rules_here_and_in_the_hub() {
        assert_eq!(
            registered("AWAY :lunch"),
            [Step::Hub(Command::Away(Some(text("lunch"))), Kind::Plain)]
        );
        assert_eq!(
            registered("AWAY"),
            [Step::Hub(Command::Away(None), Kind::Plain)]
        );
        let bad = registered("SETNAME :\u{7}");
        assert!(
            matches!(&bad[..], [Step::Fail("INVALID_REALNAME", _)]),
            "{bad:?}"
        );
        assert_eq!(
            registered("SETNAME :  "),
            [n("461", &["SETNAME", "Not enough parameters"])]
        );
        assert_eq!(
            registered("KICK #in a,1x :bye"),
            [
                Step::Hub(
                    Command::Kick {
                        room: room("#in"),
                        nick: nick("a"),
                        reason: Some(text("bye"))
                    },
                    Kind::Plain
                ),
                n("401", &["1x", "No such nick/channel"]),
            ]
        );
    }

    #[test]
    fn operator_commands_translate_to_the_cores() {
        assert_eq!(
            registered("KLINE 10 *!*@x :spam"),
            [Step::Hub(
                Command::Operator(OperCommand::Kline {
                    mask: "*!*@x".into(),
                    minutes: Some(10),
                    reason: Some(text("spam"))
                }),
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("KLINE 10"),
            [n("461", &["KLINE", "Not enough parameters"])]
        );
        assert_eq!(
            registered("STATS k"),
            [Step::Hub(
                Command::Operator(OperCommand::Klines),
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("STATS :a b"),
            [n("219", &["ab", "End of /STATS report"])]
        );
        assert_eq!(
            registered("UNSUSPEND bob"),
            [Step::Hub(
                Command::Operator(OperCommand::Unsuspend(nick("bob"))),
                Kind::Plain
            )]
        );
        assert_eq!(
            registered("lockdown on"),
            [Step::Hub(
                Command::Operator(OperCommand::Lockdown(Some(true))),
                Kind::Plain
            )]
        );
        assert!(matches!(
            &registered("LOCKDOWN maybe")[..],
            [Step::Fail(..)]
        ));
        assert_eq!(
            registered("DIE"),
            [n("481", &["Permission Denied- You're not an IRC operator"])]
        );
        assert_eq!(
            registered("OPER root pw"),
            [Step::Door(Door::Oper {
                name: "root".into(),
                password: "pw".into()
            })]
        );
    }
}
