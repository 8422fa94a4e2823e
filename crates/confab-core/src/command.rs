//! [`Command`]: what a session asks of the hub, already parsed and
//! validated by its door.

use crate::event::{MsgKind, Target};
use crate::names::{Nick, RoomName};
use crate::store::Account;
use crate::text::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take a name and enter the chat (the first command of a session).
    Login(Nick),
    /// Log in to a registered account whose password the door has
    /// checked (the first command of a session, like `Login`). An account
    /// may have several sessions at once.
    LoginAccount(Account),
    /// Register the session's guest name as an account with this password
    /// hash (the door hashes; the hub never sees a password).
    Register {
        password_hash: String,
    },
    /// Change name.
    ChangeNick(Nick),
    /// Join a room, creating it if it does not exist; it becomes current.
    Join(RoomName),
    /// Leave a room (the current one when `None`).
    Part {
        room: Option<RoomName>,
        reason: Option<Text>,
    },
    /// List the rooms with their member counts.
    Rooms,
    /// List the members of a room (the current one when `None`).
    Members(Option<RoomName>),
    /// List every known user, online or not.
    Users,
    /// Send a message; `to: None` means the session's current target.
    Send {
        to: Option<Target>,
        kind: MsgKind,
        text: Text,
    },
    /// Make a private conversation with `nick` the current target.
    Start(Nick),
    /// End the private conversation; the current room is the target again.
    Stop,
    /// Show the topic of a room (the current one when `None`).
    GetTopic(Option<RoomName>),
    /// Set (`Some`) or clear (`None`) the topic of a room.
    SetTopic {
        room: Option<RoomName>,
        topic: Option<Text>,
    },
    Ignore(Nick),
    Unignore(Nick),
    Ignores,
    /// Show up to `limit` earlier messages of the current target.
    History {
        limit: usize,
    },
    /// Search the messages the user may see.
    Search(Text),
    /// Leave the chat.
    Quit(Option<Text>),
}

impl Command {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Login(_) => "login",
            Command::LoginAccount(_) => "login-account",
            Command::Register { .. } => "register",
            Command::ChangeNick(_) => "nick",
            Command::Join(_) => "join",
            Command::Part { .. } => "part",
            Command::Rooms => "rooms",
            Command::Members(_) => "members",
            Command::Users => "users",
            Command::Send { .. } => "send",
            Command::Start(_) => "start",
            Command::Stop => "stop",
            Command::GetTopic(_) => "topic",
            Command::SetTopic { .. } => "set-topic",
            Command::Ignore(_) => "ignore",
            Command::Unignore(_) => "unignore",
            Command::Ignores => "ignores",
            Command::History { .. } => "history",
            Command::Search(_) => "search",
            Command::Quit(_) => "quit",
        }
    }
}
