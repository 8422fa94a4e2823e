//! The upgrade from HTTP/1.1 to WebSocket (RFC 6455, section 4.2): the
//! client's handshake is checked, a subprotocol chosen, `101 Switching
//! Protocols` answered, and the upgraded connection handed to a door as a
//! [`Socket`]. A request that is not a WebSocket handshake gets a JSON
//! error, as every refusal does.

use axum::extract::FromRequestParts;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::ApiError;
use crate::websocket::Socket;

/// The only WebSocket version there is (RFC 6455).
const VERSION: &str = "13";

/// A WebSocket handshake, checked, waiting for its answer.
pub struct Upgrade {
    key: HeaderValue,
    /// The client's `Sec-WebSocket-Protocol`, if it offered any.
    offered: Option<HeaderValue>,
    on_upgrade: OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Upgrade, Response> {
        let headers = &parts.headers;
        if !has_token(headers, CONNECTION, "upgrade") || !has_token(headers, UPGRADE, "websocket") {
            let error = ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "not_websocket",
                "this path takes WebSocket connections only \
                 (Connection: Upgrade, Upgrade: websocket)",
            );
            return Err(([(UPGRADE, "websocket")], error).into_response());
        }
        if headers
            .get(SEC_WEBSOCKET_VERSION)
            .map(HeaderValue::as_bytes)
            != Some(VERSION.as_bytes())
        {
            let error = ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "bad_websocket_version",
                "this server speaks WebSocket version 13 (Sec-WebSocket-Version: 13)",
            );
            return Err(([(SEC_WEBSOCKET_VERSION, VERSION)], error).into_response());
        }
        let Some(key) = headers.get(SEC_WEBSOCKET_KEY).filter(|k| !k.is_empty()) else {
            let error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "a WebSocket handshake needs a Sec-WebSocket-Key",
            );
            return Err(error.into_response());
        };
        let key = key.clone();
        let offered = headers.get(SEC_WEBSOCKET_PROTOCOL).cloned();
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            let error = ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "not_websocket",
                "this connection cannot be upgraded to a WebSocket",
            );
            return Err(error.into_response());
        };
        Ok(Upgrade {
            key,
            offered,
            on_upgrade,
        })
    }
}

impl Upgrade {
    /// The first subprotocol the client offered that is in `supported`.
    pub fn protocol(&self, supported: &[&'static str]) -> Option<&'static str> {
        let offered = self.offered.as_ref()?.to_str().ok()?;
        offered
            .split(',')
            .map(str::trim)
            .find_map(|p| supported.iter().find(|s| **s == p).copied())
    }

    /// Answers `101 Switching Protocols` (naming `protocol`, if chosen),
    /// with the WebSocket to come: ready once the client has the answer,
    /// `None` if the connection failed first. The caller spawns the door
    /// that awaits it, so that a connection is one task from the start.
    pub fn accept(
        self,
        protocol: Option<&'static str>,
        limits: crate::websocket::Limits,
    ) -> (
        Response,
        impl Future<Output = Option<Socket>> + Send + 'static,
    ) {
        let accept = derive_accept_key(self.key.as_bytes());
        let socket = self.on_upgrade.map(move |upgraded| match upgraded {
            Ok(io) => Some(Socket::new(io, limits)),
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                None
            }
        });
        let mut response = (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (CONNECTION, HeaderValue::from_static("upgrade")),
                (UPGRADE, HeaderValue::from_static("websocket")),
            ],
        )
            .into_response();
        let headers = response.headers_mut();
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = protocol {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        (response, socket)
    }
}

/// Whether a comma-separated header (any of its lines) holds `token`,
/// in any case.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_in_lists_in_any_case() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&h, CONNECTION, "upgrade"));
        assert!(!has_token(&h, UPGRADE, "websocket"));
        h.append(UPGRADE, HeaderValue::from_static("h2c"));
        h.append(UPGRADE, HeaderValue::from_static("WebSocket"));
        assert!(has_token(&h, UPGRADE, "websocket"));
    }
}
