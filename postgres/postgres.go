package postgres

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OperationTimeout is the longest any store call other than Import waits
// for the database, also when the caller's context has no deadline: a
// database that stopped answering (a network partition drops packets
// rather than refusing them) is then reported as unavailable instead of
// holding requests forever.
const OperationTimeout = 30 * time.Second

// ApplicationName is the application_name the store's connections carry
// unless the URL sets another, so they can be told apart in
// pg_stat_activity.
const ApplicationName = "gitops-status"

// Pool defaults applied when the URL does not set them; see the package
// documentation for sizing.
const (
	defaultMaxConns       = 16
	defaultConnectTimeout = 5 * time.Second
	defaultPingTimeout    = 5 * time.Second
	defaultLifetimeJitter = 5 * time.Minute
)

// Store is a gitops.Store and a gitops.EncodedReader on PostgreSQL. It is
// safe for concurrent use by many goroutines and by many processes sharing
// one database; every call sees every write any process acknowledged
// before. Get, List and the other methods read the database; GetEncoded
// and ListEncoded answer from an encoded copy of every server that they
// first bring up to date with one query (see cache.go).
type Store struct {
	pool       *pgxpool.Pool
	now        func() time.Time
	staleAfter time.Duration
	// observeBatch is gitops.StoreOptions.ObserveBatch, never nil.
	observeBatch func(int)
	// password is removed from every error text.
	password string

	// reqs carries Apply's requests to the writers (see apply.go). mu
	// guards sends on it against Close closing it: senders hold it for
	// reading, Close for writing.
	reqs        chan *applyReq
	mu          sync.RWMutex
	writersDone sync.WaitGroup

	closed    atomic.Bool
	closeOnce sync.Once
	// following is set once Follow started its goroutine, which stops
	// when followStop is closed and then closes followDone.
	following              atomic.Bool
	followStop, followDone chan struct{}

	cache *cache
	// headsOK says index.DecodeHead reads this build's heads back
	// exactly, so updates read the rows they lock from their heads.
	headsOK bool
	// updates holds the UPDATE of each set of columns (rowargs.Set to string),
	// nUpdates counts the sets seen (see updateOf).
	updates  sync.Map
	nUpdates atomic.Int32
}

var (
	_ gitops.Store         = (*Store)(nil)
	_ gitops.EncodedReader = (*Store)(nil)
	_ gitops.SampleReader  = (*Store)(nil)
)

// Open connects to the database at url, applies the migrations it lacks
// and returns the store. opts.Now is the store's clock (nil means time.Now)
// and opts.StaleAfter the global staleness threshold (0 turns it off).
//
// Returns EINVALID when url cannot be read and EUNAVAILABLE when the
// database cannot be reached, with a one-line message that never contains
// the password; EINTERNAL when a migration fails.
func Open(ctx context.Context, url string, opts gitops.StoreOptions) (*Store, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pw := cfg.ConnConfig.Password
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, dbError("opening the connection pool", pw, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, dbError("connecting", pw, err)
	}
	_, err = migrate(ctx, conn.Conn())
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, dbError("applying migrations", pw, err)
	}
	s := &Store{pool: pool, now: opts.Clock(), staleAfter: opts.StaleAfter, observeBatch: opts.BatchObserver(), password: pw, headsOK: index.HeadRoundTrips(),
		reqs: make(chan *applyReq, writers*maxBatch), cache: newCache(),
		followStop: make(chan struct{}), followDone: make(chan struct{})}
	s.writersDone.Add(writers)
	for range writers {
		go s.writer()
	}
	return s, nil
}

// Migrate connects to the database at url, applies the migrations it lacks
// and returns how many it applied (0 when the schema was up to date). It is
// safe to run while replicas run and start. Errors are as Open's.
func Migrate(ctx context.Context, url string) (applied int, err error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return 0, err
	}
	pw := cfg.ConnConfig.Password
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return 0, dbError("connecting", pw, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	n, err := migrate(ctx, conn)
	return n, dbError("applying migrations", pw, err)
}

// poolConfig reads url and fills in the store's defaults where it is
// silent (see the package documentation).
func poolConfig(rawURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx masks recognisable passwords; mask the one url.Parse finds
		// too, in case the string confused pgx.
		msg := oneLine(err)
		if u, uerr := url.Parse(rawURL); uerr == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				msg = redact(msg, pw)
			}
		}
		return nil, gitops.Errorf(gitops.EINVALID, "the database URL is not valid: %s", msg)
	}
	// pgxpool removes its own pool_* settings after reading them, so look
	// for them in the string itself.
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if !strings.Contains(rawURL, "pool_ping_timeout") {
		cfg.PingTimeout = defaultPingTimeout
	}
	if !strings.Contains(rawURL, "pool_max_conn_lifetime_jitter") {
		cfg.MaxConnLifetimeJitter = defaultLifetimeJitter
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

// Close stops taking updates, waits for the updates already taken and the
// other calls in flight to finish, then closes the pool. Every method
// called after Close returns EUNAVAILABLE.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.followStop)
		if s.following.Load() {
			<-s.followDone
		}
		s.mu.Lock()
		s.closed.Store(true)
		close(s.reqs)
		s.mu.Unlock()
		s.writersDone.Wait()
		s.pool.Close()
	})
	return nil
}

// Ping reports whether the database answers. Returns EUNAVAILABLE.
func (s *Store) Ping(ctx context.Context) error {
	return s.read(ctx, "pinging the database", func(ctx context.Context) error {
		return s.pool.Ping(ctx)
	})
}

// clock is the store's clock at the microsecond precision times are stored
// at, so IsStale and the SQL stale filter compare the same numbers.
func (s *Store) clock() time.Time { return gitops.Now(s.now()) }

// err turns err into the error a method returns (see dbError). A lost
// connection also discards the pool's idle connections: whatever killed
// one (a restart, a failover, pg_terminate_backend) most likely killed the
// others, and the next calls should not each find that out the hard way.
func (s *Store) err(doing string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return errClosed()
	}
	s.lost(err)
	return dbError(doing, s.password, err)
}

// lost reports whether err is a lost connection and, when it is, resets
// the pool (see err).
func (s *Store) lost(err error) bool {
	if !connLost(err) {
		return false
	}
	s.pool.Reset()
	return true
}

// read runs fn, which only reads, under OperationTimeout, and once more on
// a new connection when its connection turned out to be dead: repeating a
// read is always safe. fn must set its results afresh on each run.
func (s *Store) read(ctx context.Context, doing string, fn func(ctx context.Context) error) error {
	if s.closed.Load() {
		return errClosed()
	}
	ctx, cancel := context.WithTimeout(ctx, OperationTimeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && ctx.Err() == nil && s.lost(err) {
		err = fn(ctx)
	}
	return s.err(doing, err)
}

// rollback ends the transaction c may be in. It is best effort: when it
// fails the connection is broken, and releasing it to the pool destroys it
// because it is not idle, which also ends the transaction.
func rollback(c *pgx.Conn) {
	if c.IsClosed() || c.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Exec(ctx, "ROLLBACK")
}
