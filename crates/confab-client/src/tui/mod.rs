//! The full-screen client (ratatui + crossterm).
//!
//! - `input`: the line editor (Emacs keys, history, multi-line input, Tab
//!   completion, a draft per buffer). Pure.
//!
//! The binary calls one function (the signature agreed with `session` and
//! `model`):
//!
//! ```text
//! pub async fn run(handle: SessionHandle, events: mpsc::Receiver<SessionEvent>, model: Model)
//!     -> Result<Exit, Error>
//! ```
//!
//! It takes over the terminal (raw mode, alternate screen, mouse capture),
//! draws the model, sends what is typed through the session, and gives the
//! terminal back as it found it on every way out: `/quit`, Ctrl-C, SIGTERM,
//! a lost session, or a panic.

pub mod complete;
pub mod input;
pub mod text;
pub mod view;
