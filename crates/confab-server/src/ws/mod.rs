//! The WebSocket door: confab's JSON protocol (docs/protocol.md).
//!
//! `protocol.rs` is the wire format, pure: client messages parsed into
//! requests (core `Command`s where one fits) and events rendered into JSON
//! text. `conn.rs` is the connection task: hello and authentication,
//! request ids, acknowledgements, resume without duplicates, heartbeats.

mod conn;
pub mod protocol;

pub use conn::{Conn, serve};
