//! The PostgreSQL engine (production: several replicas share one database).

use crate::observe::observe;
use crate::rows;
use crate::{
    pick_shard, Board, BoardRow, Engine, FinishedGame, GameRecord, GlobalStats, NewGameRecord,
    Player, PoolOptions, Ranked, Result, ScoreRow, StatsDelta, Store, StoreError, STATS_TOTALS,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub struct PgStore {
    /// Replaced by a fresh pool when the old one's connections are found dead (see `reset_pool`).
    pool: std::sync::RwLock<PgPool>,
    options: PgPoolOptions,
    connect: PgConnectOptions,
    acquire_timeout: Duration,
}

macro_rules! player_columns {
    () => {
        "id, username, created_at_ms, last_played_at_ms, games_started, games_completed, total_score, \
         best_score::BIGINT AS best_score, best_time_ms, perfect_games"
    };
}

macro_rules! game_columns {
    () => {
        "g.id, g.player_id, p.username, g.difficulty, g.daily_date, g.status, g.score::BIGINT AS score, \
         g.moves::BIGINT AS moves, g.misses::BIGINT AS misses, g.pairs_found::BIGINT AS pairs_found, \
         g.time_ms, g.pauses::BIGINT AS pauses, g.started_at_ms, g.finished_at_ms, g.result"
    };
}

macro_rules! board_columns {
    () => {
        "player_id, username, difficulty, best_score::BIGINT AS best_score, best_time_ms, \
         best_completed_at_ms, games_completed, total_score, last_completed_at_ms"
    };
}

/// Ranking order of a board: best score, then lower time, then earlier completion.
macro_rules! board_order {
    () => {
        // Qualified: a bare name would sort by the BIGINT cast in the select list instead of the
        // column, and the index could not give the order (found at 1 million games).
        "leaderboard_entries.best_score DESC, leaderboard_entries.best_time_ms ASC, \
         leaderboard_entries.best_completed_at_ms ASC, leaderboard_entries.player_id ASC"
    };
}

/// A slice of a board in rank order: (board, limit, offset). Public so a test can check its plan
/// walks the index instead of sorting the board.
pub const LEADERBOARD_RANGE: &str = concat!(
    "SELECT ",
    board_columns!(),
    " FROM leaderboard_entries WHERE board = $1 ORDER BY ",
    board_order!(),
    " LIMIT $2 OFFSET $3"
);

/// The rows just ahead of a board row, nearest first: equal score and an earlier (time, completion,
/// player), then better scores; each part walks the index backwards from the row.
pub const BOARD_AHEAD: &str = concat!(
    "SELECT * FROM (SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = $1 \
       AND e.best_score = $2 AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) < ($3, $4, $5) \
       ORDER BY e.best_time_ms DESC, e.best_completed_at_ms DESC, e.player_id DESC LIMIT $6) a \
     UNION ALL SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = $1 AND e.best_score > $2 \
       ORDER BY e.best_score ASC, e.best_time_ms DESC, e.best_completed_at_ms DESC, e.player_id DESC LIMIT $6) b) t \
     ORDER BY t.best_score ASC, t.best_time_ms DESC, t.best_completed_at_ms DESC, t.player_id DESC LIMIT $6"
);

/// The rows just behind a board row, nearest first (the mirror of [`BOARD_AHEAD`]).
pub const BOARD_BEHIND: &str = concat!(
    "SELECT * FROM (SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = $1 \
       AND e.best_score = $2 AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) > ($3, $4, $5) \
       ORDER BY e.best_time_ms ASC, e.best_completed_at_ms ASC, e.player_id ASC LIMIT $6) a \
     UNION ALL SELECT * FROM (SELECT ", board_columns!(), " FROM leaderboard_entries e WHERE board = $1 AND e.best_score < $2 \
       ORDER BY e.best_score DESC, e.best_time_ms ASC, e.best_completed_at_ms ASC, e.player_id ASC LIMIT $6) b) t \
     ORDER BY t.best_score DESC, t.best_time_ms ASC, t.best_completed_at_ms ASC, t.player_id ASC LIMIT $6"
);

/// A player's row on a board with its rank and the board's size, in one statement (one snapshot):
/// (board, player).
/// The players with a better score are summed from the per-score counts the triggers keep, the
/// ties ahead are counted on the index from the row back, so it costs O(distinct scores + ties)
/// at any rank. Public so a test can check its plan never walks the rows ahead.
pub const BOARD_RANK: &str = concat!(
    "SELECT ", board_columns!(), ", 1 \
       + COALESCE((SELECT SUM(c.players) FROM leaderboard_score_counts c \
           WHERE c.board = $1 AND c.best_score > me.best_score), 0)::BIGINT \
       + (SELECT COUNT(*) FROM leaderboard_entries e WHERE e.board = $1 AND e.best_score = me.best_score \
           AND (e.best_time_ms, e.best_completed_at_ms, e.player_id) \
             < (me.best_time_ms, me.best_completed_at_ms, me.player_id)) AS rank, \
       COALESCE((SELECT z.players FROM leaderboard_sizes z WHERE z.board = $1), 0) AS board_players \
     FROM leaderboard_entries me WHERE me.board = $1 AND me.player_id = $2"
);

/// What a shard's counters become when the shard has a row already: the delta added.
macro_rules! stats_conflict {
    () => {
        " ON CONFLICT (difficulty, shard) DO UPDATE SET \
           games_started = s.games_started + EXCLUDED.games_started, \
           games_completed = s.games_completed + EXCLUDED.games_completed, \
           games_expired = s.games_expired + EXCLUDED.games_expired, \
           games_abandoned = s.games_abandoned + EXCLUDED.games_abandoned, \
           total_score = s.total_score + EXCLUDED.total_score, \
           max_score = GREATEST(s.max_score, EXCLUDED.max_score), \
           total_time_ms = s.total_time_ms + EXCLUDED.total_time_ms"
    };
}

macro_rules! stats_columns {
    () => {
        "INSERT INTO difficulty_stats_shards AS s (difficulty, shard, games_started, \
           games_completed, games_expired, games_abandoned, total_score, max_score, total_time_ms) "
    };
}

/// Adds a delta to one shard of a difficulty's counters.
const ADD_STATS: &str = concat!(
    stats_columns!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    stats_conflict!()
);

// A start and an end are each one statement, so one round trip with no BEGIN or COMMIT of its own:
// the parts are data-modifying CTEs that run only when the game's row changed (each reads `g`),
// and the outer SELECT reads them in the lock order used everywhere: the game's row, the player's
// row, a stats shard, then the boards' rows and sizes in key order.

/// A new game's row, the player's counters and a stats shard: (id, player, difficulty, daily,
/// start time, shard). The first column is 1 when the game is new.
const START_GAME: &str = concat!(
    "WITH g AS (INSERT INTO games (id, player_id, difficulty, daily_date, status, started_at_ms) \
       VALUES ($1, $2, $3, $4, 'active', $5) ON CONFLICT (id) DO NOTHING RETURNING player_id), \
     p AS (UPDATE players SET games_started = games_started + 1, \
       last_played_at_ms = GREATEST(COALESCE(last_played_at_ms, $5), $5) \
       WHERE id = (SELECT player_id FROM g) RETURNING 1), \
     s AS (",
    stats_columns!(),
    "SELECT $3, $6, 1, 0, 0, 0, 0, 0, 0 FROM g",
    stats_conflict!(),
    " RETURNING 1) \
     SELECT (SELECT COUNT(*) FROM g), (SELECT COUNT(*) FROM p), (SELECT COUNT(*) FROM s)"
);

/// A game's end: its row (only while active), the player's totals (a completion), a stats shard,
/// and (a completion) every leaderboard row and the boards' sizes. A row keeps the player's best
/// game: better score, then lower time. The first column is 1 when the game was active.
/// $1 id, $2 status, $3 score, $4 moves, $5 misses, $6 pairs, $7 time, $8 finish time, $9 result,
/// $10 pauses, $11 perfect (0 or 1), $12 difficulty, $13 shard, $14-$20 the stats delta
/// (started to time), $21 username, $22 the board keys (sorted; empty unless completed).
const FINISH_GAME: &str = concat!(
    "WITH g AS (UPDATE games SET status = $2, score = $3, moves = $4, misses = $5, pairs_found = $6, \
       time_ms = $7, finished_at_ms = $8, result = $9, pauses = $10 \
       WHERE id = $1 AND status = 'active' RETURNING player_id), \
     p AS (UPDATE players SET games_completed = games_completed + 1, total_score = total_score + $3, \
       best_score = GREATEST(best_score, $3), best_time_ms = LEAST(COALESCE(best_time_ms, $7), $7), \
       perfect_games = perfect_games + $11, last_played_at_ms = GREATEST(COALESCE(last_played_at_ms, $8), $8) \
       WHERE id = (SELECT player_id FROM g) AND $2 = 'completed' RETURNING 1), \
     s AS (",
    stats_columns!(),
    "SELECT $12, $13, $14, $15, $16, $17, $18, $19, $20 FROM g",
    stats_conflict!(),
    " RETURNING 1), \
     e AS (INSERT INTO leaderboard_entries AS e (board, player_id, username, difficulty, best_score, best_time_ms, \
              best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
       SELECT b, g.player_id, $21, $12, $3, $7, $8, 1, $3, $8 FROM g, unnest($22::TEXT[]) AS b ORDER BY b \
       ON CONFLICT (board, player_id) DO UPDATE SET \
         username = EXCLUDED.username, \
         games_completed = e.games_completed + 1, \
         total_score = e.total_score + EXCLUDED.total_score, \
         last_completed_at_ms = GREATEST(e.last_completed_at_ms, EXCLUDED.last_completed_at_ms), \
         difficulty = CASE WHEN EXCLUDED.best_score > e.best_score OR (EXCLUDED.best_score = e.best_score AND EXCLUDED.best_time_ms < e.best_time_ms) THEN EXCLUDED.difficulty ELSE e.difficulty END, \
         best_completed_at_ms = CASE WHEN EXCLUDED.best_score > e.best_score OR (EXCLUDED.best_score = e.best_score AND EXCLUDED.best_time_ms < e.best_time_ms) THEN EXCLUDED.best_completed_at_ms ELSE e.best_completed_at_ms END, \
         best_time_ms = CASE WHEN EXCLUDED.best_score > e.best_score OR (EXCLUDED.best_score = e.best_score AND EXCLUDED.best_time_ms < e.best_time_ms) THEN EXCLUDED.best_time_ms ELSE e.best_time_ms END, \
         best_score = GREATEST(e.best_score, EXCLUDED.best_score) \
       RETURNING e.board, (xmax = 0) AS inserted), \
     z AS (INSERT INTO leaderboard_sizes (board, players) SELECT board, 1 FROM e WHERE inserted ORDER BY board \
       ON CONFLICT (board) DO UPDATE SET players = leaderboard_sizes.players + 1 RETURNING 1) \
     SELECT (SELECT COUNT(*) FROM g), (SELECT COUNT(*) FROM p), (SELECT COUNT(*) FROM s), (SELECT COUNT(*) FROM z)"
);

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds a difficulty, a shard and the delta, in the order of [`ADD_STATS`] and [`FINISH_GAME`].
fn bind_stats<'q>(query: PgQuery<'q>, difficulty: &'q str, d: StatsDelta) -> PgQuery<'q> {
    query
        .bind(difficulty)
        .bind(pick_shard())
        .bind(d.started)
        .bind(d.completed)
        .bind(d.expired)
        .bind(d.abandoned)
        .bind(d.total_score)
        .bind(d.max_score as i32)
        .bind(d.time_ms)
}

async fn add_stats(conn: &mut sqlx::PgConnection, difficulty: &str, d: StatsDelta) -> Result<()> {
    bind_stats(sqlx::query(ADD_STATS), difficulty, d)
        .execute(conn)
        .await?;
    Ok(())
}

impl PgStore {
    /// A pool that connects on first use, so start-up succeeds while the database is down.
    pub fn connect_lazy(url: &str, options: &PoolOptions) -> Result<PgStore> {
        let statement_timeout = options.statement_timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("humor-memory-game")
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool_options = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            // No ping per checkout (a round trip per query): after an outage the monitor finds
            // the dead connections and replaces the pool (`reset_pool`).
            .test_before_acquire(false);
        let pool = pool_options.clone().connect_lazy_with(connect.clone());
        Ok(PgStore {
            pool: std::sync::RwLock::new(pool),
            options: pool_options,
            connect,
            acquire_timeout: options.acquire_timeout,
        })
    }

    /// The current pool (a cheap handle).
    pub fn pool(&self) -> PgPool {
        match self.pool.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// An index a committed migration builds with a plain `CREATE INDEX` (migrations never change once
/// committed), which holds off writes to its table for the whole build: seconds on a big board.
struct OnlineIndex {
    migration: i64,
    name: &'static str,
    create: &'static str,
    drop: &'static str,
}

/// Built `CONCURRENTLY` before the migrations run, so the migration finds them in place
/// (`IF NOT EXISTS`) and completions keep landing while they build (found at 1 million games).
const ONLINE_INDEXES: &[OnlineIndex] = &[OnlineIndex {
    migration: 5,
    name: "leaderboard_order",
    create: "CREATE INDEX CONCURRENTLY IF NOT EXISTS leaderboard_order ON leaderboard_entries \
             (board, best_score DESC, best_time_ms ASC, best_completed_at_ms ASC, player_id ASC)",
    drop: "DROP INDEX CONCURRENTLY IF EXISTS leaderboard_order",
}];

async fn build_pending_indexes_online(pool: &PgPool) -> Result<()> {
    let history: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !history {
        return Ok(()); // a new database: its tables are empty, nothing to hold off
    }
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    let mut failures = 0;
    for index in ONLINE_INDEXES
        .iter()
        .filter(|i| !applied.contains(&i.migration))
    {
        loop {
            let valid: Option<bool> = sqlx::query_scalar(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)",
            )
            .bind(index.name)
            .fetch_optional(pool)
            .await?;
            let step = match valid {
                Some(true) => break,
                None => sqlx::raw_sql(index.create).execute(pool).await.map(drop),
                Some(false) => {
                    // Invalid: another replica is building it, or a build died half-way.
                    let building: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index \
                         WHERE index_relid = to_regclass($1))",
                    )
                    .bind(index.name)
                    .fetch_one(pool)
                    .await?;
                    if building {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Ok(())
                    } else {
                        sqlx::raw_sql(index.drop).execute(pool).await.map(drop)
                    }
                }
            };
            if let Err(e) = step {
                // Two replicas racing for the same name: look again, a few times.
                failures += 1;
                if failures > 3 {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn migrate(&self) -> Result<()> {
        // The migrator takes an advisory lock, so replicas starting together apply each migration
        // once; an older binary ignores migrations it does not know (expand/contract rollbacks).
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_ignore_missing(true);
        // Its own connection, without the requests' statement_timeout: building an index on a big
        // table takes longer than any request may (found at 10 million games).
        let connect = self.connect.clone().options([("statement_timeout", "0")]);
        observe("migrate", async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(connect)
                .await?;
            let out: Result<()> = async {
                build_pending_indexes_online(&pool).await?;
                migrator.run(&pool).await?;
                crate::score_counts::backfill_score_counts(&pool).await
            }
            .await;
            pool.close().await;
            out
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        observe("ping", async {
            sqlx::query("SELECT 1").execute(&self.pool()).await?;
            Ok(())
        })
        .await
    }

    async fn ping_fresh(&self) -> Result<()> {
        use sqlx::Connection;
        let attempt = async {
            let mut conn = sqlx::PgConnection::connect_with(&self.connect).await?;
            sqlx::query("SELECT 1").execute(&mut conn).await?;
            conn.close().await?;
            Ok::<(), StoreError>(())
        };
        tokio::time::timeout(self.acquire_timeout, attempt)
            .await
            .map_err(|_| StoreError::unavailable("timed out connecting"))?
    }

    async fn setting_get_or_init(&self, key: &str, init: &str) -> Result<String> {
        observe("setting", async {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(init)
            .execute(&self.pool())
            .await?;
            Ok(
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_one(&self.pool())
                    .await?,
            )
        })
        .await
    }

    async fn claim_player(&self, id: Uuid, username: &str, now_ms: i64) -> Result<(Player, bool)> {
        observe("claim_player", async {
            let mut tx = self.pool().begin().await?;
            let created = sqlx::query(concat!("INSERT INTO players (id, username, username_key, created_at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (username_key) DO NOTHING RETURNING ", player_columns!()))
            .bind(id)
            .bind(username)
            .bind(username.to_ascii_lowercase())
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let out = match created {
                Some(row) => {
                    sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'players'")
                        .execute(&mut *tx)
                        .await?;
                    (rows::player(&row)?, true)
                }
                None => {
                    let row = sqlx::query(concat!("SELECT ", player_columns!(), " FROM players WHERE username_key = $1"))
                    .bind(username.to_ascii_lowercase())
                    .fetch_one(&mut *tx)
                    .await?;
                    (rows::player(&row)?, false)
                }
            };
            tx.commit().await?;
            Ok(out)
        })
        .await
    }

    async fn player_by_name(&self, username: &str) -> Result<Option<Player>> {
        observe("player_by_name", async {
            sqlx::query(concat!(
                "SELECT ",
                player_columns!(),
                " FROM players WHERE username_key = $1"
            ))
            .bind(username.to_ascii_lowercase())
            .fetch_optional(&self.pool())
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
                " FROM players WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .as_ref()
            .map(rows::player)
            .transpose()
        })
        .await
    }

    async fn insert_game(&self, g: &NewGameRecord) -> Result<bool> {
        observe("insert_game", async {
            let inserted: i64 = sqlx::query_scalar(START_GAME)
                .bind(g.id)
                .bind(g.player_id)
                .bind(g.difficulty.as_str())
                .bind(&g.daily)
                .bind(g.started_at_ms)
                .bind(pick_shard())
                .fetch_one(&self.pool())
                .await?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn finish_game(&self, g: &FinishedGame) -> Result<bool> {
        observe("finish_game", async {
            let query = sqlx::query(FINISH_GAME)
                .bind(g.id)
                .bind(g.status.as_str())
                .bind(g.score as i32)
                .bind(g.moves as i32)
                .bind(g.misses as i32)
                .bind(g.pairs_found as i32)
                .bind(g.time_ms)
                .bind(g.finished_at_ms)
                .bind(g.result_json()?)
                .bind(g.pauses as i32)
                .bind(i64::from(g.misses == 0));
            let updated: i64 = bind_stats(query, g.difficulty.as_str(), g.stats_delta())
                .bind(&g.username)
                .bind(g.board_keys())
                .fetch_one(&self.pool())
                .await?
                .try_get(0)?;
            Ok(updated == 1)
        })
        .await
    }

    async fn game(&self, id: Uuid) -> Result<Option<GameRecord>> {
        observe("game", async {
            sqlx::query(concat!(
                "SELECT ",
                game_columns!(),
                " FROM games g JOIN players p ON p.id = g.player_id WHERE g.id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .as_ref()
            .map(rows::game)
            .transpose()
        })
        .await
    }

    async fn expire_stale_games(&self, started_before_ms: i64, now_ms: i64) -> Result<u64> {
        observe("expire_stale_games", async {
            let mut tx = self.pool().begin().await?;
            let rows = sqlx::query(
                "WITH stale AS (UPDATE games SET status = 'expired', finished_at_ms = $2 \
                   WHERE status = 'active' AND started_at_ms < $1 RETURNING difficulty) \
                 SELECT difficulty, COUNT(*) AS n FROM stale GROUP BY difficulty",
            )
            .bind(started_before_ms)
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
            let mut total = 0u64;
            for r in &rows {
                let (difficulty, n): (String, i64) = (r.try_get("difficulty")?, r.try_get("n")?);
                add_stats(
                    &mut tx,
                    &difficulty,
                    StatsDelta {
                        expired: n,
                        ..Default::default()
                    },
                )
                .await?;
                total += n as u64;
            }
            tx.commit().await?;
            Ok(total)
        })
        .await
    }

    async fn daily_started(&self, player_id: Uuid, date: &str) -> Result<bool> {
        observe("daily_started", async {
            Ok(
                sqlx::query("SELECT 1 FROM games WHERE player_id = $1 AND daily_date = $2")
                    .bind(player_id)
                    .bind(date)
                    .fetch_optional(&self.pool())
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
                .fetch_all(&self.pool())
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
                    .bind(row.best_score as i32)
                    .bind(row.best_time_ms)
                    .bind(row.best_completed_at_ms)
                    .bind(row.player_id)
                    .bind(context.max(0))
                    .fetch_all(&self.pool())
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
                sqlx::query_scalar("SELECT players FROM leaderboard_sizes WHERE board = $1")
                    .bind(board.key())
                    .fetch_optional(&self.pool())
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
                .bind(player_id)
                .fetch_optional(&self.pool())
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
            let players: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'players'")
                .fetch_optional(&self.pool())
                .await?
                .unwrap_or(0);
            let rows = sqlx::query(STATS_TOTALS)
            .fetch_all(&self.pool())
            .await?;
            let mut by_difficulty = Vec::with_capacity(rows.len());
            for r in &rows {
                by_difficulty.push(rows::difficulty_stats(r)?);
            }
            let highest = self.top_scores(1).await?.into_iter().next();
            let fastest = sqlx::query(
                "SELECT p.username, g.difficulty, g.daily_date, g.score::BIGINT AS score, g.time_ms, g.finished_at_ms \
                 FROM games g JOIN players p ON p.id = g.player_id WHERE g.status = 'completed' \
                 ORDER BY g.time_ms ASC, g.finished_at_ms ASC LIMIT 1",
            )
            .fetch_optional(&self.pool())
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
                 WHERE g.player_id = $1 ORDER BY g.started_at_ms DESC, g.id LIMIT $2 OFFSET $3"
            ))
            .bind(player_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool())
            .await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM games WHERE player_id = $1")
                .bind(player_id)
                .fetch_one(&self.pool())
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
            sqlx::query(
                "SELECT p.username, g.difficulty, g.daily_date, g.score::BIGINT AS score, g.time_ms, g.finished_at_ms \
                 FROM games g JOIN players p ON p.id = g.player_id WHERE g.status = 'completed' \
                 ORDER BY g.finished_at_ms DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&self.pool())
            .await?
            .iter()
            .map(rows::score_row)
            .collect()
        })
        .await
    }

    async fn top_scores(&self, limit: i64) -> Result<Vec<ScoreRow>> {
        observe("top_scores", async {
            sqlx::query(
                "SELECT p.username, g.difficulty, g.daily_date, g.score::BIGINT AS score, g.time_ms, g.finished_at_ms \
                 FROM games g JOIN players p ON p.id = g.player_id WHERE g.status = 'completed' \
                 ORDER BY g.score DESC, g.time_ms ASC, g.finished_at_ms ASC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&self.pool())
            .await?
            .iter()
            .map(rows::score_row)
            .collect()
        })
        .await
    }

    async fn close(&self) {
        self.pool().close().await;
    }

    async fn reset_pool(&self) {
        let fresh = self.options.clone().connect_lazy_with(self.connect.clone());
        let old = match self.pool.write() {
            Ok(mut p) => std::mem::replace(&mut *p, fresh),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), fresh),
        };
        // Requests holding the old pool finish with it; its idle (dead) connections go now.
        tokio::spawn(async move { old.close().await });
    }
}
