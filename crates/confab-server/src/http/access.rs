//! The access log and the HTTP metrics: a layer over every route that
//! writes one line per request (method, path, status, duration, client
//! address) and counts it by route and status.
//!
//! The path is logged without its query string (a token or a search may
//! ride there). Metrics use the route's template (axum's `MatchedPath`,
//! `/api/v1/rooms/{room}/history`), or `unmatched` for a 404 off every
//! route, never the raw path: a scanner cannot grow the label set.
//! A WebSocket upgrade is logged when its `101` goes out; the connection
//! then logs its own lines.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics as m;

/// The middleware (`axum::middleware::from_fn`).
pub async fn log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let response = next.run(req).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    metrics::counter!(m::HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(m::HTTP_SECONDS, "route" => route).record(elapsed);
    let client = peer.map(|p| p.ip().to_string());
    tracing::info!(
        %method,
        path,
        status,
        ms = elapsed.as_micros() as f64 / 1000.0,
        client = client.as_deref().unwrap_or("-"),
        "http"
    );
    response
}
