//! confab-bench: a load generator for chat servers on loopback.
//!
//! It speaks IRC, confab's line protocol and confab's WebSocket JSON
//! protocol, and runs the workloads of issue 15 against any server that
//! speaks one of them (confab, or an IRC server for comparison).
//!
//! # Layout
//!
//! - [`payload`]: the text each message carries (`cfb RUN PHASE SENDER
//!   SEQ NS`) and finding it in any door's output.
//! - [`stats`]: the latency histogram (log buckets) and per-sender
//!   sequence tracking (loss, duplicates, order).
//! - [`proto`]: what to send to log in, join and talk, per protocol, and
//!   what a line means while logging in (pure).
//! - [`conn`]: one client's socket, bound to a chosen 127.0.0.x source.
//! - [`setup`]: options every workload shares, the loopback-only target,
//!   names, connecting many clients at a bounded pace.
//! - [`traffic`]: fan-out (a ramp), rooms and private messages.
//! - [`conns`]: registrations, idle connections (server RSS), join storm.
//! - [`procfs`]: the server's RSS and CPU from /proc.
//! - [`report`]: the table and the JSON.
//! - [`relay`]: a bare IRC relay with no chat logic, the reference for
//!   the fan-out target (`confab-bench relay`).
//!
//! # Bounds
//!
//! Every run stops by itself: `--duration` is at most
//! [`setup::MAX_DURATION_SECS`], every wait has a deadline, every loop a
//! count or a deadline, and the binary puts one more deadline around the
//! whole run. It refuses targets that are not loopback addresses.

pub mod conn;
pub mod conns;
pub mod payload;
pub mod procfs;
pub mod proto;
pub mod relay;
pub mod report;
pub mod setup;
pub mod stats;
pub mod traffic;

use clap::Subcommand;

pub use proto::Proto;
pub use report::Report;
pub use setup::Common;

/// The workloads.
#[derive(Subcommand, Debug, Clone)]
pub enum Workload {
    /// N clients in one room, S senders: a ramp to the highest message
    /// rate held with p99 within a bound; reports deliveries per second.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: traffic::FanoutOpts,
    },
    /// C clients in R rooms, each sending to its room at a rate; latency.
    Rooms {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: traffic::RoomsOpts,
    },
    /// P pairs of clients sending each other private messages; latency.
    Pm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: traffic::PmOpts,
    },
    /// K guest registrations: how many per second.
    Register {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: conns::ConnsOpts,
    },
    /// K registered idle connections: the server's RSS per connection
    /// (needs --server-pid).
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: conns::ConnsOpts,
    },
    /// M clients join one room at once: time until it settles.
    Storm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: conns::StormOpts,
    },
}

impl Workload {
    pub fn common(&self) -> &Common {
        match self {
            Workload::Fanout { common, .. }
            | Workload::Rooms { common, .. }
            | Workload::Pm { common, .. }
            | Workload::Register { common, .. }
            | Workload::Idle { common, .. }
            | Workload::Storm { common, .. } => common,
        }
    }

    /// Runs the workload to its end.
    pub async fn run(&self) -> anyhow::Result<Report> {
        match self {
            Workload::Fanout { common, opts } => traffic::fanout(common, opts).await,
            Workload::Rooms { common, opts } => traffic::rooms(common, opts).await,
            Workload::Pm { common, opts } => traffic::pm(common, opts).await,
            Workload::Register { common, opts } => conns::register(common, opts).await,
            Workload::Idle { common, opts } => conns::idle(common, opts).await,
            Workload::Storm { common, opts } => conns::storm(common, opts).await,
        }
    }
}
