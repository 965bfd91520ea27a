package sqlite_test

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/sqlite"
	"github.com/gitops-status/gitops-status/storetest"
)

// MustOpenStore opens a store in a new file under tb.TempDir() and closes
// it when the test ends.
func MustOpenStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return mustOpen(tb, filepath.Join(tb.TempDir(), "status.db"), gitops.StoreOptions{})
}

func mustOpen(tb testing.TB, path string, opts gitops.StoreOptions) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts gitops.StoreOptions) gitops.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "status.db"), opts)
	})
}

func pipeline(group, host, commit string) *gitops.PipelineUpdate {
	return &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: group, Host: host,
		Status: gitops.StatusSynced, ChangedFiles: []string{"a.conf"}, CommitSHA: commit,
		ValidationStatus: gitops.ValidationPassed, Labels: map[string]string{"dc": "1"}}
}

func TestMigrationsRecordedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	for range 3 {
		s, err := sqlite.Open(path, gitops.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if len(got) == 0 || got[0] != "0001_init.sql" {
		t.Errorf("schema_migrations = %q, want 0001_init.sql first, each once", got)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n] {
			t.Errorf("migration %s recorded twice", n)
		}
		seen[n] = true
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestConcurrentOpenOfNewFile opens a new file from several goroutines at
// once: those that find it locked say so, the others (one at a time) create
// and migrate it once.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlite.Open(path, gitops.StoreOptions{})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	opened := 0
	for i, err := range errs {
		switch {
		case err == nil:
			opened++
		case !strings.Contains(gitops.ErrorMessage(err), "is in use by another gitops-status process"):
			t.Errorf("Open %d: %v, want success or the in-use error", i, err)
		}
	}
	if opened == 0 {
		t.Error("no concurrent Open succeeded")
	}
	s := mustOpen(t, path, gitops.StoreOptions{})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestOneProcessAtATime checks the lock Open holds: a second Open of the
// same file fails with one clear line while the first is open, and
// succeeds once it is closed; OpenReadOnly works beside it all along.
func TestOneProcessAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	ctx := context.Background()
	first, err := sqlite.Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Apply(ctx, pipeline("g", "h", "abc")); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(path, gitops.StoreOptions{})
	want := "database " + path + " is in use by another gitops-status process; stop it first " +
		"(SQLite serves one process; use PostgreSQL for several replicas)"
	if gitops.ErrorCode(err) != gitops.EUNAVAILABLE || gitops.ErrorMessage(err) != want {
		t.Fatalf("second Open = %v, want EUNAVAILABLE %q", err, want)
	}

	ro, err := sqlite.OpenReadOnly(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatalf("OpenReadOnly beside an open store: %v", err)
	}
	defer ro.Close()
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	if got, err := ro.Get(ctx, k); err != nil || got.CommitSHA != "abc" {
		t.Errorf("read-only Get = %+v, %v; want the first store's write", got, err)
	}
	if _, err := first.Apply(ctx, pipeline("g", "h2", "def")); err != nil {
		t.Fatal(err)
	}
	if l, n, err := ro.List(ctx, gitops.Filter{}); err != nil || n != 2 || len(l) != 2 {
		t.Errorf("read-only List = %d servers (total %d), %v; want both of the first store's", len(l), n, err)
	}
	want2, _ := first.Get(ctx, k)
	if enc, err := ro.GetEncoded(ctx, k); err != nil || string(enc.AppendJSON(nil)) != string(want2.AppendJSON(nil)) {
		t.Errorf("read-only GetEncoded = %s, %v; want %s", enc.AppendJSON(nil), err, want2.AppendJSON(nil))
	}
	if l, n, err := ro.ListEncoded(ctx, gitops.Filter{Limit: 1, Offset: 1}); err != nil || n != 2 || len(l) != 1 {
		t.Errorf("read-only ListEncoded(limit 1, offset 1) = %d records (total %d), %v", len(l), n, err)
	}
	_, applyErr := ro.Apply(ctx, pipeline("g", "x", "x"))
	_, importErr := ro.Import(ctx, nil, gitops.ImportReplace)
	_, pruneErr := ro.PruneEvents(ctx, time.Now())
	for name, err := range map[string]error{"Apply": applyErr, "Import": importErr, "PruneEvents": pruneErr, "Delete": ro.Delete(ctx, k)} {
		if gitops.ErrorCode(err) != gitops.EUNAVAILABLE || !strings.Contains(gitops.ErrorMessage(err), "read-only") {
			t.Errorf("read-only %s = %v, want EUNAVAILABLE saying read-only", name, err)
		}
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, path, gitops.StoreOptions{})
	if _, err := again.Get(ctx, k); err != nil {
		t.Errorf("Get after reopening: %v", err)
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	_, err := sqlite.OpenReadOnly(path, gitops.StoreOptions{})
	if gitops.ErrorCode(err) != gitops.EUNAVAILABLE || !strings.HasPrefix(gitops.ErrorMessage(err), "cannot open database "+path+": ") {
		t.Errorf("OpenReadOnly(missing file) = %v, want EUNAVAILABLE naming the path", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s (stat: %v)", path, err)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	ctx := context.Background()
	s, err := sqlite.Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Apply(ctx, pipeline("g", "h", "abc"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Import(ctx, nil, gitops.ImportReplace); err != nil || !ok {
		t.Fatalf("Import: %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, gitops.StoreOptions{})
	got, err := s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if got.CommitSHA != "abc" || !got.Timestamp.Equal(o.Server.Timestamp) || got.Labels["dc"] != "1" {
		t.Errorf("after reopen: %+v, want %+v", got, o.Server)
	}
	evs, err := s.Events(ctx, gitops.EventFilter{})
	if err != nil || len(evs) != 1 || evs[0].ID != o.Event.ID {
		t.Errorf("after reopen: events %+v, %v; want the one written (id %d)", evs, err, o.Event.ID)
	}
	if ok, err := s.Import(ctx, nil, gitops.ImportFirstStart); err != nil || ok {
		t.Errorf("ImportFirstStart after reopen = %v, %v; want false: the import is recorded in the file", ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{
		filepath.Join(dir, "missing", "status.db"), // the caller makes the directory
		dir, // a directory, not a file
	} {
		_, err := sqlite.Open(path, gitops.StoreOptions{})
		if gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
			t.Errorf("Open(%s) = %v, want an EUNAVAILABLE error", path, err)
			continue
		}
		msg := gitops.ErrorMessage(err)
		if !strings.HasPrefix(msg, "cannot open database "+path+": ") || strings.Contains(msg, "\n") {
			t.Errorf("Open(%s) message %q, want one line starting \"cannot open database %s: \"", path, msg, path)
		}
	}
}

func TestClosed(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	_, applyErr := s.Apply(ctx, pipeline("g", "h", "x"))
	_, getErr := s.Get(ctx, k)
	_, _, listErr := s.List(ctx, gitops.Filter{})
	_, eventsErr := s.Events(ctx, gitops.EventFilter{})
	_, legacyErr := s.LegacyLatest(ctx)
	_, importErr := s.Import(ctx, nil, gitops.ImportReplace)
	_, pruneErr := s.PruneEvents(ctx, time.Now())
	_, getEncErr := s.GetEncoded(ctx, k)
	_, _, listEncErr := s.ListEncoded(ctx, gitops.Filter{})
	for name, err := range map[string]error{
		"GetEncoded": getEncErr, "ListEncoded": listEncErr,
		"Apply": applyErr, "Get": getErr, "List": listErr, "Events": eventsErr, "LegacyLatest": legacyErr,
		"Import": importErr, "PruneEvents": pruneErr, "Delete": s.Delete(ctx, k), "Ping": s.Ping(ctx),
	} {
		if gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
			t.Errorf("%s after Close = %v, want EUNAVAILABLE", name, err)
		}
	}
}

// TestCloseFinishesQueuedWrites checks that writes in flight when Close is
// called are completed and durable, not dropped.
func TestCloseFinishesQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.db")
	s, err := sqlite.Open(path, gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Apply(ctx, pipeline("g", "h"+string(rune('a'+i%26))+string(rune('a'+i/26)), "x")); err == nil {
				mu.Lock()
				acked++
				mu.Unlock()
			} else if gitops.ErrorCode(err) != gitops.EUNAVAILABLE {
				t.Errorf("Apply during Close: %v", err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = mustOpen(t, path, gitops.StoreOptions{})
	_, total, err := s.List(ctx, gitops.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if total != acked {
		t.Errorf("%d writes acknowledged, %d servers stored after reopen", acked, total)
	}
}

func TestCancelledBeforeWrite(t *testing.T) {
	s := MustOpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(ctx, pipeline("g", "h", "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "h"}); gitops.ErrorCode(err) != gitops.ENOTFOUND {
		t.Errorf("after a cancelled Apply, Get = %v, want ENOTFOUND (nothing written)", err)
	}
}

// badUpdate fails inside the writer: by panicking, or with an event the
// schema refuses, after its record was written (which must be undone).
type badUpdate struct {
	panics bool
}

func (b badUpdate) Key() gitops.Key { return gitops.Key{ServerGroup: "g", Host: "bad"} }

func (b badUpdate) Apply(cur *gitops.Server, now time.Time) gitops.Outcome {
	if b.panics {
		panic("bad update")
	}
	return gitops.Outcome{Applied: true, Created: true, Server: gitops.Server{ServerGroup: "g", Host: "bad", Timestamp: now},
		Event: &gitops.Event{Time: gitops.Time{Time: now}, Host: "bad"}}
}

// TestFailedRequestSparesItsBatch runs failing writes among good ones: each
// failure is answered with an error, and every good write is stored.
func TestFailedRequestSparesItsBatch(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var u gitops.Update = pipeline("g", "h"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), "c")
			if i%10 == 0 {
				u = badUpdate{panics: i%20 == 0}
			}
			_, err := s.Apply(ctx, u)
			switch _, bad := u.(badUpdate); {
			case bad && gitops.ErrorCode(err) != gitops.EINTERNAL:
				t.Errorf("bad update: %v, want EINTERNAL", err)
			case !bad && err != nil:
				t.Errorf("good update: %v", err)
			}
		}()
	}
	wg.Wait()
	list, _, err := s.List(ctx, gitops.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range list {
		if sv.Host == "bad" {
			t.Errorf("a refused record was stored: %+v", sv)
		}
	}
	evs, err := s.Events(ctx, gitops.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Host == "bad" {
			t.Errorf("the event of a refused record was stored: %+v", ev)
		}
	}
	if len(list) == 0 {
		t.Error("no good write was stored")
	}
}

// countUpdate appends one "x" to its server's commit: a read-modify-write
// whose result shows how many times it was applied.
type countUpdate struct{}

func (countUpdate) Key() gitops.Key { return gitops.Key{ServerGroup: "g", Host: "count"} }

func (countUpdate) Apply(cur *gitops.Server, now time.Time) gitops.Outcome {
	s := gitops.Server{ServerGroup: "g", Host: "count", Timestamp: now}
	if cur != nil {
		s = cur.Clone()
	}
	s.CommitSHA += "x"
	return gitops.Outcome{Applied: true, Server: s,
		Event: &gitops.Event{Time: gitops.Time{Time: now}, ServerGroup: "g", Host: "count", Status: gitops.StatusSynced}}
}

// TestFailedRequestBatchAppliesOthersOnce runs read-modify-writes of one
// server among failing writes: a batch that meets a failure runs again
// (see runBatch), and each acknowledged write must still count once.
func TestFailedRequestBatchAppliesOthersOnce(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	const n = 400
	var wg sync.WaitGroup
	var good atomic.Int64
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var u gitops.Update = countUpdate{}
			if i%7 == 0 {
				u = badUpdate{panics: i%14 == 0}
			}
			_, err := s.Apply(ctx, u)
			switch _, bad := u.(badUpdate); {
			case bad && err == nil:
				t.Error("a bad update succeeded")
			case !bad && err != nil:
				t.Errorf("good update: %v", err)
			case !bad:
				good.Add(1)
			}
		}()
	}
	wg.Wait()
	sv, err := s.Get(ctx, countUpdate{}.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(sv.CommitSHA), int(good.Load()); got != want {
		t.Errorf("the server counts %d writes, want %d", got, want)
	}
	evs, err := s.Events(ctx, gitops.EventFilter{Host: "count"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(evs), int(good.Load()); got != want {
		t.Errorf("%d events, want %d", got, want)
	}
}

// TestEventTimesFollowIDs checks that concurrent updates of distinct
// servers, which the store applies ahead of its writer (prepare), are
// stored in the order of their times: event ids and times rise together,
// so a consumer that reads events up to a time never misses one that is
// stored later with an earlier time.
func TestEventTimesFollowIDs(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	const clients, each = 32, 40
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				u := pipeline("g", fmt.Sprintf("h%02d-%02d", c, i), fmt.Sprintf("%040x", c*each+i))
				if _, err := s.Apply(ctx, u); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs, err := s.Events(ctx, gitops.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != clients*each {
		t.Fatalf("%d events, want %d", len(evs), clients*each)
	}
	slices.SortFunc(evs, func(a, b gitops.Event) int { return cmp.Compare(a.ID, b.ID) })
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time.Time) {
			t.Fatalf("event %d at %s was stored after event %d at %s", evs[i].ID, evs[i].Time.Format(time.RFC3339Nano),
				evs[i-1].ID, evs[i-1].Time.Format(time.RFC3339Nano))
		}
	}
}
