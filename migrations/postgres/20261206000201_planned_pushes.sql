-- The pull request × commit events whose push work (builds, tests, first flags) has been
-- planned. Pagure re-sends `pull-request.updated` for title and description edits, and a
-- `rebased` may keep the head: such an event for a head already planned plans nothing again,
-- so finished checks are not set back to "queued". A new table only, so the previous release
-- runs unchanged on a migrated database.
CREATE TABLE planned_pushes (
    project_event_id INTEGER PRIMARY KEY REFERENCES project_events (id),
    planned_at TIMESTAMP NOT NULL
);
