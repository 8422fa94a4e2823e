//! Queries about users and the server: WHOIS, WHO, WHOWAS, AWAY, ISON,
//! USERHOST, NICK changes, user modes, LUSERS, VERSION, TIME, MOTD, PING.

use crate::client::*;
use crate::support::{TestServer, start};

/// alice (op) and bob in #c.
async fn two() -> (TestServer, Irc, Irc) {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#c").await;
    bob.join("#c").await;
    alice.sync().await;
    (s, alice, bob)
}

#[tokio::test]
async fn whois_describes_a_user() {
    let (s, mut alice, _bob) = two().await;
    for (case, line) in [
        ("by nick", "WHOIS bob"),
        ("other case", "WHOIS BOB"),
        ("with a server", "WHOIS confab.local bob"),
        ("with the nick twice", "WHOIS bob bob"),
    ] {
        let r = alice.ask(line).await;
        let user = must(case, &r, "311");
        // 311 <client> <nick> <user> <host> * :<real name>
        assert_eq!(param(user, 0), "alice");
        assert_eq!(param(user, 1), "bob", "[{case}] canonical nick: {user}");
        assert!(
            !param(user, 2).is_empty() && !param(user, 3).is_empty(),
            "[{case}] {user}"
        );
        assert_eq!(param(user, 4), "*", "[{case}] {user}");
        assert_eq!(last(user), REALNAME, "[{case}] {user}");
        let chans = must(case, &r, "319");
        assert!(
            last(chans).split_whitespace().any(|c| c == "#c"),
            "[{case}] 319 lists #c: {chans}"
        );
        let server = must(case, &r, "312");
        assert_eq!(param(server, 2), SERVER, "[{case}] {server}");
        let end = must(case, &r, "318");
        assert!(param(end, 1).eq_ignore_ascii_case("bob"), "[{case}] {end}");
        assert_eq!(
            r.first().unwrap().command,
            "311",
            "[{case}] 311 first:\n{}",
            dump(&r)
        );
        assert_eq!(
            r.last().unwrap().command,
            "318",
            "[{case}] 318 last:\n{}",
            dump(&r)
        );
        must_not(case, &r, "330");
    }
    let r = alice.ask("WHOIS nobody").await;
    let err = must("unknown", &r, "401");
    assert_eq!(param(err, 1), "nobody");
    let end = must("unknown", &r, "318");
    assert_eq!(param(end, 1), "nobody");
    let r = alice.ask("WHOIS").await;
    assert!(
        has(&r, "431") || has(&r, "461"),
        "WHOIS without a nick:\n{}",
        dump(&r)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn whois_shows_the_account_of_a_logged_in_user() {
    let s = start(|_| {}).await;
    let mut dana = create_account(s.addr, "dana", "password123", &[]).await;
    dana.join("#c").await;
    let mut alice = register(s.addr, "alice").await;
    let r = alice.ask("WHOIS dana").await;
    let acct = must("330", &r, "330");
    // 330 <client> <nick> <account> :is logged in as
    assert_eq!(&acct.params[..3], ["alice", "dana", "dana"], "{acct}");
    s.shutdown().await;
}

#[tokio::test]
async fn whois_finds_a_registered_user_who_is_offline_and_ison_does_not() {
    let s = start(|_| {}).await;
    let mut dana = create_account(s.addr, "dana", "password123", &[]).await;
    dana.join("#c").await;
    dana.quit().await;
    let mut alice = register(s.addr, "alice").await;
    let r = alice.ask("WHOIS dana").await;
    let user = must("311", &r, "311");
    assert_eq!(param(user, 1), "dana", "{user}");
    must("319", &r, "319");
    must("330", &r, "330");
    let offline = must("320", &r, "320");
    assert!(
        last(offline).starts_with("is offline, last seen "),
        "{offline}"
    );
    must_not("an offline user is not idle", &r, "317");
    must_not("an offline account is no missing nick", &r, "401");
    assert_eq!(r.last().unwrap().command, "318", "{}", dump(&r));
    // Online is online: ISON and WHO leave dana out.
    let r = alice.ask("ISON dana alice").await;
    assert_eq!(last(must("303", &r, "303")), "alice", "{}", dump(&r));
    let r = alice.ask("WHO dana").await;
    must_not("WHO of an offline user", &r, "352");
    // A guest who left is no one.
    let mut erin = register(s.addr, "erin").await;
    erin.quit().await;
    let r = alice.ask("WHOIS erin").await;
    must("401", &r, "401");
    s.shutdown().await;
}

#[tokio::test]
async fn who_lists_channel_members_and_nicks() {
    let (s, mut alice, mut bob) = two().await;
    bob.ask("AWAY :lunch").await;
    // (case, line, 315's mask, nicks with flags expected)
    let cases: &[(&str, &str, &str, &[(&str, &str)])] = &[
        (
            "WHO #chan",
            "WHO #c",
            "#c",
            &[("alice", "H@"), ("bob", "G")],
        ),
        ("WHO nick", "WHO bob", "bob", &[("bob", "G")]),
        (
            "WHO nick, other case",
            "WHO ALICE",
            "ALICE",
            &[("alice", "H")],
        ),
    ];
    for (case, line, mask, want) in cases {
        let r = alice.ask(line).await;
        let rows = all(&r, "352");
        assert_eq!(rows.len(), want.len(), "[{case}]\n{}", dump(&r));
        for (nick, flags) in *want {
            // 352 <client> <channel> <user> <host> <server> <nick> <flags> :<hopcount> <real name>
            let row = rows
                .iter()
                .find(|m| param(m, 5) == *nick)
                .unwrap_or_else(|| panic!("[{case}] no 352 for {nick}:\n{}", dump(&r)));
            assert_eq!(param(row, 0), "alice");
            assert_eq!(param(row, 4), SERVER, "[{case}] {row}");
            assert!(
                param(row, 6).starts_with(flags),
                "[{case}] flags {flags}: {row}"
            );
            let (hops, real) = last(row).split_once(' ').unwrap_or(("", ""));
            assert!(hops.parse::<u32>().is_ok(), "[{case}] hopcount: {row}");
            assert_eq!(real, REALNAME, "[{case}] {row}");
        }
        let end = must(case, &r, "315");
        assert_eq!(param(end, 1), *mask, "[{case}] 315 echoes the mask: {end}");
        assert_eq!(r.last().unwrap().command, "315", "[{case}]");
    }
    let r = alice.ask("WHO nobody").await;
    must_not("WHO unknown", &r, "352");
    assert_eq!(param(must("WHO unknown", &r, "315"), 1), "nobody");
    s.shutdown().await;
}

#[tokio::test]
async fn whowas_remembers_who_left() {
    let (s, mut alice, mut bob) = two().await;
    bob.quit().await;
    alice.sync().await;
    let r = alice.ask("WHOWAS bob").await;
    let was = must("WHOWAS bob", &r, "314");
    // 314 <client> <nick> <user> <host> * :<real name>
    assert_eq!(param(was, 1), "bob");
    assert_eq!(param(was, 4), "*", "{was}");
    assert_eq!(last(was), REALNAME);
    let end = must("WHOWAS bob", &r, "369");
    assert_eq!(param(end, 1), "bob");
    assert_eq!(r.last().unwrap().command, "369");
    let r = alice.ask("WHOWAS nobody").await;
    assert_eq!(param(must("unknown", &r, "406"), 1), "nobody");
    assert_eq!(param(must("unknown", &r, "369"), 1), "nobody");
    let r = alice.ask("WHOWAS").await;
    assert!(
        has(&r, "431") || has(&r, "461"),
        "WHOWAS without a nick:\n{}",
        dump(&r)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn whowas_with_a_count_gives_at_most_that_many_then_369() {
    let (s, mut alice, mut bob) = two().await;
    bob.quit().await;
    let mut again = register(s.addr, "bob").await;
    again.quit().await;
    alice.sync().await;
    let count = |r: &[Message]| r.iter().filter(|m| m.command == "314").count();
    let r = alice.ask("WHOWAS bob").await;
    assert_eq!(count(&r), 2, "both departures:\n{}", dump(&r));
    for line in ["WHOWAS bob 1", "WHOWAS bob :1"] {
        let r = alice.ask(line).await;
        assert_eq!(count(&r), 1, "{line}:\n{}", dump(&r));
        assert_eq!(r.last().unwrap().command, "369", "{line}:\n{}", dump(&r));
    }
    // Not a positive number: every entry (RFC 2812).
    for line in ["WHOWAS bob 0", "WHOWAS bob -1", "WHOWAS bob x"] {
        let r = alice.ask(line).await;
        assert_eq!(count(&r), 2, "{line}:\n{}", dump(&r));
        assert_eq!(r.last().unwrap().command, "369", "{line}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn away_is_set_reported_and_cleared() {
    let (s, mut alice, mut bob) = two().await;
    let r = bob.ask("AWAY :out to lunch").await;
    assert_eq!(param(must("AWAY set", &r, "306"), 0), "bob");
    // A PRIVMSG to an away user tells the sender (301), and still arrives.
    let r = alice.ask("PRIVMSG bob :you there?").await;
    let away = must("301", &r, "301");
    assert_eq!(away.params, ["alice", "bob", "out to lunch"]);
    assert_eq!(
        last(must("delivered", &bob.sync().await, "PRIVMSG")),
        "you there?"
    );
    // NOTICE never triggers the automatic 301.
    let r = alice.ask("NOTICE bob :psst").await;
    must_not("NOTICE to away", &r, "301");
    // WHOIS shows it too.
    let r = alice.ask("WHOIS bob").await;
    assert_eq!(last(must("WHOIS away", &r, "301")), "out to lunch");
    // Back: 305, and no more 301.
    for (case, line) in [("no param", "AWAY"), ("empty param", "AWAY :")] {
        bob.ask("AWAY :again").await;
        let r = bob.ask(line).await;
        assert_eq!(param(must(case, &r, "305"), 0), "bob", "[{case}]");
        let r = alice.ask("PRIVMSG bob :back?").await;
        must_not(case, &r, "301");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn ison_lists_only_who_is_online() {
    let (s, mut alice, _bob) = two().await;
    // (case, line, the nicks 303 must list, in any order)
    let cases: &[(&str, &str, &[&str])] = &[
        ("one online", "ISON bob", &["bob"]),
        ("mixed", "ISON bob nobody alice", &["alice", "bob"]),
        ("as one trailing param", "ISON :bob nobody", &["bob"]),
        ("none online", "ISON nobody ghost", &[]),
    ];
    for (case, line, want) in cases {
        let r = alice.ask(line).await;
        let on = must(case, &r, "303");
        assert_eq!(param(on, 0), "alice");
        let mut got: Vec<String> = last(on)
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        got.sort();
        assert_eq!(got, *want, "[{case}] {on}");
    }
    let r = alice.ask("ISON").await;
    must("ISON without params", &r, "461");
    s.shutdown().await;
}

#[tokio::test]
async fn userhost_gives_nick_user_and_host() {
    let (s, mut alice, mut bob) = two().await;
    bob.ask("AWAY :busy").await;
    // (case, line, nicks, their away marks)
    let cases: &[(&str, &str, &[(&str, char)])] = &[
        ("here", "USERHOST alice", &[("alice", '+')]),
        ("away", "USERHOST bob", &[("bob", '-')]),
        (
            "both, unknown skipped",
            "USERHOST alice nobody bob",
            &[("alice", '+'), ("bob", '-')],
        ),
    ];
    for (case, line, want) in cases {
        let r = alice.ask(line).await;
        let reply = must(case, &r, "302");
        let items: Vec<&str> = last(reply).split_whitespace().collect();
        assert_eq!(items.len(), want.len(), "[{case}] {reply}");
        for (nick, mark) in *want {
            let item = items
                .iter()
                .find(|i| i.starts_with(&format!("{nick}=")) || i.starts_with(&format!("{nick}*=")))
                .unwrap_or_else(|| panic!("[{case}] {nick} in {reply}"));
            let rest = item.split_once('=').unwrap().1;
            assert!(rest.starts_with(*mark), "[{case}] away mark {mark}: {item}");
            assert!(rest[1..].contains('@'), "[{case}] user@host: {item}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn nick_changes_are_broadcast_and_checked() {
    let (s, mut alice, mut bob) = two().await;
    let r = bob.ask("NICK robert").await;
    let n = must("NICK", &r, "NICK");
    assert_from_user("NICK", n, "bob");
    assert_eq!(n.params, ["robert"]);
    let got = alice.sync().await;
    let n = must("NICK seen", &got, "NICK");
    assert_from_user("NICK seen", n, "bob");
    assert_eq!(n.params, ["robert"]);
    bob.name = "robert".into();
    // (case, line, numeric, param 1)
    let cases = [
        ("taken", "NICK alice", "433", "alice"),
        ("taken, other case", "NICK ALICE", "433", "ALICE"),
        ("erroneous", "NICK 9lives", "432", "9lives"),
        (
            "too long",
            "NICK abcdefghijklmnopqrstu",
            "432",
            "abcdefghijklmnopqrstu",
        ),
        ("missing", "NICK", "431", ""),
    ];
    for (case, line, code, p1) in cases {
        let r = bob.ask(line).await;
        let err = must(case, &r, code);
        assert_eq!(param(err, 0), "robert", "[{case}] {err}");
        if !p1.is_empty() {
            assert_eq!(param(err, 1), p1, "[{case}] {err}");
        }
        must_not(case, &r, "NICK");
    }
    // A change of case only is a change.
    let r = bob.ask("NICK Robert").await;
    assert_eq!(must("case change", &r, "NICK").params, ["Robert"]);
    let r = alice.ask("NAMES #c").await;
    assert!(
        last(must("names", &r, "353"))
            .split_whitespace()
            .any(|n| n == "Robert"),
        "{}",
        dump(&r)
    );
    // The old nick is free again.
    let r = alice.ask("ISON bob").await;
    assert_eq!(last(must("old nick free", &r, "303")), "");
    s.shutdown().await;
}

#[tokio::test]
async fn user_modes_are_ones_own() {
    let (s, mut alice, _bob) = two().await;
    // (case, line, expected reply command, check of its params)
    type Check = fn(&Message) -> bool;
    let cases: &[(&str, &str, &str, Check)] = &[
        ("query, none set", "MODE alice", "221", |m| {
            param(m, 1).starts_with('+') && !param(m, 1).contains('i')
        }),
        ("set +i", "MODE alice +i", "MODE", |m| {
            m.params == ["alice", "+i"]
        }),
        ("query, +i set", "MODE alice", "221", |m| {
            param(m, 1).starts_with('+') && param(m, 1).contains('i')
        }),
        ("unset -i", "MODE alice -i", "MODE", |m| {
            m.params == ["alice", "-i"]
        }),
        ("another user's", "MODE bob +i", "502", |m| {
            param(m, 0) == "alice"
        }),
        ("another user's query", "MODE bob", "502", |m| {
            param(m, 0) == "alice"
        }),
        ("unknown flag", "MODE alice +Z", "501", |m| {
            param(m, 0) == "alice"
        }),
        ("unknown nick", "MODE nobody", "401", |m| {
            param(m, 1) == "nobody"
        }),
    ];
    for (case, line, code, check) in cases {
        let r = alice.ask(line).await;
        let m = must(case, &r, code);
        assert!(check(m), "[{case}] {m}");
        if *code == "MODE" {
            assert_eq!(nick_of(m), "alice", "[{case}] {m}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn who_with_a_mask_lists_those_one_may_see_and_hides_the_invisible() {
    let (s, mut alice, mut bob) = two().await;
    let mut carol = register(s.addr, "carol").await;
    let r = bob.ask("MODE bob +i").await;
    must("+i", &r, "MODE");
    let nicks = |r: &[Message]| -> Vec<String> {
        let mut n: Vec<String> = all(r, "352")
            .iter()
            .map(|m| param(m, 5).to_owned())
            .collect();
        n.sort();
        n
    };
    // alice shares #c with bob; carol shares nothing.
    let r = alice.ask("WHO *").await;
    assert_eq!(nicks(&r), ["alice", "bob", "carol"], "{}", dump(&r));
    assert_eq!(param(must("WHO *", &r, "315"), 1), "*");
    let r = carol.ask("WHO *").await;
    assert_eq!(nicks(&r), ["alice", "carol"], "{}", dump(&r));
    // (`bo?` can match no host: every cloak is longer.)
    let r = carol.ask("WHO bo?").await;
    assert_eq!(nicks(&r), Vec::<String>::new(), "{}", dump(&r));
    let r = alice.ask("WHO bo?").await;
    assert_eq!(nicks(&r), ["bob"], "{}", dump(&r));
    let r = alice.ask("WHO *!~*@*").await;
    assert_eq!(nicks(&r), ["alice", "bob", "carol"], "{}", dump(&r));
    // A channel's WHO and NAMES leave bob out for carol, who is not in it.
    let r = carol.ask("WHO #c").await;
    assert_eq!(nicks(&r), ["alice"], "{}", dump(&r));
    let r = carol.ask("NAMES #c").await;
    assert_eq!(last(must("NAMES", &r, "353")), "@alice", "{}", dump(&r));
    // Visible again.
    bob.ask("MODE bob -i").await;
    let r = carol.ask("WHO *").await;
    assert_eq!(nicks(&r), ["alice", "bob", "carol"], "{}", dump(&r));
    s.shutdown().await;
}

#[tokio::test]
async fn server_queries_answer_with_their_numerics() {
    let (s, mut alice, _bob) = two().await;
    // (case, line, numerics that must all be there, the last one)
    let cases: &[(&str, &str, &[&str], Option<&str>)] = &[
        ("LUSERS", "LUSERS", &["251", "255"], None),
        ("VERSION", "VERSION", &["351"], None),
        ("TIME", "TIME", &["391"], None),
        ("MOTD", "MOTD", &[], None),
        ("ADMIN", "ADMIN", &["256"], None),
        ("INFO", "INFO", &["374"], Some("374")),
        ("HELP", "HELP", &["704", "705"], Some("706")),
        ("HELP one command", "HELP privmsg", &["704"], Some("706")),
        ("HELP unknown", "HELP FROBNICATE", &["524"], Some("524")),
    ];
    for (case, line, codes, final_code) in cases {
        let r = alice.ask(line).await;
        for code in *codes {
            let m = must(case, &r, code);
            assert_from_server(case, m);
            assert_eq!(param(m, 0), "alice", "[{case}] {m}");
        }
        if let Some(c) = final_code {
            assert_eq!(r.last().map(|m| m.command.as_str()), Some(*c), "[{case}]");
        }
        if *case == "VERSION" {
            // 351 <client> <version> <server> :<comments>
            assert_eq!(param(must(case, &r, "351"), 2), SERVER);
        }
        if *case == "TIME" {
            // 391 <client> <server> [<timestamp> [<TS offset>]] :<human-readable time>
            assert_eq!(param(must(case, &r, "391"), 1), SERVER);
        }
        if *case == "HELP" {
            // One line per command, the whole table.
            let lines: Vec<&str> = r
                .iter()
                .filter(|m| m.command == "705")
                .map(|m| m.params.last().unwrap().as_str())
                .collect();
            assert!(lines.len() > 40, "[{case}]\n{}", dump(&r));
            assert!(lines.iter().any(|l| l.starts_with("JOIN ")), "{lines:?}");
        }
        if *case == "HELP one command" {
            let m = must(case, &r, "704");
            assert_eq!(param(m, 1), "PRIVMSG", "{m}");
            assert!(param(m, 2).contains("send a message"), "{m}");
        }
        if *case == "MOTD" {
            assert!(
                (has(&r, "375") && has(&r, "372") && has(&r, "376")) || has(&r, "422"),
                "[{case}]\n{}",
                dump(&r)
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn ping_gets_pong_with_the_token() {
    let (s, mut alice, _bob) = two().await;
    for (case, line, token) in [
        ("trailing", "PING :abc", "abc"),
        ("middle", "PING abc", "abc"),
        ("spaces", "PING :a b c", "a b c"),
        ("server name", "PING confab.local", "confab.local"),
    ] {
        let r = alice.ask(line).await;
        let pong = must(case, &r, "PONG");
        assert_from_server(case, pong);
        assert_eq!(param(pong, 0), SERVER, "[{case}] {pong}");
        assert_eq!(last(pong), token, "[{case}] {pong}");
    }
    let r = alice.ask("PING").await;
    assert!(
        has(&r, "409") || has(&r, "461"),
        "PING without a token:\n{}",
        dump(&r)
    );
    // A PONG from the client gets no answer.
    let r = alice.ask("PONG :whatever").await;
    assert!(r.is_empty(), "PONG is not answered:\n{}", dump(&r));
    s.shutdown().await;
}
