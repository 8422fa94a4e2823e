//! Prometheus metrics: the recorder (one per process) and the names.
//!
//! Everything is recorded through the `metrics` facade; `/metrics` renders
//! the recorder's state. Counters are per process, so several servers in
//! one test process share them; tests compare before and after.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Open connections, by door (`line`, `irc`, `http`, `ws`, `irc-ws`).
pub const CONNECTIONS: &str = "confab_connections";
/// Connections accepted since start, by door.
pub const CONNECTIONS_TOTAL: &str = "confab_connections_total";
/// Messages the hub accepted (room and private), from any door.
pub const MESSAGES_IN: &str = "confab_messages_in_total";
/// Messages handed to recipients' queues (one per recipient session).
pub const MESSAGES_OUT: &str = "confab_messages_out_total";
/// Events of every kind handed to session queues (fan-out deliveries).
pub const DELIVERIES: &str = "confab_fanout_deliveries_total";
/// Sessions dropped because their outbound queue was full.
pub const QUEUE_DROPS: &str = "confab_queue_drops_total";
/// Store commits, and how long each took.
pub const STORE_COMMIT_SECONDS: &str = "confab_store_commit_seconds";
/// Store commits that failed.
pub const STORE_ERRORS: &str = "confab_store_errors_total";
/// Flood-limit events, by `action`: `paced` (a door stopped reading for a
/// while), `refused` (a REST call answered 429), `disconnected`.
pub const FLOOD: &str = "confab_flood_events_total";

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ])
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (a test harness) keeps its
        // place; `/metrics` then shows what this handle has, nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(CONNECTIONS, "Open connections, by door.");
    describe_counter!(CONNECTIONS_TOTAL, "Connections accepted, by door.");
    describe_counter!(MESSAGES_IN, "Room and private messages accepted.");
    describe_counter!(MESSAGES_OUT, "Messages handed to recipient sessions.");
    describe_counter!(DELIVERIES, "Events handed to session queues.");
    describe_counter!(QUEUE_DROPS, "Sessions dropped for a full queue.");
    describe_histogram!(STORE_COMMIT_SECONDS, "Duration of store commits.");
    describe_counter!(STORE_ERRORS, "Store commits that failed.");
    describe_counter!(
        FLOOD,
        "Flood-limit events, by action: paced, refused, disconnected."
    );
}

/// Counts a connection of `door` while it lives.
pub struct ConnGauge(&'static str);

impl ConnGauge {
    pub fn new(door: &'static str) -> ConnGauge {
        metrics::gauge!(CONNECTIONS, "door" => door).increment(1.0);
        metrics::counter!(CONNECTIONS_TOTAL, "door" => door).increment(1);
        ConnGauge(door)
    }
}

impl Drop for ConnGauge {
    fn drop(&mut self) {
        metrics::gauge!(CONNECTIONS, "door" => self.0).decrement(1.0);
    }
}
