//! Making other people's text safe for a terminal: the one rule for the
//! full-screen client and line mode alike.
//!
//! Everything another user wrote (messages, nicks, topics, reasons, away
//! messages) goes through [`sanitize`] before it is drawn or printed: a
//! control character could move the cursor, clear the screen or forge a
//! line that looks like it came from someone else, and a bidi override
//! could make a text read differently from what it is. The server already
//! refuses most of these (core `Text`), but the client does not rely on
//! it: an older or hostile server, or an IRC formatting code, must not
//! reach the terminal.

use std::borrow::Cow;

/// Makes `text` safe to draw on one line: IRC formatting codes are removed
/// (as the browser client does), C0 controls and DEL become their visible
/// Unicode "control pictures" (`␛`, `␇`, `␡`…), C1 controls become `�`,
/// tabs and line or paragraph separators become a space, and invisible
/// format characters (bidi overrides and isolates, zero-width spaces and
/// joiners, soft hyphens, BOMs, tags) are removed.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if text.chars().all(|c| !needs_work(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // IRC formatting: bold, italics, underline, strike, monospace,
            // reverse, reset; colours with their digits.
            '\x02' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f' => {}
            '\x03' => {
                // \x03[fg[,bg]] with one or two digits each; a comma
                // with no colour before it is text.
                if skip_digits(&mut chars, 2, |c| c.is_ascii_digit()) && chars.peek() == Some(&',')
                {
                    let mut look = chars.clone();
                    look.next();
                    if look.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        skip_digits(&mut chars, 2, |c| c.is_ascii_digit());
                    }
                }
            }
            '\x04' => {
                // \x04[RRGGBB[,RRGGBB]]
                if skip_digits(&mut chars, 6, |c| c.is_ascii_hexdigit())
                    && chars.peek() == Some(&',')
                {
                    let mut look = chars.clone();
                    look.next();
                    if look.peek().is_some_and(char::is_ascii_hexdigit) {
                        chars.next();
                        skip_digits(&mut chars, 6, |c| c.is_ascii_hexdigit());
                    }
                }
            }
            '\t' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '\0'..='\x1f' => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'));
            }
            '\x7f' => out.push('\u{2421}'),
            '\u{80}'..='\u{9f}' => out.push('\u{fffd}'),
            c if is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    max: usize,
    ok: impl Fn(&char) -> bool,
) -> bool {
    let mut any = false;
    for _ in 0..max {
        if chars.next_if(&ok).is_none() {
            break;
        }
        any = true;
    }
    any
}

fn needs_work(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_invisible_format(c)
}

/// Format characters that draw nothing but change how text around them
/// reads or measures.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{ad}'                      // soft hyphen
        | '\u{61c}'                   // Arabic letter mark
        | '\u{180e}'                  // Mongolian vowel separator
        | '\u{200b}'..='\u{200f}'     // zero-width space, (non-)joiner, LRM, RLM
        | '\u{202a}'..='\u{202e}'     // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
        | '\u{2066}'..='\u{206f}'     // bidi isolates, deprecated format chars
        | '\u{feff}'                  // BOM / zero-width no-break space
        | '\u{fff9}'..='\u{fffb}'     // interlinear annotations
        | '\u{e0000}'..='\u{e007f}' // tags
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_makes_control_characters_visible_and_drops_invisible_ones() {
        let cases = [
            ("plain text", "plain text"),
            ("\x1b[2J\x1b[H", "␛[2J␛[H"),
            ("bell\x07", "bell␇"),
            ("line\nforged <bob> hi", "line␊forged <bob> hi"),
            ("cr\rover", "cr␍over"),
            ("del\x7f", "del␡"),
            ("c1\u{9b}31m", "c1�31m"),
            ("tab\there", "tab here"),
            ("sep\u{2028}here", "sep here"),
            // A right-to-left override would show "exe.txt" as "txt.exe".
            ("evil\u{202e}txt.exe", "eviltxt.exe"),
            ("iso\u{2066}late\u{2069}", "isolate"),
            ("zero\u{200b}width\u{feff}", "zerowidth"),
            ("soft\u{ad}hyphen", "softhyphen"),
            // IRC formatting is removed, with a colour's digits.
            (
                "\x02bold\x02 \x0304,12red\x03 \x1ditalic\x0f",
                "bold red italic",
            ),
            ("\x03,5 comma stays", ",5 comma stays"),
            ("\x0399, x", ", x"),
            ("\x04ff0000hex\x04", "hex"),
            ("日本語 ok 🇫🇷", "日本語 ok 🇫🇷"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input), want, "sanitizing {input:?}");
        }
    }

    #[test]
    fn sanitized_text_has_no_control_or_format_characters() {
        let all: String = (0u32..0x3000)
            .chain(0xe0000..0xe0080)
            .chain(0xfe00..0xffff)
            .filter_map(char::from_u32)
            .collect();
        let out = sanitize(&all);
        for c in out.chars() {
            assert!(!c.is_control(), "control {c:?} left");
            assert!(!is_invisible_format(c), "format {c:?} left");
        }
    }
}
