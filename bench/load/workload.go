package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// workloadNames lists the workloads in the order they run.
var workloadNames = []string{"pipeline", "cron", "read_all", "metrics", "read_one", "mixed"}

// defaultConc is each workload's client concurrency unless -c overrides it.
// read_all is lower because each answer carries every server.
// metrics (Prometheus scrapes) runs as many clients as read_all, so the two
// compare like with like.
var defaultConc = map[string]int{"pipeline": 32, "cron": 32, "read_all": 8, "metrics": 8, "read_one": 32, "mixed": 32}

// Seeded servers are spread over 100 groups, as a real fleet is over
// teams and roles, so group-sized reads stay small.
func groupOf(i int) string { return fmt.Sprintf("grp-%03d", i%100) }
func hostOf(i int) string  { return fmt.Sprintf("host-%06d", i) }

var (
	serverTypes  = []string{"rsyslog", "splunk", "itnm", "nginx"}
	environments = []string{"prod", "staging", "dev"}
)

// shaFor makes a 40-hex commit SHA that names who sent it: the run (0 for
// seeding), the server index and a sequence number increasing per server.
// The kill -9 check reads a stored SHA back to know which write it was.
func shaFor(run uint32, host int, seq uint64) string {
	return fmt.Sprintf("%08x%012x%020x", run, host, seq)
}

// parseSHA is the inverse of shaFor.
func parseSHA(sha string) (run uint32, host int, seq uint64, ok bool) {
	if len(sha) != 40 {
		return 0, 0, 0, false
	}
	r, err1 := strconv.ParseUint(sha[:8], 16, 32)
	h, err2 := strconv.ParseUint(sha[8:20], 16, 48)
	seq, err3 := strconv.ParseUint(sha[20:], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return uint32(r), int(h), seq, true
}

// pipelineBody is a realistic CI report for server i.
type pipelineBody struct {
	ProjectName       string   `json:"project_name"`
	RepoName          string   `json:"repo_name"`
	ServerGroup       string   `json:"server_group"`
	ServerType        string   `json:"server_type"`
	Environment       string   `json:"environment"`
	Host              string   `json:"host"`
	Status            string   `json:"status"`
	ChangedFiles      []string `json:"changed_files"`
	ValidationStatus  string   `json:"validation_status"`
	ValidationMessage string   `json:"validation_message"`
	CommitSHA         string   `json:"commit_sha"`
	Branch            string   `json:"branch"`
	UpdatedBy         string   `json:"updated_by"`
}

func newPipelineBody(i int, sha string) pipelineBody {
	typ := serverTypes[i%len(serverTypes)]
	env := environments[(i/7)%len(environments)]
	return pipelineBody{
		ProjectName: "infra-" + typ,
		RepoName:    "ansible-" + typ,
		ServerGroup: groupOf(i),
		ServerType:  typ,
		Environment: env,
		Host:        hostOf(i),
		Status:      "synced",
		ChangedFiles: []string{
			"roles/" + typ + "/templates/main.conf.j2",
			"roles/" + typ + "/tasks/main.yml",
			"inventories/" + env + "/group_vars/" + groupOf(i) + ".yml",
		},
		ValidationStatus:  "passed",
		ValidationMessage: "ansible-lint: 0 failures, 0 warnings; syntax check passed",
		CommitSHA:         sha,
		Branch:            "main",
		UpdatedBy:         "woodpecker",
	}
}

// cronBody is a drift check report: out of sync with three drifted files,
// or back in sync with none.
type cronBody struct {
	ServerGroup  string   `json:"server_group"`
	Host         string   `json:"host"`
	Status       string   `json:"status"`
	ChangedFiles []string `json:"changed_files"`
}

func newCronBody(i int, drifted bool) cronBody {
	b := cronBody{ServerGroup: groupOf(i), Host: hostOf(i), Status: "synced", ChangedFiles: []string{}}
	if drifted {
		typ := serverTypes[i%len(serverTypes)]
		b.Status = "out_of_sync"
		b.ChangedFiles = []string{"/etc/" + typ + "/main.conf", "/etc/" + typ + "/conf.d/10-local.conf", "/etc/logrotate.d/" + typ}
	}
	return b
}

// target is one HTTP server under load, the service or the ceiling, holding
// n seeded servers.
type target struct {
	base   string
	client *http.Client
	n      int
	paths  []string // GET path of each seeded server, by index
	// authorization is the Authorization header of every request; "" for
	// none. The ceiling gets the same header, so both read the same bytes.
	authorization string
	// dial, when not nil, dials the connections of reports sent without
	// client (-client conn), as client's transport does (-proxy dial).
	dial dialFunc
}

func newTarget(base string, client *http.Client, n int) *target {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/status/" + groupOf(i) + "/" + hostOf(i)
	}
	return &target{base: base, client: client, n: n, paths: paths}
}

// statusError is a non-2xx answer.
type statusError struct {
	method, path string
	code         int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.code, e.body)
}

// do sends one request and reads the whole answer into w (io.Discard when
// nil), so the connection is reused and read timings include the body.
func (t *target) do(ctx context.Context, method, path string, body []byte, w io.Writer) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, t.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if path == "/metrics" {
		// What Prometheus sends when it scrapes.
		req.Header.Set("Accept", prometheusAccept)
		req.Header.Set("Accept-Encoding", "gzip")
	}
	if t.authorization != "" {
		req.Header.Set("Authorization", t.authorization)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return resp, &statusError{method, path, resp.StatusCode, string(bytes.TrimSpace(msg))}
	}
	if w == nil {
		w = io.Discard
	}
	_, err = io.Copy(w, resp.Body)
	return resp, err
}

func (t *target) postJSON(ctx context.Context, path string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = t.do(ctx, http.MethodPost, path, body, nil)
	return err
}

func (t *target) get(ctx context.Context, path string) error {
	_, err := t.do(ctx, http.MethodGet, path, nil, nil)
	return err
}

// A requester sends one request and returns nil when it was answered 2xx.
// Each worker owns its requester, so it keeps state without locking.
type requester func(ctx context.Context) error

// partition gives worker w of k its own share of the n servers, so that no
// two writers of one workload update the same server at once: the benchmark
// measures throughput, not row contention, and the kill -9 check needs one
// writer per server to know which write came last.
func partition(w, k, n int) []int {
	var hosts []int
	for i := w; i < n; i += k {
		hosts = append(hosts, i)
	}
	return hosts
}

// pipelineRequester cycles through hosts, each request with a new commit;
// onAck (when set) hears of every acknowledged write.
func (t *target) pipelineRequester(hosts []int, run uint32, onAck func(host int, seq uint64)) requester {
	next, seq := 0, uint64(0)
	return func(ctx context.Context) error {
		h := hosts[next%len(hosts)]
		next++
		seq++
		err := t.postJSON(ctx, "/status/pipeline", newPipelineBody(h, shaFor(run, h, seq)))
		if err == nil && onAck != nil {
			onAck(h, seq)
		}
		return err
	}
}

// cronRequester cycles through hosts, flipping each between out_of_sync and
// synced on every visit, so every check is a state change.
func (t *target) cronRequester(hosts []int) requester {
	next := 0
	return func(ctx context.Context) error {
		h := hosts[next%len(hosts)]
		drifted := (next/len(hosts))%2 == 0
		next++
		return t.postJSON(ctx, "/status/cron", newCronBody(h, drifted))
	}
}

func (t *target) readOneRequester(seed uint64) requester {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	return func(ctx context.Context) error {
		return t.get(ctx, t.paths[rng.IntN(t.n)])
	}
}

func (t *target) readAllRequester() requester {
	return func(ctx context.Context) error { return t.get(ctx, "/status") }
}

// prometheusAccept is the Accept header of a Prometheus scrape.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

func (t *target) metricsRequester() requester {
	return func(ctx context.Context) error { return t.get(ctx, "/metrics") }
}

// occasionalReadAll reads one server, except at most once a second when it
// reads them all, as a Grafana dashboard refreshing among pipelines does.
func (t *target) occasionalReadAll(seed uint64) requester {
	one, all := t.readOneRequester(seed), t.readAllRequester()
	var last time.Time
	return func(ctx context.Context) error {
		if time.Since(last) >= time.Second {
			last = time.Now()
			return all(ctx)
		}
		return one(ctx)
	}
}

// requesters builds the conc workers of workload name.
func (t *target) requesters(name string, conc int) []requester {
	conc = max(1, conc)
	reqs := make([]requester, conc)
	switch name {
	case "pipeline", "cron":
		conc = min(conc, t.n)
		reqs = reqs[:conc]
		for w := range reqs {
			hosts := partition(w, conc, t.n)
			if name == "pipeline" {
				reqs[w] = t.pipelineRequester(hosts, 0, nil)
			} else {
				reqs[w] = t.cronRequester(hosts)
			}
		}
	case "read_all":
		for w := range reqs {
			reqs[w] = t.readAllRequester()
		}
	case "metrics":
		for w := range reqs {
			reqs[w] = t.metricsRequester()
		}
	case "read_one":
		for w := range reqs {
			reqs[w] = t.readOneRequester(uint64(w))
		}
	case "mixed":
		return t.mixedRequesters(conc)
	default:
		panic("unknown workload " + name)
	}
	return reqs
}

// mixedRequesters splits conc workers 3:2:3 into pipeline, cron and read_one
// workers, one of the readers also reading everything now and then.
func (t *target) mixedRequesters(conc int) []requester {
	var pipe, cron, read []int
	for w := range conc {
		switch w % 8 {
		case 0, 1, 2:
			pipe = append(pipe, w)
		case 3, 4:
			cron = append(cron, w)
		default:
			read = append(read, w)
		}
	}
	reqs := make([]requester, 0, conc)
	for k := range pipe {
		if hosts := partition(k, len(pipe), t.n); len(hosts) > 0 {
			reqs = append(reqs, t.pipelineRequester(hosts, 0, nil))
		}
	}
	for k := range cron {
		if hosts := partition(k, len(cron), t.n); len(hosts) > 0 {
			reqs = append(reqs, t.cronRequester(hosts))
		}
	}
	for k, w := range read {
		if k == 0 {
			reqs = append(reqs, t.occasionalReadAll(uint64(w)))
		} else {
			reqs = append(reqs, t.readOneRequester(uint64(w)))
		}
	}
	return reqs
}

// loadResult is what one workload run against one target measured.
type loadResult struct {
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Elapsed  time.Duration `json:"-"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"-"`
	P99      time.Duration `json:"-"`
	P50ms    float64       `json:"p50_ms"`
	P99ms    float64       `json:"p99_ms"`
	FirstErr string        `json:"first_error,omitempty"`
}

type workerResult struct {
	hist     histogram
	requests int64
	errors   int64
	firstErr error
}

// runLoad runs the workers until d has passed, each for at most maxPerWorker
// requests, or until ctx ends. Requests in flight at the deadline are let
// finish (the deadline is not their context), so they are not miscounted as
// errors; rps counts successful requests over the time until the last ended.
func runLoad(ctx context.Context, reqs []requester, d time.Duration, maxPerWorker int) loadResult {
	results := make([]workerResult, len(reqs))
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { drive(ctx, r, deadline, maxPerWorker, &results[i]) })
	}
	wg.Wait()
	return summarize(results, time.Since(start))
}

func drive(ctx context.Context, r requester, deadline time.Time, maxRequests int, res *workerResult) {
	for range maxRequests {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return
		}
		start := time.Now()
		err := r(ctx)
		res.hist.record(time.Since(start))
		res.requests++
		if err != nil {
			res.errors++
			if res.firstErr == nil {
				res.firstErr = err
			}
		}
	}
}

func summarize(results []workerResult, elapsed time.Duration) loadResult {
	var all histogram
	out := loadResult{Elapsed: elapsed}
	for i := range results {
		r := &results[i]
		all.merge(&r.hist)
		out.Requests += r.requests
		out.Errors += r.errors
		if r.firstErr != nil && out.FirstErr == "" {
			out.FirstErr = r.firstErr.Error()
		}
	}
	out.RPS = float64(out.Requests-out.Errors) / elapsed.Seconds()
	out.P50, out.P99 = all.quantile(0.50), all.quantile(0.99)
	out.P50ms, out.P99ms = ms(out.P50), ms(out.P99)
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// setHeads sets the head of every repo the seeded servers deploy, on their
// branch, to a commit none of them runs: every record is then behind, the
// most a read computes (SPEC §10).
func setHeads(ctx context.Context, t *target) error {
	for _, typ := range serverTypes {
		head := map[string]string{"repo_name": "org/ansible-" + typ, "branch": "main", "commit_sha": "feedfacefeedfacefeedfacefeedfacefeedface"}
		if err := t.postJSON(ctx, "/desired", head); err != nil {
			return err
		}
	}
	return nil
}
