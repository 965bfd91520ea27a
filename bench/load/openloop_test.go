package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPlanSchedulesEveryServerOnceAMinute(t *testing.T) {
	for _, n := range []int{1, 6, 7_919, 60_000, 200_000} {
		p := newPlan(n, 2*reportEvery)
		if want := 2 * n; p.total != want {
			t.Errorf("n=%d: %d requests due in two minutes, want %d", n, p.total, want)
		}
		// Each minute's n requests name every server exactly once.
		for minute := range 2 {
			seen := make([]bool, n)
			for k := minute * n; k < (minute+1)*n; k++ {
				i := p.server(k)
				if i < 0 || i >= n || seen[i] {
					t.Fatalf("n=%d: request %d names server %d twice or out of range in minute %d", n, k, i, minute)
				}
				seen[i] = true
			}
		}
		if got := p.at(n); got < reportEvery-time.Millisecond || got > reportEvery+time.Millisecond {
			t.Errorf("n=%d: request %d due at %v, want one minute", n, n, got)
		}
	}
}

func TestPlanDueCountsRequestsByTheirTime(t *testing.T) {
	p := newPlan(6_000, 10*time.Second) // 100 a second, 1,000 in all
	tests := []struct {
		elapsed time.Duration
		want    int
	}{
		{-time.Second, 0},
		{0, 1},                          // request 0 is due at once
		{9 * time.Millisecond, 1},       // request 1 at 10 ms
		{10 * time.Millisecond, 2},      //
		{time.Second, 101},              // 0..100
		{10 * time.Second, 1_000},       // never more than the run holds
		{time.Hour, 1_000},              //
		{999*time.Millisecond + 1, 100}, // request 100 is due at 1 s
	}
	for _, tt := range tests {
		if got := p.due(tt.elapsed); got != tt.want {
			t.Errorf("due(%v) = %d, want %d", tt.elapsed, got, tt.want)
		}
	}
}

func TestPlanMix(t *testing.T) {
	p := newPlan(10_000, 2*reportEvery)
	var pipelines, drifted, checks int
	for k := range p.total {
		if p.pipeline(k) {
			pipelines++
			continue
		}
		checks++
		if p.drifted(k) {
			drifted++
		}
	}
	if share := float64(pipelines) / float64(p.total); share < 0.19 || share > 0.21 {
		t.Errorf("pipelines are %.3f of the requests, want 0.20", share)
	}
	if share := float64(drifted) / float64(checks); share < 0.09 || share > 0.11 {
		t.Errorf("%.3f of the drift checks report drift, want about 0.10", share)
	}
	// The drifted servers change from minute to minute: about a tenth of
	// those drifted in one are drifted in the next too, not all.
	first, both := 0, 0
	for k := range 10_000 {
		if p.drifted(k) {
			first++
			if p.drifted(k + 10_000) {
				both++
			}
		}
	}
	if both*3 > first {
		t.Errorf("%d of the %d servers drifted in the first minute drifted in the second too", both, first)
	}
}

// A second run on the same store continues the fleet's schedule: every
// server still reports once in its minute, but which of them drift is that
// minute's, not a repeat of the run before.
func TestPlanRunsContinueTheSchedule(t *testing.T) {
	const n = 10_000
	one := newPlan(n, reportEvery).forRun(1)
	two := newPlan(n, reportEvery).forRun(2)
	seen := make([]bool, n)
	same, drifted := 0, 0
	for k := range two.total {
		i := two.server(k)
		if seen[i] {
			t.Fatalf("server %d reports twice in the second run", i)
		}
		seen[i] = true
		if i != one.server(k) {
			t.Fatalf("request %d: server %d in the second run, %d in the first", k, i, one.server(k))
		}
		if one.drifted(k) {
			drifted++
			if two.drifted(k) {
				same++
			}
		}
	}
	if drifted == 0 || same*3 > drifted {
		t.Errorf("%d of the %d servers drifted in the first run drift in the second too", same, drifted)
	}
	// Every deployment of the second run brings a commit the first did
	// not, and what a report shows is what its body says.
	commits := map[string]bool{}
	for k := range one.total {
		if _, body, shows := one.report(k); shows.sha != "" {
			commits[shows.sha] = true
			if b := body.(pipelineBody); b.CommitSHA != shows.sha {
				t.Fatalf("request %d sends commit %s, shows %s", k, b.CommitSHA, shows.sha)
			}
		}
	}
	for k := range two.total {
		path, body, shows := two.report(k)
		switch b := body.(type) {
		case pipelineBody:
			if path != "/status/pipeline" || commits[b.CommitSHA] {
				t.Fatalf("second run's request %d: %s with commit %s, which the first run deployed already or to the wrong path", k, path, b.CommitSHA)
			}
		case cronBody:
			if path != "/status/cron" || shows.status != b.Status {
				t.Fatalf("second run's request %d: %s shows status %q, sends %q", k, path, shows.status, b.Status)
			}
		}
	}
}

// fakeClock is a clock that moves only when the dispatcher sleeps, so the
// dispatcher never waits for real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Advance(d time.Duration) { c.Sleep(context.Background(), d) }

func TestDispatcherSendsEveryRequestOnSchedule(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000, 0)}
	p := newPlan(600, 5*time.Second) // 10 a second, 50 in all
	var mu sync.Mutex
	sentAt := map[int]time.Time{}
	// Enough slots that none is ever short: the fake clock moves on
	// whether or not the sends have returned.
	d := &dispatcher{plan: p, cap: 64, now: clock.Now, sleep: clock.Sleep,
		send: func(_ context.Context, k int) error {
			mu.Lock()
			sentAt[k] = clock.Now()
			mu.Unlock()
			if k%10 == 3 {
				return errors.New("refused")
			}
			return nil
		}}
	start := clock.Now()
	tl := d.run(context.Background(), start)
	if tl.sent != 50 || tl.dropped != 0 || tl.ok != 45 || tl.errors != 5 || tl.firstErr != "refused" {
		t.Fatalf("sent %d, dropped %d, ok %d, errors %d (%q); want 50, 0, 45, 5", tl.sent, tl.dropped, tl.ok, tl.errors, tl.firstErr)
	}
	for k, at := range sentAt {
		if at.Before(start.Add(p.at(k))) {
			t.Errorf("request %d sent at %v, before it was due at %v", k, at.Sub(start), p.at(k))
		}
	}
	if tl.hist.n != 50 {
		t.Errorf("%d latencies recorded, want 50", tl.hist.n)
	}
}

// dispatchHanging dispatches a plan of a fleet of 600 over d with that
// many slots, every send hanging until the last request was dispatched,
// and returns the counts.
func dispatchHanging(d time.Duration, slots int) *tally {
	clock := &fakeClock{now: time.Unix(1_000, 0)}
	release := make(chan struct{})
	disp := &dispatcher{plan: newPlan(600, d), cap: slots, now: clock.Now, sleep: clock.Sleep,
		send: func(context.Context, int) error { <-release; return nil }}
	wait := disp.dispatch(context.Background(), clock.Now())
	close(release)
	return wait()
}

func TestDispatcherDropsWhatFindsNoSlot(t *testing.T) {
	// 50 requests: the first three take every slot and hang; the other 47
	// come due with none free and are dropped, not queued.
	tl := dispatchHanging(5*time.Second, 3)
	if tl.sent != 3 || tl.dropped != 47 || tl.ok != 3 {
		t.Fatalf("sent %d, dropped %d, ok %d; want 3, 47, 3", tl.sent, tl.dropped, tl.ok)
	}
	if got := tl.dropSeconds(); got != "0-4 (47)" {
		t.Errorf("dropped in seconds %q, want %q", got, "0-4 (47)")
	}
	if tl.mostInFlight != 3 {
		t.Errorf("most in flight %d, want the cap, 3", tl.mostInFlight)
	}
}

func TestDispatcherCountsMostInFlight(t *testing.T) {
	// 5 requests, all hanging until the last was sent: 5 in flight at the
	// end, half the cap, none dropped.
	tl := dispatchHanging(500*time.Millisecond, 10)
	if tl.sent != 5 || tl.dropped != 0 || tl.mostInFlight != 5 {
		t.Errorf("sent %d, dropped %d, most in flight %d; want 5, 0, 5", tl.sent, tl.dropped, tl.mostInFlight)
	}
}

func TestDropSeconds(t *testing.T) {
	tl := &tally{droppedBySec: map[int]int64{41: 830, 12: 5000, 13: 10, 14: 200, 59: 1}}
	if got, want := tl.dropSeconds(), "12-14 (5210), 41 (830), 59 (1)"; got != want {
		t.Errorf("dropSeconds() = %q, want %q", got, want)
	}
	if got := (&tally{}).dropSeconds(); got != "" {
		t.Errorf("dropSeconds() with none dropped = %q, want \"\"", got)
	}
}

func TestDispatcherCountsLatencyFromTheDueTime(t *testing.T) {
	t.Run("slow answer", func(t *testing.T) {
		clock := &fakeClock{now: time.Unix(1_000, 0)}
		p := newPlan(60, time.Second) // one request, due at once
		d := &dispatcher{plan: p, cap: 1, now: clock.Now, sleep: clock.Sleep,
			send: func(context.Context, int) error { clock.Advance(2500 * time.Millisecond); return nil }}
		tl := d.run(context.Background(), clock.Now())
		if got := tl.hist.quantile(1); got < 2450*time.Millisecond || got > 2550*time.Millisecond {
			t.Errorf("latency %v, want the answer's 2.5 s", got)
		}
	})
	t.Run("sent late", func(t *testing.T) {
		// The generator starts 10 s behind its schedule (as when it could
		// not send for a while): requests due at 0, 1 and 2 s are sent at
		// 10 s and answered at once, and each is charged its whole wait.
		clock := &fakeClock{now: time.Unix(1_000, 0)}
		p := newPlan(60, 3*time.Second)
		d := &dispatcher{plan: p, cap: 8, now: clock.Now, sleep: clock.Sleep,
			send: func(context.Context, int) error { return nil }}
		tl := d.run(context.Background(), clock.Now().Add(-10*time.Second))
		lo, hi := tl.hist.quantile(0.01), tl.hist.quantile(1)
		if lo < 7900*time.Millisecond || hi < 9900*time.Millisecond || hi > 10100*time.Millisecond {
			t.Errorf("latencies %v..%v, want 8 s..10 s, from when each was due", lo, hi)
		}
	})
}

func TestCarried(t *testing.T) {
	carried := fleetResult{Due: 100, Sent: 100, OK: 100, P99ms: 1000}
	tests := []struct {
		name string
		edit func(r *fleetResult)
		want bool
	}{
		{"everything answered in time", func(*fleetResult) {}, true},
		{"one dropped", func(r *fleetResult) { r.Sent, r.Dropped = 99, 1 }, false},
		{"one refused", func(r *fleetResult) { r.OK, r.Errors = 99, 1 }, false},
		{"p99 over a second", func(r *fleetResult) { r.P99ms = 1001 }, false},
		{"the run ended before all were due", func(r *fleetResult) { r.Sent, r.OK = 90, 90 }, false},
		{"a group read failed", func(r *fleetResult) { r.Reads.GroupErrors = 1 }, false},
		{"a full read failed", func(r *fleetResult) { r.Reads.FullErrors = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := carried
			tt.edit(&r)
			r.judge()
			if r.Carried != tt.want {
				t.Errorf("carried = %v, want %v", r.Carried, tt.want)
			}
		})
	}
}

func TestFleetFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-fleet", "6000"}, ""},
		{[]string{"-fleet", "6000", "-backend", "postgres", "-replicas", "2"}, ""},
		{[]string{"-fleet", "6000", "-replicas", "2"}, "-replicas needs -backend postgres"},
		{[]string{"-fleet", "6000", "-backend", "mysql"}, `-backend "mysql"`},
		{[]string{"-fleet", "6000,x"}, `-fleet: "x" is not a positive number`},
		{[]string{"-fleet", "6000", "-inflight", "0"}, "must be positive"},
	}
	for _, tt := range tests {
		c, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want one saying %q", tt.args, err, tt.wantErr)
		case err == nil && c.duration != reportEvery:
			t.Errorf("%q: -duration defaults to %v, want a minute", tt.args, c.duration)
		}
	}
}
