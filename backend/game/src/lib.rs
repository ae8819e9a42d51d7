//! The Humor Memory Game's rules as plain functions over values.
//!
//! Nothing here reads a clock, a random source or the network: the caller passes the time
//! (milliseconds since the Unix epoch) and the random number generator, so every rule is
//! deterministic under test.

pub mod cards;
pub mod daily;
pub mod deck;
pub mod difficulty;
pub mod game;
pub mod messages;
pub mod scoring;
pub mod time_text;
pub mod username;

pub use cards::{Face, CATEGORIES, FACES};
pub use daily::DailyChallenge;
pub use difficulty::{Difficulty, Rules};
pub use game::{
    AppliedOp, Attempt, Card, CardState, FlipOutcome, Game, GameError, GameStatus, Outcome,
    OutcomeKind, MAX_PAUSES, MAX_PAUSE_MS,
};
pub use scoring::{Achievement, Performance, ScoreBreakdown};
pub use username::{Username, UsernameError};

/// Milliseconds since the Unix epoch, as passed in by the caller.
pub type Millis = i64;
