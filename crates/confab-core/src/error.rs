//! [`ChatError`]: why the hub refused a command. Each is a reply to the
//! user (rendered by their door), never a reason to end a task.

use crate::event::{MsgId, Target};
use crate::input::InputError;
use crate::names::{Nick, RoomName};

/// The `Display` text is door-neutral (no door's command syntax): a door
/// that has its own words for the way out says them itself (the line
/// door's `render::said`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("choose a name first")]
    NotLoggedIn,
    #[error("you already have a name; change it rather than choosing one again")]
    AlreadyLoggedIn,
    #[error("the name {0} is taken; choose another")]
    NickInUse(Nick),
    #[error("the name {0} is reserved for the server; choose another")]
    NickReserved(Nick),
    #[error("there is no user called {0}")]
    NoSuchUser(Nick),
    #[error("there is no room called {0}")]
    NoSuchRoom(RoomName),
    #[error("you are not in {0}")]
    NotInRoom(RoomName),
    #[error(
        "you are in no room and talk to nobody: join a room or start a private conversation first"
    )]
    NoTarget,
    #[error("you are not in any room")]
    NoRoom,
    #[error("you cannot ignore yourself")]
    IgnoreSelf,
    #[error("you are not ignoring {0}")]
    NotIgnoring(Nick),
    #[error("you are in {0} rooms, the most allowed; leave one first")]
    TooManyRooms(usize),
    #[error("{0} has too many unread messages; try again when they have read them")]
    OfflineQueueFull(Nick),
    #[error("{0} is offline and has no account, and this server keeps no messages for guests")]
    GuestNotKept(Nick),
    #[error("the name {0} is registered; log in to it with its password, or choose another")]
    NickRegistered(Nick),
    #[error("this server is for registered users only; log in to an account")]
    GuestsNotAllowed,
    #[error("you are logged in to the account {0}, whose name cannot change")]
    AccountNameFixed(Nick),
    #[error("you are already registered as {0}")]
    AlreadyRegistered(Nick),
    #[error("you are already logged in to the account {0}")]
    AlreadyIdentified(Nick),
    #[error("only a registered account has a password; register your name first")]
    NotAnAccount,
    #[error("this server keeps no history (it runs without storage)")]
    NoStorage,
    #[error("private history and search are for registered users; register your name first")]
    GuestsNoPrivateHistory,
    #[error("could not store that, so it was not sent: {0}")]
    Storage(String),
    #[error("permission denied: you are not a server operator")]
    NotServerOper,
    #[error("you are banned from this server: {0}")]
    ServerBanned(String),
    #[error("there is no server ban on {0}")]
    NoSuchKline(String),
    #[error("the account {name} is suspended: {reason}")]
    Suspended { name: Nick, reason: String },
    #[error("the account {0} is not suspended")]
    NotSuspended(Nick),
    #[error(
        "the server is in lockdown: no new guests or registrations for now; accounts can still log in"
    )]
    Lockdown,
    #[error("you are not an operator of {0}")]
    NotOperator(RoomName),
    #[error("you are banned from {0}")]
    Banned(RoomName),
    #[error("{0} is invite-only; ask a member for an invitation")]
    InviteOnly(RoomName),
    #[error("{0} needs a key to join, and that was not it")]
    BadKey(RoomName),
    #[error("{0} is full")]
    RoomFull(RoomName),
    #[error("you cannot send to {0} (you are not a member, are banned, or it is moderated)")]
    CannotSend(RoomName),
    #[error("{nick} is not in {room}")]
    UserNotInRoom { nick: Nick, room: RoomName },
    #[error("{nick} is already in {room}")]
    AlreadyInRoom { nick: Nick, room: RoomName },
    #[error("{0} is not online")]
    NotOnline(Nick),
    #[error("the ban list of {0} is full")]
    BanListFull(RoomName),
    #[error("that is not a valid value: {0}")]
    BadValue(String),
    #[error("there is no message {} in {target} that you can read", id.0)]
    NoSuchMessage { target: Target, id: MsgId },
    /// A topic, away message, real name, reason or join key that breaks
    /// the input rules (`input`); nothing was changed.
    #[error("{0}")]
    Input(InputError),
    /// A key or ban mask that breaks the input rules, in a mode change;
    /// that change was not made (the others of the same command were).
    #[error("{error}; mode {mode} of {room} was not changed")]
    BadModeParam {
        room: RoomName,
        mode: char,
        error: InputError,
    },
}
