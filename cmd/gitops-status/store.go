package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/sqlite"
)

// openStore opens the store c selects: PostgreSQL when a database URL is
// set, else SQLite in the data dir. Errors are one clear line.
func openStore(ctx context.Context, c storeConfig) (gitops.Store, error) {
	return open(ctx, c, false, nil)
}

// openServeStore is openStore for serve, whose store reports the size of
// each committed write transaction to observeBatch (for /metrics).
func openServeStore(ctx context.Context, c storeConfig, observeBatch func(int)) (gitops.Store, error) {
	st, err := open(ctx, c, false, observeBatch)
	if ps, ok := st.(*postgres.Store); ok {
		ps.Follow(followEvery)
	}
	return st, err
}

// followEvery is how often a serving PostgreSQL replica brings its cache up
// to date with the other replicas' writes by itself (see
// postgres.Store.Follow). A read waits for a refresh that starts after it,
// which then takes in what the others wrote since the last one: at 200 ms
// that is a fifth of a second's writes, and two replicas at 300,000 servers
// answered group reads with a p99 of 27–36 ms against 86 ms at 1 s
// (docs/performance.md).
const followEvery = 200 * time.Millisecond

// openStoreForReading is openStore for commands that only read, such as
// export: on SQLite it works beside a running server, which holds the
// database for itself.
func openStoreForReading(ctx context.Context, c storeConfig) (gitops.Store, error) {
	return open(ctx, c, true, nil)
}

func open(ctx context.Context, c storeConfig, readOnly bool, observeBatch func(int)) (gitops.Store, error) {
	opts := gitops.StoreOptions{StaleAfter: c.StaleAfter, ObserveBatch: observeBatch}
	if c.DatabaseURL != "" {
		return openPostgres(ctx, c.DatabaseURL, opts)
	}
	path := filepath.Join(c.DataDir, "status.db")
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no database at %s: %v", path, cleanPathErr(err))
		}
		return sqlite.OpenReadOnly(path, opts)
	}
	if err := checkWritableDir(c.DataDir); err != nil {
		return nil, err
	}
	return sqlite.Open(path, opts)
}

// checkWritableDir creates dir when missing and proves it writable, so that
// a read-only volume is reported at start, not at the first write.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s is not writable: %v", dir, cleanPathErr(err))
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %v", dir, cleanPathErr(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func cleanPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// isPostgresURL reports whether u names PostgreSQL.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}
