//! The `confab` binary: command-line parsing, config layering, logging and
//! signals. Everything else lives in the library crates; `client.rs` wires
//! the terminal client (`confab connect`, `confab chat`).

mod client;
mod log_format;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use confab_server::{Config, Server};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;

/// mimalloc rather than glibc's malloc: per-thread free lists suit a server
/// whose connections allocate on one thread and free on another, and it
/// returns memory after a burst. Version 2 (the workspace's `Cargo.toml`):
/// idle connections cost less in it than in 3 (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit built from.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILT_FROM_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "confab",
    version = LONG_VERSION,
    about = "One chat server for telnet, IRC, the web and the terminal.",
    after_help = "Settings come from the built-in defaults, then the TOML file (--config), \
        then CONFAB_* environment variables (nested keys joined by __, as in \
        CONFAB_LIMITS__SEND_QUEUE), then flags. `confab serve --print-config` shows the result."
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
    /// Print a shell completion script to stdout, e.g.
    /// `confab completions bash > ~/.local/share/bash-completion/completions/confab`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, e.g. `confab man | man -l -`;
    /// `confab man user add` for a subcommand's own page.
    Man {
        /// A subcommand, as typed after `confab`.
        subcommand: Vec<String>,
    },
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
    /// List the accounts: name, when created, when last seen.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Delete an account (with the server stopped).
    ///
    /// Its rooms, ignores, read markers and the private messages kept for
    /// it unread go with it; what it said stays in the history under its
    /// name. Its login tokens stop working, even if the name is registered
    /// again. The server must be stopped, as it holds the accounts in
    /// memory; `user add`, `passwd`, `list` and `admin backup` work while
    /// it runs.
    Del {
        name: String,
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
    /// Create the data dir and its database, as the server's first start
    /// does, without serving: to add accounts before the first start.
    Init {
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
    /// Where the server keeps its state [default: $XDG_DATA_HOME/confab,
    /// else ~/.local/share/confab]
    #[arg(long, value_name = "DIR", env = "CONFAB_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    log: LogArgs,
    /// An address to listen on (repeatable, or comma-separated); replaces
    /// the configured ones. IP:PORT (`[::]:7777` for IPv6), `:PORT` for
    /// every IPv4 interface, `localhost:PORT` [default: 0.0.0.0:7777]
    #[arg(
        long,
        value_name = "ADDR",
        env = "CONFAB_LISTEN",
        value_delimiter = ',',
        value_parser = confab_server::config::parse_listen_addr
    )]
    listen: Vec<SocketAddr>,
    /// Print the effective config as TOML and exit (secrets show as
    /// "<hidden>").
    #[arg(long)]
    print_config: bool,
    // TLS settings may come from the file, the environment and flags in
    // any mix, so the config's check pairs them (`Config::validate`), not
    // clap.
    /// Serve TLS with a self-signed certificate (for development; it is
    /// written to the data dir as tls-self-signed.pem).
    #[arg(long, env = "CONFAB_TLS__SELF_SIGNED")]
    tls_self_signed: bool,
    /// Serve TLS with this PEM certificate chain (reloaded on SIGHUP);
    /// needs --tls-key.
    #[arg(long, value_name = "FILE", env = "CONFAB_TLS__CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", env = "CONFAB_TLS__KEY")]
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
    confab_server::build::set_commit(env!("BUILT_FROM_COMMIT"));
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "confab", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Man { subcommand } => man(&subcommand).map(|()| ExitCode::SUCCESS),
        Cmd::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Cmd::Chat(args) => client::chat(args),
        Cmd::Connect(args) => client::connect(args),
        Cmd::User(cmd) => user(cmd).map(|()| ExitCode::SUCCESS),
        Cmd::Admin(AdminCmd::Backup { file, config }) => {
            backup(&config, &file).map(|()| ExitCode::SUCCESS)
        }
        Cmd::Admin(AdminCmd::Init { config }) => init(&config).map(|()| ExitCode::SUCCESS),
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
    for (var, nearest) in &unknown {
        let hint = nearest
            .as_ref()
            .map(|n| format!(" (did you mean {}?)", env_var(n)))
            .unwrap_or_default();
        eprintln!("confab: warning: ignoring {var}: there is no such setting{hint}");
    }
    let env = Env::prefixed("CONFAB_")
        .split("__")
        .ignore(NOT_SETTINGS)
        .filter(move |key| !unknown.iter().any(|(u, _)| key == setting_key(u).as_str()));
    let overrides = Overrides {
        listen: listen.to_vec(),
        data_dir: args.data_dir.clone(),
        tls,
    };
    figment = figment.merge(env).merge(Serialized::defaults(overrides));
    let config: Config = figment
        .extract()
        .map_err(|e| anyhow::anyhow!("{}", explain(e)))
        .context("reading the config")?;
    if let Err(e) = config.validate() {
        let from = figment
            .find_metadata(e.key)
            .and_then(|md| source_of(md, e.key))
            .map(|s| format!(" (set {s})"))
            .unwrap_or_default();
        anyhow::bail!("{e}{from}");
    }
    Ok(config)
}

/// A figment error as a person reads it, one line per error: the
/// setting's key as written in the file (figment's own message puts its
/// profile in front: `default.limits.send_queu`), where the value came
/// from (the file, or the environment variable), and for an unknown key
/// the nearest valid one.
fn explain(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let mut path: Vec<&str> = e.path.iter().map(String::as_str).collect();
            if let Some(profile) = &e.profile
                && path.first() == Some(&profile.as_str().as_str())
            {
                path.remove(0);
            }
            if let figment::error::Kind::UnknownField(field, expected) = &e.kind {
                if path.last() != Some(&field.as_str()) {
                    path.push(field);
                }
                let key = path.join(".");
                let mut line = format!("unknown setting {key}");
                if let Some(from) = e.metadata.as_ref().and_then(|md| source_of(md, &key)) {
                    line.push_str(&format!(" {from}"));
                }
                let parent = &path[..path.len() - 1];
                if let Some(near) = nearest(field, expected) {
                    let near: Vec<&str> = parent.iter().copied().chain([near]).collect();
                    line.push_str(&format!("; did you mean {}?", near.join(".")));
                }
                return line;
            }
            let key = path.join(".");
            let from = e
                .metadata
                .as_ref()
                .and_then(|md| source_of(md, &key))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{from}", e.kind)
            } else {
                format!("{key}: {}{from}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where the value of `key` came from, as "in FILE" or "in CONFAB_VAR";
/// `None` for the defaults.
fn source_of(md: &figment::Metadata, key: &str) -> Option<String> {
    if let Some(figment::Source::File(path)) = &md.source {
        return Some(format!("in {}", path.display()));
    }
    if md.name.contains("environment") {
        return Some(format!("in {}", env_var(key)));
    }
    if md.name.contains("Overrides") {
        return Some("by a flag".to_owned());
    }
    None
}

/// The `CONFAB_*` variable of a setting: `limits.send_queue` is
/// `CONFAB_LIMITS__SEND_QUEUE` (the inverse of [`setting_key`]).
fn env_var(key: &str) -> String {
    format!("CONFAB_{}", key.to_ascii_uppercase().replace('.', "__"))
}

/// The candidate closest to `word` by edit distance, if it is close
/// enough to be a typo of it.
fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `CONFAB_*` variables that are not settings: the config file, the log
/// filter and format, a password for `user add`.
const NOT_SETTINGS: &[&str] = &["config", "log", "log_format", "password"];

/// The `CONFAB_*` variables that name no setting (other tools share the
/// prefix, and a typo should not stop a server): each is tried alone on
/// the defaults, and those refused as an unknown field are reported, with
/// the nearest setting's key if one is close, and left out. A known
/// setting with a bad value is kept, so its error shows.
fn unknown_env_settings() -> Vec<(String, Option<String>)> {
    let mut unknown: Vec<(String, Option<String>)> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("CONFAB_"))
        .filter_map(|var| {
            let key = setting_key(&var);
            if NOT_SETTINGS.contains(&key.as_str()) {
                return None;
            }
            let alone = Env::prefixed("CONFAB_").split("__").filter({
                let key = key.clone();
                move |k| k.as_str().eq_ignore_ascii_case(&key)
            });
            let error = Figment::from(Serialized::defaults(Config::default()))
                .merge(alone)
                .extract::<Config>()
                .err()?;
            let (field, expected) = error.into_iter().find_map(|e| match e.kind {
                figment::error::Kind::UnknownField(field, expected) => Some((field, expected)),
                _ => None,
            })?;
            // The key with its unknown part (a section or a setting)
            // replaced by the nearest valid one.
            let near = nearest(&field, expected).map(|n| {
                key.split('.')
                    .map(|part| if part == field { n } else { part })
                    .collect::<Vec<_>>()
                    .join(".")
            });
            Some((var, near))
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
        // Secrets are shown as "<hidden>": the output is for reading,
        // pasting into issues and starting a config file.
        print!("{}", toml::to_string_pretty(&config.redacted())?);
        return Ok(());
    }
    // Log lines go to stderr from a thread of their own: the hub thread
    // and the connections' tasks only queue them, so a slow reader of
    // stderr (a paused pager, a busy journal) does not hold them up, and
    // lines made meanwhile go out in one write. Nothing is dropped: only
    // past 128,000 queued lines does a logging thread wait. The guard
    // writes what is left when `serve` returns.
    let (log_writer, _log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("confab-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    init_logging_to(
        log_writer,
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

/// Opens the database of the configured data dir for an admin command.
/// It must exist: a mistyped `--data-dir` would otherwise get a new empty
/// database, and the command would report on (or add to) that one. A
/// server makes its database on its first start (`admin init` too).
fn open_store(config: &Config) -> anyhow::Result<confab_store::SqliteStore> {
    let dir = &config.data_dir;
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "cannot use data dir {}: it is not a directory",
            dir.display()
        );
    }
    let db = config.database_path();
    if !db.try_exists().unwrap_or(true) {
        anyhow::bail!(
            "there is no confab database at {}: check --data-dir (or the config's data_dir). \
             A server creates its database on its first start: run `confab serve` once \
             with this data dir, or `confab admin init` to create it without serving",
            db.display()
        );
    }
    Ok(confab_server::server::open_store(config)?)
}

/// `confab admin init`: the data dir and its database, as a first start
/// makes them.
fn init(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load_config(args, &[])?;
    let db = config.database_path();
    if db.try_exists().unwrap_or(false) {
        // Opened to check that it is a confab database (and migrate it).
        open_store(&config)?;
        println!("{} exists already", db.display());
        return Ok(());
    }
    confab_server::files::create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot use data dir {}", config.data_dir.display()))?;
    confab_server::server::open_store(&config)?;
    println!("created {}", db.display());
    Ok(())
}

/// `confab man [SUBCOMMAND]...`: the manual page of confab or of one of
/// its subcommands (`confab-user-add(1)`, as the main page calls them),
/// in roff, on stdout.
fn man(path: &[String]) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    // Gives every subcommand its full name (`confab-user-add`).
    cmd.build();
    for name in path {
        cmd = cmd
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| client::Usage(format!("there is no subcommand {name:?}")))?;
    }
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(cmd)
        .source(format!("confab {LONG_VERSION}"))
        .manual("confab manual")
        .render(&mut out)
        .context("writing the manual page")
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
    use confab_server::time::now as hub_time_now;
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
            let now = confab_server::time::now();
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
                // The store says the creation time for never.
                let seen = if a.last_seen > a.created {
                    date(a.last_seen)
                } else {
                    "never".to_owned()
                };
                println!("{}\tcreated {}\tlast seen {seen}", a.name, date(a.created));
            }
        }
        UserCmd::Del { name, config } => {
            let settings = load_config(&config, &[])?;
            let nick = Nick::parse(&name, usize::MAX)
                .with_context(|| format!("{name:?} cannot be a name"))?;
            let mut store = open_store(&settings)?;
            // A running hub holds the account in memory and would write
            // for it again: only with the server stopped, and none may
            // start meanwhile.
            let _lock = confab_server::lock::DataDirLock::acquire(&settings.data_dir)
                .context("confab user del needs the server stopped")?;
            let Some(account) = store.account(&nick.key())? else {
                anyhow::bail!("there is no account called {nick}");
            };
            let kept = store.delete_account(&nick.key())?;
            let nick = account.name;
            let unread = match kept {
                0 => String::new(),
                1 => " and the 1 private message kept for it".to_owned(),
                n => format!(" and the {n} private messages kept for it"),
            };
            println!("deleted the account {nick}{unread}; the name is free to register");
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
        .filter(|k| k.starts_with("CONFAB_") && !unknown.iter().any(|(u, _)| u == k))
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
        .with_timer(log_format::LogClock)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder
            .with_ansi(ansi)
            .fmt_fields(log_format::LogFields)
            .init(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag's variable is the one figment reads for the same
    /// setting (or one of the variables that are no setting), so help
    /// tells the truth and the two readers agree.
    #[test]
    fn every_flag_variable_names_its_setting() {
        fn walk(cmd: &clap::Command, seen: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if let Some(var) = arg.get_env() {
                    seen.push(var.to_str().unwrap().to_owned());
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, seen);
            }
        }
        let mut vars = Vec::new();
        walk(&Cli::command(), &mut vars);
        assert!(vars.contains(&"CONFAB_LISTEN".to_owned()), "{vars:?}");
        for var in vars {
            assert!(var.starts_with("CONFAB_"), "{var}");
            let key = setting_key(&var);
            if NOT_SETTINGS.contains(&key.as_str()) {
                continue;
            }
            assert_eq!(env_var(&key), var);
            let one = Figment::from(Serialized::defaults(Config::default()))
                .merge(Serialized::default(&key, "1"))
                .extract::<Config>();
            let unknown = one.is_err_and(|e| {
                e.into_iter()
                    .any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..)))
            });
            assert!(!unknown, "{var} names no setting");
        }
    }

    /// The defaults help shows are the config's.
    #[test]
    fn help_shows_the_configs_defaults() {
        let mut cmd = Cli::command();
        let serve = cmd.find_subcommand_mut("serve").unwrap();
        let help = serve.render_long_help().to_string();
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let listen = Config::default().listen[0];
        assert!(flat.contains(&format!("[default: {listen}]")), "{help}");
        assert!(
            flat.contains("[default: $XDG_DATA_HOME/confab, else ~/.local/share/confab]"),
            "{help}"
        );
    }

    #[test]
    fn near_misses_find_their_key_and_strangers_none() {
        let keys = ["send_queue", "max_line_bytes", "rate_per_sec"];
        assert_eq!(nearest("send_queu", &keys), Some("send_queue"));
        assert_eq!(nearest("SEND_QUEUE", &keys), Some("send_queue"));
        assert_eq!(nearest("max_line_byte", &keys), Some("max_line_bytes"));
        assert_eq!(nearest("rate", &keys), None);
        assert_eq!(nearest("deploy_colour", &keys), None);
    }
}
