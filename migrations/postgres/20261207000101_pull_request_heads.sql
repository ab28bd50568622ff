-- The head of each pull request: the commit told by the newest message (by arrival,
-- `inbound_messages.id`) that brought a new commit. Messages are processed concurrently and
-- retried, so the order in which `project_events` rows are created is not the order of the
-- pushes; the newest row was taken for the head before, and an older push processed late
-- then cancelled the newer head's work. A new table only, so the previous release runs
-- unchanged on a migrated database (its heads are read as before, by the newest row).
-- Safe to run again: it only adds the heads of PRs that have none.
CREATE TABLE IF NOT EXISTS pull_request_heads (
    pull_request_id INTEGER PRIMARY KEY REFERENCES pull_requests (id),
    project_event_id INTEGER NOT NULL REFERENCES project_events (id),
    message_seq BIGINT NOT NULL
);

INSERT INTO pull_request_heads (pull_request_id, project_event_id, message_seq)
SELECT pe.event_id, MAX(pe.id), 0
FROM project_events pe
WHERE CAST(pe.type AS TEXT) = 'pull_request'
  AND pe.event_id IN (SELECT id FROM pull_requests)
GROUP BY pe.event_id
ON CONFLICT (pull_request_id) DO NOTHING;
