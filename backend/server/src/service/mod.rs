//! The application layer: what the API does, in terms of the game rules, the durable store and
//! the live state. No HTTP here.

pub mod boards;
pub mod games;
pub mod players;

use crate::live::LiveError;
use crate::state::AppState;
use crate::tokens::TokenKeys;
use humor_game::GameError;
use humor_store::StoreError;
use std::future::Future;
use uuid::Uuid;

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything the application layer can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("a player token is required")]
    TokenRequired,
    #[error("this belongs to another player")]
    NotOwner,
    #[error("no such game")]
    GameNotFound,
    #[error("no such player")]
    PlayerNotFound,
    #[error("the player is not on this leaderboard")]
    NotRanked,
    #[error(transparent)]
    Game(#[from] GameError),
    #[error("today's daily challenge was already started")]
    DailyAlreadyPlayed,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    #[error("still starting")]
    Starting,
    #[error("too many concurrent changes to this game")]
    Busy,
    /// A fault of ours: logged with its cause, answered as a plain 500.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            e if e.is_unavailable() => AppError::Unavailable("database"),
            other => AppError::Internal(Box::new(other)),
        }
    }
}

impl From<LiveError> for AppError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Unavailable(_) => AppError::Unavailable("redis"),
            corrupt @ LiveError::Corrupt(_) => AppError::Internal(Box::new(corrupt)),
        }
    }
}

/// Who is asking: a verified player id from the bearer token, or nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    Player(Uuid),
}

impl Auth {
    /// Allows the owner only.
    pub fn require(self, owner: Uuid) -> Result<(), AppError> {
        match self {
            Auth::Player(id) if id == owner => Ok(()),
            Auth::Player(_) => Err(AppError::NotOwner),
            Auth::Anonymous => Err(AppError::TokenRequired),
        }
    }
}

impl AppState {
    pub fn keys(&self) -> Result<&TokenKeys, AppError> {
        self.tokens.get().ok_or(AppError::Starting)
    }

    /// A database call, bounded so an outage answers fast instead of hanging.
    pub async fn db<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, AppError> {
        self.db_raw(fut).await?.map_err(Into::into)
    }

    /// Like [`AppState::db`], but leaves the store's own errors to the caller.
    pub async fn db_raw<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<Result<T, StoreError>, AppError> {
        // While the database is known down, answer at once instead of waiting for timeouts; the
        // monitor probes every second, so recovery is noticed within a second.
        if self.health.is_started() && !self.health.database.is_up() {
            return Err(AppError::Unavailable("database"));
        }
        match tokio::time::timeout(self.config.dependency_timeout, fut).await {
            Ok(Err(e)) if e.is_unavailable() => {
                self.health.database.trip();
                Ok(Err(e))
            }
            Ok(out) => Ok(out),
            Err(_) => {
                self.health.database.trip();
                Err(AppError::Unavailable("database"))
            }
        }
    }

    /// A live-state call, bounded by the dependency timeout. A Redis failure marks Redis down at
    /// once, so the rest of this request and the next ones fail fast instead of each waiting.
    pub async fn live<T>(
        &self,
        fut: impl Future<Output = Result<T, LiveError>>,
    ) -> Result<T, AppError> {
        if self.redis_known_down() {
            return Err(AppError::Unavailable("redis"));
        }
        match tokio::time::timeout(self.config.dependency_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if matches!(e, LiveError::Unavailable(_)) {
                    self.trip_redis();
                }
                Err(e.into())
            }
            Err(_) => {
                self.trip_redis();
                Err(AppError::Unavailable("redis"))
            }
        }
    }

    /// True while Redis is known down: callers fail fast or skip it.
    pub fn redis_known_down(&self) -> bool {
        self.health.is_started() && self.health.redis.as_ref().is_some_and(|r| !r.is_up())
    }

    pub fn trip_redis(&self) {
        if let Some(r) = &self.health.redis {
            r.trip();
        }
    }
}
