//! The randomness of the game path is injected: the same seed deals the same game (ids, faces,
//! card ids), another seed deals another, so a test can fix a deal.

use crate::helpers::base_config;
use humor_game::{Difficulty, Game, Username};
use humor_server::clock::SystemClock;
use humor_server::service::games::StartCommand;
use humor_server::service::{Auth, SeededRandom};
use humor_server::startup;
use std::sync::Arc;

/// Deals one hard game on a fresh replica (its own SQLite database) whose randomness is `seed`.
async fn deal_with_seed(seed: u64) -> Game {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = startup::build_with(
        base_config(dir.path()),
        Arc::new(SystemClock),
        Arc::new(SeededRandom::new(seed)),
    )
    .expect("build app");
    startup::initialize(&state).await.expect("start-up");
    let command = StartCommand {
        username: Username::parse("seeded_dealer").expect("username"),
        difficulty: Some(Difficulty::Hard),
        categories: None,
        daily: false,
    };
    let (game, _, replayed) = state
        .games
        .start_game(command, Auth::Anonymous, None)
        .await
        .expect("start");
    assert!(!replayed);
    state.store.close().await;
    game
}

fn faces(game: &Game) -> Vec<u8> {
    game.cards.iter().map(|c| c.face).collect()
}

#[tokio::test]
async fn the_same_seed_deals_the_same_game_and_another_seed_another() {
    let first = deal_with_seed(7).await;
    let again = deal_with_seed(7).await;
    let other = deal_with_seed(8).await;

    assert_eq!(first.id, again.id);
    assert_eq!(first.player_id, again.player_id);
    assert_eq!(first.cards, again.cards);

    assert_ne!(first.id, other.id);
    // Two seeds agreeing on the order of every face of a hard game by chance is out of the question.
    assert_ne!(faces(&first), faces(&other));
    let ids = |g: &Game| g.cards.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_ne!(ids(&first), ids(&other));
}
