-- Notifications (SPEC §9). outbox holds the notifiable events not yet
-- turned into deliveries; it is written in the transaction of the event.
-- deliveries holds one row per (webhook, event or reminder) until it is
-- sent or given up, with its retry state and lease (times in unix
-- microseconds), so that it survives restarts and replicas share it.
-- stale_marks records the servers the sweep last found stale.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     bigint NOT NULL,
    server_group text   NOT NULL,
    host         text   NOT NULL,
    notice       jsonb  NOT NULL
);

CREATE TABLE deliveries (
    id           bigserial PRIMARY KEY,
    webhook      text   NOT NULL,
    key          text   NOT NULL,
    server_group text   NOT NULL,
    host         text   NOT NULL,
    notice       jsonb  NOT NULL,
    created_at   bigint NOT NULL,
    next_at      bigint NOT NULL,
    lease_until  bigint NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0,
    state        text   NOT NULL DEFAULT 'pending',
    last_error   text   NOT NULL DEFAULT '',
    UNIQUE (webhook, key)
);
CREATE INDEX deliveries_pending ON deliveries (webhook, server_group, host, id) WHERE state = 'pending';

CREATE TABLE stale_marks (
    server_group text NOT NULL COLLATE "C",
    host         text NOT NULL COLLATE "C",
    PRIMARY KEY (server_group, host)
);
