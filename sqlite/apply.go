package sqlite

// The update path: an update applied to its record ahead of the writer
// (prepare), stored by the writer with its event (storeApplied), and the
// other writes of records (Delete, PruneEvents, Import).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/gitops-status/gitops-status/internal/rowargs"
)

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
