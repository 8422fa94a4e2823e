//! Who is on the other end of a connection, and whether it is let in.
//!
//! A connection's *peer* is the address that every rule about addresses
//! sees: the connection limits ([`Limiter`]), the flood gate's keys, the
//! auth guard, cloaks, K-lines (`ClientInfo::addr`) and the audit log. It
//! is the TCP peer, unless that is a trusted proxy (`[proxy] trusted`,
//! [`Proxies`]) that says who the client is:
//!
//! - on a listener with `proxy_protocol`, by a PROXY protocol header (v1
//!   or v2) before anything else ([`read_proxy_header`]), read by the
//!   listener, which then hands the client's address to the door as its
//!   peer;
//! - on HTTP, by `Forwarded` (RFC 7239) or `X-Forwarded-For`
//!   ([`Proxies::client`]), read for each request by the web door, which
//!   puts the client's address in the request as its `ConnectInfo`.
//!
//! Nothing else reads an address off a socket or a header, so a client
//! cannot choose the address the rules see, and a proxy in front does not
//! make every client one address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use ppp::{HeaderResult, PartialResult};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::{Config, in_block, parse_cidr};

/// The trusted proxies of `[proxy] trusted`, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Proxies(Vec<(IpAddr, u8)>);

impl Proxies {
    /// The blocks of `proxy.trusted` (already validated).
    pub fn from_config(config: &Config) -> Proxies {
        Proxies(
            config
                .proxy
                .trusted
                .iter()
                .filter_map(|e| parse_cidr(e).ok())
                .collect(),
        )
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(net, bits)| in_block(ip, net, bits))
    }

    /// The client of an HTTP request that came over a connection from
    /// `peer`. Only a trusted proxy's headers count: walking its
    /// `Forwarded` (else `X-Forwarded-For`) list from the right, the
    /// first address that is not itself a trusted proxy is the client
    /// (what is left of it was written by the client or by proxies nobody
    /// vouches for). An entry that is not an address (`unknown`, an
    /// obfuscated name) stops the walk at the proxy that wrote it.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.0.is_empty() || !self.trusts(peer.ip()) {
            return peer;
        }
        let mut client = peer;
        for hop in forwarded_chain(headers).into_iter().rev() {
            match hop {
                Some(addr) => {
                    client = addr;
                    if !self.trusts(addr.ip()) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// Marks a request whose client address came from a trusted proxy's
/// headers rather than from the connection (the web door counts such a
/// client against the per-address limit when its WebSocket opens).
#[derive(Debug, Clone, Copy)]
pub struct Forwarded;

/// The addresses a request came through, oldest first: the `for=` of
/// every `Forwarded` element if the request has that header, else every
/// `X-Forwarded-For` entry. `None` stands for an entry that is not an
/// address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<SocketAddr>> {
    let forwarded = headers.get_all(axum::http::header::FORWARDED);
    if forwarded.iter().next().is_some() {
        return forwarded
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("unknown").split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| node(v))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("unknown").split(','))
        .map(node)
        .collect()
}

/// One node of a forwarding list: `192.0.2.1`, `2001:db8::1`,
/// `"[2001:db8::1]:4711"`, `192.0.2.1:4711`; a port that is missing or
/// obfuscated is 0. `None` for `unknown`, obfuscated names and garbage.
fn node(s: &str) -> Option<SocketAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 0));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        },
    };
    let ip = host.parse::<IpAddr>().ok()?;
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(0);
    Some(SocketAddr::new(ip, port))
}

/// Why a connection on a PROXY protocol listener was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("it closed before its PROXY protocol header")]
    Closed,
    #[error("no PROXY protocol header within {0:?}")]
    Timeout(Duration),
    #[error("its PROXY protocol header is invalid: {0}")]
    Invalid(String),
    #[error("reading its PROXY protocol header failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The longest PROXY protocol header: v2's 16 bytes and a 16-bit length.
const MAX_HEADER: usize = 16 + u16::MAX as usize;

/// Reads the PROXY protocol header (v1 or v2) a connection opens with,
/// within `limit`. Gives the client's address (`None` when the proxy
/// speaks for itself: v2 `LOCAL`, v1 `UNKNOWN`, a Unix socket) and what
/// came after the header, which is the client's first bytes.
pub async fn read_proxy_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Result<(Option<SocketAddr>, Bytes), ProxyHeaderError> {
    let read = async {
        let mut buf = Vec::with_capacity(256);
        loop {
            let mut chunk = [0u8; 512];
            let want = chunk.len().min(MAX_HEADER + 1 - buf.len());
            let n = stream.read(&mut chunk[..want]).await?;
            if n == 0 {
                return Err(ProxyHeaderError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some((client, len)) = parse_proxy_header(&buf)? {
                return Ok((client, Bytes::copy_from_slice(&buf[len..])));
            }
            if buf.len() > MAX_HEADER {
                return Err(ProxyHeaderError::Invalid("too long".to_owned()));
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .map_err(|_| ProxyHeaderError::Timeout(limit))?
}

/// Parses the PROXY protocol header at the start of `buf`: `Ok(None)`
/// while it is incomplete, else the client's address (if it names one)
/// and the header's length.
fn parse_proxy_header(buf: &[u8]) -> Result<Option<(Option<SocketAddr>, usize)>, ProxyHeaderError> {
    let parsed = HeaderResult::parse(buf);
    if parsed.is_incomplete() {
        return Ok(None);
    }
    let invalid = |e: &dyn std::fmt::Display| ProxyHeaderError::Invalid(e.to_string());
    Ok(Some(match parsed {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Unknown => None,
            };
            (client, h.header.len())
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (ppp::v2::Command::Local, _) => None,
                (_, ppp::v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (_, ppp::v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (_, ppp::v2::Addresses::Unix(_) | ppp::v2::Addresses::Unspecified) => None,
            };
            (client, h.len())
        }
        HeaderResult::V1(Err(e)) => return Err(invalid(&e)),
        HeaderResult::V2(Err(e)) => return Err(invalid(&e)),
    }))
}

/// Whether a connection's first bytes are a PROXY protocol header (on a
/// listener that does not expect one: refused, as its sender is a
/// misconfigured proxy or someone pretending to be one).
pub fn looks_like_proxy_header(first: &[u8]) -> bool {
    const V2: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
    first.starts_with(b"PROXY ") || first.starts_with(V2)
}

/// Seconds a client refused at the connection limits is told to wait
/// (HTTP's `Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 10;

/// Why a connection was refused at the connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `limits.max_connections`.
    Server,
    /// `limits.max_connections_per_ip`.
    Address,
}

impl Full {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Full::Server => "the server is full",
            Full::Address => "too many connections from your address",
        }
    }

    /// The REST error code.
    pub fn code(self) -> &'static str {
        match self {
            Full::Server => "server_full",
            Full::Address => "too_many_connections",
        }
    }
}

/// Counts open connections, in all and per client address.
pub struct Limiter {
    max: usize,
    per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// A place in the limits, given back when dropped.
pub struct Admitted {
    limiter: Arc<Limiter>,
    /// Whether it counts toward the total.
    total: bool,
    /// The address it counts against, if any.
    ip: Option<IpAddr>,
}

impl Limiter {
    pub fn new(max: usize, per_ip: usize) -> Limiter {
        Limiter {
            max,
            per_ip,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    /// Admits a connection, counted in all and, unless it is a trusted
    /// proxy's own (`ip` is `None`: the clients behind it are counted by
    /// their own addresses), against its address.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Admitted, Full> {
        self.take(true, ip)
    }

    /// Admits a client that a trusted proxy's connection (already counted
    /// in all) carries: counted against its own address only.
    pub fn admit_forwarded(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Full> {
        self.take(false, Some(ip))
    }

    fn take(self: &Arc<Self>, total: bool, ip: Option<IpAddr>) -> Result<Admitted, Full> {
        let mut open = self.open.lock().expect("not poisoned");
        let (all, by_ip) = &mut *open;
        if total && *all >= self.max {
            return Err(Full::Server);
        }
        if let Some(ip) = ip {
            let n = by_ip.entry(ip).or_insert(0);
            if *n >= self.per_ip {
                return Err(Full::Address);
            }
            *n += 1;
        }
        if total {
            *all += 1;
        }
        Ok(Admitted {
            limiter: self.clone(),
            total,
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().expect("not poisoned");
        let (all, by_ip) = &mut *open;
        if self.total {
            *all -= 1;
        }
        if let Some(ip) = self.ip
            && let Some(n) = by_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_address_and_in_all() {
        let l = Arc::new(Limiter::new(3, 2));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = l.admit(Some(a)).unwrap();
        let _a2 = l.admit(Some(a)).unwrap();
        assert_eq!(l.admit(Some(a)).err(), Some(Full::Address));
        let _b1 = l.admit(Some(b)).unwrap();
        assert_eq!(l.admit(Some(b)).err(), Some(Full::Server));
        drop(a1);
        let _b2 = l.admit(Some(b)).unwrap();
        assert_eq!(l.open.lock().unwrap().1.len(), 2);
    }

    #[test]
    fn a_proxy_counts_in_all_and_its_clients_per_address() {
        let l = Arc::new(Limiter::new(2, 1));
        let client: IpAddr = [192, 0, 2, 1].into();
        let _p1 = l.admit(None).unwrap();
        let _p2 = l.admit(None).unwrap();
        assert_eq!(l.admit(None).err(), Some(Full::Server));
        let c1 = l.admit_forwarded(client).unwrap();
        assert_eq!(l.admit_forwarded(client).err(), Some(Full::Address));
        drop(c1);
        let _c2 = l.admit_forwarded(client).unwrap();
        assert_eq!(l.open.lock().unwrap().0, 2);
    }

    fn proxies(list: &[&str]) -> Proxies {
        let mut config = Config::default();
        config.proxy.trusted = list.iter().map(|s| (*s).to_owned()).collect();
        Proxies::from_config(&config)
    }

    fn client(p: &Proxies, peer: &str, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        p.client(peer.parse().unwrap(), &map).to_string()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let p = proxies(&["10.0.0.0/8", "::1"]);
        let xff = |v| [("x-forwarded-for", v)];
        // Not a proxy: its headers are the client's own words.
        assert_eq!(
            client(&p, "192.0.2.9:5000", &xff("203.0.113.7")),
            "192.0.2.9:5000"
        );
        // A proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client(&p, "10.0.0.1:5000", &xff("203.0.113.7")),
            "203.0.113.7:0"
        );
        assert_eq!(
            client(&p, "10.0.0.1:5000", &xff("1.1.1.1, 203.0.113.7, 10.0.0.2")),
            "203.0.113.7:0"
        );
        // Several header lines read as one list.
        assert_eq!(
            client(
                &p,
                "10.0.0.1:1",
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.8")
                ]
            ),
            "203.0.113.8:0"
        );
        // Garbage stops at the proxy that passed it on.
        assert_eq!(
            client(&p, "10.0.0.1:5000", &xff("203.0.113.7, nonsense")),
            "10.0.0.1:5000"
        );
        // All proxies: the leftmost.
        assert_eq!(
            client(&p, "10.0.0.1:5000", &xff("10.0.0.3, 10.0.0.2")),
            "10.0.0.3:0"
        );
        // No header: the proxy itself.
        assert_eq!(client(&p, "10.0.0.1:5000", &[]), "10.0.0.1:5000");
        // IPv4-mapped IPv6 peers are IPv4.
        assert_eq!(
            client(&p, "[::ffff:10.0.0.1]:5000", &xff("203.0.113.7")),
            "203.0.113.7:0"
        );
        // No proxies: never.
        assert_eq!(
            client(&proxies(&[]), "10.0.0.1:5000", &xff("203.0.113.7")),
            "10.0.0.1:5000"
        );
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_says_and_wins_over_x_forwarded_for() {
        let p = proxies(&["::1"]);
        let fwd = |v| [("forwarded", v), ("x-forwarded-for", "198.51.100.1")];
        assert_eq!(
            client(
                &p,
                "[::1]:1",
                &fwd("for=192.0.2.60;proto=http;by=203.0.113.43")
            ),
            "192.0.2.60:0"
        );
        assert_eq!(
            client(
                &p,
                "[::1]:1",
                &fwd("for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\"")
            ),
            "[2001:db8:cafe::17]:4711"
        );
        assert_eq!(
            client(&p, "[::1]:1", &fwd("For=\"[2001:db8::1]\"")),
            "[2001:db8::1]:0"
        );
        assert_eq!(client(&p, "[::1]:1", &fwd("for=unknown")), "[::1]:1");
        assert_eq!(client(&p, "[::1]:1", &fwd("for=_hidden")), "[::1]:1");
        assert_eq!(client(&p, "[::1]:1", &fwd("proto=https")), "[::1]:1");
    }

    #[test]
    fn proxy_headers_parse_in_both_versions() {
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 4711 7777\r\nNICK a\r\n";
        let (client, len) = parse_proxy_header(v1).unwrap().unwrap();
        assert_eq!(client, Some("203.0.113.7:4711".parse().unwrap()));
        assert_eq!(&v1[len..], b"NICK a\r\n");
        let v1 = b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 7777\r\n";
        let (client, _) = parse_proxy_header(v1).unwrap().unwrap();
        assert_eq!(client, Some("[2001:db8::7]:4711".parse().unwrap()));
        let (client, len) = parse_proxy_header(b"PROXY UNKNOWN\r\n").unwrap().unwrap();
        assert_eq!((client, len), (None, 15));
        // Incomplete: wait for more.
        assert!(
            parse_proxy_header(b"PROXY TCP4 203.0.113.7 10.0")
                .unwrap()
                .is_none()
        );
        assert!(parse_proxy_header(b"\r\n\r\n\0").unwrap().is_none());
        // Not a header.
        assert!(parse_proxy_header(b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_proxy_header(b"PROXY TCP4 nonsense 10.0.0.1 1 2\r\n").is_err());

        let v2 = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (
                "203.0.113.7:4711".parse::<SocketAddr>().unwrap(),
                "10.0.0.1:7777".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        assert!(looks_like_proxy_header(&v2));
        let mut bytes = v2.clone();
        bytes.extend_from_slice(b"hello");
        let (client, len) = parse_proxy_header(&bytes).unwrap().unwrap();
        assert_eq!(client, Some("203.0.113.7:4711".parse().unwrap()));
        assert_eq!(&bytes[len..], b"hello");
        assert!(parse_proxy_header(&v2[..20]).unwrap().is_none());
    }
}
