//! An IRC client and a line-protocol (telnet) client in one room: each sees
//! the other's doings in its own protocol's form, and accounts are shared.

use crate::client::*;
use crate::support::{Client, TestServer, assert_stamped, start};

const PASSWORD: &str = "password123";

/// ivy (IRC, op of #room) and tom (line door) both in #room.
async fn room() -> (TestServer, Irc, Client) {
    let s = start(|_| {}).await;
    let mut ivy = register(s.addr, "ivy").await;
    ivy.join("#room").await;
    let mut tom = Client::login(s.addr, "tom").await;
    tom.send("/join #room").await;
    tom.expect("*** In #room (2):").await;
    let (_, join) = ivy
        .expect_msg("tom's JOIN", |m| m.command == "JOIN" && nick_of(m) == "tom")
        .await;
    assert_from_user("line JOIN", &join, "tom");
    assert_eq!(join.params, ["#room"]);
    (s, ivy, tom)
}

#[tokio::test]
async fn messages_cross_both_ways() {
    let (s, mut ivy, mut tom) = room().await;
    // IRC → line: (case, IRC line, what the line client reads)
    let to_line = [
        (
            "PRIVMSG",
            "PRIVMSG #room :hello tom",
            "#room <ivy> hello tom",
        ),
        (
            "ACTION",
            "PRIVMSG #room :\x01ACTION dances\x01",
            "#room * ivy dances",
        ),
        ("NOTICE", "NOTICE #room :heads up", "#room -ivy- heads up"),
        ("private", "PRIVMSG tom :psst", "[private] ivy -> tom: psst"),
        (
            "UTF-8",
            "PRIVMSG #room :naïve café ✓",
            "#room <ivy> naïve café ✓",
        ),
    ];
    for (case, line, want) in to_line {
        ivy.ask(line).await;
        let got = tom.expect(want).await;
        assert_stamped(&got);
        assert!(got.ends_with(want), "[{case}] {got}");
    }
    // line → IRC: (case, line-door input, IRC command, params)
    let to_irc: &[(&str, &str, &str, &[&str])] = &[
        ("plain text", "hi ivy", "PRIVMSG", &["#room", "hi ivy"]),
        (
            "/me",
            "/me waves",
            "PRIVMSG",
            &["#room", "\x01ACTION waves\x01"],
        ),
        (
            "/msg #room",
            "/msg #room to the room",
            "PRIVMSG",
            &["#room", "to the room"],
        ),
        (
            "/msg @ivy",
            "/msg @ivy just you",
            "PRIVMSG",
            &["ivy", "just you"],
        ),
    ];
    for (case, input, command, params) in to_irc {
        tom.send(input).await;
        let (_, m) = ivy
            .expect_msg(case, |m| m.command == *command && nick_of(m) == "tom")
            .await;
        assert_from_user(case, &m, "tom");
        assert_eq!(m.params, *params, "[{case}] {m}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn topics_modes_and_nicks_cross_both_ways() {
    let (s, mut ivy, mut tom) = room().await;
    // The IRC op sets the topic; the line user sees it.
    ivy.ask("TOPIC #room :irc topic").await;
    tom.expect("*** ivy set the topic of #room: irc topic")
        .await;
    // +t keeps the line user (no op) from setting it…
    tom.send("/topic line topic").await;
    tom.expect("*** Error: you are not an operator of #room")
        .await;
    // …until the op lifts it.
    ivy.ask("MODE #room -t").await;
    tom.expect("*** ivy set mode -t").await;
    tom.send("/topic line topic").await;
    let (_, t) = ivy
        .expect_msg("tom's TOPIC", |m| m.command == "TOPIC")
        .await;
    assert_from_user("line TOPIC", &t, "tom");
    assert_eq!(t.params, ["#room", "line topic"]);
    let r = ivy.ask("TOPIC #room").await;
    assert_eq!(last(must("TOPIC query", &r, "332")), "line topic");
    // Nick changes, both ways.
    tom.send("/nick tommy").await;
    let (_, n) = ivy.expect_msg("tom's NICK", |m| m.command == "NICK").await;
    assert_from_user("line NICK", &n, "tom");
    assert_eq!(n.params, ["tommy"]);
    tom.name = "tommy".into();
    ivy.ask("NICK ivan").await;
    tom.expect("*** ivy is now known as ivan").await;
    // The renamed line user is in NAMES under the new name.
    let r = ivy.ask("NAMES #room").await;
    let names = last(must("NAMES", &r, "353")).to_owned();
    assert!(
        names
            .split_whitespace()
            .any(|n| n.trim_start_matches(['@', '+']) == "tommy"),
        "{names}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn joins_parts_and_quits_cross_both_ways() {
    let (s, mut ivy, mut tom) = room().await;
    tom.send("/part #room see you").await;
    let (_, p) = ivy.expect_msg("tom's PART", |m| m.command == "PART").await;
    assert_from_user("line PART", &p, "tom");
    assert_eq!(p.params, ["#room", "see you"]);
    tom.send("/join #room").await;
    let (_, j) = ivy.expect_msg("tom's JOIN", |m| m.command == "JOIN").await;
    assert_eq!(j.params, ["#room"]);
    ivy.ask("PART #room :later").await;
    tom.expect("*** ivy left #room (later)").await;
    ivy.join("#room").await;
    tom.expect("*** ivy joined #room").await;
    // An IRC user's QUIT reaches the line user; a line user's quit
    // reaches the IRC user.
    let mut eve = register(s.addr, "eve").await;
    eve.join("#room").await;
    tom.expect("*** eve joined #room").await;
    eve.send("QUIT :gone now").await;
    eve.expect_closed().await;
    let q = tom.expect("*** eve quit").await;
    assert!(q.contains("gone now"), "{q}");
    tom.send("/quit bye all").await;
    let (_, q) = ivy
        .expect_msg("tom's QUIT", |m| m.command == "QUIT" && nick_of(m) == "tom")
        .await;
    assert_from_user("line QUIT", &q, "tom");
    assert!(last(&q).contains("bye all"), "{q}");
    s.shutdown().await;
}

#[tokio::test]
async fn accounts_are_shared_between_doors() {
    let s = start(|_| {}).await;
    // Registered on IRC, used from the line door.
    make_account(s.addr, "ircacct", PASSWORD).await;
    let mut guest = Client::connect(s.addr, "guest").await;
    guest.send("ircacct").await;
    guest
        .expect("*** Error: the name ircacct is registered")
        .await;
    guest.send(&format!("/login ircacct {PASSWORD}")).await;
    guest.expect("*** Welcome, ircacct!").await;
    drop(guest);
    // Registered on the line door, used with SASL.
    let mut linus = Client::login(s.addr, "linus").await;
    linus.send(&format!("/register {PASSWORD}")).await;
    linus
        .expect("*** The name linus is now registered to you")
        .await;
    linus.send("/quit").await;
    linus.expect_closed().await;
    let mut c = register_sasl(s.addr, "linus", "linus", PASSWORD, &[]).await;
    let r = c.ask("WHOIS linus").await;
    assert_eq!(param(must("WHOIS", &r, "330"), 2), "linus");
    c.quit().await;
    // And an IRC guest cannot take it.
    let mut g = connect(s.addr, "linus").await;
    g.send("NICK linus").await;
    let r = g.ask("USER u 0 * :Real Name").await;
    must("guest on a registered nick", &r, "433");
    s.shutdown().await;
}
