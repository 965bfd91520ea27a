// Package openapi_test holds httpapi/openapi.yaml to the server: the
// document is valid OpenAPI 3.1, its paths and methods are exactly the
// routes the server registers, and real requests and answers of a seeded
// server, successes and errors, validate against it.
package openapi_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/auth"
	"github.com/gitops-status/gitops-status/githook"
	"github.com/gitops-status/gitops-status/httpapi"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/sqlite"
	"github.com/gitops-status/gitops-status/ui"
)

// server is a running API on a real SQLite store.
type server struct {
	URL string
}

func newServer(t *testing.T, wrap func(gitops.Store) gitops.Store) server {
	return newServerWith(t, wrap, nil)
}

// newServerWith is newServer with authentication from a tokens document;
// nil leaves it off.
func newServerWith(t *testing.T, wrap func(gitops.Store) gitops.Store, tokens *string) server {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{StaleAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var store gitops.Store = st
	if wrap != nil {
		store = wrap(st)
	}
	// Metrics as serve wires them: GET /metrics is a route.
	m := metrics.New(metrics.Options{Version: "test"})
	cfg := httpapi.Config{Store: store, Version: "test", MaxBodyBytes: 4096,
		Metrics: m.Handler(store, 0), ObserveRequest: m.ObserveRequest}
	uiCfg := ui.Config{Store: store}
	if tokens != nil {
		a, _, err := auth.New(auth.Config{Inline: *tokens})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth = a
		uiCfg.CheckToken = func(token string) error {
			p, err := a.Authenticate(token)
			if err != nil {
				return err
			}
			return gitops.Authorize(p, gitops.ScopeRead, true, "GET /ui")
		}
	}
	// The status page is mounted as serve mounts it, so its routes are
	// described and checked like the API's.
	page := ui.New(uiCfg)
	for _, rt := range page.Routes() {
		cfg.Routes = append(cfg.Routes, httpapi.Route{Method: rt.Method, Path: rt.Path, Read: rt.Read,
			Handler: rt.Handler, Credential: ui.TokenFromCookie, Denied: page.Denied})
	}
	// POST /hooks/git, as serve mounts it with --git-webhook-secret.
	cfg.Routes = append(cfg.Routes, httpapi.Route{Method: "POST", Path: "/hooks/git",
		Handler: githook.New(githook.Config{Store: store, Secret: hookSecret, MaxBodyBytes: 4096})})
	ts := httptest.NewServer(httpapi.New(cfg).Handler())
	t.Cleanup(ts.Close)
	return server{URL: ts.URL}
}

const hookSecret = "hook-secret"

// signed returns the headers of a GitHub-shaped delivery of body signed
// with key.
func signed(event, key, body string) []string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return []string{"X-GitHub-Event", event, "X-Hub-Signature-256", "sha256=" + hex.EncodeToString(m.Sum(nil))}
}

const hookPush = `{"ref":"refs/heads/master","after":"9f8e7d6c5b4a39281706f5e4d3c2b1a098765432","deleted":false,"repository":{"name":"rsyslog","full_name":"example-org/rsyslog"},"pusher":{"name":"alice"}}`

const hookTag = `{"ref":"refs/tags/v1","after":"9f8e7d6c5b4a39281706f5e4d3c2b1a098765432","repository":{"name":"rsyslog","full_name":"example-org/rsyslog"}}`

// document fetches GET /openapi.yaml and returns it with two validators:
// a strict one for answers, which reports every field, parameter or header
// the document does not describe, and a plain one for requests, which may
// carry unknown fields (the server ignores them with a warning).
func document(t *testing.T, s server) (doc libopenapi.Document, answers, requests validator.Validator) {
	t.Helper()
	resp, err := http.Get(s.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if doc, err = libopenapi.NewDocument(body); err != nil {
		t.Fatalf("parsing the document: %v", err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", v)
	}
	answers, errs := validator.NewValidator(doc, config.WithFormatAssertions(), config.WithStrictMode(),
		// A generic safety header on every answer, not part of the API.
		config.WithStrictIgnoredHeadersExtra("X-Content-Type-Options"),
		// Maps: strict mode takes their keys for undeclared properties;
		// their values are still validated against additionalProperties.
		config.WithStrictIgnorePaths("$.body.labels.*", "$.body[*].labels.*", "$.body.by_group.*", "$.body.by_environment.*",
			// The environment "" (servers without one); "*" needs a character.
			"$.body.by_environment."))
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if requests, errs = validator.NewValidator(doc, config.WithFormatAssertions()); len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	return doc, answers, requests
}

func TestDocumentIsValidOpenAPI31(t *testing.T) {
	_, v, _ := document(t, newServer(t, nil))
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("the document is not valid OpenAPI 3.1:\n%s", describe(errs))
	}
}

// TestPathsAreTheRoutes: every route the server registers (GET / lists
// them) is described, and nothing else is, but for concrete paths that a
// templated route serves with the same method (GET /status/pipeline reads
// the group "pipeline"), which OpenAPI would otherwise match to the
// concrete path's other operations only.
func TestPathsAreTheRoutes(t *testing.T) {
	s := newServer(t, nil)
	doc, _, _ := document(t, s)
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var described []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	routes := endpoints(t, s)
	var aliases []string
	for _, op := range minus(described, routes) {
		if servedBy(op, routes) {
			aliases = append(aliases, op)
		}
	}
	if got, want := aliases, []string{"GET /status/pipeline", "GET /status/cron"}; !slices.Equal(got, want) {
		t.Errorf("concrete paths served by a templated route: %q, want %q", got, want)
	}
	described = minus(described, aliases)
	sort.Strings(described)
	sort.Strings(routes)
	if !slices.Equal(described, routes) {
		t.Fatalf("the document's operations differ from the server's routes\nroutes not described: %q\ndescribed but not routes: %q",
			minus(routes, described), minus(described, routes))
	}
}

// servedBy reports whether the operation "METHOD /concrete/path" is served
// by one of routes, "METHOD /pattern/{wildcard}".
func servedBy(op string, routes []string) bool {
	method, path, _ := strings.Cut(op, " ")
	if strings.Contains(path, "{") {
		return false
	}
	segs := strings.Split(path, "/")
	for _, r := range routes {
		rm, rp, _ := strings.Cut(r, " ")
		rsegs := strings.Split(rp, "/")
		if rm != method || len(rsegs) != len(segs) {
			continue
		}
		match := true
		for i := range segs {
			if !strings.HasPrefix(rsegs[i], "{") && rsegs[i] != segs[i] {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// endpoints returns the routes GET / lists, as "METHOD /path".
func endpoints(t *testing.T, s server) []string {
	t.Helper()
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ Endpoints []string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || len(info.Endpoints) == 0 {
		t.Fatalf("GET /: %v, %d endpoints", err, len(info.Endpoints))
	}
	return info.Endpoints
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// exchange is one request to the seeded server and the status it must get.
type exchange struct {
	endpoint string // "METHOD /pattern" it exercises, as GET / lists it
	method   string
	target   string // path and query
	body     string
	header   []string // name, value pairs
	want     int
}

const (
	testToken      = "s3cret-pipeline-token"
	pipelineReport = `{"project_name":"gitops-for-servers","repo_name":"rsyslog","server_group":"rsyslog-prod",
		"server_type":"rsyslog","environment":"prod","host":"rsyslog-01","status":"synced",
		"validation_status":"passed","validation_message":"rsyslog syntax validation passed",
		"commit_sha":"abc1234","branch":"master","updated_by":"woodpecker","labels":{"dc":"fra1"},
		"changed_files":["/etc/rsyslog.conf"],"stale_after":"30m","reported_at":"2026-04-26T10:30:00+00:00"}`
	cronReport = `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"OUT_OF_SYNC",
		"changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf"]}`
)

// seededExchanges exercise every endpoint, in order, on a fresh server:
// the successes first seed it, then every error the request can cause.
var seededExchanges = []exchange{
	{"GET /", "GET", "/", "", nil, 200},
	{"GET /health", "GET", "/health", "", nil, 200},
	{"GET /ready", "GET", "/ready", "", nil, 200},
	{"GET /openapi.yaml", "GET", "/openapi.yaml", "", nil, 200},

	{"POST /status/pipeline", "POST", "/status/pipeline", pipelineReport, nil, 200},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"pipeline","host":"h1","status":"failed","project_name":null,"validation_status":"FAILED"}`, nil, 200},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"web","host":"w1","status":"synced","surprise":1,"timestamp":"x"}`, nil, 200},
	// Older than the last applied report: 200, unchanged, with a warning.
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"rsyslog-01","status":"failed","reported_at":"2026-04-26T09:00:00Z"}`, nil, 200},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synched"}`, nil, 400},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"g","host":"h"`, nil, 400},
	{"POST /status/pipeline", "POST", "/status/pipeline", `[]`, nil, 400},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced","reported_at":"2999-01-01T00:00:00Z"}`, nil, 400},
	{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced","changed_files":"` + strings.Repeat("x", 5000) + `"}`, nil, 413},
	{"POST /status/pipeline", "POST", "/status/pipeline", `server_group=g`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},

	{"POST /status/cron", "POST", "/status/cron", cronReport, nil, 200},
	{"POST /status/cron", "POST", "/status/cron", `{"server_group":"cron","host":"c1","status":"synced","commit_sha":"ignored","stale_after":"0s"}`, nil, 200},
	{"POST /status/cron", "POST", "/status/cron", `{"server_group":"g","host":"../x","status":"synced"}`, nil, 400},
	{"POST /status/cron", "POST", "/status/cron", `{"server_group":"g","host":"h","status":"synced","pad":"` + strings.Repeat("x", 5000) + `"}`, nil, 413},
	{"POST /status/cron", "POST", "/status/cron", `{}`, []string{"Content-Type", "text/plain"}, 415},

	{"GET /status", "GET", "/status", "", nil, 200},
	{"GET /status", "GET", "/status?status=out_of_sync&status=FAILED&environment=prod&environment=&server_type=rsyslog&validation_status=passed&stale=false&limit=1&offset=0&server_group=rsyslog-prod&host=rsyslog-01", "", nil, 200},
	{"GET /status", "GET", "/status?stale=TRUE", "", nil, 200},
	{"GET /status", "GET", "/status?limit=0", "", nil, 400},
	{"GET /status", "GET", "/status?status=drifting", "", nil, 400},
	{"GET /status", "GET", "/status?stale=maybe", "", nil, 400},

	{"GET /status/{server_group}", "GET", "/status/rsyslog-prod", "", nil, 200},
	{"GET /status/{server_group}", "GET", "/status/rsyslog-prod?status=failed", "", nil, 200},
	{"GET /status/{server_group}", "GET", "/status/pipeline", "", nil, 200},
	{"GET /status/{server_group}", "GET", "/status/cron?offset=1", "", nil, 200},
	{"GET /status/{server_group}", "GET", "/status/nothing-here", "", nil, 404},
	{"GET /status/{server_group}", "GET", "/status/rsyslog-prod?offset=-1", "", nil, 400},

	{"GET /status/{server_group}/{host}", "GET", "/status/rsyslog-prod/rsyslog-01", "", nil, 200},
	{"GET /status/{server_group}/{host}", "GET", "/status/rsyslog-prod/nobody", "", nil, 404},
	{"GET /status/{server_group}/{host}", "GET", "/status/rsyslog-prod/-bad", "", nil, 400},

	{"GET /status/{server_group}/{host}/history", "GET", "/status/rsyslog-prod/rsyslog-01/history", "", nil, 200},
	{"GET /status/{server_group}/{host}/history", "GET", "/status/rsyslog-prod/rsyslog-01/history?limit=1&since=2020-01-01T00:00:00Z&until=4102444800000", "", nil, 200},
	{"GET /status/{server_group}/{host}/history", "GET", "/status/rsyslog-prod/rsyslog-01/history?since=yesterday", "", nil, 400},
	{"GET /status/{server_group}/{host}/history", "GET", "/status/rsyslog-prod/nobody/history", "", nil, 404},

	{"GET /events", "GET", "/events", "", nil, 200},
	{"GET /events", "GET", "/events?since=1577836800&until=2099-01-01T00:00:00%2B02:00&server_group=rsyslog-prod&status=out_of_sync&limit=10", "", nil, 200},
	{"GET /events", "GET", "/events?limit=10001", "", nil, 400},

	{"GET /summary", "GET", "/summary", "", nil, 200},

	{"GET /desired", "GET", "/desired", "", nil, 200},
	{"POST /desired", "POST", "/desired", `{"repo_name":"org/rsyslog","branch":"master","commit_sha":"DEF5678ABC","updated_by":"github"}`, nil, 200},
	{"POST /desired", "POST", "/desired", `{"repo_name":"nginx","branch":"feature/x","commit_sha":"abcd","reported_at":"2026-04-26T10:00:00Z","extra":1}`, nil, 200},
	// Older than the head's last set: 200, unchanged, with a warning.
	{"POST /desired", "POST", "/desired", `{"repo_name":"nginx","branch":"feature/x","commit_sha":"ffff","reported_at":"2026-04-26T09:00:00Z"}`, nil, 200},
	{"POST /desired", "POST", "/desired", `{"repo_name":"nginx","branch":"main","commit_sha":"xyz"}`, nil, 400},
	{"POST /desired", "POST", "/desired", `{"repo_name":"","branch":"main","commit_sha":"abcd"}`, nil, 400},
	{"POST /desired", "POST", "/desired", `{"repo_name":"r","branch":"main","commit_sha":"abcd","pad":"` + strings.Repeat("x", 5000) + `"}`, nil, 413},
	{"POST /desired", "POST", "/desired", `{}`, []string{"Content-Type", "text/plain"}, 415},
	{"GET /desired", "GET", "/desired", "", nil, 200},
	{"GET /status", "GET", "/status?behind=true", "", nil, 200},
	// The desired events (source git) validate too.
	{"GET /events", "GET", "/events", "", nil, 200},
	{"GET /status", "GET", "/status?behind=maybe", "", nil, 400},
	{"GET /summary", "GET", "/summary", "", nil, 200},
	{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/nginx/feature%2Fx", "", nil, 204},
	{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/nginx/feature%2Fx", "", nil, 404},
	{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/nginx/a%01b", "", nil, 400},
	{"POST /hooks/git", "POST", "/hooks/git", hookPush, signed("push", hookSecret, hookPush), 200},
	{"POST /hooks/git", "POST", "/hooks/git", `{"zen":"ok","hook_id":1}`, signed("ping", hookSecret, `{"zen":"ok","hook_id":1}`), 200},
	{"POST /hooks/git", "POST", "/hooks/git", hookTag, signed("push", hookSecret, hookTag), 202},
	{"POST /hooks/git", "POST", "/hooks/git", hookPush, signed("push", "wrong", hookPush), 401},
	{"POST /hooks/git", "POST", "/hooks/git", hookPush, nil, 400},
	{"POST /hooks/git", "POST", "/hooks/git", hookPush, []string{"X-Gitlab-Event", "Push Hook", "Content-Type", "text/plain"}, 415},
	{"POST /hooks/git", "POST", "/hooks/git", `{"pad":"` + strings.Repeat("x", 5000) + `"}`, []string{"X-Gitlab-Event", "Push Hook"}, 413},
	{"GET /metrics", "GET", "/metrics", "", []string{"Accept", "text/plain"}, 200},
	{"GET /metrics", "GET", "/metrics", "", []string{"Accept", "application/openmetrics-text;version=1.0.0"}, 200},

	{"POST /api/status", "POST", "/api/status", `{"repo":"rsyslog","server":"lab","sync_status":"DRIFTED","drifted_files":["/etc/a"],"deployed_files":null,"drift_count":1,"last_check":"2026-04-26T10:30:00"}`, nil, 200},
	{"POST /api/status", "POST", "/api/status", `{"repo":"rsyslog","server":"lab","sync_status":"SYNCED","extra":true}`, nil, 200},
	{"POST /api/status", "POST", "/api/status", `{"repo":"rsyslog","server":"lab","sync_status":"MAYBE"}`, nil, 400},
	{"POST /api/status", "POST", "/api/status", `{"repo":"` + strings.Repeat("x", 5000) + `"}`, nil, 413},
	{"POST /api/status", "POST", "/api/status", `{}`, []string{"Content-Type", "application/xml"}, 415},
	{"GET /api/status", "GET", "/api/status", "", nil, 200},
	{"GET /api/status", "GET", "/api/status?server=rsyslog-01", "", nil, 200},
	{"GET /api/status", "GET", "/api/status?server=nobody", "", nil, 404},
	{"GET /api/status", "GET", "/api/status?server=%2Fetc", "", nil, 400},

	{"GET /ui", "GET", "/ui", "", nil, 200},
	{"GET /ui", "GET", "/ui?status=failed&status=synced&server_group=rsyslog-prod&environment=prod&server_type=rsyslog&validation_status=passed&stale=false&q=RSYS&sort=-for&page=1&per_page=100&refresh=0", "", nil, 200},
	{"GET /ui", "GET", "/ui?sort=nope", "", nil, 400},
	{"GET /ui/{server_group}", "GET", "/ui/rsyslog-prod", "", nil, 302},
	{"GET /ui/{server_group}/{host}", "GET", "/ui/rsyslog-prod/rsyslog-01", "", []string{"Accept-Encoding", "gzip"}, 200},
	{"GET /ui/{server_group}/{host}", "GET", "/ui/rsyslog-prod/rsyslog-01?limit=1&refresh=5", "", nil, 200},
	{"GET /ui/{server_group}/{host}", "GET", "/ui/rsyslog-prod/nobody", "", nil, 404},
	{"GET /ui/_static/{file}", "GET", "/ui/_static/ui.css", "", nil, 200},
	{"GET /ui/_static/{file}", "GET", "/ui/_static/nope.js", "", nil, 404},
	{"POST /ui/login", "POST", "/ui/login", "token=x&next=%2Fui", []string{"Content-Type", "application/x-www-form-urlencoded"}, 303},
	{"POST /ui/logout", "POST", "/ui/logout", "", nil, 303},

	{"DELETE /status/{server_group}/{host}", "DELETE", "/status/web/w1", "", nil, 204},
	{"DELETE /status/{server_group}/{host}", "DELETE", "/status/web/w1", "", nil, 404},
	{"DELETE /status/{server_group}/{host}", "DELETE", "/status/web/-w1", "", nil, 400},
}

// TestLiveAnswersValidate sends every exchange to a seeded server and
// validates the request and the answer against the document; every route
// must be exercised with a success.
func TestLiveAnswersValidate(t *testing.T) {
	s := newServer(t, nil)
	_, answers, requests := document(t, s)
	succeeded := map[string]bool{}
	for _, ex := range seededExchanges {
		// A redirect is the success of the status page's forms and of
		// its group shortcut.
		if roundTrip(t, answers, requests, s, ex) && ex.want < 400 {
			succeeded[ex.endpoint] = true
		}
	}
	for _, ep := range endpoints(t, s) {
		if !succeeded[ep] {
			t.Errorf("%s: no successful exchange validated; add one to seededExchanges", ep)
		}
	}
}

// TestUnavailableAnswersValidate: with the database gone every data
// endpoint answers 503, as documented.
func TestUnavailableAnswersValidate(t *testing.T) {
	s := newServer(t, func(st gitops.Store) gitops.Store { return downStore{st} })
	_, answers, requests := document(t, s)
	for _, ex := range []exchange{
		{"GET /ready", "GET", "/ready", "", nil, 503},
		{"POST /status/pipeline", "POST", "/status/pipeline", pipelineReport, nil, 503},
		{"POST /status/cron", "POST", "/status/cron", cronReport, nil, 503},
		{"GET /status", "GET", "/status", "", nil, 503},
		{"GET /status/{server_group}", "GET", "/status/g", "", nil, 503},
		{"GET /status/{server_group}/{host}", "GET", "/status/g/h", "", nil, 503},
		{"DELETE /status/{server_group}/{host}", "DELETE", "/status/g/h", "", nil, 503},
		{"GET /status/{server_group}/{host}/history", "GET", "/status/g/h/history", "", nil, 503},
		{"GET /events", "GET", "/events", "", nil, 503},
		{"GET /summary", "GET", "/summary", "", nil, 503},
		{"POST /desired", "POST", "/desired", `{"repo_name":"r","branch":"b","commit_sha":"abcd"}`, nil, 503},
		{"GET /desired", "GET", "/desired", "", nil, 503},
		{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/r/b", "", nil, 503},
		{"GET /api/status", "GET", "/api/status", "", nil, 503},
		{"POST /api/status", "POST", "/api/status", `{"repo":"r","server":"s","sync_status":"SYNCED"}`, nil, 503},
	} {
		roundTrip(t, answers, requests, s, ex)
	}
}

// TestAuthAnswersValidate: with a tokens file holding a read token, the
// scopes the document lists are the ones enforced, and the 401 and 403
// answers validate.
func TestAuthAnswersValidate(t *testing.T) {
	tokens := `tokens:
  - {name: ci, token: "ci-token-0123456789abcdef", scopes: [pipeline, cron], groups: ["rsyslog-*"]}
  - {name: grafana, token: "read-token-0123456789abcdef", scopes: [read]}
  - {name: ops, token: "admin-token-0123456789abcdef", scopes: [admin]}
`
	s := newServerWith(t, nil, &tokens)
	_, answers, requests := document(t, s)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	ci, grafana, ops := bearer("ci-token-0123456789abcdef"), bearer("read-token-0123456789abcdef"), bearer("admin-token-0123456789abcdef")
	none := []string{"Authorization", ""}
	for _, ex := range []exchange{
		{"GET /", "GET", "/", "", nil, 200},
		{"GET /health", "GET", "/health", "", nil, 200},
		{"GET /ready", "GET", "/ready", "", nil, 200},
		{"GET /openapi.yaml", "GET", "/openapi.yaml", "", nil, 200},
		{"POST /status/pipeline", "POST", "/status/pipeline", pipelineReport, ci, 200},
		{"POST /status/pipeline", "POST", "/status/pipeline", pipelineReport, none, 401},
		{"POST /status/pipeline", "POST", "/status/pipeline", pipelineReport, bearer("wrong-token-0123456789"), 401},
		{"POST /status/pipeline", "POST", "/status/pipeline", `{"server_group":"web","host":"w1","status":"synced"}`, ci, 403},
		{"POST /status/cron", "POST", "/status/cron", cronReport, grafana, 403},
		{"POST /status/cron", "POST", "/status/cron", cronReport, ci, 200},
		{"GET /status", "GET", "/status", "", nil, 401},
		{"GET /status", "GET", "/status", "", grafana, 200},
		{"GET /status", "GET", "/status", "", ci, 403},
		{"GET /status/{server_group}/{host}", "GET", "/status/rsyslog-prod/rsyslog-01", "", ops, 200},
		{"GET /summary", "GET", "/summary", "", nil, 401},
		{"GET /metrics", "GET", "/metrics", "", nil, 401},
		{"GET /metrics", "GET", "/metrics", "", ci, 403},
		{"GET /metrics", "GET", "/metrics", "", grafana, 200},
		{"GET /events", "GET", "/events", "", grafana, 200},
		{"GET /api/status", "GET", "/api/status", "", nil, 401},
		{"POST /api/status", "POST", "/api/status", `{"repo":"rsyslog-lab","server":"lab","sync_status":"SYNCED"}`, ci, 200},
		{"DELETE /status/{server_group}/{host}", "DELETE", "/status/rsyslog-prod/rsyslog-01", "", ci, 403},
		{"POST /desired", "POST", "/desired", `{"repo_name":"r","branch":"b","commit_sha":"abcd"}`, none, 401},
		{"POST /desired", "POST", "/desired", `{"repo_name":"r","branch":"b","commit_sha":"abcd"}`, grafana, 403},
		{"POST /desired", "POST", "/desired", `{"repo_name":"r","branch":"b","commit_sha":"abcd"}`, ci, 200},
		{"GET /desired", "GET", "/desired", "", nil, 401},
		{"GET /desired", "GET", "/desired", "", grafana, 200},
		{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/r/b", "", ci, 403},
		{"DELETE /desired/{repo_name}/{branch}", "DELETE", "/desired/r/b", "", ops, 204},
		// The signature is the webhook's authentication: no bearer token.
		{"POST /hooks/git", "POST", "/hooks/git", hookPush, signed("push", hookSecret, hookPush), 200},
		{"GET /ui", "GET", "/ui", "", nil, 401},
		{"GET /ui", "GET", "/ui", "", grafana, 200},
		{"GET /ui", "GET", "/ui", "", ci, 403},
		{"GET /ui/{server_group}/{host}", "GET", "/ui/rsyslog-prod/rsyslog-01", "", []string{"Cookie", "gitops_status_token=" + base64.RawURLEncoding.EncodeToString([]byte("read-token-0123456789abcdef"))}, 200},
		{"POST /ui/login", "POST", "/ui/login", "token=read-token-0123456789abcdef&next=%2Fui", []string{"Content-Type", "application/x-www-form-urlencoded"}, 303},
		{"POST /ui/login", "POST", "/ui/login", "token=ci-token-0123456789abcdef", []string{"Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"POST /ui/login", "POST", "/ui/login", "token=nope", []string{"Content-Type", "application/x-www-form-urlencoded"}, 401},
		{"DELETE /status/{server_group}/{host}", "DELETE", "/status/rsyslog-prod/rsyslog-01", "", ops, 204},
	} {
		roundTrip(t, answers, requests, s, ex)
	}
}

// TestValidatorCatchesDrift makes sure the validation above can fail: an
// answer that lacks a field, or has one the document does not describe,
// or has a wrong type, is reported.
func TestValidatorCatchesDrift(t *testing.T) {
	s := newServer(t, nil)
	_, v, _ := document(t, s)
	req, _ := http.NewRequest("GET", s.URL+"/summary", nil)
	for name, body := range map[string]string{
		"missing field": `{"total":0,"stale":0,"behind":0,"by_status":{"synced":0,"out_of_sync":0,"failed":0,"unknown":0},"by_group":{}}`,
		"extra field":   `{"total":0,"stale":0,"behind":0,"by_status":{"synced":0,"out_of_sync":0,"failed":0,"unknown":0},"by_group":{},"by_environment":{},"ahead":0}`,
		"wrong type":    `{"total":"0","stale":0,"behind":0,"by_status":{"synced":0,"out_of_sync":0,"failed":0,"unknown":0},"by_group":{},"by_environment":{}}`,
	} {
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"x"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}
		if ok, _ := v.ValidateHttpResponse(req, resp); ok {
			t.Errorf("%s: the validator accepted %s", name, body)
		}
	}
}

// roundTrip sends ex, checks its status and validates request and answer.
// It reports whether everything held.
func roundTrip(t *testing.T, answers, requests validator.Validator, s server, ex exchange) bool {
	t.Helper()
	name := fmt.Sprintf("%s %s → %d", ex.method, ex.target, ex.want)
	newReq := func() *http.Request {
		var body io.Reader
		if ex.body != "" {
			body = strings.NewReader(ex.body)
		}
		req, err := http.NewRequestWithContext(context.Background(), ex.method, s.URL+ex.target, body)
		if err != nil {
			t.Fatal(err)
		}
		if ex.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if ex.method != "GET" {
			// Writes name their token, as they must once a tokens file
			// is set; with authentication off it is ignored.
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		for i := 0; i+1 < len(ex.header); i += 2 {
			if ex.header[i+1] == "" {
				req.Header.Del(ex.header[i])
			} else {
				req.Header.Set(ex.header[i], ex.header[i+1])
			}
		}
		return req
	}
	ok := true
	// Requests the server refuses need not match the document; those it
	// takes must.
	if ex.want < 400 {
		if valid, errs := requests.ValidateHttpRequest(newReq()); !valid {
			t.Errorf("%s: the request does not validate:\n%s", name, describe(errs))
			ok = false
		}
	}
	req := newReq()
	// Redirects (the status page's) are answers to validate, not to follow.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s: reading the answer: %v", name, err)
	}
	if resp.StatusCode != ex.want {
		t.Errorf("%s: got %d: %s", name, resp.StatusCode, body)
		return false
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if valid, errs := answers.ValidateHttpResponse(newReq(), resp); !valid {
		t.Errorf("%s: the answer does not validate:\n%s\nanswer: %s", name, describe(errs), truncate(body))
		ok = false
	}
	return ok
}

func describe(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s at %s", se.Reason, se.FieldPath)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// downStore is a store whose database is gone: every call fails as the
// real stores fail then, with EUNAVAILABLE.
type downStore struct{ gitops.Store }

func unavailable() error {
	return gitops.Errorf(gitops.EUNAVAILABLE, "database unavailable: connection refused")
}

func (downStore) Apply(context.Context, gitops.Update) (gitops.Outcome, error) {
	return gitops.Outcome{}, unavailable()
}
func (downStore) Get(context.Context, gitops.Key) (gitops.Server, error) {
	return gitops.Server{}, unavailable()
}
func (downStore) List(context.Context, gitops.Filter) ([]gitops.Server, int, error) {
	return nil, 0, unavailable()
}
func (downStore) Delete(context.Context, gitops.Key) error { return unavailable() }
func (downStore) Events(context.Context, gitops.EventFilter) ([]gitops.Event, error) {
	return nil, unavailable()
}
func (downStore) LegacyLatest(context.Context) (gitops.Server, error) {
	return gitops.Server{}, unavailable()
}
func (downStore) Ping(context.Context) error { return unavailable() }
func (downStore) SetHead(context.Context, gitops.SetHead) (gitops.HeadOutcome, error) {
	return gitops.HeadOutcome{}, unavailable()
}
func (downStore) Heads(context.Context) ([]gitops.Head, error)     { return nil, unavailable() }
func (downStore) DeleteHead(context.Context, gitops.HeadKey) error { return unavailable() }

func truncate(b []byte) []byte {
	if len(b) > 400 {
		return append(b[:400:400], "…"...)
	}
	return b
}
