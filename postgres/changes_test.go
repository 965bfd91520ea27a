package postgres_test

import (
	"context"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/gitops-status/gitops-status/storetest"
	"github.com/jackc/pgx/v5"
)

// TestChangesMigration: migration 0005 derives the changes of events
// stored before it, and events stored without changes (by replicas not yet
// upgraded) read sensibly.
func TestChangesMigration(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	storetest.ChangesMigration(t, func(t *testing.T, opts gitops.StoreOptions) gitops.Store {
		return MustOpenStore(t, url, opts)
	}, func(t *testing.T, q string) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	})
}
