package ui

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// page is a test server with the status page over a real SQLite store.
type testPage struct {
	t     *testing.T
	store gitops.Store
	h     http.Handler
}

func newTestPage(t *testing.T) *testPage {
	st := mustOpenStore(t)
	u := New(Config{Store: st, Now: func() time.Time { return t0 }, Version: "v-test"})
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		mux.Handle(rt.Method+" "+rt.Path, rt.Handler)
	}
	return &testPage{t: t, store: st, h: mux}
}

func (p *testPage) apply(u gitops.Update) {
	p.t.Helper()
	if _, err := p.store.Apply(context.Background(), u); err != nil {
		p.t.Fatal(err)
	}
}

// get answers GET path, its body decompressed when it came gzipped.
func (p *testPage) get(path string, header ...string) (*http.Response, string) {
	p.t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	res := w.Result()
	body := res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			p.t.Fatal(err)
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		p.t.Fatal(err)
	}
	return res, string(b)
}

// markup is what report data must never become in a page.
const markup = `<script>alert(1)</script><img src=x onerror=alert(2)>"'&`

func seedPage(p *testPage) {
	p.apply(&gitops.PipelineUpdate{ServerGroup: "web", Host: "evil-01", Status: gitops.StatusFailed,
		ValidationStatus: gitops.ValidationFailed, ValidationMessage: markup, CommitSHA: markup, Branch: markup,
		UpdatedBy: markup, Environment: markup, ServerType: markup, ProjectName: markup, RepoName: markup,
		ChangedFiles: []string{markup}, Labels: map[string]string{markup: markup}})
	p.apply(&gitops.CronUpdate{ServerGroup: "web", Host: "evil-01", Status: gitops.StatusOutOfSync, ChangedFiles: []string{markup, "/etc/x"}})
	p.apply(&gitops.PipelineUpdate{ServerGroup: "rsyslog-prod", Host: "rsyslog-01", Status: gitops.StatusSynced, CommitSHA: "abc1234def"})
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	p := newTestPage(t)
	seedPage(p)
	for _, path := range []string{
		"/ui", "/ui?status=failed", "/ui/web/evil-01", "/ui/web", "/ui/_static/ui.css", "/ui/_static/ui.js",
		"/ui/_static/nope.js", "/ui/web/nope", "/ui/web/-bad", "/ui?status=nope",
	} {
		t.Run(path, func(t *testing.T) {
			res, _ := p.get(path)
			for k, want := range map[string]string{
				"Content-Security-Policy": contentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
	for _, directive := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(contentSecurityPolicy, directive+";") && !strings.HasSuffix(contentSecurityPolicy, directive) {
			t.Errorf("the policy lacks %q", directive)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Errorf("the policy allows something unsafe: %s", contentSecurityPolicy)
	}
}

func TestPagesAnswer(t *testing.T) {
	p := newTestPage(t)
	seedPage(p)
	tests := []struct {
		name, path  string
		code        int
		contentType string
		contains    []string
	}{
		{"fleet", "/ui", 200, "text/html; charset=utf-8",
			[]string{`<a href="/ui/rsyslog-prod/rsyslog-01">rsyslog-01</a>`, `>abc1234</code>`, `data-refresh="15"`}},
		{"refresh from the URL", "/ui?refresh=1", 200, "text/html; charset=utf-8", []string{`data-refresh="1"`}},
		{"refresh off", "/ui?refresh=0", 200, "text/html; charset=utf-8", []string{`data-refresh="0"`}},
		{"default page size", "/ui", 200, "text/html; charset=utf-8", []string{`<option selected value="">500</option>`}},
		{"a page size the form does not offer", "/ui?per_page=7", 200, "text/html; charset=utf-8",
			[]string{`<option selected value="7">7</option><option value="100">100</option>`}},
		{"server", "/ui/rsyslog-prod/rsyslog-01", 200, "text/html; charset=utf-8",
			[]string{`<h1>rsyslog-01 <span class="st st-synced">synced</span>`, `abc1234def`, `first report:`}},
		{"history limit", "/ui/web/evil-01?limit=1", 200, "text/html; charset=utf-8",
			[]string{`1 event, newest first; <a href="/ui/web/evil-01?limit=10">show older ones</a>`}},
		{"unknown server", "/ui/web/nope", 404, "text/html; charset=utf-8", []string{"There is no server web/nope."}},
		{"bad host", "/ui/web/-bad", 400, "text/html; charset=utf-8", []string{"must start with a letter or digit"}},
		{"bad limit", "/ui/web/evil-01?limit=0", 400, "text/html; charset=utf-8", []string{"limit &#34;0&#34; is not a number of events from 1 to 10000"}},
		{"bad filter", "/ui?sort=name", 400, "text/html; charset=utf-8", []string{"sort &#34;name&#34; is not a column"}},
		{"group", "/ui/web", 302, "", nil},
		{"unknown static file", "/ui/_static/x.js", 404, "text/html; charset=utf-8", nil},
		{"css", "/ui/_static/ui.css", 200, "text/css; charset=utf-8", []string{"prefers-color-scheme: dark"}},
		{"js", "/ui/_static/ui.js", 200, "text/javascript; charset=utf-8", []string{"visibilitychange"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := p.get(tt.path)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d\n%s", res.StatusCode, tt.code, body)
			}
			if tt.contentType != "" && res.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), tt.contentType)
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("the answer lacks %q:\n%s", s, body)
				}
			}
		})
	}
	res, _ := p.get("/ui/web?status=failed")
	if got := res.Header.Get("Location"); got != "/ui?server_group=web" {
		t.Errorf("/ui/web leads to %q", got)
	}
}

// TestReportDataIsEscaped looks at the HTML itself: markup sent in every
// free-text field must arrive as text, never as elements or attributes.
func TestReportDataIsEscaped(t *testing.T) {
	p := newTestPage(t)
	seedPage(p)
	for _, path := range []string{"/ui", "/ui/web/evil-01", "/ui?q=evil&sort=commit"} {
		_, body := p.get(path)
		for _, bad := range []string{"<script>alert", "<img src=x", `"'&`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s carries %q unescaped", path, bad)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the markup as text", path)
		}
	}
}

// TestNoInlineCodeAndNoOtherOrigin checks every page and file for what the
// Content-Security-Policy would block or what would leave the network:
// inline scripts, style attributes, event handler attributes, and any
// address of another origin (a CDN, a web font).
func TestNoInlineCodeAndNoOtherOrigin(t *testing.T) {
	p := newTestPage(t)
	seedPage(p)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|<style|<[a-z][^>]*\s(?:style|on[a-z]+)=|javascript:`)
	external := regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]`)
	quoted := regexp.MustCompile(`="[^"]*"`)
	cssFetch := regexp.MustCompile(`@import|url\(`)
	for _, path := range []string{"/ui", "/ui/web/evil-01", "/ui/web/nope", "/ui/_static/ui.css", "/ui/_static/ui.js", "/ui/_static/favicon.svg"} {
		_, body := p.get(path)
		// Attribute values hold data (escaped); what is outside them is code.
		if m := inline.FindString(quoted.ReplaceAllString(body, `=""`)); m != "" && !strings.HasSuffix(path, ".js") {
			t.Errorf("%s has inline code: %q", path, m)
		}
		// The SVG names its XML namespace, which is never fetched.
		if m := external.FindString(strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, "")); m != "" {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		if m := cssFetch.FindString(body); m != "" && strings.HasSuffix(path, ".css") {
			t.Errorf("%s fetches something: %q", path, m)
		}
	}
}

func TestGzip(t *testing.T) {
	p := newTestPage(t)
	for i := range 30 {
		p.apply(&gitops.PipelineUpdate{ServerGroup: "g", Host: "h" + strconv.Itoa(i), Status: gitops.StatusSynced})
	}
	tests := []struct {
		name, accept string
		gzipped      bool
	}{
		{"asked for", "gzip, deflate, br", true},
		{"with a weight", "br;q=1.0, gzip;q=0.5", true},
		{"refused", "gzip;q=0", false},
		{"not asked for", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := p.get("/ui", "Accept-Encoding", tt.accept)
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tt.gzipped {
				t.Fatalf("gzipped %v, want %v", got, tt.gzipped)
			}
			if !strings.Contains(body, "</html>") || res.Header.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("a broken answer (Vary %q)", res.Header.Get("Vary"))
			}
		})
	}
}

func TestStaticFilesAreCachedByVersion(t *testing.T) {
	p := newTestPage(t)
	u := New(Config{Store: p.store})
	_, page := p.get("/ui")
	if !strings.Contains(page, `href="`+u.css+`"`) || !strings.Contains(page, `src="`+u.js+`"`) {
		t.Fatalf("the page does not load %s and %s", u.css, u.js)
	}
	res, _ := p.get(u.css)
	if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("the current version is cached %q", got)
	}
	etag := res.Header.Get("ETag")
	res, _ = p.get("/ui/_static/ui.css?v=old")
	if got := res.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("another version is cached %q", got)
	}
	res, _ = p.get("/ui/_static/ui.css", "If-None-Match", etag)
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("a revalidation answers %d, want 304", res.StatusCode)
	}
}

// TestStoreUnavailable shows the store's own reason with 503.
func TestStoreUnavailable(t *testing.T) {
	p := newTestPage(t)
	p.store.Close()
	for _, path := range []string{"/ui", "/ui/g/h"} {
		res, body := p.get(path)
		if res.StatusCode != http.StatusServiceUnavailable && res.StatusCode != http.StatusInternalServerError {
			t.Fatalf("%s: %d on a closed store, want 503 or 500\n%s", path, res.StatusCode, body)
		}
		if !strings.Contains(body, "<h1>") {
			t.Errorf("%s: no error page:\n%s", path, body)
		}
	}
}
