//! Every workload, briefly and with small counts, over every protocol,
//! against a real confab server in this process on 127.0.0.1:0. The
//! checks are about counts (nothing lost, duplicated or reordered, every
//! delivery timed), never about speed.

use std::net::SocketAddr;

use confab_bench::conns::{ConnsOpts, StormOpts};
use confab_bench::traffic::{FanoutOpts, PmOpts, RoomsOpts};
use confab_bench::{Common, Proto, Report, Workload};

#[path = "../../confab-server/tests/support/mod.rs"]
mod support;

use support::{TestServer, start};

const PROTOS: [Proto; 3] = [Proto::Irc, Proto::Line, Proto::Ws];

/// A confab server configured as docs/benchmarks.md says: flood control
/// lifted for loopback, per-address limits raised, a deep send queue, no
/// default room.
async fn server() -> TestServer {
    start(|config| {
        config.limits.flood_exempt = vec!["127.0.0.0/8".into(), "::1/128".into()];
        config.limits.max_connections_per_ip = 10_000;
        config.limits.send_queue = 16_384;
        config.chat.default_room = String::new();
    })
    .await
}

fn common(addr: SocketAddr, proto: Proto, duration: f64) -> Common {
    Common {
        proto,
        addr: addr.to_string(),
        sources: 3,
        server_pid: Some(std::process::id()),
        duration: Some(duration),
        connect_concurrency: 8,
        connect_timeout: 30.0,
        pad: 0,
    }
}

/// The checks every traffic report must pass.
fn assert_clean(r: &Report) {
    let table = r.table();
    assert!(r.errors.is_empty(), "errors:\n{table}");
    assert_eq!(r.disconnects, 0, "{table}");
    assert!(!r.phases.is_empty(), "{table}");
    for p in &r.phases {
        assert!(p.sent > 0, "{table}");
        assert!(p.expected > 0, "{table}");
        assert_eq!(p.lost, 0, "lost:\n{table}");
        assert_eq!(p.delivered, p.expected, "{table}");
        assert_eq!(p.duplicates, 0, "{table}");
        assert_eq!(p.out_of_order, 0, "{table}");
        assert_eq!(
            p.latency.samples, p.delivered,
            "every delivery timed:\n{table}"
        );
        assert!(p.latency.max_ms >= p.latency.p50_ms, "{table}");
        // Where the tail fell: windows of 100 ms of send time, the slowest
        // of which holds the phase's slowest delivery (to the µs).
        let t = &p.tail;
        let most = (p.seconds * 10.0).ceil() as usize + 1;
        assert!(
            (1..=most).contains(&t.windows),
            "{} windows:\n{table}",
            t.windows
        );
        assert!(t.over_p99 <= t.windows, "{table}");
        assert!((1..=t.windows.min(8)).contains(&t.slowest.len()), "{table}");
        assert!(
            t.slowest.windows(2).all(|w| w[0].at_s < w[1].at_s),
            "{table}"
        );
        assert!(
            t.slowest.iter().all(|w| w.at_s < p.seconds + 0.1),
            "{table}"
        );
        let slowest = t.slowest.iter().map(|w| w.max_ms).fold(0.0, f64::max);
        // (Windows keep microseconds.)
        let short = p.latency.max_ms - slowest;
        assert!((0.0..0.001).contains(&short), "{slowest} ms:\n{table}");
    }
    if r.phases.len() == 1 {
        assert!(table.contains("windows of 100 ms; slowest at"), "{table}");
    }
    // Both outputs render.
    let json = serde_json::to_value(r).expect("JSON");
    assert_eq!(json["workload"], r.workload);
}

async fn run(w: Workload) -> Report {
    w.run().await.unwrap_or_else(|e| panic!("{w:?}: {e:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_at_one_rate_and_as_a_ramp() {
    let s = server().await;
    for proto in PROTOS {
        let r = run(Workload::Fanout {
            common: common(s.addr, proto, 1.0),
            opts: FanoutOpts {
                clients: 6,
                senders: 2,
                rate: 100.0,
                p99_ms: 50.0,
                step_secs: 0.5,
                factor: 1.6,
                no_ramp: true,
                room: None,
            },
        })
        .await;
        assert_clean(&r);
        let p = &r.phases[0];
        assert_eq!(p.expected, p.sent * 5, "each message to the 5 others");
        assert!(r.best.is_none());
    }
    let r = run(Workload::Fanout {
        common: common(s.addr, Proto::Irc, 1.6),
        opts: FanoutOpts {
            clients: 4,
            senders: 1,
            rate: 50.0,
            p99_ms: 50.0,
            step_secs: 0.3,
            factor: 2.0,
            no_ramp: false,
            room: None,
        },
    })
    .await;
    assert_clean(&r);
    assert!(r.phases.len() >= 2, "{}", r.table());
    // Each step's verdict is given; which ones hold depends on the machine.
    assert!(r.phases.iter().all(|p| p.held.is_some()));
    if let Some(b) = r.best {
        assert_eq!(r.phases[b].held, Some(true));
    }
    s.shutdown().await;
}

/// Rooms of 3 and 3 pairs talking over `proto` to the server at `addr`:
/// clean reports with every message reaching whom it should.
async fn rooms_and_pairs(addr: SocketAddr, proto: Proto) {
    let r = run(Workload::Rooms {
        common: common(addr, proto, 1.0),
        opts: RoomsOpts {
            clients: 9,
            rooms: 3,
            rate: 20.0,
        },
    })
    .await;
    assert_clean(&r);
    let p = &r.phases[0];
    assert_eq!(p.expected, p.sent * 2, "rooms of 3: each message to 2");

    let r = run(Workload::Pm {
        common: common(addr, proto, 1.0),
        opts: PmOpts {
            pairs: 3,
            rate: 20.0,
        },
    })
    .await;
    assert_clean(&r);
    assert_eq!(r.phases[0].expected, r.phases[0].sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_private_messages() {
    let s = server().await;
    for proto in PROTOS {
        rooms_and_pairs(s.addr, proto).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_idle_connections_and_a_join_storm() {
    let s = server().await;
    for proto in PROTOS {
        let r = run(Workload::Register {
            common: common(s.addr, proto, 5.0),
            opts: ConnsOpts { clients: 20 },
        })
        .await;
        assert!(r.errors.is_empty(), "{}", r.table());
        assert_eq!(r.logins.as_ref().unwrap().clients, 20);

        let r = run(Workload::Idle {
            common: common(s.addr, proto, 0.3),
            opts: ConnsOpts { clients: 20 },
        })
        .await;
        let idle = r.idle.as_ref().expect("idle figures");
        assert_eq!(idle.connections, 20);
        assert_eq!(idle.still_open, 20, "{}", r.table());
        assert!(idle.rss_before.is_some() && idle.rss_after.is_some());
        assert!(idle.rss_per_connection.is_some());

        let r = run(Workload::Storm {
            common: common(s.addr, proto, 30.0),
            opts: StormOpts {
                clients: 12,
                room: None,
            },
        })
        .await;
        assert!(r.errors.is_empty(), "{}", r.table());
        let storm = r.storm.as_ref().expect("storm figures");
        assert_eq!(storm.announcements_expected, 12 * 11 / 2);
        assert_eq!(storm.announcements_seen, storm.announcements_expected);
        assert!(storm.settled_secs.is_some(), "{}", r.table());
        assert_eq!(storm.join_latency.samples, 12, "{}", r.table());
    }
    s.shutdown().await;
}

#[tokio::test]
async fn refuses_targets_off_this_machine() {
    let err = Workload::Register {
        common: Common {
            addr: "192.0.2.7:6667".into(),
            ..common("127.0.0.1:1".parse().unwrap(), Proto::Irc, 1.0)
        },
        opts: ConnsOpts { clients: 1 },
    }
    .run()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not a loopback"), "{err:#}");
    let err = Workload::Pm {
        common: common("127.0.0.1:1".parse().unwrap(), Proto::Irc, 601.0),
        opts: PmOpts {
            pairs: 1,
            rate: 1.0,
        },
    }
    .run()
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--duration"), "{err:#}");
}

/// The bare relay (`confab-bench relay`) carries the workloads a relay
/// can: rooms, private messages and a join storm, nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bare_relay_carries_rooms_private_messages_and_a_storm() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay = tokio::spawn(confab_bench::relay::serve_on(
        listener,
        std::time::Duration::from_secs(120),
    ));
    rooms_and_pairs(addr, Proto::Irc).await;
    let r = run(Workload::Storm {
        common: common(addr, Proto::Irc, 30.0),
        opts: StormOpts {
            clients: 20,
            room: None,
        },
    })
    .await;
    let storm = r.storm.as_ref().expect("a storm report");
    assert_eq!(
        storm.announcements_seen,
        storm.announcements_expected,
        "{}",
        r.table()
    );
    relay.abort();
}
