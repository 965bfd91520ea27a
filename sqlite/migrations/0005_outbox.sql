-- Notifications (SPEC §9). outbox holds the notifiable events not yet
-- turned into deliveries; it is written in the transaction of the event.
-- deliveries holds one row per (webhook, event or reminder) until it is
-- sent or given up, with its retry state, so that it survives restarts.
-- stale_marks records the servers the sweep last found stale.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     INTEGER NOT NULL,
    server_group TEXT    NOT NULL,
    host         TEXT    NOT NULL,
    notice       TEXT    NOT NULL
);

CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook      TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    server_group TEXT    NOT NULL,
    host         TEXT    NOT NULL,
    notice       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL DEFAULT 'pending',
    last_error   TEXT    NOT NULL DEFAULT '',
    UNIQUE (webhook, key)
);
CREATE INDEX deliveries_pending ON deliveries (webhook, server_group, host, id) WHERE state = 'pending';

CREATE TABLE stale_marks (
    server_group TEXT NOT NULL,
    host         TEXT NOT NULL,
    PRIMARY KEY (server_group, host)
);
