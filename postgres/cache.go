package postgres

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/jackc/pgx/v5"
)

// The encoded cache. Each Store keeps every server encoded in memory (an
// index.Index, as the SQLite store does) and answers GetEncoded and
// ListEncoded from it, after bringing it up to date with one statement.
//
// Why that is never stale: every transaction that writes servers takes the
// next value of server_change_counter.n (bumpCounter, or the triggers of
// migration 0003 for older binaries) after locking the rows it reads, and
// stamps every row it writes with it; the counter row stays locked until
// COMMIT, so the next writer gets the next number only after this one
// committed. Numbers are therefore handed out in commit order, and a
// snapshot that sees n sees every write numbered n or less and none above.
// The cache holds the state at some n (cache.n): refreshing reads, in one
// statement and so one snapshot, the counter's n and every row and
// deletion numbered above cache.n, and applies them, which gives the state
// at the new n. A read waits for a refresh that started after the read
// was called; that refresh's snapshot sees every write acknowledged before
// (by any replica), so the read does too.
//
// Refreshes run one at a time. A read arriving while one runs cannot use
// it (it may have taken its snapshot before a write the reader saw
// acknowledged), so it waits for the next, which starts when the running
// one ends and serves every read that arrived meanwhile: under load, one
// query answers many reads. When nothing changed, a refresh returns only
// the counter row. A serving replica also refreshes by itself several times
// a second (Follow), so the writes of the others reach its cache a little
// at a time whether or not it is read.

// bumpCounter takes the next change number; the row stays locked until the
// transaction ends. It also keeps the number in a transaction-local
// setting, which the row writes of the same transaction read
// (changeSetting): cheaper than reading the counter row again for each.
// And it sets gitops_status.logged, which tells the triggers of migration
// 0004 that the transaction logs its keys in server_changes itself
// (logChanges), so they leave its row writes alone. Its three columns are
// scanned by scanCounter.
const bumpCounter = `UPDATE server_change_counter SET n = n + 1 WHERE id = true
	RETURNING n, set_config('gitops_status.change', n::text, true), set_config('gitops_status.logged', 'on', true)`

// scanCounter scans bumpCounter's row into n.
func scanCounter(row pgx.Row, n *int64) error { return row.Scan(n, nil, nil) }

// logChanges appends the keys a transaction wrote ($1 the server groups,
// $2 the hosts, in the same order) to the change log with the
// transaction's number: one row for the whole transaction.
const logChanges = `INSERT INTO server_changes (change, server_groups, hosts) VALUES (` + changeSetting + `, $1, $2)`

// changeSetting is the number bumpCounter took, in SQL.
const changeSetting = `current_setting('gitops_status.change')::bigint`

type cache struct {
	// pub serializes every change of idx, n and own.
	pub sync.Mutex
	idx *index.Index
	// headSet are the heads at n (see desired.go).
	headSet atomic.Pointer[gitops.Heads]
	// n is the counter value idx is the state at; -1 before the first load.
	n int64
	// own interns the entries the store's writer publishes; refreshes use
	// their own (refreshing is serial), so neither waits for the other to
	// build entries.
	own, in *index.Interner

	// pending are this store's own commits that publishOwn could not put
	// in the cache (see own.go), oldest first; pendingRows counts their
	// rows.
	pending     []*ownCommit
	pendingRows int
	// rowsRead counts the server rows refreshes read back.
	rowsRead atomic.Int64

	// mu guards running and next.
	mu sync.Mutex
	// running is the refresh in flight, next the one that starts when it
	// ends, for the reads that arrived meanwhile.
	running, next *flight
}

// flight is one refresh; done is closed when it ended, with err set.
type flight struct {
	done chan struct{}
	err  error
}

func newCache() *cache {
	return &cache{idx: index.New(nil), n: -1, own: index.NewInterner(), in: index.NewInterner()}
}

// sync returns when the cache holds every write acknowledged before it was
// called (by any process), or with the error that kept it from knowing.
func (s *Store) sync(ctx context.Context) error {
	c := s.cache
	c.mu.Lock()
	if c.running == nil {
		f := &flight{done: make(chan struct{})}
		c.running = f
		c.mu.Unlock()
		s.runRefresh(f)
		return f.err
	}
	f := c.next
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.next = f
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return dbError("reading servers", s.password, ctx.Err())
	}
}

// Follow makes the store also refresh its cache by itself, every every,
// until Close. Without it a replica that serves few reads lets the other
// replicas' writes pile up until its next read, or the stale sweep, which
// then applies them all at once: on two replicas at 300,000 servers, the
// sweep's refresh of 30 s of the other replica's writes took 1.6 s of CPU
// and the fleet dropped reports around it (docs/performance.md). A
// refresh that finds nothing new costs one small query. Calls after the
// first do nothing.
func (s *Store) Follow(every time.Duration) {
	if s.closed.Load() || !s.following.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(s.followDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.followStop:
				return
			case <-t.C:
				// An error shows at the next read, which refreshes
				// again.
				_ = s.sync(context.Background())
			}
		}
	}()
}

// runRefresh runs f, then starts the refresh that waited for it, if any.
// It never reads the caller's context: a refresh serves several readers.
func (s *Store) runRefresh(f *flight) {
	c := s.cache
	f.err = s.read(context.Background(), "reading servers", s.refresh)
	c.mu.Lock()
	close(f.done)
	next := c.next
	c.next, c.running = nil, next
	c.mu.Unlock()
	if next != nil {
		// Not in this goroutine: its reader has its answer and goes.
		go s.runRefresh(next)
	}
}

// refreshed is what one refresh statement read.
type refreshed struct {
	n, horizon int64
	// servers is the newest state read of each key: its entry, or nil
	// when deleted (a key may be deleted and created again); changes the
	// number of that state.
	servers map[gitops.Key]*index.Entry
	changes map[gitops.Key]int64
	// headsRead says the heads changed since the cache's copy (or the
	// refresh is full), and heads are then every head.
	headsRead bool
	heads     []gitops.Head
}

// refresh brings the cache up to the database's current state: one delta
// statement, or a full load when the cache never loaded or is older than
// the horizon (it may have missed a deletion whose log entry is pruned).
func (s *Store) refresh(ctx context.Context) error {
	c := s.cache
	c.pub.Lock()
	since := c.n
	// The rows of the store's own pending commits are not read back: the
	// delta leaves their numbers out of the change log it reads, and they
	// are taken from here (addOwn).
	own := slices.Clone(c.pending)
	c.pub.Unlock()
	full := since < 0
	r, err := s.readChanges(ctx, !full, since, own)
	if err != nil {
		return err
	}
	if !full && since < r.horizon {
		full = true
		if r, err = s.readChanges(ctx, false, since, nil); err != nil {
			return err
		}
	}
	c.pub.Lock()
	defer c.pub.Unlock()
	if r.n <= c.n {
		// The writer published up to or past this snapshot meanwhile:
		// the cache is already at least as new.
		return nil
	}
	if full {
		entries := make([]*index.Entry, 0, len(r.servers))
		for _, e := range r.servers {
			if e != nil {
				entries = append(entries, e)
			}
		}
		c.idx.Reset(entries)
	} else {
		// Every key changed in (since, r.n] has its state at r.n here,
		// which is also right over a cache the writer moved past since.
		r.addOwn(own, c.n)
		c.idx.Publish(r.servers)
	}
	if r.headsRead {
		c.headSet.Store(gitops.NewHeads(r.heads))
	}
	c.n = r.n
	c.drainPending()
	return nil
}

// readChanges runs the refresh statement and builds the entries it read.
func (s *Store) readChanges(ctx context.Context, delta bool, since int64, own []*ownCommit) (*refreshed, error) {
	q, args := refreshFull, []any(nil)
	if delta {
		skip := make([]int64, len(own))
		for i, oc := range own {
			skip[i] = oc.n
		}
		q, args = refreshDelta, []any{since, skip}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &refreshed{n: -1, servers: map[gitops.Key]*index.Entry{}, changes: map[gitops.Key]int64{}}
	var (
		sv            gitops.Server
		head          []byte
		change, extra int64
		kind          int32
		read          int64 // server rows
	)
	defer func() { s.cache.rowsRead.Add(read) }()
	for rows.Next() {
		head = nil
		if err := scanServer(rows, &sv, &head, &change, &kind, &extra); err != nil {
			return nil, err
		}
		switch kind {
		case kindCounter:
			r.n, r.horizon = change, extra
			continue
		case kindHeadsVersion:
			r.headsRead = true
			continue
		case kindHead:
			r.heads = append(r.heads, headOfRow(&sv))
			continue
		case kindServer:
			read++
		case kindDeletion:
		default:
			continue
		}
		k := sv.Key()
		if prev, ok := r.changes[k]; ok && prev > change {
			continue // a later change of the key was read already
		}
		r.changes[k] = change
		if kind == kindDeletion {
			r.servers[k] = nil
			continue
		}
		if head == nil {
			// Written by an older binary, or before migration 0003:
			// every column was read, so encode it as Get would.
			head = sv.AppendJSONHead(nil)
		}
		e := s.cache.in.NewEntry(&sv, head)
		e.ChangedFiles = int(extra)
		r.servers[k] = e
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.n < 0 {
		return nil, gitops.Errorf(gitops.EINTERNAL, "the change counter has no row")
	}
	return r, nil
}

// GetEncoded is Get, encoded: from the cache, after bringing it up to date
// (see cache.go), with stale computed at the store's clock. The head is
// shared and read-only. Returns ENOTFOUND, EUNAVAILABLE, EINTERNAL.
func (s *Store) GetEncoded(ctx context.Context, k gitops.Key) (gitops.EncodedServer, error) {
	if s.closed.Load() {
		return gitops.EncodedServer{}, errClosed()
	}
	if err := s.sync(ctx); err != nil {
		return gitops.EncodedServer{}, err
	}
	e := s.cache.idx.Get(k)
	if e == nil {
		return gitops.EncodedServer{}, notFound(k)
	}
	return e.Encoded(s.clock(), s.staleAfter, s.cache.heads()), nil
}

// ListEncoded is List, encoded: from the cache, after bringing it up to
// date, filtered and paged as List does in SQL, with stale computed at the
// store's clock. The heads are shared with the cache and read-only.
// Returns EUNAVAILABLE, EINTERNAL.
func (s *Store) ListEncoded(ctx context.Context, f gitops.Filter) ([]gitops.EncodedServer, int, error) {
	if s.closed.Load() {
		return nil, 0, errClosed()
	}
	if err := s.sync(ctx); err != nil {
		return nil, 0, err
	}
	out, total := s.cache.idx.List(f, s.clock(), s.staleAfter, s.cache.heads())
	return out, total, nil
}

// ReadSamples calls fn with every server's metric values from the cache,
// after bringing it up to date (one query, shared with concurrent reads),
// stale computed at the store's clock: every replica exports the same
// fleet. Returns fn's error, EUNAVAILABLE, EINTERNAL.
func (s *Store) ReadSamples(ctx context.Context, fn func(gitops.Samples) error) error {
	if s.closed.Load() {
		return errClosed()
	}
	if err := s.sync(ctx); err != nil {
		return err
	}
	return s.cache.idx.ReadSamples(s.clock(), s.staleAfter, s.cache.heads(), s.headsOK, fn)
}
