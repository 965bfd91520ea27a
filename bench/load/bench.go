package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// backend is one store configuration of the service.
type backend struct {
	name  string
	dbURL string // "" = the embedded SQLite in the data dir
	// optional backends are skipped, not failed, when the service cannot
	// start with them (PostgreSQL at the default URL that was never set up).
	optional bool
	// webhook runs the service with a webhook to a loopback receiver.
	webhook bool
}

// startError says the service did not start or did not become ready.
type startError struct{ err error }

func (e *startError) Error() string { return "service failed to start: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// workloadResult compares one workload on the ceiling and the service.
type workloadResult struct {
	Name        string     `json:"workload"`
	Concurrency int        `json:"concurrency"`
	Service     loadResult `json:"service"`
	Ceiling     loadResult `json:"ceiling"`
	Ratio       float64    `json:"ratio"`    // service rps / ceiling rps
	RSSMiB      *float64   `json:"rss_mib"`  // service RSS after the run
	DiskMiB     *float64   `json:"disk_mib"` // data dir size; nil for PostgreSQL
	// CPU time per request of the service's process (not PostgreSQL's)
	// and of the ceiling's, in microseconds; nil when not measured. Less
	// sensitive than rps to what else the machine runs.
	ServiceCPUus *float64 `json:"service_cpu_us_per_request"`
	CeilingCPUus *float64 `json:"ceiling_cpu_us_per_request"`
}

// sizeResult is everything measured for one backend and store size.
type sizeResult struct {
	N            int              `json:"n"`
	StartEmptyMS float64          `json:"start_empty_ms"`
	RestartMS    float64          `json:"restart_ms"` // graceful restart with N servers stored
	RSSMiB       *float64         `json:"rss_mib"`
	DiskMiB      *float64         `json:"disk_mib"`
	Workloads    []workloadResult `json:"workloads"`
	Kill9        *kill9Result     `json:"kill9,omitempty"`
}

// bench holds what all runs share.
type bench struct {
	cfg      config
	bin      string
	tmp      string
	client   *http.Client
	progress io.Writer
	failures []string
}

func (b *bench) logf(format string, args ...any) { fmt.Fprintf(b.progress, format+"\n", args...) }

// fail records a reason to exit non-zero and carries on with the next run.
func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.failures = append(b.failures, msg)
	b.logf("FAIL: %s", msg)
}

func (b *bench) closeIdle() { b.client.Transport.(*http.Transport).CloseIdleConnections() }

// runSize benchmarks backend be with n servers in a fresh store: start,
// seed, each workload on the ceiling then on the service, footprint,
// restart, and the optional kill -9 check.
func (b *bench) runSize(ctx context.Context, be backend, n int) (sizeResult, error) {
	res := sizeResult{N: n}
	dir := filepath.Join(b.tmp, fmt.Sprintf("%s-%d", be.name, n))
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	argv := []string{b.bin, "serve", "--addr", addr, "--data-dir", data}
	debugAddr := ""
	if b.cfg.profileDir != "" {
		if debugAddr, err = freeAddr(); err != nil {
			return res, err
		}
		argv = append(argv, "--debug-addr", debugAddr)
	}
	if be.dbURL != "" {
		argv = append(argv, "--database-url", be.dbURL)
	}
	authorization := ""
	if b.cfg.tokens {
		file := filepath.Join(dir, "tokens.yaml")
		if authorization, err = writeBenchTokens(file); err != nil {
			return res, err
		}
		argv = append(argv, "--tokens-file", file)
	}
	if be.webhook {
		rcv, err := startReceiver()
		if err != nil {
			return res, err
		}
		defer func() {
			b.logf("%s N=%d: the receiver took %d deliveries", be.name, n, rcv.got.Load())
			rcv.close()
		}()
		file := filepath.Join(dir, "webhooks.yaml")
		if err := writeWebhooksFile(file, rcv); err != nil {
			return res, err
		}
		argv = append(argv, "--webhooks-file", file)
	}
	svc := newServer(be.name+" service", argv, addr, filepath.Join(dir, "service.log"))
	defer svc.kill()
	t := newTarget(svc.base(), b.client, n)
	t.authorization = authorization

	if be.dbURL != "" {
		if err := b.recreateDatabase(ctx); err != nil {
			b.logf("%s: could not recreate database %q (%v); emptying it through the API", be.name, b.cfg.pgDB, err)
			if err := b.emptyDatabase(ctx, svc, t); err != nil {
				return res, err
			}
		}
	}
	ready, err := svc.start(ctx, b.cfg.readyTimeout)
	if err != nil {
		return res, &startError{err}
	}
	res.StartEmptyMS = ms(ready)
	b.logf("%s N=%d: ready in %.0f ms; seeding", be.name, n, res.StartEmptyMS)
	if err := seed(ctx, t, n, 32); err != nil {
		return res, fmt.Errorf("seeding: %w", err)
	}
	if b.cfg.heads {
		if err := setHeads(ctx, t); err != nil {
			return res, fmt.Errorf("setting heads: %w", err)
		}
	}

	ceiling, ct, err := b.startCeiling(ctx, t, filepath.Join(dir, "ceiling"))
	if err != nil {
		return res, err
	}
	defer ceiling.kill()
	for _, name := range b.cfg.workloads {
		res.Workloads = append(res.Workloads, b.runWorkload(ctx, be, n, name, ceiling, ct, t, svc, data, debugAddr))
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	ceiling.stop()
	res.RSSMiB, res.DiskMiB = footprint(svc, be, data)

	svc.stop()
	if ready, err = svc.start(ctx, b.cfg.readyTimeout); err != nil {
		return res, &startError{fmt.Errorf("restart with %d servers: %w", n, err)}
	}
	res.RestartMS = ms(ready)
	b.logf("%s N=%d: restarted with %d servers in %.0f ms", be.name, n, n, res.RestartMS)
	if b.cfg.kill9 {
		k, err := b.kill9(ctx, svc, t)
		res.Kill9 = k
		if err != nil {
			return res, err
		}
	}
	svc.stop()
	return res, nil
}

// startCeiling captures the seeded service's answers, checks the service
// lists exactly the seeded servers, and starts the ceiling serving them.
func (b *bench) startCeiling(ctx context.Context, t *target, dir string) (*server, *target, error) {
	keys, err := captureAnswers(ctx, t, dir)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) != t.n {
		return nil, nil, fmt.Errorf("GET /status lists %d servers after seeding %d", len(keys), t.n)
	}
	if size, err := dirMiB(filepath.Join(dir, allFile)); err == nil {
		b.logf("GET /status answers %.1f MiB for %d servers", size, t.n)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	ceiling := newServer("ceiling", []string{self, ceilingArg, addr, dir}, addr, filepath.Join(dir, "ceiling.log"))
	if _, err := ceiling.start(ctx, b.cfg.readyTimeout); err != nil {
		return nil, nil, err
	}
	ct := newTarget(ceiling.base(), b.client, t.n)
	ct.authorization = t.authorization
	return ceiling, ct, nil
}

// writeBenchTokens writes the tokens file of -tokens: 20 tokens, as a
// larger installation has (every lookup compares with each), some stored
// as hashes, one with the read scope so that reads need a token too. The
// benchmark's own token may do everything, in the groups it seeds (so
// every write also matches a glob), and is returned as the Authorization
// header to send.
func writeBenchTokens(file string) (string, error) {
	var b strings.Builder
	b.WriteString("tokens:\n")
	for i := range 19 {
		secret := fmt.Sprintf("other-%02d-0123456789abcdef0123456789abcdef", i)
		scopes := []string{"pipeline", "cron", "read"}[i%3]
		if i%2 == 0 {
			sum := sha256.Sum256([]byte(secret))
			fmt.Fprintf(&b, "  - {name: other-%02d, sha256: %x, scopes: [%s]}\n", i, sum, scopes)
		} else {
			fmt.Fprintf(&b, "  - {name: other-%02d, token: %s, scopes: [%s], groups: [\"grp-0*\"]}\n", i, secret, scopes)
		}
	}
	const secret = "bench-5f0c2d9e8a7b6c5d4e3f2a1b0c9d8e7f"
	b.WriteString("  - {name: bench, token: " + secret + ", scopes: [read, pipeline, cron, admin], groups: [\"grp-*\"]}\n")
	return "Bearer " + secret, os.WriteFile(file, []byte(b.String()), 0o600)
}

// runWorkload runs one workload on the ceiling, then right after on the
// service, so both see the machine in the same state.
func (b *bench) runWorkload(ctx context.Context, be backend, n int, name string, ceiling *server, ct, t *target, svc *server, data, debugAddr string) workloadResult {
	conc := b.cfg.concFor(name)
	cpu := cpuMeter(ceiling)
	c := runLoad(ctx, ct.requesters(name, conc), b.cfg.duration, b.cfg.maxRequests)
	ccpu := cpu(c.Requests)
	b.closeIdle()
	cpu = cpuMeter(svc)
	base := fmt.Sprintf("%s-%d-%s", be.name, n, name)
	secs := max(1, int(b.cfg.duration.Seconds()))
	profiled := b.profile(debugAddr, fmt.Sprintf("profile?seconds=%d", secs), base+".pprof")
	traced := b.profile(debugAddr, "trace?seconds=1", base+".trace")
	s := runLoad(ctx, t.requesters(name, conc), b.cfg.duration, b.cfg.maxRequests)
	profiled()
	traced()
	scpu := cpu(s.Requests)
	b.closeIdle()
	r := workloadResult{Name: name, Concurrency: conc, Service: s, Ceiling: c, ServiceCPUus: scpu, CeilingCPUus: ccpu}
	if c.RPS > 0 {
		r.Ratio = s.RPS / c.RPS
	}
	r.RSSMiB, r.DiskMiB = footprint(svc, be, data)
	b.logf("%s N=%d %s c=%d: ceiling %.0f rps, service %.0f rps (ratio %.3f)", be.name, n, name, conc, c.RPS, s.RPS, r.Ratio)
	for _, x := range []struct {
		who string
		r   loadResult
	}{{"ceiling", c}, {"service", s}} {
		if x.r.Errors > 0 {
			b.fail("%s N=%d %s: %s had %d errors of %d requests; first: %s", be.name, n, name, x.who, x.r.Errors, x.r.Requests, x.r.FirstErr)
		}
	}
	return r
}

// profile fetches /debug/pprof/<what> from the service while a workload
// runs (a CPU profile for as long as it runs, a one-second execution
// trace) into file in the profile directory; the function it returns waits
// for it. Without -cpuprofile it does nothing.
func (b *bench) profile(debugAddr, what, file string) (wait func()) {
	if debugAddr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s", debugAddr, what))
		if err != nil {
			b.logf("profile %s: %v", file, err)
			return
		}
		defer resp.Body.Close()
		if err := os.MkdirAll(b.cfg.profileDir, 0o755); err != nil {
			b.logf("profile %s: %v", file, err)
			return
		}
		f, err := os.Create(filepath.Join(b.cfg.profileDir, file))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			b.logf("profile %s: %v", file, err)
		}
	}()
	return func() { <-done }
}

// cpuMeter starts measuring the CPU time of srv; the function it returns
// gives the CPU time per request in microseconds since then, or nil.
func cpuMeter(srv *server) func(requests int64) *float64 {
	t0, err0 := srv.cpuTime()
	return func(requests int64) *float64 {
		t1, err1 := srv.cpuTime()
		if err0 != nil || err1 != nil || requests <= 0 {
			return nil
		}
		v := float64((t1 - t0).Microseconds()) / float64(requests)
		return &v
	}
}

// footprint reads the service's RSS and, for SQLite, its data dir size;
// nil means not measured.
func footprint(svc *server, be backend, data string) (rss, disk *float64) {
	if v, err := svc.rssMiB(); err == nil {
		rss = &v
	}
	if be.dbURL == "" {
		if v, err := dirMiB(data); err == nil {
			disk = &v
		}
	}
	return rss, disk
}

// seed stores servers 0..n-1 through POST /status/pipeline. It is not
// timed: it only sets the store up.
func seed(ctx context.Context, t *target, n, conc int) error {
	return parallel(ctx, n, conc, func(i int) error {
		return t.postJSON(ctx, "/status/pipeline", newPipelineBody(i, shaFor(0, i, 0)))
	})
}

// recreateDatabase drops and creates -pg-db with psql, so that each size
// starts on a fresh database as the SQLite runs start on a fresh data dir:
// rows an earlier size left, even deleted, would stay behind as dead rows
// until a VACUUM, slowing the next size down on a server without
// autovacuum. It fails when psql is missing or may not create databases.
func (b *bench) recreateDatabase(ctx context.Context) error {
	if b.cfg.pgDB == "" {
		return errors.New("no -pg-db to recreate")
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		return err
	}
	db := `"` + strings.ReplaceAll(b.cfg.pgDB, `"`, `""`) + `"`
	out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b.cfg.pgURL,
		"-c", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)", "-c", "CREATE DATABASE "+db).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// emptyDatabase deletes, through the service's API, every server an earlier
// run left in the PostgreSQL database, so each size starts from an empty
// store as the SQLite runs do with a fresh data dir.
func (b *bench) emptyDatabase(ctx context.Context, svc *server, t *target) error {
	if _, err := svc.start(ctx, b.cfg.readyTimeout); err != nil {
		return &startError{err}
	}
	defer svc.stop()
	var list bytes.Buffer
	if _, err := t.do(ctx, http.MethodGet, "/status", nil, &list); err != nil {
		return fmt.Errorf("listing servers to empty the database: %w", err)
	}
	keys, err := parseKeys(list.Bytes())
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	b.logf("%s: deleting %d servers left by an earlier run", svc.name, len(keys))
	err = parallel(ctx, len(keys), 32, func(i int) error {
		_, err := t.do(ctx, http.MethodDelete, "/status/"+keys[i].ServerGroup+"/"+keys[i].Host, nil, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("emptying the database through DELETE (drop and recreate it instead): %w", err)
	}
	return nil
}

// parallel calls fn(i) for every i in [0, n) from conc goroutines and
// returns the first error, after which no new call starts.
func parallel(ctx context.Context, n, conc int, fn func(i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(conc, n) {
		wg.Go(func() {
			for inner.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
