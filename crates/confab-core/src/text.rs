//! [`Text`]: the validated body of a message, topic or quit reason.

use std::fmt;
use std::sync::Arc;

/// Why a text was refused. The `Display` text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("the message contains a control character (U+{0:04X}), which is not allowed")]
    Control(u32),
}

/// A message body: non-empty, at most `max` bytes of UTF-8, and free of
/// control characters other than IRC's formatting codes (bold, colour,
/// italics, …), which doors that cannot show them strip when rendering.
/// Control characters are refused rather than stripped: an escape sequence
/// smuggled into a room could otherwise repaint other users' terminals.
///
/// Cheap to clone: the text is shared.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text(Arc<str>);

/// IRC formatting codes: bold, colour, hex colour, reset, reverse, italics,
/// strikethrough, underline, monospace; and the CTCP delimiter (`\x01`),
/// which IRC clients exchange in messages (`VERSION`, `PING`).
pub fn is_format_code(c: char) -> bool {
    matches!(
        c,
        '\x01' | '\x02' | '\x03' | '\x04' | '\x0f' | '\x16' | '\x1d' | '\x1e' | '\x1f' | '\x11'
    )
}

impl Text {
    /// Validates `s` (trailing whitespace removed) as a text of at most
    /// `max` bytes. Tabs become spaces.
    pub fn parse(s: &str, max: usize) -> Result<Text, TextError> {
        let t = Text::parse_exact(s.trim_end(), max)?;
        if t.0.contains('\t') {
            return Ok(Text(t.0.replace('\t', " ").into()));
        }
        Ok(t)
    }

    /// Like [`Text::parse`], keeping `s` exactly as it is (IRC relays the
    /// text of a message byte for byte, trailing spaces and tabs included).
    pub fn parse_exact(s: &str, max: usize) -> Result<Text, TextError> {
        if s.trim().is_empty() {
            return Err(TextError::Empty);
        }
        if s.len() > max {
            return Err(TextError::TooLong { len: s.len(), max });
        }
        if let Some(c) = s
            .chars()
            .find(|&c| c.is_control() && c != '\t' && !is_format_code(c))
        {
            return Err(TextError::Control(c as u32));
        }
        Ok(Text(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(Text::parse("hi there  ", 100).unwrap().as_str(), "hi there");
        assert_eq!(
            Text::parse("  indented", 100).unwrap().as_str(),
            "  indented"
        );
        assert_eq!(Text::parse("a\tb", 100).unwrap().as_str(), "a b");
        assert_eq!(
            Text::parse("\x02bold\x02", 100).unwrap().as_str(),
            "\x02bold\x02"
        );
        assert_eq!(Text::parse("héllo ✓", 100).unwrap().as_str(), "héllo ✓");
        assert_eq!(Text::parse("   ", 100), Err(TextError::Empty));
        assert_eq!(Text::parse("", 100), Err(TextError::Empty));
        assert_eq!(
            Text::parse("abcdef", 5),
            Err(TextError::TooLong { len: 6, max: 5 })
        );
        assert_eq!(Text::parse("a\x1b[2Jb", 100), Err(TextError::Control(0x1b)));
        assert_eq!(Text::parse("a\rb", 100), Err(TextError::Control(0x0d)));
        assert_eq!(Text::parse("a\u{85}b", 100), Err(TextError::Control(0x85)));
    }
}
