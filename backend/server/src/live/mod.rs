//! State shared by every replica while games are played: live games, idempotency records, rate
//! limit counters and the leaderboard cache. In Redis when configured (so a game survives its
//! replica), in process memory otherwise.
//!
//! One trait per job ([`GameLive`], [`Idempotency`], [`RateLimits`], [`BoardCache`]), so a user
//! can hold only the one it needs; [`LiveState`] is an engine that does all four.

mod memory;
mod redis_state;

pub use memory::MemoryState;
pub use redis_state::RedisState;

use async_trait::async_trait;
use humor_game::Game;
use std::time::Duration;
use uuid::Uuid;

/// How long the answer to an operation carrying an `Idempotency-Key` stays available to its retries:
/// stored responses, the game a start dealt, the name a claim took.
pub const ANSWER_KEEP: Duration = Duration::from_secs(24 * 3600);

/// What can go wrong with live state. A variant caused by another error keeps it as its
/// `source()` (typed: a caller can still ask a Redis error its kind), and its message repeats the
/// cause's, because log lines print the message alone.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Redis cannot be reached or did not answer in time; retrying later may work.
    #[error("live state unavailable: {what}")]
    Unavailable {
        what: String,
        #[source]
        source: Option<redis::RedisError>,
    },
    /// Live state this code cannot read or write (a malformed record, an invalid Redis URL).
    #[error("live state corrupt: {what}")]
    Corrupt {
        what: String,
        #[source]
        source: Option<CorruptCause>,
    },
}

/// The typed error behind a [`LiveError::Corrupt`].
#[derive(Debug, thiserror::Error)]
pub enum CorruptCause {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

impl LiveError {
    /// Unavailable for a reason of our own (a timeout), with no error behind it.
    pub fn unavailable(what: impl Into<String>) -> LiveError {
        LiveError::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    /// Corrupt for a reason of our own (a record in an unknown shape), with no error behind it.
    pub fn corrupt(what: impl Into<String>) -> LiveError {
        LiveError::Corrupt {
            what: what.into(),
            source: None,
        }
    }

    /// Corrupt because `cause` could not read or write a value; the message repeats the cause's.
    pub fn corrupt_by(context: &str, cause: impl Into<CorruptCause>) -> LiveError {
        let cause = cause.into();
        LiveError::Corrupt {
            what: if context.is_empty() {
                cause.to_string()
            } else {
                format!("{context}: {cause}")
            },
            source: Some(cause),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, LiveError::Unavailable { .. })
    }

    /// What went wrong, without the variant's prefix.
    pub fn what(&self) -> &str {
        match self {
            LiveError::Unavailable { what, .. } | LiveError::Corrupt { what, .. } => what,
        }
    }
}

impl From<redis::RedisError> for LiveError {
    /// A failed Redis call: Redis is unavailable, and the message repeats why.
    fn from(e: redis::RedisError) -> LiveError {
        LiveError::Unavailable {
            what: e.to_string(),
            source: Some(e),
        }
    }
}

/// A game and the version it was read at (for compare-and-set).
#[derive(Debug, Clone)]
pub struct Versioned {
    pub version: u64,
    pub game: Game,
}

/// What an `Idempotency-Key` lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use: the caller processes the request and then stores or releases the key.
    New,
    /// Another request with this key is still being processed.
    InProgress { fingerprint: String },
    /// A stored response.
    Done {
        fingerprint: String,
        response: String,
    },
}

/// One request of `client` to count against its limit: at most `max` per fixed `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateHit {
    pub client: String,
    pub window: Duration,
    pub max: u64,
    pub now_ms: i64,
}

/// What a save that also counted a rate-limit hit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedSave {
    pub rate: RateDecision,
    /// False when the hit was refused (nothing was stored) or the game was not at the version.
    pub saved: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the window resets.
    pub reset_after: Duration,
}

/// An engine: all four jobs, and the probes the health monitor uses.
#[async_trait]
pub trait LiveState: GameLive + Idempotency + RateLimits + BoardCache + 'static {
    /// "redis" or "memory".
    fn kind(&self) -> &'static str;

    async fn ping(&self) -> Result<(), LiveError>;

    /// A round trip on a fresh connection (tells "our connections are broken" from "Redis is down").
    async fn ping_fresh(&self) -> Result<(), LiveError>;
}

/// Live games: compare-and-set per game, and the sweep schedule.
#[async_trait]
pub trait GameLive: Send + Sync {
    /// Stores a new game at version 1 and schedules it for the expiry sweep at `game.deadline()`.
    /// With `start_op` (the start request's operation id and what to answer a retry with), the
    /// two are stored together, so a retried start finds the game it dealt.
    async fn create_game(
        &self,
        game: &Game,
        start_op: Option<(&str, &str)>,
    ) -> Result<(), LiveError>;

    /// What `create_game` stored for a start operation.
    async fn recall_start(&self, op: &str) -> Result<Option<String>, LiveError>;

    async fn load_game(&self, id: Uuid) -> Result<Option<Versioned>, LiveError>;

    /// Loads a game in order to change it: may answer from the copy this handle saved or read
    /// last instead of asking the store. The copy can be behind another replica's save, so an
    /// answer computed from it counts only once `save_game` at its version succeeds; a failed save
    /// brings the handle's copy up to date.
    async fn load_for_update(&self, id: Uuid) -> Result<Option<Versioned>, LiveError> {
        self.load_game(id).await
    }

    /// Stores `game` if it is still at `expected`; false when another request changed it first.
    /// `due_at` reschedules the game for the sweep.
    async fn save_game(&self, game: &Game, expected: u64, due_at: i64) -> Result<bool, LiveError>;

    /// Counts `hit` and, when the limit allows it, does what `save_game` does: one step, so a
    /// move's request costs one round trip for both. A refused hit stores nothing.
    async fn save_game_counted(
        &self,
        game: &Game,
        expected: u64,
        due_at: i64,
        hit: &RateHit,
    ) -> Result<CountedSave, LiveError>;

    /// Removes the game from the sweep schedule once its end is durable.
    async fn settle_game(&self, id: Uuid) -> Result<(), LiveError>;

    /// Games not yet settled (live, or finished but not yet durable): `game_sessions_active`.
    async fn unsettled_games(&self) -> Result<u64, LiveError>;

    /// Up to `limit` games whose sweep time has come.
    async fn due_games(&self, now_ms: i64, limit: usize) -> Result<Vec<Uuid>, LiveError>;
}

/// Records of requests carrying an `Idempotency-Key`: a lease while one runs, its answer after.
#[async_trait]
pub trait Idempotency: Send + Sync {
    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<IdempotencyBegin, LiveError>;

    /// Extends the in-progress lease of `key` while its request still runs (a lease, so a crashed
    /// holder frees the key within `lock_for`).
    async fn idempotency_extend(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<(), LiveError>;

    async fn idempotency_store(
        &self,
        key: &str,
        fingerprint: &str,
        response: &str,
        keep_for: Duration,
    ) -> Result<(), LiveError>;

    async fn idempotency_release(&self, key: &str) -> Result<(), LiveError>;
}

/// Request counters per client and fixed window, shared by every replica.
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Counts one request of `client` in the current fixed window.
    async fn rate_hit(
        &self,
        client: &str,
        window: Duration,
        max: u64,
        now_ms: i64,
    ) -> Result<RateDecision, LiveError>;
}

/// The leaderboard cache, keyed by a generation every completion increments.
#[async_trait]
pub trait BoardCache: Send + Sync {
    /// The current cache generation and the answer cached under it, if any.
    async fn cache_get(&self, key: &str) -> Result<(u64, Option<String>), LiveError>;

    /// Caches an answer computed after `cache_get` returned `generation` (so an invalidation in
    /// between makes it unreachable instead of stale).
    async fn cache_put(
        &self,
        generation: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), LiveError>;

    /// Invalidates every cached answer (a game completed).
    async fn cache_invalidate(&self) -> Result<(), LiveError>;
}

impl RateDecision {
    /// The decision for the `count`th request of a window with `reset_after` left.
    pub(crate) fn of(count: u64, max: u64, reset_after: Duration) -> RateDecision {
        RateDecision {
            allowed: count <= max,
            limit: max,
            remaining: max.saturating_sub(count),
            reset_after,
        }
    }
}

/// The fixed window a timestamp falls in, and the time left in it.
pub(crate) fn window_of(now_ms: i64, window: Duration) -> (i64, Duration) {
    let w = window.as_millis().max(1) as i64;
    let index = now_ms.div_euclid(w);
    let left = (index + 1) * w - now_ms;
    (index, Duration::from_millis(left as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_to_their_length() {
        let (i, left) = window_of(125_000, Duration::from_secs(60));
        assert_eq!(i, 2);
        assert_eq!(left, Duration::from_secs(55));
    }

    #[test]
    fn errors_keep_their_typed_cause_and_repeat_it() {
        use std::error::Error as _;
        let json = serde_json::from_str::<Game>("{").expect_err("malformed");
        let text = json.to_string();
        let e = LiveError::corrupt_by("", json);
        assert!(e.to_string().contains(&text), "{e}");
        let source = e.source().expect("a source");
        assert!(source
            .downcast_ref::<CorruptCause>()
            .is_some_and(|c| matches!(c, CorruptCause::Json(_))));

        let redis = redis::Client::open("nonsense://").expect_err("invalid URL");
        let kind = redis.kind();
        let e = LiveError::from(redis);
        assert!(e.is_unavailable());
        let source = e.source().expect("a source");
        assert_eq!(
            source.downcast_ref::<redis::RedisError>().map(|r| r.kind()),
            Some(kind)
        );

        assert!(LiveError::unavailable("timed out").source().is_none());
    }
}
