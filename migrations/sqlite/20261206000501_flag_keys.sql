-- A flag's row is keyed by its pull request and its Pagure uid, "<pull_request_id>:<uid>": the
-- uid alone (a hash of the check name, which holds seven hex digits of the commit) names a flag
-- only within one pull request, so two PRs whose heads share those digits shared one row.
-- Existing rows and the pending posts of them get their keys here. A previous release still
-- running during the upgrade writes bare-uid rows and tasks: the new release adopts such rows
-- (the stuck-check reconciler) and resolves such tasks (SetFlag), so both run side by side.
UPDATE pr_flags SET uid = CAST(pull_request_id AS TEXT) || ':' || uid WHERE uid NOT LIKE '%:%';

UPDATE tasks
SET payload = json_set(payload, '$.uid', (
        SELECT keyed.uid FROM pr_flags keyed
        WHERE keyed.uid = CAST(keyed.pull_request_id AS TEXT) || ':' || json_extract(tasks.payload, '$.uid'))),
    dedup_key = 'set_flag:' || (
        SELECT keyed.uid FROM pr_flags keyed
        WHERE keyed.uid = CAST(keyed.pull_request_id AS TEXT) || ':' || json_extract(tasks.payload, '$.uid'))
WHERE name = 'set_flag'
  AND state <> 'dead'
  AND json_extract(payload, '$.uid') NOT LIKE '%:%'
  AND EXISTS (
        SELECT 1 FROM pr_flags keyed
        WHERE keyed.uid = CAST(keyed.pull_request_id AS TEXT) || ':' || json_extract(tasks.payload, '$.uid'));
