package main

import (
	"context"
	"fmt"

	gitops "github.com/gitops-status/gitops-status"
)

func openPostgres(ctx context.Context, url string, opts gitops.StoreOptions) (gitops.Store, error) {
	if !isPostgresURL(url) {
		return nil, fmt.Errorf("--database-url must start with postgres:// or postgresql://")
	}
	return nil, fmt.Errorf("PostgreSQL support is not built yet")
}

func migratePostgres(ctx context.Context, url string) (int, error) {
	return 0, fmt.Errorf("PostgreSQL support is not built yet")
}
