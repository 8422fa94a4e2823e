//! The full-screen client in a real pseudo-terminal: tmux runs
//! `confab chat` instances (the first hosts on `--listen`, the others
//! find it there) and `confab connect`, keys go in with `send-keys`, and
//! the screens are read back with `capture-pane -p`. Telnet users are raw
//! sockets speaking the line protocol. Each test has its own tmux server
//! socket, killed when the test ends, and every `confab serve` child is
//! killed on drop. Every wait polls the screen with a deadline; nothing
//! sleeps. Needs `tmux` (`.ci/run` installs it).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::process::ServerProcess;
use crate::support::{Client, login_once_admitted};

/// How long a screen may take to show what a test waits for.
const SCREEN_DEADLINE: Duration = Duration::from_secs(20);

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(label: &str) -> Tmux {
        let socket = format!("confab-test-{label}-{}", std::process::id());
        Tmux { socket }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (apt-get install tmux)")
    }

    /// Starts `confab chat …` in a new 100x30 session called `name`,
    /// in a clean environment with `home` as HOME.
    fn chat(&self, name: &str, home: &Path, args: &[&str]) {
        let exe = env!("CARGO_BIN_EXE_confab");
        let mut line = shell_quote(exe);
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        // Keep the pane after the client exits, to read why.
        line.push_str("; echo CLIENT-EXITED-$?; sleep 600");
        let home_env = format!("HOME={}", home.display());
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            "-e",
            &home_env,
            "-e",
            "TERM=xterm-256color",
            &line,
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn keys(&self, session: &str, keys: &[&str]) {
        let target = target(session);
        let mut args = vec!["send-keys", "-t", &target];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success());
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, session: &str, text: &str) {
        let out = self.cmd(&["send-keys", "-t", &target(session), "-l", text]);
        assert!(out.status.success());
        self.keys(session, &["Enter"]);
    }

    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(
            &self
                .cmd(&["capture-pane", "-p", "-t", &target(session)])
                .stdout,
        )
        .into_owned()
    }

    /// Types `text` literally, without Enter.
    fn type_text(&self, session: &str, text: &str) {
        let out = self.cmd(&["send-keys", "-t", &target(session), "-l", text]);
        assert!(out.status.success());
    }

    /// Resizes the window of `session` (the client gets SIGWINCH).
    fn resize(&self, session: &str, cols: u16, rows: u16) {
        let (x, y) = (cols.to_string(), rows.to_string());
        let out = self.cmd(&["resize-window", "-t", &target(session), "-x", &x, "-y", &y]);
        assert!(
            out.status.success(),
            "tmux resize-window: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until the screen of `session` shows every one of `wanted`.
    fn wait_for(&self, session: &str, wanted: &[&str]) -> String {
        self.wait_until(session, &format!("{wanted:?}"), |screen| {
            wanted.iter().all(|w| screen.contains(w))
        })
    }

    /// Waits until `ok` holds for the screen of `session`; `what` says
    /// what was awaited when it never does.
    fn wait_until(&self, session: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(session);
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < SCREEN_DEADLINE,
                "{session} never showed {what}; its screen:\n{screen}"
            );
            // Polling the pane, not waiting for time to pass: each
            // capture is a fresh look at the screen.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The window of the session called exactly `session` (a bare name
/// would also match a window whose name starts with it, such as `bash`).
fn target(session: &str) -> String {
    format!("={session}:")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn two_chat_instances_talk_both_ways_with_names() {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let (a_dir, b_dir) = (home.path().join("a"), home.path().join("b"));
    let tmux = Tmux::new("two");

    // The first hosts on --listen; the second finds it there.
    let a_data = a_dir.display().to_string();
    tmux.chat(
        "a",
        home.path(),
        &[
            "chat",
            "--listen",
            &addr,
            "--data-dir",
            &a_data,
            "--name",
            "alice",
        ],
    );
    tmux.wait_for("a", &["alice", "#general", "online"]);
    let b_data = b_dir.display().to_string();
    tmux.chat(
        "b",
        home.path(),
        &[
            "chat",
            "--listen",
            &addr,
            "--data-dir",
            &b_data,
            "--name",
            "bob",
        ],
    );
    tmux.wait_for("b", &["bob in #general", "online"]);
    tmux.wait_for("a", &["bob joined"]);

    tmux.type_line("b", "hello from bob");
    tmux.wait_for("a", &["<bob> hello from bob"]);
    tmux.type_line("a", "hi bob, alice here");
    let screen = tmux.wait_for("b", &["<alice> hi bob, alice here", "<bob> hello from bob"]);
    // Both are in the member list.
    assert!(
        screen.contains("alice") && screen.contains("bob"),
        "{screen}"
    );

    // Ctrl-C leaves and gives the terminal back: the shell's line shows.
    tmux.keys("b", &["C-c"]);
    tmux.wait_for("b", &["CLIENT-EXITED-"]);
    tmux.wait_for("a", &["bob quit"]);
}

/// Counts the rows of `screen` that contain `needle`.
fn rows_with(screen: &str, needle: &str) -> usize {
    screen.lines().filter(|l| l.contains(needle)).count()
}

/// The input line (the last row drawn) of a full screen.
fn input_line(screen: &str) -> &str {
    screen
        .lines()
        .rfind(|r| !r.trim().is_empty())
        .expect("a drawn screen")
}

/// The status line (the row above the input line) of a full screen.
fn status_line(screen: &str) -> &str {
    let rows: Vec<&str> = screen.lines().collect();
    let last = rows
        .iter()
        .rposition(|r| !r.trim().is_empty())
        .expect("a drawn screen");
    rows[last.saturating_sub(1)]
}

#[test]
fn a_third_chat_and_a_telnet_user_join_and_everyone_sees_everyone() {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let tmux = Tmux::new("four");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    for (session, name) in [("a", "alice"), ("b", "bob"), ("c", "carol")] {
        let data = home.path().join(session).display().to_string();
        tmux.chat(
            session,
            home.path(),
            &[
                "chat",
                "--listen",
                &addr,
                "--data-dir",
                &data,
                "--name",
                name,
            ],
        );
        // One at a time, so that the first hosts and the others join it.
        tmux.wait_for(session, &[&format!("{name} in #general"), "online"]);
    }
    // Dave speaks the line protocol on a raw socket, on the same port.
    let mut dave = rt.block_on(Client::login(addr.parse().unwrap(), "dave"));
    rt.block_on(dave.expect("*** dave joined #general"));
    for s in ["a", "b", "c"] {
        tmux.wait_for(s, &["dave joined"]);
    }

    tmux.type_line("a", "alice says hi");
    tmux.type_line("b", "bob says hi");
    tmux.type_line("c", "carol says hi");
    rt.block_on(dave.say("#general", "dave says hi"));
    let said = [
        "<alice> alice says hi",
        "<bob> bob says hi",
        "<carol> carol says hi",
        "<dave> dave says hi",
    ];
    for s in ["a", "b", "c"] {
        let screen = tmux.wait_for(s, &said);
        for line in said {
            assert_eq!(rows_with(&screen, line), 1, "{s}: {line} once:\n{screen}");
        }
        // Everyone is in the member list (alice hosts, so she is op).
        for name in ["alice", "bob", "carol", "dave"] {
            assert!(
                screen.lines().any(|l| l.trim_end().ends_with(name)),
                "{s}: {name} in the member list:\n{screen}"
            );
        }
    }
    // The telnet user sees the three full-screen users, with names.
    // (In any order: some may have come before his own echo.)
    let heard = |seen: &[String]| {
        said[..3]
            .iter()
            .all(|line| seen.iter().any(|l| l.contains(&format!("#general {line}"))))
    };
    while !heard(&dave.seen) {
        assert!(rt.block_on(dave.next_line()).is_some(), "{:#?}", dave.seen);
    }

    // The third leaves; the others see it, the telnet user too.
    tmux.keys("c", &["C-c"]);
    tmux.wait_for("c", &["CLIENT-EXITED-0"]);
    tmux.wait_for("a", &["carol quit"]);
    tmux.wait_for("b", &["carol quit"]);
    rt.block_on(dave.expect("carol quit"));
}

#[test]
fn the_full_screen_client_reconnects_after_a_restart_and_keeps_unsent_input() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let addr = listen.parse().unwrap();
    let mut server = ServerProcess::start_on(home.path(), &data, &listen);
    let tmux = Tmux::new("restart");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    tmux.chat("a", home.path(), &["connect", &listen, "--name", "alice"]);
    tmux.wait_for("a", &["alice in #general", "online"]);
    let mut bob = rt.block_on(Client::login(addr, "bob"));
    tmux.wait_for("a", &["bob joined"]);
    rt.block_on(bob.say("#general", "before the restart"));
    tmux.wait_for("a", &["<bob> before the restart"]);

    // The server dies without a goodbye: the status line says offline.
    server.signal("-KILL");
    server.wait();
    drop(bob);
    tmux.wait_until("a", "offline in the status line", |s| {
        status_line(s).contains("offline")
    });
    // Typed while offline, not sent: it stays in the input line.
    tmux.type_text("a", "written while offline");
    tmux.wait_until("a", "the draft in the input line", |s| {
        input_line(s).contains("written while offline")
    });

    let _server = ServerProcess::start_on(home.path(), &data, &listen);
    let mut bob = rt.block_on(login_once_admitted(addr, "bob"));
    for i in 1..=3 {
        rt.block_on(bob.say("#general", &format!("during {i}")));
    }
    // "during" comes by resume or live, whichever is first.
    let screen = tmux.wait_until("a", "online with bob's messages", |s| {
        let status = status_line(s);
        status.contains("online") && !status.contains("offline") && s.contains("<bob> during 3")
    });
    assert!(
        input_line(&screen).contains("written while offline"),
        "the draft survived in the input line:\n{screen}"
    );
    rt.block_on(bob.say("#general", "after the restart"));
    let screen = tmux.wait_for("a", &["<bob> after the restart"]);
    for text in [
        "before the restart",
        "during 1",
        "during 2",
        "during 3",
        "after the restart",
    ] {
        assert_eq!(
            rows_with(&screen, &format!("<bob> {text}")),
            1,
            "{text} shows once:\n{screen}"
        );
    }
    // The draft is sent now, once.
    tmux.keys("a", &["Enter"]);
    rt.block_on(bob.expect("#general <alice> written while offline"));
    let screen = tmux.wait_for("a", &["<alice> written while offline"]);
    assert!(
        !input_line(&screen).contains("written while offline"),
        "{screen}"
    );
    assert_eq!(
        rows_with(&screen, "written while offline"),
        1,
        "sent, and gone from the input line:\n{screen}"
    );
}

#[test]
fn a_resize_redraws_and_a_too_small_window_says_so_then_recovers() {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let data = home.path().join("a").display().to_string();
    let tmux = Tmux::new("resize");
    tmux.chat(
        "a",
        home.path(),
        &[
            "chat",
            "--listen",
            &addr,
            "--data-dir",
            &data,
            "--name",
            "alice",
        ],
    );
    tmux.wait_for("a", &["alice in #general", "online"]);
    tmux.type_line("a", "a line to keep");
    tmux.wait_for("a", &["<alice> a line to keep"]);

    // Narrower and shorter: drawn again to the new size, one status line,
    // the input line at the bottom, the message still there.
    tmux.resize("a", 64, 16);
    let screen = tmux.wait_until("a", "a 64x16 screen", |s| {
        s.lines().count() == 16 && s.contains("<alice> a line to keep")
    });
    assert!(screen.lines().all(|l| l.chars().count() <= 64), "{screen}");
    assert_eq!(rows_with(&screen, "alice in #general"), 1, "{screen}");
    assert!(status_line(&screen).contains("online"), "{screen}");
    assert!(
        screen.lines().last().unwrap().contains("#general"),
        "the input line is last:\n{screen}"
    );

    // Too small: a message instead of a broken screen.
    tmux.resize("a", 60, 4);
    let screen = tmux.wait_for("a", &["Terminal too small: 60x4, need 20x6"]);
    assert!(!screen.contains("a line to keep"), "{screen}");

    // Big again: everything comes back.
    tmux.resize("a", 100, 30);
    let screen = tmux.wait_until("a", "the full screen again", |s| {
        !s.contains("too small")
            && s.contains("<alice> a line to keep")
            && status_line(s).contains("online")
    });
    assert_eq!(rows_with(&screen, "alice in #general"), 1, "{screen}");
    // And it still works.
    tmux.type_line("a", "still here");
    tmux.wait_for("a", &["<alice> still here"]);
}

#[test]
fn the_member_list_shows_who_spoke_and_has_gone_offline() {
    let home = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(home.path(), &home.path().join("data"));
    let addr = server.addr.to_string();
    let tmux = Tmux::new("presence");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tmux.chat("a", home.path(), &["connect", &addr, "--name", "alice"]);
    tmux.wait_for("a", &["alice in #general", "online"]);
    let mut dave = rt.block_on(Client::login(server.addr, "dave"));
    rt.block_on(dave.say("#general", "see you tomorrow"));
    let screen = tmux.wait_for("a", &["<dave> see you tomorrow"]);
    assert!(!screen.contains("Offline"), "{screen}");
    rt.block_on(dave.send("/quit"));
    drop(dave);
    // Gone from the members, listed under Offline once the client has
    // asked who is online (at most PRESENCE_EVERY after he left).
    let screen = tmux.wait_until("a", "dave under Offline", |s| {
        let rows: Vec<&str> = s.lines().collect();
        let heading = rows.iter().position(|r| r.trim_end().ends_with("│Offline"));
        heading.is_some_and(|h| {
            rows.get(h + 1)
                .is_some_and(|r| r.trim_end().ends_with("· dave"))
        })
    });
    assert!(screen.contains("Members (1)"), "{screen}");
}
