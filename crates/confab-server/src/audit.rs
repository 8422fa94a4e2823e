//! The audit log: one JSON object per line, appended to a file in the data
//! dir, of connections, disconnections, commands (by name: never their
//! arguments, which may hold passwords), messages and errors.
//!
//! Written by the hub thread and flushed once per batch, so it costs one
//! `write` per batch, not one per event. A failing disk is reported once in
//! the server log and never stops the chat.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use confab_core::{Message, MsgKind, Target, Timestamp};
use serde_json::{Value, json};

use crate::hub_task::rfc3339;

pub struct AuditLog {
    path: PathBuf,
    out: BufWriter<File>,
    failed: bool,
    /// Whether private messages are logged with their text.
    private_texts: bool,
}

impl AuditLog {
    /// Opens `path` for appending, creating it if needed.
    /// `private_texts`: whether private messages keep their text.
    pub fn open(path: &Path, private_texts: bool) -> std::io::Result<AuditLog> {
        // Messages, names and addresses: the owner's eyes only.
        let file = crate::server::private_options()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            path: path.to_owned(),
            out: BufWriter::new(file),
            failed: false,
            private_texts,
        })
    }

    /// Appends one record: `{"time": …, "kind": kind, …fields}`.
    pub fn record(&mut self, time: Timestamp, kind: &str, fields: Value) {
        let mut obj = serde_json::Map::new();
        obj.insert("time".into(), Value::String(rfc3339(time)));
        obj.insert("kind".into(), Value::String(kind.to_owned()));
        if let Value::Object(more) = fields {
            obj.extend(more);
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        let result = self.out.write_all(line.as_bytes());
        self.check(result);
    }

    /// A message, with everything needed to find it again.
    /// Records a message; a private one without its text unless the log
    /// keeps private texts.
    pub fn message(&mut self, msg: &Message) {
        let private_texts = self.private_texts;
        let (to_kind, to) = match &msg.to {
            Target::Room(r) => ("room", r.as_str()),
            Target::User(n) => ("user", n.as_str()),
        };
        let kind = match msg.kind {
            MsgKind::Say => "say",
            MsgKind::Action => "action",
            MsgKind::Notice => "notice",
        };
        let fields = json!({
            "id": msg.id.0,
            "from": msg.from.as_str(),
            "to_kind": to_kind,
            "to": to,
            "message_kind": kind,
            "text": (to_kind == "room" || private_texts).then(|| msg.text.as_str()),
        });
        let kind = if to_kind == "room" {
            "message"
        } else {
            "private_message"
        };
        self.record(msg.time, kind, fields);
    }

    pub fn flush(&mut self) {
        let result = self.out.flush();
        self.check(result);
    }

    fn check(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result
            && !self.failed
        {
            self.failed = true;
            tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
        }
    }
}
