package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gitops-status/gitops-status/internal/tooltest"
)

// The status page's tests drive Debian's chromium, headless, through
// chromedp against the built binary: what a person would see is read from
// the rendered page and compared with what the API answers.

// chromiumPath finds a Chromium to drive.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile for t, quiet
// (no background networking, component updates or sync), and returns its
// context; every tab of it comes from newTab. Without Chromium the test is
// skipped, or fails when GITOPS_STATUS_REQUIRE_TOOLS=1 (CI).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		tooltest.Missing(t, "chromium is not installed (apt-get install chromium); the status page's browser tests need it")
	}
	profile, err := os.MkdirTemp("", "gitops-status-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Timers of a tab the test does not look at must keep running.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1360, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		// Chromium's helpers may still write to the profile for a moment.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// The first run starts the browser; it must not have a timeout, which
	// would stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium %s: %v", path, err)
	}
	return ctx
}

// tab is one browser tab on a server at base. It records every request
// the page makes and every error the browser reports about it.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	requests []string
	problems []string
	// expected are browser reports a test causes on purpose (a 401 it
	// wants), as substrings; checkClean lets them pass.
	expected []string
}

// initScript runs before any script of every page: it records long tasks
// (the browser busy for more than 50 ms) and Content-Security-Policy
// violations, which the tests read back.
const initScript = `
window.__longTasks = [];
try {
  new PerformanceObserver(function (list) {
    list.getEntries().forEach(function (e) { window.__longTasks.push({start: e.startTime, duration: e.duration}); });
  }).observe({type: "longtask", buffered: true});
} catch (e) {}
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
`

func newTab(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, base: base}
	err := chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.requests = append(tb.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			tb.problems = append(tb.problems, "exception: "+e.ExceptionDetails.Text+" "+exceptionDescription(e.ExceptionDetails))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				tb.problems = append(tb.problems, string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
				tb.problems = append(tb.problems, "console."+string(e.Type))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: initScript}); err != nil {
		t.Fatal(err)
	}
	// A tab in front paints as a person's would (a background tab may
	// not, and then reports no paint timings).
	if _, err := chromedp.Call(ctx, page.BringToFront, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	tb.do(chromedp.EmulateViewport(1360, 860))
	return tb
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// stepTimeout bounds one browser step. It is generous: the machine is
// shared, and this is a bound against hanging, not a measurement.
const stepTimeout = 60 * time.Second

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// open loads path and waits until the page is loaded.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("#main")))
}

// follow runs trigger, which makes the page navigate, and waits for the new
// page to load.
func (tb *tab) follow(trigger chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger)); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	tb.do(chromedp.WaitReady(chromedp.CSS("#main")))
}

// waitFor evaluates a JavaScript predicate every 50 ms until it is true,
// also across a navigation (an evaluation the page's unloading cut short
// is tried again).
func (tb *tab) waitFor(predicate string, timeout time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	tb.t.Fatalf("waiting %s for %s: not true (last error: %v)", timeout, predicate, lastErr)
}

// path is the page's path and query.
func (tb *tab) path() string {
	return eval[string](tb, `location.pathname + location.search`)
}

// screenshot saves what the viewport shows, or the whole page, as
// name.png in the test's artifact directory (go test -artifacts keeps it;
// make screenshots copies them to docs/) and returns its path.
func (tb *tab) screenshot(name string, wholePage bool) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if wholePage {
		shot = chromedp.FullScreenshot(100)
	}
	buf, err := chromedp.Run(ctx, shot)
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(tb.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	return p
}

// colorScheme makes the page see prefers-color-scheme: scheme ("dark" or
// "light"), as a system setting would.
func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		tb.t.Fatal(err)
	}
}

// checkClean fails the test when the page asked anything of another
// origin, broke its Content-Security-Policy or logged an error.
func (tb *tab) checkClean() {
	tb.t.Helper()
	tb.mu.Lock()
	requests := append([]string(nil), tb.requests...)
	problems := append([]string(nil), tb.problems...)
	tb.mu.Unlock()
	if len(requests) == 0 {
		tb.t.Fatal("no request was recorded: the request listener does not work")
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, tb.base+"/") {
			tb.t.Errorf("the page requested %s, outside the service %s", u, tb.base)
		}
	}
	for _, p := range problems {
		if !slices.ContainsFunc(tb.expected, func(s string) bool { return strings.Contains(p, s) }) {
			tb.t.Errorf("the browser reported: %s", p)
		}
	}
	if v := eval[[]string](tb, `window.__cspViolations`); len(v) > 0 {
		tb.t.Errorf("Content-Security-Policy violations: %q", v)
	}
}

// apiGet reads a JSON answer of the API, which must be a 200.
func apiGet(t *testing.T, url string, v any) {
	t.Helper()
	if code := getJSON(t, url, v); code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
}

// apiRecord is what the tests compare of a record.
type apiRecord struct {
	ServerGroup       string   `json:"server_group"`
	Host              string   `json:"host"`
	Status            string   `json:"status"`
	ValidationStatus  string   `json:"validation_status"`
	Environment       string   `json:"environment"`
	ServerType        string   `json:"server_type"`
	CommitSHA         string   `json:"commit_sha"`
	Branch            string   `json:"branch"`
	ChangedFilesCount int      `json:"changed_files_count"`
	ChangedFiles      []string `json:"changed_files"`
	Stale             bool     `json:"stale"`
	Behind            bool     `json:"behind"`
	DesiredCommitSHA  string   `json:"desired_commit_sha"`
	StatusSince       *string  `json:"status_since"`
	LastPipelineRun   *string  `json:"last_pipeline_run"`
	LastCronCheck     *string  `json:"last_cron_check"`
}

type apiSummary struct {
	Total    int                       `json:"total"`
	Stale    int                       `json:"stale"`
	Behind   int                       `json:"behind"`
	ByStatus map[string]int            `json:"by_status"`
	ByGroup  map[string]map[string]int `json:"by_group"`
}

// pageRow is a row of the fleet table as the page shows it.
type pageRow struct {
	Group      string `json:"group"`
	Host       string `json:"host"`
	Status     string `json:"status"`
	Stale      bool   `json:"stale"`
	Behind     bool   `json:"behind"`
	Desired    string `json:"desired"`
	For        string `json:"for"`
	ForISO     string `json:"forISO"`
	Validation string `json:"validation"`
	Env        string `json:"env"`
	Type       string `json:"type"`
	Commit     string `json:"commit"`
	CommitFull string `json:"commitFull"`
	Branch     string `json:"branch"`
	Files      string `json:"files"`
	Pipeline   string `json:"pipeline"`
	PipeTitle  string `json:"pipeTitle"`
	PipeISO    string `json:"pipeISO"`
	Cron       string `json:"cron"`
	CronISO    string `json:"cronISO"`
}

// readRows reads every row of the fleet table from the rendered page: the
// text a person sees in each cell.
const readRows = `Array.from(document.querySelectorAll("table.fleet tbody tr:not(.grp)")).map(function (tr) {
  var c = tr.cells, t = function (i) { return c[i].innerText.trim(); };
  var time = function (i, a) { var e = c[i].querySelector("time"); return e ? e.getAttribute(a) : ""; };
  var code = c[6].querySelector(":scope > code"), desired = c[6].querySelector(".desired code");
  return {
    group: tr.parentElement.dataset.group, host: t(0),
    status: c[1].querySelector(".st").innerText.trim(), stale: !!c[1].querySelector(".badge.stale"),
    behind: !!c[1].querySelector(".badge.behind"), desired: desired ? desired.innerText.trim() : "",
    for: t(2), forISO: time(2, "datetime"),
    validation: t(3), env: t(4), type: t(5),
    commit: code ? code.innerText.trim() : "", commitFull: code ? code.title : "", branch: t(7), files: t(8),
    pipeline: t(9), pipeTitle: time(9, "title"), pipeISO: time(9, "datetime"),
    cron: t(10), cronISO: time(10, "datetime")
  };
})`

// readCounts reads the counts at the top of the fleet view: status (or
// "all", "stale") to number.
const readCounts = `Object.fromEntries(Array.from(document.querySelectorAll("ul.counts a")).map(function (a) {
  return [a.dataset.status || "all", parseInt(a.querySelector(".n").innerText.replace(/,/g, ""), 10)];
}))`

// checkRows compares the page's rows with the API's records, in order.
func checkRows(t *testing.T, rows []pageRow, records []apiRecord) {
	t.Helper()
	if len(rows) != len(records) {
		t.Fatalf("the page shows %d servers, the API has %d", len(rows), len(records))
	}
	for i, r := range records {
		got := rows[i]
		if got.Group != r.ServerGroup || got.Host != r.Host {
			t.Fatalf("row %d is %s/%s, the API's %dth server is %s/%s", i, got.Group, got.Host, i, r.ServerGroup, r.Host)
		}
		want := pageRow{
			Group: r.ServerGroup, Host: r.Host,
			Status: strings.ReplaceAll(r.Status, "_", " "), Stale: r.Stale, Behind: r.Behind,
			Validation: r.ValidationStatus, Env: r.Environment, Type: r.ServerType,
			CommitFull: r.CommitSHA, Branch: r.Branch, Files: itoa(r.ChangedFilesCount),
		}
		want.Commit = r.CommitSHA[:min(7, len(r.CommitSHA))]
		if r.Behind {
			want.Desired = r.DesiredCommitSHA[:min(7, len(r.DesiredCommitSHA))]
		}
		got.For, got.ForISO, got.Pipeline, got.PipeTitle, got.PipeISO, got.Cron, got.CronISO = "", "", "", "", "", "", ""
		if got != want {
			t.Fatalf("row %d shows\n%+v\nthe API says\n%+v", i, got, want)
		}
		if !sameTime(rows[i].ForISO, r.StatusSince) || !sameTime(rows[i].PipeISO, r.LastPipelineRun) || !sameTime(rows[i].CronISO, r.LastCronCheck) {
			t.Fatalf("row %d's times %q %q %q differ from the API's %v %v %v", i,
				rows[i].ForISO, rows[i].PipeISO, rows[i].CronISO, deref(r.StatusSince), deref(r.LastPipelineRun), deref(r.LastCronCheck))
		}
		if r.LastCronCheck == nil && rows[i].Cron != "never" {
			t.Fatalf("row %d: a server never checked by cron shows %q, want never", i, rows[i].Cron)
		}
	}
}

func sameTime(iso string, api *string) bool {
	if api == nil {
		return iso == ""
	}
	a, err1 := time.Parse(time.RFC3339Nano, iso)
	b, err2 := time.Parse(time.RFC3339Nano, *api)
	return err1 == nil && err2 == nil && a.Equal(b)
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
