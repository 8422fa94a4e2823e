//! Attacks on a running server over real sockets, each reproduced and
//! shown harmless (issue 13).

mod offline;
