package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/notify"
	"github.com/gitops-status/gitops-status/sqlite"
)

// fast is the timing of these tests: polls, retries and timeouts in
// milliseconds, so that a test waits for outcomes, not for the clock.
var fast = notify.Timing{
	Poll: 20 * time.Millisecond, Sweep: 50 * time.Millisecond,
	FirstRetry: 20 * time.Millisecond, MaxRetry: 80 * time.Millisecond,
	GiveUp: time.Hour, Request: 300 * time.Millisecond, Lease: 5 * time.Second,
}

// got is one request a receiver took.
type got struct {
	header http.Header
	body   []byte
	rec    map[string]any
}

// receiver is a webhook receiver started by the test. answer decides each
// request's status (nil: 200); requests answered 2xx are kept in ok.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	all    []got
	ok     []got
	answer func(n int, r *http.Request) int
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g := got{header: r.Header.Clone(), body: body}
	_ = json.Unmarshal(body, &g.rec)
	rc.mu.Lock()
	rc.all = append(rc.all, g)
	n := len(rc.all)
	rc.mu.Unlock()
	code := http.StatusOK
	if rc.answer != nil {
		code = rc.answer(n, r)
	}
	if code >= 200 && code < 300 {
		rc.mu.Lock()
		rc.ok = append(rc.ok, g)
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
}

func (rc *receiver) accepted() []got {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.ok)
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type counts struct {
	mu                            sync.Mutex
	sent, failed, retried, gaveUp map[string]int
	pending                       map[string]int
}

func newCounts() *counts {
	return &counts{sent: map[string]int{}, failed: map[string]int{}, retried: map[string]int{}, gaveUp: map[string]int{}, pending: map[string]int{}}
}

func (c *counts) Sent(h string, _ time.Duration) { c.mu.Lock(); c.sent[h]++; c.mu.Unlock() }
func (c *counts) Failed(h string)                { c.mu.Lock(); c.failed[h]++; c.mu.Unlock() }
func (c *counts) Retried(h string)               { c.mu.Lock(); c.retried[h]++; c.mu.Unlock() }
func (c *counts) GaveUp(h string)                { c.mu.Lock(); c.gaveUp[h]++; c.mu.Unlock() }
func (c *counts) Pending(p map[string]int)       { c.mu.Lock(); c.pending = p; c.mu.Unlock() }
func (c *counts) get(m *map[string]int, h string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (*m)[h]
}

type fixture struct {
	store *sqlite.Store
	obs   *counts
	d     *notify.Dispatcher
}

func start(t *testing.T, staleAfter time.Duration, timing notify.Timing, hooks ...notify.Webhook) *fixture {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{StaleAfter: staleAfter})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, obs: newCounts()}
	f.d = notify.New(notify.Options{Outbox: s, Store: s, PublicURL: "https://status.example.com", Observer: f.obs, Timing: timing}, hooks)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return f
}

func (f *fixture) report(t *testing.T, group, host string, st gitops.Status, files ...string) gitops.Outcome {
	t.Helper()
	o, err := f.store.Apply(context.Background(), &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: group, Host: host,
		Environment: "prod", Status: st, ChangedFiles: files, CommitSHA: "abc1234def", UpdatedBy: "ci", ValidationStatus: gitops.ValidationPassed})
	if err != nil {
		t.Fatal(err)
	}
	f.d.Wake()
	return o
}

func hook(name, url string, on ...gitops.Trigger) notify.Webhook {
	if on == nil {
		on = gitops.Triggers
	}
	return notify.Webhook{Name: name, URL: url, Format: notify.FormatJSON, Secret: "s3cret", On: on}
}

// summary is "host:status" of each accepted request, in arrival order.
func summary(gs []got) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.rec["host"].(string)+":"+g.rec["status"].(string))
	}
	return out
}

func perServer(gs []got, host string) []string {
	var out []string
	for _, s := range summary(gs) {
		if s[:len(host)+1] == host+":" {
			out = append(out, s)
		}
	}
	return out
}

func TestDeliversSignedInOrder(t *testing.T) {
	rc := newReceiver(t, nil)
	f := start(t, 0, fast, hook("ops", rc.srv.URL))
	var ids []int64
	for i, st := range []gitops.Status{gitops.StatusSynced, gitops.StatusOutOfSync, gitops.StatusFailed, gitops.StatusSynced, gitops.StatusOutOfSync} {
		if o := f.report(t, "web", "a", st, "x.conf"); i > 0 { // a new synced server is no news
			ids = append(ids, o.Event.ID)
		}
		f.report(t, "web", "b", st)
	}
	want := []string{"a:out_of_sync", "a:failed", "a:synced", "a:out_of_sync"}
	waitFor(t, "8 deliveries", func() bool { return len(rc.accepted()) == 8 })
	gs := rc.accepted()
	if got := perServer(gs, "a"); !slices.Equal(got, want) {
		t.Fatalf("a's deliveries arrived as %q, want %q", got, want)
	}
	if got := perServer(gs, "b"); !slices.Equal(got, []string{"b:out_of_sync", "b:failed", "b:synced", "b:out_of_sync"}) {
		t.Fatalf("b's deliveries arrived as %q", got)
	}
	var keys []string
	for _, g := range gs {
		if !notify.Verify("s3cret", g.body, g.header.Get(notify.SignatureHeader)) {
			t.Errorf("signature %q does not verify the body %s", g.header.Get(notify.SignatureHeader), g.body)
		}
		if notify.Verify("other", g.body, g.header.Get(notify.SignatureHeader)) {
			t.Errorf("signature verifies under another secret")
		}
		key := g.header.Get(notify.IdempotencyHeader)
		if id := strconv.FormatInt(int64(g.rec["id"].(float64)), 10); key != id {
			t.Errorf("idempotency key %q, want the event id %s", key, id)
		}
		if g.rec["host"] == "a" {
			keys = append(keys, key)
		}
		if g.rec["url"] != "https://status.example.com/ui/web/"+g.rec["host"].(string) {
			t.Errorf("url = %v", g.rec["url"])
		}
		if g.rec["environment"] != "prod" || g.rec["status_since"] == nil || g.rec["text"] == "" {
			t.Errorf("body lacks environment, status_since or text: %s", g.body)
		}
	}
	var wantKeys []string
	for _, id := range ids {
		wantKeys = append(wantKeys, strconv.FormatInt(id, 10))
	}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("a's idempotency keys %q, want the event ids %q", keys, wantKeys)
	}
	waitFor(t, "sent counted", func() bool { return f.obs.get(&f.obs.sent, "ops") == 8 })
}

func TestRetriesAfter500AndTimeout(t *testing.T) {
	rc := newReceiver(t, func(n int, r *http.Request) int {
		switch n {
		case 1, 2:
			return http.StatusInternalServerError
		case 3:
			// Longer than the request timeout: the attempt fails.
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return http.StatusGatewayTimeout // the client is gone: not counted as taken
		}
		return http.StatusOK
	})
	f := start(t, 0, fast, hook("ops", rc.srv.URL))
	f.report(t, "web", "a", gitops.StatusFailed)
	f.report(t, "web", "a", gitops.StatusSynced)
	waitFor(t, "both delivered", func() bool { return len(rc.accepted()) >= 2 })
	gs := rc.accepted()
	if got := summary(gs); !slices.Equal(got[:2], []string{"a:failed", "a:synced"}) {
		t.Fatalf("delivered %q, want failed then synced", got)
	}
	rc.mu.Lock()
	first := rc.all[0].header.Get(notify.IdempotencyHeader)
	for i := range 3 {
		if k := rc.all[i].header.Get(notify.IdempotencyHeader); k != first {
			t.Errorf("attempt %d carried key %q, want the same key %q on every attempt", i+1, k, first)
		}
	}
	rc.mu.Unlock()
	if n := f.obs.get(&f.obs.failed, "ops"); n < 3 {
		t.Errorf("failed attempts counted %d, want at least 3 (two 500s and a timeout)", n)
	}
	if n := f.obs.get(&f.obs.retried, "ops"); n < 3 {
		t.Errorf("retries counted %d, want at least 3", n)
	}
}

func TestReceiverDownForAWhile(t *testing.T) {
	// An address nothing listens on, until the receiver comes up there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f := start(t, 0, fast, hook("ops", "http://"+addr+"/hook"))
	for _, st := range []gitops.Status{gitops.StatusOutOfSync, gitops.StatusFailed, gitops.StatusSynced} {
		f.report(t, "web", "a", st)
		f.report(t, "web", "b", st)
	}
	waitFor(t, "failed attempts", func() bool { return f.obs.get(&f.obs.failed, "ops") >= 4 })
	rc := &receiver{}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(rc.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	waitFor(t, "6 deliveries after the receiver came up", func() bool { return len(rc.accepted()) == 6 })
	for _, h := range []string{"a", "b"} {
		if got := perServer(rc.accepted(), h); !slices.Equal(got, []string{h + ":out_of_sync", h + ":failed", h + ":synced"}) {
			t.Errorf("%s's deliveries arrived as %q", h, got)
		}
	}
}

func TestGivesUpAfterTheLimit(t *testing.T) {
	rc := newReceiver(t, func(n int, r *http.Request) int {
		if r.Header.Get(notify.TriggerHeader) == "out_of_sync" {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	timing := fast
	timing.GiveUp = 300 * time.Millisecond
	f := start(t, 0, timing, hook("ops", rc.srv.URL))
	f.report(t, "web", "a", gitops.StatusOutOfSync)
	f.report(t, "web", "a", gitops.StatusFailed)
	waitFor(t, "the failed delivery after the given-up one", func() bool { return len(rc.accepted()) == 1 })
	if got := summary(rc.accepted()); !slices.Equal(got, []string{"a:failed"}) {
		t.Fatalf("delivered %q", got)
	}
	if n := f.obs.get(&f.obs.gaveUp, "ops"); n != 1 {
		t.Errorf("given up counted %d, want 1", n)
	}
}

func TestFiltersAndSlowReceiver(t *testing.T) {
	block := make(chan struct{})
	slow := newReceiver(t, func(n int, r *http.Request) int {
		select {
		case <-block:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(block) })
	dbFailed := newReceiver(t, nil)
	all := newReceiver(t, nil)
	timing := fast
	timing.Request = time.Minute // the slow receiver holds its deliveries
	db := hook("db-failed", dbFailed.srv.URL, gitops.TriggerFailed)
	db.ServerGroups = []string{"db-*"}
	f := start(t, 0, timing, hook("slow", slow.srv.URL), db, hook("all", all.srv.URL, gitops.TriggerOutOfSync, gitops.TriggerFailed))
	f.report(t, "db-prod", "a", gitops.StatusOutOfSync)
	f.report(t, "db-prod", "a", gitops.StatusFailed)
	f.report(t, "web", "b", gitops.StatusFailed)
	f.report(t, "web", "b", gitops.StatusSynced) // recovery: "all" does not want it
	waitFor(t, "db-failed and all deliveries", func() bool { return len(dbFailed.accepted()) == 1 && len(all.accepted()) == 3 })
	if got := summary(dbFailed.accepted()); !slices.Equal(got, []string{"a:failed"}) {
		t.Errorf("db-failed got %q, want only db-prod's failed", got)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong extra delivery to show
	if got := summary(all.accepted()); len(got) != 3 || slices.Contains(got, "b:synced") {
		t.Errorf("all got %q, want out_of_sync and failed only", got)
	}
	if n := len(slow.accepted()); n != 0 {
		t.Errorf("the slow receiver answered %d", n)
	}
}

func TestReminders(t *testing.T) {
	rc := newReceiver(t, nil)
	h := hook("ops", rc.srv.URL, gitops.TriggerFailed)
	h.RemindEvery = 150 * time.Millisecond
	f := start(t, 0, fast, h)
	f.report(t, "web", "a", gitops.StatusFailed)
	f.report(t, "web", "b", gitops.StatusOutOfSync) // not wanted, so not reminded of
	waitFor(t, "two reminders", func() bool { return len(rc.accepted()) >= 3 })
	f.report(t, "web", "a", gitops.StatusSynced)
	gs := rc.accepted()
	if gs[0].rec["reminder"] != false || gs[1].rec["reminder"] != true || gs[2].rec["reminder"] != true {
		t.Fatalf("reminder flags %v %v %v, want the event, then reminders", gs[0].rec["reminder"], gs[1].rec["reminder"], gs[2].rec["reminder"])
	}
	for _, g := range gs {
		if g.rec["host"] != "a" || g.rec["status"] != "failed" {
			t.Errorf("reminded of %s:%s", g.rec["host"], g.rec["status"])
		}
	}
	if gs[1].header.Get(notify.IdempotencyHeader) == gs[2].header.Get(notify.IdempotencyHeader) {
		t.Errorf("two reminders share the key %q", gs[1].header.Get(notify.IdempotencyHeader))
	}
	// Once a recovered, reminders stop.
	n := len(rc.accepted())
	time.Sleep(400 * time.Millisecond)
	if m := len(rc.accepted()); m > n+1 { // one may have been due as a recovered
		t.Errorf("%d reminders after recovery", m-n)
	}
}

func TestStaleSweep(t *testing.T) {
	rc := newReceiver(t, nil)
	f := start(t, 300*time.Millisecond, fast, hook("ops", rc.srv.URL, gitops.TriggerStale))
	f.report(t, "web", "a", gitops.StatusSynced)
	waitFor(t, "a stale notification", func() bool { return len(rc.accepted()) == 1 })
	g := rc.accepted()[0]
	if g.rec["source"] != "sweep" || g.rec["trigger"] != "stale" || !slices.Equal(g.rec["changes"].([]any), []any{"stale"}) {
		t.Fatalf("stale notification %s", g.body)
	}
	f.report(t, "web", "a", gitops.StatusSynced) // the same state: no event of its own
	waitFor(t, "a fresh notification", func() bool { return len(rc.accepted()) >= 2 })
	if g := rc.accepted()[1]; !slices.Equal(g.rec["changes"].([]any), []any{"fresh"}) {
		t.Fatalf("second notification %s, want fresh", g.body)
	}
}

// With no webhook the store writes no outbox entries, which would only be
// drained unsent; a webhook added by a reload turns them on again, and
// hears of the transitions from then on.
func TestOutboxOffWithoutWebhooks(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "status.db"), gitops.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := notify.New(notify.Options{Outbox: s, Store: s}, nil) // not run: nothing drains the outbox
	entries := func(host string) int {
		t.Helper()
		if _, err := s.Apply(context.Background(), &gitops.PipelineUpdate{Source: gitops.SourcePipeline, ServerGroup: "web", Host: host,
			Status: gitops.StatusFailed, CommitSHA: "abc1234def"}); err != nil {
			t.Fatal(err)
		}
		n, err := s.ExpandOutbox(context.Background(), 10, func(gitops.Notice) []string { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := entries("a"); n != 0 {
		t.Errorf("no webhook: a failed server wrote %d outbox entries, want 0", n)
	}
	d.SetWebhooks([]notify.Webhook{hook("ops", "http://127.0.0.1:9/", gitops.TriggerFailed)})
	if n := entries("b"); n != 1 {
		t.Errorf("a webhook added: a failed server wrote %d outbox entries, want 1", n)
	}
	d.SetWebhooks(nil)
	if n := entries("c"); n != 0 {
		t.Errorf("the webhooks removed: a failed server wrote %d outbox entries, want 0", n)
	}
}
