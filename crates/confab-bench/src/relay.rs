//! `relay`: a bare IRC relay, the reference a server's fan-out is measured
//! against ("no chat logic"). It answers registration with `001`, a JOIN
//! with the JOIN to every member and `366` to the joiner, relays PRIVMSG
//! and NOTICE to a channel's other members or to a nick, and answers PING;
//! nothing is stored, checked or limited. One task per connection reads
//! lines and writes each relayed line straight to its recipients' sockets
//! (see [`Out`]), as an event-loop C server does.
//!
//! Like the generator it listens on loopback only, and it stops by itself
//! after `--for` seconds (the bench script kills it sooner).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::setup::MAX_DURATION_SECS;

/// Longest the relay may run, in seconds.
const MAX_RUN_SECS: f64 = MAX_DURATION_SECS * 6.0;

#[derive(clap::Args, Debug, Clone)]
pub struct RelayOpts {
    /// Where to listen: a loopback address and port.
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub listen: SocketAddr,
    /// Seconds after which the relay stops by itself.
    #[arg(long = "for", default_value_t = 900.0)]
    pub run_for: f64,
}

/// A connection's way out, shared by every client that relays to it:
/// lines collect in `pending` and the connection's writer task writes
/// them when it next runs, all in one write, as an event loop flushes a
/// send queue once per turn.
struct Out {
    stream: Arc<TcpStream>,
    pending: Mutex<Vec<u8>>,
    wake: Notify,
}

impl Out {
    fn send(&self, line: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = pending.is_empty();
        pending.extend_from_slice(line);
        drop(pending);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Writes what collected, until the socket fails.
    async fn flush_pending(&self) {
        loop {
            self.wake.notified().await;
            loop {
                if self.stream.writable().await.is_err() {
                    return;
                }
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if pending.is_empty() {
                    break;
                }
                match self.stream.try_write(&pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        }
    }
}

type Tx = Arc<Out>;

#[derive(Default)]
struct State {
    nicks: HashMap<String, Tx>,
    /// Each channel's members: connection id and way out.
    channels: HashMap<String, Vec<(u64, Tx)>>,
}

#[derive(Default, Clone)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves until `--for` seconds have passed.
pub async fn serve(opts: &RelayOpts) -> anyhow::Result<()> {
    if !opts.listen.ip().is_loopback() {
        bail!("the relay listens on loopback only, not {}", opts.listen);
    }
    if !(opts.run_for > 0.0 && opts.run_for <= MAX_RUN_SECS) {
        bail!("--for must be between 0 and {MAX_RUN_SECS} seconds");
    }
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    serve_on(listener, Duration::from_secs_f64(opts.run_for)).await;
    Ok(())
}

/// Serves clients of `listener` for `run_for`.
pub async fn serve_on(listener: TcpListener, run_for: Duration) {
    let shared = Shared::default();
    let accepting = async {
        let mut next_id = 0u64;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors and the like: let some close first.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            next_id += 1;
            tokio::spawn(client(stream, next_id, shared.clone()));
        }
    };
    let _ = tokio::time::timeout(run_for, accepting).await;
}

async fn client(stream: TcpStream, id: u64, shared: Shared) {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let out = Arc::new(Out {
        stream: stream.clone(),
        pending: Mutex::new(Vec::new()),
        wake: Notify::new(),
    });
    let writer = tokio::spawn({
        let out = out.clone();
        async move { out.flush_pending().await }
    });
    let mut conn = Client {
        id,
        tx: out,
        shared,
        nick: None,
        user: false,
        welcomed: false,
        joined: Vec::new(),
    };
    let mut lines = BufReader::new(Reader(stream)).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if !conn.line(line.trim_end_matches('\r')) {
            break;
        }
    }
    conn.leave();
    writer.abort();
}

/// Reads a shared socket (its writes go through [`Out`]).
struct Reader(Arc<TcpStream>);

impl tokio::io::AsyncRead for Reader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        loop {
            match self.0.poll_read_ready(cx) {
                std::task::Poll::Ready(Ok(())) => {}
                std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                std::task::Poll::Pending => return std::task::Poll::Pending,
            }
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return std::task::Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return std::task::Poll::Ready(Err(e)),
            }
        }
    }
}

struct Client {
    id: u64,
    tx: Tx,
    shared: Shared,
    nick: Option<String>,
    user: bool,
    welcomed: bool,
    joined: Vec<String>,
}

impl Client {
    fn send(&self, line: String) {
        self.tx.send(line.as_bytes());
    }

    /// One line from the client; false when it quits.
    fn line(&mut self, line: &str) -> bool {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        match command.to_ascii_uppercase().as_str() {
            "NICK" => {
                let nick = rest.trim_start_matches(':').to_owned();
                self.shared
                    .lock()
                    .nicks
                    .insert(nick.clone(), self.tx.clone());
                self.nick = Some(nick);
                self.welcome();
            }
            "USER" => {
                self.user = true;
                self.welcome();
            }
            "PING" => self.send(format!(":relay PONG relay {rest}\r\n")),
            "JOIN" => {
                for channel in rest.split(',') {
                    self.join(channel.trim());
                }
            }
            "PRIVMSG" | "NOTICE" => self.relay(command, rest),
            "QUIT" => return false,
            _ => {}
        }
        true
    }

    fn welcome(&mut self) {
        if let (Some(nick), true, false) = (&self.nick, self.user, self.welcomed) {
            self.welcomed = true;
            self.send(format!(":relay 001 {nick} :Welcome to the bare relay\r\n"));
        }
    }

    fn join(&mut self, channel: &str) {
        let Some(nick) = self.nick.clone() else {
            return;
        };
        if channel.is_empty() || self.joined.iter().any(|c| c == channel) {
            return;
        }
        self.joined.push(channel.to_owned());
        let line = format!(":{nick}!{nick}@relay JOIN {channel}\r\n");
        let mut state = self.shared.lock();
        let members = state.channels.entry(channel.to_owned()).or_default();
        members.push((self.id, self.tx.clone()));
        for (_, tx) in members.iter() {
            tx.send(line.as_bytes());
        }
        drop(state);
        self.send(format!(
            ":relay 366 {nick} {channel} :End of /NAMES list.\r\n"
        ));
    }

    fn relay(&self, command: &str, rest: &str) {
        let Some(nick) = &self.nick else {
            return;
        };
        let Some((target, _)) = rest.split_once(' ') else {
            return;
        };
        let line = format!(":{nick}!{nick}@relay {command} {rest}\r\n");
        let state = self.shared.lock();
        if target.starts_with('#') {
            for (id, tx) in state.channels.get(target).into_iter().flatten() {
                if *id != self.id {
                    tx.send(line.as_bytes());
                }
            }
        } else if let Some(tx) = state.nicks.get(target) {
            tx.send(line.as_bytes());
        }
    }

    fn leave(&self) {
        let mut state = self.shared.lock();
        if let Some(nick) = &self.nick {
            state.nicks.remove(nick);
        }
        for channel in &self.joined {
            if let Some(members) = state.channels.get_mut(channel) {
                members.retain(|(id, _)| *id != self.id);
            }
        }
    }
}
