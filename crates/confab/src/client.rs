//! `confab connect` and `confab chat`: the terminal client, and the quick
//! start that finds a server on the local address or hosts one
//! in-process. The client itself is `confab-client`; this is the wiring
//! (names, passwords, hosting, exit codes).

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use confab_client::line::{self, Exit};
use confab_client::model::Model;
use confab_client::proto::Secret;
use confab_client::safe;
use confab_client::session::{self, ConnectOptions, Login, Session};
use confab_server::Server;
use tokio::sync::oneshot;

use crate::ConfigArgs;

/// How long `confab chat` waits for an answer on the local address before
/// it hosts a server itself.
const PROBE_WAIT: Duration = Duration::from_millis(1500);
/// How long line mode stays offline before it gives up (exit 1).
const LINE_MODE_PATIENCE: Duration = Duration::from_secs(30);

/// Who to be: shared by `connect` and `chat`.
#[derive(clap::Args, Debug)]
pub struct WhoArgs {
    /// Your name (default: $USER, made a valid name). Without --login it
    /// is a guest name.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Log in to the account NAME. The password comes from
    /// CONFAB_PASSWORD, or is asked for without echo.
    #[arg(long)]
    login: bool,
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The server: HOST or HOST:PORT (default port 7777).
    #[arg(value_name = "HOST[:PORT]")]
    server: String,
    #[command(flatten)]
    who: WhoArgs,
    /// Speak TLS (wss://), checking the certificate against the web's
    /// root authorities.
    #[arg(long)]
    tls: bool,
    /// With --tls: accept any certificate (a self-signed test server).
    /// The connection is encrypted but nobody vouches for the server.
    #[arg(long, requires = "tls")]
    insecure: bool,
}

#[derive(clap::Args, Debug)]
pub struct ChatArgs {
    /// Join this server (HOST[:PORT]) instead of looking on --listen.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "listen")]
    server: Option<String>,
    #[command(flatten)]
    who: WhoArgs,
    /// Where to look for a server, and to host one if none answers
    /// (default: the config's first listen address, 0.0.0.0:7777). As
    /// `serve --listen`: IP:PORT, `:PORT` or `localhost:PORT`.
    #[arg(long, value_name = "ADDR", value_parser = confab_server::config::parse_listen_addr)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    config: ConfigArgs,
}

/// A usage error: exit code 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// Turns a login name into a valid nick: the nick alphabet only, not
/// starting with a digit or `-`, at most 16 characters.
fn nickify(raw: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_[]{}\\`^|".contains(c);
    let s: String = raw
        .chars()
        .filter(|c| allowed(*c))
        .skip_while(|c| c.is_ascii_digit() || *c == '-')
        .take(16)
        .collect();
    (!s.is_empty()).then_some(s)
}

/// The name to use: --name, else $USER, else asked for on a terminal.
fn name(who: &WhoArgs) -> anyhow::Result<String> {
    if let Some(n) = &who.name {
        return Ok(n.clone());
    }
    if let Some(n) = std::env::var("USER").ok().as_deref().and_then(nickify) {
        return Ok(n);
    }
    if std::io::stdin().is_terminal() {
        eprint!("name: ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let n = line.trim().to_owned();
        if !n.is_empty() {
            return Ok(n);
        }
    }
    Err(Usage("no name: give one with --name NAME".into()).into())
}

fn login(who: &WhoArgs) -> anyhow::Result<Login> {
    let name = name(who)?;
    let from_env = std::env::var("CONFAB_PASSWORD").ok();
    if !who.login && from_env.is_none() {
        return Ok(Login::Guest { name });
    }
    let password = match from_env {
        Some(p) => p,
        None => rpassword::prompt_password(format!("password for {name}: "))
            .context("reading the password (set CONFAB_PASSWORD when there is no terminal)")?,
    };
    Ok(Login::Password {
        name,
        password: Secret(password),
    })
}

/// `confab connect HOST[:PORT]`.
pub fn connect(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let mut opts = ConnectOptions::new(session::with_default_port(&args.server), login(&args.who)?);
    opts.tls = args.tls;
    opts.insecure = args.insecure;
    if opts.insecure {
        eprintln!(
            "confab: warning: --insecure accepts any certificate; the server is not authenticated"
        );
    }
    let runtime = runtime()?;
    let code = runtime.block_on(run_client(opts, None));
    finish(code)
}

/// `confab chat`: join the server given, or the one answering on the
/// listen address, or host one there.
pub fn chat(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let login = login(&args.who)?;
    let runtime = runtime()?;
    let code = runtime.block_on(async {
        if let Some(server) = &args.server {
            let opts = ConnectOptions::new(session::with_default_port(server), login);
            return anyhow::Ok(run_client(opts, None).await);
        }
        let listen: Vec<SocketAddr> = args.listen.into_iter().collect();
        let config = crate::load_config(&args.config, &listen)?;
        let host_at = *config
            .listen
            .first()
            .context("the config has no listen address to look on or host at")?;
        let look = local(host_at);
        if session::probe(&look.to_string(), PROBE_WAIT).await {
            eprintln!("confab: joining the server at {look}");
            let opts = ConnectOptions::new(look.to_string(), login);
            return Ok(run_client(opts, None).await);
        }
        let hosted = match host(config).await {
            Ok(h) => h,
            // Another instance started hosting between our look and our
            // bind: join it.
            Err(e) if session::probe(&look.to_string(), PROBE_WAIT).await => {
                tracing::debug!(error = %e, "lost the race to host");
                eprintln!("confab: joining the server at {look}");
                let opts = ConnectOptions::new(look.to_string(), login);
                return Ok(run_client(opts, None).await);
            }
            Err(e) => return Err(e),
        };
        let opts = ConnectOptions::new(hosted.addr.to_string(), login);
        Ok(run_client(opts, Some(hosted)).await)
    })?;
    finish(code)
}

/// Where to reach a listen address from this machine: an unspecified
/// address (0.0.0.0, ::) is reached on loopback.
fn local(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// A server running in this process.
struct Hosted {
    /// Where the client connects to it.
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Hosted {
    /// Graceful shutdown: everyone is told the server is shutting down,
    /// the store is committed.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Hosts a server with `config`, logging to `confab.log` in its data dir
/// (the terminal belongs to the client).
async fn host(config: confab_server::Config) -> anyhow::Result<Hosted> {
    confab_server::files::create_private_dir(&config.data_dir)
        .with_context(|| format!("cannot use data dir {}", config.data_dir.display()))?;
    let log_path = config.data_dir.join("confab.log");
    let log = confab_server::files::private_options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot write the log {}", log_path.display()))?;
    crate::init_hosted_logging(std::sync::Mutex::new(log))?;
    let server = Server::bind(config.clone()).await?;
    let bound = *server
        .local_addrs()
        .first()
        .context("the server has no listener")?;
    eprintln!(
        "confab: hosting a server on {bound} (data in {}, log in {}); others join with `confab chat --server HOST:{}`",
        config.data_dir.display(),
        log_path.display(),
        bound.port()
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Ok(Hosted {
        addr: local(bound),
        stop,
        task,
    })
}

/// Runs the client (full screen on a terminal, else line mode) and then
/// stops the hosted server, if any. Returns the exit code.
async fn run_client(mut opts: ConnectOptions, hosted: Option<Hosted>) -> Exit {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if !interactive {
        opts.give_up_after = Some(LINE_MODE_PATIENCE);
    }
    let (handle, events) = Session::start(opts.clone());
    let exit = if interactive {
        let model = Model::new(handle.ids());
        match confab_client::tui::run(handle, events, model, &opts).await {
            Ok(confab_client::tui::Exit::Quit | confab_client::tui::Exit::Interrupted) => Exit::Ok,
            Ok(confab_client::tui::Exit::Stopped(fatal)) => {
                // A login refusal's message is the server's text: made
                // safe for the terminal like everything else it sends.
                eprintln!("confab: {}", safe::sanitize(&fatal.to_string()));
                Exit::of(&fatal)
            }
            Err(e) => {
                eprintln!("confab: {e}");
                Exit::Failure
            }
        }
    } else {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        line::run(handle, events, stdin, std::io::stdout()).await
    };
    if let Some(h) = hosted {
        eprintln!("confab: stopping the server");
        h.stop().await;
    }
    exit
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

/// Exits at once with the client's code: tokio's stdin reader may still
/// be blocked on a read no one will finish, which would hold up a normal
/// runtime shutdown.
fn finish(code: Exit) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::exit(code as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_become_valid_nicks() {
        let cases = [
            ("alice", Some("alice")),
            ("Alice.Smith", Some("AliceSmith")),
            ("1st-user", Some("st-user")),
            ("jean-luc@corp", Some("jean-luccorp")),
            ("...", None),
            ("averyveryverylongusername", Some("averyveryverylon")),
        ];
        for (raw, want) in cases {
            assert_eq!(nickify(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn unspecified_listen_addresses_are_reached_on_loopback() {
        let a: SocketAddr = "0.0.0.0:7777".parse().unwrap();
        assert_eq!(local(a), "127.0.0.1:7777".parse().unwrap());
        let b: SocketAddr = "[::]:1".parse().unwrap();
        assert_eq!(local(b), "[::1]:1".parse().unwrap());
        let c: SocketAddr = "10.0.0.1:5".parse().unwrap();
        assert_eq!(local(c), c);
    }
}
