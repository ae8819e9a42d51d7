-- no-transaction
-- The exact order of a board (player_id last breaks exact ties), so a top-N read walks the index
-- without sorting the board. Built CONCURRENTLY: on a big table a plain CREATE INDEX would block
-- every game completion (their board upserts) for the whole build. One statement per migration,
-- outside a transaction, as CONCURRENTLY requires; 0006 drops the index this one replaces.
CREATE INDEX CONCURRENTLY IF NOT EXISTS leaderboard_order
    ON leaderboard_entries (board, best_score DESC, best_time_ms ASC, best_completed_at_ms ASC, player_id ASC);
