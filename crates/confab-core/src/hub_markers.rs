//! Read markers: where a user stopped reading each conversation, shared by
//! all the user's sessions on every door. A door sets one by message id
//! (the web doors) or by time (IRC's `MARKREAD`); the hub finds the other
//! half in the store, keeps the marker only if it moves forward, and tells
//! every session of the user. Registered users' markers are persisted
//! (`Op::ReadMarker`) and loaded with their accounts; a guest's live in
//! memory until its last session ends. Split from `hub.rs` for size; same
//! state.

use super::*;
use crate::event::Marker;
use crate::store::Bound;

/// A conversation as a marker is filed under: a room or a private peer,
/// by key, so that spellings of one name share a marker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Place {
    Room(RoomKey),
    User(NickKey),
}

impl Place {
    pub(super) fn of(target: &Target) -> Place {
        match target {
            Target::Room(r) => Place::Room(r.key()),
            Target::User(n) => Place::User(n.key()),
        }
    }
}

impl<O: Outbox> Hub<O> {
    // Mark read: a room the user is in, or a private conversation.
    pub(super) fn mark_read(
        &mut self,
        sid: SessionId,
        uid: UserId,
        target: Target,
        at: Bound,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let target = self.marker_target(uid, target, true)?;
        let marker = match at {
            Bound::Id(id) => self.marker_at_id(uid, &target, id, now)?,
            // Never past now: a client's clock may run ahead.
            Bound::Time(t) => self.marker_at_time(uid, &target, t.min(now), now)?,
        };
        let place = Place::of(&target);
        let user = self.users.get_mut(&uid).expect("live");
        if let Some((known, current)) = user.rare().markers.get(&place)
            && marker <= *current
        {
            // Not forward: the asker learns what is kept.
            let ev = Event::ReadMarker {
                target: known.clone(),
                marker: Some(*current),
            };
            self.reply(sid, now, ev);
            return Ok(());
        }
        user.rare_mut()
            .markers
            .insert(place, (target.clone(), marker));
        if let Some(account) = user.account {
            let op = Op::ReadMarker {
                account,
                target: target.clone(),
                marker,
            };
            self.op(op);
        }
        let ev = Envelope::new(
            now,
            Event::ReadMarker {
                target,
                marker: Some(marker),
            },
        );
        self.staged.user(&self.users[&uid], &ev);
        Ok(())
    }

    /// `target` as the hub spells it. Setting a room's marker needs
    /// membership (`set`); asking does not.
    fn marker_target(&self, uid: UserId, target: Target, set: bool) -> Result<Target, ChatError> {
        Ok(match target {
            Target::Room(name) => {
                let key = name.key();
                match self.rooms.get(&key) {
                    Some(room) if !set || self.users[&uid].rooms.contains(&key) => {
                        Target::Room(room.name.clone())
                    }
                    Some(_) => return Err(ChatError::NotInRoom(name)),
                    None if set => return Err(ChatError::NoSuchRoom(name)),
                    None => Target::Room(name),
                }
            }
            Target::User(nick) => Target::User(self.display(&nick)),
        })
    }

    /// Where the messages of `target` are, as `uid` reads them.
    fn marker_conversation(&self, uid: UserId, target: &Target) -> Conversation {
        match target {
            Target::Room(r) => Conversation::Room(r.key()),
            Target::User(n) => Conversation::Private(self.users[&uid].nick().key(), n.key()),
        }
    }

    /// The marker at message `id`, which must be one of `target` that
    /// `uid` may read.
    fn marker_at_id(
        &mut self,
        uid: UserId,
        target: &Target,
        id: MsgId,
        now: Timestamp,
    ) -> Result<Marker, ChatError> {
        self.store()?;
        let query = HistoryQuery {
            after: id.0.checked_sub(1).map(|before| Bound::Id(MsgId(before))),
            before: id.0.checked_add(1).map(|after| Bound::Id(MsgId(after))),
            limit: 1,
            latest: true,
        };
        let found = self.marker_lookup(uid, target, &query, now)?;
        match found {
            Some(m) if m.id == id => Ok(Marker {
                time: m.time,
                msg: Some(m.id),
            }),
            _ => Err(ChatError::NoSuchMessage {
                target: target.clone(),
                id,
            }),
        }
    }

    /// The marker at time `t`: the latest message of `target` at or before
    /// it that `uid` may read, if any (none without a store).
    fn marker_at_time(
        &mut self,
        uid: UserId,
        target: &Target,
        t: Timestamp,
        now: Timestamp,
    ) -> Result<Marker, ChatError> {
        let msg = if self.store.is_some() {
            let query = HistoryQuery {
                after: None,
                before: Some(Bound::Time(Timestamp(t.0.saturating_add(1)))),
                limit: 1,
                latest: true,
            };
            self.marker_lookup(uid, target, &query, now)?.map(|m| m.id)
        } else {
            None
        };
        Ok(Marker { time: t, msg })
    }

    /// The one message of `query` in `target`, if `uid` may read it. The
    /// batch so far is committed first, so its messages count.
    fn marker_lookup(
        &mut self,
        uid: UserId,
        target: &Target,
        query: &HistoryQuery,
        now: Timestamp,
    ) -> Result<Option<Message>, ChatError> {
        let conversation = self.marker_conversation(uid, target);
        self.commit_ops(now);
        let found = self
            .store()?
            .history(&conversation, query)
            .map_err(ChatError::from)?;
        Ok(self.visible(uid, found).pop())
    }

    /// The event telling where `uid` stopped reading `target` (spelled as
    /// the hub spells it).
    pub(super) fn marker_event(&self, uid: UserId, target: Target) -> Event {
        let marker = self.marker_of(uid, &target);
        Event::ReadMarker { target, marker }
    }

    fn marker_of(&self, uid: UserId, target: &Target) -> Option<Marker> {
        let markers = &self.users[&uid].rare().markers;
        markers.get(&Place::of(target)).map(|(_, m)| *m)
    }

    // Read marker of one conversation.
    pub(super) fn get_read_marker(
        &mut self,
        sid: SessionId,
        uid: UserId,
        target: Target,
        now: Timestamp,
    ) -> Result<(), ChatError> {
        let target = self.marker_target(uid, target, false)?;
        let ev = self.marker_event(uid, target);
        self.reply(sid, now, ev);
        Ok(())
    }

    // Read markers: all of them.
    pub(super) fn read_markers(&mut self, sid: SessionId, uid: UserId, now: Timestamp) {
        let list = self.markers_of(uid);
        self.reply(sid, now, Event::ReadMarkers(list));
    }

    /// Every marker of `uid`, rooms first, each kind by key.
    fn markers_of(&self, uid: UserId) -> Vec<(Target, Marker)> {
        let mut list: Vec<(&Place, &(Target, Marker))> =
            self.users[&uid].rare().markers.iter().collect();
        list.sort_by(|a, b| match (a.0, b.0) {
            (Place::Room(x), Place::Room(y)) => x.cmp(y),
            (Place::User(x), Place::User(y)) => x.cmp(y),
            (Place::Room(_), Place::User(_)) => std::cmp::Ordering::Less,
            (Place::User(_), Place::Room(_)) => std::cmp::Ordering::Greater,
        });
        list.into_iter().map(|(_, tm)| tm.clone()).collect()
    }
}
