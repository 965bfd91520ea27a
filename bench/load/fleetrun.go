package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// openLoop runs the fleet's reports and the dashboard's reads for
// -duration and fills res with what it measured.
func (b *bench) openLoop(ctx context.Context, t *target, svcs []*server, res *fleetResult) error {
	post, closeIdle, err := b.reportPoster(t)
	if err != nil {
		return err
	}
	defer closeIdle()
	p := newPlan(res.N, b.cfg.duration).forRun(res.Run)
	d := &dispatcher{plan: p, cap: b.cfg.inflight, now: time.Now, sleep: sleepCtx,
		send: func(ctx context.Context, k int) error {
			path, body, _ := p.report(k)
			return post(ctx, path, body)
		}}

	rss := newRSSSampler(svcs)
	cpu0 := cpuTimes(svcs)
	r0, w0 := ioCallTotals(svcs)
	gen0, _ := cpuTime(os.Getpid())
	busy0, total0, _ := machineCPU()
	start := time.Now()
	readCtx, stopReads := context.WithDeadline(ctx, start.Add(b.cfg.duration))
	defer stopReads()
	reads := make(chan readerResult, 1)
	go func() { reads <- runReader(readCtx, t, b.cfg.duration, rss) }()
	profiled := b.startProfiles(svcs, res)

	tl := d.run(ctx, start)
	elapsed := time.Since(start)
	stopReads()
	res.Reads = <-reads
	cpu1 := cpuTimes(svcs)
	r1, w1 := ioCallTotals(svcs)
	gen1, _ := cpuTime(os.Getpid())
	if busy1, total1, err := machineCPU(); err == nil && total1 > total0 {
		res.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
	}
	rss.stop()
	profiled()
	// After the readings above: a scrape, even cut short, costs the
	// service CPU and memory that are not the fleet's.
	// Each replica's own numbers: a client that dials where it is asked.
	b.commitStats(ctx, fleetClient(b.cfg, nil), t.authorization, svcs, res)

	res.Due, res.Sent, res.OK = int64(p.total), tl.sent, tl.ok
	res.Dropped, res.Errors, res.FirstErr = tl.dropped, tl.errors, tl.firstErr
	res.DroppedAt = tl.dropSeconds()
	res.MostInFlight = tl.mostInFlight
	res.DueRate = float64(p.total) / b.cfg.duration.Seconds()
	res.SentRate = float64(tl.sent) / b.cfg.duration.Seconds()
	res.OKRate = float64(tl.ok) / elapsed.Seconds()
	res.P50ms, res.P99ms = ms(tl.hist.quantile(0.50)), ms(tl.hist.quantile(0.99))
	res.MaxMs = ms(tl.hist.quantile(1))
	res.RSSPeakMiB = rss.peakMiB()
	res.RSSRiseFullMiB = res.Reads.RSSRiseMiB
	res.CPUCores = (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	if tl.ok > 0 {
		res.ReadCallsPerReport = float64(r1-r0) / float64(tl.ok)
		res.WriteCallsPerReport = float64(w1-w0) / float64(tl.ok)
	}
	res.GenCPUCores = (gen1 - gen0).Seconds() / elapsed.Seconds()
	res.judge()
	return nil
}

// startProfiles starts fetching, with -cpuprofile, a CPU profile of the
// whole run from every service process and two seconds of execution trace
// from its middle, once the fleet's backlog (if any) has built up, or from
// -trace-at. The function it returns waits for them, then saves each
// process's heap profile and its log (with GODEBUG=gctrace=1's lines).
func (b *bench) startProfiles(svcs []*server, res *fleetResult) (wait func()) {
	var waits []func()
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = fmt.Sprintf("fleet-%s-%d-run%d-%s-r%d", res.Backend, res.N, res.Run, res.Build, i)
		if s.debugAddr == "" {
			continue
		}
		secs := max(1, int(b.cfg.duration.Seconds()))
		waits = append(waits, b.profile(s.debugAddr, fmt.Sprintf("profile?seconds=%d", secs), names[i]+".pprof"))
		traceAt := b.cfg.traceAt
		if traceAt < 0 {
			traceAt = b.cfg.duration / 2
		}
		traced := make(chan func(), 1)
		time.AfterFunc(traceAt, func() { traced <- b.profile(s.debugAddr, "trace?seconds=2", names[i]+".trace") })
		waits = append(waits, func() { (<-traced)() })
	}
	return func() {
		for _, w := range waits {
			w()
		}
		for i, s := range svcs {
			if s.debugAddr != "" {
				b.profile(s.debugAddr, "heap", names[i]+".heap")()
				copyFile(s.log, filepath.Join(b.cfg.profileDir, names[i]+".log"))
			}
		}
	}
}

// commitStats fills in the commits and writes per commit of the run, from
// each replica itself, not through the proxy.
func (b *bench) commitStats(ctx context.Context, client *http.Client, authorization string, svcs []*server, res *fleetResult) {
	var commits, writes float64
	for _, s := range svcs {
		n, sum, err := batchStats(ctx, client, authorization, s.base())
		if err != nil {
			b.logf("reading the batch sizes from %s /metrics: %v", s.name, err)
		}
		commits, writes = commits+n, writes+sum
	}
	if commits > 0 {
		res.Commits, res.MeanBatch = commits, writes/commits
	}
}

// batchStats reads how many write transactions the service committed and
// how many writes they held, from the head of GET /metrics: the store's
// families come before the per-server ones, which it does not read.
func batchStats(ctx context.Context, client *http.Client, authorization, base string) (count, sum float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "gitops_store_batch_size_sum "); ok {
			sum, err = strconv.ParseFloat(v, 64)
		} else if v, ok := strings.CutPrefix(line, "gitops_store_batch_size_count "); ok {
			count, err = strconv.ParseFloat(v, 64)
			return count, sum, err
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return 0, 0, errors.Join(errors.New("no gitops_store_batch_size_count"), sc.Err())
}

func ioCallTotals(svcs []*server) (reads, writes int64) {
	for _, s := range svcs {
		if s.running() {
			r, w, err := ioCalls(s.cmd.Process.Pid)
			if err == nil {
				reads, writes = reads+r, writes+w
			}
		}
	}
	return reads, writes
}

func cpuTimes(svcs []*server) time.Duration {
	var total time.Duration
	for _, s := range svcs {
		if c, err := s.cpuTime(); err == nil {
			total += c
		}
	}
	return total
}

func copyFile(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		_ = os.WriteFile(to, b, 0o644)
	}
}
