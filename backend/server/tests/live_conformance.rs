//! The live-state conformance suite: every test runs against the in-memory engine and against
//! Redis (`TEST_REDIS_URL`, a fresh key prefix per test, its keys removed afterwards), so the two
//! engines cannot drift apart. With `REQUIRE_SERVICES=1` a missing Redis is a failure, not a skip.
//!
//! "Two handles" are two clients of one shared state: two `Arc`s of one `MemoryState`, or two
//! `RedisState`s with the same prefix (what two replicas are).

use humor_game::game::NewGame;
use humor_game::{deck, Difficulty, Game};
use humor_server::live::{IdempotencyBegin, LiveState, MemoryState, RateHit, RedisState};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A fixed instant on a whole minute, so rate-limit windows start exactly here.
const NOW: i64 = 1_800_000_000_000;

struct Engine {
    name: &'static str,
    a: Arc<dyn LiveState>,
    b: Arc<dyn LiveState>,
    /// Redis URL and the key prefix to remove afterwards.
    redis: Option<(String, String)>,
}

fn require_services() -> bool {
    std::env::var("REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn engines() -> Vec<Engine> {
    let memory = Arc::new(MemoryState::new());
    let mut out = vec![Engine {
        name: "memory",
        a: memory.clone(),
        b: memory,
        redis: None,
    }];
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) => {
            let prefix = format!("hmg_live_{}:", Uuid::new_v4().simple());
            let open =
                || RedisState::new(&url, &prefix, Duration::from_secs(5)).expect("TEST_REDIS_URL");
            out.push(Engine {
                name: "redis",
                a: Arc::new(open()),
                b: Arc::new(open()),
                redis: Some((url, prefix)),
            });
        }
        Err(_) => assert!(
            !require_services(),
            "REQUIRE_SERVICES=1 but TEST_REDIS_URL is not set"
        ),
    }
    out
}

/// Removes every key a test wrote under its prefix.
async fn remove_keys(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

/// Runs `check` on every engine, then cleans up after Redis.
async fn on_every_engine<F, Fut>(check: F)
where
    F: Fn(&'static str, Arc<dyn LiveState>, Arc<dyn LiveState>) -> Fut,
    Fut: Future<Output = ()>,
{
    for engine in engines() {
        engine.a.ping().await.unwrap_or_else(|e| {
            panic!("{}: the engine does not answer: {e}", engine.name);
        });
        check(engine.name, engine.a.clone(), engine.b.clone()).await;
        if let Some((url, prefix)) = &engine.redis {
            remove_keys(url, prefix).await;
        }
    }
}

/// Waits until `condition` holds (an expiry), failing after a generous bound.
async fn eventually<Fut: Future<Output = bool>>(what: &str, condition: impl Fn() -> Fut) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn new_game(seed: u64) -> Game {
    let mut rng = StdRng::seed_from_u64(seed);
    let layout = deck::deal(Difficulty::Easy, &[], &mut rng);
    Game::new(
        NewGame {
            id: Uuid::new_v4(),
            player_id: Uuid::new_v4(),
            username: "conformance".into(),
            difficulty: Difficulty::Easy,
            daily: None,
            layout,
            now: NOW,
        },
        &mut rng,
    )
}

#[tokio::test]
async fn a_save_at_a_stale_version_loses_and_changes_nothing() {
    on_every_engine(|name, a, b| async move {
        let mut game = new_game(1);
        a.create_game(&game, None).await.expect("create");
        let first = a.load_game(game.id).await.expect("load").expect("stored");
        assert_eq!(first.game, game, "{name}");

        // Two requests read the same version; the first save wins, the second must re-read.
        game.pauses_used = 1;
        let due = game.deadline();
        assert!(
            a.save_game(&game, first.version, due).await.expect("save"),
            "{name}"
        );
        let mut loser = game.clone();
        loser.pauses_used = 2;
        assert!(
            !b.save_game(&loser, first.version, due).await.expect("save"),
            "{name}: a save at a stale version succeeded"
        );

        let now = b.load_game(game.id).await.expect("load").expect("stored");
        assert_eq!(now.version, first.version + 1, "{name}");
        assert_eq!(now.game, game, "{name}: the losing save changed the game");
        assert!(
            b.save_game(&loser, now.version, due).await.expect("save"),
            "{name}: a save at the current version failed"
        );
        assert!(
            a.load_game(Uuid::new_v4()).await.expect("load").is_none(),
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_copy_loaded_for_update_that_another_handle_moved_past_loses_once_then_catches_up() {
    on_every_engine(|name, a, b| async move {
        let game = new_game(11);
        a.create_game(&game, None).await.expect("create");
        let copy = a
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!((copy.version, &copy.game), (1, &game), "{name}");

        // The other handle moves the game on.
        let theirs = b
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        let mut moved = theirs.game.clone();
        moved.pauses_used = 1;
        assert!(b
            .save_game(&moved, theirs.version, moved.deadline())
            .await
            .expect("save"));

        // A save from the old copy loses at most once; then the copy is the other's save.
        let mut mine = copy.game.clone();
        mine.pauses_used = 2;
        let saved = a
            .save_game(&mine, copy.version, mine.deadline())
            .await
            .expect("save");
        assert!(
            !saved,
            "{name}: a save from a copy another handle moved past succeeded"
        );
        let caught_up = a
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!((caught_up.version, &caught_up.game), (2, &moved), "{name}");
        mine = caught_up.game.clone();
        mine.pauses_used = 2;
        assert!(a
            .save_game(&mine, caught_up.version, mine.deadline())
            .await
            .expect("save"));
        let stored = b.load_game(game.id).await.expect("load").expect("live");
        assert_eq!((stored.version, &stored.game), (3, &mine), "{name}");

        // A game that is gone is gone for a stale copy too, once its save has failed.
        let gone = a.load_for_update(Uuid::new_v4()).await.expect("load");
        assert!(gone.is_none(), "{name}");
    })
    .await;
}

#[tokio::test]
async fn redis_answers_a_load_for_update_from_the_copy_its_handle_saved_without_a_read() {
    for engine in engines().into_iter().filter(|e| e.redis.is_some()) {
        let (url, prefix) = engine.redis.clone().expect("redis");
        let game = new_game(12);
        engine.a.create_game(&game, None).await.expect("create");
        let mut moved = game.clone();
        moved.pauses_used = 1;
        assert!(engine
            .a
            .save_game(&moved, 1, moved.deadline())
            .await
            .expect("save"));

        // Behind the handles' backs, the stored state changes without a new version (no replica
        // does this): a handle that reads Redis sees it, the handle that saved answers from its copy.
        let mut tampered = moved.clone();
        tampered.pauses_used = 3;
        let client = redis::Client::open(url.as_str()).expect("redis url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let key = format!("{prefix}game:{}", game.id);
        let json = serde_json::to_string(&tampered).expect("json");
        let _: i64 = redis::cmd("HSET")
            .arg(&key)
            .arg("s")
            .arg(json)
            .query_async(&mut conn)
            .await
            .expect("HSET");
        let read = engine
            .b
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!(
            read.game.pauses_used, 3,
            "a handle without a copy reads Redis"
        );
        let copy = engine
            .a
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!(
            (copy.version, copy.game.pauses_used),
            (2, 1),
            "no read for the saver"
        );
        let fresh = engine
            .a
            .load_game(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!(fresh.game.pauses_used, 3, "load_game always reads Redis");
        remove_keys(&url, &prefix).await;
    }
}

#[tokio::test]
async fn a_start_operation_is_recalled_with_its_answer() {
    on_every_engine(|name, a, b| async move {
        let game = new_game(2);
        let answer = format!("{}|new", game.id);
        a.create_game(&game, Some(("start-op", &answer)))
            .await
            .expect("create");
        assert_eq!(
            b.recall_start("start-op").await.expect("recall"),
            Some(answer),
            "{name}"
        );
        assert_eq!(
            b.recall_start("other-op").await.expect("recall"),
            None,
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_sweep_schedule_holds_a_game_until_it_is_settled() {
    on_every_engine(|name, a, b| async move {
        let game = new_game(3);
        let deadline = game.deadline();
        a.create_game(&game, None).await.expect("create");
        assert_eq!(b.unsettled_games().await.expect("count"), 1, "{name}");
        assert!(
            b.due_games(deadline - 1, 10).await.expect("due").is_empty(),
            "{name}: due before its deadline"
        );
        assert_eq!(
            b.due_games(deadline, 10).await.expect("due"),
            vec![game.id],
            "{name}"
        );

        // A save reschedules it (a pause moved the deadline).
        let version = a
            .load_game(game.id)
            .await
            .expect("load")
            .expect("game")
            .version;
        assert!(a
            .save_game(&game, version, deadline + 60_000)
            .await
            .expect("save"));
        assert!(
            b.due_games(deadline, 10).await.expect("due").is_empty(),
            "{name}"
        );
        assert_eq!(
            b.due_games(deadline + 60_000, 10).await.expect("due"),
            vec![game.id],
            "{name}"
        );

        b.settle_game(game.id).await.expect("settle");
        assert_eq!(a.unsettled_games().await.expect("count"), 0, "{name}");
        assert!(
            a.due_games(i64::MAX / 2, 10).await.expect("due").is_empty(),
            "{name}: a settled game is still scheduled"
        );
        // Its end is durable elsewhere, but the live copy stays readable for a while.
        assert!(
            a.load_game(game.id).await.expect("load").is_some(),
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_record_is_held_then_replayed() {
    on_every_engine(|name, a, b| async move {
        let lease = Duration::from_secs(60);
        assert_eq!(
            a.idempotency_begin("key", "fp", lease)
                .await
                .expect("begin"),
            IdempotencyBegin::New,
            "{name}"
        );
        // The other replica sees the request in progress, with its fingerprint.
        assert_eq!(
            b.idempotency_begin("key", "fp", lease)
                .await
                .expect("begin"),
            IdempotencyBegin::InProgress {
                fingerprint: "fp".into()
            },
            "{name}"
        );
        a.idempotency_store("key", "fp", "{\"status\":201}", Duration::from_secs(60))
            .await
            .expect("store");
        assert_eq!(
            b.idempotency_begin("key", "fp", lease)
                .await
                .expect("begin"),
            IdempotencyBegin::Done {
                fingerprint: "fp".into(),
                response: "{\"status\":201}".into()
            },
            "{name}"
        );

        // A released key can be used again at once.
        assert_eq!(
            a.idempotency_begin("released", "fp", lease)
                .await
                .expect("begin"),
            IdempotencyBegin::New
        );
        b.idempotency_release("released").await.expect("release");
        assert_eq!(
            a.idempotency_begin("released", "fp", lease)
                .await
                .expect("begin"),
            IdempotencyBegin::New,
            "{name}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_lease_that_is_not_extended_runs_out() {
    on_every_engine(|name, a, b| async move {
        let short = Duration::from_secs(2);
        assert_eq!(
            a.idempotency_begin("crashed", "fp", short)
                .await
                .expect("begin"),
            IdempotencyBegin::New
        );
        assert_eq!(
            b.idempotency_begin("crashed", "fp", short)
                .await
                .expect("begin"),
            IdempotencyBegin::InProgress {
                fingerprint: "fp".into()
            },
            "{name}"
        );
        // Its holder crashed: another replica may take the key once the lease is over.
        eventually(&format!("{name}: the lease runs out"), || {
            let b = b.clone();
            async move {
                b.idempotency_begin("crashed", "fp", Duration::from_secs(60))
                    .await
                    .expect("begin")
                    == IdempotencyBegin::New
            }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn rate_limits_count_across_handles_per_client_and_window() {
    on_every_engine(|name, a, b| async move {
        let window = Duration::from_secs(60);
        let mut remaining = Vec::new();
        for handle in [&a, &a, &b] {
            let d = handle
                .rate_hit("198.51.100.7", window, 3, NOW)
                .await
                .expect("hit");
            assert!(d.allowed, "{name}");
            assert_eq!(d.limit, 3);
            assert_eq!(d.reset_after, window, "{name}");
            remaining.push(d.remaining);
        }
        assert_eq!(remaining, vec![2, 1, 0], "{name}: the handles count apart");

        let over = b
            .rate_hit("198.51.100.7", window, 3, NOW + 59_999)
            .await
            .expect("hit");
        assert!(!over.allowed, "{name}");
        assert_eq!(over.remaining, 0);
        assert_eq!(over.reset_after, Duration::from_millis(1), "{name}");

        let other = a
            .rate_hit("198.51.100.8", window, 3, NOW)
            .await
            .expect("hit");
        assert!(other.allowed && other.remaining == 2, "{name}");
        let next_window = a
            .rate_hit("198.51.100.7", window, 3, NOW + 60_000)
            .await
            .expect("hit");
        assert!(next_window.allowed && next_window.remaining == 2, "{name}");
    })
    .await;
}

#[tokio::test]
async fn a_counted_save_shares_the_clients_counter_and_stores_nothing_when_refused() {
    on_every_engine(|name, a, b| async move {
        let hit = RateHit {
            client: "198.51.100.9".into(),
            window: Duration::from_secs(60),
            max: 3,
            now_ms: NOW,
        };
        let mut game = new_game(13);
        a.create_game(&game, None).await.expect("create");
        // One request counted on its own, then a move counted with its save: one counter.
        let alone = b
            .rate_hit(&hit.client, hit.window, hit.max, NOW)
            .await
            .expect("hit");
        assert_eq!(alone.remaining, 2, "{name}");
        game.pauses_used = 1;
        let saved = a
            .save_game_counted(&game, 1, game.deadline(), &hit)
            .await
            .expect("save");
        assert!(saved.saved && saved.rate.allowed, "{name}");
        assert_eq!(
            (saved.rate.remaining, saved.rate.reset_after),
            (1, hit.window),
            "{name}"
        );

        // A save at a stale version is counted too, and stores nothing.
        let mut stale = game.clone();
        stale.pauses_used = 2;
        let lost = b
            .save_game_counted(&stale, 1, stale.deadline(), &hit)
            .await
            .expect("save");
        assert!(
            !lost.saved && lost.rate.allowed && lost.rate.remaining == 0,
            "{name}"
        );

        // Over the limit: refused, and the game stays as it was even at the right version.
        let over = a
            .save_game_counted(&stale, 2, stale.deadline(), &hit)
            .await
            .expect("save");
        assert!(!over.saved && !over.rate.allowed, "{name}");
        let now = b.load_game(game.id).await.expect("load").expect("live");
        assert_eq!(
            (now.version, &now.game),
            (2, &game),
            "{name}: a refused save stored"
        );
        let copy = a
            .load_for_update(game.id)
            .await
            .expect("load")
            .expect("live");
        assert_eq!((copy.version, &copy.game), (2, &game), "{name}");
    })
    .await;
}

#[tokio::test]
async fn the_cache_never_answers_from_before_an_invalidation() {
    on_every_engine(|name, a, b| async move {
        let ttl = Duration::from_secs(60);
        let (generation, miss) = a.cache_get("board:all:10").await.expect("get");
        assert_eq!(miss, None, "{name}");
        a.cache_put(generation, "board:all:10", "rows", ttl)
            .await
            .expect("put");
        assert_eq!(
            b.cache_get("board:all:10").await.expect("get"),
            (generation, Some("rows".into())),
            "{name}"
        );

        // A reader computed its answer before a completion invalidated the cache: storing it
        // under the generation it read must not make it visible.
        b.cache_invalidate().await.expect("invalidate");
        let (newer, gone) = a.cache_get("board:all:10").await.expect("get");
        assert!(newer > generation, "{name}");
        assert_eq!(gone, None, "{name}");
        a.cache_put(generation, "board:all:10", "stale rows", ttl)
            .await
            .expect("put");
        assert_eq!(
            b.cache_get("board:all:10").await.expect("get"),
            (newer, None),
            "{name}: a stale answer became visible"
        );
    })
    .await;
}

#[tokio::test]
async fn a_cached_answer_expires_after_its_ttl() {
    on_every_engine(|name, a, b| async move {
        let (generation, _) = a.cache_get("stats").await.expect("get");
        a.cache_put(generation, "stats", "{}", Duration::from_secs(2))
            .await
            .expect("put");
        assert_eq!(
            b.cache_get("stats").await.expect("get").1.as_deref(),
            Some("{}"),
            "{name}"
        );
        eventually(&format!("{name}: the cached answer expires"), || {
            let b = b.clone();
            async move { b.cache_get("stats").await.expect("get").1.is_none() }
        })
        .await;
    })
    .await;
}
