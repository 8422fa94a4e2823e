//! The terminal client as scripts use it: `confab connect` and `confab
//! chat` in line mode (stdin and stdout are pipes), against a real
//! `confab serve` child or each other, with telnet users on real sockets.
//! Every wait is on output, with a deadline; nothing sleeps.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc;

use crate::process::{DEADLINE, ServerProcess, confab, lines_of, wait_for_exit};
use crate::support::Client;

/// A running `confab connect`/`confab chat` in line mode.
struct ClientProcess {
    name: &'static str,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stdout line so far, for failure messages and counting.
    seen: Vec<String>,
}

impl ClientProcess {
    fn start(home: &Path, name: &'static str, args: &[&str]) -> ClientProcess {
        ClientProcess::start_with(home, name, args, &[])
    }

    fn start_with(
        home: &Path,
        name: &'static str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ClientProcess {
        let mut child = confab(home)
            .args(args)
            .envs(env.iter().copied())
            .args(["--name", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn confab client");
        ClientProcess {
            name,
            stdin: child.stdin.take(),
            stdout: lines_of(child.stdout.take().unwrap()),
            stderr: lines_of(child.stderr.take().unwrap()),
            child: Some(child),
            seen: Vec::new(),
        }
    }

    fn connect(home: &Path, name: &'static str, server: &str) -> ClientProcess {
        ClientProcess::start(home, name, &["connect", server])
    }

    /// Types a line.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the client");
        stdin.flush().unwrap();
    }

    /// Reads stdout until a line containing `needle`; returns it.
    fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.stdout.recv_timeout(DEADLINE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{}: no {needle:?} within {DEADLINE:?}; saw {:#?}\nstderr: {}",
                    self.name,
                    self.seen,
                    self.stderr.try_iter().collect::<Vec<_>>().join("\n")
                ),
            }
        }
    }

    /// Reads stdout until each needle has been in a line, in any order.
    fn expect_each(&mut self, needles: &[&str]) {
        for n in needles {
            if !self.seen.iter().any(|l| l.contains(n)) {
                self.expect(n);
            }
        }
    }

    /// Reads stderr until a line containing `needle`.
    fn expect_err(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(DEADLINE) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("{}: no {needle:?} on stderr; saw {seen:#?}", self.name),
            }
        }
    }

    /// Ends the input (the script is over), then waits for the exit and
    /// collects the rest of stdout.
    fn finish(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        let status = wait_for_exit(self.child.take().expect("running"), DEADLINE);
        self.seen.extend(self.stdout.try_iter());
        status
    }

    /// How many stdout lines so far contain `needle`.
    fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn line_mode_sends_receives_and_joins_with_a_telnet_user() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path(), &home.path().join("data"));
    let addr = server.addr.to_string();
    let mut alice = ClientProcess::connect(home.path(), "alice", &addr);
    alice.expect("*** Welcome, alice!");
    alice.expect("*** alice joined #general");
    let mut bob = Client::login(server.addr, "bob").await;
    alice.expect("*** bob joined #general");
    alice.send("hello from the client");
    bob.expect("#general <alice> hello from the client").await;
    alice.expect("#general <alice> hello from the client");
    // What bob types reaches the client, stripped of formatting codes.
    bob.send("hi \u{2}alice\u{2} \u{3}4red").await;
    let line = alice.expect("#general <bob> hi alice red");
    assert!(!line.contains(['\u{2}', '\u{3}']), "{line:?}");
    alice.send("/me waves");
    bob.expect("#general * alice waves").await;
    alice.send("/join #rust");
    alice.expect("*** alice joined #rust");
    alice.send("now in rust");
    alice.send("/nosuch");
    alice.send("/msg @bob psst");
    bob.expect("alice -> bob: psst").await;
    assert!(alice.finish().success(), "{:#?}", alice.seen);
    assert_eq!(
        alice.count("#rust <alice> now in rust"),
        1,
        "{:#?}",
        alice.seen
    );
    assert_eq!(
        alice.count("!!! unknown command /nosuch; /help lists them"),
        1,
        "{:#?}",
        alice.seen
    );
    bob.expect("alice quit").await;
}

#[tokio::test]
async fn a_taken_name_exits_3_and_a_dead_server_exits_1_with_clear_messages() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path(), &home.path().join("data"));
    let _bob = Client::login(server.addr, "bob").await;
    let mut taken = ClientProcess::connect(home.path(), "bob", &server.addr.to_string());
    taken.expect("!!! Someone is already chatting as \"bob\"");
    assert_eq!(taken.finish().code(), Some(3));

    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut lost = ClientProcess::connect(home.path(), "carol", &nowhere);
    lost.expect(&format!("!!! cannot connect to {nowhere}"));
    assert_eq!(lost.finish().code(), Some(1));

    // Bad usage is clap's exit code 2.
    let status = confab(home.path())
        .args(["connect", "--tls-please", "x"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn chat_twice_is_a_conversation_and_the_host_leaving_stops_the_server() {
    let home = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let (a, b) = (home.path().join("a"), home.path().join("b"));
    let chat = |name, data: &Path| {
        let data = data.to_str().unwrap().to_owned();
        ClientProcess::start(
            home.path(),
            name,
            &["chat", "--listen", &listen, "--data-dir", &data],
        )
    };
    let mut alice = chat("alice", &a);
    alice.expect_err("hosting a server on");
    alice.expect("*** alice joined #general");
    let mut bob = chat("bob", &b);
    bob.expect_err(&format!("joining the server at {listen}"));
    bob.expect("*** bob joined #general");
    alice.expect("*** bob joined #general");
    bob.send("hi alice, bob here");
    alice.expect("#general <bob> hi alice, bob here");
    alice.send("hello bob");
    bob.expect("#general <alice> hello bob");
    assert!(a.is_dir() && !b.exists(), "only the host keeps data");
    // The host leaves: the server says so, and bob's client sees it go.
    assert!(alice.finish().success(), "{:#?}", alice.seen);
    bob.expect("*** Disconnected: ");
    assert!(
        bob.seen.last().unwrap().contains("shutting down"),
        "{:#?}",
        bob.seen
    );
    bob.expect("*** Connection lost");
}

#[test]
fn a_guest_in_line_mode_reconnects_after_a_server_restart_with_nothing_lost_or_doubled() {
    reconnects_after_a_restart(false);
}

#[test]
fn an_account_in_line_mode_reconnects_after_a_server_restart_with_nothing_lost_or_doubled() {
    reconnects_after_a_restart(true);
}

/// A guest rejoins its rooms and resumes; an account says `hello` with
/// `resume_after`. Either way every message shows exactly once.
fn reconnects_after_a_restart(account: bool) {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let password = "correct-horse-battery";
    let mut env = vec![];
    if account {
        let init = confab(home.path())
            .args(["admin", "init", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(init.success());
        let mut add = confab(home.path())
            .args(["user", "add", "alice", "--data-dir"])
            .arg(&data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
        assert!(wait_for_exit(add, DEADLINE).success());
        env.push(("CONFAB_PASSWORD", password));
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = ServerProcess::start_on(home.path(), &data, &listen);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut alice = ClientProcess::start_with(home.path(), "alice", &["connect", &listen], &env);
    alice.expect("*** alice joined #general");
    let mut bob = rt.block_on(Client::login(server.addr, "bob"));
    alice.expect("*** bob joined #general");
    for i in 1..=3 {
        rt.block_on(bob.say("#general", &format!("before {i}")));
    }
    alice.expect("#general <bob> before 3");
    // The server dies (no goodbye) and comes back on the same port and
    // data; bob reconnects at once and talks while alice may still be
    // waiting to retry: those messages come to her by resume.
    server.signal("-KILL");
    server.wait();
    alice.expect("*** Connection lost");
    let _server = ServerProcess::start_on(home.path(), &data, &listen);
    let addr = listen.parse().unwrap();
    let mut bob = rt.block_on(crate::support::login_once_admitted(addr, "bob"));
    for i in 1..=3 {
        rt.block_on(bob.say("#general", &format!("during {i}")));
    }
    // In any order: "during" may come by resume, or live once back.
    alice.expect_each(&["*** Reconnected", "#general <bob> during 3"]);
    // Typing goes on where it stopped.
    alice.send("alice is back");
    rt.block_on(bob.expect("#general <alice> alice is back"));
    rt.block_on(bob.say("#general", "after"));
    alice.expect("#general <bob> after");
    assert!(alice.finish().success());
    for text in [
        "before 1", "before 2", "before 3", "during 1", "during 2", "during 3", "after",
    ] {
        assert_eq!(
            alice.count(&format!("<bob> {text}")),
            1,
            "{text} once; saw {:#?}",
            alice.seen
        );
    }
    assert_eq!(alice.count("<alice> alice is back"), 1, "{:#?}", alice.seen);
}

#[test]
fn tls_checks_the_certificate_unless_told_not_to() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let server =
        ServerProcess::start_with(home.path(), &data, "127.0.0.1:0", &["--tls-self-signed"]);
    let addr = server.addr.to_string();
    // A self-signed certificate is nobody's word: refused, exit 1.
    let mut checked = ClientProcess::start(home.path(), "alice", &["connect", &addr, "--tls"]);
    let line = checked.expect("!!! cannot connect to");
    assert!(line.contains("certificate"), "{line}");
    assert_eq!(checked.finish().code(), Some(1));
    // --insecure takes it, says so, and then it is a chat like any other.
    let mut trusting = ClientProcess::start(
        home.path(),
        "bob",
        &["connect", &addr, "--tls", "--insecure"],
    );
    trusting.expect_err("--insecure accepts any certificate");
    trusting.expect("*** bob joined #general");
    trusting.send("over tls");
    trusting.expect("#general <bob> over tls");
    assert!(trusting.finish().success());
}
