package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// plan is the open loop's schedule: a fleet of n servers each reporting once
// a minute, so n/60 reports are due every second, request k at k/rate after
// the start, whatever the answers to the earlier ones.
type plan struct {
	n     int
	rate  float64 // requests due per second
	total int     // requests due in the run
	step  int     // the permutation's multiplier, coprime with n
	// first is the fleet's number for the run's request 0. The runs on
	// one store set it to continue the fleet's schedule: a run that
	// started again at 0 would repeat the previous run's reports, the
	// same servers drifting and the same commits, so its reports would
	// change nothing that run had not already stored.
	first int
}

// reportEvery is how often every server of the fleet reports.
const reportEvery = time.Minute

func newPlan(n int, d time.Duration) plan {
	rate := float64(n) / reportEvery.Seconds()
	p := plan{n: n, rate: rate, total: int(int64(n) * int64(d) / int64(reportEvery))}
	// Visit the servers in a fixed scattered order rather than by index:
	// consecutive indexes are neighbours in the store's key order, which
	// would give the writes a locality real cron timings do not have.
	p.step = 7_919 // a prime, moved up until it shares no factor with n
	for gcd(p.step, n) != 1 {
		p.step += 2
	}
	return p
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// at is when request k is due, counted from the start.
func (p plan) at(k int) time.Duration {
	return time.Duration(float64(k) / p.rate * float64(time.Second))
}

// due is how many requests are due by elapsed: those with at(k) ≤ elapsed.
func (p plan) due(elapsed time.Duration) int {
	if elapsed < 0 {
		return 0
	}
	c := int(elapsed.Seconds()*p.rate) + 1
	for c > 0 && p.at(c-1) > elapsed {
		c--
	}
	for c < p.total && p.at(c) <= elapsed {
		c++
	}
	return min(c, p.total)
}

// server is the index of the server sending request k: each server once in
// every n consecutive requests, so once a minute.
func (p plan) server(k int) int {
	return int((int64((p.first+k)%p.n) * int64(p.step)) % int64(p.n))
}

// dice is a number fixed by request k's server and minute, from which its
// kind and body are drawn: independent of the visiting order, and
// different for one server from minute to minute.
func (p plan) dice(k int) uint64 {
	// splitmix64's finalizer.
	x := uint64(p.server(k))<<32 | uint64((p.first+k)/p.n)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// pipeline says whether request k is a deployment (one in five) rather than
// a drift check.
func (p plan) pipeline(k int) bool { return p.dice(k)%5 == 0 }

// drifted says whether drift check k reports its server out of sync: about
// one check in ten, different servers every minute, so some checks change a
// server's status and most repeat it, as in a real fleet.
func (p plan) drifted(k int) bool { return p.dice(k)/5%10 == 0 }

// forRun is p as run number run (from 1) on one store sends it, continuing
// the fleet's schedule where the run before ended.
func (p plan) forRun(run int) plan {
	p.first = (run - 1) * p.total
	return p
}

// report is request k: where it is sent, its body, and what its server's
// record shows once it is stored (a drift check's send time is the
// sender's to fill in).
func (p plan) report(k int) (path string, body any, shows fleetAck) {
	i := p.server(k)
	if p.pipeline(k) {
		shows.sha = shaFor(1, i, uint64(p.first+k))
		return "/status/pipeline", newPipelineBody(i, shows.sha), shows
	}
	cron := newCronBody(i, p.drifted(k))
	shows.status = cron.Status
	return "/status/cron", cron, shows
}

// tally is what the open loop counted. Latency runs from each request's
// scheduled time, not from when it was sent, so a server that falls behind
// is charged for the whole wait (no coordinated omission).
type tally struct {
	mu      sync.Mutex
	hist    histogram
	sent    int64 // requests sent (due ones that found a free slot)
	ok      int64 // answered 2xx
	errors  int64 // failed or answered otherwise
	dropped int64 // due while the cap of requests in flight was reached: never sent
	// droppedBySec counts the dropped by the second of the run they were
	// due in: a stall shows as a few seconds, a server short of capacity
	// as drops all through the run.
	droppedBySec map[int]int64
	// mostInFlight is the most requests in flight at once, seen as each
	// was sent: how near a run that dropped none came to the cap.
	mostInFlight int64
	firstErr     string
}

func (t *tally) done(latency time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hist.record(latency)
	if err != nil {
		t.errors++
		if t.firstErr == "" {
			t.firstErr = err.Error()
		}
		return
	}
	t.ok++
}

// dispatcher sends each due request on its own goroutine, at most cap at
// once; a request due while cap are in flight is dropped and counted, never
// queued: a queue in the generator would hide the server's backlog.
type dispatcher struct {
	plan  plan
	cap   int
	send  func(ctx context.Context, k int) error
	now   func() time.Time
	sleep func(context.Context, time.Duration)
}

// run dispatches every request of the plan on schedule from start, waits
// for those in flight, and returns the counts.
func (d *dispatcher) run(ctx context.Context, start time.Time) *tally {
	return d.dispatch(ctx, start)()
}

// dispatch sends or drops every request of the plan as it comes due from
// start and returns once the last is dispatched, with a function that waits
// for the requests still in flight and returns the counts.
func (d *dispatcher) dispatch(ctx context.Context, start time.Time) (wait func() *tally) {
	var (
		t     tally
		wg    sync.WaitGroup
		slots = make(chan struct{}, d.cap)
	)
	for k := 0; k < d.plan.total && ctx.Err() == nil; k++ {
		due := start.Add(d.plan.at(k))
		if wait := due.Sub(d.now()); wait > 0 {
			d.sleep(ctx, wait)
		}
		select {
		case slots <- struct{}{}:
		default:
			t.mu.Lock()
			t.dropped++
			if t.droppedBySec == nil {
				t.droppedBySec = map[int]int64{}
			}
			t.droppedBySec[int(due.Sub(start)/time.Second)]++
			t.mu.Unlock()
			continue
		}
		t.mu.Lock()
		t.sent++
		t.mostInFlight = max(t.mostInFlight, int64(len(slots)))
		t.mu.Unlock()
		wg.Go(func() {
			defer func() { <-slots }()
			err := d.send(ctx, k)
			t.done(d.now().Sub(due), err)
		})
	}
	return func() *tally {
		wg.Wait()
		return &t
	}
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
	}
}

// dropSeconds describes when the dropped requests were due: the seconds
// of the run, as runs of consecutive seconds with their count, such as
// "12-14 (5210), 41 (830)"; "" when none was dropped.
func (t *tally) dropSeconds() string {
	secs := slices.Sorted(maps.Keys(t.droppedBySec))
	var b strings.Builder
	for i := 0; i < len(secs); {
		j, n := i, t.droppedBySec[secs[i]]
		for j+1 < len(secs) && secs[j+1] == secs[j]+1 {
			j++
			n += t.droppedBySec[secs[j]]
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d (%d)", secs[i], secs[j], n)
		} else {
			fmt.Fprintf(&b, "%d (%d)", secs[i], n)
		}
		i = j + 1
	}
	return b.String()
}
