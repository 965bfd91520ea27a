package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestUIBrowserSignIn runs the binary with read tokens: the page asks for a
// token once, keeps it in an HttpOnly, SameSite=Strict cookie that only the
// page receives, signs out, and asks again when the token is revoked.
func TestUIBrowserSignIn(t *testing.T) {
	browser := newBrowser(t)
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	reader := credential{name: "grafana", header: "Bearer read-5c4b3a2918f7e6d5", scopes: []string{"read"}}
	writer := credential{name: "woodpecker", header: "Bearer wp-0a1b2c3d4e5f6789", scopes: []string{"pipeline"}}
	writeTokensFile(t, file, []credential{reader, writer})
	p := startFleet(t, 24, "--tokens-file", file)
	tb := newTab(t, browser, p.URL)
	// The page's own 401s (the sign-in form, a refused refresh) are what
	// this test asks for; the browser logs each.
	tb.expected = []string{"status of 401", "status of 403"}
	secret := func(c credential) string { return strings.TrimPrefix(c.header, "Bearer ") }
	signIn := func(token string) {
		t.Helper()
		tb.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("token").value = ""`))
		tb.follow(chromedp.SendKeys(chromedp.ID("token"), token+kb.Enter))
	}
	onSignIn := func() bool {
		return eval[bool](tb, `document.querySelector("h1").innerText === "Sign in" && !!document.getElementById("token")`)
	}
	message := func() string {
		return eval[string](tb, `(document.querySelector(".error-message") || {innerText: ""}).innerText`)
	}

	tb.open("/ui?status=out_of_sync")
	if !onSignIn() {
		t.Fatal("without a token the page does not ask for one")
	}
	signIn("not-a-known-token-123")
	if !onSignIn() || message() != "That token is not known." {
		t.Fatalf("an unknown token: sign-in form %v, message %q", onSignIn(), message())
	}
	signIn(secret(writer))
	if !onSignIn() || !strings.Contains(message(), "cannot read") {
		t.Fatalf("a pipeline token: sign-in form %v, message %q", onSignIn(), message())
	}
	if cookies := pageCookies(t, tb); len(cookies) != 0 {
		t.Fatalf("refused tokens left cookies: %v", cookies)
	}

	signIn(secret(reader))
	if got := tb.path(); got != "/ui?status=out_of_sync" {
		t.Fatalf("after signing in the page is %s, want the one asked for", got)
	}
	checkRows(t, eval[[]pageRow](tb, readRows), authRecords(t, p.URL+"/status?status=out_of_sync", reader.header))
	cookies := pageCookies(t, tb)
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want one", cookies)
	}
	c := cookies[0]
	if c.Name != "gitops_status_token" || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/ui" || c.Secure || c.Session {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, kept across sessions, not Secure over plain HTTP", c)
	}
	if strings.Contains(c.Value, secret(reader)) {
		t.Error("the cookie holds the token as it is; it is kept encoded")
	}
	if got := eval[string](tb, `document.cookie`); got != "" {
		t.Errorf("scripts can read the cookie: %q", got)
	}
	// The cookie is the page's: the API does not take it.
	if got := eval[int](tb, `fetch("/status").then(function (r) { return r.status; })`); got != 401 {
		t.Errorf("the page's fetch of /status answered %d, want 401", got)
	}

	// Asked once: every page and its refreshes work with the cookie.
	tb.follow(chromedp.Click(chromedp.CSS(`table.fleet tbody tr:not(.grp) th a`)))
	if onSignIn() || eval[int](tb, `document.querySelectorAll("dl.fields > div").length`) == 0 {
		t.Fatal("the server view asks for the token again")
	}
	tb.open("/ui?refresh=1")
	tb.waitFor(`parseInt(document.body.dataset.refreshes || "0", 10) >= 1`, 10*time.Second)
	tb.screenshot("fleet-signed-in", false)

	// Revoking the token ends it: the next refresh shows the form.
	writeTokensFile(t, file, []credential{{name: "grafana", header: "Bearer read-new-0f1e2d3c4b5a", scopes: []string{"read"}}, writer})
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	tb.waitFor(`!!document.getElementById("token")`, 15*time.Second)
	if !strings.Contains(message(), "not known (any more)") {
		t.Errorf("after the token was revoked the form says %q", message())
	}
	tb.screenshot("signin", false)

	signIn("read-new-0f1e2d3c4b5a")
	tb.follow(chromedp.Click(chromedp.CSS(`form.logout button`)))
	if !onSignIn() || len(pageCookies(t, tb)) != 0 {
		t.Fatalf("after signing out: sign-in form %v, cookies %v", onSignIn(), pageCookies(t, tb))
	}
	tb.checkClean()
}

// pageCookies are the cookies the browser keeps for the page.
func pageCookies(t *testing.T, tb *tab) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.base + "/ui"}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cookies
}

// authRecords reads a list answer of the API with a token.
func authRecords(t *testing.T, url, authorization string) []apiRecord {
	t.Helper()
	code, body, _ := request(t, "GET", url, "", authorization)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var rs []apiRecord
	if err := json.Unmarshal(body, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}
