package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
	"github.com/gitops-status/gitops-status/httpapi"
)

// newBenchAPI is the API over a real SQLite store, with a discarded log and
// the real clock.
func newBenchAPI(b *testing.B) (http.Handler, gitops.Store) {
	b.Helper()
	st := mustOpenStore(b, gitops.StoreOptions{})
	return httpapi.New(httpapi.Config{Store: st, Version: "bench"}).Handler(), st
}

// discardRecorder is a ResponseWriter that keeps only the status, so the
// benchmarks measure the API and not a recorder's buffer.
type discardRecorder struct {
	h    http.Header
	code int
	n    int
}

func (d *discardRecorder) Header() http.Header { return d.h }
func (d *discardRecorder) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardRecorder) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	d.n += len(p)
	return len(p), nil
}

func (d *discardRecorder) reset() {
	clear(d.h)
	d.code, d.n = 0, 0
}

// pipelineBody is a realistic deployment report: 3 changed files, a full
// 40-character commit sha.
func pipelineBody(host string) string {
	return `{"project_name":"gitops-for-servers","repo_name":"rsyslog","server_group":"rsyslog-prod",` +
		`"server_type":"rsyslog","environment":"prod","host":"` + host + `","status":"synced",` +
		`"changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf","/etc/rsyslog.d/60-remote.conf"],` +
		`"validation_status":"passed","validation_message":"rsyslog syntax validation passed",` +
		`"commit_sha":"3f786850e387550fdab836ed7e6dc881de23001b","branch":"master","updated_by":"woodpecker"}`
}

// cronBody is a realistic drift check: 3 drifted files.
func cronBody(host string) string {
	return `{"server_group":"rsyslog-prod","host":"` + host + `","status":"out_of_sync",` +
		`"changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf","/etc/rsyslog.d/60-remote.conf"]}`
}

func BenchmarkPostPipeline(b *testing.B) {
	benchmarkPost(b, "/status/pipeline", pipelineBody)
}

func BenchmarkPostCron(b *testing.B) {
	benchmarkPost(b, "/status/cron", cronBody)
}

// benchmarkPost posts bodies of 100 distinct hosts from parallel clients.
func benchmarkPost(b *testing.B, path string, body func(host string) string) {
	h, _ := newBenchAPI(b)
	const hosts = 100
	bodies := make([]string, hosts)
	for i := range bodies {
		bodies[i] = body(fmt.Sprintf("rsyslog-%03d", i))
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardRecorder{h: http.Header{}}
		for pb.Next() {
			body := bodies[next.Add(1)%hosts]
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w.reset()
			h.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}

// fillServers imports n servers in one transaction.
func fillServers(b testing.TB, st gitops.Store, n int) {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	servers := make([]gitops.Server, n)
	for i := range servers {
		servers[i] = gitops.Server{
			ServerGroup: fmt.Sprintf("group-%03d", i/100), Host: fmt.Sprintf("host-%05d", i),
			ProjectName: "gitops-for-servers", RepoName: "rsyslog", ServerType: "rsyslog", Environment: "prod",
			Status: gitops.StatusSynced, ChangedFiles: []string{"/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"},
			ValidationStatus: gitops.ValidationPassed, ValidationMessage: "rsyslog syntax validation passed",
			CommitSHA: "3f786850e387550fdab836ed7e6dc881de23001b", Branch: "master", UpdatedBy: "woodpecker",
			LastPipelineRun: now, LastCronCheck: now, Timestamp: now, StatusSince: now,
			LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced, DriftStatus: gitops.StatusSynced,
			Labels: map[string]string{"datacenter": "dc1"},
		}
	}
	if _, err := st.Import(context.Background(), servers, gitops.ImportReplace); err != nil {
		b.Fatalf("import: %v", err)
	}
}

// BenchmarkGetStatusAll answers GET /status for 10,000 servers through
// Store.List, the path of stores without gitops.EncodedReader.
func BenchmarkGetStatusAll(b *testing.B) {
	benchmarkGetStatusAll(b, false)
}

// BenchmarkGetStatusAllEncoded is BenchmarkGetStatusAll through the SQLite
// store's EncodedReader.
func BenchmarkGetStatusAllEncoded(b *testing.B) {
	benchmarkGetStatusAll(b, true)
}

// newReadBenchAPI is the API over a SQLite store holding n servers, reading
// through the store's EncodedReader when encoded, else through Get and List.
func newReadBenchAPI(b *testing.B, n int, encoded bool) http.Handler {
	b.Helper()
	st := mustOpenStore(b, gitops.StoreOptions{})
	fillServers(b, st, n)
	var store gitops.Store = plainStore{st}
	if encoded {
		if _, ok := any(st).(gitops.EncodedReader); !ok {
			b.Skip("the SQLite store does not implement gitops.EncodedReader")
		}
		store = st
	}
	return httpapi.New(httpapi.Config{Store: store, Version: "bench"}).Handler()
}

// BenchmarkGetStatusAllEncodedBehind is BenchmarkGetStatusAllEncoded with
// the servers' branch at another commit: every record computes and
// writes behind (SPEC §10).
func BenchmarkGetStatusAllEncodedBehind(b *testing.B) {
	benchmarkGetStatusAllWith(b, true, func(h http.Handler) {
		req := httptest.NewRequest("POST", "/desired", strings.NewReader(`{"repo_name":"org/rsyslog","branch":"master","commit_sha":"feedfacefeedface"}`))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("POST /desired: %d %s", w.Code, w.Body)
		}
	})
}

func benchmarkGetStatusAll(b *testing.B, encoded bool) { benchmarkGetStatusAllWith(b, encoded, nil) }

func benchmarkGetStatusAllWith(b *testing.B, encoded bool, setup func(http.Handler)) {
	const n = 10000
	h := newReadBenchAPI(b, n, encoded)
	if setup != nil {
		setup(h)
	}
	w := &discardRecorder{h: http.Header{}}
	req := httptest.NewRequest("GET", "/status", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK || w.h.Get("X-Total-Count") != "10000" {
			b.Fatalf("status %d, X-Total-Count %q", w.code, w.h.Get("X-Total-Count"))
		}
	}
	b.ReportMetric(float64(w.n), "bytes/answer")
}

func BenchmarkGetOne(b *testing.B) {
	benchmarkGetOne(b, false)
}

func BenchmarkGetOneEncoded(b *testing.B) {
	benchmarkGetOne(b, true)
}

func benchmarkGetOne(b *testing.B, encoded bool) {
	h := newReadBenchAPI(b, 1000, encoded)
	w := &discardRecorder{h: http.Header{}}
	req := httptest.NewRequest("GET", "/status/group-005/host-00512", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkHealth measures what the API adds to every request: routing,
// request id, access log check, JSON answer.
func BenchmarkHealth(b *testing.B) {
	h, _ := newBenchAPI(b)
	w := &discardRecorder{h: http.Header{}}
	req := httptest.NewRequest("GET", "/health", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.reset()
		h.ServeHTTP(w, req)
	}
}

// memoryStore applies updates to nothing: each one creates its server, so
// the API benchmarks measure what the HTTP layer adds to a write (reading,
// decoding, answering) without the store's transaction and fsync.
type memoryStore struct{ brokenStore }

func (memoryStore) Apply(_ context.Context, u gitops.Update) (gitops.Outcome, error) {
	return u.Apply(nil, time.Now()), nil
}

// BenchmarkAPIPostPipeline is BenchmarkPostPipeline without the store.
func BenchmarkAPIPostPipeline(b *testing.B) {
	benchmarkAPIPost(b, "/status/pipeline", pipelineBody("rsyslog-042"))
}

// BenchmarkAPIPostCron is BenchmarkPostCron without the store.
func BenchmarkAPIPostCron(b *testing.B) {
	benchmarkAPIPost(b, "/status/cron", cronBody("rsyslog-042"))
}

// BenchmarkAPIPostPipelineAuth is BenchmarkAPIPostPipeline with tokens
// on: 20 configured tokens (the lookup compares with every one), a
// pipeline-scoped token limited to rsyslog-* groups on every request.
// Compare it with BenchmarkAPIPostPipeline from the same run.
func BenchmarkAPIPostPipelineAuth(b *testing.B) {
	doc := "tokens:\n"
	for i := range 19 {
		doc += fmt.Sprintf("  - {name: t%d, token: other-token-%d-0123456789abcdef, scopes: [read, cron]}\n", i, i)
	}
	doc += "  - {name: woodpecker, token: " + tokLimited + ", scopes: [pipeline], groups: [\"rsyslog-*\"]}\n"
	a, _, err := auth.New(auth.Config{Inline: doc})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkAPIPostAs(b, "/status/pipeline", pipelineBody("rsyslog-042"), a, "Bearer "+tokLimited)
}

func benchmarkAPIPost(b *testing.B, path, body string) {
	benchmarkAPIPostAs(b, path, body, nil, "")
}

// benchmarkAPIPostAs posts body to path with the Authorization header
// authorization, through authenticator a (nil: auth off).
func benchmarkAPIPostAs(b *testing.B, path, body string, a httpapi.Authenticator, authorization string) {
	h := httpapi.New(httpapi.Config{Store: memoryStore{}, Auth: a}).Handler()
	w := &discardRecorder{h: http.Header{}}
	rd := strings.NewReader(body)
	req := httptest.NewRequest("POST", path, rd)
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		w.reset()
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
