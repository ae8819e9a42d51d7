//! Playing: the server owns the game, and every cheat the original allowed is refused.

use crate::helpers::{each_backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

fn no_tweak(_: &mut humor_server::Config) {}

#[tokio::test]
async fn a_new_game_hides_every_face_and_uses_random_card_ids() {
    each_backend(no_tweak, |app| async move {
        let (_, _, first) = app.start("hider", "easy").await;
        let g = &first.body["game"];
        assert_eq!(g["totalPairs"], 8);
        assert_eq!(
            (g["grid"]["columns"].as_u64(), g["grid"]["rows"].as_u64()),
            (Some(4), Some(4))
        );
        let cards = g["cards"].as_array().expect("cards");
        assert_eq!(cards.len(), 16);
        for c in cards {
            assert_eq!(c["state"], "down");
            assert!(c["face"].is_null(), "a face leaked: {c}");
            assert!(c.get("emoji").is_none() && c.get("pairId").is_none());
        }
        let text = first.body.to_string();
        for face in humor_game::FACES {
            assert!(
                !text.contains(face.emoji) && !text.contains(face.name),
                "{} leaked",
                face.key
            );
        }
        let ids: HashSet<&str> = cards.iter().filter_map(|c| c["id"].as_str()).collect();
        let (_, _, second) = app.start("hider2", "easy").await;
        let other: HashSet<&str> = second.body["game"]["cards"]
            .as_array()
            .expect("cards")
            .iter()
            .filter_map(|c| c["id"].as_str())
            .collect();
        assert_eq!(ids.len(), 16);
        assert!(ids.is_disjoint(&other), "card ids repeat across games");
    })
    .await;
}

#[tokio::test]
async fn a_perfect_fast_game_completes_on_the_last_pair_with_the_honest_maximum() {
    each_backend(no_tweak, |app| async move {
        for (difficulty, max) in [("easy", 314), ("expert", 1242)] {
            let (id, token, _) = app.start(&format!("ace_{difficulty}"), difficulty).await;
            let last = app.play_perfect(&id, &token).await;
            assert_eq!(last.status, StatusCode::OK);
            let result = &last.body["result"];
            assert_eq!(result["finalScore"], max, "{difficulty}: {result}");
            assert_eq!(result["performance"]["level"], "Legendary");
            assert_eq!(result["achievements"].as_array().map(Vec::len), Some(4));
            assert_eq!(result["rank"]["position"], 1);
            assert_eq!(last.body["game"]["status"], "completed");
            // complete is idempotent and returns the stored result.
            for _ in 0..2 {
                let c = app
                    .post("/api/game/complete", json!({"gameId": id}), Some(&token))
                    .await;
                assert_eq!(c.status, StatusCode::OK);
                assert_eq!(c.body["gameResult"]["finalScore"], max);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn flips_reveal_one_card_and_the_second_decides_the_attempt() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("flipper", "easy").await;
        let pairs = app.pairs(&id).await;
        let (a, b) = pairs[0].clone();
        let c = pairs[1].0.clone();
        let first = app.flip(&id, &a, &token).await;
        assert_eq!(first.status, StatusCode::OK);
        assert!(first.body["outcome"].is_null());
        assert!(first.body["card"]["face"]["emoji"].is_string());
        assert_eq!(first.body["game"]["moves"], 0);
        let miss = app.flip(&id, &c, &token).await;
        assert_eq!(miss.body["outcome"]["result"], "miss");
        assert!(miss.body["outcome"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_eq!(miss.body["game"]["misses"], 1);
        for key in ["score", "moves", "pairsFound", "totalPairs", "remainingMs"] {
            assert!(miss.body["game"][key].is_number(), "{key}");
        }
        // The next flip turns the missed pair face down first.
        let next = app.flip(&id, &a, &token).await;
        assert_eq!(next.status, StatusCode::OK, "{:?}", next.body);
        let down: Vec<&str> = next.body["turnedDown"]
            .as_array()
            .expect("turnedDown")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(down.len(), 2);
        assert!(down.contains(&a.as_str()) && down.contains(&c.as_str()));
        let hit = app.flip(&id, &b, &token).await;
        assert_eq!(hit.body["outcome"]["result"], "hit");
        assert_eq!(hit.body["outcome"]["points"], 10);
        assert_eq!(hit.body["game"]["pairsFound"], 1);
        assert_eq!(hit.body["game"]["moves"], 2);
        // Faces appear only for cards that are up or matched.
        let view = app
            .call(Method::GET, &format!("/api/game/{id}"), None, Some(&token))
            .await;
        for card in view.body["game"]["cards"].as_array().expect("cards") {
            assert_eq!(card["face"].is_null(), card["state"] == "down", "{card}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_card_cannot_be_matched_with_itself() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("selfie", "easy").await;
        let (a, _) = app.pairs(&id).await[0].clone();
        assert_eq!(app.flip(&id, &a, &token).await.status, StatusCode::OK);
        let again = app.flip(&id, &a, &token).await;
        assert_eq!(
            (again.status, again.code()),
            (StatusCode::CONFLICT, "card_face_up")
        );
        let (id2, token2, _) = app.start("selfie2", "easy").await;
        let (b, _) = app.pairs(&id2).await[0].clone();
        let m = app
            .post(
                "/api/game/match",
                json!({"gameId": id2, "card1Id": b, "card2Id": b}),
                Some(&token2),
            )
            .await;
        assert_eq!(
            (m.status, m.code()),
            (StatusCode::BAD_REQUEST, "validation_failed")
        );
        let view = app
            .call(
                Method::GET,
                &format!("/api/game/{id2}"),
                None,
                Some(&token2),
            )
            .await;
        assert_eq!(view.body["game"]["moves"], 0);
        assert_eq!(view.body["game"]["score"], 0);
    })
    .await;
}

#[tokio::test]
async fn flipping_a_matched_card_is_rejected() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("rematch", "easy").await;
        let (a, b) = app.pairs(&id).await[0].clone();
        app.flip(&id, &a, &token).await;
        app.flip(&id, &b, &token).await;
        for card in [&a, &b] {
            let r = app.flip(&id, card, &token).await;
            assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "card_matched"));
        }
        let unknown = app.flip(&id, "AAAAAAAAAAAA", &token).await;
        assert_eq!(
            (unknown.status, unknown.code()),
            (StatusCode::NOT_FOUND, "card_not_found")
        );
    })
    .await;
}

#[tokio::test]
async fn completing_before_every_pair_is_found_is_refused() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("hasty", "easy").await;
        // The original accepted this and gave 50 points and "Perfect Memory".
        let r = app
            .post(
                "/api/game/complete",
                json!({"gameId": id, "timeElapsed": 1000, "finalScore": 1000}),
                Some(&token),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "game_not_finished")
        );
        let stats = app.get("/api/scores/hasty").await;
        assert_eq!(stats.body["statistics"]["gamesCompleted"], 0);
    })
    .await;
}

#[tokio::test]
async fn client_supplied_times_and_scores_are_ignored() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("forger", "easy").await;
        let pairs = app.pairs(&id).await;
        // Slow pairs: 11 s between the two cards of each pair earns no pair bonus, whatever the client says.
        let mut last = None;
        for (a, b) in &pairs {
            app.post(
                &format!("/api/game/{id}/flip"),
                json!({"cardId": a, "matchTime": 1}),
                Some(&token),
            )
            .await;
            app.clock.advance_ms(11_000);
            last = Some(
                app.post(
                    &format!("/api/game/{id}/flip"),
                    json!({"cardId": b, "matchTime": 1}),
                    Some(&token),
                )
                .await,
            );
        }
        let last = last.expect("played");
        let result = &last.body["result"];
        assert_eq!(result["scoreBreakdown"]["pairBonus"], 0, "{result}");
        assert_eq!(result["timeElapsedMs"], 88_000);
        let forged = app
            .post(
                "/api/game/complete",
                json!({"gameId": id, "timeElapsed": 1000, "finalScore": 999}),
                Some(&token),
            )
            .await;
        assert_eq!(
            forged.body["gameResult"]["finalScore"],
            result["finalScore"]
        );
        assert_eq!(forged.body["gameResult"]["timeElapsedMs"], 88_000);
    })
    .await;
}

#[tokio::test]
async fn concurrent_flips_never_count_twice() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("racer", "easy").await;
        let (a, b) = app.pairs(&id).await[0].clone();
        app.flip(&id, &a, &token).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, url, token, b) = (
                app.client.clone(),
                app.url(&format!("/api/game/{id}/flip")),
                token.clone(),
                b.clone(),
            );
            tasks.push(tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"cardId": b}))
                    .send()
                    .await
                    .map(|r| r.status())
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.expect("join").expect("request") == StatusCode::OK {
                ok += 1;
            }
        }
        assert_eq!(ok, 1, "exactly one of the concurrent flips may win");
        let view = app
            .call(Method::GET, &format!("/api/game/{id}"), None, Some(&token))
            .await;
        assert_eq!(
            (
                view.body["game"]["moves"].as_u64(),
                view.body["game"]["pairsFound"].as_u64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(view.body["game"]["score"], 15);
    })
    .await;
}

#[tokio::test]
async fn concurrent_completions_store_the_game_once() {
    each_backend(no_tweak, |app| async move {
        let (id, token, score) = app.complete_game("closer", "easy").await;
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (client, url, token, id) = (
                app.client.clone(),
                app.url("/api/game/complete"),
                token.clone(),
                id.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"gameId": id}))
                    .send()
                    .await
                    .expect("send");
                (r.status(), r.json::<Value>().await.expect("json"))
            }));
        }
        for t in tasks {
            let (status, body) = t.await.expect("join");
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["gameResult"]["finalScore"].as_u64(), Some(score));
        }
        let stats = app.get("/api/scores/closer").await;
        assert_eq!(stats.body["statistics"]["gamesCompleted"], 1);
        assert_eq!(stats.body["statistics"]["totalScore"].as_u64(), Some(score));
    })
    .await;
}

#[tokio::test]
async fn playing_past_the_time_limit_expires_the_game_unranked() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("sleepy", "easy").await;
        let (a, b) = app.pairs(&id).await[0].clone();
        app.flip(&id, &a, &token).await;
        app.clock.advance_ms(5 * 60_000);
        let r = app.flip(&id, &b, &token).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "game_expired"));
        let again = app.flip(&id, &b, &token).await;
        assert_eq!(again.code(), "game_expired");
        let view = app
            .call(Method::GET, &format!("/api/game/{id}"), None, Some(&token))
            .await;
        assert_eq!(view.body["game"]["status"], "expired");
        assert_eq!(view.body["game"]["remainingMs"], 0);
        let c = app
            .post("/api/game/complete", json!({"gameId": id}), Some(&token))
            .await;
        assert_eq!(c.code(), "game_expired");
        let stats = app.get("/api/leaderboard/stats").await;
        let easy = stats.body["statistics"]["byDifficulty"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|d| d["difficulty"] == "easy")
            .cloned()
            .expect("easy");
        assert_eq!(easy["gamesPlayed"], 1);
        assert_eq!(stats.body["statistics"]["overall"]["expiredGames"], 1);
        let rank = app.get("/api/leaderboard/rank/sleepy").await;
        assert_eq!(
            (rank.status, rank.code()),
            (StatusCode::NOT_FOUND, "not_ranked")
        );
    })
    .await;
}

#[tokio::test]
async fn the_sweep_expires_games_nobody_touches() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("ghost", "easy").await;
        app.clock.advance_ms(5 * 60_000 + 1);
        app.state.games.sweep_once().await.expect("sweep");
        let record = app
            .state
            .store
            .game(id.parse().expect("uuid"))
            .await
            .expect("store")
            .expect("game");
        assert_eq!(
            record.status,
            humor_store::RecordStatus::Finished(humor_store::FinalStatus::Expired)
        );
        let r = app.flip(&id, "AAAAAAAAAAAA", &token).await;
        assert_eq!(r.code(), "game_expired");
    })
    .await;
}

#[tokio::test]
async fn pausing_hides_faces_stops_the_clock_and_is_limited_to_three() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("pauser", "easy").await;
        let (a, _) = app.pairs(&id).await[0].clone();
        app.flip(&id, &a, &token).await;
        app.clock.advance_ms(1_000);
        let p = app
            .post(&format!("/api/game/{id}/pause"), json!({}), Some(&token))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
        assert_eq!(p.body["game"]["status"], "paused");
        assert!(p.body["game"]["cards"]
            .as_array()
            .expect("cards")
            .iter()
            .all(|c| c["face"].is_null()));
        let f = app.flip(&id, &a, &token).await;
        assert_eq!(f.code(), "game_paused");
        let twice = app
            .post(&format!("/api/game/{id}/pause"), json!({}), Some(&token))
            .await;
        assert_eq!(twice.code(), "game_paused");
        app.clock.advance_ms(120_000);
        let r = app
            .post(&format!("/api/game/{id}/resume"), json!({}), Some(&token))
            .await;
        assert_eq!(
            r.body["game"]["elapsedMs"], 1_000,
            "paused time does not count"
        );
        assert_eq!(r.body["game"]["pausesLeft"], 2);
        let again = app
            .post(&format!("/api/game/{id}/resume"), json!({}), Some(&token))
            .await;
        assert_eq!(again.code(), "game_not_paused");
        for _ in 0..2 {
            app.post(&format!("/api/game/{id}/pause"), json!({}), Some(&token))
                .await;
            app.post(&format!("/api/game/{id}/resume"), json!({}), Some(&token))
                .await;
        }
        let fourth = app
            .post(&format!("/api/game/{id}/pause"), json!({}), Some(&token))
            .await;
        assert_eq!(
            (fourth.status, fourth.code()),
            (StatusCode::CONFLICT, "pause_limit_reached")
        );
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_game_is_finished_and_never_ranked() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("quitter", "medium").await;
        let q = app
            .post(&format!("/api/game/{id}/abandon"), json!({}), Some(&token))
            .await;
        assert_eq!(q.body["game"]["status"], "abandoned");
        let (a, _) = app.pairs(&id).await[0].clone();
        assert_eq!(app.flip(&id, &a, &token).await.code(), "game_abandoned");
        let stats = app.get("/api/leaderboard/stats").await;
        assert_eq!(stats.body["statistics"]["overall"]["abandonedGames"], 1);
    })
    .await;
}

#[tokio::test]
async fn the_match_compatibility_call_equals_two_flips() {
    each_backend(no_tweak, |app| async move {
        let (id, token, _) = app.start("matcher", "easy").await;
        let pairs = app.pairs(&id).await;
        let miss = app
            .post(
                "/api/game/match",
                json!({"gameId": id, "card1Id": pairs[0].0, "card2Id": pairs[1].0}),
                Some(&token),
            )
            .await;
        assert_eq!(miss.status, StatusCode::OK, "{:?}", miss.body);
        assert_eq!(
            (
                miss.body["isMatch"].as_bool(),
                miss.body["pointsEarned"].as_u64()
            ),
            (Some(false), Some(0))
        );
        assert!(miss.body["match"].is_null());
        let mut last = None;
        for (a, b) in &pairs {
            last = Some(
                app.post(
                    "/api/game/match",
                    json!({"gameId": id, "card1Id": a, "card2Id": b, "matchTime": 5}),
                    Some(&token),
                )
                .await,
            );
        }
        let last = last.expect("played");
        assert_eq!(last.body["isMatch"], true);
        assert_eq!(last.body["game"]["isComplete"], true);
        assert_eq!(last.body["game"]["matchesFound"], 8);
        assert_eq!(
            last.body["match"]["card1"]["emoji"],
            last.body["match"]["card2"]["emoji"]
        );
        assert!(last.body["result"]["finalScore"].as_u64().is_some());
        // One flip of an attempt already up: the compatibility call refuses.
        let (id2, token2, _) = app.start("matcher2", "easy").await;
        let p2 = app.pairs(&id2).await;
        app.flip(&id2, &p2[0].0, &token2).await;
        let r = app
            .post(
                "/api/game/match",
                json!({"gameId": id2, "card1Id": p2[1].0, "card2Id": p2[1].1}),
                Some(&token2),
            )
            .await;
        assert_eq!(r.code(), "attempt_in_progress");
    })
    .await;
}

#[tokio::test]
async fn an_empty_or_null_category_filter_means_any_and_a_filter_is_honoured() {
    each_backend(no_tweak, |app| async move {
        for (i, cats) in [Value::Null, json!([])].into_iter().enumerate() {
            let r = app
                .post(
                    "/api/game/start",
                    json!({"username": format!("anycat{i}"), "categories": cats}),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        }
        let cats = ["classic", "silly", "space", "food", "luxury", "fantasy"];
        let r = app
            .post(
                "/api/game/start",
                json!({"username": "picky", "categories": cats}),
                None,
            )
            .await;
        let id = r.body["game"]["gameId"].as_str().expect("id").to_string();
        let v = app
            .state
            .live
            .load_game(id.parse().expect("uuid"))
            .await
            .expect("live")
            .expect("game");
        for c in &v.game.cards {
            assert!(cats.contains(&c.face().category), "{}", c.face().category);
        }
    })
    .await;
}

#[tokio::test]
async fn the_daily_challenge_deals_one_layout_to_everyone_once_each() {
    each_backend(no_tweak, |app| async move {
        let d = app.get("/api/game/daily-challenge").await;
        assert_eq!(d.status, StatusCode::OK);
        let date = d.body["challenge"]["date"].as_str().expect("date").to_string();
        let mut layouts = Vec::new();
        let mut ids = Vec::new();
        for name in ["daily_a", "daily_b"] {
            let r = app.post("/api/game/start", json!({"username": name, "daily": true}), None).await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            assert_eq!(r.body["game"]["daily"], date.as_str());
            assert_eq!(r.body["game"]["difficulty"], d.body["challenge"]["difficulty"]);
            let id = r.body["game"]["gameId"].as_str().expect("id").to_string();
            let v = app.state.live.load_game(id.parse().expect("uuid")).await.expect("live").expect("game");
            layouts.push(v.game.cards.iter().map(|c| c.face).collect::<Vec<_>>());
            ids.push(v.game.cards.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
            let token = r.body["player"]["token"].as_str().expect("token").to_string();
            let again = app.post("/api/game/start", json!({"username": name, "daily": true}), Some(&token)).await;
            assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "daily_already_played"));
            let info = app.call(Method::GET, "/api/game/daily-challenge", None, Some(&token)).await;
            assert_eq!(info.body["challenge"]["played"], true);
        }
        assert_eq!(layouts[0], layouts[1], "same faces at the same positions");
        assert_ne!(ids[0], ids[1], "card ids are still random per game");
        let wrong = app.post("/api/game/start", json!({"username": "daily_c", "daily": true, "difficulty": if d.body["challenge"]["difficulty"] == "easy" { "hard" } else { "easy" }}), None).await;
        assert_eq!(wrong.code(), "validation_failed");
    })
    .await;
}

#[tokio::test]
async fn game_ids_that_are_not_uuids_are_clear_400s() {
    each_backend(no_tweak, |app: TestApp| async move {
        let (_, token, _) = app.start("uuidless", "easy").await;
        let r = app
            .call(Method::GET, "/api/game/not-a-uuid", None, Some(&token))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "validation_failed")
        );
        assert_eq!(r.body["details"][0]["field"], "gameId");
        let missing = app
            .call(
                Method::GET,
                &format!("/api/game/{}", uuid::Uuid::new_v4()),
                None,
                Some(&token),
            )
            .await;
        assert_eq!(
            (missing.status, missing.code()),
            (StatusCode::NOT_FOUND, "game_not_found")
        );
    })
    .await;
}
