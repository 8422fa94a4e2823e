//! Admin endpoints, behind `Authorization: Bearer <http.admin_token>`
//! (403 while the token is not configured): announcements to every
//! session on every door, and queries of the audit log.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset};
use confab_core::{Nick, NickKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::api::{hub_call, message_text, reply};
use super::errors::ErrorResponse;
use super::errors::{chat_error, unavailable};
use super::extract::{Admin, ApiJson, ApiQuery};
use super::{ApiError, Shared};
use confab_core::hub::Caller;
use confab_core::{ChatError, Command, Event, OperCommand, OperDone};

/// Most audit entries one query returns.
pub const MAX_AUDIT: usize = 1000;
/// Audit entries a query returns when it does not say.
pub const DEFAULT_AUDIT: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
pub struct AnnouncementRequest {
    /// Same rules as a message's text.
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnnouncementResponse {
    /// Sessions it was sent to, on every door.
    pub sessions: usize,
}

/// Announces a text to everyone connected, on every door.
#[utoipa::path(
    post, path = "/api/v1/admin/announcements", tag = "admin",
    security(("admin" = [])),
    request_body = AnnouncementRequest,
    responses(
        (status = 202, description = "Announced", body = AnnouncementResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing field or bad text", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn announce(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<AnnouncementRequest>,
) -> Result<(StatusCode, Json<AnnouncementResponse>), ApiError> {
    let text = message_text(&state, &req.text)?;
    let sessions = state.hub.announce(text).await.map_err(unavailable)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AnnouncementResponse { sessions }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KillRequest {
    /// The user to disconnect (every session of theirs, on every door).
    pub nick: String,
    /// Why; others see the user quit with `Killed (admin (reason))`.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KillResponse {
    /// The user disconnected (the name as given).
    pub nick: String,
}

/// Disconnects a user from every door, as an operator's KILL does.
#[utoipa::path(
    post, path = "/api/v1/admin/kill", tag = "admin",
    security(("admin" = [])),
    request_body = KillRequest,
    responses(
        (status = 200, description = "Disconnected", body = KillResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 404, description = "No such user online", body = ErrorResponse),
        (status = 409, description = "Refused by the chat rules", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing field or bad reason", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn kill(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<KillRequest>,
) -> Result<Json<KillResponse>, ApiError> {
    let bare = req.nick.strip_prefix('@').unwrap_or(&req.nick);
    let no_such = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_user",
            format!("there is no user called {bare} online"),
        )
    };
    let nick = Nick::parse(bare, state.config.limits.max_nick_len).map_err(|_| no_such())?;
    let reason = match req.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(message_text(&state, r)?),
    };
    let kill = Command::Operator(OperCommand::Kill {
        nick: nick.clone(),
        reason,
    });
    match hub_call(&state, Caller::Admin, kill).await? {
        Ok(_) => Ok(Json(KillResponse {
            nick: nick.to_string(),
        })),
        Err(ChatError::NoSuchUser(_) | ChatError::NotOnline(_)) => Err(no_such()),
        Err(e @ ChatError::Input(_)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_value",
            e.to_string(),
        )),
        Err(e) => Err(chat_error(e)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WallopsRequest {
    /// Same rules as a message's text.
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WallopsResponse {
    /// Operator sessions it was sent to.
    pub sessions: usize,
}

/// Sends a notice to every server operator online (IRC's WALLOPS).
#[utoipa::path(
    post, path = "/api/v1/admin/wallops", tag = "admin",
    security(("admin" = [])),
    request_body = WallopsRequest,
    responses(
        (status = 202, description = "Sent", body = WallopsResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing field or bad text", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn wallops(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<WallopsRequest>,
) -> Result<(StatusCode, Json<WallopsResponse>), ApiError> {
    let text = message_text(&state, &req.text)?;
    let events = hub_call(
        &state,
        Caller::Admin,
        Command::Operator(OperCommand::Wallops(text)),
    )
    .await?
    .map_err(chat_error)?;
    let sessions = reply(events, |e| match e {
        Event::OperDone(OperDone::WallopsSent(n)) => Some(n),
        _ => None,
    })?;
    Ok((StatusCode::ACCEPTED, Json(WallopsResponse { sessions })))
}

/// A server-wide ban.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KlineJson {
    /// `$a:account`, `nick!ident@host` (a glob, lowercase) or an address
    /// or CIDR block.
    pub mask: String,
    pub reason: String,
    /// The operator who set it (`admin` for this API).
    pub by: String,
    /// When it was set (RFC 3339).
    pub set: String,
    /// When it lapses (RFC 3339); `null`: never.
    pub expires: Option<String>,
}

impl KlineJson {
    fn of(k: &confab_core::Kline) -> KlineJson {
        KlineJson {
            mask: k.mask.to_string(),
            reason: k.reason.clone(),
            by: k.by.clone(),
            set: crate::time::rfc3339(k.set),
            expires: k.expires.map(crate::time::rfc3339),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KlineList {
    /// The bans in force, oldest first.
    pub klines: Vec<KlineJson>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KlineRequest {
    /// `$a:account`, `nick!ident@host` (or `ident@host`), or an address or
    /// CIDR block (at most a /8, or an IPv6 /32).
    pub mask: String,
    /// How long it holds, in minutes; absent: for good.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1)]
    pub minutes: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A whole number, written as JSON integers are or with a zero fraction
/// (`52.0`), as JSON Schema's `integer` allows.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(n) = n.as_u64() {
        return Ok(Some(n));
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of minutes"
        ))),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KlineResponse {
    /// The mask as stored.
    pub mask: String,
    /// Sessions it disconnected, on every door.
    pub disconnected: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnklineParams {
    /// The mask of the ban to lift, in any spelling of it.
    pub mask: String,
}

/// Runs an operator command as the admin: the events it answers, the
/// admin endpoints' refusals mapped to HTTP errors.
async fn admin_call(state: &Shared, cmd: Command) -> Result<Vec<Event>, ApiError> {
    hub_call(state, Caller::Admin, cmd)
        .await?
        .map_err(admin_refusal)
}

fn admin_refusal(e: ChatError) -> ApiError {
    match e {
        e @ (ChatError::Input(_) | ChatError::BadValue(_)) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_value", e.to_string())
        }
        e @ ChatError::NoSuchKline(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_kline", e.to_string())
        }
        e @ (ChatError::NoSuchUser(_) | ChatError::NotSuspended(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_account", e.to_string())
        }
        e => chat_error(e),
    }
}

/// The server-wide bans (K-lines) in force.
#[utoipa::path(
    get, path = "/api/v1/admin/klines", tag = "admin",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The bans", body = KlineList),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn klines(
    State(state): State<Shared>,
    _admin: Admin,
) -> Result<Json<KlineList>, ApiError> {
    let events = admin_call(&state, Command::Operator(OperCommand::Klines)).await?;
    let list = reply(events, |e| match e {
        Event::Klines(list) => Some(list),
        _ => None,
    })?;
    Ok(Json(KlineList {
        klines: list.iter().map(KlineJson::of).collect(),
    }))
}

/// Bans a mask from the whole server (a K-line), replacing a ban on the
/// same mask, and disconnects the sessions it matches on every door.
#[utoipa::path(
    post, path = "/api/v1/admin/klines", tag = "admin",
    security(("admin" = [])),
    request_body = KlineRequest,
    responses(
        (status = 201, description = "Set", body = KlineResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 409, description = "Not a mask the server will ban (bad_mask: not one, or too wide), or refused by the chat rules", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing field, bad minutes or reason", body = ErrorResponse),
        (status = 503, description = "Server stopping or cannot store it", body = ErrorResponse),
    )
)]
pub async fn add_kline(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<KlineRequest>,
) -> Result<(StatusCode, Json<KlineResponse>), ApiError> {
    if req.minutes == Some(0) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_value",
            "minutes must be at least 1 (leave it out for a ban for good)",
        ));
    }
    let reason = match req.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(message_text(&state, r)?),
    };
    let kline = Command::Operator(OperCommand::Kline {
        mask: req.mask,
        minutes: req.minutes,
        reason,
    });
    match hub_call(&state, Caller::Admin, kline).await? {
        Ok(events) => {
            let (mask, disconnected) = reply(events, |e| match e {
                Event::OperDone(OperDone::Klined { mask, disconnected }) => {
                    Some((mask, disconnected))
                }
                _ => None,
            })?;
            Ok((
                StatusCode::CREATED,
                Json(KlineResponse { mask, disconnected }),
            ))
        }
        // A mask the server will not ban (not one, or too wide): a refusal
        // of what was asked, not of its form (any string is a mask's form).
        Err(e @ (ChatError::Input(_) | ChatError::BadValue(_))) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "bad_mask",
            e.to_string(),
        )),
        Err(e) => Err(admin_refusal(e)),
    }
}

/// Lifts a server-wide ban.
#[utoipa::path(
    delete, path = "/api/v1/admin/klines", tag = "admin",
    security(("admin" = [])),
    params(UnklineParams),
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, description = "Bad query parameters", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 404, description = "No ban on that mask (or it is not a mask)", body = ErrorResponse),
        (status = 409, description = "Refused by the chat rules", body = ErrorResponse),
        (status = 503, description = "Server stopping or cannot store it", body = ErrorResponse),
    )
)]
pub async fn remove_kline(
    State(state): State<Shared>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<UnklineParams>,
) -> Result<StatusCode, ApiError> {
    match hub_call(
        &state,
        Caller::Admin,
        Command::Operator(OperCommand::Unkline(params.mask)),
    )
    .await?
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        // Not a mask at all: there is certainly no ban on it.
        Err(e @ (ChatError::Input(_) | ChatError::BadValue(_))) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_kline",
            e.to_string(),
        )),
        Err(e) => Err(admin_refusal(e)),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuspensionJson {
    /// The account.
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuspensionList {
    /// The suspended accounts, by name.
    pub suspensions: Vec<SuspensionJson>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SuspendRequest {
    /// The account to suspend.
    pub name: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuspendResponse {
    pub name: String,
    /// Its sessions that were disconnected, on every door.
    pub disconnected: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsuspendParams {
    /// The account to let back in.
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lockdown {
    /// Whether lockdown is on: no new guests and no registrations
    /// (accounts still log in).
    pub on: bool,
}

fn account_name(state: &Shared, name: &str) -> Result<Nick, ApiError> {
    Nick::parse(name, state.config.limits.max_nick_len).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_account",
            format!("there is no account called {name}"),
        )
    })
}

/// The suspended accounts.
#[utoipa::path(
    get, path = "/api/v1/admin/suspensions", tag = "admin",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The suspended accounts", body = SuspensionList),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn suspensions(
    State(state): State<Shared>,
    _admin: Admin,
) -> Result<Json<SuspensionList>, ApiError> {
    let events = admin_call(&state, Command::Operator(OperCommand::Suspensions)).await?;
    let list = reply(events, |e| match e {
        Event::Suspensions(list) => Some(list),
        _ => None,
    })?;
    Ok(Json(SuspensionList {
        suspensions: list
            .into_iter()
            .map(|(name, reason)| SuspensionJson {
                name: name.to_string(),
                reason,
            })
            .collect(),
    }))
}

/// Suspends an account: its sessions end on every door and it cannot log
/// in (nor use its tokens) until the suspension is lifted.
#[utoipa::path(
    post, path = "/api/v1/admin/suspensions", tag = "admin",
    security(("admin" = [])),
    request_body = SuspendRequest,
    responses(
        (status = 201, description = "Suspended", body = SuspendResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 404, description = "No such account", body = ErrorResponse),
        (status = 409, description = "Refused by the chat rules", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing field or bad reason", body = ErrorResponse),
        (status = 503, description = "Server stopping or cannot store it", body = ErrorResponse),
    )
)]
pub async fn suspend(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<SuspendRequest>,
) -> Result<(StatusCode, Json<SuspendResponse>), ApiError> {
    let name = account_name(&state, &req.name)?;
    let reason = match req.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(message_text(&state, r)?),
    };
    let suspend = Command::Operator(OperCommand::Suspend {
        name: name.clone(),
        reason,
    });
    let events = admin_call(&state, suspend).await?;
    let disconnected = reply(events, |e| match e {
        Event::OperDone(OperDone::Suspended { disconnected, .. }) => Some(disconnected),
        _ => None,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(SuspendResponse {
            name: name.to_string(),
            disconnected,
        }),
    ))
}

/// Lifts an account's suspension.
#[utoipa::path(
    delete, path = "/api/v1/admin/suspensions", tag = "admin",
    security(("admin" = [])),
    params(UnsuspendParams),
    responses(
        (status = 204, description = "Lifted"),
        (status = 400, description = "Bad query parameters", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 404, description = "No such account, or it is not suspended", body = ErrorResponse),
        (status = 409, description = "Refused by the chat rules", body = ErrorResponse),
        (status = 503, description = "Server stopping or cannot store it", body = ErrorResponse),
    )
)]
pub async fn unsuspend(
    State(state): State<Shared>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<UnsuspendParams>,
) -> Result<StatusCode, ApiError> {
    let name = account_name(&state, &params.name)?;
    admin_call(&state, Command::Operator(OperCommand::Unsuspend(name))).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lockdown_call(state: &Shared, on: Option<bool>) -> Result<Json<Lockdown>, ApiError> {
    let events = admin_call(state, Command::Operator(OperCommand::Lockdown(on))).await?;
    let on = reply(events, |e| match e {
        Event::OperDone(OperDone::Lockdown(on)) => Some(on),
        _ => None,
    })?;
    Ok(Json(Lockdown { on }))
}

/// Whether lockdown is on.
#[utoipa::path(
    get, path = "/api/v1/admin/lockdown", tag = "admin",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The switch", body = Lockdown),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn get_lockdown(
    State(state): State<Shared>,
    _admin: Admin,
) -> Result<Json<Lockdown>, ApiError> {
    lockdown_call(&state, None).await
}

/// Turns lockdown on (no new guests, no registrations; accounts still log
/// in) or off. Kept across restarts.
#[utoipa::path(
    put, path = "/api/v1/admin/lockdown", tag = "admin",
    security(("admin" = [])),
    request_body = Lockdown,
    responses(
        (status = 200, description = "The switch as it is now", body = Lockdown),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing or bad field", body = ErrorResponse),
        (status = 503, description = "Server stopping or cannot store it", body = ErrorResponse),
    )
)]
pub async fn set_lockdown(
    State(state): State<Shared>,
    _admin: Admin,
    ApiJson(req): ApiJson<Lockdown>,
) -> Result<Json<Lockdown>, ApiError> {
    lockdown_call(&state, Some(req.on)).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Entries before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Entries about this user (`nick`, `from` or `name`), any case.
    pub user: Option<String>,
    /// Entries of this kind: connect, disconnect, command, message,
    /// private_message, error, login, oper, announce, shutdown.
    pub kind: Option<String>,
    /// Most entries to return, the latest (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Matching entries, oldest first: the latest `limit` of them.
    /// Each has `time` (RFC 3339) and `kind`, and fields by kind.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<Map<String, Value>>,
    /// Whether older matching entries were left out (narrow with `until`).
    pub truncated: bool,
}

/// Audit log entries by time range, user and kind.
#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "admin",
    security(("admin" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "Matching entries", body = AuditPage),
        (status = 400, description = "Bad query parameters", body = ErrorResponse),
        (status = 401, description = "Not the admin token", body = ErrorResponse),
        (status = 403, description = "Admin endpoints disabled (no http.admin_token)", body = ErrorResponse),
        (status = 404, description = "The audit log is turned off", body = ErrorResponse),
        (status = 503, description = "Cannot read the audit log now", body = ErrorResponse),
    )
)]
pub async fn audit(
    State(state): State<Shared>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = AuditFilter::new(&params, state.config.limits.max_nick_len)?;
    let Some(path) = state.config.audit_path() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "audit_disabled",
            "the audit log is turned off (audit.enabled)",
        ));
    };
    // What happened before this request is in the file (the log's writer
    // runs behind the hub).
    state
        .hub
        .audit_synced()
        .await
        .map_err(super::errors::unavailable)?;
    let read = tokio::task::spawn_blocking(move || filter.scan(&path)).await;
    match read {
        Ok(Ok(page)) => Ok(Json(page)),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(Json(AuditPage {
            entries: Vec::new(),
            truncated: false,
        })),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the audit log");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                "cannot read the audit log now",
            ))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage",
            "cannot read the audit log now",
        )),
    }
}

/// What an audit query keeps.
struct AuditFilter {
    since: Option<DateTime<FixedOffset>>,
    until: Option<DateTime<FixedOffset>>,
    user: Option<UserMatch>,
    kind: Option<String>,
    limit: usize,
    max_nick: usize,
}

enum UserMatch {
    Key(NickKey),
    /// Not a valid name now; matched as written.
    Exact(String),
}

impl AuditFilter {
    fn new(p: &AuditParams, max_nick: usize) -> Result<AuditFilter, ApiError> {
        let time = |name: &str, v: &Option<String>| -> Result<_, ApiError> {
            v.as_deref()
                .map(|s| {
                    DateTime::parse_from_rfc3339(s).map_err(|e| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "bad_query",
                            format!("{name} must be an RFC 3339 time ({e})"),
                        )
                    })
                })
                .transpose()
        };
        let limit = p.limit.unwrap_or(DEFAULT_AUDIT);
        if !(1..=MAX_AUDIT).contains(&limit) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("limit must be between 1 and {MAX_AUDIT}"),
            ));
        }
        let user = p.user.as_deref().map(|u| match Nick::parse(u, max_nick) {
            Ok(n) => UserMatch::Key(n.key()),
            Err(_) => UserMatch::Exact(u.to_owned()),
        });
        Ok(AuditFilter {
            since: time("since", &p.since)?,
            until: time("until", &p.until)?,
            user,
            kind: p.kind.clone(),
            limit,
            max_nick,
        })
    }

    fn keeps(&self, entry: &Map<String, Value>) -> bool {
        if let Some(kind) = &self.kind
            && entry.get("kind").and_then(Value::as_str) != Some(kind.as_str())
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = entry
                .get("time")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        if let Some(user) = &self.user {
            let names = ["nick", "from", "name"]
                .iter()
                .filter_map(|f| entry.get(*f).and_then(Value::as_str));
            let mut hit = false;
            for name in names {
                hit |= match user {
                    UserMatch::Key(key) => Nick::parse(name, self.max_nick.max(name.len()))
                        .is_ok_and(|n| n.key() == *key),
                    UserMatch::Exact(s) => name == s,
                };
            }
            if !hit {
                return false;
            }
        }
        true
    }

    /// Reads the log through, keeping the latest `limit` matches. A line
    /// that is not a JSON object (one being written) is skipped.
    fn scan(&self, path: &Path) -> std::io::Result<AuditPage> {
        let file = std::fs::File::open(path)?;
        let mut kept: VecDeque<Map<String, Value>> = VecDeque::with_capacity(self.limit.min(64));
        let mut truncated = false;
        for line in BufReader::new(file).split(b'\n') {
            let line = line?;
            let Ok(Value::Object(entry)) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if !self.keeps(&entry) {
                continue;
            }
            if kept.len() == self.limit {
                kept.pop_front();
                truncated = true;
            }
            kept.push_back(entry);
        }
        Ok(AuditPage {
            entries: kept.into(),
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json).unwrap() {
            Value::Object(m) => m,
            _ => panic!(),
        }
    }

    #[test]
    fn filters() {
        let p = AuditParams {
            since: Some("2026-01-01T00:00:00Z".into()),
            until: Some("2026-01-02T00:00:00+00:00".into()),
            user: Some("Alice".into()),
            kind: Some("message".into()),
            limit: None,
        };
        let f = AuditFilter::new(&p, 20).unwrap();
        assert!(f.keeps(&entry(
            r#"{"time":"2026-01-01T10:00:00.000Z","kind":"message","from":"alice"}"#
        )));
        assert!(!f.keeps(&entry(
            r#"{"time":"2026-01-02T00:00:00.000Z","kind":"message","from":"alice"}"#
        )));
        assert!(!f.keeps(&entry(
            r#"{"time":"2026-01-01T10:00:00.000Z","kind":"login","name":"alice"}"#
        )));
        assert!(!f.keeps(&entry(
            r#"{"time":"2026-01-01T10:00:00.000Z","kind":"message","from":"bob"}"#
        )));
        let bad = AuditParams {
            since: Some("yesterday".into()),
            ..AuditParams::default()
        };
        assert_eq!(
            AuditFilter::new(&bad, 20).err().unwrap().status,
            StatusCode::BAD_REQUEST
        );
        let bad = AuditParams {
            limit: Some(0),
            ..AuditParams::default()
        };
        assert!(AuditFilter::new(&bad, 20).is_err());
    }
}
