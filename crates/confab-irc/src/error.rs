//! Why a line is not an IRC message.

use std::fmt;

/// Why [`Message::parse`](crate::Message::parse) refused a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but spaces (or nothing at all). Servers ignore such lines.
    Empty,
    /// The tag section is over [`MAX_TAGS`](crate::MAX_TAGS) bytes
    /// (reply `417 ERR_INPUTTOOLONG`).
    TagsTooLong,
    /// The line without its tags is over
    /// [`MAX_LINE`](crate::MAX_LINE)` - 2` bytes (reply
    /// `417 ERR_INPUTTOOLONG`).
    LineTooLong,
    /// Tags or a source, but no command after them.
    NoCommand,
    /// The command is neither ASCII letters only nor exactly three digits.
    BadCommand,
    /// The line is not UTF-8.
    InvalidUtf8,
    /// A malformed tag: an empty key, or a key with characters outside
    /// `[+][vendor/]name`.
    BadTag,
    /// A NUL, CR or LF byte inside the line.
    ContainsNul,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty line",
            Self::TagsTooLong => "message tags too long",
            Self::LineTooLong => "line too long",
            Self::NoCommand => "no command",
            Self::BadCommand => "malformed command",
            Self::InvalidUtf8 => "line is not valid UTF-8",
            Self::BadTag => "malformed message tag",
            Self::ContainsNul => "line contains NUL, CR or LF",
        })
    }
}

impl std::error::Error for ParseError {}
