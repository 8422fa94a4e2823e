//! The REST API's user endpoints under `/api/v1` (docs/rest.md): log in
//! for a token, list rooms and users, read and search a room's history,
//! send to a room or a user, read the user's read markers. Each handler parses its input into core
//! types (`Nick::parse`, `RoomName::parse`, `Text::parse`), runs the
//! same `Command` a session would, as a caller with no session
//! ([`HubHandle::call`](crate::hub_task::HubHandle::call)), and renders
//! the events it answers as JSON; every refusal is an [`ApiError`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use confab_core::hub::Caller;
use confab_core::store::{Bound, HistoryQuery};
use confab_core::{
    ChatError, Command, Event, Marker, Message, MsgId, Nick, NickKey, RoomName, Target, Text,
    Window,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};

use super::errors::{ErrorResponse, chat_error, unavailable};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, ByAddress, too_many_because};
use super::session::{LoginResponse, new_token};
use super::{ApiError, Shared};
use crate::auth::{self, LoginError};
use crate::time::rfc3339;
use crate::uploads::AttachError;
use crate::wire::{MessageJson, MessageKind};

/// Most messages one page of history or search returns.
pub const MAX_PAGE: usize = 100;
/// Messages a page has when the request does not say.
pub const DEFAULT_PAGE: usize = 50;

/// A message just sent, as stored, and whether it was kept for an offline
/// recipient.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SentJson {
    #[serde(flatten)]
    pub message: MessageJson,
    /// Present when the recipient was offline and the message was kept
    /// for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<KeptJson>,
}

/// A private message kept for an offline recipient.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeptJson {
    /// The name has no account: whoever next uses it reads the message.
    pub guest: bool,
    /// What happened, in words for the sender.
    pub notice: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The account's name.
    pub name: String,
    pub password: String,
}

/// Checks a password and hands out a login token.
#[utoipa::path(
    post, path = "/api/v1/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Wrong name or password", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing or mistyped fields", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _: ByAddress,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, Response> {
    let wrong = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_login",
            "wrong name or password",
        )
        .into_response()
    };
    let door = crate::metrics::door("rest");
    // A name that cannot exist has no account.
    let name = Nick::parse(&req.name, state.config.limits.max_nick_len).map_err(|_| {
        auth::log_login(door, None, peer.ip(), true, Err("not a valid name"));
        wrong()
    })?;
    let account = match auth::log_in(&state.hub, "rest", &name, req.password, peer.ip()).await {
        Err(gone) => return Err(unavailable(gone).into_response()),
        Ok(Err(LoginError::Wrong)) => return Err(wrong()),
        Ok(Err(e @ LoginError::Limited(secs))) => {
            return Err(too_many_because(Duration::from_secs(secs), &e.to_string()));
        }
        Ok(Err(LoginError::Store(e))) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage",
                format!("cannot log in now: {e}"),
            )
            .into_response());
        }
        Ok(Ok(account)) => account,
    };
    // A suspended or K-lined account gets no token.
    let logged =
        |outcome| auth::log_login(door, Some(account.name.as_str()), peer.ip(), true, outcome);
    match state
        .hub
        .standing(Caller::Account(account.name.key()))
        .await
    {
        Err(gone) => return Err(unavailable(gone).into_response()),
        Ok(Err(e)) => {
            logged(Err(&e.to_string()));
            return Err(chat_error(e).into_response());
        }
        Ok(Ok(_)) => {}
    }
    logged(Ok(()));
    Ok(Json(new_token(&state, &account.name)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomJson {
    pub name: String,
    /// Members online now.
    pub members: usize,
    pub topic: Option<String>,
}

/// The rooms the token's user can see.
#[utoipa::path(
    get, path = "/api/v1/rooms", tag = "rooms",
    security(("token" = [])),
    responses(
        (status = 200, description = "Rooms by name", body = [RoomJson]),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn rooms(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<RoomJson>>, ApiError> {
    let events = call(&state, user, Command::Rooms).await?;
    let rooms = reply(events, |e| match e {
        Event::Rooms(rooms) => Some(rooms),
        _ => None,
    })?;
    Ok(Json(
        rooms
            .into_iter()
            .map(|r| RoomJson {
                name: r.name.to_string(),
                members: r.members,
                topic: r.topic.map(|t| t.as_str().to_owned()),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserJson {
    pub name: String,
    pub online: bool,
    /// When the user was last connected (RFC 3339); null while online.
    #[schema(format = DateTime)]
    pub last_seen: Option<String>,
}

/// Every known user, online or not.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    security(("token" = [])),
    responses(
        (status = 200, description = "Users by name", body = [UserJson]),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn users(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<UserJson>>, ApiError> {
    let events = call(&state, user, Command::Users).await?;
    let users = reply(events, |e| match e {
        Event::Users(users) => Some(users),
        _ => None,
    })?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserJson {
                name: u.nick.to_string(),
                online: u.online,
                last_seen: u.last_seen.map(rfc3339),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages with a smaller id (page back from the oldest id seen).
    #[param(minimum = 0)]
    pub before: Option<i64>,
    /// Only messages with a larger id (page forward from the newest id seen).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Most messages to return (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<MessageJson>,
    /// Whether more messages lie beyond this page: older ones when paging
    /// back (no `after`), newer ones when paging forward (`after` given).
    pub has_more: bool,
}

/// A page of a room's history. Without `after` it is the latest
/// messages (before `before` if given); with `after`, the earliest after
/// it (and before `before` if given).
#[utoipa::path(
    get, path = "/api/v1/rooms/{room}/messages", tag = "rooms",
    security(("token" = [])),
    params(
        ("room" = String, Path, description = "The room, with or without its `#` (`general` or `%23general`)", example = "general"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, description = "Bad query parameters", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "A ban of the room matches the user (`banned`), or the account is suspended or banned from the server", body = ErrorResponse),
        (status = 404, description = "No such room (or not readable)", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn history(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiPath(room): ApiPath<String>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<MessagePage>, ApiError> {
    let room = room_name(&state, &room)?;
    let limit = page_limit(&state, params.limit)?;
    let id = |name: &str, v: Option<i64>| match v {
        Some(n) if n < 0 => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{name} must be a message id (0 or more)"),
        )),
        other => Ok(other.map(|n| Bound::Id(MsgId(n.unsigned_abs())))),
    };
    let (after, before) = (id("after", params.after)?, id("before", params.before)?);
    let forward = after.is_some();
    let query = HistoryQuery {
        after,
        before,
        limit: limit + 1,
        latest: !forward,
    };
    let mut messages = messages(call(&state, user, room_history(room, query)).await?)?;
    let has_more = messages.len() > limit;
    if has_more {
        if forward {
            messages.truncate(limit);
        } else {
            messages.drain(..messages.len() - limit);
        }
    }
    Ok(Json(MessagePage {
        messages: messages.iter().map(MessageJson::from).collect(),
        has_more,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to look for (all must match; case and accents ignored).
    pub q: String,
    /// Most messages to return (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// Matches, newest last.
    pub messages: Vec<MessageJson>,
}

/// Messages of a room matching words.
#[utoipa::path(
    get, path = "/api/v1/rooms/{room}/search", tag = "rooms",
    security(("token" = [])),
    params(
        ("room" = String, Path, description = "The room, with or without its `#`", example = "general"),
        SearchParams,
    ),
    responses(
        (status = 200, description = "Matching messages", body = SearchResults),
        (status = 400, description = "Bad query parameters", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "A ban of the room matches the user (`banned`), or the account is suspended or banned from the server", body = ErrorResponse),
        (status = 404, description = "No such room (or not readable)", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn search(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiPath(room): ApiPath<String>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let room = room_name(&state, &room)?;
    let limit = page_limit(&state, params.limit)?;
    if !params.q.chars().any(char::is_alphanumeric) {
        // The index keeps letters and digits only: such a query matches
        // nothing, in a room that must still exist and be readable.
        let query = HistoryQuery::before(None, 1);
        call(&state, user, room_history(room, query)).await?;
        return Ok(Json(SearchResults {
            messages: Vec::new(),
        }));
    }
    // The index keeps words only: control characters separate them like
    // spaces do, and any length is searched for.
    let words: String = params
        .q
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let Ok(text) = Text::parse(&words, usize::MAX) else {
        return Ok(Json(SearchResults {
            messages: Vec::new(),
        }));
    };
    let search = Command::Search {
        text,
        room: Some(room),
        limit,
    };
    let messages = messages(call(&state, user, search).await?)?;
    Ok(Json(SearchResults {
        messages: messages.iter().map(MessageJson::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SendRequest {
    /// The message: at most `limits.max_message_bytes` characters (and as
    /// many bytes of UTF-8), with something visible, and no control
    /// characters but tab and IRC formatting codes.
    pub text: String,
    #[serde(default)]
    pub kind: MessageKind,
    /// The id of an upload (POST /api/v1/uploads): its link is appended
    /// to the text, so every door shows it.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub upload: Option<String>,
    /// Client-only tags to pass on with it (IRCv3 message-tags, such as
    /// `+draft/reply`: the id of the message it answers): `+name` to a
    /// value (`""` for none); see `crate::wire::client_tags` for the
    /// limits.
    #[serde(default)]
    #[schema(schema_with = crate::wire::tags_schema)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Sends a message to a room as the token's user (who must be a member).
#[utoipa::path(
    post, path = "/api/v1/rooms/{room}/messages", tag = "rooms",
    security(("token" = [])),
    params(("room" = String, Path, description = "The room, with or without its `#`", example = "general")),
    request_body = SendRequest,
    responses(
        (status = 201, description = "Sent and stored", body = SentJson),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not allowed to send there", body = ErrorResponse),
        (status = 404, description = "No such room, or no such upload", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing fields, bad text or bad tags", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn send_to_room(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiPath(room): ApiPath<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<SentJson>), ApiError> {
    let room = room_name(&state, &room)?;
    send(&state, user, Target::Room(room), req).await
}

/// Sends a private message to a user as the token's user (kept for them
/// if they are offline).
#[utoipa::path(
    post, path = "/api/v1/users/{name}/messages", tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "The recipient's name", example = "alice")),
    request_body = SendRequest,
    responses(
        (status = 201, description = "Sent and stored", body = SentJson),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such user, or no such upload", body = ErrorResponse),
        (status = 409, description = "The user cannot take messages now: too many unread (`offline_queue_full`), or an offline guest on a server that keeps nothing for guests (`guest_not_kept`)", body = ErrorResponse),
        (status = 413, description = "Body too large", body = ErrorResponse),
        (status = 415, description = "Not JSON", body = ErrorResponse),
        (status = 422, description = "Missing fields, bad text or bad tags", body = ErrorResponse),
        (status = 503, description = "Server stopping or store failing", body = ErrorResponse),
    )
)]
pub async fn send_to_user(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<(StatusCode, Json<SentJson>), ApiError> {
    let bare = name.strip_prefix('@').unwrap_or(&name);
    let nick = Nick::parse(bare, state.config.limits.max_nick_len).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_user",
            format!("there is no user called {name}"),
        )
    })?;
    send(&state, user, Target::User(nick), req).await
}

async fn send(
    state: &Shared,
    user: NickKey,
    to: Target,
    req: SendRequest,
) -> Result<(StatusCode, Json<SentJson>), ApiError> {
    let mut text = message_text(state, &req.text)?;
    if let Some(id) = &req.upload {
        text = crate::uploads::attach(&state.uploads, &state.config, &text, id).map_err(
            |e| match e {
                AttachError::NoSuchUpload(_) => {
                    ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string())
                }
                AttachError::Text(e) => bad_text(&e.to_string()),
            },
        )?;
    }
    let tags = crate::wire::client_tags(&req.tags).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_tags",
            format!("those tags cannot be sent: {e}"),
        )
    })?;
    let send = Command::Send {
        to: Some(to),
        kind: req.kind.into(),
        text,
        tags,
    };
    let events = call(state, user, send).await?;
    // Kept for an offline recipient: `true` when a guest name.
    let kept = events.iter().find_map(|e| match e {
        Event::KeptForOffline { guest, .. } => Some(*guest),
        _ => None,
    });
    let msg = reply(events, |e| match e {
        Event::Message { msg, .. } => Some(msg),
        _ => None,
    })?;
    let kept = kept.map(|guest| {
        let to = msg.to.to_string();
        KeptJson {
            guest,
            notice: if guest {
                format!("{to} is offline and has no account: the message is kept for whoever next uses the name")
            } else {
                format!("{to} is offline; the message is kept for when they return")
            },
        }
    });
    let message = MessageJson::from(&msg);
    Ok((StatusCode::CREATED, Json(SentJson { message, kept })))
}

/// Where the user stopped reading a conversation (docs/protocol.md has
/// the rules: the user's own, shared by every door, forward only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadMarkerJson {
    /// A room (`#general`) or, for a private conversation, the other
    /// user's name.
    pub target: String,
    /// The id of the latest message read; null when nothing was marked
    /// read, or no message lay at or before `marker_time` (a marker set
    /// over IRC, by time).
    #[schema(minimum = 1)]
    pub msg: Option<u64>,
    /// The time read up to (RFC 3339, UTC, milliseconds): the time of
    /// message `msg`, or the time an IRC client marked; null when nothing
    /// was marked read.
    #[schema(format = DateTime, example = "2026-11-23T20:00:00.123Z")]
    pub marker_time: Option<String>,
}

impl ReadMarkerJson {
    fn new(target: &Target, marker: Option<Marker>) -> ReadMarkerJson {
        ReadMarkerJson {
            target: target.to_string(),
            msg: marker.and_then(|m| m.msg).map(|id| id.0),
            marker_time: marker.map(|m| rfc3339(m.time)),
        }
    }
}

/// Every read marker of the token's user: rooms first, then private
/// conversations, each by name.
#[utoipa::path(
    get, path = "/api/v1/read-markers", tag = "users",
    security(("token" = [])),
    responses(
        (status = 200, description = "The user's read markers", body = [ReadMarkerJson]),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn read_markers(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
) -> Result<Json<Vec<ReadMarkerJson>>, ApiError> {
    let events = call(&state, user, Command::ReadMarkers).await?;
    let list = reply(events, |e| match e {
        Event::ReadMarkers(list) => Some(list),
        _ => None,
    })?;
    Ok(Json(
        list.iter()
            .map(|(t, m)| ReadMarkerJson::new(t, Some(*m)))
            .collect(),
    ))
}

/// Where the token's user stopped reading one conversation (`null`s when
/// nothing was marked read there).
#[utoipa::path(
    get, path = "/api/v1/read-markers/{target}", tag = "users",
    security(("token" = [])),
    params(("target" = String, Path,
        description = "A room with its `#` (sent as `%23general`), or a user's name for the private conversation with them",
        example = "#general")),
    responses(
        (status = 200, description = "The read marker", body = ReadMarkerJson),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 403, description = "The account is suspended or banned from the server", body = ErrorResponse),
        (status = 404, description = "Not a room or user name", body = ErrorResponse),
        (status = 503, description = "Server stopping", body = ErrorResponse),
    )
)]
pub async fn read_marker(
    State(state): State<Shared>,
    AuthUser(user): AuthUser,
    ApiPath(target): ApiPath<String>,
) -> Result<Json<ReadMarkerJson>, ApiError> {
    let limits = &state.config.limits;
    let parsed = if target.starts_with('#') {
        RoomName::parse(&target, limits.max_room_len)
            .ok()
            .map(Target::Room)
    } else {
        Nick::parse(&target, limits.max_nick_len)
            .ok()
            .map(Target::User)
    };
    let parsed = parsed.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_target",
            format!("{target} is not a room (#name) or a user's name"),
        )
    })?;
    let events = call(&state, user, Command::GetReadMarker(parsed)).await?;
    let (target, marker) = reply(events, |e| match e {
        Event::ReadMarker { target, marker } => Some((target, marker)),
        _ => None,
    })?;
    Ok(Json(ReadMarkerJson::new(&target, marker)))
}

/// What a message text may hold, as a JSON Schema pattern (ECMA-262, as
/// JSON Schema reads patterns: `$` is the very end, and `\s` includes
/// U+FEFF): no control characters but tab and IRC formatting codes, and
/// at least one character that is neither a control nor white space.
/// [`message_text`] checks exactly this (and the length).
/// What a reason may hold (see [`TEXT_PATTERN`]), blank included (no
/// reason).
pub const REASON_PATTERN: &str = r"^[^\x00\x05-\x08\x0a-\x0e\x10\x12-\x15\x17-\x1c\x7f-\x9f]*$";

pub const TEXT_PATTERN: &str = concat!(
    r"^[^\x00\x05-\x08\x0a-\x0e\x10\x12-\x15\x17-\x1c\x7f-\x9f]*",
    r"[^\s\x00-\x1f\x7f-\x9f]",
    r"[^\x00\x05-\x08\x0a-\x0e\x10\x12-\x15\x17-\x1c\x7f-\x9f]*$",
);

/// A control character a text may not hold (tab and IRC formatting codes
/// may be).
fn forbidden_control(c: char) -> bool {
    c.is_control() && c != '\t' && !confab_core::text::is_format_code(c)
}

/// A message or announcement text from a request, checked as the
/// document says (see [`TEXT_PATTERN`]): at most `limits.max_message_bytes`
/// characters, and bytes; no forbidden control character anywhere (not
/// even trailing); something visible.
pub fn message_text(state: &Shared, raw: &str) -> Result<Text, ApiError> {
    let max = state.config.limits.max_message_bytes;
    if raw.chars().count() > max {
        return Err(bad_text(&format!("it is longer than {max} characters")));
    }
    if raw.chars().any(forbidden_control) {
        return Err(bad_text("it holds control characters"));
    }
    let blank = |c: char| c.is_whitespace() || c == '\u{feff}' || c.is_control();
    if raw.chars().all(blank) {
        return Err(bad_text("it is empty"));
    }
    Text::parse(raw, max).map_err(|e| bad_text(&e.to_string()))
}

fn bad_text(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "bad_text",
        format!("that text cannot be sent: {why}"),
    )
}

/// A room named in a path: `general`, `#general` (sent as `%23general`).
fn room_name(state: &Shared, raw: &str) -> Result<RoomName, ApiError> {
    let name = if raw.starts_with('#') {
        raw.to_owned()
    } else {
        format!("#{raw}")
    };
    RoomName::parse(&name, state.config.limits.max_room_len).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_room",
            format!("there is no room called {name}"),
        )
    })
}

/// The page size asked for, checked; at most what the hub reads at once
/// less the one extra message that tells whether there is more.
fn page_limit(state: &Shared, asked: Option<usize>) -> Result<usize, ApiError> {
    let limit = asked.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let most = state.config.chat.max_history.saturating_sub(1).max(1);
    Ok(limit.min(most))
}

/// Runs `cmd` for the account `user` on the hub: the events it answers,
/// refusals mapped to HTTP errors.
async fn call(state: &Shared, user: NickKey, cmd: Command) -> Result<Vec<Event>, ApiError> {
    hub_call(state, Caller::Account(user), cmd)
        .await?
        .map_err(chat_error)
}

/// Runs `cmd` for `caller` on the hub: the events it answers, or the
/// hub's refusal for the caller to map (the hub's absence is a 503).
pub(super) async fn hub_call(
    state: &Shared,
    caller: Caller,
    cmd: Command,
) -> Result<Result<Vec<Event>, ChatError>, ApiError> {
    state.hub.call(caller, cmd).await.map_err(unavailable)
}

/// The one event of a call's answer that `pick` takes (a reply the hub
/// always gives for that command: its absence is a bug).
pub(super) fn reply<T>(
    events: Vec<Event>,
    pick: impl FnMut(Event) -> Option<T>,
) -> Result<T, ApiError> {
    events.into_iter().find_map(pick).ok_or_else(unexpected)
}

/// A room's history as a command.
fn room_history(room: RoomName, query: HistoryQuery) -> Command {
    Command::ChatHistory {
        target: Target::Room(room),
        window: Window::Query(query),
    }
}

/// The messages a read answers (history or search).
fn messages(events: Vec<Event>) -> Result<Vec<Message>, ApiError> {
    reply(events, |e| match e {
        Event::History { messages, .. } | Event::SearchResults { messages, .. } => Some(messages),
        _ => None,
    })
}

fn unexpected() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the hub answered something unexpected",
    )
}
