package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// kill9Result is the outcome of the durability check.
type kill9Result struct {
	Acked     int64    `json:"acknowledged_writes"`
	Servers   int      `json:"servers_checked"`
	Lost      int64    `json:"lost"`
	Examples  []string `json:"lost_examples,omitempty"`
	RestartMS float64  `json:"restart_after_kill_ms"`
}

func (k *kill9Result) String() string {
	return fmt.Sprintf("kill -9: %d acknowledged writes, %d lost", k.Acked, k.Lost)
}

// kill9 runs the pipeline workload, kills the service with SIGKILL halfway,
// restarts it on the same store and checks that no acknowledged write was
// lost. Each write carries a unique commit SHA naming its server and a
// sequence number that grows per server, and each server has a single
// writer (see partition), so after the restart a server's stored SHA must be
// from this run with a sequence at or after its last acknowledged one: the
// write in flight at the kill may or may not have landed, an older one
// means an acknowledged write was lost.
func (b *bench) kill9(ctx context.Context, svc *server, t *target) (*kill9Result, error) {
	run := rand.Uint32() | 1 // never 0, the seeding run
	lastAck := make([]uint64, t.n)
	var acked atomic.Int64
	onAck := func(h int, seq uint64) { lastAck[h] = seq; acked.Add(1) } // h belongs to one worker
	conc := min(b.cfg.concFor("pipeline"), t.n)
	reqs := make([]requester, conc)
	for w := range reqs {
		reqs[w] = t.pipelineRequester(partition(w, conc, t.n), run, onAck)
	}

	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	killed := make(chan bool, 1)
	go func() {
		select {
		case <-time.After(b.cfg.duration / 2):
			svc.kill()
			killed <- true
		case <-load.Done():
			killed <- false
		}
		stopLoad() // the writers would only collect connection errors now
	}()
	runLoad(load, reqs, b.cfg.duration, b.cfg.maxRequests)
	stopLoad()
	if !<-killed {
		return nil, fmt.Errorf("kill -9 check interrupted: %w", ctx.Err())
	}
	res := &kill9Result{Acked: acked.Load()}
	if res.Acked == 0 {
		return res, errors.New("kill -9: no write was acknowledged before the kill")
	}

	b.closeIdle() // connections to the killed process are dead
	ready, err := svc.start(ctx, b.cfg.readyTimeout)
	if err != nil {
		return res, &startError{fmt.Errorf("restart after kill -9: %w", err)}
	}
	res.RestartMS = ms(ready)
	if err := verifyAcked(ctx, t, run, lastAck, res); err != nil {
		return res, err
	}
	if res.Lost > 0 {
		return res, fmt.Errorf("%s; e.g. %v", res, res.Examples)
	}
	return res, nil
}

// verifyAcked reads back every server that had a write acknowledged and
// counts those whose stored commit is older than that write.
func verifyAcked(ctx context.Context, t *target, run uint32, lastAck []uint64, res *kill9Result) error {
	var hosts []int
	for h, seq := range lastAck {
		if seq > 0 {
			hosts = append(hosts, h)
		}
	}
	res.Servers = len(hosts)
	var (
		lost atomic.Int64
		mu   sync.Mutex
	)
	err := parallel(ctx, len(hosts), 32, func(i int) error {
		h := hosts[i]
		problem, err := checkServer(ctx, t, run, h, lastAck[h])
		if err != nil || problem == "" {
			return err
		}
		lost.Add(1)
		mu.Lock()
		if len(res.Examples) < 5 {
			res.Examples = append(res.Examples, problem)
		}
		mu.Unlock()
		return nil
	})
	res.Lost = lost.Load()
	return err
}

// checkServer returns why server h lost its last acknowledged write (seq),
// or "" when it did not.
func checkServer(ctx context.Context, t *target, run uint32, h int, seq uint64) (string, error) {
	var body bytes.Buffer
	_, err := t.do(ctx, http.MethodGet, t.paths[h], nil, &body)
	var se *statusError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %d after restart", t.paths[h], se.code), nil
	}
	if err != nil {
		return "", err
	}
	var rec struct {
		CommitSHA string `json:"commit_sha"`
	}
	if err := json.Unmarshal(body.Bytes(), &rec); err != nil {
		return "", fmt.Errorf("GET %s: %w", t.paths[h], err)
	}
	r, host, got, ok := parseSHA(rec.CommitSHA)
	if !ok || r != run || host != h || got < seq {
		return fmt.Sprintf("%s: stored commit %s, acknowledged %s", t.paths[h], rec.CommitSHA, shaFor(run, h, seq)), nil
	}
	return "", nil
}
