//! Moderation by server operators, across doors. The attack: someone
//! misbehaves and the only remedies were per room. Now an operator
//! (`[[opers]]` in the config) disconnects them from any door (IRC
//! `KILL`, line `/kill`, WebSocket `kill`, REST admin), and nobody else
//! can: becoming an operator takes the oper password, which is checked
//! like a login password (failures count against the address).

use serde_json::json;

use crate::http::post;
use crate::irc_client;
use crate::support::{Client, TestServer, start};
use crate::ws_client;

const ADMIN: &str = "admin-token-for-oper-tests";
const OPER_PW: &str = "oper-secret-pw";

async fn server() -> TestServer {
    start(|c| {
        c.http.admin_token = ADMIN.to_owned();
        c.accounts.max_failed_logins_per_address = 3;
        c.opers = vec![confab_server::config::OperConfig {
            name: "root".to_owned(),
            password_hash: confab_server::auth::hash(OPER_PW),
        }];
    })
    .await
}

#[tokio::test]
async fn an_operator_on_the_line_door_kills_an_irc_user_and_a_web_user() {
    let s = server().await;
    let mut oper = Client::login(s.addr, "sheriff").await;
    let mut irc = irc_client::register(s.addr, "spammer").await;
    let (mut web, _) = ws_client::guest(s.addr, "webspam").await;
    oper.send("/kill @spammer flooding").await;
    oper.expect("not a server operator").await;
    oper.send(&format!("/oper root {OPER_PW}")).await;
    oper.expect("You are now a server operator").await;

    oper.send("/kill @spammer flooding").await;
    oper.expect("spammer was killed").await;
    let rest = irc.expect_closed().await;
    assert!(
        rest.iter()
            .any(|m| m.command == "ERROR" && m.params[0].contains("Killed (sheriff (flooding))")),
        "{rest:?}"
    );

    oper.send("/kill webspam").await;
    oper.expect("webspam was killed").await;
    let (rest, _) = web.expect_closed().await;
    assert!(
        rest.iter()
            .any(|m| m.to_string().contains("Killed (sheriff")),
        "{rest:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_web_operator_kills_and_wallops_reach_operators_on_other_doors() {
    let s = server().await;
    let (mut web, _) = ws_client::guest(s.addr, "webop").await;
    let mut irc = irc_client::register(s.addr, "ircop").await;
    let mut victim = Client::login(s.addr, "victim").await;
    let e = web.refused(json!({"type": "kill", "nick": "victim"})).await;
    assert_eq!(e["code"], "not_server_oper", "{e}");
    let e = web
        .refused(json!({"type": "oper", "name": "root", "password": "nope"}))
        .await;
    assert_eq!(e["code"], "wrong_password", "{e}");
    let (before, _) = web
        .ok(json!({"type": "oper", "name": "root", "password": OPER_PW}))
        .await;
    assert!(before.iter().any(|m| m["type"] == "oper"), "{before:?}");
    irc.ask(&format!("OPER root {OPER_PW}")).await;

    web.ok(json!({"type": "wallops", "text": "eyes on #general"}))
        .await;
    let w = irc.expect("WALLOPS").await;
    assert_eq!(
        w.params.last().map(String::as_str),
        Some("eyes on #general")
    );

    web.ok(json!({"type": "kill", "nick": "victim", "reason": "go away"}))
        .await;
    let rest = victim.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("Killed (webop (go away))")),
        "{rest:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn wrong_oper_passwords_count_as_failed_logins() {
    let s = server().await;
    let mut c = Client::login(s.addr, "guesser").await;
    for _ in 0..3 {
        c.send("/oper root wrong-guess").await;
        c.expect("wrong operator password").await;
    }
    // The address is out of tries, even with the right password.
    c.send(&format!("/oper root {OPER_PW}")).await;
    c.expect("too many failed logins").await;
    s.shutdown().await;
}

#[tokio::test]
async fn the_rest_admin_kills_and_sends_wallops() {
    let s = server().await;
    let mut oper = irc_client::register(s.addr, "ircop").await;
    oper.ask(&format!("OPER root {OPER_PW}")).await;
    let mut victim = Client::login(s.addr, "victim").await;

    let r = post(s.addr, "/api/v1/admin/wallops")
        .bearer(ADMIN)
        .json(&json!({"text": "restart at noon"}))
        .send()
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["sessions"], 1);
    let w = oper.expect("WALLOPS").await;
    assert_eq!(w.params.last().map(String::as_str), Some("restart at noon"));

    let r = post(s.addr, "/api/v1/admin/kill")
        .bearer(ADMIN)
        .json(&json!({"nick": "VICTIM", "reason": "abuse"}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["nick"], "VICTIM");
    let rest = victim.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("Killed (admin (abuse))")),
        "{rest:?}"
    );
    let r = post(s.addr, "/api/v1/admin/kill")
        .bearer(ADMIN)
        .json(&json!({"nick": "victim"}))
        .send()
        .await;
    r.assert_error(404);
    let r = post(s.addr, "/api/v1/admin/kill")
        .bearer("not-the-token")
        .json(&json!({"nick": "ircop"}))
        .send()
        .await;
    r.assert_error(401);
    s.shutdown().await;
}

const PW: &str = "correct-horse";

/// Registers `name` on the line door and leaves the connection open.
async fn account(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut c = Client::login(addr, name).await;
    c.send(&format!("/register {PW}")).await;
    c.expect(&format!("*** The name {name} is now registered to you"))
        .await;
    c
}

#[tokio::test]
async fn a_kline_on_an_account_ends_its_sessions_on_every_door_and_its_logins() {
    let s = server().await;
    let mut troll = account(s.addr, "troll").await;
    let (mut web, _) = ws_client::hello(
        s.addr,
        "troll-web",
        json!({"type": "hello", "v": 1, "name": "troll", "password": PW, "auto_join": false}),
    )
    .await;
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "troll", "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();

    let mut oper = irc_client::register(s.addr, "sheriff").await;
    oper.ask(&format!("OPER root {OPER_PW}")).await;
    let r = oper.ask("KLINE $a:troll :trolling").await;
    let notice = r.iter().find(|m| m.command == "NOTICE").expect("a notice");
    assert!(
        notice.params[1].contains("2 sessions disconnected"),
        "{notice:?}"
    );
    let rest = troll.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("K-lined (trolling)")),
        "{rest:?}"
    );
    let (rest, _) = web.expect_closed().await;
    assert!(
        rest.iter().any(|m| m["type"] == "bye"),
        "the web session ended: {rest:?}"
    );

    // Logging in again is refused on every door, with the reason.
    let mut line = Client::connect(s.addr, "again").await;
    line.expect("name").await;
    line.send(&format!("/login troll {PW}")).await;
    line.expect("you are banned from this server: trolling")
        .await;
    let mut ws = ws_client::Ws::connect(s.addr, "again-web").await;
    let e = ws
        .refused(json!({"type": "hello", "v": 1, "name": "troll", "password": PW}))
        .await;
    assert_eq!(e["code"], "banned_from_server", "{e}");
    // A token from before the ban is no use.
    let r = crate::http::get(s.addr, "/api/v1/rooms")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(r.assert_error(403), "banned_from_server");
    // Nor does a new one come.
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "troll", "password": PW}))
        .send()
        .await;
    assert_eq!(r.assert_error(403), "banned_from_server");
    s.shutdown().await;
}

#[tokio::test]
async fn klines_over_rest_are_listed_enforced_and_lifted() {
    let s = server().await;
    let kline = |body: serde_json::Value| {
        post(s.addr, "/api/v1/admin/klines")
            .bearer(ADMIN)
            .json(&body)
            .send()
    };
    // Too wide to be a ban: refused as what was asked, not its form.
    let r = kline(json!({"mask": "*!*@*"})).await;
    assert_eq!(r.assert_error(409), "bad_mask");
    let r = kline(json!({"mask": "127.0.0.0/8", "minutes": 0})).await;
    r.assert_error(422);
    let mut bystander = Client::login(s.addr, "bystander").await;
    let r = kline(json!({"mask": "bystander!*@*", "minutes": 30, "reason": "timeout"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"mask": "bystander!*@*", "disconnected": 1})
    );
    let rest = bystander.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("K-lined (timeout)")),
        "{rest:?}"
    );

    let r = crate::http::get(s.addr, "/api/v1/admin/klines")
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()["klines"].clone();
    assert_eq!(list[0]["mask"], "bystander!*@*", "{list}");
    assert_eq!(list[0]["by"], "admin", "{list}");
    assert!(list[0]["expires"].is_string(), "{list}");

    let mut c = Client::connect(s.addr, "bystander").await;
    c.expect("name").await;
    c.send("bystander").await;
    c.expect("banned from this server: timeout").await;

    let del = |path: &str| {
        let path = format!("/api/v1/admin/klines?mask={path}");
        async move {
            crate::http::Request::new(s.addr, "DELETE", &path)
                .bearer(ADMIN)
                .send()
                .await
        }
    };
    let r = del("BYSTANDER!*%40*").await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = del("bystander!*%40*").await;
    r.assert_error(404);
    Client::login(s.addr, "bystander").await;
    s.shutdown().await;
}

#[tokio::test]
async fn an_address_kline_from_the_line_door_refuses_new_connections_from_it() {
    let s = server().await;
    let mut oper = Client::login(s.addr, "sheriff").await;
    oper.send(&format!("/oper root {OPER_PW}")).await;
    oper.expect("You are now a server operator").await;
    let mut other = Client::login(s.addr, "other").await;
    // Tests connect from 127.0.0.1: the operator bans their own address
    // for a minute, and goes with everyone else on it.
    oper.send("/kline 1 127.0.0.1 loopback").await;
    let rest = oper.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("K-lined (loopback)")),
        "{rest:?}"
    );
    other.expect_closed().await;
    let mut irc = irc_client::connect(s.addr, "late").await;
    irc.send("NICK late").await;
    irc.send("USER u 0 * :Late").await;
    let rest = irc.expect_closed().await;
    assert!(rest.iter().any(|m| m.command == "465"), "{rest:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_suspended_account_is_cut_off_on_every_door_until_lifted() {
    let s = server().await;
    let mut alice = account(s.addr, "alice").await;
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "alice", "password": PW}))
        .send()
        .await;
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let (mut web, _) = ws_client::guest(s.addr, "webop").await;
    web.ok(json!({"type": "oper", "name": "root", "password": OPER_PW}))
        .await;
    let (before, _) = web
        .ok(json!({"type": "suspend", "name": "alice", "reason": "spam"}))
        .await;
    assert!(
        before
            .iter()
            .any(|m| m["type"] == "notice" && m["text"].as_str().unwrap().contains("1 sessions")),
        "{before:?}"
    );
    let rest = alice.expect_closed().await;
    assert!(
        rest.iter().any(|l| l.contains("Suspended (spam)")),
        "{rest:?}"
    );

    let mut irc = irc_client::connect(s.addr, "alice-irc").await;
    irc.send(&format!("PASS {PW}")).await;
    irc.send("NICK alice").await;
    irc.send("USER u 0 * :A").await;
    let rest = irc.expect_closed().await;
    assert!(
        rest.iter()
            .any(|m| m.command == "465" && m.params.last().unwrap().contains("suspended")),
        "{rest:?}"
    );
    let r = crate::http::get(s.addr, "/api/v1/rooms")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(r.assert_error(403), "suspended");
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "alice", "password": PW}))
        .send()
        .await;
    assert_eq!(r.assert_error(403), "suspended");
    let r = crate::http::get(s.addr, "/api/v1/admin/suspensions")
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(
        r.json(),
        json!({"suspensions": [{"name": "alice", "reason": "spam"}]})
    );
    // Operators on every door read the same list.
    let (before, _) = web.ok(json!({"type": "suspensions"})).await;
    assert!(
        before.iter().any(|m| m["type"] == "suspensions"
            && m["suspensions"] == json!([{"name": "alice", "reason": "spam"}])),
        "{before:?}"
    );
    let mut ircop = irc_client::register(s.addr, "ircop").await;
    ircop.ask(&format!("OPER root {OPER_PW}")).await;
    let said: Vec<String> = ircop
        .ask("SUSPENSIONS")
        .await
        .into_iter()
        .filter(|m| m.command == "NOTICE")
        .map(|m| m.params.last().unwrap().clone())
        .collect();
    assert_eq!(said, ["1 suspended accounts:", "  alice (spam)"]);
    let mut lineop = Client::login(s.addr, "lineop").await;
    lineop.send(&format!("/oper root {OPER_PW}")).await;
    lineop.expect("You are now a server operator").await;
    lineop.send("/suspensions").await;
    lineop.expect("*** 1 suspended accounts:").await;
    lineop.expect("***   alice (spam)").await;

    let r = crate::http::Request::new(s.addr, "DELETE", "/api/v1/admin/suspensions?name=ALICE")
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = crate::http::get(s.addr, "/api/v1/rooms")
        .bearer(&token)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut line = Client::connect(s.addr, "back").await;
    line.expect("name").await;
    line.send(&format!("/login alice {PW}")).await;
    line.expect("*** Welcome, alice!").await;
    s.shutdown().await;
}

#[tokio::test]
async fn lockdown_keeps_new_guests_and_registrations_out_on_every_door() {
    let s = server().await;
    account(s.addr, "member").await;
    let mut here = Client::login(s.addr, "here").await;
    let mut oper = Client::login(s.addr, "sheriff").await;
    oper.send(&format!("/oper root {OPER_PW}")).await;
    oper.expect("You are now a server operator").await;
    oper.send("/lockdown on").await;
    oper.expect("Lockdown is on").await;

    let mut guest = Client::connect(s.addr, "newbie").await;
    guest.expect("name").await;
    guest.send("newbie").await;
    guest.expect("the server is in lockdown").await;
    let mut irc = irc_client::connect(s.addr, "irc-newbie").await;
    irc.send("NICK ircnew").await;
    irc.send("USER u 0 * :N").await;
    let rest = irc.expect_closed().await;
    assert!(
        rest.iter()
            .any(|m| m.params.last().is_some_and(|p| p.contains("lockdown"))),
        "{rest:?}"
    );
    let mut ws = ws_client::Ws::connect(s.addr, "ws-newbie").await;
    let e = ws
        .refused(json!({"type": "hello", "v": 1, "name": "wsnew"}))
        .await;
    assert_eq!(e["code"], "lockdown", "{e}");
    // A guest already here cannot register now; accounts still log in.
    here.send(&format!("/register {PW}")).await;
    here.expect("the server is in lockdown").await;
    let mut member = Client::connect(s.addr, "member").await;
    member.expect("name").await;
    member.send(&format!("/login member {PW}")).await;
    member.expect("*** Welcome, member!").await;

    let r = crate::http::get(s.addr, "/api/v1/admin/lockdown")
        .bearer(ADMIN)
        .send()
        .await;
    assert_eq!(r.json(), json!({"on": true}));
    let r = crate::http::Request::new(s.addr, "PUT", "/api/v1/admin/lockdown")
        .bearer(ADMIN)
        .json(&json!({"on": false}))
        .send()
        .await;
    assert_eq!(r.json(), json!({"on": false}), "{}", r.text());
    Client::login(s.addr, "newbie").await;
    s.shutdown().await;
}
