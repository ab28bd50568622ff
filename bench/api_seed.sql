-- Seeds a migrated PostgreSQL database with 1,000,000 pipelines for the API benchmark
-- (docs/benchmarks.md): 10,000 projects, 100,000 pull requests, 250,000 PR × commit events,
-- and per pipeline one Koji scratch build and one Testing Farm run.
-- psql -v ON_ERROR_STOP=1 -d <database> -f bench/api_seed.sql

BEGIN;
INSERT INTO git_projects (id, namespace, repo_name, project_url, instance_url)
SELECT g, 'rpms', 'package-' || g, 'https://src.fedoraproject.org/rpms/package-' || g,
       'src.fedoraproject.org'
FROM generate_series(1, 10000) g;

INSERT INTO pull_requests (id, pr_id, project_id)
SELECT g, (g - 1) / 10000 + 1, (g - 1) % 10000 + 1 FROM generate_series(1, 100000) g;

INSERT INTO project_events (id, type, event_id, commit_sha)
SELECT g, 'pull_request', (g - 1) % 100000 + 1, md5(g::text) || substr(md5((g + 7)::text), 1, 8)
FROM generate_series(1, 250000) g;

INSERT INTO koji_build_groups (id, submitted_time)
SELECT g, TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds' FROM generate_series(1, 1000000) g;

INSERT INTO koji_build_targets (id, task_id, status, target, web_url, build_logs_urls,
    submitted_time, build_start_time, build_finished_time, scratch, data, koji_build_group_id)
SELECT g, (140000000 + g)::text,
       (ARRAY['success', 'failure', 'running', 'error'])[g % 4 + 1],
       (ARRAY['rawhide', 'eln', 'f42', 'f43'])[g % 4 + 1],
       'https://koji.fedoraproject.org/koji/taskinfo?taskID=' || (140000000 + g),
       json_build_object('x86_64', 'https://kojipkgs.fedoraproject.org//work/tasks/' || (g % 10000) || '/' || (140000000 + g) || '/mock_output.log'),
       TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds',
       TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds' + INTERVAL '1 minute',
       TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds' + INTERVAL '20 minutes',
       TRUE, json_build_object('trigger', 'push'), g
FROM generate_series(1, 1000000) g;

INSERT INTO tft_test_run_groups (id, submitted_time, ranch)
SELECT g, TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds', 'public' FROM generate_series(1, 1000000) g;

INSERT INTO tft_test_run_targets (id, pipeline_id, status, target, web_url, submitted_time, data,
    tft_test_run_group_id)
SELECT g, md5(('tf' || g)::text)::uuid::text,
       CAST((ARRAY['passed', 'failed', 'error', 'running'])[g % 4 + 1] AS testingfarmresult),
       'fedora-rawhide', 'https://artifacts.dev.testing-farm.io/' || md5(('tf' || g)::text)::uuid,
       TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds' + INTERVAL '25 minutes',
       json_build_object('fedora_ci_test', (ARRAY['installability', 'rpminspect', 'rpmlint', 'rmdepcheck', 'license-validate'])[g % 5 + 1]),
       g
FROM generate_series(1, 1000000) g;

INSERT INTO tf_koji_build_association_table (koji_id, tft_id)
SELECT g, g FROM generate_series(1, 1000000) g;

INSERT INTO pipelines (id, datetime, project_event_id, package_name, koji_build_group_id,
    test_run_group_id)
SELECT g, TIMESTAMP '2026-01-01' + g * INTERVAL '20 seconds', (g - 1) % 250000 + 1,
       'package-' || ((((g - 1) % 250000) % 100000) % 10000 + 1), g, g
FROM generate_series(1, 1000000) g;

SELECT setval(pg_get_serial_sequence(t, 'id'), (SELECT max(id) FROM git_projects))
FROM (VALUES ('git_projects')) v(t);
SELECT setval(pg_get_serial_sequence('pull_requests', 'id'), 100000);
SELECT setval(pg_get_serial_sequence('project_events', 'id'), 250000);
SELECT setval(pg_get_serial_sequence('koji_build_groups', 'id'), 1000000);
SELECT setval(pg_get_serial_sequence('koji_build_targets', 'id'), 1000000);
SELECT setval(pg_get_serial_sequence('tft_test_run_groups', 'id'), 1000000);
SELECT setval(pg_get_serial_sequence('tft_test_run_targets', 'id'), 1000000);
SELECT setval(pg_get_serial_sequence('pipelines', 'id'), 1000000);
COMMIT;
VACUUM ANALYZE;
