//! confab's runtime: the hub task, the listeners and the doors.
//!
//! # Layout
//!
//! - [`config`]: every setting, with its default and its checks.
//! - [`hub_task`]: the task that owns the core's `Hub`, the handle doors
//!   use to reach it, and the bounded per-connection outbound queue.
//! - [`cloak`]: the hosts users see (a keyed hash of the address).
//! - [`server`]: listeners, protocol detection, refusals, shutdown.
//! - [`fds`]: the open-file limit, raised at start, and the connections
//!   it leaves room for.
//! - [`peer`]: who a connection is (trusted proxies, the PROXY protocol,
//!   forwarded headers) and the connection limits that count it.
//! - [`line`]: the line door (telnet, `nc`).
//! - [`irc`]: the IRC door.
//! - [`tls`]: the certificate (files or self-signed) and its reloads.
//! - [`metrics`]: the Prometheus metrics; [`closed`]: who ended a
//!   connection, as every door logs it.

pub mod audit;
pub mod auth;
pub mod build;
pub mod cloak;
pub mod closed;
pub mod config;
pub mod fds;
pub mod files;
pub mod flood;
pub mod http;
pub mod hub_task;
pub mod irc;
pub mod line;
pub mod lock;
pub mod metrics;
pub mod origin;
pub mod park;
pub mod peer;
pub mod queue;
pub mod reads;
pub mod rewind;
pub mod server;
pub mod shared;
pub mod store_thread;
pub mod time;
pub mod tls;
pub mod tokens;
pub mod uploads;
pub mod websocket;
pub mod wire;
pub mod ws;

pub use config::Config;
pub use server::{Server, StartError};
