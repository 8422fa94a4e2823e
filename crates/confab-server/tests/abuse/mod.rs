//! The abuse suite (issue 13): attacks that worked against a running
//! server, reproduced over real sockets and shown harmless. One module per
//! theme; each test is one attack or one limit.

mod input;
