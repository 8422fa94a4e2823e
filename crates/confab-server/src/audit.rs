//! The audit log: one JSON object per line, appended to a file in the data
//! dir, of connections, disconnections, commands (by name: never their
//! arguments, which may hold passwords), messages and errors.
//!
//! The hub thread only collects entries (a message is moved, not copied or
//! formatted) and hands the batch's entries over once per batch; a thread
//! of its own formats and writes them, and flushes when it has caught up.
//! So the hub never waits on the disk or the JSON for it. A `kill -9` may
//! lose the entries still on their way; a clean stop writes them all
//! (dropping the log waits for the writer). A failing disk is reported
//! once in the server log and never stops the chat.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use confab_core::{Message, MsgKind, Nick, SessionId, Target, Timestamp};
use serde_json::{Value, json};

use crate::time::rfc3339;

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
                            let nick = nick.as_ref().map(Nick::as_str);
                            let fields = json!({"sid": sid.0, "nick": nick, "command": command});
                            self.record(time, "command", fields);
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
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        let result = self.out.write_all(line.as_bytes());
        self.check(result);
    }

    /// A message, with everything needed to find it again.
    fn message(&mut self, msg: &Message) {
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
            "text": (to_kind == "room" || self.private_texts).then(|| msg.text.as_str()),
        });
        let kind = if to_kind == "room" {
            "message"
        } else {
            "private_message"
        };
        self.record(msg.time, kind, fields);
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
