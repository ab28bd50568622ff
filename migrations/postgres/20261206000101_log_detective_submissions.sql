-- One row per failed arch of a failed scratch build that Log Detective should analyse,
-- all created before the first analysis is requested, so that a retry knows which arches
-- are still to submit. Beside packit-service's log_detective_run (whose analysis_id is NOT
-- NULL and whose status has no 'new'), which still gets its row once an analysis started.
-- A new table: the previous release neither reads nor writes it.
CREATE TABLE log_detective_submissions (
    id SERIAL PRIMARY KEY,
    koji_build_id INTEGER NOT NULL REFERENCES koji_build_targets (id) ON DELETE CASCADE,
    arch VARCHAR NOT NULL,
    -- The buildArch subtask whose logs are analysed.
    target_build VARCHAR NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'submitted', 'planned', 'error')),
    -- Set before the request is sent: an attempt got that far, the analysis may have started.
    submission_started_at TIMESTAMPTZ,
    analysis_id VARCHAR,
    error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (koji_build_id, arch)
);
