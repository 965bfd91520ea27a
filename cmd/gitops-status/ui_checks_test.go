package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the status page's browser tests check of a page, against the API.

// checkFocusVisible fails unless the focused element shows a focus ring.
func checkFocusVisible(t *testing.T, tb *tab) {
	t.Helper()
	style := eval[string](tb, `(function () { var s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`)
	if style != "solid 3px" {
		t.Fatalf("the focused %s has outline %q, want a visible ring", eval[string](tb, `document.activeElement.outerHTML.slice(0, 80)`), style)
	}
}

// checkSorted checks that the rows are sorted by column key within each
// group, host order breaking ties, and that the header says so.
func checkSorted(t *testing.T, tb *tab, key string, desc bool) {
	t.Helper()
	rows := eval[[]pageRow](tb, readRows)
	rank := map[string]int{"failed": 0, "out of sync": 1, "unknown": 2, "synced": 3}
	value := func(r pageRow) int {
		switch key {
		case "files":
			n, _ := strconv.Atoi(r.Files)
			return n
		case "status":
			return rank[r.Status]
		}
		t.Fatalf("no value for %s", key)
		return 0
	}
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		if a.Group != b.Group {
			if a.Group > b.Group {
				t.Fatalf("group %s comes after %s", a.Group, b.Group)
			}
			continue
		}
		va, vb := value(a), value(b)
		if desc {
			va, vb = vb, va
		}
		if va > vb || va == vb && a.Host > b.Host {
			t.Fatalf("sorted by %s (desc %v), %s (%d) comes before %s (%d)", key, desc, a.Host, value(a), b.Host, value(b))
		}
	}
	want := "ascending"
	if desc {
		want = "descending"
	}
	if got := eval[string](tb, `document.querySelector("th[aria-sort]").innerText + " " + document.querySelector("th[aria-sort]").getAttribute("aria-sort")`); !strings.HasSuffix(got, " "+want) {
		t.Fatalf("the sorted header says %q, want %s", got, want)
	}
}

// apiEvent is what the tests compare of an event.
type apiEvent struct {
	ID             int64    `json:"id"`
	Status         string   `json:"status"`
	PreviousStatus string   `json:"previous_status"`
	CommitSHA      string   `json:"commit_sha"`
	UpdatedBy      string   `json:"updated_by"`
	ChangedFiles   []string `json:"changed_files"`
	Source         string   `json:"source"`
}

// pageEvent is a timeline entry as the page shows it.
type pageEvent struct {
	ID     string   `json:"id"`
	What   string   `json:"what"`
	By     string   `json:"by"`
	Commit string   `json:"commit"`
	Files  []string `json:"files"`
}

// checkServerView compares the server view on screen with the API's record
// and history of group/host.
func checkServerView(t *testing.T, tb *tab, base, group, host string) {
	t.Helper()
	var rec map[string]any
	apiGet(t, base+"/status/"+group+"/"+host, &rec)
	fields := eval[map[string]string](tb, `Object.fromEntries(Array.from(document.querySelectorAll("dl.fields > div")).map(function (d) {
		var t = d.querySelector("dd time");
		return [d.querySelector("dt code").innerText, t ? t.getAttribute("datetime") : d.querySelector("dd").innerText.trim()];
	}))`)
	for _, name := range []string{"server_group", "host", "validation_status", "validation_message", "commit_sha", "branch",
		"updated_by", "project_name", "repo_name", "server_type", "environment", "last_source"} {
		want, _ := rec[name].(string)
		if want == "" {
			want = "–"
		}
		if fields[name] != want {
			t.Errorf("the server view shows %s = %q, the API %q", name, fields[name], want)
		}
	}
	for _, name := range []string{"status", "pipeline_status", "drift_status"} {
		want, _ := rec[name].(string)
		if want = strings.ReplaceAll(want, "_", " "); want == "" {
			want = "–"
		}
		if fields[name] != want {
			t.Errorf("the server view shows %s = %q, the API %q", name, fields[name], want)
		}
	}
	for _, name := range []string{"last_pipeline_run", "last_cron_check", "timestamp", "status_since"} {
		want, _ := rec[name].(string)
		if !sameTime(fields[name], &want) && !(want == "" && fields[name] == "never") {
			t.Errorf("the server view shows %s = %q, the API %q", name, fields[name], want)
		}
	}
	if got, want := fields["changed_files_count"], fmt.Sprint(rec["changed_files_count"]); got != want {
		t.Errorf("changed files count %q, the API %q", got, want)
	}
	files := eval[[]string](tb, `Array.from(document.querySelectorAll("section[aria-labelledby=h-files] li")).map(function (li) { return li.innerText; })`)
	if want := toStrings(rec["changed_files"]); !slices.Equal(files, want) {
		t.Errorf("changed files %q, the API %q", files, want)
	}
	labels := eval[map[string]string](tb, `Object.fromEntries(Array.from(document.querySelectorAll("table.labels tbody tr")).map(function (tr) { return [tr.cells[0].innerText, tr.cells[1].innerText]; }))`)
	wantLabels := map[string]string{}
	for k, v := range rec["labels"].(map[string]any) {
		wantLabels[k] = v.(string)
	}
	if !mapsEqual(labels, wantLabels) {
		t.Errorf("labels %v, the API %v", labels, wantLabels)
	}

	var history []apiEvent
	apiGet(t, base+"/status/"+group+"/"+host+"/history", &history)
	events := eval[[]pageEvent](tb, `Array.from(document.querySelectorAll("ol.timeline > li")).map(function (li) {
		var fact = function (name) {
			var d = Array.from(li.querySelectorAll(".ev-facts > div")).find(function (d) { return d.querySelector("dt").innerText === name; });
			return d ? d.querySelector("dd") : null;
		};
		var code = fact("commit").querySelector("code");
		return {
			id: li.id,
			what: (li.querySelector(".ev-what .created") ? "first report: " : "") +
				Array.from(li.querySelectorAll(".ev-what .st")).map(function (s) { return s.innerText.trim(); }).join(" to "),
			by: fact("by").innerText.replace(/\s*\(\w+\)$/, "").trim(),
			commit: code ? code.title : "",
			files: Array.from(fact("files").querySelectorAll("li")).map(function (l) { return l.textContent; })
		};
	})`)
	if len(history) == 0 {
		t.Fatalf("%s/%s has no history: the test would prove little", group, host)
	}
	if len(events) != len(history) {
		t.Fatalf("the timeline shows %d events, the API %d", len(events), len(history))
	}
	word := func(s string) string { return strings.ReplaceAll(s, "_", " ") }
	for i, e := range history {
		got := events[i]
		what := word(e.PreviousStatus) + " to " + word(e.Status)
		if e.PreviousStatus == "" {
			what = "first report: " + word(e.Status)
		}
		by := e.UpdatedBy
		if by == "" {
			by = "–"
		}
		if got.ID != "ev-"+strconv.FormatInt(e.ID, 10) || got.What != what || got.By != by || got.Commit != e.CommitSHA || !slices.Equal(got.Files, e.ChangedFiles) {
			t.Errorf("timeline entry %d shows %+v, the API's event is %+v (want %q by %q)", i, got, e, what, by)
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// jsString quotes s for JavaScript.
func jsString(s string) string { return strconv.Quote(s) }

// spanText is how the page writes a duration (ui.span): one unit, rounded
// down, changing unit at 60 s, 120 min and 48 h.
func spanText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", max(0, int(d/time.Second)))
	case d < 120*time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}
