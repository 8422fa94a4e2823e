//! confab's terminal client, behind `confab chat` and `confab connect`.
//!
//! # Layout
//!
//! - `proto`: the WebSocket JSON protocol v1 (docs/protocol.md) as the
//!   client sees it: requests out, typed events in. Pure.
//! - `model`: the chat as the user sees it: buffers (rooms and private
//!   conversations) with a capped scrollback, members, topics, unread
//!   counts and read markers. Server events in, effects out. Pure, the same
//!   rules as the browser client's `web/client/js/chat.js`.
//! - `commands`: the slash commands, parsed into actions. Pure.
//! - `safe`: other people's text made safe for a terminal (one rule for
//!   the full-screen client and line mode). Pure.
//! - `session`: the connection task: connects (plain or TLS), logs in,
//!   reconnects with backoff and resumes, numbers requests.
//! - `line`: plain line mode, for pipes and scripts.
//! - `tui`: the full-screen client (ratatui + crossterm).
//!
//! Only `session` does network I/O and only `line` and `tui` touch the
//! terminal; everything else is tested without either.

pub mod commands;
pub mod line;
pub mod model;
pub mod proto;
pub mod safe;
pub mod session;
pub mod tui;
