-- SQLite twin of migrations/postgres/20261206000101_log_detective_submissions.sql.
CREATE TABLE log_detective_submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    koji_build_id INTEGER NOT NULL REFERENCES koji_build_targets (id) ON DELETE CASCADE,
    arch TEXT NOT NULL,
    target_build TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'submitted', 'planned', 'error')),
    submission_started_at TEXT,
    analysis_id TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (koji_build_id, arch)
);
