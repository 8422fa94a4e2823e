//! Unit tests: data tables, one module per area.
//!
//! The cases are written for confab, modelled on the kinds of cases in the
//! ircdocs parser-tests (msg-split, msg-join, userhost-split) and the IRCv3
//! message-tags examples.

mod parse_err;
mod parse_ok;
mod roundtrip;
mod split;
mod write;

use crate::{Message, Tag};

/// Builds the expected tags of a table row.
fn tags(pairs: &[(&str, Option<&str>)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|&(key, value)| Tag {
            key: key.to_owned(),
            value: value.map(str::to_owned),
        })
        .collect()
}

/// Asserts the round trip for a message that parse produced: writing it
/// and parsing again gives it back, and the written line is no longer than
/// the one parsed (without its line ending), but for the `:` a spilled
/// 15th parameter gains.
fn assert_round_trip(input: &[u8], message: &Message) {
    let written = message.to_bytes();
    assert!(written.ends_with(b"\r\n"), "{written:?}");
    let again = Message::parse(&written).unwrap_or_else(|e| {
        panic!(
            "{}: written {} does not parse: {e}",
            input.escape_ascii(),
            written.escape_ascii()
        )
    });
    assert_eq!(
        &again,
        message,
        "{}: written {}",
        input.escape_ascii(),
        written.escape_ascii()
    );
    let bare = input.strip_suffix(b"\n").unwrap_or(input);
    let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
    // Only a 15th parameter taken without its `:` may grow, by that `:`.
    let slack = usize::from(message.params.len() == crate::MAX_PARAMS);
    assert!(
        written.len() - 2 <= bare.len() + slack,
        "{}: written form {} is longer",
        input.escape_ascii(),
        written.escape_ascii()
    );
    assert_eq!(
        message.to_string().as_bytes(),
        &written[..written.len() - 2]
    );
}
