package main

import (
	"context"
	"net/http"
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
