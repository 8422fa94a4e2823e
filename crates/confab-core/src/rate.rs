//! Flood control: [`TokenBucket`], and [`Flood`], the buckets of every
//! account and address that the doors pace their clients by.
//!
//! The rule is the same on every door: a client may send `burst` commands
//! at once and `per_sec` on average; over that, its door stops reading from
//! it until the bucket refills (IRC's "fake lag"), so nothing it sent is
//! dropped. Buckets are shared by key, not by connection: every session of
//! an account draws on the account's bucket, and every session of a guest
//! on its address's bucket, so opening more connections buys no more
//! rate. Only a client whose wait would pass `max_wait_ms` (many sessions
//! flooding on one key) is disconnected. A client that cannot be paced
//! (a REST call) is answered "retry after" instead.

use std::collections::HashMap;
use std::hash::Hash;

use crate::event::Timestamp;

/// A token bucket: `burst` commands at once, refilled at `per_sec`.
/// Time comes in as an argument, so it is deterministic to test.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Below zero when clients were paced: each waits for its own token.
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    pub fn full(burst: u32, now: Timestamp) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Timestamp, per_sec: f64, burst: u32) {
        let elapsed = (now.0 - self.last.0).max(0) as f64 / 1000.0;
        self.last = Timestamp(self.last.0.max(now.0));
        self.tokens = (self.tokens + elapsed * per_sec).min(f64::from(burst));
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Timestamp, per_sec: f64, burst: u32) -> bool {
        self.refill(now, per_sec, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token whether or not there is one (going into debt), and
    /// says how many milliseconds the taker must wait for it.
    pub fn charge(&mut self, now: Timestamp, per_sec: f64, burst: u32) -> u64 {
        self.refill(now, per_sec, burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            0
        } else {
            (-self.tokens / per_sec * 1000.0).ceil() as u64
        }
    }

    /// Seconds until the next token, as of the last `take`.
    pub fn wait_secs(&self, per_sec: f64) -> f64 {
        (1.0 - self.tokens).max(0.0) / per_sec
    }

    /// Whether the bucket has refilled completely by `now` (so it is the
    /// same as a new one and need not be kept).
    fn is_full(&self, now: Timestamp, per_sec: f64, burst: u32) -> bool {
        let elapsed = (now.0 - self.last.0).max(0) as f64 / 1000.0;
        self.tokens + elapsed * per_sec >= f64::from(burst)
    }
}

/// The flood limit's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodRule {
    /// Commands per second on average…
    pub per_sec: f64,
    /// …and in one burst.
    pub burst: u32,
    /// The longest a client is paced for one command; past it the client
    /// is disconnected ("Excess flood").
    pub max_wait_ms: u64,
}

/// What a door does with a client's next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Run it now.
    Go,
    /// Stop reading from the client for this many milliseconds, then run it.
    Wait(u64),
    /// The client's backlog is past the limit: disconnect it.
    Excess,
}

/// The token buckets of every key (account or address) that sent recently.
/// Buckets that have refilled are forgotten, so the table holds only keys
/// that are sending now.
#[derive(Debug)]
pub struct Flood<K> {
    rule: FloodRule,
    buckets: HashMap<K, TokenBucket>,
    /// Sweep refilled buckets when the table reaches this size.
    sweep_at: usize,
}

/// The table is swept of refilled buckets whenever it doubles.
const FIRST_SWEEP: usize = 1024;

impl<K: Hash + Eq + Clone> Flood<K> {
    pub fn new(rule: FloodRule) -> Flood<K> {
        Flood {
            rule,
            buckets: HashMap::new(),
            sweep_at: FIRST_SWEEP,
        }
    }

    pub fn rule(&self) -> FloodRule {
        self.rule
    }

    /// Charges `key` one command at `now`: how the door must pace it.
    /// A command that ends in [`Pace::Excess`] is not charged.
    pub fn pace(&mut self, key: &K, now: Timestamp) -> Pace {
        let FloodRule {
            per_sec,
            burst,
            max_wait_ms,
        } = self.rule;
        let bucket = self.bucket(key, now);
        let mut probe = bucket.clone();
        match probe.charge(now, per_sec, burst) {
            0 => {
                *bucket = probe;
                Pace::Go
            }
            ms if ms > max_wait_ms => Pace::Excess,
            ms => {
                *bucket = probe;
                Pace::Wait(ms)
            }
        }
    }

    /// Takes a token for `key` if there is one; otherwise the milliseconds
    /// until there is, and nothing is charged (for clients answered
    /// "retry later" rather than paced).
    pub fn check(&mut self, key: &K, now: Timestamp) -> Result<(), u64> {
        let FloodRule { per_sec, burst, .. } = self.rule;
        let bucket = self.bucket(key, now);
        if bucket.take(now, per_sec, burst) {
            Ok(())
        } else {
            Err((bucket.wait_secs(per_sec) * 1000.0).ceil().max(1.0) as u64)
        }
    }

    fn bucket(&mut self, key: &K, now: Timestamp) -> &mut TokenBucket {
        if self.buckets.len() >= self.sweep_at && !self.buckets.contains_key(key) {
            let FloodRule { per_sec, burst, .. } = self.rule;
            self.buckets.retain(|_, b| !b.is_full(now, per_sec, burst));
            self.sweep_at = (self.buckets.len() * 2).max(FIRST_SWEEP);
        }
        let burst = self.rule.burst;
        self.buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::full(burst, now))
    }

    /// Keys with a bucket now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let mut b = TokenBucket::full(3, Timestamp(0));
        let t = Timestamp(0);
        assert!(b.take(t, 2.0, 3));
        assert!(b.take(t, 2.0, 3));
        assert!(b.take(t, 2.0, 3));
        assert!(!b.take(t, 2.0, 3));
        // Half a second at 2/s refills one token.
        assert!(b.take(Timestamp(500), 2.0, 3));
        assert!(!b.take(Timestamp(500), 2.0, 3));
        // A long pause refills only up to the burst.
        for _ in 0..3 {
            assert!(b.take(Timestamp(60_000), 2.0, 3));
        }
        assert!(!b.take(Timestamp(60_000), 2.0, 3));
    }

    const RULE: FloodRule = FloodRule {
        per_sec: 2.0,
        burst: 3,
        max_wait_ms: 2_000,
    };

    #[test]
    fn a_burst_goes_at_once_and_the_rest_is_paced_not_dropped() {
        let mut f = Flood::new(RULE);
        let t = Timestamp(0);
        for _ in 0..3 {
            assert_eq!(f.pace(&"alice", t), Pace::Go);
        }
        // The fourth waits for its token: half a second at 2/s.
        assert_eq!(f.pace(&"alice", t), Pace::Wait(500));
        // The door waited; the next one waits its own half second.
        assert_eq!(f.pace(&"alice", Timestamp(500)), Pace::Wait(500));
        assert_eq!(f.pace(&"alice", Timestamp(1_000)), Pace::Wait(500));
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let mut f = Flood::new(RULE);
        let t = Timestamp(0);
        for _ in 0..3 {
            assert_eq!(f.pace(&"alice", t), Pace::Go);
        }
        assert_eq!(f.pace(&"bob", t), Pace::Go);
        assert_eq!(f.pace(&"alice", t), Pace::Wait(500));
    }

    #[test]
    fn sessions_sharing_a_key_share_the_rate_and_excess_disconnects() {
        let mut f = Flood::new(RULE);
        let t = Timestamp(0);
        for _ in 0..3 {
            assert_eq!(f.pace(&"10.0.0.1", t), Pace::Go);
        }
        // Four connections of one address each send one more at once:
        // each waits behind the others' tokens, up to the limit.
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Wait(500));
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Wait(1_000));
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Wait(1_500));
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Wait(2_000));
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Excess);
        // The refused one was not charged: the next waits the same.
        assert_eq!(f.pace(&"10.0.0.1", t), Pace::Excess);
        assert_eq!(f.pace(&"10.0.0.1", Timestamp(500)), Pace::Wait(2_000));
    }

    #[test]
    fn check_refuses_with_the_wait_and_charges_nothing() {
        let mut f = Flood::new(RULE);
        let t = Timestamp(0);
        for _ in 0..3 {
            assert_eq!(f.check(&"alice", t), Ok(()));
        }
        assert_eq!(f.check(&"alice", t), Err(500));
        assert_eq!(f.check(&"alice", Timestamp(250)), Err(250));
        assert_eq!(f.check(&"alice", Timestamp(500)), Ok(()));
    }

    #[test]
    fn refilled_buckets_are_forgotten_when_the_table_grows() {
        let mut f = Flood::new(RULE);
        for i in 0..FIRST_SWEEP {
            f.pace(&i, Timestamp(0));
        }
        assert_eq!(f.len(), FIRST_SWEEP);
        // Much later every bucket has refilled: a new key sweeps them.
        f.pace(&usize::MAX, Timestamp(10_000));
        assert_eq!(f.len(), 1);
    }
}
