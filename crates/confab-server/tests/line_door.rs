//! The line door driven as telnet and `nc` users drive it: real TCP
//! sockets against a real server on an ephemeral port.

mod support;

use support::{Client, TestServer, assert_stamped, start};

async fn default_server() -> TestServer {
    start(|_| {}).await
}

#[tokio::test]
async fn two_users_chat_both_ways_with_names() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.expect("*** bob joined #general").await;
    alice.say("#general", "hi bob").await;
    let line = bob.expect("#general <alice> hi bob").await;
    assert_stamped(&line);
    bob.say("#general", "hello alice").await;
    alice.expect("#general <bob> hello alice").await;
    s.shutdown().await;
}

#[tokio::test]
async fn greeting_asks_for_a_name() {
    let s = default_server().await;
    // A client that says nothing is greeted once the sniff timeout passes.
    let mut c = Client::connect(s.addr, "shy").await;
    let hello = c.expect("Welcome to confab").await;
    assert_stamped(&hello);
    c.expect("Choose a name").await;
    c.send("shy").await;
    c.expect("*** Welcome, shy! nobody else is online yet.")
        .await;
    c.expect("*** shy joined #general").await;
    c.expect("*** In #general (1): @shy").await;
    s.shutdown().await;
}

#[tokio::test]
async fn three_users_in_two_rooms_see_only_their_room() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    let mut carol = Client::login(s.addr, "carol").await;
    for c in [&mut alice, &mut bob] {
        c.send("/join #rust").await;
        c.expect(&format!("*** {} joined #rust", c.name)).await;
    }
    carol.send("/join #go").await;
    carol.expect("*** In #go (1): @carol").await;
    // Plain text goes to the last joined room.
    alice.say("#rust", "borrowck is fine").await;
    bob.expect("#rust <alice> borrowck is fine").await;
    carol.say("#go", "gophers unite").await;
    bob.say("#rust", "sentinel one").await;
    alice
        .expect_without("#rust <bob> sentinel one", "gophers")
        .await;
    // carol saw her own room's traffic and nothing of #rust.
    bob.send("/part #rust").await;
    alice.expect("*** bob left #rust").await;
    carol.say("#go", "sentinel two").await;
    let seen = carol.seen.join("\n");
    assert!(!seen.contains("borrowck"), "{seen}");
    assert!(!seen.contains("joined #rust"), "{seen}");
    // /rooms counts members.
    alice.send("/rooms").await;
    alice.expect("*** 3 rooms:").await;
    alice.expect("***   #general (3 members)").await;
    alice.expect("***   #go (1 member)").await;
    alice.expect("***   #rust (1 member)").await;
    // /msg #room reaches a room that is not the current one.
    alice.send("/msg #general all hands").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        c.expect("#general <alice> all hands").await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn private_messages_and_conversations() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    let mut carol = Client::login(s.addr, "carol").await;
    alice.send("/msg @bob psst").await;
    let echo = alice.expect("[private] alice -> bob: psst").await;
    assert_stamped(&echo);
    bob.expect("[private] alice -> bob: psst").await;
    bob.send("/msg @alice got it").await;
    alice.expect("[private] bob -> alice: got it").await;
    // /start makes the conversation the current target.
    alice.send("/start @bob").await;
    alice.expect("talking privately with bob").await;
    alice.send("just between us").await;
    bob.expect("[private] alice -> bob: just between us").await;
    alice.send("/me winks").await;
    bob.expect("[private] alice -> bob: * alice winks").await;
    alice.send("/stop").await;
    alice.expect("You are now talking in #general").await;
    alice.say("#general", "back in the room").await;
    carol
        .expect_without("#general <alice> back in the room", "[private]")
        .await;
    // A case-insensitive name finds the user.
    carol.send("/msg @BOB hey").await;
    bob.expect("[private] carol -> bob: hey").await;
    s.shutdown().await;
}

#[tokio::test]
async fn private_messages_wait_for_offline_users() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    bob.send("/quit gone fishing").await;
    bob.expect("*** Disconnected: Quit: gone fishing").await;
    bob.expect_closed().await;
    alice.expect("*** bob quit (Quit: gone fishing)").await;
    alice.send("/users").await;
    alice.expect("*** 2 users, 1 online:").await;
    alice.expect("***   alice (online)").await;
    alice.expect("***   bob (offline, last seen ").await;
    alice.send("/msg @bob are you there?").await;
    // A guest name: whoever next uses it reads the message.
    alice
        .expect("*** bob is offline and has no account: your message is kept for whoever next uses the name")
        .await;
    alice.send("/msg @bob call me").await;
    alice.expect("[private] alice -> bob: call me").await;
    // Nobody who never connected gets messages.
    alice.send("/msg @nobody hello").await;
    alice
        .expect("*** Error: there is no user called nobody")
        .await;
    let mut bob = Client::login(s.addr, "Bob").await;
    bob.expect("*** 2 private messages arrived while you were away:")
        .await;
    let first = bob.expect("alice -> bob: are you there?").await;
    assert!(first.contains("[private, sent "), "{first}");
    bob.expect("alice -> bob: call me").await;
    s.shutdown().await;
}

#[tokio::test]
async fn ignore_hides_a_user_until_unignored() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    let mut carol = Client::login(s.addr, "carol").await;
    bob.send("/ignore @alice").await;
    bob.expect("*** You are now ignoring alice").await;
    bob.send("/ignore").await;
    bob.expect("*** You are ignoring: alice").await;
    alice.say("#general", "can you hear me").await;
    alice.send("/msg @bob hello?").await;
    alice.expect("[private] alice -> bob: hello?").await;
    carol.expect("#general <alice> can you hear me").await;
    carol.say("#general", "sentinel").await;
    bob.expect_without("#general <carol> sentinel", "alice")
        .await;
    bob.send("/unignore @alice").await;
    bob.expect("*** You are no longer ignoring alice").await;
    alice.say("#general", "now?").await;
    bob.expect("#general <alice> now?").await;
    // Errors: yourself, someone not ignored, someone unknown.
    bob.send("/ignore bob").await;
    bob.expect("*** Error: you cannot ignore yourself").await;
    bob.send("/unignore @carol").await;
    bob.expect("*** Error: you are not ignoring carol").await;
    bob.send("/ignore @ghost").await;
    bob.expect("*** Error: there is no user called ghost").await;
    s.shutdown().await;
}

#[tokio::test]
async fn names_are_unique_and_validated() {
    let s = default_server().await;
    let _alice = Client::login(s.addr, "alice").await;
    let mut c = Client::connect(s.addr, "newcomer").await;
    c.send("ALICE").await;
    c.expect("*** Error: the name ALICE is taken; choose another")
        .await;
    c.expect("Choose another name").await;
    c.send("9lives").await;
    c.expect("*** Error: a name must start with a letter").await;
    c.send("two words").await;
    c.expect("*** Error: a name may not contain ' '").await;
    c.send(&"x".repeat(21)).await;
    c.expect("*** Error: a name may be at most 20 characters long")
        .await;
    c.send("/join #early").await;
    c.expect("*** Error: choose a name first").await;
    c.send("/nick alice2").await;
    c.expect("*** Welcome, alice2!").await;
    // Changing names: announced, and taken names refused.
    c.send("/nick Alice").await;
    c.expect("*** Error: the name Alice is taken").await;
    c.send("/nick carl").await;
    c.expect("*** alice2 is now known as carl").await;
    s.shutdown().await;
}

#[tokio::test]
async fn every_command_works() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.send("/join #rust").await;
    alice.expect("*** In #rust (1): @alice").await;
    bob.send("/join #rust").await;
    alice.expect("*** bob joined #rust").await;
    alice.send("/list").await;
    alice.expect("*** In #rust (2): @alice, bob").await;
    alice.send("/list #general").await;
    alice.expect("*** In #general (2): @alice, bob").await;
    alice.send("/topic").await;
    alice.expect("*** #rust has no topic").await;
    alice.send("/topic Rust, mostly").await;
    bob.expect("*** alice set the topic of #rust: Rust, mostly")
        .await;
    bob.send("/topic").await;
    bob.expect("*** Topic of #rust: Rust, mostly (set by alice on ")
        .await;
    alice.send("/me waves").await;
    bob.expect("#rust * alice waves").await;
    alice.send("//slash at the start").await;
    bob.expect("#rust <alice> /slash at the start").await;
    alice.send("/nick alicia").await;
    bob.expect("*** alice is now known as alicia").await;
    alice.name = "alicia".into();
    alice.send("/part #rust see you").await;
    bob.expect("*** alicia left #rust (see you)").await;
    alice.expect("*** You are now talking in #general").await;
    alice.send("/time").await;
    alice.expect("*** Server time: ").await;
    alice.send("/help").await;
    alice.expect("*** Type a message and press Enter").await;
    alice.send("/help msg").await;
    alice
        .expect("*** /msg [@nick|#room] TEXT: send a private message")
        .await;
    alice.send("/commands").await;
    alice.expect("/nick NAME").await;
    alice.expect("/quit [reason]").await;
    alice.send("/topic -").await;
    alice
        .expect("*** alicia cleared the topic of #general")
        .await;
    alice.send("/quit bye all").await;
    alice.expect("*** Disconnected: Quit: bye all").await;
    alice.expect_closed().await;
    bob.expect("*** alicia quit (Quit: bye all)").await;
    s.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_one_clear_error_and_changes_nothing() {
    let s = start(|c| c.limits.max_line_bytes = 2048).await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.expect("*** bob joined #general").await;
    let cases: &[(&[u8], &str)] = &[
        (
            b"/dance\r\n",
            "*** Error: unknown command /dance; /commands lists them all",
        ),
        (b"/join\r\n", "*** Error: usage: /join #room"),
        (b"/msg @\r\n", "*** Error: usage: /msg"),
        (
            b"/msg @ghost boo\r\n",
            "*** Error: there is no user called ghost",
        ),
        (
            b"/part #nowhere\r\n",
            "*** Error: there is no room called #nowhere",
        ),
        (b"/join #bad,room\r\n", "*** Error: room names start with #"),
        (
            b"caf\xc3\x28\r\n",
            "*** Error: that line was not valid UTF-8 and was dropped",
        ),
        (
            b"ring \x07 bell\r\n",
            "*** Error: the message contains a control character (U+0007)",
        ),
    ];
    for (input, error) in cases {
        alice.send_raw(input).await;
        let (before, _) = alice.expect_skipping(error).await;
        assert!(before.is_empty(), "{input:?}: extra lines {before:?}");
    }
    let long = format!("{}\r\n", "y".repeat(5000));
    alice.send_raw(long.as_bytes()).await;
    alice
        .expect("*** Error: that line was longer than 2048 bytes and was dropped")
        .await;
    // Telnet negotiation is dropped silently; the text around it stays.
    alice
        .send_raw(b"\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0still here\r\n")
        .await;
    alice.expect("#general <alice> still here").await;
    // Nothing reached bob but the one real message.
    bob.expect("#general <alice> still here").await;
    let noise: Vec<_> = bob
        .seen
        .iter()
        .filter(|l| l.contains("Error") || l.contains("yyy"))
        .collect();
    assert!(noise.is_empty(), "{noise:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_names_itself_is_dropped() {
    let s = start(|c| c.limits.login_timeout_ms = 300).await;
    let mut c = Client::connect(s.addr, "silent").await;
    c.expect("Choose a name").await;
    c.expect("*** Error: no name chosen within 0.3 seconds; goodbye")
        .await;
    c.expect_closed().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_room_carries_on() {
    // The queue must hold a burst: the hub hands out up to a batch of
    // requests before the writers run.
    let s = start(|c| c.limits.send_queue = 200).await;
    // The slow client shrinks its receive buffer so its backlog builds up
    // in the server's queue quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(s.addr).await.unwrap();
    let mut slow = Client::over(stream, "slow");
    slow.send("slow").await;
    slow.expect("*** Welcome, slow!").await;
    // From here on, `slow` never reads.
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    let body = "z".repeat(900);
    let quit = "*** slow quit (SendQ exceeded)";
    let mut sent = 0;
    let (mut alice_saw_quit, mut bob_saw_quit) = (false, false);
    // Bounded: at most 20 000 messages (about 18 MB).
    while sent < 20_000 && !(alice_saw_quit && bob_saw_quit) {
        let batch: String = (sent..sent + 50)
            .map(|i| format!("{i} {body}\r\n"))
            .collect();
        alice.send_raw(batch.as_bytes()).await;
        // Each of alice's messages reaches bob promptly, in order.
        for i in sent..sent + 50 {
            let (before, _) = bob.expect_skipping(&format!("<alice> {i} z")).await;
            bob_saw_quit |= before.iter().any(|l| l.contains(quit));
        }
        sent += 50;
        // Alice reads her echoes (and, eventually, the news).
        let (before, _) = alice
            .expect_skipping(&format!("<alice> {} z", sent - 1))
            .await;
        alice_saw_quit |= before.iter().any(|l| l.contains(quit));
        alice.seen.clear();
        bob.seen.clear();
    }
    assert!(
        alice_saw_quit && bob_saw_quit,
        "slow client still connected after {sent} messages"
    );
    eprintln!("the slow client was dropped after {sent} messages");
    bob.say("#general", "still here").await;
    alice.expect("#general <bob> still here").await;
    drop(slow);
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_everyone_and_flushes() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut unnamed = Client::connect(s.addr, "unnamed").await;
    unnamed.expect("Choose a name").await;
    alice.say("#general", "last words").await;
    s.shutdown().await;
    alice
        .expect("*** Disconnected: the server is shutting down")
        .await;
    alice.expect_closed().await;
    unnamed
        .expect("*** Disconnected: the server is shutting down")
        .await;
    unnamed.expect_closed().await;
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let s = start(|c| c.limits.max_connections_per_ip = 2).await;
    let mut a = Client::login(s.addr, "a").await;
    let _b = Client::login(s.addr, "b").await;
    let mut c = Client::connect(s.addr, "c").await;
    c.expect("*** Error: too many connections from your address; try again later")
        .await;
    c.expect_closed().await;
    a.send("/quit").await;
    a.expect_closed().await;
    // The slot frees once the server has finished with the first
    // connection.
    support::login_once_admitted(s.addr, "d").await;
    s.shutdown().await;
}

#[tokio::test]
async fn half_closed_client_still_gets_its_answers() {
    // `printf 'alice\n/users\n' | nc host port` closes its sending side at
    // once; the answers must still arrive.
    let s = default_server().await;
    let mut c = Client::connect(s.addr, "alice").await;
    c.send_raw(b"alice\r\n").await;
    c.expect("*** Welcome, alice!").await;
    c.send_raw(b"/users\r\n").await;
    c.expect("*** 1 user, 1 online:").await;
    c.shutdown_write().await;
    let rest = c.expect_closed().await;
    assert!(rest.iter().all(|l| !l.contains("Error")), "{rest:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_script_sent_at_once_is_answered_in_full() {
    // `printf 'bob\n/join #x\n/users' | nc`: every line arrives (with
    // the end of input) before the name is even answered. The lines after
    // the name wait for it, and the end of input waits for them; the last
    // line needs no line end.
    let s = default_server().await;
    let mut c = Client::connect(s.addr, "bob").await;
    c.send_raw(b"bob\r\n/join #x\r\n/users").await;
    c.shutdown_write().await;
    let rest = c.expect_closed().await;
    let at = |needle: &str| {
        rest.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {rest:?}"))
    };
    assert!(at("*** Welcome, bob!") < at("*** In #x"), "{rest:?}");
    assert!(at("*** In #x") < at("*** 1 user, 1 online:"), "{rest:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn away_and_whois_from_the_line_door() {
    let s = default_server().await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    alice.expect("*** bob joined #general").await;
    alice.send("/away lunch").await;
    alice.expect("*** alice is away: lunch").await;
    bob.expect("*** alice is away: lunch").await;
    bob.send("/msg @alice are you there?").await;
    bob.expect("[private] bob -> alice: are you there?").await;
    bob.expect("*** alice is away: lunch").await;
    bob.send("/whois @alice").await;
    bob.expect("*** alice (alice), online since").await;
    bob.expect("***   away: lunch").await;
    bob.expect("***   in @#general").await;
    bob.send("/whois @nobody").await;
    bob.expect("*** nobody is not online").await;
    alice.send("/away").await;
    bob.expect("*** alice is back").await;
    s.shutdown().await;
}
