-- changes: what made each event (SPEC §3), in the order created, status,
-- commit_sha, validation_status, changed_files. NULL means the event was
-- written by a binary older than this migration (a replica not yet
-- upgraded, during a rolling upgrade); it is read as gitops.DeriveChanges
-- says.
ALTER TABLE events ADD COLUMN changes text[] COLLATE "C";

-- Events stored before now get the list derived from the server's previous
-- event: every change of the four fields wrote an event, so the previous
-- event of the same server holds their values before this one. An empty
-- previous_status marks a creation. Where retention pruned the previous
-- event only the status change is known. changed_files compares as a set,
-- as the event rule does.
WITH sets AS (
    SELECT id, server_group, host, "time", status, previous_status, commit_sha, validation_status,
           ARRAY(SELECT DISTINCT f FROM unnest(changed_files) AS f ORDER BY f) AS files
    FROM events
), prev AS (
    SELECT id, status, previous_status, commit_sha, validation_status, files,
           LAG(id) OVER w AS p_id, LAG(commit_sha) OVER w AS p_commit,
           LAG(validation_status) OVER w AS p_validation, LAG(files) OVER w AS p_files
    FROM sets
    WINDOW w AS (PARTITION BY server_group, host ORDER BY "time", id)
)
UPDATE events SET changes = CASE
    WHEN prev.previous_status = '' THEN ARRAY['created']::text[]
    ELSE array_remove(ARRAY[
        CASE WHEN prev.status <> prev.previous_status THEN 'status' END,
        CASE WHEN prev.p_id IS NOT NULL AND prev.commit_sha <> prev.p_commit THEN 'commit_sha' END,
        CASE WHEN prev.p_id IS NOT NULL AND prev.validation_status <> prev.p_validation THEN 'validation_status' END,
        CASE WHEN prev.p_id IS NOT NULL AND prev.files <> prev.p_files THEN 'changed_files' END
    ]::text[], NULL)
    END
FROM prev WHERE prev.id = events.id;
