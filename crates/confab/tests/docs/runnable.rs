//! The runnable examples of README.md and docs/*.md, run against a real
//! server so that the docs cannot drift from the binary.
//!
//! A fenced block is runnable when its info string has the word
//! `runnable` after the language (GitHub shows the language only):
//!
//! - ```` ```console runnable ````: each `$ ` line is a command (a line
//!   ending in `\` continues on the next); the lines up to the next `$ `
//!   are its expected stdout, compared line by line with runs of
//!   whitespace counted as one space, where `...` inside a line stands
//!   for any text and a line of only `...` for any number of lines. No
//!   lines: only the exit status is checked.
//! - ```` ```sh runnable ````: the block is one `sh -e` script.
//!
//! Every command must exit 0. Commands run with `sh` in a temp dir, with
//! the debug `confab` first on `PATH`, `HOME` a temp dir and no `CONFAB_*`
//! variables; `7777` in a block is replaced by the port of the server
//! each file gets: `confab serve --tls-self-signed` on 127.0.0.1 and the
//! default data dir (`~/.local/share/confab`), with
//! `http.admin_token = "s3cret"` (the docs' example token). Blocks run in
//! file order, so a file's later examples see what its earlier ones did.
//! Needs `curl` and `nc` (netcat-openbsd; `.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::repo_root;
use crate::process::{DEADLINE, ServerProcess, read_all, wait_for_exit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Console,
    Sh,
}

/// A runnable block: where it starts (1-based line of its fence) and its
/// text.
#[derive(Debug)]
struct Block {
    line: usize,
    kind: Kind,
    text: String,
}

/// The runnable blocks of a Markdown file, in order.
fn runnable_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Option<Kind>, Vec<&str>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut open {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    let words: Vec<&str> = info.split_whitespace().collect();
                    let kind = if words.get(1..).is_some_and(|w| w.contains(&"runnable")) {
                        match words[0] {
                            "console" => Some(Kind::Console),
                            "sh" => Some(Kind::Sh),
                            other => panic!("line {}: runnable {other:?} block", i + 1),
                        }
                    } else {
                        None
                    };
                    open = Some((i + 1, kind, Vec::new()));
                }
            }
            Some((start, kind, lines)) => {
                if line.trim_end() == "```" {
                    if let Some(kind) = kind {
                        blocks.push(Block {
                            line: *start,
                            kind: *kind,
                            text: lines.join("\n"),
                        });
                    }
                    open = None;
                } else {
                    lines.push(line);
                }
            }
        }
    }
    blocks
}

/// A console block's commands, each with its line offset in the block
/// and its expected output.
fn console_steps(block: &str) -> Vec<(usize, String, Vec<String>)> {
    let mut steps: Vec<(usize, String, Vec<String>)> = Vec::new();
    let mut continued = false;
    for (i, line) in block.lines().enumerate() {
        if continued {
            let (_, cmd, _) = steps.last_mut().unwrap();
            cmd.push('\n');
            cmd.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push((i, cmd.to_owned(), Vec::new()));
            continued = line.ends_with('\\');
        } else {
            let (_, _, expected) = steps
                .last_mut()
                .unwrap_or_else(|| panic!("output before any `$ ` command: {line}"));
            expected.push(line.to_owned());
        }
    }
    steps
}

fn normalize(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line against one expected line, `...` matching any text.
fn line_matches(expected: &str, actual: &str) -> bool {
    let (expected, actual) = (normalize(expected), normalize(actual));
    let parts: Vec<&str> = expected.split("...").collect();
    if parts.len() == 1 {
        return expected == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Expected lines against actual ones, a `...` line matching any number
/// of lines.
fn output_matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| output_matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(first, a) && output_matches(rest, more)),
    }
}

/// Where the examples run: a server, a HOME and a working dir.
struct Scene {
    server: ServerProcess,
    home: PathBuf,
    work: PathBuf,
    path: std::ffi::OsString,
}

impl Scene {
    fn start(root: &Path) -> Scene {
        let home = root.join("home");
        let work = root.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let config = root.join("docs.toml");
        std::fs::write(&config, "[http]\nadmin_token = \"s3cret\"\n").unwrap();
        let data = home.join(".local/share/confab");
        let server = ServerProcess::start_with(
            &home,
            &data,
            "127.0.0.1:0",
            &["--config", config.to_str().unwrap(), "--tls-self-signed"],
        );
        let bin = Path::new(env!("CARGO_BIN_EXE_confab")).parent().unwrap();
        let path = std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        Scene {
            server,
            home,
            work,
            path,
        }
    }

    fn port(&self, text: &str) -> String {
        text.replace("7777", &self.server.addr.port().to_string())
    }

    /// Runs `script` with `sh` (and `args`): exit status, stdout, stderr.
    fn sh(&self, args: &[&str], script: &str) -> (bool, String, String) {
        let mut child = Command::new("sh")
            .args(args)
            .arg(script)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sh");
        let stdout = read_all(child.stdout.take().unwrap());
        let stderr = read_all(child.stderr.take().unwrap());
        let status = wait_for_exit(child, DEADLINE);
        let out = stdout.recv_timeout(DEADLINE).unwrap_or_default();
        let err = stderr.recv_timeout(DEADLINE).unwrap_or_default();
        (status.success(), out, err)
    }
}

/// Runs a file's runnable blocks; what failed, by line.
fn run_file(file: &Path, blocks: &[Block]) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    let scene = Scene::start(root.path());
    let name = file
        .strip_prefix(repo_root())
        .unwrap_or(file)
        .display()
        .to_string();
    let mut failures = Vec::new();
    for block in blocks {
        match block.kind {
            Kind::Sh => {
                let (ok, out, err) = scene.sh(&["-ec"], &scene.port(&block.text));
                if !ok {
                    failures.push(format!(
                        "{name}:{}: the sh block failed\n{}\n--- stdout:\n{out}--- stderr:\n{err}",
                        block.line, block.text
                    ));
                }
            }
            Kind::Console => {
                for (offset, cmd, expected) in console_steps(&block.text) {
                    let line = block.line + 1 + offset;
                    let (ok, out, err) = scene.sh(&["-c"], &scene.port(&cmd));
                    let expected: Vec<String> = expected.iter().map(|l| scene.port(l)).collect();
                    let lines: Vec<&str> = out.lines().collect();
                    let matched = expected.is_empty() || output_matches(&expected, &lines);
                    if !ok || !matched {
                        failures.push(format!(
                            "{name}:{line}: $ {cmd}\n{}\n--- expected:\n{}\n--- stdout:\n{out}--- stderr:\n{err}",
                            if ok { "the output differs" } else { "it failed" },
                            expected.join("\n"),
                        ));
                    }
                }
            }
        }
    }
    failures
}

#[test]
fn the_runnable_examples_in_the_docs_work() {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut failures: Vec<String> = Vec::new();
    let mut ran = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let blocks = runnable_blocks(&text);
        if file.ends_with("README.md") {
            assert!(
                blocks.len() >= 3,
                "README.md has {} runnable blocks",
                blocks.len()
            );
        }
        if !blocks.is_empty() {
            ran += blocks.len();
            failures.extend(run_file(file, &blocks));
        }
    }
    let hint = if failures.iter().any(|f| f.contains(": not found")) {
        "\n\na tool is missing: the examples need curl and nc (netcat-openbsd); .ci/run installs them"
    } else {
        ""
    };
    assert!(
        failures.is_empty(),
        "{} of the docs' runnable examples failed (of {ran} blocks):\n\n{}{hint}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn blocks_and_outputs_are_read_as_documented() {
    let doc = "text\n```console runnable\n$ echo a \\\n  b\na b\n$ true\n```\n\
               ```sh\nnot runnable\n```\n```sh runnable\nls\n```\n";
    let blocks = runnable_blocks(doc);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].kind), (2, Kind::Console));
    assert_eq!((blocks[1].line, blocks[1].kind), (11, Kind::Sh));
    let steps = console_steps(&blocks[0].text);
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0].1, "echo a \\\n  b");
    assert_eq!(steps[0].2, ["a b"]);
    assert!(steps[1].2.is_empty());

    let exp = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(line_matches(
        "confab 0.1.0 (commit ...)",
        "confab 0.1.0 (commit 1a2b)"
    ));
    assert!(line_matches("a\t b", "a b"));
    assert!(!line_matches(
        "confab 0.1.0 (commit ...)",
        "confab 0.2.0 (commit 1a2b)"
    ));
    assert!(line_matches("... *** x ...", "[14:02] *** x y"));
    assert!(!line_matches("ab...ba", "aba"));
    assert!(output_matches(
        &exp(&["a", "...", "z"]),
        &["a", "b", "c", "z"]
    ));
    assert!(output_matches(&exp(&["a", "...", "z"]), &["a", "z"]));
    assert!(!output_matches(&exp(&["a", "z"]), &["a", "b", "z"]));
    assert!(!output_matches(&exp(&["a"]), &["a", "b"]));
}
