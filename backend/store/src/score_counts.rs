//! PostgreSQL: counts the board rows written before migration 6 into `leaderboard_score_counts`,
//! without holding off completions.
//!
//! Migration 6 only adds the table and the triggers, which add +1/-1 for every row written after
//! it. Here, board by board, the difference between a fresh count of the board's rows and its
//! counts kept so far (both at one snapshot) is exactly its rows written before the triggers; adding
//! it (an increment, which commutes with the triggers' own) makes the counts exact while completions
//! keep landing. A board's counts change only with its own rows, so each board may have a snapshot
//! of its own. Recorded in `settings` once done, so it runs once; a backfill that dies half-way is
//! redone from new snapshots, which count what it had already added.

use crate::Result;
use sqlx::postgres::PgPool;
use sqlx::Acquire;

/// The `settings` key recording that the counts are exact.
const DONE: &str = "leaderboard_score_counts";

/// Session advisory lock: replicas starting together backfill one at a time (the later ones find
/// it done). An arbitrary constant, distinct from the migrator's.
const LOCK_KEY: i64 = 0x6c62_5f63_6f75_6e74;

/// Count rows changed in one transaction at most: each holds its rows' locks until it commits.
const CHUNK: usize = 500;

/// Every board with a row or a count. The rows' boards are found by skipping through the board index, one probe per board, not by reading it.
const BOARDS: &str = "WITH RECURSIVE b(board) AS ( \
       SELECT min(board) FROM leaderboard_entries \
       UNION ALL SELECT (SELECT min(e.board) FROM leaderboard_entries e WHERE e.board > b.board) \
       FROM b WHERE b.board IS NOT NULL) \
     SELECT board FROM b WHERE board IS NOT NULL \
     UNION SELECT board FROM leaderboard_score_counts";

/// What one board's counts lack, per score, at the statement's snapshot; scores ascending, as
/// completions lock them, so the two never wait on each other in a cycle.
pub const BOARD_MISSING: &str = "SELECT best_score, CAST(SUM(n) AS BIGINT) AS missing FROM ( \
       SELECT best_score, COUNT(*) AS n FROM leaderboard_entries WHERE board = $1 GROUP BY best_score \
       UNION ALL SELECT best_score, -players FROM leaderboard_score_counts WHERE board = $1) d \
     GROUP BY best_score HAVING SUM(n) <> 0 ORDER BY best_score";

/// The count reads one board's stretch of its index in this one backend: a parallel plan, or a
/// scan of the whole table for a big board, could take every core of a small database host from
/// the release still serving.
pub const ONE_BOARD_AT_A_TIME: &str =
    "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_seqscan = off";

const ADD: &str = "INSERT INTO leaderboard_score_counts AS c (board, best_score, players) \
       SELECT $1, * FROM unnest($2::INTEGER[], $3::BIGINT[]) \
     ON CONFLICT (board, best_score) DO UPDATE SET players = c.players + EXCLUDED.players";

const DROP_EMPTY: &str = "DELETE FROM leaderboard_score_counts \
     WHERE board = $1 AND best_score = ANY($2::INTEGER[]) AND players = 0";

pub(crate) async fn backfill_score_counts(pool: &PgPool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let out = backfill_locked(&mut conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await;
    out?;
    unlocked?;
    Ok(())
}

async fn backfill_locked(conn: &mut sqlx::PgConnection) -> Result<()> {
    let done: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM settings WHERE key = $1)")
        .bind(DONE)
        .fetch_one(&mut *conn)
        .await?;
    if done {
        return Ok(());
    }
    let mut boards: Vec<String> = sqlx::query_scalar(BOARDS).fetch_all(&mut *conn).await?;
    // In byte order, as completions lock count rows.
    boards.sort_unstable();
    for board in &boards {
        let missing: Vec<(i32, i64)> = {
            let mut tx = conn.begin().await?;
            sqlx::raw_sql(ONE_BOARD_AT_A_TIME).execute(&mut *tx).await?;
            let rows = sqlx::query_as(BOARD_MISSING)
                .bind(board)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        };
        for chunk in missing.chunks(CHUNK) {
            let scores: Vec<i32> = chunk.iter().map(|(s, _)| *s).collect();
            let players: Vec<i64> = chunk.iter().map(|(_, n)| *n).collect();
            let mut tx = conn.begin().await?;
            sqlx::query(ADD)
                .bind(board)
                .bind(&scores)
                .bind(&players)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DROP_EMPTY)
                .bind(board)
                .bind(&scores)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, 'exact') ON CONFLICT (key) DO NOTHING",
    )
    .bind(DONE)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
