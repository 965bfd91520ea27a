package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// fleetAck is the last report of one server that the service acknowledged
// in the kill -9 run, and what it left to see after the restart.
type fleetAck struct {
	sha    string    // a deployment's commit; "" for a drift check
	status string    // a drift check's status
	sent   time.Time // when it was sent: the service stamps a drift check's time later
}

// fleetKill9 runs the fleet's schedule once more on the first build, kills
// every service process with SIGKILL halfway through, starts them again and
// checks that each report answered before the kill shows in its server's
// record. run is the run's number on this store, so it continues the
// fleet's schedule (see plan.first).
func (b *bench) fleetKill9(ctx context.Context, svcs []*server, authorization string, n, run int) (*kill9Result, error) {
	defer func() {
		for _, s := range svcs {
			s.stop()
		}
	}()
	for _, s := range svcs {
		s.argv[0] = b.bin
		if _, err := s.start(ctx, b.cfg.readyTimeout); err != nil {
			return nil, &startError{fmt.Errorf("start with %d servers stored: %w", n, err)}
		}
	}
	t, stopProxy, err := b.fleetTarget(svcs, n, authorization)
	if err != nil {
		return nil, err
	}
	defer stopProxy()
	post, closeIdle, err := b.reportPoster(t)
	if err != nil {
		return nil, err
	}
	defer closeIdle()

	p := newPlan(n, b.cfg.duration).forRun(run)
	var (
		mu    sync.Mutex
		acks  = map[int]fleetAck{}
		acked int64
	)
	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	d := &dispatcher{plan: p, cap: b.cfg.inflight, now: time.Now, sleep: sleepCtx,
		send: func(ctx context.Context, k int) error {
			path, body, a := p.report(k)
			a.sent = time.Now()
			err := post(ctx, path, body)
			if err == nil {
				mu.Lock()
				acks[p.server(k)] = a // a server reports once a minute: this is its last
				acked++
				mu.Unlock()
			}
			return err
		}}
	killed := time.AfterFunc(b.cfg.duration/2, func() {
		for _, s := range svcs {
			s.kill()
		}
		stopLoad() // what is still due would only fail to connect
	})
	defer killed.Stop()
	d.run(load, time.Now())
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	closeIdle()

	res := &kill9Result{Acked: acked, Servers: len(acks)}
	if acked == 0 {
		return res, fmt.Errorf("kill -9: no report was acknowledged before the kill")
	}
	var restart time.Duration
	for _, s := range svcs {
		ready, err := s.start(ctx, b.cfg.readyTimeout)
		if err != nil {
			return res, &startError{fmt.Errorf("restart after kill -9: %w", err)}
		}
		restart = max(restart, ready)
	}
	res.RestartMS = ms(restart)
	return res, verifyFleetAcks(ctx, t, acks, res)
}

// storedReport is what the check reads back of a server's record.
type storedReport struct {
	ServerGroup   string    `json:"server_group"`
	Host          string    `json:"host"`
	CommitSHA     string    `json:"commit_sha"`
	Status        string    `json:"status"`
	LastCronCheck time.Time `json:"last_cron_check"`
}

// verifyFleetAcks reads every server in one GET /status and counts, in
// res.Lost, the acknowledged reports its record does not show.
func verifyFleetAcks(ctx context.Context, t *target, acks map[int]fleetAck, res *kill9Result) error {
	byKey := make(map[string]int, len(acks))
	for i := range acks {
		byKey[groupOf(i)+"/"+hostOf(i)] = i
	}
	seen := 0
	err := t.stream(ctx, "/status", func(dec *json.Decoder) error {
		var rec storedReport
		if err := dec.Decode(&rec); err != nil {
			return err
		}
		i, ok := byKey[rec.ServerGroup+"/"+rec.Host]
		if !ok {
			return nil
		}
		seen++
		if problem := acks[i].missing(rec); problem != "" {
			res.lose(rec.ServerGroup + "/" + rec.Host + ": " + problem)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for gone := len(acks) - seen; gone > 0; gone-- {
		res.lose("an acknowledged server is missing after the restart")
	}
	return nil
}

// missing says how rec fails to show a, or "" when it shows it.
func (a fleetAck) missing(rec storedReport) string {
	if a.sha != "" {
		if rec.CommitSHA != a.sha {
			return fmt.Sprintf("commit %s, acknowledged %s", rec.CommitSHA, a.sha)
		}
		return ""
	}
	// Stored times are whole microseconds.
	if rec.Status != a.status || rec.LastCronCheck.Before(a.sent.Truncate(time.Microsecond)) {
		return fmt.Sprintf("status %s checked %s, acknowledged %s sent %s", rec.Status,
			rec.LastCronCheck.Format(time.RFC3339Nano), a.status, a.sent.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// lose counts one lost write, keeping the first few as examples.
func (k *kill9Result) lose(example string) {
	k.Lost++
	if len(k.Examples) < 5 {
		k.Examples = append(k.Examples, example)
	}
}

// stream GETs path, a JSON array, and calls item for each of its elements
// with dec positioned before it, so that a list of any size is never held
// whole.
func (t *target) stream(ctx context.Context, path string, item func(dec *json.Decoder) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return err
	}
	if t.authorization != "" {
		req.Header.Set("Authorization", t.authorization)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return &statusError{http.MethodGet, path, resp.StatusCode, string(bytes.TrimSpace(msg))}
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 1<<20))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return fmt.Errorf("GET %s: not a JSON array (%v, %v)", path, tok, err)
	}
	for dec.More() {
		if err := item(dec); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
	}
	_, err = dec.Token()
	return err
}
