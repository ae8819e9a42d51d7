//! Moves on a live game: each one a compare-and-set on the live state, retried when another
//! request changed the game first, and answered from the game itself when it is a retry.

use super::{Completion, Flipped, Found, Games, CAS_ATTEMPTS, SETTLE_GRACE_MS};
use crate::live::Versioned;
use crate::service::{AppError, Auth, RateTicket};
use humor_game::{AppliedOp, FlipOutcome, Game, GameError, GameStatus};
use humor_store::{FinalStatus, RecordStatus};
use uuid::Uuid;

/// What a move's request brings besides the move: who asks, the operation id of its
/// `Idempotency-Key`, and its rate-limit hit when the save is to count it.
#[derive(Clone, Copy)]
struct Asked<'a> {
    auth: Auth,
    op_id: Option<&'a str>,
    ticket: Option<&'a RateTicket>,
}

impl Games {
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
        asked: Asked<'_>,
        op: impl Fn(&mut Game, i64) -> Result<T, GameError>,
        record: impl Fn(&T) -> Vec<FlipOutcome>,
        replay: impl Fn(&AppliedOp) -> Option<T>,
    ) -> Result<(Game, T, bool), AppError> {
        let Asked {
            auth,
            op_id,
            ticket,
        } = asked;
        // A save proves the copy it was computed from was current; an answer given without a
        // save (a refusal, a replay) is computed again from the live game itself first.
        let mut confirmed = false;
        for _ in 0..CAS_ATTEMPTS {
            let live = &self.live.state;
            let loaded = if confirmed {
                live.load_game(id)
            } else {
                live.load_for_update(id)
            };
            let Some(Versioned { version, mut game }) = self.live.call(loaded).await? else {
                if !confirmed {
                    confirmed = true;
                    continue;
                }
                return Err(self.not_live(id, auth).await);
            };
            auth.require(game.player_id)?;
            if let Some(t) = op_id.and_then(|o| game.applied(o)).and_then(&replay) {
                if !confirmed {
                    confirmed = true;
                    continue;
                }
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
                if !confirmed {
                    confirmed = true;
                    continue;
                }
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
            if !self.save(&game, version, due_at, ticket).await? {
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

    /// Stores a move's game at `version`; false when another request changed it first. With an
    /// uncounted ticket, the request's rate-limit hit is counted in the same step, and a refused
    /// hit stores nothing.
    async fn save(
        &self,
        game: &Game,
        version: u64,
        due_at: i64,
        ticket: Option<&RateTicket>,
    ) -> Result<bool, AppError> {
        let live = &self.live.state;
        let Some((ticket, hit)) = ticket.and_then(|t| Some((t, t.uncounted()?))) else {
            return self.live.call(live.save_game(game, version, due_at)).await;
        };
        let counted = self
            .live
            .call(live.save_game_counted(game, version, due_at, hit))
            .await?;
        ticket.counted(counted.rate);
        if !counted.rate.allowed {
            return Err(AppError::RateLimited {
                reset_after: counted.rate.reset_after,
            });
        }
        Ok(counted.saved)
    }

    /// One card. A `ticket` lets the move count the request's rate-limit hit with its save.
    pub async fn flip(
        &self,
        id: Uuid,
        card_id: &str,
        auth: Auth,
        op_id: Option<&str>,
        ticket: Option<&RateTicket>,
    ) -> Result<Flipped, AppError> {
        let (game, outcome, replayed) = self
            .mutate(
                id,
                Asked {
                    auth,
                    op_id,
                    ticket,
                },
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
        ticket: Option<&RateTicket>,
    ) -> Result<Flipped, AppError> {
        let (game, outcomes, replayed) = self
            .mutate(
                id,
                Asked {
                    auth,
                    op_id,
                    ticket,
                },
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
                Asked {
                    auth,
                    op_id,
                    ticket: None,
                },
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
        if game.tick(now) {
            self.store_expired(&game, version, now).await?;
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
}

fn record_flip(game: &Game, outcome: &FlipOutcome) {
    let kind = match &outcome.outcome {
        None => "reveal",
        Some(o) if o.kind == humor_game::OutcomeKind::Hit => "hit",
        Some(_) => "miss",
    };
    metrics::counter!("game_flips_total", "difficulty" => game.difficulty.as_str(), "outcome" => kind).increment(1);
}
