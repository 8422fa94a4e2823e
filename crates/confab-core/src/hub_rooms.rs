//! The hub's rules for running rooms (modes, operators, bans, invitations,
//! kicks) and for telling about users (away, real names, WHOIS, WHOWAS),
//! plus the history windows that IRC's CHATHISTORY and the WebSocket
//! protocol page through. Split from `hub.rs` for size; same state.

use super::*;
use crate::command::Window;
use crate::event::{ModeChange, RoomMode, UserDetails};
use crate::input::Field;
use crate::read::{Answer, ReadQuery};

/// Completes a ban mask: `nick` means `nick!*@*`, `nick!user` means
/// `nick!user@*`, `user@host` means `*!user@host`.
pub fn normalize_mask(mask: &str) -> String {
    let (nick_user, host) = match mask.split_once('@') {
        Some((nu, h)) => (nu, if h.is_empty() { "*" } else { h }),
        None => (mask, "*"),
    };
    let (nick, user) = match nick_user.split_once('!') {
        Some((n, u)) => (n, if u.is_empty() { "*" } else { u }),
        None if mask.contains('@') => ("*", nick_user),
        None => (nick_user, "*"),
    };
    let nick = if nick.is_empty() { "*" } else { nick };
    format!("{nick}!{user}@{host}")
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` any one
/// character), ignoring ASCII case. Linear time: no backtracking blow-up
/// on hostile masks.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl<O: Outbox> Hub<O> {
    /// What the store keeps of room `key`.
    pub(super) fn settings(&self, key: &RoomKey) -> RoomSettings {
        let room = &self.rooms[key];
        RoomSettings {
            name: room.name.clone(),
            modes: room.modes.clone(),
            bans: room.bans.clone(),
        }
    }

    /// Persists the effect of mode changes done in room `key`.
    fn persist_modes(&mut self, key: &RoomKey, done: &[ModeChange]) {
        let mut settings = false;
        for change in done {
            match &change.mode {
                RoomMode::Op(nick) | RoomMode::Voice(nick) => {
                    let Some(&uid) = self.by_nick.get(&nick.key()) else {
                        continue;
                    };
                    if let Some(account) = self.users[&uid].account {
                        let status = self.rooms[key].status(uid);
                        self.op(Op::Status {
                            account,
                            room: key.clone(),
                            status,
                        });
                    }
                }
                _ => settings = true,
            }
        }
        if settings {
            let s = self.settings(key);
            self.op(Op::Settings(s));
        }
    }

    /// Whether a ban of `room` matches `uid`'s `nick!ident@host`.
    pub(super) fn is_banned(&self, room: &Room, uid: UserId) -> bool {
        if room.bans.is_empty() {
            return false;
        }
        let u = &self.users[&uid];
        let mask = u.mask();
        room.bans.iter().any(|b| glob_match(&b.mask, &mask))
    }

    /// The room `uid` may send to: a member (or anyone when it is not
    /// `+n`), not banned and, when it is moderated, voiced or operator.
    pub(super) fn sendable_room(&self, uid: UserId, name: RoomName) -> Result<RoomKey, ChatError> {
        let key = name.key();
        let Some(room) = self.rooms.get(&key) else {
            return Err(ChatError::NoSuchRoom(name));
        };
        let member = self.users[&uid].rooms.contains(&key);
        if !member && room.modes.no_external {
            return Err(if room.seen_by(Some(uid)) {
                ChatError::NotInRoom(room.name.clone())
            } else {
                ChatError::NoSuchRoom(name)
            });
        }
        let status = room.status(uid);
        if !(status.op || status.voice) && (room.modes.moderated || self.is_banned(room, uid)) {
            return Err(ChatError::CannotSend(room.name.clone()));
        }
        Ok(key)
    }

    /// The room called `name` as `uid` may know it: a secret room is
    /// missing to whoever is not in it.
    pub(super) fn existing_room(
        &self,
        uid: Option<UserId>,
        name: RoomName,
    ) -> Result<RoomKey, ChatError> {
        let key = name.key();
        match self.rooms.get(&key) {
            Some(room) if room.seen_by(uid) => Ok(key),
            _ => Err(ChatError::NoSuchRoom(name)),
        }
    }

    /// Whether a ban of `room` keeps `uid` from reading its history: it
    /// matches them and they are not one of its operators (who may lift
    /// it).
    pub(super) fn bans_reader(&self, room: &Room, uid: UserId) -> bool {
        !room.ops.contains(&uid) && self.is_banned(room, uid)
    }

    /// The one rule for reading a room's history, on every door
    /// (`/history`, CHATHISTORY, WebSocket `history`, search, resume via
    /// [`Hub::visibility`], REST): members may; when `outsiders` (REST),
    /// so may anyone of an open room (not secret, invite-only or keyed);
    /// nobody whom a ban of the room matches, member or not (refused as
    /// `Banned`). A closed room is not told apart from a missing one.
    pub(super) fn history_room(
        &self,
        uid: UserId,
        name: &RoomName,
        outsiders: bool,
    ) -> Result<RoomKey, ChatError> {
        let key = name.key();
        let room = self.rooms.get(&key);
        let member = room.is_some_and(|r| r.members.contains(&uid));
        let Some(room) = room.filter(|r| member || outsiders && r.is_open()) else {
            return Err(if outsiders {
                ChatError::NoSuchRoom(name.clone())
            } else {
                ChatError::NotInRoom(name.clone())
            });
        };
        if self.bans_reader(room, uid) {
            return Err(ChatError::Banned(room.name.clone()));
        }
        Ok(key)
    }

    /// The room `uid` is an operator of.
    fn operated_room(&self, uid: UserId, name: RoomName) -> Result<RoomKey, ChatError> {
        let key = self.existing_room(Some(uid), name)?;
        let room = &self.rooms[&key];
        if !room.members.contains(&uid) {
            return Err(ChatError::NotInRoom(room.name.clone()));
        }
        if !room.ops.contains(&uid) {
            return Err(ChatError::NotOperator(room.name.clone()));
        }
        Ok(key)
    }

    /// A member of room `key` by name.
    fn member_of(&self, key: &RoomKey, nick: &Nick) -> Result<UserId, ChatError> {
        let tid = self.user_id(nick)?;
        let room = &self.rooms[key];
        if room.members.contains(&tid) {
            Ok(tid)
        } else {
            Err(ChatError::UserNotInRoom {
                nick: self.users[&tid].nick().clone(),
                room: room.name.clone(),
            })
        }
    }

    /// Stages `d` for every member of room `key`.
    fn tell_room(&mut self, key: &RoomKey, d: &Delivery) {
        for id in &self.rooms[key].members {
            self.staged.user(&self.users[id], d);
        }
    }

    // MODE #room
    pub(super) fn get_modes(
        &mut self,
        sid: SessionId,
        uid: UserId,
        name: RoomName,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.existing_room(Some(uid), name)?;
        let room = &self.rooms[&key];
        let mut modes = room.modes.clone();
        if !room.members.contains(&uid) && modes.key.is_some() {
            modes.key = Some("*".into());
        }
        let ev = Event::Modes {
            room: room.name.clone(),
            modes,
            created: room.created,
        };
        self.reply(sid, now, ev);
        Ok(())
    }

    // MODE #room +b (the list)
    pub(super) fn bans(
        &mut self,
        sid: SessionId,
        name: RoomName,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.existing_room(self.sessions[&sid].user, name)?;
        let room = &self.rooms[&key];
        let ev = Event::Bans {
            room: room.name.clone(),
            bans: room.bans.clone(),
        };
        self.reply(sid, now, ev);
        Ok(())
    }

    // MODE #room +/-modes: applies what it can, refuses the rest one by
    // one, and tells the room what changed.
    pub(super) fn set_modes(
        &mut self,
        uid: UserId,
        name: RoomName,
        changes: Vec<ModeChange>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.operated_room(uid, name)?;
        let by = self.users[&uid].nick().clone();
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for change in changes {
            match self.apply_mode(&key, &by, change, now) {
                Ok(Some(applied)) => done.push(applied),
                Ok(None) => {}
                Err(e) => refused.push(e),
            }
        }
        let sid = self.staged.origin.map(|o| o.sid);
        for e in refused {
            if let Some(sid) = sid {
                self.refuse(sid, now, e);
            }
        }
        if done.is_empty() {
            return Ok(());
        }
        self.persist_modes(&key, &done);
        let ev = Event::ModeChanged {
            room: self.rooms[&key].name.clone(),
            by,
            changes: done,
        };
        let d = Envelope::by(now, ev, &self.users[&uid].actor);
        self.tell_room(&key, &d);
        Ok(())
    }

    /// Applies one change; `None` when it changes nothing.
    fn apply_mode(
        &mut self,
        key: &RoomKey,
        by: &Nick,
        change: ModeChange,
        now: Timestamp,
    ) -> Result<Option<ModeChange>, ChatError> {
        let add = change.add;
        self.check_mode_param(key, &change)?;
        let member = match &change.mode {
            RoomMode::Op(nick) | RoomMode::Voice(nick) => Some(self.member_of(key, nick)?),
            _ => None,
        };
        let max_bans = self.config.max_bans;
        let room = self.rooms.get_mut(key).expect("checked");
        let modes = &mut room.modes;
        let flag = |f: &mut bool| std::mem::replace(f, add) != add;
        let changed = match &change.mode {
            RoomMode::TopicOpsOnly => flag(&mut modes.topic_ops_only),
            RoomMode::NoExternal => flag(&mut modes.no_external),
            RoomMode::Moderated => flag(&mut modes.moderated),
            RoomMode::InviteOnly => flag(&mut modes.invite_only),
            RoomMode::Secret => flag(&mut modes.secret),
            RoomMode::Key(k) => {
                if add {
                    let k = k.clone().filter(|k| !k.is_empty());
                    let Some(k) = k else {
                        return Err(ChatError::BadValue("a key cannot be empty".into()));
                    };
                    if modes.key.as_ref() == Some(&k) {
                        false
                    } else {
                        modes.key = Some(k.clone());
                        return Ok(Some(ModeChange {
                            add,
                            mode: RoomMode::Key(Some(k)),
                        }));
                    }
                } else {
                    if modes.key.take().is_none() {
                        return Ok(None);
                    }
                    return Ok(Some(ModeChange {
                        add,
                        mode: RoomMode::Key(None),
                    }));
                }
            }
            RoomMode::Limit(n) => {
                if add {
                    let Some(n) = n.filter(|&n| n > 0) else {
                        return Err(ChatError::BadValue(
                            "a limit must be a number above 0".into(),
                        ));
                    };
                    let changed = modes.limit != Some(n);
                    modes.limit = Some(n);
                    changed
                } else {
                    if modes.limit.take().is_none() {
                        return Ok(None);
                    }
                    return Ok(Some(ModeChange {
                        add,
                        mode: RoomMode::Limit(None),
                    }));
                }
            }
            RoomMode::Op(_) | RoomMode::Voice(_) => {
                let uid = member.expect("resolved above");
                let set = if matches!(change.mode, RoomMode::Op(_)) {
                    &mut room.ops
                } else {
                    &mut room.voiced
                };
                let changed = if add {
                    set.insert(uid)
                } else {
                    set.remove(&uid)
                };
                if changed {
                    // Say the name as the hub spells it.
                    let nick = self.users[&uid].nick().clone();
                    let mode = match change.mode {
                        RoomMode::Op(_) => RoomMode::Op(nick),
                        _ => RoomMode::Voice(nick),
                    };
                    return Ok(Some(ModeChange { add, mode }));
                }
                false
            }
            RoomMode::Ban(mask) => {
                let mask = normalize_mask(mask);
                let at = room
                    .bans
                    .iter()
                    .position(|b| b.mask.eq_ignore_ascii_case(&mask));
                match (add, at) {
                    (true, Some(_)) | (false, None) => return Ok(None),
                    (true, None) => {
                        if room.bans.len() >= max_bans {
                            return Err(ChatError::BanListFull(room.name.clone()));
                        }
                        room.bans.push(Ban {
                            mask: mask.clone(),
                            by: by.clone(),
                            time: now,
                        });
                    }
                    (false, Some(i)) => {
                        room.bans.remove(i);
                    }
                }
                return Ok(Some(ModeChange {
                    add,
                    mode: RoomMode::Ban(mask),
                }));
            }
        };
        Ok(changed.then_some(change))
    }

    /// Checks a key or ban mask against the input rules (a mask as given
    /// and as completed, `nick` → `nick!*@*`).
    fn check_mode_param(&self, key: &RoomKey, change: &ModeChange) -> Result<(), ChatError> {
        let limits = &self.config.input;
        let checked = match &change.mode {
            RoomMode::Key(Some(k)) if change.add => limits.check(Field::Key, k),
            RoomMode::Ban(mask) => limits
                .check(Field::BanMask, mask)
                .and_then(|()| limits.check(Field::BanMask, &normalize_mask(mask))),
            _ => Ok(()),
        };
        checked.map_err(|error| ChatError::BadModeParam {
            room: self.rooms[key].name.clone(),
            mode: change.mode.letter(),
            error,
        })
    }

    // KICK #room nick [reason]
    pub(super) fn kick_member(
        &mut self,
        uid: UserId,
        name: RoomName,
        nick: Nick,
        reason: Option<Text>,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let key = self.operated_room(uid, name)?;
        let tid = self.member_of(&key, &nick)?;
        let ev = Event::Kicked {
            room: self.rooms[&key].name.clone(),
            by: self.users[&uid].nick().clone(),
            nick: self.users[&tid].nick().clone(),
            reason,
        };
        let d = Envelope::by(now, ev, &self.users[&uid].actor);
        self.tell_room(&key, &d);
        self.leave_room(tid, &key, now);
        Ok(())
    }

    // INVITE nick #room
    pub(super) fn invite(
        &mut self,
        uid: UserId,
        nick: Nick,
        name: RoomName,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let tid = self.user_id(&nick)?;
        let key = self.existing_room(Some(uid), name)?;
        let room = &self.rooms[&key];
        if !room.members.contains(&uid) {
            return Err(ChatError::NotInRoom(room.name.clone()));
        }
        if room.modes.invite_only && !room.ops.contains(&uid) {
            return Err(ChatError::NotOperator(room.name.clone()));
        }
        let target = &self.users[&tid];
        if room.members.contains(&tid) {
            return Err(ChatError::AlreadyInRoom {
                nick: target.nick().clone(),
                room: room.name.clone(),
            });
        }
        if !target.online() {
            return Err(ChatError::NotOnline(target.nick().clone()));
        }
        let ev = Event::Invited {
            room: room.name.clone(),
            by: self.users[&uid].nick().clone(),
            nick: target.nick().clone(),
        };
        let d = Envelope::by(now, ev, &self.users[&uid].actor);
        self.staged.user(target, &d);
        self.tell_room(&key, &d);
        self.rooms
            .get_mut(&key)
            .expect("exists")
            .invited
            .insert(tid);
        Ok(())
    }

    /// Stages `d` for `uid` and everyone sharing a room with them.
    fn tell_audience(&mut self, uid: UserId, d: &Delivery) {
        for id in self.audience(uid) {
            self.staged.user(&self.users[&id], d);
        }
    }

    // AWAY [message]
    pub(super) fn set_away(&mut self, uid: UserId, away: Option<Text>, now: Timestamp) {
        let user = self.users.get_mut(&uid).expect("live");
        user.set_away(away.clone());
        let ev = Event::AwayChanged {
            nick: user.nick().clone(),
            away,
        };
        let d = Envelope::by(now, ev, &user.actor);
        self.tell_audience(uid, &d);
    }

    // SETNAME realname
    pub(super) fn set_realname(&mut self, uid: UserId, realname: Text, now: Timestamp) {
        let user = self.users.get_mut(&uid).expect("live");
        user.set(|a| a.realname = realname.as_str().into());
        let ev = Event::RealnameChanged {
            nick: user.nick().clone(),
            realname: realname.as_str().to_owned(),
        };
        let d = Envelope::by(now, ev, &user.actor);
        self.tell_audience(uid, &d);
    }

    // WHOIS, and IRC's ISON / USERHOST / WHO nick
    /// WHOIS: the users online, and the registered ones offline (with
    /// when they were last seen); the rest are missing.
    pub(super) fn whois(&mut self, sid: SessionId, nicks: Vec<Nick>, now: Timestamp) {
        let asker = self.sessions[&sid].user;
        // Real addresses are for server operators only.
        let asked_by_oper = self.sessions[&sid].is_oper();
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for nick in nicks {
            let Some(u) = self
                .by_nick
                .get(&nick.key())
                .map(|id| (id, &self.users[id]))
                .filter(|(_, u)| u.online() || u.account.is_some())
            else {
                missing.push(nick);
                continue;
            };
            let (id, u) = u;
            // Secret rooms only to those in them (and to the user).
            let rooms = u
                .rooms
                .iter()
                .map(|k| &self.rooms[k])
                .filter(|room| asker == Some(*id) || room.seen_by(asker))
                .map(|room| (room.name.clone(), room.status(*id)))
                .collect();
            let oper = self.user_is_oper(*id);
            found.push(UserDetails {
                who: u.actor.clone(),
                away: u.away().cloned(),
                rooms,
                signon: u.signon,
                last_active: u.last_active,
                oper,
                address: self.user_address(u).filter(|_| asked_by_oper),
                last_seen: (!u.online()).then_some(u.last_seen),
            });
        }
        self.reply(sid, now, Event::Whois { found, missing });
    }

    /// WHO mask: the users online that match, as WHOIS describes them,
    /// by nick; invisible ones only to those sharing a room with them (or
    /// themselves). At most `MAX_WHO`.
    pub(super) fn who(&mut self, sid: SessionId, uid: UserId, mask: &str, now: Timestamp) {
        const MAX_WHO: usize = 1000;
        let everyone = matches!(mask, "*" | "0" | "");
        let my_rooms: HashSet<&RoomKey> = self.users[&uid].rooms.iter().collect();
        let mut nicks: Vec<Nick> = self
            .users
            .iter()
            .filter(|(id, u)| {
                u.online()
                    && (!u.invisible || **id == uid || u.rooms.iter().any(|r| my_rooms.contains(r)))
            })
            .filter(|(_, u)| {
                everyone
                    || glob_match(mask, u.nick().as_str())
                    || glob_match(mask, &u.mask())
                    || glob_match(mask, u.host())
                    || glob_match(mask, u.realname())
            })
            .map(|(_, u)| u.nick().clone())
            .collect();
        nicks.sort_by(Nick::cmp_key);
        nicks.truncate(MAX_WHO);
        self.whois(sid, nicks, now);
    }

    // WHOWAS nick
    pub(super) fn whowas(&mut self, sid: SessionId, nick: Nick, now: Timestamp) {
        let key = nick.key();
        let entries = self
            .departed
            .iter()
            .rev()
            .filter(|d| d.who.nick.key() == key)
            .cloned()
            .collect();
        self.reply(sid, now, Event::Whowas { nick, entries });
    }

    // LUSERS
    pub(super) fn stats(&mut self, sid: SessionId, now: Timestamp) {
        let users = self.online;
        debug_assert_eq!(
            users,
            self.users.values().filter(|u| u.online()).count(),
            "the online count is kept right"
        );
        debug_assert_eq!(
            (self.invisible, self.attached, self.opers),
            (
                self.users
                    .values()
                    .filter(|u| u.online() && u.invisible)
                    .count(),
                // Not a sessionless caller's (`Hub::call`), which lives
                // for one command.
                self.sessions
                    .iter()
                    .filter(|(id, s)| **id != CALL_SESSION && s.user.is_some())
                    .count(),
                self.sessions
                    .iter()
                    .filter(|(id, s)| **id != CALL_SESSION && s.is_oper())
                    .count(),
            ),
            "the counts are kept right"
        );
        let ev = Event::Stats {
            users,
            invisible: self.invisible,
            sessions: self.attached,
            opers: self.opers,
            rooms: self.rooms.len(),
            max_users: self.max_users.max(users),
        };
        self.reply(sid, now, ev);
    }

    /// The stored conversation behind `target`, as `uid` may read it
    /// (`outsiders`: as [`Hub::history_room`] says).
    fn conversation(
        &self,
        uid: UserId,
        target: &Target,
        outsiders: bool,
    ) -> Result<Conversation, ChatError> {
        let me = &self.users[&uid];
        match target {
            Target::Room(name) => Ok(Conversation::Room(self.history_room(uid, name, outsiders)?)),
            Target::User(nick) => {
                if me.account.is_none() {
                    return Err(ChatError::GuestsNoPrivateHistory);
                }
                Ok(Conversation::Private(me.nick().key(), nick.key()))
            }
        }
    }

    // CHATHISTORY BEFORE/AFTER/LATEST/BETWEEN/AROUND
    pub(super) fn chat_history(
        &mut self,
        sid: SessionId,
        uid: UserId,
        target: Target,
        window: Window,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        self.store()?;
        let conversation = self.conversation(uid, &target, self.sessionless(sid))?;
        let max = self.config.max_history;
        let query = match window {
            Window::Query(mut q) => {
                q.limit = q.limit.min(max);
                ReadQuery::Window(conversation, q)
            }
            Window::Around { at, limit } => ReadQuery::Around {
                conversation,
                at,
                limit: limit.min(max),
            },
        };
        self.read(sid, uid, query, Answer::History(target), now)
    }

    // CHATHISTORY TARGETS
    pub(super) fn conversations(
        &mut self,
        sid: SessionId,
        uid: UserId,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let who = self.visibility(uid);
        let names = who
            .rooms
            .iter()
            .filter_map(|key| self.rooms.get(key).map(|r| r.name.clone()))
            .collect();
        let query = ReadQuery::Conversations {
            who,
            after,
            before,
            limit: limit.min(self.config.max_history),
        };
        self.read(sid, uid, query, Answer::Conversations(names), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_completed() {
        assert_eq!(normalize_mask("bob"), "bob!*@*");
        assert_eq!(normalize_mask("bob!u"), "bob!u@*");
        assert_eq!(normalize_mask("u@h"), "*!u@h");
        assert_eq!(normalize_mask("*!*@h"), "*!*@h");
        assert_eq!(normalize_mask("!@"), "*!*@*");
    }

    #[test]
    fn globs_match_without_backtracking_blowup() {
        assert!(glob_match("*!*@*", "bob!b@host"));
        assert!(glob_match("B?b!*@*", "bob!b@host"));
        assert!(!glob_match("bob!*@x", "bob!b@host"));
        assert!(glob_match("*a*b*c", "xxaxxbxxc"));
        assert!(!glob_match("*a*b*c", "xxaxxbxx"));
        let hostile = "*a".repeat(200);
        assert!(!glob_match(&hostile, &"a".repeat(199)));
    }
}
