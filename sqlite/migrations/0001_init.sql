-- Servers: one row per (server_group, host). The primary key uses the
-- default BINARY collation, so ORDER BY server_group, host is byte order,
-- as SPEC §2 requires on every backend.
--
-- Times are unix microseconds (UTC), NULL when unset. changed_files and
-- labels are JSON text. stale_after_us mirrors stale_after so the stale
-- filter can run in SQL: NULL when stale_after is "" (the global threshold
-- applies), -1 when the server is never stale ("0s" or any non-positive
-- duration), else the threshold in whole microseconds (rounded down, which
-- compares exactly because stored times are whole microseconds).
CREATE TABLE servers (
    server_group         TEXT    NOT NULL CHECK (server_group <> ''),
    host                 TEXT    NOT NULL CHECK (host <> ''),
    project_name         TEXT    NOT NULL DEFAULT '',
    repo_name            TEXT    NOT NULL DEFAULT '',
    server_type          TEXT    NOT NULL DEFAULT '',
    environment          TEXT    NOT NULL DEFAULT '',
    status               TEXT    NOT NULL DEFAULT 'unknown',
    changed_files        TEXT    NOT NULL DEFAULT '[]',
    validation_status    TEXT    NOT NULL DEFAULT 'unknown',
    validation_message   TEXT    NOT NULL DEFAULT '',
    commit_sha           TEXT    NOT NULL DEFAULT '',
    branch               TEXT    NOT NULL DEFAULT '',
    updated_by           TEXT    NOT NULL DEFAULT '',
    last_pipeline_run    INTEGER,
    last_cron_check      INTEGER,
    timestamp            INTEGER,
    status_since         INTEGER,
    last_source          TEXT    NOT NULL DEFAULT '',
    labels               TEXT    NOT NULL DEFAULT '{}',
    pipeline_status      TEXT    NOT NULL DEFAULT '',
    drift_status         TEXT    NOT NULL DEFAULT '',
    stale_after          TEXT    NOT NULL DEFAULT '',
    stale_after_us       INTEGER,
    pipeline_reported_at INTEGER,
    cron_reported_at     INTEGER,
    legacy_written_at    INTEGER,
    imported             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (server_group, host)
);

-- LegacyLatest: the server most recently written through the legacy API,
-- else the newest imported one. Partial indexes keep both lookups O(log n)
-- without costing ordinary pipeline and cron writes anything.
CREATE INDEX servers_legacy_written ON servers (legacy_written_at) WHERE legacy_written_at IS NOT NULL;
CREATE INDEX servers_imported ON servers (timestamp) WHERE imported = 1;

-- Events: AUTOINCREMENT so an id is never reused after pruning; consumers
-- (webhook outbox, Grafana annotations) may remember ids.
CREATE TABLE events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    time              INTEGER NOT NULL,
    server_group      TEXT    NOT NULL CHECK (server_group <> ''),
    host              TEXT    NOT NULL CHECK (host <> ''),
    source            TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    previous_status   TEXT    NOT NULL DEFAULT '',
    commit_sha        TEXT    NOT NULL DEFAULT '',
    validation_status TEXT    NOT NULL DEFAULT '',
    changed_files     TEXT    NOT NULL DEFAULT '[]',
    updated_by        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_time ON events (time);
CREATE INDEX events_server_time ON events (server_group, host, time);

-- Meta: facts about the store itself, such as when status.json was imported
-- (key 'imported_at'), so a first-start import never happens twice.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
