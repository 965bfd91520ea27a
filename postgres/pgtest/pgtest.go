// Package pgtest gives tests a fresh PostgreSQL database of their own, so
// tests that use PostgreSQL run in parallel without seeing each other's
// data. It is for tests only.
//
// The server comes from GITOPS_STATUS_TEST_DATABASE_URL (a postgres:// URL
// naming a database the user may connect to and a user who may create
// databases), by default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
// When that server cannot be reached, tests are skipped, unless
// GITOPS_STATUS_REQUIRE_POSTGRES=1, as CI sets, which makes them fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tests use when GITOPS_STATUS_TEST_DATABASE_URL
// is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the test server's administrative database.
func ServerURL() string {
	if u := os.Getenv("GITOPS_STATUS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Required reports whether tests must fail, rather than skip, when the
// test server cannot be reached.
func Required() bool { return os.Getenv("GITOPS_STATUS_REQUIRE_POSTGRES") == "1" }

// NewDatabase creates an empty database named gitops_test_<random> on the
// test server and returns its URL; tb.Cleanup drops it, disconnecting
// whoever is still connected. It skips tb (or fails it, see Required) when
// the server cannot be reached.
func NewDatabase(tb testing.TB) (dbURL string) {
	tb.Helper()
	admin := ServerURL()
	conn := connect(tb, admin)
	defer conn.Close(context.Background())

	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	name := "gitops_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	tb.Cleanup(func() { drop(tb, admin, name) })

	dbURL, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dbURL
}

// connect opens a connection to url, or skips or fails tb when it cannot.
func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		if Required() {
			tb.Fatalf("pgtest: PostgreSQL is required (GITOPS_STATUS_REQUIRE_POSTGRES=1) but cannot be reached: %v", err)
		}
		tb.Skipf("pgtest: PostgreSQL cannot be reached, skipping (set GITOPS_STATUS_TEST_DATABASE_URL, or GITOPS_STATUS_REQUIRE_POSTGRES=1 to fail): %v", err)
	}
	return conn
}

func drop(tb testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Errorf("pgtest: dropping database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	// FORCE disconnects stores a test left open (PostgreSQL 13+).
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Errorf("pgtest: dropping database %s: %v", name, err)
	}
}

// withDatabase returns connection string s with its database replaced by
// name. s is a postgres:// URL or a keyword/value string.
func withDatabase(s, name string) (string, error) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return s + " dbname=" + name, nil
}
