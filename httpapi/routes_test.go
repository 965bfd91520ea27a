package httpapi_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

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
