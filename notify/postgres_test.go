package notify_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	gitops "github.com/gitops-status/gitops-status"
	"github.com/gitops-status/gitops-status/notify"
	"github.com/gitops-status/gitops-status/postgres"
	"github.com/gitops-status/gitops-status/postgres/pgtest"
)

// TestTwoReplicasOnPostgres runs two stores and dispatchers on one
// database, as two replicas do: every event reaches the receiver once, in
// order per server, and one stale event is written per stale server.
func TestTwoReplicasOnPostgres(t *testing.T) {
	url := pgtest.NewDatabase(t)
	rc := newReceiver(t, nil)
	var stores []*postgres.Store
	var ds []*notify.Dispatcher
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		s, err := postgres.Open(ctx, url, gitops.StoreOptions{StaleAfter: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		d := notify.New(notify.Options{Outbox: s, Store: s, Timing: fast}, []notify.Webhook{hook("ops", rc.srv.URL, gitops.TriggerOutOfSync, gitops.TriggerFailed, gitops.TriggerSynced)})
		wg.Go(func() { d.Run(ctx) })
		stores, ds = append(stores, s), append(ds, d)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, s := range stores {
			s.Close()
		}
	})

	const servers = 10
	seq := []gitops.Status{gitops.StatusOutOfSync, gitops.StatusFailed, gitops.StatusSynced, gitops.StatusOutOfSync}
	var (
		mu   sync.Mutex
		want = map[string][]string{} // host → event ids in order
	)
	var writers sync.WaitGroup
	for i := range servers {
		writers.Go(func() {
			host := fmt.Sprintf("h%02d", i)
			for j, st := range seq {
				s := stores[(i+j)%2] // both replicas take writes
				o, err := s.Apply(context.Background(), &gitops.PipelineUpdate{Source: gitops.SourcePipeline,
					ServerGroup: "web", Host: host, Status: st, ValidationStatus: gitops.ValidationPassed})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[host] = append(want[host], strconv.FormatInt(o.Event.ID, 10))
				mu.Unlock()
				ds[(i+j)%2].Wake()
			}
		})
	}
	writers.Wait()
	total := servers * len(seq)
	waitFor(t, "every event delivered", func() bool { return len(rc.accepted()) >= total })

	byHost := map[string][]string{}
	seen := map[string]int{}
	for _, g := range rc.accepted() {
		key := g.header.Get(notify.IdempotencyHeader)
		seen[key]++
		h := g.rec["host"].(string)
		byHost[h] = append(byHost[h], key)
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("event %s delivered %d times, want once", key, n)
		}
	}
	for h, ids := range want {
		if !slices.Equal(byHost[h], ids) {
			t.Errorf("%s: delivered %q, want %q in that order", h, byHost[h], ids)
		}
	}

	// Time passes: each server becomes stale once, swept by one replica.
	waitFor(t, "stale events", func() bool {
		return countStale(t, stores[0]) >= servers
	})
	time.Sleep(200 * time.Millisecond) // several more sweeps by both replicas
	if n := countStale(t, stores[1]); n != servers {
		t.Errorf("%d stale events, want one per server (%d)", n, servers)
	}
}

func countStale(t *testing.T, s gitops.Store) int {
	t.Helper()
	evs, err := s.Events(context.Background(), gitops.EventFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Source == gitops.SourceSweep && slices.Contains(ev.Changes, gitops.ChangeStale) {
			n++
		}
	}
	return n
}
