package postgres_test

import (
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/gitops-status/gitops-status/storetest"
)

// TestConformance runs the suite both stores pass, each subtest on a
// database of its own.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, opts gitops.StoreOptions) gitops.Store {
		return MustOpenStore(t, pgtest.NewDatabase(t), opts)
	})
}
