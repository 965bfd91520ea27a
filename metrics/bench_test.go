package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/metrics"
	"github.com/gitops-status/gitops-status/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var benchStores = map[int]*sqlite.Store{}

// benchStore imports n servers spread over 100 groups, as the load
// benchmark seeds them, once per size and test binary.
func benchStore(b *testing.B, n int) *sqlite.Store {
	b.Helper()
	if s := benchStores[n]; s != nil {
		return s
	}
	dir, err := os.MkdirTemp("", "metrics-bench-")
	if err != nil {
		b.Fatal(err)
	}
	s, err := sqlite.Open(filepath.Join(dir, "status.db"), gitops.StoreOptions{StaleAfter: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	benchStores[n] = s
	now := time.Now().UTC().Truncate(time.Microsecond)
	servers := make([]gitops.Server, n)
	for i := range servers {
		servers[i] = gitops.Server{
			ServerGroup: fmt.Sprintf("grp-%03d", i%100), Host: fmt.Sprintf("host-%06d", i),
			ServerType: []string{"rsyslog", "splunk", "itnm", "nginx"}[i%4], Environment: []string{"prod", "staging", "dev"}[(i/7)%3],
			Status: gitops.StatusSynced, ValidationStatus: gitops.ValidationPassed,
			ChangedFiles: []string{"roles/a/templates/main.conf.j2", "roles/a/tasks/main.yml", "inventories/prod/group_vars/x.yml"},
			CommitSHA:    fmt.Sprintf("%040x", i), Branch: "main", UpdatedBy: "woodpecker",
			LastPipelineRun: now, LastCronCheck: now.Add(time.Minute), Timestamp: now, StatusSince: now,
			LastSource: gitops.SourcePipeline, PipelineStatus: gitops.StatusSynced,
		}
	}
	if _, err := s.Import(context.Background(), servers, gitops.ImportReplace); err != nil {
		b.Fatal(err)
	}
	return s
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range benchStores {
		s.Close()
	}
	os.Exit(code)
}

// discard is a ResponseWriter that counts the bytes written.
type discard struct {
	h http.Header
	n int64
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

func serve(b *testing.B, h http.Handler, accept, encoding string) {
	b.ReportAllocs()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", accept)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	var n int64
	for b.Loop() {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
		n = w.n
	}
	b.ReportMetric(float64(n)/(1<<20), "MiB/scrape")
}

// BenchmarkScrape is a scrape, text and OpenMetrics.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		h := func(b *testing.B) http.Handler { return metrics.New(metrics.Options{}).Handler(benchStore(b, n), 0) }
		b.Run(fmt.Sprintf("n=%d/text", n), func(b *testing.B) { serve(b, h(b), "text/plain", "") })
		b.Run(fmt.Sprintf("n=%d/openmetrics", n), func(b *testing.B) { serve(b, h(b), prometheusAccept, "") })
	}
}

// BenchmarkScrapeConstMetrics is the same series built the usual way, one
// prometheus.Metric per series through MustNewConstMetric in a collector,
// served by promhttp: the design the fast path replaces, kept to show why.
func BenchmarkScrapeConstMetrics(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d/text", n), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(&constCollector{s: benchStore(b, n)})
			serve(b, promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true}), "text/plain", "")
		})
	}
}

// BenchmarkStatusAll is GET /status's work for the same fleet: every
// record encoded from the index and written out.
func BenchmarkStatusAll(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := benchStore(b, n)
			b.ReportAllocs()
			buf := make([]byte, 0, 256<<10)
			for b.Loop() {
				l, _, err := s.ListEncoded(context.Background(), gitops.Filter{})
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range l {
					buf = e.AppendJSON(buf)
					if len(buf) > 256<<10 {
						_, _ = io.Discard.Write(buf)
						buf = buf[:0]
					}
				}
			}
		})
	}
}

type constCollector struct{ s *sqlite.Store }

var (
	labels    = []string{"server_group", "host", "server_type", "environment"}
	dStatus   = prometheus.NewDesc("gitops_server_status", "status", append(labels, "status"), nil)
	dValid    = prometheus.NewDesc("gitops_server_validation_status", "validation", append(labels, "validation_status"), nil)
	dFiles    = prometheus.NewDesc("gitops_server_changed_files", "files", labels, nil)
	dPipeline = prometheus.NewDesc("gitops_server_last_pipeline_run_timestamp_seconds", "pipeline", labels, nil)
	dCron     = prometheus.NewDesc("gitops_server_last_cron_check_timestamp_seconds", "cron", labels, nil)
	dSince    = prometheus.NewDesc("gitops_server_status_since_timestamp_seconds", "since", labels, nil)
	dStale    = prometheus.NewDesc("gitops_server_stale", "stale", labels, nil)
)

func (c *constCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dStatus, dValid, dFiles, dPipeline, dCron, dSince, dStale} {
		ch <- d
	}
}

func (c *constCollector) Collect(ch chan<- prometheus.Metric) {
	_ = c.s.ReadSamples(context.Background(), func(v gitops.Samples) error {
		var s gitops.ServerSample
		b2f := func(b bool) float64 {
			if b {
				return 1
			}
			return 0
		}
		for i := range v.Len() {
			v.At(i, &s)
			ls := []string{s.ServerGroup, s.Host, s.ServerType, s.Environment}
			for _, st := range gitops.Statuses {
				ch <- prometheus.MustNewConstMetric(dStatus, prometheus.GaugeValue, b2f(s.Status == st), append(ls, string(st))...)
			}
			for _, vs := range gitops.ValidationStatuses {
				ch <- prometheus.MustNewConstMetric(dValid, prometheus.GaugeValue, b2f(s.ValidationStatus == vs), append(ls, string(vs))...)
			}
			ch <- prometheus.MustNewConstMetric(dFiles, prometheus.GaugeValue, float64(s.ChangedFiles), ls...)
			ch <- prometheus.MustNewConstMetric(dPipeline, prometheus.GaugeValue, float64(s.LastPipelineRun.UnixMicro())/1e6, ls...)
			ch <- prometheus.MustNewConstMetric(dCron, prometheus.GaugeValue, float64(s.LastCronCheck.UnixMicro())/1e6, ls...)
			ch <- prometheus.MustNewConstMetric(dSince, prometheus.GaugeValue, float64(s.StatusSince.UnixMicro())/1e6, ls...)
			ch <- prometheus.MustNewConstMetric(dStale, prometheus.GaugeValue, b2f(s.Stale), ls...)
		}
		return nil
	})
}

// BenchmarkObserveRequest is what every HTTP request pays for its metrics.
func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(metrics.Options{})
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("POST /status/pipeline", 200, 3*time.Millisecond)
	}
}

// BenchmarkInstrumentedPing is the decorator's cost around the cheapest
// store call (compare BenchmarkPing).
func BenchmarkInstrumentedPing(b *testing.B) {
	s := benchStore(b, 10)
	is := metrics.New(metrics.Options{}).InstrumentStore(s)
	b.ReportAllocs()
	for b.Loop() {
		_ = is.Ping(context.Background())
	}
}

func BenchmarkPing(b *testing.B) {
	s := benchStore(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Ping(context.Background())
	}
}
