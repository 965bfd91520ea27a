package main

import (
	"context"
	"fmt"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
)

func openPostgres(ctx context.Context, url string, opts gitops.StoreOptions) (gitops.Store, error) {
	if !isPostgresURL(url) {
		return nil, fmt.Errorf("--database-url must be a postgres:// or postgresql:// URL")
	}
	return postgres.Open(ctx, url, opts)
}

func migratePostgres(ctx context.Context, url string) (int, error) {
	if !isPostgresURL(url) {
		return 0, fmt.Errorf("--database-url must be a postgres:// or postgresql:// URL")
	}
	return postgres.Migrate(ctx, url)
}
