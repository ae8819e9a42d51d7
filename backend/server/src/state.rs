//! The application state every handler and background task shares: the services, and what the
//! HTTP layer itself needs (configuration, health, metrics, assets).

use crate::clock::Clock;
use crate::config::Config;
use crate::health::{Health, Monitor};
use crate::live::{LiveState, MemoryState};
use crate::service::games::GamesParts;
use crate::service::{
    Boards, Games, GuardedLive, GuardedStore, Players, RandomSource, SigningKeys,
};
use crate::static_files::Assets;
use humor_store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use std::ops::Deref;
use std::sync::Arc;

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
    pub tokens: SigningKeys,
    /// Readiness and what the monitor last learned about each dependency.
    pub health: Arc<Health>,
    pub monitor: Monitor,
    /// The live state as the HTTP layer calls it (rate limits, idempotency records).
    pub live_calls: GuardedLive,
    pub games: Games,
    pub players: Players,
    pub boards: Boards,
    pub metrics: PrometheusHandle,
    pub assets: Assets,
}

/// What [`AppState::new`] wires together.
pub struct Parts {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub live: Arc<dyn LiveState>,
    pub memory: Option<Arc<MemoryState>>,
    pub clock: Arc<dyn Clock>,
    pub health: Health,
    pub random: Arc<dyn RandomSource>,
    pub metrics: PrometheusHandle,
    pub assets: Assets,
}

impl AppState {
    /// Builds the services, each from only the dependencies it uses.
    pub fn new(parts: Parts) -> AppState {
        let Parts {
            config,
            store,
            live,
            memory,
            clock,
            health,
            random,
            metrics,
            assets,
        } = parts;
        let health = Arc::new(health);
        let timeout = config.dependency_timeout;
        let tokens = SigningKeys::default();
        let db = GuardedStore::new(store.clone(), health.clone(), timeout);
        let live_calls = GuardedLive::new(live.clone(), health.clone(), timeout);
        let players = Players::new(db.clone(), clock.clone(), tokens.clone(), random.clone());
        let boards = Boards::new(db.clone(), live_calls.clone(), clock.clone());
        let games = Games::new(GamesParts {
            db,
            live: live_calls.clone(),
            clock: clock.clone(),
            keys: tokens.clone(),
            players: players.clone(),
            random,
        });
        let monitor = Monitor::new(health.clone(), store.clone(), live.clone(), timeout);
        AppState(Arc::new(Inner {
            config,
            store,
            live,
            memory,
            clock,
            tokens,
            health,
            monitor,
            live_calls,
            games,
            players,
            boards,
            metrics,
            assets,
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
