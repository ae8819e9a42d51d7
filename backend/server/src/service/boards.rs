//! Leaderboards and statistics, read from the durable store through a short-lived cache that
//! every completion invalidates.

use super::{AppError, GuardedLive, GuardedStore};
use crate::clock::Clock;
use crate::live::BoardCache;
use humor_game::daily::parse_date;
use humor_game::Difficulty;
use humor_store::{
    month_period, week_period, Board, BoardKind, BoardRow, GameRecord, GlobalStats, Player,
    ScoreRow,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Cached answers live at most this long even without a completion.
const CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Timeframe {
    All,
    Week,
    Month,
}

/// Which leaderboard a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardQuery {
    pub timeframe: Timeframe,
    pub difficulty: Option<Difficulty>,
    /// `today` or `YYYY-MM-DD`; overrides timeframe and difficulty.
    pub daily: Option<String>,
}

/// A leaderboard as read at `as_of_ms`.
#[derive(Debug, Clone)]
pub struct Leaderboard {
    pub board: Board,
    /// What the query asked for (a daily board is daily whatever it says).
    pub timeframe: Timeframe,
    /// `2026-W48` for a week board, `2026-11` for a month board, the date of a daily board.
    pub period: Option<String>,
    pub rows: Vec<BoardRow>,
    pub total_players: i64,
    pub as_of_ms: i64,
}

/// A player's row on a board and the rows around it.
#[derive(Debug, Clone)]
pub struct Standing {
    pub row: BoardRow,
    pub total_players: i64,
    pub around: Vec<BoardRow>,
}

/// The most recent and the best completed games.
#[derive(Debug, Clone)]
pub struct Scores {
    pub recent: Vec<ScoreRow>,
    pub top: Vec<ScoreRow>,
}

/// A player, a page of their games, and their place on the all-time board.
#[derive(Debug, Clone)]
pub struct PlayerRecord {
    pub player: Player,
    pub games: Vec<GameRecord>,
    pub total_games: i64,
    pub limit: i64,
    pub offset: i64,
    pub global_rank: Option<i64>,
}

/// Leaderboards and statistics: reads the store, caches in the live state.
#[derive(Clone)]
pub struct Boards {
    db: GuardedStore,
    cache: GuardedLive<dyn BoardCache>,
    clock: Arc<dyn Clock>,
}

impl Boards {
    pub fn new(
        db: GuardedStore,
        cache: GuardedLive<dyn BoardCache>,
        clock: Arc<dyn Clock>,
    ) -> Boards {
        Boards { db, cache, clock }
    }

    /// The board a query names at `now`, with its period label.
    pub fn board_for(&self, q: &BoardQuery) -> Result<(Board, Option<String>), AppError> {
        let now = self.clock.now_ms();
        if let Some(daily) = &q.daily {
            let date = if daily == "today" {
                humor_game::daily::format_date(crate::clock::utc_date(now))
            } else {
                parse_date(daily)
                    .map(humor_game::daily::format_date)
                    .ok_or_else(|| {
                        AppError::Validation(vec![super::FieldError::new(
                            "daily",
                            "must be 'today' or a date YYYY-MM-DD",
                        )])
                    })?
            };
            return Ok((
                Board {
                    kind: BoardKind::Daily(date.clone()),
                    difficulty: None,
                },
                Some(date),
            ));
        }
        let (kind, period) = match q.timeframe {
            Timeframe::All => (BoardKind::All, None),
            Timeframe::Week => {
                let p = week_period(now);
                (BoardKind::Week(p.clone()), Some(p))
            }
            Timeframe::Month => {
                let p = month_period(now);
                (BoardKind::Month(p.clone()), Some(p))
            }
        };
        Ok((
            Board {
                kind,
                difficulty: q.difficulty,
            },
            period,
        ))
    }

    /// The leaderboard as a JSON document (cached unless `fresh`). `render` turns the board into
    /// the document; the cache keeps the document, so a hit costs neither the store nor `render`.
    pub async fn leaderboard_json(
        &self,
        q: &BoardQuery,
        limit: i64,
        fresh: bool,
        render: impl FnOnce(&Leaderboard) -> Result<String, AppError>,
    ) -> Result<String, AppError> {
        let (board, period) = self.board_for(q)?;
        let cache_key = format!("board:{}:{limit}", board.key());
        let generation = if fresh {
            None
        } else {
            match self
                .cache
                .call(self.cache.state.cache_get(&cache_key))
                .await
            {
                Ok((_, Some(hit))) => return Ok(hit),
                Ok((g, None)) => Some(g),
                // The cache is an optimisation: read through when it is down.
                Err(_) => None,
            }
        };
        let rows = self
            .db
            .call(self.db.store.leaderboard(&board, limit))
            .await?;
        let total_players = self.db.call(self.db.store.board_size(&board)).await?;
        let json = render(&Leaderboard {
            board,
            timeframe: q.timeframe,
            period,
            rows,
            total_players,
            as_of_ms: self.clock.now_ms(),
        })?;
        if let Some(g) = generation {
            let _ = self
                .cache
                .call(self.cache.state.cache_put(g, &cache_key, &json, CACHE_TTL))
                .await;
        }
        Ok(json)
    }

    pub async fn rank_of(
        &self,
        username: &str,
        q: &BoardQuery,
        context: i64,
    ) -> Result<Standing, AppError> {
        let player = self
            .db
            .call(self.db.store.player_by_name(username))
            .await?
            .ok_or(AppError::PlayerNotFound)?;
        let (board, _) = self.board_for(q)?;
        let ranked = self
            .db
            .call(self.db.store.rank(&board, player.id))
            .await?
            .ok_or(AppError::NotRanked)?;
        let row = ranked.row;
        let total_players = ranked.board_players.max(row.rank);
        let around = self
            .db
            .call(self.db.store.leaderboard_around(&board, &row, context))
            .await?;
        Ok(Standing {
            row,
            total_players,
            around,
        })
    }

    pub async fn statistics(&self) -> Result<GlobalStats, AppError> {
        self.db.call(self.db.store.stats()).await
    }

    pub async fn scores(&self, limit: i64) -> Result<Scores, AppError> {
        let recent = self.db.call(self.db.store.recent_scores(limit)).await?;
        let top = self.db.call(self.db.store.top_scores(limit)).await?;
        Ok(Scores { recent, top })
    }

    pub async fn player_scores(
        &self,
        username: &str,
        limit: i64,
        offset: i64,
    ) -> Result<PlayerRecord, AppError> {
        let player = self
            .db
            .call(self.db.store.player_by_name(username))
            .await?
            .ok_or(AppError::PlayerNotFound)?;
        let (games, total_games) = self
            .db
            .call(self.db.store.history(player.id, limit, offset))
            .await?;
        let global = Board {
            kind: BoardKind::All,
            difficulty: None,
        };
        let global_rank = self
            .db
            .call(self.db.store.rank(&global, player.id))
            .await?
            .map(|r| r.row.rank);
        Ok(PlayerRecord {
            player,
            games,
            total_games,
            limit,
            offset,
            global_rank,
        })
    }
}
