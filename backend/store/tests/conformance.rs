//! One suite, every engine: each test runs against SQLite (a fresh temp file) and, when
//! `TEST_DATABASE_URL` is set, against a fresh PostgreSQL database created for the test.
//! With `REQUIRE_SERVICES=1` a missing `TEST_DATABASE_URL` is a failure, not a skip.

use humor_game::scoring::{Achievement, ScoreBreakdown};
use humor_game::Difficulty;
use humor_store::{
    connect, Board, BoardKind, BoardRow, FinalStatus, FinishedGame, NewGameRecord, Player,
    PoolOptions, RecordStatus, ResultRecord, Store, StoreError,
};
mod engines;

use engines::{
    drop_engine, each_engine, postgres, postgres_unmigrated, replace_db, sqlite, sqlite_unmigrated,
    Engine,
};
use sqlx::Connection;
use std::sync::Arc;
use uuid::Uuid;

const T0: i64 = 1_795_687_200_000; // 2026-11-26T10:00:00Z

fn board(kind: BoardKind, difficulty: Option<Difficulty>) -> Board {
    Board { kind, difficulty }
}

async fn new_game(
    store: &Arc<dyn Store>,
    player: Uuid,
    difficulty: Difficulty,
    daily: Option<&str>,
    at: i64,
) -> Uuid {
    let id = Uuid::new_v4();
    store
        .insert_game(&NewGameRecord {
            id,
            player_id: player,
            difficulty,
            daily: daily.map(String::from),
            started_at_ms: at,
        })
        .await
        .expect("insert game");
    id
}

fn finished(
    id: Uuid,
    player: Uuid,
    name: &str,
    d: Difficulty,
    score: i64,
    time_ms: i64,
    at: i64,
) -> FinishedGame {
    FinishedGame {
        id,
        player_id: player,
        username: name.into(),
        difficulty: d,
        daily: None,
        status: FinalStatus::Completed,
        score,
        moves: 10,
        misses: 2,
        pairs_found: 8,
        time_ms,
        pauses: 1,
        finished_at_ms: at,
        // A result completes when its game finishes.
        result: Some(ResultRecord {
            completed_at_ms: at,
            ..result_of(score)
        }),
    }
}

/// A result record whose base score is `score`.
fn result_of(score: i64) -> ResultRecord {
    ResultRecord {
        breakdown: ScoreBreakdown {
            base_score: u32::try_from(score).expect("a small score"),
            ..ScoreBreakdown::default()
        },
        time_ms: 60_000,
        moves: 10,
        pairs_found: 8,
        misses: 2,
        achievements: vec![Achievement::StreakMaster],
        completed_at_ms: T0,
    }
}

/// Claims `name` for a new player with a fresh id.
async fn new_player(store: &Arc<dyn Store>, name: &str, at: i64) -> Player {
    store
        .claim_player(Uuid::new_v4(), name, at)
        .await
        .expect("claim")
        .0
}

async fn play(
    store: &Arc<dyn Store>,
    name: &str,
    d: Difficulty,
    score: i64,
    time_ms: i64,
    at: i64,
) -> Uuid {
    let p = new_player(store, name, at).await;
    let id = new_game(store, p.id, d, None, at - time_ms).await;
    assert!(store
        .finish_game(&finished(id, p.id, &p.username, d, score, time_ms, at))
        .await
        .expect("finish"));
    id
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    each_engine(|name, store| async move {
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store.ping().await.unwrap_or_else(|e| panic!("{name}: {e}"));
    })
    .await;
}

#[tokio::test]
async fn the_first_stored_setting_wins() {
    each_engine(|name, store| async move {
        assert_eq!(
            store.setting_get_or_init("k", "one").await.expect("init"),
            "one",
            "{name}"
        );
        assert_eq!(
            store.setting_get_or_init("k", "two").await.expect("get"),
            "one",
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_username_is_claimed_once_case_insensitively() {
    each_engine(|name, store| async move {
        // The caller chooses the id (the server derives it from the claiming request).
        let id = Uuid::new_v4();
        let (a, created) = store.claim_player(id, "Alice", T0).await.expect("claim");
        assert!(created, "{name}");
        assert_eq!(a.username, "Alice");
        assert_eq!(a.id, id, "{name}");
        let (b, created) = store
            .claim_player(Uuid::new_v4(), "ALICE", T0 + 1)
            .await
            .expect("claim again");
        assert!(!created, "{name}");
        assert_eq!(a.id, b.id);
        assert_eq!(
            store
                .player_by_name("alice")
                .await
                .expect("find")
                .map(|p| p.id),
            Some(a.id)
        );
        assert_eq!(
            store
                .player_by_id(a.id)
                .await
                .expect("find")
                .map(|p| p.username),
            Some("Alice".into())
        );
        assert!(store.player_by_name("bob").await.expect("find").is_none());
        assert_eq!(store.stats().await.expect("stats").players, 1, "{name}");
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_of_one_name_create_one_player() {
    each_engine(|name, store| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.claim_player(Uuid::new_v4(), "racer", T0 + i).await
            }));
        }
        let mut ids = Vec::new();
        let mut created = 0;
        for t in tasks {
            let (p, c) = t.await.expect("join").expect("claim");
            ids.push(p.id);
            created += usize::from(c);
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{name}");
        assert_eq!(created, 1, "{name}");
    })
    .await;
}

#[tokio::test]
async fn a_daily_challenge_can_be_started_once_per_player_and_day() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "daily", T0).await;
        assert!(!store
            .daily_started(p.id, "2026-11-26")
            .await
            .expect("check"));
        new_game(&store, p.id, Difficulty::Medium, Some("2026-11-26"), T0).await;
        assert!(
            store
                .daily_started(p.id, "2026-11-26")
                .await
                .expect("check"),
            "{name}"
        );
        let again = store
            .insert_game(&NewGameRecord {
                id: Uuid::new_v4(),
                player_id: p.id,
                difficulty: Difficulty::Medium,
                daily: Some("2026-11-26".into()),
                started_at_ms: T0 + 5,
            })
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{name}: {again:?}"
        );
        new_game(
            &store,
            p.id,
            Difficulty::Medium,
            Some("2026-11-27"),
            T0 + 86_400_000,
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn recording_a_dealt_game_again_changes_nothing() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "redeal", T0).await;
        let record = NewGameRecord {
            id: Uuid::new_v4(),
            player_id: p.id,
            difficulty: Difficulty::Hard,
            daily: None,
            started_at_ms: T0,
        };
        assert!(store.insert_game(&record).await.expect("insert"), "{name}");
        assert!(
            !store.insert_game(&record).await.expect("insert again"),
            "{name}: a retried start is not a second game"
        );
        let player = store
            .player_by_id(p.id)
            .await
            .expect("player")
            .expect("exists");
        assert_eq!(player.games_started, 1, "{name}");
        let stored = store.game(record.id).await.expect("game").expect("stored");
        assert_eq!(stored.status, RecordStatus::Active, "{name}");
    })
    .await;
}

#[tokio::test]
async fn finishing_a_game_is_recorded_once() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "once", T0).await;
        let id = new_game(&store, p.id, Difficulty::Easy, None, T0).await;
        let g = finished(id, p.id, "once", Difficulty::Easy, 200, 60_000, T0 + 60_000);
        assert!(store.finish_game(&g).await.expect("finish"), "{name}");
        let again = FinishedGame {
            score: 999,
            ..g.clone()
        };
        assert!(
            !store.finish_game(&again).await.expect("finish again"),
            "{name}"
        );
        let rec = store.game(id).await.expect("game").expect("exists");
        assert_eq!(
            (rec.status, rec.score, rec.time_ms),
            (RecordStatus::Finished(FinalStatus::Completed), 200, 60_000)
        );
        assert_eq!(rec.result, g.result);
        let player = store
            .player_by_id(p.id)
            .await
            .expect("player")
            .expect("exists");
        assert_eq!(
            (
                player.games_started,
                player.games_completed,
                player.total_score,
                player.best_score
            ),
            (1, 1, 200, 200)
        );
        let all = board(BoardKind::All, Some(Difficulty::Easy));
        assert_eq!(store.board_size(&all).await.expect("size"), 1, "{name}");
        let rows = store.leaderboard(&all, 10).await.expect("board");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].best_score, rows[0].games_completed),
            (200, 1),
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn boards_rank_by_best_score_then_time_then_completion() {
    each_engine(|name, store| async move {
        play(&store, "slow", Difficulty::Easy, 250, 90_000, T0 + 10).await;
        play(&store, "fast", Difficulty::Easy, 250, 60_000, T0 + 20).await;
        play(&store, "late", Difficulty::Easy, 250, 60_000, T0 + 30).await;
        play(&store, "top", Difficulty::Easy, 300, 120_000, T0 + 40).await;
        play(&store, "low", Difficulty::Easy, 100, 30_000, T0 + 50).await;
        // A worse game later does not replace a player's best, but counts as played.
        play(&store, "top", Difficulty::Easy, 10, 10_000, T0 + 60).await;
        let all = board(BoardKind::All, Some(Difficulty::Easy));
        let rows = store.leaderboard(&all, 10).await.expect("board");
        let order: Vec<(&str, i64)> = rows.iter().map(|r| (r.username.as_str(), r.rank)).collect();
        assert_eq!(
            order,
            vec![
                ("top", 1),
                ("fast", 2),
                ("late", 3),
                ("slow", 4),
                ("low", 5)
            ],
            "{name}"
        );
        assert_eq!(
            (
                rows[0].best_score,
                rows[0].games_completed,
                rows[0].total_score
            ),
            (300, 2, 310)
        );
        assert_eq!(store.board_size(&all).await.expect("size"), 5);
        let late = new_player(&store, "late", T0).await;
        let r = store
            .rank(&all, late.id)
            .await
            .expect("rank")
            .expect("ranked")
            .row;
        assert_eq!(r.rank, 3, "{name}");
        let around = store.leaderboard_range(&all, 2, 4).await.expect("range");
        assert_eq!(
            around.iter().map(|r| r.rank).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(around[1].username, "late");
        // Walking out from each row (ties on score, then on time) gives the same slices.
        let whole = store.leaderboard_range(&all, 1, 10).await.expect("range");
        for row in &whole {
            for context in [0, 1, 2, 9] {
                let walked = store
                    .leaderboard_around(&all, row, context)
                    .await
                    .expect("around");
                let sliced = store
                    .leaderboard_range(&all, row.rank - context, row.rank + context)
                    .await
                    .expect("range");
                assert_eq!(walked, sliced, "{name}: {} ±{context}", row.username);
            }
        }
        // Overall, week and month boards include the same games; other difficulties do not.
        for b in [
            board(BoardKind::All, None),
            board(BoardKind::Week("2026-W48".into()), Some(Difficulty::Easy)),
            board(BoardKind::Month("2026-11".into()), None),
        ] {
            assert_eq!(
                store.board_size(&b).await.expect("size"),
                5,
                "{name} {}",
                b.key()
            );
        }
        assert_eq!(
            store
                .board_size(&board(BoardKind::All, Some(Difficulty::Hard)))
                .await
                .expect("size"),
            0
        );
        assert_eq!(
            store
                .board_size(&board(BoardKind::Week("2026-W47".into()), None))
                .await
                .expect("size"),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn expired_and_abandoned_games_are_counted_but_never_ranked() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "quitter", T0).await;
        for status in [FinalStatus::Expired, FinalStatus::Abandoned] {
            let id = new_game(&store, p.id, Difficulty::Hard, None, T0).await;
            let g = FinishedGame {
                status,
                result: None,
                ..finished(
                    id,
                    p.id,
                    "quitter",
                    Difficulty::Hard,
                    0,
                    600_000,
                    T0 + 600_000,
                )
            };
            assert!(store.finish_game(&g).await.expect("finish"));
        }
        assert!(
            store
                .rank(&board(BoardKind::All, None), p.id)
                .await
                .expect("rank")
                .is_none(),
            "{name}"
        );
        let stats = store.stats().await.expect("stats");
        let hard = stats
            .by_difficulty
            .iter()
            .find(|d| d.difficulty == Difficulty::Hard)
            .expect("hard");
        assert_eq!(
            (
                hard.games_started,
                hard.games_completed,
                hard.games_expired,
                hard.games_abandoned
            ),
            (2, 0, 1, 1),
            "{name}"
        );
        assert!(stats.highest.is_none());
    })
    .await;
}

#[tokio::test]
async fn history_is_paginated_newest_first_and_scores_list_completions() {
    each_engine(|name, store| async move {
        for i in 0..5 {
            play(
                &store,
                "hist",
                Difficulty::Medium,
                100 + i,
                50_000,
                T0 + i * 1000,
            )
            .await;
        }
        play(
            &store,
            "other",
            Difficulty::Expert,
            900,
            400_000,
            T0 + 10_000,
        )
        .await;
        let p = new_player(&store, "hist", T0).await;
        let (page, total) = store.history(p.id, 2, 1).await.expect("history");
        assert_eq!(total, 5, "{name}");
        assert_eq!(
            page.iter().map(|g| g.score).collect::<Vec<_>>(),
            vec![103, 102]
        );
        assert!(page.iter().all(|g| g.username == "hist"));
        let recent = store.recent_scores(3).await.expect("recent");
        assert_eq!(
            recent.iter().map(|s| s.score).collect::<Vec<_>>(),
            vec![900, 104, 103],
            "{name}"
        );
        let top = store.top_scores(2).await.expect("top");
        assert_eq!(
            top.iter()
                .map(|s| (s.username.as_str(), s.score))
                .collect::<Vec<_>>(),
            vec![("other", 900), ("hist", 104)]
        );
        let stats = store.stats().await.expect("stats");
        assert_eq!(stats.highest.map(|s| s.score), Some(900));
        assert_eq!(stats.fastest.map(|s| s.time_ms), Some(50_000));
        assert_eq!(stats.players, 2);
    })
    .await;
}

#[tokio::test]
async fn concurrent_completions_of_one_player_keep_the_board_consistent() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "burst", T0).await;
        let mut tasks = Vec::new();
        for i in 0..6 {
            let s = store.clone();
            let id = new_game(&store, p.id, Difficulty::Easy, None, T0).await;
            tasks.push(tokio::spawn(async move {
                s.finish_game(&finished(
                    id,
                    p.id,
                    "burst",
                    Difficulty::Easy,
                    100 + i,
                    60_000,
                    T0 + 100 + i,
                ))
                .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").expect("finish"), "{name}");
        }
        let b = board(BoardKind::All, Some(Difficulty::Easy));
        assert_eq!(store.board_size(&b).await.expect("size"), 1, "{name}");
        let rows = store.leaderboard(&b, 5).await.expect("board");
        assert_eq!(
            (rows[0].best_score, rows[0].games_completed),
            (105, 6),
            "{name}"
        );
    })
    .await;
}

#[test]
fn the_database_name_is_replaced_in_urls() {
    assert_eq!(
        replace_db("postgres://u@h:5432/postgres", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        replace_db("postgres://u@h:5432", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        replace_db("postgres://u@h/db?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
}

/// Under concurrency SQLite commits writes in groups; one write's failure must not affect the
/// others in its group.
#[tokio::test]
async fn a_failing_write_among_concurrent_writes_changes_nothing_else() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "grouped", T0).await;
        let mut tasks = Vec::new();
        for i in 0..24 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.insert_game(&NewGameRecord {
                    id: Uuid::new_v4(),
                    player_id: p.id,
                    difficulty: Difficulty::Easy,
                    // Every third write tries the same daily challenge again.
                    daily: (i % 3 == 0).then(|| "2026-11-26".to_string()),
                    started_at_ms: T0 + i,
                })
                .await
            }));
        }
        let (mut ok, mut conflicts) = (0, 0);
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => ok += 1,
                Err(StoreError::Conflict(_)) => conflicts += 1,
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!((ok, conflicts), (17, 7), "{name}");
        let player = store
            .player_by_id(p.id)
            .await
            .expect("player")
            .expect("exists");
        assert_eq!(
            player.games_started, 17,
            "{name}: failed writes left no trace"
        );
    })
    .await;
}

#[tokio::test]
async fn games_left_active_past_any_deadline_are_expired_once() {
    each_engine(|name, store| async move {
        let p = new_player(&store, "orphan", T0).await;
        let old = new_game(&store, p.id, Difficulty::Hard, None, T0).await;
        let recent = new_game(&store, p.id, Difficulty::Hard, None, T0 + 3_600_000).await;
        assert_eq!(
            store
                .expire_stale_games(T0 + 1, T0 + 3_700_000)
                .await
                .expect("expire"),
            1,
            "{name}"
        );
        assert_eq!(
            store
                .expire_stale_games(T0 + 1, T0 + 3_700_000)
                .await
                .expect("again"),
            0,
            "{name}"
        );
        assert_eq!(
            store.game(old).await.expect("game").expect("row").status,
            RecordStatus::Finished(FinalStatus::Expired)
        );
        assert_eq!(
            store.game(recent).await.expect("game").expect("row").status,
            RecordStatus::Active
        );
        let hard = store
            .stats()
            .await
            .expect("stats")
            .by_difficulty
            .into_iter()
            .find(|d| d.difficulty == Difficulty::Hard)
            .expect("hard");
        assert_eq!(hard.games_expired, 1, "{name}");
    })
    .await;
}

/// The top of a board is read from the index in order, never by sorting the whole board (a sort
/// made `/api/leaderboard` take seconds at a million games).
#[tokio::test]
async fn reading_a_board_walks_its_index_without_sorting_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("plan.sqlite");
    let store = connect(
        &format!("sqlite://{}", path.display()),
        &PoolOptions::default(),
    )
    .expect("open");
    store.migrate().await.expect("migrate");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        humor_store::sqlite::LEADERBOARD_RANGE
    )))
    .bind("all:*")
    .bind(25_i64)
    .bind(0_i64)
    .fetch_all(&mut conn)
    .await
    .expect("plan");
    let text: Vec<String> = plan.into_iter().map(|r| r.3).collect();
    assert!(
        text.iter().any(|l| l.contains("leaderboard_order")),
        "{text:?}"
    );
    assert!(
        !text.iter().any(|l| l.contains("TEMP B-TREE")),
        "sorts: {text:?}"
    );
    // Around a row: both parts of each side walk the index; only the few rows found are sorted.
    for sql in [
        humor_store::sqlite::BOARD_AHEAD,
        humor_store::sqlite::BOARD_BEHIND,
    ] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .bind("all:*")
                .bind(150_i64)
                .bind(1400_i64)
                .bind(10_000_i64)
                .bind("00000000-0000-0000-0000-000000000000")
                .bind(10_i64)
                .fetch_all(&mut conn)
                .await
                .expect("plan");
        let text: Vec<String> = plan.into_iter().map(|r| r.3).collect();
        // A sort inside a part would follow its index search; the found rows' merge may sort.
        let walks: Vec<usize> = (0..text.len())
            .filter(|&i| text[i].contains("USING INDEX leaderboard_order"))
            .collect();
        assert_eq!(walks.len(), 2, "{text:?}");
        assert!(
            walks
                .iter()
                .all(|&i| !text.get(i + 1).is_some_and(|l| l.contains("TEMP B-TREE"))),
            "{text:?}"
        );
    }

    let Some(pg) = postgres().await else { return };
    let url = match &pg.pg_cleanup {
        Some((admin, name)) => replace_db(admin, name),
        None => unreachable!(),
    };
    let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
    // Enough rows that a sort would be chosen if the index could not give the order.
    sqlx::query(
        "INSERT INTO players (id, username, username_key, created_at_ms) \
         SELECT md5(i::text)::uuid, 'p' || i, 'p' || i, 0 FROM generate_series(1, 20000) i",
    )
    .execute(&mut c)
    .await
    .expect("players");
    sqlx::query(
        "INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms, \
           best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
         SELECT 'all:*', md5(i::text)::uuid, 'p' || i, 'easy', i % 314, 1000 + i % 777, i, 1, i % 314, i \
         FROM generate_series(1, 20000) i",
    )
    .execute(&mut c)
    .await
    .expect("entries");
    sqlx::query("ANALYZE leaderboard_entries")
        .execute(&mut c)
        .await
        .expect("analyze");
    let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN {}",
        humor_store::postgres::LEADERBOARD_RANGE
    )))
    .bind("all:*")
    .bind(25_i64)
    .bind(0_i64)
    .fetch_all(&mut c)
    .await
    .expect("plan");
    let text: Vec<String> = plan.into_iter().map(|r| r.0).collect();
    assert!(
        text.iter().any(|l| l.contains("leaderboard_order")),
        "{text:?}"
    );
    assert!(!text.iter().any(|l| l.contains("Sort")), "sorts: {text:?}");
    for sql in [
        humor_store::postgres::BOARD_AHEAD,
        humor_store::postgres::BOARD_BEHIND,
    ] {
        let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .bind("all:*")
            .bind(150_i32)
            .bind(1400_i64)
            .bind(10_000_i64)
            .bind(uuid::Uuid::nil())
            .bind(10_i64)
            .fetch_all(&mut c)
            .await
            .expect("plan");
        let text: Vec<String> = plan.into_iter().map(|r| r.0).collect();
        let walks = text
            .iter()
            .filter(|l| l.contains("leaderboard_order"))
            .count();
        let sorts = text.iter().filter(|l| l.contains("Sort  (")).count();
        assert!(
            walks == 2 && sorts == 1 && !text.iter().any(|l| l.contains("Seq Scan")),
            "{text:?}"
        );
    }
    drop_engine(pg).await;
}

/// Runs SQL on the engine's database directly (as an earlier release, or a bad hand edit, would).
async fn execute_raw(e: &Engine, sql: String) {
    let sql = sqlx::AssertSqlSafe(sql);
    if e.name == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&e.url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.expect("raw sql");
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&e.url)
            .await
            .expect("connect");
        sqlx::query(sql).execute(&mut conn).await.expect("raw sql");
    }
}

#[tokio::test]
async fn a_result_stored_before_versioning_is_read_and_an_unreadable_one_is_an_error() {
    let mut engines = vec![sqlite().await];
    engines.extend(postgres().await);
    for e in engines {
        let (name, store) = (e.name, e.store.clone());
        let p = new_player(&store, "legacy", T0).await;
        let id = new_game(&store, p.id, Difficulty::Easy, None, T0).await;
        let g = finished(
            id,
            p.id,
            "legacy",
            Difficulty::Easy,
            200,
            60_000,
            T0 + 60_000,
        );
        assert!(store.finish_game(&g).await.expect("finish"), "{name}");
        // The first release stored the API's result document itself.
        let legacy = r#"{"gameId":"00000000-0000-4000-8000-000000000009","username":"legacy","difficulty":"easy","daily":null,
            "finalScore":200,"scoreBreakdown":{"baseScore":200,"pairBonus":0,"speedBonus":0,
            "perfectGameBonus":0,"streakBonus":0,"penalties":0},"maxScore":314,
            "performance":{"level":"good","emoji":"x","percent":63.7,"message":"m"},
            "timeElapsedMs":60000,"totalMoves":10,"matchesFound":8,"misses":2,"accuracy":80.0,
            "achievements":[{"id":"streak_master","title":"t","description":"d","icon":"i",
            "rarity":"r"}],"rank":null,"completedAt":"2026-11-26T10:01:00.000Z"}"#;
        execute_raw(
            &e,
            format!("UPDATE games SET result = '{legacy}' WHERE id = '{id}'"),
        )
        .await;
        let rec = store.game(id).await.expect("game").expect("exists");
        let expected = ResultRecord {
            completed_at_ms: T0 + 60_000,
            ..result_of(200)
        };
        assert_eq!(rec.result, Some(expected), "{name}");
        execute_raw(
            &e,
            format!("UPDATE games SET result = '{{\"version\":2}}' WHERE id = '{id}'"),
        )
        .await;
        assert!(
            matches!(store.game(id).await, Err(StoreError::Corrupt(_))),
            "{name}: an unreadable result must be an error"
        );
        drop_engine(e).await;
    }
}

/// Runs `sql` on the engine's database directly, past the store.
async fn exec_raw(e: &Engine, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if e.name == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&e.url).await.expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect("raw write");
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&e.url)
            .await
            .expect("connect");
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .expect("raw write");
    }
}

/// `(text, integer, integer)` rows read on the engine's database directly.
async fn fetch_raw(e: &Engine, sql: &str) -> Vec<(String, i64, i64)> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if e.name == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&e.url).await.expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut conn)
            .await
            .expect("raw read")
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&e.url)
            .await
            .expect("connect");
        sqlx::query_as(sql)
            .fetch_all(&mut conn)
            .await
            .expect("raw read")
    }
}

/// The per-score counts the triggers keep equal a fresh count of the entries, board by board.
async fn assert_counts_exact(e: &Engine, when: &str) {
    let kept = fetch_raw(
        e,
        "SELECT board, CAST(best_score AS BIGINT), CAST(players AS BIGINT) \
         FROM leaderboard_score_counts ORDER BY board, best_score",
    )
    .await;
    let counted = fetch_raw(
        e,
        "SELECT board, CAST(best_score AS BIGINT), CAST(COUNT(*) AS BIGINT) \
         FROM leaderboard_entries GROUP BY board, best_score ORDER BY board, best_score",
    )
    .await;
    assert_eq!(kept, counted, "{}: {when}", e.name);
}

/// Where a row stands: everything that sorts before it ranks ahead of it.
fn standing(r: &BoardRow) -> (i64, i64, i64, Uuid) {
    (
        -r.best_score,
        r.best_time_ms,
        r.best_completed_at_ms,
        r.player_id,
    )
}

/// Every player's rank on `board` is one plus a full count of the rows ahead of them (ties on
/// score broken by time, then completion, then player id), and the rows around them are the
/// board's own slices. Returns the board's rows.
async fn assert_ranks_are_full_counts(e: &Engine, board: &Board) -> Vec<BoardRow> {
    let store = &e.store;
    let whole = store
        .leaderboard_range(board, 1, 100_000)
        .await
        .expect("range");
    let label = format!("{} {}", e.name, board.key());
    let size = store.board_size(board).await.expect("size");
    for row in &whole {
        let ahead = whole.iter().filter(|o| standing(o) < standing(row)).count() as i64;
        assert_eq!(row.rank, ahead + 1, "{label}: {}", row.username);
        let both = store
            .rank(board, row.player_id)
            .await
            .expect("rank")
            .expect("ranked");
        assert_eq!(both.board_players, size, "{label}: the board's size");
        let ranked = both.row;
        assert_eq!(&ranked, row, "{label}");
        for context in [0_i64, 2] {
            let walked = store
                .leaderboard_around(board, &ranked, context)
                .await
                .expect("around");
            let lo = (ranked.rank - context).max(1) as usize - 1;
            let hi = ((ranked.rank + context) as usize).min(whole.len());
            assert_eq!(
                walked,
                whole[lo..hi],
                "{label}: {} ±{context}",
                row.username
            );
        }
    }
    whole
}

/// What a board should hold: each player's best game (better score, then lower time; an equal
/// game later changes nothing), as `(score, time, completed at)`.
#[derive(Default)]
struct BoardModel {
    best: std::collections::BTreeMap<(String, Uuid), (i64, i64, i64)>,
    boards: std::collections::BTreeMap<String, Board>,
}

impl BoardModel {
    fn complete(&mut self, g: &FinishedGame) {
        for b in humor_store::boards_for(g.difficulty, g.daily.as_deref(), g.finished_at_ms) {
            let game = (g.score, g.time_ms, g.finished_at_ms);
            self.best
                .entry((b.key(), g.player_id))
                .and_modify(|best| {
                    if game.0 > best.0 || (game.0 == best.0 && game.1 < best.1) {
                        *best = game;
                    }
                })
                .or_insert(game);
            self.boards.insert(b.key(), b);
        }
    }

    fn rows(&self, key: &str) -> Vec<(Uuid, i64, i64, i64)> {
        let mut rows: Vec<_> = self
            .best
            .iter()
            .filter(|((k, _), _)| k == key)
            .map(|((_, p), &(s, t, at))| (*p, s, t, at))
            .collect();
        rows.sort_by_key(|&(p, s, t, at)| (-s, t, at, p));
        rows
    }
}

/// Plays one completed game of an existing player and records it in the model.
#[allow(clippy::too_many_arguments)]
async fn complete(
    store: &Arc<dyn Store>,
    model: &mut BoardModel,
    player: &Player,
    d: Difficulty,
    daily: Option<&str>,
    score: i64,
    time_ms: i64,
    at: i64,
) {
    let id = new_game(store, player.id, d, daily, at - time_ms).await;
    let g = FinishedGame {
        daily: daily.map(String::from),
        ..finished(id, player.id, &player.username, d, score, time_ms, at)
    };
    assert!(store.finish_game(&g).await.expect("finish"));
    model.complete(&g);
}

/// Every board the model knows holds exactly the model's rows, ranked by full counts.
async fn assert_boards_match(e: &Engine, model: &BoardModel) {
    for (key, b) in &model.boards {
        let whole = assert_ranks_are_full_counts(e, b).await;
        let held: Vec<_> = whole
            .iter()
            .map(|r| {
                (
                    r.player_id,
                    r.best_score,
                    r.best_time_ms,
                    r.best_completed_at_ms,
                )
            })
            .collect();
        assert_eq!(held, model.rows(key), "{} {key}", e.name);
        let size = e.store.board_size(b).await.expect("size");
        assert_eq!(size, held.len() as i64, "{} {key}", e.name);
    }
}

const DAY_MS: i64 = 86_400_000;

#[tokio::test]
async fn ranks_are_full_counts_on_every_board_with_every_kind_of_tie() {
    let mut engines = vec![sqlite().await];
    engines.extend(postgres().await);
    for e in engines {
        let store = e.store.clone();
        let mut model = BoardModel::default();
        let mut players = Vec::new();
        for i in 0..18 {
            players.push(new_player(&store, &format!("p{i:02}"), T0 - 40 * DAY_MS).await);
        }
        // Ties on score, time and completion instant (player id decides), on score and time
        // (completion decides), and on score alone (time decides).
        for p in &players[0..4] {
            complete(
                &store,
                &mut model,
                p,
                Difficulty::Easy,
                None,
                250,
                60_000,
                T0,
            )
            .await;
        }
        for (i, p) in players[4..7].iter().enumerate() {
            let at = T0 + 1_000 * (3 - i as i64);
            complete(
                &store,
                &mut model,
                p,
                Difficulty::Easy,
                None,
                250,
                60_000,
                at,
            )
            .await;
        }
        for (i, p) in players[7..10].iter().enumerate() {
            let time = 61_000 + 500 * i as i64;
            complete(&store, &mut model, p, Difficulty::Hard, None, 250, time, T0).await;
        }
        // Daily challenges (same date, one each) tie the same ways.
        for (i, p) in players[0..9].iter().enumerate() {
            let (score, time) = (300 + 10 * (i as i64 % 2), 50_000 + 1_000 * (i as i64 % 3));
            let at = T0 + 100 * (i as i64 % 2);
            let daily = Some("2026-11-26");
            complete(
                &store,
                &mut model,
                p,
                Difficulty::Medium,
                daily,
                score,
                time,
                at,
            )
            .await;
        }
        // Earlier weeks and months, then improvements and games that improve nothing.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in 0..60 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            let p = &players[r % players.len()];
            let score = [120, 150, 150, 200, 250, 250][(r / 7) % 6];
            let time = [60_000, 60_000, 61_000][(r / 11) % 3];
            let at = [T0, T0 + 1_000, T0 - 8 * DAY_MS, T0 - 30 * DAY_MS][(r / 13) % 4] + n % 2;
            let d = [Difficulty::Easy, Difficulty::Hard][(r / 17) % 2];
            complete(&store, &mut model, p, d, None, score, time, at).await;
        }
        // One player alone on a score leaves it: the score's count goes with them.
        let lone = &players[17];
        complete(
            &store,
            &mut model,
            lone,
            Difficulty::Expert,
            None,
            77,
            99_000,
            T0,
        )
        .await;
        complete(
            &store,
            &mut model,
            lone,
            Difficulty::Expert,
            None,
            900,
            99_000,
            T0,
        )
        .await;
        let left = fetch_raw(
            &e,
            "SELECT board, CAST(best_score AS BIGINT), CAST(players AS BIGINT) \
             FROM leaderboard_score_counts WHERE best_score = 77",
        )
        .await;
        assert_eq!(left, vec![], "{}", e.name);

        assert!(model.boards.len() >= 10, "{}", e.name);
        assert_counts_exact(&e, "after completions").await;
        assert_boards_match(&e, &model).await;
        drop_engine(e).await;
    }
}

#[tokio::test]
async fn writes_that_bypass_the_store_keep_the_counts_exact() {
    let mut engines = vec![sqlite().await];
    engines.extend(postgres().await);
    for e in engines {
        let store = e.store.clone();
        let all = board(BoardKind::All, None);
        for (i, score) in [100, 200, 200, 300].into_iter().enumerate() {
            let at = T0 + i as i64;
            play(
                &store,
                &format!("s{i}"),
                Difficulty::Easy,
                score,
                60_000,
                at,
            )
            .await;
        }
        // The previous release writes entries with its own upsert; it knows nothing of the counts.
        let legacy_id = Uuid::new_v4();
        execute_raw(
            &e,
            format!(
                "INSERT INTO players (id, username, username_key, created_at_ms) \
                 VALUES ('{legacy_id}', 'legacy', 'legacy', 0)"
            ),
        )
        .await;
        let legacy_upsert = |score: i64, at: i64| {
            format!(
                "INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, \
                   best_time_ms, best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
                 VALUES ('all:*', '{legacy_id}', 'legacy', 'easy', {score}, 60000, {at}, 1, {score}, {at}) \
                 ON CONFLICT (board, player_id) DO UPDATE SET \
                   games_completed = leaderboard_entries.games_completed + 1, \
                   best_completed_at_ms = CASE WHEN excluded.best_score > leaderboard_entries.best_score \
                     THEN excluded.best_completed_at_ms ELSE leaderboard_entries.best_completed_at_ms END, \
                   best_score = CASE WHEN excluded.best_score > leaderboard_entries.best_score \
                     THEN excluded.best_score ELSE leaderboard_entries.best_score END"
            )
        };
        execute_raw(&e, legacy_upsert(200, T0 + 10)).await;
        assert_counts_exact(&e, "a row inserted by the previous release").await;
        let r = store
            .rank(&all, legacy_id)
            .await
            .expect("rank")
            .expect("ranked")
            .row;
        assert_eq!(r.rank, 4, "{}: behind the two earlier 200s", e.name);
        execute_raw(&e, legacy_upsert(250, T0 + 20)).await;
        assert_counts_exact(&e, "an improvement by the previous release").await;
        execute_raw(&e, legacy_upsert(120, T0 + 30)).await;
        assert_counts_exact(&e, "a worse game by the previous release").await;
        assert_ranks_are_full_counts(&e, &all).await;
        let r = store
            .rank(&all, legacy_id)
            .await
            .expect("rank")
            .expect("ranked")
            .row;
        assert_eq!((r.rank, r.best_score), (2, 250), "{}", e.name);

        // Hand edits: a lower score, a row moved to another board, a row deleted, a player
        // deleted with every row they had.
        execute_raw(
            &e,
            "UPDATE leaderboard_entries SET best_score = 50 WHERE username = 's3' AND board = 'all:*'"
                .into(),
        )
        .await;
        assert_counts_exact(&e, "a lowered score").await;
        assert_ranks_are_full_counts(&e, &all).await;
        execute_raw(
            &e,
            "UPDATE leaderboard_entries SET board = 'all:hard' WHERE username = 's1' AND board = 'all:easy'"
                .into(),
        )
        .await;
        assert_counts_exact(&e, "a row moved to another board").await;
        assert_ranks_are_full_counts(&e, &board(BoardKind::All, Some(Difficulty::Hard))).await;
        execute_raw(
            &e,
            "DELETE FROM leaderboard_entries WHERE username = 's2' AND board = 'all:*'".into(),
        )
        .await;
        assert_counts_exact(&e, "a deleted row").await;
        execute_raw(&e, "DELETE FROM players WHERE username = 's0'".into()).await;
        let s0_rows = fetch_raw(
            &e,
            "SELECT board, CAST(best_score AS BIGINT), CAST(total_score AS BIGINT) \
             FROM leaderboard_entries WHERE username = 's0'",
        )
        .await;
        assert_eq!(
            s0_rows,
            vec![],
            "{}: the player's rows went with them",
            e.name
        );
        assert_counts_exact(&e, "a deleted player").await;
        let whole = assert_ranks_are_full_counts(&e, &all).await;
        assert_eq!(
            whole
                .iter()
                .map(|r| r.username.as_str())
                .collect::<Vec<_>>(),
            vec!["legacy", "s1", "s3"],
            "{}",
            e.name
        );
        drop_engine(e).await;
    }
}

/// Applies the engine's migrations up to `version` only (an earlier release's schema).
async fn run_migrations_to(e: &Engine, version: i64) {
    if e.name == "postgres" {
        let mut conn = sqlx::PgConnection::connect(&e.url).await.expect("connect");
        sqlx::migrate!("./migrations/postgres")
            .run_to(version, &mut conn)
            .await
            .expect("migrate");
    } else {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&e.url)
            .expect("url")
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("connect");
        sqlx::migrate!("./migrations/sqlite")
            .run_to(version, &mut conn)
            .await
            .expect("migrate");
    }
}

/// A database written before the counts existed gets them from the migration, exact, and keeps
/// them exact afterwards.
#[tokio::test]
async fn the_counts_migration_backfills_a_board_written_before_it() {
    let mut engines = vec![sqlite_unmigrated()];
    engines.extend(postgres_unmigrated().await);
    for e in engines {
        run_migrations_to(&e, 5).await;
        let store = e.store.clone();
        let mut model = BoardModel::default();
        let mut players = Vec::new();
        for i in 0..8 {
            players.push(new_player(&store, &format!("m{i}"), T0).await);
        }
        // Written by this release's completions on the old schema (no counts table, no triggers).
        for (i, p) in players.iter().enumerate() {
            let score = [100, 200, 200, 300][i % 4];
            let at = T0 + (i as i64 % 3);
            complete(
                &store,
                &mut model,
                p,
                Difficulty::Easy,
                None,
                score,
                60_000,
                at,
            )
            .await;
        }
        complete(
            &store,
            &mut model,
            &players[0],
            Difficulty::Easy,
            None,
            400,
            60_000,
            T0,
        )
        .await;
        exec_raw(
            &e,
            "INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, \
               best_time_ms, best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
             SELECT 'gone:*', player_id, username, difficulty, best_score, best_time_ms, \
               best_completed_at_ms, games_completed, total_score, last_completed_at_ms \
             FROM leaderboard_entries WHERE board = 'all:*'",
        )
        .await;
        let before = fetch_raw(
            &e,
            "SELECT board, CAST(best_score AS BIGINT), CAST(COUNT(*) AS BIGINT) \
             FROM leaderboard_entries GROUP BY board, best_score",
        )
        .await;
        assert!(!before.is_empty(), "{}", e.name);

        // Migration 6 alone: the triggers count from here; PostgreSQL counts the earlier rows
        // after the migration (outside its transaction), SQLite within it.
        run_migrations_to(&e, 6).await;
        complete(
            &store,
            &mut model,
            &players[2],
            Difficulty::Easy,
            None,
            450,
            60_000,
            T0,
        )
        .await;
        complete(
            &store,
            &mut model,
            &players[3],
            Difficulty::Easy,
            None,
            350,
            60_000,
            T0,
        )
        .await;
        let early = new_player(&store, "early", T0).await;
        complete(
            &store,
            &mut model,
            &early,
            Difficulty::Easy,
            None,
            100,
            60_000,
            T0,
        )
        .await;
        // A board whose every row goes after migration 6: the triggers leave it negative counts and no
        // rows, so the backfill must find it from its counts.
        exec_raw(&e, "DELETE FROM leaderboard_entries WHERE board = 'gone:*'").await;
        if e.name == "postgres" {
            let kept = fetch_raw(
                &e,
                "SELECT board, CAST(best_score AS BIGINT), CAST(players AS BIGINT) \
                 FROM leaderboard_score_counts WHERE board = 'all:*' ORDER BY best_score",
            )
            .await;
            // Only what the triggers saw: the two improvements left scores they never counted.
            assert_eq!(
                kept.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
                vec![(100, 1), (200, -1), (300, -1), (350, 1), (450, 1)],
                "postgres before the backfill"
            );
        } else {
            assert_counts_exact(&e, "after migration 6").await;
        }

        store.migrate().await.expect("migrate to the newest");
        assert_counts_exact(&e, "after the backfill").await;
        store.migrate().await.expect("migrate again");
        assert_counts_exact(&e, "after migrating again").await;
        assert_boards_match(&e, &model).await;
        // The triggers take over from the backfill.
        complete(
            &store,
            &mut model,
            &players[1],
            Difficulty::Easy,
            None,
            500,
            60_000,
            T0,
        )
        .await;
        let late = new_player(&store, "late", T0).await;
        complete(
            &store,
            &mut model,
            &late,
            Difficulty::Hard,
            None,
            200,
            60_000,
            T0,
        )
        .await;
        assert_counts_exact(&e, "after completions on the new schema").await;
        assert_boards_match(&e, &model).await;
        drop_engine(e).await;
    }
}

/// Rows a plan node read from `relation` (as `EXPLAIN (ANALYZE, TIMING OFF)` prints them): rows
/// returned times loops, plus rows its filter removed.
fn rows_read(plan: &[String], relation: &str) -> i64 {
    let number_after = |line: &str, key: &str| -> i64 {
        line.split(key)
            .nth(1)
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0)
    };
    let needle = format!(" on {relation} ");
    let mut total = 0;
    let mut inside = false;
    for line in plan {
        if line.contains("(actual") {
            inside = line.contains(&needle);
            if inside {
                total += number_after(line, "rows=") * number_after(line, "loops=");
            }
        } else if inside && line.contains("Rows Removed by") {
            total += number_after(line, ": ");
        }
    }
    total
}

/// A rank near the bottom of a big board reads the counts of the better scores and the ties
/// ahead, never the rows ahead (counting those made a median rank take 172 ms at 10 million games).
#[tokio::test]
async fn a_rank_reads_the_score_counts_and_its_ties_never_the_rows_ahead() {
    let lite = sqlite().await;
    let mut conn = sqlx::SqliteConnection::connect(&lite.url)
        .await
        .expect("connect");
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        humor_store::sqlite::BOARD_RANK
    )))
    .bind("all:*")
    .bind("00000000-0000-0000-0000-000000000000")
    .fetch_all(&mut conn)
    .await
    .expect("plan");
    let text: Vec<String> = plan.into_iter().map(|r| r.3).collect();
    assert!(
        !text.iter().any(|l| l.starts_with("SCAN")),
        "scans: {text:?}"
    );
    assert!(
        text.iter()
            .any(|l| l.contains("SEARCH c USING PRIMARY KEY (board=? AND best_score>?)")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|l| l.starts_with("SEARCH e")
            && l.contains("leaderboard_order (board=? AND best_score=? AND")),
        "{text:?}"
    );
    drop_engine(lite).await;

    let Some(pg) = postgres().await else { return };
    let mut c = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    seed_big_board(&mut c).await;
    assert_counts_exact(&pg, "after 29,420 inserted rows").await;
    let last: Uuid = sqlx::query_scalar(
        "SELECT player_id FROM leaderboard_entries WHERE board = 'all:*' \
         ORDER BY best_score ASC, best_time_ms DESC, best_completed_at_ms DESC, player_id DESC LIMIT 1",
    )
    .fetch_one(&mut c)
    .await
    .expect("last");
    let all = board(BoardKind::All, None);
    let ranked = pg
        .store
        .rank(&all, last)
        .await
        .expect("rank")
        .expect("ranked")
        .row;
    assert_eq!(ranked.rank, 20_000);
    let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, SUMMARY OFF) {}",
        humor_store::postgres::BOARD_RANK
    )))
    .bind("all:*")
    .bind(last)
    .fetch_all(&mut c)
    .await
    .expect("plan");
    let text: Vec<String> = plan.into_iter().map(|r| r.0).collect();
    let (entries, counts) = (
        rows_read(&text, "leaderboard_entries"),
        rows_read(&text, "leaderboard_score_counts"),
    );
    // Its own row and the 62 ties ahead; the 313 better scores.
    assert!(entries <= 1 + 62, "read {entries} entries: {text:#?}");
    assert!(counts <= 313, "read {counts} counts: {text:#?}");
    assert!(entries > 0 && counts > 0, "{text:#?}");
    drop_engine(pg).await;
}

/// 20,000 players on one board (314 scores, about 64 players each) and 30 smaller boards of 314
/// rows, so the counts table is much bigger than one board's scores, and one board is most of the
/// table.
async fn seed_big_board(c: &mut sqlx::PgConnection) {
    sqlx::query(
        "INSERT INTO players (id, username, username_key, created_at_ms) \
         SELECT md5(i::text)::uuid, 'p' || i, 'p' || i, 0 FROM generate_series(1, 20000) i",
    )
    .execute(&mut *c)
    .await
    .expect("players");
    sqlx::query(
        "INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms, \
           best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
         SELECT 'all:*', md5(i::text)::uuid, 'p' || i, 'easy', i % 314, 1000 + i % 777, i, 1, i % 314, i \
         FROM generate_series(1, 20000) i \
         UNION ALL SELECT 'week:2026-W' || (i % 30) || ':*', md5(i::text)::uuid, 'p' || i, 'easy', i % 314, \
           1000, i, 1, i % 314, i FROM generate_series(1, 9420) i",
    )
    .execute(&mut *c)
    .await
    .expect("entries");
    sqlx::query("ANALYZE")
        .execute(&mut *c)
        .await
        .expect("analyze");
}

/// The counts' backfill reads one board's stretch of the board index in one backend, whatever the
/// board's share of the table: no parallel workers, no other board's rows (a parallel count of the
/// whole table can take every core of a small database host from the release still serving).
#[tokio::test]
async fn the_backfill_counts_one_board_at_a_time_through_its_index() {
    let Some(pg) = postgres().await else { return };
    let mut c = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    seed_big_board(&mut c).await;
    // A planner that would rather go parallel than not, as it would on a big table.
    sqlx::raw_sql(
        "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; \
         SET min_parallel_table_scan_size = 0; SET min_parallel_index_scan_size = 0",
    )
    .execute(&mut c)
    .await
    .expect("planner settings");
    for (board, rows) in [("all:*", 20_000), ("week:2026-W7:*", 314)] {
        let mut tx = c.begin().await.expect("begin");
        sqlx::raw_sql(humor_store::score_counts::ONE_BOARD_AT_A_TIME)
            .execute(&mut *tx)
            .await
            .expect("settings");
        let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, SUMMARY OFF) {}",
            humor_store::score_counts::BOARD_MISSING
        )))
        .bind(board)
        .fetch_all(&mut *tx)
        .await
        .expect("plan");
        tx.rollback().await.expect("rollback");
        let text: Vec<String> = plan.into_iter().map(|r| r.0).collect();
        assert!(!text.iter().any(|l| l.contains("Gather")), "{text:#?}");
        assert_eq!(
            rows_read(&text, "leaderboard_entries"),
            rows,
            "{board}: {text:#?}"
        );
    }
    drop_engine(pg).await;
}

/// Completions racing on the same boards and scores (players joining, leaving and skipping score
/// rows) neither wait on each other in a cycle nor lose a count.
#[tokio::test]
async fn concurrent_completions_keep_the_counts_exact() {
    let mut engines = vec![sqlite().await];
    engines.extend(postgres().await);
    for e in engines {
        let store = e.store.clone();
        let mut games = Vec::new();
        for i in 0..12_i64 {
            let p = new_player(&store, &format!("c{i}"), T0).await;
            for j in 0..4_i64 {
                let d = [Difficulty::Easy, Difficulty::Hard][(i + j) as usize % 2];
                let id = new_game(&store, p.id, d, None, T0).await;
                let score = 100 + 50 * ((i * 3 + j * 5) % 4);
                games.push(finished(id, p.id, &p.username, d, score, 60_000, T0 + j));
            }
        }
        let tasks: Vec<_> = games
            .into_iter()
            .map(|g| {
                let s = store.clone();
                tokio::spawn(async move { s.finish_game(&g).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.expect("join").expect("finish"), "{}", e.name);
        }
        assert_counts_exact(&e, "after concurrent completions").await;
        for b in [
            board(BoardKind::All, None),
            board(BoardKind::All, Some(Difficulty::Easy)),
            board(BoardKind::Week("2026-W48".into()), Some(Difficulty::Hard)),
        ] {
            assert!(!assert_ranks_are_full_counts(&e, &b).await.is_empty());
        }
        drop_engine(e).await;
    }
}
