package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5"
)

// Notifications (SPEC §9) on PostgreSQL. Several replicas share the
// outbox and the deliveries: one expands the outbox at a time (a
// transaction advisory lock, so deliveries are created in event order),
// deliveries are claimed with FOR UPDATE SKIP LOCKED and a lease, so that
// each is sent by one replica, and one replica sweeps at a time.

var _ gitops.Outbox = (*Store)(nil)

// The transaction advisory locks of the outbox expansion and of the
// sweep: the bytes "gitops-o" and "gitops-s", as migrationLockKey.
const (
	outboxLockKey int64 = 0x6769746f70732d6f
	sweepLockKey  int64 = 0x6769746f70732d73
)

// insertEventOutbox is insertEvent that also writes the event's outbox
// entry ($12), in the same statement and so the same transaction.
const insertEventOutbox = `WITH e AS (INSERT INTO events ("time", server_group, host, source, status, previous_status,
	commit_sha, validation_status, changed_files, updated_by, changes) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
	RETURNING id),
	o AS (INSERT INTO outbox (event_id, server_group, host, notice) SELECT id, $2, $3, $12 FROM e)
	SELECT id FROM e`

// outboxNotice is the outbox entry of ev, written with the record s, nil
// when ev is not notifiable.
func outboxNotice(ev *gitops.Event, s *gitops.Server) ([]byte, error) {
	if !gitops.Notifiable(ev) {
		return nil, nil
	}
	return json.Marshal(gitops.NoticeOf(ev, s))
}

// queueEvent queues the statement writing ev, and its outbox entry when
// notice is not nil; either returns the event's id.
func queueEvent(b *pgx.Batch, ev *gitops.Event, notice []byte) {
	if notice == nil {
		b.Queue(insertEvent, eventArgs(ev)...)
		return
	}
	b.Queue(insertEventOutbox, append(eventArgs(ev), string(notice))...)
}

// inTx runs fn in a transaction on a pooled connection, bounded by
// OperationTimeout, and repeats it once when the connection was lost.
func (s *Store) inTx(ctx context.Context, doing string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.read(ctx, doing, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
	})
}

// ExpandOutbox implements gitops.Outbox. A replica that finds another
// expanding returns 0 at once.
func (s *Store) ExpandOutbox(ctx context.Context, limit int, route func(gitops.Notice) []string) (int, error) {
	var n int
	err := s.inTx(ctx, "expanding the outbox", func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, outboxLockKey).Scan(&got); err != nil || !got {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, event_id, notice FROM outbox ORDER BY id LIMIT $1`, limit)
		if err != nil {
			return err
		}
		type entry struct {
			id, event int64
			notice    []byte
		}
		es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (entry, error) {
			var e entry
			return e, r.Scan(&e.id, &e.event, &e.notice)
		})
		if err != nil || len(es) == 0 {
			return err
		}
		now := s.clock().UnixMicro()
		b := &pgx.Batch{}
		ids := make([]int64, 0, len(es))
		for _, e := range es {
			var no gitops.Notice
			if err := json.Unmarshal(e.notice, &no); err != nil {
				return err
			}
			no.Event.ID = e.event
			key := strconv.FormatInt(e.event, 10)
			for _, hook := range route(no) {
				if err := queueDelivery(b, hook, key, &no, now); err != nil {
					return err
				}
			}
			ids = append(ids, e.id)
		}
		b.Queue(`DELETE FROM outbox WHERE id = ANY($1)`, ids)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		n = len(es)
		return nil
	})
	return n, err
}

func queueDelivery(b *pgx.Batch, hook, key string, no *gitops.Notice, now int64) error {
	nb, err := json.Marshal(no)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO deliveries (webhook, key, server_group, host, notice, created_at, next_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (webhook, key) DO NOTHING`,
		hook, key, no.Event.ServerGroup, no.Event.Host, string(nb), now)
	return nil
}

// AddReminder implements gitops.Outbox.
func (s *Store) AddReminder(ctx context.Context, webhook, key string, n gitops.Notice) (bool, error) {
	nb, err := json.Marshal(n)
	if err != nil {
		return false, err
	}
	var added bool
	err = s.read(ctx, "creating a reminder", func(ctx context.Context) error {
		now := s.clock().UnixMicro()
		tag, err := s.pool.Exec(ctx, `INSERT INTO deliveries (webhook, key, server_group, host, notice, created_at, next_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (webhook, key) DO NOTHING`,
			webhook, key, n.Event.ServerGroup, n.Event.Host, string(nb), now)
		added = err == nil && tag.RowsAffected() == 1
		return err
	})
	return added, err
}

// ClaimDeliveries implements gitops.Outbox: rows another replica is
// claiming are skipped (SKIP LOCKED), and the lease keeps them from being
// claimed again while they are sent.
func (s *Store) ClaimDeliveries(ctx context.Context, webhook string, now time.Time, lease time.Duration, limit int) ([]gitops.Delivery, error) {
	var ds []gitops.Delivery
	err := s.read(ctx, "claiming deliveries", func(ctx context.Context) error {
		at := now.UnixMicro()
		// heads is each server's oldest pending delivery (one pass over
		// the partial index); of those, the due and unleased ones are
		// locked, skipping any another replica is claiming.
		rows, err := s.pool.Query(ctx, `WITH c AS (
				SELECT d.id FROM deliveries d
				JOIN (SELECT min(id) AS id FROM deliveries WHERE webhook = $1 AND state = 'pending'
					GROUP BY server_group, host) heads ON d.id = heads.id
				WHERE d.state = 'pending' AND d.next_at <= $2 AND d.lease_until <= $2
				ORDER BY d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED)
			UPDATE deliveries SET lease_until = $3 FROM c WHERE deliveries.id = c.id
			RETURNING deliveries.id, key, notice, attempts, created_at`,
			webhook, at, now.Add(lease).UnixMicro(), limit)
		if err != nil {
			return err
		}
		ds, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (gitops.Delivery, error) {
			d := gitops.Delivery{Webhook: webhook}
			var notice []byte
			var created int64
			if err := r.Scan(&d.ID, &d.Key, &notice, &d.Attempts, &created); err != nil {
				return d, err
			}
			d.CreatedAt = time.UnixMicro(created).UTC()
			return d, json.Unmarshal(notice, &d.Notice)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// UPDATE … RETURNING does not keep the subquery's order.
	slices.SortFunc(ds, func(a, b gitops.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return ds, nil
}

// FinishDelivery implements gitops.Outbox.
func (s *Store) FinishDelivery(ctx context.Context, id int64, state gitops.DeliveryState, next time.Time, lastError string) error {
	st := "pending"
	switch state {
	case gitops.DeliveryDone:
		st = "done"
	case gitops.DeliveryGivenUp:
		st = "given_up"
	}
	return s.read(ctx, "recording a delivery", func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `UPDATE deliveries SET state = $1, next_at = $2, lease_until = 0,
			attempts = attempts + 1, last_error = $3 WHERE id = $4`, st, next.UnixMicro(), lastError, id)
		return err
	})
}

// PruneDeliveries implements gitops.Outbox.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.read(ctx, "pruning deliveries", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM deliveries WHERE state <> 'pending' AND created_at < $1`, before.UnixMicro())
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// PendingDeliveries implements gitops.Outbox.
func (s *Store) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.read(ctx, "counting deliveries", func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT webhook, count(*) FROM deliveries WHERE state = 'pending' GROUP BY webhook`)
		if err != nil {
			return err
		}
		var h string
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&h, &n}, func() error {
			out[h] = int(n)
			return nil
		})
		return err
	})
	return out, err
}

// SweepStale implements gitops.Outbox. It holds sweepLockKey for its
// transaction, and each candidate's row while it decides about it, so that
// an update of that server waits for it (and the other way round).
func (s *Store) SweepStale(ctx context.Context) ([]gitops.Event, error) {
	var evs []gitops.Event
	err := s.inTx(ctx, "sweeping stale servers", func(ctx context.Context, tx pgx.Tx) error {
		evs = evs[:0]
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sweepLockKey).Scan(&got); err != nil || !got {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT server_group, host FROM stale_marks`)
		if err != nil {
			return err
		}
		marked := map[gitops.Key]bool{}
		var k gitops.Key
		if _, err := pgx.ForEachRow(rows, []any{&k.ServerGroup, &k.Host}, func() error {
			marked[k] = true
			return nil
		}); err != nil {
			return err
		}
		keys, err := gitops.SweepCandidates(ctx, s, marked)
		if err != nil {
			return err
		}
		for _, k := range keys {
			was := marked[k]
			var sv gitops.Server
			found := true
			if err := scanServer(tx.QueryRow(ctx, selectLocked+` FOR UPDATE`, k.ServerGroup, k.Host), &sv); err == pgx.ErrNoRows {
				found = false
			} else if err != nil {
				return err
			}
			now := s.clock()
			stale := found && sv.IsStale(now, s.staleAfter)
			if stale == was {
				continue
			}
			if stale {
				_, err = tx.Exec(ctx, `INSERT INTO stale_marks (server_group, host) VALUES ($1, $2)`, k.ServerGroup, k.Host)
			} else {
				// Fresh again, or gone: a server created again under the
				// same key starts fresh.
				_, err = tx.Exec(ctx, `DELETE FROM stale_marks WHERE server_group = $1 AND host = $2`, k.ServerGroup, k.Host)
			}
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			ev := gitops.StaleEvent(&sv, stale, micro(now))
			notice, err := outboxNotice(ev, &sv)
			if err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, insertEventOutbox, append(eventArgs(ev), string(notice))...).Scan(&ev.ID); err != nil {
				return err
			}
			evs = append(evs, *ev)
		}
		return nil
	})
	return evs, err
}
