package postgres

import (
	"context"
	"errors"
	"strings"

	gitops "github.com/gitops-status/gitops-status"
)

// Group commit. Each update is an atomic read-modify-write of its server,
// but a transaction per update costs PostgreSQL a commit (a WAL flush and a
// few context switches) each time, which on a small machine is most of the
// work. So Apply hands its update to a writer goroutine, which applies
// every update waiting for it (up to maxBatch) in one transaction: it locks
// their rows in key order, applies the updates in the order they arrived,
// and writes the rows and events, in two round trips whatever the number of
// updates. Under light load a batch holds one update, and latency is that
// of a transaction of its own. On the 2-core development machine this took
// the server's CPU per update from about 190µs to 60µs at 32 concurrent
// updates.
const (
	// maxBatch bounds the updates of one transaction: enough that one
	// commit serves many, few enough that rows are not held long.
	maxBatch = 64
	// writers is how many transactions of one process may be in flight at
	// once. More writers make smaller batches, which cost more per update
	// (behind the HTTP server on 2 cores: one writer spent ~60µs of the
	// server's CPU and ~66µs of the process's per update, two ~77µs and
	// ~78µs, for the same throughput), and updates that arrive while a
	// batch runs wait at most that batch.
	writers = 1
	// maxApplyAttempts bounds how often a transaction is run: a lost
	// creation race and a dead pooled connection may each cost one more.
	maxApplyAttempts = 3
)

// applyReq is one Apply waiting for a writer.
type applyReq struct {
	ctx  context.Context
	u    gitops.Update
	done chan applyRes
}

type applyRes struct {
	out gitops.Outcome
	err error
}

// Apply applies u as an atomic read-modify-write of its server: in one
// transaction it locks the server's row (SELECT … FOR UPDATE), reads the
// clock, calls u.Apply, and writes the new row and the outcome's event
// before committing. An update held back by an out-of-order rule writes
// nothing. Because the clock is read while the row is locked, the times set
// on one server follow the order its updates were applied in (given one
// clock for all replicas).
//
// Concurrent updates share transactions (see maxBatch); they never change
// each other's outcome, and one that fails on its data (such as a NUL
// character) fails alone. Rows are locked in key order, so transactions of
// several replicas cannot deadlock. When a server does not exist there is
// no row to lock, and another replica may create it at the same moment:
// the INSERT of the one that comes second fails with a unique violation,
// nothing of it is committed, and its whole transaction runs again, now
// locking the row the other created. A transaction whose connection dies
// before it committed runs again on a new connection; when the connection
// dies while it commits, the database is asked whether it committed.
//
// Once a writer has taken u, it is applied even if ctx ends; before, ctx
// ending makes Apply return. The returned Outcome's Server is the stored
// record (times at microsecond precision) with Stale filled in; its Event,
// when there is one, carries the stored event's ID. Returns EUNAVAILABLE
// (also when ctx ended first, wrapping ctx's error), EINTERNAL, and
// EINVALID for text PostgreSQL cannot store (a NUL character).
func (s *Store) Apply(ctx context.Context, u gitops.Update) (gitops.Outcome, error) {
	k := u.Key()
	if err := ctx.Err(); err != nil {
		return gitops.Outcome{}, dbError("updating server "+k.String(), s.password, err)
	}
	r := &applyReq{ctx: ctx, u: u, done: make(chan applyRes, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return gitops.Outcome{}, errClosed()
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return gitops.Outcome{}, dbError("updating server "+k.String(), s.password, ctx.Err())
	}
	s.mu.RUnlock()
	res := <-r.done
	return res.out, res.err
}

// writer takes the requests waiting in s.reqs, up to maxBatch at a time,
// and applies them, until Close closes s.reqs.
func (s *Store) writer() {
	defer s.writersDone.Done()
	batch := make([]*applyReq, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill // apply what we have; the next receive ends the loop
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.runBatch(batch)
		clear(batch) // let answered requests be collected
	}
}

// runBatch applies batch and answers every request. Requests whose caller
// gave up before the writer took them are answered with their context's
// error and not applied. When the shared transaction fails on the data of
// one request, each request runs on its own, so only that one fails.
func (s *Store) runBatch(batch []*applyReq) {
	live := make([]*applyReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- applyRes{err: dbError("updating server "+r.u.Key().String(), s.password, err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	us := make([]gitops.Update, len(live))
	for i, r := range live {
		us[i] = r.u
	}
	outs, err := s.applyUpdates(us)
	if err != nil && len(live) > 1 && gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
		for _, r := range live {
			outs, err := s.applyUpdates([]gitops.Update{r.u})
			if err != nil {
				r.done <- applyRes{err: err}
			} else {
				r.done <- applyRes{out: outs[0]}
			}
		}
		return
	}
	for i, r := range live {
		if err != nil {
			r.done <- applyRes{err: s.keyError(r.u.Key(), err)}
		} else {
			r.done <- applyRes{out: outs[i]}
		}
	}
}

// keyError restates an error of a transaction of several updates as the
// error of the update of k.
func (s *Store) keyError(k gitops.Key, err error) error {
	var se *storeError
	if errors.As(err, &se) && se.ge.Code == gitops.EUNAVAILABLE {
		ge := *se.ge
		ge.Message = strings.Replace(ge.Message, "(while updating servers)", "(while updating server "+k.String()+")", 1)
		return &storeError{ge: &ge, cause: se.cause, text: se.text}
	}
	return err
}

// applyUpdates applies us in one transaction, run again when that is safe
// and may succeed (see applyTx), within OperationTimeout. Its errors are
// the ones Apply returns.
func (s *Store) applyUpdates(us []gitops.Update) ([]gitops.Outcome, error) {
	// The caller's context no longer matters: a request once taken
	// completes, so that the outcome the caller may still see is true.
	ctx, cancel := context.WithTimeout(context.Background(), OperationTimeout)
	defer cancel()
	doing := "updating servers"
	if len(us) == 1 {
		doing = "updating server " + us[0].Key().String()
	}
	var err error
	for attempt := 0; attempt < maxApplyAttempts; attempt++ {
		var outs []gitops.Outcome
		var retry bool
		outs, retry, err = s.applyTx(ctx, us)
		if err == nil {
			s.observeBatch(len(us))
			return outs, nil
		}
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, s.err(doing, err)
}
