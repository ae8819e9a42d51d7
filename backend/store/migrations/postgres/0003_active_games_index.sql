-- Expand-only: finds games left `active` after their live state was lost, without scanning `games`.
CREATE INDEX IF NOT EXISTS games_active_started ON games (started_at_ms) WHERE status = 'active';
