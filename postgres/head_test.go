package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/gitops-status/gitops-status/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestLockedRowsReadFromHeads: the record an update is applied to, read
// from the locked row's head, is the one its columns hold, for records
// with every field set and the characters encoders disagree about, for
// imported ones and ones written through the legacy API; a row an older
// binary wrote (no head) is read from its columns.
func TestLockedRowsReadFromHeads(t *testing.T) {
	t.Parallel()
	if !index.HeadRoundTrips() {
		t.Fatal("this build's heads do not read back; updates would read every row's columns")
	}
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, url, gitops.StoreOptions{StaleAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	tricky := index.HeadSample()
	tricky.ServerGroup, tricky.Host, tricky.Imported = "grp", "tricky", true
	legacy := gitops.Server{ServerGroup: "grp", Host: "legacy", Status: gitops.StatusSynced,
		LegacyWrittenAt: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC), Timestamp: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}
	if _, err := s.Import(ctx, []gitops.Server{tricky, legacy}, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
	for _, u := range []gitops.Update{
		&gitops.PipelineUpdate{ServerGroup: "grp", Host: "piped", Status: gitops.StatusSynced,
			ChangedFiles: []string{"a", "ü"}, CommitSHA: "abc", Labels: map[string]string{"k": "v\"w"}},
		&gitops.CronUpdate{ServerGroup: "grp", Host: "tricky", Status: gitops.StatusOutOfSync, ChangedFiles: []string{"x"}},
	} {
		if _, err := s.Apply(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO servers (server_group, host, project_name, labels)
		VALUES ('grp', 'old', 'by an older binary', '{"a": "b"}')`); err != nil {
		t.Fatal(err)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, h := range []string{"tricky", "legacy", "piped", "old"} {
		fromHead, ok, err := scanLocked(tx.QueryRow(ctx, lockServer, "grp", h), true)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		var fromColumns gitops.Server
		if err := scanServer(tx.QueryRow(ctx, selectLocked, "grp", h), &fromColumns); err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		if h == "old" {
			if ok {
				t.Fatalf("the head of a row an older binary wrote read back as %+v", fromHead)
			}
			continue
		}
		if !ok {
			t.Fatalf("%s: the head of a row this binary wrote does not read back", h)
		}
		if !reflect.DeepEqual(*fromHead, fromColumns) {
			t.Errorf("%s: head and columns differ:\n head    %#v\n columns %#v", h, *fromHead, fromColumns)
		}
	}
}

// TestPartialUpdatesKeepColumnsExact: after each update of a sequence that
// changes every field in turn, the row's columns, the derived
// stale_after_ns too, hold what writing the whole record would have
// written: the record its head holds.
func TestPartialUpdatesKeepColumnsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, url, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	k := gitops.Key{ServerGroup: "web", Host: "web-01"}
	for i, u := range storetest.ColumnUpdates(k) {
		if _, err := s.Apply(ctx, u); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		whole, ok, err := scanLocked(conn.QueryRow(ctx, lockServer, k.ServerGroup, k.Host), true)
		if err != nil || !ok {
			t.Fatalf("update %d: the head does not read back (%v)", i, err)
		}
		var columns gitops.Server
		if err := scanServer(conn.QueryRow(ctx, selectLocked, k.ServerGroup, k.Host), &columns); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(columns, *whole) {
			t.Errorf("update %d: the columns say\n%#v\nthe record says\n%#v", i, columns, *whole)
		}
		var ns pgtype.Int8
		if err := conn.QueryRow(ctx, `SELECT stale_after_ns FROM servers WHERE server_group = $1 AND host = $2`,
			k.ServerGroup, k.Host).Scan(&ns); err != nil {
			t.Fatal(err)
		}
		if want := staleAfterNS(whole.StaleAfter); ns != want {
			t.Errorf("update %d: stale_after_ns is %v for stale_after %q, want %v", i, ns, whole.StaleAfter, want)
		}
	}
}

// TestUpdatesWithoutReadableHeads: a build whose heads do not read back
// reads every locked row from its columns, and its updates store what a
// build that decodes heads stores.
func TestUpdatesWithoutReadableHeads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "web", Host: "web-01"}
	final := make([]gitops.Server, 2)
	for i, decode := range []bool{true, false} {
		clock := storetest.NewClock(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC), time.Second)
		s, err := Open(ctx, pgtest.NewDatabase(t), gitops.StoreOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.headsOK = decode
		for j, u := range storetest.ColumnUpdates(k) {
			if _, err := s.Apply(ctx, u); err != nil {
				t.Fatalf("decode=%v, update %d: %v", decode, j, err)
			}
		}
		if final[i], err = s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
		// Whole-fleet readers (the status page) take records from the
		// view only where heads read back; otherwise they read the store.
		if err := s.ReadSamples(ctx, func(v gitops.Samples) error {
			_, err := v.Record(0)
			if (err == nil) != decode {
				t.Errorf("decode=%v: the view's Record gave error %v", decode, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(final[0], final[1]) {
		t.Errorf("reading locked rows from their columns stored\n%#v\nfrom their heads\n%#v", final[1], final[0])
	}
}
