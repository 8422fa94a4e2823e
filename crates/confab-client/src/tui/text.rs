//! Pure text helpers for drawing: making other people's text safe for a
//! terminal, a stable colour per nick, and wrapping by display columns.
//!
//! Everything another user wrote (messages, nicks, topics, reasons, away
//! messages) goes through [`sanitize`] before it reaches a cell: a control
//! character could move the cursor, clear the screen or forge a line that
//! looks like it came from someone else, and a bidi override could make a
//! text read differently from what it is. The server already refuses most
//! of these (core `Text`), but the client does not rely on it: an older or
//! hostile server, or an IRC formatting code, must not reach the terminal.

use std::borrow::Cow;

use ratatui::style::Color;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

pub use crate::safe::sanitize;

/// The nick colours: mid-tones of the 256-colour palette, readable on dark
/// and on light backgrounds (no white, black, or pale yellow).
pub const NICK_COLOURS: [Color; 12] = [
    Color::Indexed(160), // red
    Color::Indexed(28),  // green
    Color::Indexed(172), // orange
    Color::Indexed(25),  // blue
    Color::Indexed(127), // magenta
    Color::Indexed(30),  // teal
    Color::Indexed(166), // dark orange
    Color::Indexed(64),  // olive green
    Color::Indexed(61),  // slate blue
    Color::Indexed(133), // orchid
    Color::Indexed(37),  // sea green
    Color::Indexed(131), // indian red
];

/// A nick's colour: the same for the same name in any case, in every run
/// (FNV-1a over the lowercased name's code points, as the browser client
/// hashes it).
pub fn nick_colour(nick: &str) -> Color {
    let mut h: u32 = 2_166_136_261;
    for c in nick.chars().flat_map(char::to_lowercase) {
        h ^= u32::from(c);
        h = h.wrapping_mul(16_777_619);
    }
    NICK_COLOURS[(h as usize) % NICK_COLOURS.len()]
}

/// The display width of `s` in columns.
pub fn width(s: &str) -> usize {
    s.width()
}

/// Cuts `s` to at most `max` columns, ending with `…` when cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.width() <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut w = 0;
    for g in s.graphemes(true) {
        let gw = g.width();
        if w + gw > max - 1 {
            break;
        }
        w += gw;
        out.push_str(g);
    }
    out.push('…');
    Cow::Owned(out)
}

/// Wraps `text` into rows: the first at most `first` columns wide, the
/// others at most `rest`. Breaks after spaces where it can (the spaces at
/// a break are dropped), inside a word only when the word is longer than
/// a row. Never returns an empty list.
pub fn wrap(text: &str, first: usize, rest: usize) -> Vec<String> {
    let (first, rest) = (first.max(1), rest.max(1));
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut row_w = 0;
    let limit = |rows: &Vec<String>| if rows.is_empty() { first } else { rest };
    // Words with the spaces that follow them.
    for word in text.split_word_bounds() {
        let ww = word.width();
        let is_space = word.chars().all(char::is_whitespace);
        if row_w + ww <= limit(&rows) {
            row.push_str(word);
            row_w += ww;
            continue;
        }
        if is_space {
            // A break: the spaces go.
            rows.push(std::mem::take(&mut row).trim_end().to_owned());
            row_w = 0;
            continue;
        }
        if ww <= limit(&rows) || row_w > 0 && ww <= rest {
            // The word fits on a row of its own.
            if row_w > 0 {
                rows.push(std::mem::take(&mut row).trim_end().to_owned());
            }
            row.push_str(word);
            row_w = ww;
            continue;
        }
        // Longer than a row: cut it by graphemes.
        for g in word.graphemes(true) {
            let gw = g.width();
            if row_w + gw > limit(&rows) && row_w > 0 {
                rows.push(std::mem::take(&mut row));
                row_w = 0;
            }
            row.push_str(g);
            row_w += gw;
        }
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row.trim_end().to_owned());
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_colours_are_stable_and_ignore_case() {
        assert_eq!(nick_colour("Alice"), nick_colour("alice"));
        assert_eq!(nick_colour("ALICE"), nick_colour("alice"));
        // Fixed values: a change of hash would recolour everyone.
        assert_eq!(nick_colour("bob"), Color::Indexed(61));
        let colours: std::collections::HashSet<_> =
            ["alice", "bob", "carol", "dave", "erin", "frank"]
                .iter()
                .map(|n| format!("{:?}", nick_colour(n)))
                .collect();
        assert!(
            colours.len() >= 4,
            "nicks spread over the palette: {colours:?}"
        );
    }

    #[test]
    fn nick_colour_matches_the_browser_hash() {
        // web/client/js/format.js nickClass("alice") with 12 colours:
        // FNV-1a over code points of "alice".
        let mut h: u32 = 2_166_136_261;
        for c in "alice".chars() {
            h ^= c as u32;
            h = h.wrapping_mul(16_777_619);
        }
        assert_eq!(nick_colour("Alice"), NICK_COLOURS[h as usize % 12]);
    }

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        let cases: [(&str, usize, usize, &[&str]); 8] = [
            ("hello world", 20, 20, &["hello world"]),
            ("hello world", 5, 5, &["hello", "world"]),
            ("hello world", 8, 8, &["hello", "world"]),
            ("one two three four", 9, 6, &["one two", "three", "four"]),
            ("abcdefghij", 4, 4, &["abcd", "efgh", "ij"]),
            ("", 5, 5, &[""]),
            ("漢字漢字漢字", 5, 5, &["漢字", "漢字", "漢字"]),
            (
                "see https://example.com/a/very/long/path ok",
                12,
                12,
                &["see https://", "example.com/", "a/very/long/", "path ok"],
            ),
        ];
        for (text, first, rest, want) in cases {
            assert_eq!(wrap(text, first, rest), want, "wrapping {text:?}");
        }
    }

    #[test]
    fn wrapped_rows_fit() {
        let text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, 日本語のテキスト 🇫🇷🇫🇷 sed do eiusmod";
        for w in 1..30 {
            for row in wrap(text, w, w) {
                assert!(row.width() <= w.max(2), "{row:?} wider than {w}");
            }
        }
    }

    #[test]
    fn truncate_ends_with_an_ellipsis() {
        assert_eq!(truncate("hello", 10), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        assert_eq!(truncate("漢字漢字", 5), "漢字…");
        assert_eq!(truncate("abc", 0), "");
    }
}
