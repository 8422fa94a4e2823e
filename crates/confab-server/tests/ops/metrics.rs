//! `/metrics` as an operator's Prometheus reads it, after real traffic on
//! every door: connections, logins refused, messages, HTTP requests by
//! route and status, the hub's gauges, build info and the process.
//!
//! The recorder is per process and other tests run beside this one, so
//! counters are compared before and after (at least what this test did),
//! and gauges that other servers also set are only checked to be there.

use serde_json::json;

use crate::support::{Client, start};
use crate::{http, irc_client, ws_client};

const PW: &str = "correct-horse";

/// The value of the series `series` (name and labels, exactly as
/// rendered), if `text` has it.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let r = http::get(addr, "/metrics").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// Asserts that `series` grew by at least `by` from `before` to `after`.
fn grew(before: &str, after: &str, series: &str, by: f64) {
    let then = value(before, series).unwrap_or(0.0);
    let now = value(after, series).unwrap_or_else(|| panic!("no {series} in:\n{after}"));
    assert!(
        now - then >= by,
        "{series}: {then} -> {now}, expected at least +{by}"
    );
}

#[tokio::test]
async fn metrics_count_what_every_door_did() {
    let s = start(|_| {}).await;
    let before = scrape(s.addr).await;

    // Line: a guest who speaks, registers, and someone with a wrong
    // password.
    let mut telly = Client::login(s.addr, "telly").await;
    telly.say("#general", "counted on the line door").await;
    telly.send(&format!("/register {PW}")).await;
    telly.expect("is now registered to you").await;
    let mut guesser = Client::connect(s.addr, "guesser").await;
    guesser.expect("Choose a name").await;
    guesser.send("/login telly not-the-password").await;
    guesser.expect("wrong name or password").await;

    // IRC: a registration, and a message.
    let mut irc = irc_client::register(s.addr, "ircy").await;
    irc.send("JOIN #general").await;
    irc.send("PRIVMSG #general :counted on irc").await;
    irc.sync().await;

    // WebSocket: a guest who sends.
    let (mut web, _) = ws_client::guest(s.addr, "webby").await;
    web.ok(json!({"type": "join", "room": "#general"})).await;
    web.ok(json!({"type": "send", "to": "#general", "text": "counted on ws"}))
        .await;

    // REST: a wrong login, a right one, a message.
    let r = http::post(s.addr, "/api/v1/login")
        .json(&json!({"name": "telly", "password": "nope-nope"}))
        .send()
        .await;
    r.assert_error(401);
    let r = http::post(s.addr, "/api/v1/login")
        .json(&json!({"name": "telly", "password": PW}))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let r = http::post(s.addr, "/api/v1/rooms/general/messages")
        .bearer(&token)
        .json(&json!({"text": "counted on rest"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(http::get(s.addr, "/healthz").send().await.status, 200);
    // A path no route has, with a query: counted as `unmatched`, never
    // by its own path.
    let r = http::get(s.addr, "/no/such/page?token=s3cret").send().await;
    assert_eq!(r.status, 404);

    let after = scrape(s.addr).await;
    for door in ["line", "irc", "ws", "http"] {
        grew(
            &before,
            &after,
            &format!("confab_connections_total{{door=\"{door}\"}}"),
            1.0,
        );
    }
    // Open while they are: these connections at least.
    for door in ["line", "irc", "ws"] {
        let open = format!("confab_connections_open{{door=\"{door}\"}}");
        assert!(value(&after, &open).unwrap() >= 1.0, "{open}:\n{after}");
    }
    for door in ["line", "rest"] {
        let series = format!("confab_login_failures_total{{door=\"{door}\"}}");
        grew(&before, &after, &series, 1.0);
    }
    for door in ["line", "irc", "ws", "rest"] {
        let series = format!("confab_messages_total{{door=\"{door}\"}}");
        grew(&before, &after, &series, 1.0);
    }
    grew(
        &before,
        &after,
        r#"confab_http_requests_total{route="/api/v1/login",status="401"}"#,
        1.0,
    );
    grew(
        &before,
        &after,
        r#"confab_http_requests_total{route="/api/v1/rooms/{room}/messages",status="201"}"#,
        1.0,
    );
    grew(
        &before,
        &after,
        r#"confab_http_requests_total{route="/healthz",status="200"}"#,
        1.0,
    );
    grew(
        &before,
        &after,
        r#"confab_http_requests_total{route="unmatched",status="404"}"#,
        1.0,
    );
    grew(
        &before,
        &after,
        r#"confab_http_request_duration_seconds_count{route="/healthz"}"#,
        1.0,
    );
    assert!(!after.contains("/no/such/page"), "{after}");
    assert!(!after.contains("s3cret"), "{after}");
    grew(&before, &after, "confab_message_deliveries_total", 3.0);
    grew(&before, &after, "confab_store_commit_seconds_count", 1.0);

    // Named as Prometheus expects, typed, and there from the start.
    for (name, kind) in [
        ("confab_connections_open", "gauge"),
        ("confab_connections_total", "counter"),
        ("confab_connections_parked", "gauge"),
        ("confab_messages_total", "counter"),
        ("confab_message_deliveries_total", "counter"),
        ("confab_fanout_deliveries_total", "counter"),
        ("confab_sendq_disconnects_total", "counter"),
        ("confab_store_commit_failures_total", "counter"),
        ("confab_store_commit_seconds", "histogram"),
        ("confab_login_failures_total", "counter"),
        ("confab_users_online", "gauge"),
        ("confab_sessions", "gauge"),
        ("confab_rooms", "gauge"),
        ("confab_http_requests_total", "counter"),
        ("confab_http_request_duration_seconds", "histogram"),
        ("confab_build_info", "gauge"),
    ] {
        let line = format!("# TYPE {name} {kind}");
        assert!(after.lines().any(|l| l == line), "no {line:?} in:\n{after}");
    }
    for gauge in ["confab_users_online", "confab_sessions", "confab_rooms"] {
        assert!(value(&after, gauge).is_some(), "no {gauge} in:\n{after}");
    }
    let version = env!("CARGO_PKG_VERSION");
    let build = after
        .lines()
        .find(|l| l.starts_with("confab_build_info{"))
        .unwrap_or_else(|| panic!("no build info in:\n{after}"));
    assert!(
        build.starts_with(&format!(
            "confab_build_info{{version=\"{version}\",commit=\""
        )) && build.ends_with("} 1"),
        "{build}"
    );
    if cfg!(target_os = "linux") {
        for (name, kind) in [
            ("process_cpu_seconds_total", "counter"),
            ("process_resident_memory_bytes", "gauge"),
            ("process_open_fds", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            assert!(
                after.lines().any(|l| l == format!("# TYPE {name} {kind}")),
                "{name} is not a {kind}:\n{after}"
            );
            let v = value(&after, name).unwrap_or_else(|| panic!("no {name}:\n{after}"));
            assert!(v > 0.0 || name == "process_cpu_seconds_total", "{name} {v}");
        }
        // Started in the last day, not at the epoch.
        let start = value(&after, "process_start_time_seconds").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(now - start < 86_400.0 && start <= now + 1.0, "{start}");
    }
    drop((telly, guesser, irc, web));
    s.shutdown().await;
}
