//! What the API shows: JSON shapes (camelCase) built from domain values. They also describe
//! themselves for the OpenAPI document.

pub mod boards;

use crate::clock::iso;
use humor_game::scoring::{self, Achievement, Performance, ScoreBreakdown};
use humor_game::{CardState, Difficulty, Game, GameStatus};
use humor_store::{ResultOwner, ResultRecord};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DifficultyView {
    Easy,
    Medium,
    Hard,
    Expert,
}

impl From<Difficulty> for DifficultyView {
    fn from(d: Difficulty) -> Self {
        match d {
            Difficulty::Easy => DifficultyView::Easy,
            Difficulty::Medium => DifficultyView::Medium,
            Difficulty::Hard => DifficultyView::Hard,
            Difficulty::Expert => DifficultyView::Expert,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusView {
    Active,
    Paused,
    Completed,
    Expired,
    Abandoned,
}

impl From<GameStatus> for StatusView {
    fn from(s: GameStatus) -> Self {
        match s {
            GameStatus::Active => StatusView::Active,
            GameStatus::Paused => StatusView::Paused,
            GameStatus::Completed => StatusView::Completed,
            GameStatus::Expired => StatusView::Expired,
            GameStatus::Abandoned => StatusView::Abandoned,
        }
    }
}

impl From<humor_store::RecordStatus> for StatusView {
    fn from(s: humor_store::RecordStatus) -> Self {
        use humor_store::{FinalStatus, RecordStatus};
        match s {
            RecordStatus::Active => StatusView::Active,
            RecordStatus::Finished(FinalStatus::Completed) => StatusView::Completed,
            RecordStatus::Finished(FinalStatus::Expired) => StatusView::Expired,
            RecordStatus::Finished(FinalStatus::Abandoned) => StatusView::Abandoned,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CardStateView {
    Down,
    Up,
    Matched,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceView {
    // The faces are a static table: a view borrows it instead of copying three strings per card
    // into every answer.
    pub emoji: Cow<'static, str>,
    pub name: Cow<'static, str>,
    pub category: Cow<'static, str>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardView {
    /// Random per game; says nothing about the face.
    pub id: String,
    /// Row-major position in the grid.
    pub position: usize,
    pub state: CardStateView,
    /// Only for cards that are face up or matched.
    pub face: Option<FaceView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GridView {
    pub columns: usize,
    pub rows: usize,
}

/// The state of a game a player may see.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GameView {
    pub game_id: Uuid,
    pub username: String,
    pub difficulty: DifficultyView,
    /// The daily challenge's date (`YYYY-MM-DD`), if this game plays it.
    pub daily: Option<String>,
    pub status: StatusView,
    pub grid: GridView,
    pub total_pairs: u32,
    pub time_limit_ms: i64,
    pub remaining_ms: i64,
    pub elapsed_ms: i64,
    pub score: u32,
    pub moves: u32,
    pub pairs_found: u32,
    pub misses: u32,
    /// The current run of successive hits.
    pub streak: u32,
    pub pauses_left: u8,
    pub started_at: String,
    pub cards: Vec<CardView>,
}

pub fn face_view(card: &humor_game::Card) -> FaceView {
    let f = card.face();
    FaceView {
        emoji: Cow::Borrowed(f.emoji),
        name: Cow::Borrowed(f.name),
        category: Cow::Borrowed(f.category),
    }
}

impl GameView {
    pub fn of(game: &Game, now: i64) -> GameView {
        let rules = game.rules();
        GameView {
            game_id: game.id,
            username: game.username.clone(),
            difficulty: game.difficulty.into(),
            daily: game.daily.clone(),
            status: game.status.into(),
            grid: GridView {
                columns: rules.columns,
                rows: rules.rows,
            },
            total_pairs: rules.pairs as u32,
            time_limit_ms: rules.time_limit_ms,
            remaining_ms: game.remaining_ms(now),
            elapsed_ms: game.elapsed_ms(now),
            score: game.score(now).total(),
            moves: game.tally.moves(),
            pairs_found: game.tally.pairs_found,
            misses: game.tally.misses,
            streak: game.tally.run,
            pauses_left: game.pauses_left(),
            started_at: iso(game.started_at),
            cards: game
                .cards
                .iter()
                .enumerate()
                .map(|(position, c)| CardView {
                    id: c.id.clone(),
                    position,
                    state: match c.state {
                        CardState::Down => CardStateView::Down,
                        CardState::Up => CardStateView::Up,
                        CardState::Matched => CardStateView::Matched,
                    },
                    face: (c.state != CardState::Down).then(|| face_view(c)),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoreBreakdownView {
    pub base_score: u32,
    /// Sum of the per-pair speed bonuses.
    pub pair_bonus: u32,
    /// The game speed bonus (150% of the base when finished within half the time limit).
    pub speed_bonus: u32,
    pub perfect_game_bonus: u32,
    pub streak_bonus: u32,
    pub penalties: u32,
}

impl From<ScoreBreakdown> for ScoreBreakdownView {
    fn from(b: ScoreBreakdown) -> Self {
        ScoreBreakdownView {
            base_score: b.base_score,
            pair_bonus: b.pair_bonus,
            speed_bonus: b.speed_bonus,
            perfect_game_bonus: b.perfect_game_bonus,
            streak_bonus: b.streak_bonus,
            penalties: b.penalties,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceView {
    pub level: String,
    pub emoji: String,
    /// Final score as a percentage of the honest maximum.
    pub percent: f64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AchievementView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub icon: String,
    pub rarity: String,
}

impl From<Achievement> for AchievementView {
    fn from(a: Achievement) -> Self {
        AchievementView {
            id: a.id().into(),
            title: a.title().into(),
            description: a.description().into(),
            icon: a.icon().into(),
            rarity: a.rarity().into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankView {
    pub position: i64,
    pub total_players: i64,
    pub timeframe: String,
    pub difficulty: Option<DifficultyView>,
    pub daily: Option<String>,
}

/// A finished game's result as the API shows it (stored as a [`ResultRecord`]).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GameResult {
    pub game_id: Uuid,
    pub username: String,
    pub difficulty: DifficultyView,
    pub daily: Option<String>,
    pub final_score: u32,
    pub score_breakdown: ScoreBreakdownView,
    /// The honest maximum for the difficulty.
    pub max_score: u32,
    pub performance: PerformanceView,
    pub time_elapsed_ms: i64,
    pub total_moves: u32,
    pub matches_found: u32,
    pub misses: u32,
    /// Pairs found per move, in percent (one decimal).
    pub accuracy: f64,
    pub achievements: Vec<AchievementView>,
    /// The player's place right after this game (all-time board of the difficulty, or the daily board).
    pub rank: Option<RankView>,
    pub completed_at: String,
}

impl From<&crate::service::games::Rank> for RankView {
    fn from(rank: &crate::service::games::Rank) -> RankView {
        let daily = match &rank.board.kind {
            humor_store::BoardKind::Daily(date) => Some(date.clone()),
            _ => None,
        };
        RankView {
            position: rank.position,
            total_players: rank.total_players,
            timeframe: if daily.is_some() { "daily" } else { "all" }.into(),
            difficulty: rank.board.difficulty.map(DifficultyView::from),
            daily,
        }
    }
}

impl From<&crate::service::games::Completion> for GameResult {
    fn from(c: &crate::service::games::Completion) -> GameResult {
        let mut result = GameResult::view(
            ResultOwner {
                game_id: c.game_id,
                username: &c.username,
                difficulty: c.difficulty,
                daily: c.daily.as_deref(),
            },
            &c.record,
        );
        result.rank = c.rank.as_ref().map(RankView::from);
        result
    }
}

impl GameResult {
    /// The result of a completed game (without rank, which changes over time).
    pub fn of(game: &Game) -> Option<GameResult> {
        let record = result_record(game)?;
        Some(GameResult::view(
            ResultOwner {
                game_id: game.id,
                username: &game.username,
                difficulty: game.difficulty,
                daily: game.daily.as_deref(),
            },
            &record,
        ))
    }

    /// The API's view of a result record (live or stored: the same computation).
    pub fn view(owner: ResultOwner<'_>, record: &ResultRecord) -> GameResult {
        let total = record.breakdown.total();
        let max = scoring::max_score(owner.difficulty);
        let performance = Performance::for_score(total, max);
        GameResult {
            game_id: owner.game_id,
            username: owner.username.to_string(),
            difficulty: owner.difficulty.into(),
            daily: owner.daily.map(String::from),
            final_score: total,
            score_breakdown: record.breakdown.into(),
            max_score: max,
            performance: PerformanceView {
                level: performance.label().into(),
                emoji: performance.emoji().into(),
                percent: scoring::percent_of(total, max),
                message: performance.message().into(),
            },
            time_elapsed_ms: record.time_ms,
            total_moves: record.moves,
            matches_found: record.pairs_found,
            misses: record.misses,
            accuracy: scoring::accuracy(record.pairs_found, record.moves),
            achievements: record
                .achievements
                .iter()
                .copied()
                .map(Into::into)
                .collect(),
            rank: None,
            completed_at: iso(record.completed_at_ms),
        }
    }
}

/// The facts of a completed game's result, as they are stored.
pub fn result_record(game: &Game) -> Option<ResultRecord> {
    let breakdown = game.final_score().ok()?;
    let finished = game.finished_at?;
    Some(ResultRecord {
        breakdown,
        time_ms: game.elapsed_ms(finished),
        moves: game.tally.moves(),
        pairs_found: game.tally.pairs_found,
        misses: game.tally.misses,
        achievements: scoring::achievements(&game.tally, &breakdown),
        completed_at_ms: finished,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerView {
    pub username: String,
    /// True when this request claimed the name.
    pub is_new: bool,
    /// The player token: returned only once, when the name is claimed. Keep it like a password.
    pub token: Option<String>,
}

impl From<crate::service::players::Claim> for PlayerView {
    fn from(c: crate::service::players::Claim) -> PlayerView {
        PlayerView {
            username: c.username,
            is_new: c.is_new,
            token: c.token,
        }
    }
}

/// Formats milliseconds as the original's `42.0s`.
pub fn seconds_label(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}
