//! Feeds arbitrary text to the WebSocket door's JSON protocol parser
//! (`ws::protocol::parse`), with the default limits and small ones.
//!
//! The bytes are read as UTF-8 (invalid sequences become U+FFFD: the door
//! only ever gets valid UTF-8, text frames being checked by the WebSocket
//! layer). Checked, whatever the text:
//! - no panic;
//! - an `Err` has a known non-empty `code` and a non-empty `message` of
//!   bounded size; `field` is there exactly for `bad_request`; `bad_json`
//!   exactly when the text is not a JSON object; it carries the request
//!   `id` when the object had a valid one; rendered, it is a JSON `error`
//!   event with the same code, message, field and `re`;
//! - an `Ok` came from a JSON object with a string `"type"` that names the
//!   request it became, carries its `id`, and every name and text in it is
//!   within the limits and valid (`confab_fuzz::check_command`); a hello
//!   has `"v": 1` and a valid name unless it logs in with a token.

#![no_main]

use confab_core::Timestamp;
use confab_fuzz::{Limits, MAX_ERROR_BYTES, check_command, check_nick, check_target, check_text};
use confab_server::ws::protocol::{Auth, BadInput, Incoming, ParseLimits, Request, parse};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Every request type and the command (`Command::name`) it may become;
/// `None` for those that stay with the door.
const TYPES: &[(&str, &[&str])] = &[
    ("hello", &[]),
    ("ping", &[]),
    ("register", &[]),
    ("send", &["send"]),
    ("join", &["join"]),
    ("part", &["part"]),
    ("topic", &["topic", "set-topic"]),
    ("members", &["members"]),
    ("users", &["users"]),
    ("rooms", &["rooms"]),
    ("history", &["chathistory"]),
    ("search", &["search"]),
    ("ignore", &["ignore"]),
    ("unignore", &["unignore"]),
    ("ignores", &["ignores"]),
    ("typing", &["typing"]),
    ("away", &["away"]),
    ("whois", &["whois"]),
    ("whowas", &["whowas"]),
    ("stats", &["stats"]),
    ("nick", &["nick"]),
    ("kick", &["kick"]),
    ("invite", &["invite"]),
    ("mode", &["modes", "set-modes"]),
    ("bans", &["bans"]),
    ("resume", &["resume"]),
    ("mark_read", &["mark-read"]),
    ("read_marker", &["read-marker"]),
    ("read_markers", &["read-markers"]),
    ("quit", &["quit"]),
    ("passwd", &[]),
    ("oper", &[]),
    ("deoper", &["deoper"]),
    ("kill", &["kill"]),
    ("wallops", &["wallops"]),
    ("kline", &["kline"]),
    ("unkline", &["unkline"]),
    ("klines", &["klines"]),
    ("suspend", &["suspend"]),
    ("unsuspend", &["unsuspend"]),
    ("lockdown", &["lockdown"]),
];

const CODES: &[&str] = &["bad_json", "bad_request", "unknown_type", "bad_version"];

/// The request id a parser must find in `obj`, if it is a valid one.
fn valid_id(obj: &Map<String, Value>) -> Option<&Value> {
    obj.get("id")
        .filter(|v| matches!(v, Value::String(_) | Value::Number(_)))
}

fn check_ok(inc: &Incoming, obj: &Map<String, Value>, l: &Limits) {
    assert_eq!(inc.id.as_ref(), valid_id(obj), "the request id");
    let Some(Value::String(kind)) = obj.get("type") else {
        panic!("parsed without a string \"type\"");
    };
    let commands = TYPES
        .iter()
        .find(|(t, _)| t == kind)
        .unwrap_or_else(|| panic!("parsed an unknown type {kind:?}"))
        .1;
    match &inc.request {
        Request::Hello(h) => {
            assert_eq!(kind, "hello");
            assert_eq!(obj.get("v").and_then(Value::as_u64), Some(1), "hello v 1");
            match &h.auth {
                Auth::Token(t) => assert_eq!(obj.get("token").and_then(Value::as_str), Some(&**t)),
                Auth::Password { name, password } => {
                    check_nick(name, l);
                    assert_eq!(
                        obj.get("password").and_then(Value::as_str),
                        Some(&**password)
                    );
                }
                Auth::Guest(name) => check_nick(name, l),
            }
        }
        Request::Ping => assert_eq!(kind, "ping"),
        Request::Register { password } => {
            assert_eq!(kind, "register");
            assert_eq!(
                obj.get("password").and_then(Value::as_str),
                Some(&**password)
            );
        }
        Request::Passwd { old, new } => {
            assert_eq!(kind, "passwd");
            assert_eq!(obj.get("old").and_then(Value::as_str), Some(&**old));
            assert_eq!(obj.get("new").and_then(Value::as_str), Some(&**new));
        }
        Request::Oper { name, password } => {
            assert_eq!(kind, "oper");
            assert_eq!(obj.get("name").and_then(Value::as_str), Some(&**name));
            assert_eq!(
                obj.get("password").and_then(Value::as_str),
                Some(&**password)
            );
        }
        Request::SendUpload {
            to,
            kind: _,
            text,
            upload,
        } => {
            assert_eq!(kind, "send");
            check_target(to, l);
            check_text(text, l);
            assert_eq!(obj.get("upload").and_then(Value::as_str), Some(&**upload));
        }
        Request::Hub(c) => {
            assert!(
                commands.contains(&c.name()),
                "type {kind:?} became {}",
                c.name()
            );
            check_command(c, l);
        }
    }
}

fn check_err(e: &BadInput, value: &Result<Value, serde_json::Error>) {
    assert!(CODES.contains(&e.code), "unknown code {:?}", e.code);
    assert!(!e.message.is_empty(), "an empty message");
    assert!(
        e.message.len() <= MAX_ERROR_BYTES,
        "an error message of {} bytes: {:?}",
        e.message.len(),
        &e.message[..e.message.floor_char_boundary(100)]
    );
    assert_eq!(
        e.field.is_some(),
        e.code == "bad_request",
        "field iff bad_request"
    );
    assert!(e.field.is_none_or(|f| !f.is_empty()));
    match value {
        Ok(Value::Object(obj)) => {
            assert_ne!(e.code, "bad_json", "an object is JSON");
            assert_eq!(e.id.as_ref(), valid_id(obj), "the request id");
            if e.code == "unknown_type" {
                let Some(Value::String(kind)) = obj.get("type") else {
                    panic!("unknown_type without a string type");
                };
                assert!(TYPES.iter().all(|(t, _)| t != kind), "{kind:?} is known");
            }
        }
        _ => {
            assert_eq!(e.code, "bad_json", "not an object");
            assert_eq!(e.id, None);
        }
    }

    let rendered: Value = serde_json::from_str(&e.render(Timestamp(0))).expect("an error renders");
    assert_eq!(rendered["type"], "error");
    assert_eq!(rendered["code"], e.code);
    assert_eq!(rendered["message"], *e.message);
    match e.field {
        Some(f) => assert_eq!(rendered["field"], f),
        None => assert!(rendered.get("field").is_none()),
    }
    assert_eq!(rendered.get("re"), e.id.as_ref(), "re is the request id");
}

fn check(text: &str, value: &Result<Value, serde_json::Error>, pl: ParseLimits) {
    let l = Limits {
        nick: pl.max_nick_len,
        room: pl.max_room_len,
        message: pl.max_message_bytes,
    };
    match parse(text, &pl) {
        Ok(inc) => {
            let Ok(Value::Object(obj)) = value else {
                panic!("parsed something that is not a JSON object");
            };
            check_ok(&inc, obj, &l);
        }
        Err(e) => check_err(&e, value),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let value = serde_json::from_str::<Value>(&text);
    for pl in [
        ParseLimits {
            max_nick_len: 20,
            max_room_len: 50,
            max_message_bytes: 1024,
        },
        ParseLimits {
            max_nick_len: 9,
            max_room_len: 10,
            max_message_bytes: 20,
        },
    ] {
        check(&text, &value, pl);
    }
});
