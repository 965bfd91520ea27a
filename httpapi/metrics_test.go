package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitops-status/gitops-status/httpapi"
)

// observed records what the API reports of each request.
type observed struct {
	mu   sync.Mutex
	seen []string // "pattern code"
}

func (o *observed) observe(pattern string, code int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, pattern+" "+http.StatusText(code))
}

// TestMetricsRoute: with a metrics handler, GET /metrics is a route like
// the others: listed by GET /, served, and its wrong methods are 405s.
func TestMetricsRoute(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("up 1\n"))
	})
	e := newEnv(t, withConfig(func(c *httpapi.Config) { c.Metrics = metrics }))
	var info struct{ Endpoints []string }
	if err := json.Unmarshal(e.want(http.StatusOK, "GET", "/", "").Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(info.Endpoints, "GET /metrics") {
		t.Fatalf("GET / lists %q, want GET /metrics among them", info.Endpoints)
	}
	rec := e.do("GET", "/metrics", "")
	if rec.Code != http.StatusOK || rec.Body.String() != "up 1\n" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics answered %q (%s), want the metrics handler's", rec.Body.String(), rec.Header().Get("Content-Type"))
	}
	e.errorAnswer(http.StatusMethodNotAllowed, "", "POST", "/metrics", "{}")

	// Without one there is no such route.
	plain := newEnv(t)
	plain.errorAnswer(http.StatusNotFound, "", "GET", "/metrics", "")
	if err := json.Unmarshal(plain.want(http.StatusOK, "GET", "/", "").Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(info.Endpoints, "GET /metrics") {
		t.Fatalf("GET / lists GET /metrics without a metrics handler")
	}
}

// TestObserveRequest: every request is reported with the route pattern
// that took it, never the raw path, and "" when no route did.
func TestObserveRequest(t *testing.T) {
	var o observed
	e := newEnv(t, withConfig(func(c *httpapi.Config) { c.ObserveRequest = o.observe }))
	e.pipeline("g", "h", "synced")
	e.do("GET", "/status/g/h", "")
	e.do("GET", "/status/g?status=synced", "")
	e.do("GET", "/status/g/nope", "")
	e.do("GET", "/no/such/path/12345", "")
	e.do("PUT", "/status/g/h", "")
	e.do("GET", "/", "")
	want := []string{
		"POST /status/pipeline OK",
		"GET /status/{server_group}/{host} OK",
		"GET /status/{server_group} OK",
		"GET /status/{server_group}/{host} Not Found",
		" Not Found",
		" Method Not Allowed",
		"GET /{$} OK",
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if strings.Join(o.seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("observed\n  %s\nwant\n  %s", strings.Join(o.seen, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestMetricsNeedsReadWhenReadsAreProtected: /metrics is a read (SPEC §8):
// with a read token configured a scrape needs a token with read (or
// admin); without one it stays open, as every read does.
func TestMetricsNeedsReadWhenReadsAreProtected(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("up 1\n")) })
	with := func(c *httpapi.Config) { c.Metrics = metrics }
	e := newEnv(t, withTokens(t, tokensDoc(true)), withConfig(with))
	msg := e.errorAnswer(http.StatusUnauthorized, "", "GET", "/metrics", "")
	if !strings.Contains(msg, "GET /metrics needs a bearer token with the read scope") {
		t.Fatalf("401 message %q", msg)
	}
	if msg := e.errorAnswer(http.StatusForbidden, "", "GET", "/metrics", "", bearer(tokPipeline)); !strings.Contains(msg, "lacks the read scope") {
		t.Fatalf("403 message %q", msg)
	}
	for _, tok := range []string{tokRead, tokAdmin} {
		if rec := e.do("GET", "/metrics", "", bearer(tok)); rec.Code != http.StatusOK || rec.Body.String() != "up 1\n" {
			t.Fatalf("GET /metrics with a %s token: %d %s", tok[:5], rec.Code, rec.Body)
		}
	}
	// Tokens without the read scope leave reads, /metrics included, open.
	open := newEnv(t, withTokens(t, tokensDoc(false)), withConfig(with))
	if rec := open.do("GET", "/metrics", ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics with reads open: %d %s", rec.Code, rec.Body)
	}
}
