//! What every workload shares: the common options, the loopback-only
//! target, the run's clock and names, and connecting many clients with a
//! bounded number of logins in flight.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::conn::{Conn, source_for};
use crate::proto::Proto;

/// The longest any workload may run (`--duration` is refused above it).
pub const MAX_DURATION_SECS: f64 = 600.0;
/// The most clients one run opens.
pub const MAX_CLIENTS: usize = 200_000;
/// The most source addresses (127.0.0.1 … 127.0.3.232).
pub const MAX_SOURCES: usize = 1000;

/// Options every workload takes.
#[derive(Args, Debug, Clone, Serialize)]
pub struct Common {
    /// The protocol the clients speak.
    #[arg(long, value_enum, default_value = "irc")]
    pub proto: Proto,
    /// The server under test: a loopback address (a name must resolve to
    /// loopback only).
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub addr: String,
    /// Spread clients over this many source addresses 127.0.0.1,
    /// 127.0.0.2, … (IPv4 targets), to study per-address limits.
    #[arg(long, default_value_t = 1)]
    pub sources: usize,
    /// The server's process id: its RSS (VmRSS) and CPU time are read
    /// from /proc before and after.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// How long the workload runs, in seconds (at most 600): a ramp's
    /// whole budget, a steady workload's measurement, an idle hold, a
    /// storm's deadline.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Logins in flight at once while clients connect.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// Seconds one client may take to connect, log in and join.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,
    /// Bytes of padding in each message text.
    #[arg(long, default_value_t = 0)]
    pub pad: usize,
}

impl Common {
    /// `--duration`, or the workload's default; checked against the cap.
    pub fn duration(&self, default: f64) -> anyhow::Result<Duration> {
        let secs = self.duration.unwrap_or(default);
        if !(secs > 0.0 && secs <= MAX_DURATION_SECS) {
            bail!("--duration must be over 0 and at most {MAX_DURATION_SECS} seconds");
        }
        Ok(Duration::from_secs_f64(secs))
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.sources == 0 || self.sources > MAX_SOURCES {
            bail!("--sources must be 1 to {MAX_SOURCES}");
        }
        if self.connect_concurrency == 0 || self.connect_concurrency > 10_000 {
            bail!("--connect-concurrency must be 1 to 10000");
        }
        if !(self.connect_timeout > 0.0 && self.connect_timeout <= 300.0) {
            bail!("--connect-timeout must be over 0 and at most 300 seconds");
        }
        if self.pad > 400 {
            bail!("--pad must be at most 400 bytes (IRC lines are 512)");
        }
        Ok(())
    }
}

/// Resolves `addr` and refuses anything but loopback: this tool floods
/// whatever it is pointed at.
pub async fn loopback_target(addr: &str) -> anyhow::Result<SocketAddr> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("resolving {addr}"))?
        .collect();
    let Some(first) = all.first().copied() else {
        bail!("{addr} resolves to no address");
    };
    if let Some(bad) = all.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "refusing to load {addr}: it resolves to {bad}, which is not a loopback address \
             (confab-bench only runs against a server on this machine)"
        );
    }
    Ok(first)
}

/// The run's clock: nanoseconds since it started, shared by senders and
/// receivers of this process.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }

    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    pub fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

/// A run's identity: its random id, and the names of its clients and
/// rooms (short, so that they fit servers with NICKLEN=9).
#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    prefix: String,
}

impl Run {
    pub fn new() -> Run {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(Instant::now().elapsed().as_nanos());
        let id = h.finish() % 1_000_000_000;
        let letter = (b'a' + (id % 26) as u8) as char;
        let prefix = format!("{letter}{}", base36(id / 26 % 1296, 2));
        Run { id, prefix }
    }

    /// Client `i`'s nick: a letter, two characters of the run, `i` in base 36.
    pub fn nick(&self, i: usize) -> String {
        format!("{}{}", self.prefix, base36(i as u64, 1))
    }

    /// Room `j` of this run.
    pub fn room(&self, j: usize) -> String {
        format!("#cfb{}{}", self.prefix, base36(j as u64, 1))
    }
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

fn base36(mut v: u64, min: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while v > 0 || out.len() < min {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// How a batch of logins went.
#[derive(Debug, Clone, Serialize)]
pub struct Logins {
    pub clients: usize,
    pub seconds: f64,
    pub per_sec: f64,
}

/// Connects clients `0..n`, logging each in (and into `room_of(i)` if
/// that says so), at most `concurrency` at once. Fails on the first
/// client that cannot.
pub async fn connect_all(
    common: &Common,
    target: SocketAddr,
    run: &Run,
    n: usize,
    room_of: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<(Vec<Conn>, Logins)> {
    if n > MAX_CLIENTS {
        bail!("at most {MAX_CLIENTS} clients");
    }
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(common.connect_concurrency));
    let timeout = Duration::from_secs_f64(common.connect_timeout);
    let mut tasks = JoinSet::new();
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await?;
        let proto = common.proto;
        let nick = run.nick(i);
        let room = room_of(i);
        let source = source_for(target, i, common.sources);
        tasks.spawn(async move {
            let _permit = permit;
            let deadline = Instant::now() + timeout;
            let mut conn = Conn::login(proto, target, source, &nick, deadline).await?;
            if let Some(room) = room {
                conn.join(&room, deadline).await?;
            }
            anyhow::Ok((i, conn))
        });
        // Fail early rather than after thousands more tries (dropping the
        // set aborts the logins in flight).
        while let Some(done) = tasks.try_join_next() {
            let (i, c) = done??;
            conns[i] = Some(c);
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (i, c) = done??;
        conns[i] = Some(c);
    }
    let seconds = started.elapsed().as_secs_f64();
    let conns: Vec<Conn> = conns.into_iter().flatten().collect();
    Ok((
        conns,
        Logins {
            clients: n,
            seconds,
            per_sec: n as f64 / seconds.max(1e-9),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_valid() {
        let run = Run::new();
        for i in [0, 1, 35, 36, 99_999, 199_999] {
            let nick = run.nick(i);
            assert!(nick.len() <= 9, "{nick}");
            assert!(nick.as_bytes()[0].is_ascii_lowercase());
            assert!(nick.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert_ne!(run.nick(1), run.nick(36));
        assert!(run.room(3).starts_with("#cfb"));
    }

    #[tokio::test]
    async fn only_loopback_targets() {
        assert!(loopback_target("127.0.0.1:7777").await.is_ok());
        assert!(loopback_target("[::1]:7777").await.is_ok());
        let err = loopback_target("192.0.2.1:7777").await.unwrap_err();
        assert!(err.to_string().contains("not a loopback"), "{err}");
        assert!(loopback_target("10.0.0.1:6667").await.is_err());
    }
}
