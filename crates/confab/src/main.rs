//! The `confab` binary: command-line parsing, config layering, logging and
//! signals. Everything else lives in the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use confab_server::{Config, Server};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "confab",
    version,
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
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML config file. Environment variables CONFAB_* and flags
    /// override what it says.
    #[arg(long, value_name = "FILE", env = "CONFAB_CONFIG")]
    config: Option<PathBuf>,
    /// An address to listen on (repeatable); replaces the configured ones.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Where the server keeps its state.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Print the effective config as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// The flags that override config keys; unset ones are left out.
#[derive(Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listen: Vec<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Defaults, then the file, then `CONFAB_*` (nested keys split on `__`,
/// as in `CONFAB_LIMITS__SEND_QUEUE`), then flags.
fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &args.config {
        if !path.is_file() {
            anyhow::bail!("config file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let env = Env::prefixed("CONFAB_")
        .split("__")
        .ignore(&["config", "log"]);
    let overrides = Overrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
    };
    figment = figment.merge(env).merge(Serialized::defaults(overrides));
    let config: Config = figment.extract().context("reading the config")?;
    config.validate()?;
    Ok(config)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let server = Server::bind(config.clone()).await?;
        for addr in server.local_addrs() {
            println!("confab listening on {addr}");
        }
        println!("data dir: {}", config.data_dir.display());
        tracing::info!(addrs = ?server.local_addrs(), "listening");
        server.run(shutdown_signal()).await;
        anyhow::Ok(())
    })
}

/// Logs to stderr; `CONFAB_LOG` (or `RUST_LOG`) sets the filter.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CONFAB_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
