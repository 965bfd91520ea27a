-- Heads of branches (SPEC §10): the commit every server of a repo and
-- branch should run. Few rows (one per deployed branch), all kept in
-- memory by the store, so records compute behind without a query.
-- Times are unix microseconds (UTC); reported_at is NULL when the last
-- applied set had none.
CREATE TABLE desired_heads (
    repo_name   TEXT    NOT NULL CHECK (repo_name <> ''),
    branch      TEXT    NOT NULL CHECK (branch <> ''),
    commit_sha  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL DEFAULT '',
    reported_at INTEGER,
    PRIMARY KEY (repo_name, branch)
);

-- A head that moves writes a desired event (source git) naming it; other
-- events leave these empty. events.server_group and host keep their CHECK
-- (removing one would mean rebuilding the table): a desired event, which
-- belongs to no server, stores '-' in both, a value no identifier can
-- take, and the store reads it back as ''.
ALTER TABLE events ADD COLUMN repo_name TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN branch TEXT NOT NULL DEFAULT '';
