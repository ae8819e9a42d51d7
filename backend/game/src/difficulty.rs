//! The four difficulties and their rules.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
    Expert,
}

/// Everything a difficulty decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub pairs: usize,
    pub columns: usize,
    pub rows: usize,
    pub points_per_pair: u32,
    /// Bonus for a pair whose second card was flipped within `pair_speed_window_ms` of the first.
    pub pair_speed_bonus: u32,
    pub pair_speed_window_ms: i64,
    pub time_limit_ms: i64,
}

impl Difficulty {
    pub const ALL: [Difficulty; 4] = [
        Difficulty::Easy,
        Difficulty::Medium,
        Difficulty::Hard,
        Difficulty::Expert,
    ];

    pub fn rules(self) -> Rules {
        match self {
            Difficulty::Easy => Rules {
                pairs: 8,
                columns: 4,
                rows: 4,
                points_per_pair: 10,
                pair_speed_bonus: 5,
                pair_speed_window_ms: 10_000,
                time_limit_ms: 5 * 60_000,
            },
            Difficulty::Medium => Rules {
                pairs: 10,
                columns: 5,
                rows: 4,
                points_per_pair: 15,
                pair_speed_bonus: 8,
                pair_speed_window_ms: 8_000,
                time_limit_ms: 8 * 60_000,
            },
            Difficulty::Hard => Rules {
                pairs: 12,
                columns: 6,
                rows: 4,
                points_per_pair: 20,
                pair_speed_bonus: 12,
                pair_speed_window_ms: 6_000,
                time_limit_ms: 10 * 60_000,
            },
            Difficulty::Expert => Rules {
                pairs: 15,
                columns: 6,
                rows: 5,
                points_per_pair: 25,
                pair_speed_bonus: 15,
                pair_speed_window_ms: 5_000,
                time_limit_ms: 15 * 60_000,
            },
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
            Difficulty::Expert => "expert",
        }
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of easy, medium, hard, expert")]
pub struct UnknownDifficulty;

impl FromStr for Difficulty {
    type Err = UnknownDifficulty;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "easy" => Ok(Difficulty::Easy),
            "medium" => Ok(Difficulty::Medium),
            "hard" => Ok(Difficulty::Hard),
            "expert" => Ok(Difficulty::Expert),
            _ => Err(UnknownDifficulty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grid_holds_exactly_its_pairs() {
        for d in Difficulty::ALL {
            let r = d.rules();
            assert_eq!(r.columns * r.rows, r.pairs * 2, "{d}");
        }
    }

    #[test]
    fn names_round_trip() {
        for d in Difficulty::ALL {
            assert_eq!(d.as_str().parse::<Difficulty>(), Ok(d));
        }
        assert!("insane".parse::<Difficulty>().is_err());
    }
}
