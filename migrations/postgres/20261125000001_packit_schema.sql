-- The tables packit-service's Fedora CI path reads and writes, with packit-service's table,
-- column, index and enum names (packit_service/models.py), so that both services and the
-- packit dashboard read the same shape. Columns that point at packit tables this service does
-- not create (srpm_builds, copr_build_groups, ...) are kept, without their foreign keys.

CREATE TYPE projecteventmodeltype AS ENUM (
    'pull_request', 'branch_push', 'release', 'issue', 'koji_build_tag',
    'anitya_version', 'anitya_multiple_versions'
);
CREATE TYPE testingfarmresult AS ENUM (
    'new', 'queued', 'running', 'passed', 'failed', 'skipped', 'error', 'unknown',
    'needs_inspection', 'retry', 'complete', 'canceled', 'cancel_requested'
);
CREATE TYPE logdetectiveresult AS ENUM ('complete', 'running', 'unknown', 'error');
CREATE TYPE logdetectivebuildsystem AS ENUM ('copr', 'koji');

CREATE TABLE git_projects (
    id SERIAL PRIMARY KEY,
    namespace VARCHAR,
    repo_name VARCHAR,
    project_url VARCHAR,
    instance_url VARCHAR NOT NULL,
    onboarded_downstream BOOLEAN DEFAULT false
);
CREATE INDEX ix_git_projects_namespace ON git_projects (namespace);
CREATE INDEX ix_git_projects_repo_name ON git_projects (repo_name);

CREATE TABLE pull_requests (
    id SERIAL PRIMARY KEY,
    pr_id INTEGER,
    project_id INTEGER REFERENCES git_projects (id)
);
CREATE INDEX ix_pull_requests_pr_id ON pull_requests (pr_id);
CREATE INDEX ix_pull_requests_project_id ON pull_requests (project_id);

CREATE TABLE project_events (
    id SERIAL PRIMARY KEY,
    type projecteventmodeltype,
    event_id INTEGER,
    commit_sha VARCHAR,
    packages_config JSON
);
CREATE INDEX ix_project_events_event_id ON project_events (event_id);
CREATE INDEX ix_project_events_commit_sha ON project_events (commit_sha);

CREATE TABLE koji_build_groups (
    id SERIAL PRIMARY KEY,
    submitted_time TIMESTAMP WITHOUT TIME ZONE
);

CREATE TABLE koji_build_targets (
    id SERIAL PRIMARY KEY,
    task_id VARCHAR,
    status VARCHAR,
    target VARCHAR,
    web_url VARCHAR,
    build_logs_urls JSON,
    submitted_time TIMESTAMP WITHOUT TIME ZONE,
    build_start_time TIMESTAMP WITHOUT TIME ZONE,
    build_finished_time TIMESTAMP WITHOUT TIME ZONE,
    build_submission_stdout TEXT,
    data JSON,
    sidetag VARCHAR,
    nvr VARCHAR,
    scratch BOOLEAN,
    koji_build_group_id INTEGER REFERENCES koji_build_groups (id)
);
CREATE INDEX ix_koji_build_targets_task_id ON koji_build_targets (task_id);

CREATE TABLE tft_test_run_groups (
    id SERIAL PRIMARY KEY,
    submitted_time TIMESTAMP WITHOUT TIME ZONE,
    ranch VARCHAR
);

CREATE TABLE tft_test_run_targets (
    id SERIAL PRIMARY KEY,
    pipeline_id VARCHAR,
    identifier VARCHAR,
    status testingfarmresult,
    target VARCHAR,
    web_url VARCHAR,
    submitted_time TIMESTAMP WITHOUT TIME ZONE,
    data JSON,
    tft_test_run_group_id INTEGER REFERENCES tft_test_run_groups (id)
);
CREATE INDEX ix_tft_test_run_targets_pipeline_id ON tft_test_run_targets (pipeline_id);
CREATE INDEX ix_tft_test_run_targets_tft_test_run_group_id ON tft_test_run_targets (tft_test_run_group_id);

CREATE TABLE tf_koji_build_association_table (
    koji_id INTEGER NOT NULL REFERENCES koji_build_targets (id),
    tft_id INTEGER NOT NULL REFERENCES tft_test_run_targets (id),
    PRIMARY KEY (koji_id, tft_id)
);

CREATE TABLE log_detective_run_groups (
    id SERIAL PRIMARY KEY,
    submitted_time TIMESTAMP WITHOUT TIME ZONE
);

CREATE TABLE log_detective_run (
    id SERIAL PRIMARY KEY,
    status logdetectiveresult NOT NULL,
    identifier VARCHAR,
    target_build VARCHAR,
    target VARCHAR,
    log_detective_response JSON,
    error_msg VARCHAR,
    submitted_time TIMESTAMP WITHOUT TIME ZONE,
    analysis_id VARCHAR NOT NULL UNIQUE,
    build_system logdetectivebuildsystem,
    copr_build_target_id INTEGER,
    koji_build_target_id INTEGER REFERENCES koji_build_targets (id) ON DELETE CASCADE,
    log_detective_run_group_id INTEGER
        CONSTRAINT fk_log_detective_run_log_detective_run_groups_id
        REFERENCES log_detective_run_groups (id)
);
CREATE INDEX ix_log_detective_run_log_detective_run_group_id ON log_detective_run (log_detective_run_group_id);

CREATE TABLE pipelines (
    id SERIAL PRIMARY KEY,
    datetime TIMESTAMP WITHOUT TIME ZONE,
    project_event_id INTEGER REFERENCES project_events (id),
    package_name VARCHAR,
    srpm_build_id INTEGER,
    copr_build_group_id INTEGER,
    koji_build_group_id INTEGER REFERENCES koji_build_groups (id),
    koji_tag_request_group_id INTEGER,
    vm_image_build_id INTEGER,
    test_run_group_id INTEGER REFERENCES tft_test_run_groups (id),
    sync_release_run_id INTEGER,
    bodhi_update_group_id INTEGER,
    log_detective_run_group_id INTEGER
        CONSTRAINT fk_pipelines_log_detective_run_groups_id
        REFERENCES log_detective_run_groups (id)
);
CREATE INDEX ix_pipelines_project_event_id ON pipelines (project_event_id);
CREATE INDEX ix_pipelines_package_name ON pipelines (package_name);
CREATE INDEX ix_pipelines_srpm_build_id ON pipelines (srpm_build_id);
CREATE INDEX ix_pipelines_copr_build_group_id ON pipelines (copr_build_group_id);
CREATE INDEX ix_pipelines_koji_build_group_id ON pipelines (koji_build_group_id);
CREATE INDEX ix_pipelines_koji_tag_request_group_id ON pipelines (koji_tag_request_group_id);
CREATE INDEX ix_pipelines_vm_image_build_id ON pipelines (vm_image_build_id);
CREATE INDEX ix_pipelines_test_run_group_id ON pipelines (test_run_group_id);
CREATE INDEX ix_pipelines_sync_release_run_id ON pipelines (sync_release_run_id);
CREATE INDEX ix_pipelines_bodhi_update_group_id ON pipelines (bodhi_update_group_id);
CREATE INDEX ix_pipelines_log_detective_run_group_id ON pipelines (log_detective_run_group_id);
