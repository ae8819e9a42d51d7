//! Scores, performance levels and achievements.

use crate::difficulty::{Difficulty, Rules};
use serde::{Deserialize, Serialize};

pub const PERFECT_GAME_BONUS: u32 = 50;
pub const STREAK_POINTS_PER_PAIR: u32 = 3;
pub const STREAK_MIN_RUN: u32 = 3;
pub const MAX_STREAK_BONUS: u32 = 30;
pub const FREE_MISSES: u32 = 2;
pub const PENALTY_PER_MISS: u32 = 2;
/// A run of this many successive hits earns "Streak Master".
pub const STREAK_MASTER_RUN: u32 = 5;

/// What a game has earned so far; enough to compute every score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub pairs_found: u32,
    /// Sum of the per-pair speed bonuses earned.
    pub pair_bonus: u32,
    pub misses: u32,
    /// Length of the current run of successive hits.
    pub run: u32,
    pub best_run: u32,
    /// Streak points of runs that have ended.
    pub closed_streak_points: u32,
}

impl Tally {
    pub fn moves(&self) -> u32 {
        self.pairs_found + self.misses
    }

    pub fn record_hit(&mut self, pair_bonus: u32) {
        self.pairs_found += 1;
        self.pair_bonus += pair_bonus;
        self.run += 1;
        self.best_run = self.best_run.max(self.run);
    }

    pub fn record_miss(&mut self) {
        self.misses += 1;
        self.closed_streak_points += run_points(self.run);
        self.run = 0;
    }

    pub fn streak_bonus(&self) -> u32 {
        (self.closed_streak_points + run_points(self.run)).min(MAX_STREAK_BONUS)
    }

    pub fn penalties(&self) -> u32 {
        self.misses.saturating_sub(FREE_MISSES) * PENALTY_PER_MISS
    }
}

fn run_points(run: u32) -> u32 {
    if run >= STREAK_MIN_RUN {
        run * STREAK_POINTS_PER_PAIR
    } else {
        0
    }
}

/// The parts of a score, as shown to the player.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreBreakdown {
    pub base_score: u32,
    pub pair_bonus: u32,
    pub speed_bonus: u32,
    pub perfect_game_bonus: u32,
    pub streak_bonus: u32,
    pub penalties: u32,
}

impl ScoreBreakdown {
    pub fn total(&self) -> u32 {
        (self.base_score
            + self.pair_bonus
            + self.speed_bonus
            + self.perfect_game_bonus
            + self.streak_bonus)
            .saturating_sub(self.penalties)
    }
}

/// The score over the moves so far; the completion bonuses are added only once `finished`
/// (with the elapsed playing time, pauses excluded).
pub fn breakdown(rules: &Rules, tally: &Tally, finished: Option<i64>) -> ScoreBreakdown {
    let base_score = tally.pairs_found * rules.points_per_pair;
    let (speed_bonus, perfect_game_bonus) = match finished {
        Some(elapsed_ms) => (
            if elapsed_ms <= rules.time_limit_ms / 2 {
                base_score * 3 / 2
            } else {
                0
            },
            if tally.misses == 0 {
                PERFECT_GAME_BONUS
            } else {
                0
            },
        ),
        None => (0, 0),
    };
    ScoreBreakdown {
        base_score,
        pair_bonus: tally.pair_bonus,
        speed_bonus,
        perfect_game_bonus,
        streak_bonus: tally.streak_bonus(),
        penalties: tally.penalties(),
    }
}

/// The honest maximum: every attempt a fast hit, finished within half the time limit.
pub fn max_score(difficulty: Difficulty) -> u32 {
    let rules = difficulty.rules();
    let mut tally = Tally::default();
    for _ in 0..rules.pairs {
        tally.record_hit(rules.pair_speed_bonus);
    }
    breakdown(&rules, &tally, Some(0)).total()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Performance {
    Legendary,
    Excellent,
    Great,
    Good,
    Average,
    Practice,
}

impl Performance {
    /// The level for `score` out of the honest maximum `max`.
    pub fn for_score(score: u32, max: u32) -> Performance {
        let percent = percent_of(score, max);
        match percent {
            p if p >= 90.0 => Performance::Legendary,
            p if p >= 80.0 => Performance::Excellent,
            p if p >= 70.0 => Performance::Great,
            p if p >= 60.0 => Performance::Good,
            p if p >= 50.0 => Performance::Average,
            _ => Performance::Practice,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Performance::Legendary => "Legendary",
            Performance::Excellent => "Excellent",
            Performance::Great => "Great",
            Performance::Good => "Good",
            Performance::Average => "Average",
            Performance::Practice => "Practice",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            Performance::Legendary => "🏆",
            Performance::Excellent => "⭐",
            Performance::Great => "🎯",
            Performance::Good => "👍",
            Performance::Average => "😊",
            Performance::Practice => "💪",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Performance::Legendary => "Memory Master! Elephants are taking notes.",
            Performance::Excellent => "Excellent! Your brain cells are doing a victory dance.",
            Performance::Great => "Great game! Sharp as a freshly cut pizza.",
            Performance::Good => "Good job! The cards respect you now.",
            Performance::Average => "Not bad! Your memory is warming up.",
            Performance::Practice => "Practice makes perfect. The emojis believe in you!",
        }
    }
}

/// `score / max` as a percentage with one decimal, capped at 100.
pub fn percent_of(score: u32, max: u32) -> f64 {
    if max == 0 {
        return 0.0;
    }
    let p = (f64::from(score) * 1000.0 / f64::from(max)).round() / 10.0;
    p.min(100.0)
}

/// Pairs found per move, in percent with one decimal.
pub fn accuracy(pairs_found: u32, moves: u32) -> f64 {
    if moves == 0 {
        return 0.0;
    }
    (f64::from(pairs_found) * 1000.0 / f64::from(moves)).round() / 10.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Achievement {
    PerfectMemory,
    SpeedDemon,
    StreakMaster,
    SharpMind,
}

impl Achievement {
    pub const ALL: [Achievement; 4] = [
        Achievement::PerfectMemory,
        Achievement::SpeedDemon,
        Achievement::StreakMaster,
        Achievement::SharpMind,
    ];

    /// The achievement with this [`Achievement::id`].
    pub fn from_id(id: &str) -> Option<Achievement> {
        Achievement::ALL.into_iter().find(|a| a.id() == id)
    }

    pub fn id(self) -> &'static str {
        match self {
            Achievement::PerfectMemory => "perfect_memory",
            Achievement::SpeedDemon => "speed_demon",
            Achievement::StreakMaster => "streak_master",
            Achievement::SharpMind => "sharp_mind",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Achievement::PerfectMemory => "Perfect Memory!",
            Achievement::SpeedDemon => "Speed Demon!",
            Achievement::StreakMaster => "Streak Master!",
            Achievement::SharpMind => "Sharp Mind!",
        }
    }
    pub fn description(self) -> &'static str {
        match self {
            Achievement::PerfectMemory => "Found every pair without a single miss.",
            Achievement::SpeedDemon => "Finished within half the time limit.",
            Achievement::StreakMaster => "Found 5 or more pairs in a row.",
            Achievement::SharpMind => "Needed at most two extra moves.",
        }
    }
    pub fn icon(self) -> &'static str {
        match self {
            Achievement::PerfectMemory => "🧠",
            Achievement::SpeedDemon => "⚡",
            Achievement::StreakMaster => "🔥",
            Achievement::SharpMind => "🎯",
        }
    }
    pub fn rarity(self) -> &'static str {
        match self {
            Achievement::PerfectMemory => "legendary",
            Achievement::SpeedDemon => "rare",
            Achievement::StreakMaster => "epic",
            Achievement::SharpMind => "uncommon",
        }
    }
}

/// Achievements of a finished game.
pub fn achievements(tally: &Tally, score: &ScoreBreakdown) -> Vec<Achievement> {
    let mut earned = Vec::new();
    if tally.misses == 0 && tally.pairs_found > 0 {
        earned.push(Achievement::PerfectMemory);
    }
    if score.speed_bonus > 0 {
        earned.push(Achievement::SpeedDemon);
    }
    if tally.best_run >= STREAK_MASTER_RUN {
        earned.push(Achievement::StreakMaster);
    }
    if tally.pairs_found > 0 && tally.moves() <= tally.pairs_found + 2 {
        earned.push(Achievement::SharpMind);
    }
    earned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_maxima_are_documented_values() {
        assert_eq!(max_score(Difficulty::Easy), 314);
        assert_eq!(max_score(Difficulty::Medium), 535);
        assert_eq!(max_score(Difficulty::Hard), 824);
        assert_eq!(max_score(Difficulty::Expert), 1242);
    }

    #[test]
    fn the_originals_example_game_scores_as_documented() {
        // 8 hits and 1 miss (after the 4th hit), slow pairs, 95 s on easy.
        let rules = Difficulty::Easy.rules();
        let mut t = Tally::default();
        for _ in 0..4 {
            t.record_hit(0);
        }
        t.record_miss();
        for _ in 0..4 {
            t.record_hit(0);
        }
        let b = breakdown(&rules, &t, Some(95_000));
        assert_eq!(b.base_score, 80);
        assert_eq!(b.speed_bonus, 120);
        assert_eq!(b.perfect_game_bonus, 0);
        assert_eq!(b.streak_bonus, 24); // two runs of 4 -> 12 + 12
        assert_eq!(b.penalties, 0);
        assert_eq!(b.total(), 224);
    }

    #[test]
    fn streak_bonus_counts_runs_of_three_or_more_and_is_capped() {
        let mut t = Tally::default();
        t.record_hit(0);
        t.record_hit(0);
        t.record_miss();
        assert_eq!(t.streak_bonus(), 0);
        for _ in 0..3 {
            t.record_hit(0);
        }
        assert_eq!(t.streak_bonus(), 9);
        t.record_miss();
        for _ in 0..10 {
            t.record_hit(0);
        }
        assert_eq!(t.streak_bonus(), 30);
    }

    #[test]
    fn penalties_start_after_two_misses_and_the_score_never_goes_negative() {
        let rules = Difficulty::Easy.rules();
        let mut t = Tally::default();
        for _ in 0..40 {
            t.record_miss();
        }
        assert_eq!(t.penalties(), 76);
        assert_eq!(breakdown(&rules, &t, None).total(), 0);
    }

    #[test]
    fn performance_levels_follow_the_percentage() {
        assert_eq!(Performance::for_score(314, 314), Performance::Legendary);
        assert_eq!(Performance::for_score(283, 314), Performance::Legendary);
        assert_eq!(Performance::for_score(282, 314), Performance::Excellent);
        assert_eq!(Performance::for_score(0, 314), Performance::Practice);
        assert_eq!(Performance::for_score(157, 314), Performance::Average);
    }

    #[test]
    fn a_perfect_fast_game_earns_every_achievement() {
        let rules = Difficulty::Easy.rules();
        let mut t = Tally::default();
        for _ in 0..8 {
            t.record_hit(5);
        }
        let b = breakdown(&rules, &t, Some(1000));
        let a = achievements(&t, &b);
        assert_eq!(a.len(), 4);
    }
}
