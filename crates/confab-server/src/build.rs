//! What this server is: its version and the commit it was built from.
//! The binary tells it (`set_commit`, from its build script) before
//! starting; a server built into something else says "unknown".

use std::sync::OnceLock;

static COMMIT: OnceLock<&'static str> = OnceLock::new();

/// The package version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Records the commit (once; later calls are ignored).
pub fn set_commit(commit: &'static str) {
    let _ = COMMIT.set(commit);
}

/// The commit the binary was built from, or "unknown".
pub fn commit() -> &'static str {
    COMMIT.get().copied().unwrap_or("unknown")
}

/// `0.1.0 (commit 1a2b3c4d5e6f)`, as `--version` and the start-up line
/// print it.
pub fn long_version() -> String {
    format!("{VERSION} (commit {})", commit())
}
