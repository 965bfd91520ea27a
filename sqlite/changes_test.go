package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/storetest"
)

// TestChangesMigration: migration 0003 derives the changes of events
// stored before it, and events stored without changes read sensibly.
func TestChangesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	storetest.ChangesMigration(t, func(t *testing.T, opts gitops.StoreOptions) gitops.Store {
		return mustOpen(t, path, opts)
	}, func(t *testing.T, q string) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	})
}
