//! Extractors of the REST API that answer every bad request with an
//! [`ApiError`] (JSON), never axum's plain-text rejections: the request
//! body as JSON ([`ApiJson`]), the query string ([`ApiQuery`]), path
//! parameters ([`ApiPath`]), and who is asking: a user's login token
//! ([`AuthUser`]) or the admin token ([`Admin`]).

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use blake2::{Blake2b512, Digest};
use confab_core::NickKey;
use serde::de::DeserializeOwned;

use super::{ApiError, Shared};

/// A JSON request body of at most `http.max_body_bytes`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, ApiError> {
        let limit = state.config.http.max_body_bytes;
        check_length(req.headers(), limit)?;
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// Refuses a body whose declared length is over `limit` before reading it
/// (a body without a length is cut at the limit while read).
pub fn check_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

fn json_rejection(rejection: JsonRejection, limit: usize) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            explain("field", &e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not valid JSON: {}",
                strip_prefix(&e.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON, with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e, limit),
        other => ApiError::new(other.status(), "bad_request", other.body_text()),
    }
}

pub fn bytes_rejection(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("could not read the request body: {}", rejection.body_text()),
        )
    }
}

/// The query string, deserialized.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                explain("query parameter", &e.body_text()),
            )),
            Err(other) => Err(ApiError::new(
                other.status(),
                "bad_query",
                explain("query parameter", &other.body_text()),
            )),
        }
    }
}

/// Path parameters, deserialized.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    let text = explain("path segment", &rejection.body_text());
    ApiError::new(rejection.status(), "bad_path", text)
}

/// The prefixes axum puts before the deserializer's words.
const PREFIXES: &[&str] = &[
    "Failed to deserialize query string: ",
    "Failed to deserialize the JSON body into the target type: ",
    "Failed to parse the request body as JSON: ",
    "Failed to deserialize form: ",
    "Invalid URL: ",
    "Wrong number of path arguments for `Path`. ",
];

fn strip_prefix(text: &str) -> &str {
    PREFIXES
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text)
}

/// A deserializer's complaint (`limit: invalid digit found in string`)
/// in the user's terms (`the query parameter limit must be a whole
/// number`): what was wrong, with which `kind` of value, never a library's
/// wording.
pub fn explain(kind: &str, raw: &str) -> String {
    let text = strip_prefix(raw);
    // "name: what" when the deserializer knows which value it was.
    let (name, what) = match text.split_once(": ") {
        Some((name, what))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c)) =>
        {
            (Some(name), what)
        }
        _ => (None, text),
    };
    // serde_json adds where in the body; the name says it better.
    let what = match (name, what.find(" at line ")) {
        (Some(_), Some(at)) => &what[..at],
        _ => what,
    };
    if let Some(field) = what
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return format!("the {kind} {field} is missing");
    }
    let said = if what.contains("invalid digit") || what.contains("invalid float literal") {
        "must be a number".to_owned()
    } else if what.contains("too large to fit") {
        "is too large".to_owned()
    } else if what.contains("too small to fit") {
        "is too small".to_owned()
    } else if what.contains("from empty string") {
        "must not be empty".to_owned()
    } else if let Some(rest) = what.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("must be {want}, not {got}"),
            None => format!("has the wrong type ({rest})"),
        }
    } else if let Some(rest) = what.strip_prefix("unknown variant ") {
        match rest.split_once(", expected ") {
            Some((got, want)) => format!("must be {want}, not {got}"),
            None => format!("is not one of the choices ({rest})"),
        }
    } else if let Some(rest) = what.strip_prefix("unknown field ") {
        return match rest.split_once(", expected ") {
            Some((got, want)) => format!("there is no {kind} {got} (expected {want})"),
            None => format!("there is no {kind} {rest}"),
        };
    } else {
        format!("is not valid: {what}")
    };
    match name {
        Some(name) => format!("the {kind} {name} {said}"),
        None => format!("a {kind} {said}"),
    }
}

#[cfg(test)]
mod explain_tests {
    use super::explain;

    #[test]
    fn deserializer_complaints_read_as_plain_words() {
        let cases = [
            (
                "Failed to deserialize query string: limit: invalid digit found in string",
                "the query parameter limit must be a number",
            ),
            (
                "Failed to deserialize query string: limit: number too large to fit in target type",
                "the query parameter limit is too large",
            ),
            (
                "Failed to deserialize query string: missing field `q`",
                "the query parameter q is missing",
            ),
            (
                "Failed to deserialize the JSON body into the target type: text: invalid type: integer `5`, expected a string at line 1 column 10",
                "the query parameter text must be a string, not integer `5`",
            ),
            (
                "Failed to deserialize the JSON body into the target type: kind: unknown variant `shout`, expected `normal` or `action` at line 1 column 20",
                "the query parameter kind must be `normal` or `action`, not `shout`",
            ),
        ];
        for (raw, plain) in cases {
            assert_eq!(explain("query parameter", raw), plain, "{raw}");
            assert!(!explain("field", raw).contains("Failed to"), "{raw}");
        }
    }
}

/// The account a request acts for, from its `Authorization: Bearer`
/// login token.
pub struct AuthUser(pub NickKey);

impl FromRequestParts<Shared> for AuthUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let AuthToken(claims) = AuthToken::from_request_parts(parts, state).await?;
        Ok(AuthUser(claims.account))
    }
}

/// The caller's token, checked (genuine, unexpired, not revoked) and its
/// call charged to the account's flood bucket: for the calls about the
/// token itself (logout, refresh, a new password).
pub struct AuthToken(pub crate::tokens::Claims);

impl AuthToken {
    async fn check(parts: &Parts, state: &Shared, token: &str) -> Result<AuthToken, Response> {
        use crate::tokens::Refused;
        let claims = match crate::tokens::check(&state.tokens, &state.hub, token).await {
            Ok((claims, _)) => claims,
            Err(e @ (Refused::Token(_) | Refused::NoAccount)) => {
                return Err(unauthorized(&e.to_string()));
            }
            Err(e) => {
                let e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                );
                return Err(e.into_response());
            }
        };
        // Every call is charged to the account's flood bucket, the one its
        // chat connections draw on too.
        let key = crate::flood::Key::Account(claims.account.clone());
        flood_check(parts, state, &key).map_err(too_many)?;
        Ok(AuthToken(claims))
    }
}

impl FromRequestParts<Shared> for AuthToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            unauthorized("log in first: send Authorization: Bearer <token> (POST /api/v1/login)")
        })?;
        let token = token.to_owned();
        AuthToken::check(parts, state, &token).await
    }
}

/// The peer's address (the server puts it in every request).
pub fn peer(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// Charges `key` one call; over the flood limit, the wait (answered
/// with [`too_many`]: REST cannot be paced, so it is told to come back).
pub fn flood_check(parts: &Parts, state: &Shared, key: &crate::flood::Key) -> Result<(), Duration> {
    state.hub.flood().check(key, peer(parts))
}

/// 429, with the seconds to wait in `Retry-After` and in the message.
pub fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    too_many_because(wait, &format!("too many requests; try again in {secs} s"))
}

/// 429 with `Retry-After` and `message`.
pub fn too_many_because(wait: Duration, message: &str) -> Response {
    let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    (
        [(RETRY_AFTER, secs.to_string())],
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message),
    )
        .into_response()
}

/// A caller charged by address: the login call.
pub struct ByAddress;

impl FromRequestParts<Shared> for ByAddress {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let key = crate::flood::Key::Addr(peer(parts));
        flood_check(parts, state, &key).map_err(too_many)?;
        Ok(ByAddress)
    }
}

/// An admin request: `Authorization: Bearer <http.admin_token>`.
pub struct Admin;

impl FromRequestParts<Shared> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let expected = &state.config.http.admin_token;
        if expected.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin endpoints are disabled: http.admin_token is not set",
            )
            .into_response());
        }
        match bearer(&parts.headers) {
            Some(token) if same_secret(token, expected) => Ok(Admin),
            Some(_) => Err(unauthorized("that is not the admin token")),
            None => Err(unauthorized(
                "send the admin token: Authorization: Bearer <http.admin_token>",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> Response {
    (
        [(WWW_AUTHENTICATE, "Bearer")],
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
    )
        .into_response()
}

/// Compares two secrets in time independent of where they differ (and of
/// their lengths): their digests are compared in full.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    let a = Blake2b512::digest(given.as_bytes());
    let b = Blake2b512::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn secrets() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3cre"));
        assert!(!same_secret("", "s3cret"));
    }
}
