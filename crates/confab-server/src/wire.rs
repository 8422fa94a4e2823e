//! The JSON shapes the REST API and the WebSocket protocol share (serde,
//! and `ToSchema` for the OpenAPI document): one definition each, so the
//! two cannot drift apart.

use std::collections::BTreeMap;

use confab_core::{ClientTags, Message, MsgKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::rfc3339;

/// A chat message, as the REST API and the WebSocket protocol show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessageJson {
    /// Unique per server, increasing: later messages have larger ids.
    pub id: u64,
    /// When the server accepted it (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime, example = "2026-11-23T20:00:00.123Z")]
    pub time: String,
    /// The sender's name.
    pub from: String,
    /// A room (`#general`) or, for a private message, the recipient's name.
    pub target: String,
    pub kind: MessageKind,
    pub text: String,
    /// The client-only tags its sender gave it (IRCv3 message-tags, such
    /// as `+draft/reply`: the id of the message it answers), key to value
    /// (`""` for none); left out when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl From<&Message> for MessageJson {
    fn from(m: &Message) -> MessageJson {
        MessageJson {
            id: m.id.0,
            time: rfc3339(m.time),
            from: m.from.to_string(),
            target: m.to.to_string(),
            kind: m.kind.into(),
            text: m.text.as_str().to_owned(),
            tags: tags_map(&m.tags),
        }
    }
}

/// Client-only tags as the web doors show them: key to value (`""` for
/// none).
pub fn tags_map(tags: &ClientTags) -> BTreeMap<String, String> {
    tags.iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Most client-only tags a web client sends with one message.
pub const MAX_TAGS: usize = 8;
/// Longest tag name a web client sends, `+` included.
pub const MAX_TAG_NAME: usize = 64;
/// Longest tag value a web client sends, in characters.
pub const MAX_TAG_VALUE: usize = 100;
/// A client-only tag name, as the core checks it (`ClientTags::new`).
pub const TAG_NAME_PATTERN: &str = r"^\+([A-Za-z0-9.-]+/)?[A-Za-z0-9-]+$";

/// Client-only tags from a web client's JSON (`{"+draft/reply": "41"}`):
/// at most [`MAX_TAGS`], names of at most [`MAX_TAG_NAME`] bytes, values
/// of at most [`MAX_TAG_VALUE`] characters without NUL, and what the core
/// requires of every tag. Within these, the tags always fit IRC's limit
/// of 4094 bytes. The OpenAPI document says the same ([`tags_schema`]).
pub fn client_tags(json: &BTreeMap<String, String>) -> Result<ClientTags, String> {
    if json.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags, not {}", json.len()));
    }
    if let Some(key) = json.keys().find(|k| k.len() > MAX_TAG_NAME) {
        return Err(format!(
            "the tag name {key:?} is longer than {MAX_TAG_NAME} bytes"
        ));
    }
    if let Some(key) = json
        .iter()
        .find(|(_, v)| v.chars().count() > MAX_TAG_VALUE)
        .map(|(k, _)| k)
    {
        return Err(format!(
            "the value of {key:?} is longer than {MAX_TAG_VALUE} characters"
        ));
    }
    ClientTags::new(json.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(|e| e.to_string())
}

/// The OpenAPI schema of a web client's tags (see [`client_tags`]).
pub fn tags_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TAG_VALUE))
        .pattern(Some(r"^[^\x00]*$"));
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_TAG_NAME))
        .pattern(Some(TAG_NAME_PATTERN));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Client-only tags: `+name` (or `+vendor/name`) to a value (`\"\"` for none).",
        ))
        .max_properties(Some(MAX_TAGS))
        .property_names(Some(name))
        .additional_properties(Some(value))
        .build()
}

/// How a message reads: said, acted (`/me`), or a notice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Say,
    Action,
    Notice,
}

impl From<MsgKind> for MessageKind {
    fn from(k: MsgKind) -> MessageKind {
        match k {
            MsgKind::Say => MessageKind::Say,
            MsgKind::Action => MessageKind::Action,
            MsgKind::Notice => MessageKind::Notice,
        }
    }
}

impl From<MessageKind> for MsgKind {
    fn from(k: MessageKind) -> MsgKind {
        match k {
            MessageKind::Say => MsgKind::Say,
            MessageKind::Action => MsgKind::Action,
            MessageKind::Notice => MsgKind::Notice,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn web_tags_are_checked_as_the_document_says() {
        let ok = client_tags(&json(&[("+draft/reply", "41"), ("+x", "")])).unwrap();
        assert_eq!(ok.get("+draft/reply"), Some("41"));
        let nine: Vec<(String, String)> =
            (0..9).map(|i| (format!("+t{i}"), String::new())).collect();
        let nine: BTreeMap<String, String> = nine.into_iter().collect();
        assert!(client_tags(&nine).unwrap_err().contains("at most 8"));
        let long_name = format!("+{}", "n".repeat(MAX_TAG_NAME));
        assert!(client_tags(&json(&[(&long_name, "")])).is_err());
        let long_value = "v".repeat(MAX_TAG_VALUE + 1);
        assert!(client_tags(&json(&[("+a", &long_value)])).is_err());
        assert!(client_tags(&json(&[("time", "x")])).is_err());
        assert!(client_tags(&json(&[("+a", "x\0")])).is_err());
        // The most the limits allow still fits IRC's 4094 bytes.
        let widest: BTreeMap<String, String> = (0..MAX_TAGS)
            .map(|i| {
                let name = format!("+{i}{}", "n".repeat(MAX_TAG_NAME - 2));
                (name, "😀".repeat(MAX_TAG_VALUE))
            })
            .collect();
        assert!(client_tags(&widest).is_ok());
    }
}
