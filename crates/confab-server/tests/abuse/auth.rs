//! Authentication limits, the same on every door: failed logins from one
//! address are counted together whichever door they come through, and
//! past the limit every door refuses that address's logins (a right
//! password included); registrations are limited per address and hour;
//! `/login` works on the line door after a guest name was chosen.

use std::net::SocketAddr;

use serde_json::json;

use crate::http::post;
use crate::irc_client;
use crate::support::{Client, start};
use crate::ws_client::Ws;

const PW: &str = "correct-horse";

async fn rest_login(addr: SocketAddr, password: &str) -> crate::http::Response {
    post(addr, "/api/v1/login")
        .json(&json!({"name": "alice", "password": password}))
        .send()
        .await
}

#[tokio::test]
async fn guessing_passwords_across_doors_hits_the_per_address_limit_on_every_door() {
    let s = start(|c| c.accounts.max_failed_logins_per_address = 4).await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.send(&format!("/register {PW}")).await;
    alice.expect("is now registered to you").await;

    // The attack: wrong passwords through every door, from one address.
    assert_eq!(
        rest_login(s.addr, "guess-one").await.assert_error(401),
        "wrong_login"
    );
    let mut irc = irc_client::register(s.addr, "ircguest").await;
    irc.send("PRIVMSG NickServ :IDENTIFY alice guess-two").await;
    let n = irc.expect("NOTICE").await;
    assert!(
        irc_client::param(&n, 1).contains("wrong name or password"),
        "{n}"
    );
    let mut telnet = Client::login(s.addr, "telguest").await;
    telnet.send("/login alice guess-three").await;
    telnet.expect("wrong name or password").await;
    let mut web = Ws::connect(s.addr, "web").await;
    let hello = json!({"type": "hello", "v": 1, "name": "alice", "password": "guess-four"});
    assert_eq!(web.refused(hello).await["code"], "bad_login");

    // The address is now refused everywhere, even with the right password.
    let r = rest_login(s.addr, PW).await;
    assert_eq!(r.assert_error(429), "too_many_requests");
    assert!(r.text().contains("too many failed logins"), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    telnet.send(&format!("/login alice {PW}")).await;
    telnet
        .expect("too many failed logins from your address")
        .await;
    let mut web = Ws::connect(s.addr, "web2").await;
    let hello = json!({"type": "hello", "v": 1, "name": "alice", "password": PW});
    assert_eq!(web.refused(hello).await["code"], "too_many_failures");
    irc.send(&format!("PRIVMSG NickServ :IDENTIFY alice {PW}"))
        .await;
    let n = irc.expect("NOTICE").await;
    assert!(
        irc_client::param(&n, 1).contains("too many failed logins"),
        "{n}"
    );

    // The account's owner, already in, is not affected.
    alice.say("#general", "still here").await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_registration_burst_from_one_address_is_limited() {
    let s = start(|c| c.accounts.registrations_per_address_per_hour = 3).await;
    for i in 0..3 {
        let name = format!("reg{i}");
        let mut c = Client::login(s.addr, &name).await;
        c.send(&format!("/register {PW}")).await;
        c.expect(&format!("The name {name} is now registered to you"))
            .await;
    }
    let mut c = Client::login(s.addr, "reg3").await;
    c.send(&format!("/register {PW}")).await;
    c.expect("too many accounts registered from your address; try again in")
        .await;
    // Over WebSocket too: the limit is the address's, not the door's.
    let (mut web, _) = crate::ws_client::guest(s.addr, "reg4").await;
    let e = web
        .refused(json!({"type": "register", "password": PW}))
        .await;
    assert!(
        e["message"].as_str().unwrap().contains("too many accounts"),
        "{e}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_telnet_guest_can_log_in_to_an_account_later() {
    let s = start(|_| {}).await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.send(&format!("/register {PW}")).await;
    alice.expect("is now registered to you").await;
    let mut bob = Client::login(s.addr, "bob").await;

    let mut guest = Client::login(s.addr, "wanderer").await;
    guest.send(&format!("/login alice {PW}")).await;
    guest.expect("*** Welcome, alice!").await;
    bob.expect("wanderer quit").await;
    guest.send("hello from my other window").await;
    guest.expect("<alice> hello from my other window").await;
    alice.expect("<alice> hello from my other window").await;

    // Logged in already: a second /login is refused, and says so.
    guest.send(&format!("/login alice {PW}")).await;
    guest.expect("*** Error: you are already").await;
    s.shutdown().await;
}

/// `GET /api/v1/rooms` with `token`: the status.
async fn rooms_status(addr: SocketAddr, token: &str) -> u16 {
    crate::http::get(addr, "/api/v1/rooms")
        .bearer(token)
        .send()
        .await
        .status
}

async fn token_of(addr: SocketAddr, password: &str) -> String {
    let r = rest_login(addr, password).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logout_log_out_everywhere_refresh_and_a_new_password_revoke_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = crate::support::start_in(&data, |_| {}).await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.send(&format!("/register {PW}")).await;
    alice.expect("is now registered to you").await;

    // Logout voids that token only.
    let (a, b) = (token_of(s.addr, PW).await, token_of(s.addr, PW).await);
    let r = post(s.addr, "/api/v1/logout").bearer(&a).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = crate::http::get(s.addr, "/api/v1/rooms")
        .bearer(&a)
        .send()
        .await;
    assert_eq!(r.assert_error(401), "unauthorized");
    assert!(r.text().contains("revoked"), "{}", r.text());
    assert_eq!(rooms_status(s.addr, &b).await, 200);

    // A refresh swaps a token for a fresh one.
    let r = post(s.addr, "/api/v1/token").bearer(&b).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(rooms_status(s.addr, &b).await, 401);
    assert_eq!(rooms_status(s.addr, &c).await, 200);

    // Log out everywhere: every token issued so far.
    let d = token_of(s.addr, PW).await;
    let r = post(s.addr, "/api/v1/logout/all").bearer(&c).send().await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(rooms_status(s.addr, &c).await, 401);
    assert_eq!(rooms_status(s.addr, &d).await, 401);
    let mut web = Ws::connect(s.addr, "web").await;
    let e = web
        .refused(json!({"type": "hello", "v": 1, "token": d}))
        .await;
    assert_eq!(e["code"], "bad_token", "{e}");

    // A new password over REST: the old tokens go, the answer is a new one.
    let e_tok = token_of(s.addr, PW).await;
    const NEW: &str = "battery-staple";
    let r = post(s.addr, "/api/v1/password")
        .bearer(&e_tok)
        .json(&json!({"old": "not-it-at-all", "new": NEW}))
        .send()
        .await;
    assert_eq!(r.assert_error(401), "wrong_password");
    let r = post(s.addr, "/api/v1/password")
        .bearer(&e_tok)
        .json(&json!({"old": PW, "new": NEW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let f = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(rooms_status(s.addr, &e_tok).await, 401);
    assert_eq!(rooms_status(s.addr, &f).await, 200);
    assert_eq!(rest_login(s.addr, PW).await.status, 401);

    // A new password on the line door voids the REST token too.
    alice.send(&format!("/passwd {NEW} third-password")).await;
    alice.expect("your password is changed").await;
    assert_eq!(rooms_status(s.addr, &f).await, 401);
    let g = token_of(s.addr, "third-password").await;

    // Revocations outlive a restart.
    let r = post(s.addr, "/api/v1/logout").bearer(&g).send().await;
    assert_eq!(r.status, 204);
    let h = token_of(s.addr, "third-password").await;
    s.shutdown().await;
    let s = crate::support::start_in(&data, |_| {}).await;
    assert_eq!(rooms_status(s.addr, &g).await, 401);
    assert_eq!(rooms_status(s.addr, &f).await, 401);
    assert_eq!(rooms_status(s.addr, &h).await, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn a_guest_has_no_password_to_change_and_a_wrong_old_one_is_refused_everywhere() {
    let s = start(|_| {}).await;
    let mut guest = Client::login(s.addr, "drifter").await;
    guest.send("/passwd one-password two-password").await;
    guest
        .expect("*** Error: only a registered account has a password; /register PASSWORD first")
        .await;

    let mut alice = Client::login(s.addr, "alice").await;
    alice.send(&format!("/register {PW}")).await;
    alice.expect("is now registered to you").await;
    alice.send("/passwd wrong-password new-password").await;
    alice.expect("the old password is wrong").await;
    let mut irc = irc_client::register(s.addr, "ircy").await;
    irc.send("PRIVMSG NickServ :PASSWD a b").await;
    let n = irc.expect("NOTICE").await;
    assert!(
        irc_client::param(&n, 1).contains("only a registered account"),
        "{n}"
    );
    s.shutdown().await;
}
