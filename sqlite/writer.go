package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/gitops-status/gitops-status/internal/rowargs"
)

// request is one write waiting for the writer. fn runs inside the batch's
// transaction, under its own savepoint; done receives its result only after
// the transaction committed (or failed).
type request struct {
	ctx  context.Context
	fn   func(w *writer) error
	done chan error
	// at is the clock reading of an update prepared before it was queued
	// (see Store.Apply), zero for any other request. The writer runs a
	// batch in order of at, so that prepared updates meet the clock order
	// check and are not applied again.
	at time.Time
}

// writer owns the only writing connection. It takes every request waiting
// in reqs (up to maxBatch), runs them in one transaction, commits once,
// publishes what the batch changed to the index, and hands the batch to
// the syncer, which answers it once the WAL is on disk (sync.go): one
// fsync for one or more batches, and a write is readable from the index
// before its caller hears it succeeded.
type writer struct {
	s    *Store
	conn *sql.Conn
	reqs chan *request
	done chan struct{}

	// Prepared once on the writer's connection and reused by every batch.
	begin, commit, rollback        *sql.Stmt
	savepoint, release, rollbackTo *sql.Stmt
	get, upsert, update, addEvent  *sql.Stmt
	del, prune, addNotice          *sql.Stmt
	anyServer, getMeta, setMeta    *sql.Stmt

	idx *index.Index
	in  *index.Interner
	// lastNow is the newest clock reading an applied update used: a
	// prepared update whose reading is older is applied again, so that
	// times never go back in the order updates are stored (and events are
	// numbered) in.
	lastNow time.Time
	// changes are the index changes of the running request, in order;
	// pending is the newest change by key (nil = deleted) of the batch's
	// requests that succeeded, which later requests of the batch read
	// instead of the published index and which is published on commit.
	changes []change
	pending map[gitops.Key]*index.Entry
	// reqHeads are the heads the running request left (nil: unchanged),
	// pendingHeads those of the batch's requests that succeeded, published
	// on commit (see desired.go).
	reqHeads, pendingHeads *gitops.Heads

	beginErr error // why beginTx failed

	// lastCommit is when the writer last committed; gather keeps a small
	// batch open until commitGap after it (see gather), and gapTimer wakes
	// it then.
	lastCommit time.Time
	gapTimer   *time.Timer

	args []any // a row write's arguments, reused
	// updates are the UPDATE statements that set some columns only, by
	// the set they set (see updateOf); stmts those of the other writes, by
	// their query (see stmt).
	updates map[rowargs.Set]*sql.Stmt
	stmts   map[string]*sql.Stmt
}

func newWriter(ctx context.Context, s *Store, conn *sql.Conn, idx *index.Index, in *index.Interner) (*writer, error) {
	w := &writer{s: s, conn: conn, reqs: make(chan *request, queueLen), done: make(chan struct{}),
		idx: idx, in: in, pending: map[gitops.Key]*index.Entry{},
		gapTimer: time.NewTimer(time.Hour)}
	w.gapTimer.Stop()
	if err := w.prepareStmts(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// stopUnstarted releases a writer whose run loop never started.
func (w *writer) stopUnstarted() {
	w.closeStmts()
	w.conn.Close()
}

// run drains reqs until Close closes it, then releases the connection.
func (w *writer) run() {
	defer close(w.done)
	defer w.conn.Close()
	defer w.closeStmts()
	batch := make([]*request, 0, maxBatch)
	errs := make([]error, maxBatch)
	for {
		r, ok := <-w.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break fill // run what we have; the next receive ends the loop
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		// Concurrent requests may run in any order; this one keeps the
		// clock readings of prepared updates increasing.
		slices.SortStableFunc(batch, func(a, b *request) int { return a.at.Compare(b.at) })
		batch = w.runBatch(batch, errs)
		clear(batch) // let answered requests be collected
	}
}

// runBatch runs batch in one transaction. Requests run first without
// savepoints (runPlain), which costs SQLite a sub-journal copy of every
// page a request changes and the writer two statements per request. When
// one fails, the transaction is rolled back and the batch runs again with
// each request under its own savepoint, so the one that fails is rolled
// back alone and the others still commit; nothing was answered in between,
// and each request reads the store afresh when it runs again. Requests
// whose caller gave up before the writer took them are answered with their
// context's error and not run.
//
// errs has room for maxBatch answers. Requests that arrive while the
// syncer is still syncing earlier batches join the batch (gather); it
// returns the batch as it ran.
func (w *writer) runBatch(batch []*request, errs []error) []*request {
	live := 0
	for i, r := range batch {
		errs[i] = r.ctx.Err()
		if errs[i] == nil {
			live++
		}
	}
	if live == 0 {
		answer(batch, errs)
		return batch
	}
	if err := w.s.sy.err(); err != nil {
		failAll(batch, errs[:len(batch)], err)
		return batch
	}
	if !w.beginTx() {
		failAll(batch, errs[:len(batch)], dbError("starting a write transaction", w.beginErr))
		return batch
	}
	ok := w.runPlain(batch, errs)
	if ok {
		batch, ok = w.gather(batch, errs)
	}
	errs = errs[:len(batch)]
	if ok {
		w.commitBatch(batch, errs)
		return batch
	}
	w.runSaved(batch, errs)
	return batch
}

// gather runs, in the open transaction, the requests that arrive while the
// syncer is still syncing earlier batches, and, while the batch is smaller
// than fullBatch, those that follow within idleGap of each other until
// commitGap has passed since the last commit; at most until the batch is
// full. Answering them could not come much sooner anyway, and committing
// them together writes the pages they share once. Without it the writer,
// no longer waiting for the disk, commits every few requests, and a large
// fleet's commits cost more than its updates. ok is false when a request
// failed: the transaction must be run again with savepoints.
func (w *writer) gather(batch []*request, errs []error) (_ []*request, ok bool) {
	lastArrival := time.Now()
	for len(batch) < maxBatch {
		var gapEnd <-chan time.Time
		if !w.s.sy.busy() {
			if len(batch) >= fullBatch {
				break
			}
			end := w.lastCommit.Add(commitGap)
			if idle := lastArrival.Add(idleGap); idle.Before(end) {
				end = idle
			}
			left := time.Until(end)
			if left <= 0 {
				break
			}
			w.gapTimer.Reset(left)
			gapEnd = w.gapTimer.C
		}
		select {
		case r, open := <-w.reqs:
			if !open {
				return batch, true // commit these; the next receive ends the loop
			}
			lastArrival = time.Now()
			i := len(batch)
			batch = append(batch, r)
			if errs[i] = r.ctx.Err(); errs[i] != nil {
				continue
			}
			if err := runRequest(w, r); err != nil {
				return batch, false
			}
			w.keepChanges()
			w.dropChanges()
		case <-w.s.sy.flushed:
		case <-gapEnd:
		}
		w.gapTimer.Stop()
	}
	return batch, true
}

// runSaved runs batch again, each request under its own savepoint, after
// one of its requests failed, and commits what succeeded.
func (w *writer) runSaved(batch []*request, errs []error) {
	bg := context.Background() // once taken, a request completes
	// A request failed: nothing of the batch is written yet.
	_, _ = w.rollback.ExecContext(bg)
	w.forget()
	if !w.beginTx() {
		failAll(batch, errs, dbError("starting a write transaction", w.beginErr))
		return
	}
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if _, err := w.savepoint.ExecContext(bg); err != nil {
			w.abort(batch, errs, dbError("starting a write", err))
			return
		}
		if errs[i] = runRequest(w, r); errs[i] == nil {
			_, err := w.release.ExecContext(bg)
			if err != nil {
				w.abort(batch, errs, dbError("writing", err))
				return
			}
			w.keepChanges()
			w.dropChanges()
			continue
		}
		w.dropChanges() // rolled back with the request
		// Some errors (disk full, I/O) make SQLite roll back the whole
		// transaction; then the savepoint is gone and the batch is lost.
		if _, err := w.rollbackTo.ExecContext(bg); err != nil {
			w.abort(batch, errs, errs[i])
			return
		}
		if _, err := w.release.ExecContext(bg); err != nil {
			w.abort(batch, errs, errs[i])
			return
		}
	}
	w.commitBatch(batch, errs)
}

// beginTx starts the batch's transaction, leaving the error in beginErr
// when it cannot.
func (w *writer) beginTx() bool {
	bg := context.Background()
	if _, err := w.begin.ExecContext(bg); err != nil {
		// A transaction a failed ROLLBACK left open would refuse every
		// later BEGIN: end it and try once more.
		_, _ = w.rollback.ExecContext(bg)
		if _, err := w.begin.ExecContext(bg); err != nil {
			w.beginErr = err
			return false
		}
	}
	return true
}

// runPlain runs the live requests of batch in the open transaction without
// savepoints and reports whether all of them succeeded. When one fails it
// stops there; the caller rolls back.
func (w *writer) runPlain(batch []*request, errs []error) bool {
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if err := runRequest(w, r); err != nil {
			return false
		}
		w.keepChanges()
		w.dropChanges()
	}
	return true
}

// commitBatch commits the transaction, publishes the batch's index changes
// and answers it.
func (w *writer) commitBatch(batch []*request, errs []error) {
	if _, err := w.commit.ExecContext(context.Background()); err != nil {
		w.abort(batch, errs, dbError("committing writes", err))
		// Whether a failed COMMIT wrote anything is the database's to
		// say: read the index again rather than guess.
		w.reload()
		return
	}
	w.lastCommit = time.Now()
	w.idx.Publish(w.pending)
	w.s.ckpt.committed()
	if w.pendingHeads != nil {
		w.s.heads.Store(w.pendingHeads)
	}
	w.forget()
	committed := 0
	for _, err := range errs {
		if err == nil {
			committed++
		}
	}
	if committed > 0 {
		w.s.observeBatch(committed)
	}
	w.s.sy.committed(batch, errs)
}

// abort rolls the transaction back and answers every request that had not
// failed on its own with err: none of the batch was written.
func (w *writer) abort(batch []*request, errs []error, err error) {
	_, _ = w.rollback.ExecContext(context.Background()) // fails harmlessly when SQLite already rolled back
	w.forget()
	failAll(batch, errs, err)
}

// forget drops the batch's index changes, published or rolled back.
func (w *writer) forget() {
	w.dropChanges()
	clear(w.pending)
	w.pendingHeads = nil
}

// keepChanges adds the running request's changes to the batch's.
func (w *writer) keepChanges() {
	for _, c := range w.changes {
		w.pending[c.k] = c.e
	}
	if w.reqHeads != nil {
		w.pendingHeads = w.reqHeads
	}
}

func (w *writer) dropChanges() {
	clear(w.changes)
	w.changes = w.changes[:0]
	w.reqHeads = nil
}

// reload reads the whole index from the database again. When it cannot,
// the index stays as it was: the database most likely rolled back.
func (w *writer) reload() {
	fresh, err := loadIndex(context.Background(), w.s.path, w.conn, w.in)
	if err != nil {
		return
	}
	w.idx.Reset(fresh)
	if heads, err := loadHeads(context.Background(), w.conn); err == nil {
		w.s.heads.Store(heads)
	}
}

// current returns the entry of k as the batch so far left it, nil when the
// server does not exist.
func (w *writer) current(k gitops.Key) *index.Entry {
	if e, ok := w.pending[k]; ok {
		return e
	}
	return w.idx.Lookup(k)
}

func failAll(batch []*request, errs []error, err error) {
	for i := range batch {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	answer(batch, errs)
}

func answer(batch []*request, errs []error) {
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// runRequest runs r.fn, turning a panic into an error so that one bad
// request cannot take the writer, and every later write, down with it.
func runRequest(w *writer, r *request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", gitops.Errorf(gitops.EINTERNAL, "the write failed"), p)
		}
	}()
	return r.fn(w)
}

// write queues fn for the writer and waits for its answer. When ctx ends
// before the writer takes the request, the answer is ctx's error and fn
// never runs; once taken, the request completes regardless of ctx.
func (s *Store) write(ctx context.Context, fn func(w *writer) error) error {
	return s.writeAt(ctx, time.Time{}, fn)
}

// writeAt is write for a request prepared at the clock reading at.
func (s *Store) writeAt(ctx context.Context, at time.Time, fn func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.readOnly {
		return gitops.Errorf(gitops.EUNAVAILABLE, "database %s is open read-only", s.path)
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1), at: at}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return errClosed()
	}
	select {
	case s.w.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	return <-r.done
}

// change is one server's new entry, or its removal when e is nil.
type change struct {
	k gitops.Key
	e *index.Entry
}
