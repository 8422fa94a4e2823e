//! `confab.example.toml` against `confab serve --print-config`.
//!
//! The rule the example keeps:
//! - `key = value` is a setting at its default (the same value as
//!   `--print-config` prints with no config);
//! - `# key = value` (a `#`, one space, the setting) is an example for a
//!   setting whose default is empty or absent (`""`, `[]`, an unset path,
//!   no `[[listeners]]`) or depends on the machine (`data_dir`, under
//!   `$HOME`); `# [[table]]` opens a commented array-of-tables block;
//! - with every commented setting uncommented, the file names exactly the
//!   keys `--print-config` prints for it: every setting, none unknown;
//! - every setting line has a comment line right above it.
//!
//! Failures list every missing, extra and different key at once, so an
//! update after a merge is one edit.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Value;

use super::repo_root;
use crate::process::confab;

/// A setting's path (`limits.send_queue`; `opers[].name` inside arrays of
/// tables) and its value, in file order.
type Flat = BTreeMap<String, Value>;

fn flatten(prefix: &str, value: &Value, out: &mut Flat) {
    match value {
        Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table) => {
            for item in items {
                flatten(&format!("{prefix}[]"), item, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

fn parse(text: &str, what: &str) -> Flat {
    let value: Value = toml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    let mut flat = Flat::new();
    flatten("", &value, &mut flat);
    flat
}

/// What a commented setting looks like: `# key = value` or `# [table]` /
/// `# [[table]]`; the text after `# ` when it is one, else `None`.
fn commented_setting(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    let key_len = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(rest.len());
    let after = rest[key_len..].trim_start();
    let is_key = key_len > 0 && after.starts_with('=');
    let header = rest.trim_end();
    let is_header = header.starts_with('[')
        && header.ends_with(']')
        && header
            .trim_matches(['[', ']'])
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
    (is_key || is_header).then_some(rest)
}

/// The example with every commented setting uncommented.
fn uncommented(example: &str) -> String {
    example
        .lines()
        .map(|line| commented_setting(line).unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `confab serve --print-config` with a private HOME and, optionally, a
/// config file.
fn print_config(home: &Path, config: Option<&Path>) -> String {
    let mut cmd = confab(home);
    cmd.args(["serve", "--print-config"]);
    if let Some(file) = config {
        cmd.arg("--config").arg(file);
    }
    let out = cmd.output().expect("run confab");
    assert!(
        out.status.success(),
        "confab serve --print-config {config:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An empty default: nothing to show as `key = default`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[test]
fn the_example_config_has_every_setting_at_its_default() {
    let home = tempfile::tempdir().unwrap();
    let path = repo_root().join("confab.example.toml");
    let example = std::fs::read_to_string(&path).expect("confab.example.toml at the repo root");
    let home_text = home.path().display().to_string();
    let defaults = parse(&print_config(home.path(), None), "--print-config");
    let active = parse(&example, "confab.example.toml");
    let full_text = uncommented(&example);
    let full = parse(&full_text, "confab.example.toml, uncommented");
    let full_file = home.path().join("uncommented.toml");
    std::fs::write(&full_file, &full_text).unwrap();
    let printed = parse(
        &print_config(home.path(), Some(&full_file)),
        "--print-config of the uncommented example",
    );

    let mut problems = Vec::new();
    for key in printed.keys() {
        if !full.contains_key(key) {
            let default = defaults.get(key).map(Value::to_string);
            problems.push(format!(
                "missing: {key} (default {}): add it, with a comment",
                default.as_deref().unwrap_or("none")
            ));
        }
    }
    for key in full.keys() {
        if !printed.contains_key(key) {
            problems.push(format!("extra: {key} is not a setting: remove it"));
        }
    }
    for (key, default) in &defaults {
        match active.get(key) {
            Some(value) if value != default => problems.push(format!(
                "different: {key} = {value} in the example, but its default is {default}"
            )),
            Some(_) => {}
            None if is_empty(default) || default.to_string().contains(&home_text) => {}
            None if !full.contains_key(key) => {} // reported as missing
            None => problems.push(format!(
                "commented out: {key} has a default: write it as `{} = {default}`",
                key.rsplit('.').next().unwrap_or(key)
            )),
        }
    }
    for key in active.keys() {
        if !defaults.contains_key(key) {
            problems.push(format!(
                "not a default: {key} is set but its default is empty or absent: \
                 write it as `# {key} = example`"
            ));
        }
    }
    // Every setting line has a comment right above it.
    let lines: Vec<&str> = example.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let setting = commented_setting(line).unwrap_or(line);
        let is_setting = !setting.starts_with('#')
            && !setting.starts_with('[')
            && setting.contains('=')
            && !line.starts_with(' ');
        let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
        let explained = above.starts_with('#') && commented_setting(above).is_none();
        if is_setting && !explained {
            problems.push(format!(
                "line {}: `{line}` has no comment line above it",
                i + 1
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "confab.example.toml is out of step with `confab serve --print-config`:\n  {}\n\
         (the rule is at the top of crates/confab/tests/docs/example_config.rs)",
        problems.join("\n  ")
    );
}

#[test]
fn print_config_hides_secrets() {
    let home = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(repo_root().join("confab.example.toml")).unwrap();
    let file = home.path().join("full.toml");
    std::fs::write(&file, uncommented(&example)).unwrap();
    let printed = print_config(home.path(), Some(&file));
    let hash_line = example
        .lines()
        .find_map(|l| l.strip_prefix("# password_hash = "))
        .expect("an example oper hash");
    for secret in ["a-long-random-string", hash_line.trim_matches('"')] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }
    assert!(printed.contains("admin_token = \"<hidden>\""), "{printed}");
    assert!(
        printed.contains("password_hash = \"<hidden>\""),
        "{printed}"
    );
    // From the environment too; and the placeholder pasted back is refused.
    let out = confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_HTTP__ADMIN_TOKEN", "from-the-env-s3cret")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!printed.contains("from-the-env-s3cret"), "{printed}");
    assert!(printed.contains("admin_token = \"<hidden>\""), "{printed}");
    let out = confab(home.path())
        .args(["serve", "--print-config"])
        .env("CONFAB_HTTP__ADMIN_TOKEN", "<hidden>")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("http.admin_token"), "{stderr}");
}

#[test]
fn commented_settings_are_told_from_prose() {
    for (line, setting) in [
        (
            "# data_dir = \"/var/lib/confab\"",
            Some("data_dir = \"/var/lib/confab\""),
        ),
        ("# [[listeners]]", Some("[[listeners]]")),
        ("# [tls]", Some("[tls]")),
        ("# The address to listen on.", None),
        ("# a line `key = value` is a setting", None),
        ("# CONFAB_LIMITS__SEND_QUEUE=2048), then flags.", None),
        ("#key = 1", None),
        ("key = 1", None),
    ] {
        assert_eq!(commented_setting(line), setting, "{line}");
    }
}
