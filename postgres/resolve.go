package postgres

import (
	"context"
	"errors"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5/pgconn"
)

// unsure decides what a failed write means: nil when the transaction
// committed all the same (the connection died as it did; resolve asks the
// database), else the error to return and whether running the transaction
// again is safe and may succeed.
func (s *Store) unsure(ctx context.Context, t *batchTx, err error) (retry bool, _ error) {
	var pe *pgconn.PgError
	if !t.committing && errors.As(err, &pe) {
		// The server reported an error before COMMIT ran, so it aborted
		// the transaction: nothing was committed.
		return s.lost(err) || transient(err) || pe.Code == "23505", err
	}
	if !s.lost(err) && !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
		return false, err
	}
	// The connection died while the writes or the COMMIT were on their
	// way: whether they committed is for the database to say. The question
	// is quick; it gets a few seconds of its own when the transaction ran
	// out of time.
	rctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	committed, known := s.resolve(rctx, t.xid)
	switch {
	case !known:
		return false, &storeError{
			ge:    gitops.Errorf(gitops.EUNAVAILABLE, "database unavailable: the connection was lost while committing; the update may or may not have been applied"),
			cause: err,
			text:  "connection lost while committing: " + redact(oneLine(err), s.password),
		}
	case !committed:
		return true, err
	}
	// The updates are applied: failing now would be untrue. An id that
	// cannot be found stays 0.
	s.findEventIDs(rctx, t.events)
	return false, nil
}

// findEventIDs looks up the ids of committed events whose ids were lost
// with their connection, as far as the database answers. An event is the
// newest of its server at its time, which the clock, read while the row
// was locked, makes unique.
func (s *Store) findEventIDs(ctx context.Context, events []*gitops.Event) {
	for _, ev := range events {
		if ev.ID != 0 {
			continue
		}
		if err := s.pool.QueryRow(ctx, `SELECT id FROM events WHERE server_group = $1 AND host = $2 AND "time" = $3
			ORDER BY id DESC LIMIT 1`, ev.ServerGroup, ev.Host, ts(ev.Time.Time)).Scan(&ev.ID); err != nil {
			return
		}
	}
}

// resolve asks the database, on a new connection, whether the transaction
// xid committed, for a transaction whose connection died while it
// committed. pg_xact_status answers that from the commit log. known is
// false when the database cannot be asked, when xid is "" (the connection
// died before the first write answered), or when the transaction stays in
// progress (its backend has not noticed yet that the connection is gone).
func (s *Store) resolve(ctx context.Context, xid string) (committed, known bool) {
	if xid == "" {
		return false, false
	}
	// A backend that was terminated records its abort as it exits, which
	// may take a moment: "in progress" is asked again for up to a second.
	for wait := 0; wait < 50; wait++ {
		var status *string
		err := s.pool.QueryRow(ctx, "SELECT pg_xact_status($1::xid8)", xid).Scan(&status)
		if err != nil && s.lost(err) && ctx.Err() == nil {
			err = s.pool.QueryRow(ctx, "SELECT pg_xact_status($1::xid8)", xid).Scan(&status)
		}
		switch {
		case err != nil || status == nil:
			return false, false
		case *status == "committed":
			return true, true
		case *status == "aborted":
			return false, true
		}
		select {
		case <-ctx.Done():
			return false, false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, false
}
