-- leaderboard_order (0005) replaces it.
DROP INDEX IF EXISTS leaderboard_rank;
