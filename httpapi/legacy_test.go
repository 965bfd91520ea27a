package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gitops-status/gitops-status/httpapi"
)

// The v1 document of the seed's "Old (v1.x)" data model.
const seedV1 = `{
  "repo": "rsyslog",
  "server": "rsyslog-lab",
  "sync_status": "SYNCED",
  "drift_count": 0,
  "deployed_files": [],
  "drifted_files": [],
  "last_check": "2026-04-26T00:00:00Z"
}`

func TestLegacyPostThenGetBothWays(t *testing.T) {
	e := newEnv(t)
	// POST /api/status answers the v1 view of the stored server.
	jsonEqual(t, object(t, e.want(http.StatusOK, "POST", "/api/status", seedV1)), seedV1)

	// The v2 record it made (SPEC §4, v1 → v2).
	got := object(t, e.want(http.StatusOK, "GET", "/status/rsyslog/rsyslog-lab", ""))
	for field, want := range map[string]any{
		"server_group":      "rsyslog",
		"host":              "rsyslog-lab",
		"repo_name":         "rsyslog",
		"server_type":       "rsyslog",
		"status":            "synced",
		"validation_status": "unknown",
		"updated_by":        "legacy-api",
		"last_source":       "legacy",
		"last_pipeline_run": "2026-04-26T00:00:00Z",
		"timestamp":         "2026-04-26T10:30:00Z",
		"pipeline_status":   "synced",
	} {
		if !reflect.DeepEqual(got[field], want) {
			t.Errorf("%s = %#v, want %#v", field, got[field], want)
		}
	}

	// GET /api/status shows it.
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status", "")), seedV1)

	// A drift report in v1 terms.
	e.clock.Advance(time.Minute)
	drift := `{"repo":"rsyslog","server":"rsyslog-lab","sync_status":"drifted","drift_count":2,
		"deployed_files":["/etc/x"],"drifted_files":["/etc/rsyslog.conf","/etc/rsyslog.d/a.conf"]}`
	want := `{"repo":"rsyslog","server":"rsyslog-lab","sync_status":"OUT_OF_SYNC","drift_count":2,
		"deployed_files":[],"drifted_files":["/etc/rsyslog.conf","/etc/rsyslog.d/a.conf"],
		"last_check":"2026-04-26T10:31:00Z"}`
	jsonEqual(t, object(t, e.want(http.StatusOK, "POST", "/api/status", drift)), want)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status", "")), want)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status?server=rsyslog-lab", "")), want)

	// A v2 pipeline server is visible through ?server=, but the plain GET
	// keeps showing the server written through the legacy API.
	e.clock.Advance(time.Minute)
	e.want(http.StatusOK, "POST", "/status/pipeline", seedPipeline)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status?server=rsyslog-01", "")), `{
		"repo":"rsyslog","server":"rsyslog-01","sync_status":"SYNCED","drift_count":0,
		"deployed_files":[],"drifted_files":[],"last_check":"2026-04-26T10:32:00Z"}`)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status", "")), want)

	// A later cron check moves last_check and the drift view.
	e.clock.Advance(time.Minute)
	e.cron("rsyslog-prod", "rsyslog-01", "out_of_sync", `"changed_files":["/etc/rsyslog.conf"]`)
	jsonEqual(t, object(t, e.want(http.StatusOK, "GET", "/api/status?server=rsyslog-01", "")), `{
		"repo":"rsyslog","server":"rsyslog-01","sync_status":"OUT_OF_SYNC","drift_count":1,
		"deployed_files":[],"drifted_files":["/etc/rsyslog.conf"],"last_check":"2026-04-26T10:33:00Z"}`)

	if msg := e.errorAnswer(http.StatusNotFound, "", "GET", "/api/status?server=ghost", ""); msg != "server ghost not found" {
		t.Fatalf("404 message %q", msg)
	}
}

func TestLegacyGetEmptyStoreIs404(t *testing.T) {
	e := newEnv(t)
	e.errorAnswer(http.StatusNotFound, "", "GET", "/api/status", "")
	e.errorAnswer(http.StatusNotFound, "", "GET", "/api/status?server=rsyslog-lab", "")
}

func TestLegacyWarningsAndDefaults(t *testing.T) {
	e := newEnv(t)
	got := object(t, e.want(http.StatusOK, "POST", "/api/status",
		`{"repo":"rsyslog","server":"lab","sync_status":"failed","colour":"red"}`))
	ws, _ := got["warnings"].([]any)
	if len(ws) != 1 {
		t.Fatalf("warnings %v, want one about colour", got["warnings"])
	}
	mustContain(t, ws[0].(string), `"colour"`)
	// Without last_check the server's clock is the last check.
	if got["last_check"] != "2026-04-26T10:30:00Z" || got["sync_status"] != "FAILED" {
		t.Fatalf("v1 view %v", got)
	}
}

func TestLegacyGroupConfigured(t *testing.T) {
	e := newEnv(t, withConfig(func(c *httpapi.Config) { c.LegacyGroup = "legacy" }))
	e.want(http.StatusOK, "POST", "/api/status", `{"repo":"rsyslog","server":"h","sync_status":"SYNCED"}`)
	got := object(t, e.want(http.StatusOK, "GET", "/status/legacy/h", ""))
	if got["repo_name"] != "rsyslog" || got["server_type"] != "rsyslog" {
		t.Fatalf("legacy record %v", got)
	}
	// A newer server of the same name elsewhere does not hide the legacy one.
	e.clock.Advance(time.Minute)
	e.pipeline("other", "h", "failed", `"repo_name":"other"`)
	if got := object(t, e.want(http.StatusOK, "GET", "/api/status?server=h", "")); got["repo"] != "rsyslog" {
		t.Fatalf("?server=h picked %v, want the legacy group's", got)
	}
	// Without a legacy group server of that name, the newest wins.
	e.pipeline("x1", "k", "synced", `"repo_name":"first"`)
	e.clock.Advance(time.Minute)
	e.pipeline("x2", "k", "synced", `"repo_name":"second"`)
	if got := object(t, e.want(http.StatusOK, "GET", "/api/status?server=k", "")); got["repo"] != "second" {
		t.Fatalf("?server=k picked %v, want the newest", got)
	}
}
