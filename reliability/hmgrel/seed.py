"""Stored games for the scale benchmark, written straight into PostgreSQL in the shape the server writes them
(backend/store/src/postgres.rs: `insert_game`, `finish_game`, `record_completion`): players, games (85%
completed, 8% abandoned, 7% expired, finished over the last 60 days), each player's counters, per-difficulty
statistics, one leaderboard row per (board, player) with the player's best game on the boards
`all|week:<ISO week>|month:<yyyy-mm>` x `<difficulty>|*`, and the board sizes.

Playing ten million games through the API would take days; the scenario checks afterwards that the server reads
this data as its own (top of the board, totals) and that a real game lands on it correctly. Seeded games carry no
stored `result` document (only `POST /api/game/complete` of a seeded game would need it; nothing measured does).
Deterministic: `setseed` fixes every random draw."""
from __future__ import annotations

import time

from .stack import Database

SQL = """
SET synchronous_commit = off;
SELECT setseed(0.42);
INSERT INTO players (id, username, username_key, created_at_ms)
SELECT md5('player' || i)::uuid, 'seed_' || i, 'seed_' || i, {t0}
FROM generate_series(1, {players}) AS i;

INSERT INTO games (id, player_id, difficulty, daily_date, status, score, moves, misses, pairs_found, time_ms,
                   started_at_ms, finished_at_ms)
SELECT md5('game' || i)::uuid, md5('player' || (1 + i % {players}))::uuid, d.name, NULL, s.status,
       CASE WHEN s.status = 'completed' THEN (d.max * (0.35 + 0.65 * random()))::int ELSE 0 END,
       CASE WHEN s.status = 'completed' THEN d.pairs + (random() * d.pairs)::int ELSE (random() * d.pairs)::int END,
       CASE WHEN s.status = 'completed' THEN (random() * d.pairs)::int ELSE 0 END,
       CASE WHEN s.status = 'completed' THEN d.pairs ELSE (random() * (d.pairs - 1))::int END,
       t.ms, t.fin - t.ms, t.fin
FROM generate_series(1, {games}) AS i
-- Each LATERAL refers to i, so PostgreSQL draws new random numbers per row instead of once for the query.
CROSS JOIN LATERAL (SELECT random() + 0 * i AS r, random() + 0 * i AS dr) AS x
CROSS JOIN LATERAL (SELECT CASE WHEN x.dr < 0.55 THEN 'easy' WHEN x.dr < 0.8 THEN 'medium'
                                WHEN x.dr < 0.93 THEN 'hard' ELSE 'expert' END AS k) AS dk
CROSS JOIN LATERAL (SELECT k AS name,
                           CASE k WHEN 'easy' THEN 8 WHEN 'medium' THEN 10 WHEN 'hard' THEN 12 ELSE 15 END AS pairs,
                           CASE k WHEN 'easy' THEN 314 WHEN 'medium' THEN 535 WHEN 'hard' THEN 824 ELSE 1242 END AS max,
                           CASE k WHEN 'easy' THEN 300000 WHEN 'medium' THEN 480000 WHEN 'hard' THEN 600000
                                  ELSE 900000 END AS lim
                    FROM (SELECT dk.k) AS kk) AS d
CROSS JOIN LATERAL (SELECT CASE WHEN x.r < 0.85 THEN 'completed' WHEN x.r < 0.93 THEN 'abandoned'
                                ELSE 'expired' END AS status) AS s
CROSS JOIN LATERAL (SELECT (20000 + random() * (d.lim - 20000) + 0 * i)::bigint AS ms,
                           ({t0} - (random() * 60 * 86400000 + 0 * i)::bigint) AS fin) AS t;

-- Each player's counters (insert_game + record_completion).
UPDATE players p SET games_started = a.n, games_completed = a.c, total_score = a.ts, best_score = a.bs,
       best_time_ms = a.bt, perfect_games = a.pg, last_played_at_ms = a.lp
FROM (SELECT player_id, count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS c,
             coalesce(sum(score) FILTER (WHERE status = 'completed'), 0) AS ts,
             coalesce(max(score) FILTER (WHERE status = 'completed'), 0) AS bs,
             min(time_ms) FILTER (WHERE status = 'completed') AS bt,
             count(*) FILTER (WHERE status = 'completed' AND misses = 0) AS pg, max(finished_at_ms) AS lp
      FROM games GROUP BY player_id) AS a
WHERE p.id = a.player_id;

UPDATE difficulty_stats s SET games_started = a.n, games_completed = a.c, games_expired = a.e,
       games_abandoned = a.ab, total_score = a.ts, max_score = a.ms, total_time_ms = a.tt
FROM (SELECT difficulty, count(*) AS n, count(*) FILTER (WHERE status = 'completed') AS c,
             count(*) FILTER (WHERE status = 'expired') AS e, count(*) FILTER (WHERE status = 'abandoned') AS ab,
             coalesce(sum(score) FILTER (WHERE status = 'completed'), 0) AS ts,
             coalesce(max(score) FILTER (WHERE status = 'completed'), 0) AS ms,
             coalesce(sum(time_ms) FILTER (WHERE status = 'completed'), 0) AS tt
      FROM games GROUP BY difficulty) AS a
WHERE s.difficulty = a.difficulty;
UPDATE counters SET value = {players} WHERE name = 'players';

-- One row per (board, player): the best game (score, then lower time, then earlier completion), as the upsert
-- in record_completion keeps it.
CREATE TEMP TABLE seed_done AS
SELECT g.player_id, p.username, g.difficulty, g.score, g.time_ms, g.finished_at_ms,
       to_char(to_timestamp(g.finished_at_ms / 1000.0) AT TIME ZONE 'UTC', 'IYYY-"W"IW') AS wk,
       to_char(to_timestamp(g.finished_at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM') AS mo
FROM games g JOIN players p ON p.id = g.player_id WHERE g.status = 'completed';

INSERT INTO leaderboard_entries (board, player_id, username, difficulty, best_score, best_time_ms,
                                 best_completed_at_ms, games_completed, total_score, last_completed_at_ms)
SELECT DISTINCT ON (b.board, d.player_id) b.board, d.player_id, d.username, d.difficulty, d.score, d.time_ms,
       d.finished_at_ms,
       count(*) OVER w, sum(d.score) OVER w, max(d.finished_at_ms) OVER w
FROM seed_done d
CROSS JOIN LATERAL (VALUES ('all:' || d.difficulty), ('all:*'), ('week:' || d.wk || ':' || d.difficulty),
                           ('week:' || d.wk || ':*'), ('month:' || d.mo || ':' || d.difficulty),
                           ('month:' || d.mo || ':*')) AS b(board)
WINDOW w AS (PARTITION BY b.board, d.player_id)
ORDER BY b.board, d.player_id, d.score DESC, d.time_ms ASC, d.finished_at_ms ASC;

INSERT INTO leaderboard_sizes (board, players)
SELECT board, count(*) FROM leaderboard_entries GROUP BY board;
DROP TABLE seed_done;
"""


def seed(db: Database, games: int, players: int | None = None) -> dict:
    """Fills an empty, migrated database; returns what it wrote and how long it took."""
    players = players or max(100, games // 10)
    t0 = int(time.time() * 1000)
    start = time.monotonic()
    db.sql(SQL.format(games=games, players=players, t0=t0), timeout=6 * 3600)
    # Measure a settled database, not the aftermath of a bulk load: visibility map set (index-only scans),
    # dirty pages written, so neither autovacuum nor a checkpoint lands in the middle of a measurement.
    db.sql("VACUUM (ANALYZE)", timeout=6 * 3600)
    db.sql("CHECKPOINT", timeout=3600)
    took = time.monotonic() - start
    counts = db.rows("SELECT (SELECT count(*) FROM games) AS games, (SELECT count(*) FROM players) AS players, "
                     "(SELECT count(*) FROM leaderboard_entries) AS board_rows, "
                     "(SELECT count(*) FROM games WHERE status = 'completed') AS completed, "
                     "pg_size_pretty(pg_database_size(current_database())) AS size")[0]
    counts["seconds"] = round(took, 1)
    return counts
