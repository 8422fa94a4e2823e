//! A line-protocol test client over a real TCP socket, and an in-process
//! server on an ephemeral port. Every wait has a deadline; nothing sleeps.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use confab_server::{Config, Server};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, timeout_at};

/// How long any expected line may take to arrive.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `check`, every 10 ms, until it holds or `within` has passed;
/// whether it held. For what nothing announces (a file on disk, a
/// process-wide figure).
pub async fn poll_until(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub struct Client {
    pub name: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line received so far, for failure messages.
    pub seen: Vec<String>,
}

impl Client {
    pub async fn connect(addr: SocketAddr, name: &str) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client::over(stream, name)
    }

    pub fn over(stream: TcpStream, name: &str) -> Client {
        let (r, w) = stream.into_split();
        Client {
            name: name.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    /// Connects and takes `name`, waiting for the welcome.
    pub async fn login(addr: SocketAddr, name: &str) -> Client {
        let mut c = Client::connect(addr, name).await;
        c.send(name).await;
        c.expect(&format!("*** Welcome, {name}!")).await;
        c
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Closes the sending side, as `nc` does at the end of its input.
    pub async fn shutdown_write(&mut self) {
        self.writer.shutdown().await.expect("shutdown");
    }

    /// The next line, or `None` at end of stream; panics after the deadline.
    pub async fn next_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let read = timeout_at(
            Instant::now() + DEADLINE,
            self.reader.read_until(b'\n', &mut buf),
        );
        match read.await {
            Err(_) => panic!(
                "{}: no line within {DEADLINE:?}; saw {:#?}",
                self.name, self.seen
            ),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Ok(Err(e)) => panic!("{}: read error {e}", self.name),
            Ok(Ok(0)) => None,
            Ok(Ok(_)) => {
                let line = String::from_utf8(buf).expect("server sends UTF-8");
                assert!(
                    line.ends_with("\r\n"),
                    "{}: line without CRLF: {line:?}",
                    self.name
                );
                let line = line.trim_end().to_owned();
                self.seen.push(line.clone());
                Some(line)
            }
        }
    }

    /// Reads until a line containing `needle`; returns it. Panics on end of
    /// stream or after the deadline.
    pub async fn expect(&mut self, needle: &str) -> String {
        self.expect_skipping(needle).await.1
    }

    /// Like [`Client::expect`], also returning the lines read before it.
    pub async fn expect_skipping(&mut self, needle: &str) -> (Vec<String>, String) {
        let mut before = Vec::new();
        loop {
            match self.next_line().await {
                Some(l) if l.contains(needle) => return (before, l),
                Some(l) => before.push(l),
                None => panic!(
                    "{}: connection closed while waiting for {needle:?}; saw {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// Reads until `needle`, asserting that no line before it contains
    /// `absent`.
    pub async fn expect_without(&mut self, needle: &str, absent: &str) -> String {
        let (before, line) = self.expect_skipping(needle).await;
        assert!(
            !before.iter().any(|l| l.contains(absent)),
            "{}: saw {absent:?} before {needle:?}: {before:#?}",
            self.name
        );
        line
    }

    /// Reads to end of stream (the server closed), returning what came.
    pub async fn expect_closed(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(l) = self.next_line().await {
            rest.push(l);
        }
        rest
    }

    /// Sends a line and waits for its own echo in the current room, so the
    /// hub has certainly handled it.
    pub async fn say(&mut self, room: &str, text: &str) {
        self.send(text).await;
        let needle = format!("{room} <{}> {text}", self.name);
        self.expect(&needle).await;
    }
}

/// Logs in as `name` once the server has a free slot for this address
/// and in all (after a connection closed, the server frees its slot when
/// it has finished with it); each try waits on the server's answer.
pub async fn login_once_admitted(addr: SocketAddr, name: &str) -> Client {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut c = Client::connect(addr, name).await;
        c.send(name).await;
        let first = c.next_line().await.unwrap_or_default();
        if !first.contains("too many connections") && !first.contains("the server is full") {
            c.expect(&format!("*** Welcome, {name}!")).await;
            return c;
        }
        assert!(Instant::now() < deadline, "slot never freed");
    }
}

/// Asserts that `line` is stamped `[HH:MM]`.
pub fn assert_stamped(line: &str) {
    let b = line.as_bytes();
    let ok = b.len() > 8
        && b[0] == b'['
        && b[1].is_ascii_digit()
        && b[2].is_ascii_digit()
        && b[3] == b':'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b']'
        && b[7] == b' ';
    assert!(ok, "not timestamped: {line:?}");
}

/// A server running in this process on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
}

/// A server on a fresh temp data dir with generous rate limits (flood
/// tests set their own), adjusted by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = start_in(&dir.path().join("data"), tweak).await;
    s._dir = Some(dir);
    s
}

/// A server on the data dir `data` (kept after it stops).
pub async fn start_in(data: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        data_dir: data.to_owned(),
        ..Config::default()
    };
    config.limits.sniff_timeout_ms = 100;
    config.limits.rate_per_sec = 10_000.0;
    config.limits.rate_burst = 10_000;
    tweak(&mut config);
    let server = Server::bind(config).await.expect("bind");
    let addr = server.local_addrs()[0];
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task,
        _dir: None,
    }
}

impl TestServer {
    /// Stops the server gracefully and waits until it has.
    pub async fn shutdown(mut self) {
        self.stop.take().expect("once").send(()).unwrap();
        tokio::time::timeout(DEADLINE, &mut self.task)
            .await
            .expect("server stops within the deadline")
            .expect("server task did not panic");
    }
}
