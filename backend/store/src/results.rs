//! A completed game's result as it is kept: a domain record with its own versioned JSON form
//! (`games.result`), independent of how the API shows a result, so the API may rename a field
//! without touching history.
//!
//! Version 2 (written now): `{"version":2,"score":{...},"timeMs":..,...}`. Rows written before
//! versioning hold the API's result document of the time (no `version`); they are still read.

use crate::{Result, StoreError};
use humor_game::scoring::{Achievement, ScoreBreakdown};
use serde::{Deserialize, Serialize};

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

const VERSION: u8 = 2;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScoreV2 {
    base: u32,
    pair_bonus: u32,
    speed_bonus: u32,
    perfect_game_bonus: u32,
    streak_bonus: u32,
    penalties: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordV2 {
    version: u8,
    score: ScoreV2,
    time_ms: i64,
    moves: u32,
    pairs_found: u32,
    misses: u32,
    achievements: Vec<String>,
    completed_at_ms: i64,
}

/// The API's result document as the first release stored it (only what the record needs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyResult {
    score_breakdown: LegacyBreakdown,
    time_elapsed_ms: i64,
    total_moves: u32,
    matches_found: u32,
    misses: u32,
    achievements: Vec<LegacyAchievement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LegacyBreakdown {
    base_score: u32,
    pair_bonus: u32,
    speed_bonus: u32,
    perfect_game_bonus: u32,
    streak_bonus: u32,
    penalties: u32,
}

#[derive(Deserialize)]
struct LegacyAchievement {
    id: String,
}

#[derive(Deserialize)]
struct Versioned {
    version: Option<u64>,
}

fn achievement(id: &str) -> Result<Achievement> {
    Achievement::from_id(id).ok_or_else(|| StoreError::Corrupt(format!("achievement {id:?}")))
}

impl ResultRecord {
    /// The stored form (always the current version).
    pub fn to_json(&self) -> Result<String> {
        let b = &self.breakdown;
        let record = RecordV2 {
            version: VERSION,
            score: ScoreV2 {
                base: b.base_score,
                pair_bonus: b.pair_bonus,
                speed_bonus: b.speed_bonus,
                perfect_game_bonus: b.perfect_game_bonus,
                streak_bonus: b.streak_bonus,
                penalties: b.penalties,
            },
            time_ms: self.time_ms,
            moves: self.moves,
            pairs_found: self.pairs_found,
            misses: self.misses,
            achievements: self.achievements.iter().map(|a| a.id().into()).collect(),
            completed_at_ms: self.completed_at_ms,
        };
        serde_json::to_string(&record).map_err(|e| StoreError::Other(format!("result: {e}")))
    }

    /// Reads any stored version. `finished_at_ms` is the row's end time (the legacy form kept the
    /// time only as text). Anything unreadable is [`StoreError::Corrupt`].
    pub fn from_json(json: &str, finished_at_ms: i64) -> Result<ResultRecord> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("stored result: {e}"));
        let version = serde_json::from_str::<Versioned>(json)
            .map_err(corrupt)?
            .version;
        match version {
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
            None => {
                let r: LegacyResult = serde_json::from_str(json).map_err(corrupt)?;
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

    #[test]
    fn a_record_reads_back_as_written_with_its_version() {
        let json = record().to_json().expect("writes");
        assert!(json.starts_with("{\"version\":2,"), "{json}");
        assert_eq!(ResultRecord::from_json(&json, 0).expect("reads"), record());
    }

    #[test]
    fn a_result_stored_before_versioning_is_still_read() {
        // The API's result document as the first release wrote it into games.result.
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

    #[test]
    fn unreadable_results_are_errors_not_defaults() {
        for bad in [
            "not json",
            "{\"version\":3}",
            "{\"version\":2,\"score\":{}}",
            &record()
                .to_json()
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
