//! Channels: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE and channel
//! modes (+i +k +l +b +m +o +v +n +t).

use crate::client::*;
use crate::support::start;

/// The nicks (with prefixes) of a NAMES reply for `channel`.
fn names(replies: &[Message], channel: &str) -> Vec<String> {
    replies
        .iter()
        .filter(|m| m.command == "353" && param(m, 2).eq_ignore_ascii_case(channel))
        .flat_map(|m| {
            last(m)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn names_marks_a_secret_channel_with_at_and_a_public_one_with_equals() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    alice.join("#pub").await;
    alice.join("#hush").await;
    alice.ask("MODE #hush +s").await;
    for (channel, symbol) in [("#pub", "="), ("#hush", "@")] {
        let r = alice.ask(&format!("NAMES {channel}")).await;
        let n = must(channel, &r, "353");
        // 353 <client> <symbol> <channel> :[prefix]<nick>…
        assert_eq!(param(n, 1), symbol, "{channel}: {n}");
        assert_eq!(param(n, 2), channel);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn list_shows_a_secret_channel_only_to_its_members() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#pub").await;
    alice.join("#hush").await;
    alice.ask("MODE #hush +s").await;
    let listed = |r: &[Message]| -> Vec<String> {
        r.iter()
            .filter(|m| m.command == "322")
            .map(|m| param(m, 1).to_owned())
            .collect()
    };
    for line in ["LIST", "LIST #hush", "LIST #pub,#hush", "LIST >0"] {
        let r = bob.ask(line).await;
        assert!(
            !listed(&r).iter().any(|c| c == "#hush"),
            "{line} to a non-member:\n{}",
            dump(&r)
        );
        assert_eq!(r.last().unwrap().command, "323", "{line}");
        let r = alice.ask(line).await;
        if line != "LIST >0" {
            assert!(
                listed(&r).iter().any(|c| c == "#hush"),
                "{line} to a member:\n{}",
                dump(&r)
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn join_echoes_then_names_the_channel_with_the_creator_as_op() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let case = "JOIN #new";
    let r = alice.join("#new").await;
    let join = must(case, &r, "JOIN");
    assert_from_user(case, join, "alice");
    assert_eq!(join.params, ["#new"], "[{case}] {join}");
    let names_at = index(&r, "353").expect("353");
    let end_at = index(&r, "366").expect("366");
    assert!(
        index(&r, "JOIN").unwrap() < names_at && names_at < end_at,
        "[{case}] order:\n{}",
        dump(&r)
    );
    let n = &r[names_at];
    // 353 <client> <symbol> <channel> :[prefix]<nick>…
    assert_eq!(param(n, 0), "alice");
    assert!(
        ["=", "*", "@"].contains(&param(n, 1)),
        "[{case}] channel symbol: {n}"
    );
    assert_eq!(param(n, 2), "#new");
    assert_eq!(names(&r, "#new"), ["@alice"], "[{case}] the creator is op");
    let end = &r[end_at];
    assert_eq!(param(end, 0), "alice");
    assert_eq!(param(end, 1), "#new");
    // No topic yet: no 332.
    must_not(case, &r, "332");
    // A second join of the same channel does nothing visible.
    let again = alice.ask("JOIN #new").await;
    must_not("JOIN twice", &again, "JOIN");
    s.shutdown().await;
}

#[tokio::test]
async fn joining_shows_the_topic_and_tells_the_members() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    alice.ask("TOPIC #c :the topic").await;
    bob.sync().await;
    let r = carol.join("#c").await;
    let case = "JOIN with topic";
    let topic = must(case, &r, "332");
    assert_eq!(topic.params, ["carol", "#c", "the topic"], "[{case}]");
    let who = must(case, &r, "333");
    assert_eq!(param(who, 1), "#c");
    assert_eq!(
        nick_of_mask(param(who, 2)),
        "alice",
        "[{case}] 333 names the setter: {who}"
    );
    assert!(
        param(who, 3).parse::<u64>().is_ok(),
        "[{case}] 333 has a unix time: {who}"
    );
    let (j, t, n) = (
        index(&r, "JOIN").unwrap(),
        index(&r, "332").unwrap(),
        index(&r, "353").unwrap(),
    );
    assert!(
        j < t && t < n,
        "[{case}] JOIN, 332/333, then 353:\n{}",
        dump(&r)
    );
    let mut seen = names(&r, "#c");
    seen.sort();
    assert_eq!(seen, ["@alice", "bob", "carol"], "[{case}]");
    for (who, c) in [("alice", &mut alice), ("bob", &mut bob)] {
        let got = c.sync().await;
        let j = must(case, &got, "JOIN");
        assert_from_user(case, j, "carol");
        assert_eq!(j.params, ["#c"], "[{case}] {who}: {j}");
    }
    s.shutdown().await;
}

/// The nick of `nick` or `nick!user@host`.
fn nick_of_mask(s: &str) -> &str {
    s.split('!').next().unwrap_or(s)
}

#[tokio::test]
async fn join_several_channels_at_once() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let r = alice.ask("JOIN #a,#b,#d").await;
    for ch in ["#a", "#b", "#d"] {
        assert!(
            r.iter().any(|m| m.command == "JOIN" && param(m, 0) == ch),
            "[{ch}] joined:\n{}",
            dump(&r)
        );
        assert!(
            r.iter().any(|m| m.command == "366" && param(m, 1) == ch),
            "[{ch}] named:\n{}",
            dump(&r)
        );
    }
    // JOIN 0 leaves every channel.
    let r = alice.ask("JOIN 0").await;
    let mut parted: Vec<&str> = all(&r, "PART").iter().map(|m| param(m, 0)).collect();
    parted.sort();
    assert_eq!(parted, ["#a", "#b", "#d"], "JOIN 0:\n{}", dump(&r));
    s.shutdown().await;
}

#[tokio::test]
async fn joining_an_invalid_channel_name_is_refused() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let long = format!("#{}", "x".repeat(60));
    // (case, line, accepted numerics)
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("no # prefix", "JOIN nochan".into(), &["403", "479"]),
        (
            "& prefix (CHANTYPES=#)",
            "JOIN &local".into(),
            &["403", "479"],
        ),
        (
            "longer than CHANNELLEN",
            format!("JOIN {long}"),
            &["403", "479"],
        ),
        ("control character", "JOIN #a\x07b".into(), &["403", "479"]),
        ("no channel at all", "JOIN".into(), &["461"]),
    ];
    for (case, line, codes) in cases {
        let r = alice.ask(&line).await;
        assert!(
            r.iter().any(|m| codes.contains(&m.command.as_str())),
            "[{case}] expected one of {codes:?}:\n{}",
            dump(&r)
        );
        must_not(case, &r, "JOIN");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn part_leaves_with_a_reason_and_errors_are_numerics() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    carol.join("#other").await;
    drain(&mut [&mut alice, &mut bob]).await;
    // (case, line from bob, expected numeric)
    let cases = [
        ("not on it", "PART #other", "442"),
        ("no such channel", "PART #nochan", "403"),
        ("no params", "PART", "461"),
    ];
    for (case, line, code) in cases {
        let r = bob.ask(line).await;
        let err = must(case, &r, code);
        assert_eq!(param(err, 0), "bob", "[{case}] {err}");
        if code != "461" {
            assert_eq!(
                param(err, 1),
                line.split(' ').nth(1).unwrap(),
                "[{case}] {err}"
            );
        }
    }
    let r = bob.ask("PART #c :gone fishing").await;
    let part = must("PART", &r, "PART");
    assert_from_user("PART", part, "bob");
    assert_eq!(part.params, ["#c", "gone fishing"]);
    let got = alice.sync().await;
    let part = must("PART seen", &got, "PART");
    assert_from_user("PART seen", part, "bob");
    assert_eq!(part.params, ["#c", "gone fishing"]);
    let r = alice.ask("NAMES #c").await;
    assert_eq!(names(&r, "#c"), ["@alice"], "bob left");
    s.shutdown().await;
}

#[tokio::test]
async fn topic_query_set_and_protection() {
    let (s, mut alice, mut bob, _carol) = three().await;
    let r = alice.ask("TOPIC #c").await;
    let none = must("no topic", &r, "331");
    assert_eq!(param(none, 1), "#c");
    must_not("no topic", &r, "332");

    let r = alice.ask("TOPIC #c :Rust, mostly").await;
    let t = must("set", &r, "TOPIC");
    assert_from_user("set", t, "alice");
    assert_eq!(t.params, ["#c", "Rust, mostly"]);
    let got = bob.sync().await;
    let t = must("set, seen by bob", &got, "TOPIC");
    assert_from_user("set, seen by bob", t, "alice");
    assert_eq!(t.params, ["#c", "Rust, mostly"]);

    for (who, c) in [("alice", &mut alice), ("bob", &mut bob)] {
        let r = c.ask("TOPIC #c").await;
        let topic = must(who, &r, "332");
        assert_eq!(topic.params, [who, "#c", "Rust, mostly"]);
        let by = must(who, &r, "333");
        assert_eq!(nick_of_mask(param(by, 2)), "alice", "{by}");
    }
    // +t (the default): bob is no op.
    let r = bob.ask("TOPIC #c :mine now").await;
    let err = must("+t", &r, "482");
    assert_eq!(param(err, 1), "#c", "{err}");
    must_not("+t", &r, "TOPIC");
    // Errors.
    let r = bob.ask("TOPIC #nochan").await;
    assert!(
        has(&r, "403") || has(&r, "442"),
        "unknown channel:\n{}",
        dump(&r)
    );
    let r = bob.ask("TOPIC").await;
    must("no params", &r, "461");
    // An empty topic clears it.
    alice.ask("TOPIC #c :").await;
    let got = bob.sync().await;
    let t = must("clear", &got, "TOPIC");
    assert_eq!(param(t, 0), "#c");
    assert_eq!(param(t, 1), "", "{t}");
    let r = bob.ask("TOPIC #c").await;
    must("cleared", &r, "331");
    s.shutdown().await;
}

#[tokio::test]
async fn names_lists_members_with_prefixes() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    let r = carol.ask("NAMES #c").await;
    let mut seen = names(&r, "#c");
    seen.sort();
    assert_eq!(seen, ["@alice", "bob"]);
    let end = must("NAMES #c", &r, "366");
    assert_eq!(param(end, 1), "#c");
    alice.ask("MODE #c +v bob").await;
    let r = bob.ask("NAMES #c").await;
    let mut seen = names(&r, "#c");
    seen.sort();
    assert_eq!(seen, ["+bob", "@alice"]);
    // (case, line, 366's channel param)
    for (case, line, ch) in [
        ("unknown channel", "NAMES #nochan", "#nochan"),
        ("no argument", "NAMES", "*"),
    ] {
        let r = carol.ask(line).await;
        let end = must(case, &r, "366");
        assert_eq!(
            r.last().unwrap().command,
            "366",
            "[{case}] ends with 366:\n{}",
            dump(&r)
        );
        assert_eq!(param(end, 0), "carol");
        if case != "no argument" {
            assert_eq!(param(end, 1), ch, "[{case}] {end}");
            must_not(case, &r, "353");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn list_shows_channels_with_counts_and_topics() {
    let (s, mut alice, _bob, mut carol) = three().await;
    alice.ask("TOPIC #c :listed topic").await;
    alice.join("#solo").await;
    for line in ["LIST", "LIST #c"] {
        let r = carol.ask(line).await;
        let end = index(&r, "323").unwrap_or_else(|| panic!("[{line}] 323:\n{}", dump(&r)));
        assert_eq!(end, r.len() - 1, "[{line}] 323 last:\n{}", dump(&r));
        if let Some(start) = index(&r, "321") {
            assert_eq!(start, 0, "[{line}] 321 first");
        }
        let c = r
            .iter()
            .find(|m| m.command == "322" && param(m, 1) == "#c")
            .unwrap_or_else(|| panic!("[{line}] 322 for #c:\n{}", dump(&r)));
        assert_eq!(c.params, ["carol", "#c", "2", "listed topic"], "[{line}]");
        let solo = r
            .iter()
            .any(|m| m.command == "322" && param(m, 1) == "#solo");
        assert_eq!(
            solo,
            line == "LIST",
            "[{line}] #solo listed only without a filter:\n{}",
            dump(&r)
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn kick_by_an_op_removes_the_member() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    let r = alice.ask("KICK #c bob :behave").await;
    let k = must("KICK", &r, "KICK");
    assert_from_user("KICK", k, "alice");
    assert_eq!(k.params, ["#c", "bob", "behave"]);
    let got = bob.sync().await;
    let k = must("KICK seen by bob", &got, "KICK");
    assert_eq!(k.params, ["#c", "bob", "behave"]);
    let r = carol.ask("NAMES #c").await;
    assert_eq!(names(&r, "#c"), ["@alice"], "bob is gone");
    // bob can no longer talk there (+n).
    let r = bob.ask("PRIVMSG #c :hey").await;
    must("kicked bob", &r, "404");
    // A kick without a reason still has one (the kicker's nick, usually).
    bob.join("#c").await;
    alice.sync().await;
    let r = alice.ask("KICK #c bob").await;
    let k = must("KICK without reason", &r, "KICK");
    assert_eq!(&k.params[..2], ["#c", "bob"]);
    s.shutdown().await;
}

#[tokio::test]
async fn kick_errors_are_numerics() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    carol.join("#other").await;
    // (case, alice sends?, line, accepted numerics)
    let cases: &[(&str, bool, &str, &[&str])] = &[
        ("by a non-op", false, "KICK #c alice", &["482"]),
        ("of a non-member", true, "KICK #c carol", &["441"]),
        (
            "of an unknown nick",
            true,
            "KICK #c nobody",
            &["401", "441"],
        ),
        ("on an unknown channel", true, "KICK #nochan bob", &["403"]),
        (
            "on a channel one is not on",
            true,
            "KICK #other carol",
            &["442", "482"],
        ),
        ("without a nick", true, "KICK #c", &["461"]),
    ];
    for (case, by_alice, line, codes) in cases {
        let c = if *by_alice { &mut alice } else { &mut bob };
        let r = c.ask(line).await;
        assert!(
            r.iter().any(|m| codes.contains(&m.command.as_str())),
            "[{case}] expected one of {codes:?}:\n{}",
            dump(&r)
        );
        must_not(case, &r, "KICK");
        if let Some(m) = find(&r, "441") {
            // 441 <client> <nick> <channel> :They aren't on that channel
            assert_eq!(
                &m.params[1..3],
                [line.split(' ').nth(2).unwrap(), "#c"],
                "[{case}] {m}"
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn invite_tells_both_and_opens_an_invite_only_channel() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    let r = alice.ask("MODE #c +i").await;
    must("+i", &r, "MODE");
    bob.sync().await;
    let r = carol.ask("JOIN #c").await;
    let err = must("+i without invite", &r, "473");
    assert_eq!(param(err, 1), "#c");
    // A non-op cannot invite to a +i channel.
    let r = bob.ask("INVITE carol #c").await;
    must("non-op INVITE to +i", &r, "482");
    let r = alice.ask("INVITE carol #c").await;
    let ok = must("INVITE", &r, "341");
    // 341 <client> <nick> <channel>
    assert_eq!(ok.params, ["alice", "carol", "#c"]);
    let got = carol.sync().await;
    let inv = must("INVITE received", &got, "INVITE");
    assert_from_user("INVITE received", inv, "alice");
    assert_eq!(inv.params, ["carol", "#c"]);
    let r = carol.join("#c").await;
    must("invited JOIN", &r, "366");
    s.shutdown().await;
}

#[tokio::test]
async fn invite_errors_are_numerics() {
    let (s, mut alice, _bob, mut carol) = three().await;
    // (case, alice sends?, line, accepted numerics)
    let cases: &[(&str, bool, &str, &[&str])] = &[
        ("unknown nick", true, "INVITE nobody #c", &["401"]),
        ("already on the channel", true, "INVITE bob #c", &["443"]),
        (
            "inviter not on the channel",
            false,
            "INVITE bob #c",
            &["442"],
        ),
        ("missing channel", true, "INVITE bob", &["461"]),
    ];
    for (case, by_alice, line, codes) in cases {
        let c = if *by_alice { &mut alice } else { &mut carol };
        let r = c.ask(line).await;
        assert!(
            r.iter().any(|m| codes.contains(&m.command.as_str())),
            "[{case}] expected one of {codes:?}:\n{}",
            dump(&r)
        );
        must_not(case, &r, "341");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn key_limit_and_ban_keep_people_out() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    let mut carol = register(s.addr, "carol").await;
    alice.join("#k").await;
    alice.join("#l").await;
    alice.join("#b").await;
    // (case, op's MODE line, echoed MODE params, JOIN lines that fail,
    // numeric, JOIN line that works or None)
    let cases: &[(&str, &str, &[&str], &[&str], &str, Option<&str>)] = &[
        (
            "+k",
            "MODE #k +k sesame",
            &["#k", "+k", "sesame"],
            &["JOIN #k", "JOIN #k wrong"],
            "475",
            Some("JOIN #k sesame"),
        ),
        (
            "+l 1",
            "MODE #l +l 1",
            &["#l", "+l", "1"],
            &["JOIN #l"],
            "471",
            None,
        ),
        (
            "+b nick mask",
            "MODE #b +b bob!*@*",
            &["#b", "+b", "bob!*@*"],
            &["JOIN #b"],
            "474",
            None,
        ),
    ];
    for (case, mode, echoed, fails, code, works) in cases {
        let r = alice.ask(mode).await;
        let m = must(case, &r, "MODE");
        assert_from_user(case, m, "alice");
        assert_eq!(m.params, *echoed, "[{case}] {m}");
        for line in *fails {
            let r = bob.ask(line).await;
            let err = must(case, &r, code);
            assert_eq!(param(err, 1), echoed[0], "[{case}] {line}: {err}");
            must_not(case, &r, "JOIN");
        }
        if let Some(line) = works {
            let r = bob.ask(line).await;
            must(case, &r, "JOIN");
        }
    }
    // The ban list.
    for line in ["MODE #b +b", "MODE #b b"] {
        let r = carol.ask(line).await;
        let entry = must(line, &r, "367");
        // 367 <client> <channel> <mask> [<who> <set-ts>]
        assert_eq!(&entry.params[..3], ["carol", "#b", "bob!*@*"], "[{line}]");
        let end = must(line, &r, "368");
        assert_eq!(param(end, 1), "#b");
        assert!(index(&r, "367") < index(&r, "368"));
    }
    // Unbanned, bob gets in; the limit lifted, so does he.
    alice.ask("MODE #b -b bob!*@*").await;
    bob.join("#b").await;
    alice.ask("MODE #l -l").await;
    bob.join("#l").await;
    s.shutdown().await;
}

#[tokio::test]
async fn moderated_channels_need_voice() {
    let (s, mut alice, mut bob, _carol) = three().await;
    let r = alice.ask("MODE #c +m").await;
    assert_eq!(must("+m", &r, "MODE").params, ["#c", "+m"]);
    bob.sync().await;
    let r = bob.ask("PRIVMSG #c :can I talk?").await;
    let err = must("+m, no voice", &r, "404");
    assert_eq!(param(err, 1), "#c");
    let got = alice.sync().await;
    must_not("+m, no voice", &got, "PRIVMSG");
    alice.ask("MODE #c +v bob").await;
    let got = bob.sync().await;
    let m = must("+v", &got, "MODE");
    assert_from_user("+v", m, "alice");
    assert_eq!(m.params, ["#c", "+v", "bob"]);
    let r = bob.ask("PRIVMSG #c :now I can").await;
    must_not("+m, voiced", &r, "404");
    let got = alice.sync().await;
    assert_eq!(last(must("+m, voiced", &got, "PRIVMSG")), "now I can");
    s.shutdown().await;
}

#[tokio::test]
async fn op_and_voice_changes_are_broadcast() {
    let (s, mut alice, mut bob, mut carol) = three().await;
    carol.join("#c").await;
    drain(&mut [&mut alice, &mut bob]).await;
    // (case, line by alice, MODE params everyone sees)
    let cases: &[(&str, &str, &[&str])] = &[
        ("+o", "MODE #c +o bob", &["#c", "+o", "bob"]),
        ("-o", "MODE #c -o bob", &["#c", "-o", "bob"]),
        ("+v", "MODE #c +v carol", &["#c", "+v", "carol"]),
        ("-v", "MODE #c -v carol", &["#c", "-v", "carol"]),
        ("+m", "MODE #c +m", &["#c", "+m"]),
        ("-m", "MODE #c -m", &["#c", "-m"]),
    ];
    for (case, line, params) in cases {
        let r = alice.ask(line).await;
        assert_eq!(must(case, &r, "MODE").params, *params, "[{case}] alice");
        for c in [&mut bob, &mut carol] {
            let got = c.sync().await;
            let m = must(case, &got, "MODE");
            assert_from_user(case, m, "alice");
            assert_eq!(m.params, *params, "[{case}] {}", c.name);
        }
    }
    // An op's powers follow +o: bob, opped, may now set the topic.
    alice.ask("MODE #c +o bob").await;
    let r = bob.ask("TOPIC #c :opped").await;
    must("opped bob sets the topic", &r, "TOPIC");
    s.shutdown().await;
}

#[tokio::test]
async fn mode_query_gives_324_and_329() {
    let (s, _alice, mut bob, mut carol) = three().await;
    for (who, c) in [("member", &mut bob), ("non-member", &mut carol)] {
        let r = c.ask("MODE #c").await;
        let modes = must(who, &r, "324");
        assert_eq!(param(modes, 1), "#c", "[{who}] {modes}");
        let flags = param(modes, 2);
        assert!(
            flags.starts_with('+') && flags.contains('n') && flags.contains('t'),
            "[{who}] default modes +nt: {modes}"
        );
        let created = must(who, &r, "329");
        assert_eq!(param(created, 1), "#c");
        assert!(
            param(created, 2).parse::<u64>().is_ok(),
            "[{who}] {created}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn mode_errors_are_numerics() {
    let (s, mut alice, mut bob, _carol) = three().await;
    // (case, alice sends?, line, accepted numerics, param 1)
    let cases: &[(&str, bool, &str, &[&str], Option<&str>)] = &[
        ("unknown mode char", true, "MODE #c +z", &["472"], Some("z")),
        (
            "non-op sets a mode",
            false,
            "MODE #c +m",
            &["482"],
            Some("#c"),
        ),
        (
            "non-op ops himself",
            false,
            "MODE #c +o bob",
            &["482"],
            Some("#c"),
        ),
        (
            "unknown channel",
            true,
            "MODE #nochan +m",
            &["403"],
            Some("#nochan"),
        ),
        (
            "op of an unknown nick",
            true,
            "MODE #c +o nobody",
            &["401", "441"],
            Some("nobody"),
        ),
    ];
    for (case, by_alice, line, codes, p1) in cases {
        let c = if *by_alice { &mut alice } else { &mut bob };
        let r = c.ask(line).await;
        let err = r
            .iter()
            .find(|m| codes.contains(&m.command.as_str()))
            .unwrap_or_else(|| panic!("[{case}] expected one of {codes:?}:\n{}", dump(&r)));
        if let Some(p1) = p1 {
            assert_eq!(param(err, 1), *p1, "[{case}] {err}");
        }
        must_not(case, &r, "MODE");
    }
    s.shutdown().await;
}
