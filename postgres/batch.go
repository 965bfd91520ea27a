package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/gitops-status/gitops-status/internal/rowargs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

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
// SELECTs in one (lock), the writes and COMMIT in the other (write); the
// statements of each are pipelined. (One statement over arrays of all rows
// was tried: it costs the server about as much per row, and much more for a
// transaction of one update, the common case under light load.)
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

	t := newBatchTx(us)
	if err := s.lock(ctx, conn, t); err != nil {
		rollback(conn)
		// Nothing was written yet, so repeating is safe.
		return nil, s.lost(err) || transient(err), err
	}
	if err := s.applyAll(t); err != nil {
		rollback(conn)
		return nil, false, err
	}
	if len(t.changed) == 0 {
		rollback(conn) // only releases the locks: nothing to write
		s.fillStale(t.outs, t.nows)
		return t.outs, false, nil
	}
	change, err := s.write(ctx, conn, t)
	if err != nil {
		rollback(conn)
		if retry, err := s.unsure(ctx, t, err); err != nil {
			return nil, retry, err
		}
		change = 0 // committed, but the number is not known for sure
	}
	if change > 0 {
		s.cache.publishOwn(change, t.cur, t.heads)
	}
	s.fillStale(t.outs, t.nows)
	return t.outs, false, nil
}

// batchTx is what one transaction of applyTx locked, applied and writes.
type batchTx struct {
	us   []gitops.Update
	keys []gitops.Key // of us, sorted and distinct: the order rows are locked and written in
	// locked are the records as the rows held them, cur as the updates
	// left them; a key without a row has neither.
	locked, cur map[gitops.Key]*gitops.Server
	changed     map[gitops.Key]bool
	outs        []gitops.Outcome
	nows        []time.Time // the clock when each update was applied
	events      []*gitops.Event
	notices     [][]byte // the outbox entry of each event, nil for none
	heads       map[gitops.Key][]byte
	// xid is the transaction's id once a row write answered; committing
	// is set when COMMIT was reached (see unsure).
	xid        string
	committing bool
}

func newBatchTx(us []gitops.Update) *batchTx {
	keys := make([]gitops.Key, len(us))
	for i, u := range us {
		keys[i] = u.Key()
	}
	slices.SortFunc(keys, gitops.CompareKeys)
	return &batchTx{us: us, keys: slices.Compact(keys)}
}

// lock is round trip 1: begin and lock the rows, one statement per row in
// key order, which is the order the rows are locked in, and read the
// records they hold.
func (s *Store) lock(ctx context.Context, conn *pgx.Conn, t *batchTx) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, k := range t.keys {
		b.Queue(lockServer, k.ServerGroup, k.Host)
	}
	br := conn.SendBatch(ctx, b)
	t.locked = make(map[gitops.Key]*gitops.Server, len(t.keys))
	var unread []gitops.Key // locked, with a head that does not read back
	_, err := br.Exec()
	for _, k := range t.keys {
		if err != nil {
			break
		}
		var sv *gitops.Server
		var ok bool
		sv, ok, err = scanLocked(br.QueryRow(), s.headsOK)
		switch {
		case err == nil && ok:
			t.locked[k] = sv
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
			t.locked[k] = sv
		}
	}
	return err
}

// applyAll applies the updates in order, each to the record the ones
// before left, and prepares the events they write.
func (s *Store) applyAll(t *batchTx) error {
	t.cur = maps.Clone(t.locked)
	t.outs = make([]gitops.Outcome, len(t.us))
	t.nows = make([]time.Time, len(t.us))
	t.changed = map[gitops.Key]bool{}
	for i, u := range t.us {
		k := u.Key()
		now := s.clock()
		t.nows[i] = now
		o, err := safeApply(u, t.cur[k], now)
		if err != nil {
			return err
		}
		normalize(&o.Server)
		if o.Applied {
			if o.Server.Key() != k {
				return gitops.Errorf(gitops.EINTERNAL, "update of %s produced a record for %s", k, o.Server.Key())
			}
			next := o.Server.Clone()
			t.cur[k] = &next
			t.changed[k] = true
			if o.Event != nil {
				ev := *o.Event
				ev.Time = gitops.Time{Time: micro(ev.Time.Time)}
				ev.ChangedFiles = nonNilList(ev.ChangedFiles)
				o.Event = &ev
				n, err := outboxNotice(&ev, &o.Server)
				if err != nil {
					return err
				}
				t.events = append(t.events, o.Event)
				t.notices = append(t.notices, n)
			}
		}
		t.outs[i] = o
	}
	return nil
}

// write is round trip 2: take the transaction's change number (the rows
// are locked, so this is the order cache.go relies on: row locks, then the
// counter, held until COMMIT), log the changed keys with it, write the
// changed rows with their heads, in key order, and the events, in the
// order of the updates, one statement each; commit. Writing a row returns
// the transaction's id, for resolve.
func (s *Store) write(ctx context.Context, conn *pgx.Conn, t *batchTx) (change int64, err error) {
	b := &pgx.Batch{}
	b.Queue(bumpCounter)
	t.heads = make(map[gitops.Key][]byte, len(t.changed))
	groups, hosts := make([]string, 0, len(t.changed)), make([]string, 0, len(t.changed))
	for _, k := range t.keys {
		if t.changed[k] {
			groups, hosts = append(groups, k.ServerGroup), append(hosts, k.Host)
		}
	}
	// One log row for the whole transaction (see migration 0004).
	b.Queue(logChanges, groups, hosts)
	for _, k := range t.keys {
		if !t.changed[k] {
			continue
		}
		now := t.cur[k]
		head := now.AppendJSONHead(nil)
		t.heads[k] = head
		if was := t.locked[k]; was != nil {
			set := changedColumns(was, now)
			b.Queue(s.updateOf(set), updateArgs(set, now, head)...)
		} else {
			b.Queue(insertServer, append(serverArgs(now), head)...)
		}
	}
	for i, ev := range t.events {
		queueEvent(b, ev, t.notices[i])
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	err = scanCounter(br.QueryRow(), &change)
	if err == nil {
		_, err = br.Exec()
	}
	for i := 0; i < len(t.heads) && err == nil; i++ {
		err = br.QueryRow().Scan(&t.xid)
	}
	for i := 0; i < len(t.events) && err == nil; i++ {
		err = br.QueryRow().Scan(&t.events[i].ID)
	}
	if err == nil {
		t.committing = true
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		if err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("committing: the server answered %q", tag.String())
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return change, err
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

// transient reports a server error that aborted the transaction and may not
// happen again: serialization failures and deadlocks.
func transient(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01":
		return true
	}
	return false
}
