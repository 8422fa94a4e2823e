//! The `confab` binary: command-line parsing, config layering, logging and
//! signals. Everything else lives in the library crates; `client.rs` wires
//! the terminal client (`confab connect`, `confab chat`).

mod client;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use confab_server::{Config, Server};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit built from.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CONFAB_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "confab",
    version = LONG_VERSION,
    about = "One chat server for telnet, IRC, the web and the terminal."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server. With no flags it runs on embedded defaults.
    Serve(ServeArgs),
    /// Chat: join the server answering on --listen (default port 7777 on
    /// this machine), or host one there. Run it in two terminals for a
    /// two-person chat.
    ///
    /// Exit codes: 0 quit, 1 the server is unreachable or gone, 2 bad
    /// usage, 3 the login was refused.
    Chat(client::ChatArgs),
    /// The terminal client, against any confab server. Full screen on a
    /// terminal; plain lines when stdin or stdout is not one (scripts).
    ///
    /// Exit codes: 0 quit (or end of input), 1 the server is unreachable
    /// or gone, 2 bad usage, 3 the login was refused.
    Connect(client::ConnectArgs),
    /// Manage accounts (passwords are read from stdin, never from argv).
    #[command(subcommand)]
    User(UserCmd),
    /// Administration.
    #[command(subcommand)]
    Admin(AdminCmd),
}

#[derive(Subcommand)]
enum UserCmd {
    /// Register an account.
    Add {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Set an account's password.
    Passwd {
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Make a server operator: asks for a password and prints the
    /// `[[opers]]` block (name and argon2id hash) to add to the config
    /// file. Operators live in the config, not the database: only whoever
    /// controls the config can make one.
    Oper { name: String },
    /// List the accounts.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Write a consistent copy of the database to FILE, while the server
    /// runs or not.
    Backup {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Where the config comes from; shared by every subcommand.
#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// A TOML config file. Environment variables CONFAB_* and flags
    /// override what it says.
    #[arg(long, value_name = "FILE", env = "CONFAB_CONFIG")]
    config: Option<PathBuf>,
    /// Where the server keeps its state.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    log: LogArgs,
    /// An address to listen on (repeatable); replaces the configured ones.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// Serve TLS with a self-signed certificate (for development; it is
    /// written to the data dir as tls-self-signed.pem).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// Serve TLS with this PEM certificate chain (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// How the server logs (to stderr).
#[derive(clap::Args, Debug, Default)]
pub struct LogArgs {
    /// What to log: a level (error, warn, info, debug, trace) or
    /// comma-separated TARGET=LEVEL directives after one, such as
    /// `info,confab_server::http::access=warn`. [default: info, or RUST_LOG]
    #[arg(long, value_name = "LEVEL", env = "CONFAB_LOG")]
    pub log_level: Option<String>,
    /// `text` for people, `json` for one JSON object per line.
    #[arg(
        long,
        value_name = "FORMAT",
        env = "CONFAB_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The flags that override config keys; unset ones are left out.
#[derive(Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listen: Vec<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "TlsOverrides::is_empty")]
    tls: TlsOverrides,
}

/// The TLS flags; unset ones are left out.
#[derive(Serialize, Default)]
struct TlsOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    self_signed: Option<bool>,
}

impl TlsOverrides {
    fn is_empty(&self) -> bool {
        self.cert.is_none() && self.key.is_none() && self.self_signed.is_none()
    }
}

fn main() -> ExitCode {
    confab_server::build::set_commit(env!("CONFAB_COMMIT"));
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Cmd::Chat(args) => client::chat(args),
        Cmd::Connect(args) => client::connect(args),
        Cmd::User(cmd) => user(cmd).map(|()| ExitCode::SUCCESS),
        Cmd::Admin(AdminCmd::Backup { file, config }) => {
            backup(&config, &file).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("confab: error: {e:#}");
            if e.downcast_ref::<client::Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Defaults, then the file, then `CONFAB_*` (nested keys split on `__`,
/// as in `CONFAB_LIMITS__SEND_QUEUE`), then flags.
fn load_config(args: &ConfigArgs, listen: &[SocketAddr]) -> anyhow::Result<Config> {
    load_config_with(args, listen, TlsOverrides::default())
}

fn load_config_with(
    args: &ConfigArgs,
    listen: &[SocketAddr],
    tls: TlsOverrides,
) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &args.config {
        if !path.is_file() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let unknown = unknown_env_settings();
    for var in &unknown {
        eprintln!("confab: warning: ignoring {var}: there is no such setting");
    }
    let env = Env::prefixed("CONFAB_")
        .split("__")
        .ignore(NOT_SETTINGS)
        .filter(move |key| !unknown.iter().any(|u| key == setting_key(u).as_str()));
    let overrides = Overrides {
        listen: listen.to_vec(),
        data_dir: args.data_dir.clone(),
        tls,
    };
    figment = figment.merge(env).merge(Serialized::defaults(overrides));
    let config: Config = figment.extract().context("reading the config")?;
    config.validate()?;
    Ok(config)
}

/// `CONFAB_*` variables that are not settings: the config file, the log
/// filter and format, a password for `user add`.
const NOT_SETTINGS: &[&str] = &["config", "log", "log_format", "password"];

/// The `CONFAB_*` variables that name no setting (other tools share the
/// prefix, and a typo should not stop a server): each is tried alone on
/// the defaults, and those refused as an unknown field are reported and
/// left out. A known setting with a bad value is kept, so its error shows.
fn unknown_env_settings() -> Vec<String> {
    let mut unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("CONFAB_"))
        .filter(|var| {
            let key = setting_key(var);
            if NOT_SETTINGS.contains(&key.as_str()) {
                return false;
            }
            let alone = Env::prefixed("CONFAB_")
                .split("__")
                .filter(move |k| k.as_str().eq_ignore_ascii_case(&key));
            let tried = Figment::from(Serialized::defaults(Config::default()))
                .merge(alone)
                .extract::<Config>();
            tried.is_err_and(|e| {
                e.into_iter()
                    .any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..)))
            })
        })
        .collect();
    unknown.sort();
    unknown
}

/// The setting a `CONFAB_*` variable names, as figment's `Env` sees it
/// once split: `CONFAB_LIMITS__SEND_QUEUE` is `limits.send_queue`.
fn setting_key(var: &str) -> String {
    var["CONFAB_".len()..]
        .to_ascii_lowercase()
        .replace("__", ".")
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // A bad filter stops the server before anything else happens.
    let filter = log_filter(args.log.log_level.as_deref())?;
    let tls = TlsOverrides {
        cert: args.tls_cert.clone(),
        key: args.tls_key.clone(),
        self_signed: args.tls_self_signed.then_some(true),
    };
    let config = load_config_with(&args.config, &args.listen, tls)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    init_logging_to(
        std::io::stderr,
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        filter,
        args.log.log_format,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let server = Server::bind(config.clone()).await?;
        // Once bound: a start that fails says only its error.
        log_start(&args.config);
        for addr in server.local_addrs() {
            println!("confab listening on {addr}");
        }
        println!("data dir: {}", config.data_dir.display());
        let tls = server.tls_reloader();
        if let Some(tls) = &tls {
            println!("TLS certificate: {}", tls.cert_path().display());
        }
        tokio::spawn(reload_on_sighup(tls));
        tracing::info!(addrs = ?server.local_addrs(), "listening");
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })
}

/// Opens the database of the configured data dir (creating it if new).
fn open_store(config: &Config) -> anyhow::Result<confab_store::SqliteStore> {
    confab_server::server::create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot use data dir {}", config.data_dir.display()))?;
    Ok(confab_server::server::open_store(config)?)
}

/// Reads a password: from the terminal without echo, or the first line of
/// stdin when it is not a terminal.
fn read_password(prompt: &str, min_len: usize) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    confab_server::auth::check_new(&password, min_len)?;
    Ok(password)
}

fn user(cmd: UserCmd) -> anyhow::Result<()> {
    use confab_core::Nick;
    use confab_core::store::Store;
    use confab_server::hub_task::now as hub_time_now;
    match cmd {
        UserCmd::Add { name, config } => {
            let settings = load_config(&config, &[])?;
            let nick = Nick::parse(&name, settings.limits.max_nick_len)
                .with_context(|| format!("{name:?} cannot be a name"))?;
            anyhow::ensure!(
                !confab_core::names::is_reserved(&nick)
                    && !settings.reserved_names().contains(&nick.key()),
                "the name {nick} is reserved for the server"
            );
            let mut store = open_store(&settings)?;
            if store.account(&nick.key())?.is_some() {
                anyhow::bail!("the name {nick} is already registered");
            }
            let min = settings.accounts.min_password_len;
            let password = read_password(&format!("password for {nick}: "), min)?;
            let hash = confab_server::auth::hash(&password);
            store.create_account(&nick, &hash, hub_time_now())?;
            println!("registered {nick}");
        }
        UserCmd::Passwd { name, config } => {
            let settings = load_config(&config, &[])?;
            let min = settings.accounts.min_password_len;
            let nick = Nick::parse(&name, usize::MAX)
                .with_context(|| format!("{name:?} cannot be a name"))?;
            let mut store = open_store(&settings)?;
            if store.account(&nick.key())?.is_none() {
                anyhow::bail!("there is no account called {nick}");
            }
            let password = read_password(&format!("new password for {nick}: "), min)?;
            // Every login token issued before now stops working.
            let now = confab_server::hub_task::now();
            store.set_password(&nick.key(), &confab_server::auth::hash(&password), now)?;
            println!("password changed for {nick}; their older login tokens no longer work");
        }
        UserCmd::Oper { name } => {
            anyhow::ensure!(
                !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control()),
                "an oper name has no spaces"
            );
            let password = read_password(&format!("oper password for {name}: "), 8)?;
            let hash = confab_server::auth::hash(&password);
            println!("# add to the config file, then restart confab");
            println!("[[opers]]");
            println!("name = {}", toml_string(&name));
            println!("password_hash = {}", toml_string(&hash));
        }
        UserCmd::List { config } => {
            let mut store = open_store(&load_config(&config, &[])?)?;
            for a in store.accounts()? {
                println!(
                    "{}\tcreated {}\tlast seen {}",
                    a.name,
                    date(a.created),
                    date(a.last_seen)
                );
            }
        }
    }
    Ok(())
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn date(t: confab_core::Timestamp) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_millis_opt(t.0)
        .single()
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn backup(args: &ConfigArgs, file: &Path) -> anyhow::Result<()> {
    let mut store = open_store(&load_config(args, &[])?)?;
    store
        .backup_to(file)
        .with_context(|| format!("backing up to {}", file.display()))?;
    println!("backed up to {}", file.display());
    Ok(())
}

/// The log filter: `level` (`--log-level`, or `CONFAB_LOG` through
/// clap), else `RUST_LOG`, else `info`. A filter that says nothing
/// useful is an error naming it, never a quiet fallback: each part is a
/// level or `TARGET=LEVEL` (tracing would take a bare word for a target
/// and log nothing of confab's).
fn log_filter(level: Option<&str>) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let (filter, from) = match level {
        Some(l) => (l.to_owned(), "--log-level or CONFAB_LOG"),
        None => match std::env::var("RUST_LOG") {
            Ok(l) => (l, "RUST_LOG"),
            Err(_) => ("info".to_owned(), "the default"),
        },
    };
    let bad = |why: &str| {
        anyhow::anyhow!(
            "bad log filter {filter:?} (from {from}): {why}; use a level ({}) or \
             directives such as info,confab_server::http::access=warn",
            LEVELS.join(", ")
        )
    };
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let level = part.rsplit_once('=').map_or(part, |(_, level)| level);
        if !part.contains('[') && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(bad(&format!("{level:?} is not a level")));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(&filter)
        .map_err(|e| bad(&e.to_string()))
}

/// The start-up line: what is running and where its config came from.
fn log_start(args: &ConfigArgs) {
    let config = match &args.config {
        Some(path) => path.display().to_string(),
        None => "defaults".to_owned(),
    };
    let unknown = unknown_env_settings();
    let mut env: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("CONFAB_") && !unknown.contains(k))
        .filter(|k| !NOT_SETTINGS.contains(&setting_key(k).as_str()))
        .collect();
    env.sort();
    tracing::info!(
        version = confab_server::build::VERSION,
        commit = confab_server::build::commit(),
        config,
        env = env.join(","),
        "starting confab {}",
        confab_server::build::long_version()
    );
}

/// Logs to `writer` through `filter`, as text or JSON lines (`confab chat`
/// hosting logs text to a file: the terminal is the client's).
fn init_logging_to<W>(
    writer: W,
    ansi: bool,
    filter: tracing_subscriber::EnvFilter,
    format: LogFormat,
) where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        // Span fields (the session id and address) ride in "span" and
        // "spans"; the event's own in "fields".
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// `confab chat` hosting: its log to `writer`, filtered as `serve`'s.
fn init_hosted_logging<W>(writer: W) -> anyhow::Result<()>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("CONFAB_LOG").ok();
    init_logging_to(
        writer,
        false,
        log_filter(level.as_deref())?,
        LogFormat::Text,
    );
    Ok(())
}

/// Reloads the TLS certificate files on each SIGHUP (a broken file is
/// logged and the old certificate kept).
async fn reload_on_sighup(tls: Option<confab_server::tls::Tls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot handle SIGHUP");
                return;
            }
        };
        while hup.recv().await.is_some() {
            match &tls {
                // `reload` logs its own outcome.
                Some(tls) => {
                    let tls = tls.clone();
                    let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
                }
                None => tracing::info!("SIGHUP: TLS is off, nothing to reload"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
