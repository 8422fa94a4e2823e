//! What the server keeps is for its owner only: the data dir and every
//! file in it (database, its WAL, the audit log, the keys) are created
//! 0700/0600, whatever the umask. What users see of each other is not
//! where they connect from: hosts are cloaks on every door. Secret rooms
//! are invisible to whoever is not in them, and a user a room bans reads
//! none of its history, over REST or any door.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::http::get;
use crate::irc_client::{self, Message, all, create_account, dump, has, last, must, param};
use crate::support::{Client, start, start_in};
use crate::ws_client;

const PW: &str = "correct-horse";

/// The address every test client connects from.
const REAL: &str = "127.0.0.1";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_dir_and_its_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let s = start_in(&data, |_| {}).await;
    // Something to write: a message, so the database and audit log grow.
    let mut alice = Client::login(s.addr, "alice").await;
    alice.say("#general", "a secret").await;
    s.shutdown().await;

    assert_eq!(mode(&data), 0o700, "the data dir");
    let mut files = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files += 1;
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // confab.db (and its -wal/-shm while open), audit.jsonl, token.key,
    // cloak.key.
    assert!(files >= 4, "only {files} files in {}", data.display());
    assert!(data.join("token.key").exists());
    assert!(data.join("cloak.key").exists());
}

#[tokio::test]
async fn the_audit_log_can_keep_private_texts_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |c| c.audit.private_texts = false).await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.send("/msg @bob our little secret").await;
    bob.expect("our little secret").await;
    alice.say("#general", "a public remark").await;
    s.shutdown().await;

    let log = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    assert!(!log.contains("our little secret"), "{log}");
    let private: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] == "private_message")
        .collect();
    assert_eq!(private.len(), 1, "{log}");
    assert_eq!(private[0]["from"], "alice");
    assert_eq!(private[0]["to"], "bob");
    assert!(private[0]["text"].is_null());
    assert!(log.contains("a public remark"), "room messages keep theirs");
}

/// A cloak: `<16 base32 letters>.confab`.
fn assert_cloak(host: &str) {
    let (hash, suffix) = host
        .split_once('.')
        .unwrap_or_else(|| panic!("not a cloak: {host}"));
    assert_eq!(suffix, "confab", "{host}");
    assert_eq!(hash.len(), 16, "{host}");
    assert!(
        hash.chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)),
        "{host}"
    );
}

/// Asserts no line of `msgs` holds the real address.
#[track_caller]
fn no_address(case: &str, msgs: &[Message]) {
    assert!(
        !msgs.iter().any(|m| m.to_string().contains(REAL)),
        "[{case}] the address shows:\n{}",
        dump(msgs)
    );
}

#[tokio::test]
async fn every_door_shows_a_cloak_never_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |_| {}).await;
    let mut telly = Client::login(s.addr, "telly").await;
    let mut ircy = irc_client::register_with_caps(s.addr, "ircy", &["userhost-in-names"]).await;
    let (mut webby, _) = ws_client::guest(s.addr, "webby").await;

    // IRC WHOIS: 311 <client> <nick> <user> <host> * :<real name>
    let r = ircy.ask("WHOIS telly").await;
    no_address("whois", &r);
    let host = param(must("whois", &r, "311"), 3).to_owned();
    assert_cloak(&host);
    // WHO nick: 352 <client> <channel> <user> <host> <server> <nick> …
    let r = ircy.ask("WHO telly").await;
    no_address("who", &r);
    assert_eq!(param(must("who", &r, "352"), 3), host);
    // The user's prefix on what they do, and NAMES with userhost.
    let r = ircy.join("#general").await;
    no_address("names", &r);
    let names = last(must("names", &r, "353"));
    assert!(names.contains(&format!("telly!telly@{host}")), "{names}");
    telly.say("#general", "hello there").await;
    let (_, m) = ircy.expect_skipping("PRIVMSG").await;
    assert_eq!(
        m.source.as_deref(),
        Some(format!("telly!telly@{host}").as_str()),
        "{m}"
    );
    // The IRC client's own mask is a cloak too, the one others see.
    let r = ircy.ask("WHOIS ircy").await;
    no_address("whois self", &r);
    let irc_host = param(must("whois self", &r, "311"), 3).to_owned();
    assert_cloak(&irc_host);
    let r = ircy.ask("USERHOST ircy").await;
    assert!(last(must("userhost", &r, "302")).ends_with(&format!("@{irc_host}")));

    // The line door's /whois.
    telly.send("/whois @ircy").await;
    telly.expect("*** ircy (").await;
    let from = telly.expect("***   from ").await;
    assert!(from.ends_with(&format!("from {irc_host}")), "{from}");
    assert!(!from.contains(REAL), "{from}");

    // The WebSocket's whois.
    let (replies, _) = webby.ok(json!({"type": "whois", "nick": "telly"})).await;
    let whois = replies
        .iter()
        .find(|m| m["type"] == "whois")
        .expect("whois");
    assert_eq!(whois["users"][0]["host"], host.as_str(), "{whois}");
    assert!(!whois.to_string().contains(REAL), "{whois}");

    // One address, one cloak: all three come from 127.0.0.1.
    assert_eq!(irc_host, host);
    // The audit log keeps the real address.
    s.shutdown().await;
    let log = std::fs::read_to_string(data.join("audit.jsonl")).unwrap();
    let peers: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "connect")
        .collect();
    assert!(peers.len() >= 3, "{log}");
    assert!(
        peers
            .iter()
            .all(|v| v["peer"].as_str().is_some_and(|p| p.starts_with(REAL))),
        "{log}"
    );
}

#[tokio::test]
async fn with_cloaks_off_hosts_are_addresses() {
    let s = start(|c| c.cloak.enabled = false).await;
    let _telly = Client::login(s.addr, "telly").await;
    let mut ircy = irc_client::register(s.addr, "ircy").await;
    let r = ircy.ask("WHOIS telly").await;
    assert_eq!(param(must("whois", &r, "311"), 3), REAL);
}

/// Logs in over REST; the token.
async fn token(addr: SocketAddr, name: &str) -> String {
    let r = crate::http::post(addr, "/api/v1/login")
        .json(&json!({"name": name, "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn a_secret_room_is_invisible_to_non_members() {
    let s = start(|_| {}).await;
    let mut alice = irc_client::register(s.addr, "alice").await;
    alice.join("#open").await;
    alice.join("#hush").await;
    let r = alice.ask("MODE #hush +s").await;
    assert!(has(&r, "MODE"), "{}", dump(&r));
    alice.ask("TOPIC #hush :the plan").await;
    let mut eve = create_account(s.addr, "eve", PW, &[]).await;
    let mut telly = Client::login(s.addr, "telly").await;

    // LIST
    let r = eve.ask("LIST").await;
    let listed: Vec<&str> = all(&r, "322").iter().map(|m| param(m, 1)).collect();
    assert!(listed.contains(&"#open"), "{}", dump(&r));
    assert!(!listed.contains(&"#hush"), "{}", dump(&r));
    // WHOIS: 319 <client> <nick> :<channels>
    let r = eve.ask("WHOIS alice").await;
    let chans = last(must("whois", &r, "319"));
    assert!(
        chans.contains("#open") && !chans.contains("#hush"),
        "{chans}"
    );
    // NAMES, WHO, TOPIC, MODE of it: as if it did not exist.
    let r = eve.ask("NAMES #hush").await;
    assert!(!has(&r, "353") && has(&r, "366"), "{}", dump(&r));
    let r = eve.ask("WHO #hush").await;
    assert!(!has(&r, "352") && has(&r, "315"), "{}", dump(&r));
    for line in ["TOPIC #hush", "MODE #hush"] {
        let r = eve.ask(line).await;
        assert!(has(&r, "403"), "{line}: {}", dump(&r));
        assert!(
            !r.iter().any(|m| m.to_string().contains("the plan")),
            "{line}"
        );
    }
    // Its members still see it.
    let r = alice.ask("WHOIS alice").await;
    assert!(last(must("own whois", &r, "319")).contains("#hush"));

    // REST: the room list and its history.
    let t = token(s.addr, "eve").await;
    let r = get(s.addr, "/api/v1/rooms").bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rooms = r.json();
    let names: Vec<&str> = rooms
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        names.contains(&"#open") && !names.contains(&"#hush"),
        "{names:?}"
    );
    let r = get(s.addr, "/api/v1/rooms/%23hush/messages")
        .bearer(&t)
        .send()
        .await;
    assert_eq!(r.assert_error(404), "no_such_room");

    // The line door's /rooms and /whois.
    telly.send("/rooms").await;
    telly.expect_without("#open", "#hush").await;
    telly.send("/whois @alice").await;
    let rooms = telly.expect("***   in ").await;
    assert!(
        rooms.contains("#open") && !rooms.contains("#hush"),
        "{rooms}"
    );
}

#[tokio::test]
async fn a_banned_user_reads_no_history_over_rest_or_any_door() {
    let s = start(|_| {}).await;
    let mut alice = irc_client::register(s.addr, "alice").await;
    alice.join("#a").await;
    let mut bob = create_account(s.addr, "bob", PW, &["batch", "draft/chathistory"]).await;
    bob.join("#a").await;
    alice.ask("PRIVMSG #a :before the ban").await;
    bob.sync().await;
    let t = token(s.addr, "bob").await;
    let history = "/api/v1/rooms/%23a/messages";
    let search = "/api/v1/rooms/%23a/search?q=ban";
    let r = get(s.addr, history).bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("before the ban"));

    // Banned, though still a member.
    let r = alice.ask("MODE #a +b bob!*@*").await;
    assert!(has(&r, "MODE"), "{}", dump(&r));
    bob.sync().await;
    for path in [history, search] {
        let r = get(s.addr, path).bearer(&t).send().await;
        assert_eq!(r.assert_error(403), "banned", "{path}");
        assert!(!r.text().contains("before the ban"), "{path}");
    }
    // IRC's CHATHISTORY.
    let r = bob.ask("CHATHISTORY LATEST #a * 10").await;
    let fail = must("chathistory", &r, "FAIL");
    assert_eq!(param(fail, 1), "INVALID_TARGET", "{fail}");
    assert!(!r.iter().any(|m| m.to_string().contains("before the ban")));
    // The WebSocket's history, for the same account.
    let (mut web, _) = ws_client::hello(
        s.addr,
        "bob-web",
        json!({"type": "hello", "v": 1, "token": t, "auto_join": false}),
    )
    .await;
    let refused = web.refused(json!({"type": "history", "to": "#a"})).await;
    assert_eq!(refused["code"], "banned", "{refused}");

    // Lifted, it reads again.
    alice.ask("MODE #a -b bob!*@*").await;
    let r = get(s.addr, history).bearer(&t).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}
