package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// encodedList is ListEncoded(f) as complete JSON records.
func encodedList(t *testing.T, s *postgres.Store, f gitops.Filter) []string {
	t.Helper()
	l, n, err := s.ListEncoded(context.Background(), f)
	if err != nil {
		t.Fatalf("ListEncoded: %v", err)
	}
	if f.Limit == 0 && f.Offset == 0 && n != len(l) {
		t.Fatalf("ListEncoded: %d records, total %d", len(l), n)
	}
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = string(e.AppendJSON(nil))
	}
	return out
}

// listJSON is List(f) as complete JSON records.
func listJSON(t *testing.T, s *postgres.Store, f gitops.Filter) []string {
	t.Helper()
	l, _, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	out := make([]string, len(l))
	for i := range l {
		out[i] = string(l[i].AppendJSON(nil))
	}
	return out
}

// checkEncodedMatches checks that s's encoded reads answer what its List
// and Get answer, for every server.
func checkEncodedMatches(t *testing.T, name string, s *postgres.Store) {
	t.Helper()
	got, want := encodedList(t, s, gitops.Filter{}), listJSON(t, s, gitops.Filter{})
	if !slices.Equal(got, want) {
		t.Fatalf("%s: ListEncoded differs from List:\n got  %q\n want %q", name, got, want)
	}
	servers, _, err := s.List(context.Background(), gitops.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range servers {
		e, err := s.GetEncoded(context.Background(), sv.Key())
		if err != nil {
			t.Fatalf("%s: GetEncoded(%s): %v", name, sv.Key(), err)
		}
		if g, w := string(e.Head), string(sv.AppendJSONHead(nil)); g != w {
			t.Fatalf("%s: GetEncoded(%s) head:\n got  %s\n want %s", name, sv.Key(), g, w)
		}
	}
}

// getEncodedJSON is GetEncoded(k) as a complete JSON record, or the error.
func getEncodedJSON(s *postgres.Store, k gitops.Key) (string, error) {
	e, err := s.GetEncoded(context.Background(), k)
	if err != nil {
		return "", err
	}
	return string(e.AppendJSON(nil)), nil
}

// TestCacheReplicaSeesWrites: a write, a deletion and imports acknowledged
// by replica A are in replica B's encoded reads at once, although B loaded
// its cache before.
func TestCacheReplicaSeesWrites(t *testing.T) {
	t.Parallel()
	c := newClock()
	_, a, b := replicas(t, gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	mustApply(t, a, pipeline("grp", "h0", "first"))
	if got := encodedList(t, b, gitops.Filter{}); len(got) != 1 {
		t.Fatalf("B lists %d servers, want 1", len(got))
	}
	for i := range 20 {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		k := gitops.Key{ServerGroup: "grp", Host: fmt.Sprintf("h%d", i%3)}
		o := mustApply(t, w, pipeline(k.ServerGroup, k.Host, fmt.Sprintf("sha-%02d", i)))
		want := string(o.Server.AppendJSON(nil))
		if got, err := getEncodedJSON(r, k); err != nil || got != want {
			t.Fatalf("write %d: GetEncoded on the other replica:\n got  %s (%v)\n want %s", i, got, err, want)
		}
		l := encodedList(t, r, gitops.Filter{Host: []string{k.Host}})
		if len(l) != 1 || l[0] != want {
			t.Fatalf("write %d: ListEncoded on the other replica: %q, want %s", i, l, want)
		}
	}

	k := gitops.Key{ServerGroup: "grp", Host: "h1"}
	if err := a.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, err := b.GetEncoded(ctx, k)
	wantCode(t, err, gitops.ENOTFOUND)
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 2 {
		t.Fatalf("B lists %d servers after a deletion, want 2", len(l))
	}
	// Deleted and created again: the newest change wins.
	mustApply(t, a, pipeline(k.ServerGroup, k.Host, "again"))
	if err := a.Delete(ctx, gitops.Key{ServerGroup: "grp", Host: "h2"}); err != nil {
		t.Fatal(err)
	}
	checkEncodedMatches(t, "after delete and create", b)

	imported := testServers(5, "imp")
	imported = append(imported, gitops.Server{ServerGroup: "grp", Host: "h0", Status: gitops.StatusFailed,
		Timestamp: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Imported: true})
	if _, err := a.Import(ctx, imported, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
	checkEncodedMatches(t, "B after an import on A", b)
	checkEncodedMatches(t, "A after its import", a)
	if l := encodedList(t, b, gitops.Filter{ServerGroup: []string{"imp"}}); len(l) != 5 {
		t.Fatalf("B lists %d imported servers, want 5", len(l))
	}
}

// TestCacheFirstStartImport: a first-start import on A is in B's cache,
// loaded while the store was empty.
func TestCacheFirstStartImport(t *testing.T) {
	t.Parallel()
	_, a, b := replicas(t, gitops.StoreOptions{})
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 0 {
		t.Fatalf("B lists %d servers of an empty store", len(l))
	}
	if did, err := a.Import(context.Background(), testServers(50, "first"), gitops.ImportFirstStart); err != nil || !did {
		t.Fatalf("Import = %v, %v", did, err)
	}
	checkEncodedMatches(t, "B after a first-start import on A", b)
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 50 {
		t.Fatalf("B lists %d servers, want 50", len(l))
	}
}

// replicas opens two stores, as two replicas of the service, on a new
// database whose URL it returns.
func replicas(t *testing.T, opts gitops.StoreOptions) (url string, a, b *postgres.Store) {
	t.Helper()
	url = pgtest.NewDatabase(t)
	return url, MustOpenStore(t, url, opts), MustOpenStore(t, url, opts)
}

// exec runs statements on url as an older binary would: raw SQL that
// knows nothing of head and change.
func exec(t *testing.T, url string, stmts ...string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestCacheSeesOlderBinaryWrites: rows an older binary (one that does not
// know migration 0003) inserts, updates, upserts and deletes reach another
// store's cache, with heads encoded from the columns exactly as Get's
// record encodes.
func TestCacheSeesOlderBinaryWrites(t *testing.T) {
	t.Parallel()
	url, a, b := replicas(t, gitops.StoreOptions{StaleAfter: time.Hour})
	mustApply(t, a, pipeline("grp", "new-1", "by-new"))
	mustApply(t, a, pipeline("grp", "new-2", "by-new"))
	mustApply(t, a, pipeline("grp", "new-3", "by-new"))
	checkEncodedMatches(t, "before", b)
	headOf := func(h string) *string {
		return queryOne[*string](t, url, `SELECT head FROM servers WHERE host = $1`, h)
	}
	if headOf("new-1") == nil {
		t.Fatal("a row written by this binary has no head")
	}

	exec(t, url,
		`INSERT INTO servers (server_group, host, project_name, status, changed_files, labels,
			last_pipeline_run, "timestamp", stale_after, stale_after_ns, validation_message)
		 VALUES ('grp', 'old-1', 'p "q" <x>', 'out_of_sync', '{/etc/a,/etc/b}', '{"dc": "fra", "a": "é"}',
			'2026-04-26T10:00:00.123456Z', '2026-04-26T10:00:00.123456Z', '30m', 1800000000000, 'line
two')`,
		`UPDATE servers SET commit_sha = 'by-old', status = 'failed', changed_files = '{x}' WHERE host = 'new-1'`,
		`INSERT INTO servers (server_group, host, imported, "timestamp") VALUES ('grp', 'new-2', true, '2026-01-01T00:00:00Z')
		 ON CONFLICT (server_group, host) DO UPDATE SET imported = excluded.imported, "timestamp" = excluded."timestamp"`,
		`DELETE FROM servers WHERE host = 'new-3'`,
	)
	for _, h := range []string{"old-1", "new-1", "new-2"} {
		if headOf(h) != nil {
			t.Fatalf("row %s written by an older binary kept a head", h)
		}
	}
	checkEncodedMatches(t, "after older-binary writes", b)
	_, err := b.GetEncoded(context.Background(), gitops.Key{ServerGroup: "grp", Host: "new-3"})
	wantCode(t, err, gitops.ENOTFOUND)
	sv, err := b.Get(context.Background(), gitops.Key{ServerGroup: "grp", Host: "new-1"})
	if err != nil || sv.CommitSHA != "by-old" {
		t.Fatalf("Get = %+v, %v", sv, err)
	}
	// A fresh store loads the same (full load, heads NULL).
	c := MustOpenStore(t, url, gitops.StoreOptions{StaleAfter: time.Hour})
	checkEncodedMatches(t, "a store loading after older-binary writes", c)
	// This binary writing the row again reads it from its columns, keeping
	// what the older binary wrote, and gives it a head again.
	o := mustApply(t, a, cron("grp", "old-1", gitops.StatusSynced))
	if o.Server.ProjectName != `p "q" <x>` || o.Server.Labels["a"] != "é" || o.Server.ValidationMessage != "line\ntwo" ||
		o.Server.CommitSHA != "" || o.Server.StaleAfter != "30m" {
		t.Fatalf("an update of a row without a head lost what the row held: %+v", o.Server)
	}
	if headOf("old-1") == nil {
		t.Fatal("rewritten row has no head")
	}
	checkEncodedMatches(t, "after rewriting", b)
}

// TestCacheConcurrentReplicas: writers on two stores and readers on both
// at once; every read sees every write acknowledged before it started,
// and once quiet each store's encoded reads equal its List.
func TestCacheConcurrentReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	c := newClock()
	stores := []*postgres.Store{
		MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now}),
		MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now}),
	}
	ctx := context.Background()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for i := range 6 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			s := stores[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%3 == 0 {
					_, err = s.GetEncoded(ctx, gitops.Key{ServerGroup: "grp", Host: "h-00"})
					if gitops.ErrorCode(err) == gitops.ENOTFOUND {
						err = nil
					}
				} else {
					_, _, err = s.ListEncoded(ctx, gitops.Filter{})
				}
				if err != nil {
					t.Errorf("read during writes: %v", err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 8 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			me, other := stores[w%2], stores[1-w%2]
			for i := range 25 {
				k := gitops.Key{ServerGroup: "grp", Host: fmt.Sprintf("h-%02d", (w*7+i)%12)}
				var u gitops.Update = pipeline(k.ServerGroup, k.Host, fmt.Sprintf("w%d-%d", w, i))
				if i%3 == 2 {
					u = cron(k.ServerGroup, k.Host, gitops.StatusOutOfSync, fmt.Sprintf("f-%d", i))
				}
				o, err := me.Apply(ctx, u)
				if err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
				// Read on the other replica, after the acknowledgement:
				// this write or a later one of the same server.
				e, err := other.GetEncoded(ctx, k)
				if err != nil {
					t.Errorf("GetEncoded(%s) on the other replica: %v", k, err)
					return
				}
				var got struct {
					Timestamp time.Time `json:"timestamp"`
				}
				if err := json.Unmarshal(e.AppendJSON(nil), &got); err != nil {
					t.Errorf("decoding %s: %v", e.Head, err)
					return
				}
				if got.Timestamp.Before(o.Server.Timestamp) {
					t.Errorf("%s on the other replica is older (%s) than the acknowledged write (%s)", k, got.Timestamp, o.Server.Timestamp)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	for i, s := range stores {
		checkEncodedMatches(t, fmt.Sprintf("store %d when quiet", i), s)
	}
}

// TestCacheReloadsPastHorizon: once the deletion log entries a cache has
// not seen are pruned, the cache loads everything again rather than keep
// a deleted server.
func TestCacheReloadsPastHorizon(t *testing.T) {
	t.Parallel()
	url, a, b := replicas(t, gitops.StoreOptions{})
	ctx := context.Background()
	for i := range 3 {
		mustApply(t, a, pipeline("grp", fmt.Sprintf("h%d", i), "x"))
	}
	checkEncodedMatches(t, "loaded", b)
	if err := a.Delete(ctx, gitops.Key{ServerGroup: "grp", Host: "h1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, gitops.Key{ServerGroup: "grp", Host: "h2"}); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_deletions`); got != 2 {
		t.Fatalf("deletion log holds %d entries, want 2", got)
	}
	// The log is pruned with events: everything logged before the future.
	if _, err := a.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_deletions`); got != 0 {
		t.Fatalf("deletion log holds %d entries after pruning, want 0", got)
	}
	if h, n := tableCount(t, url, `SELECT horizon FROM server_change_counter`), tableCount(t, url, `SELECT n FROM server_change_counter`); h != n {
		t.Fatalf("horizon %d, want the newest deletion's number %d", h, n)
	}
	checkEncodedMatches(t, "B past the horizon", b)
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 1 {
		t.Fatalf("B lists %d servers, want 1", len(l))
	}
	// A cache that was current before pruning needs no reload, and still
	// answers rightly afterwards.
	mustApply(t, a, pipeline("grp", "h3", "y"))
	checkEncodedMatches(t, "after another write", b)
}

// TestCacheKeyWrittenManyTimes: between two refreshes of replica B, one
// server is written many times, deleted and created again, another created
// and deleted, by replica A; the change log then lists those keys many
// times, and B's copy must hold each key's newest state, not any logged
// one.
func TestCacheKeyWrittenManyTimes(t *testing.T) {
	t.Parallel()
	c := newClock()
	url, a, b := replicas(t, gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	mustApply(t, a, pipeline("grp", "busy", "v0"))
	mustApply(t, a, pipeline("grp", "reborn", "v0"))
	checkEncodedMatches(t, "loaded", b)
	logged := tableCount(t, url, `SELECT count(*) FROM server_changes`)
	for i := range 20 {
		mustApply(t, a, pipeline("grp", "busy", fmt.Sprintf("v%d", i+1)))
		if i%5 == 4 {
			mustApply(t, a, cron("grp", "busy", gitops.StatusOutOfSync, fmt.Sprintf("/etc/f%d", i)))
		}
	}
	if err := a.Delete(ctx, gitops.Key{ServerGroup: "grp", Host: "reborn"}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, a, pipeline("grp", "reborn", "again"))
	mustApply(t, a, pipeline("grp", "gone", "v0"))
	if err := a.Delete(ctx, gitops.Key{ServerGroup: "grp", Host: "gone"}); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_changes`) - logged; got < 25 {
		t.Fatalf("the change log grew by %d entries, want one per write transaction (26)", got)
	}
	checkEncodedMatches(t, "after many writes of one key", b)
	e, err := b.GetEncoded(ctx, gitops.Key{ServerGroup: "grp", Host: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.Get(ctx, gitops.Key{ServerGroup: "grp", Host: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := string(e.Head), string(want.AppendJSONHead(nil)); g != w {
		t.Fatalf("B's copy of busy:\n got  %s\n want %s", g, w)
	}
	_, err = b.GetEncoded(ctx, gitops.Key{ServerGroup: "grp", Host: "gone"})
	wantCode(t, err, gitops.ENOTFOUND)
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 2 {
		t.Fatalf("B lists %d servers, want 2", len(l))
	}
}

// TestCacheChangeLogPruning: PruneEvents keeps the change log to the last
// hour whatever the event retention, and raises the horizon past what it
// removed; a replica whose copy is older than that loads everything again
// (it cannot find the pruned writes in the log), and one at or past it
// goes on by delta.
func TestCacheChangeLogPruning(t *testing.T) {
	t.Parallel()
	url, a, b := replicas(t, gitops.StoreOptions{})
	ctx := context.Background()
	for i := range 3 {
		mustApply(t, a, pipeline("grp", fmt.Sprintf("h%d", i), "x"))
	}
	checkEncodedMatches(t, "loaded", b)
	horizon := func() int { return tableCount(t, url, `SELECT horizon FROM server_change_counter`) }
	counter := func() int { return tableCount(t, url, `SELECT n FROM server_change_counter`) }

	// Entries younger than an hour outlive a retention of a day.
	mustApply(t, a, pipeline("grp", "h0", "y"))
	h0 := horizon()
	if _, err := a.PruneEvents(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_changes`); got != 4 {
		t.Fatalf("change log holds %d entries after pruning nothing, want 4", got)
	}
	if horizon() != h0 {
		t.Fatalf("horizon moved from %d to %d without pruning", h0, horizon())
	}
	checkEncodedMatches(t, "B by delta", b)

	// Entries older than an hour go even when events are kept a day, and
	// B, whose copy is older than the newest of them, reloads. Without
	// the horizon B would never learn of h1's write.
	mustApply(t, a, pipeline("grp", "h1", "y"))
	old := counter()
	exec(t, url, `UPDATE server_changes SET logged_at = now() - interval '2 hours'`)
	mustApply(t, a, pipeline("grp", "h2", "y"))
	if _, err := a.PruneEvents(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_changes`); got != 1 {
		t.Fatalf("change log holds %d entries after pruning, want 1", got)
	}
	if horizon() != old {
		t.Fatalf("horizon %d, want the newest pruned number %d", horizon(), old)
	}
	checkEncodedMatches(t, "B past the horizon", b)

	// B is now at or past the horizon: later writes reach it by delta,
	// and pruning everything (a future cutoff) makes it reload again.
	mustApply(t, a, pipeline("grp", "h3", "z"))
	checkEncodedMatches(t, "B after the reload", b)
	mustApply(t, a, pipeline("grp", "h0", "z"))
	if _, err := a.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := tableCount(t, url, `SELECT count(*) FROM server_changes`); got != 0 {
		t.Fatalf("change log holds %d entries after pruning all, want 0", got)
	}
	if horizon() != counter() {
		t.Fatalf("horizon %d, want the counter %d", horizon(), counter())
	}
	checkEncodedMatches(t, "B past the new horizon", b)
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 4 {
		t.Fatalf("B lists %d servers, want 4", len(l))
	}
}

// TestCacheSeesMigration0003BinaryWrites: binaries of migration 0003
// number their writes (through gitops_status.change) but do not log them;
// the triggers of migration 0004 log them, so replicas see them.
func TestCacheSeesMigration0003BinaryWrites(t *testing.T) {
	t.Parallel()
	url, a, b := replicas(t, gitops.StoreOptions{StaleAfter: time.Hour})
	mustApply(t, a, pipeline("grp", "h1", "by-new"))
	checkEncodedMatches(t, "before", b)
	const change = `current_setting('gitops_status.change')::bigint`
	exec(t, url,
		`BEGIN`,
		`SELECT 1 FROM servers WHERE host = 'h1' FOR UPDATE`,
		`UPDATE server_change_counter SET n = n + 1 WHERE id = true RETURNING n, set_config('gitops_status.change', n::text, true)`,
		`UPDATE servers SET commit_sha = 'by-0003', head = NULL, change = `+change+` WHERE host = 'h1'`,
		`INSERT INTO servers (server_group, host, "timestamp", change) VALUES ('grp', 'h2', now(), `+change+`)`,
		`COMMIT`,
	)
	checkEncodedMatches(t, "after a 0003 binary's writes", b)
	sv, err := b.Get(context.Background(), gitops.Key{ServerGroup: "grp", Host: "h1"})
	if err != nil || sv.CommitSHA != "by-0003" {
		t.Fatalf("Get = %+v, %v", sv, err)
	}
	if l := encodedList(t, b, gitops.Filter{}); len(l) != 2 {
		t.Fatalf("B lists %d servers, want 2", len(l))
	}
}

// TestCacheOwnWritesNotReadBack: when another replica's commits come
// between a replica's own, the replica's reads still see its own writes
// (and the other's, deletions and re-creations included), while its
// refreshes read back only the other replica's rows, not its own.
func TestCacheOwnWritesNotReadBack(t *testing.T) {
	t.Parallel()
	c := newClock()
	_, a, b := replicas(t, gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	encodedList(t, a, gitops.Filter{}) // load both caches
	encodedList(t, b, gitops.Filter{})

	const writes = 10
	before := postgres.RefreshedRows(a)
	for i := range writes {
		mustApply(t, a, pipeline("own", fmt.Sprintf("a%d", i), fmt.Sprintf("sha-a%d", i)))
		mustApply(t, b, pipeline("other", fmt.Sprintf("b%d", i), fmt.Sprintf("sha-b%d", i)))
	}
	checkEncodedMatches(t, "A after interleaved writes", a)
	if got := postgres.RefreshedRows(a) - before; got != writes {
		t.Errorf("A's refresh read %d rows back, want %d (B's writes only)", got, writes)
	}

	// A's write of a key B deleted, and A's creating it again after B
	// deleted it: the newest of each wins on A.
	k := gitops.Key{ServerGroup: "own", Host: "a3"}
	mustApply(t, a, pipeline(k.ServerGroup, k.Host, "before-delete"))
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	mustApply(t, b, pipeline("other", "gap", "1"))
	if _, err := a.GetEncoded(ctx, k); gitops.ErrorCode(err) != gitops.ENOTFOUND {
		t.Fatalf("A's GetEncoded(%s) after B deleted it: %v, want not found", k, err)
	}
	o := mustApply(t, a, pipeline(k.ServerGroup, k.Host, "again"))
	mustApply(t, b, pipeline("other", "gap", "2"))
	if got, err := getEncodedJSON(a, k); err != nil || got != string(o.Server.AppendJSON(nil)) {
		t.Fatalf("A's GetEncoded(%s) after creating it again: %s (%v)", k, got, err)
	}
	checkEncodedMatches(t, "A after delete and create", a)
	checkEncodedMatches(t, "B after delete and create", b)
}

// TestCacheOwnWritesBeyondTheBound: own commits beyond the pending bound
// are forgotten and read back from the database instead.
func TestCacheOwnWritesBeyondTheBound(t *testing.T) {
	t.Cleanup(postgres.SetMaxPendingRows(3)) // runs after the stores close
	c := newClock()
	_, a, b := replicas(t, gitops.StoreOptions{Now: c.Now})
	encodedList(t, a, gitops.Filter{})
	before := postgres.RefreshedRows(a)
	const writes = 10
	for i := range writes {
		mustApply(t, a, pipeline("own", fmt.Sprintf("a%d", i), fmt.Sprintf("sha-a%d", i)))
		mustApply(t, b, pipeline("other", fmt.Sprintf("b%d", i), fmt.Sprintf("sha-b%d", i)))
	}
	checkEncodedMatches(t, "A past the bound", a)
	// B's 10, and A's own but the first (published at once) and the last 3.
	if got, want := postgres.RefreshedRows(a)-before, int64(writes+writes-1-3); got != want {
		t.Errorf("A's refresh read %d rows back, want %d", got, want)
	}
}

// TestFollowRefreshesWithoutReads: a replica that follows brings its cache
// up to date with another replica's writes without being read, so that no
// later read (or stale sweep) pays for all of them at once.
func TestFollowRefreshesWithoutReads(t *testing.T) {
	t.Parallel()
	_, a, b := replicas(t, gitops.StoreOptions{})
	encodedList(t, b, gitops.Filter{}) // load B's cache
	b.Follow(20 * time.Millisecond)
	before := postgres.RefreshedRows(b)
	const writes = 5
	for i := range writes {
		mustApply(t, a, pipeline("followed", fmt.Sprintf("h%d", i), "sha"))
	}
	for deadline := time.Now().Add(10 * time.Second); postgres.RefreshedRows(b)-before < writes; {
		if time.Now().After(deadline) {
			t.Fatalf("B read %d of A's %d writes back without being read, want all", postgres.RefreshedRows(b)-before, writes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkEncodedMatches(t, "B after following A", b)
	if err := b.Close(); err != nil { // stops the follower first
		t.Fatal(err)
	}
}
