package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// noReport stands for an unset report time in the stale expression: far
// enough in the past that any threshold has passed (as IsStale treats a
// server that never reported), yet now minus it cannot overflow.
const noReport = -(int64(1) << 62)

// staleExpr is true when a server is stale at a given now, as
// gitops.Server.IsStale decides: its threshold (own stale_after_us, else
// the global one; -1 = off) is on and the newest report time is older.
// Its arguments are staleArgs.
const staleExpr = `(COALESCE(stale_after_us, ?) >= 0 AND
	? - MAX(COALESCE(last_pipeline_run, ?), COALESCE(last_cron_check, ?)) > COALESCE(stale_after_us, ?))`

func (s *Store) staleArgs(now time.Time) []any {
	g := globalStaleUS(s.staleAfter)
	return []any{g, now.UnixMicro(), noReport, noReport, g}
}

// clock is the store's clock at the microsecond precision times are stored
// at, so IsStale and staleExpr compare the same numbers.
func (s *Store) clock() time.Time { return gitops.Now(s.now()) }

// readError is dbError for reads, which may race with Close: a read that
// fails because the store closed under it says so.
func (s *Store) readError(doing string, err error) error {
	if err != nil && s.closed.Load() {
		return errClosed()
	}
	return dbError(doing, err)
}

// Get returns one server with Stale filled in. Returns ENOTFOUND,
// EUNAVAILABLE, EINTERNAL.
func (s *Store) Get(ctx context.Context, k gitops.Key) (gitops.Server, error) {
	if s.closed.Load() {
		return gitops.Server{}, errClosed()
	}
	var sv gitops.Server
	err := scanServer(s.getStmt.QueryRowContext(ctx, k.ServerGroup, k.Host), &sv)
	if errors.Is(err, sql.ErrNoRows) {
		return gitops.Server{}, notFound(k)
	}
	if err != nil {
		return gitops.Server{}, s.readError("reading server "+k.String(), err)
	}
	return s.computed(ctx, sv)
}

// computed is sv with the fields a read computes: Stale at the store's
// clock, Desired under the current heads.
func (s *Store) computed(ctx context.Context, sv gitops.Server) (gitops.Server, error) {
	sv.Stale = sv.IsStale(s.clock(), s.staleAfter)
	heads, err := s.currentHeads(ctx)
	if err != nil {
		return gitops.Server{}, err
	}
	heads.FillDesired(&sv)
	return sv, nil
}

// GetEncoded is Get, encoded: from the index, without a query, at the
// store's clock. An acknowledged write is in the index. A read-only store
// encodes what Get reads. Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) GetEncoded(ctx context.Context, k gitops.Key) (gitops.EncodedServer, error) {
	if s.closed.Load() {
		return gitops.EncodedServer{}, errClosed()
	}
	if s.idx == nil {
		sv, err := s.Get(ctx, k)
		if err != nil {
			return gitops.EncodedServer{}, err
		}
		return gitops.EncodedServer{Head: sv.AppendJSONHead(nil), Stale: sv.Stale, ChangedFiles: len(sv.ChangedFiles), Tail: gitops.NewDesiredTail(sv.Desired)}, nil
	}
	e := s.idx.Get(k)
	if e == nil {
		return gitops.EncodedServer{}, notFound(k)
	}
	return e.Encoded(s.clock(), s.staleAfter, s.heads.Load()), nil
}

// ListEncoded is List, encoded: from the index, filtered and paged as List
// does in SQL, with stale computed at the store's clock as Get computes it.
// The heads are shared with the index and read-only. A read-only store
// encodes what List reads. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) ListEncoded(ctx context.Context, f gitops.Filter) ([]gitops.EncodedServer, int, error) {
	if s.closed.Load() {
		return nil, 0, errClosed()
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if s.idx == nil {
		servers, total, err := s.List(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		out := make([]gitops.EncodedServer, len(servers))
		for i := range servers {
			sv := &servers[i]
			out[i] = gitops.EncodedServer{Head: sv.AppendJSONHead(nil), Stale: sv.Stale, ChangedFiles: len(sv.ChangedFiles), Tail: gitops.NewDesiredTail(sv.Desired)}
		}
		return out, total, nil
	}
	out, total := s.idx.List(f, s.clock(), s.staleAfter, s.heads.Load())
	return out, total, nil
}

// ReadSamples calls fn with every server's metric values, from the index
// (no query), stale computed at the store's clock. A read-only store, which
// has no index, lists the servers with SQL. Returns fn's error,
// EUNAVAILABLE, EINTERNAL.
func (s *Store) ReadSamples(ctx context.Context, fn func(gitops.Samples) error) error {
	if s.closed.Load() {
		return errClosed()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.idx == nil {
		servers, _, err := s.List(ctx, gitops.Filter{})
		if err != nil {
			return err
		}
		return fn(gitops.SamplesOf(servers))
	}
	return s.idx.ReadSamples(s.clock(), s.staleAfter, s.heads.Load(), s.headsOK, fn)
}

// LegacyLatest returns the server most recently written through the legacy
// API, else the imported server with the newest timestamp (ties broken by
// key), with Stale filled in. Returns ENOTFOUND when there is neither,
// EUNAVAILABLE, EINTERNAL.
func (s *Store) LegacyLatest(ctx context.Context) (gitops.Server, error) {
	if s.closed.Load() {
		return gitops.Server{}, errClosed()
	}
	sv, found, err := s.legacyLatest(ctx)
	if err != nil {
		return gitops.Server{}, err
	}
	if !found {
		return gitops.Server{}, gitops.Errorf(gitops.ENOTFOUND, "no server was written through the legacy API or imported")
	}
	return s.computed(ctx, sv)
}

// legacyLatest finds LegacyLatest's server in the index where one is kept.
// SQL finds the legacy one through an index too, but the imported one
// only by reading every imported row, and imported rows stay imported
// until a legacy write: at 400,000 that was 0.6 s a request, for as long
// as no legacy client wrote.
func (s *Store) legacyLatest(ctx context.Context) (gitops.Server, bool, error) {
	if s.idx != nil && s.headsOK {
		e := s.idx.LegacyLatest()
		if e == nil {
			return gitops.Server{}, false, nil
		}
		if sv, err := e.Decode(); err == nil {
			return sv, true, nil
		}
	}
	return s.legacyLatestSQL(ctx)
}

func (s *Store) legacyLatestSQL(ctx context.Context) (gitops.Server, bool, error) {
	for _, st := range []*sql.Stmt{s.legacyWS, s.legacyIS} {
		var sv gitops.Server
		err := scanServer(st.QueryRowContext(ctx), &sv)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return gitops.Server{}, false, s.readError("reading the legacy server", err)
		}
		return sv, true, nil
	}
	return gitops.Server{}, false, nil
}

// where builds a SQL condition from AND-ed clauses.
type where struct {
	clauses []string
	args    []any
}

func (w *where) add(clause string, args ...any) {
	w.clauses = append(w.clauses, clause)
	w.args = append(w.args, args...)
}

// in adds "col IN (?, …)" for a non-empty list.
func in[T ~string](w *where, col string, vals []T) {
	if len(vals) == 0 {
		return
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = string(v)
	}
	w.add(col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")", args...)
}

func (w *where) String() string {
	if len(w.clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.clauses, " AND ")
}

// List returns the servers matching f, sorted by server_group then host in
// byte order, with Stale filled in, and the number that match f before
// Limit and Offset. Filtering, the stale filter included, runs in SQL.
// Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) List(ctx context.Context, f gitops.Filter) ([]gitops.Server, int, error) {
	if s.closed.Load() {
		return nil, 0, errClosed()
	}
	if f.Behind != nil {
		return gitops.ListBehind(ctx, f, s.List)
	}
	heads, err := s.currentHeads(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := s.clock()
	var w where
	in(&w, "server_group", f.ServerGroup)
	in(&w, "host", f.Host)
	in(&w, "server_type", f.ServerType)
	in(&w, "environment", f.Environment)
	in(&w, "status", f.Status)
	in(&w, "validation_status", f.ValidationStatus)
	if f.Stale != nil {
		if *f.Stale {
			w.add(staleExpr, s.staleArgs(now)...)
		} else {
			w.add("NOT "+staleExpr, s.staleArgs(now)...)
		}
	}
	q := selectServer + w.String() + ` ORDER BY server_group, host`
	args := w.args
	paged := f.Limit > 0 || f.Offset > 0
	if paged {
		limit := int64(-1)
		if f.Limit > 0 {
			limit = int64(f.Limit)
		}
		q += ` LIMIT ? OFFSET ?`
		args = append(args[:len(args):len(args)], limit, max(f.Offset, 0))
	}

	// Count and rows come from one read transaction, so they agree; the
	// count also sizes the result, which saves regrowing a slice of
	// thousands of records.
	tx, err := s.readDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, s.readError("listing servers", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM servers`+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, s.readError("counting servers", err)
	}
	size := max(total-max(f.Offset, 0), 0)
	if f.Limit > 0 {
		size = min(size, f.Limit)
	}
	servers := make([]gitops.Server, 0, size)
	if size == 0 {
		return servers, total, nil
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, s.readError("listing servers", err)
	}
	defer rows.Close()
	for rows.Next() {
		servers = append(servers, gitops.Server{})
		sv := &servers[len(servers)-1]
		if err := scanServer(rows, sv); err != nil {
			return nil, 0, s.readError("listing servers", err)
		}
		sv.Stale = sv.IsStale(now, s.staleAfter)
		heads.FillDesired(sv)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.readError("listing servers", err)
	}
	return servers, total, nil
}

// ceilMicro is the first whole microsecond at or after t: stored times are
// whole microseconds, so "time >= t" is "time >= ceilMicro(t)".
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}

// Events returns the events matching f, newest first (by time, then by id).
// Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Events(ctx context.Context, f gitops.EventFilter) ([]gitops.Event, error) {
	if s.closed.Load() {
		return nil, errClosed()
	}
	var w where
	in(&w, "server_group", f.ServerGroup)
	if f.Host != "" {
		w.add("host = ?", f.Host)
	}
	in(&w, "status", f.Status)
	if !f.Since.IsZero() {
		w.add("time >= ?", ceilMicro(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("time <= ?", f.Until.UnixMicro())
	}
	q := `SELECT ` + eventColumns + ` FROM events` + w.String() + ` ORDER BY time DESC, id DESC`
	args := w.args
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.readDB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.readError("reading events", err)
	}
	defer rows.Close()
	events := []gitops.Event{}
	for rows.Next() {
		var e gitops.Event
		if err := scanEvent(rows, &e); err != nil {
			return nil, s.readError("reading events", err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError("reading events", err)
	}
	return events, nil
}
