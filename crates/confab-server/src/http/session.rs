//! Tokens and sessions over REST: log out (this token), log out
//! everywhere (every token of the account issued until now), swap a token
//! for a fresh one, and change the password (which also voids every older
//! token). Revocations go to the store through the hub thread and into
//! [`Tokens`](crate::tokens::Tokens)' table, so they hold across restarts.

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use confab_core::{Nick, Timestamp};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa::ToSchema;

use super::errors::ErrorResponse;
use super::extract::{ApiJson, AuthToken, too_many_because};
use super::{ApiError, Shared};
use crate::auth::{self, LoginError};
use crate::time::now;
use crate::time::rfc3339;

fn unavailable(why: impl ToString) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        why.to_string(),
    )
    .into_response()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The account's name as registered.
    pub name: String,
}

/// A fresh token for `name`, valid for `http.token_ttl_secs`.
pub fn new_token(state: &Shared, name: &Nick) -> LoginResponse {
    let now = crate::time::now().0;
    let ttl_ms = state.config.http.token_ttl_secs.saturating_mul(1000);
    let expires = now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
    LoginResponse {
        token: state.tokens.issue(name, now, expires),
        expires_at: rfc3339(Timestamp(expires)),
        name: name.to_string(),
    }
}

/// Voids this token: it stops working at once, everywhere.
#[utoipa::path(
    post, path = "/api/v1/logout", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 204, description = "Logged out: the token no longer works"),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn logout(State(state): State<Shared>, AuthToken(claims): AuthToken) -> Response {
    match state
        .hub
        .revoke_token(claims.id.clone(), Timestamp(claims.expires))
        .await
    {
        Ok(Ok(())) => {
            state.tokens.revoke(&claims.id);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Err(e)) => unavailable(e),
        Err(gone) => unavailable(gone),
    }
}

/// Voids every token of the account issued until now, this one included
/// (log out everywhere).
#[utoipa::path(
    post, path = "/api/v1/logout/all", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 204, description = "Every token of the account issued until now no longer works"),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn logout_all(State(state): State<Shared>, AuthToken(claims): AuthToken) -> Response {
    // Strictly after every token issued so far, this one included.
    let after = Timestamp(now().0.max(claims.issued) + 1);
    match state.hub.revoke_tokens(claims.account, after).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => unavailable(e),
        Err(gone) => unavailable(gone),
    }
}

/// Swaps this token for a fresh one (`http.token_ttl_secs` from now);
/// this one stops working.
#[utoipa::path(
    post, path = "/api/v1/token", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 200, description = "A fresh token", body = LoginResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Refreshing is off (http.token_refresh), or the account is suspended or banned from the server", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn refresh(State(state): State<Shared>, AuthToken(claims): AuthToken) -> Response {
    if let Err(refused) = standing(&state, &claims.account).await {
        return refused;
    }
    if !state.config.http.token_refresh {
        let why = "this server does not refresh tokens (http.token_refresh); log in again";
        return ApiError::new(StatusCode::FORBIDDEN, "refresh_disabled", why).into_response();
    }
    let Ok(name) = Nick::parse(claims.account.as_str(), usize::MAX) else {
        return unavailable("the token's account name is not valid");
    };
    if let Err(e) = state
        .hub
        .revoke_token(claims.id.clone(), Timestamp(claims.expires))
        .await
        .map_err(|g| g.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        return unavailable(e);
    }
    state.tokens.revoke(&claims.id);
    // The account's own spelling, as at login.
    let name = match state.hub.account(name.key()).await {
        Ok(Ok(lookup)) => lookup.account.map_or(name, |a| a.name),
        _ => name,
    };
    Json(new_token(&state, &name)).into_response()
}

/// A suspended or K-lined account gets no fresh token (the hub says).
pub(crate) async fn standing(
    state: &Shared,
    account: &confab_core::NickKey,
) -> Result<(), Response> {
    let caller = confab_core::hub::Caller::Account(account.clone());
    match state.hub.standing(caller).await {
        Err(gone) => Err(unavailable(gone)),
        Ok(Err(e)) => Err(super::errors::chat_error(e).into_response()),
        Ok(Ok(_)) => Ok(()),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// The password now.
    pub old: String,
    /// The new password (the server's rules for new passwords apply).
    pub new: String,
}

/// Changes the account's password. Every token issued before now stops
/// working, this one included; the answer is a fresh token.
#[utoipa::path(
    post, path = "/api/v1/password", tag = "auth",
    security(("token" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "Changed; a fresh token", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "No valid token, or the old password is wrong", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing fields, or the new password breaks the rules", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn password(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AuthToken(claims): AuthToken,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Response {
    let Ok(name) = Nick::parse(claims.account.as_str(), usize::MAX) else {
        return unavailable("the token's account name is not valid");
    };
    let min = state.config.accounts.min_password_len;
    let hash =
        match auth::change_password(&state.hub, "rest", &name, req.old, req.new, min, peer.ip())
            .await
        {
            Err(gone) => return unavailable(gone),
            Ok(Err(auth::ChangeError::Login(LoginError::Wrong))) => {
                let why = "the old password is wrong";
                return ApiError::new(StatusCode::UNAUTHORIZED, "wrong_password", why)
                    .into_response();
            }
            Ok(Err(auth::ChangeError::Login(e @ LoginError::Limited(secs)))) => {
                return too_many_because(Duration::from_secs(secs), &e.to_string());
            }
            Ok(Err(auth::ChangeError::Login(LoginError::Store(e)))) => return unavailable(e),
            Ok(Err(auth::ChangeError::New(why))) => {
                return ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_password", why)
                    .into_response();
            }
            Ok(Ok((account, hash))) => (account, hash),
        };
    let (account, hash) = hash;
    match state.hub.set_password(account.name.key(), hash).await {
        Ok(Ok(())) => Json(new_token(&state, &account.name)).into_response(),
        Ok(Err(e)) => unavailable(e),
        Err(gone) => unavailable(gone),
    }
}
