//! The JSON shapes the REST API and the WebSocket protocol share (serde,
//! and `ToSchema` for the OpenAPI document): one definition each, so the
//! two cannot drift apart.

use std::collections::BTreeMap;

use confab_core::{Message, MsgKind};
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
            tags: m
                .tags
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
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
