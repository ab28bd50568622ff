-- How often a task's worker stopped before it finished (its lease expired). Such a stop gives
-- the attempt back, so that a killed worker cannot use up a task's own retries; this count
-- bounds how often that may happen. Only adds a column with a default, so the previous
-- release runs unchanged on a migrated database.
ALTER TABLE tasks ADD COLUMN reclaims INTEGER NOT NULL DEFAULT 0;
