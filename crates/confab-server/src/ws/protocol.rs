//! The JSON protocol's wire format, sans-IO: client messages parsed into
//! [`Incoming`] (a core [`Command`] where one fits), core events rendered
//! into JSON text. `docs/protocol.md` is the reference; this file is its
//! implementation and the tests below its examples.
//!
//! Every server message is one JSON object with `"type"` first and a
//! `"time"` (ISO 8601, UTC, milliseconds). Broadcasts (messages, joins,
//! topics …) never depend on who receives them, so they are rendered once
//! per event into the envelope's cache slot [`SLOT`]; replies carry the
//! request id they answer (`"re"`) and are rendered per recipient.

use confab_core::event::{Member, ModeChange, RoomMode, UserDetails};
use confab_core::store::{Bound, HistoryQuery};
use confab_core::{
    ChatError, ClientTags, Command, Envelope, Event, Field, Marker, Message, MsgId, MsgKind, Nick,
    OperCommand, RoomName, Target, Text, Timestamp, Window,
};
use serde_json::{Map, Value, json};

use crate::time::rfc3339;

/// The protocol version this server speaks.
pub const VERSION: u64 = 1;
/// The envelope cache slot of this door's broadcast renderings.
pub const SLOT: usize = 3;
/// Messages a `history` request returns when it names no `limit`.
pub const DEFAULT_HISTORY: usize = 50;
/// Messages a `resume` returns at most when it names no `limit`.
pub const DEFAULT_RESUME: usize = 200;

/// A client's request id, echoed verbatim as `"re"`: a string or a number.
pub type ReqId = Value;

/// What the parser checks names and texts against (from the config).
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub max_nick_len: usize,
    pub max_room_len: usize,
    pub max_message_bytes: usize,
}

/// One client message: its request id (if it gave one) and what it asks.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub id: Option<ReqId>,
    pub request: Request,
}

/// What a client message asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// The first message: version and authentication.
    Hello(Hello),
    /// `ping`: answered by `pong` after the replies to earlier requests.
    Ping,
    /// `register`: the password is hashed by the door, never by the hub.
    Register { password: String },
    /// A new password for the session's account: the door checks `old`
    /// and hashes `new`.
    Passwd { old: String, new: String },
    /// `oper`: the door checks the name and password against the
    /// config's `[[opers]]`, then tells the hub.
    Oper { name: String, password: String },
    /// `send` with an `upload`: the door checks the upload and appends
    /// its link to the text, as the REST API does.
    SendUpload {
        to: Target,
        kind: MsgKind,
        text: Text,
        tags: ClientTags,
        upload: String,
    },
    /// Everything else: a core command as it is.
    Hub(Command),
}

/// `hello`: who the client is and what it saw last.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    pub auth: Auth,
    /// Resume after this message id once logged in.
    pub resume_after: Option<MsgId>,
    /// Join the server's default room when the user is in no room.
    pub auto_join: bool,
}

/// How a `hello` authenticates.
#[derive(Clone, PartialEq)]
pub enum Auth {
    /// A login token (from `POST /api/v1/login`): a registered account.
    Token(String),
    /// An account's name and password.
    Password { name: Nick, password: String },
    /// A guest name.
    Guest(Nick),
}

impl std::fmt::Debug for Auth {
    // Never a password or token in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => write!(f, "Token(..)"),
            Auth::Password { name, .. } => write!(f, "Password({name}, ..)"),
            Auth::Guest(n) => write!(f, "Guest({n})"),
        }
    }
}

/// Why a client message was refused before it reached the hub.
#[derive(Debug, Clone, PartialEq)]
pub struct BadInput {
    /// The request id, when the message got far enough to have one.
    pub id: Option<ReqId>,
    pub code: &'static str,
    /// The offending field, for `bad_request`.
    pub field: Option<&'static str>,
    pub message: String,
}

impl BadInput {
    fn new(code: &'static str, message: impl Into<String>) -> BadInput {
        BadInput {
            id: None,
            code,
            field: None,
            message: message.into(),
        }
    }

    fn field(field: &'static str, message: impl Into<String>) -> BadInput {
        BadInput {
            field: Some(field),
            ..BadInput::new("bad_request", message)
        }
    }

    /// Renders it as an `error` event.
    pub fn render(&self, time: Timestamp) -> String {
        error(self.id.as_ref(), self.code, self.field, &self.message, time)
    }
}

/// Parses one text frame.
pub fn parse(text: &str, limits: &ParseLimits) -> Result<Incoming, BadInput> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| BadInput::new("bad_json", format!("that is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(BadInput::new(
            "bad_json",
            "every message is a JSON object with a \"type\"",
        ));
    };
    let id = match obj.get("id") {
        None | Some(Value::Null) => None,
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        Some(_) => return Err(BadInput::field("id", "\"id\" must be a string or a number")),
    };
    let fields = Fields { obj: &obj, limits };
    fields
        .request()
        .map(|request| Incoming {
            id: id.clone(),
            request,
        })
        .map_err(|mut e| {
            e.id = id;
            e
        })
}

struct Fields<'a> {
    obj: &'a Map<String, Value>,
    limits: &'a ParseLimits,
}

impl Fields<'_> {
    fn request(&self) -> Result<Request, BadInput> {
        let kind = match self.obj.get("type") {
            Some(Value::String(s)) => s.as_str(),
            None => return Err(BadInput::field("type", "the message has no \"type\"")),
            Some(_) => return Err(BadInput::field("type", "\"type\" must be a string")),
        };
        let hub = Request::Hub;
        Ok(match kind {
            "hello" => Request::Hello(self.hello()?),
            "ping" => Request::Ping,
            "register" => Request::Register {
                password: self.string("password")?.to_owned(),
            },
            "passwd" => Request::Passwd {
                old: self.string("old")?.to_owned(),
                new: self.string("new")?.to_owned(),
            },
            "oper" => Request::Oper {
                name: self.string("name")?.to_owned(),
                password: self.string("password")?.to_owned(),
            },
            "kill" => hub(Command::Operator(OperCommand::Kill {
                nick: self.nick("nick")?,
                reason: self.opt_input("reason", Field::Reason)?,
            })),
            "wallops" => hub(Command::Operator(OperCommand::Wallops(self.text("text")?))),
            "deoper" => hub(Command::Deoper),
            "kline" => hub(Command::Operator(OperCommand::Kline {
                mask: self.string("mask")?.to_owned(),
                minutes: self.opt_minutes()?,
                reason: self.opt_input("reason", Field::Reason)?,
            })),
            "unkline" => hub(Command::Operator(OperCommand::Unkline(
                self.string("mask")?.to_owned(),
            ))),
            "klines" => hub(Command::Operator(OperCommand::Klines)),
            "suspensions" => hub(Command::Operator(OperCommand::Suspensions)),
            "suspend" => hub(Command::Operator(OperCommand::Suspend {
                name: self.nick("name")?,
                reason: self.opt_input("reason", Field::Reason)?,
            })),
            "unsuspend" => hub(Command::Operator(OperCommand::Unsuspend(
                self.nick("name")?,
            ))),
            "lockdown" => hub(Command::Operator(OperCommand::Lockdown(
                self.opt_bool("on")?,
            ))),
            "send" => match self.opt_string("upload")? {
                Some(upload) => Request::SendUpload {
                    to: self.target("to")?,
                    kind: self.kind()?,
                    text: self.text("text")?,
                    tags: self.opt_tags()?,
                    upload: upload.to_owned(),
                },
                None => hub(Command::Send {
                    to: Some(self.target("to")?),
                    kind: self.kind()?,
                    text: self.text("text")?,
                    tags: self.opt_tags()?,
                }),
            },
            "tagmsg" => hub(Command::TagMsg {
                to: self.target("to")?,
                tags: self.opt_tags()?,
            }),
            "join" => hub(Command::Join {
                room: self.room("room")?,
                key: self.opt_string("key")?.map(str::to_owned),
            }),
            "part" => hub(Command::Part {
                room: self.opt_room("room")?,
                reason: self.opt_input("reason", Field::Reason)?,
            }),
            "topic" => {
                let room = self.room("room")?;
                match self.obj.get("topic") {
                    None => hub(Command::GetTopic(Some(room))),
                    Some(Value::Null) => hub(Command::SetTopic {
                        room: Some(room),
                        topic: None,
                    }),
                    Some(Value::String(s)) if s.trim().is_empty() => hub(Command::SetTopic {
                        room: Some(room),
                        topic: None,
                    }),
                    Some(_) => hub(Command::SetTopic {
                        room: Some(room),
                        topic: Some(self.input("topic", Field::Topic)?),
                    }),
                }
            }
            "members" => hub(Command::Members(self.opt_room("room")?)),
            "users" => hub(Command::Users),
            "rooms" => hub(Command::Rooms),
            "history" => hub(self.history()?),
            "search" => hub(Command::search(self.text("text")?)),
            "ignore" => hub(Command::Ignore(self.nick("nick")?)),
            "unignore" => hub(Command::Unignore(self.nick("nick")?)),
            "ignores" => hub(Command::Ignores),
            "typing" => hub(Command::Typing {
                to: self.target("to")?,
                active: self.opt_bool("active")?.unwrap_or(true),
            }),
            "away" => hub(Command::Away(self.opt_input("message", Field::Away)?)),
            "whois" => hub(Command::Whois(vec![self.nick("nick")?])),
            "whowas" => hub(Command::Whowas(self.nick("nick")?)),
            "stats" => hub(Command::Stats),
            "nick" => hub(Command::ChangeNick(self.nick("nick")?)),
            "kick" => hub(Command::Kick {
                room: self.room("room")?,
                nick: self.nick("nick")?,
                reason: self.opt_input("reason", Field::Reason)?,
            }),
            "invite" => hub(Command::Invite {
                nick: self.nick("nick")?,
                room: self.room("room")?,
            }),
            "mode" => {
                let room = self.room("room")?;
                match self.obj.get("changes") {
                    None | Some(Value::Null) => hub(Command::GetModes(room)),
                    Some(v) => hub(Command::SetModes {
                        room,
                        changes: self.mode_changes(v)?,
                    }),
                }
            }
            "bans" => hub(Command::Bans(self.room("room")?)),
            "resume" => hub(Command::Resume {
                after: self.msg_id("after")?.ok_or_else(|| missing("after"))?,
                limit: self.opt_limit()?.unwrap_or(DEFAULT_RESUME),
            }),
            "mark_read" => hub(Command::MarkRead {
                target: self.target("to")?,
                at: Bound::Id(self.msg_id("msg")?.ok_or_else(|| missing("msg"))?),
            }),
            "read_marker" => hub(Command::GetReadMarker(self.target("to")?)),
            "read_markers" => hub(Command::ReadMarkers),
            "quit" => hub(Command::Quit(self.opt_input("reason", Field::Reason)?)),
            other => {
                return Err(BadInput::new(
                    "unknown_type",
                    format!("there is no message type {:?}", truncate(other, 40)),
                ));
            }
        })
    }

    fn hello(&self) -> Result<Hello, BadInput> {
        match self.obj.get("v") {
            None => return Err(missing("v")),
            Some(v) if v.as_u64() == Some(VERSION) => {}
            Some(v) => {
                return Err(BadInput::new(
                    "bad_version",
                    format!(
                        "this server speaks version {VERSION} of the protocol, not {}",
                        truncate(&v.to_string(), 40)
                    ),
                ));
            }
        }
        let auth = if let Some(token) = self.opt_string("token")? {
            Auth::Token(token.to_owned())
        } else {
            let name = self.nick("name")?;
            match self.opt_string("password")? {
                Some(p) => Auth::Password {
                    name,
                    password: p.to_owned(),
                },
                None => Auth::Guest(name),
            }
        };
        Ok(Hello {
            auth,
            resume_after: self.msg_id("resume_after")?,
            auto_join: self.opt_bool("auto_join")?.unwrap_or(true),
        })
    }

    fn history(&self) -> Result<Command, BadInput> {
        let target = self.target("to")?;
        let before = self.msg_id("before")?;
        let after = self.msg_id("after")?;
        let limit = self.opt_limit()?.unwrap_or(DEFAULT_HISTORY);
        // Paging forward from `after` reads the earliest after it; every
        // other window reads the latest.
        let latest = !(after.is_some() && before.is_none());
        Ok(Command::ChatHistory {
            target,
            window: Window::Query(HistoryQuery {
                after: after.map(Bound::Id),
                before: before.map(Bound::Id),
                limit,
                latest,
            }),
        })
    }

    fn mode_changes(&self, v: &Value) -> Result<Vec<ModeChange>, BadInput> {
        let bad = |m: &str| BadInput::field("changes", m.to_owned());
        let Value::Array(items) = v else {
            return Err(bad(
                "\"changes\" must be a list of {\"mode\", \"add\", \"arg\"}",
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Some(obj) = item.as_object() else {
                return Err(bad("each change is an object {\"mode\", \"add\", \"arg\"}"));
            };
            let add = match obj.get("add") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("\"add\" must be true or false")),
            };
            let letter = obj.get("mode").and_then(Value::as_str).unwrap_or("");
            let arg = match obj.get("arg") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(Value::Number(n)) => {
                    return Err(bad(&format!("\"arg\" {n} must be a string")));
                }
                Some(_) => return Err(bad("\"arg\" must be a string")),
            };
            let need = |what: &str| {
                arg.ok_or_else(|| bad(&format!("mode {letter} needs an \"arg\": {what}")))
            };
            let nick = |what: &str| {
                let a = need(what)?;
                Nick::parse(a, self.limits.max_nick_len).map_err(|e| bad(&e.to_string()))
            };
            let mode = match letter {
                "t" => RoomMode::TopicOpsOnly,
                "n" => RoomMode::NoExternal,
                "m" => RoomMode::Moderated,
                "i" => RoomMode::InviteOnly,
                "s" => RoomMode::Secret,
                "k" if add => RoomMode::Key(Some(need("the key")?.to_owned())),
                "k" => RoomMode::Key(None),
                "l" if add => {
                    let n = need("the member limit")?
                        .parse::<usize>()
                        .map_err(|_| bad("the member limit must be a number"))?;
                    RoomMode::Limit(Some(n))
                }
                "l" => RoomMode::Limit(None),
                "o" => RoomMode::Op(nick("a nick")?),
                "v" => RoomMode::Voice(nick("a nick")?),
                "b" => RoomMode::Ban(need("a nick!ident@host mask")?.to_owned()),
                other => {
                    return Err(bad(&format!(
                        "unknown mode {:?}; modes are t n m i s k l o v b",
                        truncate(other, 10)
                    )));
                }
            };
            out.push(ModeChange { add, mode });
        }
        Ok(out)
    }

    fn string(&self, field: &'static str) -> Result<&str, BadInput> {
        self.opt_string(field)?.ok_or_else(|| missing(field))
    }

    fn opt_string(&self, field: &'static str) -> Result<Option<&str>, BadInput> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(BadInput::field(
                field,
                format!("\"{field}\" must be a string"),
            )),
        }
    }

    /// `"tags"`: client-only tags, an object of `+name` to a string value
    /// (`""` for none), as REST takes them (`wire::client_tags`); none
    /// when absent.
    fn opt_tags(&self) -> Result<ClientTags, BadInput> {
        let bad = |why: String| BadInput::field("tags", why);
        match self.obj.get("tags") {
            None | Some(Value::Null) => Ok(ClientTags::default()),
            Some(Value::Object(map)) => {
                let mut json = std::collections::BTreeMap::new();
                for (key, value) in map {
                    let Value::String(value) = value else {
                        return Err(bad(format!("the value of tag {key:?} must be a string")));
                    };
                    json.insert(key.clone(), value.clone());
                }
                crate::wire::client_tags(&json).map_err(bad)
            }
            Some(_) => Err(bad(
                "\"tags\" must be an object of client-only tags (\"+name\": \"value\")".into(),
            )),
        }
    }

    fn opt_minutes(&self) -> Result<Option<u64>, BadInput> {
        match self.obj.get("minutes") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Ok(Some(n)),
                _ => Err(BadInput::field(
                    "minutes",
                    "\"minutes\" must be a whole number of minutes, at least 1",
                )),
            },
        }
    }

    fn opt_bool(&self, field: &'static str) -> Result<Option<bool>, BadInput> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(BadInput::field(
                field,
                format!("\"{field}\" must be true or false"),
            )),
        }
    }

    fn msg_id(&self, field: &'static str) -> Result<Option<MsgId>, BadInput> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(|n| Some(MsgId(n))).ok_or_else(|| {
                BadInput::field(
                    field,
                    format!("\"{field}\" must be a message id (a number)"),
                )
            }),
        }
    }

    fn opt_limit(&self) -> Result<Option<usize>, BadInput> {
        match self.obj.get("limit") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
                _ => Err(BadInput::field(
                    "limit",
                    "\"limit\" must be a number of messages, at least 1",
                )),
            },
        }
    }

    fn nick(&self, field: &'static str) -> Result<Nick, BadInput> {
        let s = self.string(field)?;
        Nick::parse(s, self.limits.max_nick_len)
            .map_err(|e| BadInput::field(field, format!("{field}: {e}")))
    }

    fn room(&self, field: &'static str) -> Result<RoomName, BadInput> {
        let s = self.string(field)?;
        RoomName::parse(s, self.limits.max_room_len)
            .map_err(|e| BadInput::field(field, format!("{field}: {e}")))
    }

    fn opt_room(&self, field: &'static str) -> Result<Option<RoomName>, BadInput> {
        match self.opt_string(field)? {
            None => Ok(None),
            Some(_) => self.room(field).map(Some),
        }
    }

    /// A room (`#…`) or a user's name.
    fn target(&self, field: &'static str) -> Result<Target, BadInput> {
        let s = self.string(field)?;
        if s.starts_with('#') {
            self.room(field).map(Target::Room)
        } else {
            self.nick(field).map(Target::User)
        }
    }

    fn text(&self, field: &'static str) -> Result<Text, BadInput> {
        let s = self.string(field)?;
        Text::parse(s, self.limits.max_message_bytes)
            .map_err(|e| BadInput::field(field, format!("{field}: {e}")))
    }

    /// A topic, away message or reason in `field`: a text whose errors
    /// name what it is (`the topic contains …`).
    fn input(&self, field: &'static str, what: Field) -> Result<Text, BadInput> {
        let s = self.string(field)?;
        what.text(s, self.limits.max_message_bytes)
            .map_err(|e| BadInput::field(field, e.to_string()))
    }

    fn opt_input(&self, field: &'static str, what: Field) -> Result<Option<Text>, BadInput> {
        match self.opt_string(field)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(_) => self.input(field, what).map(Some),
        }
    }

    fn kind(&self) -> Result<MsgKind, BadInput> {
        match self.opt_string("kind")? {
            None | Some("say") => Ok(MsgKind::Say),
            Some("action") => Ok(MsgKind::Action),
            Some("notice") => Ok(MsgKind::Notice),
            Some(_) => Err(BadInput::field(
                "kind",
                "\"kind\" is \"say\", \"action\" or \"notice\"",
            )),
        }
    }
}

fn missing(field: &'static str) -> BadInput {
    BadInput::field(field, format!("the field \"{field}\" is missing"))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ---- rendering ----

/// A message as every web API shows it (the REST API's
/// [`MessageJson`](crate::wire::MessageJson), one definition):
/// `{"id", "time", "from", "target", "kind", "text"}`.
pub fn message_json(m: &Message) -> Value {
    serde_json::to_value(crate::wire::MessageJson::from(m)).expect("a message serializes to JSON")
}

fn messages_json(ms: &[Message]) -> Value {
    Value::Array(ms.iter().map(message_json).collect())
}

fn opt_text(t: &Option<Text>) -> Value {
    t.as_ref().map_or(Value::Null, |t| Value::from(t.as_str()))
}

/// Writes `{"type": kind, …fields, "re"?, "time"}`: the type first, for
/// people reading the traffic.
fn object(
    kind: &str,
    fields: &impl serde::Serialize,
    re: Option<&ReqId>,
    time: Timestamp,
) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("{\"type\":");
    out.push_str(&Value::from(kind).to_string());
    if let Some(re) = re {
        out.push_str(",\"re\":");
        out.push_str(&re.to_string());
    }
    // The fields' own object, without its braces (`{}`: none).
    let inner = serde_json::to_string(fields).expect("a map of JSON values");
    if let Some(inner) = inner.strip_prefix('{').and_then(|i| i.strip_suffix('}'))
        && !inner.is_empty()
    {
        out.push(',');
        out.push_str(inner);
    }
    out.push_str(",\"time\":\"");
    out.push_str(&rfc3339(time));
    out.push_str("\"}");
    out
}

/// An `error` event.
pub fn error(
    re: Option<&ReqId>,
    code: &str,
    field: Option<&str>,
    message: &str,
    time: Timestamp,
) -> String {
    let mut fields = json!({"code": code, "message": message});
    if let Some(f) = field {
        fields["field"] = Value::from(f);
    }
    object("error", &fields, re, time)
}

/// `ack`: the request is done; for a `send`, the message as stored.
pub fn ack(re: &ReqId, message: Option<&Message>, time: Timestamp) -> String {
    let fields = match message {
        Some(m) => json!({"message": message_json(m)}),
        None => json!({}),
    };
    object("ack", &fields, Some(re), time)
}

/// `pong`, the answer to `ping`.
pub fn pong(re: Option<&ReqId>, time: Timestamp) -> String {
    object("pong", &json!({}), re, time)
}

/// `welcome`, the answer to a successful `hello`.
pub fn welcome(
    re: Option<&ReqId>,
    nick: &Nick,
    account: bool,
    session: u64,
    online: usize,
    time: Timestamp,
) -> String {
    let fields = json!({
        "v": VERSION,
        "server": "confab",
        "name": nick.as_str(),
        "account": account,
        "session": session,
        "online": online,
    });
    object("welcome", &fields, re, time)
}

/// `resumed`: the messages missed, oldest first.
pub fn resumed(re: Option<&ReqId>, messages: &[Message], more: bool, time: Timestamp) -> String {
    let fields = json!({"messages": messages_json(messages), "more": more});
    object("resumed", &fields, re, time)
}

/// `history`: a window of a conversation, oldest first.
pub fn history(
    re: Option<&ReqId>,
    target: &Target,
    messages: &[Message],
    time: Timestamp,
) -> String {
    let fields = json!({"target": target.to_string(), "messages": messages_json(messages)});
    object("history", &fields, re, time)
}

/// The request field a value refused by the input rules came from
/// (`bad_value`).
fn error_field(e: &ChatError) -> Option<&'static str> {
    match e {
        ChatError::Input(e) => match e.field() {
            Field::Topic => Some("topic"),
            Field::Away => Some("message"),
            Field::Reason => Some("reason"),
            Field::Key => Some("key"),
            Field::BanMask | Field::Realname => None,
        },
        ChatError::BadModeParam { .. } => Some("changes"),
        _ => None,
    }
}

/// Whether an event reads the same for every recipient (and so is
/// rendered once into [`SLOT`], without `"re"`).
pub fn is_broadcast(ev: &Event) -> bool {
    matches!(
        ev,
        Event::Message { .. }
            | Event::Joined { .. }
            | Event::Parted { .. }
            | Event::Quit { .. }
            | Event::NickChanged { .. }
            | Event::TopicChanged { .. }
            | Event::ModeChanged { .. }
            | Event::Kicked { .. }
            | Event::Invited { .. }
            | Event::AwayChanged { .. }
            | Event::AccountChanged { .. }
            | Event::RealnameChanged { .. }
            | Event::Typing { .. }
            | Event::TagMsg { .. }
            | Event::Announcement(_)
            | Event::Wallops(_)
            | Event::ServerNotice(_)
            | Event::OfflineMessages { .. }
    )
}

/// `{"target", "msg", "marker_time"}`: where reading stopped in a
/// conversation (`null`s when nowhere yet).
fn marker_json(target: &Target, marker: &Option<Marker>) -> Value {
    json!({
        "target": target.to_string(),
        "msg": marker.and_then(|m| m.msg).map(|id| id.0),
        "marker_time": marker.map(|m| rfc3339(m.time)),
    })
}

/// A server-wide ban, as the WebSocket and REST admin show it.
pub fn kline_json(k: &confab_core::Kline) -> Value {
    json!({
        "mask": k.mask.to_string(),
        "reason": k.reason,
        "by": k.by,
        "set": rfc3339(k.set),
        "expires": k.expires.map(rfc3339),
    })
}

fn mode_json(c: &ModeChange) -> Value {
    json!({
        "mode": c.mode.letter().to_string(),
        "add": c.add,
        "arg": c.mode.param(),
    })
}

/// A `members` event's fields, serialized as they are: a join sends the
/// joiner the whole list, so a join storm renders a list per joiner, and
/// a `Value` per member (a map of six keys) was most of that work. Fields
/// in the order a `Value` would give them (alphabetical).
#[derive(serde::Serialize)]
struct MembersJson<'a> {
    members: Vec<MemberJson<'a>>,
    room: &'a str,
}

#[derive(serde::Serialize)]
struct MemberJson<'a> {
    account: bool,
    away: bool,
    nick: &'a str,
    op: bool,
    oper: bool,
    voice: bool,
}

impl<'a> From<&'a Member> for MemberJson<'a> {
    fn from(m: &'a Member) -> MemberJson<'a> {
        MemberJson {
            account: m.who.account,
            away: m.away,
            nick: m.who.nick.as_str(),
            op: m.status.op,
            oper: m.oper,
            voice: m.status.voice,
        }
    }
}

fn details_json(u: &UserDetails) -> Value {
    let rooms: Vec<Value> = u
        .rooms
        .iter()
        .map(|(r, s)| json!({"room": r.as_str(), "op": s.op, "voice": s.voice}))
        .collect();
    json!({
        "nick": u.who.nick.as_str(),
        "account": u.who.account,
        "host": &*u.who.host,
        "realname": &*u.who.realname,
        "away": opt_text(&u.away),
        "rooms": rooms,
        "signon": rfc3339(u.signon),
        "last_active": rfc3339(u.last_active),
        "oper": u.oper,
        "address": u.address.map(|ip| ip.to_string()),
        "online": u.last_seen.is_none(),
        "last_seen": u.last_seen.map(rfc3339),
    })
}

/// Renders an event, answering `re` when given. `None` for events this
/// door does not show (the current target, fences, door-own bytes, and
/// `welcome`/`resumed`, which the connection renders with its own state).
pub fn render(env: &Envelope, re: Option<&ReqId>) -> Option<String> {
    let time = env.time;
    let (kind, fields) = match &env.event {
        Event::Message { msg, offline } => {
            let mut f = json!({"message": message_json(msg)});
            if *offline {
                f["offline"] = Value::Bool(true);
            }
            ("message", f)
        }
        Event::Joined { room, nick } => (
            "joined",
            json!({"room": room.as_str(), "nick": nick.as_str()}),
        ),
        Event::Parted { room, nick, reason } => (
            "parted",
            json!({"room": room.as_str(), "nick": nick.as_str(), "reason": opt_text(reason)}),
        ),
        Event::Quit { nick, reason } => ("quit", json!({"nick": nick.as_str(), "reason": reason})),
        Event::NickChanged { old, new } => {
            ("nick", json!({"old": old.as_str(), "new": new.as_str()}))
        }
        Event::TopicChanged { room, by, topic } => (
            "topic",
            json!({"room": room.as_str(), "topic": opt_text(topic), "by": by.as_str()}),
        ),
        Event::TopicIs { room, topic } => {
            let f = match topic {
                Some(t) => json!({
                    "room": room.as_str(),
                    "topic": t.text.as_str(),
                    "by": t.by.as_str(),
                    "set_at": rfc3339(t.time),
                }),
                None => json!({"room": room.as_str(), "topic": null}),
            };
            ("topic_info", f)
        }
        Event::Rooms(rooms) => {
            let list: Vec<Value> = rooms
                .iter()
                .map(|r| json!({"name": r.name.as_str(), "members": r.members, "topic": opt_text(&r.topic)}))
                .collect();
            ("rooms", json!({"rooms": list}))
        }
        Event::Members { room, members, .. } => {
            let fields = MembersJson {
                members: members.iter().map(MemberJson::from).collect(),
                room: room.as_str(),
            };
            return Some(object("members", &fields, re, time));
        }
        Event::Users(users) => {
            let list: Vec<Value> = users
                .iter()
                .map(|u| {
                    json!({
                        "nick": u.nick.as_str(),
                        "online": u.online,
                        "last_seen": u.last_seen.map(rfc3339),
                    })
                })
                .collect();
            ("users", json!({"users": list}))
        }
        Event::IgnoreChanged { nick, ignoring } => (
            "ignore",
            json!({"nick": nick.as_str(), "ignoring": ignoring}),
        ),
        Event::Ignores(nicks) => {
            let list: Vec<&str> = nicks.iter().map(Nick::as_str).collect();
            ("ignores", json!({"nicks": list}))
        }
        Event::KeptForOffline { nick, guest } => {
            ("kept", json!({"nick": nick.as_str(), "guest": guest}))
        }
        Event::OfflineMessages { count } => ("offline", json!({"count": count})),
        Event::Error(e) => {
            return Some(error(re, e.code(), error_field(e), &e.to_string(), time));
        }
        Event::History { target, messages } => {
            return Some(history(re, target, messages, time));
        }
        Event::SearchResults { query, messages } => (
            "search",
            json!({"query": query, "messages": messages_json(messages)}),
        ),
        Event::Registered { nick } => ("registered", json!({"nick": nick.as_str()})),
        Event::ServerNotice(text) => ("notice", json!({"text": text})),
        Event::OperDone(done) => ("notice", json!({"text": done.to_string()})),
        Event::Bye { reason } => ("bye", json!({"reason": reason})),
        Event::ModeChanged { room, by, changes } => {
            let list: Vec<Value> = changes.iter().map(mode_json).collect();
            (
                "mode",
                json!({"room": room.as_str(), "by": by.as_str(), "changes": list}),
            )
        }
        Event::Modes {
            room,
            modes,
            created,
        } => {
            let (flags, _) = modes.to_flags();
            (
                "modes",
                json!({
                    "room": room.as_str(),
                    "flags": flags,
                    "topic_ops_only": modes.topic_ops_only,
                    "no_external": modes.no_external,
                    "moderated": modes.moderated,
                    "invite_only": modes.invite_only,
                    "secret": modes.secret,
                    "key": modes.key,
                    "limit": modes.limit,
                    "created": rfc3339(*created),
                }),
            )
        }
        Event::Bans { room, bans } => {
            let list: Vec<Value> = bans
                .iter()
                .map(|b| json!({"mask": b.mask, "by": b.by.as_str(), "time": rfc3339(b.time)}))
                .collect();
            ("bans", json!({"room": room.as_str(), "bans": list}))
        }
        Event::Kicked {
            room,
            by,
            nick,
            reason,
        } => (
            "kicked",
            json!({"room": room.as_str(), "by": by.as_str(), "nick": nick.as_str(), "reason": opt_text(reason)}),
        ),
        Event::Invited { room, by, nick } => (
            "invited",
            json!({"room": room.as_str(), "by": by.as_str(), "nick": nick.as_str()}),
        ),
        Event::AwayChanged { nick, away } => (
            "away",
            json!({"nick": nick.as_str(), "away": opt_text(away)}),
        ),
        Event::IsAway { nick, away } => (
            "is_away",
            json!({"nick": nick.as_str(), "away": away.as_str()}),
        ),
        Event::AccountChanged { nick } => ("account", json!({"nick": nick.as_str()})),
        Event::RealnameChanged { nick, realname } => (
            "realname",
            json!({"nick": nick.as_str(), "realname": realname}),
        ),
        Event::Whois { found, missing } => {
            let users: Vec<Value> = found.iter().map(details_json).collect();
            let missing: Vec<&str> = missing.iter().map(Nick::as_str).collect();
            ("whois", json!({"users": users, "missing": missing}))
        }
        Event::Whowas { nick, entries } => {
            let list: Vec<Value> = entries
                .iter()
                .map(|d| {
                    json!({
                        "nick": d.who.nick.as_str(),
                        "host": &*d.who.host,
                        "realname": &*d.who.realname,
                        "time": rfc3339(d.time),
                    })
                })
                .collect();
            ("whowas", json!({"nick": nick.as_str(), "entries": list}))
        }
        Event::Stats {
            users,
            invisible,
            sessions,
            opers,
            rooms,
            max_users,
        } => (
            "stats",
            json!({
                "users": users,
                "invisible": invisible,
                "sessions": sessions,
                "opers": opers,
                "rooms": rooms,
                "max_users": max_users
            }),
        ),
        Event::Conversations(list) => {
            let list: Vec<Value> = list
                .iter()
                .map(|(t, time)| json!({"target": t.to_string(), "latest": rfc3339(*time)}))
                .collect();
            ("conversations", json!({"conversations": list}))
        }
        Event::Typing { from, to, active } => (
            "typing",
            json!({"from": from.as_str(), "to": to.to_string(), "active": active}),
        ),
        Event::TagMsg { id, from, to, tags } => (
            "tagmsg",
            json!({
                "msgid": id.0,
                "from": from.as_str(),
                "to": to.to_string(),
                "tags": crate::wire::tags_map(tags)
            }),
        ),
        Event::Announcement(text) => ("announcement", json!({"text": text.as_str()})),
        Event::YoureOper { name } => ("oper", json!({"name": name})),
        Event::NoLongerOper => ("deoper", json!({})),
        Event::Klines(list) => {
            let list: Vec<Value> = list.iter().map(kline_json).collect();
            ("klines", json!({"klines": list}))
        }
        Event::Suspensions(list) => {
            let list: Vec<Value> = list
                .iter()
                .map(|(name, reason)| json!({"name": name.as_str(), "reason": reason}))
                .collect();
            ("suspensions", json!({"suspensions": list}))
        }
        Event::Wallops(text) => (
            "wallops",
            json!({"from": env.actor.as_ref().map(|a| a.nick.as_str()), "text": text.as_str()}),
        ),
        Event::ReadMarker { target, marker } => ("read_marker", marker_json(target, marker)),
        Event::ReadMarkers(list) => {
            let list: Vec<Value> = list
                .iter()
                .map(|(t, m)| marker_json(t, &Some(*m)))
                .collect();
            ("read_markers", json!({"markers": list}))
        }
        Event::Welcome { .. }
        | Event::Resumed { .. }
        | Event::TargetChanged(_)
        | Event::Local(_)
        | Event::Fence(_)
        | Event::Read(_)
        | Event::KeptPageEnd { .. } => return None,
    };
    Some(object(kind, &fields, re, time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::event::{Actor, Status};
    use std::sync::Arc;

    const LIMITS: ParseLimits = ParseLimits {
        max_nick_len: 16,
        max_room_len: 32,
        max_message_bytes: 100,
    };

    fn p(s: &str) -> Result<Incoming, BadInput> {
        parse(s, &LIMITS)
    }

    fn nick(s: &str) -> Nick {
        Nick::parse(s, 16).unwrap()
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s, 32).unwrap()
    }

    fn v(s: &str) -> Value {
        serde_json::from_str(s).expect("renders JSON")
    }

    #[test]
    fn request_ids_are_echoed_verbatim() {
        // A number is echoed as the number the client wrote, however many
        // digits it has: as a browser's JSON.parse (correctly rounded, like
        // Rust's `f64` parsing) reads both. serde_json's default float
        // parsing could be off by one unit in the last place, so a long id
        // came back as another number (found by the ws_protocol fuzz
        // target); the workspace enables its `float_roundtrip`.
        for id in [
            "118446744073709551616844674407370955161630",
            "0.30000000000000004",
            "2.2250738585072014e-308",
            "9007199254740993",
            "1.7976931348623157e308",
            "-12345678901234567890123",
        ] {
            let inc = p(&format!(r#"{{"type":"ping","id":{id}}}"#)).unwrap();
            let pong = v(&pong(inc.id.as_ref(), Timestamp(0)));
            let want: f64 = id.parse().unwrap();
            assert_eq!(pong["re"].as_f64(), Some(want), "{id}");
        }
        for id in ["18446744073709551615", "-9223372036854775808", "\"h1\""] {
            let inc = p(&format!(r#"{{"type":"ping","id":{id}}}"#)).unwrap();
            let pong = pong(inc.id.as_ref(), Timestamp(0));
            assert!(pong.contains(&format!(r#""re":{id}"#)), "{pong}");
        }
    }

    #[test]
    fn hello_variants() {
        let h = p(r##"{"type":"hello","v":1,"name":"alice"}"##).unwrap();
        assert_eq!(h.id, None);
        let Request::Hello(h) = h.request else {
            panic!()
        };
        assert_eq!(h.auth, Auth::Guest(nick("alice")));
        assert!(h.auto_join);
        assert_eq!(h.resume_after, None);

        let h = p(r##"{"type":"hello","v":1,"id":"h","name":"alice","password":"pw","resume_after":41,"auto_join":false}"##)
            .unwrap();
        assert_eq!(h.id, Some(json!("h")));
        let Request::Hello(h) = h.request else {
            panic!()
        };
        assert_eq!(
            h.auth,
            Auth::Password {
                name: nick("alice"),
                password: "pw".into()
            }
        );
        assert_eq!(h.resume_after, Some(MsgId(41)));
        assert!(!h.auto_join);
        assert!(!format!("{h:?}").contains("pw"), "no password in logs");

        let h = p(r##"{"type":"hello","v":1,"token":"cf1.x"}"##).unwrap();
        assert!(
            matches!(h.request, Request::Hello(Hello { auth: Auth::Token(ref t), .. }) if t == "cf1.x")
        );
    }

    #[test]
    fn hello_errors() {
        let e = p(r##"{"type":"hello","v":2,"name":"a"}"##).unwrap_err();
        assert_eq!(e.code, "bad_version");
        let e = p(r##"{"type":"hello","id":7,"name":"a"}"##).unwrap_err();
        assert_eq!(
            (e.code, e.field, e.id),
            ("bad_request", Some("v"), Some(json!(7)))
        );
        let e = p(r##"{"type":"hello","v":1}"##).unwrap_err();
        assert_eq!(e.field, Some("name"));
        let e = p(r##"{"type":"hello","v":1,"name":"1bad"}"##).unwrap_err();
        assert_eq!(e.field, Some("name"));
    }

    #[test]
    fn errors_quote_the_input_in_bounded_pieces() {
        // A `v` of any size was quoted whole (found with the ws_protocol
        // fuzz target's bound on error messages).
        let long = "x".repeat(5000);
        for v in [format!("{long:?}"), format!("[{}1]", "1,".repeat(2000))] {
            let e = p(&format!(r#"{{"type":"hello","v":{v}}}"#)).unwrap_err();
            assert_eq!(e.code, "bad_version");
            assert!(e.message.len() < 200, "{}", e.message);
        }
        let e = p(r#"{"type":"hello","v":2}"#).unwrap_err();
        assert!(e.message.ends_with("not 2"), "{}", e.message);
        let e = p(&format!(r#"{{"type":"{long}"}}"#)).unwrap_err();
        assert!(e.message.len() < 200, "{}", e.message);
    }

    #[test]
    fn malformed_input() {
        let cases = [
            ("{not json", "bad_json", None),
            ("[1,2]", "bad_json", None),
            ("\"hi\"", "bad_json", None),
            (r##"{"id":1}"##, "bad_request", Some("type")),
            (r##"{"type":5}"##, "bad_request", Some("type")),
            (r##"{"type":"fly"}"##, "unknown_type", None),
            (r##"{"type":"send","id":[1]}"##, "bad_request", Some("id")),
            (
                r##"{"type":"send","to":"#a"}"##,
                "bad_request",
                Some("text"),
            ),
            (
                r##"{"type":"send","text":"hi"}"##,
                "bad_request",
                Some("to"),
            ),
            (
                r##"{"type":"send","to":"#a","text":5}"##,
                "bad_request",
                Some("text"),
            ),
            (
                r##"{"type":"send","to":"#a","text":"  "}"##,
                "bad_request",
                Some("text"),
            ),
            (
                r##"{"type":"send","to":"#a","text":"x","kind":"shout"}"##,
                "bad_request",
                Some("kind"),
            ),
            (
                r##"{"type":"join","room":"#a b"}"##,
                "bad_request",
                Some("room"),
            ),
            (
                r##"{"type":"history","to":"#a","limit":0}"##,
                "bad_request",
                Some("limit"),
            ),
            (
                r##"{"type":"history","to":"#a","before":"x"}"##,
                "bad_request",
                Some("before"),
            ),
            (r##"{"type":"resume"}"##, "bad_request", Some("after")),
            (
                r##"{"type":"mark_read","to":"#a"}"##,
                "bad_request",
                Some("msg"),
            ),
            (
                r##"{"type":"mark_read","to":"#a","msg":"42"}"##,
                "bad_request",
                Some("msg"),
            ),
            (
                r##"{"type":"mark_read","msg":4}"##,
                "bad_request",
                Some("to"),
            ),
            (r##"{"type":"read_marker"}"##, "bad_request", Some("to")),
            (
                r##"{"type":"typing","to":"#a","active":"yes"}"##,
                "bad_request",
                Some("active"),
            ),
            (
                r##"{"type":"mode","room":"#a","changes":[{"mode":"q"}]}"##,
                "bad_request",
                Some("changes"),
            ),
            (
                r##"{"type":"mode","room":"#a","changes":[{"mode":"o"}]}"##,
                "bad_request",
                Some("changes"),
            ),
        ];
        for (input, code, field) in cases {
            let e = p(input).unwrap_err();
            assert_eq!((e.code, e.field), (code, field), "{input}: {e:?}");
        }
        let long = format!(
            r##"{{"type":"send","to":"#a","text":"{}"}}"##,
            "x".repeat(101)
        );
        assert_eq!(p(&long).unwrap_err().field, Some("text"));
    }

    #[test]
    fn commands() {
        let hub = |s: &str| match p(s).unwrap().request {
            Request::Hub(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            hub(r##"{"type":"send","id":"c1","to":"#a","text":"hi"}"##),
            Command::Send {
                to: Some(Target::Room(room("#a"))),
                kind: MsgKind::Say,
                text: Text::parse("hi", 100).unwrap(),
                tags: confab_core::ClientTags::default(),
            }
        );
        assert!(matches!(
            hub(r##"{"type":"send","to":"bob","text":"hi","kind":"action"}"##),
            Command::Send {
                to: Some(Target::User(_)),
                kind: MsgKind::Action,
                ..
            }
        ));
        assert_eq!(
            hub(r##"{"type":"topic","room":"#a"}"##),
            Command::GetTopic(Some(room("#a")))
        );
        assert_eq!(
            hub(r##"{"type":"topic","room":"#a","topic":null}"##),
            Command::SetTopic {
                room: Some(room("#a")),
                topic: None
            }
        );
        assert!(matches!(
            hub(r##"{"type":"topic","room":"#a","topic":"news"}"##),
            Command::SetTopic { topic: Some(_), .. }
        ));
        let Command::ChatHistory {
            window: Window::Query(q),
            ..
        } = hub(r##"{"type":"history","to":"#a","before":10,"limit":5}"##)
        else {
            panic!()
        };
        assert_eq!(
            q,
            HistoryQuery {
                after: None,
                before: Some(Bound::Id(MsgId(10))),
                limit: 5,
                latest: true
            }
        );
        let Command::ChatHistory {
            window: Window::Query(q),
            ..
        } = hub(r##"{"type":"history","to":"#a","after":10}"##)
        else {
            panic!()
        };
        assert_eq!(
            q,
            HistoryQuery {
                after: Some(Bound::Id(MsgId(10))),
                before: None,
                limit: DEFAULT_HISTORY,
                latest: false
            }
        );
        assert_eq!(
            hub(r##"{"type":"resume","after":3,"limit":9}"##),
            Command::Resume {
                after: MsgId(3),
                limit: 9
            }
        );
        assert_eq!(
            hub(r##"{"type":"typing","to":"#a"}"##),
            Command::Typing {
                to: Target::Room(room("#a")),
                active: true
            }
        );
        let Command::SetModes { changes, .. } = hub(
            r##"{"type":"mode","room":"#a","changes":[{"mode":"t"},{"mode":"o","arg":"bob"},{"mode":"k","add":false}]}"##,
        ) else {
            panic!()
        };
        assert_eq!(
            changes,
            vec![
                ModeChange {
                    add: true,
                    mode: RoomMode::TopicOpsOnly
                },
                ModeChange {
                    add: true,
                    mode: RoomMode::Op(nick("bob"))
                },
                ModeChange {
                    add: false,
                    mode: RoomMode::Key(None)
                },
            ]
        );
        assert_eq!(hub(r##"{"type":"away"}"##), Command::Away(None));
        assert_eq!(
            hub(r##"{"type":"mark_read","to":"#a","msg":42}"##),
            Command::MarkRead {
                target: Target::Room(room("#a")),
                at: Bound::Id(MsgId(42))
            }
        );
        assert_eq!(
            hub(r##"{"type":"read_marker","to":"bob"}"##),
            Command::GetReadMarker(Target::User(nick("bob")))
        );
        assert_eq!(hub(r##"{"type":"read_markers"}"##), Command::ReadMarkers);
        assert!(matches!(
            p(r##"{"type":"ping","id":3}"##).unwrap().request,
            Request::Ping
        ));
        assert!(matches!(
            p(r##"{"type":"register","password":"pw"}"##)
                .unwrap()
                .request,
            Request::Register { .. }
        ));
    }

    fn msg() -> Message {
        Message {
            id: MsgId(42),
            time: Timestamp(1_795_464_000_123),
            from: nick("alice"),
            to: Target::Room(room("#general")),
            kind: MsgKind::Say,
            text: Text::parse("hi", 100).unwrap(),
            tags: confab_core::ClientTags::default(),
        }
    }

    #[test]
    fn message_shape() {
        assert_eq!(
            message_json(&msg()),
            json!({"id": 42, "time": "2026-11-23T20:00:00.123Z", "from": "alice",
                   "target": "#general", "kind": "say", "text": "hi"})
        );
        let env = Envelope::new(
            Timestamp(1_795_464_000_123),
            Event::Message {
                msg: msg(),
                offline: false,
            },
        );
        let s = render(&env, None).unwrap();
        assert!(s.starts_with(r##"{"type":"message","##), "{s}");
        assert_eq!(
            v(&s),
            json!({"type": "message", "message": message_json(&msg()), "time": "2026-11-23T20:00:00.123Z"})
        );
    }

    #[test]
    fn replies_carry_re() {
        let env = Envelope::new(
            Timestamp(0),
            Event::Error(ChatError::NoSuchRoom(room("#x"))),
        );
        let e = v(&render(&env, Some(&json!("c9"))).unwrap());
        assert_eq!(e["type"], "error");
        assert_eq!(e["re"], "c9");
        assert_eq!(e["code"], "no_such_room");
        assert_eq!(e["message"], "there is no room called #x");
        assert_eq!(e["time"], "1970-01-01T00:00:00.000Z");
        let a = v(&ack(&json!(5), Some(&msg()), Timestamp(0)));
        assert_eq!(a["re"], 5);
        assert_eq!(a["message"]["id"], 42);
        let w = v(&welcome(
            Some(&json!("h")),
            &nick("bob"),
            false,
            7,
            3,
            Timestamp(0),
        ));
        assert_eq!(
            (w["v"].clone(), w["name"].clone(), w["session"].clone()),
            (json!(1), json!("bob"), json!(7))
        );
    }

    #[test]
    fn read_markers_render_with_nulls_where_nothing_was_read() {
        let at = Marker {
            time: Timestamp(1_795_464_000_123),
            msg: Some(MsgId(42)),
        };
        let env = Envelope::new(
            Timestamp(0),
            Event::ReadMarker {
                target: Target::Room(room("#a")),
                marker: Some(at),
            },
        );
        assert_eq!(
            v(&render(&env, Some(&json!(3))).unwrap()),
            json!({"type": "read_marker", "re": 3, "target": "#a", "msg": 42,
                   "marker_time": "2026-11-23T20:00:00.123Z", "time": "1970-01-01T00:00:00.000Z"})
        );
        let none = Envelope::new(
            Timestamp(0),
            Event::ReadMarker {
                target: Target::User(nick("bob")),
                marker: None,
            },
        );
        let j = v(&render(&none, None).unwrap());
        assert_eq!(
            (&j["target"], &j["msg"], &j["marker_time"]),
            (&json!("bob"), &Value::Null, &Value::Null)
        );
        let list = Envelope::new(
            Timestamp(0),
            Event::ReadMarkers(vec![(
                Target::User(nick("bob")),
                Marker { msg: None, ..at },
            )]),
        );
        assert_eq!(
            v(&render(&list, None).unwrap())["markers"],
            json!([{"target": "bob", "msg": null, "marker_time": "2026-11-23T20:00:00.123Z"}])
        );
    }

    #[test]
    fn every_event_renders_typed_json() {
        let actor = Arc::new(Actor {
            nick: nick("alice"),
            ident: "alice".into(),
            host: "127.0.0.1".into(),
            realname: "Alice".into(),
            account: true,
        });
        let t = Text::parse("x", 100).unwrap();
        let events = vec![
            Event::Joined {
                room: room("#a"),
                nick: nick("bob"),
            },
            Event::Parted {
                room: room("#a"),
                nick: nick("bob"),
                reason: None,
            },
            Event::Quit {
                nick: nick("bob"),
                reason: "bye".into(),
            },
            Event::NickChanged {
                old: nick("bob"),
                new: nick("rob"),
            },
            Event::TopicChanged {
                room: room("#a"),
                by: nick("bob"),
                topic: Some(t.clone()),
            },
            Event::TopicIs {
                room: room("#a"),
                topic: None,
            },
            Event::Members {
                room: room("#a"),
                members: vec![Member {
                    who: actor.clone(),
                    status: Status {
                        op: true,
                        voice: false,
                    },
                    away: false,
                    oper: false,
                }],
                secret: false,
            },
            Event::Users(vec![]),
            Event::Typing {
                from: nick("bob"),
                to: Target::Room(room("#a")),
                active: true,
            },
            Event::Announcement(t.clone()),
            Event::AwayChanged {
                nick: nick("bob"),
                away: None,
            },
            Event::Kicked {
                room: room("#a"),
                by: nick("bob"),
                nick: nick("alice"),
                reason: None,
            },
            Event::Bye {
                reason: "Quit".into(),
            },
            Event::SearchResults {
                query: "x".into(),
                messages: vec![msg()],
            },
            Event::History {
                target: Target::Room(room("#a")),
                messages: vec![msg()],
            },
        ];
        for ev in events {
            let env = Envelope::new(Timestamp(5), ev);
            let s = render(&env, None).unwrap();
            let j = v(&s);
            assert!(j["type"].is_string(), "{s}");
            assert_eq!(j["time"], "1970-01-01T00:00:00.005Z", "{s}");
            assert!(j.get("re").is_none());
        }
        let hidden = Envelope::new(Timestamp(0), Event::Fence(1));
        assert_eq!(render(&hidden, None), None);
    }

    #[test]
    fn a_member_list_reads_as_it_always_did() {
        let who = |name: &str, account: bool| {
            Arc::new(Actor {
                nick: nick(name),
                ident: name.into(),
                host: "h".into(),
                realname: "r".into(),
                account,
            })
        };
        let member = |name: &str, op: bool, away: bool| Member {
            who: who(name, op),
            status: Status { op, voice: !op },
            away,
            oper: away,
        };
        let env = Envelope::new(
            Timestamp(5),
            Event::Members {
                room: room("#a"),
                members: vec![member("alice", true, false), member("bob\\", false, true)],
                secret: false,
            },
        );
        let re = json!("r1");
        assert_eq!(
            render(&env, Some(&re)).unwrap(),
            concat!(
                r#"{"type":"members","re":"r1","members":["#,
                r#"{"account":true,"away":false,"nick":"alice","op":true,"oper":false,"voice":false},"#,
                r#"{"account":false,"away":true,"nick":"bob\\","op":false,"oper":true,"voice":true}],"#,
                r##""room":"#a","time":"1970-01-01T00:00:00.005Z"}"##
            )
        );
    }
}
