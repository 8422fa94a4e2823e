//! The IRC door's conformance suite: a real client on a real socket
//! against an in-process server, module by module, in the manner of
//! irctest. Each module holds many small cases, most of them tables run in
//! a loop with the case's name in every assertion message.
//!
//! Where the door and the IRC standards (RFC 1459/2812 as
//! modern.ircdocs.horse reads them, and the IRCv3 specifications) differ,
//! the tests follow the standards.

// The case tables are tuples of the columns each module needs.
#![allow(clippy::type_complexity)]

mod support;

#[path = "irc/client.rs"]
mod client;
#[path = "ws/client.rs"]
mod ws_client;

#[path = "irc/caps.rs"]
mod caps;
#[path = "irc/channels.rs"]
mod channels;
#[path = "irc/chathistory.rs"]
mod chathistory;
#[path = "irc/crossdoor.rs"]
mod crossdoor;
#[path = "irc/flood.rs"]
mod flood;
#[path = "irc/messages.rs"]
mod messages;
#[path = "irc/oper.rs"]
mod oper;
#[path = "irc/read_marker.rs"]
mod read_marker;
#[path = "irc/registration.rs"]
mod registration;
#[path = "irc/sasl.rs"]
mod sasl;
#[path = "irc/users.rs"]
mod users;
