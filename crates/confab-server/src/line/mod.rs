//! The line door: the human protocol that `telnet` and `nc` speak.
//!
//! [`codec`], [`parse`] and [`render`] are pure functions over bytes and
//! strings; [`conn`] is the only part that touches a socket.

pub mod codec;
pub mod conn;
pub mod parse;
pub mod render;
