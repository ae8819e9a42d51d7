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
use humor_game::{
    deck, AppliedOp, DailyChallenge, Difficulty, FlipOutcome, Game, GameError, GameStatus, Username,
};
use humor_store::{
    Board, BoardKind, FinalStatus, FinishedGame, GameRecord, NewGameRecord, RecordStatus,
    ResultRecord, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

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

    /// Loads a live game, applies `op` and stores the result atomically; retries when another
    /// request changed the game first. On error nothing changes, except that a game found past
    /// its deadline is expired (and recorded) before `GameError::Expired` is returned.
    ///
    /// With an operation id (from `Idempotency-Key`), the id and the flips the operation made are
    /// stored with the game in the same compare-and-set; a retry of the last operation is then
    /// answered from there (`replay`) instead of being applied again, even when the first answer
    /// was lost with the replica that computed it. The bool is true for such a replay.
    async fn mutate<T>(
        &self,
        id: Uuid,
        auth: Auth,
        op_id: Option<&str>,
        op: impl Fn(&mut Game, i64) -> Result<T, GameError>,
        record: impl Fn(&T) -> Vec<FlipOutcome>,
        replay: impl Fn(&AppliedOp) -> Option<T>,
    ) -> Result<(Game, T, bool), AppError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(Versioned { version, mut game }) =
                self.live.call(self.live.state.load_game(id)).await?
            else {
                return Err(self.not_live(id, auth).await);
            };
            auth.require(game.player_id)?;
            if let Some(t) = op_id.and_then(|o| game.applied(o)).and_then(&replay) {
                if !game.status.is_live() {
                    // An outage may have kept the first attempt from recording the end.
                    self.settle(&game).await?;
                }
                return Ok((game, t, true));
            }
            let now = self.clock.now_ms();
            let expired = game.tick(now);
            let outcome = op(&mut game, now);
            if outcome.is_err() && !expired {
                return Err(outcome.err().map(AppError::Game).unwrap_or(AppError::Busy));
            }
            if let (Some(o), Ok(t)) = (op_id, &outcome) {
                game.last_op = Some(AppliedOp {
                    id: o.to_string(),
                    flips: record(t),
                });
            }
            let due_at = if game.status.is_live() {
                game.deadline()
            } else {
                now + SETTLE_GRACE_MS
            };
            if !self
                .live
                .call(self.live.state.save_game(&game, version, due_at))
                .await?
            {
                continue;
            }
            if !game.status.is_live() {
                self.settle(&game).await?;
            }
            return match outcome {
                Ok(t) if !expired => Ok((game, t, false)),
                _ => Err(AppError::Game(GameError::Expired)),
            };
        }
        Err(AppError::Busy)
    }

    /// A game the database still calls active although its live state is gone (Redis lost it):
    /// it can never be played again, so it is stored as expired (never ranked).
    async fn expire_lost(&self, record: &GameRecord) -> Result<(), AppError> {
        let difficulty = record.difficulty;
        let now = self.clock.now_ms();
        let lost = FinishedGame {
            id: record.id,
            player_id: record.player_id,
            username: record.username.clone(),
            difficulty,
            daily: record.daily.clone(),
            status: FinalStatus::Expired,
            score: record.score,
            moves: record.moves,
            misses: record.misses,
            pairs_found: record.pairs_found,
            time_ms: record.time_ms,
            pauses: record.pauses,
            finished_at_ms: now,
            result: None,
        };
        if self.db.call(self.db.store.finish_game(&lost)).await? {
            metrics::counter!("games_expired_total", "difficulty" => difficulty.as_str())
                .increment(1);
            tracing::warn!(game = %record.id, "a game's live state was lost; stored as expired");
        }
        Ok(())
    }

    /// Expires games still active in the database long after any possible deadline (their live
    /// state was lost and nobody asked about them again). Returns how many.
    pub async fn expire_lost_games(&self) -> Result<u64, AppError> {
        let longest = Difficulty::ALL
            .iter()
            .map(|d| d.rules().time_limit_ms)
            .max()
            .unwrap_or(0);
        let bound =
            longest + i64::from(humor_game::MAX_PAUSES) * humor_game::MAX_PAUSE_MS + 5 * 60_000;
        let now = self.clock.now_ms();
        let n = tokio::time::timeout(
            Duration::from_secs(30),
            self.db.store.expire_stale_games(now - bound, now),
        )
        .await
        .map_err(|_| AppError::Unavailable("database"))??;
        Ok(n)
    }

    /// Why a game is not in the live state (checked only for its owner).
    async fn not_live(&self, id: Uuid, auth: Auth) -> AppError {
        match self.db.call(self.db.store.game(id)).await {
            Ok(Some(record)) => {
                if let Err(e) = auth.require(record.player_id) {
                    return e;
                }
                match record.status {
                    RecordStatus::Finished(FinalStatus::Completed) => {
                        AppError::Game(GameError::Completed)
                    }
                    RecordStatus::Finished(FinalStatus::Expired) => {
                        AppError::Game(GameError::Expired)
                    }
                    RecordStatus::Finished(FinalStatus::Abandoned) => {
                        AppError::Game(GameError::Abandoned)
                    }
                    RecordStatus::Active => match self.expire_lost(&record).await {
                        Ok(()) => AppError::Game(GameError::Expired),
                        Err(e) => e,
                    },
                }
            }
            Ok(None) => AppError::GameNotFound,
            Err(e) => e,
        }
    }

    pub async fn flip(
        &self,
        id: Uuid,
        card_id: &str,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<Flipped, AppError> {
        let (game, outcome, replayed) = self
            .mutate(
                id,
                auth,
                op_id,
                |g, now| g.flip(card_id, now, &mut self.random.rng()),
                |o| vec![o.clone()],
                |applied| match applied.flips.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                },
            )
            .await?;
        if !replayed {
            record_flip(&game, &outcome);
        }
        let result = self.completion_result(&game, outcome.completed).await;
        Ok(Flipped {
            game,
            outcomes: vec![outcome],
            result,
            replayed,
        })
    }

    /// The compatibility call: both cards of an attempt at once.
    pub async fn match_pair(
        &self,
        id: Uuid,
        first: &str,
        second: &str,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<Flipped, AppError> {
        let (game, outcomes, replayed) = self
            .mutate(
                id,
                auth,
                op_id,
                |g, now| {
                    if g.attempt_in_progress() {
                        return Err(GameError::AttemptInProgress);
                    }
                    let a = g.flip(first, now, &mut self.random.rng())?;
                    let b = g.flip(second, now, &mut self.random.rng())?;
                    Ok(vec![a, b])
                },
                |o| o.clone(),
                |applied| (applied.flips.len() == 2).then(|| applied.flips.clone()),
            )
            .await?;
        if !replayed {
            for o in &outcomes {
                record_flip(&game, o);
            }
        }
        let completed = outcomes.last().is_some_and(|o| o.completed);
        let result = self.completion_result(&game, completed).await;
        Ok(Flipped {
            game,
            outcomes,
            result,
            replayed,
        })
    }

    /// Pause, resume or abandon: no flips, so a replay is the game as it is now.
    async fn control(
        &self,
        id: Uuid,
        auth: Auth,
        op_id: Option<&str>,
        op: impl Fn(&mut Game, i64) -> Result<(), GameError>,
    ) -> Result<(Game, bool), AppError> {
        let (game, (), replayed) = self
            .mutate(
                id,
                auth,
                op_id,
                op,
                |_| Vec::new(),
                |applied| applied.flips.is_empty().then_some(()),
            )
            .await?;
        Ok((game, replayed))
    }

    pub async fn pause(
        &self,
        id: Uuid,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<(Game, bool), AppError> {
        self.control(id, auth, op_id, |g, now| g.pause(now)).await
    }

    pub async fn resume(
        &self,
        id: Uuid,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<(Game, bool), AppError> {
        self.control(id, auth, op_id, |g, now| g.resume(now)).await
    }

    pub async fn abandon(
        &self,
        id: Uuid,
        auth: Auth,
        op_id: Option<&str>,
    ) -> Result<(Game, bool), AppError> {
        self.control(id, auth, op_id, |g, now| g.abandon(now)).await
    }

    /// The game for its owner, brought up to date (an overdue game is expired on the way).
    pub async fn find_game(&self, id: Uuid, auth: Auth) -> Result<Found, AppError> {
        let Some(Versioned { version, mut game }) =
            self.live.call(self.live.state.load_game(id)).await?
        else {
            let record = self
                .db
                .call(self.db.store.game(id))
                .await?
                .ok_or(AppError::GameNotFound)?;
            auth.require(record.player_id)?;
            return Ok(Found::Stored(record));
        };
        auth.require(game.player_id)?;
        let now = self.clock.now_ms();
        if game.tick(now)
            && self
                .live
                .call(
                    self.live
                        .state
                        .save_game(&game, version, now + SETTLE_GRACE_MS),
                )
                .await?
        {
            self.settle(&game).await?;
        }
        Ok(Found::Live(game))
    }

    /// `POST /api/game/complete`: the stored result of a finished game, every time.
    pub async fn complete(&self, id: Uuid, auth: Auth) -> Result<Completion, AppError> {
        match self.find_game(id, auth).await? {
            Found::Live(game) => match game.status {
                GameStatus::Completed => {
                    let mut result = self.settle(&game).await?.ok_or(AppError::GameNotFound)?;
                    result.rank = self.rank_after(&game).await;
                    Ok(result)
                }
                GameStatus::Expired => Err(GameError::Expired.into()),
                GameStatus::Abandoned => Err(GameError::Abandoned.into()),
                GameStatus::Active | GameStatus::Paused => Err(GameError::NotFinished.into()),
            },
            Found::Stored(record) => match record.status {
                RecordStatus::Finished(FinalStatus::Completed) => {
                    let mut result = Completion::stored(&record)?;
                    result.rank = self.rank_of_record(&record).await;
                    Ok(result)
                }
                RecordStatus::Finished(FinalStatus::Expired) => Err(GameError::Expired.into()),
                RecordStatus::Finished(FinalStatus::Abandoned) => Err(GameError::Abandoned.into()),
                RecordStatus::Active => Err(AppError::GameNotFound),
            },
        }
    }

    async fn completion_result(&self, game: &Game, completed_now: bool) -> Option<Completion> {
        if !completed_now {
            return None;
        }
        let mut result = Completion::of(game)?;
        result.rank = self.rank_after(game).await;
        Some(result)
    }

    /// Makes a finished game's end durable (idempotent) and takes it off the sweep schedule.
    /// Returns the result of a completed game.
    pub async fn settle(&self, game: &Game) -> Result<Option<Completion>, AppError> {
        let status = match game.status {
            GameStatus::Completed => FinalStatus::Completed,
            GameStatus::Expired => FinalStatus::Expired,
            GameStatus::Abandoned => FinalStatus::Abandoned,
            GameStatus::Active | GameStatus::Paused => return Ok(None),
        };
        let finished_at = game.finished_at.unwrap_or_else(|| self.clock.now_ms());
        let result = Completion::of(game);
        let mut record = finished_record(game, status, finished_at);
        record.result = result.as_ref().map(|r| r.record.clone());
        let newly = self.db.call(self.db.store.finish_game(&record)).await?;
        if newly {
            let d = game.difficulty.as_str();
            match status {
                FinalStatus::Completed => {
                    metrics::counter!("games_completed_total", "difficulty" => d).increment(1);
                    metrics::histogram!("game_final_score", "difficulty" => d).record(f64::from(
                        result.as_ref().map_or(0, |r| r.record.breakdown.total()),
                    ));
                    metrics::histogram!("game_completion_seconds", "difficulty" => d)
                        .record(record.time_ms as f64 / 1000.0);
                    if let Err(e) = self.cache.call(self.cache.state.cache_invalidate()).await {
                        tracing::warn!(error = %e, "could not invalidate the leaderboard cache");
                    }
                }
                FinalStatus::Expired => {
                    metrics::counter!("games_expired_total", "difficulty" => d).increment(1)
                }
                FinalStatus::Abandoned => {
                    metrics::counter!("games_abandoned_total", "difficulty" => d).increment(1)
                }
            }
        }
        if let Err(e) = self.live.call(self.live.state.settle_game(game.id)).await {
            // Durable already; the sweep will take it off the schedule later.
            tracing::warn!(game = %game.id, error = %e, "could not settle the game in the live state");
        }
        Ok(result)
    }

    fn result_board(difficulty: Difficulty, daily: Option<&str>) -> Board {
        match daily {
            Some(date) => Board {
                kind: BoardKind::Daily(date.to_string()),
                difficulty: None,
            },
            None => Board {
                kind: BoardKind::All,
                difficulty: Some(difficulty),
            },
        }
    }

    async fn rank_on(&self, board: Board, player: Uuid) -> Option<Rank> {
        let row = self
            .db
            .call(self.db.store.rank(&board, player))
            .await
            .ok()??;
        let total = self.db.call(self.db.store.board_size(&board)).await.ok()?;
        Some(Rank {
            position: row.rank,
            total_players: total,
            board,
        })
    }

    async fn rank_after(&self, game: &Game) -> Option<Rank> {
        self.rank_on(
            Self::result_board(game.difficulty, game.daily.as_deref()),
            game.player_id,
        )
        .await
    }

    async fn rank_of_record(&self, record: &GameRecord) -> Option<Rank> {
        self.rank_on(
            Self::result_board(record.difficulty, record.daily.as_deref()),
            record.player_id,
        )
        .await
    }

    /// One pass of the expiry sweep: expires overdue games and settles finished ones that a
    /// crash or an outage left unsettled. Any replica may run it; compare-and-set and the
    /// idempotent store make concurrent sweeps harmless.
    pub async fn sweep_once(&self) -> Result<usize, AppError> {
        let now = self.clock.now_ms();
        let due = self.live.call(self.live.state.due_games(now, 200)).await?;
        let mut settled = 0;
        for id in due {
            let Some(Versioned { version, mut game }) =
                self.live.call(self.live.state.load_game(id)).await?
            else {
                self.live.call(self.live.state.settle_game(id)).await?;
                continue;
            };
            if game.status.is_live() {
                if game.tick(now) {
                    if self
                        .live
                        .call(
                            self.live
                                .state
                                .save_game(&game, version, now + SETTLE_GRACE_MS),
                        )
                        .await?
                    {
                        self.settle(&game).await?;
                        settled += 1;
                    }
                } else {
                    // The deadline moved (a pause): reschedule.
                    self.live
                        .call(self.live.state.save_game(&game, version, game.deadline()))
                        .await?;
                }
            } else {
                self.settle(&game).await?;
                settled += 1;
            }
        }
        Ok(settled)
    }
}

fn record_flip(game: &Game, outcome: &FlipOutcome) {
    let kind = match &outcome.outcome {
        None => "reveal",
        Some(o) if o.kind == humor_game::OutcomeKind::Hit => "hit",
        Some(_) => "miss",
    };
    metrics::counter!("game_flips_total", "difficulty" => game.difficulty.as_str(), "outcome" => kind).increment(1);
}

fn finished_record(game: &Game, status: FinalStatus, finished_at: i64) -> FinishedGame {
    FinishedGame {
        id: game.id,
        player_id: game.player_id,
        username: game.username.clone(),
        difficulty: game.difficulty,
        daily: game.daily.clone(),
        status,
        score: i64::from(game.score(finished_at).total()),
        moves: i64::from(game.tally.moves()),
        misses: i64::from(game.tally.misses),
        pairs_found: i64::from(game.tally.pairs_found),
        time_ms: game.elapsed_ms(finished_at),
        pauses: i64::from(game.pauses_used),
        finished_at_ms: finished_at,
        result: None,
    }
}
