//! Players without passwords: a claimed name needs its token, and nobody touches another's game.

use crate::helpers::{base_config, each_backend, spawn_config, Backend};
use humor_server::http::middleware::idempotency_store_key;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn no_tweak(_: &mut humor_server::Config) {}

#[tokio::test]
async fn the_first_game_claims_the_name_and_returns_the_token_once() {
    each_backend(no_tweak, |app| async move {
        let first = app
            .post("/api/game/start", json!({"username": "Claimer"}), None)
            .await;
        assert_eq!(first.body["player"]["isNew"], true);
        let token = first.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        assert!(token.starts_with("pt1."));
        let second = app
            .post(
                "/api/game/start",
                json!({"username": "claimer"}),
                Some(&token),
            )
            .await;
        assert_eq!(
            second.status,
            StatusCode::CREATED,
            "case-insensitive, same player"
        );
        assert_eq!(second.body["player"]["isNew"], false);
        assert!(
            second.body["player"]["token"].is_null(),
            "the token is returned only once"
        );
        assert_eq!(
            second.body["player"]["username"], "Claimer",
            "the first spelling is kept"
        );
    })
    .await;
}

#[tokio::test]
async fn a_claimed_name_needs_its_token() {
    each_backend(no_tweak, |app| async move {
        let (_, alice, _) = app.start("alice", "easy").await;
        let (_, bob, _) = app.start("bob", "easy").await;
        let none = app
            .post("/api/game/start", json!({"username": "ALICE"}), None)
            .await;
        assert_eq!(
            (none.status, none.code()),
            (StatusCode::UNAUTHORIZED, "token_required")
        );
        let other = app
            .post("/api/game/start", json!({"username": "alice"}), Some(&bob))
            .await;
        assert_eq!(
            (other.status, other.code()),
            (StatusCode::FORBIDDEN, "not_owner")
        );
        let forged = app
            .post(
                "/api/game/start",
                json!({"username": "alice"}),
                Some(&format!("{alice}x")),
            )
            .await;
        assert_eq!(
            (forged.status, forged.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let junk = app
            .post(
                "/api/game/start",
                json!({"username": "carol"}),
                Some("nonsense"),
            )
            .await;
        assert_eq!(junk.code(), "invalid_token");
        let ok = app
            .post(
                "/api/game/start",
                json!({"username": "alice"}),
                Some(&alice),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn nobody_reads_plays_pauses_or_completes_another_players_game() {
    each_backend(no_tweak, |app| async move {
        let (id, _alice, _) = app.start("owner", "easy").await;
        let (_, mallory, _) = app.start("mallory", "easy").await;
        let card = app.pairs(&id).await[0].0.clone();
        let attempts = [
            app.call(
                Method::GET,
                &format!("/api/game/{id}"),
                None,
                Some(&mallory),
            )
            .await,
            app.flip(&id, &card, &mallory).await,
            app.post(&format!("/api/game/{id}/pause"), json!({}), Some(&mallory))
                .await,
            app.post(
                &format!("/api/game/{id}/abandon"),
                json!({}),
                Some(&mallory),
            )
            .await,
            app.post("/api/game/complete", json!({"gameId": id}), Some(&mallory))
                .await,
        ];
        for r in attempts {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "not_owner"),
                "{:?}",
                r.body
            );
        }
        let anonymous = app.get(&format!("/api/game/{id}")).await;
        assert_eq!(
            (anonymous.status, anonymous.code()),
            (StatusCode::UNAUTHORIZED, "token_required")
        );
        let anon_flip = app
            .post(
                &format!("/api/game/{id}/flip"),
                json!({"cardId": card}),
                None,
            )
            .await;
        assert_eq!(anon_flip.code(), "token_required");
    })
    .await;
}

#[tokio::test]
async fn a_name_can_be_claimed_without_playing() {
    each_backend(no_tweak, |app| async move {
        let r = app
            .post("/api/scores/user", json!({"username": "early_bird"}), None)
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let token = r.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let taken = app
            .post("/api/scores/user", json!({"username": "Early_Bird"}), None)
            .await;
        assert_eq!(
            (taken.status, taken.code()),
            (StatusCode::CONFLICT, "username_taken")
        );
        let mine = app
            .post(
                "/api/scores/user",
                json!({"username": "early_bird"}),
                Some(&token),
            )
            .await;
        assert_eq!(mine.status, StatusCode::OK);
        let game = app
            .post(
                "/api/game/start",
                json!({"username": "early_bird"}),
                Some(&token),
            )
            .await;
        assert_eq!(game.status, StatusCode::CREATED);
    })
    .await;
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_answered_by_its_retry() {
    each_backend(no_tweak, |app| async move {
        let keys = app.state.tokens.get().expect("keys").clone();
        let now = app.state.clock.now_ms();
        // A replica claimed the name for a request, then died (or could not deal the game) before
        // answering: all the client has left is its retry with the same Idempotency-Key. The test
        // client is anonymous, so the operation is scoped to its address.
        let lost = |path: &str, name: &str, key: &str, at: i64| {
            let op = idempotency_store_key("127.0.0.1", path, key);
            let id = keys.claim_id(&name.to_ascii_lowercase(), &op);
            let (store, name) = (app.state.store.clone(), name.to_string());
            async move {
                let (player, created) = store.claim_player(id, &name, at).await.expect("claim");
                assert!(created);
                player.id
            }
        };
        let start = |name: &str, key: &str| {
            let body = json!({"username": name, "difficulty": "easy"});
            let headers = [("idempotency-key", key.to_string())];
            let app = &app;
            async move {
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                app.call_with(Method::POST, "/api/game/start", Some(body), None, &headers)
                    .await
            }
        };

        let id = lost("/api/game/start", "Lost_Start", "k-lost", now).await;
        let other = start("lost_start", "k-guess").await;
        assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{:?}", other.body);
        let retry = start("Lost_Start", "k-lost").await;
        assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
        assert_eq!(retry.body["player"]["isNew"], true);
        let token = retry.body["player"]["token"].as_str().expect("token");
        assert_eq!(
            keys.verify(token),
            Ok(id),
            "the token of the player the lost request claimed"
        );
        let game = retry.body["game"]["gameId"].as_str().expect("gameId");
        let read = app
            .call(Method::GET, &format!("/api/game/{game}"), None, Some(token))
            .await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
        let again = start("Lost_Start", "k-lost").await;
        assert!(
            again.replayed(),
            "a third try is the stored answer: {:?}",
            again.headers
        );
        assert_eq!(again.body["game"]["gameId"], retry.body["game"]["gameId"]);

        // The same for a claim without a game.
        let id = lost("/api/scores/user", "Lost_Claim", "k-claim", now).await;
        let app_ref = &app;
        let claim = |key: &'static str| async move {
            app_ref
                .call_with(
                    Method::POST,
                    "/api/scores/user",
                    Some(json!({"username": "Lost_Claim"})),
                    None,
                    &[("idempotency-key", key)],
                )
                .await
        };
        assert_eq!(claim("k-other").await.status, StatusCode::CONFLICT);
        let retry = claim("k-claim").await;
        assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
        let token = retry.body["player"]["token"].as_str().expect("token");
        assert_eq!(keys.verify(token), Ok(id));

        // Only while its idempotent answer would still be kept (24 hours).
        lost(
            "/api/game/start",
            "Old_Claim",
            "k-old",
            now - 25 * 3_600_000,
        )
        .await;
        let late = start("Old_Claim", "k-old").await;
        assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{:?}", late.body);
    })
    .await;
}

#[tokio::test]
async fn a_generated_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let config = base_config(dir.path());
    let token = {
        let mut app = spawn_config(
            Backend::Sqlite,
            config.clone(),
            tempfile::tempdir().expect("dir"),
            None,
        )
        .await;
        let (_, token, _) = app.start("keeper", "easy").await;
        app.shutdown().await.expect("clean shutdown");
        token
    };
    let app = spawn_config(
        Backend::Sqlite,
        config,
        tempfile::tempdir().expect("dir"),
        None,
    )
    .await;
    let r = app
        .post(
            "/api/game/start",
            json!({"username": "keeper"}),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}
