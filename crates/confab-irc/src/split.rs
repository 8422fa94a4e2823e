//! Helpers around messages: cutting long text, taking a source apart.

/// Splits `text` into pieces of at most `max` bytes each, for sending a
/// long text in several messages.
///
/// Pieces end on UTF-8 character boundaries. A piece that has to be cut
/// ends just after its last space when that space lies in the piece's last
/// quarter (`max / 4` bytes); otherwise it is cut as long as it can be. The
/// spaces stay in the pieces, so the pieces joined give `text` back. No
/// piece is empty; an empty `text` gives no pieces.
///
/// # Panics
///
/// If `max < 4`: a character may take four bytes.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    assert!(max >= 4, "split_text: max must be at least 4, not {max}");
    let mut pieces = Vec::with_capacity(text.len() / max + 1);
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        // A space is ASCII: the byte after it starts a character.
        let window = end.saturating_sub((max / 4).max(1));
        let cut = rest.as_bytes()[window..end]
            .iter()
            .rposition(|&b| b == b' ')
            .map_or(end, |i| window + i + 1);
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// Splits a source `nick!user@host` into its parts.
///
/// The nick runs to the first `!` or `@`; after a `!`, the user runs to the
/// next `@`; the host is everything after that `@`. A part that is marked
/// but empty (`nick!@host`) is `Some("")`; a server name (`irc.example.com`)
/// is all nick.
pub fn split_source(source: &str) -> (&str, Option<&str>, Option<&str>) {
    let Some(i) = source.find(['!', '@']) else {
        return (source, None, None);
    };
    let (nick, rest) = (&source[..i], &source[i + 1..]);
    if source.as_bytes()[i] == b'@' {
        return (nick, None, Some(rest));
    }
    match rest.split_once('@') {
        Some((user, host)) => (nick, Some(user), Some(host)),
        None => (nick, Some(rest), None),
    }
}
