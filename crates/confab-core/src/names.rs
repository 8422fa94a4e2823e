//! Validated names: [`Nick`] for people and [`RoomName`] for rooms.
//!
//! Every door parses names through these types, so a malformed name can
//! never reach the hub. Both compare case-insensitively (ASCII case folding,
//! like IRC's `CASEMAPPING=ascii`) through their [`NickKey`] / [`RoomKey`],
//! while keeping the spelling the user chose for display.

use std::fmt;

use crate::input::is_invisible_format;

/// Why a name was refused. The `Display` text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name may be at most {max} characters long")]
    TooLong { max: usize },
    #[error("a name may not contain {0:?}; use letters, digits and - _ [ ] {{ }} \\ ` ^ |")]
    BadChar(char),
    #[error("a name must start with a letter or one of _ [ ] {{ }} \\ ` ^ |")]
    BadStart,
    #[error("room names start with # and may not contain spaces, commas or control characters")]
    BadRoom,
    #[error("a name may not contain invisible formatting characters (U+{0:04X})")]
    Invisible(u32),
}

/// Names nobody may take as a nick or register: the services IRC users
/// expect (`NickServ` is answered by the IRC door itself) and names that
/// would pass for the server speaking. Compared case-insensitively; the
/// server adds its own (`HubConfig::reserved`: the network name and
/// `chat.reserved_names`).
pub const RESERVED_NICKS: &[&str] = &[
    "NickServ", "ChanServ", "OperServ", "MemoServ", "HostServ", "BotServ", "HelpServ", "SaslServ",
    "Global", "Services", "Server",
];

/// Whether `nick` is one of [`RESERVED_NICKS`].
pub fn is_reserved(nick: &Nick) -> bool {
    RESERVED_NICKS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(nick.as_str()))
}

/// A user's nickname: 1..=max ASCII characters, the RFC 2812 nick alphabet
/// (letters, digits, `-` and `[]\`^{}|_`), not starting with a digit or `-`.
/// The alphabet is IRC's so that every name is valid on every door.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nick(Box<str>);

/// The case-folded form of a [`Nick`]: the identity used for uniqueness.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NickKey(Box<str>);

impl NickKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '[' | ']' | '\\' | '`' | '^' | '{' | '}' | '|' | '_')
}

impl Nick {
    /// Parses `s` as a nickname of at most `max_len` characters.
    pub fn parse(s: &str, max_len: usize) -> Result<Nick, NameError> {
        let first = s.chars().next().ok_or(NameError::Empty)?;
        if s.len() > max_len {
            return Err(NameError::TooLong { max: max_len });
        }
        if let Some(bad) = s
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || is_special(c)))
        {
            return Err(NameError::BadChar(bad));
        }
        if !(first.is_ascii_alphabetic() || is_special(first)) {
            return Err(NameError::BadStart);
        }
        Ok(Nick(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> NickKey {
        NickKey(self.0.to_ascii_lowercase().into())
    }

    /// The order of the two nicks' keys, without making them (sorting a
    /// member list by `key` made two strings per comparison).
    pub fn cmp_key(&self, other: &Nick) -> std::cmp::Ordering {
        self.0
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .cmp(other.0.bytes().map(|b| b.to_ascii_lowercase()))
    }
}

impl fmt::Display for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nick({})", self.0)
    }
}

/// A room name: `#` followed by 1..max-1 characters that are not spaces,
/// commas, colons or control characters (what IRC channel names allow, so
/// that IRC users can join the same rooms), nor invisible formatting
/// characters (bidi overrides, zero-width spaces…), which would let two
/// rooms look alike. Non-ASCII letters are allowed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Box<str>);

/// The case-folded form of a [`RoomName`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey(Box<str>);

impl RoomKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RoomName {
    /// Parses `s` as a room name of at most `max_len` bytes (including the
    /// `#`). A missing `#` is added, so `/join rust` means `#rust`.
    pub fn parse(s: &str, max_len: usize) -> Result<RoomName, NameError> {
        let name = RoomName::parse_stored(s, max_len)?;
        if let Some(c) = name.0.chars().find(|&c| is_invisible_format(c)) {
            return Err(NameError::Invisible(c as u32));
        }
        Ok(name)
    }

    /// Parses a room name a store kept, under the rules it was stored
    /// with: like [`RoomName::parse`], but invisible format characters,
    /// allowed before, do not stop a database from loading. Never for
    /// user input.
    pub fn parse_stored(s: &str, max_len: usize) -> Result<RoomName, NameError> {
        let body = s.strip_prefix('#').unwrap_or(s);
        if body.is_empty() {
            return Err(NameError::Empty);
        }
        if body.len() + 1 > max_len {
            return Err(NameError::TooLong { max: max_len });
        }
        if body
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ':' | '\u{7}'))
        {
            return Err(NameError::BadRoom);
        }
        Ok(RoomName(format!("#{body}").into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> RoomKey {
        RoomKey(self.0.to_lowercase().into())
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_compare_as_their_keys_do() {
        let names = [
            "bob", "Alice", "alice2", "ALICE", "[x]", "_y", "Zed", "a|b", "A{b",
        ];
        let nicks: Vec<Nick> = names.iter().map(|n| Nick::parse(n, 20).unwrap()).collect();
        for a in &nicks {
            for b in &nicks {
                assert_eq!(a.cmp_key(b), a.key().cmp(&b.key()), "{a} {b}");
            }
        }
    }

    #[test]
    fn nicks() {
        let ok = ["alice", "Bob", "a", "x-1", "[away]", "_x_", "c3po", "a|b"];
        for n in ok {
            assert_eq!(Nick::parse(n, 20).unwrap().as_str(), n);
        }
        let bad = [
            ("", NameError::Empty),
            ("1abc", NameError::BadStart),
            ("-abc", NameError::BadStart),
            ("al ice", NameError::BadChar(' ')),
            ("al!ce", NameError::BadChar('!')),
            ("ålice", NameError::BadChar('å')),
            ("al\u{1b}ce", NameError::BadChar('\u{1b}')),
            ("abcdefghijklmnopqrstu", NameError::TooLong { max: 20 }),
        ];
        for (n, e) in bad {
            assert_eq!(Nick::parse(n, 20), Err(e), "{n:?}");
        }
    }

    #[test]
    fn nicks_refuse_bidi_overrides_and_invisible_characters() {
        // The nick alphabet is IRC's ASCII, so every Unicode format
        // character (category Cf) is refused as a bad character.
        for c in [
            '\u{ad}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            for name in [
                format!("al{c}ice"),
                format!("{c}alice"),
                format!("alice{c}"),
            ] {
                assert_eq!(
                    Nick::parse(&name, 20),
                    Err(NameError::BadChar(c)),
                    "{:04X}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn room_names_refuse_bidi_overrides_and_invisible_characters() {
        for c in [
            '\u{ad}',
            '\u{61c}',
            '\u{200b}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            let name = format!("#ru{c}st");
            assert_eq!(
                RoomName::parse(&name, 50),
                Err(NameError::Invisible(c as u32)),
                "{:04X}",
                c as u32
            );
        }
        assert_eq!(
            NameError::Invisible(0x202e).to_string(),
            "a name may not contain invisible formatting characters (U+202E)"
        );
        // Letters of any script stay allowed.
        assert!(RoomName::parse("#日本語", 50).is_ok());
        // A store still loads a room named before the rule, as it was.
        let old = RoomName::parse_stored("#ru\u{200b}st", 50).unwrap();
        assert_eq!(old.as_str(), "#ru\u{200b}st");
        assert_eq!(RoomName::parse_stored("#a b", 50), Err(NameError::BadRoom));
    }

    #[test]
    fn nick_keys_fold_case() {
        let a = Nick::parse("Alice", 20).unwrap();
        let b = Nick::parse("aLICE", 20).unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a, b);
    }

    #[test]
    fn rooms() {
        assert_eq!(RoomName::parse("#rust", 50).unwrap().as_str(), "#rust");
        assert_eq!(RoomName::parse("rust", 50).unwrap().as_str(), "#rust");
        assert_eq!(RoomName::parse("#café", 50).unwrap().as_str(), "#café");
        assert_eq!(RoomName::parse("#", 50), Err(NameError::Empty));
        assert_eq!(RoomName::parse("", 50), Err(NameError::Empty));
        for bad in ["#a b", "#a,b", "#a\u{7}", "#a:b", "#a\tb"] {
            assert_eq!(RoomName::parse(bad, 50), Err(NameError::BadRoom), "{bad:?}");
        }
        assert_eq!(
            RoomName::parse("#abcdef", 5),
            Err(NameError::TooLong { max: 5 })
        );
        assert_eq!(
            RoomName::parse("#Rust", 50).unwrap().key(),
            RoomName::parse("#rUST", 50).unwrap().key()
        );
    }
}
