//! Expensive reads against everyone else's latency: one client spams
//! `resume after 0` and full-text searches over a room with history while
//! another measures its ping round trip. The figures are reported (run
//! with `--nocapture`), not asserted as times: every read is bounded (a
//! page of `chat.max_history`), paced by the flood limit (lifted here to
//! show the worst case), and run on the read pool, not the hub thread.
//! Measured on the 2-core machine, debug build, 2,000 messages: another
//! client's ping p99 was about 240 ms with reads on the hub thread, and
//! 16–48 ms (p50 unchanged, 0.3 ms) with the pool.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::start;
use crate::ws_client::{Ws, guest};

/// Round trips of `n` JSON pings, sorted.
async fn pings(ws: &mut Ws, n: usize) -> Vec<Duration> {
    let mut rtts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ws.sync().await;
        rtts.push(t.elapsed());
    }
    rtts.sort();
    rtts
}

fn show(what: &str, rtts: &[Duration]) {
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{what}: ping p50 {:?}, p99 {:?}, max {:?} ({} pings)",
        at(0.5),
        at(0.99),
        rtts[rtts.len() - 1],
        rtts.len()
    );
}

#[tokio::test]
async fn a_client_hammering_resume_and_search_is_measured_against_anothers_ping() {
    let s = start(|c| {
        c.limits.flood_exempt = vec!["127.0.0.0/8".to_owned()];
        c.chat.max_history = 200;
    })
    .await;
    let (mut writer, _) = guest(s.addr, "writer").await;
    writer.ok(json!({"type": "join", "room": "#big"})).await;
    let seed = 2_000;
    for i in 0..seed {
        let text = format!("message {i} about apples and oranges");
        writer
            .send(json!({"type": "send", "to": "#big", "text": text}))
            .await;
        // Read the echoes as we go: a client that reads none of 2,000 is
        // a slow consumer, and the server rightly drops it once its send
        // queue (1,024 events) is full, which the socket buffers in
        // front of it may or may not delay.
        if i % 250 == 249 {
            writer.sync().await;
        }
    }
    writer.sync().await;

    let (mut quiet, _) = guest(s.addr, "quiet").await;
    let calm = pings(&mut quiet, 100).await;
    show("idle", &calm);

    let (mut hammer, _) = guest(s.addr, "hammer").await;
    hammer.ok(json!({"type": "join", "room": "#big"})).await;
    let spam = tokio::spawn(async move {
        let mut reads = 0u32;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            for _ in 0..20 {
                hammer
                    .send(json!({"type": "resume", "after": 0, "limit": 200}))
                    .await;
                hammer
                    .send(json!({"type": "search", "text": "apples"}))
                    .await;
                reads += 2;
            }
            hammer.sync().await;
        }
        reads
    });
    let loaded = pings(&mut quiet, 100).await;
    let reads = spam.await.unwrap();
    show(&format!("while another client made {reads} reads"), &loaded);
    // Every ping was answered, in order, while the reads went on.
    assert_eq!(loaded.len(), 100);
    s.shutdown().await;
}
