//! [`Server`]: binds the listeners, accepts connections, learns who each
//! is (a PROXY protocol header from a trusted proxy, `peer.rs`), enforces
//! the connection limits (refusing in the client's own protocol), detects
//! each connection's protocol (TLS, then again inside it; HTTP; IRC; else
//! the line protocol), hands it to its door, and shuts down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use confab_core::Hub;
use confab_core::store::{Store, StoreError};
use confab_store::{SqliteOptions, SqliteStore};

use crate::audit::AuditLog;
use crate::config::{Config, ConfigError, Protocol, Synchronous};
use crate::hub_task::{ConnOutbox, HubHandle, spawn_hub};
use crate::metrics::ConnGauge;
use crate::peer::{Full, Limiter, Proxies};
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
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
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
    /// Signalled when the store thread ends a commit.
    committed: crate::store_thread::Committed,
    audit: Option<AuditLog>,
    tokens: crate::tokens::Tokens,
    uploads: crate::uploads::Index,
    cloak: crate::cloak::Cloak,
    readers: Option<Arc<crate::reads::Readers>>,
    /// Held until `run` returns: one server per data dir.
    lock: crate::lock::DataDirLock,
    /// The open-file limit in force, raised to the hard one at `bind`.
    files: Option<u64>,
    /// Its connections parked now (`park`).
    parked: crate::hub_task::ParkedCount,
}

/// Opens the configured database (creating and migrating it as needed).
pub fn open_store(config: &Config) -> Result<SqliteStore, StartError> {
    let path = config.database_path();
    let synchronous = match config.storage.synchronous {
        Synchronous::Full => confab_store::Synchronous::Full,
        Synchronous::Normal => confab_store::Synchronous::Normal,
    };
    if !path.exists()
        && let Err(error) = crate::files::create_private_file(&path)
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
        let files = crate::fds::raise_limit();
        let data_dir_error = |error| StartError::DataDir {
            path: config.data_dir.clone(),
            error,
        };
        if config.data_dir.exists() && !config.data_dir.is_dir() {
            let error = io::Error::new(io::ErrorKind::NotADirectory, "it is not a directory");
            return Err(data_dir_error(error));
        }
        crate::files::create_private_dir(&config.data_dir).map_err(data_dir_error)?;
        // Before anything in the data dir is read or written.
        let lock = crate::lock::DataDirLock::acquire(&config.data_dir)?;
        let mut store = open_store(&config)?;
        // Checkpoints beside the commits, not inside one of them.
        store
            .checkpoint_in_background()
            .map_err(|error| StartError::Store { error })?;
        // The search index beside the commits too, in its own file.
        store
            .index_in_background()
            .map_err(|error| StartError::Store { error })?;
        crate::metrics::handle();
        // Account lookups (every guest login) on a connection of their own.
        let accounts: Box<dyn Store> = Box::new(open_store(&config)?);
        let (store, committed) = crate::store_thread::spawn(Box::new(store), Some(accounts))
            .map_err(|error| StartError::Store {
                error: StoreError::Other(format!("could not start the store thread: {error}")),
            })?;
        let mut hub = Hub::with_store(config.hub_config()?, Box::new(store))
            .map_err(|error| StartError::Store { error })?;
        let audit = match config.audit_path() {
            Some(path) => Some(
                AuditLog::open(&path, config.audit.private_texts)
                    .map_err(|error| StartError::Audit { path, error })?,
            ),
            None => None,
        };
        let tokens = crate::tokens::Tokens::load_or_create(&config.data_dir).map_err(|error| {
            StartError::DataDir {
                path: config.data_dir.join("token.key"),
                error,
            }
        })?;
        // Tokens logged out one by one stay logged out across restarts.
        let revoked = hub
            .revoked_tokens(crate::time::now())
            .map_err(|error| StartError::Store { error })?;
        tokens.load_revoked(revoked);
        // History, search and resume read on connections of their own.
        let readers =
            crate::reads::Readers::start(&config).map_err(|error| StartError::Store { error })?;
        let uploads_dir = config.data_dir.join(crate::uploads::DIR);
        let uploads =
            crate::uploads::Index::open(&uploads_dir, crate::time::now().0).map_err(|error| {
                StartError::DataDir {
                    path: uploads_dir,
                    error,
                }
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
            proxy_protocol: false,
        };
        let dedicated = config.listeners.iter().map(|l| {
            let mode = Mode {
                protocol: l.protocol,
                tls_only: l.tls,
                proxy_protocol: l.proxy_protocol,
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
            let l = listen(addr).map_err(|error| StartError::Bind { addr, error })?;
            listeners.push((l, mode));
        }
        Ok(Server {
            config: Arc::new(config),
            listeners,
            tls,
            hub,
            committed,
            audit,
            tokens,
            uploads,
            cloak,
            readers,
            lock,
            files,
            parked: crate::hub_task::ParkedCount::default(),
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

    /// How many of its connections are parked (`park`), while it runs.
    pub fn parked(&self) -> crate::hub_task::ParkedCount {
        self.parked.clone()
    }

    /// Serves until `shutdown` resolves, then tells every user, flushes
    /// their queues (up to the grace period) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let _lock = self.lock;
        let config = self.config;
        let (hub, hub_thread) = spawn_hub(
            self.hub,
            Some(self.committed),
            self.audit,
            crate::hub_task::ForDoors {
                flood: crate::flood::Gate::new(&config),
                guard: crate::auth::Guard::new(crate::auth::GuardRule::from_config(
                    &config.accounts,
                )),
                cloak: Arc::new(self.cloak),
                readers: self.readers,
                parked: self.parked,
            },
        );
        let limits = &config.limits;
        let cap = crate::fds::connection_cap(
            limits.max_connections,
            self.files,
            limits.max_pending_refusals,
        );
        if cap < limits.max_connections {
            warn!(
                max_connections = limits.max_connections,
                open_file_limit = self.files,
                admitted = cap,
                "the open-file limit leaves room for fewer connections than \
                 limits.max_connections: past {cap}, clients are told the server is full \
                 (raise the hard limit: `ulimit -Hn`, systemd's LimitNOFILE)"
            );
        }
        let limiter = Arc::new(Limiter::new(cap, limits.max_connections_per_ip));
        let proxies = Arc::new(Proxies::from_config(&config));
        let refusing = Arc::new(tokio::sync::Semaphore::new(
            config.limits.max_pending_refusals,
        ));
        let recent_http = Arc::new(RecentHttp::default());
        // Every connection task holds a clone of `alive`; when they have
        // all ended, `all_done` yields `None`.
        let (alive, mut all_done) = mpsc::channel::<()>(1);
        let mut accepting = JoinSet::new();
        let router = http::router(Arc::new(http::AppState {
            hub: hub.clone(),
            config: config.clone(),
            tokens: self.tokens,
            uploads: self.uploads,
            limiter: limiter.clone(),
        }));
        for (listener, mode) in self.listeners {
            let ctx = AcceptCtx {
                config: config.clone(),
                hub: hub.clone(),
                limiter: limiter.clone(),
                proxies: proxies.clone(),
                refusing: refusing.clone(),
                recent_http: recent_http.clone(),
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
        let reason = "the server is shutting down";
        let _ = hub.shutdown(reason.to_owned()).await;
        // Those still logging in, whom the hub does not know, and HTTP.
        hub.close_unattached(reason);
        drop(hub);
        let grace = config.limits.shutdown_grace();
        if timeout(grace, all_done.recv()).await.is_err() {
            warn!(?grace, "some connections did not close in time");
        }
        let _ = tokio::task::spawn_blocking(move || hub_thread.join()).await;
        info!("stopped");
    }
}

/// A listening socket on `addr`, as tokio's `TcpListener::bind` makes one
/// (address reuse on Unix, so a restart need not wait out TIME_WAIT), but
/// an IPv6 one takes IPv6 only: Linux's default dual-stack socket would
/// also claim the port on IPv4, and `0.0.0.0:7777` beside `[::]:7777`
/// would fail with "address in use".
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What a listener serves.
#[derive(Debug, Clone, Copy)]
struct Mode {
    protocol: Protocol,
    /// Every connection must open with TLS.
    tls_only: bool,
    /// Every connection opens with a PROXY protocol header.
    proxy_protocol: bool,
}

#[derive(Clone)]
struct AcceptCtx {
    config: Arc<Config>,
    hub: HubHandle,
    limiter: Arc<Limiter>,
    proxies: Arc<Proxies>,
    /// Places for refused connections being told so
    /// (`limits.max_pending_refusals`).
    refusing: Arc<tokio::sync::Semaphore>,
    /// Addresses that spoke HTTP lately.
    recent_http: Arc<RecentHttp>,
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

async fn handle(mut stream: TcpStream, tcp_peer: SocketAddr, mut ctx: AcceptCtx) {
    let _ = stream.set_nodelay(true);
    let sniff_timeout = ctx.config.limits.sniff_timeout();
    // Who the client is: the TCP peer, or whom a trusted proxy's PROXY
    // protocol header names (with the client's first bytes, if they came
    // with it).
    let (peer, first) = if ctx.mode.proxy_protocol {
        if !ctx.proxies.trusts(tcp_peer.ip()) {
            warn!(
                peer = %tcp_peer,
                "connection refused: this listener expects the PROXY protocol, \
                 and the address is not in proxy.trusted"
            );
            return;
        }
        let reading = Box::pin(crate::peer::read_proxy_header(&mut stream, sniff_timeout));
        match reading.await {
            Ok((client, first)) => (client.unwrap_or(tcp_peer), first),
            Err(e) => {
                warn!(peer = %tcp_peer, error = %e, "connection refused on a PROXY protocol listener");
                return;
            }
        }
    } else {
        (tcp_peer, Bytes::new())
    };
    let stream = Rewind::new(first, stream);
    // A trusted proxy's own connections count in all but not per
    // address: the clients behind it are counted by their addresses.
    let counted = (!ctx.proxies.trusts(peer.ip())).then_some(peer.ip());
    let guard = match ctx.limiter.admit(counted) {
        Ok(guard) => guard,
        Err(why) => {
            let refusing = Box::pin(refuse(stream, peer, why, &ctx));
            refusing.await;
            return;
        }
    };
    // The connection's place in the limits and in the shutdown wait, kept
    // by whatever serves it: a WebSocket outlives its HTTP exchange.
    ctx.hold = Some(http::Hold::new((guard, ctx._alive.clone())));
    if ctx.mode.tls_only {
        let serving = {
            let shaking = Box::pin(handshake(stream, peer, &ctx));
            let Some(tls) = shaking.await else { return };
            Box::pin(serve_as(tls, peer, ctx.mode.protocol, sniff_timeout, &ctx))
        };
        serving.await;
        return;
    }
    if ctx.mode.protocol != Protocol::Auto {
        serve_fixed(stream, peer, ctx.mode.protocol, Bytes::new(), &ctx).await;
        return;
    }
    let mut stream = stream;
    // A browser that spoke HTTP from here lately may hold an idle
    // connection open before it uses it: give it longer before taking it
    // for telnet (when configured).
    let browser_sniff = ctx.config.limits.browser_sniff_timeout_ms;
    let plain_sniff = if browser_sniff > 0 && ctx.recent_http.lately(peer.ip()) {
        sniff_timeout.max(Duration::from_millis(browser_sniff))
    } else {
        sniff_timeout
    };
    // (Boxed, and freed once done: a connection's task keeps the size
    // of every future it awaited.)
    let sniffed = {
        let sniffing = Box::pin(sniff(&mut stream, plain_sniff));
        sniffing.await
    };
    let Some(initial) = sniffed else {
        return;
    };
    if !crate::tls::looks_like_tls(&initial) {
        let serving = Box::pin(detect(stream, peer, initial, &ctx));
        serving.await;
    } else if ctx.tls.is_some() {
        let serving = {
            let shaking = Box::pin(handshake(Rewind::new(initial, stream), peer, &ctx));
            let Some(tls) = shaking.await else { return };
            Box::pin(serve_as(tls, peer, Protocol::Auto, sniff_timeout, &ctx))
        };
        serving.await;
    } else {
        info!(%peer, "TLS handshake refused: TLS is not configured");
    }
}

/// Tells a connection refused at the connection limits why, in its own
/// protocol: HTTP 503 with a JSON body and `Retry-After`, IRC `ERROR`,
/// the line protocol's text. That takes hearing what it speaks, within
/// `limits.sniff_timeout_ms` (a silent client is a human on telnet), then
/// as long again to write and close. A refused connection gets no session,
/// costs the hub nothing and takes one of `limits.max_pending_refusals`
/// places while it is told; with none free it is closed without a word.
///
/// TLS is refused with a plain TLS alert (`internal_error`) and no
/// handshake: a handshake costs the server a signature, which is just the
/// work a flood of connections at the limit must not buy.
async fn refuse<S: Io>(mut stream: S, peer: SocketAddr, why: Full, ctx: &AcceptCtx) {
    let Ok(_place) = ctx.refusing.clone().try_acquire_owned() else {
        debug!(%peer, why = why.message(), "connection refused without a word: too many refusals under way");
        return;
    };
    let limit = ctx.config.limits.sniff_timeout();
    let initial = sniff(&mut stream, limit).await.unwrap_or_default();
    let protocol = if ctx.mode.tls_only || crate::tls::looks_like_tls(&initial) {
        None
    } else if ctx.mode.protocol == Protocol::Auto {
        Some(classify(&initial))
    } else {
        Some(ctx.mode.protocol)
    };
    info!(%peer, why = why.message(), ?protocol, "connection refused");
    let answer = match protocol {
        // A fatal alert record, `internal_error`: no handshake needed.
        None => vec![0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50],
        Some(Protocol::Http) => http::refusal(why),
        Some(Protocol::Irc) => irc::render::refusal(why.message()),
        Some(Protocol::Line | Protocol::Auto) => line::render::refusal(why.message()),
    };
    let _ = timeout(limit, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Read what else the client sends until it closes, so that the
        // close does not reset the connection before it reads the answer.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
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
            // A copy: the 1 KiB read buffer is not kept with it.
            Some(Bytes::copy_from_slice(&first[..n]))
        }
        Err(_) => Some(Bytes::new()),
    }
}

/// Protocol detection: a client that speaks first shows what it is; one
/// that stays silent is a human at a telnet prompt. An HTTP request line
/// is the web door; an IRC client opens with CAP, NICK, PASS or USER;
/// anything else is the line protocol.
async fn detect<S: Io>(stream: S, peer: SocketAddr, initial: Bytes, ctx: &AcceptCtx) {
    if crate::peer::looks_like_proxy_header(&initial) {
        warn!(
            %peer,
            "connection refused: it sent a PROXY protocol header to a listener that does \
             not expect one (set proxy_protocol on a [[listeners]] entry for the proxy)"
        );
        return;
    }
    let protocol = classify(&initial);
    debug!(%peer, ?protocol, "detected");
    if protocol == Protocol::Http && ctx.config.limits.browser_sniff_timeout_ms > 0 {
        ctx.recent_http.saw(peer.ip());
    }
    serve_fixed(stream, peer, protocol, initial, ctx).await;
}

/// The protocol a client's first bytes show: an HTTP request line, IRC's
/// first words, else (silence too) the line protocol.
fn classify(initial: &[u8]) -> Protocol {
    if http::looks_like_http(initial) {
        Protocol::Http
    } else if irc::looks_like_irc(initial) {
        Protocol::Irc
    } else {
        Protocol::Line
    }
}

/// Hands `stream`, whose first bytes `initial` were already read, to the
/// door of `protocol` (`Auto` counts as the line protocol). The IRC and
/// line doors get a task of their own (holding the connection's place), so
/// that what detection took ends here and an idle connection's task is
/// its door's alone; HTTP is boxed, so it is the size of its own.
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
            let proxies = ctx.proxies.clone();
            let serving = Box::pin(http::serve(
                stream,
                peer,
                ctx.router.clone(),
                header_timeout,
                hold,
                proxies,
                hub.stopping(),
            ));
            serving.await;
        }
        Protocol::Irc => {
            let serving = irc::conn::serve(stream, peer, initial, hub, config);
            spawn_door(ctx, "irc", serving);
        }
        Protocol::Line | Protocol::Auto => {
            let serving = line::conn::serve(stream, peer, initial, hub, config);
            spawn_door(ctx, "line", serving);
        }
    }
}

/// Runs a chat door's connection in a task of its own (or parked,
/// `park::spawn`), with the guards that hold the connection's place and
/// count it in the door's gauge.
fn spawn_door<C: crate::park::Door>(
    ctx: &AcceptCtx,
    door: &'static str,
    serving: impl std::future::Future<Output = Option<crate::park::Parked<C>>> + Send + 'static,
) {
    let guards = (ctx.hold.clone(), ConnGauge::new(door));
    crate::park::spawn(guards, serving);
}

/// Addresses that spoke HTTP in the last [`RecentHttp::WINDOW`], so that
/// a silent plain connection from one is given
/// `limits.browser_sniff_timeout_ms` (when set) rather than
/// `limits.sniff_timeout_ms` before it is greeted as telnet:
/// browsers open connections ahead of need and leave them idle, and one
/// greeted as telnet fails the request later sent on it. A telnet user at
/// such an address waits longer for the greeting, or presses Enter.
#[derive(Default)]
struct RecentHttp(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, Instant>>);

impl RecentHttp {
    /// How long an address counts as a browser's after its last request.
    const WINDOW: Duration = Duration::from_secs(60);
    /// Addresses remembered at most (the oldest are forgotten first, once
    /// they are out of the window; new ones are not remembered while the
    /// table is full of fresh ones).
    const MAX: usize = 4096;

    fn saw(&self, ip: std::net::IpAddr) {
        let now = Instant::now();
        let mut seen = self.0.lock().expect("not poisoned");
        if seen.len() >= Self::MAX && !seen.contains_key(&ip) {
            seen.retain(|_, t| now.duration_since(*t) < Self::WINDOW);
            if seen.len() >= Self::MAX {
                return;
            }
        }
        seen.insert(ip, now);
    }

    fn lately(&self, ip: std::net::IpAddr) -> bool {
        let seen = self.0.lock().expect("not poisoned");
        seen.get(&ip).is_some_and(|t| t.elapsed() < Self::WINDOW)
    }
}
