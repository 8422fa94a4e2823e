//! Prometheus metrics: the recorder (one per process), the names, and the
//! handles the hot paths keep.
//!
//! Everything is recorded through the `metrics` facade; `/metrics` renders
//! the recorder's state, then the process's own figures (read from
//! `/proc/self` at scrape time, Linux only). Names follow Prometheus's
//! conventions: base units (`_seconds`, `_bytes`), `_total` on counters,
//! labels of bounded cardinality only (a door, a route template, a status
//! code, never a user, a room or a raw path).
//!
//! Metrics are per process, so several servers in one test process share
//! them; tests compare before and after.
//!
//! Hot paths never build a label set per event: they hold handles
//! registered once ([`Door`], the hub thread's gauges, the store's
//! histogram) and clone them.

use std::sync::OnceLock;

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Open connections (gauge), by door: `line`, `irc`, `http`, `ws`,
/// `irc-ws`.
pub const CONNECTIONS_OPEN: &str = "confab_connections_open";
/// Idle connections parked now, without a task (`park`).
pub const CONNECTIONS_PARKED: &str = "confab_connections_parked";
/// Connections accepted since start, by door.
pub const CONNECTIONS_TOTAL: &str = "confab_connections_total";
/// Room and private messages the hub accepted and stored, by the door of
/// their sender (`line`, `irc`, `ws`, `rest`).
pub const MESSAGES: &str = "confab_messages_total";
/// Messages handed to recipients' queues (one per recipient session).
pub const MESSAGE_DELIVERIES: &str = "confab_message_deliveries_total";
/// Events of every kind handed to session queues (fan-out deliveries).
pub const DELIVERIES: &str = "confab_fanout_deliveries_total";
/// Sessions closed because their outbound queue was full (SendQ exceeded).
pub const SENDQ_DISCONNECTS: &str = "confab_sendq_disconnects_total";
/// Store commits, and how long each took.
pub const STORE_COMMIT_SECONDS: &str = "confab_store_commit_seconds";
/// Store commits that failed.
pub const STORE_COMMIT_FAILURES: &str = "confab_store_commit_failures_total";
/// Flood-limit events, by `action`: `paced` (a door stopped reading for a
/// while), `refused` (a REST call answered 429), `disconnected`.
pub const FLOOD: &str = "confab_flood_events_total";
/// Logins refused (a wrong password, a bad token, a name in use, a
/// K-line...), by door (`line`, `irc`, `ws`, `rest`).
pub const LOGIN_FAILURES: &str = "confab_login_failures_total";
/// Users online now (with at least one session).
pub const USERS_ONLINE: &str = "confab_users_online";
/// Sessions the hub holds now (logged in or logging in).
pub const SESSIONS: &str = "confab_sessions";
/// Rooms that exist now.
pub const ROOMS: &str = "confab_rooms";
/// HTTP requests answered, by `route` (the route's template, such as
/// `/api/v1/rooms/{room}/history`, or `unmatched`) and `status`.
pub const HTTP_REQUESTS: &str = "confab_http_requests_total";
/// How long HTTP requests took to answer (to the response's head), by
/// `route`.
pub const HTTP_SECONDS: &str = "confab_http_request_duration_seconds";
/// Always 1, labelled with the `version` and the `commit`.
pub const BUILD_INFO: &str = "confab_build_info";

/// The doors, for labels: those that accept connections, and those that
/// log in and send messages (IRC over WebSocket is the IRC door; REST
/// runs on HTTP connections).
pub const DOORS: [&str; 6] = ["line", "irc", "ws", "irc-ws", "http", "rest"];
/// Where anything not in [`DOORS`] counts: `http`.
const OTHER: usize = DOORS.len() - 2;
const CONNECTING: [&str; 5] = ["line", "irc", "ws", "irc-ws", "http"];
const CHATTING: [&str; 4] = ["line", "irc", "ws", "rest"];

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ])
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (a test harness) keeps its
        // place; `/metrics` then shows what this handle has, nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        // Every series there from the first scrape, at zero.
        for action in ["paced", "refused", "disconnected"] {
            metrics::counter!(FLOOD, "action" => action).absolute(0);
        }
        metrics::gauge!(CONNECTIONS_PARKED).set(0.0);
        metrics::gauge!(
            BUILD_INFO,
            "version" => crate::build::VERSION,
            "commit" => crate::build::commit(),
        )
        .set(1.0);
        handle
    })
}

/// The gauge of parked connections.
pub fn parked() -> &'static Gauge {
    static PARKED: OnceLock<Gauge> = OnceLock::new();
    PARKED.get_or_init(|| {
        handle();
        metrics::gauge!(CONNECTIONS_PARKED)
    })
}

/// `/metrics`: the recorder's state, then the process's figures.
pub fn render() -> String {
    let mut text = handle().render();
    process::render(&mut text);
    text
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS_OPEN, "Open connections, by door.");
    describe_counter!(CONNECTIONS_TOTAL, "Connections accepted, by door.");
    describe_gauge!(
        CONNECTIONS_PARKED,
        "Idle connections parked without a task of their own."
    );
    describe_counter!(
        MESSAGES,
        "Room and private messages accepted, by the sender's door."
    );
    describe_counter!(MESSAGE_DELIVERIES, "Messages handed to recipient sessions.");
    describe_counter!(DELIVERIES, "Events handed to session queues.");
    describe_counter!(
        SENDQ_DISCONNECTS,
        "Sessions closed because their outbound queue was full."
    );
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Duration of store commits."
    );
    describe_counter!(STORE_COMMIT_FAILURES, "Store commits that failed.");
    describe_counter!(
        FLOOD,
        "Flood-limit events, by action: paced, refused, disconnected."
    );
    describe_counter!(LOGIN_FAILURES, "Logins refused, by door.");
    describe_gauge!(USERS_ONLINE, "Users with at least one session.");
    describe_gauge!(SESSIONS, "Sessions the hub holds.");
    describe_gauge!(ROOMS, "Rooms that exist.");
    describe_counter!(HTTP_REQUESTS, "HTTP requests, by route and status.");
    describe_histogram!(
        HTTP_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request durations, by route."
    );
    describe_gauge!(BUILD_INFO, "The version and commit of this server.");
}

/// The handles of one door, registered once.
pub struct Door {
    pub name: &'static str,
    open: Gauge,
    total: Counter,
    pub messages: Counter,
    pub login_failures: Counter,
}

/// The handles of `door` (one of [`DOORS`]; anything else counts as
/// `http`). Registering them all at once makes every door's series show,
/// at zero, from the first scrape.
pub fn door(door: &str) -> &'static Door {
    door_at(door_number(door))
}

/// `door`'s place in [`DOORS`] (as in [`door`], anything else is
/// `http`'s): what the hub keeps of a session's door
/// ([`confab_core::ClientInfo::door`]).
pub fn door_number(door: &str) -> u8 {
    let at = DOORS.iter().position(|d| *d == door);
    at.unwrap_or(OTHER) as u8
}

/// The handles of the door numbered `number` ([`door_number`]).
pub fn door_at(number: u8) -> &'static Door {
    static TABLE: OnceLock<Vec<Door>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        handle();
        DOORS
            .iter()
            .map(|&name| {
                let (connects, chats) = (CONNECTING.contains(&name), CHATTING.contains(&name));
                let counter = |on: bool, metric: &'static str| {
                    if on {
                        metrics::counter!(metric, "door" => name)
                    } else {
                        Counter::noop()
                    }
                };
                Door {
                    name,
                    open: if connects {
                        metrics::gauge!(CONNECTIONS_OPEN, "door" => name)
                    } else {
                        Gauge::noop()
                    },
                    total: counter(connects, CONNECTIONS_TOTAL),
                    messages: counter(chats, MESSAGES),
                    login_failures: counter(chats, LOGIN_FAILURES),
                }
            })
            .collect()
    });
    table.get(usize::from(number)).unwrap_or(&table[OTHER])
}

/// Counts a connection of `door` while it lives.
pub struct ConnGauge(&'static Door);

impl ConnGauge {
    pub fn new(name: &'static str) -> ConnGauge {
        let d = door(name);
        d.open.increment(1.0);
        d.total.increment(1);
        ConnGauge(d)
    }
}

impl Drop for ConnGauge {
    fn drop(&mut self) {
        self.0.open.decrement(1.0);
    }
}

/// The process's own figures, under the names every Prometheus client
/// library uses, read from `/proc/self` when scraped.
mod process {
    use std::fmt::Write;

    /// Appends the figures it can read to `text` (nothing off Linux).
    pub fn render(text: &mut String) {
        #[cfg(target_os = "linux")]
        if let Some(p) = linux::read() {
            let mut put = |name: &str, kind: &str, help: &str, value: f64| {
                let _ = write!(
                    text,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
                );
            };
            put(
                "process_cpu_seconds_total",
                "counter",
                "CPU time used, user and system, in seconds.",
                p.cpu_seconds,
            );
            put(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                p.resident_bytes,
            );
            if let Some(fds) = p.open_fds {
                put(
                    "process_open_fds",
                    "gauge",
                    "Open file descriptors.",
                    fds as f64,
                );
            }
            if let Some(start) = p.start_time {
                put(
                    "process_start_time_seconds",
                    "gauge",
                    "Start time of the process since the Unix epoch, in seconds.",
                    start,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = text;
    }

    #[cfg(target_os = "linux")]
    mod linux {
        pub struct Figures {
            pub cpu_seconds: f64,
            pub resident_bytes: f64,
            pub open_fds: Option<usize>,
            pub start_time: Option<f64>,
        }

        pub fn read() -> Option<Figures> {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            // The command name (field 2) is in parentheses and may hold
            // spaces: fields are counted after its closing one.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // Field n of proc(5) is fields[n - 3].
            let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
            let ticks = rustix::param::clock_ticks_per_second() as f64;
            let page = rustix::param::page_size() as f64;
            let (utime, stime) = (field(14)?, field(15)?);
            let start_ticks = field(22)?;
            let rss_pages = field(24)?;
            let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            Some(Figures {
                cpu_seconds: (utime + stime) as f64 / ticks,
                resident_bytes: rss_pages as f64 * page,
                open_fds,
                start_time: boot.map(|b| b as f64 + start_ticks as f64 / ticks),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_door_number_names_the_same_door_and_unknown_doors_count_as_http() {
        for name in DOORS {
            assert_eq!(door_at(door_number(name)).name, name);
        }
        assert_eq!(door("gopher").name, "http");
        assert_eq!(door_at(200).name, "http");
    }
}
