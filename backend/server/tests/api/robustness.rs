//! Bad input gets a clear JSON error and changes nothing; retries are safe; abusers are slowed.

use crate::helpers::{each_backend, spawn_app, spawn_with, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn no_tweak(_: &mut humor_server::Config) {}

async fn raw_post(
    app: &crate::helpers::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let r = app
        .client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn validation_errors_list_every_invalid_field() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/api/game/start",
            json!({"username": "a", "difficulty": "insane", "categories": ["food", "nope", 7]}),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "validation_failed")
    );
    let fields: Vec<&str> = r.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["username", "difficulty", "categories[2]", "categories[1]"]
    );
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(r.body["requestId"].is_string());
    let missing = app.post("/api/game/start", json!({}), None).await;
    assert_eq!(missing.body["details"][0]["message"], "is required");
    let wrong_type = app
        .post(
            "/api/game/start",
            json!({"username": 42, "daily": "yes"}),
            None,
        )
        .await;
    let fields: Vec<&str> = wrong_type.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["username", "daily"]);
    let players = app.get("/api/leaderboard/stats").await;
    assert_eq!(
        players.body["statistics"]["overall"]["totalPlayers"], 0,
        "nothing was created"
    );
}

#[tokio::test]
async fn malformed_bodies_get_clear_4xx_errors() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "application/json",
            b"{\"username\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "application/json",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "application/json",
            format!("{{\"username\":{}}}", "[".repeat(500) + &"]".repeat(500)).into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "application/json",
            b"{\"username\":\"bob\",\"difficulty\":1e400}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "application/json",
            b"[\"not an object\"]".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "application/json",
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "text/plain",
            b"{\"username\":\"bob\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "application/json",
            format!("{{\"username\":\"{}\"}}", "x".repeat(20_000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (ct, body, status, code) in cases {
        let (s, b) = raw_post(&app, "/api/game/start", ct, body).await;
        assert_eq!(
            (s, b["error"].as_str().unwrap_or("")),
            (status, code),
            "{b}"
        );
        assert_eq!(b["success"], false);
    }
    let huge_number = app
        .post(
            "/api/game/start",
            json!({"username": "bignum", "difficulty": 123456789012345678u64}),
            None,
        )
        .await;
    assert_eq!(huge_number.code(), "validation_failed");
}

#[tokio::test]
async fn sql_and_html_in_usernames_are_rejected_and_change_nothing() {
    each_backend(no_tweak, |app| async move {
        for name in [
            "robert'); DROP TABLE players;--",
            "<script>alert(1)</script>",
            "<b>bob</b>02",
            "' OR 1=1 --",
            "émile",
            "a b c",
        ] {
            let r = app
                .post("/api/game/start", json!({"username": name}), None)
                .await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::BAD_REQUEST, "validation_failed"),
                "{name}"
            );
            assert!(
                !r.body.to_string().contains("<script>"),
                "input is not echoed"
            );
        }
        let lookup = app
            .get("/api/scores/robert%27%29%3B%20DROP%20TABLE%20players%3B--")
            .await;
        assert_eq!(lookup.status, StatusCode::BAD_REQUEST);
        let stats = app.get("/api/leaderboard/stats").await;
        assert_eq!(stats.body["statistics"]["overall"]["totalPlayers"], 0);
        app.start("still_works", "easy").await;
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_methods_and_parameters_get_json_errors() {
    let app = spawn_app().await;
    let nf = app.get("/api/nonexistent").await;
    assert_eq!((nf.status, nf.code()), (StatusCode::NOT_FOUND, "not_found"));
    let m = app
        .call(Method::DELETE, "/api/leaderboard", None, None)
        .await;
    assert_eq!(
        (m.status, m.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    for q in [
        "limit=abc",
        "limit=0",
        "limit=101",
        "timeframe=year",
        "difficulty=insane",
    ] {
        let r = app.get(&format!("/api/leaderboard?{q}")).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "validation_failed"),
            "{q}"
        );
    }
    for path in [
        "/debug/headers",
        "/debug/sync-metrics",
        "/api/leaderboard/refresh",
    ] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_ne!(r.status, StatusCode::OK, "{path} must not exist");
    }
}

#[tokio::test]
async fn a_retried_request_with_its_idempotency_key_returns_the_original_response() {
    each_backend(no_tweak, |app| async move {
        let key = [("idempotency-key", "start-123")];
        let body = json!({"username": "retrier"});
        let first = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(body.clone()),
                None,
                &key,
            )
            .await;
        let again = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(body.clone()),
                None,
                &key,
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body["game"]["gameId"], first.body["game"]["gameId"]);
        assert!(again.replayed(), "{:?}", again.headers);
        let stats = app.get("/api/leaderboard/stats").await;
        assert_eq!(
            stats.body["statistics"]["overall"]["totalGames"], 1,
            "the retry dealt nothing"
        );
        let other = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(json!({"username": "someone_else"})),
                None,
                &key,
            )
            .await;
        assert_eq!(
            (other.status, other.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
        );
        // A flip retried with its key does not count twice.
        let id = first.body["game"]["gameId"]
            .as_str()
            .expect("id")
            .to_string();
        let token = first.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let (a, b) = app.pairs(&id).await[0].clone();
        app.flip(&id, &a, &token).await;
        let k2 = [("idempotency-key", "flip-b")];
        let hit = app
            .call_with(
                Method::POST,
                &format!("/api/game/{id}/flip"),
                Some(json!({"cardId": b})),
                Some(&token),
                &k2,
            )
            .await;
        let retry = app
            .call_with(
                Method::POST,
                &format!("/api/game/{id}/flip"),
                Some(json!({"cardId": b})),
                Some(&token),
                &k2,
            )
            .await;
        assert_eq!(hit.body, retry.body);
        assert_eq!(retry.body["game"]["moves"], 1);
        let bad = app
            .call_with(
                Method::POST,
                "/api/game/start",
                Some(body),
                None,
                &[("idempotency-key", "")],
            )
            .await;
        assert_eq!(bad.code(), "validation_failed");
    })
    .await;
}

/// Deletes `client`'s rate-limit counters from Redis, behind the server's back.
async fn forget_counters(app: &crate::helpers::TestApp, client: &str) {
    let url = app.state.config.redis.url.as_ref().expect("redis").expose();
    let mut conn = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let pattern = format!("{}rl:{client}:*", app.state.config.redis.key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(!keys.is_empty(), "the client's counter is in Redis");
    let _: i64 = redis::cmd("DEL")
        .arg(keys)
        .query_async(&mut conn)
        .await
        .expect("DEL");
}

#[tokio::test]
async fn a_move_counts_against_the_limit_once_whether_it_is_stored_refused_or_invalid() {
    each_backend(
        |c| {
            c.limits.rate_limit_max = 4;
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        },
        |app| async move {
            let (id, token, _) = app.start("counted", "easy").await;
            let pairs = app.pairs(&id).await;
            const HAMMER: &[(&str, &str)] = &[("x-forwarded-for", "198.51.100.7")];
            let flip_path = format!("/api/game/{id}/flip");
            let flip = |card: &str, from: &'static [(&'static str, &'static str)]| {
                app.call_with(
                    Method::POST,
                    &flip_path,
                    Some(json!({"cardId": card})),
                    Some(&token),
                    from,
                )
            };
            let remaining = |r: &crate::helpers::Reply| {
                r.headers
                    .get("ratelimit-remaining")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let (a, b) = (&pairs[0], &pairs[1]);
            let stored = flip(&a.0, HAMMER).await;
            assert_eq!(
                (stored.status, remaining(&stored)),
                (StatusCode::OK, Some(3))
            );
            let invalid = app
                .call_with(
                    Method::POST,
                    &flip_path,
                    Some(json!({"cardId": ""})),
                    Some(&token),
                    HAMMER,
                )
                .await;
            assert_eq!(
                (invalid.status, remaining(&invalid)),
                (StatusCode::BAD_REQUEST, Some(2))
            );
            let both = json!({"gameId": id, "card1Id": b.0, "card2Id": b.1});
            let refused = app
                .call_with(
                    Method::POST,
                    "/api/game/match",
                    Some(both),
                    Some(&token),
                    HAMMER,
                )
                .await;
            assert_eq!(
                (refused.status, refused.code(), remaining(&refused)),
                (StatusCode::CONFLICT, "attempt_in_progress", Some(1))
            );
            let last = flip(&a.1, HAMMER).await;
            assert_eq!((last.status, remaining(&last)), (StatusCode::OK, Some(0)));

            let game_id = uuid::Uuid::parse_str(&id).expect("uuid");
            let before = app
                .state
                .live
                .load_game(game_id)
                .await
                .expect("live")
                .expect("game");
            let limited = flip(&b.0, HAMMER).await;
            assert_eq!(
                (limited.status, limited.code(), remaining(&limited)),
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(0))
            );
            assert!(limited.headers.get("retry-after").is_some());
            let after = app
                .state
                .live
                .load_game(game_id)
                .await
                .expect("live")
                .expect("game");
            assert_eq!(
                (after.version, &after.game),
                (before.version, &before.game),
                "a refused move changed the game"
            );

            if app.backend == Backend::Postgres {
                // The replica remembers the refusal for the rest of the window: even with the shared
                // counter gone, the client is refused without asking Redis.
                forget_counters(&app, "198.51.100.7").await;
                let still = flip(&b.0, HAMMER).await;
                assert_eq!(still.status, StatusCode::TOO_MANY_REQUESTS);
            }

            const CALM: &[(&str, &str)] = &[("x-forwarded-for", "198.51.100.8")];
            let other = flip(&b.0, CALM).await;
            assert_eq!((other.status, remaining(&other)), (StatusCode::OK, Some(3)));
            app.clock.advance_ms(60_000);
            let next_window = flip(&b.1, HAMMER).await;
            assert_eq!(
                (next_window.status, remaining(&next_window)),
                (StatusCode::OK, Some(3))
            );
            assert_eq!(
                next_window.body["outcome"]["result"], "hit",
                "{:?}",
                next_window.body
            );
        },
    )
    .await;
}

#[tokio::test]
async fn a_client_over_the_limit_gets_429_while_others_and_health_are_unaffected() {
    each_backend(
        |c| {
            c.limits.rate_limit_max = 5;
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        },
        |app| async move {
            let hammer = [("x-forwarded-for", "198.51.100.7")];
            let calm = [("x-forwarded-for", "198.51.100.8")];
            for i in 0..5 {
                let r = app
                    .call_with(Method::GET, "/api/leaderboard", None, None, &hammer)
                    .await;
                assert_eq!(r.status, StatusCode::OK, "request {i}");
                assert_eq!(
                    r.headers
                        .get("ratelimit-remaining")
                        .and_then(|v| v.to_str().ok()),
                    Some((4 - i).to_string().as_str())
                );
            }
            let limited = app
                .call_with(Method::GET, "/api/leaderboard", None, None, &hammer)
                .await;
            assert_eq!(
                (limited.status, limited.code()),
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            );
            let retry: u64 = limited
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
            assert!((1..=60).contains(&retry));
            assert_eq!(limited.body["retryAfterSeconds"].as_u64(), Some(retry));
            let other = app
                .call_with(Method::GET, "/api/leaderboard", None, None, &calm)
                .await;
            assert_eq!(other.status, StatusCode::OK, "another client is unaffected");
            for path in [
                "/api/health",
                "/health",
                "/health/live",
                "/health/ready",
                "/metrics",
            ] {
                let r = app.call_with(Method::GET, path, None, None, &hammer).await;
                assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path} is exempt");
            }
            app.clock.advance_ms(60_000);
            let later = app
                .call_with(Method::GET, "/api/leaderboard", None, None, &hammer)
                .await;
            assert_eq!(later.status, StatusCode::OK, "the next window starts fresh");
        },
    )
    .await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_with(Backend::Sqlite, &|c| c.limits.rate_limit_max = 2).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let r = app
            .call_with(
                Method::GET,
                "/api/scores",
                None,
                None,
                &[("x-forwarded-for", ip)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = app
        .call_with(
            Method::GET,
            "/api/scores",
            None,
            None,
            &[("x-forwarded-for", "203.0.113.3")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed header does not buy a new bucket"
    );
}

async fn raw_exchange(
    app: &crate::helpers::TestApp,
    request: &[u8],
    wait: std::time::Duration,
) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = std::time::Instant::now();
    let mut s = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    s.write_all(request).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(wait, s.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap_or(0);
    (String::from_utf8_lossy(&buf[..n]).to_string(), t.elapsed())
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let app = spawn_app().await;
    for length in ["10000000000", "20000"] {
        let head = format!("POST /api/game/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{}}");
        let (text, took) =
            raw_exchange(&app, head.as_bytes(), std::time::Duration::from_secs(2)).await;
        assert!(text.starts_with("HTTP/1.1 413"), "{length}: {text}");
        assert!(
            text.contains("payload_too_large")
                && text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    }
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_not_a_hang() {
    let app = spawn_app().await;
    let head = b"POST /api/game/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":";
    let (text, took) = raw_exchange(&app, head, std::time::Duration::from_secs(8)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(took < std::time::Duration::from_secs(7), "{took:?}");
}
