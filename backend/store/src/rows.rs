//! Rows to records, once for both engines. Each engine says how it reads a column
//! ([`ReadRow`]); what a row means is written here, and a value the code cannot read is
//! [`StoreError::Corrupt`], never a silent default.

use crate::{
    BoardRow, DifficultyStats, GameRecord, Player, RecordStatus, Result, ResultRecord, ScoreRow,
    StoreError,
};
use humor_game::Difficulty;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

/// How an engine reads the column types the schema uses.
pub(crate) trait ReadRow {
    fn uuid(&self, column: &str) -> Result<Uuid>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
}

impl ReadRow for PgRow {
    fn uuid(&self, column: &str) -> Result<Uuid> {
        Ok(self.try_get(column)?)
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
}

/// SQLite keeps UUIDs as text.
impl ReadRow for SqliteRow {
    fn uuid(&self, column: &str) -> Result<Uuid> {
        let text: String = self.try_get(column)?;
        Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
}

fn difficulty(row: &impl ReadRow) -> Result<Difficulty> {
    let text = row.text("difficulty")?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("difficulty {text:?}")))
}

fn status(row: &impl ReadRow) -> Result<RecordStatus> {
    let text = row.text("status")?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("status {text:?}")))
}

pub(crate) fn player(row: &impl ReadRow) -> Result<Player> {
    Ok(Player {
        id: row.uuid("id")?,
        username: row.text("username")?,
        created_at_ms: row.int("created_at_ms")?,
        last_played_at_ms: row.opt_int("last_played_at_ms")?,
        games_started: row.int("games_started")?,
        games_completed: row.int("games_completed")?,
        total_score: row.int("total_score")?,
        best_score: row.int("best_score")?,
        best_time_ms: row.opt_int("best_time_ms")?,
        perfect_games: row.int("perfect_games")?,
    })
}

pub(crate) fn game(row: &impl ReadRow) -> Result<GameRecord> {
    let finished_at_ms = row.opt_int("finished_at_ms")?;
    let result = row
        .opt_text("result")?
        .map(|json| ResultRecord::from_json(&json, finished_at_ms.unwrap_or_default()))
        .transpose()?;
    Ok(GameRecord {
        id: row.uuid("id")?,
        player_id: row.uuid("player_id")?,
        username: row.text("username")?,
        difficulty: difficulty(row)?,
        daily: row.opt_text("daily_date")?,
        status: status(row)?,
        score: row.int("score")?,
        moves: row.int("moves")?,
        misses: row.int("misses")?,
        pairs_found: row.int("pairs_found")?,
        time_ms: row.int("time_ms")?,
        pauses: row.int("pauses")?,
        started_at_ms: row.int("started_at_ms")?,
        finished_at_ms,
        result,
    })
}

pub(crate) fn board_row(row: &impl ReadRow, rank: i64) -> Result<BoardRow> {
    Ok(BoardRow {
        rank,
        player_id: row.uuid("player_id")?,
        username: row.text("username")?,
        difficulty: difficulty(row)?,
        best_score: row.int("best_score")?,
        best_time_ms: row.int("best_time_ms")?,
        best_completed_at_ms: row.int("best_completed_at_ms")?,
        games_completed: row.int("games_completed")?,
        total_score: row.int("total_score")?,
        last_completed_at_ms: row.int("last_completed_at_ms")?,
    })
}

pub(crate) fn score_row(row: &impl ReadRow) -> Result<ScoreRow> {
    Ok(ScoreRow {
        username: row.text("username")?,
        difficulty: difficulty(row)?,
        daily: row.opt_text("daily_date")?,
        score: row.int("score")?,
        time_ms: row.int("time_ms")?,
        completed_at_ms: row.int("finished_at_ms")?,
    })
}

pub(crate) fn difficulty_stats(row: &impl ReadRow) -> Result<DifficultyStats> {
    Ok(DifficultyStats {
        difficulty: difficulty(row)?,
        games_started: row.int("games_started")?,
        games_completed: row.int("games_completed")?,
        games_expired: row.int("games_expired")?,
        games_abandoned: row.int("games_abandoned")?,
        total_score: row.int("total_score")?,
        max_score: row.int("max_score")?,
        total_time_ms: row.int("total_time_ms")?,
    })
}
