-- GET /api/status?server=HOST, the v1 read of legacy pipelines and
-- dashboards, finds a server by its host alone, in any group. The primary
-- key leads with server_group, so SQLite read every row to answer it: at
-- 400,000 servers a fraction of a second a request (docs/performance.md).
-- PostgreSQL has had this index since its 0001. No update changes a host,
-- so only an insert or a delete writes it.
CREATE INDEX servers_host ON servers (host);
