//! The one input policy for the values users set besides names and
//! messages: room keys, ban masks, topics, away messages, real names and
//! kick/part/quit reasons ([`Field`]).
//!
//! The hub checks every such value against these rules before it touches
//! its state, whichever door it came from, so a value that could forge a
//! line or drive a terminal (CR, LF, NUL, ESC…) or break another door's
//! wire format (a space in an IRC key) never reaches anyone. The limits are
//! [`InputLimits`], from config; IRC's ISUPPORT advertises the same values.
//!
//! - Every field: no control character (CR, LF, NUL, ESC, BEL, tab…); not
//!   over its limit, in bytes.
//! - Texts (topic, away, real name, reason): IRC's formatting codes (bold,
//!   colour…) are allowed, as in messages; doors that cannot show them
//!   strip them.
//! - Words (key, ban mask), which IRC carries as one parameter and a join
//!   lists with commas: no spaces, no commas, no leading `:`, no IRC
//!   formatting codes and no invisible formatting characters (bidi
//!   overrides, zero-width spaces: [`is_invisible_format`]).

use std::fmt;

use crate::text::{Text, TextError, is_format_code};

/// A value a user sets, as the rules and error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Topic,
    Key,
    BanMask,
    Away,
    Realname,
    Reason,
}

impl Field {
    /// Whether the value is one word (keys and masks), not a text.
    pub fn is_word(self) -> bool {
        matches!(self, Field::Key | Field::BanMask)
    }

    /// Parses `s` as this field's text (a topic, away message, real name
    /// or reason) the way a door reads a message ([`Text::parse`], at most
    /// `max` bytes, the door's message limit), with errors that name the
    /// field. The field's own, smaller limit is the hub's to check.
    pub fn text(self, s: &str, max: usize) -> Result<Text, InputError> {
        Text::parse(s, max).map_err(|e| match e {
            TextError::Empty => InputError::Empty(self),
            TextError::TooLong { len, max } => InputError::TooLong {
                field: self,
                len,
                max,
            },
            TextError::Control(code) => InputError::Control { field: self, code },
        })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Topic => "topic",
            Field::Key => "room key",
            Field::BanMask => "ban mask",
            Field::Away => "away message",
            Field::Realname => "real name",
            Field::Reason => "reason",
        })
    }
}

/// The longest value of each [`Field`], in bytes (config's `[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    pub topic: usize,
    pub key: usize,
    pub ban_mask: usize,
    pub away: usize,
    pub realname: usize,
    /// Kick, part and quit reasons.
    pub reason: usize,
}

impl Default for InputLimits {
    /// What IRC servers commonly use (TOPICLEN 390, KEYLEN 23, REALLEN 50,
    /// AWAYLEN/KICKLEN 200); a ban mask fits a full `nick!ident@host` of
    /// the default lengths (20 + 16 + 64 and the separators).
    fn default() -> Self {
        InputLimits {
            topic: 390,
            key: 23,
            ban_mask: 128,
            away: 200,
            realname: 50,
            reason: 200,
        }
    }
}

impl InputLimits {
    /// The limit of `field`.
    pub fn max(&self, field: Field) -> usize {
        match field {
            Field::Topic => self.topic,
            Field::Key => self.key,
            Field::BanMask => self.ban_mask,
            Field::Away => self.away,
            Field::Realname => self.realname,
            Field::Reason => self.reason,
        }
    }

    /// Checks `value` against the rules of `field` (see the module).
    pub fn check(&self, field: Field, value: &str) -> Result<(), InputError> {
        check(field, value, self.max(field))
    }
}

/// Why a value was refused. The `Display` text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the {0} cannot be empty")]
    Empty(Field),
    #[error("the {field} is {len} bytes long; the limit is {max}")]
    TooLong {
        field: Field,
        len: usize,
        max: usize,
    },
    #[error("the {field} contains a control character (U+{code:04X}), which is not allowed")]
    Control { field: Field, code: u32 },
    #[error(
        "the {field} contains an invisible formatting character (U+{code:04X}), which is not allowed"
    )]
    Invisible { field: Field, code: u32 },
    #[error("the {0} cannot contain spaces")]
    Space(Field),
    #[error("the {field} cannot contain {c:?}")]
    Forbidden { field: Field, c: char },
    #[error("the {field} cannot start with {c:?}")]
    BadStart { field: Field, c: char },
}

impl InputError {
    /// The field the refused value was for.
    pub fn field(&self) -> Field {
        match *self {
            InputError::Empty(field) | InputError::Space(field) => field,
            InputError::TooLong { field, .. }
            | InputError::Control { field, .. }
            | InputError::Invisible { field, .. }
            | InputError::Forbidden { field, .. }
            | InputError::BadStart { field, .. } => field,
        }
    }
}

/// Checks `value` against the rules of `field` with the limit `max`.
/// Characters are checked before the length, so a value that is both too
/// long and hostile is refused for what makes it hostile.
pub fn check(field: Field, value: &str, max: usize) -> Result<(), InputError> {
    if value.trim().is_empty() {
        return Err(InputError::Empty(field));
    }
    let word = field.is_word();
    for c in value.chars() {
        if c.is_control() && (word || !is_format_code(c)) {
            return Err(InputError::Control {
                field,
                code: c as u32,
            });
        }
        if !word {
            continue;
        }
        if c.is_whitespace() {
            return Err(InputError::Space(field));
        }
        if is_invisible_format(c) {
            return Err(InputError::Invisible {
                field,
                code: c as u32,
            });
        }
        if c == ',' {
            return Err(InputError::Forbidden { field, c });
        }
    }
    if word && value.starts_with(':') {
        return Err(InputError::BadStart { field, c: ':' });
    }
    if value.len() > max {
        return Err(InputError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// Format characters (Unicode category Cf, and the line and paragraph
/// separators) that draw nothing but change how the text around them reads
/// or measures: bidi embeddings, overrides, isolates and marks, zero-width
/// spaces and joiners, soft hyphens, BOMs, tags. Refused in names, room
/// names, keys and masks, where they would make two different values look
/// the same.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{ad}'                      // soft hyphen
        | '\u{600}'..='\u{605}'       // Arabic number signs
        | '\u{61c}'                   // Arabic letter mark
        | '\u{6dd}' | '\u{70f}' | '\u{890}'..='\u{891}' | '\u{8e2}'
        | '\u{180e}'                  // Mongolian vowel separator
        | '\u{200b}'..='\u{200f}'     // zero-width space, (non-)joiner, LRM, RLM
        | '\u{2028}'..='\u{2029}'     // line and paragraph separators
        | '\u{202a}'..='\u{202e}'     // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
        | '\u{2066}'..='\u{206f}'     // bidi isolates, deprecated format chars
        | '\u{feff}'                  // BOM / zero-width no-break space
        | '\u{fff9}'..='\u{fffb}'     // interlinear annotations
        | '\u{110bd}' | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'   // Egyptian hieroglyph format controls
        | '\u{1bca0}'..='\u{1bca3}'   // shorthand format controls
        | '\u{1d173}'..='\u{1d17a}'   // musical symbol format controls
        | '\u{e0000}'..='\u{e007f}' // tags
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload of the attack in issue 13: a forged private line and an
    /// OSC title sequence.
    const FORGED: &str =
        "x\r\n[12:00] [private] admin -> you: please /quit and /login again\x1b]0;PWNED\x07";

    fn limits() -> InputLimits {
        InputLimits::default()
    }

    #[test]
    fn defaults_are_what_irc_servers_use() {
        let l = limits();
        assert_eq!(
            (l.topic, l.key, l.ban_mask, l.away, l.realname, l.reason),
            (390, 23, 128, 200, 50, 200)
        );
    }

    #[test]
    fn every_field_refuses_control_characters_cr_lf_and_nul() {
        use Field::*;
        for field in [Topic, Key, BanMask, Away, Realname, Reason] {
            for (value, code) in [
                ("a\rb", 0x0d),
                ("a\nb", 0x0a),
                ("a\0b", 0x00),
                ("a\x1b[2Jb", 0x1b),
                ("bell\x07", 0x07),
                ("a\x7fb", 0x7f),
                ("c1\u{9b}31m", 0x9b),
                ("a\tb", 0x09),
            ] {
                assert_eq!(
                    limits().check(field, value),
                    Err(InputError::Control { field, code }),
                    "{field}: {value:?}"
                );
            }
            assert_eq!(
                limits().check(field, FORGED),
                Err(InputError::Control { field, code: 0x0d }),
                "{field}: the forged line"
            );
        }
    }

    #[test]
    fn every_field_refuses_empty_values() {
        use Field::*;
        for field in [Topic, Key, BanMask, Away, Realname, Reason] {
            for value in ["", "   "] {
                assert_eq!(
                    limits().check(field, value),
                    Err(InputError::Empty(field)),
                    "{field}"
                );
            }
        }
    }

    #[test]
    fn every_field_is_limited_in_bytes_by_its_own_config_value() {
        let l = InputLimits {
            topic: 10,
            key: 4,
            ban_mask: 6,
            away: 7,
            realname: 8,
            reason: 9,
        };
        use Field::*;
        for field in [Topic, Key, BanMask, Away, Realname, Reason] {
            let max = l.max(field);
            assert_eq!(l.check(field, &"a".repeat(max)), Ok(()), "{field}");
            assert_eq!(
                l.check(field, &"a".repeat(max + 1)),
                Err(InputError::TooLong {
                    field,
                    len: max + 1,
                    max
                }),
                "{field}"
            );
        }
        // Bytes, not characters: "é" is two.
        assert_eq!(
            l.check(Key, "ééé"),
            Err(InputError::TooLong {
                field: Key,
                len: 6,
                max: 4
            })
        );
        // A 64 KiB ban mask is refused whole.
        let huge = "a".repeat(64 * 1024);
        assert!(matches!(
            limits().check(BanMask, &huge),
            Err(InputError::TooLong { len: 65536, .. })
        ));
    }

    #[test]
    fn keys_and_masks_are_one_word() {
        use Field::*;
        for field in [Key, BanMask] {
            let bad = [
                ("a b", InputError::Space(field)),
                ("a\u{a0}b", InputError::Space(field)),
                ("a\u{3000}b", InputError::Space(field)),
                ("a,b", InputError::Forbidden { field, c: ',' }),
                (":ab", InputError::BadStart { field, c: ':' }),
                ("\x02bold", InputError::Control { field, code: 0x02 }),
                (
                    "a\u{202e}b",
                    InputError::Invisible {
                        field,
                        code: 0x202e,
                    },
                ),
                (
                    "a\u{200b}b",
                    InputError::Invisible {
                        field,
                        code: 0x200b,
                    },
                ),
            ];
            for (value, want) in bad {
                assert_eq!(
                    limits().check(field, value),
                    Err(want),
                    "{field}: {value:?}"
                );
            }
        }
        for key in ["sekrit", "p4ss:word", "clé", "a!b@c"] {
            assert_eq!(limits().check(Key, key), Ok(()), "{key}");
        }
        for mask in ["bob!*@*", "*!~u@127.0.0.1", "*!*@*.example.org", "b?b"] {
            assert_eq!(limits().check(BanMask, mask), Ok(()), "{mask}");
        }
    }

    #[test]
    fn texts_allow_spaces_irc_formatting_and_any_script() {
        use Field::*;
        for field in [Topic, Away, Realname, Reason] {
            for value in [
                "all about rust",
                "\x02bold\x02 \x0304red\x03",
                ":starts with a colon, has commas",
                "日本語 ✓ 👨\u{200d}👩\u{200d}👧",
            ] {
                assert_eq!(limits().check(field, value), Ok(()), "{field}: {value:?}");
            }
        }
    }

    #[test]
    fn doors_parse_texts_with_errors_that_name_the_field() {
        assert_eq!(
            Field::Topic.text("a\x1b]0;PWNED\x07", 1024),
            Err(InputError::Control {
                field: Field::Topic,
                code: 0x1b
            })
        );
        assert_eq!(
            Field::Away.text("  ", 1024),
            Err(InputError::Empty(Field::Away))
        );
        assert_eq!(
            Field::Reason.text("abc", 2),
            Err(InputError::TooLong {
                field: Field::Reason,
                len: 3,
                max: 2
            })
        );
        assert_eq!(
            Field::Realname.text("Alice\tL.  ", 1024).unwrap().as_str(),
            "Alice L."
        );
    }

    #[test]
    fn errors_name_their_field() {
        assert_eq!(
            limits().check(Field::Key, FORGED).unwrap_err().to_string(),
            "the room key contains a control character (U+000D), which is not allowed"
        );
        assert_eq!(
            limits()
                .check(Field::BanMask, &"a".repeat(200))
                .unwrap_err()
                .to_string(),
            "the ban mask is 200 bytes long; the limit is 128"
        );
        assert_eq!(
            limits().check(Field::Key, "a b").unwrap_err().to_string(),
            "the room key cannot contain spaces"
        );
        assert_eq!(
            limits().check(Field::Away, "").unwrap_err().field(),
            Field::Away
        );
    }

    #[test]
    fn invisible_format_characters_are_unicode_category_cf() {
        for c in [
            '\u{ad}',
            '\u{61c}',
            '\u{180e}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            assert!(is_invisible_format(c), "{:04X}", c as u32);
        }
        for c in ['a', 'é', ' ', '-', '\u{2010}', '日', '😀'] {
            assert!(!is_invisible_format(c), "{:04X}", c as u32);
        }
    }
}
