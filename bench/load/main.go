// Command load is the load benchmark of gitops-status. It measures the real
// service against a ceiling measured in the same run, a bare net/http server
// that decodes the same requests and sends the same answers without storing
// anything, and reports every rate as a ratio to it, because the machines it
// runs on are shared and noisy.
//
// Usage, from the module root:
//
//	go run ./bench/load [flags]
//	go run ./bench/load -n 1000,10000 -duration 3s -json bench.json
//	go run ./bench/load -n 1000 -duration 2s -kill9   # also check durability
//	go run ./bench/load -n 10000 -workloads pipeline -tokens  # with bearer tokens
//	go run ./bench/load -fleet 200000,400000 -duration 60s  # the open-loop fleet (fleet.go)
//	go run ./bench/load -fleet 400000 -kill9  # then a run killed halfway (fleetkill9.go)
//	go run ./bench/load -n 10000 -workloads pipeline,cron -webhook both  # notifications' cost
//
// For each backend (SQLite; PostgreSQL when reachable) and each size N it
// starts the service on a free 127.0.0.1 port with a fresh data dir, times
// start to the first 200 on /ready, seeds N servers through
// POST /status/pipeline, runs each workload for -duration on the ceiling and
// then on the service, reads the service's RSS and data dir size, and times
// a restart with the N servers stored. With -kill9 it then kills the service
// with SIGKILL during writes and checks that no acknowledged write was lost.
// It prints one Markdown table per backend and exits non-zero when the
// service failed to start, a workload saw an error or a write was lost.
//
// The service is built with `go build ./cmd/gitops-status` unless -bin
// names a binary. PostgreSQL runs use the database -pg-db on the server of
// -pg-url, which they drop and create again with psql before each size;
// without psql, or without the right to create databases, the database
// must exist and the servers an earlier run left there are deleted through
// the API instead. Two runs must not share the database at once. When
// nothing listens at the default -pg-url, or the service cannot start with
// it, PostgreSQL is skipped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 4 && os.Args[1] == ceilingArg {
		if err := serveCeiling(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "load:", err)
		stop()
		os.Exit(1)
	}
}

const defaultPGURL = "postgres://127.0.0.1:5432/postgres?sslmode=disable"

type config struct {
	bin          string
	sizes        []int
	duration     time.Duration
	workloads    []string
	conc         int // 0: each workload's default
	pgURL        string
	pgURLSet     bool
	pgDB         string
	jsonOut      string
	kill9        bool
	traceAt      time.Duration // -trace-at; negative: halfway through the run
	noSQLite     bool
	profileDir   string
	readyTimeout time.Duration
	reqTimeout   time.Duration
	maxRequests  int
	tokens       bool

	// The open-loop fleet benchmark (-fleet; see fleet.go).
	fleet       []int
	fleetDB     string // -backend: sqlite or postgres
	replicas    int
	inflight    int
	alt         string // -alt: a second build to alternate with
	rounds      int
	durationSet bool
	webhook     string // off, on or both
	proxy       string // -replicas behind one address: tcp or http
	client      string // -client: how reports are sent, conn or http
	heads       bool
}

func (c config) concFor(workload string) int {
	if c.conc > 0 {
		return c.conc
	}
	return defaultConc[workload]
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.bin, "bin", "", "service binary to run (default: build ./cmd/gitops-status)")
	sizes := fs.String("n", "1000,10000,100000", "comma-separated store sizes; each runs on a fresh store")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long each workload runs, on the ceiling and on the service")
	wls := fs.String("workloads", strings.Join(workloadNames, ","), "comma-separated workloads to run")
	fs.IntVar(&c.conc, "c", 0, "client concurrency for every workload (default: 32, read_all 8)")
	fs.StringVar(&c.pgURL, "pg-url", defaultPGURL, `PostgreSQL server to also benchmark ("" to skip)`)
	fs.StringVar(&c.pgDB, "pg-db", "gitops_bench", "database on the -pg-url server to use; dropped and created again (with psql) before each size")
	fs.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to this file")
	fs.BoolVar(&c.kill9, "kill9", false, "kill -9 the service during writes and check no acknowledged write is lost (with -fleet: one more run per size, killed halfway)")
	fs.StringVar(&c.profileDir, "cpuprofile", "", "write a CPU profile and a 1 s execution trace of the service during each workload to this directory (backend-N-workload.pprof, .trace)")
	fs.DurationVar(&c.traceAt, "trace-at", -1, "-fleet with -cpuprofile: when in each run the 2 s execution trace starts (default: halfway)")
	fs.BoolVar(&c.noSQLite, "no-sqlite", false, "skip the SQLite backend (measure PostgreSQL only)")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", time.Minute, "how long a server may take to answer 200 on /ready")
	fs.DurationVar(&c.reqTimeout, "timeout", time.Minute, "timeout of one request")
	fs.IntVar(&c.maxRequests, "max-requests", 1_000_000, "most requests one worker sends in one workload run")
	fs.BoolVar(&c.tokens, "tokens", false, "run the service with a tokens file of 20 tokens (one with the read scope, so reads need one too) and send a token with every request, to the ceiling as well (with -fleet: every report and read)")
	fleet := fs.String("fleet", "", "run the open-loop fleet benchmark instead, at these comma-separated fleet sizes (e.g. 200000,400000): every server reports once a minute (-duration defaults to 60s)")
	fs.StringVar(&c.fleetDB, "backend", "sqlite", "-fleet: the store, sqlite or postgres (at -pg-url, database -pg-db)")
	fs.IntVar(&c.replicas, "replicas", 1, "-fleet: service processes sharing the PostgreSQL database behind one round-robin address")
	fs.StringVar(&c.proxy, "proxy", proxyTCP, "-fleet with -replicas: the balancer in front, tcp (each connection to the next replica through a proxy in the generator, as HAProxy in tcp mode), dial (each connection dialed to the next replica by the generator itself, as a Kubernetes Service's kernel rules send it) or http (each request to the next replica)")
	fs.StringVar(&c.client, "client", clientConn, "-fleet: how reports are sent: conn (each in one write on a kept-alive connection of its own, answers read with http.ReadResponse, as lean generators do) or http (net/http's client, which costs the shared machine ~2.5 times the CPU a report)")
	fs.IntVar(&c.inflight, "inflight", 512, "-fleet: most requests in flight at once; a report due beyond it is dropped")
	fs.StringVar(&c.alt, "alt", "", "-fleet: a second service binary to compare, run alternately with the first on the same seeded store")
	fs.IntVar(&c.rounds, "rounds", 1, "-fleet: how many times each build runs on each size's store")
	fs.StringVar(&c.webhook, "webhook", "off", "on: run the service with --webhooks-file sending every transition to a loopback receiver (with -fleet too); both: run each backend without, with, with and without it (names get +webhook, -r1, -r2)")
	fs.BoolVar(&c.heads, "heads", false, "after seeding, set the head of every seeded repo's branch (POST /desired) to a commit no server runs, so every record is behind and reads compute it (needs a service that has POST /desired)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.webhook != "off" && c.webhook != "on" && c.webhook != "both" {
		return c, fmt.Errorf("-webhook %q: use off, on or both", c.webhook)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		c.pgURLSet = c.pgURLSet || f.Name == "pg-url"
		c.durationSet = c.durationSet || f.Name == "duration"
	})
	var err error
	if *fleet != "" {
		return c, c.fleetFlags(*fleet)
	}
	if c.sizes, err = parseSizes("-n", *sizes); err != nil {
		return c, err
	}
	if c.workloads, err = parseWorkloads(*wls); err != nil {
		return c, err
	}
	if c.duration <= 0 || c.maxRequests <= 0 || c.conc < 0 {
		return c, errors.New("-duration and -max-requests must be positive, -c not negative")
	}
	return c, nil
}

func parseSizes(flagName, s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive number", flagName, f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func parseWorkloads(s string) ([]string, error) {
	var wls []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(workloadNames, f) {
			return nil, fmt.Errorf("-workloads: unknown workload %q (have %s)", f, strings.Join(workloadNames, ", "))
		}
		wls = append(wls, f)
	}
	return wls, nil
}

// postgres returns the PostgreSQL backend, or ok=false when there is none
// to run: -pg-url is empty, or nothing listens at the default one.
func (c config) postgres() (be backend, ok bool, err error) {
	if c.pgURL == "" {
		return be, false, nil
	}
	u, err := url.Parse(c.pgURL)
	if err != nil {
		return be, false, fmt.Errorf("-pg-url: %w", err)
	}
	if c.pgDB != "" {
		u.Path = "/" + c.pgDB
	}
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "5432")
	}
	conn, err := net.DialTimeout("tcp", hostport, time.Second)
	if err != nil {
		if c.pgURLSet {
			return be, false, fmt.Errorf("PostgreSQL at -pg-url: %w", err)
		}
		return be, false, nil
	}
	conn.Close()
	return backend{name: "postgres", dbURL: u.String(), optional: !c.pgURLSet}, true, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gitops-status-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b := &bench{cfg: cfg, bin: cfg.bin, tmp: tmp, progress: stderr, client: newClient(cfg)}
	if b.bin == "" {
		fmt.Fprintln(stderr, "building ./cmd/gitops-status")
		if b.bin, err = buildService(ctx, tmp); err != nil {
			return err
		}
	}
	if len(cfg.fleet) > 0 {
		return b.runFleet(ctx, stdout)
	}
	var backends []backend
	if !cfg.noSQLite {
		backends = append(backends, backend{name: "sqlite"})
	}
	pg, ok, err := cfg.postgres()
	if err != nil {
		return err
	}
	if ok {
		backends = append(backends, pg)
	}
	backends = withWebhooks(backends, cfg.webhook)

	rep := report{DurationSeconds: cfg.duration.Seconds(), Tokens: cfg.tokens}
	if cfg.tokens {
		fmt.Fprintln(stdout, "\nWith tokens: the service checks a bearer token on every request (-tokens).")
	}
	for _, be := range backends {
		br := b.runBackend(ctx, be)
		rep.Backends = append(rep.Backends, br)
		if br.Skipped == "" {
			fmt.Fprintf(stdout, "\n### %s\n\n", be.name)
			printTable(stdout, br)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Failures = b.failures
	return b.conclude(ctx, rep)
}

// conclude writes results to -json when asked, and returns what ended the
// run: ctx's error, else the failures seen, else nil.
func (b *bench) conclude(ctx context.Context, results any) error {
	if b.cfg.jsonOut != "" {
		if err := writeJSON(b.cfg.jsonOut, results); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(b.failures) > 0 {
		return fmt.Errorf("%d failure(s):\n  %s", len(b.failures), strings.Join(b.failures, "\n  "))
	}
	return nil
}

// runBackend runs every size on one backend. A service that fails to start
// ends the backend's runs; on an optional backend, failing at the first
// start only skips it.
func (b *bench) runBackend(ctx context.Context, be backend) backendResult {
	br := backendResult{Backend: be.name}
	for i, n := range b.cfg.sizes {
		res, err := b.runSize(ctx, be, n)
		var se *startError
		if err != nil && be.optional && i == 0 && errors.As(err, &se) && len(res.Workloads) == 0 {
			br.Skipped = err.Error()
			b.logf("%s: skipped (is database %q created?): %v", be.name, b.cfg.pgDB, err)
			return br
		}
		br.Sizes = append(br.Sizes, res)
		if err != nil {
			b.fail("%s N=%d: %v", be.name, n, err)
			if errors.As(err, &se) || ctx.Err() != nil {
				return br
			}
		}
	}
	return br
}

// newClient is the one client of all runs: keep-alive connections, enough
// idle ones kept per server for every worker, and no gzip so both servers
// send the same plain JSON.
func newClient(cfg config) *http.Client {
	conns := 64
	for _, w := range cfg.workloads {
		conns = max(conns, cfg.concFor(w))
	}
	return &http.Client{
		Timeout: cfg.reqTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // only ever 127.0.0.1
			MaxIdleConns:        2 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// withWebhooks applies -webhook: each backend as it is, with a webhook, or
// both, alternating without, with, with, without (ABBA), so that a load
// on the machine that grows or fades during the run weighs on both alike.
func withWebhooks(bes []backend, mode string) []backend {
	var out []backend
	for _, be := range bes {
		hooked := be
		hooked.name, hooked.webhook = be.name+"+webhook", true
		switch mode {
		case "on":
			out = append(out, hooked)
		case "both":
			plain2, hooked2 := be, hooked
			be.name, hooked.name = be.name+"-r1", hooked.name+"-r1"
			plain2.name, hooked2.name = plain2.name+"-r2", hooked2.name+"-r2"
			out = append(out, be, hooked, hooked2, plain2)
		default:
			out = append(out, be)
		}
	}
	return out
}
