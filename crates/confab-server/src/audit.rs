//! The audit log: one JSON object per line, appended to a file in the data
//! dir, of connections, disconnections, commands (by name: never their
//! arguments, which may hold passwords), messages and errors.
//!
//! The hub thread only collects entries (a message is moved, not copied or
//! formatted) and hands the batch's entries over once per batch; a thread
//! of its own formats and writes them, flushes when it has caught up, and
//! then gathers for [`GATHER`] before it looks again: a busy server wakes
//! it a few dozen times a second, not once per batch (each wake is a
//! context switch on the core the hub shares). So the hub never waits on
//! the disk or the JSON for it. A `kill -9` may
//! lose the entries still on their way; a clean stop writes them all
//! (dropping the log waits for the writer). A failing disk is reported
//! once in the server log and never stops the chat.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use confab_core::{Message, MsgKind, Nick, SessionId, Target, Timestamp};
use serde::Serialize;
use serde_json::Value;

use crate::time::rfc3339;

/// How long the writer lets entries gather after it has written what it
/// had. Entries reach the file at most this much later; `sync` and a clean
/// stop wait at most this much longer.
const GATHER: Duration = Duration::from_millis(20);

/// One entry, as the hub thread hands it over.
enum Entry {
    Record {
        time: Timestamp,
        kind: &'static str,
        fields: Value,
    },
    Message(Message),
    /// A user's command, by name.
    Command {
        time: Timestamp,
        sid: SessionId,
        nick: Option<Nick>,
        command: &'static str,
    },
}

enum Work {
    Entries(Vec<Entry>),
    /// Answered once everything handed over before it is on disk.
    Sync(mpsc::SyncSender<()>),
}

/// The hub thread's end of the audit log.
pub struct AuditLog {
    batch: Vec<Entry>,
    tx: Option<mpsc::Sender<Work>>,
    writer: Option<JoinHandle<()>>,
}

impl AuditLog {
    /// Opens `path` for appending, creating it if needed, and starts its
    /// writer. `private_texts`: whether private messages keep their text.
    pub fn open(path: &Path, private_texts: bool) -> std::io::Result<AuditLog> {
        // Messages, names and addresses: the owner's eyes only.
        let file = crate::files::private_options()
            .create(true)
            .append(true)
            .open(path)?;
        let mut writer = Writer {
            path: path.to_owned(),
            out: BufWriter::new(file),
            failed: false,
            private_texts,
        };
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("confab-audit".into())
            .spawn(move || writer.run(&rx))?;
        Ok(AuditLog {
            batch: Vec::new(),
            tx: Some(tx),
            writer: Some(handle),
        })
    }

    /// Appends one record: `{"time": …, "kind": kind, …fields}`.
    pub fn record(&mut self, time: Timestamp, kind: &'static str, fields: Value) {
        self.batch.push(Entry::Record { time, kind, fields });
    }

    /// Records that session `sid` (`nick`, once it has one) sent a
    /// `command`; its JSON is made by the writer, off the hub thread.
    pub fn command(
        &mut self,
        time: Timestamp,
        sid: SessionId,
        nick: Option<Nick>,
        command: &'static str,
    ) {
        self.batch.push(Entry::Command {
            time,
            sid,
            nick,
            command,
        });
    }

    /// Records a message; a private one without its text unless the log
    /// keeps private texts.
    pub fn message(&mut self, msg: Message) {
        self.batch.push(Entry::Message(msg));
    }

    /// Hands what was recorded since the last flush to the writer.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Work::Entries(batch));
        }
    }

    /// A way to wait until everything recorded so far is on disk (for
    /// readers of the file, such as the REST admin's audit query).
    pub fn sync(&mut self) -> Option<mpsc::Receiver<()>> {
        self.flush();
        let (done, wait) = mpsc::sync_channel(1);
        self.tx.as_ref()?.send(Work::Sync(done)).ok()?;
        Some(wait)
    }
}

impl Drop for AuditLog {
    /// Writes what is left and waits for the writer to finish.
    fn drop(&mut self) {
        self.flush();
        drop(self.tx.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread's side: formats entries and writes them.
struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    failed: bool,
    private_texts: bool,
}

impl Writer {
    fn run(&mut self, rx: &mpsc::Receiver<Work>) {
        while let Ok(work) = rx.recv() {
            self.work(work);
            // Everything waiting too, then one flush.
            while let Ok(work) = rx.try_recv() {
                self.work(work);
            }
            let result = self.out.flush();
            self.check(result);
            std::thread::sleep(GATHER);
        }
    }

    fn work(&mut self, work: Work) {
        match work {
            Work::Entries(entries) => {
                for entry in entries {
                    match entry {
                        Entry::Record { time, kind, fields } => self.record(time, kind, fields),
                        Entry::Message(msg) => self.message(&msg),
                        Entry::Command {
                            time,
                            sid,
                            nick,
                            command,
                        } => {
                            let line = CommandLine {
                                command,
                                kind: "command",
                                nick: nick.as_ref().map(Nick::as_str),
                                sid: sid.0,
                                time: &rfc3339(time),
                            };
                            self.write(&line);
                        }
                    }
                }
            }
            Work::Sync(done) => {
                let result = self.out.flush();
                self.check(result);
                let _ = done.send(());
            }
        }
    }

    fn record(&mut self, time: Timestamp, kind: &str, fields: Value) {
        let mut obj = serde_json::Map::new();
        obj.insert("time".into(), Value::String(rfc3339(time)));
        obj.insert("kind".into(), Value::String(kind.to_owned()));
        if let Value::Object(more) = fields {
            obj.extend(more);
        }
        self.write(&Value::Object(obj));
    }

    /// A message, with everything needed to find it again.
    fn message(&mut self, msg: &Message) {
        let (to_kind, to) = match &msg.to {
            Target::Room(r) => ("room", r.as_str()),
            Target::User(n) => ("user", n.as_str()),
        };
        let room = to_kind == "room";
        let line = MessageLine {
            from: msg.from.as_str(),
            id: msg.id.0,
            kind: if room { "message" } else { "private_message" },
            message_kind: match msg.kind {
                MsgKind::Say => "say",
                MsgKind::Action => "action",
                MsgKind::Notice => "notice",
            },
            text: (room || self.private_texts).then(|| msg.text.as_str()),
            time: &rfc3339(msg.time),
            to,
            to_kind,
        };
        self.write(&line);
    }

    /// Writes one entry as a line of JSON, straight into the buffer.
    fn write(&mut self, line: &impl Serialize) {
        let mut result = serde_json::to_writer(&mut self.out, line).map_err(std::io::Error::from);
        if result.is_ok() {
            result = self.out.write_all(b"\n");
        }
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

// The two entries a busy server writes most, serialized without a `Value`
// in between. Their fields are in the order `record`'s map puts them
// (by name), so every line of the file reads alike.

#[derive(Serialize)]
struct MessageLine<'a> {
    from: &'a str,
    id: u64,
    kind: &'static str,
    message_kind: &'static str,
    text: Option<&'a str>,
    time: &'a str,
    to: &'a str,
    to_kind: &'static str,
}

#[derive(Serialize)]
struct CommandLine<'a> {
    command: &'static str,
    kind: &'static str,
    nick: Option<&'a str>,
    sid: u64,
    time: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_core::{ClientTags, MsgId, RoomName, Text};

    fn message(id: u64, to: Target, text: &str) -> Message {
        Message {
            id: MsgId(id),
            time: Timestamp(1_700_000_000_123),
            from: Nick::parse("alice", 30).unwrap(),
            to,
            kind: MsgKind::Say,
            text: Text::parse(text, 500).unwrap(),
            tags: ClientTags::default(),
        }
    }

    /// Each entry is one line of JSON with its fields by name, whichever
    /// way it was written; a private text stays out when asked; dropping
    /// the log writes everything first.
    #[test]
    fn entries_are_lines_of_json_written_before_drop_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path, false).unwrap();
        let t = Timestamp(1_700_000_000_123);
        let room = Target::Room(RoomName::parse("#a", 50).unwrap());
        log.message(message(1, room, "hello \"all\""));
        log.flush();
        let bob = Target::User(Nick::parse("bob", 30).unwrap());
        log.message(message(2, bob, "a secret"));
        log.command(t, SessionId(7), None, "join");
        log.record(t, "login", serde_json::json!({"name": "alice", "ok": true}));
        drop(log);

        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("a secret"), "{text}");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let time = "2023-11-14T22:13:20.123Z";
        assert_eq!(
            lines,
            [
                serde_json::json!({"from": "alice", "id": 1, "kind": "message",
                    "message_kind": "say", "text": "hello \"all\"", "time": time,
                    "to": "#a", "to_kind": "room"}),
                serde_json::json!({"from": "alice", "id": 2, "kind": "private_message",
                    "message_kind": "say", "text": null, "time": time,
                    "to": "bob", "to_kind": "user"}),
                serde_json::json!({"command": "join", "kind": "command", "nick": null,
                    "sid": 7, "time": time}),
                serde_json::json!({"kind": "login", "name": "alice", "ok": true, "time": time}),
            ]
        );
    }
}
