//! Passwords: argon2id hashes in PHC string format, and the rules a new
//! password must meet. Hashing is slow on purpose (tens of milliseconds):
//! callers run it off the async runtime (`spawn_blocking`).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Longest password accepted, in bytes (argon2 takes any length; this
/// bounds the work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {0} characters")]
    TooShort(usize),
    #[error("a password may be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    #[error("a password may not contain spaces or control characters")]
    BadChar,
}

/// Checks a new password against the rules.
pub fn check_new(password: &str, min_len: usize) -> Result<(), PasswordError> {
    if password.chars().count() < min_len {
        return Err(PasswordError::TooShort(min_len));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(PasswordError::BadChar);
    }
    Ok(())
}

/// The argon2id hash of `password`, with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches `hash`. A malformed hash matches nothing.
pub fn verify(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse");
        let b = hash("correct horse");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn new_password_rules() {
        assert_eq!(check_new("short", 8), Err(PasswordError::TooShort(8)));
        assert_eq!(check_new("has space", 4), Err(PasswordError::BadChar));
        assert_eq!(check_new(&"x".repeat(300), 8), Err(PasswordError::TooLong));
        assert_eq!(check_new("fine-password", 8), Ok(()));
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("wrong name or password")]
    Wrong,
    #[error("cannot log in now: {0}")]
    Store(String),
}

/// Checks `password` for the account `name` as every door must: looks the
/// account up, waits out the slowdown earned by recent failures for that
/// name, verifies off the runtime, and reports the outcome to the hub.
/// `Err(HubGone)` when the server is stopping.
pub async fn log_in(
    hub: &crate::hub_task::HubHandle,
    name: &confab_core::Nick,
    password: String,
) -> Result<Result<confab_core::store::Account, LoginError>, crate::hub_task::HubGone> {
    let key = name.key();
    let lookup = match hub.account(key.clone()).await? {
        Ok(lookup) => lookup,
        Err(e) => return Ok(Err(LoginError::Store(e.to_string()))),
    };
    tokio::time::sleep(lookup.delay).await;
    let verified = match &lookup.account {
        Some(account) => {
            let hash = account.password_hash.clone();
            tokio::task::spawn_blocking(move || verify(&password, &hash))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    hub.auth_result(key, verified).await?;
    match lookup.account {
        Some(account) if verified => Ok(Ok(account)),
        _ => {
            tracing::info!(name = %name, "login failed");
            Ok(Err(LoginError::Wrong))
        }
    }
}

/// Checks a new password against the rules and hashes it off the runtime.
pub async fn new_hash(password: String, min_len: usize) -> Result<String, String> {
    check_new(&password, min_len).map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|_| "could not hash the password; try again".to_owned())
}
