//! Operations endpoints: liveness (`/healthz`), readiness (`/readyz`: the
//! hub and its store answer) and Prometheus metrics (`/metrics`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use confab_core::Nick;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::ErrorResponse;
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

/// Prometheus metrics: connections per door, messages in and out, fan-out
/// deliveries, queue drops, store commit latency and failures.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain", body = String))
)]
pub async fn metrics() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::metrics::handle().render(),
    )
}
