// Package metrics is the Prometheus adapter of gitops-status (SPEC §7): it
// owns the service's own registry (never the global one) with the Go and
// process collectors, HTTP request counters and latency histograms by route
// pattern, store operation latencies and group-commit batch sizes, and it
// serves GET /metrics with the per-server series of every stored server.
//
// The per-server families (one series per server and status value,
// kube-state-metrics style) are millions of series at 100,000 servers, so
// they are not built as prometheus.Metric values: the handler writes them
// straight from the store's in-memory view (gitops.SampleReader) in the
// same exposition format client_golang writes, text or OpenMetrics as the
// scraper negotiates (see docs/performance.md for the numbers behind it).
//
// The package depends on the domain and client_golang only; the HTTP API
// reaches it through the handler and the request observer the wiring
// passes to it.
package metrics

import (
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// UnmatchedRoute is the route label of requests no route took (404s of
// unknown paths, 405s), so that scanners cannot create series at will.
const UnmatchedRoute = "unmatched"

// Metrics holds the registry and the metrics the service updates. It is
// safe for concurrent use. The zero value is not usable; call New.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// byRoute caches each (route, code) pair's counter and histogram, so an
	// observed request costs a map lookup under a read lock rather than
	// hashing its label values.
	mu      sync.RWMutex
	byRoute map[routeCode]routeMetrics

	storeOps    map[string]prometheus.Observer
	storeErrors *prometheus.CounterVec
	batches     prometheus.Histogram
}

type routeCode struct {
	route string
	code  int
}

type routeMetrics struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// Options configure New.
type Options struct {
	// Version is the software version gitops_build_info reports.
	Version string
	// Logger receives scrape errors; nil discards them.
	Logger *slog.Logger
}

// Buckets of the request latency histogram, in seconds: from a single
// read of the index (well under a millisecond) to a GET /status of a large
// fleet (hundreds of milliseconds) and slow clients.
var requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Buckets of the store operation histogram, in seconds: index reads take
// microseconds, durable writes wait for a flush of about a millisecond.
var storeBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Buckets of the batch size histogram: updates per committed transaction,
// up to the stores' bounds (64 on PostgreSQL, 256 on SQLite).
var batchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}

// storeOperations are the operation label values of the store metrics,
// one per method of gitops.Store and its optional readers.
var storeOperations = []string{
	"apply", "get", "list", "delete", "events", "prune_events", "legacy_latest", "import", "ping",
	"set_head", "heads", "delete_head", "import_heads",
	"get_encoded", "list_encoded", "read_samples",
}

// New returns the service's metrics on a registry of their own.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		log:     opts.Logger,
		byRoute: map[routeCode]routeMetrics{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitops_http_requests_total",
		Help: "HTTP requests answered, by route pattern (\"unmatched\" for none) and status code.",
	}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gitops_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, body included, by route pattern and status code.",
		Buckets: requestBuckets,
	}, []string{"route", "code"})
	ops := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gitops_store_operation_duration_seconds",
		Help:    "Time a store operation took, by operation.",
		Buckets: storeBuckets,
	}, []string{"operation"})
	m.storeOps = make(map[string]prometheus.Observer, len(storeOperations))
	for _, op := range storeOperations {
		m.storeOps[op] = ops.WithLabelValues(op)
	}
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gitops_store_operation_errors_total",
		Help: "Store operations that failed because the database was unavailable or erred (not: not found, canceled), by operation and error code.",
	}, []string{"operation", "code"})
	for _, op := range []string{"apply", "delete", "import"} {
		// Writes fail rarely; their series exist from the start so that
		// rate() sees the first failure.
		m.storeErrors.WithLabelValues(op, "unavailable")
		m.storeErrors.WithLabelValues(op, "internal")
	}
	m.batches = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gitops_store_batch_size",
		Help:    "Writes committed together in one transaction (group commit): updates, and on SQLite also deletions, imports and prunes.",
		Buckets: batchBuckets,
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gitops_build_info",
		Help: "Always 1; the version label is the running software's version.",
	}, []string{"version"})
	build.WithLabelValues(opts.Version).Set(1)

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, ops, m.storeErrors, m.batches, build,
	)
	return m
}

// Registry returns the registry, for tests and for adapters that add their
// own metrics (such as notification deliveries).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one answered HTTP request: pattern is the route
// pattern that took it (http.Request.Pattern; "" when none did), code the
// status sent, d the time from arrival to the end of the body. It is the
// hook the HTTP API calls after every request.
func (m *Metrics) ObserveRequest(pattern string, code int, d time.Duration) {
	if pattern == "" {
		pattern = UnmatchedRoute
	}
	k := routeCode{pattern, code}
	m.mu.RLock()
	rm, ok := m.byRoute[k]
	m.mu.RUnlock()
	if !ok {
		c := strconv.Itoa(code)
		rm = routeMetrics{count: m.requests.WithLabelValues(pattern, c), latency: m.latency.WithLabelValues(pattern, c)}
		m.mu.Lock()
		m.byRoute[k] = rm
		m.mu.Unlock()
	}
	rm.count.Inc()
	rm.latency.Observe(d.Seconds())
}

// ObserveBatch records the size of one committed write transaction; it is
// the hook stores call (gitops.StoreOptions.ObserveBatch).
func (m *Metrics) ObserveBatch(updates int) { m.batches.Observe(float64(updates)) }

// Handler serves GET /metrics: the registry's metrics and the per-server
// series of every server store holds, read through gitops.SampleReader
// when store has it (no query per scrape) and with List otherwise. When
// writeTimeout is positive (the server's write timeout), each chunk of the
// answer moves the connection's write deadline that far ahead, so a large
// fleet's scrape reaches a client that keeps reading.
func (m *Metrics) Handler(store gitops.Store, writeTimeout time.Duration) http.Handler {
	return &handler{m: m, store: store, slots: make(chan struct{}, runtime.GOMAXPROCS(0)), writeTimeout: writeTimeout}
}
