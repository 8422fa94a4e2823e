//! What the web doors need beyond a session's commands: typing
//! notifications, resuming after a reconnect, announcements to everyone,
//! and the REST API's requests, which act for an account without a
//! session of their own (reads of rooms, users and history, and sending
//! as the token's user). Split from `hub.rs` for size; same state.

use super::*;
use crate::event::{MsgId, RoomInfo, UserInfo};
use crate::read::{Answer, ReadQuery};

/// Who a REST request acts for: a registered account, by name.
pub type ApiUser = NickKey;

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
        let from_key = me.nick.key();
        let ev = Envelope::by(
            now,
            Event::Typing {
                from: me.nick.clone(),
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
                    if *mid != uid && !member.ignores.contains(&from_key) {
                        self.staged.user(member, &ev);
                    }
                }
            }
            Target::User(nick) => {
                let tid = self.user_id(&nick)?;
                let them = &self.users[&tid];
                if tid != uid && !them.ignores.contains(&from_key) {
                    self.staged.user(them, &ev);
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

    /// The registered user `user` (REST requests act for accounts only).
    pub(super) fn api_user(&self, user: &ApiUser) -> Result<UserId, ChatError> {
        match self.by_nick.get(user) {
            Some(&uid) if self.users[&uid].account.is_some() => Ok(uid),
            _ => Err(ChatError::NotLoggedIn),
        }
    }

    /// The rooms `user` can see, by name.
    pub fn api_rooms(&self, user: &ApiUser) -> Result<Vec<RoomInfo>, ChatError> {
        let uid = self.api_user(user)?;
        Ok(self.room_infos(|r| r.seen_by(Some(uid))))
    }

    /// Every known user, online or not, by name.
    pub fn api_users(&self, user: &ApiUser) -> Result<Vec<UserInfo>, ChatError> {
        self.api_user(user)?;
        Ok(self.user_infos())
    }

    /// A window of a room's history, as `user` may read it: the read to
    /// run (by a read pool, or [`Hub::run_read`]) once the batch is
    /// committed.
    pub fn api_history(
        &mut self,
        user: &ApiUser,
        room: &RoomName,
        query: &HistoryQuery,
    ) -> Result<Read, ChatError> {
        let uid = self.api_user(user)?;
        let key = self.history_room(uid, room, true)?;
        let query = HistoryQuery {
            limit: query.limit.clamp(1, self.config.max_history),
            ..*query
        };
        let target = Target::Room(self.rooms[&key].name.clone());
        let query = ReadQuery::Window(Conversation::Room(key), query);
        self.describe_read(uid, query, Answer::History(target))
    }

    /// Messages of `room` matching the words of `query`, newest last: the
    /// read to run, as for [`Hub::api_history`].
    pub fn api_search(
        &mut self,
        user: &ApiUser,
        room: &RoomName,
        query: &str,
        limit: usize,
    ) -> Result<Read, ChatError> {
        let uid = self.api_user(user)?;
        let key = self.history_room(uid, room, true)?;
        let who = Visibility {
            rooms: vec![key],
            private: None,
        };
        let query = ReadQuery::Search {
            who,
            text: query.to_owned(),
            limit: limit.clamp(1, self.config.max_history),
        };
        self.describe_read(uid, query, Answer::Search)
    }

    /// Stages a message from `user` to `to`, as if one of its sessions
    /// sent it; the message, and whether it was kept for an offline
    /// recipient (`Some(guest)`: `true` when kept for a guest name, which
    /// whoever next uses it reads). Like every message it is stored when
    /// the batch commits (see [`Hub::last_commit_failed`]).
    pub fn api_send(
        &mut self,
        user: &ApiUser,
        to: Target,
        kind: MsgKind,
        text: Text,
        now: Timestamp,
    ) -> Result<(Message, Option<bool>), ChatError> {
        let uid = self.api_user(user)?;
        let id = MsgId(self.next_msg);
        let staged = self.staged.items.len();
        // No session: replies meant for the sender (kept for offline,
        // away) go to a session id no door ever hands out.
        self.send(API_SESSION, uid, Some(to), kind, text, now)?;
        let Some(Journal::Message(msg)) = self.journal.last() else {
            unreachable!("send journals the message it sends");
        };
        debug_assert_eq!(msg.id, id);
        let kept = self.staged.items[staged..]
            .iter()
            .find_map(|(sid, d)| match &d.event {
                Event::KeptForOffline { guest, .. } if *sid == API_SESSION => Some(*guest),
                _ => None,
            });
        Ok((msg.clone(), kept))
    }
}

/// The session id of REST requests: never a real session (doors count
/// from 1), so what is staged for it is dropped.
pub const API_SESSION: SessionId = SessionId(0);
