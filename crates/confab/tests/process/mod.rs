//! Running the real `confab` binary from tests: a clean environment,
//! output gathered on threads, exits waited for with a deadline, and a
//! `confab serve` child on an ephemeral port that is killed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a process may take to say something or to exit.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The binary in a clean environment: no CONFAB_* from the caller, a
/// private HOME.
pub fn confab(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_confab"));
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    cmd
}

/// `confab serve` on `data`, with a quick protocol sniff and a rate limit
/// that bulk sends never reach.
pub fn serve(home: &Path, data: &Path, listen: &str, flags: &[&str]) -> Command {
    let mut cmd = confab(home);
    cmd.args(["serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .args(flags)
        .env("CONFAB_LIMITS__SNIFF_TIMEOUT_MS", "50")
        .env("CONFAB_LIMITS__RATE_PER_SEC", "1000")
        .env("CONFAB_LIMITS__RATE_BURST", "1000");
    cmd
}

/// `cmd` run with an open-file limit of `soft` and `hard` files, through
/// util-linux's `prlimit`.
pub fn with_open_files(cmd: &Command, soft: u64, hard: u64) -> Command {
    let mut wrapped = Command::new("prlimit");
    wrapped
        .arg(format!("--nofile={soft}:{hard}"))
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null());
    wrapped
}

/// Forwards the lines of `from` to a channel, from a thread.
pub fn lines_of(from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads `from` to its end on a thread; the text arrives on the channel.
pub fn read_all(mut from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` to exit; kills it and panics past `within`.
pub fn wait_for_exit(mut child: Child, within: Duration) -> ExitStatus {
    let pid = child.id().to_string();
    let (tx, exited) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match exited.recv_timeout(within) {
        Ok(status) => status.expect("wait for confab"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("confab did not exit within {within:?}");
        }
    }
}

/// A `confab serve` child process on 127.0.0.1:0; killed on drop.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts a server on `data`, with a quick protocol sniff and a rate
    /// limit that bulk sends never reach, and waits until it listens.
    pub fn start(home: &Path, data: &Path) -> ServerProcess {
        ServerProcess::start_on(home, data, "127.0.0.1:0")
    }

    /// Like [`ServerProcess::start`], on a given address (to restart a
    /// server where its clients expect it).
    pub fn start_on(home: &Path, data: &Path, listen: &str) -> ServerProcess {
        ServerProcess::start_with(home, data, listen, &[])
    }

    /// Like [`ServerProcess::start_on`], with more `serve` flags.
    pub fn start_with(home: &Path, data: &Path, listen: &str, flags: &[&str]) -> ServerProcess {
        ServerProcess::start_cmd(serve(home, data, listen, flags), data)
    }

    /// Starts `cmd`, a [`serve`] command (perhaps wrapped, as by
    /// [`with_open_files`]), and waits until it listens.
    pub fn start_cmd(mut cmd: Command, data: &Path) -> ServerProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn confab serve");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        // From here on, Drop kills the child even if the start fails.
        let mut server = ServerProcess {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
        };
        let first = stdout.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!(
                "the server did not say where it listens; log:\n{}",
                server.log()
            )
        });
        server.addr = first
            .strip_prefix("confab listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .unwrap();
        let line = stdout.recv_timeout(DEADLINE).unwrap();
        assert_eq!(line, format!("data dir: {}", data.display()));
        server
    }

    pub fn pid(&self) -> String {
        self.child.as_ref().expect("running").id().to_string()
    }

    /// Sends a signal (`-TERM`, `-KILL`, …) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Waits for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        wait_for_exit(self.child.take().expect("running"), DEADLINE)
    }

    /// Everything the server logged, once it has exited.
    pub fn full_log(&self) -> String {
        let mut lines = Vec::new();
        while let Ok(line) = self.stderr.recv_timeout(DEADLINE) {
            lines.push(line);
        }
        lines.join("\n")
    }

    /// What the server logged up to its first line that contains
    /// `needle`; panics if none comes within the deadline.
    pub fn log_until(&self, needle: &str) -> String {
        let mut lines = Vec::new();
        loop {
            let Ok(line) = self.stderr.recv_timeout(DEADLINE) else {
                panic!("no log line with {needle:?}; logged:\n{}", lines.join("\n"));
            };
            let found = line.contains(needle);
            lines.push(line);
            if found {
                return lines.join("\n");
            }
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Any `confab` child with its stdout lines and stderr gathered; killed
/// on drop.
pub struct Running {
    child: Child,
    pub stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Takes over `child`, spawned with piped stdout and stderr.
    pub fn new(mut child: Child) -> Running {
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let stderr = lines_of(child.stderr.take().expect("piped stderr"));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
