//! The full-screen client. See the crate docs (`lib.rs`).
