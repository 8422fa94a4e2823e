//! Turning user input into safe SQL parameters.

use std::fmt::Write;

use confab_core::store::StoreError;

/// Turns a free-text search into an FTS5 query that matches messages
/// containing every word: each word becomes a quoted FTS5 string (inner
/// `"` doubled), and the strings are AND-ed. Nothing the user types is
/// FTS5 syntax, so `*`, `(`, `NEAR`, `:` or a stray quote are searched for
/// as text (the tokenizer drops punctuation), never interpreted or
/// rejected.
///
/// Words are separated by whitespace and control characters (a NUL would
/// end an FTS5 string early). A word without a letter or digit is left
/// out: the tokenizer would make it a string without tokens, which makes
/// an AND match nothing. A query with no words left is a
/// [`StoreError::BadQuery`].
pub(crate) fn fts_query(query: &str) -> Result<String, StoreError> {
    let words = query
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| w.chars().any(is_token_char));
    let mut out = String::with_capacity(query.len() + 8);
    for word in words {
        if !out.is_empty() {
            out.push_str(" AND ");
        }
        out.push('"');
        out.push_str(&word.replace('"', "\"\""));
        out.push('"');
    }
    if out.is_empty() {
        return Err(StoreError::BadQuery("it has no words to search for".into()));
    }
    Ok(out)
}

/// The characters the `unicode61` tokenizer keeps in tokens (categories
/// L*, N* and Co), approximately: anything else separates tokens.
fn is_token_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{ffffd}' | '\u{100000}'..='\u{10fffd}')
}

/// A JSON array of strings, for `json_each(?)`: one statement that takes
/// any number of values.
pub(crate) fn json_strings<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_quote_every_word() {
        assert_eq!(fts_query("hello").unwrap(), r#""hello""#);
        assert_eq!(
            fts_query("  hello   world ").unwrap(),
            r#""hello" AND "world""#
        );
        assert_eq!(fts_query(r#"say "hi""#).unwrap(), r#""say" AND """hi""""#);
        assert_eq!(
            fts_query("a* NEAR(b c) OR -d").unwrap(),
            r#""a*" AND "NEAR(b" AND "c)" AND "OR" AND "-d""#
        );
        assert_eq!(fts_query("a\0b\x02c").unwrap(), r#""a" AND "b" AND "c""#);
        assert_eq!(
            fts_query("what ?! -- 🦀 is é").unwrap(),
            r#""what" AND "is" AND "é""#
        );
        assert_eq!(fts_query("日本語 ٣").unwrap(), r#""日本語" AND "٣""#);
        for empty in ["", "   ", "\t\n", "\0\x02", "!!! * \"\" ( ) 🦀"] {
            assert!(matches!(fts_query(empty), Err(StoreError::BadQuery(_))));
        }
    }

    #[test]
    fn json_strings_escape() {
        assert_eq!(json_strings([]), "[]");
        assert_eq!(json_strings(["#a", "#b"]), r##"["#a","#b"]"##);
        assert_eq!(
            json_strings([r#"#q"u\o"#, "#\u{1}é"]),
            r##"["#q\"u\\o","#\u0001é"]"##
        );
    }
}
