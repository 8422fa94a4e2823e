//! The line protocol's input: one line of text into an [`Input`].
//!
//! A line that starts with `/` is a command (`/JOIN` and `/join` are the
//! same); `//` at the start escapes a message that begins with a slash;
//! anything else is a message to the current target. Pure: the limits come
//! in as arguments and names go through the core's validating types.

use confab_core::{
    Command, Field, InputError, MsgKind, NameError, Nick, OperCommand, RoomName, Target, Text,
    TextError,
};

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A blank line: nothing to do.
    Nothing,
    /// A command for the hub.
    Hub(Command),
    /// `/help [command]`.
    Help(Option<&'static CommandHelp>),
    /// `/commands`.
    Commands,
    /// `/time`.
    Time,
    /// `/register PASSWORD`: the door hashes, then asks the hub.
    Register(String),
    /// `/login NAME PASSWORD`: the door checks, then asks the hub.
    Login { name: Nick, password: String },
    /// `/passwd OLD NEW`: the door checks the old and hashes the new.
    Passwd { old: String, new: String },
    /// `/oper NAME PASSWORD`: the door checks the `[[opers]]` block, then
    /// tells the hub.
    Oper { name: String, password: String },
}

/// Messages `/history` shows without a count.
pub const DEFAULT_HISTORY: usize = 20;

/// The limits that parsing enforces.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_nick_len: usize,
    pub max_room_len: usize,
    pub max_message_bytes: usize,
}

/// Why a line was refused; shown to the user as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unknown command /{0}; /commands lists them all")]
    Unknown(String),
    #[error("usage: {} ({})", .0.usage, .0.summary)]
    Usage(&'static CommandHelp),
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("{0}")]
    Text(#[from] TextError),
    #[error("{0}")]
    Input(#[from] InputError),
}

/// One command of the line protocol, as `/help` describes it.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandHelp {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
}

macro_rules! commands {
    ($($name:literal, $usage:literal, $summary:literal;)*) => {
        /// Every command, in the order `/commands` lists them.
        pub const COMMANDS: &[CommandHelp] = &[
            $(CommandHelp { name: $name, usage: $usage, summary: $summary },)*
        ];
    };
}

commands! {
    "nick", "/nick NAME", "change your name";
    "join", "/join #room [key]", "join a room, creating it if needed; it becomes your current room";
    "part", "/part [#room] [reason]", "leave a room (the current one by default)";
    "rooms", "/rooms", "list the rooms with their member counts";
    "list", "/list [#room]", "list who is in your current room (or the one named)";
    "users", "/users", "list every known user, online or offline";
    "msg", "/msg [@nick|#room] TEXT", "send a private message to @nick, to #room, or to your current target";
    "start", "/start @nick", "talk privately with nick: plain text goes to them until /stop";
    "stop", "/stop", "end the private conversation; plain text goes to your current room again";
    "me", "/me ACTION", "describe an action, as in '* alice waves'";
    "topic", "/topic [TEXT | -]", "show the current room's topic, set it, or clear it with -";
    "ignore", "/ignore [@nick]", "stop seeing a user's messages (without an argument: list whom you ignore)";
    "unignore", "/unignore @nick", "see a user's messages again";
    "away", "/away [message]", "mark yourself away with a message (without one: back)";
    "whois", "/whois @nick", "who someone is: real name, rooms, away, since when online";
    "register", "/register PASSWORD", "register your current name as an account, protected by PASSWORD";
    "login", "/login NAME PASSWORD", "log in to a registered account (instead of a name, or as a guest)";
    "passwd", "/passwd OLD NEW", "change your account's password (every older login token stops working)";
    "history", "/history [N]", "show the last N (default 20) messages of your current room or private conversation";
    "search", "/search WORDS", "search the messages you may see for all of WORDS";
    "oper", "/oper NAME PASSWORD", "become a server operator (with an operator name and password from the server's config)";
    "deoper", "/deoper", "stop being a server operator";
    "kill", "/kill @nick [reason]", "operators: disconnect a user from the server";
    "wallops", "/wallops TEXT", "operators: send a notice to every server operator";
    "kline", "/kline [MINUTES] MASK [reason]", "operators: ban $a:account, nick!ident@host or an address/CIDR from the server (for MINUTES, or for good)";
    "unkline", "/unkline MASK", "operators: lift a server ban";
    "klines", "/klines", "operators: list the server bans";
    "suspend", "/suspend NAME [reason]", "operators: suspend an account (its sessions end; it cannot log in)";
    "unsuspend", "/unsuspend NAME", "operators: let a suspended account log in again";
    "suspensions", "/suspensions", "operators: list the suspended accounts";
    "lockdown", "/lockdown [on|off]", "operators: refuse new guests and registrations (accounts still log in), or say whether that is on";
    "time", "/time", "show the server's time";
    "help", "/help [command]", "show help, for one command or in general";
    "commands", "/commands", "list every command";
    "quit", "/quit [reason]", "leave the chat";
}

/// The help entry for `name` (without the slash, any case).
pub fn help_for(name: &str) -> Option<&'static CommandHelp> {
    let name = name.trim_start_matches('/');
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

fn usage(name: &str) -> ParseError {
    ParseError::Usage(help_for(name).expect("every parsed command has help"))
}

/// Parses one line of input.
pub fn parse(line: &str, limits: &ParseLimits) -> Result<Input, ParseError> {
    if line.trim().is_empty() {
        return Ok(Input::Nothing);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return say(None, MsgKind::Say, line, limits);
    };
    if rest.starts_with('/') {
        return say(None, MsgKind::Say, rest, limits);
    }
    let (name, args) = split_word(rest);
    let args = args.trim();
    // Aliases are spelled as the command they stand for, whose help the
    // usage errors show.
    let lower = match name.to_ascii_lowercase().as_str() {
        "leave" => "part".to_owned(),
        "names" => "list".to_owned(),
        "who" => "users".to_owned(),
        "query" => "start".to_owned(),
        "identify" => "login".to_owned(),
        "?" => "help".to_owned(),
        "exit" | "bye" => "quit".to_owned(),
        other => other.to_owned(),
    };
    let nick = |s: &str| Nick::parse(s.strip_prefix('@').unwrap_or(s), limits.max_nick_len);
    let room = |s: &str| RoomName::parse(s, limits.max_room_len);
    let text = |s: &str| Text::parse(s, limits.max_message_bytes);
    // A topic, away message or reason: a text whose errors name it.
    let field = |f: Field, s: &str| f.text(s, limits.max_message_bytes);
    let one_arg = |args: &str| -> Result<String, ParseError> {
        let (a, more) = split_word(args);
        if a.is_empty() || !more.trim().is_empty() {
            return Err(usage(&lower));
        }
        Ok(a.to_owned())
    };
    let no_args = |input: Input| {
        if args.is_empty() {
            Ok(input)
        } else {
            Err(usage(&lower))
        }
    };
    match lower.as_str() {
        "nick" => Ok(Input::Hub(Command::ChangeNick(nick(&one_arg(args)?)?))),
        "join" => {
            let (r, key) = split_word(args);
            let (key, more) = split_word(key);
            // `/join #a #b` is a mistake more likely than a key "#b".
            if r.is_empty() || !more.trim().is_empty() || key.starts_with('#') {
                return Err(usage(&lower));
            }
            let key = (!key.is_empty()).then(|| key.to_owned());
            Ok(Input::Hub(Command::Join {
                room: room(r)?,
                key,
            }))
        }
        "part" => {
            let (first, more) = split_word(args);
            let (r, reason) = if first.starts_with('#') {
                (Some(room(first)?), more.trim())
            } else {
                (None, args)
            };
            let reason = if reason.is_empty() {
                None
            } else {
                Some(field(Field::Reason, reason)?)
            };
            Ok(Input::Hub(Command::Part { room: r, reason }))
        }
        "rooms" => no_args(Input::Hub(Command::Rooms)),
        "list" => {
            let r = if args.is_empty() {
                None
            } else {
                Some(room(&one_arg(args)?)?)
            };
            Ok(Input::Hub(Command::Members(r)))
        }
        "users" => no_args(Input::Hub(Command::Users)),
        "msg" => {
            let (first, more) = split_word(args);
            let addressed = first.starts_with('@') || first.starts_with('#');
            if first.is_empty() || (addressed && more.trim().is_empty()) {
                return Err(usage("msg"));
            }
            let to = if first.starts_with('@') {
                Some(Target::User(nick(first)?))
            } else if first.starts_with('#') {
                Some(Target::Room(room(first)?))
            } else {
                None
            };
            let body = if to.is_some() {
                more.trim_start()
            } else {
                args
            };
            if body.trim().is_empty() {
                return Err(usage("msg"));
            }
            say(to, MsgKind::Say, body, limits)
        }
        "me" => {
            if args.is_empty() {
                return Err(usage("me"));
            }
            say(None, MsgKind::Action, args, limits)
        }
        "start" => Ok(Input::Hub(Command::Start(nick(&one_arg(args)?)?))),
        "stop" => no_args(Input::Hub(Command::Stop)),
        "topic" => Ok(Input::Hub(match args {
            "" => Command::GetTopic(None),
            "-" => Command::SetTopic {
                room: None,
                topic: None,
            },
            t => Command::SetTopic {
                room: None,
                topic: Some(field(Field::Topic, t)?),
            },
        })),
        "ignore" => {
            if args.is_empty() {
                return Ok(Input::Hub(Command::Ignores));
            }
            Ok(Input::Hub(Command::Ignore(nick(&one_arg(args)?)?)))
        }
        "unignore" => Ok(Input::Hub(Command::Unignore(nick(&one_arg(args)?)?))),
        "away" => {
            let away = if args.trim().is_empty() {
                None
            } else {
                Some(field(Field::Away, args)?)
            };
            Ok(Input::Hub(Command::Away(away)))
        }
        "whois" => Ok(Input::Hub(Command::Whois(vec![nick(&one_arg(args)?)?]))),
        "register" => Ok(Input::Register(one_arg(args)?)),
        "passwd" => {
            let words: Vec<&str> = args.split_whitespace().collect();
            match words.as_slice() {
                [old, new] => Ok(Input::Passwd {
                    old: (*old).to_owned(),
                    new: (*new).to_owned(),
                }),
                _ => Err(usage("passwd")),
            }
        }
        "login" => {
            let (name, password) = split_word(args);
            let password = password.trim();
            if name.is_empty() || password.is_empty() || password.contains(char::is_whitespace) {
                return Err(usage("login"));
            }
            Ok(Input::Login {
                name: nick(name)?,
                password: password.to_owned(),
            })
        }
        "oper" => {
            let (name, password) = split_word(args);
            let password = password.trim();
            if name.is_empty() || password.is_empty() || password.contains(char::is_whitespace) {
                return Err(usage("oper"));
            }
            Ok(Input::Oper {
                name: name.to_owned(),
                password: password.to_owned(),
            })
        }
        "kill" => {
            let (who, reason) = split_word(args);
            if who.is_empty() {
                return Err(usage("kill"));
            }
            let reason = match reason.trim() {
                "" => None,
                r => Some(field(Field::Reason, r)?),
            };
            Ok(Input::Hub(Command::Operator(OperCommand::Kill {
                nick: nick(who)?,
                reason,
            })))
        }
        "kline" => {
            let (first, rest) = split_word(args);
            let (minutes, rest) = match first.parse::<u64>() {
                Ok(m) if m > 0 => (Some(m), rest),
                _ => (None, args),
            };
            let (mask, reason) = split_word(rest.trim());
            if mask.is_empty() {
                return Err(usage("kline"));
            }
            let reason = match reason.trim() {
                "" => None,
                r => Some(field(Field::Reason, r)?),
            };
            Ok(Input::Hub(Command::Operator(OperCommand::Kline {
                mask: mask.to_owned(),
                minutes,
                reason,
            })))
        }
        "unkline" => Ok(Input::Hub(Command::Operator(OperCommand::Unkline(
            one_arg(args)?,
        )))),
        "klines" => no_args(Input::Hub(Command::Operator(OperCommand::Klines))),
        "suspensions" => no_args(Input::Hub(Command::Operator(OperCommand::Suspensions))),
        "suspend" => {
            let (who, reason) = split_word(args);
            if who.is_empty() {
                return Err(usage("suspend"));
            }
            let reason = match reason.trim() {
                "" => None,
                r => Some(field(Field::Reason, r)?),
            };
            Ok(Input::Hub(Command::Operator(OperCommand::Suspend {
                name: nick(who)?,
                reason,
            })))
        }
        "unsuspend" => Ok(Input::Hub(Command::Operator(OperCommand::Unsuspend(nick(
            &one_arg(args)?,
        )?)))),
        "lockdown" => Ok(Input::Hub(Command::Operator(OperCommand::Lockdown(
            match args.to_ascii_lowercase().as_str() {
                "" => None,
                "on" => Some(true),
                "off" => Some(false),
                _ => return Err(usage("lockdown")),
            },
        )))),
        "deoper" => {
            if !args.is_empty() {
                return Err(usage("deoper"));
            }
            Ok(Input::Hub(Command::Deoper))
        }
        "wallops" => {
            if args.is_empty() {
                return Err(usage("wallops"));
            }
            Ok(Input::Hub(Command::Operator(OperCommand::Wallops(text(
                args,
            )?))))
        }
        "history" => {
            let limit = match args {
                "" => DEFAULT_HISTORY,
                n => match one_arg(n)?.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(usage("history")),
                },
            };
            Ok(Input::Hub(Command::History { limit }))
        }
        "search" => {
            if args.is_empty() {
                return Err(usage("search"));
            }
            Ok(Input::Hub(Command::search(text(args)?)))
        }
        "time" => no_args(Input::Time),
        "help" => match args {
            "" => Ok(Input::Help(None)),
            a => match help_for(&one_arg(a)?) {
                Some(h) => Ok(Input::Help(Some(h))),
                None => Err(ParseError::Unknown(
                    truncate(a.trim_start_matches('/'), 32).to_owned(),
                )),
            },
        },
        "commands" => no_args(Input::Commands),
        "quit" => {
            let reason = if args.is_empty() {
                None
            } else {
                Some(field(Field::Reason, args)?)
            };
            Ok(Input::Hub(Command::Quit(reason)))
        }
        _ => Err(ParseError::Unknown(truncate(name, 32).to_owned())),
    }
}

fn say(to: Option<Target>, kind: MsgKind, s: &str, l: &ParseLimits) -> Result<Input, ParseError> {
    let text = Text::parse(s, l.max_message_bytes)?;
    Ok(Input::Hub(Command::send(to, kind, text)))
}

/// The first word of `s` and the rest (which starts with the separator).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    s.split_at(s.find(char::is_whitespace).unwrap_or(s.len()))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: ParseLimits = ParseLimits {
        max_nick_len: 9,
        max_room_len: 10,
        max_message_bytes: 20,
    };

    fn ok(line: &str) -> Input {
        parse(line, &L).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn err(line: &str) -> String {
        parse(line, &L).unwrap_err().to_string()
    }

    fn nick(s: &str) -> Nick {
        Nick::parse(s, 9).unwrap()
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s, 10).unwrap()
    }

    fn text(s: &str) -> Text {
        Text::parse(s, 20).unwrap()
    }

    fn send(to: Option<Target>, kind: MsgKind, s: &str) -> Input {
        Input::Hub(Command::Send {
            to,
            kind,
            text: text(s),
            tags: confab_core::ClientTags::default(),
        })
    }

    #[test]
    fn plain_text_and_escapes() {
        assert_eq!(ok("hello there"), send(None, MsgKind::Say, "hello there"));
        assert_eq!(
            ok("//not a command"),
            send(None, MsgKind::Say, "/not a command")
        );
        assert_eq!(ok("   "), Input::Nothing);
        assert_eq!(ok(""), Input::Nothing);
    }

    #[test]
    fn messages() {
        let to_bob = Some(Target::User(nick("bob")));
        assert_eq!(
            ok("/msg @bob hi you"),
            send(to_bob.clone(), MsgKind::Say, "hi you")
        );
        assert_eq!(ok("/MSG @bob   hi"), send(to_bob, MsgKind::Say, "hi"));
        let to_room = Some(Target::Room(room("#rust")));
        assert_eq!(ok("/msg #rust hi"), send(to_room, MsgKind::Say, "hi"));
        assert_eq!(ok("/msg bob hi"), send(None, MsgKind::Say, "bob hi"));
        assert_eq!(ok("/me waves"), send(None, MsgKind::Action, "waves"));
        assert!(err("/msg").starts_with("usage: /msg"));
        assert!(err("/msg @bob").starts_with("usage: /msg"));
        assert!(err("/msg @bob   ").starts_with("usage: /msg"));
        assert!(err("/me").starts_with("usage: /me"));
        assert_eq!(err("/msg @9lives hi"), NameError::BadStart.to_string());
        assert!(err("this message is far too long").contains("limit is 20"));
        assert!(err("bell\x07").contains("control character"));
    }

    #[test]
    fn rooms_and_names() {
        assert_eq!(ok("/join #rust"), Input::Hub(Command::join(room("#rust"))));
        assert_eq!(ok("/join rust"), Input::Hub(Command::join(room("#rust"))));
        assert!(err("/join").starts_with("usage: /join #room"));
        assert!(err("/join #a #b").starts_with("usage: /join"));
        assert!(err("/join #waytoolongroom").contains("at most"));
        assert_eq!(
            ok("/nick Bob"),
            Input::Hub(Command::ChangeNick(nick("Bob")))
        );
        assert!(err("/nick").starts_with("usage: /nick"));
        assert!(err("/nick a b").starts_with("usage: /nick"));
        assert!(err("/nick b@d").contains("'@'"));
        assert_eq!(ok("/list"), Input::Hub(Command::Members(None)));
        assert_eq!(
            ok("/list #x"),
            Input::Hub(Command::Members(Some(room("#x"))))
        );
        assert_eq!(ok("/rooms"), Input::Hub(Command::Rooms));
        assert_eq!(ok("/users"), Input::Hub(Command::Users));
        assert!(err("/rooms now").starts_with("usage: /rooms"));
    }

    #[test]
    fn part() {
        let part = |room: Option<RoomName>, reason: Option<&str>| {
            Input::Hub(Command::Part {
                room,
                reason: reason.map(text),
            })
        };
        assert_eq!(ok("/part"), part(None, None));
        assert_eq!(ok("/part #x"), part(Some(room("#x")), None));
        assert_eq!(
            ok("/part #x bye all"),
            part(Some(room("#x")), Some("bye all"))
        );
        assert_eq!(ok("/part bye all"), part(None, Some("bye all")));
    }

    #[test]
    fn private_conversations_topic_ignore() {
        assert_eq!(ok("/start @bob"), Input::Hub(Command::Start(nick("bob"))));
        assert_eq!(ok("/start bob"), Input::Hub(Command::Start(nick("bob"))));
        assert!(err("/start").starts_with("usage: /start @nick"));
        assert_eq!(ok("/stop"), Input::Hub(Command::Stop));
        assert_eq!(ok("/topic"), Input::Hub(Command::GetTopic(None)));
        let set = |t: Option<&str>| {
            Input::Hub(Command::SetTopic {
                room: None,
                topic: t.map(text),
            })
        };
        assert_eq!(ok("/topic Rust talk"), set(Some("Rust talk")));
        assert_eq!(ok("/topic -"), set(None));
        assert_eq!(ok("/ignore @eve"), Input::Hub(Command::Ignore(nick("eve"))));
        assert_eq!(ok("/ignore"), Input::Hub(Command::Ignores));
        assert_eq!(
            ok("/unignore eve"),
            Input::Hub(Command::Unignore(nick("eve")))
        );
        assert!(err("/unignore").starts_with("usage: /unignore"));
        assert_eq!(
            ok("/away lunch, back at 2"),
            Input::Hub(Command::Away(Some(text("lunch, back at 2"))))
        );
        assert_eq!(ok("/away"), Input::Hub(Command::Away(None)));
        assert_eq!(
            ok("/whois @eve"),
            Input::Hub(Command::Whois(vec![nick("eve")]))
        );
        assert!(err("/whois").starts_with("usage: /whois"));
    }

    #[test]
    fn local_commands() {
        assert_eq!(ok("/time"), Input::Time);
        assert_eq!(ok("/help"), Input::Help(None));
        assert_eq!(ok("/help join"), Input::Help(help_for("join")));
        assert_eq!(ok("/help /JOIN"), Input::Help(help_for("join")));
        assert_eq!(
            err("/help dance"),
            "unknown command /dance; /commands lists them all"
        );
        assert_eq!(ok("/commands"), Input::Commands);
        assert_eq!(ok("/quit"), Input::Hub(Command::Quit(None)));
        assert_eq!(
            ok("/quit see you"),
            Input::Hub(Command::Quit(Some(text("see you"))))
        );
    }

    #[test]
    fn accounts_history_search() {
        assert_eq!(
            ok("/register s3cret-pw"),
            Input::Register("s3cret-pw".into())
        );
        assert!(err("/register").starts_with("usage: /register PASSWORD"));
        assert!(err("/register two words").starts_with("usage: /register"));
        assert_eq!(
            ok("/login Bob hunter22"),
            Input::Login {
                name: nick("Bob"),
                password: "hunter22".into()
            }
        );
        assert!(err("/login bob").starts_with("usage: /login NAME PASSWORD"));
        assert!(err("/login bob a b").starts_with("usage: /login"));
        assert_eq!(ok("/history"), Input::Hub(Command::History { limit: 20 }));
        assert_eq!(ok("/history 5"), Input::Hub(Command::History { limit: 5 }));
        assert!(err("/history 0").starts_with("usage: /history"));
        assert!(err("/history lots").starts_with("usage: /history"));
        assert_eq!(
            ok("/search crab rave"),
            Input::Hub(Command::search(text("crab rave")))
        );
        assert!(err("/search").starts_with("usage: /search"));
    }

    #[test]
    fn unknown_commands() {
        assert_eq!(
            err("/dance now"),
            "unknown command /dance; /commands lists them all"
        );
        assert_eq!(err("/"), "unknown command /; /commands lists them all");
        let long = format!("/{}", "x".repeat(100));
        assert_eq!(
            err(&long).len(),
            "unknown command /; /commands lists them all".len() + 32
        );
    }

    #[test]
    fn errors_quote_the_line_in_bounded_pieces() {
        // `/help` with an unknown word quoted all of it (found with the
        // line_codec fuzz target's bound on error messages).
        let long = "x".repeat(4000);
        let short = "unknown command /; /commands lists them all".len() + 32;
        assert_eq!(err(&format!("/help {long}")).len(), short);
        assert_eq!(err(&format!("/help /{long}")).len(), short);
        assert_eq!(err(&format!("/{long}")).len(), short);
        assert_eq!(
            err("/help zap"),
            "unknown command /zap; /commands lists them all"
        );
    }

    #[test]
    fn every_parsed_command_has_help() {
        // Aliases misused once panicked here ("every parsed command has
        // help"): their usage is the command's they stand for.
        let cases = [
            ("/names #a #b", "list"),
            ("/who x", "users"),
            ("/query", "start"),
            ("/QUERY a b", "start"),
            ("/identify alice", "login"),
            ("/? a b", "help"),
        ];
        for (line, name) in cases {
            match parse(line, &L) {
                Err(ParseError::Usage(h)) => assert_eq!(h.name, name, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        for alias in [
            "leave", "names", "who", "query", "identify", "?", "exit", "bye",
        ] {
            for args in ["", " x", " x y", " #a #b", " @9"] {
                let _ = parse(&format!("/{alias}{args}"), &L);
            }
        }
        assert_eq!(
            ok("/leave"),
            Input::Hub(Command::Part {
                room: None,
                reason: None
            })
        );
        assert_eq!(ok("/who"), Input::Hub(Command::Users));
        assert_eq!(ok("/bye"), Input::Hub(Command::Quit(None)));
    }

    #[test]
    fn every_command_has_help_and_parses() {
        for c in COMMANDS {
            // Without arguments, each command either works or explains its usage.
            match parse(&format!("/{}", c.name), &L) {
                Ok(_) => {}
                Err(ParseError::Usage(h)) => assert_eq!(h.name, c.name),
                Err(e) => panic!("/{}: {e}", c.name),
            }
        }
    }
}
