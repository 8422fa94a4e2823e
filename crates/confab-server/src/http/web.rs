//! The browser client: the files of `web/client/` served at `/` (the page)
//! and `/assets/…` (its scripts, styles and icons), compiled into the
//! binary by `rust-embed` (a debug build reads them from the source tree,
//! so editing the client needs no rebuild).
//!
//! The page runs under a strict Content-Security-Policy: scripts, styles,
//! images and connections from this origin only (images also from `blob:`,
//! for the preview of a pasted file), no inline script or style, no
//! `eval`, no framing. There is no build step: the browser loads the ES
//! modules as they are in the repo. Every file has an `ETag` (its SHA-256),
//! so a reload revalidates instead of downloading again.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::ApiError;

#[derive(RustEmbed)]
#[folder = "../../web/client/"]
#[exclude = "*.d.ts"]
#[exclude = "vendor/LICENSE.*"]
struct Client;

/// The policy of the page and everything it loads.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
    media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// # `GET /`: the chat page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// # `GET /assets/{path}`: a file of the client.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The page itself lives at `/` only, so it has one address.
    if path == "index.html" {
        return not_found();
    }
    serve(&path, &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Client::get(path) else {
        return not_found();
    };
    let Some(kind) = content_type(path) else {
        return not_found();
    };
    let etag = format!(
        "\"{}\"",
        crate::tokens::hex(&file.metadata.sha256_hash()[..16])
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    // Always revalidate: without a build step the names carry no hash.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The type of each kind of file the client has; anything else is not
/// served, so a stray file in the folder cannot become a page.
fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_modules_are_embedded_with_their_types() {
        for (path, kind) in [
            ("index.html", "text/html; charset=utf-8"),
            ("js/main.js", "text/javascript; charset=utf-8"),
            ("vendor/preact.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
        ] {
            assert!(Client::get(path).is_some(), "{path} is embedded");
            assert_eq!(content_type(path), Some(kind));
        }
        assert!(Client::get("vendor/preact.d.ts").is_none());
        assert_eq!(content_type("LICENSE.preact"), None);
        assert_eq!(content_type("x.exe"), None);
    }

    /// The page asks for every module up front (`modulepreload`), so the
    /// browser fetches them in one burst instead of a waterfall of imports.
    #[test]
    fn the_page_preloads_every_module() {
        let page = Client::get("index.html").unwrap();
        let page = std::str::from_utf8(&page.data).unwrap();
        for path in Client::iter().filter(|p| p.ends_with(".js") && p != "js/main.js") {
            let link = format!(r#"<link rel="modulepreload" href="/assets/{path}">"#);
            assert!(page.contains(&link), "index.html lacks {link}");
        }
    }
}
