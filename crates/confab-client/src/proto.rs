//! The WebSocket JSON protocol v1 (`docs/protocol.md`) as the client sees
//! it: [`Request`]s out (wrapped with their id in [`Outgoing`]), typed
//! [`Incoming`] events in. Pure serde types, no I/O.
//!
//! The server side is `crates/confab-server/src/ws/protocol.rs`; field
//! names here follow its rendering exactly. Unknown fields are ignored and
//! an unknown `type` parses as [`ServerEvent::Unknown`], so a newer server
//! never breaks an older client.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// The protocol version this client speaks (`hello`'s `v`).
pub const VERSION: u32 = 1;
/// The WebSocket subprotocol that selects this protocol.
pub const SUBPROTOCOL: &str = "confab.v1";

/// A request id. The client always sends numbers; the server echoes them
/// as `re`.
pub type ReqId = u64;
/// A message id: unique per server, increasing.
pub type MsgId = u64;
/// A time as the server sends it (RFC 3339, UTC).
pub type Time = DateTime<Utc>;

/// Hands out request ids, one sequence per connection's lifetime shared by
/// everyone who sends on it (the session, the model, the UI), so an id
/// never answers two requests. Cloning shares the sequence.
#[derive(Debug, Clone, Default)]
pub struct IdSource(Arc<AtomicU64>);

impl IdSource {
    /// The next id (the first is 1).
    pub fn next(&self) -> ReqId {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `request` with the next id.
    pub fn outgoing(&self, request: Request) -> Outgoing {
        Outgoing {
            id: Some(self.next()),
            request,
        }
    }
}

/// Whether a name is a room's (`#…`) rather than a user's.
pub fn is_room(name: &str) -> bool {
    name.starts_with('#')
}

/// The key a name compares by: rooms by Unicode lowercase, nicks by ASCII
/// lowercase, as the server's `RoomKey`/`NickKey` do.
pub fn key_of(name: &str) -> String {
    if is_room(name) {
        name.to_lowercase()
    } else {
        name.to_ascii_lowercase()
    }
}

/// A password or token: sent on the wire, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The kind of a chat message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsgKind {
    #[default]
    Say,
    /// `/me`.
    Action,
    Notice,
}

/// A chat message, the same shape in the WebSocket and REST APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MsgId,
    pub time: Time,
    pub from: String,
    /// The room, or for a private message the recipient's name.
    pub target: String,
    #[serde(default)]
    pub kind: MsgKind,
    pub text: String,
}

impl Message {
    /// The conversation this message belongs to, seen by `me`: its room,
    /// or the other person of a private message.
    pub fn conversation<'a>(&'a self, me: &str) -> &'a str {
        if is_room(&self.target) || key_of(&self.from) == key_of(me) {
            &self.target
        } else {
            &self.from
        }
    }
}

/// A request with its id, as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outgoing {
    /// `None` asks for no `ack` (errors then come without `re`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ReqId>,
    #[serde(flatten)]
    pub request: Request,
}

impl Outgoing {
    /// The JSON text of one WebSocket frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("requests serialize to JSON")
    }
}

/// What the client asks of the server. docs/protocol.md, "Requests".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// The first request of a connection. Exactly one of `name` (guest,
    /// or account with `password`) and `token`.
    Hello {
        v: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        password: Option<Secret>,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<Secret>,
        /// `Some(false)`: do not join the server's default room.
        #[serde(skip_serializing_if = "Option::is_none")]
        auto_join: Option<bool>,
        /// Resume after this message id once logged in.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_after: Option<MsgId>,
    },
    Send {
        to: String,
        text: String,
        kind: MsgKind,
        /// An upload id (from `POST /api/v1/uploads`) whose link the server
        /// appends to the text.
        #[serde(skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    Join {
        room: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    Part {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// `topic: None` asks; `Some(None)` clears; `Some(Some(t))` sets.
    Topic {
        room: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<Option<String>>,
    },
    Members {
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<String>,
    },
    Users,
    Rooms,
    /// Messages strictly between the bounds, oldest first; with only
    /// `after` the earliest `limit` after it, otherwise the latest.
    History {
        to: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        before: Option<MsgId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<MsgId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Search {
        text: String,
    },
    Ignore {
        nick: String,
    },
    Unignore {
        nick: String,
    },
    Ignores,
    Typing {
        to: String,
        active: bool,
    },
    /// With a message, away; without, back.
    Away {
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Whois {
        nick: String,
    },
    Nick {
        nick: String,
    },
    Register {
        password: Secret,
    },
    Kick {
        room: String,
        nick: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Invite {
        room: String,
        nick: String,
    },
    MarkRead {
        to: String,
        msg: MsgId,
    },
    ReadMarker {
        to: String,
    },
    ReadMarkers,
    Resume {
        after: MsgId,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Ping,
    Quit {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Request {
    /// A guest's `hello`.
    pub fn hello_guest(name: &str) -> Request {
        Request::Hello {
            v: VERSION,
            name: Some(name.to_owned()),
            password: None,
            token: None,
            auto_join: None,
            resume_after: None,
        }
    }

    /// The request's `type`, for messages to people.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Send { .. } => "send",
            Request::Join { .. } => "join",
            Request::Part { .. } => "part",
            Request::Topic { .. } => "topic",
            Request::Members { .. } => "members",
            Request::Users => "users",
            Request::Rooms => "rooms",
            Request::History { .. } => "history",
            Request::Search { .. } => "search",
            Request::Ignore { .. } => "ignore",
            Request::Unignore { .. } => "unignore",
            Request::Ignores => "ignores",
            Request::Typing { .. } => "typing",
            Request::Away { .. } => "away",
            Request::Whois { .. } => "whois",
            Request::Nick { .. } => "nick",
            Request::Register { .. } => "register",
            Request::Kick { .. } => "kick",
            Request::Invite { .. } => "invite",
            Request::MarkRead { .. } => "mark_read",
            Request::ReadMarker { .. } => "read_marker",
            Request::ReadMarkers => "read_markers",
            Request::Resume { .. } => "resume",
            Request::Ping => "ping",
            Request::Quit { .. } => "quit",
        }
    }
}

/// One server message: the request it answers (`re`), its time, and what
/// it says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Incoming {
    /// The id of the request this answers; `None` for broadcasts.
    #[serde(default, deserialize_with = "lenient_id")]
    pub re: Option<ReqId>,
    /// When the server sent it (the epoch if a server left it out).
    #[serde(default)]
    pub time: Time,
    #[serde(flatten)]
    pub event: ServerEvent,
}

impl Incoming {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Incoming, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A broadcast (no `re`) at `time`; handy for tests and local events.
    pub fn new(time: Time, event: ServerEvent) -> Incoming {
        Incoming {
            re: None,
            time,
            event,
        }
    }
}

/// `re` as sent by this client is a number; anything else (another
/// client's string id cannot reach us, but a server bug might) reads as
/// none rather than failing the whole event.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ReqId>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_u64())
}

/// A room member as `members` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MemberInfo {
    pub nick: String,
    #[serde(default)]
    pub account: bool,
    #[serde(default)]
    pub op: bool,
    #[serde(default)]
    pub voice: bool,
    #[serde(default)]
    pub away: bool,
}

/// A reason as the client shows it after an event: ` (reason)`, or
/// nothing when there is none.
pub fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

impl MemberInfo {
    /// IRC's mark before a member's name: `@` operator, `+` voice.
    pub fn sigil(&self) -> &'static str {
        if self.op {
            "@"
        } else if self.voice {
            "+"
        } else {
            ""
        }
    }
}

/// A known user as `users` lists it (presence).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    pub nick: String,
    pub online: bool,
    #[serde(default)]
    pub last_seen: Option<Time>,
}

/// A room as `rooms` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub members: u64,
    #[serde(default)]
    pub topic: Option<String>,
}

/// One mode change of a `mode` broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ModeChange {
    pub mode: String,
    #[serde(default = "yes")]
    pub add: bool,
    #[serde(default)]
    pub arg: Option<String>,
}

impl ModeChange {
    /// Changes as IRC writes them, each on its own: `+o bob -k`.
    pub fn describe(changes: &[ModeChange]) -> String {
        let mut out = String::new();
        for c in changes {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(if c.add { '+' } else { '-' });
            out.push_str(&c.mode);
            if let Some(arg) = &c.arg {
                out.push(' ');
                out.push_str(arg);
            }
        }
        out
    }
}

fn yes() -> bool {
    true
}

/// Where reading stopped in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MarkerInfo {
    pub target: String,
    #[serde(default)]
    pub msg: Option<MsgId>,
    #[serde(default)]
    pub marker_time: Option<Time>,
}

/// A room in a `whois` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WhoisRoom {
    pub room: String,
    #[serde(default)]
    pub op: bool,
    #[serde(default)]
    pub voice: bool,
}

/// A user in a `whois` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WhoisUser {
    pub nick: String,
    #[serde(default)]
    pub account: bool,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub realname: String,
    #[serde(default)]
    pub away: Option<String>,
    #[serde(default)]
    pub rooms: Vec<WhoisRoom>,
    #[serde(default)]
    pub signon: Option<Time>,
    #[serde(default)]
    pub last_active: Option<Time>,
    /// When a registered user who is offline was last connected (none:
    /// online).
    #[serde(default)]
    pub last_seen: Option<Time>,
}

/// What the server says. docs/protocol.md, "Events" and each request's
/// answers. The `re` and `time` every message carries are in [`Incoming`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// The answer to a successful `hello`.
    Welcome {
        #[serde(default)]
        v: u32,
        #[serde(default)]
        server: String,
        /// The name we have (the server may have fixed its case).
        name: String,
        #[serde(default)]
        account: bool,
        #[serde(default)]
        session: u64,
        #[serde(default)]
        online: u64,
    },
    /// A request is done; for a `send`, the message as stored.
    Ack {
        #[serde(default)]
        message: Option<Message>,
    },
    /// A request was refused (nothing changed), or an error with no request.
    Error {
        code: String,
        message: String,
        #[serde(default)]
        field: Option<String>,
    },
    /// A chat message; `offline` for one kept while we were away.
    Message {
        message: Message,
        #[serde(default)]
        offline: bool,
    },
    /// That many kept private messages follow.
    Offline {
        count: u64,
    },
    Joined {
        room: String,
        nick: String,
    },
    Parted {
        room: String,
        nick: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Quit {
        nick: String,
        #[serde(default)]
        reason: String,
    },
    Nick {
        old: String,
        new: String,
    },
    /// The topic was set (`None`: cleared).
    Topic {
        room: String,
        #[serde(default)]
        topic: Option<String>,
        by: String,
    },
    /// What the topic is (answer to asking, and part of joining).
    TopicInfo {
        room: String,
        #[serde(default)]
        topic: Option<String>,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        set_at: Option<Time>,
    },
    Members {
        room: String,
        members: Vec<MemberInfo>,
    },
    Users {
        users: Vec<UserInfo>,
    },
    Rooms {
        rooms: Vec<RoomInfo>,
    },
    /// A window of a conversation, oldest first.
    History {
        target: String,
        messages: Vec<Message>,
    },
    Search {
        #[serde(default)]
        query: String,
        messages: Vec<Message>,
    },
    /// Messages missed since `resume_after`/`after`, oldest first; `more`
    /// when a limit cut it short.
    Resumed {
        messages: Vec<Message>,
        #[serde(default)]
        more: bool,
    },
    Typing {
        from: String,
        to: String,
        #[serde(default = "yes")]
        active: bool,
    },
    /// Someone is away (`Some(message)`) or back (`None`).
    Away {
        nick: String,
        #[serde(default)]
        away: Option<String>,
    },
    /// Someone's name became an account.
    Account {
        nick: String,
    },
    Realname {
        nick: String,
        realname: String,
    },
    Mode {
        room: String,
        by: String,
        changes: Vec<ModeChange>,
    },
    /// A room's modes (answer to asking).
    Modes {
        room: String,
        #[serde(default)]
        flags: String,
    },
    Kicked {
        room: String,
        by: String,
        nick: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Invited {
        room: String,
        by: String,
        nick: String,
    },
    /// From the admin API, to everyone.
    Announcement {
        text: String,
    },
    /// From the server itself.
    Notice {
        text: String,
    },
    /// Our read marker of a conversation (moved, or as asked); `msg: None`
    /// where nothing was marked.
    ReadMarker {
        target: String,
        #[serde(default)]
        msg: Option<MsgId>,
        #[serde(default)]
        marker_time: Option<Time>,
    },
    ReadMarkers {
        markers: Vec<MarkerInfo>,
    },
    /// A private message to an offline user was kept for them; `guest`:
    /// the name has no account, so whoever next uses it reads it.
    Kept {
        nick: String,
        #[serde(default)]
        guest: bool,
    },
    /// A private message went to someone away.
    IsAway {
        nick: String,
        away: String,
    },
    Whois {
        #[serde(default)]
        users: Vec<WhoisUser>,
        #[serde(default)]
        missing: Vec<String>,
    },
    /// Our guest name became an account.
    Registered {
        nick: String,
    },
    Ignores {
        nicks: Vec<String>,
    },
    Ignore {
        nick: String,
        ignoring: bool,
    },
    Pong,
    /// The last message: the server closes.
    Bye {
        #[serde(default)]
        reason: String,
    },
    /// A type this client does not know (a newer server's).
    #[serde(other)]
    Unknown,
}

impl ServerEvent {
    /// Whether this event ends a request (the answer `re` waits for).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ServerEvent::Ack { .. }
                | ServerEvent::Error { .. }
                | ServerEvent::Pong
                | ServerEvent::Bye { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(s: &str) -> Incoming {
        Incoming::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn wire(r: Request, id: Option<ReqId>) -> Value {
        serde_json::from_str(&Outgoing { id, request: r }.to_json()).unwrap()
    }

    #[test]
    fn requests_serialize_as_the_server_reads_them() {
        let cases = [
            (
                Request::Hello {
                    v: 1,
                    name: Some("alice".into()),
                    password: Some(Secret("pw".into())),
                    token: None,
                    auto_join: Some(false),
                    resume_after: Some(41),
                },
                json!({"type":"hello","id":1,"v":1,"name":"alice","password":"pw","auto_join":false,"resume_after":41}),
            ),
            (
                Request::hello_guest("bob"),
                json!({"type":"hello","id":1,"v":1,"name":"bob"}),
            ),
            (
                Request::Send {
                    to: "#a".into(),
                    text: "hi".into(),
                    kind: MsgKind::Action,
                    upload: None,
                },
                json!({"type":"send","id":1,"to":"#a","text":"hi","kind":"action"}),
            ),
            (
                Request::Topic {
                    room: "#a".into(),
                    topic: None,
                },
                json!({"type":"topic","id":1,"room":"#a"}),
            ),
            (
                Request::Topic {
                    room: "#a".into(),
                    topic: Some(None),
                },
                json!({"type":"topic","id":1,"room":"#a","topic":null}),
            ),
            (
                Request::History {
                    to: "#a".into(),
                    before: Some(10),
                    after: None,
                    limit: Some(50),
                },
                json!({"type":"history","id":1,"to":"#a","before":10,"limit":50}),
            ),
            (
                Request::MarkRead {
                    to: "bob".into(),
                    msg: 42,
                },
                json!({"type":"mark_read","id":1,"to":"bob","msg":42}),
            ),
            (Request::ReadMarkers, json!({"type":"read_markers","id":1})),
            (
                Request::Resume {
                    after: 120,
                    limit: Some(200),
                },
                json!({"type":"resume","id":1,"after":120,"limit":200}),
            ),
            (Request::Ping, json!({"type":"ping","id":1})),
            (
                Request::Quit { reason: None },
                json!({"type":"quit","id":1}),
            ),
        ];
        for (req, want) in cases {
            let kind = req.kind();
            let got = wire(req, Some(1));
            assert_eq!(got, want);
            assert_eq!(got["type"], kind);
        }
        assert_eq!(
            wire(
                Request::Typing {
                    to: "#a".into(),
                    active: true
                },
                None
            ),
            json!({"type":"typing","to":"#a","active":true})
        );
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let r = Request::Register {
            password: Secret("hunter22".into()),
        };
        assert!(!format!("{r:?}").contains("hunter22"));
        assert!(wire(r, None).to_string().contains("hunter22"));
    }

    #[test]
    fn welcome_ack_and_error_parse_with_their_re() {
        let w = parse(
            r#"{"type":"welcome","re":"h1","v":1,"server":"confab","name":"alice","account":false,"session":7,"online":3,"time":"2026-11-23T20:00:00.001Z"}"#,
        );
        assert_eq!(w.re, None, "a string id is not ours");
        assert!(
            matches!(w.event, ServerEvent::Welcome { ref name, session: 7, .. } if name == "alice")
        );
        let a = parse(
            r##"{"type":"ack","re":2,"message":{"id":57,"time":"2026-11-23T20:00:01.000Z","from":"alice","target":"#rust","kind":"say","text":"hi all"},"time":"2026-11-23T20:00:01.002Z"}"##,
        );
        assert_eq!(a.re, Some(2));
        let ServerEvent::Ack { message: Some(m) } = a.event else {
            panic!("{a:?}")
        };
        assert_eq!(
            (m.id, m.text.as_str(), m.kind),
            (57, "hi all", MsgKind::Say)
        );
        assert_eq!(m.time.to_rfc3339(), "2026-11-23T20:00:01+00:00");
        let e = parse(
            r#"{"type":"error","re":3,"code":"bad_request","field":"room","message":"room: bad","time":"2026-11-23T20:00:00.000Z"}"#,
        );
        assert_eq!(e.re, Some(3));
        assert_eq!(
            e.event,
            ServerEvent::Error {
                code: "bad_request".into(),
                message: "room: bad".into(),
                field: Some("room".into())
            }
        );
        assert!(e.event.is_final());
        assert_eq!(
            parse(r#"{"type":"ack","re":4,"time":"2026-11-23T20:00:00.000Z"}"#).event,
            ServerEvent::Ack { message: None }
        );
    }

    #[test]
    fn every_event_the_server_renders_parses() {
        // Shapes copied from the server's rendering (ws/protocol.rs).
        let t = r#""time":"2026-11-23T20:00:00.123Z""#;
        let msg = r##"{"id":42,"time":"2026-11-23T20:00:00.123Z","from":"alice","target":"#general","kind":"say","text":"hi"}"##;
        let cases: Vec<(String, &str)> = vec![
            (
                format!(r#"{{"type":"message","message":{msg},{t}}}"#),
                "message",
            ),
            (
                format!(r#"{{"type":"message","message":{msg},"offline":true,{t}}}"#),
                "message",
            ),
            (format!(r#"{{"type":"offline","count":2,{t}}}"#), "offline"),
            (
                format!(r##"{{"type":"joined","room":"#a","nick":"bob",{t}}}"##),
                "joined",
            ),
            (
                format!(r##"{{"type":"parted","room":"#a","nick":"bob","reason":null,{t}}}"##),
                "parted",
            ),
            (
                format!(r#"{{"type":"quit","nick":"bob","reason":"bye",{t}}}"#),
                "quit",
            ),
            (
                format!(r#"{{"type":"nick","old":"bob","new":"rob",{t}}}"#),
                "nick",
            ),
            (
                format!(r##"{{"type":"topic","room":"#a","topic":null,"by":"bob",{t}}}"##),
                "topic",
            ),
            (
                format!(
                    r##"{{"type":"topic_info","room":"#a","topic":"x","by":"bob","set_at":"2026-11-23T20:00:00.123Z",{t}}}"##
                ),
                "topic_info",
            ),
            (
                format!(r##"{{"type":"topic_info","room":"#a","topic":null,{t}}}"##),
                "topic_info",
            ),
            (
                format!(
                    r##"{{"type":"members","room":"#a","members":[{{"nick":"alice","account":true,"op":true,"voice":false,"away":false}}],{t}}}"##
                ),
                "members",
            ),
            (
                format!(
                    r#"{{"type":"users","users":[{{"nick":"bob","online":false,"last_seen":"2026-11-23T19:00:00.000Z"}},{{"nick":"al","online":true,"last_seen":null}}],{t}}}"#
                ),
                "users",
            ),
            (
                format!(
                    r##"{{"type":"rooms","rooms":[{{"name":"#rust","members":2,"topic":"crabs"}}],{t}}}"##
                ),
                "rooms",
            ),
            (
                format!(r##"{{"type":"history","re":1,"target":"#a","messages":[{msg}],{t}}}"##),
                "history",
            ),
            (
                format!(r#"{{"type":"search","re":1,"query":"hi","messages":[{msg}],{t}}}"#),
                "search",
            ),
            (
                format!(r#"{{"type":"resumed","re":1,"messages":[{msg}],"more":false,{t}}}"#),
                "resumed",
            ),
            (
                format!(r##"{{"type":"typing","from":"bob","to":"#a","active":true,{t}}}"##),
                "typing",
            ),
            (
                format!(r#"{{"type":"away","nick":"bob","away":null,{t}}}"#),
                "away",
            ),
            (
                format!(r#"{{"type":"account","nick":"bob",{t}}}"#),
                "account",
            ),
            (
                format!(r#"{{"type":"realname","nick":"bob","realname":"Bob",{t}}}"#),
                "realname",
            ),
            (
                format!(
                    r##"{{"type":"mode","room":"#a","by":"al","changes":[{{"mode":"o","add":true,"arg":"bob"}},{{"mode":"t","add":false,"arg":null}}],{t}}}"##
                ),
                "mode",
            ),
            (
                format!(
                    r##"{{"type":"modes","room":"#a","flags":"+nt","topic_ops_only":true,"key":null,"limit":null,"created":"2026-11-23T20:00:00.123Z",{t}}}"##
                ),
                "modes",
            ),
            (
                format!(
                    r##"{{"type":"kicked","room":"#a","by":"al","nick":"bob","reason":null,{t}}}"##
                ),
                "kicked",
            ),
            (
                format!(r##"{{"type":"invited","room":"#a","by":"al","nick":"bob",{t}}}"##),
                "invited",
            ),
            (
                format!(r#"{{"type":"announcement","text":"Maintenance",{t}}}"#),
                "announcement",
            ),
            (
                format!(r#"{{"type":"notice","text":"hello",{t}}}"#),
                "notice",
            ),
            (
                format!(
                    r##"{{"type":"read_marker","target":"#a","msg":42,"marker_time":"2026-11-23T20:00:00.123Z",{t}}}"##
                ),
                "read_marker",
            ),
            (
                format!(
                    r#"{{"type":"read_marker","re":3,"target":"bob","msg":null,"marker_time":null,{t}}}"#
                ),
                "read_marker",
            ),
            (
                format!(
                    r##"{{"type":"read_markers","markers":[{{"target":"#a","msg":42,"marker_time":"2026-11-23T20:00:00.123Z"}}],{t}}}"##
                ),
                "read_markers",
            ),
            (
                format!(r#"{{"type":"kept","re":1,"nick":"bob",{t}}}"#),
                "kept",
            ),
            (
                format!(r#"{{"type":"is_away","re":1,"nick":"bob","away":"lunch",{t}}}"#),
                "is_away",
            ),
            (
                format!(
                    r##"{{"type":"whois","re":1,"users":[{{"nick":"bob","account":false,"host":"10.0.0.2","realname":"bob","away":null,"rooms":[{{"room":"#a","op":false,"voice":false}}],"signon":"2026-11-23T20:00:00.123Z","last_active":"2026-11-23T20:00:00.123Z"}}],"missing":["zed"],{t}}}"##
                ),
                "whois",
            ),
            (
                format!(r#"{{"type":"registered","re":1,"nick":"bob",{t}}}"#),
                "registered",
            ),
            (
                format!(r#"{{"type":"ignores","re":1,"nicks":["troll"],{t}}}"#),
                "ignores",
            ),
            (
                format!(r#"{{"type":"ignore","re":1,"nick":"troll","ignoring":true,{t}}}"#),
                "ignore",
            ),
            (format!(r#"{{"type":"pong","re":9,{t}}}"#), "pong"),
            (
                format!(r#"{{"type":"bye","reason":"server shutting down",{t}}}"#),
                "bye",
            ),
        ];
        for (json, kind) in cases {
            let ev = parse(&json);
            assert_ne!(ev.event, ServerEvent::Unknown, "{json}");
            let debug = format!("{:?}", ev.event).to_lowercase().replace('_', "");
            assert!(debug.starts_with(&kind.replace('_', "")), "{kind}: {debug}");
            assert_eq!(ev.time.to_rfc3339(), "2026-11-23T20:00:00.123+00:00");
        }
    }

    #[test]
    fn unknown_types_and_fields_do_not_break_parsing() {
        let ev = parse(r#"{"type":"hologram","re":5,"depth":3,"time":"2026-11-23T20:00:00.000Z"}"#);
        assert_eq!((ev.re, ev.event), (Some(5), ServerEvent::Unknown));
        let ev = parse(
            r#"{"type":"notice","text":"x","colour":"red","time":"2026-11-23T20:00:00.000Z"}"#,
        );
        assert_eq!(ev.event, ServerEvent::Notice { text: "x".into() });
        assert!(Incoming::parse("{not json").is_err());
        assert!(Incoming::parse(r#"{"type":"joined"}"#).is_err());
    }

    #[test]
    fn a_message_belongs_to_its_room_or_the_other_person() {
        let m = |from: &str, target: &str| Message {
            id: 1,
            time: Time::default(),
            from: from.into(),
            target: target.into(),
            kind: MsgKind::Say,
            text: "x".into(),
        };
        assert_eq!(m("bob", "#a").conversation("alice"), "#a");
        assert_eq!(m("bob", "alice").conversation("Alice"), "bob");
        assert_eq!(m("ALICE", "bob").conversation("alice"), "bob");
        assert_eq!(key_of("#Rust"), "#rust");
        assert_eq!(key_of("BoB"), "bob");
    }
}
