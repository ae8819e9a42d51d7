//! The end of a game: made durable (idempotently) and taken off the sweep schedule, by its own
//! request or by the sweep; the player's rank after it; games whose live state was lost.

use super::{Completion, Games, Rank, SETTLE_GRACE_MS};
use crate::live::Versioned;
use crate::service::{AppError, Auth};
use humor_game::{Difficulty, Game, GameError, GameStatus};
use humor_store::{Board, BoardKind, FinalStatus, FinishedGame, GameRecord, RecordStatus};
use std::time::Duration;
use uuid::Uuid;

impl Games {
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
                    if self.store_expired(&game, version, now).await? {
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

    /// Stores a game that has just run out of time (`tick` said so) and settles it; false when
    /// another writer changed it first (then that writer settles it).
    pub(super) async fn store_expired(
        &self,
        game: &Game,
        version: u64,
        now: i64,
    ) -> Result<bool, AppError> {
        let saved = self
            .live
            .call(
                self.live
                    .state
                    .save_game(game, version, now + SETTLE_GRACE_MS),
            )
            .await?;
        if saved {
            self.settle(game).await?;
        }
        Ok(saved)
    }

    /// Why a game is not in the live state (checked only for its owner).
    pub(super) async fn not_live(&self, id: Uuid, auth: Auth) -> AppError {
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
        let ranked = self
            .db
            .call(self.db.store.rank(&board, player))
            .await
            .ok()??;
        Some(Rank {
            position: ranked.row.rank,
            total_players: ranked.board_players,
            board,
        })
    }

    pub(super) async fn rank_after(&self, game: &Game) -> Option<Rank> {
        self.rank_on(
            Self::result_board(game.difficulty, game.daily.as_deref()),
            game.player_id,
        )
        .await
    }

    pub(super) async fn rank_of_record(&self, record: &GameRecord) -> Option<Rank> {
        self.rank_on(
            Self::result_board(record.difficulty, record.daily.as_deref()),
            record.player_id,
        )
        .await
    }
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
