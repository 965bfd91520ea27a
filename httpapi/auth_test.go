package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gitops-status/gitops-status/auth"
	"github.com/gitops-status/gitops-status/httpapi"
)

// Tokens of the tests: one per scope, one limited to rsyslog-* groups and
// one stored as its SHA-256.
const (
	tokAdmin    = "admin-0123456789abcdef"
	tokPipeline = "pipeline-0123456789abcdef"
	tokCron     = "cron-0123456789abcdef"
	tokRead     = "read-0123456789abcdef"
	tokLimited  = "limited-0123456789abcdef"
	tokHashed   = "hashed-0123456789abcdef"
)

func tokensDoc(withReader bool) string {
	doc := `tokens:
  - {name: ops, token: ` + tokAdmin + `, scopes: [admin]}
  - {name: woodpecker, token: ` + tokPipeline + `, scopes: [pipeline]}
  - {name: cron-host, token: ` + tokCron + `, scopes: [cron]}
  - {name: rsyslog-ci, token: ` + tokLimited + `, scopes: [pipeline, cron], groups: ["rsyslog-*"]}
  - {name: hashed-ci, sha256: "` + auth.HashToken(tokHashed) + `", scopes: [pipeline]}
`
	if withReader {
		doc += "  - {name: grafana, token: " + tokRead + ", scopes: [read]}\n"
	}
	return doc
}

// withTokens turns authentication on with the tokens document doc.
func withTokens(tb testing.TB, doc string) option {
	a, _, err := auth.New(auth.Config{Inline: doc})
	if err != nil {
		tb.Fatal(err)
	}
	return withConfig(func(c *httpapi.Config) { c.Auth = a })
}

func bearer(token string) string { return "Authorization: Bearer " + token }

// TestAuthRefusals checks each kind of refusal: status, the error sentence,
// the challenge header, and that it is logged with the token's name and
// the request id but never the secret.
func TestAuthRefusals(t *testing.T) {
	e := newEnv(t, withTokens(t, tokensDoc(true)))
	body := `{"server_group":"rsyslog-prod","host":"h1","status":"synced"}`
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		headers   []string
		code      int
		field     string
		msg       string
		challenge string
	}{
		{"no token", "POST", "/status/pipeline", body, nil, 401, "",
			`POST /status/pipeline needs a bearer token with the pipeline scope: send the header "Authorization: Bearer TOKEN"`, `Bearer realm="gitops-status"`},
		{"unknown token", "POST", "/status/pipeline", body, []string{bearer("nope-0123456789abcdef")}, 401, "",
			"the bearer token is not one this server knows", `Bearer realm="gitops-status", error="invalid_token"`},
		{"basic auth", "POST", "/status/pipeline", body, []string{"Authorization: Basic dXNlcjpwYXNz"}, 401, "",
			"the Authorization header is not a bearer token", `error="invalid_token"`},
		{"bearer without token", "POST", "/status/pipeline", body, []string{"Authorization: Bearer"}, 401, "",
			`has no token after "Bearer"`, `error="invalid_token"`},
		{"space in token", "POST", "/status/pipeline", body, []string{"Authorization: Bearer " + tokPipeline + " x"}, 401, "",
			"has a space inside the token", `error="invalid_token"`},
		{"the hash is not the token", "POST", "/status/pipeline", body, []string{bearer(auth.HashToken(tokHashed))}, 401, "",
			"not one this server knows", `error="invalid_token"`},
		{"missing scope", "POST", "/status/pipeline", body, []string{bearer(tokRead)}, 403, "",
			`token "grafana" lacks the pipeline scope needed for POST /status/pipeline; it has "read"`,
			`Bearer realm="gitops-status", error="insufficient_scope", scope="pipeline"`},
		{"cron token on pipeline", "POST", "/status/pipeline", body, []string{bearer(tokCron)}, 403, "", `token "cron-host" lacks the pipeline scope`, `scope="pipeline"`},
		{"pipeline token on cron", "POST", "/status/cron", body, []string{bearer(tokPipeline)}, 403, "", `token "woodpecker" lacks the cron scope`, `scope="cron"`},
		{"group outside the globs", "POST", "/status/pipeline", `{"server_group":"nginx-prod","host":"h1","status":"synced"}`,
			[]string{bearer(tokLimited)}, 403, "server_group", `token "rsyslog-ci" may not write server_group "nginx-prod" (POST /status/pipeline): it may write only groups matching "rsyslog-*"`, ""},
		{"legacy group outside the globs", "POST", "/api/status", `{"repo":"nginx","server":"h1","sync_status":"SYNCED"}`,
			[]string{bearer(tokLimited)}, 403, "server_group", `may not write server_group "nginx"`, ""},
		{"delete needs admin", "DELETE", "/status/rsyslog-prod/h1", "", []string{bearer(tokPipeline)}, 403, "", `lacks the admin scope needed for DELETE /status/{server_group}/{host}`, `scope="admin"`},
		{"read needs read", "GET", "/status", "", []string{bearer(tokPipeline)}, 403, "", `lacks the read scope needed for GET /status`, `scope="read"`},
		{"read without token", "GET", "/summary", "", nil, 401, "", "GET /summary needs a bearer token with the read scope", `Bearer realm="gitops-status"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.logs.Reset()
			msg := e.errorAnswer(tt.code, tt.field, tt.method, tt.path, tt.body, tt.headers...)
			if !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q does not contain %q", msg, tt.msg)
			}
			rec := e.do(tt.method, tt.path, tt.body, tt.headers...)
			if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) || (tt.challenge == "" && got != "") {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			logs := e.logs.String()
			id := rec.Header().Get("X-Request-Id")
			if !strings.Contains(logs, "request refused") || !strings.Contains(logs, "request_id="+id) {
				t.Fatalf("refusal not logged with its request id %s:\n%s", id, logs)
			}
			if tt.code == 403 && !strings.Contains(logs, "token=") {
				t.Fatalf("403 logged without the token's name:\n%s", logs)
			}
			for _, secret := range []string{tokAdmin, tokPipeline, tokCron, tokRead, tokLimited, tokHashed, "dXNlcjpwYXNz"} {
				if strings.Contains(logs, secret) {
					t.Fatalf("the log holds a secret:\n%s", logs)
				}
			}
		})
	}
	if n := len(array(t, e.want(200, "GET", "/status", "", bearer(tokAdmin)))); n != 0 {
		t.Fatalf("refused requests stored %d servers", n)
	}
	if n := len(array(t, e.want(200, "GET", "/events", "", bearer(tokRead)))); n != 0 {
		t.Fatalf("refused requests wrote %d events", n)
	}
}

// TestAuthAllows checks what each token may do, and the defaults a token
// brings: updated_by is its name when the body has none, also for legacy
// writes.
func TestAuthAllows(t *testing.T) {
	e := newEnv(t, withTokens(t, tokensDoc(true)))
	rec := object(t, e.want(200, "POST", "/status/pipeline", `{"server_group":"rsyslog-prod","host":"h1","status":"synced"}`, bearer(tokLimited)))
	if rec["updated_by"] != "rsyslog-ci" {
		t.Fatalf("updated_by = %v, want the token's name", rec["updated_by"])
	}
	rec = object(t, e.want(200, "POST", "/status/pipeline", `{"server_group":"nginx-prod","host":"h1","status":"synced","updated_by":"jenkins"}`, bearer(tokHashed)))
	if rec["updated_by"] != "jenkins" {
		t.Fatalf("updated_by = %v, want what the body says", rec["updated_by"])
	}
	e.want(200, "POST", "/status/cron", `{"server_group":"rsyslog-prod","host":"h1","status":"out_of_sync"}`, bearer(tokLimited))
	e.want(200, "POST", "/status/cron", `{"server_group":"nginx-prod","host":"h1","status":"out_of_sync"}`, bearer(tokCron))
	e.want(200, "POST", "/api/status", `{"repo":"rsyslog-legacy","server":"lab","sync_status":"SYNCED"}`, bearer(tokLimited))
	rec = object(t, e.want(200, "GET", "/status/rsyslog-legacy/lab", "", bearer(tokRead)))
	if rec["updated_by"] != "rsyslog-ci" {
		t.Fatalf("legacy write: updated_by = %v, want the token's name instead of legacy-api", rec["updated_by"])
	}
	events := array(t, e.want(200, "GET", "/events?server_group=rsyslog-prod", "", bearer(tokRead)))
	if len(events) == 0 || events[len(events)-1]["updated_by"] != "rsyslog-ci" {
		t.Fatalf("the pipeline event does not carry the token's name: %v", events)
	}
	// Lower-case scheme, as RFC 7235 allows.
	e.want(200, "GET", "/summary", "", "Authorization: bearer "+tokAdmin)
	e.want(http.StatusNoContent, "DELETE", "/status/nginx-prod/h1", "", bearer(tokAdmin))
	// Open routes ignore tokens entirely, even bad ones.
	for _, path := range []string{"/", "/health", "/ready"} {
		e.want(200, "GET", path, "")
		e.want(200, "GET", path, "", bearer("nope"))
		e.want(200, "GET", path, "", "Authorization: Basic x")
	}
	if got := object(t, e.want(200, "GET", "/", ""))["auth_enabled"]; got != true {
		t.Fatalf("auth_enabled = %v with tokens", got)
	}
}

// TestAuthGroupLimitsDelete: groups limit every write, DELETE included,
// even for an admin token.
func TestAuthGroupLimitsDelete(t *testing.T) {
	e := newEnv(t, withTokens(t, `tokens:
  - {name: ops, token: `+tokAdmin+`, scopes: [admin]}
  - {name: rsyslog-admin, token: `+tokLimited+`, scopes: [admin], groups: ["rsyslog-*"]}
`))
	e.want(200, "POST", "/status/pipeline", `{"server_group":"nginx-prod","host":"h1","status":"synced"}`, bearer(tokAdmin))
	e.errorAnswer(403, "server_group", "DELETE", "/status/nginx-prod/h1", "", bearer(tokLimited))
	e.want(200, "GET", "/status/nginx-prod/h1", "")
	e.want(http.StatusNoContent, "DELETE", "/status/nginx-prod/h1", "", bearer(tokAdmin))
}

// TestAuthOpenReads: without a read token, reads stay open (Grafana keeps
// working) whatever the request sends, and writes still need a token.
func TestAuthOpenReads(t *testing.T) {
	e := newEnv(t, withTokens(t, tokensDoc(false)))
	e.want(200, "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`, bearer(tokAdmin))
	for _, path := range []string{"/status", "/status/g", "/status/g/h", "/status/g/h/history", "/events", "/summary", "/api/status?server=h"} {
		e.want(200, "GET", path, "")
		e.want(200, "GET", path, "", bearer("an-old-token-grafana-still-sends"))
	}
	e.errorAnswer(401, "", "POST", "/status/cron", `{"server_group":"g","host":"h","status":"synced"}`)
}

// TestAuthOff: without an authenticator every route is open, tokens are
// ignored and legacy writes keep updated_by legacy-api.
func TestAuthOff(t *testing.T) {
	e := newEnv(t)
	e.want(200, "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`, bearer("whatever"))
	e.want(200, "POST", "/api/status", `{"repo":"r","server":"s","sync_status":"SYNCED"}`, "Authorization: Basic x")
	if got := object(t, e.want(200, "GET", "/status/r/s", ""))["updated_by"]; got != "legacy-api" {
		t.Fatalf("updated_by = %v, want legacy-api with auth off", got)
	}
	e.want(http.StatusNoContent, "DELETE", "/status/g/h", "")
}
