package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/jackc/pgx/v5"
)

// Get returns one server with Stale filled in. Returns ENOTFOUND,
// EUNAVAILABLE, EINTERNAL.
func (s *Store) Get(ctx context.Context, k gitops.Key) (gitops.Server, error) {
	var sv gitops.Server
	err := s.read(ctx, "reading server "+k.String(), func(ctx context.Context) error {
		err := scanServer(s.pool.QueryRow(ctx, selectServer+` WHERE server_group = $1 AND host = $2`, k.ServerGroup, k.Host), &sv)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(k)
		}
		return err
	})
	if err != nil {
		return gitops.Server{}, err
	}
	heads, err := s.syncedHeads(ctx)
	if err != nil {
		return gitops.Server{}, err
	}
	return s.computed(sv, heads), nil
}

// computed is sv with the fields a read computes: Stale at the store's
// clock, Desired under heads.
func (s *Store) computed(sv gitops.Server, heads *gitops.Heads) gitops.Server {
	sv.Stale = sv.IsStale(s.clock(), s.staleAfter)
	heads.FillDesired(&sv)
	return sv
}

// legacyLatest picks the server most recently written through the legacy
// API (pri 1), else the imported one with the newest timestamp (pri 2),
// ties broken by key in byte order, in one round trip. NULLS LAST keeps
// unset times last, as they sort in SQLite.
const legacyLatest = `(SELECT ` + serverColumns + `, 1 AS pri FROM servers WHERE legacy_written_at IS NOT NULL
		ORDER BY legacy_written_at DESC, server_group, host LIMIT 1)
	UNION ALL
	(SELECT ` + serverColumns + `, 2 AS pri FROM servers WHERE imported
		ORDER BY "timestamp" DESC NULLS LAST, server_group, host LIMIT 1)
	ORDER BY pri LIMIT 1`

// LegacyLatest returns the server most recently written through the legacy
// API, else the imported server with the newest timestamp (ties broken by
// key), with Stale filled in. Returns ENOTFOUND when there is neither,
// EUNAVAILABLE, EINTERNAL.
func (s *Store) LegacyLatest(ctx context.Context) (gitops.Server, error) {
	if s.closed.Load() {
		return gitops.Server{}, errClosed()
	}
	// The cache answers where this build reads its heads back. The query
	// finds the legacy server through an index, but the imported one only
	// by reading every imported row, and rows stay imported until a legacy
	// write: at 400,000 that was ~0.45 s a request, for as long as no
	// legacy client wrote.
	if s.headsOK {
		if err := s.sync(ctx); err != nil {
			return gitops.Server{}, err
		}
		e := s.cache.idx.LegacyLatest()
		if e == nil {
			return gitops.Server{}, errNoLegacy()
		}
		if sv, err := e.Decode(); err == nil {
			return s.computed(sv, s.cache.heads()), nil
		}
	}
	var sv gitops.Server
	err := s.read(ctx, "reading the legacy server", func(ctx context.Context) error {
		var pri int32
		err := scanServer(s.pool.QueryRow(ctx, legacyLatest), &sv, &pri)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoLegacy()
		}
		return err
	})
	if err != nil {
		return gitops.Server{}, err
	}
	heads, err := s.syncedHeads(ctx)
	if err != nil {
		return gitops.Server{}, err
	}
	return s.computed(sv, heads), nil
}

func errNoLegacy() error {
	return gitops.Errorf(gitops.ENOTFOUND, "no server was written through the legacy API or imported")
}

// where builds a SQL condition from AND-ed clauses with numbered
// parameters.
type where struct {
	clauses []string
	args    []any
}

// arg adds v as a parameter and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(clause string) { w.clauses = append(w.clauses, clause) }

// anyOf adds "col = ANY($n)" for a non-empty list: one parameter whatever
// the list's length, so the statement is prepared once per shape.
func anyOf[T ~string](w *where, col string, vals []T) {
	if len(vals) == 0 {
		return
	}
	ss := make([]string, len(vals))
	for i, v := range vals {
		ss[i] = string(v)
	}
	w.add(col + " = ANY(" + w.arg(ss) + "::text[])")
}

func (w *where) String() string {
	if len(w.clauses) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.clauses, " AND ")
}

// staleClause is true when a server is stale at now, as
// gitops.Server.IsStale decides: its threshold (own stale_after_ns, else
// the global one) is positive and its newest report, if any, is older than
// now minus the threshold. Stored times are whole microseconds, so
// "now - last > d" is "last < now - floor(d in µs)" exactly.
func (w *where) staleClause(now time.Time, global time.Duration) string {
	n, g := w.arg(ts(now)), w.arg(int64(global))
	th := "COALESCE(stale_after_ns, " + g + "::bigint)"
	last := "GREATEST(last_pipeline_run, last_cron_check)"
	return "(" + th + " > 0 AND (" + last + " IS NULL OR " + last + " < " + n +
		"::timestamptz - (" + th + " / 1000) * interval '1 microsecond'))"
}

// List returns the servers matching f, sorted by server_group then host in
// byte order, with Stale filled in, and the number that match f before
// Limit and Offset. Filtering, the stale filter included, runs in SQL;
// a paged list and its count read one snapshot, so they agree. Returns
// EUNAVAILABLE, EINTERNAL.
func (s *Store) List(ctx context.Context, f gitops.Filter) ([]gitops.Server, int, error) {
	if f.Behind != nil {
		return gitops.ListBehind(ctx, f, s.List)
	}
	heads, err := s.syncedHeads(ctx)
	if err != nil {
		return nil, 0, err
	}
	now := s.clock()
	var w where
	anyOf(&w, "server_group", f.ServerGroup)
	anyOf(&w, "host", f.Host)
	anyOf(&w, "server_type", f.ServerType)
	anyOf(&w, "environment", f.Environment)
	anyOf(&w, "status", f.Status)
	anyOf(&w, "validation_status", f.ValidationStatus)
	if f.Stale != nil {
		if *f.Stale {
			w.add(w.staleClause(now, s.staleAfter))
		} else {
			w.add("NOT " + w.staleClause(now, s.staleAfter))
		}
	}
	q := selectServer + w.String() + ` ORDER BY server_group, host`
	paged := f.Limit > 0 || f.Offset > 0
	args := w.args
	if paged {
		args = append(args[:len(args):len(args)], nil, max(f.Offset, 0))
		if f.Limit > 0 {
			args[len(args)-2] = f.Limit
		}
		q += ` LIMIT $` + strconv.Itoa(len(args)-1) + ` OFFSET $` + strconv.Itoa(len(args))
	}

	var servers []gitops.Server
	var total int
	err = s.read(ctx, "listing servers", func(ctx context.Context) error {
		servers, total = []gitops.Server{}, 0
		if !paged {
			rows, _ := s.pool.Query(ctx, q, args...)
			var err error
			servers, err = collectServers(rows, now, s.staleAfter)
			total = len(servers)
			return err
		}
		// One round trip: the count and the page in one read-only
		// REPEATABLE READ transaction, which gives both one snapshot.
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		b := &pgx.Batch{}
		b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
		b.Queue(`SELECT count(*) FROM servers`+w.String(), w.args...)
		b.Queue(q, args...)
		b.Queue("COMMIT")
		br := conn.SendBatch(ctx, b)
		_, err = br.Exec()
		if err == nil {
			err = br.QueryRow().Scan(&total)
		}
		if err == nil {
			rows, _ := br.Query()
			servers, err = collectServers(rows, now, s.staleAfter)
		}
		if err == nil {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			rollback(conn.Conn())
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	for i := range servers {
		heads.FillDesired(&servers[i])
	}
	return servers, total, nil
}

// collectServers reads every row of rows, filling in Stale at now. Rows
// are read into chunks of growing size and copied once into the result,
// rather than into one slice that append copies every time it grows: a
// Server is large, and a fleet many.
func collectServers(rows pgx.Rows, now time.Time, global time.Duration) ([]gitops.Server, error) {
	defer rows.Close()
	var chunks [][]gitops.Server
	chunk := make([]gitops.Server, 0, 64)
	n := 0
	for rows.Next() {
		if len(chunk) == cap(chunk) {
			chunks = append(chunks, chunk)
			chunk = make([]gitops.Server, 0, min(2*cap(chunk), 4096))
		}
		chunk = chunk[:len(chunk)+1]
		sv := &chunk[len(chunk)-1]
		if err := scanServer(rows, sv); err != nil {
			return nil, err
		}
		sv.Stale = sv.IsStale(now, global)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(chunks) == 0 {
		return chunk, nil
	}
	servers := make([]gitops.Server, 0, n)
	for _, c := range chunks {
		servers = append(servers, c...)
	}
	return append(servers, chunk...), nil
}

// ceilMicro is the first whole microsecond at or after t: stored times are
// whole microseconds, so "time >= t" is "time >= ceilMicro(t)", and
// "time < t" is "time < ceilMicro(t)".
func ceilMicro(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Before(t) {
		c = c.Add(time.Microsecond)
	}
	return c.UTC()
}

// Events returns the events matching f, newest first (by time, then by id).
// Since and Until are inclusive. Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) Events(ctx context.Context, f gitops.EventFilter) ([]gitops.Event, error) {
	var w where
	anyOf(&w, "server_group", f.ServerGroup)
	if f.Host != "" {
		w.add("host = " + w.arg(f.Host))
	}
	anyOf(&w, "status", f.Status)
	if !f.Since.IsZero() {
		w.add(`"time" >= ` + w.arg(ts(ceilMicro(f.Since))))
	}
	if !f.Until.IsZero() {
		w.add(`"time" <= ` + w.arg(ts(f.Until)))
	}
	q := `SELECT ` + eventColumns + ` FROM events` + w.String() + ` ORDER BY "time" DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + w.arg(f.Limit)
	}
	var events []gitops.Event
	err := s.read(ctx, "reading events", func(ctx context.Context) error {
		events = []gitops.Event{}
		rows, _ := s.pool.Query(ctx, q, w.args...)
		defer rows.Close()
		for rows.Next() {
			var e gitops.Event
			if err := scanEvent(rows, &e); err != nil {
				return err
			}
			events = append(events, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}
