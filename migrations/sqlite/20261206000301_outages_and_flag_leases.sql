-- Outage-proof retries, one flag post in flight, no duplicate pending posts. Only adds
-- nullable columns and an index, so the previous release runs unchanged on a migrated database.

-- When the service this task needs became unavailable to it (the queue's clock): a task that
-- waits out an outage is retried for a time budget measured from here, without using up its
-- attempts; cleared by any other outcome.
ALTER TABLE tasks ADD COLUMN outage_started_at TEXT;
-- Tasks with the same key and state pending are one: a second is not enqueued (SetFlag of one
-- flag uid: the pending one posts the newest state anyway).
ALTER TABLE tasks ADD COLUMN dedup_key TEXT;
CREATE INDEX ix_tasks_dedup_key ON tasks (dedup_key) WHERE state = 'pending' AND dedup_key IS NOT NULL;

-- Who is posting this flag right now, until when: at most one post per flag is in flight.
ALTER TABLE pr_flags ADD COLUMN post_lease_holder TEXT;
ALTER TABLE pr_flags ADD COLUMN post_lease_until TEXT;
