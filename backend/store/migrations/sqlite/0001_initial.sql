-- Initial schema (SQLite). Times are epoch milliseconds (BIGINT), the same in both engines.
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS players (
    id                TEXT PRIMARY KEY,
    username          TEXT NOT NULL,
    username_key      TEXT NOT NULL UNIQUE,
    created_at_ms     BIGINT NOT NULL,
    last_played_at_ms BIGINT,
    games_started     BIGINT NOT NULL DEFAULT 0,
    games_completed   BIGINT NOT NULL DEFAULT 0,
    total_score       BIGINT NOT NULL DEFAULT 0,
    best_score        INTEGER NOT NULL DEFAULT 0,
    best_time_ms      BIGINT,
    perfect_games     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS games (
    id             TEXT PRIMARY KEY,
    player_id      TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    difficulty     TEXT NOT NULL CHECK (difficulty IN ('easy', 'medium', 'hard', 'expert')),
    daily_date     TEXT,
    status         TEXT NOT NULL CHECK (status IN ('active', 'completed', 'expired', 'abandoned')),
    score          INTEGER NOT NULL DEFAULT 0,
    moves          INTEGER NOT NULL DEFAULT 0,
    misses         INTEGER NOT NULL DEFAULT 0,
    pairs_found    INTEGER NOT NULL DEFAULT 0,
    time_ms        BIGINT NOT NULL DEFAULT 0,
    started_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT,
    result         TEXT
);
-- One daily challenge per player and day.
CREATE UNIQUE INDEX IF NOT EXISTS games_daily_once ON games (player_id, daily_date) WHERE daily_date IS NOT NULL;
CREATE INDEX IF NOT EXISTS games_by_player ON games (player_id, started_at_ms DESC);
CREATE INDEX IF NOT EXISTS games_completed_recent ON games (finished_at_ms DESC) WHERE status = 'completed';
CREATE INDEX IF NOT EXISTS games_completed_top ON games (score DESC, time_ms ASC, finished_at_ms ASC) WHERE status = 'completed';
CREATE INDEX IF NOT EXISTS games_completed_fastest ON games (time_ms ASC, finished_at_ms ASC) WHERE status = 'completed';

-- One row per (board, player): the player's best completed game on that board. Boards are
-- `all:<difficulty|*>`, `week:<YYYY-Www>:<difficulty|*>`, `month:<YYYY-MM>:<difficulty|*>`, `daily:<date>`.
-- Reads of the top N walk `leaderboard_rank`, so they cost the same at 10 thousand or 10 million games.
CREATE TABLE IF NOT EXISTS leaderboard_entries (
    board                TEXT NOT NULL,
    player_id            TEXT NOT NULL REFERENCES players (id) ON DELETE CASCADE,
    username             TEXT NOT NULL,
    difficulty           TEXT NOT NULL,
    best_score           INTEGER NOT NULL,
    best_time_ms         BIGINT NOT NULL,
    best_completed_at_ms BIGINT NOT NULL,
    games_completed      BIGINT NOT NULL,
    total_score          BIGINT NOT NULL,
    last_completed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (board, player_id)
);
CREATE INDEX IF NOT EXISTS leaderboard_rank
    ON leaderboard_entries (board, best_score DESC, best_time_ms ASC, best_completed_at_ms ASC);

CREATE TABLE IF NOT EXISTS leaderboard_sizes (
    board   TEXT PRIMARY KEY,
    players BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS difficulty_stats (
    difficulty      TEXT PRIMARY KEY,
    games_started   BIGINT NOT NULL DEFAULT 0,
    games_completed BIGINT NOT NULL DEFAULT 0,
    games_expired   BIGINT NOT NULL DEFAULT 0,
    games_abandoned BIGINT NOT NULL DEFAULT 0,
    total_score     BIGINT NOT NULL DEFAULT 0,
    max_score       INTEGER NOT NULL DEFAULT 0,
    total_time_ms   BIGINT NOT NULL DEFAULT 0
);
INSERT INTO difficulty_stats (difficulty) VALUES ('easy'), ('medium'), ('hard'), ('expert')
    ON CONFLICT (difficulty) DO NOTHING;
INSERT INTO counters (name, value) VALUES ('players', 0) ON CONFLICT (name) DO NOTHING;
