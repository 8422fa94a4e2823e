//! The abuse suite: each attack from the hardening issue, and each limit,
//! tried over real sockets against a real server, and shown harmless.

mod auth;
mod flood;
mod uploads;
mod web;
