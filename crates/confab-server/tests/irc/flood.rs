//! Flood control: fake lag delays a fast client but never drops or
//! reorders its commands; exempt addresses skip it; a client that stops
//! reading is dropped with "SendQ exceeded" while the room carries on.

use crate::client::*;
use crate::support::start;

/// Sends `n` PINGs in one write and checks that all come back, in order.
async fn blast_pings(c: &mut Irc, n: usize) {
    let burst: String = (0..n).map(|i| format!("PING :flood-{i}\r\n")).collect();
    c.send_raw(burst.as_bytes()).await;
    for i in 0..n {
        let token = format!("flood-{i}");
        let (before, pong) = c
            .expect_msg(&format!("PONG {token}"), |m| m.command == "PONG")
            .await;
        assert!(
            !before.iter().any(|m| m.command == "ERROR"),
            "disconnected while flooding:\n{}",
            dump(&before)
        );
        assert_eq!(last(&pong), token, "PONG {i} out of order: {pong}");
    }
}

#[tokio::test]
async fn fake_lag_delays_but_never_drops_or_reorders() {
    // (case, rate_per_sec, burst, exempt)
    let cases: &[(&str, f64, u32, &[&str])] = &[
        ("tiny burst", 60.0, 2, &[]),
        ("burst of one", 100.0, 1, &[]),
        // At 1 command a second, 30 PINGs would take 29 s: the deadline
        // (10 s) fails the test unless the exemption works.
        ("exempt address", 1.0, 1, &["127.0.0.1"]),
        ("exempt block", 1.0, 1, &["127.0.0.0/8"]),
    ];
    for (case, rate, burst, exempt) in cases {
        let s = start(|c| {
            c.limits.rate_per_sec = *rate;
            c.limits.rate_burst = *burst;
            c.limits.flood_exempt = exempt.iter().map(|e| (*e).to_owned()).collect();
        })
        .await;
        let mut c = register(s.addr, "flooder").await;
        eprintln!("[{case}]");
        blast_pings(&mut c, 30).await;
        // Still connected and answering.
        let r = c.ask("PING :after").await;
        must_not(case, &r, "ERROR");
        s.shutdown().await;
    }
}

#[tokio::test]
async fn a_message_flood_is_delivered_in_full_and_in_order() {
    let s = start(|c| {
        c.limits.rate_per_sec = 100.0;
        c.limits.rate_burst = 2;
    })
    .await;
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#f").await;
    bob.join("#f").await;
    let burst: String = (0..30)
        .map(|i| format!("PRIVMSG #f :msg {i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    for i in 0..30 {
        let m = bob.expect("PRIVMSG").await;
        assert_eq!(last(&m), format!("msg {i}"), "in order, none dropped");
    }
    let r = alice.sync().await;
    must_not("flooder", &r, "ERROR");
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_with_sendq_exceeded() {
    // The queue must hold a burst: the hub hands out up to a batch of
    // requests before the writers run.
    let s = start(|c| c.limits.send_queue = 200).await;
    // The slow client shrinks its receive buffer so that its backlog
    // builds up in the server's queue quickly.
    let mut slow = connect_small_buffer(s.addr, "slow").await;
    slow.send("NICK slow").await;
    slow.send("USER u 0 * :Real Name").await;
    slow.finish_registration().await;
    slow.join("#q").await;
    // From here on, `slow` never reads.
    let mut alice = register(s.addr, "alice").await;
    let mut bob = register(s.addr, "bob").await;
    alice.join("#q").await;
    bob.join("#q").await;
    alice.sync().await;
    let body = "z".repeat(440);
    let is_quit = |m: &Message| {
        m.command == "QUIT" && nick_of(m) == "slow" && last(m).contains("SendQ exceeded")
    };
    let mut sent = 0;
    let (mut alice_saw, mut bob_saw) = (false, false);
    // Bounded: at most 20 000 messages (about 9 MB).
    while sent < 20_000 && !(alice_saw && bob_saw) {
        let batch: String = (sent..sent + 50)
            .map(|i| format!("PRIVMSG #q :{i} {body}\r\n"))
            .collect();
        alice.send_raw(batch.as_bytes()).await;
        // Each of alice's messages reaches bob, in order.
        for i in sent..sent + 50 {
            let want = format!("{i} z");
            let (before, _) = bob
                .expect_msg(&want, |m| {
                    m.command == "PRIVMSG" && last(m).starts_with(&want)
                })
                .await;
            bob_saw |= before.iter().any(is_quit);
        }
        sent += 50;
        alice_saw |= alice.sync().await.iter().any(is_quit);
        alice.forget();
        bob.forget();
    }
    assert!(
        alice_saw && bob_saw,
        "the slow client was still connected after {sent} messages"
    );
    // The room carries on.
    bob.ask("PRIVMSG #q :still here").await;
    let got = alice.sync().await;
    assert_eq!(last(must("after", &got, "PRIVMSG")), "still here");
    let r = alice.ask("NAMES #q").await;
    assert!(
        !last(must("NAMES", &r, "353")).contains("slow"),
        "{}",
        dump(&r)
    );
    drop(slow);
    s.shutdown().await;
}
