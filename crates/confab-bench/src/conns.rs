//! The workloads about connections rather than messages: registrations
//! per second, idle connections and the server's memory per connection,
//! and a join storm into one large room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout_at};

use crate::conn::Conn;
use crate::procfs::{CpuMeter, rss_bytes};
use crate::proto::{Proto, Seen};
use crate::report::{Idle, Latency, Report, Storm};
use crate::setup::{Common, Logins, Run, connect_all, loopback_target};
use crate::stats::Histogram;

/// `register` and `idle`: K guest connections.
#[derive(Args, Debug, Clone, Serialize)]
pub struct ConnsOpts {
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
}

/// `storm`: M clients join one room at once.
#[derive(Args, Debug, Clone, Serialize)]
pub struct StormOpts {
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// The room (default: a fresh one per run).
    #[arg(long)]
    pub room: Option<String>,
}

fn report(
    workload: &'static str,
    common: &Common,
    addr: String,
    run: &Run,
    params: serde_json::Value,
    logins: Option<Logins>,
) -> Report {
    Report {
        workload,
        proto: common.proto.name(),
        addr,
        run: run.id,
        params,
        logins,
        phases: Vec::new(),
        best: None,
        idle: None,
        storm: None,
        disconnects: 0,
        errors: Vec::new(),
    }
}

/// `register`: how fast K guests connect and log in (at most
/// --connect-concurrency at once); then they leave.
pub async fn register(common: &Common, o: &ConnsOpts) -> anyhow::Result<Report> {
    common.check()?;
    let target = loopback_target(&common.addr).await?;
    let run = Run::new();
    let cpu = CpuMeter::start(common.server_pid);
    let (conns, logins) = connect_all(common, target, &run, o.clients, |_| None).await?;
    let server_cpu = cpu.cores();
    drop(conns);
    let params = json!({
        "clients": o.clients, "concurrency": common.connect_concurrency,
        "sources": common.sources, "server_cpu": server_cpu,
    });
    Ok(report(
        "register",
        common,
        target.to_string(),
        &run,
        params,
        Some(logins),
    ))
}

/// `idle`: K registered connections held for --duration; the server's RSS
/// before they connect and at the end, per connection.
pub async fn idle(common: &Common, o: &ConnsOpts) -> anyhow::Result<Report> {
    common.check()?;
    let hold = common.duration(5.0)?;
    let target = loopback_target(&common.addr).await?;
    let run = Run::new();
    let rss_before = common.server_pid.and_then(rss_bytes);
    let (conns, logins) = connect_all(common, target, &run, o.clients, |_| None).await?;
    // Hold them: each reader answers pings and notices a close.
    let open = Arc::new(AtomicUsize::new(conns.len()));
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::new();
    for conn in conns {
        let open = open.clone();
        let mut stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let Conn {
                proto,
                mut reader,
                mut writer,
                ..
            } = conn;
            loop {
                let mut pongs = Vec::new();
                let read = tokio::select! {
                    r = reader.read_some(|line, _| {
                        if proto == Proto::Irc && line.starts_with(b"PING")
                            && let Seen::Ping(p) = proto.classify(&String::from_utf8_lossy(line)) {
                                pongs.push(p);
                            }
                    }) => r,
                    _ = stop.changed() => break,
                };
                let _ = writer.answer(&pongs, &mut reader).await;
                if !matches!(read, Ok(true)) {
                    open.fetch_sub(1, Relaxed);
                    break;
                }
            }
            drop(writer);
        }));
    }
    sleep(hold).await;
    let rss_after = common.server_pid.and_then(rss_bytes);
    let still_open = open.load(Relaxed);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    for t in tasks {
        if timeout_at(deadline, t).await.is_err() {
            break;
        }
    }
    let per = match (rss_before, rss_after) {
        (Some(b), Some(a)) if logins.clients > 0 => {
            Some((a as f64 - b as f64) / logins.clients as f64)
        }
        _ => None,
    };
    let params = json!({
        "clients": o.clients, "hold_secs": hold.as_secs_f64(), "sources": common.sources,
    });
    let mut r = report(
        "idle",
        common,
        target.to_string(),
        &run,
        params,
        Some(logins.clone()),
    );
    r.idle = Some(Idle {
        connections: logins.clients,
        rss_before,
        rss_after,
        rss_per_connection: per,
        held_secs: hold.as_secs_f64(),
        still_open,
    });
    if still_open < logins.clients {
        r.disconnects = (logins.clients - still_open) as u64;
    }
    Ok(r)
}

/// `storm`: M logged-in clients join one room at the same moment. Each
/// notes when its own join completed and counts the joins of others it
/// sees; the storm has settled when every client saw every later one.
pub async fn storm(common: &Common, o: &StormOpts) -> anyhow::Result<Report> {
    common.check()?;
    if o.clients < 2 {
        anyhow::bail!("storm needs at least 2 clients");
    }
    let deadline_secs = common.duration(60.0)?;
    let target = loopback_target(&common.addr).await?;
    let run = Run::new();
    let room = o.room.clone().unwrap_or_else(|| run.room(0));
    let (conns, logins) = connect_all(common, target, &run, o.clients, |_| None).await?;
    let m = conns.len() as u64;
    let expected = m * (m - 1) / 2;
    let seen = Arc::new(AtomicU64::new(0));
    let joined = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hist = Arc::new(std::sync::Mutex::new(Histogram::default()));
    let (go_tx, go) = watch::channel(None::<Instant>);
    let mut tasks = Vec::new();
    for conn in conns {
        let (seen, joined, failures) = (seen.clone(), joined.clone(), failures.clone());
        let hist = hist.clone();
        let mut go = go.clone();
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let Conn {
                proto,
                nick,
                mut reader,
                mut writer,
            } = conn;
            let Ok(()) = go.changed().await else {
                return;
            };
            let sent = Instant::now();
            if let Err(e) = writer.send_each(&[proto.join(&room)]).await {
                failures
                    .lock()
                    .expect("lock")
                    .push(format!("{nick}: {e:#}"));
                return;
            }
            let mut done_once = false;
            loop {
                let mut pongs = Vec::new();
                let mut others = 0;
                let mut done = None;
                let mut refused = None;
                let read = reader
                    .read_some(|line, at| {
                        let text = String::from_utf8_lossy(line);
                        if let Some(who) = proto.join_of(&text) {
                            if !who.eq_ignore_ascii_case(&nick) {
                                others += 1;
                            }
                            return;
                        }
                        match proto.classify(&text) {
                            Seen::Joined if !done_once => done = Some(at),
                            Seen::Ping(p) => pongs.push(p),
                            Seen::Refused(why) => refused = Some(why),
                            _ => {}
                        }
                    })
                    .await;
                seen.fetch_add(others, Relaxed);
                if let Some(at) = done {
                    done_once = true;
                    let ns = (at - sent).as_nanos() as u64;
                    hist.lock().expect("lock").record(ns);
                    joined.fetch_add(1, Relaxed);
                }
                if let Some(why) = refused {
                    failures
                        .lock()
                        .expect("lock")
                        .push(format!("{nick}: {why}"));
                }
                let _ = writer.answer(&pongs, &mut reader).await;
                if !matches!(read, Ok(true)) {
                    return;
                }
            }
        }));
    }
    let cpu = CpuMeter::start(common.server_pid);
    let started = Instant::now();
    let deadline = started + deadline_secs;
    go_tx.send(Some(started))?;
    let (mut all_joined, mut settled) = (None, None);
    while Instant::now() < deadline {
        let now = Instant::now();
        if all_joined.is_none() && joined.load(Relaxed) >= m {
            all_joined = Some(now - started);
        }
        if seen.load(Relaxed) >= expected && all_joined.is_some() {
            settled = Some(now - started);
            break;
        }
        sleep(Duration::from_millis(2)).await;
    }
    let server_cpu = cpu.cores();
    let elapsed = settled.unwrap_or_else(|| started.elapsed());
    let seen_total = seen.load(Relaxed);
    for t in &tasks {
        t.abort();
    }
    let hist = std::mem::take(&mut *hist.lock().expect("lock"));
    let params = json!({ "clients": o.clients, "room": room, "deadline_secs": deadline_secs.as_secs_f64(), "sources": common.sources });
    let mut r = report(
        "storm",
        common,
        target.to_string(),
        &run,
        params,
        Some(logins),
    );
    r.errors = failures
        .lock()
        .expect("lock")
        .iter()
        .take(5)
        .cloned()
        .collect();
    if settled.is_none() {
        r.errors.push(format!(
            "not settled within {:.1} s: {} of {} clients joined, {} of {} announcements seen",
            deadline_secs.as_secs_f64(),
            joined.load(Relaxed),
            m,
            seen_total,
            expected
        ));
    }
    r.storm = Some(Storm {
        clients: m as usize,
        room,
        all_joined_secs: all_joined.map(|d| d.as_secs_f64()),
        settled_secs: settled.map(|d| d.as_secs_f64()),
        join_latency: Latency::of(&hist),
        announcements_expected: expected,
        announcements_seen: seen_total,
        announcements_per_sec: seen_total as f64 / elapsed.as_secs_f64().max(1e-9),
        server_cpu,
    });
    Ok(r)
}
