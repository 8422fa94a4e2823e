//! Accounts from IRC: NickServ REGISTER/IDENTIFY, SASL PLAIN (IRCv3
//! sasl-3.1/3.2), PASS at registration, and registered nicks kept for their
//! owners.

use crate::client::*;
use crate::support::start;

const PASSWORD: &str = "password123";

/// A connection that has asked for `sasl` and not registered yet.
async fn sasl_conn(addr: std::net::SocketAddr, nick: &str) -> Irc {
    let mut c = connect(addr, nick).await;
    c.send("CAP LS 302").await;
    c.send(&format!("NICK {nick}")).await;
    c.send("USER u 0 * :Real Name").await;
    c.req_caps(&["sasl"]).await;
    c
}

#[tokio::test]
async fn sasl_plain_logs_in_and_registers_with_the_account() {
    let s = start(|_| {}).await;
    make_account(s.addr, "sally", PASSWORD).await;
    let mut c = sasl_conn(s.addr, "sally").await;
    let r = c.ask("AUTHENTICATE PLAIN").await;
    let plus = must("PLAIN", &r, "AUTHENTICATE");
    assert_eq!(plus.params, ["+"], "{plus}");
    let r = c
        .ask(&format!(
            "AUTHENTICATE {}",
            sasl_plain("", "sally", PASSWORD)
        ))
        .await;
    let logged = must("900", &r, "900");
    // 900 <client> <nick>!<ident>@<host> <account> :You are now logged in as <user>
    assert_eq!(param(logged, 2), "sally", "{logged}");
    assert!(
        param(logged, 1).contains('!') && param(logged, 1).contains('@'),
        "{logged}"
    );
    let ok = must("903", &r, "903");
    assert!(index(&r, "900") < index(&r, "903"), "900 then 903");
    assert_from_server("903", ok);
    c.send("CAP END").await;
    c.finish_registration().await;
    assert_eq!(param(must("001", &c.burst, "001"), 0), "sally");
    let r = c.ask("WHOIS sally").await;
    assert_eq!(param(must("WHOIS", &r, "330"), 2), "sally");
    s.shutdown().await;
}

#[tokio::test]
async fn sasl_payloads_split_at_400_bytes_are_joined() {
    let s = start(|_| {}).await;
    // authzid, authcid (20 bytes each), a 256-byte password and the two
    // NULs: 298 bytes, exactly 400 of base64, so "AUTHENTICATE +" must
    // follow.
    let name = "abcdefghijklmnopqrst";
    let long_password: String = "p".repeat(256);
    let mut c = register(s.addr, name).await;
    let r = c
        .ask(&format!("PRIVMSG NickServ :REGISTER {long_password}"))
        .await;
    must("register", &r, "900");
    c.quit().await;
    let payload = sasl_plain(name, name, &long_password);
    assert_eq!(payload.len(), 400);
    let mut c = sasl_conn(s.addr, name).await;
    c.ask("AUTHENTICATE PLAIN").await;
    let r = c.ask(&format!("AUTHENTICATE {payload}")).await;
    assert!(
        r.is_empty(),
        "a 400-byte chunk waits for more:\n{}",
        dump(&r)
    );
    let r = c.ask("AUTHENTICATE +").await;
    must("joined", &r, "903");
    s.shutdown().await;
}

#[tokio::test]
async fn sasl_failures_get_their_numerics() {
    let s = start(|_| {}).await;
    make_account(s.addr, "sally", PASSWORD).await;
    let b64 = |s: &str| base64(s.as_bytes());
    // (case, AUTHENTICATE lines after "AUTHENTICATE PLAIN" (None: skip the
    // PLAIN step), numerics that must all arrive)
    let cases: Vec<(&str, Option<Vec<String>>, &[&str])> = vec![
        (
            "wrong password",
            Some(vec![sasl_plain("", "sally", "wrong-password")]),
            &["904"],
        ),
        (
            "unknown account",
            Some(vec![sasl_plain("", "nobody", PASSWORD)]),
            &["904"],
        ),
        (
            "authzid of another",
            Some(vec![sasl_plain("other", "sally", PASSWORD)]),
            &["904"],
        ),
        ("not base64", Some(vec!["!!!notbase64!!!".into()]), &["904"]),
        ("one field only", Some(vec![b64("sally")]), &["904"]),
        ("empty payload", Some(vec!["+".into()]), &["904"]),
        ("aborted", Some(vec!["*".into()]), &["906"]),
        (
            "a single line over 400 bytes",
            Some(vec!["A".repeat(404)]),
            &["905"],
        ),
        (
            "over the limit in chunks",
            Some((0..20).map(|_| "A".repeat(400)).collect()),
            &["905"],
        ),
        ("unknown mechanism", None, &["908", "904"]),
    ];
    for (case, lines, codes) in cases {
        let mut c = sasl_conn(s.addr, "tryer").await;
        let mut r = Vec::new();
        match lines {
            Some(lines) => {
                let plus = c.ask("AUTHENTICATE PLAIN").await;
                must(case, &plus, "AUTHENTICATE");
                for l in lines {
                    let got = c.ask(&format!("AUTHENTICATE {l}")).await;
                    let done = got.iter().any(|m| m.command.starts_with("90"));
                    r.extend(got);
                    if done {
                        break;
                    }
                }
            }
            None => r = c.ask("AUTHENTICATE FOOBAR").await,
        }
        for code in codes {
            let m = must(case, &r, code);
            assert_from_server(case, m);
            assert!(["*", "tryer"].contains(&param(m, 0)), "[{case}] {m}");
        }
        must_not(case, &r, "903");
        must_not(case, &r, "900");
        if codes.contains(&"908") {
            let m = must(case, &r, "908");
            assert!(
                param(m, 1).split(',').any(|x| x == "PLAIN"),
                "[{case}] 908 lists PLAIN: {m}"
            );
        }
        // The connection still registers, as a guest.
        c.send("CAP END").await;
        c.finish_registration().await;
        let r = c.ask("WHOIS tryer").await;
        must_not(case, &r, "330");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn sasl_once_registered_turns_the_guest_into_the_account_with_one_900() {
    let s = start(|_| {}).await;
    make_account(s.addr, "sally", PASSWORD).await;
    let mut c = register(s.addr, "guest7").await;
    c.req_caps(&["sasl"]).await;
    let r = c.ask("AUTHENTICATE PLAIN").await;
    must("PLAIN", &r, "AUTHENTICATE");
    let r = c
        .ask(&format!(
            "AUTHENTICATE {}",
            sasl_plain("", "sally", PASSWORD)
        ))
        .await;
    // SASL's replies first, as clients (and irctest) read them: one 900
    // to the nick the client has, naming the account, then 903; then the
    // guest becomes sally.
    assert_eq!(commands(&r)[..2], ["900", "903"], "{}", dump(&r));
    let logged: Vec<&Message> = r.iter().filter(|m| m.command == "900").collect();
    assert_eq!(logged.len(), 1, "one 900:\n{}", dump(&r));
    assert_eq!(param(logged[0], 0), "guest7", "{}", logged[0]);
    assert!(param(logged[0], 1).starts_with("sally!"), "{}", logged[0]);
    assert_eq!(param(logged[0], 2), "sally", "{}", logged[0]);
    let nick = must("NICK", &r, "NICK");
    assert_eq!(param(nick, 0), "sally", "{nick}");
    assert!(index(&r, "903") < index(&r, "NICK"), "{}", dump(&r));
    let r = c.ask("WHOIS sally").await;
    assert_eq!(param(must("WHOIS", &r, "330"), 2), "sally");
    let r = c.ask("AUTHENTICATE PLAIN").await;
    must("again", &r, "907");
    s.shutdown().await;
}

#[tokio::test]
async fn authenticating_twice_gets_907() {
    let s = start(|_| {}).await;
    make_account(s.addr, "sally", PASSWORD).await;
    let mut c = register_sasl(s.addr, "sally", "sally", PASSWORD, &[]).await;
    let r = c.ask("AUTHENTICATE PLAIN").await;
    must("again", &r, "907");
    s.shutdown().await;
}

#[tokio::test]
async fn a_registered_nick_needs_its_password() {
    let s = start(|_| {}).await;
    make_account(s.addr, "owned", PASSWORD).await;
    // (case, extra lines before NICK/USER)
    let cases: &[(&str, &[&str])] = &[("no auth", &[]), ("wrong PASS", &["PASS wrong-password"])];
    for (case, extra) in cases {
        let mut c = connect(s.addr, "intruder").await;
        for l in *extra {
            c.send(l).await;
        }
        c.send("NICK owned").await;
        let r = c.ask("USER u 0 * :Real Name").await;
        must_not(case, &r, "001");
        let err = r
            .iter()
            .find(|m| matches!(m.command.as_str(), "433" | "464"))
            .unwrap_or_else(|| panic!("[{case}] 433 (or 464 for a bad PASS):\n{}", dump(&r)));
        assert_from_server(case, err);
        // Another nick works.
        c.send("NICK intruder").await;
        c.finish_registration().await;
        assert_eq!(param(must(case, &c.burst, "001"), 0), "intruder");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn pass_at_registration_logs_in_to_the_nicks_account() {
    let s = start(|_| {}).await;
    make_account(s.addr, "passy", PASSWORD).await;
    for (case, pass_line) in [
        ("PASS word", format!("PASS {PASSWORD}")),
        ("PASS :word", format!("PASS :{PASSWORD}")),
    ] {
        let mut c = connect(s.addr, "passy").await;
        c.send(&pass_line).await;
        c.send("NICK passy").await;
        c.send("USER u 0 * :Real Name").await;
        c.finish_registration().await;
        assert_eq!(param(must(case, &c.burst, "001"), 0), "passy");
        let r = c.ask("WHOIS passy").await;
        assert_eq!(param(must(case, &r, "330"), 2), "passy", "[{case}]");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn nickserv_registers_and_identifies() {
    let s = start(|_| {}).await;
    let mut c = register(s.addr, "nsuser").await;
    // Too short a password is refused with a notice, no login.
    let r = c.ask("PRIVMSG NickServ :REGISTER short").await;
    must_not("short password", &r, "900");
    let n = must("short password", &r, "NOTICE");
    assert_eq!(nick_of(n), "NickServ", "{n}");
    let r = c
        .ask(&format!("PRIVMSG NickServ :REGISTER {PASSWORD}"))
        .await;
    let logged = must("REGISTER", &r, "900");
    assert_eq!(param(logged, 2), "nsuser", "{logged}");
    c.quit().await;

    // Later, as another nick: IDENTIFY name password.
    for (i, (case, line)) in [
        (
            "PRIVMSG NickServ",
            format!("PRIVMSG NickServ :IDENTIFY nsuser {PASSWORD}"),
        ),
        (
            "NICKSERV alias",
            format!("NICKSERV IDENTIFY nsuser {PASSWORD}"),
        ),
        ("NS alias", format!("NS IDENTIFY nsuser {PASSWORD}")),
    ]
    .iter()
    .enumerate()
    {
        let mut c = register(s.addr, &format!("temp{i}")).await;
        let r = c.ask(line).await;
        let logged = must(case, &r, "900");
        assert_eq!(param(logged, 2), "nsuser", "[{case}] {logged}");
        let said = must(case, &r, "NOTICE");
        assert_eq!(last(said), "You are now identified as nsuser", "[{case}]");
        let r = c.ask("WHOIS nsuser").await;
        assert_eq!(param(must(case, &r, "330"), 2), "nsuser", "[{case}]");
        // Once more, logged in already: one answer, that it is.
        let r = c.ask(line).await;
        let notices: Vec<&str> = r
            .iter()
            .filter(|m| m.command == "NOTICE")
            .map(last)
            .collect();
        assert_eq!(
            notices,
            ["you are already logged in to the account nsuser"],
            "[{case}] {}",
            dump(&r)
        );
        c.quit().await;
    }
    // A wrong password: a notice, no login.
    let mut c = register(s.addr, "temp9").await;
    let r = c
        .ask("PRIVMSG NickServ :IDENTIFY nsuser wrong-password")
        .await;
    must_not("wrong IDENTIFY", &r, "900");
    assert_eq!(nick_of(must("wrong IDENTIFY", &r, "NOTICE")), "NickServ");
    s.shutdown().await;
}
