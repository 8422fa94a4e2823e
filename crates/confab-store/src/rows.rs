//! Between core values and SQL columns.
//!
//! Names and texts are validated on the way in (the core only builds them
//! through their parsers), so reading them back parses leniently: no length
//! limit, which may have changed in the config since the row was written.
//! A row that still fails to parse was not written by confab and is
//! reported as corruption.

use rusqlite::Row;

use confab_core::store::{Account, AccountId, Bound, StoreError};
use confab_core::{
    ClientTags, Message, MsgId, MsgKind, Nick, NickKey, RoomKey, RoomName, Target, Text, Timestamp,
};

use crate::error::{corrupt, db};

/// The columns [`message`] reads, in order, from a `messages` table
/// aliased `m`.
macro_rules! message_columns {
    () => {
        "m.id, m.time_ms, m.from_nick, m.kind, m.target_kind, m.target_name, m.text, m.tags"
    };
}
pub(crate) use message_columns;

/// The columns [`account`] reads, in order.
macro_rules! account_columns {
    () => {
        "id, name, password_hash, created_ms, last_seen_ms, tokens_after_ms"
    };
}
pub(crate) use account_columns;

pub(crate) fn kind_str(kind: MsgKind) -> &'static str {
    match kind {
        MsgKind::Say => "say",
        MsgKind::Action => "action",
        MsgKind::Notice => "notice",
    }
}

pub(crate) fn msg_id(id: MsgId) -> Result<i64, StoreError> {
    i64::try_from(id.0)
        .map_err(|_| StoreError::Other(format!("message id {} is too large to store", id.0)))
}

/// A stored message id (positive).
pub(crate) fn stored_msg_id(id: i64) -> Result<MsgId, StoreError> {
    u64::try_from(id)
        .map(MsgId)
        .map_err(|_| corrupt("message id", &id.to_string(), "negative"))
}

/// The `target_kind`, `target_name` and `target_key` columns of a
/// message's or a marker's target.
pub(crate) fn target_columns(target: &Target) -> (&'static str, &str, String) {
    match target {
        Target::Room(r) => ("room", r.as_str(), r.key().as_str().to_owned()),
        Target::User(n) => ("user", n.as_str(), n.key().as_str().to_owned()),
    }
}

/// A target from its `target_kind` and `target_name` columns.
pub(crate) fn target(kind: &str, name: &str) -> Result<Target, StoreError> {
    match kind {
        "room" => Ok(Target::Room(room(name)?)),
        "user" => Ok(Target::User(nick(name)?)),
        _ => Err(corrupt("target kind", kind, "unknown")),
    }
}

/// A history window as inclusive ranges of stored ids and times: what
/// lies strictly after `after` and strictly before `before`, `MIN` and
/// `MAX` where unbounded. `None` if nothing can lie in it (such as bounds
/// the wrong way round, or strictly after the largest time), so the
/// arithmetic never overflows and the SQL need not handle empty ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) id_lo: i64,
    pub(crate) id_hi: i64,
    pub(crate) time_lo: i64,
    pub(crate) time_hi: i64,
}

pub(crate) fn window(after: Option<Bound>, before: Option<Bound>) -> Option<Window> {
    let mut w = Window {
        id_lo: i64::MIN,
        id_hi: i64::MAX,
        time_lo: i64::MIN,
        time_hi: i64::MAX,
    };
    match after {
        None => {}
        // No stored id is above i64::MAX.
        Some(Bound::Id(id)) => w.id_lo = i64::try_from(id.0).ok()?.checked_add(1)?,
        Some(Bound::Time(t)) => w.time_lo = t.0.checked_add(1)?,
    }
    match before {
        None => {}
        // Every stored id is below an id above i64::MAX.
        Some(Bound::Id(id)) => {
            w.id_hi = i64::try_from(id.0).map_or(Some(i64::MAX), |id| id.checked_sub(1))?
        }
        Some(Bound::Time(t)) => w.time_hi = t.0.checked_sub(1)?,
    }
    (w.id_lo <= w.id_hi && w.time_lo <= w.time_hi).then_some(w)
}

/// A `LIMIT` value.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn nick(s: &str) -> Result<Nick, StoreError> {
    Nick::parse(s, usize::MAX).map_err(|e| corrupt("name", s, e))
}

pub(crate) fn nick_key(s: &str) -> Result<NickKey, StoreError> {
    Ok(nick(s)?.key())
}

pub(crate) fn room(s: &str) -> Result<RoomName, StoreError> {
    // Under the rules it was stored with (a name from before invisible
    // format characters were refused still loads).
    let room = RoomName::parse_stored(s, usize::MAX).map_err(|e| corrupt("room name", s, e))?;
    if room.as_str() != s {
        return Err(corrupt("room name", s, "it does not start with #"));
    }
    Ok(room)
}

/// A stored room key (a room name, case-folded).
pub(crate) fn room_key(s: &str) -> Result<RoomKey, StoreError> {
    Ok(room(s)?.key())
}

pub(crate) fn text(s: &str) -> Result<Text, StoreError> {
    Text::parse(s, usize::MAX).map_err(|e| corrupt("text", s, e))
}

/// A message from the [`message_columns`] of a row.
pub(crate) fn message(row: &Row<'_>) -> Result<Message, StoreError> {
    let id: i64 = row.get(0).map_err(db)?;
    let time: i64 = row.get(1).map_err(db)?;
    let from: String = row.get(2).map_err(db)?;
    let kind: String = row.get(3).map_err(db)?;
    let target_kind: String = row.get(4).map_err(db)?;
    let target_name: String = row.get(5).map_err(db)?;
    let body: String = row.get(6).map_err(db)?;
    let tags: Option<String> = row.get(7).map_err(db)?;
    let id = stored_msg_id(id)?;
    let kind = match kind.as_str() {
        "say" => MsgKind::Say,
        "action" => MsgKind::Action,
        "notice" => MsgKind::Notice,
        _ => return Err(corrupt("message kind", &kind, "unknown")),
    };
    let to = target(&target_kind, &target_name)?;
    Ok(Message {
        id,
        time: Timestamp(time),
        from: nick(&from)?,
        to,
        kind,
        text: text(&body)?,
        tags: match tags {
            None => ClientTags::default(),
            Some(t) => ClientTags::decode(&t).map_err(|e| corrupt("message tags", &t, e))?,
        },
    })
}

/// An account from the [`account_columns`] of a row.
pub(crate) fn account(row: &Row<'_>) -> Result<Account, StoreError> {
    let id: i64 = row.get(0).map_err(db)?;
    let name: String = row.get(1).map_err(db)?;
    Ok(Account {
        id: AccountId(id),
        name: nick(&name)?,
        password_hash: row.get(2).map_err(db)?,
        created: Timestamp(row.get(3).map_err(db)?),
        last_seen: Timestamp(row.get(4).map_err(db)?),
        tokens_after: Timestamp(row.get(5).map_err(db)?),
    })
}
