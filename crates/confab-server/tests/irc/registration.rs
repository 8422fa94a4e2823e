//! Registration: NICK/USER in any order, CAP negotiation holding it, the
//! welcome burst, ISUPPORT, and the errors of a connection that is not
//! registered yet (RFC 1459/2812, modern.ircdocs.horse).

use crate::client::*;
use crate::support::start;

#[tokio::test]
async fn registers_whatever_the_order_of_its_commands() {
    let s = start(|_| {}).await;
    // (case, lines sent, nick expected in 001)
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "NICK then USER",
            &["NICK order1", "USER u 0 * :Real Name"],
            "order1",
        ),
        (
            "USER then NICK",
            &["USER u 0 * :Real Name", "NICK order2"],
            "order2",
        ),
        (
            "CAP LS 302 … CAP END",
            &[
                "CAP LS 302",
                "NICK order3",
                "USER u 0 * :Real Name",
                "CAP END",
            ],
            "order3",
        ),
        (
            "CAP LS without version",
            &["CAP LS", "USER u 0 * :Real Name", "NICK order4", "CAP END"],
            "order4",
        ),
        (
            "lowercase commands",
            &["nick order5", "user u 0 * :Real Name"],
            "order5",
        ),
        (
            "second NICK before USER wins",
            &["NICK first6", "NICK order6", "USER u 0 * :Real Name"],
            "order6",
        ),
        (
            "USER with a one-word real name without colon",
            &["NICK order7", "USER u 0 * realname"],
            "order7",
        ),
        (
            "all in one write",
            &["CAP LS 302\r\nNICK order8\r\nUSER u 0 * :Real Name\r\nCAP END"],
            "order8",
        ),
    ];
    for (case, lines, nick) in cases {
        let mut c = connect(s.addr, nick).await;
        for l in *lines {
            c.send(l).await;
        }
        c.finish_registration().await;
        let welcome = must(case, &c.burst, "001");
        assert_eq!(
            param(welcome, 0),
            *nick,
            "[{case}] 001's first param is the nick: {welcome}"
        );
        assert!(
            last(welcome).contains(nick),
            "[{case}] 001's text names the nick: {welcome}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn cap_ls_holds_registration_until_cap_end() {
    let s = start(|_| {}).await;
    for (case, opener) in [
        ("CAP LS 302", "CAP LS 302"),
        ("CAP LS", "CAP LS"),
        ("CAP REQ", "CAP REQ :server-time"),
    ] {
        let mut c = connect(s.addr, "held").await;
        c.send(opener).await;
        c.send("NICK held").await;
        c.send("USER u 0 * :Real Name").await;
        let replies = c.sync().await;
        assert!(
            has(&replies, "CAP"),
            "[{case}] CAP answered:\n{}",
            dump(&replies)
        );
        must_not(case, &replies, "001");
        // Still not registered: a command needing registration is refused.
        let replies = c.ask("JOIN #held").await;
        must(case, &replies, "451");
        c.send("CAP END").await;
        c.finish_registration().await;
        assert_eq!(param(must(case, &c.burst, "001"), 0), "held", "[{case}]");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn welcome_burst_has_the_numerics_in_order() {
    let s = start(|_| {}).await;
    let c = register(s.addr, "burst").await;
    let b = &c.burst;
    let case = "burst";
    // 001–004, 005, LUSERS (251 … 255, 265, 266), then the MOTD.
    let order = [
        "001", "002", "003", "004", "005", "251", "255", "265", "266",
    ];
    let mut at = 0;
    for code in order {
        let i = index(b, code).unwrap_or_else(|| panic!("[{case}] no {code} in:\n{}", dump(b)));
        assert!(i >= at, "[{case}] {code} out of order:\n{}", dump(b));
        at = i;
    }
    let motd_end = index(b, "376")
        .or_else(|| index(b, "422"))
        .expect("376 or 422");
    assert!(motd_end > at, "[{case}] MOTD after LUSERS:\n{}", dump(b));
    if let Some(start) = index(b, "375") {
        assert!(start < motd_end);
        assert!(
            b[start + 1..motd_end].iter().all(|m| m.command == "372"),
            "[{case}] only 372 between 375 and 376:\n{}",
            dump(b)
        );
    } else {
        assert_eq!(b[motd_end].command, "422", "[{case}] 376 without 375");
    }
    // Every numeric comes from the server and is addressed to the nick.
    for m in b
        .iter()
        .filter(|m| m.command.bytes().all(|c| c.is_ascii_digit()))
    {
        assert_from_server(case, m);
        assert_eq!(
            param(m, 0),
            "burst",
            "[{case}] numeric addressed to the nick: {m}"
        );
    }
    let welcome = must(case, b, "001");
    assert!(last(welcome).contains("burst"), "{welcome}");
    // 004: <client> <servername> <version> <user modes> <channel modes>
    let myinfo = must(case, b, "004");
    assert!(myinfo.params.len() >= 5, "004 has 5 params: {myinfo}");
    assert_eq!(param(myinfo, 1), SERVER, "{myinfo}");
    // 005 ends with the human-readable text.
    for m in all(b, "005") {
        assert!(m.params.len() >= 3, "{m}");
        assert!(last(m).contains("supported"), "{m}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn isupport_advertises_the_tokens_clients_need() {
    let s = start(|_| {}).await;
    let c = register(s.addr, "tokens").await;
    let t = isupport(&c.burst);
    // (token, check of its value)
    type Check = fn(Option<&str>) -> bool;
    let cases: &[(&str, Check)] = &[
        ("CASEMAPPING", |v| v == Some("ascii")),
        ("CHANTYPES", |v| v == Some("#")),
        ("PREFIX", |v| v == Some("(ov)@+")),
        ("NETWORK", |v| v == Some("confab")),
        ("NICKLEN", |v| v == Some("20")),
        ("CHANMODES", |v| {
            // Four groups: A (lists) has b, B has k, C has l, D has imnst.
            let groups: Vec<&str> = v.unwrap_or("").split(',').collect();
            groups.len() == 4
                && groups[0].contains('b')
                && groups[1].contains('k')
                && groups[2].contains('l')
                && "imnst".chars().all(|c| groups[3].contains(c))
        }),
        ("UTF8ONLY", |v| v.is_none_or(str::is_empty)),
        ("TARGMAX", |v| {
            v.is_some_and(|v| v.split(',').any(|kv| kv.starts_with("PRIVMSG:")))
        }),
        ("CHANNELLEN", |v| {
            v.and_then(|v| v.parse::<u32>().ok()).is_some_and(|n| n > 1)
        }),
    ];
    for (token, check) in cases {
        match t.get(*token) {
            None => panic!("[{token}] missing from ISUPPORT: {t:?}"),
            Some(v) => assert!(check(v.as_deref()), "[{token}] bad value {v:?}"),
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn erroneous_nicknames_get_432_and_a_good_one_then_works() {
    let s = start(|_| {}).await;
    let too_long = "abcdefghijklmnopqrstu"; // 21 > NICKLEN 20
    // (case, NICK line, the nick as the server must echo it in 432; None
    // when it cannot be echoed as a middle parameter)
    let cases: &[(&str, String, Option<&str>)] = &[
        ("starts with a digit", "NICK 1abc".into(), Some("1abc")),
        ("is a channel name", "NICK #chan".into(), Some("#chan")),
        ("starts with a dash", "NICK -x".into(), Some("-x")),
        (
            "longer than NICKLEN",
            format!("NICK {too_long}"),
            Some(too_long),
        ),
        ("contains a comma", "NICK a,b".into(), Some("a,b")),
        ("contains !", "NICK a!b".into(), Some("a!b")),
        ("contains @", "NICK a@b".into(), Some("a@b")),
        ("contains a space", "NICK :a b".into(), None),
        ("starts with a colon", "NICK ::x".into(), None),
    ];
    for (i, (case, line, bad)) in cases.iter().enumerate() {
        let mut c = connect(s.addr, "badnick").await;
        c.send("USER u 0 * :Real Name").await;
        let replies = c.ask(line).await;
        let err = must(case, &replies, "432");
        assert_from_server(case, err);
        assert_eq!(param(err, 0), "*", "[{case}] no nick yet, so *: {err}");
        match bad {
            Some(bad) => assert_eq!(param(err, 1), *bad, "[{case}] 432 names the nick: {err}"),
            None => assert!(
                err.params.len() >= 3,
                "[{case}] 432 <client> <nick> :<text>: {err}"
            ),
        }
        must_not(case, &replies, "001");
        let good = format!("good{i}");
        c.send(&format!("NICK {good}")).await;
        c.finish_registration().await;
        assert_eq!(param(must(case, &c.burst, "001"), 0), good, "[{case}]");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_missing_nickname_gets_431() {
    let s = start(|_| {}).await;
    for case in ["NICK", "NICK :", "NICK  "] {
        let mut c = connect(s.addr, "nonick").await;
        c.send("USER u 0 * :Real Name").await;
        let replies = c.ask(case).await;
        let err = must(case, &replies, "431");
        assert_eq!(param(err, 0), "*", "[{case}] {err}");
        must_not(case, &replies, "001");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_nick_in_use_at_registration_gets_433_then_another_works() {
    let s = start(|_| {}).await;
    let _owner = register(s.addr, "taken").await;
    for (i, case) in ["taken", "TAKEN", "Taken"].iter().enumerate() {
        let mut c = connect(s.addr, case).await;
        c.send(&format!("NICK {case}")).await;
        let replies = c.ask("USER u 0 * :Real Name").await;
        let err = must(case, &replies, "433");
        assert_eq!(param(err, 0), "*", "[{case}] no nick yet, so *: {err}");
        assert!(
            param(err, 1).eq_ignore_ascii_case("taken"),
            "[{case}] {err}"
        );
        must_not(case, &replies, "001");
        let other = format!("other{i}");
        c.send(&format!("NICK {other}")).await;
        c.finish_registration().await;
        assert_eq!(param(must(case, &c.burst, "001"), 0), other, "[{case}]");
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn user_with_too_few_parameters_gets_461() {
    let s = start(|_| {}).await;
    for case in [
        "USER",
        "USER u",
        "USER u 0",
        "USER u 0 *",
        "USER :",
        "USER  u 0 * :",
    ] {
        let mut c = connect(s.addr, "few").await;
        c.send("NICK few").await;
        let replies = c.ask(case).await;
        let err = must(case, &replies, "461");
        assert_eq!(
            param(err, 1),
            "USER",
            "[{case}] 461 names the command: {err}"
        );
        must_not(case, &replies, "001");
        // A proper USER still completes registration.
        c.send("USER u 0 * :Real Name").await;
        c.finish_registration().await;
        c.quit().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn commands_before_registration_get_451() {
    let s = start(|_| {}).await;
    let mut c = connect(s.addr, "early").await;
    c.send("NICK early").await; // an IRC opener, but no USER yet
    for case in [
        "JOIN #a",
        "PRIVMSG early :hi",
        "NOTICE early :hi",
        "NAMES #a",
        "WHOIS early",
        "MODE early",
        "TOPIC #a",
        "LIST",
        "AWAY :gone",
    ] {
        let replies = c.ask(case).await;
        let err = must(case, &replies, "451");
        assert_from_server(case, err);
        assert!(
            ["*", "early"].contains(&param(err, 0)),
            "[{case}] 451 is addressed to * (or the nick): {err}"
        );
        assert_eq!(replies.len(), 1, "[{case}] one reply:\n{}", dump(&replies));
    }
    s.shutdown().await;
}

#[tokio::test]
async fn pass_and_user_after_registration_get_462() {
    let s = start(|_| {}).await;
    let mut c = register(s.addr, "again").await;
    for case in [
        "PASS secret",
        "USER u 0 * :Real Name",
        "USER other 0 * :Other Name",
    ] {
        let replies = c.ask(case).await;
        let err = must(case, &replies, "462");
        assert_eq!(param(err, 0), "again", "[{case}] {err}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn ping_before_registration_gets_pong() {
    let s = start(|_| {}).await;
    // (case, PING line, expected token)
    let cases = [
        ("trailing token", "PING :hello", "hello"),
        ("middle token", "PING hello", "hello"),
        ("token with spaces", "PING :a b c", "a b c"),
        ("numeric-looking token", "PING 12345", "12345"),
    ];
    let mut c = connect(s.addr, "pinger").await;
    c.send("NICK pinger").await;
    for (case, line, token) in cases {
        let replies = c.ask(line).await;
        let pong = must(case, &replies, "PONG");
        assert_from_server(case, pong);
        assert_eq!(last(pong), token, "[{case}] PONG echoes the token: {pong}");
    }
    // Without a token: 409 ERR_NOORIGIN (or 461).
    let replies = c.ask("PING").await;
    assert!(
        has(&replies, "409") || has(&replies, "461"),
        "PING without a token:\n{}",
        dump(&replies)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn quit_before_registration_gets_error_and_closes() {
    let s = start(|_| {}).await;
    for (case, opener) in [
        ("after NICK", "NICK quitter"),
        ("after CAP LS", "CAP LS 302"),
        ("after USER", "USER u 0 * :R"),
    ] {
        let mut c = connect(s.addr, "quitter").await;
        c.send(opener).await;
        c.send("QUIT :changed my mind").await;
        let rest = c.expect_closed().await;
        let err = must(case, &rest, "ERROR");
        assert!(!last(err).is_empty(), "[{case}] ERROR has a reason: {err}");
        must_not(case, &rest, "001");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn quit_after_a_refused_nick_gets_error_and_closes() {
    let s = start(|_| {}).await;
    let _owner = register(s.addr, "taken").await;
    let mut c = connect(s.addr, "taken").await;
    c.send("NICK taken").await;
    let replies = c.ask("USER u 0 * :Real Name").await;
    must("NICK taken", &replies, "433");
    c.send("QUIT :never mind").await;
    let rest = c.expect_closed().await;
    must("QUIT after 433", &rest, "ERROR");
    must_not("QUIT after 433", &rest, "451");
    s.shutdown().await;
}

#[tokio::test]
async fn quit_after_registration_closes_and_tells_the_channel() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#q").await;
    bob.join("#q").await;
    alice.sync().await;
    bob.send("QUIT :see you").await;
    let rest = bob.expect_closed().await;
    must("QUIT", &rest, "ERROR");
    let quit = alice.expect("QUIT").await;
    assert_from_user("QUIT", &quit, "bob");
    assert!(
        last(&quit).contains("see you"),
        "the reason is kept: {quit}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn commands_pipelined_behind_registration_wait_for_it() {
    let s = start(|_| {}).await;
    let mut bob = register(s.addr, "bob").await;
    bob.join("#pipe").await;
    // One write: registration and the first commands, as some clients and
    // bots send them.
    let mut c = connect(s.addr, "eager").await;
    c.send_raw(b"NICK eager\r\nUSER e 0 * :Eager\r\nJOIN #pipe\r\nPRIVMSG #pipe :first words\r\n")
        .await;
    c.expect("001").await;
    let join = c.expect("JOIN").await;
    assert_eq!(join.params[0], "#pipe", "{join}");
    let got = bob.expect("PRIVMSG").await;
    assert_eq!(got.params, ["#pipe", "first words"], "{got}");
    s.shutdown().await;
}

/// The connection's timers: a client that does not register in time is
/// closed; a quiet registered client is sent PING, kept while it answers
/// PONG, and closed with `Ping timeout` when it stops.
#[tokio::test]
async fn registration_and_ping_timeouts_close_quiet_connections() {
    let s = start(|c| {
        c.irc.registration_timeout_ms = 300;
        c.irc.ping_interval_ms = 200;
        c.irc.ping_timeout_ms = 300;
    })
    .await;
    let mut lurker = connect(s.addr, "lurker").await;
    lurker.send("NICK lurker").await;
    let got = lurker.expect_closed().await;
    let error = must("registration", &got, "ERROR");
    assert!(last(error).contains("Registration timed out"), "{error}");

    let mut c = register(s.addr, "pinged").await;
    for round in 0..3 {
        let (_, ping) = c.expect_skipping("PING").await;
        c.send(&format!("PONG :{}", last(&ping))).await;
        let r = c.ask("TIME").await;
        must(&format!("round {round}: still connected"), &r, "391");
        // (A slow machine may have sent the next PING meanwhile.)
        for ping in all(&r, "PING") {
            c.send(&format!("PONG :{}", last(ping))).await;
        }
    }
    c.expect_skipping("PING").await;
    let got = c.expect_closed().await;
    let error = must("ping timeout", &got, "ERROR");
    assert!(last(error).contains("Ping timeout"), "{error}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_script_sent_at_once_is_answered_in_full() {
    // `printf 'NICK …\r\nUSER …\r\nJOIN #x\r\n…' | nc`: every line and the
    // end of input arrive before registration is answered. The lines after
    // it wait for the login, and the end of input waits for their answers;
    // the last line needs no line end.
    let s = start(|_| {}).await;
    let mut c = connect(s.addr, "script").await;
    c.send_raw(b"NICK script\r\nUSER s 0 * :S\r\nJOIN #x\r\nTOPIC #x :set at once")
        .await;
    c.shutdown_write().await;
    let rest = c.expect_closed().await;
    let at = |command: &str| {
        rest.iter()
            .position(|m| m.command == command)
            .unwrap_or_else(|| panic!("no {command} in {}", c.recent()))
    };
    assert!(at("001") < at("JOIN"), "{}", c.recent());
    assert!(at("366") < at("TOPIC"), "{}", c.recent());
    s.shutdown().await;
}
