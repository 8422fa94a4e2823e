//! The docs cannot drift from the binary: the README's and docs/'s
//! runnable examples run against a real server (`runnable.rs`), and
//! `confab.example.toml` is checked against `confab serve --print-config`
//! (`example_config.rs`).

mod example_config;
mod runnable;

use std::path::PathBuf;

/// The repository's root (the workspace of this crate).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
