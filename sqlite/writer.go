package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// getServer returns one server as the writer's transaction sees it. found
// is false when it does not exist. The index is exact (the writer is its
// only mutator and no other process writes the file), so the record is
// decoded from the server's head; it is read with SQL only when this
// build's heads do not read back.
func (w *writer) getServer(k gitops.Key) (s gitops.Server, found bool, err error) {
	e := w.current(k)
	if e == nil {
		return s, false, nil
	}
	if w.s.headsOK {
		if s, err := e.Decode(); err == nil {
			return s, true, nil
		}
	}
	err = scanServer(w.get.QueryRowContext(context.Background(), k.ServerGroup, k.Host), &s)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, dbError("reading server "+k.String(), err)
	}
	return s, true, nil
}

// putServer writes s, a normalized record, with its head, and stages its
// new index entry, as storeApplied does; cur is the server's entry
// (w.current), nil when it has none.
func (w *writer) putServer(s *gitops.Server, cur *index.Entry) error {
	a := applied{out: gitops.Outcome{Applied: true, Server: *s}, head: s.AppendJSONHead(nil)}
	return w.storeApplied(&a, cur)
}

// storeApplied writes a, an applied update, with its event, and stages
// the new index entry. cur is the server's entry as the batch so far left
// it (w.current), nil when it has no row: with one, the row is updated in
// place by its rowid, and only when that finds no row, which the exact
// index rules out, upserted.
func (w *writer) storeApplied(a *applied, cur *index.Entry) error {
	k := a.out.Server.Key()
	var rowid int64
	if cur != nil {
		rowid = cur.RowID
	}
	// The row is built here rather than kept in a: it is ~900 bytes, the
	// largest part of what preparing an update allocates.
	r := serverRow(&a.out.Server, a.head)
	rowid, err := w.writeRow(&r, a.changed, rowid)
	if err != nil {
		return dbError("writing server "+k.String(), err)
	}
	e := w.in.NewEntry(&a.out.Server, a.head)
	e.RowID = rowid
	w.changes = append(w.changes, change{k, e})
	if a.out.Event == nil {
		return nil
	}
	res, err := w.addEvent.ExecContext(context.Background(), a.evArgs...)
	if err != nil {
		return dbError("writing an event of "+k.String(), err)
	}
	if a.out.Event.ID, err = res.LastInsertId(); err != nil {
		return dbError("writing an event of "+k.String(), err)
	}
	return dbError("writing the outbox entry of "+k.String(), w.addOutbox(a.out.Event, &a.out.Server))
}

// writeRow writes r and returns its rowid. changed, when not empty, is
// the set of r's columns that differ from the stored row: then only those
// are set, which spares binding the others and updating the indexes of
// columns that did not change. rowid is the row's as the index knows it,
// 0 when it has none (or it is not known): then the row is upserted.
func (w *writer) writeRow(r *row, changed rowargs.Set, rowid int64) (int64, error) {
	bg := context.Background()
	if rowid != 0 {
		st := w.update
		if changed == 0 {
			changed = allArgs
		} else if changed != allArgs {
			if st = w.updateOf(changed); st == nil {
				st, changed = w.update, allArgs
			}
		}
		// The arguments of the columns set, then the rowid and the key.
		w.args = append(r.appendArgs(w.args[:0], changed), rowid, r.cols[0].s, r.cols[1].s)
		res, err := st.ExecContext(bg, w.args...)
		clear(w.args)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return rowid, err
		}
	}
	w.args = r.appendArgs(w.args[:0], everyArg)
	err := w.upsert.QueryRowContext(bg, w.args...).Scan(&rowid)
	clear(w.args)
	return rowid, err
}

// applied is an update applied to a record, ready for the writer to store:
// the outcome with its record normalized (and its event's time at
// microsecond precision), and the arguments that store them.
type applied struct {
	out    gitops.Outcome
	head   []byte
	evArgs []any // eventArgs, when out.Event is not nil
	// changed is the set of the row's columns that differ from the record
	// the update was applied to (see row.changedFrom), 0 when there was
	// none.
	changed rowargs.Set
}

// apply applies u to cur (nil: the server does not exist), whose head is
// curHead (nil when not at hand), at now.
func apply(u gitops.Update, cur *gitops.Server, curHead []byte, now time.Time) (*applied, error) {
	o := u.Apply(cur, now) // leaves cur as it was
	a := &applied{out: o}
	if !o.Applied {
		return a, nil
	}
	if k := u.Key(); o.Server.Key() != k {
		return nil, gitops.Errorf(gitops.EINTERNAL, "update of %s produced a record for %s", k, o.Server.Key())
	}
	normalize(&a.out.Server)
	a.head = a.out.Server.AppendJSONHead(nil)
	if cur != nil {
		after, before := serverRow(&a.out.Server, a.head), serverRow(cur, curHead)
		a.changed = after.changedFrom(&before)
	}
	if o.Event != nil {
		ev := *o.Event
		ev.Time = gitops.Time{Time: gitops.Now(ev.Time.Time)}
		if ev.ChangedFiles == nil {
			ev.ChangedFiles = []string{}
		}
		a.out.Event = &ev
		a.evArgs = eventArgs(&ev)
	}
	return a, nil
}

// prepared is an update applied ahead of the writer, on the caller's
// goroutine, to base, the server's published index entry (nil when it did
// not exist), at the clock reading now.
type prepared struct {
	base *index.Entry
	now  time.Time
	a    *applied
}

// prepare applies u ahead of the writer, so that the writer, the one
// goroutine every write waits for, only has to store the result; it
// returns nil when the store cannot (no index, or heads that do not read
// back). The writer uses the result only when base is still the server's
// entry and now is not older than the last update it applied.
func (s *Store) prepare(u gitops.Update) *prepared {
	if s.idx == nil || !s.headsOK {
		return nil
	}
	base := s.idx.Get(u.Key())
	var cur *gitops.Server
	var curHead []byte
	if base != nil {
		sv, err := base.Decode()
		if err != nil {
			return nil
		}
		cur, curHead = &sv, base.Head()
	}
	p := &prepared{base: base, now: gitops.Now(s.now())}
	var err error
	if p.a, err = safeApply(u, cur, curHead, p.now); err != nil {
		return nil // the writer applies it again and reports what fails
	}
	return p
}

// safeApply is apply, turning a panic into an error as runRequest does.
func safeApply(u gitops.Update, cur *gitops.Server, curHead []byte, now time.Time) (a *applied, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", gitops.Errorf(gitops.EINTERNAL, "the write failed"), p)
		}
	}()
	return apply(u, cur, curHead, now)
}

// Apply applies u as one atomic read-modify-write of its server inside the
// writer's transaction, writing the new record and the outcome's event
// together; an update held back by an out-of-order rule writes nothing.
// The update is applied, at a clock reading, before it is queued (prepare);
// the writer stores it as is when its server did not change meanwhile and
// no update with a later reading was stored, and otherwise applies it again
// at a new reading, so the order of the times updates set is the order
// they were stored in.
// The returned Outcome's Server is the stored record (times at microsecond
// precision) with Stale filled in, and its Event, when there is one, carries
// the stored event's ID. Returns EUNAVAILABLE, EINTERNAL, or ctx's error
// when ctx ended before the write started.
func (s *Store) Apply(ctx context.Context, u gitops.Update) (gitops.Outcome, error) {
	k := u.Key()
	pre := s.prepare(u)
	// The closure keeps the applied update, not a copy of its outcome: a
	// variable the closure sets escapes, and an Outcome is ~450 bytes.
	var res *applied
	var now time.Time
	err := s.writeAt(ctx, pre.at(), func(w *writer) error {
		cur := w.current(k)
		var a *applied
		if pre != nil && cur == pre.base && !pre.now.Before(w.lastNow) {
			a, now = pre.a, pre.now
		} else {
			sv, found, err := w.getServer(k)
			if err != nil {
				return err
			}
			now = gitops.Now(s.now())
			var curp *gitops.Server
			var curHead []byte
			if found {
				curp = &sv
				if cur != nil && w.s.headsOK {
					curHead = cur.Head()
				}
			}
			if a, err = apply(u, curp, curHead, now); err != nil {
				return err
			}
		}
		if a.out.Applied {
			if err := w.storeApplied(a, cur); err != nil {
				return err
			}
			w.lastNow = now
		}
		res = a
		return nil
	})
	if err != nil {
		return gitops.Outcome{}, err
	}
	out := res.out
	if !out.Applied {
		normalize(&out.Server)
	}
	out.Server.Stale = out.Server.IsStale(now, s.staleAfter)
	s.heads.Load().FillDesired(&out.Server)
	return out, nil
}

// at is the clock reading of a prepared update, zero for none.
func (p *prepared) at() time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.now
}

// Delete forgets a server; its events stay until PruneEvents removes them.
// Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) Delete(ctx context.Context, k gitops.Key) error {
	return s.write(ctx, func(w *writer) error {
		res, err := w.del.ExecContext(context.Background(), k.ServerGroup, k.Host)
		if err != nil {
			return dbError("deleting server "+k.String(), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return dbError("deleting server "+k.String(), err)
		}
		if n == 0 {
			return notFound(k)
		}
		w.changes = append(w.changes, change{k, nil})
		return nil
	})
}

func notFound(k gitops.Key) error {
	return gitops.Errorf(gitops.ENOTFOUND, "server %s not found", k)
}

// PruneEvents deletes the events whose time is before before (strictly)
// and returns how many it deleted. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		res, err := w.prune.ExecContext(context.Background(), ceilMicro(before))
		if err != nil {
			return dbError("pruning events", err)
		}
		n, err = res.RowsAffected()
		return dbError("pruning events", err)
	})
	return int(n), err
}

// metaImportedAt is the meta key recording the last import.
const metaImportedAt = "imported_at"

// The meta table's statements: the value of a key, and setting one.
const (
	selectMeta = `SELECT value FROM meta WHERE key = ?`
	upsertMeta = `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`
)

// Import writes servers as given (complete records; Stale is ignored) in
// one transaction and records the import in the meta table. With
// ImportFirstStart it writes only when the store holds no server and has
// never imported, and reports false otherwise; the check and the writes
// share the write lock, so of several processes or goroutines importing at
// once exactly one does. It reports true when it imported, also when
// servers is empty (the import is recorded all the same). No events are
// written. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Import(ctx context.Context, servers []gitops.Server, mode gitops.ImportMode) (bool, error) {
	var did bool
	err := s.write(ctx, func(w *writer) error {
		bg := context.Background()
		if mode == gitops.ImportFirstStart {
			var v string
			err := w.getMeta.QueryRowContext(bg, metaImportedAt).Scan(&v)
			switch {
			case err == nil:
				return nil // imported before
			case !errors.Is(err, sql.ErrNoRows):
				return dbError("reading the import record", err)
			}
			var exists bool
			if err := w.anyServer.QueryRowContext(bg).Scan(&exists); err != nil {
				return dbError("counting servers", err)
			}
			if exists {
				return nil
			}
		}
		for i := range servers {
			sv := servers[i].Clone()
			normalize(&sv)
			if err := w.putServer(&sv, w.current(sv.Key())); err != nil {
				return err
			}
		}
		if _, err := w.setMeta.ExecContext(bg, metaImportedAt, gitops.FormatTime(gitops.Now(s.now()))); err != nil {
			return dbError("recording the import", err)
		}
		did = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return did, nil
}

// change is one server's new entry, or its removal when e is nil.
type change struct {
	k gitops.Key
	e *index.Entry
}
