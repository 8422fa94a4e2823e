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
