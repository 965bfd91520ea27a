-- Change numbers, so each replica can keep every server encoded in memory
-- and bring that copy up to date with one cheap query before it answers a
-- read (see cache.go).
--
-- server_change_counter holds one row: n, the number of the newest write,
-- and horizon (see server_deletions). Every transaction that writes servers
-- takes the next number with UPDATE … SET n = n + 1 after it locked the
-- rows it reads, and keeps the counter row locked until it commits; so
-- numbers are handed out in commit order, and a snapshot that sees n sees
-- every write numbered n or less and none above.
CREATE TABLE server_change_counter (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    n       bigint NOT NULL,
    horizon bigint NOT NULL
);
INSERT INTO server_change_counter (id, n, horizon) VALUES (true, 1, 1);
-- The row is rewritten by every write, so the table fills with dead
-- versions faster than page pruning always keeps up with. Statements find
-- the row through its primary key (WHERE id = true), never by scanning
-- the table, and vacuum runs after every thousand dead versions.
ALTER TABLE server_change_counter SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);

-- head is (*gitops.Server).AppendJSONHead of the row's record as the
-- writer encoded it; NULL when unknown (rows written before this
-- migration, or by a binary that does not know heads), in which case
-- readers encode it from the columns. change is the number of the write
-- that last wrote the row.
ALTER TABLE servers ADD COLUMN head text, ADD COLUMN change bigint;
UPDATE servers SET change = 1;
ALTER TABLE servers ALTER COLUMN change SET NOT NULL;
CREATE INDEX servers_change ON servers (change);

-- One row per deleted server, numbered like writes, so a replica's copy
-- learns about deletions. PruneEvents removes old entries and raises
-- horizon to the newest number it removed: a copy older than horizon may
-- have missed a deletion and loads everything again.
CREATE TABLE server_deletions (
    change       bigint PRIMARY KEY,
    server_group text COLLATE "C" NOT NULL,
    host         text COLLATE "C" NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now()
);

-- Writes by binaries older than this migration (during a rolling upgrade)
-- set neither change nor head. These triggers number such a write and
-- forget its head. Their WHEN clauses keep this binary's writes, which
-- always set a new change, from ever entering plpgsql.
CREATE FUNCTION servers_number_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE server_change_counter SET n = n + 1 WHERE id = true RETURNING n INTO NEW.change;
    NEW.head := NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER servers_number_insert BEFORE INSERT ON servers
    FOR EACH ROW WHEN (NEW.change IS NULL)
    EXECUTE FUNCTION servers_number_write();

CREATE TRIGGER servers_number_update BEFORE UPDATE ON servers
    FOR EACH ROW WHEN (NEW.change IS NOT DISTINCT FROM OLD.change)
    EXECUTE FUNCTION servers_number_write();

-- Every deletion, by any binary, is numbered and logged here: deleting is
-- rare, so the trigger's cost does not matter. It runs after the statement
-- locked the rows, so the counter is taken after the row locks, as writes
-- take it.
CREATE FUNCTION servers_log_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c bigint;
BEGIN
    UPDATE server_change_counter SET n = n + 1 WHERE id = true RETURNING n INTO c;
    INSERT INTO server_deletions (change, server_group, host) VALUES (c, OLD.server_group, OLD.host);
    RETURN NULL;
END
$$;

CREATE TRIGGER servers_log_deletion AFTER DELETE ON servers
    FOR EACH ROW EXECUTE FUNCTION servers_log_deletion();
