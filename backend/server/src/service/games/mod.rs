//! Playing: dealing, flipping, pausing, finishing. The live state is the serialisation point
//! (compare-and-set per game); a game's end is written to the durable store before the API
//! acknowledges it, and the expiry sweep settles whatever a crash or outage left behind.

use super::players::Claim;
use super::{
    AppError, Auth, FieldError, GuardedLive, GuardedStore, Players, RandomSource, SigningKeys,
};
use crate::clock::{utc_date, Clock};
use crate::live::{BoardCache, GameLive, Versioned};
use crate::views::result_record;
use humor_game::daily::format_date;
use humor_game::game::NewGame;
use humor_game::{deck, DailyChallenge, Difficulty, FlipOutcome, Game, Username};
use humor_store::{Board, GameRecord, NewGameRecord, ResultRecord, StoreError};
use std::sync::Arc;
use uuid::Uuid;

mod ending;
mod moves;

/// How many times a request re-reads a game another request changed under it.
const CAS_ATTEMPTS: usize = 16;
/// A finished game waits this long for its own request to make it durable before the sweep does.
const SETTLE_GRACE_MS: i64 = 5_000;

pub struct StartCommand {
    pub username: Username,
    pub difficulty: Option<Difficulty>,
    pub categories: Option<Vec<String>>,
    pub daily: bool,
}

/// A game as a request finds it: still in the live state, or only in the durable store.
pub enum Found {
    Live(Game),
    Stored(GameRecord),
}

/// What a flip (or the two flips of `match`) did.
pub struct Flipped {
    pub game: Game,
    pub outcomes: Vec<FlipOutcome>,
    pub result: Option<Completion>,
    /// True when this answered a retry of an operation that was already applied.
    pub replayed: bool,
}

/// A completed game's result: whose it is, the facts as they are stored, and the player's place.
#[derive(Debug, Clone)]
pub struct Completion {
    pub game_id: Uuid,
    pub username: String,
    pub difficulty: Difficulty,
    pub daily: Option<String>,
    pub record: ResultRecord,
    /// The player's place right after this game; absent when it could not be read.
    pub rank: Option<Rank>,
}

impl Completion {
    /// The result of a completed live game (without rank, which changes over time).
    pub fn of(game: &Game) -> Option<Completion> {
        Some(Completion {
            game_id: game.id,
            username: game.username.clone(),
            difficulty: game.difficulty,
            daily: game.daily.clone(),
            record: result_record(game)?,
            rank: None,
        })
    }

    /// The result stored with a completed game.
    pub fn stored(record: &GameRecord) -> Result<Completion, AppError> {
        Ok(Completion {
            game_id: record.id,
            username: record.username.clone(),
            difficulty: record.difficulty,
            daily: record.daily.clone(),
            record: record.result.clone().ok_or(AppError::GameNotFound)?,
            rank: None,
        })
    }
}

/// A player's place on a board (the all-time board of a difficulty, or a daily board).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    pub position: i64,
    pub total_players: i64,
    pub board: Board,
}

pub struct DailyInfo {
    pub challenge: DailyChallenge,
    pub ends_at_ms: i64,
    pub played: Option<bool>,
}

/// Playing: needs the store, the live state, the clock, the signing key (daily seeds, tokens),
/// the players (a start claims a name) and the randomness of the deal.
#[derive(Clone)]
pub struct Games {
    db: GuardedStore,
    live: GuardedLive<dyn GameLive>,
    /// Invalidated by every completion.
    cache: GuardedLive<dyn BoardCache>,
    clock: Arc<dyn Clock>,
    keys: SigningKeys,
    players: Players,
    random: Arc<dyn RandomSource>,
}

/// What [`Games::new`] is built from.
pub struct GamesParts {
    pub db: GuardedStore,
    pub live: GuardedLive<dyn GameLive>,
    pub cache: GuardedLive<dyn BoardCache>,
    pub clock: Arc<dyn Clock>,
    pub keys: SigningKeys,
    pub players: Players,
    pub random: Arc<dyn RandomSource>,
}

impl Games {
    pub fn new(parts: GamesParts) -> Games {
        let GamesParts {
            db,
            live,
            cache,
            clock,
            keys,
            players,
            random,
        } = parts;
        Games {
            db,
            live,
            cache,
            clock,
            keys,
            players,
            random,
        }
    }

    pub async fn daily_challenge(&self, auth: Auth) -> Result<DailyInfo, AppError> {
        let keys = self.keys.get()?;
        let now = self.clock.now_ms();
        let date = utc_date(now);
        let date_s = format_date(date);
        let challenge = DailyChallenge::for_date(date, keys.daily_seed(&date_s));
        let played = match auth {
            Auth::Player(id) => Some(
                self.db
                    .call(self.db.store.daily_started(id, &date_s))
                    .await?,
            ),
            Auth::Anonymous => None,
        };
        let day_ms = 86_400_000;
        Ok(DailyInfo {
            challenge,
            ends_at_ms: (now.div_euclid(day_ms) + 1) * day_ms,
            played,
        })
    }

    /// Deals a game. With an operation id, a retry of the same start (even after the replica that
    /// dealt it died before answering) gets the game it dealt, not a second one; the bool is true then.
    pub async fn start_game(
        &self,
        cmd: StartCommand,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<(Game, Claim, bool), AppError> {
        let keys = self.keys.get()?;
        if let Some(op) = op_id {
            if let Some(found) = self.replay_start(op).await? {
                return Ok((found.0, found.1, true));
            }
        }
        let now = self.clock.now_ms();
        let (difficulty, layout, daily) = if cmd.daily {
            let date_s = format_date(utc_date(now));
            let challenge = DailyChallenge::for_date(utc_date(now), keys.daily_seed(&date_s));
            let mut errors = Vec::new();
            if cmd.difficulty.is_some_and(|d| d != challenge.difficulty) {
                errors.push(FieldError::new(
                    "difficulty",
                    format!(
                        "today's challenge is {}; omit difficulty for a daily game",
                        challenge.difficulty
                    ),
                ));
            }
            if cmd
                .categories
                .as_ref()
                .is_some_and(|c| !c.is_empty() && *c != challenge.categories)
            {
                errors.push(FieldError::new(
                    "categories",
                    "the daily challenge has fixed categories; omit them",
                ));
            }
            if !errors.is_empty() {
                return Err(AppError::Validation(errors));
            }
            (challenge.difficulty, challenge.layout, Some(date_s))
        } else {
            let difficulty = cmd.difficulty.unwrap_or(Difficulty::Easy);
            let categories = cmd.categories.unwrap_or_default();
            let layout = deck::deal(difficulty, &categories, &mut self.random.rng());
            (difficulty, layout, None)
        };

        let resolved = self
            .players
            .resolve_player(&cmd.username, auth, op_id)
            .await?;
        let player = resolved.player;
        if let Some(date) = &daily {
            if self
                .db
                .call(self.db.store.daily_started(player.id, date))
                .await?
            {
                return Err(AppError::DailyAlreadyPlayed);
            }
        }
        let game = Game::new(
            NewGame {
                id: self.random.uuid(),
                player_id: player.id,
                username: player.username.clone(),
                difficulty,
                daily,
                layout,
                now,
            },
            &mut self.random.rng(),
        );
        // Live state first: if the database write then fails, the live copy is unreachable (its id
        // was never answered) and the sweep removes it at its deadline, leaving no trace anywhere.
        let is_new = if resolved.claim.is_new {
            "new"
        } else {
            "known"
        };
        let answer = format!("{}|{is_new}", game.id);
        self.live
            .call(
                self.live
                    .state
                    .create_game(&game, op_id.map(|o| (o, answer.as_str()))),
            )
            .await?;
        if let Err(e) = self.record_start(&game).await {
            // Off the schedule at once, so it never counts as an active game.
            let _ = self.live.call(self.live.state.settle_game(game.id)).await;
            return Err(e);
        }
        Ok((game, resolved.claim, false))
    }

    /// The game a start operation dealt, if it is still live, with the player's view as the first
    /// answer gave it (the token is the same signature again).
    async fn replay_start(&self, op: &str) -> Result<Option<(Game, Claim)>, AppError> {
        let Some(answer) = self.live.call(self.live.state.recall_start(op)).await? else {
            return Ok(None);
        };
        let (id, kind) = answer.split_once('|').unwrap_or((answer.as_str(), "known"));
        let Ok(id) = Uuid::parse_str(id) else {
            return Ok(None);
        };
        let Some(Versioned { game, version }) =
            self.live.call(self.live.state.load_game(id)).await?
        else {
            return Ok(None);
        };
        // The first attempt may have dealt the game and then failed (or died) before recording
        // it: record it now, or its end would have no row to land in.
        if self.record_start(&game).await? && game.status.is_live() {
            // Back on the sweep schedule a failed start took it off (a lost race changes nothing).
            let _ = self
                .live
                .call(self.live.state.save_game(&game, version, game.deadline()))
                .await?;
        }
        let is_new = kind == "new";
        let token = is_new
            .then(|| self.keys.get().map(|k| k.sign(game.player_id)))
            .transpose()?;
        Ok(Some((
            game.clone(),
            Claim {
                username: game.username.clone(),
                is_new,
                token,
            },
        )))
    }

    /// Records a dealt game in the database; false when it was already recorded.
    async fn record_start(&self, game: &Game) -> Result<bool, AppError> {
        let record = NewGameRecord {
            id: game.id,
            player_id: game.player_id,
            difficulty: game.difficulty,
            daily: game.daily.clone(),
            started_at_ms: game.started_at,
        };
        match self.db.call_raw(self.db.store.insert_game(&record)).await {
            Ok(Ok(inserted)) => {
                if inserted {
                    metrics::counter!("games_started_total", "difficulty" => game.difficulty.as_str())
                        .increment(1);
                }
                Ok(inserted)
            }
            Ok(Err(StoreError::Conflict(_))) => Err(AppError::DailyAlreadyPlayed),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(e),
        }
    }
}
