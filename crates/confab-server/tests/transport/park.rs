//! Idle connections park (`confab_server::park`): a plain TCP connection
//! quiet a while leaves its task, and wakes as it was for its client's
//! next line, its next delivery, its timer, its client's close, a kill,
//! and the server's shutdown, on the IRC and line doors alike.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{DEADLINE, Lines, Srv, start};

/// Waits until `n` of the server's connections are parked.
async fn parked(s: &Srv, n: usize) {
    let end = Instant::now() + DEADLINE;
    while s.parked.get() != n {
        assert!(
            Instant::now() < end,
            "{} connections parked, not {n}",
            s.parked.get()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn irc(s: &Srv, nick: &str, room: &str) -> Lines<TcpStream> {
    let mut c = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), nick);
    c.register(nick).await;
    c.send(&format!("JOIN {room}")).await;
    c.expect(&format!(" 366 {nick} {room} ")).await;
    c
}

async fn line(s: &Srv, name: &str, room: &str) -> Lines<TcpStream> {
    let mut c = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), name);
    c.login(name).await;
    c.send(&format!("/join {room}")).await;
    c.expect(&format!("*** In {room} ")).await;
    c
}

#[tokio::test]
async fn parked_connections_wake_for_lines_deliveries_closes_and_shutdown() {
    let s = start(|_, _| {}).await;
    let mut alice = irc(&s, "alice", "#nap").await;
    let mut bob = irc(&s, "bob", "#nap").await;
    let mut carol = line(&s, "carol", "#nap").await;
    alice.expect(" JOIN #nap").await;
    parked(&s, 3).await;

    // A parked IRC client's line wakes it; the others wake to hear it.
    bob.send("PRIVMSG #nap :hello sleepers").await;
    alice.expect(":bob!").await;
    assert!(
        alice
            .seen
            .last()
            .unwrap()
            .ends_with("PRIVMSG #nap :hello sleepers")
    );
    carol.expect("#nap <bob> hello sleepers").await;
    parked(&s, 3).await;

    // A parked line client's line.
    carol.send("still here").await;
    alice.expect("PRIVMSG #nap :still here").await;
    bob.expect("PRIVMSG #nap :still here").await;
    carol.expect("#nap <carol> still here").await;
    parked(&s, 3).await;

    // A client gone while parked: the hub hears it, the others are told.
    drop(alice);
    bob.expect(":alice!").await;
    assert!(bob.seen.last().unwrap().contains(" QUIT "));
    carol.expect("*** alice quit").await;
    parked(&s, 2).await;

    // The server stops with its connections parked: each hears why, and
    // the stop does not wait out its grace.
    let stopping = Instant::now();
    s.shutdown().await;
    assert!(stopping.elapsed() < Duration::from_secs(1));
    bob.expect("ERROR :").await;
    bob.expect_closed().await;
    carol.expect_closed().await;
}

#[tokio::test]
async fn a_parked_irc_connection_is_pinged_and_times_out() {
    // (The timeout longer than the quiet spell after which a connection
    // that was heard parks again, a second or two.)
    let s = start(|c, _| {
        c.irc.ping_interval_ms = 300;
        c.irc.ping_timeout_ms = 3_000;
    })
    .await;
    let mut dave = Lines::new(TcpStream::connect(s.addr()).await.unwrap(), "dave");
    dave.register("dave").await;
    parked(&s, 1).await;
    // Its timer wakes it to ping; the PONG is heard.
    let ping = dave.expect("PING").await;
    let token = ping.rsplit(' ').next().unwrap().to_owned();
    dave.send(&format!("PONG {token}")).await;
    // The next ping goes unanswered; it parks waiting for the answer,
    // and its timer wakes it to time it out.
    dave.expect("PING").await;
    parked(&s, 1).await;
    dave.expect("ERROR :Closing Link").await;
    assert!(dave.seen.last().unwrap().contains("Ping timeout"));
    dave.expect_closed().await;
    parked(&s, 0).await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_parked_connection_is_killed_at_once() {
    let s = start(|c, _| {
        c.opers = vec![confab_server::config::OperConfig {
            name: "root".to_owned(),
            password_hash: confab_server::auth::hash("sesame"),
        }];
    })
    .await;
    let mut erin = irc(&s, "erin", "#nap").await;
    let mut frank = line(&s, "frank", "#nap").await;
    let mut op = irc(&s, "op", "#nap").await;
    op.send("OPER root sesame").await;
    op.expect(" 381 op ").await;
    parked(&s, 3).await;
    op.send("KILL erin :enough").await;
    erin.expect("ERROR :Closing Link").await;
    erin.expect_closed().await;
    op.send("KILL frank :enough").await;
    frank.expect_closed().await;
    op.expect(":frank!").await;
    s.shutdown().await;
}

/// The next text message of `ws` that contains `needle`.
async fn ws_expect(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>, needle: &str) -> String {
    use futures_util::StreamExt;
    let end = Instant::now() + DEADLINE;
    loop {
        let next = tokio::time::timeout_at(end, ws.next()).await;
        match next {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                if t.contains(needle) {
                    return t.to_string();
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no message with {needle:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_parked_websocket_wakes_for_its_messages_and_the_shutdown() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    let s = start(|_, _| {}).await;
    let mut alice = irc(&s, "alice", "#nap").await;
    let tcp = TcpStream::connect(s.addr()).await.unwrap();
    let url = format!("ws://{}/ws", s.addr());
    let (mut wes, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let hello = r#"{"type":"hello","v":1,"name":"wes","auto_join":false}"#;
    wes.send(WsMessage::text(hello)).await.unwrap();
    ws_expect(&mut wes, r#""type":"welcome""#).await;
    let join = r##"{"type":"join","room":"#nap","id":7}"##;
    wes.send(WsMessage::text(join)).await.unwrap();
    ws_expect(&mut wes, r#""type":"ack","re":7"#).await;
    alice.expect(":wes!").await;
    parked(&s, 2).await;

    // A delivery wakes it.
    alice.send("PRIVMSG #nap :hello wes").await;
    ws_expect(&mut wes, "hello wes").await;
    parked(&s, 2).await;

    // So does its client's message.
    let send = r##"{"type":"send","to":"#nap","text":"from the web"}"##;
    wes.send(WsMessage::text(send)).await.unwrap();
    alice.expect("PRIVMSG #nap :from the web").await;
    parked(&s, 2).await;

    // And the server's stop: it is told, and closed.
    s.shutdown().await;
    let end = Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(end, wes.next()).await {
            Ok(Some(Ok(WsMessage::Close(_))) | None | Some(Err(_))) => break,
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the WebSocket was not closed"),
        }
    }
}
