package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// navTiming is the page load as the browser's Navigation and Paint Timing
// report it, in milliseconds from the start of the navigation.
type navTiming struct {
	ResponseStart    float64 `json:"responseStart"`
	ResponseEnd      float64 `json:"responseEnd"`
	DOMInteractive   float64 `json:"domInteractive"`
	DOMContentLoaded float64 `json:"domContentLoaded"`
	Load             float64 `json:"load"`
	FirstPaint       float64 `json:"firstContentfulPaint"`
	TransferSize     float64 `json:"transferSize"`
	DecodedSize      float64 `json:"decodedBodySize"`
}

const readNavTiming = `(function () {
  var n = performance.getEntriesByType("navigation")[0];
  var p = performance.getEntriesByName("first-contentful-paint")[0];
  return {responseStart: n.responseStart, responseEnd: n.responseEnd, domInteractive: n.domInteractive,
    domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, firstContentfulPaint: p ? p.startTime : -1,
    transferSize: n.transferSize, decodedBodySize: n.decodedBodySize};
})()`

type longTask struct {
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
}

// TestUIBrowserLargeFleet loads the fleet view of 10,000 servers in
// Chromium: paged as it is by default, and all on one page. Every row and
// count must be the API's, and the page must load and refresh without
// hanging the browser. It measures how long that takes and logs it
// (docs/ui.md has the numbers); the only bound is the generous timeout of
// every browser step.
func TestUIBrowserLargeFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,000 servers in a browser")
	}
	browser := newBrowser(t)
	const n = 10000
	p := startFleet(t, n)
	tb := newTab(t, browser, p.URL)

	// The server's side, in the same run: a page against GET /status, the
	// same servers as JSON.
	pageTime := medianGet(t, p.URL+"/ui", 5)
	allTime := medianGet(t, p.URL+"/ui?per_page=10000", 3)
	statusTime := medianGet(t, p.URL+"/status", 5)

	records := records(t, p.URL, "")
	if len(records) != n {
		t.Fatalf("the API has %d servers, want %d", len(records), n)
	}
	var sum apiSummary
	apiGet(t, p.URL+"/summary", &sum)
	want := map[string]int{"all": sum.Total, "stale": sum.Stale, "behind": sum.Behind}
	for st, n := range sum.ByStatus {
		want[st] = n
	}

	// By default: the first page, the counts of the whole fleet.
	tb.open("/ui?refresh=3")
	paged := eval[navTiming](tb, readNavTiming)
	pagedTasks := eval[[]longTask](tb, `window.__longTasks`)
	checkRows(t, eval[[]pageRow](tb, readRows), records[:500])
	if counts := eval[map[string]int](tb, readCounts); !mapsEqual(counts, want) {
		t.Fatalf("the counts show %v, /summary says %v", counts, want)
	}
	tb.screenshot("fleet-10000", false)
	// A refresh in the middle of the page keeps the reader's place.
	tb.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight / 2)`))
	y := eval[int](tb, `window.scrollY`)
	tb.waitFor(`parseInt(document.body.dataset.refreshes || "0", 10) >= 1`, 45*time.Second)
	if got := eval[int](tb, `window.scrollY`); got != y {
		t.Errorf("the refresh scrolled the page from %d to %d", y, got)
	}
	refresh := eval[float64](tb, `performance.getEntriesByName("gitops-refresh")[0].duration`)
	var refreshTasks []longTask
	for _, lt := range eval[[]longTask](tb, `window.__longTasks`) {
		if lt.Start > paged.Load {
			refreshTasks = append(refreshTasks, lt)
		}
	}
	tb.follow(chromedp.Click(chromedp.CSS(`nav.pager a[rel=last]`)))
	if got := tb.path(); got != "/ui?refresh=3&page=20" {
		t.Fatalf("the last page is %s", got)
	}
	checkRows(t, eval[[]pageRow](tb, readRows), records[9500:])

	// Every server on one page, as a URL may ask.
	tb.open("/ui?per_page=10000&refresh=0")
	all := eval[navTiming](tb, readNavTiming)
	allTasks := eval[[]longTask](tb, `window.__longTasks`)
	checkRows(t, eval[[]pageRow](tb, readRows), records)
	tb.checkClean()

	report := fmt.Sprintf(`status page at %d servers (server: median of 5 GETs; browser: one load; same run)
  server: GET /status %.0f ms; GET /ui %.0f ms (%.1fx); GET /ui?per_page=10000 %.0f ms (%.1fx)
  browser, 500 rows (the default page):
%s
    one refresh (fetch, parse, swap): %.0f ms; long tasks: %s
  browser, 10,000 rows on one page:
%s
`, n, ms(statusTime), ms(pageTime), float64(pageTime)/float64(statusTime), ms(allTime), float64(allTime)/float64(statusTime),
		describeLoad(paged, pagedTasks), refresh, describeTasks(refreshTasks), describeLoad(all, allTasks))
	t.Log("\n" + report)
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "measurements.txt"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
}

func describeLoad(nav navTiming, tasks []longTask) string {
	return fmt.Sprintf(`    HTML %.2f MiB (%.2f MiB over the wire)
    first byte %.0f ms, last byte %.0f ms, first contentful paint %.0f ms,
    DOM interactive %.0f ms, DOMContentLoaded %.0f ms, load %.0f ms
    long tasks during load: %s`,
		nav.DecodedSize/(1<<20), nav.TransferSize/(1<<20),
		nav.ResponseStart, nav.ResponseEnd, nav.FirstPaint, nav.DOMInteractive, nav.DOMContentLoaded, nav.Load,
		describeTasks(tasks))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func describeTasks(tasks []longTask) string {
	if len(tasks) == 0 {
		return "none"
	}
	var total, longest float64
	for _, lt := range tasks {
		total += lt.Duration
		longest = max(longest, lt.Duration)
	}
	return fmt.Sprintf("%d, longest %.0f ms, %.0f ms in all", len(tasks), longest, total)
}

// medianGet is the median time of n GETs of url, each read to the end.
func medianGet(t *testing.T, url string, n int) time.Duration {
	t.Helper()
	var times []time.Duration
	for range n {
		start := time.Now()
		res, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %v %d", url, err, res.StatusCode)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[n/2]
}
