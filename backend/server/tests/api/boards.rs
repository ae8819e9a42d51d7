//! Leaderboards and statistics come from real completed games.

use crate::helpers::each_backend;
use reqwest::StatusCode;
use serde_json::Value;

fn no_tweak(_: &mut humor_server::Config) {}

fn names(r: &Value) -> Vec<String> {
    r["leaderboard"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|x| x["username"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
async fn the_leaderboard_lists_completed_games_best_first_per_difficulty_and_window() {
    each_backend(no_tweak, |app| async move {
        let before = app.get("/api/leaderboard").await;
        assert_eq!(before.status, StatusCode::OK);
        assert_eq!(before.body["leaderboard"].as_array().map(Vec::len), Some(0));
        app.complete_game("easy_one", "easy").await;
        app.complete_game("expert_one", "expert").await;
        // A later read sees the new games at once (completions invalidate the cache).
        let all = app.get("/api/leaderboard").await;
        assert_eq!(names(&all.body), vec!["expert_one", "easy_one"]);
        assert_eq!(all.body["metadata"]["totalPlayers"], 2);
        assert_eq!(
            all.headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("public, max-age=5")
        );
        let easy = app.get("/api/leaderboard?difficulty=easy").await;
        assert_eq!(names(&easy.body), vec!["easy_one"]);
        let week = app.get("/api/leaderboard?timeframe=week&limit=1").await;
        assert_eq!(names(&week.body), vec!["expert_one"]);
        assert!(week.body["metadata"]["period"]
            .as_str()
            .is_some_and(|p| p.contains("-W")));
        let month = app.get("/api/leaderboard?timeframe=month").await;
        assert_eq!(month.body["metadata"]["totalPlayers"], 2);
        let fresh = app.get("/api/leaderboard/fresh").await;
        assert_eq!(names(&fresh.body), vec!["expert_one", "easy_one"]);
        let row = &all.body["leaderboard"][0];
        assert_eq!(row["rank"], 1);
        assert_eq!(row["bestScore"], 1242);
        assert_eq!(row["gamesCompleted"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_players_rank_comes_with_its_neighbours() {
    each_backend(no_tweak, |app| async move {
        for name in ["r_one", "r_two", "r_three"] {
            app.complete_game(name, "easy").await;
        }
        let r = app
            .get("/api/leaderboard/rank/r_two?difficulty=easy&context=1")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["userRank"]["totalRankedPlayers"], 3);
        let rank = r.body["userRank"]["rank"].as_i64().expect("rank");
        assert!((1..=3).contains(&rank));
        assert!(r.body["context"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["username"] == "r_two")));
        let unknown = app.get("/api/leaderboard/rank/nobody_here").await;
        assert_eq!(
            (unknown.status, unknown.code()),
            (StatusCode::NOT_FOUND, "player_not_found")
        );
    })
    .await;
}

#[tokio::test]
async fn statistics_and_score_lists_are_real() {
    each_backend(no_tweak, |app| async move {
        let (_, _, score) = app.complete_game("stat_a", "easy").await;
        app.start("stat_b", "hard").await;
        let s = app.get("/api/leaderboard/stats").await;
        let o = &s.body["statistics"]["overall"];
        assert_eq!(
            (
                o["totalPlayers"].as_i64(),
                o["totalGames"].as_i64(),
                o["completedGames"].as_i64()
            ),
            (Some(2), Some(2), Some(1))
        );
        assert_eq!(o["activeGames"], 1);
        assert_eq!(o["highestScore"].as_u64(), Some(score));
        let scores = app.get("/api/scores").await;
        assert_eq!(scores.body["recent"][0]["username"], "stat_a");
        assert_eq!(scores.body["top"][0]["score"].as_u64(), Some(score));
        let mine = app.get("/api/scores/stat_a?limit=5").await;
        assert_eq!(mine.status, StatusCode::OK);
        assert_eq!(mine.body["statistics"]["gamesCompleted"], 1);
        assert_eq!(mine.body["statistics"]["perfectGames"], 1);
        assert_eq!(mine.body["statistics"]["globalRank"], 1);
        assert_eq!(mine.body["history"]["total"], 1);
        assert_eq!(mine.body["history"]["items"][0]["status"], "completed");
        assert_eq!(
            mine.headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        let none = app.get("/api/scores/ghost_player").await;
        assert_eq!(
            (none.status, none.code()),
            (StatusCode::NOT_FOUND, "player_not_found")
        );
    })
    .await;
}

#[tokio::test]
async fn the_daily_board_ranks_daily_games_only() {
    each_backend(no_tweak, |app| async move {
        app.complete_game("regular", "easy").await;
        let r = app
            .post(
                "/api/game/start",
                serde_json::json!({"username": "daily_player", "daily": true}),
                None,
            )
            .await;
        let id = r.body["game"]["gameId"].as_str().expect("id").to_string();
        let token = r.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let last = app.play_perfect(&id, &token).await;
        assert_eq!(last.body["result"]["rank"]["timeframe"], "daily");
        let daily = app.get("/api/leaderboard?daily=today").await;
        assert_eq!(names(&daily.body), vec!["daily_player"]);
        assert_eq!(daily.body["metadata"]["timeframe"], "daily");
        let bad = app.get("/api/leaderboard?daily=yesterdayish").await;
        assert_eq!(bad.code(), "validation_failed");
    })
    .await;
}
