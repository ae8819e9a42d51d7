//! Which leaderboards a completed game counts on, and their keys.

use humor_game::Difficulty;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardKind {
    All,
    /// ISO week, e.g. `2026-W48`.
    Week(String),
    /// Calendar month, e.g. `2026-11`.
    Month(String),
    /// A daily challenge's date, e.g. `2026-11-26`.
    Daily(String),
}

/// A leaderboard: a time window and optionally one difficulty (None = every difficulty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub kind: BoardKind,
    pub difficulty: Option<Difficulty>,
}

impl Board {
    pub fn key(&self) -> String {
        let d = self.difficulty.map(|d| d.as_str()).unwrap_or("*");
        match &self.kind {
            BoardKind::All => format!("all:{d}"),
            BoardKind::Week(p) => format!("week:{p}:{d}"),
            BoardKind::Month(p) => format!("month:{p}:{d}"),
            BoardKind::Daily(date) => format!("daily:{date}"),
        }
    }
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The UTC ISO week of `ms`, e.g. `2026-W48`.
pub fn week_period(ms: i64) -> String {
    let (year, week, _) = utc(ms).date().to_iso_week_date();
    format!("{year:04}-W{week:02}")
}

/// The UTC calendar month of `ms`, e.g. `2026-11`.
pub fn month_period(ms: i64) -> String {
    let d = utc(ms).date();
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

/// Every board a game completed at `finished_at_ms` counts on.
pub fn boards_for(difficulty: Difficulty, daily: Option<&str>, finished_at_ms: i64) -> Vec<Board> {
    let week = week_period(finished_at_ms);
    let month = month_period(finished_at_ms);
    let mut boards = Vec::with_capacity(7);
    for d in [Some(difficulty), None] {
        boards.push(Board {
            kind: BoardKind::All,
            difficulty: d,
        });
        boards.push(Board {
            kind: BoardKind::Week(week.clone()),
            difficulty: d,
        });
        boards.push(Board {
            kind: BoardKind::Month(month.clone()),
            difficulty: d,
        });
    }
    if let Some(date) = daily {
        boards.push(Board {
            kind: BoardKind::Daily(date.to_string()),
            difficulty: None,
        });
    }
    boards
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-26T10:00:00Z
    const T: i64 = 1_795_687_200_000;

    #[test]
    fn periods_are_utc_iso_weeks_and_months() {
        assert_eq!(week_period(T), "2026-W48");
        assert_eq!(month_period(T), "2026-11");
        // 2021-01-01 belongs to ISO week 53 of 2020.
        assert_eq!(week_period(1_609_459_200_000), "2020-W53");
    }

    #[test]
    fn a_game_counts_on_its_difficulty_and_the_overall_boards() {
        let keys: Vec<String> = boards_for(Difficulty::Hard, Some("2026-11-26"), T)
            .iter()
            .map(Board::key)
            .collect();
        assert_eq!(
            keys,
            vec![
                "all:hard",
                "week:2026-W48:hard",
                "month:2026-11:hard",
                "all:*",
                "week:2026-W48:*",
                "month:2026-11:*",
                "daily:2026-11-26"
            ]
        );
    }
}
