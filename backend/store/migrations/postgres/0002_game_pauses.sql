-- Expand-only: how many pauses a finished game used. The previous release does not know the column and
-- keeps working (its inserts and updates leave the default).
ALTER TABLE games ADD COLUMN IF NOT EXISTS pauses INTEGER NOT NULL DEFAULT 0;
