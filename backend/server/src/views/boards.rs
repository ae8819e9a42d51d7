//! What the leaderboard and score endpoints show, built from what the boards service read.

use super::{seconds_label, DifficultyView, StatusView};
use crate::clock::iso;
use crate::service::boards::{Leaderboard, PlayerRecord, Scores, Standing};
use humor_game::Difficulty;
use humor_store::{BoardKind, BoardRow, GlobalStats, ScoreRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardRow {
    pub rank: i64,
    pub username: String,
    pub best_score: i64,
    pub best_time_ms: i64,
    /// The best time as the original app showed it, e.g. `42.0s`.
    pub time_formatted: String,
    /// The difficulty of the player's best game.
    pub difficulty: DifficultyView,
    pub games_completed: i64,
    pub average_score: f64,
    pub last_completed_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardMetadata {
    pub timeframe: String,
    /// `2026-W48` for week, `2026-11` for month.
    pub period: Option<String>,
    pub difficulty: Option<DifficultyView>,
    pub daily: Option<String>,
    pub total_players: i64,
    pub last_updated: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardResponse {
    pub success: bool,
    pub leaderboard: Vec<LeaderboardRow>,
    pub metadata: LeaderboardMetadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRank {
    pub username: String,
    pub rank: i64,
    pub best_score: i64,
    pub best_time_ms: i64,
    pub total_ranked_players: i64,
    /// Share of ranked players at or below this one, in percent.
    pub percentile: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankResponse {
    pub success: bool,
    pub user_rank: UserRank,
    /// Rows around the player.
    pub context: Vec<LeaderboardRow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverallStats {
    pub total_players: i64,
    pub total_games: i64,
    pub completed_games: i64,
    pub expired_games: i64,
    pub abandoned_games: i64,
    /// Games started and not finished (live right now, or never finished).
    pub active_games: i64,
    pub highest_score: i64,
    /// Completed games per started game, in percent.
    pub completion_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DifficultyStatsView {
    pub difficulty: DifficultyView,
    pub games_played: i64,
    pub completed_games: i64,
    pub average_score: f64,
    pub max_score: i64,
    pub average_time_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoreRowView {
    pub username: String,
    pub difficulty: DifficultyView,
    pub daily: Option<String>,
    pub score: i64,
    pub time_ms: i64,
    pub completed_at: String,
}

impl From<ScoreRow> for ScoreRowView {
    fn from(r: ScoreRow) -> Self {
        ScoreRowView {
            username: r.username,
            difficulty: r.difficulty.into(),
            daily: r.daily,
            score: r.score,
            time_ms: r.time_ms,
            completed_at: iso(r.completed_at_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    pub highest_score: Option<ScoreRowView>,
    pub fastest_time: Option<ScoreRowView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    pub overall: OverallStats,
    pub by_difficulty: Vec<DifficultyStatsView>,
    pub records: Records,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsResponse {
    pub success: bool,
    pub statistics: Statistics,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoresResponse {
    pub success: bool,
    pub recent: Vec<ScoreRowView>,
    pub top: Vec<ScoreRowView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub username: String,
    pub created_at: String,
    pub last_played_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerStatistics {
    pub games_started: i64,
    pub games_completed: i64,
    pub total_score: i64,
    pub best_score: i64,
    pub average_score: f64,
    pub fastest_time_ms: Option<i64>,
    pub perfect_games: i64,
    /// Rank on the all-time, all-difficulties board.
    pub global_rank: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub game_id: uuid::Uuid,
    pub difficulty: DifficultyView,
    pub daily: Option<String>,
    pub status: StatusView,
    pub score: i64,
    pub time_ms: i64,
    pub moves: i64,
    pub pauses: i64,
    pub started_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub items: Vec<HistoryItem>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerScoresResponse {
    pub success: bool,
    pub user: UserInfo,
    pub statistics: PlayerStatistics,
    pub history: History,
}

fn average(total: i64, count: i64) -> f64 {
    if count == 0 {
        0.0
    } else {
        (total as f64 * 10.0 / count as f64).round() / 10.0
    }
}

fn row_view(r: BoardRow) -> LeaderboardRow {
    LeaderboardRow {
        rank: r.rank,
        username: r.username,
        best_score: r.best_score,
        best_time_ms: r.best_time_ms,
        time_formatted: seconds_label(r.best_time_ms),
        difficulty: r.difficulty.into(),
        games_completed: r.games_completed,
        average_score: average(r.total_score, r.games_completed),
        last_completed_at: iso(r.last_completed_at_ms),
    }
}

impl LeaderboardResponse {
    pub fn of(b: &Leaderboard) -> LeaderboardResponse {
        let daily = matches!(b.board.kind, BoardKind::Daily(_));
        LeaderboardResponse {
            success: true,
            leaderboard: b.rows.iter().cloned().map(row_view).collect(),
            metadata: LeaderboardMetadata {
                timeframe: if daily {
                    "daily".into()
                } else {
                    serde_json::to_value(b.timeframe)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                },
                period: b.period.clone().filter(|_| !daily),
                difficulty: b.board.difficulty.map(DifficultyView::from),
                daily: match &b.board.kind {
                    BoardKind::Daily(d) => Some(d.clone()),
                    _ => None,
                },
                total_players: b.total_players,
                last_updated: iso(b.as_of_ms),
            },
        }
    }
}

impl From<Standing> for RankResponse {
    fn from(s: Standing) -> RankResponse {
        let (row, total) = (s.row, s.total_players);
        RankResponse {
            success: true,
            user_rank: UserRank {
                username: row.username.clone(),
                rank: row.rank,
                best_score: row.best_score,
                best_time_ms: row.best_time_ms,
                total_ranked_players: total,
                percentile: ((total - row.rank + 1) as f64 * 1000.0 / total as f64).round() / 10.0,
            },
            context: s.around.into_iter().map(row_view).collect(),
        }
    }
}

impl From<GlobalStats> for StatsResponse {
    fn from(s: GlobalStats) -> StatsResponse {
        let mut overall = OverallStats {
            total_players: s.players,
            total_games: 0,
            completed_games: 0,
            expired_games: 0,
            abandoned_games: 0,
            active_games: 0,
            highest_score: s.highest.as_ref().map_or(0, |h| h.score),
            completion_rate: 0.0,
        };
        let mut by_difficulty = Vec::new();
        for d in Difficulty::ALL {
            let Some(row) = s.by_difficulty.iter().find(|r| r.difficulty == d) else {
                continue;
            };
            overall.total_games += row.games_started;
            overall.completed_games += row.games_completed;
            overall.expired_games += row.games_expired;
            overall.abandoned_games += row.games_abandoned;
            by_difficulty.push(DifficultyStatsView {
                difficulty: row.difficulty.into(),
                games_played: row.games_started,
                completed_games: row.games_completed,
                average_score: average(row.total_score, row.games_completed),
                max_score: row.max_score,
                average_time_ms: if row.games_completed == 0 {
                    0
                } else {
                    row.total_time_ms / row.games_completed
                },
            });
        }
        overall.active_games = (overall.total_games
            - overall.completed_games
            - overall.expired_games
            - overall.abandoned_games)
            .max(0);
        overall.completion_rate = average(overall.completed_games * 100, overall.total_games);
        StatsResponse {
            success: true,
            statistics: Statistics {
                overall,
                by_difficulty,
                records: Records {
                    highest_score: s.highest.map(Into::into),
                    fastest_time: s.fastest.map(Into::into),
                },
            },
        }
    }
}

impl From<Scores> for ScoresResponse {
    fn from(s: Scores) -> ScoresResponse {
        ScoresResponse {
            success: true,
            recent: s.recent.into_iter().map(Into::into).collect(),
            top: s.top.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<PlayerRecord> for PlayerScoresResponse {
    fn from(r: PlayerRecord) -> PlayerScoresResponse {
        let p = r.player;
        PlayerScoresResponse {
            success: true,
            user: UserInfo {
                username: p.username.clone(),
                created_at: iso(p.created_at_ms),
                last_played_at: p.last_played_at_ms.map(iso),
            },
            statistics: PlayerStatistics {
                games_started: p.games_started,
                games_completed: p.games_completed,
                total_score: p.total_score,
                best_score: p.best_score,
                average_score: average(p.total_score, p.games_completed),
                fastest_time_ms: p.best_time_ms,
                perfect_games: p.perfect_games,
                global_rank: r.global_rank,
            },
            history: History {
                items: r
                    .games
                    .into_iter()
                    .map(|g| HistoryItem {
                        game_id: g.id,
                        difficulty: g.difficulty.into(),
                        daily: g.daily,
                        status: g.status.into(),
                        score: g.score,
                        time_ms: g.time_ms,
                        moves: g.moves,
                        pauses: g.pauses,
                        started_at: iso(g.started_at_ms),
                        completed_at: g.finished_at_ms.map(iso),
                    })
                    .collect(),
                total: r.total_games,
                limit: r.limit,
                offset: r.offset,
            },
        }
    }
}
