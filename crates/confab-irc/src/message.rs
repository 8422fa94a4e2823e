//! [`Message`] and [`Tag`]: parsing one line, writing one line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use crate::{MAX_LINE, MAX_PARAMS, MAX_TAGS, ParseError};

/// One IRCv3 message tag.
///
/// The key is `[+][vendor/]name`: an optional `+` (a client-only tag), an
/// optional vendor (a hostname: ASCII letters, digits, `-` and `.`) ended by
/// `/`, and a name of ASCII letters, digits and `-`.
///
/// The value is held unescaped. On the wire `;`, space, `\`, CR and LF are
/// written `\:`, `\s`, `\\`, `\r` and `\n`; on parse, `\` before any other
/// character is dropped, as is a lone `\` at the end. A tag written `key`,
/// `key=` or `key=\` has no value: `value` is `None` (a `Some("")` given to
/// the writer is written as `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

/// One IRC message.
///
/// Build one with [`Message::new`] and the `with_*` methods, or get one
/// from [`Message::parse`]; write it with [`Message::write_to`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The tags, in the order they came; no key twice after a parse.
    pub tags: Vec<Tag>,
    /// The source (prefix), without its leading `:`; never empty after a
    /// parse (a lone `:` is no source).
    pub source: Option<String>,
    /// The command: a word of ASCII letters, digits and `_` with a letter
    /// in it, uppercased on parse, or three digits.
    pub command: String,
    /// The parameters; the trailing one is simply the last. At most
    /// [`MAX_PARAMS`].
    pub params: Vec<String>,
}

impl Message {
    /// Parses one line, given without its line ending (a trailing CR LF,
    /// LF or CR is tolerated and stripped).
    ///
    /// The checks run in this order: [`ParseError::Empty`] (only spaces),
    /// the size limits ([`ParseError::TagsTooLong`],
    /// [`ParseError::LineTooLong`]), [`ParseError::ContainsNul`],
    /// [`ParseError::InvalidUtf8`], then the structure ([`ParseError::BadTag`],
    /// [`ParseError::NoCommand`], [`ParseError::BadCommand`]).
    ///
    /// A 15th parameter takes the rest of the line (RFC 2812), so there are
    /// never more than [`MAX_PARAMS`]. When that rest does not start with
    /// `:` but holds a space, writing the message back needs a `:` that was
    /// not there; a line whose written form would then be over the limit is
    /// [`ParseError::LineTooLong`], so that every message parsed can be
    /// written and parsed again.
    pub fn parse(line: &[u8]) -> Result<Message, ParseError> {
        let line = strip_line_end(line);
        if line.iter().all(|&b| b == b' ') {
            return Err(ParseError::Empty);
        }
        // Limits first: bytes only, no allocation.
        let (tags_end, rest_start) = tag_section(line)?;
        if line.len() - rest_start > MAX_LINE - 2 {
            return Err(ParseError::LineTooLong);
        }
        if line.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
            return Err(ParseError::ContainsNul);
        }
        let line = std::str::from_utf8(line).map_err(|_| ParseError::InvalidUtf8)?;

        let tags = match tags_end {
            Some(end) => parse_tags(&line[1..end])?,
            None => Vec::new(),
        };

        let mut rest = line[rest_start..].trim_start_matches(' ');
        let source = match rest.strip_prefix(':') {
            Some(after_colon) => {
                let (source, after) = after_colon.split_once(' ').unwrap_or((after_colon, ""));
                rest = after.trim_start_matches(' ');
                (!source.is_empty()).then(|| source.to_owned())
            }
            None => None,
        };
        if rest.is_empty() {
            return Err(ParseError::NoCommand);
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if !valid_command(command) {
            return Err(ParseError::BadCommand);
        }

        let mut params = Vec::new();
        let mut spilled = false;
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            if params.len() == MAX_PARAMS - 1 {
                // RFC 2812: the 15th parameter is the rest, `:` or not.
                spilled = rest.contains(' ');
                params.push(rest.to_owned());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = after;
        }

        let message = Message {
            tags,
            source,
            command: command.to_ascii_uppercase(),
            params,
        };
        if spilled {
            // The written form gains a `:`; keep it parseable.
            let mut written = Vec::with_capacity(MAX_LINE);
            message.write_rest(&mut written, false);
            if written.len() > MAX_LINE - 2 {
                return Err(ParseError::LineTooLong);
            }
        }
        Ok(message)
    }

    /// A message with this command and nothing else.
    pub fn new(command: impl Into<String>) -> Message {
        Message {
            command: command.into(),
            ..Message::default()
        }
    }

    /// Sets the source (without a leading `:`).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Message {
        self.source = Some(source.into());
        self
    }

    /// Appends a parameter.
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Message {
        self.params.push(param.into());
        self
    }

    /// Sets a tag: replaces the value of a tag with this key, or appends
    /// one. `Some("")` is stored as `None`.
    #[must_use]
    pub fn with_tag(mut self, key: impl Into<String>, value: Option<&str>) -> Message {
        let key = key.into();
        let value = value.filter(|v| !v.is_empty()).map(str::to_owned);
        match self.tags.iter_mut().find(|t| t.key == key) {
            Some(tag) => tag.value = value,
            None => self.tags.push(Tag { key, value }),
        }
        self
    }

    /// The tag with this key: `None` when absent, `Some(None)` when present
    /// without a value (or with an empty one), `Some(Some(value))`
    /// otherwise. Of several tags with the key, the last counts.
    pub fn tag(&self, key: &str) -> Option<Option<&str>> {
        self.tags
            .iter()
            .rev()
            .find(|t| t.key == key)
            .map(|t| t.value.as_deref().filter(|v| !v.is_empty()))
    }

    /// Writes the message and CR LF to `out`. The last parameter gets a
    /// `:` only when it needs one (it is empty, holds a space or starts
    /// with `:`). Same as `write_to_trailing(out, false)`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_to_trailing(out, false);
    }

    /// Writes the message and CR LF to `out`; with `force_trailing`, the
    /// last parameter always gets a `:` (clients like it on the text of
    /// `PRIVMSG`, `NOTICE`, `TOPIC`, numerics' messages…).
    ///
    /// Tag values are escaped. The writer never produces a line that parses
    /// differently from what it means, whatever the message holds:
    ///
    /// - NUL, CR and LF are dropped from the source, command, tag values
    ///   and parameters (no line can be smuggled in); spaces are dropped
    ///   from the source and command. An empty source is not written.
    /// - A tag with a malformed key is not written.
    /// - A parameter before the last that cannot be a middle parameter
    ///   (empty, holding a space or starting with `:`) is written as the
    ///   trailing parameter, and the parameters after it are dropped.
    ///
    /// Those cases, an invalid command and more than [`MAX_PARAMS`]
    /// parameters (which the reader folds into the 15th) are bugs in the
    /// caller: debug builds panic on them. Messages from [`Message::parse`]
    /// never hit them. The writer does not check [`MAX_LINE`]: split long
    /// text with [`split_text`](crate::split_text) first.
    pub fn write_to_trailing(&self, out: &mut Vec<u8>, force_trailing: bool) {
        self.write_tags(out);
        self.write_rest(out, force_trailing);
        out.extend_from_slice(b"\r\n");
    }

    /// The message as written by [`Message::write_to`], CR LF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_hint());
        self.write_to(&mut out);
        out
    }

    fn size_hint(&self) -> usize {
        let tags: usize = self
            .tags
            .iter()
            .map(|t| t.key.len() + t.value.as_ref().map_or(0, |v| v.len() + 1) + 1)
            .sum();
        let source = self.source.as_ref().map_or(0, |s| s.len() + 2);
        let params: usize = self.params.iter().map(|p| p.len() + 2).sum();
        tags + 1 + source + self.command.len() + params + 2
    }

    fn write_tags(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for tag in &self.tags {
            let valid = valid_tag_key(&tag.key);
            debug_assert!(valid, "malformed tag key {:?}", tag.key);
            if !valid {
                continue;
            }
            out.push(if first { b'@' } else { b';' });
            first = false;
            out.extend_from_slice(tag.key.as_bytes());
            if let Some(value) = tag.value.as_deref().filter(|v| !v.is_empty()) {
                out.push(b'=');
                escape_value(value, out);
            }
        }
        if !first {
            out.push(b' ');
        }
    }

    /// Everything after the tags: source, command, parameters (no CR LF).
    fn write_rest(&self, out: &mut Vec<u8>, force_trailing: bool) {
        if let Some(source) = &self.source {
            debug_assert!(!source.contains(' '), "space in source {source:?}");
            let (source, _) = clean(source, true);
            if !source.is_empty() {
                out.push(b':');
                out.extend_from_slice(source.as_bytes());
                out.push(b' ');
            }
        }
        debug_assert!(
            valid_command(&self.command),
            "malformed command {:?}",
            self.command
        );
        out.extend_from_slice(clean(&self.command, true).0.as_bytes());

        debug_assert!(
            self.params.len() <= MAX_PARAMS,
            "{} parameters, at most {MAX_PARAMS} can be sent",
            self.params.len()
        );
        let last = self.params.len().saturating_sub(1);
        for (i, param) in self.params.iter().enumerate() {
            let (param, space) = clean(param, false);
            let needs_colon = param.is_empty() || param.starts_with(':') || space;
            out.push(b' ');
            if i < last && !needs_colon {
                out.extend_from_slice(param.as_bytes());
                continue;
            }
            debug_assert!(
                i == last,
                "parameter {i} ({param:?}) is not the last but cannot be a middle parameter"
            );
            if needs_colon || force_trailing {
                out.push(b':');
            }
            out.extend_from_slice(param.as_bytes());
            break;
        }
    }
}

impl fmt::Display for Message {
    /// The line as [`Message::write_to`] writes it, without CR LF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(self.size_hint());
        self.write_tags(&mut out);
        self.write_rest(&mut out, false);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// Drops one trailing LF, then one trailing CR.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Finds the tag section of `line`: the end of the tags (the first space,
/// or the end of the line) if the line starts with `@`, and where the rest
/// starts (after the spaces that follow the tags). Checks [`MAX_TAGS`],
/// scanning at most `MAX_TAGS + 1` bytes.
fn tag_section(line: &[u8]) -> Result<(Option<usize>, usize), ParseError> {
    if line.first() != Some(&b'@') {
        return Ok((None, 0));
    }
    let window = &line[..line.len().min(MAX_TAGS)];
    let Some(space) = window.iter().position(|&b| b == b' ') else {
        return if line.len() > MAX_TAGS {
            Err(ParseError::TagsTooLong)
        } else {
            Ok((Some(line.len()), line.len()))
        };
    };
    let mut end = space;
    while end < line.len() && line[end] == b' ' {
        end += 1;
        if end > MAX_TAGS {
            return Err(ParseError::TagsTooLong);
        }
    }
    Ok((Some(space), end))
}

/// Parses the tags between `@` and the first space. Of duplicate keys the
/// last value wins, at the place of the first.
fn parse_tags(section: &str) -> Result<Vec<Tag>, ParseError> {
    let mut tags: Vec<Tag> = Vec::new();
    let mut slots: HashMap<&str, usize> = HashMap::new();
    for item in section.split(';') {
        let (key, raw) = match item.split_once('=') {
            Some((key, raw)) => (key, Some(raw)),
            None => (item, None),
        };
        if !valid_tag_key(key) {
            return Err(ParseError::BadTag);
        }
        let value = raw.map(unescape_value).filter(|v| !v.is_empty());
        match slots.get(key) {
            Some(&slot) => tags[slot].value = value,
            None => {
                slots.insert(key, tags.len());
                tags.push(Tag {
                    key: key.to_owned(),
                    value,
                });
            }
        }
    }
    Ok(tags)
}

/// `[+][vendor/]name`, vendor a hostname, name `[A-Za-z0-9-]+`.
fn valid_tag_key(key: &str) -> bool {
    let key = key.strip_prefix('+').unwrap_or(key);
    let (vendor, name) = match key.split_once('/') {
        Some((vendor, name)) => (Some(vendor), name),
        None => (None, key),
    };
    let vendor_ok = vendor.is_none_or(|v| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    });
    vendor_ok && !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A word of ASCII letters, digits and `_` with a letter in it (a name,
/// known or not: an unknown one is answered 421, as `NONEXISTENT_COMMAND`
/// is by modern servers), or exactly three digits (a numeric).
fn valid_command(command: &str) -> bool {
    let b = command.as_bytes();
    let word = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    (word && b.iter().any(u8::is_ascii_alphabetic))
        || (b.len() == 3 && b.iter().all(u8::is_ascii_digit))
}

fn unescape_value(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other), // `\\` included
            None => {}                      // a lone `\` at the end
        }
    }
    out
}

/// Escapes a tag value; drops NUL, which has no escape.
fn escape_value(value: &str, out: &mut Vec<u8>) {
    for &b in value.as_bytes() {
        match b {
            b';' => out.extend_from_slice(b"\\:"),
            b' ' => out.extend_from_slice(b"\\s"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0 => {}
            _ => out.push(b),
        }
    }
}

/// `s` without NUL, CR, LF and, with `no_space`, spaces; and whether `s`
/// holds a space (a parameter with one must be the trailing one).
fn clean(s: &str, no_space: bool) -> (Cow<'_, str>, bool) {
    let (bad, space) = scan(s.as_bytes());
    let cleaned = if bad || (no_space && space) {
        Cow::Owned(
            s.chars()
                .filter(|&c| !(matches!(c, '\0' | '\r' | '\n') || (no_space && c == ' ')))
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    };
    (cleaned, space)
}

/// Whether `b` holds a NUL, CR or LF, and whether it holds a space. One
/// pass without an early exit, which the compiler turns into vector
/// instructions: a scan by `char` was most of what writing a line cost.
fn scan(b: &[u8]) -> (bool, bool) {
    b.iter().fold((false, false), |(bad, space), &c| {
        (bad | matches!(c, 0 | b'\r' | b'\n'), space | (c == b' '))
    })
}
