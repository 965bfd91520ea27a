-- Servers: one row per (server_group, host), mirroring gitops.Server.
--
-- Every text column uses the "C" collation, so ORDER BY server_group, host
-- is byte order on every database whatever its default locale (SPEC §2),
-- the primary key index serves that order, and equality stays plain
-- byte comparison.
--
-- Times are timestamptz (microsecond precision, as gitops.Now truncates),
-- NULL when unset. stale_after_ns mirrors stale_after so the stale filter
-- runs in SQL: NULL when stale_after is "" or unreadable (the global
-- threshold applies, as gitops.Server.StaleThreshold decides), else the
-- threshold in nanoseconds (<= 0 = never stale).
CREATE TABLE servers (
    server_group         text COLLATE "C" NOT NULL CHECK (server_group <> ''),
    host                 text COLLATE "C" NOT NULL CHECK (host <> ''),
    project_name         text COLLATE "C" NOT NULL DEFAULT '',
    repo_name            text COLLATE "C" NOT NULL DEFAULT '',
    server_type          text COLLATE "C" NOT NULL DEFAULT '',
    environment          text COLLATE "C" NOT NULL DEFAULT '',
    status               text COLLATE "C" NOT NULL DEFAULT 'unknown',
    changed_files        text[] COLLATE "C" NOT NULL DEFAULT '{}',
    validation_status    text COLLATE "C" NOT NULL DEFAULT 'unknown',
    validation_message   text COLLATE "C" NOT NULL DEFAULT '',
    commit_sha           text COLLATE "C" NOT NULL DEFAULT '',
    branch               text COLLATE "C" NOT NULL DEFAULT '',
    updated_by           text COLLATE "C" NOT NULL DEFAULT '',
    last_pipeline_run    timestamptz,
    last_cron_check      timestamptz,
    "timestamp"          timestamptz,
    status_since         timestamptz,
    last_source          text COLLATE "C" NOT NULL DEFAULT '',
    labels               jsonb NOT NULL DEFAULT '{}',
    pipeline_status      text COLLATE "C" NOT NULL DEFAULT '',
    drift_status         text COLLATE "C" NOT NULL DEFAULT '',
    stale_after          text COLLATE "C" NOT NULL DEFAULT '',
    stale_after_ns       bigint,
    pipeline_reported_at timestamptz,
    cron_reported_at     timestamptz,
    legacy_written_at    timestamptz,
    imported             boolean NOT NULL DEFAULT false,
    PRIMARY KEY (server_group, host)
);

-- GET /api/status?server=HOST looks servers up by host alone.
CREATE INDEX servers_host ON servers (host);

-- LegacyLatest: the server most recently written through the legacy API,
-- else the newest imported one. Partial indexes keep both lookups cheap
-- without costing ordinary pipeline and cron writes anything.
CREATE INDEX servers_legacy_written ON servers (legacy_written_at) WHERE legacy_written_at IS NOT NULL;
CREATE INDEX servers_imported ON servers ("timestamp") WHERE imported;

-- Events: an identity column, so an id is never reused after pruning;
-- consumers (webhook outbox, Grafana annotations) may remember ids. Ids
-- grow with insertion, not commit, order across replicas.
CREATE TABLE events (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "time"            timestamptz NOT NULL,
    server_group      text COLLATE "C" NOT NULL,
    host              text COLLATE "C" NOT NULL,
    source            text COLLATE "C" NOT NULL,
    status            text COLLATE "C" NOT NULL,
    previous_status   text COLLATE "C" NOT NULL DEFAULT '',
    commit_sha        text COLLATE "C" NOT NULL DEFAULT '',
    validation_status text COLLATE "C" NOT NULL DEFAULT '',
    changed_files     text[] COLLATE "C" NOT NULL DEFAULT '{}',
    updated_by        text COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX events_time ON events ("time");
CREATE INDEX events_server_time ON events (server_group, host, "time");

-- Meta: facts about the store itself, such as when status.json was imported
-- (key 'imported_at'), so a first-start import never happens twice.
CREATE TABLE meta (
    key   text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
