-- Whether the posted state of a flag was only planned (shadow mode records the call and sends
-- nothing), so that the pull request view does not show it as being on Pagure. Only adds a
-- column with a default, so the previous release runs unchanged on a migrated database.
ALTER TABLE pr_flags ADD COLUMN planned_only BOOLEAN NOT NULL DEFAULT FALSE;
