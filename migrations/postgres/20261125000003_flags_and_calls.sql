-- What the handlers tell the outside world, recorded before it is told.

-- One row per pull-request flag (check × target × commit), keyed by the flag's uid. A handler
-- changes the wanted state and bumps wanted_seq in its own transaction; the set_flag task
-- posts the current state and records the sequence it posted, so the newest state always
-- reaches Pagure last, whatever order the tasks run in.
CREATE TABLE pr_flags (
    uid TEXT PRIMARY KEY,
    pull_request_id INTEGER NOT NULL REFERENCES pull_requests (id),
    commit_sha TEXT NOT NULL,
    check_name TEXT NOT NULL,
    username TEXT NOT NULL,
    status TEXT NOT NULL,
    comment TEXT NOT NULL,
    url TEXT NOT NULL,
    wanted_seq BIGINT NOT NULL DEFAULT 1,
    posted_seq BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_pr_flags_pull_request_id ON pr_flags (pull_request_id, commit_sha);

-- Every call to Koji, Testing Farm, Pagure and Log Detective that changes something, made or
-- (in shadow mode, dry_run) only planned. outcome: planned, succeeded, failed.
CREATE TABLE external_calls (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    project_event_id INTEGER REFERENCES project_events (id),
    service TEXT NOT NULL,
    call TEXT NOT NULL,
    request JSONB NOT NULL,
    dry_run BOOLEAN NOT NULL,
    outcome TEXT NOT NULL,
    response JSONB,
    error TEXT
);
CREATE INDEX ix_external_calls_project_event_id ON external_calls (project_event_id);
CREATE INDEX ix_external_calls_created_at ON external_calls (created_at);
