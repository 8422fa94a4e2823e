//! [`TokenBucket`]: the per-session flood limit.

use crate::event::Timestamp;

/// A token bucket: `burst` commands at once, refilled at `per_sec`.
/// Time comes in as an argument, so it is deterministic to test.
#[derive(Debug, Clone)]
pub struct TokenBucket {
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

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Timestamp, per_sec: f64, burst: u32) -> bool {
        let elapsed = (now.0 - self.last.0).max(0) as f64 / 1000.0;
        self.last = now;
        self.tokens = (self.tokens + elapsed * per_sec).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Seconds until the next token, as of the last `take`.
    pub fn wait_secs(&self, per_sec: f64) -> f64 {
        (1.0 - self.tokens).max(0.0) / per_sec
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
}
