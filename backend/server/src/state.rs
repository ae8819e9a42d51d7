//! The application state every handler and background task shares: the services, and what the
//! HTTP layer itself needs (configuration, health, metrics, assets).

use crate::clock::Clock;
use crate::config::Config;
use crate::health::{Health, Monitor};
use crate::live::{BoardCache, GameLive, Idempotency, LiveState, MemoryState, RateLimits};
use crate::service::games::GamesParts;
use crate::service::{
    Boards, Games, GuardedLive, GuardedStore, Players, RandomSource, RefusedClients, SigningKeys,
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
    /// The live state's jobs the HTTP layer itself does.
    pub rate_limits: GuardedLive<dyn RateLimits>,
    /// Clients this replica saw over their limit, refused without asking until their window ends.
    pub refused: RefusedClients,
    pub idempotency: GuardedLive<dyn Idempotency>,
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
        let timeout = config.operations.dependency_timeout;
        let tokens = SigningKeys::default();
        let db = GuardedStore::new(store.clone(), health.clone(), timeout);
        // Each user gets a handle on the one job it needs (the engine does all of them).
        let game_live: Arc<dyn GameLive> = live.clone();
        let board_cache: Arc<dyn BoardCache> = live.clone();
        let rate_limits: Arc<dyn RateLimits> = live.clone();
        let idempotency: Arc<dyn Idempotency> = live.clone();
        let cache = GuardedLive::new(board_cache, health.clone(), timeout);
        let players = Players::new(db.clone(), clock.clone(), tokens.clone(), random.clone());
        let boards = Boards::new(db.clone(), cache.clone(), clock.clone());
        let games = Games::new(GamesParts {
            db,
            live: GuardedLive::new(game_live, health.clone(), timeout),
            cache,
            clock: clock.clone(),
            keys: tokens.clone(),
            players: players.clone(),
            random,
        });
        let rate_limits = GuardedLive::new(rate_limits, health.clone(), timeout);
        let idempotency = GuardedLive::new(idempotency, health.clone(), timeout);
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
            rate_limits,
            refused: RefusedClients::default(),
            idempotency,
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
