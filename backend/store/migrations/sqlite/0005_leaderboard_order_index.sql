-- The exact order of a board (player_id last breaks exact ties), so a top-N read walks the index
-- without sorting the board. Replaces leaderboard_rank, which lacked player_id.
CREATE INDEX IF NOT EXISTS leaderboard_order
    ON leaderboard_entries (board, best_score DESC, best_time_ms ASC, best_completed_at_ms ASC, player_id ASC);
DROP INDEX IF EXISTS leaderboard_rank;
