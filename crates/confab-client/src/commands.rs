//! The slash commands of the input line, parsed into [`Action`]s: what the
//! user asks the session and the model to do. Pure.
//!
//! The commands are the line door's (docs/line-protocol.md) as the browser
//! client has them (`web/client/js/commands.js`), plus `/search`,
//! `/upload` and `/quit`. [`COMMANDS`] is the one table, used by `/help`
//! and by Tab completion. [`Action::request`] turns an action into the
//! protocol request it stands for, so the full-screen UI and line mode
//! send the same thing for the same line.

use std::path::PathBuf;

use crate::proto::{MsgKind, Request, Secret, is_room};

/// Why a line could not be turned into an action; `Display` is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

fn usage(spec: &str) -> CommandError {
    CommandError(format!("usage: {spec}"))
}

/// What `/topic` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicArg {
    /// `/topic`: show it.
    Show,
    /// `/topic TEXT`.
    Set(String),
    /// `/topic -`.
    Clear,
}

/// What a line of input asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A message: plain text, `//text`, `/msg`, `/me`. `to: None` is the
    /// current buffer. The text may hold line breaks (multi-line input);
    /// each line is sent as its own message, as on every door.
    Say {
        to: Option<String>,
        text: String,
        kind: MsgKind,
    },
    /// `/join #room [key]` (`/j`); a name without `#` gets one.
    Join { room: String, key: Option<String> },
    /// `/part [#room] [reason]` (`/leave`, `/close`): the current buffer by
    /// default; for a private conversation, closes it.
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    /// `/query @nick` (`/start`): open a private conversation.
    Query { nick: String },
    /// `/stop`: from a private conversation back to a room.
    Stop,
    /// `/nick NAME`.
    Nick { nick: String },
    /// `/topic [text | -]`.
    Topic(TopicArg),
    /// `/rooms`.
    Rooms,
    /// `/list [#room]` (`/names`): who is in a room.
    List { room: Option<String> },
    /// `/users` (`/who`): everyone, online or not.
    Users,
    /// `/whois @nick`.
    Whois { nick: String },
    /// `/away [message]`: away with a message, back without.
    Away { message: Option<String> },
    /// `/ignore [@nick]`: alone, lists who is ignored.
    Ignore { nick: Option<String> },
    /// `/unignore @nick`.
    Unignore { nick: String },
    /// `/search words`.
    Search { text: String },
    /// `/upload FILE`: upload over REST, then post its link to the
    /// current buffer.
    Upload { path: PathBuf },
    /// `/invite @nick [#room]`.
    Invite { nick: String, room: Option<String> },
    /// `/kick @nick [reason]` in the current room.
    Kick {
        nick: String,
        reason: Option<String>,
    },
    /// `/register PASSWORD`.
    Register { password: Secret },
    /// `/time`.
    Time,
    /// `/help [command]` (`/commands`).
    Help { command: Option<String> },
    /// `/quit [reason]` (`/exit`).
    Quit { reason: Option<String> },
}

/// One row of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The name, without `/`.
    pub name: &'static str,
    /// Other names for it.
    pub aliases: &'static [&'static str],
    /// How to call it.
    pub args: &'static str,
    /// What it does.
    pub help: &'static str,
}

macro_rules! spec {
    ($name:literal, [$($alias:literal),*], $args:literal, $help:literal) => {
        CommandSpec { name: $name, aliases: &[$($alias),*], args: $args, help: $help }
    };
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec!(
        "join",
        ["j"],
        "#room [key]",
        "join a room, creating it if needed"
    ),
    spec!(
        "part",
        ["leave", "close"],
        "[#room] [reason]",
        "leave a room (the open one by default), or close a conversation"
    ),
    spec!(
        "msg",
        [],
        "@nick|#room text",
        "send a message to someone or a room"
    ),
    spec!("query", ["start"], "@nick", "open a private conversation"),
    spec!(
        "stop",
        [],
        "",
        "end a private conversation: back to your rooms"
    ),
    spec!("me", [], "action", "describe what you do: * alice waves"),
    spec!("nick", [], "name", "change your name"),
    spec!(
        "topic",
        [],
        "[text | -]",
        "show, set or clear (-) the room's topic"
    ),
    spec!("rooms", [], "", "list the rooms"),
    spec!("list", ["names"], "[#room]", "who is in a room"),
    spec!("users", ["who"], "", "everyone, online or not"),
    spec!("whois", [], "@nick", "who someone is"),
    spec!("away", [], "[message]", "say you are away, or back"),
    spec!(
        "ignore",
        [],
        "[@nick]",
        "hide someone's messages; alone, list who you ignore"
    ),
    spec!("unignore", [], "@nick", "show someone's messages again"),
    spec!("search", [], "words", "search the messages you may read"),
    spec!(
        "upload",
        [],
        "FILE",
        "share a file: upload it and post its link"
    ),
    spec!("invite", [], "@nick [#room]", "invite someone to a room"),
    spec!(
        "kick",
        [],
        "@nick [reason]",
        "remove someone from the room (operators)"
    ),
    spec!(
        "register",
        [],
        "password",
        "keep your name: make it an account"
    ),
    spec!("time", [], "", "the time"),
    spec!("help", ["commands"], "[command]", "this help"),
    spec!("quit", ["exit"], "[reason]", "leave confab"),
];

/// The command called `name` (without `/`, any case, aliases included).
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    let name = name.trim_start_matches('/').to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name.as_str()))
}

/// Every name the input accepts (aliases too), sorted: for Tab completion.
pub fn names() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
        .collect();
    all.sort_unstable();
    all
}

/// `/help`'s lines: one command's, or all of them after an introduction.
pub fn help_lines(command: Option<&str>) -> Vec<String> {
    let line = |c: &CommandSpec| {
        let args = if c.args.is_empty() {
            String::new()
        } else {
            format!(" {}", c.args)
        };
        format!("/{}{args} — {}", c.name, c.help)
    };
    if let Some(c) = command.and_then(lookup) {
        return vec![line(c)];
    }
    let mut out = Vec::with_capacity(COMMANDS.len() + 1);
    if let Some(name) = command {
        out.push(format!(
            "There is no command /{}. Commands:",
            name.trim_start_matches('/')
        ));
    } else {
        out.push("Type a message and press Enter. Commands:".to_owned());
    }
    out.extend(COMMANDS.iter().map(line));
    out
}

/// `@bob` and `bob` both name bob.
fn nick_arg(s: &str) -> &str {
    s.trim().trim_start_matches('@')
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Splits off the first word.
fn first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Parses one line of input. A blank line is `Ok(None)`; text not starting
/// with `/` is a message to the current buffer; `//text` sends `/text`.
pub fn parse(line: &str) -> Result<Option<Action>, CommandError> {
    let say = |to: Option<String>, text: &str, kind| {
        Ok(Some(Action::Say {
            to,
            text: text.to_owned(),
            kind,
        }))
    };
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix("//") {
        return say(None, &format!("/{rest}"), MsgKind::Say);
    }
    let Some(command) = line.strip_prefix('/') else {
        return say(None, line, MsgKind::Say);
    };
    let (name, arg) = first_word(command);
    let Some(spec) = lookup(name) else {
        return Err(CommandError(format!(
            "unknown command /{name}; /help lists them"
        )));
    };
    let action = match spec.name {
        "join" => {
            let (room, key) = first_word(arg);
            if room.is_empty() {
                return Err(usage("/join #room [key]"));
            }
            let room = if is_room(room) {
                room.to_owned()
            } else {
                format!("#{room}")
            };
            Action::Join {
                room,
                key: opt(first_word(key).0),
            }
        }
        "part" => {
            let (first, rest) = first_word(arg);
            if is_room(first) {
                Action::Part {
                    room: Some(first.to_owned()),
                    reason: opt(rest),
                }
            } else {
                Action::Part {
                    room: None,
                    reason: opt(arg),
                }
            }
        }
        "msg" => {
            let (to, text) = first_word(arg);
            if (to.starts_with('@') || is_room(to)) && !text.trim().is_empty() {
                return say(Some(nick_arg(to).to_owned()), text, MsgKind::Say);
            }
            if to.starts_with('@') || is_room(to) || arg.trim().is_empty() {
                return Err(usage("/msg @nick|#room text"));
            }
            return say(None, arg, MsgKind::Say);
        }
        "query" => match opt(nick_arg(arg)) {
            Some(nick) => Action::Query { nick },
            None => return Err(usage("/query @nick")),
        },
        "stop" => Action::Stop,
        "me" => {
            if arg.trim().is_empty() {
                return Err(usage("/me waves"));
            }
            return say(None, arg, MsgKind::Action);
        }
        "nick" => match opt(nick_arg(arg)) {
            Some(nick) => Action::Nick { nick },
            None => return Err(usage("/nick name")),
        },
        "topic" => Action::Topic(match arg.trim() {
            "" => TopicArg::Show,
            "-" => TopicArg::Clear,
            t => TopicArg::Set(t.to_owned()),
        }),
        "rooms" => Action::Rooms,
        "list" => Action::List {
            room: opt(first_word(arg).0),
        },
        "users" => Action::Users,
        "whois" => match opt(nick_arg(arg)) {
            Some(nick) => Action::Whois { nick },
            None => return Err(usage("/whois @nick")),
        },
        "away" => Action::Away { message: opt(arg) },
        "ignore" => Action::Ignore {
            nick: opt(nick_arg(arg)),
        },
        "unignore" => match opt(nick_arg(arg)) {
            Some(nick) => Action::Unignore { nick },
            None => return Err(usage("/unignore @nick")),
        },
        "search" => match opt(arg) {
            Some(text) => Action::Search { text },
            None => return Err(usage("/search words")),
        },
        "upload" => match opt(arg) {
            Some(path) => Action::Upload {
                path: PathBuf::from(path),
            },
            None => return Err(usage("/upload FILE")),
        },
        "invite" => {
            let (nick, room) = first_word(arg);
            if nick.is_empty() {
                return Err(usage("/invite @nick [#room]"));
            }
            Action::Invite {
                nick: nick_arg(nick).to_owned(),
                room: opt(first_word(room).0),
            }
        }
        "kick" => {
            let (nick, reason) = first_word(arg);
            if nick.is_empty() {
                return Err(usage("/kick @nick [reason]"));
            }
            Action::Kick {
                nick: nick_arg(nick).to_owned(),
                reason: opt(reason),
            }
        }
        "register" => match opt(arg) {
            Some(p) => Action::Register {
                password: Secret(p),
            },
            None => return Err(usage("/register password")),
        },
        "time" => Action::Time,
        "help" => Action::Help {
            command: opt(first_word(arg).0.trim_start_matches('/')),
        },
        "quit" => Action::Quit { reason: opt(arg) },
        other => unreachable!("/{other} is in the table but not parsed"),
    };
    Ok(Some(action))
}

fn need_current(current: Option<&str>) -> Result<String, CommandError> {
    current
        .map(str::to_owned)
        .ok_or_else(|| CommandError("open a room or a conversation first".into()))
}

fn need_room(current: Option<&str>, what: &str) -> Result<String, CommandError> {
    match current {
        Some(c) if is_room(c) => Ok(c.to_owned()),
        _ => Err(CommandError(format!(
            "{what} works in a room; open one first"
        ))),
    }
}

impl Action {
    /// The requests this action sends, with `current` the open buffer's
    /// name. Actions that only change the client (`/query`, `/stop`,
    /// `/time`, `/help`) or are the session's (`/upload`, `/quit`: see
    /// `SessionHandle`) give none. A message of several lines is one
    /// `send` per non-blank line.
    pub fn requests(&self, current: Option<&str>) -> Result<Vec<Request>, CommandError> {
        let one = |r: Request| Ok(vec![r]);
        match self {
            Action::Say { to, text, kind } => {
                let to = match to {
                    Some(t) => t.clone(),
                    None => need_current(current)?,
                };
                Ok(text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| Request::Send {
                        to: to.clone(),
                        text: l.to_owned(),
                        kind: *kind,
                        upload: None,
                    })
                    .collect())
            }
            Action::Join { room, key } => one(Request::Join {
                room: room.clone(),
                key: key.clone(),
            }),
            Action::Part { room, reason } => {
                let room = match room {
                    Some(r) => r.clone(),
                    None => need_room(current, "/part")?,
                };
                one(Request::Part {
                    room: Some(room),
                    reason: reason.clone(),
                })
            }
            Action::Nick { nick } => one(Request::Nick { nick: nick.clone() }),
            Action::Topic(arg) => {
                let room = need_room(current, "/topic")?;
                one(Request::Topic {
                    room,
                    topic: match arg {
                        TopicArg::Show => None,
                        TopicArg::Set(t) => Some(Some(t.clone())),
                        TopicArg::Clear => Some(None),
                    },
                })
            }
            Action::Rooms => one(Request::Rooms),
            Action::List { room } => {
                let room = match room {
                    Some(r) => r.clone(),
                    None => need_room(current, "/list")?,
                };
                one(Request::Members { room: Some(room) })
            }
            Action::Users => one(Request::Users),
            Action::Whois { nick } => one(Request::Whois { nick: nick.clone() }),
            Action::Away { message } => one(Request::Away {
                message: message.clone(),
            }),
            Action::Ignore { nick: Some(nick) } => one(Request::Ignore { nick: nick.clone() }),
            Action::Ignore { nick: None } => one(Request::Ignores),
            Action::Unignore { nick } => one(Request::Unignore { nick: nick.clone() }),
            Action::Search { text } => one(Request::Search { text: text.clone() }),
            Action::Invite { nick, room } => {
                let room = match room {
                    Some(r) => r.clone(),
                    None => need_room(current, "/invite")?,
                };
                one(Request::Invite {
                    room,
                    nick: nick.clone(),
                })
            }
            Action::Kick { nick, reason } => one(Request::Kick {
                room: need_room(current, "/kick")?,
                nick: nick.clone(),
                reason: reason.clone(),
            }),
            Action::Register { password } => one(Request::Register {
                password: password.clone(),
            }),
            Action::Quit { .. }
            | Action::Query { .. }
            | Action::Stop
            | Action::Upload { .. }
            | Action::Time
            | Action::Help { .. } => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(to: Option<&str>, text: &str, kind: MsgKind) -> Action {
        Action::Say {
            to: to.map(str::to_owned),
            text: text.into(),
            kind,
        }
    }

    #[test]
    fn lines_parse_into_actions() {
        use MsgKind::{Action as Me, Say};
        let s = |x: &str| x.to_owned();
        let cases: Vec<(&str, Action)> = vec![
            ("hello there", say(None, "hello there", Say)),
            ("  indented", say(None, "  indented", Say)),
            ("//slash text", say(None, "/slash text", Say)),
            (
                "/join #rust",
                Action::Join {
                    room: s("#rust"),
                    key: None,
                },
            ),
            (
                "/JOIN rust sekrit",
                Action::Join {
                    room: s("#rust"),
                    key: Some(s("sekrit")),
                },
            ),
            (
                "/j #a",
                Action::Join {
                    room: s("#a"),
                    key: None,
                },
            ),
            (
                "/part",
                Action::Part {
                    room: None,
                    reason: None,
                },
            ),
            (
                "/part #a gone fishing",
                Action::Part {
                    room: Some(s("#a")),
                    reason: Some(s("gone fishing")),
                },
            ),
            (
                "/part bye all",
                Action::Part {
                    room: None,
                    reason: Some(s("bye all")),
                },
            ),
            (
                "/leave",
                Action::Part {
                    room: None,
                    reason: None,
                },
            ),
            ("/msg @bob hi there", say(Some("bob"), "hi there", Say)),
            ("/msg #a hi", say(Some("#a"), "hi", Say)),
            ("/msg just text", say(None, "just text", Say)),
            ("/query @bob", Action::Query { nick: s("bob") }),
            ("/start bob", Action::Query { nick: s("bob") }),
            ("/stop", Action::Stop),
            ("/me waves", say(None, "waves", Me)),
            ("/nick alicia", Action::Nick { nick: s("alicia") }),
            ("/topic", Action::Topic(TopicArg::Show)),
            ("/topic -", Action::Topic(TopicArg::Clear)),
            (
                "/topic crabs all the way",
                Action::Topic(TopicArg::Set(s("crabs all the way"))),
            ),
            ("/rooms", Action::Rooms),
            ("/list", Action::List { room: None }),
            (
                "/names #b",
                Action::List {
                    room: Some(s("#b")),
                },
            ),
            ("/users", Action::Users),
            ("/who", Action::Users),
            ("/whois @bob", Action::Whois { nick: s("bob") }),
            ("/away", Action::Away { message: None }),
            (
                "/away out to lunch",
                Action::Away {
                    message: Some(s("out to lunch")),
                },
            ),
            ("/ignore", Action::Ignore { nick: None }),
            (
                "/ignore @troll",
                Action::Ignore {
                    nick: Some(s("troll")),
                },
            ),
            ("/unignore troll", Action::Unignore { nick: s("troll") }),
            (
                "/search two words",
                Action::Search {
                    text: s("two words"),
                },
            ),
            (
                "/upload /tmp/a b.png",
                Action::Upload {
                    path: PathBuf::from("/tmp/a b.png"),
                },
            ),
            (
                "/invite @bob",
                Action::Invite {
                    nick: s("bob"),
                    room: None,
                },
            ),
            (
                "/invite bob #c",
                Action::Invite {
                    nick: s("bob"),
                    room: Some(s("#c")),
                },
            ),
            (
                "/kick @troll spam",
                Action::Kick {
                    nick: s("troll"),
                    reason: Some(s("spam")),
                },
            ),
            (
                "/register hunter22",
                Action::Register {
                    password: Secret(s("hunter22")),
                },
            ),
            ("/time", Action::Time),
            ("/help", Action::Help { command: None }),
            (
                "/help /join",
                Action::Help {
                    command: Some(s("join")),
                },
            ),
            ("/commands", Action::Help { command: None }),
            ("/quit", Action::Quit { reason: None }),
            (
                "/exit see you",
                Action::Quit {
                    reason: Some(s("see you")),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Ok(Some(want)), "{line}");
        }
    }

    #[test]
    fn blank_lines_are_nothing() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("   "), Ok(None));
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        let cases = [
            (
                "/frobnicate x",
                "unknown command /frobnicate; /help lists them",
            ),
            ("/join", "usage: /join #room [key]"),
            ("/msg", "usage: /msg @nick|#room text"),
            ("/msg @bob", "usage: /msg @nick|#room text"),
            ("/query", "usage: /query @nick"),
            ("/me", "usage: /me waves"),
            ("/nick", "usage: /nick name"),
            ("/whois", "usage: /whois @nick"),
            ("/unignore", "usage: /unignore @nick"),
            ("/search  ", "usage: /search words"),
            ("/upload", "usage: /upload FILE"),
            ("/kick", "usage: /kick @nick [reason]"),
            ("/register", "usage: /register password"),
        ];
        for (line, msg) in cases {
            assert_eq!(parse(line), Err(CommandError(msg.into())), "{line}");
        }
    }

    #[test]
    fn actions_become_the_requests_they_stand_for() {
        let req =
            |line: &str, current: Option<&str>| parse(line).unwrap().unwrap().requests(current);
        assert_eq!(
            req("hi", Some("#a")),
            Ok(vec![Request::Send {
                to: "#a".into(),
                text: "hi".into(),
                kind: MsgKind::Say,
                upload: None
            }])
        );
        let multi = Action::Say {
            to: Some("bob".into()),
            text: "one\n\ntwo".into(),
            kind: MsgKind::Say,
        };
        let sent: Vec<String> = multi
            .requests(None)
            .unwrap()
            .into_iter()
            .map(|r| match r {
                Request::Send { text, to, .. } => format!("{to}:{text}"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, ["bob:one", "bob:two"]);
        assert_eq!(
            req("hi", None),
            Err(CommandError("open a room or a conversation first".into()))
        );
        assert_eq!(
            req("/topic -", Some("#a")),
            Ok(vec![Request::Topic {
                room: "#a".into(),
                topic: Some(None)
            }])
        );
        assert!(req("/topic x", Some("bob")).is_err());
        assert_eq!(
            req("/part", Some("#a")),
            Ok(vec![Request::Part {
                room: Some("#a".into()),
                reason: None
            }])
        );
        assert_eq!(req("/ignore", None), Ok(vec![Request::Ignores]));
        assert_eq!(
            req("/list", Some("#a")),
            Ok(vec![Request::Members {
                room: Some("#a".into())
            }])
        );
        assert_eq!(req("/query bob", None), Ok(vec![]));
        assert_eq!(req("/help", None), Ok(vec![]));
    }

    #[test]
    fn the_table_serves_completion_and_help() {
        let names = names();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted, no twins");
        for n in ["join", "j", "commands", "start", "quit", "upload", "search"] {
            assert!(names.contains(&n), "{n}");
        }
        // Every name in the table parses (none falls into `unreachable!`).
        for n in &names {
            let _ = parse(&format!("/{n} x"));
        }
        assert_eq!(
            help_lines(Some("j")),
            ["/join #room [key] — join a room, creating it if needed"]
        );
        assert_eq!(help_lines(None).len(), COMMANDS.len() + 1);
        assert!(help_lines(Some("nope"))[0].contains("no command /nope"));
    }
}
