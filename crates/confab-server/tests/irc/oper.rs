//! Server operators over IRC, in the manner of irctest's `oper` and
//! `kill` tests: `OPER operuser operpassword` on a server named
//! `My.Little.Server`, 381 and user mode `+o` on success, 464 for a wrong
//! password, 491 for a name no `[[opers]]` block has, 461 for too few
//! parameters; `KILL` and `WALLOPS` for operators only (481 otherwise);
//! WHOIS shows 313 for operators.

use confab_server::config::OperConfig;

use crate::client::*;
use crate::support::{TestServer, start};

pub const SERVER: &str = "My.Little.Server";

/// A server named `My.Little.Server` with the oper `operuser`, password
/// `operpassword`.
pub async fn oper_server() -> TestServer {
    start(|c| {
        c.irc.server_name = SERVER.to_owned();
        c.opers = vec![OperConfig {
            name: "operuser".to_owned(),
            password_hash: confab_server::auth::hash("operpassword"),
        }];
    })
    .await
}

#[tokio::test]
async fn oper_with_the_right_password_gives_381_and_mode_o() {
    let s = oper_server().await;
    let mut c = register(s.addr, "oper_user").await;
    let r = c.ask("OPER operuser operpassword").await;
    let yes = must("OPER", &r, "381");
    assert_eq!(yes.source.as_deref(), Some(SERVER), "{yes}");
    assert_eq!(param(yes, 0), "oper_user", "{yes}");
    let mode = must("OPER", &r, "MODE");
    assert_eq!(mode.params, ["oper_user", "+o"], "{mode}");
    let r = c.ask("MODE oper_user").await;
    assert!(
        param(must("MODE", &r, "221"), 1).contains('o'),
        "{}",
        dump(&r)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn mode_minus_o_drops_operator_status() {
    let s = oper_server().await;
    let mut c = register(s.addr, "oper_user").await;
    c.ask("OPER operuser operpassword").await;
    let r = c.ask("MODE oper_user -o").await;
    let mode = must("MODE -o", &r, "MODE");
    assert_eq!(mode.params, ["oper_user", "-o"], "{mode}");
    let r = c.ask("MODE oper_user").await;
    assert!(
        !param(must("MODE", &r, "221"), 1).contains('o'),
        "{}",
        dump(&r)
    );
    // Its privileges went with it; dropping it again changes nothing.
    let r = c.ask("WALLOPS :still there?").await;
    must("WALLOPS after -o", &r, "481");
    let r = c.ask("MODE oper_user -o").await;
    must_not("MODE -o again", &r, "MODE");
    s.shutdown().await;
}

#[tokio::test]
async fn oper_failures_give_their_numerics_and_no_privileges() {
    let s = oper_server().await;
    let mut c = register(s.addr, "oper_user").await;
    let cases: &[(&str, &str)] = &[
        ("OPER operuser nottheoperpassword", "464"),
        ("OPER nobody operpassword", "491"),
        ("OPER operuser", "461"),
        ("OPER", "461"),
    ];
    for (line, numeric) in cases {
        let r = c.ask(line).await;
        must(line, &r, numeric);
        must_not(line, &r, "381");
        must_not(line, &r, "MODE");
    }
    let r = c.ask("KILL oper_user :no").await;
    must("KILL after failed OPER", &r, "481");
    s.shutdown().await;
}

#[tokio::test]
async fn kill_and_wallops_need_an_operator() {
    let s = oper_server().await;
    let mut a = register(s.addr, "alice").await;
    let mut b = register(s.addr, "bob").await;
    for line in ["KILL bob :bye", "WALLOPS :hello"] {
        let r = a.ask(line).await;
        must(line, &r, "481");
    }
    let r = b.ask("PING :still-here").await;
    assert!(
        r.iter().all(|m| m.command != "ERROR"),
        "bob was not killed:\n{}",
        dump(&r)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn kill_disconnects_the_user_and_channels_see_the_quit() {
    let s = oper_server().await;
    let mut o = register(s.addr, "oper_user").await;
    let mut v = register(s.addr, "victim").await;
    let mut w = register(s.addr, "watcher").await;
    o.ask("OPER operuser operpassword").await;
    v.join("#chan").await;
    w.join("#chan").await;
    drain(&mut [&mut v, &mut w]).await;
    let r = o.ask("KILL victim :being rude").await;
    must_not("KILL", &r, "481");
    let rest = v.expect_closed().await;
    let error = must("victim", &rest, "ERROR");
    assert!(
        last(error).contains("Killed (oper_user (being rude))"),
        "{error}"
    );
    let quit = w.expect("QUIT").await;
    assert_eq!(nick_of(&quit), "victim", "{quit}");
    assert_eq!(last(&quit), "Killed (oper_user (being rude))", "{quit}");
    let r = o.ask("KILL victim :again").await;
    must("KILL of a name gone", &r, "401");
    let r = o.ask("KILL").await;
    must("KILL without a nick", &r, "461");
    s.shutdown().await;
}

#[tokio::test]
async fn wallops_reach_operators_only() {
    let s = oper_server().await;
    let mut o1 = register(s.addr, "one").await;
    let mut o2 = register(s.addr, "two").await;
    let mut plain = register(s.addr, "plain").await;
    o1.ask("OPER operuser operpassword").await;
    o2.ask("OPER operuser operpassword").await;
    o1.ask("WALLOPS :netsplit ahead").await;
    let got = o2.expect("WALLOPS").await;
    assert_eq!(nick_of(&got), "one", "{got}");
    assert_eq!(last(&got), "netsplit ahead", "{got}");
    let r = plain.sync().await;
    must_not("plain user", &r, "WALLOPS");
    s.shutdown().await;
}

#[tokio::test]
async fn whois_shows_313_for_an_operator_only() {
    let s = oper_server().await;
    let mut o = register(s.addr, "oper_user").await;
    let mut b = register(s.addr, "bob").await;
    o.ask("OPER operuser operpassword").await;
    let r = b.ask("WHOIS oper_user").await;
    let line = must("WHOIS oper", &r, "313");
    assert_eq!(param(line, 1), "oper_user", "{line}");
    assert!(index(&r, "313") < index(&r, "318"), "{}", dump(&r));
    let r = o.ask("WHOIS bob").await;
    must_not("WHOIS bob", &r, "313");
    s.shutdown().await;
}

#[tokio::test]
async fn kline_disconnects_matching_users_refuses_them_and_unkline_lifts_it() {
    let s = oper_server().await;
    let mut o = register(s.addr, "oper_user").await;
    let mut v = register(s.addr, "victim").await;
    let r = v.ask("KLINE victim!*@* :no").await;
    must("KLINE from a non-operator", &r, "481");
    o.ask("OPER operuser operpassword").await;
    let r = o.ask("KLINE 60 victim!*@* :go away").await;
    must_not("KLINE", &r, "481");
    let rest = v.expect_closed().await;
    let error = must("victim", &rest, "ERROR");
    assert!(last(error).contains("K-lined (go away)"), "{error}");

    // The name is refused at registration, with 465 and the reason.
    let mut again = connect(s.addr, "victim").await;
    again.send("NICK victim").await;
    again.send("USER u 0 * :Real Name").await;
    let rest = again.expect_closed().await;
    let banned = must("registration", &rest, "465");
    assert!(last(banned).contains("go away"), "{banned}");

    // Nor can someone else take the name.
    let mut other = register(s.addr, "other").await;
    let r = other.ask("NICK Victim").await;
    must("NICK into a K-lined name", &r, "432");
    must_not("NICK into a K-lined name", &r, "NICK");

    let r = o.ask("STATS k").await;
    let line = must("STATS k", &r, "216");
    assert_eq!(param(line, 2), "victim!*@*", "{line}");
    must("STATS k", &r, "219");
    let r = o.ask("UNKLINE VICTIM!*@*").await;
    must_not("UNKLINE", &r, "FAIL");
    register(s.addr, "victim").await;
    let r = o.ask("UNKLINE victim!*@*").await;
    must("UNKLINE of nothing", &r, "FAIL");
    let r = o.ask("KLINE *!*@*").await;
    must("KLINE on everyone", &r, "FAIL");
    s.shutdown().await;
}

#[tokio::test]
async fn service_names_are_reserved() {
    let s = oper_server().await;
    let mut c = connect(s.addr, "nickserv-wannabe").await;
    c.send("NICK NickServ").await;
    c.send("USER u 0 * :R").await;
    let (_, refused) = c.expect_skipping("432").await;
    assert_eq!(param(&refused, 1), "NickServ", "{refused}");
    c.send("NICK fine_name").await;
    c.expect("001").await;
    c.sync().await;
    for name in ["ChanServ", "global", "OperServ"] {
        let r = c.ask(&format!("NICK {name}")).await;
        must(name, &r, "432");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn whois_shows_the_real_address_to_operators_only() {
    let s = oper_server().await;
    let mut plain = register(s.addr, "plainuser").await;
    let mut oper = register(s.addr, "oper_user").await;
    must("OPER", &oper.ask("OPER operuser operpassword").await, "381");

    let r = plain.ask("WHOIS oper_user").await;
    must_not("WHOIS by a user", &r, "338");
    let host = param(must("WHOIS by a user", &r, "311"), 3).to_owned();
    assert_ne!(host, "127.0.0.1", "the host is a cloak");

    let r = oper.ask("WHOIS plainuser").await;
    let actually = must("WHOIS by an operator", &r, "338");
    assert_eq!(param(actually, 1), "plainuser", "{actually}");
    assert_eq!(param(actually, 2), "127.0.0.1", "{actually}");
    s.shutdown().await;
}

/// LUSERS counts as irctest's `lusers` tests read it: 251's visible and
/// invisible users add up to the users online, 252 counts operators, and
/// each count follows MODE, OPER and QUIT.
#[tokio::test]
async fn lusers_counts_invisible_users_and_operators() {
    let s = oper_server().await;
    let mut bar = register(s.addr, "bar").await;
    let mut qux = register(s.addr, "qux").await;
    async fn counts(c: &mut Irc) -> (usize, usize, usize) {
        let r = c.ask("LUSERS").await;
        let client = last(must("LUSERS", &r, "251")).to_owned();
        let n: Vec<usize> = client.split(' ').filter_map(|w| w.parse().ok()).collect();
        let opers = param(must("LUSERS", &r, "252"), 1).parse().unwrap();
        (n[0], n[1], opers)
    }
    assert_eq!(counts(&mut bar).await, (2, 0, 0));
    qux.ask("MODE qux +i").await;
    assert_eq!(counts(&mut bar).await, (1, 1, 0));
    bar.ask("OPER operuser operpassword").await;
    qux.ask("OPER operuser operpassword").await;
    assert_eq!(counts(&mut bar).await, (1, 1, 2));
    bar.ask("MODE bar -o").await;
    assert_eq!(counts(&mut bar).await, (1, 1, 1));
    qux.quit().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = counts(&mut bar).await;
        if got == (1, 0, 0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "qux still counted: {got:?}"
        );
    }
    s.shutdown().await;
}

/// WHO marks a server operator with `*` after H or G, by nick, by mask
/// and in a channel's list (irctest's testWhoNickOper and
/// testWhoNickAwayAndOper).
#[tokio::test]
async fn who_marks_server_operators() {
    let s = oper_server().await;
    let mut op = register(s.addr, "opnick").await;
    let mut other = register(s.addr, "other").await;
    op.join("#w").await;
    other.join("#w").await;
    op.ask("OPER operuser operpassword").await;
    let flags = |r: &[confab_irc::Message], nick: &str| {
        let m = r
            .iter()
            .find(|m| m.command == "352" && param(m, 5) == nick)
            .unwrap_or_else(|| panic!("352 for {nick}:\n{}", dump(r)));
        param(m, 6).to_owned()
    };
    for (case, line) in [
        ("nick", "WHO opnick"),
        ("mask", "WHO opn*"),
        ("channel", "WHO #w"),
    ] {
        let r = other.ask(line).await;
        assert!(
            flags(&r, "opnick").starts_with("H*"),
            "[{case}] {}",
            dump(&r)
        );
        if case == "channel" {
            assert!(!flags(&r, "other").contains('*'), "[{case}] {}", dump(&r));
        }
    }
    op.ask("AWAY :gone").await;
    let r = other.ask("WHO opnick").await;
    assert!(flags(&r, "opnick").starts_with("G*"), "{}", dump(&r));
    s.shutdown().await;
}
