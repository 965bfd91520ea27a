-- A webhook's worker claims the oldest due deliveries whose server has no
-- older one pending. Finding them read every pending delivery (each
-- server's oldest, then sorted), on the writer's connection: with a
-- backlog of tens of thousands, as when a receiver is slower than the
-- fleet's changes, the writer spent most of its time claiming and the
-- fleet's reports waited. This index walks the pending deliveries in id
-- order, so a claim stops after the ones it takes (docs/performance.md).
CREATE INDEX deliveries_due ON deliveries (webhook, id) WHERE state = 'pending';
