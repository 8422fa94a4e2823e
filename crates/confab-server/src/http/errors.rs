//! Errors as the web doors answer them: one body for every error
//! ([`ErrorResponse`]), and the one map from a hub refusal to an HTTP
//! status and code ([`chat_error`]), which REST and WebSocket share.

use axum::http::StatusCode;
use confab_core::ChatError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;

/// Every error's body.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`unauthorized`, `no_such_room`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

/// The hub has stopped: 503.
pub fn unavailable(gone: crate::hub_task::HubGone) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        gone.to_string(),
    )
}

/// The HTTP status and code of a hub refusal; its message is the core's.
pub fn chat_error(e: ChatError) -> ApiError {
    use ChatError as E;
    let (status, code) = match &e {
        E::NotLoggedIn => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown_account",
                "the token's account is not known to this server",
            );
        }
        E::NoSuchRoom(_) => (StatusCode::NOT_FOUND, "no_such_room"),
        E::NoSuchUser(_) => (StatusCode::NOT_FOUND, "no_such_user"),
        E::NotInRoom(_)
        | E::CannotSend(_)
        | E::Banned(_)
        | E::NotOperator(_)
        | E::InviteOnly(_)
        | E::BadKey(_)
        | E::GuestsNotAllowed
        | E::GuestsNoPrivateHistory => (StatusCode::FORBIDDEN, "forbidden"),
        E::ServerBanned(_) => (StatusCode::FORBIDDEN, "banned_from_server"),
        E::Suspended { .. } => (StatusCode::FORBIDDEN, "suspended"),
        // The recipient's state, not the sender's pace: no Retry-After.
        E::OfflineQueueFull(_) => (StatusCode::CONFLICT, "offline_queue_full"),
        E::GuestNotKept(_) => (StatusCode::CONFLICT, "guest_not_kept"),
        E::BadValue(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_value"),
        E::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
        E::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage"),
        E::NoStorage => (StatusCode::SERVICE_UNAVAILABLE, "no_storage"),
        _ => (StatusCode::CONFLICT, "refused"),
    };
    ApiError::new(status, code, e.to_string())
}
