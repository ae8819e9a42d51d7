//! The application layer: what the API does, in terms of the game rules, the durable store and
//! the live state. No HTTP here.

pub mod boards;
pub mod games;
pub mod guard;
pub mod players;
pub mod randomness;
pub mod rate_limit;

pub use boards::Boards;
pub use games::Games;
pub use guard::{GuardedLive, GuardedStore};
pub use players::Players;
pub use randomness::{OsRandom, RandomSource, SeededRandom};
pub use rate_limit::{RateTicket, RefusedClients};

use crate::live::LiveError;
use crate::tokens::TokenKeys;
use humor_game::GameError;
use humor_store::StoreError;
use std::sync::{Arc, OnceLock};
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
    /// The client is over its rate limit (counted by the request's own save).
    #[error("rate limited")]
    RateLimited { reset_after: std::time::Duration },
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
            LiveError::Unavailable { .. } => AppError::Unavailable("redis"),
            corrupt @ LiveError::Corrupt { .. } => AppError::Internal(Box::new(corrupt)),
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

/// The token signing key, known once start-up has read or generated it; shared by the services
/// that sign or verify, and set once by start-up.
#[derive(Clone, Default)]
pub struct SigningKeys(Arc<OnceLock<TokenKeys>>);

impl SigningKeys {
    /// The keys, or `Starting` before start-up has them.
    pub fn get(&self) -> Result<&TokenKeys, AppError> {
        self.0.get().ok_or(AppError::Starting)
    }

    pub fn is_known(&self) -> bool {
        self.0.get().is_some()
    }

    /// Sets the keys once; a second call changes nothing.
    pub fn set(&self, keys: TokenKeys) {
        let _ = self.0.set(keys);
    }
}
