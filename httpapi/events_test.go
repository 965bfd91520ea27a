package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// history stores, one minute apart:
//
//	10:30 g/h  created synced (pipeline, commit c1)
//	10:31 g/h  out_of_sync (cron)
//	10:32 g/h  out_of_sync again (cron, same files: no event)
//	10:33 g2/x created failed (pipeline)
func history(e *env) {
	e.tb.Helper()
	e.pipeline("g", "h", "synced", `"commit_sha":"c1"`, `"updated_by":"woodpecker"`)
	e.clock.Advance(time.Minute)
	e.cron("g", "h", "out_of_sync", `"changed_files":["/etc/a.conf"]`)
	e.clock.Advance(time.Minute)
	e.cron("g", "h", "out_of_sync", `"changed_files":["/etc/a.conf"]`)
	e.clock.Advance(time.Minute)
	e.pipeline("g2", "x", "failed")
}

// eventKeys renders events as "group/host@HH:MM status".
func eventKeys(l []map[string]any) string {
	out := make([]string, len(l))
	for i, ev := range l {
		tm, _ := time.Parse(time.RFC3339Nano, ev["time"].(string))
		out[i] = ev["server_group"].(string) + "/" + ev["host"].(string) + "@" + tm.Format("15:04") + " " + ev["status"].(string)
	}
	return strings.Join(out, ",")
}

func TestEvents(t *testing.T) {
	e := newEnv(t)
	history(e)
	at := func(hhmm string) time.Time {
		tm, _ := time.Parse("2006-01-02T15:04Z", "2026-04-26T"+hhmm+"Z")
		return tm
	}
	ms := func(hhmm string) string { return strconv.FormatInt(at(hhmm).UnixMilli(), 10) }
	sec := func(hhmm string) string { return strconv.FormatInt(at(hhmm).Unix(), 10) }
	tests := []struct {
		query, want string
	}{
		{"", "g2/x@10:33 failed,g/h@10:31 out_of_sync,g/h@10:30 synced"},
		{"?server_group=g", "g/h@10:31 out_of_sync,g/h@10:30 synced"},
		{"?server_group=g&server_group=g2", "g2/x@10:33 failed,g/h@10:31 out_of_sync,g/h@10:30 synced"},
		{"?status=failed&status=SYNCED", "g2/x@10:33 failed,g/h@10:30 synced"},
		{"?since=2026-04-26T10:31:00Z", "g2/x@10:33 failed,g/h@10:31 out_of_sync"},
		{"?until=2026-04-26T10:31:00Z", "g/h@10:31 out_of_sync,g/h@10:30 synced"},
		{"?since=" + ms("10:31") + "&until=" + ms("10:32"), "g/h@10:31 out_of_sync"},
		// ${__from:date:seconds}: epoch seconds, not milliseconds of 1970.
		{"?since=" + sec("10:31") + "&until=" + sec("10:32"), "g/h@10:31 out_of_sync"},
		{"?since=" + sec("10:31") + "&until=" + ms("10:33"), "g2/x@10:33 failed,g/h@10:31 out_of_sync"},
		{"?since=2026-04-26T13:31:00%2B03:00", "g2/x@10:33 failed,g/h@10:31 out_of_sync"},
		{"?since=2026-04-26T13:31:00+03:00", "g2/x@10:33 failed,g/h@10:31 out_of_sync"}, // unescaped '+'
		{"?since=2026-04-26T10:31:00", "g2/x@10:33 failed,g/h@10:31 out_of_sync"},
		{"?limit=1", "g2/x@10:33 failed"},
		{"?server_group=nothing", ""},
		{"?since=2030-01-01T00:00:00Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := e.want(http.StatusOK, "GET", "/events"+tt.query, "")
			if got := eventKeys(array(t, rec)); got != tt.want {
				t.Fatalf("events\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestEventFields(t *testing.T) {
	e := newEnv(t)
	history(e)
	l := array(t, e.want(http.StatusOK, "GET", "/events?server_group=g", ""))
	first := l[1] // the creation
	delete(first, "id")
	jsonEqual(t, first, `{
		"time": "2026-04-26T10:30:00Z", "server_group": "g", "host": "h", "source": "pipeline",
		"status": "synced", "previous_status": "", "commit_sha": "c1", "validation_status": "unknown",
		"changed_files": [], "updated_by": "woodpecker", "changes": ["created"]}`)
	drift := l[0]
	if drift["id"] == nil {
		t.Fatal("event without id")
	}
	delete(drift, "id")
	jsonEqual(t, drift, `{
		"time": "2026-04-26T10:31:00Z", "server_group": "g", "host": "h", "source": "cron",
		"status": "out_of_sync", "previous_status": "synced", "commit_sha": "c1", "validation_status": "unknown",
		"changed_files": ["/etc/a.conf"], "updated_by": "", "changes": ["status", "changed_files"]}`)
	// The fields come in SPEC §3's order, changes last.
	body := e.want(http.StatusOK, "GET", "/events?server_group=g&limit=1", "").Body.String()
	order := []string{`"id"`, `"time"`, `"server_group"`, `"host"`, `"source"`, `"status"`, `"previous_status"`,
		`"commit_sha"`, `"validation_status"`, `"changed_files"`, `"updated_by"`, `"changes"`}
	at := 0
	for _, k := range order {
		i := strings.Index(body[at:], k)
		if i < 0 {
			t.Fatalf("event %s: %s missing or out of order", body, k)
		}
		at += i
	}
}

// TestEventChanges: an event says what made it, so that an annotation can
// read "new commit" where the status stayed failed.
func TestEventChanges(t *testing.T) {
	e := newEnv(t)
	e.pipeline("g", "h", "failed", `"commit_sha":"c1"`, `"changed_files":["/etc/a"]`)
	e.clock.Advance(time.Minute)
	e.pipeline("g", "h", "failed", `"commit_sha":"c2"`, `"changed_files":["/etc/a"]`, `"validation_status":"failed"`)
	l := array(t, e.want(http.StatusOK, "GET", "/events?limit=1", ""))
	if got, _ := json.Marshal(l[0]["changes"]); string(got) != `["commit_sha","validation_status"]` {
		t.Fatalf("changes = %s, want [\"commit_sha\",\"validation_status\"]", got)
	}
	if l[0]["status"] != "failed" || l[0]["previous_status"] != "failed" {
		t.Fatalf("status %v, previous %v; want failed, failed", l[0]["status"], l[0]["previous_status"])
	}
}

func TestEventsEmptyIsArray(t *testing.T) {
	e := newEnv(t)
	if got := strings.TrimSpace(e.want(http.StatusOK, "GET", "/events", "").Body.String()); got != "[]" {
		t.Fatalf("GET /events on an empty store = %s, want []", got)
	}
}

func TestHistory(t *testing.T) {
	e := newEnv(t)
	history(e)
	tests := []struct {
		path, want string
	}{
		{"/status/g/h/history", "g/h@10:31 out_of_sync,g/h@10:30 synced"},
		{"/status/g/h/history?limit=1", "g/h@10:31 out_of_sync"},
		{"/status/g/h/history?since=2026-04-26T10:30:30Z", "g/h@10:31 out_of_sync"},
		{"/status/g/h/history?since=2026-04-26T11:00:00Z", ""},
		{"/status/g2/x/history", "g2/x@10:33 failed"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := eventKeys(array(t, e.want(http.StatusOK, "GET", tt.path, ""))); got != tt.want {
				t.Fatalf("history\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	// Host names are per group: g2/h does not exist although g/h does.
	if msg := e.errorAnswer(http.StatusNotFound, "", "GET", "/status/g2/h/history", ""); msg != "server g2/h not found" {
		t.Fatalf("404 message %q", msg)
	}
	// A host called "history" is a host.
	e.pipeline("g", "history", "synced")
	if got := object(t, e.want(http.StatusOK, "GET", "/status/g/history", ""))["host"]; got != "history" {
		t.Fatalf("GET /status/g/history host = %v", got)
	}
}

func TestHistoryDefaultLimit(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 105; i++ {
		e.pipeline("g", "h", "synced", `"commit_sha":"c`+strconv.Itoa(i)+`"`)
		e.clock.Advance(time.Second)
	}
	l := array(t, e.want(http.StatusOK, "GET", "/status/g/h/history", ""))
	if len(l) != 100 {
		t.Fatalf("history has %d events, want the default limit 100", len(l))
	}
	if l[0]["commit_sha"] != "c104" {
		t.Fatalf("newest event first: got %v", l[0]["commit_sha"])
	}
	if l := array(t, e.want(http.StatusOK, "GET", "/status/g/h/history?limit=10000", "")); len(l) != 105 {
		t.Fatalf("limit=10000 gave %d events, want 105", len(l))
	}
}

func TestSummary(t *testing.T) {
	e := newEnv(t, withStaleAfter(time.Hour))
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/summary", "")), `{
		"total": 0, "stale": 0, "behind": 0,
		"by_status": {"synced": 0, "out_of_sync": 0, "failed": 0, "unknown": 0},
		"by_group": {}, "by_environment": {}}`)

	fleet(e)
	e.clock.Advance(2 * time.Hour)
	e.pipeline("c", "1", "synced", `"environment":"prod"`)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/summary", "")), `{
		"total": 6, "stale": 5, "behind": 0,
		"by_status": {"synced": 3, "out_of_sync": 1, "failed": 1, "unknown": 1},
		"by_group": {
			"a": {"synced": 1, "out_of_sync": 1, "failed": 1, "unknown": 0},
			"b": {"synced": 1, "out_of_sync": 0, "failed": 0, "unknown": 1},
			"c": {"synced": 1, "out_of_sync": 0, "failed": 0, "unknown": 0}},
		"by_environment": {
			"prod": {"synced": 3, "out_of_sync": 1, "failed": 0, "unknown": 0},
			"dev": {"synced": 0, "out_of_sync": 0, "failed": 1, "unknown": 1}}}`)
}

// TestSummaryCountsBehind checks that /summary counts the servers whose
// commit is not their branch's desired one, as /status marks them.
func TestSummaryCountsBehind(t *testing.T) {
	e := newEnv(t)
	e.pipeline("g", "old", "synced", `"repo_name":"org/r"`, `"branch":"main"`, `"commit_sha":"aaaaaaa"`)
	e.pipeline("g", "new", "synced", `"repo_name":"org/r"`, `"branch":"main"`, `"commit_sha":"bbbbbbb"`)
	e.pipeline("g", "other", "synced", `"repo_name":"org/s"`, `"branch":"main"`, `"commit_sha":"aaaaaaa"`)
	e.want(http.StatusOK, "POST", "/desired", `{"repo_name":"org/r","branch":"main","commit_sha":"bbbbbbb"}`)
	if got := fmt.Sprint(object(t, e.want(http.StatusOK, "GET", "/summary", ""))["behind"]); got != "1" {
		t.Errorf("summary behind = %v, want 1 (g/old)", got)
	}
}

func TestIndexHealthReady(t *testing.T) {
	e := newEnv(t)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/", "")), `{
		"name": "gitops-status", "version": "1.2.3-test", "api_version": "2.0",
		"endpoints": [
			"GET /", "GET /health", "GET /ready",
			"POST /status/pipeline", "POST /status/cron",
			"GET /status", "GET /status/{server_group}", "GET /status/{server_group}/{host}",
			"DELETE /status/{server_group}/{host}", "GET /status/{server_group}/{host}/history",
			"GET /events", "GET /summary",
			"POST /desired", "GET /desired", "DELETE /desired/{repo_name}/{branch}",
			"GET /api/status", "POST /api/status",
			"GET /openapi.yaml"],
		"auth_enabled": false}`)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/health", "")), `{"status": "ok"}`)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/ready", "")), `{"status": "ready"}`)
	if rec := e.do("HEAD", "/health", ""); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /health: %d", rec.Code)
	}
	// Every endpoint GET / lists is routed.
	var info struct{ Endpoints []string }
	if err := json.Unmarshal(e.want(http.StatusOK, "GET", "/", "").Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	for _, ep := range info.Endpoints {
		method, path, _ := strings.Cut(ep, " ")
		path = strings.NewReplacer("{server_group}", "g", "{host}", "h").Replace(path)
		rec := e.do(method, path, "{}")
		if rec.Code == http.StatusMethodNotAllowed || strings.Contains(rec.Body.String(), "not an endpoint") {
			t.Errorf("%s is listed but not routed: %d %s", ep, rec.Code, rec.Body)
		}
	}
}
