//! The `confab` binary as a user runs it: config layering, clear start-up
//! errors, and a real server process that shuts down gracefully on signals.

mod client;
mod docs;
mod process;
#[path = "../../confab-server/tests/support/mod.rs"]
mod support;
mod tui;

use std::process::{Command, Output};

use process::{ServerProcess, confab};
use support::Client;

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("run confab");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn print_config_shows_the_embedded_defaults() {
    let home = tempfile::tempdir().unwrap();
    let (out, stdout, _) = run(confab(home.path()).args(["serve", "--print-config"]));
    assert!(out.status.success());
    // Every interface, so that other computers can join.
    assert!(stdout.contains("\"0.0.0.0:7777\""), "{stdout}");
    let data = home.path().join(".local/share/confab");
    let data_line = format!("data_dir = {:?}", data.display().to_string());
    assert!(stdout.contains(&data_line), "{stdout}");
    assert!(stdout.contains("default_room = \"#general\""), "{stdout}");
    assert!(stdout.contains("send_queue = 1024"), "{stdout}");
}

#[test]
fn file_then_environment_then_flags() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("confab.toml");
    std::fs::write(
        &file,
        "listen = [\"127.0.0.1:9001\"]\n[limits]\nsend_queue = 77\nmax_nick_len = 12\n\
         [chat]\ndefault_room = \"#lobby\"\n",
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    let (out, stdout, stderr) = run(confab(home.path())
        .args(["serve", "--print-config", "--config", cfg])
        .env("CONFAB_LIMITS__SEND_QUEUE", "88")
        .env("CONFAB_DATA_DIR", "/tmp/from-env"));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"127.0.0.1:9001\""), "{stdout}");
    assert!(stdout.contains("send_queue = 88"), "{stdout}");
    assert!(stdout.contains("max_nick_len = 12"), "{stdout}");
    assert!(stdout.contains("default_room = \"#lobby\""), "{stdout}");
    assert!(stdout.contains("data_dir = \"/tmp/from-env\""), "{stdout}");
    // Flags win over both; --listen repeats.
    let (out, stdout, _) = run(confab(home.path())
        .args(["serve", "--print-config", "--config", cfg])
        .args(["--listen", "127.0.0.1:9002", "--listen", "[::1]:9003"])
        .args(["--data-dir", "/tmp/from-flag"])
        .env("CONFAB_DATA_DIR", "/tmp/from-env"));
    assert!(out.status.success());
    assert!(stdout.contains("\"127.0.0.1:9002\""), "{stdout}");
    assert!(stdout.contains("\"[::1]:9003\""), "{stdout}");
    assert!(!stdout.contains("9001"), "{stdout}");
    assert!(stdout.contains("data_dir = \"/tmp/from-flag\""), "{stdout}");
    // The config file can also come from the environment, and a list of
    // addresses from one variable.
    let (out, stdout, _) = run(confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_CONFIG", cfg)
        .env("CONFAB_LISTEN", "127.0.0.1:9004, 127.0.0.1:9005"));
    assert!(out.status.success());
    assert!(stdout.contains("send_queue = 77"), "{stdout}");
    assert!(stdout.contains("\"127.0.0.1:9004\""), "{stdout}");
    assert!(stdout.contains("\"127.0.0.1:9005\""), "{stdout}");
}

#[test]
fn bad_configs_fail_clearly() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("bad.toml");
    let cases: &[(&str, &str)] = &[
        // The key as written (not figment's `default.limits.send_quee`),
        // the file, and the nearest valid key.
        (
            "[limits]\nsend_quee = 5\n",
            "unknown setting limits.send_quee in FILE; did you mean limits.send_queue?",
        ),
        ("[limit]\nsend_queue = 5\n", "did you mean limits?"),
        (
            "[limits]\nsend_queue = 0\n",
            "limits.send_queue: must be greater than 0 (set in FILE)",
        ),
        (
            "[limits]\nsend_queue = 0\n",
            "limits.send_queue: must be greater than 0",
        ),
        (
            "[limits]\nsend_queue = \"lots\"\n",
            "limits.send_queue: invalid type: found string \"lots\", expected usize (in FILE)",
        ),
        ("[chat]\ndefault_room = \"#a b\"\n", "chat.default_room"),
        (
            "listen = [\"example.org:7777\"]\n",
            "listen: \"example.org:7777\" is not an address to listen on (host names are not \
             looked up): give IP:PORT, like 0.0.0.0:7777",
        ),
        ("this is not toml", "reading the config"),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        let (out, stdout, stderr) =
            run(confab(home.path()).args(["serve", "--config", file.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(1), "{text}: {stdout}{stderr}");
        assert!(stderr.starts_with("confab: error: "), "{text}: {stderr}");
        let expected = expected.replace("FILE", &file.display().to_string());
        assert!(stderr.contains(&expected), "{text}: {stderr}");
        assert!(!stderr.contains("default."), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (out, _, stderr) = run(confab(home.path()).args(["serve", "--config", "/no/such.toml"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("config file /no/such.toml does not exist"),
        "{stderr}"
    );
    let (out, _, stderr) = run(confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_LIMITS__RATE_PER_SEC", "-1"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(
            "limits.rate_per_sec: must be a number above 0 (set in CONFAB_LIMITS__RATE_PER_SEC)"
        ),
        "{stderr}"
    );
    let (out, _, stderr) = run(confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_LIMITS__SEND_QUEUE", "lots"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("limits.send_queue: invalid type: found string \"lots\", expected usize (in CONFAB_LIMITS__SEND_QUEUE)"),
        "{stderr}"
    );
    // Other tools share the prefix, and a typo should not stop a server:
    // an unknown variable is named in a warning and left out.
    let (out, stdout, stderr) = run(confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_LIMITS__SEND_QUEU", "5")
        .env("CONFAB_DEPLOY_COLOUR", "blue")
        .env("CONFAB_LIMITS__SEND_QUEUE", "99"));
    assert!(out.status.success(), "{stderr}");
    for line in [
        "warning: ignoring CONFAB_LIMITS__SEND_QUEU: there is no such setting \
         (did you mean CONFAB_LIMITS__SEND_QUEUE?)",
        "warning: ignoring CONFAB_DEPLOY_COLOUR: there is no such setting\n",
    ] {
        assert!(stderr.contains(line), "{stderr}");
    }
    assert!(stdout.contains("send_queue = 99"), "{stdout}");
}

#[test]
fn start_up_problems_are_named() {
    let home = tempfile::tempdir().unwrap();
    // A data dir that cannot be created: a file is in the way.
    let blocker = home.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let data = blocker.join("data");
    let (out, _, stderr) = run(confab(home.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot use data dir"), "{stderr}");
    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = home.path().join("d");
    let (out, _, stderr) = run(confab(home.path()).args([
        "serve",
        "--listen",
        &addr,
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[test]
fn a_bad_log_filter_is_an_error_naming_it() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let serve = |cmd: &mut Command| {
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data);
    };
    // From the environment, then from the flag: a level that is none, a
    // directive whose level is none.
    let mut cmd = confab(home.path());
    serve(&mut cmd);
    let (out, _, stderr) = run(cmd.env("CONFAB_LOG", "verbose"));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad log filter \"verbose\"") && stderr.contains("not a level"),
        "{stderr}"
    );
    let mut cmd = confab(home.path());
    serve(&mut cmd);
    let (out, _, stderr) = run(cmd.args(["--log-level", "info,confab_server=loud"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("\"loud\" is not a level"), "{stderr}");
    // Nothing was started: no database.
    assert!(!data.join("confab.db").exists());
    // A format that is none is clap's error (exit 2).
    let mut cmd = confab(home.path());
    serve(&mut cmd);
    let (out, _, stderr) = run(cmd.args(["--log-format", "xml"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_starting_with_the_version() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut server = ServerProcess::start_with(
        home.path(),
        &data,
        "127.0.0.1:0",
        &["--log-format", "json", "--log-level", "debug"],
    );
    // Once someone is in, the signal handlers certainly are.
    let mut alice = Client::login(server.addr, "alice").await;
    let mut bob = Client::login(server.addr, "bob").await;
    bob.send("/quit").await;
    bob.expect("*** Disconnected").await;
    // Bob's connection logs its end once its socket is closed, which can
    // come after bob reads the farewell: its line first, then the stop.
    let mut log = server.log_until(r#""closed_by":"client""#);
    server.signal("-TERM");
    alice.expect("*** Disconnected").await;
    assert_eq!(server.wait().code(), Some(0));
    log.push('\n');
    log.push_str(&server.full_log());
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    // Once bound, before it says it listens.
    let start = lines
        .iter()
        .position(|l| {
            l["fields"]["message"]
                .as_str()
                .unwrap()
                .starts_with("starting confab")
        })
        .unwrap_or_else(|| panic!("no start-up line in {log}"));
    let listening = lines
        .iter()
        .position(|l| l["fields"]["message"] == "listening")
        .unwrap();
    assert!(start < listening, "{log}");
    let first = &lines[start]["fields"];
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(first["version"], version, "{log}");
    assert!(
        first["commit"].as_str().is_some_and(|c| !c.is_empty()),
        "{log}"
    );
    let message = first["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("starting confab {version} (commit ")),
        "{log}"
    );
    // Where the config came from: defaults, and the CONFAB_* settings the
    // harness sets.
    assert_eq!(first["config"], "defaults", "{log}");
    assert!(
        first["env"]
            .as_str()
            .unwrap()
            .contains("CONFAB_LIMITS__SNIFF_TIMEOUT_MS"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{log}"
    );
    // The login, with its fields; a connection's lines say which one.
    let login = lines
        .iter()
        .find(|l| l["fields"]["message"] == "login")
        .unwrap_or_else(|| panic!("no login in {log}"));
    assert_eq!(login["fields"]["door"], "line", "{login}");
    assert_eq!(login["fields"]["name"], "alice", "{login}");
    assert_eq!(login["fields"]["ok"], true, "{login}");
    // Who closed: bob, then the server for alice.
    let closed: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "disconnected")
        .map(|l| {
            assert!(l["fields"]["peer"].is_string(), "{l}");
            assert_eq!(l["fields"]["door"], "line", "{l}");
            assert!(l["fields"]["sid"].is_u64(), "{l}");
            (
                l["fields"]["closed_by"].as_str().unwrap(),
                l["fields"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        closed,
        [
            ("client", "Quit"),
            ("server", "the server is shutting down")
        ],
        "{log}"
    );
}

async fn graceful_exit_on(sig: &str) {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut server = ServerProcess::start(home.path(), &data);
    let mut alice = Client::login(server.addr, "alice").await;
    let mut bob = Client::login(server.addr, "bob").await;
    alice.say("#general", "hello from a real process").await;
    bob.expect("#general <alice> hello from a real process")
        .await;
    server.signal(sig);
    for c in [&mut alice, &mut bob] {
        c.expect("*** Disconnected: the server is shutting down")
            .await;
        assert!(c.expect_closed().await.is_empty());
    }
    assert_eq!(server.wait().code(), Some(0));
    let log = server.full_log();
    for needle in [
        "starting confab",
        "connected",
        "login door=\"line\" name=\"alice\" ip=127.0.0.1 account=false ok=true",
        "closed_by=\"server\"",
        "shutting down",
        "stopped",
    ] {
        assert!(log.contains(needle), "log lacks {needle:?}:\n{log}");
    }
}

#[tokio::test]
async fn sigterm_tells_users_and_exits_cleanly() {
    graceful_exit_on("-TERM").await;
}

#[tokio::test]
async fn sigint_tells_users_and_exits_cleanly() {
    graceful_exit_on("-INT").await;
}

/// A server whose log nobody reads (a paused pager, a stuck journal)
/// keeps serving: its log lines wait in the logging thread's queue, not
/// in the hub or the connections' tasks. Each login and quit logs about
/// 400 bytes, so 600 of them are far past the 64 KiB a pipe holds.
#[tokio::test]
async fn a_server_whose_log_is_not_read_keeps_serving() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut child = confab(home.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("CONFAB_LIMITS__SNIFF_TIMEOUT_MS", "50")
        .env("CONFAB_LIMITS__RATE_PER_SEC", "1000")
        .env("CONFAB_LIMITS__RATE_BURST", "1000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn confab serve");
    // Held open and never read.
    let unread = child.stderr.take().unwrap();
    let stdout = process::lines_of(child.stdout.take().unwrap());
    let first = stdout.recv_timeout(process::DEADLINE).expect("listening");
    let addr: std::net::SocketAddr = first
        .strip_prefix("confab listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();
    for i in 0..600 {
        // Each waits for its welcome, within the support client's deadline.
        let mut c = Client::login(addr, &format!("u{i}")).await;
        c.send("/quit").await;
        c.expect_closed().await;
    }
    let mut last = Client::login(addr, "last").await;
    last.send("/users").await;
    last.expect("last").await;
    let _ = child.kill();
    let _ = child.wait();
    drop(unread);
}

/// The open-file limit a user's shell or service manager gives, as
/// `/proc/PID/limits` shows it: (soft, hard).
fn open_file_limit(pid: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[3].to_owned(), words[4].to_owned())
}

/// `confab serve` for hundreds of clients from 127.0.0.1, who join no
/// room at login.
fn many_clients(home: &std::path::Path, data: &std::path::Path) -> Command {
    let mut serve = process::serve(home, data, "127.0.0.1:0", &[]);
    serve
        .env("CONFAB_LIMITS__MAX_CONNECTIONS_PER_IP", "1000")
        .env("CONFAB_CHAT__DEFAULT_ROOM", "");
    serve
}

/// Many systems start a process with a soft limit of 1,024 open files
/// and a much higher hard one. The server raises its soft limit to the
/// hard one at start, so clients past the old soft limit still get in
/// rather than hang in the listen backlog.
#[tokio::test]
async fn the_server_raises_its_open_file_limit_and_serves_past_the_old_one() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut serve = many_clients(home.path(), &data);
    serve.env("CONFAB_LIMITS__MAX_CONNECTIONS", "1000");
    let server = ServerProcess::start_cmd(process::with_open_files(&serve, 300, 2048), &data);
    assert_eq!(
        open_file_limit(&server.pid()),
        ("2048".to_owned(), "2048".to_owned())
    );
    let mut clients = Vec::new();
    for i in 0..350 {
        clients.push(Client::login(server.addr, &format!("u{i}")).await);
    }
    // 2,048 files leave room for the 1,000 connections configured.
    let log = server.log();
    assert!(!log.contains("open-file limit"), "{log}");
}

/// When even the hard limit leaves room for fewer connections than
/// `limits.max_connections`, the server says so at start and admits only
/// as many as fit; the next client is told the server is full, as at
/// `max_connections`, instead of failing in `accept`.
#[tokio::test]
async fn past_what_the_open_file_limit_allows_clients_are_told_the_server_is_full() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let serve = many_clients(home.path(), &data);
    let server = ServerProcess::start_cmd(process::with_open_files(&serve, 400, 400), &data);
    let defaults = confab_server::Config::default().limits;
    let fit = confab_server::fds::connection_cap(
        defaults.max_connections,
        Some(400),
        defaults.max_pending_refusals,
    );
    assert!(fit > 0 && fit < defaults.max_connections);
    let mut clients = Vec::new();
    for i in 0..fit {
        clients.push(Client::login(server.addr, &format!("u{i}")).await);
    }
    let mut refused = Client::connect(server.addr, "over").await;
    refused.send("over").await;
    refused
        .expect("*** Error: the server is full; try again later")
        .await;
    let log = server.log_until("open-file limit");
    assert!(
        log.contains("the open-file limit leaves room for fewer connections"),
        "{log}"
    );
    // A place freed is a place taken again.
    drop(clients.pop());
    let last = support::login_once_admitted(server.addr, "again").await;
    drop(last);
}

/// A client that stops reading is dropped once its queue fills, and the
/// log names why, whatever its door: killed, for "SendQ exceeded". (The
/// IRC door logged a client killed in mid-write as a write error.)
#[tokio::test]
async fn an_irc_client_that_stops_reading_is_logged_as_killed() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut serve = process::serve(home.path(), &data, "127.0.0.1:0", &[]);
    serve.env("CONFAB_LIMITS__SEND_QUEUE", "200");
    let server = ServerProcess::start_cmd(serve, &data);
    // An IRC client with a small receive buffer, so its backlog builds up
    // in the server's queue quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = BufReader::new(socket.connect(server.addr).await.unwrap());
    slow.write_all(b"NICK slow\r\nUSER u 0 * :Slow\r\nJOIN #general\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    while !line.contains(" 366 ") {
        line.clear();
        let read = tokio::time::timeout(process::DEADLINE, slow.read_line(&mut line));
        assert!(read.await.expect("joined in time").unwrap() > 0, "closed");
    }
    // From here on, `slow` never reads; alice talks in its room.
    let mut alice = Client::login(server.addr, "alice").await;
    let body = "z".repeat(900);
    let mut log = String::new();
    let mut sent = 0;
    // Bounded: at most 20 000 messages (about 18 MB).
    let gone = |log: &str| {
        log.lines()
            .find(|l| l.contains("disconnected") && l.contains(r#"door="irc""#))
            .map(str::to_owned)
    };
    while sent < 20_000 && gone(&log).is_none() {
        let batch: String = (sent..sent + 50)
            .map(|i| format!("{i} {body}\r\n"))
            .collect();
        alice.send_raw(batch.as_bytes()).await;
        alice.expect(&format!("<alice> {} z", sent + 49)).await;
        alice.seen.clear();
        sent += 50;
        log.push_str(&server.log());
        log.push('\n');
    }
    let dropped =
        gone(&log).unwrap_or_else(|| panic!("slow was still connected after {sent} messages"));
    assert!(dropped.contains(r#"closed_by="killed""#), "{dropped}");
    assert!(dropped.contains(r#"reason="SendQ exceeded""#), "{dropped}");
    drop(slow);
}

/// `:PORT` and `localhost:PORT` are understood wherever an address to
/// listen on is read (flags, `CONFAB_LISTEN`, the file); anything else
/// is refused with the forms that work.
#[test]
fn listen_addresses_take_shorthands_and_errors_show_examples() {
    let home = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(confab(home.path())
        .args(["serve", "--print-config", "--listen", ":9101"])
        .args(["--listen", "localhost:9102,[::1]:9103"]));
    assert!(out.status.success(), "{stderr}");
    for addr in ["\"0.0.0.0:9101\"", "\"127.0.0.1:9102\"", "\"[::1]:9103\""] {
        assert!(stdout.contains(addr), "{stdout}");
    }
    let (out, stdout, stderr) = run(confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_LISTEN", "localhost:9104, :9105"));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"127.0.0.1:9104\""), "{stdout}");
    assert!(stdout.contains("\"0.0.0.0:9105\""), "{stdout}");
    for bad in ["example.org:7777", "7777"] {
        let (out, _, stderr) =
            run(confab(home.path()).args(["serve", "--print-config", "--listen", bad]));
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{bad:?} ")), "{stderr}");
        assert!(
            stderr.contains("like 0.0.0.0:7777 (every IPv4 interface), [::]:7777"),
            "{stderr}"
        );
    }
}

/// Issue 14: README's `CONFAB_LISTEN=0.0.0.0:7777,[::]:7777` failed with
/// "Address already in use" (Linux's IPv6 socket took IPv4 too). Both
/// listen now, each on its own family, and each answers.
#[tokio::test]
async fn ipv4_and_ipv6_listeners_share_a_port() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 on this machine: skipped");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = confab(home.path())
        .args(["serve", "--data-dir"])
        .arg(home.path().join("data"))
        .env("CONFAB_LISTEN", format!("0.0.0.0:{port},[::]:{port}"))
        .env("CONFAB_LIMITS__SNIFF_TIMEOUT_MS", "50")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on drop, however the test ends.
    let server = process::Running::new(child);
    let mut said = Vec::new();
    while let Ok(line) = server.stdout.recv_timeout(process::DEADLINE) {
        let done = line.starts_with("data dir");
        said.push(line);
        if done {
            break;
        }
    }
    let expected = [
        format!("confab listening on 0.0.0.0:{port}"),
        format!("confab listening on [::]:{port}"),
    ];
    assert_eq!(said[..said.len().min(2)], expected, "{}", server.log());
    for (addr, name) in [
        (format!("127.0.0.1:{port}"), "four"),
        (format!("[::1]:{port}"), "six"),
    ] {
        let mut c = Client::login(addr.parse().unwrap(), name).await;
        c.send("/quit").await;
    }
}

/// Completions, the manual page, typo suggestions, and help that wraps
/// to the terminal and shows each flag's default and variable.
#[test]
fn completions_man_page_suggestions_and_help() {
    let home = tempfile::tempdir().unwrap();
    let (out, stdout, stderr) = run(confab(home.path()).args(["completions", "bash"]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("complete -F _confab"), "{stdout}");
    assert!(stdout.contains("--data-dir"), "{stdout}");
    let (out, stdout, _) = run(confab(home.path()).args(["completions", "zsh"]));
    assert!(
        out.status.success() && stdout.starts_with("#compdef confab"),
        "{stdout}"
    );

    let (out, stdout, stderr) = run(confab(home.path()).arg("man"));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(".TH confab 1"), "{stdout}");
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
    assert!(stdout.contains("confab\\-serve(1)"), "{stdout}");
    let (out, stdout, stderr) = run(confab(home.path()).args(["man", "user", "del"]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(".TH confab-user-del 1"), "{stdout}");
    assert!(stdout.contains("confab user del"), "{stdout}");
    assert!(stdout.contains("the server stopped"), "{stdout}");
    let (out, _, stderr) = run(confab(home.path()).args(["man", "nope"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");

    let (out, _, stderr) = run(confab(home.path()).arg("srve"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("a similar subcommand exists: 'serve'"),
        "{stderr}"
    );
    let (_, _, stderr) = run(confab(home.path()).args(["user", "lst"]));
    assert!(stderr.contains("'list'"), "{stderr}");
    let (_, _, stderr) = run(confab(home.path()).args(["serve", "--data-dri", "x"]));
    assert!(stderr.contains("--data-dir"), "{stderr}");

    let (out, help, _) = run(confab(home.path())
        .args(["serve", "--help"])
        .env("COLUMNS", "70"));
    assert!(out.status.success());
    let widest = help.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest <= 70, "wider than the terminal:\n{help}");
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for shown in [
        "[default: 0.0.0.0:7777] [env: CONFAB_LISTEN=]",
        "[env: CONFAB_DATA_DIR=]",
        "[env: CONFAB_CONFIG=]",
        "[env: CONFAB_TLS__CERT=]",
    ] {
        assert!(flat.contains(shown), "{shown:?} not in:\n{help}");
    }
}
