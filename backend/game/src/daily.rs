//! The daily challenge: one deck per UTC day, the same for everyone.

use crate::cards::CATEGORIES;
use crate::deck::{self, Layout};
use crate::difficulty::Difficulty;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use time::{Date, Weekday};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyChallenge {
    pub date: Date,
    pub difficulty: Difficulty,
    pub categories: Vec<String>,
    /// The face at every position, identical for every player that day.
    pub layout: Layout,
}

/// The difficulty of the day: easy on Mondays and Sundays, expert on Fridays.
pub fn difficulty_for(date: Date) -> Difficulty {
    match date.weekday() {
        Weekday::Monday | Weekday::Sunday => Difficulty::Easy,
        Weekday::Tuesday | Weekday::Thursday => Difficulty::Medium,
        Weekday::Wednesday | Weekday::Saturday => Difficulty::Hard,
        Weekday::Friday => Difficulty::Expert,
    }
}

impl DailyChallenge {
    /// The challenge of `date`. `seed` must be the same on every replica and unknown to players
    /// (the server derives it from its secret and the date), so nobody can precompute the layout.
    pub fn for_date(date: Date, seed: u64) -> DailyChallenge {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let difficulty = difficulty_for(date);
        let categories: Vec<String> = CATEGORIES
            .choose_multiple(&mut rng, 3)
            .map(|c| c.to_string())
            .collect();
        let layout = deck::deal(difficulty, &categories, &mut rng);
        DailyChallenge {
            date,
            difficulty,
            categories,
            layout,
        }
    }

    pub fn date_string(&self) -> String {
        format_date(self.date)
    }
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn the_same_day_and_seed_give_the_same_deck() {
        let a = DailyChallenge::for_date(date!(2026 - 11 - 26), 42);
        let b = DailyChallenge::for_date(date!(2026 - 11 - 26), 42);
        assert_eq!(a, b);
        let c = DailyChallenge::for_date(date!(2026 - 11 - 26), 43);
        assert_ne!(a.layout, c.layout);
    }

    #[test]
    fn fridays_are_expert() {
        assert_eq!(difficulty_for(date!(2026 - 11 - 27)), Difficulty::Expert);
        let d = DailyChallenge::for_date(date!(2026 - 11 - 27), 1);
        assert_eq!(d.layout.len(), 30);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(
            parse_date("2026-01-05").map(format_date),
            Some("2026-01-05".into())
        );
        assert_eq!(parse_date("2026-13-05"), None);
        assert_eq!(parse_date("today"), None);
    }
}
