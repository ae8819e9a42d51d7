-- Expand-only: how many players each board has at each best score, so a rank is the sum of the
-- counts above a score plus the ties ahead on the index (O(distinct scores + ties), not O(rank)).
--
-- The counts are kept by triggers, not by the application: during a rollback the previous release
-- (which knows nothing of this table) keeps writing `leaderboard_entries`, and the triggers keep the
-- counts exact under it too. A score with no player left has no row.
--
-- Every change is an increment (+1, -1), so changes commute. The rows written before this migration
-- are added by the release after it, outside this transaction (`backfill_score_counts`): counting
-- them here would hold off every completion until the commit (seconds at 10 million entries). Until
-- then a count may even be negative; a release serves ranks only once the backfill is recorded.
CREATE TABLE IF NOT EXISTS leaderboard_score_counts (
    board      TEXT NOT NULL,
    best_score INTEGER NOT NULL,
    players    BIGINT NOT NULL,
    PRIMARY KEY (board, best_score)
);

-- Adds per-statement changes (board, best_score, +n or -n) to the counts. Rows are locked sorted
-- (boards in byte order, scores ascending), the same order in every statement, so concurrent
-- completions never wait on each other in a cycle; a count that reaches zero is removed.
CREATE OR REPLACE FUNCTION leaderboard_score_counts_add(changes JSONB) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO leaderboard_score_counts AS c (board, best_score, players)
    SELECT board, best_score, n FROM jsonb_to_recordset(changes) AS d(board TEXT, best_score INTEGER, n BIGINT)
    ORDER BY board COLLATE "C", best_score
    ON CONFLICT (board, best_score) DO UPDATE SET players = c.players + EXCLUDED.players;
    DELETE FROM leaderboard_score_counts c
    USING jsonb_to_recordset(changes) AS d(board TEXT, best_score INTEGER, n BIGINT)
    WHERE c.board = d.board AND c.best_score = d.best_score AND c.players = 0;
END
$$;

-- Statement-level, with the statement's rows as transition tables: one aggregated change per
-- statement, whether it writes one row (a completion) or millions (a bulk load).
CREATE OR REPLACE FUNCTION leaderboard_score_counts_follow() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
DECLARE
    changes JSONB;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT jsonb_agg(d) INTO changes FROM (
            SELECT board, best_score, COUNT(*) AS n FROM new_rows GROUP BY board, best_score) d;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT jsonb_agg(d) INTO changes FROM (
            SELECT board, best_score, -COUNT(*) AS n FROM old_rows GROUP BY board, best_score) d;
    ELSE
        SELECT jsonb_agg(d) INTO changes FROM (
            SELECT board, best_score, SUM(n) AS n FROM (
                SELECT board, best_score, 1 AS n FROM new_rows
                UNION ALL SELECT board, best_score, -1 FROM old_rows) t
            GROUP BY board, best_score HAVING SUM(n) <> 0) d;
    END IF;
    IF changes IS NOT NULL THEN
        PERFORM leaderboard_score_counts_add(changes);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS leaderboard_score_counts_insert ON leaderboard_entries;
CREATE TRIGGER leaderboard_score_counts_insert
    AFTER INSERT ON leaderboard_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leaderboard_score_counts_follow();
DROP TRIGGER IF EXISTS leaderboard_score_counts_update ON leaderboard_entries;
CREATE TRIGGER leaderboard_score_counts_update
    AFTER UPDATE ON leaderboard_entries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leaderboard_score_counts_follow();
DROP TRIGGER IF EXISTS leaderboard_score_counts_delete ON leaderboard_entries;
CREATE TRIGGER leaderboard_score_counts_delete
    AFTER DELETE ON leaderboard_entries REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION leaderboard_score_counts_follow();
