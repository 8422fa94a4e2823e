//! See the crate docs (`lib.rs`) for what this module is for.
