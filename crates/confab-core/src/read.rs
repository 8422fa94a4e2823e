//! [`Read`]: a read of the store that answers a command (history, search,
//! resume, the conversations list), described completely so that it can run away from the hub.
//!
//! The hub decides who may read what (membership, bans, secret rooms,
//! ignores, the account's age) and writes that into a `Read`; running it
//! needs only a [`Store`] and gives the event to send. By default the hub
//! runs it at once, on its own store; a server that sets
//! [`HubConfig::offload_reads`](crate::HubConfig) gets it as
//! [`Event::Read`] in the session's queue instead, runs it on a pool of
//! read-only connections, and the door sends the answer in the queue's
//! order. Either way the read sees every message up to the batch that
//! asked (`upto`) and none after, which come live.

use crate::ChatError;
use crate::event::{Event, Message, MsgId, Target, Timestamp};
use crate::names::{Nick, NickKey, RoomName};
use crate::store::{Bound, Conversation, HistoryQuery, Store, StoreError, Visibility};

/// A read and what to make of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub query: ReadQuery,
    /// The newest message the reader may see: the last one the hub had
    /// assigned when it was asked.
    pub upto: MsgId,
    /// Senders whose messages the reader ignores.
    pub ignores: Vec<NickKey>,
    /// Private messages from before this are not the reader's (an account
    /// that took over a name does not read the guest's).
    pub private_since: Timestamp,
    pub answer: Answer,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadQuery {
    /// A window of one conversation.
    Window(Conversation, HistoryQuery),
    /// Up to `limit` messages on each side of `at` (`at` included after).
    Around {
        conversation: Conversation,
        at: Bound,
        limit: usize,
    },
    /// Messages matching `text`, newest last.
    Search {
        who: Visibility,
        text: String,
        limit: usize,
    },
    /// Messages after `after`, oldest first, up to `limit`.
    Since {
        who: Visibility,
        after: MsgId,
        limit: usize,
    },
    /// The conversations whose latest message lies strictly between
    /// `after` and `before`, the `limit` earliest.
    Conversations {
        who: Visibility,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    },
}

/// The event the rows become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    History(Target),
    /// History shown on joining a room: nothing at all when empty.
    JoinHistory(Target),
    Search,
    Resumed,
    /// `Event::Conversations`, naming rooms as these names spell them
    /// (the reader's rooms; the store keeps only their keys).
    Conversations(Vec<RoomName>),
}

impl Read {
    /// Runs the read: the event to send (a refusal if the store fails), or
    /// none when there is nothing to say.
    pub fn run(&self, store: &mut dyn Store) -> Option<Event> {
        let event = self.event(store);
        match (&self.answer, &event) {
            (Answer::JoinHistory(_), Event::History { messages, .. }) if messages.is_empty() => {
                None
            }
            _ => Some(event),
        }
    }

    fn event(&self, store: &mut dyn Store) -> Event {
        self.answered(store)
            .unwrap_or_else(|e| Event::Error(ChatError::from(e)))
    }

    fn answered(&self, store: &mut dyn Store) -> Result<Event, StoreError> {
        let (messages, more) = match &self.query {
            ReadQuery::Conversations {
                who,
                after,
                before,
                limit,
            } => {
                let found = store.conversations(who, *after, *before, *limit)?;
                return Ok(self.conversations(found));
            }
            ReadQuery::Window(conversation, q) => (self.window(store, conversation, q)?, false),
            ReadQuery::Around {
                conversation,
                at,
                limit,
            } => {
                let half = limit / 2;
                let before = HistoryQuery {
                    after: None,
                    before: Some(*at),
                    limit: half,
                    latest: true,
                };
                // From `at` on, `at` included.
                let from = match *at {
                    Bound::Id(id) => Bound::Id(MsgId(id.0.saturating_sub(1))),
                    Bound::Time(t) => Bound::Time(Timestamp(t.0.saturating_sub(1))),
                };
                let after = HistoryQuery {
                    after: Some(from),
                    before: None,
                    limit: limit - half,
                    latest: false,
                };
                let mut messages = store.history(conversation, &before)?;
                messages.extend(self.window(store, conversation, &after)?);
                (messages, false)
            }
            ReadQuery::Search { who, text, limit } => (store.search(who, text, *limit)?, false),
            ReadQuery::Since { who, after, limit } => {
                let mut messages = store.since(who, *after, limit + 1)?;
                messages.retain(|m| m.id <= self.upto);
                let more = messages.len() > *limit;
                messages.truncate(*limit);
                (messages, more)
            }
        };
        Ok(self.answer(messages, more))
    }

    /// The window `q` of `conversation`, starting no earlier than the
    /// reader's private messages do (`private_since`): the store counts
    /// the `limit` among those the reader may see, so a window that starts
    /// before the account existed is not cut short by messages that are
    /// then left out.
    fn window(
        &self,
        store: &mut dyn Store,
        conversation: &Conversation,
        q: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        let Conversation::Private(..) = conversation else {
            return store.history(conversation, q);
        };
        // Bounds are exclusive: from `private_since` on is after this.
        let floor = Timestamp(self.private_since.0.saturating_sub(1));
        let floored = |after: Timestamp| HistoryQuery {
            after: Some(Bound::Time(after)),
            ..*q
        };
        match q.after {
            None => store.history(conversation, &floored(floor)),
            Some(Bound::Time(t)) => store.history(conversation, &floored(t.max(floor))),
            // A store window has one lower bound: after the id first, and
            // if that reaches back past the floor (a message the reader
            // may not see came back), from the floor instead.
            Some(Bound::Id(_)) => {
                let messages = store.history(conversation, q)?;
                if messages
                    .first()
                    .is_some_and(|m| m.time < self.private_since)
                {
                    store.history(conversation, &floored(floor))
                } else {
                    Ok(messages)
                }
            }
        }
    }

    /// Names each conversation found: a room as its name is spelt, a
    /// person as the latest message spelt their name (else by its key).
    fn conversations(&self, found: Vec<(Conversation, Timestamp, Option<Nick>)>) -> Event {
        let Answer::Conversations(names) = &self.answer else {
            return Event::Conversations(Vec::new());
        };
        let targets = found
            .into_iter()
            .filter_map(|(conversation, time, name)| {
                let target = match conversation {
                    Conversation::Room(key) => {
                        Target::Room(names.iter().find(|n| n.key() == key)?.clone())
                    }
                    Conversation::Private(_, other) => {
                        if time < self.private_since {
                            return None;
                        }
                        match name {
                            Some(name) if name.key() == other => Target::User(name),
                            _ => Target::User(Nick::parse(other.as_str(), usize::MAX).ok()?),
                        }
                    }
                };
                Some((target, time))
            })
            .collect();
        Event::Conversations(targets)
    }

    /// The messages of a history or search answer, for a caller that
    /// wants rows (REST); a refusal as an error.
    pub fn messages(answer: Option<Event>) -> Result<Vec<Message>, ChatError> {
        match answer {
            Some(Event::History { messages, .. } | Event::SearchResults { messages, .. }) => {
                Ok(messages)
            }
            Some(Event::Error(e)) => Err(e),
            None => Ok(Vec::new()),
            Some(_) => Err(ChatError::Storage(
                "the read gave an answer of another kind".to_owned(),
            )),
        }
    }

    fn answer(&self, messages: Vec<Message>, more: bool) -> Event {
        let messages: Vec<Message> = messages
            .into_iter()
            .filter(|m| m.id <= self.upto)
            .filter(|m| !self.ignores.contains(&m.from.key()))
            .filter(|m| matches!(m.to, Target::Room(_)) || m.time >= self.private_since)
            .collect();
        match &self.answer {
            Answer::History(target) | Answer::JoinHistory(target) => Event::History {
                target: target.clone(),
                messages,
            },
            Answer::Search => {
                let ReadQuery::Search { text, .. } = &self.query else {
                    unreachable!("a search answer comes from a search")
                };
                Event::SearchResults {
                    query: text.clone(),
                    messages,
                }
            }
            Answer::Resumed => Event::Resumed { messages, more },
            Answer::Conversations(_) => {
                unreachable!("a conversations answer comes from a conversations read")
            }
        }
    }
}
