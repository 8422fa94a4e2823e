//! What the web doors need beyond a session's commands: typing
//! notifications, resuming after a reconnect, announcements to everyone,
//! and calls with no session of their own ([`Hub::call`]: the REST API,
//! for an account or the admin), which run the same commands as sessions
//! do. Split from `hub.rs` for size; same state.

use super::*;
use crate::event::MsgId;
use crate::read::{Answer, ReadQuery};
use crate::tags::ClientTags;

impl<O: Outbox> Hub<O> {
    // Typing: to the others in the conversation, never stored.
    pub(super) fn typing(
        &mut self,
        uid: UserId,
        to: Target,
        active: bool,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let me = &self.users[&uid];
        let from_key = me.nick().key();
        let ev = Envelope::by(
            now,
            Event::Typing {
                from: me.nick().clone(),
                to: to.clone(),
                active,
            },
            &me.actor,
        );
        match to {
            Target::Room(name) => {
                let key = self.sendable_room(uid, name)?;
                for mid in &self.rooms[&key].members {
                    let member = &self.users[mid];
                    if *mid != uid && !member.ignores(&from_key) {
                        self.staged.user(member, &ev);
                    }
                }
            }
            Target::User(nick) => {
                let tid = self.user_id(&nick)?;
                let them = &self.users[&tid];
                if tid != uid && !them.ignores(&from_key) {
                    self.staged.user(them, &ev);
                }
            }
        }
        Ok(())
    }

    // TAGMSG: client-only tags to the conversation, the sender's
    // sessions included (its door decides whether to echo), never stored.
    pub(super) fn tag_msg(
        &mut self,
        uid: UserId,
        to: Target,
        tags: ClientTags,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let me = &self.users[&uid];
        let from_key = me.nick().key();
        let from = me.nick().clone();
        let actor = me.actor.clone();
        let id = MsgId(self.next_msg);
        match to {
            Target::Room(name) => {
                let key = self.sendable_room(uid, name)?;
                self.next_msg += 1;
                let to = Target::Room(self.rooms[&key].name.clone());
                let tagmsg = Event::TagMsg { id, from, to, tags };
                let ev = Envelope::by(now, tagmsg, &actor);
                self.stage_to_room(&key, uid, &from_key, &ev);
            }
            Target::User(nick) => {
                let tid = self.user_id(&nick)?;
                self.next_msg += 1;
                let them = &self.users[&tid];
                let to = Target::User(them.nick().clone());
                let tagmsg = Event::TagMsg { id, from, to, tags };
                let ev = Envelope::by(now, tagmsg, &actor);
                if !them.ignores(&from_key) {
                    self.staged.user(them, &ev);
                }
                if tid != uid {
                    self.staged.user(&self.users[&uid], &ev);
                }
            }
        }
        Ok(())
    }

    // Resume: every message the user may read after `after`.
    pub(super) fn resume(
        &mut self,
        sid: SessionId,
        uid: UserId,
        after: MsgId,
        limit: usize,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let limit = limit.clamp(1, self.config.max_history);
        let who = self.visibility(uid);
        let query = ReadQuery::Since { who, after, limit };
        self.read(sid, uid, query, Answer::Resumed, now)
    }

    /// Stages an announcement for every session, logged in or not.
    pub fn announce(&mut self, text: Text, now: Timestamp) {
        let ev = Envelope::new(now, Event::Announcement(text));
        let mut sids: Vec<SessionId> = self.sessions.keys().copied().collect();
        sids.sort();
        for sid in sids {
            self.staged.push(sid, ev.clone());
        }
    }

    /// Whether `sid` is a caller with no session of its own
    /// ([`Hub::call`]).
    pub(super) fn sessionless(&self, sid: SessionId) -> bool {
        self.sessions.get(&sid).is_some_and(|s| s.outbox.is_none())
    }

    /// Checks that `caller` may act now: an account that exists and is
    /// neither K-lined nor suspended (a token outlives both), or the
    /// admin. What every [`Hub::call`] checks first.
    pub fn standing(&mut self, caller: &Caller, now: Timestamp) -> Result<(), ChatError> {
        self.caller_user(caller, now).map(drop)
    }

    /// [`Hub::standing`], and the caller's user if it has one.
    fn caller_user(
        &mut self,
        caller: &Caller,
        now: Timestamp,
    ) -> Result<Option<UserId>, ChatError> {
        let Caller::Account(name) = caller else {
            return Ok(None);
        };
        // An account made while the server runs is known from its first
        // call on.
        self.adopt_account(name)?;
        if let Some(reason) = self.account_klined(name, now) {
            return Err(ChatError::ServerBanned(reason));
        }
        if let Some(reason) = self.account_suspended(name) {
            let name = Nick::parse(name.as_str(), usize::MAX)
                .map_err(|e| ChatError::BadValue(e.to_string()))?;
            return Err(ChatError::Suspended { name, reason });
        }
        match self.by_nick.get(name) {
            Some(&uid) if self.users[&uid].account.is_some() => Ok(Some(uid)),
            _ => Err(ChatError::NotLoggedIn),
        }
    }

    /// Runs `cmd` for a caller with no session of its own (the REST API),
    /// the way a session's command runs, as part of the batch; the events
    /// a session would have been told in reply (a message sent among
    /// them), or the refusal. What the command changes goes out with the
    /// batch; like every message, one it sends is stored when the batch
    /// commits (see [`Hub::take_failed`]). The caller is in no room and
    /// has no current target, so commands name their targets; of a room's
    /// history it may read what an outsider may ([`Hub::history_room`]).
    pub fn call(
        &mut self,
        caller: &Caller,
        cmd: Command,
        now: Timestamp,
    ) -> Result<Vec<Event>, ChatError> {
        let user = self.caller_user(caller, now)?;
        let oper = matches!(caller, Caller::Admin).then(|| Arc::from(oper::ADMIN));
        let mut session = Session {
            outbox: None,
            info: ClientInfo::default(),
            user,
            room: None,
            rare: None,
        };
        session.set_oper(oper);
        let sid = CALL_SESSION;
        let before = self.sessions.insert(sid, Box::new(session));
        debug_assert!(before.is_none(), "calls run one at a time");
        let result = self.dispatch(sid, cmd, now);
        self.sessions.remove(&sid);
        // All of the batch is looked through, not only what follows the
        // call: a failed commit inside it (a read commits first) may take
        // items out from before.
        let mut events = Vec::new();
        self.staged.items.retain(|(s, d)| {
            if *s == sid {
                events.push(d.event.clone());
            }
            *s != sid
        });
        result.map(|()| events)
    }
}

/// Who acts through [`Hub::call`], with no session of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A registered account, by name (the REST API's token holder).
    Account(NickKey),
    /// The server's administrator (the REST admin): operator commands
    /// only, done as `admin`.
    Admin,
}

/// The session id of [`Hub::call`]s: never a real session's (doors count
/// from 1).
pub const CALL_SESSION: SessionId = SessionId(0);
