package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
)

func TestBadUpdatesAre400AndChangeNothing(t *testing.T) {
	e := newEnv(t)
	e.want(http.StatusOK, "POST", "/status/pipeline", seedPipeline)
	before := e.want(http.StatusOK, "GET", "/status", "").Body.String()
	beforeEvents := e.want(http.StatusOK, "GET", "/events", "").Body.String()

	tests := []struct {
		name, path, body string
		field            string
		msg              []string // the error sentence contains each
	}{
		{"malformed JSON", "/status/pipeline", `{"server_group": "rsyslog-prod",`, "", []string{"malformed JSON"}},
		{"not an object", "/status/pipeline", `["rsyslog-prod"]`, "", []string{"JSON object"}},
		{"a string", "/status/cron", `"synced"`, "", []string{"JSON object"}},
		{"empty body", "/status/pipeline", ` `, "", []string{"empty"}},
		{"trailing data", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed"} {"x":1}`, "", []string{"malformed JSON"}},
		{"wrong type", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","changed_files":"a.conf"}`, "changed_files", []string{"list of strings"}},
		{"number as string field", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","commit_sha":123}`, "commit_sha", []string{"must be a string"}},
		{"bad status", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"broken"}`, "status", []string{`"synced"`, `"out_of_sync"`, `"failed"`, `"unknown"`}},
		{"missing status", "/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01"}`, "status", []string{"required"}},
		{"bad validation_status", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","validation_status":"ok"}`, "validation_status", []string{`"passed"`}},
		{"missing group", "/status/pipeline", `{"host":"rsyslog-01","status":"failed"}`, "server_group", []string{"required"}},
		{"bad host", "/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog 01","status":"failed"}`, "host", nil},
		{"slash in group", "/status/pipeline", `{"server_group":"a/b","host":"rsyslog-01","status":"failed"}`, "server_group", nil},
		{"dot-dot host", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"..","status":"failed"}`, "host", nil},
		{"bad stale_after", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","stale_after":"soon"}`, "stale_after", nil},
		{"clock skew", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","reported_at":"2026-04-26T11:30:00Z"}`, "reported_at", []string{"ahead"}},
		{"clock skew cron", "/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","reported_at":"2027-01-01T00:00:00Z"}`, "reported_at", []string{"ahead"}},
		{"bad time", "/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","reported_at":"yesterday"}`, "reported_at", nil},
		{"legacy bad sync_status", "/api/status", `{"repo":"rsyslog","server":"rsyslog-01","sync_status":"MAYBE"}`, "sync_status", []string{"SYNCED"}},
		{"legacy missing server", "/api/status", `{"repo":"rsyslog","sync_status":"SYNCED"}`, "server", nil},
		{"legacy skew", "/api/status", `{"repo":"rsyslog","server":"rsyslog-01","sync_status":"SYNCED","last_check":"2030-01-01T00:00:00Z"}`, "last_check", []string{"ahead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.errorAnswer(http.StatusBadRequest, tt.field, "POST", tt.path, tt.body)
			mustContain(t, msg, tt.msg...)
		})
	}
	if after := e.want(http.StatusOK, "GET", "/status", "").Body.String(); after != before {
		t.Fatalf("refused requests changed the store\nbefore %s\nafter  %s", before, after)
	}
	if after := e.want(http.StatusOK, "GET", "/events", "").Body.String(); after != beforeEvents {
		t.Fatalf("refused requests wrote events\nbefore %s\nafter  %s", beforeEvents, after)
	}
}

func TestContentType(t *testing.T) {
	e := newEnv(t)
	body := `{"server_group":"g","host":"h","status":"synced"}`
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", ""} {
		t.Run("accepted "+ct, func(t *testing.T) {
			e.want(http.StatusOK, "POST", "/status/pipeline", body, "Content-Type: "+ct)
		})
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/jsonx", "multipart/form-data; boundary=x"} {
		t.Run("refused "+ct, func(t *testing.T) {
			before := e.want(http.StatusOK, "GET", "/status/g/h", "").Body.String()
			e.clock.Advance(1)
			msg := e.errorAnswer(http.StatusUnsupportedMediaType, "", "POST", "/status/pipeline",
				`{"server_group":"g","host":"h","status":"failed"}`, "Content-Type: "+ct)
			mustContain(t, msg, "application/json", ct)
			if after := e.want(http.StatusOK, "GET", "/status/g/h", "").Body.String(); after != before {
				t.Fatalf("a 415 request changed the record")
			}
		})
	}
	e.errorAnswer(http.StatusUnsupportedMediaType, "", "POST", "/status/cron", body, "Content-Type: text/plain")
	e.errorAnswer(http.StatusUnsupportedMediaType, "", "POST", "/api/status", body, "Content-Type: text/plain")
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	big := `{"server_group":"g","host":"h","status":"synced","validation_message":"` + strings.Repeat("x", 1<<20) + `"}`
	msg := e.errorAnswer(http.StatusRequestEntityTooLarge, "", "POST", "/status/pipeline", big)
	if msg != "request body is larger than 1048576 bytes" {
		t.Fatalf("413 message %q", msg)
	}
	e.errorAnswer(http.StatusNotFound, "", "GET", "/status/g/h", "")

	// Without a Content-Length the limit holds while reading.
	req := httptest.NewRequest("POST", "/status/cron", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked big body: %d %s", rec.Code, rec.Body)
	}

	// The limit is configurable.
	small := newEnv(t, withConfig(func(c *httpapi.Config) { c.MaxBodyBytes = 64 }))
	msg = small.errorAnswer(http.StatusRequestEntityTooLarge, "", "POST", "/status/pipeline", seedPipeline)
	if msg != "request body is larger than 64 bytes" {
		t.Fatalf("413 message %q", msg)
	}
	small.want(http.StatusOK, "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`)
}

func TestUnknownRouteIs404JSON(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/nope", "/status/g/h/history/x", "/api", "/status/", "/api/status/x", "/metricsx"} {
		t.Run(path, func(t *testing.T) {
			msg := e.errorAnswer(http.StatusNotFound, "", "GET", path, "")
			mustContain(t, msg, "not an endpoint")
		})
	}
}

func TestWrongMethodIs405JSONWithAllow(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		method, path, allow string
	}{
		{"POST", "/health", "GET, HEAD"},
		{"DELETE", "/status", "GET, HEAD"},
		{"PUT", "/status/pipeline", "GET, HEAD, POST"},
		{"DELETE", "/status/pipeline", "GET, HEAD, POST"},
		{"POST", "/status/g", "GET, HEAD"},
		{"POST", "/status/g/h", "DELETE, GET, HEAD"},
		{"PATCH", "/api/status", "GET, HEAD, POST"},
		{"GET", "/status/cron/", ""}, // no such route: 404 below
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			if tt.allow == "" {
				e.errorAnswer(http.StatusNotFound, "", tt.method, tt.path, "")
				return
			}
			rec := e.do(tt.method, tt.path, "")
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
			msg := e.errorAnswer(http.StatusMethodNotAllowed, "", tt.method, tt.path, "")
			mustContain(t, msg, tt.method, tt.allow)
		})
	}
}

func TestBadQueryParameters(t *testing.T) {
	e := newEnv(t)
	e.pipeline("g", "h", "synced")
	tests := []struct {
		path, field string
		msg         []string
	}{
		{"/status?status=green", "status", []string{`"synced"`, `"out_of_sync"`, `"failed"`, `"unknown"`}},
		{"/status?validation_status=ok", "validation_status", []string{`"passed"`, `"skipped"`}},
		{"/status?stale=yes", "stale", []string{"true", "false"}},
		{"/status?limit=0", "limit", nil},
		{"/status?limit=ten", "limit", nil},
		{"/status?limit=-1", "limit", nil},
		{"/status?offset=-1", "offset", nil},
		{"/status?offset=1.5", "offset", nil},
		{"/status?server_group=a/b", "server_group", nil},
		{"/status/g?status=nope", "status", nil},
		{"/status/g?limit=x", "limit", nil},
		{"/status/g%20x", "server_group", nil},
		{"/status/g/.hidden", "host", nil},
		{"/status/g/h%2Fx", "host", nil},
		{"/status/g/h/history?limit=0", "limit", nil},
		{"/status/g/h/history?limit=10001", "limit", []string{"10000"}},
		{"/status/g/h/history?since=yesterday", "since", []string{"RFC 3339", "epoch seconds or milliseconds"}},
		{"/events?until=soon", "until", nil},
		{"/events?since=99999999999999999", "since", []string{"9999"}},
		{"/events?since=-5", "since", nil},
		{"/events?since=2026-13-01T00:00:00Z", "since", nil},
		{"/events?status=drifting", "status", nil},
		{"/events?server_group=-x", "server_group", nil},
		{"/events?limit=100000", "limit", nil},
		{"/api/status?server=a%20b", "server", nil},
		{"/status?status=%zz", "", []string{"query"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			mustContain(t, e.errorAnswer(http.StatusBadRequest, tt.field, "GET", tt.path, ""), tt.msg...)
		})
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/health", "", "X-Request-Id: trace-42")
	if got := rec.Header().Get("X-Request-Id"); got != "trace-42" {
		t.Fatalf("X-Request-Id %q, want the client's trace-42", got)
	}
	a := e.do("GET", "/health", "").Header().Get("X-Request-Id")
	b := e.do("GET", "/health", "").Header().Get("X-Request-Id")
	if a == "" || a == b {
		t.Fatalf("generated request ids %q and %q", a, b)
	}
	// A header unfit for logs is replaced.
	if got := e.do("GET", "/health", "", "X-Request-Id: has space").Header().Get("X-Request-Id"); got == "has space" || got == "" {
		t.Fatalf("X-Request-Id %q", got)
	}
	// The access log names the request at Debug level.
	e.do("GET", "/status/g", "", "X-Request-Id: trace-43")
	mustContain(t, e.logs.String(), "request_id=trace-43", `pattern="GET /status/{server_group}"`, "status=404", "level=DEBUG")
}

// brokenStore answers every call with an unexpected error, as a broken
// database would; Ping says the database is unavailable. A mock, because a
// real store cannot be made to fail this way on demand.
type brokenStore struct{}

var errBroken = errors.New("disk on fire: secret detail")

func (brokenStore) Apply(context.Context, gitops.Update) (gitops.Outcome, error) {
	return gitops.Outcome{}, errBroken
}
func (brokenStore) Get(context.Context, gitops.Key) (gitops.Server, error) {
	return gitops.Server{}, errBroken
}
func (brokenStore) List(context.Context, gitops.Filter) ([]gitops.Server, int, error) {
	return nil, 0, errBroken
}
func (brokenStore) Delete(context.Context, gitops.Key) error { return errBroken }
func (brokenStore) Events(context.Context, gitops.EventFilter) ([]gitops.Event, error) {
	return nil, errBroken
}
func (brokenStore) PruneEvents(context.Context, time.Time) (int, error) { return 0, errBroken }
func (brokenStore) LegacyLatest(context.Context) (gitops.Server, error) {
	return gitops.Server{}, errBroken
}
func (brokenStore) Import(context.Context, []gitops.Server, gitops.ImportMode) (bool, error) {
	return false, errBroken
}
func (brokenStore) Ping(context.Context) error {
	return gitops.Errorf(gitops.EUNAVAILABLE, "database is locked out")
}
func (brokenStore) Close() error { return nil }
func (brokenStore) SetHead(context.Context, gitops.SetHead) (gitops.HeadOutcome, error) {
	return gitops.HeadOutcome{}, errBroken
}
func (brokenStore) Heads(context.Context) ([]gitops.Head, error)     { return nil, errBroken }
func (brokenStore) DeleteHead(context.Context, gitops.HeadKey) error { return errBroken }
func (brokenStore) ImportHeads(context.Context, []gitops.Head) error { return errBroken }

func newBrokenAPI(t *testing.T, logs *bytes.Buffer) http.Handler {
	t.Helper()
	return httpapi.New(httpapi.Config{
		Store:  brokenStore{},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}).Handler()
}

func TestInternalErrorsHideTheirText(t *testing.T) {
	logs := &bytes.Buffer{}
	h := newBrokenAPI(t, logs)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/status", ""},
		{"GET", "/status/g", ""},
		{"GET", "/status/g/h", ""},
		{"POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`},
		{"GET", "/summary", ""},
		{"GET", "/events", ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Request-Id", "req-500")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("%s %s: %d, want 500", tc.method, tc.path, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "secret") {
			t.Fatalf("internal error text leaked: %s", rec.Body)
		}
		mustContain(t, rec.Body.String(), "req-500")
	}
	mustContain(t, logs.String(), "level=ERROR", "request_id=req-500", "disk on fire: secret detail")

	// /ready says the store is unavailable.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("/ready with a broken store: %d", rec.Code)
	}
	mustContain(t, rec.Body.String(), `"status":"unavailable"`, `"error":"database is locked out"`)
}

// panickyStore panics where a buggy store might.
type panickyStore struct{ brokenStore }

func (panickyStore) Get(context.Context, gitops.Key) (gitops.Server, error) { panic("boom") }

func TestPanicBecomes500JSON(t *testing.T) {
	logs := &bytes.Buffer{}
	h := httpapi.New(httpapi.Config{Store: panickyStore{}, Logger: slog.New(slog.NewTextHandler(logs, nil))}).Handler()
	req := httptest.NewRequest("GET", "/status/g/h", nil)
	req.Header.Set("X-Request-Id", "req-panic")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("panic answered %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic text leaked: %s", rec.Body)
	}
	mustContain(t, logs.String(), "panic serving request", "boom", "request_id=req-panic")
}
