//! IRC over WebSocket (the IRCv3 WebSocket transport).

use std::net::SocketAddr;

use axum::extract::ws::WebSocket;

use crate::http::Shared;

/// Serves the IRC door over `socket`: one IRC line per WebSocket message,
/// as text (`text.ircv3.net`) or binary (`binary.ircv3.net`) frames.
pub async fn serve(socket: WebSocket, binary: bool, peer: SocketAddr, state: Shared) {
    let _ = (socket, binary, peer, state);
}
