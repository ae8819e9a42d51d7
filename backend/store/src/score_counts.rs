//! PostgreSQL: counts the board rows written before migration 6 into `leaderboard_score_counts`,
//! without holding off completions.
//!
//! Migration 6 only adds the table and the triggers, which add +1/-1 for every row written after
//! it. Here, at one snapshot, the difference between a fresh count of the rows and the counts kept
//! so far is exactly the rows written before the triggers; adding it (an increment, which commutes
//! with the triggers' own) makes the counts exact while completions keep landing. Recorded in
//! `settings` once done, so it runs once; a backfill that dies half-way is redone from a new
//! snapshot, which counts what it had already added.

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

/// What the counts lack, per board and score, at the transaction's snapshot. Sorted as the
/// completions lock count rows (boards in byte order, scores ascending), so the two never wait on
/// each other in a cycle.
const MISSING: &str = "SELECT board, best_score, CAST(SUM(n) AS BIGINT) AS missing FROM ( \
       SELECT board, best_score, COUNT(*) AS n FROM leaderboard_entries GROUP BY board, best_score \
       UNION ALL SELECT board, best_score, -players FROM leaderboard_score_counts) d \
     GROUP BY board, best_score HAVING SUM(n) <> 0 ORDER BY board COLLATE \"C\", best_score";

const ADD: &str = "INSERT INTO leaderboard_score_counts AS c (board, best_score, players) \
       SELECT * FROM unnest($1::TEXT[], $2::INTEGER[], $3::BIGINT[]) \
     ON CONFLICT (board, best_score) DO UPDATE SET players = c.players + EXCLUDED.players";

const DROP_EMPTY: &str = "DELETE FROM leaderboard_score_counts \
     WHERE (board, best_score) IN (SELECT * FROM unnest($1::TEXT[], $2::INTEGER[])) AND players = 0";

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
    let missing: Vec<(String, i32, i64)> = {
        let mut tx = conn.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query_as(MISSING).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows
    };
    for chunk in missing.chunks(CHUNK) {
        let boards: Vec<&str> = chunk.iter().map(|(b, _, _)| b.as_str()).collect();
        let scores: Vec<i32> = chunk.iter().map(|(_, s, _)| *s).collect();
        let players: Vec<i64> = chunk.iter().map(|(_, _, n)| *n).collect();
        let mut tx = conn.begin().await?;
        sqlx::query(ADD)
            .bind(&boards)
            .bind(&scores)
            .bind(&players)
            .execute(&mut *tx)
            .await?;
        sqlx::query(DROP_EMPTY)
            .bind(&boards)
            .bind(&scores)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, 'exact') ON CONFLICT (key) DO NOTHING",
    )
    .bind(DONE)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
