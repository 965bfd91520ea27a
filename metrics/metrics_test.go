package metrics_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/sqlite"
	"github.com/gitops-status/gitops-status/storetest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var t0 = time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC)

// openStore opens a real SQLite store whose clock the test moves.
func openStore(t *testing.T, opts gitops.StoreOptions) (*sqlite.Store, *storetest.Clock) {
	t.Helper()
	c := storetest.NewClock(t0, 0)
	opts.Now = c.Now
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func apply(t *testing.T, s gitops.Store, u gitops.Update) gitops.Server {
	t.Helper()
	o, err := s.Apply(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return o.Server
}

// seed writes a small fleet with every status, a server only a drift check
// wrote, one imported without any report, and label values that need
// escaping; it returns every record.
func seed(t *testing.T, s gitops.Store, c *storetest.Clock) {
	t.Helper()
	for i, st := range gitops.Statuses {
		c.Set(t0.Add(time.Duration(i) * time.Minute))
		apply(t, s, &gitops.PipelineUpdate{
			ServerGroup: "rsyslog-prod", Host: fmt.Sprintf("rsyslog-%02d", i), ServerType: "rsyslog", Environment: "prod",
			Status: st, ValidationStatus: gitops.ValidationStatuses[i], ChangedFiles: []string{"/etc/a", "/etc/b"}[:i%3],
			CommitSHA: []string{"abc1234", "ABC1234", "def5678", "def5678"}[i], StaleAfter: "30m",
			RepoName: "rsyslog", Branch: "master",
		})
	}
	// rsyslog's master moves to def5678: -00 and -01 are behind.
	c.Set(t0.Add(20 * time.Minute))
	if _, err := s.SetHead(context.Background(), gitops.SetHead{RepoName: "org/rsyslog", Branch: "master", CommitSHA: "def5678"}); err != nil {
		t.Fatal(err)
	}
	c.Set(t0.Add(10 * time.Minute))
	apply(t, s, &gitops.CronUpdate{ServerGroup: "nginx-dev", Host: "web-1", ServerType: `ng"inx\`, Environment: "dev\nlab",
		Status: gitops.StatusOutOfSync, ChangedFiles: []string{"/etc/nginx/nginx.conf"}})
	never := gitops.Server{ServerGroup: "imported", Host: "never", Status: gitops.StatusUnknown,
		ValidationStatus: gitops.ValidationUnknown, Timestamp: t0, Imported: true}
	if _, err := s.Import(context.Background(), []gitops.Server{never}, gitops.ImportReplace); err != nil {
		t.Fatal(err)
	}
}

// scrape GETs /metrics from h with the given Accept header.
func scrape(t *testing.T, h http.Handler, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse as the text format: %v\n%s", err, head(body))
	}
	return mfs
}

func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

// series renders a family's series as "label=value,… value", sorted.
func series(mf *dto.MetricFamily) []string {
	if mf == nil {
		return nil
	}
	var out []string
	for _, m := range mf.Metric {
		var ls []string
		for _, l := range m.Label {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		out = append(out, strings.Join(ls, ",")+" "+fmt.Sprint(m.GetGauge().GetValue()))
	}
	sort.Strings(out)
	return out
}

const srv = "server_group=rsyslog-prod,host=rsyslog-%02d,server_type=rsyslog,environment=prod"

func TestPerServerSeries(t *testing.T) {
	s, c := openStore(t, gitops.StoreOptions{})
	seed(t, s, c)
	c.Set(t0.Add(32*time.Minute + 30*time.Second)) // rsyslog-00..02 are past their 30m, -03 is not
	m := metrics.New(metrics.Options{Version: "v-test"})
	res, body := scrape(t, m.Handler(s, 0), "text/plain")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	mfs := parse(t, body)
	for _, name := range metrics.FleetFamilies {
		if mfs[name] == nil {
			t.Errorf("family %s missing", name)
		} else if mfs[name].GetType() != dto.MetricType_GAUGE || mfs[name].GetHelp() == "" {
			t.Errorf("family %s: type %v, help %q; want a gauge with help", name, mfs[name].GetType(), mfs[name].GetHelp())
		}
	}
	nginx := `server_group=nginx-dev,host=web-1,server_type=ng"inx\,environment=dev` + "\n" + `lab`
	never := "server_group=imported,host=never,server_type=,environment="
	sec := func(d time.Duration) string { return fmt.Sprint(float64(t0.Add(d).UnixMicro()) / 1e6) }
	var want []string
	for i, st := range gitops.Statuses {
		for _, v := range gitops.Statuses {
			want = append(want, fmt.Sprintf(srv+",status=%s %d", i, v, b2i(v == st)))
		}
	}
	for _, v := range gitops.Statuses {
		want = append(want, fmt.Sprintf("%s,status=%s %d", nginx, v, b2i(v == gitops.StatusOutOfSync)))
		want = append(want, fmt.Sprintf("%s,status=%s %d", never, v, b2i(v == gitops.StatusUnknown)))
	}
	check(t, mfs, "gitops_server_status", want)

	want = nil
	for i, vs := range gitops.ValidationStatuses {
		for _, v := range gitops.ValidationStatuses {
			want = append(want, fmt.Sprintf(srv+",validation_status=%s %d", i, v, b2i(v == vs)))
		}
	}
	for _, v := range gitops.ValidationStatuses {
		want = append(want, fmt.Sprintf("%s,validation_status=%s %d", nginx, v, b2i(v == gitops.ValidationUnknown)))
		want = append(want, fmt.Sprintf("%s,validation_status=%s %d", never, v, b2i(v == gitops.ValidationUnknown)))
	}
	check(t, mfs, "gitops_server_validation_status", want)

	check(t, mfs, "gitops_server_changed_files", []string{
		fmt.Sprintf(srv+" 0", 0), fmt.Sprintf(srv+" 1", 1), fmt.Sprintf(srv+" 2", 2), fmt.Sprintf(srv+" 0", 3),
		nginx + " 1", never + " 0",
	})
	// Unset times leave no series (never 0): the imported server has none,
	// the cron-only one no pipeline time, the pipeline ones no cron time.
	var pipe, since []string
	for i := range 4 {
		pipe = append(pipe, fmt.Sprintf(srv+" %s", i, sec(time.Duration(i)*time.Minute)))
		since = append(since, fmt.Sprintf(srv+" %s", i, sec(time.Duration(i)*time.Minute)))
	}
	check(t, mfs, "gitops_server_last_pipeline_run_timestamp_seconds", pipe)
	check(t, mfs, "gitops_server_last_cron_check_timestamp_seconds", []string{nginx + " " + sec(10*time.Minute)})
	check(t, mfs, "gitops_server_status_since_timestamp_seconds", append(since, nginx+" "+sec(10*time.Minute)))
	check(t, mfs, "gitops_server_stale", []string{
		fmt.Sprintf(srv+" 1", 0), fmt.Sprintf(srv+" 1", 1), fmt.Sprintf(srv+" 1", 2), fmt.Sprintf(srv+" 0", 3),
		nginx + " 0", never + " 0",
	})
	check(t, mfs, "gitops_server_behind", []string{
		fmt.Sprintf(srv+" 1", 0), fmt.Sprintf(srv+" 1", 1), fmt.Sprintf(srv+" 0", 2), fmt.Sprintf(srv+" 0", 3),
		nginx + " 0", never + " 0",
	})
	check(t, mfs, "gitops_server_behind_since_timestamp_seconds", []string{
		fmt.Sprintf(srv+" %s", 0, sec(20*time.Minute)), fmt.Sprintf(srv+" %s", 1, sec(20*time.Minute)),
	})
	check(t, mfs, "gitops_servers", []string{
		"server_group=imported,status=failed 0", "server_group=imported,status=out_of_sync 0",
		"server_group=imported,status=synced 0", "server_group=imported,status=unknown 1",
		"server_group=nginx-dev,status=failed 0", "server_group=nginx-dev,status=out_of_sync 1",
		"server_group=nginx-dev,status=synced 0", "server_group=nginx-dev,status=unknown 0",
		"server_group=rsyslog-prod,status=failed 1", "server_group=rsyslog-prod,status=out_of_sync 1",
		"server_group=rsyslog-prod,status=synced 1", "server_group=rsyslog-prod,status=unknown 1",
	})
	check(t, mfs, "gitops_store_up", []string{" 1"})
	check(t, mfs, "gitops_build_info", []string{"version=v-test 1"})
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_start_time_seconds"} {
		if mfs[name] == nil {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}

	// A deleted server leaves no series behind.
	if err := s.Delete(context.Background(), gitops.Key{ServerGroup: "nginx-dev", Host: "web-1"}); err != nil {
		t.Fatal(err)
	}
	_, body = scrape(t, m.Handler(s, 0), "")
	if strings.Contains(body, "web-1") || strings.Contains(body, "nginx-dev") {
		t.Errorf("after DELETE the scrape still names web-1 or its group:\n%s", grep(body, "web-1"))
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func check(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want []string) {
	t.Helper()
	got := series(mfs[name])
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %s\n want %s", name, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

func grep(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// prometheusAccept is what Prometheus sends when it scrapes.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

// TestOpenMetrics: a scraper that asks for OpenMetrics gets it, with the
// per-server families as the text format has them (numbers in OpenMetrics
// style) and the closing # EOF; one that asks for protobuf gets text.
func TestOpenMetrics(t *testing.T) {
	s, c := openStore(t, gitops.StoreOptions{})
	seed(t, s, c)
	h := metrics.New(metrics.Options{}).Handler(s, 0)
	res, om := scrape(t, h, prometheusAccept)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text; version=1.0.0") {
		t.Fatalf("Content-Type %q, want OpenMetrics 1.0.0", ct)
	}
	if !strings.HasSuffix(om, "\n# EOF\n") || strings.Count(om, "# EOF") != 1 {
		t.Fatalf("OpenMetrics answer does not end with one # EOF line:\n…%s", om[max(0, len(om)-300):])
	}
	_, text := scrape(t, h, "text/plain;version=0.0.4")
	fleet := func(body string, om bool) string {
		var out []string
		for _, l := range strings.Split(body, "\n") {
			for _, f := range metrics.FleetFamilies {
				if strings.HasPrefix(l, f+"{") || strings.HasPrefix(l, f+" ") || strings.HasPrefix(l, "# HELP "+f+" ") || strings.HasPrefix(l, "# TYPE "+f+" ") {
					if om {
						l = strings.TrimSuffix(strings.TrimSuffix(l, ".0"), ".0")
					}
					out = append(out, l)
				}
			}
		}
		return strings.Join(out, "\n")
	}
	if o, x := fleet(om, true), fleet(text, false); o != x || o == "" {
		t.Fatalf("OpenMetrics and text differ in the per-server families:\nOpenMetrics:\n%s\ntext:\n%s", head(o), head(x))
	}
	for _, l := range strings.Split(om, "\n") {
		if strings.HasPrefix(l, "gitops_server_status{") && !strings.HasSuffix(l, " 1.0") && !strings.HasSuffix(l, " 0.0") {
			t.Fatalf("OpenMetrics line %q: want 1.0 or 0.0", l)
		}
	}
	res, body := scrape(t, h, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("protobuf asked: Content-Type %q, want the text format", ct)
	}
	parse(t, body)
}

// TestNotCompressed: a scraper asking for gzip, as Prometheus does, gets
// the plain answer (see handler.go for why).
func TestNotCompressed(t *testing.T) {
	s, c := openStore(t, gitops.StoreOptions{})
	seed(t, s, c)
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	metrics.New(metrics.Options{}).Handler(s, 0).ServeHTTP(rec, req)
	if ce := rec.Header().Get("Content-Encoding"); ce != "" {
		t.Fatalf("Content-Encoding %q, want none", ce)
	}
	parse(t, rec.Body.String())
}

// TestStoreUnavailable: when the store cannot be read, the scrape still
// answers with the service's own metrics and says so in gitops_store_up.
func TestStoreUnavailable(t *testing.T) {
	s, c := openStore(t, gitops.StoreOptions{})
	seed(t, s, c)
	h := metrics.New(metrics.Options{}).Handler(s, 0)
	s.Close()
	res, body := scrape(t, h, "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	mfs := parse(t, body)
	check(t, mfs, "gitops_store_up", []string{" 0"})
	if mfs["gitops_server_status"] != nil || mfs["go_goroutines"] == nil {
		t.Fatalf("per-server series present %v, Go metrics present %v; want none and some", mfs["gitops_server_status"] != nil, mfs["go_goroutines"] != nil)
	}
}

// TestFallbackWithoutSampleReader: a store without the in-memory view is
// read with List, with the same answer.
func TestFallbackWithoutSampleReader(t *testing.T) {
	s, c := openStore(t, gitops.StoreOptions{})
	seed(t, s, c)
	m := metrics.New(metrics.Options{})
	_, fast := scrape(t, m.Handler(s, 0), "")
	_, slow := scrape(t, m.Handler(listOnly{s}, 0), "")
	if f, sl := fleetLines(fast), fleetLines(slow); f != sl {
		t.Fatalf("List fallback differs:\n%s\nvs\n%s", head(sl), head(f))
	}
}

type listOnly struct{ gitops.Store }

func fleetLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "gitops_server") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHTTPAndStoreMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{})
	s, _ := openStore(t, gitops.StoreOptions{ObserveBatch: m.ObserveBatch})
	is := m.InstrumentStore(s)
	if _, ok := is.(gitops.EncodedReader); !ok {
		t.Fatal("the instrumented SQLite store is no gitops.EncodedReader: the HTTP API would lose its fast path")
	}
	if _, ok := is.(gitops.SampleReader); !ok {
		t.Fatal("the instrumented SQLite store is no gitops.SampleReader")
	}
	if _, ok := m.InstrumentStore(listOnly{s}).(gitops.EncodedReader); ok {
		t.Fatal("a store without GetEncoded became an EncodedReader by instrumenting it")
	}
	apply(t, is, &gitops.PipelineUpdate{ServerGroup: "g", Host: "h", Status: gitops.StatusSynced})
	if _, err := is.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "nope"}); err == nil {
		t.Fatal("Get of a missing server succeeded")
	}
	if _, _, err := is.(gitops.EncodedReader).ListEncoded(context.Background(), gitops.Filter{}); err != nil {
		t.Fatal(err)
	}
	m.ObserveRequest("GET /status/{server_group}", 200, 3*time.Millisecond)
	m.ObserveRequest("GET /status/{server_group}", 200, 30*time.Millisecond)
	m.ObserveRequest("", 404, time.Millisecond)
	s.Close()
	if _, err := is.Get(context.Background(), gitops.Key{ServerGroup: "g", Host: "h"}); err == nil {
		t.Fatal("Get on a closed store succeeded")
	}

	_, body := scrape(t, m.Handler(is, 0), "")
	mfs := parse(t, body)
	hist := func(name string, labels ...string) *dto.Histogram {
		t.Helper()
		for _, mm := range mfs[name].GetMetric() {
			var ls []string
			for _, l := range mm.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(ls, ",") == strings.Join(labels, ",") {
				return mm.GetHistogram()
			}
		}
		t.Fatalf("%s{%s} missing:\n%s", name, strings.Join(labels, ","), grep(body, name))
		return nil
	}
	counter := func(name string, labels ...string) float64 {
		t.Helper()
		for _, mm := range mfs[name].GetMetric() {
			var ls []string
			for _, l := range mm.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			if strings.Join(ls, ",") == strings.Join(labels, ",") {
				return mm.GetCounter().GetValue()
			}
		}
		t.Fatalf("%s{%s} missing:\n%s", name, strings.Join(labels, ","), grep(body, name))
		return 0
	}
	if n := counter("gitops_http_requests_total", "code=200", "route=GET /status/{server_group}"); n != 2 {
		t.Errorf("requests of the group route: %v, want 2", n)
	}
	if n := counter("gitops_http_requests_total", "code=404", "route=unmatched"); n != 1 {
		t.Errorf("unmatched requests: %v, want 1", n)
	}
	if h := hist("gitops_http_request_duration_seconds", "code=200", "route=GET /status/{server_group}"); h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-0.033) > 1e-9 {
		t.Errorf("latency: %d observations summing to %v, want 2 summing to 0.033", h.GetSampleCount(), h.GetSampleSum())
	}
	if h := hist("gitops_store_operation_duration_seconds", "operation=apply"); h.GetSampleCount() != 1 {
		t.Errorf("apply timed %d times, want 1", h.GetSampleCount())
	}
	if h := hist("gitops_store_operation_duration_seconds", "operation=get"); h.GetSampleCount() != 2 {
		t.Errorf("get timed %d times, want 2", h.GetSampleCount())
	}
	if h := hist("gitops_store_operation_duration_seconds", "operation=list_encoded"); h.GetSampleCount() != 1 {
		t.Errorf("list_encoded timed %d times, want 1", h.GetSampleCount())
	}
	// Not found is an answer; a closed store is a failure.
	if n := counter("gitops_store_operation_errors_total", "code=unavailable", "operation=get"); n != 1 {
		t.Errorf("get failures: %v, want 1 (the closed store, not the missing server)", n)
	}
	if h := hist("gitops_store_batch_size"); h.GetSampleCount() != 1 || h.GetSampleSum() != 1 {
		t.Errorf("batches: %d summing to %v, want one of 1 update", h.GetSampleCount(), h.GetSampleSum())
	}
}
