-- SQLite twin of migrations/postgres/20261125000002_service_tables.sql. Timestamps are
-- RFC 3339 text in UTC, which sorts in time order; the queue claims by a single UPDATE, which
-- SQLite's one writer at a time makes atomic.

CREATE TABLE inbound_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    headers TEXT NOT NULL DEFAULT '{}',
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'pending',
    reason TEXT
);
CREATE INDEX ix_inbound_messages_received_at ON inbound_messages (received_at);
CREATE INDEX ix_inbound_messages_outcome ON inbound_messages (outcome) WHERE outcome <> 'processed';

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    locked_by TEXT,
    locked_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_tasks_claim ON tasks (queue, priority DESC, id) WHERE state = 'pending';
CREATE INDEX ix_tasks_lease ON tasks (queue, locked_until) WHERE state = 'running';
CREATE INDEX ix_tasks_locked_by ON tasks (locked_by) WHERE state = 'running';

CREATE TABLE periodic_tasks (
    name TEXT PRIMARY KEY,
    period_seconds INTEGER NOT NULL,
    next_run_at TEXT NOT NULL,
    last_run_at TEXT
);
