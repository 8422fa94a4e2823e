//! The abuse suite (issue 13): attacks that worked against a running
//! server, reproduced over real sockets and shown harmless, and each limit
//! tried as an attacker would. One module per theme; each test is one
//! attack or one limit.

mod auth;
mod expensive;
mod flood;
mod input;
mod offline;
mod oper;
mod privacy;
mod uploads;
mod web;
