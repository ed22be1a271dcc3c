//! The key server's HTTP state: the domain service, authentication and request metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRef;

use crate::domain::KeyServer;
use crate::handlers::Auth;

/// State shared by every key-server request.
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Inner>);

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) keys: Arc<KeyServer>,
    pub(crate) auth: Auth,
    /// Requests by (method, route, status), for /metrics.
    pub(crate) requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl AppState {
    pub(crate) fn new(keys: Arc<KeyServer>, auth: Auth) -> Self {
        Self(Arc::new(Inner { keys, auth, requests: Mutex::new(BTreeMap::new()) }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}
