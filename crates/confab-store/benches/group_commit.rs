//! Group commit: messages per second when every message is its own
//! `commit` versus batches of 64 and 256, with `synchronous` FULL and
//! NORMAL, on a real file in a temporary directory.
//!
//! `cargo bench -p confab-store --bench group_commit`
//!
//! Each case inserts up to 20 000 messages into a fresh database, but stops
//! after a few seconds (one fsync per message is slow on some disks), so
//! the whole run stays under a minute. Each case runs twice and the faster
//! run counts, to damp noise from whatever else the machine is doing.

use std::time::{Duration, Instant};

use confab_core::store::{Op, Store};
use confab_core::{Message, MsgId, MsgKind, Nick, RoomName, Target, Text, Timestamp};
use confab_store::{SqliteOptions, SqliteStore, Synchronous};

const MESSAGES: u64 = 20_000;
const TIME_BUDGET: Duration = Duration::from_secs(4);
const RUNS: usize = 2;

fn message(id: u64, nicks: &[Nick], rooms: &[RoomName]) -> Message {
    let i = id as usize;
    let to = if i.is_multiple_of(10) {
        Target::User(nicks[(i / 10) % nicks.len()].clone())
    } else {
        Target::Room(rooms[i % rooms.len()].clone())
    };
    Message {
        id: MsgId(id),
        time: Timestamp(1_700_000_000_000 + id as i64),
        from: nicks[i % nicks.len()].clone(),
        to,
        kind: MsgKind::Say,
        text: Text::parse(
            &format!("message number {id}: the quick brown fox jumps over the lazy dog"),
            512,
        )
        .unwrap(),
        tags: confab_core::ClientTags::default(),
    }
}

struct Outcome {
    messages: u64,
    commits: u64,
    elapsed: Duration,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }
}

fn run(sync: Synchronous, batch: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(
        &dir.path().join("bench.db"),
        SqliteOptions { synchronous: sync },
    )
    .unwrap();
    let nicks: Vec<_> = (0..50)
        .map(|i| Nick::parse(&format!("user{i}"), 32).unwrap())
        .collect();
    let rooms: Vec<_> = (0..10)
        .map(|i| RoomName::parse(&format!("#room{i}"), 32).unwrap())
        .collect();
    // Built up front: measure the store, not the building of messages.
    let ops: Vec<Op> = (1..=MESSAGES)
        .map(|id| Op::Message(message(id, &nicks, &rooms)))
        .collect();
    let mut commits = 0;
    let mut messages = 0;
    let start = Instant::now();
    for chunk in ops.chunks(batch) {
        store.commit(chunk).unwrap();
        commits += 1;
        messages += chunk.len() as u64;
        if start.elapsed() > TIME_BUDGET {
            break;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(store.load().unwrap().next_msg_id, messages + 1);
    Outcome {
        messages,
        commits,
        elapsed,
    }
}

fn main() {
    println!(
        "{:<8} {:>6} {:>9} {:>8} {:>9} {:>12} {:>11}",
        "sync", "batch", "messages", "commits", "seconds", "messages/s", "commits/s"
    );
    for sync in [Synchronous::Full, Synchronous::Normal] {
        for batch in [1, 64, 256] {
            let o = (0..RUNS)
                .map(|_| run(sync, batch))
                .max_by(|a, b| a.rate().total_cmp(&b.rate()))
                .unwrap();
            let secs = o.elapsed.as_secs_f64();
            println!(
                "{:<8} {:>6} {:>9} {:>8} {:>9.2} {:>12.0} {:>11.0}",
                format!("{sync:?}"),
                batch,
                o.messages,
                o.commits,
                secs,
                o.rate(),
                o.commits as f64 / secs,
            );
        }
    }
}
