//! Operations: health and readiness, metrics, the OpenAPI document, graceful shutdown, static
//! files, headers, and the binary's subcommands and configuration errors.

use crate::helpers::{
    base_config, each_backend, eventually, spawn_app, spawn_config, spawn_with, Backend,
};
use humor_server::config::{DatabaseLocation, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn no_tweak(_: &mut humor_server::Config) {}

const BIN: &str = env!("CARGO_BIN_EXE_humor-memory-game");

#[tokio::test]
async fn health_endpoints_answer_in_the_guides_shape() {
    each_backend(no_tweak, |app| async move {
        for path in ["/health", "/api/health"] {
            let r = app.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
            assert_eq!(r.body["status"], "healthy");
            assert_eq!(r.body["services"]["database"], "connected");
            assert_eq!(r.body["services"]["api"], "running");
            let redis = if app.backend == Backend::Postgres {
                "connected"
            } else {
                "not_configured"
            };
            assert_eq!(r.body["services"]["redis"], redis);
            assert!(
                r.body["version"].is_string()
                    && r.body["timestamp"].is_string()
                    && r.body["environment"].is_string()
            );
        }
        assert_eq!(app.get("/health/live").await.body["status"], "alive");
        assert_eq!(app.get("/health/ready").await.body["status"], "ready");
    })
    .await;
}

#[tokio::test]
async fn with_its_database_down_the_server_serves_liveness_and_fast_json_503s() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = base_config(dir.path());
    // Nothing listens on port 9: connections are refused at once.
    config.database.location = DatabaseLocation::Postgres {
        url: Secret::new("postgres://gameuser:pw@127.0.0.1:9/humor_memory_game"),
    };
    config.operations.dependency_timeout = Duration::from_millis(300);
    let clock = std::sync::Arc::new(humor_server::clock::ManualClock::new(0));
    let state = humor_server::startup::build(config, clock).expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(humor_server::startup::run_until(state, listener, async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let live = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(live.status(), StatusCode::OK);
    let ready = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["reason"],
        "starting"
    );
    let t = Instant::now();
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health.json::<Value>().await.expect("json")["services"]["database"],
        "disconnected"
    );
    let api = client
        .post(format!("{base}/api/game/start"))
        .json(&json!({"username": "nobody"}))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.headers().contains_key("retry-after"));
    assert_eq!(
        api.json::<Value>().await.expect("json")["error"],
        "starting"
    );
    // The API waits up to 2 s for start-up before answering `starting`; nothing hangs. The bound
    // is five times that wait, so only a request that never gives up can miss it.
    println!("health and API answered in {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "answers are bounded: {:?}",
        t.elapsed()
    );
    let _ = tx.send(());
    server.await.expect("join").expect("clean stop");
}

#[tokio::test]
async fn metrics_use_route_templates_and_cover_the_contract() {
    each_backend(no_tweak, |app| async move {
        app.complete_game("metric_fan", "easy").await;
        app.get("/api/no/such/path/12345").await;
        let r = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        assert!(r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/plain"));
        let text = r.text().await.expect("text");
        assert!(
            text.contains("route=\"/api/game/{gameId}/flip\""),
            "route templates"
        );
        assert!(text.contains("route=\"unmatched\""));
        assert!(
            !text.contains("/api/no/such/path"),
            "no raw paths in labels"
        );
        assert!(!text.contains("metric_fan"), "no usernames in labels");
        assert!(text.contains("games_completed_total{difficulty=\"easy\"}"));
        assert!(text.contains("game_flips_total{"));
        let contract = humor_server::contract::contract();
        for m in contract["metrics"].as_array().expect("metrics") {
            let name = m["name"].as_str().expect("name");
            let dependency_only = name.starts_with("redis_") && app.backend == Backend::Sqlite;
            let conditional = matches!(
                name,
                "config_weak_secret"
                    | "db_errors_total"
                    | "redis_errors_total"
                    | "game_sessions_active"
                    | "dependency_up"
                    | "app_ready"
            );
            if !dependency_only && !conditional {
                assert!(
                    text.contains(&format!("\n{name}"))
                        || text.starts_with(name)
                        || text.contains(&format!("# TYPE {name} ")),
                    "{name} missing"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let app = spawn_app().await;
    let doc = app.get("/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = doc.body["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20);
    for (path, item) in paths {
        let concrete = path
            .replace("{gameId}", &uuid::Uuid::new_v4().to_string())
            .replace("{username}", "someone");
        for method in ["get", "post"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = if method == "get" {
                Method::GET
            } else {
                Method::POST
            };
            let r = app.call(m, &concrete, Some(json!({})), None).await;
            assert_ne!(
                r.code(),
                "not_found",
                "{method} {path} is documented but not served"
            );
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
    for must in [
        "/api/game/start",
        "/api/game/{gameId}/flip",
        "/api/leaderboard",
        "/api/scores",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(must), "{must} undocumented");
    }
    // Every reference resolves, and every operation documents its generic errors.
    let text = doc.body.to_string();
    let schemas = doc.body["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for piece in text.split("\"$ref\":\"").skip(1) {
        let reference = piece.split('"').next().unwrap_or("");
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("a schema reference");
        assert!(schemas.contains_key(name), "{reference} does not resolve");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            assert!(
                op["responses"]["default"].is_object(),
                "{method} {path} lacks a default error response"
            );
        }
    }
    let index = app.get("/api").await;
    assert!(index.body["endpoints"]
        .as_array()
        .is_some_and(|e| e.iter().any(|x| x == "POST /api/game/{gameId}/flip")));
}

#[tokio::test]
async fn in_flight_requests_complete_during_graceful_shutdown() {
    let mut app = spawn_with(Backend::Sqlite, &|c| {
        c.operations.drain_delay = Duration::from_millis(300)
    })
    .await;
    let body = br#"{"username":"last_one_in"}"#;
    // A request whose body is still arriving when SIGTERM comes.
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!("POST /api/game/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..5]).await.expect("part");
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(
        (ready.status, ready.body["reason"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("draining"))
    );
    assert_eq!(
        ready
            .headers
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    tokio::time::sleep(Duration::from_millis(400)).await; // past the drain delay: no longer accepting
    stream.write_all(&body[5..]).await.expect("rest");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(text.contains("last_one_in"));
    assert!(
        tokio::net::TcpStream::connect(app.addr).await.is_err(),
        "no longer accepting"
    );
    app.shutdown().await.expect("clean exit");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = spawn_with(Backend::Sqlite, &|c| {
        c.server.http_idle_timeout = Duration::from_millis(500)
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let sent = Instant::now();
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 2048];
    let n = stream.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The server's idle clock starts after it answered, so after `sent`: however slow the
    // machine, an honest close comes at least the idle timeout after it. Ten times the timeout
    // is only a backstop for a connection never closed.
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the server closed the idle connection");
    println!("closed {:?} after the request was sent", sent.elapsed());
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "closed only once idle for the timeout: {:?}",
        sent.elapsed()
    );
}

#[tokio::test]
async fn the_page_and_its_assets_follow_one_cache_policy_with_security_headers_everywhere() {
    let app = spawn_app().await;
    let index = app.client.get(app.url("/")).send().await.expect("index");
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    let etag = index.headers()["etag"].to_str().expect("etag").to_string();
    let html = index.text().await.expect("html");
    let revalidated = app
        .client
        .get(app.url("/index.html"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("304");
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/static/"))
        .map(String::from)
        .collect();
    for asset in &assets {
        let r = app.client.get(app.url(asset)).send().await.expect("asset");
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{asset}"
        );
    }
    let missing = app
        .client
        .get(app.url("/static/0000000000/js/missing.js"))
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for path in ["/", "/api/leaderboard", "/api/nope", "/health/live"] {
        let r = app.client.get(app.url(path)).send().await.expect("get");
        for (name, value) in humor_server::http::middleware::SECURITY_HEADERS {
            let all: Vec<_> = r.headers().get_all(name).iter().collect();
            assert_eq!(all.len(), 1, "{path}: {name} once");
            assert_eq!(all[0], value, "{path}: {name}");
        }
        assert!(r.headers().contains_key("x-request-id"));
    }
    let zipped = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("gzip");
    assert_eq!(
        zipped
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap_or("")),
        Some("gzip")
    );
}

#[tokio::test]
async fn mutating_and_player_responses_are_never_cached_and_cors_allows_only_listed_origins() {
    let app = spawn_app().await;
    let r = app
        .post("/api/game/start", json!({"username": "cachey"}), None)
        .await;
    assert_eq!(r.headers["cache-control"], "no-store");
    let allowed = app
        .call_with(
            Method::GET,
            "/api/leaderboard",
            None,
            None,
            &[("origin", "http://localhost:3000")],
        )
        .await;
    assert_eq!(
        allowed
            .headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("http://localhost:3000")
    );
    let denied = app
        .call_with(
            Method::GET,
            "/api/leaderboard",
            None,
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert!(denied.headers.get("access-control-allow-origin").is_none());
}

#[test]
fn the_contract_subcommand_prints_docs_contract_json() {
    let out = Command::new(BIN).arg("contract").output().expect("run");
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let committed: Value = serde_json::from_str(include_str!("../../../../docs/contract.json"))
        .expect("docs/contract.json");
    assert_eq!(
        printed, committed,
        "docs/contract.json is stale: run `cargo run --release -- contract > docs/contract.json`"
    );
}

#[test]
fn the_readme_configuration_table_lists_every_environment_variable() {
    let readme = include_str!("../../../../README.md");
    for e in humor_server::contract::contract()["env"]
        .as_array()
        .expect("env")
    {
        let name = e["name"].as_str().expect("name");
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} is missing from the README table"
        );
    }
}

#[test]
fn help_lists_every_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for e in humor_server::contract::contract()["env"]
        .as_array()
        .expect("env")
    {
        let name = e["name"].as_str().expect("name");
        assert!(
            help.contains(&format!("env: {name}")),
            "{name} not in --help"
        );
    }
    let hidden = Command::new(BIN)
        .arg("--help")
        .env("DB_PASSWORD", "hunter2-secret")
        .output()
        .expect("run");
    assert!(
        !String::from_utf8_lossy(&hidden.stdout).contains("hunter2-secret"),
        "secret values never print"
    );
}

#[test]
fn malformed_configuration_stops_start_up_naming_the_variable() {
    for (var, value) in [
        ("TRUSTED_PROXIES", "not-a-cidr"),
        ("CORS_ORIGIN", "localhost"),
        ("DATABASE_URL", "mysql://x"),
        ("PORT", "70000"),
    ] {
        let out = Command::new(BIN)
            .env(var, value)
            .env("SQLITE_PATH", "/nonexistent/x.sqlite")
            .output()
            .expect("run");
        assert!(!out.status.success(), "{var}");
        let err = String::from_utf8_lossy(&out.stderr);
        let flag = var.to_ascii_lowercase().replace('_', "-");
        assert!(err.contains(var) || err.contains(&flag), "{var}: {err}");
    }
    let out = Command::new(BIN)
        .env("DB_HOST", "postgres")
        .env("DB_PASSWORD", "gamepass123")
        .env("REQUIRE_STRONG_SECRETS", "true")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DB_PASSWORD") && !err.contains("gamepass123"),
        "{err}"
    );
}

// Multi-threaded: the blocking child processes must not stall the server's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_and_migrate_subcommands_work_against_real_servers() {
    let app = spawn_app().await;
    let port = app.addr.port().to_string();
    let ok = Command::new(BIN)
        .args(["healthcheck"])
        .env("PORT", &port)
        .env("HOST", "127.0.0.1")
        .status()
        .expect("run");
    assert!(ok.success());
    let live = Command::new(BIN)
        .args(["healthcheck", "--path", "/health/live"])
        .env("PORT", &port)
        .status()
        .expect("run");
    assert!(live.success());
    let closed = Command::new(BIN)
        .args(["healthcheck", "--timeout-ms", "500"])
        .env("PORT", "9")
        .status()
        .expect("run");
    assert!(!closed.success());
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("migrated.sqlite");
    let migrate = Command::new(BIN)
        .arg("migrate")
        .env("SQLITE_PATH", &db)
        .env("LOG_FORMAT", "json")
        .output()
        .expect("run");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(db.exists());
    let again = Command::new(BIN)
        .arg("migrate")
        .env("SQLITE_PATH", &db)
        .status()
        .expect("run");
    assert!(again.success(), "migrations are idempotent");
}

/// A second replica sharing `first`'s PostgreSQL database and Redis.
async fn second_replica(first: &crate::helpers::TestApp) -> crate::helpers::TestApp {
    let mut config = base_config(tempfile::tempdir().expect("dir").path());
    config.database = first.state.config.database.clone();
    config.redis.url = first.state.config.redis.url.clone();
    config.redis.key_prefix = first.state.config.redis.key_prefix.clone();
    config.security.jwt_secret = None;
    spawn_config(
        Backend::Postgres,
        config,
        tempfile::tempdir().expect("dir"),
        None,
    )
    .await
}

#[tokio::test]
async fn two_replicas_share_games_through_redis_and_postgres() {
    if !crate::helpers::backends().contains(&Backend::Postgres) {
        return; // Only meaningful with shared services; REQUIRE_SERVICES=1 makes backends() fail instead.
    }
    let first = spawn_with(Backend::Postgres, &|_| {}).await;
    let second = second_replica(&first).await;
    let (id, token, _) = first.start("roamer", "easy").await;
    let pairs = first.pairs(&id).await;
    for (i, (a, b)) in pairs.iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        assert_eq!(app.flip(&id, a, &token).await.status, StatusCode::OK);
        let r = app.flip(&id, b, &token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let done = second
        .post("/api/game/complete", json!({"gameId": id}), Some(&token))
        .await;
    assert_eq!(done.body["gameResult"]["finalScore"], 314);
    let board = first.get("/api/leaderboard").await;
    assert_eq!(board.body["leaderboard"][0]["username"], "roamer");
}

#[tokio::test]
async fn a_refusal_is_never_given_from_a_replica_copy_that_another_replica_moved_past() {
    if !crate::helpers::backends().contains(&Backend::Postgres) {
        return; // Only meaningful with shared services; REQUIRE_SERVICES=1 makes backends() fail instead.
    }
    let first = spawn_with(Backend::Postgres, &|_| {}).await;
    let second = second_replica(&first).await;
    let (id, token, _) = first.start("copier", "easy").await;
    let pairs = first.pairs(&id).await;
    // The first replica's copy has an attempt in progress; the second replica ends that attempt.
    assert_eq!(
        first.flip(&id, &pairs[0].0, &token).await.status,
        StatusCode::OK
    );
    let ended = second.flip(&id, &pairs[1].0, &token).await;
    assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
    // From its copy, the first replica would refuse both cards at once (an attempt in progress).
    let matched = first
        .post(
            "/api/game/match",
            json!({"gameId": id, "card1Id": pairs[2].0, "card2Id": pairs[2].1}),
            Some(&token),
        )
        .await;
    assert_eq!(matched.status, StatusCode::OK, "{:?}", matched.body);
    assert_eq!(matched.body["isMatch"], true);
    // And a move the live game refuses is still refused by the replica whose copy is current.
    let again = second.flip(&id, &pairs[2].0, &token).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
    for (a, b) in &pairs[3..] {
        assert_eq!(first.flip(&id, a, &token).await.status, StatusCode::OK);
        assert_eq!(second.flip(&id, b, &token).await.status, StatusCode::OK);
    }
    let ones = &pairs[..2];
    for (a, b) in ones {
        assert_eq!(second.flip(&id, a, &token).await.status, StatusCode::OK);
        let last = first.flip(&id, b, &token).await;
        assert_eq!(last.status, StatusCode::OK, "{:?}", last.body);
    }
    let done = second
        .post("/api/game/complete", json!({"gameId": id}), Some(&token))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert!(
        done.body["gameResult"]["finalScore"].as_u64().is_some(),
        "{:?}",
        done.body
    );
}

#[tokio::test]
async fn a_redis_outage_gives_fast_503s_keeps_the_replica_ready_and_heals_by_itself() {
    if !crate::helpers::backends().contains(&Backend::Postgres) {
        return; // Needs the real services; REQUIRE_SERVICES=1 turns their absence into a failure.
    }
    let redis = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL");
    let proxy = crate::helpers::CutProxy::to(crate::helpers::host_port(&redis)).await;
    let url = format!("redis://{}/", proxy.addr);
    let app = spawn_with(Backend::Postgres, &|c| {
        c.redis.url = Some(Secret::new(url.clone()))
    })
    .await;
    let (id, token, _) = app.start("outage_r", "easy").await;
    let (a, b) = app.pairs(&id).await[0].clone();
    proxy.cut();
    eventually(
        Duration::from_secs(5),
        "the monitor noticing Redis is down",
        || async { app.state.health.redis.as_ref().is_some_and(|r| !r.is_up()) },
    )
    .await;
    // Fast means no request waits for Redis: counted (timeouts paid), not timed.
    let redis_status = app
        .state
        .health
        .redis
        .as_ref()
        .expect("Redis is configured");
    let trips = redis_status.trips();
    let t = Instant::now();
    let r = app.flip(&id, &a, &token).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable")
    );
    assert!(r.headers.contains_key("retry-after"));
    let started = app
        .post("/api/game/start", json!({"username": "outage_r2"}), None)
        .await;
    assert_eq!(started.status, StatusCode::SERVICE_UNAVAILABLE);
    println!("two 503s in {:?}", t.elapsed());
    assert_eq!(
        redis_status.trips() - trips,
        0,
        "answered at once, no dependency timeout paid"
    );
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    assert_eq!(
        app.get("/health/ready").await.status,
        StatusCode::OK,
        "a shared outage keeps replicas in the Service"
    );
    let health = app.get("/health").await;
    assert_eq!(
        (health.status, health.body["services"]["redis"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("disconnected"))
    );
    proxy.restore();
    eventually(
        Duration::from_secs(10),
        "recovery without a restart",
        || async { app.flip(&id, &a, &token).await.status == StatusCode::OK },
    )
    .await;
    let hit = app.flip(&id, &b, &token).await;
    assert_eq!(
        hit.body["outcome"]["result"], "hit",
        "the game survived the outage: {:?}",
        hit.body
    );
}

/// `redis-server` from PATH; None (the test returns) only when services are not required.
fn redis_server_binary() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var("REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("redis-server is not on PATH (REQUIRE_SERVICES=1)");
    }
    found
}

#[tokio::test]
async fn without_redis_a_replica_is_ready_says_why_and_uses_redis_once_it_appears() {
    let Some(redis_server) = redis_server_binary() else {
        return;
    };
    // A free port where nothing listens yet: the Service that does not exist yet, in a cluster.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    let url = format!("redis://{address}/");
    // spawn_with waits for /health/ready: start-up must not wait for Redis.
    let app = spawn_with(Backend::Sqlite, &|c| {
        c.redis.url = Some(Secret::new(url.clone()));
        c.operations.dependency_timeout = Duration::from_millis(500);
    })
    .await;
    assert_eq!(app.get("/health/ready").await.status, StatusCode::OK);
    for path in ["/health", "/api/health"] {
        let health = app.get(path).await;
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(health.body["services"]["redis"], "disconnected");
        assert_eq!(
            health.body["problems"]["redis"],
            format!("{address}: connection refused"),
            "{path} says which address it tries and why: {:?}",
            health.body
        );
    }
    let start = json!({"username": "early_bird", "difficulty": "easy"});
    let refused = app.post("/api/game/start", start, None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable"),
        "{:?}",
        refused.body
    );
    assert!(refused.headers.contains_key("retry-after"));

    let mut redis = tokio::process::Command::new(redis_server)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    // A start refused with 503 may already have claimed its name: each attempt uses a new one.
    let attempt = std::sync::atomic::AtomicU32::new(0);
    eventually(
        Duration::from_secs(20),
        "a game start succeeding once Redis answers, without a restart",
        || async {
            let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = json!({"username": format!("late_bird_{n}"), "difficulty": "easy"});
            app.post("/api/game/start", body, None).await.status == StatusCode::CREATED
        },
    )
    .await;
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK, "{:?}", health.body);
    assert_eq!(health.body["services"]["redis"], "connected");
    assert!(health.body.get("problems").is_none(), "{:?}", health.body);
    drop(app);
    let _ = redis.kill().await;
}

#[tokio::test]
async fn a_database_outage_gives_fast_503s_and_no_acknowledged_game_is_lost() {
    if !crate::helpers::backends().contains(&Backend::Postgres) {
        return; // Needs the real services; REQUIRE_SERVICES=1 turns their absence into a failure.
    }
    let app = spawn_with(Backend::Postgres, &|_| {}).await;
    // Re-point a second app at the same database through a proxy we can cut.
    let DatabaseLocation::Postgres { url } = &app.state.config.database.location else {
        panic!("postgres")
    };
    let proxy = crate::helpers::CutProxy::to(crate::helpers::host_port(url.expose())).await;
    let proxied = url.expose().replacen(
        &crate::helpers::host_port(url.expose()),
        &proxy.addr.to_string(),
        1,
    );
    let mut config = base_config(tempfile::tempdir().expect("dir").path());
    config.database.location = DatabaseLocation::Postgres {
        url: Secret::new(proxied),
    };
    config.redis.url = app.state.config.redis.url.clone();
    config.redis.key_prefix = app.state.config.redis.key_prefix.clone();
    let replica = spawn_config(
        Backend::Postgres,
        config,
        tempfile::tempdir().expect("dir"),
        None,
    )
    .await;
    let (done_id, done_token, score) = replica.complete_game("durable", "easy").await;
    let (id, token, _) = replica.start("outage_db", "easy").await;
    proxy.cut();
    eventually(
        Duration::from_secs(6),
        "the monitor noticing the database is down",
        || async { !replica.state.health.database.is_up() },
    )
    .await;
    // Fast means no request waits for the database: counted (timeouts paid), not timed.
    let trips = replica.state.health.database.trips();
    let t = Instant::now();
    for r in [
        replica
            .post("/api/game/start", json!({"username": "nobody_now"}), None)
            .await,
        replica.get("/api/leaderboard").await,
        replica
            .post(
                "/api/game/complete",
                json!({"gameId": done_id}),
                Some(&done_token),
            )
            .await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "dependency_unavailable"),
            "{:?}",
            r.body
        );
    }
    println!("three 503s in {:?}", t.elapsed());
    assert_eq!(
        replica.state.health.database.trips() - trips,
        0,
        "answered at once, no dependency timeout paid"
    );
    // Live games keep going (their state is in Redis) until one needs the database.
    let (a, _) = replica.pairs(&id).await[0].clone();
    assert_eq!(replica.flip(&id, &a, &token).await.status, StatusCode::OK);
    assert_eq!(replica.get("/health/ready").await.status, StatusCode::OK);
    proxy.restore();
    eventually(
        Duration::from_secs(10),
        "recovery without a restart",
        || async { replica.get("/api/leaderboard").await.status == StatusCode::OK },
    )
    .await;
    let stored = replica
        .post(
            "/api/game/complete",
            json!({"gameId": done_id}),
            Some(&done_token),
        )
        .await;
    assert_eq!(
        stored.body["gameResult"]["finalScore"].as_u64(),
        Some(score),
        "the acknowledged game is still there"
    );
}

#[tokio::test]
async fn a_migration_history_this_binary_cannot_accept_stops_start_up_with_the_reason() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("dir");
    let config = base_config(dir.path());
    let DatabaseLocation::Sqlite { path } = &config.database.location else {
        panic!("sqlite")
    };
    let path = path.clone();
    {
        let app = spawn_config(
            Backend::Sqlite,
            config.clone(),
            tempfile::tempdir().expect("dir"),
            None,
        )
        .await;
        drop(app);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Someone edited an applied migration: its checksum no longer matches.
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
        .await
        .expect("open");
    sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 1")
        .execute(&mut c)
        .await
        .expect("tamper");
    drop(c);
    let clock = std::sync::Arc::new(humor_server::clock::ManualClock::new(0));
    let state = humor_server::startup::build(config, clock).expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let run = humor_server::startup::run_until(state, listener, std::future::pending::<()>());
    let out = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("it stops instead of retrying for ever");
    let err = format!("{:#}", out.expect_err("start-up fails"));
    assert!(err.contains("migration"), "{err}");
}
