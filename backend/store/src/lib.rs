//! Durable storage: players, games, leaderboards and statistics.
//!
//! One [`Store`] trait with a PostgreSQL and a SQLite implementation, each with its own
//! migrations. The engine is picked once at start-up from the URL scheme ([`connect`]).

mod boards;
mod error;
mod observe;
pub mod postgres;
mod results;
mod rows;
pub mod score_counts;
pub mod sqlite;

use async_trait::async_trait;
use humor_game::Difficulty;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub use boards::{boards_for, month_period, week_period, Board, BoardKind};
pub use error::StoreError;
pub use results::{ResultOwner, ResultRecord};

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Sqlite,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Player {
    pub id: Uuid,
    pub username: String,
    pub created_at_ms: i64,
    pub last_played_at_ms: Option<i64>,
    pub games_started: i64,
    pub games_completed: i64,
    pub total_score: i64,
    pub best_score: i64,
    pub best_time_ms: Option<i64>,
    pub perfect_games: i64,
}

/// A game as it is recorded when dealt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGameRecord {
    pub id: Uuid,
    pub player_id: Uuid,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub started_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    Completed,
    Expired,
    Abandoned,
}

impl FinalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Completed => "completed",
            FinalStatus::Expired => "expired",
            FinalStatus::Abandoned => "abandoned",
        }
    }
}

/// A game's end, as recorded once (later attempts to record it again change nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedGame {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub status: FinalStatus,
    pub score: i64,
    pub moves: i64,
    pub misses: i64,
    pub pairs_found: i64,
    pub time_ms: i64,
    pub pauses: i64,
    pub finished_at_ms: i64,
    /// The result of a completed game.
    pub result: Option<ResultRecord>,
}

impl FinishedGame {
    /// The change this end makes to its difficulty's counters.
    pub(crate) fn stats_delta(&self) -> StatsDelta {
        match self.status {
            FinalStatus::Completed => StatsDelta {
                completed: 1,
                total_score: self.score,
                max_score: self.score,
                time_ms: self.time_ms,
                ..Default::default()
            },
            FinalStatus::Expired => StatsDelta {
                expired: 1,
                ..Default::default()
            },
            FinalStatus::Abandoned => StatsDelta {
                abandoned: 1,
                ..Default::default()
            },
        }
    }

    /// The keys of the boards a completed game goes on, sorted (so concurrent writers lock their
    /// rows in one order); none for a game that did not complete.
    pub(crate) fn board_keys(&self) -> Vec<String> {
        if self.status != FinalStatus::Completed {
            return Vec::new();
        }
        let mut keys: Vec<String> =
            boards_for(self.difficulty, self.daily.as_deref(), self.finished_at_ms)
                .iter()
                .map(Board::key)
                .collect();
        keys.sort();
        keys
    }

    /// `games.result` as both engines store it.
    pub(crate) fn result_json(&self) -> Result<Option<String>> {
        self.result
            .as_ref()
            .map(|r| {
                r.to_json(ResultOwner {
                    game_id: self.id,
                    username: &self.username,
                    difficulty: self.difficulty,
                    daily: self.daily.as_deref(),
                })
            })
            .transpose()
    }
}

/// Where a recorded game stands: still being played, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    Active,
    Finished(FinalStatus),
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Active => "active",
            RecordStatus::Finished(f) => f.as_str(),
        }
    }
}

/// A status name the schema does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown game status")]
pub struct UnknownStatus;

impl std::str::FromStr for RecordStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "active" => Ok(RecordStatus::Active),
            "completed" => Ok(RecordStatus::Finished(FinalStatus::Completed)),
            "expired" => Ok(RecordStatus::Finished(FinalStatus::Expired)),
            "abandoned" => Ok(RecordStatus::Finished(FinalStatus::Abandoned)),
            _ => Err(UnknownStatus),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameRecord {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub status: RecordStatus,
    pub score: i64,
    pub moves: i64,
    pub misses: i64,
    pub pairs_found: i64,
    pub time_ms: i64,
    pub pauses: i64,
    pub started_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    /// The result of a completed game.
    pub result: Option<ResultRecord>,
}

/// One row of a leaderboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardRow {
    pub rank: i64,
    pub player_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    pub best_score: i64,
    pub best_time_ms: i64,
    pub best_completed_at_ms: i64,
    pub games_completed: i64,
    pub total_score: i64,
    pub last_completed_at_ms: i64,
}

/// A player's row on a board and how many players the board has, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub row: BoardRow,
    pub board_players: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DifficultyStats {
    pub difficulty: Difficulty,
    pub games_started: i64,
    pub games_completed: i64,
    pub games_expired: i64,
    pub games_abandoned: i64,
    pub total_score: i64,
    pub max_score: i64,
    pub total_time_ms: i64,
}

/// A completed game, for the recent and top score lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRow {
    pub username: String,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub score: i64,
    pub time_ms: i64,
    pub completed_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalStats {
    pub players: i64,
    pub by_difficulty: Vec<DifficultyStats>,
    pub highest: Option<ScoreRow>,
    pub fastest: Option<ScoreRow>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn engine(&self) -> Engine;

    /// Applies pending migrations; safe when several replicas start at once.
    async fn migrate(&self) -> Result<()>;

    /// A cheap round trip, for health checks.
    async fn ping(&self) -> Result<()>;

    /// A round trip on a brand-new connection, outside the pool: tells "our pooled connections
    /// are broken" from "the database is down".
    async fn ping_fresh(&self) -> Result<()>;

    /// Returns the stored value of `key`, storing `init` first if there is none (first writer wins).
    async fn setting_get_or_init(&self, key: &str, init: &str) -> Result<String>;

    /// Claims `username` for a new player with id `id`, or returns the existing owner. The bool is
    /// true when this call created the player.
    async fn claim_player(&self, id: Uuid, username: &str, now_ms: i64) -> Result<(Player, bool)>;

    /// The player owning `username` (case-insensitive).
    async fn player_by_name(&self, username: &str) -> Result<Option<Player>>;

    async fn player_by_id(&self, id: Uuid) -> Result<Option<Player>>;

    /// Records a newly dealt game; false when it was already recorded (a retried start: nothing
    /// changes, nothing is counted twice). A second daily challenge for the same player and day is
    /// [`StoreError::Conflict`].
    async fn insert_game(&self, game: &NewGameRecord) -> Result<bool>;

    /// Records the end of a game and, for a completed game, its statistics and leaderboard
    /// entries, in one transaction (durable when this returns). Returns false when the game had
    /// already ended (nothing changes then).
    async fn finish_game(&self, game: &FinishedGame) -> Result<bool>;

    async fn game(&self, id: Uuid) -> Result<Option<GameRecord>>;

    /// Records as expired every game still `active` that started before `started_before_ms`:
    /// past any possible deadline, so its live state is gone (e.g. Redis lost it). Returns how many.
    async fn expire_stale_games(&self, started_before_ms: i64, now_ms: i64) -> Result<u64>;

    /// Whether the player already started the daily challenge of `date`.
    async fn daily_started(&self, player_id: Uuid, date: &str) -> Result<bool>;

    /// The top `limit` rows of a board, best first.
    async fn leaderboard(&self, board: &Board, limit: i64) -> Result<Vec<BoardRow>>;

    /// The rows ranked `from..=to` (1-based).
    async fn leaderboard_range(&self, board: &Board, from: i64, to: i64) -> Result<Vec<BoardRow>>;

    /// `row` (as [`Store::rank`] returned it) with up to `context` rows on each side, in rank
    /// order. Walks the board's index from the row both ways, so it costs the same at any rank
    /// (an OFFSET would read every row ahead).
    async fn leaderboard_around(
        &self,
        board: &Board,
        row: &BoardRow,
        context: i64,
    ) -> Result<Vec<BoardRow>>;

    /// How many players have a row on the board.
    async fn board_size(&self, board: &Board) -> Result<i64>;

    /// The player's row on the board, with its rank: one plus the players with a better score
    /// (summed from per-score counts) and the ties ahead, so it costs the same at any rank; and
    /// the board's size, read in the same statement.
    async fn rank(&self, board: &Board, player_id: Uuid) -> Result<Option<Ranked>>;

    async fn stats(&self) -> Result<GlobalStats>;

    /// A player's games, newest first, and how many there are.
    async fn history(
        &self,
        player_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<GameRecord>, i64)>;

    async fn recent_scores(&self, limit: i64) -> Result<Vec<ScoreRow>>;

    async fn top_scores(&self, limit: i64) -> Result<Vec<ScoreRow>>;

    /// Closes the pool (graceful shutdown).
    async fn close(&self);

    /// Replaces the connection pool with a fresh one: after an outage, pooled connections can be
    /// dead while new ones work (the monitor calls this when it sees exactly that).
    async fn reset_pool(&self) {}
}

/// A change to one difficulty's counters, written to one of its shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct StatsDelta {
    pub started: i64,
    pub completed: i64,
    pub expired: i64,
    pub abandoned: i64,
    pub total_score: i64,
    pub max_score: i64,
    pub time_ms: i64,
}

/// Shards per difficulty: concurrent writers rarely pick the same row.
pub(crate) const STATS_SHARDS: u32 = 16;

pub(crate) fn pick_shard() -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % STATS_SHARDS) as i32
}

/// Per-difficulty totals: the original table (still written by earlier releases) plus every shard.
pub(crate) const STATS_TOTALS: &str = "SELECT difficulty, CAST(SUM(games_started) AS BIGINT) AS games_started, \
       CAST(SUM(games_completed) AS BIGINT) AS games_completed, CAST(SUM(games_expired) AS BIGINT) AS games_expired, \
       CAST(SUM(games_abandoned) AS BIGINT) AS games_abandoned, CAST(SUM(total_score) AS BIGINT) AS total_score, \
       CAST(MAX(max_score) AS BIGINT) AS max_score, CAST(SUM(total_time_ms) AS BIGINT) AS total_time_ms FROM ( \
         SELECT difficulty, games_started, games_completed, games_expired, games_abandoned, total_score, \
                max_score, total_time_ms FROM difficulty_stats \
         UNION ALL \
         SELECT difficulty, games_started, games_completed, games_expired, games_abandoned, total_score, \
                max_score, total_time_ms FROM difficulty_stats_shards) AS t \
     GROUP BY difficulty";

/// Pool and timeout settings shared by both engines.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a request waits for a connection before the store reports itself unavailable.
    pub acquire_timeout: Duration,
    /// Upper bound for a single statement (PostgreSQL `statement_timeout`).
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the store the URL names: `postgres://…`/`postgresql://…` or `sqlite://<path>`.
/// The pool connects lazily, so this succeeds while the database is down.
pub fn connect(url: &str, options: &PoolOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect_lazy(url, options)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(sqlite::SqliteStore::open(path, options)?))
    } else {
        Err(StoreError::Config(
            "database URL must start with postgres://, postgresql:// or sqlite://".into(),
        ))
    }
}

/// Puts a board row between its neighbours, numbering them from its rank: `ahead` nearest first,
/// `behind` nearest first (what the engines' two index walks return).
pub(crate) fn around(row: &BoardRow, ahead: Vec<BoardRow>, behind: Vec<BoardRow>) -> Vec<BoardRow> {
    let n = ahead.len() as i64;
    let mut out: Vec<BoardRow> = ahead
        .into_iter()
        .rev()
        .enumerate()
        .map(|(i, r)| BoardRow {
            rank: row.rank - n + i as i64,
            ..r
        })
        .collect();
    out.push(row.clone());
    out.extend(behind.into_iter().enumerate().map(|(i, r)| BoardRow {
        rank: row.rank + 1 + i as i64,
        ..r
    }));
    out
}
