//! Server-wide bans (K-lines): by account, by `nick!ident@host` glob, or
//! by address (an IP or a CIDR block), each with a reason, who set it,
//! when, and an optional expiry. The hub enforces them at every login and
//! on the sessions already connected when one is added; the store keeps
//! them (`Op::Kline`, `Op::Unkline`).

use std::fmt;
use std::net::IpAddr;

use crate::event::Timestamp;
use crate::names::{Nick, NickKey};

/// What a K-line matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KlineMask {
    /// An account, by name: `$a:name` (as solanum's and ergo's extbans).
    Account(NickKey),
    /// A `nick!ident@host` glob (`*` and `?`), lowercased; `ident@host`
    /// alone means any nick.
    User(String),
    /// An address or a block of them: `192.0.2.7`, `2001:db8::/32`.
    Address(IpAddr, u8),
}

/// Why a mask is not a K-line mask.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a K-line mask: give $a:account, nick!ident@host (or ident@host), or an address or CIDR block"
)]
pub struct BadMask;

impl KlineMask {
    /// Reads a mask as an operator writes it.
    pub fn parse(s: &str) -> Result<KlineMask, BadMask> {
        let s = s.trim();
        if s.is_empty() || s.len() > 200 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BadMask);
        }
        if let Some(name) = s.strip_prefix("$a:") {
            let nick = Nick::parse(name, usize::MAX).map_err(|_| BadMask)?;
            return Ok(KlineMask::Account(nick.key()));
        }
        if s.contains('@') || s.contains('!') {
            let (nick, rest) = match s.split_once('!') {
                Some((n, r)) => (n, r),
                None => ("*", s),
            };
            let (ident, host) = rest.split_once('@').unwrap_or((rest, "*"));
            if nick.is_empty() || ident.is_empty() || host.is_empty() || host.contains('@') {
                return Err(BadMask);
            }
            let glob = format!("{nick}!{ident}@{host}").to_ascii_lowercase();
            if glob == "*!*@*" {
                // Everyone: that is what lockdown is for.
                return Err(BadMask);
            }
            return Ok(KlineMask::User(glob));
        }
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| BadMask)?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.parse::<u8>().map_err(|_| BadMask)?,
            None => max,
        };
        if bits > max || bits < max / 4 {
            // A block wider than a /8 (or an IPv6 /32) bans a continent.
            return Err(BadMask);
        }
        Ok(KlineMask::Address(mask_ip(ip, bits), bits))
    }

    /// Whether a user with this account, `nick!ident@host` and address
    /// matches.
    pub fn matches(&self, account: Option<&NickKey>, user_mask: &str, ip: Option<IpAddr>) -> bool {
        match self {
            KlineMask::Account(key) => account == Some(key),
            KlineMask::User(glob) => crate::hub::glob_match(glob, user_mask),
            KlineMask::Address(net, bits) => {
                ip.is_some_and(|ip| ip.is_ipv4() == net.is_ipv4() && mask_ip(ip, *bits) == *net)
            }
        }
    }
}

fn mask_ip(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let n = u32::from(v4);
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            IpAddr::V4((n & m).into())
        }
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            IpAddr::V6((n & m).into())
        }
    }
}

impl fmt::Display for KlineMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KlineMask::Account(key) => write!(f, "$a:{}", key.as_str()),
            KlineMask::User(glob) => f.write_str(glob),
            KlineMask::Address(ip, bits) => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if *bits == max {
                    write!(f, "{ip}")
                } else {
                    write!(f, "{ip}/{bits}")
                }
            }
        }
    }
}

/// A server-wide ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    pub mask: KlineMask,
    pub reason: String,
    /// The operator who set it (`admin` for the REST admin).
    pub by: String,
    pub set: Timestamp,
    /// When it lapses; `None`: never.
    pub expires: Option<Timestamp>,
}

impl Kline {
    /// Whether it still holds at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn masks_parse_into_their_kind_and_print_canonically() {
        let cases = [
            ("$a:Alice", "$a:alice"),
            ("*@bad.host", "*!*@bad.host"),
            ("Bob!*@*", "bob!*@*"),
            ("192.0.2.7", "192.0.2.7"),
            ("192.0.2.99/24", "192.0.2.0/24"),
            ("2001:db8::1/32", "2001:db8::/32"),
        ];
        for (input, shown) in cases {
            assert_eq!(
                KlineMask::parse(input).unwrap().to_string(),
                shown,
                "{input}"
            );
        }
        for bad in [
            "",
            "*!*@*",
            "*@*",
            "a b@c",
            "10.0.0.0/4",
            "::/8",
            "$a:",
            "nonsense",
            "a@b@c",
        ] {
            assert_eq!(KlineMask::parse(bad), Err(BadMask), "{bad:?}");
        }
    }

    #[test]
    fn masks_match_accounts_globs_and_address_blocks() {
        let acct = Nick::parse("alice", 30).unwrap().key();
        let a = KlineMask::parse("$a:ALICE").unwrap();
        assert!(a.matches(Some(&acct), "x!y@z", None));
        assert!(!a.matches(None, "alice!alice@z", None));
        let u = KlineMask::parse("*!*@*.bad.net").unwrap();
        assert!(u.matches(None, "Eve!e@host.BAD.net", None));
        assert!(!u.matches(None, "eve!e@good.net", None));
        let n = KlineMask::parse("198.51.100.0/24").unwrap();
        assert!(n.matches(None, "x!y@z", ip("198.51.100.200")));
        assert!(!n.matches(None, "x!y@z", ip("198.51.101.1")));
        assert!(!n.matches(None, "x!y@z", ip("::1")));
        assert!(!n.matches(None, "x!y@z", None));
    }
}
