package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/internal/index"
)

func roundTrip(t *testing.T, s gitops.Server) {
	t.Helper()
	normalize(&s)
	head := s.AppendJSONHead(nil)
	got, err := index.DecodeHead(head)
	if err != nil {
		t.Fatalf("index.DecodeHead(%s): %v", head, err)
	}
	got.Imported, got.LegacyWrittenAt = s.Imported, s.LegacyWrittenAt
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("index.DecodeHead(AppendJSONHead(s)) differs from s:\n  got  %#v\n  want %#v", got, s)
	}
	files, labels, ok := headColumns(head)
	if !ok || files != jsonList(s.ChangedFiles) || labels != jsonMap(s.Labels) {
		t.Fatalf("headColumns = %q, %q, %v; want %q, %q", files, labels, ok, jsonList(s.ChangedFiles), jsonMap(s.Labels))
	}
}

func FuzzHeadRoundTrip(f *testing.F) {
	f.Add("a", "b", `","`, `":"`, "\u2028<&>", int64(1))
	f.Add("", "\xff\xfe", `\`, `"`, "\x00\x1f", int64(-1))
	f.Add(`,"changed_files":[`, `],"validation_status":`, `,"labels":{`, `},"stale_after":`, "😀", int64(0))
	f.Fuzz(func(t *testing.T, a, b, c, d, e string, us int64) {
		ts := time.UnixMicro(us % (250000 * 365 * 24 * 3600 * 1e6)).UTC()
		if ts.Year() < 1 || ts.Year() > 9999 {
			ts = time.Time{}
		}
		roundTrip(t, gitops.Server{
			ServerGroup: a, Host: b, ProjectName: c, RepoName: d, ServerType: e, Environment: a + b,
			Status: gitops.Status(c), ChangedFiles: []string{a, b, c, d, e}, ValidationStatus: gitops.ValidationStatus(d),
			ValidationMessage: e, CommitSHA: a, Branch: b, UpdatedBy: c, LastPipelineRun: ts, LastCronCheck: ts,
			Timestamp: ts, StatusSince: ts, LastSource: gitops.Source(e), Labels: map[string]string{a: b, c: d, e: a},
			PipelineStatus: gitops.Status(a), DriftStatus: gitops.Status(b), StaleAfter: c,
			PipelineReportedAt: ts, CronReportedAt: ts, Imported: us%2 == 0, LegacyWrittenAt: ts,
		})
	})
}

func TestHeadRoundTripEmpty(t *testing.T) {
	roundTrip(t, gitops.Server{ServerGroup: "g", Host: "h"})
	roundTrip(t, index.HeadSample())
}

// TestHeadsFilledAtOpen checks Open's repair of stored heads: rows with no
// head (written before migration 0002, or by a binary that does not know
// heads, which the trigger catches) and heads of another format are
// encoded again from the rows.
func TestHeadsFilledAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	ctx := context.Background()
	s, err := Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b", "c", "d"} {
		if _, err := s.Apply(ctx, &gitops.PipelineUpdate{ServerGroup: "g", Host: h, Status: gitops.StatusSynced, CommitSHA: "c-" + h}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(want map[string]string) {
		t.Helper()
		s, list := reopenMatching(t, path)
		defer s.Close()
		for i := range list {
			if list[i].CommitSHA != want[list[i].Host] {
				t.Errorf("%s: commit %q, want %q", list[i].Key(), list[i].CommitSHA, want[list[i].Host])
			}
		}
		var nulls int
		if err := s.readDB.QueryRowContext(ctx, `SELECT count(*) FROM servers WHERE head IS NULL`).Scan(&nulls); err != nil || nulls != 0 {
			t.Errorf("%d rows without a head after Open, %v", nulls, err)
		}
		// The writer reads records from the index: an update keeps what it
		// does not own.
		if _, err := s.Apply(ctx, &gitops.CronUpdate{ServerGroup: "g", Host: "a", Status: gitops.StatusSynced}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "a"}); got.CommitSHA != want["a"] {
			t.Errorf("after a cron update: commit %q, want %q kept", got.CommitSHA, want["a"])
		}
	}

	// A binary that does not know heads updates a row: the trigger forgets
	// its head, and Open encodes it from the row.
	rawExec(t, path, `UPDATE servers SET commit_sha = 'changed' WHERE host = 'b'`)
	rawExec(t, path, `UPDATE servers SET head = NULL WHERE host = 'c'`)
	rawExec(t, path, `UPDATE servers SET head = CAST('{"host":"d"' AS BLOB) WHERE host = 'd'`) // unreadable
	check(map[string]string{"a": "c-a", "b": "changed", "c": "c-c", "d": "c-d"})

	// Heads of another format are all encoded again.
	rawExec(t, path, `UPDATE servers SET head = CAST('{"stale":1' AS BLOB)`)
	rawExec(t, path, `UPDATE meta SET value = 'older' WHERE key = ?`, metaHeadFormat)
	check(map[string]string{"a": "c-a", "b": "changed", "c": "c-c", "d": "c-d"})
}

// TestOpenLoadsEveryServer reopens a store that loads in three rowid
// ranges, some rows in different ranges without a readable head, one at a
// negative rowid and one far beyond the others: every server is loaded,
// from its head or from its columns.
func TestOpenLoadsEveryServer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3)) // three ranges
	path := filepath.Join(t.TempDir(), "status.db")
	ctx := context.Background()
	s, err := Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2567
	servers := make([]gitops.Server, n)
	for i := range servers {
		servers[i] = gitops.Server{ServerGroup: fmt.Sprintf("g%d", i%3), Host: fmt.Sprintf("h%05d", i),
			Status: gitops.StatusSynced, CommitSHA: fmt.Sprintf("c%d", i), Environment: "prod"}
	}
	if _, err := s.Import(ctx, servers, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, `UPDATE servers SET head = NULL WHERE host IN ('h00003', 'h01100')`)
	rawExec(t, path, `UPDATE servers SET head = CAST('{"host":' AS BLOB) WHERE host = 'h02561'`)
	// The ranges' bounds fall on rows first, then mostly between rows.
	s, list := reopenMatching(t, path)
	if len(list) != n {
		t.Fatalf("%d servers loaded, want %d", len(list), n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, `UPDATE servers SET rowid = -5 WHERE host = 'h00010'`)
	rawExec(t, path, `UPDATE servers SET rowid = 9000000000 WHERE host = 'h00011'`)

	s, list = reopenMatching(t, path)
	defer s.Close()
	if len(list) != n {
		t.Fatalf("%d servers loaded, want %d", len(list), n)
	}
	// Filters work on the loaded entries too.
	inG1 := 0
	for _, sv := range servers {
		if sv.ServerGroup == "g1" {
			inG1++
		}
	}
	if _, total, _ := s.ListEncoded(ctx, gitops.Filter{ServerGroup: []string{"g1"}}); total != inG1 {
		t.Errorf("group g1: %d servers, want %d", total, inG1)
	}
}

// rawExec runs q on the database at path through a connection of its own,
// as another program (or an older binary) would.
func rawExec(t *testing.T, path, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// reopenMatching opens the store at path and checks that every record it
// loaded (ListEncoded, from the index) is what its columns say (List, in
// SQL); it returns the store, for the caller to close, and the records.
func reopenMatching(t *testing.T, path string) (*Store, []gitops.Server) {
	t.Helper()
	s, err := Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list, _, err := s.List(ctx, gitops.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	enc, total, err := s.ListEncoded(ctx, gitops.Filter{})
	if err != nil || len(enc) != len(list) || total != len(list) {
		t.Fatalf("ListEncoded: %d of %d records, %v; List has %d", len(enc), total, err, len(list))
	}
	for i := range list {
		if got, want := string(enc[i].AppendJSON(nil)), string(list[i].AppendJSON(nil)); got != want {
			t.Errorf("%s: encoded %s, want %s", list[i].Key(), got, want)
		}
	}
	// The metrics' samples come from the loaded entries too.
	want := gitops.SamplesOf(list)
	err = s.ReadSamples(ctx, func(got gitops.Samples) error {
		if got.Len() != want.Len() {
			t.Fatalf("ReadSamples: %d samples, List has %d", got.Len(), want.Len())
		}
		var g, w gitops.ServerSample
		for i := range got.Len() {
			got.At(i, &g)
			want.At(i, &w)
			if !g.StatusSince.Equal(w.StatusSince) || !g.LastPipelineRun.Equal(w.LastPipelineRun) ||
				!g.LastCronCheck.Equal(w.LastCronCheck) || g.Status != w.Status || g.ChangedFiles != w.ChangedFiles ||
				g.CommitSHA != w.CommitSHA || g.Branch != w.Branch {
				t.Errorf("%s: sample %+v, want %+v", list[i].Key(), g, w)
			}
			if r, err := got.Record(i); err != nil || string(r.AppendJSON(nil)) != string(list[i].AppendJSON(nil)) {
				t.Errorf("%s: record %s, %v; want %s", list[i].Key(), r.AppendJSON(nil), err, list[i].AppendJSON(nil))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, list
}

// TestLegacyLatestAfterReopen imports servers whose newest timestamp is
// neither the first key's nor alone, reopens the store, and checks that
// the index (loaded from the heads) answers LegacyLatest as the SQL does.
func TestLegacyLatestAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	ctx := context.Background()
	s, err := Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	servers := []gitops.Server{
		{ServerGroup: "g", Host: "a", Timestamp: at.Add(-time.Hour)},
		{ServerGroup: "g", Host: "b"},
		{ServerGroup: "g", Host: "c", Timestamp: at},
		{ServerGroup: "g", Host: "d", Timestamp: at},
	}
	for i := range servers {
		servers[i].Status, servers[i].ValidationStatus, servers[i].Imported = gitops.StatusSynced, gitops.ValidationUnknown, true
	}
	if _, err := s.Import(ctx, servers, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want, _, err := s.legacyLatestSQL(ctx)
	if err != nil || want.Host != "c" {
		t.Fatalf("LegacyLatest in SQL = %s, %v; want g/c", want.Key(), err)
	}
	if got, err := s.LegacyLatest(ctx); err != nil || got.Key() != want.Key() {
		t.Errorf("LegacyLatest from the reopened index = %s, %v; want %s", got.Key(), err, want.Key())
	}
}
