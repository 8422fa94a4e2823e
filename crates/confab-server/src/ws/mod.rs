//! The WebSocket door: confab's JSON protocol (docs/protocol.md).

use std::net::SocketAddr;

use axum::extract::ws::WebSocket;

use crate::http::Shared;

/// Serves one WebSocket connection speaking the JSON protocol.
pub async fn serve(socket: WebSocket, peer: SocketAddr, state: Shared) {
    let _ = (socket, peer, state);
}
