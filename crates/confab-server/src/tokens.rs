//! Login tokens for the REST API and the WebSocket protocol.
//!
//! A token is `cf2.<account>.<issued ms>.<expiry ms>.<mac>`: the account
//! name, when the token was issued and when it stops working, signed with
//! a keyed BLAKE2b MAC. The key is 32 random bytes kept in the data dir
//! (`token.key`, created on first start, readable by the owner only), so
//! tokens survive restarts. Changing the key file revokes every token.
//!
//! A token also stops working when it is revoked: all of an account's
//! issued before its `tokens_after` (a new password, "log out
//! everywhere"), or this one by its id (logout), which the store keeps
//! until the token would have expired and this table holds in memory.
//! Tokens of the older `cf1` form (no issue time) count as issued at 0,
//! so before any account's creation: they no longer open it.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U32;
use confab_core::store::Account;
use confab_core::{Nick, NickKey};

type Signer = Blake2bMac<U32>;

const PREFIX: &str = "cf2";
const OLD_PREFIX: &str = "cf1";
const KEY_FILE: &str = "token.key";

/// The server's token key.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
    /// Ids of the tokens revoked one by one that have not expired yet.
    revoked: Arc<Mutex<HashSet<String>>>,
}

/// What a genuine token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub account: NickKey,
    /// When it was issued, Unix ms (0 for the older form).
    pub issued: i64,
    /// When it stops working, Unix ms.
    pub expires: i64,
    /// Its id for revoking it alone: part of its MAC.
    pub id: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired; log in again")]
    Expired,
    #[error("the token was revoked (logged out, or the password changed); log in again")]
    Revoked,
}

impl Tokens {
    /// The key in `data_dir`, made on first use.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Tokens> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Tokens::with_key(key))
            }
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a 32-byte key", path.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                crate::files::write_private(&path, &key)?;
                Ok(Tokens::with_key(key))
            }
            Err(e) => Err(e),
        }
    }

    fn with_key(key: [u8; 32]) -> Tokens {
        Tokens {
            key,
            revoked: Arc::default(),
        }
    }

    /// A token for `account`, issued at `issued_ms` and valid until
    /// `expires_ms` (Unix ms).
    pub fn issue(&self, account: &Nick, issued_ms: i64, expires_ms: i64) -> String {
        let body = format!("{PREFIX}.{account}.{issued_ms}.{expires_ms}");
        let tag = self.signer(&body).finalize().into_bytes();
        format!("{body}.{}", hex(&tag))
    }

    /// What a token says, if it is genuine, not expired at `now_ms` and not
    /// revoked by id. (Whether its account revoked it by time is for the
    /// caller, who looks the account up.)
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, TokenError> {
        let (body, tag) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let tag_bytes = unhex(tag).ok_or(TokenError::Invalid)?;
        self.signer(body)
            .verify_slice(&tag_bytes)
            .map_err(|_| TokenError::Invalid)?;
        let parts: Vec<&str> = body.split('.').collect();
        let (name, issued, expires) = match parts.as_slice() {
            [PREFIX, name, issued, expires] => (*name, *issued, *expires),
            [OLD_PREFIX, name, expires] => (*name, "0", *expires),
            _ => return Err(TokenError::Invalid),
        };
        let issued: i64 = issued.parse().map_err(|_| TokenError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
        if now_ms >= expires {
            return Err(TokenError::Expired);
        }
        let nick = Nick::parse(name, usize::MAX).map_err(|_| TokenError::Invalid)?;
        let id = tag[..32.min(tag.len())].to_owned();
        if self.revoked.lock().expect("revoked tokens").contains(&id) {
            return Err(TokenError::Revoked);
        }
        Ok(Claims {
            account: nick.key(),
            issued,
            expires,
            id,
        })
    }

    /// Marks token `id` revoked here (the store keeps it across restarts).
    pub fn revoke(&self, id: &str) {
        self.revoked
            .lock()
            .expect("revoked tokens")
            .insert(id.to_owned());
    }

    /// The ids revoked one by one, as the store kept them (at start).
    pub fn load_revoked(&self, ids: impl IntoIterator<Item = String>) {
        self.revoked.lock().expect("revoked tokens").extend(ids);
    }

    fn signer(&self, body: &str) -> Signer {
        let mut m = <Signer as Mac>::new_from_slice(&self.key).expect("32 bytes is a valid key");
        m.update(body.as_bytes());
        m
    }
}

/// Why a presented token does not log anyone in.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Token(TokenError),
    #[error("the token's account no longer exists")]
    NoAccount,
    #[error("cannot check the token now: {0}")]
    Store(String),
    #[error("the server is stopping")]
    Gone,
}

/// Checks `token` all the way, as every door must: genuine, unexpired,
/// not revoked by id, and issued after its account's `tokens_after` and
/// its creation (which the store has, so a password changed by `confab
/// user passwd` counts at once). The token's claims and its account.
pub async fn check(
    tokens: &Tokens,
    hub: &crate::hub_task::HubHandle,
    token: &str,
) -> Result<(Claims, Account), Refused> {
    let claims = tokens
        .verify(token, crate::time::now().0)
        .map_err(Refused::Token)?;
    let lookup = hub
        .account(claims.account.clone())
        .await
        .map_err(|_| Refused::Gone)?
        .map_err(|e| Refused::Store(e.to_string()))?;
    let account = lookup.account.ok_or(Refused::NoAccount)?;
    // A token older than its account was issued to an earlier account of
    // the same name (deleted with `confab user del`, registered again).
    // Tokens of the `cf1` form (issued "at 0") fall to this too.
    if claims.issued < account.tokens_after.0.max(account.created.0) {
        return Err(Refused::Token(TokenError::Revoked));
    }
    Ok((claims, account))
}

/// Lowercase hex, two digits a byte (tokens, upload ids).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::with_key([7; 32])
    }

    #[test]
    fn a_token_names_its_account_until_it_expires() {
        let t = tokens();
        let alice = Nick::parse("Alice", 20).unwrap();
        let token = t.issue(&alice, 500, 1_000);
        let claims = t.verify(&token, 999).unwrap();
        assert_eq!(claims.account, alice.key());
        assert_eq!((claims.issued, claims.expires), (500, 1_000));
        assert_eq!(claims.id.len(), 32);
        assert_eq!(t.verify(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_revoked_by_id_stops_working_and_others_do_not() {
        let t = tokens();
        let alice = Nick::parse("alice", 20).unwrap();
        let one = t.issue(&alice, 1, 1_000);
        let two = t.issue(&alice, 2, 1_000);
        t.revoke(&t.verify(&one, 0).unwrap().id);
        assert_eq!(t.verify(&one, 0), Err(TokenError::Revoked));
        assert!(t.verify(&two, 0).is_ok());
        // The store's list, loaded at start, does the same.
        let fresh = tokens();
        fresh.load_revoked([t.verify(&two, 0).unwrap().id]);
        assert_eq!(fresh.verify(&two, 0), Err(TokenError::Revoked));
    }

    #[test]
    fn forged_or_mangled_tokens_are_refused() {
        let t = tokens();
        let token = t.issue(&Nick::parse("alice", 20).unwrap(), 5, 1_000);
        let forged = token.replace("alice", "mallory");
        let longer = token.replace(".1000.", ".9999.");
        let older = token.replace(".5.", ".0.");
        let other_key = Tokens::with_key([8; 32]);
        for bad in [
            forged.as_str(),
            longer.as_str(),
            older.as_str(),
            "",
            "cf2",
            "cf2.alice.1.1000.zz",
            "not a token",
        ] {
            assert_eq!(t.verify(bad, 0), Err(TokenError::Invalid), "{bad:?}");
        }
        assert_eq!(other_key.verify(&token, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn tokens_of_the_older_form_still_work_as_issued_at_zero() {
        let t = tokens();
        let body = "cf1.alice.1000";
        let tag = t.signer(body).finalize().into_bytes();
        let token = format!("{body}.{}", hex(&tag));
        let claims = t.verify(&token, 0).unwrap();
        assert_eq!((claims.issued, claims.expires), (0, 1_000));
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tokens::load_or_create(dir.path()).unwrap();
        let b = Tokens::load_or_create(dir.path()).unwrap();
        assert_eq!(a.key, b.key);
        let token = a.issue(&Nick::parse("bob", 20).unwrap(), 0, i64::MAX);
        assert!(b.verify(&token, 0).is_ok());
    }
}
