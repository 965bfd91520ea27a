package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

// credential is what a request of the matrix sends.
type credential struct {
	name   string // the token's name; "" for no token, "bad", "malformed"
	header string // Authorization value; "" = none
	scopes []string
	groups []string
	valid  bool
}

// matrixTokens are the tokens of the black-box matrix: one of each scope,
// one limited to rsyslog-* groups, one stored as its SHA-256.
var matrixTokens = []credential{
	{name: "ops", header: "Bearer ops-4f1c0d9e7b2a6c85", scopes: []string{"admin"}},
	{name: "woodpecker", header: "Bearer wp-9a8b7c6d5e4f3a2b", scopes: []string{"pipeline"}},
	{name: "cron-host", header: "Bearer cron-1b2c3d4e5f6a7b8c", scopes: []string{"cron"}},
	{name: "grafana", header: "Bearer gf-0f1e2d3c4b5a6978", scopes: []string{"read"}},
	{name: "rsyslog-ci", header: "Bearer rci-5566778899aabbcc", scopes: []string{"pipeline", "cron"}, groups: []string{"rsyslog-*"}},
	{name: "hashed-ci", header: "Bearer hci-ddeeff0011223344", scopes: []string{"pipeline"}},
}

// writeTokensFile writes tokens as an operator would: plain secrets,
// except hashed-ci, stored as the sha256 of its secret.
func writeTokensFile(t *testing.T, path string, tokens []credential) {
	t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	for _, c := range tokens {
		secret := strings.TrimPrefix(c.header, "Bearer ")
		fmt.Fprintf(&b, "  - name: %s\n", c.name)
		if c.name == "hashed-ci" {
			sum := sha256.Sum256([]byte(secret))
			fmt.Fprintf(&b, "    sha256: %s\n", hex.EncodeToString(sum[:]))
		} else {
			fmt.Fprintf(&b, "    token: %q\n", secret)
		}
		fmt.Fprintf(&b, "    scopes: [%s]\n", strings.Join(c.scopes, ", "))
		if len(c.groups) > 0 {
			fmt.Fprintf(&b, "    groups: [%q]\n", strings.Join(c.groups, `", "`))
		}
	}
	// Written whole and renamed into place, as a config manager does, so a
	// reload never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// request sends one request and returns its status, body and headers.
func request(t *testing.T, method, url, body, authorization string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// endpoint is one request of the matrix, with the scope SPEC §8 says it
// needs and the server_group it writes.
type endpoint struct {
	method, path, body string
	need               string // "" = open
	group              string // the server_group a write names
	ok                 int    // the status of an allowed request
}

func matrixEndpoints() []endpoint {
	return []endpoint{
		{"GET", "/", "", "", "", 200},
		{"GET", "/health", "", "", "", 200},
		{"GET", "/ready", "", "", "", 200},
		{"GET", "/status", "", "read", "", 200},
		{"GET", "/status/rsyslog-prod", "", "read", "", 200},
		{"GET", "/status/rsyslog-prod/web-01", "", "read", "", 200},
		{"GET", "/status/rsyslog-prod/web-01/history", "", "read", "", 200},
		{"GET", "/events", "", "read", "", 200},
		{"GET", "/summary", "", "read", "", 200},
		{"GET", "/api/status?server=web-01", "", "read", "", 200},
		{"POST", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"web-01","status":"synced","commit_sha":"c0ffee1"}`, "pipeline", "rsyslog-prod", 200},
		{"POST", "/status/pipeline", `{"server_group":"nginx-prod","host":"web-02","status":"failed"}`, "pipeline", "nginx-prod", 200},
		{"POST", "/status/cron", `{"server_group":"rsyslog-prod","host":"web-01","status":"out_of_sync","changed_files":["/etc/a"]}`, "cron", "rsyslog-prod", 200},
		{"POST", "/status/cron", `{"server_group":"nginx-prod","host":"web-02","status":"out_of_sync","changed_files":["/etc/b"]}`, "cron", "nginx-prod", 200},
		{"POST", "/api/status", `{"repo":"rsyslog-legacy","server":"web-03","sync_status":"SYNCED"}`, "pipeline", "rsyslog-legacy", 200},
		{"POST", "/api/status", `{"repo":"nginx","server":"web-04","sync_status":"FAILED"}`, "pipeline", "nginx", 200},
		{"DELETE", "/status/nginx-prod/web-02", "", "admin", "nginx-prod", 204},
		{"DELETE", "/status/rsyslog-prod/web-01", "", "admin", "rsyslog-prod", 204},
	}
}

// expected is SPEC §6/§8 written out for the matrix: open routes answer
// everyone; otherwise no, a bad or a malformed token is 401; a token
// without the scope (admin has all), or writing outside its groups, 403.
func expected(ep endpoint, c credential) int {
	if ep.need == "" {
		return ep.ok
	}
	if !c.valid {
		return http.StatusUnauthorized
	}
	if !slices.Contains(c.scopes, ep.need) && !slices.Contains(c.scopes, "admin") {
		return http.StatusForbidden
	}
	if ep.group != "" && len(c.groups) > 0 && !slices.ContainsFunc(c.groups, func(g string) bool {
		ok, _ := path.Match(g, ep.group)
		return ok
	}) {
		return http.StatusForbidden
	}
	return ep.ok
}

// TestAuthMatrix is the operator's check of SPEC §6/§8 against the real
// binary: every endpoint with no token, each token and a bad and a
// malformed one. After every refusal the stored servers and events are
// unchanged, the answer is the usual error JSON, and the log names the
// refusal's request id and token but holds no secret. Runs on SQLite and
// on PostgreSQL.
func TestAuthMatrix(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAuthMatrix(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		testAuthMatrix(t, []string{"GITOPS_STATUS_DATABASE_URL=" + pgtest.NewDatabase(t)})
	})
}

func testAuthMatrix(t *testing.T, env []string) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokensFile(t, file, matrixTokens)
	p := startServe(t, env, "--data-dir", t.TempDir(), "--tokens-file", file)
	admin := matrixTokens[0].header

	creds := []credential{{name: "no token"}, {name: "bad token", header: "Bearer not-a-known-token-42"}, {name: "malformed", header: "Basic b3BzOnB3"}}
	for _, c := range matrixTokens {
		c.valid = true
		creds = append(creds, c)
	}
	// The servers the reads and deletes find.
	seed := func() {
		for _, body := range []string{
			`{"server_group":"rsyslog-prod","host":"web-01","status":"synced"}`,
			`{"server_group":"nginx-prod","host":"web-02","status":"synced"}`,
		} {
			if code, b, _ := request(t, "POST", p.URL+"/status/pipeline", body, admin); code != 200 {
				t.Fatalf("seeding: %d %s", code, b)
			}
		}
	}
	seed()
	snapshot := func() string {
		_, servers, _ := request(t, "GET", p.URL+"/status", "", admin)
		_, events, _ := request(t, "GET", p.URL+"/events", "", admin)
		return string(servers) + string(events)
	}

	refusals := 0
	for _, ep := range matrixEndpoints() {
		for _, c := range creds {
			before := snapshot()
			want := expected(ep, c)
			code, body, h := request(t, ep.method, p.URL+ep.path, ep.body, c.header)
			what := fmt.Sprintf("%s %s as %s", ep.method, ep.path, c.name)
			if code != want {
				t.Errorf("%s: %d, want %d: %s", what, code, want, body)
				continue
			}
			if code < 300 {
				if ep.method == "POST" && ep.path == "/status/pipeline" {
					var rec map[string]any
					json.Unmarshal(body, &rec)
					if rec["updated_by"] != c.name {
						t.Errorf("%s: updated_by %v, want the token's name", what, rec["updated_by"])
					}
				}
				if ep.method == "DELETE" {
					seed() // for the next credential
				}
				continue
			}
			refusals++
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" || h.Get("Content-Type") != "application/json" {
				t.Errorf("%s: %d answer is not the error JSON: %s", what, code, body)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: 401 without WWW-Authenticate: Bearer", what)
			}
			if after := snapshot(); after != before {
				t.Fatalf("%s was refused with %d but changed the stored data:\nbefore %s\nafter  %s", what, code, before, after)
			}
			if id := h.Get("X-Request-Id"); !strings.Contains(p.stderr.String(), "request_id="+id) {
				t.Errorf("%s: refusal %s not logged", what, id)
			}
		}
	}
	if refusals < 50 {
		t.Fatalf("only %d refusals: the matrix proved little", refusals)
	}
	logs := p.stderr.String()
	for _, c := range creds {
		if secret := strings.TrimPrefix(strings.TrimPrefix(c.header, "Bearer "), "Basic "); secret != "" && strings.Contains(logs, secret) {
			t.Fatalf("the log holds the secret of %s", c.name)
		}
	}
	if !strings.Contains(logs, `token=rsyslog-ci`) || !strings.Contains(logs, `status=403`) {
		t.Fatalf("403s are not logged with the token's name:\n%s", logs)
	}
	var info map[string]any
	if code := getJSON(t, p.URL+"/", &info); code != 200 || info["auth_enabled"] != true {
		t.Fatalf("GET / = %d auth_enabled %v", code, info["auth_enabled"])
	}
}
