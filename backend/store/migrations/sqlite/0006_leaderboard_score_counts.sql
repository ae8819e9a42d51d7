-- Expand-only: how many players each board has at each best score, so a rank is the sum of the
-- counts above a score plus the ties ahead on the index (O(distinct scores + ties), not O(rank)).
--
-- The counts are kept by triggers, not by the application: during a rollback the previous release
-- (which knows nothing of this table) keeps writing `leaderboard_entries`, and the triggers keep the
-- counts exact under it too. A score with no player left has no row. Every change is an increment
-- (+1, -1), as in PostgreSQL, where the backfill runs outside the migration.
CREATE TABLE IF NOT EXISTS leaderboard_score_counts (
    board      TEXT NOT NULL,
    best_score INTEGER NOT NULL,
    players    BIGINT NOT NULL,
    PRIMARY KEY (board, best_score)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS leaderboard_score_counts_insert
AFTER INSERT ON leaderboard_entries
BEGIN
    INSERT INTO leaderboard_score_counts (board, best_score, players)
        VALUES (NEW.board, NEW.best_score, 1)
        ON CONFLICT (board, best_score) DO UPDATE SET players = players + 1;
END;

CREATE TRIGGER IF NOT EXISTS leaderboard_score_counts_delete
AFTER DELETE ON leaderboard_entries
BEGIN
    INSERT INTO leaderboard_score_counts (board, best_score, players)
        VALUES (OLD.board, OLD.best_score, -1)
        ON CONFLICT (board, best_score) DO UPDATE SET players = players - 1;
    DELETE FROM leaderboard_score_counts
        WHERE board = OLD.board AND best_score = OLD.best_score AND players = 0;
END;

CREATE TRIGGER IF NOT EXISTS leaderboard_score_counts_update
AFTER UPDATE OF board, best_score ON leaderboard_entries
WHEN OLD.board IS NOT NEW.board OR OLD.best_score IS NOT NEW.best_score
BEGIN
    INSERT INTO leaderboard_score_counts (board, best_score, players)
        VALUES (OLD.board, OLD.best_score, -1)
        ON CONFLICT (board, best_score) DO UPDATE SET players = players - 1;
    DELETE FROM leaderboard_score_counts
        WHERE board = OLD.board AND best_score = OLD.best_score AND players = 0;
    INSERT INTO leaderboard_score_counts (board, best_score, players)
        VALUES (NEW.board, NEW.best_score, 1)
        ON CONFLICT (board, best_score) DO UPDATE SET players = players + 1;
END;

-- The migration is one transaction and SQLite has one writer: no row is written between the
-- triggers and this count.
DELETE FROM leaderboard_score_counts;
INSERT INTO leaderboard_score_counts (board, best_score, players)
    SELECT board, best_score, COUNT(*) FROM leaderboard_entries GROUP BY board, best_score;
