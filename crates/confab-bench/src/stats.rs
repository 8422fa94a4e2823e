//! What receivers count: a latency histogram with log buckets, and per
//! sender the order of sequence numbers (loss, duplicates, reordering).
//!
//! The histogram keeps the top 7 bits of each value (under 1% error),
//! 3,000-odd `u32` counters whatever the number of samples, so a run with
//! millions of deliveries stays small and histograms of many receivers
//! merge by adding counters.
//!
//! Beside it, [`Windows`]: the slowest delivery of the messages sent in
//! each 100 ms of a phase, which tells a tail spread over the whole run
//! from one made in a few stalls (a checkpoint, a slow disk sync).

use std::collections::{HashMap, HashSet};

/// Bits of each value kept exactly; the rest is rounded away.
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const HALF: usize = SUB / 2;
/// Enough buckets for any `u64`.
const BUCKETS: usize = (64 - SUB_BITS as usize + 2) * HALF;

/// A histogram of latencies in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
    max: u64,
}

fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = e + 1 - SUB_BITS; // >= 1
    let m = (v >> shift) as usize; // in [HALF, SUB)
    shift as usize * HALF + m
}

/// The smallest value that falls in bucket `i`, and the bucket's width.
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let shift = (i / HALF - 1) as u32;
    let m = (i % HALF + HALF) as u64;
    (m << shift, 1 << shift)
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        if self.counts.is_empty() {
            // Taken on the first sample: idle receivers hold nothing.
            self.counts = vec![0; BUCKETS];
        }
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), the middle of its bucket; 0 for
    /// an empty histogram.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let (low, width) = bounds(i);
                return (low + width / 2).min(self.max);
            }
        }
        self.max
    }
}

/// Missing sequence numbers remembered per sender and receiver, at most.
const MISSING_CAP: usize = 100_000;

/// The sequence numbers one receiver saw from one sender.
#[derive(Default, Debug, Clone)]
pub struct SeqTrack {
    /// One past the highest number seen.
    next: u64,
    /// Numbers below `next` not seen yet (skipped over).
    missing: HashSet<u64>,
    /// Skipped numbers not remembered (past `MISSING_CAP`).
    forgotten: u64,
    pub unique: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
}

impl SeqTrack {
    /// Notes `seq`; true when it is the first time.
    pub fn note(&mut self, seq: u64) -> bool {
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            for s in self.next..seq {
                if self.missing.len() < MISSING_CAP {
                    self.missing.insert(s);
                } else {
                    self.forgotten += 1;
                }
            }
            self.next = seq + 1;
        } else if self.missing.remove(&seq) {
            self.out_of_order += 1;
        } else {
            self.duplicates += 1;
            return false;
        }
        self.unique += 1;
        true
    }
}

/// The length of a [`Windows`] window, in nanoseconds of send time.
const WINDOW_NS: u64 = 100_000_000;
/// Windows kept at most: a whole run ([`crate::setup::MAX_DURATION_SECS`]);
/// a message sent later counts in the last.
const MAX_WINDOWS: usize =
    (crate::setup::MAX_DURATION_SECS as u64 * 1_000_000_000 / WINDOW_NS) as usize;

/// Per window of send time (100 ms from the phase's start), the slowest
/// delivery of a message sent in it, in microseconds (4 bytes a window:
/// every receiver keeps its own, up to 24 KB in the longest run).
#[derive(Clone, Debug, Default)]
pub struct Windows {
    max: Vec<u32>,
}

impl Windows {
    /// Notes a delivery of a message sent `sent_ns` after the phase
    /// started that took `latency_ns`.
    pub fn record(&mut self, sent_ns: u64, latency_ns: u64) {
        let i = usize::try_from(sent_ns / WINDOW_NS)
            .unwrap_or(usize::MAX)
            .min(MAX_WINDOWS - 1);
        if self.max.len() <= i {
            self.max.resize(i + 1, 0);
        }
        // At least 1 µs: a window with a delivery is never 0.
        let us = u32::try_from(latency_ns / 1_000).unwrap_or(u32::MAX).max(1);
        self.max[i] = self.max[i].max(us);
    }

    pub fn merge(&mut self, other: &Windows) {
        if self.max.len() < other.max.len() {
            self.max.resize(other.max.len(), 0);
        }
        for (a, b) in self.max.iter_mut().zip(&other.max) {
            *a = (*a).max(*b);
        }
    }

    /// Windows in which some message was delivered.
    pub fn count(&self) -> usize {
        self.max.iter().filter(|&&m| m > 0).count()
    }

    /// Windows whose slowest delivery took longer than `ns`.
    pub fn over(&self, ns: u64) -> usize {
        self.max
            .iter()
            .filter(|&&m| u64::from(m) * 1_000 > ns)
            .count()
    }

    /// The `n` windows with the slowest deliveries, in time order: (the
    /// window's start in ns since the phase's, its slowest delivery in
    /// ns, to the µs).
    pub fn slowest(&self, n: usize) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = (0u64..)
            .zip(self.max.iter().copied())
            .filter(|&(_, m)| m > 0)
            .map(|(i, m)| (i * WINDOW_NS, u64::from(m) * 1_000))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all.sort_unstable();
        all
    }
}

/// Everything one receiver counted during a phase.
#[derive(Default, Debug)]
pub struct RecvStats {
    pub latency: Histogram,
    pub windows: Windows,
    pub senders: HashMap<u64, SeqTrack>,
    /// Benchmark messages of another run or phase (history, stragglers).
    pub stale: u64,
    /// The receiver's own messages echoed back (line, WebSocket).
    pub echoes: u64,
}

impl RecvStats {
    /// Notes one delivery of a message sent `sent_ns` after the phase
    /// started; true when it is new.
    pub fn note(&mut self, sender: u64, seq: u64, sent_ns: u64, latency_ns: u64) -> bool {
        let fresh = self.senders.entry(sender).or_default().note(seq);
        if fresh {
            self.latency.record(latency_ns);
            self.windows.record(sent_ns, latency_ns);
        }
        fresh
    }
}

/// The sums over receivers.
#[derive(Default, Debug)]
pub struct Totals {
    pub latency: Histogram,
    pub windows: Windows,
    pub unique: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub stale: u64,
}

impl Totals {
    pub fn add(&mut self, r: &RecvStats) {
        self.latency.merge(&r.latency);
        self.windows.merge(&r.windows);
        for t in r.senders.values() {
            self.unique += t.unique;
            self.duplicates += t.duplicates;
            self.out_of_order += t.out_of_order;
        }
        self.stale += r.stale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let (low, width) = bounds(i);
            assert!(
                low <= v && v - low < width,
                "{v} in bucket {i} = {low}+{width}"
            );
            assert!(width * 64 <= low.max(64), "{v}: bucket too wide");
            if v < 5000 {
                assert!(i == prev || i == prev + 1 || v == 0);
                prev = i;
            }
        }
    }

    #[test]
    fn quantiles_are_within_a_percent() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 5_000_000f64),
            (0.99, 9_900_000.0),
            (1.0, 10_000_000.0),
        ] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.count(), 10_000);
        assert_eq!(h.max(), 10_000_000);
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.count(), 20_000);
        assert_eq!(m.quantile(0.5), h.quantile(0.5));
        assert_eq!(Histogram::default().quantile(0.99), 0);
    }

    #[test]
    fn sequences_tell_loss_duplicates_and_reordering() {
        let mut t = SeqTrack::default();
        for s in [0, 1, 2, 4, 5, 3, 5, 7] {
            t.note(s);
        }
        assert_eq!(t.unique, 7); // 6 is lost
        assert_eq!(t.duplicates, 1); // the second 5
        assert_eq!(t.out_of_order, 1); // 3
    }

    #[test]
    fn windows_keep_each_100_ms_slowest_delivery() {
        const MS: u64 = 1_000_000;
        let mut a = Windows::default();
        a.record(5 * MS, 2 * MS);
        a.record(50 * MS, 3 * MS); // the same window: its slowest kept
        a.record(250 * MS, 40 * MS);
        let mut b = Windows::default();
        b.record(120 * MS, MS);
        b.record(260 * MS, 7 * MS);
        b.record(900 * MS, 12 * MS);
        a.merge(&b);
        assert_eq!(a.count(), 4, "windows 0, 1, 2 and 9; 3 to 8 saw nothing");
        assert_eq!(a.over(2 * MS), 3);
        assert_eq!(a.over(40 * MS), 0);
        // The three slowest, in time order.
        assert_eq!(
            a.slowest(3),
            vec![(0, 3 * MS), (200 * MS, 40 * MS), (900 * MS, 12 * MS)]
        );
        assert_eq!(a.slowest(10).len(), 4);
        // A message sent long after the start counts in the last window kept.
        let mut late = Windows::default();
        late.record(u64::MAX, MS);
        assert_eq!(
            late.slowest(1),
            vec![((MAX_WINDOWS as u64 - 1) * WINDOW_NS, MS)]
        );
        assert_eq!(MAX_WINDOWS, 6_000);
        // Kept to the µs; a delivery under one still marks its window.
        let mut fine = Windows::default();
        fine.record(0, 1_234_567);
        fine.record(WINDOW_NS, 10);
        assert_eq!(fine.slowest(2), vec![(0, 1_234_000), (WINDOW_NS, 1_000)]);
        assert!(Windows::default().slowest(5).is_empty());
    }
}
