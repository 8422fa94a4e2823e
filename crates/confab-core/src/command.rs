//! [`Command`]: what a session asks of the hub, already parsed and
//! validated by its door.

use crate::event::{ModeChange, MsgId, MsgKind, Target, Timestamp};
use crate::names::{Nick, NickKey, RoomName};
use crate::store::{Account, Bound, HistoryQuery};
use crate::tags::ClientTags;
use crate::text::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take a name and enter the chat (the first command of a session).
    Login(Nick),
    /// Log in to a registered account whose password the door has
    /// checked (the first command of a session, like `Login`). An account
    /// may have several sessions at once.
    LoginAccount(Account),
    /// A guest session logs in to an account whose password the door
    /// checked: the guest leaves (others see it quit), the account
    /// arrives. Like `LoginAccount` for a session without a name.
    Identify(Account),
    /// Register the session's guest name as an account with this password
    /// hash (the door hashes; the hub never sees a password).
    Register {
        password_hash: String,
    },
    /// Change name.
    ChangeNick(Nick),
    /// Sets the password of the session's account, `name` (which the door
    /// checked the old password of), and voids its older login tokens.
    SetPassword {
        name: NickKey,
        password_hash: String,
    },
    /// Join a room, creating it if it does not exist; it becomes current.
    /// `key` is the room's key, when it has one (`+k`). Like every
    /// free-form value of a command (keys, masks, topics, away messages,
    /// real names, reasons), the hub checks it against the input rules
    /// (`input`) before anything else.
    Join {
        room: RoomName,
        key: Option<String>,
    },
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
    /// `tags`: client-only tags to pass on with it (most have none).
    Send {
        to: Option<Target>,
        kind: MsgKind,
        text: Text,
        tags: ClientTags,
    },
    /// Client-only tags to a conversation with no message (IRC's
    /// `TAGMSG`), passed on to those in it and never stored.
    TagMsg {
        to: Target,
        tags: ClientTags,
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
    /// Search the messages the user may see (of one room, when `room` is
    /// given), newest last: at most `limit`, which the hub caps at its
    /// history limit ([`Command::search`]: everything, as many as it
    /// allows).
    Search {
        text: Text,
        room: Option<RoomName>,
        limit: usize,
    },
    /// Leave the chat.
    Quit(Option<Text>),
    /// Show a room's modes.
    GetModes(RoomName),
    /// Change a room's modes (operators only); the door parsed them.
    SetModes {
        room: RoomName,
        changes: Vec<ModeChange>,
    },
    /// Show a room's ban list.
    Bans(RoomName),
    /// Remove `nick` from `room` (operators only).
    Kick {
        room: RoomName,
        nick: Nick,
        reason: Option<Text>,
    },
    /// Invite `nick` to `room`.
    Invite {
        nick: Nick,
        room: RoomName,
    },
    /// Mark the user away with a message, or back (`None`).
    Away(Option<Text>),
    /// Change the user's real name.
    SetRealname(Text),
    /// Tell what is known of these names.
    Whois(Vec<Nick>),
    /// List the users online whose nick, `nick!ident@host`, host or real
    /// name matches a glob (`*`: everyone), but for invisible ones who
    /// share no room with the asker (IRC's `WHO mask`).
    Who(String),
    /// Be left out of WHO and of member lists for those who share no
    /// room with the user, or no longer (IRC's user mode `+i`).
    SetInvisible(bool),
    /// Tell who recently used a name.
    Whowas(Nick),
    /// Tell how big the server is.
    Stats,
    /// Read a window of a conversation (IRC's CHATHISTORY, the WebSocket
    /// protocol's paging).
    ChatHistory {
        target: Target,
        window: Window,
    },
    /// List the conversations with messages in a time window.
    Conversations {
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    },
    /// The user is typing in a conversation (`active`), or stopped. Not
    /// stored; the others in the conversation are told.
    Typing {
        to: Target,
        active: bool,
    },
    /// The messages of every conversation the user can read (its rooms,
    /// and its private messages when registered) with ids after `after`,
    /// at most `limit`: what a client missed while disconnected.
    Resume {
        after: MsgId,
        limit: usize,
    },
    /// The user has read `target` up to a message (by id, as the web
    /// doors know it) or a time (IRC's `MARKREAD`). The marker only moves
    /// forward; every session of the user is told when it does.
    MarkRead {
        target: Target,
        at: Bound,
    },
    /// Tell where the user stopped reading `target`.
    GetReadMarker(Target),
    /// List every read marker of the user.
    ReadMarkers,
    /// The session becomes a server operator under the oper name given;
    /// the door checked the oper password (`[[opers]]` in the config).
    Oper(String),
    /// The session stops being a server operator (IRC's `MODE nick -o`).
    Deoper,
    /// A server operator's command (server operators, and the REST
    /// admin, only).
    Operator(OperCommand),
}

/// What only server operators (and the REST admin) may ask:
/// [`Command::Operator`]. The hub runs each in `Hub::oper_command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperCommand {
    /// Disconnect every session of `nick`; the
    /// others see it quit with `Killed (oper (reason))`.
    Kill { nick: Nick, reason: Option<Text> },
    /// A notice to every server operator online.
    Wallops(Text),
    /// Ban a mask from the whole server: `$a:name`
    /// (an account), `nick!ident@host` (a glob) or an address or CIDR
    /// block; for `minutes`, or for good. Matching sessions are
    /// disconnected.
    Kline {
        mask: String,
        minutes: Option<u64>,
        reason: Option<Text>,
    },
    /// Lift the server-wide ban on a mask.
    Unkline(String),
    /// List the server-wide bans.
    Klines,
    /// Suspend an account: its sessions end and
    /// it cannot log in until unsuspended.
    Suspend { name: Nick, reason: Option<Text> },
    /// Lift an account's suspension.
    Unsuspend(Nick),
    /// List the suspended accounts.
    Suspensions,
    /// Turn lockdown on or off (`None`: tell whether it is on). While on,
    /// no new guests and no registrations; accounts still log in.
    Lockdown(Option<bool>),
}

impl OperCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            OperCommand::Kill { .. } => "kill",
            OperCommand::Wallops(_) => "wallops",
            OperCommand::Kline { .. } => "kline",
            OperCommand::Unkline(_) => "unkline",
            OperCommand::Klines => "klines",
            OperCommand::Suspend { .. } => "suspend",
            OperCommand::Unsuspend(_) => "unsuspend",
            OperCommand::Suspensions => "suspensions",
            OperCommand::Lockdown(_) => "lockdown",
        }
    }
}

/// Which messages of a conversation to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// A window by bounds (before, after, between, latest).
    Query(HistoryQuery),
    /// Up to `limit` messages around a point: about half before it, the
    /// rest from it on.
    Around { at: Bound, limit: usize },
}

impl Command {
    /// `Send` with no tags: what most messages are.
    pub fn send(to: Option<Target>, kind: MsgKind, text: Text) -> Command {
        Command::Send {
            to,
            kind,
            text,
            tags: ClientTags::default(),
        }
    }

    /// `Join` without a key.
    pub fn join(room: RoomName) -> Command {
        Command::Join { room, key: None }
    }

    /// `Search` of everything the user may see.
    pub fn search(text: Text) -> Command {
        Command::Search {
            text,
            room: None,
            limit: usize::MAX,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Login(_) => "login",
            Command::LoginAccount(_) => "login-account",
            Command::Identify(_) => "identify",
            Command::Register { .. } => "register",
            Command::SetPassword { .. } => "set-password",
            Command::ChangeNick(_) => "nick",
            Command::Join { .. } => "join",
            Command::Part { .. } => "part",
            Command::Rooms => "rooms",
            Command::Members(_) => "members",
            Command::Users => "users",
            Command::Send { .. } => "send",
            Command::TagMsg { .. } => "tagmsg",
            Command::Start(_) => "start",
            Command::Stop => "stop",
            Command::GetTopic(_) => "topic",
            Command::SetTopic { .. } => "set-topic",
            Command::Ignore(_) => "ignore",
            Command::Unignore(_) => "unignore",
            Command::Ignores => "ignores",
            Command::History { .. } => "history",
            Command::Search { .. } => "search",
            Command::Quit(_) => "quit",
            Command::GetModes(_) => "modes",
            Command::SetModes { .. } => "set-modes",
            Command::Bans(_) => "bans",
            Command::Kick { .. } => "kick",
            Command::Invite { .. } => "invite",
            Command::Away(_) => "away",
            Command::SetRealname(_) => "setname",
            Command::Whois(_) => "whois",
            Command::Who(_) => "who",
            Command::SetInvisible(_) => "set-invisible",
            Command::Whowas(_) => "whowas",
            Command::Stats => "stats",
            Command::ChatHistory { .. } => "chathistory",
            Command::Conversations { .. } => "conversations",
            Command::Typing { .. } => "typing",
            Command::Resume { .. } => "resume",
            Command::MarkRead { .. } => "mark-read",
            Command::GetReadMarker(_) => "read-marker",
            Command::ReadMarkers => "read-markers",
            Command::Oper(_) => "oper",
            Command::Deoper => "deoper",
            Command::Operator(op) => op.name(),
        }
    }
}
