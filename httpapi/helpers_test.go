package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
	"github.com/gitops-status/gitops-status/sqlite"
)

// t0 is the fixed time every test starts at.
var t0 = time.Date(2026, 4, 26, 10, 30, 0, 0, time.UTC)

// clock is a settable clock shared by the API and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an API over a real SQLite store in a temporary directory.
type env struct {
	tb    testing.TB
	store gitops.Store
	clock *clock
	h     http.Handler
	logs  *bytes.Buffer
}

type option func(*httpapi.Config, *gitops.StoreOptions)

func withConfig(f func(*httpapi.Config)) option {
	return func(c *httpapi.Config, _ *gitops.StoreOptions) { f(c) }
}

func withStaleAfter(d time.Duration) option {
	return func(_ *httpapi.Config, o *gitops.StoreOptions) { o.StaleAfter = d }
}

// mustOpenStore opens a SQLite store in tb's temporary directory or, when
// GITOPS_STATUS_TEST_BACKEND=postgres, a PostgreSQL store in a database of
// its own: `make test` runs these tests on both, so every endpoint, filter,
// event and legacy rule is checked to answer the same on each backend.
func mustOpenStore(tb testing.TB, opts gitops.StoreOptions) gitops.Store {
	tb.Helper()
	var st gitops.Store
	var err error
	if os.Getenv("GITOPS_STATUS_TEST_BACKEND") == "postgres" {
		st, err = postgres.Open(context.Background(), pgtest.NewDatabase(tb), opts)
	} else {
		st, err = sqlite.Open(filepath.Join(tb.TempDir(), "status.db"), opts)
	}
	if err != nil {
		tb.Fatalf("opening the store: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return st
}

func newEnv(tb testing.TB, opts ...option) *env {
	tb.Helper()
	c := &clock{t: t0}
	logs := &bytes.Buffer{}
	so := gitops.StoreOptions{Now: c.Now}
	cfg := httpapi.Config{
		Now:     c.Now,
		Version: "1.2.3-test",
		Logger:  slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg, &so)
	}
	st := mustOpenStore(tb, so)
	cfg.Store = st
	return &env{tb: tb, store: st, clock: c, h: httpapi.New(cfg).Handler(), logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do serves one request. Headers come as "Name: value" strings; a body is
// sent as application/json unless a Content-Type header is given.
func (e *env) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	e.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	ctSet := false
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			e.tb.Fatalf("bad header %q", h)
		}
		if strings.EqualFold(name, "Content-Type") {
			ctSet = true
			if strings.TrimSpace(value) == "" {
				req.Header.Del("Content-Type")
				continue
			}
		}
		req.Header.Set(name, strings.TrimSpace(value))
	}
	if body != "" && !ctSet {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// ok serves a request that must answer want, and returns the answer.
func (e *env) want(code int, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	e.tb.Helper()
	rec := e.do(method, path, body, headers...)
	if rec.Code != code {
		e.tb.Fatalf("%s %s: status %d, want %d; body: %s", method, path, rec.Code, code, rec.Body)
	}
	if code != http.StatusNoContent {
		if got := rec.Header().Get("Content-Type"); got != "application/json" {
			e.tb.Fatalf("%s %s: Content-Type %q, want application/json", method, path, got)
		}
		if !json.Valid(rec.Body.Bytes()) {
			e.tb.Fatalf("%s %s: answer is not valid JSON: %s", method, path, rec.Body)
		}
	}
	return rec
}

// object decodes a JSON object answer.
func object(tb testing.TB, rec *httptest.ResponseRecorder) map[string]any {
	tb.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("answer is not a JSON object: %v: %s", err, rec.Body)
	}
	return m
}

// array decodes a JSON array answer of objects.
func array(tb testing.TB, rec *httptest.ResponseRecorder) []map[string]any {
	tb.Helper()
	var l []map[string]any
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&l); err != nil || l == nil {
		tb.Fatalf("answer is not a JSON array: %v: %s", err, rec.Body)
	}
	return l
}

// keys returns "group/host" of each record in a list answer.
func keys(l []map[string]any) []string {
	out := make([]string, len(l))
	for i, m := range l {
		out[i] = m["server_group"].(string) + "/" + m["host"].(string)
	}
	return out
}

// errorAnswer checks an error answer: its status, and that the body is
// exactly {"error": ..., "field": ...} with the field when one is wanted.
func (e *env) errorAnswer(code int, field, method, path, body string, headers ...string) string {
	e.tb.Helper()
	rec := e.want(code, method, path, body, headers...)
	m := object(e.tb, rec)
	msg, _ := m["error"].(string)
	if msg == "" {
		e.tb.Fatalf("%s %s: error answer without an \"error\" sentence: %s", method, path, rec.Body)
	}
	gotField, hasField := m["field"]
	if field == "" && hasField {
		e.tb.Fatalf("%s %s: unexpected \"field\" in %s", method, path, rec.Body)
	}
	if field != "" && gotField != field {
		e.tb.Fatalf("%s %s: field %v, want %q; body %s", method, path, gotField, field, rec.Body)
	}
	for k := range m {
		if k != "error" && k != "field" {
			e.tb.Fatalf("%s %s: unexpected key %q in error answer %s", method, path, k, rec.Body)
		}
	}
	return msg
}

func mustContain(tb testing.TB, s string, subs ...string) {
	tb.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			tb.Fatalf("%q does not contain %q", s, sub)
		}
	}
}

// The seed's curl payloads (v2.0-refactoring-summary.txt, "Example Usage").
const (
	seedPipeline = `{
    "project_name": "gitops-for-servers",
    "repo_name": "rsyslog",
    "server_group": "rsyslog-prod",
    "server_type": "rsyslog",
    "environment": "prod",
    "host": "rsyslog-01",
    "status": "synced",
    "validation_status": "passed",
    "validation_message": "rsyslog syntax validation passed",
    "commit_sha": "abc1234",
    "branch": "master",
    "updated_by": "woodpecker"
  }`
	seedCron = `{
    "server_group": "rsyslog-prod",
    "host": "rsyslog-01",
    "status": "out_of_sync",
    "changed_files": ["/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"]
  }`
)

// pipeline posts a minimal pipeline report and fails the test unless it is
// accepted.
func (e *env) pipeline(group, host, status string, extra ...string) map[string]any {
	e.tb.Helper()
	body := `{"server_group":"` + group + `","host":"` + host + `","status":"` + status + `"`
	for _, x := range extra {
		body += "," + x
	}
	body += "}"
	return object(e.tb, e.want(http.StatusOK, "POST", "/status/pipeline", body))
}

func (e *env) cron(group, host, status string, extra ...string) map[string]any {
	e.tb.Helper()
	body := `{"server_group":"` + group + `","host":"` + host + `","status":"` + status + `"`
	for _, x := range extra {
		body += "," + x
	}
	body += "}"
	return object(e.tb, e.want(http.StatusOK, "POST", "/status/cron", body))
}
