//! The full-screen client in a real pseudo-terminal: tmux runs two
//! `confab chat` instances (the first hosts on `--listen`, the second
//! finds it there), keys go in with `send-keys`, and the screens are read
//! back with `capture-pane -p`. Each test has its own tmux server socket,
//! killed when the test ends. Needs `tmux` (`.ci/run` installs it).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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
        let mut args = vec!["send-keys", "-t", session];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success());
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, session: &str, text: &str) {
        let out = self.cmd(&["send-keys", "-t", session, "-l", text]);
        assert!(out.status.success());
        self.keys(session, &["Enter"]);
    }

    fn screen(&self, session: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", session]).stdout)
            .into_owned()
    }

    /// Waits until the screen of `session` shows every one of `wanted`.
    fn wait_for(&self, session: &str, wanted: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(session);
            if wanted.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            assert!(
                start.elapsed() < SCREEN_DEADLINE,
                "{session} never showed {wanted:?}; its screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
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
