//! Login tokens for the REST API and the WebSocket protocol.
//!
//! A token is `cf1.<account>.<expiry ms>.<mac>`: the account name and when
//! the token stops working, signed with a keyed BLAKE2b MAC. The key is 32
//! random bytes kept in the data dir (`token.key`, created on first start,
//! readable by the owner only), so tokens survive restarts and need no
//! table. Changing the key file revokes every token.

use std::io;
use std::path::Path;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U32;
use confab_core::{Nick, NickKey};

type Signer = Blake2bMac<U32>;

const PREFIX: &str = "cf1";
const KEY_FILE: &str = "token.key";

/// The server's token key.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired; log in again")]
    Expired,
}

impl Tokens {
    /// The key in `data_dir`, made on first use.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Tokens> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Tokens { key })
            }
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a 32-byte key", path.display()),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                OsRng.fill_bytes(&mut key);
                crate::server::write_private(&path, &key)?;
                Ok(Tokens { key })
            }
            Err(e) => Err(e),
        }
    }

    /// A token for `account`, valid until `expires_ms` (Unix ms).
    pub fn issue(&self, account: &Nick, expires_ms: i64) -> String {
        let body = format!("{PREFIX}.{account}.{expires_ms}");
        let tag = self.signer(&body).finalize().into_bytes();
        format!("{body}.{}", hex(&tag))
    }

    /// The account a token is for, if it is genuine and not expired at
    /// `now_ms`.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<NickKey, TokenError> {
        let (body, tag) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let tag = unhex(tag).ok_or(TokenError::Invalid)?;
        self.signer(body)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Invalid)?;
        let mut parts = body.split('.');
        let (Some(PREFIX), Some(name), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let expires: i64 = expires.parse().map_err(|_| TokenError::Invalid)?;
        if now_ms >= expires {
            return Err(TokenError::Expired);
        }
        let nick = Nick::parse(name, usize::MAX).map_err(|_| TokenError::Invalid)?;
        Ok(nick.key())
    }

    fn signer(&self, body: &str) -> Signer {
        let mut m = <Signer as Mac>::new_from_slice(&self.key).expect("32 bytes is a valid key");
        m.update(body.as_bytes());
        m
    }
}

/// Lowercase hex, two digits a byte (tokens, upload ids).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
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
        Tokens { key: [7; 32] }
    }

    #[test]
    fn a_token_names_its_account_until_it_expires() {
        let t = tokens();
        let alice = Nick::parse("Alice", 20).unwrap();
        let token = t.issue(&alice, 1_000);
        assert_eq!(t.verify(&token, 999), Ok(alice.key()));
        assert_eq!(t.verify(&token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn forged_or_mangled_tokens_are_refused() {
        let t = tokens();
        let token = t.issue(&Nick::parse("alice", 20).unwrap(), 1_000);
        let forged = token.replace("alice", "mallory");
        let longer = token.replace(".1000.", ".9999.");
        let other_key = Tokens { key: [8; 32] };
        for bad in [
            forged.as_str(),
            longer.as_str(),
            "",
            "cf1",
            "cf1.alice.1000.zz",
            "not a token",
        ] {
            assert_eq!(t.verify(bad, 0), Err(TokenError::Invalid), "{bad:?}");
        }
        assert_eq!(other_key.verify(&token, 0), Err(TokenError::Invalid));
    }

    #[test]
    fn the_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Tokens::load_or_create(dir.path()).unwrap();
        let b = Tokens::load_or_create(dir.path()).unwrap();
        assert_eq!(a.key, b.key);
        let token = a.issue(&Nick::parse("bob", 20).unwrap(), i64::MAX);
        assert!(b.verify(&token, 0).is_ok());
    }
}
