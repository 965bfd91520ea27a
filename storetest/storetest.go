// Package storetest is the conformance suite every gitops.Store passes: the
// SQLite and PostgreSQL stores run it unchanged, so both answer every
// question the same way.
//
// The suite tests only through the gitops.Store interface and asserts what
// a user would notice: the records and events returned, their order, and
// the errors' codes.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
)

// Run runs the conformance suite against the stores open returns. open
// returns a fresh, empty store built with opts and registers its cleanup
// (Close, dropping a database) on t itself. Each subtest opens its own
// store with its own clock (a Clock) and global staleness threshold, and
// the suite never runs subtests in parallel, so an opener may reuse one
// database by emptying it (servers, events, heads and the record of an import).
//
// Beyond the gitops.Store contract, the suite expects a store to read its
// clock while it holds the server being updated, so that the times an
// update sets are in the order the updates were applied.
//
// A store that also implements gitops.EncodedReader must answer its
// encoded reads exactly as Get and List answer, encoded, and show an
// acknowledged write in the very next one; the Encoded subtests are
// skipped for a store that does not implement it. The same holds for
// gitops.SampleReader and the Samples subtests.
func Run(t *testing.T, open func(t *testing.T, opts gitops.StoreOptions) gitops.Store) {
	h := &harness{open: open}
	t.Run("Apply", h.testApply)
	t.Run("OutOfOrder", h.testOutOfOrder)
	t.Run("Events", h.testEvents)
	t.Run("List", h.testList)
	t.Run("Stale", h.testStale)
	t.Run("NotFound", h.testNotFound)
	t.Run("Delete", h.testDelete)
	t.Run("LegacyLatest", h.testLegacyLatest)
	t.Run("Import", h.testImport)
	t.Run("Concurrency", h.testConcurrency)
	t.Run("Ping", h.testPing)
	t.Run("Encoded", h.testEncoded)
	t.Run("Samples", h.testSamples)
	t.Run("Batches", h.testBatches)
	t.Run("Outbox", h.testOutbox)
	t.Run("Desired", h.testDesired)
}

type harness struct {
	open func(t *testing.T, opts gitops.StoreOptions) gitops.Store
}

// T0 is the time every subtest's clock starts at. It has a microsecond
// part, so a store that keeps less precision fails.
var T0 = time.Date(2026, 4, 26, 10, 30, 0, 123456000, time.UTC)

// env is one subtest's store and clock.
type env struct {
	t     *testing.T
	s     gitops.Store
	clock *Clock
	ctx   context.Context
}

// newEnv opens a store whose clock starts at T0 and stands still until the
// test moves it.
func (h *harness) newEnv(t *testing.T, staleAfter time.Duration) *env {
	t.Helper()
	c := NewClock(T0, 0)
	s := h.open(t, gitops.StoreOptions{Now: c.Now, StaleAfter: staleAfter})
	return &env{t: t, s: s, clock: c, ctx: context.Background()}
}

// Clock is a controllable clock for StoreOptions.Now. It returns the time
// last set, then moves it on by its step (0 = stands still). It is safe
// for concurrent use.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// NewClock returns a clock at start that advances by step on every reading.
func NewClock(start time.Time, step time.Duration) *Clock {
	return &Clock{now: start, step: step}
}

// Now returns the clock's time and advances it by its step.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (e *env) apply(u gitops.Update) gitops.Outcome {
	e.t.Helper()
	o, err := e.s.Apply(e.ctx, u)
	if err != nil {
		e.t.Fatalf("Apply(%s): %v", u.Key(), err)
	}
	return o
}

func (e *env) get(group, host string) gitops.Server {
	e.t.Helper()
	s, err := e.s.Get(e.ctx, gitops.Key{ServerGroup: group, Host: host})
	if err != nil {
		e.t.Fatalf("Get(%s/%s): %v", group, host, err)
	}
	return s
}

func (e *env) list(f gitops.Filter) ([]gitops.Server, int) {
	e.t.Helper()
	l, n, err := e.s.List(e.ctx, f)
	if err != nil {
		e.t.Fatalf("List(%+v): %v", f, err)
	}
	return l, n
}

func (e *env) events(f gitops.EventFilter) []gitops.Event {
	e.t.Helper()
	evs, err := e.s.Events(e.ctx, f)
	if err != nil {
		e.t.Fatalf("Events(%+v): %v", f, err)
	}
	return evs
}

func (e *env) importServers(servers []gitops.Server, mode gitops.ImportMode) bool {
	e.t.Helper()
	ok, err := e.s.Import(e.ctx, servers, mode)
	if err != nil {
		e.t.Fatalf("Import: %v", err)
	}
	return ok
}

// wantStored checks that Get returns want.
func (e *env) wantStored(want gitops.Server) {
	e.t.Helper()
	got := e.get(want.ServerGroup, want.Host)
	if d := diffServer(got, want); d != "" {
		e.t.Errorf("Get(%s) differs from what was written:\n%s", want.Key(), d)
	}
}

// pipeline returns a realistic pipeline update; tests change what they need.
func pipeline(group, host string, st gitops.Status, commit string) *gitops.PipelineUpdate {
	return &gitops.PipelineUpdate{
		Source:            gitops.SourcePipeline,
		ServerGroup:       group,
		Host:              host,
		ProjectName:       "infra-" + group,
		RepoName:          "rsyslog-config",
		ServerType:        "rsyslog",
		Environment:       "prod",
		Status:            st,
		ChangedFiles:      []string{"rsyslog.d/50-remote.conf", "rsyslog.conf", "a/b.conf"},
		ValidationStatus:  gitops.ValidationPassed,
		ValidationMessage: "rsyslogd -N1 ok",
		CommitSHA:         commit,
		Branch:            "main",
		UpdatedBy:         "woodpecker",
		Labels:            map[string]string{"datacenter": "dc1", "owner": "ops"},
	}
}

// legacy returns a legacy v1 update, as ParseLegacyUpdate builds it.
func legacy(group, host string, st gitops.Status) *gitops.PipelineUpdate {
	return &gitops.PipelineUpdate{
		Source:           gitops.SourceLegacy,
		ServerGroup:      group,
		Host:             host,
		RepoName:         group,
		ServerType:       group,
		Status:           st,
		ChangedFiles:     []string{"rsyslog.conf"},
		ValidationStatus: gitops.ValidationUnknown,
		UpdatedBy:        "legacy-api",
		Labels:           map[string]string{},
	}
}

func cron(group, host string, st gitops.Status, files ...string) *gitops.CronUpdate {
	if files == nil {
		files = []string{}
	}
	return &gitops.CronUpdate{ServerGroup: group, Host: host, Status: st, ChangedFiles: files}
}

func strptr(s string) *string { return &s }

func boolptr(b bool) *bool { return &b }

// sha returns a 40-hex-digit commit id derived from n.
func sha(n int) string { return fmt.Sprintf("%040x", n) }

// diffServer describes how got differs from want, field by field; "" when
// they are equal. Times compare as instants, nil and empty lists and maps
// as equal (both are written as [] and {}).
func diffServer(got, want gitops.Server) string {
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !equalField(g, w) {
			diffs = append(diffs, fmt.Sprintf("  %s: got %s, want %s", name, show(g), show(w)))
		}
	}
	return strings.Join(diffs, "\n")
}

func equalField(g, w any) bool {
	switch g := g.(type) {
	case time.Time:
		return g.Equal(w.(time.Time))
	case gitops.Time:
		return g.Equal(w.(gitops.Time).Time)
	case []string:
		return slices.Equal(g, w.([]string))
	case map[string]string:
		return maps.Equal(g, w.(map[string]string))
	default:
		return reflect.DeepEqual(g, w)
	}
}

func show(v any) string {
	switch v := v.(type) {
	case time.Time:
		if v.IsZero() {
			return "unset"
		}
		return gitops.FormatTime(v)
	case gitops.Time:
		return show(v.Time)
	default:
		return fmt.Sprintf("%#v", v)
	}
}

// diffEvent is diffServer for events, ignoring the ID when ignoreID.
func diffEvent(got, want gitops.Event, ignoreID bool) string {
	if ignoreID {
		got.ID, want.ID = 0, 0
	}
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !equalField(g, w) {
			diffs = append(diffs, fmt.Sprintf("  %s: got %s, want %s", gv.Type().Field(i).Name, show(g), show(w)))
		}
	}
	return strings.Join(diffs, "\n")
}

func keys(servers []gitops.Server) []string {
	out := make([]string, len(servers))
	for i := range servers {
		out[i] = servers[i].Key().String()
	}
	return out
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := gitops.ErrorCode(err); got != code {
		t.Errorf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

func (h *harness) testPing(t *testing.T) {
	e := h.newEnv(t, 0)
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
}
