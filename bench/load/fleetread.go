package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// readerResult is what the dashboard beside the fleet saw.
type readerResult struct {
	GroupReads  int64   `json:"group_reads"`
	GroupErrors int64   `json:"group_errors"`
	GroupP99ms  float64 `json:"group_p99_ms"`
	FullReads   int64   `json:"full_reads"`
	FullErrors  int64   `json:"full_errors"`
	FullMaxMs   float64 `json:"full_max_ms"`
	FullMiB     float64 `json:"full_mib"` // the size of one full answer
	RSSRiseMiB  float64 `json:"rss_rise_mib"`
	FirstErr    string  `json:"first_error,omitempty"`
}

// Grafana refreshes a group's panel every second and the fleet overview
// every 30 s; the first overview comes a third into short runs.
const (
	groupReadEvery = time.Second
	fullReadEvery  = 30 * time.Second
)

func firstFullRead(d time.Duration) time.Duration { return min(10*time.Second, d/3) }

// runReader reads as a dashboard does until ctx ends: one group's servers
// every second (GET /status?server_group=…, a different group each time)
// and, on their own goroutine, every server every 30 s, measuring how much
// each full read raises the service's RSS while it streams.
func runReader(ctx context.Context, t *target, d time.Duration, rss *rssSampler) readerResult {
	var (
		res readerResult
		mu  sync.Mutex
		wg  sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if res.FirstErr == "" {
			res.FirstErr = err.Error()
		}
	}
	wg.Go(func() {
		var h histogram
		tick := time.NewTicker(groupReadEvery)
		defer tick.Stop()
		for g := 0; ; g++ {
			select {
			case <-ctx.Done():
				mu.Lock()
				res.GroupP99ms = ms(h.quantile(0.99))
				mu.Unlock()
				return
			case <-tick.C:
			}
			began := time.Now()
			// Not ctx: a read due before the end is let finish.
			err := t.get(context.Background(), "/status?server_group="+groupOf(g))
			h.record(time.Since(began))
			mu.Lock()
			res.GroupReads++
			if err != nil {
				res.GroupErrors++
			}
			mu.Unlock()
			if err != nil {
				fail(err)
			}
		}
	})
	wg.Go(func() {
		next := time.NewTimer(firstFullRead(d))
		defer next.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-next.C:
			}
			next.Reset(fullReadEvery)
			rss.watch()
			began := time.Now()
			var size countingWriter
			_, err := t.do(context.Background(), http.MethodGet, "/status", nil, &size)
			took := time.Since(began)
			rise := rss.rise()
			mu.Lock()
			res.FullReads++
			res.FullMaxMs = max(res.FullMaxMs, ms(took))
			res.FullMiB = float64(size) / (1 << 20)
			res.RSSRiseMiB = max(res.RSSRiseMiB, rise)
			if err != nil {
				res.FullErrors++
			}
			mu.Unlock()
			if err != nil {
				fail(err)
			}
		}
	})
	wg.Wait()
	return res
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// rssSampler reads the service processes' RSS every 20 ms: the peak of the
// run, and the peak while a full read streams against the RSS before it.
type rssSampler struct {
	svcs     []*server
	mu       sync.Mutex
	peak     float64
	before   []float64 // each process's RSS when the watched read began
	during   []float64 // each process's peak since then
	watching atomic.Bool
	done     chan struct{}
	stopped  chan struct{}
}

const rssSampleEvery = 20 * time.Millisecond

func newRSSSampler(svcs []*server) *rssSampler {
	s := &rssSampler{svcs: svcs, before: make([]float64, len(svcs)), during: make([]float64, len(svcs)),
		done: make(chan struct{}), stopped: make(chan struct{})}
	go s.loop()
	return s
}

func (s *rssSampler) loop() {
	defer close(s.stopped)
	tick := time.NewTicker(rssSampleEvery)
	defer tick.Stop()
	for {
		s.sample()
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
	}
}

func (s *rssSampler) sample() {
	for i, svc := range s.svcs {
		v, err := svc.rssMiB()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.peak = max(s.peak, v)
		if s.watching.Load() {
			s.during[i] = max(s.during[i], v)
		}
		s.mu.Unlock()
	}
}

// watch starts watching for a full read: the RSS now is its baseline.
func (s *rssSampler) watch() {
	s.mu.Lock()
	for i, svc := range s.svcs {
		v, _ := svc.rssMiB()
		s.before[i], s.during[i] = v, v
	}
	s.mu.Unlock()
	s.watching.Store(true)
}

// rise ends the watch and returns the most any process's RSS rose in it.
func (s *rssSampler) rise() float64 {
	s.sample()
	s.watching.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	var r float64
	for i := range s.svcs {
		r = max(r, s.during[i]-s.before[i])
	}
	return r
}

func (s *rssSampler) peakMiB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func (s *rssSampler) stop() {
	close(s.done)
	<-s.stopped
}

// roundRobin sends each request to the next of addrs in turn.
func roundRobin(addrs []string, inflight int) http.Handler {
	targets := make([]*url.URL, len(addrs))
	for i, a := range addrs {
		targets[i] = &url.URL{Scheme: "http", Host: a}
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[next.Add(1)%uint64(len(targets))])
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        2 * inflight,
			MaxIdleConnsPerHost: inflight,
			DisableCompression:  true,
		},
		// Long lists stream through as the replica writes them.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("proxy: %v", err), http.StatusBadGateway)
		},
	}
}

// DurationS is the run's length in seconds, from what was due at which rate.
func (r *fleetResult) DurationS() float64 {
	if r.DueRate == 0 {
		return 1
	}
	return float64(r.Due) / r.DueRate
}

// cpuPerReport is the service's CPU time per acknowledged report in µs,
// readings and all: what it costs, whatever else ran on the machine.
func (r *fleetResult) cpuPerReport() float64 {
	if r.OKRate == 0 {
		return 0
	}
	return 1e6 * r.CPUCores / r.OKRate
}

// printFleetTable writes one row per fleet size.
func printFleetTable(w io.Writer, rs []fleetResult) {
	header := []string{"backend", "N", "build", "replicas", "due/s", "sent/s", "ok/s", "p50 ms", "p99 ms", "dropped", "errors",
		"group read p99 ms", "full GET s", "full GET MiB", "RSS peak MiB", "RSS rise full GET MiB", "commits/s", "writes/commit", "read calls/report", "write calls/report", "CPU µs/report", "CPU cores", "generator CPU cores", "machine busy", "start→ready ms", "RSS at ready MiB", "carried"}
	var rows [][]string
	f := func(format string, v float64) string { return fmt.Sprintf(format, v) }
	for _, r := range rs {
		full, rise := "-", "-"
		if r.Reads.FullReads > 0 {
			full, rise = f("%.2f", r.Reads.FullMaxMs/1000), f("%.0f", r.RSSRiseFullMiB)
		}
		carried := "no"
		if r.Carried {
			carried = "yes"
		}
		rows = append(rows, []string{r.Backend, fmt.Sprint(r.N), r.Build, fmt.Sprint(r.Replicas),
			f("%.0f", r.DueRate), f("%.0f", r.SentRate), f("%.0f", r.OKRate), f("%.1f", r.P50ms), f("%.1f", r.P99ms),
			fmt.Sprint(r.Dropped), fmt.Sprint(r.Errors + r.Reads.GroupErrors + r.Reads.FullErrors),
			f("%.1f", r.Reads.GroupP99ms), full, f("%.0f", r.Reads.FullMiB), f("%.0f", r.RSSPeakMiB), rise, f("%.0f", r.Commits/r.DurationS()), f("%.0f", r.MeanBatch),
			f("%.1f", r.ReadCallsPerReport), f("%.1f", r.WriteCallsPerReport), f("%.0f", r.cpuPerReport()),
			f("%.2f", r.CPUCores), f("%.2f", r.GenCPUCores), f("%.0f%%", 100*r.MachineBusy), f("%.0f", r.ReadyMS), f("%.0f", r.ReadyRSSMiB), carried})
	}
	writeMarkdown(w, header, rows)
	for _, r := range rs {
		for _, e := range []string{r.FirstErr, r.Reads.FirstErr} {
			if e != "" {
				fmt.Fprintf(w, "\n%s N=%d first error: %s\n", r.Backend, r.N, e)
			}
		}
	}
}
