package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// The open-loop fleet benchmark (-fleet): a fleet of N servers, each
// reporting once a minute on a fixed schedule whatever the answers, with a
// dashboard reading beside it. Where the closed-loop workloads ask how fast
// the service goes, this asks whether it keeps up with a given fleet.

// fleetResult is one run of one build on one fleet size.
type fleetResult struct {
	Backend  string `json:"backend"`
	N        int    `json:"n"`
	Replicas int    `json:"replicas"`
	Proxy    string `json:"proxy,omitempty"` // -proxy, with several replicas
	Build    string `json:"build"`           // the service binary's file name
	Run      int    `json:"run"`             // which run on this size's store, from 1

	Due      int64   `json:"due"`
	Sent     int64   `json:"sent"`
	OK       int64   `json:"ok"`
	Dropped  int64   `json:"dropped"`
	Errors   int64   `json:"errors"`
	DueRate  float64 `json:"due_per_s"`
	SentRate float64 `json:"sent_per_s"`
	OKRate   float64 `json:"ok_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	FirstErr string  `json:"first_error,omitempty"`
	// DroppedAt is when the dropped were due (tally.dropSeconds).
	DroppedAt string `json:"dropped_at,omitempty"`
	// MostInFlight is the most reports in flight at once (tally.mostInFlight).
	MostInFlight int64 `json:"most_in_flight"`

	Reads readerResult `json:"reads"`

	RSSPeakMiB     float64 `json:"rss_peak_mib"`      // the largest any service process reached during the run
	RSSRiseFullMiB float64 `json:"rss_rise_full_mib"` // the most a full GET /status raised a process's RSS while it streamed
	Commits        float64 `json:"commits"`           // write transactions the service committed in the run
	MeanBatch      float64 `json:"mean_batch"`        // writes per commit
	// The service's read and write system calls (pread of pages, pwrite of
	// WAL frames and checkpoints, and the sockets') per acknowledged report.
	ReadCallsPerReport  float64 `json:"read_calls_per_report"`
	WriteCallsPerReport float64 `json:"write_calls_per_report"`
	CPUCores            float64 `json:"cpu_cores"` // the service processes' CPU time over the run's wall time
	GenCPUCores         float64 `json:"generator_cpu_cores"`
	// MachineBusy is the share of all the machine's cores busy during the
	// run, whoever used them: above ~0.9 the service waited for cores.
	MachineBusy float64 `json:"machine_busy"`
	ImportS     float64 `json:"import_s"`      // first start, importing the fleet, to /ready
	ReadyMS     float64 `json:"ready_ms"`      // start to /ready with N stored (the slowest replica)
	ReadyRSSMiB float64 `json:"ready_rss_mib"` // RSS right after that start
	Carried     bool    `json:"carried"`
	// Kill9 is the -kill9 run that followed the last run of a size.
	Kill9 *kill9Result `json:"kill9,omitempty"`
}

// maxCarriedP99 is the latency a carried fleet's reports stay under.
const maxCarriedP99 = time.Second

func (r *fleetResult) judge() {
	r.Carried = r.Dropped == 0 && r.Errors == 0 && r.Sent == r.Due &&
		r.P99ms <= ms(maxCarriedP99) && r.Reads.GroupErrors == 0 && r.Reads.FullErrors == 0
}

func (c *config) fleetFlags(sizes string) error {
	var err error
	if c.fleet, err = parseSizes("-fleet", sizes); err != nil {
		return err
	}
	if !c.durationSet {
		c.duration = reportEvery
	}
	switch {
	case c.fleetDB != "sqlite" && c.fleetDB != "postgres":
		return fmt.Errorf("-backend %q: use sqlite or postgres", c.fleetDB)
	case c.fleetDB == "sqlite" && c.replicas != 1:
		return errors.New("-replicas needs -backend postgres: a SQLite store belongs to one process")
	case c.fleetDB == "postgres" && c.pgURL == "":
		return errors.New("-backend postgres needs -pg-url")
	case c.replicas < 1 || c.inflight < 1 || c.rounds < 1 || c.duration <= 0:
		return errors.New("-replicas, -inflight, -rounds and -duration must be positive")
	case c.webhook == "both":
		return errors.New("-webhook both is for the closed loop; with -fleet use on, and compare with a run without")
	}
	if err := parseClient(c.client); err != nil {
		return err
	}
	return parseProxy(c.proxy)
}

func (b *bench) runFleet(ctx context.Context, stdout io.Writer) error {
	var results []fleetResult
	for _, n := range b.cfg.fleet {
		rs, err := b.runFleetSize(ctx, n)
		results = append(results, rs...)
		if err != nil {
			b.fail("fleet %s N=%d: %v", b.cfg.fleetDB, n, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	fmt.Fprintf(stdout, "\n### Fleet (open loop, %s, every server reports once a minute, %v per run)\n\n", b.cfg.fleetDB, b.cfg.duration)
	printFleetTable(stdout, results)
	return b.conclude(ctx, results)
}

// fleetBuilds are the service binaries one fleet size runs, in turn, on
// the same seeded store: the one under test, and with -alt the one to
// compare it with, alternating for -rounds.
func (b *bench) fleetBuilds() []string {
	var builds []string
	for range b.cfg.rounds {
		builds = append(builds, b.bin)
		if b.cfg.alt != "" {
			builds = append(builds, b.cfg.alt)
		}
	}
	return builds
}

// runFleetSize seeds n servers by a first-start import, then, for each
// build, starts the service on them (timing its start with them stored)
// and runs the open loop.
func (b *bench) runFleetSize(ctx context.Context, n int) ([]fleetResult, error) {
	dir := filepath.Join(b.tmp, fmt.Sprintf("fleet-%s-%d", b.cfg.fleetDB, n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	doc := filepath.Join(dir, "status.json")
	if err := writeFleetDocument(doc, n, time.Now().Add(-reportEvery)); err != nil {
		return nil, err
	}
	dbURL := ""
	if b.cfg.fleetDB == "postgres" {
		pg, _, err := b.cfg.postgres()
		if err != nil {
			return nil, err
		}
		dbURL = pg.dbURL
		if err := b.recreateDatabase(ctx); err != nil {
			return nil, fmt.Errorf("recreating database %q: %w", b.cfg.pgDB, err)
		}
	}
	features, err := b.fleetFeatures(dir)
	if err != nil {
		return nil, err
	}
	defer features.close(b, n)
	svcs, err := b.fleetServers(dir, doc, dbURL, features.args)
	if err != nil {
		return nil, err
	}
	for _, s := range svcs {
		defer s.kill()
	}
	// The first start imports the fleet (not timed against any target).
	imported, err := svcs[0].start(ctx, max(b.cfg.readyTimeout, 15*time.Minute))
	if err != nil {
		return nil, &startError{err}
	}
	os.Remove(doc)
	b.logf("fleet %s N=%d: imported in %.1f s", b.cfg.fleetDB, n, imported.Seconds())
	svcs[0].stop()

	var results []fleetResult
	for i, bin := range b.fleetBuilds() {
		res := fleetResult{Backend: b.cfg.fleetDB, N: n, Replicas: b.cfg.replicas, Build: filepath.Base(bin) + features.label,
			Run: i + 1, ImportS: imported.Seconds()}
		if b.cfg.replicas > 1 {
			res.Proxy = b.cfg.proxy
		}
		for _, s := range svcs {
			s.argv[0] = bin
		}
		err := b.fleetRun(ctx, svcs, features.authorization, &res)
		if err != nil {
			return results, err
		}
		results = append(results, res)
		// Not carrying a fleet is a finding; an error answer is a defect.
		if errs := res.Errors + res.Reads.GroupErrors + res.Reads.FullErrors; errs > 0 {
			first := res.FirstErr
			if first == "" {
				first = res.Reads.FirstErr
			}
			b.fail("fleet %s N=%d %s: %d errors; first: %s", res.Backend, n, res.Build, errs, first)
		}
		b.logf("fleet %s N=%d %s: %d of %d due sent, p99 %.0f ms, %d dropped, %d errors, most in flight %d of %d, carried %v",
			res.Backend, n, res.Build, res.Sent, res.Due, res.P99ms, res.Dropped, res.Errors, res.MostInFlight, b.cfg.inflight, res.Carried)
		if res.DroppedAt != "" {
			b.logf("fleet %s N=%d %s: dropped in second %s of the run", res.Backend, n, res.Build, res.DroppedAt)
		}
	}
	if b.cfg.kill9 && ctx.Err() == nil {
		k, err := b.fleetKill9(ctx, svcs, features.authorization, n, len(results)+1)
		if k != nil {
			results[len(results)-1].Kill9 = k
			b.logf("fleet %s N=%d %s: %s (%d servers), restart → ready %.0f ms",
				b.cfg.fleetDB, n, filepath.Base(b.bin)+features.label, k, k.Servers, k.RestartMS)
		}
		if err == nil && k.Lost > 0 {
			err = fmt.Errorf("%s; e.g. %v", k, k.Examples)
		}
		if err != nil {
			return results, fmt.Errorf("kill -9 run: %w", err)
		}
	}
	return results, nil
}

// fleetRun starts the service processes on the seeded store, runs the
// open loop against them (through the round-robin proxy when there are
// several) and stops them.
func (b *bench) fleetRun(ctx context.Context, svcs []*server, authorization string, res *fleetResult) error {
	defer func() {
		for _, s := range svcs {
			s.stop()
		}
	}()
	for _, s := range svcs {
		ready, err := s.start(ctx, b.cfg.readyTimeout)
		if err != nil {
			return &startError{fmt.Errorf("start with %d servers stored: %w", res.N, err)}
		}
		res.ReadyMS = max(res.ReadyMS, ms(ready))
		if rss, err := s.rssMiB(); err == nil {
			res.ReadyRSSMiB = max(res.ReadyRSSMiB, rss)
		}
	}
	t, stopProxy, err := b.fleetTarget(svcs, res.N, authorization)
	if err != nil {
		return err
	}
	defer stopProxy()
	if err := b.openLoop(ctx, t, svcs, res); err != nil {
		return err
	}
	return ctx.Err()
}

// fleetRecord is a seeded server in the v2 document the service imports:
// the body of its last deployment and when it was.
type fleetRecord struct {
	pipelineBody
	LastPipelineRun string `json:"last_pipeline_run"`
	Timestamp       string `json:"timestamp"`
}

// writeFleetDocument writes a v2 status.json of servers 0..n-1, each last
// deployed at when. Importing it on the first start seeds a fleet of
// 400,000 in seconds, where posting them would take minutes.
func writeFleetDocument(file string, n int, when time.Time) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	at := when.UTC().Format(time.RFC3339)
	fmt.Fprint(w, `{"version": "2.0", "servers": {`)
	enc := json.NewEncoder(w)
	for i := range n {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, "\n%q: ", groupOf(i)+"/"+hostOf(i))
		if err := enc.Encode(fleetRecord{newPipelineBody(i, shaFor(0, i, 0)), at, at}); err != nil {
			f.Close()
			return err
		}
	}
	w.WriteString("}}\n")
	return errors.Join(w.Flush(), f.Close())
}
