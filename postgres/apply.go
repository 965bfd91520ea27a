package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/gitops-status/gitops-status/internal/rowargs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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

// lockServer selects and locks one server's row: its head and the two
// fields a head does not carry. Decoding the head costs both sides less
// than the 26 typed columns (on the development machine, ~8 % more
// pipeline writes per second and ~8 % less of the service's CPU per write).
// A row whose head does not read back (NULL after an older binary wrote
// the row, see migration 0003) is read again from its columns
// (selectLocked), as every row is when this build's heads do not read back.
const (
	lockServer   = `SELECT head, imported, legacy_written_at FROM servers WHERE server_group = $1 AND host = $2 FOR UPDATE`
	selectLocked = selectServer + ` WHERE server_group = $1 AND host = $2`
)

// maxPartialUpdates bounds the UPDATE texts updateOf keeps. A pipeline or
// cron update changes one of a few sets of columns, so a handful are in
// use; the statements themselves are in pgx's cache of each connection.
const maxPartialUpdates = 64

// updateOf returns partialUpdate(set), built once per set.
func (s *Store) updateOf(set rowargs.Set) string {
	if q, ok := s.updates.Load(set); ok {
		return q.(string)
	}
	q := partialUpdate(set)
	if s.nUpdates.Load() < maxPartialUpdates && s.nUpdates.Add(1) <= maxPartialUpdates {
		s.updates.Store(set, q)
	}
	return q
}

// scanLocked scans a row of lockServer into the record it holds; ok is
// false when its head does not read back, or decode is false (this
// build's heads do not read back).
func scanLocked(row pgx.Row, decode bool) (sv *gitops.Server, ok bool, err error) {
	// Text, not []byte: the decoded record's strings share its one copy
	// of the head (a []byte would be copied once more to decode).
	var head pgtype.Text
	var imported bool
	var legacy pgtype.Timestamptz
	if err := row.Scan(&head, &imported, &legacy); err != nil || !decode {
		return nil, false, err
	}
	s, err := index.DecodeHeadString(head.String)
	if err != nil || !head.Valid {
		return nil, false, nil
	}
	s.Imported, s.LegacyWrittenAt = imported, fromTS(legacy)
	return &s, true, nil
}

// applyTx runs one transaction that applies us in order. retry reports that
// it failed without committing anything and running it again may succeed.
//
// Two round trips, whatever the number of updates: BEGIN and the locking
// SELECTs in one, the writes and COMMIT in the other; the statements of
// each are pipelined. (One statement over arrays of all rows was tried: it
// costs the server about as much per row, and much more for a transaction
// of one update, the common case under light load.)
//
// When the connection dies after the writes were sent, applyTx asks the
// database whether the transaction committed (resolve): committed is
// success, aborted is safe to repeat, and only when that cannot be known
// does it fail with EUNAVAILABLE saying the updates may have been applied.
func (s *Store) applyTx(ctx context.Context, us []gitops.Update) (outs []gitops.Outcome, retry bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	// Release destroys a connection still inside a transaction, so no path
	// out of here can leave rows locked.
	defer pc.Release()
	conn := pc.Conn()

	keys := make([]gitops.Key, len(us))
	for i, u := range us {
		keys[i] = u.Key()
	}
	slices.SortFunc(keys, gitops.CompareKeys)
	keys = slices.Compact(keys)

	// Round trip 1: begin and lock the rows, one statement per row in key
	// order, which is the order the rows are locked in.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, k := range keys {
		b.Queue(lockServer, k.ServerGroup, k.Host)
	}
	br := conn.SendBatch(ctx, b)
	cur := make(map[gitops.Key]*gitops.Server, len(keys))
	var unread []gitops.Key // locked, with a head that does not read back
	_, err = br.Exec()
	for _, k := range keys {
		if err != nil {
			break
		}
		var sv *gitops.Server
		var ok bool
		sv, ok, err = scanLocked(br.QueryRow(), s.headsOK)
		switch {
		case err == nil && ok:
			cur[k] = sv
		case err == nil:
			unread = append(unread, k)
		case errors.Is(err, pgx.ErrNoRows):
			err = nil
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	for _, k := range unread {
		if err != nil {
			break
		}
		sv := new(gitops.Server)
		if err = scanServer(conn.QueryRow(ctx, selectLocked, k.ServerGroup, k.Host), sv); err == nil {
			cur[k] = sv
		}
	}
	if err != nil {
		rollback(conn)
		// Nothing was written yet, so repeating is safe.
		return nil, s.lost(err) || transient(err), err
	}

	// Apply the updates in order, each to the record the ones before left.
	// locked keeps the records as the rows hold them.
	locked := maps.Clone(cur)
	outs = make([]gitops.Outcome, len(us))
	changed := map[gitops.Key]bool{}
	var events []*gitops.Event
	var notices [][]byte // the outbox entry of each event, nil for none
	nows := make([]time.Time, len(us))
	for i, u := range us {
		k := u.Key()
		now := s.clock()
		nows[i] = now
		o, err := safeApply(u, cur[k], now)
		if err != nil {
			rollback(conn)
			return nil, false, err
		}
		normalize(&o.Server)
		if o.Applied {
			if o.Server.Key() != k {
				rollback(conn)
				return nil, false, gitops.Errorf(gitops.EINTERNAL, "update of %s produced a record for %s", k, o.Server.Key())
			}
			next := o.Server.Clone()
			cur[k] = &next
			changed[k] = true
			if o.Event != nil {
				ev := *o.Event
				ev.Time = gitops.Time{Time: micro(ev.Time.Time)}
				ev.ChangedFiles = nonNilList(ev.ChangedFiles)
				o.Event = &ev
				events = append(events, o.Event)
				n, err := outboxNotice(&ev, &o.Server)
				if err != nil {
					rollback(conn)
					return nil, false, err
				}
				notices = append(notices, n)
			}
		}
		outs[i] = o
	}
	if len(changed) == 0 {
		rollback(conn) // only releases the locks: nothing to write
		s.fillStale(outs, nows)
		return outs, false, nil
	}

	// Round trip 2: take the transaction's change number (the rows are
	// locked, so this is the order cache.go relies on: row locks, then the
	// counter, held until COMMIT), log the changed keys with it, write the
	// changed rows with their heads, in key order, and the events, in the
	// order of the updates, one statement each; commit. Writing a row
	// returns the transaction's id, for resolve.
	b = &pgx.Batch{}
	b.Queue(bumpCounter)
	heads := make(map[gitops.Key][]byte, len(changed))
	groups, hosts := make([]string, 0, len(changed)), make([]string, 0, len(changed))
	for _, k := range keys {
		if changed[k] {
			groups, hosts = append(groups, k.ServerGroup), append(hosts, k.Host)
		}
	}
	// One log row for the whole transaction (see migration 0004).
	b.Queue(logChanges, groups, hosts)
	for _, k := range keys {
		if !changed[k] {
			continue
		}
		head := cur[k].AppendJSONHead(nil)
		heads[k] = head
		if was := locked[k]; was != nil {
			set := changedColumns(was, cur[k])
			b.Queue(s.updateOf(set), updateArgs(set, cur[k], head)...)
		} else {
			b.Queue(insertServer, append(serverArgs(cur[k]), head)...)
		}
	}
	for i, ev := range events {
		queueEvent(b, ev, notices[i])
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	committing := false
	var xid string
	var change int64
	err = scanCounter(br.QueryRow(), &change)
	if err == nil {
		_, err = br.Exec()
	}
	for i := 0; i < len(heads) && err == nil; i++ {
		err = br.QueryRow().Scan(&xid)
	}
	for i := 0; i < len(events) && err == nil; i++ {
		err = br.QueryRow().Scan(&events[i].ID)
	}
	if err == nil {
		committing = true
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		if err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("committing: the server answered %q", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn)
		var pe *pgconn.PgError
		if !committing && errors.As(err, &pe) {
			// The server reported an error before COMMIT ran, so it
			// aborted the transaction: nothing was committed.
			return nil, s.lost(err) || transient(err) || pe.Code == "23505", err
		}
		if !s.lost(err) && !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
			return nil, false, err
		}
		// The connection died while the writes or the COMMIT were on
		// their way: whether they committed is for the database to say.
		// The question is quick; it gets a few seconds of its own when
		// the transaction ran out of time.
		rctx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
		}
		committed, known := s.resolve(rctx, xid)
		switch {
		case !known:
			return nil, false, &storeError{
				ge:    gitops.Errorf(gitops.EUNAVAILABLE, "database unavailable: the connection was lost while committing; the update may or may not have been applied"),
				cause: err,
				text:  "connection lost while committing: " + redact(oneLine(err), s.password),
			}
		case !committed:
			return nil, true, err
		}
		// The updates are applied: failing now would be untrue. An id
		// that cannot be found stays 0.
		s.findEventIDs(rctx, events)
		change = 0 // the committed number is not known for sure
	}
	if change > 0 {
		s.cache.publishOwn(change, cur, heads)
	}
	s.fillStale(outs, nows)
	return outs, false, nil
}

// safeApply calls u.Apply, turning a panic into an EINTERNAL error, so
// that one bad update cannot take the writer, and every later update, down
// with it; in a shared transaction it then fails alone (see runBatch).
func safeApply(u gitops.Update, cur *gitops.Server, now time.Time) (o gitops.Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", gitops.Errorf(gitops.EINTERNAL, "the update of %s failed", u.Key()), p)
		}
	}()
	return u.Apply(cur, now), nil
}

// fillStale sets each outcome's Server.Stale at the time its update read.
func (s *Store) fillStale(outs []gitops.Outcome, nows []time.Time) {
	heads := s.cache.heads()
	for i := range outs {
		outs[i].Server.Stale = outs[i].Server.IsStale(nows[i], s.staleAfter)
		heads.FillDesired(&outs[i].Server)
	}
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

// transient reports a server error that aborted the transaction and may not
// happen again: serialization failures and deadlocks.
func transient(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01":
		return true
	}
	return false
}
