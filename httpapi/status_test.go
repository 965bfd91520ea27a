package httpapi_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// jsonEqual compares a decoded answer with the JSON text want.
func jsonEqual(tb testing.TB, got any, want string) {
	tb.Helper()
	var w any
	dec := json.NewDecoder(strings.NewReader(want))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		tb.Fatalf("bad want JSON: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		ww, _ := json.MarshalIndent(w, "", "  ")
		tb.Fatalf("answer differs\n got: %s\nwant: %s", g, ww)
	}
}

// The record after the seed's pipeline curl, at t0.
const seedPipelineRecord = `{
  "project_name": "gitops-for-servers",
  "repo_name": "rsyslog",
  "server_group": "rsyslog-prod",
  "server_type": "rsyslog",
  "environment": "prod",
  "host": "rsyslog-01",
  "status": "synced",
  "changed_files": [],
  "validation_status": "passed",
  "validation_message": "rsyslog syntax validation passed",
  "commit_sha": "abc1234",
  "branch": "master",
  "updated_by": "woodpecker",
  "last_pipeline_run": "2026-04-26T10:30:00Z",
  "last_cron_check": null,
  "timestamp": "2026-04-26T10:30:00Z",
  "status_since": "2026-04-26T10:30:00Z",
  "last_source": "pipeline",
  "pipeline_status": "synced",
  "drift_status": "",
  "labels": {},
  "stale_after": "",
  "pipeline_reported_at": null,
  "cron_reported_at": null,
  "stale": false,
  "changed_files_count": 0,
  "desired_commit_sha": "",
  "behind": false,
  "behind_since": null
}`

// The record after the seed's cron curl, 30 minutes later: the drift
// fields change, every pipeline field stays.
const seedCronRecord = `{
  "project_name": "gitops-for-servers",
  "repo_name": "rsyslog",
  "server_group": "rsyslog-prod",
  "server_type": "rsyslog",
  "environment": "prod",
  "host": "rsyslog-01",
  "status": "out_of_sync",
  "changed_files": ["/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"],
  "validation_status": "passed",
  "validation_message": "rsyslog syntax validation passed",
  "commit_sha": "abc1234",
  "branch": "master",
  "updated_by": "woodpecker",
  "last_pipeline_run": "2026-04-26T10:30:00Z",
  "last_cron_check": "2026-04-26T11:00:00Z",
  "timestamp": "2026-04-26T11:00:00Z",
  "status_since": "2026-04-26T11:00:00Z",
  "last_source": "cron",
  "pipeline_status": "synced",
  "drift_status": "out_of_sync",
  "labels": {},
  "stale_after": "",
  "pipeline_reported_at": null,
  "cron_reported_at": null,
  "stale": false,
  "changed_files_count": 2,
  "desired_commit_sha": "",
  "behind": false,
  "behind_since": null
}`

func TestSeedCurlExamples(t *testing.T) {
	e := newEnv(t)

	// Pipeline update (rsyslog).
	rec := e.want(http.StatusOK, "POST", "/status/pipeline", seedPipeline)
	jsonEqual(t, object(t, rec), seedPipelineRecord)
	if rid := rec.Header().Get("X-Request-Id"); rid == "" {
		t.Fatal("no X-Request-Id in the answer")
	}

	// Cron update (drift detected), half an hour later.
	e.clock.Advance(30 * time.Minute)
	jsonEqual(t, object(t, e.want(http.StatusOK, "POST", "/status/cron", seedCron)), seedCronRecord)

	// Get all status: a flat array.
	rec = e.want(http.StatusOK, "GET", "/status", "")
	all := array(t, rec)
	if len(all) != 1 {
		t.Fatalf("GET /status: %d records, want 1", len(all))
	}
	jsonEqual(t, all[0], seedCronRecord)
	if got := rec.Header().Get("X-Total-Count"); got != "1" {
		t.Fatalf("X-Total-Count %q, want 1", got)
	}

	// Get server group.
	rec = e.want(http.StatusOK, "GET", "/status/rsyslog-prod", "")
	group := array(t, rec)
	if len(group) != 1 {
		t.Fatalf("GET /status/rsyslog-prod: %d records, want 1", len(group))
	}
	jsonEqual(t, group[0], seedCronRecord)
	if got := rec.Header().Get("X-Total-Count"); got != "1" {
		t.Fatalf("X-Total-Count %q, want 1", got)
	}

	// Get specific server.
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/status/rsyslog-prod/rsyslog-01", "")), seedCronRecord)
}

func TestPipelineResetsOmittedFieldsAndKeepsCronOnes(t *testing.T) {
	e := newEnv(t)
	e.want(http.StatusOK, "POST", "/status/pipeline", seedPipeline)
	e.clock.Advance(time.Minute)
	e.want(http.StatusOK, "POST", "/status/cron", seedCron)
	e.clock.Advance(time.Minute)

	// A later pipeline report is the whole truth of its fields.
	got := e.pipeline("rsyslog-prod", "rsyslog-01", "SYNCED", `"commit_sha":"def5678"`)
	for field, want := range map[string]any{
		"status":             "synced",
		"commit_sha":         "def5678",
		"project_name":       "",
		"validation_status":  "unknown",
		"validation_message": "",
		"branch":             "",
		"updated_by":         "",
		"last_pipeline_run":  "2026-04-26T10:32:00Z",
		"last_cron_check":    "2026-04-26T10:31:00Z",
		"drift_status":       "out_of_sync",
		"pipeline_status":    "synced",
		"last_source":        "pipeline",
	} {
		if !reflect.DeepEqual(got[field], want) {
			t.Errorf("%s = %#v, want %#v", field, got[field], want)
		}
	}
	if files := got["changed_files"].([]any); len(files) != 0 {
		t.Errorf("changed_files = %v, want []", files)
	}
}

func TestCronCreatesRecordWithIdentityOnlyThen(t *testing.T) {
	e := newEnv(t)
	got := e.cron("nginx-prod", "web-01", "out_of_sync", `"server_type":"nginx","environment":"prod"`)
	for field, want := range map[string]any{
		"server_type":       "nginx",
		"environment":       "prod",
		"validation_status": "unknown",
		"last_pipeline_run": nil,
		"last_cron_check":   "2026-04-26T10:30:00Z",
		"pipeline_status":   "",
		"drift_status":      "out_of_sync",
	} {
		if !reflect.DeepEqual(got[field], want) {
			t.Errorf("%s = %#v, want %#v", field, got[field], want)
		}
	}
	// On an existing record the identity fields of a cron body are ignored.
	got = e.cron("nginx-prod", "web-01", "synced", `"server_type":"apache"`)
	if got["server_type"] != "nginx" {
		t.Fatalf("server_type = %v, want nginx (cron must not change identity)", got["server_type"])
	}
}

func TestWarnings(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path, body string
		want             []string // each warning must contain its entry
	}{
		{"no warnings", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced"}`, nil},
		{"unknown field", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced","colour":"red"}`,
			[]string{`unknown field "colour"`}},
		{"server-owned fields", "/status/pipeline", `{"server_group":"g","host":"h","status":"synced","timestamp":"2020-01-01T00:00:00Z","stale":true}`,
			[]string{`"stale" is set by the server`, `"timestamp" is set by the server`}},
		{"pipeline-only fields to cron", "/status/cron", `{"server_group":"g","host":"h","status":"synced","commit_sha":"x","validation_status":"failed"}`,
			[]string{`"commit_sha" is set only by pipeline updates`, `"validation_status" is set only by pipeline updates`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := object(t, e.want(http.StatusOK, "POST", tt.path, tt.body))
			raw, has := got["warnings"]
			if len(tt.want) == 0 {
				if has {
					t.Fatalf("unexpected warnings %v", raw)
				}
				return
			}
			ws, _ := raw.([]any)
			if len(ws) != len(tt.want) {
				t.Fatalf("warnings %v, want %d", raw, len(tt.want))
			}
			for i, w := range tt.want {
				mustContain(t, ws[i].(string), w)
			}
		})
	}
	// Ignored fields are ignored indeed.
	rec := object(t, e.want(http.StatusOK, "GET", "/status/g/h", ""))
	if rec["commit_sha"] != "" || rec["validation_status"] != "unknown" {
		t.Fatalf("cron stored pipeline-only fields: %v", rec)
	}
	if _, has := rec["warnings"]; has {
		t.Fatal("GET answer carries warnings")
	}
}

func TestOutOfOrderUpdateAnswers200WithWarning(t *testing.T) {
	e := newEnv(t)
	e.pipeline("g", "h", "synced", `"reported_at":"2026-04-26T10:29:00Z"`, `"commit_sha":"new"`)
	got := e.pipeline("g", "h", "failed", `"reported_at":"2026-04-26T10:20:00Z"`, `"commit_sha":"old"`)
	if got["commit_sha"] != "new" || got["status"] != "synced" {
		t.Fatalf("an older report was applied: %v", got)
	}
	ws, _ := got["warnings"].([]any)
	if len(ws) != 1 {
		t.Fatalf("warnings %v, want one", got["warnings"])
	}
	mustContain(t, ws[0].(string), "not applied")

	// A drift check that started before the latest deploy finished.
	got = e.cron("g", "h", "out_of_sync", `"reported_at":"2026-04-26T10:00:00Z"`)
	if got["status"] != "synced" || got["warnings"] == nil {
		t.Fatalf("stale cron check applied or unexplained: %v", got)
	}
}

func TestGroupNamedPipelineOrCron(t *testing.T) {
	e := newEnv(t)
	e.pipeline("pipeline", "p-01", "synced")
	e.pipeline("cron", "c-01", "failed")
	e.pipeline("other", "o-01", "synced")

	for _, g := range []string{"pipeline", "cron"} {
		rec := e.want(http.StatusOK, "GET", "/status/"+g, "")
		l := array(t, rec)
		if len(l) != 1 || l[0]["server_group"] != g {
			t.Fatalf("GET /status/%s = %v", g, keys(l))
		}
	}
	got := object(t, e.want(http.StatusOK, "GET", "/status/pipeline/p-01", ""))
	if got["host"] != "p-01" {
		t.Fatalf("GET /status/pipeline/p-01 = %v", got)
	}
	// POST still reaches the update endpoints.
	e.want(http.StatusOK, "POST", "/status/pipeline", `{"server_group":"pipeline","host":"p-02","status":"synced"}`)
	if l := array(t, e.want(http.StatusOK, "GET", "/status/pipeline", "")); len(l) != 2 {
		t.Fatalf("group pipeline has %v", keys(l))
	}
}

// fleet stores a small fleet to filter:
//
//	a/1 rsyslog prod synced passed
//	a/2 rsyslog prod out_of_sync failed
//	a/3 nginx   dev  failed unknown
//	b/1 nginx   prod synced skipped
//	b/2 splunk  dev  unknown passed
func fleet(e *env) {
	e.tb.Helper()
	e.pipeline("b", "1", "synced", `"server_type":"nginx"`, `"environment":"prod"`, `"validation_status":"skipped"`)
	e.pipeline("a", "3", "failed", `"server_type":"nginx"`, `"environment":"dev"`)
	e.pipeline("a", "1", "synced", `"server_type":"rsyslog"`, `"environment":"prod"`, `"validation_status":"passed"`)
	e.pipeline("b", "2", "unknown", `"server_type":"splunk"`, `"environment":"dev"`, `"validation_status":"PASSED"`)
	e.pipeline("a", "2", "out_of_sync", `"server_type":"rsyslog"`, `"environment":"prod"`, `"validation_status":"failed"`)
}

func TestListFiltersAndPaging(t *testing.T) {
	e := newEnv(t)
	fleet(e)
	tests := []struct {
		query string
		want  string // keys of the page, comma-separated
		total string
	}{
		{"", "a/1,a/2,a/3,b/1,b/2", "5"},
		{"?server_group=a", "a/1,a/2,a/3", "3"},
		{"?server_group=b&server_group=a", "a/1,a/2,a/3,b/1,b/2", "5"},
		{"?server_type=nginx", "a/3,b/1", "2"},
		{"?environment=dev", "a/3,b/2", "2"},
		{"?status=SYNCED", "a/1,b/1", "2"},
		{"?status=synced&status=failed", "a/1,a/3,b/1", "3"},
		{"?validation_status=passed", "a/1,b/2", "2"},
		{"?server_type=nginx&environment=prod", "b/1", "1"},
		{"?host=1", "a/1,b/1", "2"},
		{"?stale=false", "a/1,a/2,a/3,b/1,b/2", "5"},
		{"?stale=TRUE", "", "0"},
		{"?status=", "a/1,a/2,a/3,b/1,b/2", "5"},
		{"?limit=2", "a/1,a/2", "5"},
		{"?limit=2&offset=2", "a/3,b/1", "5"},
		{"?limit=2&offset=4", "b/2", "5"},
		{"?offset=3", "b/1,b/2", "5"},
		{"?offset=10", "", "5"},
		{"?environment=prod&limit=1&offset=1", "a/2", "3"},
		{"?unknown_param=1", "a/1,a/2,a/3,b/1,b/2", "5"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := e.want(http.StatusOK, "GET", "/status"+tt.query, "")
			if got := strings.Join(keys(array(t, rec)), ","); got != tt.want {
				t.Errorf("keys %q, want %q", got, tt.want)
			}
			if got := rec.Header().Get("X-Total-Count"); got != tt.total {
				t.Errorf("X-Total-Count %q, want %q", got, tt.total)
			}
		})
	}
}

func TestGroupFiltersAndNotFound(t *testing.T) {
	e := newEnv(t)
	fleet(e)
	tests := []struct {
		path  string
		code  int
		want  string
		total string
	}{
		{"/status/a", 200, "a/1,a/2,a/3", "3"},
		{"/status/a?status=synced", 200, "a/1", "1"},
		{"/status/a?status=unknown", 200, "", "0"}, // group exists, filter matches none
		{"/status/a?limit=1&offset=1", 200, "a/2", "3"},
		{"/status/a?server_group=b", 200, "", "0"},
		{"/status/a?server_group=a&server_group=b", 200, "a/1,a/2,a/3", "3"},
		{"/status/c", 404, "", ""},
		{"/status/c?status=synced", 404, "", ""},
		{"/status/A", 404, "", ""}, // identifiers are case-sensitive
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if tt.code == 404 {
				msg := e.errorAnswer(404, "", "GET", tt.path, "")
				mustContain(t, msg, "server group", "not found")
				return
			}
			rec := e.want(tt.code, "GET", tt.path, "")
			if got := strings.Join(keys(array(t, rec)), ","); got != tt.want {
				t.Errorf("keys %q, want %q", got, tt.want)
			}
			if got := rec.Header().Get("X-Total-Count"); got != tt.total {
				t.Errorf("X-Total-Count %q, want %q", got, tt.total)
			}
		})
	}
}

func TestEmptyStoreListsEmptyArray(t *testing.T) {
	e := newEnv(t)
	rec := e.want(http.StatusOK, "GET", "/status", "")
	if got := strings.TrimSpace(rec.Body.String()); got != "[]" {
		t.Fatalf("GET /status on an empty store = %s, want []", got)
	}
	if got := rec.Header().Get("X-Total-Count"); got != "0" {
		t.Fatalf("X-Total-Count %q, want 0", got)
	}
}

func TestStaleFilterAndField(t *testing.T) {
	e := newEnv(t, withStaleAfter(time.Hour))
	e.pipeline("g", "old", "synced")
	e.clock.Advance(2 * time.Hour)
	e.pipeline("g", "new", "synced")
	e.pipeline("g", "own", "synced", `"stale_after":"30m"`)
	e.clock.Advance(45 * time.Minute)

	rec := e.want(http.StatusOK, "GET", "/status?stale=true", "")
	if got := strings.Join(keys(array(t, rec)), ","); got != "g/old,g/own" {
		t.Fatalf("stale servers %q, want g/old,g/own", got)
	}
	rec = e.want(http.StatusOK, "GET", "/status/g?stale=false", "")
	if got := strings.Join(keys(array(t, rec)), ","); got != "g/new" {
		t.Fatalf("fresh servers %q, want g/new", got)
	}
	if got := object(t, e.want(http.StatusOK, "GET", "/status/g/old", ""))["stale"]; got != true {
		t.Fatalf("g/old stale = %v, want true", got)
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	e.pipeline("g", "h1", "synced")
	e.pipeline("g", "h2", "synced")

	rec := e.want(http.StatusNoContent, "DELETE", "/status/g/h1", "")
	if rec.Body.Len() != 0 {
		t.Fatalf("204 with a body: %q", rec.Body)
	}
	msg := e.errorAnswer(404, "", "GET", "/status/g/h1", "")
	if msg != "server g/h1 not found" {
		t.Fatalf("404 message %q", msg)
	}
	if msg := e.errorAnswer(404, "", "DELETE", "/status/g/h1", ""); msg != "server g/h1 not found" {
		t.Fatalf("second DELETE: %q", msg)
	}
	if got := strings.Join(keys(array(t, e.want(200, "GET", "/status", ""))), ","); got != "g/h2" {
		t.Fatalf("after delete: %q", got)
	}
	e.errorAnswer(400, "host", "DELETE", "/status/g/-bad", "")
}

func TestGetOneNotFound(t *testing.T) {
	e := newEnv(t)
	msg := e.errorAnswer(404, "", "GET", "/status/rsyslog-prod/rsyslog-01", "")
	if msg != "server rsyslog-prod/rsyslog-01 not found" {
		t.Fatalf("message %q", msg)
	}
}

func TestLabelsAndStaleAfterRoundTrip(t *testing.T) {
	e := newEnv(t)
	got := e.pipeline("g", "h", "synced", `"labels":{"datacenter":"dc1","owner":"ops"}`, `"stale_after":"30m"`, `"changed_files":["a","b","c"]`)
	want := map[string]any{"datacenter": "dc1", "owner": "ops"}
	if !reflect.DeepEqual(got["labels"], want) || got["stale_after"] != "30m" {
		t.Fatalf("labels %v stale_after %v", got["labels"], got["stale_after"])
	}
	if got["changed_files_count"] != json.Number("3") {
		t.Fatalf("changed_files_count %v, want 3", got["changed_files_count"])
	}
	one := object(t, e.want(200, "GET", "/status/g/h", ""))
	if !reflect.DeepEqual(one["labels"], want) || one["changed_files_count"] != json.Number("3") {
		t.Fatalf("stored record %v", one)
	}
}
