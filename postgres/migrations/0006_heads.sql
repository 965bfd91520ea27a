-- Heads of branches (SPEC §10): the commit every server of a repo and
-- branch should run. Few rows (one per deployed branch); every replica
-- keeps them all in memory beside its encoded cache, so records compute
-- behind without a query.
CREATE TABLE desired_heads (
    repo_name   text COLLATE "C" NOT NULL CHECK (repo_name <> ''),
    branch      text COLLATE "C" NOT NULL CHECK (branch <> ''),
    commit_sha  text COLLATE "C" NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text COLLATE "C" NOT NULL DEFAULT '',
    reported_at timestamptz,
    PRIMARY KEY (repo_name, branch)
);

-- The change number (server_change_counter.n) of the last transaction
-- that changed desired_heads. Head writes take a number like server writes
-- do, so a replica's refresh, which reads the counter and everything
-- numbered above its copy in one snapshot, reads every head again when
-- this is above its copy: the same read-after-write as for servers (see
-- postgres/cache.go).
CREATE TABLE desired_heads_version (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    change bigint NOT NULL
);
INSERT INTO desired_heads_version (id, change) VALUES (true, 0);

-- A head that moves writes a desired event (source git, server_group and
-- host empty) naming it; other events leave these empty.
ALTER TABLE events ADD COLUMN repo_name text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN branch text COLLATE "C" NOT NULL DEFAULT '';
