//! Accounts, history, search and state that outlives the server, driven
//! over real sockets against a real server on real SQLite files.

mod support;

use support::{Client, start, start_in};

const PW: &str = "correct-horse";

/// Connects and logs in to a registered account.
async fn login(addr: std::net::SocketAddr, name: &str, password: &str) -> Client {
    let mut c = Client::connect(addr, name).await;
    c.send(&format!("/login {name} {password}")).await;
    c.expect(&format!("*** Welcome, {name}!")).await;
    c
}

/// Logs in as a guest and registers the name.
async fn register(addr: std::net::SocketAddr, name: &str) -> Client {
    let mut c = Client::login(addr, name).await;
    c.send(&format!("/register {PW}")).await;
    c.expect(&format!("*** The name {name} is now registered to you"))
        .await;
    c
}

#[tokio::test]
async fn one_account_on_several_devices() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut phone = login(s.addr, "alice", PW).await;
    // The second device is in the same rooms at once.
    phone.expect("*** alice joined #general").await;
    phone.expect("*** In #general (1): @alice").await;
    let mut bob = Client::login(s.addr, "bob").await;
    bob.say("#general", "hi alice").await;
    alice.expect("#general <bob> hi alice").await;
    phone.expect("#general <bob> hi alice").await;
    bob.send("/msg @alice psst").await;
    alice.expect("[private] bob -> alice: psst").await;
    phone.expect("[private] bob -> alice: psst").await;
    // What one device sends, the other sees too.
    phone.send("/msg @bob from my phone").await;
    bob.expect("[private] alice -> bob: from my phone").await;
    alice.expect("[private] alice -> bob: from my phone").await;
    phone.send("/join #rust").await;
    alice.expect("*** alice joined #rust").await;
    // One device leaving is not the user leaving.
    phone.send("/quit").await;
    phone.expect_closed().await;
    alice.say("#general", "still here").await;
    let seen = bob.expect("#general <alice> still here").await;
    assert!(!bob.seen.iter().any(|l| l.contains("alice quit")), "{seen}");
    s.shutdown().await;
}

#[tokio::test]
async fn registered_names_are_protected() {
    let s = start(|_| {}).await;
    let alice = register(s.addr, "alice").await;
    drop(alice);
    let mut guest = Client::connect(s.addr, "guest").await;
    guest.send("Alice").await;
    guest
        .expect("*** Error: the name Alice is registered; log in with /login Alice PASSWORD")
        .await;
    guest.send("/login alice wrong-password").await;
    guest.expect("*** Error: wrong name or password").await;
    guest.send("/login nobody whatever-pw").await;
    guest.expect("*** Error: wrong name or password").await;
    guest.send("mallory").await;
    guest.expect("*** Welcome, mallory!").await;
    guest.send("/nick ALICE").await;
    guest
        .expect("*** Error: the name ALICE is registered")
        .await;
    guest.send("/register short").await;
    guest
        .expect("*** Error: a password needs at least 8 characters")
        .await;
    // A guest may log in later, as NickServ IDENTIFY allows on IRC: the
    // guest quits and the account arrives, whatever name it had taken.
    guest.send("/nick erin").await;
    guest.expect("*** mallory is now known as erin").await;
    guest.send("/login alice correct-horse").await;
    guest.expect("*** Welcome, alice!").await;
    // Logged in: another /login says so, by the account's name.
    guest.send("/login alice correct-horse").await;
    guest
        .expect("*** Error: you are already logged in to the account alice")
        .await;
    // The owner still gets in, and cannot be renamed.
    let mut alice = login(s.addr, "alice", PW).await;
    alice.send("/nick alicia").await;
    alice
        .expect("*** Error: you are logged in to the account alice, whose name cannot change")
        .await;
    alice.send(&format!("/register {PW}")).await;
    alice
        .expect("*** Error: you are already registered as alice")
        .await;
    s.shutdown().await;
}

#[tokio::test]
async fn guests_can_be_turned_off() {
    let s = start(|c| c.accounts.allow_guests = false).await;
    let mut c = Client::connect(s.addr, "guest").await;
    c.send("someone").await;
    c.expect("*** Error: this server is for registered users only")
        .await;
    s.shutdown().await;
}

#[tokio::test]
async fn joining_shows_history_and_history_shows_more() {
    let s = start(|c| c.chat.history_on_join = 3).await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.send("/join #rust").await;
    alice.expect("*** In #rust (1): @alice").await;
    for i in 1..=5 {
        alice.say("#rust", &format!("note {i}")).await;
    }
    let mut bob = Client::login(s.addr, "bob").await;
    bob.send("/join #rust").await;
    bob.expect("*** In #rust (2): @alice, bob").await;
    bob.expect("*** 3 earlier messages with #rust:").await;
    let (_, first) = bob.expect_skipping("note 3").await;
    assert!(first.contains("(history) ["), "{first}");
    assert!(first.ends_with("#rust <alice> note 3"), "{first}");
    bob.expect("note 5").await;
    bob.expect("*** End of history").await;
    bob.send("/history 10").await;
    bob.expect("*** 5 earlier messages with #rust:").await;
    bob.expect("#rust <alice> note 1").await;
    bob.expect("#rust <alice> note 5").await;
    bob.send("/history 0").await;
    bob.expect("*** Error: usage: /history [N]").await;
    // Guests have no private history.
    bob.send("/start @alice").await;
    bob.send("/history").await;
    bob.expect("*** Error: private history and search are for registered users")
        .await;
    s.shutdown().await;
}

#[tokio::test]
async fn search_finds_only_what_the_user_may_see() {
    let s = start(|_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    let mut carol = Client::login(s.addr, "carol").await;
    for c in [&mut alice, &mut bob] {
        c.send("/join #secret").await;
        c.expect(&format!("*** {} joined #secret", c.name)).await;
    }
    alice.say("#secret", "the banana plan").await;
    alice.send("/msg #general banana bread for all").await;
    alice.expect("#general <alice> banana bread for all").await;
    alice.send("/msg @bob banana between us").await;
    bob.expect("[private] alice -> bob: banana between us")
        .await;
    carol.expect("#general <alice> banana bread for all").await;
    // carol: the public room only.
    carol.send("/search banana").await;
    carol.expect("*** 1 message matches \"banana\":").await;
    carol.expect("(found) [").await;
    carol.say("#general", "sentinel").await;
    assert!(
        !carol
            .seen
            .iter()
            .any(|l| l.contains("plan") || l.contains("between"))
    );
    // bob: the room, the secret room, and his private messages.
    bob.send("/search BANANA").await;
    bob.expect("*** 3 messages match \"BANANA\":").await;
    // Words are words, not query syntax.
    bob.send("/search \"banana* OR (").await;
    bob.expect("messages match").await;
    bob.send("/search bread banana").await;
    bob.expect("*** 1 message matches \"bread banana\":").await;
    bob.expect("(found) [").await;
    bob.expect("*** End of search results").await;
    // No hits says so, rather than a count of 0 and nothing after.
    bob.send("/search kumquat").await;
    bob.expect("*** No messages match \"kumquat\"").await;
    s.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = start_in(&data, |_| {}).await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.send("/join #rust").await;
    alice.expect("*** In #rust (1): @alice").await;
    alice.send("/topic crabs only").await;
    alice
        .expect("*** alice set the topic of #rust: crabs only")
        .await;
    alice.send("/ignore @carl").await;
    alice
        .expect("*** Error: there is no user called carl")
        .await;
    let mut carl = Client::login(s.addr, "carl").await;
    alice.send("/ignore @carl").await;
    alice.expect("*** You are now ignoring carl").await;
    alice.say("#rust", "before the restart").await;
    alice.send("/quit").await;
    alice.expect_closed().await;
    bob.send("/msg @alice while you were out").await;
    bob.expect("alice is offline").await;
    carl.send("/msg @alice you will not see this").await;
    carl.expect("alice is offline").await;
    s.shutdown().await;

    let s = start_in(&data, |_| {}).await;
    let mut alice = login(s.addr, "alice", PW).await;
    alice
        .expect("*** 1 private message arrived while you were away:")
        .await;
    alice.expect("bob -> alice: while you were out").await;
    // Back in her rooms, with the topic and the history.
    alice.expect("*** alice joined #rust").await;
    alice
        .expect("*** Topic of #rust: crabs only (set by alice")
        .await;
    alice.expect("#rust <alice> before the restart").await;
    alice.send("/ignore").await;
    let line = alice.expect("*** You are ignoring: ").await;
    assert!(line.ends_with("carl"), "{line}");
    assert!(!alice.seen.iter().any(|l| l.contains("will not see")));
    // Nothing is delivered twice.
    drop(alice);
    let mut alice = login(s.addr, "alice", PW).await;
    alice.send("/users").await;
    let (before, _) = alice.expect_skipping("***   alice (online)").await;
    assert!(
        !before.iter().any(|l| l.contains("while you were away")),
        "{before:?}"
    );
    // Everyone registered is known, with when they were last seen.
    alice.expect("***   bob (offline, last seen ").await;
    s.shutdown().await;
}
