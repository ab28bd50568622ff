-- Indexes for the read API (src/db/api.rs): a group's targets, a test run's Koji builds and a
-- build's Log Detective runs are looked up by these columns. Only adds indexes, so the
-- previous release runs unchanged on a migrated database.
CREATE INDEX ix_koji_build_targets_koji_build_group_id ON koji_build_targets (koji_build_group_id);
CREATE INDEX ix_tf_koji_build_association_table_tft_id ON tf_koji_build_association_table (tft_id);
CREATE INDEX ix_log_detective_run_koji_build_target_id ON log_detective_run (koji_build_target_id);
-- The queue view lists the newest dead tasks.
CREATE INDEX ix_tasks_dead ON tasks (id) WHERE state = 'dead';
