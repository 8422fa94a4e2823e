//! Server operators and what they may do: become one (`OPER`, the door
//! checked the password), disconnect a user (`KILL`), and tell every
//! operator something (`WALLOPS`). The REST admin (no session) does the
//! same through the `admin_*` calls. Every action goes to the journal for
//! the audit log. Split from `hub.rs` for size; same state.

use super::*;

/// Who did an operator action when no session did: the REST admin.
pub const ADMIN: &str = "admin";

impl<O: Outbox> Hub<O> {
    /// The nick of `sid`'s user when the session is a server operator;
    /// else the command is refused.
    pub(super) fn oper_of(&self, sid: SessionId) -> Result<String, ChatError> {
        let s = &self.sessions[&sid];
        match (&s.oper, s.user) {
            (Some(_), Some(uid)) => Ok(self.users[&uid].nick.to_string()),
            _ => Err(ChatError::NotServerOper),
        }
    }

    /// Whether session `sid` is a server operator.
    pub fn is_oper(&self, sid: SessionId) -> bool {
        self.sessions.get(&sid).is_some_and(|s| s.oper.is_some())
    }

    // OPER name password (the door checked the password)
    pub(super) fn oper_up(&mut self, sid: SessionId, uid: UserId, name: String, now: Timestamp) {
        let nick = self.users[&uid].nick.to_string();
        self.sessions.get_mut(&sid).expect("live").oper = Some(name.as_str().into());
        self.journal.push(Journal::Oper {
            by: nick,
            action: "oper",
            detail: name.clone(),
        });
        self.reply(sid, now, Event::YoureOper { name });
    }

    /// Disconnects every session of `nick`: each is told why, and the
    /// others see the user quit with `Killed (by (reason))`.
    pub(super) fn kill(
        &mut self,
        by: &str,
        nick: &Nick,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let uid = self.user_id(nick)?;
        let sessions = self.users[&uid].sessions.clone();
        if sessions.is_empty() {
            return Err(ChatError::NotOnline(self.users[&uid].nick.clone()));
        }
        let why = reason.as_ref().map_or("no reason given", |r| r.as_str());
        let quit = format!("Killed ({by} ({why}))");
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "kill",
            detail: format!("{} ({why})", self.users[&uid].nick),
        });
        for s in sessions {
            self.kick(s, &quit, now);
        }
        Ok(())
    }

    /// A notice to every session that is a server operator, from `from`
    /// (a user) or the server (the REST admin).
    pub(super) fn wallops(&mut self, from: Option<UserId>, text: Text, now: Timestamp) {
        let by = from.map_or_else(|| ADMIN.to_owned(), |u| self.users[&u].nick.to_string());
        self.journal.push(Journal::Oper {
            by,
            action: "wallops",
            detail: text.as_str().to_owned(),
        });
        let ev = match from {
            Some(uid) => Envelope::by(now, Event::Wallops(text), &self.users[&uid].actor),
            None => Envelope::new(now, Event::Wallops(text)),
        };
        let mut sids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.oper.is_some())
            .map(|(sid, _)| *sid)
            .collect();
        sids.sort();
        for sid in sids {
            self.staged.push(sid, ev.clone());
        }
    }

    /// The REST admin disconnects `nick` (see `kill`).
    pub fn admin_kill(
        &mut self,
        nick: &Nick,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        if let Some(r) = &reason {
            self.config
                .input
                .check(Field::Reason, r.as_str())
                .map_err(ChatError::Input)?;
        }
        self.kill(ADMIN, nick, reason, now)
    }

    /// The REST admin's notice to every operator; how many sessions it
    /// went to.
    pub fn admin_wallops(&mut self, text: Text, now: Timestamp) -> usize {
        let n = self.sessions.values().filter(|s| s.oper.is_some()).count();
        self.wallops(None, text, now);
        n
    }
}
