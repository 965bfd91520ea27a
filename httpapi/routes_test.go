package httpapi_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/httpapi"
)

// TestExtraRoutes mounts an endpoint of another adapter through
// Config.Routes: it answers for itself, gets a request id, is listed by
// GET / after the API's routes, and leaves the API's 404s and 405s alone.
func TestExtraRoutes(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<p>"+r.PathValue("name")+"</p>")
	})
	e := newEnv(t, withConfig(func(c *httpapi.Config) {
		c.Routes = []httpapi.Route{{Method: "GET", Path: "/page/{name}", Handler: page}}
	}))
	rec := e.do("GET", "/page/x", "")
	if rec.Code != 200 || rec.Body.String() != "<p>x</p>" || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("the mounted route answered %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("the mounted route's answer has no request id")
	}
	var endpoints []string
	for _, ep := range object(t, e.want(200, "GET", "/", ""))["endpoints"].([]any) {
		endpoints = append(endpoints, ep.(string))
	}
	if got := endpoints[len(endpoints)-1]; got != "GET /page/{name}" {
		t.Errorf("GET / lists %q last, want the mounted route", got)
	}
	if !slices.Contains(endpoints, "GET /status") {
		t.Errorf("GET / lost the API's routes: %q", endpoints)
	}
	rec = e.want(405, "POST", "/page/x", "{}")
	if !strings.Contains(rec.Header().Get("Allow"), "GET") {
		t.Errorf("405 on the mounted route allows %q", rec.Header().Get("Allow"))
	}
	e.want(404, "GET", "/page/x/y", "")
}

func TestExtraRouteConflictPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a mounted route that takes an API route's pattern was accepted")
		}
	}()
	newEnv(t, withConfig(func(c *httpapi.Config) {
		c.Routes = []httpapi.Route{{Method: "GET", Path: "/status", Handler: http.NotFoundHandler()}}
	}))
}

// TestExtraRoutesUnderTokens: a mounted read route needs a read token while
// reads are protected, takes it from its own credential source when no
// Authorization header is sent (the header wins), and answers refusals
// with its own Denied; that source is never consulted by the API's routes,
// and open mounted routes stay open.
func TestExtraRoutesUnderTokens(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	cookie := func(r *http.Request) (string, bool) {
		c, err := r.Cookie("token")
		if err != nil {
			return "", false
		}
		return c.Value, true
	}
	denied := func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(statusOfErr(err))
		io.WriteString(w, "sign in: "+gitops.ErrorCode(err))
	}
	mount := withConfig(func(c *httpapi.Config) {
		c.Routes = []httpapi.Route{
			{Method: "GET", Path: "/page", Read: true, Handler: page, Credential: cookie, Denied: denied},
			{Method: "POST", Path: "/page/login", Handler: page, Credential: cookie, Denied: denied},
		}
	})
	e := newEnv(t, withTokens(t, tokensDoc(true)), mount)
	tests := []struct {
		name, method, path string
		headers            []string
		code               int
		body               string
	}{
		{"no token", "GET", "/page", nil, 401, "sign in: " + gitops.EUNAUTHORIZED},
		{"a read token in the cookie", "GET", "/page", []string{"Cookie: token=" + tokRead}, 200, "page"},
		{"an admin token in the cookie", "GET", "/page", []string{"Cookie: token=" + tokAdmin}, 200, "page"},
		{"a read bearer token", "GET", "/page", []string{bearer(tokRead)}, 200, "page"},
		{"an unknown token in the cookie", "GET", "/page", []string{"Cookie: token=nope"}, 401, "sign in: " + gitops.EUNAUTHORIZED},
		{"a token that cannot read", "GET", "/page", []string{"Cookie: token=" + tokPipeline}, 403, "sign in: " + gitops.EFORBIDDEN},
		{"the header wins over the cookie", "GET", "/page", []string{bearer("nope-0123456789abcdef"), "Cookie: token=" + tokRead}, 401, "sign in: " + gitops.EUNAUTHORIZED},
		{"an open mounted route", "POST", "/page/login", nil, 200, "page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.method, tt.path, "", tt.headers...)
			if rec.Code != tt.code || rec.Body.String() != tt.body {
				t.Fatalf("%d %q, want %d %q", rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
	// The cookie is no credential of the API: only the page accepts it.
	for _, path := range []string{"/status", "/summary", "/events"} {
		e.want(401, "GET", path, "", "Cookie: token="+tokRead)
	}
	e.want(401, "POST", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`, "Cookie: token="+tokAdmin)

	// While reads are open, the page is open too, whatever it is sent.
	open := newEnv(t, withTokens(t, tokensDoc(false)), mount)
	if rec := open.do("GET", "/page", "", "Cookie: token=nope"); rec.Code != 200 {
		t.Fatalf("with reads open the page answered %d", rec.Code)
	}
}

func statusOfErr(err error) int {
	if gitops.ErrorCode(err) == gitops.EFORBIDDEN {
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}
