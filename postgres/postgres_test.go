package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// clock is a fake clock that moves forward by 1ms on every reading, shared
// by the stores of one test: readings are unique and ordered as taken.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 4, 26, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// MustOpenStore opens a store on url and closes it when tb ends.
func MustOpenStore(tb testing.TB, url string, opts gitops.StoreOptions) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func pipeline(g, h, sha string) *gitops.PipelineUpdate {
	return &gitops.PipelineUpdate{
		Source: gitops.SourcePipeline, ServerGroup: g, Host: h,
		ProjectName: "proj", RepoName: "repo", ServerType: "rsyslog", Environment: "prod",
		Status: gitops.StatusSynced, ChangedFiles: []string{"/etc/a.conf"},
		ValidationStatus: gitops.ValidationPassed, CommitSHA: sha, Branch: "main",
		UpdatedBy: "ci", Labels: map[string]string{"dc": "fra"},
	}
}

func cron(g, h string, st gitops.Status, files ...string) *gitops.CronUpdate {
	return &gitops.CronUpdate{ServerGroup: g, Host: h, Status: st, ChangedFiles: files}
}

func mustApply(tb testing.TB, s gitops.Store, u gitops.Update) gitops.Outcome {
	tb.Helper()
	o, err := s.Apply(context.Background(), u)
	if err != nil {
		tb.Fatalf("Apply %s: %v", u.Key(), err)
	}
	return o
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gitops.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func tableCount(t *testing.T, url, q string) int { return queryOne[int](t, url, q) }

// queryOne runs q, which returns one value, on a connection of its own to
// url, as an outside client (or an older binary) would.
func queryOne[T any](t *testing.T, url, q string, args ...any) T {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v T
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	n, err := postgres.Migrate(ctx, url)
	if err != nil || n < 1 {
		t.Fatalf("first Migrate = %d, %v; want >= 1 applied", n, err)
	}
	if n2, err := postgres.Migrate(ctx, url); err != nil || n2 != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n2, err)
	}
	if got := tableCount(t, url, "SELECT count(*) FROM schema_migrations"); got != n {
		t.Fatalf("schema_migrations has %d rows, want %d", got, n)
	}
	// Open on a migrated database applies nothing and works.
	s := MustOpenStore(t, url, gitops.StoreOptions{})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := postgres.Migrate(context.Background(), url)
			total.Add(int64(n))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if got, want := int(total.Load()), tableCount(t, url, "SELECT count(*) FROM schema_migrations"); got != want || got < 1 {
		t.Fatalf("migrations applied in total %d, recorded %d", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name string
		url  string
		code string
	}{
		{"malformed", "postgres://u:s3cretpw@127.0.0.1:notaport/db", gitops.EINVALID},
		{"unknown parameter value", "postgres://u:s3cretpw@127.0.0.1/db?sslmode=sometimes", gitops.EINVALID},
		{"nothing listening", "postgres://u:s3cretpw@127.0.0.1:1/db?sslmode=disable", gitops.EUNAVAILABLE},
		{"unknown database", strings.Replace(pgtest.ServerURL(), "/postgres?", "/no_such_db?", 1), gitops.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := postgres.Open(ctx, tt.url, gitops.StoreOptions{})
			wantCode(t, err, tt.code)
			t.Logf("message: %s", gitops.ErrorMessage(err))
			if strings.Contains(err.Error(), "s3cretpw") || strings.Contains(gitops.ErrorMessage(err), "s3cretpw") {
				t.Fatalf("error shows the password: %v", err)
			}
			if tt.code == gitops.EUNAVAILABLE && !strings.HasPrefix(gitops.ErrorMessage(err), "database unavailable: ") {
				t.Fatalf("message %q does not start with \"database unavailable: \"", gitops.ErrorMessage(err))
			}
			_, err = postgres.Migrate(ctx, tt.url)
			wantCode(t, err, tt.code)
		})
	}
}

func TestApplyGetRoundTrip(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: newClock().Now})
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "rsyslog-prod", Host: "rsyslog-01"}

	o := mustApply(t, s, pipeline(k.ServerGroup, k.Host, "abc"))
	if !o.Applied || !o.Created || o.Event == nil || o.Event.ID == 0 {
		t.Fatalf("first pipeline: %+v", o)
	}
	got, err := s.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o.Server) {
		t.Fatalf("Get differs from Apply's outcome:\n got %+v\nwant %+v", got, o.Server)
	}

	c := mustApply(t, s, cron(k.ServerGroup, k.Host, gitops.StatusOutOfSync, "/etc/x"))
	if c.Created || c.Event == nil || c.Event.ID <= o.Event.ID {
		t.Fatalf("cron: %+v", c)
	}
	got, _ = s.Get(ctx, k)
	if got.CommitSHA != "abc" || got.Branch != "main" || got.Labels["dc"] != "fra" ||
		got.DriftStatus != gitops.StatusOutOfSync || got.PipelineStatus != gitops.StatusSynced ||
		got.LastCronCheck.IsZero() || !reflect.DeepEqual(got.ChangedFiles, []string{"/etc/x"}) {
		t.Fatalf("after cron: %+v", got)
	}
	// The same check again changes nothing but the times: no event.
	if again := mustApply(t, s, cron(k.ServerGroup, k.Host, gitops.StatusOutOfSync, "/etc/x")); again.Event != nil {
		t.Fatalf("repeated cron wrote an event: %+v", again.Event)
	}

	// An update held back writes nothing.
	late := cron(k.ServerGroup, k.Host, gitops.StatusSynced)
	late.ReportedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	held := mustApply(t, s, late)
	if held.Applied || len(held.Warnings) == 0 {
		t.Fatalf("late cron applied: %+v", held)
	}
	if after, _ := s.Get(ctx, k); after.Status != gitops.StatusOutOfSync {
		t.Fatalf("held-back update changed the record: %+v", after)
	}

	evs, err := s.Events(ctx, gitops.EventFilter{ServerGroup: []string{k.ServerGroup}, Host: k.Host})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Source != gitops.SourceCron || evs[1].Source != gitops.SourcePipeline ||
		evs[0].PreviousStatus != gitops.StatusSynced || !reflect.DeepEqual(evs[1].ChangedFiles, []string{"/etc/a.conf"}) {
		t.Fatalf("events: %+v", evs)
	}

	// Any text survives, in order, in lists and labels.
	odd := []string{`a"b`, `c\d`, "{e,f}", " g ", "NULL", "", "ünï", `\"`, "z", "a"}
	u := pipeline(k.ServerGroup, k.Host, "odd")
	u.ChangedFiles = odd
	u.Labels = map[string]string{`"k"`: `v\`, "{}": "[]"}
	o = mustApply(t, s, u)
	got, err = s.Get(ctx, k)
	if err != nil || !reflect.DeepEqual(got.ChangedFiles, odd) || !reflect.DeepEqual(got.Labels, u.Labels) ||
		!reflect.DeepEqual(o.Event.ChangedFiles, odd) {
		t.Fatalf("odd text: %q %q, %v", got.ChangedFiles, got.Labels, err)
	}
	if evs, _ := s.Events(ctx, gitops.EventFilter{Limit: 1}); len(evs) != 1 || !reflect.DeepEqual(evs[0].ChangedFiles, odd) || evs[0].ID != o.Event.ID {
		t.Fatalf("odd event: %+v", evs)
	}

	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, k)
	wantCode(t, err, gitops.ENOTFOUND)
	wantCode(t, s.Delete(ctx, k), gitops.ENOTFOUND)
}

// TestImportKeepsEveryField writes complete records and reads them back
// unchanged, times at microsecond precision.
func TestImportKeepsEveryField(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{})
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3*3600))
	full := gitops.Server{
		ServerGroup: "g", Host: "h", ProjectName: "p", RepoName: "r", ServerType: "t", Environment: "e",
		Status: gitops.StatusFailed, ChangedFiles: []string{"b", "a", "a"}, ValidationStatus: gitops.ValidationFailed,
		ValidationMessage: "bad \"quote\" ünïcode", CommitSHA: "c", Branch: "br", UpdatedBy: "u",
		LastPipelineRun: at, LastCronCheck: at.Add(time.Second), Timestamp: at.Add(2 * time.Second),
		StatusSince: at.Add(-time.Hour), LastSource: gitops.SourceLegacy, Labels: map[string]string{"k": "v", "e": ""},
		PipelineStatus: gitops.StatusFailed, DriftStatus: gitops.StatusSynced, StaleAfter: "90m",
		PipelineReportedAt: at.Add(-time.Minute), CronReportedAt: at.Add(-2 * time.Minute),
		LegacyWrittenAt: at, Imported: true,
	}
	bare := gitops.Server{ServerGroup: "g", Host: "bare", Status: gitops.StatusUnknown}
	if ok, err := s.Import(ctx, []gitops.Server{full, bare}, gitops.ImportReplace); err != nil || !ok {
		t.Fatalf("Import = %v, %v", ok, err)
	}
	for _, want := range []gitops.Server{full, bare} {
		got, err := s.Get(ctx, want.Key())
		if err != nil {
			t.Fatal(err)
		}
		want = want.Clone()
		for _, p := range []*time.Time{&want.LastPipelineRun, &want.LastCronCheck, &want.Timestamp, &want.StatusSince,
			&want.PipelineReportedAt, &want.CronReportedAt, &want.LegacyWrittenAt} {
			if !p.IsZero() {
				*p = gitops.Now(*p)
			}
		}
		if want.ChangedFiles == nil {
			want.ChangedFiles = []string{}
		}
		if want.Labels == nil {
			want.Labels = map[string]string{}
		}
		want.Stale = got.Stale
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read back:\n got %+v\nwant %+v", got, want)
		}
	}
}

// TestReplicasSeeEachOthersWrites: two stores on one database stand for
// two replicas; each read right after a write through the other sees it.
func TestReplicasSeeEachOthersWrites(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	c := newClock()
	a := MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now})
	b := MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "grp", Host: "h1"}
	for i := 0; i < 50; i++ {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		sha := fmt.Sprintf("sha-%03d", i)
		mustApply(t, w, pipeline(k.ServerGroup, k.Host, sha))
		got, err := r.Get(ctx, k)
		if err != nil || got.CommitSHA != sha {
			t.Fatalf("read %q, %v right after the other store wrote %s", got.CommitSHA, err, sha)
		}
		list, total, err := r.List(ctx, gitops.Filter{ServerGroup: []string{"grp"}})
		if err != nil || total != 1 || list[0].CommitSHA != sha {
			t.Fatalf("List after write %s: %+v, %d, %v", sha, list, total, err)
		}
	}
	if err := a.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(ctx, k)
	wantCode(t, err, gitops.ENOTFOUND)
}

// TestConcurrentPipelineAndCronLoseNoField runs pipeline and cron updates
// of the same servers at once, through two stores (two replicas) or one
// (updates of one server then share transactions), and checks the history
// is one of updates applied one at a time: every outcome shows the pipeline
// fields of the latest pipeline update and the cron fields of the latest
// cron update applied before it, exactly one created the server, and the
// stored record and events are those of the last update.
func TestConcurrentPipelineAndCronLoseNoField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stores int
		pick   func(pipeline bool, i int) int // which store sends an update
	}{
		{"pipeline on one replica, cron on the other", 2, func(p bool, i int) int {
			if p {
				return 0
			}
			return 1
		}},
		{"both on both replicas", 2, func(p bool, i int) int { return i % 2 }},
		{"one store", 1, func(bool, int) int { return 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewDatabase(t)
			c := newClock()
			var stores []*postgres.Store
			for range tt.stores {
				stores = append(stores, MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now}))
			}
			checkLinearizable(t, stores, tt.pick)
		})
	}
}

func checkLinearizable(t *testing.T, stores []*postgres.Store, pick func(bool, int) int) {
	const hosts, rounds, perKind = 4, 30, 2
	type result struct {
		pipeline bool
		n        int
		out      gitops.Outcome
	}
	results := make([][]result, hosts)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for h := 0; h < hosts; h++ {
		host := fmt.Sprintf("race-%d", h)
		for g := 0; g < 2*perKind; g++ {
			isPipeline := g%2 == 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g / 2; i < rounds; i += perKind {
					var u gitops.Update
					if isPipeline {
						u = pipeline("grp", host, fmt.Sprintf("p%03d", i))
					} else {
						st := gitops.StatusOutOfSync
						if i%2 == 1 {
							st = gitops.StatusFailed
						}
						u = cron("grp", host, st, fmt.Sprintf("/drift/%03d", i))
					}
					o, err := stores[pick(isPipeline, i)].Apply(context.Background(), u)
					if err != nil {
						t.Errorf("Apply: %v", err)
						return
					}
					mu.Lock()
					results[h] = append(results[h], result{isPipeline, i, o})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	for h, rs := range results {
		// The clock is read under the row lock, so Timestamp orders the
		// updates of one server as they were applied.
		sort.Slice(rs, func(i, j int) bool { return rs[i].out.Server.Timestamp.Before(rs[j].out.Server.Timestamp) })
		lastP, lastC, created := -1, -1, 0
		var eventIDs []int64
		for i, r := range rs {
			if i > 0 && !rs[i-1].out.Server.Timestamp.Before(r.out.Server.Timestamp) {
				t.Fatalf("race-%d: two updates at one time %s", h, r.out.Server.Timestamp)
			}
			if r.out.Created {
				created++
			}
			if r.out.Event != nil {
				if r.out.Event.ID == 0 {
					t.Fatalf("race-%d update %d: event without id", h, i)
				}
				eventIDs = append(eventIDs, r.out.Event.ID)
			}
			if r.pipeline {
				lastP = r.n
			} else {
				lastC = r.n
			}
			s := r.out.Server
			if lastP >= 0 && s.CommitSHA != fmt.Sprintf("p%03d", lastP) {
				t.Fatalf("race-%d update %d: commit_sha %q, want p%03d (a pipeline field was lost)", h, i, s.CommitSHA, lastP)
			}
			if lastC >= 0 && s.LastCronCheck.IsZero() {
				t.Fatalf("race-%d update %d: last_cron_check lost", h, i)
			}
			if lastC >= 0 {
				st := gitops.StatusOutOfSync
				if lastC%2 == 1 {
					st = gitops.StatusFailed
				}
				if s.DriftStatus != st {
					t.Fatalf("race-%d update %d: drift_status %q, want %q (a cron field was lost)", h, i, s.DriftStatus, st)
				}
			}
		}
		if created != 1 {
			t.Fatalf("race-%d: %d updates created the server, want 1", h, created)
		}
		k := gitops.Key{ServerGroup: "grp", Host: fmt.Sprintf("race-%d", h)}
		for _, st := range stores {
			final, err := st.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			last := rs[len(rs)-1].out.Server
			last.Stale = final.Stale
			if !reflect.DeepEqual(final, last) {
				t.Fatalf("race-%d: stored record is not the last outcome:\n got %+v\nwant %+v", h, final, last)
			}
		}
		// Events, newest first, are the outcomes' events newest first:
		// ids grow in the order updates were applied.
		evs, err := stores[0].Events(ctx, gitops.EventFilter{ServerGroup: []string{k.ServerGroup}, Host: k.Host})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, e := range evs {
			got = append(got, e.ID)
		}
		slices.Reverse(eventIDs)
		if !slices.Equal(got, eventIDs) {
			t.Fatalf("race-%d: stored event ids %v, outcomes' ids newest first %v", h, got, eventIDs)
		}
	}
}

// TestConcurrentCreate creates one new server from many goroutines on two
// stores at once: every update succeeds and exactly one created it.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	c := newClock()
	stores := []*postgres.Store{
		MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now}),
		MustOpenStore(t, url, gitops.StoreOptions{Now: c.Now}),
	}
	for round := 0; round < 5; round++ {
		host := fmt.Sprintf("new-%d", round)
		var created atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				var u gitops.Update = pipeline("grp", host, "x")
				if i%2 == 1 {
					u = cron("grp", host, gitops.StatusOutOfSync)
				}
				o, err := stores[i%2].Apply(context.Background(), u)
				if err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
				if o.Created {
					created.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if n := created.Load(); n != 1 {
			t.Fatalf("round %d: %d updates created the server, want 1", round, n)
		}
	}
}

func testServers(n int, group string) []gitops.Server {
	at := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	out := make([]gitops.Server, n)
	for i := range out {
		out[i] = gitops.Server{
			ServerGroup: group, Host: fmt.Sprintf("host-%06d", i), Status: gitops.StatusSynced,
			ValidationStatus: gitops.ValidationUnknown, LastPipelineRun: at, Timestamp: at, StatusSince: at,
			LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced, Imported: true,
			ChangedFiles: []string{"/etc/f"}, Labels: map[string]string{"i": fmt.Sprint(i)},
		}
	}
	return out
}

// TestImportFirstStartOnce imports from four stores on one empty database
// at once: exactly one does.
func TestImportFirstStartOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	if _, err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	stores := make([]*postgres.Store, 4)
	for i := range stores {
		stores[i] = MustOpenStore(t, url, gitops.StoreOptions{})
	}
	servers := testServers(500, "imp")
	var wg sync.WaitGroup
	var did atomic.Int32
	start := make(chan struct{})
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := s.Import(context.Background(), servers, gitops.ImportFirstStart)
			if err != nil {
				t.Errorf("Import: %v", err)
			}
			if ok {
				did.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := did.Load(); n != 1 {
		t.Fatalf("%d stores imported, want exactly 1", n)
	}
	_, total, err := stores[0].List(context.Background(), gitops.Filter{})
	if err != nil || total != len(servers) {
		t.Fatalf("List: total %d, %v; want %d", total, err, len(servers))
	}
}

func TestImportModes(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: newClock().Now})
	ctx := context.Background()

	// A store that holds servers but never imported does not import, and
	// records nothing, as if it had never been asked.
	mustApply(t, s, pipeline("g", "live", "1"))
	if ok, err := s.Import(ctx, testServers(3, "g"), gitops.ImportFirstStart); err != nil || ok {
		t.Fatalf("first-start import into a non-empty store = %v, %v", ok, err)
	}
	if err := s.Delete(ctx, gitops.Key{ServerGroup: "g", Host: "live"}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Import(ctx, testServers(3, "g"), gitops.ImportFirstStart); err != nil || !ok {
		t.Fatalf("first-start import into an empty store = %v, %v", ok, err)
	}
	// Never twice, even once the servers are gone.
	for _, sv := range testServers(3, "g") {
		if err := s.Delete(ctx, sv.Key()); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Import(ctx, testServers(3, "g"), gitops.ImportFirstStart); err != nil || ok {
		t.Fatalf("second first-start import = %v, %v", ok, err)
	}

	// Replace: same keys replaced, others kept, duplicates: the last wins.
	mustApply(t, s, pipeline("g", "keep", "k"))
	old := testServers(2, "g")
	if ok, err := s.Import(ctx, old, gitops.ImportReplace); err != nil || !ok {
		t.Fatalf("replace import = %v, %v", ok, err)
	}
	repl := testServers(2, "g")
	repl[0].CommitSHA = "first"
	dup := repl[0].Clone()
	dup.CommitSHA = "second"
	repl = append(repl, dup)
	if ok, err := s.Import(ctx, repl, gitops.ImportReplace); err != nil || !ok {
		t.Fatalf("replace import = %v, %v", ok, err)
	}
	got, err := s.Get(ctx, repl[0].Key())
	if err != nil || got.CommitSHA != "second" {
		t.Fatalf("replaced server: %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "keep"}); err != nil {
		t.Fatalf("server not in the import was dropped: %v", err)
	}
	if ok, err := s.Import(ctx, nil, gitops.ImportReplace); err != nil || !ok {
		t.Fatalf("empty replace import = %v, %v", ok, err)
	}
}

func TestListOrderFiltersAndPaging(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: newClock().Now})
	ctx := context.Background()
	// Byte order: digits < upper case < '_' < lower case; '-' < '.'.
	keys := []gitops.Key{
		{ServerGroup: "b", Host: "x"},
		{ServerGroup: "a", Host: "b"},
		{ServerGroup: "B", Host: "a"},
		{ServerGroup: "a", Host: "a-1"},
		{ServerGroup: "a", Host: "a.1"},
		{ServerGroup: "a", Host: "a_1"},
		{ServerGroup: "a", Host: "A1"},
		{ServerGroup: "0", Host: "z"},
		{ServerGroup: "a", Host: "a1"},
	}
	for i, k := range keys {
		u := pipeline(k.ServerGroup, k.Host, "c")
		if i%2 == 1 {
			u.Environment = "dev"
			u.Status = gitops.StatusFailed
		}
		mustApply(t, s, u)
	}
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = k.String()
	}
	sort.Strings(want)
	names := func(l []gitops.Server) []string {
		var out []string
		for _, sv := range l {
			out = append(out, sv.Key().String())
		}
		return out
	}
	all, total, err := s.List(ctx, gitops.Filter{})
	if err != nil || total != len(keys) || !reflect.DeepEqual(names(all), want) {
		t.Fatalf("List = %v, %d, %v; want %v", names(all), total, err, want)
	}

	tests := []struct {
		name  string
		f     gitops.Filter
		want  []string
		total int
	}{
		{"group", gitops.Filter{ServerGroup: []string{"a"}}, []string{"a/A1", "a/a-1", "a/a.1", "a/a1", "a/a_1", "a/b"}, 6},
		{"groups or", gitops.Filter{ServerGroup: []string{"b", "B"}}, []string{"B/a", "b/x"}, 2},
		{"case-sensitive", gitops.Filter{ServerGroup: []string{"A"}}, nil, 0},
		{"host", gitops.Filter{Host: []string{"a1", "x"}}, []string{"a/a1", "b/x"}, 2},
		{"env and status", gitops.Filter{Environment: []string{"dev"}, Status: []gitops.Status{gitops.StatusFailed}}, []string{"0/z", "a/a-1", "a/a_1", "a/b"}, 4},
		{"validation", gitops.Filter{ValidationStatus: []gitops.ValidationStatus{gitops.ValidationFailed}}, nil, 0},
		{"type", gitops.Filter{ServerType: []string{"rsyslog"}, Limit: 2}, want[:2], 9},
		{"page", gitops.Filter{Limit: 3, Offset: 2}, want[2:5], 9},
		{"offset only", gitops.Filter{Offset: 7}, want[7:], 9},
		{"past the end", gitops.Filter{Limit: 5, Offset: 50}, nil, 9},
		{"group paged", gitops.Filter{ServerGroup: []string{"a"}, Limit: 1, Offset: 1}, []string{"a/a-1"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("List returned a nil slice")
			}
			if !reflect.DeepEqual(names(got), tt.want) || total != tt.total {
				t.Fatalf("got %v (total %d), want %v (total %d)", names(got), total, tt.want, tt.total)
			}
		})
	}
}

// TestStaleFilterMatchesIsStale checks that the SQL stale filter and
// gitops.Server.IsStale agree, at the edges too.
func TestStaleFilterMatchesIsStale(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)
	for _, global := range []time.Duration{0, time.Hour, 1500 * time.Nanosecond} {
		t.Run(global.String(), func(t *testing.T) {
			t.Parallel()
			s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: func() time.Time { return now }, StaleAfter: global})
			ctx := context.Background()
			var servers []gitops.Server
			ages := []time.Duration{0, time.Microsecond, 2 * time.Microsecond, 30 * time.Minute, time.Hour, time.Hour + time.Microsecond, 48 * time.Hour}
			thresholds := []string{"", "0s", "1us", "500ns", "30m", "1h", "bogus", "-5m"}
			for i, age := range ages {
				for j, th := range thresholds {
					servers = append(servers, gitops.Server{
						ServerGroup: "g", Host: fmt.Sprintf("h%d-%d-p", i, j), Status: gitops.StatusSynced,
						LastPipelineRun: now.Add(-age), StaleAfter: th, Timestamp: now,
					}, gitops.Server{
						ServerGroup: "g", Host: fmt.Sprintf("h%d-%d-c", i, j), Status: gitops.StatusSynced,
						LastPipelineRun: now.Add(-72 * time.Hour), LastCronCheck: now.Add(-age), StaleAfter: th, Timestamp: now,
					})
				}
			}
			for j, th := range thresholds {
				servers = append(servers, gitops.Server{ServerGroup: "g", Host: fmt.Sprintf("never-%d", j), Status: gitops.StatusUnknown, StaleAfter: th})
			}
			if _, err := s.Import(ctx, servers, gitops.ImportReplace); err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, sv := range servers {
				want[sv.Host] = sv.IsStale(now, global)
			}
			for _, stale := range []bool{true, false} {
				got, total, err := s.List(ctx, gitops.Filter{Stale: &stale})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, h := range want {
					if h == stale {
						n++
					}
				}
				if total != n || len(got) != n {
					t.Errorf("stale=%v: %d servers (total %d), want %d", stale, len(got), total, n)
				}
				for _, sv := range got {
					if want[sv.Host] != stale || sv.Stale != stale {
						t.Errorf("stale=%v returned %s (stale_after %q, IsStale %v, Stale %v)", stale, sv.Host, sv.StaleAfter, want[sv.Host], sv.Stale)
					}
				}
			}
		})
	}
}

func TestEventsAndPrune(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	var times []time.Time
	for i := 0; i < 6; i++ {
		st := gitops.StatusOutOfSync
		if i%2 == 1 {
			st = gitops.StatusSynced
		}
		o := mustApply(t, s, cron("g", fmt.Sprintf("h%d", i%2), st, fmt.Sprint(i)))
		times = append(times, o.Event.Time.Time)
	}
	mustApply(t, s, cron("other", "h0", gitops.StatusFailed))

	all, err := s.Events(ctx, gitops.EventFilter{})
	if err != nil || len(all) != 7 || all[0].ServerGroup != "other" {
		t.Fatalf("all events: %+v, %v", all, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time.After(all[i-1].Time.Time) {
			t.Fatalf("events not newest first: %+v", all)
		}
	}
	tests := []struct {
		name string
		f    gitops.EventFilter
		want int
	}{
		{"group", gitops.EventFilter{ServerGroup: []string{"g"}}, 6},
		{"host", gitops.EventFilter{ServerGroup: []string{"g"}, Host: "h1"}, 3},
		{"status", gitops.EventFilter{Status: []gitops.Status{gitops.StatusSynced, gitops.StatusFailed}}, 4},
		{"since inclusive", gitops.EventFilter{Since: times[4]}, 3},
		{"since sub-microsecond", gitops.EventFilter{Since: times[4].Add(time.Nanosecond)}, 2},
		{"until inclusive", gitops.EventFilter{Until: times[1]}, 2},
		{"until sub-microsecond", gitops.EventFilter{Until: times[1].Add(-time.Nanosecond)}, 1},
		{"window", gitops.EventFilter{Since: times[1], Until: times[3]}, 3},
		{"limit", gitops.EventFilter{Limit: 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(ctx, tt.f)
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d events, %v; want %d", len(got), err, tt.want)
			}
		})
	}
	n, err := s.PruneEvents(ctx, times[2])
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
	}
	if n, err := s.PruneEvents(ctx, times[2].Add(time.Nanosecond)); err != nil || n != 1 {
		t.Fatalf("PruneEvents just after an event = %d, %v; want 1", n, err)
	}
	if empty, err := s.Events(ctx, gitops.EventFilter{Host: "nobody"}); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("no events: %#v, %v", empty, err)
	}
}

func TestLegacyLatest(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{Now: c.Now})
	ctx := context.Background()
	_, err := s.LegacyLatest(ctx)
	wantCode(t, err, gitops.ENOTFOUND)

	imp := testServers(3, "imp")
	imp[1].Timestamp = imp[1].Timestamp.Add(time.Hour)
	imp[2].Timestamp = time.Time{}
	if _, err := s.Import(ctx, imp, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LegacyLatest(ctx); err != nil || got.Host != imp[1].Host {
		t.Fatalf("newest imported: %s, %v; want %s", got.Host, err, imp[1].Host)
	}
	mustApply(t, s, pipeline("g", "p", "1")) // not legacy: no effect
	for _, h := range []string{"l1", "l2"} {
		u := pipeline("legacy", h, "1")
		u.Source = gitops.SourceLegacy
		mustApply(t, s, u)
	}
	if got, err := s.LegacyLatest(ctx); err != nil || got.Host != "l2" {
		t.Fatalf("latest legacy: %s, %v; want l2", got.Host, err)
	}
}

// TestNULCharacterIsInvalid: JSON may carry "\u0000", PostgreSQL text
// cannot; that is the client's fault, not the database's.
func TestNULCharacterIsInvalid(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{})
	for _, u := range []*gitops.PipelineUpdate{
		func() *gitops.PipelineUpdate { u := pipeline("g", "h", "a\x00b"); return u }(),
		func() *gitops.PipelineUpdate {
			u := pipeline("g", "h", "a")
			u.ChangedFiles = []string{"x\x00"}
			return u
		}(),
		func() *gitops.PipelineUpdate {
			u := pipeline("g", "h", "a")
			u.Labels = map[string]string{"k": "\x00"}
			return u
		}(),
	} {
		_, err := s.Apply(context.Background(), u)
		wantCode(t, err, gitops.EINVALID)
	}
	// The store is fine afterwards.
	mustApply(t, s, pipeline("g", "h", "ok"))
}

// TestBadUpdateFailsAlone sends updates at once, so that they share
// transactions, one of which PostgreSQL refuses: only that one fails.
func TestBadUpdateFailsAlone(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{})
	for round := 0; round < 5; round++ {
		start := make(chan struct{})
		errs := make([]error, 40)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := pipeline("g", fmt.Sprintf("h%d", i%20), fmt.Sprint(round, i))
				if i == 17 {
					u.CommitSHA = "bad\x00"
				}
				<-start
				_, errs[i] = s.Apply(context.Background(), u)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if i == 17 {
				wantCode(t, err, gitops.EINVALID)
			} else if err != nil {
				t.Fatalf("round %d: update %d failed with the bad one: %v", round, i, err)
			}
		}
	}
}

// panicky is an update whose Apply panics.
type panicky struct{ k gitops.Key }

func (p panicky) Key() gitops.Key                                { return p.k }
func (p panicky) Apply(*gitops.Server, time.Time) gitops.Outcome { panic("boom") }

// TestPanickingUpdate: an update that panics fails alone with EINTERNAL and
// the store goes on.
func TestPanickingUpdate(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{})
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var u gitops.Update = pipeline("g", fmt.Sprint("h", i), "x")
			if i == 7 {
				u = panicky{gitops.Key{ServerGroup: "g", Host: "h7"}}
			}
			_, errs[i] = s.Apply(context.Background(), u)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 7 {
			wantCode(t, err, gitops.EINTERNAL)
		} else if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	mustApply(t, s, pipeline("g", "after", "x"))
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	wantCode(t, s.Ping(ctx), gitops.EUNAVAILABLE)
	_, err = s.Get(ctx, gitops.Key{ServerGroup: "g", Host: "h"})
	wantCode(t, err, gitops.EUNAVAILABLE)
	_, err = s.Apply(ctx, pipeline("g", "h", "x"))
	wantCode(t, err, gitops.EUNAVAILABLE)
	_, _, err = s.List(ctx, gitops.Filter{})
	wantCode(t, err, gitops.EUNAVAILABLE)
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t, pgtest.NewDatabase(t), gitops.StoreOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Apply(ctx, pipeline("g", "h", "x"))
	wantCode(t, err, gitops.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "h"}); gitops.ErrorCode(err) != gitops.ENOTFOUND {
		t.Fatalf("a canceled Apply wrote something: %v", err)
	}
}

// terminate kills every backend of the store's database that carries the
// store's application_name, as an administrator or a failover would.
func terminate(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, postgres.ApplicationName).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTerminatedBackends kills all the store's connections between calls
// and during a burst of calls: at worst a call in flight fails with
// EUNAVAILABLE, and the store recovers by itself.
func TestTerminatedBackends(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := MustOpenStore(t, url, gitops.StoreOptions{Now: newClock().Now})
	ctx := context.Background()
	k := gitops.Key{ServerGroup: "g", Host: "h"}
	mustApply(t, s, pipeline(k.ServerGroup, k.Host, "before"))

	// Fill the pool with several idle connections.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.List(ctx, gitops.Filter{Limit: 1}); err != nil {
				t.Errorf("List: %v", err)
			}
		}()
	}
	wg.Wait()

	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Get", func() error { _, err := s.Get(ctx, k); return err }},
		{"List", func() error { _, _, err := s.List(ctx, gitops.Filter{Limit: 5, Offset: 0}); return err }},
		{"Apply", func() error { _, err := s.Apply(ctx, pipeline(k.ServerGroup, k.Host, "after")); return err }},
		{"Events", func() error { _, err := s.Events(ctx, gitops.EventFilter{}); return err }},
		{"GetEncoded", func() error { _, err := s.GetEncoded(ctx, k); return err }},
		{"ListEncoded", func() error { _, _, err := s.ListEncoded(ctx, gitops.Filter{}); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if n := terminate(t, url); n == 0 {
				t.Fatal("no connection of the store was found to terminate")
			}
			if err := c.call(); err != nil {
				// Allowed once, and only as EUNAVAILABLE.
				wantCode(t, err, gitops.EUNAVAILABLE)
				t.Logf("first call after termination: %v", err)
			}
			for i := 0; i < 5; i++ {
				if err := c.call(); err != nil {
					t.Fatalf("call %d after termination: %v", i+2, err)
				}
			}
		})
	}

	// Terminate while calls are in flight: each fails cleanly or succeeds,
	// and all succeed afterwards.
	stop := make(chan struct{})
	var failures atomic.Int32
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.Apply(ctx, pipeline(k.ServerGroup, fmt.Sprintf("burst-%d", g), fmt.Sprint(i)))
				if err != nil {
					if code := gitops.ErrorCode(err); code != gitops.EUNAVAILABLE {
						t.Errorf("Apply during termination: %v (code %s)", err, code)
					}
					if failures.Add(1) == 1 {
						t.Logf("first failure: %s", gitops.ErrorMessage(err))
					}
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond)
		terminate(t, url)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d calls failed while backends were terminated", failures.Load())
	for i := 0; i < 10; i++ {
		if _, err := s.Apply(ctx, pipeline(k.ServerGroup, k.Host, fmt.Sprint("final", i))); err != nil {
			t.Fatalf("Apply after the terminations: %v", err)
		}
	}
	if got, err := s.Get(ctx, k); err != nil || got.CommitSHA != "final9" {
		t.Fatalf("Get after the terminations: %+v, %v", got, err)
	}
}

// TestSettingWarningsReadsTheServer checks the warnings against the
// settings of the server the tests run on, whichever they are.
func TestSettingWarningsReadsTheServer(t *testing.T) {
	url := pgtest.NewDatabase(t)
	s := MustOpenStore(t, url, gitops.StoreOptions{})
	ws, err := s.SettingWarnings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	off := queryOne[string](t, url, `SHOW autovacuum`) == "off"
	warned := slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, "autovacuum = off") })
	if off != warned {
		t.Errorf("the server has autovacuum off: %v; warnings %q", off, ws)
	}
	s.Close()
	if _, err := s.SettingWarnings(context.Background()); err == nil {
		t.Error("SettingWarnings on a closed store: no error")
	}
}
