-- servers_imported indexed "timestamp", which every pipeline and cron
-- update changes, and imported stays 1 through them (only a legacy write
-- clears it). So every update of an imported server moved its entry, and
-- in the first minute after an import of 400,000 servers, each move was a
-- delete on an index page of its own: about a quarter more CPU a report,
-- mostly WAL pages (docs/performance.md). It now indexes the key, which
-- never changes, as PostgreSQL's does since its 0002. LegacyLatest's
-- fallback (the newest imported server, used only while no server was
-- written through the legacy API) then reads the imported rows instead of
-- one index entry, on a reader's connection.
DROP INDEX servers_imported;
CREATE INDEX servers_imported ON servers (server_group, host) WHERE imported = 1;
