//! Errors as the web doors answer them: one body for every error
//! ([`ErrorResponse`]), and the one map from a hub refusal to an HTTP
//! status ([`chat_error`]); its code is the core's (`ChatError::code`),
//! the one the WebSocket door sends too.

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

/// A hub refusal over HTTP: the core's code and message (the same the
/// WebSocket door sends), with its status. Every refusal is named, so a
/// new one must be given a status here.
pub fn chat_error(e: ChatError) -> ApiError {
    use ChatError as E;
    let status = match &e {
        E::NotLoggedIn => {
            // Over REST: the account of a valid token is gone.
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unknown_account",
                "the token's account is not known to this server",
            );
        }
        E::NoSuchRoom(_) | E::NoSuchUser(_) | E::NoSuchKline(_) => StatusCode::NOT_FOUND,
        E::NotInRoom(_)
        | E::CannotSend(_)
        | E::Banned(_)
        | E::NotOperator(_)
        | E::InviteOnly(_)
        | E::BadKey(_)
        | E::GuestsNotAllowed
        | E::GuestsNoPrivateHistory
        | E::NotServerOper
        | E::ServerBanned(_)
        | E::Suspended { .. } => StatusCode::FORBIDDEN,
        E::BadQuery(_) => StatusCode::BAD_REQUEST,
        E::BadValue(_) | E::Input(_) | E::BadModeParam { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        E::Storage(_) | E::NoStorage => StatusCode::SERVICE_UNAVAILABLE,
        // The state of things, not the request's form: the recipient's
        // queue is full, a name is taken, the room is full, ….
        E::AlreadyLoggedIn
        | E::NickInUse(_)
        | E::NickReserved(_)
        | E::NoTarget
        | E::NoRoom
        | E::IgnoreSelf
        | E::NotIgnoring(_)
        | E::TooManyRooms(_)
        | E::OfflineQueueFull(_)
        | E::GuestNotKept(_)
        | E::NickRegistered(_)
        | E::AccountNameFixed(_)
        | E::AlreadyRegistered(_)
        | E::AlreadyIdentified(_)
        | E::NotAnAccount
        | E::NotSuspended(_)
        | E::Lockdown
        | E::RoomFull(_)
        | E::UserNotInRoom { .. }
        | E::AlreadyInRoom { .. }
        | E::NotOnline(_)
        | E::BanListFull(_)
        | E::NoSuchMessage { .. } => StatusCode::CONFLICT,
    };
    ApiError::new(status, e.code(), e.to_string())
}
