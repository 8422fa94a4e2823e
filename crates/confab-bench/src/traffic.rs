//! The workloads that send messages: fan-out (one room, a ramp to the
//! highest rate held), rooms (many small rooms) and private messages
//! (pairs).
//!
//! They share one engine. Every client gets a reader task that finds the
//! benchmark text in what arrives (`payload`), and notes per sender the
//! sequence number (loss, duplicates, order) and the latency from the
//! send time the text carries. Senders send at a fixed rate, in batches
//! of what is due each time they wake. A run is a series of phases (one,
//! or a ramp's steps): each phase sends for a while, then drains until
//! every expected delivery came or nothing came for a second, then takes
//! every receiver's counts.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};

use crate::conn::{Reader, Writer};
use crate::payload::Payload;
use crate::procfs::CpuMeter;
use crate::proto::{Proto, Seen};
use crate::report::{Latency, Phase, Report, Tail};
use crate::setup::{Clock, Common, Logins, Run, connect_all, loopback_target};
use crate::stats::{RecvStats, Totals};

/// Highest message rate any one sender is asked for, per second.
const MAX_SENDER_RATE: f64 = 1_000_000.0;
/// Most messages one batch write holds.
const MAX_BATCH: u64 = 5_000;
/// A drain ends when nothing arrived for this long…
const QUIET: Duration = Duration::from_secs(1);
/// …and in any case after this long.
const DRAIN_CAP: Duration = Duration::from_secs(30);
/// Most phases a ramp runs.
const MAX_STEPS: usize = 30;
/// Errors kept for the report.
const MAX_ERRORS: usize = 5;

/// `fanout`: N clients in one room, S of them sending.
#[derive(Args, Debug, Clone, Serialize)]
pub struct FanoutOpts {
    /// Clients in the room.
    #[arg(long, default_value_t = 500)]
    pub clients: usize,
    /// Clients that send (the first S).
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Messages per second of all senders together: the ramp's first step,
    /// or the only rate with --no-ramp.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// The p99 latency a step must keep to count as held, in ms.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Seconds each step sends for.
    #[arg(long, default_value_t = 3.0)]
    pub step_secs: f64,
    /// Each held step multiplies the rate by this (until one fails; then
    /// the ramp bisects between the last held rate and the failed one).
    /// A step that fails on latency alone is run once more at its rate,
    /// and fails only if that one does too.
    #[arg(long, default_value_t = 1.6)]
    pub factor: f64,
    /// Send at --rate for --duration, no ramp.
    #[arg(long)]
    pub no_ramp: bool,
    /// The room (default: a fresh one per run).
    #[arg(long)]
    pub room: Option<String>,
}

/// `rooms`: C clients in R rooms, everyone sending to their room.
#[derive(Args, Debug, Clone, Serialize)]
pub struct RoomsOpts {
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    /// Messages per second each client sends.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
}

/// `pm`: P pairs of clients writing to each other.
#[derive(Args, Debug, Clone, Serialize)]
pub struct PmOpts {
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Messages per second each client sends to its partner.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
}

/// One sender: its client, where it sends, and how many should get each
/// of its messages.
struct Sender {
    client: usize,
    target: String,
    fanout: u64,
}

struct Shared {
    run: u64,
    clock: Clock,
    phase: AtomicU64,
    /// When the current phase started, on `clock`: receivers place each
    /// delivery in a window of its send time from there.
    phase_start_ns: AtomicU64,
    /// Distinct deliveries of the current phase, all receivers together.
    delivered: AtomicU64,
    disconnects: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn error(&self, e: String) {
        let mut errors = self.errors.lock().expect("errors lock");
        if errors.len() < MAX_ERRORS {
            errors.push(e);
        }
    }
}

struct Client {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    stats: Arc<Mutex<RecvStats>>,
    task: JoinHandle<()>,
}

struct Engine {
    common: Common,
    addr: String,
    run: Run,
    shared: Arc<Shared>,
    clients: Vec<Client>,
    senders: Vec<Sender>,
    logins: Logins,
}

impl Engine {
    /// Connects `rooms.len()` clients, client i joining `rooms[i]`.
    async fn start(
        common: &Common,
        run: Run,
        rooms: Vec<Option<String>>,
        senders: Vec<Sender>,
    ) -> anyhow::Result<Engine> {
        common.check()?;
        let target = loopback_target(&common.addr).await?;
        let (conns, logins) =
            connect_all(common, target, &run, rooms.len(), |i| rooms[i].clone()).await?;
        let shared = Arc::new(Shared {
            run: run.id,
            clock: Clock::start(),
            phase: AtomicU64::new(0),
            phase_start_ns: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
        });
        let clients = conns
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                let writer = Arc::new(tokio::sync::Mutex::new(conn.writer));
                let stats = Arc::new(Mutex::new(RecvStats::default()));
                let task = tokio::spawn(receive(
                    conn.reader,
                    writer.clone(),
                    conn.proto,
                    i as u64,
                    shared.clone(),
                    stats.clone(),
                ));
                Client {
                    writer,
                    stats,
                    task,
                }
            })
            .collect();
        Ok(Engine {
            common: common.clone(),
            addr: target.to_string(),
            run,
            shared,
            clients,
            senders,
            logins,
        })
    }

    /// Sends `total_rate` messages per second, spread evenly over the
    /// senders, for `secs`; drains; counts.
    async fn phase(&self, phase: u64, total_rate: f64, secs: Duration) -> Phase {
        let shared = &self.shared;
        shared.phase.store(phase, Relaxed);
        for c in &self.clients {
            *c.stats.lock().expect("stats lock") = RecvStats::default();
        }
        shared.delivered.store(0, Relaxed);
        let cpu = CpuMeter::start(self.common.server_pid);
        let n = self.senders.len().max(1);
        let rate = (total_rate / n as f64).min(MAX_SENDER_RATE);
        let started = Instant::now();
        // Before any message of the phase is sent (Release: a receiver
        // that sees one of them sees this).
        shared
            .phase_start_ns
            .store(shared.clock.ns(started), Release);
        let tasks: Vec<_> = self
            .senders
            .iter()
            .enumerate()
            .map(|(k, s)| {
                tokio::spawn(send(Send {
                    writer: self.clients[s.client].writer.clone(),
                    proto: self.common.proto,
                    target: s.target.clone(),
                    me: s.client as u64,
                    run: self.run.id,
                    phase,
                    rate,
                    // Spread the senders' first messages over one interval.
                    offset: k as f64 / n as f64 / rate,
                    start: started,
                    secs,
                    pad: self.common.pad,
                    clock: shared.clock,
                }))
            })
            .collect();
        let mut sent = 0;
        let mut expected = 0;
        for (t, s) in tasks.into_iter().zip(&self.senders) {
            let (count, err) = t.await.unwrap_or((0, Some("sender panicked".into())));
            if let Some(e) = err {
                shared.error(e);
            }
            sent += count;
            expected += count * s.fanout;
        }
        let seconds = started
            .elapsed()
            .as_secs_f64()
            .min(secs.as_secs_f64().max(1e-9));
        // Drain: until everything expected came, or nothing came for QUIET.
        let cap = Instant::now() + DRAIN_CAP;
        let mut last = shared.delivered.load(Relaxed);
        let mut last_change = Instant::now();
        loop {
            let now_delivered = shared.delivered.load(Relaxed);
            let now = Instant::now();
            if now_delivered >= expected || now >= cap {
                break;
            }
            if now_delivered != last {
                last = now_delivered;
                last_change = now;
            } else if now - last_change >= QUIET {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        let server_cpu = cpu.cores();
        let mut totals = Totals::default();
        for c in &self.clients {
            let s = std::mem::take(&mut *c.stats.lock().expect("stats lock"));
            totals.add(&s);
        }
        Phase {
            phase,
            target_rate: total_rate,
            seconds,
            sent,
            sent_per_sec: sent as f64 / seconds,
            expected,
            delivered: totals.unique,
            deliveries_per_sec: totals.unique as f64 / seconds,
            lost: expected.saturating_sub(totals.unique),
            duplicates: totals.duplicates,
            out_of_order: totals.out_of_order,
            stale: totals.stale,
            latency: Latency::of(&totals.latency),
            tail: Tail::of(&totals.windows, &totals.latency),
            server_cpu,
            held: None,
        }
    }

    /// Stops the readers and closes every connection.
    async fn finish(self, workload: &'static str, params: serde_json::Value) -> Report {
        for c in &self.clients {
            c.task.abort();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &self.clients {
            if let Ok(mut w) = timeout_at(deadline, c.writer.lock()).await {
                w.close(Duration::from_millis(50)).await;
            }
        }
        let errors = self.shared.errors.lock().expect("errors lock").clone();
        Report {
            workload,
            proto: self.common.proto.name(),
            addr: self.addr,
            run: self.run.id,
            params,
            logins: Some(self.logins),
            phases: Vec::new(),
            best: None,
            idle: None,
            storm: None,
            disconnects: self.shared.disconnects.load(Relaxed),
            errors,
        }
    }
}

/// A client's reader: counts benchmark messages, answers IRC pings.
async fn receive(
    mut reader: Reader,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    proto: Proto,
    me: u64,
    shared: Arc<Shared>,
    stats: Arc<Mutex<RecvStats>>,
) {
    // (sender, sequence number, send time in the phase, latency)
    let mut got: Vec<(u64, u64, u64, u64)> = Vec::new();
    let mut pongs: Vec<String> = Vec::new();
    loop {
        got.clear();
        let (mut stale, mut echoes) = (0, 0);
        let run = shared.run;
        let clock = shared.clock;
        let read = reader
            .read_some(|line, at| {
                if let Some(p) = Payload::find(line) {
                    if p.run != run || p.phase != shared.phase.load(Relaxed) {
                        stale += 1;
                    } else if p.sender == me {
                        echoes += 1;
                    } else {
                        let sent = p.ns.saturating_sub(shared.phase_start_ns.load(Acquire));
                        got.push((p.sender, p.seq, sent, clock.ns(at).saturating_sub(p.ns)));
                    }
                } else if proto == Proto::Irc
                    && line.starts_with(b"PING")
                    && let Seen::Ping(pong) = proto.classify(&String::from_utf8_lossy(line))
                {
                    pongs.push(pong);
                }
            })
            .await;
        if !got.is_empty() || stale + echoes > 0 {
            let mut fresh = 0;
            {
                let mut s = stats.lock().expect("stats lock");
                for &(sender, seq, sent, latency) in &got {
                    if s.note(sender, seq, sent, latency) {
                        fresh += 1;
                    }
                }
                s.stale += stale;
                s.echoes += echoes;
            }
            shared.delivered.fetch_add(fresh, Relaxed);
        }
        if !pongs.is_empty() || reader.has_pings() {
            let _ = writer.lock().await.answer(&pongs, &mut reader).await;
            pongs.clear();
        }
        match read {
            Ok(true) => {}
            Ok(false) => {
                shared.disconnects.fetch_add(1, Relaxed);
                shared.error(format!("client {me}: the server closed the connection"));
                return;
            }
            Err(e) => {
                shared.disconnects.fetch_add(1, Relaxed);
                shared.error(format!("client {me}: {e:#}"));
                return;
            }
        }
    }
}

struct Send {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    proto: Proto,
    target: String,
    me: u64,
    run: u64,
    phase: u64,
    rate: f64,
    offset: f64,
    start: Instant,
    secs: Duration,
    pad: usize,
    clock: Clock,
}

/// Sends at `rate` until `start + secs`: each wake-up sends every message
/// due by then in one write. Returns how many it sent, and why it
/// stopped early if it did.
async fn send(s: Send) -> (u64, Option<String>) {
    if s.rate <= 0.0 {
        return (0, None);
    }
    let start = s.start + Duration::from_secs_f64(s.offset);
    let end = s.start + s.secs;
    // Every message this phase may send, however late the sender wakes.
    let cap = (s.secs.as_secs_f64() * s.rate).ceil() as u64 + 1;
    let mut seq = 0u64;
    let mut lines = String::new();
    let mut frames: Vec<String> = Vec::new();
    let mut text = String::new();
    sleep_until(start).await;
    loop {
        let now = Instant::now();
        if now >= end || seq >= cap {
            break;
        }
        let due = (((now - start).as_secs_f64() * s.rate) as u64 + 1).min(cap);
        if due > seq {
            let upto = due.min(seq + MAX_BATCH);
            lines.clear();
            frames.clear();
            let ns = s.clock.now_ns();
            for q in seq..upto {
                text.clear();
                Payload {
                    run: s.run,
                    phase: s.phase,
                    sender: s.me,
                    seq: q,
                    ns,
                }
                .write(s.pad, &mut text);
                if s.proto == Proto::Ws {
                    let mut f = String::new();
                    s.proto.say(&s.target, &text, &mut f);
                    frames.push(f);
                } else {
                    s.proto.say(&s.target, &text, &mut lines);
                }
            }
            let write = async {
                let mut w = s.writer.lock().await;
                w.send_batch(&lines, &frames).await
            };
            match timeout_at(end + Duration::from_secs(5), write).await {
                Ok(Ok(())) => seq = upto,
                Ok(Err(e)) => return (seq, Some(format!("sender {}: {e:#}", s.me))),
                Err(_) => {
                    return (
                        seq,
                        Some(format!(
                            "sender {}: a write blocked past the deadline",
                            s.me
                        )),
                    );
                }
            }
        }
        let next = start + Duration::from_secs_f64(seq as f64 / s.rate);
        if next >= end {
            break;
        }
        sleep_until(next).await;
    }
    (seq, None)
}

fn check_rate(rate: f64) -> anyhow::Result<()> {
    if !(rate > 0.0 && rate <= 1e8) {
        anyhow::bail!("rates must be over 0 and at most 100,000,000 per second");
    }
    Ok(())
}

/// `fanout`: N clients in one room, S senders; a ramp to the highest rate
/// held with p99 within the bound, or one rate with --no-ramp.
pub async fn fanout(common: &Common, o: &FanoutOpts) -> anyhow::Result<Report> {
    check_rate(o.rate)?;
    if o.clients < 2 || o.senders == 0 || o.senders > o.clients {
        anyhow::bail!("fanout needs at least 2 clients and 1 to --clients senders");
    }
    let positive = |v: f64| v > 0.0;
    if !(o.factor > 1.0 && o.factor <= 10.0 && positive(o.step_secs) && positive(o.p99_ms)) {
        anyhow::bail!("--factor must be over 1 (at most 10); --step-secs and --p99-ms over 0");
    }
    let budget = common.duration(30.0)?;
    let run = Run::new();
    let room = o.room.clone().unwrap_or_else(|| run.room(0));
    let rooms = vec![Some(room.clone()); o.clients];
    let senders = (0..o.senders)
        .map(|i| Sender {
            client: i,
            target: room.clone(),
            fanout: o.clients as u64 - 1,
        })
        .collect();
    let engine = Engine::start(common, run, rooms, senders).await?;
    let began = Instant::now();
    let mut phases = Vec::new();
    if o.no_ramp {
        phases.push(engine.phase(0, o.rate, budget).await);
    } else {
        let step = Duration::from_secs_f64(o.step_secs);
        let mut rate = o.rate;
        let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
        // The rate whose step failed on latency alone, once: one spike of
        // a shared machine should not send the search down.
        let mut again: Option<f64> = None;
        for k in 0..MAX_STEPS {
            if began.elapsed() + step > budget {
                break;
            }
            let mut p = engine.phase(k as u64, rate, step).await;
            let delivered = p.lost == 0 && p.duplicates == 0 && p.sent_per_sec >= 0.95 * rate;
            let held = delivered && p.latency.p99_ms <= o.p99_ms;
            p.held = Some(held);
            phases.push(p);
            if !held && delivered && again != Some(rate) {
                again = Some(rate);
                continue;
            }
            if held {
                good = Some(good.map_or(rate, |g: f64| g.max(rate)));
            } else {
                bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
            }
            rate = match (good, bad) {
                (Some(g), Some(b)) if b / g < 1.05 => break,
                (Some(g), Some(b)) => (g + b) / 2.0,
                (Some(g), None) => g * o.factor,
                (None, Some(b)) => b / (o.factor * o.factor),
                (None, None) => unreachable!("a step was run"),
            };
            if !(1.0..=1e8).contains(&rate) {
                break;
            }
        }
    }
    let best = phases
        .iter()
        .enumerate()
        .filter(|(_, p)| p.held == Some(true))
        .max_by(|a, b| a.1.deliveries_per_sec.total_cmp(&b.1.deliveries_per_sec))
        .map(|(i, _)| i);
    let params = json!({
        "clients": o.clients, "senders": o.senders, "room": room,
        "ramp": !o.no_ramp, "first_rate": o.rate, "p99_bound_ms": o.p99_ms,
        "step_secs": o.step_secs, "factor": o.factor,
        "budget_secs": budget.as_secs_f64(), "sources": common.sources, "pad": common.pad,
    });
    let mut report = engine.finish("fanout", params).await;
    report.phases = phases;
    report.best = best;
    Ok(report)
}

/// `rooms`: C clients in R rooms (client i in room i mod R), each sending
/// to its room at a rate.
pub async fn rooms(common: &Common, o: &RoomsOpts) -> anyhow::Result<Report> {
    check_rate(o.rate)?;
    if o.rooms == 0 || o.clients < 2 * o.rooms {
        anyhow::bail!("rooms needs at least one room and two clients per room");
    }
    let secs = common.duration(10.0)?;
    let run = Run::new();
    let size = |j: usize| (o.clients - j).div_ceil(o.rooms);
    let rooms = (0..o.clients)
        .map(|i| Some(run.room(i % o.rooms)))
        .collect();
    let senders = (0..o.clients)
        .map(|i| Sender {
            client: i,
            target: run.room(i % o.rooms),
            fanout: size(i % o.rooms) as u64 - 1,
        })
        .collect();
    let engine = Engine::start(common, run, rooms, senders).await?;
    let phase = engine.phase(0, o.rate * o.clients as f64, secs).await;
    let params = json!({
        "clients": o.clients, "rooms": o.rooms, "rate_per_client": o.rate,
        "secs": secs.as_secs_f64(), "sources": common.sources, "pad": common.pad,
    });
    let mut report = engine.finish("rooms", params).await;
    report.phases = vec![phase];
    Ok(report)
}

/// `pm`: P pairs (clients 2k and 2k+1) sending each other private messages.
pub async fn pm(common: &Common, o: &PmOpts) -> anyhow::Result<Report> {
    check_rate(o.rate)?;
    if o.pairs == 0 {
        anyhow::bail!("pm needs at least one pair");
    }
    let secs = common.duration(10.0)?;
    let run = Run::new();
    let n = 2 * o.pairs;
    let senders = (0..n)
        .map(|i| Sender {
            client: i,
            target: run.nick(i ^ 1),
            fanout: 1,
        })
        .collect();
    let engine = Engine::start(common, run, vec![None; n], senders).await?;
    let phase = engine.phase(0, o.rate * n as f64, secs).await;
    let params = json!({
        "pairs": o.pairs, "rate_per_client": o.rate,
        "secs": secs.as_secs_f64(), "sources": common.sources, "pad": common.pad,
    });
    let mut report = engine.finish("pm", params).await;
    report.phases = vec![phase];
    Ok(report)
}
