//! Rendering tests: a `Model` fed real protocol events (JSON, as the
//! server sends them) at fixed times, drawn on ratatui's `TestBackend`,
//! compared with insta snapshots (`snapshots/`), and the colours of
//! chosen cells checked.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer as Cells;
use ratatui::style::{Color, Modifier};

use super::*;
use crate::model::{ConnState, Model};
use crate::proto::{IdSource, Incoming, Time};
use crate::tui::complete::candidates;

fn t(s: &str) -> Time {
    s.parse().expect("a time")
}

/// A model and the UI state, fed events one JSON line at a time.
struct World {
    model: Model,
    ui: UiState,
}

impl World {
    fn new() -> World {
        let now = t("2026-12-03T10:00:00Z");
        World {
            model: Model::new(IdSource::default()),
            ui: UiState::new(now, Zone::utc()),
        }
    }

    /// Applies one server message, at the time it carries.
    fn ev(&mut self, json: &str) {
        let inc = Incoming::parse(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        self.model.apply(&inc, inc.time);
    }

    fn msg(&mut self, id: u64, time: &str, from: &str, target: &str, kind: &str, text: &str) {
        let m = serde_json::json!({
            "type": "message",
            "time": time,
            "message": {"id": id, "time": time, "from": from, "target": target, "kind": kind, "text": text},
        });
        self.ev(&m.to_string());
    }

    fn draw(&self, w: u16, h: u16) -> Terminal<TestBackend> {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
        term.draw(|f| draw(f, &self.model, &self.ui))
            .expect("drawn");
        term
    }
}

/// alice in #lobby (the open buffer) and #dev, with bob, carol (away) and
/// dave (voiced) around, a private message from erin, and unread in #dev.
fn lobby() -> World {
    let mut w = World::new();
    w.ev(r##"{"type":"welcome","name":"alice","account":true,"session":1,"online":4,"time":"2026-12-02T09:00:00Z"}"##);
    w.model.set_conn(ConnState::Online {
        lag: Some(Duration::from_millis(42)),
    });
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"alice","time":"2026-12-02T09:00:00Z"}"##);
    w.ev(r##"{"type":"members","room":"#lobby","members":[
        {"nick":"alice","account":true,"op":true},
        {"nick":"bob","account":true},
        {"nick":"carol","away":true},
        {"nick":"dave","voice":true}],"time":"2026-12-02T09:00:00Z"}"##);
    w.ev(r##"{"type":"topic_info","room":"#lobby","topic":"Welcome to the lobby","by":"alice","time":"2026-12-02T09:00:00Z"}"##);
    w.ev(r##"{"type":"joined","room":"#dev","nick":"alice","time":"2026-12-02T09:00:01Z"}"##);
    w.msg(
        1,
        "2026-12-02T09:05:00Z",
        "bob",
        "#lobby",
        "say",
        "morning all",
    );
    w.msg(
        2,
        "2026-12-02T09:06:00Z",
        "alice",
        "#lobby",
        "say",
        "hi bob",
    );
    w.msg(
        3,
        "2026-12-03T08:00:00Z",
        "dave",
        "#lobby",
        "action",
        "waves from the other side of the world",
    );
    w.msg(
        4,
        "2026-12-03T08:01:00Z",
        "bob",
        "#lobby",
        "say",
        "this is a long message that has to wrap over more than one line of the message pane, indented under its text",
    );
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"frank","time":"2026-12-03T08:02:00Z"}"##);
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"grace","time":"2026-12-03T08:02:10Z"}"##);
    w.ev(r##"{"type":"parted","room":"#lobby","nick":"frank","time":"2026-12-03T08:02:20Z"}"##);
    w.msg(
        5,
        "2026-12-03T08:03:00Z",
        "carol",
        "#lobby",
        "say",
        "alice: are you there?",
    );
    w.msg(
        6,
        "2026-12-03T08:04:00Z",
        "bob",
        "#dev",
        "say",
        "the build is green",
    );
    w.msg(7, "2026-12-03T08:05:00Z", "bob", "#dev", "say", "ship it?");
    w.msg(
        8,
        "2026-12-03T08:06:00Z",
        "erin",
        "alice",
        "say",
        "psst, alice",
    );
    w
}

/// The text of row `y`, trailing spaces trimmed.
fn row(cells: &Cells, y: u16) -> String {
    let mut s = String::new();
    for x in 0..cells.area.width {
        s.push_str(cells[(x, y)].symbol());
    }
    s.trim_end().to_owned()
}

/// Where `needle` first starts on screen (skipping `skip` columns).
fn find(cells: &Cells, needle: &str, skip: u16) -> Option<(u16, u16)> {
    for y in 0..cells.area.height {
        let line: Vec<&str> = (0..cells.area.width)
            .map(|x| cells[(x, y)].symbol())
            .collect();
        for x in skip..cells.area.width {
            let rest: String = line[usize::from(x)..].concat();
            if rest.starts_with(needle) {
                return Some((x, y));
            }
        }
    }
    None
}

#[test]
fn the_whole_screen() {
    let w = lobby();
    let term = w.draw(100, 24);
    insta::assert_snapshot!(term.backend());
}

#[test]
fn nicks_have_their_colours_and_highlights_stand_out() {
    let w = lobby();
    let term = w.draw(100, 24);
    let cells = term.backend().buffer();
    // bob's nick in the message pane (right of the buffer list).
    let (x, y) = find(cells, "<bob>", 13).expect("bob's message");
    assert_eq!(cells[(x + 1, y)].fg, crate::tui::text::nick_colour("bob"));
    // dave's /me: "* dave waves…", dave in his colour.
    let (x, y) = find(cells, "* dave waves", 13).expect("dave's action");
    assert_eq!(cells[(x + 2, y)].fg, crate::tui::text::nick_colour("dave"));
    assert!(cells[(x + 9, y)].modifier.contains(Modifier::ITALIC));
    // carol mentions alice: her nick reversed, the text bold.
    let (x, y) = find(cells, "<carol>", 13).expect("carol's mention");
    assert!(cells[(x + 1, y)].modifier.contains(Modifier::REVERSED));
    assert!(cells[(x + 8, y)].modifier.contains(Modifier::BOLD));
    // Different nicks, different colours (for these ones).
    assert_ne!(
        crate::tui::text::nick_colour("bob"),
        crate::tui::text::nick_colour("dave")
    );
    // The buffer list: erin's private message is a highlight (magenta,
    // bold); #dev has unread (bold); #lobby is open (reversed).
    let (x, y) = find(cells, "erin", 0).expect("erin's buffer");
    assert_eq!(cells[(x, y)].fg, Color::Magenta);
    let (x, y) = find(cells, "#dev", 0).expect("#dev");
    assert!(cells[(x, y)].modifier.contains(Modifier::BOLD));
    let (x, y) = find(cells, "#lobby", 0).expect("#lobby");
    assert!(cells[(x, y)].modifier.contains(Modifier::REVERSED));
}

#[test]
fn long_lines_wrap_under_their_text() {
    let w = lobby();
    let term = w.draw(60, 14);
    insta::assert_snapshot!(term.backend());
    // The continuation rows start where the text starts.
    let cells = term.backend().buffer();
    let (x, y) = find(cells, "this is a long", 0).expect("the long message");
    let next = row(cells, y + 1);
    let start = next
        .find(|c: char| c != ' ' && c != '│')
        .expect("a continuation");
    let first = row(cells, y);
    assert_eq!(
        first[..first.find("this").expect("text")].chars().count(),
        usize::from(x)
    );
    assert_eq!(next[..start].chars().count(), usize::from(x));
}

#[test]
fn the_member_list_and_its_toggle() {
    let mut w = lobby();
    let term = w.draw(80, 12);
    insta::assert_snapshot!("members_shown", term.backend());
    let cells = term.backend().buffer();
    let (x, y) = find(cells, "○ carol", 0).expect("carol away");
    assert!(cells[(x + 2, y)].modifier.contains(Modifier::DIM));
    let (x, y) = find(cells, "●@alice", 0).expect("alice, op, here");
    assert_eq!(cells[(x, y)].fg, Color::Green);
    w.ui.show_members = false;
    let term = w.draw(80, 12);
    assert!(find(term.backend().buffer(), "●@alice", 0).is_none());
}

#[test]
fn the_member_list_shows_offline_regulars_below_the_members() {
    let mut w = lobby();
    // zoe spoke here and has gone; the users answer says she is offline.
    w.msg(
        9,
        "2026-12-03T08:07:00Z",
        "zoe",
        "#lobby",
        "say",
        "back tomorrow",
    );
    let term = w.draw(80, 14);
    assert!(find(term.backend().buffer(), "Offline", 0).is_none());
    w.ev(r##"{"type":"users","users":[{"nick":"zoe","online":false},{"nick":"bob","online":true}],"time":"2026-12-03T08:08:00Z"}"##);
    let term = w.draw(80, 14);
    let cells = term.backend().buffer();
    // Five members (alice, dave, bob, carol, grace), then the heading.
    let (_, members) = find(cells, "Members (5)", 0).expect("the members");
    let (_, header) = find(cells, "Offline", 0).expect("an Offline heading");
    let (x, y) = find(cells, "· zoe", 0).expect("zoe offline");
    assert_eq!((header, y), (members + 6, members + 7), "below the members");
    assert!(cells[(x + 2, y)].modifier.contains(Modifier::DIM));
}

#[test]
fn the_status_line_in_each_connection_state() {
    let mut w = lobby();
    let now = w.ui.now;
    let states = [
        ConnState::Connecting,
        ConnState::Online { lag: None },
        ConnState::Online {
            lag: Some(Duration::from_millis(137)),
        },
        ConnState::Offline {
            why: "connection reset".into(),
            retry_at: now + chrono::TimeDelta::milliseconds(4_200),
        },
        ConnState::Stopped {
            why: "the name alice is taken".into(),
        },
    ];
    let mut out = String::new();
    for s in states {
        w.model.set_conn(s);
        let term = w.draw(90, 8);
        out.push_str(&row(term.backend().buffer(), 6));
        out.push('\n');
    }
    // Someone typing, and a note about the input.
    w.model.set_conn(ConnState::Online {
        lag: Some(Duration::from_millis(9)),
    });
    w.ev(r##"{"type":"typing","from":"bob","to":"#lobby","active":true,"time":"2026-12-03T10:00:00Z"}"##);
    w.ui.note = Some("usage: /join #room".into());
    let term = w.draw(90, 8);
    out.push_str(&row(term.backend().buffer(), 6));
    insta::assert_snapshot!(out);
}

#[test]
fn the_completion_popup() {
    let mut w = lobby();
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"bobby","time":"2026-12-03T08:10:00Z"}"##);
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"boris","time":"2026-12-03T08:10:01Z"}"##);
    for c in "hi bo".chars() {
        w.ui.input.handle(
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
            &mut |_, _| vec![],
        );
    }
    let model = &w.model;
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    w.ui.input
        .handle(tab, &mut |word, start| candidates(model, word, start));
    w.ui.input
        .handle(tab, &mut |word, start| candidates(model, word, start));
    assert_eq!(w.ui.input.text(), "hi bobby ");
    let term = w.draw(80, 16);
    insta::assert_snapshot!(term.backend());
}

#[test]
fn completion_candidates_come_from_the_model() {
    let w = lobby();
    let c = |word, start| candidates(&w.model, word, start);
    assert_eq!(c("b", true), ["bob: "]);
    assert_eq!(c("b", false), ["bob "]);
    assert_eq!(c("@ER", false), ["@erin "]);
    // Never ourselves.
    assert!(c("al", false).is_empty());
    assert_eq!(c("#", false), ["#dev ", "#lobby "]);
    assert_eq!(c("/jo", true), ["/join "]);
    // A command only at the start.
    assert!(c("/jo", false).is_empty());
}

#[test]
fn a_tiny_terminal_says_so() {
    let w = lobby();
    for (width, height) in [(19, 10), (40, 5), (10, 3), (1, 1)] {
        let term = w.draw(width, height);
        let text: String = (0..height)
            .map(|y| row(term.backend().buffer(), y))
            .collect();
        assert!(
            text.starts_with("Terminal") || width < 9,
            "{width}x{height}: {text:?}"
        );
    }
    let term = w.draw(19, 5);
    insta::assert_snapshot!(term.backend());
    // Zero-sized: nothing to draw, and no panic.
    w.draw(0, 0);
}

#[test]
fn nothing_another_user_sends_reaches_the_terminal_raw() {
    let mut w = lobby();
    w.ev(r##"{"type":"joined","room":"#lobby","nick":"mallory","time":"2026-12-03T09:00:00Z"}"##);
    w.msg(
        9,
        "2026-12-03T09:01:00Z",
        "mallory",
        "#lobby",
        "say",
        "\u{1b}[2J\u{1b}[Hfake\r\n10:00 <bob> \u{202e}gnp.exe\u{7}",
    );
    w.ev(r##"{"type":"topic","room":"#lobby","topic":"\u001b]0;pwned\u0007topic","by":"mallory","time":"2026-12-03T09:02:00Z"}"##);
    let term = w.draw(100, 24);
    let cells = term.backend().buffer();
    for y in 0..cells.area.height {
        for x in 0..cells.area.width {
            let s = cells[(x, y)].symbol();
            assert!(
                !s.chars()
                    .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                "raw {s:?} at {x},{y}"
            );
        }
    }
    // The forged line stays on mallory's line, its controls visible.
    let (_, y) = find(cells, "<mallory>", 13).expect("mallory's message");
    assert!(
        row(cells, y).contains("␛[2J␛[Hfake␍␊10:00 <bob> gnp.exe␇"),
        "{}",
        row(cells, y)
    );
    assert!(
        row(cells, 0).contains("␛]0;pwned␇topic"),
        "{}",
        row(cells, 0)
    );
}

#[test]
fn scrolled_back_shows_more_above_and_below() {
    let mut w = lobby();
    for i in 0..40 {
        let time = format!("2026-12-03T09:{i:02}:00Z");
        w.msg(
            100 + i,
            &time,
            "bob",
            "#lobby",
            "say",
            &format!("message number {i}"),
        );
    }
    w.ui.scroll = 5;
    let term = w.draw(80, 14);
    insta::assert_snapshot!(term.backend());
    let info = w.ui.pane.get();
    assert_eq!(info.height, 11);
    assert!(!info.at_top);
    // Scrolled past the top: clamped, and the app is told to page.
    w.ui.scroll = 10_000;
    let term = w.draw(80, 14);
    let info = w.ui.pane.get();
    assert!(info.at_top);
    let cells = term.backend().buffer();
    assert!(find(cells, "morning all", 0).is_some());
    // The server may have older messages: the top row says how to get them.
    assert!(find(cells, "more above: PgUp loads older messages", 0).is_some());
}

#[test]
fn a_new_messages_line_where_unread_begins() {
    let mut w = lobby();
    // Reading #dev (unread from id 6): select it with the keyboard's call.
    w.model.select_name("#dev");
    let term = w.draw(80, 12);
    let cells = term.backend().buffer();
    let (_, line) = find(cells, " new messages ", 0).expect("the new messages line");
    let (_, first) = find(cells, "the build is green", 0).expect("the first unread");
    assert_eq!(first, line + 1);
}

#[test]
fn multi_line_input_grows_the_input_box() {
    let mut w = lobby();
    w.ui.input.set_text("first line\nsecond line\nthird");
    let term = w.draw(60, 14);
    let cells = term.backend().buffer();
    assert_eq!(row(cells, 11), "[#lobby] first line");
    assert_eq!(row(cells, 13).trim(), "third");
}

#[test]
fn no_string_from_the_server_is_drawn_with_a_control_character() {
    // Issue 13's forged room key, as a key and a ban mask in a mode line,
    // a topic, reasons, an away message, a real name and a nick, in the
    // room the user is looking at.
    const P: &str = "x\r\n[12:00] [private] admin -> you: /quit\u{1b}]0;PWNED\u{7}\u{202e}";
    let p = serde_json::to_string(P).unwrap();
    let time = r#""time":"2026-12-03T10:00:00Z""#;
    let mut w = World::new();
    w.ev(&format!(
        r#"{{"type":"welcome","name":"alice","session":1,"online":2,{time}}}"#
    ));
    w.ev(&format!(
        r##"{{"type":"joined","room":"#r","nick":"alice",{time}}}"##
    ));
    w.ev(&format!(
        r##"{{"type":"members","room":"#r","members":[{{"nick":"alice"}},{{"nick":{p}}}],{time}}}"##
    ));
    for json in [
        format!(
            r##"{{"type":"mode","room":"#r","by":{p},"changes":[{{"mode":"k","arg":{p}}},{{"mode":"b","arg":{p}}}],{time}}}"##
        ),
        format!(r##"{{"type":"topic","room":"#r","by":{p},"topic":{p},{time}}}"##),
        format!(r##"{{"type":"joined","room":"#r","nick":{p},{time}}}"##),
        format!(r##"{{"type":"kicked","room":"#r","by":{p},"nick":"bob","reason":{p},{time}}}"##),
        format!(r##"{{"type":"parted","room":"#r","nick":{p},"reason":{p},{time}}}"##),
        format!(r#"{{"type":"away","nick":{p},"away":{p},{time}}}"#),
        format!(r#"{{"type":"realname","nick":{p},"realname":{p},{time}}}"#),
        format!(
            r#"{{"type":"whois","users":[{{"nick":{p},"host":{p},"realname":{p},"away":{p}}}],{time}}}"#
        ),
        format!(r#"{{"type":"quit","nick":{p},"reason":{p},{time}}}"#),
        format!(r#"{{"type":"error","code":"x","message":{p},{time}}}"#),
    ] {
        w.ev(&json);
    }
    let term = w.draw(100, 40);
    let cells = term.backend().buffer();
    let mut screen = String::new();
    for y in 0..cells.area.height {
        for x in 0..cells.area.width {
            let sym = cells[(x, y)].symbol();
            assert!(
                !sym.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "control character {sym:?} at ({x}, {y})"
            );
            screen.push_str(sym);
        }
        screen.push('\n');
    }
    // The payload shows, defused: its controls as pictures.
    assert!(screen.contains("␛]0;PWNED␇"), "{screen}");
    assert!(
        !screen.lines().any(|l| l.starts_with("[12:00]")),
        "{screen}"
    );
}
