//! Drawing: the whole screen from the model and the UI's own state, and
//! nothing else. Pure (no I/O, no clock: `ui.now` is the time to show
//! countdowns against), so every view is tested with ratatui's
//! `TestBackend` (see `tests.rs`).
//!
//! ```text
//! ┌ topic line: #room: topic ─────────────────────────────────────────┐
//! │ buffers │ messages                                      │ members  │
//! │ 1 #lobby│ ──── Thursday 3 December 2026 ────            │ @alice   │
//! │ 2 bob  2│ 12:01 <alice> hello                           │  bob     │
//! ├ status line: [online 12 ms] alice in #lobby · bob is typing… ─────┤
//! └ [#lobby] input…                                                   ┘
//! ```
//!
//! Every text another user wrote goes through `text::sanitize` first.

use std::cell::Cell;

use chrono::{DateTime, FixedOffset, Local, NaiveDate, TimeZone};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::input::Editor;
use super::text::{nick_colour, sanitize, truncate, width, wrap};
use crate::model::{Buffer, BufferKind, ConnState, EventKind, Item, Model, is_compactable};
use crate::proto::{MsgKind, Time};

/// The smallest terminal the client draws in; below it, a message says so.
pub const MIN_WIDTH: u16 = 20;
pub const MIN_HEIGHT: u16 = 6;
/// The most rows the input grows to with multi-line text.
const INPUT_MAX_ROWS: u16 = 5;
/// The most completion candidates shown at once.
const POPUP_ROWS: usize = 8;

/// Which clock the timestamps read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's local time zone.
    Local,
    /// A fixed offset (tests use UTC, so snapshots do not depend on the
    /// machine).
    Fixed(FixedOffset),
}

impl Zone {
    pub fn utc() -> Zone {
        Zone::Fixed(FixedOffset::east_opt(0).expect("zero offset"))
    }

    fn at(self, t: Time) -> DateTime<FixedOffset> {
        match self {
            Zone::Local => t.with_timezone(&Local).fixed_offset(),
            Zone::Fixed(z) => z.from_utc_datetime(&t.naive_utc()),
        }
    }
}

/// What the last drawing of the message pane found, for the app to clamp
/// its scrolling and to know when to ask for older history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaneInfo {
    /// Rows of the pane.
    pub height: usize,
    /// Every item of the buffer was laid out, and the view shows the
    /// oldest: scrolling up needs older history from the server.
    pub at_top: bool,
    /// The largest useful `scroll` when everything was laid out.
    pub max_scroll: Option<usize>,
}

/// The UI's own state: what the model does not know.
#[derive(Debug)]
pub struct UiState {
    pub input: Editor,
    /// How many rows the message pane is scrolled up from the bottom.
    pub scroll: usize,
    /// Whether the member list is shown (F2 / Alt-M).
    pub show_members: bool,
    pub zone: Zone,
    /// Now, for the retry countdown.
    pub now: Time,
    /// A short note for the status line (an error about the input).
    pub note: Option<String>,
    /// Filled in by `draw`.
    pub pane: Cell<PaneInfo>,
}

impl UiState {
    pub fn new(now: Time, zone: Zone) -> UiState {
        UiState {
            input: Editor::new(),
            scroll: 0,
            show_members: true,
            zone,
            now,
            note: None,
            pane: Cell::new(PaneInfo::default()),
        }
    }
}

/// The screen's parts, as `draw` places them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Areas {
    pub topic: Rect,
    pub buffers: Option<Rect>,
    pub messages: Rect,
    pub members: Option<Rect>,
    pub status: Rect,
    pub input: Rect,
}

/// Where everything goes in `area`, or `None` when it is too small.
pub fn areas(area: Rect, model: &Model, ui: &UiState) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let input_rows = (ui.input.line_count() as u16)
        .clamp(1, INPUT_MAX_ROWS)
        .min(area.height / 3)
        .max(1);
    let [topic, middle, status, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(input_rows),
    ])
    .areas(area);
    let mut middle = middle;
    let buffers = (area.width >= 50).then(|| {
        let names = model
            .sorted()
            .iter()
            .map(|b| width(&b.name))
            .max()
            .unwrap_or(6);
        let w = (names as u16 + 7).clamp(12, 24).min(area.width / 4);
        let [left, rest] =
            Layout::horizontal([Constraint::Length(w), Constraint::Min(1)]).areas(middle);
        middle = rest;
        left
    });
    let show_members = ui.show_members
        && area.width >= 60
        && model.current().is_some_and(|b| b.kind == BufferKind::Room);
    let members = show_members.then(|| {
        let w = (area.width / 5).clamp(12, 20);
        let [rest, right] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(w)]).areas(middle);
        middle = rest;
        right
    });
    Some(Areas {
        topic,
        buffers,
        messages: middle,
        members,
        status,
        input,
    })
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &Model, ui: &UiState) {
    let area = frame.area();
    let Some(a) = areas(area, model, ui) else {
        draw_too_small(frame, area);
        return;
    };
    draw_topic(frame, a.topic, model);
    if let Some(r) = a.buffers {
        draw_buffers(frame, r, model);
    }
    draw_messages(frame, a.messages, model, ui);
    if let Some(r) = a.members {
        draw_members(frame, r, model);
    }
    draw_status(frame, a.status, model, ui);
    draw_input(frame, a.input, model, ui);
}

fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "Terminal too small: {}x{}, need {MIN_WIDTH}x{MIN_HEIGHT}",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .style(Style::default().add_modifier(Modifier::BOLD))
            .wrap(Wrap { trim: true }),
        area,
    );
}

// ---- topic line -------------------------------------------------------------

fn bar() -> Style {
    Style::default().add_modifier(Modifier::REVERSED)
}

fn draw_topic(frame: &mut Frame, area: Rect, model: &Model) {
    let line = match model.current() {
        None => Line::from(" confab"),
        Some(b) => {
            let mut spans = vec![Span::styled(
                format!(" {}", sanitize(&b.name)),
                Style::default().add_modifier(Modifier::BOLD),
            )];
            match (&b.kind, &b.topic) {
                (BufferKind::Room, Some(t)) => {
                    spans.push(Span::raw(format!(": {}", sanitize(&t.text))))
                }
                (BufferKind::Room, None) if !b.joined => {
                    spans.push(Span::raw(" (not joined)"));
                }
                (BufferKind::Room, None) => {}
                (BufferKind::Private, _) => spans.push(Span::raw(" (private conversation)")),
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line).style(bar()), area);
}

// ---- buffer list ------------------------------------------------------------

fn draw_buffers(frame: &mut Frame, area: Rect, model: &Model) {
    let current = model.current().map(|b| b.key.as_str());
    let inner_w = usize::from(area.width.saturating_sub(1));
    let mut lines = Vec::new();
    let mut last_kind = None;
    for (i, b) in model.sorted().into_iter().enumerate() {
        if last_kind.is_some_and(|k| k != b.kind) {
            lines.push(Line::from(""));
        }
        last_kind = Some(b.kind);
        let num = if i < 9 {
            format!("{} ", i + 1)
        } else {
            "  ".to_owned()
        };
        let count = match (b.unread, b.unread_more) {
            (0, _) => String::new(),
            (n, false) => n.to_string(),
            (n, true) => format!("{n}+"),
        };
        let name_w = inner_w.saturating_sub(width(&num) + width(&count) + 1);
        let name = truncate(&sanitize(&b.name), name_w).into_owned();
        let pad = inner_w.saturating_sub(width(&num) + width(&name) + width(&count));
        let mut style = Style::default();
        if b.highlight {
            style = style.fg(Color::Magenta).add_modifier(Modifier::BOLD);
        } else if b.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        } else if b.kind == BufferKind::Room && !b.joined {
            style = style.add_modifier(Modifier::DIM);
        }
        if Some(b.key.as_str()) == current {
            style = style.add_modifier(Modifier::REVERSED);
        }
        lines.push(
            Line::from(vec![
                Span::styled(num, Style::default().add_modifier(Modifier::DIM)),
                Span::raw(name),
                Span::raw(" ".repeat(pad)),
                Span::raw(count),
            ])
            .style(style),
        );
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::RIGHT)),
        area,
    );
}

// ---- member list ------------------------------------------------------------

fn draw_members(frame: &mut Frame, area: Rect, model: &Model) {
    let Some(b) = model.current() else { return };
    let members = b.members_sorted();
    let mut lines = vec![Line::from(Span::styled(
        format!("Members ({})", members.len()),
        Style::default().add_modifier(Modifier::DIM),
    ))];
    let w = usize::from(area.width.saturating_sub(3));
    for m in members {
        let sigil = if m.op {
            "@"
        } else if m.voice {
            "+"
        } else {
            " "
        };
        let (dot, dot_style, name_style) = if m.away {
            (
                "○",
                Style::default().add_modifier(Modifier::DIM),
                Style::default()
                    .fg(nick_colour(&m.nick))
                    .add_modifier(Modifier::DIM),
            )
        } else {
            (
                "●",
                Style::default().fg(Color::Green),
                Style::default().fg(nick_colour(&m.nick)),
            )
        };
        lines.push(Line::from(vec![
            Span::styled(dot, dot_style),
            Span::raw(sigil),
            Span::styled(truncate(&sanitize(&m.nick), w).into_owned(), name_style),
        ]));
    }
    let offline = model.offline_regulars(b);
    if !offline.is_empty() {
        lines.push(Line::from(Span::styled(
            "Offline",
            Style::default().add_modifier(Modifier::DIM),
        )));
        for nick in offline {
            lines.push(Line::from(vec![
                Span::styled("·", Style::default().add_modifier(Modifier::DIM)),
                Span::raw(" "),
                Span::styled(
                    truncate(&sanitize(&nick), w).into_owned(),
                    Style::default()
                        .fg(nick_colour(&nick))
                        .add_modifier(Modifier::DIM),
                ),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::LEFT)),
        area,
    );
}

// ---- status line ------------------------------------------------------------

fn draw_status(frame: &mut Frame, area: Rect, model: &Model, ui: &UiState) {
    let (state, style) = match &model.conn {
        ConnState::Connecting => ("connecting…".to_owned(), Style::default().fg(Color::Yellow)),
        ConnState::Online { lag } => (
            match lag {
                Some(l) => format!("online {} ms", l.as_millis()),
                None => "online".to_owned(),
            },
            Style::default().fg(Color::Green),
        ),
        ConnState::Offline { why, retry_at } => {
            let secs = ((*retry_at - ui.now).num_milliseconds().max(0) + 999) / 1000;
            (
                format!("offline: {} · retry in {secs} s", sanitize(why)),
                Style::default().fg(Color::Red),
            )
        }
        ConnState::Stopped { why } => (
            format!("disconnected: {}", sanitize(why)),
            Style::default().fg(Color::Red),
        ),
    };
    let mut spans = vec![
        Span::raw("["),
        Span::styled(state, style.add_modifier(Modifier::BOLD)),
        Span::raw("] "),
    ];
    if !model.me.is_empty() {
        spans.push(Span::styled(
            sanitize(&model.me).into_owned(),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(b) = model.current() {
        spans.push(Span::raw(format!(" in {}", sanitize(&b.name))));
        let typing = b.typing();
        if !typing.is_empty() {
            let names: Vec<String> = typing
                .iter()
                .take(3)
                .map(|n| sanitize(n).into_owned())
                .collect();
            let verb = if names.len() == 1 { "is" } else { "are" };
            spans.push(Span::styled(
                format!(" · {} {verb} typing…", names.join(", ")),
                Style::default().add_modifier(Modifier::ITALIC),
            ));
        }
    }
    let elsewhere: usize = model
        .buffers()
        .filter(|b| Some(b.key.as_str()) != model.current().map(|c| c.key.as_str()))
        .map(|b| b.unread)
        .sum();
    if elsewhere > 0 {
        spans.push(Span::raw(format!(" · {elsewhere} unread (Alt-A)")));
    }
    if let Some(note) = &ui.note {
        spans.push(Span::styled(
            format!(" · {}", sanitize(note)),
            Style::default().add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar()), area);
}

// ---- input line -------------------------------------------------------------

fn prompt(model: &Model) -> String {
    match model.current() {
        Some(b) => format!("[{}] ", truncate(&sanitize(&b.name), 16)),
        None => "> ".to_owned(),
    }
}

fn draw_input(frame: &mut Frame, area: Rect, model: &Model, ui: &UiState) {
    let prompt = prompt(model);
    let pw = (width(&prompt) as u16).min(area.width / 2);
    let [p_area, text_area] =
        Layout::horizontal([Constraint::Length(pw), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(prompt).style(Style::default().add_modifier(Modifier::BOLD)),
        p_area,
    );
    let layout = ui
        .input
        .layout(text_area.width.saturating_sub(1).max(1), text_area.height);
    let lines: Vec<Line> = layout.rows.into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines), text_area);
    let (x, y) = layout.cursor;
    frame.set_cursor_position((text_area.x + x, text_area.y + y));

    if let Some(c) = ui.input.completion() {
        let w = c
            .list
            .iter()
            .map(|s| width(s.trim_end()))
            .max()
            .unwrap_or(1) as u16
            + 2;
        let shown = c.list.len().min(POPUP_ROWS);
        let h = shown as u16 + 2;
        let x = (text_area.x + ui.input.completion_column().unwrap_or(0) as u16)
            .min(area.right().saturating_sub(w));
        let y = area.y.saturating_sub(h);
        let popup = Rect::new(x, y, w.min(area.width), h.min(area.y));
        let first = c.at.saturating_sub(shown - 1).min(c.list.len() - shown);
        let lines: Vec<Line> = c
            .list
            .iter()
            .enumerate()
            .skip(first)
            .take(shown)
            .map(|(i, s)| {
                let style = if i == c.at {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                Line::from(Span::styled(sanitize(s.trim_end()).into_owned(), style))
            })
            .collect();
        frame.render_widget(Clear, popup);
        frame.render_widget(
            Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(format!(
                "{}/{}",
                c.at + 1,
                c.list.len()
            ))),
            popup,
        );
    }
}

// ---- message pane -----------------------------------------------------------

fn dim() -> Style {
    Style::default().add_modifier(Modifier::DIM)
}

fn draw_messages(frame: &mut Frame, area: Rect, model: &Model, ui: &UiState) {
    let height = usize::from(area.height);
    let width = usize::from(area.width);
    let Some(b) = model.current() else {
        let mut lines: Vec<Line> = model
            .log
            .iter()
            .flat_map(|it| item_lines(it, width, ui.zone))
            .collect();
        if lines.is_empty() {
            lines.push(Line::from(Span::styled("Not in any room yet.", dim())));
        }
        let skip = lines.len().saturating_sub(height);
        frame.render_widget(Paragraph::new(lines.split_off(skip)), area);
        ui.pane.set(PaneInfo {
            height,
            at_top: false,
            max_scroll: Some(0),
        });
        return;
    };
    // Lay out the newest items first, more of them until the rows cover
    // the scrolled view: a long scrollback costs what is on screen.
    let need = ui.scroll + height;
    let mut take = need.max(16);
    let (lines, all) = loop {
        let start = b.items.len().saturating_sub(take);
        let lines = buffer_lines(b, start, width, ui.zone);
        if lines.len() > need || start == 0 {
            break (lines, start == 0);
        }
        take *= 2;
    };
    let total = lines.len();
    let max_scroll = total.saturating_sub(height);
    let scroll = if all {
        ui.scroll.min(max_scroll)
    } else {
        ui.scroll
    };
    let end = total - scroll;
    let start = end.saturating_sub(height);
    let mut shown: Vec<Line> = lines[start..end].to_vec();
    let more_above = start > 0 || b.has_older;
    if more_above && shown.len() == height && scroll > 0 {
        let text = if b.loading {
            "── loading older messages… ──"
        } else if start == 0 {
            "── more above: PgUp loads older messages ──"
        } else {
            "── more above (PgUp) ──"
        };
        shown[0] = Line::from(Span::styled(text, dim()));
    } else if b.loading && shown.len() == height {
        shown[0] = Line::from(Span::styled("── loading older messages… ──", dim()));
    }
    if scroll > 0 && shown.len() > 1 {
        let last = shown.len() - 1;
        shown[last] = Line::from(Span::styled(
            format!("── {scroll} more rows below (PgDn) ──"),
            dim(),
        ));
    }
    // Fewer rows than the pane: they sit at its bottom, as in every chat.
    let pad = height.saturating_sub(shown.len()) as u16;
    let inner = Rect::new(area.x, area.y + pad, area.width, area.height - pad);
    frame.render_widget(Paragraph::new(shown), inner);
    ui.pane.set(PaneInfo {
        height,
        at_top: all && scroll >= max_scroll,
        max_scroll: all.then_some(max_scroll),
    });
}

/// The rows of `b.items[start..]`, with day lines, the "new messages"
/// line, and runs of joins and parts as one line.
fn buffer_lines(b: &Buffer, start: usize, width: usize, zone: Zone) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut last_day: Option<NaiveDate> = start
        .checked_sub(1)
        .and_then(|i| b.items.get(i))
        .map(|it| zone.at(it.time()).date_naive());
    let mut new_line_done = false;
    let items: Vec<&Item> = b.items.iter().skip(start).collect();
    let mut i = 0;
    while i < items.len() {
        let it = items[i];
        let day = zone.at(it.time()).date_naive();
        if last_day != Some(day) {
            out.push(day_line(zone.at(it.time()), width));
            last_day = Some(day);
        }
        if let (
            Some(since),
            false,
            Item::Message {
                msg,
                self_sent: false,
                ..
            },
        ) = (b.new_since, new_line_done, it)
            && msg.id > since
        {
            out.push(centered(
                "new messages",
                width,
                Style::default().fg(Color::Red),
            ));
            new_line_done = true;
        }
        // A run of joins, parts and quits on the same day: one line.
        let mut j = i + 1;
        if is_compactable(it) {
            while j < items.len()
                && is_compactable(items[j])
                && zone.at(items[j].time()).date_naive() == day
            {
                j += 1;
            }
        }
        if j - i > 1 {
            out.extend(compacted(&items[i..j], width, zone));
        } else {
            out.extend(item_lines(it, width, zone));
        }
        i = j;
    }
    out
}

fn centered(text: &str, width: usize, style: Style) -> Line<'static> {
    let label = format!(" {text} ");
    let side = width.saturating_sub(width_of(&label)) / 2;
    let rest = width.saturating_sub(width_of(&label) + side);
    Line::from(Span::styled(
        format!("{}{label}{}", "─".repeat(side), "─".repeat(rest)),
        style,
    ))
}

fn width_of(s: &str) -> usize {
    width(s)
}

fn day_line(t: DateTime<FixedOffset>, width: usize) -> Line<'static> {
    centered(&t.format("%A %-d %B %Y").to_string(), width, dim())
}

fn clock(t: Time, zone: Zone) -> String {
    zone.at(t).format("%H:%M ").to_string()
}

/// One item's rows: the time, who, and the text wrapped under itself.
fn item_lines(it: &Item, width: usize, zone: Zone) -> Vec<Line<'static>> {
    match it {
        Item::Message {
            msg,
            self_sent,
            highlight,
        } => {
            let nick = sanitize(&msg.from).into_owned();
            let colour = Style::default().fg(nick_colour(&msg.from));
            let mut nick_style = colour;
            if *self_sent {
                nick_style = nick_style.add_modifier(Modifier::BOLD);
            }
            if *highlight {
                nick_style = nick_style.add_modifier(Modifier::REVERSED);
            }
            let who: Vec<Span<'static>> = match msg.kind {
                MsgKind::Say => vec![
                    Span::raw("<"),
                    Span::styled(nick, nick_style),
                    Span::raw("> "),
                ],
                MsgKind::Action => vec![
                    Span::raw("* "),
                    Span::styled(nick, nick_style),
                    Span::raw(" "),
                ],
                MsgKind::Notice => vec![
                    Span::raw("-"),
                    Span::styled(nick, nick_style),
                    Span::raw("- "),
                ],
            };
            let text_style = match (msg.kind, highlight) {
                (_, true) => Style::default().add_modifier(Modifier::BOLD),
                (MsgKind::Action, _) => Style::default().add_modifier(Modifier::ITALIC),
                _ => Style::default(),
            };
            let mut prefix = vec![Span::styled(clock(msg.time, zone), dim())];
            prefix.extend(who);
            wrapped(prefix, &sanitize(&msg.text), text_style, width)
        }
        Item::Event {
            time, kind, text, ..
        } => {
            let (mark, style) = event_look(*kind);
            let prefix = vec![
                Span::styled(clock(*time, zone), dim()),
                Span::styled(mark, style),
            ];
            wrapped(prefix, &sanitize(text), style, width)
        }
    }
}

fn event_look(kind: EventKind) -> (&'static str, Style) {
    match kind {
        EventKind::Error => ("!! ", Style::default().fg(Color::Red)),
        EventKind::Announce => ("** ", Style::default().add_modifier(Modifier::BOLD)),
        EventKind::Info => ("-- ", Style::default()),
        EventKind::Join
        | EventKind::Part
        | EventKind::Quit
        | EventKind::Nick
        | EventKind::Topic
        | EventKind::Mode
        | EventKind::Kick => ("-- ", dim()),
    }
}

/// A run of joins, parts and quits as one line: "alice, bob joined; carol
/// left", in the order the kinds first appear.
fn compacted(run: &[&Item], width: usize, zone: Zone) -> Vec<Line<'static>> {
    let mut groups: Vec<(EventKind, Vec<String>)> = Vec::new();
    for it in run {
        let Item::Event {
            kind, text, nick, ..
        } = it
        else {
            continue;
        };
        let who = nick.clone().unwrap_or_else(|| text.clone());
        match groups.iter_mut().find(|(k, _)| k == kind) {
            Some((_, names)) => {
                if !names.contains(&who) {
                    names.push(who);
                }
            }
            None => groups.push((*kind, vec![who])),
        }
    }
    let text = groups
        .iter()
        .map(|(k, names)| {
            let verb = match k {
                EventKind::Join => "joined",
                EventKind::Part => "left",
                _ => "quit",
            };
            format!("{} {verb}", names.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let last = run.last().map_or_else(Default::default, |it| it.time());
    let prefix = vec![
        Span::styled(clock(last, zone), dim()),
        Span::styled("-- ", dim()),
    ];
    wrapped(prefix, &sanitize(&text), dim(), width)
}

/// `prefix` then `text` wrapped to `width`, the continuation rows indented
/// under the text (or under the time when the prefix is very wide).
fn wrapped(
    prefix: Vec<Span<'static>>,
    text: &str,
    style: Style,
    width: usize,
) -> Vec<Line<'static>> {
    let pw: usize = prefix.iter().map(|s| width_of(&s.content)).sum();
    let indent = if pw * 2 > width { 6.min(width / 2) } else { pw };
    let first = width.saturating_sub(pw).max(1);
    let rest = width.saturating_sub(indent).max(1);
    let mut rows = wrap(text, first, rest).into_iter();
    let mut first_line = prefix;
    first_line.push(Span::styled(rows.next().unwrap_or_default(), style));
    let mut out = vec![Line::from(first_line)];
    for row in rows {
        out.push(Line::from(vec![
            Span::raw(" ".repeat(indent)),
            Span::styled(row, style),
        ]));
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
