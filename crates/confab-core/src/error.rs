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
    /// A search whose words the index cannot take.
    #[error("the search query is not valid: {0}")]
    BadQuery(String),
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

impl From<crate::store::StoreError> for ChatError {
    /// A store's failure as the user hears of it: a search the index
    /// cannot take is the user's to fix, anything else the server's.
    fn from(e: crate::store::StoreError) -> ChatError {
        match e {
            crate::store::StoreError::BadQuery(why) => ChatError::BadQuery(why),
            e => ChatError::Storage(e.to_string()),
        }
    }
}

impl ChatError {
    /// A stable, machine-readable name for the refusal, for the doors that
    /// send codes (the WebSocket protocol's `error.code`). Exhaustive: a
    /// new refusal needs its code here.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::NotLoggedIn => "not_logged_in",
            ChatError::AlreadyLoggedIn => "already_logged_in",
            ChatError::NickInUse(_) => "nick_in_use",
            ChatError::NoSuchUser(_) => "no_such_user",
            ChatError::NoSuchRoom(_) => "no_such_room",
            ChatError::NotInRoom(_) => "not_in_room",
            ChatError::NoTarget => "no_target",
            ChatError::NoRoom => "no_room",
            ChatError::IgnoreSelf => "ignore_self",
            ChatError::NotIgnoring(_) => "not_ignoring",
            ChatError::TooManyRooms(_) => "too_many_rooms",
            ChatError::OfflineQueueFull(_) => "offline_queue_full",
            ChatError::GuestNotKept(_) => "guest_not_kept",
            ChatError::NickRegistered(_) => "nick_registered",
            ChatError::GuestsNotAllowed => "guests_not_allowed",
            ChatError::AccountNameFixed(_) => "account_name_fixed",
            ChatError::AlreadyRegistered(_) => "already_registered",
            ChatError::AlreadyIdentified(_) => "already_logged_in",
            ChatError::NotAnAccount => "not_an_account",
            ChatError::NoStorage => "no_storage",
            ChatError::GuestsNoPrivateHistory => "guests_no_private_history",
            ChatError::Storage(_) => "storage",
            ChatError::BadQuery(_) => "bad_query",
            ChatError::NotOperator(_) => "not_operator",
            ChatError::NotServerOper => "not_server_oper",
            ChatError::ServerBanned(_) => "banned_from_server",
            ChatError::NoSuchKline(_) => "no_such_kline",
            ChatError::Suspended { .. } => "suspended",
            ChatError::NotSuspended(_) => "not_suspended",
            ChatError::Lockdown => "lockdown",
            ChatError::NickReserved(_) => "nick_reserved",
            ChatError::Banned(_) => "banned",
            ChatError::InviteOnly(_) => "invite_only",
            ChatError::BadKey(_) => "bad_key",
            ChatError::RoomFull(_) => "room_full",
            ChatError::CannotSend(_) => "cannot_send",
            ChatError::UserNotInRoom { .. } => "user_not_in_room",
            ChatError::AlreadyInRoom { .. } => "already_in_room",
            ChatError::NotOnline(_) => "not_online",
            ChatError::BanListFull(_) => "ban_list_full",
            ChatError::BadValue(_) => "bad_value",
            ChatError::NoSuchMessage { .. } => "no_such_message",
            ChatError::Input(_) | ChatError::BadModeParam { .. } => "bad_value",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn a_bad_search_is_the_users_to_fix_and_other_store_failures_the_servers() {
        let e = ChatError::from(StoreError::BadQuery("no words".into()));
        assert_eq!(e, ChatError::BadQuery("no words".into()));
        assert_eq!(e.code(), "bad_query");
        assert_eq!(e.to_string(), "the search query is not valid: no words");
        let e = ChatError::from(StoreError::DiskFull);
        assert_eq!(e, ChatError::Storage("the disk is full".into()));
        assert_eq!(e.code(), "storage");
    }
}
