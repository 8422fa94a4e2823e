//! The event loop: terminal events, the session's events and a tick in,
//! the model and the UI state updated, the screen redrawn when something
//! changed. Keys the app owns are handled here; every other key goes to
//! the line editor.

use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use super::complete::candidates;
use super::input::Outcome;
use super::view::{self, UiState, Zone};
use super::{Error, Exit};
use crate::commands::{self, Action};
use crate::model::{Effect, Model};
use crate::proto::Request;
use crate::session::{ConnectOptions, SessionEvent, SessionHandle};

/// How often the clock moves things on (typing expiry, countdowns, read
/// markers).
const TICK: Duration = Duration::from_millis(250);
/// How often "typing" is said again while typing goes on.
const TYPING_EVERY: Duration = Duration::from_secs(3);
/// Rows the mouse wheel scrolls.
const WHEEL_ROWS: usize = 3;

/// What came back from a task the app started.
enum Done {
    /// A message the server never acknowledged: the text goes back into
    /// the box, with why.
    Unsent { text: String, why: String },
    /// An upload finished: the link to send to `to`, or why not.
    Uploaded {
        to: String,
        result: Result<String, String>,
    },
}

pub(crate) struct App<'a> {
    model: Model,
    ui: UiState,
    handle: SessionHandle,
    opts: &'a ConnectOptions,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    dirty: bool,
    /// Where and when we last said we are typing.
    typing_sent: Option<(String, std::time::Instant)>,
    /// Set when the loop should end.
    exit: Option<Exit>,
    /// `CONFAB_CLIENT_TIMING`: where the budget script reads timings.
    timing: Option<Timing>,
}

/// Opt-in timings for `scripts/tui-budget.sh`: with
/// `CONFAB_CLIENT_TIMING=PATH` the client appends `connected <ms>` (the
/// session is logged in: hello answered, rooms joined) and then
/// `first_frame <ms> buffers=<n>` (the first frame drawn after it), in
/// milliseconds since the client started, once per run.
struct Timing {
    file: std::fs::File,
    start: std::time::Instant,
    connected: bool,
    drawn: bool,
}

impl Timing {
    fn from_env() -> Option<Timing> {
        let path = std::env::var_os("CONFAB_CLIENT_TIMING")?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()?;
        Some(Timing {
            file,
            start: std::time::Instant::now(),
            connected: false,
            drawn: false,
        })
    }

    /// Appends `WHAT <ms>[ EXTRA]`.
    fn write(&mut self, what: &str, extra: &str) {
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let _ = writeln!(self.file, "{what} {ms:.1}{extra}");
    }
}

impl<'a> App<'a> {
    pub(crate) fn new(model: Model, handle: SessionHandle, opts: &'a ConnectOptions) -> App<'a> {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        App {
            model,
            ui: UiState::new(Utc::now(), Zone::Local),
            handle,
            opts,
            done_tx,
            done_rx,
            dirty: true,
            typing_sent: None,
            exit: None,
            timing: Timing::from_env(),
        }
    }

    /// Runs until `/quit`, Ctrl-C, SIGTERM or the session's end.
    pub(crate) async fn run<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        mut events: mpsc::Receiver<SessionEvent>,
    ) -> Result<Exit, Error>
    where
        Error: From<B::Error>,
    {
        let mut keys = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(Error::Io)?;
        let mut session_open = true;
        loop {
            if self.dirty {
                self.draw(terminal)?;
            }
            if let Some(exit) = self.exit.take() {
                return Ok(exit);
            }
            tokio::select! {
                ev = keys.next() => match ev {
                    Some(Ok(ev)) => self.terminal_event(ev, terminal).await?,
                    Some(Err(e)) => return Err(Error::Io(e)),
                    None => return Ok(Exit::Quit),
                },
                ev = events.recv(), if session_open => match ev {
                    Some(ev) => {
                        self.session_event(ev);
                        // Take what else is queued before drawing: a burst
                        // (history on join, a resume) is one frame.
                        while let Ok(ev) = events.try_recv() {
                            self.session_event(ev);
                        }
                    }
                    None => {
                        session_open = false;
                        if self.exit.is_none() {
                            self.exit = Some(Exit::Quit);
                        }
                    }
                },
                Some(done) = self.done_rx.recv() => self.task_done(done),
                _ = tick.tick() => {
                    let now = Utc::now();
                    self.ui.now = now;
                    let effects = self.model.tick(now);
                    self.effects(effects).await;
                    // Countdowns and typing notices change with time.
                    self.dirty = true;
                }
                _ = sigterm.recv() => {
                    self.handle.quit(Some("terminated".into())).await;
                    return Ok(Exit::Interrupted);
                }
            }
        }
    }

    fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), Error>
    where
        Error: From<B::Error>,
    {
        terminal.draw(|f| view::draw(f, &self.model, &self.ui))?;
        self.dirty = false;
        if let Some(t) = &mut self.timing
            && t.connected
            && !t.drawn
        {
            t.drawn = true;
            let buffers = format!(" buffers={}", self.model.buffers().count());
            t.write("first_frame", &buffers);
        }
        let pane = self.ui.pane.get();
        if let Some(max) = pane.max_scroll {
            self.ui.scroll = self.ui.scroll.min(max);
        }
        let now = Utc::now();
        if self.ui.scroll == 0 {
            self.model.seen_latest(now);
        }
        // Scrolled to the top of what is here: ask for older history.
        if pane.at_top
            && self.ui.scroll > 0
            && let Some(name) = self.model.current_name().map(str::to_owned)
            && let Some(out) = self.model.older_request(&name)
        {
            drop(self.handle.send(out));
            self.dirty = true;
        }
        Ok(())
    }

    fn session_event(&mut self, ev: SessionEvent) {
        self.dirty = true;
        let now = Utc::now();
        match ev {
            SessionEvent::Event(inc) => {
                let effects = self.model.apply(&inc, now);
                for e in effects {
                    // Answers never ask to quit or upload; requests (a
                    // page on select) and notifications are carried out.
                    match e {
                        Effect::Request(out) => drop(self.handle.send(out)),
                        Effect::Notify { title, body } => notify(&title, &body),
                        Effect::Upload { .. } | Effect::Quit { .. } => {}
                    }
                }
                self.follow_current();
            }
            SessionEvent::State(state) => {
                if let Some(t) = &mut self.timing
                    && !t.connected
                    && state.is_online()
                {
                    t.connected = true;
                    t.write("connected", "");
                }
                self.model.set_conn(state);
            }
            SessionEvent::Fatal(f) => self.exit = Some(Exit::Stopped(f)),
        }
    }

    /// The editor shows the draft of the buffer now open.
    fn follow_current(&mut self) {
        let key = self
            .model
            .current()
            .map(|b| b.key.clone())
            .unwrap_or_default();
        self.ui.input.switch_buffer(&key);
    }

    fn switched(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        self.stop_typing();
        self.ui.scroll = 0;
        self.model.set_following(true);
        self.follow_current();
        effects
    }

    async fn terminal_event<B: Backend>(
        &mut self,
        ev: TermEvent,
        terminal: &mut Terminal<B>,
    ) -> Result<(), Error>
    where
        Error: From<B::Error>,
    {
        self.dirty = true;
        match ev {
            TermEvent::Key(key) if key.kind != KeyEventKind::Release => {
                if key.code == KeyCode::Char('l') && key.modifiers == KeyModifiers::CONTROL {
                    terminal.clear()?;
                    return Ok(());
                }
                self.key(key).await;
            }
            TermEvent::Paste(text) => {
                self.ui.input.paste(&text);
            }
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::ScrollUp => self.scroll_up(WHEEL_ROWS),
                MouseEventKind::ScrollDown => self.scroll_down(WHEEL_ROWS),
                _ => self.dirty = false,
            },
            TermEvent::FocusGained => self.model.set_focus(true),
            TermEvent::FocusLost => self.model.set_focus(false),
            TermEvent::Resize(..) => terminal.autoresize()?,
            _ => {}
        }
        Ok(())
    }

    fn page(&self) -> usize {
        self.ui.pane.get().height.saturating_sub(2).max(1)
    }

    fn scroll_up(&mut self, rows: usize) {
        self.ui.scroll += rows;
        self.model.set_following(false);
    }

    fn scroll_down(&mut self, rows: usize) {
        self.ui.scroll = self.ui.scroll.saturating_sub(rows);
        if self.ui.scroll == 0 {
            self.jump_to_latest();
        }
    }

    /// Back at the bottom: follow live messages again, and when the window
    /// had stopped short of them (paged far back), fetch the newest.
    fn jump_to_latest(&mut self) {
        self.ui.scroll = 0;
        self.model.set_following(true);
        if let Some(name) = self.model.current_name().map(str::to_owned)
            && let Some(out) = self.model.latest_request(&name)
        {
            drop(self.handle.send(out));
        }
    }

    async fn key(&mut self, key: KeyEvent) {
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let app = match key.code {
            KeyCode::Char('c') if ctrl => {
                self.handle.quit(None).await;
                self.exit = Some(Exit::Interrupted);
                return;
            }
            KeyCode::Char('a') if alt => Some(self.model.next_unread()),
            KeyCode::Char(c @ '1'..='9') if alt => {
                Some(self.model.select(usize::from(c as u8 - b'1')))
            }
            KeyCode::Char('n') if ctrl => Some(self.model.cycle(1)),
            KeyCode::Char('p') if ctrl => Some(self.model.cycle(-1)),
            KeyCode::Right if alt => Some(self.model.cycle(1)),
            KeyCode::Left if alt => Some(self.model.cycle(-1)),
            KeyCode::F(2) => {
                self.ui.show_members = !self.ui.show_members;
                return;
            }
            KeyCode::Char('m') if alt => {
                self.ui.show_members = !self.ui.show_members;
                return;
            }
            KeyCode::PageUp => {
                self.scroll_up(self.page());
                return;
            }
            KeyCode::PageDown => {
                self.scroll_down(self.page());
                return;
            }
            KeyCode::End if ctrl || alt => {
                self.jump_to_latest();
                return;
            }
            KeyCode::Home if ctrl || alt => {
                self.scroll_up(usize::MAX / 4);
                return;
            }
            _ => None,
        };
        if let Some(effects) = app {
            let effects = self.switched(effects);
            self.effects(effects).await;
            return;
        }
        let model = &self.model;
        let out = self
            .ui
            .input
            .handle(key, &mut |word, start| candidates(model, word, start));
        match out {
            Outcome::Submit(text) => {
                self.ui.note = None;
                self.stop_typing();
                self.submit(text).await;
            }
            Outcome::Edited => {
                self.ui.note = None;
                self.typing();
            }
            Outcome::Moved | Outcome::Ignored => {}
        }
    }

    /// Tells the open buffer we are typing: once every [`TYPING_EVERY`]
    /// while a message is being typed (the other side expires it), and
    /// that we stopped when the box is emptied or sent.
    fn typing(&mut self) {
        let text = self.ui.input.text();
        let active = !text.trim().is_empty() && !text.starts_with('/');
        let Some(to) = self.model.current_name().map(str::to_owned) else {
            return;
        };
        if !self.model.conn.is_online() {
            return;
        }
        let now = std::time::Instant::now();
        match (&self.typing_sent, active) {
            (Some((key, at)), true) if *key == to && now - *at < TYPING_EVERY => {}
            (_, true) => {
                drop(self.handle.request(Request::Typing {
                    to: to.clone(),
                    active: true,
                }));
                self.typing_sent = Some((to, now));
            }
            (Some(_), false) => self.stop_typing(),
            (None, false) => {}
        }
    }

    fn stop_typing(&mut self) {
        if let Some((to, _)) = self.typing_sent.take()
            && self.model.conn.is_online()
        {
            drop(self.handle.request(Request::Typing { to, active: false }));
        }
    }

    /// Enter: each non-blank line is its own message (or command), in order.
    async fn submit(&mut self, text: String) {
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.trim().is_empty()).collect();
        for (i, line) in lines.iter().enumerate() {
            let action = match commands::parse(line) {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    self.put_back(&lines[i..].join("\n"), e.0);
                    return;
                }
            };
            let say = matches!(action, Action::Say { .. });
            if say && !self.model.conn.is_online() {
                self.put_back(
                    &lines[i..].join("\n"),
                    "Not connected: your message stays here until the connection is back".into(),
                );
                return;
            }
            let now = Utc::now();
            match self.model.act(action, now) {
                Ok(effects) => {
                    if say {
                        self.send_messages(effects, line);
                    } else {
                        self.effects(effects).await;
                        self.follow_current();
                    }
                }
                Err(e) => {
                    self.put_back(&lines[i..].join("\n"), e.0);
                    return;
                }
            }
        }
    }

    /// A message's requests; one the server never answers (the connection
    /// dropped) comes back to the input box.
    fn send_messages(&mut self, effects: Vec<Effect>, line: &str) {
        for e in effects {
            let Effect::Request(out) = e else { continue };
            let ticket = self.handle.send(out);
            let done = self.done_tx.clone();
            let text = line.to_owned();
            tokio::spawn(async move {
                if let Err(e) = ticket.await
                    && e.code == "disconnected"
                {
                    let _ = done.send(Done::Unsent {
                        text,
                        why: format!("Not sent ({}): your message is back in the box", e.message),
                    });
                }
            });
        }
    }

    /// Puts text back into the input (unless something new was typed).
    fn put_back(&mut self, text: &str, why: String) {
        if self.ui.input.text().is_empty() {
            self.ui.input.set_text(text);
        }
        self.ui.note = Some(why);
    }

    async fn effects(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Request(out) => drop(self.handle.send(out)),
                Effect::Notify { title, body } => notify(&title, &body),
                Effect::Upload { path, to } => {
                    let opts = self.opts.clone();
                    let done = self.done_tx.clone();
                    self.ui.note = Some(format!("Uploading {}…", path.display()));
                    tokio::spawn(async move {
                        let result = super::upload::upload(&opts, &path).await;
                        let _ = done.send(Done::Uploaded { to, result });
                    });
                }
                Effect::Quit { reason } => {
                    self.handle.quit(reason).await;
                    self.exit = Some(Exit::Quit);
                }
            }
        }
    }

    fn task_done(&mut self, done: Done) {
        self.dirty = true;
        match done {
            Done::Unsent { text, why } => self.put_back(&text, why),
            Done::Uploaded { to, result } => match result {
                Ok(link) => {
                    self.ui.note = None;
                    let action = Action::Say {
                        to: Some(to),
                        text: link.clone(),
                        kind: crate::proto::MsgKind::Say,
                    };
                    match self.model.act(action, Utc::now()) {
                        Ok(effects) => self.send_messages(effects, &link),
                        Err(e) => self.ui.note = Some(e.0),
                    }
                }
                Err(why) => self.ui.note = Some(why),
            },
        }
    }
}

/// Rings the bell, with an OSC 777 desktop notification for terminals that
/// show them (others ignore it). Title and body are someone else's text:
/// only printable characters go out, and no `;` in the title (the field
/// separator).
pub(crate) fn notify(title: &str, body: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(osc777(title, body).as_bytes());
    let _ = out.flush();
}

pub(crate) fn osc777(title: &str, body: &str) -> String {
    let clean = |s: &str, max: usize, semicolon: bool| -> String {
        super::text::sanitize(s)
            .chars()
            .filter(|c| !c.is_control() && (semicolon || *c != ';'))
            .filter(|c| !matches!(c, '␀'..='␡'))
            .take(max)
            .collect()
    };
    format!(
        "\x1b]777;notify;{};{}\x1b\\\x07",
        clean(title, 80, false),
        clean(body, 200, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_carry_no_escape_of_their_own() {
        let s = osc777("bob;evil\x1b]0;x\x07", "hi\x1b\\ there\x07; ok");
        assert_eq!(s, "\x1b]777;notify;bobevil]0x;hi\\ there; ok\x1b\\\x07");
        // Exactly one ESC-introduced OSC and its terminator.
        assert_eq!(s.matches('\x1b').count(), 2);
        assert_eq!(s.matches('\x07').count(), 1);
    }
}
