-- no-transaction
-- leaderboard_order (0005) replaces it; dropped concurrently so writers never wait.
DROP INDEX CONCURRENTLY IF EXISTS leaderboard_rank;
