//! Files and directories only their owner may read: the data dir and
//! what it holds (the database, keys, the audit log, uploads) carry
//! messages, keys and addresses.

use std::io;
use std::path::Path;

/// Writes a file in the data dir that only its owner may read (keys),
/// durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates `path` and its missing parents for the owner only (0700), as
/// the data dir and what is in it hold messages, keys and addresses. An
/// existing directory keeps its mode.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates the file at `path` for the owner only (0600) if it does not
/// exist, so that whatever opens it next (SQLite, the audit log) keeps
/// that mode; SQLite gives its `-wal` and `-shm` files the database's.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    private_options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Options that create files for their owner only (0600).
pub fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `dir` (and its parents) and makes it owner-only (0700), even
/// when it already existed more open.
pub fn make_private_dir(dir: &Path) -> io::Result<()> {
    create_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
