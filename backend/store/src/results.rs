//! A completed game's result as it is kept: a domain record with its own JSON forms
//! (`games.result`), defined here and independent of how the API shows a result, so the API may
//! rename a field without touching history.
//!
//! Written now: the first release's document ([`DocumentV1`], no `version` key), frozen here,
//! because a rollback runs the previous release against rows this one wrote and that release
//! reads only this form. Also read: version 2 (`{"version":2,"score":{...},...}`), the compact
//! form a later release may write once every release it can roll back to reads it (expand now,
//! switch later: docs/decisions.md).

use crate::{Result, StoreError};
use humor_game::scoring::{self, Achievement, Performance, ScoreBreakdown};
use humor_game::time_text::iso;
use humor_game::Difficulty;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The facts of a completed game's result; everything the API shows is computed from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRecord {
    pub breakdown: ScoreBreakdown,
    /// Playing time, pauses excluded.
    pub time_ms: i64,
    pub moves: u32,
    pub pairs_found: u32,
    pub misses: u32,
    pub achievements: Vec<Achievement>,
    pub completed_at_ms: i64,
}

/// Which game a result belongs to (the stored document names it).
#[derive(Debug, Clone, Copy)]
pub struct ResultOwner<'a> {
    pub game_id: Uuid,
    pub username: &'a str,
    pub difficulty: Difficulty,
    pub daily: Option<&'a str>,
}

/// The first release's result document, field for field: what every release so far reads.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocumentV1 {
    game_id: Uuid,
    username: String,
    difficulty: String,
    daily: Option<String>,
    final_score: u32,
    score_breakdown: BreakdownV1,
    max_score: u32,
    performance: PerformanceV1,
    time_elapsed_ms: i64,
    total_moves: u32,
    matches_found: u32,
    misses: u32,
    accuracy: f64,
    achievements: Vec<AchievementV1>,
    /// Always null when stored: a rank changes over time.
    rank: Option<serde_json::Value>,
    completed_at: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BreakdownV1 {
    base_score: u32,
    pair_bonus: u32,
    speed_bonus: u32,
    perfect_game_bonus: u32,
    streak_bonus: u32,
    penalties: u32,
}

#[derive(Serialize, Deserialize)]
struct PerformanceV1 {
    level: String,
    emoji: String,
    percent: f64,
    message: String,
}

#[derive(Serialize, Deserialize)]
struct AchievementV1 {
    id: String,
    title: String,
    description: String,
    icon: String,
    rarity: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoreV2 {
    base: u32,
    pair_bonus: u32,
    speed_bonus: u32,
    perfect_game_bonus: u32,
    streak_bonus: u32,
    penalties: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordV2 {
    score: ScoreV2,
    time_ms: i64,
    moves: u32,
    pairs_found: u32,
    misses: u32,
    achievements: Vec<String>,
    completed_at_ms: i64,
}

#[derive(Deserialize)]
struct Versioned {
    version: Option<u64>,
}

fn achievement(id: &str) -> Result<Achievement> {
    Achievement::from_id(id).ok_or_else(|| StoreError::Corrupt(format!("achievement {id:?}")))
}

impl ResultRecord {
    /// The stored form: the first release's document (see the module's note).
    pub fn to_json(&self, owner: ResultOwner<'_>) -> Result<String> {
        let b = &self.breakdown;
        let total = b.total();
        let max = scoring::max_score(owner.difficulty);
        let performance = Performance::for_score(total, max);
        let document = DocumentV1 {
            game_id: owner.game_id,
            username: owner.username.into(),
            difficulty: owner.difficulty.as_str().into(),
            daily: owner.daily.map(String::from),
            final_score: total,
            score_breakdown: BreakdownV1 {
                base_score: b.base_score,
                pair_bonus: b.pair_bonus,
                speed_bonus: b.speed_bonus,
                perfect_game_bonus: b.perfect_game_bonus,
                streak_bonus: b.streak_bonus,
                penalties: b.penalties,
            },
            max_score: max,
            performance: PerformanceV1 {
                level: performance.label().into(),
                emoji: performance.emoji().into(),
                percent: scoring::percent_of(total, max),
                message: performance.message().into(),
            },
            time_elapsed_ms: self.time_ms,
            total_moves: self.moves,
            matches_found: self.pairs_found,
            misses: self.misses,
            accuracy: scoring::accuracy(self.pairs_found, self.moves),
            achievements: self
                .achievements
                .iter()
                .map(|a| AchievementV1 {
                    id: a.id().into(),
                    title: a.title().into(),
                    description: a.description().into(),
                    icon: a.icon().into(),
                    rarity: a.rarity().into(),
                })
                .collect(),
            rank: None,
            completed_at: iso(self.completed_at_ms),
        };
        serde_json::to_string(&document).map_err(|e| StoreError::Other(format!("result: {e}")))
    }

    /// Reads any stored form. `finished_at_ms` is the row's end time (the first form keeps the
    /// time only as text). Anything unreadable is [`StoreError::Corrupt`].
    pub fn from_json(json: &str, finished_at_ms: i64) -> Result<ResultRecord> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("stored result: {e}"));
        let version = serde_json::from_str::<Versioned>(json)
            .map_err(corrupt)?
            .version;
        match version {
            None => {
                let r: DocumentV1 = serde_json::from_str(json).map_err(corrupt)?;
                let b = r.score_breakdown;
                Ok(ResultRecord {
                    breakdown: ScoreBreakdown {
                        base_score: b.base_score,
                        pair_bonus: b.pair_bonus,
                        speed_bonus: b.speed_bonus,
                        perfect_game_bonus: b.perfect_game_bonus,
                        streak_bonus: b.streak_bonus,
                        penalties: b.penalties,
                    },
                    time_ms: r.time_elapsed_ms,
                    moves: r.total_moves,
                    pairs_found: r.matches_found,
                    misses: r.misses,
                    achievements: r
                        .achievements
                        .iter()
                        .map(|a| achievement(&a.id))
                        .collect::<Result<_>>()?,
                    completed_at_ms: finished_at_ms,
                })
            }
            Some(2) => {
                let r: RecordV2 = serde_json::from_str(json).map_err(corrupt)?;
                Ok(ResultRecord {
                    breakdown: ScoreBreakdown {
                        base_score: r.score.base,
                        pair_bonus: r.score.pair_bonus,
                        speed_bonus: r.score.speed_bonus,
                        perfect_game_bonus: r.score.perfect_game_bonus,
                        streak_bonus: r.score.streak_bonus,
                        penalties: r.score.penalties,
                    },
                    time_ms: r.time_ms,
                    moves: r.moves,
                    pairs_found: r.pairs_found,
                    misses: r.misses,
                    achievements: r
                        .achievements
                        .iter()
                        .map(|id| achievement(id))
                        .collect::<Result<_>>()?,
                    completed_at_ms: r.completed_at_ms,
                })
            }
            Some(other) => Err(StoreError::Corrupt(format!(
                "stored result version {other} is newer than this release reads"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ResultRecord {
        ResultRecord {
            breakdown: ScoreBreakdown {
                base_score: 80,
                pair_bonus: 12,
                speed_bonus: 120,
                perfect_game_bonus: 50,
                streak_bonus: 18,
                penalties: 0,
            },
            time_ms: 21_000,
            moves: 8,
            pairs_found: 8,
            misses: 0,
            achievements: vec![Achievement::PerfectMemory, Achievement::SpeedDemon],
            completed_at_ms: 1_764_000_000_000,
        }
    }

    fn owner() -> ResultOwner<'static> {
        ResultOwner {
            game_id: Uuid::from_u128(1),
            username: "alice",
            difficulty: Difficulty::Easy,
            daily: None,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let json = record().to_json(owner()).expect("writes");
        assert_eq!(
            ResultRecord::from_json(&json, record().completed_at_ms).expect("reads"),
            record()
        );
    }

    /// The first release's `GameResult`, as its `stored_result` parsed `games.result`: every field
    /// required, with its type. What this release writes must parse as that, or a rollback to the
    /// previous release fails on every game this one completed.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)] // the fields are there to be required, not read
    struct FirstReleaseResult {
        game_id: Uuid,
        username: String,
        difficulty: FirstReleaseDifficulty,
        daily: Option<String>,
        final_score: u32,
        score_breakdown: BreakdownV1,
        max_score: u32,
        performance: PerformanceV1,
        time_elapsed_ms: i64,
        total_moves: u32,
        matches_found: u32,
        misses: u32,
        accuracy: f64,
        achievements: Vec<AchievementV1>,
        rank: Option<serde_json::Value>,
        completed_at: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum FirstReleaseDifficulty {
        Easy,
        Medium,
        Hard,
        Expert,
    }

    #[test]
    fn what_is_written_is_the_first_releases_document_with_its_values() {
        let json = record().to_json(owner()).expect("writes");
        let parsed: FirstReleaseResult =
            serde_json::from_str(&json).expect("the first release reads it");
        assert_eq!(parsed.final_score, 280);
        assert_eq!(parsed.max_score, scoring::max_score(Difficulty::Easy));
        assert_eq!(parsed.accuracy, 100.0);
        assert_eq!(parsed.completed_at, "2025-11-24T16:00:00.000Z");
        assert_eq!(parsed.achievements[1].id, "speed_demon");
        assert_eq!(
            parsed.achievements[1].title,
            Achievement::SpeedDemon.title()
        );
        assert!(parsed.rank.is_none());
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert!(value.get("version").is_none(), "{json}");
    }

    #[test]
    fn a_result_stored_by_the_first_release_is_still_read() {
        let legacy = r#"{"gameId":"00000000-0000-4000-8000-000000000001","username":"alice",
            "difficulty":"easy","daily":null,"finalScore":280,
            "scoreBreakdown":{"baseScore":80,"pairBonus":12,"speedBonus":120,"perfectGameBonus":50,
              "streakBonus":18,"penalties":0},
            "maxScore":314,"performance":{"level":"excellent","emoji":"🏆","percent":89.2,"message":"m"},
            "timeElapsedMs":21000,"totalMoves":8,"matchesFound":8,"misses":0,"accuracy":100.0,
            "achievements":[{"id":"perfect_memory","title":"t","description":"d","icon":"i","rarity":"r"},
              {"id":"speed_demon","title":"t","description":"d","icon":"i","rarity":"r"}],
            "rank":null,"completedAt":"2025-11-24T16:00:00.000Z"}"#;
        assert_eq!(
            ResultRecord::from_json(legacy, 1_764_000_000_000).expect("reads"),
            record()
        );
    }

    const V2: &str = r#"{"version":2,"score":{"base":80,"pairBonus":12,"speedBonus":120,
        "perfectGameBonus":50,"streakBonus":18,"penalties":0},"timeMs":21000,"moves":8,
        "pairsFound":8,"misses":0,"achievements":["perfect_memory","speed_demon"],
        "completedAtMs":1764000000000}"#;

    #[test]
    fn the_compact_version_2_is_read_for_a_release_that_writes_it() {
        assert_eq!(ResultRecord::from_json(V2, 0).expect("reads"), record());
    }

    #[test]
    fn unreadable_results_are_errors_not_defaults() {
        for bad in [
            "not json",
            "{\"version\":3}",
            "{\"version\":2,\"score\":{}}",
            &V2.replace("speed_demon", "mind_reader"),
            &record()
                .to_json(owner())
                .expect("writes")
                .replace("speed_demon", "mind_reader"),
        ] {
            assert!(
                matches!(ResultRecord::from_json(bad, 0), Err(StoreError::Corrupt(_))),
                "{bad}"
            );
        }
    }
}
