//! One game: the deck on the table, the attempt in progress, the clock and the tally.

use crate::cards::{Face, FACES};
use crate::deck::{self, Layout};
use crate::difficulty::{Difficulty, Rules};
use crate::messages;
use crate::scoring::{self, ScoreBreakdown, Tally};
use crate::Millis;
use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const MAX_PAUSES: u8 = 3;
/// A pause stops the clock for at most this long; after that the clock runs again.
pub const MAX_PAUSE_MS: i64 = 10 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GameStatus {
    Active,
    Paused,
    Completed,
    Expired,
    Abandoned,
}

impl GameStatus {
    pub fn is_live(self) -> bool {
        matches!(self, GameStatus::Active | GameStatus::Paused)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            GameStatus::Active => "active",
            GameStatus::Paused => "paused",
            GameStatus::Completed => "completed",
            GameStatus::Expired => "expired",
            GameStatus::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardState {
    Down,
    Up,
    Matched,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub id: String,
    /// Index into [`FACES`]; never sent to a client unless the card is face up or matched.
    pub face: u8,
    pub state: CardState,
}

impl Card {
    pub fn face(&self) -> &'static Face {
        &FACES[self.face as usize]
    }
}

/// The attempt in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Attempt {
    /// No card of an attempt is face up.
    None,
    /// One card is face up, flipped at `at`.
    One { card: usize, at: Millis },
    /// The last attempt missed; both cards stay visible until the next flip turns them down.
    Missed { first: usize, second: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GameError {
    #[error("the time limit has passed")]
    Expired,
    #[error("the game is already finished")]
    Completed,
    #[error("the game was abandoned")]
    Abandoned,
    #[error("the game is paused")]
    Paused,
    #[error("the game is not paused")]
    NotPaused,
    #[error("no pauses left")]
    PauseLimitReached,
    #[error("no such card in this game")]
    CardNotFound,
    #[error("the card is already face up")]
    CardFaceUp,
    #[error("the card is already matched")]
    CardMatched,
    #[error("one card of an attempt is already face up")]
    AttemptInProgress,
    #[error("not every pair has been found")]
    NotFinished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Hit,
    Miss,
}

/// The result of the second flip of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub cards: [usize; 2],
    /// Points for the pair (0 on a miss).
    pub points: u32,
    /// The pair speed bonus (0 on a miss or a slow pair).
    pub pair_bonus: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlipOutcome {
    pub card: usize,
    /// Cards turned face down before this flip (the previous miss).
    pub turned_down: Vec<usize>,
    pub outcome: Option<Outcome>,
    /// True when this flip found the last pair.
    pub completed: bool,
}

/// The last operation that changed a game, named by the caller (an idempotency key), with the
/// flips it made: a retry of that same operation is answered from here instead of being applied
/// again (even when the first attempt's answer was lost with the process that computed it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedOp {
    pub id: String,
    pub flips: Vec<FlipOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    /// The UTC date (`YYYY-MM-DD`) of the daily challenge this game plays, if any.
    pub daily: Option<String>,
    pub cards: Vec<Card>,
    pub started_at: Millis,
    pub status: GameStatus,
    pub attempt: Attempt,
    pub tally: Tally,
    pub pauses_used: u8,
    pub paused_at: Option<Millis>,
    /// Paused time already accounted for (each pause capped at [`MAX_PAUSE_MS`]).
    pub paused_ms: i64,
    pub finished_at: Option<Millis>,
    /// Absent in games stored by earlier releases.
    #[serde(default)]
    pub last_op: Option<AppliedOp>,
}

/// Everything needed to deal a new game.
pub struct NewGame {
    pub id: Uuid,
    pub player_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub layout: Layout,
    pub now: Millis,
}

impl Game {
    /// Deals a game from a layout, with fresh random card ids.
    pub fn new<R: Rng + ?Sized>(new: NewGame, rng: &mut R) -> Game {
        let ids = deck::card_ids(new.layout.len(), rng);
        let cards = new
            .layout
            .iter()
            .zip(ids)
            .map(|(&face, id)| Card {
                id,
                face,
                state: CardState::Down,
            })
            .collect();
        Game {
            id: new.id,
            player_id: new.player_id,
            username: new.username,
            difficulty: new.difficulty,
            daily: new.daily,
            cards,
            started_at: new.now,
            status: GameStatus::Active,
            attempt: Attempt::None,
            tally: Tally::default(),
            pauses_used: 0,
            paused_at: None,
            paused_ms: 0,
            finished_at: None,
            last_op: None,
        }
    }

    pub fn rules(&self) -> Rules {
        self.difficulty.rules()
    }

    /// Playing time so far (pauses excluded), never more than the time limit.
    pub fn elapsed_ms(&self, now: Millis) -> i64 {
        let end = self.finished_at.unwrap_or(now);
        let pausing = self
            .paused_at
            .map(|p| (end - p).clamp(0, MAX_PAUSE_MS))
            .unwrap_or(0);
        (end - self.started_at - self.paused_ms - pausing).clamp(0, self.rules().time_limit_ms)
    }

    pub fn remaining_ms(&self, now: Millis) -> i64 {
        if !self.status.is_live() && self.status != GameStatus::Completed {
            return 0;
        }
        self.rules().time_limit_ms - self.elapsed_ms(now)
    }

    /// The moment the game expires if nothing changes (used to schedule the expiry sweep).
    pub fn deadline(&self) -> Millis {
        let limit = self.rules().time_limit_ms;
        match self.paused_at {
            Some(p) => {
                let played = p - self.started_at - self.paused_ms;
                p + MAX_PAUSE_MS + (limit - played).max(0)
            }
            None => self.started_at + self.paused_ms + limit,
        }
    }

    /// Brings the game up to `now`: ends a pause that ran out and expires a game past its deadline.
    /// Returns true when the game expired just now.
    pub fn tick(&mut self, now: Millis) -> bool {
        if !self.status.is_live() {
            return false;
        }
        if let Some(p) = self.paused_at {
            if now - p >= MAX_PAUSE_MS {
                self.paused_ms += MAX_PAUSE_MS;
                self.paused_at = None;
                self.status = GameStatus::Active;
            }
        }
        if self.elapsed_ms(now) >= self.rules().time_limit_ms {
            let deadline = self.deadline();
            self.status = GameStatus::Expired;
            self.finished_at = Some(deadline.min(now));
            self.hide_unmatched();
            self.attempt = Attempt::None;
            return true;
        }
        false
    }

    fn ensure_playable(&self) -> Result<(), GameError> {
        match self.status {
            GameStatus::Active => Ok(()),
            GameStatus::Paused => Err(GameError::Paused),
            GameStatus::Completed => Err(GameError::Completed),
            GameStatus::Expired => Err(GameError::Expired),
            GameStatus::Abandoned => Err(GameError::Abandoned),
        }
    }

    pub fn card_index(&self, card_id: &str) -> Option<usize> {
        self.cards.iter().position(|c| c.id == card_id)
    }

    /// Turns one card over. Call [`Game::tick`] first. On error nothing has changed.
    pub fn flip<R: Rng + ?Sized>(
        &mut self,
        card_id: &str,
        now: Millis,
        rng: &mut R,
    ) -> Result<FlipOutcome, GameError> {
        self.ensure_playable()?;
        let idx = self.card_index(card_id).ok_or(GameError::CardNotFound)?;
        let pending_miss = match self.attempt {
            Attempt::Missed { first, second } => Some((first, second)),
            _ => None,
        };
        let about_to_turn_down = pending_miss.is_some_and(|(a, b)| a == idx || b == idx);
        match self.cards[idx].state {
            CardState::Matched => return Err(GameError::CardMatched),
            CardState::Up if !about_to_turn_down => return Err(GameError::CardFaceUp),
            _ => {}
        }

        let mut turned_down = Vec::new();
        if let Some((a, b)) = pending_miss {
            self.cards[a].state = CardState::Down;
            self.cards[b].state = CardState::Down;
            self.attempt = Attempt::None;
            turned_down = vec![a, b];
        }

        self.cards[idx].state = CardState::Up;
        let outcome = match self.attempt {
            Attempt::One { card: first, at } => Some(self.decide(first, idx, now - at, rng)),
            _ => {
                self.attempt = Attempt::One { card: idx, at: now };
                None
            }
        };
        let completed = self.tally.pairs_found as usize == self.rules().pairs;
        if completed {
            self.status = GameStatus::Completed;
            self.finished_at = Some(now);
        }
        Ok(FlipOutcome {
            card: idx,
            turned_down,
            outcome,
            completed,
        })
    }

    fn decide<R: Rng + ?Sized>(
        &mut self,
        first: usize,
        second: usize,
        since_first_ms: i64,
        rng: &mut R,
    ) -> Outcome {
        let rules = self.rules();
        if self.cards[first].face == self.cards[second].face {
            self.cards[first].state = CardState::Matched;
            self.cards[second].state = CardState::Matched;
            self.attempt = Attempt::None;
            let pair_bonus = if since_first_ms <= rules.pair_speed_window_ms {
                rules.pair_speed_bonus
            } else {
                0
            };
            self.tally.record_hit(pair_bonus);
            Outcome {
                kind: OutcomeKind::Hit,
                cards: [first, second],
                points: rules.points_per_pair,
                pair_bonus,
                message: messages::hit(rng).to_string(),
            }
        } else {
            self.attempt = Attempt::Missed { first, second };
            self.tally.record_miss();
            Outcome {
                kind: OutcomeKind::Miss,
                cards: [first, second],
                points: 0,
                pair_bonus: 0,
                message: messages::miss(rng).to_string(),
            }
        }
    }

    /// Whether one card of an attempt is face up (the compatibility `match` call refuses then).
    pub fn attempt_in_progress(&self) -> bool {
        matches!(self.attempt, Attempt::One { .. })
    }

    fn hide_unmatched(&mut self) {
        for c in &mut self.cards {
            if c.state == CardState::Up {
                c.state = CardState::Down;
            }
        }
    }

    /// Stops the clock and hides every face-up, unmatched card. Call [`Game::tick`] first.
    pub fn pause(&mut self, now: Millis) -> Result<(), GameError> {
        self.ensure_playable()?;
        if self.pauses_used >= MAX_PAUSES {
            return Err(GameError::PauseLimitReached);
        }
        self.hide_unmatched();
        self.attempt = Attempt::None;
        self.pauses_used += 1;
        self.paused_at = Some(now);
        self.status = GameStatus::Paused;
        Ok(())
    }

    /// Starts the clock again. Call [`Game::tick`] first.
    pub fn resume(&mut self, now: Millis) -> Result<(), GameError> {
        match self.status {
            GameStatus::Paused => {}
            GameStatus::Active => return Err(GameError::NotPaused),
            _ => return self.ensure_playable(),
        }
        if let Some(p) = self.paused_at.take() {
            self.paused_ms += (now - p).clamp(0, MAX_PAUSE_MS);
        }
        self.status = GameStatus::Active;
        Ok(())
    }

    /// The player quits. Call [`Game::tick`] first.
    pub fn abandon(&mut self, now: Millis) -> Result<(), GameError> {
        match self.status {
            GameStatus::Active | GameStatus::Paused => {
                if let Some(p) = self.paused_at.take() {
                    self.paused_ms += (now - p).clamp(0, MAX_PAUSE_MS);
                }
                self.status = GameStatus::Abandoned;
                self.finished_at = Some(now);
                self.hide_unmatched();
                self.attempt = Attempt::None;
                Ok(())
            }
            _ => self.ensure_playable(),
        }
    }

    /// The stored result of operation `id`, if it was the last one applied.
    pub fn applied(&self, id: &str) -> Option<&AppliedOp> {
        self.last_op.as_ref().filter(|op| op.id == id)
    }

    pub fn pauses_left(&self) -> u8 {
        MAX_PAUSES - self.pauses_used
    }

    /// The score so far; the final score once completed.
    pub fn score(&self, now: Millis) -> ScoreBreakdown {
        let finished = (self.status == GameStatus::Completed).then(|| self.elapsed_ms(now));
        scoring::breakdown(&self.rules(), &self.tally, finished)
    }

    pub fn final_score(&self) -> Result<ScoreBreakdown, GameError> {
        match self.status {
            GameStatus::Completed => Ok(self.score(self.finished_at.unwrap_or(self.started_at))),
            GameStatus::Expired => Err(GameError::Expired),
            GameStatus::Abandoned => Err(GameError::Abandoned),
            _ => Err(GameError::NotFinished),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::max_score;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const T0: Millis = 1_700_000_000_000;

    fn new_game(difficulty: Difficulty, seed: u64) -> (Game, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layout = deck::deal(difficulty, &[], &mut rng);
        let game = Game::new(
            NewGame {
                id: Uuid::nil(),
                player_id: Uuid::nil(),
                username: "alice".into(),
                difficulty,
                daily: None,
                layout,
                now: T0,
            },
            &mut rng,
        );
        (game, rng)
    }

    /// Positions of the two cards of each face.
    fn pairs(game: &Game) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, c) in game.cards.iter().enumerate() {
            if let Some(j) = game.cards.iter().skip(i + 1).position(|d| d.face == c.face) {
                out.push((i, i + 1 + j));
            }
        }
        out
    }

    fn id(game: &Game, i: usize) -> String {
        game.cards[i].id.clone()
    }

    fn play_perfect(game: &mut Game, rng: &mut ChaCha8Rng, step_ms: i64) -> Millis {
        let mut now = T0;
        for (a, b) in pairs(game) {
            now += step_ms;
            let (ia, ib) = (id(game, a), id(game, b));
            game.flip(&ia, now, rng).expect("first flip");
            now += step_ms;
            game.flip(&ib, now, rng).expect("second flip");
        }
        now
    }

    #[test]
    fn a_perfect_fast_game_reaches_the_honest_maximum() {
        for d in Difficulty::ALL {
            let (mut g, mut rng) = new_game(d, 1);
            play_perfect(&mut g, &mut rng, 100);
            assert_eq!(g.status, GameStatus::Completed);
            assert_eq!(g.final_score().map(|s| s.total()), Ok(max_score(d)), "{d}");
        }
    }

    #[test]
    fn a_card_cannot_be_matched_with_itself() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 2);
        let c = id(&g, 0);
        g.flip(&c, T0 + 1, &mut rng).expect("flip");
        assert_eq!(g.flip(&c, T0 + 2, &mut rng), Err(GameError::CardFaceUp));
        assert_eq!(g.tally.moves(), 0);
    }

    #[test]
    fn a_matched_card_cannot_be_flipped_again() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 3);
        let (a, b) = pairs(&g)[0];
        let (ia, ib) = (id(&g, a), id(&g, b));
        g.flip(&ia, T0 + 1, &mut rng).expect("flip");
        g.flip(&ib, T0 + 2, &mut rng).expect("flip");
        assert_eq!(g.flip(&ia, T0 + 3, &mut rng), Err(GameError::CardMatched));
    }

    #[test]
    fn the_flip_after_a_miss_turns_the_pair_down_first() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 4);
        let p = pairs(&g);
        let (a, c) = (p[0].0, p[1].0);
        let (ia, ic) = (id(&g, a), id(&g, c));
        g.flip(&ia, T0 + 1, &mut rng).expect("flip");
        let out = g.flip(&ic, T0 + 2, &mut rng).expect("flip");
        assert_eq!(out.outcome.map(|o| o.kind), Some(OutcomeKind::Miss));
        assert_eq!(g.cards[a].state, CardState::Up);
        // Flipping one of the missed cards again is allowed: it is turned down first.
        let out = g.flip(&ia, T0 + 3, &mut rng).expect("flip");
        assert_eq!(out.turned_down, vec![a, c]);
        assert_eq!(g.cards[c].state, CardState::Down);
        assert_eq!(g.cards[a].state, CardState::Up);
        assert_eq!(g.tally.misses, 1);
    }

    #[test]
    fn flips_after_the_deadline_expire_the_game() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 5);
        let late = T0 + Difficulty::Easy.rules().time_limit_ms;
        assert!(g.tick(late));
        assert_eq!(g.status, GameStatus::Expired);
        let c = id(&g, 0);
        assert_eq!(g.flip(&c, late, &mut rng), Err(GameError::Expired));
        assert_eq!(g.final_score(), Err(GameError::Expired));
    }

    #[test]
    fn a_pause_stops_the_clock_and_hides_faces() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 6);
        let c = id(&g, 0);
        g.flip(&c, T0 + 1000, &mut rng).expect("flip");
        g.pause(T0 + 2000).expect("pause");
        assert_eq!(g.cards[0].state, CardState::Down);
        assert_eq!(g.flip(&c, T0 + 3000, &mut rng), Err(GameError::Paused));
        assert_eq!(g.elapsed_ms(T0 + 60_000), 2000);
        g.resume(T0 + 60_000).expect("resume");
        assert_eq!(g.elapsed_ms(T0 + 61_000), 3000);
        assert_eq!(g.tally.moves(), 0);
    }

    #[test]
    fn at_most_three_pauses() {
        let (mut g, _) = new_game(Difficulty::Easy, 7);
        for i in 0..3 {
            g.pause(T0 + i * 10).expect("pause");
            g.resume(T0 + i * 10 + 5).expect("resume");
        }
        assert_eq!(g.pause(T0 + 100), Err(GameError::PauseLimitReached));
    }

    #[test]
    fn a_long_pause_ends_by_itself() {
        let (mut g, _) = new_game(Difficulty::Easy, 8);
        g.pause(T0).expect("pause");
        assert!(!g.tick(T0 + MAX_PAUSE_MS + 1000));
        assert_eq!(g.status, GameStatus::Active);
        assert_eq!(g.elapsed_ms(T0 + MAX_PAUSE_MS + 1000), 1000);
        let deadline = g.deadline();
        assert_eq!(
            deadline,
            T0 + MAX_PAUSE_MS + Difficulty::Easy.rules().time_limit_ms
        );
        assert!(g.tick(deadline));
    }

    #[test]
    fn the_deadline_of_a_paused_game_accounts_for_the_pause_allowance() {
        let (mut g, _) = new_game(Difficulty::Easy, 9);
        g.pause(T0 + 1000).expect("pause");
        let limit = Difficulty::Easy.rules().time_limit_ms;
        assert_eq!(g.deadline(), T0 + 1000 + MAX_PAUSE_MS + limit - 1000);
        assert!(!g.tick(g.deadline() - 1));
        assert!(g.tick(g.deadline()));
    }

    #[test]
    fn slow_pairs_earn_no_pair_bonus() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 10);
        let (a, b) = pairs(&g)[0];
        let (ia, ib) = (id(&g, a), id(&g, b));
        g.flip(&ia, T0, &mut rng).expect("flip");
        let out = g.flip(&ib, T0 + 10_001, &mut rng).expect("flip");
        assert_eq!(out.outcome.map(|o| o.pair_bonus), Some(0));
    }

    #[test]
    fn games_stored_by_an_earlier_release_still_load() {
        let (g, _) = new_game(Difficulty::Easy, 12);
        let mut json: serde_json::Value = serde_json::to_value(&g).expect("serialize");
        json.as_object_mut().expect("object").remove("last_op");
        let back: Game = serde_json::from_value(json).expect("deserialize without last_op");
        assert_eq!(back.last_op, None);
        assert_eq!(back.cards, g.cards);
    }

    #[test]
    fn an_abandoned_game_is_finished_and_unranked() {
        let (mut g, mut rng) = new_game(Difficulty::Easy, 11);
        g.abandon(T0 + 5).expect("abandon");
        let c = id(&g, 0);
        assert_eq!(g.flip(&c, T0 + 6, &mut rng), Err(GameError::Abandoned));
        assert_eq!(g.final_score(), Err(GameError::Abandoned));
    }

    proptest! {
        /// Whatever a client flips, in whatever order and timing, the score never exceeds the
        /// honest maximum and the tally stays consistent with the board.
        #[test]
        fn no_sequence_of_flips_beats_the_honest_maximum(
            seed: u64,
            d in 0usize..4,
            flips in proptest::collection::vec((0usize..30, 0i64..20_000), 0..200),
        ) {
            let difficulty = Difficulty::ALL[d];
            let (mut g, mut rng) = new_game(difficulty, seed);
            let mut now = T0;
            for (pos, dt) in flips {
                now += dt;
                if g.tick(now) { break; }
                let card = id(&g, pos % g.cards.len());
                let _ = g.flip(&card, now, &mut rng);
                let matched = g.cards.iter().filter(|c| c.state == CardState::Matched).count();
                prop_assert_eq!(matched, 2 * g.tally.pairs_found as usize);
                prop_assert!(g.score(now).total() <= max_score(difficulty));
            }
        }
    }
}
