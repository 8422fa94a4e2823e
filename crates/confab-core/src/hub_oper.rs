//! Server operators and what they may do: become one (`OPER`, the door
//! checked the password), disconnect a user (`KILL`), and tell every
//! operator something (`WALLOPS`), ban from the server (K-lines),
//! suspend accounts, lock the server down. The REST admin does the same
//! with no session or user of its own ([`Hub::call`] as `Caller::Admin`).
//! Every action goes to the journal for the audit log. Split from
//! `hub.rs` for size; same state.

use super::*;
use crate::event::OperDone;
use crate::kline::{Kline, KlineMask};

/// Who did an operator action when no session did: the REST admin.
pub const ADMIN: &str = "admin";

impl<O: Outbox> Hub<O> {
    /// The nick of `sid`'s user when the session is a server operator
    /// (`admin` for the REST admin, which has no user); else the command
    /// is refused.
    pub(super) fn oper_of(&self, sid: SessionId) -> Result<String, ChatError> {
        let s = &self.sessions[&sid];
        match (s.is_oper(), s.user) {
            (true, Some(uid)) => Ok(self.users[&uid].nick().to_string()),
            (true, None) => Ok(ADMIN.to_owned()),
            (false, _) => Err(ChatError::NotServerOper),
        }
    }

    /// Runs an operator's command ([`Command::Operator`]) of session
    /// `sid`, whose user is `uid` (none: the REST admin). The reply says
    /// what it did ([`Event::OperDone`]).
    pub(super) fn oper_command(
        &mut self,
        sid: SessionId,
        uid: Option<UserId>,
        cmd: OperCommand,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let by = self.oper_of(sid)?;
        let done = match cmd {
            OperCommand::Kill { nick, reason } => {
                let shown = self.display(&nick);
                self.kill(&by, &nick, reason, now)?;
                OperDone::Killed(shown)
            }
            OperCommand::Wallops(text) => {
                let told = self.wallops(uid, text, now);
                if !self.sessionless(sid) {
                    // An operator's session reads its own wallops.
                    return Ok(());
                }
                OperDone::WallopsSent(told)
            }
            OperCommand::Kline {
                mask,
                minutes,
                reason,
            } => {
                let (mask, disconnected) = self.add_kline(&by, &mask, minutes, reason, now)?;
                OperDone::Klined { mask, disconnected }
            }
            OperCommand::Unkline(mask) => OperDone::Unklined(self.remove_kline(&by, &mask)?),
            OperCommand::Klines => {
                let list = self.klines(now);
                self.reply(sid, now, Event::Klines(list));
                return Ok(());
            }
            OperCommand::Suspend { name, reason } => {
                let disconnected = self.suspend(&by, &name, reason, now)?;
                OperDone::Suspended { name, disconnected }
            }
            OperCommand::Unsuspend(name) => {
                self.unsuspend(&by, &name)?;
                OperDone::Unsuspended(name)
            }
            OperCommand::Suspensions => {
                let list = self.suspensions();
                self.reply(sid, now, Event::Suspensions(list));
                return Ok(());
            }
            OperCommand::Lockdown(on) => {
                if let Some(on) = on {
                    self.set_lockdown(&by, on);
                }
                OperDone::Lockdown(self.lockdown)
            }
        };
        self.reply(sid, now, Event::OperDone(done));
        Ok(())
    }

    /// Whether one of user `uid`'s sessions is a server operator.
    pub(super) fn user_is_oper(&self, uid: UserId) -> bool {
        self.is_oper_user(&self.users[&uid])
    }

    /// [`Hub::user_is_oper`], for a user already at hand.
    pub(super) fn is_oper_user(&self, user: &User) -> bool {
        // Asked for every member of a member list: with no operator online
        // (the common case) no session need be looked up.
        self.opers > 0
            && user
                .sessions
                .iter()
                .any(|s| self.sessions.get(s).is_some_and(|s| s.is_oper()))
    }

    /// Whether session `sid` is a server operator.
    pub fn is_oper(&self, sid: SessionId) -> bool {
        self.sessions.get(&sid).is_some_and(|s| s.is_oper())
    }

    // OPER name password (the door checked the password)
    pub(super) fn oper_up(&mut self, sid: SessionId, uid: UserId, name: String, now: Timestamp) {
        let nick = self.users[&uid].nick().to_string();
        let was = self
            .sessions
            .get_mut(&sid)
            .expect("live")
            .set_oper(Some(name.as_str().into()));
        if was.is_none() {
            self.opers += 1;
        }
        self.journal.push(Journal::Oper {
            by: nick,
            action: "oper",
            detail: name.clone(),
        });
        self.reply(sid, now, Event::YoureOper { name });
    }

    // MODE nick -o, /deoper: the session drops its operator status.
    pub(super) fn oper_down(&mut self, sid: SessionId, now: Timestamp) -> Result<(), ChatError> {
        let by = self.oper_of(sid)?;
        let name = self.sessions.get_mut(&sid).expect("live").set_oper(None);
        if name.is_some() {
            self.opers -= 1;
        }
        self.journal.push(Journal::Oper {
            by,
            action: "deoper",
            detail: name.map(|n| n.to_string()).unwrap_or_default(),
        });
        self.reply(sid, now, Event::NoLongerOper);
        Ok(())
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
            return Err(ChatError::NotOnline(self.users[&uid].nick().clone()));
        }
        let why = reason.as_ref().map_or("no reason given", |r| r.as_str());
        let quit = format!("Killed ({by} ({why}))");
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "kill",
            detail: format!("{} ({why})", self.users[&uid].nick()),
        });
        for s in sessions {
            self.kick(s, &quit, now);
        }
        Ok(())
    }

    /// A notice to every session that is a server operator, from `from`
    /// (a user) or the server (the REST admin); how many it went to.
    pub(super) fn wallops(&mut self, from: Option<UserId>, text: Text, now: Timestamp) -> usize {
        let by = from.map_or_else(|| ADMIN.to_owned(), |u| self.users[&u].nick().to_string());
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
            .filter(|(_, s)| s.is_oper() && s.outbox.is_some())
            .map(|(sid, _)| *sid)
            .collect();
        sids.sort();
        for sid in &sids {
            self.staged.push(*sid, ev.clone());
        }
        sids.len()
    }

    /// The reason of the first K-line in force that matches a login to
    /// session `sid` as `nick` (of the account `account`, if one).
    pub(super) fn klined(
        &self,
        sid: SessionId,
        account: Option<&Nick>,
        nick: &Nick,
        now: Timestamp,
    ) -> Option<String> {
        if self.klines.is_empty() {
            return None;
        }
        let info = &self.sessions[&sid].info;
        let ident = info.ident.as_deref().unwrap_or(nick.as_str());
        let user_mask = format!("{nick}!{ident}@{}", info.host);
        let key = account.map(Nick::key);
        self.klines
            .iter()
            .find(|k| k.active(now) && k.mask.matches(key.as_ref(), &user_mask, info.addr))
            .map(|k| k.reason.clone())
    }

    /// The reason of a K-line in force on the account `key` (for calls
    /// with no session, which act for an account: [`Hub::call`]).
    pub(super) fn account_klined(&self, key: &NickKey, now: Timestamp) -> Option<String> {
        self.klines
            .iter()
            .find(|k| k.active(now) && matches!(&k.mask, KlineMask::Account(a) if a == key))
            .map(|k| k.reason.clone())
    }

    /// Refuses a login that a K-line matches and ends the session.
    pub(super) fn refuse_klined(
        &mut self,
        sid: SessionId,
        reason: String,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        self.refuse(sid, now, ChatError::ServerBanned(reason.clone()));
        self.kick(sid, &format!("K-lined ({reason})"), now);
        Ok(())
    }

    /// Sets a K-line (replacing one on the same mask) and disconnects the
    /// sessions it matches; the mask as stored, and how many went.
    pub(super) fn add_kline(
        &mut self,
        by: &str,
        mask: &str,
        minutes: Option<u64>,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<(String, usize), ChatError> {
        let mask = KlineMask::parse(mask).map_err(|e| ChatError::BadValue(e.to_string()))?;
        let reason = reason.map_or_else(|| "no reason given".to_owned(), |r| r.as_str().to_owned());
        let expires = minutes.map(|m| {
            let ms = i64::try_from(m.min(100 * 366 * 24 * 60)).unwrap_or(0) * 60_000;
            Timestamp(now.0.saturating_add(ms))
        });
        let kline = Kline {
            mask: mask.clone(),
            reason: reason.clone(),
            by: by.to_owned(),
            set: now,
            expires,
        };
        self.klines.retain(|k| k.mask != mask);
        self.klines.push(kline.clone());
        self.op(Op::Kline(kline));
        let shown = mask.to_string();
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "kline",
            detail: format!(
                "{shown} ({reason}){}",
                minutes.map_or(String::new(), |m| format!(" for {m} minutes"))
            ),
        });
        let mut hit: Vec<SessionId> = self
            .sessions
            .iter()
            .filter_map(|(sid, s)| {
                let u = &self.users[&s.user?];
                let account = u.account.map(|_| u.nick().key());
                let user_mask = u.mask();
                mask.matches(account.as_ref(), &user_mask, s.info.addr)
                    .then_some(*sid)
            })
            .collect();
        hit.sort();
        let quit = format!("K-lined ({reason})");
        for sid in &hit {
            self.kick(*sid, &quit, now);
        }
        Ok((shown, hit.len()))
    }

    /// Lifts the K-line on `mask`; the mask as it was stored.
    pub(super) fn remove_kline(&mut self, by: &str, mask: &str) -> Result<String, ChatError> {
        let parsed = KlineMask::parse(mask).map_err(|e| ChatError::BadValue(e.to_string()))?;
        let before = self.klines.len();
        self.klines.retain(|k| k.mask != parsed);
        if self.klines.len() == before {
            return Err(ChatError::NoSuchKline(parsed.to_string()));
        }
        self.op(Op::Unkline(parsed.clone()));
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "unkline",
            detail: parsed.to_string(),
        });
        Ok(parsed.to_string())
    }

    /// The K-lines in force, oldest first; lapsed ones are dropped.
    pub(super) fn klines(&mut self, now: Timestamp) -> Vec<Kline> {
        let (live, lapsed): (Vec<Kline>, Vec<Kline>) =
            self.klines.drain(..).partition(|k| k.active(now));
        self.klines = live;
        for k in lapsed {
            self.op(Op::Unkline(k.mask));
        }
        self.klines.clone()
    }
}

/// Suspensions and lockdown.
impl<O: Outbox> Hub<O> {
    /// Refuses a login to a suspended account.
    pub(super) fn check_suspended(&self, account: &Account) -> Result<(), ChatError> {
        match self.suspended.get(&account.id) {
            Some(reason) => Err(ChatError::Suspended {
                name: account.name.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Why the account `key` is suspended, if it is (for calls with no
    /// session, see [`Hub::account_klined`]).
    pub(super) fn account_suspended(&mut self, key: &NickKey) -> Option<String> {
        let id = match self.by_nick.get(key) {
            Some(uid) => self.users[uid].account?,
            None => return None,
        };
        self.suspended.get(&id).cloned()
    }

    /// Whether the server is in lockdown.
    pub fn lockdown(&self) -> bool {
        self.lockdown
    }

    /// The account called `name`, from the hub or the store.
    fn account_id(&mut self, name: &Nick) -> Result<(AccountId, Nick), ChatError> {
        if let Some(uid) = self.by_nick.get(&name.key())
            && let Some(id) = self.users[uid].account
        {
            return Ok((id, self.users[uid].nick().clone()));
        }
        let found = match &mut self.store {
            Some(store) => store.account(&name.key()).map_err(ChatError::from)?,
            None => None,
        };
        found
            .map(|a| (a.id, a.name))
            .ok_or_else(|| ChatError::NoSuchUser(name.clone()))
    }

    /// Suspends the account `name`: persisted, its sessions end; how many.
    pub(super) fn suspend(
        &mut self,
        by: &str,
        name: &Nick,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<usize, ChatError> {
        let (id, name) = self.account_id(name)?;
        let reason = reason.map_or_else(|| "no reason given".to_owned(), |r| r.as_str().to_owned());
        self.suspended.insert(id, reason.clone());
        self.op(Op::Suspension {
            account: id,
            reason: Some(reason.clone()),
            by: by.to_owned(),
        });
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "suspend",
            detail: format!("{name} ({reason})"),
        });
        let sessions = match self.by_nick.get(&name.key()) {
            Some(uid) if self.users[uid].account == Some(id) => self.users[uid].sessions.clone(),
            _ => Vec::new(),
        };
        let quit = format!("Suspended ({reason})");
        for sid in &sessions {
            self.kick(*sid, &quit, now);
        }
        Ok(sessions.len())
    }

    /// Lets the account `name` log in again.
    pub(super) fn unsuspend(&mut self, by: &str, name: &Nick) -> Result<(), ChatError> {
        let (id, name) = self.account_id(name)?;
        if self.suspended.remove(&id).is_none() {
            return Err(ChatError::NotSuspended(name));
        }
        self.op(Op::Suspension {
            account: id,
            reason: None,
            by: by.to_owned(),
        });
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "unsuspend",
            detail: name.to_string(),
        });
        Ok(())
    }

    /// Turns lockdown on or off (persisted).
    pub(super) fn set_lockdown(&mut self, by: &str, on: bool) {
        if self.lockdown != on {
            self.lockdown = on;
            self.op(Op::Lockdown(on));
        }
        self.journal.push(Journal::Oper {
            by: by.to_owned(),
            action: "lockdown",
            detail: if on { "on" } else { "off" }.to_owned(),
        });
    }

    /// The suspended accounts by name, with why.
    fn suspensions(&self) -> Vec<(Nick, String)> {
        let mut list: Vec<(Nick, String)> = self
            .users
            .values()
            .filter_map(|u| Some((u.nick().clone(), self.suspended.get(&u.account?)?.clone())))
            .collect();
        list.sort_by(|(a, _), (b, _)| a.cmp_key(b));
        list
    }
}
