//! IRCv3 capability negotiation and what each capability changes.

use crate::client::*;
use crate::support::{TestServer, start};

/// Every capability the door advertises.
const ADVERTISED: &[&str] = &[
    "account-notify",
    "account-tag",
    "away-notify",
    "batch",
    "cap-notify",
    "chghost",
    "draft/chathistory",
    "draft/read-marker",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "sasl",
    "server-time",
    "setname",
    "userhost-in-names",
];

/// The capabilities of a `CAP LS` reply (several lines with 302), as
/// name → value.
async fn cap_ls(c: &mut Irc, line: &str) -> Vec<(String, Option<String>)> {
    c.send(line).await;
    let mut caps = Vec::new();
    loop {
        let (_, m) = c
            .expect_msg("CAP LS", |m| m.command == "CAP" && param(m, 1) == "LS")
            .await;
        // CAP <nick|*> LS [*] :caps
        let more = m.params.len() == 4 && param(&m, 2) == "*";
        for item in last(&m).split_whitespace() {
            match item.split_once('=') {
                Some((k, v)) => caps.push((k.to_owned(), Some(v.to_owned()))),
                None => caps.push((item.to_owned(), None)),
            }
        }
        if !more {
            return caps;
        }
    }
}

#[tokio::test]
async fn cap_ls_lists_every_capability() {
    let s = start(|_| {}).await;
    let mut c = connect(s.addr, "lister").await;
    let caps = cap_ls(&mut c, "CAP LS 302").await;
    for want in ADVERTISED {
        assert!(
            caps.iter().any(|(k, _)| k == want),
            "[{want}] missing from CAP LS 302: {caps:?}"
        );
    }
    let sasl = caps.iter().find(|(k, _)| k == "sasl").unwrap();
    assert!(
        sasl.1
            .as_deref()
            .is_some_and(|v| v.split(',').any(|m| m == "PLAIN")),
        "sasl=PLAIN with 302: {sasl:?}"
    );
    // Before 302, no values.
    let mut old = connect(s.addr, "oldie").await;
    let caps = cap_ls(&mut old, "CAP LS").await;
    assert!(
        caps.iter().all(|(_, v)| v.is_none()),
        "no values without 302: {caps:?}"
    );
    assert!(caps.iter().any(|(k, _)| k == "sasl"));
    // The LS reply is addressed to * before registration.
    c.send("CAP LS 302").await;
    let m = c.expect("CAP").await;
    assert_eq!(param(&m, 0), "*", "{m}");
    assert_from_server("CAP LS", &m);
    s.shutdown().await;
}

#[tokio::test]
async fn cap_req_is_all_or_nothing() {
    let s = start(|_| {}).await;
    let mut c = register(s.addr, "req").await;
    // (case, request, ACK?, then CAP LIST must contain, must not contain)
    let cases: &[(&str, &str, bool, &[&str], &[&str])] = &[
        (
            "one known",
            "server-time",
            true,
            &["server-time"],
            &["echo-message"],
        ),
        (
            "two known",
            "echo-message message-tags",
            true,
            &["server-time", "echo-message", "message-tags"],
            &[],
        ),
        (
            "unknown",
            "no-such-cap",
            false,
            &["server-time"],
            &["no-such-cap"],
        ),
        (
            "known and unknown",
            "batch no-such-cap",
            false,
            &[],
            &["batch"],
        ),
        (
            "disable one",
            "-echo-message",
            true,
            &["server-time", "message-tags"],
            &["echo-message"],
        ),
        (
            "enable and disable",
            "batch -message-tags",
            true,
            &["batch", "server-time"],
            &["message-tags"],
        ),
    ];
    for (case, req, ack, has_caps, lacks) in cases {
        let r = c.ask(&format!("CAP REQ :{req}")).await;
        let m = must(case, &r, "CAP");
        assert_eq!(param(m, 0), "req", "[{case}] {m}");
        assert_eq!(
            param(m, 1),
            if *ack { "ACK" } else { "NAK" },
            "[{case}] {m}"
        );
        assert_eq!(
            last(m).trim(),
            *req,
            "[{case}] the reply echoes the request: {m}"
        );
        let r = c.ask("CAP LIST").await;
        let list = must(case, &r, "CAP");
        assert_eq!(param(list, 1), "LIST", "[{case}] {list}");
        let enabled: Vec<&str> = last(list).split_whitespace().collect();
        for cap in *has_caps {
            assert!(enabled.contains(cap), "[{case}] {cap} enabled: {list}");
        }
        for cap in *lacks {
            assert!(!enabled.contains(cap), "[{case}] {cap} not enabled: {list}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn bad_cap_subcommands_get_410() {
    let s = start(|_| {}).await;
    let mut c = register(s.addr, "capper").await;
    for (case, line, sub) in [
        ("unknown", "CAP FOO", "FOO"),
        ("lowercase unknown", "CAP bar", "BAR"),
    ] {
        let r = c.ask(line).await;
        let err = must(case, &r, "410");
        assert_eq!(param(err, 0), "capper");
        assert!(
            param(err, 1).eq_ignore_ascii_case(sub),
            "[{case}] 410 names the subcommand: {err}"
        );
    }
    let r = c.ask("CAP").await;
    must("no subcommand", &r, "461");
    s.shutdown().await;
}

/// alice and bob (with `bob_caps`) in #c; alice speaks first.
async fn pair(alice_caps: &[&str], bob_caps: &[&str]) -> (TestServer, Irc, Irc) {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", alice_caps).await;
    let mut bob = register_with_caps(s.addr, "bob", bob_caps).await;
    alice.join("#c").await;
    bob.join("#c").await;
    alice.sync().await;
    (s, alice, bob)
}

#[tokio::test]
async fn server_time_and_message_tags_tag_what_arrives() {
    let (s, mut alice, mut bob) = pair(&[], &["server-time", "message-tags"]).await;
    // (case, line by alice, command bob sees)
    let cases = [
        ("PRIVMSG", "PRIVMSG #c :tagged", "PRIVMSG"),
        ("NOTICE", "NOTICE #c :tagged notice", "NOTICE"),
        ("private PRIVMSG", "PRIVMSG bob :psst", "PRIVMSG"),
        ("TOPIC", "TOPIC #c :tagged topic", "TOPIC"),
        ("MODE", "MODE #c +v bob", "MODE"),
    ];
    let mut ids = Vec::new();
    for (case, line, command) in cases {
        alice.ask(line).await;
        let got = bob.sync().await;
        let m = must(case, &got, command);
        let time = tag(m, "time").unwrap_or_else(|| panic!("[{case}] time tag: {m}"));
        assert!(
            is_iso_time(time),
            "[{case}] time as YYYY-MM-DDThh:mm:ss.sssZ: {time}"
        );
        if command == "PRIVMSG" || command == "NOTICE" {
            let id = tag(m, "msgid").unwrap_or_else(|| panic!("[{case}] msgid tag: {m}"));
            assert!(!id.is_empty());
            ids.push(id.to_owned());
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "msgids are unique: {ids:?}");
    // A JOIN carries the time too.
    let mut carol = register(s.addr, "carol").await;
    carol.join("#c").await;
    let got = bob.sync().await;
    let j = must("JOIN", &got, "JOIN");
    assert!(tag(j, "time").is_some_and(is_iso_time), "JOIN time: {j}");
    // And a client without the caps gets no tags.
    bob.ask("PRIVMSG #c :to alice").await;
    let got = alice.sync().await;
    let m = must("untagged", &got, "PRIVMSG");
    assert!(m.tags.is_empty(), "no tags without the caps: {m}");
    s.shutdown().await;
}

#[tokio::test]
async fn echo_message_echoes_only_when_enabled() {
    let s = start(|_| {}).await;
    let mut bob = register(s.addr, "bob").await;
    bob.join("#c").await;
    // (case, caps, line, echoed?)
    let cases: &[(&str, &[&str], &str, bool)] = &[
        (
            "with echo-message, channel",
            &["echo-message"],
            "PRIVMSG #c :echo me",
            true,
        ),
        (
            "with echo-message, nick",
            &["echo-message"],
            "PRIVMSG bob :echo me",
            true,
        ),
        (
            "with echo-message, NOTICE",
            &["echo-message"],
            "NOTICE #c :echo me",
            true,
        ),
        ("without, channel", &[], "PRIVMSG #c :no echo", false),
        ("without, nick", &[], "PRIVMSG bob :no echo", false),
    ];
    for (i, (case, caps, line, echoed)) in cases.iter().enumerate() {
        let nick = format!("echo{i}");
        let mut c = register_with_caps(s.addr, &nick, caps).await;
        c.join("#c").await;
        let r = c.ask(line).await;
        let command = line.split(' ').next().unwrap();
        let text = line.split_once(" :").unwrap().1;
        let echo = r.iter().find(|m| m.command == command);
        match (echoed, echo) {
            (true, Some(m)) => {
                assert_from_user(case, m, &nick);
                assert_eq!(last(m), text, "[{case}] {m}");
            }
            (true, None) => panic!("[{case}] no echo:\n{}", dump(&r)),
            (false, Some(m)) => panic!("[{case}] echoed without echo-message: {m}"),
            (false, None) => {}
        }
        assert_eq!(
            last(must(case, &bob.sync().await, command)),
            text,
            "[{case}] bob"
        );
        c.quit().await;
        bob.sync().await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn extended_join_adds_account_and_real_name() {
    let s = start(|_| {}).await;
    let mut bob = register_with_caps(s.addr, "bob", &["extended-join"]).await;
    bob.join("#c").await;
    let mut guest = register(s.addr, "guest").await;
    guest.join("#c").await;
    let got = bob.sync().await;
    let j = must("guest", &got, "JOIN");
    assert_eq!(j.params, ["#c", "*", REALNAME], "guest: account *: {j}");
    let mut acct = create_account(s.addr, "acct", "password123", &[]).await;
    acct.join("#c").await;
    let got = bob.sync().await;
    let j = must("account", &got, "JOIN");
    assert_eq!(j.params, ["#c", "acct", REALNAME], "logged in: {j}");
    // bob's own JOIN has the extended form too.
    let r = bob.join("#d").await;
    assert_eq!(must("own", &r, "JOIN").params, ["#d", "*", REALNAME]);
    s.shutdown().await;
}

#[tokio::test]
async fn multi_prefix_and_userhost_in_names_shape_353() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    alice.join("#c").await;
    alice.ask("MODE #c +v alice").await;
    // (case, caps, the entry for alice in 353)
    let cases: &[(&str, &[&str], &str)] = &[
        ("no caps", &[], "@alice"),
        ("multi-prefix", &["multi-prefix"], "@+alice"),
        ("userhost-in-names", &["userhost-in-names"], "@alice!"),
        ("both", &["multi-prefix", "userhost-in-names"], "@+alice!"),
    ];
    for (i, (case, caps, want)) in cases.iter().enumerate() {
        let mut c = register_with_caps(s.addr, &format!("viewer{i}"), caps).await;
        let r = c.ask("NAMES #c").await;
        let names = last(must(case, &r, "353"));
        let entry = names
            .split_whitespace()
            .find(|n| n.trim_start_matches(['@', '+']).starts_with("alice"))
            .unwrap_or_else(|| panic!("[{case}] alice in {names}"));
        if want.ends_with('!') {
            assert!(entry.starts_with(want), "[{case}] {entry}");
            // @+alice!~u@127.0.0.1: a user and a host after the nick.
            let user_host = entry[want.len()..].split_once('@');
            assert!(
                user_host.is_some_and(|(u, h)| !u.is_empty() && !h.is_empty()),
                "[{case}] {entry}"
            );
        } else {
            assert_eq!(entry, *want, "[{case}]");
        }
        // WHO shows both prefixes with multi-prefix too.
        if caps.contains(&"multi-prefix") {
            let r = c.ask("WHO #c").await;
            let row = must(case, &r, "352");
            assert!(param(row, 6).contains("@+"), "[{case}] WHO flags: {row}");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn away_notify_tells_channel_members() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register_with_caps(s.addr, "bob", &["away-notify"]).await;
    let mut carol = register(s.addr, "carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("#c").await;
    }
    drain(&mut [&mut alice, &mut bob]).await;
    // (case, alice's line, AWAY params bob sees)
    let cases: &[(&str, &str, &[&str])] =
        &[("away", "AWAY :gone", &["gone"]), ("back", "AWAY", &[])];
    for (case, line, params) in cases {
        alice.ask(line).await;
        let got = bob.sync().await;
        let m = must(case, &got, "AWAY");
        assert_from_user(case, m, "alice");
        assert_eq!(m.params, *params, "[{case}] {m}");
        let none = carol.sync().await;
        must_not(case, &none, "AWAY");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn away_notify_follows_an_away_users_join_with_away() {
    let s = start(|_| {}).await;
    let mut alice = register_with_caps(s.addr, "alice", &["away-notify"]).await;
    let mut carol = register(s.addr, "carol").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#c").await;
    carol.join("#c").await;
    bob.ask("AWAY :lunch").await;
    drain(&mut [&mut alice, &mut carol]).await;
    bob.join("#c").await;
    let got = alice.sync().await;
    let (join, away) = (index(&got, "JOIN"), index(&got, "AWAY"));
    assert!(
        matches!((join, away), (Some(j), Some(a)) if j < a),
        "JOIN then AWAY:\n{}",
        dump(&got)
    );
    let m = &got[away.unwrap()];
    assert_from_user("away", m, "bob");
    assert_eq!(m.params, ["lunch"]);
    // Without the capability: the join only.
    must_not("no away-notify", &carol.sync().await, "AWAY");
    s.shutdown().await;
}

#[tokio::test]
async fn setname_changes_the_real_name() {
    let (s, mut alice, mut bob) = pair(&["setname"], &["setname"]).await;
    let r = alice.ask("SETNAME :New Name").await;
    let m = must("own", &r, "SETNAME");
    assert_from_user("own", m, "alice");
    assert_eq!(m.params, ["New Name"]);
    let got = bob.sync().await;
    assert_eq!(must("bob", &got, "SETNAME").params, ["New Name"]);
    let r = bob.ask("WHOIS alice").await;
    assert_eq!(last(must("WHOIS", &r, "311")), "New Name");
    // Too long: FAIL SETNAME INVALID_REALNAME.
    let r = alice.ask(&format!("SETNAME :{}", "n".repeat(300))).await;
    let fail = must("too long", &r, "FAIL");
    assert_eq!(&fail.params[..2], ["SETNAME", "INVALID_REALNAME"], "{fail}");
    must_not("too long", &r, "SETNAME");
    s.shutdown().await;
}

#[tokio::test]
async fn invite_notify_tells_the_other_members() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register_with_caps(s.addr, "bob", &["invite-notify"]).await;
    let mut carol = register(s.addr, "carol").await;
    let mut dave = register(s.addr, "dave").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("#c").await;
    }
    drain(&mut [&mut alice, &mut bob]).await;
    alice.ask("INVITE dave #c").await;
    let got = bob.sync().await;
    let inv = must("invite-notify", &got, "INVITE");
    assert_from_user("invite-notify", inv, "alice");
    assert_eq!(inv.params, ["dave", "#c"]);
    let got = carol.sync().await;
    must_not("no invite-notify", &got, "INVITE");
    let got = dave.sync().await;
    must("the invitee", &got, "INVITE");
    s.shutdown().await;
}

#[tokio::test]
async fn account_tag_marks_messages_from_logged_in_users() {
    let s = start(|_| {}).await;
    let mut acct = create_account(s.addr, "acct", "password123", &[]).await;
    let mut guest = register(s.addr, "guest").await;
    let mut bob = register_with_caps(s.addr, "bob", &["account-tag"]).await;
    for c in [&mut acct, &mut guest, &mut bob] {
        c.join("#c").await;
    }
    bob.sync().await;
    // (case, sender, account tag expected)
    acct.ask("PRIVMSG #c :from an account").await;
    let got = bob.sync().await;
    let m = must("logged in", &got, "PRIVMSG");
    assert_eq!(tag(m, "account"), Some("acct"), "{m}");
    guest.ask("PRIVMSG #c :from a guest").await;
    let got = bob.sync().await;
    let m = must("guest", &got, "PRIVMSG");
    assert_eq!(m.tag("account"), None, "{m}");
    s.shutdown().await;
}

#[tokio::test]
async fn account_notify_reports_registrations_and_identify_arrives_as_the_account() {
    let s = start(|_| {}).await;
    crate::client::make_account(s.addr, "later", "password123").await;
    let mut bob = register_with_caps(s.addr, "bob", &["account-notify", "extended-join"]).await;
    bob.join("#c").await;
    // A guest who registers its nick: ACCOUNT to those sharing a channel.
    let mut fresh = register(s.addr, "fresh").await;
    fresh.join("#c").await;
    bob.sync().await;
    fresh.ask("PRIVMSG NickServ :REGISTER password123").await;
    let got = bob.sync().await;
    let m = must("account-notify", &got, "ACCOUNT");
    assert_eq!(m.params, ["fresh"], "{m}");
    assert!(
        m.source.as_deref().unwrap_or("").starts_with("fresh!"),
        "{m}"
    );
    // IDENTIFY to another account: the guest leaves, the account arrives
    // (confab's guests and accounts are different users).
    let mut temp = register(s.addr, "tempnick").await;
    temp.join("#c").await;
    bob.sync().await;
    temp.ask("PRIVMSG NickServ :IDENTIFY later password123")
        .await;
    let got = bob.sync().await;
    let q = must("identify", &got, "QUIT");
    assert!(
        q.source.as_deref().unwrap_or("").starts_with("tempnick!"),
        "{q}"
    );
    s.shutdown().await;
}

/// Where the first batch of `r` opens (`BATCH +id`) and closes
/// (`BATCH -id`).
fn batch_bounds(case: &str, r: &[Message]) -> (usize, usize) {
    let open = r
        .iter()
        .position(|m| m.command == "BATCH" && param(m, 0).starts_with('+'))
        .unwrap_or_else(|| panic!("[{case}] BATCH +id:\n{}", dump(r)));
    let id = &param(&r[open], 0)[1..];
    let close = r
        .iter()
        .position(|m| m.command == "BATCH" && param(m, 0) == format!("-{id}"))
        .unwrap_or_else(|| panic!("[{case}] BATCH -{id}:\n{}", dump(r)));
    (open, close)
}

/// bob and lab (labeled-response, batch, echo-message) in #c.
async fn labeling() -> (TestServer, Irc, Irc) {
    let s = start(|_| {}).await;
    let mut bob = register(s.addr, "bob").await;
    bob.join("#c").await;
    let mut c = register_with_caps(
        s.addr,
        "lab",
        &["labeled-response", "batch", "echo-message"],
    )
    .await;
    c.join("#c").await;
    (s, bob, c)
}

#[tokio::test]
async fn labeled_response_labels_every_kind_of_answer() {
    let (s, mut bob, mut c) = labeling().await;
    let mut plain = register_with_caps(s.addr, "plain", &["labeled-response", "batch"]).await;
    plain.join("#c").await;

    // One reply: it carries the label.
    let r = c.ask("@label=abc PING :x").await;
    let pong = must("PING", &r, "PONG");
    assert_eq!(tag(pong, "label"), Some("abc"), "{pong}");
    assert_eq!(last(pong), "x");

    // A PRIVMSG with echo-message: the echo carries the label.
    let r = c.ask("@label=echo1 PRIVMSG #c :labeled").await;
    let echo = must("echo", &r, "PRIVMSG");
    assert_eq!(tag(echo, "label"), Some("echo1"), "{echo}");
    // …and the label does not leak to the others.
    let got = bob.sync().await;
    assert_eq!(must("recipient", &got, "PRIVMSG").tag("label"), None);

    // Several replies: a labeled-response batch.
    for (case, line, inner) in [
        ("NAMES", "@label=names1 NAMES #c", "353"),
        ("WHOIS", "@label=whois1 WHOIS bob", "311"),
    ] {
        let r = c.ask(line).await;
        let label = line[7..].split(' ').next().unwrap();
        let (start, close) = batch_bounds(case, &r);
        let open = &r[start];
        assert_eq!(param(open, 1), "labeled-response", "[{case}] {open}");
        assert_eq!(tag(open, "label"), Some(label), "[{case}] {open}");
        let id = &param(open, 0)[1..];
        assert!(close > start + 1, "[{case}]");
        for m in &r[start + 1..close] {
            assert_eq!(tag(m, "batch"), Some(id), "[{case}] inside the batch: {m}");
        }
        assert!(
            r[start + 1..close].iter().any(|m| m.command == inner),
            "[{case}] has {inner}"
        );
    }

    // No reply at all: an ACK with the label.
    let r = plain.ask("@label=quiet PRIVMSG #c :unechoed").await;
    let ack = must("ACK", &r, "ACK");
    assert_eq!(tag(ack, "label"), Some("quiet"), "{ack}");
    assert_from_server("ACK", ack);

    // An error reply is labeled too.
    let r = plain.ask("@label=err1 FOOBAR").await;
    let err = must("421", &r, "421");
    assert_eq!(tag(err, "label"), Some("err1"), "{err}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_labeled_line_with_several_answers_is_one_labeled_batch() {
    let (s, _bob, mut c) = labeling().await;
    // (case, line, commands the batch holds)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "two targets",
            "@label=two PRIVMSG #c,bob :both",
            &["PRIVMSG", "PRIVMSG"],
        ),
        (
            "a bad channel among good ones",
            "@label=joins JOIN #ok,bad",
            &["403", "JOIN", "353", "366"],
        ),
    ];
    for (case, line, inside) in cases {
        let r = c.ask(line).await;
        let label = &line[7..line.find(' ').unwrap()];
        let (open, close) = batch_bounds(case, &r);
        assert_eq!(tag(&r[open], "label"), Some(label), "[{case}]");
        assert_eq!(param(&r[open], 1), "labeled-response", "[{case}]");
        let mut held: Vec<&str> = r[open + 1..close]
            .iter()
            .map(|m| m.command.as_str())
            .collect();
        let mut want = inside.to_vec();
        held.sort_unstable();
        want.sort_unstable();
        assert_eq!(held, want, "[{case}]:\n{}", dump(&r));
        // Nothing of the line outside its batch, and no second label.
        assert_eq!(r.len(), close + 1 - open, "[{case}]:\n{}", dump(&r));
    }
    s.shutdown().await;
}

#[tokio::test]
async fn typing_tagmsg_reaches_clients_that_take_tags() {
    let (s, mut alice, mut bob) = pair(&["message-tags"], &["message-tags"]).await;
    let mut carol = register(s.addr, "carol").await;
    carol.join("#c").await;
    drain(&mut [&mut alice, &mut bob, &mut carol]).await;
    // (case, line by alice, target bob sees, typing state)
    let cases = [
        ("room, active", "@+typing=active TAGMSG #c", "#c", "active"),
        ("room, done", "@+typing=done TAGMSG #c", "#c", "done"),
        ("private", "@+typing=active TAGMSG bob", "bob", "active"),
    ];
    for (case, line, target, state) in cases {
        let answer = alice.ask(line).await;
        must_not(case, &answer, "TAGMSG");
        let got = bob.sync().await;
        let m = must(case, &got, "TAGMSG");
        assert_from_user(case, m, "alice");
        assert_eq!(param(m, 0), target, "[{case}] {m}");
        assert_eq!(tag(m, "+typing"), Some(state), "[{case}] {m}");
        // Without message-tags, nothing arrives.
        must_not(case, &carol.sync().await, "TAGMSG");
    }
    // Other client tags are relayed as they are, to clients that take
    // tags only.
    alice.ask("@+draft/react=x;+draft/reply=9 TAGMSG #c").await;
    let got = bob.sync().await;
    let m = must("other tags", &got, "TAGMSG");
    assert_eq!(tag(m, "+draft/react"), Some("x"), "{m}");
    assert_eq!(tag(m, "+draft/reply"), Some("9"), "{m}");
    assert_eq!(param(m, 0), "#c", "{m}");
    must_not("other tags", &carol.sync().await, "TAGMSG");
    s.shutdown().await;
}

#[tokio::test]
async fn client_tags_ride_with_messages_and_stay_in_the_history() {
    let caps = [
        "message-tags",
        "echo-message",
        "batch",
        "server-time",
        "draft/chathistory",
    ];
    let (s, mut alice, mut bob) = pair(&caps, &["message-tags"]).await;
    let mut carol = register(s.addr, "carol").await;
    carol.join("#c").await;
    drain(&mut [&mut alice, &mut bob, &mut carol]).await;
    let r = alice
        .ask("@+draft/reply=1;+example.com/x=a\\sb;msgid=forged PRIVMSG #c :re")
        .await;
    let echo = must("echo", &r, "PRIVMSG");
    assert_eq!(tag(echo, "+draft/reply"), Some("1"), "{echo}");
    let got = bob.sync().await;
    let m = must("relayed", &got, "PRIVMSG");
    assert_eq!(tag(m, "+draft/reply"), Some("1"), "{m}");
    assert_eq!(tag(m, "+example.com/x"), Some("a b"), "{m}");
    // The server's own msgid, never the client's.
    assert_ne!(tag(m, "msgid"), Some("forged"), "{m}");
    assert_eq!(tag(m, "msgid"), tag(echo, "msgid"), "{m}");
    let seen = carol.sync().await;
    let plain = must("without tags", &seen, "PRIVMSG");
    assert!(plain.tags.is_empty(), "{plain}");
    // Kept with the message: the history gives it back.
    let r = alice.ask("CHATHISTORY LATEST #c * 10").await;
    let kept = r
        .iter()
        .find(|m| m.command == "PRIVMSG" && last(m) == "re")
        .unwrap_or_else(|| panic!("history:\n{}", dump(&r)));
    assert_eq!(tag(kept, "+draft/reply"), Some("1"), "{kept}");
    assert_eq!(tag(kept, "+example.com/x"), Some("a b"), "{kept}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_labeled_tagmsg_is_echoed_with_its_label_and_too_many_tags_get_417() {
    let caps = ["message-tags", "echo-message", "labeled-response", "batch"];
    let (s, mut alice, mut bob) = pair(&caps, &["message-tags"]).await;
    let r = alice.ask("@label=r1;+draft/react=ok TAGMSG #c").await;
    let echo = must("echo", &r, "TAGMSG");
    assert_eq!(tag(echo, "label"), Some("r1"), "{echo}");
    assert_eq!(tag(echo, "+draft/react"), Some("ok"), "{echo}");
    must("relayed", &bob.sync().await, "TAGMSG");
    // Over 4094 bytes of client tags: refused, nothing relayed.
    let long = format!("@+draft/x={} PRIVMSG #c :hi", "y".repeat(4100));
    let r = alice.ask(&long).await;
    must("too long", &r, "417");
    must_not("too long", &bob.sync().await, "PRIVMSG");
    s.shutdown().await;
}

/// To oneself with echo-message, a PRIVMSG, NOTICE or TAGMSG comes back
/// twice, the echo and the delivery, and only the echo carries the label
/// (irctest's labeled-response and chathistory cases); without
/// echo-message, once. A TAGMSG has a msgid, relayed and echoed alike.
#[tokio::test]
async fn to_oneself_with_echo_message_is_the_echo_and_the_delivery() {
    let caps = ["message-tags", "echo-message", "labeled-response", "batch"];
    let (s, mut alice, mut bob) = pair(&caps, &["message-tags"]).await;
    for (case, line, command) in [
        ("PRIVMSG", "@label=l1 PRIVMSG alice :hi me", "PRIVMSG"),
        ("NOTICE", "@label=l2 NOTICE alice :note", "NOTICE"),
        ("TAGMSG", "@label=l3;+draft/react=ok TAGMSG alice", "TAGMSG"),
        ("unlabeled", "PRIVMSG alice :again", "PRIVMSG"),
    ] {
        let r = alice.ask(line).await;
        let copies = all(&r, command);
        assert_eq!(copies.len(), 2, "[{case}] echo and delivery:\n{}", dump(&r));
        let labeled = copies.iter().filter(|m| tag(m, "label").is_some()).count();
        let want = usize::from(line.starts_with("@label"));
        assert_eq!(labeled, want, "[{case}] one labeled copy:\n{}", dump(&r));
        must_not(case, &r, "BATCH");
        let ids: Vec<_> = copies.iter().map(|m| tag(m, "msgid")).collect();
        assert!(
            ids[0].is_some() && ids[0] == ids[1],
            "[{case}] one msgid: {ids:?}"
        );
    }
    // Without echo-message: once.
    let got = bob.ask("PRIVMSG bob :just once").await;
    assert_eq!(all(&got, "PRIVMSG").len(), 1, "{}", dump(&got));
    let got = bob.ask("@+draft/react=ok TAGMSG bob").await;
    assert_eq!(all(&got, "TAGMSG").len(), 1, "{}", dump(&got));
    // A TAGMSG to another: echo and relay have the same msgid.
    let r = alice.ask("@+draft/react=ok TAGMSG bob").await;
    let echo = tag(must("echo", &r, "TAGMSG"), "msgid").map(str::to_owned);
    let got = bob.sync().await;
    let relayed = tag(must("relay", &got, "TAGMSG"), "msgid").map(str::to_owned);
    assert!(echo.is_some() && echo == relayed, "{echo:?} {relayed:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn client_tags_cross_between_irc_and_the_websocket_door() {
    use crate::ws_client;
    use serde_json::json;
    let s = start(|_| {}).await;
    let mut ivy = register_with_caps(s.addr, "ivy", &["message-tags"]).await;
    ivy.join("#c").await;
    let (mut web, _) = ws_client::guest(s.addr, "web").await;
    web.ok(json!({"type": "join", "room": "#c"})).await;
    ivy.sync().await;
    // WebSocket → IRC: a reply, its tags with it.
    web.ok(json!({"type": "send", "to": "#c", "text": "agreed",
        "tags": {"+draft/reply": "1"}}))
        .await;
    let got = ivy.sync().await;
    let m = must("from the web", &got, "PRIVMSG");
    assert_eq!(tag(m, "+draft/reply"), Some("1"), "{m}");
    // IRC → WebSocket: a reaction, as a tagmsg event; a message's tags in
    // its JSON.
    ivy.ask("@+draft/react=👍;+draft/reply=2 TAGMSG #c").await;
    let ev = web.expect("tagmsg").await;
    assert_eq!(ev["from"], "ivy", "{ev}");
    assert_eq!(ev["to"], "#c", "{ev}");
    assert_eq!(
        ev["tags"],
        json!({"+draft/react": "👍", "+draft/reply": "2"})
    );
    ivy.ask("@+draft/reply=2 PRIVMSG #c :me too").await;
    let (_, ev) = web
        .expect_where("message", |v| v["message"]["text"] == "me too")
        .await;
    assert_eq!(ev["message"]["tags"], json!({"+draft/reply": "2"}), "{ev}");
    // Bad tags from the web are refused, naming the field.
    let e = web
        .refused(json!({"type": "send", "to": "#c", "text": "x", "tags": {"time": "1"}}))
        .await;
    assert_eq!(e["field"], "tags", "{e}");
    s.shutdown().await;
}
