// Package sqlite is the embedded default store of gitops-status: a
// gitops.Store in one SQLite file, through the pure-Go modernc.org/sqlite
// driver (no cgo).
//
// Writes go through one writer goroutine that owns the only writing
// connection and commits all the requests waiting for it in one transaction
// (group commit), so each update is an atomic read-modify-write of its
// server and one fsync covers many updates.
//
// The store keeps every server's record encoded in memory, in an index the
// writer keeps exactly current: after a batch commits, and before its
// callers are answered, the writer publishes what it changed. GetEncoded
// and ListEncoded answer from that index without touching the database or
// encoding a record; Get, List, Events and LegacyLatest run SQL in
// parallel on a pool of read-only connections (WAL mode lets them proceed
// during writes).
//
// Because of that index, one process at a time opens a database to write
// it: Open holds an exclusive lock on a file next to the database for as
// long as the store is open. OpenReadOnly opens it beside that process,
// without an index, for reads such as an export.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// maxBatch bounds how many write requests share one transaction: large
// enough that one fsync serves many writers, small enough that a batch
// holds the write lock only briefly and readers see writes promptly.
const maxBatch = 256

// Group commit for a trickle of writes (see writer.gather). A fleet of
// 200,000 servers sends ~3,300 reports a second, one by one; committing
// each few on its own wrote the pages they all change (the last pages of
// events, of its indexes and of outbox) again and again, and cost a third
// more CPU a report than at 400,000, where commits are larger. So a batch
// smaller than fullBatch stays open for the writes that follow it, until
// commitGap has passed since the last commit or none came for idleGap. A
// write so waits at most commitGap longer; a batch of concurrent writers
// (fullBatch or more, as from many CI jobs at once) commits at once.
// Variables so that tests can widen them.
var (
	fullBatch = 16
	commitGap = 3 * time.Millisecond
	idleGap   = time.Millisecond
)

// queueLen is how many write requests may wait for the writer before
// callers block on sending.
const queueLen = 4 * maxBatch

// Store is a gitops.Store and a gitops.EncodedReader in a SQLite file. It
// is safe for concurrent use; see the package documentation for how reads
// and writes are arranged. One process at a time may Open a file (others
// may OpenReadOnly it).
type Store struct {
	path       string
	now        func() time.Time
	staleAfter time.Duration
	// observeBatch is gitops.StoreOptions.ObserveBatch, never nil.
	observeBatch func(int)

	readDB  *sql.DB // pool of query_only connections
	writeDB *sql.DB // the writer's one connection; nil when read-only
	// Prepared on the readers' pool for the hot single-row reads.
	getStmt, legacyWS, legacyIS *sql.Stmt

	w *writer // nil when read-only
	// ckpt copies the writer's commits into the database file beside it
	// (see checkpoint.go); nil when read-only.
	ckpt *checkpointer
	// sy answers the writer's batches once they are on disk (see sync.go);
	// nil when read-only.
	sy  *syncer
	idx *index.Index // nil when read-only
	// heads are the heads of branches, published by the writer (see
	// desired.go); unused when read-only.
	heads atomic.Pointer[gitops.Heads]
	lock  *os.File
	// headsOK says index.DecodeHead reads this build's heads back exactly, so
	// records are read from the index rather than with SQL.
	headsOK bool

	// readOnly is set by OpenReadOnly: writes fail, reads run SQL.
	readOnly bool
	// noOutbox is KeepOutbox(false): notifiable events are written without
	// their outbox entries while this process has no webhook.
	noOutbox atomic.Bool

	// mu guards sends on w.reqs against Close closing it: senders hold it
	// for reading, Close for writing.
	mu     sync.RWMutex
	closed atomic.Bool
	// closeErr is what the first Close returned; later calls return it too.
	closeOnce sync.Once
	closeErr  error
}

var (
	_ gitops.Store         = (*Store)(nil)
	_ gitops.EncodedReader = (*Store)(nil)
	_ gitops.SampleReader  = (*Store)(nil)
)

// pragmas are set on every connection through the DSN, so every pooled
// connection has them, including ones database/sql opens later.
// synchronous(FULL) makes every commit fsync the WAL, so an acknowledged
// write survives kill -9 and power loss (the writer's connection commits
// with NORMAL instead and the syncer fsyncs before answering: sync.go);
// busy_timeout makes a connection wait for another process's write lock
// instead of failing at once.
var pragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"foreign_keys(1)",
	"synchronous(FULL)",
}

// setWriterPragmas sets what only the writer's connection has:
//   - a 16 MiB page cache (negative: KiB). A write descends the servers
//     table and the events indexes; SQLite's default of 2 MiB holds their
//     inner pages only up to some tens of thousands of servers, and past
//     that every write reads them again through a system call each. 16 MiB
//     holds them at 400,000 servers; the leaves, one or two per write, are
//     read from the operating system's cache as before.
//   - checkpoints left to the checkpointer until the WAL holds restartPages
//     pages (checkpoint.go);
//   - commits that do not sync: the syncer syncs before anyone hears of
//     them (sync.go).
func setWriterPragmas(ctx context.Context, conn *sql.Conn) error {
	for _, q := range []string{
		`PRAGMA cache_size = -16384`,
		fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, restartPages),
		`PRAGMA synchronous = NORMAL`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func dsn(path string, extra url.Values) string {
	q := url.Values{"_pragma": pragmas}
	for k, v := range extra {
		q[k] = append(q[k], v...)
	}
	return path + "?" + q.Encode()
}

// Open opens the SQLite database at path for this process to read and
// write, creating the file (but not its directory) when it does not exist,
// applies any migration it lacks, and loads the index of every server.
// opts.Now is the store's clock (nil means time.Now) and opts.StaleAfter
// the global staleness threshold (0 turns it off).
//
// It holds an exclusive lock on path+".lock" until Close (the system
// releases it when the process dies, so kill -9 leaves none behind): a
// database another process has open fails at once.
//
// Errors are *gitops.Error values with code EUNAVAILABLE and a one-line
// message naming path, such as "cannot open database /data/status.db: ...".
func Open(path string, opts gitops.StoreOptions) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, gitops.Errorf(gitops.EUNAVAILABLE, "cannot open database %s: %s", path, oneLine(err))
	}
	lock, err := lockFile(path + ".lock")
	if errors.Is(err, errLocked) {
		return nil, gitops.Errorf(gitops.EUNAVAILABLE, "database %s is in use by another gitops-status process; "+
			"stop it first (SQLite serves one process; use PostgreSQL for several replicas)", path)
	}
	if err != nil {
		return nil, gitops.Errorf(gitops.EUNAVAILABLE, "cannot open database %s: %s", path, oneLine(err))
	}
	s, err := open(path, opts, lock)
	if err != nil {
		lock.Close()
		return nil, gitops.Errorf(gitops.EUNAVAILABLE, "cannot open database %s: %s", path, oneLine(err))
	}
	return s, nil
}

// OpenReadOnly opens the existing SQLite database at path for reading
// only, also while another process has it open with Open (as `export`
// does beside a running server): it takes no lock, keeps no index (its
// GetEncoded and ListEncoded encode what Get and List read) and applies no
// migration. Every write returns EUNAVAILABLE. Errors are as Open's.
func OpenReadOnly(path string, opts gitops.StoreOptions) (*Store, error) {
	s, err := openReadOnly(path, opts)
	if err != nil {
		return nil, gitops.Errorf(gitops.EUNAVAILABLE, "cannot open database %s: %s", path, oneLine(err))
	}
	return s, nil
}

func checkPath(path string) error {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return errors.New("the path must name a file, without '?' or '#'")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return errors.New("it is a directory")
	}
	return nil
}

func open(path string, opts gitops.StoreOptions, lock *os.File) (_ *Store, err error) {
	s := &Store{path: path, now: opts.Clock(), staleAfter: opts.StaleAfter, observeBatch: opts.BatchObserver(), lock: lock, headsOK: index.HeadRoundTrips()}
	defer func() {
		if err != nil {
			s.closeDBs()
		}
	}()

	// The writer's database has a single connection; _txlock=immediate makes
	// any transaction begun through database/sql take the write lock at once
	// (the writer itself issues BEGIN IMMEDIATE), so a read-then-write never
	// upgrades its lock halfway and fails with SQLITE_BUSY.
	if s.writeDB, err = sql.Open("sqlite", dsn(path, url.Values{"_txlock": {"immediate"}})); err != nil {
		return nil, err
	}
	s.writeDB.SetMaxOpenConns(1)
	s.writeDB.SetMaxIdleConns(1)
	s.writeDB.SetConnMaxLifetime(0)
	s.writeDB.SetConnMaxIdleTime(0)

	ctx := context.Background()
	conn, err := s.writeDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	if err := setWriterPragmas(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	in := index.NewInterner()
	entries, err := loadIndex(ctx, path, conn, in)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("loading servers: %w", err)
	}
	s.idx = index.New(entries)
	heads, err := loadHeads(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("loading heads: %w", err)
	}
	s.heads.Store(heads)
	if s.w, err = newWriter(ctx, s, conn, s.idx, in); err != nil {
		conn.Close()
		return nil, err
	}
	if err := s.openReaders(ctx); err != nil {
		s.w.stopUnstarted()
		return nil, err
	}
	if s.ckpt, err = startCheckpointer(ctx, path); err != nil {
		s.w.stopUnstarted()
		return nil, err
	}
	if s.sy, err = startSyncer(path); err != nil {
		s.w.stopUnstarted()
		return nil, err
	}
	go s.w.run()
	return s, nil
}

func openReadOnly(path string, opts gitops.StoreOptions) (_ *Store, err error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	// SQLite would create a missing file; a read-only store must not.
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	s := &Store{path: path, now: opts.Clock(), staleAfter: opts.StaleAfter, readOnly: true}
	defer func() {
		if err != nil {
			s.closeDBs()
		}
	}()
	if err := s.openReaders(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// openReaders opens the readers' pool and prepares its statements.
func (s *Store) openReaders(ctx context.Context) (err error) {
	// Readers: query_only guards against a write slipping past the writer.
	if s.readDB, err = sql.Open("sqlite", dsn(s.path, url.Values{"_pragma": {"query_only(1)"}})); err != nil {
		return err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	s.readDB.SetMaxOpenConns(n)
	s.readDB.SetMaxIdleConns(n)
	s.readDB.SetConnMaxLifetime(0)
	s.readDB.SetConnMaxIdleTime(0)
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.getStmt, selectServer + ` WHERE server_group = ? AND host = ?`},
		{&s.legacyWS, selectServer + ` WHERE legacy_written_at IS NOT NULL ORDER BY legacy_written_at DESC, server_group, host LIMIT 1`},
		{&s.legacyIS, selectServer + ` WHERE imported = 1 ORDER BY timestamp DESC, server_group, host LIMIT 1`},
	} {
		if *p.dst, err = s.readDB.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return nil
}

// closeDBs releases what open managed to open.
func (s *Store) closeDBs() error {
	var errs []error
	if s.sy != nil {
		errs = append(errs, s.sy.close())
	}
	for _, st := range []*sql.Stmt{s.getStmt, s.legacyWS, s.legacyIS} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.readDB != nil {
		errs = append(errs, s.readDB.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.writeDB != nil {
		errs = append(errs, s.writeDB.Close())
	}
	return errors.Join(errs...)
}

// Close stops taking write requests, finishes those already queued, and
// closes the database. Every call after the first returns what the first
// did; every other method called after Close returns EUNAVAILABLE.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		if s.w != nil {
			close(s.w.reqs)
		}
		s.mu.Unlock()
		if s.w != nil {
			<-s.w.done
		}
		if s.idx != nil {
			s.idx.Reset(nil) // let the records go, though the Store may live on
		}
		if err := s.closeDBs(); err != nil {
			s.closeErr = gitops.Errorf(gitops.EINTERNAL, "closing database %s: %s", s.path, oneLine(err))
		}
		if s.lock != nil {
			s.lock.Close() // releases the lock, after the database is closed
		}
	})
	return s.closeErr
}

// errClosed is returned by every method called after Close.
func errClosed() error {
	return gitops.Errorf(gitops.EUNAVAILABLE, "the store is closed")
}

// Ping reports whether the database answers a query. Returns EUNAVAILABLE.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed()
	}
	var one int
	if err := s.readDB.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return gitops.Errorf(gitops.EUNAVAILABLE, "the database %s does not answer: %s", s.path, oneLine(err))
	}
	return nil
}

// migration is one numbered file of migrations/.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies, each in its own transaction, the migrations the database
// has not recorded in schema_migrations. The check runs inside the write
// transaction, so two processes opening a new file at once apply each
// migration once.
func migrate(ctx context.Context, conn *sql.Conn) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, m migration) (err error) {
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(ctx, `ROLLBACK`)
		}
	}()
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		_, err = conn.ExecContext(ctx, `COMMIT`)
		return err
	}
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}

// dbError turns a database error into a *gitops.Error for the caller while
// keeping the cause in the chain for logs. doing says what failed, as in
// "reading server rsyslog-prod/rsyslog-01".
//
// Busy, locked, I/O, full and similar errors are the database being
// unavailable (EUNAVAILABLE, a retry may succeed); anything else is a bug or
// corruption and is EINTERNAL with a generic message.
func dbError(doing string, err error) error {
	if err == nil {
		return nil
	}
	var ge *gitops.Error
	if errors.As(err, &ge) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code, msg := gitops.EINTERNAL, "the database failed while "+doing
	var se *sqlite.Error
	switch {
	case errors.As(err, &se):
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			code, msg = gitops.EUNAVAILABLE, "the database is locked by another writer (timed out "+doing+"); try again"
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOMEM:
			code, msg = gitops.EUNAVAILABLE, "the database cannot be read or written (disk error, disk full or permissions) while "+doing
		}
	case errors.Is(err, sql.ErrConnDone) || strings.Contains(err.Error(), "database is closed"):
		code, msg = gitops.EUNAVAILABLE, "the store is closed"
	}
	return fmt.Errorf("%w: %w", gitops.Errorf(code, "%s", msg), err)
}

// oneLine keeps an error message on one line for start-up errors.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
