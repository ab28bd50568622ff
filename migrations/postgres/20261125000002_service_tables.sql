-- The service's own tables: what came in over the bus, and the durable task queue.

-- Every relevant fedora-messaging message, keyed by its message id so that a redelivery
-- creates nothing new. outcome: pending, processed, ignored, rejected, failed.
CREATE TABLE inbound_messages (
    id BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    headers JSONB NOT NULL DEFAULT '{}',
    body TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ,
    outcome TEXT NOT NULL DEFAULT 'pending',
    reason TEXT
);
CREATE INDEX ix_inbound_messages_received_at ON inbound_messages (received_at);
CREATE INDEX ix_inbound_messages_outcome ON inbound_messages (outcome) WHERE outcome <> 'processed';

-- The task queue. A row lives from enqueue until it succeeds (then it is deleted) or runs out
-- of attempts (then it stays, state 'dead', with its last error). state: pending, running, dead.
CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload JSONB NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT tasks_state_check CHECK (state IN ('pending', 'running', 'dead'))
);
-- Every task is inserted, updated twice and deleted: vacuum this table far more eagerly than
-- the default 20 % of dead rows, or claims slow down scanning dead index entries.
ALTER TABLE tasks SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);
-- The claim path: the next runnable task of a queue, most urgent first.
CREATE INDEX ix_tasks_claim ON tasks (queue, priority DESC, id) WHERE state = 'pending';
-- Leases to take back from workers that died.
CREATE INDEX ix_tasks_lease ON tasks (queue, locked_until) WHERE state = 'running';
CREATE INDEX ix_tasks_locked_by ON tasks (locked_by) WHERE state = 'running';

-- Periodic tasks: one row per schedule; whoever moves next_run_at forward enqueues the run,
-- so a period runs once however many workers are up.
CREATE TABLE periodic_tasks (
    name TEXT PRIMARY KEY,
    period_seconds BIGINT NOT NULL,
    next_run_at TIMESTAMPTZ NOT NULL,
    last_run_at TIMESTAMPTZ
);

-- Wakes idle workers as soon as a task is enqueued; polling remains the fallback.
CREATE FUNCTION notify_tasks_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('fedora_ci_tasks', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tasks_inserted AFTER INSERT ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION notify_tasks_inserted();
