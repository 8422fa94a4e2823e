//! The full-screen client (ratatui + crossterm).
//!
//! - `input`: the line editor (Emacs keys, history, multi-line input, Tab
//!   completion, a draft per buffer). Pure.
//! - `complete`: what Tab completes, from the model. Pure.
//! - `text`: sanitizing other people's text, nick colours, wrapping. Pure.
//! - `view`: the screen drawn from the model and `UiState`. Pure; tested
//!   with `TestBackend` snapshots (`tests.rs`, `snapshots/`).
//! - `app`: the event loop (keys, mouse, paste, resize, the session's
//!   events, a tick), notifications.
//! - `upload`: `/upload FILE` over REST.
//!
//! The binary calls [`run`]:
//!
//! ```text
//! pub async fn run(handle: SessionHandle, events: mpsc::Receiver<SessionEvent>,
//!                  model: Model, opts: &ConnectOptions) -> Result<Exit, Error>
//! ```
//!
//! `opts` are the options the session was started with (for `/upload`,
//! which speaks REST to the same server). It takes over the terminal (raw
//! mode, alternate screen, mouse capture, bracketed paste, focus events),
//! and gives it back as it found it on every way out: `/quit`, Ctrl-C,
//! SIGTERM, the session's end, an error, or a panic (a hook restores the
//! terminal before the panic message prints).

mod app;
pub mod complete;
pub mod input;
pub mod text;
mod upload;
pub mod view;

use std::io::{self, Stdout};
use std::sync::Once;

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
    EnableFocusChange, EnableMouseCapture,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use crate::model::Model;
use crate::session::{ConnectOptions, Fatal, SessionEvent, SessionHandle};

/// How the client ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `/quit`, or the session ended after a quit.
    Quit,
    /// Ctrl-C or SIGTERM (the server was told we quit).
    Interrupted,
    /// The session stopped for good: the login was refused, the server is
    /// unreachable or gone. The binary prints it and exits non-zero.
    Stopped(Fatal),
}

/// Why the client could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
}

/// Runs the full-screen client until the user leaves or the session ends.
/// See the module docs.
pub async fn run(
    handle: SessionHandle,
    events: mpsc::Receiver<SessionEvent>,
    model: Model,
    opts: &ConnectOptions,
) -> Result<Exit, Error> {
    install_panic_hook();
    let mut terminal = enter()?;
    // Restores on every way out of this function, `?` and panics included
    // (a panic also restores in the hook, before its message prints).
    let _restore = Restore;
    let mut app = app::App::new(model, handle, opts);
    let result = app.run(&mut terminal, events).await;
    drop(terminal);
    result
}

fn enter() -> Result<Terminal<CrosstermBackend<Stdout>>, Error> {
    enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        EnableFocusChange
    ) {
        restore();
        return Err(e.into());
    }
    match Terminal::new(CrosstermBackend::new(out)) {
        Ok(t) => Ok(t),
        Err(e) => {
            restore();
            Err(e.into())
        }
    }
}

/// Gives the terminal back: raw mode off, the main screen, no mouse
/// capture, the cursor shown. Safe to call twice.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableFocusChange,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        restore();
    }
}

/// A panic restores the terminal first, so its message is readable.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
