package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gitops-status/gitops-status/internal/tooltest"
)

// scrapeText GETs url/metrics as Prometheus would, asking for the text
// format, and returns the body.
func scrapeText(t *testing.T, url string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return body
}

// seedForMetrics writes servers in every status through the API of the
// running binary, one of them drifted, and deletes one.
func seedForMetrics(t *testing.T, url string) {
	t.Helper()
	for i, st := range []string{"synced", "out_of_sync", "failed", "unknown"} {
		body := fmt.Sprintf(`{"server_group":"rsyslog-prod","host":"rsyslog-%02d","server_type":"rsyslog","environment":"prod",
			"status":%q,"validation_status":"passed","changed_files":["/etc/rsyslog.conf"],"commit_sha":"abc1234"}`, i, st)
		if code, m := post(t, url+"/status/pipeline", body); code != 200 {
			t.Fatalf("pipeline: %d %v", code, m)
		}
	}
	if code, m := post(t, url+"/status/cron", `{"server_group":"rsyslog-prod","host":"rsyslog-00","status":"out_of_sync","changed_files":["/etc/a","/etc/b"]}`); code != 200 {
		t.Fatalf("cron: %d %v", code, m)
	}
	if code, m := post(t, url+"/status/pipeline", `{"server_group":"old","host":"gone-1","status":"failed"}`); code != 200 {
		t.Fatalf("pipeline: %d %v", code, m)
	}
	req, _ := http.NewRequest("DELETE", url+"/status/old/gone-1", nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestMetricsOfTheBinary checks every metric of SPEC §7 on a scrape of
// the built binary, and lints the scrape with promtool.
func TestMetricsOfTheBinary(t *testing.T) {
	p := startServe(t, nil, "--data-dir", t.TempDir(), "--stale-after", "1h")
	seedForMetrics(t, p.URL)
	if code := getJSON(t, p.URL+"/status", new([]any)); code != 200 {
		t.Fatalf("GET /status: %d", code)
	}
	body := scrapeText(t, p.URL)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, m := range mfs[name].GetMetric() {
			ok := true
			for k, v := range labels {
				found := false
				for _, l := range m.Label {
					found = found || l.GetName() == k && l.GetValue() == v
				}
				ok = ok && found
			}
			if ok {
				switch mfs[name].GetType() {
				case dto.MetricType_COUNTER:
					return m.GetCounter().GetValue(), true
				case dto.MetricType_HISTOGRAM:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	srv := func(host string, extra ...string) map[string]string {
		m := map[string]string{"server_group": "rsyslog-prod", "host": host, "server_type": "rsyslog", "environment": "prod"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64 // -1: present with any value
	}{
		{"gitops_server_status", srv("rsyslog-00", "status", "out_of_sync"), 1},
		{"gitops_server_status", srv("rsyslog-00", "status", "synced"), 0},
		{"gitops_server_status", srv("rsyslog-02", "status", "failed"), 1},
		{"gitops_server_validation_status", srv("rsyslog-01", "validation_status", "passed"), 1},
		{"gitops_server_validation_status", srv("rsyslog-01", "validation_status", "failed"), 0},
		{"gitops_server_changed_files", srv("rsyslog-00"), 2},
		{"gitops_server_changed_files", srv("rsyslog-03"), 1},
		{"gitops_server_last_pipeline_run_timestamp_seconds", srv("rsyslog-01"), -1},
		{"gitops_server_last_cron_check_timestamp_seconds", srv("rsyslog-00"), -1},
		{"gitops_server_status_since_timestamp_seconds", srv("rsyslog-00"), -1},
		{"gitops_server_stale", srv("rsyslog-03"), 0},
		{"gitops_servers", map[string]string{"server_group": "rsyslog-prod", "status": "out_of_sync"}, 2},
		{"gitops_store_up", nil, 1},
		{"gitops_http_requests_total", map[string]string{"route": "POST /status/pipeline", "code": "200"}, 5},
		{"gitops_http_requests_total", map[string]string{"route": "DELETE /status/{server_group}/{host}", "code": "204"}, 1},
		{"gitops_http_request_duration_seconds", map[string]string{"route": "GET /status", "code": "200"}, 1},
		{"gitops_store_operation_duration_seconds", map[string]string{"operation": "apply"}, 6},
		{"gitops_store_batch_size", nil, -1},
		{"go_goroutines", nil, -1},
		{"process_resident_memory_bytes", nil, -1},
	}
	for _, c := range checks {
		got, ok := value(c.name, c.labels)
		if !ok || c.want >= 0 && got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Unset times leave no series: rsyslog-01 had no drift check.
	if _, ok := value("gitops_server_last_cron_check_timestamp_seconds", srv("rsyslog-01")); ok {
		t.Errorf("rsyslog-01 has a last cron check series, but no drift check ever reported it")
	}
	if bytes.Contains(body, []byte("gone-1")) {
		t.Errorf("the deleted server old/gone-1 still has series")
	}
	if bytes.Contains(body, []byte(`route="/status/rsyslog-prod`)) {
		t.Errorf("a raw path is a route label")
	}

	promtool := tooltest.Need(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("promtool check metrics found problems:\n%s", s)
	}
}
