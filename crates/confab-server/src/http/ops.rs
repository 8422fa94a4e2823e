//! Operations endpoints: liveness (`/healthz`), readiness (`/readyz`: the
//! hub and its store answer) and Prometheus metrics (`/metrics`).

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use confab_core::Nick;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::ErrorResponse;
use super::{ApiError, Shared};

/// Whether the process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", content_type = "text/plain", body = String))
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: String,
}

/// Whether the server can serve: the hub answers and its store reads.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready", body = ErrorResponse),
    )
)]
pub async fn readyz(State(state): State<Shared>) -> Result<Json<Ready>, ApiError> {
    // An account lookup goes through the hub thread and reads the store,
    // and changes nothing.
    let probe = Nick::parse("readyz", 64).expect("a valid name").key();
    let not_ready = |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
    match state.hub.account(probe).await {
        Err(gone) => Err(not_ready(gone.to_string())),
        Ok(Err(e)) => Err(not_ready(format!("the store does not answer: {e}"))),
        Ok(Ok(_)) => Ok(Json(Ready {
            status: "ready".to_owned(),
        })),
    }
}

/// Prometheus metrics: connections and messages per door, deliveries,
/// SendQ disconnects, store commit latency and failures, login failures,
/// flood events, users online, sessions and rooms, HTTP requests by route
/// and status, build info and the process (docs/operations.md). Open to
/// the addresses in `http.metrics_from` (loopback by default); anyone
/// else sends the admin token.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4",
            content_type = "text/plain", body = String),
        (status = 403, description = "Not from http.metrics_from, and no admin token (Authorization: Bearer)", body = ErrorResponse),
    )
)]
pub async fn metrics(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let admin = &state.config.http.admin_token;
    let token_ok = !admin.is_empty()
        && super::extract::bearer(&headers).is_some_and(|t| super::extract::same_secret(t, admin));
    if !token_ok && !state.config.metrics_open_to(peer.ip()) {
        let why = "metrics are open to http.metrics_from only; send the admin token";
        return ApiError::new(StatusCode::FORBIDDEN, "metrics_forbidden", why).into_response();
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::render(),
    )
        .into_response()
}
