//! confab's IRC wire format: a pure, sans-IO parser and serializer for IRC
//! messages, IRCv3 message tags included.
//!
//! Nothing here touches a socket. A door frames bytes into lines, hands each
//! line to [`Message::parse`], and renders its replies with
//! [`Message::write_to`]. The crate has no dependencies.
//!
//! # The rules, in short
//!
//! ```text
//! [@tags SP+] [:source SP+] COMMAND *(SP+ middle) [SP+ :trailing]
//! ```
//!
//! - **Limits are bytes of the raw line.** The tag section (from `@` through
//!   the spaces after it) may take [`MAX_TAGS`] bytes; the rest (source,
//!   command, parameters) `MAX_LINE - 2` = 510 bytes (the CR LF makes 512).
//!   Both are checked first, before any other work; either one failing
//!   should be answered with `417 ERR_INPUTTOOLONG`.
//! - **Strict about bytes.** NUL, CR or LF inside the line is
//!   [`ParseError::ContainsNul`]; anything that is not UTF-8 is
//!   [`ParseError::InvalidUtf8`] (the server advertises `UTF8ONLY`).
//! - **Lenient about spaces.** Any run of spaces separates two parts; spaces
//!   before the command and after the last parameter are ignored (a
//!   trailing parameter keeps its spaces, of course).
//! - **Commands** are words of ASCII letters, digits and `_` with a letter
//!   in them (uppercased on parse), or exactly three digits.
//! - **Tags**: see [`Tag`]. Escapes are undone on parse and redone on write,
//!   an empty value means no value, and of duplicate keys the last wins.
//! - **At most [`MAX_PARAMS`] (15) parameters**, as RFC 2812 says: once 14
//!   middle parameters are read, the 15th takes the rest of the line, spaces
//!   and all, with or without a leading `:` (the `:` is dropped).
//!
//! # Round trip
//!
//! For every message `m` that [`Message::parse`] returns,
//! `Message::parse(&m.to_bytes()) == Ok(m)`. Writing normalises (one space
//! between parts, `:` on the last parameter only when needed, escapes
//! re-done), so the written line is no longer than the one parsed, except
//! for the `:` that a 15th parameter taken without one gains (the parser
//! refuses such a line when that byte would take it over the limit). The
//! writer never produces an ambiguous line, whatever the message holds:
//! see [`Message::write_to_trailing`]. The fuzz target in `fuzz/` checks
//! all this; see `docs/fuzzing.md`.
//!
//! # Example
//!
//! ```
//! use confab_irc::{Message, ParseError, split_source};
//!
//! let m = Message::parse(b"@time=12:00;+typing :al!a@h privmsg #rust :hi all\r\n")?;
//! assert_eq!(m.command, "PRIVMSG");
//! assert_eq!(m.params, ["#rust", "hi all"]);
//! assert_eq!(m.tag("time"), Some(Some("12:00")));
//! assert_eq!(m.tag("+typing"), Some(None));
//! assert_eq!(split_source(m.source.as_deref().unwrap()), ("al", Some("a"), Some("h")));
//!
//! let reply = Message::new("NOTICE").with_source("confab").with_param("al").with_param("ok");
//! let mut out = Vec::new();
//! reply.write_to_trailing(&mut out, true);
//! assert_eq!(out, b":confab NOTICE al :ok\r\n");
//! assert_eq!(reply.to_bytes(), b":confab NOTICE al ok\r\n");
//!
//! assert_eq!(Message::parse(&[b'x'; 600]), Err(ParseError::LineTooLong));
//! # Ok::<(), ParseError>(())
//! ```

mod error;
mod message;
mod split;

#[cfg(test)]
mod tests;

pub use error::ParseError;
pub use message::{Message, Tag};
pub use split::{split_source, split_text};

/// The most bytes of a message without its tags, CR LF included: the
/// source, command and parameters may take `MAX_LINE - 2` = 510 bytes.
pub const MAX_LINE: usize = 512;

/// The most bytes of the tag section, from the `@` through the space (or
/// spaces) after it.
pub const MAX_TAGS: usize = 8191;

/// The most parameters of a message. The parser never returns more (the
/// 15th takes the rest of the line); [`Message::write_to`] expects no more.
pub const MAX_PARAMS: usize = 15;
