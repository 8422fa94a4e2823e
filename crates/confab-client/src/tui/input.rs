//! The input line: a small line editor with Emacs keys, input history,
//! multi-line input, Tab completion and a draft per buffer.
//!
//! Pure: keys in, text and cursor out. It never draws; `layout` says what
//! the visible part of the input is for a given width, and `view.rs` draws
//! it. The cursor is a byte offset that always sits on a grapheme cluster
//! boundary, so a flag, an emoji with a skin tone or an `e` with a
//! combining accent moves and deletes as one character, and columns are
//! counted with `unicode-width` (a CJK character is two columns wide).
//!
//! The rules follow the browser client's composer (web/client/js/ui/
//! composer.js): Enter submits the whole text (the app sends one message
//! per line), Alt-Enter starts a new line, Tab completes the word before
//! the cursor (nicks, `#rooms`, `/commands` at the start), Up and Down walk
//! the history when the cursor is on the first or last line, and each
//! buffer keeps its own draft.

use std::cell::Cell;
use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// How many submitted inputs the history keeps.
pub const HISTORY_MAX: usize = 100;
/// How many bytes the input may hold: more than any message the server
/// takes, so nothing is cut short before the server says why.
pub const INPUT_MAX: usize = 16 * 1024;

/// What a key did to the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Enter: the whole input, possibly several lines joined by `\n`. The
    /// editor is now empty and the text is in the history.
    Submit(String),
    /// The text changed (the app may tell the others we are typing).
    Edited,
    /// Only the cursor, the history walk or the completion popup changed.
    Moved,
    /// Not an editing key: the app may use it.
    Ignored,
}

/// An open completion: the candidates and which one is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Every candidate, as it replaces the word (with its trailing space).
    pub list: Vec<String>,
    /// The candidate now in the text.
    pub at: usize,
    /// Where the completed word starts (a byte offset in the text).
    start: usize,
    /// Where the candidate now in the text ends.
    end: usize,
    /// What was typed before Tab, put back by Esc.
    typed: String,
}

/// A history walk in progress: where we are and what was being typed.
#[derive(Debug, Clone)]
struct Walk {
    at: usize,
    draft: String,
}

/// The visible part of the input for a given size: one string per row
/// (already cut to the width) and the cursor's cell within them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub rows: Vec<String>,
    pub cursor: (u16, u16),
}

/// The line editor. See the module docs.
#[derive(Debug, Default)]
pub struct Editor {
    text: String,
    cursor: usize,
    history: Vec<String>,
    walk: Option<Walk>,
    completion: Option<Completion>,
    /// Drafts of the buffers not shown, by buffer key.
    drafts: HashMap<String, (String, usize)>,
    /// The key of the buffer whose draft is in `text`.
    buffer: String,
    /// The last text cut by C-k, C-u, C-w or M-d, for C-y.
    kill: String,
    /// The first visible column, kept between frames so the view moves
    /// only when the cursor would leave it.
    hscroll: Cell<usize>,
    /// The first visible row of a multi-line input.
    vscroll: Cell<usize>,
}

impl Editor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The text being typed (lines joined by `\n`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor, as a byte offset into `text`.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// The open completion, if there is one with more than one candidate
    /// (a single candidate is simply put in the text).
    pub fn completion(&self) -> Option<&Completion> {
        self.completion.as_ref().filter(|c| c.list.len() > 1)
    }

    /// The column (in the view `layout` last gave) where the completed
    /// word starts, to put the popup above it.
    pub fn completion_column(&self) -> Option<usize> {
        let c = self.completion()?;
        let line_start = self.text[..c.start].rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..c.start].width();
        Some(col.saturating_sub(self.hscroll.get()))
    }

    /// How many lines the input has.
    pub fn line_count(&self) -> usize {
        self.text.split('\n').count()
    }

    /// Replaces the text, with the cursor at its end (for a refused
    /// message put back, or a test).
    pub fn set_text(&mut self, text: &str) {
        self.text.clear();
        self.cursor = 0;
        self.insert(text);
        self.walk = None;
        self.completion = None;
    }

    /// Shows the draft of buffer `key`, keeping the current text as the
    /// draft of the buffer shown until now.
    pub fn switch_buffer(&mut self, key: &str) {
        if key == self.buffer {
            return;
        }
        self.end_walk();
        self.completion = None;
        let text = std::mem::take(&mut self.text);
        if !text.is_empty() {
            self.drafts
                .insert(std::mem::take(&mut self.buffer), (text, self.cursor));
        }
        self.buffer = key.to_owned();
        let (text, cursor) = self.drafts.remove(key).unwrap_or_default();
        self.text = text;
        self.cursor = cursor.min(self.text.len());
        self.hscroll.set(0);
        self.vscroll.set(0);
    }

    /// Handles one key. `complete` gives the candidates for the word
    /// before the cursor, and whether that word starts the input: each
    /// candidate is the replacement text, with its trailing space.
    pub fn handle(
        &mut self,
        key: KeyEvent,
        complete: &mut dyn FnMut(&str, bool) -> Vec<String>,
    ) -> Outcome {
        if key.kind == KeyEventKind::Release {
            return Outcome::Ignored;
        }
        // An open completion takes Tab, Shift-Tab, Esc and Enter; any other
        // key accepts the candidate shown and then does what it does.
        if self.completion.is_some() {
            match key.code {
                KeyCode::Tab if key.modifiers.is_empty() => return self.cycle(1),
                KeyCode::BackTab => return self.cycle(-1),
                KeyCode::Esc => {
                    let c = self.completion.take().expect("checked above");
                    self.replace(c.start, c.end, &c.typed);
                    return Outcome::Edited;
                }
                KeyCode::Enter if key.modifiers.is_empty() => {
                    self.completion = None;
                    return Outcome::Moved;
                }
                _ => self.completion = None,
            }
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let edited = match key.code {
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.insert("\n");
                true
            }
            KeyCode::Enter => return self.submit(),
            KeyCode::Char('j') if ctrl => return self.submit(),
            KeyCode::Tab if !ctrl && !alt => return self.start_completion(complete, 1),
            KeyCode::BackTab => return self.start_completion(complete, -1),
            KeyCode::Char(c) if ctrl && !alt => match c {
                'a' => self.go(self.line_start()),
                'e' => self.go(self.line_end()),
                'b' => self.go(self.prev_boundary()),
                'f' => self.go(self.next_boundary()),
                'd' => return self.delete_range(self.cursor, self.next_boundary()),
                'h' => return self.delete_range(self.prev_boundary(), self.cursor),
                'k' => {
                    let end = self.line_end();
                    // At the end of a line, C-k joins the next one to it.
                    let end = if end == self.cursor {
                        self.next_boundary()
                    } else {
                        end
                    };
                    return self.kill_range(self.cursor, end);
                }
                'u' => return self.kill_range(self.line_start(), self.cursor),
                'w' => return self.kill_range(self.space_word_start(), self.cursor),
                'y' => {
                    let kill = self.kill.clone();
                    self.insert(&kill);
                    true
                }
                _ => return Outcome::Ignored,
            },
            KeyCode::Char(c) if alt && !ctrl => match c {
                'b' => self.go(self.word_left()),
                'f' => self.go(self.word_right()),
                'd' => return self.kill_range(self.cursor, self.word_right()),
                _ => return Outcome::Ignored,
            },
            KeyCode::Char(c) if !ctrl && !alt => {
                let mut buf = [0u8; 4];
                self.insert(c.encode_utf8(&mut buf));
                true
            }
            KeyCode::Backspace if alt || ctrl => {
                return self.kill_range(self.space_word_start(), self.cursor);
            }
            KeyCode::Backspace => return self.delete_range(self.prev_boundary(), self.cursor),
            KeyCode::Delete => return self.delete_range(self.cursor, self.next_boundary()),
            KeyCode::Left if alt || ctrl => self.go(self.word_left()),
            KeyCode::Right if alt || ctrl => self.go(self.word_right()),
            KeyCode::Left => self.go(self.prev_boundary()),
            KeyCode::Right => self.go(self.next_boundary()),
            KeyCode::Home => self.go(self.line_start()),
            KeyCode::End => self.go(self.line_end()),
            KeyCode::Up if key.modifiers.is_empty() => return self.up(),
            KeyCode::Down if key.modifiers.is_empty() => return self.down(),
            _ => return Outcome::Ignored,
        };
        if edited {
            self.end_walk_if_changed();
            Outcome::Edited
        } else {
            Outcome::Moved
        }
    }

    /// Inserts pasted text at the cursor: line breaks of any kind become
    /// lines, tabs become spaces, other control characters are dropped.
    pub fn paste(&mut self, text: &str) -> Outcome {
        self.completion = None;
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        self.insert(&text);
        self.end_walk_if_changed();
        Outcome::Edited
    }

    /// What to show in a box `width` columns wide and at most `max_rows`
    /// rows high: the rows around the cursor, each scrolled sideways so the
    /// cursor's column is visible.
    pub fn layout(&self, width: u16, max_rows: u16) -> Layout {
        let width = usize::from(width.max(1));
        let max_rows = usize::from(max_rows.max(1));
        let lines: Vec<&str> = self.text.split('\n').collect();
        let (row, col) = self.cursor_row_col();

        // Sideways: move only when the cursor would leave the view; keep a
        // quarter of the width visible before it when scrolling back.
        let mut hs = self.hscroll.get();
        if col < hs {
            hs = col.saturating_sub(width / 4);
        } else if col >= hs + width {
            hs = col + 1 - width;
        }
        self.hscroll.set(hs);

        let mut vs = self.vscroll.get().min(lines.len().saturating_sub(1));
        if row < vs {
            vs = row;
        } else if row >= vs + max_rows {
            vs = row + 1 - max_rows;
        }
        self.vscroll.set(vs);

        let rows = lines
            .iter()
            .skip(vs)
            .take(max_rows)
            .map(|line| columns(line, hs, width))
            .collect();
        let x = u16::try_from(col - hs).unwrap_or(u16::MAX);
        let y = u16::try_from(row - vs).unwrap_or(u16::MAX);
        Layout {
            rows,
            cursor: (x, y),
        }
    }

    // ---- editing -------------------------------------------------------

    /// Moves the cursor; returns false (nothing was edited).
    fn go(&mut self, to: usize) -> bool {
        self.cursor = to;
        false
    }

    /// Inserts `s` at the cursor, dropping control characters but `\n`
    /// (a tab is a space) and stopping at `INPUT_MAX`.
    fn insert(&mut self, s: &str) {
        let mut clean = String::with_capacity(s.len());
        for c in s.chars() {
            let c = if c == '\t' { ' ' } else { c };
            if c.is_control() && c != '\n' {
                continue;
            }
            if self.text.len() + clean.len() + c.len_utf8() > INPUT_MAX {
                break;
            }
            clean.push(c);
        }
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
        // A combining mark typed after a letter joins its cluster: keep the
        // cursor on a boundary.
        self.cursor = self.snap(self.cursor);
    }

    fn replace(&mut self, start: usize, end: usize, with: &str) {
        self.text.replace_range(start..end, with);
        self.cursor = start + with.len();
    }

    fn delete_range(&mut self, start: usize, end: usize) -> Outcome {
        if start == end {
            return Outcome::Moved;
        }
        self.text.replace_range(start..end, "");
        self.cursor = start;
        self.end_walk_if_changed();
        Outcome::Edited
    }

    fn kill_range(&mut self, start: usize, end: usize) -> Outcome {
        if start == end {
            return Outcome::Moved;
        }
        self.kill = self.text[start..end].to_owned();
        self.delete_range(start, end)
    }

    fn submit(&mut self) -> Outcome {
        self.completion = None;
        self.end_walk();
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.hscroll.set(0);
        self.vscroll.set(0);
        if text.trim().is_empty() {
            return Outcome::Moved;
        }
        if self.history.last() != Some(&text) {
            self.history.push(text.clone());
            if self.history.len() > HISTORY_MAX {
                self.history.remove(0);
            }
        }
        Outcome::Submit(text)
    }

    // ---- history -------------------------------------------------------

    /// Up: a line up in a multi-line input, else the previous history entry.
    fn up(&mut self) -> Outcome {
        let (row, col) = self.cursor_row_col();
        if row > 0 {
            self.cursor = self.at_row_col(row - 1, col);
            return Outcome::Moved;
        }
        if self.history.is_empty() {
            return Outcome::Moved;
        }
        let at = match &self.walk {
            None => {
                self.walk = Some(Walk {
                    at: self.history.len(),
                    draft: self.text.clone(),
                });
                self.history.len() - 1
            }
            Some(w) if w.at == 0 => return Outcome::Moved,
            Some(w) => w.at - 1,
        };
        self.show_history(at);
        Outcome::Edited
    }

    /// Down: a line down in a multi-line input, else the next history
    /// entry, and after the last one the draft that was being typed.
    fn down(&mut self) -> Outcome {
        let (row, col) = self.cursor_row_col();
        if row + 1 < self.line_count() {
            self.cursor = self.at_row_col(row + 1, col);
            return Outcome::Moved;
        }
        let Some(w) = &self.walk else {
            return Outcome::Moved;
        };
        let at = w.at + 1;
        if at >= self.history.len() {
            let draft = self.walk.take().expect("checked above").draft;
            self.text = draft;
            self.cursor = self.text.len();
        } else {
            self.show_history(at);
        }
        Outcome::Edited
    }

    fn show_history(&mut self, at: usize) {
        self.text = self.history[at].clone();
        self.cursor = self.text.len();
        if let Some(w) = &mut self.walk {
            w.at = at;
        }
    }

    fn end_walk(&mut self) {
        self.walk = None;
    }

    /// Editing a history entry makes it the new draft: the walk ends (the
    /// entry itself is left as it was in the history).
    fn end_walk_if_changed(&mut self) {
        if let Some(w) = &self.walk
            && self.history.get(w.at) != Some(&self.text)
        {
            self.walk = None;
        }
    }

    // ---- completion ----------------------------------------------------

    fn start_completion(
        &mut self,
        complete: &mut dyn FnMut(&str, bool) -> Vec<String>,
        step: isize,
    ) -> Outcome {
        let start = self.text[..self.cursor]
            .rfind(char::is_whitespace)
            .map_or(0, |i| {
                i + self.text[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &self.text[start..self.cursor];
        if word.is_empty() {
            return Outcome::Moved;
        }
        let list = complete(word, start == 0);
        if list.is_empty() {
            return Outcome::Moved;
        }
        let at = if step > 0 { 0 } else { list.len() - 1 };
        let typed = word.to_owned();
        let end = self.cursor;
        let pick = list[at].clone();
        self.replace(start, end, &pick);
        if list.len() > 1 {
            self.completion = Some(Completion {
                list,
                at,
                start,
                end: self.cursor,
                typed,
            });
        }
        self.end_walk_if_changed();
        Outcome::Edited
    }

    fn cycle(&mut self, step: isize) -> Outcome {
        let Some(c) = &mut self.completion else {
            return Outcome::Ignored;
        };
        let n = c.list.len() as isize;
        c.at = usize::try_from((c.at as isize + step).rem_euclid(n)).unwrap_or(0);
        let (start, end, pick) = (c.start, c.end, c.list[c.at].clone());
        self.replace(start, end, &pick);
        if let Some(c) = &mut self.completion {
            c.end = self.cursor;
        }
        Outcome::Edited
    }

    // ---- positions -----------------------------------------------------

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i)
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map_or(self.cursor, |g| self.cursor + g.len())
    }

    /// The nearest grapheme boundary at or after `at`.
    fn snap(&self, at: usize) -> usize {
        let mut pos = 0;
        for g in self.text.graphemes(true) {
            if pos >= at {
                return pos;
            }
            pos += g.len();
        }
        pos
    }

    /// M-b: back to the start of the word before the cursor (a word is
    /// letters, digits and `_`).
    fn word_left(&self) -> usize {
        let gs: Vec<(usize, &str)> = self.text[..self.cursor].grapheme_indices(true).collect();
        let mut i = gs.len();
        while i > 0 && !is_word(gs[i - 1].1) {
            i -= 1;
        }
        while i > 0 && is_word(gs[i - 1].1) {
            i -= 1;
        }
        gs.get(i).map_or(self.cursor, |g| g.0)
    }

    /// M-f: forward to the end of the word after the cursor.
    fn word_right(&self) -> usize {
        let mut pos = self.cursor;
        let mut gs = self.text[self.cursor..].graphemes(true).peekable();
        while let Some(g) = gs.next_if(|g| !is_word(g)) {
            pos += g.len();
        }
        while let Some(g) = gs.next_if(|g| is_word(g)) {
            pos += g.len();
        }
        pos
    }

    /// C-w: back to the start of the whitespace-separated word before the
    /// cursor (as in a shell).
    fn space_word_start(&self) -> usize {
        let before = &self.text[self.line_start()..self.cursor];
        let trimmed = before.trim_end_matches(' ');
        let start = trimmed.rfind(' ').map_or(0, |i| i + 1);
        self.line_start() + start
    }

    /// The cursor's row (line) and display column.
    fn cursor_row_col(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let row = before.matches('\n').count();
        let line = &before[self.line_start()..];
        (row, line.width())
    }

    /// The boundary in line `row` closest to display column `col`, not past it.
    fn at_row_col(&self, row: usize, col: usize) -> usize {
        let mut start = 0;
        for (i, line) in self.text.split('\n').enumerate() {
            if i == row {
                let mut w = 0;
                let mut pos = start;
                for g in line.graphemes(true) {
                    let gw = g.width();
                    if w + gw > col {
                        break;
                    }
                    w += gw;
                    pos += g.len();
                }
                return pos;
            }
            start += line.len() + 1;
        }
        self.text.len()
    }
}

fn is_word(g: &str) -> bool {
    g.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The part of `line` from display column `from`, at most `width` columns.
/// A wide character cut by either edge becomes spaces, so the columns of
/// everything else stay where they are.
pub(crate) fn columns(line: &str, from: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    let end = from + width;
    for g in line.graphemes(true) {
        let gw = g.width();
        let next = col + gw;
        if next <= from {
            col = next;
            continue;
        }
        if col >= end {
            break;
        }
        if col < from || next > end {
            // Cut by an edge: pad what is visible of it.
            let visible = next.min(end) - col.max(from);
            out.extend(std::iter::repeat_n(' ', visible));
        } else {
            out.push_str(g);
        }
        col = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key from a short name: `C-a`, `M-b`, `Left`, `BS`, `M-Enter`…
    /// Anything else is text typed one character at a time.
    fn keys(spec: &str) -> Vec<KeyEvent> {
        let named = |k: &str| -> Option<KeyEvent> {
            let (mods, name) = if let Some(r) = k.strip_prefix("C-") {
                (KeyModifiers::CONTROL, r)
            } else if let Some(r) = k.strip_prefix("M-") {
                (KeyModifiers::ALT, r)
            } else if let Some(r) = k.strip_prefix("S-") {
                (KeyModifiers::SHIFT, r)
            } else {
                (KeyModifiers::NONE, k)
            };
            let code = match name {
                "Left" => KeyCode::Left,
                "Right" => KeyCode::Right,
                "Up" => KeyCode::Up,
                "Down" => KeyCode::Down,
                "Home" => KeyCode::Home,
                "End" => KeyCode::End,
                "BS" => KeyCode::Backspace,
                "Del" => KeyCode::Delete,
                "Enter" => KeyCode::Enter,
                "Esc" => KeyCode::Esc,
                "Tab" if mods == KeyModifiers::SHIFT => KeyCode::BackTab,
                "Tab" => KeyCode::Tab,
                c if mods != KeyModifiers::NONE && c.chars().count() == 1 => {
                    KeyCode::Char(c.chars().next().expect("one char"))
                }
                _ => return None,
            };
            Some(KeyEvent::new(code, mods))
        };
        let mut out = Vec::new();
        for k in spec.split(' ') {
            match named(k) {
                Some(key) => out.push(key),
                None => out.extend(
                    k.chars()
                        .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
                ),
            }
        }
        out
    }

    /// The editor's text with `|` at the cursor.
    fn shown(e: &Editor) -> String {
        let mut s = e.text().to_owned();
        s.insert(e.cursor(), '|');
        s
    }

    /// Starts from `start` (`|` marks the cursor), presses `spec`, and
    /// compares the text and cursor with `want`.
    fn check(start: &str, spec: &str, want: &str) {
        let mut e = Editor::new();
        let at = start.find('|').expect("a cursor in the start text");
        e.set_text(&start.replace('|', ""));
        e.cursor = at;
        for k in keys(spec) {
            e.handle(k, &mut |_, _| Vec::new());
        }
        assert_eq!(shown(&e), want, "from {start:?} pressing {spec:?}");
    }

    #[test]
    fn emacs_keys_move_and_edit() {
        let cases = [
            ("hello world|", "C-a", "|hello world"),
            ("|hello world", "C-e", "hello world|"),
            ("hello|", "C-b C-b", "hel|lo"),
            ("|hello", "C-f C-f", "he|llo"),
            ("hello big world|", "M-b", "hello big |world"),
            ("hello big world|", "M-b M-b", "hello |big world"),
            ("|hello, big world", "M-f", "hello|, big world"),
            ("|hello, big world", "M-f M-f", "hello, big| world"),
            ("hello |big world", "C-k", "hello |"),
            ("hello |big world", "C-u", "|big world"),
            ("hello big world|", "C-w", "hello big |"),
            ("hello big   |", "C-w", "hello |"),
            ("hello |big world", "M-d", "hello | world"),
            ("hel|lo", "C-d", "hel|o"),
            ("hel|lo", "BS", "he|lo"),
            ("hel|lo", "Del", "hel|o"),
            ("hel|lo", "Left Left Right", "he|llo"),
            ("hel|lo", "Home", "|hello"),
            ("hel|lo", "End", "hello|"),
            ("|hello", "BS", "|hello"),
            ("hello|", "Del C-d", "hello|"),
            ("hello |big world", "C-k C-e C-y", "hello big world|"),
            ("hello big |world", "C-w C-a C-y", "big |hello world"),
            ("ab|", "x y z", "abxyz|"),
            ("a|b", "C-Left", "|ab"),
        ];
        for (start, spec, want) in cases {
            check(start, spec, want);
        }
    }

    #[test]
    fn graphemes_move_and_delete_as_one() {
        let cases = [
            // e + combining acute accent is one character.
            ("cafe\u{301}|", "BS", "caf|"),
            ("cafe\u{301}|", "Left", "caf|e\u{301}"),
            // A flag is two code points, one character.
            ("a🇫🇷|b", "Left", "a|🇫🇷b"),
            ("a|🇫🇷b", "Del", "a|b"),
            // A family emoji joined by zero-width joiners.
            ("x👨‍👩‍👧|", "BS", "x|"),
            ("漢字|", "BS", "漢|"),
            ("|漢字", "M-f", "漢字|"),
        ];
        for (start, spec, want) in cases {
            check(start, spec, want);
        }
    }

    #[test]
    fn multi_line_input() {
        let cases = [
            ("one|", "M-Enter two", "one\ntwo|"),
            ("one|", "S-Enter two", "one\ntwo|"),
            ("one\ntwo|", "C-a", "one\n|two"),
            ("one\ntw|o", "Up", "on|e\ntwo"),
            ("on|e\ntwo", "Down", "one\ntw|o"),
            ("one|\ntwo", "C-k", "one|two"),
            ("one\n|two", "BS", "one|two"),
            ("one\nt|wo", "C-u", "one\n|wo"),
            ("long line|\nx", "Down", "long line\nx|"),
        ];
        for (start, spec, want) in cases {
            check(start, spec, want);
        }
    }

    #[test]
    fn enter_submits_the_whole_text_and_keeps_it_in_history() {
        let mut e = Editor::new();
        let mut none = |_: &str, _: bool| Vec::new();
        for k in keys("first M-Enter second") {
            e.handle(k, &mut none);
        }
        let out = e.handle(keys("Enter")[0], &mut none);
        assert_eq!(out, Outcome::Submit("first\nsecond".into()));
        assert_eq!(e.text(), "");
        assert_eq!(e.history(), ["first\nsecond"]);
        // Blank input submits nothing.
        for k in keys("M-Enter") {
            e.handle(k, &mut none);
        }
        assert_eq!(e.handle(keys("Enter")[0], &mut none), Outcome::Moved);
        assert_eq!(e.history().len(), 1);
    }

    #[test]
    fn history_walk_keeps_the_draft() {
        let mut e = Editor::new();
        let mut none = |_: &str, _: bool| Vec::new();
        let mut press = |e: &mut Editor, spec: &str| {
            let mut last = Outcome::Ignored;
            for k in keys(spec) {
                last = e.handle(k, &mut none);
            }
            last
        };
        press(&mut e, "one Enter two Enter two Enter three Enter");
        // The same input twice in a row is kept once.
        assert_eq!(e.history(), ["one", "two", "three"]);
        press(&mut e, "draft");
        press(&mut e, "Up");
        assert_eq!(shown(&e), "three|");
        press(&mut e, "Up Up Up Up");
        assert_eq!(shown(&e), "one|");
        press(&mut e, "Down");
        assert_eq!(shown(&e), "two|");
        press(&mut e, "Down Down");
        assert_eq!(shown(&e), "draft|");
        press(&mut e, "Down");
        assert_eq!(shown(&e), "draft|");
        // Editing an entry sends the edited text and leaves the entry alone.
        press(&mut e, "C-u Up Up !");
        assert_eq!(shown(&e), "two!|");
        let out = press(&mut e, "Enter");
        assert_eq!(out, Outcome::Submit("two!".into()));
        assert_eq!(e.history(), ["one", "two", "three", "two!"]);
    }

    #[test]
    fn history_is_capped() {
        let mut e = Editor::new();
        for i in 0..HISTORY_MAX + 5 {
            e.set_text(&format!("m{i}"));
            e.handle(keys("Enter")[0], &mut |_, _| Vec::new());
        }
        assert_eq!(e.history().len(), HISTORY_MAX);
        assert_eq!(e.history()[0], "m5");
    }

    fn nicks(word: &str, at_start: bool) -> Vec<String> {
        let suffix = if at_start { ": " } else { " " };
        if let Some(w) = word.strip_prefix('/') {
            return ["join", "juggle", "me"]
                .iter()
                .filter(|c| c.starts_with(w))
                .map(|c| format!("/{c} "))
                .collect();
        }
        if word.starts_with('#') {
            return ["#lobby", "#lounge"]
                .iter()
                .filter(|r| r.starts_with(word))
                .map(|r| format!("{r} "))
                .collect();
        }
        ["alice", "alfred", "bob"]
            .iter()
            .filter(|n| n.starts_with(&word.to_lowercase()))
            .map(|n| format!("{n}{suffix}"))
            .collect()
    }

    fn press_completing(e: &mut Editor, spec: &str) {
        for k in keys(spec) {
            e.handle(k, &mut nicks);
        }
    }

    #[test]
    fn tab_completes_nicks_rooms_and_commands() {
        let cases = [
            ("b|", "Tab", "bob: |", None),
            ("hi b|", "Tab", "hi bob |", None),
            ("a|", "Tab", "alice: |", Some(0)),
            ("a|", "Tab Tab", "alfred: |", Some(1)),
            ("a|", "Tab Tab Tab", "alice: |", Some(0)),
            ("a|", "S-Tab", "alfred: |", Some(1)),
            ("a|", "Tab Esc", "a|", None),
            ("a|", "Tab Enter", "alice: |", None),
            ("a|", "Tab Tab x", "alfred: x|", None),
            ("go #l|", "Tab", "go #lobby |", Some(0)),
            ("/j|", "Tab Tab", "/juggle |", Some(1)),
            ("z|", "Tab", "z|", None),
            ("hi |", "Tab", "hi |", None),
            ("hi a| there", "Tab", "hi alice | there", Some(0)),
        ];
        for (start, spec, want, popup) in cases {
            let mut e = Editor::new();
            let at = start.find('|').expect("cursor");
            e.set_text(&start.replace('|', ""));
            e.cursor = at;
            press_completing(&mut e, spec);
            assert_eq!(shown(&e), want, "from {start:?} pressing {spec:?}");
            assert_eq!(
                e.completion().map(|c| c.at),
                popup,
                "popup from {start:?} pressing {spec:?}"
            );
        }
    }

    #[test]
    fn completion_gets_the_word_and_whether_it_starts_the_input() {
        let mut seen = Vec::new();
        let mut e = Editor::new();
        e.set_text("/msg @al");
        e.handle(keys("Tab")[0], &mut |w, start| {
            seen.push((w.to_owned(), start));
            Vec::new()
        });
        e.set_text("#ro");
        e.handle(keys("Tab")[0], &mut |w, start| {
            seen.push((w.to_owned(), start));
            Vec::new()
        });
        assert_eq!(seen, [("@al".to_owned(), false), ("#ro".to_owned(), true)]);
    }

    #[test]
    fn each_buffer_keeps_its_draft() {
        let mut e = Editor::new();
        e.switch_buffer("#lobby");
        press_completing(&mut e, "hello C-b");
        e.switch_buffer("bob");
        assert_eq!(shown(&e), "|");
        press_completing(&mut e, "psst");
        e.switch_buffer("#lobby");
        assert_eq!(shown(&e), "hell|o");
        e.switch_buffer("bob");
        assert_eq!(shown(&e), "psst|");
        // A buffer with nothing typed keeps no draft.
        press_completing(&mut e, "C-u");
        e.switch_buffer("#lobby");
        e.switch_buffer("bob");
        assert_eq!(shown(&e), "|");
    }

    #[test]
    fn paste_and_typed_control_characters() {
        let mut e = Editor::new();
        e.paste("one\r\ntwo\rthree\tfour\x1b[2Jfive\x07");
        assert_eq!(e.text(), "one\ntwo\nthree four[2Jfive");
        let mut e = Editor::new();
        e.handle(
            KeyEvent::new(KeyCode::Char('\u{1b}'), KeyModifiers::NONE),
            &mut |_, _| Vec::new(),
        );
        assert_eq!(e.text(), "");
    }

    #[test]
    fn the_input_is_capped() {
        let mut e = Editor::new();
        e.paste(&"x".repeat(INPUT_MAX + 10));
        assert_eq!(e.text().len(), INPUT_MAX);
    }

    #[test]
    fn a_long_line_scrolls_sideways() {
        let mut e = Editor::new();
        e.set_text("0123456789abcdefghij");
        // Cursor at the end (column 20) in a box 10 wide.
        let l = e.layout(10, 1);
        assert_eq!(l.rows, ["bcdefghij"]);
        assert_eq!(l.cursor, (9, 0));
        // Moving left inside the view does not scroll.
        for _ in 0..5 {
            e.handle(keys("Left")[0], &mut |_, _| Vec::new());
        }
        let l = e.layout(10, 1);
        assert_eq!(l.rows, ["bcdefghij"]);
        assert_eq!(l.cursor, (4, 0));
        // Leaving it on the left scrolls back with some context.
        e.handle(keys("C-a")[0], &mut |_, _| Vec::new());
        let l = e.layout(10, 1);
        assert_eq!(l.rows, ["0123456789"]);
        assert_eq!(l.cursor, (0, 0));
    }

    #[test]
    fn wide_characters_cut_by_the_edge_become_spaces() {
        assert_eq!(columns("漢字かな", 1, 4), " 字 ");
        assert_eq!(columns("漢字かな", 0, 3), "漢 ");
        assert_eq!(columns("ab", 0, 10), "ab");
        let mut e = Editor::new();
        e.set_text("漢字かなカナ");
        let l = e.layout(6, 1);
        // The cursor is at column 12; the view shows columns 7..13.
        assert_eq!(l.cursor, (5, 0));
        assert_eq!(l.rows, [" カナ"]);
    }

    #[test]
    fn multi_line_layout_follows_the_cursor() {
        let mut e = Editor::new();
        e.set_text("a\nb\nc\nd");
        let l = e.layout(10, 2);
        assert_eq!(l.rows, ["c", "d"]);
        assert_eq!(l.cursor, (1, 1));
        for k in keys("Up Up Up") {
            e.handle(k, &mut |_, _| Vec::new());
        }
        let l = e.layout(10, 2);
        assert_eq!(l.rows, ["a", "b"]);
        assert_eq!(l.cursor, (1, 0));
    }
}
