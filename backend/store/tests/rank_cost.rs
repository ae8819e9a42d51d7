//! What a median player's rank costs at 100 thousand and 1 million rows on one board: counting
//! the rows ahead (the statements used before the per-score counts) against summing the counts
//! (`BOARD_RANK`), and what the counting triggers add to a write. A measurement, not a check:
//!
//! `cargo test --release -p humor-store --test rank_cost -- --ignored --nocapture`
//! with `TEST_DATABASE_URL` pointing at a PostgreSQL server (SQLite always runs).

use humor_store::{connect, PoolOptions};
use sqlx::Connection;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SIZES: [i64; 2] = [100_000, 1_000_000];
const RUNS: usize = 41;
const WRITES: i64 = 500;

/// Scores spread over every value a game can give (0..=1242), times and completions varied, so
/// a median player has the usual few hundred ties.
const ENTRY_VALUES: &str =
    "'all:*', P, 'p' || i, 'easy', (CAST(i AS BIGINT) * 7919) % 1243, 30000 + (i * 31) % 90000, i, 1, 0, i";

const OLD_COUNT_PG: &str =
    "SELECT (SELECT COUNT(*) FROM leaderboard_entries WHERE board = $1 AND best_score > $2) + \
            (SELECT COUNT(*) FROM leaderboard_entries WHERE board = $1 AND best_score = $2 AND \
               (best_time_ms, best_completed_at_ms, player_id) < ($3, $4, $5))";
const OLD_COUNT_SQLITE: &str =
    "SELECT (SELECT COUNT(*) FROM leaderboard_entries WHERE board = ?1 AND best_score > ?2) + \
            (SELECT COUNT(*) FROM leaderboard_entries WHERE board = ?1 AND best_score = ?2 AND \
               (best_time_ms, best_completed_at_ms, player_id) < (?3, ?4, ?5))";
const ROW_PG: &str =
    "SELECT best_score, best_time_ms, best_completed_at_ms FROM leaderboard_entries \
                      WHERE board = $1 AND player_id = $2";
const ROW_SQLITE: &str =
    "SELECT best_score, best_time_ms, best_completed_at_ms FROM leaderboard_entries \
                          WHERE board = ?1 AND player_id = ?2";

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// p50 and p90 of `RUNS` timings, in milliseconds.
fn summary(mut runs: Vec<Duration>) -> String {
    runs.sort();
    let at = |q: f64| ms(runs[((runs.len() - 1) as f64 * q) as usize]);
    format!("p50 {:.3} ms, p90 {:.3} ms", at(0.5), at(0.9))
}

#[tokio::test]
#[ignore = "a measurement: minutes of inserts, nothing asserted"]
async fn rank_cost_before_and_after_score_counts() {
    for n in SIZES {
        sqlite_at(n).await;
    }
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        println!("TEST_DATABASE_URL is not set: PostgreSQL not measured");
        return;
    };
    for n in SIZES {
        postgres_at(&admin_url, n).await;
    }
}

async fn sqlite_at(n: i64) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("cost.sqlite").display());
    let store = connect(&url, &PoolOptions::default()).expect("open");
    store.migrate().await.expect("migrate");
    store.close().await;
    let mut c = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    let seeded = Instant::now();
    let series =
        format!("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})");
    let player = "printf('%08x-0000-4000-8000-000000000000', i)";
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; \
         INSERT INTO players (id, username, username_key, created_at_ms) {series} SELECT {player}, 'p' || i, 'p' || i, 0 FROM s; \
         INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms, \
           best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
         {series} SELECT {} FROM s; COMMIT; ANALYZE;",
        ENTRY_VALUES.replace(" P,", &format!(" {player},"))
    )))
    .execute(&mut c)
    .await
    .expect("seed");
    let seeded = seeded.elapsed();
    let median: String = sqlx::query_scalar(
        "SELECT player_id FROM leaderboard_entries WHERE board = 'all:*' \
         ORDER BY best_score DESC, best_time_ms, best_completed_at_ms, player_id LIMIT 1 OFFSET ?1",
    )
    .bind(n / 2)
    .fetch_one(&mut c)
    .await
    .expect("median");
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let (mut old_rank, mut new_rank) = (0_i64, 0_i64);
    for _ in 0..RUNS {
        let t = Instant::now();
        let (s, time, at): (i64, i64, i64) = sqlx::query_as(ROW_SQLITE)
            .bind("all:*")
            .bind(&median)
            .fetch_one(&mut c)
            .await
            .expect("row");
        let ahead: i64 = sqlx::query_scalar(OLD_COUNT_SQLITE)
            .bind("all:*")
            .bind(s)
            .bind(time)
            .bind(at)
            .bind(&median)
            .fetch_one(&mut c)
            .await
            .expect("old");
        old.push(t.elapsed());
        old_rank = ahead + 1;
        let t = Instant::now();
        let row = sqlx::query(humor_store::sqlite::BOARD_RANK)
            .bind("all:*")
            .bind(&median)
            .fetch_one(&mut c)
            .await
            .expect("new");
        new.push(t.elapsed());
        new_rank = sqlx::Row::try_get(&row, "rank").expect("rank");
    }
    assert_eq!(old_rank, new_rank);
    let writes = sqlite_writes(&mut c, n).await;
    println!(
        "sqlite {n} rows (seeded in {:.1} s), median player rank {new_rank}: counting the rows ahead {}; \
         summing the score counts {}; {WRITES} score changes {writes}",
        seeded.as_secs_f64(),
        summary(old),
        summary(new)
    );
}

/// Each write raises one player's best score in its own transaction, with the triggers and
/// without them (dropped, as before migration 6).
async fn sqlite_writes(c: &mut sqlx::SqliteConnection, n: i64) -> String {
    let mut out = Vec::new();
    for pass in ["with triggers", "without"] {
        if pass == "without" {
            for t in ["insert", "delete", "update"] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP TRIGGER leaderboard_score_counts_{t}"
                )))
                .execute(&mut *c)
                .await
                .expect("drop trigger");
            }
        }
        let t = Instant::now();
        for k in 0..WRITES {
            sqlx::query(
                "UPDATE leaderboard_entries SET best_score = best_score + 1 \
                 WHERE board = 'all:*' AND player_id = printf('%08x-0000-4000-8000-000000000000', ?1)",
            )
            .bind(1 + (k * 104_729) % n)
            .execute(&mut *c)
            .await
            .expect("write");
        }
        out.push(format!(
            "{pass}: {:.3} ms each",
            ms(t.elapsed()) / WRITES as f64
        ));
    }
    out.join(", ")
}

async fn postgres_at(admin_url: &str, n: i64) {
    let name = format!("hmg_rank_cost_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create");
    let url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => unreachable!("a database URL has a path"),
    };
    let store = connect(&url, &PoolOptions::default()).expect("open");
    store.migrate().await.expect("migrate");
    store.close().await;
    let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
    let seeded = Instant::now();
    let player = "md5(i::text)::uuid";
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO players (id, username, username_key, created_at_ms) \
           SELECT {player}, 'p' || i, 'p' || i, 0 FROM generate_series(1, {n}) i; \
         INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms, \
           best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
           SELECT {} FROM generate_series(1, {n}) i",
        ENTRY_VALUES.replace(" P,", &format!(" {player},"))
    )))
    .execute(&mut c)
    .await
    .expect("seed");
    // Outside the seeding transaction (VACUUM cannot run in one): index-only scans need it.
    sqlx::raw_sql("VACUUM ANALYZE")
        .execute(&mut c)
        .await
        .expect("vacuum");
    let seeded = seeded.elapsed();
    let median: Uuid = sqlx::query_scalar(
        "SELECT player_id FROM leaderboard_entries WHERE board = 'all:*' \
         ORDER BY best_score DESC, best_time_ms, best_completed_at_ms, player_id LIMIT 1 OFFSET $1",
    )
    .bind(n / 2)
    .fetch_one(&mut c)
    .await
    .expect("median");
    let (mut old, mut new) = (Vec::new(), Vec::new());
    let (mut old_rank, mut new_rank) = (0_i64, 0_i64);
    for _ in 0..RUNS {
        let t = Instant::now();
        let (s, time, at): (i32, i64, i64) = sqlx::query_as(ROW_PG)
            .bind("all:*")
            .bind(median)
            .fetch_one(&mut c)
            .await
            .expect("row");
        let ahead: i64 = sqlx::query_scalar(OLD_COUNT_PG)
            .bind("all:*")
            .bind(s)
            .bind(time)
            .bind(at)
            .bind(median)
            .fetch_one(&mut c)
            .await
            .expect("old");
        old.push(t.elapsed());
        old_rank = ahead + 1;
        let t = Instant::now();
        let row = sqlx::query(humor_store::postgres::BOARD_RANK)
            .bind("all:*")
            .bind(median)
            .fetch_one(&mut c)
            .await
            .expect("new");
        new.push(t.elapsed());
        new_rank = sqlx::Row::try_get(&row, "rank").expect("rank");
    }
    assert_eq!(old_rank, new_rank);
    let mut writes = Vec::new();
    for pass in ["with triggers", "without"] {
        if pass == "without" {
            sqlx::query("ALTER TABLE leaderboard_entries DISABLE TRIGGER USER")
                .execute(&mut c)
                .await
                .expect("disable trigger");
        }
        let t = Instant::now();
        for k in 0..WRITES {
            sqlx::query(
                "UPDATE leaderboard_entries SET best_score = best_score + 1 \
                 WHERE board = 'all:*' AND player_id = md5($1::text)::uuid",
            )
            .bind(1 + (k * 104_729) % n)
            .execute(&mut c)
            .await
            .expect("write");
        }
        writes.push(format!(
            "{pass}: {:.3} ms each",
            ms(t.elapsed()) / WRITES as f64
        ));
    }
    println!(
        "postgres {n} rows (seeded in {:.1} s), median player rank {new_rank}: counting the rows ahead {}; \
         summing the score counts {}; {WRITES} score changes {}",
        seeded.as_secs_f64(),
        summary(old),
        summary(new),
        writes.join(", ")
    );
    c.close().await.expect("close");
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}
