//! confab's transport-agnostic core.
//!
//! # Layout
//!
//! - [`names`] and [`text`]: validated newtypes ([`Nick`], [`RoomName`],
//!   [`Text`]). Doors parse user input through them, so nothing malformed
//!   reaches the hub.
//! - [`input`]: the rules for the other values users set (room keys, ban
//!   masks, topics, away messages, real names, reasons), checked by the
//!   hub against [`InputLimits`] whichever door they came from.
//! - [`command`]: [`Command`], what a session asks for.
//! - [`event`]: [`Event`], what a session is told, in a shared
//!   [`Envelope`] that caches each door's rendering (fan-out renders once
//!   per door, not once per recipient).
//! - [`hub`]: [`Hub`], the state machine holding every chat rule.
//!
//! This crate knows nothing of sockets, bytes on the wire, async runtimes or
//! the clock: time is an argument, output goes to an [`Outbox`].

pub mod command;
pub mod error;
pub mod event;
pub mod hub;
pub mod input;
pub mod kline;
pub mod names;
pub mod rate;
pub mod read;
pub mod store;
pub mod tags;
pub mod text;

pub use command::{Command, OperCommand, Window};
pub use error::ChatError;
pub use event::{
    Actor, Ban, Delivery, Departed, Envelope, Event, Marker, Member, Message, ModeChange, MsgId,
    MsgKind, OperDone, Origin, RoomInfo, RoomMode, RoomModes, SessionId, Status, Target, Timestamp,
    Topic, UserDetails, UserInfo,
};
pub use hub::{ClientInfo, Hub, HubConfig, Outbox, QueueFull};
pub use input::{Field, InputError, InputLimits};
pub use kline::{Kline, KlineMask};
pub use names::{NameError, Nick, NickKey, RoomKey, RoomName};
pub use tags::{ClientTags, TagsError};
pub use text::{Text, TextError};
