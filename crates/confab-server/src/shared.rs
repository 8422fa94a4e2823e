//! The state the web doors share: the REST handlers (`http/`) and the
//! WebSocket door (`ws/`), which cannot import each other's modules.

use std::sync::Arc;

/// What the web doors share (the REST handlers, the WebSocket door).
pub struct AppState {
    pub hub: crate::hub_task::HubHandle,
    pub config: Arc<crate::Config>,
    pub tokens: crate::tokens::Tokens,
    /// Every upload's owner and size, for the quota and rate.
    pub uploads: crate::uploads::Index,
    /// The connection limits, for a WebSocket whose client a trusted
    /// proxy names (counted against its own address when it opens).
    pub limiter: Arc<crate::peer::Limiter>,
}

pub type Shared = Arc<AppState>;
