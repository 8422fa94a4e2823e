//! The IRC door: RFC 1459/2812 as modern servers speak it, with IRCv3
//! capabilities. `commands.rs` is the command table and each command's
//! translation into core `Command`s (pure), `render.rs` turns core events
//! into IRC messages (pure), `conn/` is a connection: the socket and its
//! task, registration, capability negotiation, SASL, MODE, CHATHISTORY
//! and the replies that depend on the question.

pub mod commands;
pub mod conn;
pub mod render;

/// Whether the first bytes of a connection look like an IRC client:
/// its first word is one of the commands that open a registration.
pub fn looks_like_irc(first: &[u8]) -> bool {
    let word: Vec<u8> = first
        .iter()
        .take_while(|b| !b.is_ascii_whitespace())
        .take(8)
        .map(u8::to_ascii_uppercase)
        .collect();
    matches!(&word[..], b"CAP" | b"NICK" | b"PASS" | b"USER")
}

#[cfg(test)]
mod tests {
    use super::looks_like_irc;

    #[test]
    fn registration_commands_are_irc() {
        for yes in [
            "CAP LS 302\r\n",
            "NICK a\r\n",
            "pass x\r\n",
            "USER u 0 * :r\r\n",
        ] {
            assert!(looks_like_irc(yes.as_bytes()), "{yes}");
        }
        for no in [
            "alice\r\n",
            "",
            "CAPTAIN\r\n",
            "/join #a\r\n",
            "GET / HTTP/1.1\r\n",
        ] {
            assert!(!looks_like_irc(no.as_bytes()), "{no}");
        }
    }
}
