//! [`Config`]: every setting of the server, with embedded defaults.
//!
//! The binary layers a TOML file, `CONFAB_*` environment variables and
//! command-line flags over [`Config::default`]; this module only knows the
//! shape, the defaults and what makes a config invalid.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use confab_core::{HubConfig, InputLimits, RoomModes, RoomName};
use serde::{Deserialize, Serialize};

/// The default port: not one that browsers refuse (6665–6669 are), and the
/// same for every door, since each listener detects the protocol.
pub const DEFAULT_PORT: u16 = 7777;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Addresses to listen on. The default binds every interface so that
    /// other computers can join. A string of comma-separated addresses is
    /// accepted too (handy in `CONFAB_LISTEN`); each is `IP:PORT`, `:PORT`
    /// or `localhost:PORT` ([`parse_listen_addr`]).
    #[serde(deserialize_with = "addrs")]
    pub listen: Vec<SocketAddr>,
    /// Where the server keeps its state; created on start.
    pub data_dir: PathBuf,
    pub chat: ChatConfig,
    pub accounts: AccountsConfig,
    pub storage: StorageConfig,
    pub audit: AuditConfig,
    pub cloak: CloakConfig,
    pub limits: Limits,
    pub irc: IrcConfig,
    pub http: HttpConfig,
    pub tls: TlsConfig,
    /// Dedicated listeners, each for one protocol (or `auto`), plain or
    /// TLS-only, beside the detecting ones of `listen`.
    pub listeners: Vec<ListenerConfig>,
    /// Server operators: `[[opers]]` blocks, each a name and the argon2id
    /// hash of its password (`confab user oper NAME` prints one). Any
    /// session on any door becomes an operator with `OPER name password`
    /// (`/oper` on the line door, `oper` on the WebSocket).
    pub opers: Vec<OperConfig>,
    /// Proxies in front of the server (nginx, Caddy, HAProxy, a load
    /// balancer) whose word on the client's address is believed.
    pub proxy: ProxyConfig,
}

/// `[proxy]`: which peers are proxies whose word on the real client's
/// address is believed (the PROXY protocol on listeners that expect it,
/// `X-Forwarded-For` / `Forwarded` on HTTP). Everyone else's headers are
/// ignored, so a client cannot choose the address limits, bans, cloaks and
/// the audit log see.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// The proxies' addresses: IPs or CIDR blocks (`127.0.0.1`,
    /// `10.0.0.0/8`, `::1`). Empty: no proxy is trusted, every peer is the
    /// client. A trusted proxy's own connections count toward
    /// `limits.max_connections` but not per address: the clients behind it
    /// are counted by their own addresses.
    pub trusted: Vec<String>,
}

/// A server operator: `[[opers]]` in the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperConfig {
    /// The oper name given to `OPER` (not a nick: any session may use it).
    pub name: String,
    /// The password's argon2id hash in PHC string format
    /// (`$argon2id$v=19$...`), as `confab user oper NAME` prints it.
    pub password_hash: String,
}

/// A dedicated listener: `[[listeners]]` in the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Where it listens, in the forms `listen` takes.
    #[serde(deserialize_with = "addr")]
    pub addr: SocketAddr,
    /// What every connection speaks; `auto` detects it as `listen` does.
    #[serde(default)]
    pub protocol: Protocol,
    /// Every connection must open with TLS (then `protocol` applies inside).
    #[serde(default)]
    pub tls: bool,
    /// Every connection opens with a PROXY protocol header (v1 or v2, as
    /// nginx's `proxy_protocol on` or HAProxy's `send-proxy` send it),
    /// which says who the client is. Only peers in `proxy.trusted` may
    /// connect; a connection without a valid header is refused.
    #[serde(default)]
    pub proxy_protocol: bool,
}

/// The protocol of a dedicated listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Detect it from the first bytes (TLS, HTTP, IRC, else the line
    /// protocol).
    #[default]
    Auto,
    /// The human line protocol (telnet, nc).
    Line,
    /// IRC.
    Irc,
    /// HTTP and WebSocket.
    Http,
}

/// The web door: HTTP, the REST API, WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The bearer token of the admin endpoints (announcements, audit log);
    /// empty disables them.
    pub admin_token: String,
    /// How long a login token stays valid, in seconds.
    pub token_ttl_secs: u64,
    /// Whether a valid token may be swapped for a fresh one (`POST
    /// /api/v1/token`), so a client in use never has to ask for the
    /// password again; off, every token ends `token_ttl_secs` after login.
    pub token_refresh: bool,
    /// Largest upload, in bytes (streamed to disk, never held in memory).
    pub max_upload_bytes: usize,
    /// Total bytes of uploads one account may keep; past it, uploads are
    /// refused (413 `quota_exceeded`) until some are deleted.
    pub upload_quota_bytes: u64,
    /// Uploads one account may start per hour (a sliding hour); past it,
    /// 429 `too_many_uploads` with `Retry-After`.
    pub uploads_per_hour: u32,
    /// Free space the uploads' filesystem must keep, in bytes: an upload
    /// that would leave less is refused (507 `disk_full`); 0 for no floor.
    pub upload_min_free_bytes: u64,
    /// Largest request body other than uploads, in bytes.
    pub max_body_bytes: usize,
    /// Largest WebSocket message a client may send, in bytes.
    pub max_ws_message_bytes: usize,
    /// Time a client has to send a request's headers, in milliseconds
    /// (slow clients are dropped).
    pub header_timeout_ms: u64,
    /// Silence on a WebSocket after which the server pings, in
    /// milliseconds; a client that does not answer within as long again is
    /// dropped.
    pub ws_ping_interval_ms: u64,
    /// The address people use to reach this server (`https://chat.example.org`),
    /// for links to uploads shown on other doors; empty: links are paths.
    /// Pages from this origin may use the API and WebSocket, as may the
    /// origin the browser asked for (its `Host`).
    pub public_url: String,
    /// Addresses (IPs or CIDR blocks) that may read `/metrics` without a
    /// token; anyone else needs the admin token. Empty: only the token.
    pub metrics_from: Vec<String>,
    /// Other sites whose pages may use the API and WebSocket
    /// (`https://app.example.org`; `*` for any). Browsers from any other
    /// origin are refused (403 `origin_not_allowed`).
    pub allowed_origins: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            admin_token: String::new(),
            token_ttl_secs: 30 * 24 * 3600,
            token_refresh: true,
            max_upload_bytes: 10 * 1024 * 1024,
            upload_quota_bytes: 100 * 1024 * 1024,
            uploads_per_hour: 60,
            upload_min_free_bytes: 1024 * 1024 * 1024,
            max_body_bytes: 64 * 1024,
            max_ws_message_bytes: 64 * 1024,
            header_timeout_ms: 10_000,
            ws_ping_interval_ms: 30_000,
            public_url: String::new(),
            allowed_origins: Vec::new(),
            metrics_from: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
        }
    }
}

/// TLS on every listener: a connection that opens with a TLS ClientHello
/// is served over TLS, then detected again inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; reloaded on SIGHUP.
    pub cert: Option<PathBuf>,
    /// PEM private key; reloaded on SIGHUP.
    pub key: Option<PathBuf>,
    /// Generate a self-signed certificate at start (for development).
    pub self_signed: bool,
    /// Time a client has to complete the TLS handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            self_signed: false,
            handshake_timeout_ms: 10_000,
        }
    }
}

impl TlsConfig {
    /// Whether TLS is configured at all.
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert.is_some()
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
}

/// The IRC door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrcConfig {
    /// The server's name in IRC messages (a host-like name).
    pub server_name: String,
    /// The network name advertised in `RPL_ISUPPORT` (`NETWORK=`).
    pub network: String,
    /// The message of the day, shown after registration; empty for none.
    pub motd: String,
    /// Silence after which the server sends a PING, in milliseconds.
    pub ping_interval_ms: u64,
    /// Time a client has to answer that PING before it is dropped.
    pub ping_timeout_ms: u64,
    /// Time a connection has to complete registration, in milliseconds.
    pub registration_timeout_ms: u64,
}

impl Default for IrcConfig {
    fn default() -> Self {
        IrcConfig {
            server_name: "confab.local".to_owned(),
            network: "confab".to_owned(),
            motd: "Welcome to confab. Same rooms from telnet, IRC and the web.".to_owned(),
            ping_interval_ms: 90_000,
            ping_timeout_ms: 60_000,
            registration_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Whether people may chat under a name that is not registered.
    pub allow_guests: bool,
    /// Shortest password `/register` accepts, in characters.
    pub min_password_len: usize,
    /// Failed logins from one address (on any door) before its logins
    /// are refused for the rest of `failed_login_window_secs`.
    pub max_failed_logins_per_address: u32,
    /// How long failed logins are remembered, in seconds. An account's
    /// own failures (from anywhere) slow its next logins down, doubling
    /// from a quarter second up to 8 s, for as long.
    pub failed_login_window_secs: u64,
    /// Accounts one address may register in an hour.
    pub registrations_per_address_per_hour: u32,
    /// Password hashes computed at once; more wait their turn.
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The SQLite database, relative to the data dir.
    pub database: PathBuf,
    /// `full`: every commit reaches the disk before anyone sees the
    /// messages in it (survives power loss). `normal`: commits reach the
    /// OS (survive a crash or `kill -9` of the server, not power loss).
    pub synchronous: Synchronous,
    /// Database connections that answer history, search and resume, each
    /// on its own thread, so these reads never hold up the hub (which
    /// writes); 0 reads on the hub thread.
    pub read_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Whether to write the audit log.
    pub enabled: bool,
    /// JSON lines of connections, commands, messages and errors, relative
    /// to the data dir.
    pub path: PathBuf,
    /// Whether private messages are logged with their text; when false the
    /// log says who wrote to whom and when, and `"text": null`.
    pub private_texts: bool,
}

/// Cloaked hosts: what other users see of where a user connects from
/// (IRC's `nick!ident@host`, WHOIS, WHO, ban masks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloakConfig {
    /// Whether hosts are cloaks (a keyed hash of the address, key in
    /// `data_dir/cloak.key`); when false every user sees every address.
    pub enabled: bool,
    /// The cloak's last label, as in `k3xq7m2a9fpw4ztc.confab`; empty for
    /// the IRC network name (`irc.network`, lowercased).
    pub suffix: String,
    /// How much of an IPv4 address is hashed: 32 gives every address its
    /// own cloak; 24 one cloak per /24 network (so a ban of the cloak
    /// holds whatever address of it the user comes back from).
    pub ipv4_prefix: u8,
    /// How much of an IPv6 address is hashed: 64 by default, as a home
    /// network gets a /64 and its hosts pick addresses in it at will.
    pub ipv6_prefix: u8,
}

impl Default for CloakConfig {
    fn default() -> Self {
        CloakConfig {
            enabled: true,
            suffix: String::new(),
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            allow_guests: true,
            min_password_len: 8,
            max_failed_logins_per_address: 20,
            failed_login_window_secs: 600,
            registrations_per_address_per_hour: 10,
            max_concurrent_hashes: 2,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database: PathBuf::from("confab.db"),
            synchronous: Synchronous::Full,
            read_connections: 2,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            path: PathBuf::from("audit.jsonl"),
            private_texts: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// The room every user joins on arrival; empty for none.
    pub default_room: String,
    /// Messages of history shown on joining a room.
    pub history_on_join: usize,
    /// Most messages one `/history` or `/search` shows.
    pub max_history: usize,
    /// The modes of a new room: `t` (only operators set the topic), `n`
    /// (no messages from outside), `m` (moderated), `i` (invite-only), `s`
    /// (secret).
    pub default_modes: String,
    /// Most entries in a room's ban list.
    pub max_bans: usize,
    /// Whether a private message to an offline guest name is kept for
    /// whoever next uses the name (the sender is told so); when off, it
    /// is refused with an error.
    pub keep_for_guests: bool,
    /// Names nobody may take as a nick, besides the services' (NickServ,
    /// ChanServ, OperServ, Global, ...) and the network's name.
    pub reserved_names: Vec<String>,
}

/// Every limit, by name. Bad input past a limit gets a clear error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest input line the line door accepts, in bytes.
    pub max_line_bytes: usize,
    /// Longest message body, in bytes.
    pub max_message_bytes: usize,
    /// Longest user name, in characters.
    pub max_nick_len: usize,
    /// Longest room name, `#` included.
    pub max_room_len: usize,
    /// Longest room topic, in bytes (IRC's TOPICLEN).
    pub max_topic_bytes: usize,
    /// Longest room key (mode `+k`), in bytes (IRC's KEYLEN).
    pub max_key_bytes: usize,
    /// Longest ban mask (mode `+b`, `nick!ident@host`), in bytes.
    pub max_ban_mask_bytes: usize,
    /// Longest away message, in bytes (IRC's AWAYLEN).
    pub max_away_bytes: usize,
    /// Longest real name, in bytes.
    pub max_realname_bytes: usize,
    /// Longest kick, part or quit reason, in bytes (IRC's KICKLEN).
    pub max_reason_bytes: usize,
    /// Events queued for one connection before it counts as too slow and
    /// is disconnected ("SendQ exceeded").
    pub send_queue: usize,
    /// Commands per second one account (or, for guests, one IP address)
    /// may send on average, whichever door and however many connections…
    pub rate_per_sec: f64,
    /// …and in one burst. Over it a door stops reading from the client
    /// until its next command is due (nothing is dropped); REST answers
    /// 429 with `Retry-After`.
    pub rate_burst: u32,
    /// The longest a connection is held for one command, in milliseconds;
    /// a client whose backlog would wait longer (many connections flooding
    /// as one account or address) is disconnected ("Excess flood").
    pub flood_max_wait_ms: u64,
    /// Private messages kept for one offline user (account or guest name)
    /// until they read them; past that, senders get an error.
    pub offline_queue: usize,
    /// Kept messages handed to a connection at once; the next page goes
    /// out once the client has taken this one. At most a quarter of
    /// `send_queue` is used, whatever this says.
    pub offline_page: usize,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: usize,
    /// Open connections, in all (fewer when the open-file limit leaves room
    /// for fewer: the server says so at start).
    pub max_connections: usize,
    /// Open connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Time a new connection has to choose a name, in milliseconds.
    pub login_timeout_ms: u64,
    /// How long a new connection may stay silent before the server decides
    /// it is a human on telnet and greets it, in milliseconds.
    pub sniff_timeout_ms: u64,
    /// Connections refused at `max_connections` or
    /// `max_connections_per_ip` that are being told so at once, each in
    /// its own protocol (which takes up to two `sniff_timeout_ms`: to
    /// hear what it speaks, then to say it); past this, the next refused
    /// connection is closed without a word.
    pub max_pending_refusals: usize,
    /// How long a silent plain connection from an address that made an
    /// HTTP request in the last minute may stay silent before it is
    /// greeted as telnet, in milliseconds, instead of `sniff_timeout_ms`:
    /// browsers open connections before they use them, and one greeted
    /// as telnet fails the request later sent on it. 0 (the default): off,
    /// as telnet users at such an address would wait this long for their
    /// greeting; over TLS or behind a proxy the question does not arise.
    pub browser_sniff_timeout_ms: u64,
    /// How long shutdown waits for queues to drain, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Addresses exempt from the rate limit: IPs or CIDR blocks
    /// (`127.0.0.1`, `10.0.0.0/8`, `::1/128`).
    pub flood_exempt: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))],
            data_dir: default_data_dir(),
            chat: ChatConfig::default(),
            accounts: AccountsConfig::default(),
            storage: StorageConfig::default(),
            audit: AuditConfig::default(),
            cloak: CloakConfig::default(),
            limits: Limits::default(),
            irc: IrcConfig::default(),
            http: HttpConfig::default(),
            tls: TlsConfig::default(),
            listeners: Vec::new(),
            opers: Vec::new(),
            proxy: ProxyConfig::default(),
        }
    }
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            default_room: "#general".to_owned(),
            history_on_join: 20,
            max_history: 200,
            default_modes: "nt".to_owned(),
            max_bans: 100,
            keep_for_guests: true,
            reserved_names: Vec::new(),
        }
    }
}

impl Limits {
    /// The core's input limits (keys, masks, topics, away messages, real
    /// names, reasons), as the hub checks them and IRC advertises them.
    pub fn input(&self) -> InputLimits {
        InputLimits {
            topic: self.max_topic_bytes,
            key: self.max_key_bytes,
            ban_mask: self.max_ban_mask_bytes,
            away: self.max_away_bytes,
            realname: self.max_realname_bytes,
            reason: self.max_reason_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 4096,
            max_message_bytes: 1024,
            max_nick_len: 20,
            max_room_len: 50,
            max_topic_bytes: 390,
            max_key_bytes: 23,
            max_ban_mask_bytes: 128,
            max_away_bytes: 200,
            max_realname_bytes: 50,
            max_reason_bytes: 200,
            send_queue: 1024,
            rate_per_sec: 5.0,
            rate_burst: 20,
            flood_max_wait_ms: 10_000,
            offline_queue: 1000,
            offline_page: 50,
            max_rooms_per_user: 50,
            max_connections: 10_000,
            max_connections_per_ip: 50,
            login_timeout_ms: 60_000,
            sniff_timeout_ms: 300,
            max_pending_refusals: 64,
            browser_sniff_timeout_ms: 0,
            shutdown_grace_ms: 5_000,
            flood_exempt: Vec::new(),
        }
    }
}

fn addrs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        Text(String),
    }
    let texts = match OneOrMany::deserialize(d)? {
        OneOrMany::Many(v) => v,
        OneOrMany::Text(s) => s.split(',').map(str::to_owned).collect(),
    };
    texts
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(|a| parse_listen_addr(a).map_err(serde::de::Error::custom))
        .collect()
}

fn addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parse_listen_addr(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// Parses an address to listen on: `IP:PORT` (`0.0.0.0:7777`,
/// `[::]:7777`), or one of two common shorthands: `:PORT` is every IPv4
/// interface (`0.0.0.0:PORT`, as the default), `localhost:PORT` is the
/// IPv4 loopback (`127.0.0.1:PORT`). Other host names are refused rather
/// than looked up: a listener binds addresses, and a name may stand for
/// several or change. Errors show the forms that work.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let examples = "give IP:PORT, like 0.0.0.0:7777 (every IPv4 interface), \
                    [::]:7777 (every IPv6 interface), 127.0.0.1:7777, :7777 or localhost:7777";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "{text:?} is not an address to listen on: {examples}"
        ));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(format!(
            "{text:?} has no valid port (0 to 65535): {examples}"
        ));
    };
    match host {
        "" => Ok(SocketAddr::from(([0, 0, 0, 0], port))),
        h if h.eq_ignore_ascii_case("localhost") => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        h if h.contains(':') && !h.starts_with('[') => Err(format!(
            "{text:?} is not an address to listen on: write an IPv6 address in brackets, \
             like [::1]:7777"
        )),
        _ => Err(format!(
            "{text:?} is not an address to listen on (host names are not looked up): {examples}"
        )),
    }
}

/// `$XDG_DATA_HOME/confab`, else `~/.local/share/confab`, else
/// `./confab-data`.
pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match base {
        Some(b) => b.join("confab"),
        None => PathBuf::from("confab-data"),
    }
}

/// Parses `ip` or `ip/bits`.
/// Whether `ip` is in any of the IPs or CIDR blocks of `list`.
fn in_any(list: &[String], ip: IpAddr) -> bool {
    list.iter()
        .filter_map(|e| parse_cidr(e).ok())
        .any(|(net, bits)| in_block(ip, net, bits))
}

pub(crate) fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip, bits) = match s.split_once('/') {
        Some((ip, bits)) => (ip, Some(bits)),
        None => (s, None),
    };
    let ip: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => b
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|&b| b <= max)
            .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
    };
    Ok((ip, bits))
}

/// Whether `ip` lies in the block `net/bits` (an IPv4-mapped IPv6 address
/// counts as IPv4).
pub(crate) fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// A setting that makes no sense, named by its config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {key}: {why}")]
pub struct ConfigError {
    pub key: &'static str,
    pub why: String,
}

fn bad(key: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        why: why.into(),
    }
}

/// What [`Config::redacted`] shows in place of a secret.
pub const HIDDEN: &str = "<hidden>";

impl Config {
    /// The config with its secrets replaced by [`HIDDEN`], for showing it
    /// (`confab serve --print-config`): the admin token and the opers'
    /// password hashes. An empty token stays empty, since it says
    /// something (the admin endpoints are off) and gives nothing away.
    /// Keep this in step with every secret a new setting adds.
    pub fn redacted(&self) -> Config {
        let mut shown = self.clone();
        if !shown.http.admin_token.is_empty() {
            shown.http.admin_token = HIDDEN.to_owned();
        }
        for oper in &mut shown.opers {
            oper.password_hash = HIDDEN.to_owned();
        }
        shown
    }

    /// Checks what serde cannot: ranges and names.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if self.listen.is_empty() && self.listeners.is_empty() {
            return Err(bad("listen", "give at least one address"));
        }
        // A printed config pasted back as a config file must not leave
        // the admin endpoints open to anyone who guesses "<hidden>".
        if self.http.admin_token == HIDDEN {
            return Err(bad(
                "http.admin_token",
                "\"<hidden>\" is what --print-config shows in place of the token; set the real one",
            ));
        }
        for (i, o) in self.opers.iter().enumerate() {
            if o.name.is_empty() || o.name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("opers.name", "give a name without spaces"));
            }
            if self.opers[..i].iter().any(|p| p.name == o.name) {
                return Err(bad("opers.name", "each oper name once"));
            }
            if !o.password_hash.starts_with("$argon2")
                || argon2::PasswordHash::new(&o.password_hash).is_err()
            {
                return Err(bad(
                    "opers.password_hash",
                    "give an argon2id hash in PHC format (confab user oper NAME prints one)",
                ));
            }
        }
        let positive: [(&'static str, u64); 16] = [
            ("limits.max_line_bytes", l.max_line_bytes as u64),
            ("limits.max_message_bytes", l.max_message_bytes as u64),
            ("limits.max_nick_len", l.max_nick_len as u64),
            ("limits.send_queue", l.send_queue as u64),
            ("limits.rate_burst", u64::from(l.rate_burst)),
            ("limits.max_rooms_per_user", l.max_rooms_per_user as u64),
            ("limits.max_connections", l.max_connections as u64),
            (
                "limits.max_connections_per_ip",
                l.max_connections_per_ip as u64,
            ),
            ("limits.login_timeout_ms", l.login_timeout_ms),
            ("limits.sniff_timeout_ms", l.sniff_timeout_ms),
            ("limits.max_pending_refusals", l.max_pending_refusals as u64),
            ("limits.offline_queue", l.offline_queue as u64),
            ("limits.offline_page", l.offline_page as u64),
            (
                "accounts.max_failed_logins_per_address",
                u64::from(self.accounts.max_failed_logins_per_address),
            ),
            (
                "accounts.failed_login_window_secs",
                self.accounts.failed_login_window_secs,
            ),
            (
                "accounts.max_concurrent_hashes",
                self.accounts.max_concurrent_hashes as u64,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(bad(key, "must be greater than 0"));
        }
        let input: [(&'static str, usize); 6] = [
            ("limits.max_topic_bytes", l.max_topic_bytes),
            ("limits.max_key_bytes", l.max_key_bytes),
            ("limits.max_ban_mask_bytes", l.max_ban_mask_bytes),
            ("limits.max_away_bytes", l.max_away_bytes),
            ("limits.max_realname_bytes", l.max_realname_bytes),
            ("limits.max_reason_bytes", l.max_reason_bytes),
        ];
        for (key, value) in input {
            if value == 0 {
                return Err(bad(key, "must be greater than 0"));
            }
            // Each is one IRC parameter of a 512-byte line.
            if value > 400 {
                return Err(bad(key, "must be at most 400 (it must fit an IRC line)"));
            }
        }
        let uploads: [(&'static str, u64); 3] = [
            ("http.max_upload_bytes", self.http.max_upload_bytes as u64),
            ("http.upload_quota_bytes", self.http.upload_quota_bytes),
            (
                "http.uploads_per_hour",
                u64::from(self.http.uploads_per_hour),
            ),
        ];
        if let Some((key, _)) = uploads.iter().find(|(_, v)| *v == 0) {
            return Err(bad(key, "must be greater than 0"));
        }
        if !(l.rate_per_sec.is_finite() && l.rate_per_sec > 0.0) {
            return Err(bad("limits.rate_per_sec", "must be a number above 0"));
        }
        if l.max_room_len < 2 {
            return Err(bad("limits.max_room_len", "must be at least 2"));
        }
        if l.max_line_bytes < l.max_message_bytes {
            return Err(bad(
                "limits.max_line_bytes",
                "must be at least limits.max_message_bytes",
            ));
        }
        self.default_room()?;
        self.default_modes()?;
        for entry in &l.flood_exempt {
            parse_cidr(entry).map_err(|why| bad("limits.flood_exempt", why))?;
        }
        for entry in &self.http.metrics_from {
            parse_cidr(entry).map_err(|why| bad("http.metrics_from", why))?;
        }
        for o in &self.http.allowed_origins {
            if o.trim() != "*" && crate::origin::origin_of(o).is_none() {
                let why = format!("{o:?} is not an origin; write it as https://host[:port] or *");
                return Err(bad("http.allowed_origins", why));
            }
        }
        let public = &self.http.public_url;
        if !public.is_empty() && crate::origin::origin_of(public).is_none() {
            return Err(bad(
                "http.public_url",
                "must be a URL like https://chat.example.org",
            ));
        }
        let irc = &self.irc;
        if irc.server_name.is_empty()
            || !irc
                .server_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            || !irc.server_name.contains('.')
        {
            return Err(bad(
                "irc.server_name",
                "must be a host name with a dot, like irc.example.org",
            ));
        }
        if irc.network.is_empty() || irc.network.contains(|c: char| c.is_whitespace()) {
            return Err(bad("irc.network", "must be one word"));
        }
        if irc.ping_interval_ms == 0 || irc.ping_timeout_ms == 0 || irc.registration_timeout_ms == 0
        {
            return Err(bad("irc", "timeouts must be greater than 0"));
        }
        self.validate_tls()?;
        self.validate_cloak()?;
        self.validate_proxy()?;
        Ok(())
    }

    /// Trusted proxies are addresses or blocks; a PROXY protocol listener
    /// needs someone to trust, or it would refuse everyone.
    fn validate_proxy(&self) -> Result<(), ConfigError> {
        for entry in &self.proxy.trusted {
            let (_, bits) = parse_cidr(entry).map_err(|why| bad("proxy.trusted", why))?;
            if bits == 0 {
                let why = format!(
                    "{entry:?} trusts every address, so any client could choose the address \
                     the server sees; list the proxies' own addresses"
                );
                return Err(bad("proxy.trusted", why));
            }
        }
        if let Some(l) = self.listeners.iter().find(|l| l.proxy_protocol)
            && self.proxy.trusted.is_empty()
        {
            return Err(bad(
                "proxy.trusted",
                format!(
                    "the listener on {} expects the PROXY protocol: list the proxies' \
                     addresses in proxy.trusted (e.g. [\"127.0.0.1\"])",
                    l.addr
                ),
            ));
        }
        Ok(())
    }

    /// A cloak's suffix is a host name's last labels; prefixes fit their
    /// address families.
    fn validate_cloak(&self) -> Result<(), ConfigError> {
        let c = &self.cloak;
        let host_like = |s: &str| {
            s.len() <= 63
                && s.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if !c.suffix.is_empty() && !host_like(&c.suffix) {
            return Err(bad(
                "cloak.suffix",
                "must be host name labels (letters, digits, '-', '.'), like users.example",
            ));
        }
        if !(8..=32).contains(&c.ipv4_prefix) {
            return Err(bad("cloak.ipv4_prefix", "must be from 8 to 32"));
        }
        if !(16..=128).contains(&c.ipv6_prefix) {
            return Err(bad("cloak.ipv6_prefix", "must be from 16 to 128"));
        }
        Ok(())
    }

    /// The last label of cloaked hosts: `cloak.suffix`, else the network
    /// name as a host label (lowercased, letters, digits and `-` only).
    pub fn cloak_suffix(&self) -> String {
        if !self.cloak.suffix.is_empty() {
            return self.cloak.suffix.to_ascii_lowercase();
        }
        let network: String = self
            .irc
            .network
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .map(|c| c.to_ascii_lowercase())
            .take(63)
            .collect();
        if network.is_empty() {
            "confab".to_owned()
        } else {
            network
        }
    }

    /// TLS files come in pairs, and a TLS-only listener needs TLS.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.tls;
        match (&tls.cert, &tls.key) {
            (Some(_), None) => return Err(bad("tls.key", "tls.cert needs a key too")),
            (None, Some(_)) => return Err(bad("tls.cert", "tls.key needs a certificate too")),
            (Some(_), Some(_)) if tls.self_signed => {
                return Err(bad(
                    "tls.self_signed",
                    "use either a certificate (tls.cert, tls.key) or a self-signed one",
                ));
            }
            _ => {}
        }
        if tls.handshake_timeout_ms == 0 {
            return Err(bad("tls.handshake_timeout_ms", "must be greater than 0"));
        }
        if let Some(l) = self.listeners.iter().find(|l| l.tls)
            && !tls.enabled()
        {
            return Err(bad(
                "listeners",
                format!(
                    "the listener on {} wants TLS: set tls.cert and tls.key, or tls.self_signed",
                    l.addr
                ),
            ));
        }
        Ok(())
    }

    /// The modes of a new room, parsed.
    pub fn default_modes(&self) -> Result<RoomModes, ConfigError> {
        RoomModes::from_flags(&self.chat.default_modes).map_err(|c| {
            bad(
                "chat.default_modes",
                format!("unknown mode {c:?}; use letters of t n m i s"),
            )
        })
    }

    /// Whether connections from `ip` are exempt from the rate limit.
    pub fn flood_exempt(&self, ip: IpAddr) -> bool {
        in_any(&self.limits.flood_exempt, ip)
    }

    /// Whether `ip` may read `/metrics` without the admin token.
    pub fn metrics_open_to(&self, ip: IpAddr) -> bool {
        in_any(&self.http.metrics_from, ip)
    }

    /// The default room, parsed; `None` when the setting is empty.
    pub fn default_room(&self) -> Result<Option<RoomName>, ConfigError> {
        let name = self.chat.default_room.trim();
        if name.is_empty() {
            return Ok(None);
        }
        RoomName::parse(name, self.limits.max_room_len)
            .map(Some)
            .map_err(|e| bad("chat.default_room", e.to_string()))
    }

    /// The hub's share of the settings.
    pub fn hub_config(&self) -> Result<HubConfig, ConfigError> {
        let l = &self.limits;
        Ok(HubConfig {
            default_room: self.default_room()?,
            offline_queue: l.offline_queue,
            // A page must fit in the queue beside the login's other events.
            offline_page: l.offline_page.min(l.send_queue / 4).max(1),
            keep_for_guests: self.chat.keep_for_guests,
            max_rooms_per_user: l.max_rooms_per_user,
            history_on_join: self.chat.history_on_join,
            max_history: self.chat.max_history.max(1),
            allow_guests: self.accounts.allow_guests,
            default_modes: self.default_modes()?,
            max_bans: self.chat.max_bans,
            whowas: 100,
            offload_reads: self.storage.read_connections > 0,
            input: l.input(),
            reserved: self.reserved_names(),
        })
    }
}

impl Config {
    /// The names reserved besides the core's list: the network's name
    /// (when it could be a nick) and `chat.reserved_names`.
    pub fn reserved_names(&self) -> Vec<confab_core::NickKey> {
        std::iter::once(&self.irc.network)
            .chain(&self.chat.reserved_names)
            .filter_map(|n| confab_core::Nick::parse(n, usize::MAX).ok())
            .map(|n| n.key())
            .collect()
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(&self.storage.database)
    }

    /// The audit log, if enabled.
    pub fn audit_path(&self) -> Option<PathBuf> {
        self.audit
            .enabled
            .then(|| self.data_dir.join(&self.audit.path))
    }
}

impl Limits {
    pub fn login_timeout(&self) -> Duration {
        Duration::from_millis(self.login_timeout_ms)
    }

    pub fn sniff_timeout(&self) -> Duration {
        Duration::from_millis(self.sniff_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
        let hub = Config::default().hub_config().unwrap();
        assert_eq!(hub.default_room.unwrap().as_str(), "#general");
    }

    #[test]
    fn oper_blocks_need_a_name_and_an_argon2_hash_and_names_are_reserved() {
        let oper = |name: &str, hash: &str| OperConfig {
            name: name.to_owned(),
            password_hash: hash.to_owned(),
        };
        let good = crate::auth::hash("oper-password");
        let mut c = Config {
            opers: vec![oper("root", &good)],
            ..Config::default()
        };
        c.validate().unwrap();
        for (opers, key) in [
            (vec![oper("root", "plaintext")], "opers.password_hash"),
            (vec![oper("", &good)], "opers.name"),
            (vec![oper("a b", &good)], "opers.name"),
            (vec![oper("root", &good), oper("root", &good)], "opers.name"),
        ] {
            c.opers = opers;
            assert_eq!(c.validate().unwrap_err().key, key);
        }
        let mut c = Config::default();
        c.chat.reserved_names = vec!["Staff".into(), "not a nick".into()];
        let keys: Vec<String> = c
            .hub_config()
            .unwrap()
            .reserved
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        assert_eq!(keys, ["confab", "staff"]);
    }

    #[test]
    fn redacting_hides_the_admin_token_and_oper_hashes_and_nothing_else() {
        let mut c = Config::default();
        assert_eq!(c.redacted(), c, "an empty token gives nothing away");
        c.http.admin_token = "s3cret".into();
        c.opers = vec![OperConfig {
            name: "root".into(),
            password_hash: crate::auth::hash("oper-password"),
        }];
        let shown = c.redacted();
        assert_eq!(shown.http.admin_token, HIDDEN);
        assert_eq!(shown.opers[0].password_hash, HIDDEN);
        assert_eq!(shown.opers[0].name, "root");
        let mut back = shown.clone();
        back.http.admin_token = c.http.admin_token.clone();
        back.opers = c.opers.clone();
        assert_eq!(back, c);
        // Pasted back as a config, the placeholder is refused, not used.
        assert_eq!(shown.validate().unwrap_err().key, "http.admin_token");
    }

    #[test]
    fn zero_limits_and_bad_rooms_are_named() {
        let mut c = Config::default();
        c.limits.send_queue = 0;
        assert_eq!(c.validate().unwrap_err().key, "limits.send_queue");
        let mut c = Config::default();
        c.chat.default_room = "#bad room".into();
        assert_eq!(c.validate().unwrap_err().key, "chat.default_room");
        let mut c = Config::default();
        c.chat.default_room = String::new();
        assert_eq!(c.default_room().unwrap(), None);
    }

    #[test]
    fn input_limits_reach_the_hub_and_are_checked() {
        let hub = Config::default().hub_config().unwrap();
        assert_eq!(hub.input, InputLimits::default());
        let mut c = Config::default();
        c.limits.max_topic_bytes = 100;
        c.limits.max_reason_bytes = 50;
        let input = c.hub_config().unwrap().input;
        assert_eq!((input.topic, input.reason), (100, 50));
        let mut c = Config::default();
        c.limits.max_key_bytes = 0;
        assert_eq!(c.validate().unwrap_err().key, "limits.max_key_bytes");
        let mut c = Config::default();
        c.limits.max_ban_mask_bytes = 401;
        assert_eq!(c.validate().unwrap_err().key, "limits.max_ban_mask_bytes");
    }

    #[test]
    fn a_page_of_kept_messages_fits_well_inside_the_send_queue() {
        let mut c = Config::default();
        c.limits.offline_page = 0;
        assert_eq!(c.validate().unwrap_err().key, "limits.offline_page");
        c.limits.send_queue = 40;
        c.limits.offline_page = 11;
        c.validate().unwrap();
        let hub = c.hub_config().unwrap();
        assert_eq!((hub.offline_page, hub.keep_for_guests), (10, true));
        c.limits.send_queue = 2;
        assert_eq!(c.hub_config().unwrap().offline_page, 1);
    }

    #[test]
    fn cloak_suffixes_are_host_labels_and_default_to_the_network() {
        let mut c = Config::default();
        assert_eq!(c.cloak_suffix(), "confab");
        c.irc.network = "My_Net!".into();
        assert_eq!(c.cloak_suffix(), "mynet");
        c.cloak.suffix = "Users.Example".into();
        c.validate().unwrap();
        assert_eq!(c.cloak_suffix(), "users.example");
        for bad in ["a b", "x@y", "a..b", ".a", "a!b"] {
            c.cloak.suffix = bad.into();
            assert_eq!(c.validate().unwrap_err().key, "cloak.suffix", "{bad}");
        }
        let mut c = Config::default();
        c.cloak.ipv4_prefix = 33;
        assert_eq!(c.validate().unwrap_err().key, "cloak.ipv4_prefix");
        let mut c = Config::default();
        c.cloak.ipv6_prefix = 8;
        assert_eq!(c.validate().unwrap_err().key, "cloak.ipv6_prefix");
    }

    #[test]
    fn tls_settings_are_checked() {
        let mut c = Config::default();
        c.tls.cert = Some("cert.pem".into());
        assert_eq!(c.validate().unwrap_err().key, "tls.key");
        c.tls.key = Some("key.pem".into());
        c.validate().unwrap();
        c.tls.self_signed = true;
        assert_eq!(c.validate().unwrap_err().key, "tls.self_signed");
        let mut c = Config::default();
        c.listeners.push(ListenerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            protocol: Protocol::Irc,
            tls: true,
            proxy_protocol: false,
        });
        assert_eq!(c.validate().unwrap_err().key, "listeners");
        c.tls.self_signed = true;
        c.listen.clear();
        c.validate().unwrap();
    }

    #[test]
    fn trusted_proxies_are_addresses_and_a_proxy_protocol_listener_needs_one() {
        let mut c = Config::default();
        c.proxy.trusted = vec!["127.0.0.1".into(), "10.0.0.0/8".into(), "::1".into()];
        c.validate().unwrap();
        c.listeners.push(ListenerConfig {
            addr: "127.0.0.1:7001".parse().unwrap(),
            protocol: Protocol::Auto,
            tls: false,
            proxy_protocol: true,
        });
        c.validate().unwrap();
        for bad in ["nginx", "10.0.0.0/33", "0.0.0.0/0", "::/0"] {
            c.proxy.trusted = vec![bad.into()];
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, "proxy.trusted", "{bad}");
        }
        c.proxy.trusted.clear();
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "proxy.trusted");
        assert!(e.to_string().contains("127.0.0.1:7001"), "{e}");
    }

    #[test]
    fn listen_addresses_take_shorthands_and_refuse_names_with_examples() {
        let ok = |text: &str, want: &str| {
            assert_eq!(parse_listen_addr(text), Ok(want.parse().unwrap()), "{text}");
        };
        ok("0.0.0.0:7777", "0.0.0.0:7777");
        ok("[::]:7777", "[::]:7777");
        ok(" 127.0.0.1:0 ", "127.0.0.1:0");
        ok(":7777", "0.0.0.0:7777");
        ok("localhost:8080", "127.0.0.1:8080");
        ok("LocalHost:1", "127.0.0.1:1");
        for bad in [
            "example.org:7777",
            "7777",
            "nowhere",
            "localhost:http",
            "::1:7777",
        ] {
            let e = parse_listen_addr(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
            assert!(
                e.contains("[::1]:7777") || e.contains("0.0.0.0:7777"),
                "{e}"
            );
        }
        // The forms work in every place an address is read.
        let c: Config = serde_json::from_str(
            r#"{"listen": ":7001, localhost:7002", "listeners": [{"addr": ":7003"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.listen,
            [
                "0.0.0.0:7001".parse().unwrap(),
                "127.0.0.1:7002".parse().unwrap()
            ]
        );
        assert_eq!(c.listeners[0].addr, "0.0.0.0:7003".parse().unwrap());
        let e = serde_json::from_str::<Config>(r#"{"listen": ["host:1"]}"#).unwrap_err();
        assert!(
            e.to_string().contains("host names are not looked up"),
            "{e}"
        );
    }

    #[test]
    fn listeners_deserialize_with_defaults() {
        let c: Config = serde_json::from_str(
            r#"{"listen": [], "listeners": [
                {"addr": "127.0.0.1:6697", "protocol": "irc", "tls": true},
                {"addr": "127.0.0.1:8080"}]}"#,
        )
        .unwrap();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].protocol, Protocol::Irc);
        assert!(c.listeners[0].tls);
        assert_eq!(c.listeners[1].protocol, Protocol::Auto);
        assert!(!c.listeners[1].tls);
    }
}
