//! From SQLite's errors to [`StoreError`].

use std::path::Path;

use rusqlite::ErrorCode;

use confab_core::store::StoreError;

/// Maps a SQLite error: a full disk is [`StoreError::DiskFull`] wherever it
/// happens, a damaged or foreign file is [`StoreError::Corrupt`], a stored
/// value of the wrong type (which a confab-written file never has) is
/// corruption too, and the rest is [`StoreError::Other`] with SQLite's
/// message.
pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull,
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => match e {
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..) => {
                StoreError::Corrupt(format!("a stored value is unreadable: {e}"))
            }
            _ => StoreError::Other(e.to_string()),
        },
    }
}

/// Like [`db`], for errors while opening: [`StoreError::Other`] names the
/// file, since "unable to open database file" alone does not say which.
pub(crate) fn at(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| match db(e) {
        StoreError::Other(msg) => StoreError::Other(format!("{}: {msg}", path.display())),
        StoreError::Corrupt(msg) => StoreError::Corrupt(format!("{}: {msg}", path.display())),
        other => other,
    }
}

/// True if `e` is a violation of a UNIQUE or PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error().is_some_and(|s| {
        s.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || s.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    })
}

/// A stored row that does not parse back into its core type.
pub(crate) fn corrupt(what: &str, value: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("stored {what} {value:?} is invalid: {why}"))
}
