-- Expand-only: per-difficulty counters spread over shards, so concurrent games do not all wait for
-- one hot row (its lock is held until commit, fsync included). A writer picks a shard at random;
-- readers add every shard to the original table, which earlier releases keep writing to.
CREATE TABLE IF NOT EXISTS difficulty_stats_shards (
    difficulty      TEXT NOT NULL,
    shard           INTEGER NOT NULL,
    games_started   BIGINT NOT NULL DEFAULT 0,
    games_completed BIGINT NOT NULL DEFAULT 0,
    games_expired   BIGINT NOT NULL DEFAULT 0,
    games_abandoned BIGINT NOT NULL DEFAULT 0,
    total_score     BIGINT NOT NULL DEFAULT 0,
    max_score       INTEGER NOT NULL DEFAULT 0,
    total_time_ms   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (difficulty, shard)
);
