//! Flood control, the same on every door: over the limit a door paces its
//! client (reads nothing until the next command is due) and drops
//! nothing; REST answers 429 with `Retry-After`; only many connections
//! flooding as one address are disconnected; `flood_exempt` lifts it all.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::post;
use crate::support::{Client, start};
use crate::ws_client;

/// Every line of `c` from `<who> prefix N`, as the Ns in order.
fn numbered(c: &Client, who: &str, prefix: &str) -> Vec<usize> {
    let needle = format!("<{who}> {prefix} ");
    c.seen
        .iter()
        .filter_map(|l| l.split_once(&needle))
        .map(|(_, n)| n.trim().parse().expect("a number"))
        .collect()
}

#[tokio::test]
async fn a_telnet_paste_of_200_lines_reaches_the_room_whole_in_order_and_paced() {
    let (rate, burst, lines) = (100.0, 10, 200);
    let s = start(|c| {
        c.limits.rate_per_sec = rate;
        c.limits.rate_burst = burst;
    })
    .await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut paster = Client::login(s.addr, "paster").await;
    // A wait: the bursts of the two logins above refill.
    paster.say("#general", "ready").await;

    let paste: String = (0..lines).map(|i| format!("line {i}\r\n")).collect();
    let started = Instant::now();
    paster.send_raw(paste.as_bytes()).await;
    alice.expect(&format!("<paster> line {}", lines - 1)).await;
    let took = started.elapsed();

    assert_eq!(
        numbered(&alice, "paster", "line"),
        (0..lines).collect::<Vec<_>>(),
        "every pasted line, once, in order"
    );
    // Still connected, and told of no error.
    paster.say("#general", "still here").await;
    assert!(
        !paster.seen.iter().any(|l| l.contains("Error")),
        "{:#?}",
        paster.seen
    );
    // The limit held: past the burst, the lines came no faster than the rate.
    let floor = Duration::from_secs_f64(f64::from(lines as u32 - burst) / rate * 0.9);
    assert!(took >= floor, "{lines} lines in {took:?}: not paced");
    s.shutdown().await;
}

#[tokio::test]
async fn a_websocket_burst_is_paced_and_every_send_acknowledged() {
    let s = start(|c| {
        c.limits.rate_per_sec = 100.0;
        c.limits.rate_burst = 5;
    })
    .await;
    let mut watcher = Client::login(s.addr, "watcher").await;
    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    web.ok(json!({"type": "join", "room": "#general"})).await;

    let n = 60;
    for i in 0..n {
        let id = format!("s{i}");
        web.send(json!({"type": "send", "id": id, "to": "#general", "text": format!("burst {i}")}))
            .await;
    }
    let mut acked = 0;
    while acked < n {
        let (_, answer) = web
            .expect_where("an answer", |m| m["type"] == "ack" || m["type"] == "error")
            .await;
        assert_eq!(answer["type"], "ack", "refused: {answer}");
        assert_eq!(answer["re"], json!(format!("s{acked}")), "in order");
        acked += 1;
    }
    watcher.expect(&format!("<webby> burst {}", n - 1)).await;
    assert_eq!(
        numbered(&watcher, "webby", "burst"),
        (0..n).collect::<Vec<_>>()
    );
    s.shutdown().await;
}

#[tokio::test]
async fn rest_over_the_limit_is_429_with_retry_after_and_loses_nothing_accepted() {
    const PW: &str = "correct-horse";
    let s = start(|c| {
        c.limits.rate_per_sec = 2.0;
        c.limits.rate_burst = 8;
    })
    .await;
    let mut bob = Client::login(s.addr, "bob").await;
    let mut alice = Client::login(s.addr, "alice").await;
    alice.send(&format!("/register {PW}")).await;
    alice.expect("is now registered to you").await;
    let r = post(s.addr, "/api/v1/login")
        .json(&json!({"name": "alice", "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();

    // The attack: as many private messages as the API takes, at once.
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for i in 0..40 {
        let r = post(s.addr, "/api/v1/users/bob/messages")
            .bearer(&token)
            .json(&json!({"text": format!("pm {i}")}))
            .send()
            .await;
        match r.status {
            201 => accepted.push(i),
            429 => {
                assert_eq!(
                    r.json()["error"]["code"],
                    "too_many_requests",
                    "{}",
                    r.text()
                );
                let wait: u64 = r
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&wait), "Retry-After: {wait}");
                refused += 1;
            }
            other => panic!("{other}: {}", r.text()),
        }
    }
    assert!(refused > 0, "no 429 in 40 sends");
    assert!(accepted.len() >= 8 && accepted.len() < 40, "{accepted:?}");

    // Everything accepted reached bob; nothing refused did.
    let last = accepted.last().unwrap();
    bob.expect(&format!("pm {last}")).await;
    let got: Vec<usize> = bob
        .seen
        .iter()
        .filter_map(|l| l.rsplit_once("pm ").map(|(_, n)| n.parse().unwrap()))
        .collect();
    assert_eq!(got, accepted);

    // After the wait it asked for, the API takes messages again.
    let r = post(s.addr, "/api/v1/users/bob/messages")
        .bearer(&token)
        .json(&json!({"text": "later"}))
        .send()
        .await;
    let wait = match r.status {
        201 => 0,
        _ => r.header("retry-after").unwrap().parse().unwrap(),
    };
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let r = post(s.addr, "/api/v1/users/bob/messages")
        .bearer(&token)
        .json(&json!({"text": "after waiting"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    bob.expect("after waiting").await;
    s.shutdown().await;
}

#[tokio::test]
async fn many_connections_flooding_from_one_address_are_disconnected() {
    let s = start(|c| {
        c.limits.rate_per_sec = 5.0;
        c.limits.rate_burst = 2;
        c.limits.flood_max_wait_ms = 400;
    })
    .await;
    // Each connection paces itself; together they queue behind one
    // address's bucket until some would wait past the limit.
    let mut floods = Vec::new();
    for i in 0..6 {
        let mut c = Client::connect(s.addr, &format!("f{i}")).await;
        c.expect("Choose a name").await;
        floods.push(c);
    }
    let spam: String = (0..20).map(|i| format!("spam {i}\r\n")).collect();
    for c in &mut floods {
        c.send_raw(format!("f{}\r\n{spam}", c.name.trim_start_matches('f')).as_bytes())
            .await;
    }
    // Each is either disconnected for it or still being paced.
    let mut watching = tokio::task::JoinSet::new();
    for mut c in floods {
        watching.spawn(async move {
            let told = async {
                while let Some(l) = c.next_line().await {
                    if l.contains("*** Disconnected: Excess flood") {
                        return true;
                    }
                }
                false
            };
            tokio::time::timeout(Duration::from_secs(5), told)
                .await
                .unwrap_or(false)
        });
    }
    let mut told = false;
    while let Some(one) = watching.join_next().await {
        if one.expect("watcher") {
            told = true;
            break;
        }
    }
    watching.abort_all();
    assert!(told, "nobody was disconnected for Excess flood");
    s.shutdown().await;
}

#[tokio::test]
async fn flood_exempt_addresses_are_never_paced() {
    let s = start(|c| {
        c.limits.rate_per_sec = 0.5;
        c.limits.rate_burst = 1;
        c.limits.flood_exempt = vec!["127.0.0.0/8".to_owned()];
    })
    .await;
    let mut alice = Client::login(s.addr, "alice").await;
    let mut bot = Client::login(s.addr, "bot").await;
    let lines = 50;
    let paste: String = (0..lines).map(|i| format!("fast {i}\r\n")).collect();
    bot.send_raw(paste.as_bytes()).await;
    // At 0.5 a second this would take 100 s, far past the client's
    // deadline; exempt, it is there at once.
    alice.expect(&format!("<bot> fast {}", lines - 1)).await;
    assert_eq!(
        numbered(&alice, "bot", "fast"),
        (0..lines).collect::<Vec<_>>()
    );
    s.shutdown().await;
}
