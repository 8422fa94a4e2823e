//! Cloaked hosts: where a user connects from, as other users see it.
//!
//! Nobody sees another user's IP address. The host in `nick!ident@host`
//! (IRC prefixes, WHOIS, WHO, NAMES with userhost-in-names, the line
//! door's and the WebSocket's whois) is a cloak, `<hash>.<suffix>`: the
//! address cut to its network prefix (`cloak.ipv4_prefix`,
//! `cloak.ipv6_prefix`), hashed with a keyed BLAKE2b, 80 bits written in
//! lowercase base32 (ergo's scheme, with our hash). The key is 32 random
//! bytes in the data dir (`cloak.key`, made on first start, owner-only),
//! so a user keeps their cloak across restarts, and bans of cloaks hold;
//! nobody without the key can test a guessed address against a cloak.
//! Replacing the key gives everyone new cloaks.
//!
//! Loopback addresses are cloaked like any other: "localhost" would say
//! the user is on the server's machine, and tests go through the real
//! path. The real address stays with the server (the hub's user, the
//! audit log's `connect` records); it is shown to no user.
//!
//! [`Cloak::host`] is the one place a host is made, called by the hub
//! thread for every new session (`hub_task`), and by the IRC door for its
//! own client's mask before the hub knows it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::Blake2bMac;
use blake2::digest::Mac;
use blake2::digest::consts::U32;

use crate::Config;

const KEY_FILE: &str = "cloak.key";

/// Bytes of the hash in a cloak: 80 bits, 16 base32 letters.
const HASH_BYTES: usize = 10;

/// How the server shows hosts.
#[derive(Clone)]
pub struct Cloak {
    /// `None`: cloaks are off, hosts are addresses.
    key: Option<[u8; 32]>,
    suffix: String,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl std::fmt::Debug for Cloak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloak")
            .field("enabled", &self.key.is_some())
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl Cloak {
    /// The cloak of `config`, its key read from the data dir (made on
    /// first use). With cloaks off no key is read or made.
    pub fn from_config(config: &Config) -> io::Result<Cloak> {
        let key = if config.cloak.enabled {
            Some(load_or_create_key(&config.data_dir.join(KEY_FILE))?)
        } else {
            None
        };
        Ok(Cloak {
            key,
            suffix: config.cloak_suffix(),
            ipv4_prefix: config.cloak.ipv4_prefix.min(32),
            ipv6_prefix: config.cloak.ipv6_prefix.min(128),
        })
    }

    /// Cloaks with `key` and the default prefixes (tests).
    pub fn with_key(key: [u8; 32], suffix: &str) -> Cloak {
        Cloak {
            key: Some(key),
            suffix: suffix.to_owned(),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }

    /// No cloaks: every host is its address.
    pub fn off() -> Cloak {
        Cloak {
            key: None,
            suffix: String::new(),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }

    /// The host others see for a user connecting from `ip`.
    pub fn host(&self, ip: IpAddr) -> String {
        let ip = ip.to_canonical();
        let Some(key) = &self.key else {
            // An IPv6 address may start with ':', which IRC cannot have
            // at the start of a word.
            let s = ip.to_string();
            return if s.starts_with(':') {
                format!("0{s}")
            } else {
                s
            };
        };
        let mut mac =
            <Blake2bMac<U32> as Mac>::new_from_slice(key).expect("32 bytes is a valid key");
        match ip {
            IpAddr::V4(v4) => {
                mac.update(&[4]);
                mac.update(&mask_v4(v4, self.ipv4_prefix).octets());
            }
            IpAddr::V6(v6) => {
                mac.update(&[6]);
                mac.update(&mask_v6(v6, self.ipv6_prefix).octets());
            }
        }
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", base32(&tag[..HASH_BYTES]), self.suffix)
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

/// RFC 4648 base32 in lowercase, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The 32-byte key at `path`, made (owner-only, durably) if missing.
fn load_or_create_key(path: &Path) -> io::Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => bytes.try_into().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a 32-byte key", path.display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            crate::files::write_private(path, &key)?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_cloak_is_a_hash_and_the_suffix_never_the_address() {
        let c = Cloak::with_key([7; 32], "confab");
        let host = c.host(ip("203.0.113.9"));
        let (hash, suffix) = host.split_once('.').unwrap();
        assert_eq!(suffix, "confab");
        assert_eq!(hash.len(), 16);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c))
        );
        assert!(!host.contains("203") && !host.contains("113"));
    }

    #[test]
    fn the_same_address_gets_the_same_cloak_and_others_another() {
        let c = Cloak::with_key([7; 32], "confab");
        assert_eq!(c.host(ip("203.0.113.9")), c.host(ip("203.0.113.9")));
        assert_ne!(c.host(ip("203.0.113.9")), c.host(ip("203.0.113.10")));
        assert_ne!(c.host(ip("127.0.0.1")), "localhost");
    }

    #[test]
    fn another_key_gives_other_cloaks() {
        let a = Cloak::with_key([7; 32], "confab");
        let b = Cloak::with_key([8; 32], "confab");
        assert_ne!(a.host(ip("203.0.113.9")), b.host(ip("203.0.113.9")));
    }

    #[test]
    fn ipv6_hosts_of_one_slash_64_share_a_cloak() {
        let c = Cloak::with_key([7; 32], "confab");
        let one = c.host(ip("2001:db8:1:2::1"));
        assert_eq!(one, c.host(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(one, c.host(ip("2001:db8:1:3::1")));
        // An IPv4-mapped address is its IPv4 address.
        assert_eq!(c.host(ip("::ffff:203.0.113.9")), c.host(ip("203.0.113.9")));
    }

    #[test]
    fn a_shorter_ipv4_prefix_cloaks_a_network() {
        let c = Cloak {
            ipv4_prefix: 24,
            ..Cloak::with_key([7; 32], "confab")
        };
        assert_eq!(c.host(ip("203.0.113.9")), c.host(ip("203.0.113.200")));
        assert_ne!(c.host(ip("203.0.113.9")), c.host(ip("203.0.114.9")));
    }

    #[test]
    fn without_cloaks_hosts_are_addresses_that_irc_can_carry() {
        let c = Cloak::off();
        assert_eq!(c.host(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(c.host(ip("::1")), "0::1");
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32(b"f"), "my");
    }

    #[test]
    fn the_key_is_made_once_owner_only_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }
}
