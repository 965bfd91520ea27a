package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxApplyAttempts bounds how often Apply runs its transaction: a lost
// creation race and a dead pooled connection may each cost one more.
const maxApplyAttempts = 3

// Apply applies u as one transaction that holds the server's row: it locks
// the row (SELECT … FOR UPDATE), reads the clock, calls u.Apply, and writes
// the new row and the outcome's event before committing. An update held
// back by an out-of-order rule writes nothing. Because the clock is read
// while the row is locked, the times set on one server follow the order its
// updates were applied in (given one clock for all replicas).
//
// Two round trips: BEGIN and the locking SELECT in one, the writes and
// COMMIT in the other. When the server does not exist there is no row to
// lock, and another replica may create it at the same moment: the INSERT of
// the one that comes second fails with a unique violation, nothing of it is
// committed, and its whole transaction runs again, now locking the row the
// other created. A transaction that fails on a dead connection before its
// COMMIT was sent runs again too; one that loses its connection while
// committing is not repeated, since it may have been applied.
//
// The returned Outcome's Server is the stored record (times at microsecond
// precision) with Stale filled in; its Event, when there is one, carries the
// stored event's ID. Returns EUNAVAILABLE, EINTERNAL (and EINVALID for text
// PostgreSQL cannot store, such as a NUL character).
func (s *Store) Apply(ctx context.Context, u gitops.Update) (gitops.Outcome, error) {
	if s.closed.Load() {
		return gitops.Outcome{}, errClosed()
	}
	k := u.Key()
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	var err error
	for attempt := 0; attempt < maxApplyAttempts; attempt++ {
		var out gitops.Outcome
		var retry bool
		out, retry, err = s.applyOnce(ctx, u, k)
		if err == nil {
			return out, nil
		}
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return gitops.Outcome{}, s.err("updating server "+k.String(), err)
}

// applyOnce runs Apply's transaction once. retry reports that it failed
// without committing anything and running it again may succeed.
//
// When its connection dies after the writes were sent, applyOnce asks the
// database whether the transaction committed (resolve): committed is
// success, aborted is safe to repeat, and only when that cannot be known
// does the update fail with EUNAVAILABLE saying it may have been applied.
func (s *Store) applyOnce(ctx context.Context, u gitops.Update, k gitops.Key) (out gitops.Outcome, retry bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return out, false, err
	}
	// Release destroys a connection still inside a transaction, so no path
	// out of here can leave the row locked.
	defer pc.Release()
	conn := pc.Conn()

	// Round trip 1: begin, learn the transaction's id (see resolve), and
	// lock the row.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT pg_current_xact_id()::text")
	b.Queue(selectServer+` WHERE server_group = $1 AND host = $2 FOR UPDATE`, k.ServerGroup, k.Host)
	br := conn.SendBatch(ctx, b)
	var cur gitops.Server
	var xid string
	found := true
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&xid)
	}
	if err == nil {
		err = scanServer(br.QueryRow(), &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			found, err = false, nil
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		rollback(conn)
		// Nothing was written yet, so repeating is safe.
		return out, s.lost(err) || transient(err), err
	}

	now := s.clock()
	var curp *gitops.Server
	if found {
		curp = &cur
	}
	o := u.Apply(curp, now)
	if !o.Applied {
		rollback(conn) // only releases the lock: nothing to write
		normalize(&o.Server)
		o.Server.Stale = o.Server.IsStale(now, s.staleAfter)
		return o, false, nil
	}
	if o.Server.Key() != k {
		rollback(conn)
		return out, false, gitops.Errorf(gitops.EINTERNAL, "update of %s produced a record for %s", k, o.Server.Key())
	}
	normalize(&o.Server)

	// Round trip 2: write the row and the event, commit.
	b = &pgx.Batch{}
	if found {
		b.Queue(updateServer, serverArgs(&o.Server)...)
	} else {
		b.Queue(insertServer, serverArgs(&o.Server)...)
	}
	var ev gitops.Event
	if o.Event != nil {
		ev = *o.Event
		ev.Time = gitops.Time{Time: micro(ev.Time.Time)}
		ev.ChangedFiles = nonNilList(ev.ChangedFiles)
		b.Queue(insertEvent, eventArgs(&ev)...)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	committing := false
	_, err = br.Exec()
	if err == nil && o.Event != nil {
		err = br.QueryRow().Scan(&ev.ID)
	}
	if err == nil {
		committing = true
		var tag pgconn.CommandTag
		tag, err = br.Exec()
		if err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("committing %s: the server answered %q", k, tag.String())
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
			return out, s.lost(err) || transient(err) || (!found && pe.Code == "23505"), err
		}
		if !s.lost(err) && !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err) {
			return out, false, err
		}
		// The connection died while the writes or the COMMIT were on
		// their way: whether they committed is for the database to say.
		// The question is quick; it gets a few seconds of its own when
		// the update ran out of time.
		rctx := ctx
		if ctx.Err() != nil {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
		}
		committed, known := s.resolve(rctx, xid)
		switch {
		case !known:
			return out, false, &storeError{
				ge:    gitops.Errorf(gitops.EUNAVAILABLE, "database unavailable: the connection was lost while committing the update of %s; it may or may not have been applied", k),
				cause: err,
				text:  "connection lost while committing the update of " + k.String() + ": " + redact(oneLine(err), s.password),
			}
		case !committed:
			return out, true, err
		}
		if o.Event != nil && ev.ID == 0 {
			// Committed, but the id came back on the dead connection.
			if err := s.pool.QueryRow(rctx, `SELECT id FROM events WHERE server_group = $1 AND host = $2 AND "time" = $3
				ORDER BY id DESC LIMIT 1`, k.ServerGroup, k.Host, ts(ev.Time.Time)).Scan(&ev.ID); err != nil {
				return out, false, err
			}
		}
	}
	if o.Event != nil {
		o.Event = &ev
	}
	o.Server.Stale = o.Server.IsStale(now, s.staleAfter)
	return o, false, nil
}

// resolve asks the database, on a new connection, whether the transaction
// xid committed, for an update whose connection died while it committed.
// pg_xact_status answers that from the commit log. known is false when the
// database cannot be asked or the transaction is still in progress (its
// backend has not noticed yet that the connection is gone).
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

// Delete forgets a server; its events stay until PruneEvents removes them.
// It is repeated on a new connection only when it failed before reaching
// the server (a repeat after that could report a deletion it made itself
// as not found). Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) Delete(ctx context.Context, k gitops.Key) error {
	if s.closed.Load() {
		return errClosed()
	}
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	const q = `DELETE FROM servers WHERE server_group = $1 AND host = $2`
	tag, err := s.pool.Exec(ctx, q, k.ServerGroup, k.Host)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		s.lost(err)
		tag, err = s.pool.Exec(ctx, q, k.ServerGroup, k.Host)
	}
	if err != nil {
		return s.err("deleting server "+k.String(), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(k)
	}
	return nil
}

// PruneEvents deletes the events whose time is before before (strictly)
// and returns how many it deleted. Deleting is idempotent, so it is
// repeated once on a new connection when its connection was lost. Returns
// EUNAVAILABLE, EINTERNAL.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.read(ctx, "pruning events", func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE "time" < $1`, ts(ceilMicro(before)))
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// metaImportedAt is the meta key recording the last import.
const metaImportedAt = "imported_at"

// Import writes servers as given (complete records; Stale is ignored) in
// one transaction and records the import in the meta table; when servers
// holds one key twice, the later record wins. It reports true when it
// imported, also when servers is empty (the import is recorded all the
// same). No events are written.
//
// With ImportFirstStart it writes only when the store has never imported
// and holds no server, and reports false otherwise. The transaction first
// inserts the meta row (ON CONFLICT DO NOTHING): of several replicas
// importing at once, the others wait on that row and then find it, so
// exactly one imports. It then locks the servers table against writes
// (reads go on) while it checks that the table is empty and fills it, so an
// update arriving meanwhile waits rather than racing the import.
//
// With ImportReplace it upserts every server, keeping the others.
//
// Import is not bounded by OperationTimeout (100,000 servers take seconds);
// it is bounded by ctx. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Import(ctx context.Context, servers []gitops.Server, mode gitops.ImportMode) (bool, error) {
	if s.closed.Load() {
		return false, errClosed()
	}
	rows := importRows(servers)
	var did bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		at := gitops.FormatTime(s.clock())
		if mode == gitops.ImportFirstStart {
			tag, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, metaImportedAt, at)
			if err != nil || tag.RowsAffected() == 0 {
				return err // imported before: nothing to do
			}
			if _, err := tx.Exec(ctx, `LOCK TABLE servers IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM servers)`).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errSkip // leaves no import record, as if never tried
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"servers"}, serverColumnList, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
			did = true
			return nil
		}
		// Replace: COPY into a scratch table, then upsert from it in key
		// order (the order rows are locked in, so two imports cannot
		// deadlock each other).
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_servers (LIKE servers INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_servers"}, serverColumnList, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO servers (`+serverColumns+`, stale_after_ns)
			SELECT `+serverColumns+`, stale_after_ns FROM import_servers ORDER BY server_group, host`+upsertSet); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaImportedAt, at); err != nil {
			return err
		}
		did = true
		return nil
	})
	if errors.Is(err, errSkip) {
		return false, nil
	}
	if err != nil {
		return false, s.err("importing servers", err)
	}
	return did, nil
}

// errSkip makes pgx.BeginFunc roll back a transaction that decided to do
// nothing.
var errSkip = errors.New("skip")

// importRows returns the COPY rows for servers, one per key (the last
// record of a key wins), sorted by key.
func importRows(servers []gitops.Server) [][]any {
	last := make(map[gitops.Key]int, len(servers))
	for i := range servers {
		last[servers[i].Key()] = i
	}
	idx := make([]int, 0, len(last))
	for _, i := range last {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := servers[idx[a]].Key(), servers[idx[b]].Key()
		if x.ServerGroup != y.ServerGroup {
			return x.ServerGroup < y.ServerGroup
		}
		return x.Host < y.Host
	})
	rows := make([][]any, len(idx))
	for n, i := range idx {
		sv := servers[i].Clone()
		normalize(&sv)
		rows[n] = serverArgs(&sv)
	}
	return rows
}
