//! What a run found, as a table for people and JSON for scripts.

use std::fmt::Write;

use serde::Serialize;

use crate::setup::Logins;
use crate::stats::{Histogram, Windows};

#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: &'static str,
    pub proto: &'static str,
    pub addr: String,
    pub run: u64,
    /// The workload's own settings.
    pub params: serde_json::Value,
    /// Connecting and logging in the clients (and joining their rooms).
    pub logins: Option<Logins>,
    /// Traffic workloads: one row per phase (a ramp's steps).
    pub phases: Vec<Phase>,
    /// A ramp: the index in `phases` of the highest rate held.
    pub best: Option<usize>,
    pub idle: Option<Idle>,
    pub storm: Option<Storm>,
    /// Connections the server closed during the run, and why (the first few).
    pub disconnects: u64,
    pub errors: Vec<String>,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Nanoseconds as milliseconds, as every figure of a report gives them.
fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl Latency {
    pub fn of(h: &Histogram) -> Latency {
        Latency {
            samples: h.count(),
            p50_ms: ms(h.quantile(0.5)),
            p99_ms: ms(h.quantile(0.99)),
            p999_ms: ms(h.quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Where a phase's latency tail fell in time, from the slowest delivery
/// of the messages sent in each 100 ms: a tail made in a few stalls (a
/// checkpoint, a slow sync) shows as a few slow windows, often evenly
/// spaced; a tail spread over the run, as many.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tail {
    /// 100 ms windows of send time in which something was delivered.
    pub windows: usize,
    /// Those whose slowest delivery took longer than the phase's p99.
    pub over_p99: usize,
    /// The slowest windows, in time order.
    pub slowest: Vec<SlowWindow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlowWindow {
    /// The window's start, seconds after the phase's.
    pub at_s: f64,
    /// Its slowest delivery.
    pub max_ms: f64,
}

/// Slow windows listed per phase.
const SLOWEST: usize = 8;

impl Tail {
    pub fn of(w: &Windows, latency: &Histogram) -> Tail {
        Tail {
            windows: w.count(),
            over_p99: w.over(latency.quantile(0.99)),
            slowest: w
                .slowest(SLOWEST)
                .into_iter()
                .map(|(at, max)| SlowWindow {
                    at_s: at as f64 / 1e9,
                    max_ms: ms(max),
                })
                .collect(),
        }
    }

    /// One line for the human table.
    fn line(&self, phase: u64) -> String {
        let slowest: Vec<String> = self
            .slowest
            .iter()
            .map(|w| format!("{:.1} s ({:.1} ms)", w.at_s, w.max_ms))
            .collect();
        format!(
            "phase {phase}: p99 passed in {} of {} windows of 100 ms; slowest at {}",
            self.over_p99,
            self.windows,
            slowest.join(", ")
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: u64,
    /// Messages per second asked of all senders together.
    pub target_rate: f64,
    /// Seconds the senders sent for.
    pub seconds: f64,
    pub sent: u64,
    pub sent_per_sec: f64,
    /// Deliveries expected: each message times the members who should get it.
    pub expected: u64,
    /// Distinct deliveries that came.
    pub delivered: u64,
    pub deliveries_per_sec: f64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Benchmark messages of an earlier run or phase that came meanwhile.
    pub stale: u64,
    pub latency: Latency,
    pub tail: Tail,
    /// The server's CPU use while sending and draining, in cores.
    pub server_cpu: Option<f64>,
    /// A ramp's verdict: sent at the rate asked, nothing lost, p99 within bound.
    pub held: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub connections: usize,
    pub rss_before: Option<u64>,
    pub rss_after: Option<u64>,
    /// (after − before) / connections, in bytes.
    pub rss_per_connection: Option<f64>,
    pub held_secs: f64,
    /// Connections still open at the end of the hold.
    pub still_open: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Storm {
    pub clients: usize,
    pub room: String,
    /// From the first JOIN sent to the last client's own join completed.
    pub all_joined_secs: Option<f64>,
    /// Until every client had seen every later client's join.
    pub settled_secs: Option<f64>,
    /// Each client's JOIN to its completion.
    pub join_latency: Latency,
    /// Join announcements expected (M(M−1)/2) and seen.
    pub announcements_expected: u64,
    pub announcements_seen: u64,
    pub announcements_per_sec: f64,
    pub server_cpu: Option<f64>,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// Thousands with a comma, rates as integers.
fn big(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report {
    /// The human table.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "confab-bench {} over {} against {} (run {})",
            self.workload, self.proto, self.addr, self.run
        );
        let _ = writeln!(o, "settings: {}", self.params);
        if let Some(l) = &self.logins {
            let _ = writeln!(
                o,
                "logins: {} clients in {:.2} s ({} /s)",
                l.clients,
                l.seconds,
                big(l.per_sec)
            );
        }
        if !self.phases.is_empty() {
            let _ = writeln!(
                o,
                "{:>5} {:>10} {:>10} {:>12} {:>12} {:>6} {:>5} {:>5} {:>9} {:>9} {:>9} {:>9} {:>5} {:>5}",
                "phase",
                "target/s",
                "sent/s",
                "delivered",
                "deliv/s",
                "lost",
                "dup",
                "ooo",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "max ms",
                "cpu",
                "held"
            );
            for p in &self.phases {
                let _ = writeln!(
                    o,
                    "{:>5} {:>10} {:>10} {:>12} {:>12} {:>6} {:>5} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>5} {:>5}",
                    p.phase,
                    big(p.target_rate),
                    big(p.sent_per_sec),
                    big(p.delivered as f64),
                    big(p.deliveries_per_sec),
                    p.lost,
                    p.duplicates,
                    p.out_of_order,
                    p.latency.p50_ms,
                    p.latency.p99_ms,
                    p.latency.p999_ms,
                    p.latency.max_ms,
                    opt(p.server_cpu, 2),
                    p.held.map_or("-", |h| if h { "yes" } else { "no" }),
                );
            }
        }
        // Where the tail fell: for the one phase, or a ramp's best step.
        let shown = match self.phases.len() {
            1 => Some(0),
            _ => self.best,
        };
        if let Some(p) = shown.and_then(|i| self.phases.get(i))
            && !p.tail.slowest.is_empty()
        {
            let _ = writeln!(o, "{}", p.tail.line(p.phase));
        }
        if let Some(i) = self.best.and_then(|b| self.phases.get(b)) {
            let _ = writeln!(
                o,
                "highest rate held: {} msgs/s, {} deliveries/s (p99 {:.3} ms)",
                big(i.sent_per_sec),
                big(i.deliveries_per_sec),
                i.latency.p99_ms
            );
        } else if self.params.get("ramp") == Some(&serde_json::Value::Bool(true)) {
            let _ = writeln!(o, "highest rate held: none (even the first step failed)");
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                o,
                "idle: {} connections held {:.1} s ({} still open); server RSS {} -> {} bytes; {} bytes per connection",
                i.connections,
                i.held_secs,
                i.still_open,
                i.rss_before.map_or("-".into(), |v| big(v as f64)),
                i.rss_after.map_or("-".into(), |v| big(v as f64)),
                opt(i.rss_per_connection, 0),
            );
        }
        if let Some(s) = &self.storm {
            let _ = writeln!(
                o,
                "storm: {} clients join {}: all joined in {} s, settled in {} s; join p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} of {} announcements ({} /s); server cpu {}",
                s.clients,
                s.room,
                opt(s.all_joined_secs, 3),
                opt(s.settled_secs, 3),
                s.join_latency.p50_ms,
                s.join_latency.p99_ms,
                s.join_latency.max_ms,
                big(s.announcements_seen as f64),
                big(s.announcements_expected as f64),
                big(s.announcements_per_sec),
                opt(s.server_cpu, 2),
            );
        }
        if self.disconnects > 0 {
            let _ = writeln!(o, "disconnected by the server: {}", self.disconnects);
        }
        for e in &self.errors {
            let _ = writeln!(o, "error: {e}");
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_have_commas() {
        assert_eq!(big(0.0), "0");
        assert_eq!(big(999.4), "999");
        assert_eq!(big(1000.0), "1,000");
        assert_eq!(big(1_712_345.0), "1,712,345");
    }
}
