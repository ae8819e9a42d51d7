//! What the reliability scenarios found, each pinned by a test: lost answers, outages between a
//! move and its record, partitions, lost live state, failed starts and requests during start-up.

use crate::helpers::{
    backends, base_config, each_backend, eventually, host_port, spawn_config, spawn_with, Backend,
    CutProxy, TestApp,
};
use humor_server::config::{DatabaseLocation, Secret};
use humor_server::http::middleware::{idempotency_fingerprint, idempotency_store_key};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn no_tweak(_: &mut humor_server::Config) {}

fn services() -> bool {
    // Only meaningful with the real services; REQUIRE_SERVICES=1 turns their absence into a failure.
    backends().contains(&Backend::Postgres)
}

async fn keyed_flip(
    app: &TestApp,
    game: &str,
    card: &str,
    token: &str,
    key: &str,
) -> crate::helpers::Reply {
    app.call_with(
        Method::POST,
        &format!("/api/game/{game}/flip"),
        Some(json!({"cardId": card})),
        Some(token),
        &[("idempotency-key", key)],
    )
    .await
}

/// Forgets the stored answer of a keyed flip, as if the replica that computed it died first.
async fn lose_answer(app: &TestApp, game: &str, token: &str, key: &str) {
    let store_key = idempotency_store_key(
        &format!("Bearer {token}"),
        &format!("/api/game/{game}/flip"),
        key,
    );
    app.state
        .live
        .idempotency_release(&store_key)
        .await
        .expect("release");
}

#[tokio::test]
async fn a_retry_whose_first_answer_was_lost_is_answered_not_applied_again() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("lost_answer", "easy").await;
        let (a, b) = app.pairs(&id).await[0].clone();
        let first = keyed_flip(&app, &id, &a, &token, "k-first").await;
        lose_answer(&app, &id, &token, "k-first").await;
        let retry = keyed_flip(&app, &id, &a, &token, "k-first").await;
        assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
        assert!(retry.replayed(), "{:?}", retry.headers);
        assert_eq!(retry.body["card"], first.body["card"]);
        assert!(
            retry.body["outcome"].is_null(),
            "still the first flip of the attempt"
        );
        let second = keyed_flip(&app, &id, &b, &token, "k-second").await;
        lose_answer(&app, &id, &token, "k-second").await;
        let retry = keyed_flip(&app, &id, &b, &token, "k-second").await;
        assert_eq!(retry.body["outcome"], second.body["outcome"]);
        assert_eq!(retry.body["outcome"]["result"], "hit");
        assert_eq!(
            (
                retry.body["game"]["moves"].as_u64(),
                retry.body["game"]["pairsFound"].as_u64()
            ),
            (Some(1), Some(1))
        );
    })
    .await;
}

#[tokio::test]
async fn a_crashed_holders_lease_frees_its_key_within_seconds() {
    let app = spawn_with(Backend::Sqlite, &|_| {}).await;
    let (id, token, _) = app.start("lease", "easy").await;
    let (a, _) = app.pairs(&id).await[0].clone();
    let path = format!("/api/game/{id}/flip");
    let body = serde_json::to_vec(&json!({"cardId": a})).expect("json");
    let store_key = idempotency_store_key(&format!("Bearer {token}"), &path, "k-crash");
    // A replica took the key and died before answering.
    app.state
        .live
        .idempotency_begin(
            &store_key,
            &idempotency_fingerprint(&path, &body),
            Duration::from_secs(3),
        )
        .await
        .expect("begin");
    let busy = keyed_flip(&app, &id, &a, &token, "k-crash").await;
    assert_eq!(
        (busy.status, busy.code()),
        (StatusCode::CONFLICT, "idempotency_in_progress")
    );
    assert_eq!(
        busy.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let later = keyed_flip(&app, &id, &a, &token, "k-crash").await;
    assert_eq!(
        later.status,
        StatusCode::OK,
        "the lease expired: {:?}",
        later.body
    );
}

/// A second replica whose database connections go through a proxy the test can cut or freeze.
async fn replica_behind_proxy(app: &TestApp) -> (TestApp, CutProxy) {
    let DatabaseLocation::Postgres { url } = &app.state.config.database.location else {
        panic!("postgres")
    };
    let target = host_port(url.expose());
    let proxy = CutProxy::to(target.clone()).await;
    let mut config = base_config(tempfile::tempdir().expect("dir").path());
    config.database.location = DatabaseLocation::Postgres {
        url: Secret::new(url.expose().replacen(&target, &proxy.addr.to_string(), 1)),
    };
    config.redis.url = app.state.config.redis.url.clone();
    config.redis.key_prefix = app.state.config.redis.key_prefix.clone();
    config.operations.dependency_timeout = Duration::from_millis(500);
    let replica = spawn_config(
        Backend::Postgres,
        config,
        tempfile::tempdir().expect("dir"),
        None,
    )
    .await;
    (replica, proxy)
}

/// What this replica's monitor believes (metrics are process-wide, so tests ask the app itself).
async fn database_down(app: &TestApp) -> bool {
    !app.state.health.database.is_up()
}

#[tokio::test]
async fn the_retry_of_a_move_that_failed_with_503_gets_the_moves_answer() {
    if !services() {
        return;
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    let (replica, proxy) = replica_behind_proxy(&app).await;
    let (id, token, _) = replica.start("outage_last", "easy").await;
    let pairs = replica.pairs(&id).await;
    for (a, b) in &pairs[..pairs.len() - 1] {
        replica.flip(&id, a, &token).await;
        replica.flip(&id, b, &token).await;
    }
    let (a, b) = pairs[pairs.len() - 1].clone();
    replica.flip(&id, &a, &token).await;
    proxy.cut();
    eventually(Duration::from_secs(5), "the database seen down", || {
        database_down(&replica)
    })
    .await;
    let failed = keyed_flip(&replica, &id, &b, &token, "k-last").await;
    assert_eq!(
        (failed.status, failed.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
    );
    proxy.restore();
    eventually(Duration::from_secs(10), "the database back", || async {
        !database_down(&replica).await
    })
    .await;
    let retry = keyed_flip(&replica, &id, &b, &token, "k-last").await;
    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(retry.body["outcome"]["result"], "hit");
    assert_eq!(retry.body["result"]["finalScore"], 314);
    let stats = replica.get("/api/scores/outage_last").await;
    assert_eq!(stats.body["statistics"]["gamesCompleted"], 1);
}

#[tokio::test]
async fn a_partition_answers_within_the_dependency_timeout_then_at_once() {
    if !services() {
        return;
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    let (replica, proxy) = replica_behind_proxy(&app).await;
    proxy.freeze();
    // Counted, not timed: a request that waits for the database and gives up trips it once; one
    // answered at once because the database is known down trips nothing.
    let database = &replica.state.health.database;
    let (mut took, mut paid) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        let trips = database.trips();
        let t = Instant::now();
        let r = replica.get("/api/leaderboard/fresh").await;
        took.push(t.elapsed());
        paid.push(database.trips() - trips);
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("answered in {took:?}, dependency timeouts paid: {paid:?}");
    assert!(
        paid.iter().all(|n| *n <= 1),
        "each waits at most one DEPENDENCY_TIMEOUT_MS: {paid:?}"
    );
    assert!(!database.is_up(), "the partition was noticed");
    assert_eq!(paid[paid.len() - 1], 0, "once seen down, at once: {paid:?}");
    assert_eq!(replica.get("/health/live").await.status, StatusCode::OK);
    proxy.restore();
    eventually(Duration::from_secs(10), "recovery", || async {
        replica.get("/api/leaderboard/fresh").await.status == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn a_game_whose_live_state_was_lost_is_stored_as_expired() {
    if !services() {
        return;
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    let (id, token, _) = app.start("amnesia", "easy").await;
    let card = app.pairs(&id).await[0].0.clone();
    let redis_url = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let mut c = redis::Client::open(redis_url)
        .and_then(|c| c.get_connection())
        .expect("redis");
    let prefix = app.state.config.redis.key_prefix.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut c)
        .expect("keys");
    let _: i64 = redis::cmd("DEL")
        .arg(keys)
        .query(&mut c)
        .expect("flush this test's keys");
    let r = app.flip(&id, &card, &token).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "game_expired"));
    let view = app
        .call(Method::GET, &format!("/api/game/{id}"), None, Some(&token))
        .await;
    assert_eq!(view.body["game"]["status"], "expired");
    let stats = app.get("/api/leaderboard/stats").await;
    assert_eq!(stats.body["statistics"]["overall"]["activeGames"], 0);
    assert_eq!(stats.body["statistics"]["overall"]["expiredGames"], 1);
    // Games nobody asks about again are expired by the sweep once past any possible deadline.
    app.start("amnesia2", "expert").await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut c)
        .expect("keys");
    let _: i64 = redis::cmd("DEL").arg(keys).query(&mut c).expect("flush");
    assert_eq!(
        app.state.games.expire_lost_games().await.expect("sweep"),
        0,
        "not yet: it could still be played"
    );
    app.clock.advance_ms(51 * 60_000);
    assert_eq!(app.state.games.expire_lost_games().await.expect("sweep"), 1);
}

#[tokio::test]
async fn a_failed_start_leaves_no_trace() {
    if !services() {
        return;
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    let (replica, proxy) = replica_behind_proxy(&app).await;
    replica.start("traceless", "easy").await;
    let before = replica.get("/api/leaderboard/stats").await.body["statistics"]["overall"].clone();
    proxy.cut();
    eventually(Duration::from_secs(5), "the database seen down", || {
        database_down(&replica)
    })
    .await;
    let token = {
        let r = app
            .post("/api/scores/user", json!({"username": "traceless2"}), None)
            .await;
        r.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string()
    };
    let failed = replica
        .post(
            "/api/game/start",
            json!({"username": "traceless2"}),
            Some(&token),
        )
        .await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    proxy.restore();
    eventually(Duration::from_secs(10), "the database back", || async {
        !database_down(&replica).await
    })
    .await;
    let after = replica.get("/api/leaderboard/stats").await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    let after = after.body["statistics"]["overall"].clone();
    assert_eq!(after["totalGames"], before["totalGames"]);
    assert_eq!(after["abandonedGames"], Value::from(0));
    let history = replica.get("/api/scores/traceless2").await;
    assert_eq!(history.body["history"]["total"], 0);
}

#[tokio::test]
async fn requests_arriving_during_start_up_wait_for_it() {
    if !services() {
        return;
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    let DatabaseLocation::Postgres { url } = &app.state.config.database.location else {
        panic!("postgres")
    };
    let target = host_port(url.expose());
    let proxy = CutProxy::to(target.clone()).await;
    proxy.cut();
    let mut config = base_config(tempfile::tempdir().expect("dir").path());
    config.database.location = DatabaseLocation::Postgres {
        url: Secret::new(url.expose().replacen(&target, &proxy.addr.to_string(), 1)),
    };
    config.redis.url = app.state.config.redis.url.clone();
    config.redis.key_prefix = app.state.config.redis.key_prefix.clone();
    let clock = std::sync::Arc::new(humor_server::clock::ManualClock::new(
        humor_server::clock::Clock::now_ms(&humor_server::clock::SystemClock),
    ));
    let state = humor_server::startup::build(config, clock).expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(humor_server::startup::run_until(state, listener, async {
        let _ = rx.await;
    }));
    let request = tokio::spawn({
        let base = base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/api/game/start"))
                .json(&json!({"username": "early_riser"}))
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.restore();
    let status = request.await.expect("join").expect("answered");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the request waited for start-up instead of failing"
    );
    let _ = tx.send(());
    server.await.expect("join").expect("stop");
}

#[tokio::test]
async fn a_request_caught_by_a_redis_partition_answers_within_one_dependency_timeout() {
    if !services() {
        return;
    }
    let redis = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let proxy = CutProxy::to(host_port(&redis)).await;
    let url = format!("redis://{}/", proxy.addr);
    let app = spawn_with(Backend::Postgres, &|c| {
        c.redis.url = Some(Secret::new(url.clone()));
        // What this test measures: one timeout per request, not one per Redis call.
        c.operations.dependency_timeout = Duration::from_secs(1);
    })
    .await;
    let (id, token, _) = app.start("partitioned", "easy").await;
    let card = app.pairs(&id).await[0].0.clone();
    // Every byte to Redis now disappears; the monitor has not noticed yet.
    proxy.freeze();
    let redis_status = app
        .state
        .health
        .redis
        .as_ref()
        .expect("Redis is configured");
    let trips = redis_status.trips();
    let t = Instant::now();
    let r = keyed_flip(&app, &id, &card, &token, "k-partition").await;
    let took = t.elapsed();
    let paid = redis_status.trips() - trips;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
    );
    // Rate limit, idempotency record and the game each need Redis: the first failure marks it down,
    // so the request pays one dependency timeout (none if the monitor noticed first), not one per
    // call. Counted, not timed.
    println!("the partitioned request took {took:?} and paid {paid} dependency timeouts");
    assert!(paid <= 1, "one timeout per request, not per call: {paid}");
    assert!(!redis_status.is_up(), "the partition was noticed");
    let trips = redis_status.trips();
    let t = Instant::now();
    let next = app.flip(&id, &card, &token).await;
    assert_eq!(next.status, StatusCode::SERVICE_UNAVAILABLE);
    println!("the next request took {:?}", t.elapsed());
    assert_eq!(redis_status.trips() - trips, 0, "then at once");
}

#[tokio::test]
async fn a_retried_start_whose_answer_was_lost_gets_the_game_it_dealt() {
    each_backend(no_tweak, |app| async move {
        let body = json!({"username": "lost_start", "difficulty": "medium"});
        let key = [("idempotency-key", "k-start")];
        let first = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(body.clone()),
                None,
                &key,
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        // The replica died before recording the answer: only the deal itself is known.
        let scope = app.addr.ip().to_string();
        let store_key = idempotency_store_key(&scope, "/api/game/start", "k-start");
        app.state
            .live
            .idempotency_release(&store_key)
            .await
            .expect("release");
        let retry = app
            .call_with(Method::POST, "/api/game/start", Some(body), None, &key)
            .await;
        assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
        assert!(retry.replayed(), "{:?}", retry.headers);
        assert_eq!(retry.body["game"]["gameId"], first.body["game"]["gameId"]);
        assert_eq!(retry.body["player"]["token"], first.body["player"]["token"]);
        let stats = app.get("/api/leaderboard/stats").await;
        assert_eq!(
            stats.body["statistics"]["overall"]["totalGames"], 1,
            "one game dealt, not two"
        );
    })
    .await;
}

/// A database one migration behind (5: the board's order index), with `rows` board entries so
/// that building the index takes a while. Returns the admin connection, its URL and its name.
async fn database_before_the_board_index(rows: i64) -> (sqlx::PgConnection, String, String) {
    use sqlx::Connection;
    let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
    let name = format!("hmg_mig_{}", uuid::Uuid::new_v4().simple());
    let mut c = sqlx::PgConnection::connect(&admin).await.expect("admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create");
    let url = crate::helpers::replace_db(&admin, &name);
    humor_store::connect(&url, &humor_store::PoolOptions::default())
        .expect("store")
        .migrate()
        .await
        .expect("migrate");
    let mut db = sqlx::PgConnection::connect(&url).await.expect("db");
    for sql in [
        "DROP INDEX leaderboard_order".to_string(),
        "CREATE INDEX leaderboard_rank ON leaderboard_entries (board, best_score DESC, best_time_ms ASC, best_completed_at_ms ASC)".to_string(),
        "DELETE FROM _sqlx_migrations WHERE version >= 5".to_string(),
        "INSERT INTO players (id, username, username_key, created_at_ms) VALUES ('00000000-0000-0000-0000-000000000001', 'big', 'big', 0)".to_string(),
        format!("INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms, \
           best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
         SELECT 'b' || i, '00000000-0000-0000-0000-000000000001', 'big', 'easy', i % 300, i, i, 1, 1, i \
         FROM generate_series(1, {rows}) i"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut db)
            .await
            .expect(&sql);
    }
    (c, url, name)
}

async fn drop_database(mut admin: sqlx::PgConnection, name: &str) {
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
}

#[tokio::test]
async fn migrations_do_not_inherit_the_requests_statement_timeout() {
    if !services() {
        return;
    }
    // At 10 million games building the board's index took minutes: the migration must finish.
    let (admin, url, name) = database_before_the_board_index(400_000).await;
    let options = humor_store::PoolOptions {
        statement_timeout: Duration::from_millis(1),
        ..Default::default()
    };
    let store = humor_store::connect(&url, &options).expect("store");
    let migrated = store.migrate().await;
    store.close().await;
    drop_database(admin, &name).await;
    migrated.expect("the index build is not cancelled by the requests' statement_timeout");
}

#[tokio::test]
async fn building_the_board_index_does_not_hold_off_completions() {
    if !services() {
        return;
    }
    use sqlx::Connection;
    let (admin, url, name) = database_before_the_board_index(1_000_000).await;
    // A writer upserting board rows (what a completion does) with a short lock_timeout, while a
    // replica of the new release migrates: a plain CREATE INDEX would lock it out for the build.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let writer = {
        let done = done.clone();
        let written = written.clone();
        let mut w = sqlx::PgConnection::connect(&url).await.expect("writer");
        tokio::spawn(async move {
            sqlx::query("SET lock_timeout = '400ms'")
                .execute(&mut w)
                .await
                .expect("set");
            let (mut ok, mut failed) = (0u32, Vec::new());
            let mut i = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let r = sqlx::query(
                    "INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, \
                       best_time_ms, best_completed_at_ms, games_completed, total_score, last_completed_at_ms) \
                     VALUES ($1, '00000000-0000-0000-0000-000000000001', 'big', 'easy', 1, 1, 1, 1, 1, 1)",
                )
                .bind(format!("w{i}"))
                .execute(&mut w)
                .await;
                match r {
                    Ok(_) => {
                        ok += 1;
                        written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(e) => failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (ok, failed)
        })
    };
    let writes = || written.load(std::sync::atomic::Ordering::SeqCst);
    eventually(Duration::from_secs(30), "the writer writing", || async {
        writes() > 0
    })
    .await;
    let store = humor_store::connect(&url, &humor_store::PoolOptions::default()).expect("store");
    let before_build = writes();
    let t = Instant::now();
    let migrated = store.migrate().await;
    let took = t.elapsed();
    let during_build = writes() - before_build;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failed) = writer.await.expect("writer");
    let mut db = sqlx::PgConnection::connect(&url).await.expect("db");
    let index: Option<(bool, String)> = sqlx::query_as(
        "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indexrelid = to_regclass('leaderboard_order')",
    )
    .fetch_optional(&mut db)
    .await
    .expect("index");
    let old: bool = sqlx::query_scalar("SELECT to_regclass('leaderboard_rank') IS NOT NULL")
        .fetch_one(&mut db)
        .await
        .expect("old index");
    drop(db);
    store.close().await;
    drop_database(admin, &name).await;
    migrated.expect("migrate");
    assert!(
        failed.is_empty(),
        "writes held off by the build ({took:?}): {failed:?}"
    );
    // Counted, not timed: the build of a million rows outlasts many of the writer's rounds on
    // any machine, and a build that locked the writer out would show as failures above.
    println!("{ok} writes, {during_build} of them during the {took:?} build");
    assert!(
        during_build > 0,
        "the writer ran during the build ({ok} writes, {took:?})"
    );
    let (valid, def) = index.expect("the index exists");
    assert!(valid, "the index is valid: {def}");
    assert!(def.contains("player_id"), "{def}");
    assert!(!old, "migration 5 dropped the old index");
}

#[tokio::test]
async fn a_start_dealt_but_never_recorded_is_recorded_by_its_retry() {
    use humor_game::game::{Game, NewGame};
    use humor_game::Difficulty;
    each_backend(no_tweak, |app| async move {
        let (_, token, _) = app.start("unrecorded", "easy").await;
        let player = app
            .state
            .store
            .player_by_name("unrecorded")
            .await
            .expect("db")
            .expect("player");
        let total =
            |r: crate::helpers::Reply| r.body["statistics"]["overall"]["totalGames"].clone();
        let before = total(app.get("/api/leaderboard/stats").await);
        // The replica dealt a game into the live state, then died (or its database write failed)
        // before recording it: the client's retry is all that is left.
        let key = [("idempotency-key", "k-unrecorded")];
        // Scoped to the caller: its Authorization header when it has one.
        let op = idempotency_store_key(
            &format!("Bearer {token}"),
            "/api/game/start",
            "k-unrecorded",
        );
        let game = Game::new(
            NewGame {
                id: uuid::Uuid::new_v4(),
                player_id: player.id,
                username: player.username.clone(),
                difficulty: Difficulty::Easy,
                daily: None,
                layout: humor_game::deck::deal(Difficulty::Easy, &[], &mut rand::rng()),
                now: app.state.clock.now_ms(),
            },
            &mut rand::rng(),
        );
        app.state
            .live
            .create_game(&game, Some((&op, &format!("{}|known", game.id))))
            .await
            .expect("live");
        let body = json!({"username": "unrecorded", "difficulty": "easy"});
        let retry = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(body),
                Some(&token),
                &key,
            )
            .await;
        assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
        let id = game.id.to_string();
        assert_eq!(retry.body["game"]["gameId"], Value::from(id.clone()));
        assert!(retry.replayed(), "{:?}", retry.headers);
        let stored = app.state.store.game(game.id).await.expect("db");
        assert_eq!(
            stored.map(|g| g.status),
            Some(humor_store::RecordStatus::Active),
            "the retry records the game it answers"
        );
        let last = app.play_perfect(&id, &token).await;
        assert_eq!(last.status, StatusCode::OK, "{:?}", last.body);
        let score = last.body["result"]["finalScore"].as_i64().expect("score");
        let stored = app
            .state
            .store
            .game(game.id)
            .await
            .expect("db")
            .expect("row");
        assert_eq!((stored.status.as_str(), stored.score), ("completed", score));
        let after = total(app.get("/api/leaderboard/stats").await);
        assert_eq!(after, Value::from(before.as_u64().expect("n") + 1));
    })
    .await;
}
