-- Let pipeline and cron updates be HOT updates (heap-only tuples): an
-- update that changes no indexed column, and finds room on its page,
-- writes no index entries, which makes it cheaper and keeps the indexes
-- of a table rewritten all day from bloating.
--
-- servers_imported indexed "timestamp", which every update changes; it
-- now indexes the key, which never changes, and "imported", which only a
-- legacy update or an import changes. LegacyLatest's fallback (the newest
-- imported server, used only while no server was written through the
-- legacy API) then reads the imported rows instead of one index entry:
-- cheap for the v1 files it exists for, a few tens of milliseconds for
-- 100,000 imported v2 records.
DROP INDEX servers_imported;
CREATE INDEX servers_imported ON servers (server_group, host) WHERE imported;

-- Leave room on each page for the new versions of its rows.
ALTER TABLE servers SET (fillfactor = 70);
