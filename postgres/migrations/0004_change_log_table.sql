-- Let updates of servers be HOT updates again (see 0002): servers_change
-- indexed servers.change, which every write changes, so every update wrote
-- a new entry in every index of servers (on PostgreSQL 15, the parallel
-- pipeline benchmark went from ~155µs to ~210µs per update). Instead of
-- finding the rows changed since a number through an index on servers,
-- readers now find their keys in server_changes, an append-only log, and
-- read the current rows by primary key. servers.change stays, unindexed:
-- it orders a row against a deletion of the same key (server_deletions,
-- unchanged), and binaries of migration 0003 still read it.
DROP INDEX servers_change;

-- One row per write transaction: its change number and the keys it wrote
-- (server_groups[i], hosts[i]). One row and one index entry per
-- transaction, however many servers it wrote, is cheaper than one per
-- server. A change number may have several rows (the triggers below log
-- one per row they see), so there is no primary key; the index serves the
-- refresh (change > n) and nothing else. logged_at lets PruneEvents remove
-- entries older than an hour: a replica whose copy is older than what was
-- removed sees horizon and loads everything again.
CREATE TABLE server_changes (
    change        bigint NOT NULL,
    server_groups text[] COLLATE "C" NOT NULL,
    hosts         text[] COLLATE "C" NOT NULL,
    logged_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_changes_change ON server_changes (change);

-- Writes of older binaries are logged, one row per server row, by the
-- triggers that numbered them (binaries older than 0003, which set no
-- change) and now also for binaries of 0003, which number their writes but
-- do not log them. This binary's transactions log themselves and say so in
-- the transaction-local setting gitops_status.logged (see bumpCounter), so
-- the WHEN clauses keep their writes from ever entering plpgsql.
CREATE OR REPLACE FUNCTION servers_number_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.change IS NULL OR (TG_OP = 'UPDATE' AND NEW.change IS NOT DISTINCT FROM OLD.change) THEN
        UPDATE server_change_counter SET n = n + 1 WHERE id = true RETURNING n INTO NEW.change;
        NEW.head := NULL;
    END IF;
    INSERT INTO server_changes (change, server_groups, hosts)
        VALUES (NEW.change, ARRAY[NEW.server_group], ARRAY[NEW.host]);
    RETURN NEW;
END
$$;

DROP TRIGGER servers_number_insert ON servers;
DROP TRIGGER servers_number_update ON servers;

CREATE TRIGGER servers_number_insert BEFORE INSERT ON servers
    FOR EACH ROW WHEN (NEW.change IS NULL
        OR current_setting('gitops_status.logged', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION servers_number_write();

CREATE TRIGGER servers_number_update BEFORE UPDATE ON servers
    FOR EACH ROW WHEN (NEW.change IS NOT DISTINCT FROM OLD.change
        OR current_setting('gitops_status.logged', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION servers_number_write();
