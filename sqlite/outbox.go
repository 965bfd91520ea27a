package sqlite

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// The outbox and deliveries (SPEC §9) run on the writer's connection: one
// process owns the file, so its single writer orders them with the
// updates, and each call is one short statement or two.

var (
	_ gitops.Outbox       = (*Store)(nil)
	_ gitops.OutboxSwitch = (*Store)(nil)
)

// KeepOutbox implements gitops.OutboxSwitch: the dispatcher turns the
// outbox off while it has no webhook. Each entry costs a JSON encoding and
// an insert in the writer's transaction, then a delete when the dispatcher
// drains it unsent; at a large fleet that was ~2 % of the service's CPU
// for nothing.
func (s *Store) KeepOutbox(on bool) { s.noOutbox.Store(!on) }

// addOutbox writes the outbox entry of ev, a stored event of s, when it is
// notifiable and the outbox is on: in the writer's transaction, so it
// commits with the event.
func (w *writer) addOutbox(ev *gitops.Event, s *gitops.Server) error {
	if w.s.noOutbox.Load() || !gitops.Notifiable(ev) {
		return nil
	}
	b, err := json.Marshal(gitops.NoticeOf(ev, s))
	if err != nil {
		return err
	}
	_, err = w.addNotice.ExecContext(context.Background(), ev.ID, ev.ServerGroup, ev.Host, string(b))
	return err
}

// insertNotice is addOutbox's statement, prepared once: most events write
// one, and preparing it for each was most of what writing it cost.
const insertNotice = `INSERT INTO outbox (event_id, server_group, host, notice) VALUES (?, ?, ?, ?)`

// ExpandOutbox implements gitops.Outbox.
func (s *Store) ExpandOutbox(ctx context.Context, limit int, route func(gitops.Notice) []string) (int, error) {
	var n int
	err := s.write(ctx, func(w *writer) error {
		rows, err := w.query(`SELECT id, event_id, notice FROM outbox ORDER BY id LIMIT ?`, limit)
		if err != nil {
			return dbError("reading the outbox", err)
		}
		type entry struct {
			id, event int64
			notice    string
		}
		var es []entry
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.id, &e.event, &e.notice); err != nil {
				rows.Close()
				return dbError("reading the outbox", err)
			}
			es = append(es, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("reading the outbox", err)
		}
		now := s.clock().UnixMicro()
		for _, e := range es {
			var no gitops.Notice
			if err := json.Unmarshal([]byte(e.notice), &no); err != nil {
				return dbError("reading the outbox", err)
			}
			no.Event.ID = e.event
			key := strconv.FormatInt(e.event, 10)
			for _, hook := range route(no) {
				if err := w.insertDelivery(hook, key, &no, now); err != nil {
					return dbError("creating a delivery", err)
				}
			}
		}
		// The entries read are the outbox's first by id, and nothing
		// else writes inside the writer's transaction: one statement
		// empties them, where one each was prepared and run.
		if len(es) > 0 {
			if _, err := w.exec(`DELETE FROM outbox WHERE id <= ?`, es[len(es)-1].id); err != nil {
				return dbError("emptying the outbox", err)
			}
		}
		n = len(es)
		return nil
	})
	return n, err
}

func (w *writer) insertDelivery(hook, key string, no *gitops.Notice, now int64) error {
	b, err := json.Marshal(no)
	if err != nil {
		return err
	}
	_, err = w.exec(`INSERT INTO deliveries
		(webhook, key, server_group, host, notice, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (webhook, key) DO NOTHING`,
		hook, key, no.Event.ServerGroup, no.Event.Host, string(b), now, now)
	return err
}

// AddReminder implements gitops.Outbox.
func (s *Store) AddReminder(ctx context.Context, webhook, key string, n gitops.Notice) (bool, error) {
	var added bool
	err := s.write(ctx, func(w *writer) error {
		var exists bool
		st, err := w.stmt(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE webhook = ? AND key = ?)`)
		if err == nil {
			err = st.QueryRowContext(context.Background(), webhook, key).Scan(&exists)
		}
		if err != nil {
			return dbError("reading deliveries", err)
		}
		if exists {
			return nil
		}
		added = true
		return dbError("creating a reminder", w.insertDelivery(webhook, key, &n, s.clock().UnixMicro()))
	})
	return added, err
}

// claimQuery reads the pending deliveries of a webhook in id order (the
// index deliveries_due) and takes each due and unleased one whose server
// has no older one pending (a seek in deliveries_pending), up to the
// limit: a claim reads the pending deliveries up to the last it takes, not
// all of them, which with a backlog was most of the writer's time.
const claimQuery = `SELECT d.id, d.key, d.notice, d.attempts, d.created_at FROM deliveries d
	WHERE d.webhook = ? AND d.state = 'pending' AND d.next_at <= ? AND d.lease_until <= ?
		AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.webhook = d.webhook AND o.state = 'pending'
			AND o.server_group = d.server_group AND o.host = d.host AND o.id < d.id)
	ORDER BY d.id LIMIT ?`

// ClaimDeliveries implements gitops.Outbox.
func (s *Store) ClaimDeliveries(ctx context.Context, webhook string, now time.Time, lease time.Duration, limit int) ([]gitops.Delivery, error) {
	var ds []gitops.Delivery
	err := s.write(ctx, func(w *writer) error {
		at := now.UnixMicro()
		rows, err := w.query(claimQuery, webhook, at, at, limit)
		if err != nil {
			return dbError("claiming deliveries", err)
		}
		ds = ds[:0]
		for rows.Next() {
			d := gitops.Delivery{Webhook: webhook}
			var notice string
			var created int64
			if err := rows.Scan(&d.ID, &d.Key, &notice, &d.Attempts, &created); err != nil {
				rows.Close()
				return dbError("claiming deliveries", err)
			}
			if err := json.Unmarshal([]byte(notice), &d.Notice); err != nil {
				rows.Close()
				return dbError("claiming deliveries", err)
			}
			d.CreatedAt = time.UnixMicro(created).UTC()
			ds = append(ds, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return dbError("claiming deliveries", err)
		}
		until := now.Add(lease).UnixMicro()
		for _, d := range ds {
			if _, err := w.exec(`UPDATE deliveries SET lease_until = ? WHERE id = ?`, until, d.ID); err != nil {
				return dbError("claiming deliveries", err)
			}
		}
		return nil
	})
	return ds, err
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
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`UPDATE deliveries SET state = ?, next_at = ?, lease_until = 0,
			attempts = attempts + 1, last_error = ? WHERE id = ?`, st, next.UnixMicro(), lastError, id)
		return dbError("recording a delivery", err)
	})
}

// PruneDeliveries implements gitops.Outbox.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM deliveries WHERE state <> 'pending' AND created_at < ?`, before.UnixMicro())
		if err != nil {
			return dbError("pruning deliveries", err)
		}
		n, err = res.RowsAffected()
		return dbError("pruning deliveries", err)
	})
	return int(n), err
}

// PendingDeliveries implements gitops.Outbox.
func (s *Store) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.write(ctx, func(w *writer) error {
		rows, err := w.query(`SELECT webhook, count(*) FROM deliveries WHERE state = 'pending' GROUP BY webhook`)
		if err != nil {
			return dbError("counting deliveries", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			var n int
			if err := rows.Scan(&h, &n); err != nil {
				return dbError("counting deliveries", err)
			}
			out[h] = n
		}
		return dbError("counting deliveries", rows.Err())
	})
	return out, err
}

// SweepStale implements gitops.Outbox. The file has one writer, so the
// sweep never runs twice at once.
func (s *Store) SweepStale(ctx context.Context) ([]gitops.Event, error) {
	// The scan of every server runs before the writer is taken, since
	// every write waits for the writer; each candidate is decided again
	// under it, at its own time.
	staleNow, err := gitops.StaleNow(ctx, s)
	if err != nil {
		return nil, err
	}
	var evs []gitops.Event
	err = s.write(ctx, func(w *writer) error {
		evs = evs[:0]
		bg := context.Background()
		marked, err := w.staleMarks()
		if err != nil {
			return err
		}
		keys := gitops.ChangedMarks(staleNow, marked)
		now := s.clock()
		for _, k := range keys {
			was := marked[k]
			sv, found, err := w.getServer(k)
			if err != nil {
				return err
			}
			stale := found && sv.IsStale(now, s.staleAfter)
			if stale == was {
				continue
			}
			if stale {
				_, err = w.exec(`INSERT INTO stale_marks (server_group, host) VALUES (?, ?)`, k.ServerGroup, k.Host)
			} else {
				// Fresh again, or gone: a server created again under the
				// same key starts fresh.
				_, err = w.exec(`DELETE FROM stale_marks WHERE server_group = ? AND host = ?`, k.ServerGroup, k.Host)
			}
			if err != nil {
				return dbError("writing a stale mark", err)
			}
			if !found {
				continue
			}
			ev := gitops.StaleEvent(&sv, stale, now)
			res, err := w.addEvent.ExecContext(bg, eventArgs(ev)...)
			if err != nil {
				return dbError("writing an event of "+k.String(), err)
			}
			if ev.ID, err = res.LastInsertId(); err != nil {
				return dbError("writing an event of "+k.String(), err)
			}
			if err := w.addOutbox(ev, &sv); err != nil {
				return dbError("writing the outbox", err)
			}
			evs = append(evs, *ev)
		}
		return nil
	})
	return evs, err
}

// staleMarks reads the servers the last sweeps found stale.
func (w *writer) staleMarks() (map[gitops.Key]bool, error) {
	marked := map[gitops.Key]bool{}
	rows, err := w.query(`SELECT server_group, host FROM stale_marks`)
	if err != nil {
		return nil, dbError("reading stale marks", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k gitops.Key
		if err := rows.Scan(&k.ServerGroup, &k.Host); err != nil {
			return nil, dbError("reading stale marks", err)
		}
		marked[k] = true
	}
	return marked, dbError("reading stale marks", rows.Err())
}
