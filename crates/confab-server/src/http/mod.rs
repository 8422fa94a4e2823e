//! The web door: HTTP/1.1 on a detected connection (plain or inside TLS),
//! routed by axum. `/ws` upgrades to WebSocket: the confab JSON protocol
//! (`ws/`), or IRC for clients that ask for an IRCv3 WebSocket subprotocol
//! (`irc_ws.rs`, which runs the IRC door behind the upgrade). `/api/v1` is the REST API (`api.rs`), described by the
//! OpenAPI document at `/api/openapi.json` and the docs page at `/docs`.
//!
//! Every error is JSON: `{"error": {"code": …, "message": …}}` with the
//! right status ([`ApiError`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt;
use tracing::debug;

use crate::metrics::ConnGauge;
use crate::rewind::Io;

pub mod access;
pub mod admin;
pub mod api;
pub mod errors;
pub mod extract;
pub mod irc_ws;
pub mod openapi;
pub mod ops;
pub mod session;
pub mod upgrade;
pub mod uploads;
pub mod web;

pub use crate::shared::{AppState, Shared};

/// The IRCv3 WebSocket subprotocols, text first.
pub const IRC_TEXT: &str = "text.ircv3.net";
pub const IRC_BINARY: &str = "binary.ircv3.net";
/// The confab JSON protocol's subprotocol name (optional for clients).
pub const CONFAB_V1: &str = "confab.v1";

/// Every route of the web door.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{*path}", get(web::asset))
        .route("/ws", get(ws_upgrade))
        .merge(openapi::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            check_origin,
        ))
        // Outermost: the origin check's refusals are logged and counted.
        .layer(axum::middleware::from_fn(access::log))
        .with_state(state)
}

/// Serves HTTP/1.1 on `io` until the client closes, upgrading to
/// WebSocket where asked. A client that takes longer than
/// `header_timeout` to send a request's headers is dropped (slowloris).
/// Once `stopping` turns true (the server stops), the request under way
/// is answered and the connection closed.
/// Each request's `ConnectInfo` is its client: `peer`, or whom a trusted
/// proxy's headers name (`Proxies::client`), so every handler sees the
/// client's address.
pub async fn serve<S: Io>(
    io: S,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    hold: Hold,
    proxies: Arc<crate::peer::Proxies>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let _gauge = ConnGauge::new("http");
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let client = proxies.client(peer, req.headers());
            if client != peer {
                req.extensions_mut().insert(crate::peer::Forwarded);
            }
            req.extensions_mut().insert(ConnectInfo(client));
            req.extensions_mut().insert(hold.clone());
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let served = tokio::select! {
        served = conn.as_mut() => served,
        // (Also when the server is gone altogether.)
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        debug!(%peer, error = %e, "http connection ended");
    }
}

/// Whether a connection's first bytes are an HTTP request line: a method
/// (a token of up to 16 capital letters, so `QUERY` and other new methods
/// count), a space, then a path (`/`) or `*`; and when the whole line is
/// there, it ends with the HTTP version.
pub fn looks_like_http(first: &[u8]) -> bool {
    let Some(space) = first.iter().take(17).position(|&b| b == b' ') else {
        return false;
    };
    let (method, rest) = (&first[..space], &first[space + 1..]);
    if method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) {
        return false;
    }
    if !matches!(rest.first(), Some(b'/' | b'*')) {
        return false;
    }
    match rest.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
            line.len() >= 9 && line[line.len() - 9..].starts_with(b" HTTP/")
        }
        None => true,
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such page")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not take that method",
    )
}

async fn ws_upgrade(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(hold): Extension<Hold>,
    forwarded: Option<Extension<crate::peer::Forwarded>>,
    ws: upgrade::Upgrade,
) -> Response {
    // Behind a proxy the connection is the proxy's, counted in all; the
    // client it names is counted against its own address while the
    // WebSocket lives.
    let hold = match forwarded {
        None => hold,
        Some(_) => match state.limiter.admit_forwarded(peer.ip()) {
            Ok(place) => Hold::new((hold, place)),
            Err(why) => {
                tracing::info!(%peer, why = why.message(), "WebSocket refused");
                return refused(why);
            }
        },
    };
    let limit = state.config.http.max_ws_message_bytes;
    let limits = crate::websocket::Limits { max_message: limit };
    let protocol = ws.protocol(&[IRC_TEXT, IRC_BINARY, CONFAB_V1]);
    let (response, socket) = ws.accept(protocol, limits);
    // Each door in a task of its own, from the upgrade on, which holds
    // the connection's place (`hold`) as long as it lives; the JSON
    // protocol's parks when idle.
    match protocol {
        Some(p @ (IRC_TEXT | IRC_BINARY)) => {
            tokio::spawn(async move {
                if let Some(socket) = socket.await {
                    irc_ws::serve(socket, p == IRC_BINARY, peer, state).await;
                }
                drop(hold);
            });
        }
        _ => {
            use futures_util::future::{Either, FutureExt, ready};
            let guards = (hold, ConnGauge::new("ws"));
            // (`then`, not an async block: see `park::spawn`.)
            let serving = socket.then(move |socket| match socket {
                Some(socket) => Either::Left(crate::ws::serve(socket, peer, state)),
                None => Either::Right(ready(None)),
            });
            crate::park::spawn(guards, serving);
        }
    }
    response
}

/// Whatever must live as long as the connection does (its place in the
/// connection limits, the server's shutdown wait). An HTTP exchange ends
/// when it upgrades; the WebSocket it became keeps a clone.
#[derive(Clone)]
pub struct Hold(#[allow(dead_code)] Arc<dyn std::any::Any + Send + Sync>);

impl Hold {
    pub fn new(what: impl std::any::Any + Send + Sync) -> Hold {
        Hold(Arc::new(what))
    }
}

/// The middleware applying [`crate::origin`]: 403 `origin_not_allowed` for another site's page.
pub async fn check_origin(
    State(state): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers();
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let http = &state.config.http;
        if !crate::origin::allowed(origin, host, &http.public_url, &http.allowed_origins) {
            let shown: String = origin.chars().take(100).collect();
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                format!(
                    "pages from {shown:?} may not use this server; \
                     its operator can add the origin to http.allowed_origins"
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::looks_like_http;

    #[test]
    fn http_request_lines_are_told_from_chat() {
        for yes in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
            b"POST /api/v1/login HTTP/1.1\r\n",
            b"QUERY /api/v1/rooms HTTP/1.1\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
            b"GET /ws",
            b"DELETE /x HTTP/1.0\n",
        ] {
            assert!(looks_like_http(yes), "{:?}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"alice\r\n"[..],
            b"NICK alice\r\n",
            b"GET",
            b"get / HTTP/1.1\r\n",
            b"HELLO /join #rust\r\n",
            b"/join #rust\r\n",
            b"GET /me a coffee\r\n",
            b"AVERYVERYVERYLONGMETHOD / HTTP/1.1\r\n",
            b"",
        ] {
            assert!(!looks_like_http(no), "{:?}", String::from_utf8_lossy(no));
        }
    }
}

/// An HTTP error with a JSON body: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// The JSON body of this error.
    fn body(&self) -> errors::ErrorResponse {
        errors::ErrorResponse {
            error: errors::ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }

    /// A refusal at the connection limits: 503, `server_full` or
    /// `too_many_connections`.
    pub fn full(why: crate::peer::Full) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            why.code(),
            format!("{}; try again later", why.message()),
        )
    }
}

/// The whole HTTP response to a connection refused at the connection
/// limits before it is served (no HTTP server runs for it): 503 with the
/// JSON error body every refusal has, `Retry-After`, and
/// `Connection: close`.
pub fn refusal(why: crate::peer::Full) -> Vec<u8> {
    let error = ApiError::full(why);
    let body = serde_json::to_vec(&error.body()).expect("serializable");
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        crate::peer::RETRY_AFTER_SECS,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The same refusal from inside the router (a WebSocket whose forwarded
/// client is over its address's limit).
pub fn refused(why: crate::peer::Full) -> Response {
    let retry = crate::peer::RETRY_AFTER_SECS.to_string();
    (
        [(axum::http::header::RETRY_AFTER, retry)],
        ApiError::full(why),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
