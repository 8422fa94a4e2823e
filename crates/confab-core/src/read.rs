//! [`Read`]: a read of the store that answers a command (history, search,
//! resume), described completely so that it can run away from the hub.
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

use crate::event::{Event, Message, MsgId, Target, Timestamp};
use crate::names::NickKey;
use crate::store::{Bound, Conversation, HistoryQuery, Store, StoreError, Visibility};
use crate::{ChatError, Text};

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
        text: Text,
        limit: usize,
    },
    /// Messages after `after`, oldest first, up to `limit`.
    Since {
        who: Visibility,
        after: MsgId,
        limit: usize,
    },
}

/// The event the rows become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    History(Target),
    Search,
    Resumed,
}

impl Read {
    /// Runs the read: the event to send (a refusal if the store fails).
    pub fn run(&self, store: &mut dyn Store) -> Event {
        match self.rows(store) {
            Ok((messages, more)) => self.answer(messages, more),
            Err(e) => Event::Error(ChatError::Storage(e.to_string())),
        }
    }

    fn rows(&self, store: &mut dyn Store) -> Result<(Vec<Message>, bool), StoreError> {
        Ok(match &self.query {
            ReadQuery::Window(conversation, q) => (store.history(conversation, q)?, false),
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
                messages.extend(store.history(conversation, &after)?);
                (messages, false)
            }
            ReadQuery::Search { who, text, limit } => {
                (store.search(who, text.as_str(), *limit)?, false)
            }
            ReadQuery::Since { who, after, limit } => {
                let mut messages = store.since(who, *after, limit + 1)?;
                messages.retain(|m| m.id <= self.upto);
                let more = messages.len() > *limit;
                messages.truncate(*limit);
                (messages, more)
            }
        })
    }

    fn answer(&self, messages: Vec<Message>, more: bool) -> Event {
        let messages: Vec<Message> = messages
            .into_iter()
            .filter(|m| m.id <= self.upto)
            .filter(|m| !self.ignores.contains(&m.from.key()))
            .filter(|m| matches!(m.to, Target::Room(_)) || m.time >= self.private_since)
            .collect();
        match &self.answer {
            Answer::History(target) => Event::History {
                target: target.clone(),
                messages,
            },
            Answer::Search => {
                let ReadQuery::Search { text, .. } = &self.query else {
                    unreachable!("a search answer comes from a search")
                };
                Event::SearchResults {
                    query: text.as_str().to_owned(),
                    messages,
                }
            }
            Answer::Resumed => Event::Resumed { messages, more },
        }
    }
}
