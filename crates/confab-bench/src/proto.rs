//! The three protocols as the load generator speaks them: what to send to
//! log in, join and talk, and what a received line or frame means while
//! logging in and joining. Pure functions; the sockets are in `conn`.
//!
//! Only what the workloads need: a guest login, a join, a message to a
//! room or a user. Received benchmark messages are found by their text
//! (`payload`), whatever the door, so nothing here is on the hot path but
//! [`Proto::join_of`] during a join storm.

use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// IRC (RFC 1459 / modern IRC), as any IRC server speaks it.
    Irc,
    /// confab's line protocol (telnet, nc).
    Line,
    /// confab's WebSocket JSON protocol (v1) at /ws.
    Ws,
}

/// What a line or frame means to a client logging in or joining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Logged in (IRC 001, the line door's welcome, WebSocket's ack of hello).
    LoggedIn,
    /// The join of `room` is complete (IRC 366, the line door's member
    /// list, WebSocket's ack of the join).
    Joined,
    /// A refusal, in the server's words.
    Refused(String),
    /// IRC's PING: answer with this line.
    Ping(String),
    Other,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Irc => "irc",
            Proto::Line => "line",
            Proto::Ws => "ws",
        }
    }

    /// What logs in as the guest `nick`.
    pub fn login(self, nick: &str) -> Vec<String> {
        match self {
            Proto::Irc => vec![format!("NICK {nick}"), format!("USER {nick} 0 * :{nick}")],
            Proto::Line => vec![nick.to_owned()],
            Proto::Ws => vec![format!(
                r#"{{"type":"hello","v":1,"id":"h","name":"{nick}","auto_join":false}}"#
            )],
        }
    }

    /// What joins `room`.
    pub fn join(self, room: &str) -> String {
        match self {
            Proto::Irc => format!("JOIN {room}"),
            Proto::Line => format!("/join {room}"),
            Proto::Ws => format!(r#"{{"type":"join","id":"j","room":"{room}"}}"#),
        }
    }

    /// A message to `target` (a room `#…` or a nick), appended to `out`
    /// as one line (with CR LF) or, for WebSocket, as one frame's text.
    /// The text must need no JSON escaping (benchmark texts do not).
    pub fn say(self, target: &str, text: &str, out: &mut String) {
        match self {
            Proto::Irc => {
                out.push_str("PRIVMSG ");
                out.push_str(target);
                out.push_str(" :");
                out.push_str(text);
                out.push_str("\r\n");
            }
            Proto::Line => {
                out.push_str("/msg ");
                if !target.starts_with('#') {
                    out.push('@');
                }
                out.push_str(target);
                out.push(' ');
                out.push_str(text);
                out.push_str("\r\n");
            }
            // No "id": a send without one gets no ack, so the sender's
            // only extra frame is the echo of its own message.
            Proto::Ws => {
                out.push_str(r#"{"type":"send","to":""#);
                out.push_str(target);
                out.push_str(r#"","text":""#);
                out.push_str(text);
                out.push_str(r#""}"#);
            }
        }
    }

    /// What `line` means to a client logging in or joining.
    pub fn classify(self, line: &str) -> Seen {
        match self {
            Proto::Irc => irc_classify(line),
            Proto::Line => line_classify(line),
            Proto::Ws => ws_classify(line),
        }
    }

    /// The nick whose join of a room `line` announces, if it does.
    pub fn join_of(self, line: &str) -> Option<&str> {
        match self {
            Proto::Irc => {
                let rest = line.strip_prefix(':')?;
                let (source, rest) = rest.split_once(' ')?;
                let (command, _) = rest.split_once(' ')?;
                if !command.eq_ignore_ascii_case("JOIN") {
                    return None;
                }
                Some(source.split('!').next().unwrap_or(source))
            }
            Proto::Line => {
                let rest = strip_stamp(line).strip_prefix("*** ")?;
                let (nick, rest) = rest.split_once(' ')?;
                rest.starts_with("joined #").then_some(nick)
            }
            Proto::Ws => {
                if !line.contains(r#""type":"joined""#) {
                    return None;
                }
                json_str(line, "nick")
            }
        }
    }
}

/// The line door's `[HH:MM] ` stamp taken off.
fn strip_stamp(line: &str) -> &str {
    match line.split_once("] ") {
        Some((stamp, rest)) if stamp.starts_with('[') && stamp.len() <= 9 => rest,
        _ => line,
    }
}

fn irc_classify(line: &str) -> Seen {
    let mut words = line.split(' ');
    let mut first = words.next().unwrap_or("");
    if first.starts_with('@') {
        first = words.next().unwrap_or("");
    }
    if first.eq_ignore_ascii_case("PING") {
        let token = line.split_once(' ').map_or("", |(_, t)| t);
        return Seen::Ping(format!("PONG {token}"));
    }
    if first.eq_ignore_ascii_case("ERROR") {
        return Seen::Refused(line.to_owned());
    }
    if !first.starts_with(':') {
        return Seen::Other;
    }
    let command = words.next().unwrap_or("");
    match command {
        "001" => Seen::LoggedIn,
        "366" => Seen::Joined,
        // Nick, registration and join refusals.
        "403" | "405" | "431" | "432" | "433" | "436" | "437" | "451" | "461" | "465" | "471"
        | "473" | "474" | "475" | "476" | "477" => Seen::Refused(line.to_owned()),
        "FAIL" => Seen::Refused(line.to_owned()),
        _ => Seen::Other,
    }
}

fn line_classify(line: &str) -> Seen {
    let rest = strip_stamp(line);
    if rest.starts_with("*** Welcome, ") {
        Seen::LoggedIn
    } else if rest.starts_with("*** In #") {
        Seen::Joined
    } else if rest.starts_with("*** Error: ") || rest.starts_with("*** Disconnected: ") {
        Seen::Refused(rest.to_owned())
    } else {
        Seen::Other
    }
}

fn ws_classify(line: &str) -> Seen {
    if line.contains(r#""type":"ack""#) {
        match json_str(line, "re") {
            Some("h") => Seen::LoggedIn,
            Some("j") => Seen::Joined,
            _ => Seen::Other,
        }
    } else if line.contains(r#""type":"error""#) || line.contains(r#""type":"bye""#) {
        Seen::Refused(line.to_owned())
    } else {
        Seen::Other
    }
}

/// The string value of `"key":"…"` in a flat JSON object, if unescaped.
fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(r#""{key}":""#);
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    let end = rest.find('"')?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irc_lines() {
        let p = Proto::Irc;
        assert_eq!(p.classify(":confab 001 b1 :Welcome"), Seen::LoggedIn);
        assert_eq!(
            p.classify(":confab 366 b1 #r :End of /NAMES list"),
            Seen::Joined
        );
        assert_eq!(p.classify("PING :abc"), Seen::Ping("PONG :abc".into()));
        assert!(matches!(
            p.classify(":confab 433 * b1 :in use"),
            Seen::Refused(_)
        ));
        assert!(matches!(
            p.classify("ERROR :Closing link"),
            Seen::Refused(_)
        ));
        assert_eq!(p.classify(":confab 372 b1 :motd"), Seen::Other);
        assert_eq!(p.join_of(":b2!b2@h.confab JOIN #r"), Some("b2"));
        assert_eq!(p.join_of(":b2!b2@h JOIN :#r"), Some("b2"));
        assert_eq!(p.join_of(":b2!b2@h PRIVMSG #r :JOIN"), None);
    }

    #[test]
    fn line_door_lines() {
        let p = Proto::Line;
        assert_eq!(
            p.classify("[14:02] *** Welcome, b1! 3 people."),
            Seen::LoggedIn
        );
        assert_eq!(p.classify("[14:02] *** In #r (2): b1, b2"), Seen::Joined);
        assert!(matches!(
            p.classify("[14:02] *** Error: taken"),
            Seen::Refused(_)
        ));
        assert_eq!(p.join_of("[14:02] *** b2 joined #r"), Some("b2"));
        assert_eq!(p.join_of("[14:02] #r <b2> *** b3 joined #r"), None);
        let mut out = String::new();
        p.say("b2", "hi", &mut out);
        p.say("#r", "yo", &mut out);
        assert_eq!(out, "/msg @b2 hi\r\n/msg #r yo\r\n");
    }

    #[test]
    fn websocket_frames() {
        let p = Proto::Ws;
        assert_eq!(
            p.classify(r#"{"type":"ack","re":"h","time":"t"}"#),
            Seen::LoggedIn
        );
        assert_eq!(
            p.classify(r#"{"type":"ack","re":"j","time":"t"}"#),
            Seen::Joined
        );
        assert!(matches!(
            p.classify(r#"{"type":"error","re":"h","code":"nick_in_use"}"#),
            Seen::Refused(_)
        ));
        assert_eq!(
            p.join_of(r##"{"type":"joined","room":"#r","nick":"b2","time":"t"}"##),
            Some("b2")
        );
        let mut out = String::new();
        p.say("#r", "cfb 1", &mut out);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["to"], "#r");
        assert_eq!(v["text"], "cfb 1");
    }
}
