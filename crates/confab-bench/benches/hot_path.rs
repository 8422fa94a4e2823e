//! Micro-benchmarks of the server's hot path: what one chat message costs
//! on its way through confab, measured in-process with criterion (the load
//! generator in `src/` measures the whole server over sockets instead).
//!
//! `cargo bench -p confab-bench --bench hot_path` (add `-- --quick` for a
//! short run, or a group's name, e.g. `-- fanout`, to run one group).
//!
//! - `irc`, `line`, `ws`: each door parsing what a client sends and
//!   rendering a room message the way its writer does.
//! - `hub`: the hub routing one room message between two sessions
//!   (`Hub::handle`, no store), into outboxes that only count.
//! - `fanout_1000`: one room message fanned out by the hub to 1,000
//!   sessions, each with the server's real connection queue
//!   (`hub_task::ConnOutbox`); the queues are drained between messages,
//!   outside the timing, and the drain is measured on its own.

use std::cell::Cell;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Local;
use confab_core::{
    Actor, ClientInfo, Command, Delivery, Envelope, Event, Hub, HubConfig, Message, MsgId, MsgKind,
    Nick, Outbox, QueueFull, RoomName, SessionId, Target, Text, Timestamp,
};
use confab_server::Config;
use confab_server::hub_task::{self, ConnOutbox, Out};
use confab_server::irc::render::{self as irc_render, Caps};
use confab_server::line::parse::{self as line_parse, Input};
use confab_server::line::render as line_render;
use confab_server::queue;
use confab_server::ws::protocol::{self as ws_protocol, Request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::FutureExt;

/// A fixed clock: Tue, 14 Nov 2023 22:13:20 UTC.
const NOW: Timestamp = Timestamp(1_700_000_000_000);

/// A message of ordinary length (84 bytes).
const TEXT: &str =
    "hello there, has anyone tried the new release yet? the build got a lot faster for me";

fn nick(s: &str) -> Nick {
    Nick::parse(s, 30).expect("valid nick")
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s, 50).expect("valid room")
}

fn text(s: &str) -> Text {
    Text::parse(s, 4096).expect("valid text")
}

/// A registered user as the hub describes one: a cloaked host, so the
/// account tag is sent.
fn actor() -> Arc<Actor> {
    Arc::new(Actor {
        nick: nick("alice"),
        ident: "~alice".into(),
        host: "q7fk2mzx5rnw3bqh.confab".into(),
        realname: "Alice Liddell".into(),
        account: true,
    })
}

/// The room message every door renders.
fn room_message() -> Message {
    Message {
        id: MsgId(1_234_567),
        time: NOW,
        from: nick("alice"),
        to: Target::Room(room("#rust")),
        kind: MsgKind::Say,
        text: text(TEXT),
        tags: confab_core::ClientTags::default(),
    }
}

/// A fresh envelope around `msg`: nothing rendered into its cache yet.
fn envelope(msg: &Message, actor: &Arc<Actor>) -> Delivery {
    let event = Event::Message {
        msg: msg.clone(),
        offline: false,
    };
    Envelope::by(NOW, event, actor)
}

// ---- the doors ----

fn irc(c: &mut Criterion) {
    let mut g = c.benchmark_group("irc");
    let tagged = format!("@label=x PRIVMSG #rust :{TEXT}").into_bytes();
    let plain = b"PRIVMSG bob :are you coming to the meeting at three?".to_vec();
    let parsed = confab_irc::Message::parse(&tagged).expect("a valid line");
    assert_eq!(parsed.command, "PRIVMSG");
    assert_eq!(parsed.tag("label"), Some(Some("x")));
    assert_eq!(parsed.params, ["#rust", TEXT]);
    assert_eq!(
        confab_irc::Message::parse(&plain)
            .expect("a valid line")
            .params[0],
        "bob"
    );
    g.bench_function("parse_tagged_privmsg", |b| {
        b.iter(|| confab_irc::Message::parse(black_box(&tagged)))
    });
    g.bench_function("parse_plain_privmsg", |b| {
        b.iter(|| confab_irc::Message::parse(black_box(&plain)))
    });

    // A client with server-time, message-tags and account-tag: the
    // writer's SLOT_TAGGED rendering. Rendered into a fresh envelope each
    // time (made outside the timing), as the first recipient of a door
    // does; every later recipient takes the cached bytes.
    let caps = Caps {
        message_tags: true,
        server_time: true,
        account_tag: true,
        ..Caps::default()
    };
    let msg = room_message();
    let actor = actor();
    let render = |env: &Delivery| {
        let Event::Message { msg, .. } = &env.event else {
            unreachable!("a message envelope")
        };
        irc_render::cached_message(env, msg, caps)
            .expect("tagged messages are cached")
            .clone()
    };
    let first = render(&envelope(&msg, &actor));
    assert_eq!(
        std::str::from_utf8(&first).expect("UTF-8"),
        format!(
            "@time=2023-11-14T22:13:20.000Z;msgid=1234567;account=alice \
             :alice!~alice@q7fk2mzx5rnw3bqh.confab PRIVMSG #rust :{TEXT}\r\n"
        )
    );
    g.bench_function("render_privmsg_tagged", |b| {
        b.iter_batched_ref(
            || envelope(&msg, &actor),
            |env| render(black_box(env)),
            BatchSize::SmallInput,
        )
    });
    let shared = envelope(&msg, &actor);
    render(&shared);
    g.bench_function("render_privmsg_tagged_cached", |b| {
        b.iter(|| render(black_box(&shared)))
    });
    g.finish();
}

fn line(c: &mut Criterion) {
    let mut g = c.benchmark_group("line");
    let config = Config::default();
    let limits = line_parse::ParseLimits {
        max_nick_len: config.limits.max_nick_len,
        max_room_len: config.limits.max_room_len,
        max_message_bytes: config.limits.max_message_bytes,
    };
    let plain = TEXT;
    let command = "/msg @bob are you coming to the meeting at three?";
    assert!(matches!(
        line_parse::parse(plain, &limits),
        Ok(Input::Hub(Command::Send { to: None, .. }))
    ));
    assert!(matches!(
        line_parse::parse(command, &limits),
        Ok(Input::Hub(Command::Send { to: Some(Target::User(n)), .. })) if n.as_str() == "bob"
    ));
    g.bench_function("parse_message", |b| {
        b.iter(|| line_parse::parse(black_box(plain), &limits))
    });
    g.bench_function("parse_msg_command", |b| {
        b.iter(|| line_parse::parse(black_box(command), &limits))
    });

    // What the writer puts in the envelope's slot (line_render::SLOT),
    // in the server's time zone.
    let env = envelope(&room_message(), &actor());
    let out = line_render::render(&env, &Local);
    let out = std::str::from_utf8(&out).expect("UTF-8");
    assert!(out.ends_with(&format!("{TEXT}\r\n")), "{out}");
    assert!(out.contains("#rust") && out.contains("alice"), "{out}");
    g.bench_function("render_room_message", |b| {
        b.iter(|| line_render::render(black_box(&env), &Local))
    });
    g.finish();
}

fn ws(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws");
    let config = Config::default();
    let limits = ws_protocol::ParseLimits {
        max_nick_len: config.limits.max_nick_len,
        max_room_len: config.limits.max_room_len,
        max_message_bytes: config.limits.max_message_bytes,
    };
    let send = format!(r##"{{"type":"send","id":"c42","to":"#rust","text":"{TEXT}"}}"##);
    let parsed = ws_protocol::parse(&send, &limits).expect("a valid request");
    assert_eq!(parsed.id, Some("c42".into()));
    assert!(matches!(
        parsed.request,
        Request::Hub(Command::Send { to: Some(Target::Room(r)), text, .. })
            if r.as_str() == "#rust" && text.as_str() == TEXT
    ));
    g.bench_function("parse_send", |b| {
        b.iter(|| ws_protocol::parse(black_box(&send), &limits))
    });

    // A broadcast, rendered once per event into ws_protocol::SLOT (no
    // "re"), as the door's writer does.
    let env = envelope(&room_message(), &actor());
    let out = ws_protocol::render(&env, None).expect("messages are shown");
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(json["type"], "message");
    assert_eq!(json["message"]["text"], TEXT);
    g.bench_function("render_message", |b| {
        b.iter(|| ws_protocol::render(black_box(&env), None))
    });
    g.finish();
}

// ---- the hub ----

/// An outbox that counts what it is given and drops it.
struct Counting(Rc<Cell<u64>>);

impl Outbox for Counting {
    fn push(&self, delivery: Delivery) -> Result<(), QueueFull> {
        self.0.set(self.0.get() + 1);
        drop(delivery);
        Ok(())
    }

    fn close(&self, reason: &str) {
        panic!("a counting outbox never fills, yet was closed: {reason}");
    }
}

/// What a door knows of a client from 127.0.0.1 (as IRC would say it).
fn client(name: &str) -> ClientInfo {
    ClientInfo {
        ident: Some(format!("~{name}").into()),
        host: "q7fk2mzx5rnw3bqh.confab".into(),
        addr: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        realname: None,
        auto_join: false,
        door: 0,
    }
}

/// What a session sends: a message to the room.
fn say() -> Command {
    Command::Send {
        to: Some(Target::Room(room("#rust"))),
        kind: MsgKind::Say,
        text: text(TEXT),
        tags: confab_core::ClientTags::default(),
    }
}

/// Logs session `sid` in as `name` and joins it to #rust.
fn enter<O: Outbox>(hub: &mut Hub<O>, sid: SessionId, name: &str) {
    hub.handle(sid, Command::Login(nick(name)), NOW);
    hub.handle(sid, Command::join(room("#rust")), NOW);
}

fn hub(c: &mut Criterion) {
    let mut g = c.benchmark_group("hub");
    let delivered = Rc::new(Cell::new(0));
    let mut hub = Hub::new(HubConfig {
        default_room: None,
        ..HubConfig::default()
    });
    let (alice, bob) = (SessionId(1), SessionId(2));
    for (sid, name) in [(alice, "alice"), (bob, "bob")] {
        hub.connect_with(sid, Counting(delivered.clone()), client(name), NOW);
        enter(&mut hub, sid, name);
    }
    hub.take_journal();
    let before = delivered.get();
    hub.handle(alice, say(), NOW);
    // Bob's copy and alice's own.
    assert_eq!(delivered.get() - before, 2);
    assert_eq!(hub.take_journal().len(), 1, "one message sent");
    g.throughput(Throughput::Elements(1));
    // One command, staged and finished: what the hub thread does per
    // message (less the store's commit). The journal (the audit log's
    // feed) is taken as the hub thread takes it, and dropped untimed.
    let say = say();
    let before = delivered.get();
    g.bench_function("route_room_message_2_sessions", |b| {
        b.iter_batched(
            || say.clone(),
            |cmd| {
                hub.handle(alice, black_box(cmd), NOW);
                hub.take_journal()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    // (None when a filter left this benchmark out: `cargo bench -- fanout`.)
    let routed = delivered.get() - before;
    assert!(routed.is_multiple_of(2), "every message reached both");
}

/// Empties every queue as the doors' writers do; how many items there were.
fn drain(rxs: &mut [queue::Receiver<Out>], buf: &mut Vec<Out>) -> usize {
    let mut n = 0;
    for rx in rxs {
        // Something is queued, so this never waits; `None` if empty.
        if let Some(got) = rx.recv_many(buf, usize::MAX).now_or_never() {
            n += got.expect("the queue is open");
        }
        buf.clear();
    }
    n
}

const FANOUT: usize = 1_000;

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout_1000");
    // The server's defaults, and its real outboxes: a ConnOutbox needs a
    // hub handle, so a hub thread (with an empty hub of its own) is
    // started for one and stopped once the outboxes exist.
    let config = Arc::new(Config::default());
    let gate = confab_server::flood::Gate::new(&config);
    let guard = confab_server::auth::Guard::new(confab_server::auth::GuardRule::from_config(
        &config.accounts,
    ));
    let hub_config = config.hub_config().expect("the default config is valid");
    let (handle, thread) = hub_task::spawn_hub(
        Hub::new(hub_config.clone()),
        None,
        None,
        hub_task::ForDoors {
            flood: gate.clone(),
            guard,
            cloak: Arc::new(confab_server::cloak::Cloak::off()),
            readers: None,
            parked: Default::default(),
        },
    );
    let mut hub: Hub<ConnOutbox> = Hub::new(hub_config);
    let mut rxs = Vec::with_capacity(FANOUT);
    let mut buf = Vec::new();
    for i in 0..FANOUT {
        let sid = SessionId(i as u64 + 1);
        let (outbox, rx, _kill) = ConnOutbox::new(sid, config.limits.send_queue, &handle);
        rxs.push(rx);
        let name = format!("user{i}");
        hub.connect_with(sid, outbox, client(&name), NOW);
        enter(&mut hub, sid, &name);
        // Everyone hears each join: keep the queues from filling.
        drain(&mut rxs, &mut buf);
    }
    drop(handle);
    thread.join().expect("the idle hub thread stops");
    hub.take_journal();
    assert_eq!(hub.session_count(), FANOUT);
    assert_eq!(hub.counters().queue_drops, 0, "no queue overflowed");

    let sender = SessionId(1);
    let say = say();
    // One message reaches every queue, once, as a message.
    hub.handle(sender, say.clone(), NOW);
    for rx in &mut rxs {
        let got = rx.recv_many(&mut buf, usize::MAX).now_or_never();
        assert_eq!(got, Some(Ok(1)));
        assert!(matches!(
            buf.pop(),
            Some(Out::Event(d)) if matches!(d.event, Event::Message { .. })
        ));
    }
    hub.take_journal();

    g.throughput(Throughput::Elements(FANOUT as u64));
    // Timed: the hub staging the message for 1,000 sessions and pushing
    // it into their queues. Untimed: the drain that makes room again.
    g.bench_function("route", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let cmd = say.clone();
                let start = Instant::now();
                hub.handle(sender, black_box(cmd), NOW);
                spent += start.elapsed();
                hub.take_journal();
                assert_eq!(drain(&mut rxs, &mut buf), FANOUT);
            }
            spent
        })
    });
    // The other half, for comparison: emptying the 1,000 queues (and
    // dropping the deliveries) after an untimed fan-out.
    g.bench_function("drain", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                hub.handle(sender, say.clone(), NOW);
                hub.take_journal();
                let start = Instant::now();
                let n = drain(black_box(&mut rxs), &mut buf);
                spent += start.elapsed();
                assert_eq!(n, FANOUT);
            }
            spent
        })
    });
    g.finish();
    assert_eq!(hub.counters().queue_drops, 0, "no queue overflowed");
}

criterion_group!(hot_path, irc, line, ws, hub, fanout);
criterion_main!(hot_path);
