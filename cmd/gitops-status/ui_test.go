package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// startFleet starts the binary on a fleet of n generated servers, imported
// on first start, with --stale-after 24h and args, and returns it.
func startFleet(t *testing.T, n int, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	doc := filepath.Join(dir, "fleet.json")
	if err := os.WriteFile(doc, fleetDocument(n, time.Now().UTC()), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServe(t, nil, append([]string{"--data-dir", filepath.Join(dir, "data"), "--import-file", doc, "--stale-after", "24h"}, args...)...)
}

// historyServer is the small fleet's server with a history of live reports.
const (
	historyGroup = "rsyslog-prod-fra1"
	historyHost  = "rsyslog-fra1-001"
)

// htmlMessage is a validation message made of markup, which must show as
// text and run nothing.
const htmlMessage = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>`

// seedLive sends the reports that give the small fleet its history: a
// deploy, a drift, a failed deploy and a fix on one server, and a server
// whose fields are HTML.
func seedLive(t *testing.T, base string) {
	t.Helper()
	reports := []struct{ path, body string }{
		{"/status/pipeline", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-001","status":"synced","commit_sha":"1111111aaaaaaa","branch":"master","environment":"prod","server_type":"rsyslog","repo_name":"rsyslog","validation_status":"passed","changed_files":["/etc/rsyslog.conf"],"updated_by":"woodpecker","labels":{"datacenter":"fra1","owner":"team-rsyslog"}}`},
		{"/status/cron", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-001","status":"out_of_sync","changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf"]}`},
		{"/status/pipeline", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-001","status":"failed","commit_sha":"2222222bbbbbbb","branch":"master","environment":"prod","server_type":"rsyslog","repo_name":"rsyslog","validation_status":"failed","validation_message":"rsyslogd -N1: error on line 12","changed_files":["/etc/rsyslog.conf"],"updated_by":"jenkins","labels":{"datacenter":"fra1","owner":"team-rsyslog"}}`},
		{"/status/pipeline", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-001","status":"synced","commit_sha":"3333333ccccccc","branch":"master","environment":"prod","server_type":"rsyslog","repo_name":"rsyslog","validation_status":"passed","validation_message":"rsyslog syntax check passed","changed_files":["/etc/rsyslog.conf","/etc/rsyslog.d/50-default.conf"],"updated_by":"woodpecker","labels":{"datacenter":"fra1","owner":"team-rsyslog"}}`},
		{"/status/pipeline", fmt.Sprintf(`{"server_group":"web-prod","host":"evil-01","status":"failed","environment":"<i>prod</i>","server_type":"nginx","validation_status":"failed","validation_message":%q,"commit_sha":"<svg onload=alert(1)>","branch":"<u>feature</u>","updated_by":"<b>mallory</b>","changed_files":["<i>/etc/evil</i>"],"labels":{"<script>k</script>":"<a href=//evil.example>v</a>"}}`, htmlMessage)},
	}
	for _, r := range reports {
		if code, body := post(t, base+r.path, r.body); code != 200 {
			t.Fatalf("POST %s: %d %v", r.path, code, body)
		}
	}
	// rsyslog's master moved on: the history server is behind.
	if code, body := post(t, base+"/desired", `{"repo_name":"org/rsyslog","branch":"master","commit_sha":"4444444dddddddd"}`); code != 200 {
		t.Fatalf("POST /desired: %d %v", code, body)
	}
}

// listURL is GET /status with a query.
func records(t *testing.T, base, query string) []apiRecord {
	t.Helper()
	var rs []apiRecord
	apiGet(t, base+"/status"+query, &rs)
	return rs
}

// TestUIBrowser drives the status page in a real Chromium on a small
// realistic fleet and compares what it shows with what the API answers.
func TestUIBrowser(t *testing.T) {
	browser := newBrowser(t)
	p := startFleet(t, 24)
	seedLive(t, p.URL)
	tb := newTab(t, browser, p.URL)

	t.Run("fleet shows every server as the API does", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, ""))
		tb.screenshot("fleet", false)
	})

	t.Run("counts match /summary", func(t *testing.T) {
		tb.t = t
		var sum apiSummary
		apiGet(t, p.URL+"/summary", &sum)
		counts := eval[map[string]int](tb, readCounts)
		want := map[string]int{"all": sum.Total, "stale": sum.Stale, "behind": sum.Behind}
		for st, n := range sum.ByStatus {
			want[st] = n
		}
		if !mapsEqual(counts, want) {
			t.Fatalf("the counts show %v, /summary says %v", counts, want)
		}
		for _, st := range []string{"synced", "out_of_sync", "failed", "unknown"} {
			if want[st] == 0 {
				t.Fatalf("the seeded fleet has no %s server: the test would prove little", st)
			}
		}
		if sum.Stale == 0 {
			t.Fatal("the seeded fleet has no stale server")
		}
		if n := eval[int](tb, `document.querySelectorAll("table.fleet .badge.stale").length`); n != sum.Stale {
			t.Fatalf("%d rows carry the stale badge, /summary counts %d stale", n, sum.Stale)
		}
		if sum.Behind == 0 {
			t.Fatal("the seeded fleet has no server behind its branch")
		}
		if n := eval[int](tb, `document.querySelectorAll("table.fleet .badge.behind").length`); n != sum.Behind {
			t.Fatalf("%d rows carry the behind badge, /summary counts %d behind", n, sum.Behind)
		}
	})

	t.Run("the behind count filters the table; the server view shows the desired commit", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.follow(chromedp.Click(chromedp.CSS(`ul.counts a[data-status="behind"]`)))
		if got := tb.path(); got != "/ui?behind=true" {
			t.Fatalf("after clicking behind the page is %s", got)
		}
		rows := eval[[]pageRow](tb, readRows)
		checkRows(t, rows, records(t, p.URL, "?behind=true"))
		for _, r := range rows {
			if !r.Behind || r.Desired != "4444444" {
				t.Fatalf("the behind filter shows %+v", r)
			}
		}
		tb.open("/ui/" + historyGroup + "/" + historyHost)
		if n := eval[int](tb, `document.querySelectorAll("h1 .badge.behind").length`); n != 1 {
			t.Fatalf("the server view of a server behind has %d behind badges in its title, want 1", n)
		}
		got := eval[string](tb, `(function () { var c = document.querySelector("dl.fields code"); var dts = document.querySelectorAll("dl.fields dt code");
		  for (var i = 0; i < dts.length; i++) { if (dts[i].innerText === "desired_commit_sha") { return dts[i].closest("div").querySelector("dd").innerText.trim(); } } return ""; })()`)
		if got != "4444444dddddddd" {
			t.Fatalf("the server view shows desired_commit_sha %q, want 4444444dddddddd", got)
		}
	})

	t.Run("relative times and exact times on hover", func(t *testing.T) {
		tb.t = t
		asOf, err := time.Parse(time.RFC3339Nano, eval[string](tb, `document.querySelector("#asof time").getAttribute("datetime")`))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range eval[[]pageRow](tb, readRows) {
			since, err := time.Parse(time.RFC3339Nano, r.ForISO)
			if err != nil {
				t.Fatalf("row %d: status_since %q: %v", i, r.ForISO, err)
			}
			if want := spanText(asOf.Sub(since)); r.For != want {
				t.Errorf("row %d (%s) is in its status for %q, want %q (status_since %s, page at %s)", i, r.Host, r.For, want, since, asOf)
			}
			pipe, _ := time.Parse(time.RFC3339Nano, r.PipeISO)
			if want := spanText(asOf.Sub(pipe)) + " ago"; r.Pipeline != want {
				t.Errorf("row %d (%s) last pipeline %q, want %q", i, r.Host, r.Pipeline, want)
			}
			if want := pipe.UTC().Format("2006-01-02 15:04:05 UTC"); r.PipeTitle != want {
				t.Errorf("row %d (%s) last pipeline on hover %q, want %q", i, r.Host, r.PipeTitle, want)
			}
		}
	})

	t.Run("status counts filter the table", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.follow(chromedp.Click(chromedp.CSS(`ul.counts a[data-status="out_of_sync"]`)))
		if got := tb.path(); got != "/ui?status=out_of_sync" {
			t.Fatalf("after clicking out of sync the page is %s", got)
		}
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, "?status=out_of_sync"))
		tb.follow(chromedp.Click(chromedp.CSS(`ul.counts a[data-status="failed"]`)))
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, "?status=out_of_sync&status=failed"))
		if cur := eval[[]string](tb, `Array.from(document.querySelectorAll("ul.counts a[aria-current]")).map(function (a) { return a.dataset.status; })`); !slices.Equal(cur, []string{"failed", "out_of_sync"}) {
			t.Fatalf("the counts marked as filtering are %q", cur)
		}
	})

	t.Run("filters narrow it and stay in the URL", func(t *testing.T) {
		tb.t = t
		tb.follow(chromedp.Evaluate[chromedp.Void](`var s = document.getElementById("f-env"); s.value = "prod"; s.dispatchEvent(new Event("change", {bubbles: true}))`))
		if got := tb.path(); got != "/ui?environment=prod&status=out_of_sync&status=failed" {
			t.Fatalf("after choosing an environment the page is %s", got)
		}
		want := records(t, p.URL, "?environment=prod&status=out_of_sync&status=failed")
		checkRows(t, eval[[]pageRow](tb, readRows), want)
		// The same URL, shared, shows the same view.
		tb.open("/ui?environment=prod&status=out_of_sync&status=failed")
		checkRows(t, eval[[]pageRow](tb, readRows), want)
		tb.follow(chromedp.Click(chromedp.CSS(`a.clear`)))
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, ""))

		tb.follow(chromedp.Evaluate[chromedp.Void](`var s = document.getElementById("f-group"); s.value = "splunk-staging-fra1"; s.dispatchEvent(new Event("change", {bubbles: true}))`))
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, "?server_group=splunk-staging-fra1"))
		tb.open("/ui?server_type=nginx")
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, "?server_type=nginx"))
	})

	t.Run("search on host", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.follow(chromedp.SendKeys(chromedp.ID("f-q"), "FRA1-00"+kb.Enter))
		if got := tb.path(); got != "/ui?q=FRA1-00" {
			t.Fatalf("after searching the page is %s", got)
		}
		var want []apiRecord
		for _, r := range records(t, p.URL, "") {
			if strings.Contains(r.Host, "fra1-00") {
				want = append(want, r)
			}
		}
		if len(want) == 0 || len(want) == len(records(t, p.URL, "")) {
			t.Fatalf("the search matches %d servers: it narrows nothing", len(want))
		}
		checkRows(t, eval[[]pageRow](tb, readRows), want)
	})

	t.Run("sortable columns", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.follow(chromedp.Click(chromedp.CSS(`th a[href$="sort=files"]`)))
		checkSorted(t, tb, "files", false)
		tb.follow(chromedp.Click(chromedp.CSS(`th a[href$="sort=-files"]`)))
		checkSorted(t, tb, "files", true)
		tb.follow(chromedp.Click(chromedp.CSS(`th a[href$="sort=status"]`)))
		checkSorted(t, tb, "status", false)
	})

	t.Run("server view shows every field and the history", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.follow(chromedp.Click(chromedp.CSS(`a[href="/ui/` + historyGroup + `/` + historyHost + `"]`)))
		if got := tb.path(); got != "/ui/"+historyGroup+"/"+historyHost {
			t.Fatalf("the host link led to %s", got)
		}
		checkServerView(t, tb, p.URL, historyGroup, historyHost)
		tb.screenshot("server", true)
	})

	t.Run("markup in reports shows as text", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		title := eval[string](tb, `document.querySelector('a[href="/ui/web-prod/evil-01"]').closest("tr").querySelector(".v").title`)
		if title != htmlMessage {
			t.Fatalf("the validation message on hover is %q, want the message as sent", title)
		}
		tb.open("/ui/web-prod/evil-01")
		checkServerView(t, tb, p.URL, "web-prod", "evil-01")
		for _, text := range []string{htmlMessage, "<b>mallory</b>", "<i>/etc/evil</i>", "<a href=//evil.example>v</a>", "<script>k</script>", "<u>feature</u>", "<i>prod</i>"} {
			if !eval[bool](tb, `document.getElementById("main").innerText.includes(`+jsString(text)+`)`) {
				t.Errorf("the page does not show %q as text", text)
			}
		}
		injected := eval[[]string](tb, `Array.from(document.querySelectorAll("#main script, #main img, #main b, #main i, #main u, #main svg, a[href*='evil.example']")).map(function (e) { return e.outerHTML; })`)
		if len(injected) > 0 {
			t.Errorf("report data became markup: %q", injected)
		}
		if eval[bool](tb, `typeof window.__pwned !== "undefined"`) {
			t.Error("a script from a report ran")
		}
	})

	t.Run("a new report appears after a refresh, filters and scroll kept", func(t *testing.T) {
		tb.t = t
		tb.do(chromedp.EmulateViewport(1360, 420))
		defer tb.do(chromedp.EmulateViewport(1360, 860))
		tb.open("/ui?status=out_of_sync&refresh=1")
		tb.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 120)`))
		y := eval[int](tb, `window.scrollY`)
		if y == 0 {
			t.Fatal("the page cannot scroll; the test needs it to")
		}
		post(t, p.URL+"/status/cron", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-099","status":"out_of_sync","changed_files":["/etc/rsyslog.conf"]}`)
		post(t, p.URL+"/status/cron", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-098","status":"synced"}`)
		tb.waitFor(`!!document.querySelector('a[href="/ui/rsyslog-prod-fra1/rsyslog-fra1-099"]')`, 15*time.Second)
		if got := tb.path(); got != "/ui?status=out_of_sync&refresh=1" {
			t.Fatalf("the refresh changed the page to %s", got)
		}
		if got := eval[int](tb, `window.scrollY`); got != y {
			t.Errorf("the refresh scrolled the page from %d to %d", y, got)
		}
		checkRows(t, eval[[]pageRow](tb, readRows), records(t, p.URL, "?status=out_of_sync"))
		if eval[int](tb, `parseInt(document.body.dataset.refreshes, 10)`) < 1 {
			t.Fatal("no refresh was counted")
		}
	})

	t.Run("refresh pauses while the tab is hidden", func(t *testing.T) {
		tb.t = t
		tb.open("/ui?refresh=1")
		tb.waitFor(`parseInt(document.body.dataset.refreshes || "0", 10) >= 1`, 10*time.Second)
		tb.do(chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, "hidden", {configurable: true, get: function () { return true; }});
			document.dispatchEvent(new Event("visibilitychange"))`))
		time.Sleep(1500 * time.Millisecond) // a refresh under way finishes
		before := eval[int](tb, `parseInt(document.body.dataset.refreshes, 10)`)
		post(t, p.URL+"/status/cron", `{"server_group":"rsyslog-prod-fra1","host":"rsyslog-fra1-097","status":"failed"}`)
		time.Sleep(3500 * time.Millisecond)
		if after := eval[int](tb, `parseInt(document.body.dataset.refreshes, 10)`); after != before {
			t.Fatalf("the hidden tab refreshed %d times", after-before)
		}
		if eval[bool](tb, `!!document.querySelector('a[href="/ui/rsyslog-prod-fra1/rsyslog-fra1-097"]')`) {
			t.Fatal("the hidden tab shows a report sent while it was hidden")
		}
		tb.do(chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, "hidden", {configurable: true, get: function () { return false; }});
			document.dispatchEvent(new Event("visibilitychange"))`))
		tb.waitFor(`!!document.querySelector('a[href="/ui/rsyslog-prod-fra1/rsyslog-fra1-097"]')`, 5*time.Second)
	})

	t.Run("keyboard reaches the filters with a visible focus", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		tb.do(chromedp.KeyEvent(kb.Tab))
		if got := eval[string](tb, `document.activeElement.className`); got != "skip" {
			t.Fatalf("the first Tab focuses %q, want the skip link", got)
		}
		checkFocusVisible(t, tb)
		for range 40 {
			if eval[bool](tb, `document.activeElement.matches('ul.counts a[data-status="failed"]')`) {
				break
			}
			tb.do(chromedp.KeyEvent(kb.Tab))
			checkFocusVisible(t, tb)
		}
		if !eval[bool](tb, `document.activeElement.matches('ul.counts a[data-status="failed"]')`) {
			t.Fatal("40 Tabs do not reach the failed count")
		}
		tb.follow(chromedp.KeyEvent(kb.Enter))
		if got := tb.path(); got != "/ui?status=failed" {
			t.Fatalf("Enter on the failed count leads to %s", got)
		}
		for range 60 {
			tb.do(chromedp.KeyEvent(kb.Tab))
			if eval[bool](tb, `document.activeElement.matches("thead th a")`) {
				break
			}
		}
		if !eval[bool](tb, `document.activeElement.matches("thead th a")`) {
			t.Fatal("the column headers cannot be reached with Tab")
		}
		checkFocusVisible(t, tb)
	})

	t.Run("dark mode follows the system", func(t *testing.T) {
		tb.t = t
		tb.open("/ui")
		bg := `getComputedStyle(document.documentElement).backgroundColor`
		tb.colorScheme("dark")
		if got := eval[string](tb, bg); got != "rgb(13, 17, 23)" {
			t.Errorf("the dark page's background is %s", got)
		}
		tb.screenshot("fleet-dark", false)
		tb.colorScheme("light")
		if got := eval[string](tb, bg); got != "rgb(255, 255, 255)" {
			t.Errorf("the light page's background is %s", got)
		}
	})

	tb.t = t
	tb.checkClean()
}
