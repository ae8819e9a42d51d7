//! The SQLite engine (`cargo run`: one process, one file, no other service).
//!
//! WAL mode with `synchronous = FULL`, so a completed game is on disk before the API acknowledges
//! it. Writes go to one writer task that commits them in groups: every write queued while the
//! previous commit was being flushed runs in the next transaction, each in its own savepoint (so
//! one write's failure never affects another), and one fsync covers them all. Without load a
//! group is a single write; under load this turns one fsync per write into one per group. Reads
//! use a pool of read-only connections.

use crate::observe::observe;
use crate::rows;
use crate::{
    pick_shard, Board, BoardRow, Engine, FinalStatus, FinishedGame, GameRecord, GlobalStats,
    NewGameRecord, Player, PoolOptions, Ranked, Result, ScoreRow, StatsDelta, Store, StoreError,
    STATS_TOTALS,
};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    jobs: mpsc::Sender<Box<dyn Job>>,
}

/// Writes committed together at most.
const MAX_GROUP: usize = 128;

type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// One write waiting for the writer task.
trait Job: Send {
    /// Runs the write inside its savepoint; true when it succeeded.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    /// Answers the caller once the group's commit is known.
    fn deliver(self: Box<Self>, commit: std::result::Result<(), String>);
}

struct TypedJob<T, F> {
    op: Option<F>,
    out: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let Some(op) = self.op.take() else {
                return false;
            };
            let out = op(conn).await;
            let ok = out.is_ok();
            self.out = Some(out);
            ok
        })
    }

    fn deliver(self: Box<Self>, commit: std::result::Result<(), String>) {
        let out = match (commit, self.out) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), Some(Ok(_))) => Err(StoreError::unavailable(format!("commit failed: {e}"))),
            (_, None) => Err(StoreError::unavailable("the write did not run")),
        };
        let _ = self.reply.send(out);
    }
}

/// Runs one group in one transaction, each write in a savepoint.
async fn commit_group(
    pool: &SqlitePool,
    group: &mut [Box<dyn Job>],
) -> std::result::Result<(), String> {
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    let outcome = run_group(&mut conn, group).await;
    if outcome.is_err() {
        // The next group starts outside any transaction (an error when none is open is harmless).
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    }
    outcome
}

/// The transaction and savepoint statements go in lists, each with the next: one trip to the
/// connection's worker thread between two writes instead of two (sqlx's own transactions send
/// each statement alone). Every list either completes or leaves the transaction to the rollback.
async fn run_group(
    conn: &mut SqliteConnection,
    group: &mut [Box<dyn Job>],
) -> std::result::Result<(), String> {
    let mut opening = "BEGIN; SAVEPOINT write";
    let mut succeeded = true;
    for job in group.iter_mut() {
        sqlx::raw_sql(opening)
            .execute(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
        succeeded = job.run(conn).await;
        opening = if succeeded {
            "RELEASE write; SAVEPOINT write"
        } else {
            "ROLLBACK TO write; RELEASE write; SAVEPOINT write"
        };
    }
    let closing = if succeeded {
        "RELEASE write; COMMIT"
    } else {
        "ROLLBACK TO write; RELEASE write; COMMIT"
    };
    sqlx::raw_sql(closing)
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn writer_task(pool: SqlitePool, mut jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let commit = commit_group(&pool, &mut group).await;
        for job in group {
            job.deliver(commit.clone());
        }
    }
}

macro_rules! player_columns {
    () => {
        "id, username, created_at_ms, last_played_at_ms, games_started, games_completed, total_score, \
         best_score, best_time_ms, perfect_games"
    };
}

macro_rules! game_columns {
    () => {
        "g.id, g.player_id, p.username, g.difficulty, g.daily_date, g.status, g.score, g.moves, \
         g.misses, g.pairs_found, g.time_ms, g.pauses, g.started_at_ms, g.finished_at_ms, g.result"
    };
}

macro_rules! board_columns {
    () => {
        "player_id, username, difficulty, best_score, best_time_ms, best_completed_at_ms, \
         games_completed, total_score, last_completed_at_ms"
    };
}

macro_rules! board_order {
    () => {
        "best_score DESC, best_time_ms ASC, best_completed_at_ms ASC, player_id ASC"
    };
}

/// A slice of a board in rank order: (board, limit, offset). Public so a test can check its plan
/// walks the index instead of sorting the board.
pub const LEADERBOARD_RANGE: &str = concat!(
    "SELECT ",
    board_columns!(),
    " FROM leaderboard_entries WHERE board = ?1 ORDER BY ",
    board_order!(),
    " LIMIT ?2 OFFSET ?3"
);

/// The rows just ahead of a board row, nearest first: equal score and an earlier (time, completion,
/// player), then better scores; each part walks the index backwards from the row.
pub const BOARD_AHEAD: &str = concat!(
    "SELECT * FROM (SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = ?1 \
       AND e.best_score = ?2 AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) < (?3, ?4, ?5) \
       ORDER BY e.best_time_ms DESC, e.best_completed_at_ms DESC, e.player_id DESC LIMIT ?6) a \
     UNION ALL SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = ?1 AND e.best_score > ?2 \
       ORDER BY e.best_score ASC, e.best_time_ms DESC, e.best_completed_at_ms DESC, e.player_id DESC LIMIT ?6) b) t \
     ORDER BY t.best_score ASC, t.best_time_ms DESC, t.best_completed_at_ms DESC, t.player_id DESC LIMIT ?6"
);

/// The rows just behind a board row, nearest first (the mirror of [`BOARD_AHEAD`]).
pub const BOARD_BEHIND: &str = concat!(
    "SELECT * FROM (SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = ?1 \
       AND e.best_score = ?2 AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) > (?3, ?4, ?5) \
       ORDER BY e.best_time_ms ASC, e.best_completed_at_ms ASC, e.player_id ASC LIMIT ?6) a \
     UNION ALL SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = ?1 AND e.best_score < ?2 \
       ORDER BY e.best_score DESC, e.best_time_ms ASC, e.best_completed_at_ms ASC, e.player_id ASC LIMIT ?6) b) t \
     ORDER BY t.best_score DESC, t.best_time_ms ASC, t.best_completed_at_ms ASC, t.player_id ASC LIMIT ?6"
);

/// A player's row on a board with its rank and the board's size, in one statement (one snapshot):
/// (board, player).
/// The players with a better score are summed from the per-score counts the triggers keep, the
/// ties ahead are counted on the index from the row back, so it costs O(distinct scores + ties)
/// at any rank. Public so a test can check its plan never walks the rows ahead.
pub const BOARD_RANK: &str = concat!(
    "SELECT ", board_columns!(), ", 1 \
       + COALESCE((SELECT SUM(c.players) FROM leaderboard_score_counts c \
           WHERE c.board = ?1 AND c.best_score > me.best_score), 0) \
       + (SELECT COUNT(*) FROM leaderboard_entries e WHERE e.board = ?1 AND e.best_score = me.best_score \
           AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) \
             < (me.best_time_ms, me.best_completed_at_ms, me.player_id)) AS rank, \
       COALESCE((SELECT z.players FROM leaderboard_sizes z WHERE z.board = ?1), 0) AS board_players \
     FROM leaderboard_entries me WHERE me.board = ?1 AND me.player_id = ?2"
);

macro_rules! score_select {
    () => {
        "SELECT p.username, g.difficulty, g.daily_date, g.score, g.time_ms, g.finished_at_ms \
         FROM games g JOIN players p ON p.id = g.player_id WHERE g.status = 'completed' "
    };
}

/// The values a list of bookkeeping statements reads, as one JSON argument (`?1 ->> 'name'`).
/// A list runs in one trip to the connection's worker thread: on one core those trips (two thread
/// switches each) cost more than the statements. One argument, because sqlx binds numbered
/// parameters wrongly when a later statement of a list skips numbers.
#[derive(Default, serde::Serialize)]
struct Facts<'a> {
    difficulty: &'a str,
    shard: i32,
    #[serde(flatten)]
    delta: StatsDelta,
    player: String,
    username: &'a str,
    score: i64,
    perfect: i64,
    /// When the game started (a start) or finished (a completion).
    at_ms: i64,
    boards: Vec<String>,
}

impl<'a> Facts<'a> {
    fn new(difficulty: &'a str, delta: StatsDelta) -> Self {
        Facts {
            difficulty,
            shard: pick_shard(),
            delta,
            ..Default::default()
        }
    }

    fn json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|source| StoreError::Encode {
            what: "bookkeeping values",
            source,
        })
    }
}

/// Adds a delta to one shard of a difficulty's counters (one writer, so shard 0 would do; the
/// schema is shared with PostgreSQL, where shards spread concurrent writers).
macro_rules! add_stats_sql {
    () => {
        "INSERT INTO difficulty_stats_shards AS s (difficulty, shard, games_started, \
           games_completed, games_expired, games_abandoned, total_score, max_score, total_time_ms) \
         VALUES (?1 ->> 'difficulty', ?1 ->> 'shard', ?1 ->> 'started', ?1 ->> 'completed', ?1 ->> 'expired', \
           ?1 ->> 'abandoned', ?1 ->> 'total_score', ?1 ->> 'max_score', ?1 ->> 'time_ms') \
         ON CONFLICT (difficulty, shard) DO UPDATE SET \
           games_started = s.games_started + excluded.games_started, \
           games_completed = s.games_completed + excluded.games_completed, \
           games_expired = s.games_expired + excluded.games_expired, \
           games_abandoned = s.games_abandoned + excluded.games_abandoned, \
           total_score = s.total_score + excluded.total_score, \
           max_score = MAX(s.max_score, excluded.max_score), \
           total_time_ms = s.total_time_ms + excluded.total_time_ms"
    };
}

const ADD_STATS: &str = add_stats_sql!();

/// A started game's bookkeeping once its row is in: the stats shard and the player's counters.
const START_BOOKKEEPING: &str = concat!(
    add_stats_sql!(),
    "; UPDATE players SET games_started = games_started + 1, \
       last_played_at_ms = MAX(COALESCE(last_played_at_ms, ?1 ->> 'at_ms'), ?1 ->> 'at_ms') \
     WHERE id = ?1 ->> 'player'"
);

/// A completed game's bookkeeping once its row says so: the stats shard, the player's totals, the
/// sizes of the boards the player is new to (before the rows go in), and a row per board keeping
/// the player's best game (better score, then lower time).
const COMPLETION_BOOKKEEPING: &str = concat!(
    add_stats_sql!(),
    "; UPDATE players SET games_completed = games_completed + 1, \
       total_score = total_score + (?1 ->> 'score'), best_score = MAX(best_score, ?1 ->> 'score'), \
       best_time_ms = MIN(COALESCE(best_time_ms, ?1 ->> 'time_ms'), ?1 ->> 'time_ms'), \
       perfect_games = perfect_games + (?1 ->> 'perfect'), \
       last_played_at_ms = MAX(COALESCE(last_played_at_ms, ?1 ->> 'at_ms'), ?1 ->> 'at_ms') \
     WHERE id = ?1 ->> 'player'",
    "; INSERT INTO leaderboard_sizes (board, players) SELECT b.value, 1 FROM json_each(?1, '$.boards') AS b \
     WHERE NOT EXISTS (SELECT 1 FROM leaderboard_entries e WHERE e.board = b.value AND e.player_id = ?1 ->> 'player') \
     ON CONFLICT (board) DO UPDATE SET players = players + 1",
    "; INSERT INTO leaderboard_entries AS e (board, player_id, username, difficulty, \
       best_score, best_time_ms, best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
     SELECT b.value, ?1 ->> 'player', ?1 ->> 'username', ?1 ->> 'difficulty', ?1 ->> 'score', ?1 ->> 'time_ms', \
       ?1 ->> 'at_ms', 1, ?1 ->> 'score', ?1 ->> 'at_ms' FROM json_each(?1, '$.boards') AS b WHERE true \
     ON CONFLICT (board, player_id) DO UPDATE SET \
       username = excluded.username, \
       games_completed = e.games_completed + 1, \
       total_score = e.total_score + excluded.total_score, \
       last_completed_at_ms = MAX(e.last_completed_at_ms, excluded.last_completed_at_ms), \
       difficulty = CASE WHEN excluded.best_score > e.best_score OR (excluded.best_score = e.best_score AND excluded.best_time_ms < e.best_time_ms) THEN excluded.difficulty ELSE e.difficulty END, \
       best_completed_at_ms = CASE WHEN excluded.best_score > e.best_score OR (excluded.best_score = e.best_score AND excluded.best_time_ms < e.best_time_ms) THEN excluded.best_completed_at_ms ELSE e.best_completed_at_ms END, \
       best_time_ms = CASE WHEN excluded.best_score > e.best_score OR (excluded.best_score = e.best_score AND excluded.best_time_ms < e.best_time_ms) THEN excluded.best_time_ms ELSE e.best_time_ms END, \
       best_score = MAX(e.best_score, excluded.best_score)"
);

async fn run_bookkeeping(
    conn: &mut SqliteConnection,
    sql: &'static str,
    facts: &Facts<'_>,
) -> Result<()> {
    sqlx::query(sql).bind(facts.json()?).execute(conn).await?;
    Ok(())
}

async fn add_stats(conn: &mut SqliteConnection, difficulty: &str, d: StatsDelta) -> Result<()> {
    run_bookkeeping(conn, ADD_STATS, &Facts::new(difficulty, d)).await
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &str, options: &PoolOptions) -> Result<SqliteStore> {
        if path.is_empty() {
            return Err(StoreError::Config("the SQLite path is empty".into()));
        }
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!("cannot create the folder of {path}: {e}"))
            })?;
        }
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            // Each write's savepoint journals the pages it changes; in memory, not in a temp file
            // (durability is the WAL's, which this does not touch).
            .pragma("temp_store", "memory")
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout.max(Duration::from_secs(5)))
            .connect_lazy_with(connect.clone());
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.read_only(true));
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Config("the SQLite store must be opened inside a Tokio runtime".into())
        })?;
        let (jobs, rx) = mpsc::channel(4096);
        runtime.spawn(writer_task(writer.clone(), rx));
        Ok(SqliteStore {
            writer,
            reader,
            jobs,
        })
    }

    /// Queues a write for the next group commit and waits for its outcome.
    async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = TypedJob {
            op: Some(op),
            out: None,
            reply,
        };
        self.jobs
            .send(Box::new(job))
            .await
            .map_err(|_| StoreError::unavailable("the SQLite writer has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::unavailable("the SQLite writer has stopped"))?
    }
}

async fn record_completion(conn: &mut SqliteConnection, g: &FinishedGame) -> Result<()> {
    let facts = Facts {
        player: g.player_id.to_string(),
        username: &g.username,
        score: g.score,
        perfect: i64::from(g.misses == 0),
        at_ms: g.finished_at_ms,
        boards: g.board_keys(),
        ..Facts::new(g.difficulty.as_str(), g.stats_delta())
    };
    run_bookkeeping(conn, COMPLETION_BOOKKEEPING, &facts).await
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        observe("migrate", async { Ok(migrator.run(&self.writer).await?) }).await
    }

    async fn ping(&self) -> Result<()> {
        observe("ping", async {
            sqlx::query("SELECT 1").execute(&self.reader).await?;
            Ok(())
        })
        .await
    }

    async fn ping_fresh(&self) -> Result<()> {
        // A file has no connection to break; a fresh read is the same as a pooled one.
        self.ping().await
    }

    async fn setting_get_or_init(&self, key: &str, init: &str) -> Result<String> {
        observe("setting", async {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(init)
            .execute(&self.writer)
            .await?;
            Ok(
                sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
                    .bind(key)
                    .fetch_one(&self.writer)
                    .await?,
            )
        })
        .await
    }

    async fn claim_player(&self, id: Uuid, username: &str, now_ms: i64) -> Result<(Player, bool)> {
        let username = username.to_string();
        observe(
            "claim_player",
            self.write(move |conn| {
                Box::pin(async move {
                    let key = username.to_ascii_lowercase();
                    let existing = sqlx::query(concat!("SELECT ", player_columns!(), " FROM players WHERE username_key = ?1"))
                        .bind(&key)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if let Some(row) = existing {
                        return Ok((rows::player(&row)?, false));
                    }
                    let row = sqlx::query(concat!(
                        "INSERT INTO players (id, username, username_key, created_at_ms) VALUES (?1, ?2, ?3, ?4) RETURNING ",
                        player_columns!()
                    ))
                    .bind(id.to_string())
                    .bind(&username)
                    .bind(&key)
                    .bind(now_ms)
                    .fetch_one(&mut *conn)
                    .await?;
                    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'players'")
                        .execute(&mut *conn)
                        .await?;
                    Ok((rows::player(&row)?, true))
                })
            }),
        )
        .await
    }

    async fn player_by_name(&self, username: &str) -> Result<Option<Player>> {
        observe("player_by_name", async {
            sqlx::query(concat!(
                "SELECT ",
                player_columns!(),
                " FROM players WHERE username_key = ?1"
            ))
            .bind(username.to_ascii_lowercase())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(rows::player)
            .transpose()
        })
        .await
    }

    async fn player_by_id(&self, id: Uuid) -> Result<Option<Player>> {
        observe("player_by_id", async {
            sqlx::query(concat!(
                "SELECT ",
                player_columns!(),
                " FROM players WHERE id = ?1"
            ))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(rows::player)
            .transpose()
        })
        .await
    }

    async fn insert_game(&self, g: &NewGameRecord) -> Result<bool> {
        let g = g.clone();
        observe(
            "insert_game",
            self.write(move |conn| {
                Box::pin(async move {
                    let inserted = sqlx::query(
                        "INSERT INTO games (id, player_id, difficulty, daily_date, status, started_at_ms) \
                         VALUES (?1, ?2, ?3, ?4, 'active', ?5) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(g.id.to_string())
                    .bind(g.player_id.to_string())
                    .bind(g.difficulty.as_str())
                    .bind(&g.daily)
                    .bind(g.started_at_ms)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Ok(false);
                    }
                    let started = StatsDelta { started: 1, ..Default::default() };
                    let facts = Facts {
                        player: g.player_id.to_string(),
                        at_ms: g.started_at_ms,
                        ..Facts::new(g.difficulty.as_str(), started)
                    };
                    run_bookkeeping(conn, START_BOOKKEEPING, &facts).await?;
                    Ok(true)
                })
            }),
        )
        .await
    }

    async fn finish_game(&self, g: &FinishedGame) -> Result<bool> {
        let g = g.clone();
        observe(
            "finish_game",
            self.write(move |conn| {
                Box::pin(async move {
                    let updated = sqlx::query(
                        "UPDATE games SET status = ?2, score = ?3, moves = ?4, misses = ?5, pairs_found = ?6, \
                           time_ms = ?7, finished_at_ms = ?8, result = ?9, pauses = ?10 WHERE id = ?1 AND status = 'active'",
                    )
                    .bind(g.id.to_string())
                    .bind(g.status.as_str())
                    .bind(g.score)
                    .bind(g.moves)
                    .bind(g.misses)
                    .bind(g.pairs_found)
                    .bind(g.time_ms)
                    .bind(g.finished_at_ms)
                    .bind(g.result_json()?)
                    .bind(g.pauses)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        return Ok(false);
                    }
                    match g.status {
                        FinalStatus::Completed => record_completion(conn, &g).await?,
                        FinalStatus::Expired | FinalStatus::Abandoned => {
                            add_stats(conn, g.difficulty.as_str(), g.stats_delta()).await?
                        }
                    }
                    Ok(true)
                })
            }),
        )
        .await
    }

    async fn game(&self, id: Uuid) -> Result<Option<GameRecord>> {
        observe("game", async {
            sqlx::query(concat!(
                "SELECT ",
                game_columns!(),
                " FROM games g JOIN players p ON p.id = g.player_id WHERE g.id = ?1"
            ))
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(rows::game)
            .transpose()
        })
        .await
    }

    async fn expire_stale_games(&self, started_before_ms: i64, now_ms: i64) -> Result<u64> {
        observe(
            "expire_stale_games",
            self.write(move |conn| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "UPDATE games SET status = 'expired', finished_at_ms = ?2 \
                         WHERE status = 'active' AND started_at_ms < ?1 RETURNING difficulty",
                    )
                    .bind(started_before_ms)
                    .bind(now_ms)
                    .fetch_all(&mut *conn)
                    .await?;
                    let mut per: std::collections::BTreeMap<String, i64> = Default::default();
                    for r in &rows {
                        *per.entry(r.try_get::<String, _>("difficulty")?)
                            .or_default() += 1;
                    }
                    for (difficulty, n) in &per {
                        add_stats(
                            conn,
                            difficulty,
                            StatsDelta {
                                expired: *n,
                                ..Default::default()
                            },
                        )
                        .await?;
                    }
                    Ok(rows.len() as u64)
                })
            }),
        )
        .await
    }

    async fn daily_started(&self, player_id: Uuid, date: &str) -> Result<bool> {
        observe("daily_started", async {
            Ok(
                sqlx::query("SELECT 1 FROM games WHERE player_id = ?1 AND daily_date = ?2")
                    .bind(player_id.to_string())
                    .bind(date)
                    .fetch_optional(&self.reader)
                    .await?
                    .is_some(),
            )
        })
        .await
    }

    async fn leaderboard(&self, board: &Board, limit: i64) -> Result<Vec<BoardRow>> {
        self.leaderboard_range(board, 1, limit).await
    }

    async fn leaderboard_range(&self, board: &Board, from: i64, to: i64) -> Result<Vec<BoardRow>> {
        observe("leaderboard", async {
            let from = from.max(1);
            let rows = sqlx::query(LEADERBOARD_RANGE)
                .bind(board.key())
                .bind((to - from + 1).max(0))
                .bind(from - 1)
                .fetch_all(&self.reader)
                .await?;
            rows.iter()
                .enumerate()
                .map(|(i, r)| rows::board_row(r, from + i as i64))
                .collect()
        })
        .await
    }

    async fn leaderboard_around(
        &self,
        board: &Board,
        row: &BoardRow,
        context: i64,
    ) -> Result<Vec<BoardRow>> {
        observe("leaderboard_around", async {
            let key = board.key();
            let mut sides = Vec::with_capacity(2);
            for sql in [BOARD_AHEAD, BOARD_BEHIND] {
                let rows = sqlx::query(sql)
                    .bind(&key)
                    .bind(row.best_score)
                    .bind(row.best_time_ms)
                    .bind(row.best_completed_at_ms)
                    .bind(row.player_id.to_string())
                    .bind(context.max(0))
                    .fetch_all(&self.reader)
                    .await?;
                sides.push(
                    rows.iter()
                        .map(|r| rows::board_row(r, 0))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            let behind = sides.pop().unwrap_or_default();
            let ahead = sides.pop().unwrap_or_default();
            Ok(crate::around(row, ahead, behind))
        })
        .await
    }

    async fn board_size(&self, board: &Board) -> Result<i64> {
        observe("board_size", async {
            Ok(
                sqlx::query_scalar("SELECT players FROM leaderboard_sizes WHERE board = ?1")
                    .bind(board.key())
                    .fetch_optional(&self.reader)
                    .await?
                    .unwrap_or(0),
            )
        })
        .await
    }

    async fn rank(&self, board: &Board, player_id: Uuid) -> Result<Option<Ranked>> {
        observe("rank", async {
            let Some(row) = sqlx::query(BOARD_RANK)
                .bind(board.key())
                .bind(player_id.to_string())
                .fetch_optional(&self.reader)
                .await?
            else {
                return Ok(None);
            };
            Ok(Some(Ranked {
                row: rows::board_row(&row, row.try_get("rank")?)?,
                board_players: row.try_get("board_players")?,
            }))
        })
        .await
    }

    async fn stats(&self) -> Result<GlobalStats> {
        observe("stats", async {
            let players: i64 =
                sqlx::query_scalar("SELECT value FROM counters WHERE name = 'players'")
                    .fetch_optional(&self.reader)
                    .await?
                    .unwrap_or(0);
            let rows = sqlx::query(STATS_TOTALS).fetch_all(&self.reader).await?;
            let mut by_difficulty = Vec::with_capacity(rows.len());
            for r in &rows {
                by_difficulty.push(rows::difficulty_stats(r)?);
            }
            let highest = self.top_scores(1).await?.into_iter().next();
            let fastest = sqlx::query(concat!(
                score_select!(),
                "ORDER BY g.time_ms ASC, g.finished_at_ms ASC LIMIT 1"
            ))
            .fetch_optional(&self.reader)
            .await?
            .as_ref()
            .map(rows::score_row)
            .transpose()?;
            Ok(GlobalStats {
                players,
                by_difficulty,
                highest,
                fastest,
            })
        })
        .await
    }

    async fn history(
        &self,
        player_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<GameRecord>, i64)> {
        observe("history", async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                game_columns!(),
                " FROM games g JOIN players p ON p.id = g.player_id \
                 WHERE g.player_id = ?1 ORDER BY g.started_at_ms DESC, g.id LIMIT ?2 OFFSET ?3"
            ))
            .bind(player_id.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.reader)
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM games WHERE player_id = ?1")
                .bind(player_id.to_string())
                .fetch_one(&self.reader)
                .await?;
            Ok((
                rows.iter().map(rows::game).collect::<Result<Vec<_>>>()?,
                total,
            ))
        })
        .await
    }

    async fn recent_scores(&self, limit: i64) -> Result<Vec<ScoreRow>> {
        observe("recent_scores", async {
            sqlx::query(concat!(
                score_select!(),
                "ORDER BY g.finished_at_ms DESC LIMIT ?1"
            ))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(rows::score_row)
            .collect()
        })
        .await
    }

    async fn top_scores(&self, limit: i64) -> Result<Vec<ScoreRow>> {
        observe("top_scores", async {
            sqlx::query(concat!(
                score_select!(),
                "ORDER BY g.score DESC, g.time_ms ASC, g.finished_at_ms ASC LIMIT ?1"
            ))
            .bind(limit)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(rows::score_row)
            .collect()
        })
        .await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
