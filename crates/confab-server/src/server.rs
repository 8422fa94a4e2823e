//! [`Server`]: binds the listeners, accepts connections, enforces the
//! connection limits, detects each connection's protocol (TLS, then again
//! inside it; HTTP; IRC; else the line protocol), hands it to its door,
//! and shuts down gracefully.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use confab_core::Hub;
use confab_core::store::{
    Account, Conversation, HistoryQuery, KeptFor, Op, Snapshot, Store, StoreError, Visibility,
};
use confab_core::{Message, MsgId, Nick, NickKey, RoomKey, Timestamp, Topic};
use confab_store::{SqliteOptions, SqliteStore};

use crate::audit::AuditLog;
use crate::config::{Config, ConfigError, Protocol, Synchronous};
use crate::hub_task::{ConnOutbox, HubHandle, spawn_hub};
use crate::metrics::ConnGauge;
use crate::rewind::{Io, Rewind};
use crate::tls::{Tls, TlsError};
use crate::{http, irc, line};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot use data dir {path}: {error}")]
    DataDir { path: PathBuf, error: io::Error },
    #[error("cannot listen on {addr}: {error}")]
    Bind { addr: SocketAddr, error: io::Error },
    #[error("cannot use the database: {error}")]
    Store { error: StoreError },
    #[error("cannot open the audit log {path}: {error}")]
    Audit { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A server with its listeners bound, ready to [`Server::run`].
pub struct Server {
    config: Arc<Config>,
    listeners: Vec<(TcpListener, Mode)>,
    tls: Option<Tls>,
    hub: Hub<ConnOutbox>,
    audit: Option<AuditLog>,
    tokens: http::Tokens,
    uploads: http::upload_index::Index,
    cloak: crate::cloak::Cloak,
    readers: Option<Arc<crate::reads::Readers>>,
}

/// Writes a file in the data dir that only its owner may read (keys),
/// durably.
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
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
pub fn create_private_dir(path: &std::path::Path) -> io::Result<()> {
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
pub fn create_private_file(path: &std::path::Path) -> io::Result<()> {
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

/// A store that times its commits for the metrics (the histogram's
/// handle registered once).
struct Timed<S>(S, metrics::Histogram);

impl<S: Store> Store for Timed<S> {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.0.load()
    }
    fn commit(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let start = std::time::Instant::now();
        let result = self.0.commit(ops);
        self.1.record(start.elapsed());
        result
    }
    fn account(&mut self, name: &NickKey) -> Result<Option<Account>, StoreError> {
        self.0.account(name)
    }
    fn create_account(
        &mut self,
        name: &Nick,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Account, StoreError> {
        self.0.create_account(name, password_hash, now)
    }
    fn set_password(
        &mut self,
        name: &NickKey,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.0.set_password(name, password_hash, now)
    }
    fn revoke_tokens(&mut self, name: &NickKey, before: Timestamp) -> Result<(), StoreError> {
        self.0.revoke_tokens(name, before)
    }
    fn revoke_token(&mut self, id: &str, expires: Timestamp) -> Result<(), StoreError> {
        self.0.revoke_token(id, expires)
    }
    fn revoked_tokens(&mut self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        self.0.revoked_tokens(now)
    }
    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        self.0.accounts()
    }
    fn topic(&mut self, room: &RoomKey) -> Result<Option<Topic>, StoreError> {
        self.0.topic(room)
    }
    fn history(
        &mut self,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        self.0.history(conversation, query)
    }
    fn conversations(
        &mut self,
        who: &Visibility,
        after: Timestamp,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Conversation, Timestamp)>, StoreError> {
        self.0.conversations(who, after, before, limit)
    }
    fn search(
        &mut self,
        who: &Visibility,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.0.search(who, query, limit)
    }
    fn since(
        &mut self,
        who: &Visibility,
        after: MsgId,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.0.since(who, after, limit)
    }
    fn pending(&mut self, to: &KeptFor, limit: usize) -> Result<Vec<Message>, StoreError> {
        self.0.pending(to, limit)
    }
}

/// Opens the configured database (creating and migrating it as needed).
pub fn open_store(config: &Config) -> Result<SqliteStore, StartError> {
    let path = config.database_path();
    let synchronous = match config.storage.synchronous {
        Synchronous::Full => confab_store::Synchronous::Full,
        Synchronous::Normal => confab_store::Synchronous::Normal,
    };
    if !path.exists()
        && let Err(error) = create_private_file(&path)
    {
        return Err(StartError::DataDir { path, error });
    }
    SqliteStore::open(&path, SqliteOptions { synchronous })
        .map_err(|error| StartError::Store { error })
}

impl Server {
    /// Checks the config, prepares the data dir and binds every listener,
    /// so that any mistake shows before the server claims to be up.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        config.validate()?;
        let data_dir_error = |error| StartError::DataDir {
            path: config.data_dir.clone(),
            error,
        };
        if config.data_dir.exists() && !config.data_dir.is_dir() {
            let error = io::Error::new(io::ErrorKind::NotADirectory, "it is not a directory");
            return Err(data_dir_error(error));
        }
        create_private_dir(&config.data_dir).map_err(data_dir_error)?;
        let store = open_store(&config)?;
        crate::metrics::handle();
        let timed = Timed(
            store,
            metrics::histogram!(crate::metrics::STORE_COMMIT_SECONDS),
        );
        let mut hub = Hub::with_store(config.hub_config()?, Box::new(timed))
            .map_err(|error| StartError::Store { error })?;
        let audit = match config.audit_path() {
            Some(path) => Some(
                AuditLog::open(&path, config.audit.private_texts)
                    .map_err(|error| StartError::Audit { path, error })?,
            ),
            None => None,
        };
        let tokens = http::Tokens::load_or_create(&config.data_dir).map_err(|error| {
            StartError::DataDir {
                path: config.data_dir.join("token.key"),
                error,
            }
        })?;
        // Tokens logged out one by one stay logged out across restarts.
        let revoked = hub
            .revoked_tokens(crate::hub_task::now())
            .map_err(|error| StartError::Store { error })?;
        tokens.load_revoked(revoked);
        // History, search and resume read on connections of their own.
        let readers =
            crate::reads::Readers::start(&config).map_err(|error| StartError::Store { error })?;
        let uploads_dir = config.data_dir.join(http::uploads::DIR);
        let uploads = http::upload_index::Index::open(&uploads_dir, crate::hub_task::now().0)
            .map_err(|error| StartError::DataDir {
                path: uploads_dir,
                error,
            })?;
        let cloak =
            crate::cloak::Cloak::from_config(&config).map_err(|error| StartError::DataDir {
                path: config.data_dir.join("cloak.key"),
                error,
            })?;
        let tls = Tls::from_config(&config)?;
        let detecting = Mode {
            protocol: Protocol::Auto,
            tls_only: false,
        };
        let dedicated = config.listeners.iter().map(|l| {
            let mode = Mode {
                protocol: l.protocol,
                tls_only: l.tls,
            };
            (l.addr, mode)
        });
        let mut listeners = Vec::new();
        for (addr, mode) in config
            .listen
            .iter()
            .map(|&a| (a, detecting))
            .chain(dedicated)
        {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|error| StartError::Bind { addr, error })?;
            listeners.push((l, mode));
        }
        Ok(Server {
            config: Arc::new(config),
            listeners,
            tls,
            hub,
            audit,
            tokens,
            uploads,
            cloak,
            readers,
        })
    }

    /// The addresses actually bound (port 0 resolved): those of `listen`,
    /// then those of `listeners`, in config order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// The TLS settings, to reload the certificate files (on SIGHUP);
    /// `None` when TLS is off.
    pub fn tls_reloader(&self) -> Option<Tls> {
        self.tls.clone()
    }

    /// Serves until `shutdown` resolves, then tells every user, flushes
    /// their queues (up to the grace period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let config = self.config;
        let (hub, hub_thread) = spawn_hub(
            self.hub,
            self.audit,
            crate::flood::Gate::new(&config),
            crate::auth::Guard::new(crate::auth::GuardRule::from_config(&config.accounts)),
            Arc::new(self.cloak),
            self.readers,
        );
        let limiter = Arc::new(Limiter::new(
            config.limits.max_connections,
            config.limits.max_connections_per_ip,
        ));
        // Every connection task holds a clone of `alive`; when they have
        // all ended, `all_done` yields `None`.
        let (alive, mut all_done) = mpsc::channel::<()>(1);
        let mut accepting = JoinSet::new();
        let router = http::router(Arc::new(http::AppState {
            hub: hub.clone(),
            config: config.clone(),
            tokens: self.tokens,
            uploads: self.uploads,
        }));
        for (listener, mode) in self.listeners {
            let ctx = AcceptCtx {
                config: config.clone(),
                hub: hub.clone(),
                limiter: limiter.clone(),
                router: router.clone(),
                tls: self.tls.clone(),
                mode,
                _alive: alive.clone(),
                hold: None,
            };
            accepting.spawn(accept_loop(listener, ctx));
        }
        drop(alive);
        shutdown.await;
        info!("shutting down");
        accepting.abort_all();
        while accepting.join_next().await.is_some() {}
        let _ = hub.shutdown("the server is shutting down".to_owned()).await;
        drop(hub);
        let grace = config.limits.shutdown_grace();
        if timeout(grace, all_done.recv()).await.is_err() {
            warn!(?grace, "some connections did not close in time");
        }
        let _ = tokio::task::spawn_blocking(move || hub_thread.join()).await;
        info!("stopped");
    }
}

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
struct Mode {
    protocol: Protocol,
    /// Every connection must open with TLS.
    tls_only: bool,
}

#[derive(Clone)]
struct AcceptCtx {
    config: Arc<Config>,
    hub: HubHandle,
    limiter: Arc<Limiter>,
    router: axum::Router,
    tls: Option<Tls>,
    mode: Mode,
    /// Held, never used: dropped when the connection ends.
    _alive: mpsc::Sender<()>,
    /// The connection's admission and `alive` sender, once admitted.
    hold: Option<http::Hold>,
}

async fn accept_loop(listener: TcpListener, ctx: AcceptCtx) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: say so, back off a
                // little and go on; the listener itself is fine.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        // `ctx` holds an `alive` sender until the connection ends.
        tokio::spawn(handle(stream, peer, ctx));
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, mut ctx: AcceptCtx) {
    let guard = match ctx.limiter.admit(peer.ip()) {
        Ok(guard) => guard,
        Err(why) => {
            info!(%peer, why, "connection refused");
            let line = format!("*** Error: {why}; try again later\r\n");
            let _ = timeout(ctx.config.limits.sniff_timeout(), async {
                let _ = stream.write_all(line.as_bytes()).await;
                let _ = stream.shutdown().await;
            })
            .await;
            return;
        }
    };
    // The connection's place in the limits and in the shutdown wait, kept
    // by whatever serves it: a WebSocket outlives its HTTP exchange.
    ctx.hold = Some(http::Hold::new((guard, ctx._alive.clone())));
    let _ = stream.set_nodelay(true);
    let sniff_timeout = ctx.config.limits.sniff_timeout();
    if ctx.mode.tls_only {
        if let Some(tls) = handshake(stream, peer, &ctx).await {
            serve_as(tls, peer, ctx.mode.protocol, sniff_timeout, &ctx).await;
        }
        return;
    }
    if ctx.mode.protocol != Protocol::Auto {
        serve_fixed(stream, peer, ctx.mode.protocol, Bytes::new(), &ctx).await;
        return;
    }
    let Some(initial) = sniff(&mut stream, sniff_timeout).await else {
        return;
    };
    if !crate::tls::looks_like_tls(&initial) {
        detect(stream, peer, initial, &ctx).await;
    } else if ctx.tls.is_some() {
        if let Some(tls) = handshake(Rewind::new(initial, stream), peer, &ctx).await {
            serve_as(tls, peer, Protocol::Auto, sniff_timeout, &ctx).await;
        }
    } else {
        info!(%peer, "TLS handshake refused: TLS is not configured");
    }
}

/// Completes the server side of a TLS handshake within the configured
/// time; `None` (logged) if it fails or the client stalls.
async fn handshake<S: Io>(
    stream: S,
    peer: SocketAddr,
    ctx: &AcceptCtx,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    let Some(tls) = &ctx.tls else {
        warn!(%peer, "TLS-only listener without TLS settings");
        return None;
    };
    let limit = ctx.config.tls.handshake_timeout();
    match timeout(limit, tls.acceptor().accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            info!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            info!(%peer, ?limit, "TLS handshake timed out");
            None
        }
    }
}

/// Serves `stream` (just out of a TLS handshake) as `protocol`, detecting
/// it again from the first bytes when `Auto`.
async fn serve_as<S: Io>(
    mut stream: S,
    peer: SocketAddr,
    protocol: Protocol,
    sniff_timeout: Duration,
    ctx: &AcceptCtx,
) {
    if protocol != Protocol::Auto {
        serve_fixed(stream, peer, protocol, Bytes::new(), ctx).await;
        return;
    }
    if let Some(initial) = sniff(&mut stream, sniff_timeout).await {
        detect(stream, peer, initial, ctx).await;
    }
}

/// Reads what a client says first, waiting up to `limit`: empty if it
/// stays silent, `None` if it closes or fails.
async fn sniff<S: Io>(stream: &mut S, limit: Duration) -> Option<Bytes> {
    let mut first = vec![0u8; 1024];
    match timeout(limit, stream.read(&mut first)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(n)) => {
            first.truncate(n);
            Some(Bytes::from(first))
        }
        Err(_) => Some(Bytes::new()),
    }
}

/// Protocol detection: a client that speaks first shows what it is; one
/// that stays silent is a human at a telnet prompt. An HTTP request line
/// is the web door; an IRC client opens with CAP, NICK, PASS or USER;
/// anything else is the line protocol.
async fn detect<S: Io>(stream: S, peer: SocketAddr, initial: Bytes, ctx: &AcceptCtx) {
    let protocol = if http::looks_like_http(&initial) {
        Protocol::Http
    } else if irc::looks_like_irc(&initial) {
        Protocol::Irc
    } else {
        Protocol::Line
    };
    debug!(%peer, ?protocol, "detected");
    serve_fixed(stream, peer, protocol, initial, ctx).await;
}

/// Hands `stream`, whose first bytes `initial` were already read, to the
/// door of `protocol` (`Auto` counts as the line protocol).
async fn serve_fixed<S: Io>(
    stream: S,
    peer: SocketAddr,
    protocol: Protocol,
    initial: Bytes,
    ctx: &AcceptCtx,
) {
    let (hub, config) = (ctx.hub.clone(), ctx.config.clone());
    match protocol {
        Protocol::Http => {
            let header_timeout = Duration::from_millis(config.http.header_timeout_ms);
            let stream = Rewind::new(initial, stream);
            let hold = ctx.hold.clone().expect("admitted before serving");
            http::serve(stream, peer, ctx.router.clone(), header_timeout, hold).await;
        }
        Protocol::Irc => {
            let _gauge = ConnGauge::new("irc");
            irc::conn::serve(stream, peer, initial, hub, config).await;
        }
        Protocol::Line | Protocol::Auto => {
            let _gauge = ConnGauge::new("line");
            line::conn::serve(stream, peer, initial, hub, config).await;
        }
    }
}

/// Counts open connections, in all and per address.
struct Limiter {
    max: usize,
    per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

struct Admitted {
    limiter: Arc<Limiter>,
    ip: IpAddr,
}

impl Limiter {
    fn new(max: usize, per_ip: usize) -> Limiter {
        Limiter {
            max,
            per_ip,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, &'static str> {
        let mut open = self.open.lock().expect("not poisoned");
        let (total, by_ip) = &mut *open;
        if *total >= self.max {
            return Err("the server is full");
        }
        let n = by_ip.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return Err("too many connections from your address");
        }
        *n += 1;
        *total += 1;
        Ok(Admitted {
            limiter: self.clone(),
            ip,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().expect("not poisoned");
        let (total, by_ip) = &mut *open;
        *total -= 1;
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
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
        let a1 = l.admit(a).unwrap();
        let _a2 = l.admit(a).unwrap();
        assert_eq!(
            l.admit(a).err(),
            Some("too many connections from your address")
        );
        let _b1 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).err(), Some("the server is full"));
        drop(a1);
        let _b2 = l.admit(b).unwrap();
        assert_eq!(l.open.lock().unwrap().1.len(), 2);
    }
}
