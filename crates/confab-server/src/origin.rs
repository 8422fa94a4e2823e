//! Cross-origin browsers are refused: a page on another site must not be
//! able to open a WebSocket or call the API with the visitor's
//! credentials. A request with an `Origin` header is served only when that
//! origin is the server's own (the `Host` it was asked for, or
//! `http.public_url`) or listed in `http.allowed_origins`. Requests
//! without `Origin` (curl, the terminal client, IRC clients, same-origin
//! page loads) are not browsers acting for another site, and pass.
//!
//! The rule, pure: the web door applies it to each request
//! (`http::check_origin`), config checks its settings with it.

/// `scheme://host[:port]` of `url`, lowercased, with no path: what a
/// browser sends as `Origin`. `None` when `url` is not such a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split('/').next()?;
    let ok = |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c == '@');
    if !ok(scheme) || !ok(authority) || !scheme.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a request with `Origin: origin` and `Host: host` may be served.
pub fn allowed(origin: &str, host: Option<&str>, public_url: &str, list: &[String]) -> bool {
    let Some(origin) = origin_of(origin) else {
        // `null` (sandboxed frames, files) and anything malformed.
        return false;
    };
    let authority = origin.split_once("://").map_or("", |(_, a)| a);
    if host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority)) {
        return true;
    }
    if origin_of(public_url).as_deref() == Some(origin.as_str()) {
        return true;
    }
    list.iter()
        .any(|o| o.trim() == "*" || origin_of(o).as_deref() == Some(origin.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("https://Chat.Example.org/path?q").as_deref(),
            Some("https://chat.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:7777").as_deref(),
            Some("http://127.0.0.1:7777")
        );
        for bad in [
            "",
            "null",
            "chat.example.org",
            "https://",
            "ht tp://x",
            "https://u@x",
        ] {
            assert_eq!(origin_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_servers_own_origin_and_the_list_pass() {
        let host = Some("chat.example.org:7777");
        // The page the server itself served.
        assert!(allowed("http://chat.example.org:7777", host, "", &[]));
        assert!(allowed("https://CHAT.example.org:7777", host, "", &[]));
        // Another site, a look-alike, a sandboxed frame.
        assert!(!allowed("https://evil.example", host, "", &[]));
        assert!(!allowed(
            "http://chat.example.org:7777.evil.example",
            host,
            "",
            &[]
        ));
        assert!(!allowed("http://chat.example.org", host, "", &[]));
        assert!(!allowed("null", host, "", &[]));
        // Behind a proxy that rewrites Host: the public URL.
        let public = "https://chat.example.org/";
        assert!(allowed(
            "https://chat.example.org",
            Some("127.0.0.1:7777"),
            public,
            &[]
        ));
        assert!(!allowed(
            "http://chat.example.org",
            Some("127.0.0.1:7777"),
            public,
            &[]
        ));
        // The operator's list, and its wildcard.
        let list = vec!["https://app.example.net".to_owned()];
        assert!(allowed("https://app.example.net", host, "", &list));
        assert!(!allowed("https://evil.example", host, "", &list));
        assert!(allowed("https://evil.example", host, "", &["*".to_owned()]));
    }
}
