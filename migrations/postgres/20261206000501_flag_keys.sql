-- A flag's row is keyed by its pull request and its Pagure uid, "<pull_request_id>:<uid>": the
-- uid alone (a hash of the check name, which holds seven hex digits of the commit) names a flag
-- only within one pull request, so two PRs whose heads share those digits shared one row.
-- Existing rows and the pending posts of them get their keys here. A previous release still
-- running during the upgrade writes bare-uid rows and tasks: the new release adopts such rows
-- (the stuck-check reconciler) and resolves such tasks (SetFlag), so both run side by side.
UPDATE pr_flags SET uid = CAST(pull_request_id AS TEXT) || ':' || uid WHERE uid NOT LIKE '%:%';

UPDATE tasks
SET payload = jsonb_set(payload, '{uid}', to_jsonb(keyed.uid)),
    dedup_key = 'set_flag:' || keyed.uid
FROM pr_flags keyed
WHERE tasks.name = 'set_flag'
  AND tasks.state <> 'dead'
  AND (tasks.payload ->> 'uid') NOT LIKE '%:%'
  AND keyed.uid = CAST(keyed.pull_request_id AS TEXT) || ':' || (tasks.payload ->> 'uid');
