//! The application state every handler and background task shares.

use crate::clock::Clock;
use crate::config::Config;
use crate::health::Health;
use crate::live::{LiveState, MemoryState};
use crate::static_files::Assets;
use crate::tokens::TokenKeys;
use humor_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub live: Arc<dyn LiveState>,
    /// Set when live state is in process memory (it needs a periodic purge).
    pub memory: Option<Arc<MemoryState>>,
    pub clock: Arc<dyn Clock>,
    /// Known once start-up has read or generated the signing key.
    pub tokens: OnceLock<TokenKeys>,
    pub health: Health,
    pub metrics: PrometheusHandle,
    pub assets: Assets,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
