//! Inputs found by the fuzz target (`fuzz/fuzz_targets/irc_parse.rs`),
//! kept so they stay fixed. See `docs/fuzzing.md`.
